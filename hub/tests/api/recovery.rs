//! Owns durability: a restarted hub rebuilds exactly the state it had, a hub killed with
//! SIGKILL during a burst keeps every command it acknowledged, and a store outage answers
//! 503 without leaving memory ahead of the store or losing anything accepted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use hub::domain::Venue;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

use crate::{
    database::{Backend, TestDatabase},
    helpers::{
        CASHIER_PIN, Demo, HubProcess, KITCHEN_PIN, TestHub, WAITER_PIN, command_id, dine_in,
        line_ids, takeaway,
    },
};

on_both_backends!(
    a_restarted_hub_has_exactly_the_state_it_had,
    a_hub_killed_during_a_burst_keeps_every_acknowledged_order,
);

async fn venue_state(hub: &TestHub) -> Venue {
    hub.state
        .engine
        .venue_by_slug("demo")
        .unwrap()
        .read(Venue::clone)
        .await
        .unwrap()
}

/// Puts a few tables and orders in different states.
async fn a_busy_evening(hub: &TestHub) {
    let waiter = hub.login(WAITER_PIN).await;
    let kitchen = hub.login(KITCHEN_PIN).await;
    let cashier = hub.login(CASHIER_PIN).await;
    let demo = Demo::read(&waiter).await;
    for table in 0..6 {
        let order = waiter
            .post(
                "/api/v1/orders",
                dine_in(demo.table(table), &[demo.item(table), demo.item(table + 1)]),
            )
            .await
            .expect(StatusCode::CREATED);
        let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
        let lines = json!({"command_id": command_id(), "line_ids": line_ids(&order)});
        if table % 2 == 0 || table % 3 == 0 {
            kitchen
                .post(&format!("{path}/lines/ready"), lines.clone())
                .await
                .expect(StatusCode::OK);
        }
        if table % 3 == 0 {
            let mut served = lines.clone();
            served["command_id"] = json!(command_id());
            waiter
                .post(&format!("{path}/lines/serve"), served)
                .await
                .expect(StatusCode::OK);
            cashier
                .post(
                    &format!("{path}/close"),
                    json!({"command_id": command_id()}),
                )
                .await
                .expect(StatusCode::OK);
        }
    }
    waiter
        .post("/api/v1/orders", takeaway(&[demo.item(3)]))
        .await
        .expect(StatusCode::CREATED);
}

async fn a_restarted_hub_has_exactly_the_state_it_had(db: TestDatabase) {
    // Snapshots every 7 events, so the restart reads a snapshot plus a journal tail.
    let configure = |s: &mut hub::config::Settings| s.snapshot_every = 7;
    let hub = TestHub::start_with(&db, configure).await;
    a_busy_evening(&hub).await;
    let before = venue_state(&hub).await;
    let waiter = hub.login(WAITER_PIN).await;
    let floor_before = waiter.get("/api/v1/floor").await.expect(StatusCode::OK);
    let orders_before = waiter
        .get("/api/v1/orders?status=all")
        .await
        .expect(StatusCode::OK);
    hub.stop().await;

    let hub = TestHub::start_with(&db, configure).await;
    assert_eq!(venue_state(&hub).await, before);
    let waiter = hub.login(WAITER_PIN).await;
    assert_eq!(
        waiter.get("/api/v1/floor").await.expect(StatusCode::OK),
        floor_before
    );
    assert_eq!(
        waiter
            .get("/api/v1/orders?status=all")
            .await
            .expect(StatusCode::OK),
        orders_before
    );

    // The order numbering and idempotency window survive too.
    let next = waiter
        .post(
            "/api/v1/orders",
            takeaway(&[Demo::read(&waiter).await.item(0)]),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        next["number"].as_u64().unwrap(),
        orders_before.as_array().unwrap().len() as u64 + 1
    );
    hub.stop().await;
}

async fn a_hub_killed_during_a_burst_keeps_every_acknowledged_order(db: TestDatabase) {
    let mut process = HubProcess::start(&db).await;
    let waiter = process.client().login(WAITER_PIN).await;
    let demo = Arc::new(Demo::read(&waiter).await);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));

    let clients: Vec<_> = (0..16)
        .map(|client| {
            let (waiter, demo, acknowledged) = (waiter.clone(), demo.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for n in 0..500 {
                    let request = takeaway(&[demo.item(client + n)]);
                    match waiter
                        .try_send(reqwest::Method::POST, "/api/v1/orders", Some(request))
                        .await
                    {
                        Ok(reply) if reply.status == StatusCode::CREATED => {
                            acknowledged
                                .lock()
                                .unwrap()
                                .push(reply.body["id"].as_str().unwrap().to_owned());
                        }
                        Ok(reply) => panic!(
                            "unexpected answer during the burst: {} {}",
                            reply.status, reply.body
                        ),
                        Err(_) => return, // the hub is gone
                    }
                }
            })
        })
        .collect();

    // Kill it in the middle of the burst, without any chance to flush or snapshot.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acknowledged.lock().unwrap().len() < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the burst gets going");
    process.child.start_kill().unwrap();
    process.child.wait().await.unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 150);

    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    for id in &acknowledged {
        waiter
            .get(&format!("/api/v1/orders/{id}"))
            .await
            .expect(StatusCode::OK);
    }
    let open = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    let numbers: Vec<u64> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_u64().unwrap())
        .collect();
    assert!(numbers.len() >= acknowledged.len());
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "order numbers have no gaps or repeats"
    );
    hub.stop().await;
}

fn database_name(db: &TestDatabase) -> String {
    db.url()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

async fn admin() -> PgConnection {
    PgConnection::connect(&hub::store::scratch::admin_url_from_env())
        .await
        .unwrap()
}

async fn set_connections_allowed(db: &TestDatabase, allowed: bool) {
    let name = database_name(db);
    let mut admin = admin().await;
    let statement = format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allowed}");
    sqlx::query(AssertSqlSafe(statement))
        .execute(&mut admin)
        .await
        .unwrap();
    if !allowed {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(&name)
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_postgres_outage_answers_503_and_loses_nothing() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let hub = TestHub::start(&db).await;
    let waiter = hub.login(WAITER_PIN).await;
    let demo = Demo::read(&waiter).await;
    waiter
        .post("/api/v1/orders", takeaway(&[demo.item(0)]))
        .await
        .expect(StatusCode::CREATED);
    let before = venue_state(&hub).await;

    set_connections_allowed(&db, false).await;
    let during_outage = takeaway(&[demo.item(1)]);
    waiter
        .post("/api/v1/orders", during_outage.clone())
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    hub.client()
        .get("/readyz")
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(
        venue_state(&hub).await,
        before,
        "memory is not ahead of the store"
    );

    set_connections_allowed(&db, true).await;
    let retried = waiter.post("/api/v1/orders", during_outage).await;
    assert_eq!(
        retried.header("idempotent-replayed"),
        Some("false"),
        "the refused attempt left nothing behind"
    );
    retried.expect(StatusCode::CREATED);
    let open = waiter.get("/api/v1/orders").await.expect(StatusCode::OK);
    assert_eq!(open.as_array().unwrap().len(), 2);
    let after = venue_state(&hub).await;
    hub.stop().await;

    let restarted = TestHub::start(&db).await;
    assert_eq!(venue_state(&restarted).await, after);
    restarted.stop().await;
}
