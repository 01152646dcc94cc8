//! Read latency of the metric engine: full series, downsampled views, compare views, summaries.
//!
//! Dataset (built through the ingest API, untimed; `--quick` sizes in brackets), every series the
//! key `loss` with f32-exact noisy values:
//! - one run with a 1,000,000-point [100,000] series,
//! - one run with a 10,000,000-point [1,000,000] series,
//! - 100 [10] runs with a 1,000,000-point [100,000] series each.
//!
//! After the server has gone idle (background compaction done) each read is made 2 times to warm
//! up and then 15 times, one at a time on one connection; the table gives the median and p90 of
//! the 15 (send to last byte of the answer) and the answer's size:
//! - (a2) the same as packed binary columns (`?format=binary`), checked bit for bit once.
//! - (a) `GET /points` of the 1M series — the whole body is read; it is parsed once (untimed) and
//!   checked bit for bit against the regenerated series;
//! - (b) `GET /series?buckets=2000` of the 10M series;
//! - (c) the same over a 200,000-step window in the middle (`from`/`to`, inclusive);
//! - (d) `POST /api/v1/series` over the 100 runs, 1,000 buckets;
//! - (e) `POST /api/v1/summaries` of the 100 runs.
//!
//! Views and summaries are checked once too (bucket counts add up to the series length; every
//! run found).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use reqwest::Client;
use serde::Deserialize;
use serde_json::Value;

use crate::data::{self, Curve, Precision};
use crate::server::{self, Target};
use crate::stats::{self, Samples, Table};

const WARMUPS: usize = 2;
const REPETITIONS: usize = 15;
/// Points per ingest request while building the dataset.
const REQUEST_POINTS: usize = 10_000;
const KEY: &str = "loss";

/// Dataset sizes.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub one: usize,
    pub big: usize,
    pub many_runs: usize,
    pub many_points: usize,
    pub window: usize,
}

impl Scale {
    pub fn full() -> Scale {
        Scale {
            one: 1_000_000,
            big: 10_000_000,
            many_runs: 100,
            many_points: 1_000_000,
            window: 200_000,
        }
    }
    pub fn quick() -> Scale {
        Scale {
            one: 100_000,
            big: 1_000_000,
            many_runs: 10,
            many_points: 100_000,
            window: 200_000,
        }
    }
}

/// One series to build: run, curve, length.
#[derive(Debug, Clone)]
struct Job {
    run_id: String,
    curve: Curve,
    points: usize,
}

/// Ingests every job, `concurrency` series at a time (each series in order, one request at a
/// time), encoding bodies on the fly. Returns the seconds it took.
async fn build(
    client: &Client,
    target: &Target,
    jobs: Vec<Job>,
    concurrency: usize,
) -> Result<f64> {
    let total: u64 = jobs.iter().map(|j| j.points as u64).sum();
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let jobs = Arc::clone(&jobs);
        let next = Arc::clone(&next);
        let sent = Arc::clone(&sent);
        let base = target.url.clone();
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(index) else {
                    return Ok::<(), anyhow::Error>(());
                };
                let url = format!("{base}/api/v1/runs/{}/metrics", job.run_id);
                let series = [(KEY.to_string(), job.curve)];
                let mut first = 0;
                while first < job.points {
                    let count = REQUEST_POINTS.min(job.points - first);
                    let body = data::ingest_body(&series, first as i64, count);
                    let (accepted, _, _) = crate::http::ingest(&client, &url, body, None).await?;
                    ensure!(
                        accepted == count as u64,
                        "POST {url} accepted {accepted} of {count}"
                    );
                    sent.fetch_add(accepted, Ordering::Relaxed);
                    first += count;
                }
            }
        });
    }
    let progress = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let done = sent.load(Ordering::Relaxed);
                eprintln!(
                    "reads: building the dataset: {} of {} points ({:.0} s)",
                    stats::thousands(done),
                    stats::thousands(total),
                    started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let mut outcome = Ok(());
    while let Some(joined) = workers.join_next().await {
        if let Err(error) = joined.context("a dataset worker panicked").and_then(|r| r) {
            outcome = Err(error);
            break;
        }
    }
    progress.abort();
    outcome?;
    Ok(started.elapsed().as_secs_f64())
}

