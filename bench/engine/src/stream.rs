//! Live-stream fan-out: WebSocket subscribers watching a run while it logs.
//!
//! The bar: 500 WebSocket subscribers watching a run that logs 10,000 points/s — p99 delivery
//! ≤200 ms, and an ingest rate within 10% of the rate without subscribers.
//!
//! How (`--quick` in brackets): one run on a fresh server, written through
//! `POST /api/v1/runs/{id}/metrics` in requests of 100 points (`--stream-batch`) of one key, whose
//! `timestamps` all hold the wall-clock time (ms) at which the request was sent. Two loggers:
//! - *paced*: one request at a time on a fixed schedule — every 10 ms for 10,000 points/s
//!   (`--stream-rate`) — to the key `paced`; a request that is due while the previous one is still
//!   out starts as soon as it is answered (the schedule catches up). It shows whether the rate is
//!   sustained and what a live viewer sees at that rate;
//! - *saturating*: `--concurrency` (4) workers sending back to back, worker `w` to the key `max_w`
//!   (so each key gets its steps in order). It measures the most the server ingests, which is
//!   what "within 10% without subscribers" can be judged on.
//!
//! Each logger runs for the duration (10 s [3 s]) first with no subscriber (the baseline), then
//! again while 500 [100] subscribers (`--subscribers`) follow the run
//! (`GET /api/v1/stream?runs=<id>`, tokio-tungstenite). The subscribers run on a tokio runtime of
//! their own (`--stream-threads`, 2 worker threads — one cannot keep up with 500 subscribers at
//! 10,000 points/s on a 2-core machine — named `bench-sub`, so their CPU time can be told apart),
//! one task per socket; the timed phases start once every one of them has its `hello`.
//! Each subscriber parses every frame (serde_json) and, for every point, counts receive time −
//! the point's timestamp in a latency histogram shared by all subscribers (0.1 ms buckets up to
//! 10 s, one per logger; memory stays fixed however many points arrive). Timestamps are whole
//! milliseconds, so latencies read 0–1 ms high. `resync` events (the server dropped events for
//! that subscriber) are counted. After a logger stops, the bench waits until every subscriber has
//! every point it logged (or until no subscriber got anything new for 3 s), then for the server to
//! go idle.
//!
//! Reported per phase: points acknowledged, points/s, request latency, 429s, CPU time of server,
//! generator and the generator's subscriber threads over the logging window (CPU seconds / wall
//! seconds = cores) and the server's peak RSS (VmRSS sampled every 50 ms); per logger with
//! subscribers: points delivered (sum, and the least and most any one subscriber got, as a share
//! of the points logged), resyncs, frames and bytes received, delivery latency percentiles, and
//! how long after the last answer every subscriber had every point. Where the latency comes from:
//! every 200 ms the bench sums, from `/proc/net/tcp`, the bytes waiting in the subscribers'
//! receive queues (sent by the server, not yet read by the generator: the generator's share of
//! the latency) and in the server's send queues (not yet accepted by a full receiver), and turns
//! their means into milliseconds with the delivery rate (Little's law). TCP counters of the host
//! (`/proc/net/netstat`: memory pressure, pruned receive queues, drops, retransmission timeouts)
//! that grew during a phase are listed. Subscribers still short of points when the wait ended are
//! listed (up to 5) with how much they had by the end of the bench; one that never got every
//! point and was never sent a resync is flagged WRONG.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use futures::StreamExt;
use reqwest::Client;
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::data::{self, Curve, Precision};
use crate::server::{self, Target};
use crate::stats::{self, Histogram, Samples, Table};

/// Key of the paced logger.
const PACED_KEY: &str = "paced";
/// Prefix of the saturating logger's keys (`max_0`, `max_1`, …).
const MAX_PREFIX: &str = "max_";
/// Name of the subscriber runtime's threads (at most 15 characters: `/proc/*/comm`).
const SUBSCRIBER_THREAD: &str = "bench-sub";
/// Subscribers connecting (upgrade + hello) at once.
const CONNECTS_AT_ONCE: usize = 32;
/// How long every subscriber may take to connect and get its hello.
const CONNECT_LIMIT: Duration = Duration::from_secs(120);
/// Stop waiting for delivery when no subscriber got a point for this long…
const QUIET: Duration = Duration::from_secs(3);
/// …or after this long in all.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// Ingest may slow down by at most this share with subscribers.
const INGEST_BAR: f64 = 0.10;
/// p99 delivery latency bar (ms).
const LATENCY_BAR_MS: f64 = 200.0;
/// Subscribers the bar is stated for.
const BAR_SUBSCRIBERS: usize = 500;
/// TCP counters of `/proc/net/netstat` reported after each phase (host-wide: they show socket
/// buffers under memory pressure, the kernel dropping data and retransmission timeouts).
const TCP_COUNTERS: [&str; 5] = [
    "TCPMemoryPressures",
    "RcvPruned",
    "TCPRcvQDrop",
    "TCPTimeouts",
    "TCPZeroWindowDrop",
];

/// Stream bench settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of each logging phase.
    pub duration: Duration,
    pub subscribers: usize,
    /// Points/s of the paced logger.
    pub rate: f64,
    /// Points per request (one key).
    pub batch: usize,
    /// Requests in flight of the saturating logger.
    pub concurrency: usize,
    /// Worker threads of the subscribers' runtime.
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Logger {
    Paced,
    Saturating,
}

