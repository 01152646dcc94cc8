//! The Cairn HTTP server: an axum application over the tracking service, the store and the blob
//! store.
//!
//! Module map:
//! - [`router`] builds the whole application from an [`AppState`]; [`run`] serves it on a bound
//!   listener until a shutdown signal, then lets in-flight requests (and so their writes) finish.
//! - [`tracking`]: the domain operations every route calls.
//! - [`mlflow`]: the MLflow-compatible REST surface and artifact proxy.
//! - [`live`]: the in-process bus that fans committed changes out to live-stream subscribers.
//! - [`v1`]: the native API (metric ingest, series views, summaries) for the SDK and the UI.
//! - [`ui`]: the embedded web UI (built from `web/`) and its routes.
//! - [`alerts`]: alert rules watched on the live bus and delivered to webhooks with retries.
//! - [`auth`]: authentication (tokens, passwords, browser sessions) in front of every API route.
//! - [`download`]: serving stored files (ranges, ETags, safe headers) for every surface.
//! - [`error`]: [`error::ApiError`], the one place errors become status codes and JSON bodies.
//! - [`telemetry`]: `GET /metrics` (Prometheus) and `GET /ready`, and the middleware that times
//!   every request.
//!
//! **Architecture Invariant:** handlers are thin: extract fields, make one call into
//! [`tracking::Tracking`], map the result to the wire. No SQL and no filesystem access here.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_blob::BlobStore;
use cairn_store::Store;
use serde_json::json;
use tokio::net::TcpListener;

pub mod access;
pub mod alerts;
pub mod auth;
pub mod download;
pub mod error;
pub mod live;
pub mod mlflow;
pub mod telemetry;
pub mod tracking;
pub mod ui;
pub mod v1;

use tracking::Tracking;

/// The version of Cairn, reported by `cairn --version` and server-info.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The MLflow API level Cairn answers `/version` with. The client turns some features on by this
/// number (traces at 3.4 and above), so it names what is actually served.
pub const MLFLOW_API_VERSION: &str = "3.3.0";

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub tracking: Tracking,
    /// Who may call: off (the default on loopback) or tokens, passwords and sessions.
    pub auth: auth::Auth,
    /// Alert rules and their webhooks.
    pub alerts: alerts::Alerts,
    /// Where the UI's files come from: embedded (default) or a folder.
    pub web_dir: ui::WebDir,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>) -> Self {
        AppState {
            auth: auth::Auth::new(Arc::clone(&store), false),
            alerts: alerts::Alerts::new(Arc::clone(&store)),
            tracking: Tracking::new(store, blobs),
            web_dir: ui::WebDir::default(),
        }
    }

    /// Turns authentication (and with it the audit log, kept `audit_retention_days`, and the
    /// per-credential `rate_limit`, requests a second) on or off. Must be called inside a
    /// runtime.
    pub fn with_auth(
        mut self,
        enabled: bool,
        store: Arc<dyn Store>,
        audit_retention_days: i64,
        rate_limit: f64,
    ) -> Self {
        self.auth =
            auth::Auth::serving(store, enabled, audit_retention_days).with_rate_limit(rate_limit);
        self
    }

    /// Redact param and tag values whose keys match these markers (default: passwords, tokens,
    /// secrets, API keys, credentials).
    pub fn with_redactor(mut self, redactor: cairn_core::redact::Redactor) -> Self {
        self.tracking = self.tracking.with_redactor(redactor);
        self
    }

    /// Share live events with the other servers on the same database: forward this server's
    /// events to `relay` and deliver what `incoming` brings to this server's subscribers. Must
    /// be called inside a runtime.
    pub fn with_relay(
        mut self,
        relay: Arc<dyn cairn_store::Relay>,
        incoming: tokio::sync::mpsc::Receiver<cairn_store::Relayed>,
    ) -> Self {
        self.tracking = self.tracking.with_relay(relay);
        tokio::spawn(self.tracking.live().clone().relay_from(incoming));
        self
    }

    /// Serve the UI from this folder (a `web/dist`) instead of the embedded files.
    pub fn with_web_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.web_dir = ui::WebDir(dir);
        self
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(|| async { "OK" }))
        .route("/ready", get(telemetry::ready))
        .route("/metrics", get(telemetry::metrics))
        .route("/version", get(|| async { MLFLOW_API_VERSION }))
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/ajax-api/3.0/mlflow/server-info", get(server_info))
        .merge(mlflow::routes())
        .merge(v1::routes())
        .fallback(ui::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::track,
        ))
        .with_state(state)
}

async fn server_info() -> Response {
    axum::Json(json!({
        "store_type": "SqlStore",
        "multipart_uploads_enabled": true,
        // The client's ranged download reads each 100 MiB range whole into memory in Python and
        // is measured 8x slower than its plain streamed GET (bench/artifacts); it stays opt-in
        // (MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=true), and presigned/ serves it then.
        "multipart_downloads_enabled": false,
        "server": "cairn",
        "version": VERSION,
    }))
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    let body = json!({
        "error_code": "BAD_REQUEST",
        "message": format!("method {} is not allowed on {}", request.method(), request.uri().path()),
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then waits for in-flight
/// requests to finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tokio::spawn(state.alerts.clone().watch(state.tracking.live().clone()));
    // The peer address reaches the audit log.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // Without TCP_NODELAY a streamed answer (headers, then the body in a second write) waits for
    // the client's delayed ACK — about 40 ms on Linux — before its body leaves.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
