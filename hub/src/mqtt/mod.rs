//! Kitchen devices over MQTT: the embedded broker behind a gate that authenticates every
//! device against the registry and keeps it to its own topics, or an external broker the
//! hub subscribes to with shared subscriptions; and the bridge that turns device messages
//! into engine commands, readings and live values, and engine events into downlinks.
//! See `docs/devices.md`.
//!
//! # Layout
//! - [`broker`]: the embedded rumqttd (router, loopback listener, the hub's drained link).
//! - [`gate`]: the device-facing port: authentication and per-device topic isolation.
//! - [`packet`]: the little MQTT framing the gate needs.
//! - [`directory`]: devices by `(venue, key)`, kept current from the engines' feeds; the
//!   access each connection holds under its device's credential.
//! - [`bridge`]: uplinks -> readings, live values, rules -> commands; error replies; counters.
//! - [`queue`]: the bounded per-venue queues engine work waits in (back-pressure, depth).
//! - [`sequence`]: what `msg_id`, `seq` and `boot` say about a message (duplicate, late,
//!   a restarted counter).
//! - [`code`]: every error code the device side answers or counts, with one spelling.
//! - [`actions`]: bump-bar keys, scans and call buttons as commands, with device feedback.
//! - [`external`]: the hub as a client of another broker.

pub mod actions;
pub mod bridge;
pub mod broker;
pub mod code;
pub mod directory;
pub mod external;
pub mod gate;
pub mod limiter;
pub mod metrics;
pub mod packet;
pub mod queue;
pub mod sequence;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use bytes::Bytes;
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{engine::Engine, metrics::Metrics};
pub use directory::{Directory, DirectoryEntry};

/// A message as a broker delivered it to the hub.
#[derive(Clone, Debug)]
pub struct RawMessage {
    pub topic: Bytes,
    pub payload: Bytes,
    pub retained: bool,
}

/// A message the hub sends a device.
#[derive(Clone, Debug)]
pub struct Downlink {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// How a device's connection ended, as the gate saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The device sent DISCONNECT (a battery probe going back to sleep), or the hub is
    /// stopping.
    Clean,
    /// The network dropped, the device crashed or broke a rule: the broker sends its will.
    Lost,
    /// The hub closed it because its credential changed (rotated, disabled, removed).
    Kicked,
}

/// What the gate tells the bridge about a device's connections (embedded broker only).
#[derive(Clone, Debug)]
pub enum Presence {
    /// A connection was admitted (every one, not only the device's first): whatever the
    /// device sends next may start a new run of its `seq`.
    Connected {
        entry: Arc<DirectoryEntry>,
        /// The device had no other connection open.
        first: bool,
    },
    /// The device's last open connection closed.
    Gone {
        entry: Arc<DirectoryEntry>,
        ending: Ending,
    },
}

/// How the hub talks to devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MqttMode {
    /// No MQTT at all.
    Off,
    /// The embedded broker listens here. `required`: the address was asked for, so a
    /// taken port stops the hub; otherwise (the default 0.0.0.0:1883) the hub runs on
    /// without devices and says so.
    Embedded { listen: SocketAddr, required: bool },
    /// Devices connect to another broker (`mqtt://host:port`); the hub subscribes there.
    External { url: String },
}

/// Tunables of the device side.
#[derive(Clone, Debug)]
pub struct MqttConfig {
    pub mode: MqttMode,
    pub limits: broker::BrokerLimits,
    /// How often probes are checked for silence and cooling deadlines.
    pub tick: Duration,
    /// Benchmark baseline only: take messages off the broker and count them, nothing
    /// else (no decoding, rules, readings or screens), to show what the bridge costs.
    /// Only in `testkit` builds: a production hub always runs the bridge.
    #[cfg(feature = "testkit")]
    pub drain_only: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            mode: MqttMode::Off,
            limits: broker::BrokerLimits::default(),
            tick: Duration::from_secs(1),
            #[cfg(feature = "testkit")]
            drain_only: false,
        }
    }
}

