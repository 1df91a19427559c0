//! The `devices` benchmark (issue #4): a hub process with its embedded broker takes a
//! fleet of simulated probes (firmware-sim's load fleet, one MQTT connection each)
//! publishing at a steady rate, plus a few alarm probes whose critical readings are timed
//! to their `food_safety_alert` frame on an `alerts` screen ([`crate::alarm`]). The hub row
//! runs the full bridge (decode, checks, dedup, food-safety rules, batched persistence);
//! in the same run, on the same database and credentials, the baseline row sends the same
//! fleet at the same rate through the same gate and broker to a hub started with
//! `--mqtt-drain-only`, whose consumer only counts. Both rows report throughput, the hub's
//! CPU time per message and its memory, and are printed with their ratios.
//!
//! Provisioning (one argon2 hash per device) and a first connection of every device (one
//! argon2 verification each, then cached by the hub) happen before the measured window
//! and are reported apart. Bounded in count and time, loopback only; the hubs are killed
//! at the end, also on error. It measures and reports; it asserts nothing about the figures.

use std::{
    collections::HashMap,
    fmt::Write as _,
    future::pending,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use anyhow::{Context as _, bail};
use firmware_sim::{
    Broker, CredentialsFile, DeviceCredential, FleetOptions, HubApi, Login, Stats, Summary,
    client::{DeviceIdentity, mqtt_options},
    provision_fleet,
    scenario::{self, DevicePlan, LoadOptions, Pairing, Scenario},
};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use tokio::{sync::watch, task::JoinSet, time::Instant};

use crate::{
    alarm::{self, AlarmFleet, AlarmProbe, Alerts},
    commands::{Store, StoreArgs, millis, ratio},
    database,
    latency::Summary as LatencySummary,
    metrics::{self, Exposition},
    process::{self, HubProcess, Memory, Mqtt},
    screen::Screen,
    screens::login,
};

const DEMO_VENUE: &str = "demo";
/// The demo owner, who may register devices.
const OWNER: (&str, &str) = ("owner", "almahira-demo");
/// The demo manager's PIN, for the `alerts` screen.
const MANAGER_PIN: &str = "1111";
/// Devices registered at once: each costs the hub an argon2 hash.
const PROVISION_AT_ONCE: usize = 8;
/// Devices making their first connection at once: each costs the hub an argon2 check.
const WARM_UP_AT_ONCE: usize = 16;
/// Attempts at a device's first connection before the run stops.
const WARM_UP_ATTEMPTS: usize = 3;
/// How fast the load fleet connects once the hub knows its secrets.
const CONNECT_RATE: f64 = 1000.0;
/// Report interval registered for every probe: the longest the hub takes, so no probe is
/// judged offline while the others are being provisioned or the run connects.
const REPORT_INTERVAL_SECONDS: u32 = 3600;
/// Quiet time after the connections before memory is read and the load starts.
const SETTLE: Duration = Duration::from_secs(1);
/// Load before the window opens: the fleet's retained `online` statuses (one per device,
/// right after it connects) are through the broker by then, so both rows count the same
/// telemetry.
const LEAD_IN: Duration = Duration::from_secs(2);
/// Load after the window closes, so the fleet's goodbyes fall outside it.
const TAIL: Duration = Duration::from_secs(1);
/// The drain ends when the counter has not moved for this long...
const DRAIN_QUIET: Duration = Duration::from_secs(2);
/// ...or after this long at most.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// File descriptors kept free beyond one per device connection.
const SPARE_FILES: u64 = 256;
/// Set when the bench re-ran itself with a raised open-files limit.
const RAISED_MARKER: &str = "BENCH_DEVICES_FILES_RAISED";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated fridge probes of the load fleet, one MQTT connection each.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=9000))]
    probes: u64,

    /// Telemetry messages per second across the load fleet (one reading each).
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    rate: u64,

    /// Seconds of load per row (provisioning, connecting and the drain come on top).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=600))]
    seconds: u64,

    /// Probes beside the fleet that publish a critical reading once a second, each timed
    /// to its alert frame on an `alerts` screen (0: no latency figures).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=500))]
    alarm_probes: u64,

    #[command(flatten)]
    store: StoreArgs,

    /// Start the hubs with MALLOC_MMAP_THRESHOLD_=BYTES (glibc), so large blocks such as
    /// argon2's 19 MiB are mapped and returned on free rather than kept in malloc's arenas:
    /// shows the hub's memory without what provisioning and first connections leave behind.
    #[arg(long, value_name = "BYTES")]
    malloc_mmap_threshold: Option<u64>,
}

