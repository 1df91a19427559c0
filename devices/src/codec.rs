//! Turning (topic, bytes) into typed messages and back, and the plausibility checks every
//! message passes before anyone acts on it. Pure: no I/O, no clock, no per-venue rules
//! (a fridge's 5 °C limit is the hub's business; a probe reading 900 °C is ours).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::payload::{
    Command, DISPLAY_TEXT_MAX_CHARS, DeviceEvent, ErrorReply, EventBody, Status, Telemetry,
};
use crate::topic::{Topic, TopicError, TopicKind};

/// Largest payload accepted, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024;
/// Most readings one telemetry message may carry.
pub const MAX_READINGS: usize = 16;
/// Plausible probe range in °C: below a blast freezer, above a fryer's oil.
pub const CELSIUS_RANGE: std::ops::RangeInclusive<f64> = -60.0..=300.0;
pub const MAX_MSG_ID_CHARS: usize = 64;
/// Longest `boot` (the device's run id) in telemetry and events.
pub const MAX_BOOT_CHARS: usize = 64;
pub const MAX_PROBE_CHARS: usize = 32;
pub const MAX_BATCH_CHARS: usize = 64;
pub const MAX_SCAN_CHARS: usize = 512;
pub const MAX_FIRMWARE_CHARS: usize = 64;
/// Plausible Wi-Fi signal range in dBm.
pub const RSSI_RANGE: std::ops::RangeInclusive<i16> = -120..=0;

/// A decoded device -> hub message with the device it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    pub venue: String,
    pub device: String,
    pub message: UplinkMessage,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UplinkMessage {
    Telemetry(Telemetry),
    Event(DeviceEvent),
    Status(Status),
}

impl UplinkMessage {
    pub fn kind(&self) -> TopicKind {
        match self {
            UplinkMessage::Telemetry(_) => TopicKind::Telemetry,
            UplinkMessage::Event(_) => TopicKind::Event,
            UplinkMessage::Status(_) => TopicKind::Status,
        }
    }

    /// The id used to drop duplicates; status messages have none.
    pub fn msg_id(&self) -> Option<&str> {
        match self {
            UplinkMessage::Telemetry(t) => Some(&t.msg_id),
            UplinkMessage::Event(e) => Some(&e.msg_id),
            UplinkMessage::Status(_) => None,
        }
    }

    pub fn seq(&self) -> Option<u64> {
        match self {
            UplinkMessage::Telemetry(t) => Some(t.seq),
            UplinkMessage::Event(e) => Some(e.seq),
            UplinkMessage::Status(_) => None,
        }
    }

    /// The device's run the `seq` counts in, when the device names it.
    pub fn boot(&self) -> Option<&str> {
        match self {
            UplinkMessage::Telemetry(t) => t.boot.as_deref(),
            UplinkMessage::Event(e) => e.boot.as_deref(),
            UplinkMessage::Status(_) => None,
        }
    }
}

impl Uplink {
    /// The topic this message belongs on.
    pub fn topic(&self) -> Topic {
        Topic::from_parts(self.message.kind(), self.venue.clone(), self.device.clone())
    }
}

/// A decoded hub -> device message, for firmware-sim and device-side tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Downlink {
    pub venue: String,
    pub device: String,
    pub message: DownlinkMessage,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DownlinkMessage {
    Command(Command),
    Error(ErrorReply),
}

/// Why a message was refused. [`Rejection::reason`] is stable: it is a metrics label and
/// the `code` of the error reply sent back to the device.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    #[error("bad topic: {0}")]
    BadTopic(#[from] TopicError),
    #[error("{topic} is not an uplink topic (devices publish telemetry, event or status)")]
    NotUplink { topic: String },
    #[error("{topic} is not a downlink topic (the hub publishes cmd or error)")]
    NotDownlink { topic: String },
    #[error("payload is {size} bytes, the limit is {MAX_PAYLOAD_BYTES}")]
    TooLarge { size: usize },
    #[error("payload is not UTF-8 (invalid byte at offset {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("payload is not JSON: {message}")]
    NotJson { message: String },
    #[error("payload does not match the {kind} shape at `{path}`: {message}")]
    BadShape {
        kind: TopicKind,
        /// Field path such as `readings[0].celsius`, `.` for the top level.
        path: String,
        message: String,
    },
    #[error("implausible value at `{field}`: {message}")]
    AbsurdValue { field: String, message: String },
}