impl Logger {
    fn index(self) -> usize {
        match self {
            Logger::Paced => 0,
            Logger::Saturating => 1,
        }
    }
    fn label(self, options: &Options) -> String {
        match self {
            Logger::Paced => format!("paced {}/s", stats::thousands(options.rate.round() as u64)),
            Logger::Saturating => format!("saturating, {} in flight", options.concurrency),
        }
    }
}

/// What one logging phase did.
#[derive(Debug, Default)]
struct Logged {
    points: u64,
    requests: u64,
    seconds: f64,
    latencies: Vec<Duration>,
    throttled: u64,
    /// Paced logger: the furthest a request started behind its schedule.
    behind: Duration,
}

/// One phase: a logger with or without subscribers.
#[derive(Debug)]
struct Phase {
    logger: Logger,
    subscribers: usize,
    points: u64,
    requests: u64,
    seconds: f64,
    latencies: Samples,
    throttled: u64,
    behind: Duration,
    server_cpu: Option<f64>,
    generator_cpu: f64,
    subscriber_cpu: f64,
    server_rss: Option<u64>,
    /// Subscriber sockets' queues, every 200 ms over the window and the wait for delivery.
    queued: Vec<Queued>,
    /// Growth of [`TCP_COUNTERS`] over the phase.
    tcp: Vec<u64>,
    delivery: Option<Delivery>,
}

impl Phase {
    fn points_per_second(&self) -> f64 {
        self.points as f64 / self.seconds
    }
}

/// What the subscribers got of one phase's points.
#[derive(Debug)]
struct Delivery {
    /// Points of this logger each subscriber received.
    received: Vec<u64>,
    resyncs: u64,
    /// Subscribers that got at least one resync in this phase.
    resynced: usize,
    frames: u64,
    bytes: u64,
    /// From the last answer until every subscriber had every point (or the wait gave up).
    drain: Duration,
    complete: bool,
    /// Seconds since each subscriber's last frame when the wait ended.
    silence: Vec<f64>,
    /// Delivery latency percentiles (ms): p50, p90, p99, max; and how many (subscriber, point)
    /// pairs they cover.
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    samples: u64,
}

/// Runs the stream bench against `target` and prints its tables.
pub async fn run(client: &Client, target: &Target, options: &Options) -> Result<()> {
    ensure!(
        options.rate > 0.0 && options.batch > 0 && options.concurrency > 0 && options.threads > 0,
        "--stream-rate, --stream-batch, --concurrency and --stream-threads must be positive"
    );
    println!(
        "\n## stream — {} WebSocket subscribers on one run; {}-point requests, {:.0} s per phase\n",
        options.subscribers,
        options.batch,
        options.duration.as_secs_f64()
    );
    let run_id = crate::http::create_run(client, &target.url).await?;
    let mut writer = Writer {
        client: client.clone(),
        url: format!("{}/api/v1/runs/{run_id}/metrics", target.url),
        curve: Curve::new(42, Precision::F32),
        batch: options.batch,
        paced_step: 0,
        max_steps: vec![0; options.concurrency],
    };

    let mut phases = Vec::new();
    for logger in [Logger::Paced, Logger::Saturating] {
        eprintln!("stream: {}, no subscribers …", logger.label(options));
        phases.push(phase(&mut writer, target, options, logger, None).await?);
    }

    eprintln!("stream: connecting {} subscribers …", options.subscribers);
    let stream_url = format!(
        "{}/api/v1/stream?runs={run_id}",
        target.url.replacen("http://", "ws://", 1)
    );
    let connecting = Instant::now();
    let mut subscribers = Subscribers::start(&stream_url, &run_id, options)?;
    subscribers.wait_ready().await?;
    let connected = connecting.elapsed();

    for logger in [Logger::Paced, Logger::Saturating] {
        eprintln!(
            "stream: {}, {} subscribers …",
            logger.label(options),
            options.subscribers
        );
        let measured = phase(&mut writer, target, options, logger, Some(&subscribers)).await?;
        subscribers.check_alive().await?;
        phases.push(measured);
    }
    let last = subscribers.stop().await?;

    print_tables(&phases, options, &last);
    println!(
        "- subscribers: a tokio runtime of {} worker thread{} (`{SUBSCRIBER_THREAD}`), one task per socket; all {} connected and had their hello after {:.1} s",
        options.threads,
        if options.threads == 1 { "" } else { "s" },
        options.subscribers,
        connected.as_secs_f64()
    );
    let unexpected = &last.totals;
    if unexpected.other > 0 {
        println!(
            "- {} events that are neither points nor hello/resync (run changes?) were received",
            stats::thousands(unexpected.other)
        );
    }
    if unexpected.foreign > 0 {
        println!(
            "- WRONG: {} point events of another run or key reached subscribers of run {run_id}",
            stats::thousands(unexpected.foreign)
        );
    }
    Ok(())
}

/// The run's writer: where the next steps of each key start.
struct Writer {
    client: Client,
    url: String,
    curve: Curve,
    batch: usize,
    paced_step: i64,
    max_steps: Vec<i64>,
}

