//! The device gate: the MQTT port devices connect to. It reads a connection's CONNECT,
//! authenticates the device against the registry (user name `<venue>/<key>`, the secret
//! shown once at provisioning), then relays the connection to the embedded broker's
//! loopback listener, checking every packet the device sends on the way:
//!
//! - PUBLISH only under the device's own `almahira/v1/<venue>/<key>/` and never to its own
//!   `cmd` or `error` (those are the hub's); a last will only on its own `status`;
//! - SUBSCRIBE only to its own `cmd`, `error` or `almahira/v1/<venue>/<key>/+`.
//!
//! Anything else closes the connection and is counted. This is what makes "a device cannot
//! speak as another device" hold although rumqttd has no per-topic ACL: the broker's own
//! listener accepts only the gate, which logs every client in under a name derived from
//! the device it authenticated. Packets from the broker to the device are relayed untouched.
//!
//! A CONNECT must be MQTT 3.1.1 as the specification says: another protocol level is
//! answered CONNACK 0x01, reserved flags close the connection. Every connection holds a
//! [`Session`] of its device's credential, taken after the secret check against the
//! registry as it is then; disabling, rotating or removing the device revokes it, and the
//! relay stops forwarding and closes before the change is reported applied.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::{Buf, BytesMut};
use dashmap::DashMap;
use rumqttd::protocol::{Login, Packet, Protocol, v4::V4};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

use super::{
    Ending, Presence,
    directory::{DeviceRef, Directory, DirectoryEntry, Session, parse_username},
    limiter::LogLimiter,
    packet::{self, ConnackCode, ConnectCheck, FrameError, PacketType},
};
use crate::metrics::Metrics;

/// Time a new connection gets to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Gate {
    pub directory: Directory,
    /// rumqttd's loopback listener.
    pub broker: SocketAddr,
    /// What the broker's auth handler expects from the gate.
    pub broker_secret: Arc<str>,
    pub max_packet_bytes: usize,
    pub metrics: Metrics,
    pub presence: mpsc::UnboundedSender<Presence>,
    pub log_limiter: LogLimiter,
    /// Open connections per device, for online/offline.
    connections: Arc<DashMap<(Arc<str>, String), usize>>,
    serial: std::sync::atomic::AtomicU64,
}

/// How often a CONNECT is checked again when its device's credential changes while its
/// secret is being checked, before it is refused as "server unavailable".
const CREDENTIAL_RETRIES: usize = 3;

/// Why the gate closed or refused a connection: a metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NotConnect,
    Malformed,
    UnsupportedProtocol,
    Timeout,
    NoCredentials,
    BadUsername,
    UnknownDevice,
    BadSecret,
    DeviceDisabled,
    ForeignWill,
    ForeignTopic,
    ForeignSubscription,
    BrokerUnavailable,
}

impl Refusal {
    const ALL: [Refusal; 13] = [
        Refusal::NotConnect,
        Refusal::Malformed,
        Refusal::UnsupportedProtocol,
        Refusal::Timeout,
        Refusal::NoCredentials,
        Refusal::BadUsername,
        Refusal::UnknownDevice,
        Refusal::BadSecret,
        Refusal::DeviceDisabled,
        Refusal::ForeignWill,
        Refusal::ForeignTopic,
        Refusal::ForeignSubscription,
        Refusal::BrokerUnavailable,
    ];

