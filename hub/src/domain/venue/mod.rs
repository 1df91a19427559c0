//! The venue aggregate: all live state of one restaurant, `decide` (command -> events or a
//! rejection, never mutating) and `apply` (event -> state, never failing). Every rule that
//! spans tables, orders and the menu lives under here, behind the venue's single writer.
//!
//! `decide` and `apply` below are routing tables, one arm per command and per event with no
//! fallback, so the compiler checks that every command and event has its rule. The rules
//! live with their concept, each file holding the `decide_*` and `apply_*` it owns:
//!
//! # Layout
//! - [`identity`]: creating the venue; [`staff`]: staff, PINs, passwords, other venues.
//! - [`menu`]: stations, categories, modifier groups, items, availability (86).
//! - [`floor`]: areas and tables, seating, moving, merging, bills, clearing, cleaning.
//! - [`order`]: opening orders, adding lines, firing courses, voids, closing, cancelling.
//! - [`kitchen`]: start, ready, bump, recall, serve, delivery alerts, the station queue.
//! - [`device`]: provisioning and managing devices.
//! - [`food_safety`]: food-safety alerts; [`cooling`]: the cooling log.
//! - [`scan`]: recorded scans and pass pick-ups; [`service`]: calls for service.
//! - [`validation`]: field rules every concept shares (text, slugs, guests, courses).

mod cooling;
mod device;
mod floor;
mod food_safety;
mod identity;
mod kitchen;
mod menu;
mod order;
mod scan;
mod service;
mod staff;
mod validation;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use food_safety::RESOLVED_ALERTS_KEPT;
pub use identity::VenueInfo;
pub use order::FINISHED_ORDERS_KEPT;
pub use validation::{is_blank, is_space, trim_text};

use super::{
    Actor, Staff, Timestamp,
    command::Command,
    cooling::CoolingRecord,
    device::Device,
    event::Event,
    floor::{Area, Table},
    food_safety::FoodSafetyAlert,
    id::{
        AlertId, AreaId, CategoryId, CoolingBatchId, DeviceId, MenuItemId, ModifierGroupId,
        OrderId, StaffId, StationId, TableId,
    },
    menu::{Category, MenuItem, ModifierGroup, Station},
    order::Order,
    rejection::Rejection,
    scan::RecordedScan,
};

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

/// What `decide` returns: the events that perform the change, or why it is refused.
type Decision = Result<Vec<Event>, Rejection>;

