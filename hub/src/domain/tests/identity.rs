//! The venue itself: nothing but its creation is accepted before it exists.

use super::*;

#[test]
fn nothing_but_creation_is_accepted_before_the_venue_exists() {
    let venue = Venue::default();
    let command = Command::SaveArea {
        area: Area {
            id: AreaId(id(1)),
            name: "Bar".into(),
            sort: 0,
        },
    };
    assert_eq!(
        venue
            .decide(&command, &Actor::system(), at(0))
            .err()
            .map(|r| r.code),
        Some("venue_not_created")
    );
}
