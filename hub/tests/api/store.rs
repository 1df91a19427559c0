//! Owns the conformance suite of the `Store` trait: every behaviour the engine relies on,
//! run unchanged against Postgres and SQLite so the two backends cannot drift apart.
//! It must not test domain rules; rows here are opaque to the store and so are they here.

// Scenario bodies and helpers are plain fns called by `#[tokio::test]`s, so clippy does not
// see them as tests; a failed expectation here should panic and fail the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: panicking is how a test fails"
)]

use std::{path::Path, sync::Arc};

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use hub::store::{
    self, CommandRecord, Commit, EventQuery, OrderLineRow, OrderRow, Store, StoreError,
    StoredEvent, TableRow, TenantRecord, VenueRecord,
};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::database::{Backend, TestDatabase};

on_both_backends!(
    migrations_can_run_again_on_an_existing_database,
    a_database_of_the_earlier_schema_upgrades_keeping_its_projections,
    first_run_setup_happens_once_whatever_the_race,
    a_username_is_held_by_one_staff_member,
    created_venues_are_listed_and_a_duplicate_slug_is_a_conflict,
    appended_events_load_back_with_every_field_intact,
    timestamps_keep_microseconds_and_drop_finer_precision,
    a_commit_repeating_an_earlier_command_id_fails_and_writes_none_of_its_rows,
    a_sequence_number_used_twice_is_a_conflict,
    the_audit_journal_honours_every_filter,
    the_audit_journal_returns_between_one_and_a_thousand_events,
    projections_are_upserted_and_the_newest_order_document_is_returned,
    removed_tables_disappear_from_the_projection,
    the_newest_snapshot_is_loaded_and_only_two_are_kept,
    a_setting_keeps_the_value_stored_first,
    last_seq_is_zero_for_an_empty_journal_and_follows_appends,
    the_journal_refuses_to_change_or_remove_events,
    an_empty_commit_is_accepted_and_writes_nothing,
    a_large_group_commit_is_written_whole,
    concurrent_first_writers_of_a_setting_all_get_one_value,
);

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

async fn migrations_can_run_again_on_an_existing_database(db: TestDatabase) {
    let first = open(&db).await;
    let venue = create_venue(first.as_ref(), "first-run").await;
    drop(first);

    let second = open(&db).await;
    second.ping().await.unwrap();
    assert_eq!(second.list_venues().await.unwrap(), vec![venue]);
    let expected = match db.backend() {
        Backend::Postgres => store::Backend::Postgres,
        Backend::Sqlite => store::Backend::Sqlite,
    };
    assert_eq!(second.backend(), expected);
}

/// The schema as it was before projections were keyed per venue (migrations 1 and 2).
fn earlier_schema(backend: Backend) -> sqlx::migrate::Migrator {
    let sources: [(i64, &str, &'static str); 2] = match backend {
        Backend::Postgres => [
            (
                1,
                "journal",
                include_str!("../../../migrations/postgres/0001_journal.sql"),
            ),
            (
                2,
                "readings",
                include_str!("../../../migrations/postgres/0002_readings.sql"),
            ),
        ],
        Backend::Sqlite => [
            (
                1,
                "journal",
                include_str!("../../../migrations/sqlite/0001_journal.sql"),
            ),
            (
                2,
                "readings",
                include_str!("../../../migrations/sqlite/0002_readings.sql"),
            ),
        ],
    };
    sqlx::migrate::Migrator::with_migrations(
        sources
            .into_iter()
            .map(|(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    version,
                    description.into(),
                    sqlx::migrate::MigrationType::Simple,
                    sqlx::SqlSafeStr::into_sql_str(AssertSqlSafe(sql)),
                    false,
                )
            })
            .collect(),
    )
}

