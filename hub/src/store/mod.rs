//! The persistence boundary: the only module with SQL. It owns the event journal, the
//! idempotency records, snapshots, the relational projections and the venue registry,
//! behind one [`Store`] trait with a Postgres and an embedded SQLite implementation.
//!
//! The store knows nothing of domain types: events arrive already serialised (kind +
//! JSON payload) and projections arrive as flat rows, so the domain can evolve without
//! touching SQL, and both backends are held to the same behaviour by one test suite.
//! (Temperature readings use the typed venue and device ids: they are plain UUIDs.)

mod contract;
mod error;
mod migration;
mod postgres;
#[cfg(feature = "testkit")]
pub mod scratch;
mod sqlite;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{DeviceId, VenueId};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Which database a store talks to; shown in logs, `/readyz` and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// One journal entry: an event with its per-venue sequence number and its audit context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub venue_id: Uuid,
    /// Per-venue sequence number, gap-free, starting at 1.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The client-generated id of the command that produced this event.
    pub command_id: Uuid,
    /// The staff member who issued the command, if any (devices and the system have none).
    pub staff_id: Option<Uuid>,
    /// The device or client the command came from (e.g. `kds-grill-1`, `pos-2`, `http`).
    pub device: Option<String>,
    /// The event's `type` tag, duplicated out of the payload so the journal can be filtered.
    pub kind: String,
    /// The whole event as JSON, including its `type` tag.
    pub payload: serde_json::Value,
}

/// The range of sequence numbers one accepted command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub command_id: Uuid,
    pub first_seq: i64,
    pub last_seq: i64,
    pub at: DateTime<Utc>,
    /// The engine's fingerprint of the command (its bits as `i64`), to refuse the id
    /// reused for another command after a restart; `None` when unknown.
    pub fingerprint: Option<i64>,
}

/// Everything one group commit writes, in one transaction: the events of many commands,
/// their idempotency records and the projection rows those events changed.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    pub venue_id: Uuid,
    pub events: Vec<StoredEvent>,
    pub commands: Vec<CommandRecord>,
    pub orders: Vec<OrderRow>,
    pub lines: Vec<OrderLineRow>,
    pub tables: Vec<TableRow>,
    pub removed_tables: Vec<Uuid>,
}

/// Projection of an order for reports and outside readers. `document` is the full order
/// as the API shows it, so an order that has left the engine's memory can still be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: Uuid,
    pub venue_id: Uuid,
    pub number: i64,
    /// `dine_in`, `takeaway` or `delivery`.
    pub kind: String,
    /// `open`, `closed` or `cancelled`.
    pub status: String,
    pub table_id: Option<Uuid>,
    pub guests: Option<i32>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub delivery_address: Option<String>,
    pub channel: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Sum of the non-voided lines, in minor units.
    pub subtotal: i64,
    pub document: serde_json::Value,
}

/// Projection of one order line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderLineRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub venue_id: Uuid,
    /// Position of the line within its order, from 0.
    pub position: i32,
    pub menu_item_id: Uuid,
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
    /// Quantity x (unit price + modifier deltas), in minor units.
    pub line_total: i64,
    pub seat: Option<i32>,
    pub course: i32,
    /// `new`, `fired`, `in_progress`, `ready`, `served` or `voided`.
    pub status: String,
    pub note: Option<String>,
    pub void_reason: Option<String>,
    pub added_at: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ready_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
}

/// Projection of a table's layout and live state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableRow {
    pub id: Uuid,
    pub venue_id: Uuid,
    pub area_id: Uuid,
    pub label: String,
    pub seats: i32,
    /// `available`, `seated`, `ordered`, `food_ready`, `bill_requested`, `needs_cleaning`.
    pub status: String,
    pub guests: Option<i32>,
    pub seated_at: Option<DateTime<Utc>>,
    pub server_id: Option<Uuid>,
    pub merged_into: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: Uuid,
    pub name: String,
}

