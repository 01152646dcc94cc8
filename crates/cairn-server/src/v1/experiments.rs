//! Experiment routes of the native API (used by the web UI).
//!
//! - `GET /api/v1/experiments` — search (MLflow's experiment filter language), each experiment
//!   with its number of active runs.
//! - `POST /api/v1/experiments` — create (`name`, optional `description` and `tags`).
//! - `GET /api/v1/experiments/{id}`, `PATCH /api/v1/experiments/{id}` — read; rename, describe,
//!   tag, delete or restore in one call.
//! - `GET /api/v1/experiments/{id}/keys` — the param, tag and metric keys its runs use.
//!
//! The description is MLflow's `mlflow.note.content` tag, so the MLflow UI and client see it too.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_core::model::{Experiment, Tag, ViewType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{body, query};
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mlflow::wire::{self, KeyValue};
use crate::tracking::SearchExperiments;

pub use crate::tracking::NOTE_TAG;

#[derive(Serialize)]
struct ExperimentJson<'a> {
    experiment_id: &'a str,
    name: &'a str,
    artifact_location: &'a str,
    lifecycle_stage: &'static str,
    creation_time: i64,
    last_update_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    tags: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    active_runs: Option<u64>,
}

fn experiment_json(e: &Experiment, active_runs: Option<u64>) -> ExperimentJson<'_> {
    ExperimentJson {
        experiment_id: &e.experiment_id,
        name: &e.name,
        artifact_location: &e.artifact_location,
        lifecycle_stage: e.lifecycle_stage.as_str(),
        creation_time: e.creation_time,
        last_update_time: e.last_update_time,
        description: e
            .tags
            .iter()
            .find(|t| t.key == NOTE_TAG)
            .map(|t| t.value.as_str()),
        tags: wire::tags(&e.tags),
        active_runs,
    }
}

/// `active_only` / `deleted_only` / `all` (the native spelling of MLflow's view types).
pub fn parse_view(view: Option<&str>) -> ApiResult<ViewType> {
    match view.unwrap_or("active_only") {
        "active_only" => Ok(ViewType::ActiveOnly),
        "deleted_only" => Ok(ViewType::DeletedOnly),
        "all" => Ok(ViewType::All),
        other => Err(ApiError::invalid(format!(
            "view must be active_only, deleted_only or all; got '{other}'"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    filter: Option<String>,
    order_by: Option<String>,
    view: Option<String>,
    max_results: Option<i64>,
    page_token: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let order_by = params
        .order_by
        .as_deref()
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|clause| !clause.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let page = state
        .tracking
        .search_experiments(SearchExperiments {
            filter: params.filter.unwrap_or_default(),
            order_by,
            view: parse_view(params.view.as_deref())?,
            max_results: Some(params.max_results.unwrap_or(1000)),
            page_token: params.page_token,
        })
        .await?;
    let ids: Vec<String> = page.items.iter().map(|e| e.experiment_id.clone()).collect();
    let counts: HashMap<String, u64> = state.tracking.active_run_counts(&ids).await?;
    let experiments: Vec<ExperimentJson<'_>> = page
        .items
        .iter()
        .map(|e| experiment_json(e, Some(counts.get(&e.experiment_id).copied().unwrap_or(0))))
        .collect();
    let mut answer = json!({ "experiments": experiments });
    if let Some(token) = page.next_page_token {
        answer["next_page_token"] = token.into();
    }
    Ok(Json(answer).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValueBody {
    key: String,
    #[serde(default)]
    value: String,
}

fn tags_of(tags: Vec<KeyValueBody>) -> Vec<Tag> {
    tags.into_iter().map(|t| Tag::new(t.key, t.value)).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<KeyValueBody>,
}

pub async fn create(
    State(state): State<AppState>,
    payload: Result<Json<CreateBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let mut tags = tags_of(request.tags);
    if let Some(description) = request.description.filter(|d| !d.is_empty()) {
        tags.retain(|t| t.key != NOTE_TAG);
        tags.push(Tag::new(NOTE_TAG, description));
    }
    let id = match state
        .tracking
        .create_experiment(&request.name, None, tags)
        .await
    {
        Ok(id) => id,
        Err(error) => return Ok(conflict_as_409(error)),
    };
    let experiment = state.tracking.get_experiment(&id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "experiment": experiment_json(&experiment, None) })),
    )
        .into_response())
}

/// A taken name is a 409 on the native API (MLflow's routes answer 400).
fn conflict_as_409(error: ApiError) -> Response {
    if error.code == ErrorCode::ResourceAlreadyExists {
        (StatusCode::CONFLICT, error).into_response()
    } else {
        error.into_response()
    }
}

pub async fn get(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    let experiment = state.tracking.get_experiment(&experiment_id).await?;
    Ok(Json(json!({ "experiment": experiment_json(&experiment, None) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    set_tags: Vec<KeyValueBody>,
    #[serde(default)]
    delete_tags: Vec<String>,
    lifecycle_stage: Option<String>,
}

pub async fn patch(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
    payload: Result<Json<PatchBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let tracking = &state.tracking;
    // Validate everything first, so that a mistake anywhere changes nothing.
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
    let set_tags = tags_of(request.set_tags);
    for tag in &set_tags {
        cairn_core::validation::check_experiment_tag(tag)?;
    }
    if let Some(name) = &request.name {
        cairn_core::validation::check_experiment_name(name)?;
    }
    let current = tracking.get_experiment(&experiment_id).await?;
    let renamed = request.name.filter(|n| *n != current.name);
    if let Some(name) = &renamed
        && tracking.get_experiment_by_name(name).await.is_ok()
    {
        return Ok(conflict_as_409(ApiError::new(
            ErrorCode::ResourceAlreadyExists,
            format!("Experiment '{name}' already exists."),
        )));
    }

    // A restore comes first and a delete last, so that the other changes meet an active experiment.
    if stage == Some(false) {
        tracking.restore_experiment(&experiment_id).await?;
    }
    if let Some(name) = renamed {
        tracking.rename_experiment(&experiment_id, &name).await?;
    }
    let has_note = current.tags.iter().any(|t| t.key == NOTE_TAG);
    match request.description {
        Some(description) if description.is_empty() && has_note => {
            tracking
                .delete_experiment_tag(&experiment_id, NOTE_TAG)
                .await?;
        }
        Some(description) if description.is_empty() => {}
        Some(description) => {
            tracking
                .set_experiment_tag(&experiment_id, Tag::new(NOTE_TAG, description))
                .await?;
        }
        None => {}
    }
    for tag in set_tags {
        tracking.set_experiment_tag(&experiment_id, tag).await?;
    }
    for key in &request.delete_tags {
        if current.tags.iter().any(|t| &t.key == key) {
            tracking.delete_experiment_tag(&experiment_id, key).await?;
        }
    }
    if stage == Some(true) {
        tracking.delete_experiment(&experiment_id).await?;
    }
    let experiment = tracking.get_experiment(&experiment_id).await?;
    Ok(Json(json!({ "experiment": experiment_json(&experiment, None) })).into_response())
}

pub async fn keys(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    let keys = state.tracking.experiment_keys(&experiment_id).await?;
    Ok(Json(json!({
        "params": keys.params,
        "tags": keys.tags,
        "metrics": keys.metrics,
    }))
    .into_response())
}
