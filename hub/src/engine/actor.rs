//! The venue actor's loop. It drains its queue into a batch, decides each command against
//! the state (later commands see the effects of earlier ones), appends every event of the
//! batch in one transaction, then publishes and answers. While a transaction is in flight
//! new requests wait in the queue and form the next batch: that is the group commit.
//!
//! The actor keeps two copies of the venue: `working`, against which commands are decided
//! and events applied as the batch is built, and `committed`, which only receives events
//! once their transaction has committed. Reads and answers wait until the batch's
//! transaction has committed and are then served from `working`, which by then holds
//! exactly the committed events, so nothing anyone sees is ever ahead of the store. If the
//! append fails, `working` is reset from `committed`, the batch is answered `Unavailable`,
//! and the venue is re-read from the store before it accepts commands again (the commit
//! may have reached the store even though its acknowledgement did not reach us).
//!
//! A snapshot shares `committed` (an `Arc`) with the thread that serialises it, so taking
//! one costs the writer nothing. While it is shared, committed events wait in `lag` and
//! are applied once the snapshot lets go: the writer's cost follows what changed.

use std::{sync::Arc, time::Instant};

use chrono::Utc;
use tokio::sync::{broadcast, mpsc};

use super::{
    EngineConfig, EngineError, Outcome, Published, StaffRoster, fingerprint,
    handle::{Request, Responder},
    idempotency::{self, RecentCommands},
    projection::Touched,
    recovery::{self, Recovered, SNAPSHOT_FORMAT, SnapshotOf},
};
use crate::{
    domain::{Event, Venue, VenueId},
    metrics::Metrics,
    store::{CommandRecord, Commit, Store, StoredEvent},
};

pub(super) struct VenueActor {
    pub id: VenueId,
    pub slug: Arc<str>,
    /// State as of the last committed event, less `lag`; shared with a snapshot being
    /// serialised. `working` is reset from it when a batch is abandoned.
    pub committed: Arc<Venue>,
    /// Committed events not yet applied to `committed` because a snapshot shares it.
    pub lag: Vec<Event>,
    /// `committed` plus the effects of the batch being built.
    pub working: Venue,
    pub seq: u64,
    pub snapshot_seq: u64,
    pub recent: RecentCommands,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub config: EngineConfig,
    pub feed: broadcast::Sender<Arc<Published>>,
    /// The staff standing authentication reads; updated after each commit.
    pub roster: Arc<StaffRoster>,
    /// False after a failed append until the state has been rebuilt from the store.
    pub in_sync: bool,
    /// A snapshot being serialised and written off the actor; yields its seq when stored.
    pub snapshot_task: Option<tokio::task::JoinHandle<Option<u64>>>,
}

/// A request of the current batch waiting for the commit before it is answered.
enum Pending {
    Execute(Responder, Result<Outcome, EngineError>),
    Read(super::handle::Reader),
}

impl VenueActor {
    pub fn new(
        id: VenueId,
        slug: Arc<str>,
        recovered: Recovered,
        store: Arc<dyn Store>,
        metrics: Metrics,
        config: EngineConfig,
        feed: broadcast::Sender<Arc<Published>>,
    ) -> Self {
        let roster = Arc::new(StaffRoster::of(&recovered.venue));
        Self {
            id,
            slug,
            working: recovered.venue.clone(),
            committed: Arc::new(recovered.venue),
            lag: Vec::new(),
            seq: recovered.seq,
            snapshot_seq: recovered.snapshot_seq,
            recent: recovered.recent,
            store,
            metrics,
            config,
            feed,
            roster,
            in_sync: true,
            snapshot_task: None,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let max_batch = self.config.max_batch.max(1);
        let mut batch = Vec::with_capacity(max_batch);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            let mut commands = usize::from(matches!(batch[0], Request::Execute(..)));
            while commands < max_batch {
                match rx.try_recv() {
                    Ok(request) => {
                        commands += usize::from(matches!(request, Request::Execute(..)));
                        batch.push(request);
                    }
                    Err(_) => break,
                }
            }
            if let Some(done) = self.process(&mut batch).await {
                self.write_snapshot().await;
                let _ = done.send(());
                return;
            }
        }
        self.write_snapshot().await;
    }

