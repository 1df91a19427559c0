//! Owns the device registry as the law at the MQTT door: once the answer to a provision,
//! enable, disable, rotate or remove has arrived, the door already acts on it (a new
//! device connects, an old secret is refused, every session that used it is closed and
//! nothing it sends afterwards reaches the hub), however quickly the device tries; and
//! the CONNECTs MQTT 3.1.1 tells a server to refuse (reserved flag, other protocol
//! levels) are refused the way the specification says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{net::SocketAddr, time::Duration};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use rumqttc::QoS;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    task::JoinHandle,
};

use crate::{
    database::TestDatabase,
    helpers::{Api, MANAGER_PIN, TestHub, command_id},
    mqtt::{Credentials, Device, Heard, fridge, metric, provision},
};

/// Everything the bridge heard: accepted telemetry and telemetry refused for the device.
async fn telemetry_heard(api: &Api) -> f64 {
    metric(api, "hub_mqtt_messages_total{kind=\"telemetry\"}").await
        + metric(api, "hub_mqtt_rejected_total{reason=\"unknown_device\"}").await
        + metric(api, "hub_mqtt_rejected_total{reason=\"device_disabled\"}").await
}

/// A session is closed: a reading published on it reaches nobody and the client hears
/// its connection end (or has heard it already).
async fn assert_closed(mut session: Device, what: &str) {
    let reading = json!({"msg_id": format!("late-{}", uuid::Uuid::new_v4()), "seq": 1_000_000,
                         "ts": Utc::now().to_rfc3339(), "readings": [{"probe": "main", "celsius": 9.5}]});
    let _ = session.client.try_publish(
        format!("{}/telemetry", session.prefix),
        QoS::AtLeastOnce,
        false,
        reading.to_string(),
    );
    loop {
        match session.next(Duration::from_secs(5)).await {
            Some(Heard::Closed(_)) => return,
            Some(Heard::Message { .. }) => continue,
            None => panic!("{what}: the session stays open"),
        }
    }
}

/// Keeps the venue's writer and the registry's followers busy the way a busy evening does
/// (another device's settings edited over and over), so a follower that lags behind the
/// answer shows; stops when the returned sender is dropped.
async fn busy_registry(manager: &Api) -> (tokio::sync::watch::Sender<()>, Vec<JoinHandle<()>>) {
    let other = provision(manager, fridge("busy-probe", 15, 60)).await;
    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut tasks = Vec::new();
    for worker in 0..2 {
        let manager = manager.clone();
        let path = format!("/api/v1/devices/{}", other.device_id);
        let mut stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            for edit in 0.. {
                let mut body = fridge("busy-probe", 15, 60);
                body["name"] = json!(format!("Busy probe {worker}.{edit}"));
                tokio::select! {
                    reply = manager.send(Method::PUT, &path, Some(body)) => {
                        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    }
                    _ = stopped.changed() => return,
                }
            }
        }));
    }
    (stop, tasks)
}

async fn calm(busy: (tokio::sync::watch::Sender<()>, Vec<JoinHandle<()>>)) {
    drop(busy.0);
    for task in busy.1 {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn after_a_rotation_is_answered_the_old_secret_is_refused_and_its_sessions_are_closed() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let mut current = provision(&manager, fridge("fridge-1", 0, 60)).await;
    let busy = busy_registry(&manager).await;
    let before = telemetry_heard(&manager).await;
    for round in 0..20 {
        let open = Device::connect(broker, &current, "fridge-1", true)
            .await
            .unwrap();
        // A CONNECT with the old secret whose argon2 check runs while the rotation does.
        let racing = {
            let old = current.clone();
            tokio::spawn(async move { Device::connect(broker, &old, "fridge-1-b", true).await })
        };
        let rotated = manager
            .post(
                &format!("/api/v1/devices/{}/rotate", current.device_id),
                json!({"command_id": command_id()}),
            )
            .await
            .expect(StatusCode::OK);
        let old = current.clone();
        current.password = rotated["credentials"]["password"]
            .as_str()
            .unwrap()
            .to_owned();
        let refused = Device::connect(broker, &old, "fridge-1-c", false).await;
        assert_eq!(
            refused.as_ref().err().map(String::as_str),
            Some("BadUserNamePassword"),
            "round {round}: the old secret still logs in"
        );
        assert_closed(open, &format!("round {round}, the open session")).await;
        if let Ok(raced) = racing.await.unwrap() {
            assert_closed(raced, &format!("round {round}, the racing session")).await;
        }
    }
    calm(busy).await;
    // Give anything that slipped through time to reach the bridge.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        telemetry_heard(&manager).await,
        before,
        "a reading sent on an old session after the rotation was answered reached the hub"
    );
    let alerts = crate::mqtt::alerts_until(&manager, &current.device_id, "none", |_| true).await;
    assert!(
        alerts.is_empty(),
        "no reading counted and a rotation is not the probe going offline: {alerts:#?}"
    );
    Device::connect(broker, &current, "fridge-1", false)
        .await
        .expect("the newest secret works")
        .disconnect()
        .await;
    hub.stop().await;
}

