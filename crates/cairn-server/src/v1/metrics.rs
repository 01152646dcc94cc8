//! Metric routes of the native API.
//!
//! - `POST /api/v1/runs/{run_id}/metrics` — ingest `{"metrics": [{"key", "steps", "values",
//!   "timestamps" | "timestamp"}]}` as JSON, or the same columns in the binary layout of
//!   [`super::ingest`] (`application/vnd.cairn.metrics`); an `Idempotency-Key` header makes a
//!   retry harmless.
//! - `GET  /api/v1/runs/{run_id}/metrics` — per-key summaries of the run.
//! - `GET  /api/v1/runs/{run_id}/metrics/{key}/points?from=&to=&format=` — every point, as
//!   streamed JSON or (`format=binary`) as packed little-endian columns.
//! - `GET  /api/v1/runs/{run_id}/metrics/{key}/series?buckets=&x=&from=&to=` — a downsampled view.
//! - `POST /api/v1/series` — the same view for many runs on one grid (compare charts).
//! - `POST /api/v1/summaries` — summaries for many runs (tables).
//! - `GET|PUT|DELETE /api/v1/experiments/{experiment_id}/retention` — the retention policy
//!   `{"after_days", "resolution"}`: older points keep, per `resolution` steps, only their first,
//!   last, smallest and largest point. Reads that meet thinned data say so in `thinned`.
//!
//! Keys containing `/` are percent-encoded in paths (`train%2Floss`).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_core::series::buckets::Bucket;
use cairn_core::series::{Point, Summary};
use cairn_store::{RetentionPolicy, SeriesPoints, SeriesRequest, SeriesSummary, SeriesView, XAxis};
use serde::Deserialize;

use super::ingest;
use super::json::{self, Double};
use super::{body, query};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::now_ms;

/// Points per streamed piece of a `points` response.
const STREAM_POINTS: usize = 16_384;

pub(crate) fn json_response(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSeries {
    key: String,
    steps: Vec<i64>,
    values: Vec<Double>,
    #[serde(default)]
    timestamps: Option<Vec<i64>>,
    /// One timestamp for every point (when `timestamps` is absent).
    #[serde(default)]
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestBody {
    metrics: Vec<IngestSeries>,
}

impl IngestSeries {
    fn into_points(self, now: i64) -> ApiResult<SeriesPoints> {
        let count = self.steps.len();
        if self.values.len() != count {
            return Err(ApiError::invalid(format!(
                "Metric '{}': {} steps but {} values; the arrays must have the same length",
                self.key,
                count,
                self.values.len()
            )));
        }
        let timestamps = match (self.timestamps, self.timestamp) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(format!(
                    "Metric '{}': give either `timestamps` or `timestamp`, not both",
                    self.key
                )));
            }
            (Some(list), None) if list.len() != count => {
                return Err(ApiError::invalid(format!(
                    "Metric '{}': {} steps but {} timestamps; the arrays must have the same length",
                    self.key,
                    count,
                    list.len()
                )));
            }
            (Some(list), None) => list,
            (None, one) => vec![one.unwrap_or(now); count],
        };
        let points = self
            .steps
            .iter()
            .zip(&timestamps)
            .zip(&self.values)
            .map(|((step, timestamp), value)| Point::new(*step, *timestamp, value.0))
            .collect();
        Ok(SeriesPoints {
            key: self.key,
            points,
        })
    }
}

/// The series of an ingest body: columnar JSON (`application/json`, the default) or the binary
/// layout of [`ingest::decode`](super::ingest) (`application/vnd.cairn.metrics`).
fn ingest_series(headers: &HeaderMap, bytes: &[u8], now: i64) -> ApiResult<Vec<SeriesPoints>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        Some(ingest::CONTENT_TYPE) => ingest::decode(bytes)
            .map_err(|e| ApiError::invalid(format!("Invalid request body: {}", e.0))),
        None | Some("application/json") => {
            let request: IngestBody = serde_json::from_slice(bytes)
                .map_err(|e| ApiError::invalid(format!("Invalid request body: {e}")))?;
            request
                .metrics
                .into_iter()
                .map(|s| s.into_points(now))
                .collect()
        }
        Some(other) => Err(ApiError::invalid(format!(
            "Unsupported content type '{other}': send application/json or {}",
            ingest::CONTENT_TYPE
        ))),
    }
}

