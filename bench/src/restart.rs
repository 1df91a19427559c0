//! The `restart` benchmark: how long a hub takes from process start to `/readyz` answering
//! 200 when its journal is long. A journal of N events (default 1,000,000) is made through
//! the real engine: a hub built in this process on a fresh database with the demo venue
//! executes cheap commands (marking menu items sold out and back, one event each) as fast
//! as group commit takes them, with its usual snapshots every `snapshot_every` events.
//! Then a `hub` child process is started on that database and timed to `/readyz` 200,
//! twice with the recent snapshot; then the snapshots are deleted from the database and it
//! is timed twice more, replaying the whole journal. The run with the snapshot is the
//! baseline. Bounded in count and time; every hub is stopped and the database dropped at
//! the end, also on error. It measures and reports; it asserts nothing about the figures.

use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use hub::{
    app::Application,
    config::Settings,
    domain::{Actor, Command},
    engine::Envelope,
};
use sqlx::Connection as _;
use tokio::{sync::oneshot, task::JoinSet};
use uuid::Uuid;

use crate::{
    commands::{Store, StoreArgs, ratio},
    process::{self, HubProcess},
};

/// How long a started hub may take to answer `/readyz` with 200.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const READY_POLL: Duration = Duration::from_millis(5);
/// Timed starts per row.
const STARTS: usize = 2;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Journal events to write before the restarts (beyond the demo venue's own).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,

    /// Commands in flight while the journal is written (at most one per demo menu item).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    in_flight: u64,

    #[command(flatten)]
    store: StoreArgs,
}

/// What the journal build did.
struct Built {
    events: u64,
    elapsed: Duration,
    last_seq: u64,
    errors: u64,
}

/// One timed start.
struct Start {
    to_listening: Duration,
    to_ready: Duration,
    rss_kib: Option<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.store.store().await?;
    let binary = process::hub_binary().await?;
    let database = store.fresh().await?;
    eprintln!(
        "writing {} journal events through the engine on {}...",
        args.events,
        store.describe()
    );
    let built = build_journal(database.url(), args.events, args.in_flight).await?;
    eprintln!(
        "  {} events in {:.1} s ({:.0} events/s), venue seq {}",
        built.events,
        built.elapsed.as_secs_f64(),
        built.events as f64 / built.elapsed.as_secs_f64().max(f64::EPSILON),
        built.last_seq
    );
    let snapshot_seq = latest_snapshot(&store, database.url()).await?;
    let mut with_snapshot = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        with_snapshot.push(timed_start(&binary, database.url()).await?);
    }
    let mut without = Vec::with_capacity(STARTS);
    let mut after = None;
    for _ in 0..STARTS {
        // Before every start: a start may write a snapshot of its own after replaying.
        delete_snapshots(&store, database.url()).await?;
        without.push(timed_start(&binary, database.url()).await?);
        after = after.max(latest_snapshot(&store, database.url()).await?);
    }
    drop(database);
    print!(
        "{}",
        report(
            &store,
            &built,
            snapshot_seq,
            after,
            &with_snapshot,
            &without
        )
    );
    Ok(())
}