    /// Handles one batch; returns the shutdown reply if the batch asked to stop.
    async fn process(
        &mut self,
        batch: &mut Vec<Request>,
    ) -> Option<tokio::sync::oneshot::Sender<()>> {
        if !self.in_sync && !self.resync().await {
            return answer_unavailable(
                batch.drain(..),
                &self.working,
                self.seq,
                "store unavailable",
            );
        }
        let now = Utc::now();
        let mut commit = Commit {
            venue_id: self.id.0,
            ..Commit::default()
        };
        let mut touched = Touched::default();
        let mut applied = Vec::new();
        let mut accepted = 0;
        let mut pending = Vec::with_capacity(batch.len());
        let mut shutdown = None;
        let first_new_seq = self.seq + 1;

        for request in batch.drain(..) {
            match request {
                Request::Read(reader) => pending.push(Pending::Read(reader)),
                Request::Shutdown(done) => shutdown = Some(done),
                Request::Execute(envelope, responder) => {
                    let fingerprint = fingerprint::fingerprint(&envelope.command);
                    if let Some(recorded) = self.recent.get(&envelope.command_id) {
                        if let (Some(then), Some(now)) = (recorded.fingerprint, fingerprint)
                            && then != now
                        {
                            let rejection = crate::domain::Rejection::conflict(
                                crate::domain::RejectionCode::CommandIdReused,
                                "this command_id was already used for a different command; use a new id",
                            );
                            self.metrics
                                .command_rejected(&self.slug, rejection.code.as_str());
                            pending.push(Pending::Execute(responder, Err(rejection.into())));
                            continue;
                        }
                        self.metrics.command_duplicate(&self.slug);
                        let outcome = Outcome {
                            first_seq: recorded.first_seq,
                            last_seq: recorded.last_seq,
                            replayed: true,
                        };
                        pending.push(Pending::Execute(responder, Ok(outcome)));
                        continue;
                    }
                    match self.working.decide(&envelope.command, &envelope.actor, now) {
                        Err(rejection) => {
                            self.metrics
                                .command_rejected(&self.slug, rejection.code.as_str());
                            pending.push(Pending::Execute(responder, Err(rejection.into())));
                        }
                        Ok(events) => {
                            let payloads = match journal_payloads(&events) {
                                Ok(payloads) => payloads,
                                Err(error) => {
                                    tracing::error!(venue = %self.slug, command = envelope.command.name(), %error, "an event of the command cannot be serialised for the journal; the command is refused and nothing of it kept");
                                    self.metrics.command_unavailable(&self.slug);
                                    let error = EngineError::Internal(format!(
                                        "an event of {} could not be serialised: {error}",
                                        envelope.command.name()
                                    ));
                                    pending.push(Pending::Execute(responder, Err(error)));
                                    continue;
                                }
                            };
                            let first_seq = self.seq + 1;
                            let command_last_seq = self.seq + events.len() as u64;
                            for (event, payload) in events.into_iter().zip(payloads) {
                                self.seq += 1;
                                self.working.apply(&event);
                                touched.note(&event, &self.working);
                                commit.events.push(StoredEvent {
                                    venue_id: self.id.0,
                                    seq: seq_to_i64(self.seq),
                                    at: now,
                                    command_id: envelope.command_id,
                                    staff_id: envelope.actor.staff_id.map(|s| s.0),
                                    device: envelope.actor.device.clone(),
                                    kind: event.kind().to_owned(),
                                    payload,
                                });
                                applied.push(Published {
                                    seq: self.seq,
                                    command_last_seq,
                                    at: now,
                                    command_id: envelope.command_id,
                                    actor: envelope.actor.clone(),
                                    event,
                                });
                            }
                            self.recent.record(
                                envelope.command_id,
                                first_seq,
                                self.seq,
                                fingerprint,
                            );
                            commit.commands.push(CommandRecord {
                                command_id: envelope.command_id,
                                first_seq: seq_to_i64(first_seq),
                                last_seq: seq_to_i64(self.seq),
                                at: now,
                                fingerprint: idempotency::stored_fingerprint(fingerprint),
                            });
                            accepted += 1;
                            let outcome = Outcome {
                                first_seq,
                                last_seq: self.seq,
                                replayed: false,
                            };
                            pending.push(Pending::Execute(responder, Ok(outcome)));
                        }
                    }
                }
            }
        }

        if !commit.events.is_empty() {
            if let Err(error) = touched.write_rows(&self.working, &mut commit) {
                tracing::error!(venue = %self.slug, %error, "an order document cannot be serialised; nothing of the batch is kept");
                self.abandon(&commit, first_new_seq);
                let message = format!("an order document could not be serialised: {error}");
                for request in pending {
                    match request {
                        Pending::Execute(responder, _) => {
                            self.metrics.command_unavailable(&self.slug);
                            responder(&self.working, Err(EngineError::Internal(message.clone())));
                        }
                        Pending::Read(reader) => reader(&self.working, self.seq),
                    }
                }
                return shutdown;
            }
            let started = Instant::now();
            let result = self.store.append(&commit).await;
            self.metrics
                .observe_commit(started.elapsed(), commit.commands.len());
            if let Err(error) = result {
                tracing::error!(venue = %self.slug, %error, events = commit.events.len(), "group commit failed; nothing of the batch is kept");
                self.abandon(&commit, first_new_seq);
                self.in_sync = false;
                let message = error.to_string();
                for request in pending {
                    match request {
                        Pending::Execute(responder, _) => {
                            self.metrics.command_unavailable(&self.slug);
                            responder(
                                &self.working,
                                Err(EngineError::Unavailable(message.clone())),
                            );
                        }
                        Pending::Read(reader) => reader(&self.working, self.seq),
                    }
                }
                return shutdown;
            }
            for published in &applied {
                self.roster.note(&published.event, &self.working);
            }
            self.catch_up(applied.iter().map(|published| &published.event));
            for _ in 0..accepted {
                self.metrics.command_accepted(&self.slug);
            }
            self.publish(applied);
            self.metrics
                .set_open_orders(&self.slug, self.working.open_orders().count());
        }

        for request in pending {
            match request {
                Pending::Execute(responder, outcome) => responder(&self.working, outcome),
                Pending::Read(reader) => reader(&self.working, self.seq),
            }
        }
        self.snapshot_in_background().await;
        shutdown
    }