pub async fn ingest(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> ApiResult<Response> {
    let idempotency_key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key must be visible ASCII"))?
                .to_string(),
        ),
        None => None,
    };
    let series = ingest_series(&headers, &payload, now_ms())?;
    let logged = state
        .tracking
        .log_points(&run_id, series, idempotency_key)
        .await?;
    Ok(
        Json(serde_json::json!({ "accepted": logged.accepted, "replay": logged.replay }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    from: Option<i64>,
    to: Option<i64>,
    /// `json` (default) or `binary` (see [`BINARY_MAGIC`]).
    format: Option<String>,
}

/// The binary series format of `points?format=binary` (content type [`BINARY_TYPE`]): the 8 bytes
/// `CAIRNPT1`, then little-endian `u64` count, `i64` thinned resolution (0: intact), and three
/// columns of `count` little-endian values: steps (`i64`), timestamps (`i64`, ms), values
/// (`f64`, any bit pattern). Readers map the columns straight into typed arrays (numpy,
/// `Float64Array`).
pub const BINARY_MAGIC: &[u8; 8] = b"CAIRNPT1";
pub const BINARY_TYPE: &str = "application/vnd.cairn.points";

fn binary_points(points: &[Point], thinned: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + points.len() * 24);
    out.extend_from_slice(BINARY_MAGIC);
    out.extend_from_slice(&(points.len() as u64).to_le_bytes());
    out.extend_from_slice(&thinned.to_le_bytes());
    out.extend(points.iter().flat_map(|p| p.step.to_le_bytes()));
    out.extend(points.iter().flat_map(|p| p.timestamp.to_le_bytes()));
    out.extend(points.iter().flat_map(|p| p.value.to_bits().to_le_bytes()));
    out
}

/// Writes one point's value of a column.
type WriteColumn = fn(&mut Vec<u8>, &Point);

/// Streams `{"run_id","key","steps":[..],"timestamps":[..],"values":[..]}` in pieces.
pub async fn points(
    State(state): State<AppState>,
    Path((run_id, key)): Path<(String, String)>,
    range: Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let range = query(range)?;
    let binary = match range.format.as_deref() {
        None | Some("json") => false,
        Some("binary") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "format must be json or binary; got '{other}'"
            )));
        }
    };
    let read = state
        .tracking
        .metric_points(&run_id, &key, range.from, range.to)
        .await?;
    if binary {
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(BINARY_TYPE))],
            binary_points(&read.points, read.thinned),
        )
            .into_response());
    }
    let points = Arc::new(read.points);
    let mut head = b"{\"run_id\":".to_vec();
    json::push_str(&mut head, &run_id);
    head.extend_from_slice(b",\"key\":");
    json::push_str(&mut head, &key);
    head.extend_from_slice(b",\"count\":");
    json::push_int(&mut head, points.len() as i64);
    head.extend_from_slice(b",\"thinned\":");
    push_thinned(&mut head, read.thinned);
    let columns: [(&'static str, WriteColumn); 3] = [
        ("steps", |out, p| json::push_int(out, p.step)),
        ("timestamps", |out, p| json::push_int(out, p.timestamp)),
        ("values", |out, p| json::push_double(out, p.value)),
    ];
    let pieces = points.len().div_ceil(STREAM_POINTS).max(1);
    let stream = futures::stream::iter(
        std::iter::once(Ok::<Bytes, std::convert::Infallible>(Bytes::from(head))).chain(
            columns.into_iter().flat_map(move |(name, write)| {
                let points = Arc::clone(&points);
                (0..pieces).map(move |piece| {
                    let start = piece * STREAM_POINTS;
                    let end = (start + STREAM_POINTS).min(points.len());
                    let mut out = Vec::with_capacity((end - start) * 20 + 32);
                    if piece == 0 {
                        out.extend_from_slice(b",\"");
                        out.extend_from_slice(name.as_bytes());
                        out.extend_from_slice(b"\":[");
                    }
                    for (index, point) in points[start..end].iter().enumerate() {
                        if start + index > 0 {
                            out.push(b',');
                        }
                        write(&mut out, point);
                    }
                    if piece + 1 == pieces {
                        out.push(b']');
                        if name == "values" {
                            out.push(b'}');
                        }
                    }
                    Ok(Bytes::from(out))
                })
            }),
        ),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        Body::from_stream(stream),
    )
        .into_response())
}

pub fn parse_axis(x: Option<&str>) -> ApiResult<XAxis> {
    match x.unwrap_or("step") {
        "step" => Ok(XAxis::Step),
        "time" => Ok(XAxis::Time),
        "relative" => Ok(XAxis::Relative),
        other => Err(ApiError::invalid(format!(
            "x must be one of step, time, relative; got '{other}'"
        ))),
    }
}

pub fn axis_name(x: XAxis) -> &'static str {
    match x {
        XAxis::Step => "step",
        XAxis::Time => "time",
        XAxis::Relative => "relative",
    }
}

