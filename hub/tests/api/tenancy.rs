//! Owns the promises between tenants and between the venues of one tenant: one venue's ids
//! never take over another's rows, a username logs in one person hub-wide, first-run setup
//! is decided by the shared database, and an owner adds venues that run at once and that
//! their staff reach only when given them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use hub::{
    auth::hash_secret,
    domain::{Actor, Command, Role, StaffId},
    engine::{Envelope, VenueHandle, VenueSettings},
    store::{TenantRecord, VenueRecord},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    database::{Backend, TestDatabase},
    helpers::{Api, Demo, MANAGER_PIN, TestHub, WAITER_PIN, command_id},
    screen::Screen,
};

on_both_backends!(
    ids_another_tenant_chose_never_take_over_a_venues_rows,
    a_username_logs_in_one_person_whichever_tenant_typed_it,
    setup_on_a_database_another_hub_set_up_is_refused,
    an_owner_adds_a_venue_that_runs_at_once_and_survives_a_restart,
    staff_reach_another_venue_only_while_an_owner_gives_it_to_them,
);

const OWNER_PASSWORD: &str = "almahira-demo";

/// A venue of a tenant of its own, created as another company's first-run setup would, with
/// an owner `username` logging in with `password`; returns its handle and the owner's id.
async fn other_tenant(
    hub: &TestHub,
    slug: &str,
    username: &str,
    password: &str,
) -> (VenueHandle, StaffId) {
    let tenant = TenantRecord {
        id: Uuid::new_v4(),
        name: format!("PT {slug}"),
    };
    let record = VenueRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant.id,
        slug: slug.into(),
        name: format!("Warung {slug}"),
        created_at: chrono::Utc::now(),
    };
    let settings = VenueSettings {
        timezone: "Asia/Jakarta",
        currency: "IDR",
    };
    let (venue, _) = hub
        .state
        .engine
        .create_venue(tenant, record, settings, Uuid::new_v4())
        .await
        .unwrap();
    let owner = StaffId(Uuid::new_v4());
    let hash = hash_secret(password).unwrap();
    // Straight into the venue's journal, as staff added before the hub-wide register of
    // usernames existed: the register never heard of this name.
    venue
        .execute(Envelope {
            command_id: Uuid::new_v4(),
            actor: Actor::system(),
            command: Command::AddStaff {
                staff_id: owner,
                name: format!("Owner of {slug}"),
                role: Role::Owner,
                username: Some(username.into()),
                pin_lookup: None,
                pin_hash: None,
                password_hash: Some(hash.into()),
            },
        })
        .await
        .unwrap();
    hub.state.gateway.projector(venue.id()).await.unwrap();
    (venue, owner)
}

async fn password_login(api: &Api, body: Value) -> Api {
    let tokens = api
        .post("/api/v1/auth/login", body)
        .await
        .expect(StatusCode::OK);
    api.with_token(tokens["access_token"].as_str().unwrap())
}

async fn demo_owner(hub: &TestHub) -> Api {
    password_login(
        &hub.client(),
        json!({"username": "owner", "password": OWNER_PASSWORD}),
    )
    .await
}

/// Which venues a projection table holds a row `id` for.
async fn projected_venues(db: &TestDatabase, table: &str, id: &str) -> Vec<String> {
    // `table` is one of the test's own literals.
    let sql = format!("SELECT venue_id FROM {table} WHERE id = $1 ORDER BY venue_id");
    match db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            let rows: Vec<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(Uuid::parse_str(id).unwrap())
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows.iter().map(Uuid::to_string).collect()
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.replace("$1", "?")))
                .bind(id)
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            rows
        }
    }
}