    /// Takes back what a batch that will not be committed did to `working` and the window.
    fn abandon(&mut self, commit: &Commit, first_new_seq: u64) {
        let mut venue = Venue::clone(&self.committed);
        for event in &self.lag {
            venue.apply(event);
        }
        self.working = venue;
        self.seq = first_new_seq - 1;
        for record in &commit.commands {
            self.recent.forget(&record.command_id);
        }
    }

    /// Brings `committed` up to date with `events` (just committed), unless a snapshot
    /// still shares it: then they wait in `lag` for the next call.
    fn catch_up<'a>(&mut self, events: impl Iterator<Item = &'a Event>) {
        match Arc::get_mut(&mut self.committed) {
            Some(committed) => {
                for event in self.lag.drain(..) {
                    committed.apply(&event);
                }
                for event in events {
                    committed.apply(event);
                }
            }
            None => self.lag.extend(events.cloned()),
        }
    }

    /// Hands committed events to the live feed (screens subscribe to it).
    fn publish(&self, applied: Vec<Published>) {
        if self.feed.receiver_count() == 0 {
            return;
        }
        for published in applied {
            let _ = self.feed.send(Arc::new(published));
        }
    }

    /// Re-reads the venue from the store after a failed append. Returns whether it worked.
    async fn resync(&mut self) -> bool {
        match recovery::recover(self.store.as_ref(), self.id.0).await {
            Ok(recovered) => {
                self.committed = Arc::new(recovered.venue.clone());
                self.lag.clear();
                self.working = recovered.venue;
                self.seq = recovered.seq;
                self.snapshot_seq = recovered.snapshot_seq;
                self.recent = recovered.recent;
                self.roster.rebuild(&self.working);
                self.in_sync = true;
                tracing::info!(venue = %self.slug, seq = self.seq, "venue rebuilt from the store");
                true
            }
            Err(error) => {
                tracing::warn!(venue = %self.slug, %error, "store still unavailable");
                false
            }
        }
    }

    /// The state to snapshot now, shared rather than copied, or `None` when there is
    /// nothing new, the state is not known to match the store, or an earlier snapshot
    /// still holds `committed` (so it cannot be brought up to date).
    fn snapshot(&mut self) -> Option<(u64, Arc<Venue>)> {
        if !self.in_sync || self.seq == self.snapshot_seq || self.seq == 0 {
            return None;
        }
        self.catch_up(std::iter::empty());
        if !self.lag.is_empty() {
            return None;
        }
        Some((self.seq, Arc::clone(&self.committed)))
    }

    /// Every `snapshot_every` events, writes a snapshot without holding up commands: the
    /// actor only shares its committed state; serialising and storing happen elsewhere.
    async fn snapshot_in_background(&mut self) {
        if let Some(task) = self.snapshot_task.take_if(|task| task.is_finished())
            && let Ok(Some(seq)) = task.await
        {
            self.snapshot_seq = self.snapshot_seq.max(seq);
        }
        if self.snapshot_task.is_some() || self.seq - self.snapshot_seq < self.snapshot_interval() {
            return;
        }
        if let Some((seq, snapshot)) = self.snapshot() {
            let (store, venue, slug) = (self.store.clone(), self.id.0, self.slug.clone());
            self.snapshot_task = Some(tokio::spawn(async move {
                save_snapshot(store, venue, &slug, seq, snapshot)
                    .await
                    .then_some(seq)
            }));
        }
    }

    /// Events between background snapshots: `snapshot_every`, stretched in proportion to
    /// the orders the venue holds beyond [`ORDERS_PER_SNAPSHOT_STEP`]. A snapshot costs
    /// O(state) to serialise, so a fixed interval made every command dearer the more orders
    /// were open (a third of the hub's CPU at 5,000 open orders); this way its share per
    /// event stays flat, and a restart replays at most about as many events as the state
    /// it would have loaded.
    fn snapshot_interval(&self) -> u64 {
        snapshot_interval(self.config.snapshot_every, self.working.orders.len())
    }

    /// The snapshot at shutdown, awaited, so the next start replays almost nothing.
    async fn write_snapshot(&mut self) {
        if let Some(task) = self.snapshot_task.take()
            && let Ok(Some(seq)) = task.await
        {
            self.snapshot_seq = self.snapshot_seq.max(seq);
        }
        if let Some((seq, snapshot)) = self.snapshot()
            && save_snapshot(self.store.clone(), self.id.0, &self.slug, seq, snapshot).await
        {
            self.snapshot_seq = seq;
        }
    }
}

