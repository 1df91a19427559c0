//! Watches the hub's food-safety alerts while the fleet runs: one WebSocket to the hub's
//! `/ws` (docs/websocket.md) subscribed to `alerts`, counting new alerts into [`Stats`]
//! and printing each as a story line. [`AlertFeed`] reads frames and says what to send
//! back (no I/O); [`AlertWatcher`] owns the socket, answers heartbeats, resumes with
//! `since` after a lost connection and renews the access token. It never holds up or
//! fails the device fleet: without the hub the run goes on with alerts not watched.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

use crate::progress::{SeenAlert, Stats, alert_line};
use crate::provision::HubApi;

/// The channel watched.
pub const CHANNEL: &str = "alerts";
/// The hub's heartbeat until its `welcome` says otherwise.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Give up on a connection attempt after this long.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// The close code of a refused or expired token.
const CLOSE_TOKEN_REFUSED: u16 = 4401;

/// What one frame from the hub asks of the watcher.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// A frame to send back: a `pong`, or a `subscribe` after `welcome` or to close a gap.
    pub reply: Option<String>,
    /// Alerts not seen before, in frame order.
    pub raised: Vec<SeenAlert>,
    /// Alerts that recovered or were acknowledged or resolved.
    pub changed: u64,
    /// The `alerts` channel is open (a snapshot or a `resumed` arrived).
    pub subscribed: bool,
    /// The hub's heartbeat interval, from `welcome`.
    pub heartbeat: Option<Duration>,
    /// The hub refused a frame of ours: `code: message`.
    pub refused: Option<String>,
}

/// The `alerts` channel as the watcher follows it: the last `seq` applied (to resume
/// without a gap) and every alert id already seen, so a replay or a later snapshot never
/// counts an alert twice.
#[derive(Debug, Default)]
pub struct AlertFeed {
    since: Option<u64>,
    /// Waiting for the `snapshot` or `resumed` that answers our `subscribe`.
    resyncing: bool,
    /// The first snapshot was taken: alerts open before the run are not counted.
    primed: bool,
    known: HashSet<String>,
    /// Device keys by device id, to name devices in story lines.
    device_keys: HashMap<String, String>,
}

impl AlertFeed {
    pub fn new(device_keys: HashMap<String, String>) -> Self {
        Self {
            device_keys,
            ..Self::default()
        }
    }

    /// The `subscribe` frame to send on a new connection or to close a gap: with `since`
    /// once a `seq` was applied, so the hub replays what was missed.
    pub fn subscribe(&mut self) -> String {
        self.resyncing = true;
        json!({"type": "subscribe", "channel": CHANNEL, "since": self.since}).to_string()
    }

