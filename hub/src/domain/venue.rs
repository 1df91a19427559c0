//! The venue aggregate: all live state of one restaurant, `decide` (command -> events or a
//! rejection, never mutating) and `apply` (event -> state, never failing). Every rule that
//! spans tables, orders and the menu lives here, behind the venue's single writer.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::{
    Actor, Role, Staff, Timestamp,
    command::{Command, DeviceSpec, LineInput},
    cooling::CoolingRecord,
    device::{Device, DeviceKind, UnitLimits},
    event::Event,
    floor::{Area, Table, TableLayout, TableStatus},
    food_safety::FoodSafetyAlert,
    id::{
        AlertId, AreaId, CategoryId, CoolingBatchId, DeviceId, LineId, MenuItemId, ModifierGroupId,
        OrderId, StaffId, StationId, TableId, TenantId, VenueId,
    },
    menu::{Category, MenuItem, ModifierGroup, Station},
    order::{Line, LineModifier, LineStatus, LineVoid, Order, OrderKind, OrderStatus},
    rejection::Rejection,
    scan::RecordedScan,
};

/// How many closed or cancelled orders stay in memory (for reprints, late voids and the
/// screens' recall); older ones are read from the store's projection.
pub const FINISHED_ORDERS_KEPT: usize = 1000;

/// Resolved food-safety alerts kept in memory (the journal keeps every one).
pub const RESOLVED_ALERTS_KEPT: usize = 200;

const MAX_GUESTS: u16 = 200;
const MAX_QUANTITY: u16 = 999;
const MAX_COURSE: u8 = 9;
pub(super) const MAX_NAME: usize = 120;
const MAX_NOTE: usize = 500;

/// Identity of a venue, set once by `VenueCreated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VenueInfo {
    pub id: VenueId,
    pub tenant_id: TenantId,
    pub slug: String,
    pub name: String,
    pub timezone: String,
    pub currency: String,
}

/// All live state of a venue. Rebuilt by applying its journal from the start (or from a
/// snapshot) in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Venue {
    pub info: Option<VenueInfo>,
    pub staff: BTreeMap<StaffId, Staff>,
    pub stations: BTreeMap<StationId, Station>,
    pub areas: BTreeMap<AreaId, Area>,
    pub tables: BTreeMap<TableId, Table>,
    pub categories: BTreeMap<CategoryId, Category>,
    pub modifier_groups: BTreeMap<ModifierGroupId, ModifierGroup>,
    pub items: BTreeMap<MenuItemId, MenuItem>,
    pub orders: BTreeMap<OrderId, Order>,
    #[serde(default)]
    pub devices: BTreeMap<DeviceId, Device>,
    /// Open food-safety alerts and the most recently resolved ones.
    #[serde(default)]
    pub food_safety_alerts: BTreeMap<AlertId, FoodSafetyAlert>,
    /// The most recent scans of receiving, counting and waste scanners, oldest first.
    #[serde(default)]
    pub scans: VecDeque<RecordedScan>,
    /// The cooling log: active batches and the most recently finished ones.
    #[serde(default)]
    pub cooling_batches: BTreeMap<CoolingBatchId, CoolingRecord>,
    /// Closed and cancelled orders still in memory, oldest first.
    pub finished_orders: VecDeque<OrderId>,
    pub next_order_number: u32,
}

type Decision = Result<Vec<Event>, Rejection>;

impl Venue {
    // ----- queries -------------------------------------------------------------------

    pub fn table_status(&self, table: &Table) -> TableStatus {
        let primary = table
            .merged_into
            .and_then(|id| self.tables.get(&id))
            .unwrap_or(table);
        if primary.needs_cleaning_since.is_some() {
            return TableStatus::NeedsCleaning;
        }
        if primary.party.is_none() {
            return TableStatus::Available;
        }
        if primary.bill_requested_at.is_some() {
            return TableStatus::BillRequested;
        }
        let mut open = self.open_orders_at(primary.id()).peekable();
        if open.peek().is_none() {
            return TableStatus::Seated;
        }
        if open.any(Order::has_food_ready) {
            TableStatus::FoodReady
        } else {
            TableStatus::Ordered
        }
    }

    pub fn open_orders_at(&self, table_id: TableId) -> impl Iterator<Item = &Order> {
        self.orders
            .values()
            .filter(move |order| order.is_open() && order.table_id == Some(table_id))
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values().filter(|order| order.is_open())
    }

    pub fn staff_by_pin_lookup(&self, lookup: &str) -> Option<&Staff> {
        self.staff
            .values()
            .find(|staff| staff.active && staff.pin_lookup.as_deref() == Some(lookup))
    }

    /// Whether any staff member, active or not, holds this PIN: a deactivated member may be
    /// reactivated, and two people must never share a PIN.
    fn pin_in_use(&self, lookup: &str, except: Option<StaffId>) -> bool {
        self.staff
            .values()
            .any(|staff| Some(staff.id) != except && staff.pin_lookup.as_deref() == Some(lookup))
    }

