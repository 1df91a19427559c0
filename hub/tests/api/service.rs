//! Owns what device messages do once the bridge has turned them into commands, seen by the
//! people who use the hub: a call button's request on the floor and the waiter's screen and
//! its acknowledgement (REST and WebSocket) in the journal, a pass scanner picking an order
//! up by its printed ticket code, and stock scans listed for the kitchen. Device commands
//! are executed on the real engine with a device actor, exactly as the bridge does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use hub::{
    domain::{
        Actor, Command, DeviceId, ScanId, ScannedCode, ServiceReason, TableId, order::ticket_code,
    },
    engine::{EngineError, Envelope, Outcome},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    database::TestDatabase,
    helpers::{
        Api, Demo, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id, dine_in, takeaway,
    },
    screen::Screen,
};

on_both_backends!(
    a_call_button_request_reaches_the_floor_and_the_waiter_and_is_acknowledged,
    a_pass_scanner_picks_an_order_up_by_its_ticket_code,
    stock_scans_are_listed_newest_first_by_purpose,
);

/// Runs a command as the device bridge does: as the device, with a fresh command id.
pub async fn as_device(hub: &TestHub, key: &str, command: Command) -> Result<Outcome, EngineError> {
    hub.state
        .engine
        .venue_by_slug("demo")
        .unwrap()
        .execute(Envelope {
            command_id: Uuid::new_v4(),
            actor: Actor::device(key),
            command,
        })
        .await
}

/// Provisions a device through the API and returns its id.
pub async fn provision(manager: &Api, spec: Value) -> DeviceId {
    let mut body = spec;
    body["command_id"] = json!(command_id());
    let created = manager
        .post("/api/v1/devices", body)
        .await
        .expect(StatusCode::CREATED);
    DeviceId(created["device"]["id"].as_str().unwrap().parse().unwrap())
}

