//! Owns the hub as an operator meets it: first-run setup, graceful stop on SIGTERM, health
//! and readiness, Prometheus metrics, the OpenAPI document and the landing page.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    database::{Backend, TestDatabase},
    helpers::{Demo, HubProcess, MANAGER_PIN, TestHub, WAITER_PIN, takeaway},
};

on_both_backends!(
    a_fresh_hub_is_set_up_once_through_the_api,
    sigterm_stops_the_hub_cleanly_with_everything_kept,
);

async fn a_fresh_hub_is_set_up_once_through_the_api(db: TestDatabase) {
    let hub = TestHub::start_with(&db, |s| s.demo = false).await;
    let client = hub.client();
    client
        .post(
            "/api/v1/auth/login",
            json!({"venue": "kemang", "pin": "1111"}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "venue_not_found");
    let setup = json!({
        "tenant_name": "PT Almahira Rasa",
        "venue": {"slug": "kemang", "name": "Almahira Kemang"},
        "owner": {"name": "Hendra", "username": "hendra", "password": "correct horse"},
    });
    let mut bad = setup.clone();
    bad["venue"]["slug"] = json!("Not A Slug");
    client
        .post("/api/v1/setup", bad)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_slug");
    let mut nameless = setup.clone();
    nameless["owner"]["name"] = json!("  ");
    client
        .post("/api/v1/setup", nameless)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_text");
    let mut weak = setup.clone();
    weak["owner"]["password"] = json!("short");
    client
        .post("/api/v1/setup", weak)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "weak_password");

    let created = client
        .post("/api/v1/setup", setup.clone())
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["role"], "owner");
    assert_eq!(created["venue"]["slug"], "kemang");
    client
        .post("/api/v1/setup", setup)
        .await
        .expect_error(StatusCode::CONFLICT, "already_set_up");

    // The owner can log in and start building the venue; the failed attempts left nothing.
    let owner = client
        .post(
            "/api/v1/auth/login",
            json!({"username": "hendra", "password": "correct horse"}),
        )
        .await
        .expect(StatusCode::OK);
    let owner = client.with_token(owner["access_token"].as_str().unwrap());
    let area = owner
        .post(
            "/api/v1/areas",
            json!({"command_id": uuid::Uuid::new_v4(), "name": "Indoor"}),
        )
        .await
        .expect(StatusCode::CREATED);
    owner
        .post("/api/v1/tables", json!({"command_id": uuid::Uuid::new_v4(), "area_id": area["id"], "label": "1", "seats": 4}))
        .await
        .expect(StatusCode::CREATED);
    let info = client.get("/api/v1/info").await.expect(StatusCode::OK);
    assert_eq!(
        info["venues"],
        json!([{"slug": "kemang", "name": "Almahira Kemang"}])
    );
    hub.stop().await;
}

