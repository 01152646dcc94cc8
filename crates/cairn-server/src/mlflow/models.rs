//! `logged-models/*` routes (MLflow 3 logged models).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use cairn_core::model::LoggedModelStatus;
use serde::Serialize;
use serde_json::json;

use super::fields::Fields;
use super::wire::{self, LoggedModelJson};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::{CreateModel, ModelOrder, SearchModels};

pub async fn create(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let request = CreateModel {
        experiment_id: f.req_str("experiment_id")?,
        name: f.opt_str("name")?,
        model_type: f.opt_str("model_type")?,
        source_run_id: f.opt_nonempty_str("source_run_id")?,
        params: wire::parse_params(&mut f, "params")?,
        tags: wire::parse_tags(&mut f, "tags")?,
    };
    let model = state.tracking.create_logged_model(request).await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Response> {
    let model = state.tracking.get_logged_model(&model_id).await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })).into_response())
}

pub async fn finalize(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    f: Fields,
) -> ApiResult<Response> {
    let status = f
        .opt_enum(
            "status",
            LoggedModelStatus::parse,
            LoggedModelStatus::from_number,
        )?
        .ok_or_else(|| ApiError::missing("status"))?;
    let model = state
        .tracking
        .finalize_logged_model(&model_id, status)
        .await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Response> {
    state.tracking.delete_logged_model(&model_id).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn set_tags(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    mut f: Fields,
) -> ApiResult<Response> {
    let model = state
        .tracking
        .set_logged_model_tags(&model_id, wire::parse_tags(&mut f, "tags")?)
        .await?;
    Ok(Json(json!({ "model": wire::logged_model(&model) })).into_response())
}

pub async fn delete_tag(
    State(state): State<AppState>,
    Path((model_id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .tracking
        .delete_logged_model_tag(&model_id, &key)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn log_params(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    mut f: Fields,
) -> ApiResult<Response> {
    state
        .tracking
        .log_logged_model_params(&model_id, wire::parse_params(&mut f, "params")?)
        .await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Serialize)]
struct SearchResponse<'a> {
    models: Vec<LoggedModelJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

pub async fn search(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let order_by = f
        .take_objects("order_by")?
        .iter()
        .map(|o| {
            Ok(ModelOrder {
                field_name: o.req_str("field_name")?,
                ascending: o.opt_bool("ascending")?.unwrap_or(true),
                dataset_name: o.opt_nonempty_str("dataset_name")?,
                dataset_digest: o.opt_nonempty_str("dataset_digest")?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let search = SearchModels {
        experiment_ids: f.str_list("experiment_ids")?,
        filter: f.opt_str("filter")?.unwrap_or_default(),
        order_by,
        max_results: f.opt_i64("max_results")?,
        page_token: f.opt_str("page_token")?,
    };
    let page = state.tracking.search_logged_models(search).await?;
    let body = SearchResponse {
        models: page.items.iter().map(wire::logged_model).collect(),
        next_page_token: page.next_page_token.as_deref(),
    };
    Ok(Json(&body).into_response())
}
