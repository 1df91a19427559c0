//! Owns the order life cycle through HTTP: open, fire, kitchen progress, serve, bill, close,
//! table states along the way, idempotent retries, and the audit journal that records it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    database::TestDatabase,
    helpers::{
        Api, CASHIER_PIN, Demo, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id, dine_in,
        line_ids, takeaway,
    },
};

on_both_backends!(
    a_dine_in_order_goes_from_ticket_to_clean_table,
    retrying_a_command_returns_the_original_order_and_changes_nothing,
    held_courses_wait_until_they_are_fired,
    parties_move_merge_and_split_with_their_orders,
    the_audit_journal_records_who_did_what_and_hides_secrets,
    a_command_id_reused_for_a_different_command_is_refused,
    the_kitchen_works_tickets_through_the_rest_api_too,
);

async fn a_command_id_reused_for_a_different_command_is_refused(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let first = takeaway(&[demo.item(0)]);
    waiter
        .post("/api/v1/orders", first.clone())
        .await
        .expect(StatusCode::CREATED);
    let mut different = takeaway(&[demo.item(1)]);
    different["command_id"] = first["command_id"].clone();
    waiter
        .post("/api/v1/orders", different)
        .await
        .expect_error(StatusCode::CONFLICT, "command_id_reused");
    assert_eq!(
        waiter
            .get("/api/v1/orders")
            .await
            .expect(StatusCode::OK)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    hub.stop().await;
}

async fn the_kitchen_works_tickets_through_the_rest_api_too(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let demo = Demo::read(&waiter).await;
    let order = waiter
        .post("/api/v1/orders", takeaway(&[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    let menu = waiter.get("/api/v1/menu").await.expect(StatusCode::OK);
    let stations = waiter.get("/api/v1/stations").await.expect(StatusCode::OK);
    let station_id = &order["lines"][0]["stations"][0];
    let key = stations
        .as_array()
        .unwrap()
        .iter()
        .find(|s| &s["id"] == station_id)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(menu["items"].is_array());
    let path = |action: &str| format!("/api/v1/orders/{id}/stations/{key}/{action}");
    let started = kitchen
        .post(&path("start"), json!({"command_id": command_id()}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(started["lines"][0]["status"], "in_progress");
    let bumped = kitchen
        .post(&path("bump"), json!({"command_id": command_id()}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(bumped["lines"][0]["status"], "ready");
    let recalled = kitchen
        .post(&path("recall"), json!({"command_id": command_id()}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(recalled["recalled"], json!([station_id]));
    kitchen
        .post(
            &format!("/api/v1/orders/{id}/stations/sushi/bump"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "station_not_found");
    waiter
        .post(&path("bump"), json!({"command_id": command_id()}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let served = kitchen
        .post(
            &format!("/api/v1/orders/{id}/serve-ready"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(served["lines"][0]["status"], "served");
    hub.stop().await;
}

async fn table_status(api: &Api, table_id: &str) -> String {
    let floor = api.get("/api/v1/floor").await.expect(StatusCode::OK);
    floor["areas"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["tables"].as_array().unwrap().iter())
        .find(|t| t["id"] == table_id)
        .map(|t| t["status"].as_str().unwrap().to_owned())
        .unwrap()
}

fn lines_body(order: &Value) -> Value {
    json!({"command_id": command_id(), "line_ids": line_ids(order)})
}

async fn a_dine_in_order_goes_from_ticket_to_clean_table(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let cashier = hub.login(CASHIER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let table = demo.table(3);

    let mut request = dine_in(table, &[demo.item(0), demo.item(1)]);
    request["lines"][0]["quantity"] = json!(2);
    request["lines"][0]["note"] = json!("no chili");
    request["lines"][0]["seat"] = json!(1);
    let opened = waiter.post("/api/v1/orders", request).await;
    assert_eq!(opened.header("idempotent-replayed"), Some("false"));
    let order = opened.expect(StatusCode::CREATED);
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    assert_eq!(order["status"], "open");
    assert_eq!(order["kind"], "dine_in");
    assert_eq!(order["lines"][0]["note"], "no chili");
    assert_eq!(order["lines"][0]["status"], "fired");
    let expected = 2 * order["lines"][0]["unit_price"].as_i64().unwrap()
        + order["lines"][1]["unit_price"].as_i64().unwrap();
    assert_eq!(order["subtotal"].as_i64(), Some(expected));
    assert_eq!(
        waiter.get(&path).await.expect(StatusCode::OK)["id"],
        order["id"]
    );
    assert_eq!(table_status(&waiter, table).await, "ordered");

    // Serving before the kitchen is done is refused.
    waiter
        .post(&format!("{path}/lines/serve"), lines_body(&order))
        .await
        .expect_error(StatusCode::CONFLICT, "invalid_line_transition");

    let started = kitchen
        .post(&format!("{path}/lines/start"), lines_body(&order))
        .await
        .expect(StatusCode::OK);
    assert!(
        started["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "in_progress")
    );
    kitchen
        .post(&format!("{path}/lines/ready"), lines_body(&order))
        .await
        .expect(StatusCode::OK);
    assert_eq!(table_status(&waiter, table).await, "food_ready");
    let served = waiter
        .post(&format!("{path}/lines/serve"), lines_body(&order))
        .await
        .expect(StatusCode::OK);
    let line = &served["lines"][0];
    for stamp in [
        "added_at",
        "fired_at",
        "started_at",
        "ready_at",
        "served_at",
    ] {
        assert!(line[stamp].is_string(), "{stamp} is recorded");
    }
    waiter
        .post(
            &format!("/api/v1/tables/{table}/bill"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(table_status(&waiter, table).await, "bill_requested");
    waiter
        .post(
            &format!("{path}/close"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let closed = cashier
        .post(
            &format!("{path}/close"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(closed["status"], "closed");
    assert_eq!(table_status(&waiter, table).await, "needs_cleaning");
    waiter
        .post(
            &format!("/api/v1/tables/{table}/seat"),
            json!({"command_id": command_id(), "guests": 2}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "table_needs_cleaning");
    waiter
        .post(
            &format!("/api/v1/tables/{table}/clean"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(table_status(&waiter, table).await, "available");
    let open_orders = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    assert_eq!(open_orders, json!([]));
    let closed_orders = waiter
        .get("/api/v1/orders?status=closed")
        .await
        .expect(StatusCode::OK);
    assert_eq!(closed_orders.as_array().unwrap().len(), 1);
    hub.stop().await;
}

async fn retrying_a_command_returns_the_original_order_and_changes_nothing(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let cashier = hub.login(CASHIER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let request = takeaway(&[demo.item(2)]);

    let first = waiter
        .post("/api/v1/orders", request.clone())
        .await
        .expect(StatusCode::CREATED);
    let journal_before = manager
        .get("/api/v1/events?limit=1000")
        .await
        .expect(StatusCode::OK);
    let retry = waiter.post("/api/v1/orders", request.clone()).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let second = retry.expect(StatusCode::OK);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["number"], second["number"]);
    assert_eq!(first["lines"][0]["id"], second["lines"][0]["id"]);

    // Many concurrent retries of one command still make one order.
    let retries: Vec<_> = (0..8)
        .map(|_| {
            let waiter = waiter.clone();
            let request = request.clone();
            tokio::spawn(async move { waiter.post("/api/v1/orders", request).await })
        })
        .collect();
    for retry in retries {
        assert_eq!(retry.await.unwrap().body["id"], first["id"]);
    }
    let orders = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let journal_after = manager
        .get("/api/v1/events?limit=1000")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        journal_before["events"], journal_after["events"],
        "a retry writes nothing"
    );

    // A retry of a refused command is decided again (and refused again).
    let close = json!({"command_id": command_id()});
    let path = format!("/api/v1/orders/{}/close", first["id"].as_str().unwrap());
    cashier
        .post(&path, close.clone())
        .await
        .expect_error(StatusCode::CONFLICT, "order_has_unserved_lines");
    cashier
        .post(&path, close)
        .await
        .expect_error(StatusCode::CONFLICT, "order_has_unserved_lines");
    hub.stop().await;
}

async fn held_courses_wait_until_they_are_fired(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let mut request = dine_in(demo.table(5), &[demo.item(0), demo.item(1)]);
    request["lines"][1]["course"] = json!(2);
    let order = waiter
        .post("/api/v1/orders", request)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(order["lines"][0]["status"], "fired");
    assert_eq!(order["lines"][1]["status"], "new", "course 2 is held");
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());

    // A later line of the fired course goes straight to the kitchen; one for course 2 waits.
    let added = waiter
        .post(
            &format!("{path}/lines"),
            json!({"command_id": command_id(), "lines": [
                {"menu_item_id": demo.item(3), "quantity": 1, "course": 1},
                {"menu_item_id": demo.item(4), "quantity": 1, "course": 2},
            ]}),
        )
        .await
        .expect(StatusCode::OK);
    let statuses: Vec<&str> = added["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["fired", "new", "fired", "new"]);

    let fired = waiter
        .post(
            &format!("{path}/fire"),
            json!({"command_id": command_id(), "course": 2}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(
        fired["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["status"] == "fired")
    );
    assert_eq!(fired["fired_courses"], json!([1, 2]));
    waiter
        .post(
            &format!("{path}/fire"),
            json!({"command_id": command_id(), "course": 2}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "nothing_to_fire");
    hub.stop().await;
}

async fn parties_move_merge_and_split_with_their_orders(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let (a, b, c) = (demo.table(0), demo.table(1), demo.table(2));
    let order = waiter
        .post("/api/v1/orders", dine_in(a, &[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());

    let moved = waiter
        .post(
            &format!("/api/v1/tables/{a}/move"),
            json!({"command_id": command_id(), "to_table_id": b}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(moved["id"], b);
    assert_eq!(moved["open_orders"], json!([order["id"]]));
    assert_eq!(
        waiter.get(&order_path).await.expect(StatusCode::OK)["table_id"],
        b
    );
    assert_eq!(table_status(&waiter, a).await, "available");

    waiter
        .post(
            &format!("/api/v1/tables/{c}/seat"),
            json!({"command_id": command_id(), "guests": 3}),
        )
        .await
        .expect(StatusCode::OK);
    let merged = waiter
        .post(
            &format!("/api/v1/tables/{b}/merge"),
            json!({"command_id": command_id(), "table_ids": [c]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(merged["party"]["guests"], 5);
    waiter
        .post("/api/v1/orders", dine_in(c, &[demo.item(0)]))
        .await
        .expect_error(StatusCode::CONFLICT, "table_merged");
    waiter
        .post(
            &format!("/api/v1/tables/{b}/split"),
            json!({"command_id": command_id()}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(table_status(&waiter, c).await, "available");
    assert_eq!(table_status(&waiter, b).await, "ordered");
    waiter
        .post(
            &format!("/api/v1/tables/{b}/seat"),
            json!({"command_id": command_id(), "guests": 2}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "table_occupied");
    hub.stop().await;
}

async fn the_audit_journal_records_who_did_what_and_hides_secrets(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let request = dine_in(demo.table(7), &[demo.item(0)]);
    let command = request["command_id"].clone();
    let order = waiter
        .post("/api/v1/orders", request)
        .await
        .expect(StatusCode::CREATED);

    let journal = manager
        .get(&format!(
            "/api/v1/events?command_id={}&order=asc",
            command.as_str().unwrap()
        ))
        .await
        .expect(StatusCode::OK);
    let kinds: Vec<&str> = journal["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["party_seated", "order_opened", "lines_added", "lines_fired"]
    );
    let opened = &journal["events"][1];
    assert_eq!(opened["event"]["order_id"], order["id"]);
    assert_eq!(opened["staff_id"], order["created_by"]);
    assert_eq!(opened["device"], "http");

    let staff_events = manager
        .get("/api/v1/events?kind=staff_added&limit=50")
        .await
        .expect(StatusCode::OK);
    let staff_events = staff_events["events"].as_array().unwrap();
    assert!(!staff_events.is_empty());
    for event in staff_events {
        let text = event.to_string();
        assert!(
            !text.contains("$argon2"),
            "hashes never leave the hub: {text}"
        );
    }
    // Redacted by type: the PIN lookup hash is no argon2 string, and it is hidden too.
    assert!(
        staff_events
            .iter()
            .any(|e| e["event"]["staff"]["pin_hash"] == "[redacted]"
                && e["event"]["staff"]["pin_lookup"] == "[redacted]"),
        "staff events show their hashes as [redacted]: {staff_events:?}"
    );
    let newest = manager
        .get("/api/v1/events?limit=1")
        .await
        .expect(StatusCode::OK);
    assert_eq!(newest["events"][0]["kind"], "lines_fired");
    manager
        .get("/api/v1/events?limit=5000")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
    hub.stop().await;
}
