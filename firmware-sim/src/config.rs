//! The command line and the [`SimConfig`] it becomes: where the hub and broker are, how
//! devices get credentials, which scenario, how fast and for how long. Parsing and
//! checking only; running is `lib::run`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser, ValueEnum};
use rumqttc::QoS;

use crate::client::Broker;
use crate::provision::Login;

/// Simulates a venue's kitchen devices (fridges, a failing fridge, a hot-holding well,
/// cooling batches, a delivery scanner, bump bars, call buttons) against the hub over
/// MQTT, or thousands of probes as a load generator.
#[derive(Debug, Parser)]
#[command(name = "firmware-sim", version)]
#[command(group(ArgGroup::new("auth").required(true).args(["login", "credentials", "anonymous"])))]
pub struct Cli {
    /// The hub's HTTP address, for provisioning.
    #[arg(
        long,
        env = "FIRMWARE_SIM_HUB",
        default_value = "http://127.0.0.1:8080"
    )]
    pub hub: String,
    /// The MQTT broker: HOST:PORT.
    #[arg(long, env = "FIRMWARE_SIM_MQTT", default_value = "127.0.0.1:1883")]
    pub mqtt: Broker,
    /// Venue slug.
    #[arg(long, default_value = "demo")]
    pub venue: String,
    /// Provision the devices through the hub's API, logged in as USER:PASSWORD or with a
    /// manager PIN (e.g. owner:almahira-demo or 1111).
    #[arg(long, value_name = "USER:PASSWORD|PIN")]
    pub login: Option<Login>,
    /// Read device credentials from this file instead of the API.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// No credentials: for a broker that accepts anyone (a development Mosquitto).
    #[arg(long)]
    pub anonymous: bool,
    /// Write the credentials used to this file (to rerun with --credentials).
    #[arg(long, value_name = "FILE")]
    pub save_credentials: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ScenarioName::Evening)]
    pub scenario: ScenarioName,
    /// Evening: add a cooling batch that is too slow and fails its 2-hour stage.
    #[arg(long)]
    pub slow_batch: bool,
    /// Load: number of simulated probes.
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Load: messages per second across the fleet.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Load: device key prefix (keys are PREFIX-00000, PREFIX-00001, ...).
    #[arg(long, default_value = "load")]
    pub prefix: String,
    /// Scenario seconds per real second: 60 plays a 6-hour evening in 6 minutes.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Stop after this much real time: 90, 90s, 5m, 1h.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// QoS of telemetry and events (status is always 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// New connections per second while the fleet comes up.
    #[arg(long, default_value_t = 500.0)]
    pub connect_rate: f64,
    /// Seed of the simulation's randomness: the same seed tells the same story.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// A kitchen evening's food-safety story, 6 hours of scenario time.
    Evening,
    /// Identical fridge probes at a set total rate, until stopped.
    Load,
}

/// `90`, `90s`, `1500ms`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (like 90s, 5m, 1h)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Where device credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Provision through the hub's API.
    Provision {
        hub: String,
        login: Login,
    },
    File(PathBuf),
    Anonymous,
}

/// Which story to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioChoice {
    Evening {
        slow_batch: bool,
    },
    Load {
        devices: usize,
        rate: f64,
        prefix: String,
    },
}

/// Everything a run needs. Build it from the command line with [`SimConfig::from_cli`] or
/// directly (the bench does).
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub broker: Broker,
    pub venue: String,
    pub auth: Auth,
    pub save_credentials: Option<PathBuf>,
    pub scenario: ScenarioChoice,
    pub speed: f64,
    pub duration: Option<Duration>,
    pub qos: QoS,
    pub connect_rate: f64,
    pub seed: u64,
    /// Progress lines and the story on stderr.
    pub progress: bool,
}

