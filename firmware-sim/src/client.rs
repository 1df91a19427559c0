//! One MQTT connection per simulated device (rumqttc, MQTT 3.1.1, keepalive 30 s): the
//! retained `online` status right after each connect, `offline` as the last will, its own
//! `cmd` and `error` topics subscribed, downlink decoded and counted, and reconnection
//! with backoff on its own. What to publish and when is the fleet's business; this module
//! only carries it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use devices::UplinkMessage;
use devices::codec::{DownlinkMessage, decode_downlink, encode_uplink};
use devices::payload::{Command, DeviceKind, DeviceState, Status};
use devices::topic::{PREFIX, TopicKind, VERSION};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet,
    Publish, QoS, Request, Subscribe, SubscribeFilter,
};
use tokio::task::JoinHandle;

use crate::models::Rng;
use crate::progress::Stats;
use crate::provision::DeviceCredential;

/// MQTT keepalive the hub expects.
pub const KEEPALIVE: Duration = Duration::from_secs(30);
/// Requests a device may queue while its connection is busy or down; beyond that new
/// messages are dropped and counted, as a real device with a small buffer would.
pub const QUEUE_CAPACITY: usize = 64;
/// Unacknowledged QoS 1 messages in flight per device.
pub const INFLIGHT: u16 = 32;
/// Largest packet either way; device payloads are at most 8 KiB.
const MAX_PACKET_BYTES: usize = 16 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The broker refused us: credentials are unlikely to fix themselves within a second.
const REFUSED_BACKOFF: Duration = Duration::from_secs(5);

