-- Owns the first Postgres schema: the venue registry, the append-only event journal, the
-- idempotency records, snapshots, the relational projections and hub settings.
-- Native types throughout (uuid, timestamptz, jsonb, bigint money in minor units) so outside
-- readers and reports get real types, not strings.

CREATE TABLE tenants (
    id   uuid PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE venues (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    -- Typed at login, so it must name exactly one venue.
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX venues_tenant_id ON venues (tenant_id);

-- The source of truth and the immutable audit trail: rows are only ever inserted.
CREATE TABLE events (
    venue_id   uuid NOT NULL REFERENCES venues (id),
    seq        bigint NOT NULL CHECK (seq > 0),
    command_id uuid NOT NULL,
    staff_id   uuid,
    device     text,
    kind       text NOT NULL,
    payload    jsonb NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (venue_id, seq)
);
-- One index per audit filter; each leads with venue_id because every query is per venue.
CREATE INDEX events_venue_kind ON events (venue_id, kind);
CREATE INDEX events_venue_at ON events (venue_id, at);
CREATE INDEX events_venue_command ON events (venue_id, command_id);
CREATE INDEX events_venue_staff ON events (venue_id, staff_id) WHERE staff_id IS NOT NULL;

-- An audit trail that can be edited proves nothing, so the database itself refuses
-- to change or remove journal entries, whoever asks.
CREATE FUNCTION refuse_journal_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event journal is append-only: % on events refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_journal_change();

CREATE TRIGGER events_refuse_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_journal_change();

-- Idempotency: a retried command finds its original events here instead of running twice.
CREATE TABLE commands (
    venue_id   uuid NOT NULL REFERENCES venues (id),
    command_id uuid NOT NULL,
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (venue_id, command_id),
    CHECK (first_seq <= last_seq)
);

-- Restart accelerators; the store prunes all but the newest two per venue.
CREATE TABLE snapshots (
    venue_id uuid NOT NULL REFERENCES venues (id),
    seq      bigint NOT NULL,
    state    jsonb NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (venue_id, seq)
);

-- Projections below are rebuilt from the journal; they exist for reports and outside readers.
CREATE TABLE orders (
    id               uuid PRIMARY KEY,
    venue_id         uuid NOT NULL REFERENCES venues (id),
    number           bigint NOT NULL,
    kind             text NOT NULL,
    status           text NOT NULL,
    table_id         uuid,
    guests           integer,
    customer_name    text,
    customer_phone   text,
    delivery_address text,
    channel          text,
    created_by       uuid,
    created_at       timestamptz NOT NULL,
    closed_at        timestamptz,
    cancelled_at     timestamptz,
    subtotal         bigint NOT NULL,
    document         jsonb NOT NULL
);
CREATE INDEX orders_venue_created_at ON orders (venue_id, created_at);
CREATE INDEX orders_venue_status ON orders (venue_id, status);

CREATE TABLE order_lines (
    id           uuid PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id),
    venue_id     uuid NOT NULL REFERENCES venues (id),
    position     integer NOT NULL,
    menu_item_id uuid NOT NULL,
    name         text NOT NULL,
    quantity     integer NOT NULL,
    unit_price   bigint NOT NULL,
    line_total   bigint NOT NULL,
    seat         integer,
    course       integer NOT NULL,
    status       text NOT NULL,
    note         text,
    void_reason  text,
    added_at     timestamptz NOT NULL,
    fired_at     timestamptz,
    started_at   timestamptz,
    ready_at     timestamptz,
    served_at    timestamptz,
    voided_at    timestamptz
);
CREATE INDEX order_lines_order_position ON order_lines (order_id, position);
CREATE INDEX order_lines_venue_menu_item ON order_lines (venue_id, menu_item_id);

CREATE TABLE tables (
    id          uuid PRIMARY KEY,
    venue_id    uuid NOT NULL REFERENCES venues (id),
    area_id     uuid NOT NULL,
    label       text NOT NULL,
    seats       integer NOT NULL,
    status      text NOT NULL,
    guests      integer,
    seated_at   timestamptz,
    server_id   uuid,
    merged_into uuid
);
CREATE INDEX tables_venue ON tables (venue_id);

-- Hub-wide values that must survive restarts (e.g. the token signing key).
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
