//! Team and experiment-access routes of the native API (authentication on; see
//! `crate::access` for the rules).
//!
//! - `GET /api/v1/teams` — the caller's teams with their role (a site administrator: every team).
//! - `POST /api/v1/teams` `{"name"}` — a new team with the caller as its owner.
//! - `GET /api/v1/teams/{name}` — a team and its members (its members and site admins).
//! - `DELETE /api/v1/teams/{name}` — deletes a team (owners; not personal teams, nor teams that
//!   own experiments).
//! - `PUT /api/v1/teams/{name}/members/{username}` `{"role": "viewer"|"member"|"admin"|"owner"}`
//!   — adds a member or changes their role (team admins; the owner role only by owners).
//! - `DELETE /api/v1/teams/{name}/members/{username}` — removes a member (team admins), or
//!   leaves (anyone, for themselves). A team keeps at least one owner.
//! - `GET /api/v1/experiments/{id}/access` — owning team, visibility, creator, shares, and the
//!   caller's permission (`read`, `write` or `manage`).
//! - `PATCH /api/v1/experiments/{id}/access` `{"team"?, "visibility"?}` — moves the experiment
//!   and/or changes who sees it (its managers).
//! - `PUT /api/v1/experiments/{id}/shares/{team}` `{"level": "read"|"write"}` and
//!   `DELETE …/shares/{team}` — shares it with another team, or stops (its managers).
//! - `GET /api/v1/registered-models/{name}/access`, `PATCH …/access` `{"team"?, "visibility"?}`
//!   — a registered model's owning team and visibility (it has no shares).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_core::access::{Role, Team};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body;
use crate::AppState;
use crate::access::{AccessView, ModelAccessView, TeamView};
use crate::error::{ApiError, ApiResult};

fn team_json(team: &Team, role: Option<Role>) -> Value {
    json!({
        "name": team.name,
        "personal": team.personal_of.is_some(),
        "created": team.created,
        "role": role.map(Role::as_str),
    })
}

fn team_view_json(view: &TeamView) -> Value {
    let mut out = team_json(&view.team, view.role);
    out["members"] = view
        .members
        .iter()
        .map(|m| json!({ "username": m.username, "role": m.role.as_str() }))
        .collect();
    out
}

fn access_json(view: &AccessView) -> Value {
    json!({
        "experiment_id": view.experiment_id,
        "team": view.team.as_ref().map(|t| t.name.clone()),
        "visibility": view.visibility.as_str(),
        "creator": view.creator,
        "shares": view.shares.iter().map(|(team, level)| json!({
            "team": team.name, "level": level.as_str(),
        })).collect::<Vec<_>>(),
        "permission": view.permission.as_str(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    name: String,
}

pub async fn list(State(state): State<AppState>) -> ApiResult<Response> {
    let teams = state.tracking.access().list_teams().await?;
    let teams: Vec<Value> = teams
        .iter()
        .map(|(team, role)| team_json(team, *role))
        .collect();
    Ok(Json(json!({ "teams": teams })).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    payload: Result<Json<NewTeam>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let view = state.tracking.access().create_team(&request.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "team": team_view_json(&view) })),
    )
        .into_response())
}

pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let view = state.tracking.access().team(&name).await?;
    Ok(Json(json!({ "team": team_view_json(&view) })).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    state.tracking.access().delete_team(&name).await?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

pub async fn set_member(
    State(state): State<AppState>,
    Path((name, username)): Path<(String, String)>,
    payload: Result<Json<RoleBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let role = Role::parse(&request.role).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid role '{}': use viewer, member, admin or owner",
            request.role
        ))
    })?;
    let access = state.tracking.access();
    access.set_member(&name, &username, Some(role)).await?;
    let view = access.team(&name).await?;
    Ok(Json(json!({ "team": team_view_json(&view) })).into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    Path((name, username)): Path<(String, String)>,
) -> ApiResult<Response> {
    state
        .tracking
        .access()
        .set_member(&name, &username, None)
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn experiment_access(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
) -> ApiResult<Response> {
    let view = state
        .tracking
        .access()
        .experiment_access(&experiment_id)
        .await?;
    Ok(Json(json!({ "access": access_json(&view) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessChange {
    team: Option<String>,
    visibility: Option<String>,
}

pub async fn change_access(
    State(state): State<AppState>,
    Path(experiment_id): Path<String>,
    payload: Result<Json<AccessChange>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let view = state
        .tracking
        .access()
        .change_experiment_access(
            &experiment_id,
            request.team.as_deref(),
            request.visibility.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "access": access_json(&view) })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    level: String,
}

pub async fn share(
    State(state): State<AppState>,
    Path((experiment_id, team)): Path<(String, String)>,
    payload: Result<Json<ShareBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let view = state
        .tracking
        .access()
        .share_experiment(&experiment_id, &team, Some(&request.level))
        .await?;
    Ok(Json(json!({ "access": access_json(&view) })).into_response())
}

pub async fn unshare(
    State(state): State<AppState>,
    Path((experiment_id, team)): Path<(String, String)>,
) -> ApiResult<Response> {
    let view = state
        .tracking
        .access()
        .share_experiment(&experiment_id, &team, None)
        .await?;
    Ok(Json(json!({ "access": access_json(&view) })).into_response())
}

fn model_access_json(view: &ModelAccessView) -> Value {
    json!({
        "name": view.name,
        "team": view.team.as_ref().map(|t| t.name.clone()),
        "visibility": view.visibility.as_str(),
        "permission": view.permission.as_str(),
    })
}

pub async fn model_access(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let view = state.tracking.access().model_access(&name).await?;
    Ok(Json(json!({ "access": model_access_json(&view) })).into_response())
}

pub async fn change_model_access(
    State(state): State<AppState>,
    Path(name): Path<String>,
    payload: Result<Json<AccessChange>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let view = state
        .tracking
        .access()
        .change_model_access(
            &name,
            request.team.as_deref(),
            request.visibility.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "access": model_access_json(&view) })).into_response())
}
