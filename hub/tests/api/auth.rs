//! Owns the login and authorisation behaviour seen through HTTP: PIN and password logins,
//! refresh, throttling of guessing, role checks on endpoints, and tenant isolation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use hub::{
    auth::{Identity, TokenKind},
    domain::{Role, StaffId, TenantId},
    store::{TenantRecord, VenueRecord},
};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{
    database::TestDatabase,
    helpers::{Demo, KITCHEN_PIN, MANAGER_PIN, TestHub, WAITER_PIN, command_id, dine_in},
};

on_both_backends!(
    a_waiter_logs_in_with_a_pin_and_sees_the_floor_and_menu,
    the_owner_logs_in_with_username_and_password_and_refreshes,
    wrong_pins_are_refused_and_guessing_is_throttled,
    concurrent_guesses_cannot_outrun_the_throttle,
    each_role_may_only_do_its_own_work,
    a_token_for_one_venue_sees_nothing_of_another,
    a_deactivated_member_is_refused_at_once_and_keeps_their_pin_reserved,
);

async fn a_deactivated_member_is_refused_at_once_and_keeps_their_pin_reserved(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let me = waiter.get("/api/v1/me").await.expect(StatusCode::OK);
    let staff_id = me["staff"]["id"].as_str().unwrap();
    manager
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/staff/{staff_id}"),
            Some(json!({"command_id": command_id(), "active": false})),
        )
        .await
        .expect(StatusCode::OK);
    // The token is still within its lifetime, but it no longer works.
    waiter
        .get("/api/v1/floor")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "staff_inactive");
    hub.client()
        .post(
            "/api/v1/auth/login",
            json!({"venue": "demo", "pin": WAITER_PIN}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let newcomer =
        json!({"command_id": command_id(), "name": "Ayu", "role": "waiter", "pin": WAITER_PIN});
    manager
        .post("/api/v1/staff", newcomer)
        .await
        .expect_error(StatusCode::CONFLICT, "pin_taken");

    // A promotion applies on the next request, without a new token.
    let cashier_login = hub.login(crate::helpers::CASHIER_PIN).await;
    let cashier_id =
        cashier_login.get("/api/v1/me").await.expect(StatusCode::OK)["staff"]["id"].clone();
    cashier_login
        .get("/api/v1/staff")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    manager
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/staff/{}", cashier_id.as_str().unwrap()),
            Some(json!({"command_id": command_id(), "role": "manager"})),
        )
        .await
        .expect(StatusCode::OK);
    cashier_login
        .get("/api/v1/staff")
        .await
        .expect(StatusCode::OK);
    hub.stop().await;
}

async fn a_waiter_logs_in_with_a_pin_and_sees_the_floor_and_menu(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let login = hub
        .client()
        .post(
            "/api/v1/auth/login",
            json!({"venue": "demo", "pin": WAITER_PIN}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(login["role"], "waiter");
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 15 * 60);
    assert_eq!(login["venue"]["slug"], "demo");
    let waiter = hub
        .client()
        .with_token(login["access_token"].as_str().unwrap());
    let floor = waiter.get("/api/v1/floor").await.expect(StatusCode::OK);
    assert_eq!(floor["areas"].as_array().unwrap().len(), 3);
    let tables: usize = floor["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tables"].as_array().unwrap().len())
        .sum();
    assert_eq!(tables, 24);
    assert!(floor["areas"][0]["tables"][0]["status"] == "available");
    let menu = waiter.get("/api/v1/menu").await.expect(StatusCode::OK);
    assert!((30..=40).contains(&menu["items"].as_array().unwrap().len()));
    let me = waiter.get("/api/v1/me").await.expect(StatusCode::OK);
    assert_eq!(me["staff"]["role"], "waiter");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("take_orders"))
    );
    hub.stop().await;
}

