//! The native API (`/api/v1`), used by Cairn's SDK and web UI.
//!
//! Conventions: JSON bodies; series travel columnar (`steps`, `timestamps`, `values` arrays) so
//! that a million points cost a few megabytes and one parse; doubles that JSON cannot carry are
//! the strings `"NaN"`, `"Infinity"` and `"-Infinity"`; errors use the same
//! `{"error_code", "message"}` body as the MLflow routes.
//!
//! - [`artifacts`]: a run's files with metadata, downloads with `Range`, resumable uploads in
//!   parts, blob metadata, garbage collection.
//! - [`experiments`]: search, create, read and change experiments; the keys their runs use.
//! - [`runs`]: idempotent creation of a run with a client-chosen id, reading and changing a run,
//!   windows of a run search with the total count (tables).
//! - [`models`]: idempotent creation of a logged model with a client-chosen id.
//! - [`registry`]: registered models and their versions, for reading (writes use MLflow's routes).
//! - [`metrics`]: ingest (columnar JSON, or the binary layout of [`ingest`]), full series, downsampled views (one run or many), summaries.
//! - [`lineage`]: the lineage graph around a node, recording a run's inputs and outputs,
//!   comparing two runs' inputs, forking a run.
//! - [`alerts`]: alert rules of an experiment and their delivery logs.
//! - [`auth`]: signing a browser in and out, API tokens, the audit log.
//! - [`comments`]: comments on runs and experiments, annotations on chart points.
//! - [`teams`]: teams and their members, experiments' owning team, visibility and shares.
//! - [`compare`]: run comparison (params diff, summaries, best run, groups, bands, tests).
//! - [`stream`]: the live stream (WebSocket) of new points and run changes.
//! - [`json`]: the columnar encoders and the lenient double decoder.
//!
//! `GET /api/v1/openapi.yaml` serves the OpenAPI 3.1 document of every route here
//! (`crates/cairn-server/openapi.yaml`); a route added here belongs there too.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

pub mod alerts;
pub mod artifacts;
pub mod auth;
pub mod comments;
pub mod compare;
pub mod experiments;
pub mod ingest;
pub mod json;
pub mod lineage;
pub mod metrics;
pub mod models;
pub mod registry;
pub mod runs;
pub mod stream;
pub mod teams;

