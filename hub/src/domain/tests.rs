//! Rules of the domain, one test per rule named as a sentence, and property tests for the
//! invariants: replaying accepted events rebuilds the same state, and no line goes backwards.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

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

    fn rejection(&self, command: &Command, actor: &Actor) -> &'static str {
        match self.decide(command, actor) {
            Ok(events) => panic!("{} accepted: {events:?}", command.name()),
            Err(rejection) => rejection.code,
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

fn staff(n: u128, name: &str, role: Role) -> Command {
    Command::AddStaff {
        staff_id: StaffId(id(n)),
        name: name.into(),
        role,
        username: None,
        pin_lookup: Some(format!("pin-{n}")),
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

// ----- orders ----------------------------------------------------------------------------

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
    assert_eq!(
        fixture.rejection(&give(vec![VenueId(id(20))]), &fixture.manager),
        "owner_only"
    );
    assert_eq!(
        fixture.rejection(&give(vec![VenueId(id(9))]), &owner),
        "own_venue"
    );
    assert_eq!(
        fixture.rejection(
            &Command::GiveStaffVenues {
                staff_id: StaffId(id(77)),
                venues: vec![],
            },
            &owner
        ),
        "staff_not_found"
    );
    let many = (0..65).map(|n| VenueId(id(1000 + n))).collect();
    assert_eq!(fixture.rejection(&give(many), &owner), "too_many_venues");
}

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
    assert_eq!(
        f.rejection(
            &Command::FireCourse {
                order_id,
                course: 1
            },
            &waiter
        ),
        "nothing_to_fire"
    );
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
    assert_eq!(f.rejection(&command, &f.waiter), "item_unavailable");
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
    assert_eq!(rejection.as_ref().map(|r| r.code), Some("invalid_quantity"));
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
    assert_eq!(f.rejection(&command, &f.waiter), "invalid_modifier");
    let two = open(
        OrderId(id(1000)),
        OrderKind::DineIn,
        Some(T1),
        vec![line(1, STEAK, 1, vec![MEDIUM, WELL])],
    );
    assert_eq!(f.rejection(&two, &f.waiter), "invalid_modifier");
}

#[test]
fn a_dine_in_order_needs_a_table_and_a_delivery_needs_an_address() {
    let f = Fixture::new();
    let no_table = open(OrderId(id(1000)), OrderKind::DineIn, None, vec![]);
    assert_eq!(f.rejection(&no_table, &f.waiter), "missing_table");
    let delivery = open(
        OrderId(id(1000)),
        OrderKind::Delivery,
        None,
        vec![line(1, TEH, 1, vec![])],
    );
    assert_eq!(f.rejection(&delivery, &f.waiter), "missing_address");
}

#[test]
fn the_same_order_id_cannot_open_twice() {
    let mut f = Fixture::new();
    f.open_dine_in(1000, T1, vec![]);
    let again = open(OrderId(id(1000)), OrderKind::Takeaway, None, vec![]);
    assert_eq!(f.rejection(&again, &f.waiter), "order_exists");
}

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
    assert_eq!(f.rejection(&serve, &f.waiter), "invalid_line_transition");
    let unknown = Command::ServeLines {
        order_id,
        line_ids: vec![LineId(id(77))],
    };
    assert_eq!(f.rejection(&unknown, &f.waiter), "line_not_found");
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
    assert_eq!(
        f.rejection(&ready_at(GRILL), &kitchen),
        "invalid_line_transition"
    );
    f.run(&ready_at(BAR), &kitchen);
    assert_eq!(f.order(order_id).lines[0].status, LineStatus::Ready);
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
    assert_eq!(f.rejection(&void(2), &waiter), "manager_approval_required");
    let events = f.run(&void(2), &manager);
    assert!(matches!(
        events[0],
        Event::LineVoided {
            after_cooking: true,
            ..
        }
    ));
    assert_eq!(f.order(order_id).subtotal(), 0);
    assert_eq!(f.rejection(&void(2), &manager), "line_already_voided");
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
    assert_eq!(f.rejection(&void, &f.waiter), "missing_reason");
}

