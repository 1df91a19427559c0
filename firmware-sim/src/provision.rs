//! Device credentials: registering the simulated devices through the hub's REST API
//! (login and token refresh, stations and tables to pair with, `POST /api/v1/devices`, and
//! a secret rotation for a key that already exists), and the JSON credentials file that
//! lets a later run skip the API. Knows nothing about MQTT.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::scenario::{DevicePlan, Pairing};

/// How to log in to the hub: a username and password, or a staff PIN at the venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Password { username: String, password: String },
    Pin(String),
}

impl std::str::FromStr for Login {
    type Err = String;

    /// `user:password`, or a PIN of digits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((username, password)) = s.split_once(':') {
            if username.is_empty() || password.is_empty() {
                return Err("expected USER:PASSWORD or a PIN, e.g. owner:almahira-demo".into());
            }
            return Ok(Login::Password {
                username: username.to_owned(),
                password: password.to_owned(),
            });
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Login::Pin(s.to_owned()));
        }
        Err("expected USER:PASSWORD or a PIN of digits, e.g. owner:almahira-demo or 1111".into())
    }
}

/// How one device logs in to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCredential {
    pub key: String,
    /// `<venue>/<key>` at the hub's broker.
    pub username: String,
    pub password: String,
}

/// The credentials file (`--credentials`, `--save-credentials`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsFile {
    pub venue: String,
    pub devices: Vec<DeviceCredential>,
}

impl CredentialsFile {
    /// Credentials for a broker that takes anyone (a development Mosquitto): the hub's
    /// username scheme and an empty password.
    pub fn anonymous<'a>(venue: &str, keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            venue: venue.to_owned(),
            devices: keys
                .into_iter()
                .map(|key| DeviceCredential {
                    key: key.to_owned(),
                    username: format!("{venue}/{key}"),
                    password: String::new(),
                })
                .collect(),
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading credentials file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a credentials file ({{\"venue\": ..., \"devices\": [{{\"key\", \
                 \"username\", \"password\"}}]}})",
                path.display()
            )
        })
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text)
            .with_context(|| format!("writing credentials file {}", path.display()))
    }

    /// Credentials by device key.
    pub fn by_key(&self) -> HashMap<&str, &DeviceCredential> {
        self.devices.iter().map(|d| (d.key.as_str(), d)).collect()
    }
}

/// A logged-in client of the hub's REST API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HubApi {
    http: reqwest::Client,
    base: String,
    venue: String,
    login: Login,
    tokens: Arc<Mutex<Tokens>>,
}

/// The current token pair and when the access token stops working.
#[derive(Debug)]
struct Tokens {
    access: String,
    refresh: Option<String>,
    expires: Instant,
}

/// Renew the access token this long before the hub would refuse it.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The hub's error body: `{"error": code, "message": ...}`.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
}

fn describe(status: StatusCode, body: &str) -> String {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => format!("{status} {}: {}", e.error, e.message),
        Err(_) => format!("{status}: {}", body.chars().take(200).collect::<String>()),
    }
}

fn error_code(body: &Value) -> Option<&str> {
    body.get("error").and_then(Value::as_str)
}

