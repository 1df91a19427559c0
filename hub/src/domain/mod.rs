//! The pure core: venue state, the commands that may change it, the events that record
//! each change, and the rules between them. No I/O, no clock, no logging: time comes in
//! as an argument, so replaying the journal always rebuilds the same state.
//!
//! # Layout
//! - [`command`]: what clients ask for; [`event`]: what happened (the journal's contents).
//! - [`venue`]: the aggregate with `decide` and `apply`, routing each command and event to
//!   the rules of its concept (`venue/staff.rs`, `floor.rs`, `order.rs`, `kitchen.rs`, ...).
//! - [`floor`], [`menu`], [`order`], [`staff`], [`device`]: the state's parts (value types;
//!   they import nothing from `venue`, so the domain's modules form no cycle).
//! - [`rejection`]: refusals with stable codes.
//! - [`food_safety`]: probe monitors and cooling batches, pure rules the device bridge feeds;
//!   [`cooling`]: the cooling log those rules report into; [`device_rules`]: the state
//!   machine over them that turns readings and ticks into the commands the bridge sends.
//! - [`derived_id`]: ids derived from a command or a device message, so that retries name
//!   the same entity.
//! - [`scan`]: barcode scans as recorded. Calls for service at a table are `floor`'s
//!   `ServiceRequest`, decided in `venue/service.rs`.

pub mod command;
pub mod cooling;
pub mod derived_id;
pub mod device;
pub mod device_rules;
pub mod event;
pub mod floor;
pub mod food_safety;
pub mod id;
pub mod menu;
pub mod order;
pub mod rejection;
pub mod scan;
pub mod secret;
pub mod staff;
pub mod venue;

#[cfg(test)]
mod tests;

pub use command::{Command, DeviceSpec, LineInput};
pub use cooling::{CoolingOutcome, CoolingProgress, CoolingRecord};
pub use derived_id::{DerivedFor, Entity, derived_id};
pub use device::{Device, DeviceKind, ScannerPurpose, UnitLimits, UnitProfile};
pub use event::Event;
pub use floor::{
    Area, Party, ServiceReason, ServiceRequest, Table, TableLayout, TableShape, TableStatus,
};
pub use id::*;
pub use menu::{Category, MenuItem, ModifierGroup, ModifierOption, Station, TaxCategory};
pub use order::{
    Customer, Line, LineModifier, LineStatus, LineVoid, Order, OrderKind, OrderStatus,
};
pub use rejection::{Rejection, RejectionCode, RejectionKind};
pub use scan::{RecordedScan, ScanKind, ScannedCode};
pub use secret::SecretHash;
pub use staff::{Role, Staff, Standing, username_key};
pub use venue::{Venue, VenueInfo};

/// Every moment in the domain is a UTC instant supplied by the caller.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Who issues a command: recorded in the journal and used by the few rules that depend on
/// the role (voiding cooked food, managing owners). The system (seeding, rules) has no staff id and no role.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub staff_id: Option<StaffId>,
    pub role: Option<Role>,
    /// The device or client the command came from, e.g. `kds-grill-1`.
    pub device: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn staff(staff_id: StaffId, role: Role, device: Option<String>) -> Self {
        Self {
            staff_id: Some(staff_id),
            role: Some(role),
            device,
        }
    }

    /// A device acting on its own through the device bridge (a scanner, a bump bar, a call
    /// button), authenticated by its credentials: it has a key but no staff member or role.
    pub fn device(key: impl Into<String>) -> Self {
        Self {
            staff_id: None,
            role: None,
            device: Some(key.into()),
        }
    }

    /// Managers, owners and the system may override kitchen-protecting rules; a device
    /// acting on its own may not.
    pub fn is_manager(&self) -> bool {
        match self.role {
            Some(role) => role.is_manager(),
            None => self.is_system(),
        }
    }

    /// Whether this actor may void a line whose cooking started: a role granted
    /// `void_after_cooking` ([`Role::may_void_after_cooking`]) or the system; never a
    /// device acting on its own.
    pub fn may_void_after_cooking(&self) -> bool {
        match self.role {
            Some(role) => role.may_void_after_cooking(),
            None => self.is_system(),
        }
    }

    /// The hub itself (seeding, rules): no staff member and no device.
    fn is_system(&self) -> bool {
        self.staff_id.is_none() && self.device.is_none()
    }
}
