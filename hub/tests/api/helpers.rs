//! Owns starting real hubs for tests (in process on port 0, or as the `hub` binary) against
//! a `TestDatabase`, and a small JSON HTTP client. Every hub is seeded with the demo venue
//! (`hub --demo`), so tests log in with its PINs. `TEST_LOG=1` shows the hub's logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{net::SocketAddr, process::Stdio, time::Duration};

use hub::{
    app::Application,
    config::{LogFormat, Settings},
    state::AppState,
};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::oneshot,
    task::JoinHandle,
};
use uuid::Uuid;

use crate::database::TestDatabase;

pub const MANAGER_PIN: &str = "1111";
pub const CASHIER_PIN: &str = "2222";
pub const WAITER_PIN: &str = "3333";
pub const KITCHEN_PIN: &str = "4444";

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        hub::telemetry::init_tracing(LogFormat::Text);
    }
}

/// A hub running inside the test process.
pub struct TestHub {
    pub address: SocketAddr,
    /// Where devices connect, when the test asked for the embedded broker.
    pub mqtt: Option<SocketAddr>,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _data_dir: TempDir,
}

impl TestHub {
    pub async fn start(db: &TestDatabase) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDatabase, configure: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let data_dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_tests(Some(db.url().to_owned()), data_dir.path());
        settings.demo = true;
        configure(&mut settings);
        let app = Application::build(settings).await.expect("the hub starts");
        let address = app.address();
        let mqtt = app.mqtt_address();
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            mqtt,
            state,
            stop: Some(stop),
            task: Some(task),
            _data_dir: data_dir,
        }
    }

    /// A hub with the embedded MQTT broker on a free loopback port.
    pub async fn start_with_mqtt(db: &TestDatabase) -> Self {
        Self::start_with(db, |settings| {
            settings.mqtt = hub::mqtt::MqttMode::Embedded {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                required: true,
            };
        })
        .await
    }

    pub fn client(&self) -> Api {
        Api::new(format!("http://{}", self.address))
    }

    /// Logs in with a demo PIN and returns a client carrying the access token.
    pub async fn login(&self, pin: &str) -> Api {
        self.client().login(pin).await
    }

    /// Graceful stop: queued commands are flushed and snapshots written.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// The `hub` binary running as a child process (for tests that kill it or read what it
/// prints).
pub struct HubProcess {
    pub child: tokio::process::Child,
    pub address: SocketAddr,
    /// Where devices connect, when started with the embedded broker.
    pub mqtt: Option<SocketAddr>,
    /// Every line the hub printed on stdout so far.
    printed: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    database_url: String,
    options: ProcessOptions,
    data_dir: TempDir,
}

/// How [`HubProcess::start_with`] runs the binary.
#[derive(Clone, Debug, Default)]
pub struct ProcessOptions {
    /// The embedded MQTT broker on a free loopback port (otherwise `--mqtt off`).
    pub mqtt: bool,
    /// Started through `sh -c 'ulimit -n N; exec hub ...'`.
    pub open_files_limit: Option<u32>,
    /// More flags.
    pub args: Vec<String>,
}

impl HubProcess {
    pub async fn start(db: &TestDatabase) -> Self {
        Self::start_with(db, ProcessOptions::default()).await
    }

    pub async fn start_with(db: &TestDatabase, options: ProcessOptions) -> Self {
        Self::start_in(db.url().to_owned(), tempfile::tempdir().unwrap(), options).await
    }

