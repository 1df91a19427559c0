//! Owns what people do on devices, end to end over MQTT: a bump bar's keys moving a cursor
//! over its station's tickets and bumping the one it points at, a call button reaching
//! the floor and lighting up when the waiter answers, scanners recording GS1 deliveries
//! and picking tickets up at the pass, a cooling batch logged and alerting when too slow,
//! the documented `mosquitto_pub` example, and firmware-sim's fleet against the hub.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    database::TestDatabase,
    helpers::{Api, Demo, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id, dine_in},
    mqtt::{Device, Heard, alerts_until, provision},
    screen::Screen,
};

on_both_backends!(a_bump_bar_moves_its_cursor_and_bumps_the_ticket_it_points_at);

/// A device event with the next seq.
async fn press(device: &mut Device, seq: u64, event: Value) -> String {
    let msg_id = format!("e-{seq}");
    let payload = json!({"msg_id": msg_id, "seq": seq, "event": event});
    device
        .publish_raw(&format!("{}/event", device.prefix), payload.to_string())
        .await;
    msg_id
}

/// Downlinks until one matches, within 10 s.
async fn heard(device: &mut Device, what: &str, matches: impl Fn(&str, &Value) -> bool) -> Value {
    let mut seen = Vec::new();
    loop {
        match device.next(Duration::from_secs(10)).await {
            Some(Heard::Message { topic, payload }) => {
                if matches(&topic, &payload) {
                    return payload;
                }
                seen.push((topic, payload));
            }
            other => panic!("no {what}: got {other:?} after {seen:#?}"),
        }
    }
}

fn is_cmd(kind: &'static str) -> impl Fn(&str, &Value) -> bool {
    move |topic, payload| topic.ends_with("/cmd") && payload["type"] == kind
}

fn is_led(color: &'static str) -> impl Fn(&str, &Value) -> bool {
    move |topic, payload| {
        topic.ends_with("/cmd") && payload["type"] == "led" && payload["color"] == color
    }
}

/// An item made by exactly one station, that station's id and key.
async fn one_station_item(api: &Api, demo: &Demo) -> (String, String, String) {
    let item = demo
        .simple_items
        .iter()
        .find(|i| i.2.len() == 1)
        .expect("an item made by one station");
    let stations = api.get("/api/v1/stations").await.expect(StatusCode::OK);
    let station = stations
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(item.2[0]))
        .unwrap();
    (
        item.0.clone(),
        station["id"].as_str().unwrap().to_owned(),
        station["key"].as_str().unwrap().to_owned(),
    )
}