impl Venue {
    /// Decides a command against the current state. Never mutates; the events returned,
    /// applied in order, perform the change. An accepted command yields at least one event.
    #[rustfmt::skip] // one line per command: the table reads as a table
    pub fn decide(&self, command: &Command, actor: &Actor, now: Timestamp) -> Decision {
        if self.info.is_none() && !matches!(command, Command::CreateVenue { .. }) {
            return Err(Rejection::conflict(
                "venue_not_created",
                "this venue has not been created yet",
            ));
        }
        match command {
            // identity and staff
            Command::CreateVenue { venue_id, tenant_id, slug, name, timezone, currency } => self.decide_create_venue(*venue_id, *tenant_id, slug, name, timezone, currency),
            Command::AddStaff { staff_id, name, role, username, pin_lookup, pin_hash, password_hash } => self.decide_add_staff(*staff_id, name, *role, username.as_deref(), pin_lookup.as_deref(), pin_hash.as_deref(), password_hash.as_deref(), actor),
            Command::UpdateStaff { staff_id, name, role, active } => self.decide_update_staff(*staff_id, name.as_deref(), *role, *active, actor),
            Command::SetStaffPin { staff_id, pin_lookup, pin_hash } => self.decide_set_staff_pin(*staff_id, pin_lookup, pin_hash, actor),
            Command::SetStaffPassword { staff_id, password_hash } => self.decide_set_staff_password(*staff_id, password_hash, actor),
            Command::GiveStaffVenues { staff_id, venues } => self.decide_give_staff_venues(*staff_id, venues, actor),
            // menu
            Command::SaveStation { station } => self.decide_save_station(station),
            Command::SaveCategory { category } => self.decide_save_category(category),
            Command::SaveModifierGroup { group } => self.decide_save_modifier_group(group),
            Command::SaveMenuItem { item } => self.decide_save_menu_item(item),
            Command::SetItemAvailability { item_id, available } => self.decide_set_item_availability(*item_id, *available),
            // floor
            Command::SaveArea { area } => self.decide_save_area(area),
            Command::SaveTable { table } => self.decide_save_table(table),
            Command::RemoveTable { table_id } => self.decide_remove_table(*table_id),
            Command::AssignServer { table_id, server_id } => self.decide_assign_server(*table_id, *server_id),
            Command::SeatParty { table_id, guests, server_id } => self.decide_seat_party(*table_id, *guests, *server_id, now),
            Command::MoveParty { table_id, to_table_id } => self.decide_move_party(*table_id, *to_table_id),
            Command::MergeTables { table_id, table_ids } => self.decide_merge_tables(*table_id, table_ids),
            Command::SplitTables { table_id } => self.decide_split_tables(*table_id),
            Command::RequestBill { table_id } => self.decide_request_bill(*table_id, now),
            Command::ClearTable { table_id } => self.decide_clear_table(*table_id, now),
            Command::MarkTableClean { table_id } => self.decide_mark_table_clean(*table_id),
            // orders
            Command::OpenOrder { order_id, kind, table_id, guests, customer, channel, note, lines, hold } => self.decide_open_order(*order_id, *kind, *table_id, *guests, customer, channel, note, lines, *hold, actor, now),
            Command::AddLines { order_id, lines, hold } => self.decide_add_lines(*order_id, lines, *hold, actor, now),
            Command::FireCourse { order_id, course } => self.decide_fire_course(*order_id, *course, now),
            Command::VoidLine { order_id, line_id, reason } => self.decide_void_line(*order_id, *line_id, reason, actor, now),
            Command::CloseOrder { order_id } => self.decide_close_order(*order_id, now),
            Command::CancelOrder { order_id, reason } => self.decide_cancel_order(*order_id, reason, actor, now),
            // kitchen
            Command::StartLines { order_id, line_ids } => self.decide_start_lines(*order_id, line_ids, now),
            Command::MarkLinesReady { order_id, line_ids, station_id } => self.decide_mark_lines_ready(*order_id, line_ids, *station_id, now),
            Command::ServeLines { order_id, line_ids } => self.decide_serve_lines(*order_id, line_ids, now),
            Command::StartTicket { order_id, station_id } => self.decide_start_ticket(*order_id, *station_id, now),
            Command::BumpTicket { order_id, station_id } => self.decide_bump_ticket(*order_id, *station_id, now),
            Command::RecallTicket { order_id, station_id } => self.decide_recall_ticket(*order_id, *station_id, now),
            Command::ServeReady { order_id } => self.decide_serve_ready(*order_id, now),
            Command::RaiseDeliveryAlert { order_id, station_id } => self.decide_raise_delivery_alert(*order_id, *station_id, now),
            Command::ClearDeliveryAlert { order_id, station_id } => self.decide_clear_delivery_alert(*order_id, *station_id, now),
            // devices
            Command::ProvisionDevice { device_id, spec, secret_hash } => self.decide_provision_device(*device_id, spec, secret_hash, now),
            Command::UpdateDevice { device_id, spec } => self.decide_update_device(*device_id, spec),
            Command::SetDeviceEnabled { device_id, enabled } => self.decide_set_device_enabled(*device_id, *enabled),
            Command::RotateDeviceSecret { device_id, secret_hash } => self.decide_rotate_device_secret(*device_id, secret_hash),
            Command::RemoveDevice { device_id } => self.decide_remove_device(*device_id),
            // food safety
            Command::RaiseFoodSafetyAlert { alert_id, device_id, kind, celsius, limit, since } => self.decide_raise_food_safety_alert(*alert_id, *device_id, *kind, *celsius, *limit, *since, now),
            Command::MarkFoodSafetyRecovered { alert_id } => self.decide_mark_food_safety_recovered(*alert_id, now),
            Command::AcknowledgeFoodSafetyAlert { alert_id } => self.decide_acknowledge_food_safety_alert(*alert_id, actor, now),
            Command::ResolveFoodSafetyAlert { alert_id, corrective_action } => self.decide_resolve_food_safety_alert(*alert_id, corrective_action, actor, now),
            // scans
            Command::RecordScan { scan_id, device_id, scan, scanned_at } => self.decide_record_scan(*scan_id, *device_id, scan, *scanned_at, now),
            Command::PickUpTicket { device_id, code } => self.decide_pick_up_ticket(*device_id, code, now),
            // service calls
            Command::RequestService { table_id, device_id, reason } => self.decide_request_service(*table_id, *device_id, *reason, now),
            Command::CancelServiceRequest { table_id } => self.decide_cancel_service_request(*table_id, now),
            Command::AcknowledgeServiceRequest { table_id } => self.decide_acknowledge_service_request(*table_id, actor, now),
            // cooling
            Command::StartCoolingBatch { batch_id, device_id, probe, label, started_at } => self.decide_start_cooling_batch(*batch_id, *device_id, probe, label, *started_at),
            Command::RecordCoolingProgress { batch_id, progress } => self.decide_record_cooling_progress(*batch_id, progress, now),
            Command::StopCoolingBatch { batch_id, at } => self.decide_stop_cooling_batch(*batch_id, *at),
        }
    }

