//! The state every adapter's handler is given: the engine, the store, token keys, the
//! login throttle, metrics, the screen gateway, the readings recorder and the device
//! barrier. Cheap to clone (every part is shared), and no globals, so one test process
//! runs many hubs. Built by [`crate::app::Application::build`]; nothing here does I/O.

use std::sync::Arc;

use crate::{
    auth::{DeviceSync, LoginThrottle, TokenKeys},
    engine::Engine,
    metrics::Metrics,
    readings::ReadingsRecorder,
    store::Store,
};

/// Everything a request handler may need; cheap to clone, no globals.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenKeys>,
    /// Key of the keyed hash that finds a staff member by PIN; stable for the hub's life.
    pub pin_key: Arc<[u8]>,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: Metrics,
    pub gateway: crate::ws::Gateway,
    /// Where the MQTT bridge hands every accepted probe reading to be stored in batches.
    pub readings: ReadingsRecorder,
    /// How far the MQTT door has put each venue's device registry in force; device
    /// answers wait for it.
    pub device_sync: DeviceSync,
}
