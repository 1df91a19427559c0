//! Orders as the waiter handles them: opening, lines, courses, voids, closing, cancelling,
//! and the bounded memory of finished orders.

use super::*;

#[test]
fn a_dine_in_order_seats_the_table_and_fires_the_first_course() {
    let mut f = Fixture::new();
    let order = f.open_dine_in(
        1000,
        T1,
        vec![line(1, TEH, 2, vec![]), line(2, STEAK, 1, vec![MEDIUM])],
    );
    let order = f.order(order);
    assert_eq!(order.number, 1);
    assert_eq!(
        order.lines[0].status,
        LineStatus::Fired,
        "course 1 fires at once"
    );
    assert_eq!(order.lines[1].status, LineStatus::New, "course 2 is held");
    assert_eq!(order.subtotal(), 2 * 15_000 + 185_000);
    assert_eq!(f.status_of(T1), TableStatus::Ordered);
    assert_eq!(
        f.venue.tables[&T1].party.as_ref().map(|p| p.guests),
        Some(2)
    );
}

#[test]
fn order_numbers_count_up_per_venue() {
    let mut f = Fixture::new();
    let first = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let second = f.open_dine_in(1001, T2, vec![line(2, TEH, 1, vec![])]);
    assert_eq!((f.order(first).number, f.order(second).number), (1, 2));
}

#[test]
fn a_held_order_fires_nothing_until_its_course_is_fired() {
    let mut f = Fixture::new();
    let order_id = OrderId(id(1000));
    let mut command = open(
        order_id,
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, TEH, 1, vec![])],
    );
    if let Command::OpenOrder { hold, .. } = &mut command {
        *hold = true;
    }
    let waiter = f.waiter.clone();
    f.run(&command, &waiter);
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::New);
    f.run(
        &Command::FireCourse {
            order_id,
            course: 1,
        },
        &waiter,
    );
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::Fired);
    f.when(
        &Command::FireCourse {
            order_id,
            course: 1,
        },
        &waiter,
    )
    .then_rejects("nothing_to_fire");
}

#[test]
fn lines_added_to_a_fired_course_fire_at_once_and_later_courses_wait() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let waiter = f.waiter.clone();
    f.run(
        &Command::AddLines {
            order_id,
            lines: vec![line(2, SATAY, 1, vec![]), line(3, STEAK, 1, vec![WELL])],
            hold: false,
        },
        &waiter,
    );
    let order = f.order(order_id);
    assert_eq!(order.lines[1].status, LineStatus::Fired);
    assert_eq!(order.lines[2].status, LineStatus::New);
    assert_eq!(order.lines[2].modifiers[0].price_delta, 5_000);
}

#[test]
fn a_sold_out_item_cannot_be_ordered() {
    let mut f = Fixture::new();
    let kitchen = f.kitchen.clone();
    f.run(
        &Command::SetItemAvailability {
            item_id: SATAY,
            available: false,
        },
        &kitchen,
    );
    let command = open(
        OrderId(id(1000)),
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, SATAY, 1, vec![])],
    );
    f.when(&command, &f.waiter).then_rejects("item_unavailable");
}

#[test]
fn quantity_zero_is_refused_with_the_field_named() {
    let f = Fixture::new();
    let command = open(
        OrderId(id(1000)),
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, TEH, 0, vec![])],
    );
    let rejection = f.decide(&command, &f.waiter).err();
    assert_eq!(
        rejection.as_ref().map(|r| r.code.as_str()),
        Some("invalid_quantity")
    );
    assert_eq!(
        rejection.and_then(|r| r.field),
        Some("lines[0].quantity".to_owned())
    );
}

#[test]
fn a_required_modifier_must_be_chosen() {
    let f = Fixture::new();
    let command = open(
        OrderId(id(1000)),
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, STEAK, 1, vec![])],
    );
    f.when(&command, &f.waiter).then_rejects("invalid_modifier");
    let two = open(
        OrderId(id(1000)),
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, STEAK, 1, vec![MEDIUM, WELL])],
    );
    f.when(&two, &f.waiter).then_rejects("invalid_modifier");
}

#[test]
fn a_dine_in_order_needs_a_table_and_a_delivery_needs_an_address() {
    let f = Fixture::new();
    let no_table = open(OrderId(id(1000)), OrderKind::DineIn, None, vec![]);
    f.when(&no_table, &f.waiter).then_rejects("missing_table");
    let delivery = open(
        OrderId(id(1000)),
        OrderKind::Delivery,
        None,
        vec![line(1, TEH, 1, vec![])],
    );
    f.when(&delivery, &f.waiter).then_rejects("missing_address");
}

#[test]
fn the_same_order_id_cannot_open_twice() {
    let mut f = Fixture::new();
    f.open_dine_in(1000, T1, vec![]);
    let again = open(OrderId(id(1000)), OrderKind::Takeaway, None, vec![]);
    f.when(&again, &f.waiter).then_rejects("order_exists");
}

#[test]
fn a_waiter_voids_before_cooking_but_only_a_manager_after() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(
        1000,
        T1,
        vec![line(1, TEH, 1, vec![]), line(2, SATAY, 1, vec![])],
    );
    let waiter = f.waiter.clone();
    let manager = f.manager.clone();
    let void = |n| Command::VoidLine {
        order_id,
        line_id: LineId(id(n)),
        reason: "guest changed mind".into(),
    };
    let events = f.run(&void(1), &waiter);
    assert!(matches!(
        events[0],
        Event::LineVoided {
            after_cooking: false,
            ..
        }
    ));
    f.run(
        &Command::StartLines {
            order_id,
            line_ids: vec![LineId(id(2))],
        },
        &f.kitchen.clone(),
    );
    f.when(&void(2), &waiter)
        .then_rejects("manager_approval_required");
    let events = f.run(&void(2), &manager);
    assert!(matches!(
        events[0],
        Event::LineVoided {
            after_cooking: true,
            ..
        }
    ));
    assert_eq!(f.order(order_id).subtotal(), 0);
    f.when(&void(2), &manager)
        .then_rejects("line_already_voided");
}

