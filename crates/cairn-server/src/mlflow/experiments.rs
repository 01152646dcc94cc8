//! `experiments/*` routes.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_core::model::ViewType;
use serde::Serialize;
use serde_json::json;

use super::fields::Fields;
use super::wire::{self, ExperimentJson};
use crate::AppState;
use crate::error::ApiResult;
use crate::tracking::SearchExperiments;

pub async fn create(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let name = f.req_str("name")?;
    let tags = wire::parse_tags(&mut f, "tags")?;
    let id = state
        .tracking
        .create_experiment(&name, f.opt_nonempty_str("artifact_location")?, tags)
        .await?;
    Ok(Json(json!({ "experiment_id": id })).into_response())
}

pub async fn get(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let experiment = state
        .tracking
        .get_experiment(&f.req_str("experiment_id")?)
        .await?;
    Ok(Json(json!({ "experiment": wire::experiment(&experiment) })).into_response())
}

pub async fn get_by_name(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let experiment = state
        .tracking
        .get_experiment_by_name(&f.req_str("experiment_name")?)
        .await?;
    Ok(Json(json!({ "experiment": wire::experiment(&experiment) })).into_response())
}

pub fn parse_view_type(f: &Fields, name: &str) -> ApiResult<ViewType> {
    let view = f.opt_enum(
        name,
        |s| match s {
            "ACTIVE_ONLY" => Some(ViewType::ActiveOnly),
            "DELETED_ONLY" => Some(ViewType::DeletedOnly),
            "ALL" => Some(ViewType::All),
            _ => None,
        },
        |n| match n {
            1 => Some(ViewType::ActiveOnly),
            2 => Some(ViewType::DeletedOnly),
            3 => Some(ViewType::All),
            _ => None,
        },
    )?;
    Ok(view.unwrap_or_default())
}

#[derive(Serialize)]
struct SearchResponse<'a> {
    experiments: Vec<ExperimentJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<&'a str>,
}

pub async fn search(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let search = SearchExperiments {
        filter: f.opt_str("filter")?.unwrap_or_default(),
        order_by: f.str_list("order_by")?,
        view: parse_view_type(&f, "view_type")?,
        max_results: f.opt_i64("max_results")?,
        page_token: f.opt_str("page_token")?,
    };
    let page = state.tracking.search_experiments(search).await?;
    let body = SearchResponse {
        experiments: page.items.iter().map(wire::experiment).collect(),
        next_page_token: page.next_page_token.as_deref(),
    };
    Ok(Json(&body).into_response())
}

pub async fn update(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let id = f.req_str("experiment_id")?;
    if let Some(new_name) = f.opt_str("new_name")? {
        state.tracking.rename_experiment(&id, &new_name).await?;
    }
    Ok(Json(json!({})).into_response())
}

pub async fn delete(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_experiment(&f.req_str("experiment_id")?)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn restore(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .restore_experiment(&f.req_str("experiment_id")?)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn set_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let id = f.req_str("experiment_id")?;
    let tag =
        cairn_core::model::Tag::new(f.req_str("key")?, f.opt_str("value")?.unwrap_or_default());
    state.tracking.set_experiment_tag(&id, tag).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn delete_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_experiment_tag(&f.req_str("experiment_id")?, &f.req_str("key")?)
        .await?;
    Ok(Json(json!({})).into_response())
}
