//! The kitchen's side of an order: lines through the kitchen, multi-station lines, bumping,
//! recalling, expo serving and delivery alerts.

use super::*;

#[test]
fn a_line_moves_through_the_kitchen_and_the_table_shows_food_ready() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let lines = vec![LineId(id(1))];
    let kitchen = f.kitchen.clone();
    let waiter = f.waiter.clone();
    f.run(
        &Command::StartLines {
            order_id,
            line_ids: lines.clone(),
        },
        &kitchen,
    );
    f.run(
        &Command::MarkLinesReady {
            order_id,
            line_ids: lines.clone(),
            station_id: None,
        },
        &kitchen,
    );
    assert_eq!(f.status_of(T1), TableStatus::FoodReady);
    f.run(
        &Command::ServeLines {
            order_id,
            line_ids: lines.clone(),
        },
        &waiter,
    );
    let line = &f.order(order_id).lines[0];
    assert_eq!(line.status, LineStatus::Served);
    assert!(
        line.fired_at.is_some()
            && line.started_at.is_some()
            && line.ready_at.is_some()
            && line.served_at.is_some()
    );
    assert_eq!(f.status_of(T1), TableStatus::Ordered);
}

#[test]
fn a_line_cannot_be_served_before_it_is_ready() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let serve = Command::ServeLines {
        order_id,
        line_ids: vec![LineId(id(1))],
    };
    f.when(&serve, &f.waiter)
        .then_rejects("invalid_line_transition");
    let unknown = Command::ServeLines {
        order_id,
        line_ids: vec![LineId(id(77))],
    };
    f.when(&unknown, &f.waiter).then_rejects("line_not_found");
}

#[test]
fn a_multi_station_line_is_ready_only_when_every_station_is() {
    let mut f = Fixture::new();
    let mut platter = match item(
        SATAY,
        CategoryId(id(300)),
        "Sate Ayam",
        45_000,
        GRILL,
        vec![],
        1,
    ) {
        Command::SaveMenuItem { item } => item,
        _ => unreachable!(),
    };
    platter.stations.push(BAR);
    f.run(&Command::SaveMenuItem { item: platter }, &Actor::system());
    let order_id = f.open_dine_in(1000, T1, vec![line(1, SATAY, 1, vec![])]);
    let kitchen = f.kitchen.clone();
    let ready_at = |station| Command::MarkLinesReady {
        order_id,
        line_ids: vec![LineId(id(1))],
        station_id: Some(station),
    };
    f.run(&ready_at(GRILL), &kitchen);
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::Fired);
    f.when(&ready_at(GRILL), &kitchen)
        .then_rejects("invalid_line_transition");
    f.run(&ready_at(BAR), &kitchen);
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::Ready);
}

#[test]
fn bumping_a_ticket_readies_only_that_stations_live_lines() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(
        1000,
        T1,
        vec![line(1, TEH, 1, vec![]), line(2, SATAY, 1, vec![])],
    );
    let kitchen = f.kitchen.clone();
    assert!(f.venue.orders[&order_id].is_on_station(GRILL));
    f.run(
        &Command::StartTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    assert_eq!(f.order(order_id).lines[1].status, LineStatus::InProgress);
    assert_eq!(
        f.order(order_id).lines[0].status,
        LineStatus::Fired,
        "the bar line is untouched"
    );
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    assert_eq!(f.order(order_id).lines[1].status, LineStatus::Ready);
    assert!(!f.venue.orders[&order_id].is_on_station(GRILL));
    assert!(f.venue.orders[&order_id].is_on_station(BAR));
    f.when(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    )
    .then_rejects("nothing_to_bump");
}

#[test]
fn a_recalled_ticket_returns_to_the_screen_and_a_second_bump_removes_it() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let kitchen = f.kitchen.clone();
    let recall = Command::RecallTicket {
        order_id,
        station_id: GRILL,
    };
    f.when(&recall, &kitchen).then_rejects("ticket_on_screen");
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    f.run(&recall, &kitchen);
    assert!(f.venue.orders[&order_id].is_on_station(GRILL));
    assert_eq!(
        f.order(order_id).lines[0].status,
        LineStatus::Ready,
        "recall never moves a line back"
    );
    let events = f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    assert!(matches!(events[0], Event::TicketBumped { .. }));
    assert!(!f.venue.orders[&order_id].is_on_station(GRILL));
    f.when(
        &Command::RecallTicket {
            order_id,
            station_id: BAR,
        },
        &kitchen,
    )
    .then_rejects("not_at_station");
}

#[test]
fn expo_serves_every_ready_line_at_once() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(
        1000,
        T1,
        vec![line(1, TEH, 1, vec![]), line(2, SATAY, 1, vec![])],
    );
    let kitchen = f.kitchen.clone();
    f.when(&Command::ServeReady { order_id }, &kitchen)
        .then_rejects("nothing_to_serve");
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: BAR,
        },
        &kitchen,
    );
    f.run(
        &Command::BumpTicket {
            order_id,
            station_id: GRILL,
        },
        &kitchen,
    );
    f.run(&Command::ServeReady { order_id }, &kitchen);
    assert!(
        f.order(order_id)
            .lines
            .iter()
            .all(|l| l.status == LineStatus::Served)
    );
}

#[test]
fn a_delivery_alert_is_raised_once_and_cleared_once() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let system = Actor::system();
    let raise = Command::RaiseDeliveryAlert {
        order_id,
        station_id: GRILL,
    };
    let clear = Command::ClearDeliveryAlert {
        order_id,
        station_id: GRILL,
    };
    f.when(&clear, &system).then_rejects("no_delivery_alert");
    f.run(&raise, &system);
    assert_eq!(f.order(order_id).unseen_at, vec![GRILL]);
    f.when(&raise, &system).then_rejects("alert_already_raised");
    f.run(&clear, &system);
    assert!(f.order(order_id).unseen_at.is_empty());
}

#[test]
fn a_raised_delivery_alert_is_cleared_at_its_station_only() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let system = Actor::system();
    f.given(&[Event::DeliveryAlertRaised {
        order_id,
        station_id: GRILL,
        at: at(1),
    }]);
    f.when(
        &Command::ClearDeliveryAlert {
            order_id,
            station_id: BAR,
        },
        &system,
    )
    .then_rejects("no_delivery_alert");
    f.when(
        &Command::ClearDeliveryAlert {
            order_id,
            station_id: GRILL,
        },
        &system,
    )
    .then_events(&[Event::DeliveryAlertCleared {
        order_id,
        station_id: GRILL,
        at: at(0),
    }]);
}

#[test]
fn a_recalled_ticket_with_nothing_live_is_bumped_off_the_screen_again() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(2, SATAY, 1, vec![])]);
    let kitchen = f.kitchen.clone();
    let bump = Command::BumpTicket {
        order_id,
        station_id: GRILL,
    };
    f.run(&bump, &kitchen);
    f.when(&bump, &kitchen).then_rejects("nothing_to_bump");
    f.given(&[Event::TicketRecalled {
        order_id,
        station_id: GRILL,
        at: at(2),
    }])
    .when(&bump, &kitchen)
    .then_events(&[Event::TicketBumped {
        order_id,
        station_id: GRILL,
        at: at(0),
    }]);
}