/// Milliseconds since the Unix epoch, with sub-millisecond precision.
fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Sends steps `first..first+batch` of `key`, every timestamp the send time. Returns the latency
/// and how many 429s came first.
async fn send(
    client: &Client,
    url: &str,
    key: &str,
    curve: Curve,
    first: i64,
    batch: usize,
) -> Result<(Duration, u32)> {
    let stamp = now_ms() as i64;
    let body = data::ingest_body_stamped(
        &[(key.to_string(), curve)],
        first,
        batch,
        &vec![stamp; batch],
    );
    let (accepted, latency, throttled) = crate::http::ingest(client, url, body, None).await?;
    ensure!(
        accepted == batch as u64,
        "POST {url} accepted {accepted} points of {batch}"
    );
    Ok((latency, throttled))
}

impl Writer {
    async fn paced(&mut self, rate: f64, duration: Duration) -> Result<Logged> {
        let period = Duration::from_secs_f64(self.batch as f64 / rate);
        let mut logged = Logged::default();
        let start = Instant::now();
        let deadline = start + duration;
        for i in 0u64.. {
            let due = start + period.mul_f64(i as f64);
            if due >= deadline {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            logged.behind = logged
                .behind
                .max(Instant::now().saturating_duration_since(due));
            let (latency, throttled) = send(
                &self.client,
                &self.url,
                PACED_KEY,
                self.curve,
                self.paced_step,
                self.batch,
            )
            .await?;
            self.paced_step += self.batch as i64;
            logged.points += self.batch as u64;
            logged.requests += 1;
            logged.throttled += u64::from(throttled);
            logged.latencies.push(latency);
        }
        logged.seconds = start.elapsed().as_secs_f64();
        Ok(logged)
    }

    async fn saturating(&mut self, duration: Duration) -> Result<Logged> {
        let start = Instant::now();
        let deadline = start + duration;
        let mut workers = tokio::task::JoinSet::new();
        for (worker, &first) in self.max_steps.iter().enumerate() {
            let client = self.client.clone();
            let url = self.url.clone();
            let curve = self.curve;
            let batch = self.batch;
            workers.spawn(async move {
                let key = format!("{MAX_PREFIX}{worker}");
                let mut step = first;
                let mut logged = Logged::default();
                while Instant::now() < deadline {
                    let (latency, throttled) =
                        send(&client, &url, &key, curve, step, batch).await?;
                    step += batch as i64;
                    logged.points += batch as u64;
                    logged.requests += 1;
                    logged.throttled += u64::from(throttled);
                    logged.latencies.push(latency);
                }
                Ok::<_, anyhow::Error>((worker, step, logged))
            });
        }
        let mut all = Logged::default();
        while let Some(joined) = workers.join_next().await {
            let (worker, step, logged) = joined.context("a logger worker panicked")??;
            self.max_steps[worker] = step;
            all.points += logged.points;
            all.requests += logged.requests;
            all.throttled += logged.throttled;
            all.latencies.extend(logged.latencies);
        }
        all.seconds = start.elapsed().as_secs_f64();
        Ok(all)
    }
}

/// Bytes queued in the kernel between the server and the subscribers, summed over every
/// subscriber socket: what the subscribers have not read yet (their receive queues) and what the
/// server could not hand over yet (its send queues, which fill once a receiver's window is full).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Queued {
    unread: u64,
    unsent: u64,
}

/// [`Queued`] from `/proc/net/tcp`: sockets from one of `subscribers` (local ports) to the
/// server's port, and back.
fn queued(table: &str, server_port: u16, subscribers: &HashSet<u16>) -> Queued {
    let mut queued = Queued::default();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: Option<&&str>| {
            field
                .and_then(|address| address.rsplit_once(':'))
                .and_then(|(_, port)| u16::from_str_radix(port, 16).ok())
        };
        let (Some(local), Some(remote), Some((tx, rx))) = (
            port(fields.get(1)),
            port(fields.get(2)),
            fields.get(4).and_then(|queues| queues.split_once(':')),
        ) else {
            continue;
        };
        let bytes = |hex: &str| u64::from_str_radix(hex, 16).unwrap_or(0);
        if remote == server_port && subscribers.contains(&local) {
            queued.unread += bytes(rx);
        } else if local == server_port && subscribers.contains(&remote) {
            queued.unsent += bytes(tx);
        }
    }
    queued
}

/// [`TCP_COUNTERS`] now (zeros where unreadable).
fn tcp_counters() -> Vec<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    tcp_counters_in(&netstat)
}

fn tcp_counters_in(netstat: &str) -> Vec<u64> {
    let mut rows = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return vec![0; TCP_COUNTERS.len()];
    };
    let pairs: Vec<(&str, u64)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .map(|(name, value)| (name, value.parse().unwrap_or(0)))
        .collect();
    TCP_COUNTERS
        .iter()
        .map(|wanted| {
            pairs
                .iter()
                .find(|(name, _)| name == wanted)
                .map_or(0, |(_, value)| *value)
        })
        .collect()
}

/// What [`Sampler`] saw.
#[derive(Debug, Default)]
struct Sampled {
    server_rss: Option<u64>,
    queued: Vec<Queued>,
}

