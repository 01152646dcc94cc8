//! Cross-replica fan-out of live events: when several servers share one database, an event
//! committed through one of them (new points, a run's change) must reach WebSocket subscribers
//! connected to the others. The server's live bus forwards each event it publishes to a
//! [`Relay`] and feeds what the relay hears from the other servers into its own subscribers.
//!
//! Backends that can be shared provide one (PostgreSQL: `LISTEN/NOTIFY`, see
//! `postgres::relay`); the embedded store has no other servers to tell.

/// One encoded live event, as the server's bus publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEvent {
    pub run_id: String,
    pub experiment_id: String,
    /// The event as one JSON object (UTF-8).
    pub json: Vec<u8>,
}

/// What a relay hears from the other servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relayed {
    Event(RelayEvent),
    /// The relay lost its connection for a while: events may have been missed, so subscribers
    /// should refetch what they show.
    Gap,
}

/// Sends this server's events to the other servers. Never waits: when the relay cannot keep
/// up, events are dropped and the other servers are told of a gap.
pub trait Relay: Send + Sync + std::fmt::Debug {
    fn forward(&self, event: RelayEvent);
}