async fn a_database_of_the_earlier_schema_upgrades_keeping_its_projections(db: TestDatabase) {
    let (tenant, venue, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (order, line, stray, table) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let at = "2026-11-30T12:00:00.000000Z";
    // Plain literals, which both backends take for uuids, times and JSON.
    let rows = [
        format!("INSERT INTO tenants (id, name) VALUES ('{tenant}', 'Almahira')"),
        format!(
            "INSERT INTO venues (id, tenant_id, slug, name, created_at) VALUES ('{venue}', '{tenant}', 'kemang', 'Kemang', '{at}')"
        ),
        format!(
            "INSERT INTO venues (id, tenant_id, slug, name, created_at) VALUES ('{other}', '{tenant}', 'lain', 'Lain', '{at}')"
        ),
        format!(
            "INSERT INTO orders (id, venue_id, number, kind, status, created_at, subtotal, document) VALUES ('{order}', '{venue}', 7, 'takeaway', 'open', '{at}', 25000, '{{\"number\": 7}}')"
        ),
        format!(
            "INSERT INTO order_lines (id, order_id, venue_id, position, menu_item_id, name, quantity, unit_price, line_total, course, status, added_at) VALUES ('{line}', '{order}', '{venue}', 0, '{}', 'Soto', 1, 25000, 25000, 1, 'fired', '{at}')",
            Uuid::new_v4()
        ),
        // A line another venue wrote into this order, as the old single-column key let it.
        format!(
            "INSERT INTO order_lines (id, order_id, venue_id, position, menu_item_id, name, quantity, unit_price, line_total, course, status, added_at) VALUES ('{stray}', '{order}', '{other}', 1, '{}', 'Stray', 1, 1, 1, 1, 'fired', '{at}')",
            Uuid::new_v4()
        ),
        format!(
            "INSERT INTO tables (id, venue_id, area_id, label, seats, status) VALUES ('{table}', '{venue}', '{}', '7', 4, 'available')",
            Uuid::new_v4()
        ),
    ];
    match db.backend() {
        Backend::Postgres => {
            let mut connection = PgConnection::connect(db.url()).await.unwrap();
            earlier_schema(db.backend())
                .run(&mut connection)
                .await
                .unwrap();
            for row in &rows {
                sqlx::query(AssertSqlSafe(row.clone()))
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            connection.close().await.unwrap();
        }
        Backend::Sqlite => {
            let mut connection = SqliteConnection::connect(db.url()).await.unwrap();
            earlier_schema(db.backend())
                .run(&mut connection)
                .await
                .unwrap();
            for row in &rows {
                sqlx::query(AssertSqlSafe(row.clone()))
                    .execute(&mut connection)
                    .await
                    .unwrap();
            }
            connection.close().await.unwrap();
        }
    }

    // Opening the store applies the rest; the venue's rows come through, the stray goes.
    let store = open(&db).await;
    assert_eq!(
        store.order_document(venue, order).await.unwrap(),
        Some(json!({"number": 7}))
    );
    assert_eq!(store.order_document(other, order).await.unwrap(), None);
    let count = |sql: &'static str| {
        let url = db.url().to_owned();
        let backend = db.backend();
        async move {
            match backend {
                Backend::Postgres => {
                    let mut c = PgConnection::connect(&url).await.unwrap();
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&mut c)
                        .await
                        .unwrap()
                }
                Backend::Sqlite => {
                    let mut c = SqliteConnection::connect(&url).await.unwrap();
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&mut c)
                        .await
                        .unwrap()
                }
            }
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM order_lines").await, 1);
    assert_eq!(count("SELECT COUNT(*) FROM tables").await, 1);
    // And the upgraded keys let another venue project its own order under the same id.
    let mut commit = Commit {
        venue_id: other,
        ..Commit::default()
    };
    commit.events.push(StoredEvent {
        venue_id: other,
        seq: 1,
        at: Utc::now(),
        command_id: Uuid::new_v4(),
        staff_id: None,
        device: None,
        kind: "order_opened".into(),
        payload: json!({"type": "order_opened"}),
    });
    commit.orders.push(OrderRow {
        id: order,
        venue_id: other,
        number: 1,
        kind: "takeaway".into(),
        status: "open".into(),
        table_id: None,
        guests: None,
        customer_name: None,
        customer_phone: None,
        delivery_address: None,
        channel: None,
        created_by: None,
        created_at: Utc::now(),
        closed_at: None,
        cancelled_at: None,
        subtotal: 0,
        document: json!({"number": 1}),
    });
    store.append(&commit).await.unwrap();
    assert_eq!(
        store.order_document(venue, order).await.unwrap(),
        Some(json!({"number": 7}))
    );
    assert_eq!(
        store.order_document(other, order).await.unwrap(),
        Some(json!({"number": 1}))
    );
}

async fn first_run_setup_happens_once_whatever_the_race(db: TestDatabase) {
    let store = open(&db).await;
    let second = open(&db).await;
    let attempt = |store: Arc<dyn Store>, slug: &'static str| async move {
        let tenant = TenantRecord {
            id: Uuid::new_v4(),
            name: slug.into(),
        };
        let venue = venue_record(tenant.id, slug, Utc::now());
        let owner = store::UsernameClaim {
            username: format!("owner-{slug}"),
            venue_id: venue.id,
            staff_id: Uuid::new_v4(),
            claimed_at: Utc::now(),
        };
        store.create_first_venue(&tenant, &venue, &owner).await
    };
    let results =
        futures_util::future::join_all(["a", "b", "c", "d", "e", "f"].into_iter().enumerate().map(
            |(i, slug)| {
                attempt(
                    if i % 2 == 0 {
                        store.clone()
                    } else {
                        second.clone()
                    },
                    slug,
                )
            },
        ))
        .await;
    let created: Vec<bool> = results
        .into_iter()
        .map(|r| match r {
            Ok(created) => created,
            // SQLite may answer a writer that waited too long as unavailable: not set up.
            Err(StoreError::Unavailable(_)) => false,
            Err(other) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    assert_eq!(store.list_venues().await.unwrap().len(), 1);
}

async fn a_username_is_held_by_one_staff_member(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "names").await.id;
    let claim = |staff: Uuid| store::UsernameClaim {
        username: "sari".into(),
        venue_id: venue,
        staff_id: staff,
        claimed_at: Utc::now(),
    };
    let (sari, other) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        store.claim_username(&claim(sari)).await.unwrap(),
        store::ClaimOutcome::Claimed
    );
    assert_eq!(
        store.claim_username(&claim(sari)).await.unwrap(),
        store::ClaimOutcome::AlreadyHeld
    );
    let held = match store.claim_username(&claim(other)).await.unwrap() {
        store::ClaimOutcome::HeldBy(held) => held,
        outcome => panic!("{outcome:?}"),
    };
    assert_eq!(held.staff_id, sari);
    assert_eq!(
        store
            .username_claim("sari")
            .await
            .unwrap()
            .unwrap()
            .staff_id,
        sari
    );
    // Only its holder's release lets go; a take-over moves it whole.
    store.release_username(&claim(other)).await.unwrap();
    assert!(store.username_claim("sari").await.unwrap().is_some());
    assert!(
        store
            .take_over_username(&held, &claim(other))
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_over_username(&held, &claim(other))
            .await
            .unwrap()
    );
    store.release_username(&claim(other)).await.unwrap();
    assert_eq!(store.username_claim("sari").await.unwrap(), None);
}