#[test]
fn a_void_needs_a_reason() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let void = Command::VoidLine {
        order_id,
        line_id: LineId(id(1)),
        reason: "  ".into(),
    };
    f.when(&void, &f.waiter).then_rejects("missing_reason");
}

#[test]
fn an_order_closes_only_when_everything_is_served_and_then_the_table_needs_cleaning() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let waiter = f.waiter.clone();
    f.when(&Command::CloseOrder { order_id }, &waiter)
        .then_rejects("order_has_unserved_lines");
    let lines = vec![LineId(id(1))];
    f.run(
        &Command::MarkLinesReady {
            order_id,
            line_ids: lines.clone(),
            station_id: None,
        },
        &f.kitchen.clone(),
    );
    f.run(
        &Command::ServeLines {
            order_id,
            line_ids: lines,
        },
        &waiter,
    );
    f.run(&Command::RequestBill { table_id: T1 }, &waiter);
    assert_eq!(f.status_of(T1), TableStatus::BillRequested);
    f.run(&Command::CloseOrder { order_id }, &waiter);
    assert_eq!(f.order(order_id).status, OrderStatus::Closed);
    assert_eq!(f.status_of(T1), TableStatus::NeedsCleaning);
    f.when(
        &Command::SeatParty {
            table_id: T1,
            guests: 2,
            server_id: None,
        },
        &waiter,
    )
    .then_rejects("table_needs_cleaning");
    f.run(&Command::MarkTableClean { table_id: T1 }, &waiter);
    assert_eq!(f.status_of(T1), TableStatus::Available);
}

#[test]
fn an_order_with_food_in_the_kitchen_cannot_be_cancelled() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let cancel = Command::CancelOrder {
        order_id,
        reason: "walked out".into(),
    };
    f.when(&cancel, &f.waiter)
        .then_rejects("order_has_fired_lines");
    let waiter = f.waiter.clone();
    f.run(
        &Command::VoidLine {
            order_id,
            line_id: LineId(id(1)),
            reason: "walked out".into(),
        },
        &waiter,
    );
    f.run(&cancel, &waiter);
    assert_eq!(f.order(order_id).status, OrderStatus::Cancelled);
    f.when(&cancel, &waiter).then_rejects("order_not_open");
}

#[test]
fn finished_orders_beyond_the_memory_window_leave_memory() {
    let mut f = Fixture::new();
    let waiter = f.waiter.clone();
    for n in 0..(venue::FINISHED_ORDERS_KEPT as u128 + 5) {
        let order_id = OrderId(id(10_000 + n));
        f.run(&open(order_id, OrderKind::Takeaway, None, vec![]), &waiter);
        f.run(&Command::CloseOrder { order_id }, &waiter);
    }
    assert_eq!(f.venue.orders.len(), venue::FINISHED_ORDERS_KEPT);
    assert!(!f.venue.orders.contains_key(&OrderId(id(10_000))));
}

#[test]
fn a_started_or_ready_line_is_voided_only_by_a_role_granted_void_after_cooking() {
    use crate::auth::policy::{Permission, allows};
    let void = |order_id, n| Command::VoidLine {
        order_id,
        line_id: LineId(id(n)),
        reason: "dropped on the floor".into(),
    };
    for role in Role::ALL {
        let mut f = Fixture::new();
        let order_id = f.open_dine_in(
            1000,
            T1,
            vec![line(1, SATAY, 1, vec![]), line(2, SATAY, 1, vec![])],
        );
        let kitchen = f.kitchen.clone();
        f.run(
            &Command::StartLines {
                order_id,
                line_ids: vec![LineId(id(1)), LineId(id(2))],
            },
            &kitchen,
        );
        f.run(
            &Command::MarkLinesReady {
                order_id,
                line_ids: vec![LineId(id(2))],
                station_id: None,
            },
            &kitchen,
        );
        let actor = Actor::staff(StaffId(id(60)), role, None);
        for n in [1, 2] {
            let then = f.when(&void(order_id, n), &actor);
            if allows(role, Permission::VoidAfterCooking) {
                then.then_events(&[Event::LineVoided {
                    order_id,
                    line_id: LineId(id(n)),
                    reason: "dropped on the floor".into(),
                    by: Some(StaffId(id(60))),
                    after_cooking: true,
                    at: at(0),
                }]);
            } else {
                let refused = then.then_rejects("manager_approval_required");
                assert_eq!(refused.kind, RejectionKind::Forbidden, "{role:?}");
            }
        }
    }
    // A device acting on its own never may; the hub itself may.
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, SATAY, 1, vec![])]);
    let kitchen = f.kitchen.clone();
    f.run(
        &Command::StartLines {
            order_id,
            line_ids: vec![LineId(id(1))],
        },
        &kitchen,
    );
    f.when(&void(order_id, 1), &Actor::device("bump-grill"))
        .then_rejects("manager_approval_required");
    assert!(
        f.when(&void(order_id, 1), &Actor::system())
            .decision
            .is_ok()
    );
}
