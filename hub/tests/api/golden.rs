//! Owns the golden-frame promise: a fixed, recorded sequence of commands (orders at tables
//! and takeaway over several stations, a held course fired, start, ready, bump, recall,
//! serve, void, move and merge, clear, a delivery alert raised and cleared) produces exactly
//! the frames in `golden_frames.jsonl`, byte for byte and in order, on every channel a
//! screen can open. Only what is truly random is normalised: UUIDs (numbered by first
//! appearance) and timestamps. `GOLDEN_UPDATE=1` rewrites the fixture from the current code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{collections::HashMap, time::Duration};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::{
    database::{Backend, TestDatabase},
    helpers::{Api, CASHIER_PIN, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN},
    screen::PATIENCE,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/golden_frames.jsonl");

/// A socket that keeps every channel frame as the hub sent it, text untouched.
struct Recorder {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    frames: Vec<String>,
}

impl Recorder {
    async fn connect(hub: &TestHub, api: &Api) -> Self {
        let mut request = format!("ws://{}/ws", hub.address)
            .into_client_request()
            .unwrap();
        let protocols = format!("almahira.v1, bearer.{}", api.token.as_deref().unwrap());
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut recorder = Self {
            socket,
            frames: Vec::new(),
        };
        let welcome = recorder.next_text(PATIENCE).await.unwrap();
        assert!(welcome.contains("\"welcome\""), "{welcome}");
        recorder
    }