impl HubApi {
    /// Logs in at `base` (e.g. `http://127.0.0.1:8080`) for `venue`.
    pub async fn login(base: &str, venue: &str, login: Login) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        let api = Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            venue: venue.to_owned(),
            login,
            tokens: Arc::new(Mutex::new(Tokens {
                access: String::new(),
                refresh: None,
                expires: Instant::now(),
            })),
        };
        api.log_in().await?;
        Ok(api)
    }

    /// The hub's base address (`http://host:port`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The venue slug this client is logged in at.
    pub fn venue(&self) -> &str {
        &self.venue
    }

    /// An access token that is good for at least another minute: the current one, or a
    /// new one from `POST /api/v1/auth/refresh` (logging in again if the refresh token is
    /// refused). For connections that present the token once, like the WebSocket.
    pub async fn access_token(&self) -> anyhow::Result<String> {
        let (fresh, refresh) = match self.tokens.lock() {
            Ok(tokens) => (
                (tokens.expires > Instant::now() + TOKEN_MARGIN).then(|| tokens.access.clone()),
                tokens.refresh.clone(),
            ),
            Err(_) => (None, None),
        };
        if let Some(token) = fresh {
            return Ok(token);
        }
        self.renew_token(refresh).await?;
        Ok(self.bearer())
    }

    /// Replaces a token the hub refused (or that is about to expire): refresh, else log in.
    pub async fn renew_access_token(&self) -> anyhow::Result<()> {
        let refresh = self.tokens.lock().ok().and_then(|t| t.refresh.clone());
        self.renew_token(refresh).await
    }

    async fn renew_token(&self, refresh: Option<String>) -> anyhow::Result<()> {
        if let Some(refresh) = refresh {
            let url = format!("{}/api/v1/auth/refresh", self.base);
            let answer = self
                .http
                .post(&url)
                .json(&json!({"refresh_token": refresh}))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
                && let Ok(value) = response.json::<Value>().await
                && self.store_tokens(&value).is_ok()
            {
                return Ok(());
            }
        }
        self.log_in().await
    }

    /// Keeps the tokens of a login or refresh answer.
    fn store_tokens(&self, answer: &Value) -> anyhow::Result<()> {
        let access = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the hub's token answer has no access_token"))?;
        // Without `expires_in` assume the hub's default of 15 minutes.
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(15 * 60);
        if let Ok(mut tokens) = self.tokens.lock() {
            *tokens = Tokens {
                access: access.to_owned(),
                refresh: answer
                    .get("refresh_token")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                expires: Instant::now() + Duration::from_secs(lifetime),
            };
        }
        Ok(())
    }

    /// Logs in again with the credentials given at start.
    async fn log_in(&self) -> anyhow::Result<()> {
        let body = match &self.login {
            Login::Password { username, password } => {
                json!({"venue": self.venue, "username": username, "password": password})
            }
            Login::Pin(pin) => json!({"venue": self.venue, "pin": pin}),
        };
        let url = format!("{}/api/v1/auth/login", self.base);
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("logging in at {url} (is the hub running?)"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("login at {url} refused: {}", describe(status, &text));
        }
        let value: Value = serde_json::from_str(&text).context("login answer is not JSON")?;
        self.store_tokens(&value)
    }

    fn bearer(&self) -> String {
        self.tokens
            .lock()
            .map(|t| t.access.clone())
            .unwrap_or_default()
    }

    /// One request; logs in again once if the token expired.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}/api/v1{path}", self.base);
        for attempt in 0..2 {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.bearer());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.renew_access_token().await?;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return Ok((status, value));
        }
        bail!("{method} {url}: still unauthorised after logging in again")
    }

    async fn get_ok(&self, path: &str) -> anyhow::Result<Value> {
        let (status, value) = self.call(reqwest::Method::GET, path, None).await?;
        if !status.is_success() {
            bail!(
                "GET /api/v1{path}: {}",
                describe(status, &value.to_string())
            );
        }
        Ok(value)
    }

    /// Station ids by key (`grill` -> uuid).
    pub async fn stations(&self) -> anyhow::Result<HashMap<String, String>> {
        let value = self.get_ok("/stations").await?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| Some((s["key"].as_str()?.to_owned(), s["id"].as_str()?.to_owned())))
            .collect())
    }

    /// Table ids by label (`7` -> uuid), from the floor plan.
    pub async fn tables(&self) -> anyhow::Result<HashMap<String, String>> {
        let value = self.get_ok("/floor").await?;
        Ok(value["areas"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|area| area["tables"].as_array().into_iter().flatten())
            .filter_map(|t| {
                Some((
                    t["label"].as_str()?.to_owned(),
                    t["id"].as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    /// Registered device ids by key.
    pub async fn device_ids(&self) -> anyhow::Result<HashMap<String, String>> {
        let value = self.get_ok("/devices").await?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["key"].as_str()?.to_owned(), d["id"].as_str()?.to_owned())))
            .collect())
    }

    /// Registers one device and returns its credentials; a key that is already registered
    /// gets a fresh secret instead (the old one stops working).
    pub async fn provision(
        &self,
        plan: &DevicePlan,
        pairings: &Pairings,
    ) -> anyhow::Result<DeviceCredential> {
        let body = provision_body(plan, pairings)?;
        let (status, value) = self
            .call(reqwest::Method::POST, "/devices", Some(&body))
            .await?;
        let answer =
            if status == StatusCode::CONFLICT && error_code(&value) == Some("device_key_taken") {
                let id =
                    self.device_ids().await?.remove(&plan.key).ok_or_else(|| {
                        anyhow!("{} is taken but not in the device list", plan.key)
                    })?;
                let rotate = json!({"command_id": uuid::Uuid::new_v4()});
                let path = format!("/devices/{id}/rotate");
                let (status, value) = self
                    .call(reqwest::Method::POST, &path, Some(&rotate))
                    .await?;
                if !status.is_success() {
                    bail!(
                        "rotating the secret of {}: {}",
                        plan.key,
                        describe(status, &value.to_string())
                    );
                }
                value
            } else if status.is_success() {
                value
            } else {
                bail!(
                    "provisioning {}: {}",
                    plan.key,
                    describe(status, &value.to_string())
                );
            };
        let credentials = &answer["credentials"];
        let (Some(username), Some(password)) = (
            credentials["username"].as_str(),
            credentials["password"].as_str(),
        ) else {
            bail!("the hub's answer for {} carries no credentials", plan.key);
        };
        Ok(DeviceCredential {
            key: plan.key.clone(),
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }
}

/// What devices are paired with, looked up once per run.
#[derive(Debug, Clone, Default)]
pub struct Pairings {
    pub stations: HashMap<String, String>,
    pub tables: HashMap<String, String>,
}

/// The `POST /api/v1/devices` body for a plan.
pub fn provision_body(plan: &DevicePlan, pairings: &Pairings) -> anyhow::Result<Value> {
    let mut body = json!({
        "command_id": uuid::Uuid::new_v4(),
        "key": plan.key,
        "name": plan.name,
        "kind": plan.kind,
    });
    match &plan.pairing {
        Pairing::Probe(unit) => body["limits"] = unit.to_json(),
        Pairing::BumpBar { station_key } => {
            let id = pairings.stations.get(station_key).ok_or_else(|| {
                anyhow!(
                    "{} pairs with station {station_key:?}, which the venue does not have",
                    plan.key
                )
            })?;
            body["station_id"] = json!(id);
        }
        Pairing::Scanner { purpose } => body["purpose"] = json!(purpose),
        Pairing::CallButton { table_label } => {
            let id = pairings.tables.get(table_label).ok_or_else(|| {
                anyhow!(
                    "{} sits on table {table_label:?}, which the venue does not have",
                    plan.key
                )
            })?;
            body["table_id"] = json!(id);
        }
    }
    Ok(body)
}

/// Registers every device of the plan, `concurrency` at a time (the hub hashes each
/// secret, so thousands take a while), and returns their credentials in plan order.
pub async fn provision_fleet(
    api: &HubApi,
    plans: &[DevicePlan],
    concurrency: usize,
) -> anyhow::Result<CredentialsFile> {
    let needs_stations = plans
        .iter()
        .any(|p| matches!(p.pairing, Pairing::BumpBar { .. }));
    let needs_tables = plans
        .iter()
        .any(|p| matches!(p.pairing, Pairing::CallButton { .. }));
    let pairings = Arc::new(Pairings {
        stations: if needs_stations {
            api.stations().await?
        } else {
            HashMap::new()
        },
        tables: if needs_tables {
            api.tables().await?
        } else {
            HashMap::new()
        },
    });
    // Check every pairing before registering anything.
    for plan in plans {
        provision_body(plan, &pairings)?;
    }
    let mut results: Vec<Option<DeviceCredential>> = vec![None; plans.len()];
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < plans.len() || !running.is_empty() {
        while next < plans.len() && running.len() < concurrency.max(1) {
            let (api, pairings, plan) = (api.clone(), pairings.clone(), plans[next].clone());
            let index = next;
            running.spawn(async move { (index, api.provision(&plan, &pairings).await) });
            next += 1;
        }
        if let Some(joined) = running.join_next().await {
            let (index, credential) = joined.context("provisioning task failed")?;
            results[index] = Some(credential?);
        }
    }
    Ok(CredentialsFile {
        venue: api.venue.clone(),
        devices: results.into_iter().flatten().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{EveningOptions, evening};

    #[test]
    fn a_login_is_a_user_and_password_or_a_pin() {
        assert_eq!(
            "owner:almahira-demo".parse::<Login>(),
            Ok(Login::Password {
                username: "owner".into(),
                password: "almahira-demo".into()
            })
        );
        assert_eq!("1111".parse::<Login>(), Ok(Login::Pin("1111".into())));
        assert!("owner".parse::<Login>().is_err());
        assert!(":x".parse::<Login>().is_err());
    }

    #[test]
    fn provision_bodies_carry_the_pairing_each_kind_needs() {
        let scenario = evening(&EveningOptions {
            seed: 1,
            slow_batch: false,
            start: chrono::Utc::now(),
        });
        let pairings = Pairings {
            stations: [("grill".into(), "s-1".into()), ("wok".into(), "s-2".into())].into(),
            tables: [("7".into(), "t-7".into()), ("12".into(), "t-12".into())].into(),
        };
        let body = |key: &str| {
            let plan = scenario.devices.iter().find(|d| d.key == key).unwrap();
            provision_body(plan, &pairings).unwrap()
        };
        let probe = body("fridge-walkin");
        assert_eq!(probe["kind"], "probe");
        assert_eq!(probe["limits"]["max_celsius"], 5.0);
        assert!(probe["command_id"].is_string());
        assert_eq!(body("bump-grill")["station_id"], "s-1");
        assert_eq!(body("call-t12")["table_id"], "t-12");
        assert_eq!(body("scanner-dock")["purpose"], "receiving");
        assert_eq!(body("scanner-dock")["kind"], "scanner");
    }

    #[test]
    fn a_missing_station_is_named_before_anything_is_registered() {
        let scenario = evening(&EveningOptions {
            seed: 1,
            slow_batch: false,
            start: chrono::Utc::now(),
        });
        let plan = scenario
            .devices
            .iter()
            .find(|d| d.key == "bump-wok")
            .unwrap();
        let err = provision_body(plan, &Pairings::default()).unwrap_err();
        assert!(err.to_string().contains("station \"wok\""), "{err}");
    }

    #[test]
    fn a_credentials_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.json");
        let file = CredentialsFile::anonymous("demo", ["fridge-1", "bump-grill"]);
        assert_eq!(file.devices[1].username, "demo/bump-grill");
        file.save(&path).unwrap();
        assert_eq!(CredentialsFile::load(&path).unwrap(), file);
        std::fs::write(&path, "{\"venue\": 3}").unwrap();
        let err = CredentialsFile::load(&path).unwrap_err();
        assert!(format!("{err:#}").contains("not a credentials file"));
    }
}
