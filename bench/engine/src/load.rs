//! Sustained load: many training clients logging at their own pace while live viewers watch.
//!
//! The bar (issue "scale-out and operations"): 200 concurrent training clients plus 50 live
//! viewers for 5 minutes on loopback — p99 ingest latency ≤ 50 ms, 0 errors, memory stable —
//! embedded, and on PostgreSQL with 2 replicas.
//!
//! How: `--clients` (200) runs are created; each client is a task that sends one native ingest
//! request (`POST /api/v1/runs/{id}/metrics`, JSON, `--load-keys` keys × `--load-points` points,
//! steps continuing, every timestamp the wall-clock ms at which the body was built, an
//! Idempotency-Key as the SDK sends) every `--load-interval-ms` (1,000 ms), its schedule offset at
//! random within the first interval so the clients do not all fire at once; a request due while
//! the previous one is out waits for it (no pile-up). `--viewers` (50) WebSocket subscribers each
//! follow one client's run (`GET /api/v1/stream?runs=<id>`); the clients start once every viewer
//! has its `hello`, so each viewer should receive every point its run stores (the viewers' runs get
//! 50 / 200 of the points, a quarter of what is logged with the defaults). For every delivered
//! point the viewer records receive time − the point's timestamp (whole ms, so 0–1 ms high) in a
//! histogram. The run lasts `--duration` (300 s; 20 s with `--quick`); after the last answer the
//! viewers are given until they have every point of their runs (at most 60 s, or 5 s without a
//! new point), and how long that took is reported.
//!
//! Several servers (`--url` repeated: replicas of one PostgreSQL database, as `bench/replicas`
//! starts them): client `i` creates its run and writes through server `i mod N`, and the viewer of
//! run `i` is connected to server `(i + 1) mod N` — with two or more servers every delivered point
//! crossed from one replica to another through the database (`LISTEN/NOTIFY`), and the delivery
//! latency is that of the relay.
//!
//! Every request's latency (send → whole answer read) goes into a histogram; any transport error
//! or non-2xx answer counts as an error (429s are counted apart: the server asking for back-off).
//! Each server's RSS is sampled every second: reported as its mean over each fifth of the run, and
//! its peak, so growth (or a plateau) shows. CPU time is reported per server, for the generator,
//! and (`--db-pid`) for PostgreSQL: the postmaster with its backends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use reqwest::Client;
use tokio::sync::watch;
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
    /// PostgreSQL's postmaster, whose CPU time (with its backends') is reported.
    pub db_pid: Option<u32>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    points: AtomicU64,
    errors: AtomicU64,
    throttled: AtomicU64,
    /// Points stored in runs that a viewer follows.
    viewed: AtomicU64,
    delivered: AtomicU64,
    viewer_errors: AtomicU64,
    /// `resync` events received, by reason.
    resyncs: Mutex<BTreeMap<String, u64>>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Wall-clock milliseconds since the Unix epoch.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

