-- The idempotency window is rebuilt at start from the newest command records rather than
-- carried in every snapshot: each record keeps the command's fingerprint (NULL for records
-- written before this column, whose retries are answered but not compared), and the index
-- reads a venue's newest records without sorting all of them.
ALTER TABLE commands ADD COLUMN fingerprint INTEGER;

CREATE INDEX commands_newest ON commands (venue_id, last_seq DESC);
