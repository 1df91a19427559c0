//! The `commands` benchmark and its reusable workload generator: concurrent waiters open
//! takeaway orders over HTTP for a fixed time, first against a hub with group commit, then
//! against an identical hub with one transaction per command (`max_batch = 1`), each on a
//! fresh database, and the two rows are printed side by side with their ratio.
//!
//! In the same run a third row drives the same client loop against a bare axum server
//! ([`crate::ceiling`]) that parses the same body and answers 201 without engine or store:
//! the HTTP ceiling of this machine, and the hub rows' fraction of it.
//!
//! [`drive`] only talks HTTP to a running hub: it knows nothing of databases or settings,
//! so other programs can point it at any hub with the demo venue. It asserts nothing about
//! the figures; it measures and reports.

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    ceiling::BareOrders,
    database::{self, FreshDatabase},
    latency::{Latencies, Summary},
    server::RunningHub,
};

/// The demo venue's slug and its waiter's PIN, as `hub --demo` seeds them.
const DEMO_VENUE: &str = "demo";
const WAITER_PIN: &str = "3333";
/// A request slower than this counts as an error instead of stalling the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest error text kept as an example for the report.
const MAX_ERROR_SAMPLE: usize = 200;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrent HTTP clients, each logged in as the demo waiter.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    clients: u64,

    /// Seconds of load for each of the two rows.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,

    /// Most orders sent per row across all clients; the row also ends after --seconds.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_commands: u64,

    #[command(flatten)]
    store: StoreArgs,
}

/// How much load [`drive`] generates.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub clients: u64,
    pub duration: Duration,
    /// Upper bound on orders sent, across all clients, whatever the duration.
    pub max_commands: u64,
}

/// What one run of [`drive`] measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Orders answered with a 2xx status.
    pub ok: u64,
    /// Orders answered with another status, or not answered at all.
    pub errors: u64,
    /// From the first order sent to the last answer received.
    pub elapsed: Duration,
    /// Latency of the 2xx answers, from send to the full body; `None` if there were none.
    pub latency: Option<Summary>,
    /// The first error seen, to tell a hub problem from a workload problem.
    pub first_error: Option<String>,
    /// How many menu items the orders drew from.
    pub orderable_items: usize,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }
}

/// A menu item a waiter can order, with the options its required modifier groups need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orderable {
    pub menu_item_id: String,
    pub modifiers: Vec<String>,
}

/// Runs the pair of rows on the chosen store and prints the table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let workload = Workload {
        clients: args.clients,
        duration: Duration::from_secs(args.seconds),
        max_commands: args.max_commands,
    };
    let store = args.store.store().await?;
    eprintln!(
        "running 2 rows of {} s with {} clients on {}...",
        args.seconds,
        args.clients,
        store.describe()
    );
    let mut rows = Vec::with_capacity(3);
    let mut menu = None;
    for mode in [Mode::GroupCommit, Mode::OneTransaction] {
        let (row, hub_menu) = run_row(&store, mode, workload)
            .await
            .with_context(|| format!("the {} row", mode.label()))?;
        menu = menu.or(Some(hub_menu));
        eprintln!(
            "  {}: {} orders, {} errors",
            mode.label(),
            row.measured.ok,
            row.measured.errors
        );
        rows.push(row);
    }
    let menu = menu.context("no hub row ran")?;
    let row = ceiling_row(menu, workload)
        .await
        .context("the bare axum row")?;
    eprintln!(
        "  {}: {} orders, {} errors",
        Mode::BareAxum.label(),
        row.measured.ok,
        row.measured.errors
    );
    rows.push(row);
    print!("{}", report(&store, workload, &rows));
    Ok(())
}

/// Where a bench's hubs keep their data, as every bench's flags say it.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// Postgres server (on 127.0.0.1) where the hubs get a fresh database, dropped after.
    #[arg(
        long,
        visible_alias = "database-url",
        env = "TEST_POSTGRES_URL",
        value_name = "URL",
        default_value = database::DEFAULT_POSTGRES_ADMIN_URL,
        hide_env_values = true
    )]
    pub(crate) admin_url: String,

    /// Run the hubs on an embedded SQLite file in a temporary directory instead of Postgres.
    #[arg(long)]
    pub(crate) sqlite: bool,
}