fn rejection(result: Result<Outcome, EngineError>) -> &'static str {
    match result {
        Err(EngineError::Rejected(rejection)) => rejection.code.as_str(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

async fn a_call_button_request_reaches_the_floor_and_the_waiter_and_is_acknowledged(
    db: TestDatabase,
) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let demo = Demo::read(&waiter).await;
    let table = demo.table(0).to_owned();
    let label = demo.tables[0].0.clone();
    let waiter_id = waiter.get("/api/v1/me").await.expect(StatusCode::OK)["staff"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let button = provision(
        &manager,
        json!({"key": "button-1", "name": "Call button", "kind": "call_button", "table_id": table}),
    )
    .await;
    waiter
        .post(
            &format!("/api/v1/tables/{table}/seat"),
            json!({"command_id": command_id(), "guests": 2, "server_id": waiter_id}),
        )
        .await
        .expect(StatusCode::OK);

    let mut screen = Screen::connect(&hub, &waiter).await;
    screen.subscribe("floor", None).await;
    screen.subscribe("me", None).await;

    let press = || Command::RequestService {
        table_id: TableId(table.parse().unwrap()),
        device_id: Some(button),
        reason: ServiceReason::Service,
    };
    as_device(&hub, "button-1", press()).await.unwrap();
    let requested = screen.event("floor", "service_requested").await;
    assert_eq!(
        requested["data"]["message"],
        format!("Service requested at table {label}")
    );
    assert_eq!(requested["data"]["device_id"], json!(button));
    let mine = screen
        .event(&format!("staff:{waiter_id}"), "service_requested")
        .await;
    assert_eq!(mine["data"]["table_id"], json!(table));
    let floor = waiter.get("/api/v1/floor").await.expect(StatusCode::OK);
    let shown = floor["areas"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["tables"].as_array().unwrap())
        .find(|t| t["id"] == json!(table))
        .unwrap()["service_request"]
        .clone();
    assert_eq!(shown["reason"], "service");
    assert_eq!(shown["acknowledged_by"], Value::Null);

    // A second press while nobody answered is accepted but tells nobody anything new.
    let repeat = as_device(&hub, "button-1", press()).await.unwrap();
    assert!(!repeat.replayed);

    let path = format!("/api/v1/tables/{table}/service-request/acknowledge");
    kitchen
        .post(&path, json!({"command_id": command_id()}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let acknowledged = waiter
        .post(&path, json!({"command_id": command_id()}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        acknowledged["service_request"]["acknowledged_by"],
        json!(waiter_id)
    );
    let (skipped, frame) = screen
        .until(|f| f["channel"] == "floor" && f["kind"] == "service_acknowledged")
        .await;
    assert!(
        !skipped.iter().any(|f| f["kind"] == "service_requested"),
        "the repeated press sent no second request: {skipped:?}"
    );
    assert_eq!(frame["data"]["device_id"], json!(button));
    assert_eq!(frame["data"]["acknowledged_by"], json!(waiter_id));
    waiter
        .post(&path, json!({"command_id": command_id()}))
        .await
        .expect_error(StatusCode::CONFLICT, "service_already_acknowledged");

    // A press after the answer is a new call; the waiter answers it from the screen.
    as_device(&hub, "button-1", press()).await.unwrap();
    screen.event("floor", "service_requested").await;
    let id = Uuid::new_v4().to_string();
    let ack = screen
        .command(
            &id,
            json!({"type": "acknowledge_service", "table_id": table}),
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack}");
    screen.event("floor", "service_acknowledged").await;

    let journal = manager
        .get("/api/v1/events?kind=service_requested,service_request_repeated,service_request_acknowledged&order=asc")
        .await
        .expect(StatusCode::OK);
    let kinds: Vec<&str> = journal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "service_requested",
            "service_request_repeated",
            "service_request_acknowledged",
            "service_requested",
            "service_request_acknowledged",
        ]
    );
    let first = &journal["events"][0];
    assert_eq!(first["device"], "button-1");
    assert_eq!(first["staff_id"], Value::Null);
    assert_eq!(journal["events"][2]["staff_id"], json!(waiter_id));

    // The call ends when the table is cleared.
    waiter
        .post(
            &format!("/api/v1/tables/{table}/clear"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    screen.event("floor", "service_cancelled").await;
    let cleared = waiter
        .post(
            &format!("/api/v1/tables/{table}/service-request/cancel"),
            json!({"command_id": command_id()}),
        )
        .await;
    cleared.expect_error(StatusCode::CONFLICT, "no_service_request");
    screen.close().await;
    hub.stop().await;
}

async fn a_pass_scanner_picks_an_order_up_by_its_ticket_code(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let demo = Demo::read(&waiter).await;
    let pass = provision(
        &manager,
        json!({"key": "scanner-pass", "name": "Pass scanner", "kind": "scanner", "purpose": "pass"}),
    )
    .await;
    let stations = waiter.get("/api/v1/stations").await.expect(StatusCode::OK);
    let item = demo
        .simple_items
        .iter()
        .find(|i| i.2.len() == 1)
        .expect("an item made by one station");
    let station_key = stations
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(item.2[0]))
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = waiter
        .post("/api/v1/orders", dine_in(demo.table(1), &[&item.0]))
        .await
        .expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap().to_owned();
    let number = u32::try_from(order["number"].as_u64().unwrap()).unwrap();
    let code = ticket_code(number);
    assert_eq!(order["ticket_code"], json!(code));

    let mut expo = Screen::connect(&hub, &kitchen).await;
    let snapshot = expo.subscribe("expo", None).await;
    let ticket = snapshot["data"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["order_id"] == json!(order_id))
        .unwrap()
        .clone();
    assert_eq!(ticket["ticket_code"], json!(code));
    let pick_up = || Command::PickUpTicket {
        device_id: pass,
        code: format!(" {} ", code.to_lowercase()),
    };
    assert_eq!(
        rejection(as_device(&hub, "scanner-pass", pick_up()).await),
        "nothing_to_pick_up"
    );
    kitchen
        .post(
            &format!("/api/v1/orders/{order_id}/stations/{station_key}/bump"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    as_device(&hub, "scanner-pass", pick_up()).await.unwrap();
    let (skipped, picked) = expo
        .until(|f| f["channel"] == "expo" && f["kind"] == "ticket_picked_up")
        .await;
    assert_eq!(picked["data"]["ticket_code"], json!(code));
    assert_eq!(picked["data"]["device_id"], json!(pass));
    assert!(
        skipped
            .iter()
            .any(|f| f["kind"] == "ticket_removed" && f["seq"] == picked["seq"]),
        "the served ticket leaves the pass in the same change: {skipped:?}"
    );

    let served = waiter
        .get(&format!("/api/v1/orders/{order_id}"))
        .await
        .expect(StatusCode::OK);
    assert!(
        served["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "served")
    );
    assert_eq!(
        rejection(as_device(&hub, "scanner-pass", pick_up()).await),
        "nothing_to_pick_up"
    );
    let unknown = Command::PickUpTicket {
        device_id: pass,
        code: "T999999".into(),
    };
    assert_eq!(
        rejection(as_device(&hub, "scanner-pass", unknown).await),
        "ticket_not_found"
    );
    let journal = manager
        .get("/api/v1/events?kind=ticket_picked_up")
        .await
        .expect(StatusCode::OK);
    assert_eq!(journal["events"][0]["event"]["order_id"], json!(order_id));
    assert_eq!(journal["events"][0]["device"], "scanner-pass");
    expo.close().await;
    hub.stop().await;
}

async fn stock_scans_are_listed_newest_first_by_purpose(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let receiving = provision(
        &manager,
        json!({"key": "scanner-dock", "name": "Dock scanner", "kind": "scanner", "purpose": "receiving"}),
    )
    .await;
    let waste = provision(
        &manager,
        json!({"key": "scanner-waste", "name": "Waste scanner", "kind": "scanner", "purpose": "waste"}),
    )
    .await;
    let decoded = devices::gs1::decode_scan("(01)09506000134352(17)261231(10)LOT7", None).unwrap();
    let scans = [
        (receiving, "scanner-dock", ScannedCode::from(decoded)),
        (
            waste,
            "scanner-waste",
            ScannedCode::from(devices::gs1::decode_scan("4006381333931", None).unwrap()),
        ),
    ];
    for (device_id, key, scan) in scans {
        as_device(
            &hub,
            key,
            Command::RecordScan {
                scan_id: ScanId(Uuid::new_v4()),
                device_id,
                scan,
                scanned_at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    }

    let all = kitchen.get("/api/v1/scans").await.expect(StatusCode::OK);
    let listed: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["device_key"].as_str().unwrap(),
                s["purpose"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![("scanner-waste", "waste"), ("scanner-dock", "receiving")]
    );
    let received = &all[1];
    assert_eq!(received["code"]["gtin"], "09506000134352");
    assert_eq!(received["code"]["lot"], "LOT7");
    assert_eq!(received["code"]["expiry"], "2026-12-31");
    let waste_only = kitchen
        .get("/api/v1/scans?purpose=waste")
        .await
        .expect(StatusCode::OK);
    assert_eq!(waste_only.as_array().unwrap().len(), 1);
    assert_eq!(waste_only[0]["code"]["gtin"], "04006381333931");
    let newest = manager
        .get("/api/v1/scans?limit=1")
        .await
        .expect(StatusCode::OK);
    assert_eq!(newest[0]["device_key"], "scanner-waste");
    kitchen
        .get("/api/v1/scans?purpose=pass")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    kitchen
        .get("/api/v1/scans?limit=0")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    waiter
        .get("/api/v1/scans")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // A takeaway order's ticket code is printable too (shown in every order view).
    let order = waiter
        .post(
            "/api/v1/orders",
            takeaway(&[&Demo::read(&waiter).await.simple_items[0].0]),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(order["ticket_code"].as_str().unwrap().starts_with('T'));
    hub.stop().await;
}
