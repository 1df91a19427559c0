//! Orders and their lines: what was ordered, by whom, for which table or customer, and
//! where each line is in its kitchen life cycle, with a timestamp for every transition.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id::{
    LineId, MenuItemId, ModifierGroupId, ModifierId, OrderId, StaffId, StationId, TableId,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    DineIn,
    Takeaway,
    Delivery,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::DineIn => "dine_in",
            OrderKind::Takeaway => "takeaway",
            OrderKind::Delivery => "delivery",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    Closed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Closed => "closed",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// Who a takeaway or delivery order is for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// A line's place in its life cycle. The order of the variants is the order of the cycle:
/// a line only ever moves forward (`voided` ends it from any state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Entered but its course is held: not yet sent to the kitchen.
    New,
    Fired,
    InProgress,
    Ready,
    Served,
    Voided,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::New => "new",
            LineStatus::Fired => "fired",
            LineStatus::InProgress => "in_progress",
            LineStatus::Ready => "ready",
            LineStatus::Served => "served",
            LineStatus::Voided => "voided",
        }
    }

    /// Food has been (or is being) made: voiding now wastes it.
    pub fn is_cooking_started(self) -> bool {
        matches!(
            self,
            LineStatus::InProgress | LineStatus::Ready | LineStatus::Served
        )
    }

    /// The kitchen is working on it or should be.
    pub fn is_live_in_kitchen(self) -> bool {
        matches!(self, LineStatus::Fired | LineStatus::InProgress)
    }
}

/// A chosen modifier, priced and named as it was when the line was entered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineModifier {
    pub group_id: ModifierGroupId,
    pub modifier_id: ModifierId,
    pub name: String,
    pub price_delta: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineVoid {
    pub reason: String,
    pub by: Option<StaffId>,
    pub at: DateTime<Utc>,
    /// True when cooking had started: the food is waste, not just a cancelled ticket.
    pub after_cooking: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub id: LineId,
    pub menu_item_id: MenuItemId,
    /// Item name when ordered; later menu edits do not rewrite history.
    pub name: String,
    pub quantity: u16,
    /// Item price when ordered, in minor units.
    pub unit_price: i64,
    pub modifiers: Vec<LineModifier>,
    pub seat: Option<u8>,
    pub course: u8,
    pub note: Option<String>,
    pub stations: Vec<StationId>,
    /// Stations that have finished their part of this line.
    #[serde(default)]
    pub stations_ready: Vec<StationId>,
    pub allergens: Vec<String>,
    pub status: LineStatus,
    pub added_at: DateTime<Utc>,
    pub added_by: Option<StaffId>,
    pub fired_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ready_at: Option<DateTime<Utc>>,
    pub served_at: Option<DateTime<Utc>>,
    pub void: Option<LineVoid>,
}

impl Line {
    /// Quantity x (unit price + modifier deltas), in minor units; voided lines count 0.
    pub fn total(&self) -> i64 {
        if self.status == LineStatus::Voided {
            return 0;
        }
        let each = self.unit_price + self.modifiers.iter().map(|m| m.price_delta).sum::<i64>();
        each * i64::from(self.quantity)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: OrderId,
    /// Short number shown on tickets and screens, per venue, from 1.
    pub number: u32,
    pub kind: OrderKind,
    pub status: OrderStatus,
    pub table_id: Option<TableId>,
    pub guests: Option<u16>,
    pub customer: Option<Customer>,
    /// Delivery channel (`gofood`, `grabfood`, `shopeefood`, `phone`...).
    pub channel: Option<String>,
    pub note: Option<String>,
    pub created_by: Option<StaffId>,
    pub created_at: DateTime<Utc>,
    pub lines: Vec<Line>,
    /// Courses sent to the kitchen; lines added later to one of them fire at once.
    pub fired_courses: Vec<u8>,
    pub closed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    /// Stations whose screen shows this ticket again after it was bumped.
    #[serde(default)]
    pub recalled: Vec<StationId>,
    /// Stations where no screen confirmed showing the ticket in time.
    #[serde(default)]
    pub unseen_at: Vec<StationId>,
}

/// The short code printed on an order's tickets (as text and as a barcode) that a pass
/// scanner reads to pick the order up: `T` and the order number, e.g. `T42`. Order numbers
/// never repeat within a venue, so neither do codes.
pub fn ticket_code(number: u32) -> String {
    format!("T{number}")
}

/// Reads a ticket code as printed, typed or scanned: `T42`, `t42`, `T0042`, with spaces
/// around it. Anything else is not a ticket code.
pub fn parse_ticket_code(code: &str) -> Option<u32> {
    let digits = code.trim().strip_prefix(['T', 't'])?;
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

impl Order {
    /// See [`ticket_code`].
    pub fn ticket_code(&self) -> String {
        ticket_code(self.number)
    }

    pub fn is_open(&self) -> bool {
        self.status == OrderStatus::Open
    }

    pub fn line(&self, id: LineId) -> Option<&Line> {
        self.lines.iter().find(|line| line.id == id)
    }

    pub fn line_mut(&mut self, id: LineId) -> Option<&mut Line> {
        self.lines.iter_mut().find(|line| line.id == id)
    }

    /// Sum of the non-voided lines, in minor units (before service charge and taxes).
    pub fn subtotal(&self) -> i64 {
        self.lines.iter().map(Line::total).sum()
    }

    /// Adds a station to one of the order's station lists (recalled, unseen), once.
    pub fn mark_station(list: &mut Vec<StationId>, station: StationId) {
        if !list.contains(&station) {
            list.push(station);
        }
    }

    /// Lines of the order routed to `station`.
    pub fn lines_at(&self, station: StationId) -> impl Iterator<Item = &Line> {
        self.lines
            .iter()
            .filter(move |line| line.stations.contains(&station))
    }

    /// Lines the station still has to cook: fired or in progress, its part not yet done.
    pub fn live_lines_at(&self, station: StationId) -> impl Iterator<Item = &Line> {
        self.lines_at(station).filter(move |line| {
            line.status.is_live_in_kitchen() && !line.stations_ready.contains(&station)
        })
    }

    /// The ticket is on the station's screen: something held or live there, or recalled.
    pub fn is_on_station(&self, station: StationId) -> bool {
        self.is_open()
            && (self.recalled.contains(&station)
                || self.lines_at(station).any(|line| {
                    line.status == LineStatus::New
                        || (line.status.is_live_in_kitchen()
                            && !line.stations_ready.contains(&station))
                }))
    }

    /// Some line is ready at the pass and not yet served.
    pub fn has_food_ready(&self) -> bool {
        self.lines
            .iter()
            .any(|line| line.status == LineStatus::Ready)
    }
}
