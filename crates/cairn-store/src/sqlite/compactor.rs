//! The background compactor: one thread that folds raw metric segments into chunks.
//!
//! It wakes every [`TICK`], when an ingest reports a series worth compacting, or when asked to
//! compact everything now. Every [`RETENTION_EVERY_MS`] (and on request) it also thins chunks
//! that an experiment's retention policy has made due (see `retention`). For each due series it computes a [`series::Plan`] on its own
//! read-only connection (a snapshot), then hands the swap to the writer as one small job, so
//! ingest never waits for decoding or encoding. It is the only thread that writes chunks, which is
//! what makes a plan computed from a snapshot still valid when the writer applies it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::sql::now_ms;
use super::writer::{Job, TypedJob};
use super::{in_read_transaction, retention, series};
use crate::{CompactionStats, Result, StoreError};

/// How often the compactor looks for due series without being asked.
pub const TICK: Duration = Duration::from_millis(250);
/// How often retention policies are applied without being asked (milliseconds).
pub const RETENTION_EVERY_MS: i64 = 60_000;
/// How long ingest idempotency keys are remembered (milliseconds).
pub const IDEMPOTENCY_KEY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

pub enum Command {
    /// Something is probably due.
    Nudge,
    /// Compact every series with raw data, then answer.
    Force(SyncSender<Result<CompactionStats>>),
}

/// The thread body; returns when every command sender is gone.
pub fn run(conn: Connection, writer: mpsc::Sender<Box<dyn Job>>, commands: Receiver<Command>) {
    let mut last_expiry = 0;
    let mut last_retention = 0;
    loop {
        let force = match commands.recv_timeout(TICK) {
            Ok(Command::Nudge) | Err(RecvTimeoutError::Timeout) => None,
            Ok(Command::Force(reply)) => Some(reply),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let with_retention = force.is_some() || now_ms() - last_retention > RETENTION_EVERY_MS;
        if with_retention {
            last_retention = now_ms();
        }
        let outcome = pass(&conn, &writer, force.is_some(), with_retention);
        if let Err(error) = &outcome {
            tracing::error!(%error, "metric compaction failed");
        }
        if let Some(reply) = force {
            let _ = reply.send(outcome);
        }
        let now = now_ms();
        if now - last_expiry > 60_000 {
            last_expiry = now;
            let cutoff = now - IDEMPOTENCY_KEY_TTL_MS;
            if let Err(error) = write(&writer, move |conn| {
                series::expire_idempotency_keys(conn, cutoff)
            }) {
                tracing::warn!(%error, "expiring ingest idempotency keys failed");
            }
        }
    }
    tracing::debug!("metric compactor stopped");
}

fn write<T: Send + 'static>(
    writer: &mpsc::Sender<Box<dyn Job>>,
    work: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (job, answer) = TypedJob::boxed(Box::new(work));
    writer
        .blocking_send(job)
        .map_err(|_| StoreError::Unavailable("the store is shutting down".to_string()))?;
    answer
        .blocking_recv()
        .map_err(|_| StoreError::Internal("the writer stopped before answering".to_string()))?
}

/// Compacts due series (every series with raw data when `force`) until none is left due.
fn pass(
    conn: &Connection,
    writer: &mpsc::Sender<Box<dyn Job>>,
    force: bool,
    with_retention: bool,
) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    // Under continuous ingest there is always more; a forced pass stops after a few rounds.
    for _ in 0..16 {
        let due = in_read_transaction(conn, |conn| series::pending(conn, now_ms(), force, 256))?;
        if due.is_empty() {
            break;
        }
        for id in due {
            let Some(plan) = in_read_transaction(conn, |conn| series::plan(conn, id))? else {
                continue;
            };
            stats.series += 1;
            stats.points += plan.points;
            write(writer, move |conn| series::apply(conn, &plan, now_ms()))?;
        }
        if !force {
            break;
        }
    }
    // Retention runs on compacted chunks, after the raw segments due are folded in.
    if !with_retention {
        return Ok(stats);
    }
    loop {
        let due = in_read_transaction(conn, |conn| retention::due(conn, now_ms(), 256))?;
        if due.is_empty() {
            break;
        }
        for (chunk, series, resolution) in due {
            let plan = in_read_transaction(conn, |conn| {
                retention::plan(conn, chunk, series, resolution)
            })?;
            stats.thinned_chunks += 1;
            write(writer, move |conn| retention::apply(conn, &plan))?;
        }
    }
    Ok(stats)
}