    pub fn staff_by_username(&self, username: &str) -> Option<&Staff> {
        self.staff.values().find(|staff| {
            staff
                .username
                .as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(username))
        })
    }

    /// The order whose printed ticket code this is (see `order::ticket_code`), if it is
    /// still in memory.
    pub fn order_by_ticket_code(&self, code: &str) -> Option<&Order> {
        let number = super::order::parse_ticket_code(code)?;
        self.orders.values().find(|o| o.number == number)
    }

    /// The orders on a station's screen, in the order the KDS shows their cards: oldest
    /// fired first, cards with only held lines last. A bump bar's cursor walks this list.
    pub fn station_queue(&self, station: StationId) -> Vec<OrderId> {
        let mut queue: Vec<(bool, Option<Timestamp>, u32, OrderId)> = self
            .open_orders()
            .filter(|o| o.is_on_station(station))
            .map(|o| {
                let fired = o.live_lines_at(station).filter_map(|l| l.fired_at).min();
                (fired.is_none(), fired, o.number, o.id)
            })
            .collect();
        queue.sort();
        queue.into_iter().map(|(_, _, _, id)| id).collect()
    }

    /// Open orders this station finished and no longer shows, newest bump first, with
    /// when it was bumped: what the station can recall.
    pub fn bumped_at_station(&self, station: StationId) -> Vec<(&Order, Option<Timestamp>)> {
        let mut bumped: Vec<(&Order, Option<Timestamp>)> = self
            .open_orders()
            .filter(|o| !o.is_on_station(station))
            .filter(|o| {
                o.lines_at(station)
                    .any(|l| l.stations_ready.contains(&station))
            })
            .map(|o| {
                let at = o
                    .lines_at(station)
                    .filter_map(|l| l.ready_at.or(l.fired_at))
                    .max();
                (o, at)
            })
            .collect();
        bumped.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.number.cmp(&a.0.number)));
        bumped
    }

    /// The ticket a station bumped last: what `RecallTicket` brings back on "recall".
    pub fn last_bumped(&self, station: StationId) -> Option<OrderId> {
        self.bumped_at_station(station).first().map(|(o, _)| o.id)
    }

    pub(super) fn table(&self, id: TableId) -> Result<&Table, Rejection> {
        self.tables
            .get(&id)
            .ok_or_else(|| Rejection::not_found("table_not_found", format!("table {id}")))
    }

    /// A table that is not merged into another one (merged tables act through their primary).
    fn primary_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.table(id)?;
        if let Some(primary) = table.merged_into {
            let label = self
                .tables
                .get(&primary)
                .map_or_else(|| primary.to_string(), |t| t.layout.label.clone());
            return Err(Rejection::conflict(
                "table_merged",
                format!("table {} is merged into table {label}", table.layout.label),
            ));
        }
        Ok(table)
    }

    fn has_merged_tables(&self, id: TableId) -> bool {
        self.tables.values().any(|t| t.merged_into == Some(id))
    }

    fn order(&self, id: OrderId) -> Result<&Order, Rejection> {
        self.orders
            .get(&id)
            .ok_or_else(|| Rejection::not_found("order_not_found", format!("order {id}")))
    }

    fn station(&self, id: StationId) -> Result<&Station, Rejection> {
        self.stations.get(&id).ok_or_else(|| {
            Rejection::not_found("station_not_found", format!("station {id}")).within("station_id")
        })
    }

    fn open_order(&self, id: OrderId) -> Result<&Order, Rejection> {
        let order = self.order(id)?;
        if !order.is_open() {
            return Err(Rejection::conflict(
                "order_not_open",
                format!("order #{} is {}", order.number, order.status.as_str()),
            ));
        }
        Ok(order)
    }

    fn active_staff(&self, id: StaffId, field: &str) -> Result<&Staff, Rejection> {
        match self.staff.get(&id) {
            Some(staff) if staff.active => Ok(staff),
            _ => Err(
                Rejection::not_found("staff_not_found", format!("staff member {id}")).within(field),
            ),
        }
    }

    // ----- decide --------------------------------------------------------------------

    /// Decides a command against the current state. Never mutates; the events returned,
    /// applied in order, perform the change. An accepted command yields at least one event.
    pub fn decide(&self, command: &Command, actor: &Actor, now: Timestamp) -> Decision {
        if self.info.is_none() && !matches!(command, Command::CreateVenue { .. }) {
            return Err(Rejection::conflict(
                "venue_not_created",
                "this venue has not been created yet",
            ));
        }
        match command {
            Command::CreateVenue {
                venue_id,
                tenant_id,
                slug,
                name,
                timezone,
                currency,
            } => {
                if self.info.is_some() {
                    return Err(Rejection::conflict(
                        "venue_exists",
                        "the venue already exists",
                    ));
                }
                validate_slug("slug", slug)?;
                validate_text("name", name, MAX_NAME)?;
                validate_text("timezone", timezone, 64)?;
                // Reports count days in this zone; a name no one knows would count them in UTC.
                if timezone.trim().parse::<chrono_tz::Tz>().is_err() {
                    return Err(Rejection::invalid(
                        "invalid_timezone",
                        "timezone",
                        format!("{timezone:?} is not an IANA timezone such as Asia/Jakarta"),
                    ));
                }
                if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
                    return Err(Rejection::invalid(
                        "invalid_currency",
                        "currency",
                        "currency must be an ISO 4217 code such as IDR",
                    ));
                }
                Ok(vec![Event::VenueCreated {
                    venue_id: *venue_id,
                    tenant_id: *tenant_id,
                    slug: slug.clone(),
                    name: trim_text(name).to_owned(),
                    timezone: timezone.clone(),
                    currency: currency.clone(),
                }])
            }
            Command::AddStaff {
                staff_id,
                name,
                role,
                username,
                pin_lookup,
                pin_hash,
                password_hash,
            } => {
                if self.staff.contains_key(staff_id) {
                    return Err(Rejection::conflict(
                        "staff_exists",
                        "this staff id is taken",
                    ));
                }
                validate_text("name", name, MAX_NAME)?;
                guard_owner_role(actor, *role)?;
                let has_pin = pin_lookup.is_some() && pin_hash.is_some();
                let has_password = username.is_some() && password_hash.is_some();
                if !has_pin && !has_password {
                    return Err(Rejection::invalid(
                        "missing_credentials",
                        "pin",
                        "a staff member needs a PIN or a username and password",
                    ));
                }
                if let Some(username) = username {
                    validate_text("username", username, 64)?;
                    if self.staff_by_username(username).is_some() {
                        return Err(Rejection::conflict(
                            "username_taken",
                            format!("username {username:?} is taken"),
                        ));
                    }
                }
                if let Some(lookup) = pin_lookup
                    && self.pin_in_use(lookup, None)
                {
                    return Err(Rejection::conflict(
                        "pin_taken",
                        "another staff member of this venue uses that PIN",
                    ));
                }
                Ok(vec![Event::StaffAdded {
                    staff: Staff {
                        id: *staff_id,
                        name: trim_text(name).to_owned(),
                        role: *role,
                        active: true,
                        username: username.clone(),
                        pin_lookup: pin_lookup.clone(),
                        pin_hash: pin_hash.clone(),
                        password_hash: password_hash.clone(),
                        venues: Vec::new(),
                    },
                }])
            }
            Command::UpdateStaff {
                staff_id,
                name,
                role,
                active,
            } => {
                let staff = self.staff.get(staff_id).ok_or_else(|| {
                    Rejection::not_found("staff_not_found", format!("staff member {staff_id}"))
                })?;
                if let Some(name) = name {
                    validate_text("name", name, MAX_NAME)?;
                }
                guard_owner_role(actor, staff.role)?;
                if let Some(role) = role {
                    guard_owner_role(actor, *role)?;
                }
                Ok(vec![Event::StaffUpdated {
                    staff_id: *staff_id,
                    name: name
                        .as_deref()
                        .map_or_else(|| staff.name.clone(), |n| trim_text(n).to_owned()),
                    role: role.unwrap_or(staff.role),
                    active: active.unwrap_or(staff.active),
                }])
            }
            Command::SetStaffPin {
                staff_id,
                pin_lookup,
                pin_hash,
            } => {
                let staff = self.staff.get(staff_id).ok_or_else(|| {
                    Rejection::not_found("staff_not_found", format!("staff member {staff_id}"))
                })?;
                guard_owner_role(actor, staff.role)?;
                if self.pin_in_use(pin_lookup, Some(*staff_id)) {
                    return Err(Rejection::conflict(
                        "pin_taken",
                        "another staff member of this venue uses that PIN",
                    ));
                }
                Ok(vec![Event::StaffPinChanged {
                    staff_id: *staff_id,
                    pin_lookup: pin_lookup.clone(),
                    pin_hash: pin_hash.clone(),
                }])
            }
            Command::SetStaffPassword {
                staff_id,
                password_hash,
            } => {
                let staff = self.staff.get(staff_id).ok_or_else(|| {
                    Rejection::not_found("staff_not_found", format!("staff member {staff_id}"))
                })?;
                guard_owner_role(actor, staff.role)?;
                if staff.username.is_none() {
                    return Err(Rejection::conflict(
                        "no_username",
                        "this staff member logs in by PIN only",
                    ));
                }
                Ok(vec![Event::StaffPasswordChanged {
                    staff_id: *staff_id,
                    password_hash: password_hash.clone(),
                }])
            }
            Command::GiveStaffVenues { staff_id, venues } => {
                self.decide_give_staff_venues(actor, *staff_id, venues)
            }
            Command::SaveStation { station } => {
                validate_slug("key", &station.key)?;
                validate_text("name", &station.name, MAX_NAME)?;
                if self
                    .stations
                    .values()
                    .any(|s| s.id != station.id && s.key == station.key)
                {
                    return Err(Rejection::conflict(
                        "station_key_taken",
                        format!("another station uses the key {:?}", station.key),
                    ));
                }
                Ok(vec![Event::StationSaved {
                    station: station.clone(),
                }])
            }
            Command::SaveArea { area } => {
                validate_text("name", &area.name, MAX_NAME)?;
                Ok(vec![Event::AreaSaved { area: area.clone() }])
            }
            Command::SaveTable { table } => self.decide_save_table(table),
            Command::RemoveTable { table_id } => {
                let table = self.table(*table_id)?;
                if !table.is_free()
                    || self.has_merged_tables(*table_id)
                    || self.open_orders_at(*table_id).next().is_some()
                {
                    return Err(Rejection::conflict(
                        "table_in_use",
                        format!("table {} is in use", table.layout.label),
                    ));
                }
                Ok(vec![Event::TableRemoved {
                    table_id: *table_id,
                }])
            }
            Command::AssignServer {
                table_id,
                server_id,
            } => {
                self.table(*table_id)?;
                if let Some(server) = server_id {
                    self.active_staff(*server, "server_id")?;
                }
                Ok(vec![Event::ServerAssigned {
                    table_id: *table_id,
                    server_id: *server_id,
                }])
            }
            Command::SaveCategory { category } => {
                validate_text("name", &category.name, MAX_NAME)?;
                Ok(vec![Event::CategorySaved {
                    category: category.clone(),
                }])
            }
            Command::SaveModifierGroup { group } => {
                validate_modifier_group(group)?;
                Ok(vec![Event::ModifierGroupSaved {
                    group: group.clone(),
                }])
            }
            Command::SaveMenuItem { item } => {
                self.validate_menu_item(item)?;
                Ok(vec![Event::MenuItemSaved { item: item.clone() }])
            }
            Command::SetItemAvailability { item_id, available } => {
                if !self.items.contains_key(item_id) {
                    return Err(Rejection::not_found(
                        "menu_item_not_found",
                        format!("menu item {item_id}"),
                    ));
                }
                Ok(vec![Event::ItemAvailabilityChanged {
                    item_id: *item_id,
                    available: *available,
                }])
            }
            Command::SeatParty {
                table_id,
                guests,
                server_id,
            } => {
                let table = self.seatable_table(*table_id)?;
                validate_guests("guests", *guests)?;
                if let Some(server) = server_id {
                    self.active_staff(*server, "server_id")?;
                }
                Ok(vec![Event::PartySeated {
                    table_id: *table_id,
                    guests: *guests,
                    server_id: server_id.or(table.server_id),
                    at: now,
                }])
            }
            Command::MoveParty {
                table_id,
                to_table_id,
            } => {
                let from = self.occupied_table(*table_id)?;
                if table_id == to_table_id {
                    return Err(Rejection::invalid(
                        "same_table",
                        "to_table_id",
                        "the party is already at that table",
                    ));
                }
                if self.has_merged_tables(*table_id) {
                    return Err(Rejection::conflict(
                        "table_has_merged_tables",
                        format!("split table {} before moving its party", from.layout.label),
                    ));
                }
                self.seatable_table(*to_table_id)
                    .map_err(|r| r.within("to_table_id"))?;
                Ok(vec![Event::PartyMoved {
                    table_id: *table_id,
                    to_table_id: *to_table_id,
                }])
            }
            Command::MergeTables {
                table_id,
                table_ids,
            } => {
                let primary = self.primary_table(*table_id)?;
                if primary.needs_cleaning_since.is_some() {
                    return Err(needs_cleaning(primary));
                }
                if table_ids.is_empty() {
                    return Err(Rejection::invalid(
                        "no_tables",
                        "table_ids",
                        "name at least one table to merge",
                    ));
                }
                let mut seen = BTreeSet::new();
                for (index, other_id) in table_ids.iter().enumerate() {
                    let field = format!("table_ids[{index}]");
                    if other_id == table_id || !seen.insert(*other_id) {
                        return Err(Rejection::invalid(
                            "duplicate_table",
                            field,
                            "each table may be named once and not be the primary table",
                        ));
                    }
                    let other = self
                        .primary_table(*other_id)
                        .map_err(|r| r.within(&field))?;
                    if other.needs_cleaning_since.is_some() {
                        return Err(needs_cleaning(other).within(&field));
                    }
                    if self.has_merged_tables(*other_id) {
                        return Err(Rejection::conflict(
                            "table_has_merged_tables",
                            format!(
                                "table {} already has tables merged into it",
                                other.layout.label
                            ),
                        )
                        .within(&field));
                    }
                }
                Ok(vec![Event::TablesMerged {
                    table_id: *table_id,
                    table_ids: table_ids.clone(),
                }])
            }
            Command::SplitTables { table_id } => {
                self.primary_table(*table_id)?;
                let merged: Vec<TableId> = self
                    .tables
                    .values()
                    .filter(|t| t.merged_into == Some(*table_id))
                    .map(Table::id)
                    .collect();
                if merged.is_empty() {
                    return Err(Rejection::conflict(
                        "table_not_merged",
                        "no tables are merged into this table",
                    ));
                }
                Ok(vec![Event::TablesSplit {
                    table_id: *table_id,
                    table_ids: merged,
                }])
            }
            Command::RequestBill { table_id } => {
                let table = self.occupied_table(*table_id)?;
                if table.bill_requested_at.is_some() {
                    return Err(Rejection::conflict(
                        "bill_already_requested",
                        format!(
                            "the bill for table {} is already requested",
                            table.layout.label
                        ),
                    ));
                }
                Ok(vec![Event::BillRequested {
                    table_id: *table_id,
                    at: now,
                }])
            }
            Command::ClearTable { table_id } => {
                let table = self.occupied_table(*table_id)?;
                if self.open_orders_at(*table_id).next().is_some() {
                    return Err(Rejection::conflict(
                        "table_has_open_orders",
                        format!("table {} still has open orders", table.layout.label),
                    ));
                }
                let mut events = self.end_service_request(*table_id, now);
                events.push(Event::TableCleared {
                    table_id: *table_id,
                    at: now,
                });
                Ok(events)
            }
            Command::MarkTableClean { table_id } => {
                let table = self.table(*table_id)?;
                if table.needs_cleaning_since.is_none() {
                    return Err(Rejection::conflict(
                        "table_not_dirty",
                        format!("table {} does not need cleaning", table.layout.label),
                    ));
                }
                Ok(vec![Event::TableCleaned {
                    table_id: *table_id,
                }])
            }
            Command::OpenOrder {
                order_id,
                kind,
                table_id,
                guests,
                customer,
                channel,
                note,
                lines,
                hold,
            } => {
                if self.orders.contains_key(order_id) {
                    return Err(Rejection::conflict(
                        "order_exists",
                        "this order id is taken",
                    ));
                }
                if let Some(guests) = guests {
                    validate_guests("guests", *guests)?;
                }
                if let Some(note) = note {
                    validate_text("note", note, MAX_NOTE)?;
                }
                if let Some(channel) = channel {
                    validate_text("channel", channel, 40)?;
                }
                if let Some(customer) = customer {
                    validate_text("customer.name", &customer.name, MAX_NAME)?;
                }
                let mut events = Vec::new();
                match kind {
                    OrderKind::DineIn => {
                        let Some(table_id) = table_id else {
                            return Err(Rejection::invalid(
                                "missing_table",
                                "table_id",
                                "a dine-in order needs a table",
                            ));
                        };
                        let table = self
                            .primary_table(*table_id)
                            .map_err(|r| r.within("table_id"))?;
                        if table.needs_cleaning_since.is_some() {
                            return Err(needs_cleaning(table).within("table_id"));
                        }
                        if table.party.is_none() {
                            events.push(Event::PartySeated {
                                table_id: *table_id,
                                guests: guests.unwrap_or(1),
                                server_id: actor.staff_id.or(table.server_id),
                                at: now,
                            });
                        }
                    }
                    OrderKind::Takeaway | OrderKind::Delivery => {
                        if table_id.is_some() {
                            return Err(Rejection::invalid(
                                "unexpected_table",
                                "table_id",
                                "only dine-in orders have a table",
                            ));
                        }
                        if *kind == OrderKind::Delivery {
                            let has_address = customer
                                .as_ref()
                                .and_then(|c| c.address.as_deref())
                                .is_some_and(|a| !is_blank(a));
                            if !has_address {
                                return Err(Rejection::invalid(
                                    "missing_address",
                                    "customer.address",
                                    "a delivery order needs a customer with an address",
                                ));
                            }
                        }
                    }
                }
                let new_lines = self.build_lines(None, lines, actor, now)?;
                events.push(Event::OrderOpened {
                    order_id: *order_id,
                    number: self.next_order_number.max(1),
                    kind: *kind,
                    table_id: *table_id,
                    guests: *guests,
                    customer: customer.clone(),
                    channel: channel.clone(),
                    note: note.clone(),
                    created_by: actor.staff_id,
                    at: now,
                });
                if !new_lines.is_empty() {
                    let fire = lines_to_fire(&[], &new_lines, &[], *hold);
                    events.push(Event::LinesAdded {
                        order_id: *order_id,
                        lines: new_lines,
                    });
                    events.extend(fire.map(|(courses, line_ids)| Event::LinesFired {
                        order_id: *order_id,
                        courses,
                        line_ids,
                        at: now,
                    }));
                }
                Ok(events)
            }
            Command::AddLines {
                order_id,
                lines,
                hold,
            } => {
                let order = self.open_order(*order_id)?;
                if lines.is_empty() {
                    return Err(Rejection::invalid(
                        "no_lines",
                        "lines",
                        "add at least one line",
                    ));
                }
                let new_lines = self.build_lines(Some(order), lines, actor, now)?;
                let fire = lines_to_fire(&order.lines, &new_lines, &order.fired_courses, *hold);
                let mut events = vec![Event::LinesAdded {
                    order_id: *order_id,
                    lines: new_lines,
                }];
                events.extend(fire.map(|(courses, line_ids)| Event::LinesFired {
                    order_id: *order_id,
                    courses,
                    line_ids,
                    at: now,
                }));
                Ok(events)
            }
            Command::FireCourse { order_id, course } => {
                let order = self.open_order(*order_id)?;
                validate_course("course", *course)?;
                let line_ids: Vec<LineId> = order
                    .lines
                    .iter()
                    .filter(|l| l.course == *course && l.status == LineStatus::New)
                    .map(|l| l.id)
                    .collect();
                if line_ids.is_empty() {
                    return Err(Rejection::conflict(
                        "nothing_to_fire",
                        format!(
                            "course {course} of order #{} has no held lines",
                            order.number
                        ),
                    ));
                }
                Ok(vec![Event::LinesFired {
                    order_id: *order_id,
                    courses: vec![*course],
                    line_ids,
                    at: now,
                }])
            }
            Command::StartLines { order_id, line_ids } => {
                let order = self.open_order(*order_id)?;
                check_lines(order, line_ids, "start", |l| l.status == LineStatus::Fired)?;
                Ok(vec![Event::LinesStarted {
                    order_id: *order_id,
                    line_ids: line_ids.clone(),
                    at: now,
                }])
            }
            Command::MarkLinesReady {
                order_id,
                line_ids,
                station_id,
            } => {
                let order = self.open_order(*order_id)?;
                if let Some(station) = station_id {
                    self.station(*station)?;
                }
                check_lines(order, line_ids, "mark ready", |l| {
                    l.status.is_live_in_kitchen()
                        && station_id.is_none_or(|s| {
                            l.stations.contains(&s) && !l.stations_ready.contains(&s)
                        })
                })?;
                Ok(vec![Event::LinesReady {
                    order_id: *order_id,
                    line_ids: line_ids.clone(),
                    station_id: *station_id,
                    at: now,
                }])
            }
            Command::ServeLines { order_id, line_ids } => {
                let order = self.open_order(*order_id)?;
                check_lines(order, line_ids, "serve", |l| l.status == LineStatus::Ready)?;
                Ok(vec![Event::LinesServed {
                    order_id: *order_id,
                    line_ids: line_ids.clone(),
                    at: now,
                }])
            }
            Command::VoidLine {
                order_id,
                line_id,
                reason,
            } => {
                let order = self.open_order(*order_id)?;
                let line = order.line(*line_id).ok_or_else(|| {
                    Rejection::not_found("line_not_found", format!("line {line_id}"))
                        .within("line_id")
                })?;
                if line.status == LineStatus::Voided {
                    return Err(Rejection::conflict(
                        "line_already_voided",
                        format!("{} is already voided", line.name),
                    ));
                }
                validate_text("reason", reason, MAX_NOTE).map_err(|_| {
                    Rejection::invalid("missing_reason", "reason", "a void needs a reason")
                })?;
                let after_cooking = line.status.is_cooking_started();
                if after_cooking && !actor.is_manager() {
                    return Err(Rejection::forbidden(
                        "manager_approval_required",
                        format!(
                            "{} is already {}: only a manager can void it",
                            line.name,
                            line.status.as_str()
                        ),
                    ));
                }
                Ok(vec![Event::LineVoided {
                    order_id: *order_id,
                    line_id: *line_id,
                    reason: trim_text(reason).to_owned(),
                    by: actor.staff_id,
                    after_cooking,
                    at: now,
                }])
            }
            Command::StartTicket {
                order_id,
                station_id,
            } => {
                let order = self.open_order(*order_id)?;
                self.station(*station_id)?;
                let line_ids: Vec<LineId> = order
                    .lines_at(*station_id)
                    .filter(|l| l.status == LineStatus::Fired)
                    .map(|l| l.id)
                    .collect();
                if line_ids.is_empty() {
                    return Err(Rejection::conflict(
                        "nothing_to_start",
                        format!(
                            "order #{} has no fired lines waiting at this station",
                            order.number
                        ),
                    ));
                }
                Ok(vec![Event::LinesStarted {
                    order_id: *order_id,
                    line_ids,
                    at: now,
                }])
            }
            Command::BumpTicket {
                order_id,
                station_id,
            } => {
                let order = self.open_order(*order_id)?;
                self.station(*station_id)?;
                let line_ids: Vec<LineId> =
                    order.live_lines_at(*station_id).map(|l| l.id).collect();
                if !line_ids.is_empty() {
                    return Ok(vec![Event::LinesReady {
                        order_id: *order_id,
                        line_ids,
                        station_id: Some(*station_id),
                        at: now,
                    }]);
                }
                if order.recalled.contains(station_id) {
                    return Ok(vec![Event::TicketBumped {
                        order_id: *order_id,
                        station_id: *station_id,
                        at: now,
                    }]);
                }
                Err(Rejection::conflict(
                    "nothing_to_bump",
                    format!("order #{} has nothing live at this station", order.number),
                ))
            }
            Command::RecallTicket {
                order_id,
                station_id,
            } => {
                let order = self.open_order(*order_id)?;
                self.station(*station_id)?;
                if order.lines_at(*station_id).next().is_none() {
                    return Err(Rejection::conflict(
                        "not_at_station",
                        format!("order #{} has nothing for this station", order.number),
                    ));
                }
                if order.is_on_station(*station_id) {
                    return Err(Rejection::conflict(
                        "ticket_on_screen",
                        format!("order #{} is still on this station's screen", order.number),
                    ));
                }
                Ok(vec![Event::TicketRecalled {
                    order_id: *order_id,
                    station_id: *station_id,
                    at: now,
                }])
            }
            Command::ServeReady { order_id } => {
                let order = self.open_order(*order_id)?;
                let line_ids: Vec<LineId> = order
                    .lines
                    .iter()
                    .filter(|l| l.status == LineStatus::Ready)
                    .map(|l| l.id)
                    .collect();
                if line_ids.is_empty() {
                    return Err(Rejection::conflict(
                        "nothing_to_serve",
                        format!("order #{} has nothing ready at the pass", order.number),
                    ));
                }
                Ok(vec![Event::LinesServed {
                    order_id: *order_id,
                    line_ids,
                    at: now,
                }])
            }
            Command::RaiseDeliveryAlert {
                order_id,
                station_id,
            } => {
                let order = self.open_order(*order_id)?;
                self.station(*station_id)?;
                if order.unseen_at.contains(station_id) {
                    return Err(Rejection::conflict(
                        "alert_already_raised",
                        "this ticket's delivery alert is already raised",
                    ));
                }
                Ok(vec![Event::DeliveryAlertRaised {
                    order_id: *order_id,
                    station_id: *station_id,
                    at: now,
                }])
            }
            Command::ClearDeliveryAlert {
                order_id,
                station_id,
            } => {
                let order = self.order(*order_id)?;
                if !order.unseen_at.contains(station_id) {
                    return Err(Rejection::conflict(
                        "no_delivery_alert",
                        "this ticket has no delivery alert at that station",
                    ));
                }
                Ok(vec![Event::DeliveryAlertCleared {
                    order_id: *order_id,
                    station_id: *station_id,
                    at: now,
                }])
            }
            Command::ProvisionDevice { .. }
            | Command::UpdateDevice { .. }
            | Command::SetDeviceEnabled { .. }
            | Command::RotateDeviceSecret { .. }
            | Command::RemoveDevice { .. } => self.decide_device(command, now),
            Command::RaiseFoodSafetyAlert { .. }
            | Command::MarkFoodSafetyRecovered { .. }
            | Command::AcknowledgeFoodSafetyAlert { .. }
            | Command::ResolveFoodSafetyAlert { .. } => {
                self.decide_food_safety(command, actor, now)
            }
            Command::RecordScan { .. } | Command::PickUpTicket { .. } => {
                self.decide_scan(command, actor, now)
            }
            Command::RequestService { .. }
            | Command::CancelServiceRequest { .. }
            | Command::AcknowledgeServiceRequest { .. } => self.decide_service(command, actor, now),
            Command::StartCoolingBatch { .. }
            | Command::RecordCoolingProgress { .. }
            | Command::StopCoolingBatch { .. } => self.decide_cooling(command, actor, now),
            Command::CloseOrder { order_id } => {
                let order = self.open_order(*order_id)?;
                let unserved = order
                    .lines
                    .iter()
                    .filter(|l| !matches!(l.status, LineStatus::Served | LineStatus::Voided))
                    .count();
                if unserved > 0 {
                    return Err(Rejection::conflict(
                        "order_has_unserved_lines",
                        format!(
                            "order #{} has {unserved} lines not yet served",
                            order.number
                        ),
                    ));
                }
                let mut events = vec![Event::OrderClosed {
                    order_id: *order_id,
                    at: now,
                }];
                if let Some(table_id) = order.table_id
                    && self
                        .tables
                        .get(&table_id)
                        .is_some_and(|t| t.party.is_some())
                    && self.open_orders_at(table_id).all(|o| o.id == *order_id)
                {
                    events.extend(self.end_service_request(table_id, now));
                    events.push(Event::TableCleared { table_id, at: now });
                }
                Ok(events)
            }
            Command::CancelOrder { order_id, reason } => {
                let order = self.open_order(*order_id)?;
                validate_text("reason", reason, MAX_NOTE).map_err(|_| {
                    Rejection::invalid("missing_reason", "reason", "a cancellation needs a reason")
                })?;
                if order
                    .lines
                    .iter()
                    .any(|l| !matches!(l.status, LineStatus::New | LineStatus::Voided))
                {
                    return Err(Rejection::conflict(
                        "order_has_fired_lines",
                        format!(
                            "order #{} has lines in the kitchen: void them first",
                            order.number
                        ),
                    ));
                }
                Ok(vec![Event::OrderCancelled {
                    order_id: *order_id,
                    reason: trim_text(reason).to_owned(),
                    by: actor.staff_id,
                    at: now,
                }])
            }
        }
    }

    pub(super) fn device(&self, id: DeviceId) -> Result<&Device, Rejection> {
        self.devices
            .get(&id)
            .ok_or_else(|| Rejection::not_found("device_not_found", format!("device {id}")))
    }

    /// A device that may act: disabled devices are refused whatever they send.
    pub(super) fn enabled_device(&self, id: DeviceId) -> Result<&Device, Rejection> {
        let device = self.device(id)?;
        if !device.enabled {
            return Err(Rejection::conflict(
                "device_disabled",
                format!("{} is disabled", device.name),
            ));
        }
        Ok(device)
    }

    pub fn device_by_key(&self, key: &str) -> Option<&Device> {
        self.devices.values().find(|d| d.key == key)
    }

    fn decide_device(&self, command: &Command, now: Timestamp) -> Decision {
        match command {
            Command::ProvisionDevice {
                device_id,
                spec,
                secret_hash,
            } => {
                if self.devices.contains_key(device_id) {
                    return Err(Rejection::conflict(
                        "device_exists",
                        "this device id is taken",
                    ));
                }
                validate_slug("key", &spec.key)?;
                if self.device_by_key(&spec.key).is_some() {
                    return Err(Rejection::conflict(
                        "device_key_taken",
                        format!("another device is called {:?}", spec.key),
                    ));
                }
                self.validate_device_spec(spec)?;
                Ok(vec![Event::DeviceProvisioned {
                    device: Device {
                        id: *device_id,
                        key: spec.key.clone(),
                        name: trim_text(&spec.name).to_owned(),
                        kind: spec.kind,
                        station_id: spec.station_id,
                        table_id: spec.table_id,
                        limits: spec.limits.clone(),
                        purpose: spec.purpose,
                        enabled: true,
                        secret_hash: secret_hash.clone(),
                        provisioned_at: now,
                    },
                }])
            }
            Command::UpdateDevice { device_id, spec } => {
                let device = self.device(*device_id)?;
                if spec.key != device.key || spec.kind != device.kind {
                    return Err(Rejection::invalid(
                        "device_identity_fixed",
                        "key",
                        "a device's key and kind cannot change; provision a new device",
                    ));
                }
                self.validate_device_spec(spec)?;
                Ok(vec![Event::DeviceUpdated {
                    device_id: *device_id,
                    spec: spec.clone(),
                }])
            }
            Command::SetDeviceEnabled { device_id, enabled } => {
                self.device(*device_id)?;
                Ok(vec![Event::DeviceEnabledChanged {
                    device_id: *device_id,
                    enabled: *enabled,
                }])
            }
            Command::RotateDeviceSecret {
                device_id,
                secret_hash,
            } => {
                self.device(*device_id)?;
                Ok(vec![Event::DeviceSecretRotated {
                    device_id: *device_id,
                    secret_hash: secret_hash.clone(),
                }])
            }
            Command::RemoveDevice { device_id } => {
                self.device(*device_id)?;
                Ok(vec![Event::DeviceRemoved {
                    device_id: *device_id,
                }])
            }
            _ => Err(Rejection::conflict(
                "not_a_device_command",
                "not a device command",
            )),
        }
    }

    /// Each kind of device needs its own pairing, and nothing that belongs to another kind.
    fn validate_device_spec(&self, spec: &DeviceSpec) -> Result<(), Rejection> {
        validate_text("name", &spec.name, MAX_NAME)?;
        let not_for = |field: &str| {
            Rejection::invalid(
                "not_for_device_kind",
                field,
                format!("{field} does not apply to this kind of device"),
            )
        };
        let (wants_station, wants_table, wants_limits, wants_purpose) = match spec.kind {
            DeviceKind::BumpBar => (true, false, false, false),
            DeviceKind::CallButton => (false, true, false, false),
            DeviceKind::Probe => (false, false, true, false),
            DeviceKind::Scanner => (false, false, false, true),
        };
        match (wants_station, spec.station_id) {
            (true, Some(station)) => {
                self.station(station)?;
            }
            (true, None) => {
                return Err(Rejection::invalid(
                    "missing_station",
                    "station_id",
                    "a bump bar drives one station's screen",
                ));
            }
            (false, Some(_)) => return Err(not_for("station_id")),
            (false, None) => {}
        }
        match (wants_table, spec.table_id) {
            (true, Some(table)) => {
                self.table(table).map_err(|r| r.within("table_id"))?;
            }
            (true, None) => {
                return Err(Rejection::invalid(
                    "missing_table",
                    "table_id",
                    "a call button sits on a table",
                ));
            }
            (false, Some(_)) => return Err(not_for("table_id")),
            (false, None) => {}
        }
        match (wants_limits, &spec.limits) {
            (true, Some(limits)) => validate_limits(limits)?,
            (true, None) => {
                return Err(Rejection::invalid(
                    "missing_limits",
                    "limits",
                    "a probe needs the unit it watches and its limits",
                ));
            }
            (false, Some(_)) => return Err(not_for("limits")),
            (false, None) => {}
        }
        match (wants_purpose, spec.purpose) {
            (true, None) => Err(Rejection::invalid(
                "missing_purpose",
                "purpose",
                "a scanner is set up for receiving, counting, waste or the pass",
            )),
            (false, Some(_)) => Err(not_for("purpose")),
            _ => Ok(()),
        }
    }

    fn apply_device(&mut self, event: &Event) {
        match event {
            Event::DeviceProvisioned { device } => {
                self.devices.insert(device.id, device.clone());
            }
            Event::DeviceUpdated { device_id, spec } => {
                if let Some(device) = self.devices.get_mut(device_id) {
                    device.name = trim_text(&spec.name).to_owned();
                    device.station_id = spec.station_id;
                    device.table_id = spec.table_id;
                    device.limits = spec.limits.clone();
                    device.purpose = spec.purpose;
                }
            }
            Event::DeviceEnabledChanged { device_id, enabled } => {
                if let Some(device) = self.devices.get_mut(device_id) {
                    device.enabled = *enabled;
                }
            }
            Event::DeviceSecretRotated {
                device_id,
                secret_hash,
            } => {
                if let Some(device) = self.devices.get_mut(device_id) {
                    device.secret_hash = secret_hash.clone();
                }
            }
            Event::DeviceRemoved { device_id } => {
                self.devices.remove(device_id);
            }
            _ => {}
        }
    }

    fn food_safety_alert(&self, id: AlertId) -> Result<&FoodSafetyAlert, Rejection> {
        self.food_safety_alerts
            .get(&id)
            .ok_or_else(|| Rejection::not_found("alert_not_found", format!("alert {id}")))
    }

    fn decide_food_safety(&self, command: &Command, actor: &Actor, now: Timestamp) -> Decision {
        match command {
            Command::RaiseFoodSafetyAlert {
                alert_id,
                device_id,
                kind,
                celsius,
                limit,
                since,
            } => {
                let device = self.device(*device_id)?;
                let Some(limits) = &device.limits else {
                    return Err(Rejection::conflict(
                        "not_a_probe",
                        format!("{} is not a probe", device.name),
                    ));
                };
                if self.food_safety_alerts.contains_key(alert_id) {
                    return Err(Rejection::conflict(
                        "alert_exists",
                        "this alert id is taken",
                    ));
                }
                if self.food_safety_alerts.values().any(|a| {
                    a.is_open()
                        && a.device_id == *device_id
                        && a.kind == *kind
                        && a.recovered_at.is_none()
                }) {
                    return Err(Rejection::conflict(
                        "alert_already_open",
                        format!("{} already has an open {kind:?} alert", device.name),
                    ));
                }
                Ok(vec![Event::FoodSafetyAlertRaised {
                    alert: FoodSafetyAlert {
                        id: *alert_id,
                        device_id: *device_id,
                        unit: limits.unit.clone(),
                        kind: *kind,
                        celsius: *celsius,
                        limit: *limit,
                        // A device clock ahead of the hub's must not make a record whose
                        // problem begins after it was raised.
                        since: (*since).min(now),
                        raised_at: now,
                        recovered_at: None,
                        acknowledged_by: None,
                        acknowledged_at: None,
                        resolved_by: None,
                        resolved_at: None,
                        corrective_action: None,
                    },
                }])
            }
            Command::MarkFoodSafetyRecovered { alert_id } => {
                let alert = self.food_safety_alert(*alert_id)?;
                if alert.recovered_at.is_some() || !alert.is_open() {
                    return Err(Rejection::conflict(
                        "alert_already_recovered",
                        "this alert's condition already ended",
                    ));
                }
                Ok(vec![Event::FoodSafetyAlertRecovered {
                    alert_id: *alert_id,
                    at: now,
                }])
            }
            Command::AcknowledgeFoodSafetyAlert { alert_id } => {
                let alert = self.food_safety_alert(*alert_id)?;
                if alert.acknowledged_at.is_some() || !alert.is_open() {
                    return Err(Rejection::conflict(
                        "alert_already_acknowledged",
                        "this alert is already acknowledged",
                    ));
                }
                Ok(vec![Event::FoodSafetyAlertAcknowledged {
                    alert_id: *alert_id,
                    by: actor.staff_id,
                    at: now,
                }])
            }
            Command::ResolveFoodSafetyAlert {
                alert_id,
                corrective_action,
            } => {
                let alert = self.food_safety_alert(*alert_id)?;
                if !alert.is_open() {
                    return Err(Rejection::conflict(
                        "alert_already_resolved",
                        "this alert is already resolved",
                    ));
                }
                validate_text("corrective_action", corrective_action, MAX_NOTE).map_err(|_| {
                    Rejection::invalid(
                        "missing_corrective_action",
                        "corrective_action",
                        "say what was done about it (the food-safety record needs it)",
                    )
                })?;
                let mut events = Vec::new();
                if alert.acknowledged_at.is_none() {
                    events.push(Event::FoodSafetyAlertAcknowledged {
                        alert_id: *alert_id,
                        by: actor.staff_id,
                        at: now,
                    });
                }
                events.push(Event::FoodSafetyAlertResolved {
                    alert_id: *alert_id,
                    by: actor.staff_id,
                    at: now,
                    corrective_action: trim_text(corrective_action).to_owned(),
                });
                Ok(events)
            }
            _ => Err(Rejection::conflict(
                "not_a_food_safety_command",
                "not a food-safety command",
            )),
        }
    }

    fn apply_food_safety(&mut self, event: &Event) {
        match event {
            Event::FoodSafetyAlertRaised { alert } => {
                self.food_safety_alerts.insert(alert.id, alert.clone());
            }
            Event::FoodSafetyAlertRecovered { alert_id, at } => {
                if let Some(alert) = self.food_safety_alerts.get_mut(alert_id) {
                    alert.recovered_at = Some(*at);
                }
            }
            Event::FoodSafetyAlertAcknowledged { alert_id, by, at } => {
                if let Some(alert) = self.food_safety_alerts.get_mut(alert_id) {
                    alert.acknowledged_by = *by;
                    alert.acknowledged_at = Some(*at);
                }
            }
            Event::FoodSafetyAlertResolved {
                alert_id,
                by,
                at,
                corrective_action,
            } => {
                if let Some(alert) = self.food_safety_alerts.get_mut(alert_id) {
                    alert.resolved_by = *by;
                    alert.resolved_at = Some(*at);
                    alert.corrective_action = Some(corrective_action.clone());
                }
                // Resolved alerts stay for the day's screens; the journal keeps them all.
                let resolved: Vec<AlertId> = self
                    .food_safety_alerts
                    .values()
                    .filter(|a| !a.is_open())
                    .map(|a| a.id)
                    .collect();
                for old in resolved
                    .iter()
                    .take(resolved.len().saturating_sub(RESOLVED_ALERTS_KEPT))
                {
                    self.food_safety_alerts.remove(old);
                }
            }
            _ => {}
        }
    }

    fn decide_save_table(&self, table: &TableLayout) -> Decision {
        if !self.areas.contains_key(&table.area_id) {
            return Err(
                Rejection::not_found("area_not_found", format!("area {}", table.area_id))
                    .within("area_id"),
            );
        }
        validate_text("label", &table.label, 20)?;
        if !(1..=100).contains(&table.seats) {
            return Err(Rejection::invalid(
                "invalid_seats",
                "seats",
                "a table has between 1 and 100 seats",
            ));
        }
        let geometry = [table.x, table.y, table.width, table.height, table.rotation];
        if geometry.iter().any(|v| !v.is_finite()) || table.width <= 0.0 || table.height <= 0.0 {
            return Err(Rejection::invalid(
                "invalid_geometry",
                "width",
                "position, size and rotation must be finite, size positive",
            ));
        }
        if self
            .tables
            .values()
            .any(|t| t.id() != table.id && t.layout.label.eq_ignore_ascii_case(&table.label))
        {
            return Err(Rejection::conflict(
                "table_label_taken",
                format!("another table is labelled {:?}", table.label),
            ));
        }
        Ok(vec![Event::TableSaved {
            table: table.clone(),
        }])
    }

    fn seatable_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.primary_table(id)?;
        if table.needs_cleaning_since.is_some() {
            return Err(needs_cleaning(table));
        }
        if table.party.is_some() {
            return Err(Rejection::conflict(
                "table_occupied",
                format!("table {} is occupied", table.layout.label),
            ));
        }
        Ok(table)
    }

    fn occupied_table(&self, id: TableId) -> Result<&Table, Rejection> {
        let table = self.primary_table(id)?;
        if table.party.is_none() {
            return Err(Rejection::conflict(
                "table_not_occupied",
                format!("nobody is seated at table {}", table.layout.label),
            ));
        }
        Ok(table)
    }

    fn validate_menu_item(&self, item: &MenuItem) -> Result<(), Rejection> {
        validate_text("name", &item.name, MAX_NAME)?;
        if !self.categories.contains_key(&item.category_id) {
            return Err(Rejection::not_found(
                "category_not_found",
                format!("category {}", item.category_id),
            )
            .within("category_id"));
        }
        if item.price < 0 {
            return Err(Rejection::invalid(
                "invalid_price",
                "price",
                "a price cannot be negative",
            ));
        }
        if item.stations.is_empty() {
            return Err(Rejection::invalid(
                "no_station",
                "stations",
                "an item is prepared by at least one station",
            ));
        }
        for (index, station) in item.stations.iter().enumerate() {
            if !self.stations.contains_key(station) {
                return Err(Rejection::not_found(
                    "station_not_found",
                    format!("station {station}"),
                )
                .within(format!("stations[{index}]")));
            }
        }
        for (index, group) in item.modifier_groups.iter().enumerate() {
            if !self.modifier_groups.contains_key(group) {
                return Err(Rejection::not_found(
                    "modifier_group_not_found",
                    format!("modifier group {group}"),
                )
                .within(format!("modifier_groups[{index}]")));
            }
        }
        validate_course("default_course", item.default_course)
    }

    /// Turns client line inputs into priced, routed lines, checking every rule of the menu.
    fn build_lines(
        &self,
        order: Option<&Order>,
        inputs: &[LineInput],
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Vec<Line>, Rejection> {
        let mut ids = BTreeSet::new();
        inputs
            .iter()
            .enumerate()
            .map(|(index, input)| {
                let at = format!("lines[{index}]");
                if !ids.insert(input.line_id)
                    || order.is_some_and(|o| o.line(input.line_id).is_some())
                {
                    return Err(
                        Rejection::conflict("line_exists", "this line id is taken").within(at)
                    );
                }
                self.build_line(input, actor, now).map_err(|r| r.within(at))
            })
            .collect()
    }

    fn build_line(
        &self,
        input: &LineInput,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Line, Rejection> {
        let item = self
            .items
            .get(&input.menu_item_id)
            .filter(|item| item.active)
            .ok_or_else(|| {
                Rejection::not_found(
                    "menu_item_not_found",
                    format!("menu item {}", input.menu_item_id),
                )
                .within("menu_item_id")
            })?;
        if !item.available {
            return Err(Rejection::conflict(
                "item_unavailable",
                format!("{} is sold out (86)", item.name),
            )
            .within("menu_item_id"));
        }
        if !(1..=MAX_QUANTITY).contains(&input.quantity) {
            return Err(Rejection::invalid(
                "invalid_quantity",
                "quantity",
                format!("quantity must be between 1 and {MAX_QUANTITY}"),
            ));
        }
        let course = input.course.unwrap_or(item.default_course);
        validate_course("course", course)?;
        if let Some(seat) = input.seat
            && seat == 0
        {
            return Err(Rejection::invalid(
                "invalid_seat",
                "seat",
                "seats are numbered from 1",
            ));
        }
        if let Some(note) = &input.note {
            validate_text("note", note, MAX_NOTE)?;
        }
        Ok(Line {
            id: input.line_id,
            menu_item_id: item.id,
            name: item.name.clone(),
            quantity: input.quantity,
            unit_price: item.price,
            modifiers: self.choose_modifiers(item, input)?,
            seat: input.seat,
            course,
            note: input.note.as_ref().map(|n| trim_text(n).to_owned()),
            stations: item.stations.clone(),
            stations_ready: Vec::new(),
            allergens: item.allergens.clone(),
            status: LineStatus::New,
            added_at: now,
            added_by: actor.staff_id,
            fired_at: None,
            started_at: None,
            ready_at: None,
            served_at: None,
            void: None,
        })
    }

    fn choose_modifiers(
        &self,
        item: &MenuItem,
        input: &LineInput,
    ) -> Result<Vec<LineModifier>, Rejection> {
        let mut chosen = Vec::with_capacity(input.modifiers.len());
        let mut seen = BTreeSet::new();
        for (index, modifier_id) in input.modifiers.iter().enumerate() {
            let found = item
                .modifier_groups
                .iter()
                .filter_map(|g| self.modifier_groups.get(g))
                .find_map(|g| {
                    g.options
                        .iter()
                        .find(|o| o.id == *modifier_id)
                        .map(|o| (g, o))
                });
            let Some((group, option)) = found else {
                return Err(Rejection::invalid(
                    "invalid_modifier",
                    format!("modifiers[{index}]"),
                    format!("{modifier_id} is not an option of {}", item.name),
                ));
            };
            if !seen.insert(*modifier_id) {
                return Err(Rejection::invalid(
                    "invalid_modifier",
                    format!("modifiers[{index}]"),
                    format!("{} is chosen twice", option.name),
                ));
            }
            chosen.push(LineModifier {
                group_id: group.id,
                modifier_id: option.id,
                name: option.name.clone(),
                price_delta: option.price_delta,
            });
        }
        for group in item
            .modifier_groups
            .iter()
            .filter_map(|g| self.modifier_groups.get(g))
        {
            let count = chosen.iter().filter(|m| m.group_id == group.id).count();
            if count < usize::from(group.min_choices) || count > usize::from(group.max_choices) {
                return Err(Rejection::invalid(
                    "invalid_modifier",
                    "modifiers",
                    format!(
                        "{}: choose between {} and {} of {}",
                        item.name, group.min_choices, group.max_choices, group.name
                    ),
                ));
            }
        }
        Ok(chosen)
    }

    // ----- apply ---------------------------------------------------------------------

    /// Applies an accepted event. Infallible: anything it refers to was checked by `decide`,
    /// and a missing entity (impossible in a consistent journal) is skipped, not a panic.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::VenueCreated {
                venue_id,
                tenant_id,
                slug,
                name,
                timezone,
                currency,
            } => {
                self.info = Some(VenueInfo {
                    id: *venue_id,
                    tenant_id: *tenant_id,
                    slug: slug.clone(),
                    name: name.clone(),
                    timezone: timezone.clone(),
                    currency: currency.clone(),
                });
                self.next_order_number = self.next_order_number.max(1);
            }
            Event::StaffAdded { staff } => {
                self.staff.insert(staff.id, staff.clone());
            }
            Event::StaffUpdated {
                staff_id,
                name,
                role,
                active,
            } => {
                if let Some(staff) = self.staff.get_mut(staff_id) {
                    staff.name.clone_from(name);
                    staff.role = *role;
                    staff.active = *active;
                }
            }
            Event::StaffPinChanged {
                staff_id,
                pin_lookup,
                pin_hash,
            } => {
                if let Some(staff) = self.staff.get_mut(staff_id) {
                    staff.pin_lookup = Some(pin_lookup.clone());
                    staff.pin_hash = Some(pin_hash.clone());
                }
            }
            Event::StaffPasswordChanged {
                staff_id,
                password_hash,
            } => {
                if let Some(staff) = self.staff.get_mut(staff_id) {
                    staff.password_hash = Some(password_hash.clone());
                }
            }
            Event::StaffVenuesGiven { staff_id, venues } => {
                if let Some(staff) = self.staff.get_mut(staff_id) {
                    staff.venues.clone_from(venues);
                }
            }
            Event::StationSaved { station } => {
                self.stations.insert(station.id, station.clone());
            }
            Event::AreaSaved { area } => {
                self.areas.insert(area.id, area.clone());
            }
            Event::TableSaved { table } => match self.tables.get_mut(&table.id) {
                Some(existing) => existing.layout = table.clone(),
                None => {
                    self.tables.insert(table.id, Table::new(table.clone()));
                }
            },
            Event::TableRemoved { table_id } => {
                self.tables.remove(table_id);
            }
            Event::ServerAssigned {
                table_id,
                server_id,
            } => {
                if let Some(table) = self.tables.get_mut(table_id) {
                    table.server_id = *server_id;
                }
            }
            Event::CategorySaved { category } => {
                self.categories.insert(category.id, category.clone());
            }
            Event::ModifierGroupSaved { group } => {
                self.modifier_groups.insert(group.id, group.clone());
            }
            Event::MenuItemSaved { item } => {
                self.items.insert(item.id, item.clone());
            }
            Event::ItemAvailabilityChanged { item_id, available } => {
                if let Some(item) = self.items.get_mut(item_id) {
                    item.available = *available;
                }
            }
            Event::PartySeated {
                table_id,
                guests,
                server_id,
                at,
            } => {
                if let Some(table) = self.tables.get_mut(table_id) {
                    table.party = Some(super::floor::Party {
                        guests: *guests,
                        seated_at: *at,
                        server_id: *server_id,
                    });
                    table.bill_requested_at = None;
                }
            }
            Event::PartyMoved {
                table_id,
                to_table_id,
            } => {
                let (party, bill) = match self.tables.get_mut(table_id) {
                    Some(from) => (from.party.take(), from.bill_requested_at.take()),
                    None => (None, None),
                };
                if let Some(to) = self.tables.get_mut(to_table_id) {
                    to.party = party;
                    to.bill_requested_at = bill;
                }
                self.repoint_orders(*table_id, *to_table_id);
            }
            Event::TablesMerged {
                table_id,
                table_ids,
            } => {
                for other_id in table_ids {
                    let moved = self.tables.get_mut(other_id).and_then(|other| {
                        other.merged_into = Some(*table_id);
                        other.bill_requested_at = None;
                        other.party.take()
                    });
                    if let (Some(moved), Some(primary)) = (moved, self.tables.get_mut(table_id)) {
                        match &mut primary.party {
                            Some(party) => party.guests = party.guests.saturating_add(moved.guests),
                            None => primary.party = Some(moved),
                        }
                    }
                    self.repoint_orders(*other_id, *table_id);
                }
            }
            Event::TablesSplit { table_ids, .. } => {
                for other_id in table_ids {
                    if let Some(other) = self.tables.get_mut(other_id) {
                        other.merged_into = None;
                    }
                }
            }
            Event::BillRequested { table_id, at } => {
                if let Some(table) = self.tables.get_mut(table_id) {
                    table.bill_requested_at = Some(*at);
                }
            }
            Event::TableCleared { table_id, at } => {
                if let Some(table) = self.tables.get_mut(table_id) {
                    table.party = None;
                    table.bill_requested_at = None;
                    table.service_request = None;
                    table.needs_cleaning_since = Some(*at);
                }
            }
            Event::TableCleaned { table_id } => {
                if let Some(table) = self.tables.get_mut(table_id) {
                    table.needs_cleaning_since = None;
                }
            }
            Event::OrderOpened {
                order_id,
                number,
                kind,
                table_id,
                guests,
                customer,
                channel,
                note,
                created_by,
                at,
            } => {
                self.orders.insert(
                    *order_id,
                    Order {
                        id: *order_id,
                        number: *number,
                        kind: *kind,
                        status: OrderStatus::Open,
                        table_id: *table_id,
                        guests: *guests,
                        customer: customer.clone(),
                        channel: channel.clone(),
                        note: note.clone(),
                        created_by: *created_by,
                        created_at: *at,
                        lines: Vec::new(),
                        fired_courses: Vec::new(),
                        closed_at: None,
                        cancelled_at: None,
                        cancel_reason: None,
                        recalled: Vec::new(),
                        unseen_at: Vec::new(),
                    },
                );
                self.next_order_number = self.next_order_number.max(number.saturating_add(1));
            }
            Event::LinesAdded { order_id, lines } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    order.lines.extend(lines.iter().cloned());
                }
            }
            Event::LinesFired {
                order_id,
                courses,
                line_ids,
                at,
            } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    for course in courses {
                        if !order.fired_courses.contains(course) {
                            order.fired_courses.push(*course);
                        }
                    }
                    order.fired_courses.sort_unstable();
                    for_lines(order, line_ids, |line| {
                        line.status = LineStatus::Fired;
                        line.fired_at = Some(*at);
                    });
                }
            }
            Event::LinesStarted {
                order_id,
                line_ids,
                at,
            } => self.update_lines(order_id, line_ids, |line| {
                line.status = LineStatus::InProgress;
                line.started_at = Some(*at);
            }),
            Event::LinesReady {
                order_id,
                line_ids,
                station_id,
                at,
            } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    let cleared: Vec<StationId> = match station_id {
                        Some(station) => vec![*station],
                        None => order
                            .lines
                            .iter()
                            .filter(|l| line_ids.contains(&l.id))
                            .flat_map(|l| l.stations.iter().copied())
                            .collect(),
                    };
                    order.recalled.retain(|s| !cleared.contains(s));
                }
                self.update_lines(order_id, line_ids, |line| {
                    match station_id {
                        Some(station) => {
                            Order::mark_station(&mut line.stations_ready, *station);
                        }
                        None => line.stations_ready.clone_from(&line.stations),
                    }
                    if line
                        .stations
                        .iter()
                        .all(|s| line.stations_ready.contains(s))
                    {
                        line.status = LineStatus::Ready;
                        line.ready_at = Some(*at);
                    }
                });
            }
            Event::TicketRecalled {
                order_id,
                station_id,
                ..
            }
            | Event::TicketBumped {
                order_id,
                station_id,
                ..
            }
            | Event::DeliveryAlertRaised {
                order_id,
                station_id,
                ..
            }
            | Event::DeliveryAlertCleared {
                order_id,
                station_id,
                ..
            } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    let (list, on) = match event {
                        Event::TicketRecalled { .. } => (&mut order.recalled, true),
                        Event::TicketBumped { .. } => (&mut order.recalled, false),
                        Event::DeliveryAlertRaised { .. } => (&mut order.unseen_at, true),
                        _ => (&mut order.unseen_at, false),
                    };
                    if on {
                        Order::mark_station(list, *station_id);
                    } else {
                        list.retain(|s| s != station_id);
                    }
                }
            }
            Event::LinesServed {
                order_id,
                line_ids,
                at,
            } => self.update_lines(order_id, line_ids, |line| {
                line.status = LineStatus::Served;
                line.served_at = Some(*at);
            }),
            Event::LineVoided {
                order_id,
                line_id,
                reason,
                by,
                after_cooking,
                at,
            } => self.update_lines(order_id, std::slice::from_ref(line_id), |line| {
                line.status = LineStatus::Voided;
                line.void = Some(LineVoid {
                    reason: reason.clone(),
                    by: *by,
                    at: *at,
                    after_cooking: *after_cooking,
                });
            }),
            Event::DeviceProvisioned { .. }
            | Event::DeviceUpdated { .. }
            | Event::DeviceEnabledChanged { .. }
            | Event::DeviceSecretRotated { .. }
            | Event::DeviceRemoved { .. } => self.apply_device(event),
            Event::FoodSafetyAlertRaised { .. }
            | Event::FoodSafetyAlertRecovered { .. }
            | Event::FoodSafetyAlertAcknowledged { .. }
            | Event::FoodSafetyAlertResolved { .. } => self.apply_food_safety(event),
            Event::ScanRecorded { .. } => self.apply_scan(event),
            // Its lines were served by the `LinesServed` just before it.
            Event::TicketPickedUp { .. } => {}
            Event::ServiceRequested { .. }
            | Event::ServiceRequestRepeated { .. }
            | Event::ServiceRequestCancelled { .. }
            | Event::ServiceRequestAcknowledged { .. } => self.apply_service(event),
            Event::CoolingBatchStarted { .. }
            | Event::CoolingProgressRecorded { .. }
            | Event::CoolingBatchStopped { .. } => self.apply_cooling(event),
            Event::OrderClosed { order_id, at } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    order.status = OrderStatus::Closed;
                    order.closed_at = Some(*at);
                    order.recalled.clear();
                    order.unseen_at.clear();
                    self.finish(*order_id);
                }
            }
            Event::OrderCancelled {
                order_id,
                reason,
                at,
                ..
            } => {
                if let Some(order) = self.orders.get_mut(order_id) {
                    order.status = OrderStatus::Cancelled;
                    order.cancelled_at = Some(*at);
                    order.recalled.clear();
                    order.unseen_at.clear();
                    order.cancel_reason = Some(reason.clone());
                    self.finish(*order_id);
                }
            }
        }
    }

    fn update_lines(
        &mut self,
        order_id: &OrderId,
        line_ids: &[LineId],
        change: impl FnMut(&mut Line),
    ) {
        if let Some(order) = self.orders.get_mut(order_id) {
            for_lines(order, line_ids, change);
        }
    }

    fn repoint_orders(&mut self, from: TableId, to: TableId) {
        for order in self.orders.values_mut() {
            if order.is_open() && order.table_id == Some(from) {
                order.table_id = Some(to);
            }
        }
    }

    /// Keeps a bounded number of finished orders in memory.
    fn finish(&mut self, order_id: OrderId) {
        self.finished_orders.push_back(order_id);
        while self.finished_orders.len() > FINISHED_ORDERS_KEPT {
            if let Some(oldest) = self.finished_orders.pop_front() {
                self.orders.remove(&oldest);
            }
        }
    }
}