/// The OpenAPI 3.1 document of the native API.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// Largest native ingest body (bytes).
pub const MAX_INGEST_BODY: usize = 256 << 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.yaml", get(openapi))
        .route(
            "/api/v1/experiments",
            get(experiments::list).post(experiments::create),
        )
        .route(
            "/api/v1/experiments/{experiment_id}",
            get(experiments::get).patch(experiments::patch),
        )
        .route(
            "/api/v1/experiments/{experiment_id}/keys",
            get(experiments::keys),
        )
        .route("/api/v1/logged-models/{model_id}", put(models::put_model))
        .route("/api/v1/runs/search", post(runs::search))
        .route(
            "/api/v1/runs/{run_id}",
            put(runs::put_run).get(runs::get_run).patch(runs::patch_run),
        )
        .route(
            "/api/v1/runs/{run_id}/metrics",
            post(metrics::ingest)
                .get(metrics::run_summaries)
                .layer(DefaultBodyLimit::max(MAX_INGEST_BODY)),
        )
        .route(
            "/api/v1/runs/{run_id}/metrics/{key}/points",
            get(metrics::points),
        )
        .route(
            "/api/v1/runs/{run_id}/metrics/{key}/series",
            get(metrics::run_series),
        )
        .route("/api/v1/series", post(metrics::many_series))
        .route("/api/v1/summaries", post(metrics::summaries))
        .route(
            "/api/v1/experiments/{experiment_id}/retention",
            get(metrics::get_retention)
                .put(metrics::put_retention)
                .delete(metrics::delete_retention),
        )
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/compare", post(compare::compare))
        .route("/api/v1/runs/{run_id}/artifacts", get(artifacts::list))
        .route(
            "/api/v1/runs/{run_id}/files/{*path}",
            get(artifacts::download)
                .put(artifacts::put_file)
                .delete(artifacts::delete_file),
        )
        .route(
            "/api/v1/runs/{run_id}/uploads",
            post(artifacts::create_upload),
        )
        .route(
            "/api/v1/runs/{run_id}/presigned/{*path}",
            get(artifacts::presigned),
        )
        .route(
            "/api/v1/uploads/{upload_id}",
            get(artifacts::get_upload).delete(artifacts::abort_upload),
        )
        .route(
            "/api/v1/uploads/{upload_id}/parts/{number}",
            put(artifacts::put_part),
        )
        .route(
            "/api/v1/uploads/{upload_id}/complete",
            post(artifacts::complete_upload),
        )
        .route("/api/v1/blobs/{digest}", get(artifacts::blob))
        .route("/api/v1/admin/gc", post(artifacts::gc))
        .route("/api/v1/lineage", get(lineage::graph))
        .route("/api/v1/lineage/diff", get(lineage::diff))
        .route("/api/v1/runs/{run_id}/lineage", post(lineage::record))
        .route("/api/v1/runs/{run_id}/fork", post(lineage::fork))
        .route(
            "/api/v1/session",
            get(auth::get_session)
                .post(auth::sign_in)
                .delete(auth::sign_out),
        )
        .route(
            "/api/v1/tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route("/api/v1/tokens/{token_id}", delete(auth::revoke_token))
        .route("/api/v1/audit", get(auth::audit))
        .route("/api/v1/teams", get(teams::list).post(teams::create))
        .route(
            "/api/v1/teams/{name}",
            get(teams::get).delete(teams::delete),
        )
        .route(
            "/api/v1/teams/{name}/members/{username}",
            put(teams::set_member).delete(teams::remove_member),
        )
        .route(
            "/api/v1/experiments/{experiment_id}/access",
            get(teams::experiment_access).patch(teams::change_access),
        )
        .route(
            "/api/v1/experiments/{experiment_id}/shares/{team}",
            put(teams::share).delete(teams::unshare),
        )
        .route(
            "/api/v1/registered-models/{name}/access",
            get(teams::model_access).patch(teams::change_model_access),
        )
        .route(
            "/api/v1/experiments/{experiment_id}/alerts",
            get(alerts::list).post(alerts::create),
        )
        .route("/api/v1/alerts/{alert_id}", delete(alerts::delete))
        .route(
            "/api/v1/runs/{run_id}/comments",
            get(comments::run_comments).post(comments::add_run_comment),
        )
        .route(
            "/api/v1/experiments/{experiment_id}/comments",
            get(comments::experiment_comments).post(comments::add_experiment_comment),
        )
        .route(
            "/api/v1/runs/{run_id}/annotations",
            get(comments::annotations).post(comments::add_annotation),
        )
        .route("/api/v1/runs/{run_id}/activity", get(comments::activity))
        .route("/api/v1/mentions", get(comments::mentions))
        .route(
            "/api/v1/annotations/{annotation_id}",
            delete(comments::delete_annotation),
        )
        .route(
            "/api/v1/comments/{comment_id}",
            patch(comments::edit).delete(comments::delete),
        )
        .route(
            "/api/v1/alerts/{alert_id}/deliveries",
            get(alerts::deliveries),
        )
        .route("/api/v1/registered-models", get(registry::list))
        .route("/api/v1/registered-models/{name}", get(registry::get))
}

/// `GET /api/v1/openapi.yaml`.
async fn openapi() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        )],
        OPENAPI_YAML,
    )
}

/// A JSON body, or a 400 that says what is wrong with it.
pub(crate) fn body<T>(payload: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    payload.map(|Json(value)| value).map_err(|rejection| {
        ApiError::invalid(format!("Invalid request body: {}", rejection.body_text()))
    })
}

/// A query string, or a 400 that says what is wrong with it.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    query
        .map(|Query(value)| value)
        .map_err(|rejection| ApiError::invalid(format!("Invalid query: {}", rejection.body_text())))
}
