//! The dining room: areas, tables with their drawing geometry, and the party seated at
//! each. A table's status is derived from its party and its orders, never stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::id::{AreaId, DeviceId, StaffId, TableId};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Area {
    pub id: AreaId,
    /// Not blank, at most 120 characters.
    #[schema(min_length = 1, max_length = 120, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub sort: i32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableShape {
    Round,
    #[default]
    Square,
    Rectangle,
    Booth,
}

/// What a floor-plan editor sets: where a table is and how it is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TableLayout {
    pub id: TableId,
    pub area_id: AreaId,
    /// Not blank, at most 20 characters, unique in the venue (case-insensitively).
    #[schema(min_length = 1, max_length = 20, pattern = r"\S")]
    pub label: String,
    #[schema(minimum = 1, maximum = 100)]
    pub seats: u16,
    #[serde(default)]
    pub shape: TableShape,
    /// Position and size in floor-plan units (the area's drawing is 1000 x 1000).
    #[serde(default)]
    pub x: f64,
    #[serde(default)]
    pub y: f64,
    /// Positive; default 60.
    #[serde(default = "default_table_size")]
    #[schema(exclusive_minimum = 0, default = 60.0)]
    pub width: f64,
    /// Positive; default 60.
    #[serde(default = "default_table_size")]
    #[schema(exclusive_minimum = 0, default = 60.0)]
    pub height: f64,
    /// Clockwise rotation in degrees.
    #[serde(default)]
    pub rotation: f64,
    /// Service section (a group of tables one server covers).
    #[serde(default)]
    pub section: Option<String>,
}

fn default_table_size() -> f64 {
    60.0
}

/// Guests occupying a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Party {
    pub guests: u16,
    pub seated_at: DateTime<Utc>,
    pub server_id: Option<StaffId>,
}

/// A table: its layout plus what is happening at it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Table {
    #[serde(flatten)]
    pub layout: TableLayout,
    /// Server assigned to the table for the shift.
    pub server_id: Option<StaffId>,
    pub party: Option<Party>,
    /// Set while this table is merged into another (the primary holds party and orders).
    pub merged_into: Option<TableId>,
    pub bill_requested_at: Option<DateTime<Utc>>,
    pub needs_cleaning_since: Option<DateTime<Utc>>,
    /// Guests asked for a server (call button or a screen) and nobody has closed it yet.
    #[serde(default)]
    pub service_request: Option<ServiceRequest>,
}

/// What guests want when they call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceReason {
    /// "Someone please come to the table."
    Service,
    /// "We would like the bill."
    Bill,
}

impl ServiceReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceReason::Service => "service",
            ServiceReason::Bill => "bill",
        }
    }
}

/// An open call for service at a table: shown on the floor until the table is cleared, the
/// button cancels it or staff close it; acknowledging says someone is on the way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRequest {
    pub reason: ServiceReason,
    pub since: DateTime<Utc>,
    /// The call button that asked, if one did (its LED shows the acknowledgement).
    pub device_id: Option<DeviceId>,
    pub acknowledged_by: Option<StaffId>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The live state a floor plan shows for a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Available,
    Seated,
    Ordered,
    FoodReady,
    BillRequested,
    NeedsCleaning,
}

impl TableStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TableStatus::Available => "available",
            TableStatus::Seated => "seated",
            TableStatus::Ordered => "ordered",
            TableStatus::FoodReady => "food_ready",
            TableStatus::BillRequested => "bill_requested",
            TableStatus::NeedsCleaning => "needs_cleaning",
        }
    }
}

impl Table {
    pub fn new(layout: TableLayout) -> Self {
        Self {
            layout,
            server_id: None,
            party: None,
            merged_into: None,
            bill_requested_at: None,
            needs_cleaning_since: None,
            service_request: None,
        }
    }

    pub fn id(&self) -> TableId {
        self.layout.id
    }

    /// Free to seat a new party here.
    pub fn is_free(&self) -> bool {
        self.party.is_none() && self.merged_into.is_none() && self.needs_cleaning_since.is_none()
    }
}
