//! What a person did on a device, as engine commands with feedback on the device: bump-bar
//! keys drive a station's screen (a cursor for next/previous, then start, bump, recall,
//! serve), scanners record stock scans or pick tickets up at the pass, call buttons ask
//! for service, cooling batches are stopped. Each runs on the venue's queue, in order; the
//! device hears back at once: an `ack`, an LED (green done, amber waiting or nothing to
//! do, red refused) and, when refused, the code on its `error` topic (the engine's, or a
//! [`DeviceError`], counted and logged). A key pressed on an empty station is not an
//! error: the bar's display says "No tickets", as a screen would.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use devices::{
    codec,
    payload::{self, Key, LedColor, LedPattern},
};
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Downlink,
    code::DeviceError,
    directory::{DirectoryEntry, VenueDevice},
    limiter::LogLimiter,
};
use crate::{
    domain::{Actor, Command, CoolingBatchId, DerivedFor, OrderId, StationId, derived_id},
    engine::{EngineError, Envelope, VenueHandle},
    metrics::Metrics,
    ws::Gateway,
};

/// Talks back to one device.
#[derive(Clone)]
pub struct Feedback {
    pub downlinks: mpsc::Sender<Downlink>,
    pub metrics: Metrics,
    /// The bridge's, so refusals log at the same bounded rate wherever they happen.
    pub limiter: Arc<LogLimiter>,
    /// `almahira/v1/<venue>/<key>/`.
    pub prefix: String,
}

impl Feedback {
    pub fn for_device(
        entry: &DirectoryEntry,
        downlinks: mpsc::Sender<Downlink>,
        metrics: Metrics,
        limiter: Arc<LogLimiter>,
    ) -> Self {
        Self {
            downlinks,
            metrics,
            limiter,
            prefix: format!(
                "{}/",
                devices::topic::device_prefix(&entry.venue_slug, &entry.device.key)
            ),
        }
    }

    fn send(&self, kind: &'static str, suffix: &str, payload: Vec<u8>) {
        let downlink = Downlink {
            topic: format!("{}{suffix}", self.prefix),
            payload,
        };
        if self.downlinks.try_send(downlink).is_ok() {
            self.metrics.mqtt().downlink(kind);
        } else {
            self.metrics.mqtt().downlink_dropped();
        }
    }

    pub fn command(&self, command: &payload::Command) {
        let kind = match command {
            payload::Command::Led { .. } => "led",
            payload::Command::Ack { .. } => "ack",
            payload::Command::Config { .. } => "config",
            payload::Command::Display { .. } => "display",
        };
        self.send(kind, "cmd", codec::encode_downlink(command));
    }

    pub fn led(&self, color: LedColor, pattern: LedPattern, seconds: Option<u16>) {
        self.command(&payload::Command::Led {
            color,
            pattern,
            seconds,
        });
    }

    pub fn ack(&self, msg_id: &str) {
        self.command(&payload::Command::Ack {
            msg_id: msg_id.to_owned(),
        });
    }

    pub fn display(&self, text: &str) {
        let text: String = text.chars().take(payload::DISPLAY_TEXT_MAX_CHARS).collect();
        self.command(&payload::Command::Display { text });
    }

    pub fn error(&self, code: &str, message: String, msg_id: Option<&str>) {
        let reply = payload::ErrorReply {
            code: code.to_owned(),
            message,
            msg_id: msg_id.map(str::to_owned),
        };
        self.send("error", "error", codec::encode_error(&reply));
    }

    /// Refuses the device's message: counted per code, logged at a bounded rate, answered.
    pub fn refuse(&self, code: DeviceError, message: String, msg_id: Option<&str>) {
        self.metrics.mqtt().rejected(code.code());
        if let Some(suppressed) = self.limiter.allow_counting(code.code()) {
            tracing::warn!(
                reason = code.code(),
                device = %self.prefix,
                %message,
                suppressed,
                "device message refused"
            );
        }
        self.error(code.code(), message, msg_id);
    }

