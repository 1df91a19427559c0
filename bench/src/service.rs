//! The `service` benchmark: a service night. A real hub process on a fresh database serves
//! one venue or several (the demo venue, then venues the owner adds over REST with
//! stations, a menu and tables), with screens subscribed over kds/expo/floor channels of
//! every venue, while closed-loop waiters run the whole life cycle of dine-in orders
//! through the REST API: open at a table with 1-4 lines over several stations and a held
//! course, fire it, start every station's ticket, mark one station ready by lines and bump
//! the others, serve everything ready, close the order (which clears the table) and clean
//! the table. The number of open orders is held at each level of `--open` in turn: filled
//! up to the level, then kept there by opening an order at a table whenever one closes.
//!
//! Per level it prints commands/s, command latency, order-to-last-screen latency (from
//! sending a command to the last subscribed screen receiving a frame with that command's
//! `seq`), hub CPU time per command and the hub's memory. The first level is the baseline
//! of the others. Bounded in time and count; the hub is killed at the end, also on error.
//! It measures and reports; it asserts nothing about the figures.

use std::{
    collections::{HashMap, VecDeque},
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinSet};
use uuid::Uuid;

use crate::{
    commands::{Orderable, Store, StoreArgs, millis, ratio},
    latency::{Latencies, Summary},
    process::{self, HubProcess},
    screen::{Arrivals, Screen},
    screens::{get_json, items_by_station, split_channels, stations},
};

/// The demo owner: acts at every venue of the tenant, so one login drives them all.
const OWNER_USERNAME: &str = "owner";
const OWNER_PASSWORD: &str = "almahira-demo";
/// Stations of every venue the benchmark adds (the demo venue has its own five).
const ADDED_STATIONS: &[&str] = &["grill", "wok", "fry", "cold", "bar"];
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests at once while the venues are set up and the levels filled.
const SETUP_AT_ONCE: usize = 16;
/// Screens connecting at once; more only fills the listen backlog.
const CONNECTING_AT_ONCE: usize = 64;
/// Time for the last frames to arrive after the last level.
const DRAIN: Duration = Duration::from_secs(2);
/// How long a waiter with no order to take waits before looking again.
const IDLE_POLL: Duration = Duration::from_millis(2);
const MAX_ERROR_SAMPLE: usize = 300;
/// File descriptors kept free beyond one per screen.
const SPARE_FILES: u64 = 256;
/// Set when the bench re-ran itself with a raised open-files limit.
const RAISED_MARKER: &str = "BENCH_SERVICE_FILES_RAISED";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Venues served by the hub: the demo venue and venues added over REST.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=50))]
    venues: u64,

    /// Screens over all venues, per venue 80% kds stations, 10% expo, 10% floor.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=20_000))]
    screens: u64,

    /// Closed-loop waiters over all venues (at least one per venue).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    waiters: u64,

    /// Open-order levels, held one after the other (comma-separated, ascending).
    #[arg(long, value_delimiter = ',', default_values_t = vec![50, 500, 5000])]
    open: Vec<u64>,

    /// Seconds of load at each level (filling up to the level comes before).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,

    #[command(flatten)]
    store: StoreArgs,
}

/// A venue as the waiters and screens use it.
struct Venue {
    token: String,
    /// (id, key), sorted by key.
    stations: Vec<(String, String)>,
    /// Orderable items by the station (index into `stations`) they are cooked at first.
    by_station: Vec<Vec<Orderable>>,
    /// Tables with no order of the benchmark on them.
    free_tables: Mutex<Vec<String>>,
    /// Open orders waiting for a waiter, oldest first.
    open: Mutex<VecDeque<OpenOrder>>,
}

/// An open order of the benchmark: its table, its held course and its lines' stations.
#[derive(Debug, Clone)]
struct OpenOrder {
    order_id: String,
    table_id: String,
    held_course: u8,
    /// (line id, station ids) of every line.
    lines: Vec<(String, Vec<String>)>,
}