/// Builds a hub in this process on `database_url` and toggles the demo menu's items, each
/// item owned by one task so its toggles alternate, until `events` are accepted.
async fn build_journal(database_url: &str, events: u64, in_flight: u64) -> anyhow::Result<Built> {
    let data_dir = tempfile::Builder::new()
        .prefix("hub-bench-data-")
        .tempdir()
        .context("creating the hub's data directory")?;
    let mut settings = Settings::for_tests(Some(database_url.to_owned()), data_dir.path());
    settings.demo = true;
    let application = Application::build(settings)
        .await
        .context("starting the journal-writing hub")?;
    let engine = application.state().engine.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(application.run_until(async move {
        let _ = stopped.await;
    }));
    let venue = engine
        .venue_by_slug("demo")
        .context("the demo venue is not running")?;
    let items: Vec<_> = venue
        .read(|venue| venue.items.keys().copied().collect::<Vec<_>>())
        .await
        .context("reading the demo menu")?;
    if items.is_empty() {
        bail!("the demo venue has no menu items to toggle");
    }
    let accepted = Arc::new(AtomicU64::new(0));
    let budget = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut writers = JoinSet::new();
    // One writer per item at most, so every toggle changes something.
    for &item in items.iter().take(usize::try_from(in_flight)?) {
        let (venue, accepted, budget, errors) = (
            venue.clone(),
            accepted.clone(),
            budget.clone(),
            errors.clone(),
        );
        let mut available = false;
        writers.spawn(async move {
            while budget.fetch_add(1, Ordering::Relaxed) < events {
                let envelope = Envelope {
                    command_id: Uuid::now_v7(),
                    actor: Actor::system(),
                    command: Command::SetItemAvailability {
                        item_id: item,
                        available,
                    },
                };
                match venue.execute(envelope).await {
                    Ok(outcome) => {
                        accepted
                            .fetch_add(outcome.last_seq - outcome.first_seq + 1, Ordering::Relaxed);
                        available = !available;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        available = !available;
                    }
                }
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.context("a journal writer task")?;
    }
    let elapsed = started.elapsed();
    let last_seq = venue
        .read_at(|_, seq| seq)
        .await
        .context("reading the venue's sequence number")?;
    let _ = stop.send(());
    serving
        .await
        .context("the journal-writing hub task")?
        .context("stopping the journal-writing hub")?;
    drop(data_dir);
    Ok(Built {
        events: accepted.load(Ordering::Relaxed),
        elapsed,
        last_seq,
        errors: errors.load(Ordering::Relaxed),
    })
}

/// Starts a `hub` process on the database and times it to its banner and to `/readyz` 200.
async fn timed_start(binary: &std::path::Path, database_url: &str) -> anyhow::Result<Start> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    let started = Instant::now();
    let hub = HubProcess::start(binary, database_url).await?;
    let to_listening = started.elapsed();
    let url = format!("http://{}/readyz", hub.address());
    let outcome = async {
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("the hub did not answer /readyz 200 within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
    .await;
    let rss_kib = hub.rss_kib().ok();
    let log = hub.log();
    hub.stop().await;
    let to_ready = outcome.with_context(|| format!("hub log: {}", log.join(" | ")))?;
    eprintln!(
        "  start: listening after {:.0} ms, ready after {:.0} ms",
        to_listening.as_secs_f64() * 1000.0,
        to_ready.as_secs_f64() * 1000.0
    );
    Ok(Start {
        to_listening,
        to_ready,
        rss_kib,
    })
}

/// The sequence number of the newest snapshot in the database, if any.
async fn latest_snapshot(store: &Store, url: &str) -> anyhow::Result<Option<i64>> {
    const QUERY: &str = "SELECT MAX(seq) FROM snapshots";
    let (seq,): (Option<i64>,) = match store {
        Store::Postgres { .. } => {
            let mut connection = sqlx::PgConnection::connect(url)
                .await
                .context("connecting to the bench database")?;
            sqlx::query_as(QUERY)
                .fetch_one(&mut connection)
                .await
                .context("reading the snapshots")?
        }
        Store::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(url)
                .await
                .context("opening the bench database")?;
            sqlx::query_as(QUERY)
                .fetch_one(&mut connection)
                .await
                .context("reading the snapshots")?
        }
    };
    Ok(seq)
}

/// Deletes every venue snapshot, so the next start replays the whole journal.
async fn delete_snapshots(store: &Store, url: &str) -> anyhow::Result<()> {
    const DELETE: &str = "DELETE FROM snapshots";
    match store {
        Store::Postgres { .. } => {
            let mut connection = sqlx::PgConnection::connect(url)
                .await
                .context("connecting to the bench database")?;
            sqlx::query(DELETE)
                .execute(&mut connection)
                .await
                .context("deleting the snapshots")?;
        }
        Store::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(url)
                .await
                .context("opening the bench database")?;
            sqlx::query(DELETE)
                .execute(&mut connection)
                .await
                .context("deleting the snapshots")?;
        }
    }
    Ok(())
}

fn report(
    store: &Store,
    built: &Built,
    snapshot_seq: Option<i64>,
    snapshot_after: Option<i64>,
    with_snapshot: &[Start],
    without: &[Start],
) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nrestart: a journal of {} events (venue seq {}) written through the engine in this \
         process: set_item_availability toggles of the demo menu, one event each, group commit, \
         {:.1} s ({:.0} events/s), {} refused",
        built.events,
        built.last_seq,
        built.elapsed.as_secs_f64(),
        built.events as f64 / built.elapsed.as_secs_f64().max(f64::EPSILON),
        built.errors
    );
    let _ = writeln!(out, "store:   {}", store.describe());
    let _ = writeln!(
        out,
        "machine: {cpus} CPUs; the hub as a child process (`hub --demo` on the same database), \
         timed from spawn to its banner and to the first /readyz 200 (polled every {} ms)",
        READY_POLL.as_millis()
    );
    let _ = writeln!(
        out,
        "rows:    {STARTS} starts with the newest snapshot (seq {}), then {STARTS} each right \
         after `DELETE FROM snapshots` (replaying every event; newest snapshot after those \
         starts: {}); baseline: with the snapshot\n",
        snapshot_seq.map_or_else(|| "none".to_owned(), |s| s.to_string()),
        snapshot_after.map_or_else(|| "none".to_owned(), |s| s.to_string()),
    );
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:>12} {:>10} {:>9}",
        "row", "start", "listening ms", "ready ms", "RSS MiB"
    );
    for (label, starts) in [
        ("with snapshot", with_snapshot),
        ("without snapshot", without),
    ] {
        for (index, start) in starts.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:<22} {:>5} {:>12.0} {:>10.0} {:>9}",
                label,
                index + 1,
                start.to_listening.as_secs_f64() * 1000.0,
                start.to_ready.as_secs_f64() * 1000.0,
                start
                    .rss_kib
                    .map_or_else(|| "?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0))
            );
        }
    }
    let best = |starts: &[Start]| {
        starts
            .iter()
            .map(|s| s.to_ready.as_secs_f64())
            .fold(f64::INFINITY, f64::min)
    };
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:>12} {:>10}",
        "ratio without/with",
        "best",
        "",
        ratio(best(without), best(with_snapshot))
    );
    out
}
