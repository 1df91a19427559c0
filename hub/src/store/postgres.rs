//! Owns the Postgres implementation of [`Store`]: the production store, shared by every hub
//! instance of a deployment. It must not hold domain rules; it stores what it is given.
//!
//! Group commits write each table with one `INSERT ... SELECT FROM UNNEST(arrays)`: one
//! round trip per table however many rows the batch holds, and one prepared statement
//! whatever the batch size (a multi-row `VALUES` list would be a new statement per size).

use std::{collections::HashSet, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{
    PgPool, Postgres, QueryBuilder, Row as _, Transaction,
    postgres::{PgPoolOptions, PgRow},
};
use uuid::Uuid;

use super::{
    Backend, ClaimOutcome, CommandRecord, Commit, DatedReading, EventQuery, OrderLineRow, OrderRow,
    ReadingDay, ReadingRow, Store, StoreError, StoreResult, StoredEvent, TableRow, TenantRecord,
    UsernameClaim, VenueRecord, contract, error::from_postgres, migration,
};
use crate::domain::{DeviceId, VenueId};

/// Enough for the venue writers, readers and `/readyz` of one hub without starving other
/// hubs sharing the server (Postgres defaults to 100 connections in total).
const MAX_CONNECTIONS: u32 = 8;

/// A dead or overloaded database must surface as `Unavailable` (503) within seconds, not
/// as a request hanging until the client gives up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

const EVENT_COLUMNS: &str = "venue_id, seq, at, command_id, staff_id, device, kind, payload";

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and brings the schema up to date. Migrations take an advisory lock,
    /// so several hubs starting at once against one database apply them only once.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .context("connecting to Postgres")?;
        migration::postgres()
            .run(&pool)
            .await
            .context("applying Postgres migrations")?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_postgres)?;
        Ok(())
    }

    async fn create_venue(&self, tenant: &TenantRecord, venue: &VenueRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        insert_venue(&mut tx, tenant, venue).await?;
        tx.commit().await.map_err(from_postgres)
    }

    async fn create_first_venue(
        &self,
        tenant: &TenantRecord,
        venue: &VenueRecord,
        owner: &UsernameClaim,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        // Held to the commit: a concurrent setup (or venue creation) on any hub waits here
        // and then sees this venue.
        sqlx::query("LOCK TABLE venues IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(from_postgres)?;
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM venues)")
            .fetch_one(&mut *tx)
            .await
            .map_err(from_postgres)?;
        if any {
            return Ok(false);
        }
        insert_venue(&mut tx, tenant, venue).await?;
        if claim_username(&mut tx, owner).await? != ClaimOutcome::Claimed {
            return Err(StoreError::Conflict(format!(
                "username {:?} is held although the hub has no venue",
                owner.username
            )));
        }
        tx.commit().await.map_err(from_postgres)?;
        Ok(true)
    }

    async fn claim_username(&self, claim: &UsernameClaim) -> StoreResult<ClaimOutcome> {
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        let outcome = claim_username(&mut tx, claim).await?;
        tx.commit().await.map_err(from_postgres)?;
        Ok(outcome)
    }

    async fn take_over_username(
        &self,
        held: &UsernameClaim,
        claim: &UsernameClaim,
    ) -> StoreResult<bool> {
        let moved = sqlx::query(
            "UPDATE staff_usernames SET venue_id = $4, staff_id = $5, claimed_at = $6
             WHERE username = $1 AND venue_id = $2 AND staff_id = $3",
        )
        .bind(&held.username)
        .bind(held.venue_id)
        .bind(held.staff_id)
        .bind(claim.venue_id)
        .bind(claim.staff_id)
        .bind(claim.claimed_at)
        .execute(&self.pool)
        .await
        .map_err(from_postgres)?;
        Ok(moved.rows_affected() == 1)
    }

    async fn release_username(&self, claim: &UsernameClaim) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM staff_usernames WHERE username = $1 AND venue_id = $2 AND staff_id = $3",
        )
        .bind(&claim.username)
        .bind(claim.venue_id)
        .bind(claim.staff_id)
        .execute(&self.pool)
        .await
        .map_err(from_postgres)?;
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
        .map_err(from_postgres)?;
        rows.iter()
            .map(|row| {
                Ok(VenueRecord {
                    id: row.try_get("id")?,
                    tenant_id: row.try_get("tenant_id")?,
                    slug: row.try_get("slug")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(from_postgres)
    }

    async fn append(&self, commit: &Commit) -> StoreResult<()> {
        contract::check_commit(commit)?;
        if contract::is_empty(commit) {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        insert_events(&mut tx, &commit.events).await?;
        insert_commands(&mut tx, commit.venue_id, &commit.commands).await?;
        // Orders before their lines: lines reference their order.
        upsert_orders(&mut tx, &contract::newest_per_id(&commit.orders, |o| o.id)).await?;
        upsert_lines(&mut tx, &contract::newest_per_id(&commit.lines, |l| l.id)).await?;
        upsert_tables(&mut tx, &contract::newest_per_id(&commit.tables, |t| t.id)).await?;
        // After the upserts, so a table removed in the same batch it changed in stays removed.
        if !commit.removed_tables.is_empty() {
            sqlx::query("DELETE FROM tables WHERE venue_id = $1 AND id = ANY($2)")
                .bind(commit.venue_id)
                .bind(&commit.removed_tables)
                .execute(&mut *tx)
                .await
                .map_err(from_postgres)?;
        }
        tx.commit().await.map_err(from_postgres)
    }

    async fn load_events(
        &self,
        venue_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT venue_id, seq, at, command_id, staff_id, device, kind, payload FROM events
             WHERE venue_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(venue_id)
        .bind(after_seq)
        .bind(contract::replay_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_postgres)?;
        rows.iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(from_postgres)
    }

    async fn recent_commands(&self, venue_id: Uuid, limit: i64) -> StoreResult<Vec<CommandRecord>> {
        let rows = sqlx::query(
            "SELECT command_id, first_seq, last_seq, at, fingerprint FROM commands
             WHERE venue_id = $1 ORDER BY last_seq DESC LIMIT $2",
        )
        .bind(venue_id)
        .bind(contract::replay_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_postgres)?;
        rows.iter()
            .map(|row| {
                Ok(CommandRecord {
                    command_id: row.try_get("command_id")?,
                    first_seq: row.try_get("first_seq")?,
                    last_seq: row.try_get("last_seq")?,
                    at: row.try_get("at")?,
                    fingerprint: row.try_get("fingerprint")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(from_postgres)
    }

    async fn query_events(&self, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let mut sql = QueryBuilder::<Postgres>::new("SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE venue_id = ")
            .push_bind(query.venue_id);
        if let Some(after_seq) = query.after_seq {
            sql.push(" AND seq > ").push_bind(after_seq);
        }
        if let Some(before_seq) = query.before_seq {
            sql.push(" AND seq < ").push_bind(before_seq);
        }
        if !query.kinds.is_empty() {
            sql.push(" AND kind = ANY(")
                .push_bind(&query.kinds)
                .push(")");
        }
        if let Some(staff_id) = query.staff_id {
            sql.push(" AND staff_id = ").push_bind(staff_id);
        }
        if let Some(command_id) = query.command_id {
            sql.push(" AND command_id = ").push_bind(command_id);
        }
        if let Some(from) = query.from {
            sql.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = query.to {
            sql.push(" AND at < ").push_bind(to);
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
            .map_err(from_postgres)?;
        rows.iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()
            .map_err(from_postgres)
    }

    async fn last_seq(&self, venue_id: Uuid) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events WHERE venue_id = $1")
            .bind(venue_id)
            .fetch_one(&self.pool)
            .await
            .map_err(from_postgres)
    }

    async fn save_snapshot(
        &self,
        venue_id: Uuid,
        seq: i64,
        state: &serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        sqlx::query(
            "INSERT INTO snapshots (venue_id, seq, state) VALUES ($1, $2, $3)
             ON CONFLICT (venue_id, seq) DO UPDATE SET state = EXCLUDED.state, at = now()",
        )
        .bind(venue_id)
        .bind(seq)
        .bind(state)
        .execute(&mut *tx)
        .await
        .map_err(from_postgres)?;
        // Two, not one: if the newest turns out unreadable after an upgrade, the one before
        // it still spares a replay from the beginning of time.
        sqlx::query(
            "DELETE FROM snapshots WHERE venue_id = $1 AND seq < (
                 SELECT seq FROM snapshots WHERE venue_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET 1)",
        )
        .bind(venue_id)
        .execute(&mut *tx)
        .await
        .map_err(from_postgres)?;
        tx.commit().await.map_err(from_postgres)
    }

    async fn load_snapshot(&self, venue_id: Uuid) -> StoreResult<Option<(i64, serde_json::Value)>> {
        let row = sqlx::query(
            "SELECT seq, state FROM snapshots WHERE venue_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(venue_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(from_postgres)?;
        row.map(|row| Ok((row.try_get("seq")?, row.try_get("state")?)))
            .transpose()
            .map_err(from_postgres)
    }

    async fn order_document(
        &self,
        venue_id: Uuid,
        order_id: Uuid,
    ) -> StoreResult<Option<serde_json::Value>> {
        sqlx::query_scalar("SELECT document FROM orders WHERE venue_id = $1 AND id = $2")
            .bind(venue_id)
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(from_postgres)
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> StoreResult<String> {
        // Two statements, not one CTE: a CTE's read would not see a row a concurrent caller
        // committed while our insert waited on it, and would come back empty.
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(from_postgres)?;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(from_postgres)
    }

    async fn append_readings(&self, rows: &[DatedReading]) -> StoreResult<usize> {
        let rows = contract::prepare_readings(rows)?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(from_postgres)?;
        let batch: Vec<&DatedReading> = rows.iter().collect();
        let inserted = sqlx::query(
            "INSERT INTO device_readings (venue_id, device_id, probe, celsius, measured_at,
                                          received_at)
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::float8[],
                                  $5::timestamptz[], $6::timestamptz[])
             ON CONFLICT DO NOTHING
             RETURNING venue_id, device_id, probe, measured_at",
        )
        .bind(column(&batch, |r| r.reading.venue_id.0))
        .bind(column(&batch, |r| r.reading.device_id.0))
        .bind(column(&batch, |r| r.reading.probe.as_str()))
        .bind(column(&batch, |r| r.reading.celsius))
        .bind(column(&batch, |r| r.reading.measured_at))
        .bind(column(&batch, |r| r.reading.received_at))
        .fetch_all(&mut *tx)
        .await
        .map_err(from_postgres)?;
        let inserted: HashSet<contract::ReadingKey> = inserted
            .iter()
            .map(|row| {
                Ok((
                    VenueId(row.try_get("venue_id")?),
                    DeviceId(row.try_get("device_id")?),
                    row.try_get("probe")?,
                    row.try_get("measured_at")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(from_postgres)?;
        let days = contract::summarise(
            rows.iter()
                .filter(|row| inserted.contains(&contract::reading_key(row))),
        );
        add_to_reading_days(&mut tx, &days).await?;
        tx.commit().await.map_err(from_postgres)?;
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
        let rows = sqlx::query(
            "SELECT venue_id, device_id, probe, celsius, measured_at, received_at
             FROM device_readings
             WHERE venue_id = $1 AND device_id = $2 AND ($3::text IS NULL OR probe = $3)
               AND measured_at >= $4 AND measured_at < $5
             ORDER BY measured_at DESC, probe DESC LIMIT $6",
        )
        .bind(venue.0)
        .bind(device.0)
        .bind(probe)
        .bind(from)
        .bind(to)
        .bind(contract::reading_limit(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(from_postgres)?;
        let mut readings = rows
            .iter()
            .map(|row| {
                Ok(ReadingRow {
                    venue_id: VenueId(row.try_get("venue_id")?),
                    device_id: DeviceId(row.try_get("device_id")?),
                    probe: row.try_get("probe")?,
                    celsius: row.try_get("celsius")?,
                    measured_at: row.try_get("measured_at")?,
                    received_at: row.try_get("received_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(from_postgres)?;
        readings.reverse();
        Ok(readings)
    }

    async fn reading_days(&self, venue: VenueId, day: NaiveDate) -> StoreResult<Vec<ReadingDay>> {
        let rows = sqlx::query(
            "SELECT venue_id, device_id, probe, day, count, min_celsius, max_celsius,
                    sum_celsius, first_at, last_at
             FROM device_reading_days WHERE venue_id = $1 AND day = $2
             ORDER BY device_id, probe",
        )
        .bind(venue.0)
        .bind(day)
        .fetch_all(&self.pool)
        .await
        .map_err(from_postgres)?;
        rows.iter()
            .map(|row| {
                Ok(ReadingDay {
                    venue_id: VenueId(row.try_get("venue_id")?),
                    device_id: DeviceId(row.try_get("device_id")?),
                    probe: row.try_get("probe")?,
                    day: row.try_get("day")?,
                    count: row.try_get("count")?,
                    min_celsius: row.try_get("min_celsius")?,
                    max_celsius: row.try_get("max_celsius")?,
                    sum_celsius: row.try_get("sum_celsius")?,
                    first_at: row.try_get("first_at")?,
                    last_at: row.try_get("last_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(from_postgres)
    }

    async fn prune_readings(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let deleted = sqlx::query("DELETE FROM device_readings WHERE measured_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(from_postgres)?;
        Ok(deleted.rows_affected())
    }
}

fn event_from_row(row: &PgRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        venue_id: row.try_get("venue_id")?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        command_id: row.try_get("command_id")?,
        staff_id: row.try_get("staff_id")?,
        device: row.try_get("device")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
    })
}

/// One column of a batch, for binding as a Postgres array.
fn column<'a, T, U>(rows: &[&'a T], field: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(|row| field(row)).collect()
}

async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    events: &[StoredEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<&StoredEvent> = events.iter().collect();
    sqlx::query(
        "INSERT INTO events (venue_id, seq, at, command_id, staff_id, device, kind, payload)
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::timestamptz[], $4::uuid[],
                              $5::uuid[], $6::text[], $7::text[], $8::jsonb[])",
    )
    .bind(column(&rows, |e| e.venue_id))
    .bind(column(&rows, |e| e.seq))
    .bind(column(&rows, |e| e.at))
    .bind(column(&rows, |e| e.command_id))
    .bind(column(&rows, |e| e.staff_id))
    .bind(column(&rows, |e| e.device.as_deref()))
    .bind(column(&rows, |e| e.kind.as_str()))
    .bind(column(&rows, |e| &e.payload))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

/// Plain inserts, no upsert: a command id recorded twice is exactly the duplicate the
/// caller must hear about as `Conflict`, and the whole commit must fail with it.
async fn insert_commands(
    tx: &mut Transaction<'static, Postgres>,
    venue_id: Uuid,
    commands: &[CommandRecord],
) -> StoreResult<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let rows: Vec<&CommandRecord> = commands.iter().collect();
    sqlx::query(
        "INSERT INTO commands (venue_id, command_id, first_seq, last_seq, at, fingerprint)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::bigint[], $4::bigint[], $5::timestamptz[],
                                  $6::bigint[])",
    )
    .bind(venue_id)
    .bind(column(&rows, |c| c.command_id))
    .bind(column(&rows, |c| c.first_seq))
    .bind(column(&rows, |c| c.last_seq))
    .bind(column(&rows, |c| c.at))
    .bind(column(&rows, |c| c.fingerprint))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

async fn upsert_orders(
    tx: &mut Transaction<'static, Postgres>,
    orders: &[&OrderRow],
) -> StoreResult<()> {
    if orders.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO orders (id, venue_id, number, kind, status, table_id, guests, customer_name,
                             customer_phone, delivery_address, channel, created_by, created_at,
                             closed_at, cancelled_at, subtotal, document)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[],
                              $6::uuid[], $7::int[], $8::text[], $9::text[], $10::text[],
                              $11::text[], $12::uuid[], $13::timestamptz[], $14::timestamptz[],
                              $15::timestamptz[], $16::bigint[], $17::jsonb[])
         ON CONFLICT (venue_id, id) DO UPDATE SET
             number = EXCLUDED.number, kind = EXCLUDED.kind,
             status = EXCLUDED.status, table_id = EXCLUDED.table_id, guests = EXCLUDED.guests,
             customer_name = EXCLUDED.customer_name, customer_phone = EXCLUDED.customer_phone,
             delivery_address = EXCLUDED.delivery_address, channel = EXCLUDED.channel,
             created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at,
             closed_at = EXCLUDED.closed_at, cancelled_at = EXCLUDED.cancelled_at,
             subtotal = EXCLUDED.subtotal, document = EXCLUDED.document",
    )
    .bind(column(orders, |o| o.id))
    .bind(column(orders, |o| o.venue_id))
    .bind(column(orders, |o| o.number))
    .bind(column(orders, |o| o.kind.as_str()))
    .bind(column(orders, |o| o.status.as_str()))
    .bind(column(orders, |o| o.table_id))
    .bind(column(orders, |o| o.guests))
    .bind(column(orders, |o| o.customer_name.as_deref()))
    .bind(column(orders, |o| o.customer_phone.as_deref()))
    .bind(column(orders, |o| o.delivery_address.as_deref()))
    .bind(column(orders, |o| o.channel.as_deref()))
    .bind(column(orders, |o| o.created_by))
    .bind(column(orders, |o| o.created_at))
    .bind(column(orders, |o| o.closed_at))
    .bind(column(orders, |o| o.cancelled_at))
    .bind(column(orders, |o| o.subtotal))
    .bind(column(orders, |o| &o.document))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

async fn upsert_lines(
    tx: &mut Transaction<'static, Postgres>,
    lines: &[&OrderLineRow],
) -> StoreResult<()> {
    if lines.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_lines (id, order_id, venue_id, position, menu_item_id, name, quantity,
                                  unit_price, line_total, seat, course, status, note, void_reason,
                                  added_at, fired_at, started_at, ready_at, served_at, voided_at)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::uuid[],
                              $6::text[], $7::int[], $8::bigint[], $9::bigint[], $10::int[],
                              $11::int[], $12::text[], $13::text[], $14::text[],
                              $15::timestamptz[], $16::timestamptz[], $17::timestamptz[],
                              $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])
         ON CONFLICT (venue_id, id) DO UPDATE SET
             order_id = EXCLUDED.order_id, position = EXCLUDED.position, menu_item_id = EXCLUDED.menu_item_id,
             name = EXCLUDED.name, quantity = EXCLUDED.quantity,
             unit_price = EXCLUDED.unit_price, line_total = EXCLUDED.line_total,
             seat = EXCLUDED.seat, course = EXCLUDED.course, status = EXCLUDED.status,
             note = EXCLUDED.note, void_reason = EXCLUDED.void_reason,
             added_at = EXCLUDED.added_at, fired_at = EXCLUDED.fired_at,
             started_at = EXCLUDED.started_at, ready_at = EXCLUDED.ready_at,
             served_at = EXCLUDED.served_at, voided_at = EXCLUDED.voided_at",
    )
    .bind(column(lines, |l| l.id))
    .bind(column(lines, |l| l.order_id))
    .bind(column(lines, |l| l.venue_id))
    .bind(column(lines, |l| l.position))
    .bind(column(lines, |l| l.menu_item_id))
    .bind(column(lines, |l| l.name.as_str()))
    .bind(column(lines, |l| l.quantity))
    .bind(column(lines, |l| l.unit_price))
    .bind(column(lines, |l| l.line_total))
    .bind(column(lines, |l| l.seat))
    .bind(column(lines, |l| l.course))
    .bind(column(lines, |l| l.status.as_str()))
    .bind(column(lines, |l| l.note.as_deref()))
    .bind(column(lines, |l| l.void_reason.as_deref()))
    .bind(column(lines, |l| l.added_at))
    .bind(column(lines, |l| l.fired_at))
    .bind(column(lines, |l| l.started_at))
    .bind(column(lines, |l| l.ready_at))
    .bind(column(lines, |l| l.served_at))
    .bind(column(lines, |l| l.voided_at))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

async fn upsert_tables(
    tx: &mut Transaction<'static, Postgres>,
    tables: &[&TableRow],
) -> StoreResult<()> {
    if tables.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tables (id, venue_id, area_id, label, seats, status, guests, seated_at,
                             server_id, merged_into)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[],
                              $6::text[], $7::int[], $8::timestamptz[], $9::uuid[], $10::uuid[])
         ON CONFLICT (venue_id, id) DO UPDATE SET
             area_id = EXCLUDED.area_id, label = EXCLUDED.label,
             seats = EXCLUDED.seats, status = EXCLUDED.status, guests = EXCLUDED.guests,
             seated_at = EXCLUDED.seated_at, server_id = EXCLUDED.server_id,
             merged_into = EXCLUDED.merged_into",
    )
    .bind(column(tables, |t| t.id))
    .bind(column(tables, |t| t.venue_id))
    .bind(column(tables, |t| t.area_id))
    .bind(column(tables, |t| t.label.as_str()))
    .bind(column(tables, |t| t.seats))
    .bind(column(tables, |t| t.status.as_str()))
    .bind(column(tables, |t| t.guests))
    .bind(column(tables, |t| t.seated_at))
    .bind(column(tables, |t| t.server_id))
    .bind(column(tables, |t| t.merged_into))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

/// Grows each day summary by a batch's new readings (or starts it).
async fn add_to_reading_days(
    tx: &mut Transaction<'static, Postgres>,
    days: &[ReadingDay],
) -> StoreResult<()> {
    if days.is_empty() {
        return Ok(());
    }
    let days: Vec<&ReadingDay> = days.iter().collect();
    sqlx::query(
        "INSERT INTO device_reading_days AS d (venue_id, day, device_id, probe, count,
                                               min_celsius, max_celsius, sum_celsius,
                                               first_at, last_at)
         SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::uuid[], $4::text[], $5::bigint[],
                              $6::float8[], $7::float8[], $8::float8[], $9::timestamptz[],
                              $10::timestamptz[])
         ON CONFLICT (venue_id, day, device_id, probe) DO UPDATE SET
             count = d.count + EXCLUDED.count,
             min_celsius = LEAST(d.min_celsius, EXCLUDED.min_celsius),
             max_celsius = GREATEST(d.max_celsius, EXCLUDED.max_celsius),
             sum_celsius = d.sum_celsius + EXCLUDED.sum_celsius,
             first_at = LEAST(d.first_at, EXCLUDED.first_at),
             last_at = GREATEST(d.last_at, EXCLUDED.last_at)",
    )
    .bind(column(&days, |d| d.venue_id.0))
    .bind(column(&days, |d| d.day))
    .bind(column(&days, |d| d.device_id.0))
    .bind(column(&days, |d| d.probe.as_str()))
    .bind(column(&days, |d| d.count))
    .bind(column(&days, |d| d.min_celsius))
    .bind(column(&days, |d| d.max_celsius))
    .bind(column(&days, |d| d.sum_celsius))
    .bind(column(&days, |d| d.first_at))
    .bind(column(&days, |d| d.last_at))
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

async fn insert_venue(
    tx: &mut Transaction<'static, Postgres>,
    tenant: &TenantRecord,
    venue: &VenueRecord,
) -> StoreResult<()> {
    // A tenant owns many venues; only its first venue creates it.
    sqlx::query("INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
        .bind(tenant.id)
        .bind(&tenant.name)
        .execute(&mut **tx)
        .await
        .map_err(from_postgres)?;
    sqlx::query(
        "INSERT INTO venues (id, tenant_id, slug, name, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(venue.id)
    .bind(venue.tenant_id)
    .bind(&venue.slug)
    .bind(&venue.name)
    .bind(venue.created_at)
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    Ok(())
}

async fn claim_username(
    tx: &mut Transaction<'static, Postgres>,
    claim: &UsernameClaim,
) -> StoreResult<ClaimOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO staff_usernames (username, venue_id, staff_id, claimed_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
    )
    .bind(&claim.username)
    .bind(claim.venue_id)
    .bind(claim.staff_id)
    .bind(claim.claimed_at)
    .execute(&mut **tx)
    .await
    .map_err(from_postgres)?;
    if inserted.rows_affected() == 1 {
        return Ok(ClaimOutcome::Claimed);
    }
    let held = username_claim(&mut **tx, &claim.username).await?;
    contract::claim_outcome(claim, held)
}

async fn username_claim<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    username: &str,
) -> StoreResult<Option<UsernameClaim>> {
    let row = sqlx::query(
        "SELECT username, venue_id, staff_id, claimed_at FROM staff_usernames WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(executor)
    .await
    .map_err(from_postgres)?;
    row.map(|row| {
        Ok(UsernameClaim {
            username: row.try_get("username")?,
            venue_id: row.try_get("venue_id")?,
            staff_id: row.try_get("staff_id")?,
            claimed_at: row.try_get("claimed_at")?,
        })
    })
    .transpose()
    .map_err(from_postgres)
}
