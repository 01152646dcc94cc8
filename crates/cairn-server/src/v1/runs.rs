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

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_core::model::Tag;
use serde::Deserialize;
use serde_json::json;

use super::body;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mlflow::wire;
use crate::tracking::{CreateRun, RunExperiment};

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
}

impl PutRunBody {
    fn target(&self) -> ApiResult<RunExperiment> {
        let present = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        match (present(&self.experiment_id), present(&self.experiment_name)) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "Give either experiment_id or experiment_name, not both",
            )),
            (Some(id), None) => Ok(RunExperiment::Id(id)),
            (None, Some(name)) => Ok(RunExperiment::Name(name)),
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
    let ensured = match state.tracking.ensure_run(&run_id, target, create).await {
        Ok(ensured) => ensured,
        // The id is taken by a run of another experiment: a conflict, not a bad request.
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