    /// Green blink: done.
    pub fn done(&self) {
        self.led(LedColor::Green, LedPattern::Blink, Some(2));
    }

    /// Red blink plus the reason on the error topic.
    pub fn refused(&self, error: &EngineError, msg_id: &str) {
        self.led(LedColor::Red, LedPattern::Blink, Some(3));
        match error {
            EngineError::Rejected(rejection) => self.error(
                rejection.code().as_str(),
                rejection.message.clone(),
                Some(msg_id),
            ),
            other => self.refuse(DeviceError::Unavailable, other.to_string(), Some(msg_id)),
        }
    }
}

/// The command as the device, under an id derived from the device and its `msg_id`, so a
/// message redelivered after a hub restart is answered from the engine's idempotency
/// window instead of acting twice.
pub fn device_envelope(entry: &DirectoryEntry, msg_id: &str, command: Command) -> Envelope {
    Envelope {
        command_id: derived_id(entry.device.id.0, DerivedFor::DeviceCommand { msg_id }),
        actor: Actor::device(entry.device.key.clone()),
        command,
    }
}

/// A fresh id for a command the hub's rules issue on a device's behalf.
pub fn rule_envelope(entry: &DirectoryEntry, command: Command) -> Envelope {
    Envelope {
        command_id: Uuid::now_v7(),
        actor: Actor::device(entry.device.key.clone()),
        command,
    }
}

/// Which ticket each bump bar points at.
pub type Cursors = Arc<DashMap<VenueDevice, OrderId>>;

/// The station's tickets as its screen orders them, with their printed codes.
struct StationView {
    tickets: Vec<(OrderId, String)>,
    last_bumped: Option<OrderId>,
    station_key: Option<String>,
}

async fn station_view(
    handle: &VenueHandle,
    station: StationId,
) -> Result<StationView, EngineError> {
    handle
        .read(move |venue| StationView {
            tickets: venue
                .station_queue(station)
                .into_iter()
                .filter_map(|id| venue.orders.get(&id).map(|o| (id, o.ticket_code())))
                .collect(),
            last_bumped: venue.last_bumped(station),
            station_key: venue.stations.get(&station).map(|s| s.key.clone()),
        })
        .await
}

