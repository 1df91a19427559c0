//! The hub-wide register of usernames: one username logs in exactly one staff member of one
//! venue, whichever tenant typed it. The store keeps the register, so hubs sharing a database
//! agree on it; this file claims a name before a staff member is added to a venue, lets go of
//! it when the venue refuses, and registers at start-up the names venues already had.
//! It decides nothing about passwords or roles.

use std::time::Duration;

use chrono::Utc;

use super::{EngineError, registry::Engine};
use crate::{
    domain::{Rejection, StaffId, VenueId, username_key},
    store::{ClaimOutcome, StoreError, UsernameClaim},
};

/// A claim whose staff member still does not exist after this long was left by a request
/// that never reached its venue (the hub stopped in between); it may be taken over.
const ABANDONED_AFTER: Duration = Duration::from_secs(30);

/// A username held for a staff member about to be added.
#[derive(Debug)]
pub struct UsernameHold {
    claim: UsernameClaim,
    /// False when the staff member already held it (a retried request): then a refusal of
    /// the retry must not let go of a name that is in use.
    fresh: bool,
}

fn unavailable(error: StoreError) -> EngineError {
    EngineError::Unavailable(error.to_string())
}

fn taken(username: &str) -> EngineError {
    EngineError::Rejected(Rejection::conflict(
        crate::domain::RejectionCode::UsernameTaken,
        format!("username {username:?} is taken"),
    ))
}

impl Engine {
    /// Holds `username` for staff member `staff` of `venue`, or refuses with
    /// `username_taken` when anyone else in the hub has it.
    pub async fn claim_username(
        &self,
        venue: VenueId,
        staff: StaffId,
        username: &str,
    ) -> Result<UsernameHold, EngineError> {
        let claim = UsernameClaim {
            username: username_key(username),
            venue_id: venue.0,
            staff_id: staff.0,
            claimed_at: Utc::now(),
        };
        let store = self.store();
        match store.claim_username(&claim).await.map_err(unavailable)? {
            ClaimOutcome::Claimed => Ok(UsernameHold { claim, fresh: true }),
            ClaimOutcome::AlreadyHeld => Ok(UsernameHold {
                claim,
                fresh: false,
            }),
            ClaimOutcome::HeldBy(held) => {
                if self.is_abandoned(&held).await
                    && store
                        .take_over_username(&held, &claim)
                        .await
                        .map_err(unavailable)?
                {
                    tracing::info!(username = %claim.username, "took over an abandoned username claim");
                    return Ok(UsernameHold { claim, fresh: true });
                }
                Err(taken(username))
            }
        }
    }

    /// Lets go of a fresh hold whose staff member the venue refused.
    pub async fn release_username(&self, hold: UsernameHold) {
        if !hold.fresh {
            return;
        }
        if let Err(error) = self.store().release_username(&hold.claim).await {
            // The claim stays until it counts as abandoned; nothing is lost but the name.
            tracing::warn!(username = %hold.claim.username, %error, "could not release a username claim");
        }
    }

    /// The staff member a username logs in, if any.
    pub async fn username_holder(
        &self,
        username: &str,
    ) -> Result<Option<(VenueId, StaffId)>, EngineError> {
        Ok(self
            .store()
            .username_claim(&username_key(username))
            .await
            .map_err(unavailable)?
            .map(|claim| (VenueId(claim.venue_id), StaffId(claim.staff_id))))
    }

    /// Registers the username of every staff member of every venue this hub serves, for
    /// venues whose staff was added before the register existed. A name two venues already
    /// share stays with the first; the other staff member logs in naming their venue.
    pub async fn register_usernames(&self) -> Result<(), EngineError> {
        for venue in self.venues() {
            let named: Vec<(StaffId, String)> = venue
                .read(|v| {
                    v.staff
                        .values()
                        .filter_map(|s| s.username.clone().map(|name| (s.id, name)))
                        .collect()
                })
                .await?;
            for (staff, username) in named {
                let claim = UsernameClaim {
                    username: username_key(&username),
                    venue_id: venue.id().0,
                    staff_id: staff.0,
                    claimed_at: Utc::now(),
                };
                if let ClaimOutcome::HeldBy(held) = self
                    .store()
                    .claim_username(&claim)
                    .await
                    .map_err(unavailable)?
                {
                    tracing::warn!(
                        username = %claim.username,
                        venue = %venue.slug(),
                        held_by_venue = %held.venue_id,
                        "a username is used in two venues; its second holder must log in naming the venue"
                    );
                }
            }
        }
        Ok(())
    }

    /// A claim this hub can prove abandoned: its venue is served here, has no such staff
    /// member, and the claim is old enough that no request is still on its way.
    async fn is_abandoned(&self, held: &UsernameClaim) -> bool {
        let old = Utc::now()
            .signed_duration_since(held.claimed_at)
            .to_std()
            .is_ok_and(|age| age >= ABANDONED_AFTER);
        let Some(venue) = self.venue(VenueId(held.venue_id)) else {
            return false;
        };
        let staff = StaffId(held.staff_id);
        old && venue
            .read(move |v| !v.staff.contains_key(&staff))
            .await
            .unwrap_or(false)
    }
}
