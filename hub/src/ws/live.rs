//! Live state that is not journaled, and the frames that carry it: the last value each
//! device reported (readings, door, battery, signal, online) and ephemeral frames on any
//! channel (a bump bar's cursor on `kds:grill`). Ephemeral frames have no `seq`, are not
//! kept for resume and may be dropped: a screen that is slow to read loses them rather than
//! hold anyone up. The sequenced frames of the projector keep all their guarantees.
//!
//! Thousands of probes may report every few seconds, so an update is serialised once (and
//! only when a screen listens) and handed to each listening screen with `try_send`: nothing
//! here ever waits.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::domain::DeviceId;

/// The channel device state is shown on.
pub const DEVICES_CHANNEL: &str = "devices";

/// Ephemeral frames a screen may have waiting before newer ones are dropped for it.
pub const EPHEMERAL_QUEUE: usize = 256;

/// What a device last reported. Every field is optional: each message updates what it says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceLive {
    /// From its MQTT presence (`true` on connect, `false` on its last will).
    pub online: Option<bool>,
    pub last_seen: Option<DateTime<Utc>>,
    /// Probe name -> °C.
    pub readings: BTreeMap<String, f64>,
    /// `open` or `closed`, for units with a door contact.
    pub door: Option<String>,
    pub battery_percent: Option<u8>,
    pub rssi: Option<i16>,
    pub firmware: Option<String>,
}

/// One screen's ephemeral frames waiting to be sent: bounded, never waited on by the
/// publisher, and (unlike a channel, which allocates its first block up front) costing a
/// few words until a frame arrives, since every idle screen holds one.
pub struct EphemeralQueue {
    frames: Mutex<VecDeque<Utf8Bytes>>,
    capacity: usize,
    ready: Notify,
    closed: AtomicBool,
}

/// What offering a frame to a queue did.
enum Offer {
    Taken,
    Full,
    Closed,
}

impl EphemeralQueue {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            frames: Mutex::new(VecDeque::new()),
            capacity,
            ready: Notify::new(),
            closed: AtomicBool::new(false),
        })
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, VecDeque<Utf8Bytes>> {
        self.frames
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn offer(&self, frame: Utf8Bytes) -> Offer {
        if self.closed.load(Ordering::Relaxed) {
            return Offer::Closed;
        }
        {
            let mut frames = self.frames();
            if frames.len() >= self.capacity {
                return Offer::Full;
            }
            frames.push_back(frame);
        }
        self.ready.notify_one();
        Offer::Taken
    }

    /// The oldest waiting frame, if any.
    pub fn try_next(&self) -> Option<Utf8Bytes> {
        let mut frames = self.frames();
        let frame = frames.pop_front();
        if frames.is_empty() && frames.capacity() > 0 {
            // Back to nothing once drained: an idle screen keeps no buffer.
            *frames = VecDeque::new();
        }
        frame
    }

    /// The next frame, waiting for one.
    pub async fn next(&self) -> Utf8Bytes {
        loop {
            if let Some(frame) = self.try_next() {
                return frame;
            }
            // A frame offered since the check left a permit: this returns at once.
            self.ready.notified().await;
        }
    }

    /// The screen is gone: frames offered from now on are refused.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.frames().clear();
    }
}

/// A screen connection listening for ephemeral frames on some channels.
struct Listener {
    connection: u64,
    frames: Arc<EphemeralQueue>,
}

/// One venue's live side: device last values and who listens on which channel.
#[derive(Default)]
pub struct VenueLive {
    devices: DashMap<DeviceId, DeviceLive>,
    listeners: DashMap<String, Vec<Listener>>,
    dropped: AtomicU64,
}

impl std::fmt::Debug for VenueLive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueLive")
            .field("devices", &self.devices.len())
            .field("channels", &self.listeners.len())
            .finish()
    }
}

impl VenueLive {
    pub fn device(&self, device: DeviceId) -> Option<DeviceLive> {
        self.devices.get(&device).map(|live| live.clone())
    }

    /// Every device's last values (for a snapshot).
    pub fn devices(&self) -> HashMap<DeviceId, DeviceLive> {
        self.devices
            .iter()
            .map(|entry| (*entry.key(), entry.value().clone()))
            .collect()
    }

    /// Stores a device's last values and tells the `devices` channel.
    pub fn update_device(&self, device: DeviceId, live: DeviceLive) {
        let body = self
            .has_listeners(DEVICES_CHANNEL)
            .then(|| json!({"device_id": device, "live": &live}));
        self.devices.insert(device, live);
        if let Some(body) = body {
            self.publish(DEVICES_CHANNEL, "device_live", body);
        }
    }

    /// A removed device's values are forgotten.
    pub fn forget_device(&self, device: DeviceId) {
        self.devices.remove(&device);
    }

