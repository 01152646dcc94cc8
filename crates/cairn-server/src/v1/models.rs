//! Logged-model routes of the native API.
//!
//! - `PUT /api/v1/logged-models/{model_id}` — create an MLflow 3 logged model with a
//!   client-chosen id, idempotently (what `cairn import mlflow` uses to keep its source's model
//!   ids). Body: `{"experiment_id": "1"}` plus optional `name`, `model_type`, `source_run_id`,
//!   `creation_timestamp` (ms) and `tags` / `params` (`[{"key", "value"}]`). Answers
//!   `{"model": <as MLflow's logged-models/get>, "created": bool}`: 201 when this call created
//!   it, 200 when it was already there in the same experiment (nothing is changed), 409
//!   `RESOURCE_ALREADY_EXISTS` when it is in another experiment.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_core::model::{Param, Tag};
use serde::Deserialize;
use serde_json::json;

use super::body;
use crate::AppState;
use crate::error::{ApiResult, ErrorCode};
use crate::mlflow::wire;
use crate::tracking::CreateModel;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutModelBody {
    experiment_id: String,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    creation_timestamp: Option<i64>,
    #[serde(default)]
    tags: Vec<KeyValue>,
    #[serde(default)]
    params: Vec<KeyValue>,
}

pub async fn put_model(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    payload: Result<Json<PutModelBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let create = CreateModel {
        experiment_id: request.experiment_id,
        name: request.name,
        model_type: request.model_type,
        source_run_id: request.source_run_id,
        params: request
            .params
            .into_iter()
            .map(|p| Param::new(p.key, p.value))
            .collect(),
        tags: request
            .tags
            .into_iter()
            .map(|t| Tag::new(t.key, t.value))
            .collect(),
    };
    let (model, created) = match state
        .tracking
        .ensure_logged_model(&model_id, create, request.creation_timestamp)
        .await
    {
        Ok(ensured) => ensured,
        Err(error) if error.code == ErrorCode::ResourceAlreadyExists => {
            return Ok((StatusCode::CONFLICT, error).into_response());
        }
        Err(error) => return Err(error),
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = json!({ "model": wire::logged_model(&model), "created": created });
    Ok((status, Json(answer)).into_response())
}
