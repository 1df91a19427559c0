//! Commands: what someone asks the venue to do, in the imperative. A command is decided
//! against the venue's state into events or a rejection; it is never stored itself.
//! Ids of things a command creates are chosen by the caller, so a retry names the same ids.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::SecretHash;

use super::{
    Role,
    cooling::CoolingProgress,
    device::{DeviceKind, ScannerPurpose, UnitLimits},
    floor::{Area, ServiceReason, TableLayout},
    food_safety::FoodSafetyAlertKind,
    id::{AlertId, CoolingBatchId, DeviceId, ScanId},
    id::{LineId, MenuItemId, ModifierId, OrderId, StaffId, StationId, TableId, TenantId, VenueId},
    menu::{Category, MenuItem, ModifierGroup, Station},
    order::{Customer, OrderKind},
    scan::ScannedCode,
};

/// What a manager says about a device: everything but its id and secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceSpec {
    /// Wire name: lowercase letters, digits, `-`, `_`; unique in the venue; fixed once set.
    pub key: String,
    pub name: String,
    pub kind: DeviceKind,
    #[serde(default)]
    pub station_id: Option<StationId>,
    #[serde(default)]
    pub table_id: Option<TableId>,
    #[serde(default)]
    pub limits: Option<UnitLimits>,
    #[serde(default)]
    pub purpose: Option<ScannerPurpose>,
}

