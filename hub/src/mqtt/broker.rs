//! The embedded rumqttd broker: its router (own thread), its MQTT server on a loopback port
//! that only the device gate can log in to, and the hub's in-process link. The link is
//! drained by one task that answers `Unschedule` with `wake()` (otherwise rumqttd stops
//! delivering after a couple of hundred messages) and hands messages to the bridge; a
//! second task owns the sending half for downlinks. rumqttd's types stay in this file.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use bytes::Bytes;
use rumqttd::{
    ConnectionSettings, Notification, Router, RouterConfig, Server, ServerSettings,
    local::LinkBuilder, protocol::v4::V4,
};
use tokio::{sync::mpsc, task::JoinHandle};

use super::{Downlink, RawMessage};

/// The hub's own client id on the router (devices get `<venue>.<key>.<n>.<their id>`, so
/// they can never take it).
const HUB_LINK_ID: &str = "almahira-hub";
/// What the hub subscribes to: every five-level topic under the scheme. The gate lets a
/// device publish only under its own `almahira/v1/<venue>/<key>/`, so everything here is
/// from the device the topic names (or the hub's own downlinks, which the bridge skips).
pub const HUB_FILTER: &str = "almahira/v1/+/+/+";

/// Memory bounds of the broker. rumqttd keeps messages per subscription filter in
/// segments; a filter's log never holds more than `segment_bytes * segments` before the
/// oldest segment is dropped.
#[derive(Clone, Debug)]
pub struct BrokerLimits {
    pub max_connections: usize,
    /// Segment size and count of the hub's own filter, which carries every uplink.
    pub hub_segment_bytes: usize,
    pub hub_segments: usize,
    /// Segment size and count of every other filter (a device's own `cmd` and `error`).
    pub device_segment_bytes: usize,
    pub device_segments: usize,
    /// Largest MQTT packet a device may send.
    pub max_packet_bytes: usize,
}

impl Default for BrokerLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            // 8 MiB of payload: about 50 000 readings, 12 s at 4000 a second, before the
            // oldest are dropped if the bridge stalls (they then show as seq gaps).
            hub_segment_bytes: 1 << 20,
            hub_segments: 8,
            device_segment_bytes: 32 << 10,
            device_segments: 2,
            max_packet_bytes: 16 << 10,
        }
    }
}

/// A running embedded broker.
pub struct EmbeddedBroker {
    /// Loopback address of rumqttd's own listener; only the gate connects here.
    pub internal: SocketAddr,
    /// The password the gate presents for every device it has authenticated.
    pub gate_secret: Arc<str>,
    server: JoinHandle<()>,
    drain: JoinHandle<()>,
    sender: JoinHandle<()>,
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.server.abort();
        self.drain.abort();
        self.sender.abort();
    }
}

fn router_config(limits: &BrokerLimits) -> RouterConfig {
    let mut custom = HashMap::new();
    custom.insert(
        HUB_FILTER.to_owned(),
        rumqttd::SegmentConfig {
            max_segment_size: limits.hub_segment_bytes,
            max_segment_count: limits.hub_segments,
        },
    );
    RouterConfig {
        max_connections: limits.max_connections + 16,
        max_outgoing_packet_count: 200,
        max_segment_size: limits.device_segment_bytes,
        max_segment_count: limits.device_segments,
        custom_segment: Some(custom),
        ..RouterConfig::default()
    }
}

/// Starts the router, the loopback server and the hub's link. Uplinks go to `uplinks`;
/// downlinks are taken from the returned sender.
pub async fn start(
    limits: &BrokerLimits,
    uplinks: mpsc::Sender<RawMessage>,
) -> anyhow::Result<(EmbeddedBroker, mpsc::Sender<Downlink>)> {
    let router = Router::new(0, router_config(limits));
    let router_tx = router.spawn();

    let gate_secret: String = crate::auth::random_key()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let gate_secret: Arc<str> = Arc::from(gate_secret);
    let (link_tx, mut link_rx, _) = LinkBuilder::new(HUB_LINK_ID, router_tx.clone())
        .dynamic_filters(true)
        .build()
        .context("connecting the hub to the embedded broker")?;
    let mut link_tx = link_tx;
    link_tx
        .subscribe(HUB_FILTER)
        .context("subscribing the hub to device topics")?;

    // rumqttd binds its own listener and cannot report a port bound as 0, so pick a free
    // loopback port, hand it over, and retry if another process took it in between.
    let mut attempt = 0;
    let (internal, server) = loop {
        attempt += 1;
        let internal = free_loopback_port()?;
        let mut settings = ServerSettings {
            name: "almahira-devices".to_owned(),
            listen: internal,
            tls: None,
            next_connection_delay_ms: 0,
            connections: ConnectionSettings {
                connection_timeout_ms: 10_000,
                max_payload_size: limits.max_packet_bytes,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let secret = gate_secret.clone();
        settings.set_auth_handler(
            move |client_id: String, username: String, password: String| {
                // Only the gate knows the secret, and it names clients `<venue>.<key>.<n>.<id>`
                // after the device it authenticated as `<venue>/<key>`.
                let allowed = password.as_bytes() == secret.as_bytes()
                    && client_id.starts_with(&format!("{}.", username.replace('/', ".")));
                async move { allowed }
            },
        );
        let mut server = Server::new(settings, router_tx.clone(), V4);
        let task = tokio::spawn(async move {
            if let Err(error) = server.start(rumqttd::LinkType::Remote).await {
                tracing::error!(%error, "embedded MQTT broker listener stopped");
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        if !task.is_finished() {
            break (internal, task);
        }
        if attempt >= 5 {
            bail!("the embedded MQTT broker could not bind a loopback port");
        }
    };

    let drain = tokio::spawn(async move {
        loop {
            match link_rx.next().await {
                Ok(Some(Notification::Forward(forward))) => {
                    let message = RawMessage {
                        topic: forward.publish.topic,
                        payload: forward.publish.payload,
                        retained: forward.publish.retain,
                    };
                    if uplinks.send(message).await.is_err() {
                        return;
                    }
                }
                Ok(Some(Notification::Unschedule)) => {
                    if link_rx.wake().await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "the hub's link to the embedded broker closed");
                    return;
                }
            }
        }
    });

    let (downlink_tx, mut downlink_rx) = mpsc::channel::<Downlink>(4096);
    let sender = tokio::spawn(async move {
        while let Some(downlink) = downlink_rx.recv().await {
            if let Err(error) = link_tx.publish(
                Bytes::from(downlink.topic.into_bytes()),
                Bytes::from(downlink.payload),
            ) {
                tracing::error!(%error, "the embedded broker refused a downlink");
                return;
            }
        }
    });

    Ok((
        EmbeddedBroker {
            internal,
            gate_secret,
            server,
            drain,
            sender,
        },
        downlink_tx,
    ))
}

fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("finding a free loopback port for the embedded broker")?;
    probe.local_addr().context("reading the free port")
}