/// What the waiters measured at one level.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Latencies,
    /// (venue, seq, sent at in µs from the epoch) of every accepted command.
    sent: Vec<(usize, u64, u64)>,
    orders_completed: u64,
}

impl Tally {
    fn error(&mut self, text: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(text.chars().take(MAX_ERROR_SAMPLE).collect());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.latencies.merge(other.latencies);
        self.sent.extend(other.sent);
        self.orders_completed += other.orders_completed;
    }
}

/// One level's figures.
struct Level {
    open: u64,
    /// Open orders counted over REST at the end of the level.
    open_at_end: Option<usize>,
    fill: Duration,
    elapsed: Duration,
    tally: Tally,
    cpu: Option<Duration>,
    rss_kib: Option<u64>,
    /// Order-to-last-screen latencies and the commands no screen got a frame for.
    to_last_screen: Option<Summary>,
    unseen: usize,
}

pub async fn run(mut args: Args) -> anyhow::Result<()> {
    args.open.sort_unstable();
    args.open.dedup();
    if args.open.is_empty() {
        bail!("--open needs at least one level");
    }
    let needed = args.screens + SPARE_FILES;
    if std::env::var_os(RAISED_MARKER).is_none()
        && let Some(limit) = process::own_open_files_limit()
        && limit < needed
    {
        eprintln!("open-files soft limit {limit} is below {needed}; running again with it raised");
        return if process::rerun_with_raised_files_limit(RAISED_MARKER).await? {
            Ok(())
        } else {
            bail!("the bench with a raised open-files limit failed")
        };
    }
    let store = args.store.store().await?;
    let binary = process::hub_binary().await?;
    let database = store.fresh().await?;
    let hub = HubProcess::start(&binary, database.url()).await?;
    let outcome = night(&hub, &args).await;
    let hub_log = hub.log();
    hub.stop().await;
    drop(database);
    let (levels, screens_open, screen_trouble) = outcome?;
    print!(
        "{}",
        report(
            &store,
            &args,
            &levels,
            screens_open,
            &screen_trouble,
            &hub_log
        )
    );
    Ok(())
}

/// Screens that did not open, ended early or were resynced, for the report.
#[derive(Default)]
struct ScreenTrouble {
    failed_to_open: usize,
    first_open_error: Option<String>,
    ended_early: usize,
    first_early_end: Option<String>,
    resyncs: u64,
}

