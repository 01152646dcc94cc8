//! The background compactor: one thread per store that folds raw metric segments into chunks,
//! applies retention policies and forgets old ingest idempotency keys. A port of
//! `sqlite::compactor`, with the same cadence ([`TICK`], [`RETENTION_EVERY_MS`]).
//!
//! Differences from SQLite, and why:
//! - Several replicas may share the database, and a plan computed from a snapshot is only valid
//!   while nobody else writes chunks. So a pass runs only while its connection holds a
//!   session-level advisory lock ([`PASS_LOCK`]): a background pass skips when another replica
//!   holds it (that one is doing the work), a forced pass waits for it. The lock is released
//!   after the pass; a connection that breaks releases it with its session.
//! - Each fold is applied in its own write transaction that locks the series row `FOR UPDATE`
//!   (see `series::apply`), since appends run concurrently instead of on one writer.
//! - The thread takes a connection from the store's pool for each pass and gives it back after.
//! - Stopping sets a flag and wakes the thread; it never waits for the thread (the store may be
//!   dropped on a runtime thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};

use postgres::Client;

use super::sql::now_ms;
use super::{Pool, read_in, retention, series, write_in};
use crate::sqlite::compactor::{IDEMPOTENCY_KEY_TTL_MS, RETENTION_EVERY_MS, TICK};
use crate::{CompactionStats, Result, StoreError};

/// The advisory-lock key a compaction pass holds (`cairncmp` in ASCII).
const PASS_LOCK: i64 = 0x6361_6972_6e63_6d70;
/// Commands waiting for the thread; a nudge that finds the queue full is dropped (one is due).
const QUEUE: usize = 16;
/// How often idempotency keys are expired (milliseconds).
const EXPIRE_EVERY_MS: i64 = 60_000;
/// Series (or chunks) taken per round of a pass.
const ROUND: usize = 256;

enum Command {
    /// Something is probably due.
    Nudge,
    /// Compact every series with raw data and apply retention, then answer.
    Force(SyncSender<Result<CompactionStats>>),
    /// The store is closing.
    Stop,
}

/// The way to the compactor thread. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Handle {
    commands: SyncSender<Command>,
    stopped: Arc<AtomicBool>,
}

impl Handle {
    /// Tells the thread that something may be due; never waits.
    pub(crate) fn nudge(&self) {
        let _ = self.commands.try_send(Command::Nudge);
    }

    /// Asks the thread to stop after what it is doing; never waits.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.commands.try_send(Command::Stop);
    }

    /// Runs a pass over every series with raw data and every chunk due for retention, waiting
    /// for the lock if another replica holds it, and returns what it did. Blocking: call it off
    /// the runtime.
    pub(crate) fn force(&self) -> Result<CompactionStats> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the store is closed".to_string()));
        }
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.commands
            .send(Command::Force(reply))
            .map_err(|_| StoreError::Unavailable("the compactor stopped".to_string()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Unavailable("the compactor stopped".to_string()))?
    }
}

/// Starts the compactor thread.
pub(crate) fn start(pool: Arc<Pool>) -> Result<Handle> {
    let (commands, receiver) = std::sync::mpsc::sync_channel(QUEUE);
    let stopped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stopped);
    std::thread::Builder::new()
        .name("cairn-pg-compactor".to_string())
        .spawn(move || run(&pool, &receiver, &flag))
        .map_err(|e| StoreError::Internal(format!("cannot start the compactor: {e}")))?;
    Ok(Handle { commands, stopped })
}