/// Orders held per step of the snapshot interval.
const ORDERS_PER_SNAPSHOT_STEP: u64 = 250;

/// `snapshot_every`, once more for every [`ORDERS_PER_SNAPSHOT_STEP`] orders held.
fn snapshot_interval(snapshot_every: u64, orders_held: usize) -> u64 {
    let steps = (orders_held as u64 / ORDERS_PER_SNAPSHOT_STEP).max(1);
    snapshot_every.saturating_mul(steps)
}

/// Serialises (on a blocking thread: a big venue takes milliseconds) and stores a snapshot.
async fn save_snapshot(
    store: Arc<dyn Store>,
    venue: uuid::Uuid,
    slug: &str,
    seq: u64,
    state: Arc<Venue>,
) -> bool {
    // The closure owns the shared state and drops it once serialised, so the writer can
    // bring `committed` up to date again without waiting for the store.
    let serialise = move || {
        serde_json::to_value(SnapshotOf {
            format: SNAPSHOT_FORMAT,
            seq,
            venue: &state,
        })
    };
    let state = match tokio::task::spawn_blocking(serialise).await {
        Ok(Ok(state)) => state,
        Ok(Err(error)) => {
            tracing::error!(venue = %slug, %error, "snapshot could not be serialised");
            return false;
        }
        Err(error) => {
            tracing::error!(venue = %slug, %error, "snapshot task failed");
            return false;
        }
    };
    match store.save_snapshot(venue, seq_to_i64(seq), &state).await {
        Ok(()) => {
            tracing::debug!(venue = %slug, seq, "snapshot written");
            true
        }
        Err(error) => {
            tracing::warn!(venue = %slug, %error, "snapshot not written; will retry");
            false
        }
    }
}

/// The journal payload of each event of a command, all or none: an event that cannot be
/// serialised fails its command, never stored as `null`.
fn journal_payloads<T: serde::Serialize>(
    events: &[T],
) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    events.iter().map(serde_json::to_value).collect()
}

