//! The incremental kitchen views against the reference: after any accepted command sequence,
//! refreshing only the orders each command touched gives the same views as recomputing them
//! from every open order.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::{KitchenIndex, touched};
use crate::{
    domain::{
        Actor, Area, AreaId, Category, CategoryId, Command, LineId, LineInput, MenuItem,
        MenuItemId, OrderId, OrderKind, Role, StaffId, Station, StationId, TableId, TableLayout,
        TableShape, TaxCategory, TenantId, Timestamp, Venue, VenueId,
    },
    view::kitchen,
};

fn at(minute: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 21, 19, minute % 60, 0)
        .single()
        .unwrap_or_default()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

const TABLES: [TableId; 3] = [
    TableId(Uuid::from_u128(101)),
    TableId(Uuid::from_u128(102)),
    TableId(Uuid::from_u128(103)),
];
const GRILL: StationId = StationId(Uuid::from_u128(201));
const BAR: StationId = StationId(Uuid::from_u128(202));
const STATIONS: [StationId; 2] = [GRILL, BAR];
/// Satay at the grill, iced tea at the bar, a mixed grill plate made by both.
const ITEMS: [MenuItemId; 3] = [
    MenuItemId(Uuid::from_u128(301)),
    MenuItemId(Uuid::from_u128(302)),
    MenuItemId(Uuid::from_u128(303)),
];

fn waiter() -> Actor {
    Actor::staff(StaffId(id(1)), Role::Waiter, None)
}

fn kitchen_actor() -> Actor {
    Actor::staff(StaffId(id(3)), Role::Kitchen, None)
}

fn manager() -> Actor {
    Actor::staff(StaffId(id(2)), Role::Manager, None)
}

fn venue() -> Venue {
    let mut venue = Venue::default();
    let area = AreaId(id(100));
    let category = CategoryId(id(300));
    let staff = |n: u128, name: &str, role: Role| Command::AddStaff {
        staff_id: StaffId(id(n)),
        name: name.into(),
        role,
        username: None,
        pin_lookup: Some(format!("pin-{n}").into()),
        pin_hash: Some("hash".into()),
        password_hash: None,
    };
    let mut setup = vec![
        Command::CreateVenue {
            venue_id: VenueId(id(9)),
            tenant_id: TenantId(id(8)),
            slug: "demo".into(),
            name: "Almahira Kemang".into(),
            timezone: "Asia/Jakarta".into(),
            currency: "IDR".into(),
        },
        staff(1, "Wulan", Role::Waiter),
        staff(2, "Budi", Role::Manager),
        staff(3, "Sari", Role::Kitchen),
        Command::SaveArea {
            area: Area {
                id: area,
                name: "Indoor".into(),
                sort: 0,
            },
        },
        Command::SaveCategory {
            category: Category {
                id: category,
                name: "Mains".into(),
                sort: 0,
            },
        },
    ];
    for (n, table) in TABLES.iter().enumerate() {
        setup.push(Command::SaveTable {
            table: TableLayout {
                id: *table,
                area_id: area,
                label: format!("{}", n + 1),
                seats: 4,
                shape: TableShape::Square,
                x: 10.0,
                y: 10.0,
                width: 60.0,
                height: 60.0,
                rotation: 0.0,
                section: None,
            },
        });
    }
    for (station, key) in [(GRILL, "grill"), (BAR, "bar")] {
        setup.push(Command::SaveStation {
            station: Station {
                id: station,
                key: key.into(),
                name: key.to_uppercase(),
                active: true,
            },
        });
    }
    for (item, name, stations) in [
        (ITEMS[0], "Sate Ayam", vec![GRILL]),
        (ITEMS[1], "Es Teh Manis", vec![BAR]),
        (ITEMS[2], "Mixed Grill", vec![GRILL, BAR]),
    ] {
        setup.push(Command::SaveMenuItem {
            item: MenuItem {
                id: item,
                category_id: category,
                name: name.into(),
                description: None,
                price: 25_000,
                tax_category: TaxCategory::Pb1,
                stations,
                prep_minutes: 10,
                allergens: vec![],
                default_course: 1,
                modifier_groups: vec![],
                available: true,
                active: true,
                sort: 0,
            },
        });
    }
    for command in setup {
        let events = venue
            .decide(&command, &Actor::system(), at(0))
            .unwrap_or_else(|r| panic!("{} refused: {r}", command.name()));
        for event in &events {
            venue.apply(event);
        }
    }
    venue
}