async fn the_owner_logs_in_with_username_and_password_and_refreshes(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let login = hub
        .client()
        .post(
            "/api/v1/auth/login",
            json!({"username": "owner", "password": "almahira-demo"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(login["role"], "owner");
    let wrong = hub
        .client()
        .post(
            "/api/v1/auth/login",
            json!({"username": "owner", "password": "not-the-password"}),
        )
        .await;
    wrong.expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    let refreshed = hub
        .client()
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await
        .expect(StatusCode::OK);
    let owner = hub
        .client()
        .with_token(refreshed["access_token"].as_str().unwrap());
    owner.get("/api/v1/staff").await.expect(StatusCode::OK);

    // A refresh token is not an access token, and an access token cannot refresh.
    hub.client()
        .with_token(login["refresh_token"].as_str().unwrap())
        .get("/api/v1/floor")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong_token_kind");
    hub.client()
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": login["access_token"]}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "wrong_token_kind");
    hub.stop().await;
}

async fn wrong_pins_are_refused_and_guessing_is_throttled(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let client = hub.client();
    for _ in 0..5 {
        client
            .post(
                "/api/v1/auth/login",
                json!({"venue": "demo", "pin": "9876"}),
            )
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Locked now, even for the right PIN from the same address.
    let locked = client
        .post(
            "/api/v1/auth/login",
            json!({"venue": "demo", "pin": WAITER_PIN}),
        )
        .await;
    locked.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(
        locked
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );

    client
        .post(
            "/api/v1/auth/login",
            json!({"venue": "nowhere", "pin": "1234"}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "venue_not_found");
    client
        .post("/api/v1/auth/login", json!({"venue": "demo", "pin": "12"}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_pin");
    client
        .post("/api/v1/auth/login", json!({"venue": "demo"}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_login_request");
    hub.stop().await;
}

async fn concurrent_guesses_cannot_outrun_the_throttle(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let client = hub.client();
    // Forty wrong PINs at once from one address: each is counted before its hash is checked,
    // so no more than the limit of five is ever evaluated.
    let guesses = (0..40).map(|i| {
        let client = client.clone();
        async move {
            client
                .post(
                    "/api/v1/auth/login",
                    json!({"venue": "demo", "pin": format!("98{i:02}")}),
                )
                .await
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let evaluated = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.error() == "too_many_attempts")
        .count();
    assert!(evaluated <= 5, "{evaluated} guesses were evaluated");
    assert_eq!(evaluated + throttled, 40);
    hub.stop().await;
}

async fn each_role_may_only_do_its_own_work(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let manager = hub.login(MANAGER_PIN).await;
    let demo = Demo::read(&waiter).await;

    // Nobody without a valid token.
    hub.client()
        .get("/api/v1/floor")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    hub.client()
        .with_token("not.a.token")
        .get("/api/v1/orders")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");

    // The kitchen cannot take orders or void; the waiter cannot edit the menu or read the audit.
    kitchen
        .post("/api/v1/orders", dine_in(demo.table(0), &[demo.item(0)]))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let order = waiter
        .post("/api/v1/orders", dine_in(demo.table(0), &[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let line = order["lines"][0]["id"].as_str().unwrap();
    let order_id = order["id"].as_str().unwrap();
    kitchen
        .post(
            &format!("/api/v1/orders/{order_id}/lines/{line}/void"),
            json!({"command_id": command_id(), "reason": "no"}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let category = json!({"command_id": command_id(), "name": "Specials"});
    waiter
        .post("/api/v1/menu/categories", category.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    manager
        .post("/api/v1/menu/categories", category)
        .await
        .expect(StatusCode::CREATED);
    waiter
        .get("/api/v1/events")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    waiter
        .get("/api/v1/staff")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // The kitchen may 86 an item; a waiter may not.
    let availability = json!({"command_id": command_id(), "available": false});
    let item_path = format!("/api/v1/menu/items/{}/availability", demo.item(1));
    waiter
        .post(&item_path, availability.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    kitchen
        .post(&item_path, availability)
        .await
        .expect(StatusCode::OK);

    // Once the kitchen started a line, only a manager may void it.
    let line_ids = json!({"command_id": command_id(), "line_ids": [line]});
    kitchen
        .post(&format!("/api/v1/orders/{order_id}/lines/start"), line_ids)
        .await
        .expect(StatusCode::OK);
    let void = json!({"command_id": command_id(), "reason": "guest allergic"});
    let path = format!("/api/v1/orders/{order_id}/lines/{line}/void");
    waiter
        .post(&path, void.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "manager_approval_required");
    let voided = manager.post(&path, void).await.expect(StatusCode::OK);
    assert_eq!(voided["lines"][0]["status"], "voided");
    assert_eq!(voided["lines"][0]["void"]["after_cooking"], true);
    hub.stop().await;
}

async fn a_token_for_one_venue_sees_nothing_of_another(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let order = waiter
        .post("/api/v1/orders", dine_in(demo.table(0), &[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);

    // A second tenant with its own venue on the same hub.
    let tenant = TenantRecord {
        id: Uuid::new_v4(),
        name: "Warung Lain".into(),
    };
    let venue = VenueRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        slug: "lain".into(),
        name: "Warung Lain".into(),
        created_at: chrono::Utc::now(),
    };
    let (other, _) = hub
        .state
        .engine
        .create_venue(
            tenant.clone(),
            venue.clone(),
            hub::engine::VenueSettings {
                timezone: "Asia/Jakarta",
                currency: "IDR",
            },
            Uuid::new_v4(),
        )
        .await
        .unwrap();
    let identity = Identity {
        staff_id: StaffId(Uuid::new_v4()),
        venue_id: other.id(),
        home_venue_id: other.id(),
        tenant_id: TenantId(tenant.id),
        role: Role::Owner,
        name: "Other owner".into(),
    };
    let token = hub
        .state
        .tokens
        .issue(&identity, TokenKind::Access, chrono::Utc::now())
        .unwrap();
    let outsider = hub.client().with_token(&token);

    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    outsider
        .get(&order_path)
        .await
        .expect_error(StatusCode::NOT_FOUND, "order_not_found");
    assert_eq!(
        outsider
            .get("/api/v1/orders?status=all")
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    assert_eq!(
        outsider.get("/api/v1/floor").await.expect(StatusCode::OK)["areas"],
        json!([])
    );
    let journal = outsider
        .get("/api/v1/events?limit=1000")
        .await
        .expect(StatusCode::OK);
    assert!(
        journal["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "order_opened")
    );
    outsider
        .post(
            &format!("/api/v1/tables/{}/seat", demo.table(1)),
            json!({"command_id": command_id(), "guests": 2}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "table_not_found");
    hub.stop().await;
}