fn seq_to_i64(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn answer_unavailable(
    requests: impl Iterator<Item = Request>,
    state: &Venue,
    seq: u64,
    message: &str,
) -> Option<tokio::sync::oneshot::Sender<()>> {
    let mut shutdown = None;
    for request in requests {
        match request {
            Request::Execute(_, responder) => {
                responder(state, Err(EngineError::Unavailable(message.to_owned())));
            }
            Request::Read(reader) => reader(state, seq),
            Request::Shutdown(done) => shutdown = Some(done),
        }
    }
    shutdown
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use serde::ser::{Error as _, Serialize, Serializer};

    use super::{journal_payloads, snapshot_interval};

    #[test]
    fn a_venue_holding_more_orders_snapshots_less_often_so_each_event_pays_the_same() {
        // A small venue (and every test that sets a tiny interval) keeps `snapshot_every`.
        assert_eq!(snapshot_interval(1000, 0), 1000);
        assert_eq!(snapshot_interval(7, 249), 7);
        assert_eq!(snapshot_interval(1000, 499), 1000);
        // Then once more per 250 orders held: 5,000 open orders snapshot every 20,000 events.
        assert_eq!(snapshot_interval(1000, 500), 2000);
        assert_eq!(snapshot_interval(1000, 5000), 20_000);
        assert_eq!(snapshot_interval(u64::MAX, 5000), u64::MAX);
    }

    /// Stands for an event: one of them fails to serialise, as a map with non-string
    /// keys would.
    enum Payload {
        Fine(u32),
        Broken,
    }

    impl Serialize for Payload {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Payload::Fine(value) => value.serialize(serializer),
                Payload::Broken => Err(S::Error::custom("this event cannot be written")),
            }
        }
    }

    #[test]
    fn an_event_that_cannot_be_serialised_fails_its_command_instead_of_storing_null() {
        let error =
            journal_payloads(&[Payload::Fine(1), Payload::Broken, Payload::Fine(2)]).unwrap_err();
        assert!(error.to_string().contains("this event cannot be written"));
        let payloads = journal_payloads(&[Payload::Fine(1), Payload::Fine(2)]).unwrap();
        assert_eq!(payloads, vec![serde_json::json!(1), serde_json::json!(2)]);
    }

    /// Mean of a histogram in the metrics text: `<name>_sum / <name>_count`.
    fn histogram_mean(text: &str, name: &str) -> (f64, f64) {
        let read = |suffix: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}_{suffix} ")))
                .and_then(|value| value.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (read("sum"), read("count"))
    }

    /// Figures, not an assertion: commands per group commit with 8 and 32 closed-loop
    /// clients opening takeaway orders straight on the engine (SQLite, no HTTP).
    /// `cargo test -p hub --lib group_commit_batches -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "prints figures"]
    async fn group_commit_batches() {
        use std::time::{Duration, Instant};

        use uuid::Uuid;

        use crate::{
            domain::{Actor, Command, LineId, LineInput, OrderId, OrderKind, Role},
            engine::{Engine, EngineConfig, Envelope},
            metrics::Metrics,
            store,
        };

        for clients in [1usize, 8, 32] {
            let dir = tempfile::TempDir::new().unwrap();
            let store = store::connect(None, dir.path()).await.unwrap();
            let metrics = Metrics::new();
            let engine = Engine::start(store, metrics.clone(), EngineConfig::default())
                .await
                .unwrap();
            crate::demo::seed_if_empty(&engine, b"group-commit-pin-key")
                .await
                .unwrap();
            let venue = engine.venues()[0].clone();
            let (owner, item) = venue
                .read(|venue| {
                    let owner = venue
                        .staff
                        .values()
                        .find(|m| m.role == Role::Owner)
                        .unwrap()
                        .id;
                    let item = venue
                        .items
                        .values()
                        .find(|i| i.active && i.available && i.modifier_groups.is_empty())
                        .unwrap()
                        .id;
                    (owner, item)
                })
                .await
                .unwrap();
            let (before_sum, before_count) =
                histogram_mean(&metrics.encode(), "hub_commit_batch_size");
            let until = Instant::now() + Duration::from_secs(3);
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let venue = venue.clone();
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while Instant::now() < until {
                            let command = Command::OpenOrder {
                                order_id: OrderId(Uuid::new_v4()),
                                kind: OrderKind::Takeaway,
                                table_id: None,
                                guests: None,
                                customer: None,
                                channel: None,
                                note: None,
                                lines: vec![LineInput {
                                    line_id: LineId(Uuid::new_v4()),
                                    menu_item_id: item,
                                    quantity: 1,
                                    modifiers: Vec::new(),
                                    seat: None,
                                    course: None,
                                    note: None,
                                }],
                                hold: false,
                            };
                            let envelope = Envelope {
                                command_id: Uuid::new_v4(),
                                actor: Actor::staff(owner, Role::Owner, None),
                                command,
                            };
                            venue.execute(envelope).await.unwrap();
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            let mut orders = 0;
            for task in tasks {
                orders += task.await.unwrap();
            }
            let (sum, count) = histogram_mean(&metrics.encode(), "hub_commit_batch_size");
            let (sum, count) = (sum - before_sum, count - before_count);
            println!(
                "{clients:>2} clients: {:.0} orders/s, {count} commits, {:.2} commands per commit",
                orders as f64 / 3.0,
                sum / count.max(1.0)
            );
            engine.shutdown().await;
        }
    }
}
