//! Owns probe temperature readings end to end: the store's batches and day summaries on
//! both backends, the recorder's flush, back-pressure and retries against a real database
//! that is locked or drops its connection, and the history and food-safety report
//! endpoints (JSON and a CSV read back with a real CSV parser), including who may read them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{path::Path, sync::Arc, time::Duration};

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use hub::{
    domain::{Actor, AlertId, Command, DeviceId, VenueId, food_safety::FoodSafetyAlertKind},
    engine::Envelope,
    metrics::Metrics,
    readings::{ReadingsRecorder, RecorderConfig, TryRecordError},
    store::{self, DatedReading, ReadingRow, Store, TenantRecord, VenueRecord},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::{
    database::{Backend, TestDatabase},
    helpers::{CASHIER_PIN, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id},
};

on_both_backends!(
    a_batch_is_stored_and_added_to_its_day_summary,
    a_retried_batch_is_stored_and_counted_once,
    history_keeps_to_its_range_and_probe_and_returns_the_newest_readings_oldest_first,
    pruning_deletes_old_raw_readings_but_keeps_the_day_summaries,
    readings_either_side_of_the_venues_midnight_count_towards_their_own_days,
    flush_returns_once_every_recorded_reading_is_stored,
    a_full_queue_makes_record_wait_until_the_store_takes_readings_again,
    a_unit_history_shows_its_name_limits_and_readings,
    history_requests_with_a_bad_range_limit_or_device_are_refused,
    the_food_safety_report_lists_each_probe_and_the_days_alerts,
);

mod a_batch_the_store_failed_to_take_is_retried_and_stored_once {
    use crate::database::TestDatabase;

    #[tokio::test]
    async fn on_postgres() {
        super::a_batch_the_store_failed_to_take_is_retried_and_stored_once(
            TestDatabase::postgres().await,
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------

async fn a_batch_is_stored_and_added_to_its_day_summary(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "batch").await;
    let fridge = DeviceId(Uuid::new_v4());
    let rows = vec![
        dated(reading(venue, fridge, "main", 3.5, at(0)), day(1)),
        dated(reading(venue, fridge, "main", 6.0, at(60)), day(1)),
        dated(reading(venue, fridge, "main", 2.5, at(120)), day(1)),
        dated(reading(venue, fridge, "ambient", 21.0, at(30)), day(1)),
    ];

    assert_eq!(store.append_readings(&rows).await.unwrap(), 4);

    let days = store.reading_days(venue, day(1)).await.unwrap();
    assert_eq!(days.len(), 2, "{days:?}");
    let main = days.iter().find(|d| d.probe == "main").unwrap();
    assert_eq!(
        (
            main.count,
            main.min_celsius,
            main.max_celsius,
            main.sum_celsius
        ),
        (3, 2.5, 6.0, 12.0)
    );
    assert_eq!(main.mean_celsius(), 4.0);
    assert_eq!((main.first_at, main.last_at), (at(0), at(120)));
    assert_eq!((main.device_id, main.day), (fridge, day(1)));
    let ambient = days.iter().find(|d| d.probe == "ambient").unwrap();
    assert_eq!((ambient.count, ambient.max_celsius), (1, 21.0));
    assert!(store.reading_days(venue, day(2)).await.unwrap().is_empty());
    let history = store
        .reading_history(venue, fridge, None, at(0), at(121), 100)
        .await
        .unwrap();
    assert_eq!(
        history,
        vec![
            rows[0].reading.clone(),
            rows[3].reading.clone(),
            rows[1].reading.clone(),
            rows[2].reading.clone()
        ]
    );

    // A later batch adds to the same summary.
    let later = [dated(reading(venue, fridge, "main", 9.0, at(180)), day(1))];
    assert_eq!(store.append_readings(&later).await.unwrap(), 1);
    let main = store
        .reading_days(venue, day(1))
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.probe == "main")
        .unwrap();
    assert_eq!(
        (main.count, main.max_celsius, main.sum_celsius, main.last_at),
        (4, 9.0, 21.0, at(180))
    );
    assert_eq!(main.first_at, at(0));
}

async fn a_retried_batch_is_stored_and_counted_once(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "retry").await;
    let fridge = DeviceId(Uuid::new_v4());
    let batch: Vec<DatedReading> = (0..3)
        .map(|i| dated(reading(venue, fridge, "main", 4.0, at(i * 60)), day(1)))
        .collect();
    assert_eq!(store.append_readings(&batch).await.unwrap(), 3);

    // The same batch again (its acknowledgement was lost), plus one new reading and the
    // new reading repeated within the batch.
    let mut retried = batch.clone();
    retried.push(dated(reading(venue, fridge, "main", 8.0, at(300)), day(1)));
    retried.push(dated(reading(venue, fridge, "main", 8.0, at(300)), day(1)));
    assert_eq!(store.append_readings(&retried).await.unwrap(), 1);

    let days = store.reading_days(venue, day(1)).await.unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].count, days[0].sum_celsius), (4, 20.0));
    let history = store
        .reading_history(venue, fridge, None, at(0), at(1_000), 100)
        .await
        .unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(store.append_readings(&[]).await.unwrap(), 0);
}