impl StoreArgs {
    /// The store, after checking that the Postgres server answers (and reading its version).
    pub(crate) async fn store(&self) -> anyhow::Result<Store> {
        if self.sqlite {
            return Ok(Store::Sqlite);
        }
        let version = database::postgres_version(&self.admin_url).await?;
        Ok(Store::Postgres {
            admin_url: self.admin_url.clone(),
            version,
        })
    }
}

/// Which database the hubs of a run use.
pub(crate) enum Store {
    Postgres { admin_url: String, version: String },
    Sqlite,
}

impl Store {
    pub(crate) fn describe(&self) -> String {
        match self {
            Store::Postgres { version, .. } => {
                format!("PostgreSQL {version} on 127.0.0.1, a fresh database per row")
            }
            Store::Sqlite => "embedded SQLite, a fresh file per row".to_owned(),
        }
    }

    pub(crate) async fn fresh(&self) -> anyhow::Result<FreshDatabase> {
        match self {
            Store::Postgres { admin_url, .. } => FreshDatabase::postgres(admin_url).await,
            Store::Sqlite => FreshDatabase::sqlite(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The hub's default: a venue commits every queued command in one transaction.
    GroupCommit,
    /// `max_batch = 1`: one transaction per command, the baseline.
    OneTransaction,
    /// No hub: a bare axum handler in this process, the HTTP ceiling.
    BareAxum,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::GroupCommit => "group commit",
            Mode::OneTransaction => "one tx per command",
            Mode::BareAxum => "bare axum (ceiling)",
        }
    }

    fn max_batch(self) -> Option<usize> {
        match self {
            Mode::GroupCommit | Mode::BareAxum => None,
            Mode::OneTransaction => Some(1),
        }
    }
}

struct Row {
    mode: Mode,
    /// The hub's group-commit limit; `None` for the bare row.
    max_batch: Option<usize>,
    measured: Measured,
}

/// One row: fresh database, fresh hub, the load, then the hub is stopped and the database
/// dropped (the latter also when anything here fails). Also returns the hub's menu, for
/// the bare row to serve.
async fn run_row(store: &Store, mode: Mode, workload: Workload) -> anyhow::Result<(Row, Value)> {
    let database = store.fresh().await?;
    let hub = RunningHub::start(database.url(), mode.max_batch()).await?;
    let max_batch = hub.max_batch();
    let measured = drive(&hub.base_url(), workload).await;
    let menu = hub_menu(&hub.base_url()).await;
    let stopped = hub.stop().await;
    drop(database);
    let measured = measured?;
    let menu = menu?;
    stopped.context("stopping the hub")?;
    Ok((
        Row {
            mode,
            max_batch: Some(max_batch),
            measured,
        },
        menu,
    ))
}

/// The same client loop against a bare axum server serving the hub's `menu`.
async fn ceiling_row(menu: Value, workload: Workload) -> anyhow::Result<Row> {
    let server = BareOrders::start(menu).await?;
    let measured = drive(&server.base_url(), workload).await?;
    drop(server);
    Ok(Row {
        mode: Mode::BareAxum,
        max_batch: None,
        measured,
    })
}

/// The demo menu as `GET /api/v1/menu` answers it.
async fn hub_menu(base_url: &str) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let token = login(&client, base_url).await?;
    let response = client
        .get(format!("{base_url}/api/v1/menu"))
        .bearer_auth(&token)
        .send()
        .await
        .context("reading the menu")?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET /api/v1/menu answered {status}");
    }
    response.json().await.context("parsing the menu")
}

