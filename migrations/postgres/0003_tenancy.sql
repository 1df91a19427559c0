-- Owns the second step of multi-tenancy: every projection is keyed on (venue_id, id), so an
-- id one venue chose can never take over another venue's row, and the hub-wide register of
-- usernames, so a password login finds exactly one staff member whichever tenant typed it.

-- Lines reference their order within the same venue; drop the old single-column key first.
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey;
ALTER TABLE orders DROP CONSTRAINT orders_pkey;
ALTER TABLE orders ADD PRIMARY KEY (venue_id, id);
ALTER TABLE order_lines ADD PRIMARY KEY (venue_id, id);
-- A line another venue wrote into an order before this key existed belongs to no order of its
-- own venue; the journal still holds it, so the projection may drop it.
DELETE FROM order_lines l
 WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.venue_id = l.venue_id AND o.id = l.order_id);
ALTER TABLE order_lines ADD CONSTRAINT order_lines_order_fkey
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id);
DROP INDEX order_lines_order_position;
CREATE INDEX order_lines_order_position ON order_lines (venue_id, order_id, position);

ALTER TABLE tables DROP CONSTRAINT tables_pkey;
ALTER TABLE tables ADD PRIMARY KEY (venue_id, id);
-- The primary key now leads with venue_id.
DROP INDEX tables_venue;

-- One row per username in the whole hub, ASCII-lowercased as venues compare them: the staff
-- member it logs in. Claimed before the staff member is added to their venue's journal,
-- released if that is refused.
CREATE TABLE staff_usernames (
    username   text PRIMARY KEY,
    venue_id   uuid NOT NULL REFERENCES venues (id),
    staff_id   uuid NOT NULL,
    claimed_at timestamptz NOT NULL
);
-- Releasing a claim names its staff member.
CREATE INDEX staff_usernames_venue_staff ON staff_usernames (venue_id, staff_id);
