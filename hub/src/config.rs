//! [`Settings`]: how the hub is configured, resolved once at startup from command-line
//! flags, then environment variables, then a TOML file, then defaults (first one wins).
//! It only reads and validates; it never creates directories, keys or databases.

use std::{
    ffi::OsString,
    fmt,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum, builder::BoolishValueParser};
use serde::Deserialize;

use crate::auth::TokenLifetimes;

const DEFAULT_HTTP: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080);
const DEFAULT_DATA_DIR: &str = "./data";
const DEFAULT_MAX_BATCH: usize = 256;
const DEFAULT_SNAPSHOT_EVERY: u64 = 1000;
const DEFAULT_ACCESS_TOKEN_MINUTES: u32 = 15;
const DEFAULT_REFRESH_TOKEN_HOURS: u32 = 12;
const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 10;
const DEFAULT_DELIVERY_ALERT_SECONDS: f64 = 10.0;
const DEFAULT_HEARTBEAT_SECONDS: f64 = 15.0;
const DEFAULT_MQTT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 1883);
const DEFAULT_READING_RETENTION_DAYS: u32 = 90;
const DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS: f64 = 10.0;
const DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS: f64 = 60.0;
const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 10_000;
/// Generous enough for a venue behind one NAT address (screens and handhelds with a few
/// connections each); set 0 behind a reverse proxy, where every client has its address.
const DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// HS256 is only as strong as its key; a short one can be brute-forced offline from any
/// token a handheld leaks.
const MIN_JWT_SECRET_BYTES: usize = 32;
/// Environment-only: a secret on the command line is visible to every user via `ps`.
const JWT_SECRET_ENV: &str = "HUB_JWT_SECRET";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// The resolved configuration of one hub.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Where HTTP and WebSocket clients connect.
    pub http: SocketAddr,
    /// PostgreSQL URL; `None` runs on the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    /// Where the embedded database and the hub's generated keys live.
    pub data_dir: PathBuf,
    /// Seed a demo venue with menu, floor and staff on first start.
    pub demo: bool,
    /// Key for staff tokens; `None` means the hub generates one once and stores it.
    pub jwt_secret: Option<String>,
    /// Most commands committed in one transaction (group commit); 1 disables batching.
    pub max_batch: usize,
    /// A venue snapshot is written every this many events, to bound replay at start.
    pub snapshot_every: u64,
    pub access_token_minutes: u32,
    pub refresh_token_hours: u32,
    pub log_format: LogFormat,
    /// How long in-flight requests and connections get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// Seconds a fired ticket may go unconfirmed by its station's screens before an alert;
    /// 0 turns delivery alerts off (a venue without kitchen screens).
    pub delivery_alert_seconds: f64,
    /// Seconds between heartbeats to screens; a screen silent for three is dropped.
    pub heartbeat_seconds: f64,
    /// Seconds an HTTP connection gets to send a whole request head, counted from when it
    /// opens and from the end of its previous answer (so it also bounds idle keep-alive).
    pub http_header_timeout_seconds: f64,
    /// Seconds a connection with a request in progress may move no bytes at all (a stalled
    /// upload, a client that stopped reading) before it is closed.
    pub http_idle_timeout_seconds: f64,
    /// Most HTTP and WebSocket connections open at once (fewer if the open-files limit
    /// leaves less room, see `http_fd_reserve`).
    pub http_max_connections: usize,
    /// Most connections open at once from one client address; 0 = no per-address cap.
    pub http_max_connections_per_address: usize,
    /// File descriptors HTTP leaves free for the store, the MQTT port and the hub itself;
    /// `None` keeps a quarter of the open-files limit, at least 64.
    pub http_fd_reserve: Option<u64>,
    /// How devices reach the hub: embedded broker, external broker, or off.
    pub mqtt: crate::mqtt::MqttMode,
    /// Benchmark baseline: device messages are counted and dropped (`testkit` builds only).
    #[cfg(feature = "testkit")]
    pub mqtt_drain_only: bool,
    /// Days raw probe readings are kept; 0 keeps them for ever. Day summaries are kept.
    pub reading_retention_days: u32,
    /// The TOML file the settings were read from, if any (for the startup log).
    pub config_file: Option<PathBuf>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings are logged at startup: keep secrets out of the logs.
        f.debug_struct("Settings")
            .field("http", &self.http)
            .field(
                "mqtt",
                &match &self.mqtt {
                    crate::mqtt::MqttMode::External { url } => {
                        format!("external {}", redact_url(url))
                    }
                    other => format!("{other:?}"),
                },
            )
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("demo", &self.demo)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("max_batch", &self.max_batch)
            .field("snapshot_every", &self.snapshot_every)
            .field("access_token_minutes", &self.access_token_minutes)
            .field("refresh_token_hours", &self.refresh_token_hours)
            .field("log_format", &self.log_format)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field("delivery_alert_seconds", &self.delivery_alert_seconds)
            .field("heartbeat_seconds", &self.heartbeat_seconds)
            .field(
                "http_header_timeout_seconds",
                &self.http_header_timeout_seconds,
            )
            .field("http_idle_timeout_seconds", &self.http_idle_timeout_seconds)
            .field("http_max_connections", &self.http_max_connections)
            .field(
                "http_max_connections_per_address",
                &self.http_max_connections_per_address,
            )
            .field("http_fd_reserve", &self.http_fd_reserve)
            .field("reading_retention_days", &self.reading_retention_days)
            .field("config_file", &self.config_file)
            .finish()
    }
}