async fn created_venues_are_listed_and_a_duplicate_slug_is_a_conflict(db: TestDatabase) {
    let store = open(&db).await;
    let tenant = TenantRecord {
        id: Uuid::new_v4(),
        name: "Almahira Group".into(),
    };
    let kemang = venue_record(tenant.id, "kemang", at(0));
    let senopati = venue_record(tenant.id, "senopati", at(1));
    store.create_venue(&tenant, &kemang).await.unwrap();
    // The tenant already exists now; a second venue of it must still be accepted.
    store.create_venue(&tenant, &senopati).await.unwrap();

    let impostor = venue_record(tenant.id, "kemang", at(2));
    let error = store.create_venue(&tenant, &impostor).await.unwrap_err();

    assert!(matches!(error, StoreError::Conflict(_)), "got {error:?}");
    assert_eq!(store.list_venues().await.unwrap(), vec![kemang, senopati]);
}

async fn appended_events_load_back_with_every_field_intact(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "round-trip").await.id;
    let waiter = Uuid::new_v4();
    let command = Uuid::new_v4();
    let mut ordered = event(venue, 1, command, "order_opened", at(10));
    ordered.staff_id = Some(waiter);
    ordered.device = Some("pos-2".into());
    ordered.payload = json!({
        "type": "order_opened",
        "table": "T12",
        "guests": 4,
        "note": "alergi kacang — no peanuts, 🌶️ mild",
        "lines": [{"qty": 2, "price": 45000}, {"qty": 1, "price": null}],
        "vip": true,
        "ratio": 0.75
    });
    let fired = event(venue, 2, command, "course_fired", at(11));
    let events = vec![ordered, fired];

    store
        .append(&Commit {
            venue_id: venue,
            events: events.clone(),
            commands: vec![command_record(command, 1, 2, at(11))],
            ..Commit::default()
        })
        .await
        .unwrap();

    assert_eq!(store.load_events(venue, 0, 100).await.unwrap(), events);
    assert_eq!(
        store.load_events(venue, 1, 100).await.unwrap(),
        events[1..].to_vec()
    );
    assert_eq!(
        store.load_events(venue, 0, 1).await.unwrap(),
        events[..1].to_vec()
    );
    assert!(store.load_events(venue, 2, 100).await.unwrap().is_empty());
    let other_venue = create_venue(store.as_ref(), "other").await.id;
    assert!(
        store
            .load_events(other_venue, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn timestamps_keep_microseconds_and_drop_finer_precision(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "precision").await.id;
    let precise = at(0) + Duration::nanoseconds(999);

    append_events(
        store.as_ref(),
        venue,
        vec![event(venue, 1, Uuid::new_v4(), "tick", precise)],
    )
    .await
    .unwrap();

    let loaded = store.load_events(venue, 0, 10).await.unwrap();
    assert_eq!(loaded[0].at, at(0));
}

async fn a_commit_repeating_an_earlier_command_id_fails_and_writes_none_of_its_rows(
    db: TestDatabase,
) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "atomic").await.id;
    let first_command = Uuid::new_v4();
    append_events(
        store.as_ref(),
        venue,
        vec![event(venue, 1, first_command, "order_opened", at(0))],
    )
    .await
    .unwrap();

    let second_command = Uuid::new_v4();
    let order = order_row(venue, Uuid::new_v4(), "open", json!({"v": 1}));
    let retry = Commit {
        venue_id: venue,
        events: vec![
            event(venue, 2, second_command, "line_added", at(1)),
            event(venue, 3, second_command, "line_added", at(2)),
        ],
        commands: vec![
            command_record(second_command, 2, 3, at(2)),
            // Recorded by the first commit already: the whole batch must be refused.
            command_record(first_command, 1, 1, at(2)),
        ],
        orders: vec![order.clone()],
        ..Commit::default()
    };
    let error = store.append(&retry).await.unwrap_err();

    assert!(matches!(error, StoreError::Conflict(_)), "got {error:?}");
    assert_eq!(store.last_seq(venue).await.unwrap(), 1);
    assert_eq!(store.load_events(venue, 0, 100).await.unwrap().len(), 1);
    assert_eq!(store.order_document(venue, order.id).await.unwrap(), None);
    assert_eq!(count_rows(&db, "commands").await, 1);
}