#[test]
fn an_order_closes_only_when_everything_is_served_and_then_the_table_needs_cleaning() {
    let mut f = Fixture::new();
    let order_id = f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    let waiter = f.waiter.clone();
    assert_eq!(
        f.rejection(&Command::CloseOrder { order_id }, &waiter),
        "order_has_unserved_lines"
    );
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
    assert_eq!(
        f.rejection(
            &Command::SeatParty {
                table_id: T1,
                guests: 2,
                server_id: None
            },
            &waiter
        ),
        "table_needs_cleaning"
    );
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
    assert_eq!(f.rejection(&cancel, &f.waiter), "order_has_fired_lines");
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
    assert_eq!(f.rejection(&cancel, &waiter), "order_not_open");
}

// ----- kitchen screens -------------------------------------------------------------------

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
    assert_eq!(
        f.rejection(
            &Command::BumpTicket {
                order_id,
                station_id: GRILL
            },
            &kitchen
        ),
        "nothing_to_bump"
    );
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
    assert_eq!(f.rejection(&recall, &kitchen), "ticket_on_screen");
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
    assert_eq!(
        f.rejection(
            &Command::RecallTicket {
                order_id,
                station_id: BAR
            },
            &kitchen
        ),
        "not_at_station"
    );
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
    assert_eq!(
        f.rejection(&Command::ServeReady { order_id }, &kitchen),
        "nothing_to_serve"
    );
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
    assert_eq!(f.rejection(&clear, &system), "no_delivery_alert");
    f.run(&raise, &system);
    assert_eq!(f.order(order_id).unseen_at, vec![GRILL]);
    assert_eq!(f.rejection(&raise, &system), "alert_already_raised");
    f.run(&clear, &system);
    assert!(f.order(order_id).unseen_at.is_empty());
}

// ----- devices ---------------------------------------------------------------------------

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

#[test]
fn a_probe_is_provisioned_with_its_unit_and_keys_are_unique() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    f.run(&provision(900, probe_spec("fridge-1")), &manager);
    let device = &f.venue.devices[&DeviceId(id(900))];
    assert!(device.enabled);
    assert_eq!(
        device.limits.as_ref().and_then(|l| l.max_celsius),
        Some(5.0)
    );
    assert_eq!(
        f.rejection(&provision(901, probe_spec("fridge-1")), &manager),
        "device_key_taken"
    );
    assert_eq!(
        f.rejection(&provision(902, probe_spec("Fridge 1")), &manager),
        "invalid_slug"
    );
}

#[test]
fn each_kind_of_device_needs_its_own_pairing_and_nothing_else() {
    let f = Fixture::new();
    let manager = f.manager.clone();
    let mut bar = probe_spec("bump-grill");
    bar.kind = DeviceKind::BumpBar;
    bar.station_id = Some(GRILL);
    assert_eq!(
        f.rejection(&provision(903, bar.clone()), &manager),
        "not_for_device_kind",
        "limits are for probes"
    );
    bar.limits = None;
    bar.station_id = None;
    assert_eq!(
        f.rejection(&provision(903, bar.clone()), &manager),
        "missing_station"
    );
    bar.station_id = Some(StationId(id(999)));
    assert_eq!(
        f.rejection(&provision(903, bar.clone()), &manager),
        "station_not_found"
    );
    let mut button = probe_spec("button-1");
    button.kind = DeviceKind::CallButton;
    button.limits = None;
    assert_eq!(
        f.rejection(&provision(904, button), &manager),
        "missing_table"
    );
    let mut scanner = probe_spec("scanner-1");
    scanner.kind = DeviceKind::Scanner;
    scanner.limits = None;
    assert_eq!(
        f.rejection(&provision(905, scanner), &manager),
        "missing_purpose"
    );
}

#[test]
fn probe_limits_must_be_plausible_and_ordered() {
    let f = Fixture::new();
    let manager = f.manager.clone();
    let with = |change: fn(&mut UnitLimits)| {
        let mut spec = probe_spec("probe-x");
        if let Some(limits) = spec.limits.as_mut() {
            change(limits);
        }
        provision(906, spec)
    };
    assert_eq!(
        f.rejection(&with(|l| l.max_celsius = Some(900.0)), &manager),
        "invalid_limits"
    );
    assert_eq!(
        f.rejection(&with(|l| l.critical_celsius = Some(4.0)), &manager),
        "invalid_limits"
    );
    assert_eq!(
        f.rejection(&with(|l| l.min_celsius = Some(6.0)), &manager),
        "invalid_limits"
    );
    assert_eq!(
        f.rejection(&with(|l| l.report_interval_seconds = 1), &manager),
        "invalid_limits"
    );
}

