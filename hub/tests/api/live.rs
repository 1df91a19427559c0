//! Owns the live-screen promises through real sockets: the right cards on the right
//! stations, two screens agreeing, resume without gaps or repeats, snapshots when too old,
//! a stalled screen not slowing others, delivery alerts, screen commands, auth, bad frames,
//! heartbeats and presence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{collections::HashMap, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use hub::ws::protocol::Channel;

use crate::{
    database::{Backend, TestDatabase},
    helpers::{Api, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id, dine_in, takeaway},
    screen::Screen,
};

on_both_backends!(resuming_after_a_disconnect_during_a_burst_delivers_every_missed_frame_once);

/// Items that need no modifier choice and are made by exactly one station, by station key.
async fn items_by_station(api: &Api) -> HashMap<String, Vec<String>> {
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
    let demo = crate::helpers::Demo::read(api).await;
    let mut by_station: HashMap<String, Vec<String>> = HashMap::new();
    for (id, _, stations) in demo.simple_items {
        if let [station] = stations.as_slice() {
            by_station
                .entry(key_of[station].clone())
                .or_default()
                .push(id);
        }
    }
    by_station
}

async fn sqlite_hub(configure: impl FnOnce(&mut hub::config::Settings)) -> (TestDatabase, TestHub) {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start_with(&db, configure).await;
    (db, hub)
}