async fn a_sequence_number_used_twice_is_a_conflict(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "duplicate-seq").await.id;
    let original = event(venue, 1, Uuid::new_v4(), "order_opened", at(0));
    append_events(store.as_ref(), venue, vec![original.clone()])
        .await
        .unwrap();

    let error = append_events(
        store.as_ref(),
        venue,
        vec![event(venue, 1, Uuid::new_v4(), "impostor", at(1))],
    )
    .await
    .unwrap_err();

    assert!(matches!(error, StoreError::Conflict(_)), "got {error:?}");
    assert_eq!(
        store.load_events(venue, 0, 10).await.unwrap(),
        vec![original]
    );
}

async fn the_audit_journal_honours_every_filter(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "audit").await.id;
    let (ani, budi) = (Uuid::new_v4(), Uuid::new_v4());
    let (open_order, void_line, bump) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let journal = [
        (1, open_order, Some(ani), "order_opened", 0),
        (2, open_order, Some(ani), "line_added", 0),
        (3, void_line, Some(budi), "line_voided", 60),
        (4, bump, None, "ticket_bumped", 120),
        (5, bump, None, "ticket_ready", 120),
        (6, void_line, Some(budi), "line_added", 180),
    ];
    let events: Vec<StoredEvent> = journal
        .iter()
        .map(|&(seq, command, staff, kind, second)| {
            let mut event = event(venue, seq, command, kind, at(second * 1_000_000));
            event.staff_id = staff;
            event
        })
        .collect();
    append_events(store.as_ref(), venue, events).await.unwrap();
    // Another venue's journal must never leak into this one's audit.
    let elsewhere = create_venue(store.as_ref(), "elsewhere").await.id;
    append_events(
        store.as_ref(),
        elsewhere,
        vec![event(elsewhere, 1, open_order, "order_opened", at(0))],
    )
    .await
    .unwrap();

    let all = EventQuery {
        venue_id: venue,
        limit: 100,
        ..EventQuery::default()
    };
    let seqs = |query: EventQuery| {
        let store = Arc::clone(&store);
        async move {
            let events = store.query_events(&query).await.unwrap();
            events.iter().map(|event| event.seq).collect::<Vec<_>>()
        }
    };

    assert_eq!(seqs(all.clone()).await, [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        seqs(EventQuery {
            kinds: vec!["line_added".into(), "line_voided".into()],
            ..all.clone()
        })
        .await,
        [2, 3, 6]
    );
    assert_eq!(
        seqs(EventQuery {
            staff_id: Some(budi),
            ..all.clone()
        })
        .await,
        [3, 6]
    );
    assert_eq!(
        seqs(EventQuery {
            command_id: Some(bump),
            ..all.clone()
        })
        .await,
        [4, 5]
    );
    assert_eq!(
        seqs(EventQuery {
            from: Some(at(60_000_000)),
            to: Some(at(180_000_000)),
            ..all.clone()
        })
        .await,
        [3, 4, 5],
        "from is inclusive and to exclusive"
    );
    assert_eq!(
        seqs(EventQuery {
            after_seq: Some(2),
            before_seq: Some(5),
            ..all.clone()
        })
        .await,
        [3, 4]
    );
    assert_eq!(
        seqs(EventQuery {
            newest_first: true,
            limit: 2,
            ..all.clone()
        })
        .await,
        [6, 5]
    );
    assert_eq!(
        seqs(EventQuery {
            newest_first: true,
            before_seq: Some(5),
            limit: 2,
            ..all.clone()
        })
        .await,
        [4, 3],
        "paging backwards continues below the oldest event already shown"
    );
    assert_eq!(
        seqs(EventQuery {
            kinds: vec!["line_added".into()],
            staff_id: Some(ani),
            ..all.clone()
        })
        .await,
        [2],
        "filters combine with AND"
    );
    assert_eq!(
        seqs(EventQuery {
            staff_id: Some(Uuid::new_v4()),
            ..all
        })
        .await,
        Vec::<i64>::new()
    );
}

