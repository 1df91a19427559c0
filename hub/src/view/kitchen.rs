//! What screens show, built from the venue state: a KDS card (one order at one station),
//! an expo ticket (one order across stations), all-day counts and the recall list. These
//! are the `data` of `snapshot` and `event` frames; screens render them as they are.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    Line, LineStatus, MenuItemId, Order, OrderId, OrderKind, Station, StationId, TableId, Venue,
};

/// A line as a cook sees it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ScreenLine {
    pub id: crate::domain::LineId,
    pub name: String,
    pub quantity: u16,
    /// Modifier names, e.g. `["Medium rare", "Extra pedas"]`.
    pub modifiers: Vec<String>,
    pub note: Option<String>,
    pub seat: Option<u8>,
    pub course: u8,
    pub allergens: Vec<String>,
    /// The line's status as the REST API names it: `new` (its course is held, not fired
    /// yet), `fired`, `in_progress`, `ready`, `served`, `voided`.
    pub status: &'static str,
    /// This station's part is done (for lines made by several stations).
    pub done_here: bool,
    pub fired_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ready_at: Option<DateTime<Utc>>,
}

/// One order at one station: what a KDS screen shows as a card.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct KdsCard {
    pub order_id: OrderId,
    pub number: u32,
    /// The code printed on the ticket for the pass scanner, e.g. `T42`.
    pub ticket_code: String,
    /// `Table 12`, `Takeaway · Rina`, `Delivery · GoFood · Budi`.
    pub label: String,
    pub kind: OrderKind,
    pub table_id: Option<TableId>,
    pub server: Option<String>,
    pub guests: Option<u16>,
    pub note: Option<String>,
    /// When the station's first live line was fired; screens run their timers from it.
    pub fired_at: Option<DateTime<Utc>>,
    /// The ticket was bumped and brought back.
    pub recalled: bool,
    /// No screen of this station confirmed showing it in time.
    pub unseen: bool,
    pub lines: Vec<ScreenLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StationProgress {
    pub key: String,
    pub name: String,
    pub lines: usize,
    pub ready: usize,
    pub ready_all: bool,
}

