//! The bridge: what device messages mean for a venue. One task takes every uplink in
//! arrival order, decodes and checks it (`devices::codec`), drops duplicates and notices
//! out-of-order and missing messages and restarted counters per device
//! ([`super::sequence`]), records readings (batched, see
//! [`crate::readings`]), shows live values on the `devices` channel, feeds probe readings
//! to the device rules ([`crate::domain::device_rules`]: unit limits, cooling batches,
//! one open alert per device and kind; a pure state machine the bridge task owns) and
//! hands the commands they return, and what people do on devices ([`super::actions`]),
//! to the venue's engine. A command the engine refuses goes back to the rules.
//! Refusals are counted per reason, logged at a bounded rate and answered on the device's
//! `error` topic. Engine work runs on one bounded queue per venue ([`super::queue`]), so a
//! slow commit never stalls the bridge and a device's commands keep their order. Engine events that concern a
//! device (a waiter answered its call) come back as downlinks.
//!
//! Clocks: readings and the cooling log keep the device's times (its `ts`); the rules
//! decide on the device's clock too, and put an alert record on the hub's.

use std::{collections::HashMap, sync::Arc, time::Duration};

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
    queue::{ENGINE_QUEUE_CAPACITY, Job, VenueQueues},
    sequence::{SequenceTrack, Verdict},
};
use crate::{
    domain::{
        AlertId, Command, CoolingBatchId, DerivedFor, DeviceKind, Event, ScanId, ScannedCode,
        ScannerPurpose, VenueId, derived_id,
        device_rules::{DeviceRules, ProbeReading, RuleCommand, RuleRefusal, TelemetryInput},
        floor::ServiceReason,
    },
    engine::{Published, VenueHandle},
    metrics::Metrics,
    readings::ReadingsRecorder,
    store::ReadingRow,
    ws::{Gateway, live::DeviceLive},
};