async fn the_audit_journal_returns_between_one_and_a_thousand_events(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "limits").await.id;
    let command = Uuid::new_v4();
    let events = (1..=1005)
        .map(|seq| event(venue, seq, command, "tick", at(seq)))
        .collect();
    append_events(store.as_ref(), venue, events).await.unwrap();

    let count = |limit| {
        let store = Arc::clone(&store);
        async move {
            let query = EventQuery {
                venue_id: venue,
                limit,
                ..EventQuery::default()
            };
            store.query_events(&query).await.unwrap().len()
        }
    };
    assert_eq!(count(0).await, 1);
    assert_eq!(count(-3).await, 1);
    assert_eq!(count(250).await, 250);
    assert_eq!(count(1_000_000).await, 1000);
    assert_eq!(
        store.load_events(venue, 0, i64::MAX).await.unwrap().len(),
        1005
    );
}

async fn projections_are_upserted_and_the_newest_order_document_is_returned(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "projections").await.id;
    let order_id = Uuid::new_v4();
    let table = table_row(venue, "seated");
    let opened = order_row(
        venue,
        order_id,
        "open",
        json!({"status": "open", "lines": 1}),
    );
    let line = line_row(venue, order_id, "new");
    store
        .append(&Commit {
            venue_id: venue,
            orders: vec![opened],
            lines: vec![line.clone()],
            tables: vec![table.clone()],
            ..Commit::default()
        })
        .await
        .unwrap();

    let mut closed = order_row(venue, order_id, "closed", json!({"status": "closed"}));
    closed.closed_at = Some(at(99));
    let mut served = line;
    served.status = "served".into();
    served.served_at = Some(at(98));
    let mut cleaning = table;
    cleaning.status = "needs_cleaning".into();
    store
        .append(&Commit {
            venue_id: venue,
            // One group commit may carry several versions of a row; the last one wins.
            orders: vec![
                order_row(venue, order_id, "open", json!({"status": "paying"})),
                closed,
            ],
            lines: vec![served],
            tables: vec![cleaning],
            ..Commit::default()
        })
        .await
        .unwrap();

    assert_eq!(
        store.order_document(venue, order_id).await.unwrap(),
        Some(json!({"status": "closed"}))
    );
    assert_eq!(
        store.order_document(venue, Uuid::new_v4()).await.unwrap(),
        None
    );
    let other_venue = create_venue(store.as_ref(), "not-mine").await.id;
    assert_eq!(
        store.order_document(other_venue, order_id).await.unwrap(),
        None
    );
    assert_eq!(count_rows(&db, "orders").await, 1);
    assert_eq!(count_rows(&db, "order_lines").await, 1);
    assert_eq!(count_rows(&db, "tables").await, 1);
    assert_eq!(
        count_where(
            &db,
            "orders WHERE status = 'closed' AND closed_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count_where(
            &db,
            "order_lines WHERE status = 'served' AND served_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count_where(&db, "tables WHERE status = 'needs_cleaning'").await,
        1
    );
}