impl SimConfig {
    pub fn from_cli(cli: Cli) -> anyhow::Result<Self> {
        let auth = match (cli.login, cli.credentials, cli.anonymous) {
            (Some(login), None, false) => Auth::Provision {
                hub: cli.hub,
                login,
            },
            (None, Some(path), false) => Auth::File(path),
            (None, None, true) => Auth::Anonymous,
            _ => anyhow::bail!("give one of --login, --credentials or --anonymous"),
        };
        let scenario = match cli.scenario {
            ScenarioName::Evening => ScenarioChoice::Evening {
                slow_batch: cli.slow_batch,
            },
            ScenarioName::Load => ScenarioChoice::Load {
                devices: cli.devices,
                rate: cli.rate,
                prefix: cli.prefix,
            },
        };
        let config = Self {
            broker: cli.mqtt,
            venue: cli.venue,
            auth,
            save_credentials: cli.save_credentials,
            scenario,
            speed: cli.speed,
            duration: cli.duration,
            qos: if cli.qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
            connect_rate: cli.connect_rate,
            seed: cli.seed,
            progress: !cli.quiet,
        };
        config.check()?;
        Ok(config)
    }

    /// Refuses settings that cannot run, with the reason.
    pub fn check(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if !devices::topic::is_valid_venue(&self.venue) {
            bail!(
                "--venue {:?}: a venue slug is 1-40 of a-z 0-9 - _",
                self.venue
            );
        }
        if !(self.speed.is_finite() && self.speed > 0.0) {
            bail!("--speed must be a positive number, got {}", self.speed);
        }
        if !(self.connect_rate.is_finite() && self.connect_rate > 0.0) {
            bail!("--connect-rate must be a positive number");
        }
        if let ScenarioChoice::Load {
            devices,
            rate,
            prefix,
        } = &self.scenario
        {
            if *devices == 0 {
                bail!("--devices must be at least 1");
            }
            if !(rate.is_finite() && *rate > 0.0) {
                bail!("--rate must be a positive number of messages per second");
            }
            if prefix.len() > 50 || !devices::topic::is_valid_device(prefix) {
                bail!("--prefix {prefix:?}: 1-50 of a-z 0-9 - _");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SimConfig, String> {
        let cli = Cli::try_parse_from(std::iter::once("firmware-sim").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        SimConfig::from_cli(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.5h"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-3s").is_err());
    }

    #[test]
    fn the_demo_command_line_provisions_through_the_hub() {
        let config = parse(&[
            "--hub",
            "http://127.0.0.1:8080",
            "--mqtt",
            "127.0.0.1:1883",
            "--venue",
            "demo",
            "--login",
            "owner:almahira-demo",
            "--speed",
            "60",
        ])
        .unwrap();
        assert_eq!(
            config.auth,
            Auth::Provision {
                hub: "http://127.0.0.1:8080".into(),
                login: Login::Password {
                    username: "owner".into(),
                    password: "almahira-demo".into()
                }
            }
        );
        assert_eq!(config.speed, 60.0);
        assert_eq!(config.qos, QoS::AtLeastOnce);
        assert!(matches!(
            config.scenario,
            ScenarioChoice::Evening { slow_batch: false }
        ));
    }

    #[test]
    fn a_load_run_takes_devices_rate_and_duration() {
        let config = parse(&[
            "--anonymous",
            "--scenario",
            "load",
            "--devices",
            "2000",
            "--rate",
            "5000",
            "--duration",
            "30s",
            "--qos",
            "0",
        ])
        .unwrap();
        assert_eq!(
            config.scenario,
            ScenarioChoice::Load {
                devices: 2000,
                rate: 5000.0,
                prefix: "load".into()
            }
        );
        assert_eq!(config.duration, Some(Duration::from_secs(30)));
        assert_eq!(config.qos, QoS::AtMostOnce);
    }

    #[test]
    fn credentials_must_come_from_exactly_one_place() {
        assert!(parse(&[]).unwrap_err().contains("--login"));
        assert!(parse(&["--anonymous", "--credentials", "x.json"]).is_err());
    }

    #[test]
    fn impossible_settings_are_refused_with_the_flag_named() {
        assert!(
            parse(&["--anonymous", "--speed", "0"])
                .unwrap_err()
                .contains("--speed")
        );
        assert!(
            parse(&["--anonymous", "--venue", "Demo Venue"])
                .unwrap_err()
                .contains("--venue")
        );
        assert!(
            parse(&["--anonymous", "--scenario", "load", "--rate", "0"])
                .unwrap_err()
                .contains("--rate")
        );
        assert!(
            parse(&["--anonymous", "--scenario", "load", "--devices", "0"])
                .unwrap_err()
                .contains("--devices")
        );
        assert!(parse(&["--anonymous", "--qos", "2"]).is_err());
        assert!(parse(&["--anonymous", "--login", "nope"]).is_err());
    }
}
