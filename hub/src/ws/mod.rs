//! The WebSocket gateway for live screens (`GET /ws`): KDS, expo, floor, order, alerts,
//! audit and staff channels, each opened with a snapshot or resumed from a sequence number,
//! then fed view-level frames in sequence order. See `docs/websocket.md`.
//!
//! # Layout
//! - [`protocol`]: client and server frames, channel names and who may open them.
//! - [`projector`]: per venue: replica, event -> frames, resume ring, fan-out, delivery.
//! - [`connection`]: one socket: auth, subscriptions, heartbeats, rate limits, slow consumers.
//! - [`view`]: KDS cards, expo tickets, all-day counts.
//! - [`presence`]: which screens are connected, what they have seen.

pub mod connection;
pub mod presence;
pub mod projector;
pub mod protocol;
pub mod view;

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use tokio::sync::watch;

use crate::{
    domain::VenueId,
    engine::{Engine, EngineError},
};
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
        let projector = Projector::start(handle, self.inner.config.clone()).await?;
        Ok(self
            .inner
            .projectors
            .entry(venue)
            .or_insert(projector)
            .clone())
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