fn card_order(frame: &Value) -> String {
    frame["data"]["order_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_screens_on_one_station_see_the_same_cards_in_the_same_order() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let bar_item = &items["bar"][0];
    let mut first = Screen::connect(&hub, &kitchen).await;
    let mut second = Screen::connect(&hub, &kitchen).await;
    let snapshot = first.subscribe("kds:bar", None).await;
    assert_eq!(
        (snapshot["type"].as_str(), snapshot["resync"].as_bool()),
        (Some("snapshot"), Some(false))
    );
    assert_eq!(snapshot["data"]["cards"], json!([]));
    second.subscribe("kds:bar", None).await;

    let mut created = Vec::new();
    for _ in 0..5 {
        let order = waiter
            .post("/api/v1/orders", takeaway(&[bar_item]))
            .await
            .expect(StatusCode::CREATED);
        created.push(order["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    for screen in [&mut first, &mut second] {
        let mut cards = Vec::new();
        for _ in 0..5 {
            let frame = screen.event("kds:bar", "card_added").await;
            cards.push((
                frame["seq"].as_u64().unwrap(),
                card_order(&frame),
                frame["data"]["number"].clone(),
            ));
        }
        seen.push(cards);
    }
    assert_eq!(
        seen[0], seen[1],
        "both screens saw the same cards in the same order"
    );
    assert_eq!(
        seen[0].iter().map(|c| c.1.clone()).collect::<Vec<_>>(),
        created
    );
    assert!(seen[0].windows(2).all(|w| w[0].0 < w[1].0));
    let card = &seen[0][0];
    assert_eq!(card.2, 1);
    hub.stop().await;
}

#[tokio::test]
async fn an_order_appears_on_its_stations_and_nowhere_else() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let mut keys: Vec<&String> = items.keys().collect();
    keys.sort();
    assert!(
        keys.len() >= 3,
        "the demo has simple items at three stations: {keys:?}"
    );
    let (a, b, c) = (keys[0].clone(), keys[1].clone(), keys[2].clone());
    let mut screen = Screen::connect(&hub, &kitchen).await;
    for key in [&a, &b, &c] {
        screen.subscribe(&format!("kds:{key}"), None).await;
    }
    let demo = crate::helpers::Demo::read(&waiter).await;
    let mut order = dine_in(demo.table(2), &[&items[&a][0], &items[&b][0]]);
    order["lines"][0]["note"] = json!("no ice");
    let order = waiter
        .post("/api/v1/orders", order)
        .await
        .expect(StatusCode::CREATED);
    let mut cards: HashMap<String, Value> = HashMap::new();
    while cards.len() < 2 {
        let frame = screen.next().await;
        if frame["kind"] == "card_added" {
            let channel = frame["channel"].as_str().unwrap().to_owned();
            assert_ne!(
                channel,
                format!("kds:{c}"),
                "station {c} has nothing of this order"
            );
            cards.insert(channel, frame);
        }
    }
    let card = &cards[&format!("kds:{a}")]["data"];
    assert_eq!(card["order_id"], order["id"]);
    assert_eq!(card["label"], format!("Table {}", demo.tables[2].0));
    assert_eq!(card["server"], "Wulan Sari");
    assert_eq!(card["guests"], 2);
    assert_eq!(
        card["lines"].as_array().unwrap().len(),
        1,
        "only this station's lines"
    );
    assert_eq!(card["lines"][0]["note"], "no ice");
    assert_eq!(card["lines"][0]["status"], "fired");
    assert!(card["fired_at"].is_string());

    // The next thing station c hears about is its own order, not the first one.
    let other = waiter
        .post("/api/v1/orders", takeaway(&[&items[&c][0]]))
        .await
        .expect(StatusCode::CREATED);
    let (_, frame) = screen.until(|f| f["channel"] == format!("kds:{c}")).await;
    assert_eq!(frame["kind"], "card_added");
    assert_eq!(card_order(&frame), other["id"].as_str().unwrap());
    hub.stop().await;
}

async fn resuming_after_a_disconnect_during_a_burst_delivers_every_missed_frame_once(
    db: TestDatabase,
) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let item = items["bar"][0].clone();
    let mut screen = Screen::connect(&hub, &kitchen).await;
    screen.subscribe("kds:bar", None).await;
    waiter
        .post("/api/v1/orders", takeaway(&[&item]))
        .await
        .expect(StatusCode::CREATED);
    let last_applied = screen.event("kds:bar", "card_added").await["seq"]
        .as_u64()
        .unwrap();
    // Anything after the card (e.g. all-day counts) is deliberately not applied.
    screen.close().await;

    let burst: Vec<_> = (0..20)
        .map(|_| {
            let (waiter, item) = (waiter.clone(), item.clone());
            tokio::spawn(async move { waiter.post("/api/v1/orders", takeaway(&[&item])).await })
        })
        .collect();
    let mut created = Vec::new();
    for order in burst {
        created.push(
            order.await.unwrap().expect(StatusCode::CREATED)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let mut screen = Screen::connect(&hub, &kitchen).await;
    let resumed = screen.subscribe("kds:bar", Some(last_applied)).await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    let replayed = resumed["replayed"].as_u64().unwrap();
    let mut last = last_applied;
    let mut cards = Vec::new();
    for _ in 0..replayed {
        let frame = screen.next().await;
        assert_eq!(frame["channel"], "kds:bar");
        let seq = frame["seq"].as_u64().unwrap();
        assert!(seq >= last && seq > last_applied, "in order");
        assert!(
            frame["prev"].as_u64().unwrap() <= last,
            "no gap: prev {} after {last}",
            frame["prev"]
        );
        last = seq;
        if frame["kind"] == "card_added" {
            cards.push(card_order(&frame));
        }
    }
    let mut expected = created.clone();
    expected.sort();
    let mut got = cards.clone();
    got.sort();
    assert_eq!(got, expected, "every missed card exactly once");

    // Then live, with nothing repeated.
    let next = waiter
        .post("/api/v1/orders", takeaway(&[&item]))
        .await
        .expect(StatusCode::CREATED);
    let (between, frame) = screen.until(|f| f["kind"] == "card_added").await;
    assert!(between.iter().all(|f| f["kind"] != "card_added"));
    assert_eq!(card_order(&frame), next["id"].as_str().unwrap());
    assert!(frame["seq"].as_u64().unwrap() > last);
    hub.stop().await;
}

#[tokio::test]
async fn a_resume_from_too_long_ago_or_from_the_future_gets_a_flagged_snapshot() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let order = waiter
        .post("/api/v1/orders", takeaway(&[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    let mut screen = Screen::connect(&hub, &kitchen).await;
    // Seeding the demo happened before this hub's screens existed: seq 1 is long gone.
    let old = screen.subscribe("kds:bar", Some(1)).await;
    assert_eq!(
        (
            old["type"].as_str(),
            old["resync"].as_bool(),
            old["reason"].as_str()
        ),
        (Some("snapshot"), Some(true), Some("too_old"))
    );
    assert_eq!(old["data"]["cards"][0]["order_id"], order["id"]);
    assert_eq!(old["data"]["all_day"][0]["quantity"], 1);
    let future = screen.subscribe("kds:bar", Some(1_000_000)).await;
    assert_eq!(
        (future["resync"].as_bool(), future["reason"].as_str()),
        (Some(true), Some("ahead_of_hub"))
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_stalled_screen_delays_no_one_and_never_misses_frames_silently() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let items = items_by_station(&waiter).await;
    let item = items["bar"][0].clone();
    let mut stalled = Screen::connect(&hub, &manager).await;
    for channel in [
        "audit",
        "expo",
        "floor",
        "alerts",
        "kds:bar",
        "kds:grill",
        "kds:wok",
        "kds:fry",
        "kds:cold",
    ] {
        stalled.subscribe(channel, None).await;
    }
    let mut fast = Screen::connect(&hub, &kitchen).await;
    fast.subscribe("kds:bar", None).await;

    // The stalled screen reads nothing while the venue gets busy.
    let orders = 150;
    for n in 0..orders {
        let mut order = takeaway(&[&item]);
        order["note"] = json!(format!(
            "{n:03} {}",
            "pedas sekali, tanpa bawang ".repeat(15)
        ));
        waiter
            .post("/api/v1/orders", order)
            .await
            .expect(StatusCode::CREATED);
        let frame = fast.event("kds:bar", "card_added").await;
        assert!(
            frame["seq"].as_u64().is_some(),
            "the fast screen keeps up order by order"
        );
    }

    // When the stalled screen reads again it gets every frame in order, or a flagged
    // snapshot (or a close with a reason): never a silent gap.
    let mut applied: HashMap<String, u64> = HashMap::new();
    let mut finished = false;
    while !finished {
        match stalled.read().await {
            crate::screen::Read::Closed(frame) => {
                assert!(
                    frame.is_some_and(|f| !f.reason.is_empty()),
                    "a close says why"
                );
                finished = true;
            }
            crate::screen::Read::Frame(frame) => {
                let channel = frame["channel"].as_str().unwrap_or_default().to_owned();
                match frame["type"].as_str() {
                    Some("snapshot") => {
                        applied.insert(channel, frame["seq"].as_u64().unwrap());
                    }
                    Some("event") => {
                        let seq = frame["seq"].as_u64().unwrap();
                        if let Some(last) = applied.get(&channel) {
                            assert!(
                                frame["prev"].as_u64().unwrap() <= *last,
                                "gap on {channel}: {frame}"
                            );
                        }
                        applied.insert(channel.clone(), seq);
                        finished = channel == "kds:bar"
                            && frame["kind"] == "card_added"
                            && frame["data"]["number"] == orders;
                    }
                    _ => {}
                }
            }
        }
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_ticket_no_screen_confirms_raises_a_delivery_alert_until_one_does() {
    let (_db, hub) = sqlite_hub(|s| s.delivery_alert_seconds = 2.0).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let items = items_by_station(&waiter).await;
    let demo = crate::helpers::Demo::read(&waiter).await;
    let mut kds = Screen::connect(&hub, &kitchen).await;
    kds.subscribe("kds:bar", None).await;
    let mut alerts = Screen::connect(&hub, &manager).await;
    alerts.subscribe("alerts", None).await;
    let mut handheld = Screen::connect(&hub, &waiter).await;
    handheld.subscribe("me", None).await;

    let order = waiter
        .post(
            "/api/v1/orders",
            dine_in(demo.table(11), &[&items["bar"][0]]),
        )
        .await
        .expect(StatusCode::CREATED);
    let card = kds.event("kds:bar", "card_added").await;
    // The screen received it but never confirms rendering it.
    let alert = alerts.event("alerts", "delivery_alert").await;
    assert_eq!(alert["data"]["order_id"], order["id"]);
    assert_eq!(alert["data"]["station"], "bar");
    let label = format!("Table {}", demo.tables[11].0);
    assert!(
        alert["data"]["message"].as_str().unwrap().contains(&label),
        "{alert}"
    );
    let told = handheld
        .event(
            &format!("staff:{}", order["created_by"].as_str().unwrap()),
            "delivery_alert",
        )
        .await;
    assert_eq!(told["data"]["order_id"], order["id"]);
    let updated = kds.event("kds:bar", "card_updated").await;
    assert_eq!(updated["data"]["unseen"], true);

    kds.send(json!({"type": "seen", "seq": card["seq"]})).await;
    let cleared = alerts.event("alerts", "delivery_alert_cleared").await;
    assert_eq!(cleared["data"]["order_id"], order["id"]);

    // A ticket confirmed promptly raises nothing.
    waiter
        .post("/api/v1/orders", takeaway(&[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    let card = kds.event("kds:bar", "card_added").await;
    kds.send(json!({"type": "seen", "seq": card["seq"]})).await;
    // Longer than the alert delay, so an alert would have come.
    alerts.expect_silence(Duration::from_millis(3000)).await;

    // Managers see which screens are connected and what they confirmed.
    let screens = manager.get("/api/v1/screens").await.expect(StatusCode::OK);
    let kitchen_screen = screens
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["role"] == "kitchen")
        .unwrap();
    assert_eq!(kitchen_screen["channels"], json!(["kds:bar"]));
    assert_eq!(kitchen_screen["seen_seq"], card["seq"]);
    assert!(kitchen_screen["lag"].as_u64().is_some());
    hub.stop().await;
}

#[tokio::test]
async fn screens_bump_recall_and_serve_over_the_socket() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let demo = crate::helpers::Demo::read(&waiter).await;
    let mut kds = Screen::connect(&hub, &kitchen).await;
    kds.subscribe("kds:bar", None).await;
    let mut expo = Screen::connect(&hub, &kitchen).await;
    expo.subscribe("expo", None).await;
    let mut handheld = Screen::connect(&hub, &waiter).await;
    handheld.subscribe("floor", None).await;
    handheld.subscribe("me", None).await;

    let table = demo.table(4);
    let order = waiter
        .post("/api/v1/orders", dine_in(table, &[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap();
    kds.event("kds:bar", "card_added").await;
    expo.event("expo", "ticket_added").await;

    let start = command_id();
    let ack = kds
        .command(
            &start,
            json!({"type": "start_ticket", "order_id": order_id, "station": "bar"}),
        )
        .await;
    assert_eq!(
        (ack["type"].as_str(), ack["replayed"].as_bool()),
        (Some("ack"), Some(false)),
        "{ack}"
    );
    let updated = kds.event("kds:bar", "card_updated").await;
    assert_eq!(updated["data"]["lines"][0]["status"], "in_progress");
    let again = kds
        .command(
            &start,
            json!({"type": "start_ticket", "order_id": order_id, "station": "bar"}),
        )
        .await;
    assert_eq!(
        (again["type"].as_str(), again["replayed"].as_bool()),
        (Some("ack"), Some(true))
    );

    kds.command(
        &command_id(),
        json!({"type": "bump_ticket", "order_id": order_id, "station": "bar"}),
    )
    .await;
    kds.event("kds:bar", "card_bumped").await;
    let (_, ticket) = expo
        .until(|f| f["kind"] == "ticket_updated" && f["data"]["ready"] == true)
        .await;
    assert_eq!(ticket["data"]["order_id"], order_id);
    let ready = handheld.event("floor", "food_ready").await;
    assert!(
        ready["data"]["message"]
            .as_str()
            .unwrap()
            .contains(&demo.tables[4].0)
    );
    handheld
        .event(
            &format!("staff:{}", order["created_by"].as_str().unwrap()),
            "food_ready",
        )
        .await;

    let recall = kds
        .command(
            &command_id(),
            json!({"type": "recall_last", "station": "bar"}),
        )
        .await;
    assert_eq!(recall["type"], "ack", "{recall}");
    let back = kds.event("kds:bar", "card_added").await;
    assert_eq!(
        (
            back["data"]["recalled"].as_bool(),
            back["data"]["order_id"].as_str()
        ),
        (Some(true), Some(order_id))
    );
    kds.command(
        &command_id(),
        json!({"type": "bump_ticket", "order_id": order_id, "station": "bar"}),
    )
    .await;
    kds.event("kds:bar", "card_bumped").await;

    // The waiter may not work the kitchen; unknown stations are named.
    let refused = handheld
        .command(
            &command_id(),
            json!({"type": "bump_ticket", "order_id": order_id, "station": "bar"}),
        )
        .await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let unknown = kds
        .command(
            &command_id(),
            json!({"type": "bump_ticket", "order_id": order_id, "station": "sushi"}),
        )
        .await;
    assert_eq!(unknown["code"], "station_not_found");

    let served = expo
        .command(
            &command_id(),
            json!({"type": "serve_ready", "order_id": order_id}),
        )
        .await;
    assert_eq!(served["type"], "ack");
    expo.event("expo", "ticket_removed").await;
    let (_, table_frame) = handheld
        .until(|f| f["kind"] == "table_changed" && f["data"]["status"] == "ordered")
        .await;
    assert_eq!(table_frame["data"]["id"], table);
    hub.stop().await;
}

#[tokio::test]
async fn only_valid_tokens_and_allowed_roles_open_channels() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;

    let mut anonymous = Screen::connect_bare(&hub).await;
    anonymous
        .send(json!({"type": "hello", "token": "forged.token.value"}))
        .await;
    assert_eq!(anonymous.expect_close(4401).await, "invalid token");
    let mut rude = Screen::connect_bare(&hub).await;
    rude.send(json!({"type": "subscribe", "channel": "floor"}))
        .await;
    rude.expect_close(4401).await;
    let mut polite = Screen::connect_bare(&hub).await;
    polite.send(json!({"type": "hello", "token": kitchen.token.as_deref().unwrap(), "device": "kds-bar-1"})).await;
    assert_eq!(polite.next().await["type"], "welcome");

    let mut handheld = Screen::connect(&hub, &waiter).await;
    for channel in ["kds:bar", "expo", "audit"] {
        let refused = handheld.subscribe(channel, None).await;
        assert_eq!(
            (refused["type"].as_str(), refused["code"].as_str()),
            (Some("error"), Some("forbidden_channel")),
            "{channel}"
        );
    }
    assert_eq!(handheld.subscribe("floor", None).await["type"], "snapshot");
    let audit = polite.subscribe("audit", None).await;
    assert_eq!(audit["code"], "forbidden_channel");
    hub.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_socket_stays_open() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let mut screen = Screen::connect(&hub, &kitchen).await;
    screen.send_raw(Message::text("{not json")).await;
    assert_eq!(screen.next().await["code"], "invalid_json");
    screen.send(json!({"type": "dance"})).await;
    assert_eq!(screen.next().await["code"], "invalid_frame");
    screen.send(json!({"type": "subscribe"})).await;
    assert_eq!(screen.next().await["code"], "invalid_frame");
    screen.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(screen.next().await["code"], "binary_not_supported");
    for (channel, code) in [
        ("kitchen", "unknown_channel"),
        ("order:42", "unknown_channel"),
        ("kds:sushi", "station_not_found"),
    ] {
        assert_eq!(
            screen.subscribe(channel, None).await["code"],
            code,
            "{channel}"
        );
    }
    let bad_command =
        json!({"type": "command", "id": "not-a-uuid", "command": {"type": "bump_ticket"}});
    screen.send(bad_command).await;
    assert_eq!(screen.next().await["code"], "invalid_frame");
    // Still open and working.
    assert_eq!(screen.subscribe("kds:bar", None).await["type"], "snapshot");

    // A frame larger than the limit closes the socket (the protocol says so), not the hub.
    screen.send_raw(Message::text("x".repeat(200 * 1024))).await;
    assert!(matches!(
        screen.read().await,
        crate::screen::Read::Closed(_)
    ));
    let again = Screen::connect(&hub, &kitchen).await;
    again.close().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_screen_that_stops_answering_pings_is_dropped_in_bounded_time() {
    let (_db, hub) = sqlite_hub(|s| s.heartbeat_seconds = 0.5).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let mut silent = Screen::connect(&hub, &kitchen).await;
    // The other screen answers every ping, from its own task.
    let mut alive = Screen::connect(&hub, &kitchen).await;
    let answering = tokio::spawn(async move {
        for _ in 0..6 {
            let crate::screen::Read::Frame(ping) = alive.read().await else {
                panic!("the answering screen was dropped");
            };
            assert_eq!(ping["type"], "ping");
            alive
                .send(json!({"type": "pong", "seq": ping["seq"]}))
                .await;
        }
        alive
    });
    let started = tokio::time::Instant::now();
    let mut pings = 0;
    let reason = loop {
        match silent.read().await {
            crate::screen::Read::Frame(frame) if frame["type"] == "ping" => {
                pings += 1;
                assert!(frame["seq"].as_u64().is_some());
            }
            crate::screen::Read::Frame(other) => panic!("unexpected {other}"),
            crate::screen::Read::Closed(frame) => break frame.unwrap(),
        }
    };
    assert_eq!(u16::from(reason.code), 4408);
    assert!(pings >= 2, "pinged before being dropped");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "dropped within a few heartbeats"
    );
    // The one that answers stays.
    let mut alive = answering.await.unwrap();
    alive
        .send(json!({"type": "subscribe", "channel": "floor"}))
        .await;
    assert_eq!(alive.next().await["type"], "snapshot");
    hub.stop().await;
}

#[tokio::test]
async fn a_deactivated_member_loses_their_socket_and_cannot_reconnect() {
    let (_db, hub) = sqlite_hub(|s| s.heartbeat_seconds = 0.5).await;
    let waiter = hub.login(WAITER_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let mut handheld = Screen::connect(&hub, &waiter).await;
    handheld.subscribe("floor", None).await;
    let me = waiter.get("/api/v1/me").await.expect(StatusCode::OK);
    manager
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/staff/{}", me["staff"]["id"].as_str().unwrap()),
            Some(json!({"command_id": command_id(), "active": false})),
        )
        .await
        .expect(StatusCode::OK);
    // The open socket is closed at the next heartbeat, with the reason.
    assert_eq!(
        handheld.expect_close(4401).await,
        "staff member no longer active"
    );
    let mut again = Screen::connect_bare(&hub).await;
    again
        .send(json!({"type": "hello", "token": waiter.token.as_deref().unwrap()}))
        .await;
    assert_eq!(
        again.expect_close(4401).await,
        "staff member no longer active"
    );
    hub.stop().await;
}

#[tokio::test]
async fn alerts_clear_when_the_ticket_is_bumped_or_the_order_ends() {
    let (_db, hub) = sqlite_hub(|s| s.delivery_alert_seconds = 0.3).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let items = items_by_station(&waiter).await;
    let mut alerts = Screen::connect(&hub, &manager).await;
    alerts.subscribe("alerts", None).await;
    let refused = alerts.subscribe("kds:nowhere", None).await;
    assert_eq!(
        (refused["code"].as_str(), refused["channel"].as_str()),
        (Some("station_not_found"), Some("kds:nowhere"))
    );

    // A bump bar (or any bump) is proof enough that the kitchen saw it.
    let first = waiter
        .post("/api/v1/orders", takeaway(&[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    let raised = alerts.event("alerts", "delivery_alert").await;
    assert_eq!(raised["data"]["order_id"], first["id"]);
    let path = format!(
        "/api/v1/orders/{}/stations/bar/bump",
        first["id"].as_str().unwrap()
    );
    kitchen
        .post(&path, json!({"command_id": command_id()}))
        .await
        .expect(StatusCode::OK);
    let cleared = alerts.event("alerts", "delivery_alert_cleared").await;
    assert_eq!(cleared["data"]["order_id"], first["id"]);

    // A ticket that leaves the station (its line voided) takes its alert with it.
    let second = waiter
        .post("/api/v1/orders", takeaway(&[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    alerts.event("alerts", "delivery_alert").await;
    let id = second["id"].as_str().unwrap();
    let line = second["lines"][0]["id"].as_str().unwrap();
    manager
        .post(
            &format!("/api/v1/orders/{id}/lines/{line}/void"),
            json!({"command_id": command_id(), "reason": "guest left"}),
        )
        .await
        .expect(StatusCode::OK);
    let ended = alerts.event("alerts", "delivery_alert_cleared").await;
    assert_eq!(ended["data"]["order_id"], second["id"]);
    hub.stop().await;
}

#[tokio::test]
async fn a_seen_ahead_of_the_venue_is_refused_and_confirms_nothing() {
    let (_db, hub) = sqlite_hub(|s| s.delivery_alert_seconds = 1.0).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let items = items_by_station(&waiter).await;
    let mut kds = Screen::connect(&hub, &kitchen).await;
    let snapshot = kds.subscribe("kds:bar", None).await;
    let mut alerts = Screen::connect(&hub, &manager).await;
    alerts.subscribe("alerts", None).await;
    // A screen claiming to have rendered far into the future...
    let ahead = snapshot["seq"].as_u64().unwrap() + 1_000_000;
    kds.send(json!({"type": "seen", "seq": ahead})).await;
    let refused = kds.next().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "seen_ahead");
    // ...has not silenced the alert of the next ticket, which it never confirms.
    let order = waiter
        .post("/api/v1/orders", takeaway(&[&items["bar"][0]]))
        .await
        .expect(StatusCode::CREATED);
    kds.event("kds:bar", "card_added").await;
    let alert = alerts.event("alerts", "delivery_alert").await;
    assert_eq!(alert["data"]["order_id"], order["id"]);
    hub.stop().await;
}

#[tokio::test]
async fn the_channel_of_someone_of_another_venue_is_not_found() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let manager = hub.login(MANAGER_PIN).await;
    let mut screen = Screen::connect(&hub, &manager).await;
    let stranger = uuid::Uuid::new_v4();
    let refused = screen.subscribe(&format!("staff:{stranger}"), None).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "staff_not_found");
    assert_eq!(refused["channel"], format!("staff:{stranger}"));
    // The manager's own channel still opens.
    let me = manager.get("/api/v1/me").await.expect(StatusCode::OK);
    let own = screen
        .subscribe(
            &format!("staff:{}", me["staff"]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(own["type"], "snapshot", "{own}");
    hub.stop().await;
}

#[tokio::test]
async fn a_screen_that_closes_gets_the_hubs_close_frame_back_with_its_code() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    for code in [1000, 1001, 4000] {
        let mut screen = Screen::connect(&hub, &kitchen).await;
        screen.subscribe("expo", None).await;
        let answer = screen
            .close_handshake(code, "screen switched off")
            .await
            .unwrap_or_else(|e| panic!("closing with {code}: {e}"));
        assert_eq!(u16::from(answer.code), code, "the hub echoes the code");
    }
    // A screen that closes before authenticating is answered too.
    let bare = Screen::connect_bare(&hub).await;
    let answer = bare.close_handshake(1000, "").await.unwrap();
    assert_eq!(u16::from(answer.code), 1000);
    hub.stop().await;
}

#[tokio::test]
async fn screens_are_told_with_a_close_frame_when_the_hub_shuts_down() {
    let (_db, hub) = sqlite_hub(|_| {}).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let mut screen = Screen::connect(&hub, &kitchen).await;
    screen.subscribe("kds:bar", None).await;
    let stopping = tokio::spawn(hub.stop());
    assert_eq!(screen.expect_close(1001).await, "hub shutting down");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the hub stops")
        .unwrap();
}

#[tokio::test]
async fn frames_are_built_only_for_channels_someone_listens_on() {
    // Heartbeats of 0.5 s: a channel nobody listens on stops being built after 1.5 s.
    let (_db, hub) = sqlite_hub(|s| s.heartbeat_seconds = 0.5).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let items = items_by_station(&waiter).await;
    let mut keys: Vec<&String> = items.keys().collect();
    keys.sort();
    let (a, b) = (keys[0].clone(), keys[1].clone());
    let (channel_a, channel_b) = (format!("kds:{a}"), format!("kds:{b}"));
    let (kds_a, kds_b) = (Channel::Kds(a.clone()), Channel::Kds(b.clone()));
    let venue = hub.state.engine.venues()[0].id();
    let projector = hub.state.gateway.projector(venue).await.unwrap();

    let mut first = Screen::connect(&hub, &kitchen).await;
    first.subscribe(&channel_a, None).await;
    let order = |items: &[&String]| {
        let items: Vec<&str> = items.iter().map(|s| s.as_str()).collect();
        takeaway(&items)
    };
    let both = waiter
        .post("/api/v1/orders", order(&[&items[&a][0], &items[&b][0]]))
        .await
        .expect(StatusCode::CREATED);
    let card = first.event(&channel_a, "card_added").await;
    assert_eq!(card_order(&card), both["id"].as_str().unwrap());
    assert!(projector.last_frame_seq(&kds_a).is_some());
    for unheard in [kds_b.clone(), Channel::Expo, Channel::Floor, Channel::Audit] {
        assert_eq!(projector.last_frame_seq(&unheard), None, "{unheard} built");
    }
    let built = projector.frames_built();
    assert!(built >= 1);

    // A second screen opens the other station: a snapshot with the card, then every frame.
    let mut second = Screen::connect(&hub, &kitchen).await;
    let snapshot = second.subscribe(&channel_b, None).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["data"]["cards"][0]["order_id"], both["id"]);
    let opened_at = snapshot["seq"].as_u64().unwrap();
    let mut later = Vec::new();
    for _ in 0..3 {
        later.push(
            waiter
                .post("/api/v1/orders", order(&[&items[&b][0]]))
                .await
                .expect(StatusCode::CREATED)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // Test screens answer no pings by themselves.
        second.send(json!({"type": "pong"})).await;
    }
    let mut last = opened_at;
    for id in &later {
        let frame = second.event(&channel_b, "card_added").await;
        assert_eq!(&card_order(&frame), id, "every later card, in order");
        assert!(frame["prev"].as_u64().unwrap() <= last, "no gap: {frame}");
        last = frame["seq"].as_u64().unwrap();
    }
    let (_, counts) = second
        .until(|f| f["kind"] == "all_day_changed" && f["seq"].as_u64() == Some(last))
        .await;
    assert_eq!(counts["channel"], channel_b.as_str());
    assert!(projector.frames_built() > built);

    // The second screen leaves; once the linger is over, its station is not built, and a
    // resume across that period gets a snapshot, never a gap.
    second.close().await;
    first.close().await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let unbuilt_before = projector.last_frame_seq(&kds_b);
    let missed = waiter
        .post("/api/v1/orders", order(&[&items[&b][0]]))
        .await
        .expect(StatusCode::CREATED);
    // No screen listens on anything now: wait for the venue itself to move on.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while projector.seq() <= last && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(projector.seq() > last);
    assert_eq!(
        projector.last_frame_seq(&kds_b),
        unbuilt_before,
        "not built"
    );
    let mut again = Screen::connect(&hub, &kitchen).await;
    let resumed = again.subscribe(&channel_b, Some(last)).await;
    assert_eq!(
        (
            resumed["type"].as_str(),
            resumed["resync"].as_bool(),
            resumed["reason"].as_str()
        ),
        (Some("snapshot"), Some(true), Some("too_old")),
        "{resumed}"
    );
    let cards: Vec<&str> = resumed["data"]["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["order_id"].as_str().unwrap())
        .collect();
    assert!(cards.contains(&missed["id"].as_str().unwrap()), "{cards:?}");
    // Built again from then on.
    let next = waiter
        .post("/api/v1/orders", order(&[&items[&b][0]]))
        .await
        .expect(StatusCode::CREATED);
    let frame = again.event(&channel_b, "card_added").await;
    assert_eq!(card_order(&frame), next["id"].as_str().unwrap());
    assert!(frame["prev"].as_u64().unwrap() <= resumed["seq"].as_u64().unwrap());
    hub.stop().await;
}