async fn removed_tables_disappear_from_the_projection(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "floor-plan").await.id;
    let (kept, removed) = (table_row(venue, "available"), table_row(venue, "available"));
    store
        .append(&Commit {
            venue_id: venue,
            tables: vec![kept, removed.clone()],
            ..Commit::default()
        })
        .await
        .unwrap();

    store
        .append(&Commit {
            venue_id: venue,
            removed_tables: vec![removed.id],
            ..Commit::default()
        })
        .await
        .unwrap();

    assert_eq!(count_rows(&db, "tables").await, 1);
}

async fn the_newest_snapshot_is_loaded_and_only_two_are_kept(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "snapshots").await.id;
    assert_eq!(store.load_snapshot(venue).await.unwrap(), None);

    for seq in [10, 20, 30] {
        store
            .save_snapshot(venue, seq, &json!({"as_of": seq, "orders": []}))
            .await
            .unwrap();
    }

    assert_eq!(
        store.load_snapshot(venue).await.unwrap(),
        Some((30, json!({"as_of": 30, "orders": []})))
    );
    assert_eq!(count_rows(&db, "snapshots").await, 2);
    // Another venue's snapshots are pruned on their own.
    let other = create_venue(store.as_ref(), "other-snapshots").await.id;
    store.save_snapshot(other, 5, &json!({})).await.unwrap();
    assert_eq!(count_rows(&db, "snapshots").await, 3);
    assert_eq!(
        store.load_snapshot(venue).await.unwrap().map(|s| s.0),
        Some(30)
    );
}

async fn a_setting_keeps_the_value_stored_first(db: TestDatabase) {
    let store = open(&db).await;

    let first = store.setting_or_insert("jwt_key", "first").await.unwrap();
    let second = store.setting_or_insert("jwt_key", "second").await.unwrap();
    let other = store.setting_or_insert("other", "x").await.unwrap();

    assert_eq!((first.as_str(), second.as_str()), ("first", "first"));
    assert_eq!(other, "x");
    // And it survives a restart, which is the point of storing it.
    drop(store);
    let reopened = open(&db).await;
    assert_eq!(
        reopened
            .setting_or_insert("jwt_key", "third")
            .await
            .unwrap(),
        "first"
    );
}

async fn last_seq_is_zero_for_an_empty_journal_and_follows_appends(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "sequence").await.id;
    assert_eq!(store.last_seq(venue).await.unwrap(), 0);
    assert_eq!(store.last_seq(Uuid::new_v4()).await.unwrap(), 0);

    let command = Uuid::new_v4();
    append_events(
        store.as_ref(),
        venue,
        (1..=3)
            .map(|seq| event(venue, seq, command, "tick", at(seq)))
            .collect(),
    )
    .await
    .unwrap();
    assert_eq!(store.last_seq(venue).await.unwrap(), 3);

    append_events(
        store.as_ref(),
        venue,
        vec![event(venue, 4, Uuid::new_v4(), "tick", at(4))],
    )
    .await
    .unwrap();
    assert_eq!(store.last_seq(venue).await.unwrap(), 4);
}