/// A command drawn from a small universe of ids, so that sequences hit real interactions.
fn arbitrary_command() -> impl Strategy<Value = (Command, u8)> {
    let order = (0u128..5).prop_map(|n| OrderId(id(5000 + n)));
    let table = (0usize..3).prop_map(|n| TABLES[n]);
    let station = (0usize..2).prop_map(|n| STATIONS[n]);
    let lines =
        proptest::collection::vec((0u128..12, 0usize..3, 1u16..3, 1u8..3), 0..3).prop_map(|raw| {
            raw.into_iter()
                .map(|(n, which, quantity, course)| LineInput {
                    line_id: LineId(id(7000 + n)),
                    menu_item_id: ITEMS[which],
                    quantity,
                    modifiers: vec![],
                    seat: None,
                    course: Some(course),
                    note: None,
                })
                .collect::<Vec<_>>()
        });
    let line_ids = proptest::collection::vec((0u128..12).prop_map(|n| LineId(id(7000 + n))), 1..3);
    let command = prop_oneof![
        (
            order.clone(),
            table.clone(),
            lines.clone(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(order_id, table_id, lines, hold, dine_in)| Command::OpenOrder {
                    order_id,
                    kind: if dine_in {
                        OrderKind::DineIn
                    } else {
                        OrderKind::Takeaway
                    },
                    table_id: dine_in.then_some(table_id),
                    guests: Some(2),
                    customer: None,
                    channel: None,
                    note: None,
                    lines,
                    hold,
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
        (
            order.clone(),
            line_ids.clone(),
            proptest::option::of(station.clone())
        )
            .prop_map(|(order_id, line_ids, station_id)| Command::MarkLinesReady {
                order_id,
                line_ids,
                station_id,
            }),
        (order.clone(), station.clone()).prop_map(|(order_id, station_id)| Command::StartTicket {
            order_id,
            station_id
        }),
        (order.clone(), station.clone()).prop_map(|(order_id, station_id)| Command::BumpTicket {
            order_id,
            station_id
        }),
        (order.clone(), station).prop_map(|(order_id, station_id)| Command::RecallTicket {
            order_id,
            station_id
        }),
        order
            .clone()
            .prop_map(|order_id| Command::ServeReady { order_id }),
        (order.clone(), line_ids)
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
        table.prop_map(|table_id| Command::MarkTableClean { table_id }),
    ];
    (command, 0u8..3)
}

/// The incremental views equal the reference, for every station and table.
fn assert_matches_reference(index: &KitchenIndex, venue: &Venue) -> Result<(), TestCaseError> {
    for station in STATIONS {
        prop_assert_eq!(index.all_day(station), kitchen::all_day(venue, station));
        prop_assert_eq!(index.station_queue(station), venue.station_queue(station));
        prop_assert_eq!(
            index.station_cards(venue, station),
            kitchen::station_cards(venue, station)
        );
    }
    prop_assert_eq!(index.expo_tickets(venue), kitchen::expo_tickets(venue));
    for table in venue.tables.values() {
        let reference: Vec<OrderId> = venue.open_orders_at(table.id()).map(|o| o.id).collect();
        prop_assert_eq!(
            index.open_orders_at(table.id()).collect::<Vec<_>>(),
            reference
        );
        prop_assert_eq!(index.table_status(venue, table), venue.table_status(table));
    }
    prop_assert_eq!(index, &KitchenIndex::rebuild(venue));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_kitchen_views_equal_the_views_recomputed_from_scratch(
        commands in proptest::collection::vec(arbitrary_command(), 1..80)
    ) {
        let mut venue = venue();
        let mut index = KitchenIndex::rebuild(&venue);
        for (minute, (command, who)) in commands.iter().enumerate() {
            let actor = match who {
                0 => waiter(),
                1 => manager(),
                _ => kitchen_actor(),
            };
            let Ok(events) = venue.decide(command, &actor, at(minute as u32)) else {
                continue;
            };
            let (orders, _) = touched(&venue, &index, &events);
            for event in &events {
                venue.apply(event);
            }
            index.refresh(&venue, orders.iter().copied());
            assert_matches_reference(&index, &venue)?;
        }
    }
}