    /// Applies an accepted event. Infallible: anything it refers to was checked by `decide`,
    /// and a missing entity (impossible in a consistent journal) is skipped, not a panic.
    #[rustfmt::skip] // one line per event: the table reads as a table
    pub fn apply(&mut self, event: &Event) {
        match event {
            // identity and staff
            Event::VenueCreated { venue_id, tenant_id, slug, name, timezone, currency } => self.apply_venue_created(*venue_id, *tenant_id, slug, name, timezone, currency),
            Event::StaffAdded { staff } => self.apply_staff_added(staff),
            Event::StaffUpdated { staff_id, name, role, active } => self.apply_staff_updated(*staff_id, name, *role, *active),
            Event::StaffPinChanged { staff_id, pin_lookup, pin_hash } => self.apply_staff_pin_changed(*staff_id, pin_lookup, pin_hash),
            Event::StaffPasswordChanged { staff_id, password_hash } => self.apply_staff_password_changed(*staff_id, password_hash),
            Event::StaffVenuesGiven { staff_id, venues } => self.apply_staff_venues_given(*staff_id, venues),
            // menu
            Event::StationSaved { station } => self.apply_station_saved(station),
            Event::CategorySaved { category } => self.apply_category_saved(category),
            Event::ModifierGroupSaved { group } => self.apply_modifier_group_saved(group),
            Event::MenuItemSaved { item } => self.apply_menu_item_saved(item),
            Event::ItemAvailabilityChanged { item_id, available } => self.apply_item_availability_changed(*item_id, *available),
            // floor
            Event::AreaSaved { area } => self.apply_area_saved(area),
            Event::TableSaved { table } => self.apply_table_saved(table),
            Event::TableRemoved { table_id } => self.apply_table_removed(*table_id),
            Event::ServerAssigned { table_id, server_id } => self.apply_server_assigned(*table_id, *server_id),
            Event::PartySeated { table_id, guests, server_id, at } => self.apply_party_seated(*table_id, *guests, *server_id, *at),
            Event::PartyMoved { table_id, to_table_id } => self.apply_party_moved(*table_id, *to_table_id),
            Event::TablesMerged { table_id, table_ids } => self.apply_tables_merged(*table_id, table_ids),
            Event::TablesSplit { table_id: _, table_ids } => self.apply_tables_split(table_ids),
            Event::BillRequested { table_id, at } => self.apply_bill_requested(*table_id, *at),
            Event::TableCleared { table_id, at } => self.apply_table_cleared(*table_id, *at),
            Event::TableCleaned { table_id } => self.apply_table_cleaned(*table_id),
            // orders
            Event::OrderOpened { order_id, number, kind, table_id, guests, customer, channel, note, created_by, at } => self.apply_order_opened(*order_id, *number, *kind, *table_id, *guests, customer, channel, note, *created_by, *at),
            Event::LinesAdded { order_id, lines } => self.apply_lines_added(*order_id, lines),
            Event::LinesFired { order_id, courses, line_ids, at } => self.apply_lines_fired(*order_id, courses, line_ids, *at),
            Event::LineVoided { order_id, line_id, reason, by, after_cooking, at } => self.apply_line_voided(*order_id, *line_id, reason, *by, *after_cooking, *at),
            Event::OrderClosed { order_id, at } => self.apply_order_closed(*order_id, *at),
            Event::OrderCancelled { order_id, reason, by: _, at } => self.apply_order_cancelled(*order_id, reason, *at),
            // kitchen
            Event::LinesStarted { order_id, line_ids, at } => self.apply_lines_started(*order_id, line_ids, *at),
            Event::LinesReady { order_id, line_ids, station_id, at } => self.apply_lines_ready(*order_id, line_ids, *station_id, *at),
            Event::LinesServed { order_id, line_ids, at } => self.apply_lines_served(*order_id, line_ids, *at),
            Event::TicketRecalled { order_id, station_id, at: _ } => self.apply_ticket_recalled(*order_id, *station_id),
            Event::TicketBumped { order_id, station_id, at: _ } => self.apply_ticket_bumped(*order_id, *station_id),
            Event::DeliveryAlertRaised { order_id, station_id, at: _ } => self.apply_delivery_alert_raised(*order_id, *station_id),
            Event::DeliveryAlertCleared { order_id, station_id, at: _ } => self.apply_delivery_alert_cleared(*order_id, *station_id),
            // devices
            Event::DeviceProvisioned { device } => self.apply_device_provisioned(device),
            Event::DeviceUpdated { device_id, spec } => self.apply_device_updated(*device_id, spec),
            Event::DeviceEnabledChanged { device_id, enabled } => self.apply_device_enabled_changed(*device_id, *enabled),
            Event::DeviceSecretRotated { device_id, secret_hash } => self.apply_device_secret_rotated(*device_id, secret_hash),
            Event::DeviceRemoved { device_id } => self.apply_device_removed(*device_id),
            // food safety
            Event::FoodSafetyAlertRaised { alert } => self.apply_food_safety_alert_raised(alert),
            Event::FoodSafetyAlertRecovered { alert_id, at } => self.apply_food_safety_alert_recovered(*alert_id, *at),
            Event::FoodSafetyAlertAcknowledged { alert_id, by, at } => self.apply_food_safety_alert_acknowledged(*alert_id, *by, *at),
            Event::FoodSafetyAlertResolved { alert_id, by, at, corrective_action } => self.apply_food_safety_alert_resolved(*alert_id, *by, *at, corrective_action),
            // scans
            Event::ScanRecorded { scan } => self.apply_scan_recorded(scan),
            // Its lines were served by the `LinesServed` just before it: the journal only.
            Event::TicketPickedUp { .. } => {}
            // service calls
            Event::ServiceRequested { table_id, device_id, reason, at } => self.apply_service_requested(*table_id, *device_id, *reason, *at),
            // A repeat changes nothing: it is in the journal only.
            Event::ServiceRequestRepeated { .. } => {}
            Event::ServiceRequestCancelled { table_id, at: _ } => self.apply_service_request_cancelled(*table_id),
            Event::ServiceRequestAcknowledged { table_id, device_id: _, by, at } => self.apply_service_request_acknowledged(*table_id, *by, *at),
            // cooling
            Event::CoolingBatchStarted { batch } => self.apply_cooling_batch_started(batch),
            Event::CoolingProgressRecorded { batch_id, progress, at } => self.apply_cooling_progress_recorded(*batch_id, progress, *at),
            Event::CoolingBatchStopped { batch_id, at } => self.apply_cooling_batch_stopped(*batch_id, *at),
        }
    }
}