/// Flags and environment win over the file; within one source an external broker and an
/// embedded listen address exclude each other (clap checks that for flags).
fn resolve_mqtt(
    cli_listen: Option<MqttListen>,
    cli_broker: Option<String>,
    file_listen: Option<MqttListen>,
    file_broker: Option<String>,
) -> anyhow::Result<crate::mqtt::MqttMode> {
    use crate::mqtt::MqttMode;
    if file_listen.is_some() && file_broker.is_some() {
        bail!("the config file sets both mqtt and mqtt_broker; keep one");
    }
    let mode = match (cli_listen, cli_broker, file_listen, file_broker) {
        (Some(MqttListen::Off), _, _, _) => MqttMode::Off,
        (Some(MqttListen::At(listen)), _, _, _) => MqttMode::Embedded {
            listen,
            required: true,
        },
        (None, Some(url), _, _) | (None, None, None, Some(url)) => {
            crate::mqtt::external::parse_url(&url).context("mqtt_broker")?;
            MqttMode::External { url }
        }
        (None, None, Some(MqttListen::Off), _) => MqttMode::Off,
        (None, None, Some(MqttListen::At(listen)), _) => MqttMode::Embedded {
            listen,
            required: true,
        },
        (None, None, None, None) => MqttMode::Embedded {
            listen: DEFAULT_MQTT,
            required: false,
        },
    };
    Ok(mode)
}

/// Replaces the password of `scheme://user:password@host` with `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Command-line flags and their environment variables. Every field is an `Option` so a
/// value that was not given can fall through to the file and then the default.
#[derive(Debug, Parser)]
#[command(
    name = "hub",
    version,
    about = "Almahira Hub: the real-time kitchen and floor core of a restaurant",
    after_help = "Precedence: flags, then environment variables, then the --config file, then defaults.\n\
                  Environment only: HUB_JWT_SECRET (at least 32 bytes) signs staff tokens; \
                  without it the hub generates a key once and keeps it in the database \
                  (settings table), so tokens outlive a restart."
)]
struct Cli {
    /// TOML file with settings (keys as the long flags, with underscores: max_batch = 64).
    #[arg(long, env = "HUB_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address for HTTP and WebSocket clients [default: 0.0.0.0:8080]
    #[arg(long, env = "HUB_HTTP", value_name = "ADDR")]
    http: Option<SocketAddr>,

    /// PostgreSQL URL; without it the hub uses an embedded SQLite database in --data-dir.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    database_url: Option<String>,

    /// Directory of the embedded SQLite database, created if missing [default: ./data]
    #[arg(long, env = "HUB_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Seed a demo venue (menu, floor, staff) on first start; --demo=false turns it off.
    #[arg(
        long,
        env = "HUB_DEMO",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    demo: Option<bool>,

