//! How far the device door (the MQTT directory) has put each venue's device registry in
//! force: the sequence number of the last venue event whose device changes it applied,
//! including closing every session a revoked credential had. The HTTP handlers that
//! provision, enable, disable, rotate or remove a device wait on it before they answer,
//! so an answer means the change already holds at the door. The directory reports here;
//! this file knows neither HTTP nor MQTT and does no I/O.

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use tokio::sync::watch;

use crate::domain::VenueId;

/// Shared by the directory (which reports) and the HTTP handlers (which wait).
#[derive(Clone, Default)]
pub struct DeviceSync {
    applied: Arc<DashMap<VenueId, watch::Sender<u64>>>,
}

impl DeviceSync {
    /// The door is about to follow `venue`: from now on waits for the venue's changes wait
    /// for the door. Called before the door takes its first view of the venue, so a change
    /// answered after this call is either in that view or waited for.
    pub fn following(&self, venue: VenueId) {
        self.applied
            .entry(venue)
            .or_insert_with(|| watch::channel(0).0);
    }

    /// Every change of `venue` up to and including `seq` is in force at the door.
    pub fn applied(&self, venue: VenueId, seq: u64) {
        if let Some(sender) = self.applied.get(&venue) {
            sender.send_if_modified(|applied| {
                let newer = seq > *applied;
                if newer {
                    *applied = seq;
                }
                newer
            });
        }
    }

    /// The door no longer follows `venue` (it stopped, or could not be loaded): nobody
    /// waits for it any more.
    pub fn stopped(&self, venue: VenueId) {
        self.applied.remove(&venue);
    }

    /// Waits until the changes of `venue` through `seq` are in force at the door. True at
    /// once when the door does not follow the venue (no MQTT, or no device of the venue
    /// looked up yet: the door then loads the venue as it is now). False when `patience`
    /// ran out first.
    pub async fn settled(&self, venue: VenueId, seq: u64, patience: Duration) -> bool {
        let Some(mut applied) = self.applied.get(&venue).map(|sender| sender.subscribe()) else {
            return true;
        };
        // Reached, or the door stopped following (its sender dropped): either way done.
        tokio::time::timeout(patience, applied.wait_for(|applied| *applied >= seq))
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_venue_nobody_follows_is_settled_at_once() {
        let sync = DeviceSync::default();
        assert!(
            sync.settled(VenueId(uuid::Uuid::new_v4()), 7, Duration::from_millis(10))
                .await
        );
    }

    #[tokio::test]
    async fn a_wait_ends_when_the_door_has_applied_the_change() {
        let sync = DeviceSync::default();
        let venue = VenueId(uuid::Uuid::new_v4());
        sync.following(venue);
        sync.applied(venue, 3);
        assert!(!sync.settled(venue, 5, Duration::from_millis(20)).await);
        let waiting = {
            let sync = sync.clone();
            tokio::spawn(async move { sync.settled(venue, 5, Duration::from_secs(5)).await })
        };
        sync.applied(venue, 4);
        sync.applied(venue, 6);
        assert!(waiting.await.unwrap());
        assert!(sync.settled(venue, 2, Duration::from_millis(10)).await);
    }

    #[tokio::test]
    async fn a_door_that_stops_following_ends_the_wait() {
        let sync = DeviceSync::default();
        let venue = VenueId(uuid::Uuid::new_v4());
        sync.following(venue);
        let waiting = {
            let sync = sync.clone();
            tokio::spawn(async move { sync.settled(venue, 9, Duration::from_secs(5)).await })
        };
        tokio::task::yield_now().await;
        sync.stopped(venue);
        assert!(waiting.await.unwrap());
    }
}
