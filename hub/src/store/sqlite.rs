//! Owns the embedded SQLite implementation of [`Store`]: the zero-setup default when no
//! DATABASE_URL is given. It must behave exactly like the Postgres store (one test suite
//! holds both to it) and must not hold domain rules.
//!
//! SQLite has no uuid, timestamp or JSON types, so this file owns their text encodings
//! (see `migrations/sqlite/0001_journal.sql`): hyphenated uuids, RFC 3339 UTC timestamps
//! with exactly six fractional digits (so text order is time order and precision matches
//! Postgres), and JSON text.

use std::{collections::HashSet, str::FromStr as _, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{
    QueryBuilder, Row as _, Sqlite, SqlitePool, Transaction,
    query_builder::Separated,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
};
use uuid::Uuid;

use super::{
    Backend, ClaimOutcome, CommandRecord, Commit, DatedReading, EventQuery, OrderLineRow, OrderRow,
    ReadingDay, ReadingRow, Store, StoreError, StoreResult, StoredEvent, TableRow, TenantRecord,
    UsernameClaim, VenueRecord, contract, error::from_sqlite, migration,
};
use crate::domain::{DeviceId, VenueId};

/// WAL lets readers (replay, audit screens) run beside the one writer; more connections
/// than this would only queue on SQLite's single write lock.
const MAX_CONNECTIONS: u32 = 4;

/// How long a writer waits for another connection's write lock before giving up with
/// `Unavailable`; group commits are short, so this is only reached when something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite allows 32 766 bound parameters per statement; batches are split well below that
/// so a large group commit never hits the limit.
const MAX_PARAMETERS: usize = 30_000;

const EVENT_COLUMNS: &str = "venue_id, seq, at, command_id, staff_id, device, kind, payload";

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and brings the schema up to date.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("parsing SQLite URL {url:?}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not WAL's usual NORMAL: NORMAL may lose the last commits on power loss,
            // and an acknowledged command has already been shown on a kitchen screen.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool_options = if in_memory {
            // Every connection to `:memory:` is its own empty database; one connection kept
            // forever is the only way the data outlives a query.
            SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let pool = pool_options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .context("opening SQLite")?;
        migration::sqlite()
            .run(&pool)
            .await
            .context("applying SQLite migrations")?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlite)?;
        Ok(())
    }

    async fn create_venue(&self, tenant: &TenantRecord, venue: &VenueRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(from_sqlite)?;
        insert_venue(&mut tx, tenant, venue).await?;
        tx.commit().await.map_err(from_sqlite)
    }

    async fn create_first_venue(
        &self,
        tenant: &TenantRecord,
        venue: &VenueRecord,
        owner: &UsernameClaim,
    ) -> StoreResult<bool> {
        // IMMEDIATE takes SQLite's one write lock at the start, so the check below reads the
        // newest state and no connection can add a venue until this one commits.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(from_sqlite)?;
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM venues)")
            .fetch_one(&mut *tx)
            .await
            .map_err(from_sqlite)?;
        if any {
            return Ok(false);
        }
        insert_venue(&mut tx, tenant, venue).await?;
        if claim_username(&mut tx, owner).await? != ClaimOutcome::Claimed {
            return Err(StoreError::Conflict(format!(
                "username {:?} is held although the hub had no venue",
                owner.username
            )));
        }
        tx.commit().await.map_err(from_sqlite)?;
        Ok(true)
    }

    async fn claim_username(&self, claim: &UsernameClaim) -> StoreResult<ClaimOutcome> {
        let mut tx = self.pool.begin().await.map_err(from_sqlite)?;
        let outcome = claim_username(&mut tx, claim).await?;
        tx.commit().await.map_err(from_sqlite)?;
        Ok(outcome)
    }

    async fn take_over_username(
        &self,
        held: &UsernameClaim,
        claim: &UsernameClaim,
    ) -> StoreResult<bool> {
        let moved = sqlx::query(
            "UPDATE staff_usernames SET venue_id = ?, staff_id = ?, claimed_at = ?
             WHERE username = ? AND venue_id = ? AND staff_id = ?",
        )
        .bind(text_uuid(claim.venue_id))
        .bind(text_uuid(claim.staff_id))
        .bind(text_time(claim.claimed_at))
        .bind(&held.username)
        .bind(text_uuid(held.venue_id))
        .bind(text_uuid(held.staff_id))
        .execute(&self.pool)
        .await
        .map_err(from_sqlite)?;
        Ok(moved.rows_affected() == 1)
    }

    async fn release_username(&self, claim: &UsernameClaim) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM staff_usernames WHERE username = ? AND venue_id = ? AND staff_id = ?",
        )
        .bind(&claim.username)
        .bind(text_uuid(claim.venue_id))
        .bind(text_uuid(claim.staff_id))
        .execute(&self.pool)
        .await
        .map_err(from_sqlite)?;
        Ok(())
    }

    async fn username_claim(&self, username: &str) -> StoreResult<Option<UsernameClaim>> {
        username_claim(&self.pool, username).await
    }

    async fn list_venues(&self) -> StoreResult<Vec<VenueRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, slug, name, created_at FROM venues ORDER BY created_at, slug",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlite)?;
        rows.iter()
            .map(|row| {
                Ok(VenueRecord {
                    id: uuid_at(row, "id")?,
                    tenant_id: uuid_at(row, "tenant_id")?,
                    slug: row.try_get("slug").map_err(from_sqlite)?,
                    name: row.try_get("name").map_err(from_sqlite)?,
                    created_at: time_at(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn append(&self, commit: &Commit) -> StoreResult<()> {
        contract::check_commit(commit)?;
        if contract::is_empty(commit) {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(from_sqlite)?;
        insert_batched(
            &mut tx,
            "INSERT INTO events (venue_id, seq, at, command_id, staff_id, device, kind, payload) ",
            "",
            8,
            &commit.events.iter().collect::<Vec<_>>(),
            |mut row, event| {
                row.push_bind(text_uuid(event.venue_id))
                    .push_bind(event.seq)
                    .push_bind(text_time(event.at))
                    .push_bind(text_uuid(event.command_id))
                    .push_bind(event.staff_id.map(text_uuid))
                    .push_bind(event.device.clone())
                    .push_bind(event.kind.clone())
                    .push_bind(event.payload.to_string());
            },
        )
        .await?;
        // Plain inserts, no upsert: a command id recorded twice is exactly the duplicate the
        // caller must hear about as `Conflict`, and the whole commit must fail with it.
        insert_batched(
            &mut tx,
            "INSERT INTO commands (venue_id, command_id, first_seq, last_seq, at, fingerprint) ",
            "",
            6,
            &commit.commands.iter().collect::<Vec<_>>(),
            |mut row, command| {
                row.push_bind(text_uuid(commit.venue_id))
                    .push_bind(text_uuid(command.command_id))
                    .push_bind(command.first_seq)
                    .push_bind(command.last_seq)
                    .push_bind(text_time(command.at))
                    .push_bind(command.fingerprint);
            },
        )
        .await?;
        // Orders before their lines: lines reference their order.
        upsert_orders(&mut tx, &contract::newest_per_id(&commit.orders, |o| o.id)).await?;
        upsert_lines(&mut tx, &contract::newest_per_id(&commit.lines, |l| l.id)).await?;
        upsert_tables(&mut tx, &contract::newest_per_id(&commit.tables, |t| t.id)).await?;
        // After the upserts, so a table removed in the same batch it changed in stays removed.
        for table_id in &commit.removed_tables {
            sqlx::query("DELETE FROM tables WHERE venue_id = ? AND id = ?")
                .bind(text_uuid(commit.venue_id))
                .bind(text_uuid(*table_id))
                .execute(&mut *tx)
                .await
                .map_err(from_sqlite)?;
        }
        tx.commit().await.map_err(from_sqlite)
    }

    async fn load_events(
        &self,
        venue_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT venue_id, seq, at, command_id, staff_id, device, kind, payload FROM events
             WHERE venue_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(text_uuid(venue_id))
        .bind(after_seq)
        .bind(contract::replay_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlite)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn recent_commands(&self, venue_id: Uuid, limit: i64) -> StoreResult<Vec<CommandRecord>> {
        let rows = sqlx::query(
            "SELECT command_id, first_seq, last_seq, at, fingerprint FROM commands
             WHERE venue_id = ? ORDER BY last_seq DESC LIMIT ?",
        )
        .bind(text_uuid(venue_id))
        .bind(contract::replay_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlite)?;
        rows.iter()
            .map(|row| {
                Ok(CommandRecord {
                    command_id: uuid_at(row, "command_id")?,
                    first_seq: row.try_get("first_seq").map_err(from_sqlite)?,
                    last_seq: row.try_get("last_seq").map_err(from_sqlite)?,
                    at: time_at(row, "at")?,
                    fingerprint: row.try_get("fingerprint").map_err(from_sqlite)?,
                })
            })
            .collect()
    }

    async fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE venue_id = ")
            .push_bind(text_uuid(query.venue_id));
        if let Some(after_seq) = query.after_seq {
            sql.push(" AND seq > ").push_bind(after_seq);
        }
        if let Some(before_seq) = query.before_seq {
            sql.push(" AND seq < ").push_bind(before_seq);
        }
        if !query.kinds.is_empty() {
            sql.push(" AND kind IN (");
            let mut kinds = sql.separated(", ");
            for kind in &query.kinds {
                kinds.push_bind(kind.clone());
            }
            sql.push(")");
        }
        if let Some(staff_id) = query.staff_id {
            sql.push(" AND staff_id = ").push_bind(text_uuid(staff_id));
        }
        if let Some(command_id) = query.command_id {
            sql.push(" AND command_id = ")
                .push_bind(text_uuid(command_id));
        }
        // Text comparison is time comparison because every stored timestamp has one format.
        if let Some(from) = query.from {
            sql.push(" AND at >= ").push_bind(text_time(from));
        }
        if let Some(to) = query.to {
            sql.push(" AND at < ").push_bind(text_time(to));
        }
        sql.push(if query.newest_first {
            " ORDER BY seq DESC LIMIT "
        } else {
            " ORDER BY seq ASC LIMIT "
        })
        .push_bind(contract::query_limit(query.limit));
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(from_sqlite)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn last_seq(&self, venue_id: Uuid) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events WHERE venue_id = ?")
            .bind(text_uuid(venue_id))
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlite)
    }

    async fn save_snapshot(
        &self,
        venue_id: Uuid,
        seq: i64,
        state: &serde_json::Value,
    ) -> StoreResult<()> {
        let venue = text_uuid(venue_id);
        let mut tx = self.pool.begin().await.map_err(from_sqlite)?;
        sqlx::query(
            "INSERT INTO snapshots (venue_id, seq, state, at) VALUES (?, ?, ?, ?)
             ON CONFLICT (venue_id, seq) DO UPDATE SET state = excluded.state, at = excluded.at",
        )
        .bind(&venue)
        .bind(seq)
        .bind(state.to_string())
        .bind(text_time(Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(from_sqlite)?;
        // Two, not one: if the newest turns out unreadable after an upgrade, the one before
        // it still spares a replay from the beginning of time.
        sqlx::query(
            "DELETE FROM snapshots WHERE venue_id = ?1 AND seq < (
                 SELECT seq FROM snapshots WHERE venue_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET 1)",
        )
        .bind(&venue)
        .execute(&mut *tx)
        .await
        .map_err(from_sqlite)?;
        tx.commit().await.map_err(from_sqlite)
    }

    async fn load_snapshot(&self, venue_id: Uuid) -> StoreResult<Option<(i64, serde_json::Value)>> {
        let row = sqlx::query(
            "SELECT seq, state FROM snapshots WHERE venue_id = ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(text_uuid(venue_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(from_sqlite)?;
        match row {
            Some(row) => Ok(Some((
                row.try_get("seq").map_err(from_sqlite)?,
                json_at(&row, "state")?,
            ))),
            None => Ok(None),
        }
    }

    async fn order_document(
        &self,
        venue_id: Uuid,
        order_id: Uuid,
    ) -> StoreResult<Option<serde_json::Value>> {
        let document: Option<String> =
            sqlx::query_scalar("SELECT document FROM orders WHERE venue_id = ? AND id = ?")
                .bind(text_uuid(venue_id))
                .bind(text_uuid(order_id))
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlite)?;
        document.as_deref().map(parse_json).transpose()
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        // Each statement holds SQLite's write lock or a consistent read, and the row is never
        // deleted, so insert-if-absent followed by a read returns the first writer's value.
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(from_sqlite)?;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(from_sqlite)
    }
    async fn append_readings(&self, rows: &[DatedReading]) -> StoreResult<usize> {
        let rows = contract::prepare_readings(rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(from_sqlite)?;
        let mut inserted: HashSet<contract::ReadingKey> = HashSet::with_capacity(rows.len());
        for chunk in rows.chunks(MAX_PARAMETERS / 6) {
            let mut sql = QueryBuilder::<Sqlite>::new(
                "INSERT INTO device_readings (venue_id, device_id, probe, celsius, measured_at,
                                              received_at) ",
            );
            sql.push_values(chunk, |mut row, dated| {
                let r = &dated.reading;
                row.push_bind(text_uuid(r.venue_id.0))
                    .push_bind(text_uuid(r.device_id.0))
                    .push_bind(r.probe.clone())
                    .push_bind(r.celsius)
                    .push_bind(text_time(r.measured_at))
                    .push_bind(text_time(r.received_at));
            });
            sql.push(" ON CONFLICT DO NOTHING RETURNING venue_id, device_id, probe, measured_at");
            let returned = sql.build().fetch_all(&mut *tx).await.map_err(from_sqlite)?;
            for row in &returned {
                inserted.insert((
                    VenueId(uuid_at(row, "venue_id")?),
                    DeviceId(uuid_at(row, "device_id")?),
                    row.try_get("probe").map_err(from_sqlite)?,
                    time_at(row, "measured_at")?,
                ));
            }
        }
        let days = contract::summarise(
            rows.iter()
                .filter(|row| inserted.contains(&contract::reading_key(row))),
        );
        insert_batched(
            &mut tx,
            "INSERT INTO device_reading_days AS d (venue_id, day, device_id, probe, count,
                                                   min_celsius, max_celsius, sum_celsius,
                                                   first_at, last_at) ",
            " ON CONFLICT (venue_id, day, device_id, probe) DO UPDATE SET
                 count = d.count + excluded.count,
                 min_celsius = MIN(d.min_celsius, excluded.min_celsius),
                 max_celsius = MAX(d.max_celsius, excluded.max_celsius),
                 sum_celsius = d.sum_celsius + excluded.sum_celsius,
                 first_at = MIN(d.first_at, excluded.first_at),
                 last_at = MAX(d.last_at, excluded.last_at)",
            10,
            &days.iter().collect::<Vec<_>>(),
            |mut row, day| {
                row.push_bind(text_uuid(day.venue_id.0))
                    .push_bind(text_day(day.day))
                    .push_bind(text_uuid(day.device_id.0))
                    .push_bind(day.probe.clone())
                    .push_bind(day.count)
                    .push_bind(day.min_celsius)
                    .push_bind(day.max_celsius)
                    .push_bind(day.sum_celsius)
                    .push_bind(text_time(day.first_at))
                    .push_bind(text_time(day.last_at));
            },
        )
        .await?;
        tx.commit().await.map_err(from_sqlite)?;
        Ok(inserted.len())
    }

    async fn reading_history(
        &self,
        venue: VenueId,
        device: DeviceId,
        probe: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ReadingRow>> {
        // Text comparison is time comparison because every stored timestamp has one format.
        let rows = sqlx::query(
            "SELECT venue_id, device_id, probe, celsius, measured_at, received_at
             FROM device_readings
             WHERE venue_id = ?1 AND device_id = ?2 AND (?3 IS NULL OR probe = ?3)
               AND measured_at >= ?4 AND measured_at < ?5
             ORDER BY measured_at DESC, probe DESC LIMIT ?6",
        )
        .bind(text_uuid(venue.0))
        .bind(text_uuid(device.0))
        .bind(probe)
        .bind(text_time(from))
        .bind(text_time(to))
        .bind(contract::reading_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlite)?;
        let mut readings = rows
            .iter()
            .map(|row| {
                Ok(ReadingRow {
                    venue_id: VenueId(uuid_at(row, "venue_id")?),
                    device_id: DeviceId(uuid_at(row, "device_id")?),
                    probe: row.try_get("probe").map_err(from_sqlite)?,
                    celsius: row.try_get("celsius").map_err(from_sqlite)?,
                    measured_at: time_at(row, "measured_at")?,
                    received_at: time_at(row, "received_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        readings.reverse();
        Ok(readings)
    }

    async fn reading_days(&self, venue: VenueId, day: NaiveDate) -> StoreResult<Vec<ReadingDay>> {
        let rows = sqlx::query(
            "SELECT venue_id, device_id, probe, day, count, min_celsius, max_celsius,
                    sum_celsius, first_at, last_at
             FROM device_reading_days WHERE venue_id = ? AND day = ?
             ORDER BY device_id, probe",
        )
        .bind(text_uuid(venue.0))
        .bind(text_day(day))
        .fetch_all(&self.pool)
        .await
        .map_err(from_sqlite)?;
        rows.iter()
            .map(|row| {
                let day_text: String = row.try_get("day").map_err(from_sqlite)?;
                Ok(ReadingDay {
                    venue_id: VenueId(uuid_at(row, "venue_id")?),
                    device_id: DeviceId(uuid_at(row, "device_id")?),
                    probe: row.try_get("probe").map_err(from_sqlite)?,
                    day: NaiveDate::parse_from_str(&day_text, DAY_FORMAT)
                        .map_err(|error| corrupt("day", &day_text, error))?,
                    count: row.try_get("count").map_err(from_sqlite)?,
                    min_celsius: row.try_get("min_celsius").map_err(from_sqlite)?,
                    max_celsius: row.try_get("max_celsius").map_err(from_sqlite)?,
                    sum_celsius: row.try_get("sum_celsius").map_err(from_sqlite)?,
                    first_at: time_at(row, "first_at")?,
                    last_at: time_at(row, "last_at")?,
                })
            })
            .collect()
    }

    async fn prune_readings(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM device_readings WHERE measured_at < ?")
            .bind(text_time(before))
            .execute(&self.pool)
            .await
            .map_err(from_sqlite)?;
        Ok(deleted.rows_affected())
    }
}

/// Inserts `rows` with multi-row `VALUES` lists, as few statements as the parameter limit
/// allows: each statement is one hop to SQLite's worker thread instead of one per row.
async fn insert_batched<T>(
    tx: &mut Transaction<'static, Sqlite>,
    head: &'static str,
    tail: &'static str,
    columns: usize,
    rows: &[&T],
    mut push_row: impl FnMut(Separated<'_, Sqlite, &'static str>, &T),
) -> StoreResult<()> {
    for chunk in rows.chunks(MAX_PARAMETERS / columns) {
        let mut sql = QueryBuilder::<Sqlite>::new(head);
        sql.push_values(chunk, |row, item| push_row(row, item));
        sql.push(tail);
        sql.build().execute(&mut **tx).await.map_err(from_sqlite)?;
    }
    Ok(())
}

async fn upsert_orders(
    tx: &mut Transaction<'static, Sqlite>,
    orders: &[&OrderRow],
) -> StoreResult<()> {
    insert_batched(
        tx,
        "INSERT INTO orders (id, venue_id, number, kind, status, table_id, guests, customer_name,
                             customer_phone, delivery_address, channel, created_by, created_at,
                             closed_at, cancelled_at, subtotal, document) ",
        " ON CONFLICT (venue_id, id) DO UPDATE SET
             number = excluded.number, kind = excluded.kind,
             status = excluded.status, table_id = excluded.table_id, guests = excluded.guests,
             customer_name = excluded.customer_name, customer_phone = excluded.customer_phone,
             delivery_address = excluded.delivery_address, channel = excluded.channel,
             created_by = excluded.created_by, created_at = excluded.created_at,
             closed_at = excluded.closed_at, cancelled_at = excluded.cancelled_at,
             subtotal = excluded.subtotal, document = excluded.document",
        17,
        orders,
        |mut row, order| {
            row.push_bind(text_uuid(order.id))
                .push_bind(text_uuid(order.venue_id))
                .push_bind(order.number)
                .push_bind(order.kind.clone())
                .push_bind(order.status.clone())
                .push_bind(order.table_id.map(text_uuid))
                .push_bind(order.guests)
                .push_bind(order.customer_name.clone())
                .push_bind(order.customer_phone.clone())
                .push_bind(order.delivery_address.clone())
                .push_bind(order.channel.clone())
                .push_bind(order.created_by.map(text_uuid))
                .push_bind(text_time(order.created_at))
                .push_bind(order.closed_at.map(text_time))
                .push_bind(order.cancelled_at.map(text_time))
                .push_bind(order.subtotal)
                .push_bind(order.document.to_string());
        },
    )
    .await
}

async fn upsert_lines(
    tx: &mut Transaction<'static, Sqlite>,
    lines: &[&OrderLineRow],
) -> StoreResult<()> {
    insert_batched(
        tx,
        "INSERT INTO order_lines (id, order_id, venue_id, position, menu_item_id, name, quantity,
                                  unit_price, line_total, seat, course, status, note, void_reason,
                                  added_at, fired_at, started_at, ready_at, served_at, voided_at) ",
        " ON CONFLICT (venue_id, id) DO UPDATE SET
             order_id = excluded.order_id, position = excluded.position, menu_item_id = excluded.menu_item_id,
             name = excluded.name, quantity = excluded.quantity,
             unit_price = excluded.unit_price, line_total = excluded.line_total,
             seat = excluded.seat, course = excluded.course, status = excluded.status,
             note = excluded.note, void_reason = excluded.void_reason,
             added_at = excluded.added_at, fired_at = excluded.fired_at,
             started_at = excluded.started_at, ready_at = excluded.ready_at,
             served_at = excluded.served_at, voided_at = excluded.voided_at",
        20,
        lines,
        |mut row, line| {
            row.push_bind(text_uuid(line.id))
                .push_bind(text_uuid(line.order_id))
                .push_bind(text_uuid(line.venue_id))
                .push_bind(line.position)
                .push_bind(text_uuid(line.menu_item_id))
                .push_bind(line.name.clone())
                .push_bind(line.quantity)
                .push_bind(line.unit_price)
                .push_bind(line.line_total)
                .push_bind(line.seat)
                .push_bind(line.course)
                .push_bind(line.status.clone())
                .push_bind(line.note.clone())
                .push_bind(line.void_reason.clone())
                .push_bind(text_time(line.added_at))
                .push_bind(line.fired_at.map(text_time))
                .push_bind(line.started_at.map(text_time))
                .push_bind(line.ready_at.map(text_time))
                .push_bind(line.served_at.map(text_time))
                .push_bind(line.voided_at.map(text_time));
        },
    )
    .await
}

async fn upsert_tables(
    tx: &mut Transaction<'static, Sqlite>,
    tables: &[&TableRow],
) -> StoreResult<()> {
    insert_batched(
        tx,
        "INSERT INTO tables (id, venue_id, area_id, label, seats, status, guests, seated_at,
                             server_id, merged_into) ",
        " ON CONFLICT (venue_id, id) DO UPDATE SET
             area_id = excluded.area_id, label = excluded.label,
             seats = excluded.seats, status = excluded.status, guests = excluded.guests,
             seated_at = excluded.seated_at, server_id = excluded.server_id,
             merged_into = excluded.merged_into",
        10,
        tables,
        |mut row, table| {
            row.push_bind(text_uuid(table.id))
                .push_bind(text_uuid(table.venue_id))
                .push_bind(text_uuid(table.area_id))
                .push_bind(table.label.clone())
                .push_bind(table.seats)
                .push_bind(table.status.clone())
                .push_bind(table.guests)
                .push_bind(table.seated_at.map(text_time))
                .push_bind(table.server_id.map(text_uuid))
                .push_bind(table.merged_into.map(text_uuid));
        },
    )
    .await
}

fn event_from_row(row: &SqliteRow) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        venue_id: uuid_at(row, "venue_id")?,
        seq: row.try_get("seq").map_err(from_sqlite)?,
        at: time_at(row, "at")?,
        command_id: uuid_at(row, "command_id")?,
        staff_id: row
            .try_get::<Option<String>, _>("staff_id")
            .map_err(from_sqlite)?
            .as_deref()
            .map(parse_uuid)
            .transpose()?,
        device: row.try_get("device").map_err(from_sqlite)?,
        kind: row.try_get("kind").map_err(from_sqlite)?,
        payload: json_at(row, "payload")?,
    })
}

fn text_uuid(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// Microseconds, like Postgres, so a value reads back the same from either backend;
/// always six digits and `Z`, so stored text sorts in time order.
fn text_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

const DAY_FORMAT: &str = "%Y-%m-%d";

fn text_day(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

fn uuid_at(row: &SqliteRow, column: &str) -> StoreResult<Uuid> {
    parse_uuid(&row.try_get::<String, _>(column).map_err(from_sqlite)?)
}

fn time_at(row: &SqliteRow, column: &str) -> StoreResult<DateTime<Utc>> {
    let text: String = row.try_get(column).map_err(from_sqlite)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| corrupt(column, &text, error))
}

fn json_at(row: &SqliteRow, column: &str) -> StoreResult<serde_json::Value> {
    parse_json(&row.try_get::<String, _>(column).map_err(from_sqlite)?)
}

fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|error| corrupt("uuid", text, error))
}

fn parse_json(text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| corrupt("json", text, error))
}

/// Text the store did not write (or an older format): data to investigate, not to retry.
fn corrupt(what: &str, text: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "unreadable {what} {text:?} in SQLite: {error}"
    ))
}

