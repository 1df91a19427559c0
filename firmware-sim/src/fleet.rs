//! Runs a scenario against a broker: opens one connection per device at a paced connect
//! rate, then a single scheduler task walks every device's timeline in scenario time
//! (a min-heap of due times mapped to real instants through the [`SimClock`]), wraps what
//! each device says in its envelope (`msg_id`, per-device `seq`, `boot`, `ts`) and queues it on
//! the device's connection. Stops when the story ends, `duration` passes or `stop`
//! resolves; devices then publish `offline` and disconnect.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use devices::UplinkMessage;
use devices::codec::encode_uplink;
use devices::payload::{DeviceEvent, EventBody, Telemetry, Timestamp};
use devices::topic::{TopicKind, is_valid_device, is_valid_venue};
use rumqttc::QoS;
use tokio::time::Instant;

use crate::client::{Broker, Connection, DeviceIdentity};
use crate::device::{Behaviour, Utterance};
use crate::models::Rng;
use crate::progress::{Stats, Summary, open_files_limit, progress_line};
use crate::provision::CredentialsFile;
use crate::scenario::Scenario;

/// How a fleet runs.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub broker: Broker,
    /// Scenario seconds per real second.
    pub speed: f64,
    /// Stop after this much real time even if the story goes on.
    pub duration: Option<Duration>,
    /// QoS of telemetry and events (status is always QoS 1).
    pub qos: QoS,
    /// New connections per second while the fleet comes up.
    pub connect_rate: f64,
    pub seed: u64,
    /// Print a progress line on stderr once a second.
    pub progress: bool,
    /// Wall-clock time of scenario second 0.
    pub start: DateTime<Utc>,
}

impl FleetOptions {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            speed: 1.0,
            duration: None,
            qos: QoS::AtLeastOnce,
            connect_rate: 500.0,
            seed: 1,
            progress: false,
            start: Utc::now(),
        }
    }
}

/// Scenario time against real time.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    origin: Instant,
    wall_origin: DateTime<Utc>,
    speed: f64,
}

impl SimClock {
    pub fn new(origin: Instant, wall_origin: DateTime<Utc>, speed: f64) -> Self {
        Self {
            origin,
            wall_origin,
            speed,
        }
    }

    /// The real instant scenario second `sim` happens.
    pub fn instant_at(&self, sim: f64) -> Instant {
        self.origin + Duration::from_secs_f64((sim / self.speed).clamp(0.0, 1e9))
    }

    /// The scenario second at real instant `now`.
    pub fn sim_at(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.origin).as_secs_f64() * self.speed
    }

    /// The device clock's reading at scenario second `sim`.
    pub fn wall_at(&self, sim: f64) -> DateTime<Utc> {
        self.wall_origin + chrono::Duration::microseconds((sim * 1e6) as i64)
    }
}

/// A device as the scheduler holds it: small, because a load fleet has thousands.
struct SimDevice {
    behaviour: Behaviour,
    rng: Rng,
    seq: u64,
    telemetry_topic: String,
    event_topic: String,
    connection: Connection,
}

/// Scenario seconds as heap keys (microseconds, so ordering is total).
fn heap_key(sim: f64) -> u64 {
    (sim.max(0.0) * 1e6) as u64
}