/// One order across stations: what the expo (pass) screen shows.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ExpoTicket {
    pub order_id: OrderId,
    pub number: u32,
    /// The code printed on the ticket for the pass scanner, e.g. `T42`.
    pub ticket_code: String,
    pub label: String,
    pub kind: OrderKind,
    pub table_id: Option<TableId>,
    pub server: Option<String>,
    pub guests: Option<u16>,
    pub fired_at: Option<DateTime<Utc>>,
    /// Every fired line is ready: the food can go.
    pub ready: bool,
    pub stations: Vec<StationProgress>,
    /// Stations that have not confirmed seeing the ticket.
    pub unseen_at: Vec<String>,
    pub lines: Vec<ScreenLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AllDayCount {
    pub menu_item_id: MenuItemId,
    pub name: String,
    /// Fired and not yet done at this station.
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct BumpedTicket {
    pub order_id: OrderId,
    pub number: u32,
    pub label: String,
    pub bumped_at: Option<DateTime<Utc>>,
}

/// How many recently bumped tickets a station can recall.
pub const RECALLABLE: usize = 10;

pub fn order_label(venue: &Venue, order: &Order) -> String {
    let customer = order.customer.as_ref().map(|c| c.name.as_str());
    match order.kind {
        OrderKind::DineIn => order
            .table_id
            .and_then(|t| venue.tables.get(&t))
            .map_or_else(
                || "Table ?".to_owned(),
                |t| format!("Table {}", t.layout.label),
            ),
        OrderKind::Takeaway => match customer {
            Some(name) => format!("Takeaway · {name}"),
            None => "Takeaway".to_owned(),
        },
        OrderKind::Delivery => {
            let mut label = "Delivery".to_owned();
            for part in [order.channel.as_deref(), customer].into_iter().flatten() {
                label.push_str(" · ");
                label.push_str(part);
            }
            label
        }
    }
}

fn server_name(venue: &Venue, order: &Order) -> Option<String> {
    let party_server = order
        .table_id
        .and_then(|t| venue.tables.get(&t))
        .and_then(|t| t.party.as_ref())
        .and_then(|p| p.server_id);
    party_server
        .or(order.created_by)
        .and_then(|id| venue.staff.get(&id))
        .map(|s| s.name.clone())
}

fn screen_line(line: &Line, station: Option<StationId>) -> ScreenLine {
    ScreenLine {
        id: line.id,
        name: line.name.clone(),
        quantity: line.quantity,
        modifiers: line.modifiers.iter().map(|m| m.name.clone()).collect(),
        note: line.note.clone(),
        seat: line.seat,
        course: line.course,
        allergens: line.allergens.clone(),
        status: line.status.as_str(),
        done_here: station.is_some_and(|s| line.stations_ready.contains(&s)),
        fired_at: line.fired_at,
        started_at: line.started_at,
        ready_at: line.ready_at,
    }
}

/// Lines that reached (or will reach) the kitchen: voids before firing never did.
fn kitchen_relevant(line: &Line) -> bool {
    line.status != LineStatus::Voided || line.fired_at.is_some()
}

pub fn kds_card(venue: &Venue, order: &Order, station: StationId) -> KdsCard {
    let lines: Vec<&Line> = order
        .lines_at(station)
        .filter(|l| kitchen_relevant(l))
        .collect();
    KdsCard {
        order_id: order.id,
        number: order.number,
        ticket_code: order.ticket_code(),
        label: order_label(venue, order),
        kind: order.kind,
        table_id: order.table_id,
        server: server_name(venue, order),
        guests: order.guests,
        note: order.note.clone(),
        fired_at: order
            .live_lines_at(station)
            .filter_map(|l| l.fired_at)
            .min(),
        recalled: order.recalled.contains(&station),
        unseen: order.unseen_at.contains(&station),
        lines: lines
            .into_iter()
            .map(|l| screen_line(l, Some(station)))
            .collect(),
    }
}

/// Cards on a station's screen, in `Venue::station_queue` order: oldest fired first
/// (held-only cards last).
pub fn station_cards(venue: &Venue, station: StationId) -> Vec<KdsCard> {
    venue
        .station_queue(station)
        .iter()
        .filter_map(|id| venue.orders.get(id))
        .map(|o| kds_card(venue, o, station))
        .collect()
}

pub fn is_on_expo(order: &Order) -> bool {
    order.is_open()
        && order.lines.iter().any(|l| {
            matches!(
                l.status,
                LineStatus::Fired | LineStatus::InProgress | LineStatus::Ready
            )
        })
}

pub fn expo_ticket(venue: &Venue, order: &Order) -> ExpoTicket {
    let fired: Vec<&Line> = order
        .lines
        .iter()
        .filter(|l| l.fired_at.is_some() && l.status != LineStatus::Voided)
        .collect();
    let mut by_station: BTreeMap<StationId, (usize, usize)> = BTreeMap::new();
    for line in &fired {
        for station in &line.stations {
            let entry = by_station.entry(*station).or_default();
            entry.0 += 1;
            if line.stations_ready.contains(station)
                || matches!(line.status, LineStatus::Ready | LineStatus::Served)
            {
                entry.1 += 1;
            }
        }
    }
    let station = |id: &StationId| venue.stations.get(id);
    ExpoTicket {
        order_id: order.id,
        number: order.number,
        ticket_code: order.ticket_code(),
        label: order_label(venue, order),
        kind: order.kind,
        table_id: order.table_id,
        server: server_name(venue, order),
        guests: order.guests,
        fired_at: fired.iter().filter_map(|l| l.fired_at).min(),
        ready: !fired.is_empty()
            && fired
                .iter()
                .all(|l| matches!(l.status, LineStatus::Ready | LineStatus::Served)),
        stations: by_station
            .iter()
            .map(|(id, (lines, ready))| StationProgress {
                key: station(id).map(|s| s.key.clone()).unwrap_or_default(),
                name: station(id).map(|s| s.name.clone()).unwrap_or_default(),
                lines: *lines,
                ready: *ready,
                ready_all: lines == ready,
            })
            .collect(),
        unseen_at: order
            .unseen_at
            .iter()
            .filter_map(|s| station(s).map(|s| s.key.clone()))
            .collect(),
        lines: order
            .lines
            .iter()
            .filter(|l| kitchen_relevant(l))
            .map(|l| screen_line(l, None))
            .collect(),
    }
}

pub fn expo_tickets(venue: &Venue) -> Vec<ExpoTicket> {
    let mut tickets: Vec<ExpoTicket> = venue
        .open_orders()
        .filter(|o| is_on_expo(o))
        .map(|o| expo_ticket(venue, o))
        .collect();
    tickets.sort_by_key(|t| (t.fired_at, t.number));
    tickets
}

pub fn all_day(venue: &Venue, station: StationId) -> Vec<AllDayCount> {
    let mut counts: BTreeMap<MenuItemId, AllDayCount> = BTreeMap::new();
    for order in venue.open_orders() {
        for line in order.live_lines_at(station) {
            counts
                .entry(line.menu_item_id)
                .or_insert_with(|| AllDayCount {
                    menu_item_id: line.menu_item_id,
                    name: line.name.clone(),
                    quantity: 0,
                })
                .quantity += u32::from(line.quantity);
        }
    }
    let mut counts: Vec<AllDayCount> = counts.into_values().collect();
    counts.sort_by(|a, b| {
        b.quantity
            .cmp(&a.quantity)
            .then_with(|| a.name.cmp(&b.name))
    });
    counts
}

/// Tickets this station finished most recently (still in memory), newest first.
pub fn recently_bumped(venue: &Venue, station: StationId) -> Vec<BumpedTicket> {
    venue
        .bumped_at_station(station)
        .into_iter()
        .take(RECALLABLE)
        .map(|(o, bumped_at)| BumpedTicket {
            order_id: o.id,
            number: o.number,
            label: order_label(venue, o),
            bumped_at,
        })
        .collect()
}

pub fn station_by_key<'a>(venue: &'a Venue, key: &str) -> Option<&'a Station> {
    venue.stations.values().find(|s| s.key == key)
}
