//! `POST /api/v1/compare` — compare up to 1,000 runs.
//!
//! Request:
//! ```json
//! {"run_ids": ["..."], "metrics": ["loss"],
//!  "best": {"metric": "val_loss", "direction": "min", "aggregate": "last"},
//!  "group_by": "params.lr",
//!  "bands": {"metric": "loss", "buckets": 200, "x": "step", "from": 0, "to": 5000},
//!  "test": {"metric": "loss", "aggregate": "last", "a": ["run"], "b": ["run"]}}
//! ```
//! (`test` may name `"groups": ["0.1", "0.01"]` instead of `a`/`b`, and `from_step`/`to_step`.)
//! Everything but `run_ids` is optional. `aggregate` (last, min, max, mean) says which number
//! of each run's series counts for the best run, the group statistics and run-level tests.
//! `"summaries": false` leaves the per-run summaries out (`metrics` is then `{}`) while
//! `metric_keys` still lists every key with its run count: a page's cheap first answer.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use cairn_core::compare::{Aggregate, Direction, GroupBy};
use cairn_core::series::Summary;
use cairn_core::stats::{Describe, MwuMethod};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::metrics::parse_axis;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::compare::{
    BandsRequest, BestBy, CompareRequest, CompareResult, SampleKind, TestRequest, TestSides,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareBody {
    run_ids: Vec<String>,
    #[serde(default)]
    metrics: Vec<String>,
    best: Option<BestBody>,
    group_by: Option<String>,
    bands: Option<BandsBody>,
    test: Option<TestBody>,
    summaries: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BestBody {
    metric: String,
    direction: String,
    aggregate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsBody {
    metric: String,
    buckets: Option<usize>,
    x: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    metric: String,
    aggregate: Option<String>,
    a: Option<Vec<String>>,
    b: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    from_step: Option<i64>,
    to_step: Option<i64>,
}

fn aggregate(text: Option<&str>) -> ApiResult<Aggregate> {
    match text {
        None => Ok(Aggregate::Last),
        Some(text) => Aggregate::parse(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "aggregate must be one of last, min, max, mean; got '{text}'"
            ))
        }),
    }
}

impl CompareBody {
    fn into_request(self) -> ApiResult<CompareRequest> {
        let best = match self.best {
            Some(best) => Some(BestBy {
                direction: Direction::parse(&best.direction).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "best.direction must be min or max; got '{}'",
                        best.direction
                    ))
                })?,
                aggregate: aggregate(best.aggregate.as_deref())?,
                metric: best.metric,
            }),
            None => None,
        };
        let group_by = match self.group_by {
            Some(text) => Some(GroupBy::parse(&text).ok_or_else(|| {
                ApiError::invalid(format!(
                    "group_by must be params.<key> or tags.<key>; got '{text}'"
                ))
            })?),
            None => None,
        };
        let bands = match self.bands {
            Some(bands) => Some(BandsRequest {
                metric: bands.metric,
                buckets: bands.buckets.unwrap_or(200),
                x: parse_axis(bands.x.as_deref())?,
                from: bands.from,
                to: bands.to,
            }),
            None => None,
        };
        let test = match self.test {
            Some(test) => {
                let sides = match (test.a, test.b, test.groups) {
                    (Some(a), Some(b), None) => TestSides::Runs(a, b),
                    (None, None, Some(groups)) if groups.len() == 2 => {
                        TestSides::Groups(groups[0].clone(), groups[1].clone())
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            "test needs either `a` and `b` (run ids) or `groups` (two group values)",
                        ));
                    }
                };
                Some(TestRequest {
                    metric: test.metric,
                    aggregate: aggregate(test.aggregate.as_deref())?,
                    sides,
                    from_step: test.from_step,
                    to_step: test.to_step,
                })
            }
            None => None,
        };
        Ok(CompareRequest {
            run_ids: self.run_ids,
            metrics: self.metrics,
            best,
            group_by,
            bands,
            test,
            omit_summaries: !self.summaries.unwrap_or(true),
        })
    }
}

/// A double as JSON (non-finite values as strings, like every other route).
fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else if value.is_nan() {
        json!("NaN")
    } else if value > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

fn numbers(values: &[f64]) -> Value {
    Value::Array(values.iter().map(|v| number(*v)).collect())
}

fn summary(s: &Summary) -> Value {
    json!({
        "count": s.count,
        "nan_count": s.nans,
        "min": s.min_max().map(|m| number(m.0)),
        "max": s.min_max().map(|m| number(m.1)),
        "mean": s.mean().map(number),
        "last": s.last.map(|p| number(p.value)),
        "last_step": s.last.map(|p| p.step),
    })
}