/// A venue known to this hub: the registry the engine reads at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Short unique name used at login (`demo`).
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A username's entry in the hub-wide register: the one staff member it logs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameClaim {
    /// ASCII-lowercased, as venues compare usernames.
    pub username: String,
    pub venue_id: Uuid,
    pub staff_id: Uuid,
    /// Stored with microsecond precision.
    pub claimed_at: DateTime<Utc>,
}

/// What claiming a username found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The username was free and is now held by the claimant.
    Claimed,
    /// The claimant (same venue and staff member) already held it: a retry.
    AlreadyHeld,
    /// Someone else holds it.
    HeldBy(UsernameClaim),
}

/// One temperature reading of one probe, as the MQTT bridge accepted it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadingRow {
    pub venue_id: VenueId,
    pub device_id: DeviceId,
    /// The probe's name on its device (`main`, `core`, `ambient`).
    pub probe: String,
    pub celsius: f64,
    /// Device time when the device has a clock, else the hub's receive time. Stored with
    /// microsecond precision; with the venue, device and probe it identifies the reading.
    pub measured_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// A reading with the calendar day, in its venue's timezone, whose summary it counts
/// towards. The recorder fills `day` in, so the store needs no timezone rules.
#[derive(Clone, Debug, PartialEq)]
pub struct DatedReading {
    pub reading: ReadingRow,
    pub day: NaiveDate,
}

/// What one probe measured during one venue-local day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadingDay {
    pub venue_id: VenueId,
    pub device_id: DeviceId,
    pub probe: String,
    pub day: NaiveDate,
    pub count: i64,
    pub min_celsius: f64,
    pub max_celsius: f64,
    /// Sum of all readings, so batches can add to it; see [`ReadingDay::mean_celsius`].
    pub sum_celsius: f64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl ReadingDay {
    pub fn mean_celsius(&self) -> f64 {
        // `count` is at least 1 for every stored summary (the schema checks it).
        self.sum_celsius / self.count.max(1) as f64
    }
}

/// Filters for reading the audit journal. All filters combine with AND.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub venue_id: Uuid,
    /// Only events with `seq > after_seq`.
    pub after_seq: Option<i64>,
    /// Only events with `seq < before_seq` (paging backwards).
    pub before_seq: Option<i64>,
    /// Only these event kinds (empty: all).
    pub kinds: Vec<String>,
    pub staff_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    /// Only events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only events strictly before this instant: a half-open range, so consecutive windows
    /// (one shift, the next shift) never count an event twice.
    pub to: Option<DateTime<Utc>>,
    /// Newest first when true (audit screens), oldest first otherwise (replay).
    pub newest_first: bool,
    /// At most this many events; clamped to 1..=1000.
    pub limit: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out: the caller should answer 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was violated (e.g. a command id or a sequence number twice).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// Anything else: a bug or corrupt data.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The one persistence interface. Implementations must make `append` atomic: either every