    async fn start_in(database_url: String, data_dir: TempDir, options: ProcessOptions) -> Self {
        let binary = env!("CARGO_BIN_EXE_hub");
        let mut command = match options.open_files_limit {
            Some(limit) => {
                let mut shell = tokio::process::Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(binary);
                shell
            }
            None => tokio::process::Command::new(binary),
        };
        let mqtt = if options.mqtt { "127.0.0.1:0" } else { "off" };
        let mut child = command
            .args([
                "--http",
                "127.0.0.1:0",
                "--mqtt",
                mqtt,
                "--demo",
                "--data-dir",
            ])
            .arg(data_dir.path())
            .args(&options.args)
            .env("DATABASE_URL", &database_url)
            .env("RUST_LOG", "warn")
            .env_remove("HUB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the hub binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (address, mqtt) = tokio::time::timeout(Duration::from_secs(60), async {
            let mut address = None;
            while let Some(line) = lines.next_line().await.unwrap() {
                printed.lock().unwrap().push(line.clone());
                if let Some(rest) = line.strip_prefix("Almahira Hub listening on http://") {
                    let http = rest.split_whitespace().next().unwrap();
                    address = Some(http.parse::<SocketAddr>().unwrap());
                    if !options.mqtt {
                        return (address.unwrap(), None);
                    }
                }
                if let Some(rest) = line.trim().strip_prefix("devices (MQTT) mqtt://") {
                    let mqtt = rest.parse::<SocketAddr>().unwrap();
                    return (address.expect("the HTTP line comes first"), Some(mqtt));
                }
            }
            panic!("the hub exited before it listened");
        })
        .await
        .expect("the hub listens within a minute");
        // Keep draining stdout so the child never blocks on a full pipe.
        let keep = printed.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            address,
            mqtt,
            printed,
            database_url,
            options,
            data_dir,
        }
    }

    pub fn client(&self) -> Api {
        Api::new(format!("http://{}", self.address))
    }

    /// What the hub printed once it has printed a line containing `last` (10 s at most).
    pub async fn printed_through(&self, last: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let printed = self.printed.lock().unwrap().clone();
            if printed.iter().any(|line| line.contains(last)) {
                return printed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the hub never printed {last:?}; it printed:\n{}",
                printed.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the hub with SIGTERM and starts it again on the same database.
    pub async fn restart(mut self) -> Self {
        let pid = self.child.id().unwrap().to_string();
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the hub stops")
            .unwrap();
        assert!(status.success(), "exit status {status}");
        Self::start_in(self.database_url, self.data_dir, self.options).await
    }
}

/// An answer: status, headers and the JSON body (`Value::Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The stable error code of an error answer.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        self.body
    }

    #[track_caller]
    pub fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
    }
}

/// A JSON client for one hub, optionally carrying a bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub async fn login(&self, pin: &str) -> Api {
        let body = self
            .post("/api/v1/auth/login", json!({"venue": "demo", "pin": pin}))
            .await
            .expect(StatusCode::OK);
        self.with_token(body["access_token"].as_str().unwrap())
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.try_send(method, path, body).await.unwrap()
    }

    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<Reply> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// Sends a raw body with a content type, for malformed-input tests.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }
}

/// What tests need to know of the demo venue, read through the API.
pub struct Demo {
    /// Tables by label.
    pub tables: Vec<(String, String)>,
    /// Available items that need no modifier choice: `(id, name, stations)`.
    pub simple_items: Vec<(String, String, Vec<String>)>,
}

impl Demo {
    pub async fn read(api: &Api) -> Self {
        let floor = api.get("/api/v1/floor").await.expect(StatusCode::OK);
        let tables = floor["areas"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["tables"].as_array().unwrap().clone())
            .map(|t| {
                (
                    t["label"].as_str().unwrap().to_owned(),
                    t["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let menu = api.get("/api/v1/menu").await.expect(StatusCode::OK);
        let required: Vec<&str> = menu["modifier_groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["min_choices"].as_u64().unwrap_or(0) > 0)
            .map(|g| g["id"].as_str().unwrap())
            .collect();
        let simple_items = menu["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["available"].as_bool() == Some(true))
            .filter(|i| {
                i["modifier_groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|g| !required.contains(&g.as_str().unwrap()))
            })
            .map(|i| {
                (
                    i["id"].as_str().unwrap().to_owned(),
                    i["name"].as_str().unwrap().to_owned(),
                    i["stations"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect(),
                )
            })
            .collect();
        Self {
            tables,
            simple_items,
        }
    }

    pub fn table(&self, index: usize) -> &str {
        &self.tables[index].1
    }

    pub fn item(&self, index: usize) -> &str {
        &self.simple_items[index % self.simple_items.len()].0
    }
}

pub fn command_id() -> String {
    Uuid::new_v4().to_string()
}

/// A dine-in order body for `table` with one line of each given item.
pub fn dine_in(table: &str, items: &[&str]) -> Value {
    json!({
        "command_id": command_id(),
        "kind": "dine_in",
        "table_id": table,
        "guests": 2,
        "lines": items.iter().map(|item| json!({"menu_item_id": item, "quantity": 1, "course": 1})).collect::<Vec<_>>(),
    })
}

pub fn takeaway(items: &[&str]) -> Value {
    json!({
        "command_id": command_id(),
        "kind": "takeaway",
        "customer": {"name": "Rina"},
        "lines": items.iter().map(|item| json!({"menu_item_id": item, "quantity": 1})).collect::<Vec<_>>(),
    })
}

/// Ids of an order's lines.
pub fn line_ids(order: &Value) -> Vec<Value> {
    order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].clone())
        .collect()
}
