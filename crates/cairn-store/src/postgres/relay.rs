//! Live events between replicas over PostgreSQL's `LISTEN/NOTIFY`.
//!
//! Every replica listens on the channel `cairn_live` with one dedicated connection and sends its
//! own events there. A notification's payload is
//! `<origin>.<sequence>\n<run_id>\n<experiment_id>\n<json>`; `origin` is a random id per relay,
//! so a replica skips its own events (it already delivered them locally), and the sequence keeps
//! identical events of one transaction apart (PostgreSQL folds identical payloads). A payload over PostgreSQL's limit (8000 bytes) is stored in the unlogged
//! table `live_events` and the notification carries `@<id>` instead; rows older than a minute
//! are deleted by the senders.
//!
//! Sending never waits for the database: events go through a bounded queue to a sender thread
//! that sends whatever has queued in one transaction and one statement (notifications are
//! delivered at commit, in order). The listener hands each notification on as soon as it
//! arrives, with whatever else has already arrived. When the queue is full, or the database is unreachable, events are dropped and the
//! other replicas receive a gap marker once the sender is back, so their subscribers resync.
//! The listener reconnects by itself; after a reconnection it reports a [`Relayed::Gap`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use tokio::sync::mpsc;

use super::{Pool, sql};
use crate::{Relay, RelayEvent, Relayed, Result, StoreError};

const CHANNEL: &str = "cairn_live";
/// Largest payload sent inline (PostgreSQL refuses 8000 bytes and more).
const INLINE_LIMIT: usize = 7900;
/// Events waiting for the sender thread before new ones are dropped.
const QUEUE: usize = 16384;
/// Events sent in one transaction at most.
const BATCH: usize = 512;
/// Payload that tells the other replicas that this one dropped events.
const GAP: &str = "gap";

/// What the sender thread is asked to send.
enum Outgoing {
    Event(RelayEvent),
}

/// The sending half: handed to the server's live bus.
#[derive(Debug)]
pub struct PgRelay {
    queue: std_mpsc::SyncSender<Outgoing>,
    dropped: Arc<AtomicBool>,
}