/// Logs the demo waiter into the demo venue at `base_url`, then has `workload.clients`
/// clients with that token open
/// takeaway orders back to back until the duration or the command budget runs out.
/// Setup failures (login, menu) are errors; failed orders are counted, not fatal.
pub async fn drive(base_url: &str, workload: Workload) -> anyhow::Result<Measured> {
    let pool_size = usize::try_from(workload.clients).unwrap_or(usize::MAX);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(pool_size)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    // One login shared by every client: the hub throttles bursts of logins from one
    // address, and logging in is not what this measures.
    let shared_token = login(&client, base_url).await?;
    let tokens = vec![shared_token; pool_size];
    let first_token = tokens.first().context("no clients to run")?;
    let items = Arc::new(menu(&client, base_url, first_token).await?);

    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + workload.duration;
    let mut waiters = tokio::task::JoinSet::new();
    for (index, token) in tokens.into_iter().enumerate() {
        let waiter = Waiter {
            client: client.clone(),
            url: format!("{base_url}/api/v1/orders"),
            token,
            items: items.clone(),
            // Seeded by position, so both rows of a run send the same orders in the same order.
            random: SplitMix64(index as u64),
        };
        let sent = sent.clone();
        let budget = workload.max_commands;
        waiters.spawn(waiter.run(deadline, move || {
            sent.fetch_add(1, Ordering::Relaxed) < budget
        }));
    }
    let mut total = Tally::default();
    while let Some(tally) = waiters.join_next().await {
        total.merge(tally.context("client task")?);
    }
    Ok(Measured {
        ok: total.ok,
        errors: total.errors,
        elapsed: started.elapsed(),
        latency: total.latencies.summary(),
        first_error: total.first_error,
        orderable_items: items.len(),
    })
}

async fn login(client: &reqwest::Client, base_url: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base_url}/api/v1/auth/login"))
        .json(&json!({ "venue": DEMO_VENUE, "pin": WAITER_PIN }))
        .send()
        .await
        .context("logging in")?;
    let status = response.status();
    let body: Value = response.json().await.context("reading the login answer")?;
    if !status.is_success() {
        bail!(
            "logging in as the demo waiter (venue {DEMO_VENUE:?}, PIN {WAITER_PIN}) answered {status}: {body}; \
             does this hub seed the demo venue?"
        );
    }
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no access_token")
}

async fn menu(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> anyhow::Result<Vec<Orderable>> {
    let response = client
        .get(format!("{base_url}/api/v1/menu"))
        .bearer_auth(token)
        .send()
        .await
        .context("reading the menu")?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET /api/v1/menu answered {status}");
    }
    let menu: Value = response.json().await.context("parsing the menu")?;
    let items = orderable_items(&menu);
    if items.is_empty() {
        bail!("the demo menu has no item a waiter can order");
    }
    Ok(items)
}

/// The items of a `GET /api/v1/menu` answer that are available, each with the first
/// options of every modifier group that requires a choice (`min_choices` of them).
/// Items whose required groups cannot be satisfied are left out.
pub fn orderable_items(menu: &Value) -> Vec<Orderable> {
    let groups = menu["modifier_groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let required_options = |group_id: &str| -> Option<Vec<String>> {
        let group = groups.iter().find(|g| g["id"].as_str() == Some(group_id))?;
        let min = usize::try_from(group["min_choices"].as_u64().unwrap_or(0)).ok()?;
        let options: Vec<String> = group["options"]
            .as_array()?
            .iter()
            .filter_map(|option| option["id"].as_str().map(str::to_owned))
            .take(min)
            .collect();
        (options.len() == min).then_some(options)
    };
    let Some(items) = menu["items"].as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| item["available"].as_bool() != Some(false))
        .filter(|item| item["active"].as_bool() != Some(false))
        .filter_map(|item| {
            let menu_item_id = item["id"].as_str()?.to_owned();
            let mut modifiers = Vec::new();
            for group_id in item["modifier_groups"].as_array().into_iter().flatten() {
                modifiers.extend(required_options(group_id.as_str()?)?);
            }
            Some(Orderable {
                menu_item_id,
                modifiers,
            })
        })
        .collect()
}

