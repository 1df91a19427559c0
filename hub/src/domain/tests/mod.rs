//! Rules of the domain, one test per rule named as a sentence, split by concept like
//! `venue/`, and property tests for the invariants. This file holds the shared fixture (a
//! small venue), the builders of commands, and the given/when/then helpers:
//! `fixture.given(&[events]).when(&command, &actor).then_events(&[..])` or
//! `.then_rejects("code")`.

use chrono::{TimeZone, Utc};
use uuid::Uuid;

use super::*;

mod device_rules;
mod devices;
mod floor;
mod food_safety;
mod identity;
mod kitchen;
mod menu;
mod orders;
mod properties;
mod protocol;
mod staff;

fn at(minute: u32) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 21, 19, minute % 60, 0)
        .single()
        .unwrap_or_default()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A small venue: one area with three tables, two stations, a grill item with a doneness
/// choice, a bar item, and staff of each role.
struct Fixture {
    venue: Venue,
    waiter: Actor,
    manager: Actor,
    kitchen: Actor,
}

const T1: TableId = TableId(Uuid::from_u128(101));
const T2: TableId = TableId(Uuid::from_u128(102));
const T3: TableId = TableId(Uuid::from_u128(103));
const GRILL: StationId = StationId(Uuid::from_u128(201));
const BAR: StationId = StationId(Uuid::from_u128(202));
const STEAK: MenuItemId = MenuItemId(Uuid::from_u128(301));
const TEH: MenuItemId = MenuItemId(Uuid::from_u128(302));
const SATAY: MenuItemId = MenuItemId(Uuid::from_u128(303));
const DONENESS: ModifierGroupId = ModifierGroupId(Uuid::from_u128(401));
const MEDIUM: ModifierId = ModifierId(Uuid::from_u128(402));
const WELL: ModifierId = ModifierId(Uuid::from_u128(403));

impl Fixture {
    fn new() -> Self {
        let mut fixture = Fixture {
            venue: Venue::default(),
            waiter: Actor::staff(StaffId(id(1)), Role::Waiter, None),
            manager: Actor::staff(StaffId(id(2)), Role::Manager, None),
            kitchen: Actor::staff(StaffId(id(3)), Role::Kitchen, None),
        };
        let area = AreaId(id(100));
        let category = CategoryId(id(300));
        let setup = vec![
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
            table(T1, area, "1"),
            table(T2, area, "2"),
            table(T3, area, "3"),
            station(GRILL, "grill"),
            station(BAR, "bar"),
            Command::SaveCategory {
                category: Category {
                    id: category,
                    name: "Mains".into(),
                    sort: 0,
                },
            },
            Command::SaveModifierGroup {
                group: ModifierGroup {
                    id: DONENESS,
                    name: "Doneness".into(),
                    min_choices: 1,
                    max_choices: 1,
                    options: vec![
                        ModifierOption {
                            id: MEDIUM,
                            name: "Medium".into(),
                            price_delta: 0,
                        },
                        ModifierOption {
                            id: WELL,
                            name: "Well done".into(),
                            price_delta: 5_000,
                        },
                    ],
                },
            },
            item(
                STEAK,
                category,
                "Sirloin",
                185_000,
                GRILL,
                vec![DONENESS],
                2,
            ),
            item(TEH, category, "Es Teh Manis", 15_000, BAR, vec![], 1),
            item(SATAY, category, "Sate Ayam", 45_000, GRILL, vec![], 1),
        ];
        for command in setup {
            fixture.run(&command, &Actor::system());
        }
        fixture
    }

    fn decide(&self, command: &Command, actor: &Actor) -> Result<Vec<Event>, Rejection> {
        self.venue.decide(command, actor, at(0))
    }

    /// Decides and applies; panics with the rejection if refused.
    fn run(&mut self, command: &Command, actor: &Actor) -> Vec<Event> {
        let events = self
            .venue
            .decide(command, actor, at(1))
            .unwrap_or_else(|r| panic!("{} refused: {r}", command.name()));
        for event in &events {
            self.venue.apply(event);
        }
        events
    }

    /// Given: the venue has recorded these events (applied as the journal would replay them).
    fn given(&mut self, events: &[Event]) -> &mut Self {
        for event in events {
            self.venue.apply(event);
        }
        self
    }

    /// When: the actor sends this command (decided at `at(0)`, nothing applied).
    fn when(&self, command: &Command, actor: &Actor) -> Then {
        Then {
            command: command.name(),
            decision: self.decide(command, actor),
        }
    }

