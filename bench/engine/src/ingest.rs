//! Ingest throughput and latency through the native API (`POST /api/v1/runs/{id}/metrics`).
//!
//! The bar: at least 1,000,000 points/s sustained into the embedded store, from a load generator
//! that pre-encodes its requests, with a p99 request latency of at most 50 ms.
//!
//! How: for each request shape (default 10 keys × 1,000 points, then 1 key × 10,000 points — both
//! 10,000 points a request) the bench encodes a pool of JSON bodies *before* the clock starts.
//! Body `i` holds steps `[i·P, (i+1)·P)` of every key, so sending every body to every one of `R`
//! fresh runs makes every (run, body) pair a distinct set of points. `C` workers each own the runs
//! `r ≡ w (mod C)` and send body 0 to each of their runs, then body 1, and so on — at most `C`
//! requests in flight, and each run receives its steps in order. Workers stop starting requests
//! when the duration is over (or the pool runs out); the clock stops when the last answer is in.
//!
//! Reported: points accepted (from the answers' `accepted`), seconds, points/s, requests/s,
//! request latency percentiles (send to last byte of the answer), 429 answers (retried after
//! `Retry-After`), and CPU time of the generator (`/proc/self/stat`) and the server
//! (`/proc/<pid>/stat`) over the timed window — CPU seconds / wall seconds = cores used. After
//! the window the bench waits for the server to go idle and reports the CPU that tail cost
//! (background compaction of what was just written).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use reqwest::Client;

use crate::data::{self, Curve, Precision};
use crate::server::{self, Target};
use crate::stats::{self, Samples, Table};

/// Ingest bench settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub concurrency: usize,
    pub runs: usize,
    pub keys: usize,
    pub points: usize,
    /// Size the pre-encoded pool for this rate (points/s) over the duration.
    pub pool_rate: f64,
    pub idempotency_keys: bool,
}

/// Keys × points per key of one request.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub keys: usize,
    pub points: usize,
}

impl Shape {
    pub fn per_request(&self) -> usize {
        self.keys * self.points
    }
    fn label(&self) -> String {
        format!(
            "{} key{} × {}",
            self.keys,
            if self.keys == 1 { "" } else { "s" },
            stats::thousands(self.points as u64)
        )
    }
}

/// Name of the `k`-th key of a request.
pub fn key_name(k: usize) -> String {
    if k == 0 {
        "loss".to_string()
    } else {
        format!("metric_{k:02}")
    }
}

/// What one shape measured.
#[derive(Debug)]
pub struct Outcome {
    pub shape: Shape,
    pub points: u64,
    pub requests: u64,
    pub seconds: f64,
    pub latencies: Samples,
    pub throttled: u64,
    pub generator_cpu: f64,
    pub server_cpu: Option<f64>,
    pub ran_out: bool,
    pub pool_bodies: usize,
    pub pool_bytes: u64,
    pub encode_seconds: f64,
    pub tail: server::Settled,
}

impl Outcome {
    pub fn points_per_second(&self) -> f64 {
        self.points as f64 / self.seconds
    }
    pub fn meets_bar(&self) -> bool {
        self.points_per_second() >= 1_000_000.0 && self.latencies.percentile(99.0) <= 50.0
    }
}

#[derive(Debug, Default)]
struct WorkerTally {
    points: u64,
    requests: u64,
    latencies: Vec<Duration>,
    throttled: u64,
    ran_out: bool,
}

/// Runs every shape and prints the table.
pub async fn run(client: &Client, target: &Target, options: &Options) -> Result<Vec<Outcome>> {
    let mut shapes = vec![Shape {
        keys: options.keys,
        points: options.points,
    }];
    if options.keys > 1 {
        shapes.push(Shape {
            keys: 1,
            points: options.keys * options.points,
        });
    }
    let runs = options.runs.max(options.concurrency);
    println!(
        "\n## ingest — POST /api/v1/runs/{{id}}/metrics, {} runs, {} requests in flight, {:.0} s per shape\n",
        runs,
        options.concurrency,
        options.duration.as_secs_f64()
    );
    if runs != options.runs {
        println!(
            "(runs raised from {} to {runs}: one worker per run at least)",
            options.runs
        );
    }
    let mut outcomes = Vec::new();
    for (index, shape) in shapes.iter().enumerate() {
        eprintln!("ingest: shape {} …", shape.label());
        let outcome = measure(client, target, options, runs, *shape, index as u64).await?;
        outcomes.push(outcome);
    }
    print_table(&outcomes);
    Ok(outcomes)
}