async fn night(
    hub: &HubProcess,
    args: &Args,
) -> anyhow::Result<(Vec<Level>, usize, ScreenTrouble)> {
    let base_url = format!("http://{}", hub.address());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::try_from(args.waiters)?.max(SETUP_AT_ONCE))
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let venue_count = usize::try_from(args.venues)?;
    let most_open = args.open.iter().copied().max().unwrap_or(0);
    let tables_per_venue = usize::try_from(most_open)?.div_ceil(venue_count);
    eprintln!(
        "setting up {venue_count} venue(s) with {tables_per_venue} tables each for up to {most_open} open orders..."
    );
    let venues = Arc::new(set_up_venues(&client, &base_url, venue_count, tables_per_venue).await?);

    // Screens, spread over the venues, each venue split 80/10/10 over its channels.
    let epoch = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let mut trouble = ScreenTrouble::default();
    let mut listening = JoinSet::new();
    let screens = usize::try_from(args.screens)?;
    eprintln!("connecting {screens} screens...");
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE));
    let mut opening = JoinSet::new();
    let url = format!("ws://{}/ws", hub.address());
    for (index, venue) in venues.iter().enumerate() {
        let share = screens / venue_count + usize::from(index < screens % venue_count);
        if share == 0 {
            continue;
        }
        let keys: Vec<String> = venue.stations.iter().map(|(_, key)| key.clone()).collect();
        for (channel, count) in split_channels(share, &keys) {
            for _ in 0..count {
                let (url, token, channel, gate) = (
                    url.clone(),
                    venue.token.clone(),
                    channel.clone(),
                    gate.clone(),
                );
                opening.spawn(async move {
                    let _permit = gate.acquire().await;
                    (index, Screen::open(&url, &token, &channel).await)
                });
            }
        }
    }
    let mut screens_open = 0;
    while let Some(opened) = opening.join_next().await {
        match opened {
            Ok((venue, Ok(screen))) => {
                screens_open += 1;
                let stopped = stopped.clone();
                listening
                    .spawn(async move { (venue, screen.listen_arrivals(epoch, stopped).await) });
            }
            Ok((_, Err(error))) => {
                trouble.failed_to_open += 1;
                trouble
                    .first_open_error
                    .get_or_insert_with(|| format!("{error:#}"));
            }
            Err(error) => {
                trouble.failed_to_open += 1;
                trouble.first_open_error.get_or_insert(error.to_string());
            }
        }
    }

    let mut levels = Vec::with_capacity(args.open.len());
    let mut open_now = 0u64;
    for &level in &args.open {
        eprintln!("level {level}: filling from {open_now} open orders...");
        let fill_started = Instant::now();
        let filled = fill(&client, &base_url, &venues, open_now, level, epoch).await?;
        open_now = level;
        let fill = fill_started.elapsed();
        eprintln!(
            "level {level}: filled in {:.1} s ({} orders opened); {} s of service...",
            fill.as_secs_f64(),
            filled,
            args.seconds
        );
        let cpu_before = hub.cpu_time().ok();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        let mut waiters = JoinSet::new();
        let waiter_count = usize::try_from(args.waiters)?.max(venue_count);
        for waiter in 0..waiter_count {
            let (client, base_url, venues) = (client.clone(), base_url.clone(), venues.clone());
            waiters.spawn(async move {
                let venue = waiter % venues.len();
                serve(&client, &base_url, &venues, venue, waiter, deadline, epoch).await
            });
        }
        let mut tally = Tally::default();
        while let Some(done) = waiters.join_next().await {
            tally.merge(done.context("a waiter task")?);
        }
        let elapsed = started.elapsed();
        let cpu = match (cpu_before, hub.cpu_time().ok()) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        let rss_kib = hub.rss_kib().ok();
        let open_at_end = count_open(&client, &base_url, &venues).await.ok();
        eprintln!(
            "level {level}: {} commands ok, {} errors, {} orders through",
            tally.ok, tally.errors, tally.orders_completed
        );
        levels.push(Level {
            open: level,
            open_at_end,
            fill,
            elapsed,
            tally,
            cpu,
            rss_kib,
            to_last_screen: None,
            unseen: 0,
        });
    }

    tokio::time::sleep(DRAIN).await;
    let _ = stop.send(true);
    let mut last_arrival: HashMap<(usize, u64), u64> = HashMap::new();
    while let Some(listened) = listening.join_next().await {
        let (venue, arrivals): (usize, Arrivals) = listened.context("a screen task")?;
        trouble.resyncs += arrivals.resyncs;
        if let Some(reason) = arrivals.ended_early {
            trouble.ended_early += 1;
            trouble.first_early_end.get_or_insert(reason);
        }
        for (seq, at) in arrivals.arrivals {
            let entry = last_arrival.entry((venue, seq)).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    for level in &mut levels {
        let mut latencies = Latencies::default();
        for &(venue, seq, sent) in &level.tally.sent {
            match last_arrival.get(&(venue, seq)) {
                Some(&at) => latencies.record(Duration::from_micros(at.saturating_sub(sent))),
                None => level.unseen += 1,
            }
        }
        level.to_last_screen = latencies.summary();
    }
    Ok((levels, screens_open, trouble))
}

/// Sends one command and returns its answer and `X-Venue-Seq`, or a short error text.
async fn command(request: reqwest::RequestBuilder) -> Result<(Value, Option<u64>), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let seq = response
        .headers()
        .get("x-venue-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let value = serde_json::from_slice(&body).map_err(|e| format!("answer not JSON: {e}"))?;
    Ok((value, seq))
}

/// One setup command (no figures), failing the run when refused.
async fn setup(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
    what: &str,
) -> anyhow::Result<Value> {
    command(client.post(url).bearer_auth(token).json(&body))
        .await
        .map(|(value, _)| value)
        .map_err(|error| anyhow::anyhow!("{what}: {error}"))
}

async fn owner_login(client: &reqwest::Client, base_url: &str) -> anyhow::Result<String> {
    let body = get_json(
        client
            .post(format!("{base_url}/api/v1/auth/login"))
            .json(&json!({"username": OWNER_USERNAME, "password": OWNER_PASSWORD})),
        "logging in as the demo owner",
    )
    .await?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no access_token")
}

/// The demo venue and `count - 1` added venues, each with at least `tables` free tables.
async fn set_up_venues(
    client: &reqwest::Client,
    base_url: &str,
    count: usize,
    tables: usize,
) -> anyhow::Result<Vec<Venue>> {
    let owner = owner_login(client, base_url).await?;
    let mut venues = Vec::with_capacity(count);
    for index in 0..count {
        let token = if index == 0 {
            owner.clone()
        } else {
            let slug = format!("bench-{index}");
            setup(
                client,
                format!("{base_url}/api/v1/venues"),
                &owner,
                json!({"command_id": Uuid::new_v4(),
                       "venue": {"slug": slug, "name": format!("Bench venue {index}")}}),
                "adding a venue",
            )
            .await?;
            let switched = setup(
                client,
                format!("{base_url}/api/v1/auth/venue"),
                &owner,
                json!({"venue": slug}),
                "switching to the added venue",
            )
            .await?;
            let token = switched["access_token"]
                .as_str()
                .context("the venue switch answer has no access_token")?
                .to_owned();
            furnish(client, base_url, &token).await?;
            token
        };
        let stations = stations(client, base_url, &token).await?;
        let by_station = items_by_station(client, base_url, &token, &stations).await?;
        let free = ensure_tables(client, base_url, &token, tables).await?;
        venues.push(Venue {
            token,
            stations,
            by_station,
            free_tables: Mutex::new(free),
            open: Mutex::new(VecDeque::new()),
        });
    }
    Ok(venues)
}

/// Gives an empty venue stations and a menu of two dishes per station (courses 1 and 2).
async fn furnish(client: &reqwest::Client, base_url: &str, token: &str) -> anyhow::Result<()> {
    let category = setup(
        client,
        format!("{base_url}/api/v1/menu/categories"),
        token,
        json!({"command_id": Uuid::new_v4(), "name": "Dishes"}),
        "adding a menu category",
    )
    .await?;
    let category_id = category["id"].as_str().context("the category has no id")?;
    for key in ADDED_STATIONS {
        let station = setup(
            client,
            format!("{base_url}/api/v1/stations"),
            token,
            json!({"command_id": Uuid::new_v4(), "key": key, "name": key}),
            "adding a station",
        )
        .await?;
        let station_id = station["id"].as_str().context("the station has no id")?;
        for course in [1, 2] {
            setup(
                client,
                format!("{base_url}/api/v1/menu/items"),
                token,
                json!({"command_id": Uuid::new_v4(), "category_id": category_id,
                       "name": format!("{key} dish {course}"), "price": 25_000 * course,
                       "stations": [station_id], "default_course": course}),
                "adding a menu item",
            )
            .await?;
        }
    }
    Ok(())
}

/// The venue's available tables, topped up to `wanted` with tables in a `Bench` area.
async fn ensure_tables(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    wanted: usize,
) -> anyhow::Result<Vec<String>> {
    let floor = get_json(
        client
            .get(format!("{base_url}/api/v1/floor"))
            .bearer_auth(token),
        "GET /api/v1/floor",
    )
    .await?;
    let mut free: Vec<String> = floor["areas"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|area| area["tables"].as_array().into_iter().flatten())
        .filter(|table| table["merged_into"].is_null() && table["status"] == "available")
        .filter_map(|table| table["id"].as_str().map(str::to_owned))
        .collect();
    if free.len() >= wanted {
        return Ok(free);
    }
    let area = setup(
        client,
        format!("{base_url}/api/v1/areas"),
        token,
        json!({"command_id": Uuid::new_v4(), "name": "Bench"}),
        "adding an area",
    )
    .await?;
    let area_id = area["id"]
        .as_str()
        .context("the area has no id")?
        .to_owned();
    let mut adding = JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(SETUP_AT_ONCE));
    for number in 1..=wanted - free.len() {
        let (client, url, token, area_id, gate) = (
            client.clone(),
            format!("{base_url}/api/v1/tables"),
            token.to_owned(),
            area_id.clone(),
            gate.clone(),
        );
        adding.spawn(async move {
            let _permit = gate.acquire().await;
            let table = setup(
                &client,
                url,
                &token,
                json!({"command_id": Uuid::new_v4(), "area_id": area_id,
                       "label": format!("S{number}"), "seats": 4}),
                "adding a table",
            )
            .await?;
            table["id"]
                .as_str()
                .map(str::to_owned)
                .context("the table has no id")
        });
    }
    while let Some(added) = adding.join_next().await {
        free.push(added.context("a table task")??);
    }
    Ok(free)
}