/// A timed read: samples and the answer size.
#[derive(Debug)]
struct Timing {
    name: String,
    samples: Samples,
    bytes: usize,
    bar: Option<f64>,
}

/// Makes the request `WARMUPS` times (checking the first answer), then `REPETITIONS` timed times.
async fn time<F, Fut>(
    name: &str,
    bar: Option<f64>,
    mut request: F,
    check: impl FnOnce(&Bytes) -> Result<()>,
) -> Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Bytes>>,
{
    eprintln!("reads: {name} …");
    let first = request().await?;
    check(&first).with_context(|| format!("checking the answer of {name}"))?;
    for _ in 1..WARMUPS {
        request().await?;
    }
    let mut durations = Vec::with_capacity(REPETITIONS);
    let mut bytes = first.len();
    for _ in 0..REPETITIONS {
        let start = Instant::now();
        let answer = request().await?;
        durations.push(start.elapsed());
        bytes = answer.len();
    }
    Ok(Timing {
        name: name.to_string(),
        samples: Samples::from_durations(durations),
        bytes,
        bar,
    })
}

#[derive(Deserialize)]
struct Points {
    count: usize,
    steps: Vec<i64>,
    timestamps: Vec<i64>,
    values: Vec<f64>,
}

/// The binary form: `CAIRNPT1`, count, thinned, then the step, timestamp and value columns.
fn check_binary_points(body: &Bytes, curve: Curve, n: usize) -> Result<()> {
    ensure!(
        body.len() == 24 + n * 24,
        "{} bytes for {n} points",
        body.len()
    );
    ensure!(&body[..8] == b"CAIRNPT1", "bad magic");
    let word = |i: usize| -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&body[i * 8..i * 8 + 8]);
        bytes
    };
    ensure!(u64::from_le_bytes(word(1)) == n as u64, "count differs");
    let expected = curve.stretch(0, n);
    for i in 0..n {
        ensure!(
            i64::from_le_bytes(word(3 + i)) == expected.steps[i]
                && i64::from_le_bytes(word(3 + n + i)) == expected.timestamps[i]
                && u64::from_le_bytes(word(3 + 2 * n + i)) == expected.values[i].to_bits(),
            "point {i} differs from what was ingested"
        );
    }
    Ok(())
}

fn check_points(body: &Bytes, curve: Curve, n: usize) -> Result<()> {
    let points: Points = serde_json::from_slice(body)?;
    ensure!(
        points.count == n,
        "count {} but {n} points were ingested",
        points.count
    );
    ensure!(
        points.steps.len() == n && points.timestamps.len() == n && points.values.len() == n,
        "column lengths {} / {} / {} for count {n}",
        points.steps.len(),
        points.timestamps.len(),
        points.values.len()
    );
    let expected = curve.stretch(0, n);
    ensure!(
        points.steps == expected.steps,
        "steps differ from what was ingested"
    );
    ensure!(
        points.timestamps == expected.timestamps,
        "timestamps differ from what was ingested"
    );
    let differing = points
        .values
        .iter()
        .zip(&expected.values)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    ensure!(
        differing == 0,
        "{differing} values differ (bitwise) from what was ingested"
    );
    Ok(())
}

/// Sum of `count` over a `buckets` object, and the number of buckets.
fn bucket_total(buckets: &Value) -> Result<(u64, usize)> {
    let counts = buckets["count"]
        .as_array()
        .context("buckets.count is not an array")?;
    let total = counts.iter().map(|c| c.as_u64().unwrap_or(0)).sum();
    Ok((total, counts.len()))
}