/// Samples the server's VmRSS every 50 ms and, with subscribers, their sockets' queues every
/// 200 ms, until [`Sampler::finish`] (or drop).
struct Sampler {
    stop: Arc<AtomicBool>,
    task: Option<JoinHandle<Sampled>>,
}

impl Sampler {
    fn start(pid: Option<u32>, sockets: Option<(u16, HashSet<u16>)>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut sampled = Sampled::default();
            for tick in 0u64.. {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(rss) = pid.and_then(|pid| server::status_bytes(pid, "VmRSS")) {
                    sampled.server_rss = sampled.server_rss.max(Some(rss));
                }
                if let Some((server_port, subscribers)) = &sockets
                    && tick % 4 == 0
                    && let Ok(table) = std::fs::read_to_string("/proc/net/tcp")
                {
                    sampled
                        .queued
                        .push(queued(&table, *server_port, subscribers));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sampled
        });
        Sampler {
            stop,
            task: Some(task),
        }
    }

    async fn finish(mut self) -> Sampled {
        self.stop.store(true, Ordering::Relaxed);
        match self.task.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => Sampled::default(),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs one logger for the duration (with `subscribers` connected, if any), waits for delivery
/// and for the server to go idle.
async fn phase(
    writer: &mut Writer,
    target: &Target,
    options: &Options,
    logger: Logger,
    subscribers: Option<&Subscribers>,
) -> Result<Phase> {
    let before = subscribers.map(|s| s.shared.totals());
    let sockets = subscribers.and_then(|s| {
        let server_port = target.url.rsplit_once(':')?.1.parse::<u16>().ok()?;
        Some((server_port, s.shared.ports()))
    });
    let sampler = Sampler::start(target.pid, sockets);
    let tcp_before = tcp_counters();
    let generator_before = server::own_cpu_seconds();
    let subscriber_before = server::threads_cpu_seconds(SUBSCRIBER_THREAD);
    let server_before = server::server_cpu_seconds(target.pid);
    let logged = match logger {
        Logger::Paced => writer.paced(options.rate, options.duration).await?,
        Logger::Saturating => writer.saturating(options.duration).await?,
    };
    let generator_cpu = server::own_cpu_seconds() - generator_before;
    let subscriber_cpu = server::threads_cpu_seconds(SUBSCRIBER_THREAD) - subscriber_before;
    let server_cpu = match (server_before, server::server_cpu_seconds(target.pid)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let delivery = match (subscribers, before) {
        (Some(subscribers), Some(before)) => {
            Some(subscribers.delivery(logger, logged.points, before).await)
        }
        _ => None,
    };
    let sampled = sampler.finish().await;
    let tcp = tcp_counters()
        .iter()
        .zip(tcp_before)
        .map(|(after, before)| after.saturating_sub(before))
        .collect();
    server::settle(target.pid, Duration::from_secs(1)).await;
    Ok(Phase {
        logger,
        subscribers: subscribers.map_or(0, |s| s.count),
        points: logged.points,
        requests: logged.requests,
        seconds: logged.seconds,
        latencies: Samples::from_durations(logged.latencies),
        throttled: logged.throttled,
        behind: logged.behind,
        server_cpu,
        generator_cpu,
        subscriber_cpu,
        server_rss: sampled.server_rss,
        queued: sampled.queued,
        tcp,
        delivery,
    })
}

/// Counters of one subscriber.
#[derive(Debug, Default)]
struct Counters {
    /// Points received, per logger.
    points: [AtomicU64; 2],
    resyncs: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    /// Events other than points, hello and resync.
    other: AtomicU64,
    /// Point events of another run or an unknown key.
    foreign: AtomicU64,
    /// When the last frame came (ms since the Unix epoch).
    last_ms: AtomicU64,
    /// Local port of the socket (0 until connected).
    port: AtomicU64,
}

/// Sums over every subscriber, and per subscriber resyncs (to tell who resynced in a phase).
#[derive(Debug, Clone, Default)]
struct Totals {
    resyncs: Vec<u64>,
    frames: u64,
    bytes: u64,
    other: u64,
    foreign: u64,
}

/// What every subscriber task shares.
#[derive(Debug)]
struct Shared {
    run_id: String,
    counters: Vec<Counters>,
    /// Delivery latency, per logger.
    latency: [Histogram; 2],
    ready: AtomicUsize,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    events: Vec<StreamEvent<'a>>,
}

/// The fields of a stream event the bench reads (steps and values are skipped unparsed).
#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    run_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    timestamps: Vec<i64>,
}

impl Shared {
    fn new(run_id: &str, subscribers: usize) -> Shared {
        Shared {
            run_id: run_id.to_string(),
            counters: (0..subscribers).map(|_| Counters::default()).collect(),
            latency: [Histogram::new(), Histogram::new()],
            ready: AtomicUsize::new(0),
        }
    }

    /// Counts one text frame that subscriber `index` received at `received_ms`. Returns whether
    /// it held a hello.
    fn record(&self, index: usize, text: &str, received_ms: f64) -> Result<bool> {
        let frame: Frame = serde_json::from_str(text).with_context(|| {
            format!(
                "subscriber {index}: a frame that is not {{\"events\":[...]}}: {}",
                text.chars().take(300).collect::<String>()
            )
        })?;
        let counters = &self.counters[index];
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(text.len() as u64, Ordering::Relaxed);
        counters
            .last_ms
            .store(received_ms as u64, Ordering::Relaxed);
        let mut hello = false;
        for event in &frame.events {
            match event.kind.as_ref() {
                "points" => {
                    let logger = match event.key.as_deref() {
                        Some(PACED_KEY) => Some(Logger::Paced),
                        Some(key) if key.starts_with(MAX_PREFIX) => Some(Logger::Saturating),
                        _ => None,
                    };
                    let (Some(logger), true) = (
                        logger,
                        event.run_id.as_deref() == Some(self.run_id.as_str()),
                    ) else {
                        counters.foreign.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let stamps = &event.timestamps;
                    counters.points[logger.index()]
                        .fetch_add(stamps.len() as u64, Ordering::Relaxed);
                    // The points of one request share their timestamp: one record per run.
                    let histogram = &self.latency[logger.index()];
                    let mut at = 0;
                    while at < stamps.len() {
                        let stamp = stamps[at];
                        let same = stamps[at..].iter().take_while(|s| **s == stamp).count();
                        histogram.record(received_ms - stamp as f64, same as u64);
                        at += same;
                    }
                }
                "resync" => {
                    counters.resyncs.fetch_add(1, Ordering::Relaxed);
                }
                "hello" => hello = true,
                _ => {
                    counters.other.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(hello)
    }

    fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for c in &self.counters {
            totals.resyncs.push(c.resyncs.load(Ordering::Relaxed));
            totals.frames += c.frames.load(Ordering::Relaxed);
            totals.bytes += c.bytes.load(Ordering::Relaxed);
            totals.other += c.other.load(Ordering::Relaxed);
            totals.foreign += c.foreign.load(Ordering::Relaxed);
        }
        totals
    }

    /// Local ports of the subscribers' sockets.
    fn ports(&self) -> HashSet<u16> {
        self.counters
            .iter()
            .filter_map(|c| u16::try_from(c.port.load(Ordering::Relaxed)).ok())
            .filter(|port| *port != 0)
            .collect()
    }

    /// Seconds since each subscriber's last frame.
    fn silence(&self) -> Vec<f64> {
        let now = now_ms();
        self.counters
            .iter()
            .map(|c| (now - c.last_ms.load(Ordering::Relaxed) as f64).max(0.0) / 1e3)
            .collect()
    }

    fn received(&self, logger: Logger) -> Vec<u64> {
        self.counters
            .iter()
            .map(|c| c.points[logger.index()].load(Ordering::Relaxed))
            .collect()
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The subscriber tasks, on a runtime of their own.
struct Subscribers {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<Result<()>>>,
    stop: watch::Sender<bool>,
    count: usize,
}

impl Subscribers {
    /// Starts one task per subscriber: each connects (at most [`CONNECTS_AT_ONCE`] at a time),
    /// waits for its hello and then reads until stopped.
    fn start(url: &str, run_id: &str, options: &Options) -> Result<Subscribers> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .thread_name(SUBSCRIBER_THREAD)
            .enable_all()
            .build()
            .context("building the subscribers' tokio runtime")?;
        let shared = Arc::new(Shared::new(run_id, options.subscribers));
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
        let tasks = (0..options.subscribers)
            .map(|index| {
                runtime.spawn(subscriber(
                    url.to_string(),
                    index,
                    Arc::clone(&shared),
                    Arc::clone(&gate),
                    stopped.clone(),
                ))
            })
            .collect();
        Ok(Subscribers {
            runtime: Some(runtime),
            shared,
            tasks,
            stop,
            count: options.subscribers,
        })
    }

    /// Waits until every subscriber has its hello; fails with the first subscriber's error.
    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            self.check_alive().await?;
            let ready = self.shared.ready.load(Ordering::Relaxed);
            if ready == self.count {
                return Ok(());
            }
            if started.elapsed() > CONNECT_LIMIT {
                bail!(
                    "only {ready} of {} subscribers had their hello after {} s",
                    self.count,
                    CONNECT_LIMIT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fails if a subscriber task has ended (its error, or the socket closing, says why).
    async fn check_alive(&mut self) -> Result<()> {
        if let Some(position) = self.tasks.iter().position(JoinHandle::is_finished) {
            let task = self.tasks.swap_remove(position);
            return match task.await {
                Ok(Ok(())) => Err(anyhow!("a subscriber stopped reading before the end")),
                Ok(Err(error)) => Err(error),
                Err(error) => Err(anyhow!("a subscriber task panicked: {error}")),
            };
        }
        Ok(())
    }

    /// Waits until every subscriber has `logged` points of `logger` (or no progress for
    /// [`QUIET`]), then sums up the phase.
    async fn delivery(&self, logger: Logger, logged: u64, before: Totals) -> Delivery {
        let started = Instant::now();
        let mut last_progress = started;
        let mut last_sum = 0;
        let complete = loop {
            let received = self.shared.received(logger);
            if received.iter().all(|r| *r >= logged) {
                break true;
            }
            let sum: u64 = received.iter().sum();
            if sum != last_sum {
                last_sum = sum;
                last_progress = Instant::now();
            }
            if last_progress.elapsed() > QUIET || started.elapsed() > DRAIN_LIMIT {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let drain = if complete {
            started.elapsed()
        } else {
            last_progress.duration_since(started)
        };
        let after = self.shared.totals();
        let histogram = &self.shared.latency[logger.index()];
        Delivery {
            received: self.shared.received(logger),
            resyncs: after.resyncs.iter().sum::<u64>() - before.resyncs.iter().sum::<u64>(),
            resynced: after
                .resyncs
                .iter()
                .zip(&before.resyncs)
                .filter(|(a, b)| a > b)
                .count(),
            frames: after.frames - before.frames,
            bytes: after.bytes - before.bytes,
            drain,
            complete,
            silence: self.shared.silence(),
            p50: histogram.percentile(50.0),
            p90: histogram.percentile(90.0),
            p99: histogram.percentile(99.0),
            max: histogram.max(),
            samples: histogram.count(),
        }
    }

    /// Tells every subscriber to close its socket, waits for them and shuts their runtime down.
    /// Returns the final counts.
    async fn stop(mut self) -> Result<Final> {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut self.tasks);
        let joined = tokio::time::timeout(Duration::from_secs(30), async {
            for task in tasks {
                task.await.context("a subscriber task panicked")??;
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
        match joined {
            Ok(outcome) => outcome?,
            Err(_) => bail!("the subscribers did not close their sockets within 30 s"),
        }
        Ok(Final {
            totals: self.shared.totals(),
            received: [
                self.shared.received(Logger::Paced),
                self.shared.received(Logger::Saturating),
            ],
        })
    }
}

/// The subscribers' counts when they were stopped (after every phase and its wait).
#[derive(Debug)]
struct Final {
    totals: Totals,
    /// Points received per logger, per subscriber.
    received: [Vec<u64>; 2],
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's task is not allowed; this is.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Explains a failed connection: for a refused upgrade the status and body of the answer.
fn connect_error(error: tungstenite::Error, url: &str) -> anyhow::Error {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            anyhow!(
                "GET {url} answered {} instead of 101 Switching Protocols: {}",
                response.status(),
                body.chars().take(2_000).collect::<String>()
            )
        }
        other => anyhow!("connecting to {url}: {other}"),
    }
}

/// The next message of a socket, as an error when it ends or fails.
async fn next_message(socket: &mut Socket, index: usize) -> Result<Message> {
    match socket.next().await {
        Some(Ok(Message::Close(frame))) => {
            bail!("subscriber {index}: the server closed the stream: {frame:?}")
        }
        Some(Ok(message)) => Ok(message),
        Some(Err(error)) => Err(anyhow!("subscriber {index}: reading the stream: {error}")),
        None => bail!("subscriber {index}: the stream ended"),
    }
}

/// One subscriber: connect, hello, then read and count every frame until `stop`.
async fn subscriber(
    url: String,
    index: usize,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut socket = {
        let _permit = gate.acquire().await?;
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(url.as_str(), None, true)
                .await
                .map_err(|error| connect_error(error, &url))?;
        if let tokio_tungstenite::MaybeTlsStream::Plain(stream) = socket.get_ref()
            && let Ok(address) = stream.local_addr()
        {
            shared.counters[index]
                .port
                .store(u64::from(address.port()), Ordering::Relaxed);
        }
        let hello = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Message::Text(text) = next_message(&mut socket, index).await? {
                    let hello = shared.record(index, text.as_str(), now_ms())?;
                    ensure!(
                        hello,
                        "subscriber {index}: the first frame has no hello: {text}"
                    );
                    return Ok(());
                }
            }
        })
        .await;
        match hello {
            Ok(outcome) => outcome?,
            Err(_) => bail!("subscriber {index}: no hello within 30 s of the upgrade"),
        }
        socket
    };
    shared.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => {
                // A clean close; what the server answers does not matter any more.
                let _ = socket.close(None).await;
                return Ok(());
            }
            message = next_message(&mut socket, index) => {
                if let Message::Text(text) = message? {
                    let received = now_ms();
                    shared.record(index, text.as_str(), received)?;
                }
            }
        }
    }
}

fn cores(cpu: f64, seconds: f64) -> String {
    format!("{cpu:.1} s ({:.2} cores)", cpu / seconds)
}

/// Mean and peak of one queue over the samples.
fn queue_summary(samples: &[Queued], queue: impl Fn(&Queued) -> u64) -> String {
    if samples.is_empty() {
        return "n/a".to_string();
    }
    let sum: u64 = samples.iter().map(&queue).sum();
    let peak = samples.iter().map(&queue).max().unwrap_or(0);
    format!(
        "{} / {}",
        stats::bytes(sum / samples.len() as u64),
        stats::bytes(peak)
    )
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "n/a".to_string();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

fn print_tables(phases: &[Phase], options: &Options, last: &Final) {
    let mut table = Table::new(&[
        "logger",
        "subscribers",
        "points",
        "seconds",
        "points/s",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "429s",
        "server CPU",
        "generator CPU",
        "of which subscribers",
        "server peak RSS",
    ]);
    for p in phases {
        table.row(vec![
            p.logger.label(options),
            p.subscribers.to_string(),
            stats::thousands(p.points),
            format!("{:.2}", p.seconds),
            stats::thousands(p.points_per_second().round() as u64),
            format!("{:.0}", p.requests as f64 / p.seconds),
            stats::ms(p.latencies.percentile(50.0)),
            stats::ms(p.latencies.percentile(99.0)),
            stats::ms(p.latencies.max()),
            p.throttled.to_string(),
            p.server_cpu
                .map_or_else(|| "n/a (--url)".to_string(), |cpu| cores(cpu, p.seconds)),
            cores(p.generator_cpu, p.seconds),
            cores(p.subscriber_cpu, p.seconds),
            p.server_rss.map_or_else(|| "n/a".to_string(), stats::bytes),
        ]);
    }
    table.print();
    println!();

    let mut table = Table::new(&[
        "logger",
        "points logged",
        "delivered (all subscribers)",
        "least / most per subscriber",
        "resyncs (subscribers)",
        "frames/s per subscriber",
        "MiB/s received",
        "unread by subscribers, mean / peak",
        "server send queues, mean / peak",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "all delivered after",
    ]);
    for p in phases {
        let Some(d) = &p.delivery else { continue };
        let least = d.received.iter().copied().min().unwrap_or(0);
        let most = d.received.iter().copied().max().unwrap_or(0);
        let sum: u64 = d.received.iter().sum();
        let window = p.seconds + d.drain.as_secs_f64();
        table.row(vec![
            p.logger.label(options),
            stats::thousands(p.points),
            format!(
                "{} ({})",
                stats::thousands(sum),
                share(sum, p.points * d.received.len() as u64)
            ),
            format!("{} / {}", share(least, p.points), share(most, p.points)),
            format!("{} ({})", stats::thousands(d.resyncs), d.resynced),
            format!(
                "{:.1}",
                d.frames as f64 / d.received.len().max(1) as f64 / window
            ),
            format!("{:.1}", d.bytes as f64 / window / (1024.0 * 1024.0)),
            queue_summary(&p.queued, |q| q.unread),
            queue_summary(&p.queued, |q| q.unsent),
            stats::histogram_ms(d.p50),
            stats::histogram_ms(d.p90),
            stats::histogram_ms(d.p99),
            stats::ms(d.max),
            if d.complete {
                format!("{:.0} ms", d.drain.as_secs_f64() * 1e3)
            } else {
                format!(
                    "incomplete (last point {:.1} s after)",
                    d.drain.as_secs_f64()
                )
            },
        ]);
    }
    table.print();
    println!();

    for p in phases.iter().filter(|p| p.logger == Logger::Paced) {
        println!(
            "- {} with {} subscribers: {} requests, the furthest one started {:.1} ms behind schedule",
            p.logger.label(options),
            p.subscribers,
            stats::thousands(p.requests),
            p.behind.as_secs_f64() * 1e3
        );
    }
    for p in phases {
        let Some(d) = &p.delivery else { continue };
        if p.queued.is_empty() || d.bytes == 0 {
            continue;
        }
        // Little's law: bytes waiting ÷ bytes per second = seconds each byte waited there.
        let rate = d.bytes as f64 / (p.seconds + d.drain.as_secs_f64());
        let mean = |queue: fn(&Queued) -> u64| {
            p.queued.iter().map(queue).sum::<u64>() as f64 / p.queued.len() as f64
        };
        let (unread, unsent) = (mean(|q| q.unread), mean(|q| q.unsent));
        println!(
            "- {}: on average {} sat unread in the subscribers' sockets (≈ {:.0} ms of stream at {:.0} MiB/s: the generator's share of the delivery latency) and {} in the server's send queues (≈ {:.0} ms)",
            p.logger.label(options),
            stats::bytes(unread as u64),
            unread / rate * 1e3,
            rate / (1024.0 * 1024.0),
            stats::bytes(unsent as u64),
            unsent / rate * 1e3
        );
    }
    for p in phases {
        let counted: Vec<String> = TCP_COUNTERS
            .iter()
            .zip(&p.tcp)
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| format!("{name} +{n}"))
            .collect();
        if !counted.is_empty() {
            println!(
                "- {} with {} subscribers: the kernel counted {} (host-wide TCP counters, /proc/net/netstat)",
                p.logger.label(options),
                p.subscribers,
                counted.join(", ")
            );
        }
    }
    for p in phases {
        let Some(d) = &p.delivery else { continue };
        let at_end = &last.received[p.logger.index()];
        let short: Vec<usize> = (0..d.received.len())
            .filter(|&i| d.received[i] < p.points)
            .collect();
        let caught_up = short.iter().filter(|&&i| at_end[i] >= p.points).count();
        let never_resynced = short
            .iter()
            .filter(|&&i| at_end[i] < p.points && last.totals.resyncs[i] == 0)
            .count();
        let extra = at_end.iter().filter(|r| **r > p.points).count();
        println!(
            "- {}: {} (subscriber, point) latency samples; {} subscribers short of points when the wait ended ({} of them had every point by the end of the bench, {} resynced in this phase)",
            p.logger.label(options),
            stats::thousands(d.samples),
            short.len(),
            caught_up,
            d.resynced
        );
        for &i in short.iter().take(5) {
            println!(
                "  subscriber {i}: {} of the points when the wait ended, its last frame {:.1} s before that; {} by the end of the bench; {} resyncs in all",
                share(d.received[i], p.points),
                d.silence[i],
                share(at_end[i], p.points),
                last.totals.resyncs[i]
            );
        }
        if never_resynced > 0 {
            println!(
                "  WRONG: {never_resynced} subscribers never got every point and were never sent a resync"
            );
        }
        if extra > 0 {
            println!("  WRONG: {extra} subscribers got more points than were logged");
        }
    }

    let scale_note = if options.subscribers == BAR_SUBSCRIBERS {
        String::new()
    } else {
        format!(
            " (the bar is stated for {BAR_SUBSCRIBERS} subscribers; this run had {})",
            options.subscribers
        )
    };
    if let Some(paced) = phases
        .iter()
        .find(|p| p.logger == Logger::Paced && p.delivery.is_some())
        && let Some(d) = &paced.delivery
    {
        println!(
            "- bar: p99 delivery ≤{LATENCY_BAR_MS:.0} ms at {}/s: {} ms — {}{scale_note}",
            stats::thousands(options.rate.round() as u64),
            stats::histogram_ms(d.p99),
            if d.p99 <= LATENCY_BAR_MS && d.complete {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    for logger in [Logger::Paced, Logger::Saturating] {
        let without = phases
            .iter()
            .find(|p| p.logger == logger && p.delivery.is_none());
        let with = phases
            .iter()
            .find(|p| p.logger == logger && p.delivery.is_some());
        if let (Some(without), Some(with)) = (without, with) {
            let ratio = with.points_per_second() / without.points_per_second();
            let verdict = if ratio >= 1.0 - INGEST_BAR {
                "met"
            } else {
                "MISSED"
            };
            let what = match logger {
                Logger::Paced => "(a paced logger only shows the rate is sustained)",
                Logger::Saturating => "(the bar's measure)",
            };
            println!(
                "- bar: ingest within {:.0}% with subscribers, {}: {} vs {} points/s = {:.3}× — {verdict} {what}; request p99 {} vs {} ms{scale_note}",
                INGEST_BAR * 100.0,
                logger.label(options),
                stats::thousands(with.points_per_second().round() as u64),
                stats::thousands(without.points_per_second().round() as u64),
                ratio,
                stats::ms(with.latencies.percentile(99.0)),
                stats::ms(without.latencies.percentile(99.0)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_queues_are_read_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0100007F:C000 0100007F:1F90 01 00000000:00000400 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F90 0100007F:C000 01 00000010:00000000 00:00000000 00000000     0        0 3 1
   3: 0100007F:C001 0100007F:1F90 01 00000000:00000100 00:00000000 00000000     0        0 4 1
   4: 0100007F:D000 0100007F:1F90 01 00000000:00000999 00:00000000 00000000     0        0 5 1
";
        let subscribers: HashSet<u16> = [0xC000, 0xC001].into_iter().collect();
        assert_eq!(
            queued(table, 0x1F90, &subscribers),
            Queued {
                unread: 0x500,
                unsent: 0x10
            }
        );
    }

    #[test]
    fn tcp_counters_are_read_from_proc_net_netstat() {
        let netstat = "TcpExt: PruneCalled RcvPruned TCPTimeouts TCPMemoryPressures\nTcpExt: 9 3 7 1\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(tcp_counters_in(netstat), vec![1, 3, 0, 7, 0]);
        assert_eq!(tcp_counters_in(""), vec![0; 5]);
    }

    #[test]
    fn frames_are_counted_per_logger_with_latencies() {
        let shared = Shared::new("r1", 2);
        let hello = r#"{"events":[{"type":"hello","message":"subscribed"}]}"#;
        assert!(shared.record(0, hello, 0.0).unwrap());
        let frame = r#"{"events":[
            {"type":"points","run_id":"r1","experiment_id":"0","key":"paced","steps":[0,1,2],"timestamps":[1000,1000,1010],"values":[0.5,"NaN",1]},
            {"type":"points","run_id":"r1","experiment_id":"0","key":"max_3","steps":[7],"timestamps":[1000],"values":[2.0]},
            {"type":"points","run_id":"r2","experiment_id":"0","key":"paced","steps":[7],"timestamps":[1000],"values":[2.0]},
            {"type":"resync","reason":"this subscriber fell behind the live bus"},
            {"type":"run","change":"updated","run_id":"r1"}
        ]}"#;
        assert!(!shared.record(1, frame, 1020.0).unwrap());
        assert_eq!(shared.received(Logger::Paced), vec![0, 3]);
        assert_eq!(shared.received(Logger::Saturating), vec![0, 1]);
        let paced = &shared.latency[Logger::Paced.index()];
        assert_eq!(paced.count(), 3);
        assert!((paced.percentile(50.0) - 20.0).abs() < 0.11);
        assert!((paced.percentile(33.0) - 10.0).abs() < 0.11);
        assert_eq!(paced.max(), 20.0);
        let totals = shared.totals();
        assert_eq!(totals.resyncs, vec![0, 1]);
        assert_eq!((totals.frames, totals.other, totals.foreign), (2, 1, 1));
        assert!(shared.record(0, "not json", 0.0).is_err());
    }
}