    /// Most commands per venue committed in one transaction; 1 disables group commit
    /// [default: 256]
    #[arg(long, env = "HUB_MAX_BATCH", value_name = "N")]
    max_batch: Option<usize>,

    /// Write a venue snapshot every N events, so restarts replay few events [default: 1000]
    #[arg(long, env = "HUB_SNAPSHOT_EVERY", value_name = "N")]
    snapshot_every: Option<u64>,

    /// Lifetime of staff access tokens, in minutes [default: 15]
    #[arg(long, env = "HUB_ACCESS_TOKEN_MINUTES", value_name = "MINUTES")]
    access_token_minutes: Option<u32>,

    /// Lifetime of staff refresh tokens, in hours (one shift) [default: 12]
    #[arg(long, env = "HUB_REFRESH_TOKEN_HOURS", value_name = "HOURS")]
    refresh_token_hours: Option<u32>,

    /// Log line format; RUST_LOG selects what is logged [default: text]
    #[arg(long, env = "HUB_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    /// Seconds in-flight requests get to finish after Ctrl-C or SIGTERM [default: 10]
    #[arg(long, env = "HUB_SHUTDOWN_GRACE_SECONDS", value_name = "SECONDS")]
    shutdown_grace_seconds: Option<u64>,

    /// Seconds a fired ticket may go unseen by its station's screens before an alert; 0 = off [default: 10]
    #[arg(long, env = "HUB_DELIVERY_ALERT_SECONDS", value_name = "SECONDS")]
    delivery_alert_seconds: Option<f64>,

    /// Seconds between heartbeats to screens; three missed answers drop the screen [default: 15]
    #[arg(long, env = "HUB_HEARTBEAT_SECONDS", value_name = "SECONDS")]
    heartbeat_seconds: Option<f64>,

    /// Seconds an HTTP connection gets to send a whole request head after it opens or after
    /// its previous answer; also how long an idle keep-alive connection stays [default: 10]
    #[arg(long, env = "HUB_HTTP_HEADER_TIMEOUT_SECONDS", value_name = "SECONDS")]
    http_header_timeout_seconds: Option<f64>,

    /// Seconds a connection in the middle of a request may move no bytes before it is
    /// closed [default: 60]
    #[arg(long, env = "HUB_HTTP_IDLE_TIMEOUT_SECONDS", value_name = "SECONDS")]
    http_idle_timeout_seconds: Option<f64>,

    /// Most HTTP and WebSocket connections open at once [default: 10000]
    #[arg(long, env = "HUB_HTTP_MAX_CONNECTIONS", value_name = "N")]
    http_max_connections: Option<usize>,

    /// Most connections open at once from one client address; 0 = no cap [default: 256]
    #[arg(long, env = "HUB_HTTP_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    http_max_connections_per_address: Option<usize>,

    /// Open files HTTP leaves to the store and the MQTT port [default: a quarter of the
    /// open-files limit, at least 64]
    #[arg(long, env = "HUB_HTTP_FD_RESERVE", value_name = "N")]
    http_fd_reserve: Option<u64>,

    /// Days raw probe readings are kept (day summaries stay); 0 = for ever [default: 90]
    #[arg(long, env = "HUB_READING_RETENTION_DAYS", value_name = "DAYS")]
    reading_retention_days: Option<u32>,

    /// Address of the embedded MQTT broker for kitchen devices, or `off` [default: 0.0.0.0:1883]
    #[arg(long, env = "HUB_MQTT", value_name = "ADDR|off", value_parser = parse_mqtt_listen)]
    mqtt: Option<MqttListen>,

    /// Use this MQTT broker instead of the embedded one: mqtt://[user:password@]host[:port]
    #[arg(
        long,
        env = "HUB_MQTT_BROKER",
        value_name = "URL",
        conflicts_with = "mqtt"
    )]
    mqtt_broker: Option<String>,

    /// Benchmark baseline: count device messages and drop them (no bridge)
    #[cfg(feature = "testkit")]
    #[arg(long, env = "HUB_MQTT_DRAIN_ONLY", hide = true)]
    mqtt_drain_only: bool,
}