/// Which device is due next, in scenario time: a min-heap of (due, device index).
#[derive(Debug, Default)]
pub struct Timeline {
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl Timeline {
    /// Every device's first due time (`None`: the device never speaks).
    pub fn new(first: impl IntoIterator<Item = Option<f64>>) -> Self {
        let mut timeline = Self::default();
        for (index, due) in first.into_iter().enumerate() {
            if let Some(due) = due {
                timeline.push(due, index);
            }
        }
        timeline
    }

    pub fn push(&mut self, due: f64, index: usize) {
        self.heap.push(Reverse((heap_key(due), index)));
    }

    /// The scenario second of the next message.
    pub fn next_due(&self) -> Option<f64> {
        self.heap.peek().map(|Reverse((key, _))| *key as f64 / 1e6)
    }

    pub fn pop(&mut self) -> Option<(f64, usize)> {
        self.heap
            .pop()
            .map(|Reverse((key, index))| (key as f64 / 1e6, index))
    }
}

/// What the scheduler did, for the summary.
#[derive(Debug, Default)]
struct Outcome {
    completed: bool,
    scenario_seconds: f64,
    /// Largest delay between a message's due instant and its sending.
    max_lag: Duration,
    /// Real time the scheduler ran.
    running: Duration,
}

/// Runs `scenario` with `credentials` until the story ends, `options.duration` passes or
/// `stop` resolves, counting into `stats` (which callers may watch while it runs).
pub async fn run_fleet(
    scenario: Scenario,
    credentials: &CredentialsFile,
    options: &FleetOptions,
    stats: Arc<Stats>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    validate(&scenario, credentials, options)?;
    let by_key = credentials.by_key();
    let stopping = Arc::new(AtomicBool::new(false));
    let device_count = scenario.devices.len();
    let started = Instant::now();
    stats.start_run(started);

    let progress = options
        .progress
        .then(|| spawn_progress(stats.clone(), device_count, started));

    let mut fleet = Vec::with_capacity(device_count);
    for (index, plan) in scenario.devices.into_iter().enumerate() {
        let credential = by_key
            .get(plan.key.as_str())
            .ok_or_else(|| anyhow!("no credentials for {}", plan.key))?;
        let identity = DeviceIdentity {
            venue: credentials.venue.clone(),
            key: plan.key.clone(),
            kind: plan.kind,
            credential: (*credential).clone(),
        };
        let due = started + Duration::from_secs_f64(index as f64 / options.connect_rate);
        tokio::time::sleep_until(due).await;
        let connection =
            Connection::open(&options.broker, &identity, stats.clone(), stopping.clone());
        fleet.push(SimDevice {
            behaviour: plan.behaviour,
            rng: Rng::for_device(options.seed, index),
            seq: 0,
            telemetry_topic: identity.topic(TopicKind::Telemetry),
            event_topic: identity.topic(TopicKind::Event),
            connection,
        });
    }
    wait_for_connections(&stats, device_count, Duration::from_secs(10)).await;

    let clock = SimClock::new(Instant::now(), options.start, options.speed);
    stats.start_clock(clock);
    let outcome = schedule(&mut fleet, clock, scenario.length, options, &stats, stop).await;

    stopping.store(true, Relaxed);
    // Every device says goodbye at once (each waits a moment for its PUBACK).
    futures_util::future::join_all(
        fleet
            .iter()
            .map(|device| device.connection.say_goodbye(Duration::from_secs(5))),
    )
    .await;
    let goodbyes = fleet
        .into_iter()
        .map(|d| d.connection.finish(Duration::from_secs(3)));
    for goodbye in goodbyes {
        goodbye.await;
    }
    if let Some(task) = progress {
        task.abort();
    }
    let mut summary = Summary::collect(
        &stats,
        &scenario.name,
        device_count,
        options.speed,
        started.elapsed(),
        outcome.scenario_seconds,
        outcome.completed,
    );
    summary.max_lag_ms = outcome.max_lag.as_secs_f64() * 1000.0;
    // The rate while the story ran, not diluted by connecting and saying goodbye.
    let running = outcome.running.as_secs_f64();
    summary.sent_per_second = if running > 0.0 {
        summary.sent as f64 / running
    } else {
        0.0
    };
    Ok(summary)
}

fn validate(
    scenario: &Scenario,
    credentials: &CredentialsFile,
    options: &FleetOptions,
) -> anyhow::Result<()> {
    if !is_valid_venue(&credentials.venue) {
        bail!(
            "venue {:?} is not a valid slug (1-40 of a-z 0-9 - _)",
            credentials.venue
        );
    }
    if !(options.speed.is_finite() && options.speed > 0.0) {
        bail!("speed must be a positive number, got {}", options.speed);
    }
    if !(options.connect_rate.is_finite() && options.connect_rate > 0.0) {
        bail!("connect rate must be a positive number");
    }
    if let Some(bad) = scenario.devices.iter().find(|d| !is_valid_device(&d.key)) {
        bail!(
            "device key {:?} is not valid (1-64 of a-z 0-9 - _)",
            bad.key
        );
    }
    let by_key = credentials.by_key();
    let missing: Vec<&str> = scenario
        .devices
        .iter()
        .map(|d| d.key.as_str())
        .filter(|k| !by_key.contains_key(k))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the credentials have no entry for {} device(s): {}{}",
            missing.len(),
            missing[..missing.len().min(5)].join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        );
    }
    if let Some(limit) = open_files_limit() {
        let needed = scenario.devices.len() as u64 + 64;
        if needed > limit {
            bail!(
                "{} devices need about {needed} open files but the limit is {limit}: \
                 raise it with `ulimit -n {needed}`",
                scenario.devices.len()
            );
        }
    }
    Ok(())
}

