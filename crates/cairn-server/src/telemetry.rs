//! What the server tells a monitoring system: `GET /metrics` in Prometheus' text exposition
//! format (version 0.0.4), and `GET /ready`.
//!
//! [`Telemetry`] keeps, in memory, per (method, route template) a request counter per status and
//! a latency histogram (recorded by [`track`], a middleware around every route), and the number
//! of metric points ingested through any route. Gauges read at scrape time: live-stream
//! subscribers, the store's figures (runs in progress, stored blobs and bytes, writes queued,
//! read connections in use), uptime, build info. Route templates (`/api/v1/runs/{run_id}`), not paths, label
//! the series, so their number stays bounded whatever clients send; requests no route matched
//! (the UI's pages and unknown paths) share the label `other`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cairn_store::StoreStats;

use crate::AppState;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Requests at or under each bound of [`BUCKETS`] (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms of a running server.
#[derive(Debug)]
pub struct Telemetry {
    started: Instant,
    points: AtomicU64,
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            started: Instant::now(),
            points: AtomicU64::new(0),
            routes: Mutex::new(BTreeMap::new()),
        }
    }
}

/// A label value as the exposition format quotes it.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Telemetry {
    /// Counts metric points stored by an ingest of any kind.
    pub fn add_points(&self, points: u64) {
        self.points.fetch_add(points, Ordering::Relaxed);
    }

    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let stats = routes
            .entry((method.to_string(), route.to_string()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            stats.buckets[i] += 1;
        }
        stats.count += 1;
        stats.sum += seconds;
    }

    /// The exposition text; `subscribers` is the live stream's current subscriber count, `store`
    /// the store's figures (left out when the store cannot answer).
    pub fn render(&self, subscribers: usize, store: Option<&StoreStats>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP cairn_build_info The running build.\n# TYPE cairn_build_info gauge\n\
             cairn_build_info{{version=\"{}\"}} 1",
            crate::VERSION
        );
        let _ = writeln!(
            out,
            "# HELP cairn_uptime_seconds Seconds since the server started.\n\
             # TYPE cairn_uptime_seconds gauge\ncairn_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );
        let _ = writeln!(
            out,
            "# HELP cairn_ingested_points_total Metric points stored (every ingest route).\n\
             # TYPE cairn_ingested_points_total counter\ncairn_ingested_points_total {}",
            self.points.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cairn_live_subscribers Open live-stream subscriptions.\n\
             # TYPE cairn_live_subscribers gauge\ncairn_live_subscribers {subscribers}"
        );
        if let Some(store) = store {
            for (name, help, value) in [
                (
                    "cairn_running_runs",
                    "Active runs whose status is RUNNING.",
                    store.running_runs,
                ),
                (
                    "cairn_stored_blobs",
                    "Artifact blobs stored (each distinct content once).",
                    store.blobs,
                ),
                (
                    "cairn_stored_bytes",
                    "Bytes of the stored artifact blobs.",
                    store.blob_bytes,
                ),
                (
                    "cairn_store_write_queue",
                    "Writes waiting for the store's writer.",
                    store.write_queue,
                ),
                (
                    "cairn_store_readers_busy",
                    "Read connections in use.",
                    store.readers_busy,
                ),
                (
                    "cairn_store_readers",
                    "Read connections in the pool.",
                    store.readers,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP cairn_http_requests_total HTTP requests answered, by route and status.\n\
             # TYPE cairn_http_requests_total counter\n",
        );
        for ((method, route), stats) in routes.iter() {
            for (status, count) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "cairn_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    label(method),
                    label(route)
                );
            }
        }
        out.push_str(
            "# HELP cairn_http_request_duration_seconds Time to answer (headers sent), by route.\n\
             # TYPE cairn_http_request_duration_seconds histogram\n",
        );
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{}\",route=\"{}\"", label(method), label(route));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "cairn_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "cairn_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
                 cairn_http_request_duration_seconds_sum{{{labels}}} {}\n\
                 cairn_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count, stats.sum, stats.count
            );
        }
        out
    }
}

/// Middleware: times every request and counts it under its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "other".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state.tracking.telemetry().record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.tracking.store_stats().await.ok();
    let text = state
        .tracking
        .telemetry()
        .render(state.tracking.live().subscribers(), store.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /ready`: 200 once the store answers a read, 503 while it does not.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.tracking.get_experiment("0").await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", error.message),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let telemetry = Telemetry::default();
        telemetry.record("GET", "/api/v1/runs/{run_id}", 200, 0.0007);
        telemetry.record("GET", "/api/v1/runs/{run_id}", 404, 0.3);
        telemetry.record("POST", "a\"b", 200, 99.0);
        telemetry.add_points(5);
        let store = StoreStats {
            running_runs: 3,
            ..StoreStats::default()
        };
        let text = telemetry.render(2, Some(&store));
        let route = "method=\"GET\",route=\"/api/v1/runs/{run_id}\"";
        assert!(text.contains(&format!(
            "cairn_http_requests_total{{{route},status=\"404\"}} 1"
        )));
        assert!(text.contains(&format!(
            "cairn_http_request_duration_seconds_bucket{{{route},le=\"0.0005\"}} 0"
        )));
        assert!(text.contains(&format!(
            "cairn_http_request_duration_seconds_bucket{{{route},le=\"0.001\"}} 1"
        )));
        assert!(text.contains(&format!(
            "cairn_http_request_duration_seconds_bucket{{{route},le=\"0.5\"}} 2"
        )));
        assert!(text.contains(&format!(
            "cairn_http_request_duration_seconds_count{{{route}}} 2"
        )));
        // Slower than the last bound: only in +Inf.
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{method=\"POST\",route=\"a\\\"b\",le=\"10\"} 0"
        ));
        assert!(text.contains(
            "cairn_http_request_duration_seconds_bucket{method=\"POST\",route=\"a\\\"b\",le=\"+Inf\"} 1"
        ));
        assert!(text.contains("cairn_ingested_points_total 5"));
        assert!(text.contains("cairn_live_subscribers 2"));
        assert!(text.contains("# TYPE cairn_running_runs gauge\ncairn_running_runs 3"));
        assert!(!telemetry.render(0, None).contains("cairn_running_runs"));
    }
}
