//! Rebuilding a venue after a start or a failed commit: the newest snapshot, then every
//! journal event after it, applied in sequence order. A gap or an unreadable event stops
//! the venue from starting rather than serving a state that differs from the journal.
//! The idempotency window comes from the store's newest command records, not from the
//! snapshot, so a snapshot is only the venue.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::idempotency::{self, REMEMBERED_COMMANDS, RecentCommands};
use crate::{
    domain::{Event, Venue},
    store::{Store, StoreError},
};

/// Bumped whenever `Venue`'s serialised shape changes incompatibly; an older snapshot is
/// then ignored and the journal replayed from the start.
pub const SNAPSHOT_FORMAT: u32 = 2;

const REPLAY_PAGE: i64 = 5000;

/// A stored snapshot as read back.
#[derive(Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub seq: u64,
    /// Snapshots written before the window left them also hold `recent`, which is ignored.
    pub venue: Venue,
}

/// A snapshot as the writer hands it to be serialised: the venue borrowed from the state
/// it shares, in the same shape as [`Snapshot`].
#[derive(Serialize)]
pub struct SnapshotOf<'a> {
    pub format: u32,
    pub seq: u64,
    pub venue: &'a Venue,
}

pub struct Recovered {
    pub venue: Venue,
    pub seq: u64,
    pub snapshot_seq: u64,
    pub recent: RecentCommands,
    pub replayed_events: u64,
}

pub async fn recover(store: &dyn Store, venue_id: Uuid) -> Result<Recovered, StoreError> {
    let mut recovered = Recovered {
        venue: Venue::default(),
        seq: 0,
        snapshot_seq: 0,
        recent: RecentCommands::default(),
        replayed_events: 0,
    };
    if let Some((snapshot_seq, state)) = store.load_snapshot(venue_id).await? {
        match serde_json::from_value::<Snapshot>(state) {
            Ok(snapshot)
                if snapshot.format == SNAPSHOT_FORMAT
                    && i64::try_from(snapshot.seq).ok() == Some(snapshot_seq) =>
            {
                recovered.venue = snapshot.venue;
                recovered.seq = snapshot.seq;
                recovered.snapshot_seq = snapshot.seq;
            }
            Ok(_) => {
                tracing::warn!(%venue_id, "snapshot of an older format: replaying the whole journal")
            }
            Err(error) => {
                tracing::warn!(%venue_id, %error, "unreadable snapshot: replaying the whole journal")
            }
        }
    }
    let newest = store
        .recent_commands(
            venue_id,
            i64::try_from(REMEMBERED_COMMANDS).unwrap_or(i64::MAX),
        )
        .await?;
    for record in newest.iter().rev() {
        recovered.recent.record(
            record.command_id,
            u64::try_from(record.first_seq).unwrap_or_default(),
            u64::try_from(record.last_seq).unwrap_or_default(),
            idempotency::loaded_fingerprint(record.fingerprint),
        );
    }
    // Events after the snapshot are also noted, in case a record is missing; a command the
    // window already has only has its range confirmed.
    loop {
        let after = i64::try_from(recovered.seq).unwrap_or(i64::MAX);
        let page = store.load_events(venue_id, after, REPLAY_PAGE).await?;
        if page.is_empty() {
            break;
        }
        for stored in page {
            let expected = recovered.seq + 1;
            if u64::try_from(stored.seq).ok() != Some(expected) {
                return Err(StoreError::Other(anyhow::anyhow!(
                    "journal of venue {venue_id} jumps from seq {} to {}",
                    recovered.seq,
                    stored.seq
                )));
            }
            let event: Event = serde_json::from_value(stored.payload).map_err(|error| {
                StoreError::Other(anyhow::anyhow!(
                    "event {} of venue {venue_id} cannot be read: {error}",
                    stored.seq
                ))
            })?;
            recovered.venue.apply(&event);
            recovered
                .recent
                .record(stored.command_id, expected, expected, None);
            recovered.seq = expected;
            recovered.replayed_events += 1;
        }
    }
    Ok(recovered)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use std::time::{Duration, Instant};

    use uuid::Uuid;

    use crate::{
        domain::{Actor, Command, LineId, LineInput, OrderId, OrderKind, Role, Venue},
        engine::{
            Engine, EngineConfig,
            idempotency::{REMEMBERED_COMMANDS, RecentCommands},
        },
        metrics::Metrics,
        store,
    };

    /// The demo venue with `open` takeaway orders of two lines each, decided and applied.
    async fn venue_with_open_orders(open: usize) -> Venue {
        let dir = tempfile::TempDir::new().unwrap();
        let store = store::connect(None, dir.path()).await.unwrap();
        let engine = Engine::start(store, Metrics::new(), EngineConfig::default())
            .await
            .unwrap();
        crate::demo::seed_if_empty(&engine, b"snapshot-cost-pin-key")
            .await
            .unwrap();
        let mut venue = engine.venues()[0].read(Venue::clone).await.unwrap();
        engine.shutdown().await;
        let owner = venue
            .staff
            .values()
            .find(|member| member.role == Role::Owner)
            .unwrap()
            .id;
        let actor = Actor::staff(owner, Role::Owner, None);
        let items: Vec<_> = venue
            .items
            .values()
            .filter(|item| item.active && item.available && item.modifier_groups.is_empty())
            .map(|item| item.id)
            .take(2)
            .collect();
        for n in 0..open {
            let command = Command::OpenOrder {
                order_id: OrderId(Uuid::new_v4()),
                kind: OrderKind::Takeaway,
                table_id: None,
                guests: None,
                customer: None,
                channel: None,
                note: None,
                lines: items
                    .iter()
                    .map(|item| LineInput {
                        line_id: LineId(Uuid::new_v4()),
                        menu_item_id: *item,
                        quantity: 1,
                        modifiers: Vec::new(),
                        seat: None,
                        course: None,
                        note: Some(format!("order {n}")),
                    })
                    .collect(),
                hold: false,
            };
            for event in venue.decide(&command, &actor, chrono::Utc::now()).unwrap() {
                venue.apply(&event);
            }
        }
        venue
    }

    fn mean<T>(rounds: u32, mut work: impl FnMut() -> T) -> Duration {
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(work());
        }
        started.elapsed() / rounds
    }

    /// Figures, not an assertion: what a snapshot cost the venue's writer before (cloning
    /// the venue and the 200k-entry idempotency window; now it shares the venue through an
    /// `Arc` and later applies the events committed meanwhile), and what serialising it
    /// costs the blocking thread. `cargo test -p hub --lib
    /// snapshot_cost -- --ignored --nocapture` (a debug build: divide by ~10 for release).
    #[tokio::test]
    #[ignore = "prints figures"]
    async fn snapshot_cost() {
        let venue = venue_with_open_orders(5000).await;
        assert_eq!(venue.open_orders().count(), 5000);
        let clone = mean(20, || venue.clone());
        let mut window = RecentCommands::default();
        for n in 0..REMEMBERED_COMMANDS as u64 {
            window.record(Uuid::new_v4(), n + 1, n + 1, Some(n));
        }
        let window_clone = mean(5, || window.clone());
        let serialise = mean(5, || serde_json::to_value(&venue).unwrap());
        println!(
            "5000 open orders: cloning the venue {clone:?} and the 200k-entry window \
             {window_clone:?}, both no longer done by the writer; serialising the venue (off \
             the writer) {serialise:?}"
        );
    }
}
