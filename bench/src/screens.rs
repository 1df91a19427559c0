//! The `screens` benchmark (issue "live screens"): a real hub process on a fresh database
//! feeds N subscribed screens (kds stations, expo, floor) while orders arrive over HTTP at a
//! steady rate; every `event` frame is timed from the moment the hub decided the command
//! to the moment a screen received it. In the same run, the frames each channel delivered
//! are replayed at the same pace through a bare tokio-tungstenite broadcast server
//! ([`crate::baseline`]) to the same number of screens, and both rows are printed with
//! their ratio. Bounded in time and count; the hub is killed at the end, also on error.
//! It measures and reports; it asserts nothing about the figures.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinSet};
use uuid::Uuid;

use crate::{
    baseline::{self, BareServer},
    commands::{Orderable, Store, StoreArgs, millis, orderable_items, ratio},
    latency::{Latencies, Summary},
    process::{self, HubProcess},
    screen::{Listened, Screen},
};

const DEMO_VENUE: &str = "demo";
/// The demo's kitchen login (may open kds and expo) and waiter login (floor, orders).
const KITCHEN_PIN: &str = "4444";
const WAITER_PIN: &str = "3333";
/// Screens connecting at once; more only fills the listen backlog.
const CONNECTING_AT_ONCE: usize = 64;
/// Time for the last frames to arrive after the last order was answered.
const DRAIN: Duration = Duration::from_secs(2);
/// Time for freshly connected sockets to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// File descriptors kept free beyond two per screen (the baseline holds both ends).
const SPARE_FILES: u64 = 256;
/// Set when the bench re-ran itself with a raised open-files limit.
const RAISED_MARKER: &str = "BENCH_SCREENS_FILES_RAISED";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Screens to connect, 80% over the kds stations, 10% expo, 10% floor.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(7..=20_000))]
    screens: u64,

    /// Orders opened per second over HTTP while the screens listen.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    orders_per_second: u64,

    /// Seconds of orders (the frames' drain and the connections come on top).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,

    #[command(flatten)]
    store: StoreArgs,
}

/// Runs the hub row, then the bare-socket row, and prints the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure_open_files(args.screens).await?;
    if std::env::var_os(RAISED_MARKER).is_none()
        && let Some(limit) = process::own_open_files_limit()
        && limit < files_needed(args.screens)
    {
        eprintln!(
            "open-files soft limit {limit} is below the {} this run needs; running again with it raised",
            files_needed(args.screens)
        );
        return if process::rerun_with_raised_files_limit(RAISED_MARKER).await? {
            Ok(())
        } else {
            bail!("the bench with a raised open-files limit failed")
        };
    }
    let store = args.store.store().await?;
    let binary = process::hub_binary().await?;
    let load = Load {
        per_second: args.orders_per_second,
        orders: args.orders_per_second * args.seconds,
        duration: Duration::from_secs(args.seconds),
    };
    eprintln!(
        "hub row: {} screens, {} orders/s for {} s on {}...",
        args.screens,
        args.orders_per_second,
        args.seconds,
        store.describe()
    );
    let database = store.fresh().await?;
    let hub = HubProcess::start(&binary, database.url()).await?;
    let outcome = hub_row(&hub, args.screens, load).await;
    let hub_log = hub.log();
    hub.stop().await;
    drop(database);
    let hub_row = outcome?;

    eprintln!(
        "bare-socket row: replaying {} recorded frames to {} screens...",
        hub_row.timeline.len(),
        hub_row.channels.len()
    );
    let bare = bare_row(&hub_row).await?;
    print!("{}", report(&store, &args, load, &hub_row, &bare, &hub_log));
    Ok(())
}

/// Fails early, with the way out, when this process cannot hold the sockets even after
/// re-running itself with the soft limit raised to the hard one.
async fn ensure_open_files(screens: u64) -> anyhow::Result<()> {
    let Some(limit) = process::own_open_files_limit() else {
        return Ok(());
    };
    let needed = files_needed(screens);
    if limit < needed && std::env::var_os(RAISED_MARKER).is_some() {
        bail!(
            "{screens} screens need about {needed} open files (each screen's socket on both \
             ends of the baseline) but the open-files limit is {limit} and cannot be raised \
             further (hard limit); run `ulimit -n {needed}` as a user allowed to, or use \
             --screens {} or fewer",
            limit.saturating_sub(SPARE_FILES) / 2
        );
    }
    Ok(())
}