#[tokio::test]
async fn after_a_removal_is_answered_the_device_is_refused_and_its_sessions_are_closed() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let busy = busy_registry(&manager).await;
    let before = telemetry_heard(&manager).await;
    for round in 0..20 {
        let key = format!("gone-{round}");
        let credentials = provision(&manager, fridge(&key, 0, 60)).await;
        let open = Device::connect(broker, &credentials, &key, true)
            .await
            .unwrap();
        let racing = {
            let credentials = credentials.clone();
            tokio::spawn(async move { Device::connect(broker, &credentials, "racer", true).await })
        };
        manager
            .send(
                Method::DELETE,
                &format!(
                    "/api/v1/devices/{}?command_id={}",
                    credentials.device_id,
                    command_id()
                ),
                None,
            )
            .await
            .expect(StatusCode::OK);
        let refused = Device::connect(broker, &credentials, &key, false).await;
        assert_eq!(
            refused.as_ref().err().map(String::as_str),
            Some("BadUserNamePassword"),
            "round {round}: a removed device still logs in"
        );
        assert_closed(open, &format!("round {round}, the open session")).await;
        if let Ok(raced) = racing.await.unwrap() {
            assert_closed(raced, &format!("round {round}, the racing session")).await;
        }
    }
    calm(busy).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        telemetry_heard(&manager).await,
        before,
        "a removed device's session still carried readings after the removal was answered"
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_device_provisioned_enabled_or_disabled_a_moment_ago_is_treated_so_at_once() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let busy = busy_registry(&manager).await;
    for round in 0..25 {
        let key = format!("new-{round}");
        let credentials = provision(&manager, fridge(&key, 0, 60)).await;
        Device::connect(broker, &credentials, &key, false)
            .await
            .unwrap_or_else(|refusal| panic!("round {round}: a new device is refused: {refusal}"))
            .disconnect()
            .await;
        if round % 5 == 0 {
            let enabled = |on: bool| json!({"command_id": command_id(), "enabled": on});
            let path = format!("/api/v1/devices/{}/enabled", credentials.device_id);
            manager
                .post(&path, enabled(false))
                .await
                .expect(StatusCode::OK);
            let refused = Device::connect(broker, &credentials, &key, false).await;
            assert_eq!(
                refused.as_ref().err().map(String::as_str),
                Some("NotAuthorized"),
                "round {round}: a disabled device logs in"
            );
            manager
                .post(&path, enabled(true))
                .await
                .expect(StatusCode::OK);
            Device::connect(broker, &credentials, &key, false)
                .await
                .unwrap_or_else(|refusal| {
                    panic!("round {round}: an enabled device is refused: {refusal}")
                })
                .disconnect()
                .await;
        }
    }
    calm(busy).await;
    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"unknown_device\"}"
        )
        .await,
        0.0
    );
    hub.stop().await;
}

/// A CONNECT packet written by hand, to say what rumqttc never would.
fn connect_packet(
    protocol: &str,
    level: u8,
    reserved: bool,
    credentials: &Credentials,
    client_id: &str,
) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u16).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    let mut body = Vec::new();
    string(&mut body, protocol);
    body.push(level);
    // Clean session, user name and password.
    body.push(0b1100_0010 | u8::from(reserved));
    body.extend_from_slice(&30u16.to_be_bytes());
    if level == 5 {
        body.push(0); // MQTT 5: no properties
    }
    string(&mut body, client_id);
    string(&mut body, &credentials.username);
    string(&mut body, &credentials.password);
    assert!(body.len() < 128);
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    packet
}

/// Sends `packet` and returns all the gate answered before it closed the connection.
async fn answer_to(broker: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let mut socket = tokio::net::TcpStream::connect(broker).await.unwrap();
    socket.write_all(packet).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer))
        .await
        .expect("the gate closes the connection")
        .unwrap();
    answer
}

#[tokio::test]
async fn connects_the_mqtt_specification_refuses_are_refused_as_it_says() {
    let db = TestDatabase::sqlite().await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let broker = hub.mqtt.unwrap();
    let manager = hub.login(MANAGER_PIN).await;
    let credentials = provision(&manager, fridge("fridge-1", 15, 60)).await;

    // A good CONNECT written the same way is accepted (CONNACK 0)...
    let mut socket = tokio::net::TcpStream::connect(broker).await.unwrap();
    socket
        .write_all(&connect_packet("MQTT", 4, false, &credentials, "fridge-1"))
        .await
        .unwrap();
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), socket.read_exact(&mut connack))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    drop(socket);

    // ...MQTT 5, MQTT 3.1 and an unknown level get "unacceptable protocol version" (0x01).
    for (protocol, level) in [("MQTT", 5), ("MQIsdp", 3), ("MQTT", 9)] {
        let answer = answer_to(
            broker,
            &connect_packet(protocol, level, false, &credentials, "fridge-1"),
        )
        .await;
        assert_eq!(answer, [0x20, 0x02, 0x00, 0x01], "{protocol} level {level}");
    }
    // The reserved flag set: the connection is closed without a CONNACK (3.1.2.3).
    let answer = answer_to(
        broker,
        &connect_packet("MQTT", 4, true, &credentials, "fridge-1"),
    )
    .await;
    assert!(answer.is_empty(), "answered {answer:?}");
    // Flags in a CONNECT's fixed header are reserved too (2.2.2).
    let mut flagged = connect_packet("MQTT", 4, false, &credentials, "fridge-1");
    flagged[0] = 0x12;
    let answer = answer_to(broker, &flagged).await;
    assert!(answer.is_empty(), "answered {answer:?}");

    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"unsupported_protocol\"}"
        )
        .await,
        3.0
    );
    assert_eq!(
        metric(
            &manager,
            "hub_mqtt_connections_refused_total{reason=\"malformed_packet\"}"
        )
        .await,
        2.0
    );
    hub.stop().await;
}