/// `--mqtt`: an address, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
enum MqttListen {
    Off,
    At(SocketAddr),
}

impl TryFrom<String> for MqttListen {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        parse_mqtt_listen(&value)
    }
}

fn parse_mqtt_listen(value: &str) -> Result<MqttListen, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(MqttListen::Off);
    }
    value
        .parse()
        .map(MqttListen::At)
        .map_err(|_| format!("{value:?} is neither an address like 0.0.0.0:1883 nor `off`"))
}

/// The TOML file. Unknown keys are an error naming the key, so a typo is never ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    http: Option<SocketAddr>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    demo: Option<bool>,
    jwt_secret: Option<String>,
    max_batch: Option<usize>,
    snapshot_every: Option<u64>,
    access_token_minutes: Option<u32>,
    refresh_token_hours: Option<u32>,
    log_format: Option<LogFormat>,
    shutdown_grace_seconds: Option<u64>,
    delivery_alert_seconds: Option<f64>,
    heartbeat_seconds: Option<f64>,
    http_header_timeout_seconds: Option<f64>,
    http_idle_timeout_seconds: Option<f64>,
    http_max_connections: Option<usize>,
    http_max_connections_per_address: Option<usize>,
    http_fd_reserve: Option<u64>,
    mqtt: Option<MqttListen>,
    mqtt_broker: Option<String>,
    reading_retention_days: Option<u32>,
}

impl FileSettings {
    fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
    }
}

impl Settings {
    /// Settings of the running process. `--help`, `--version` and flag errors print and
    /// exit here, as command-line tools do.
    pub fn from_args_and_env() -> anyhow::Result<Settings> {
        let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
        Self::resolve(cli, std::env::var(JWT_SECRET_ENV).ok())
    }

