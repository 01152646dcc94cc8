//! Sustained load: many training clients logging at their own pace while live viewers watch.
//!
//! The bar (issue "scale-out and operations"): 200 concurrent training clients plus 50 live
//! viewers for 5 minutes on loopback — p99 ingest latency ≤ 50 ms, 0 errors, memory stable.
//!
//! How: `--clients` (200) runs are created; each client is a task that sends one native ingest
//! request (`POST /api/v1/runs/{id}/metrics`, JSON, `--load-keys` keys × `--load-points` points,
//! steps continuing, an Idempotency-Key as the SDK sends) every `--load-interval-ms` (1,000 ms),
//! its schedule offset at random within the first interval so the clients do not all fire at
//! once; a request due while the previous one is out waits for it (no pile-up). `--viewers` (50)
//! WebSocket subscribers each follow one client's run (`GET /api/v1/stream?runs=<id>`) and count
//! the points delivered (the viewers' runs get 50 / 200 of the points, so a quarter of what is
//! logged is expected with the defaults). The run lasts `--duration` (300 s; 20 s with `--quick`).
//!
//! Every request's latency (send → whole answer read) goes into a histogram; any transport error
//! or non-2xx answer counts as an error (429s are counted apart: the server asking for back-off).
//! The server's RSS is sampled every second: reported as its mean over each fifth of the run, and
//! its peak, so growth (or a plateau) shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use reqwest::Client;
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::server::{self, Target};
use crate::stats::{self, Histogram, Table};

#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub clients: usize,
    pub viewers: usize,
    pub interval: Duration,
    pub keys: usize,
    pub points: usize,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    points: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
    delivered: AtomicU64,
    viewer_errors: AtomicU64,
}

fn body(keys: usize, points: usize, first_step: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let steps: Vec<u64> = (first_step..first_step + points as u64).collect();
    let series: Vec<serde_json::Value> = (0..keys)
        .map(|k| {
            let values: Vec<f64> = steps
                .iter()
                .map(|s| 1.0 / (*s as f64 + 1.0 + k as f64))
                .collect();
            serde_json::json!({
                "key": format!("train/metric_{k}"),
                "steps": steps,
                "timestamps": vec![now; steps.len()],
                "values": values,
            })
        })
        .collect();
    serde_json::json!({ "metrics": series }).to_string()
}

