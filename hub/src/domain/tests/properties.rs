//! Property tests for the invariants: replaying accepted events (through their stored JSON)
//! rebuilds the same state, a snapshot restores it, and no line goes backwards.

use proptest::prelude::*;

use super::*;

/// A command drawn from a small universe of ids so that sequences hit real interactions.
fn arbitrary_command() -> impl Strategy<Value = (Command, u8)> {
    let order = (0u128..4).prop_map(|n| OrderId(id(5000 + n)));
    let table = prop_oneof![Just(T1), Just(T2), Just(T3)];
    let lines =
        proptest::collection::vec((0u128..12, 0usize..3, 0u16..3, 1u8..3), 0..3).prop_map(|raw| {
            raw.into_iter()
                .map(|(n, which, quantity, course)| {
                    let (item, modifiers) =
                        [(TEH, vec![]), (SATAY, vec![]), (STEAK, vec![MEDIUM])][which].clone();
                    LineInput {
                        line_id: LineId(id(7000 + n)),
                        menu_item_id: item,
                        quantity,
                        modifiers,
                        seat: None,
                        course: Some(course),
                        note: None,
                    }
                })
                .collect::<Vec<_>>()
        });
    let line_ids = proptest::collection::vec((0u128..12).prop_map(|n| LineId(id(7000 + n))), 1..3);
    let command = prop_oneof![
        (order.clone(), table.clone(), lines.clone(), any::<bool>()).prop_map(
            |(order_id, table_id, lines, hold)| {
                Command::OpenOrder {
                    order_id,
                    kind: OrderKind::DineIn,
                    table_id: Some(table_id),
                    guests: Some(2),
                    customer: None,
                    channel: None,
                    note: None,
                    lines,
                    hold,
                }
            }
        ),
        (order.clone(), lines, any::<bool>()).prop_map(|(order_id, lines, hold)| {
            Command::AddLines {
                order_id,
                lines,
                hold,
            }
        }),
        (order.clone(), 1u8..3)
            .prop_map(|(order_id, course)| Command::FireCourse { order_id, course }),
        (order.clone(), line_ids.clone())
            .prop_map(|(order_id, line_ids)| Command::StartLines { order_id, line_ids }),
        (order.clone(), line_ids.clone(), any::<bool>()).prop_map(|(order_id, line_ids, grill)| {
            Command::MarkLinesReady {
                order_id,
                line_ids,
                station_id: grill.then_some(GRILL),
            }
        }),
        (order.clone(), line_ids.clone())
            .prop_map(|(order_id, line_ids)| Command::ServeLines { order_id, line_ids }),
        (order.clone(), (0u128..12)).prop_map(|(order_id, n)| Command::VoidLine {
            order_id,
            line_id: LineId(id(7000 + n)),
            reason: "test".into(),
        }),
        order
            .clone()
            .prop_map(|order_id| Command::CloseOrder { order_id }),
        order.prop_map(|order_id| Command::CancelOrder {
            order_id,
            reason: "test".into()
        }),
        (table.clone(), 1u16..5).prop_map(|(table_id, guests)| Command::SeatParty {
            table_id,
            guests,
            server_id: None
        }),
        (table.clone(), table.clone()).prop_map(|(table_id, to_table_id)| Command::MoveParty {
            table_id,
            to_table_id
        }),
        (table.clone(), table.clone()).prop_map(|(table_id, other)| Command::MergeTables {
            table_id,
            table_ids: vec![other]
        }),
        table
            .clone()
            .prop_map(|table_id| Command::SplitTables { table_id }),
        table
            .clone()
            .prop_map(|table_id| Command::RequestBill { table_id }),
        table
            .clone()
            .prop_map(|table_id| Command::ClearTable { table_id }),
        table
            .clone()
            .prop_map(|table_id| Command::MarkTableClean { table_id }),
        (table.clone(), any::<bool>()).prop_map(|(table_id, bill)| Command::RequestService {
            table_id,
            device_id: None,
            reason: if bill {
                ServiceReason::Bill
            } else {
                ServiceReason::Service
            },
        }),
        table
            .clone()
            .prop_map(|table_id| Command::AcknowledgeServiceRequest { table_id }),
        table.prop_map(|table_id| Command::CancelServiceRequest { table_id }),
    ];
    (command, 0u8..3)
}

fn actor_of(f: &Fixture, which: u8) -> Actor {
    match which {
        0 => f.waiter.clone(),
        1 => f.manager.clone(),
        _ => f.kitchen.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replaying_accepted_events_rebuilds_the_same_state(commands in proptest::collection::vec(arbitrary_command(), 1..60)) {
        let mut f = Fixture::new();
        let base = f.venue.clone();
        let mut journal = Vec::new();
        for (minute, (command, who)) in commands.iter().enumerate() {
            let actor = actor_of(&f, *who);
            if let Ok(events) = f.venue.decide(command, &actor, at(minute as u32)) {
                prop_assert!(!events.is_empty(), "an accepted command yields events");
                for event in events {
                    f.venue.apply(&event);
                    journal.push(event);
                }
            }
        }
        let mut replayed = base;
        for event in &journal {
            let json = serde_json::to_value(event).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let stored: Event = serde_json::from_value(json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            replayed.apply(&stored);
        }
        prop_assert_eq!(&replayed, &f.venue);
        let snapshot = serde_json::to_string(&f.venue).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let restored: Venue = serde_json::from_str(&snapshot).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&restored, &f.venue);
    }

    #[test]
    fn no_line_ever_goes_backwards_in_its_life_cycle(commands in proptest::collection::vec(arbitrary_command(), 1..60)) {
        let mut f = Fixture::new();
        for (command, who) in &commands {
            let actor = actor_of(&f, *who);
            let before: Vec<(OrderId, LineId, LineStatus)> = f.venue.orders.values()
                .flat_map(|o| o.lines.iter().map(|l| (o.id, l.id, l.status)))
                .collect();
            if let Ok(events) = f.venue.decide(command, &actor, at(5)) {
                for event in &events {
                    f.venue.apply(event);
                }
            }
            for (order_id, line_id, old) in before {
                let now = f.venue.orders.get(&order_id).and_then(|o| o.line(line_id)).map(|l| l.status);
                if let Some(now) = now {
                    prop_assert!(now >= old, "line went from {:?} to {:?}", old, now);
                }
            }
        }
    }
}