/// event, command record and projection row of the commit is durable, or none is.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Registers a venue (and its tenant, if new). Fails with `Conflict` on a duplicate slug.
    async fn create_venue(&self, tenant: &TenantRecord, venue: &VenueRecord) -> StoreResult<()>;

    /// First-run setup: registers the hub's first tenant and venue and claims the owner's
    /// username, all in one transaction, but only if the store has no venue at all. Decided
    /// by the database, not by any hub's memory, so two hubs sharing it cannot both set up.
    /// Returns false (and writes nothing) when a venue exists.
    async fn create_first_venue(
        &self,
        tenant: &TenantRecord,
        venue: &VenueRecord,
        owner: &UsernameClaim,
    ) -> StoreResult<bool>;

    async fn list_venues(&self) -> StoreResult<Vec<VenueRecord>>;

    /// Claims `claim.username` for its staff member unless someone else holds it.
    async fn claim_username(&self, claim: &UsernameClaim) -> StoreResult<ClaimOutcome>;

    /// Moves a username from `held` (a claim whose staff member never came to exist) to
    /// `claim`; false if `held` no longer holds it.
    async fn take_over_username(
        &self,
        held: &UsernameClaim,
        claim: &UsernameClaim,
    ) -> StoreResult<bool>;

    /// Drops the claim if that staff member still holds that username.
    async fn release_username(&self, claim: &UsernameClaim) -> StoreResult<()>;

    /// Who holds a username (already ASCII-lowercased), if anyone.
    async fn username_claim(&self, username: &str) -> StoreResult<Option<UsernameClaim>>;

    /// Writes one group commit in a single transaction.
    async fn append(&self, commit: &Commit) -> StoreResult<()>;

    /// Events of a venue with `seq > after_seq`, oldest first, at most `limit`: for replay.
    async fn load_events(
        &self,
        venue_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The newest `limit` command records of a venue, newest first: the idempotency
    /// window a venue starts with.
    async fn recent_commands(&self, venue_id: Uuid, limit: i64) -> StoreResult<Vec<CommandRecord>>;

    /// The audit journal with filters.
    async fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>>;

    /// The sequence of the newest journal entry of a venue (0 when empty).
    async fn last_seq(&self, venue_id: Uuid) -> StoreResult<i64>;

    /// Stores a snapshot of a venue's state as of `seq`; older snapshots may be pruned
    /// (keep at least the newest two).
    async fn save_snapshot(
        &self,
        venue_id: Uuid,
        seq: i64,
        state: &serde_json::Value,
    ) -> StoreResult<()>;

    /// The newest snapshot of a venue, as `(seq, state)`.
    async fn load_snapshot(&self, venue_id: Uuid) -> StoreResult<Option<(i64, serde_json::Value)>>;

    /// The projected document of an order (for orders no longer held in memory).
    async fn order_document(
        &self,
        venue_id: Uuid,
        order_id: Uuid,
    ) -> StoreResult<Option<serde_json::Value>>;

    /// Returns the stored value of a hub setting, storing `value` first if the key is absent
    /// (used for secrets that must survive restarts, like the token signing key).
    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String>;

    /// Stores a batch of temperature readings and adds them to their day summaries, in one
    /// transaction. A reading whose (venue, device, probe, `measured_at`) is already stored
    /// (a retried batch, a repeated message) is skipped and not counted again; returns how
    /// many readings were new. Times are kept to the microsecond.
    async fn append_readings(&self, rows: &[DatedReading]) -> StoreResult<usize>;

    /// The newest `limit` (clamped to 1..=10 000) readings of a device with
    /// `from <= measured_at < to`, of one probe or all, returned oldest first.
    async fn reading_history(
        &self,
        venue: VenueId,
        device: DeviceId,
        probe: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ReadingRow>>;

    /// Every probe's summary of one venue-local day, ordered by device and probe.
    async fn reading_days(&self, venue: VenueId, day: NaiveDate) -> StoreResult<Vec<ReadingDay>>;

    /// Deletes raw readings measured before `before` (retention); day summaries stay.
    /// Returns how many readings were deleted.
    async fn prune_readings(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Opens the store named by `database_url` (`postgres://...` or `sqlite://...`), or the
/// embedded SQLite file `<data_dir>/hub.db` when none is given, and applies migrations.
pub async fn connect(
    database_url: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn Store>> {
    use anyhow::Context as _;
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store = PostgresStore::connect(url)
                .await
                .context("connecting to Postgres (DATABASE_URL)")?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let store = SqliteStore::connect(url)
                .await
                .context("opening SQLite (DATABASE_URL)")?;
            Ok(Arc::new(store))
        }
        Some(other) => anyhow::bail!(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got {:?})",
            other.split(':').next().unwrap_or_default()
        ),
        None => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating data directory {}", data_dir.display()))?;
            let url = format!("sqlite://{}?mode=rwc", data_dir.join("hub.db").display());
            let store = SqliteStore::connect(&url)
                .await
                .with_context(|| format!("opening embedded SQLite at {}", data_dir.display()))?;
            Ok(Arc::new(store))
        }
    }
}
