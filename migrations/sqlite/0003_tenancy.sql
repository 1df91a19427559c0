-- Owns the second step of multi-tenancy: every projection is keyed on (venue_id, id), so an
-- id one venue chose can never take over another venue's row, and the hub-wide register of
-- usernames, so a password login finds exactly one staff member whichever tenant typed it.
-- SQLite cannot change a primary key in place: each table is rebuilt and its rows copied.

CREATE TABLE orders_keyed (
    id               TEXT NOT NULL,
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
    document         TEXT NOT NULL,
    PRIMARY KEY (venue_id, id)
) STRICT;
INSERT INTO orders_keyed SELECT id, venue_id, number, kind, status, table_id, guests,
    customer_name, customer_phone, delivery_address, channel, created_by, created_at,
    closed_at, cancelled_at, subtotal, document FROM orders;

CREATE TABLE order_lines_keyed (
    id           TEXT NOT NULL,
    order_id     TEXT NOT NULL,
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
    voided_at    TEXT,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders_keyed (venue_id, id)
) STRICT;
-- A line another venue wrote into an order before this key existed belongs to no order of its
-- own venue; the journal still holds it, so the projection may drop it.
INSERT INTO order_lines_keyed SELECT l.id, l.order_id, l.venue_id, l.position, l.menu_item_id,
    l.name, l.quantity, l.unit_price, l.line_total, l.seat, l.course, l.status, l.note,
    l.void_reason, l.added_at, l.fired_at, l.started_at, l.ready_at, l.served_at, l.voided_at
  FROM order_lines l
  JOIN orders o ON o.venue_id = l.venue_id AND o.id = l.order_id;

DROP TABLE order_lines;
DROP TABLE orders;
-- Renaming also repoints order_lines_keyed's foreign key at the renamed table.
ALTER TABLE orders_keyed RENAME TO orders;
ALTER TABLE order_lines_keyed RENAME TO order_lines;
CREATE INDEX orders_venue_created_at ON orders (venue_id, created_at);
CREATE INDEX orders_venue_status ON orders (venue_id, status);
CREATE INDEX order_lines_order_position ON order_lines (venue_id, order_id, position);
CREATE INDEX order_lines_venue_menu_item ON order_lines (venue_id, menu_item_id);

CREATE TABLE tables_keyed (
    id          TEXT NOT NULL,
    venue_id    TEXT NOT NULL REFERENCES venues (id),
    area_id     TEXT NOT NULL,
    label       TEXT NOT NULL,
    seats       INTEGER NOT NULL,
    status      TEXT NOT NULL,
    guests      INTEGER,
    seated_at   TEXT,
    server_id   TEXT,
    merged_into TEXT,
    PRIMARY KEY (venue_id, id)
) STRICT;
INSERT INTO tables_keyed SELECT id, venue_id, area_id, label, seats, status, guests, seated_at,
    server_id, merged_into FROM tables;
DROP TABLE tables;
ALTER TABLE tables_keyed RENAME TO tables;

-- One row per username in the whole hub, ASCII-lowercased as venues compare them: the staff
-- member it logs in. Claimed before the staff member is added to their venue's journal,
-- released if that is refused.
CREATE TABLE staff_usernames (
    username   TEXT PRIMARY KEY NOT NULL,
    venue_id   TEXT NOT NULL REFERENCES venues (id),
    staff_id   TEXT NOT NULL,
    claimed_at TEXT NOT NULL
) STRICT;
-- Releasing a claim names its staff member.
CREATE INDEX staff_usernames_venue_staff ON staff_usernames (venue_id, staff_id);