fn check_view(body: &Bytes, points: u64, max_buckets: usize) -> Result<()> {
    let view: Value = serde_json::from_slice(body)?;
    let (total, buckets) = bucket_total(&view["buckets"])?;
    ensure!(
        total == points,
        "bucket counts add up to {total}, expected {points}"
    );
    ensure!(
        buckets <= max_buckets,
        "{buckets} buckets, asked for at most {max_buckets}"
    );
    Ok(())
}

pub async fn run(client: &Client, target: &Target, scale: Scale, concurrency: usize) -> Result<()> {
    println!(
        "\n## reads — {} + {} point series, {} runs × {} points; {} warm-ups then {} timed repetitions each\n",
        stats::thousands(scale.one as u64),
        stats::thousands(scale.big as u64),
        scale.many_runs,
        stats::thousands(scale.many_points as u64),
        WARMUPS,
        REPETITIONS
    );

    // The dataset.
    let one_curve = Curve::new(1_001, Precision::F32);
    let big_curve = Curve::new(1_002, Precision::F32);
    let one_run = crate::http::create_run(client, &target.url).await?;
    let big_run = crate::http::create_run(client, &target.url).await?;
    let many_runs = crate::http::create_runs(client, &target.url, scale.many_runs).await?;
    let mut jobs = vec![
        Job {
            run_id: big_run.clone(),
            curve: big_curve,
            points: scale.big,
        },
        Job {
            run_id: one_run.clone(),
            curve: one_curve,
            points: scale.one,
        },
    ];
    jobs.extend(many_runs.iter().enumerate().map(|(i, run_id)| Job {
        run_id: run_id.clone(),
        curve: Curve::new(2_000 + i as u64, Precision::F32),
        points: scale.many_points,
    }));
    let total: u64 = jobs.iter().map(|j| j.points as u64).sum();
    eprintln!(
        "reads: building the dataset ({} points) …",
        stats::thousands(total)
    );
    let cpu_server_before = server::server_cpu_seconds(target.pid);
    let build_seconds = build(client, target, jobs, concurrency).await?;
    let settled = server::settle(target.pid, Duration::from_secs(2)).await;
    let build_cpu = match (cpu_server_before, server::server_cpu_seconds(target.pid)) {
        (Some(before), Some(after)) => format!(", server CPU {:.1} s", after - before),
        _ => String::new(),
    };

    // The reads.
    let base = target.url.clone();
    let points_url = format!("{base}/api/v1/runs/{one_run}/metrics/{KEY}/points");
    let binary_url = format!("{points_url}?format=binary");
    let view_url = format!("{base}/api/v1/runs/{big_run}/metrics/{KEY}/series?buckets=2000&x=step");
    let from = (scale.big / 2).saturating_sub(scale.window / 2);
    let to = (from + scale.window).min(scale.big) - 1;
    let window_url = format!("{view_url}&from={from}&to={to}");
    let window_points = (to - from + 1) as u64;
    let compare_body = Bytes::from(
        serde_json::json!({ "run_ids": many_runs, "key": KEY, "buckets": 1000, "x": "step" })
            .to_string(),
    );
    let summaries_body = Bytes::from(serde_json::json!({ "run_ids": many_runs }).to_string());
    let compare_url = format!("{base}/api/v1/series");
    let summaries_url = format!("{base}/api/v1/summaries");

    let mut timings = Vec::new();
    timings.push(
        time(
            &format!(
                "(a) full read, GET …/points, {} points",
                stats::thousands(scale.one as u64)
            ),
            Some(150.0),
            || crate::http::get(client, &points_url),
            |body| check_points(body, one_curve, scale.one),
        )
        .await?,
    );
    timings.push(
        time(
            &format!(
                "(a2) full read, GET …/points?format=binary, {} points",
                stats::thousands(scale.one as u64)
            ),
            Some(150.0),
            || crate::http::get(client, &binary_url),
            |body| check_binary_points(body, one_curve, scale.one),
        )
        .await?,
    );
    timings.push(
        time(
            &format!(
                "(b) view, 2,000 buckets of {} points",
                stats::thousands(scale.big as u64)
            ),
            Some(20.0),
            || crate::http::get(client, &view_url),
            |body| check_view(body, scale.big as u64, 2_000),
        )
        .await?,
    );
    timings.push(
        time(
            &format!(
                "(c) view, 2,000 buckets of a {}-step window (from={from}&to={to})",
                stats::thousands(window_points)
            ),
            None,
            || crate::http::get(client, &window_url),
            |body| check_view(body, window_points, 2_000),
        )
        .await?,
    );
    let many_points = scale.many_points as u64;
    let many_count = scale.many_runs;
    timings.push(
        time(
            &format!("(d) compare view, POST /api/v1/series, {many_count} runs × 1,000 buckets"),
            Some(300.0),
            || crate::http::post(client, &compare_url, compare_body.clone()),
            |body| {
                let view: Value = serde_json::from_slice(body)?;
                let runs = view["runs"].as_array().context("runs is not an array")?;
                ensure!(
                    runs.len() == many_count,
                    "{} runs in the answer",
                    runs.len()
                );
                for run in runs {
                    ensure!(
                        run["found"] == Value::Bool(true),
                        "run not found: {}",
                        run["run_id"]
                    );
                    let (total, buckets) = bucket_total(&run["buckets"])?;
                    ensure!(
                        total == many_points,
                        "run {}: counts add up to {total}",
                        run["run_id"]
                    );
                    ensure!(buckets <= 1_000, "run {}: {buckets} buckets", run["run_id"]);
                }
                Ok(())
            },
        )
        .await?,
    );
    timings.push(
        time(
            &format!("(e) summaries, POST /api/v1/summaries, {many_count} runs"),
            None,
            || crate::http::post(client, &summaries_url, summaries_body.clone()),
            |body| {
                let answer: Value = serde_json::from_slice(body)?;
                let runs = answer["runs"].as_array().context("runs is not an array")?;
                ensure!(
                    runs.len() == many_count,
                    "{} runs in the answer",
                    runs.len()
                );
                for run in runs {
                    let metrics = run["metrics"]
                        .as_array()
                        .context("metrics is not an array")?;
                    let loss = metrics.iter().find(|m| m["key"] == KEY);
                    let count = loss.and_then(|m| m["count"].as_u64());
                    ensure!(
                        count == Some(many_points),
                        "run {}: loss count {count:?}",
                        run["run_id"]
                    );
                }
                Ok(())
            },
        )
        .await?,
    );

    let mut table = Table::new(&["read", "median ms", "p90 ms", "answer size", "bar"]);
    for t in &timings {
        let median = t.samples.percentile(50.0);
        table.row(vec![
            t.name.clone(),
            stats::ms(median),
            stats::ms(t.samples.percentile(90.0)),
            stats::bytes(t.bytes as u64),
            match t.bar {
                Some(bar) if median <= bar => format!("≤{bar:.0} ms: met"),
                Some(bar) => format!("≤{bar:.0} ms: MISSED"),
                None => "—".to_string(),
            },
        ]);
    }
    table.print();
    println!();
    println!(
        "- dataset: {} points ingested in {:.1} s ({} points/s, {} series at a time, requests of {} points){}; compaction settled {:.1} s after the last request",
        stats::thousands(total),
        build_seconds,
        stats::thousands((total as f64 / build_seconds) as u64),
        concurrency,
        stats::thousands(REQUEST_POINTS as u64),
        build_cpu,
        settled.waited.as_secs_f64()
    );
    println!(
        "- (a) full read answers were checked once: count, steps, timestamps and values identical (bitwise) to the ingested series"
    );
    Ok(())
}
