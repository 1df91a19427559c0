//! The bridge: what device messages mean for a venue. One task takes every uplink in
//! arrival order, decodes and checks it (`devices::codec`), drops duplicates and notices
//! out-of-order and missing messages per device, feeds probe readings to the food-safety
//! rules and hands what they decide to the venue's engine as commands. Refusals are
//! counted per reason, logged at a bounded rate and answered on the device's `error`
//! topic. Engine work runs on one queue per venue, so a slow commit never stalls the
//! bridge and a device's commands keep their order.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use devices::{
    codec::{self, Rejection, UplinkMessage},
    payload::{DeviceState, Telemetry},
};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::{
    Downlink, Presence, RawMessage,
    directory::{Directory, DirectoryEntry},
    limiter::LogLimiter,
};
use crate::{
    domain::{
        Actor, AlertId, Command, DeviceId, DeviceKind, VenueId,
        food_safety::{FoodSafetyAlertKind, ProbeAction, ProbeMonitor},
    },
    engine::{Envelope, VenueHandle},
    metrics::Metrics,
};

/// msg_ids remembered per device to drop redeliveries.
const REMEMBERED_IDS: usize = 128;
/// A `seq` this far below the last one means the device restarted its counter.
const SEQ_RESTART_GAP: u64 = 1000;
/// The probe whose readings are held against the unit's limits.
pub const UNIT_PROBE: &str = "main";

/// Reasons the bridge refuses a message beyond the codec's own (`codec::Rejection`).
pub const BRIDGE_REASONS: [&str; 5] = [
    "unknown_device",
    "device_disabled",
    "duplicate",
    "out_of_order",
    "wrong_device_kind",
];

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the bridge knows about one device between messages.
struct DeviceTrack {
    last_seq: Option<u64>,
    recent_ids: VecDeque<String>,
    recent_set: HashSet<String>,
    /// Device clock minus hub clock at the last message that carried a time, so silence
    /// is measured on the device's clock (firmware-sim runs scenario time faster).
    clock_offset: chrono::Duration,
    monitor: Option<ProbeMonitor>,
}

impl DeviceTrack {
    fn new() -> Self {
        Self {
            last_seq: None,
            recent_ids: VecDeque::new(),
            recent_set: HashSet::new(),
            clock_offset: chrono::Duration::zero(),
            monitor: None,
        }
    }

    /// Remembers `msg_id`; false if it was already seen.
    fn first_sighting(&mut self, msg_id: &str) -> bool {
        if self.recent_set.contains(msg_id) {
            return false;
        }
        self.recent_set.insert(msg_id.to_owned());
        self.recent_ids.push_back(msg_id.to_owned());
        if self.recent_ids.len() > REMEMBERED_IDS
            && let Some(old) = self.recent_ids.pop_front()
        {
            self.recent_set.remove(&old);
        }
        true
    }
}

/// How a message's `seq` relates to the device's previous one.
#[derive(Debug, PartialEq, Eq)]
enum SeqCheck {
    InOrder,
    /// Some messages in between never arrived (or arrive later).
    Gap(u64),
    OutOfOrder,
}

fn check_seq(last: Option<u64>, seq: u64) -> SeqCheck {
    match last {
        None => SeqCheck::InOrder,
        Some(last) if seq == last + 1 => SeqCheck::InOrder,
        Some(last) if seq > last => SeqCheck::Gap(seq - last - 1),
        // A counter that starts again (reboot) is a new run, not old news.
        Some(last) if seq == 0 || seq + SEQ_RESTART_GAP < last => SeqCheck::InOrder,
        Some(_) => SeqCheck::OutOfOrder,
    }
}