#[test]
fn a_device_keeps_its_key_and_kind_but_can_be_disabled_rotated_and_removed() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let device_id = DeviceId(id(907));
    f.run(&provision(907, probe_spec("fridge-2")), &manager);
    let mut renamed = probe_spec("fridge-2");
    renamed.name = "Dessert fridge probe".into();
    f.run(
        &Command::UpdateDevice {
            device_id,
            spec: renamed,
        },
        &manager,
    );
    assert_eq!(f.venue.devices[&device_id].name, "Dessert fridge probe");
    let rekeyed = Command::UpdateDevice {
        device_id,
        spec: probe_spec("fridge-3"),
    };
    assert_eq!(f.rejection(&rekeyed, &manager), "device_identity_fixed");
    f.run(
        &Command::SetDeviceEnabled {
            device_id,
            enabled: false,
        },
        &manager,
    );
    assert!(!f.venue.devices[&device_id].enabled);
    f.run(
        &Command::RotateDeviceSecret {
            device_id,
            secret_hash: "new".into(),
        },
        &manager,
    );
    assert_eq!(f.venue.devices[&device_id].secret_hash, "new");
    f.run(&Command::RemoveDevice { device_id }, &manager);
    assert!(f.venue.devices.is_empty());
    assert_eq!(
        f.rejection(&Command::RemoveDevice { device_id }, &manager),
        "device_not_found"
    );
}

#[test]
fn a_food_safety_alert_is_raised_once_acknowledged_and_resolved_with_a_corrective_action() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let kitchen = f.kitchen.clone();
    f.run(&provision(910, probe_spec("fridge-9")), &manager);
    let raise = |n: u128| Command::RaiseFoodSafetyAlert {
        alert_id: AlertId(id(n)),
        device_id: DeviceId(id(910)),
        kind: food_safety::FoodSafetyAlertKind::Excursion,
        celsius: Some(7.5),
        limit: Some(5.0),
        since: at(0),
    };
    f.run(&raise(920), &Actor::system());
    assert_eq!(
        f.rejection(&raise(921), &Actor::system()),
        "alert_already_open"
    );
    let alert_id = AlertId(id(920));
    assert_eq!(f.venue.food_safety_alerts[&alert_id].unit, "Walk-in fridge");
    let resolve = |action: &str| Command::ResolveFoodSafetyAlert {
        alert_id,
        corrective_action: action.into(),
    };
    assert_eq!(
        f.rejection(&resolve(" "), &kitchen),
        "missing_corrective_action"
    );
    f.run(&Command::AcknowledgeFoodSafetyAlert { alert_id }, &kitchen);
    assert_eq!(
        f.rejection(&Command::AcknowledgeFoodSafetyAlert { alert_id }, &kitchen),
        "alert_already_acknowledged"
    );
    f.run(
        &Command::MarkFoodSafetyRecovered { alert_id },
        &Actor::system(),
    );
    f.run(
        &resolve("moved stock to the reach-in, technician called"),
        &kitchen,
    );
    let alert = &f.venue.food_safety_alerts[&alert_id];
    assert_eq!(
        (alert.acknowledged_by, alert.resolved_by),
        (kitchen.staff_id, kitchen.staff_id)
    );
    assert!(!alert.is_open());
    assert_eq!(
        f.rejection(&resolve("again"), &kitchen),
        "alert_already_resolved"
    );
    // Once resolved, a new excursion on the same probe is a new alert.
    f.run(&raise(922), &Actor::system());
}