    fn has_listeners(&self, channel: &str) -> bool {
        self.listeners.get(channel).is_some_and(|l| !l.is_empty())
    }

    /// Sends an ephemeral frame to every screen listening on `channel`; returns how many
    /// took it. A screen whose queue is full misses it.
    pub fn publish(&self, channel: &str, kind: &str, data: Value) -> usize {
        let Some(mut listeners) = self.listeners.get_mut(channel) else {
            return 0;
        };
        if listeners.is_empty() {
            return 0;
        }
        let frame = json!({
            "type": "event",
            "ephemeral": true,
            "channel": channel,
            "kind": kind,
            "at": Utc::now(),
            "data": data,
        });
        let text = Utf8Bytes::from(frame.to_string());
        let mut delivered = 0;
        listeners.retain(|listener| match listener.frames.offer(text.clone()) {
            Offer::Taken => {
                delivered += 1;
                true
            }
            Offer::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            // The screen is gone; it would have unlistened on its way out.
            Offer::Closed => false,
        });
        delivered
    }

    /// A connection opened `channel`: its ephemeral frames go to `frames` from now on.
    pub fn listen(&self, channel: &str, connection: u64, frames: Arc<EphemeralQueue>) {
        let mut listeners = self.listeners.entry(channel.to_owned()).or_default();
        listeners.retain(|l| l.connection != connection);
        listeners.push(Listener { connection, frames });
    }

    pub fn unlisten(&self, channel: &str, connection: u64) {
        if let Some(mut listeners) = self.listeners.get_mut(channel) {
            listeners.retain(|l| l.connection != connection);
        }
        self.listeners.remove_if(channel, |_, l| l.is_empty());
    }

    /// Ephemeral frames not delivered because a screen's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The live side of every venue, created on first use.
#[derive(Default)]
pub struct LiveTable {
    venues: DashMap<crate::domain::VenueId, Arc<VenueLive>>,
}

impl LiveTable {
    pub fn venue(&self, venue: crate::domain::VenueId) -> Arc<VenueLive> {
        if let Some(live) = self.venues.get(&venue) {
            return live.clone();
        }
        self.venues.entry(venue).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(celsius: f64) -> DeviceLive {
        DeviceLive {
            online: Some(true),
            readings: BTreeMap::from([("core".to_owned(), celsius)]),
            ..DeviceLive::default()
        }
    }

    fn frame(text: &Utf8Bytes) -> Value {
        serde_json::from_str(text.as_str()).unwrap_or(Value::Null)
    }

    #[test]
    fn a_device_update_is_kept_and_reaches_a_devices_listener_as_an_ephemeral_frame() {
        let live = VenueLive::default();
        let device = DeviceId(uuid::Uuid::from_u128(1));
        live.update_device(device, reading(3.5));
        assert_eq!(live.device(device), Some(reading(3.5)));
        let queue = EphemeralQueue::new(4);
        live.listen(DEVICES_CHANNEL, 7, queue.clone());
        live.update_device(device, reading(4.0));
        let sent = queue.try_next().map(|t| frame(&t)).unwrap_or_default();
        assert_eq!(sent["kind"], "device_live");
        assert_eq!(sent["ephemeral"], true);
        assert_eq!(sent["data"]["live"]["readings"]["core"], 4.0);
        assert!(sent.get("seq").is_none(), "ephemeral frames carry no seq");
        assert_eq!(live.devices().len(), 1);
    }

    #[test]
    fn a_full_screen_misses_ephemeral_frames_instead_of_holding_up_the_others() {
        let live = VenueLive::default();
        let slow = EphemeralQueue::new(1);
        let fast = EphemeralQueue::new(8);
        live.listen("kds:grill", 1, slow);
        live.listen("kds:grill", 2, fast.clone());
        for n in 0..3 {
            live.publish("kds:grill", "bump_bar_cursor", json!({"index": n}));
        }
        assert_eq!(live.dropped(), 2, "the slow screen took one and missed two");
        let mut got = Vec::new();
        while let Some(text) = fast.try_next() {
            got.push(frame(&text)["data"]["index"].clone());
        }
        assert_eq!(got, vec![json!(0), json!(1), json!(2)]);
    }

    #[test]
    fn nobody_listening_means_nothing_is_built_and_closed_screens_are_forgotten() {
        let live = VenueLive::default();
        assert_eq!(live.publish("expo", "x", json!({})), 0);
        let gone = EphemeralQueue::new(1);
        live.listen("expo", 1, gone.clone());
        gone.close();
        assert_eq!(live.publish("expo", "x", json!({})), 0);
        assert!(!live.has_listeners("expo"));
        live.listen("expo", 2, EphemeralQueue::new(1));
        live.unlisten("expo", 2);
        assert!(!live.has_listeners("expo"));
    }
}