    const fn reason(self) -> &'static str {
        match self {
            Refusal::NotConnect => "not_connect",
            Refusal::Malformed => "malformed_packet",
            Refusal::UnsupportedProtocol => "unsupported_protocol",
            Refusal::Timeout => "connect_timeout",
            Refusal::NoCredentials => "no_credentials",
            Refusal::BadUsername => "bad_username",
            Refusal::UnknownDevice => "unknown_device",
            Refusal::BadSecret => "bad_secret",
            Refusal::DeviceDisabled => "device_disabled",
            Refusal::ForeignWill => "foreign_will",
            Refusal::ForeignTopic => "foreign_topic",
            Refusal::ForeignSubscription => "foreign_subscription",
            Refusal::BrokerUnavailable => "broker_unavailable",
        }
    }

    /// The CONNACK code a refused CONNECT gets. Unknown devices and wrong secrets look
    /// the same from outside, so the answer does not tell which device keys exist.
    fn connack(self) -> Option<ConnackCode> {
        match self {
            Refusal::NoCredentials
            | Refusal::BadUsername
            | Refusal::UnknownDevice
            | Refusal::BadSecret => Some(ConnackCode::BadUserNameOrPassword),
            Refusal::DeviceDisabled | Refusal::ForeignWill => Some(ConnackCode::NotAuthorized),
            Refusal::BrokerUnavailable => Some(ConnackCode::ServerUnavailable),
            Refusal::UnsupportedProtocol => Some(ConnackCode::UnacceptableProtocol),
            _ => None,
        }
    }
}

/// Every reason a connection is refused or closed, for pre-registering metric labels and
/// checking `docs/devices.md`: spelled by [`Refusal`] alone.
pub const REFUSAL_REASONS: [&str; Refusal::ALL.len()] = {
    let mut reasons = [""; Refusal::ALL.len()];
    let mut index = 0;
    while index < reasons.len() {
        reasons[index] = Refusal::ALL[index].reason();
        index += 1;
    }
    reasons
};

