-- Owns the temperature readings of probes, the embedded twin of
-- migrations/postgres/0002_readings.sql, with the text encodings of 0001_journal.sql:
-- uuids as hyphenated TEXT, timestamps as RFC 3339 UTC TEXT with six fractional digits,
-- and days as TEXT `YYYY-MM-DD`. Raw readings may be pruned after a retention period (the
-- store's prune_readings); summaries are kept.

CREATE TABLE device_readings (
    venue_id    TEXT NOT NULL REFERENCES venues (id),
    device_id   TEXT NOT NULL,
    -- The probe's name on its device (`main`, `core`, `ambient`).
    probe       TEXT NOT NULL,
    celsius     REAL NOT NULL,
    -- Device time when the device has a clock, else the hub's receive time.
    measured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    -- A retried batch (or a device repeating itself) inserts nothing twice, and the store
    -- adds only rows it actually inserted to the day summaries.
    PRIMARY KEY (venue_id, device_id, probe, measured_at)
) STRICT, WITHOUT ROWID;
-- A unit's history over all its probes.
CREATE INDEX device_readings_venue_device_measured_at
    ON device_readings (venue_id, device_id, measured_at);
-- Retention deletes by age.
CREATE INDEX device_readings_measured_at ON device_readings (measured_at);

CREATE TABLE device_reading_days (
    venue_id    TEXT NOT NULL REFERENCES venues (id),
    -- The calendar day in the venue's timezone (not UTC): what a manager means by "today".
    day         TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    probe       TEXT NOT NULL,
    count       INTEGER NOT NULL CHECK (count > 0),
    min_celsius REAL NOT NULL,
    max_celsius REAL NOT NULL,
    -- The mean is sum / count; a sum (not a mean) is what a later batch can add to.
    sum_celsius REAL NOT NULL,
    first_at    TEXT NOT NULL,
    last_at     TEXT NOT NULL,
    PRIMARY KEY (venue_id, day, device_id, probe)
) STRICT, WITHOUT ROWID;
