//! Events: what happened, in the past tense. Events are the journal (the audit trail) and
//! the only way state changes. They are stored: renaming one or a field needs a migration.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::SecretHash;

use super::{
    Role, Staff,
    command::DeviceSpec,
    cooling::{CoolingProgress, CoolingRecord},
    device::Device,
    floor::{Area, ServiceReason, TableLayout},
    food_safety::FoodSafetyAlert,
    id::{AlertId, CoolingBatchId, DeviceId},
    id::{LineId, MenuItemId, OrderId, StaffId, StationId, TableId, TenantId, VenueId},
    menu::{Category, MenuItem, ModifierGroup, Station},
    order::{Customer, Line, OrderKind},
    scan::RecordedScan,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    VenueCreated {
        venue_id: VenueId,
        tenant_id: TenantId,
        slug: String,
        name: String,
        timezone: String,
        currency: String,
    },
    StaffAdded {
        #[schema(value_type = Object)]
        staff: Staff,
    },
    StaffUpdated {
        staff_id: StaffId,
        name: String,
        role: Role,
        active: bool,
    },
    StaffPinChanged {
        staff_id: StaffId,
        pin_lookup: SecretHash,
        pin_hash: SecretHash,
    },
    StaffPasswordChanged {
        staff_id: StaffId,
        password_hash: SecretHash,
    },
    StaffVenuesGiven {
        staff_id: StaffId,
        venues: Vec<VenueId>,
    },
    StationSaved {
        station: Station,
    },
    AreaSaved {
        area: Area,
    },
    TableSaved {
        table: TableLayout,
    },
    TableRemoved {
        table_id: TableId,
    },
    ServerAssigned {
        table_id: TableId,
        server_id: Option<StaffId>,
    },
    CategorySaved {
        category: Category,
    },
    ModifierGroupSaved {
        group: ModifierGroup,
    },
    MenuItemSaved {
        item: MenuItem,
    },
    ItemAvailabilityChanged {
        item_id: MenuItemId,
        available: bool,
    },
    PartySeated {
        table_id: TableId,
        guests: u16,
        server_id: Option<StaffId>,
        at: DateTime<Utc>,
    },
    PartyMoved {
        table_id: TableId,
        to_table_id: TableId,
    },
    TablesMerged {
        table_id: TableId,
        table_ids: Vec<TableId>,
    },
    TablesSplit {
        table_id: TableId,
        table_ids: Vec<TableId>,
    },
    BillRequested {
        table_id: TableId,
        at: DateTime<Utc>,
    },
    TableCleared {
        table_id: TableId,
        at: DateTime<Utc>,
    },
    TableCleaned {
        table_id: TableId,
    },
    OrderOpened {
        order_id: OrderId,
        number: u32,
        kind: OrderKind,
        table_id: Option<TableId>,
        guests: Option<u16>,
        customer: Option<Customer>,
        channel: Option<String>,
        note: Option<String>,
        created_by: Option<StaffId>,
        at: DateTime<Utc>,
    },
    LinesAdded {
        order_id: OrderId,
        lines: Vec<Line>,
    },
    LinesFired {
        order_id: OrderId,
        /// Courses this firing sends (recorded so later lines of them fire at once).
        courses: Vec<u8>,
        line_ids: Vec<LineId>,
        at: DateTime<Utc>,
    },
    LinesStarted {
        order_id: OrderId,
        line_ids: Vec<LineId>,
        at: DateTime<Utc>,
    },
    LinesReady {
        order_id: OrderId,
        line_ids: Vec<LineId>,
        /// Only this station's part is ready; the line is ready when all its stations are.
        station_id: Option<StationId>,
        at: DateTime<Utc>,
    },
    LinesServed {
        order_id: OrderId,
        line_ids: Vec<LineId>,
        at: DateTime<Utc>,
    },
    LineVoided {
        order_id: OrderId,
        line_id: LineId,
        reason: String,
        by: Option<StaffId>,
        after_cooking: bool,
        at: DateTime<Utc>,
    },
    /// A bumped ticket is back on the station's screen.
    TicketRecalled {
        order_id: OrderId,
        station_id: StationId,
        at: DateTime<Utc>,
    },
    /// A recalled ticket with nothing left to cook left the screen again.
    TicketBumped {
        order_id: OrderId,
        station_id: StationId,
        at: DateTime<Utc>,
    },
    /// No screen of the station confirmed showing the ticket in time.
    DeliveryAlertRaised {
        order_id: OrderId,
        station_id: StationId,
        at: DateTime<Utc>,
    },
    DeliveryAlertCleared {
        order_id: OrderId,
        station_id: StationId,
        at: DateTime<Utc>,
    },
    DeviceProvisioned {
        #[schema(value_type = Object)]
        device: Device,
    },
    DeviceUpdated {
        device_id: DeviceId,
        spec: DeviceSpec,
    },
    DeviceEnabledChanged {
        device_id: DeviceId,
        enabled: bool,
    },
    DeviceSecretRotated {
        device_id: DeviceId,
        secret_hash: SecretHash,
    },
    DeviceRemoved {
        device_id: DeviceId,
    },
    FoodSafetyAlertRaised {
        alert: FoodSafetyAlert,
    },
    FoodSafetyAlertRecovered {
        alert_id: AlertId,
        at: DateTime<Utc>,
    },
    FoodSafetyAlertAcknowledged {
        alert_id: AlertId,
        by: Option<StaffId>,
        at: DateTime<Utc>,
    },
    FoodSafetyAlertResolved {
        alert_id: AlertId,
        by: Option<StaffId>,
        at: DateTime<Utc>,
        corrective_action: String,
    },
    ScanRecorded {
        scan: RecordedScan,
    },
    /// A pass scanner picked the ticket up (its ready lines were served just before).
    TicketPickedUp {
        order_id: OrderId,
        device_id: DeviceId,
        at: DateTime<Utc>,
    },
    ServiceRequested {
        table_id: TableId,
        /// The call button that asked, if one did.
        device_id: Option<DeviceId>,
        reason: ServiceReason,
        at: DateTime<Utc>,
    },
    /// Another press while the call was open and unanswered: recorded, nothing changes.
    ServiceRequestRepeated {
        table_id: TableId,
        device_id: Option<DeviceId>,
        reason: ServiceReason,
        at: DateTime<Utc>,
    },
    ServiceRequestCancelled {
        table_id: TableId,
        at: DateTime<Utc>,
    },
    ServiceRequestAcknowledged {
        table_id: TableId,
        /// The call button that asked (so the bridge can light its LED).
        device_id: Option<DeviceId>,
        by: Option<StaffId>,
        at: DateTime<Utc>,
    },
    CoolingBatchStarted {
        batch: CoolingRecord,
    },
    CoolingProgressRecorded {
        batch_id: CoolingBatchId,
        progress: CoolingProgress,
        at: DateTime<Utc>,
    },
    CoolingBatchStopped {
        batch_id: CoolingBatchId,
        at: DateTime<Utc>,
    },
    OrderClosed {
        order_id: OrderId,
        at: DateTime<Utc>,
    },
    OrderCancelled {
        order_id: OrderId,
        reason: String,
        by: Option<StaffId>,
        at: DateTime<Utc>,
    },
}

