-- Owns the temperature readings of probes: every raw reading as the device (or the hub, for
-- devices without a clock) timed it, and one summary row per device, probe and venue-local
-- day for food-safety reports. Raw readings may be pruned after a retention period (the
-- store's prune_readings); summaries are kept.

CREATE TABLE device_readings (
    venue_id    uuid NOT NULL REFERENCES venues (id),
    device_id   uuid NOT NULL,
    -- The probe's name on its device (`main`, `core`, `ambient`).
    probe       text NOT NULL,
    celsius     double precision NOT NULL,
    -- Device time when the device has a clock, else the hub's receive time.
    measured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    -- A retried batch (or a device repeating itself) inserts nothing twice, and the store
    -- adds only rows it actually inserted to the day summaries.
    PRIMARY KEY (venue_id, device_id, probe, measured_at)
);
-- A unit's history over all its probes.
CREATE INDEX device_readings_venue_device_measured_at
    ON device_readings (venue_id, device_id, measured_at);
-- Retention deletes by age; readings arrive in roughly time order, so a BRIN index is a few
-- pages where a B-tree would double the write cost of every reading.
CREATE INDEX device_readings_measured_at ON device_readings USING brin (measured_at);

CREATE TABLE device_reading_days (
    venue_id    uuid NOT NULL REFERENCES venues (id),
    -- The calendar day in the venue's timezone (not UTC): what a manager means by "today".
    day         date NOT NULL,
    device_id   uuid NOT NULL,
    probe       text NOT NULL,
    count       bigint NOT NULL CHECK (count > 0),
    min_celsius double precision NOT NULL,
    max_celsius double precision NOT NULL,
    -- The mean is sum / count; a sum (not a mean) is what a later batch can add to.
    sum_celsius double precision NOT NULL,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (venue_id, day, device_id, probe)
);