/// The running device side.
pub struct MqttService {
    address: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _broker: Option<broker::EmbeddedBroker>,
}

impl MqttService {
    /// Starts the configured mode; `None` when MQTT is off or the default port is taken.
    /// `sync` is where the directory says how far registry changes are in force at the
    /// door, for the HTTP answers that wait on it.
    pub async fn start(
        config: &MqttConfig,
        engine: Engine,
        metrics: Metrics,
        sinks: bridge::Sinks,
        sync: crate::auth::DeviceSync,
    ) -> anyhow::Result<Option<MqttService>> {
        if config.mode == MqttMode::Off {
            return Ok(None);
        }
        let (reactions_tx, reactions_rx) = mpsc::unbounded_channel();
        let directory = Directory::new(engine, sync, Some(reactions_tx));
        let (stop, stopping) = watch::channel(false);
        let (uplink_tx, uplink_rx) = mpsc::channel::<RawMessage>(8192);
        let (presence_tx, presence_rx) = mpsc::unbounded_channel::<Presence>();
        let mut tasks = Vec::new();
        let (address, broker, downlinks, connections) = match &config.mode {
            MqttMode::Off => return Ok(None),
            MqttMode::Embedded { listen, required } => {
                let listener = match TcpListener::bind(listen).await {
                    Ok(listener) => listener,
                    Err(error) if !required && error.kind() == std::io::ErrorKind::AddrInUse => {
                        tracing::warn!(
                            %listen,
                            "MQTT port is taken (another broker?): devices cannot connect to this hub; \
                             choose another address with --mqtt ADDR, or use that broker with --mqtt-broker URL"
                        );
                        return Ok(None);
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
                        anyhow::bail!(
                            "{listen} is already in use: choose another address with --mqtt ADDR (or HUB_MQTT)"
                        );
                    }
                    Err(error) => {
                        return Err(anyhow::Error::new(error)
                            .context(format!("listening for devices on {listen}")));
                    }
                };
                let address = listener.local_addr().context("reading the MQTT address")?;
                let (broker, downlinks) = broker::start(&config.limits, uplink_tx).await?;
                let gate = Arc::new(gate::Gate::new(
                    directory.clone(),
                    broker.internal,
                    broker.gate_secret.clone(),
                    config.limits.max_packet_bytes,
                    metrics.clone(),
                    presence_tx,
                ));
                let connections = gate.connections();
                tasks.push(tokio::spawn(gate.serve(listener, stopping.clone())));
                tracing::info!(%address, "MQTT broker listening for devices");
                (Some(address), Some(broker), downlinks, Some(connections))
            }
            MqttMode::External { url } => {
                drop(presence_tx);
                let (downlinks, task) =
                    external::start(url, uplink_tx, metrics.clone(), stopping.clone())?;
                tasks.push(task);
                tracing::info!(broker = %url, "subscribed to device topics on an external broker");
                (None, None, downlinks, None)
            }
        };
        #[cfg(feature = "testkit")]
        if config.drain_only {
            tracing::warn!("MQTT drain-only mode: device messages are counted and dropped");
            let counter = metrics.clone();
            let mut uplink_rx = uplink_rx;
            drop((presence_rx, reactions_rx, downlinks, sinks));
            tasks.push(tokio::spawn(async move {
                while uplink_rx.recv().await.is_some() {
                    counter.mqtt().drained();
                }
            }));
            return Ok(Some(MqttService {
                address,
                stop,
                tasks,
                _broker: broker,
            }));
        }
        let bridge = bridge::Bridge::new(
            directory.clone(),
            metrics,
            downlinks,
            config.tick,
            connections,
            sinks,
        );
        tasks.push(tokio::spawn(bridge.run(
            uplink_rx,
            presence_rx,
            reactions_rx,
            stopping,
        )));
        Ok(Some(MqttService {
            address,
            stop,
            tasks,
            _broker: broker,
        }))
    }

    /// Where devices connect (embedded broker).
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }

    /// Stops accepting devices, closes their connections and stops the bridge.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}
