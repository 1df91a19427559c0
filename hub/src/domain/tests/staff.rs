//! Staff: members, PINs, owners, and the other venues an owner gives them.

use super::*;

#[test]
fn an_owner_gives_a_member_other_venues_sorted_and_without_repeats() {
    let mut fixture = Fixture::new();
    let owner = Actor::staff(StaffId(id(50)), Role::Owner, None);
    let (senopati, blok_m) = (VenueId(id(20)), VenueId(id(21)));
    let command = Command::GiveStaffVenues {
        staff_id: StaffId(id(2)),
        venues: vec![blok_m, senopati, blok_m],
    };
    fixture.run(&command, &owner);
    let mut expected = vec![senopati, blok_m];
    expected.sort();
    assert_eq!(fixture.venue.staff[&StaffId(id(2))].venues, expected);
    // An empty list takes them all back.
    fixture.run(
        &Command::GiveStaffVenues {
            staff_id: StaffId(id(2)),
            venues: vec![],
        },
        &owner,
    );
    assert!(fixture.venue.staff[&StaffId(id(2))].venues.is_empty());
}

#[test]
fn only_an_owner_gives_venues_and_never_the_members_own() {
    let fixture = Fixture::new();
    let owner = Actor::staff(StaffId(id(50)), Role::Owner, None);
    let give = |venues: Vec<VenueId>| Command::GiveStaffVenues {
        staff_id: StaffId(id(2)),
        venues,
    };
    fixture
        .when(&give(vec![VenueId(id(20))]), &fixture.manager)
        .then_rejects("owner_only");
    fixture
        .when(&give(vec![VenueId(id(9))]), &owner)
        .then_rejects("own_venue");
    fixture
        .when(
            &Command::GiveStaffVenues {
                staff_id: StaffId(id(77)),
                venues: vec![],
            },
            &owner,
        )
        .then_rejects("staff_not_found");
    let many = (0..65).map(|n| VenueId(id(1000 + n))).collect();
    fixture
        .when(&give(many), &owner)
        .then_rejects("too_many_venues");
}

#[test]
fn two_staff_cannot_share_a_pin_and_a_manager_cannot_create_an_owner() {
    let f = Fixture::new();
    let mut clash = staff(50, "Rina", Role::Cashier);
    if let Command::AddStaff { pin_lookup, .. } = &mut clash {
        *pin_lookup = Some("pin-1".into());
    }
    f.when(&clash, &f.manager).then_rejects("pin_taken");
    f.when(&staff(51, "Owner", Role::Owner), &f.manager)
        .then_rejects("owner_only");
}
