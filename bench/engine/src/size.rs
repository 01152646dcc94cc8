//! Bytes per point on disk for one long, realistic series.
//!
//! For each value precision (f32-exact values — what float32 training code logs — and full f64
//! noise, the codec's worst case) in a fresh temp data folder:
//!
//! 1. start a server, stop it (SIGTERM): the size of `cairn.db` + `cairn.db-wal` is the empty
//!    baseline (schema, default experiment);
//! 2. start it again on the same folder, create one run and ingest one series of N points
//!    (N = 1,000,000; 100,000 with `--quick`) in requests of 10,000 points, steps 0..N,
//!    timestamps 50 ms ± 3 ms apart;
//! 3. wait until background compaction is done (the server idles), check the stored count with
//!    a full read, stop the server (SIGTERM);
//! 4. bytes/point = (db + wal now − empty baseline) / N.
//!
//! The WAL is counted: if the shutdown leaves one behind it is part of the footprint. But a WAL
//! holds every version of the pages written since the last checkpoint (raw segments and then the
//! chunks that replaced them), so the bench also reports the footprint after folding it in: it
//! opens the stopped server's file, runs `PRAGMA wal_checkpoint(TRUNCATE)` (for the empty
//! baseline too) and gives the file size and the live pages (file minus SQLite's freelist). For scale,
//! the same points as three raw 8-byte columns take 24 B/point, and the ingest JSON ~40 B/point.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use reqwest::Client;
use serde::Deserialize;

use crate::data::{self, Curve, Precision};
use crate::server::{self, Checkpointed, DbSize, Scratch, Server};
use crate::stats::{self, Table};

/// Points per ingest request.
const REQUEST_POINTS: usize = 10_000;

#[derive(Debug)]
struct Row {
    precision: Precision,
    points: u64,
    empty: DbSize,
    empty_checkpointed: Checkpointed,
    running: DbSize,
    stopped: DbSize,
    checkpointed: Checkpointed,
    json_bytes: u64,
    ingest_seconds: f64,
    settle_seconds: f64,
}

#[derive(Deserialize)]
struct Count {
    count: u64,
}

pub async fn run(client: &Client, bin: &Path, points: usize, keep: bool) -> Result<()> {
    println!(
        "\n## size — bytes per point on disk, one series of {} points (fresh data folder per row)\n",
        stats::thousands(points as u64)
    );
    let mut rows = Vec::new();
    let mut scratches = Vec::new();
    for precision in [Precision::F32, Precision::F64] {
        eprintln!("size: {precision:?} values …");
        let scratch = Scratch::new("size")?;
        rows.push(measure(client, bin, &scratch, precision, points).await?);
        scratches.push(scratch);
    }
    let mut table = Table::new(&[
        "values",
        "points",
        "db + wal after stop",
        "bytes/point",
        "db checkpointed",
        "bytes/point",
        "live pages",
        "bytes/point",
        "ingest JSON B/point",
    ]);
    for row in &rows {
        let per_point = |now: u64, empty: u64| {
            format!(
                "{:.2}",
                now.saturating_sub(empty) as f64 / row.points as f64
            )
        };
        table.row(vec![
            match row.precision {
                Precision::F32 => "f32-exact noisy loss".to_string(),
                Precision::F64 => "full-f64 noisy loss".to_string(),
            },
            stats::thousands(row.points),
            format!(
                "{} + {}",
                stats::bytes(row.stopped.db),
                stats::bytes(row.stopped.wal)
            ),
            per_point(row.stopped.stored(), row.empty.stored()),
            stats::bytes(row.checkpointed.file),
            per_point(row.checkpointed.file, row.empty_checkpointed.file),
            stats::bytes(row.checkpointed.live),
            per_point(row.checkpointed.live, row.empty_checkpointed.live),
            format!("{:.1}", row.json_bytes as f64 / row.points as f64),
        ]);
    }
    table.print();
    println!();
    println!(
        "- bytes/point = (size − the same measure of the empty server) ÷ points. \"db + wal after stop\": the files as the server leaves them after SIGTERM; \"db checkpointed\": cairn.db after the bench ran PRAGMA wal_checkpoint(TRUNCATE) on the stopped server's file; \"live pages\": its pages minus the freelist"
    );
    for row in &rows {
        println!(
            "- {:?}: empty server {} + {} (db + wal), {} checkpointed; while running {}; ingest took {:.2} s (sequential requests of {} points); compaction settled {:.1} s after the last request",
            row.precision,
            stats::bytes(row.empty.db),
            stats::bytes(row.empty.wal),
            stats::bytes(row.empty_checkpointed.file),
            stats::bytes(row.running.stored()),
            row.ingest_seconds,
            stats::thousands(REQUEST_POINTS as u64),
            row.settle_seconds
        );
    }
    for (row, scratch) in rows.iter().zip(scratches) {
        print!("- {:?} rows: ", row.precision);
        server::report_log(&scratch.log());
        if keep {
            scratch.keep();
        }
    }
    Ok(())
}

async fn measure(
    client: &Client,
    bin: &Path,
    scratch: &Scratch,
    precision: Precision,
    points: usize,
) -> Result<Row> {
    let data_dir = scratch.data();
    // 1. The empty baseline.
    let server = Server::start(bin, &data_dir, &scratch.log()).await?;
    server.stop().await?;
    let empty = DbSize::of(&data_dir);
    let empty_checkpointed = server::checkpoint(&data_dir)?;

    // 2. One series.
    let server = Server::start(bin, &data_dir, &scratch.log()).await?;
    let target = server.target.clone();
    let run_id = crate::http::create_run(client, &target.url).await?;
    let url = format!("{}/api/v1/runs/{run_id}/metrics", target.url);
    let series = [("loss".to_string(), Curve::new(42, precision))];
    let mut json_bytes = 0u64;
    let started = Instant::now();
    let mut first = 0;
    while first < points {
        let count = REQUEST_POINTS.min(points - first);
        let body = data::ingest_body(&series, first as i64, count);
        json_bytes += body.len() as u64;
        let (accepted, _, _) = crate::http::ingest(client, &url, body, None).await?;
        ensure!(
            accepted == count as u64,
            "POST {url} accepted {accepted} of {count} points"
        );
        first += count;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();

    // 3. Settle, check, stop.
    let settled = server::settle(target.pid, Duration::from_secs(2)).await;
    let answer = crate::http::get(
        client,
        &format!("{}/api/v1/runs/{run_id}/metrics/loss/points", target.url),
    )
    .await?;
    let stored: Count = serde_json::from_slice(&answer)?;
    ensure!(
        stored.count == points as u64,
        "the full read returned {} points, {} were ingested",
        stored.count,
        points
    );
    let running = DbSize::of(&data_dir);
    server.stop().await?;
    let stopped = DbSize::of(&data_dir);
    let checkpointed = server::checkpoint(&data_dir)?;
    Ok(Row {
        precision,
        points: points as u64,
        empty,
        empty_checkpointed,
        running,
        stopped,
        checkpointed,
        json_bytes,
        ingest_seconds,
        settle_seconds: settled.waited.as_secs_f64(),
    })
}