async fn wait_for_connections(stats: &Stats, devices: usize, patience: Duration) {
    let deadline = Instant::now() + patience;
    while (stats.connected.load(Relaxed).max(0) as usize) < devices && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn schedule(
    fleet: &mut [SimDevice],
    clock: SimClock,
    length: Option<f64>,
    options: &FleetOptions,
    stats: &Stats,
    stop: impl Future<Output = ()>,
) -> Outcome {
    let mut timeline = Timeline::new(
        fleet
            .iter_mut()
            .map(|device| device.behaviour.first_due(&mut device.rng)),
    );
    let run_id = run_id(options.start);
    let story_end = length.map(|l| clock.instant_at(l));
    let deadline = options.duration.map(|d| clock.instant_at(0.0) + d);
    let end = match (story_end, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut outcome = Outcome::default();
    let mut said = Vec::with_capacity(4);
    tokio::pin!(stop);
    loop {
        let next_instant = timeline
            .next_due()
            .filter(|sim| length.is_none_or(|l| *sim < l))
            .map(|sim| clock.instant_at(sim));
        let wake = match (next_instant, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            () = &mut stop => break,
            () = sleep_until_maybe(wake) => {}
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            outcome.completed = story_end.is_some_and(|s| now >= s);
            break;
        }
        let Some((sim, index)) = timeline.pop() else {
            continue;
        };
        outcome.max_lag = outcome
            .max_lag
            .max(now.saturating_duration_since(clock.instant_at(sim)));
        let device = &mut fleet[index];
        said.clear();
        let next_due = device.behaviour.fire(sim, &mut device.rng, &mut said);
        for utterance in said.drain(..) {
            send(device, utterance, sim, &clock, run_id, options, stats);
        }
        if let Some(due) = next_due {
            timeline.push(due, index);
        }
    }
    let sim_now = clock.sim_at(Instant::now());
    outcome.running = clock.instant_at(0.0).elapsed();
    outcome.scenario_seconds = length.map_or(sim_now, |l| sim_now.min(l));
    outcome
}

async fn sleep_until_maybe(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A per-run prefix for message ids, so a second run's `msg_id`s do not look like
/// duplicates of the first run's to the hub.
fn run_id(start: DateTime<Utc>) -> u32 {
    (start.timestamp_micros() as u64 % 0xffff_ffff) as u32
}

/// The `msg_id` of a device's `seq`-th message in run `run`.
pub fn msg_id(run: u32, seq: u64) -> String {
    format!("{run:08x}-{seq}")
}

/// The `boot` of every message in run `run`: each run is a fresh boot of the fleet, whose
/// `seq` starts again at 1, which the hub then counts as a restart instead of a replay.
pub fn boot(run: u32) -> String {
    format!("{run:08x}")
}

fn send(
    device: &mut SimDevice,
    utterance: Utterance,
    sim: f64,
    clock: &SimClock,
    run: u32,
    options: &FleetOptions,
    stats: &Stats,
) {
    device.seq += 1;
    let seq = device.seq;
    // At real speed the device clock is the real clock; faster, it shows scenario time so
    // the hub's time-based rules (alert delays, cooling deadlines) play out in minutes.
    let wall = if options.speed == 1.0 {
        Utc::now()
    } else {
        clock.wall_at(sim)
    };
    let ts = Timestamp::parse(wall.to_rfc3339_opts(SecondsFormat::Millis, true)).ok();
    let msg_id = msg_id(run, seq);
    let (topic, message) = match utterance {
        Utterance::Telemetry { readings, door } => {
            stats.telemetry.fetch_add(1, Relaxed);
            (
                &device.telemetry_topic,
                UplinkMessage::Telemetry(Telemetry {
                    msg_id,
                    seq,
                    boot: Some(boot(run)),
                    ts,
                    readings,
                    door,
                    battery_percent: None,
                }),
            )
        }
        Utterance::Event(event) => {
            stats.events.fetch_add(1, Relaxed);
            let counter = match &event {
                EventBody::Scan { .. } => &stats.scans,
                EventBody::Key { .. } => &stats.key_presses,
                EventBody::Button { .. } => &stats.button_presses,
                EventBody::CoolingStart { .. } => &stats.cooling_starts,
                EventBody::CoolingStop { .. } => &stats.cooling_stops,
            };
            counter.fetch_add(1, Relaxed);
            (
                &device.event_topic,
                UplinkMessage::Event(DeviceEvent {
                    msg_id,
                    seq,
                    boot: Some(boot(run)),
                    ts,
                    event,
                }),
            )
        }
    };
    if device
        .connection
        .try_publish(topic, options.qos, encode_uplink(&message))
    {
        stats.sent.fetch_add(1, Relaxed);
    } else {
        stats.dropped.fetch_add(1, Relaxed);
    }
}

/// Prints a progress line on stderr every second until aborted.
fn spawn_progress(
    stats: Arc<Stats>,
    devices: usize,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let interval = Duration::from_secs(1);
        let mut ticker = tokio::time::interval_at(started + interval, interval);
        let mut before = stats.snapshot();
        loop {
            ticker.tick().await;
            let now = stats.snapshot();
            let (elapsed, sim) = stats.stamp();
            eprintln!(
                "{}",
                progress_line(
                    elapsed,
                    sim.as_deref().unwrap_or("-:--:--"),
                    devices,
                    &now,
                    &before,
                    interval,
                    stats.last_error().as_deref(),
                )
            );
            before = now;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_speed_60_a_scenario_minute_is_a_real_second() {
        let origin = Instant::now();
        let wall: DateTime<Utc> = "2025-06-01T17:00:00Z".parse().unwrap();
        let clock = SimClock::new(origin, wall, 60.0);
        assert_eq!(clock.instant_at(60.0) - origin, Duration::from_secs(1));
        assert_eq!(clock.instant_at(3600.0) - origin, Duration::from_secs(60));
        assert!((clock.sim_at(origin + Duration::from_secs(2)) - 120.0).abs() < 1e-9);
        assert_eq!(
            clock.wall_at(5400.0),
            "2025-06-01T18:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn message_ids_are_unique_per_run_and_within_the_limit() {
        assert_eq!(msg_id(0xab, 7), "000000ab-7");
        assert_ne!(msg_id(1, 1), msg_id(2, 1));
        assert!(msg_id(u32::MAX, u64::MAX).len() <= devices::codec::MAX_MSG_ID_CHARS);
    }

    /// Walks a scenario's timeline without a network, as the scheduler does, and returns
    /// the scenario second of every message until `until`.
    fn send_times(scenario: Scenario, seed: u64, until: f64) -> Vec<f64> {
        let mut devices: Vec<(Behaviour, Rng)> = scenario
            .devices
            .into_iter()
            .enumerate()
            .map(|(i, d)| (d.behaviour, Rng::for_device(seed, i)))
            .collect();
        let mut timeline = Timeline::new(devices.iter_mut().map(|(b, rng)| b.first_due(rng)));
        let mut out = Vec::new();
        let mut said = Vec::new();
        while let Some((sim, index)) = timeline.pop() {
            if sim >= until {
                break;
            }
            let (behaviour, rng) = &mut devices[index];
            said.clear();
            if let Some(next) = behaviour.fire(sim, rng, &mut said) {
                timeline.push(next, index);
            }
            out.extend(said.iter().map(|_| sim));
        }
        out
    }

    #[test]
    fn a_load_fleet_sends_at_its_rate_evenly_not_in_bursts() {
        let scenario = crate::scenario::load(&crate::scenario::LoadOptions {
            devices: 250,
            rate: 1000.0,
            speed: 1.0,
            seed: 1,
            prefix: "load".into(),
        });
        let times = send_times(scenario, 1, 10.0);
        assert_eq!(times.len(), 10_000);
        for window in 0..100 {
            let (from, to) = (window as f64 * 0.1, (window + 1) as f64 * 0.1);
            let n = times.iter().filter(|t| (from..to).contains(*t)).count();
            assert!((99..=101).contains(&n), "{n} messages in [{from}, {to})");
        }
    }

    #[test]
    fn a_faster_speed_keeps_the_real_rate_of_a_load_fleet() {
        let scenario = crate::scenario::load(&crate::scenario::LoadOptions {
            devices: 10,
            rate: 50.0,
            speed: 60.0,
            seed: 1,
            prefix: "load".into(),
        });
        // 4 real seconds are 240 scenario seconds at speed 60.
        assert_eq!(send_times(scenario, 1, 240.0).len(), 200);
    }

    #[test]
    fn the_evening_timeline_has_every_kind_of_message_in_its_first_hour() {
        let scenario = crate::scenario::evening(&crate::scenario::EveningOptions {
            seed: 3,
            slow_batch: true,
            start: Utc::now(),
        });
        let probes = scenario
            .devices
            .iter()
            .filter(|d| d.kind == devices::DeviceKind::Probe)
            .count();
        let times = send_times(scenario, 3, 3600.0);
        // Each probe once a minute, plus 8 scans, bump presses, the batch start.
        assert!(times.len() > probes * 59 + 8, "{} messages", times.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "in scenario order");
    }

    #[test]
    fn heap_keys_keep_scenario_order() {
        assert!(heap_key(0.000_001) > heap_key(0.0));
        assert!(heap_key(59.9) < heap_key(60.0));
        assert_eq!(heap_key(-1.0), 0);
    }
}
