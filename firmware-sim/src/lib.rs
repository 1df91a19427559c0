//! firmware-sim: a venue's kitchen devices simulated against the hub over MQTT, and the
//! load generator the bench reuses. Devices follow `docs/devices.md` through the `devices`
//! crate: they provision through the hub's REST API (or read credentials from a file),
//! connect one MQTT connection each, announce themselves with a retained status and an
//! offline last will, and tell a food-safety story in scenario time that can run faster
//! than real time. When it logged in to the hub it also watches the hub's food-safety
//! alerts over the WebSocket and tells them as they come.
//!
//! # Layout
//! - [`config`]: the command line and [`SimConfig`].
//! - [`scenario`]: which devices, how they register, and the evening's story; `load`.
//! - [`device`]: what each device says and when (pure state machines).
//! - [`models`]: probe physics (fridge, freezer, hot-holding well, cooling curve).
//! - [`barcode`]: GS1-128 and EAN-13 codes of a delivery.
//! - [`provision`]: the hub's device API and the credentials file.
//! - [`client`]: one rumqttc connection per device, with reconnects.
//! - [`fleet`]: the scheduler that runs a scenario over the connections.
//! - [`alerts`]: the hub's `alerts` channel over its WebSocket, counted and told.
//! - [`progress`]: counters, the progress line and the final [`Summary`].

pub mod alerts;
pub mod barcode;
pub mod client;
pub mod config;
pub mod device;
pub mod fleet;
pub mod models;
pub mod progress;
pub mod provision;
pub mod scenario;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;

pub use alerts::AlertWatcher;
pub use client::Broker;
pub use config::{Auth, ScenarioChoice, SimConfig};
pub use fleet::{FleetOptions, run_fleet};
pub use progress::{AlertWatch, SeenAlert, Stats, Summary};
pub use provision::{CredentialsFile, DeviceCredential, HubApi, Login, provision_fleet};
pub use scenario::Scenario;

/// Devices registered at once while provisioning: the hub hashes every secret.
const PROVISION_CONCURRENCY: usize = 8;
/// After the fleet stops, alerts still on their way get this long of silence to arrive...
const ALERTS_QUIET: Duration = Duration::from_millis(500);
/// ...but no more than this in all.
const ALERTS_PATIENCE: Duration = Duration::from_secs(3);

/// Runs `config` until the story ends, `config.duration` passes or Ctrl-C.
pub async fn run(config: SimConfig) -> anyhow::Result<Summary> {
    run_until(config, async {
        // If the signal cannot be watched, run to the end instead.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
}

/// Runs `config` until the story ends, `config.duration` passes or `stop` resolves.
pub async fn run_until(
    config: SimConfig,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    config.check()?;
    let start = Utc::now();
    let scenario = build_scenario(&config, start);
    let (credentials, api) = credentials_and_api(&config, &scenario).await?;
    if let Some(path) = &config.save_credentials {
        credentials.save(path)?;
        if config.progress {
            eprintln!("credentials written to {}", path.display());
        }
    }
    if config.progress {
        eprintln!(
            "firmware-sim: scenario {} with {} devices on {} (venue {}), speed {}",
            scenario.name,
            scenario.devices.len(),
            config.broker,
            credentials.venue,
            config.speed
        );
        for beat in &scenario.story {
            eprintln!("  {beat}");
        }
        if api.is_none() {
            eprintln!(
                "alerts: not watched: the hub's alerts need a login (--login), not \
                 --credentials or --anonymous"
            );
        }
    }
    let stats = Arc::new(Stats::default());
    let watcher = api.map(|api| AlertWatcher::spawn(api, stats.clone(), config.progress));
    let options = FleetOptions {
        broker: config.broker.clone(),
        speed: config.speed,
        duration: config.duration,
        qos: config.qos,
        connect_rate: config.connect_rate,
        seed: config.seed,
        progress: config.progress,
        start,
    };
    let summary = run_fleet(scenario, &credentials, &options, stats.clone(), stop).await?;
    if let Some(watcher) = watcher {
        watcher.finish(ALERTS_QUIET, ALERTS_PATIENCE).await;
    }
    Ok(summary.with_alerts(&stats))
}

/// The scenario `config` asks for, starting at wall-clock `start`.
pub fn build_scenario(config: &SimConfig, start: chrono::DateTime<Utc>) -> Scenario {
    match &config.scenario {
        ScenarioChoice::Evening { slow_batch } => scenario::evening(&scenario::EveningOptions {
            seed: config.seed,
            slow_batch: *slow_batch,
            start,
        }),
        ScenarioChoice::Load {
            devices,
            rate,
            prefix,
        } => scenario::load(&scenario::LoadOptions {
            devices: *devices,
            rate: *rate,
            speed: config.speed,
            seed: config.seed,
            prefix: prefix.clone(),
        }),
    }
}

/// Credentials for every device of `scenario`, from wherever `config` says.
pub async fn credentials_for(
    config: &SimConfig,
    scenario: &Scenario,
) -> anyhow::Result<CredentialsFile> {
    Ok(credentials_and_api(config, scenario).await?.0)
}

/// Credentials for every device of `scenario`, and the logged-in API client when they
/// came through the hub's API.
async fn credentials_and_api(
    config: &SimConfig,
    scenario: &Scenario,
) -> anyhow::Result<(CredentialsFile, Option<HubApi>)> {
    match &config.auth {
        Auth::Anonymous => Ok((
            CredentialsFile::anonymous(
                &config.venue,
                scenario.devices.iter().map(|d| d.key.as_str()),
            ),
            None,
        )),
        Auth::File(path) => {
            let file = CredentialsFile::load(path)?;
            if file.venue != config.venue {
                bail!(
                    "{} holds credentials for venue {:?}, not {:?} (pass --venue {})",
                    path.display(),
                    file.venue,
                    config.venue,
                    file.venue
                );
            }
            Ok((file, None))
        }
        Auth::Provision { hub, login } => {
            let api = HubApi::login(hub, &config.venue, login.clone())
                .await
                .context("logging in to the hub to provision devices")?;
            if config.progress {
                eprintln!(
                    "provisioning {} devices at {hub} ...",
                    scenario.devices.len()
                );
            }
            let file = provision_fleet(&api, &scenario.devices, PROVISION_CONCURRENCY).await?;
            Ok((file, Some(api)))
        }
    }
}
