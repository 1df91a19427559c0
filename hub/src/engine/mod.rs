//! The venue engine: one single-writer actor per venue, reached through a `DashMap` of
//! handles. Each actor decides queued commands against its state, persists the resulting
//! events of the whole batch in one transaction (group commit), applies them, publishes
//! them, and only then answers. Nothing is acknowledged before it is durable.
//!
//! # Layout
//! - [`registry`]: the `Engine`: starts every venue from the store, routes by id or slug.
//! - [`handle`]: `VenueHandle`, the cloneable address of an actor (execute, read, subscribe).
//! - [`actor`]: the loop: batch, decide, append, apply, publish, reply; reload on failure.
//! - [`recovery`]: rebuilding a venue from its newest snapshot plus the journal after it.
//! - [`projection`]: turning changed orders and tables into the store's relational rows.
//! - [`fingerprint`]: the cheap, stable hash that tells a retry from a reused command id.
//! - [`idempotency`]: the window of recent command ids that makes retries safe.
//! - [`roster`]: each venue's staff standing, the read model authentication reads.
//! - [`usernames`]: the hub-wide register that makes every username log in one person.

mod actor;
mod fingerprint;
mod handle;
mod idempotency;
mod projection;
mod recovery;
mod registry;
mod roster;
mod usernames;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Actor, Command, Event, Rejection};

pub use handle::VenueHandle;
pub use registry::{Engine, VenueSettings};
pub use roster::StaffRoster;
pub use usernames::UsernameHold;

/// Tuning of the venue actors.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Most commands one transaction carries; 1 disables group commit.
    pub max_batch: usize,
    /// Write a snapshot after this many events.
    pub snapshot_every: u64,
    /// Requests queued per venue before callers wait (back-pressure).
    pub queue_capacity: usize,
    /// Events kept for late subscribers of the live feed.
    pub feed_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_batch: 256,
            snapshot_every: 1000,
            queue_capacity: 4096,
            feed_capacity: 4096,
        }
    }
}

/// A command with the id that makes it idempotent and the actor who issued it.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub command_id: Uuid,
    pub actor: Actor,
    pub command: Command,
}

/// What an accepted command produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub first_seq: u64,
    pub last_seq: u64,
    /// True when this command id had already been accepted: nothing new happened.
    pub replayed: bool,
}

/// An event as the live feed carries it, after it is durable.
#[derive(Clone, Debug)]
pub struct Published {
    pub seq: u64,
    /// The last sequence number of the command this event belongs to: a command's events
    /// are one change, and screens should see them as one.
    pub command_last_seq: u64,
    pub at: DateTime<Utc>,
    pub command_id: Uuid,
    pub actor: Actor,
    pub event: Event,
}

pub type Feed = tokio::sync::broadcast::Receiver<Arc<Published>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed or cannot be reached; nothing of the command was kept.
    #[error("the venue's store is unavailable: {0}")]
    Unavailable(String),
    /// A bug: something the hub made could not be recorded (an event that would not
    /// serialise). Nothing of the command was kept; the details are in the log.
    #[error("internal error: {0}")]
    Internal(String),
    /// The venue's actor has stopped (shutdown in progress).
    #[error("the venue is shutting down")]
    Stopped,
}
