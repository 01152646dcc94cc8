//! The live bus: committed changes (new points, run created / status changed / deleted /
//! restored) fanned out to WebSocket subscribers.
//!
//! [`Hub::publish`] is called by the tracking service after a write has committed. It encodes the
//! event to JSON once and puts it on a `tokio::sync::broadcast` channel, which never waits: a
//! subscriber that falls more than [`CAPACITY`] events behind loses them and is told to resync
//! (see `v1::stream`). So ingest never slows down for a slow reader.
//!
//! Cross-replica fan-out: with a shared database, the hub also forwards each event it publishes
//! to a [`Relay`] (PostgreSQL `LISTEN/NOTIFY`), and [`Hub::relay_from`] feeds what the other
//! replicas publish to this replica's subscribers. A relay that lost events delivers a gap
//! marker ([`Event::gap`]), which subscribers turn into a resync.

use std::sync::Arc;

use bytes::Bytes;
use cairn_core::model::RunInfo;
use cairn_core::series::Point;
use cairn_store::{Relay, RelayEvent, Relayed};
use tokio::sync::{broadcast, mpsc};

use crate::v1::json;

/// Events a subscriber may lag behind before it must resync.
pub const CAPACITY: usize = 8192;

/// What changed about a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunChange {
    Created,
    Updated,
    Deleted,
    Restored,
}

impl RunChange {
    fn as_str(self) -> &'static str {
        match self {
            RunChange::Created => "created",
            RunChange::Updated => "updated",
            RunChange::Deleted => "deleted",
            RunChange::Restored => "restored",
        }
    }
}

/// One committed change, encoded once for every subscriber.
#[derive(Debug)]
pub struct Event {
    pub run_id: String,
    pub experiment_id: String,
    /// The event as one JSON object.
    pub json: Bytes,
    /// Not an event: events from other replicas may have been missed (no run, no JSON).
    pub gap: bool,
}

/// The in-process bus. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Event>>,
    relay: Option<Arc<dyn Relay>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (sender, _) = broadcast::channel(CAPACITY);
        Hub {
            sender,
            relay: None,
        }
    }

    /// Also forwards every published event to the other replicas through `relay`.
    pub fn with_relay(mut self, relay: Arc<dyn Relay>) -> Hub {
        self.relay = Some(relay);
        self
    }

    /// Whether publishing is worth the encoding: someone listens here, or on another replica.
    pub fn wanted(&self) -> bool {
        self.relay.is_some() || self.subscribers() > 0
    }

    /// Delivers what the other replicas publish to this replica's subscribers, until the relay
    /// stops.
    pub async fn relay_from(self, mut incoming: mpsc::Receiver<Relayed>) {
        while let Some(relayed) = incoming.recv().await {
            let event = match relayed {
                Relayed::Event(event) => Event {
                    run_id: event.run_id,
                    experiment_id: event.experiment_id,
                    json: Bytes::from(event.json),
                    gap: false,
                },
                Relayed::Gap => Event {
                    run_id: String::new(),
                    experiment_id: String::new(),
                    json: Bytes::new(),
                    gap: true,
                },
            };
            self.deliver(Arc::new(event));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Number of live subscribers.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Hands an already encoded event to local subscribers.
    pub fn deliver(&self, event: Arc<Event>) {
        // No subscriber is not an error.
        let _ = self.sender.send(event);
    }

    /// New points of one key of a run.
    pub fn points(&self, run_id: &str, experiment_id: &str, key: &str, points: &[Point]) {
        if points.is_empty() || !self.wanted() {
            return;
        }
        let mut out = Vec::with_capacity(points.len() * 32 + 128);
        out.extend_from_slice(b"{\"type\":\"points\",\"run_id\":");
        json::push_str(&mut out, run_id);
        out.extend_from_slice(b",\"experiment_id\":");
        json::push_str(&mut out, experiment_id);
        out.extend_from_slice(b",\"key\":");
        json::push_str(&mut out, key);
        out.push(b',');
        json::push_array(&mut out, "steps", points, |out, p| {
            json::push_int(out, p.step)
        });
        out.push(b',');
        json::push_array(&mut out, "timestamps", points, |out, p| {
            json::push_int(out, p.timestamp)
        });
        out.push(b',');
        json::push_array(&mut out, "values", points, |out, p| {
            json::push_double(out, p.value)
        });
        out.push(b'}');
        self.publish(run_id, experiment_id, out);
    }

    /// A run was created, changed status, or was deleted or restored.
    pub fn run(&self, change: RunChange, info: &RunInfo) {
        if !self.wanted() {
            return;
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"type\":\"run\",\"change\":\"");
        out.extend_from_slice(change.as_str().as_bytes());
        out.extend_from_slice(b"\",\"run_id\":");
        json::push_str(&mut out, &info.run_id);
        out.extend_from_slice(b",\"experiment_id\":");
        json::push_str(&mut out, &info.experiment_id);
        out.extend_from_slice(b",\"run_name\":");
        json::push_str(&mut out, &info.run_name);
        out.extend_from_slice(b",\"status\":");
        json::push_str(&mut out, info.status.as_str());
        out.extend_from_slice(b",\"lifecycle_stage\":");
        json::push_str(&mut out, info.lifecycle_stage.as_str());
        out.extend_from_slice(b",\"start_time\":");
        json::push_int(&mut out, info.start_time);
        out.extend_from_slice(b",\"end_time\":");
        match info.end_time {
            Some(end) => json::push_int(&mut out, end),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        self.publish(&info.run_id, &info.experiment_id, out);
    }

    fn publish(&self, run_id: &str, experiment_id: &str, json: Vec<u8>) {
        if let Some(relay) = &self.relay {
            relay.forward(RelayEvent {
                run_id: run_id.to_string(),
                experiment_id: experiment_id.to_string(),
                json: json.clone(),
            });
        }
        self.deliver(Arc::new(Event {
            run_id: run_id.to_string(),
            experiment_id: experiment_id.to_string(),
            json: Bytes::from(json),
            gap: false,
        }));
    }
}