/// Opens orders until `level` are open over all venues (in turn), `from` being open now.
async fn fill(
    client: &reqwest::Client,
    base_url: &str,
    venues: &Arc<Vec<Venue>>,
    from: u64,
    level: u64,
    epoch: Instant,
) -> anyhow::Result<u64> {
    let gate = Arc::new(tokio::sync::Semaphore::new(SETUP_AT_ONCE));
    let mut opening = JoinSet::new();
    for k in from..level {
        let venue_index = usize::try_from(k)? % venues.len();
        let (client, base_url, venues, gate) = (
            client.clone(),
            base_url.to_owned(),
            venues.clone(),
            gate.clone(),
        );
        opening.spawn(async move {
            let _permit = gate.acquire().await;
            let venue = &venues[venue_index];
            let table = venue
                .free_tables
                .lock()
                .ok()
                .and_then(|mut free| free.pop())
                .context("no free table left")?;
            let mut tally = Tally::default();
            let opened = open_order(
                &client,
                &base_url,
                venue,
                venue_index,
                &table,
                k,
                &mut tally,
                epoch,
            )
            .await
            .with_context(|| tally.first_error.clone().unwrap_or_default())?;
            if let Ok(mut open) = venue.open.lock() {
                open.push_back(opened);
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    let mut opened = 0;
    while let Some(done) = opening.join_next().await {
        done.context("an opening task")?
            .context("opening an order to fill the level")?;
        opened += 1;
    }
    Ok(opened)
}

/// Opens a dine-in order at `table`: 1-4 lines over consecutive stations; with one line the
/// whole order is held, otherwise the first line's course 1 fires and course 2 is held.
#[allow(clippy::too_many_arguments)]
async fn open_order(
    client: &reqwest::Client,
    base_url: &str,
    venue: &Venue,
    venue_index: usize,
    table: &str,
    k: u64,
    tally: &mut Tally,
    epoch: Instant,
) -> Option<OpenOrder> {
    let stations = venue.by_station.len().max(1);
    let k = usize::try_from(k).unwrap_or(0);
    let line_count = 1 + (k / stations) % 4;
    let lines: Vec<Value> = (0..line_count)
        .filter_map(|j| {
            let items = &venue.by_station[(k + j) % stations];
            let item = items.get((k / stations + j) % items.len().max(1))?;
            let course = if line_count == 1 || j == 0 { 1 } else { 2 };
            Some(json!({"menu_item_id": item.menu_item_id, "quantity": 1,
                        "modifiers": item.modifiers, "course": course}))
        })
        .collect();
    let held = lines.len() <= 1;
    let body = json!({"command_id": Uuid::new_v4(), "kind": "dine_in", "table_id": table,
                      "guests": 2, "lines": lines, "hold": held});
    let answer = timed(
        client
            .post(format!("{base_url}/api/v1/orders"))
            .bearer_auth(&venue.token)
            .json(&body),
        venue_index,
        tally,
        epoch,
    )
    .await?;
    let order_id = answer["id"].as_str()?.to_owned();
    let lines = answer["lines"]
        .as_array()?
        .iter()
        .filter_map(|line| {
            let stations = line["stations"]
                .as_array()?
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            Some((line["id"].as_str()?.to_owned(), stations))
        })
        .collect();
    Some(OpenOrder {
        order_id,
        table_id: table.to_owned(),
        held_course: if held { 1 } else { 2 },
        lines,
    })
}

/// Sends a command, timing it and noting its `seq`; `None` (and an error counted) when refused.
async fn timed(
    request: reqwest::RequestBuilder,
    venue: usize,
    tally: &mut Tally,
    epoch: Instant,
) -> Option<Value> {
    let sent = Instant::now();
    let answer = command(request).await;
    let elapsed = sent.elapsed();
    match answer {
        Ok((value, seq)) => {
            tally.ok += 1;
            tally.latencies.record(elapsed);
            if let Some(seq) = seq {
                let sent_at = u64::try_from(sent.duration_since(epoch).as_micros()).unwrap_or(0);
                tally.sent.push((venue, seq, sent_at));
            }
            Some(value)
        }
        Err(error) => {
            tally.error(error);
            None
        }
    }
}

/// One waiter at `venue` until `deadline`: takes the oldest open order, runs the rest of
/// its life cycle, and opens the next order at the table it freed.
async fn serve(
    client: &reqwest::Client,
    base_url: &str,
    venues: &[Venue],
    venue_index: usize,
    waiter: usize,
    deadline: Instant,
    epoch: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let venue = &venues[venue_index];
    let mut k = 1_000_000 * (waiter as u64 + 1);
    while Instant::now() < deadline {
        let next = venue.open.lock().ok().and_then(|mut open| open.pop_front());
        let Some(order) = next else {
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        };
        if complete(
            client,
            base_url,
            venue,
            venue_index,
            &order,
            &mut tally,
            epoch,
        )
        .await
        {
            tally.orders_completed += 1;
        } else {
            // The order stays open on its table, refused midway: it still counts towards
            // the level, so no order replaces it.
            continue;
        }
        // The table is free again.
        k += 1;
        if let Some(next) = open_order(
            client,
            base_url,
            venue,
            venue_index,
            &order.table_id,
            k,
            &mut tally,
            epoch,
        )
        .await
            && let Ok(mut open) = venue.open.lock()
        {
            open.push_back(next);
        }
    }
    tally
}

/// Fire, start, ready/bump, serve, close and clean; false at the first refused command.
async fn complete(
    client: &reqwest::Client,
    base_url: &str,
    venue: &Venue,
    venue_index: usize,
    order: &OpenOrder,
    tally: &mut Tally,
    epoch: Instant,
) -> bool {
    let order_url = format!("{base_url}/api/v1/orders/{}", order.order_id);
    let post = |path: String, body: Value| client.post(path).bearer_auth(&venue.token).json(&body);
    let fire = post(
        format!("{order_url}/fire"),
        json!({"command_id": Uuid::new_v4(), "course": order.held_course}),
    );
    if timed(fire, venue_index, tally, epoch).await.is_none() {
        return false;
    }
    let mut touched: Vec<&str> = Vec::new();
    for (_, stations) in &order.lines {
        for station in stations {
            if !touched.contains(&station.as_str()) {
                touched.push(station);
            }
        }
    }
    let key_of = |id: &str| {
        venue
            .stations
            .iter()
            .find(|(station_id, _)| station_id == id)
            .map(|(_, key)| key.clone())
    };
    // A line made at several stations is started by the first of them to start; a station
    // whose lines are all started already is skipped (it would answer nothing_to_start).
    let mut unstarted: Vec<&(String, Vec<String>)> = order.lines.iter().collect();
    for station in &touched {
        let Some(key) = key_of(station) else {
            return false;
        };
        let before = unstarted.len();
        unstarted.retain(|(_, stations)| !stations.iter().any(|s| s == station));
        if unstarted.len() == before {
            continue;
        }
        let start = post(
            format!("{order_url}/stations/{key}/start"),
            json!({"command_id": Uuid::new_v4()}),
        );
        if timed(start, venue_index, tally, epoch).await.is_none() {
            return false;
        }
    }
    for (index, station) in touched.iter().enumerate() {
        let Some(key) = key_of(station) else {
            return false;
        };
        let request = if index % 2 == 0 {
            let line_ids: Vec<&str> = order
                .lines
                .iter()
                .filter(|(_, stations)| stations.iter().any(|s| s == station))
                .map(|(id, _)| id.as_str())
                .collect();
            post(
                format!("{order_url}/lines/ready"),
                json!({"command_id": Uuid::new_v4(), "line_ids": line_ids, "station_id": station}),
            )
        } else {
            post(
                format!("{order_url}/stations/{key}/bump"),
                json!({"command_id": Uuid::new_v4()}),
            )
        };
        if timed(request, venue_index, tally, epoch).await.is_none() {
            return false;
        }
    }
    for (path, body) in [
        (
            format!("{order_url}/serve-ready"),
            json!({"command_id": Uuid::new_v4()}),
        ),
        (
            format!("{order_url}/close"),
            json!({"command_id": Uuid::new_v4()}),
        ),
        (
            format!("{base_url}/api/v1/tables/{}/clean", order.table_id),
            json!({"command_id": Uuid::new_v4()}),
        ),
    ] {
        if timed(post(path, body), venue_index, tally, epoch)
            .await
            .is_none()
        {
            return false;
        }
    }
    true
}

/// Open orders over all venues, as `GET /api/v1/orders` lists them.
async fn count_open(
    client: &reqwest::Client,
    base_url: &str,
    venues: &[Venue],
) -> anyhow::Result<usize> {
    let mut open = 0;
    for venue in venues {
        let orders = get_json(
            client
                .get(format!("{base_url}/api/v1/orders?status=open"))
                .bearer_auth(&venue.token),
            "GET /api/v1/orders",
        )
        .await?;
        open += orders.as_array().map_or(0, Vec::len);
    }
    Ok(open)
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn cpu_per_command(level: &Level) -> Option<f64> {
    let cpu = level.cpu?;
    (level.tally.ok > 0).then(|| cpu.as_secs_f64() * 1000.0 / level.tally.ok as f64)
}

fn report(
    store: &Store,
    args: &Args,
    levels: &[Level],
    screens_open: usize,
    trouble: &ScreenTrouble,
    hub_log: &[String],
) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nservice: {} venue(s), {} screens open of {} (per venue 80% kds stations, 10% expo, \
         10% floor), {} closed-loop waiters, {} s per level",
        args.venues,
        screens_open,
        args.screens,
        args.waiters.max(args.venues),
        args.seconds
    );
    let _ = writeln!(
        out,
        "cycle:   open dine-in at a table (1-4 lines over consecutive stations, a held course), \
         fire it, start each station, ready (lines/ready) or bump each station in turn, \
         serve-ready, close (clears the table), clean; then a new order at that table"
    );
    let _ = writeln!(out, "store:   {}", store.describe());
    let _ = writeln!(
        out,
        "machine: {cpus} CPUs; hub as its own process, waiters and screens in the bench \
         process, all on 127.0.0.1; levels one after the other on one hub"
    );
    let _ = writeln!(
        out,
        "latency: command = send to full answer (2xx only); to last screen = send to the last \
         subscribed screen receiving a frame with the command's X-Venue-Seq"
    );
    let _ = writeln!(
        out,
        "cpu:     hub process CPU time (user + system) over the level / commands accepted; \
         baseline: the first level\n"
    );
    let _ = writeln!(
        out,
        "{:>6} {:>6} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6}",
        "open",
        "at end",
        "fill s",
        "commands",
        "cmd/s",
        "p50 ms",
        "p99 ms",
        "screen50",
        "screen99",
        "cpu ms",
        "RSS MiB",
        "unseen",
        "errors"
    );
    for level in levels {
        let (p50, p99) = level.tally.latencies.clone().summary().map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |l| (millis(l.p50), millis(l.p99)),
        );
        let (s50, s99) = level.to_last_screen.map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |l| (millis(l.p50), millis(l.p99)),
        );
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>7.1} {:>8} {:>8.1} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>6}",
            level.open,
            level
                .open_at_end
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            level.fill.as_secs_f64(),
            level.tally.ok,
            per_second(level.tally.ok, level.elapsed),
            p50,
            p99,
            s50,
            s99,
            cpu_per_command(level).map_or_else(|| "?".to_owned(), |ms| format!("{ms:.3}")),
            level
                .rss_kib
                .map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
            level.unseen,
            level.tally.errors
        );
    }
    if let (Some(first), true) = (levels.first(), levels.len() > 1) {
        for level in &levels[1..] {
            let _ = writeln!(
                out,
                "{:>6} vs {:>6}: cmd/s {}, cpu per command {}, command p99 {}",
                level.open,
                first.open,
                ratio(
                    per_second(level.tally.ok, level.elapsed),
                    per_second(first.tally.ok, first.elapsed)
                ),
                ratio(
                    cpu_per_command(level).unwrap_or(f64::NAN),
                    cpu_per_command(first).unwrap_or(f64::NAN)
                ),
                ratio(
                    level
                        .tally
                        .latencies
                        .clone()
                        .summary()
                        .map_or(f64::NAN, |l| l.p99.as_secs_f64()),
                    first
                        .tally
                        .latencies
                        .clone()
                        .summary()
                        .map_or(f64::NAN, |l| l.p99.as_secs_f64())
                ),
            );
        }
    }
    let _ = writeln!(
        out,
        "\norders through the whole cycle per level: {}; unseen = accepted commands no \
         subscribed screen got a frame for",
        levels
            .iter()
            .map(|l| format!("{} at {}", l.tally.orders_completed, l.open))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if trouble.failed_to_open > 0 {
        let _ = writeln!(
            out,
            "{} screens failed to open, first: {}",
            trouble.failed_to_open,
            trouble.first_open_error.as_deref().unwrap_or("?")
        );
    }
    if trouble.ended_early > 0 || trouble.resyncs > 0 {
        let _ = writeln!(
            out,
            "{} screens ended early (first: {}), {} resync snapshots",
            trouble.ended_early,
            trouble.first_early_end.as_deref().unwrap_or("-"),
            trouble.resyncs
        );
    }
    for level in levels {
        if let Some(error) = &level.tally.first_error {
            let _ = writeln!(out, "first error at {} open: {error}", level.open);
        }
    }
    if !hub_log.is_empty() {
        let _ = writeln!(out, "hub log (RUST_LOG=warn), first lines:");
        for line in hub_log {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}
