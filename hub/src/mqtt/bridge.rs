//! The bridge: what device messages mean for a venue. One task takes every uplink in
//! arrival order, decodes and checks it (`devices::codec`), drops duplicates and notices
//! out-of-order and missing messages and restarted counters per device
//! ([`super::sequence`]), records readings (batched, see
//! [`crate::readings`]), shows live values on the `devices` channel, feeds probe readings
//! to the food-safety rules (unit limits, cooling batches) and hands what they decide,
//! and what people do on devices ([`super::actions`]), to the venue's engine as commands.
//! Refusals are counted per reason, logged at a bounded rate and answered on the device's
//! `error` topic. Engine work runs on one queue per venue, so a slow commit never stalls
//! the bridge and a device's commands keep their order. Engine events that concern a
//! device (a waiter answered its call) come back as downlinks.
//!
//! Clocks: the rules run on the device's clock (its `ts`), so a fast scenario clock plays
//! out alert delays at its own pace, and readings and the cooling log keep the device's
//! times; an alert record is on the hub's clock, its `since` as long before `raised_at`
//! as the device measured.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use devices::{
    codec::{self, Rejection, UplinkMessage},
    payload::{
        DeviceEvent, DeviceState, EventBody, LedColor, LedPattern, Press, Status, Telemetry,
    },
};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{
    Downlink, Ending, Presence, RawMessage,
    actions::{self, Cursors, Feedback, device_envelope, rule_envelope},
    code::DeviceError,
    directory::{Directory, DirectoryEntry, VenueDevice},
    limiter::LogLimiter,
    sequence::{SequenceTrack, Verdict},
};
use crate::{
    domain::{
        AlertId, Command, CoolingBatchId, CoolingProgress, DerivedFor, DeviceKind, Event, ScanId,
        ScannedCode, ScannerPurpose, VenueId, derived_id,
        floor::ServiceReason,
        food_safety::{
            CoolingAction, CoolingBatch, FoodSafetyAlertKind, ProbeAction, ProbeMonitor,
        },
    },
    engine::{Published, VenueHandle},
    metrics::Metrics,
    readings::ReadingsRecorder,
    store::ReadingRow,
    ws::{Gateway, live::DeviceLive},
};

/// The probe whose readings are held against the unit's limits.
pub const UNIT_PROBE: &str = "main";

/// Where the bridge's results go besides the engine.
#[derive(Clone)]
pub struct Sinks {
    pub gateway: Gateway,
    pub readings: ReadingsRecorder,
}

/// A cooling batch the bridge is feeding readings to.
struct CoolingTrack {
    batch_id: CoolingBatchId,
    label: String,
    rule: CoolingBatch,
}

type CoolingTracks = Arc<DashMap<(VenueDevice, String), CoolingTrack>>;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the bridge knows about one device between messages.
struct DeviceTrack {
    sequence: SequenceTrack,
    /// Device clock minus hub clock at the last message that carried a time, so silence
    /// is measured on the device's clock (firmware-sim runs scenario time faster).
    clock_offset: chrono::Duration,
    monitor: Option<ProbeMonitor>,
}

impl DeviceTrack {
    fn new() -> Self {
        Self {
            sequence: SequenceTrack::default(),
            clock_offset: chrono::Duration::zero(),
            monitor: None,
        }
    }
}

/// A time on a device's clock moved to the hub's: as long before `hub_now` as it was
/// before `device_now` on the device's clock, and never after `hub_now`. Keeps an alert
/// record on one clock whether the device's runs behind, ahead, or fast.
fn on_hub_clock(
    at: DateTime<Utc>,
    device_now: DateTime<Utc>,
    hub_now: DateTime<Utc>,
) -> DateTime<Utc> {
    hub_now - (device_now - at).max(chrono::Duration::zero())
}

/// The device's time and the hub's at the moment the rules decided something.
#[derive(Clone, Copy, Debug)]
struct Clocks {
    device: DateTime<Utc>,
    hub: DateTime<Utc>,
}

impl Clocks {
    fn to_hub(self, at: DateTime<Utc>) -> DateTime<Utc> {
        on_hub_clock(at, self.device, self.hub)
    }
}

/// Identifies a payload, to tell a redelivery from a reused `msg_id`.
fn digest(payload: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    payload.hash(&mut hasher);
    hasher.finish()
}

