//! The floor: seating, moving, merging and splitting, clearing, unique table labels.

use super::*;

#[test]
fn an_occupied_table_cannot_be_seated_again() {
    let mut f = Fixture::new();
    let waiter = f.waiter.clone();
    f.run(
        &Command::SeatParty {
            table_id: T1,
            guests: 3,
            server_id: None,
        },
        &waiter,
    );
    assert_eq!(f.status_of(T1), TableStatus::Seated);
    let again = Command::SeatParty {
        table_id: T1,
        guests: 2,
        server_id: None,
    };
    f.when(&again, &waiter).then_rejects("table_occupied");
    let nobody = Command::SeatParty {
        table_id: T2,
        guests: 0,
        server_id: None,
    };
    f.when(&nobody, &waiter).then_rejects("invalid_guests");
}

#[test]
fn moving_a_party_takes_its_orders_along() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let waiter = f.waiter.clone();
    f.run(
        &Command::MoveParty {
            table_id: T1,
            to_table_id: T2,
        },
        &waiter,
    );
    assert_eq!(f.order(order_id).table_id, Some(T2));
    assert_eq!(f.status_of(T1), TableStatus::Available);
    assert_eq!(f.status_of(T2), TableStatus::Ordered);
    f.run(
        &Command::SeatParty {
            table_id: T1,
            guests: 2,
            server_id: None,
        },
        &waiter,
    );
    let onto_occupied = Command::MoveParty {
        table_id: T2,
        to_table_id: T1,
    };
    f.when(&onto_occupied, &waiter)
        .then_rejects("table_occupied");
}

#[test]
fn merged_tables_share_one_party_and_split_again() {
    let mut f = Fixture::new();
    let waiter = f.waiter.clone();
    f.run(
        &Command::SeatParty {
            table_id: T1,
            guests: 4,
            server_id: None,
        },
        &waiter,
    );
    f.run(
        &Command::SeatParty {
            table_id: T2,
            guests: 3,
            server_id: None,
        },
        &waiter,
    );
    f.run(
        &Command::MergeTables {
            table_id: T1,
            table_ids: vec![T2, T3],
        },
        &waiter,
    );
    assert_eq!(
        f.venue.tables[&T1].party.as_ref().map(|p| p.guests),
        Some(7)
    );
    assert_eq!(
        f.status_of(T3),
        TableStatus::Seated,
        "a merged table shows its primary's state"
    );
    let order_on_merged = open(OrderId(id(1000)), OrderKind::DineIn, Some(T2), vec![]);
    f.when(&order_on_merged, &waiter)
        .then_rejects("table_merged");
    f.run(&Command::SplitTables { table_id: T1 }, &waiter);
    assert_eq!(f.status_of(T2), TableStatus::Available);
    assert_eq!(f.status_of(T1), TableStatus::Seated);
    f.when(&Command::SplitTables { table_id: T1 }, &waiter)
        .then_rejects("table_not_merged");
}

#[test]
fn a_table_with_open_orders_cannot_be_cleared() {
    let mut f = Fixture::new();
    f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    f.when(&Command::ClearTable { table_id: T1 }, &f.waiter)
        .then_rejects("table_has_open_orders");
    f.when(&Command::RemoveTable { table_id: T1 }, &f.manager)
        .then_rejects("table_in_use");
}

#[test]
fn table_labels_are_unique_in_a_venue() {
    let f = Fixture::new();
    let duplicate = table(TableId(id(199)), AreaId(id(100)), "1");
    f.when(&duplicate, &f.manager)
        .then_rejects("table_label_taken");
}

#[test]
fn clearing_a_table_ends_its_open_call_before_the_table_is_cleared() {
    let mut f = Fixture::new();
    let waiter = f.waiter.clone();
    f.given(&[
        Event::PartySeated {
            table_id: T2,
            guests: 2,
            server_id: None,
            at: at(1),
        },
        Event::ServiceRequested {
            table_id: T2,
            device_id: None,
            reason: ServiceReason::Bill,
            at: at(2),
        },
    ])
    .when(&Command::ClearTable { table_id: T2 }, &waiter)
    .then_events(&[
        Event::ServiceRequestCancelled {
            table_id: T2,
            at: at(0),
        },
        Event::TableCleared {
            table_id: T2,
            at: at(0),
        },
    ]);
}

#[test]
fn a_table_that_needs_cleaning_seats_nobody_until_it_is_clean() {
    let mut f = Fixture::new();
    let waiter = f.waiter.clone();
    let seat = Command::SeatParty {
        table_id: T3,
        guests: 2,
        server_id: None,
    };
    f.given(&[Event::TableCleared {
        table_id: T3,
        at: at(1),
    }])
    .when(&seat, &waiter)
    .then_rejects("table_needs_cleaning");
    f.given(&[Event::TableCleaned { table_id: T3 }])
        .when(&seat, &waiter)
        .then_events(&[Event::PartySeated {
            table_id: T3,
            guests: 2,
            server_id: None,
            at: at(0),
        }]);
}
