//! Which screens are connected right now: device, who logged it in, its channels, when it
//! was last heard from and the last sequence it confirmed. Managers read it to find a
//! kitchen screen that has gone quiet.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Role, StaffId, VenueId};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ScreenPresence {
    pub connection: u64,
    pub venue_id: VenueId,
    pub device: Option<String>,
    pub staff_id: StaffId,
    pub role: Role,
    pub channels: Vec<String>,
    pub connected_at: DateTime<Utc>,
    pub last_heard_at: DateTime<Utc>,
    /// Highest sequence the screen confirmed rendering (`seen`), if it ever did.
    pub seen_seq: Option<u64>,
    /// How many events the venue is ahead of what the screen confirmed (filled when read).
    pub lag: Option<u64>,
}

#[derive(Default)]
pub struct Presence {
    next_id: AtomicU64,
    screens: DashMap<u64, ScreenPresence>,
}

impl Presence {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn upsert(&self, screen: ScreenPresence) {
        self.screens.insert(screen.connection, screen);
    }

    pub fn update(&self, connection: u64, change: impl FnOnce(&mut ScreenPresence)) {
        if let Some(mut screen) = self.screens.get_mut(&connection) {
            change(&mut screen);
        }
    }

    pub fn remove(&self, connection: u64) {
        self.screens.remove(&connection);
    }

    /// The screens of one venue, by connection id, with their lag behind `venue_seq`.
    pub fn of_venue(&self, venue: VenueId, venue_seq: u64) -> Vec<ScreenPresence> {
        let mut screens: Vec<ScreenPresence> = self
            .screens
            .iter()
            .filter(|s| s.venue_id == venue)
            .map(|s| {
                let mut screen = s.value().clone();
                screen.lag = screen.seen_seq.map(|seen| venue_seq.saturating_sub(seen));
                screen
            })
            .collect();
        screens.sort_by_key(|s| s.connection);
        screens
    }
}