pub struct Bridge {
    directory: Directory,
    metrics: Metrics,
    downlinks: mpsc::Sender<Downlink>,
    log_limiter: Arc<LogLimiter>,
    tracks: HashMap<VenueDevice, DeviceTrack>,
    /// Open probe alerts the rules raised, so a restart does not raise them twice and a
    /// recovery marks the right one.
    open_alerts: Arc<DashMap<(VenueDevice, FoodSafetyAlertKind), AlertId>>,
    queues: HashMap<VenueId, mpsc::UnboundedSender<Job>>,
    tick_every: Duration,
    /// Open connections per device, from the gate (embedded broker only: then the gate
    /// reports how each connection ended, and a `status` does not decide offline).
    connections: Option<OpenConnections>,
    sinks: Sinks,
    cooling: CoolingTracks,
    cursors: Cursors,
}

/// Open MQTT connections per `(venue slug, device key)`.
pub type OpenConnections = Arc<DashMap<(Arc<str>, String), usize>>;

impl Bridge {
    pub fn new(
        directory: Directory,
        metrics: Metrics,
        downlinks: mpsc::Sender<Downlink>,
        tick_every: Duration,
        connections: Option<OpenConnections>,
        sinks: Sinks,
    ) -> Self {
        Self {
            directory,
            metrics,
            downlinks,
            log_limiter: Arc::new(LogLimiter::default()),
            tracks: HashMap::new(),
            open_alerts: Arc::new(DashMap::new()),
            queues: HashMap::new(),
            tick_every,
            connections,
            sinks,
            cooling: Arc::new(DashMap::new()),
            cursors: Arc::new(DashMap::new()),
        }
    }