async fn ids_another_tenant_chose_never_take_over_a_venues_rows(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    let order = waiter
        .post(
            "/api/v1/orders",
            crate::helpers::dine_in(demo.table(2), &[demo.item(0)]),
        )
        .await
        .expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap().to_owned();
    let line_id = order["lines"][0]["id"].as_str().unwrap().to_owned();
    let table_id = demo.table(2).to_owned();
    let demo_venue = hub.state.engine.venue_by_slug("demo").unwrap().id();

    // Another company's owner builds their venue reusing every id the demo venue chose.
    let (lain, _) = other_tenant(&hub, "lain", "pemilik", "rahasia-lain").await;
    let outsider = password_login(
        &hub.client(),
        json!({"username": "pemilik", "password": "rahasia-lain", "venue": "lain"}),
    )
    .await;
    let area = outsider
        .post(
            "/api/v1/areas",
            json!({"command_id": command_id(), "name": "Teras"}),
        )
        .await
        .expect(StatusCode::CREATED);
    // Updating a table this venue does not have is refused: a PUT never creates.
    outsider
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/tables/{table_id}"),
            Some(json!({"command_id": command_id(), "area_id": area["id"], "label": "T", "seats": 2})),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "table_not_found");
    // Creating one under the same id makes the outsider's own table, beside the demo's.
    outsider
        .post(
            "/api/v1/tables",
            json!({"command_id": command_id(), "id": table_id, "area_id": area["id"], "label": "T", "seats": 2}),
        )
        .await
        .expect(StatusCode::CREATED);
    // The same for a station: the demo's grill cannot be updated into existence here, and a
    // station made under its id is the outsider's own.
    let grill = waiter.get("/api/v1/stations").await.expect(StatusCode::OK)[0]["id"].clone();
    outsider
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/stations/{}", grill.as_str().unwrap()),
            Some(json!({"command_id": command_id(), "key": "dapur", "name": "Dapur"})),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "station_not_found");
    let station = outsider
        .post(
            "/api/v1/stations",
            json!({"command_id": command_id(), "id": grill, "key": "dapur", "name": "Dapur"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let demo_stations = waiter.get("/api/v1/stations").await.expect(StatusCode::OK);
    assert!(
        demo_stations
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["key"] != "dapur")
    );
    let category = outsider
        .post(
            "/api/v1/menu/categories",
            json!({"command_id": command_id(), "name": "Makanan"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let item = outsider
        .post(
            "/api/v1/menu/items",
            json!({"command_id": command_id(), "category_id": category["id"], "name": "Nasi",
                   "price": 10000, "stations": [station["id"]]}),
        )
        .await
        .expect(StatusCode::CREATED);
    outsider
        .post(
            "/api/v1/orders",
            json!({"command_id": command_id(), "order_id": order_id, "kind": "takeaway",
                   "customer": {"name": "Budi"},
                   "lines": [{"line_id": line_id, "menu_item_id": item["id"], "quantity": 3}]}),
        )
        .await
        .expect(StatusCode::CREATED);

    // Each venue keeps its own row under each id.
    let both = {
        let mut both = vec![demo_venue.to_string(), lain.id().to_string()];
        both.sort();
        both
    };
    assert_eq!(projected_venues(&db, "orders", &order_id).await, both);
    assert_eq!(projected_venues(&db, "order_lines", &line_id).await, both);
    assert_eq!(projected_venues(&db, "tables", &table_id).await, both);
    // The demo venue's projected order is still its own, with its own line.
    let document = hub
        .state
        .store
        .order_document(demo_venue.0, Uuid::parse_str(&order_id).unwrap())
        .await
        .unwrap()
        .expect("the demo venue's order is still projected");
    assert_eq!(document["lines"][0]["quantity"], 1);
    assert_eq!(document["lines"].as_array().unwrap().len(), 1);
    let floor = waiter.get("/api/v1/floor").await.expect(StatusCode::OK);
    let tables: Vec<&Value> = floor["areas"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["tables"].as_array().unwrap())
        .filter(|t| t["id"] == table_id.as_str())
        .collect();
    assert_eq!(tables.len(), 1);
    assert_ne!(tables[0]["label"], "T");
    hub.stop().await;
}

async fn a_username_logs_in_one_person_whichever_tenant_typed_it(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    // A second company whose owner is also called `owner` (added before names were
    // registered hub-wide), with another password.
    let (_lain, _) = other_tenant(&hub, "lain", "owner", "rahasia-lain").await;
    let client = hub.client();
    // The demo owner's login does not stop at the other venue, however often it is tried.
    for _ in 0..6 {
        demo_owner(&hub).await;
    }
    // The other company's owner logs in naming their venue; their wrong passwords never
    // lock the demo owner out.
    let lain_owner = password_login(
        &client,
        json!({"username": "owner", "password": "rahasia-lain", "venue": "lain"}),
    )
    .await;
    for _ in 0..6 {
        let wrong = client
            .post(
                "/api/v1/auth/login",
                json!({"username": "owner", "password": "wrong-password", "venue": "lain"}),
            )
            .await;
        assert!(matches!(wrong.status.as_u16(), 401 | 429), "{}", wrong.body);
    }
    let owner = demo_owner(&hub).await;
    // No new staff member anywhere can take a name the hub already has.
    owner
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Second owner", "role": "manager",
                   "username": "OWNER", "password": "another-secret"}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "username_taken");
    let added = owner
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Sari", "role": "manager",
                   "username": "sari", "password": "sari-secret"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(added["username"], "sari");
    lain_owner
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Sari Lain", "role": "waiter",
                   "username": "Sari", "password": "sari-lain-secret"}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "username_taken");
    // A refused addition lets go of the name: it stays free for the next try.
    lain_owner
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Tanpa PIN", "role": "waiter",
                   "username": "tanpa", "pin": "12"}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_pin");
    lain_owner
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Tanpa", "role": "waiter",
                   "username": "tanpa", "password": "tanpa-secret", "staff_id": Uuid::new_v4(),
                   "pin": "4444"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let sari = password_login(
        &client,
        json!({"username": "sari", "password": "sari-secret"}),
    )
    .await;
    let me = sari.get("/api/v1/me").await.expect(StatusCode::OK);
    assert_eq!(me["venue"]["slug"], "demo");
    hub.stop().await;
}