    fn rejection(&self, command: &Command, actor: &Actor) -> &'static str {
        match self.decide(command, actor) {
            Ok(events) => panic!("{} accepted: {events:?}", command.name()),
            Err(rejection) => rejection.code.as_str(),
        }
    }

    fn open_dine_in(&mut self, order: u128, table: TableId, lines: Vec<LineInput>) -> OrderId {
        let order_id = OrderId(id(order));
        let waiter = self.waiter.clone();
        self.run(
            &open(order_id, OrderKind::DineIn, Some(table), lines),
            &waiter,
        );
        order_id
    }

    fn order(&self, order: OrderId) -> &Order {
        &self.venue.orders[&order]
    }

    fn status_of(&self, table: TableId) -> TableStatus {
        self.venue.table_status(&self.venue.tables[&table])
    }
}

/// Then: what a command decided, asserted on as events or as a rejection.
#[must_use = "a decision is only checked by then_events or then_rejects"]
struct Then {
    command: &'static str,
    decision: Result<Vec<Event>, Rejection>,
}

impl Then {
    /// The command is accepted with exactly these events, in this order.
    #[track_caller]
    fn then_events(self, expected: &[Event]) {
        match self.decision {
            Ok(events) => assert_eq!(events, expected, "{} decided other events", self.command),
            Err(rejection) => panic!("{} refused: {rejection}", self.command),
        }
    }

    /// The command is refused with this code; the rejection is returned for the field.
    #[track_caller]
    fn then_rejects(self, code: &str) -> Rejection {
        match self.decision {
            Ok(events) => panic!("{} accepted: {events:?}", self.command),
            Err(rejection) => {
                assert_eq!(
                    rejection.code, code,
                    "{} refused: {rejection}",
                    self.command
                );
                rejection
            }
        }
    }
}

fn staff(n: u128, name: &str, role: Role) -> Command {
    Command::AddStaff {
        staff_id: StaffId(id(n)),
        name: name.into(),
        role,
        username: None,
        pin_lookup: Some(format!("pin-{n}").into()),
        pin_hash: Some("hash".into()),
        password_hash: None,
    }
}

fn table(table_id: TableId, area_id: AreaId, label: &str) -> Command {
    Command::SaveTable {
        table: TableLayout {
            id: table_id,
            area_id,
            label: label.into(),
            seats: 4,
            shape: TableShape::Square,
            x: 10.0,
            y: 10.0,
            width: 60.0,
            height: 60.0,
            rotation: 0.0,
            section: None,
        },
    }
}

fn station(station_id: StationId, key: &str) -> Command {
    Command::SaveStation {
        station: Station {
            id: station_id,
            key: key.into(),
            name: key.to_uppercase(),
            active: true,
        },
    }
}

fn item(
    item_id: MenuItemId,
    category_id: CategoryId,
    name: &str,
    price: i64,
    station: StationId,
    modifier_groups: Vec<ModifierGroupId>,
    default_course: u8,
) -> Command {
    Command::SaveMenuItem {
        item: MenuItem {
            id: item_id,
            category_id,
            name: name.into(),
            description: None,
            price,
            tax_category: TaxCategory::Pb1,
            stations: vec![station],
            prep_minutes: 10,
            allergens: vec!["peanut".into()],
            default_course,
            modifier_groups,
            available: true,
            active: true,
            sort: 0,
        },
    }
}

fn line(n: u128, item: MenuItemId, quantity: u16, modifiers: Vec<ModifierId>) -> LineInput {
    LineInput {
        line_id: LineId(id(n)),
        menu_item_id: item,
        quantity,
        modifiers,
        seat: Some(1),
        course: None,
        note: None,
    }
}

fn open(
    order_id: OrderId,
    kind: OrderKind,
    table_id: Option<TableId>,
    lines: Vec<LineInput>,
) -> Command {
    Command::OpenOrder {
        order_id,
        kind,
        table_id,
        guests: Some(2),
        customer: None,
        channel: None,
        note: None,
        lines,
        hold: false,
    }
}

fn probe_spec(key: &str) -> DeviceSpec {
    DeviceSpec {
        key: key.into(),
        name: "Walk-in fridge probe".into(),
        kind: DeviceKind::Probe,
        station_id: None,
        table_id: None,
        limits: Some(UnitLimits::for_profile(
            "Walk-in fridge".into(),
            UnitProfile::ColdHolding,
        )),
        purpose: None,
    }
}

fn provision(n: u128, spec: DeviceSpec) -> Command {
    Command::ProvisionDevice {
        device_id: DeviceId(id(n)),
        spec,
        secret_hash: "hash".into(),
    }
}