impl Rejection {
    /// Stable snake_case cause.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::BadTopic(_) => "bad_topic",
            Rejection::NotUplink { .. } => "not_uplink",
            Rejection::NotDownlink { .. } => "not_downlink",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::NotUtf8 { .. } => "not_utf8",
            Rejection::NotJson { .. } => "not_json",
            Rejection::BadShape { .. } => "bad_shape",
            Rejection::AbsurdValue { .. } => "absurd_value",
        }
    }

    /// Every reason this type can give, for pre-registering metric labels.
    pub const REASONS: [&'static str; 8] = [
        "bad_topic",
        "not_uplink",
        "not_downlink",
        "too_large",
        "not_utf8",
        "not_json",
        "bad_shape",
        "absurd_value",
    ];

    fn absurd(field: impl Into<String>, message: impl Into<String>) -> Rejection {
        Rejection::AbsurdValue {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Decode and check a message a device published. The topic decides the shape.
pub fn decode_uplink(topic: &str, payload: &[u8]) -> Result<Uplink, Rejection> {
    let parsed = Topic::parse(topic)?;
    if !parsed.kind().is_uplink() {
        return Err(Rejection::NotUplink {
            topic: topic.to_owned(),
        });
    }
    let text = payload_text(payload)?;
    let kind = parsed.kind();
    let message = match kind {
        TopicKind::Telemetry => UplinkMessage::Telemetry(from_json(kind, text)?),
        TopicKind::Event => UplinkMessage::Event(from_json(kind, text)?),
        _ => UplinkMessage::Status(from_json(kind, text)?),
    };
    check_uplink(&message)?;
    let (venue, device) = (parsed.venue().to_owned(), parsed.device().to_owned());
    Ok(Uplink {
        venue,
        device,
        message,
    })
}

/// Decode and check a message the hub published (firmware side).
pub fn decode_downlink(topic: &str, payload: &[u8]) -> Result<Downlink, Rejection> {
    let parsed = Topic::parse(topic)?;
    let kind = parsed.kind();
    if kind.is_uplink() {
        return Err(Rejection::NotDownlink {
            topic: topic.to_owned(),
        });
    }
    let text = payload_text(payload)?;
    let message = if kind == TopicKind::Cmd {
        let command: Command = from_json(kind, text)?;
        check_command(&command)?;
        DownlinkMessage::Command(command)
    } else {
        DownlinkMessage::Error(from_json(kind, text)?)
    };
    Ok(Downlink {
        venue: parsed.venue().to_owned(),
        device: parsed.device().to_owned(),
        message,
    })
}

/// JSON for an uplink payload (firmware-sim and tests). Does not check plausibility.
pub fn encode_uplink(message: &UplinkMessage) -> Vec<u8> {
    match message {
        UplinkMessage::Telemetry(t) => to_json(t),
        UplinkMessage::Event(e) => to_json(e),
        UplinkMessage::Status(s) => to_json(s),
    }
}

/// JSON for a `cmd` payload. Does not check plausibility; see [`check_command`].
pub fn encode_downlink(command: &Command) -> Vec<u8> {
    to_json(command)
}

/// JSON for an `error` payload.
pub fn encode_error(reply: &ErrorReply) -> Vec<u8> {
    to_json(reply)
}

/// The reply telling a device why its payload was refused, naming its `msg_id` when the
/// payload was JSON with a usable one.
pub fn error_reply(rejection: &Rejection, payload: &[u8]) -> ErrorReply {
    ErrorReply {
        code: rejection.reason().to_owned(),
        message: rejection.to_string(),
        msg_id: msg_id_hint(payload),
    }
}

/// Best-effort `msg_id` of a payload that may have been refused.
pub fn msg_id_hint(payload: &[u8]) -> Option<String> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let id = value.get("msg_id")?.as_str()?;
    let len = id.chars().count();
    (1..=MAX_MSG_ID_CHARS).contains(&len).then(|| id.to_owned())
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // These types hold only strings, numbers, bools and string-keyed structs, which
    // serde_json always serialises (non-finite floats become null).
    serde_json::to_vec(value)
        .unwrap_or_else(|e| unreachable!("payload types always serialise: {e}"))
}

fn payload_text(payload: &[u8]) -> Result<&str, Rejection> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Rejection::TooLarge {
            size: payload.len(),
        });
    }
    std::str::from_utf8(payload).map_err(|e| Rejection::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })
}

