//! Rebuilding a venue after a start or a failed commit: the newest snapshot, then every
//! journal event after it, applied in sequence order. A gap or an unreadable event stops
//! the venue from starting rather than serving a state that differs from the journal.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{fingerprint, idempotency::RecentCommands};
use crate::{
    domain::{Event, Venue},
    store::{Store, StoreError},
};

/// Bumped whenever `Venue`'s serialised shape changes incompatibly; an older snapshot is
/// then ignored and the journal replayed from the start.
pub const SNAPSHOT_FORMAT: u32 = 2;

const REPLAY_PAGE: i64 = 5000;

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub seq: u64,
    pub venue: Venue,
    pub recent: RecentCommands,
    /// The scheme `recent`'s fingerprints were made under; absent (0) in snapshots written
    /// before fingerprints stopped being SHA-256 of the JSON, whose are then forgotten.
    #[serde(default)]
    pub fingerprint_scheme: u32,
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
                recovered.recent = snapshot.recent;
                if snapshot.fingerprint_scheme != fingerprint::SCHEME {
                    recovered.recent.forget_fingerprints();
                }
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