/// Where the broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Broker {
    type Err = String;

    /// `host:port`, `host` (port 1883) or `mqtt://host:port`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("mqtt://").unwrap_or(s).trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("bad port in {s:?}: expected HOST:PORT"))?,
            ),
            None => (rest, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("no host in {s:?}: expected HOST:PORT"));
        }
        Ok(Broker {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Who a connection speaks for.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    pub venue: String,
    pub key: String,
    pub kind: DeviceKind,
    pub credential: DeviceCredential,
}

impl DeviceIdentity {
    /// The device's topic of `kind`. Venue and key are checked once, by the fleet.
    pub fn topic(&self, kind: TopicKind) -> String {
        format!("{PREFIX}/{VERSION}/{}/{}/{kind}", self.venue, self.key)
    }
}

/// The retained status payloads: what the device says on connect, and its last will.
pub fn status_payload(state: DeviceState, kind: DeviceKind) -> Vec<u8> {
    let status = match state {
        DeviceState::Online => Status {
            state,
            firmware: Some(concat!("firmware-sim ", env!("CARGO_PKG_VERSION")).to_owned()),
            kind: Some(kind),
            ip: None,
            rssi: None,
        },
        DeviceState::Offline => Status {
            state,
            firmware: None,
            kind: None,
            ip: None,
            rssi: None,
        },
    };
    encode_uplink(&UplinkMessage::Status(status))
}

/// The MQTT options of a device: client id and username `<venue>/<key>` (unique across
/// venues on a shared broker), keepalive 30 s, clean session, `offline` as the last will.
pub fn mqtt_options(broker: &Broker, identity: &DeviceIdentity) -> MqttOptions {
    let mut options = MqttOptions::new(
        identity.credential.username.clone(),
        broker.host.clone(),
        broker.port,
    );
    options
        .set_keep_alive(KEEPALIVE)
        .set_clean_session(true)
        .set_inflight(INFLIGHT)
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
        .set_credentials(
            identity.credential.username.clone(),
            identity.credential.password.clone(),
        )
        .set_last_will(LastWill::new(
            identity.topic(TopicKind::Status),
            status_payload(DeviceState::Offline, identity.kind),
            QoS::AtLeastOnce,
            true,
        ));
    options
}

/// A running device connection.
#[derive(Debug)]
pub struct Connection {
    client: AsyncClient,
    task: JoinHandle<()>,
    status_topic: String,
    kind: DeviceKind,
}

impl Connection {
    /// Starts the device's connection task; it connects, and reconnects, on its own until
    /// `stopping` is set and the connection ends.
    pub fn open(
        broker: &Broker,
        identity: &DeviceIdentity,
        stats: Arc<Stats>,
        stopping: Arc<AtomicBool>,
    ) -> Self {
        let (client, mut eventloop) =
            AsyncClient::new(mqtt_options(broker, identity), QUEUE_CAPACITY);
        eventloop.network_options.set_connection_timeout(10);
        let downlink = [
            identity.topic(TopicKind::Cmd),
            identity.topic(TopicKind::Error),
        ];
        let status_topic = identity.topic(TopicKind::Status);
        let online = status_payload(DeviceState::Online, identity.kind);
        let seed = identity.key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let task = tokio::spawn(drive(
            eventloop,
            Greeting {
                downlink,
                status_topic: status_topic.clone(),
                online,
            },
            stats,
            stopping,
            Rng::new(seed),
        ));
        Self {
            client,
            task,
            status_topic,
            kind: identity.kind,
        }
    }

    /// Queues a publish; `false` (and nothing sent) when the device's queue is full.
    pub fn try_publish(&self, topic: &str, qos: QoS, payload: Vec<u8>) -> bool {
        self.client.try_publish(topic, qos, false, payload).is_ok()
    }

    /// Stops cleanly: publishes the retained `offline` status, then disconnects, so the
    /// broker does not fire the will. Call after setting the `stopping` flag. A device whose
    /// outgoing queue is full (a busy probe under load) waits for room, up to `patience`,
    /// rather than dropping its goodbye and being cut off as if it had lost power.
    pub async fn say_goodbye(&self, patience: Duration) {
        let offline = status_payload(DeviceState::Offline, self.kind);
        let goodbye = async {
            let _ = self
                .client
                .publish(&self.status_topic, QoS::AtLeastOnce, true, offline)
                .await;
            // Give the goodbye's PUBACK time to come back before DISCONNECT closes the
            // socket: a PUBACK written into a closed socket draws a reset, and a reset can
            // lose the DISCONNECT still unread on the broker's side, which then reads as a
            // lost connection (an `offline` alert).
            tokio::time::sleep(GOODBYE_ACK_WAIT).await;
            let _ = self.client.disconnect().await;
        };
        let _ = tokio::time::timeout(patience, goodbye).await;
    }

    /// Waits for the connection task to end, at most `timeout`; then cuts it off.
    pub async fn finish(self, timeout: Duration) {
        let abort = self.task.abort_handle();
        if tokio::time::timeout(timeout, self.task).await.is_err() {
            abort.abort();
        }
    }

    /// Pulls the plug: the socket closes without a DISCONNECT, as when a device loses
    /// power, so the broker publishes the last will.
    pub fn kill(self) {
        self.task.abort();
    }
}

/// How long a stopping device waits for its goodbye's PUBACK before it disconnects.
const GOODBYE_ACK_WAIT: Duration = Duration::from_millis(300);

/// What a device sends first on every connection.
struct Greeting {
    downlink: [String; 2],
    status_topic: String,
    online: Vec<u8>,
}

impl Greeting {
    /// Subscribe to our downlink topics and announce `online`, ahead of anything queued
    /// while we were away.
    fn queue_first(&self, eventloop: &mut EventLoop) {
        let mut status = Publish::new(&self.status_topic, QoS::AtLeastOnce, self.online.clone());
        status.retain = true;
        let subscribe = Subscribe::new_many(
            self.downlink
                .iter()
                .map(|topic| SubscribeFilter::new(topic.clone(), QoS::AtLeastOnce)),
        );
        eventloop.pending.push_front(Request::Publish(status));
        eventloop.pending.push_front(Request::Subscribe(subscribe));
    }
}

async fn drive(
    mut eventloop: EventLoop,
    greeting: Greeting,
    stats: Arc<Stats>,
    stopping: Arc<AtomicBool>,
    mut rng: Rng,
) {
    let mut connected = false;
    let mut ever_connected = false;
    let mut backoff = FIRST_BACKOFF;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                greeting.queue_first(&mut eventloop);
                connected = true;
                stats.connects.fetch_add(1, Relaxed);
                stats.connected.fetch_add(1, Relaxed);
                if ever_connected {
                    stats.reconnects.fetch_add(1, Relaxed);
                }
                ever_connected = true;
                backoff = FIRST_BACKOFF;
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => on_downlink(&publish, &stats),
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                stats.puback.fetch_add(1, Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if stopping.load(Relaxed) => break,
            Ok(_) => {}
            Err(error) => {
                if connected {
                    connected = false;
                    stats.connected.fetch_sub(1, Relaxed);
                }
                if stopping.load(Relaxed) {
                    break;
                }
                let pause = if let ConnectionError::ConnectionRefused(code) = &error {
                    stats.refused.fetch_add(1, Relaxed);
                    stats.note_connection_error(format!("broker refused: {code:?}"));
                    REFUSED_BACKOFF
                } else {
                    stats.note_connection_error(error.to_string());
                    backoff
                };
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // Jitter keeps a fleet that lost the broker together from returning in step.
                tokio::time::sleep(pause.mul_f64(rng.between(0.5, 1.0))).await;
                if stopping.load(Relaxed) {
                    break;
                }
            }
        }
    }
    if connected {
        stats.connected.fetch_sub(1, Relaxed);
    }
}