    /// Runs until `stop` turns true or the broker side closes.
    pub async fn run(
        mut self,
        mut uplinks: mpsc::Receiver<RawMessage>,
        mut presence: mpsc::UnboundedReceiver<Presence>,
        mut reactions: mpsc::UnboundedReceiver<Arc<Published>>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.directory.load_all().await;
        self.start_known_probes().await;
        let mut tick = tokio::time::interval(self.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Presence first: the gate announces a connection before it relays anything
            // from it, so the device's first message is judged knowing it is new.
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                Some(change) = presence.recv() => self.on_presence(change).await,
                message = uplinks.recv() => match message {
                    Some(message) => self.on_message(message).await,
                    None => return,
                },
                Some(published) = reactions.recv() => self.on_engine_event(&published),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    /// Starts the silence clock of every known probe and learns the alerts still open, so
    /// a probe that never reports after a restart still goes offline, once.
    async fn start_known_probes(&mut self) {
        let now = Utc::now();
        let mut venues: HashMap<VenueId, VenueHandle> = HashMap::new();
        for entry in self.directory.entries() {
            venues.entry(entry.venue_id).or_insert(entry.handle.clone());
            if let Some(limits) = &entry.device.limits
                && entry.device.kind == DeviceKind::Probe
                && entry.device.enabled
            {
                let mut monitor = ProbeMonitor::new(limits.clone());
                monitor.assume_heard(now);
                self.tracks
                    .entry(entry.device_ref())
                    .or_insert_with(DeviceTrack::new)
                    .monitor = Some(monitor);
            }
        }
        for handle in venues.into_values() {
            let venue_id = handle.id();
            let open = handle
                .read(move |venue| {
                    venue
                        .food_safety_alerts
                        .values()
                        .filter(|a| a.is_open() && a.recovered_at.is_none())
                        .map(|a| (((venue_id, a.device_id), a.kind), a.id))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (key, id) in open {
                self.open_alerts.insert(key, id);
            }
            let cooling = handle
                .read(move |venue| {
                    venue
                        .cooling_batches
                        .values()
                        .filter(|b| b.is_active())
                        .map(|b| {
                            (
                                ((venue_id, b.device_id), b.probe.clone()),
                                b.id,
                                b.label.clone(),
                                b.rule(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (key, batch_id, label, rule) in cooling {
                self.cooling.insert(
                    key,
                    CoolingTrack {
                        batch_id,
                        label,
                        rule,
                    },
                );
            }
        }
    }

    fn count_rejection(&self, reason: &'static str, topic: &str, detail: &dyn std::fmt::Display) {
        self.metrics.mqtt().rejected(reason);
        if let Some(suppressed) = self.log_limiter.allow_counting(reason) {
            tracing::warn!(reason, topic, %detail, suppressed, "device message refused");
        }
    }

    fn feedback(&self, entry: &DirectoryEntry) -> Feedback {
        Feedback::for_device(
            entry,
            self.downlinks.clone(),
            self.metrics.clone(),
            self.log_limiter.clone(),
        )
    }

    /// Answers on the device's `error` topic.
    fn reply_error(
        &self,
        venue: &str,
        device: &str,
        code: DeviceError,
        message: String,
        msg_id: Option<String>,
    ) {
        let reply = devices::payload::ErrorReply {
            code: code.code().to_owned(),
            message,
            msg_id,
        };
        self.send(Downlink {
            topic: format!("{}/error", devices::topic::device_prefix(venue, device)),
            payload: codec::encode_error(&reply),
        });
    }

    fn send(&self, downlink: Downlink) {
        if self.downlinks.try_send(downlink).is_err() {
            self.metrics.mqtt().downlink_dropped();
        }
    }

    async fn on_message(&mut self, message: RawMessage) {
        let Ok(topic) = std::str::from_utf8(&message.topic) else {
            return;
        };
        // The hub's own downlinks match its filter too.
        if topic.ends_with("/cmd") || topic.ends_with("/error") {
            return;
        }
        let names = topic_names(topic);
        let uplink = match codec::decode_uplink(topic, &message.payload) {
            Ok(uplink) => uplink,
            Err(rejection) => {
                // An empty retained message only clears a status; nothing to answer.
                if message.payload.is_empty() {
                    return;
                }
                self.count_rejection(rejection.reason(), topic, &rejection);
                if let Some((venue, device)) = names {
                    let reply = codec::error_reply(&rejection, &message.payload);
                    self.send(Downlink {
                        topic: format!("{}/error", devices::topic::device_prefix(venue, device)),
                        payload: codec::encode_error(&reply),
                    });
                }
                return;
            }
        };
        // With the embedded broker the gate already refused both; with an external broker
        // the device learns why the hub ignores it.
        let Some(entry) = self.directory.lookup(&uplink.venue, &uplink.device).await else {
            let code = DeviceError::UnknownDevice;
            self.count_rejection(code.code(), topic, &"no such device in the registry");
            let message = "no device with this key is registered in this venue".to_owned();
            self.reply_error(
                &uplink.venue,
                &uplink.device,
                code,
                message,
                uplink.message.msg_id().map(str::to_owned),
            );
            return;
        };
        if !entry.device.enabled {
            let code = DeviceError::DeviceDisabled;
            self.count_rejection(code.code(), topic, &"the device is disabled");
            let message = "this device is disabled; a manager can enable it".to_owned();
            self.reply_error(
                &uplink.venue,
                &uplink.device,
                code,
                message,
                uplink.message.msg_id().map(str::to_owned),
            );
            return;
        }
        let now = Utc::now();
        let track = self
            .tracks
            .entry(entry.device_ref())
            .or_insert_with(DeviceTrack::new);
        let mut in_order = true;
        if let (Some(msg_id), Some(seq)) = (uplink.message.msg_id(), uplink.message.seq()) {
            let verdict = track.sequence.observe(
                msg_id,
                digest(&message.payload),
                seq,
                uplink.message.boot(),
            );
            match verdict {
                Verdict::Duplicate => {
                    // A QoS 1 redelivery: normal, counted, not answered.
                    self.metrics.mqtt().rejected(DeviceError::Duplicate.code());
                    return;
                }
                Verdict::InOrder => {}
                Verdict::Gap(missing) => self.metrics.mqtt().seq_gap(missing),
                Verdict::Restarted { cause, last } => {
                    // A reboot: a new run of the counter, heard like any other message.
                    self.metrics.mqtt().counter_restart(cause.as_str());
                    if let Some(suppressed) = self.log_limiter.allow_counting("counter_restart") {
                        tracing::info!(
                            topic,
                            cause = cause.as_str(),
                            last,
                            seq,
                            suppressed,
                            "a device's seq started again (a restart); its messages count again"
                        );
                    }
                }
                Verdict::OutOfOrder => in_order = false,
            }
        }
        self.metrics.mqtt().accepted(uplink.message.kind().as_str());
        match uplink.message {
            UplinkMessage::Telemetry(telemetry) => {
                if !in_order {
                    // Late readings are kept as data but never move the rules backwards.
                    let code = DeviceError::OutOfOrder.code();
                    self.count_rejection(code, topic, &"seq at or below the last one");
                }
                self.on_telemetry(&entry, telemetry, now, in_order).await;
            }
            UplinkMessage::Status(status) => {
                self.status_live(&entry, &status, now);
                if status.state == DeviceState::Online {
                    // Devices announce `online` right after connecting: their counter may
                    // start again (with an external broker this is the only sign of it).
                    if let Some(track) = self.tracks.get_mut(&entry.device_ref()) {
                        track.sequence.connected();
                    }
                }
                // With the embedded broker the gate saw how the connection ended, which a
                // status cannot say (a device's own `offline` before a clean DISCONNECT
                // reads like its will): only a lost connection is offline, see on_presence.
                // With an external broker a status `offline` is the only sign there is.
                if status.state == DeviceState::Offline && self.connections.is_none() {
                    self.went_offline(&entry, now);
                }
            }
            UplinkMessage::Event(event) => {
                if !in_order {
                    // An old key press must not bump today's ticket.
                    let code = DeviceError::OutOfOrder;
                    self.count_rejection(code.code(), topic, &"seq at or below the last one");
                    self.reply_error(
                        &uplink.venue,
                        &uplink.device,
                        code,
                        "seq is at or below the last one of this run; the event was not applied"
                            .into(),
                        Some(event.msg_id),
                    );
                    return;
                }
                self.on_event(&entry, event, now);
            }
        }
    }

    /// Updates what the `devices` channel shows for a device.
    fn live(&self, entry: &DirectoryEntry, update: impl FnOnce(&mut DeviceLive)) {
        let gateway = &self.sinks.gateway;
        let mut live = gateway
            .device_live(entry.venue_id, entry.device.id)
            .unwrap_or_default();
        update(&mut live);
        gateway.update_device_live(entry.venue_id, entry.device.id, live);
    }

    fn status_live(&self, entry: &DirectoryEntry, status: &Status, now: DateTime<Utc>) {
        self.live(entry, |live| {
            live.online = Some(status.state == DeviceState::Online);
            live.last_seen = Some(now);
            if status.firmware.is_some() {
                live.firmware = status.firmware.clone();
            }
            if status.rssi.is_some() {
                live.rssi = status.rssi;
            }
        });
    }

    async fn on_telemetry(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        telemetry: Telemetry,
        now: DateTime<Utc>,
        in_order: bool,
    ) {
        let measured_at = telemetry
            .ts
            .as_ref()
            .and_then(|ts| ts.to_datetime())
            .map_or(now, |at| at.with_timezone(&Utc));
        // Every reading is kept, late ones too (they are still what the probe measured).
        for reading in &telemetry.readings {
            self.sinks
                .readings
                .record(ReadingRow {
                    venue_id: entry.venue_id,
                    device_id: entry.device.id,
                    probe: reading.probe.clone(),
                    celsius: reading.celsius,
                    measured_at,
                    received_at: now,
                })
                .await;
        }
        if in_order {
            self.live(entry, |live| {
                live.online = Some(true);
                live.last_seen = Some(now);
                for reading in &telemetry.readings {
                    live.readings.insert(reading.probe.clone(), reading.celsius);
                }
                if let Some(door) = telemetry.door {
                    live.door = Some(
                        match door {
                            devices::payload::DoorState::Open => "open",
                            devices::payload::DoorState::Closed => "closed",
                        }
                        .to_owned(),
                    );
                }
                if telemetry.battery_percent.is_some() {
                    live.battery_percent = telemetry.battery_percent;
                }
            });
            for reading in &telemetry.readings {
                let key = (entry.device_ref(), reading.probe.clone());
                let actions = match self.cooling.get_mut(&key) {
                    Some(mut track) => track.rule.observe(reading.celsius, measured_at),
                    None => continue,
                };
                let clocks = Clocks {
                    device: measured_at,
                    hub: now,
                };
                self.apply_cooling_actions(entry, &key, actions, Some(reading.celsius), clocks);
            }
        }
        let Some(track) = self.tracks.get_mut(&entry.device_ref()) else {
            return;
        };
        if telemetry.ts.is_some() && in_order {
            track.clock_offset = measured_at - now;
        }
        if !in_order || entry.device.kind != DeviceKind::Probe {
            return;
        }
        let Some(limits) = &entry.device.limits else {
            return;
        };
        let monitor = match &mut track.monitor {
            Some(monitor) if &monitor.limits == limits => monitor,
            slot => slot.insert(ProbeMonitor::new(limits.clone())),
        };
        let unit_reading = telemetry
            .readings
            .iter()
            .find(|r| r.probe == UNIT_PROBE)
            .or_else(|| (telemetry.readings.len() == 1).then(|| &telemetry.readings[0]));
        if let Some(reading) = unit_reading {
            let actions = monitor.observe(reading.celsius, measured_at);
            let clocks = Clocks {
                device: measured_at,
                hub: now,
            };
            self.apply_probe_actions(entry, actions, clocks);
        }
    }

    fn went_offline(&mut self, entry: &Arc<DirectoryEntry>, now: DateTime<Utc>) {
        let Some(track) = self.tracks.get_mut(&entry.device_ref()) else {
            return;
        };
        let clocks = Clocks {
            device: now + track.clock_offset,
            hub: now,
        };
        if let Some(monitor) = &mut track.monitor {
            let actions = monitor.went_offline(clocks.device);
            self.apply_probe_actions(entry, actions, clocks);
        }
    }

    async fn on_presence(&mut self, change: Presence) {
        let (entry, ending) = match change {
            Presence::Connected { entry, .. } => {
                self.live(&entry, |live| {
                    live.online = Some(true);
                    live.last_seen = Some(Utc::now());
                });
                self.tracks
                    .entry(entry.device_ref())
                    .or_insert_with(DeviceTrack::new)
                    .sequence
                    .connected();
                return;
            }
            Presence::Gone { entry, ending } => (entry, ending),
        };
        self.live(&entry, |live| {
            live.online = Some(false);
            live.last_seen = Some(Utc::now());
        });
        // A clean DISCONNECT is a device going to sleep between reports, and a device the
        // hub closed because its credential changed did not fail either; silence beyond
        // three intervals still raises "offline" on the tick.
        if ending != Ending::Lost {
            return;
        }
        // The device as it is now: one disabled or removed meanwhile is not watched.
        let current = self
            .directory
            .lookup(&entry.venue_slug, &entry.device.key)
            .await;
        if let Some(entry) = current.filter(|e| e.device.enabled && e.device.id == entry.device.id)
        {
            self.tracks
                .entry(entry.device_ref())
                .or_insert_with(DeviceTrack::new);
            self.went_offline(&entry, Utc::now());
        }
    }

    fn on_tick(&mut self) {
        let now = Utc::now();
        let entries: HashMap<VenueDevice, Arc<DirectoryEntry>> = self
            .directory
            .entries()
            .into_iter()
            .filter(|e| e.device.enabled)
            .map(|e| (e.device_ref(), e))
            .collect();
        // Disabled and removed devices are not watched for silence.
        self.tracks.retain(|id, _| entries.contains_key(id));
        let mut raised = Vec::new();
        for (device_id, track) in &mut self.tracks {
            if let Some(monitor) = &mut track.monitor {
                let clocks = Clocks {
                    device: now + track.clock_offset,
                    hub: now,
                };
                let actions = monitor.tick(clocks.device);
                if !actions.is_empty() {
                    raised.push((*device_id, actions, clocks));
                }
            }
        }
        for (device_id, actions, clocks) in raised {
            if let Some(entry) = entries.get(&device_id) {
                self.apply_probe_actions(entry, actions, clocks);
            }
        }
        let mut due = Vec::new();
        for mut track in self.cooling.iter_mut() {
            let (device_id, _) = track.key().clone();
            let offset = self
                .tracks
                .get(&device_id)
                .map_or(chrono::Duration::zero(), |t| t.clock_offset);
            let clocks = Clocks {
                device: now + offset,
                hub: now,
            };
            let actions = track.rule.check_deadlines(clocks.device);
            if !actions.is_empty() {
                due.push((track.key().clone(), actions, clocks));
            }
        }
        for (key, actions, clocks) in due {
            if let Some(entry) = entries.get(&key.0) {
                self.apply_cooling_actions(entry, &key, actions, None, clocks);
            }
        }
    }

    /// Turns the rules' decisions into engine commands, one alert per device and kind.
    fn apply_probe_actions(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        actions: Vec<ProbeAction>,
        clocks: Clocks,
    ) {
        for action in actions {
            match action {
                ProbeAction::Raise {
                    kind,
                    celsius,
                    limit,
                    since,
                } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    let key = (entry.device_ref(), kind);
                    if self.open_alerts.contains_key(&key) {
                        continue;
                    }
                    let alert_id = AlertId(Uuid::now_v7());
                    self.open_alerts.insert(key, alert_id);
                    let command = Command::RaiseFoodSafetyAlert {
                        alert_id,
                        device_id: entry.device.id,
                        kind,
                        celsius,
                        limit,
                        since: clocks.to_hub(since),
                    };
                    let open_alerts = self.open_alerts.clone();
                    self.execute(entry, command, move |result| {
                        if result.is_err() {
                            open_alerts.remove_if(&key, |_, id| *id == alert_id);
                        }
                    });
                }
                ProbeAction::Recovered { kind } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    if let Some((_, alert_id)) =
                        self.open_alerts.remove(&(entry.device_ref(), kind))
                    {
                        let command = Command::MarkFoodSafetyRecovered { alert_id };
                        self.execute(entry, command, |_| {});
                    }
                }
            }
        }
    }

    /// Cooling rule decisions: the record of the batch, plus an alert on `alerts` when a
    /// stage deadline will be or was missed.
    fn apply_cooling_actions(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        key: &(VenueDevice, String),
        actions: Vec<CoolingAction>,
        celsius: Option<f64>,
        clocks: Clocks,
    ) {
        let Some(batch_id) = self.cooling.get(key).map(|t| t.batch_id) else {
            return;
        };
        for action in actions {
            let alert = match &action {
                CoolingAction::Warning {
                    stage, deadline, ..
                } => Some((FoodSafetyAlertKind::CoolingWarning, *stage, *deadline)),
                CoolingAction::Failed { stage, deadline } => {
                    Some((FoodSafetyAlertKind::CoolingFailed, *stage, *deadline))
                }
                _ => None,
            };
            let progress = Command::RecordCoolingProgress {
                batch_id,
                progress: CoolingProgress::from(action),
            };
            self.execute(entry, progress, |_| {});
            if let Some((kind, stage, deadline)) = alert {
                let command = Command::RaiseFoodSafetyAlert {
                    alert_id: AlertId(Uuid::now_v7()),
                    device_id: entry.device.id,
                    kind,
                    celsius,
                    limit: Some(stage.target_celsius()),
                    since: clocks.to_hub(deadline - stage.allowed()),
                };
                self.execute(entry, command, |_| {});
            }
        }
        if self.cooling.get(key).is_some_and(|t| t.rule.is_finished()) {
            self.cooling.remove(key);
        }
    }

    fn on_event(&mut self, entry: &Arc<DirectoryEntry>, event: DeviceEvent, now: DateTime<Utc>) {
        let feedback = self.feedback(entry);
        let at = event
            .ts
            .as_ref()
            .and_then(|ts| ts.to_datetime())
            .map_or(now, |at| at.with_timezone(&Utc));
        let msg_id = event.msg_id;
        let device = &entry.device;
        let wrong_kind = |_: &Self, expected: &str| {
            feedback.refuse(
                DeviceError::WrongDeviceKind,
                format!(
                    "a {:?} device cannot send this event; it is for a {expected}",
                    device.kind
                ),
                Some(&msg_id),
            );
        };
        match event.event {
            EventBody::Key { key } => {
                if device.kind != DeviceKind::BumpBar {
                    return wrong_kind(self, "bump bar");
                }
                let Some(station) = device.station_id else {
                    return feedback.refuse(
                        DeviceError::NotPaired,
                        "this bump bar is not paired with a station".into(),
                        Some(&msg_id),
                    );
                };
                let job = actions::bump_bar_key(
                    entry.clone(),
                    station,
                    key,
                    msg_id,
                    feedback,
                    self.cursors.clone(),
                    self.sinks.gateway.clone(),
                );
                self.enqueue(entry.venue_id, Box::pin(job));
            }
            EventBody::Scan { code, symbology } => {
                if device.kind != DeviceKind::Scanner {
                    return wrong_kind(self, "scanner");
                }
                let command = match device.purpose {
                    Some(ScannerPurpose::Pass) => Command::PickUpTicket {
                        device_id: device.id,
                        code,
                    },
                    _ => match devices::gs1::decode_scan(&code, symbology) {
                        Ok(scan) => Command::RecordScan {
                            scan_id: ScanId(derived_id(
                                device.id.0,
                                DerivedFor::Scan { msg_id: &msg_id },
                            )),
                            device_id: device.id,
                            scan: ScannedCode::from(scan),
                            scanned_at: at,
                        },
                        Err(error) => {
                            feedback.led(LedColor::Red, LedPattern::Blink, Some(3));
                            return feedback.refuse(
                                DeviceError::BadScan,
                                error.to_string(),
                                Some(&msg_id),
                            );
                        }
                    },
                };
                let job = actions::run_with_feedback(
                    entry.handle.clone(),
                    device_envelope(entry, &msg_id, command),
                    msg_id,
                    feedback,
                    |feedback| feedback.done(),
                );
                self.enqueue(entry.venue_id, Box::pin(job));
            }
            EventBody::Button { press } => {
                if device.kind != DeviceKind::CallButton {
                    return wrong_kind(self, "call button");
                }
                let Some(table_id) = device.table_id else {
                    return feedback.refuse(
                        DeviceError::NotPaired,
                        "this call button is not placed at a table".into(),
                        Some(&msg_id),
                    );
                };
                let (command, waiting) = match press {
                    Press::Service | Press::Bill => (
                        Command::RequestService {
                            table_id,
                            device_id: Some(device.id),
                            reason: if press == Press::Bill {
                                ServiceReason::Bill
                            } else {
                                ServiceReason::Service
                            },
                        },
                        true,
                    ),
                    Press::Cancel => (Command::CancelServiceRequest { table_id }, false),
                };
                let job = actions::run_with_feedback(
                    entry.handle.clone(),
                    device_envelope(entry, &msg_id, command),
                    msg_id,
                    feedback,
                    move |feedback| {
                        if waiting {
                            // Amber until a waiter answers (then green, see on_engine_event).
                            feedback.led(LedColor::Amber, LedPattern::Pulse, None);
                        } else {
                            feedback.led(LedColor::Off, LedPattern::Solid, None);
                        }
                    },
                );
                self.enqueue(entry.venue_id, Box::pin(job));
            }
            EventBody::CoolingStart { probe, batch } => {
                if device.kind != DeviceKind::Probe {
                    return wrong_kind(self, "probe");
                }
                let key = (entry.device_ref(), probe.clone());
                let batch_id = CoolingBatchId(derived_id(
                    device.id.0,
                    DerivedFor::CoolingBatch { msg_id: &msg_id },
                ));
                if self.cooling.contains_key(&key) {
                    return feedback.refuse(
                        DeviceError::CoolingBatchActive,
                        format!("probe {probe} is already cooling a batch; stop it first"),
                        Some(&msg_id),
                    );
                }
                self.cooling.insert(
                    key.clone(),
                    CoolingTrack {
                        batch_id,
                        label: batch.clone(),
                        rule: CoolingBatch::new(),
                    },
                );
                let command = Command::StartCoolingBatch {
                    batch_id,
                    device_id: device.id,
                    probe,
                    label: batch,
                    started_at: at,
                };
                let cooling = self.cooling.clone();
                let handle = entry.handle.clone();
                let envelope = device_envelope(entry, &msg_id, command);
                self.enqueue(
                    entry.venue_id,
                    Box::pin(async move {
                        match handle.execute(envelope).await {
                            Ok(_) => {
                                feedback.ack(&msg_id);
                                feedback.done();
                            }
                            Err(error) => {
                                cooling.remove_if(&key, |_, t| t.batch_id == batch_id);
                                feedback.refused(&error, &msg_id);
                            }
                        }
                    }),
                );
            }
            EventBody::CoolingStop { batch } => {
                if device.kind != DeviceKind::Probe {
                    return wrong_kind(self, "probe");
                }
                let found = self
                    .cooling
                    .iter()
                    .find(|t| t.key().0 == entry.device_ref() && t.label == batch)
                    .map(|t| (t.key().clone(), t.batch_id));
                if let Some((key, _)) = &found {
                    self.cooling.remove(key);
                }
                // A batch no longer cooling (it passed, failed or was stopped) is still in
                // the venue's log: the engine refuses stopping it as `cooling_batch_finished`.
                let job = actions::stop_cooling_batch(
                    entry.clone(),
                    found.map(|(_, batch_id)| batch_id),
                    batch,
                    at,
                    msg_id,
                    feedback,
                );
                self.enqueue(entry.venue_id, Box::pin(job));
            }
        }
    }

    /// Engine events that concern a device: a waiter answered a call button (green), the
    /// call was cancelled or the table cleared (off).
    fn on_engine_event(&mut self, published: &Published) {
        // The button that asked, or every call button on the table.
        let (button, table, color, pattern, seconds) = match &published.event {
            Event::ServiceRequestAcknowledged {
                device_id: Some(device_id),
                ..
            } => (
                Some(*device_id),
                None,
                LedColor::Green,
                LedPattern::Solid,
                Some(10),
            ),
            Event::ServiceRequestCancelled { table_id, .. } => (
                None,
                Some(*table_id),
                LedColor::Off,
                LedPattern::Solid,
                None,
            ),
            _ => return,
        };
        for entry in self.directory.entries() {
            let device = &entry.device;
            let on_table = device.kind == DeviceKind::CallButton
                && table.is_some()
                && device.table_id == table;
            if button == Some(device.id) || on_table {
                self.feedback(&entry).led(color, pattern, seconds);
            }
        }
    }

    /// Queues a command of the hub's rules on the venue's queue, as the device; `then`
    /// sees whether the engine took it.
    fn execute(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        command: Command,
        then: impl FnOnce(Result<(), String>) + Send + 'static,
    ) {
        let handle = entry.handle.clone();
        let envelope = rule_envelope(entry, command);
        let metrics = self.metrics.clone();
        let job: Job = Box::pin(async move {
            let name = envelope.command.name();
            match handle.execute(envelope).await {
                Ok(_) => then(Ok(())),
                Err(error) => {
                    metrics.mqtt().command_failed(name);
                    tracing::warn!(command = name, %error, "a device command was not accepted");
                    then(Err(error.to_string()));
                }
            }
        });
        self.enqueue(entry.venue_id, job);
    }

    /// Runs `job` after the venue's earlier device work.
    fn enqueue(&mut self, venue: VenueId, job: Job) {
        let queue = self.queues.entry(venue).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            tokio::spawn(async move {
                while let Some(job) = rx.recv().await {
                    job.await;
                }
            });
            tx
        });
        let _ = queue.send(job);
    }
}

/// `(venue, device)` of a topic shaped like `almahira/v1/<venue>/<device>/...`, for
/// answering a message whose payload or kind was refused.
fn topic_names(topic: &str) -> Option<(&str, &str)> {
    let mut levels = topic.split('/');
    let (Some("almahira"), Some("v1"), Some(venue), Some(device)) =
        (levels.next(), levels.next(), levels.next(), levels.next())
    else {
        return None;
    };
    (devices::topic::is_valid_venue(venue) && devices::topic::is_valid_device(device))
        .then_some((venue, device))
}

/// `Rejection` reasons plus the device side's own, for pre-registering metric labels.
pub fn all_rejection_reasons() -> impl Iterator<Item = &'static str> {
    Rejection::REASONS
        .into_iter()
        .chain(DeviceError::ALL.iter().map(|code| code.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_time_moves_to_the_hub_clock_keeping_how_long_ago_it_was() {
        let hub: DateTime<Utc> = "2026-06-01T10:00:00Z".parse().unwrap();
        let minutes = chrono::Duration::minutes;
        // A device two hours ahead, or behind: the same 16 minutes before the hub's now.
        for skew in [minutes(120), minutes(-120), minutes(0)] {
            let device = hub + skew;
            assert_eq!(
                on_hub_clock(device - minutes(16), device, hub),
                hub - minutes(16)
            );
        }
        // Never after the hub's now, even for a time ahead of the device's own.
        assert_eq!(on_hub_clock(hub + minutes(5), hub, hub), hub);
    }

    #[test]
    fn topic_names_are_read_for_error_replies() {
        assert_eq!(
            topic_names("almahira/v1/demo/fridge-1/telemtry"),
            Some(("demo", "fridge-1"))
        );
        assert_eq!(topic_names("almahira/v2/demo/fridge-1/telemetry"), None);
        assert_eq!(topic_names("x"), None);
    }
}