impl Relay for PgRelay {
    fn forward(&self, event: RelayEvent) {
        if self.queue.try_send(Outgoing::Event(event)).is_err() {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }
}

/// Stops the relay's threads when dropped.
#[derive(Debug)]
pub struct RelayGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for RelayGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts relaying through the database `pool` connects to: returns the sending half, the
/// events heard from other replicas, and a guard that stops both threads.
pub(crate) fn start(
    pool: Arc<Pool>,
) -> Result<(Arc<PgRelay>, mpsc::Receiver<Relayed>, RelayGuard)> {
    let origin = cairn_core::ids::new_run_id();
    let stop = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (queue, outgoing) = std_mpsc::sync_channel(QUEUE);
    let (heard, incoming) = mpsc::channel(QUEUE);
    let config = pool.config.clone();
    {
        let (origin, stop, dropped) = (origin.clone(), Arc::clone(&stop), Arc::clone(&dropped));
        std::thread::Builder::new()
            .name("cairn-relay-send".to_string())
            .spawn(move || send_loop(&pool, &origin, &outgoing, &dropped, &stop))
            .map_err(|e| StoreError::Internal(format!("cannot start the relay: {e}")))?;
    }
    {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("cairn-relay-listen".to_string())
            .spawn(move || listen_loop(&config, &origin, &heard, &stop))
            .map_err(|e| StoreError::Internal(format!("cannot start the relay: {e}")))?;
    }
    Ok((
        Arc::new(PgRelay { queue, dropped }),
        incoming,
        RelayGuard { stop },
    ))
}

/// An event's part of a payload: `<run_id>\n<experiment_id>\n<json>`.
fn payload(event: &RelayEvent) -> String {
    format!(
        "{}\n{}\n{}",
        event.run_id,
        event.experiment_id,
        String::from_utf8_lossy(&event.json)
    )
}

fn send_loop(
    pool: &Pool,
    origin: &str,
    outgoing: &std_mpsc::Receiver<Outgoing>,
    dropped: &AtomicBool,
    stop: &AtomicBool,
) {
    let mut last_cleanup = Instant::now();
    let mut sequence = 0;
    while !stop.load(Ordering::Relaxed) {
        let first = match outgoing.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match outgoing.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let gap = dropped.swap(false, Ordering::Relaxed);
        let cleanup = last_cleanup.elapsed() > Duration::from_secs(30);
        let sent = pool.take().and_then(|mut client| {
            let outcome = send_batch(&mut client, origin, &mut sequence, &batch, gap, cleanup);
            pool.give_back(client);
            outcome
        });
        match sent {
            Ok(()) if cleanup => last_cleanup = Instant::now(),
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, events = batch.len(), "could not relay live events");
                dropped.store(true, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

fn send_batch(
    client: &mut Client,
    origin: &str,
    sequence: &mut u64,
    batch: &[Outgoing],
    gap: bool,
    cleanup: bool,
) -> Result<()> {
    let mut tx = client.transaction()?;
    let now = sql::now_ms();
    if cleanup {
        tx.execute(
            "DELETE FROM live_events WHERE created < $1",
            &[&(now - 60_000)],
        )?;
    }
    // Each payload starts with `<origin>.<sequence>`: PostgreSQL delivers identical payloads of
    // one transaction once, and two events may well be identical.
    let mut texts = Vec::with_capacity(batch.len() + 1);
    let mut next = |rest: &str| {
        *sequence += 1;
        format!("{origin}.{sequence}\n{rest}")
    };
    if gap {
        texts.push(next(GAP));
    }
    for Outgoing::Event(event) in batch {
        let text = next(&payload(event));
        if text.len() <= INLINE_LIMIT {
            texts.push(text);
            continue;
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO live_events (payload, created) VALUES ($1, $2) RETURNING id",
                &[&text, &now],
            )?
            .get(0);
        texts.push(next(&format!("@{id}")));
    }
    // One round trip for the whole batch; `unnest` reads the array in order, and notifications
    // are delivered at commit in the order they were made.
    tx.execute(
        "SELECT pg_notify($1, text) FROM unnest($2::text[]) AS text",
        &[&CHANNEL, &texts],
    )?;
    tx.commit()?;
    Ok(())
}

fn listen_loop(
    config: &postgres::Config,
    origin: &str,
    heard: &mpsc::Sender<Relayed>,
    stop: &AtomicBool,
) {
    let mut first = true;
    while !stop.load(Ordering::Relaxed) && !heard.is_closed() {
        let mut client = match config.connect(NoTls) {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "live relay cannot reach the database; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(error) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            tracing::warn!(%error, "live relay cannot listen; retrying");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        if !first {
            // Whatever was sent while this replica was not listening is lost.
            let _ = heard.blocking_send(Relayed::Gap);
        }
        first = false;
        if let Err(error) = listen(&mut client, origin, heard, stop) {
            tracing::warn!(%error, "live relay lost its connection; reconnecting");
        }
        // Closing blocks on the connection's own runtime: fine on this thread.
        drop(client);
    }
}

fn listen(
    client: &mut Client,
    origin: &str,
    heard: &mpsc::Sender<Relayed>,
    stop: &AtomicBool,
) -> Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let mut received = Vec::new();
        {
            let mut notifications = client.notifications();
            // Wait for one (a while at most, to notice a stop), then take what else has
            // arrived without waiting: events are handed on as soon as they come.
            let first = notifications
                .timeout_iter(Duration::from_millis(250))
                .next()?;
            if let Some(first) = first {
                received.push(first.payload().to_string());
                let mut pending = notifications.iter();
                while received.len() < BATCH
                    && let Some(notification) = pending.next()?
                {
                    received.push(notification.payload().to_string());
                }
            }
        }
        if client.is_closed() {
            return Err(StoreError::Unavailable("the connection closed".to_string()));
        }
        for text in received {
            let Some((sender, rest)) = text.split_once('\n') else {
                continue;
            };
            if sender.split('.').next() == Some(origin) {
                continue;
            }
            let relayed = if rest == GAP {
                Some(Relayed::Gap)
            } else if let Some(id) = rest.strip_prefix('@') {
                let id: i64 = id.parse().unwrap_or(-1);
                client
                    .query_opt("SELECT payload FROM live_events WHERE id = $1", &[&id])?
                    .and_then(|row| parse(&row.get::<_, String>(0)))
            } else {
                parse(&text)
            };
            if let Some(relayed) = relayed
                && heard.blocking_send(relayed).is_err()
            {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Reads a full payload (origin, run, experiment, JSON).
fn parse(text: &str) -> Option<Relayed> {
    let mut parts = text.splitn(4, '\n');
    let (_origin, run_id, experiment_id, json) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(Relayed::Event(RelayEvent {
        run_id: run_id.to_string(),
        experiment_id: experiment_id.to_string(),
        json: json.as_bytes().to_vec(),
    }))
}
