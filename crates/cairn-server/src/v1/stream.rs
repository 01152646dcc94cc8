//! `GET /api/v1/stream` — the live stream over a WebSocket.
//!
//! A client subscribes to runs and/or experiments, in the query (`?runs=a,b&experiments=1,2`)
//! and later with text messages `{"subscribe": {"runs": [...], "experiments": [...]}}` or
//! `{"unsubscribe": {...}}`. The server sends text frames `{"events": [...]}` where each event is
//! `{"type":"points", "run_id", "experiment_id", "key", "steps", "timestamps", "values"}`,
//! `{"type":"run", "change": "created"|"updated"|"deleted"|"restored", "run_id", ...}`, or
//! `{"type":"resync", "reason"}` (events were dropped: refetch what is on screen). A bad message
//! gets `{"type":"error","message"}` and the subscription stays as it was.
//!
//! Each connection runs three tasks: one reads the bus and decides what to send, one reads the
//! socket (it wakes only when the client speaks), and one writes one frame at a time. Events that
//! arrive while a frame is being written are coalesced into the next frame; frames go out at most
//! every [`FLUSH_EVERY`]. When more than [`MAX_PENDING_BYTES`] wait, the oldest has waited more
//! than [`MAX_LAG`], or the bus reports that this subscriber lagged, pending events are replaced
//! by a single `resync`. Nothing here can slow down a writer: the bus never waits for subscribers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::live::Event;
use cairn_core::access::Permission;

/// Shortest interval between two frames to one subscriber.
pub const FLUSH_EVERY: Duration = Duration::from_millis(25);
/// Most bytes of events waiting for one subscriber before they are replaced by a resync.
pub const MAX_PENDING_BYTES: usize = 8 << 20;
/// Longest time an event may wait for a subscriber before its pending events become a resync.
pub const MAX_LAG: Duration = Duration::from_secs(2);
/// Read buffer of a stream socket (bytes).
const READ_BUFFER: usize = 4096;
/// Most runs plus experiments one connection may follow.
pub const MAX_SUBSCRIPTIONS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    runs: Option<String>,
    experiments: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Targets {
    #[serde(default)]
    runs: Vec<String>,
    #[serde(default)]
    experiments: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
enum ClientMessage {
    #[serde(rename = "subscribe")]
    Subscribe(Targets),
    #[serde(rename = "unsubscribe")]
    Unsubscribe(Targets),
}

/// What one connection follows.
#[derive(Default)]
struct Subscription {
    runs: HashSet<String>,
    experiments: HashSet<String>,
}

impl Subscription {
    fn matches(&self, event: &Event) -> bool {
        self.runs.contains(&event.run_id) || self.experiments.contains(&event.experiment_id)
    }

    fn add(&mut self, targets: Targets) -> ApiResult<()> {
        check_targets(&targets)?;
        if self.runs.len() + self.experiments.len() + targets.runs.len() + targets.experiments.len()
            > MAX_SUBSCRIPTIONS
        {
            return Err(ApiError::invalid(format!(
                "A stream may follow at most {MAX_SUBSCRIPTIONS} runs and experiments"
            )));
        }
        self.runs.extend(targets.runs);
        self.experiments.extend(targets.experiments);
        Ok(())
    }

    fn remove(&mut self, targets: Targets) -> ApiResult<()> {
        check_targets(&targets)?;
        for run in &targets.runs {
            self.runs.remove(run);
        }
        for experiment in &targets.experiments {
            self.experiments.remove(experiment);
        }
        Ok(())
    }
}

fn check_targets(targets: &Targets) -> ApiResult<()> {
    for run in &targets.runs {
        cairn_core::ids::check_run_id(run)?;
    }
    for experiment in &targets.experiments {
        if experiment.is_empty() || !experiment.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid(format!(
                "Invalid experiment id '{experiment}': experiment ids are decimal numbers"
            )));
        }
    }
    Ok(())
}

fn split_list(list: Option<String>) -> Vec<String> {
    list.map(|text| {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

pub async fn stream(
    State(state): State<AppState>,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let query = super::query(query)?;
    let mut subscription = Subscription::default();
    let targets = Targets {
        runs: split_list(query.runs),
        experiments: split_list(query.experiments),
    };
    check_targets(&targets)?;
    authorize(&state, &targets).await?;
    subscription.add(targets)?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            crate::error::ErrorCode::BadRequest,
            format!("This route speaks WebSocket: {}", rejection.body_text()),
        )
    })?;
    let events = state.tracking.live().subscribe();
    // The socket's task does not inherit the request's caller: later subscriptions are checked
    // as them.
    let caller = crate::auth::current();
    // Clients send only small subscription messages: a small read buffer saves zeroing the
    // default 128 KiB on every read.
    Ok(upgrade
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| {
            crate::auth::acting_as(caller, session(socket, state, subscription, events))
        }))
}

/// Refuses targets the caller may not read (as missing ones: a stream must not reveal them).
async fn authorize(state: &AppState, targets: &Targets) -> ApiResult<()> {
    let access = state.tracking.access();
    for run in &targets.runs {
        access.run(run, Permission::Read).await?;
    }
    for experiment in &targets.experiments {
        access.experiment(experiment, Permission::Read).await?;
    }
    Ok(())
}

