//! Counters every device task bumps (lock-free), the food-safety alerts the alert watcher
//! saw, the once-a-second progress line and alert story lines on stderr, and the final
//! [`Summary`]. Nothing here touches the network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::fleet::SimClock;

/// Alerts kept for the summary; the counts go on beyond it.
pub const MAX_ALERT_LOG: usize = 1000;

/// Shared counters of a running fleet.
#[derive(Debug, Default)]
pub struct Stats {
    /// Uplink messages handed to a device's MQTT client (telemetry + events + status).
    pub sent: AtomicU64,
    pub telemetry: AtomicU64,
    pub events: AtomicU64,
    pub scans: AtomicU64,
    pub key_presses: AtomicU64,
    pub button_presses: AtomicU64,
    pub cooling_starts: AtomicU64,
    pub cooling_stops: AtomicU64,
    /// Messages a device could not queue (disconnected too long, queue full).
    pub dropped: AtomicU64,
    /// QoS 1 acknowledgements from the broker.
    pub puback: AtomicU64,
    /// Commands received on `.../cmd`.
    pub commands: AtomicU64,
    /// Of those, `ack` commands (the hub accepted a message).
    pub command_acks: AtomicU64,
    /// Error replies received on `.../error`.
    pub errors_received: AtomicU64,
    /// Downlink payloads that did not decode.
    pub bad_downlink: AtomicU64,
    /// Successful connections (CONNACK accepted), first ones included.
    pub connects: AtomicU64,
    /// Connections made again after a device had been connected.
    pub reconnects: AtomicU64,
    /// Failed connection attempts and lost connections.
    pub connection_errors: AtomicU64,
    /// Connections the broker refused (bad credentials, disabled device).
    pub refused: AtomicU64,
    /// Devices connected right now.
    pub connected: AtomicI64,
    /// New food-safety alerts the hub announced on its WebSocket (`alerts` channel).
    pub alerts: AtomicU64,
    /// Alerts that changed: recovered, acknowledged or resolved.
    pub alert_changes: AtomicU64,
    /// An alert watcher runs: the run logged in to the hub, so it has a token.
    pub alert_watch: AtomicBool,
    /// Times the watcher subscribed to `alerts`, the first time included.
    pub alert_subscriptions: AtomicU64,
    /// New alerts by kind (`excursion`, `critical`, `offline`, `cooling_warning`, ...).
    alert_kinds: Mutex<BTreeMap<String, u64>>,
    /// The first [`MAX_ALERT_LOG`] new alerts, in the order they arrived.
    alert_log: Mutex<Vec<SeenAlert>>,
    /// When the fleet started and its scenario clock, for stamping lines.
    timing: Mutex<Timing>,
    /// Most recent connection error, for the progress line.
    last_error: Mutex<Option<String>>,
    /// Error replies by code.
    error_codes: Mutex<BTreeMap<String, u64>>,
    /// Command types received.
    command_types: Mutex<BTreeMap<String, u64>>,
}

/// Real start of the fleet and, once every device is connected, its scenario clock.
#[derive(Debug, Default, Clone, Copy)]
struct Timing {
    started: Option<Instant>,
    clock: Option<SimClock>,
}

/// A food-safety alert the hub raised while the fleet ran, as the `alerts` channel
/// announced it (`FoodSafetyAlert` in docs/api.md), stamped with when it arrived.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeenAlert {
    pub id: String,
    /// `excursion`, `critical`, `offline`, `cooling_warning` or `cooling_failed`.
    pub kind: String,
    pub device_id: String,
    /// The device's key, when the hub's device list named it.
    pub device_key: Option<String>,
    /// What the probe watches (`Bar fridge`).
    pub unit: String,
    pub celsius: Option<f64>,
    pub limit: Option<f64>,
    /// When the hub raised it, by the hub's clock.
    pub raised_at: Option<String>,
    /// Real seconds since the fleet started when the alert arrived.
    pub real_seconds: f64,
    /// The scenario clock (`H:MM:SS`) when it arrived, once the fleet's clock runs.
    pub scenario_clock: Option<String>,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    if let Ok(mut map) = map.lock() {
        *map.entry(key.to_owned()).or_default() += 1;
    }
}

fn copy(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    map.lock().map(|m| m.clone()).unwrap_or_default()
}

impl Stats {
    pub fn note_error_reply(&self, code: &str) {
        self.errors_received.fetch_add(1, Relaxed);
        bump(&self.error_codes, code);
    }

    pub fn note_command(&self, kind: &str) {
        self.commands.fetch_add(1, Relaxed);
        if kind == "ack" {
            self.command_acks.fetch_add(1, Relaxed);
        }
        bump(&self.command_types, kind);
    }