async fn client_task(
    client: Client,
    url: String,
    run_id: String,
    options: Options,
    deadline: Instant,
    histogram: Arc<Histogram>,
    counters: Arc<Counters>,
) {
    let offset = Duration::from_millis(fastrand_ms(&run_id, options.interval));
    tokio::time::sleep(offset).await;
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut step = 0u64;
    let endpoint = format!("{url}/api/v1/runs/{run_id}/metrics");
    while Instant::now() < deadline {
        ticker.tick().await;
        let payload = body(options.keys, options.points, step);
        let started = Instant::now();
        let outcome = client
            .post(&endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", format!("{run_id}:{step}"))
            .body(payload)
            .send()
            .await;
        counters.requests.fetch_add(1, Ordering::Relaxed);
        match outcome {
            Ok(response) if response.status().is_success() => {
                let read = response.bytes().await;
                histogram.record(started.elapsed().as_secs_f64() * 1e3, 1);
                if read.is_ok() {
                    counters
                        .points
                        .fetch_add((options.keys * options.points) as u64, Ordering::Relaxed);
                    step += options.points as u64;
                } else {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(response) if http::is_throttled(response.status()) => {
                counters.throttled.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) | Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A deterministic offset in `0..interval` from the run id (no RNG dependency).
fn fastrand_ms(seed: &str, interval: Duration) -> u64 {
    let hash = blake3::hash(seed.as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(word) % (interval.as_millis() as u64).max(1)
}

async fn viewer_task(url: String, run_id: String, deadline: Instant, counters: Arc<Counters>) {
    let ws = format!(
        "{}/api/v1/stream?runs={run_id}",
        url.replacen("http://", "ws://", 1)
    );
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(ws.as_str()).await else {
        counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = socket.close(None).await;
            return;
        }
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(Message::Text(text)))) => {
                let Ok(frame) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                    counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                // A frame is `{"events": [...]}`; a `points` event carries its steps.
                let points: u64 = frame["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|event| event["type"] == "points")
                    .filter_map(|event| event["steps"].as_array())
                    .map(|steps| steps.len() as u64)
                    .sum();
                counters.delivered.fetch_add(points, Ordering::Relaxed);
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_))) | Ok(None) => {
                counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

pub async fn run(client: &Client, target: &Target, options: &Options) -> Result<()> {
    println!(
        "\n## load — {} clients ({} keys × {} points every {} ms each), {} live viewers, {:.0} s",
        options.clients,
        options.keys,
        options.points,
        options.interval.as_millis(),
        options.viewers,
        options.duration.as_secs_f64()
    );
    let runs = http::create_runs(client, &target.url, options.clients)
        .await
        .context("creating the clients' runs")?;
    let histogram = Arc::new(Histogram::new());
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + options.duration;
    let mut tasks = Vec::new();
    for run_id in runs.iter().take(options.viewers) {
        tasks.push(tokio::spawn(viewer_task(
            target.url.clone(),
            run_id.clone(),
            deadline + Duration::from_secs(2),
            counters.clone(),
        )));
    }
    for run_id in &runs {
        tasks.push(tokio::spawn(client_task(
            client.clone(),
            target.url.clone(),
            run_id.clone(),
            options.clone(),
            deadline,
            histogram.clone(),
            counters.clone(),
        )));
    }
    let mut rss: Vec<u64> = Vec::new();
    let cpu_before = server::server_cpu_seconds(target.pid);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(bytes) = target
            .pid
            .and_then(|pid| server::status_bytes(pid, "VmRSS"))
        {
            rss.push(bytes);
        }
    }
    for task in tasks {
        task.await.map_err(|e| anyhow!("a load task failed: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, server::server_cpu_seconds(target.pid)) {
        (Some(a), Some(b)) => format!("{:.1} s ({:.2} cores)", b - a, (b - a) / seconds),
        _ => "n/a".to_string(),
    };
    let mean = |s: &[u64]| {
        if s.is_empty() {
            0
        } else {
            s.iter().sum::<u64>() / s.len() as u64
        }
    };
    let points = counters.points.load(Ordering::Relaxed);
    let mut table = Table::new(&["measure", "value", "bar"]);
    table.row(vec![
        "ingest requests answered".into(),
        stats::thousands(histogram.count()),
        String::new(),
    ]);
    table.row(vec![
        "points stored (points/s)".into(),
        format!(
            "{} ({})",
            stats::thousands(points),
            stats::thousands((points as f64 / seconds) as u64)
        ),
        String::new(),
    ]);
    for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
        let bar = if label == "p99" { "≤ 50 ms" } else { "" };
        table.row(vec![
            format!("ingest latency {label}"),
            stats::histogram_ms(histogram.percentile(p)),
            bar.into(),
        ]);
    }
    table.row(vec![
        "ingest latency max".into(),
        stats::ms(histogram.max()),
        String::new(),
    ]);
    table.row(vec![
        "errors (transport or non-2xx) / 429s".into(),
        format!(
            "{} / {}",
            counters.errors.load(Ordering::Relaxed),
            counters.throttled.load(Ordering::Relaxed)
        ),
        "0".into(),
    ]);
    table.row(vec![
        "points delivered to viewers / viewer errors".into(),
        format!(
            "{} / {}",
            stats::thousands(counters.delivered.load(Ordering::Relaxed)),
            counters.viewer_errors.load(Ordering::Relaxed)
        ),
        String::new(),
    ]);
    let fifths: Vec<String> = (0..5)
        .map(|i| {
            let from = rss.len() * i / 5;
            let to = (rss.len() * (i + 1) / 5).max(from + 1).min(rss.len());
            stats::bytes(mean(rss.get(from..to).unwrap_or(&[])))
        })
        .collect();
    table.row(vec![
        "server RSS, mean of each fifth of the run".into(),
        fifths.join(" → "),
        "stable".into(),
    ]);
    table.row(vec![
        "server RSS peak".into(),
        stats::bytes(rss.iter().copied().max().unwrap_or(0)),
        String::new(),
    ]);
    table.row(vec!["server CPU".into(), cpu, String::new()]);
    table.print();
    Ok(())
}