/// One logged-in client sending orders one after the other.
struct Waiter {
    client: reqwest::Client,
    url: String,
    token: String,
    items: Arc<Vec<Orderable>>,
    random: SplitMix64,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies: Latencies,
    first_error: Option<String>,
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
        self.latencies.merge(other.latencies);
        self.first_error = self.first_error.take().or(other.first_error);
    }
}

impl Waiter {
    async fn run(mut self, deadline: Instant, mut may_send: impl FnMut() -> bool) -> Tally {
        let mut tally = Tally::default();
        while Instant::now() < deadline && may_send() {
            let body = self.next_order();
            let started = Instant::now();
            let answer = async {
                let response = self
                    .client
                    .post(&self.url)
                    .bearer_auth(&self.token)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            }
            .await;
            let elapsed = started.elapsed();
            match answer {
                Ok((status, _)) if status.is_success() => {
                    tally.ok += 1;
                    tally.latencies.record(elapsed);
                }
                Ok((status, body)) => {
                    tally.error(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
                Err(error) => tally.error(format!("request failed: {error}")),
            }
        }
        tally
    }

    /// A takeaway order of 1-3 lines, quantity 1-2 each, with a fresh `command_id`.
    fn next_order(&mut self) -> Value {
        let line_count = 1 + self.random.below(3);
        let lines: Vec<Value> = (0..line_count)
            .map(|_| {
                let item = &self.items[self.random.below(self.items.len())];
                json!({
                    "menu_item_id": item.menu_item_id,
                    "quantity": 1 + self.random.below(2),
                    "modifiers": item.modifiers,
                })
            })
            .collect();
        json!({
            "command_id": Uuid::new_v4(),
            "kind": "takeaway",
            "lines": lines,
        })
    }
}

/// A small deterministic generator (SplitMix64): the workload needs repeatable variety,
/// not unpredictability.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0); the modulo bias is irrelevant for tiny bounds.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

pub(crate) fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

pub(crate) fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 && numerator.is_finite() {
        format!("{:.2}x", numerator / denominator)
    } else {
        "n/a".to_owned()
    }
}

/// The printed result: what ran, where, both rows and their ratio.
fn report(store: &Store, workload: Workload, rows: &[Row]) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ncommands: POST /api/v1/orders (takeaway, 1-3 lines, fresh command_id each), \
         {} clients, {} s per row",
        workload.clients,
        workload.duration.as_secs()
    );
    if let Some(row) = rows.first() {
        let _ = writeln!(
            out,
            "orders:   lines drawn from {} available demo menu items, required modifiers chosen",
            row.measured.orderable_items
        );
    }
    let _ = writeln!(out, "store:    {}", store.describe());
    let _ = writeln!(
        out,
        "machine:  {cpus} CPUs; all rows ran on this machine in this run, one after the other, \
         hub and clients in one process"
    );
    let _ = writeln!(
        out,
        "latency:  2xx answers only, from send to the full body\n\
         bare:     axum in this process, the same body parsed into the hub's OpenOrderRequest, \
         201 with an order view of the hub's shape; no engine, no store, no token check\n"
    );
    let _ = writeln!(
        out,
        "{:<20} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "mode", "max_batch", "orders", "orders/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for row in rows {
        let m = &row.measured;
        let (p50, p99, max) = m.latency.map_or_else(
            || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            |l| (millis(l.p50), millis(l.p99), millis(l.max)),
        );
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>7}",
            row.mode.label(),
            row.max_batch
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            m.ok,
            m.per_second(),
            p50,
            p99,
            max,
            m.errors
        );
    }
    let group = rows.iter().find(|r| r.mode == Mode::GroupCommit);
    let single = rows.iter().find(|r| r.mode == Mode::OneTransaction);
    if let (Some(group), Some(single)) = (group, single) {
        let p99 = |row: &Row| {
            row.measured
                .latency
                .map_or(f64::NAN, |l| l.p99.as_secs_f64())
        };
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>10} {:>8} {:>8}",
            "ratio group/one tx",
            "",
            "",
            ratio(group.measured.per_second(), single.measured.per_second()),
            "",
            ratio(p99(group), p99(single)),
        );
    }
    if let Some(bare) = rows.iter().find(|r| r.mode == Mode::BareAxum) {
        for row in rows.iter().filter(|r| r.mode != Mode::BareAxum) {
            let p99 = |row: &Row| {
                row.measured
                    .latency
                    .map_or(f64::NAN, |l| l.p99.as_secs_f64())
            };
            let _ = writeln!(
                out,
                "{:<20} {:>9} {:>9} {:>10} {:>8} {:>8}",
                format!(
                    "{}/bare",
                    if row.mode == Mode::GroupCommit {
                        "group"
                    } else {
                        "one tx"
                    }
                ),
                "",
                "",
                ratio(row.measured.per_second(), bare.measured.per_second()),
                "",
                ratio(p99(row), p99(bare)),
            );
        }
        let fraction = |mode: Mode| {
            rows.iter().find(|r| r.mode == mode).map_or_else(
                || "n/a".to_owned(),
                |row| {
                    let ceiling = bare.measured.per_second();
                    if ceiling > 0.0 {
                        format!("{:.0}%", 100.0 * row.measured.per_second() / ceiling)
                    } else {
                        "n/a".to_owned()
                    }
                },
            )
        };
        let _ = writeln!(
            out,
            "\nceiling:  the hub reaches {} (group commit) and {} (one tx per command) of the \
             bare axum orders/s",
            fraction(Mode::GroupCommit),
            fraction(Mode::OneTransaction)
        );
    }
    for row in rows {
        if let Some(error) = &row.measured.first_error {
            let _ = writeln!(out, "\nfirst error ({}): {error}", row.mode.label());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_that_are_sold_out_or_retired_are_never_ordered() {
        let menu = json!({
            "items": [
                {"id": "a", "available": true, "active": true, "modifier_groups": []},
                {"id": "b", "available": false, "active": true, "modifier_groups": []},
                {"id": "c", "available": true, "active": false, "modifier_groups": []},
            ],
            "modifier_groups": [],
        });
        let ids: Vec<String> = orderable_items(&menu)
            .into_iter()
            .map(|i| i.menu_item_id)
            .collect();
        assert_eq!(ids, ["a"]);
    }

    #[test]
    fn required_modifier_groups_get_their_minimum_of_options_and_optional_ones_none() {
        let menu = json!({
            "items": [
                {"id": "steak", "available": true, "modifier_groups": ["doneness", "extras"]},
                {"id": "broken", "available": true, "modifier_groups": ["impossible"]},
                {"id": "ghost", "available": true, "modifier_groups": ["missing"]},
            ],
            "modifier_groups": [
                {"id": "doneness", "min_choices": 1, "max_choices": 1,
                 "options": [{"id": "rare"}, {"id": "well"}]},
                {"id": "extras", "min_choices": 0, "max_choices": 3,
                 "options": [{"id": "egg"}]},
                {"id": "impossible", "min_choices": 2, "max_choices": 2,
                 "options": [{"id": "only"}]},
            ],
        });
        assert_eq!(
            orderable_items(&menu),
            [Orderable {
                menu_item_id: "steak".to_owned(),
                modifiers: vec!["rare".to_owned()],
            }]
        );
    }

    #[test]
    fn orders_have_one_to_three_lines_and_a_fresh_command_id_each() {
        let mut waiter = Waiter {
            client: reqwest::Client::new(),
            url: String::new(),
            token: String::new(),
            items: Arc::new(vec![Orderable {
                menu_item_id: "a".to_owned(),
                modifiers: Vec::new(),
            }]),
            random: SplitMix64(7),
        };
        let orders: Vec<Value> = (0..200).map(|_| waiter.next_order()).collect();
        for order in &orders {
            assert_eq!(order["kind"], "takeaway");
            let lines = order["lines"].as_array().unwrap().len();
            assert!((1..=3).contains(&lines), "{order}");
        }
        let mut ids: Vec<&str> = orders
            .iter()
            .map(|o| o["command_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), orders.len());
    }
}
