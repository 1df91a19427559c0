//! Owns the device side end to end: real MQTT clients (rumqttc) against the hub's embedded
//! broker and its gate (credentials, disabled and rotated devices, one device speaking as
//! another), the bridge feeding the food-safety rules (excursion delay, critical, offline
//! by last will and by silence) with alerts on the WebSocket and in the journal, refused
//! messages counted and answered, and external-broker mode against the machine's Mosquitto.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{net::SocketAddr, time::Duration};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use rumqttc::{AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    database::TestDatabase,
    helpers::{Api, KITCHEN_PIN, MANAGER_PIN, TestHub, command_id},
    screen::Screen,
};

on_both_backends!(an_excursion_alerts_once_after_its_delay_and_is_acknowledged_and_resolved);

/// What a device's connection reported.
#[derive(Debug)]
pub enum Heard {
    Message {
        topic: String,
        payload: Value,
    },
    #[allow(dead_code, reason = "read through Debug in failure messages")]
    Closed(String),
}

/// A device on a real MQTT connection.
pub struct Device {
    pub client: AsyncClient,
    inbox: mpsc::UnboundedReceiver<Heard>,
    task: JoinHandle<()>,
    pub prefix: String,
    seq: u64,
}

/// Credentials as provisioning returned them.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub device_id: String,
    pub username: String,
    pub password: String,
    pub prefix: String,
}

impl Device {
    /// Connects; `Err` carries the refusal (CONNACK code or connection error).
    pub async fn connect(
        broker: SocketAddr,
        credentials: &Credentials,
        client_id: &str,
        will: bool,
    ) -> Result<Device, String> {
        let mut options = MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        options.set_credentials(credentials.username.clone(), credentials.password.clone());
        options.set_keep_alive(Duration::from_secs(5));
        if will {
            options.set_last_will(LastWill::new(
                format!("{}/status", credentials.prefix),
                r#"{"state":"offline"}"#,
                QoS::AtLeastOnce,
                true,
            ));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let first = tokio::time::timeout(Duration::from_secs(10), eventloop.poll())
            .await
            .map_err(|_| "no CONNACK".to_owned())?;
        match first {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => return Err(format!("{:?}", ack.code)),
            Ok(other) => return Err(format!("unexpected {other:?}")),
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                return Err(format!("{code:?}"));
            }
            Err(error) => return Err(error.to_string()),
        }
        let (heard, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let payload =
                            serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
                        let _ = heard.send(Heard::Message {
                            topic: publish.topic,
                            payload,
                        });
                    }
                    Ok(_) => {}
                    Err(error) => {
                        let _ = heard.send(Heard::Closed(error.to_string()));
                        return;
                    }
                }
            }
        });
        Ok(Device {
            client,
            inbox,
            task,
            prefix: credentials.prefix.clone(),
            seq: 0,
        })
    }

    pub async fn listen(&self) {
        for kind in ["cmd", "error"] {
            self.client
                .subscribe(format!("{}/{kind}", self.prefix), QoS::AtLeastOnce)
                .await
                .unwrap();
        }
        // Let the SUBSCRIBE reach the broker before anything is published at us.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    pub async fn publish_raw(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    /// A telemetry message with the next seq; `at` is the device's clock.
    pub async fn reading(&mut self, celsius: f64, at: DateTime<Utc>) -> String {
        self.seq += 1;
        let msg_id = format!("m-{}", self.seq);
        let payload = json!({
            "msg_id": msg_id,
            "seq": self.seq,
            "ts": at.to_rfc3339(),
            "readings": [{"probe": "main", "celsius": celsius}],
        });
        self.publish_raw(&format!("{}/telemetry", self.prefix), payload.to_string())
            .await;
        msg_id
    }

    /// The next thing heard, within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Heard> {
        tokio::time::timeout(wait, self.inbox.recv())
            .await
            .ok()
            .flatten()
    }

    /// Drops the connection without DISCONNECT, as a crash or lost Wi-Fi would.
    pub fn drop_connection(self) {
        self.task.abort();
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.task.abort();
    }
}