/// A line as a client enters it; price, name and routing come from the menu.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineInput {
    pub line_id: LineId,
    pub menu_item_id: MenuItemId,
    pub quantity: u16,
    #[serde(default)]
    pub modifiers: Vec<ModifierId>,
    #[serde(default)]
    pub seat: Option<u8>,
    /// Course to join; the item's default course when absent.
    #[serde(default)]
    pub course: Option<u8>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    CreateVenue {
        venue_id: VenueId,
        tenant_id: TenantId,
        slug: String,
        name: String,
        timezone: String,
        currency: String,
    },
    AddStaff {
        staff_id: StaffId,
        name: String,
        role: Role,
        username: Option<String>,
        pin_lookup: Option<SecretHash>,
        pin_hash: Option<SecretHash>,
        password_hash: Option<SecretHash>,
    },
    UpdateStaff {
        staff_id: StaffId,
        name: Option<String>,
        role: Option<Role>,
        active: Option<bool>,
    },
    SetStaffPin {
        staff_id: StaffId,
        pin_lookup: SecretHash,
        pin_hash: SecretHash,
    },
    SetStaffPassword {
        staff_id: StaffId,
        password_hash: SecretHash,
    },
    /// The other venues of the tenant a staff member works at, replacing the earlier list.
    GiveStaffVenues {
        staff_id: StaffId,
        venues: Vec<VenueId>,
    },
    SaveStation {
        station: Station,
    },
    SaveArea {
        area: Area,
    },
    SaveTable {
        table: TableLayout,
    },
    RemoveTable {
        table_id: TableId,
    },
    AssignServer {
        table_id: TableId,
        server_id: Option<StaffId>,
    },
    SaveCategory {
        category: Category,
    },
    SaveModifierGroup {
        group: ModifierGroup,
    },
    SaveMenuItem {
        item: MenuItem,
    },
    /// Marks an item sold out (86) or back in stock.
    SetItemAvailability {
        item_id: MenuItemId,
        available: bool,
    },
    SeatParty {
        table_id: TableId,
        guests: u16,
        server_id: Option<StaffId>,
    },
    /// Moves the party and its open orders to a free table.
    MoveParty {
        table_id: TableId,
        to_table_id: TableId,
    },
    /// Joins `table_ids` to `table_id`, which then holds every party and order.
    MergeTables {
        table_id: TableId,
        table_ids: Vec<TableId>,
    },
    /// Releases the tables merged into `table_id`; orders stay with `table_id`.
    SplitTables {
        table_id: TableId,
    },
    RequestBill {
        table_id: TableId,
    },
    /// The party left without open orders: the table needs cleaning.
    ClearTable {
        table_id: TableId,
    },
    MarkTableClean {
        table_id: TableId,
    },
    OpenOrder {
        order_id: OrderId,
        kind: OrderKind,
        table_id: Option<TableId>,
        guests: Option<u16>,
        customer: Option<Customer>,
        channel: Option<String>,
        note: Option<String>,
        lines: Vec<LineInput>,
        /// Hold every course instead of firing the first one at once.
        #[serde(default)]
        hold: bool,
    },
    AddLines {
        order_id: OrderId,
        lines: Vec<LineInput>,
        #[serde(default)]
        hold: bool,
    },
    FireCourse {
        order_id: OrderId,
        course: u8,
    },
    StartLines {
        order_id: OrderId,
        line_ids: Vec<LineId>,
    },
    /// Marks lines ready; with `station_id`, only that station's part of each line.
    MarkLinesReady {
        order_id: OrderId,
        line_ids: Vec<LineId>,
        station_id: Option<StationId>,
    },
    ServeLines {
        order_id: OrderId,
        line_ids: Vec<LineId>,
    },
    VoidLine {
        order_id: OrderId,
        line_id: LineId,
        reason: String,
    },
    /// Kitchen screen: start every fired line of `station_id` on the order.
    StartTicket {
        order_id: OrderId,
        station_id: StationId,
    },
    /// Kitchen screen: the station's part of the ticket is done (its live lines are ready);
    /// a recalled ticket with nothing live just leaves the screen again.
    BumpTicket {
        order_id: OrderId,
        station_id: StationId,
    },
    /// Kitchen screen: bring a bumped ticket back onto the station's screen.
    RecallTicket {
        order_id: OrderId,
        station_id: StationId,
    },
    /// Expo: every ready line of the order went to the table.
    ServeReady {
        order_id: OrderId,
    },
    /// No screen of the station confirmed the ticket in time (raised by the hub).
    RaiseDeliveryAlert {
        order_id: OrderId,
        station_id: StationId,
    },
    /// A screen of the station has now shown the ticket.
    ClearDeliveryAlert {
        order_id: OrderId,
        station_id: StationId,
    },
    ProvisionDevice {
        device_id: DeviceId,
        spec: DeviceSpec,
        secret_hash: SecretHash,
    },
    /// Changes a device's name, pairing or limits (its key and kind are fixed).
    UpdateDevice {
        device_id: DeviceId,
        spec: DeviceSpec,
    },
    SetDeviceEnabled {
        device_id: DeviceId,
        enabled: bool,
    },
    RotateDeviceSecret {
        device_id: DeviceId,
        secret_hash: SecretHash,
    },
    RemoveDevice {
        device_id: DeviceId,
    },
    /// Raised by the hub's device bridge from a probe's readings.
    RaiseFoodSafetyAlert {
        alert_id: AlertId,
        device_id: DeviceId,
        kind: FoodSafetyAlertKind,
        celsius: Option<f64>,
        limit: Option<f64>,
        since: chrono::DateTime<chrono::Utc>,
    },
    /// The condition behind the alert ended (the bridge saw it).
    MarkFoodSafetyRecovered {
        alert_id: AlertId,
    },
    AcknowledgeFoodSafetyAlert {
        alert_id: AlertId,
    },
    ResolveFoodSafetyAlert {
        alert_id: AlertId,
        corrective_action: String,
    },
    /// A receiving, counting or waste scanner read a product's barcode (device bridge).
    RecordScan {
        scan_id: ScanId,
        device_id: DeviceId,
        scan: ScannedCode,
        scanned_at: chrono::DateTime<chrono::Utc>,
    },
    /// A pass scanner read a ticket's printed code: every ready line of that order went
    /// out (like `ServeReady`).
    PickUpTicket {
        device_id: DeviceId,
        /// The ticket code as printed (`T42`), see `order::ticket_code`.
        code: String,
    },
    /// Guests call for service or the bill, by a call button (`device_id`) or a screen.
    RequestService {
        table_id: TableId,
        #[serde(default)]
        device_id: Option<DeviceId>,
        reason: ServiceReason,
    },
    /// The call is withdrawn (the button's cancel, or staff closing it after serving).
    CancelServiceRequest {
        table_id: TableId,
    },
    /// A server saw the call and is on the way.
    AcknowledgeServiceRequest {
        table_id: TableId,
    },
    /// A cooked batch goes on a probe to be cooled (device bridge or a kitchen screen).
    StartCoolingBatch {
        batch_id: CoolingBatchId,
        device_id: DeviceId,
        /// Which probe of the device is in the food.
        probe: String,
        label: String,
        started_at: chrono::DateTime<chrono::Utc>,
    },
    /// A step the cooling rules reported for the batch.
    RecordCoolingProgress {
        batch_id: CoolingBatchId,
        progress: CoolingProgress,
    },
    /// The batch came off the probe before it passed or failed.
    StopCoolingBatch {
        batch_id: CoolingBatchId,
        at: chrono::DateTime<chrono::Utc>,
    },
    CloseOrder {
        order_id: OrderId,
    },
    CancelOrder {
        order_id: OrderId,
        reason: String,
    },
}

