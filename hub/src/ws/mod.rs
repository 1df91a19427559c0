//! The WebSocket gateway for live screens (`GET /ws`): KDS, expo, floor, order, alerts,
//! audit and staff channels, each opened with a snapshot or resumed from a sequence number,
//! then fed view-level frames in sequence order. See `docs/websocket.md`.
//!
//! # Layout
//! - [`protocol`]: client and server frames, channel names and who may open them.
//! - [`error`]: the codes of `error` frames, one spelling each.
//! - [`delivery`]: the delivery watch, a pure state machine: fired, seen, tick -> commands.
//! - [`projector`]: per venue: replica, event -> frames, resume ring, fan-out, delivery.
//! - [`connection`]: one socket: auth, subscriptions, heartbeats, rate limits, slow consumers.
//! - KDS cards, expo tickets and all-day counts are read models in [`crate::view::kitchen`].
//! - [`presence`]: which screens are connected, what they have seen.
//! - [`live`]: device last values and ephemeral frames (no `seq`, may be missed).

pub mod connection;
pub mod delivery;
pub mod error;
pub mod live;
pub mod presence;
pub mod projector;
pub mod protocol;

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use tokio::sync::watch;

use crate::{
    domain::{DeviceId, VenueId},
    engine::{Engine, EngineError},
};
pub use live::{DeviceLive, VenueLive};
pub use presence::{Presence, ScreenPresence};
pub use projector::Projector;

/// Timings and limits of the gateway.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// How often the hub pings each screen.
    pub heartbeat_interval: Duration,
    /// A screen silent for this long is dropped.
    pub heartbeat_timeout: Duration,
    /// A fired ticket no screen of its station confirmed within this time raises an alert;
    /// zero turns delivery alerts off (a venue without kitchen screens).
    pub delivery_timeout: Duration,
    /// Events kept per venue for resume; older resumes get a snapshot.
    pub resume_window: usize,
    /// Frame batches a screen may fall behind before it is told to resync.
    pub fanout_capacity: usize,
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// A write that takes longer than this disconnects the screen (it is not reading).
    pub write_timeout: Duration,
    /// Time to send `hello` when the token was not in the upgrade request.
    pub hello_timeout: Duration,
    /// Commands per second a screen may send (burst of twice that).
    pub commands_per_second: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(45),
            delivery_timeout: Duration::from_secs(10),
            resume_window: 4096,
            fanout_capacity: 1024,
            max_frame_bytes: 64 * 1024,
            write_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            commands_per_second: 10,
        }
    }
}

/// Projectors per venue, the presence registry and the shutdown signal for sockets.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    projectors: DashMap<VenueId, Projector>,
    live: live::LiveTable,
    presence: Presence,
    config: GatewayConfig,
    stopping: watch::Sender<bool>,
}

impl Gateway {
    /// Starts a projector for every venue the engine serves.
    pub async fn start(engine: Engine, config: GatewayConfig) -> Result<Self, EngineError> {
        let (stopping, _) = watch::channel(false);
        let gateway = Self {
            inner: Arc::new(Inner {
                engine,
                projectors: DashMap::new(),
                live: live::LiveTable::default(),
                presence: Presence::default(),
                config,
                stopping,
            }),
        };
        for venue in gateway.inner.engine.venues() {
            gateway.projector(venue.id()).await?;
        }
        Ok(gateway)
    }

    /// The projector of a venue, started on first use (venues created after start-up).
    pub async fn projector(&self, venue: VenueId) -> Result<Projector, EngineError> {
        if let Some(projector) = self.inner.projectors.get(&venue).map(|p| p.clone()) {
            return Ok(projector);
        }
        let handle = self.inner.engine.venue(venue).ok_or(EngineError::Stopped)?;
        let projector = Projector::start(
            handle,
            self.inner.config.clone(),
            self.inner.live.venue(venue),
        )
        .await?;
        Ok(self
            .inner
            .projectors
            .entry(venue)
            .or_insert(projector)
            .clone())
    }

    /// Stores what a device last reported and sends a `device_live` frame to the screens
    /// on the venue's `devices` channel. Never waits: a slow screen misses the frame.
    pub fn update_device_live(&self, venue: VenueId, device: DeviceId, live: DeviceLive) {
        self.inner.live.venue(venue).update_device(device, live);
    }

    /// What a device last reported, if anything.
    pub fn device_live(&self, venue: VenueId, device: DeviceId) -> Option<DeviceLive> {
        self.inner.live.venue(venue).device(device)
    }

    /// Sends a frame that is not part of the journal (no `seq`, not resumed, may be missed)
    /// to the venue's screens on `channel`, e.g. `kds:grill` / `bump_bar_cursor`. Never
    /// waits: a slow screen misses the frame.
    pub fn publish_ephemeral(
        &self,
        venue: VenueId,
        channel: &str,
        frame_type: &str,
        body: serde_json::Value,
    ) {
        self.inner
            .live
            .venue(venue)
            .publish(channel, frame_type, body);
    }

    /// The live side of a venue (device values, ephemeral listeners).
    pub fn live(&self, venue: VenueId) -> std::sync::Arc<VenueLive> {
        self.inner.live.venue(venue)
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    pub fn presence(&self) -> &Presence {
        &self.inner.presence
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// Tells every socket to close with "going away".
    pub fn stop(&self) {
        let _ = self.inner.stopping.send(true);
    }
}
