//! Owns the device registry seen through HTTP: provisioning with credentials shown once,
//! the pairing each kind needs, secrets that verify and rotate, disabling and removal, and
//! that no secret ever appears in an answer or the audit journal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    database::TestDatabase,
    helpers::{MANAGER_PIN, TestHub, WAITER_PIN, command_id},
};

on_both_backends!(a_manager_provisions_rotates_disables_and_removes_a_device);

async fn stored_hash(hub: &TestHub, key: &'static str) -> String {
    hub.state
        .engine
        .venue_by_slug("demo")
        .unwrap()
        .read(move |v| v.device_by_key(key).map(|d| d.secret_hash.to_string()))
        .await
        .unwrap()
        .unwrap()
}

fn probe(command: &str) -> Value {
    json!({
        "command_id": command,
        "key": "fridge-1",
        "name": "Walk-in fridge probe",
        "kind": "probe",
        "limits": {
            "unit": "Walk-in fridge",
            "profile": "cold_holding",
            "max_celsius": 5.0,
            "critical_celsius": 8.0,
            "alert_delay_minutes": 15,
            "report_interval_seconds": 60
        }
    })
}

async fn a_manager_provisions_rotates_disables_and_removes_a_device(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;

    let request = probe(&command_id());
    waiter
        .post("/api/v1/devices", request.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let created = manager
        .post("/api/v1/devices", request.clone())
        .await
        .expect(StatusCode::CREATED);
    let credentials = &created["credentials"];
    assert_eq!(credentials["username"], "demo/fridge-1");
    assert_eq!(credentials["topic_prefix"], "almahira/v1/demo/fridge-1");
    let password = credentials["password"].as_str().unwrap().to_owned();
    assert!(password.len() >= 40, "a long random secret");
    assert!(hub::auth::verify_secret(
        &password,
        &stored_hash(&hub, "fridge-1").await
    ));
    assert!(created["device"].get("secret_hash").is_none());

    // A retry cannot show the secret again (the hub does not have it): it says so.
    let replay = manager.post("/api/v1/devices", request).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.expect(StatusCode::OK)["credentials"], Value::Null);

    manager
        .post("/api/v1/devices", probe(&command_id()))
        .await
        .expect_error(StatusCode::CONFLICT, "device_key_taken");
    let bump_bar = json!({"command_id": command_id(), "key": "bump-grill", "name": "Grill bump bar", "kind": "bump_bar"});
    let reply = manager.post("/api/v1/devices", bump_bar).await;
    reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "missing_station");
    assert_eq!(reply.body["field"], "station_id");

    let id = created["device"]["id"].as_str().unwrap();
    let rotated = manager
        .post(
            &format!("/api/v1/devices/{id}/rotate"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    let new_password = rotated["credentials"]["password"].as_str().unwrap();
    assert_ne!(new_password, password);
    let hash = stored_hash(&hub, "fridge-1").await;
    assert!(hub::auth::verify_secret(new_password, &hash));
    assert!(
        !hub::auth::verify_secret(&password, &hash),
        "the old secret stops working"
    );

    let disabled = manager
        .post(
            &format!("/api/v1/devices/{id}/enabled"),
            json!({"command_id": command_id(), "enabled": false}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(disabled["enabled"], false);
    let listed = manager.get("/api/v1/devices").await.expect(StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains("argon2"));

    let journal = manager
        .get("/api/v1/events?kind=device_provisioned,device_secret_rotated")
        .await
        .expect(StatusCode::OK);
    assert_eq!(journal["events"].as_array().unwrap().len(), 2);
    assert!(
        !journal.to_string().contains("argon2"),
        "hashes never leave the hub"
    );

    manager
        .send(
            Method::DELETE,
            &format!("/api/v1/devices/{id}?command_id={}", command_id()),
            None,
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        manager.get("/api/v1/devices").await.expect(StatusCode::OK),
        json!([])
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_food_safety_alert_reaches_the_screens_and_is_resolved_on_the_record() {
    use hub::{
        domain::{Actor, AlertId, Command, DeviceId, food_safety::FoodSafetyAlertKind},
        engine::Envelope,
    };
    let db = TestDatabase::new(crate::database::Backend::Sqlite).await;
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(crate::helpers::KITCHEN_PIN).await;
    let created = manager
        .post("/api/v1/devices", probe(&command_id()))
        .await
        .expect(StatusCode::CREATED);
    let device_id: uuid::Uuid = created["device"]["id"].as_str().unwrap().parse().unwrap();
    let mut screen = crate::screen::Screen::connect(&hub, &kitchen).await;
    let snapshot = screen.subscribe("alerts", None).await;
    assert_eq!(snapshot["data"]["food_safety"], json!([]));

    // What the device bridge does when a fridge stays too warm.
    let alert_id = AlertId(uuid::Uuid::now_v7());
    let venue = hub.state.engine.venue_by_slug("demo").unwrap();
    venue
        .execute(Envelope {
            command_id: uuid::Uuid::now_v7(),
            actor: Actor::system(),
            command: Command::RaiseFoodSafetyAlert {
                alert_id,
                device_id: DeviceId(device_id),
                kind: FoodSafetyAlertKind::Excursion,
                celsius: Some(7.4),
                limit: Some(5.0),
                since: chrono::Utc::now() - chrono::Duration::minutes(16),
            },
        })
        .await
        .unwrap();
    let frame = screen.event("alerts", "food_safety_alert").await;
    assert_eq!(
        (
            frame["data"]["unit"].as_str(),
            frame["data"]["celsius"].as_f64()
        ),
        (Some("Walk-in fridge"), Some(7.4))
    );

    let open = kitchen
        .get("/api/v1/food-safety/alerts")
        .await
        .expect(StatusCode::OK);
    assert_eq!(open.as_array().unwrap().len(), 1);
    let path = format!("/api/v1/food-safety/alerts/{alert_id}");
    kitchen
        .post(
            &format!("{path}/acknowledge"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    kitchen
        .post(
            &format!("{path}/resolve"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_corrective_action",
        );
    kitchen
        .post(
            &format!("{path}/resolve"),
            json!({"command_id": command_id(), "corrective_action": ""}),
        )
        .await
        .expect_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_corrective_action",
        );
    let resolved = kitchen
        .post(&format!("{path}/resolve"), json!({"command_id": command_id(), "corrective_action": "Moved stock to the reach-in; door seal replaced"}))
        .await
        .expect(StatusCode::OK);
    let me = kitchen.get("/api/v1/me").await.expect(StatusCode::OK);
    assert_eq!(resolved["resolved_by"], me["staff"]["id"]);
    assert_eq!(resolved["acknowledged_by"], me["staff"]["id"]);
    let changed = screen.event("alerts", "food_safety_alert_changed").await;
    assert_eq!(changed["data"]["id"], alert_id.to_string());
    assert_eq!(
        kitchen
            .get("/api/v1/food-safety/alerts")
            .await
            .expect(StatusCode::OK),
        json!([])
    );

    // The record: raised, acknowledged (by whom), resolved with the action, in the journal.
    let journal = manager
        .get("/api/v1/events?kind=food_safety_alert_raised,food_safety_alert_acknowledged,food_safety_alert_resolved&order=asc")
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
        [
            "food_safety_alert_raised",
            "food_safety_alert_acknowledged",
            "food_safety_alert_resolved"
        ]
    );
    assert_eq!(
        journal["events"][2]["event"]["corrective_action"],
        "Moved stock to the reach-in; door seal replaced"
    );
    hub.stop().await;
}