/// Provisions a device through the API and returns its credentials.
pub async fn provision(manager: &Api, body: Value) -> Credentials {
    let created = manager
        .post("/api/v1/devices", body)
        .await
        .expect(StatusCode::CREATED);
    let credentials = &created["credentials"];
    Credentials {
        device_id: created["device"]["id"].as_str().unwrap().to_owned(),
        username: credentials["username"].as_str().unwrap().to_owned(),
        password: credentials["password"].as_str().unwrap().to_owned(),
        prefix: credentials["topic_prefix"].as_str().unwrap().to_owned(),
    }
}

pub fn fridge(key: &str, delay_minutes: u16, interval_seconds: u32) -> Value {
    json!({
        "command_id": command_id(),
        "key": key,
        "name": format!("Probe {key}"),
        "kind": "probe",
        "limits": {
            "unit": format!("Fridge {key}"),
            "profile": "cold_holding",
            "max_celsius": 5.0,
            "critical_celsius": 8.0,
            "alert_delay_minutes": delay_minutes,
            "report_interval_seconds": interval_seconds
        }
    })
}

/// Polls the food-safety alerts until `done` holds for the device's alerts.
pub async fn alerts_until(
    api: &Api,
    device_id: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = api
            .get("/api/v1/food-safety/alerts")
            .await
            .expect(StatusCode::OK);
        let mine: Vec<Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["device_id"] == device_id)
            .cloned()
            .collect();
        if done(&mine) {
            return mine;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; alerts now: {mine:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn metric(api: &Api, line_start: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn an_excursion_alerts_once_after_its_delay_and_is_acknowledged_and_resolved(
    db: TestDatabase,
) {
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let mut screen = Screen::connect(&hub, &kitchen).await;
    screen.subscribe("alerts", None).await;
    let mut probe = Device::connect(broker, &credentials, "fridge-1", true)
        .await
        .unwrap();

    // A door left open for 10 minutes: out of limits, but shorter than the 15-minute delay.
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
    probe.reading(3.5, minutes(0)).await;
    probe.reading(6.5, minutes(1)).await;
    probe.reading(6.8, minutes(6)).await;
    probe.reading(6.1, minutes(11)).await;
    probe.reading(4.0, minutes(12)).await;
    // Then a compressor failure: out of limits for 20 minutes.
    probe.reading(6.0, minutes(20)).await;
    probe.reading(6.4, minutes(30)).await;
    probe.reading(7.1, minutes(36)).await;
    probe.reading(7.5, minutes(40)).await;

    let alerts = alerts_until(
        &manager,
        &credentials.device_id,
        "one excursion alert",
        |a| !a.is_empty(),
    )
    .await;
    // Give a second alert every chance to appear before asserting there is none.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts = alerts_until(&manager, &credentials.device_id, "settled", |a| {
        a.len() == alerts.len()
    })
    .await;
    assert_eq!(alerts.len(), 1, "exactly one alert: {alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert["kind"], "excursion");
    assert_eq!(alert["celsius"], 7.1);
    assert_eq!(alert["limit"], 5.0);
    // The record is on the hub's clock: raised now, since as long ago as the probe measured
    // (the excursion began with the 20-minute reading, the 36-minute one raised it).
    let since: DateTime<Utc> = alert["since"].as_str().unwrap().parse().unwrap();
    let raised_at: DateTime<Utc> = alert["raised_at"].as_str().unwrap().parse().unwrap();
    let lasted = raised_at - since;
    assert!(
        lasted >= chrono::Duration::minutes(16)
            && lasted < chrono::Duration::minutes(16) + chrono::Duration::seconds(5),
        "the excursion had lasted 16 minutes when it was raised: {alert:#}"
    );

    let frame = screen.event("alerts", "food_safety_alert").await;
    assert_eq!(frame["data"]["id"], alert["id"], "{frame:#}");

    // The kitchen acknowledges, a manager resolves with the corrective action.
    let id = alert["id"].as_str().unwrap();
    kitchen
        .post(
            &format!("/api/v1/food-safety/alerts/{id}/acknowledge"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    manager
        .post(
            &format!("/api/v1/food-safety/alerts/{id}/resolve"),
            json!({"command_id": command_id(), "corrective_action": "Moved stock to the reach-in; technician called"}),
        )
        .await
        .expect(StatusCode::OK);
    let events = manager
        .get("/api/v1/events?kind=food_safety_alert_raised,food_safety_alert_acknowledged,food_safety_alert_resolved")
        .await
        .expect(StatusCode::OK);
    let mut journal: Vec<(i64, &str, Option<&str>)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["kind"].as_str().unwrap(),
                e["device"].as_str(),
            )
        })
        .collect();
    journal.sort();
    assert_eq!(
        journal[0].2,
        Some("fridge-1"),
        "raised by the probe itself: {events:#}"
    );
    let kinds: Vec<&str> = journal.iter().map(|e| e.1).collect();
    assert_eq!(
        kinds,
        [
            "food_safety_alert_raised",
            "food_safety_alert_acknowledged",
            "food_safety_alert_resolved"
        ],
        "{events:#}"
    );
    probe.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn credentials_are_checked_and_disabled_or_rotated_devices_are_refused() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let good = provision(&manager, fridge("fridge-1", 15, 60)).await;

    let device = Device::connect(broker, &good, "fridge-1", false).await;
    assert!(device.is_ok(), "{:?}", device.err());
    device.unwrap().disconnect().await;

    let wrong_secret = Credentials {
        password: "not-the-secret".into(),
        ..good.clone()
    };
    let unknown = Credentials {
        username: "demo/no-such-device".into(),
        ..good.clone()
    };
    let other_venue = Credentials {
        username: "elsewhere/fridge-1".into(),
        ..good.clone()
    };
    for refused in [&wrong_secret, &unknown, &other_venue] {
        let answer = Device::connect(broker, refused, "x", false).await;
        assert_eq!(
            answer.err().as_deref(),
            Some("BadUserNamePassword"),
            "{refused:?}"
        );
    }

    // Disabling closes the open connection and refuses the next one.
    let mut open = Device::connect(broker, &good, "fridge-1", false)
        .await
        .unwrap();
    manager
        .post(
            &format!("/api/v1/devices/{}/enabled", good.device_id),
            json!({"command_id": command_id(), "enabled": false}),
        )
        .await
        .expect(StatusCode::OK);
    match open.next(Duration::from_secs(5)).await {
        Some(Heard::Closed(_)) => {}
        other => panic!("the disabled device's connection stays open: {other:?}"),
    }
    let answer = Device::connect(broker, &good, "fridge-1", false).await;
    assert_eq!(answer.err().as_deref(), Some("NotAuthorized"));

    // Rotating: the old secret stops working, the new one works.
    manager
        .post(
            &format!("/api/v1/devices/{}/enabled", good.device_id),
            json!({"command_id": command_id(), "enabled": true}),
        )
        .await
        .expect(StatusCode::OK);
    let rotated = manager
        .post(
            &format!("/api/v1/devices/{}/rotate", good.device_id),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    let fresh = Credentials {
        password: rotated["credentials"]["password"]
            .as_str()
            .unwrap()
            .to_owned(),
        ..good.clone()
    };
    let answer = Device::connect(broker, &good, "fridge-1", false).await;
    assert_eq!(answer.err().as_deref(), Some("BadUserNamePassword"));
    Device::connect(broker, &fresh, "fridge-1", false)
        .await
        .unwrap()
        .disconnect()
        .await;

    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"bad_secret\"}"
        )
        .await,
        2.0
    );
    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"device_disabled\"}"
        )
        .await,
        1.0
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_device_cannot_speak_as_another_device_nor_hear_its_commands() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let honest = provision(&manager, fridge("fridge-1", 0, 60)).await;
    let rogue = provision(&manager, fridge("fridge-2", 0, 60)).await;

    // Publishing a critical reading on the other device's topic closes the connection and
    // raises nothing for the victim.
    let intruder = Device::connect(broker, &rogue, "fridge-2", false)
        .await
        .unwrap();
    intruder
        .publish_raw(
            "almahira/v1/demo/fridge-1/telemetry",
            json!({"msg_id": "x", "seq": 1, "readings": [{"probe": "main", "celsius": 30.0}]})
                .to_string(),
        )
        .await;
    let mut intruder = intruder;
    match intruder.next(Duration::from_secs(5)).await {
        Some(Heard::Closed(_)) => {}
        other => panic!("the gate let a foreign publish through: {other:?}"),
    }

    // A wildcard subscription to eavesdrop is refused the same way.
    let eavesdropper = Device::connect(broker, &rogue, "fridge-2", false)
        .await
        .unwrap();
    eavesdropper
        .client
        .subscribe("almahira/v1/#", QoS::AtMostOnce)
        .await
        .unwrap();
    let mut eavesdropper = eavesdropper;
    match eavesdropper.next(Duration::from_secs(5)).await {
        Some(Heard::Closed(_)) => {}
        other => panic!("the gate let a wildcard subscription through: {other:?}"),
    }

    // A last will on someone else's status is refused at connect.
    let mut options = MqttOptions::new("fridge-2", broker.ip().to_string(), broker.port());
    options.set_credentials(rogue.username.clone(), rogue.password.clone());
    options.set_last_will(LastWill::new(
        "almahira/v1/demo/fridge-1/status",
        r#"{"state":"offline"}"#,
        QoS::AtLeastOnce,
        true,
    ));
    let (_client, mut eventloop) = AsyncClient::new(options, 8);
    match eventloop.poll().await {
        Err(rumqttc::ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized)) => {}
        other => panic!("a foreign will was accepted: {other:?}"),
    }

    // The honest device's own reading still counts: its topics work as before.
    let mut victim = Device::connect(broker, &honest, "fridge-1", false)
        .await
        .unwrap();
    victim.reading(9.0, Utc::now()).await;
    let alerts = alerts_until(
        &manager,
        &honest.device_id,
        "the honest critical alert",
        |a| !a.is_empty(),
    )
    .await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["celsius"], 9.0,
        "not the intruder's 30 °C: {alerts:#?}"
    );
    let rogue_alerts = alerts_until(&manager, &rogue.device_id, "none", |_| true).await;
    assert!(rogue_alerts.is_empty());
    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"foreign_topic\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"foreign_subscription\"}"
        )
        .await,
        1.0
    );
    victim.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_probe_goes_offline_by_its_last_will_and_by_silence() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let crashing = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let silent = provision(&manager, fridge("fridge-2", 15, 5)).await;

    // A crash: the connection drops without DISCONNECT, the broker sends the will.
    let mut probe = Device::connect(broker, &crashing, "fridge-1", true)
        .await
        .unwrap();
    probe.reading(3.0, Utc::now()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    probe.drop_connection();
    let alerts = alerts_until(&manager, &crashing.device_id, "offline by will", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(alerts[0]["kind"], "offline");

    // A probe that says goodbye properly and then never reports again (interval 5 s):
    // offline after three intervals of silence.
    let mut quiet = Device::connect(broker, &silent, "fridge-2", true)
        .await
        .unwrap();
    quiet.reading(3.0, Utc::now()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    quiet.disconnect().await;
    let started = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = alerts_until(&manager, &silent.device_id, "nothing yet", |_| true).await;
    assert!(
        early.is_empty(),
        "a clean disconnect is not a failure: {early:#?}"
    );
    let alerts = alerts_until(&manager, &silent.device_id, "offline by silence", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(alerts[0]["kind"], "offline");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );

    // Heard again: the alert is marked recovered (it stays open until resolved).
    let mut back = Device::connect(broker, &crashing, "fridge-1", true)
        .await
        .unwrap();
    back.seq = 100;
    back.reading(3.1, Utc::now()).await;
    let alerts = alerts_until(&manager, &crashing.device_id, "recovered", |a| {
        a.iter().any(|x| !x["recovered_at"].is_null())
    })
    .await;
    assert_eq!(alerts.len(), 1);
    back.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn refused_messages_are_counted_answered_and_the_bridge_keeps_working() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let mut probe = Device::connect(broker, &credentials, "fridge-1", false)
        .await
        .unwrap();
    probe.listen().await;
    let telemetry = format!("{}/telemetry", probe.prefix);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (telemetry.as_str(), b"not json".to_vec(), "not_json"),
        (telemetry.as_str(), vec![0xff, 0xfe, 0x00], "not_utf8"),
        (
            telemetry.as_str(),
            br#"{"msg_id":"a","seq":1,"readings":[{"probe":"main","celcius":3}]}"#.to_vec(),
            "bad_shape",
        ),
        (
            telemetry.as_str(),
            br#"{"msg_id":"b","seq":2,"readings":[{"probe":"main","celsius":900}]}"#.to_vec(),
            "absurd_value",
        ),
    ];
    for (topic, payload, _) in &cases {
        probe.publish_raw(topic, payload.clone()).await;
    }
    probe
        .publish_raw(&format!("{}/telemtry", probe.prefix), "{}")
        .await;
    let mut codes = Vec::new();
    while codes.len() < cases.len() + 1 {
        match probe.next(Duration::from_secs(5)).await {
            Some(Heard::Message { topic, payload }) => {
                assert!(topic.ends_with("/error"), "{topic}");
                codes.push(payload["code"].as_str().unwrap().to_owned());
            }
            other => panic!("expected error replies, got {other:?} after {codes:?}"),
        }
    }
    let mut expected: Vec<String> = cases.iter().map(|c| c.2.to_owned()).collect();
    expected.push("bad_topic".into());
    assert_eq!(codes, expected);

    // A duplicate (QoS 1 redelivery) is dropped silently; an old seq is counted.
    probe.seq = 10;
    let now = Utc::now();
    probe.reading(3.0, now).await;
    let again = json!({"msg_id": "m-11", "seq": 11, "ts": now.to_rfc3339(), "readings": [{"probe": "main", "celsius": 3.0}]});
    probe.publish_raw(&telemetry, again.to_string()).await;
    let late = json!({"msg_id": "late", "seq": 4, "readings": [{"probe": "main", "celsius": 3.0}]});
    probe.publish_raw(&telemetry, late.to_string()).await;
    // Through all that, a real problem still raises its alert.
    probe.reading(9.5, now).await;
    let alerts = alerts_until(&manager, &credentials.device_id, "critical", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(alerts[0]["kind"], "critical");
    for (reason, count) in [
        ("not_json", 1.0),
        ("not_utf8", 1.0),
        ("bad_shape", 1.0),
        ("absurd_value", 1.0),
        ("bad_topic", 1.0),
        ("duplicate", 1.0),
        ("out_of_order", 1.0),
    ] {
        assert_eq!(
            metric(
                &manager,
                &format!("hub_mqtt_rejected_total{{reason=\"{reason}\"}}")
            )
            .await,
            count,
            "{reason}"
        );
    }
    probe.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn the_hub_works_with_an_external_broker_through_a_shared_subscription() {
    // The machine's Mosquitto on 127.0.0.1:1883 authenticates nobody; device keys are unique
    // per run so parallel runs never mix their topics.
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with(&db, |settings| {
        settings.mqtt = hub::mqtt::MqttMode::External {
            url: "mqtt://127.0.0.1:1883".into(),
        };
    })
    .await;
    let manager = hub.login(MANAGER_PIN).await;
    let key = format!("ext-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let credentials = provision(&manager, fridge(&key, 15, 60)).await;
    let mosquitto = SocketAddr::from(([127, 0, 0, 1], 1883));
    // The hub's subscription is asynchronous; retry the reading until it is seen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut probe = Device::connect(mosquitto, &credentials, &key, false)
        .await
        .unwrap();
    probe.listen().await;
    loop {
        probe.reading(9.0, Utc::now()).await;
        let all = manager
            .get("/api/v1/food-safety/alerts")
            .await
            .expect(StatusCode::OK);
        if all
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["device_id"] == credentials.device_id)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub never saw the reading"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A refusal is answered through the external broker too.
    probe
        .publish_raw(&format!("{}/telemetry", probe.prefix), "{oops")
        .await;
    loop {
        match probe.next(Duration::from_secs(10)).await {
            Some(Heard::Message { topic, payload }) if topic.ends_with("/error") => {
                assert_eq!(payload["code"], "not_json");
                break;
            }
            Some(Heard::Message { .. }) => continue,
            other => panic!("no error reply through Mosquitto: {other:?}"),
        }
    }
    // A device the registry does not know is told so (Mosquitto let it in; the hub did not).
    let stranger = format!("almahira/v1/demo/{key}-x");
    probe
        .client
        .subscribe(format!("{stranger}/error"), QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    probe
        .publish_raw(
            &format!("{stranger}/telemetry"),
            json!({"msg_id": "s-1", "seq": 1, "readings": []}).to_string(),
        )
        .await;
    loop {
        match probe.next(Duration::from_secs(10)).await {
            Some(Heard::Message { topic, payload }) if topic == format!("{stranger}/error") => {
                assert_eq!(payload["code"], "unknown_device");
                assert_eq!(payload["msg_id"], "s-1");
                break;
            }
            Some(Heard::Message { .. }) => continue,
            other => panic!("no unknown_device reply: {other:?}"),
        }
    }
    probe.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn garbage_on_the_mqtt_port_is_refused_and_devices_still_connect() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n"[..],
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
        &[0x10, 0x02, 0x00, 0x00][..],
    ] {
        let mut socket = tokio::net::TcpStream::connect(broker).await.unwrap();
        socket.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the gate closes the connection for {garbage:?}"
        );
    }
    let mut device = Device::connect(broker, &credentials, "fridge-1", false)
        .await
        .unwrap();
    device.reading(9.0, Utc::now()).await;
    alerts_until(
        &manager,
        &credentials.device_id,
        "an alert after the garbage",
        |a| !a.is_empty(),
    )
    .await;
    let refused = metric(
        &manager,
        "hub_mqtt_connections_refused_total{reason=\"not_connect\"}",
    )
    .await
        + metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"malformed_packet\"}",
        )
        .await;
    assert_eq!(refused, 3.0);
    device.disconnect().await;
    hub.stop().await;
}

/// A telemetry payload with the main probe's reading, from the boot `boot` if given.
fn telemetry(
    msg_id: &str,
    seq: u64,
    celsius: f64,
    at: DateTime<Utc>,
    boot: Option<&str>,
) -> String {
    let mut payload = json!({
        "msg_id": msg_id,
        "seq": seq,
        "ts": at.to_rfc3339(),
        "readings": [{"probe": "main", "celsius": celsius}],
    });
    if let Some(boot) = boot {
        payload["boot"] = json!(boot);
    }
    payload.to_string()
}

/// The stored readings of a device, as the history endpoint answers them.
async fn stored_readings(api: &Api, device_id: &str) -> Vec<f64> {
    let history = api
        .get(&format!(
            "/api/v1/devices/{device_id}/readings?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
        ))
        .await
        .expect(StatusCode::OK);
    history["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["celsius"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_probe_that_restarts_its_counter_is_heard_again_while_duplicates_are_not() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let t0 = Utc::now() - chrono::Duration::hours(1);
    let minute = |m: i64| t0 + chrono::Duration::minutes(m);
    // Readings are stored by the time they were measured: every message here has its own.
    let second = |s: i64| minute(5) + chrono::Duration::seconds(s);

    // A first run: readings in limits, one critical, back in limits.
    let probe = Device::connect(broker, &credentials, "fridge-1", true)
        .await
        .unwrap();
    let topic = format!("{}/telemetry", probe.prefix);
    for seq in 1..=30 {
        let celsius = if seq == 29 { 9.0 } else { 3.0 };
        probe
            .publish_raw(
                &topic,
                telemetry(
                    &format!("fridge-1-{seq:06}"),
                    seq,
                    celsius,
                    minute(seq as i64),
                    None,
                ),
            )
            .await;
    }
    alerts_until(
        &manager,
        &credentials.device_id,
        "the first run's alert",
        |a| a.len() == 1 && !a[0]["recovered_at"].is_null(),
    )
    .await;
    probe.disconnect().await;

    // The probe reboots: a new connection, seq from 1 again, its clock set back, and its
    // msg_ids, made from the seq, the same as the first run's (their content is not).
    let rebooted = Device::connect(broker, &credentials, "fridge-1", true)
        .await
        .unwrap();
    for (seq, celsius) in [(1, 3.1), (2, 3.2), (3, 9.4)] {
        rebooted
            .publish_raw(
                &topic,
                telemetry(
                    &format!("fridge-1-{seq:06}"),
                    seq,
                    celsius,
                    second(seq as i64),
                    None,
                ),
            )
            .await;
    }
    let alerts = alerts_until(
        &manager,
        &credentials.device_id,
        "the second run's alert",
        |a| a.len() == 2,
    )
    .await;
    assert!(
        alerts.iter().any(|a| a["celsius"] == 9.4),
        "the rebooted probe's critical reading alerts: {alerts:#?}"
    );

    // True duplicates are still dropped: the same message again, and a seq replayed on
    // this connection under a new msg_id.
    rebooted
        .publish_raw(
            &topic,
            telemetry("fridge-1-000003", 3, 9.4, second(3), None),
        )
        .await;
    rebooted
        .publish_raw(
            &topic,
            telemetry("fridge-1-replay", 2, 3.2, second(4), None),
        )
        .await;
    // A device that names its boot restarts without reconnecting, and within one boot a
    // replayed seq is refused however far below the last it is.
    for (n, (msg_id, seq, boot)) in [
        ("boot-a-1", 1, "a"),
        ("boot-a-2", 2, "a"),
        ("boot-a-3", 3, "a"),
        ("boot-a-again", 1, "a"),
        ("boot-b-1", 1, "b"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = second(10 + n as i64);
        rebooted
            .publish_raw(&topic, telemetry(msg_id, seq, 3.3, at, Some(boot)))
            .await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let readings = stored_readings(&manager, &credentials.device_id).await;
        // 30 of the first run, 3 of the second, 4 of the named boots and the two replayed
        // seqs (kept as late data, never fed to the rules); not the duplicate.
        if readings.len() >= 39 {
            assert!(readings.contains(&9.4), "{readings:?}");
            assert_eq!(readings.len(), 39, "{readings:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rebooted probe's readings are stored: {readings:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (line, count) in [
        ("hub_mqtt_rejected_total{reason=\"duplicate\"}", 1.0),
        ("hub_mqtt_rejected_total{reason=\"out_of_order\"}", 2.0),
        ("hub_mqtt_counter_restarts_total{cause=\"reconnect\"}", 1.0),
        ("hub_mqtt_counter_restarts_total{cause=\"boot\"}", 2.0),
    ] {
        assert_eq!(metric(&manager, line).await, count, "{line}");
    }
    rebooted.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn probes_that_say_goodbye_and_disconnect_are_not_offline() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let mut fleet = Vec::new();
    for n in 0..8 {
        let key = format!("fridge-{n}");
        let credentials = provision(&manager, fridge(&key, 15, 60)).await;
        let mut probe = Device::connect(broker, &credentials, &key, true)
            .await
            .unwrap();
        let status = format!("{}/status", probe.prefix);
        probe
            .client
            .publish(&status, QoS::AtLeastOnce, true, r#"{"state":"online"}"#)
            .await
            .unwrap();
        probe.reading(3.0, Utc::now()).await;
        fleet.push((credentials, probe, status));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // As firmware-sim and battery probes stop: `offline` retained, then DISCONNECT, all at once.
    for (_, probe, status) in &fleet {
        probe
            .client
            .try_publish(status, QoS::AtLeastOnce, true, r#"{"state":"offline"}"#)
            .unwrap();
        probe.client.try_disconnect().unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (credentials, probe, _) in fleet {
        let alerts = alerts_until(&manager, &credentials.device_id, "none", |_| true).await;
        assert!(
            alerts.is_empty(),
            "a clean disconnect is not a failure: {alerts:#?}"
        );
        probe.drop_connection();
    }
    hub.stop().await;
}

#[tokio::test]
async fn an_alert_record_is_on_the_hubs_clock_even_when_the_probes_clock_runs_ahead() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let mut probe = Device::connect(broker, &credentials, "fridge-1", true)
        .await
        .unwrap();
    // The probe's clock is two hours ahead of the hub's.
    let t0 = Utc::now() + chrono::Duration::hours(2);
    let minute = |m: i64| t0 + chrono::Duration::minutes(m);
    probe.reading(3.0, minute(0)).await;
    probe.reading(6.0, minute(5)).await;
    probe.reading(6.5, minute(12)).await;
    probe.reading(6.9, minute(21)).await;
    probe.reading(9.0, minute(22)).await;
    let alerts = alerts_until(&manager, &credentials.device_id, "two alerts", |a| {
        a.len() == 2
    })
    .await;
    for alert in &alerts {
        let since: DateTime<Utc> = alert["since"].as_str().unwrap().parse().unwrap();
        let raised_at: DateTime<Utc> = alert["raised_at"].as_str().unwrap().parse().unwrap();
        assert!(since <= raised_at, "raised before it began: {alert:#}");
        assert!(
            raised_at <= Utc::now(),
            "raised_at is the hub's time: {alert:#}"
        );
        let lasted = raised_at - since;
        let measured = if alert["kind"] == "excursion" {
            chrono::Duration::minutes(16)
        } else {
            chrono::Duration::minutes(17)
        };
        assert!(
            lasted >= measured && lasted < measured + chrono::Duration::seconds(5),
            "since is as long before raised_at as the probe measured: {alert:#}"
        );
    }
    probe.disconnect().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_venues_engine_queue_depth_is_in_metrics_and_empties_once_its_alarm_is_raised() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;
    let mut probe = Device::connect(broker, &credentials, "fridge-1", true)
        .await
        .unwrap();
    // Beyond the critical 8 °C: an alarm at once, through the venue's engine queue.
    probe.reading(9.0, Utc::now()).await;
    let alerts = alerts_until(&manager, &credentials.device_id, "a critical alert", |a| {
        !a.is_empty()
    })
    .await;
    assert_eq!(alerts[0]["kind"], "critical");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{}/metrics", manager.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let depth: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("hub_mqtt_engine_queue_depth{"))
            .collect();
        if depth.len() == 1 && depth[0].ends_with(" 0") {
            // Nothing here filled the queue, so the bridge never had to wait.
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("hub_mqtt_engine_queue_full_total{")
                        && !l.ends_with(" 0")),
                "{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue's depth never read 0: {depth:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