impl Command {
    /// The command's `type` tag, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateVenue { .. } => "create_venue",
            Command::AddStaff { .. } => "add_staff",
            Command::UpdateStaff { .. } => "update_staff",
            Command::SetStaffPin { .. } => "set_staff_pin",
            Command::SetStaffPassword { .. } => "set_staff_password",
            Command::GiveStaffVenues { .. } => "give_staff_venues",
            Command::SaveStation { .. } => "save_station",
            Command::SaveArea { .. } => "save_area",
            Command::SaveTable { .. } => "save_table",
            Command::RemoveTable { .. } => "remove_table",
            Command::AssignServer { .. } => "assign_server",
            Command::SaveCategory { .. } => "save_category",
            Command::SaveModifierGroup { .. } => "save_modifier_group",
            Command::SaveMenuItem { .. } => "save_menu_item",
            Command::SetItemAvailability { .. } => "set_item_availability",
            Command::SeatParty { .. } => "seat_party",
            Command::MoveParty { .. } => "move_party",
            Command::MergeTables { .. } => "merge_tables",
            Command::SplitTables { .. } => "split_tables",
            Command::RequestBill { .. } => "request_bill",
            Command::ClearTable { .. } => "clear_table",
            Command::MarkTableClean { .. } => "mark_table_clean",
            Command::OpenOrder { .. } => "open_order",
            Command::AddLines { .. } => "add_lines",
            Command::FireCourse { .. } => "fire_course",
            Command::StartLines { .. } => "start_lines",
            Command::MarkLinesReady { .. } => "mark_lines_ready",
            Command::ServeLines { .. } => "serve_lines",
            Command::VoidLine { .. } => "void_line",
            Command::StartTicket { .. } => "start_ticket",
            Command::BumpTicket { .. } => "bump_ticket",
            Command::RecallTicket { .. } => "recall_ticket",
            Command::ServeReady { .. } => "serve_ready",
            Command::RaiseDeliveryAlert { .. } => "raise_delivery_alert",
            Command::ClearDeliveryAlert { .. } => "clear_delivery_alert",
            Command::ProvisionDevice { .. } => "provision_device",
            Command::UpdateDevice { .. } => "update_device",
            Command::SetDeviceEnabled { .. } => "set_device_enabled",
            Command::RotateDeviceSecret { .. } => "rotate_device_secret",
            Command::RemoveDevice { .. } => "remove_device",
            Command::RaiseFoodSafetyAlert { .. } => "raise_food_safety_alert",
            Command::MarkFoodSafetyRecovered { .. } => "mark_food_safety_recovered",
            Command::AcknowledgeFoodSafetyAlert { .. } => "acknowledge_food_safety_alert",
            Command::ResolveFoodSafetyAlert { .. } => "resolve_food_safety_alert",
            Command::RecordScan { .. } => "record_scan",
            Command::PickUpTicket { .. } => "pick_up_ticket",
            Command::RequestService { .. } => "request_service",
            Command::CancelServiceRequest { .. } => "cancel_service_request",
            Command::AcknowledgeServiceRequest { .. } => "acknowledge_service_request",
            Command::StartCoolingBatch { .. } => "start_cooling_batch",
            Command::RecordCoolingProgress { .. } => "record_cooling_progress",
            Command::StopCoolingBatch { .. } => "stop_cooling_batch",
            Command::CloseOrder { .. } => "close_order",
            Command::CancelOrder { .. } => "cancel_order",
        }
    }
}
