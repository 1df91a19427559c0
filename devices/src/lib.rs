//! Topics, payload types and codecs shared by the hub, firmware-sim and firmware writers in
//! other languages. The JSON shapes here are a public contract (see `docs/devices.md` and
//! the golden fixtures in `tests/fixtures`). No I/O, no async runtime, no clock.
//!
//! # Layout
//! - [`topic`]: the MQTT topic scheme `almahira/v1/{venue}/{device}/{kind}`, parsing,
//!   building, and the hub's (shared) subscription filters.
//! - [`payload`]: serde types for uplink (telemetry, event, status) and downlink
//!   (command, error reply) payloads.
//! - [`codec`]: `(topic, bytes) -> typed message` with plausibility checks, a stable
//!   rejection reason per cause, and encoders.
//! - [`gs1`]: EAN/UPC and GS1 element-string barcodes into typed [`Scan`]s.

pub mod codec;
pub mod gs1;
pub mod payload;
pub mod topic;

pub use codec::{
    Downlink, DownlinkMessage, Rejection, Uplink, UplinkMessage, check_command, check_uplink,
    decode_downlink, decode_uplink, encode_downlink, encode_error, encode_uplink, error_reply,
};
pub use gs1::{Scan, ScanError, ScanKind, decode_scan};
pub use payload::{
    Command, DeviceEvent, DeviceKind, DeviceState, DoorState, ErrorReply, EventBody, Key, LedColor,
    LedPattern, Press, Reading, Status, Symbology, Telemetry, Timestamp,
};
pub use topic::{Topic, TopicError, TopicKind};