async fn the_journal_refuses_to_change_or_remove_events(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "immutable").await.id;
    let original = event(venue, 1, Uuid::new_v4(), "payment_taken", at(0));
    append_events(store.as_ref(), venue, vec![original.clone()])
        .await
        .unwrap();

    let update = execute_raw(&db, "UPDATE events SET kind = 'payment_refunded'").await;
    let delete = execute_raw(&db, "DELETE FROM events").await;

    assert!(update.is_err(), "an UPDATE of the journal was accepted");
    assert!(delete.is_err(), "a DELETE of the journal was accepted");
    assert_eq!(
        store.load_events(venue, 0, 10).await.unwrap(),
        vec![original]
    );
}

async fn an_empty_commit_is_accepted_and_writes_nothing(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "empty").await.id;

    store
        .append(&Commit {
            venue_id: venue,
            ..Commit::default()
        })
        .await
        .unwrap();

    assert_eq!(store.last_seq(venue).await.unwrap(), 0);
}

async fn a_large_group_commit_is_written_whole(db: TestDatabase) {
    let store = open(&db).await;
    let venue = create_venue(store.as_ref(), "rush-hour").await.id;
    // Larger than one SQLite statement may bind, so the batch must be split yet stay atomic.
    let events: Vec<StoredEvent> = (1..=5000)
        .map(|seq| event(venue, seq, Uuid::new_v4(), "line_added", at(seq)))
        .collect();
    let commands = events
        .iter()
        .map(|event| command_record(event.command_id, event.seq, event.seq, event.at))
        .collect();
    let orders: Vec<OrderRow> = (0..500)
        .map(|n| order_row(venue, Uuid::new_v4(), "open", json!({ "n": n })))
        .collect();
    let lines = orders
        .iter()
        .flat_map(|order| (0..4).map(|_| line_row(venue, order.id, "new")))
        .collect();

    store
        .append(&Commit {
            venue_id: venue,
            events: events.clone(),
            commands,
            orders,
            lines,
            ..Commit::default()
        })
        .await
        .unwrap();

    assert_eq!(store.last_seq(venue).await.unwrap(), 5000);
    assert_eq!(store.load_events(venue, 0, i64::MAX).await.unwrap(), events);
    assert_eq!(count_rows(&db, "commands").await, 5000);
    assert_eq!(count_rows(&db, "orders").await, 500);
    assert_eq!(count_rows(&db, "order_lines").await, 2000);
}

async fn concurrent_first_writers_of_a_setting_all_get_one_value(db: TestDatabase) {
    let store = open(&db).await;

    let writers = (0..16).map(|n| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .setting_or_insert("signing_key", &format!("key-{n}"))
                .await
        })
    });
    let mut values = Vec::new();
    for writer in writers {
        values.push(writer.await.unwrap().unwrap());
    }

    values.dedup();
    assert_eq!(values.len(), 1, "writers saw different values: {values:?}");
}