async fn history_keeps_to_its_range_and_probe_and_returns_the_newest_readings_oldest_first(
    db: TestDatabase,
) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "history").await;
    let other_venue = create_venue(store.as_ref(), "elsewhere").await;
    let fridge = DeviceId(Uuid::new_v4());
    let freezer = DeviceId(Uuid::new_v4());
    let mut rows: Vec<DatedReading> = (0..10)
        .map(|i| dated(reading(venue, fridge, "main", i as f64, at(i * 60)), day(1)))
        .collect();
    rows.push(dated(reading(venue, fridge, "core", 50.0, at(150)), day(1)));
    rows.push(dated(
        reading(venue, freezer, "main", -20.0, at(150)),
        day(1),
    ));
    rows.push(dated(
        reading(other_venue, fridge, "main", 99.0, at(150)),
        day(1),
    ));
    store.append_readings(&rows).await.unwrap();

    let celsius = |readings: Vec<ReadingRow>| -> Vec<f64> {
        readings.into_iter().map(|r| r.celsius).collect()
    };
    // [from, to): the reading at `to` is left out.
    let range = store
        .reading_history(venue, fridge, Some("main"), at(120), at(420), 100)
        .await
        .unwrap();
    assert_eq!(celsius(range), vec![2.0, 3.0, 4.0, 5.0, 6.0]);
    let all_probes = store
        .reading_history(venue, fridge, None, at(120), at(180), 100)
        .await
        .unwrap();
    assert_eq!(celsius(all_probes), vec![2.0, 50.0]);
    let newest_two = store
        .reading_history(venue, fridge, Some("main"), at(0), at(10_000), 2)
        .await
        .unwrap();
    assert_eq!(celsius(newest_two), vec![8.0, 9.0]);
    let nothing = store
        .reading_history(venue, fridge, Some("nope"), at(0), at(10_000), 100)
        .await
        .unwrap();
    assert!(nothing.is_empty());
}

