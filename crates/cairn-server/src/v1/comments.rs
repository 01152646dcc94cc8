//! Comment routes of the native API.
//!
//! - `GET`/`POST /api/v1/runs/{run_id}/comments`, `GET`/`POST
//!   /api/v1/experiments/{experiment_id}/comments` — a target's comments (oldest first), or a new
//!   one: `{"body": "markdown, @mentions"}`.
//! - `PATCH /api/v1/comments/{id}` `{"body"}`, `DELETE /api/v1/comments/{id}` — the author's own
//!   (or, for an admin, anyone's) when authentication is on.
//!
//! - `GET`/`POST /api/v1/runs/{run_id}/annotations` `{"key", "step", "text"}`, `DELETE
//!   /api/v1/annotations/{id}` — notes on one point of a run's metric chart, drawn on the charts.
//!
//! - `GET /api/v1/runs/{run_id}/activity?limit=` — the run's history, newest first: created,
//!   status changes, renames, tags set or removed (system tags left out), note edits, deletes and
//!   restores, each with the signed-in user who made it (null without authentication).
//!
//! - `GET /api/v1/mentions?before=&limit=` — comments that mention the signed-in user, newest
//!   first, on runs and experiments they may read (authentication on); `before` is a comment id
//!   to page back from, `limit` 1 to 200 (default 50).
//!
//! A comment answers `{"id", "target": {"kind", "id"}, "author", "body", "mentions", "created",
//! "edited"}`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_core::comments::{Annotation, Comment, CommentTarget};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, query};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

fn comment_json(c: &Comment) -> Value {
    json!({
        "id": c.id,
        "target": { "kind": c.target.kind(), "id": c.target.id() },
        "author": c.author,
        "body": c.body,
        "mentions": c.mentions,
        "created": c.created,
        "edited": c.edited,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    body: String,
}

fn comment_id(text: &str) -> ApiResult<i64> {
    text.parse()
        .map_err(|_| ApiError::invalid(format!("Invalid comment id '{text}'")))
}

async fn list(state: AppState, target: CommentTarget) -> ApiResult<Response> {
    let found = state.tracking.comments(target).await?;
    let found: Vec<Value> = found.iter().map(comment_json).collect();
    Ok(Json(json!({ "comments": found })).into_response())
}

async fn add(
    state: AppState,
    target: CommentTarget,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<CommentBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let author = principal.as_ref().map(|Extension(p)| &p.user);
    let comment = state
        .tracking
        .add_comment(target, author, request.body)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "comment": comment_json(&comment) })),
    )
        .into_response())
}

pub async fn run_comments(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    list(state, CommentTarget::Run(run_id)).await
}

pub async fn add_run_comment(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<CommentBody>, JsonRejection>,
) -> ApiResult<Response> {
    add(state, CommentTarget::Run(run_id), principal, payload).await
}

pub async fn experiment_comments(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    list(state, CommentTarget::Experiment(experiment_id)).await
}

pub async fn add_experiment_comment(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<CommentBody>, JsonRejection>,
) -> ApiResult<Response> {
    add(
        state,
        CommentTarget::Experiment(experiment_id),
        principal,
        payload,
    )
    .await
}

pub async fn edit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<CommentBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let caller = principal.as_ref().map(|Extension(p)| &p.user);
    let comment = state
        .tracking
        .edit_comment(comment_id(&id)?, caller, request.body)
        .await?;
    Ok(Json(json!({ "comment": comment_json(&comment) })).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    principal: Option<Extension<Principal>>,
) -> ApiResult<Response> {
    let caller = principal.as_ref().map(|Extension(p)| &p.user);
    state
        .tracking
        .delete_comment(comment_id(&id)?, caller)
        .await?;
    Ok(Json(json!({})).into_response())
}

fn annotation_json(a: &Annotation) -> Value {
    json!({
        "id": a.id, "run_id": a.run_id, "key": a.key, "step": a.step, "text": a.text,
        "author": a.author, "created": a.created,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationBody {
    key: String,
    step: i64,
    text: String,
}

pub async fn annotations(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<Response> {
    let found = state.tracking.annotations(&run_id).await?;
    let found: Vec<Value> = found.iter().map(annotation_json).collect();
    Ok(Json(json!({ "annotations": found })).into_response())
}

pub async fn add_annotation(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<AnnotationBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let author = principal.as_ref().map(|Extension(p)| &p.user);
    let annotation = state
        .tracking
        .add_annotation(&run_id, author, request.key, request.step, request.text)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "annotation": annotation_json(&annotation) })),
    )
        .into_response())
}

pub async fn delete_annotation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    principal: Option<Extension<Principal>>,
) -> ApiResult<Response> {
    let caller = principal.as_ref().map(|Extension(p)| &p.user);
    let id = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("Invalid annotation id '{id}'")))?;
    state.tracking.delete_annotation(id, caller).await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    limit: Option<usize>,
}

pub async fn activity(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    params: Result<axum::extract::Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let params = super::query(params)?;
    let entries = state
        .tracking
        .run_activity(&run_id, params.limit.unwrap_or(200))
        .await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|a| json!({ "id": a.id, "time": a.time, "user": a.user, "change": a.change }))
        .collect();
    Ok(Json(json!({ "activity": entries })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MentionsQuery {
    before: Option<i64>,
    limit: Option<usize>,
}

pub async fn mentions(
    State(state): State<AppState>,
    params: Result<Query<MentionsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let found = state
        .tracking
        .my_mentions(params.before, params.limit.unwrap_or(50))
        .await?;
    let found: Vec<Value> = found.iter().map(comment_json).collect();
    Ok(Json(json!({ "comments": found })).into_response())
}