fn for_lines(order: &mut Order, line_ids: &[LineId], mut change: impl FnMut(&mut Line)) {
    for line in order.lines.iter_mut().filter(|l| line_ids.contains(&l.id)) {
        change(line);
    }
}

/// Which lines a send fires: with `hold`, none; otherwise new lines of courses already
/// fired, or, when nothing has been fired yet, every held line of the lowest course.
fn lines_to_fire(
    existing: &[Line],
    added: &[Line],
    fired_courses: &[u8],
    hold: bool,
) -> Option<(Vec<u8>, Vec<LineId>)> {
    if hold {
        return None;
    }
    let held = || {
        existing
            .iter()
            .chain(added)
            .filter(|l| l.status == LineStatus::New)
    };
    let mut courses: Vec<u8> = fired_courses.to_vec();
    if courses.is_empty() {
        courses.extend(held().map(|l| l.course).min());
    }
    let line_ids: Vec<LineId> = held()
        .filter(|l| courses.contains(&l.course))
        .map(|l| l.id)
        .collect();
    if line_ids.is_empty() {
        return None;
    }
    let mut fired: Vec<u8> = held()
        .filter(|l| courses.contains(&l.course))
        .map(|l| l.course)
        .collect();
    fired.sort_unstable();
    fired.dedup();
    Some((fired, line_ids))
}