    /// Reads one text frame from the hub.
    pub fn on_text(&mut self, text: &str) -> Step {
        let mut step = Step::default();
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return step;
        };
        let channel_is_ours = frame["channel"].as_str() == Some(CHANNEL);
        match frame["type"].as_str() {
            Some("welcome") => {
                step.reply = Some(self.subscribe());
                step.heartbeat = frame["heartbeat_seconds"]
                    .as_f64()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64);
            }
            Some("ping") => {
                step.reply = Some(json!({"type": "pong", "seq": frame["seq"]}).to_string());
            }
            Some("snapshot") if channel_is_ours => {
                self.since = frame["seq"].as_u64();
                self.resyncing = false;
                step.subscribed = true;
                let open = frame["data"]["food_safety"].as_array();
                for alert in open.into_iter().flatten() {
                    let Some(alert) = self.read_alert(alert) else {
                        continue;
                    };
                    // Open before the run began: not this run's. Later (after a lost
                    // socket or a resync) it was raised while we were away.
                    if self.known.insert(alert.id.clone()) && self.primed {
                        step.raised.push(alert);
                    }
                }
                self.primed = true;
            }
            Some("resumed") if channel_is_ours => {
                self.resyncing = false;
                step.subscribed = true;
            }
            Some("event") if channel_is_ours && frame["ephemeral"] != true => {
                if self.resyncing {
                    return step;
                }
                let (Some(seq), Some(prev)) = (frame["seq"].as_u64(), frame["prev"].as_u64())
                else {
                    return step;
                };
                if self.since.is_some_and(|since| prev > since) {
                    step.reply = Some(self.subscribe());
                    return step;
                }
                self.since = Some(seq);
                match frame["kind"].as_str() {
                    Some("food_safety_alert") => {
                        if let Some(alert) = self.read_alert(&frame["data"])
                            && self.known.insert(alert.id.clone())
                        {
                            step.raised.push(alert);
                        }
                    }
                    Some("food_safety_alert_changed") => {
                        step.changed += 1;
                        if let Some(id) = frame["data"]["id"].as_str() {
                            self.known.insert(id.to_owned());
                        }
                    }
                    _ => {}
                }
            }
            Some("error") => {
                step.refused = Some(format!(
                    "{}: {}",
                    frame["code"].as_str().unwrap_or("error"),
                    frame["message"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
        step
    }

    /// A `FoodSafetyAlert` as the summary keeps it; `None` without an id or kind.
    fn read_alert(&self, data: &Value) -> Option<SeenAlert> {
        let device_id = data["device_id"].as_str().unwrap_or_default().to_owned();
        Some(SeenAlert {
            id: data["id"].as_str()?.to_owned(),
            kind: data["kind"].as_str()?.to_owned(),
            device_key: self.device_keys.get(&device_id).cloned(),
            unit: data["unit"].as_str().unwrap_or("?").to_owned(),
            celsius: data["celsius"].as_f64(),
            limit: data["limit"].as_f64(),
            raised_at: data["raised_at"].as_str().map(str::to_owned),
            device_id,
            real_seconds: 0.0,
            scenario_clock: None,
        })
    }
}

/// The `/ws` address of a hub at `base` (`http://host:port`).
pub fn socket_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let rest = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
        .unwrap_or_else(|| format!("ws://{base}"));
    format!("{rest}/ws?device=firmware-sim")
}

/// The running watcher. Dropping it stops it.
#[derive(Debug)]
pub struct AlertWatcher {
    task: JoinHandle<()>,
    /// When the last frame from the hub arrived.
    last_frame: Arc<Mutex<Instant>>,
}

impl Drop for AlertWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AlertWatcher {
    /// Starts watching the alerts of `api`'s venue, counting into `stats`; with
    /// `progress`, prints each new alert and the socket's troubles on stderr.
    pub fn spawn(api: HubApi, stats: Arc<Stats>, progress: bool) -> Self {
        stats
            .alert_watch
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let last_frame = Arc::new(Mutex::new(Instant::now()));
        let task = tokio::spawn(watch(api, stats, progress, last_frame.clone()));
        Self { task, last_frame }
    }

    /// Lets alerts still on their way arrive (until the hub has been `quiet` for a while,
    /// at most `patience`), then stops.
    pub async fn finish(self, quiet: Duration, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let last = self
                .last_frame
                .lock()
                .map(|l| *l)
                .unwrap_or_else(|_| Instant::now());
            let settled = last + quiet;
            let now = Instant::now();
            if settled <= now || deadline <= now {
                break;
            }
            tokio::time::sleep_until(settled.min(deadline)).await;
        }
    }
}

/// How a connection ended.
struct SessionEnd {
    /// It got as far as an open `alerts` channel.
    subscribed: bool,
    /// The hub refused the token: renew it before the next try.
    token_refused: bool,
    why: String,
}

impl SessionEnd {
    fn failed(why: impl Into<String>) -> Self {
        Self {
            subscribed: false,
            token_refused: false,
            why: why.into(),
        }
    }
}

async fn watch(api: HubApi, stats: Arc<Stats>, progress: bool, last_frame: Arc<Mutex<Instant>>) {
    // Names for story lines; without them alerts still count, by device id.
    let device_keys = api
        .device_ids()
        .await
        .map(|ids| ids.into_iter().map(|(key, id)| (id, key)).collect())
        .unwrap_or_default();
    let mut feed = AlertFeed::new(device_keys);
    let mut retry = FIRST_RETRY;
    // Say once per outage that alerts are not coming, not at every retry.
    let mut outage_told = false;
    loop {
        let end = session(&api, &mut feed, &stats, progress, &last_frame).await;
        if end.subscribed {
            retry = FIRST_RETRY;
            outage_told = false;
        }
        if progress && !outage_told {
            eprintln!(
                "alerts: {}; the fleet goes on, reconnecting in the background",
                end.why
            );
            outage_told = true;
        }
        if end.token_refused {
            // If this fails too, the next session says so.
            let _ = api.renew_access_token().await;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One WebSocket connection, until it ends.
async fn session(
    api: &HubApi,
    feed: &mut AlertFeed,
    stats: &Stats,
    progress: bool,
    last_frame: &Mutex<Instant>,
) -> SessionEnd {
    let token = match api.access_token().await {
        Ok(token) => token,
        Err(error) => return SessionEnd::failed(format!("no access token: {error:#}")),
    };
    let url = socket_url(api.base());
    let mut request = match url.as_str().into_client_request() {
        Ok(request) => request,
        Err(error) => return SessionEnd::failed(format!("{url}: {error}")),
    };
    let Ok(protocols) = HeaderValue::from_str(&format!("almahira.v1, bearer.{token}")) else {
        return SessionEnd::failed("the access token cannot go in a header");
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocols);
    let mut socket =
        match timeout(CONNECT_PATIENCE, tokio_tungstenite::connect_async(request)).await {
            Err(_) => return SessionEnd::failed(format!("no answer from {url}")),
            Ok(Err(tungstenite::Error::Http(response))) => {
                return SessionEnd {
                    subscribed: false,
                    token_refused: response.status().as_u16() == 401,
                    why: format!("{url} refused the WebSocket: {}", response.status()),
                };
            }
            Ok(Err(error)) => return SessionEnd::failed(format!("cannot open {url}: {error}")),
            Ok(Ok((socket, _))) => socket,
        };
    let mut subscribed = false;
    let mut heartbeat = DEFAULT_HEARTBEAT;
    let end = |subscribed, token_refused, why: String| SessionEnd {
        subscribed,
        token_refused,
        why,
    };
    loop {
        // The hub pings every heartbeat: three missed mean the connection is dead.
        let message = match timeout(heartbeat * 3, socket.next()).await {
            Err(_) => return end(subscribed, false, "no heartbeat from the hub".into()),
            Ok(None) => return end(subscribed, false, "the hub closed the WebSocket".into()),
            Ok(Some(Err(error))) => {
                return end(subscribed, false, format!("WebSocket lost: {error}"));
            }
            Ok(Some(Ok(message))) => message,
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return end(
                    subscribed,
                    code == CLOSE_TOKEN_REFUSED,
                    format!("the hub closed the WebSocket ({code} {reason})"),
                );
            }
            _ => continue,
        };
        if let Ok(mut last) = last_frame.lock() {
            *last = Instant::now();
        }
        let step = feed.on_text(text.as_str());
        if let Some(every) = step.heartbeat {
            heartbeat = every;
        }
        if step.subscribed {
            if !subscribed {
                stats
                    .alert_subscriptions
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            subscribed = true;
        }
        stats
            .alert_changes
            .fetch_add(step.changed, std::sync::atomic::Ordering::Relaxed);
        for alert in step.raised {
            let alert = stats.note_alert(alert);
            if progress {
                eprintln!("{}", alert_line(&alert));
            }
        }
        if let Some(refused) = step.refused {
            return end(subscribed, false, format!("the hub refused: {refused}"));
        }
        if let Some(reply) = step.reply
            && let Err(error) = socket.send(Message::text(reply)).await
        {
            return end(subscribed, false, format!("WebSocket lost: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: &str, kind: &str, device: &str, celsius: Option<f64>) -> Value {
        json!({"id": id, "device_id": device, "unit": "Bar fridge", "kind": kind,
               "celsius": celsius, "limit": 5.0, "since": "2025-06-01T20:00:00Z",
               "raised_at": "2025-06-01T20:15:00Z", "recovered_at": null})
    }

    fn event(kind: &str, seq: u64, prev: u64, data: Value) -> String {
        json!({"type": "event", "channel": "alerts", "seq": seq, "prev": prev, "kind": kind,
               "at": "2025-06-01T20:15:00Z", "data": data})
        .to_string()
    }

    fn snapshot(seq: u64, open: Vec<Value>) -> String {
        json!({"type": "snapshot", "channel": "alerts", "seq": seq, "resync": false,
               "reason": null, "data": {"delivery_alerts": [], "sold_out": [],
               "food_safety": open}})
        .to_string()
    }

    fn subscribed_feed(seq: u64, open: Vec<Value>) -> AlertFeed {
        let keys = [("dev-bar".to_owned(), "fridge-bar".to_owned())].into();
        let mut feed = AlertFeed::new(keys);
        let welcome = feed.on_text(r#"{"type":"welcome","heartbeat_seconds":15.0,"seq":3}"#);
        let subscribe: Value = serde_json::from_str(welcome.reply.as_deref().unwrap()).unwrap();
        assert_eq!(
            subscribe,
            json!({"type": "subscribe", "channel": "alerts", "since": null})
        );
        assert!(feed.on_text(&snapshot(seq, open)).subscribed);
        feed
    }

    #[test]
    fn a_new_alert_is_read_with_its_device_key_and_counted_by_kind() {
        let mut feed = subscribed_feed(10, vec![]);
        let step = feed.on_text(&event(
            "food_safety_alert",
            12,
            10,
            alert("a-1", "critical", "dev-bar", Some(8.3)),
        ));
        assert_eq!(step.raised.len(), 1, "{step:?}");
        let seen = &step.raised[0];
        assert_eq!(seen.kind, "critical");
        assert_eq!(seen.device_key.as_deref(), Some("fridge-bar"));
        assert_eq!(seen.celsius, Some(8.3));

        let stats = Stats::default();
        stats
            .alert_watch
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = stats.note_alert(seen.clone());
        stats.note_alert(SeenAlert {
            id: "a-2".into(),
            kind: "excursion".into(),
            ..seen.clone()
        });
        assert_eq!(stats.snapshot().alerts, Some(2));
        assert_eq!(stats.alert_kinds()["critical"], 1);
        assert_eq!(stats.alert_kinds()["excursion"], 1);
        assert!(
            alert_line(&seen)
                .ends_with("ALERT critical: Bar fridge (fridge-bar) at 8.3 °C, limit 5 °C"),
            "{}",
            alert_line(&seen)
        );
    }

    #[test]
    fn a_change_is_counted_apart_and_never_as_a_new_alert() {
        let mut feed = subscribed_feed(10, vec![]);
        feed.on_text(&event(
            "food_safety_alert",
            11,
            10,
            alert("a-1", "excursion", "d", None),
        ));
        let step = feed.on_text(&event(
            "food_safety_alert_changed",
            12,
            11,
            alert("a-1", "excursion", "d", None),
        ));
        assert_eq!(step.changed, 1);
        assert!(step.raised.is_empty());
        let other = feed.on_text(&event(
            "delivery_alert",
            13,
            12,
            json!({"order_id": "o", "station": "grill"}),
        ));
        assert_eq!(other, Step::default(), "other alerts are not food safety");
    }

    #[test]
    fn alerts_open_before_the_run_are_not_counted_but_ones_missed_while_away_are() {
        let mut feed = subscribed_feed(10, vec![alert("old", "offline", "d", None)]);
        feed.subscribe();
        let step = feed.on_text(&snapshot(
            30,
            vec![
                alert("old", "offline", "d", None),
                alert("new", "excursion", "d", Some(6.1)),
            ],
        ));
        let ids: Vec<&str> = step.raised.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["new"]);
    }

    #[test]
    fn a_reconnect_resumes_from_the_last_seq_and_a_replay_counts_nothing_twice() {
        let mut feed = subscribed_feed(10, vec![]);
        feed.on_text(&event(
            "food_safety_alert",
            11,
            10,
            alert("a-1", "critical", "d", None),
        ));
        let again: Value = serde_json::from_str(&feed.subscribe()).unwrap();
        assert_eq!(again["since"], 11);
        assert_eq!(again["channel"], "alerts");
        let resumed = json!({"type": "resumed", "channel": "alerts", "since": 11, "seq": 14,
                             "replayed": 1});
        assert!(feed.on_text(&resumed.to_string()).subscribed);
        let step = feed.on_text(&event(
            "food_safety_alert",
            14,
            11,
            alert("a-2", "offline", "d", None),
        ));
        assert_eq!(step.raised.len(), 1);
        let twice = feed.on_text(&event(
            "food_safety_alert",
            15,
            14,
            alert("a-2", "offline", "d", None),
        ));
        assert!(twice.raised.is_empty());
    }

    #[test]
    fn a_gap_in_the_sequence_asks_for_the_missed_frames_and_waits_for_them() {
        let mut feed = subscribed_feed(10, vec![]);
        let step = feed.on_text(&event(
            "food_safety_alert",
            20,
            15,
            alert("a-1", "critical", "d", None),
        ));
        assert!(step.raised.is_empty(), "not applied across a gap");
        let resubscribe: Value = serde_json::from_str(step.reply.as_deref().unwrap()).unwrap();
        assert_eq!(resubscribe["type"], "subscribe");
        assert_eq!(resubscribe["since"], 10);
        let waiting = feed.on_text(&event(
            "food_safety_alert",
            21,
            20,
            alert("a-9", "critical", "d", None),
        ));
        assert!(
            waiting.raised.is_empty(),
            "ignored until the channel is resumed"
        );
    }

    #[test]
    fn pings_are_answered_and_refusals_and_the_heartbeat_reported() {
        let mut feed = AlertFeed::default();
        let pong: Value = serde_json::from_str(
            feed.on_text(r#"{"type":"ping","seq":431}"#)
                .reply
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(pong, json!({"type": "pong", "seq": 431}));
        let welcome = feed.on_text(r#"{"type":"welcome","heartbeat_seconds":5.0,"seq":3}"#);
        assert_eq!(welcome.heartbeat, Some(Duration::from_secs(5)));
        let refused = feed.on_text(r#"{"type":"error","code":"forbidden_channel","message":"no"}"#);
        assert_eq!(refused.refused.as_deref(), Some("forbidden_channel: no"));
        assert_eq!(feed.on_text("not json"), Step::default());
        let ephemeral = json!({"type": "event", "ephemeral": true, "channel": "alerts",
                               "kind": "food_safety_alert", "data": alert("x", "critical", "d", None)});
        assert!(feed.on_text(&ephemeral.to_string()).raised.is_empty());
    }

    #[test]
    fn the_socket_address_follows_the_hubs_scheme() {
        assert_eq!(
            socket_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/ws?device=firmware-sim"
        );
        assert_eq!(
            socket_url("https://hub.example"),
            "wss://hub.example/ws?device=firmware-sim"
        );
    }
}