async fn measure(
    client: &Client,
    target: &Target,
    options: &Options,
    runs: usize,
    shape: Shape,
    seed: u64,
) -> Result<Outcome> {
    // 1. The pool of pre-encoded bodies, sized for `pool_rate` over the whole duration.
    let per_round = (runs * shape.per_request()) as f64;
    let bodies_needed =
        ((options.pool_rate * options.duration.as_secs_f64()) / per_round).ceil() as usize;
    let bodies_needed = bodies_needed.max(1);
    let series: Vec<(String, Curve)> = (0..shape.keys)
        .map(|k| {
            let seed = seed * 1_000 + k as u64;
            (key_name(k), Curve::new(seed, Precision::F32))
        })
        .collect();
    let encode_start = Instant::now();
    let pool: Vec<Bytes> = (0..bodies_needed)
        .map(|i| data::ingest_body(&series, (i * shape.points) as i64, shape.points))
        .collect();
    let encode_seconds = encode_start.elapsed().as_secs_f64();
    let pool_bytes: u64 = pool.iter().map(|b| b.len() as u64).sum();
    let pool = Arc::new(pool);

    // 2. Fresh runs.
    let run_ids = crate::http::create_runs(client, &target.url, runs).await?;
    let urls: Arc<Vec<String>> = Arc::new(
        run_ids
            .iter()
            .map(|id| format!("{}/api/v1/runs/{id}/metrics", target.url))
            .collect(),
    );

    // 3. The timed window.
    let per_request = shape.per_request() as u64;
    let cpu_generator_before = server::own_cpu_seconds();
    let cpu_server_before = server::server_cpu_seconds(target.pid);
    let start = Instant::now();
    let deadline = start + options.duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..options.concurrency {
        let client = client.clone();
        let pool = Arc::clone(&pool);
        let urls = Arc::clone(&urls);
        let idempotency = options.idempotency_keys;
        let concurrency = options.concurrency;
        workers.spawn(async move {
            let mine: Vec<usize> = (worker..urls.len()).step_by(concurrency).collect();
            let mut tally = WorkerTally {
                ran_out: true,
                ..WorkerTally::default()
            };
            'bodies: for (i, body) in pool.iter().enumerate() {
                for &run in &mine {
                    if Instant::now() >= deadline {
                        tally.ran_out = false;
                        break 'bodies;
                    }
                    let key = idempotency.then(|| format!("bench-{run}-{i}"));
                    let (accepted, latency, throttled) =
                        crate::http::ingest(&client, &urls[run], body.clone(), key.as_deref())
                            .await?;
                    if accepted != per_request {
                        anyhow::bail!(
                            "POST {} accepted {accepted} points of {per_request}",
                            urls[run]
                        );
                    }
                    tally.points += accepted;
                    tally.requests += 1;
                    tally.throttled += u64::from(throttled);
                    tally.latencies.push(latency);
                }
            }
            Ok::<WorkerTally, anyhow::Error>(tally)
        });
    }
    let mut tallies = Vec::new();
    while let Some(joined) = workers.join_next().await {
        tallies.push(joined.context("an ingest worker panicked")??);
    }
    let seconds = start.elapsed().as_secs_f64();
    let generator_cpu = server::own_cpu_seconds() - cpu_generator_before;
    let server_cpu = match (cpu_server_before, server::server_cpu_seconds(target.pid)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };

    // 4. Let background compaction finish before the next shape (and report its cost).
    let tail = server::settle(target.pid, Duration::from_secs(2)).await;

    Ok(Outcome {
        shape,
        points: tallies.iter().map(|t| t.points).sum(),
        requests: tallies.iter().map(|t| t.requests).sum(),
        seconds,
        latencies: Samples::from_durations(
            tallies.iter().flat_map(|t| t.latencies.iter().copied()),
        ),
        throttled: tallies.iter().map(|t| t.throttled).sum(),
        generator_cpu,
        server_cpu,
        ran_out: tallies.iter().all(|t| t.ran_out),
        pool_bodies: pool.len(),
        pool_bytes,
        encode_seconds,
        tail,
    })
}

fn cores(cpu: f64, seconds: f64) -> String {
    format!("{cpu:.1} s ({:.2} cores)", cpu / seconds)
}

fn print_table(outcomes: &[Outcome]) {
    let mut table = Table::new(&[
        "request shape",
        "points",
        "seconds",
        "points/s",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "429s",
        "generator CPU",
        "server CPU",
        "bar ≥1M/s, p99 ≤50 ms",
    ]);
    for o in outcomes {
        table.row(vec![
            o.shape.label(),
            stats::thousands(o.points),
            format!("{:.2}", o.seconds),
            stats::thousands(o.points_per_second().round() as u64),
            format!("{:.0}", o.requests as f64 / o.seconds),
            stats::ms(o.latencies.percentile(50.0)),
            stats::ms(o.latencies.percentile(90.0)),
            stats::ms(o.latencies.percentile(99.0)),
            stats::ms(o.latencies.max()),
            o.throttled.to_string(),
            cores(o.generator_cpu, o.seconds),
            o.server_cpu
                .map_or_else(|| "n/a (--url)".to_string(), |cpu| cores(cpu, o.seconds)),
            if o.meets_bar() { "met" } else { "MISSED" }.to_string(),
        ]);
    }
    table.print();
    println!();
    for o in outcomes {
        let per_body = o.pool_bytes / o.pool_bodies.max(1) as u64;
        println!(
            "- {}: {} requests ({} latency samples); pool of {} pre-encoded bodies, {} each ({:.1} B/point), encoded in {:.2} s before the clock{}",
            o.shape.label(),
            stats::thousands(o.requests),
            o.latencies.len(),
            o.pool_bodies,
            stats::bytes(per_body),
            per_body as f64 / o.shape.per_request() as f64,
            o.encode_seconds,
            if o.ran_out {
                "; the pool ran out before the duration (raise --pool-rate)"
            } else {
                ""
            }
        );
        if let Some(cpu) = o.tail.server_cpu {
            println!(
                "  after the window: the server went idle {:.1} s later, spending {:.1} CPU-s meanwhile (background compaction)",
                o.tail.waited.as_secs_f64(),
                cpu
            );
        }
    }
}