/// Checks that `line_ids` names existing lines, each once, all allowing `action`.
fn check_lines(
    order: &Order,
    line_ids: &[LineId],
    action: &str,
    allowed: impl Fn(&Line) -> bool,
) -> Result<(), Rejection> {
    if line_ids.is_empty() {
        return Err(Rejection::invalid(
            "no_lines",
            "line_ids",
            "name at least one line",
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, line_id) in line_ids.iter().enumerate() {
        let field = format!("line_ids[{index}]");
        if !seen.insert(*line_id) {
            return Err(Rejection::invalid(
                "duplicate_line",
                field,
                "each line may be named once",
            ));
        }
        let line = order.line(*line_id).ok_or_else(|| {
            Rejection::not_found("line_not_found", format!("line {line_id}")).within(&field)
        })?;
        if !allowed(line) {
            return Err(Rejection::conflict(
                "invalid_line_transition",
                format!(
                    "cannot {action} {}: it is {}",
                    line.name,
                    line.status.as_str()
                ),
            )
            .within(field));
        }
    }
    Ok(())
}

/// Only an owner (or the system) may create, change or promote to an owner.
/// Most other venues one staff member can be given: a chain's managers cover a region, not
/// the whole country.
const MAX_GIVEN_VENUES: usize = 64;

impl Venue {
    /// Only an owner gives staff other venues, and only of venues other than this one (the
    /// adapter has checked they belong to the same tenant). The list is kept sorted and
    /// without repeats.
    fn decide_give_staff_venues(
        &self,
        actor: &Actor,
        staff_id: StaffId,
        venues: &[VenueId],
    ) -> Result<Vec<Event>, Rejection> {
        if actor.role.is_some_and(|role| role != Role::Owner) {
            return Err(Rejection::forbidden(
                "owner_only",
                "only an owner gives staff other venues",
            ));
        }
        if !self.staff.contains_key(&staff_id) {
            return Err(Rejection::not_found(
                "staff_not_found",
                format!("staff member {staff_id}"),
            ));
        }
        let home = self.info.as_ref().map(|info| info.id);
        if venues.iter().any(|venue| Some(*venue) == home) {
            return Err(Rejection::invalid(
                "own_venue",
                "venues",
                "a staff member already works at their own venue",
            ));
        }
        let mut given = venues.to_vec();
        given.sort();
        given.dedup();
        if given.len() > MAX_GIVEN_VENUES {
            return Err(Rejection::invalid(
                "too_many_venues",
                "venues",
                format!("at most {MAX_GIVEN_VENUES} other venues"),
            ));
        }
        // Recorded even when unchanged: who confirmed which venues belongs in the audit trail.
        Ok(vec![Event::StaffVenuesGiven {
            staff_id,
            venues: given,
        }])
    }
}

fn guard_owner_role(actor: &Actor, role: Role) -> Result<(), Rejection> {
    if role == Role::Owner && actor.role.is_some_and(|r| r != Role::Owner) {
        return Err(Rejection::forbidden(
            "owner_only",
            "only an owner can manage owners",
        ));
    }
    Ok(())
}

fn needs_cleaning(table: &Table) -> Rejection {
    Rejection::conflict(
        "table_needs_cleaning",
        format!("table {} needs cleaning first", table.layout.label),
    )
}

/// White space as the API document's patterns count it (`\s` of the ECMAScript regular
/// expressions JSON Schema uses): Unicode white space except U+0085, plus U+FEFF. The hub
/// holds text to the same rule its document states.
pub fn is_space(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// A text with only [white space](is_space), or nothing.
pub fn is_blank(text: &str) -> bool {
    text.chars().all(is_space)
}

/// A text without the [white space](is_space) around it.
pub fn trim_text(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// A required text: not [blank](is_blank), and at most `max` characters as sent (spaces
/// around it count too: the limit a client reads in the API document is the length of the
/// string it sends).
pub(super) fn validate_text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if is_blank(value) {
        return Err(Rejection::invalid(
            "empty_text",
            field,
            format!("{field} cannot be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(Rejection::invalid(
            "text_too_long",
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(())
}

fn validate_slug(field: &str, value: &str) -> Result<(), Rejection> {
    let ok = !value.is_empty()
        && value.len() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_slug",
            field,
            format!("{field} must be 1-40 lowercase letters, digits, '-' or '_'"),
        ))
    }
}

fn validate_guests(field: &str, guests: u16) -> Result<(), Rejection> {
    if (1..=MAX_GUESTS).contains(&guests) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_guests",
            field,
            format!("guests must be between 1 and {MAX_GUESTS}"),
        ))
    }
}

fn validate_course(field: &str, course: u8) -> Result<(), Rejection> {
    if (1..=MAX_COURSE).contains(&course) {
        Ok(())
    } else {
        Err(Rejection::invalid(
            "invalid_course",
            field,
            format!("courses are numbered 1 to {MAX_COURSE}"),
        ))
    }
}

/// Plausible food-safety limits: inside what a probe can read, ordered, with a critical
/// value beyond the limit it guards.
fn validate_limits(limits: &UnitLimits) -> Result<(), Rejection> {
    let field = |name: &str| format!("limits.{name}");
    validate_text("limits.unit", &limits.unit, MAX_NAME)?;
    let plausible =
        |value: Option<f64>| value.is_none_or(|v| v.is_finite() && (-60.0..=300.0).contains(&v));
    if !plausible(limits.min_celsius)
        || !plausible(limits.max_celsius)
        || !plausible(limits.critical_celsius)
    {
        return Err(Rejection::invalid(
            "invalid_limits",
            field("max_celsius"),
            "temperatures must be between -60 and 300 °C",
        ));
    }
    if let (Some(min), Some(max)) = (limits.min_celsius, limits.max_celsius)
        && min >= max
    {
        return Err(Rejection::invalid(
            "invalid_limits",
            field("min_celsius"),
            "min_celsius must be below max_celsius",
        ));
    }
    if let Some(critical) = limits.critical_celsius {
        let beyond_max = limits.max_celsius.is_none_or(|max| critical > max);
        let beyond_min = limits.min_celsius.is_none_or(|min| critical < min);
        let guards = match (limits.min_celsius, limits.max_celsius) {
            (None, Some(_)) => beyond_max,
            (Some(_), None) => beyond_min,
            (Some(_), Some(_)) => beyond_max || beyond_min,
            (None, None) => true,
        };
        if !guards {
            return Err(Rejection::invalid(
                "invalid_limits",
                field("critical_celsius"),
                "critical_celsius must lie beyond the limit it guards",
            ));
        }
    }
    if !(5..=3600).contains(&limits.report_interval_seconds) {
        return Err(Rejection::invalid(
            "invalid_limits",
            field("report_interval_seconds"),
            "probes report every 5 to 3600 seconds",
        ));
    }
    if limits.alert_delay_minutes > 240 {
        return Err(Rejection::invalid(
            "invalid_limits",
            field("alert_delay_minutes"),
            "an alert delay is at most 240 minutes",
        ));
    }
    Ok(())
}

fn validate_modifier_group(group: &ModifierGroup) -> Result<(), Rejection> {
    validate_text("name", &group.name, MAX_NAME)?;
    if group.options.is_empty() {
        return Err(Rejection::invalid(
            "no_options",
            "options",
            "a modifier group needs options",
        ));
    }
    let mut ids = BTreeSet::new();
    for (index, option) in group.options.iter().enumerate() {
        validate_text("name", &option.name, MAX_NAME)
            .map_err(|r| r.within(format!("options[{index}]")))?;
        if !ids.insert(option.id) {
            return Err(Rejection::invalid(
                "duplicate_option",
                format!("options[{index}].id"),
                "option ids must be unique",
            ));
        }
    }
    if group.max_choices == 0
        || group.min_choices > group.max_choices
        || usize::from(group.max_choices) > group.options.len()
    {
        return Err(Rejection::invalid(
            "invalid_choices",
            "max_choices",
            "need 0 <= min_choices <= max_choices <= number of options, and max_choices >= 1",
        ));
    }
    Ok(())
}
