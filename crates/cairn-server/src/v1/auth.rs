//! Sign-in and API token routes of the native API.
//!
//! - `GET /api/v1/session` — `{"auth_enabled": bool, "user": {...}|null, "csrf_token"?}`: whether
//!   the server wants credentials and who this browser is signed in as (open to everyone).
//! - `POST /api/v1/session` `{"username", "password"}` — signs a browser in: sets the
//!   `cairn_session` cookie (HttpOnly, SameSite=Strict, 7 days) and answers the user and the
//!   CSRF token that cookie-authenticated writes send in `X-Cairn-CSRF`. 401 for a wrong
//!   username or password; 429 after five failures for one username in 15 minutes.
//! - `DELETE /api/v1/session` — signs out (ends the session, clears the cookie).
//! - `GET /api/v1/tokens` — the caller's tokens (never their secrets).
//! - `POST /api/v1/tokens` `{"name", "scope"?: "read"|"write", "expires_in_days"?}` — a new token
//!   for the caller; the answer carries its secret, shown this once.
//! - `DELETE /api/v1/tokens/{id}` — revokes one of the caller's tokens (an admin: anyone's); it
//!   stops working at once.
//! - `GET /api/v1/audit?user=&action=&since=&until=&before=&limit=` — the audit log, newest first
//!   (admins only): `action` is a prefix (`auth.`, `POST /api/2.0/mlflow/runs`), `since`/`until`
//!   milliseconds, `before` an entry id to page back from.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_core::auth::{AuditQuery, Scope, Token, User};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, query};
use crate::AppState;
use crate::auth::{Principal, SESSION_COOKIE, SESSION_DAYS, auth_event};
use crate::error::{ApiError, ApiResult, ErrorCode};

fn user_json(user: &User) -> Value {
    json!({ "id": user.id, "username": user.username, "is_admin": user.is_admin })
}

fn token_json(token: &Token) -> Value {
    json!({
        "id": token.id,
        "name": token.name,
        "scope": token.scope.as_str(),
        "created": token.created,
        "expires": token.expires,
        "revoked": token.revoked,
    })
}

fn session_cookie(value: &str, max_age: i64) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .map_err(|_| ApiError::internal("cannot build the session cookie"))
}

pub async fn get_session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = state.auth.session(&headers).await?;
    Ok(Json(json!({
        "auth_enabled": state.auth.enabled(),
        "user": session.as_ref().map(|(user, _)| user_json(user)),
        "csrf_token": session.map(|(_, csrf)| csrf),
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    username: String,
    password: String,
}

fn peer(connect: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<String> {
    connect
        .as_ref()
        .map(|Extension(info)| info.0.ip().to_string())
}

pub async fn sign_in(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    payload: Result<Json<SignIn>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let signed = state
        .auth
        .sign_in(&request.username, &request.password)
        .await;
    if state.auth.enabled() {
        let (status, who) = match &signed {
            Ok((user, _, _)) => (200, Some(user.username.clone())),
            Err(error) => (error.code.status().as_u16(), None),
        };
        let event = auth_event(
            "auth.sign_in",
            &request.username,
            status,
            who,
            peer(&connect),
            &headers,
        );
        state.auth.record(event).await;
    }
    let (user, secret, csrf) = signed?;
    let mut response =
        Json(json!({ "user": user_json(&user), "csrf_token": csrf })).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&secret, SESSION_DAYS * 24 * 3600)?,
    );
    Ok(response)
}

pub async fn sign_out(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if state.auth.enabled()
        && let Some((user, _)) = state.auth.session(&headers).await?
    {
        let event = auth_event(
            "auth.sign_out",
            &user.username,
            200,
            Some(user.username.clone()),
            peer(&connect),
            &headers,
        );
        state.auth.record(event).await;
    }
    state.auth.sign_out(&headers).await?;
    let mut response = Json(json!({})).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0)?);
    Ok(response)
}

/// The caller, when authentication is on.
fn caller(principal: Option<Extension<Principal>>) -> ApiResult<Principal> {
    principal.map(|Extension(p)| p).ok_or_else(|| {
        ApiError::invalid("Authentication is off on this server (start it with --auth): there are no tokens to manage")
    })
}

pub async fn list_tokens(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> ApiResult<Response> {
    let principal = caller(principal)?;
    let tokens = state.auth.list_tokens(&principal.user).await?;
    let tokens: Vec<Value> = tokens.iter().map(token_json).collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    name: String,
    scope: Option<String>,
    expires_in_days: Option<i64>,
}

pub async fn create_token(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    payload: Result<Json<NewTokenBody>, JsonRejection>,
) -> ApiResult<Response> {
    let principal = caller(principal)?;
    let request = body(payload)?;
    let scope = match request.scope.as_deref() {
        None => Scope::Write,
        Some(text) => Scope::parse(text).ok_or_else(|| {
            ApiError::invalid(format!("Invalid scope '{text}': expected read or write"))
        })?,
    };
    let (token, secret) = state
        .auth
        .create_token(
            &principal.user,
            &request.name,
            scope,
            request.expires_in_days,
        )
        .await?;
    Ok(Json(json!({ "token": token_json(&token), "secret": secret })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    user: Option<String>,
    action: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<i64>,
    limit: Option<usize>,
}

pub async fn audit(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Response> {
    let principal = caller(principal)?;
    if !principal.user.is_admin {
        return Err(ApiError::new(
            ErrorCode::PermissionDenied,
            "Only admins may read the audit log",
        ));
    }
    let params = query(params)?;
    let entries = state
        .auth
        .search_audit(AuditQuery {
            username: params.user,
            action_prefix: params.action,
            since: params.since,
            until: params.until,
            before_id: params.before,
            limit: params.limit.unwrap_or(100),
        })
        .await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "time": e.time, "username": e.username, "action": e.action,
                "target": e.target, "status": e.status, "source": e.source,
                "user_agent": e.user_agent,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })).into_response())
}

pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(token_id): Path<String>,
) -> ApiResult<Response> {
    let principal = caller(principal)?;
    let id: i64 = token_id
        .parse()
        .map_err(|_| ApiError::invalid(format!("Invalid token id '{token_id}'")))?;
    let token = state.auth.revoke_token(&principal.user, id).await?;
    Ok(Json(json!({ "token": token_json(&token) })).into_response())
}
