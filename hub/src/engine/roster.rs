//! The staff roster: each staff member's standing (active, role, the other venues they were
//! given) in one venue, as of the last committed event. It is the read model that
//! authenticating a REST request or a WebSocket needs, so it lives beside the handle and is
//! read without a message to the actor or a lock any projection holds.
//!
//! Only the venue actor writes it, after a batch has committed and been applied, and only for
//! the members the batch's events changed; a resync after a failed commit rebuilds it whole.
//! It must never run ahead of the store: nothing is written here before it is durable.

use dashmap::DashMap;

use crate::domain::{Event, StaffId, Standing, Venue};

#[derive(Debug, Default)]
pub struct StaffRoster {
    members: DashMap<StaffId, Standing>,
}

impl StaffRoster {
    /// The roster of a venue as it stands.
    pub fn of(venue: &Venue) -> Self {
        let roster = Self::default();
        roster.rebuild(venue);
        roster
    }

    /// A member's standing now; `None` when the venue has no such member.
    pub fn standing(&self, staff: StaffId) -> Option<Standing> {
        self.members.get(&staff).map(|standing| standing.clone())
    }

    /// Whether the venue has any staff at all (a venue just created has none yet).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Takes in what a committed event changed, reading the member from the venue the event
    /// was applied to. Events that change no member cost a match and nothing more.
    pub fn note(&self, event: &Event, venue: &Venue) {
        let staff = match event {
            Event::StaffAdded { staff } => staff.id,
            Event::StaffUpdated { staff_id, .. } | Event::StaffVenuesGiven { staff_id, .. } => {
                *staff_id
            }
            // A changed PIN or password is not part of a member's standing.
            _ => return,
        };
        match venue.staff.get(&staff) {
            Some(member) => {
                self.members.insert(staff, member.standing());
            }
            None => {
                self.members.remove(&staff);
            }
        }
    }

    /// Makes the roster match the venue (after it was rebuilt from the store). Members are
    /// overwritten in place rather than cleared first, so a reader never sees a member who
    /// exists missing for a moment.
    pub fn rebuild(&self, venue: &Venue) {
        for (id, member) in &venue.staff {
            self.members.insert(*id, member.standing());
        }
        self.members.retain(|id, _| venue.staff.contains_key(id));
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "test code: panicking is how a test fails"
    )]

    use chrono::Utc;
    use uuid::Uuid;

    use super::StaffRoster;
    use crate::domain::{Actor, Command, Role, StaffId, TenantId, Venue, VenueId};

    fn venue_with_a_waiter() -> (Venue, StaffId) {
        let mut venue = Venue::default();
        let waiter = StaffId(Uuid::from_u128(7));
        let commands = [
            Command::CreateVenue {
                venue_id: VenueId(Uuid::from_u128(1)),
                tenant_id: TenantId(Uuid::from_u128(2)),
                slug: "warung".into(),
                name: "Warung".into(),
                timezone: "Asia/Jakarta".into(),
                currency: "IDR".into(),
            },
            Command::AddStaff {
                staff_id: waiter,
                name: "Wulan".into(),
                role: Role::Waiter,
                username: None,
                pin_lookup: Some("lookup".into()),
                pin_hash: Some("$argon2id$hash".into()),
                password_hash: None,
            },
        ];
        for command in commands {
            for event in venue
                .decide(&command, &Actor::system(), Utc::now())
                .unwrap()
            {
                venue.apply(&event);
            }
        }
        (venue, waiter)
    }

    #[test]
    fn a_deactivation_and_a_role_change_show_in_the_roster_once_noted() {
        let (mut venue, waiter) = venue_with_a_waiter();
        let roster = StaffRoster::of(&venue);
        let before = roster.standing(waiter).unwrap();
        assert!(before.active);
        assert_eq!(before.role, Role::Waiter);

        let update = Command::UpdateStaff {
            staff_id: waiter,
            name: None,
            role: Some(Role::Cashier),
            active: Some(false),
        };
        for event in venue.decide(&update, &Actor::system(), Utc::now()).unwrap() {
            venue.apply(&event);
            roster.note(&event, &venue);
        }
        let after = roster.standing(waiter).unwrap();
        assert!(!after.active);
        assert_eq!(after.role, Role::Cashier);
        assert_eq!(roster.standing(StaffId(Uuid::from_u128(8))), None);
    }

    #[test]
    fn a_rebuild_matches_the_venue_and_drops_who_it_no_longer_has() {
        let (venue, waiter) = venue_with_a_waiter();
        let roster = StaffRoster::of(&venue);
        roster.rebuild(&Venue::default());
        assert_eq!(roster.standing(waiter), None);
        assert!(roster.is_empty());
        roster.rebuild(&venue);
        assert_eq!(
            roster.standing(waiter),
            venue.staff.get(&waiter).map(crate::domain::Staff::standing)
        );
    }
}
