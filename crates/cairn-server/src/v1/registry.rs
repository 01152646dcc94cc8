//! Model registry reads of the native API (the web UI's models pages). Writes go through
//! MLflow's registry routes, which the official client and the SDK use.
//!
//! - `GET /api/v1/registered-models?filter=&order_by=&max_results=&page_token=` — a page of
//!   registered models (MLflow's shapes), filtered and ordered as `registered-models/search`.
//! - `GET /api/v1/registered-models/{name}` — one model with every version, newest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::query;
use crate::AppState;
use crate::error::ApiResult;
use crate::mlflow::wire;
use crate::tracking::SearchRegistry;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    filter: Option<String>,
    order_by: Option<String>,
    max_results: Option<i64>,
    page_token: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let page = state
        .tracking
        .search_registered_models(SearchRegistry {
            filter: params.filter.unwrap_or_default(),
            order_by: params.order_by.into_iter().collect(),
            max_results: params.max_results,
            page_token: params.page_token,
        })
        .await?;
    let models: Vec<_> = page.items.iter().map(wire::registered_model).collect();
    let mut body = json!({ "registered_models": models });
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body).into_response())
}

pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let (model, versions) = state.tracking.registered_model_with_versions(&name).await?;
    let versions: Vec<_> = versions.iter().map(wire::model_version).collect();
    Ok(Json(json!({
        "registered_model": wire::registered_model(&model),
        "versions": versions,
    }))
    .into_response())
}