/// Default bucket count of a view.
const DEFAULT_BUCKETS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    buckets: Option<usize>,
    x: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

/// The bucket columns of a view, in the order they are written.
const BUCKET_FIELDS: [&str; 9] = [
    "start",
    "end",
    "count",
    "min",
    "max",
    "mean",
    "last",
    "last_step",
    "last_timestamp",
];

/// Which bucket columns to write (bit *i* is `BUCKET_FIELDS[i]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketFields(u16);

impl BucketFields {
    pub(crate) const ALL: BucketFields = BucketFields((1 << BUCKET_FIELDS.len()) - 1);

    /// The named columns; every column when the list is absent.
    pub(crate) fn parse(names: Option<&[String]>) -> ApiResult<BucketFields> {
        let Some(names) = names else {
            return Ok(BucketFields::ALL);
        };
        let mut mask = 0u16;
        for name in names {
            let index = BUCKET_FIELDS
                .iter()
                .position(|field| field == name)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Unknown bucket field '{name}'; expected one of {}",
                        BUCKET_FIELDS.join(", ")
                    ))
                })?;
            mask |= 1 << index;
        }
        Ok(BucketFields(mask))
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

fn push_buckets(out: &mut Vec<u8>, buckets: &[Bucket], fields: BucketFields) {
    out.push(b'{');
    let mut first = true;
    for (index, name) in BUCKET_FIELDS.iter().enumerate() {
        if !fields.has(index) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        json::push_array(out, name, buckets, |out, b| match index {
            0 => json::push_int(out, b.start),
            1 => json::push_int(out, b.end),
            2 => json::push_int(out, b.summary.count as i64),
            3 => json::push_opt_double(out, b.summary.min_max().map(|m| m.0)),
            4 => json::push_opt_double(out, b.summary.min_max().map(|m| m.1)),
            5 => json::push_opt_double(out, b.summary.mean()),
            6 => json::push_opt_double(out, b.summary.last.map(|p| p.value)),
            7 => json::push_int(out, b.summary.last.map_or(0, |p| p.step)),
            _ => json::push_int(out, b.summary.last.map_or(0, |p| p.timestamp)),
        });
    }
    out.push(b'}');
}

