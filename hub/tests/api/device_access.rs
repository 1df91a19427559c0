//! Owns the CONNECTs MQTT 3.1.1 tells a server to refuse (reserved flag, other protocol
//! levels), refused at the MQTT door the way the specification says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{net::SocketAddr, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    database::TestDatabase,
    helpers::{MANAGER_PIN, TestHub},
    mqtt::{Credentials, fridge, metric, provision},
};

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