fn body(keys: usize, points: usize, first_step: u64) -> String {
    let now = now_ms() as u64;
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

/// One training client: what it writes to, and through which server.
struct Writer {
    url: String,
    run_id: String,
    /// Whether a viewer follows the run.
    viewed: bool,
}

async fn client_task(
    client: Client,
    writer: Writer,
    options: Options,
    deadline: Instant,
    histogram: Arc<Histogram>,
    counters: Arc<Counters>,
) {
    let Writer {
        url,
        run_id,
        viewed,
    } = writer;
    let offset = Duration::from_millis(fastrand_ms(&run_id, options.interval));
    tokio::time::sleep(offset).await;
    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut step = 0u64;
    let endpoint = format!("{url}/api/v1/runs/{run_id}/metrics");
    let per_request = (options.keys * options.points) as u64;
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
                    counters.points.fetch_add(per_request, Ordering::Relaxed);
                    if viewed {
                        counters.viewed.fetch_add(per_request, Ordering::Relaxed);
                    }
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

/// What one text frame held: points (with their delivery latency recorded), the reasons of its
/// resyncs, a hello.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    points: u64,
    resyncs: Vec<String>,
    hello: bool,
}

/// Reads one text frame (`{"events": [...]}`) received at `received_ms`: counts the points of its
/// `points` events and records each one's receive time − timestamp in `latency`.
fn read_frame(text: &str, received_ms: f64, latency: &Histogram) -> Result<Seen> {
    let frame: serde_json::Value = serde_json::from_str(text)
        .with_context(|| format!("a stream frame that is not JSON: {text}"))?;
    let Some(events) = frame["events"].as_array() else {
        bail!("a stream frame without events: {text}");
    };
    let mut seen = Seen::default();
    for event in events {
        match event["type"].as_str() {
            Some("points") => {
                let stamps = event["timestamps"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice);
                for stamp in stamps {
                    latency.record(received_ms - stamp.as_f64().unwrap_or(0.0), 1);
                }
                seen.points += stamps.len() as u64;
            }
            Some("resync") => seen
                .resyncs
                .push(event["reason"].as_str().unwrap_or("no reason").to_string()),
            Some("hello") => seen.hello = true,
            _ => {}
        }
    }
    Ok(seen)
}

/// Connects a viewer to `url` following `run_id` and waits for its `hello` (30 s at most).
async fn connect_viewer(url: &str, run_id: &str, latency: &Histogram) -> Result<Socket> {
    let ws = format!(
        "{}/api/v1/stream?runs={run_id}",
        url.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str())
        .await
        .with_context(|| format!("connecting to {ws}"))?;
    let hello = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if read_frame(text.as_str(), now_ms(), latency)?.hello {
                        return Ok(());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => bail!("reading {ws}: {error}"),
                None => bail!("{ws} closed before its hello"),
            }
        }
    })
    .await;
    match hello {
        Ok(outcome) => outcome.map(|()| socket),
        Err(_) => bail!("no hello from {ws} within 30 s"),
    }
}

