//! Owns firmware-sim against the real hub: the evening's story (provisioned through the
//! API, played at 1800x over the embedded broker) ends in the food-safety record the
//! scenario promises: the failing fridge and the drifting hot well alert, the door
//! opening does not, the rendang batch passes its cooling log, the delivery is scanned;
//! and firmware-sim, watching the hub's WebSocket, reports those alerts in its summary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::time::Duration;

use firmware_sim::{AlertWatch, Auth, Broker, Login, ScenarioChoice, SimConfig};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    database::TestDatabase,
    helpers::{KITCHEN_PIN, MANAGER_PIN, TestHub},
};

#[tokio::test]
async fn an_evening_of_simulated_devices_leaves_the_promised_food_safety_record() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let config = SimConfig {
        broker: Broker {
            host: broker.ip().to_string(),
            port: broker.port(),
        },
        venue: "demo".into(),
        auth: Auth::Provision {
            hub: format!("http://{}", hub.address),
            login: Login::Pin(MANAGER_PIN.into()),
        },
        save_credentials: None,
        scenario: ScenarioChoice::Evening { slow_batch: false },
        speed: 1800.0,
        duration: Some(Duration::from_secs(60)),
        qos: rumqttc::QoS::AtLeastOnce,
        connect_rate: 500.0,
        seed: 7,
        progress: false,
    };
    let summary = firmware_sim::run_until(config, std::future::pending::<()>())
        .await
        .unwrap();
    assert!(summary.completed, "{summary:?}");
    assert_eq!(summary.dropped, 0, "{summary:?}");
    assert_eq!(summary.connection_errors, 0, "{summary:?}");

    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let devices = manager.get("/api/v1/devices").await.expect(StatusCode::OK);
    let id_of = |key: &str| -> Value {
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["key"] == key)
            .unwrap_or_else(|| panic!("{key} was provisioned"))["id"]
            .clone()
    };
    // Give the bridge a moment to finish the last messages.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts = manager
        .get("/api/v1/food-safety/alerts")
        .await
        .expect(StatusCode::OK);
    // Alerts while the evening ran; the fleet announcing `offline` as it stops comes after.
    let kinds_for = |key: &str| -> Vec<String> {
        alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["device_id"] == id_of(key) && a["kind"] != "offline")
            .map(|a| a["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    // The fleet stops cleanly (`offline` announced, then DISCONNECT): no probe is offline.
    assert!(
        alerts
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"] != "offline"),
        "a clean stop is not a failure: {alerts:#}"
    );
    let fridge_bar = kinds_for("fridge-bar");
    assert!(
        fridge_bar.contains(&"excursion".to_owned()) || fridge_bar.contains(&"critical".to_owned()),
        "the slowly failing fridge alerts: {alerts:#}"
    );
    assert!(
        !kinds_for("hotwell-1").is_empty(),
        "the drifting hot well alerts: {alerts:#}"
    );
    assert!(
        kinds_for("fridge-walkin").is_empty(),
        "a restock shorter than the delay pages no one: {alerts:#}"
    );
    assert!(
        kinds_for("blast-1").is_empty(),
        "the rendang cools in time: {alerts:#}"
    );

    // The simulator saw the same alerts live on the hub's `alerts` channel.
    assert_eq!(summary.alert_watch, AlertWatch::Watched, "{summary:?}");
    let seen_for = |key: &str| -> Vec<&str> {
        summary
            .alert_log
            .iter()
            .filter(|a| a.device_key.as_deref() == Some(key) && a.kind != "offline")
            .map(|a| a.kind.as_str())
            .collect()
    };
    let seen_bar = seen_for("fridge-bar");
    assert!(
        seen_bar.contains(&"excursion") || seen_bar.contains(&"critical"),
        "the summary tells the failing fridge's alert: {:#?}",
        summary.alert_log
    );
    assert!(
        !seen_for("hotwell-1").is_empty(),
        "the summary tells the hot well's alert: {:#?}",
        summary.alert_log
    );
    for raised in alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] != "offline")
    {
        assert!(
            summary.alert_log.iter().any(|a| a.id == raised["id"]),
            "every alert of the evening reached the simulator: {raised:#} not in {:#?}",
            summary.alert_log
        );
    }
    assert_eq!(
        summary.alerts,
        summary.alert_kinds.values().sum::<u64>(),
        "{summary:?}"
    );

    let cooling = kitchen
        .get("/api/v1/food-safety/cooling")
        .await
        .expect(StatusCode::OK);
    let rendang = cooling
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["device_id"] == id_of("blast-1"))
        .unwrap_or_else(|| panic!("the batch is in the cooling log: {cooling:#}"));
    assert_eq!(rendang["outcome"], "passed", "{rendang:#}");

    let scans = kitchen.get("/api/v1/scans").await.expect(StatusCode::OK);
    assert!(
        scans.as_array().unwrap().len() >= 8,
        "the delivery's cases are recorded: {scans:#}"
    );
    let history = manager
        .get(&format!(
            "/api/v1/devices/{}/readings?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
            id_of("fridge-walkin").as_str().unwrap()
        ))
        .await
        .expect(StatusCode::OK);
    assert!(
        history["points"].as_array().unwrap().len() > 100,
        "the walk-in's readings are kept: {}",
        history["points"].as_array().unwrap().len()
    );
    hub.stop().await;
}