/// Events waiting for the next frame.
#[derive(Default)]
struct Pending {
    events: Vec<Arc<Event>>,
    bytes: usize,
    /// When the oldest waiting event arrived.
    since: Option<Instant>,
    resync: Option<&'static str>,
    notices: Vec<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.resync.is_none() && self.notices.is_empty()
    }

    fn push(&mut self, event: Arc<Event>) {
        if self.resync.is_some() {
            return;
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        self.bytes += event.json.len();
        self.events.push(event);
        if self.bytes > MAX_PENDING_BYTES {
            self.lost("too many events waiting for this subscriber");
        } else if now.duration_since(since) > MAX_LAG {
            self.lost("this subscriber reads more slowly than the stream");
        }
    }

    fn lost(&mut self, reason: &'static str) {
        self.events.clear();
        self.bytes = 0;
        self.since = None;
        self.resync = Some(reason);
    }

    fn take_frame(&mut self) -> String {
        let mut out = Vec::with_capacity(self.bytes + 64);
        out.extend_from_slice(b"{\"events\":[");
        let mut first = true;
        let mut separate = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        for notice in self.notices.drain(..) {
            separate(&mut out);
            out.extend_from_slice(notice.as_bytes());
        }
        if let Some(reason) = self.resync.take() {
            separate(&mut out);
            out.extend_from_slice(b"{\"type\":\"resync\",\"reason\":");
            super::json::push_str(&mut out, reason);
            out.push(b'}');
        }
        for event in self.events.drain(..) {
            separate(&mut out);
            out.extend_from_slice(&event.json);
        }
        self.bytes = 0;
        self.since = None;
        out.extend_from_slice(b"]}");
        // Every piece is valid UTF-8 JSON.
        String::from_utf8(out).unwrap_or_default()
    }
}

fn notice(kind: &str, message: &str) -> String {
    let mut out = b"{\"type\":".to_vec();
    super::json::push_str(&mut out, kind);
    out.extend_from_slice(b",\"message\":");
    super::json::push_str(&mut out, message);
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

async fn session(
    socket: WebSocket,
    state: AppState,
    mut subscription: Subscription,
    mut events: broadcast::Receiver<Arc<Event>>,
) {
    let (mut sink, mut source) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<Message>(1);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if sink.send(frame).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    // The socket is read by its own task, which wakes only when the client sends something.
    let (messages, mut incoming) = mpsc::channel::<Option<Utf8Bytes>>(16);
    let reader = tokio::spawn(async move {
        while let Some(message) = source.next().await {
            let forwarded = match message {
                Ok(Message::Text(text)) => Some(text),
                Ok(Message::Binary(_)) => None,
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(Message::Close(_)) | Err(_) => break,
            };
            if messages.send(forwarded).await.is_err() {
                break;
            }
        }
    });
    let mut pending = Pending::default();
    pending.notices.push(notice("hello", "subscribed"));
    let mut next_flush = Instant::now();
    let mut flush_due = false;
    loop {
        let waiting = !pending.is_empty();
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) if event.gap => {
                    pending.lost("events from another server may have been missed");
                }
                Ok(event) => {
                    if subscription.matches(&event) {
                        pending.push(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    pending.lost("this subscriber fell behind the live bus");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            message = incoming.recv() => match message {
                Some(Some(text)) => handle_message(&state, &text, &mut subscription, &mut pending).await,
                Some(None) => pending.notices.push(notice("error", "send JSON text messages")),
                None => break,
            },
            () = tokio::time::sleep_until(next_flush), if waiting && !flush_due => {
                flush_due = true;
            }
            permit = frames.reserve(), if waiting && flush_due => {
                let Ok(permit) = permit else { break };
                // Take what arrived while the previous frame was being written.
                loop {
                    match events.try_recv() {
                        Ok(event) if event.gap => {
                            pending.lost("events from another server may have been missed");
                        }
                        Ok(event) if subscription.matches(&event) => pending.push(event),
                        Ok(_) => {}
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            pending.lost("this subscriber fell behind the live bus");
                        }
                        Err(_) => break,
                    }
                }
                permit.send(Message::Text(Utf8Bytes::from(pending.take_frame())));
                flush_due = false;
                next_flush = Instant::now() + FLUSH_EVERY;
            }
        }
    }
    reader.abort();
    drop(frames);
    let _ = writer.await;
}

async fn handle_message(
    state: &AppState,
    text: &Utf8Bytes,
    subscription: &mut Subscription,
    pending: &mut Pending,
) {
    let outcome = match serde_json::from_str::<ClientMessage>(text.as_str()) {
        Err(e) => Err(ApiError::invalid(format!("Invalid message: {e}"))),
        Ok(ClientMessage::Subscribe(targets)) => match check_targets(&targets) {
            Ok(()) => match authorize(state, &targets).await {
                Ok(()) => subscription.add(targets),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        },
        Ok(ClientMessage::Unsubscribe(targets)) => subscription.remove(targets),
    };
    match outcome {
        Ok(()) => pending.notices.push(notice("ack", "subscription updated")),
        Err(error) => pending.notices.push(notice("error", &error.message)),
    }
}
