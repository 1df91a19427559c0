//! Uplink and downlink payload types: the JSON shapes that are the public contract with
//! firmware writers. Shapes only; plausibility checks live in `codec`, and what a message
//! means for a venue is the hub's business.
//!
//! Which struct a payload is follows from its topic kind, so uplink payloads carry no
//! `type` tag at top level; the tagged enums inside them (`event`, commands) do.

use serde::{Deserialize, Serialize};

/// Device time as sent: an RFC 3339 string, checked on decode and kept verbatim so a
/// payload re-encodes byte-for-byte as the device wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(String);

/// The string is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 timestamp (like 2025-06-01T10:15:00+07:00)")]
pub struct TimestampError(String);

impl Timestamp {
    pub fn parse(text: impl Into<String>) -> Result<Timestamp, TimestampError> {
        let text = text.into();
        match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(_) => Ok(Timestamp(text)),
            Err(_) => Err(TimestampError(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instant, with the offset the device used.
    pub fn to_datetime(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(&self.0).ok()
    }
}

impl TryFrom<String> for Timestamp {
    type Error = TimestampError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Timestamp::parse(value)
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> Self {
        value.0
    }
}

/// `almahira/v1/{venue}/{device}/telemetry`: periodic readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// 1-64 chars, unique per device; the hub drops a message whose id it has seen.
    pub msg_id: String,
    /// Per-device counter; lets the hub notice gaps and out-of-order delivery.
    pub seq: u64,
    /// Optional, 1-64 chars: names the device's current run (a random id chosen at each
    /// boot), so the hub knows a `seq` that starts again is a restart, not a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    /// Absent on devices without a clock; the hub then uses its receive time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    /// May be empty for a door- or battery-only report.
    #[serde(default)]
    pub readings: Vec<Reading>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<DoorState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<u8>,
}

/// One probe's temperature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// Probe name on the device, e.g. `main`, `core`, `ambient`.
    pub probe: String,
    pub celsius: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorState {
    Open,
    Closed,
}

/// `almahira/v1/{venue}/{device}/event`: something a person did on a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEvent {
    pub msg_id: String,
    pub seq: u64,
    /// As in [`Telemetry::boot`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    pub event: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventBody {
    /// A bump-bar key.
    Key { key: Key },
    /// A barcode as the scanner read it; decode with [`crate::gs1::decode_scan`].
    Scan {
        code: String,
        /// What the scanner says it read, when it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        symbology: Option<Symbology>,
    },
    /// A call-button press.
    Button { press: Press },
    /// A cook starts tracking a cooling batch on a probe.
    CoolingStart { probe: String, batch: String },
    /// The cook stops tracking the batch.
    CoolingStop { batch: String },
}

/// Bump-bar keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Next,
    Previous,
    Bump,
    Recall,
    Start,
    Serve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Ean13,
    UpcA,
    Ean8,
    Gs1_128,
    Gs1Datamatrix,
    Qr,
    Code128,
}

/// Call-button presses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Press {
    Service,
    Bill,
    Cancel,
}

/// `almahira/v1/{venue}/{device}/status`: published retained on connect, and set as the
/// connection's last will with `{"state":"offline"}`. No `msg_id`/`seq`: a will is fixed
/// at connect time and the retained value is the latest state, not a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub state: DeviceState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<DeviceKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Wi-Fi signal in dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<i16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Online,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Probe,
    BumpBar,
    Scanner,
    CallButton,
}

/// `almahira/v1/{venue}/{device}/cmd`: what the hub tells a device to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Light the device's LED; `seconds` absent means until the next `led` command.
    Led {
        color: LedColor,
        pattern: LedPattern,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds: Option<u16>,
    },
    /// The hub accepted the uplink message `msg_id` (e.g. a call-button press).
    Ack { msg_id: String },
    /// Change settings; absent fields stay as they are.
    Config {
        /// Seconds between telemetry reports.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interval_seconds: Option<u32>,
        /// Report early when a probe moves by at least this many degrees.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_delta_celsius: Option<f64>,
        /// Beep on key press or scan.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        beep: Option<bool>,
    },
    /// Short text on a bump bar's display, at most [`DISPLAY_TEXT_MAX_CHARS`] characters.
    Display { text: String },
}

/// Bump-bar displays are one short line.
pub const DISPLAY_TEXT_MAX_CHARS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedColor {
    Green,
    Amber,
    Red,
    Blue,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedPattern {
    Solid,
    Blink,
    Pulse,
}

/// `almahira/v1/{venue}/{device}/error`: the hub's answer to a message it refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorReply {
    /// A stable reason such as `bad_shape` (see `codec::Rejection::reason`).
    pub code: String,
    /// For a person reading the device log.
    pub message: String,
    /// The refused message's id, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_timestamp_keeps_the_devices_spelling() {
        let ts: Timestamp = serde_json::from_value(json!("2025-06-01T10:15:00Z")).unwrap();
        assert_eq!(
            serde_json::to_value(&ts).unwrap(),
            json!("2025-06-01T10:15:00Z")
        );
        assert_eq!(ts.to_datetime().unwrap().timestamp(), 1_748_772_900);
    }

    #[test]
    fn a_timestamp_that_is_not_rfc3339_is_refused() {
        assert!(Timestamp::parse("2025-06-01 10:15").is_err());
        assert!(Timestamp::parse("1748772900").is_err());
    }

    #[test]
    fn events_are_tagged_by_type_in_snake_case() {
        let body = EventBody::CoolingStart {
            probe: "core".into(),
            batch: "rendang-0601".into(),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"type": "cooling_start", "probe": "core", "batch": "rendang-0601"})
        );
    }

    #[test]
    fn a_typo_in_an_event_field_is_caught() {
        let err = serde_json::from_value::<EventBody>(json!({"type": "key", "kye": "bump"}));
        assert!(err.is_err());
    }

    #[test]
    fn symbology_names_are_the_documented_ones() {
        let names: Vec<_> = [
            Symbology::Ean13,
            Symbology::UpcA,
            Symbology::Ean8,
            Symbology::Gs1_128,
            Symbology::Gs1Datamatrix,
            Symbology::Qr,
            Symbology::Code128,
        ]
        .iter()
        .map(|s| serde_json::to_value(s).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "ean13",
                "upc_a",
                "ean8",
                "gs1_128",
                "gs1_datamatrix",
                "qr",
                "code128"
            ]
        );
    }

    #[test]
    fn an_empty_config_serialises_to_just_its_type() {
        let cmd = Command::Config {
            interval_seconds: None,
            report_delta_celsius: None,
            beep: None,
        };
        assert_eq!(
            serde_json::to_value(&cmd).unwrap(),
            json!({"type": "config"})
        );
    }
}