async fn setup_on_a_database_another_hub_set_up_is_refused(db: TestDatabase) {
    // Two hubs share one database and both start while it is empty.
    let first = TestHub::start_with(&db, |s| s.demo = false).await;
    let second = TestHub::start_with(&db, |s| s.demo = false).await;
    let setup = |slug: &str, username: &str| {
        json!({
            "venue": {"slug": slug, "name": "Almahira"},
            "owner": {"name": "Hendra", "username": username, "password": "correct horse"},
        })
    };
    first
        .client()
        .post("/api/v1/setup", setup("kemang", "hendra"))
        .await
        .expect(StatusCode::CREATED);
    // The second hub's memory still says "no venue"; the database says otherwise.
    second
        .client()
        .post("/api/v1/setup", setup("senopati", "mallory"))
        .await
        .expect_error(StatusCode::CONFLICT, "already_set_up");
    first.stop().await;
    second.stop().await;
    // Nothing of the refused setup was kept: after a restart only the first venue exists.
    let hub = TestHub::start_with(&db, |s| s.demo = false).await;
    let info = hub
        .client()
        .get("/api/v1/info")
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        info["venues"],
        json!([{"slug": "kemang", "name": "Almahira"}])
    );
    hub.client()
        .post(
            "/api/v1/auth/login",
            json!({"username": "mallory", "password": "correct horse"}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    hub.stop().await;
}

async fn an_owner_adds_a_venue_that_runs_at_once_and_survives_a_restart(db: TestDatabase) {
    let hub = TestHub::start_with_mqtt(&db).await;
    let owner = demo_owner(&hub).await;
    let create = json!({"command_id": command_id(), "venue": {"slug": "senopati", "name": "Almahira Senopati"}});
    let created = owner
        .post("/api/v1/venues", create.clone())
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created["slug"], "senopati");
    assert_eq!(created["timezone"], "Asia/Jakarta");
    // A retry of the same request is the same venue, not a second one or a conflict.
    let retried = owner.post("/api/v1/venues", create).await;
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.expect(StatusCode::OK)["id"], created["id"]);
    owner
        .post(
            "/api/v1/venues",
            json!({"command_id": command_id(), "venue": {"slug": "senopati", "name": "Again"}}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "venue_slug_taken");
    owner
        .post(
            "/api/v1/venues",
            json!({"command_id": command_id(), "venue": {"slug": "mars", "name": "Mars", "timezone": "Mars/Olympus"}}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_timezone");
    let venues = owner.get("/api/v1/venues").await.expect(StatusCode::OK);
    let slugs: Vec<&str> = venues
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["demo", "senopati"]);
    // Managers run a venue; adding one is the owner's call.
    hub.login(MANAGER_PIN)
        .await
        .post(
            "/api/v1/venues",
            json!({"command_id": command_id(), "venue": {"slug": "blok-m", "name": "Blok M"}}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // The owner's one login reaches the new venue: by naming it, or by switching.
    let at_senopati = password_login(
        &hub.client(),
        json!({"username": "owner", "password": OWNER_PASSWORD, "venue": "senopati"}),
    )
    .await;
    let switched = owner
        .post("/api/v1/auth/venue", json!({"venue": "senopati"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(switched["venue"]["slug"], "senopati");
    assert_eq!(switched["role"], "owner");
    let me = at_senopati.get("/api/v1/me").await.expect(StatusCode::OK);
    assert_eq!(me["venue"]["slug"], "senopati");
    assert_eq!(me["staff"]["name"], "Hendra Wijaya");

    // It runs now: staff, floor, a screen watching it, a device connecting to it.
    let mut floor_screen = Screen::connect(&hub, &at_senopati).await;
    let snapshot = floor_screen.subscribe("floor", None).await;
    assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
    let area = at_senopati
        .post(
            "/api/v1/areas",
            json!({"command_id": command_id(), "name": "Lantai 1"}),
        )
        .await
        .expect(StatusCode::CREATED);
    at_senopati
        .post(
            "/api/v1/tables",
            json!({"command_id": command_id(), "area_id": area["id"], "label": "S1", "seats": 4}),
        )
        .await
        .expect(StatusCode::CREATED);
    let changed = floor_screen.event("floor", "table_changed").await;
    assert_eq!(changed["data"]["label"], "S1");
    at_senopati
        .post(
            "/api/v1/staff",
            json!({"command_id": command_id(), "name": "Nina", "role": "waiter", "pin": "5151"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let nina = hub
        .client()
        .post(
            "/api/v1/auth/login",
            json!({"venue": "senopati", "pin": "5151"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(nina["venue"]["slug"], "senopati");
    let credentials =
        crate::mqtt::provision(&at_senopati, crate::mqtt::fridge("walk-in", 15, 60)).await;
    let device = crate::mqtt::Device::connect(hub.mqtt.unwrap(), &credentials, "walk-in", false)
        .await
        .expect("the new venue's device is let in");
    device.disconnect().await;
    hub.stop().await;

    // After a restart the venue is still there, and still the owner's.
    let hub = TestHub::start(&db).await;
    let again = password_login(
        &hub.client(),
        json!({"username": "owner", "password": OWNER_PASSWORD, "venue": "senopati"}),
    )
    .await;
    let floor = again.get("/api/v1/floor").await.expect(StatusCode::OK);
    assert_eq!(floor["areas"][0]["tables"][0]["label"], "S1");
    hub.stop().await;
}

async fn staff_reach_another_venue_only_while_an_owner_gives_it_to_them(db: TestDatabase) {
    let hub = TestHub::start(&db).await;
    let owner = demo_owner(&hub).await;
    let senopati = owner
        .post(
            "/api/v1/venues",
            json!({"command_id": command_id(), "venue": {"slug": "senopati", "name": "Almahira Senopati"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let manager = hub.login(MANAGER_PIN).await;
    let me = manager.get("/api/v1/me").await.expect(StatusCode::OK);
    let manager_id = me["staff"]["id"].as_str().unwrap().to_owned();
    let slugs = |venues: Value| -> Vec<String> {
        venues
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        slugs(manager.get("/api/v1/venues").await.expect(StatusCode::OK)),
        ["demo"]
    );
    manager
        .post("/api/v1/auth/venue", json!({"venue": "senopati"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // Only an owner gives venues, and only the company's own.
    let give = |venues: Value| json!({"command_id": command_id(), "venues": venues});
    let path = format!("/api/v1/staff/{manager_id}/venues");
    manager
        .send(
            reqwest::Method::PUT,
            &path,
            Some(give(json!([senopati["id"]]))),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let (lain, _) = other_tenant(&hub, "lain", "pemilik", "rahasia-lain").await;
    owner
        .send(reqwest::Method::PUT, &path, Some(give(json!([lain.id()]))))
        .await
        .expect_error(StatusCode::NOT_FOUND, "venue_not_found");
    let given = owner
        .send(
            reqwest::Method::PUT,
            &path,
            Some(give(json!([senopati["id"]]))),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(given["venues"], json!([senopati["id"]]));

    // The manager switches over and works there, as a manager.
    assert_eq!(
        slugs(manager.get("/api/v1/venues").await.expect(StatusCode::OK)),
        ["demo", "senopati"]
    );
    let switched = manager
        .post("/api/v1/auth/venue", json!({"venue": "senopati"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(switched["role"], "manager");
    let there = hub
        .client()
        .with_token(switched["access_token"].as_str().unwrap());
    there
        .post(
            "/api/v1/areas",
            json!({"command_id": command_id(), "name": "Lantai 1"}),
        )
        .await
        .expect(StatusCode::CREATED);
    // A refresh keeps acting at the venue while it is given.
    let refreshed = hub
        .client()
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": switched["refresh_token"]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(refreshed["venue"]["slug"], "senopati");
    // But not at someone else's company, whatever the token says.
    let foreign = hub.state.tokens.issue(
        &hub::auth::Identity {
            staff_id: StaffId(Uuid::parse_str(&manager_id).unwrap()),
            venue_id: lain.id(),
            home_venue_id: hub.state.engine.venue_by_slug("demo").unwrap().id(),
            tenant_id: hub.state.engine.venue_by_slug("demo").unwrap().tenant(),
            role: Role::Owner,
            name: "Budi".into(),
        },
        hub::auth::TokenKind::Access,
        chrono::Utc::now(),
    );
    hub.client()
        .with_token(&foreign.unwrap())
        .get("/api/v1/floor")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "venue_not_allowed");

    // Taken back: the token held for the venue stops working at once, and so does refresh.
    owner
        .send(reqwest::Method::PUT, &path, Some(give(json!([]))))
        .await
        .expect(StatusCode::OK);
    there
        .get("/api/v1/floor")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "venue_not_allowed");
    hub.client()
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "venue_not_allowed");
    // At their own venue nothing changed.
    manager.get("/api/v1/floor").await.expect(StatusCode::OK);
    hub.stop().await;
}

#[tokio::test]
async fn devices_two_venues_gave_one_id_are_watched_apart() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let hub = TestHub::start_with_mqtt(&db).await;
    let owner = demo_owner(&hub).await;
    owner
        .post(
            "/api/v1/venues",
            json!({"command_id": command_id(), "venue": {"slug": "senopati", "name": "Almahira Senopati"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    let senopati = password_login(
        &hub.client(),
        json!({"username": "owner", "password": OWNER_PASSWORD, "venue": "senopati"}),
    )
    .await;
    // Both venues name their walk-in probe with the same (client-chosen) device id.
    let shared = Uuid::new_v4();
    let mut probes = Vec::new();
    for api in [&owner, &senopati] {
        let mut body = crate::mqtt::fridge("walk-in", 15, 60);
        body["device_id"] = json!(shared);
        let credentials = crate::mqtt::provision(api, body).await;
        let device =
            crate::mqtt::Device::connect(hub.mqtt.unwrap(), &credentials, "walk-in", false)
                .await
                .unwrap();
        probes.push((api, credentials, device));
    }
    // Each venue's probe reads critical in turn: each venue gets its own alert; the first
    // one open must not silence the other venue's.
    for (api, credentials, device) in &mut probes {
        device.reading(12.0, chrono::Utc::now()).await;
        let alerts =
            crate::mqtt::alerts_until(api, &credentials.device_id, "a critical alert", |a| {
                a.iter().any(|a| a["kind"] == "critical")
            })
            .await;
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
    }
    for (_, _, device) in probes {
        device.disconnect().await;
    }
    hub.stop().await;
}