/// One viewer after its hello: counts the points delivered until `stop` changes.
async fn viewer_task(
    mut socket: Socket,
    mut stop: watch::Receiver<bool>,
    latency: Arc<Histogram>,
    counters: Arc<Counters>,
) {
    loop {
        let message = tokio::select! {
            biased;
            _ = stop.changed() => {
                let _ = socket.close(None).await;
                return;
            }
            message = socket.next() => message,
        };
        match message {
            Some(Ok(Message::Text(text))) => match read_frame(text.as_str(), now_ms(), &latency) {
                Ok(seen) => {
                    counters.delivered.fetch_add(seen.points, Ordering::Relaxed);
                    if !seen.resyncs.is_empty()
                        && let Ok(mut resyncs) = counters.resyncs.lock()
                    {
                        for reason in seen.resyncs {
                            *resyncs.entry(reason).or_default() += 1;
                        }
                    }
                }
                Err(_) => {
                    counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
                }
            },
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// How long the viewers may take after the last answer to receive every point of their runs.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// The viewers are given up on when no point arrived for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// How the viewers caught up after the last answer.
#[derive(Debug, Clone, Copy)]
struct Drained {
    /// When the last point arrived, after the last answer.
    last_point: Duration,
    /// Whether the viewers got every point stored in their runs.
    complete: bool,
}

/// Waits after the clients stopped until the viewers have every point stored in their runs;
/// gives up when none arrived for [`DRAIN_IDLE`] or after [`DRAIN_LIMIT`].
async fn drain(counters: &Counters) -> Drained {
    let started = Instant::now();
    let mut last = counters.delivered.load(Ordering::Relaxed);
    let mut last_point = Duration::ZERO;
    loop {
        let delivered = counters.delivered.load(Ordering::Relaxed);
        if delivered != last {
            last = delivered;
            last_point = started.elapsed();
        }
        if delivered >= counters.viewed.load(Ordering::Relaxed) {
            return Drained {
                last_point,
                complete: true,
            };
        }
        if started.elapsed() > (last_point + DRAIN_IDLE).min(DRAIN_LIMIT) {
            return Drained {
                last_point,
                complete: false,
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What is measured of one server over the run.
struct Watched {
    rss: Vec<u64>,
    cpu_before: Option<f64>,
}

pub async fn run(client: &Client, targets: &[Target], options: &Options) -> Result<()> {
    if targets.is_empty() {
        bail!("the load bench needs a server");
    }
    let replicas = targets.len() > 1;
    println!(
        "\n## load — {} clients ({} keys × {} points every {} ms each), {} live viewers, {:.0} s{}",
        options.clients,
        options.keys,
        options.points,
        options.interval.as_millis(),
        options.viewers,
        options.duration.as_secs_f64(),
        if replicas {
            format!(
                ", through {} servers (clients round-robin; each viewer on another server than \
                 its run's client)",
                targets.len()
            )
        } else {
            String::new()
        }
    );
    // Client `i` writes through server `i mod N`; the viewer of run `i` watches through the next.
    let through = |i: usize| &targets[i % targets.len()];
    let mut runs = Vec::with_capacity(options.clients);
    for i in 0..options.clients {
        let url = &through(i).url;
        let run_id = http::create_run(client, url)
            .await
            .with_context(|| format!("creating client {i}'s run through {url}"))?;
        runs.push(run_id);
    }
    let latency = Arc::new(Histogram::new());
    let counters = Arc::new(Counters::default());
    let viewers = futures::future::join_all(
        runs.iter()
            .take(options.viewers)
            .enumerate()
            .map(|(i, run_id)| connect_viewer(&through(i + 1).url, run_id, &latency)),
    )
    .await;
    let histogram = Arc::new(Histogram::new());
    let started = Instant::now();
    let deadline = started + options.duration;
    let (stop, stopped) = watch::channel(false);
    let mut viewer_tasks = Vec::new();
    for viewer in viewers {
        match viewer {
            Ok(socket) => viewer_tasks.push(tokio::spawn(viewer_task(
                socket,
                stopped.clone(),
                latency.clone(),
                counters.clone(),
            ))),
            Err(error) => {
                eprintln!("a viewer failed to subscribe: {error:#}");
                counters.viewer_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let mut tasks = Vec::new();
    for (i, run_id) in runs.iter().enumerate() {
        let writer = Writer {
            url: through(i).url.clone(),
            run_id: run_id.clone(),
            viewed: i < options.viewers,
        };
        tasks.push(tokio::spawn(client_task(
            client.clone(),
            writer,
            options.clone(),
            deadline,
            histogram.clone(),
            counters.clone(),
        )));
    }
    let mut watched: Vec<Watched> = targets
        .iter()
        .map(|target| Watched {
            rss: Vec::new(),
            cpu_before: server::server_cpu_seconds(target.pid),
        })
        .collect();
    let db_cpu_before = options.db_pid.and_then(server::tree_cpu_seconds);
    let own_cpu_before = server::own_cpu_seconds();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (target, watched) in targets.iter().zip(&mut watched) {
            if let Some(bytes) = target
                .pid
                .and_then(|pid| server::status_bytes(pid, "VmRSS"))
            {
                watched.rss.push(bytes);
            }
        }
    }
    for task in tasks {
        task.await
            .map_err(|e| anyhow!("a client task failed: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let drained = drain(&counters).await;
    let _ = stop.send(true);
    for task in viewer_tasks {
        task.await
            .map_err(|e| anyhow!("a viewer task failed: {e}"))?;
    }
    let cores = |before: Option<f64>, after: Option<f64>| match (before, after) {
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
    let delivered = counters.delivered.load(Ordering::Relaxed);
    let viewed = counters.viewed.load(Ordering::Relaxed);
    table.row(vec![
        format!(
            "points delivered to viewers{} / stored in their runs",
            if replicas { " (across replicas)" } else { "" }
        ),
        format!(
            "{} / {} ({:.2}%)",
            stats::thousands(delivered),
            stats::thousands(viewed),
            if viewed == 0 {
                0.0
            } else {
                delivered as f64 * 100.0 / viewed as f64
            }
        ),
        String::new(),
    ]);
    table.row(vec![
        "last point delivered, after the last answer".into(),
        format!(
            "{:.1} s{}",
            drained.last_point.as_secs_f64(),
            if drained.complete {
                " (every point delivered)"
            } else if drained.last_point + DRAIN_IDLE > DRAIN_LIMIT {
                " (still arriving when the bench stopped waiting)"
            } else {
                " (no point after it: the rest was dropped)"
            }
        ),
        String::new(),
    ]);
    let resyncs = counters
        .resyncs
        .lock()
        .map(|resyncs| resyncs.clone())
        .unwrap_or_default();
    let reasons: Vec<String> = resyncs
        .iter()
        .map(|(reason, count)| format!("{count} “{reason}”"))
        .collect();
    table.row(vec![
        "viewer errors / resyncs".into(),
        format!(
            "{} / {}{}",
            counters.viewer_errors.load(Ordering::Relaxed),
            resyncs.values().sum::<u64>(),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", reasons.join(", "))
            }
        ),
        String::new(),
    ]);
    table.row(vec![
        format!(
            "live delivery latency p50 / p99 / max (receive − point timestamp{})",
            if replicas { ", across replicas" } else { "" }
        ),
        format!(
            "{} / {} / {}",
            stats::histogram_ms(latency.percentile(50.0)),
            stats::histogram_ms(latency.percentile(99.0)),
            stats::ms(latency.max())
        ),
        String::new(),
    ]);
    for (index, (target, watched)) in targets.iter().zip(&watched).enumerate() {
        let name = if replicas {
            format!("server {} ({})", index + 1, target.url)
        } else {
            "server".to_string()
        };
        let rss = &watched.rss;
        let fifths: Vec<String> = (0..5)
            .map(|i| {
                let from = rss.len() * i / 5;
                let to = (rss.len() * (i + 1) / 5).max(from + 1).min(rss.len());
                stats::bytes(mean(rss.get(from..to).unwrap_or(&[])))
            })
            .collect();
        table.row(vec![
            format!("{name} RSS, mean of each fifth of the run"),
            fifths.join(" → "),
            "stable".into(),
        ]);
        table.row(vec![
            format!("{name} RSS peak"),
            stats::bytes(rss.iter().copied().max().unwrap_or(0)),
            String::new(),
        ]);
        table.row(vec![
            format!("{name} CPU"),
            cores(watched.cpu_before, server::server_cpu_seconds(target.pid)),
            String::new(),
        ]);
    }
    if let Some(pid) = options.db_pid {
        table.row(vec![
            "PostgreSQL CPU (postmaster and its processes)".into(),
            cores(db_cpu_before, server::tree_cpu_seconds(pid)),
            String::new(),
        ]);
    }
    table.row(vec![
        "generator CPU (clients and viewers)".into(),
        cores(Some(own_cpu_before), Some(server::own_cpu_seconds())),
        String::new(),
    ]);
    table.row(vec![
        "load average at the end (1, 5, 15 min)".into(),
        server::load_average(),
        String::new(),
    ]);
    table.print();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_count_points_and_their_delivery_latency() {
        let latency = Histogram::new();
        let hello = r#"{"events":[{"type":"hello","message":"subscribed"}]}"#;
        assert_eq!(
            read_frame(hello, 0.0, &latency).unwrap(),
            Seen {
                hello: true,
                ..Seen::default()
            }
        );
        let frame = r#"{"events":[
            {"type":"points","run_id":"r","experiment_id":"0","key":"a","steps":[0,1],"timestamps":[1000,1000],"values":[1,2]},
            {"type":"run","change":"updated","run_id":"r"},
            {"type":"points","run_id":"r","experiment_id":"0","key":"b","steps":[0],"timestamps":[1010],"values":[1]},
            {"type":"resync","reason":"x"}]}"#;
        let seen = read_frame(frame, 1020.0, &latency).unwrap();
        assert_eq!(
            seen,
            Seen {
                points: 3,
                resyncs: vec!["x".to_string()],
                hello: false
            }
        );
        assert_eq!(latency.count(), 3);
        assert_eq!(latency.max(), 20.0);
        assert!(read_frame("not json", 0.0, &latency).is_err());
        assert!(read_frame(r#"{"other":1}"#, 0.0, &latency).is_err());
    }
}