impl Gate {
    pub fn new(
        directory: Directory,
        broker: SocketAddr,
        broker_secret: Arc<str>,
        max_packet_bytes: usize,
        metrics: Metrics,
        presence: mpsc::UnboundedSender<Presence>,
    ) -> Self {
        Self {
            directory,
            broker,
            broker_secret,
            max_packet_bytes,
            metrics,
            presence,
            log_limiter: LogLimiter::default(),
            connections: Arc::new(DashMap::new()),
            serial: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Accepts device connections until `stop` turns true.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.changed() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let gate = self.clone();
                    let stop = stop.clone();
                    tokio::spawn(async move { gate.connection(stream, peer, stop).await });
                }
                Err(error) => {
                    if self.log_limiter.allow("accept") {
                        tracing::warn!(%error, "accepting an MQTT connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn refuse(&self, refusal: Refusal, peer: SocketAddr, who: &str) {
        self.metrics.mqtt().connection_refused(refusal.reason());
        if self.log_limiter.allow(refusal.reason()) {
            tracing::warn!(%peer, device = who, reason = refusal.reason(), "MQTT connection refused");
        }
    }

    async fn connection(
        self: Arc<Self>,
        mut device: TcpStream,
        peer: SocketAddr,
        stop: watch::Receiver<bool>,
    ) {
        let mut buf = BytesMut::with_capacity(1024);
        let admitted = self.admit(&mut device, &mut buf).await;
        let (entry, session, broker) = match admitted {
            Ok(admitted) => admitted,
            Err((refusal, who)) => {
                self.refuse(refusal, peer, &who);
                if let Some(code) = refusal.connack() {
                    let _ = device.write_all(&packet::connack_refusal(code)).await;
                }
                let _ = device.shutdown().await;
                return;
            }
        };
        self.opened(&entry);
        let (ending, refusal) = self.relay(&entry, session, device, broker, buf, stop).await;
        // The session is dropped with the relay, after both sockets: a revocation waiting
        // for it knows the connection is closed.
        if let Some(refusal) = refusal {
            let who = format!("{}/{}", entry.venue_slug, entry.device.key);
            self.refuse(refusal, peer, &who);
        }
        self.closed(&entry, ending);
    }

    fn opened(&self, entry: &Arc<DirectoryEntry>) {
        let key = (entry.venue_slug.clone(), entry.device.key.clone());
        let first = {
            let mut count = self.connections.entry(key).or_insert(0);
            *count += 1;
            *count == 1
        };
        if first {
            self.metrics.mqtt().devices_connected(1);
        }
        let _ = self.presence.send(Presence::Connected {
            entry: entry.clone(),
            first,
        });
    }

    fn closed(&self, entry: &Arc<DirectoryEntry>, ending: Ending) {
        let key = (entry.venue_slug.clone(), entry.device.key.clone());
        let last = {
            let mut count = self.connections.entry(key.clone()).or_insert(0);
            let before = *count;
            *count = count.saturating_sub(1);
            before == 1
        };
        if !last {
            return;
        }
        self.connections.remove_if(&key, |_, count| *count == 0);
        self.metrics.mqtt().devices_connected(-1);
        let _ = self.presence.send(Presence::Gone {
            entry: entry.clone(),
            ending,
        });
    }

    /// Open connections per device, shared with the bridge: a retained `offline` status
    /// or a will from an old connection means nothing while a newer one is open.
    pub fn connections(&self) -> Arc<DashMap<(Arc<str>, String), usize>> {
        self.connections.clone()
    }

    /// Reads and checks the CONNECT, then logs the device in to the broker.
    async fn admit(
        &self,
        device: &mut TcpStream,
        buf: &mut BytesMut,
    ) -> Result<(Arc<DirectoryEntry>, Session, TcpStream), (Refusal, String)> {
        let refused = |refusal| (refusal, String::new());
        // Only reading the CONNECT is timed: a client that connects and says nothing must
        // not hold a task. Checking the secret may queue behind others (see Directory).
        let frame = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                // Anything but a CONNECT is refused at its first byte (an HTTP request or a
                // port scan should not wait for the timeout).
                if buf.first().is_some_and(|first| first >> 4 != 1) {
                    return Err(refused(Refusal::NotConnect));
                }
                match packet::frame(buf, self.max_packet_bytes) {
                    Ok(Some(frame)) => return Ok(frame),
                    Ok(None) => {}
                    Err(_) => return Err(refused(Refusal::Malformed)),
                }
                match device.read_buf(buf).await {
                    Ok(0) | Err(_) => return Err(refused(Refusal::NotConnect)),
                    Ok(_) => {}
                }
            }
        })
        .await
        .map_err(|_| refused(Refusal::Timeout))??;
        if frame.packet_type != PacketType::Connect {
            return Err(refused(Refusal::NotConnect));
        }
        match packet::check_connect(&buf[..frame.total_len], frame) {
            Ok(ConnectCheck::Supported) => {}
            Ok(ConnectCheck::UnsupportedLevel(_)) => {
                return Err(refused(Refusal::UnsupportedProtocol));
            }
            Err(_) => return Err(refused(Refusal::Malformed)),
        }
        let mut connect_bytes = buf.split_to(frame.total_len);
        let Ok(Packet::Connect(connect, _, will, _, login)) =
            V4.read_mut(&mut connect_bytes, self.max_packet_bytes)
        else {
            return Err(refused(Refusal::Malformed));
        };
        let Some(login) = login else {
            return Err(refused(Refusal::NoCredentials));
        };
        let who = login.username.clone();
        let Some(name) = parse_username(&login.username) else {
            return Err((Refusal::BadUsername, who));
        };
        let (entry, session) = match self.authenticate(name, &login.password).await {
            Ok(authenticated) => authenticated,
            Err(refusal) => return Err((refusal, who)),
        };
        let prefix = device_prefix(&entry);
        if let Some(will) = &will
            && will.topic.as_ref() != format!("{prefix}status").as_bytes()
        {
            return Err((Refusal::ForeignWill, who));
        }
        let mut broker = TcpStream::connect(self.broker)
            .await
            .map_err(|_| (Refusal::BrokerUnavailable, who.clone()))?;
        let _ = broker.set_nodelay(true);
        // Unique per connection: rumqttd's will bookkeeping panics when a client id comes
        // back after a link that failed half-way (and then refuses everyone), so no id is
        // ever reused. Sessions are therefore clean; online/offline comes from the gate.
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // rumqttd refuses `/ + # $` in client ids; devices following the credentials'
        // `<venue>/<key>` naming use `/`, so those characters are replaced, not refused.
        let given: String = connect
            .client_id
            .chars()
            .map(|c| {
                if matches!(c, '/' | '+' | '#' | '$') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let client_id = format!("{}.{}.{serial}.{given}", entry.venue_slug, entry.device.key);
        let rewritten = Packet::Connect(
            rumqttd::protocol::Connect {
                client_id,
                ..connect
            },
            None,
            will,
            None,
            Some(Login {
                username: format!("{}/{}", entry.venue_slug, entry.device.key),
                password: self.broker_secret.to_string(),
            }),
        );
        let mut out = BytesMut::new();
        V4.write(rewritten, &mut out)
            .map_err(|_| (Refusal::Malformed, who.clone()))?;
        broker
            .write_all(&out)
            .await
            .map_err(|_| (Refusal::BrokerUnavailable, who.clone()))?;
        Ok((entry, session, broker))
    }

    /// The device's entry and a session under its credential. The secret is checked
    /// against the registry as the directory has it, which takes a while (argon2); the
    /// session is then taken from that same entry, so a change that revoked it meanwhile
    /// (and may already be answered) is seen, and the CONNECT is checked again against the
    /// registry as it is now. A change after the session was taken closes it.
    async fn authenticate(
        &self,
        name: DeviceRef<'_>,
        secret: &str,
    ) -> Result<(Arc<DirectoryEntry>, Session), Refusal> {
        for _ in 0..CREDENTIAL_RETRIES {
            let Some(entry) = self.directory.lookup(name.venue, name.key).await else {
                return Err(Refusal::UnknownDevice);
            };
            if !self.directory.verify(&entry, secret).await {
                return Err(Refusal::BadSecret);
            }
            if !entry.device.enabled {
                return Err(Refusal::DeviceDisabled);
            }
            if let Some(session) = entry.access.session() {
                return Ok((entry, session));
            }
        }
        Err(Refusal::BrokerUnavailable)
    }

    /// Relays an admitted connection until either side closes, the device breaks a rule
    /// (returned), its credential is revoked, or the hub stops.
    async fn relay(
        &self,
        entry: &Arc<DirectoryEntry>,
        mut session: Session,
        device: TcpStream,
        broker: TcpStream,
        mut buf: BytesMut,
        mut stop: watch::Receiver<bool>,
    ) -> (Ending, Option<Refusal>) {
        let (mut device_read, mut device_write) = device.into_split();
        let (mut broker_read, mut broker_write) = broker.into_split();
        let downstream = tokio::io::copy(&mut broker_read, &mut device_write);
        tokio::pin!(downstream);
        let prefix = device_prefix(entry);
        let mut ending = Ending::Lost;
        loop {
            // Forward every whole packet already buffered, after checking it.
            let mut ready = 0;
            loop {
                let frame = match packet::frame(&buf[ready..], self.max_packet_bytes) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(FrameError::TooLarge { .. } | FrameError::BadLength) => {
                        return (Ending::Lost, Some(Refusal::Malformed));
                    }
                    Err(FrameError::Malformed(_)) => {
                        return (Ending::Lost, Some(Refusal::Malformed));
                    }
                };
                let bytes = &buf[ready..ready + frame.total_len];
                match frame.packet_type {
                    PacketType::Publish => match packet::publish_topic(bytes, frame) {
                        Ok(topic) if may_publish(&prefix, topic) => {}
                        Ok(_) => return (Ending::Lost, Some(Refusal::ForeignTopic)),
                        Err(_) => return (Ending::Lost, Some(Refusal::Malformed)),
                    },
                    PacketType::Subscribe => match packet::subscribe_filters(bytes, frame) {
                        Ok(filters) if filters.iter().all(|f| may_subscribe(&prefix, f)) => {}
                        Ok(_) => return (Ending::Lost, Some(Refusal::ForeignSubscription)),
                        Err(_) => return (Ending::Lost, Some(Refusal::Malformed)),
                    },
                    PacketType::Connect => return (Ending::Lost, Some(Refusal::Malformed)),
                    PacketType::Disconnect => ending = Ending::Clean,
                    PacketType::Other(_) => {}
                }
                ready += frame.total_len;
            }
            if ready > 0 {
                // Nothing read after the credential was revoked is passed on.
                if session.is_revoked() {
                    return kicked(&mut broker_write).await;
                }
                if broker_write.write_all(&buf[..ready]).await.is_err() {
                    return (ending, None);
                }
                buf.advance(ready);
            }
            tokio::select! {
                biased;
                _ = session.revoked() => return kicked(&mut broker_write).await,
                _ = stop.changed() => return (Ending::Clean, None),
                read = device_read.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return (ending, None),
                    Ok(_) => {}
                },
                _ = &mut downstream => return (ending, None),
            }
        }
    }
}