/// Which consumer takes the devices' messages off the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumer {
    Bridge,
    DrainOnly,
}

impl Consumer {
    fn label(self) -> &'static str {
        match self {
            Consumer::Bridge => "hub (bridge)",
            Consumer::DrainOnly => "baseline (drain only)",
        }
    }

    fn mqtt(self) -> Mqtt {
        match self {
            Consumer::Bridge => Mqtt::Bridge,
            Consumer::DrainOnly => Mqtt::DrainOnly,
        }
    }
}

/// The registered devices both rows use.
struct Fleet {
    credentials: CredentialsFile,
    alarm: Vec<AlarmProbe>,
    provisioning: Duration,
}

/// Runs the bridge row (provisioning first), then the drain-only row on the same database,
/// and prints the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let devices = args.probes + args.alarm_probes;
    let needed = devices + SPARE_FILES;
    if let Some(limit) = process::own_open_files_limit()
        && limit < needed
    {
        if std::env::var_os(RAISED_MARKER).is_some() {
            bail!(
                "{devices} device connections need about {needed} open files but the limit is \
                 {limit} and cannot be raised further (hard limit); run `ulimit -n {needed}` as \
                 a user allowed to, or use --probes {} or fewer",
                limit.saturating_sub(SPARE_FILES + args.alarm_probes)
            );
        }
        eprintln!(
            "open-files soft limit {limit} is below the {needed} this run needs; running again with it raised"
        );
        return if process::rerun_with_raised_files_limit(RAISED_MARKER).await? {
            Ok(())
        } else {
            bail!("the bench with a raised open-files limit failed")
        };
    }
    let store = args.store.store().await?;
    let binary = process::hub_binary().await?;
    let database = store.fresh().await?;
    let postgres_url = (!args.store.sqlite).then(|| database.url().to_owned());

    let mut rows = Vec::with_capacity(2);
    let mut fleet: Option<Fleet> = None;
    for consumer in [Consumer::Bridge, Consumer::DrainOnly] {
        eprintln!(
            "{}: {} probes at {} messages/s for {} s, {} alarm probes, on {}...",
            consumer.label(),
            args.probes,
            args.rate,
            args.seconds,
            args.alarm_probes,
            store.describe()
        );
        let env: Vec<(&str, String)> = args
            .malloc_mmap_threshold
            .map(|bytes| ("MALLOC_MMAP_THRESHOLD_", bytes.to_string()))
            .into_iter()
            .collect();
        let hub = HubProcess::start_with(&binary, database.url(), consumer.mqtt(), &env).await?;
        let outcome = async {
            let fleet = match fleet.take() {
                Some(fleet) => fleet,
                None => provision(&hub, &args).await?,
            };
            let row = measure(&hub, consumer, &fleet, &args, postgres_url.as_deref()).await;
            Ok::<_, anyhow::Error>((fleet, row?))
        }
        .await;
        let log = hub.log_counts();
        hub.stop().await;
        let (kept, mut row) = outcome.with_context(|| {
            format!(
                "the {} row (hub log: {})",
                consumer.label(),
                if log.1.is_empty() {
                    "nothing at warn or above".to_owned()
                } else {
                    log.1
                        .iter()
                        .map(|(message, n)| format!("{n}x {message}"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                }
            )
        })?;
        row.log = log;
        eprintln!(
            "  {}: {} messages sent, {} taken in during the window",
            consumer.label(),
            row.sent(),
            row.taken_in
        );
        fleet = Some(kept);
        rows.push(row);
    }
    drop(database);
    let provisioning = fleet.map_or(Duration::ZERO, |f| f.provisioning);
    print!("{}", report(&store, &args, provisioning, &rows));
    Ok(())
}

/// The load fleet's plans: every probe a cold-holding unit with the longest report interval.
fn load_scenario(args: &Args, prefix: &str, devices: u64, seed: u64) -> Scenario {
    let mut scenario = scenario::load(&LoadOptions {
        devices: usize::try_from(devices).unwrap_or(usize::MAX),
        rate: args.rate as f64,
        speed: 1.0,
        seed,
        prefix: prefix.to_owned(),
    });
    for plan in &mut scenario.devices {
        if let Pairing::Probe(unit) = &mut plan.pairing {
            unit.report_interval_seconds = REPORT_INTERVAL_SECONDS;
        }
    }
    scenario
}

/// Registers the load fleet and the alarm probes at `hub` and returns their credentials.
async fn provision(hub: &HubProcess, args: &Args) -> anyhow::Result<Fleet> {
    let base_url = format!("http://{}", hub.address());
    let api = HubApi::login(
        &base_url,
        DEMO_VENUE,
        Login::Password {
            username: OWNER.0.to_owned(),
            password: OWNER.1.to_owned(),
        },
    )
    .await?;
    let mut plans: Vec<DevicePlan> = load_scenario(args, "load", args.probes, 1).devices;
    plans.extend(load_scenario(args, "alarm", args.alarm_probes, 2).devices);
    eprintln!(
        "  provisioning {} devices, {PROVISION_AT_ONCE} at a time (one argon2 hash each; not measured)...",
        plans.len()
    );
    let started = Instant::now();
    let credentials = provision_fleet(&api, &plans, PROVISION_AT_ONCE).await?;
    let provisioning = started.elapsed();
    let ids = api.device_ids().await?;
    let alarm = credentials
        .devices
        .iter()
        .filter(|d| d.key.starts_with("alarm-"))
        .map(|credential| {
            Ok(AlarmProbe {
                venue: credentials.venue.clone(),
                device_id: ids
                    .get(&credential.key)
                    .with_context(|| format!("{} is not in the device list", credential.key))?
                    .clone(),
                credential: credential.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("  provisioned in {:.1} s", provisioning.as_secs_f64());
    Ok(Fleet {
        credentials,
        alarm,
        provisioning,
    })
}

/// The hub at one moment of a row.
struct Snapshot {
    at: Instant,
    metrics: Exposition,
    cpu: Duration,
    /// CPU time of each Postgres backend serving the hub's database.
    postgres: Option<HashMap<u32, Duration>>,
    sent: u64,
    /// Resident memory, KiB.
    rss_kib: Option<u64>,
    /// Log lines the hub has printed so far.
    log_lines: u64,
}

impl Snapshot {
    async fn take(
        hub: &HubProcess,
        client: &reqwest::Client,
        base_url: &str,
        postgres_url: Option<&str>,
        stats: &Stats,
    ) -> anyhow::Result<Self> {
        let at = Instant::now();
        let sent = stats.sent.load(Relaxed);
        let cpu = hub.cpu_time()?;
        let rss_kib = hub.memory().ok().map(|m| m.rss_kib);
        let log_lines = hub.log_counts().0;
        let metrics = metrics::fetch(client, base_url).await?;
        let postgres = match postgres_url {
            Some(url) => Some(
                database::backend_pids(url)
                    .await?
                    .into_iter()
                    .filter_map(|pid| Some((pid, process::cpu_time(pid).ok()?)))
                    .collect(),
            ),
            None => None,
        };
        Ok(Self {
            at,
            metrics,
            cpu,
            postgres,
            sent,
            rss_kib,
            log_lines,
        })
    }

    /// CPU the database's backends used since `earlier` (a backend that appeared since
    /// counts whole; one that ended is missed).
    fn postgres_since(&self, earlier: &Snapshot) -> Option<Duration> {
        let (now, before) = (self.postgres.as_ref()?, earlier.postgres.as_ref()?);
        Some(
            now.iter()
                .map(|(pid, cpu)| cpu.saturating_sub(before.get(pid).copied().unwrap_or_default()))
                .sum(),
        )
    }
}

/// What one row measured.
struct Row {
    consumer: Consumer,
    fleet: Summary,
    alarm: alarm::Sent,
    /// First connection of every device (argon2 checks), before the window.
    warm_up: Duration,
    warm_up_retried: Retried,
    window: Duration,
    /// Fleet messages sent during the window.
    sent_in_window: u64,
    /// Messages the consumer took in during the window: telemetry the bridge accepted, or
    /// messages the drain counted.
    taken_in: u64,
    /// Readings newly stored during the window (bridge only).
    persisted_in_window: u64,
    /// After the drain.
    persisted_total: u64,
    accepted_telemetry_total: u64,
    drained_total: u64,
    rejected: Vec<(String, u64)>,
    drain: Duration,
    cpu: Duration,
    postgres_cpu: Option<Duration>,
    memory_before: Option<Memory>,
    /// Peak over the window and the drain, when the peak could be reset before the load.
    peak_kib: Option<u64>,
    peak_reset: bool,
    memory_after: Option<Memory>,
    /// Resident memory when the window opened (the fleet connected and sending), KiB.
    rss_at_open: Option<u64>,
    /// Resident memory once a second through the window, KiB.
    rss_series: Vec<u64>,
    /// Log lines the hub printed during the window.
    log_lines_in_window: u64,
    alerts: Option<Alerts>,
    latency: Option<LatencySummary>,
    /// The hub's log lines after its banner: the total, and counts by message.
    log: (u64, Vec<(String, u64)>),
}

impl Row {
    fn sent(&self) -> u64 {
        self.fleet.sent + self.alarm.total()
    }

    fn taken_in_per_second(&self) -> f64 {
        self.taken_in as f64 / self.window.as_secs_f64().max(1e-9)
    }

    fn stored_per_second(&self) -> f64 {
        self.persisted_in_window as f64 / self.window.as_secs_f64().max(1e-9)
    }

    fn cpu_micros_per_message(&self) -> f64 {
        if self.taken_in == 0 {
            return f64::NAN;
        }
        self.cpu.as_secs_f64() * 1e6 / self.taken_in as f64
    }
}

/// One row on a running hub: first connections, the alert screen and alarm probes, the
/// load window, the drain.
async fn measure(
    hub: &HubProcess,
    consumer: Consumer,
    fleet: &Fleet,
    args: &Args,
    postgres_url: Option<&str>,
) -> anyhow::Result<Row> {
    let base_url = format!("http://{}", hub.address());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let broker: Broker = hub
        .mqtt_address()
        .context("the hub has no MQTT address")?
        .parse()
        .map_err(|error: String| anyhow::anyhow!(error))?;

    eprintln!(
        "  first connection of {} devices, {WARM_UP_AT_ONCE} at a time (one argon2 check each; not measured)...",
        fleet.credentials.devices.len()
    );
    let started = Instant::now();
    let retried = warm_up(&broker, &fleet.credentials).await?;
    let warm_up = started.elapsed();
    if retried.attempts > 0 {
        eprintln!(
            "  {} first connections failed and were made again; first error: {}",
            retried.attempts,
            retried.first_error.as_deref().unwrap_or("?")
        );
    }

    let (stop_screen, stopping_screen) = watch::channel(false);
    let alarms = if fleet.alarm.is_empty() {
        None
    } else {
        Some(AlarmFleet::connect(&broker, fleet.alarm.clone()).await?)
    };
    let listener = match (&alarms, consumer) {
        (Some(alarms), Consumer::Bridge) => {
            let token = login(&client, &base_url, MANAGER_PIN).await?;
            let url = format!("ws://{}/ws", hub.address());
            let screen = Screen::open(&url, &token, "alerts").await?;
            Some(tokio::spawn(alarm::listen(
                screen,
                alarms.published(),
                stopping_screen,
            )))
        }
        _ => None,
    };

    tokio::time::sleep(SETTLE).await;
    let memory_before = hub.memory().ok();
    let peak_reset = hub.reset_peak_memory().is_ok();

    let stats = Arc::new(Stats::default());
    let scenario = load_scenario(args, "load", args.probes, 1);
    let mut options = FleetOptions::new(broker.clone());
    options.duration = Some(LEAD_IN + Duration::from_secs(args.seconds) + TAIL);
    options.qos = QoS::AtLeastOnce;
    options.connect_rate = CONNECT_RATE;
    let credentials = fleet.credentials.clone();
    let fleet_stats = stats.clone();
    let mut running = tokio::spawn(async move {
        firmware_sim::run_fleet(scenario, &credentials, &options, fleet_stats, pending()).await
    });

    // The window opens `LEAD_IN` after the fleet's first message.
    let patience =
        Duration::from_secs_f64(args.probes as f64 / CONNECT_RATE) + Duration::from_secs(30);
    let opened = Instant::now();
    while stats.sent.load(Relaxed) == 0 {
        if running.is_finished() || opened.elapsed() > patience {
            let outcome = (&mut running).await;
            bail!(
                "the load fleet sent nothing (connected {}, refused {}, last error {:?}): {:?}",
                stats.connected.load(Relaxed),
                stats.refused.load(Relaxed),
                stats.last_error(),
                outcome.map(|r| r.map(|_| ()))
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(LEAD_IN).await;
    let before = Snapshot::take(hub, &client, &base_url, postgres_url, &stats).await?;
    let until = before.at + Duration::from_secs(args.seconds);
    let publishing = async {
        match &alarms {
            Some(alarms) => alarms.publish(before.at, until).await,
            None => alarm::Sent::default(),
        }
    };
    let window = async {
        let mut series = Vec::new();
        let mut ticks =
            tokio::time::interval_at(before.at + Duration::from_secs(1), Duration::from_secs(1));
        while Instant::now() + Duration::from_millis(500) < until {
            ticks.tick().await;
            if let Ok(memory) = hub.memory() {
                series.push(memory.rss_kib);
            }
        }
        tokio::time::sleep_until(until).await;
        let after = Snapshot::take(hub, &client, &base_url, postgres_url, &stats).await;
        (series, after)
    };
    let (alarm_sent, (rss_series, after)) = tokio::join!(publishing, window);
    let after = after?;
    if let Some(alarms) = alarms {
        alarms.close().await;
    }
    let fleet_summary = running
        .await
        .context("the load fleet task failed")?
        .context("the load fleet")?;

    // The drain: until the consumer's counter stops moving.
    let counter = |metrics: &Exposition| match consumer {
        Consumer::Bridge => metrics.value("hub_readings_persisted_total"),
        Consumer::DrainOnly => metrics.value("hub_mqtt_drained_total"),
    };
    let drain_started = Instant::now();
    let mut last = counter(&metrics::fetch(&client, &base_url).await?);
    let mut last_moved = Instant::now();
    while drain_started.elapsed() < DRAIN_LIMIT && last_moved.elapsed() < DRAIN_QUIET {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = counter(&metrics::fetch(&client, &base_url).await?);
        if now != last {
            last = now;
            last_moved = Instant::now();
        }
    }
    let drain = last_moved.saturating_duration_since(drain_started);
    let _ = stop_screen.send(true);
    let alerts = match listener {
        Some(listener) => Some(listener.await.context("the alerts screen failed")?),
        None => None,
    };
    let end = metrics::fetch(&client, &base_url).await?;
    let memory_after = hub.memory().ok();

    let delta = |name: &str, labels: &[(&str, &str)]| {
        (after.metrics.labelled(name, labels) - before.metrics.labelled(name, labels)).max(0.0)
            as u64
    };
    let taken_in = match consumer {
        Consumer::Bridge => delta("hub_mqtt_messages_total", &[("kind", "telemetry")]),
        Consumer::DrainOnly => delta("hub_mqtt_drained_total", &[]),
    };
    let latency = alerts.as_ref().and_then(|a| a.latencies.clone().summary());
    Ok(Row {
        consumer,
        fleet: fleet_summary,
        alarm: alarm_sent,
        warm_up,
        warm_up_retried: retried,
        window: after.at.duration_since(before.at),
        sent_in_window: after.sent.saturating_sub(before.sent),
        taken_in,
        persisted_in_window: delta("hub_readings_persisted_total", &[]),
        persisted_total: end.value("hub_readings_persisted_total") as u64,
        accepted_telemetry_total: end.labelled("hub_mqtt_messages_total", &[("kind", "telemetry")])
            as u64,
        drained_total: end.value("hub_mqtt_drained_total") as u64,
        rejected: end
            .by_label("hub_mqtt_rejected_total", "reason")
            .into_iter()
            .filter(|(_, n)| *n > 0.0)
            .map(|(reason, n)| (reason, n as u64))
            .collect(),
        drain,
        cpu: after.cpu.saturating_sub(before.cpu),
        postgres_cpu: after.postgres_since(&before),
        memory_before,
        peak_kib: memory_after.map(|m| m.peak_kib),
        peak_reset,
        memory_after,
        rss_at_open: before.rss_kib,
        rss_series,
        log_lines_in_window: after.log_lines.saturating_sub(before.log_lines),
        alerts,
        latency,
        log: (0, Vec::new()),
    })
}

/// First connections that did not get through, retried and reported.
#[derive(Debug, Default)]
struct Retried {
    /// Connection attempts that failed and were made again.
    attempts: u64,
    first_error: Option<String>,
}

/// Connects every device once and disconnects cleanly, `WARM_UP_AT_ONCE` at a time, so
/// the hub has checked each secret (argon2) before the measured window. A failed attempt
/// is made again (at most `WARM_UP_ATTEMPTS` in all) and counted for the report; a device
/// that never gets through stops the run with the reason.
async fn warm_up(broker: &Broker, credentials: &CredentialsFile) -> anyhow::Result<Retried> {
    let mut running = JoinSet::new();
    let mut pending_devices = credentials.devices.iter();
    let mut retried = Retried::default();
    let mut failed: Vec<String> = Vec::new();
    loop {
        while running.len() < WARM_UP_AT_ONCE {
            let Some(credential) = pending_devices.next() else {
                break;
            };
            let (broker, venue, credential) = (
                broker.clone(),
                credentials.venue.clone(),
                credential.clone(),
            );
            running.spawn(async move {
                let mut errors = Vec::new();
                for _ in 0..WARM_UP_ATTEMPTS {
                    match connect_once(&broker, &venue, credential.clone()).await {
                        Ok(()) => return (errors, true),
                        Err(error) => errors.push(format!("{error:#}")),
                    }
                }
                (errors, false)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (errors, connected) = joined.context("a first-connection task failed")?;
        if connected {
            retried.attempts += errors.len() as u64;
        } else {
            failed.extend(errors.last().cloned());
        }
        if let Some(error) = errors.into_iter().next() {
            retried.first_error.get_or_insert(error);
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} devices could not connect to the hub's broker in {WARM_UP_ATTEMPTS} \
             attempts; first: {}",
            failed.len(),
            credentials.devices.len(),
            failed[0]
        );
    }
    Ok(retried)
}

async fn connect_once(
    broker: &Broker,
    venue: &str,
    credential: DeviceCredential,
) -> anyhow::Result<()> {
    let key = credential.key.clone();
    let identity = DeviceIdentity {
        venue: venue.to_owned(),
        key: key.clone(),
        kind: devices::DeviceKind::Probe,
        credential,
    };
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(broker, &identity), 4);
    let connect = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .with_context(|| format!("{key}: no CONNACK within 30 s"))?
        .with_context(|| format!("{key}: connecting"))?;
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    Ok(())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// MiB the resident memory grew over the second half of the window.
fn second_half_growth_mib(series: &[u64]) -> Option<f64> {
    let (mid, last) = (series.get(series.len() / 2)?, series.last()?);
    Some((*last as f64 - *mid as f64) / 1024.0)
}

/// The printed result: what ran, both rows in one table, their ratios, then the details.
fn report(store: &Store, args: &Args, provisioning: Duration, rows: &[Row]) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ndevices (issue #4): {} fridge probes (firmware-sim load fleet, one MQTT connection \
         each, QoS 1, one reading per message) at {} messages/s for {} s per row, plus {} alarm \
         probes each publishing a critical reading and a recovery once a second",
        args.probes, args.rate, args.seconds, args.alarm_probes
    );
    let _ = writeln!(
        out,
        "store:    {}; both rows on the same database and credentials",
        store.describe()
    );
    let _ = writeln!(
        out,
        "machine:  {cpus} CPUs shared by the hub, Postgres and this bench (load fleet, alarm \
         probes, alerts screen), all on 127.0.0.1; the rows ran one after the other"
    );
    let _ = writeln!(
        out,
        "rows:     hub (bridge) = embedded broker + full bridge (decode, checks, dedup, \
         food-safety rules, batched persistence); baseline = same gate and broker, the hub \
         started with --mqtt-drain-only (messages counted and dropped)"
    );
    let _ = writeln!(
        out,
        "not measured: provisioning {:.1} s ({} devices, argon2 each); first connections \
         {} (argon2 check each, cached after)",
        provisioning.as_secs_f64(),
        args.probes + args.alarm_probes,
        rows.iter()
            .map(|r| format!(
                "{} {:.1} s{}",
                r.consumer.label(),
                r.warm_up.as_secs_f64(),
                if r.warm_up_retried.attempts > 0 {
                    format!(
                        " ({} attempts closed by the hub and made again, first: {})",
                        r.warm_up_retried.attempts,
                        r.warm_up_retried.first_error.as_deref().unwrap_or("?")
                    )
                } else {
                    String::new()
                }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "window:   --seconds, opening {} s after the fleet's first message; in/s = messages the consumer \
         took in (bridge: telemetry accepted; baseline: messages drained) / window; stored/s = \
         readings newly persisted / window; CPU = hub process user+system in the window; pg CPU \
         = the Postgres backends of the hub's database in the window; RSS0 = after provisioning \
         and first connections, before the load; peak = VmHWM reset before the load{}\n",
        LEAD_IN.as_secs(),
        args.malloc_mmap_threshold
            .map(|bytes| format!("; hubs started with MALLOC_MMAP_THRESHOLD_={bytes}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>24}",
        "row",
        "sent",
        "in/s",
        "stored/s",
        "stored",
        "CPU s",
        "us/msg",
        "pg CPU",
        "RSS0 MiB",
        "peak MiB",
        "end MiB",
        "alerts",
        "alert ms p50/p99/max"
    );
    for row in rows {
        let stored = match row.consumer {
            Consumer::Bridge => format!("{:.1}", row.stored_per_second()),
            Consumer::DrainOnly => "-".to_owned(),
        };
        let stored_total = match row.consumer {
            Consumer::Bridge => row.persisted_total.to_string(),
            Consumer::DrainOnly => "-".to_owned(),
        };
        let alerts = row.alerts.as_ref().map_or_else(
            || "-".to_owned(),
            |a| format!("{}/{}", a.matched, row.alarm.critical),
        );
        let latency = row.latency.map_or_else(
            || match row.consumer {
                Consumer::DrainOnly => "none (no rules)".to_owned(),
                Consumer::Bridge => "-".to_owned(),
            },
            |l| format!("{}/{}/{}", millis(l.p50), millis(l.p99), millis(l.max)),
        );
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>9.1} {:>9} {:>9} {:>8.2} {:>8.1} {:>7} {:>8} {:>8} {:>8} {:>8} {:>24}",
            row.consumer.label(),
            row.sent(),
            row.taken_in_per_second(),
            stored,
            stored_total,
            row.cpu.as_secs_f64(),
            row.cpu_micros_per_message(),
            seconds(row.postgres_cpu),
            mib(row.memory_before.map(|m| m.rss_kib)),
            mib(row.peak_kib),
            mib(row.memory_after.map(|m| m.rss_kib)),
            alerts,
            latency,
        );
    }
    if let [bridge, baseline] = rows {
        let kib = |m: Option<u64>| m.map_or(f64::NAN, |k| k as f64);
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>9} {:>9} {:>9} {:>8} {:>8} {:>7} {:>8} {:>8} {:>8}",
            "ratio bridge/baseline",
            "",
            ratio(bridge.taken_in_per_second(), baseline.taken_in_per_second()),
            ratio(bridge.stored_per_second(), baseline.taken_in_per_second()),
            "",
            ratio(bridge.cpu.as_secs_f64(), baseline.cpu.as_secs_f64()),
            ratio(
                bridge.cpu_micros_per_message(),
                baseline.cpu_micros_per_message()
            ),
            match (bridge.postgres_cpu, baseline.postgres_cpu) {
                (Some(a), Some(b)) => ratio(a.as_secs_f64(), b.as_secs_f64()),
                _ => "-".to_owned(),
            },
            ratio(
                kib(bridge.memory_before.map(|m| m.rss_kib)),
                kib(baseline.memory_before.map(|m| m.rss_kib))
            ),
            ratio(kib(bridge.peak_kib), kib(baseline.peak_kib)),
            ratio(
                kib(bridge.memory_after.map(|m| m.rss_kib)),
                kib(baseline.memory_after.map(|m| m.rss_kib))
            ),
        );
    }
    let _ = writeln!(out);
    for row in rows {
        let readings_sent = row.fleet.telemetry + row.alarm.total();
        let _ = writeln!(out, "{}:", row.consumer.label());
        let _ = writeln!(
            out,
            "  sent: fleet {} ({:.1}/s while it ran; {} in the {:.2} s window), alarm probes {} \
             ({} critical); fleet dropped {} (queue full), connection errors {}, refused {}, \
             reconnects {}, PUBACKs {}",
            row.fleet.sent,
            row.fleet.sent_per_second,
            row.sent_in_window,
            row.window.as_secs_f64(),
            row.alarm.total(),
            row.alarm.critical,
            row.fleet.dropped,
            row.fleet.connection_errors,
            row.fleet.refused,
            row.fleet.reconnects,
            row.fleet.puback,
        );
        match row.consumer {
            Consumer::Bridge => {
                let _ = writeln!(
                    out,
                    "  taken in: {} telemetry accepted in all, {} readings stored in the window, \
                     {} stored after a {:.1} s drain of {} readings sent ({})",
                    row.accepted_telemetry_total,
                    row.persisted_in_window,
                    row.persisted_total,
                    row.drain.as_secs_f64(),
                    readings_sent,
                    if row.persisted_total >= readings_sent {
                        "kept up: every reading stored".to_owned()
                    } else {
                        format!("{} not stored", readings_sent - row.persisted_total)
                    }
                );
            }
            Consumer::DrainOnly => {
                let _ = writeln!(
                    out,
                    "  taken in: {} messages drained in all (status messages included), {:.1} s drain",
                    row.drained_total,
                    row.drain.as_secs_f64()
                );
            }
        }
        if !row.rejected.is_empty() {
            let rejected: Vec<String> = row
                .rejected
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            let _ = writeln!(out, "  refused by the bridge: {}", rejected.join(", "));
        }
        let series: Vec<String> = row
            .rss_series
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            out,
            "  hub RSS MiB at the window's opening {} (fleet connected), then each second: {} \
             (over the window {:+.1} MiB, its second half {:+.1} MiB){}",
            mib(row.rss_at_open),
            series.join(" "),
            match (row.rss_at_open, row.rss_series.last()) {
                (Some(open), Some(last)) => (*last as f64 - open as f64) / 1024.0,
                _ => f64::NAN,
            },
            second_half_growth_mib(&row.rss_series).unwrap_or(f64::NAN),
            if row.peak_reset {
                ""
            } else {
                "; peak includes provisioning (could not reset VmHWM)"
            }
        );
        if let Some(alerts) = &row.alerts {
            let other: Vec<String> = alerts
                .other
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  alerts screen: {} alerts matched to {} critical publishes; other alert frames: {} \
                 (offline: the fleet saying goodbye after the window){}",
                alerts.matched,
                row.alarm.critical,
                if other.is_empty() {
                    "none".to_owned()
                } else {
                    other.join(", ")
                },
                alerts
                    .ended_early
                    .as_ref()
                    .map(|e| format!("; ended early: {e}"))
                    .unwrap_or_default()
            );
        }
        let (lines, by_message) = &row.log;
        if *lines > 0 {
            let _ = writeln!(
                out,
                "  hub log (RUST_LOG=warn): {lines} lines over the whole row ({} during the window), \
                 by message (digits as N):",
                row.log_lines_in_window
            );
            for (message, n) in by_message.iter().take(8) {
                let _ = writeln!(out, "    {n:>6}x {message}");
            }
        }
    }
    if let [bridge, baseline] = rows {
        let readings_sent = bridge.fleet.telemetry + bridge.alarm.total();
        let kept_up = bridge.persisted_total >= readings_sent;
        let growth = second_half_growth_mib(&bridge.rss_series).unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "\nverdict: the bridge stored {:.0} readings/s against {:.0} messages/s drained by \
             the do-nothing consumer ({}), {}, at {} the CPU per message ({:.1} vs {:.1} us) and \
             {} the peak memory; RSS moved {:+.1} MiB over the window's second half; alert p99 {} ms",
            bridge.stored_per_second(),
            baseline.taken_in_per_second(),
            ratio(bridge.stored_per_second(), baseline.taken_in_per_second()),
            if kept_up {
                "kept up (every reading stored)".to_owned()
            } else {
                format!(
                    "fell behind ({} of {} readings stored)",
                    bridge.persisted_total, readings_sent
                )
            },
            ratio(
                bridge.cpu_micros_per_message(),
                baseline.cpu_micros_per_message()
            ),
            bridge.cpu_micros_per_message(),
            baseline.cpu_micros_per_message(),
            ratio(
                bridge.peak_kib.map_or(f64::NAN, |k| k as f64),
                baseline.peak_kib.map_or(f64::NAN, |k| k as f64)
            ),
            growth,
            bridge
                .latency
                .map_or_else(|| "-".to_owned(), |l| millis(l.p99)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_of_the_fleet_reports_within_the_longest_interval_the_hub_takes() {
        let args = Args {
            probes: 3,
            rate: 3000,
            seconds: 5,
            alarm_probes: 1,
            store: StoreArgs {
                admin_url: String::new(),
                sqlite: true,
            },
            malloc_mmap_threshold: None,
        };
        let scenario = load_scenario(&args, "load", 3, 1);
        assert_eq!(scenario.devices.len(), 3);
        for plan in &scenario.devices {
            let Pairing::Probe(unit) = &plan.pairing else {
                panic!("{} is not a probe", plan.key)
            };
            assert_eq!(unit.report_interval_seconds, REPORT_INTERVAL_SECONDS);
            assert_eq!(unit.critical_celsius, Some(8.0));
        }
    }

    #[test]
    fn memory_growth_is_read_over_the_second_half_of_the_samples() {
        assert_eq!(second_half_growth_mib(&[]), None);
        assert_eq!(second_half_growth_mib(&[1024, 2048, 3072, 3072]), Some(0.0));
        assert_eq!(second_half_growth_mib(&[1024, 1024, 2048, 4096]), Some(2.0));
    }
}
