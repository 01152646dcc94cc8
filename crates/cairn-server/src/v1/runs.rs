//! Run routes of the native API.
//!
//! - `PUT /api/v1/runs/{run_id}` — create a run with a client-chosen id, idempotently. The SDK
//!   makes the id itself (a v4 UUID as 32 lowercase hex digits) so that starting a run never
//!   waits on the network and offline runs sync exactly once. Body:
//!   `{"experiment_id": "1"}` or `{"experiment_name": "x"}` (at most one; neither: experiment
//!   `0`; an empty string counts as absent; a missing name is created), plus optional
//!   `run_name`, `user_id`, `start_time` (ms) and `tags` (`[{"key", "value"}]`).
//!   Answers `{"run": <as MLflow's runs/get>, "created": bool}`: 201 when this call created the
//!   run, 200 when it was already there in the same experiment (nothing is changed: the rest of
//!   the body is ignored), 409 `RESOURCE_ALREADY_EXISTS` when it is in another experiment.
//! - `GET /api/v1/runs/{run_id}` — the run as MLflow's `runs/get` has it.
//! - `PATCH /api/v1/runs/{run_id}` — rename, annotate (`note`, MLflow's `mlflow.note.content`
//!   tag), tag, delete or restore, in one call.
//! - `POST /api/v1/runs/search` — a window of a search by `offset`, with the `total` count, for
//!   tables that scroll to any row; rows carry params, tags and latest metrics as objects and
//!   optionally full summaries of some metric keys.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

use cairn_core::model::{Run, RunUpdate, Tag};
use cairn_store::SeriesSummary;
use serde::Deserialize;
use serde_json::json;

use super::body;
use super::experiments::{NOTE_TAG, parse_view};
use super::json::{push_double, push_int, push_str};
use super::metrics::{json_response, push_summary};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mlflow::wire;
use crate::tracking::{CreateRun, EnsuredRun, RunExperiment, SearchRuns, normalize_run_tags};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagBody {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRunBody {
    experiment_id: Option<String>,
    experiment_name: Option<String>,
    run_name: Option<String>,
    user_id: Option<String>,
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<TagBody>,
    /// Tags of the experiment `experiment_name` names, when this call creates it (`cairn.team`
    /// and `cairn.visibility` choose its team and visibility).
    #[serde(default)]
    experiment_tags: Vec<TagBody>,
}

impl PutRunBody {
    fn target(&self) -> ApiResult<RunExperiment> {
        let present = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        match (present(&self.experiment_id), present(&self.experiment_name)) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "Give either experiment_id or experiment_name, not both",
            )),
            (Some(id), None) => Ok(RunExperiment::Id(id)),
            (None, Some(name)) => Ok(RunExperiment::Name(
                name,
                self.experiment_tags
                    .iter()
                    .map(|t| Tag::new(t.key.clone(), t.value.clone()))
                    .collect(),
            )),
            _ if !self.experiment_tags.is_empty() => Err(ApiError::invalid(
                "experiment_tags go with experiment_name: they are the tags of the experiment \
                 this call may create",
            )),
            (None, None) => Ok(RunExperiment::Default),
        }
    }
}

pub async fn put_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    payload: Result<Json<PutRunBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let target = request.target()?;
    let create = CreateRun {
        experiment_id: None,
        user_id: request.user_id,
        run_name: request.run_name,
        start_time: request.start_time,
        tags: request
            .tags
            .into_iter()
            .map(|t| Tag::new(t.key, t.value))
            .collect(),
    };
    ensured_answer(state.tracking.ensure_run(&run_id, target, create).await)
}

/// The answer to an idempotent run creation (`PUT` of a run, a fork): 201 with the run when
/// this call made it, 200 when it was there already, 409 when the id is taken by another run
/// (a conflict, not a bad request).
pub(crate) fn ensured_answer(result: ApiResult<EnsuredRun>) -> ApiResult<Response> {
    let ensured = match result {
        Ok(ensured) => ensured,
        Err(error) if error.code == ErrorCode::ResourceAlreadyExists => {
            return Ok((StatusCode::CONFLICT, error).into_response());
        }
        Err(error) => return Err(error),
    };
    let status = if ensured.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = json!({ "run": wire::run(&ensured.run), "created": ensured.created });
    Ok((status, Json(answer)).into_response())
}

