//! `registered-models/*` and `model-versions/*` routes: MLflow's model registry.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use cairn_core::model::Tag;
use serde_json::json;

use super::fields::Fields;
use super::wire;
use crate::AppState;
use crate::error::ApiResult;
use crate::tracking::{CreateVersion, SearchRegistry};

fn registered(model: &cairn_core::registry::RegisteredModel) -> Response {
    Json(json!({ "registered_model": wire::registered_model(model) })).into_response()
}

fn version(version: &cairn_core::registry::ModelVersion) -> Response {
    Json(json!({ "model_version": wire::model_version(version) })).into_response()
}

fn empty() -> Response {
    Json(json!({})).into_response()
}

fn search_request(f: &Fields) -> ApiResult<SearchRegistry> {
    Ok(SearchRegistry {
        filter: f.opt_str("filter")?.unwrap_or_default(),
        order_by: f.str_list("order_by")?,
        max_results: f.opt_i64("max_results")?,
        page_token: f.opt_nonempty_str("page_token")?,
    })
}

fn tag(f: &Fields) -> ApiResult<Tag> {
    Ok(Tag::new(
        f.req_str("key")?,
        f.opt_str("value")?.unwrap_or_default(),
    ))
}

pub async fn create_model(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let tags = wire::parse_tags(&mut f, "tags")?;
    let model = state
        .tracking
        .create_registered_model(&f.req_str("name")?, f.opt_str("description")?, tags)
        .await?;
    Ok(registered(&model))
}

pub async fn get_model(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let model = state
        .tracking
        .get_registered_model(&f.req_str("name")?)
        .await?;
    Ok(registered(&model))
}

pub async fn rename_model(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let model = state
        .tracking
        .rename_registered_model(
            &f.req_str("name")?,
            &f.opt_str("new_name")?.unwrap_or_default(),
        )
        .await?;
    Ok(registered(&model))
}

pub async fn update_model(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let model = state
        .tracking
        .update_registered_model(&f.req_str("name")?, f.opt_str("description")?)
        .await?;
    Ok(registered(&model))
}

pub async fn delete_model(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_registered_model(&f.req_str("name")?)
        .await?;
    Ok(empty())
}

pub async fn search_models(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let page = state
        .tracking
        .search_registered_models(search_request(&f)?)
        .await?;
    let models: Vec<_> = page.items.iter().map(wire::registered_model).collect();
    let mut body = json!({ "registered_models": models });
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body).into_response())
}

pub async fn latest_versions(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let versions = state
        .tracking
        .latest_versions(&f.req_str("name")?, &f.str_list("stages")?)
        .await?;
    let versions: Vec<_> = versions.iter().map(wire::model_version).collect();
    Ok(Json(json!({ "model_versions": versions })).into_response())
}

pub async fn set_model_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .set_registered_model_tag(&f.req_str("name")?, tag(&f)?)
        .await?;
    Ok(empty())
}

pub async fn delete_model_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_registered_model_tag(&f.req_str("name")?, &f.req_str("key")?)
        .await?;
    Ok(empty())
}

pub async fn create_version(State(state): State<AppState>, mut f: Fields) -> ApiResult<Response> {
    let tags = wire::parse_tags(&mut f, "tags")?;
    let request = CreateVersion {
        name: f.req_str("name")?,
        source: f.req_str("source")?,
        run_id: f.opt_nonempty_str("run_id")?,
        run_link: f.opt_nonempty_str("run_link")?,
        description: f.opt_str("description")?,
        model_id: f.opt_nonempty_str("model_id")?,
        tags,
    };
    let created = state.tracking.create_model_version(request).await?;
    Ok(version(&created))
}

pub async fn get_version(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let found = state
        .tracking
        .get_model_version(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    Ok(version(&found))
}

pub async fn update_version(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let updated = state
        .tracking
        .update_model_version(
            &f.req_str("name")?,
            &f.req_str("version")?,
            f.opt_str("description")?,
        )
        .await?;
    Ok(version(&updated))
}

pub async fn transition_stage(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let moved = state
        .tracking
        .transition_model_version_stage(
            &f.req_str("name")?,
            &f.req_str("version")?,
            &f.req_str("stage")?,
            f.opt_bool("archive_existing_versions")?.unwrap_or(false),
        )
        .await?;
    Ok(version(&moved))
}

pub async fn delete_version(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_model_version(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    Ok(empty())
}

pub async fn download_uri(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let uri = state
        .tracking
        .model_version_download_uri(&f.req_str("name")?, &f.req_str("version")?)
        .await?;
    Ok(Json(json!({ "artifact_uri": uri })).into_response())
}

pub async fn search_versions(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let page = state
        .tracking
        .search_model_versions(search_request(&f)?)
        .await?;
    let versions: Vec<_> = page.items.iter().map(wire::model_version).collect();
    let mut body = json!({ "model_versions": versions });
    if let Some(token) = page.next_page_token {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body).into_response())
}

pub async fn set_version_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .set_model_version_tag(&f.req_str("name")?, &f.req_str("version")?, tag(&f)?)
        .await?;
    Ok(empty())
}

pub async fn delete_version_tag(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_model_version_tag(
            &f.req_str("name")?,
            &f.req_str("version")?,
            &f.req_str("key")?,
        )
        .await?;
    Ok(empty())
}

pub async fn set_alias(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .set_registered_model_alias(
            &f.req_str("name")?,
            &f.req_str("alias")?,
            &f.req_str("version")?,
        )
        .await?;
    Ok(empty())
}

pub async fn delete_alias(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    state
        .tracking
        .delete_registered_model_alias(&f.req_str("name")?, &f.req_str("alias")?)
        .await?;
    Ok(empty())
}

pub async fn get_by_alias(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let found = state
        .tracking
        .model_version_by_alias(&f.req_str("name")?, &f.req_str("alias")?)
        .await?;
    Ok(version(&found))
}