fn files_needed(screens: u64) -> u64 {
    screens * 2 + SPARE_FILES
}

#[derive(Debug, Clone, Copy)]
struct Load {
    per_second: u64,
    orders: u64,
    duration: Duration,
}

/// Channel names for `screens` screens: 80% spread evenly over the kds stations (the first
/// stations take the remainder), 10% expo, 10% floor, each at least one.
pub fn split_channels(screens: usize, stations: &[String]) -> Vec<(String, usize)> {
    let side = (screens / 10).max(1);
    let kds_total = screens.saturating_sub(2 * side);
    let per_station = kds_total / stations.len().max(1);
    let extra = kds_total % stations.len().max(1);
    let mut split: Vec<(String, usize)> = stations
        .iter()
        .enumerate()
        .map(|(i, key)| (format!("kds:{key}"), per_station + usize::from(i < extra)))
        .collect();
    split.push(("expo".to_owned(), side));
    split.push(("floor".to_owned(), side));
    split
}

/// One order's lines: `1 + k % 3` lines, line `j` from station `(k + j) % S`, so every
/// station's items are ordered within any S consecutive orders. Stations without items
/// are skipped.
pub fn order_lines(k: usize, by_station: &[Vec<Orderable>]) -> Vec<&Orderable> {
    let stations = by_station.len().max(1);
    (0..1 + k % 3)
        .filter_map(|j| {
            let items = by_station.get((k + j) % stations)?;
            items.get((k / stations + j) % items.len().max(1))
        })
        .collect()
}

/// What the hub row measured and recorded.
struct HubRow {
    measured: Measured,
    /// Channel of each screen, in the order they connected.
    channels: Vec<String>,
    split: Vec<(String, usize)>,
    timeline: Vec<baseline::Scheduled>,
    /// Frames the recording screen of each channel received.
    expected: BTreeMap<String, u64>,
    orders: Orders,
    tables: usize,
    rss_kib: [Option<u64>; 3],
}

#[derive(Debug, Default)]
struct Orders {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
}

/// The per-screen measurements of one row, merged.
#[derive(Debug, Default)]
struct Measured {
    opened: usize,
    failed_to_open: usize,
    first_open_error: Option<String>,
    events: u64,
    latency: Option<Summary>,
    /// From the start of the load to the last frame received.
    window: Duration,
    gaps: u64,
    resyncs: u64,
    unstamped: u64,
    ended_early: usize,
    first_early_end: Option<String>,
    events_by_channel: BTreeMap<String, (u64, usize)>,
    /// Screens with fewer frames than their channel's recording screen, and by how many.
    missing: u64,
}

impl Measured {
    fn per_second(&self) -> f64 {
        let seconds = self.window.as_secs_f64();
        if seconds > 0.0 {
            self.events as f64 / seconds
        } else {
            0.0
        }
    }
}

struct Logins {
    kitchen: String,
    waiter: String,
}

async fn hub_row(hub: &HubProcess, screens: u64, load: Load) -> anyhow::Result<HubRow> {
    let base_url = format!("http://{}", hub.address());
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let logins = Logins {
        kitchen: login(&client, &base_url, KITCHEN_PIN).await?,
        waiter: login(&client, &base_url, WAITER_PIN).await?,
    };
    let station_keys = stations(&client, &base_url, &logins.waiter).await?;
    let by_station = items_by_station(&client, &base_url, &logins.waiter, &station_keys).await?;
    let tables = tables(&client, &base_url, &logins.waiter).await?;
    let keys: Vec<String> = station_keys.iter().map(|(_, key)| key.clone()).collect();
    let split = split_channels(usize::try_from(screens)?, &keys);
    let channels: Vec<String> = split
        .iter()
        .flat_map(|(channel, count)| std::iter::repeat_n(channel.clone(), *count))
        .collect();

    let before = hub.rss_kib().ok();
    let url = format!("ws://{}/ws", hub.address());
    let token_for = |channel: &str| {
        if channel == "floor" {
            logins.waiter.clone()
        } else {
            logins.kitchen.clone()
        }
    };
    let (opened, mut measured) = open_screens(&url, &channels, token_for).await;
    tokio::time::sleep(SETTLE).await;
    let after = hub.rss_kib().ok();

    let (stop, stopped) = watch::channel(false);
    let epoch = Instant::now();
    let listening = listen_all(opened, epoch, &stopped);
    let orders = send_orders(
        &client,
        &base_url,
        &logins.waiter,
        &by_station,
        &tables,
        load,
    )
    .await;
    tokio::time::sleep(DRAIN).await;
    let end = hub.rss_kib().ok();
    let _ = stop.send(true);
    let listened = collect(listening).await?;

    let mut recordings = Vec::new();
    let mut expected = BTreeMap::new();
    for screen in &listened {
        if let Some(frames) = &screen.recorded {
            expected.insert(screen.channel.clone(), frames.len() as u64);
            recordings.push((screen.channel.clone(), frames.clone()));
        }
    }
    merge(&mut measured, listened, epoch, &expected);
    Ok(HubRow {
        measured,
        channels,
        split,
        timeline: baseline::schedule(recordings),
        expected,
        orders,
        tables: tables.len(),
        rss_kib: [before, after, end],
    })
}