async fn insert_venue(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: &TenantRecord,
    venue: &VenueRecord,
) -> StoreResult<()> {
    // A tenant owns many venues; only its first venue creates it.
    sqlx::query("INSERT INTO tenants (id, name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING")
        .bind(text_uuid(tenant.id))
        .bind(&tenant.name)
        .execute(&mut **tx)
        .await
        .map_err(from_sqlite)?;
    sqlx::query(
        "INSERT INTO venues (id, tenant_id, slug, name, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(text_uuid(venue.id))
    .bind(text_uuid(venue.tenant_id))
    .bind(&venue.slug)
    .bind(&venue.name)
    .bind(text_time(venue.created_at))
    .execute(&mut **tx)
    .await
    .map_err(from_sqlite)?;
    Ok(())
}

async fn claim_username(
    tx: &mut Transaction<'static, Sqlite>,
    claim: &UsernameClaim,
) -> StoreResult<ClaimOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO staff_usernames (username, venue_id, staff_id, claimed_at)
         VALUES (?, ?, ?, ?) ON CONFLICT (username) DO NOTHING",
    )
    .bind(&claim.username)
    .bind(text_uuid(claim.venue_id))
    .bind(text_uuid(claim.staff_id))
    .bind(text_time(claim.claimed_at))
    .execute(&mut **tx)
    .await
    .map_err(from_sqlite)?;
    if inserted.rows_affected() == 1 {
        return Ok(ClaimOutcome::Claimed);
    }
    let held = username_claim(&mut **tx, &claim.username).await?;
    contract::claim_outcome(claim, held)
}

async fn username_claim<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    username: &str,
) -> StoreResult<Option<UsernameClaim>> {
    let row = sqlx::query(
        "SELECT username, venue_id, staff_id, claimed_at FROM staff_usernames WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(executor)
    .await
    .map_err(from_sqlite)?;
    row.map(|row| {
        Ok(UsernameClaim {
            username: row.try_get("username").map_err(from_sqlite)?,
            venue_id: uuid_at(&row, "venue_id")?,
            staff_id: uuid_at(&row, "staff_id")?,
            claimed_at: time_at(&row, "claimed_at")?,
        })
    })
    .transpose()
}