    pub fn note_connection_error(&self, error: String) {
        self.connection_errors.fetch_add(1, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    /// Counts a new alert, stamps it with the fleet's real and scenario time and keeps it
    /// for the summary; returns the stamped alert.
    pub fn note_alert(&self, mut alert: SeenAlert) -> SeenAlert {
        let (real, clock) = self.stamp();
        alert.real_seconds = real.as_secs_f64();
        alert.scenario_clock = clock;
        self.alerts.fetch_add(1, Relaxed);
        bump(&self.alert_kinds, &alert.kind);
        if let Ok(mut log) = self.alert_log.lock()
            && log.len() < MAX_ALERT_LOG
        {
            log.push(alert.clone());
        }
        alert
    }

    pub fn alert_kinds(&self) -> BTreeMap<String, u64> {
        copy(&self.alert_kinds)
    }

    pub fn alert_log(&self) -> Vec<SeenAlert> {
        self.alert_log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The fleet started now: lines are stamped with real time from here.
    pub fn start_run(&self, started: Instant) {
        if let Ok(mut timing) = self.timing.lock() {
            *timing = Timing {
                started: Some(started),
                clock: None,
            };
        }
    }

    /// Every device is connected and scenario time runs on `clock`.
    pub fn start_clock(&self, clock: SimClock) {
        if let Ok(mut timing) = self.timing.lock() {
            timing.clock = Some(clock);
        }
    }

    /// Real time since the fleet started and the scenario clock now (`None` before the
    /// scenario runs).
    pub fn stamp(&self) -> (Duration, Option<String>) {
        let timing = self.timing.lock().map(|t| *t).unwrap_or_default();
        let now = Instant::now();
        (
            timing
                .started
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s)),
            timing
                .clock
                .map(|c| crate::scenario::clock_seconds(c.sim_at(now))),
        )
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    pub fn error_codes(&self) -> BTreeMap<String, u64> {
        copy(&self.error_codes)
    }

    pub fn command_types(&self) -> BTreeMap<String, u64> {
        copy(&self.command_types)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sent: self.sent.load(Relaxed),
            puback: self.puback.load(Relaxed),
            commands: self.commands.load(Relaxed),
            command_acks: self.command_acks.load(Relaxed),
            errors_received: self.errors_received.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connection_errors: self.connection_errors.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            connected: self.connected.load(Relaxed).max(0) as u64,
            alerts: self
                .alert_watch
                .load(Relaxed)
                .then(|| self.alerts.load(Relaxed)),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub sent: u64,
    pub puback: u64,
    pub commands: u64,
    pub command_acks: u64,
    pub errors_received: u64,
    pub reconnects: u64,
    pub connection_errors: u64,
    pub dropped: u64,
    pub connected: u64,
    /// New food-safety alerts, when an alert watcher runs.
    pub alerts: Option<u64>,
}

/// The `[  42s sim 0:42:00]` stamp that opens progress and story lines.
pub fn line_stamp(elapsed: Duration, scenario_clock: Option<&str>) -> String {
    format!(
        "[{:>5.0}s sim {}]",
        elapsed.as_secs_f64(),
        scenario_clock.unwrap_or("-:--:--")
    )
}

/// The story line of a new alert:
/// `[  192s sim 4:01:10] ALERT critical: Bar fridge (fridge-bar) at 8.3 °C, limit 5 °C`.
pub fn alert_line(alert: &SeenAlert) -> String {
    let mut line = format!(
        "{} ALERT {}: {}",
        line_stamp(
            Duration::from_secs_f64(alert.real_seconds.max(0.0)),
            alert.scenario_clock.as_deref()
        ),
        alert.kind,
        alert.unit
    );
    if let Some(key) = &alert.device_key {
        let _ = write!(line, " ({key})");
    }
    if let Some(celsius) = alert.celsius {
        let _ = write!(line, " at {celsius:.1} °C");
    }
    if let Some(limit) = alert.limit {
        let _ = write!(line, ", limit {limit} °C");
    }
    line
}

/// One progress line: elapsed real time, scenario clock, devices online, and the counters
/// with the send rate since the previous line.
pub fn progress_line(
    elapsed: Duration,
    scenario_clock: &str,
    devices: usize,
    now: &Snapshot,
    before: &Snapshot,
    interval: Duration,
    last_error: Option<&str>,
) -> String {
    let per_second = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / interval.as_secs_f64();
    let mut line = format!(
        "{} online {}/{devices} | sent {} ({:.0}/s) | puback {} | cmd {} (ack {})",
        line_stamp(elapsed, Some(scenario_clock)),
        now.connected,
        now.sent,
        per_second(now.sent, before.sent),
        now.puback,
        now.commands,
        now.command_acks,
    );
    if let Some(alerts) = now.alerts {
        let _ = write!(line, " | alerts {alerts}");
    }
    let _ = write!(
        line,
        " | errors {} | reconnects {} | dropped {}",
        now.errors_received, now.reconnects, now.dropped
    );
    if now.connection_errors > before.connection_errors
        && let Some(error) = last_error
    {
        let _ = write!(line, " | last error: {error}");
    }
    line
}

/// What a run did, printed at the end (as JSON with `--json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub devices: usize,
    pub speed: f64,
    pub real_seconds: f64,
    /// Scenario time covered, in seconds.
    pub scenario_seconds: f64,
    /// The story reached its end (rather than `--duration` or Ctrl-C stopping it).
    pub completed: bool,
    pub sent: u64,
    /// Mean uplink messages per real second while the scenario ran (connecting and
    /// disconnecting the fleet not counted).
    pub sent_per_second: f64,
    pub telemetry: u64,
    pub events: u64,
    pub scans: u64,
    pub key_presses: u64,
    pub button_presses: u64,
    pub cooling_starts: u64,
    pub cooling_stops: u64,
    pub dropped: u64,
    pub puback: u64,
    pub commands: u64,
    pub command_acks: u64,
    pub command_types: BTreeMap<String, u64>,
    pub errors_received: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub bad_downlink: u64,
    pub connects: u64,
    pub reconnects: u64,
    pub connection_errors: u64,
    pub refused: u64,
    /// Resident memory of this process at the end, when the OS tells (Linux).
    pub rss_bytes: Option<u64>,
    /// Largest delay between a message's due time and its sending: near zero unless the
    /// simulator itself cannot keep up with the rate.
    pub max_lag_ms: f64,
    /// Whether the hub's food-safety alerts were watched over its WebSocket.
    pub alert_watch: AlertWatch,
    /// New food-safety alerts seen while the fleet ran.
    pub alerts: u64,
    /// New alerts by kind.
    pub alert_kinds: BTreeMap<String, u64>,
    /// Alerts that recovered or were acknowledged or resolved.
    pub alert_changes: u64,
    /// Times the watcher had to subscribe again (a lost socket, a resync).
    pub alert_resubscribes: u64,
    /// The new alerts in arrival order (at most [`MAX_ALERT_LOG`]).
    pub alert_log: Vec<SeenAlert>,
}

/// Whether a run watched the hub's alerts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlertWatch {
    /// Subscribed to the hub's `alerts` channel.
    Watched,
    /// No hub login (`--credentials`, `--anonymous`): no token to open the WebSocket.
    #[default]
    NoLogin,
    /// Logged in, but the WebSocket never got as far as a subscription.
    Unavailable,
}

impl Summary {
    pub fn collect(
        stats: &Stats,
        scenario: &str,
        devices: usize,
        speed: f64,
        real: Duration,
        scenario_seconds: f64,
        completed: bool,
    ) -> Self {
        let sent = stats.sent.load(Relaxed);
        let real_seconds = real.as_secs_f64();
        Self {
            scenario: scenario.to_owned(),
            devices,
            speed,
            real_seconds,
            scenario_seconds,
            completed,
            sent,
            sent_per_second: if real_seconds > 0.0 {
                sent as f64 / real_seconds
            } else {
                0.0
            },
            telemetry: stats.telemetry.load(Relaxed),
            events: stats.events.load(Relaxed),
            scans: stats.scans.load(Relaxed),
            key_presses: stats.key_presses.load(Relaxed),
            button_presses: stats.button_presses.load(Relaxed),
            cooling_starts: stats.cooling_starts.load(Relaxed),
            cooling_stops: stats.cooling_stops.load(Relaxed),
            dropped: stats.dropped.load(Relaxed),
            puback: stats.puback.load(Relaxed),
            commands: stats.commands.load(Relaxed),
            command_acks: stats.command_acks.load(Relaxed),
            command_types: stats.command_types(),
            errors_received: stats.errors_received.load(Relaxed),
            error_codes: stats.error_codes(),
            bad_downlink: stats.bad_downlink.load(Relaxed),
            connects: stats.connects.load(Relaxed),
            reconnects: stats.reconnects.load(Relaxed),
            connection_errors: stats.connection_errors.load(Relaxed),
            refused: stats.refused.load(Relaxed),
            rss_bytes: resident_memory(),
            max_lag_ms: 0.0,
            alert_watch: AlertWatch::NoLogin,
            alerts: 0,
            alert_kinds: BTreeMap::new(),
            alert_changes: 0,
            alert_resubscribes: 0,
            alert_log: Vec::new(),
        }
        .with_alerts(stats)
    }