fn from_json<T: DeserializeOwned>(kind: TopicKind, text: &str) -> Result<T, Rejection> {
    if text.trim().is_empty() {
        return Err(Rejection::NotJson {
            message: "empty payload (an empty retained message only clears the topic)".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => Rejection::BadShape {
                kind,
                path,
                message: inner.to_string(),
            },
            _ => Rejection::NotJson {
                message: inner.to_string(),
            },
        }
    })?;
    de.end().map_err(|e| Rejection::NotJson {
        message: e.to_string(),
    })?;
    Ok(value)
}

fn check_text(field: &str, value: &str, min: usize, max: usize) -> Result<(), Rejection> {
    let len = value.chars().count();
    if len < min {
        return Err(Rejection::absurd(field, "must not be empty"));
    }
    if len > max {
        return Err(Rejection::absurd(
            field,
            format!("{len} characters, at most {max} allowed"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Rejection::absurd(field, "contains control characters"));
    }
    Ok(())
}

/// A `boot`, when given, is named like a `msg_id`.
fn check_boot(boot: Option<&str>) -> Result<(), Rejection> {
    match boot {
        Some(boot) => check_text("boot", boot, 1, MAX_BOOT_CHARS),
        None => Ok(()),
    }
}

/// Plausibility checks for an uplink message, for messages built in code (firmware-sim)
/// as well as decoded ones.
pub fn check_uplink(message: &UplinkMessage) -> Result<(), Rejection> {
    match message {
        UplinkMessage::Telemetry(t) => check_telemetry(t),
        UplinkMessage::Event(e) => check_event(e),
        UplinkMessage::Status(s) => check_status(s),
    }
}

fn check_telemetry(t: &Telemetry) -> Result<(), Rejection> {
    check_text("msg_id", &t.msg_id, 1, MAX_MSG_ID_CHARS)?;
    check_boot(t.boot.as_deref())?;
    if t.readings.len() > MAX_READINGS {
        return Err(Rejection::absurd(
            "readings",
            format!(
                "{} readings, at most {MAX_READINGS} allowed",
                t.readings.len()
            ),
        ));
    }
    for (i, reading) in t.readings.iter().enumerate() {
        check_text(
            &format!("readings[{i}].probe"),
            &reading.probe,
            1,
            MAX_PROBE_CHARS,
        )?;
        if !reading.celsius.is_finite() || !CELSIUS_RANGE.contains(&reading.celsius) {
            return Err(Rejection::absurd(
                format!("readings[{i}].celsius"),
                format!(
                    "{} °C is outside {}..={} °C (a disconnected or broken probe?)",
                    reading.celsius,
                    CELSIUS_RANGE.start(),
                    CELSIUS_RANGE.end()
                ),
            ));
        }
        if t.readings[..i].iter().any(|r| r.probe == reading.probe) {
            return Err(Rejection::absurd(
                format!("readings[{i}].probe"),
                format!("probe {:?} appears twice", reading.probe),
            ));
        }
    }
    if let Some(battery) = t.battery_percent
        && battery > 100
    {
        return Err(Rejection::absurd(
            "battery_percent",
            format!("{battery} is more than 100"),
        ));
    }
    Ok(())
}

fn check_event(e: &DeviceEvent) -> Result<(), Rejection> {
    check_text("msg_id", &e.msg_id, 1, MAX_MSG_ID_CHARS)?;
    check_boot(e.boot.as_deref())?;
    match &e.event {
        EventBody::Key { .. } | EventBody::Button { .. } => Ok(()),
        // Raw GS1 scans carry GS (0x1D) separators, so control characters are allowed.
        EventBody::Scan { code, .. } => {
            let len = code.chars().count();
            if len == 0 {
                Err(Rejection::absurd("event.code", "must not be empty"))
            } else if len > MAX_SCAN_CHARS {
                Err(Rejection::absurd(
                    "event.code",
                    format!("{len} characters, at most {MAX_SCAN_CHARS} allowed"),
                ))
            } else {
                Ok(())
            }
        }
        EventBody::CoolingStart { probe, batch } => {
            check_text("event.probe", probe, 1, MAX_PROBE_CHARS)?;
            check_text("event.batch", batch, 1, MAX_BATCH_CHARS)
        }
        EventBody::CoolingStop { batch } => check_text("event.batch", batch, 1, MAX_BATCH_CHARS),
    }
}

fn check_status(s: &Status) -> Result<(), Rejection> {
    if let Some(firmware) = &s.firmware {
        check_text("firmware", firmware, 1, MAX_FIRMWARE_CHARS)?;
    }
    if let Some(ip) = &s.ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(Rejection::absurd(
            "ip",
            format!("{ip:?} is not an IP address"),
        ));
    }
    if let Some(rssi) = s.rssi
        && !RSSI_RANGE.contains(&rssi)
    {
        return Err(Rejection::absurd(
            "rssi",
            format!(
                "{rssi} dBm is outside {}..={} dBm",
                RSSI_RANGE.start(),
                RSSI_RANGE.end()
            ),
        ));
    }
    Ok(())
}

/// Plausibility checks for a command, run on decode and available to the hub before it
/// publishes.
pub fn check_command(command: &Command) -> Result<(), Rejection> {
    match command {
        Command::Led { .. } => Ok(()),
        Command::Ack { msg_id } => check_text("msg_id", msg_id, 1, MAX_MSG_ID_CHARS),
        Command::Config {
            interval_seconds,
            report_delta_celsius,
            ..
        } => {
            if let Some(0) = interval_seconds {
                return Err(Rejection::absurd("interval_seconds", "must be at least 1"));
            }
            if let Some(delta) = report_delta_celsius
                && !(delta.is_finite() && *delta > 0.0 && *delta <= 50.0)
            {
                return Err(Rejection::absurd(
                    "report_delta_celsius",
                    format!("{delta} is outside (0, 50]"),
                ));
            }
            Ok(())
        }
        Command::Display { text } => check_text("text", text, 0, DISPLAY_TEXT_MAX_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{Key, Reading};

    const TELEMETRY: &str = "almahira/v1/demo/fridge-1/telemetry";

    fn reason(topic: &str, payload: &str) -> &'static str {
        decode_uplink(topic, payload.as_bytes())
            .unwrap_err()
            .reason()
    }

    #[test]
    fn a_minimal_telemetry_message_decodes_with_its_device() {
        let up = decode_uplink(
            TELEMETRY,
            br#"{"msg_id":"m-1","seq":1,"readings":[{"probe":"main","celsius":3.4}]}"#,
        )
        .unwrap();
        assert_eq!(up.venue, "demo");
        assert_eq!(up.device, "fridge-1");
        assert_eq!(up.message.msg_id(), Some("m-1"));
        assert_eq!(up.message.seq(), Some(1));
        assert_eq!(up.topic().to_string(), TELEMETRY);
        let UplinkMessage::Telemetry(t) = up.message else {
            panic!("telemetry expected")
        };
        assert_eq!(
            t.readings,
            [Reading {
                probe: "main".into(),
                celsius: 3.4
            }]
        );
    }

    #[test]
    fn a_bad_topic_is_refused_before_the_payload_is_read() {
        assert_eq!(
            reason("almahira/v1/demo/fridge-1/telemetri", "{"),
            "bad_topic"
        );
    }

    #[test]
    fn a_device_cannot_publish_on_a_downlink_topic() {
        assert_eq!(
            reason(
                "almahira/v1/demo/fridge-1/cmd",
                r#"{"type":"ack","msg_id":"x"}"#
            ),
            "not_uplink"
        );
    }

    #[test]
    fn a_payload_over_8_kib_is_too_large() {
        let big = format!(r#"{{"msg_id":"{}","seq":1}}"#, "a".repeat(9000));
        assert_eq!(reason(TELEMETRY, &big), "too_large");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let err = decode_uplink(TELEMETRY, b"{\"msg_id\":\"\xff\"}").unwrap_err();
        assert_eq!(err.reason(), "not_utf8");
    }

    #[test]
    fn broken_json_and_empty_payloads_are_not_json() {
        assert_eq!(reason(TELEMETRY, r#"{"msg_id":"m-1","#), "not_json");
        assert_eq!(reason(TELEMETRY, ""), "not_json");
        assert_eq!(
            reason(TELEMETRY, r#"{"msg_id":"m","seq":1} {}"#),
            "not_json"
        );
    }

    #[test]
    fn a_typo_is_a_bad_shape_naming_the_field_path() {
        let err = decode_uplink(
            TELEMETRY,
            br#"{"msg_id":"m-1","seq":1,"readings":[{"probe":"main","celcius":3.4}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "bad_shape");
        let Rejection::BadShape { path, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, "readings[0].celcius");
        assert!(message.contains("celcius"), "{message}");
    }

    #[test]
    fn a_boot_is_optional_kept_and_named_like_a_msg_id() {
        let with = decode_uplink(
            TELEMETRY,
            br#"{"msg_id":"m-1","seq":1,"boot":"b7f3","readings":[]}"#,
        )
        .unwrap();
        assert_eq!(with.message.boot(), Some("b7f3"));
        let back: serde_json::Value =
            serde_json::from_slice(&encode_uplink(&with.message)).unwrap();
        assert_eq!(back["boot"], "b7f3");
        let without = decode_uplink(TELEMETRY, br#"{"msg_id":"m-1","seq":1}"#).unwrap();
        assert_eq!(without.message.boot(), None);
        assert_eq!(
            reason(TELEMETRY, r#"{"msg_id":"m","seq":1,"boot":""}"#),
            "absurd_value"
        );
        let long = format!(r#"{{"msg_id":"m","seq":1,"boot":"{}"}}"#, "b".repeat(65));
        assert_eq!(reason(TELEMETRY, &long), "absurd_value");
        let event = br#"{"msg_id":"k","seq":1,"boot":"b","event":{"type":"key","key":"bump"}}"#;
        assert_eq!(
            decode_uplink("almahira/v1/demo/bump-1/event", event)
                .unwrap()
                .message
                .boot(),
            Some("b")
        );
    }

    #[test]
    fn a_wrong_type_is_a_bad_shape_at_that_field() {
        let err =
            decode_uplink(TELEMETRY, br#"{"msg_id":"m-1","seq":"one","readings":[]}"#).unwrap_err();
        let Rejection::BadShape { path, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(path, "seq");
    }

    #[test]
    fn a_reading_outside_minus_60_to_300_is_absurd() {
        for celsius in ["-60.1", "300.5", "850"] {
            let payload = format!(
                r#"{{"msg_id":"m","seq":1,"readings":[{{"probe":"main","celsius":{celsius}}}]}}"#
            );
            assert_eq!(reason(TELEMETRY, &payload), "absurd_value", "{celsius}");
        }
        let edge = r#"{"msg_id":"m","seq":1,"readings":[{"probe":"a","celsius":-60},{"probe":"b","celsius":300}]}"#;
        assert!(decode_uplink(TELEMETRY, edge.as_bytes()).is_ok());
    }

    #[test]
    fn non_finite_readings_built_in_code_are_absurd() {
        let t = Telemetry {
            msg_id: "m".into(),
            seq: 1,
            boot: None,
            ts: None,
            readings: vec![Reading {
                probe: "main".into(),
                celsius: f64::NAN,
            }],
            door: None,
            battery_percent: None,
        };
        let err = check_uplink(&UplinkMessage::Telemetry(t)).unwrap_err();
        assert_eq!(err.reason(), "absurd_value");
    }

    #[test]
    fn more_than_16_readings_are_absurd() {
        let readings: Vec<String> = (0..17)
            .map(|i| format!(r#"{{"probe":"p{i}","celsius":4}}"#))
            .collect();
        let payload = format!(
            r#"{{"msg_id":"m","seq":1,"readings":[{}]}}"#,
            readings.join(",")
        );
        assert_eq!(reason(TELEMETRY, &payload), "absurd_value");
    }

    #[test]
    fn an_empty_or_overlong_msg_id_is_absurd() {
        assert_eq!(
            reason(TELEMETRY, r#"{"msg_id":"","seq":1,"readings":[]}"#),
            "absurd_value"
        );
        let long = format!(r#"{{"msg_id":"{}","seq":1}}"#, "x".repeat(65));
        assert_eq!(reason(TELEMETRY, &long), "absurd_value");
    }

    #[test]
    fn the_same_probe_twice_in_one_message_is_absurd() {
        let payload = r#"{"msg_id":"m","seq":1,"readings":[{"probe":"main","celsius":3},{"probe":"main","celsius":4}]}"#;
        assert_eq!(reason(TELEMETRY, payload), "absurd_value");
    }

    #[test]
    fn a_battery_above_100_percent_is_absurd() {
        let payload = r#"{"msg_id":"m","seq":1,"battery_percent":101}"#;
        assert_eq!(reason(TELEMETRY, payload), "absurd_value");
    }

    #[test]
    fn a_bump_bar_key_event_decodes() {
        let up = decode_uplink(
            "almahira/v1/demo/bump-1/event",
            br#"{"msg_id":"k-9","seq":9,"event":{"type":"key","key":"bump"}}"#,
        )
        .unwrap();
        let UplinkMessage::Event(e) = up.message else {
            panic!()
        };
        assert_eq!(e.event, EventBody::Key { key: Key::Bump });
    }

    #[test]
    fn an_unknown_key_is_a_bad_shape() {
        assert_eq!(
            reason(
                "almahira/v1/demo/bump-1/event",
                r#"{"msg_id":"k","seq":1,"event":{"type":"key","key":"explode"}}"#
            ),
            "bad_shape"
        );
    }

    #[test]
    fn a_timestamp_that_is_not_rfc3339_is_a_bad_shape() {
        assert_eq!(
            reason(
                TELEMETRY,
                r#"{"msg_id":"m","seq":1,"ts":"yesterday","readings":[]}"#
            ),
            "bad_shape"
        );
    }

    #[test]
    fn a_status_with_a_nonsense_ip_or_rssi_is_absurd() {
        let status = "almahira/v1/demo/fridge-1/status";
        assert_eq!(
            reason(status, r#"{"state":"online","ip":"10.0.0.300"}"#),
            "absurd_value"
        );
        assert_eq!(
            reason(status, r#"{"state":"online","rssi":30}"#),
            "absurd_value"
        );
        assert!(decode_uplink(status, br#"{"state":"online","ip":"fe80::1","rssi":-61}"#).is_ok());
    }

    #[test]
    fn display_text_longer_than_32_characters_is_refused() {
        let ok = Command::Display {
            text: "Meja 12 · 3 item".into(),
        };
        assert!(check_command(&ok).is_ok());
        let long = Command::Display {
            text: "x".repeat(33),
        };
        assert_eq!(check_command(&long).unwrap_err().reason(), "absurd_value");
    }

    #[test]
    fn a_device_decodes_its_commands_and_refuses_uplink_topics() {
        let cmd = Command::Led {
            color: crate::payload::LedColor::Green,
            pattern: crate::payload::LedPattern::Blink,
            seconds: Some(3),
        };
        let down = decode_downlink("almahira/v1/demo/bump-1/cmd", &encode_downlink(&cmd)).unwrap();
        assert_eq!(down.message, DownlinkMessage::Command(cmd));
        assert_eq!(
            decode_downlink(TELEMETRY, b"{}").unwrap_err().reason(),
            "not_downlink"
        );
    }

    #[test]
    fn the_error_reply_names_the_reason_and_the_refused_msg_id() {
        let payload = br#"{"msg_id":"m-7","seq":7,"readings":[{"probe":"main","celsius":999}]}"#;
        let rejection = decode_uplink(TELEMETRY, payload).unwrap_err();
        let reply = error_reply(&rejection, payload);
        assert_eq!(reply.code, "absurd_value");
        assert_eq!(reply.msg_id.as_deref(), Some("m-7"));
        assert!(
            reply.message.contains("readings[0].celsius"),
            "{}",
            reply.message
        );
        let json: serde_json::Value = serde_json::from_slice(&encode_error(&reply)).unwrap();
        assert_eq!(json["code"], "absurd_value");
    }

    #[test]
    fn every_reason_is_listed_once() {
        let mut reasons = Rejection::REASONS.to_vec();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), Rejection::REASONS.len());
    }
}