fn describe(d: &Option<Describe>) -> Value {
    match d {
        Some(d) => json!({
            "n": d.n,
            "mean": number(d.mean),
            "std": number(d.std),
            "min": number(d.min),
            "max": number(d.max),
            "median": number(d.median),
        }),
        None => Value::Null,
    }
}

fn to_json(result: &CompareResult) -> Value {
    let runs: Vec<Value> = result
        .runs
        .iter()
        .map(|run| {
            let differing: Map<String, Value> = result
                .params
                .differing
                .iter()
                .filter_map(|key| {
                    run.params
                        .iter()
                        .find(|p| &p.key == key)
                        .map(|p| (key.clone(), json!(p.value)))
                })
                .collect();
            json!({
                "run_id": run.info.run_id,
                "run_name": run.info.run_name,
                "experiment_id": run.info.experiment_id,
                "status": run.info.status.as_str(),
                "params": differing,
            })
        })
        .collect();
    let metrics: Map<String, Value> = result
        .metrics
        .iter()
        .map(|(key, per_run)| {
            let cells: Vec<Value> = per_run
                .iter()
                .map(|s| s.as_ref().map(summary).unwrap_or(Value::Null))
                .collect();
            (key.clone(), Value::Array(cells))
        })
        .collect();
    let metric_keys: Vec<Value> = result
        .metric_keys
        .iter()
        .map(|(key, runs)| json!({"key": key, "runs": runs}))
        .collect();
    let mut out = json!({
        "runs": runs,
        "params": {
            "constant": result.params.constant,
            "differing": result.params.differing,
        },
        "metric_keys": metric_keys,
        "metrics": metrics,
    });
    if let Some((by, winner)) = &result.best {
        out["best"] = json!({
            "metric": by.metric,
            "direction": by.direction.as_str(),
            "aggregate": by.aggregate.as_str(),
            "run_id": winner.as_ref().map(|w| w.0.clone()),
            "value": winner.as_ref().map(|w| number(w.1)),
        });
    }
    if !result.groups.is_empty() {
        out["group_by"] = match &result.group_by {
            Some(GroupBy::Param(key)) => json!(format!("params.{key}")),
            Some(GroupBy::Tag(key)) => json!(format!("tags.{key}")),
            None => Value::Null,
        };
        out["groups"] = result
            .groups
            .iter()
            .map(|g| {
                let metrics: Map<String, Value> = g
                    .metrics
                    .iter()
                    .map(|(key, d)| (key.clone(), describe(d)))
                    .collect();
                let mut group = json!({
                    "value": g.value,
                    "run_ids": g.run_ids,
                    "metrics": metrics,
                });
                if let Some(band) = &g.band {
                    group["band"] = json!({
                        "start": band.start,
                        "n": band.n,
                        "mean": numbers(&band.mean),
                        "std": numbers(&band.std),
                        "min": numbers(&band.min),
                        "max": numbers(&band.max),
                    });
                }
                group
            })
            .collect();
    }
    if let Some((bands, grid)) = &result.bands {
        out["bands"] = json!({
            "metric": bands.metric,
            "x": super::metrics::axis_name(bands.x),
            "width": grid.map(|g| g.width),
            "from": grid.map(|g| g.from),
            "to": grid.map(|g| g.to),
            "value": "each run's bucket mean",
        });
    }
    if let Some(test) = &result.test {
        out["test"] = json!({
            "metric": test.metric,
            "samples": match test.samples {
                SampleKind::Points => "points",
                SampleKind::Runs => "runs",
            },
            "aggregate": (test.samples == SampleKind::Runs).then(|| test.aggregate.as_str()),
            "a": {"run_ids": test.a.run_ids, "describe": describe(&test.a.describe)},
            "b": {"run_ids": test.b.run_ids, "describe": describe(&test.b.describe)},
            "welch": test.welch.as_ref().map(|w| json!({
                "t": number(w.t),
                "df": number(w.df),
                "p_value": number(w.p_value),
                "mean_difference": number(w.mean_difference),
                "cohens_d": number(w.cohens_d),
                "hedges_g": number(w.hedges_g),
            })),
            "mann_whitney": test.mann_whitney.as_ref().map(|m| json!({
                "u": number(m.u),
                "p_value": number(m.p_value),
                "method": match m.method {
                    MwuMethod::Exact => "exact",
                    MwuMethod::Asymptotic => "asymptotic",
                },
                "rank_biserial": number(m.rank_biserial),
                "common_language": number(m.common_language),
            })),
            "assumptions": test.assumptions,
        });
    }
    out
}

pub async fn compare(
    State(state): State<AppState>,
    payload: Result<Json<CompareBody>, JsonRejection>,
) -> ApiResult<Response> {
    let result = state
        .tracking
        .compare(super::body(payload)?.into_request()?)
        .await?;
    Ok(Json(to_json(&result)).into_response())
}