/// The thread body; returns when stopped or when every handle is gone.
fn run(pool: &Pool, commands: &Receiver<Command>, stopped: &AtomicBool) {
    let mut last_expiry = 0;
    let mut last_retention = 0;
    let mut last_error_log = 0;
    while !stopped.load(Ordering::SeqCst) {
        let force = match commands.recv_timeout(TICK) {
            Ok(Command::Nudge) | Err(RecvTimeoutError::Timeout) => None,
            Ok(Command::Force(reply)) => Some(reply),
            Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
        };
        if stopped.load(Ordering::SeqCst) {
            break;
        }
        let now = now_ms();
        let work = Work {
            force: force.is_some(),
            retention: force.is_some() || now - last_retention > RETENTION_EVERY_MS,
            expire: now - last_expiry > EXPIRE_EVERY_MS,
        };
        let outcome = pass(pool, work);
        match &outcome {
            // Done, or left to the replica that holds the lock (its passes do the same work).
            Ok(_) => {
                if work.retention {
                    last_retention = now;
                }
                if work.expire {
                    last_expiry = now;
                }
            }
            // A database that is down fails every tick: say so once a minute.
            Err(error) if force.is_some() || now - last_error_log > 60_000 => {
                last_error_log = now;
                if error.kind() == crate::ErrorKind::Unavailable {
                    // Not a fault of the server: the database is down or restarting.
                    tracing::warn!(%error, "metric compaction waits for the database");
                } else {
                    tracing::error!(%error, "metric compaction failed");
                }
            }
            Err(_) => {}
        }
        if let Some(reply) = force {
            let _ = reply.send(outcome.map(Option::unwrap_or_default));
        }
    }
    // Answer forced passes that were queued behind the stop.
    while let Ok(command) = commands.try_recv() {
        if let Command::Force(reply) = command {
            let _ = reply.send(Err(StoreError::Unavailable(
                "the store is closed".to_string(),
            )));
        }
    }
    tracing::debug!("metric compactor stopped");
}

/// What a pass is asked to do.
#[derive(Debug, Clone, Copy)]
struct Work {
    /// Compact every series with raw data (not only those due), waiting for the lock.
    force: bool,
    /// Apply retention policies.
    retention: bool,
    /// Forget old idempotency keys.
    expire: bool,
}

/// One pass on a pooled connection under the pass lock. `None` when there was nothing to do or
/// another replica holds the lock.
fn pass(pool: &Pool, work: Work) -> Result<Option<CompactionStats>> {
    let mut client = pool.take()?;
    match enter(&mut client, work) {
        Ok(true) => {}
        other => {
            pool.give_back(client);
            return other.map(|_| None);
        }
    }
    let outcome = locked_pass(&mut client, work);
    // Give the connection back only without the lock; closing it releases the lock too.
    match client.query_one("SELECT pg_advisory_unlock($1)", &[&PASS_LOCK]) {
        Ok(_) => pool.give_back(client),
        Err(error) => {
            if !client.is_closed() {
                tracing::warn!(%error, "releasing the compaction lock failed; closing its connection");
            }
            drop(client);
        }
    }
    outcome.map(Some)
}

/// Takes the pass lock: waits for it when forced, else takes it only when something is due and
/// no other replica holds it. Whether this connection now holds it.
fn enter(client: &mut Client, work: Work) -> Result<bool> {
    if work.force {
        client.execute("SELECT pg_advisory_lock($1)", &[&PASS_LOCK])?;
        return Ok(true);
    }
    if !work.retention && !work.expire {
        // The common tick: no lock when no series is due.
        let due = read_in(client, |tx| series::pending(tx, now_ms(), false, 1))?;
        if due.is_empty() {
            return Ok(false);
        }
    }
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&PASS_LOCK])?;
    Ok(row.get(0))
}

fn locked_pass(client: &mut Client, work: Work) -> Result<CompactionStats> {
    let stats = compact(client, work)?;
    if work.expire {
        let cutoff = now_ms() - IDEMPOTENCY_KEY_TTL_MS;
        write_in(client, |tx| series::expire_idempotency_keys(tx, cutoff))?;
    }
    Ok(stats)
}

/// Compacts due series (every series with raw data when forced) and, when asked, thins chunks
/// due for retention.
fn compact(client: &mut Client, work: Work) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    // Under continuous ingest there is always more; a forced pass stops after a few rounds.
    for _ in 0..16 {
        let due = read_in(client, |tx| {
            series::pending(tx, now_ms(), work.force, ROUND)
        })?;
        if due.is_empty() {
            break;
        }
        for id in due {
            let Some(plan) = read_in(client, |tx| series::plan(tx, id))? else {
                continue;
            };
            stats.series += 1;
            stats.points += plan.points;
            write_in(client, |tx| series::apply(tx, &plan, now_ms()))?;
        }
        if !work.force {
            break;
        }
    }
    // Retention runs on compacted chunks, after the raw segments due are folded in.
    if !work.retention {
        return Ok(stats);
    }
    loop {
        let due = read_in(client, |tx| retention::due(tx, now_ms(), ROUND))?;
        if due.is_empty() {
            break;
        }
        for (chunk, series, resolution) in due {
            let plan = read_in(client, |tx| retention::plan(tx, chunk, series, resolution))?;
            stats.thinned_chunks += 1;
            write_in(client, |tx| retention::apply(tx, &plan))?;
        }
    }
    Ok(stats)
}