async fn line_statuses(api: &Api, order_id: &str) -> Vec<String> {
    let order = api
        .get(&format!("/api/v1/orders/{order_id}"))
        .await
        .expect(StatusCode::OK);
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_bump_bar_moves_its_cursor_and_bumps_the_ticket_it_points_at(db: TestDatabase) {
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let demo = Demo::read(&waiter).await;
    let (item, station_id, station_key) = one_station_item(&waiter, &demo).await;
    let bar = provision(
        &manager,
        json!({"command_id": command_id(), "key": "bump-1", "name": "Bump bar", "kind": "bump_bar", "station_id": station_id}),
    )
    .await;
    let first = waiter
        .post("/api/v1/orders", dine_in(demo.table(0), &[&item]))
        .await
        .expect(StatusCode::CREATED);
    let second = waiter
        .post("/api/v1/orders", dine_in(demo.table(1), &[&item]))
        .await
        .expect(StatusCode::CREATED);
    let mut screen = Screen::connect(&hub, &kitchen).await;
    screen.subscribe(&format!("kds:{station_key}"), None).await;
    let mut device = Device::connect(broker, &bar, "bump-1", true).await.unwrap();
    device.listen().await;

    // next, next: the cursor is on the second ticket, on the bar's display and the screen.
    press(&mut device, 1, json!({"type": "key", "key": "next"})).await;
    let shown = heard(&mut device, "first display", is_cmd("display")).await;
    assert_eq!(
        shown["text"],
        format!("{} (1/2)", first["ticket_code"].as_str().unwrap())
    );
    press(&mut device, 2, json!({"type": "key", "key": "next"})).await;
    let shown = heard(&mut device, "second display", is_cmd("display")).await;
    assert_eq!(
        shown["text"],
        format!("{} (2/2)", second["ticket_code"].as_str().unwrap())
    );
    let (_, cursor) = screen
        .until(|f| f["kind"] == "bump_bar_cursor" && f["data"]["position"] == 2)
        .await;
    assert_eq!(cursor["ephemeral"], true);
    assert_eq!(cursor["data"]["order_id"], second["id"]);
    assert_eq!(cursor["data"]["device"], "bump-1");

    // bump: the second ticket, not the first, is done; the bar blinks green.
    press(&mut device, 3, json!({"type": "key", "key": "bump"})).await;
    heard(&mut device, "green LED", is_led("green")).await;
    let second_id = second["id"].as_str().unwrap();
    let first_id = first["id"].as_str().unwrap();
    assert!(
        line_statuses(&waiter, second_id)
            .await
            .iter()
            .all(|s| s == "ready")
    );
    assert!(
        line_statuses(&waiter, first_id)
            .await
            .iter()
            .all(|s| s != "ready")
    );
    let journal = manager
        .get("/api/v1/events?kind=lines_ready,ticket_bumped")
        .await
        .expect(StatusCode::OK);
    assert!(
        journal["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["device"] == "bump-1"),
        "the bump is journaled as the bump bar's: {journal:#}"
    );

    // recall brings it back; a refused key answers red with the engine's code.
    press(&mut device, 4, json!({"type": "key", "key": "recall"})).await;
    heard(&mut device, "green LED after recall", is_led("green")).await;
    press(&mut device, 5, json!({"type": "key", "key": "serve"})).await;
    heard(&mut device, "red LED", is_led("red")).await;
    let error = heard(&mut device, "error reply", |t, _| t.ends_with("/error")).await;
    assert_eq!(error["msg_id"], "e-5");
    assert!(
        error["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{error}"
    );
    device.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_bump_bar_on_an_empty_station_says_so_on_its_display_without_an_error() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let stations = manager.get("/api/v1/stations").await.expect(StatusCode::OK);
    let station_id = stations[0]["id"].as_str().unwrap().to_owned();
    let bar = provision(
        &manager,
        json!({"command_id": command_id(), "key": "bump-1", "name": "Bump bar", "kind": "bump_bar", "station_id": station_id}),
    )
    .await;
    let mut device = Device::connect(broker, &bar, "bump-1", true).await.unwrap();
    device.listen().await;
    // A cook leaning on the keys of an idle station: every key shows "No tickets" with an
    // amber blink, and none is an error to count, log and answer.
    for (seq, key) in [
        (1, "bump"),
        (2, "start"),
        (3, "serve"),
        (4, "next"),
        (5, "bump"),
    ] {
        press(&mut device, seq, json!({"type": "key", "key": key})).await;
        let mut heard_now = Vec::new();
        while heard_now.len() < 2 {
            match device.next(Duration::from_secs(5)).await {
                Some(Heard::Message { topic, payload }) => {
                    assert!(
                        !topic.ends_with("/error"),
                        "{key} on an empty station is answered as an error: {payload}"
                    );
                    heard_now.push(payload);
                }
                other => panic!("{key}: no feedback: {other:?} after {heard_now:?}"),
            }
        }
        assert!(
            heard_now
                .iter()
                .any(|p| p["type"] == "display" && p["text"] == "No tickets"),
            "{key}: {heard_now:?}"
        );
        assert!(
            heard_now
                .iter()
                .any(|p| p["type"] == "led" && p["color"] == "amber"),
            "{key}: {heard_now:?}"
        );
    }
    assert!(device.next(Duration::from_millis(300)).await.is_none());
    device.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_call_button_reaches_the_floor_and_lights_up_when_the_waiter_answers() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let (label, table_id) = demo.tables[6].clone();
    let button = provision(
        &manager,
        json!({"command_id": command_id(), "key": "call-7", "name": "Call button", "kind": "call_button", "table_id": table_id}),
    )
    .await;
    let mut floor = Screen::connect(&hub, &waiter).await;
    floor.subscribe("floor", None).await;
    let mut device = Device::connect(broker, &button, "call-7", true)
        .await
        .unwrap();
    device.listen().await;

    let msg_id = press(
        &mut device,
        1,
        json!({"type": "button", "press": "service"}),
    )
    .await;
    let requested = floor.event("floor", "service_requested").await;
    assert!(
        requested.to_string().contains(&label),
        "the floor shows the table: {requested:#}"
    );
    let ack = heard(&mut device, "ack", is_cmd("ack")).await;
    assert_eq!(ack["msg_id"], msg_id);
    heard(&mut device, "amber while waiting", is_led("amber")).await;

    waiter
        .post(
            &format!("/api/v1/tables/{table_id}/service-request/acknowledge"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    floor.event("floor", "service_acknowledged").await;
    heard(&mut device, "green when answered", is_led("green")).await;

    // A probe pressing a call-button key is the wrong kind of device.
    let probe = provision(&manager, crate::mqtt::fridge("fridge-9", 15, 60)).await;
    let mut wrong = Device::connect(broker, &probe, "fridge-9", false)
        .await
        .unwrap();
    wrong.listen().await;
    press(&mut wrong, 1, json!({"type": "button", "press": "service"})).await;
    let error = heard(&mut wrong, "wrong kind", |t, _| t.ends_with("/error")).await;
    assert_eq!(error["code"], "wrong_device_kind");
    device.disconnect().await;
    wrong.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn scanners_record_gs1_deliveries_and_pick_tickets_up_at_the_pass() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let dock = provision(
        &manager,
        json!({"command_id": command_id(), "key": "scanner-dock", "name": "Dock", "kind": "scanner", "purpose": "receiving"}),
    )
    .await;
    let pass = provision(
        &manager,
        json!({"command_id": command_id(), "key": "scanner-pass", "name": "Pass", "kind": "scanner", "purpose": "pass"}),
    )
    .await;
    let mut receiving = Device::connect(broker, &dock, "scanner-dock", false)
        .await
        .unwrap();
    receiving.listen().await;
    press(
        &mut receiving,
        1,
        json!({"type": "scan", "code": "(01)09501101020917(17)250630(10)LOT-42(3103)001250", "symbology": "gs1_128"}),
    )
    .await;
    heard(&mut receiving, "ack", is_cmd("ack")).await;
    let scans = kitchen.get("/api/v1/scans").await.expect(StatusCode::OK);
    let scan = &scans.as_array().unwrap()[0];
    assert_eq!(scan["code"]["gtin"], "09501101020917");
    assert_eq!(scan["code"]["lot"], "LOT-42");
    assert_eq!(scan["code"]["expiry"], "2025-06-30");
    assert_eq!(scan["code"]["net_weight_grams"], 1250);
    assert_eq!(scan["purpose"], "receiving");

    // A wrong check digit is refused on the scanner, not recorded.
    press(
        &mut receiving,
        2,
        json!({"type": "scan", "code": "09501101020918"}),
    )
    .await;
    let error = heard(&mut receiving, "bad scan", |t, _| t.ends_with("/error")).await;
    assert_eq!(error["code"], "bad_scan");
    let scans = kitchen.get("/api/v1/scans").await.expect(StatusCode::OK);
    assert_eq!(scans.as_array().unwrap().len(), 1);

    // At the pass: a bumped ticket's printed code marks it picked up.
    let demo = Demo::read(&waiter).await;
    let (item, _, station_key) = one_station_item(&waiter, &demo).await;
    let order = waiter
        .post("/api/v1/orders", dine_in(demo.table(2), &[&item]))
        .await
        .expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap();
    kitchen
        .post(
            &format!("/api/v1/orders/{order_id}/stations/{station_key}/bump"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    let mut at_pass = Device::connect(broker, &pass, "scanner-pass", false)
        .await
        .unwrap();
    at_pass.listen().await;
    press(
        &mut at_pass,
        1,
        json!({"type": "scan", "code": order["ticket_code"], "symbology": "code128"}),
    )
    .await;
    heard(&mut at_pass, "ack", is_cmd("ack")).await;
    assert!(
        line_statuses(&waiter, order_id)
            .await
            .iter()
            .all(|s| s == "served")
    );
    press(&mut at_pass, 2, json!({"type": "scan", "code": "T99999"})).await;
    let error = heard(&mut at_pass, "unknown ticket", |t, _| t.ends_with("/error")).await;
    assert_eq!(error["code"], "ticket_not_found");
    receiving.disconnect().await;
    at_pass.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_cooling_batch_is_logged_and_a_slow_one_warns_then_fails() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let chiller = provision(
        &manager,
        json!({"command_id": command_id(), "key": "blast-1", "name": "Blast chiller", "kind": "probe",
               "limits": {"unit": "Blast chiller", "profile": "blast_chiller", "alert_delay_minutes": 15, "report_interval_seconds": 60}}),
    )
    .await;
    let mut probe = Device::connect(broker, &chiller, "blast-1", false)
        .await
        .unwrap();
    probe.listen().await;
    let t0 = Utc::now() - chrono::Duration::hours(4);
    let at = |minutes: i64| (t0 + chrono::Duration::minutes(minutes)).to_rfc3339();
    let start = json!({"msg_id": "c-1", "seq": 1, "ts": at(0), "event": {"type": "cooling_start", "probe": "core", "batch": "rendang-1"}});
    probe
        .publish_raw(&format!("{}/event", probe.prefix), start.to_string())
        .await;
    heard(&mut probe, "ack", is_cmd("ack")).await;
    // Far too slow: under 5 °C per 20 minutes will not reach 21 °C within 2 hours.
    let mut seq = 1;
    for (minute, celsius) in [(1, 70.0), (10, 56.0), (30, 51.5), (50, 47.0), (135, 35.0)] {
        seq += 1;
        let reading = json!({"msg_id": format!("r-{seq}"), "seq": seq, "ts": at(minute),
                             "readings": [{"probe": "core", "celsius": celsius}]});
        probe
            .publish_raw(&format!("{}/telemetry", probe.prefix), reading.to_string())
            .await;
    }
    let alerts = alerts_until(
        &manager,
        &chiller.device_id,
        "cooling warning and failure",
        |a| a.iter().any(|x| x["kind"] == "cooling_failed"),
    )
    .await;
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"cooling_warning"), "{alerts:#?}");
    let log = kitchen
        .get("/api/v1/food-safety/cooling")
        .await
        .expect(StatusCode::OK);
    let batch = &log.as_array().unwrap()[0];
    assert_eq!(batch["label"], "rendang-1");
    assert_eq!(batch["probe"], "core");
    assert_eq!(batch["outcome"], "failed", "{batch:#}");
    assert!(!batch["warnings"].as_array().unwrap().is_empty());

    // Stopping a batch that already failed is refused as the docs say: it is finished.
    let stop = json!({"msg_id": "c-2", "seq": seq + 1, "ts": at(140), "event": {"type": "cooling_stop", "batch": "rendang-1"}});
    probe
        .publish_raw(&format!("{}/event", probe.prefix), stop.to_string())
        .await;
    let error = heard(&mut probe, "cooling_stop refused", |t, _| {
        t.ends_with("/error")
    })
    .await;
    assert_eq!(error["code"], "cooling_batch_finished", "{error}");
    assert_eq!(error["msg_id"], "c-2");
    // A batch never started is not found.
    let stop = json!({"msg_id": "c-3", "seq": seq + 2, "event": {"type": "cooling_stop", "batch": "no-such-batch"}});
    probe
        .publish_raw(&format!("{}/event", probe.prefix), stop.to_string())
        .await;
    let error = heard(&mut probe, "unknown batch", |t, _| t.ends_with("/error")).await;
    assert_eq!(error["code"], "cooling_batch_not_found", "{error}");

    // The day's food-safety report carries the cooling log, in JSON and in the CSV file.
    let day = (t0 + chrono::Duration::hours(7)).date_naive(); // the demo venue is in WIB
    let report = manager
        .get(&format!("/api/v1/food-safety/report?date={day}"))
        .await
        .expect(StatusCode::OK);
    let logged = &report["cooling"][0];
    assert_eq!(logged["label"], "rendang-1", "{report:#}");
    assert_eq!(logged["outcome"], "failed");
    assert_eq!(logged["warnings"], 1);
    let csv = manager
        .http
        .get(format!(
            "{}/api/v1/food-safety/report?date={day}&format=csv",
            manager.base
        ))
        .bearer_auth(manager.token.as_deref().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let section = csv
        .split("\r\n\r\n")
        .find(|s| s.starts_with("cooling_batch_id,"))
        .expect("a cooling section");
    let row = section.lines().nth(1).expect("one batch");
    assert!(
        row.contains(",rendang-1,") && row.contains(",failed,"),
        "{section}"
    );
    probe.disconnect().await;
    hub.stop().await;
}

/// The first ```sh block after the line `intro` in docs/devices.md.
fn documented_example(intro: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/devices.md"))
        .expect("docs/devices.md is readable");
    let after = &doc[doc.find(intro).expect("the example is in docs/devices.md")..];
    let start = after.find("```sh\n").expect("a sh block follows") + "```sh\n".len();
    let end = after[start..].find("```").expect("the block ends");
    after[start..start + end].to_owned()
}

#[tokio::test]
async fn the_documented_mosquitto_pub_example_works_against_the_hub() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, crate::mqtt::fridge("fridge-1", 15, 60)).await;
    // The docs/devices.md example as written, with the port and secret filled in.
    let example = documented_example("A fridge probe reading:");
    assert!(example.contains("-p 1883"), "{example}");
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(example.replace("-p 1883", &format!("-p {}", broker.port())))
        .env("SECRET", &credentials.password)
        .status()
        .await
        .expect("sh runs (.ci/test installs mosquitto-clients for mosquitto_pub)");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let history = manager
            .get(&format!(
                "/api/v1/devices/{}/readings",
                credentials.device_id
            ))
            .await
            .expect(StatusCode::OK);
        if let Some(point) = history["points"].as_array().and_then(|p| p.first()) {
            assert_eq!(point["celsius"], 3.4, "{history:#}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reading never arrived: {history:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    hub.stop().await;
}
