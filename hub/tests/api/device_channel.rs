//! Owns the `devices` channel and ephemeral frames through real sockets: the snapshot of
//! every device with its live values (never its secret), sequenced frames when a device is
//! provisioned and when a cooling batch moves, `device_live` and other ephemeral frames that
//! carry no `seq`, reach only the screens on their channel and are never resumed, and the
//! cooling log endpoint.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{collections::BTreeMap, time::Duration};

use hub::{
    domain::{Command, CoolingBatchId, CoolingProgress},
    ws::DeviceLive,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    database::{Backend, TestDatabase},
    helpers::{KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN},
    screen::Screen,
    service::{as_device, provision},
};

on_both_backends!(the_devices_channel_shows_every_device_with_its_live_values_and_what_changes);

fn chiller() -> Value {
    json!({
        "key": "chiller-1",
        "name": "Blast chiller probe",
        "kind": "probe",
        "limits": {
            "unit": "Blast chiller",
            "profile": "blast_chiller",
            "min_celsius": null,
            "max_celsius": null,
            "critical_celsius": null,
            "alert_delay_minutes": 0,
            "report_interval_seconds": 30
        }
    })
}

fn core_at(celsius: f64) -> DeviceLive {
    DeviceLive {
        online: Some(true),
        last_seen: Some(chrono::Utc::now()),
        readings: BTreeMap::from([("core".to_owned(), celsius)]),
        battery_percent: Some(80),
        ..DeviceLive::default()
    }
}

async fn the_devices_channel_shows_every_device_with_its_live_values_and_what_changes(
    db: TestDatabase,
) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let waiter = hub.login(WAITER_PIN).await;
    let venue = hub.state.engine.venue_by_slug("demo").unwrap().id();
    let probe = provision(&manager, chiller()).await;
    hub.state
        .gateway
        .update_device_live(venue, probe, core_at(61.5));

    let mut screen = Screen::connect(&hub, &kitchen).await;
    let snapshot = screen.subscribe("devices", None).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let devices = snapshot["data"]["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["key"], "chiller-1");
    assert_eq!(devices[0]["live"]["readings"]["core"], 61.5);
    assert_eq!(devices[0]["live"]["battery_percent"], 80);
    assert!(devices[0].get("secret_hash").is_none());
    assert_eq!(snapshot["data"]["cooling"], json!([]));
    assert_eq!(snapshot["data"]["food_safety"], json!([]));

    let mut floor = Screen::connect(&hub, &waiter).await;
    let refused = floor.subscribe("devices", None).await;
    assert_eq!(refused["code"], "forbidden_channel");

    provision(
        &manager,
        json!({"key": "scanner-1", "name": "Dock scanner", "kind": "scanner", "purpose": "receiving"}),
    )
    .await;
    let provisioned = screen.event("devices", "device_provisioned").await;
    assert_eq!(provisioned["data"]["key"], "scanner-1");
    assert!(provisioned["seq"].as_u64().unwrap() > snapshot["seq"].as_u64().unwrap());
    assert!(provisioned["data"].get("secret_hash").is_none());

    hub.state
        .gateway
        .update_device_live(venue, probe, core_at(58.0));
    let live = screen.event("devices", "device_live").await;
    assert_eq!(live["ephemeral"], true);
    assert!(live.get("seq").is_none() && live.get("prev").is_none());
    assert_eq!(live["data"]["device_id"], json!(probe));
    assert_eq!(live["data"]["live"]["readings"]["core"], 58.0);

    let batch = CoolingBatchId(Uuid::new_v4());
    as_device(
        &hub,
        "chiller-1",
        Command::StartCoolingBatch {
            batch_id: batch,
            device_id: probe,
            probe: "core".into(),
            label: "Rendang, 12 portions".into(),
            started_at: chrono::Utc::now(),
        },
    )
    .await
    .unwrap();
    let started = screen.event("devices", "cooling_started").await;
    assert_eq!(started["data"]["label"], "Rendang, 12 portions");
    assert_eq!(started["data"]["unit"], "Blast chiller");
    as_device(
        &hub,
        "chiller-1",
        Command::RecordCoolingProgress {
            batch_id: batch,
            progress: CoolingProgress::Started {
                at: chrono::Utc::now(),
            },
        },
    )
    .await
    .unwrap();
    let clock = screen.event("devices", "cooling_clock_started").await;
    assert!(clock["data"]["next_deadline"].is_string());

    let today = chrono::Utc::now().date_naive();
    let log = kitchen
        .get(&format!("/api/v1/food-safety/cooling?date={today}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["device_key"], "chiller-1");
    assert!(log[0]["cooling_from"].is_string());
    let yesterday = today.pred_opt().unwrap();
    let none = kitchen
        .get(&format!(
            "/api/v1/food-safety/cooling?date={yesterday}&offset=%2B00:00"
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(none, json!([]));
    kitchen
        .get("/api/v1/food-safety/cooling?date=yesterday")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");

    // A fresh screen's snapshot has the latest values and the active batch.
    let mut late = Screen::connect(&hub, &kitchen).await;
    let snapshot = late.subscribe("devices", None).await;
    let chiller = snapshot["data"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == "chiller-1")
        .unwrap()
        .clone();
    assert_eq!(chiller["live"]["readings"]["core"], 58.0);
    assert_eq!(snapshot["data"]["cooling"][0]["id"], json!(batch));
    for screen in [screen, floor, late] {
        screen.close().await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn an_ephemeral_frame_reaches_only_its_channel_and_is_never_resumed() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start(&db).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let venue = hub.state.engine.venue_by_slug("demo").unwrap().id();
    let stations = kitchen.get("/api/v1/stations").await.expect(StatusCode::OK);
    let key = stations[0]["key"].as_str().unwrap().to_owned();
    let channel = format!("kds:{key}");

    let mut kds = Screen::connect(&hub, &kitchen).await;
    let opened = kds.subscribe(&channel, None).await;
    let seq = opened["seq"].as_u64().unwrap();
    let mut expo = Screen::connect(&hub, &kitchen).await;
    expo.subscribe("expo", None).await;

    hub.state.gateway.publish_ephemeral(
        venue,
        &channel,
        "bump_bar_cursor",
        json!({"order_id": null, "index": 2}),
    );
    let cursor = kds.next().await;
    assert_eq!(
        (
            cursor["type"].as_str(),
            cursor["channel"].as_str(),
            cursor["kind"].as_str()
        ),
        (
            Some("event"),
            Some(channel.as_str()),
            Some("bump_bar_cursor")
        )
    );
    assert_eq!(cursor["ephemeral"], true);
    assert_eq!(cursor["data"]["index"], 2);
    assert!(cursor.get("seq").is_none());
    expo.expect_silence(Duration::from_millis(300)).await;

    // Resuming from the seq before the ephemeral frame replays nothing: it was never kept.
    kds.send(json!({"type": "unsubscribe", "channel": channel}))
        .await;
    kds.next().await;
    let resumed = kds.subscribe(&channel, Some(seq)).await;
    assert_eq!(
        (resumed["type"].as_str(), resumed["replayed"].as_u64()),
        (Some("resumed"), Some(0))
    );
    // Once unsubscribed, a screen gets no more ephemeral frames of that channel.
    kds.send(json!({"type": "unsubscribe", "channel": channel}))
        .await;
    kds.next().await;
    hub.state
        .gateway
        .publish_ephemeral(venue, &channel, "bump_bar_cursor", json!({"index": 3}));
    kds.expect_silence(Duration::from_millis(300)).await;
    kds.close().await;
    expo.close().await;
    hub.stop().await;
}
