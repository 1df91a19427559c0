-- Owns the first SQLite schema, the embedded twin of migrations/postgres/0001_journal.sql.
-- SQLite has no uuid, timestamptz or jsonb, so the store writes:
--   uuids      as TEXT, lower-case hyphenated (what outside readers expect to see),
--   timestamps as TEXT RFC 3339 UTC with exactly six fractional digits
--              (2024-05-01T12:00:00.000000Z), so text order is time order,
--   JSON       as TEXT,
--   money      as INTEGER minor units.
-- STRICT tables make SQLite refuse values of the wrong storage class instead of coercing.

CREATE TABLE tenants (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
) STRICT;

CREATE TABLE venues (
    id         TEXT PRIMARY KEY NOT NULL,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    -- Typed at login, so it must name exactly one venue.
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX venues_tenant_id ON venues (tenant_id);

-- The source of truth and the immutable audit trail: rows are only ever inserted.
CREATE TABLE events (
    venue_id   TEXT NOT NULL REFERENCES venues (id),
    seq        INTEGER NOT NULL CHECK (seq > 0),
    command_id TEXT NOT NULL,
    staff_id   TEXT,
    device     TEXT,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (venue_id, seq)
) STRICT, WITHOUT ROWID;
-- One index per audit filter; each leads with venue_id because every query is per venue.
CREATE INDEX events_venue_kind ON events (venue_id, kind);
CREATE INDEX events_venue_at ON events (venue_id, at);
CREATE INDEX events_venue_command ON events (venue_id, command_id);
CREATE INDEX events_venue_staff ON events (venue_id, staff_id) WHERE staff_id IS NOT NULL;

-- An audit trail that can be edited proves nothing, so the database itself refuses
-- to change or remove journal entries.
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event journal is append-only: UPDATE on events refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event journal is append-only: DELETE on events refused');
END;

-- Idempotency: a retried command finds its original events here instead of running twice.
CREATE TABLE commands (
    venue_id   TEXT NOT NULL REFERENCES venues (id),
    command_id TEXT NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (venue_id, command_id),
    CHECK (first_seq <= last_seq)
) STRICT, WITHOUT ROWID;

-- Restart accelerators; the store prunes all but the newest two per venue.
CREATE TABLE snapshots (
    venue_id TEXT NOT NULL REFERENCES venues (id),
    seq      INTEGER NOT NULL,
    state    TEXT NOT NULL,
    -- Written by the store (not a DEFAULT) so it has the same six-digit format as every
    -- other timestamp; SQLite's own clock functions give only milliseconds.
    at       TEXT NOT NULL,
    PRIMARY KEY (venue_id, seq)
) STRICT;

-- Projections below are rebuilt from the journal; they exist for reports and outside readers.
CREATE TABLE orders (
    id               TEXT PRIMARY KEY NOT NULL,
    venue_id         TEXT NOT NULL REFERENCES venues (id),
    number           INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    table_id         TEXT,
    guests           INTEGER,
    customer_name    TEXT,
    customer_phone   TEXT,
    delivery_address TEXT,
    channel          TEXT,
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    closed_at        TEXT,
    cancelled_at     TEXT,
    subtotal         INTEGER NOT NULL,
    document         TEXT NOT NULL
) STRICT;
CREATE INDEX orders_venue_created_at ON orders (venue_id, created_at);
CREATE INDEX orders_venue_status ON orders (venue_id, status);

CREATE TABLE order_lines (
    id           TEXT PRIMARY KEY NOT NULL,
    order_id     TEXT NOT NULL REFERENCES orders (id),
    venue_id     TEXT NOT NULL REFERENCES venues (id),
    position     INTEGER NOT NULL,
    menu_item_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    quantity     INTEGER NOT NULL,
    unit_price   INTEGER NOT NULL,
    line_total   INTEGER NOT NULL,
    seat         INTEGER,
    course       INTEGER NOT NULL,
    status       TEXT NOT NULL,
    note         TEXT,
    void_reason  TEXT,
    added_at     TEXT NOT NULL,
    fired_at     TEXT,
    started_at   TEXT,
    ready_at     TEXT,
    served_at    TEXT,
    voided_at    TEXT
) STRICT;
CREATE INDEX order_lines_order_position ON order_lines (order_id, position);
CREATE INDEX order_lines_venue_menu_item ON order_lines (venue_id, menu_item_id);

CREATE TABLE tables (
    id          TEXT PRIMARY KEY NOT NULL,
    venue_id    TEXT NOT NULL REFERENCES venues (id),
    area_id     TEXT NOT NULL,
    label       TEXT NOT NULL,
    seats       INTEGER NOT NULL,
    status      TEXT NOT NULL,
    guests      INTEGER,
    seated_at   TEXT,
    server_id   TEXT,
    merged_into TEXT
) STRICT;
CREATE INDEX tables_venue ON tables (venue_id);

-- Hub-wide values that must survive restarts (e.g. the token signing key).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