async fn sigterm_stops_the_hub_cleanly_with_everything_kept(db: TestDatabase) {
    let mut process = HubProcess::start(&db).await;
    let waiter = process.client().login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let order = waiter
        .post("/api/v1/orders", takeaway(&[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);

    let pid = process.child.id().unwrap().to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(30), process.child.wait())
        .await
        .expect("the hub stops")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    // A clean stop writes a snapshot at the last event, so the next start replays nothing.
    let store = hub::store::connect(Some(db.url()), std::path::Path::new("unused"))
        .await
        .unwrap();
    let venue = store.list_venues().await.unwrap().remove(0);
    let (snapshot_seq, _) = store.load_snapshot(venue.id).await.unwrap().unwrap();
    assert_eq!(snapshot_seq, store.last_seq(venue.id).await.unwrap());

    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    waiter
        .get(&format!("/api/v1/orders/{}", order["id"].as_str().unwrap()))
        .await
        .expect(StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn health_metrics_openapi_and_the_landing_page_are_served() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start(&db).await;
    let client = hub.client();
    assert_eq!(
        client.get("/healthz").await.expect(StatusCode::OK)["status"],
        "ok"
    );
    let ready = client.get("/readyz").await.expect(StatusCode::OK);
    assert_eq!(
        (ready["status"].as_str(), ready["store"].as_str()),
        (Some("ready"), Some("sqlite"))
    );

    let waiter = hub.login(WAITER_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let demo = Demo::read(&waiter).await;
    waiter
        .post("/api/v1/orders", takeaway(&[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let close = json!({"command_id": uuid::Uuid::new_v4()});
    let orders = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    let path = format!("/api/v1/orders/{}/close", orders[0]["id"].as_str().unwrap());
    manager
        .post(&path, close)
        .await
        .expect_error(StatusCode::CONFLICT, "order_has_unserved_lines");

    let metrics = hub.state.metrics.encode();
    for family in [
        "hub_commands_total{venue=\"demo\",outcome=\"accepted\"}",
        "hub_rejections_total{code=\"order_has_unserved_lines\"} 1",
        "hub_commit_seconds_bucket",
        "hub_commit_batch_size_bucket",
        "hub_http_requests_total",
        "hub_open_orders{venue=\"demo\"} 1",
    ] {
        assert!(
            metrics.contains(family),
            "{family} missing from /metrics:\n{metrics}"
        );
    }
    let served = reqwest::get(format!("http://{}/metrics", hub.address))
        .await
        .unwrap();
    assert!(
        served.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    let openapi = client
        .get("/api/v1/openapi.json")
        .await
        .expect(StatusCode::OK);
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/orders",
        "/api/v1/auth/login",
        "/api/v1/tables/{id}/merge",
        "/api/v1/events",
        "/api/v1/setup",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }
    assert!(openapi["components"]["securitySchemes"]["bearer"].is_object());

    let landing = reqwest::get(format!("http://{}/", hub.address))
        .await
        .unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    assert!(
        landing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(landing.text().await.unwrap().contains("/api/v1/info"));
    let info = client.get("/api/v1/info").await.expect(StatusCode::OK);
    assert_eq!(info["venues"][0]["name"], "Almahira Kemang");
    assert_eq!(info["apps"][0]["href"], "/api/v1/docs", "{info}");

    // The readable reference, and its scripts, are served by the hub itself.
    for (path, kind, contains) in [
        ("/api/v1/docs", "text/html", "/apps/api/page.js"),
        ("/apps/api/page.js", "text/javascript", "/lib/openapi.js"),
        (
            "/lib/openapi.js",
            "text/javascript",
            "export function describeApi",
        ),
    ] {
        let page = reqwest::get(format!("http://{}{path}", hub.address))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(page.text().await.unwrap().contains(contains), "{path}");
    }
    assert!(openapi["paths"]["/api/v1/docs"]["get"].is_object());
    // Development files under web/ are neither served nor built in.
    for path in [
        "/package.json",
        "/package-lock.json",
        "/node_modules/playwright-core/package.json",
        "/tests/api-docs.test.js",
    ] {
        client
            .get(path)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    hub.stop().await;
}

#[tokio::test]
async fn every_start_prints_the_demo_logins_that_still_work() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let process = HubProcess::start(&db).await;
    let first = process.printed_through("PIN 4444").await.join("\n");
    assert!(
        first.contains("Demo venue \"Almahira Kemang\" (slug demo) seeded. Logins:"),
        "{first}"
    );
    assert!(
        first.contains("username owner / password almahira-demo"),
        "{first}"
    );
    assert!(
        first.contains("/api/v1/docs"),
        "the banner names the API reference: {first}"
    );

    // The manager gives Wulan a new PIN and lets Rizky go; everyone else keeps theirs.
    let manager = process.client().login(MANAGER_PIN).await;
    let staff = manager.get("/api/v1/staff").await.expect(StatusCode::OK);
    let id_of = |name: &str| {
        staff
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    manager
        .post(
            &format!("/api/v1/staff/{}/pin", id_of("Wulan Sari")),
            json!({"command_id": uuid::Uuid::new_v4(), "pin": "9090"}),
        )
        .await
        .expect(StatusCode::OK);
    manager
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/staff/{}", id_of("Rizky")),
            Some(json!({"command_id": uuid::Uuid::new_v4(), "active": false})),
        )
        .await
        .expect(StatusCode::OK);

    let process = process.restart().await;
    let second = process.printed_through("PIN 4444").await.join("\n");
    assert!(
        second.contains("Demo venue \"Almahira Kemang\" (slug demo) present. Logins:"),
        "{second}"
    );
    for still in [
        "PIN 1111",
        "PIN 2222",
        "PIN 3335",
        "PIN 4444",
        "username owner / password almahira-demo",
    ] {
        assert!(
            second.contains(still),
            "{still} still works and is printed: {second}"
        );
    }
    for gone in ["PIN 3333", "PIN 3334", "9090"] {
        assert!(
            !second.contains(gone),
            "{gone} is not a demo login any more: {second}"
        );
    }
}