async fn pruning_deletes_old_raw_readings_but_keeps_the_day_summaries(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "prune").await;
    let fridge = DeviceId(Uuid::new_v4());
    let rows: Vec<DatedReading> = (0..4)
        .map(|i| dated(reading(venue, fridge, "main", 4.0, at(i * 60)), day(1)))
        .collect();
    store.append_readings(&rows).await.unwrap();

    assert_eq!(store.prune_readings(at(120)).await.unwrap(), 2);

    let left = store
        .reading_history(venue, fridge, None, at(0), at(1_000), 100)
        .await
        .unwrap();
    assert_eq!(
        left.iter().map(|r| r.measured_at).collect::<Vec<_>>(),
        vec![at(120), at(180)]
    );
    let days = store.reading_days(venue, day(1)).await.unwrap();
    assert_eq!(days[0].count, 4, "the summary outlives the raw readings");
    assert_eq!(store.prune_readings(at(120)).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------
// Recorder
// ---------------------------------------------------------------------------------------

async fn readings_either_side_of_the_venues_midnight_count_towards_their_own_days(
    db: TestDatabase,
) {
    // The demo venue is in Asia/Jakarta (UTC+7): its 2 June starts at 17:00 UTC on 1 June.
    let hub = TestHub::start(&db).await;
    let venue = demo_venue(&hub);
    let fridge = DeviceId(Uuid::new_v4());
    let before = utc("2025-06-01T16:59:59.999999Z");
    let after = utc("2025-06-01T17:00:00Z");
    hub.state
        .readings
        .record(reading(venue, fridge, "main", 3.0, before))
        .await;
    hub.state
        .readings
        .record(reading(venue, fridge, "main", 7.0, after))
        .await;
    hub.state.readings.flush().await;

    let first = hub
        .state
        .store
        .reading_days(venue, date(2025, 6, 1))
        .await
        .unwrap();
    let second = hub
        .state
        .store
        .reading_days(venue, date(2025, 6, 2))
        .await
        .unwrap();
    assert_eq!(
        (
            first.len(),
            first[0].count,
            first[0].max_celsius,
            first[0].last_at
        ),
        (1, 1, 3.0, before)
    );
    assert_eq!(
        (
            second.len(),
            second[0].count,
            second[0].min_celsius,
            second[0].first_at
        ),
        (1, 1, 7.0, after)
    );
    hub.stop().await;
}

async fn flush_returns_once_every_recorded_reading_is_stored(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let venue = demo_venue(&hub);
    let metrics = Metrics::new();
    // A delay of an hour: only a full batch or the flush itself can write readings.
    let (recorder, task) = ReadingsRecorder::start(
        hub.state.store.clone(),
        hub.state.engine.clone(),
        metrics.clone(),
        RecorderConfig {
            max_batch: 2000,
            max_delay: Duration::from_secs(3600),
            queue_capacity: 100,
            ..RecorderConfig::default()
        },
    );
    let fridge = DeviceId(Uuid::new_v4());
    let start = Utc::now() - chrono::Duration::hours(1);
    for i in 0..4500 {
        recorder
            .record(reading(
                venue,
                fridge,
                "main",
                4.0,
                start + chrono::Duration::milliseconds(i * 10),
            ))
            .await;
    }

    recorder.flush().await;

    let stored = hub
        .state
        .store
        .reading_history(venue, fridge, None, start, Utc::now(), 10_000)
        .await
        .unwrap();
    assert_eq!(stored.len(), 4500);
    let text = metrics.encode();
    assert!(text.contains("hub_readings_persisted_total 4500"), "{text}");
    assert!(text.contains("hub_reading_batches_total 3"), "{text}");

    // Stopping writes what is queued; a reading after that is refused, not lost quietly.
    recorder
        .record(reading(venue, fridge, "main", 5.0, Utc::now()))
        .await;
    recorder.stop().await;
    task.await.unwrap();
    let late = reading(venue, fridge, "main", 6.0, Utc::now());
    assert!(matches!(
        recorder.try_record(late.clone()),
        Err(TryRecordError::Stopped(row)) if row == late
    ));
    recorder.record(late).await;
    let text = metrics.encode();
    assert!(text.contains("hub_readings_persisted_total 4501"), "{text}");
    assert!(text.contains("hub_readings_dropped_total 1"), "{text}");
    hub.stop().await;
}

async fn a_full_queue_makes_record_wait_until_the_store_takes_readings_again(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let venue = demo_venue(&hub);
    let (recorder, _task) = ReadingsRecorder::start(
        hub.state.store.clone(),
        hub.state.engine.clone(),
        Metrics::new(),
        RecorderConfig {
            max_batch: 1,
            max_delay: Duration::from_millis(1),
            queue_capacity: 4,
            first_retry: Duration::from_millis(20),
            ..RecorderConfig::default()
        },
    );
    let fridge = DeviceId(Uuid::new_v4());
    let start = Utc::now() - chrono::Duration::minutes(5);
    let nth = |i: i64| {
        reading(
            venue,
            fridge,
            "main",
            4.0,
            start + chrono::Duration::seconds(i),
        )
    };

    let lock = TableLock::take(&db).await;
    let mut accepted = 0;
    let refused = loop {
        match recorder.try_record(nth(accepted)) {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted <= 10, "a queue of 4 took {accepted} readings");
        // Let the task pick the first reading up and get stuck on the lock.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        matches!(&refused, TryRecordError::Full(row) if *row == nth(accepted)),
        "{refused:?}"
    );
    let waiting = {
        let recorder = recorder.clone();
        let row = nth(accepted);
        tokio::spawn(async move { recorder.record(row).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "record waits while the queue is full"
    );

    lock.release().await;
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("record returns once the store takes readings again")
        .unwrap();
    recorder.flush().await;
    let stored = hub
        .state
        .store
        .reading_history(venue, fridge, None, start, Utc::now(), 100)
        .await
        .unwrap();
    assert_eq!(
        stored.len() as i64,
        accepted + 1,
        "nothing accepted was lost"
    );
    hub.stop().await;
}

async fn a_batch_the_store_failed_to_take_is_retried_and_stored_once(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let venue = demo_venue(&hub);
    let metrics = Metrics::new();
    let (recorder, _task) = ReadingsRecorder::start(
        hub.state.store.clone(),
        hub.state.engine.clone(),
        metrics.clone(),
        RecorderConfig {
            max_batch: 10,
            max_delay: Duration::from_millis(1),
            first_retry: Duration::from_millis(20),
            ..RecorderConfig::default()
        },
    );
    let fridge = DeviceId(Uuid::new_v4());
    let start = Utc::now() - chrono::Duration::minutes(5);

    let lock = TableLock::take(&db).await;
    for i in 0..10 {
        recorder
            .record(reading(
                venue,
                fridge,
                "main",
                4.0,
                start + chrono::Duration::seconds(i),
            ))
            .await;
    }
    // The connection writing the batch is cut while it waits for the lock: the recorder
    // sees the store fail mid-batch, as when Postgres restarts.
    let admin = lock.connection_url.clone();
    let mut admin = PgConnection::connect(&admin).await.unwrap();
    let mut terminated = false;
    for _ in 0..100 {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND query LIKE 'INSERT INTO device_readings%' AND wait_event_type = 'Lock'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        if killed.contains(&true) {
            terminated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(terminated, "the recorder's insert never waited on the lock");
    // Let it fail and queue its retry behind the lock again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    lock.release().await;
    recorder.flush().await;

    let stored = hub
        .state
        .store
        .reading_history(venue, fridge, None, start, Utc::now(), 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 10);
    let days = hub
        .state
        .store
        .reading_days(
            venue,
            stored[0]
                .measured_at
                .with_timezone(&chrono_tz::Asia::Jakarta)
                .date_naive(),
        )
        .await
        .unwrap();
    assert_eq!(days.iter().map(|d| d.count).sum::<i64>(), 10);
    let text = metrics.encode();
    assert!(
        metric(&text, "hub_reading_store_failures_total") >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "hub_readings_persisted_total"),
        10.0,
        "{text}"
    );
    assert_eq!(metric(&text, "hub_readings_dropped_total"), 0.0, "{text}");
    hub.stop().await;
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

async fn a_unit_history_shows_its_name_limits_and_readings(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let fridge = provision_probe(&manager, "fridge-1", "Walk-in fridge").await;
    let venue = demo_venue(&hub);
    let now = Utc::now();
    let minutes_ago = |m: i64| now - chrono::Duration::minutes(m);
    for (probe, celsius, at) in [
        ("main", 3.0, minutes_ago(30)),
        ("main", 4.0, minutes_ago(20)),
        ("core", 2.0, minutes_ago(15)),
        ("main", 5.5, minutes_ago(10)),
        // Older than the default 24 hours.
        ("main", 9.0, now - chrono::Duration::hours(25)),
    ] {
        hub.state
            .readings
            .record(reading(venue, fridge, probe, celsius, at))
            .await;
    }
    hub.state.readings.flush().await;
    let path = format!("/api/v1/devices/{fridge}/readings");

    let history = kitchen.get(&path).await.expect(StatusCode::OK);
    assert_eq!(history["device_name"], "Walk-in fridge probe");
    assert_eq!(history["unit"], "Walk-in fridge");
    assert_eq!(history["limits"]["max_celsius"], 5.0);
    assert_eq!(history["truncated"], false);
    let points = history["points"].as_array().unwrap();
    let celsius: Vec<f64> = points
        .iter()
        .map(|p| p["celsius"].as_f64().unwrap())
        .collect();
    assert_eq!(celsius, vec![3.0, 4.0, 2.0, 5.5], "oldest first, last 24 h");
    assert_eq!(points[2]["probe"], "core");

    let main_only = manager
        .get(&format!("{path}?probe=main&limit=2"))
        .await
        .expect(StatusCode::OK);
    let celsius: Vec<f64> = main_only["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["celsius"].as_f64().unwrap())
        .collect();
    assert_eq!(celsius, vec![4.0, 5.5], "the newest two");
    assert_eq!(main_only["truncated"], true);

    let from = (now - chrono::Duration::hours(26)).to_rfc3339();
    let to = minutes_ago(25).to_rfc3339();
    let window = manager
        .get(&format!(
            "{path}?from={}&to={}",
            urlencode(&from),
            urlencode(&to)
        ))
        .await
        .expect(StatusCode::OK);
    let celsius: Vec<f64> = window["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["celsius"].as_f64().unwrap())
        .collect();
    assert_eq!(celsius, vec![9.0, 3.0]);
    hub.stop().await;
}

async fn history_requests_with_a_bad_range_limit_or_device_are_refused(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let fridge = provision_probe(&manager, "fridge-1", "Walk-in fridge").await;
    let path = format!("/api/v1/devices/{fridge}/readings");

    let unknown = manager
        .get(&format!("/api/v1/devices/{}/readings", Uuid::new_v4()))
        .await;
    unknown.expect_error(StatusCode::NOT_FOUND, "device_not_found");

    let backwards = manager
        .get(&format!(
            "{path}?from=2025-06-02T00:00:00Z&to=2025-06-01T00:00:00Z"
        ))
        .await;
    backwards.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_range");
    assert_eq!(backwards.body["field"], "from");
    let empty = manager
        .get(&format!(
            "{path}?from=2025-06-01T00:00:00Z&to=2025-06-01T00:00:00Z"
        ))
        .await;
    empty.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_range");

    let not_a_time = manager.get(&format!("{path}?to=yesterday")).await;
    not_a_time.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_time");
    assert_eq!(not_a_time.body["field"], "to");

    for limit in ["0", "10001"] {
        let reply = manager.get(&format!("{path}?limit={limit}")).await;
        reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit");
        assert_eq!(reply.body["field"], "limit");
    }
    manager
        .get(&format!("{path}?limit=10000"))
        .await
        .expect(StatusCode::OK);

    for pin in [WAITER_PIN, CASHIER_PIN] {
        hub.login(pin)
            .await
            .get(&path)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(
        hub.client().get(&path).await.status,
        StatusCode::UNAUTHORIZED
    );
    hub.stop().await;
}

async fn the_food_safety_report_lists_each_probe_and_the_days_alerts(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let fridge = provision_probe(&manager, "fridge-1", "Walk-in fridge").await;
    let silent = provision_probe(&manager, "fridge-2", "Reach-in fridge").await;
    let venue = demo_venue(&hub);
    let now = Utc::now();
    let seconds_ago = |s: i64| now - chrono::Duration::seconds(s);
    for (celsius, at) in [
        (3.0, seconds_ago(40)),
        (7.5, seconds_ago(30)),
        (4.0, seconds_ago(20)),
    ] {
        hub.state
            .readings
            .record(reading(venue, fridge, "main", celsius, at))
            .await;
    }
    hub.state.readings.flush().await;
    let alert_id = Uuid::new_v4();
    hub.state
        .engine
        .execute(
            venue,
            Envelope {
                command_id: Uuid::new_v4(),
                actor: Actor::system(),
                command: Command::RaiseFoodSafetyAlert {
                    alert_id: AlertId(alert_id),
                    device_id: fridge,
                    kind: FoodSafetyAlertKind::Excursion,
                    celsius: Some(7.5),
                    limit: Some(5.0),
                    since: seconds_ago(30),
                },
            },
        )
        .await
        .unwrap();
    let alert_path = format!("/api/v1/food-safety/alerts/{alert_id}");
    kitchen
        .post(
            &format!("{alert_path}/acknowledge"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    let action = "Moved stock to the reach-in, called \"Pak Budi\"\nthermostat reset; 🌡️ ok";
    manager
        .post(
            &format!("{alert_path}/resolve"),
            json!({"command_id": command_id(), "corrective_action": action}),
        )
        .await
        .expect(StatusCode::OK);

    // JSON, today by default.
    let report = kitchen
        .get("/api/v1/food-safety/report")
        .await
        .expect(StatusCode::OK);
    assert_eq!(report["venue"], "demo");
    assert_eq!(report["timezone"], "Asia/Jakarta");
    let today = report["date"].as_str().unwrap().to_owned();
    assert_eq!(
        today,
        now.with_timezone(&chrono_tz::Asia::Jakarta)
            .date_naive()
            .to_string()
    );
    let probes = report["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{probes:?}");
    let reach_in = &probes[0];
    assert_eq!(
        (
            &reach_in["unit"],
            &reach_in["readings"],
            &reach_in["breached"]
        ),
        (&json!("Reach-in fridge"), &json!(0), &Value::Null)
    );
    assert_eq!(reach_in["device_id"], silent.to_string());
    let walk_in = &probes[1];
    assert_eq!(walk_in["unit"], "Walk-in fridge");
    assert_eq!(walk_in["probe"], "main");
    assert_eq!(walk_in["readings"], 3);
    assert_eq!(walk_in["min_celsius"], 3.0);
    assert_eq!(walk_in["max_celsius"], 7.5);
    assert_eq!(walk_in["mean_celsius"], 4.83);
    assert_eq!(walk_in["limit_max_celsius"], 5.0);
    assert_eq!(walk_in["breached"], true);
    let alerts = report["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["id"], alert_id.to_string());
    assert_eq!(alerts[0]["kind"], "excursion");
    assert_eq!(alerts[0]["acknowledged_by_name"], "Agus Pratama");
    assert_eq!(alerts[0]["resolved_by_name"], "Budi Santoso");
    assert_eq!(alerts[0]["corrective_action"], action);
    assert_eq!(report["alerts_complete"], true);

    // A day with nothing: the probes are still listed, silent.
    let quiet = manager
        .get("/api/v1/food-safety/report?date=2024-01-01")
        .await
        .expect(StatusCode::OK);
    assert_eq!(quiet["probes"].as_array().unwrap().len(), 2);
    assert!(
        quiet["probes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["readings"] == 0)
    );
    assert_eq!(quiet["alerts"], json!([]));

    // CSV: a download, readable by a CSV parser, with the action intact.
    let csv = manager
        .http
        .get(format!(
            "{}/api/v1/food-safety/report?date={today}&format=csv",
            manager.base
        ))
        .bearer_auth(manager.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        csv.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"food-safety-demo-{today}.csv\"")
    );
    let body = csv.text().await.unwrap();
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let section = |first: &str| -> (Vec<String>, Vec<Vec<String>>) {
        let start = rows.iter().position(|r| r[0] == first).unwrap();
        let header = rows[start].clone();
        let body = rows[start + 1..]
            .iter()
            .take_while(|r| !matches!(r[0].as_str(), "unit" | "alert_id" | "cooling_batch_id"))
            .cloned()
            .collect();
        (header, body)
    };
    let (header, info) = section("report");
    assert_eq!(
        info[0][header.iter().position(|h| h == "date").unwrap()],
        today
    );
    let (header, probes) = section("unit");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(probes.len(), 2, "{probes:?}");
    assert_eq!(probes[1][column("unit")], "Walk-in fridge");
    assert_eq!(probes[1][column("readings")], "3");
    assert_eq!(probes[1][column("max_celsius")], "7.5");
    assert_eq!(probes[1][column("mean_celsius")], "4.83");
    assert_eq!(probes[1][column("breached")], "yes");
    assert_eq!(probes[0][column("readings")], "0");
    let (header, alerts) = section("alert_id");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0][column("alert_id")], alert_id.to_string());
    assert_eq!(alerts[0][column("kind")], "excursion");
    assert_eq!(alerts[0][column("celsius")], "7.5");
    assert_eq!(alerts[0][column("acknowledged_by")], "Agus Pratama");
    assert_eq!(alerts[0][column("resolved_by")], "Budi Santoso");
    assert_eq!(alerts[0][column("corrective_action")], action);

    // Who may read it, and bad requests.
    for pin in [WAITER_PIN, CASHIER_PIN] {
        hub.login(pin)
            .await
            .get("/api/v1/food-safety/report")
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    let bad_date = manager
        .get("/api/v1/food-safety/report?date=2025-02-30")
        .await;
    bad_date.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_date");
    assert_eq!(bad_date.body["field"], "date");
    let bad_format = manager.get("/api/v1/food-safety/report?format=pdf").await;
    bad_format.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_format");
    assert_eq!(bad_format.body["field"], "format");
    hub.stop().await;
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    store::connect(Some(db.url()), Path::new("unused"))
        .await
        .unwrap_or_else(|error| panic!("connecting to {}: {error:#}", db.url()))
}

async fn create_venue(store: &dyn Store, slug: &str) -> VenueId {
    let tenant = TenantRecord {
        id: Uuid::new_v4(),
        name: format!("Tenant of {slug}"),
    };
    let venue = VenueRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        slug: slug.into(),
        name: format!("Almahira {slug}"),
        created_at: at(0),
    };
    store.create_venue(&tenant, &venue).await.unwrap();
    VenueId(venue.id)
}

fn demo_venue(hub: &TestHub) -> VenueId {
    hub.state.engine.venue_by_slug("demo").unwrap().id()
}

/// Provisions a probe on the demo venue (cold holding, max 5 °C) and returns its id.
async fn provision_probe(manager: &crate::helpers::Api, key: &str, unit: &str) -> DeviceId {
    let created = manager
        .post(
            "/api/v1/devices",
            json!({
                "command_id": command_id(),
                "key": key,
                "name": format!("{unit} probe"),
                "kind": "probe",
                "limits": {
                    "unit": unit,
                    "profile": "cold_holding",
                    "max_celsius": 5.0,
                    "critical_celsius": 8.0,
                    "alert_delay_minutes": 15,
                    "report_interval_seconds": 60
                }
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    DeviceId(created["device"]["id"].as_str().unwrap().parse().unwrap())
}

fn reading(
    venue_id: VenueId,
    device_id: DeviceId,
    probe: &str,
    celsius: f64,
    measured_at: DateTime<Utc>,
) -> ReadingRow {
    ReadingRow {
        venue_id,
        device_id,
        probe: probe.into(),
        celsius,
        measured_at,
        received_at: measured_at,
    }
}

fn dated(reading: ReadingRow, day: NaiveDate) -> DatedReading {
    DatedReading { reading, day }
}

/// A fixed instant plus whole `seconds` (with microseconds, as both databases keep them).
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 3, 0, 0).unwrap()
        + chrono::Duration::microseconds(250_000)
        + chrono::Duration::seconds(seconds)
}

fn day(n: u32) -> NaiveDate {
    date(2025, 6, n)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// The value of an unlabelled metric in the Prometheus text format.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// Another client holding the readings table so the store cannot write to it: an
/// exclusive table lock on Postgres (writers wait), the database write lock on SQLite
/// (writers wait out their busy timeout, fail as unavailable and retry).
struct TableLock {
    connection_url: String,
    held: Held,
}

enum Held {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl TableLock {
    async fn take(db: &TestDatabase) -> Self {
        let held = match db.backend() {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(db.url()).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("LOCK TABLE device_readings IN EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Held::Postgres(conn)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Held::Sqlite(conn)
            }
        };
        Self {
            connection_url: db.url().to_owned(),
            held,
        }
    }

    async fn release(self) {
        match self.held {
            Held::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Held::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}