#[test]
fn only_probes_raise_food_safety_alerts() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    let mut scanner = probe_spec("scanner-9");
    scanner.kind = DeviceKind::Scanner;
    scanner.limits = None;
    scanner.purpose = Some(ScannerPurpose::Receiving);
    f.run(&provision(911, scanner), &manager);
    let raise = Command::RaiseFoodSafetyAlert {
        alert_id: AlertId(id(930)),
        device_id: DeviceId(id(911)),
        kind: food_safety::FoodSafetyAlertKind::Offline,
        celsius: None,
        limit: None,
        since: at(0),
    };
    assert_eq!(f.rejection(&raise, &Actor::system()), "not_a_probe");
}

#[test]
fn a_food_safety_alert_never_begins_after_it_was_raised() {
    let mut f = Fixture::new();
    let manager = f.manager.clone();
    f.run(&provision(912, probe_spec("fridge-12")), &manager);
    let alert_id = AlertId(id(940));
    f.run(
        &Command::RaiseFoodSafetyAlert {
            alert_id,
            device_id: DeviceId(id(912)),
            kind: food_safety::FoodSafetyAlertKind::Critical,
            celsius: Some(9.0),
            limit: Some(5.0),
            since: at(30),
        },
        &Actor::system(),
    );
    let alert = &f.venue.food_safety_alerts[&alert_id];
    assert_eq!(alert.raised_at, at(1));
    assert_eq!(alert.since, alert.raised_at);
}

// ----- floor -----------------------------------------------------------------------------

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
    assert_eq!(f.rejection(&again, &waiter), "table_occupied");
    let nobody = Command::SeatParty {
        table_id: T2,
        guests: 0,
        server_id: None,
    };
    assert_eq!(f.rejection(&nobody, &waiter), "invalid_guests");
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
    assert_eq!(f.rejection(&onto_occupied, &waiter), "table_occupied");
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
    assert_eq!(f.rejection(&order_on_merged, &waiter), "table_merged");
    f.run(&Command::SplitTables { table_id: T1 }, &waiter);
    assert_eq!(f.status_of(T2), TableStatus::Available);
    assert_eq!(f.status_of(T1), TableStatus::Seated);
    assert_eq!(
        f.rejection(&Command::SplitTables { table_id: T1 }, &waiter),
        "table_not_merged"
    );
}

#[test]
fn a_table_with_open_orders_cannot_be_cleared() {
    let mut f = Fixture::new();
    f.open_dine_in(1000, T1, vec![line(1, TEH, 1, vec![])]);
    assert_eq!(
        f.rejection(&Command::ClearTable { table_id: T1 }, &f.waiter),
        "table_has_open_orders"
    );
    assert_eq!(
        f.rejection(&Command::RemoveTable { table_id: T1 }, &f.manager),
        "table_in_use"
    );
}

#[test]
fn table_labels_are_unique_in_a_venue() {
    let f = Fixture::new();
    let duplicate = table(TableId(id(199)), AreaId(id(100)), "1");
    assert_eq!(f.rejection(&duplicate, &f.manager), "table_label_taken");
}

// ----- menu and staff --------------------------------------------------------------------

#[test]
fn a_menu_item_needs_a_known_station_and_a_non_negative_price() {
    let f = Fixture::new();
    let mut bad = match item(
        MenuItemId(id(399)),
        CategoryId(id(300)),
        "Nasi",
        -1,
        GRILL,
        vec![],
        1,
    ) {
        Command::SaveMenuItem { item } => item,
        _ => unreachable!(),
    };
    assert_eq!(
        f.rejection(&Command::SaveMenuItem { item: bad.clone() }, &f.manager),
        "invalid_price"
    );
    bad.price = 10_000;
    bad.stations = vec![StationId(id(999))];
    assert_eq!(
        f.rejection(&Command::SaveMenuItem { item: bad }, &f.manager),
        "station_not_found"
    );
}

#[test]
fn two_staff_cannot_share_a_pin_and_a_manager_cannot_create_an_owner() {
    let f = Fixture::new();
    let mut clash = staff(50, "Rina", Role::Cashier);
    if let Command::AddStaff { pin_lookup, .. } = &mut clash {
        *pin_lookup = Some("pin-1".into());
    }
    assert_eq!(f.rejection(&clash, &f.manager), "pin_taken");
    assert_eq!(
        f.rejection(&staff(51, "Owner", Role::Owner), &f.manager),
        "owner_only"
    );
}

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

mod device_rules;

// ----- properties ------------------------------------------------------------------------

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