/// Where the bridge's results go besides the engine.
#[derive(Clone)]
pub struct Sinks {
    pub gateway: Gateway,
    pub readings: ReadingsRecorder,
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
    /// Each device's `seq` run, for duplicates, gaps and restarts.
    sequences: HashMap<VenueDevice, SequenceTrack>,
    /// Probe monitors, cooling batches and open alerts: what the rules remember.
    rules: DeviceRules,
    /// Commands of the rules the engine refused, back to the bridge task for the rules.
    refused: mpsc::UnboundedSender<RuleCommand>,
    refused_rx: Option<mpsc::UnboundedReceiver<RuleCommand>>,
    queues: VenueQueues,
    /// Jobs of the input being handled, for [`Self::flush_jobs`].
    pending: Vec<(VenueId, Arc<str>, Job)>,
    tick_every: Duration,
    /// Open connections per device, from the gate (embedded broker only: then the gate
    /// reports how each connection ended, and a `status` does not decide offline).
    connections: Option<OpenConnections>,
    sinks: Sinks,
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
        let (refused, refused_rx) = mpsc::unbounded_channel();
        let log_limiter = Arc::new(LogLimiter::default());
        let queues = VenueQueues::new(ENGINE_QUEUE_CAPACITY, metrics.clone(), log_limiter.clone());
        Self {
            directory,
            metrics,
            downlinks,
            log_limiter: log_limiter.clone(),
            sequences: HashMap::new(),
            rules: DeviceRules::new(|| AlertId(Uuid::now_v7())),
            refused,
            refused_rx: Some(refused_rx),
            queues,
            pending: Vec::new(),
            tick_every,
            connections,
            sinks,
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
        let Some(mut refused) = self.refused_rx.take() else {
            return;
        };
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
                // Before the next uplink, so the rules judge it knowing what was refused.
                Some(refusal) = refused.recv() => {
                    self.rules.on_refused(refusal.device, &refusal.command);
                }
                message = uplinks.recv() => match message {
                    Some(message) => self.on_message(message).await,
                    None => return,
                },
                Some(published) = reactions.recv() => self.on_engine_event(&published),
                _ = tick.tick() => self.on_tick(),
            }
            self.flush_jobs().await;
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
                self.rules
                    .know_probe(entry.device_ref(), limits.clone(), now);
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
                        .map(|a| ((venue_id, a.device_id), a.kind, a.id))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (device, kind, id) in open {
                self.rules.know_open_alert(device, kind, id);
            }
            let cooling = handle
                .read(move |venue| {
                    venue
                        .cooling_batches
                        .values()
                        .filter(|b| b.is_active())
                        .map(|b| {
                            (
                                (venue_id, b.device_id),
                                b.probe.clone(),
                                b.id,
                                b.label.clone(),
                                b.rule(),
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (device, probe, batch_id, label, rule) in cooling {
                self.rules
                    .know_cooling_batch(device, probe, batch_id, label, rule);
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
        self.rules.heard(entry.device_ref());
        let sequence = self.sequences.entry(entry.device_ref()).or_default();
        let mut in_order = true;
        if let (Some(msg_id), Some(seq)) = (uplink.message.msg_id(), uplink.message.seq()) {
            let verdict =
                sequence.observe(msg_id, digest(&message.payload), seq, uplink.message.boot());
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
                    if let Some(sequence) = self.sequences.get_mut(&entry.device_ref()) {
                        sequence.connected();
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
        }
        let readings: Vec<ProbeReading<'_>> = telemetry
            .readings
            .iter()
            .map(|r| ProbeReading {
                probe: &r.probe,
                celsius: r.celsius,
            })
            .collect();
        let commands = self.rules.on_telemetry(
            &entry.device,
            entry.device_ref(),
            TelemetryInput {
                readings: &readings,
                device_time: telemetry.ts.is_some().then_some(measured_at),
                hub_now: now,
                in_order,
            },
        );
        self.execute_all(entry, commands);
    }

    fn went_offline(&mut self, entry: &Arc<DirectoryEntry>, now: DateTime<Utc>) {
        let commands = self.rules.went_offline(entry.device_ref(), now);
        self.execute_all(entry, commands);
    }

    async fn on_presence(&mut self, change: Presence) {
        let (entry, ending) = match change {
            Presence::Connected { entry, .. } => {
                self.live(&entry, |live| {
                    live.online = Some(true);
                    live.last_seen = Some(Utc::now());
                });
                self.rules.heard(entry.device_ref());
                self.sequences
                    .entry(entry.device_ref())
                    .or_default()
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
            self.rules.heard(entry.device_ref());
            self.sequences.entry(entry.device_ref()).or_default();
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
        self.sequences.retain(|id, _| entries.contains_key(id));
        let commands = self
            .rules
            .on_tick(now, |device| entries.contains_key(&device));
        for command in commands {
            if let Some(entry) = entries.get(&command.device) {
                self.execute_rule(entry, command);
            }
        }
    }

    /// Queues every command the rules returned for `entry`'s device.
    fn execute_all(&mut self, entry: &Arc<DirectoryEntry>, commands: Vec<RuleCommand>) {
        for command in commands {
            self.execute_rule(entry, command);
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
                self.enqueue(entry, Box::pin(job));
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
                self.enqueue(entry, Box::pin(job));
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
                self.enqueue(entry, Box::pin(job));
            }
            EventBody::CoolingStart { probe, batch } => {
                if device.kind != DeviceKind::Probe {
                    return wrong_kind(self, "probe");
                }
                let batch_id = CoolingBatchId(derived_id(
                    device.id.0,
                    DerivedFor::CoolingBatch { msg_id: &msg_id },
                ));
                let command = match self.rules.start_cooling(
                    entry.device_ref(),
                    probe.clone(),
                    batch,
                    batch_id,
                    at,
                ) {
                    Ok(command) => command,
                    Err(RuleRefusal::CoolingBatchActive) => {
                        return feedback.refuse(
                            DeviceError::CoolingBatchActive,
                            format!("probe {probe} is already cooling a batch; stop it first"),
                            Some(&msg_id),
                        );
                    }
                };
                let refusal = RuleCommand {
                    device: entry.device_ref(),
                    command: command.clone(),
                };
                let refused = self.refused.clone();
                let handle = entry.handle.clone();
                let envelope = device_envelope(entry, &msg_id, command);
                self.enqueue(
                    entry,
                    Box::pin(async move {
                        match handle.execute(envelope).await {
                            Ok(_) => {
                                feedback.ack(&msg_id);
                                feedback.done();
                            }
                            Err(error) => {
                                // The rules stop feeding a batch the engine did not start.
                                let _ = refused.send(refusal);
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
                let found = self.rules.stop_cooling(entry.device_ref(), &batch);
                // A batch no longer cooling (it passed, failed or was stopped) is still in
                // the venue's log: the engine refuses stopping it as `cooling_batch_finished`.
                let job =
                    actions::stop_cooling_batch(entry.clone(), found, batch, at, msg_id, feedback);
                self.enqueue(entry, Box::pin(job));
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

    /// Queues a command of the device rules on the venue's queue, as the device; one the
    /// engine refuses goes back to the rules (an alert not raised is not open).
    fn execute_rule(&mut self, entry: &Arc<DirectoryEntry>, rule_command: RuleCommand) {
        let handle = entry.handle.clone();
        let envelope = rule_envelope(entry, rule_command.command.clone());
        let metrics = self.metrics.clone();
        let refused = self.refused.clone();
        let job: Job = Box::pin(async move {
            let name = envelope.command.name();
            if let Err(error) = handle.execute(envelope).await {
                metrics.mqtt().command_failed(name);
                tracing::warn!(command = name, %error, "a device command was not accepted");
                let _ = refused.send(rule_command);
            }
        });
        self.enqueue(entry, job);
    }

    /// Runs `job` after the venue's earlier device work, once the current input is handled
    /// (see [`Self::flush_jobs`]).
    fn enqueue(&mut self, entry: &DirectoryEntry, job: Job) {
        self.pending
            .push((entry.venue_id, entry.venue_slug.clone(), job));
    }

    /// Hands the jobs of the last input to their venues' queues, in order, waiting for room
    /// in a full queue: the bridge takes no further input meanwhile, and no job is dropped.
    async fn flush_jobs(&mut self) {
        for (venue, slug, job) in std::mem::take(&mut self.pending) {
            self.queues.push(venue, &slug, job).await;
        }
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
    fn topic_names_are_read_for_error_replies() {
        assert_eq!(
            topic_names("almahira/v1/demo/fridge-1/telemtry"),
            Some(("demo", "fridge-1"))
        );
        assert_eq!(topic_names("almahira/v2/demo/fridge-1/telemetry"), None);
        assert_eq!(topic_names("x"), None);
    }
}