async fn bare_row(hub_row: &HubRow) -> anyhow::Result<Measured> {
    let names: Vec<String> = hub_row.split.iter().map(|(c, _)| c.clone()).collect();
    let server = BareServer::start(&names).await?;
    let (opened, mut measured) =
        open_screens(&server.url(), &hub_row.channels, |_| "none".to_owned()).await;
    tokio::time::sleep(SETTLE).await;
    let (stop, stopped) = watch::channel(false);
    // The replay starts right after the listeners; both are measured from this instant.
    let epoch = Instant::now();
    let listening = listen_all(opened, epoch, &stopped);
    server.replay(&hub_row.timeline).await;
    tokio::time::sleep(DRAIN).await;
    let _ = stop.send(true);
    let listened = collect(listening).await?;
    drop(server);
    merge(&mut measured, listened, epoch, &hub_row.expected);
    Ok(measured)
}

/// Opens a screen per channel entry, a few at a time; returns them with their index, and
/// the open counts.
async fn open_screens(
    url: &str,
    channels: &[String],
    token_for: impl Fn(&str) -> String,
) -> (Vec<(usize, Screen)>, Measured) {
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let mut opening = JoinSet::new();
    for (index, channel) in channels.iter().enumerate() {
        let (url, channel, token, gate) = (
            url.to_owned(),
            channel.clone(),
            token_for(channel),
            gate.clone(),
        );
        opening.spawn(async move {
            let _permit = gate.acquire().await;
            (index, Screen::open(&url, &token, &channel).await)
        });
    }
    let mut measured = Measured::default();
    let mut opened = Vec::with_capacity(channels.len());
    while let Some(result) = opening.join_next().await {
        match result {
            Ok((index, Ok(screen))) => opened.push((index, screen)),
            Ok((_, Err(error))) => {
                measured.failed_to_open += 1;
                measured
                    .first_open_error
                    .get_or_insert_with(|| format!("{error:#}"));
            }
            Err(error) => {
                measured.failed_to_open += 1;
                measured
                    .first_open_error
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
    opened.sort_by_key(|(index, _)| *index);
    measured.opened = opened.len();
    (opened, measured)
}

/// Starts every screen listening; the first screen of each channel records it.
fn listen_all(
    opened: Vec<(usize, Screen)>,
    epoch: Instant,
    stop: &watch::Receiver<bool>,
) -> JoinSet<Listened> {
    let mut recording = std::collections::HashSet::new();
    let mut listening = JoinSet::new();
    for (_, screen) in opened {
        let record = recording.insert(screen.channel().to_owned());
        listening.spawn(screen.listen(epoch, record, stop.clone()));
    }
    listening
}

async fn collect(mut listening: JoinSet<Listened>) -> anyhow::Result<Vec<Listened>> {
    let mut listened = Vec::with_capacity(listening.len());
    while let Some(screen) = listening.join_next().await {
        listened.push(screen.context("a screen task")?);
    }
    Ok(listened)
}

fn merge(
    measured: &mut Measured,
    listened: Vec<Listened>,
    epoch: Instant,
    expected: &BTreeMap<String, u64>,
) {
    let mut latencies = Latencies::default();
    let mut last = epoch;
    for screen in listened {
        measured.events += screen.events;
        measured.gaps += screen.gaps;
        measured.resyncs += screen.resyncs;
        measured.unstamped += screen.unstamped;
        if let Some(reason) = screen.ended_early {
            measured.ended_early += 1;
            measured.first_early_end.get_or_insert(reason);
        }
        if let Some(at) = screen.last_event {
            last = last.max(at);
        }
        let want = expected.get(&screen.channel).copied().unwrap_or(0);
        measured.missing += want.saturating_sub(screen.events);
        let entry = measured
            .events_by_channel
            .entry(screen.channel)
            .or_insert((0, 0));
        entry.0 += screen.events;
        entry.1 += 1;
        latencies.merge(screen.latencies);
    }
    measured.latency = latencies.summary();
    measured.window = last.duration_since(epoch);
}

pub(crate) async fn login(
    client: &reqwest::Client,
    base_url: &str,
    pin: &str,
) -> anyhow::Result<String> {
    let body = get_json(
        client
            .post(format!("{base_url}/api/v1/auth/login"))
            .json(&json!({ "venue": DEMO_VENUE, "pin": pin })),
        "logging in",
    )
    .await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no access_token")
}

pub(crate) async fn get_json(
    request: reqwest::RequestBuilder,
    what: &str,
) -> anyhow::Result<Value> {
    let response = request.send().await.with_context(|| what.to_owned())?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{what}: reading the answer"))?;
    if !status.is_success() {
        bail!("{what} answered {status}: {body}");
    }
    Ok(body)
}

/// The venue's stations as (id, key), sorted by key.
pub(crate) async fn stations(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let body = get_json(
        client
            .get(format!("{base_url}/api/v1/stations"))
            .bearer_auth(token),
        "GET /api/v1/stations",
    )
    .await?;
    let stations: Vec<(String, String)> = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["id"].as_str()?.to_owned(), s["key"].as_str()?.to_owned())))
        .collect();
    if stations.is_empty() {
        bail!("the demo venue has no stations");
    }
    Ok(stations)
}