pub struct Bridge {
    directory: Directory,
    metrics: Metrics,
    downlinks: mpsc::Sender<Downlink>,
    log_limiter: LogLimiter,
    tracks: HashMap<DeviceId, DeviceTrack>,
    /// Open probe alerts the rules raised, so a restart does not raise them twice and a
    /// recovery marks the right one.
    open_alerts: Arc<DashMap<(DeviceId, FoodSafetyAlertKind), AlertId>>,
    queues: HashMap<VenueId, mpsc::UnboundedSender<Job>>,
    tick_every: Duration,
    /// Open connections per device, from the gate (embedded broker only).
    connections: Option<OpenConnections>,
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
    ) -> Self {
        Self {
            directory,
            metrics,
            downlinks,
            log_limiter: LogLimiter::default(),
            tracks: HashMap::new(),
            open_alerts: Arc::new(DashMap::new()),
            queues: HashMap::new(),
            tick_every,
            connections,
        }
    }

    /// Runs until `stop` turns true or the broker side closes.
    pub async fn run(
        mut self,
        mut uplinks: mpsc::Receiver<RawMessage>,
        mut presence: mpsc::UnboundedReceiver<Presence>,
        mut stop: watch::Receiver<bool>,
    ) {
        self.directory.load_all().await;
        self.start_known_probes().await;
        let mut tick = tokio::time::interval(self.tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = uplinks.recv() => match message {
                    Some(message) => self.on_message(message).await,
                    None => return,
                },
                Some(change) = presence.recv() => self.on_presence(change).await,
                _ = tick.tick() => self.on_tick(),
                _ = stop.changed() => return,
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
                    .entry(entry.device.id)
                    .or_insert_with(DeviceTrack::new)
                    .monitor = Some(monitor);
            }
        }
        for handle in venues.into_values() {
            let open = handle
                .read(|venue| {
                    venue
                        .food_safety_alerts
                        .values()
                        .filter(|a| a.is_open() && a.recovered_at.is_none())
                        .map(|a| ((a.device_id, a.kind), a.id))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (key, id) in open {
                self.open_alerts.insert(key, id);
            }
        }
    }

    fn count_rejection(&self, reason: &'static str, topic: &str, detail: &dyn std::fmt::Display) {
        self.metrics.mqtt().rejected(reason);
        if let Some(suppressed) = self.log_limiter.allow_counting(reason) {
            tracing::warn!(reason, topic, %detail, suppressed, "device message refused");
        }
    }

    /// Answers on the device's `error` topic.
    fn reply_error(
        &self,
        venue: &str,
        device: &str,
        code: &str,
        message: String,
        msg_id: Option<String>,
    ) {
        let reply = devices::payload::ErrorReply {
            code: code.to_owned(),
            message,
            msg_id,
        };
        self.send(Downlink {
            topic: format!("almahira/v1/{venue}/{device}/error"),
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
                        topic: format!("almahira/v1/{venue}/{device}/error"),
                        payload: codec::encode_error(&reply),
                    });
                }
                return;
            }
        };
        let Some(entry) = self.directory.lookup(&uplink.venue, &uplink.device).await else {
            self.count_rejection("unknown_device", topic, &"no such device in the registry");
            return;
        };
        if !entry.device.enabled {
            self.count_rejection("device_disabled", topic, &"the device is disabled");
            return;
        }
        let now = Utc::now();
        let track = self
            .tracks
            .entry(entry.device.id)
            .or_insert_with(DeviceTrack::new);
        let mut in_order = true;
        if let (Some(msg_id), Some(seq)) = (uplink.message.msg_id(), uplink.message.seq()) {
            if !track.first_sighting(msg_id) {
                // A QoS 1 redelivery: normal, counted, not answered.
                self.metrics.mqtt().rejected("duplicate");
                return;
            }
            match check_seq(track.last_seq, seq) {
                SeqCheck::InOrder => track.last_seq = Some(seq),
                SeqCheck::Gap(missing) => {
                    self.metrics.mqtt().seq_gap(missing);
                    track.last_seq = Some(seq);
                }
                SeqCheck::OutOfOrder => in_order = false,
            }
        }
        self.metrics.mqtt().accepted(uplink.message.kind().as_str());
        match uplink.message {
            UplinkMessage::Telemetry(telemetry) => {
                if !in_order {
                    // Late readings are kept as data but never move the rules backwards.
                    self.count_rejection("out_of_order", topic, &"seq below the last one");
                }
                self.on_telemetry(&entry, telemetry, now, in_order);
            }
            UplinkMessage::Status(status) => {
                // A will or retained `offline` from an old connection means nothing while
                // the device has a newer one open.
                let still_connected = self.connections.as_ref().is_some_and(|open| {
                    open.get(&(entry.venue_slug.clone(), entry.device.key.clone()))
                        .is_some_and(|count| *count > 0)
                });
                if status.state == DeviceState::Offline && !still_connected {
                    self.went_offline(&entry, now);
                }
            }
            UplinkMessage::Event(event) => {
                if !in_order {
                    // An old key press must not bump today's ticket.
                    self.count_rejection("out_of_order", topic, &"seq below the last one");
                    self.reply_error(
                        &uplink.venue,
                        &uplink.device,
                        "out_of_order",
                        "seq is below the last one; the event was not applied".into(),
                        Some(event.msg_id),
                    );
                    return;
                }
                self.on_event(&entry, event, now);
            }
        }
    }

    fn on_telemetry(
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
        let Some(track) = self.tracks.get_mut(&entry.device.id) else {
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
            self.apply_probe_actions(entry, actions);
        }
    }

    fn went_offline(&mut self, entry: &Arc<DirectoryEntry>, now: DateTime<Utc>) {
        let Some(track) = self.tracks.get_mut(&entry.device.id) else {
            return;
        };
        let at = now + track.clock_offset;
        if let Some(monitor) = &mut track.monitor {
            let actions = monitor.went_offline(at);
            self.apply_probe_actions(entry, actions);
        }
    }

    async fn on_presence(&mut self, change: Presence) {
        // A clean DISCONNECT is a device going to sleep between reports; silence beyond
        // three intervals still raises "offline" on the tick.
        if change.online || change.clean {
            return;
        }
        // The device as it is now: a device disabled or removed while connected was
        // kicked, which is not a probe failure.
        let current = self
            .directory
            .lookup(&change.entry.venue_slug, &change.entry.device.key)
            .await;
        if let Some(entry) =
            current.filter(|e| e.device.enabled && e.device.id == change.entry.device.id)
        {
            self.tracks
                .entry(entry.device.id)
                .or_insert_with(DeviceTrack::new);
            self.went_offline(&entry, Utc::now());
        }
    }

    fn on_tick(&mut self) {
        let now = Utc::now();
        let entries: HashMap<DeviceId, Arc<DirectoryEntry>> = self
            .directory
            .entries()
            .into_iter()
            .filter(|e| e.device.enabled)
            .map(|e| (e.device.id, e))
            .collect();
        // Disabled and removed devices are not watched for silence.
        self.tracks.retain(|id, _| entries.contains_key(id));
        let mut raised = Vec::new();
        for (device_id, track) in &mut self.tracks {
            if let Some(monitor) = &mut track.monitor {
                let actions = monitor.tick(now + track.clock_offset);
                if !actions.is_empty() {
                    raised.push((*device_id, actions));
                }
            }
        }
        for (device_id, actions) in raised {
            if let Some(entry) = entries.get(&device_id) {
                self.apply_probe_actions(entry, actions);
            }
        }
    }

    /// Turns the rules' decisions into engine commands, one alert per device and kind.
    fn apply_probe_actions(&mut self, entry: &Arc<DirectoryEntry>, actions: Vec<ProbeAction>) {
        for action in actions {
            match action {
                ProbeAction::Raise {
                    kind,
                    celsius,
                    limit,
                    since,
                } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    let key = (entry.device.id, kind);
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
                        since,
                    };
                    let open_alerts = self.open_alerts.clone();
                    self.execute(entry, command, None, move |result| {
                        if result.is_err() {
                            open_alerts.remove_if(&key, |_, id| *id == alert_id);
                        }
                    });
                }
                ProbeAction::Recovered { kind } => {
                    let kind = FoodSafetyAlertKind::from(kind);
                    if let Some((_, alert_id)) = self.open_alerts.remove(&(entry.device.id, kind)) {
                        let command = Command::MarkFoodSafetyRecovered { alert_id };
                        self.execute(entry, command, None, |_| {});
                    }
                }
            }
        }
    }

    fn on_event(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        event: devices::payload::DeviceEvent,
        _now: DateTime<Utc>,
    ) {
        self.reply_error(
            &entry.venue_slug,
            &entry.device.key,
            "unsupported_event",
            "this hub does not handle device events yet".into(),
            Some(event.msg_id),
        );
    }

    /// Queues `command` on the venue's engine queue as the device; `then` sees the result.
    /// `command_id` makes a redelivered device message idempotent end to end.
    fn execute(
        &mut self,
        entry: &Arc<DirectoryEntry>,
        command: Command,
        command_id: Option<Uuid>,
        then: impl FnOnce(Result<(), String>) + Send + 'static,
    ) {
        let handle = entry.handle.clone();
        let envelope = Envelope {
            command_id: command_id.unwrap_or_else(Uuid::now_v7),
            actor: Actor {
                staff_id: None,
                role: None,
                device: Some(entry.device.key.clone()),
            },
            command,
        };
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
        let queue = self.queues.entry(entry.venue_id).or_insert_with(|| {
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

/// `Rejection` reasons plus the bridge's own, for pre-registering metric labels.
pub fn all_rejection_reasons() -> impl Iterator<Item = &'static str> {
    Rejection::REASONS.into_iter().chain(BRIDGE_REASONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_seq_is_in_order_and_a_jump_is_a_gap() {
        assert_eq!(check_seq(None, 7), SeqCheck::InOrder);
        assert_eq!(check_seq(Some(7), 8), SeqCheck::InOrder);
        assert_eq!(check_seq(Some(7), 10), SeqCheck::Gap(2));
    }

    #[test]
    fn an_older_seq_is_out_of_order_unless_the_counter_restarted() {
        assert_eq!(check_seq(Some(7), 5), SeqCheck::OutOfOrder);
        assert_eq!(check_seq(Some(7), 7), SeqCheck::OutOfOrder);
        assert_eq!(check_seq(Some(7), 0), SeqCheck::InOrder);
        assert_eq!(check_seq(Some(50_000), 3), SeqCheck::InOrder);
    }

    #[test]
    fn a_redelivered_msg_id_is_seen_once() {
        let mut track = DeviceTrack::new();
        assert!(track.first_sighting("a"));
        assert!(!track.first_sighting("a"));
        for n in 0..REMEMBERED_IDS {
            track.first_sighting(&n.to_string());
        }
        assert!(
            track.first_sighting("a"),
            "old ids are forgotten, memory is bounded"
        );
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