/// A bump-bar key press, run on the venue's queue.
pub async fn bump_bar_key(
    entry: Arc<DirectoryEntry>,
    station: StationId,
    key: Key,
    msg_id: String,
    feedback: Feedback,
    cursors: Cursors,
    gateway: Gateway,
) {
    let view = match station_view(&entry.handle, station).await {
        Ok(view) => view,
        Err(error) => return feedback.refused(&error, &msg_id),
    };
    let count = view.tickets.len();
    let position = cursors
        .get(&entry.device_ref())
        .and_then(|at| view.tickets.iter().position(|(id, _)| *id == *at));
    let show_cursor = |index: usize| {
        let (order_id, code) = &view.tickets[index];
        cursors.insert(entry.device_ref(), *order_id);
        if let Some(station_key) = &view.station_key {
            gateway.publish_ephemeral(
                entry.venue_id,
                &format!("kds:{station_key}"),
                "bump_bar_cursor",
                json!({
                    "device": entry.device.key,
                    "order_id": order_id,
                    "ticket_code": code,
                    "position": index + 1,
                    "of": count,
                }),
            );
        }
        feedback.display(&format!("{code} ({}/{count})", index + 1));
    };
    let target = position.or((count > 0).then_some(0));
    if count == 0 && key != Key::Recall {
        // Nothing to point at or act on: the bar says so, as the screen does; a cook
        // pressing keys on an idle station is not an error to count.
        feedback.led(LedColor::Amber, LedPattern::Blink, Some(2));
        feedback.display("No tickets");
        return;
    }
    let command = match key {
        Key::Next | Key::Previous => {
            let index = match (key, position) {
                (Key::Next, Some(i)) => (i + 1) % count,
                (Key::Next, None) => 0,
                (_, Some(i)) => (i + count - 1) % count,
                (_, None) => count - 1,
            };
            show_cursor(index);
            return;
        }
        Key::Recall => match view.last_bumped {
            Some(order_id) => Command::RecallTicket {
                order_id,
                station_id: station,
            },
            None => {
                feedback.led(LedColor::Red, LedPattern::Blink, Some(3));
                feedback.refuse(
                    DeviceError::NothingToRecall,
                    "no bumped ticket to recall".into(),
                    Some(&msg_id),
                );
                return;
            }
        },
        Key::Bump | Key::Start | Key::Serve => {
            // `count > 0` here, so there is a target.
            let Some(index) = target else {
                return;
            };
            let order_id = view.tickets[index].0;
            match key {
                Key::Bump => Command::BumpTicket {
                    order_id,
                    station_id: station,
                },
                Key::Start => Command::StartTicket {
                    order_id,
                    station_id: station,
                },
                _ => Command::ServeReady { order_id },
            }
        }
    };
    let bumped = matches!(command, Command::BumpTicket { .. });
    match entry
        .handle
        .execute(device_envelope(&entry, &msg_id, command))
        .await
    {
        Ok(_) => {
            feedback.done();
            // After a bump the cursor moves to the ticket that took its place.
            if bumped && let Some(index) = target {
                match view.tickets.get(index + 1) {
                    Some((next, _)) => {
                        cursors.insert(entry.device_ref(), *next);
                    }
                    None => {
                        cursors.remove(&entry.device_ref());
                    }
                }
            }
        }
        Err(error) => feedback.refused(&error, &msg_id),
    }
}

/// `cooling_stop` for the batch labelled `label` on the device: the one the bridge is
/// feeding (`tracked`), or else the newest of that label in the venue's log, which the
/// engine refuses as `cooling_batch_finished` when it already passed, failed or stopped.
pub async fn stop_cooling_batch(
    entry: Arc<DirectoryEntry>,
    tracked: Option<CoolingBatchId>,
    label: String,
    at: DateTime<Utc>,
    msg_id: String,
    feedback: Feedback,
) {
    let batch_id = match tracked {
        Some(batch_id) => Some(batch_id),
        None => {
            let (device_id, wanted) = (entry.device.id, label.clone());
            let newest = entry
                .handle
                .read(move |venue| {
                    venue
                        .cooling_batches
                        .values()
                        .filter(|b| b.device_id == device_id && b.label == wanted)
                        .max_by_key(|b| b.started_at)
                        .map(|b| b.id)
                })
                .await;
            match newest {
                Ok(found) => found,
                Err(error) => return feedback.refused(&error, &msg_id),
            }
        }
    };
    let Some(batch_id) = batch_id else {
        feedback.led(LedColor::Red, LedPattern::Blink, Some(3));
        return feedback.refuse(
            DeviceError::CoolingBatchNotFound,
            format!("no batch {label:?} was started on this device"),
            Some(&msg_id),
        );
    };
    run_with_feedback(
        entry.handle.clone(),
        device_envelope(&entry, &msg_id, Command::StopCoolingBatch { batch_id, at }),
        msg_id,
        feedback,
        |feedback| feedback.done(),
    )
    .await;
}

/// Runs a device's command on the venue's queue and tells the device how it went.
pub async fn run_with_feedback(
    handle: VenueHandle,
    envelope: Envelope,
    msg_id: String,
    feedback: Feedback,
    accepted: impl FnOnce(&Feedback) + Send,
) {
    match handle.execute(envelope).await {
        Ok(_) => {
            feedback.ack(&msg_id);
            accepted(&feedback);
        }
        Err(error) => feedback.refused(&error, &msg_id),
    }
}