/// Orderable items grouped by the station (in `stations` order) they are cooked at first.
pub(crate) async fn items_by_station(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    stations: &[(String, String)],
) -> anyhow::Result<Vec<Vec<Orderable>>> {
    let menu = get_json(
        client
            .get(format!("{base_url}/api/v1/menu"))
            .bearer_auth(token),
        "GET /api/v1/menu",
    )
    .await?;
    let station_of: BTreeMap<&str, &str> = menu["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| Some((item["id"].as_str()?, item["stations"][0].as_str()?)))
        .collect();
    let mut by_station = vec![Vec::new(); stations.len()];
    for item in orderable_items(&menu) {
        let station = station_of.get(item.menu_item_id.as_str()).copied();
        if let Some(index) = stations
            .iter()
            .position(|(id, _)| Some(id.as_str()) == station)
        {
            by_station[index].push(item);
        }
    }
    if by_station.iter().all(Vec::is_empty) {
        bail!("no orderable demo menu item is cooked at a station");
    }
    Ok(by_station)
}

/// Ids of the tables a dine-in order can be opened at (not merged into another).
async fn tables(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> anyhow::Result<Vec<String>> {
    let floor = get_json(
        client
            .get(format!("{base_url}/api/v1/floor"))
            .bearer_auth(token),
        "GET /api/v1/floor",
    )
    .await?;
    Ok(floor["areas"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|area| area["tables"].as_array().into_iter().flatten())
        .filter(|table| table["merged_into"].is_null())
        .filter_map(|table| table["id"].as_str().map(str::to_owned))
        .collect())
}

/// Sends `load.orders` orders at `load.per_second`, each in its own task so a slow answer
/// does not slow the pace; even orders are dine-in at the tables in turn, odd ones takeaway.
async fn send_orders(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    by_station: &[Vec<Orderable>],
    tables: &[String],
    load: Load,
) -> Orders {
    let url = format!("{base_url}/api/v1/orders");
    let period = Duration::from_secs_f64(1.0 / load.per_second.max(1) as f64);
    let mut ticks = tokio::time::interval(period);
    let mut sending = JoinSet::new();
    for k in 0..usize::try_from(load.orders).unwrap_or(usize::MAX) {
        ticks.tick().await;
        let lines: Vec<Value> = order_lines(k, by_station)
            .into_iter()
            .map(|item| {
                json!({"menu_item_id": item.menu_item_id, "quantity": 1, "modifiers": item.modifiers})
            })
            .collect();
        let body = match tables.get((k / 2) % tables.len().max(1)) {
            Some(table) if k % 2 == 0 => json!({
                "command_id": Uuid::new_v4(), "kind": "dine_in", "table_id": table,
                "guests": 2, "lines": lines,
            }),
            _ => json!({"command_id": Uuid::new_v4(), "kind": "takeaway", "lines": lines}),
        };
        let request = client.post(&url).bearer_auth(token).json(&body);
        sending.spawn(async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!(
                    "{status}: {}",
                    response.text().await.unwrap_or_default()
                ))
            }
        });
    }
    let mut orders = Orders::default();
    while let Some(answer) = sending.join_next().await {
        match answer {
            Ok(Ok(())) => orders.ok += 1,
            Ok(Err(error)) => {
                orders.errors += 1;
                orders.first_error.get_or_insert(error);
            }
            Err(error) => {
                orders.errors += 1;
                orders.first_error.get_or_insert(error.to_string());
            }
        }
    }
    orders
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// The printed result: what ran, where, both rows and their ratio, then the hub's memory.
fn report(
    store: &Store,
    args: &Args,
    load: Load,
    hub: &HubRow,
    bare: &Measured,
    hub_log: &[String],
) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let split: Vec<String> = hub
        .split
        .iter()
        .map(|(channel, count)| format!("{channel} {count}"))
        .collect();
    let _ = writeln!(
        out,
        "\nscreens (issue \"live screens\"): {} screens, one channel each: {}",
        args.screens,
        split.join(", ")
    );
    let _ = writeln!(
        out,
        "orders:   {} orders/s for {} s over POST /api/v1/orders (1-3 lines across all stations, \
         dine-in at {} demo tables and takeaway alternately, fresh command_id each): {} sent, \
         {} ok, {} errors",
        load.per_second,
        load.duration.as_secs(),
        hub.tables,
        load.orders,
        hub.orders.ok,
        hub.orders.errors
    );
    let _ = writeln!(out, "store:    {}", store.describe());
    let _ = writeln!(
        out,
        "machine:  {cpus} CPUs; both rows ran on this machine in this run, one after the other, \
         all on 127.0.0.1; the hub as its own process (HUB_DELIVERY_ALERT_SECONDS=0), \
         orders, screens and the bare server in the bench process"
    );
    let _ = writeln!(
        out,
        "bare:     the frames each channel's first screen received from the hub, replayed at \
         the same pace through a bare tokio-tungstenite broadcast server, `at` restamped at send"
    );
    let _ = writeln!(
        out,
        "latency:  receive wall-clock time minus the frame's `at` (hub: when the command was \
         decided; bare: when the frame was sent), every event frame on every screen"
    );
    let _ = writeln!(
        out,
        "frames/s: event frames received on all screens / time from the first order (or \
         replay start) to the last frame; the load is paced, so near 1.00x means keeping up\n"
    );
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>9} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "row",
        "screens",
        "frames",
        "frames/s",
        "per screen",
        "p50 ms",
        "p99 ms",
        "max ms",
        "missing",
        "gaps"
    );
    for (label, m) in [("hub", &hub.measured), ("bare socket", bare)] {
        let (p50, p99, max) = m.latency.map_or_else(
            || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            |l| (millis(l.p50), millis(l.p99), millis(l.max)),
        );
        let per_screen = m.events as f64 / m.opened.max(1) as f64;
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:>9} {:>10.1} {:>10.1} {:>8} {:>8} {:>8} {:>8} {:>6}",
            label,
            m.opened,
            m.events,
            m.per_second(),
            per_screen,
            p50,
            p99,
            max,
            m.missing,
            m.gaps
        );
    }
    let secs = |m: &Measured, pick: fn(&Summary) -> Duration| {
        m.latency.map_or(f64::NAN, |l| pick(&l).as_secs_f64())
    };
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>9} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "ratio hub/bare",
        "",
        "",
        ratio(hub.measured.per_second(), bare.per_second()),
        "",
        ratio(secs(&hub.measured, |l| l.p50), secs(bare, |l| l.p50)),
        ratio(secs(&hub.measured, |l| l.p99), secs(bare, |l| l.p99)),
        ratio(secs(&hub.measured, |l| l.max), secs(bare, |l| l.max)),
    );
    let per_channel: Vec<String> = hub
        .measured
        .events_by_channel
        .iter()
        .map(|(channel, (events, screens))| {
            format!("{channel} {:.1}", *events as f64 / (*screens).max(1) as f64)
        })
        .collect();
    let _ = writeln!(
        out,
        "\nframes per screen by channel (hub): {}",
        per_channel.join(", ")
    );
    let [before, after, end] = hub.rss_kib;
    let per_connection = match (before, after) {
        (Some(before), Some(after)) if hub.measured.opened > 0 => format!(
            "{:.1} KiB",
            (after as f64 - before as f64) / hub.measured.opened as f64
        ),
        _ => "?".to_owned(),
    };
    let _ = writeln!(
        out,
        "hub memory (VmRSS): {} before the screens, {} with {} connected, {} at the end; \
         {per_connection} per connection",
        mib(before),
        mib(after),
        hub.measured.opened,
        mib(end)
    );
    let _ = writeln!(
        out,
        "missing: frames fewer than the channel's recording screen got; gaps: event frames \
         whose prev is not the seq before them on that socket"
    );
    for (label, m) in [("hub", &hub.measured), ("bare socket", bare)] {
        if m.failed_to_open > 0 {
            let _ = writeln!(
                out,
                "{label}: {} screens failed to open, first: {}",
                m.failed_to_open,
                m.first_open_error.as_deref().unwrap_or("?")
            );
        }
        if m.ended_early > 0 {
            let _ = writeln!(
                out,
                "{label}: {} screens ended before the run did, first: {}",
                m.ended_early,
                m.first_early_end.as_deref().unwrap_or("?")
            );
        }
        if m.resyncs > 0 || m.unstamped > 0 {
            let _ = writeln!(
                out,
                "{label}: {} resync snapshots, {} frames without a readable at",
                m.resyncs, m.unstamped
            );
        }
    }
    if let Some(error) = &hub.orders.first_error {
        let _ = writeln!(out, "first order error: {error}");
    }
    if !hub_log.is_empty() {
        let _ = writeln!(out, "hub log (RUST_LOG=warn), first lines:");
        for line in hub_log {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::Recorded;

    fn keys() -> Vec<String> {
        ["bar", "cold", "fry", "grill", "wok"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn a_thousand_screens_are_eighty_percent_kds_evenly_and_ten_each_expo_and_floor() {
        let split = split_channels(1000, &keys());
        let counts: Vec<(&str, usize)> = split.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        assert_eq!(
            counts,
            [
                ("kds:bar", 160),
                ("kds:cold", 160),
                ("kds:fry", 160),
                ("kds:grill", 160),
                ("kds:wok", 160),
                ("expo", 100),
                ("floor", 100),
            ]
        );
    }

    #[test]
    fn every_screen_gets_a_channel_and_every_channel_a_screen_even_for_few() {
        for screens in [7, 9, 13, 101, 999] {
            let split = split_channels(screens, &keys());
            assert_eq!(split.iter().map(|(_, n)| n).sum::<usize>(), screens);
            assert!(split.iter().all(|(_, n)| *n >= 1), "{screens}: {split:?}");
        }
    }

    #[test]
    fn consecutive_orders_reach_every_station_with_one_to_three_lines() {
        let item = |id: &str| Orderable {
            menu_item_id: id.to_owned(),
            modifiers: Vec::new(),
        };
        let by_station = vec![
            vec![item("a1"), item("a2")],
            vec![item("b")],
            vec![item("c")],
        ];
        let mut seen = std::collections::HashSet::new();
        for k in 0..3 {
            let lines = order_lines(k, &by_station);
            assert!((1..=3).contains(&lines.len()));
            seen.extend(lines.iter().map(|l| l.menu_item_id.chars().next()));
        }
        assert_eq!(seen.len(), 3);
        assert!(order_lines(0, &[]).is_empty());
    }

    #[test]
    fn recordings_feed_the_replay_timeline_per_channel() {
        let frame = |ms| Recorded {
            offset: Duration::from_millis(ms),
            text: "{}".to_owned(),
        };
        let timeline = baseline::schedule(vec![
            ("expo".to_owned(), vec![frame(5)]),
            ("floor".to_owned(), vec![frame(1)]),
        ]);
        assert_eq!(timeline[0].channel, "floor");
    }
}