fn on_downlink(publish: &Publish, stats: &Stats) {
    match decode_downlink(&publish.topic, &publish.payload) {
        Ok(downlink) => match downlink.message {
            DownlinkMessage::Command(command) => stats.note_command(command_type(&command)),
            DownlinkMessage::Error(reply) => stats.note_error_reply(&reply.code),
        },
        Err(_) => {
            stats.bad_downlink.fetch_add(1, Relaxed);
        }
    }
}

/// The `type` tag of a command.
pub fn command_type(command: &Command) -> &'static str {
    match command {
        Command::Led { .. } => "led",
        Command::Ack { .. } => "ack",
        Command::Config { .. } => "config",
        Command::Display { .. } => "display",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::codec::decode_uplink;
    use devices::topic::Topic;

    fn identity() -> DeviceIdentity {
        DeviceIdentity {
            venue: "demo".into(),
            key: "fridge-1".into(),
            kind: DeviceKind::Probe,
            credential: DeviceCredential {
                key: "fridge-1".into(),
                username: "demo/fridge-1".into(),
                password: "s3cret".into(),
            },
        }
    }

    #[test]
    fn a_broker_address_is_host_and_port_with_1883_by_default() {
        let parse = |s: &str| s.parse::<Broker>();
        assert_eq!(
            parse("127.0.0.1:1884").unwrap(),
            Broker {
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        assert_eq!(parse("mqtt://hub.local").unwrap().port, 1883);
        assert_eq!(parse("[::1]:1883").unwrap().host, "::1");
        assert!(parse("127.0.0.1:x").is_err());
        assert!(parse(":1883").is_err());
    }

    #[test]
    fn topics_follow_the_devices_crate_scheme() {
        let id = identity();
        for kind in TopicKind::ALL {
            let text = id.topic(kind);
            let parsed = Topic::parse(&text).unwrap();
            assert_eq!((parsed.kind(), parsed.device()), (kind, "fridge-1"));
        }
    }

    #[test]
    fn the_status_payloads_decode_as_the_contract_says() {
        let topic = identity().topic(TopicKind::Status);
        let online = decode_uplink(
            &topic,
            &status_payload(DeviceState::Online, DeviceKind::Probe),
        );
        let UplinkMessage::Status(status) = online.unwrap().message else {
            panic!("a status")
        };
        assert_eq!(status.state, DeviceState::Online);
        assert_eq!(status.kind, Some(DeviceKind::Probe));
        let offline = status_payload(DeviceState::Offline, DeviceKind::Probe);
        assert_eq!(offline, br#"{"state":"offline"}"#);
    }

    #[test]
    fn the_options_carry_credentials_keepalive_and_a_retained_offline_will() {
        let options = mqtt_options(&"127.0.0.1:1883".parse().unwrap(), &identity());
        assert_eq!(options.client_id(), "demo/fridge-1");
        assert_eq!(options.keep_alive(), KEEPALIVE);
        let login = options.credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("demo/fridge-1", "s3cret")
        );
        let will = options.last_will().unwrap();
        assert_eq!(will.topic, "almahira/v1/demo/fridge-1/status");
        assert!(will.retain);
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert_eq!(&will.message[..], br#"{"state":"offline"}"#);
    }

    #[test]
    fn every_command_type_has_its_wire_name() {
        let led = Command::Led {
            color: devices::LedColor::Green,
            pattern: devices::LedPattern::Solid,
            seconds: None,
        };
        let json = serde_json::to_value(&led).unwrap();
        assert_eq!(json["type"], command_type(&led));
        assert_eq!(command_type(&Command::Ack { msg_id: "m".into() }), "ack");
    }
}