#[tokio::test]
async fn the_embedded_database_is_created_in_write_ahead_log_mode() {
    let db = TestDatabase::sqlite().await;
    let store = open(&db).await;
    store.ping().await.unwrap();

    // WAL is a property of the file, so a fresh outside connection sees it.
    let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn an_unreachable_postgres_fails_within_seconds_instead_of_hanging() {
    let started = std::time::Instant::now();
    // Port 1 on loopback: nothing listens there.
    let result = store::connect(
        Some("postgres://postgres@127.0.0.1:1/hub"),
        Path::new("unused"),
    )
    .await;
    assert!(result.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    // The data directory is only used when no URL is given.
    store::connect(Some(db.url()), Path::new("unused"))
        .await
        .unwrap_or_else(|error| panic!("connecting to {}: {error:#}", db.url()))
}

/// A fixed instant plus `micros`: whole microseconds, so values compare exactly after a
/// round trip through either database.
fn at(micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 18, 30, 0).unwrap() + Duration::microseconds(123_456 + micros)
}

fn venue_record(tenant_id: Uuid, slug: &str, created_at: DateTime<Utc>) -> VenueRecord {
    VenueRecord {
        id: Uuid::new_v4(),
        tenant_id,
        slug: slug.into(),
        name: format!("Almahira {slug}"),
        created_at,
    }
}

async fn create_venue(store: &dyn Store, slug: &str) -> VenueRecord {
    let tenant = TenantRecord {
        id: Uuid::new_v4(),
        name: format!("Tenant of {slug}"),
    };
    let venue = venue_record(tenant.id, slug, at(0));
    store.create_venue(&tenant, &venue).await.unwrap();
    venue
}

fn event(venue_id: Uuid, seq: i64, command_id: Uuid, kind: &str, at: DateTime<Utc>) -> StoredEvent {
    StoredEvent {
        venue_id,
        seq,
        at,
        command_id,
        staff_id: None,
        device: None,
        kind: kind.into(),
        payload: json!({ "type": kind, "seq": seq }),
    }
}

fn command_record(
    command_id: Uuid,
    first_seq: i64,
    last_seq: i64,
    at: DateTime<Utc>,
) -> CommandRecord {
    CommandRecord {
        command_id,
        first_seq,
        last_seq,
        at,
        fingerprint: None,
    }
}

/// Appends `events` with one command record per distinct command, as the engine does.
async fn append_events(
    store: &dyn Store,
    venue_id: Uuid,
    events: Vec<StoredEvent>,
) -> Result<(), StoreError> {
    let mut commands: Vec<CommandRecord> = Vec::new();
    for event in &events {
        match commands
            .iter_mut()
            .find(|c| c.command_id == event.command_id)
        {
            Some(record) => {
                record.last_seq = event.seq;
                record.at = event.at;
            }
            None => commands.push(command_record(
                event.command_id,
                event.seq,
                event.seq,
                event.at,
            )),
        }
    }
    store
        .append(&Commit {
            venue_id,
            events,
            commands,
            ..Commit::default()
        })
        .await
}

fn order_row(venue_id: Uuid, id: Uuid, status: &str, document: serde_json::Value) -> OrderRow {
    OrderRow {
        id,
        venue_id,
        number: 42,
        kind: "dine_in".into(),
        status: status.into(),
        table_id: Some(Uuid::new_v4()),
        guests: Some(4),
        customer_name: Some("Sari".into()),
        customer_phone: None,
        delivery_address: None,
        channel: Some("pos".into()),
        created_by: Some(Uuid::new_v4()),
        created_at: at(0),
        closed_at: None,
        cancelled_at: None,
        subtotal: 135_000,
        document,
    }
}

fn line_row(venue_id: Uuid, order_id: Uuid, status: &str) -> OrderLineRow {
    OrderLineRow {
        id: Uuid::new_v4(),
        order_id,
        venue_id,
        position: 0,
        menu_item_id: Uuid::new_v4(),
        name: "Nasi goreng".into(),
        quantity: 3,
        unit_price: 45_000,
        line_total: 135_000,
        seat: Some(2),
        course: 1,
        status: status.into(),
        note: Some("tanpa bawang".into()),
        void_reason: None,
        added_at: at(1),
        fired_at: None,
        started_at: None,
        ready_at: None,
        served_at: None,
        voided_at: None,
    }
}

fn table_row(venue_id: Uuid, status: &str) -> TableRow {
    TableRow {
        id: Uuid::new_v4(),
        venue_id,
        area_id: Uuid::new_v4(),
        label: "T12".into(),
        seats: 4,
        status: status.into(),
        guests: Some(3),
        seated_at: Some(at(5)),
        server_id: None,
        merged_into: None,
    }
}

// Direct SQL, bypassing the store: to see what it actually wrote and to attack the journal
// the way an outside client could.

async fn count_rows(db: &TestDatabase, table: &'static str) -> i64 {
    count_where(db, table).await
}

/// `SELECT COUNT(*) FROM <from_clause>`, where the clause is a literal of this file.
async fn count_where(db: &TestDatabase, from_clause: &'static str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {from_clause}");
    match db.backend() {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(db.url()).await.unwrap();
            sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}

async fn execute_raw(db: &TestDatabase, sql: &'static str) -> Result<u64, sqlx::Error> {
    match db.backend() {
        Backend::Postgres => {
            let mut conn = PgConnection::connect(db.url()).await?;
            Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::connect(db.url()).await?;
            Ok(sqlx::query(sql).execute(&mut conn).await?.rows_affected())
        }
    }
}
