//! Ids derived from another id, so that a retried request or a redelivered device message
//! names the same new entity (or the same command) as the first try, even when the client
//! let the hub choose. [`DerivedFor`] says what an id is derived for; each namespace keeps
//! the exact bytes the hub hashed before it was typed, because derived ids are stored in
//! journals: the values are pinned by a test and must never change.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// An entity a REST create names when its body leaves the id out, derived from the
/// request's `command_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    Venue,
    Staff,
    Device,
    Order,
    Area,
    Table,
    Category,
    ModifierGroup,
    MenuItem,
    Station,
}

impl Entity {
    /// The label hashed for this entity (journaled ids depend on it: never rename).
    fn label(self) -> &'static str {
        match self {
            Entity::Venue => "venue",
            Entity::Staff => "staff",
            Entity::Device => "device",
            Entity::Order => "order",
            Entity::Area => "area",
            Entity::Table => "table",
            Entity::Category => "category",
            Entity::ModifierGroup => "modifier_group",
            Entity::MenuItem => "menu_item",
            Entity::Station => "station",
        }
    }
}

/// What a derived id is for, and what it is derived from besides the base id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DerivedFor<'a> {
    /// A new entity of a REST create (base: the request's `command_id`).
    Entity(Entity),
    /// The line at `index` of a new order (base: the request's `command_id`).
    OrderLine(usize),
    /// The engine command id of a device's message (base: the device id), so a message
    /// redelivered after a restart is answered from the idempotency window.
    DeviceCommand { msg_id: &'a str },
    /// The scan a scanner's message records (base: the device id).
    Scan { msg_id: &'a str },
    /// The cooling batch a probe's `cooling_start` opens (base: the device id).
    CoolingBatch { msg_id: &'a str },
}

impl DerivedFor<'_> {
    /// The label and index hashed after the base id, as the hub always hashed them.
    fn label_and_index(&self) -> (&str, u64) {
        match *self {
            DerivedFor::Entity(entity) => (entity.label(), 0),
            DerivedFor::OrderLine(index) => ("line", index as u64),
            DerivedFor::DeviceCommand { msg_id } => (msg_id, 0),
            DerivedFor::Scan { msg_id } => (msg_id, 1),
            DerivedFor::CoolingBatch { msg_id } => (msg_id, 2),
        }
    }
}

/// The id `what` gets, derived from `base`: the same inputs always give the same id.
pub fn derived_id(base: Uuid, what: DerivedFor<'_>) -> Uuid {
    let (label, index) = what.label_and_index();
    let mut hasher = Sha256::new();
    hasher.update(base.as_bytes());
    hasher.update(label.as_bytes());
    hasher.update(index.to_be_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with the untyped `derived_id(base, label, index)` the hub had before the
    /// namespace was typed; journals hold these ids, so they must not move.
    #[test]
    fn derived_ids_stay_the_ones_already_in_journals() {
        let base = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let msg_id = "m-42";
        let pinned = [
            (
                DerivedFor::Entity(Entity::Order),
                "c33356a7-7e50-8378-a406-e47f24660df8",
            ),
            (
                DerivedFor::OrderLine(0),
                "eb1d4928-5167-8c40-ad93-99b255f87eb5",
            ),
            (
                DerivedFor::OrderLine(3),
                "a8091882-2b0f-82b0-a278-d6196966bb8e",
            ),
            (
                DerivedFor::Entity(Entity::Staff),
                "f4c2b652-5273-82d3-8179-191c2c12d72d",
            ),
            (
                DerivedFor::Entity(Entity::Device),
                "f3bbc5ff-1f46-83fe-be2f-9c6111efe920",
            ),
            (
                DerivedFor::Entity(Entity::Venue),
                "b788cbb6-09fc-83eb-97e0-3d505326cab1",
            ),
            (
                DerivedFor::Entity(Entity::Area),
                "d3460233-7f73-82a2-a8af-eecf6e512910",
            ),
            (
                DerivedFor::Entity(Entity::Table),
                "5d2cdac6-e467-8d22-9930-324fe049964b",
            ),
            (
                DerivedFor::Entity(Entity::Category),
                "6c022879-046e-8655-84e2-c0338dc30815",
            ),
            (
                DerivedFor::Entity(Entity::ModifierGroup),
                "51e51c36-604e-8e31-b674-46f75f1a8ffc",
            ),
            (
                DerivedFor::Entity(Entity::MenuItem),
                "cdde35a0-7b0e-87f2-b8fe-451323dc9be8",
            ),
            (
                DerivedFor::Entity(Entity::Station),
                "7e374f99-e45b-816d-940c-3abe3800cfa9",
            ),
            (
                DerivedFor::DeviceCommand { msg_id },
                "4035479c-94ac-8648-bb30-5afda322eaf8",
            ),
            (
                DerivedFor::Scan { msg_id },
                "889dd09a-42fc-85ce-ba75-ce528d308c91",
            ),
            (
                DerivedFor::CoolingBatch { msg_id },
                "61675e7f-bef4-877f-8276-768d96a4942e",
            ),
        ];
        for (what, expected) in pinned {
            assert_eq!(derived_id(base, what).to_string(), expected, "{what:?}");
        }
    }

    #[test]
    fn a_device_message_derives_distinct_ids_for_its_command_scan_and_batch() {
        let device = Uuid::from_u128(7);
        let msg_id = "scan-1";
        let ids = [
            derived_id(device, DerivedFor::DeviceCommand { msg_id }),
            derived_id(device, DerivedFor::Scan { msg_id }),
            derived_id(device, DerivedFor::CoolingBatch { msg_id }),
        ];
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        assert_ne!(ids[0], ids[2]);
    }
}