pub async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let run = state.tracking.get_run(&run_id).await?;
    Ok(Json(json!({ "run": wire::run(&run) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchRunBody {
    run_name: Option<String>,
    note: Option<String>,
    #[serde(default)]
    set_tags: Vec<TagBody>,
    #[serde(default)]
    delete_tags: Vec<String>,
    lifecycle_stage: Option<String>,
}

pub async fn patch_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    payload: Result<Json<PatchRunBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let tracking = &state.tracking;
    // Everything is checked before the first change, so that a mistake changes nothing.
    let stage = match request.lifecycle_stage.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("deleted") => Some(true),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "lifecycle_stage must be active or deleted; got '{other}'"
            )));
        }
    };
    if let Some(name) = &request.run_name
        && name.is_empty()
    {
        return Err(ApiError::invalid("run_name must not be empty"));
    }
    let mut tags: Vec<Tag> = request
        .set_tags
        .into_iter()
        .map(|t| Tag::new(t.key, t.value))
        .collect();
    let mut delete_tags = request.delete_tags;
    match request.note {
        Some(note) if note.is_empty() => delete_tags.push(NOTE_TAG.to_string()),
        Some(note) => tags.push(Tag::new(NOTE_TAG, note)),
        None => {}
    }
    cairn_core::validation::check_batch_limits(0, 0, tags.len())?;
    let tags = normalize_run_tags(tags)?;
    let current = tracking.get_run(&run_id).await?;

    if stage == Some(false) {
        tracking.restore_run(&run_id).await?;
    }
    if let Some(name) = request.run_name.filter(|n| *n != current.info.run_name) {
        tracking
            .update_run(
                &run_id,
                RunUpdate {
                    run_name: Some(name),
                    ..RunUpdate::default()
                },
            )
            .await?;
    }
    if !tags.is_empty() {
        tracking
            .log_batch(&run_id, Vec::new(), Vec::new(), tags)
            .await?;
    }
    for key in &delete_tags {
        if current.tags.iter().any(|t| &t.key == key) {
            tracking.delete_run_tag(&run_id, key).await?;
        }
    }
    if stage == Some(true) {
        tracking.delete_run(&run_id).await?;
    }
    let run = tracking.get_run(&run_id).await?;
    Ok(Json(json!({ "run": wire::run(&run) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    experiment_ids: Vec<String>,
    #[serde(default)]
    filter: String,
    #[serde(default)]
    order_by: Vec<String>,
    view: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    #[serde(default)]
    summaries: Vec<String>,
}

/// Summary keys one search may ask for.
const MAX_SUMMARY_KEYS: usize = 100;

pub async fn search(
    State(state): State<AppState>,
    payload: Result<Json<SearchBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    if request.summaries.len() > MAX_SUMMARY_KEYS {
        return Err(ApiError::invalid(format!(
            "summaries may name at most {MAX_SUMMARY_KEYS} keys; got {}",
            request.summaries.len()
        )));
    }
    let search = SearchRuns {
        experiment_ids: request.experiment_ids,
        filter: request.filter,
        order_by: request.order_by,
        view: parse_view(request.view.as_deref())?,
        ..SearchRuns::default()
    };
    let (total, runs) = state
        .tracking
        .run_window(search, request.offset, request.limit.unwrap_or(100))
        .await?;
    let summaries = if request.summaries.is_empty() || runs.is_empty() {
        Vec::new()
    } else {
        let ids = runs.iter().map(|r| r.info.run_id.clone()).collect();
        state
            .tracking
            .metric_summaries(ids, request.summaries)
            .await?
    };
    let mut by_run: HashMap<&str, Vec<&SeriesSummary>> = HashMap::new();
    for summary in &summaries {
        by_run
            .entry(summary.run_id.as_str())
            .or_default()
            .push(summary);
    }

    let mut out = Vec::with_capacity(256 + runs.len() * 512);
    out.extend_from_slice(b"{\"total\":");
    push_int(&mut out, total as i64);
    out.extend_from_slice(b",\"offset\":");
    push_int(&mut out, request.offset as i64);
    out.extend_from_slice(b",\"runs\":[");
    for (index, run) in runs.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_row(&mut out, run, by_run.get(run.info.run_id.as_str()));
    }
    out.extend_from_slice(b"]}");
    Ok(json_response(out))
}

/// Appends `{"k": "v", ...}` for key/value pairs.
fn push_object<'a>(out: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
    out.push(b'{');
    for (index, (key, value)) in pairs.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_str(out, key);
        out.push(b':');
        push_str(out, value);
    }
    out.push(b'}');
}

/// One table row: info, params, tags and latest metrics as objects, requested summaries.
fn push_row(out: &mut Vec<u8>, run: &Run, summaries: Option<&Vec<&SeriesSummary>>) {
    let info = &run.info;
    out.extend_from_slice(b"{\"info\":{\"run_id\":");
    push_str(out, &info.run_id);
    out.extend_from_slice(b",\"run_name\":");
    push_str(out, &info.run_name);
    out.extend_from_slice(b",\"experiment_id\":");
    push_str(out, &info.experiment_id);
    out.extend_from_slice(b",\"user_id\":");
    push_str(out, &info.user_id);
    out.extend_from_slice(b",\"status\":");
    push_str(out, info.status.as_str());
    out.extend_from_slice(b",\"start_time\":");
    push_int(out, info.start_time);
    if let Some(end_time) = info.end_time {
        out.extend_from_slice(b",\"end_time\":");
        push_int(out, end_time);
    }
    out.extend_from_slice(b",\"lifecycle_stage\":");
    push_str(out, info.lifecycle_stage.as_str());
    out.extend_from_slice(b"},\"params\":");
    push_object(
        out,
        run.params
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str())),
    );
    out.extend_from_slice(b",\"tags\":");
    push_object(
        out,
        run.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
    );
    out.extend_from_slice(b",\"metrics\":{");
    for (index, metric) in run.metrics.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        push_str(out, &metric.key);
        out.push(b':');
        push_double(out, metric.value);
    }
    out.push(b'}');
    if let Some(summaries) = summaries {
        out.extend_from_slice(b",\"summaries\":{");
        for (index, summary) in summaries.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            push_str(out, &summary.key);
            out.push(b':');
            push_summary(out, &summary.key, &summary.summary);
        }
        out.push(b'}');
    }
    out.push(b'}');
}