    /// Takes the alert figures from `stats` again: the watcher may see the last alerts
    /// after the fleet stopped.
    pub fn with_alerts(mut self, stats: &Stats) -> Self {
        let subscriptions = stats.alert_subscriptions.load(Relaxed);
        self.alert_watch = match (stats.alert_watch.load(Relaxed), subscriptions) {
            (false, _) => AlertWatch::NoLogin,
            (true, 0) => AlertWatch::Unavailable,
            (true, _) => AlertWatch::Watched,
        };
        self.alerts = stats.alerts.load(Relaxed);
        self.alert_kinds = stats.alert_kinds();
        self.alert_changes = stats.alert_changes.load(Relaxed);
        self.alert_resubscribes = subscriptions.saturating_sub(1);
        self.alert_log = stats.alert_log();
        self
    }

    /// The summary for a person.
    pub fn human(&self) -> String {
        let mut out = format!(
            "firmware-sim {}: {} devices, {:.1} s real, {} scenario time (speed {}){}\n",
            self.scenario,
            self.devices,
            self.real_seconds,
            crate::scenario::clock_seconds(self.scenario_seconds),
            self.speed,
            if self.completed {
                ", story complete"
            } else {
                ""
            },
        );
        let _ = writeln!(
            out,
            "  sent {} ({:.1}/s): telemetry {}, events {} (scans {}, keys {}, buttons {}, \
             cooling start {} / stop {}), dropped {}",
            self.sent,
            self.sent_per_second,
            self.telemetry,
            self.events,
            self.scans,
            self.key_presses,
            self.button_presses,
            self.cooling_starts,
            self.cooling_stops,
            self.dropped
        );
        let _ = writeln!(
            out,
            "  received: puback {}, commands {} {:?}, error replies {} {:?}, undecodable {}",
            self.puback,
            self.commands,
            self.command_types,
            self.errors_received,
            self.error_codes,
            self.bad_downlink
        );
        let _ = write!(
            out,
            "  connections: {} connects, {} reconnects, {} errors, {} refused",
            self.connects, self.reconnects, self.connection_errors, self.refused
        );
        match self.alert_watch {
            AlertWatch::Watched => {
                let kinds: Vec<String> = self
                    .alert_kinds
                    .iter()
                    .map(|(kind, n)| format!("{kind} {n}"))
                    .collect();
                let _ = write!(
                    out,
                    "\n  food-safety alerts: {} new{}, {} changed, {} resubscribes",
                    self.alerts,
                    if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", kinds.join(", "))
                    },
                    self.alert_changes,
                    self.alert_resubscribes
                );
                for alert in &self.alert_log {
                    let _ = write!(out, "\n    {}", alert_line(alert));
                }
                if self.alerts as usize > self.alert_log.len() {
                    let _ = write!(
                        out,
                        "\n    ... and {} more",
                        self.alerts as usize - self.alert_log.len()
                    );
                }
            }
            AlertWatch::NoLogin => {
                let _ = write!(
                    out,
                    "\n  food-safety alerts: not watched (no hub login: use --login to see them)"
                );
            }
            AlertWatch::Unavailable => {
                let _ = write!(
                    out,
                    "\n  food-safety alerts: not watched (the hub's WebSocket was unavailable)"
                );
            }
        }
        let _ = write!(out, "\n  scheduler lag at most {:.0} ms", self.max_lag_ms);
        if let Some(rss) = self.rss_bytes {
            let _ = write!(out, ", RSS {:.1} MiB", rss as f64 / (1024.0 * 1024.0));
        }
        out
    }
}

