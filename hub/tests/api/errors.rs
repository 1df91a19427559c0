//! Owns the promise that bad input always gets a clear 4xx with a stable code (and the field
//! at fault), never a 500 or a panic: malformed JSON, wrong types, unknown ids, negative
//! numbers, wrong states, wrong methods, oversized bodies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::{
    database::TestDatabase,
    helpers::{CASHIER_PIN, Demo, TestHub, WAITER_PIN, command_id, dine_in, takeaway},
};

on_both_backends!(every_kind_of_bad_input_gets_a_clear_error);

async fn every_kind_of_bad_input_gets_a_clear_error(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;

    // Syntax, content type, trailing garbage, size.
    waiter
        .post_raw("/api/v1/orders", "application/json", "{\"kind\": ")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    waiter
        .post_raw("/api/v1/orders", "text/plain", "hello")
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    waiter
        .post_raw(
            "/api/v1/orders",
            "application/json",
            format!("{} {{}}", takeaway(&[demo.item(0)])),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    let huge = format!("{{\"note\": \"{}\"}}", "x".repeat(400 * 1024));
    waiter
        .post_raw("/api/v1/orders", "application/json", huge)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Shape: missing fields, wrong types, unknown fields name the field.
    let missing = waiter
        .post("/api/v1/orders", json!({"kind": "takeaway"}))
        .await;
    missing.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("command_id")
    );
    let mut wrong_type = takeaway(&[demo.item(0)]);
    wrong_type["lines"][0]["quantity"] = json!("two");
    let reply = waiter.post("/api/v1/orders", wrong_type).await;
    reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(reply.body["field"], "lines[0].quantity");
    let mut unknown_field = takeaway(&[demo.item(0)]);
    unknown_field["tabel"] = json!(1);
    waiter
        .post("/api/v1/orders", unknown_field)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let mut bad_kind = takeaway(&[demo.item(0)]);
    bad_kind["kind"] = json!("drive_through");
    let reply = waiter.post("/api/v1/orders", bad_kind).await;
    reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(reply.body["field"], "kind");

    // Values the domain refuses, with the field at fault.
    let mut negative = dine_in(demo.table(0), &[demo.item(0)]);
    negative["lines"][0]["quantity"] = json!(-1);
    let reply = waiter.post("/api/v1/orders", negative).await;
    reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_quantity");
    assert_eq!(reply.body["field"], "lines[0].quantity");
    let mut no_guests = dine_in(demo.table(0), &[demo.item(0)]);
    no_guests["guests"] = json!(0);
    waiter
        .post("/api/v1/orders", no_guests)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_guests");
    let no_table = json!({"command_id": command_id(), "kind": "dine_in", "lines": []});
    waiter
        .post("/api/v1/orders", no_table)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "missing_table");
    let delivery = json!({"command_id": command_id(), "kind": "delivery", "customer": {"name": "Rina"}, "lines": []});
    waiter
        .post("/api/v1/orders", delivery)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "missing_address");

    // Unknown ids.
    let ghost = Uuid::new_v4().to_string();
    let reply = waiter.post("/api/v1/orders", takeaway(&[&ghost])).await;
    reply.expect_error(StatusCode::NOT_FOUND, "menu_item_not_found");
    assert_eq!(reply.body["field"], "lines[0].menu_item_id");
    waiter
        .post("/api/v1/orders", dine_in(&ghost, &[demo.item(0)]))
        .await
        .expect_error(StatusCode::NOT_FOUND, "table_not_found");
    waiter
        .get(&format!("/api/v1/orders/{ghost}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "order_not_found");
    waiter
        .post(
            &format!("/api/v1/orders/{ghost}/fire"),
            json!({"command_id": command_id(), "course": 1}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "order_not_found");
    waiter
        .get("/api/v1/orders/not-a-uuid")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    waiter
        .get("/api/v1/orders?status=eaten")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");

    // Wrong state and sold-out items are conflicts.
    let order = waiter
        .post("/api/v1/orders", takeaway(&[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let cashier = hub.login(CASHIER_PIN).await;
    cashier
        .post(
            &format!("{path}/cancel"),
            json!({"command_id": command_id(), "reason": "changed mind"}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "order_has_fired_lines");
    let menu = waiter.get("/api/v1/menu").await.expect(StatusCode::OK);
    let sold_out = menu["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["available"] == false)
        .unwrap();
    waiter
        .post(
            "/api/v1/orders",
            takeaway(&[sold_out["id"].as_str().unwrap()]),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "item_unavailable");

    // Routing: unknown paths and wrong methods answer JSON too.
    waiter
        .get("/api/v1/nothing-here")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    waiter
        .send(Method::DELETE, "/api/v1/orders", None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    // After all that, the hub is fine and nothing refused was recorded.
    let orders = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let metrics = hub.client().get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    hub.stop().await;
}
