//! Golden fixtures: the JSON in `tests/fixtures` is the contract firmware writers copy.
//! Each good fixture decodes with its topic and re-encodes to the same JSON value; each
//! `bad_*` fixture is refused with the expected reason. A fixture file that no table names
//! fails the suite, so the tables and the folder cannot drift apart.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use devices::codec::{DownlinkMessage, UplinkMessage};
use devices::gs1::{ScanKind, decode_scan};
use devices::{
    Command, DeviceState, EventBody, Key, Press, decode_downlink, decode_uplink, encode_downlink,
    encode_error, encode_uplink, error_reply,
};
use serde_json::Value;

const UPLINK: &[(&str, &str)] = &[
    ("telemetry_probe", "almahira/v1/demo/fridge-1/telemetry"),
    ("event_key_bump", "almahira/v1/demo/bump-grill/event"),
    (
        "event_scan_receiving",
        "almahira/v1/demo/scanner-dock/event",
    ),
    ("event_button_service", "almahira/v1/demo/call-t12/event"),
    ("event_cooling_start", "almahira/v1/demo/blast-1/event"),
    ("status_online", "almahira/v1/demo/fridge-1/status"),
    ("status_offline_will", "almahira/v1/demo/fridge-1/status"),
];

const DOWNLINK: &[(&str, &str)] = &[
    ("cmd_led", "almahira/v1/demo/bump-grill/cmd"),
    ("cmd_ack", "almahira/v1/demo/call-t12/cmd"),
    ("cmd_display", "almahira/v1/demo/bump-grill/cmd"),
    ("cmd_config", "almahira/v1/demo/fridge-1/cmd"),
    ("error_reply", "almahira/v1/demo/fridge-1/error"),
];