/// The retention resolution a read met, `null` when every point was intact.
fn push_thinned(out: &mut Vec<u8>, thinned: i64) {
    if thinned > 0 {
        json::push_int(out, thinned);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// `"x","key","width","from","to"` of a view (no braces).
fn push_grid(out: &mut Vec<u8>, key: &str, x: XAxis, view: &SeriesView) {
    out.extend_from_slice(b"\"key\":");
    json::push_str(out, key);
    out.extend_from_slice(b",\"x\":");
    json::push_str(out, axis_name(x));
    match view.grid {
        Some(grid) => {
            out.extend_from_slice(b",\"width\":");
            json::push_int(out, grid.width);
            out.extend_from_slice(b",\"from\":");
            json::push_int(out, grid.from);
            out.extend_from_slice(b",\"to\":");
            json::push_int(out, grid.to);
        }
        None => out.extend_from_slice(b",\"width\":null,\"from\":null,\"to\":null"),
    }
}

pub async fn run_series(
    State(state): State<AppState>,
    Path((run_id, key)): Path<(String, String)>,
    view_query: Result<Query<ViewQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let q = query(view_query)?;
    let x = parse_axis(q.x.as_deref())?;
    let view = state
        .tracking
        .series_view(SeriesRequest {
            run_ids: vec![run_id.clone()],
            key: key.clone(),
            x,
            buckets: q.buckets.unwrap_or(DEFAULT_BUCKETS),
            from: q.from,
            to: q.to,
        })
        .await?;
    let Some(run) = view.runs.first() else {
        return Err(ApiError::internal("a one-run view returned no run"));
    };
    if !run.found {
        return Err(ApiError::not_found(format!(
            "Run with id={run_id} not found"
        )));
    }
    let mut out = b"{\"run_id\":".to_vec();
    json::push_str(&mut out, &run_id);
    out.push(b',');
    push_grid(&mut out, &key, x, &view);
    out.extend_from_slice(b",\"thinned\":");
    push_thinned(&mut out, run.thinned);
    out.extend_from_slice(b",\"buckets\":");
    push_buckets(&mut out, &run.buckets, BucketFields::ALL);
    out.push(b'}');
    Ok(json_response(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManySeriesBody {
    run_ids: Vec<String>,
    key: String,
    buckets: Option<usize>,
    x: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    fields: Option<Vec<String>>,
}

pub async fn many_series(
    State(state): State<AppState>,
    payload: Result<Json<ManySeriesBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let x = parse_axis(request.x.as_deref())?;
    let fields = BucketFields::parse(request.fields.as_deref())?;
    let view = state
        .tracking
        .series_view(SeriesRequest {
            run_ids: request.run_ids,
            key: request.key.clone(),
            x,
            buckets: request.buckets.unwrap_or(DEFAULT_BUCKETS),
            from: request.from,
            to: request.to,
        })
        .await?;
    let mut out = b"{".to_vec();
    push_grid(&mut out, &request.key, x, &view);
    out.extend_from_slice(b",\"runs\":[");
    for (index, run) in view.runs.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"run_id\":");
        json::push_str(&mut out, &run.run_id);
        out.extend_from_slice(if run.found {
            b",\"found\":true,\"thinned\":"
        } else {
            b",\"found\":false,\"thinned\":"
        });
        push_thinned(&mut out, run.thinned);
        out.extend_from_slice(b",\"buckets\":");
        push_buckets(&mut out, &run.buckets, fields);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(json_response(out))
}

pub(crate) fn push_summary(out: &mut Vec<u8>, key: &str, summary: &Summary) {
    out.extend_from_slice(b"{\"key\":");
    json::push_str(out, key);
    out.extend_from_slice(b",\"count\":");
    json::push_int(out, summary.count as i64);
    out.extend_from_slice(b",\"nan_count\":");
    json::push_int(out, summary.nans as i64);
    out.extend_from_slice(b",\"min\":");
    json::push_opt_double(out, summary.min_max().map(|m| m.0));
    out.extend_from_slice(b",\"max\":");
    json::push_opt_double(out, summary.min_max().map(|m| m.1));
    out.extend_from_slice(b",\"mean\":");
    json::push_opt_double(out, summary.mean());
    out.extend_from_slice(b",\"last\":");
    json::push_opt_double(out, summary.last.map(|p| p.value));
    out.extend_from_slice(b",\"last_step\":");
    json::push_int(out, summary.last.map_or(0, |p| p.step));
    out.extend_from_slice(b",\"last_timestamp\":");
    json::push_int(out, summary.last.map_or(0, |p| p.timestamp));
    out.push(b'}');
}

fn push_summaries(out: &mut Vec<u8>, summaries: &[&SeriesSummary]) {
    out.push(b'[');
    for (index, s) in summaries.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_summary(out, &s.key, &s.summary);
    }
    out.push(b']');
}

pub async fn run_summaries(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    // An unknown run is a 404 here (the many-runs route skips it instead).
    state.tracking.get_run(&run_id).await?;
    let summaries = state
        .tracking
        .metric_summaries(vec![run_id.clone()], Vec::new())
        .await?;
    let mut out = b"{\"run_id\":".to_vec();
    json::push_str(&mut out, &run_id);
    out.extend_from_slice(b",\"metrics\":");
    push_summaries(&mut out, &summaries.iter().collect::<Vec<_>>());
    out.push(b'}');
    Ok(json_response(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummariesBody {
    run_ids: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

pub async fn summaries(
    State(state): State<AppState>,
    payload: Result<Json<SummariesBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let summaries = state
        .tracking
        .metric_summaries(request.run_ids.clone(), request.keys)
        .await?;
    let mut out = b"{\"runs\":[".to_vec();
    let mut first = true;
    for run_id in &request.run_ids {
        let of_run: Vec<&SeriesSummary> =
            summaries.iter().filter(|s| &s.run_id == run_id).collect();
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(b"{\"run_id\":");
        json::push_str(&mut out, run_id);
        out.extend_from_slice(b",\"metrics\":");
        push_summaries(&mut out, &of_run);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(json_response(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    after_days: i64,
    resolution: i64,
}

fn retention_json(experiment_id: &str, policy: Option<RetentionPolicy>) -> Response {
    Json(serde_json::json!({
        "experiment_id": experiment_id,
        "retention": policy.map(|p| serde_json::json!({
            "after_days": p.after_days,
            "resolution": p.resolution,
        })),
    }))
    .into_response()
}

pub async fn get_retention(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    let policy = state.tracking.retention(&experiment_id).await?;
    Ok(retention_json(&experiment_id, policy))
}

pub async fn put_retention(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
    payload: Result<Json<RetentionBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let policy = RetentionPolicy {
        after_days: request.after_days,
        resolution: request.resolution,
    };
    state
        .tracking
        .set_retention(&experiment_id, Some(policy))
        .await?;
    Ok(retention_json(&experiment_id, Some(policy)))
}

pub async fn delete_retention(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    state.tracking.set_retention(&experiment_id, None).await?;
    Ok(retention_json(&experiment_id, None))
}