    /// Settings from `args` (the first is the program name) and the process environment;
    /// flag errors and `--help` are returned as errors instead of exiting.
    pub fn parse_from<I, T>(args: I) -> anyhow::Result<Settings>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        Self::resolve(cli, std::env::var(JWT_SECRET_ENV).ok())
    }

    /// Settings for a hub inside a test: a free port on localhost, the given database
    /// and directory, a fixed token key so tests can mint their own tokens, and a
    /// one-second shutdown grace so tests end quickly.
    #[cfg(any(test, feature = "testkit"))]
    pub fn for_tests(database_url: Option<String>, data_dir: impl Into<PathBuf>) -> Settings {
        Settings {
            http: SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            database_url,
            data_dir: data_dir.into(),
            demo: false,
            jwt_secret: Some("almahira-hub-test-secret-not-for-production".to_owned()),
            max_batch: DEFAULT_MAX_BATCH,
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            access_token_minutes: DEFAULT_ACCESS_TOKEN_MINUTES,
            refresh_token_hours: DEFAULT_REFRESH_TOKEN_HOURS,
            log_format: LogFormat::Text,
            shutdown_grace_seconds: 1,
            delivery_alert_seconds: DEFAULT_DELIVERY_ALERT_SECONDS,
            heartbeat_seconds: DEFAULT_HEARTBEAT_SECONDS,
            http_header_timeout_seconds: DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS,
            http_idle_timeout_seconds: DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS,
            http_max_connections: DEFAULT_HTTP_MAX_CONNECTIONS,
            http_max_connections_per_address: DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDRESS,
            http_fd_reserve: None,
            mqtt: crate::mqtt::MqttMode::Off,
            #[cfg(feature = "testkit")]
            mqtt_drain_only: false,
            reading_retention_days: DEFAULT_READING_RETENTION_DAYS,
            config_file: None,
        }
    }

    /// Token lifetimes for [`crate::auth::TokenKeys::with_lifetimes`].
    pub fn token_lifetimes(&self) -> TokenLifetimes {
        TokenLifetimes {
            access: chrono::Duration::minutes(i64::from(self.access_token_minutes)),
            refresh: chrono::Duration::hours(i64::from(self.refresh_token_hours)),
        }
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// Merges flags/environment (`cli`, already combined by clap) over the file over the
    /// defaults, then checks the result.
    fn resolve(cli: Cli, jwt_secret_env: Option<String>) -> anyhow::Result<Settings> {
        let file = match &cli.config {
            Some(path) => FileSettings::load(path)?,
            None => FileSettings::default(),
        };
        let settings = Settings {
            http: cli.http.or(file.http).unwrap_or(DEFAULT_HTTP),
            database_url: cli.database_url.or(file.database_url),
            data_dir: cli
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            demo: cli.demo.or(file.demo).unwrap_or(false),
            jwt_secret: jwt_secret_env.or(file.jwt_secret),
            max_batch: cli
                .max_batch
                .or(file.max_batch)
                .unwrap_or(DEFAULT_MAX_BATCH),
            snapshot_every: cli
                .snapshot_every
                .or(file.snapshot_every)
                .unwrap_or(DEFAULT_SNAPSHOT_EVERY),
            access_token_minutes: cli
                .access_token_minutes
                .or(file.access_token_minutes)
                .unwrap_or(DEFAULT_ACCESS_TOKEN_MINUTES),
            refresh_token_hours: cli
                .refresh_token_hours
                .or(file.refresh_token_hours)
                .unwrap_or(DEFAULT_REFRESH_TOKEN_HOURS),
            log_format: cli.log_format.or(file.log_format).unwrap_or_default(),
            shutdown_grace_seconds: cli
                .shutdown_grace_seconds
                .or(file.shutdown_grace_seconds)
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS),
            delivery_alert_seconds: cli
                .delivery_alert_seconds
                .or(file.delivery_alert_seconds)
                .unwrap_or(DEFAULT_DELIVERY_ALERT_SECONDS),
            heartbeat_seconds: cli
                .heartbeat_seconds
                .or(file.heartbeat_seconds)
                .unwrap_or(DEFAULT_HEARTBEAT_SECONDS),
            http_header_timeout_seconds: cli
                .http_header_timeout_seconds
                .or(file.http_header_timeout_seconds)
                .unwrap_or(DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS),
            http_idle_timeout_seconds: cli
                .http_idle_timeout_seconds
                .or(file.http_idle_timeout_seconds)
                .unwrap_or(DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS),
            http_max_connections: cli
                .http_max_connections
                .or(file.http_max_connections)
                .unwrap_or(DEFAULT_HTTP_MAX_CONNECTIONS),
            http_max_connections_per_address: cli
                .http_max_connections_per_address
                .or(file.http_max_connections_per_address)
                .unwrap_or(DEFAULT_HTTP_MAX_CONNECTIONS_PER_ADDRESS),
            http_fd_reserve: cli.http_fd_reserve.or(file.http_fd_reserve),
            mqtt: resolve_mqtt(cli.mqtt, cli.mqtt_broker, file.mqtt, file.mqtt_broker)?,
            #[cfg(feature = "testkit")]
            mqtt_drain_only: cli.mqtt_drain_only,
            reading_retention_days: cli
                .reading_retention_days
                .or(file.reading_retention_days)
                .unwrap_or(DEFAULT_READING_RETENTION_DAYS),
            config_file: cli.config,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The device side's configuration.
    pub fn mqtt_config(&self) -> crate::mqtt::MqttConfig {
        crate::mqtt::MqttConfig {
            mode: self.mqtt.clone(),
            #[cfg(feature = "testkit")]
            drain_only: self.mqtt_drain_only,
            ..crate::mqtt::MqttConfig::default()
        }
    }

    /// Timings of the WebSocket gateway.
    pub fn gateway(&self) -> crate::ws::GatewayConfig {
        let heartbeat = Duration::from_secs_f64(self.heartbeat_seconds);
        crate::ws::GatewayConfig {
            heartbeat_interval: heartbeat,
            heartbeat_timeout: heartbeat * 3,
            delivery_timeout: Duration::from_secs_f64(self.delivery_alert_seconds),
            ..crate::ws::GatewayConfig::default()
        }
    }

    /// How the HTTP port treats connections.
    pub fn http_server(&self) -> crate::http::server::ServerConfig {
        crate::http::server::ServerConfig {
            header_timeout: Duration::from_secs_f64(self.http_header_timeout_seconds),
            idle_timeout: Duration::from_secs_f64(self.http_idle_timeout_seconds),
            limits: crate::http::admission::Limits {
                max_connections: self.http_max_connections,
                max_per_address: self.http_max_connections_per_address,
                fd_reserve: self.http_fd_reserve,
            },
        }
    }

    /// Tuning of the readings recorder.
    pub fn readings(&self) -> crate::readings::RecorderConfig {
        crate::readings::RecorderConfig {
            retention: (self.reading_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(self.reading_retention_days) * 24 * 3600)),
            ..crate::readings::RecorderConfig::default()
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(self.delivery_alert_seconds >= 0.0 && self.delivery_alert_seconds <= 3600.0) {
            bail!("delivery_alert_seconds must be between 0 (off) and 3600");
        }
        if !(self.heartbeat_seconds >= 0.05 && self.heartbeat_seconds <= 300.0) {
            bail!("heartbeat_seconds must be between 0.05 and 300");
        }
        if !(self.http_header_timeout_seconds >= 0.05 && self.http_header_timeout_seconds <= 3600.0)
        {
            bail!("http_header_timeout_seconds must be between 0.05 and 3600");
        }
        if !(self.http_idle_timeout_seconds >= 0.05 && self.http_idle_timeout_seconds <= 86_400.0) {
            bail!("http_idle_timeout_seconds must be between 0.05 and 86400");
        }
        if self.http_max_connections == 0 {
            bail!("http_max_connections must be at least 1");
        }
        if self.max_batch == 0 {
            bail!("max_batch must be at least 1 (1 disables group commit)");
        }
        if self.snapshot_every == 0 {
            bail!("snapshot_every must be at least 1");
        }
        if self.access_token_minutes == 0 || self.refresh_token_hours == 0 {
            bail!("access_token_minutes and refresh_token_hours must be at least 1");
        }
        if u64::from(self.access_token_minutes) > u64::from(self.refresh_token_hours) * 60 {
            bail!("access tokens must not outlive refresh tokens");
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < MIN_JWT_SECRET_BYTES
        {
            bail!("the JWT secret must be at least {MIN_JWT_SECRET_BYTES} bytes");
        }
        if matches!(&self.database_url, Some(url) if url.trim().is_empty()) {
            bail!("database_url is empty; leave it unset to use the embedded database");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, process::Command};

    use clap::{CommandFactory, FromArgMatches};

    use super::*;

    /// Parses like [`Settings::parse_from`] but with every environment variable ignored,
    /// so these tests do not depend on (or change) the environment they run in.
    fn parse_without_env(args: &[&str]) -> anyhow::Result<Settings> {
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches =
            command.try_get_matches_from(std::iter::once("hub").chain(args.iter().copied()))?;
        Settings::resolve(Cli::from_arg_matches(&matches)?, None)
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let settings = parse_without_env(&[]).unwrap();
        assert_eq!(settings.http, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(settings.database_url, None);
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert!(!settings.demo);
        assert_eq!(settings.jwt_secret, None);
        assert_eq!(settings.max_batch, 256);
        assert_eq!(settings.snapshot_every, 1000);
        assert_eq!(settings.access_token_minutes, 15);
        assert_eq!(settings.refresh_token_hours, 12);
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.shutdown_grace_seconds, 10);
        assert_eq!(settings.token_lifetimes(), TokenLifetimes::default());
        assert_eq!(settings.reading_retention_days, 90);
        assert_eq!(settings.http_header_timeout_seconds, 10.0);
        assert_eq!(settings.http_idle_timeout_seconds, 60.0);
        assert_eq!(settings.http_max_connections, 10_000);
        assert_eq!(settings.http_max_connections_per_address, 256);
        assert_eq!(settings.http_fd_reserve, None);
        assert_eq!(
            settings.readings().retention,
            Some(Duration::from_secs(90 * 24 * 3600))
        );
    }

    #[test]
    fn the_file_overrides_defaults_and_flags_override_the_file() {
        let file = config_file(
            r#"
            http = "127.0.0.1:9000"
            data_dir = "/var/lib/hub"
            max_batch = 64
            demo = true
            log_format = "json"
            jwt_secret = "0123456789abcdef0123456789abcdef"
            http_max_connections_per_address = 8
            http_header_timeout_seconds = 2.5
            "#,
        );
        let path = file.path().to_str().unwrap();
        let settings =
            parse_without_env(&["--config", path, "--max-batch", "1", "--demo=false"]).unwrap();
        assert_eq!(settings.max_batch, 1, "flag beats file");
        assert!(!settings.demo, "flag beats file");
        assert_eq!(
            settings.http,
            "127.0.0.1:9000".parse().unwrap(),
            "file beats default"
        );
        assert_eq!(settings.data_dir, PathBuf::from("/var/lib/hub"));
        assert_eq!(settings.log_format, LogFormat::Json);
        assert!(settings.jwt_secret.is_some());
        assert_eq!(settings.snapshot_every, 1000, "default when neither says");
        assert_eq!(settings.http_max_connections_per_address, 8);
        assert_eq!(
            settings.http_server().header_timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(settings.config_file.as_deref(), Some(file.path()));
    }

    #[test]
    fn every_flag_is_understood() {
        let settings = parse_without_env(&[
            "--http=127.0.0.1:1",
            "--database-url=postgres://hub:pw@db/hub",
            "--data-dir=/tmp/x",
            "--demo",
            "--max-batch=2",
            "--snapshot-every=3",
            "--access-token-minutes=4",
            "--refresh-token-hours=5",
            "--log-format=json",
            "--shutdown-grace-seconds=6",
            "--http-header-timeout-seconds=2.5",
            "--http-idle-timeout-seconds=7",
            "--http-max-connections=100",
            "--http-max-connections-per-address=0",
            "--http-fd-reserve=32",
        ])
        .unwrap();
        assert_eq!(settings.http, "127.0.0.1:1".parse().unwrap());
        assert_eq!(
            settings.database_url.as_deref(),
            Some("postgres://hub:pw@db/hub")
        );
        assert_eq!(settings.data_dir, PathBuf::from("/tmp/x"));
        assert!(settings.demo);
        assert_eq!(
            (
                settings.max_batch,
                settings.snapshot_every,
                settings.access_token_minutes
            ),
            (2, 3, 4)
        );
        assert_eq!(settings.refresh_token_hours, 5);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(settings.shutdown_grace(), Duration::from_secs(6));
        assert_eq!(
            (
                settings.http_header_timeout_seconds,
                settings.http_idle_timeout_seconds
            ),
            (2.5, 7.0)
        );
        assert_eq!(
            (
                settings.http_max_connections,
                settings.http_max_connections_per_address,
                settings.http_fd_reserve
            ),
            (100, 0, Some(32))
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_rejected_by_name() {
        let file = config_file("max_bacth = 64\n");
        let err = parse_without_env(&["--config", file.path().to_str().unwrap()]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("max_bacth"), "{message}");
        assert!(
            message.contains(&file.path().display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error_naming_it() {
        let err = parse_without_env(&["--config", "/nonexistent/hub.toml"]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/hub.toml"));
    }

    #[test]
    fn a_bad_flag_value_is_an_error() {
        assert!(parse_without_env(&["--http", "not-an-address"]).is_err());
        assert!(parse_without_env(&["--log-format", "xml"]).is_err());
    }

    #[test]
    fn nonsense_values_are_rejected() {
        assert!(parse_without_env(&["--max-batch=0"]).is_err());
        assert!(parse_without_env(&["--snapshot-every=0"]).is_err());
        assert!(parse_without_env(&["--http-header-timeout-seconds=0"]).is_err());
        assert!(parse_without_env(&["--http-idle-timeout-seconds=-1"]).is_err());
        assert!(parse_without_env(&["--http-max-connections=0"]).is_err());
        assert!(parse_without_env(&["--access-token-minutes=0"]).is_err());
        assert!(
            parse_without_env(&["--access-token-minutes=800", "--refresh-token-hours=12"]).is_err()
        );
        let file = config_file("jwt_secret = \"short\"\n");
        let err = parse_without_env(&["--config", file.path().to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn settings_for_tests_bind_a_free_local_port() {
        let settings = Settings::for_tests(None, "/tmp/hub-test");
        assert_eq!(settings.http.port(), 0);
        assert!(settings.http.ip().is_loopback());
        assert!(settings.validate().is_ok());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut settings =
            Settings::for_tests(Some("postgres://hub:hunter2@db:5432/hub".into()), "d");
        settings.jwt_secret = Some("x".repeat(40));
        let text = format!("{settings:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains(&"x".repeat(40)), "{text}");
        assert!(text.contains("postgres://hub:***@db:5432/hub"), "{text}");
    }

    #[test]
    fn help_documents_every_flag() {
        let help = Cli::command().render_long_help().to_string();
        for flag in [
            "--config",
            "--http",
            "--database-url",
            "--data-dir",
            "--demo",
            "--max-batch",
            "--snapshot-every",
            "--access-token-minutes",
            "--refresh-token-hours",
            "--log-format",
            "--shutdown-grace-seconds",
            "--http-header-timeout-seconds",
            "--http-idle-timeout-seconds",
            "--http-max-connections",
            "--http-max-connections-per-address",
            "--http-fd-reserve",
            "HUB_JWT_SECRET",
        ] {
            assert!(help.contains(flag), "{flag} missing from help");
        }
        Cli::command().debug_assert();
    }

    /// The signing key lives where `Application::build` keeps it: the `settings` table.
    #[test]
    fn help_says_the_generated_signing_key_is_kept_in_the_database() {
        let help = Cli::command()
            .render_long_help()
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            help.contains("generates a key once and keeps it in the database (settings table)"),
            "{help}"
        );
        assert!(
            !help.contains("generated keys"),
            "the data directory holds no keys: {help}"
        );
    }

    const CHILD_ARGS: &str = "HUB_TEST_CHILD_ARGS";

    /// Runs this test binary again with a prepared environment, so precedence through real
    /// environment variables is tested without touching this process's environment.
    #[test]
    fn environment_beats_the_file_and_flags_beat_the_environment() {
        let file = config_file(
            "max_batch = 7\nsnapshot_every = 70\ndata_dir = \"/from/file\"\njwt_secret = \"from-file-from-file-from-file-from-file\"\n",
        );
        let args = format!("--config={}\u{1f}--max-batch=9", file.path().display());
        let mut child = Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "config::tests::child_prints_resolved_settings",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("HUB_") || name == "DATABASE_URL" {
                child.env_remove(name);
            }
        }
        let output = child
            .env(CHILD_ARGS, args)
            .env("HUB_MAX_BATCH", "8")
            .env("HUB_SNAPSHOT_EVERY", "80")
            .env("HUB_JWT_SECRET", "from-env-from-env-from-env-from-env!")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.find("RESOLVED ").map(|at| &l[at..]))
            .unwrap_or_else(|| panic!("child printed no settings: {stdout}"));
        assert_eq!(
            line,
            "RESOLVED max_batch=9 snapshot_every=80 data_dir=/from/file \
             jwt_secret=from-env-from-env-from-env-from-env! http=0.0.0.0:8080"
        );
    }

    #[test]
    #[ignore = "run by environment_beats_the_file_and_flags_beat_the_environment"]
    fn child_prints_resolved_settings() {
        let Ok(args) = std::env::var(CHILD_ARGS) else {
            return;
        };
        let args = std::iter::once("hub").chain(args.split('\u{1f}'));
        let s = Settings::parse_from(args).unwrap();
        println!(
            "RESOLVED max_batch={} snapshot_every={} data_dir={} jwt_secret={} http={}",
            s.max_batch,
            s.snapshot_every,
            s.data_dir.display(),
            s.jwt_secret.unwrap_or_default(),
            s.http
        );
    }
}