impl Event {
    /// The event's `type` tag, as stored in the journal's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::VenueCreated { .. } => "venue_created",
            Event::StaffAdded { .. } => "staff_added",
            Event::StaffUpdated { .. } => "staff_updated",
            Event::StaffPinChanged { .. } => "staff_pin_changed",
            Event::StaffPasswordChanged { .. } => "staff_password_changed",
            Event::StaffVenuesGiven { .. } => "staff_venues_given",
            Event::StationSaved { .. } => "station_saved",
            Event::AreaSaved { .. } => "area_saved",
            Event::TableSaved { .. } => "table_saved",
            Event::TableRemoved { .. } => "table_removed",
            Event::ServerAssigned { .. } => "server_assigned",
            Event::CategorySaved { .. } => "category_saved",
            Event::ModifierGroupSaved { .. } => "modifier_group_saved",
            Event::MenuItemSaved { .. } => "menu_item_saved",
            Event::ItemAvailabilityChanged { .. } => "item_availability_changed",
            Event::PartySeated { .. } => "party_seated",
            Event::PartyMoved { .. } => "party_moved",
            Event::TablesMerged { .. } => "tables_merged",
            Event::TablesSplit { .. } => "tables_split",
            Event::BillRequested { .. } => "bill_requested",
            Event::TableCleared { .. } => "table_cleared",
            Event::TableCleaned { .. } => "table_cleaned",
            Event::OrderOpened { .. } => "order_opened",
            Event::LinesAdded { .. } => "lines_added",
            Event::LinesFired { .. } => "lines_fired",
            Event::LinesStarted { .. } => "lines_started",
            Event::LinesReady { .. } => "lines_ready",
            Event::LinesServed { .. } => "lines_served",
            Event::LineVoided { .. } => "line_voided",
            Event::TicketRecalled { .. } => "ticket_recalled",
            Event::TicketBumped { .. } => "ticket_bumped",
            Event::DeliveryAlertRaised { .. } => "delivery_alert_raised",
            Event::DeliveryAlertCleared { .. } => "delivery_alert_cleared",
            Event::DeviceProvisioned { .. } => "device_provisioned",
            Event::DeviceUpdated { .. } => "device_updated",
            Event::DeviceEnabledChanged { .. } => "device_enabled_changed",
            Event::DeviceSecretRotated { .. } => "device_secret_rotated",
            Event::DeviceRemoved { .. } => "device_removed",
            Event::FoodSafetyAlertRaised { .. } => "food_safety_alert_raised",
            Event::FoodSafetyAlertRecovered { .. } => "food_safety_alert_recovered",
            Event::FoodSafetyAlertAcknowledged { .. } => "food_safety_alert_acknowledged",
            Event::FoodSafetyAlertResolved { .. } => "food_safety_alert_resolved",
            Event::ScanRecorded { .. } => "scan_recorded",
            Event::TicketPickedUp { .. } => "ticket_picked_up",
            Event::ServiceRequested { .. } => "service_requested",
            Event::ServiceRequestRepeated { .. } => "service_request_repeated",
            Event::ServiceRequestCancelled { .. } => "service_request_cancelled",
            Event::ServiceRequestAcknowledged { .. } => "service_request_acknowledged",
            Event::CoolingBatchStarted { .. } => "cooling_batch_started",
            Event::CoolingProgressRecorded { .. } => "cooling_progress_recorded",
            Event::CoolingBatchStopped { .. } => "cooling_batch_stopped",
            Event::OrderClosed { .. } => "order_closed",
            Event::OrderCancelled { .. } => "order_cancelled",
        }
    }

    /// The order this event changes, if any (projections and channels route by it).
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Event::OrderOpened { order_id, .. }
            | Event::LinesAdded { order_id, .. }
            | Event::LinesFired { order_id, .. }
            | Event::LinesStarted { order_id, .. }
            | Event::LinesReady { order_id, .. }
            | Event::LinesServed { order_id, .. }
            | Event::LineVoided { order_id, .. }
            | Event::TicketRecalled { order_id, .. }
            | Event::TicketBumped { order_id, .. }
            | Event::DeliveryAlertRaised { order_id, .. }
            | Event::DeliveryAlertCleared { order_id, .. }
            | Event::TicketPickedUp { order_id, .. }
            | Event::OrderClosed { order_id, .. }
            | Event::OrderCancelled { order_id, .. } => Some(*order_id),
            _ => None,
        }
    }

    /// Tables whose live state this event may change directly.
    pub fn table_ids(&self) -> Vec<TableId> {
        match self {
            Event::TableSaved { table } => vec![table.id],
            Event::TableRemoved { table_id }
            | Event::ServerAssigned { table_id, .. }
            | Event::PartySeated { table_id, .. }
            | Event::BillRequested { table_id, .. }
            | Event::TableCleared { table_id, .. }
            | Event::TableCleaned { table_id }
            | Event::ServiceRequested { table_id, .. }
            | Event::ServiceRequestCancelled { table_id, .. }
            | Event::ServiceRequestAcknowledged { table_id, .. } => vec![*table_id],
            Event::PartyMoved {
                table_id,
                to_table_id,
            } => vec![*table_id, *to_table_id],
            Event::TablesMerged {
                table_id,
                table_ids,
            }
            | Event::TablesSplit {
                table_id,
                table_ids,
            } => std::iter::once(*table_id)
                .chain(table_ids.iter().copied())
                .collect(),
            _ => Vec::new(),
        }
    }
}
