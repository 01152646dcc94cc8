//! HTTP plumbing: one `reqwest` client per bench, and helpers that turn any non-2xx answer into
//! an error carrying the method, path, status and body (so a failing server stops the bench with
//! its own explanation instead of producing a bogus number).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use reqwest::{Client, Response, StatusCode};
use serde::Deserialize;

/// How much of an error body to show.
const ERROR_BODY_CHARS: usize = 2_000;

/// A client for loopback benchmarking: no proxies (a `HTTP_PROXY` in the environment must not
/// route 127.0.0.1), `TCP_NODELAY`, and enough pooled connections for `connections` in flight.
pub fn client(connections: usize) -> Result<Client> {
    Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections.max(1) + 2)
        .timeout(Duration::from_secs(600))
        .build()
        .context("building the HTTP client")
}

/// Fails with the answer's status and body unless it is a 2xx.
pub async fn check(response: Response, what: &str) -> Result<Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let shown: String = body.chars().take(ERROR_BODY_CHARS).collect();
    bail!("{what} answered {status}: {shown}");
}

/// `true` for the status the server uses to ask for back-off (429).
pub fn is_throttled(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
}

/// The `Retry-After` of a throttled answer (seconds), capped; 100 ms when absent.
pub fn retry_after(response: &Response) -> Duration {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|seconds| Duration::from_secs_f64(seconds.clamp(0.0, 10.0)))
        .unwrap_or(Duration::from_millis(100))
}

/// `GET url`, whole body.
pub async fn get(client: &Client, url: &str) -> Result<Bytes> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let response = check(response, &format!("GET {url}")).await?;
    response
        .bytes()
        .await
        .with_context(|| format!("reading the body of GET {url}"))
}

/// `POST url` with a JSON body, whole answer.
pub async fn post(client: &Client, url: &str, body: Bytes) -> Result<Bytes> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let response = check(response, &format!("POST {url}")).await?;
    response
        .bytes()
        .await
        .with_context(|| format!("reading the body of POST {url}"))
}

#[derive(Deserialize)]
struct CreateRun {
    run: CreatedRun,
}
#[derive(Deserialize)]
struct CreatedRun {
    info: CreatedInfo,
}
#[derive(Deserialize)]
struct CreatedInfo {
    run_id: String,
}

/// Creates a run in the default experiment through the MLflow API; returns its id.
pub async fn create_run(client: &Client, base: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let body = serde_json::json!({ "experiment_id": "0", "start_time": now });
    let answer = post(
        client,
        &format!("{base}/api/2.0/mlflow/runs/create"),
        Bytes::from(body.to_string()),
    )
    .await?;
    let created: CreateRun = serde_json::from_slice(&answer)
        .with_context(|| format!("runs/create answer: {}", String::from_utf8_lossy(&answer)))?;
    Ok(created.run.info.run_id)
}

/// Creates `count` runs.
pub async fn create_runs(client: &Client, base: &str, count: usize) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(create_run(client, base).await?);
    }
    Ok(ids)
}

#[derive(Deserialize)]
struct Accepted {
    accepted: u64,
}

/// Sends one ingest body to a run, retrying while the server throttles. Returns the number of
/// accepted points, the latency of the successful attempt and how many throttled answers came
/// first.
pub async fn ingest(
    client: &Client,
    url: &str,
    body: Bytes,
    idempotency_key: Option<&str>,
) -> Result<(u64, Duration, u32)> {
    let mut throttled = 0;
    loop {
        let mut request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let start = std::time::Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if is_throttled(response.status()) {
            throttled += 1;
            let wait = retry_after(&response);
            let _ = response.bytes().await;
            tokio::time::sleep(wait).await;
            continue;
        }
        let response = check(response, &format!("POST {url}")).await?;
        let answer = response.bytes().await?;
        let latency = start.elapsed();
        let accepted: Accepted = serde_json::from_slice(&answer)
            .with_context(|| format!("ingest answer: {}", String::from_utf8_lossy(&answer)))?;
        return Ok((accepted.accepted, latency, throttled));
    }
}