/// Ends a connection the hub closed on purpose: a DISCONNECT to the broker first, so it
/// drops the device's last will (the device did not fail; the hub closed it).
async fn kicked(broker: &mut tokio::net::tcp::OwnedWriteHalf) -> (Ending, Option<Refusal>) {
    // Bounded: a stalled broker must not keep a revoked connection (and its answer) open.
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        broker.write_all(&packet::DISCONNECT),
    )
    .await;
    (Ending::Kicked, None)
}

/// `almahira/v1/<venue>/<key>/`.
fn device_prefix(entry: &DirectoryEntry) -> String {
    format!(
        "{}/",
        devices::topic::device_prefix(&entry.venue_slug, &entry.device.key)
    )
}

/// A device publishes one level below its own prefix, never on the hub's `cmd`/`error`.
/// (A wrong kind such as `telemtry` passes here and is refused by the bridge with an
/// error reply, which is more useful to a firmware writer than a closed connection.)
fn may_publish(prefix: &str, topic: &str) -> bool {
    topic.strip_prefix(prefix).is_some_and(|kind| {
        !kind.is_empty() && !kind.contains(['/', '+', '#']) && kind != "cmd" && kind != "error"
    })
}

/// A device listens to its own downlinks only.
fn may_subscribe(prefix: &str, filter: &str) -> bool {
    matches!(filter.strip_prefix(prefix), Some("cmd" | "error" | "+"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "almahira/v1/demo/fridge-1/";

    #[test]
    fn each_refusal_reason_is_spelled_once() {
        let reasons: std::collections::HashSet<&str> = REFUSAL_REASONS.into_iter().collect();
        assert_eq!(reasons.len(), Refusal::ALL.len());
        assert!(!reasons.contains(""));
    }

    #[test]
    fn a_device_may_publish_its_own_uplinks() {
        for kind in ["telemetry", "event", "status", "telemtry"] {
            assert!(may_publish(PREFIX, &format!("{PREFIX}{kind}")), "{kind}");
        }
    }

    #[test]
    fn a_device_may_not_publish_as_another_device_or_as_the_hub() {
        for topic in [
            "almahira/v1/demo/fridge-2/telemetry",
            "almahira/v1/other/fridge-1/telemetry",
            "almahira/v1/demo/fridge-1/cmd",
            "almahira/v1/demo/fridge-1/error",
            "almahira/v1/demo/fridge-1/telemetry/extra",
            "almahira/v1/demo/fridge-1/",
            "almahira/v1/demo/fridge-10/telemetry",
            "elsewhere",
        ] {
            assert!(!may_publish(PREFIX, topic), "{topic}");
        }
    }

    #[test]
    fn a_device_may_subscribe_only_to_its_own_downlinks() {
        assert!(may_subscribe(PREFIX, "almahira/v1/demo/fridge-1/cmd"));
        assert!(may_subscribe(PREFIX, "almahira/v1/demo/fridge-1/error"));
        assert!(may_subscribe(PREFIX, "almahira/v1/demo/fridge-1/+"));
        for filter in [
            "#",
            "almahira/v1/#",
            "almahira/v1/demo/+/cmd",
            "almahira/v1/demo/fridge-2/cmd",
            "almahira/v1/demo/fridge-1/#",
        ] {
            assert!(!may_subscribe(PREFIX, filter), "{filter}");
        }
    }
}