/// (fixture, topic, expected reason)
const BAD: &[(&str, &str, &str)] = &[
    (
        "bad_typo_celcius",
        "almahira/v1/demo/fridge-1/telemetry",
        "bad_shape",
    ),
    (
        "bad_reading_out_of_range",
        "almahira/v1/demo/fridge-1/telemetry",
        "absurd_value",
    ),
    (
        "bad_too_many_readings",
        "almahira/v1/demo/fridge-1/telemetry",
        "absurd_value",
    ),
    (
        "bad_empty_msg_id",
        "almahira/v1/demo/fridge-1/telemetry",
        "absurd_value",
    ),
    (
        "bad_unknown_key",
        "almahira/v1/demo/bump-grill/event",
        "bad_shape",
    ),
    (
        "bad_missing_event_type",
        "almahira/v1/demo/bump-grill/event",
        "bad_shape",
    ),
    (
        "bad_ts_not_rfc3339",
        "almahira/v1/demo/fridge-1/telemetry",
        "bad_shape",
    ),
    (
        "bad_status_state",
        "almahira/v1/demo/fridge-1/status",
        "bad_shape",
    ),
    (
        "bad_not_json",
        "almahira/v1/demo/fridge-1/telemetry",
        "not_json",
    ),
    (
        "bad_display_too_long",
        "almahira/v1/demo/bump-grill/cmd",
        "absurd_value",
    ),
];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(raw: &[u8]) -> Value {
    serde_json::from_slice(raw).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

#[test]
fn every_uplink_fixture_decodes_and_re_encodes_to_the_same_json() {
    for (name, topic) in UPLINK {
        let raw = bytes(name);
        let up = decode_uplink(topic, &raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(up.topic().to_string(), *topic, "{name}");
        assert_eq!(json(&encode_uplink(&up.message)), json(&raw), "{name}");
    }
}

#[test]
fn every_downlink_fixture_decodes_and_re_encodes_to_the_same_json() {
    for (name, topic) in DOWNLINK {
        let raw = bytes(name);
        let down = decode_downlink(topic, &raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let encoded = match &down.message {
            DownlinkMessage::Command(cmd) => encode_downlink(cmd),
            DownlinkMessage::Error(reply) => encode_error(reply),
        };
        assert_eq!(json(&encoded), json(&raw), "{name}");
    }
}

#[test]
fn every_bad_fixture_is_refused_with_its_reason() {
    for (name, topic, reason) in BAD {
        let raw = bytes(name);
        let got = if topic.ends_with("/cmd") || topic.ends_with("/error") {
            decode_downlink(topic, &raw).map(|_| ())
        } else {
            decode_uplink(topic, &raw).map(|_| ())
        };
        let err = got.err().unwrap_or_else(|| panic!("{name} was accepted"));
        assert_eq!(err.reason(), *reason, "{name}: {err}");
    }
}

#[test]
fn the_error_reply_fixture_is_what_the_hub_answers_to_the_out_of_range_reading() {
    let raw = bytes("bad_reading_out_of_range");
    let rejection = decode_uplink("almahira/v1/demo/fridge-1/telemetry", &raw).unwrap_err();
    let reply = error_reply(&rejection, &raw);
    assert_eq!(json(&encode_error(&reply)), json(&bytes("error_reply")));
}

#[test]
fn the_fixtures_mean_what_their_names_say() {
    let event = |name: &str, topic: &str| match decode_uplink(topic, &bytes(name)).unwrap().message
    {
        UplinkMessage::Event(e) => e.event,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        event("event_key_bump", "almahira/v1/demo/bump-grill/event"),
        EventBody::Key { key: Key::Bump }
    );
    assert_eq!(
        event("event_button_service", "almahira/v1/demo/call-t12/event"),
        EventBody::Button {
            press: Press::Service
        }
    );
    let EventBody::Scan { code, symbology } = event(
        "event_scan_receiving",
        "almahira/v1/demo/scanner-dock/event",
    ) else {
        panic!("scan expected")
    };
    let scan = decode_scan(&code, symbology).unwrap();
    assert_eq!(scan.kind, ScanKind::Gs1);
    assert_eq!(scan.gtin.as_deref(), Some("09501101020917"));
    assert_eq!(scan.lot.as_deref(), Some("LOT-42"));
    assert_eq!(scan.net_weight_grams, Some(1250));

    let will = decode_uplink(
        "almahira/v1/demo/fridge-1/status",
        &bytes("status_offline_will"),
    )
    .unwrap();
    let UplinkMessage::Status(status) = will.message else {
        panic!("status expected")
    };
    assert_eq!(status.state, DeviceState::Offline);

    let led = decode_downlink("almahira/v1/demo/bump-grill/cmd", &bytes("cmd_led")).unwrap();
    assert!(matches!(
        led.message,
        DownlinkMessage::Command(Command::Led {
            seconds: Some(10),
            ..
        })
    ));
}

#[test]
fn topic_and_transport_failures_have_their_own_reasons() {
    let telemetry = "almahira/v1/demo/fridge-1/telemetry";
    let ok = bytes("telemetry_probe");
    let reason = |topic: &str, payload: &[u8]| decode_uplink(topic, payload).unwrap_err().reason();
    assert_eq!(
        reason("almahira/v1/demo/Fridge-1/telemetry", &ok),
        "bad_topic"
    );
    assert_eq!(reason("almahira/v1/demo/fridge-1/cmd", &ok), "not_uplink");
    assert_eq!(reason(telemetry, &vec![b' '; 8 * 1024 + 1]), "too_large");
    assert_eq!(reason(telemetry, b"{\"msg_id\":\"\xc3\x28\"}"), "not_utf8");
}

#[test]
fn every_fixture_file_is_covered_by_a_table() {
    let named: BTreeSet<String> = UPLINK
        .iter()
        .chain(DOWNLINK)
        .map(|(name, _)| name.to_string())
        .chain(BAD.iter().map(|(name, _, _)| name.to_string()))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(path("x").parent().unwrap())
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.trim_end_matches(".json").to_owned()
        })
        .collect();
    assert_eq!(named, on_disk);
}

#[test]
fn every_mosquitto_pub_example_in_the_docs_is_accepted() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/devices.md"))
            .unwrap_or_else(|e| panic!("docs/devices.md: {e}"));
    let joined = doc.replace("\\\n", " ");
    let mut checked = 0;
    for line in joined.lines().filter(|l| l.starts_with("mosquitto_pub")) {
        let Some((_, after_m)) = line.split_once(" -m '") else {
            continue;
        };
        let payload = after_m.split('\'').next().unwrap_or_default();
        let topic = line
            .split_whitespace()
            .skip_while(|w| *w != "-t")
            .nth(1)
            .unwrap_or_else(|| panic!("no topic in {line}"));
        let result = if topic.ends_with("/cmd") || topic.ends_with("/error") {
            decode_downlink(topic, payload.as_bytes()).map(|_| ())
        } else {
            decode_uplink(topic, payload.as_bytes()).map(|_| ())
        };
        assert!(result.is_ok(), "{line}: {result:?}");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} examples found");
}