/// Resident set size from `/proc/self/status` (Linux); `None` elsewhere.
pub fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit on open files (`ulimit -n`) from `/proc/self/limits` (Linux): each
/// simulated device holds one socket.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_counters_and_the_rate_since_the_last_line() {
        let before = Snapshot {
            sent: 100,
            ..Snapshot::default()
        };
        let now = Snapshot {
            sent: 160,
            puback: 150,
            commands: 3,
            command_acks: 2,
            connected: 12,
            ..Snapshot::default()
        };
        let line = progress_line(
            Duration::from_secs(5),
            "0:05",
            12,
            &now,
            &before,
            Duration::from_secs(2),
            Some("refused"),
        );
        assert!(line.contains("online 12/12"), "{line}");
        assert!(line.contains("sent 160 (30/s)"), "{line}");
        assert!(line.contains("cmd 3 (ack 2)"), "{line}");
        assert!(
            !line.contains("refused"),
            "no new error, no error text: {line}"
        );
    }

    #[test]
    fn a_new_connection_error_is_shown_once() {
        let now = Snapshot {
            connection_errors: 1,
            ..Snapshot::default()
        };
        let line = progress_line(
            Duration::from_secs(1),
            "0:00",
            1,
            &now,
            &Snapshot::default(),
            Duration::from_secs(1),
            Some("connection refused"),
        );
        assert!(line.ends_with("last error: connection refused"), "{line}");
    }

    #[test]
    fn error_replies_are_counted_by_code() {
        let stats = Stats::default();
        stats.note_error_reply("bad_shape");
        stats.note_error_reply("bad_shape");
        stats.note_error_reply("unknown_device");
        stats.note_command("ack");
        stats.note_command("led");
        let summary = Summary::collect(&stats, "t", 1, 1.0, Duration::from_secs(2), 2.0, true);
        assert_eq!(summary.errors_received, 3);
        assert_eq!(summary.error_codes["bad_shape"], 2);
        assert_eq!(summary.command_acks, 1);
        assert_eq!(summary.command_types["led"], 1);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["error_codes"]["unknown_device"], 1);
        assert!(summary.human().contains("error replies 3"));
    }

    #[test]
    fn the_progress_line_shows_alerts_only_when_they_are_watched() {
        let stats = Stats::default();
        let line = |stats: &Stats| {
            progress_line(
                Duration::from_secs(1),
                "0:01",
                1,
                &stats.snapshot(),
                &Snapshot::default(),
                Duration::from_secs(1),
                None,
            )
        };
        assert!(!line(&stats).contains("alerts"), "{}", line(&stats));
        stats.alert_watch.store(true, Relaxed);
        assert!(line(&stats).contains("| alerts 0 |"), "{}", line(&stats));
    }

    #[test]
    fn the_summary_lists_the_alerts_by_kind_and_in_json() {
        let stats = Stats::default();
        stats.alert_watch.store(true, Relaxed);
        stats.alert_subscriptions.store(2, Relaxed);
        let critical = SeenAlert {
            id: "a-1".into(),
            kind: "critical".into(),
            device_id: "d-1".into(),
            device_key: Some("fridge-bar".into()),
            unit: "Bar fridge".into(),
            celsius: Some(8.3),
            limit: Some(5.0),
            raised_at: None,
            real_seconds: 0.0,
            scenario_clock: None,
        };
        stats.note_alert(critical.clone());
        stats.note_alert(SeenAlert {
            id: "a-2".into(),
            kind: "offline".into(),
            celsius: None,
            ..critical
        });
        let summary = Summary::collect(&stats, "t", 1, 1.0, Duration::from_secs(2), 2.0, true);
        assert_eq!(summary.alert_watch, AlertWatch::Watched);
        assert_eq!(summary.alerts, 2);
        assert_eq!(summary.alert_resubscribes, 1);
        let human = summary.human();
        assert!(
            human.contains("food-safety alerts: 2 new (critical 1, offline 1)"),
            "{human}"
        );
        assert!(
            human.contains("ALERT offline: Bar fridge (fridge-bar), limit 5 °C"),
            "{human}"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["alert_watch"], "watched");
        assert_eq!(json["alert_kinds"]["critical"], 1);
        assert_eq!(json["alert_log"][0]["device_key"], "fridge-bar");
        assert_eq!(json["alert_log"][0]["celsius"], 8.3);
    }

    #[test]
    fn a_run_without_a_login_says_alerts_were_not_watched() {
        let summary = Summary::collect(
            &Stats::default(),
            "t",
            1,
            1.0,
            Duration::from_secs(1),
            1.0,
            true,
        );
        assert_eq!(summary.alert_watch, AlertWatch::NoLogin);
        assert!(summary.human().contains("not watched (no hub login"));
    }

    #[test]
    fn a_login_whose_websocket_never_opened_says_alerts_were_unavailable() {
        let stats = Stats::default();
        stats.alert_watch.store(true, Relaxed);
        let summary = Summary::collect(&stats, "t", 1, 1.0, Duration::from_secs(1), 1.0, true);
        assert_eq!(summary.alert_watch, AlertWatch::Unavailable);
    }

    #[test]
    fn this_process_memory_and_file_limit_are_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory().unwrap() > 0);
            assert!(open_files_limit().unwrap() > 0);
        }
    }
}