    async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// The next text frame that is not a ping, or `None` after `wait` of silence.
    async fn next_text(&mut self, wait: Duration) -> Option<String> {
        loop {
            let message = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return None,
                Ok(message) => message,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    let text = text.to_string();
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    if frame["type"] == "ping" {
                        continue;
                    }
                    return Some(text);
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// Records frames until one matches (recorded too); returns that frame.
    async fn record_until(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let text = self
                .next_text(PATIENCE)
                .await
                .expect("a frame within the patience window");
            let frame: Value = serde_json::from_str(&text).unwrap();
            self.frames.push(text);
            if matches(&frame) {
                return frame;
            }
        }
    }

    /// Records the frames of every command up to `seq` (its audit entry is its last frame).
    async fn record_through(&mut self, seq: u64) {
        self.record_until(|f| f["channel"] == "audit" && f["seq"].as_u64() >= Some(seq))
            .await;
    }

    /// Records frames until one carries `seq` (for recordings without the audit channel).
    async fn record_through_any(&mut self, seq: u64) {
        self.record_until(|f| f["seq"].as_u64() >= Some(seq)).await;
    }

    /// Subscribes and records the opening frame.
    async fn subscribe(&mut self, channel: &str) -> Value {
        self.send(json!({"type": "subscribe", "channel": channel, "since": null}))
            .await;
        self.record_until(|f| f["channel"] == channel).await
    }

    /// Records whatever is still coming, until `quiet` passes without a frame.
    async fn drain(&mut self, quiet: Duration) {
        while let Some(text) = self.next_text(quiet).await {
            self.frames.push(text);
        }
    }
}

/// A command id that is the same on every run, so ids derived from it are too.
fn fixed_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Posts a command and returns the venue sequence number it reached.
async fn post(api: &Api, path: &str, body: Value, status: StatusCode) -> (u64, Value) {
    let reply = api.post(path, body).await;
    assert_eq!(reply.status, status, "{path}: {}", reply.body);
    let seq = reply
        .header("x-venue-seq")
        .unwrap_or_else(|| panic!("{path} names the venue seq"))
        .parse()
        .unwrap();
    (seq, reply.expect(status))
}

/// Replaces UUIDs by `<id-N>` (numbered by first appearance across the whole recording)
/// and RFC 3339 timestamps by `<time>`, leaving every other byte as it was.
fn normalise(frames: &[String]) -> String {
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    for frame in frames {
        let bytes = frame.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if let Some(len) = uuid_at(&bytes[i..]) {
                let next = ids.len() + 1;
                let n = *ids.entry(frame[i..i + len].to_owned()).or_insert(next);
                out.push_str(&format!("<id-{n}>"));
                i += len;
            } else if let Some(len) = timestamp_at(&bytes[i..]) {
                out.push_str("<time>");
                i += len;
            } else {
                let c = frame[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
        out.push('\n');
    }
    out
}

fn uuid_at(bytes: &[u8]) -> Option<usize> {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (group, len) in SHAPE.iter().enumerate() {
        if group > 0 {
            (bytes.get(i) == Some(&b'-')).then_some(())?;
            i += 1;
        }
        for _ in 0..*len {
            bytes.get(i).filter(|b| b.is_ascii_hexdigit())?;
            i += 1;
        }
    }
    Some(i)
}

/// A quoted timestamp's body, `2026-12-01T15:08:05.123Z` or with an offset, up to the quote.
fn timestamp_at(bytes: &[u8]) -> Option<usize> {
    let digits = |range: std::ops::Range<usize>| {
        range
            .into_iter()
            .all(|i| bytes.get(i).is_some_and(u8::is_ascii_digit))
    };
    let shaped = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && bytes.get(10) == Some(&b'T');
    if !shaped {
        return None;
    }
    bytes.iter().position(|b| *b == b'"')
}

async fn me(api: &Api) -> String {
    api.get("/api/v1/me").await.expect(StatusCode::OK)["staff"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Station keys by id, and items made by exactly one station, by station key (sorted).
async fn stations_and_items(api: &Api) -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let stations = api.get("/api/v1/stations").await.expect(StatusCode::OK);
    let key_of: HashMap<String, String> = stations
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut keys: Vec<String> = key_of.values().cloned().collect();
    keys.sort();
    let demo = crate::helpers::Demo::read(api).await;
    let mut by_station: Vec<(String, Vec<String>)> = Vec::new();
    for key in &keys {
        let items: Vec<String> = demo
            .simple_items
            .iter()
            .filter(|(_, _, stations)| stations.len() == 1 && key_of[&stations[0]] == *key)
            .map(|(id, _, _)| id.clone())
            .collect();
        if !items.is_empty() {
            by_station.push((key.clone(), items));
        }
    }
    (keys, by_station)
}

/// A whole service: every frame of every channel, in order.
async fn record_service() -> Vec<String> {
    let db = TestDatabase::new(Backend::Sqlite).await;
    // No delivery alerts here: their timing is the clock's, not the sequence's.
    let hub = TestHub::start_with(&db, |s| s.delivery_alert_seconds = 3600.0).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let cashier = hub.login(CASHIER_PIN).await;
    let demo = crate::helpers::Demo::read(&waiter).await;
    let (keys, items) = stations_and_items(&waiter).await;
    assert!(items.len() >= 3, "items at three stations: {items:?}");
    let (x, y, z) = (&items[0], &items[1], &items[2]);
    let waiter_id = me(&waiter).await;

    let mut rec = Recorder::connect(&hub, &manager).await;
    for key in &keys {
        rec.subscribe(&format!("kds:{key}")).await;
    }
    for channel in ["expo", "floor", "alerts", "audit", "devices"] {
        rec.subscribe(channel).await;
    }
    rec.subscribe(&format!("staff:{waiter_id}")).await;
    let mut line = Recorder::connect(&hub, &kitchen).await;

    let (table_a, table_b, table_c) = (demo.table(0), demo.table(1), demo.table(2));
    // A: dine-in, course 1 at x, course 2 (held) at y.
    let (seq, a) = post(
        &waiter,
        "/api/v1/orders",
        json!({
            "command_id": fixed_id(1), "kind": "dine_in", "table_id": table_a, "guests": 2,
            "lines": [
                {"menu_item_id": x.1[0], "quantity": 2, "course": 1, "note": "no ice"},
                {"menu_item_id": y.1[0], "quantity": 1, "course": 2},
            ],
        }),
        StatusCode::CREATED,
    )
    .await;
    rec.record_through(seq).await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    rec.subscribe(&format!("order:{a_id}")).await;
    // B: takeaway at x and z.
    let (seq, b) = post(
        &waiter,
        "/api/v1/orders",
        json!({
            "command_id": fixed_id(2), "kind": "takeaway", "customer": {"name": "Rina"},
            "lines": [
                {"menu_item_id": x.1[0], "quantity": 1},
                {"menu_item_id": z.1[0], "quantity": 3},
            ],
        }),
        StatusCode::CREATED,
    )
    .await;
    rec.record_through(seq).await;
    let b_id = b["id"].as_str().unwrap().to_owned();
    let b_lines: Vec<Value> = b["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].clone())
        .collect();
    let a_path = format!("/api/v1/orders/{a_id}");
    let b_path = format!("/api/v1/orders/{b_id}");

    // The held course goes to the kitchen.
    let (seq, _) = post(
        &waiter,
        &format!("{a_path}/fire"),
        json!({"command_id": fixed_id(3), "course": 2}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    // The x station starts A; z finishes B's line.
    let (seq, _) = post(
        &kitchen,
        &format!("{a_path}/stations/{}/start", x.0),
        json!({"command_id": fixed_id(4)}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    let (seq, _) = post(
        &kitchen,
        &format!("{b_path}/lines/ready"),
        json!({"command_id": fixed_id(5), "line_ids": [b_lines[1]]}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    // A screen bumps B at x, recalls it, and bumps it again.
    for (n, command) in [
        (
            6,
            json!({"type": "bump_ticket", "order_id": b_id, "station": x.0}),
        ),
        (7, json!({"type": "recall_last", "station": x.0})),
        (
            8,
            json!({"type": "bump_ticket", "order_id": b_id, "station": x.0}),
        ),
    ] {
        line.send(json!({"type": "command", "id": fixed_id(n), "command": command}))
            .await;
        let ack = loop {
            let text = line.next_text(PATIENCE).await.unwrap();
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["id"] == fixed_id(n) {
                break frame;
            }
        };
        assert_eq!(ack["type"], "ack", "{ack}");
        rec.record_through(ack["seq"].as_u64().unwrap()).await;
    }
    // Expo sends B out; the cashier closes it.
    let (seq, _) = post(
        &waiter,
        &format!("{b_path}/serve-ready"),
        json!({"command_id": fixed_id(9)}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    let (seq, _) = post(
        &cashier,
        &format!("{b_path}/close"),
        json!({"command_id": fixed_id(10)}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    // A's fired course-2 line is voided before anyone cooks it.
    let a_line_y = a["lines"][1]["id"].as_str().unwrap().to_owned();
    let (seq, _) = post(
        &manager,
        &format!("{a_path}/lines/{a_line_y}/void"),
        json!({"command_id": fixed_id(11), "reason": "guest changed their mind"}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    // The party moves, another sits down, and the two tables merge.
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_a}/move"),
        json!({"command_id": fixed_id(12), "to_table_id": table_b}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_c}/seat"),
        json!({"command_id": fixed_id(13), "guests": 3}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_b}/merge"),
        json!({"command_id": fixed_id(14), "table_ids": [table_c]}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    // A second order at the merged party, then the kitchen finishes everything.
    let (seq, _) = post(
        &waiter,
        "/api/v1/orders",
        json!({
            "command_id": fixed_id(15), "kind": "dine_in", "table_id": table_b, "guests": 5,
            "lines": [{"menu_item_id": z.1[0], "quantity": 1, "course": 1}],
        }),
        StatusCode::CREATED,
    )
    .await;
    rec.record_through(seq).await;
    let mut n = 16;
    let open = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    for order in open.as_array().unwrap() {
        let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
        for key in [&x.0, &y.0, &z.0] {
            let reply = kitchen
                .post(
                    &format!("{path}/stations/{key}/bump"),
                    json!({"command_id": fixed_id(n)}),
                )
                .await;
            n += 1;
            if reply.status == StatusCode::OK {
                let seq: u64 = reply.header("x-venue-seq").unwrap().parse().unwrap();
                rec.record_through(seq).await;
            }
        }
        let (seq, _) = post(
            &waiter,
            &format!("{path}/serve-ready"),
            json!({"command_id": fixed_id(n)}),
            StatusCode::OK,
        )
        .await;
        n += 1;
        rec.record_through(seq).await;
    }
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_b}/bill"),
        json!({"command_id": fixed_id(n)}),
        StatusCode::OK,
    )
    .await;
    n += 1;
    rec.record_through(seq).await;
    for order in open.as_array().unwrap() {
        let path = format!("/api/v1/orders/{}/close", order["id"].as_str().unwrap());
        let (seq, _) = post(
            &cashier,
            &path,
            json!({"command_id": fixed_id(n)}),
            StatusCode::OK,
        )
        .await;
        n += 1;
        rec.record_through(seq).await;
    }
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_b}/clean"),
        json!({"command_id": fixed_id(n)}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    n += 1;
    // A party that leaves without ordering.
    let table_d = demo.table(3);
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_d}/seat"),
        json!({"command_id": fixed_id(n), "guests": 2}),
        StatusCode::OK,
    )
    .await;
    n += 1;
    rec.record_through(seq).await;
    let (seq, _) = post(
        &waiter,
        &format!("/api/v1/tables/{table_d}/clear"),
        json!({"command_id": fixed_id(n)}),
        StatusCode::OK,
    )
    .await;
    rec.record_through(seq).await;
    rec.drain(Duration::from_millis(500)).await;
    let frames = std::mem::take(&mut rec.frames);
    hub.stop().await;
    frames
}

/// A ticket nobody confirms raises a delivery alert; a screen's `seen` clears it.
async fn record_delivery_alert() -> Vec<String> {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start_with(&db, |s| s.delivery_alert_seconds = 0.3).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let (_, items) = stations_and_items(&waiter).await;
    let x = &items[0];
    let waiter_id = me(&waiter).await;
    let mut rec = Recorder::connect(&hub, &manager).await;
    for channel in [format!("kds:{}", x.0), "expo".into(), "alerts".into()] {
        rec.subscribe(&channel).await;
    }
    rec.subscribe(&format!("staff:{waiter_id}")).await;
    let mut line = Recorder::connect(&hub, &kitchen).await;
    line.send(json!({"type": "subscribe", "channel": format!("kds:{}", x.0), "since": null}))
        .await;
    line.next_text(PATIENCE).await.unwrap();
    let (seq, _) = post(
        &waiter,
        "/api/v1/orders",
        json!({
            "command_id": fixed_id(1), "kind": "takeaway", "customer": {"name": "Budi"},
            "lines": [{"menu_item_id": x.1[0], "quantity": 1}],
        }),
        StatusCode::CREATED,
    )
    .await;
    rec.record_through_any(seq).await;
    let raised = rec
        .record_until(|f| f["channel"] == "alerts" && f["kind"] == "delivery_alert")
        .await;
    rec.drain(Duration::from_millis(300)).await;
    line.send(json!({"type": "seen", "seq": raised["seq"]}))
        .await;
    rec.record_until(|f| f["channel"] == "alerts" && f["kind"] == "delivery_alert_cleared")
        .await;
    rec.drain(Duration::from_millis(500)).await;
    let frames = std::mem::take(&mut rec.frames);
    hub.stop().await;
    frames
}

#[tokio::test]
async fn a_recorded_service_produces_the_same_frames_byte_for_byte() {
    let mut frames = record_service().await;
    frames.push("--- delivery alert ---".to_owned());
    frames.extend(record_delivery_alert().await);
    let recorded = normalise(&frames);
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::write(FIXTURE, &recorded).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(FIXTURE).expect("the fixture exists");
    if recorded != expected {
        let (got, want): (Vec<&str>, Vec<&str>) =
            (recorded.lines().collect(), expected.lines().collect());
        let first = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "frames differ from the fixture at line {} ({} recorded, {} expected):\nrecorded: {}\nexpected: {}",
            first + 1,
            got.len(),
            want.len(),
            got.get(first).unwrap_or(&"<none>"),
            want.get(first).unwrap_or(&"<none>"),
        );
    }
}
