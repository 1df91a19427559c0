//! Counters every device task bumps (lock-free), the once-a-second progress line on
//! stderr, and the final [`Summary`]. Nothing here touches the network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

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
    /// Most recent connection error, for the progress line.
    last_error: Mutex<Option<String>>,
    /// Error replies by code.
    error_codes: Mutex<BTreeMap<String, u64>>,
    /// Command types received.
    command_types: Mutex<BTreeMap<String, u64>>,
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
        "[{:>5.0}s sim {scenario_clock}] online {}/{devices} | sent {} ({:.0}/s) | puback {} | \
         cmd {} (ack {}) | errors {} | reconnects {} | dropped {}",
        elapsed.as_secs_f64(),
        now.connected,
        now.sent,
        per_second(now.sent, before.sent),
        now.puback,
        now.commands,
        now.command_acks,
        now.errors_received,
        now.reconnects,
        now.dropped,
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
        }
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
    fn this_process_memory_and_file_limit_are_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory().unwrap() > 0);
            assert!(open_files_limit().unwrap() > 0);
        }
    }
}
