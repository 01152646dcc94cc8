//! The MLflow-compatible REST surface: every route the official client uses, under both
//! `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`, plus the artifact proxy and the small
//! non-RPC routes. See `shared/MLFLOW_COMPAT.md` for the wire facts these follow.
//!
//! - [`fields`]: request field extraction with proto-JSON leniency.
//! - [`wire`]: response shapes and nested request messages.
//! - one module per resource: [`experiments`], [`runs`], [`metrics`], [`models`], [`registry`]
//!   (registered models and model versions), [`artifacts`].

use axum::Router;
use axum::routing::{delete, get, patch, post, put};

use crate::AppState;

pub mod artifacts;
pub mod experiments;
pub mod fields;
pub mod metrics;
pub mod models;
pub mod registry;
pub mod runs;
pub mod wire;

/// The tracking RPC routes, relative to a `/api/2.0/mlflow` style prefix.
fn tracking_routes() -> Router<AppState> {
    Router::new()
        .route("/experiments/create", post(experiments::create))
        .route("/experiments/get", get(experiments::get))
        .route("/experiments/get-by-name", get(experiments::get_by_name))
        .route(
            "/experiments/search",
            get(experiments::search).post(experiments::search),
        )
        .route("/experiments/list", get(experiments::search))
        .route("/experiments/update", post(experiments::update))
        .route("/experiments/delete", post(experiments::delete))
        .route("/experiments/restore", post(experiments::restore))
        .route(
            "/experiments/set-experiment-tag",
            post(experiments::set_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(experiments::delete_tag),
        )
        .route("/runs/create", post(runs::create))
        .route("/runs/get", get(runs::get))
        .route("/runs/update", post(runs::update))
        .route("/runs/delete", post(runs::delete))
        .route("/runs/restore", post(runs::restore))
        .route("/runs/search", post(runs::search))
        .route("/runs/log-metric", post(runs::log_metric))
        .route("/runs/log-parameter", post(runs::log_param))
        .route("/runs/log-batch", post(runs::log_batch))
        .route("/runs/set-tag", post(runs::set_tag))
        .route("/runs/delete-tag", post(runs::delete_tag))
        .route("/runs/log-inputs", post(runs::log_inputs))
        .route("/runs/outputs", post(runs::log_outputs))
        .route("/runs/log-model", post(runs::log_model))
        .route("/metrics/get-history", get(metrics::history))
        .route("/metrics/get-history-bulk", get(metrics::bulk))
        .route(
            "/metrics/get-history-bulk-interval",
            get(metrics::bulk_interval),
        )
        .route("/logged-models", post(models::create))
        .route("/logged-models/search", post(models::search))
        .route(
            "/logged-models/{model_id}",
            get(models::get)
                .patch(models::finalize)
                .delete(models::delete),
        )
        .route("/logged-models/{model_id}/tags", patch(models::set_tags))
        .route(
            "/logged-models/{model_id}/tags/{key}",
            delete(models::delete_tag),
        )
        .route("/logged-models/{model_id}/params", post(models::log_params))
        .route("/registered-models/create", post(registry::create_model))
        .route("/registered-models/get", get(registry::get_model))
        .route("/registered-models/rename", post(registry::rename_model))
        .route("/registered-models/update", patch(registry::update_model))
        .route("/registered-models/delete", delete(registry::delete_model))
        .route("/registered-models/search", get(registry::search_models))
        .route(
            "/registered-models/get-latest-versions",
            post(registry::latest_versions).get(registry::latest_versions),
        )
        .route("/registered-models/set-tag", post(registry::set_model_tag))
        .route(
            "/registered-models/delete-tag",
            delete(registry::delete_model_tag),
        )
        .route(
            "/registered-models/alias",
            post(registry::set_alias)
                .delete(registry::delete_alias)
                .get(registry::get_by_alias),
        )
        .route("/model-versions/create", post(registry::create_version))
        .route("/model-versions/get", get(registry::get_version))
        .route("/model-versions/update", patch(registry::update_version))
        .route(
            "/model-versions/transition-stage",
            post(registry::transition_stage),
        )
        .route("/model-versions/delete", delete(registry::delete_version))
        .route("/model-versions/search", get(registry::search_versions))
        .route(
            "/model-versions/get-download-uri",
            get(registry::download_uri),
        )
        .route("/model-versions/set-tag", post(registry::set_version_tag))
        .route(
            "/model-versions/delete-tag",
            delete(registry::delete_version_tag),
        )
        .route("/artifacts/list", get(artifacts::list_run))
        .route("/get-artifact", get(artifacts::get_run_artifact))
}

/// The artifact proxy routes, relative to `/api/2.0/mlflow-artifacts`.
fn artifact_routes() -> Router<AppState> {
    Router::new()
        .route("/artifacts", get(artifacts::list))
        .route(
            "/artifacts/{*path}",
            put(artifacts::upload)
                .get(artifacts::download)
                .delete(artifacts::delete),
        )
        .route("/mpu/create/{*path}", post(artifacts::mpu_create))
        .route("/mpu/complete/{*path}", post(artifacts::mpu_complete))
        .route("/mpu/abort/{*path}", post(artifacts::mpu_abort))
        .route("/mpu/parts/{upload_id}/{number}", put(artifacts::mpu_part))
        .route("/presigned/{*path}", get(artifacts::presigned))
}

/// All MLflow-compatible routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .nest("/api/2.0/mlflow", tracking_routes())
        .nest("/ajax-api/2.0/mlflow", tracking_routes())
        .nest("/api/2.0/mlflow-artifacts", artifact_routes())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifact_routes())
        .route("/get-artifact", get(artifacts::get_run_artifact))
}
