-- 0003_exactly_once: what "nothing runs twice, nothing is lost" needs
-- under late PVE answers, a lost or restored database, a crash between
-- the hub's answer and the inbox commit, and drift (R-15, R-20, R-26,
-- R-34).  Never edit this file once released: add 0004_... instead.

-- The digest of the guest config a set_config write was computed from:
-- the PUT carries it, so a late, stale write fails "modified" instead of
-- overwriting a newer one (R-34).
ALTER TABLE ops ADD COLUMN config_digest TEXT;
-- A retry's wait as a duration on the monotonic clock (ms); next_at
-- stays the wall-clock time shown to people.  After a restart the wait
-- runs again from its stored length, clamped to the largest backoff.
ALTER TABLE ops ADD COLUMN wait_ms INTEGER NOT NULL DEFAULT 0
    CHECK (wait_ms >= 0);

-- hub-contract v1.1 "Delivery: at least once": the hub's seq of an
-- entry (NULL from a v1 hub).  An entry already held is never taken
-- twice.
ALTER TABLE signed_inbox ADD COLUMN seq INTEGER CHECK (seq IS NULL OR seq > 0);
CREATE UNIQUE INDEX signed_inbox_seq ON signed_inbox (seq)
    WHERE seq IS NOT NULL;

-- Re-convergence within a desired generation (R-34): per guest, the
-- consecutive failed desired ops and the backoff before planning again.
CREATE TABLE converge (
	vmid		INTEGER PRIMARY KEY CHECK (vmid BETWEEN 100 AND 999999999),
	failures	INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
	wait_ms		INTEGER NOT NULL DEFAULT 0 CHECK (wait_ms >= 0),
	op_id		INTEGER REFERENCES ops (id),	-- the last failed op counted
	error_code	TEXT,				-- its typed error
	error		TEXT,				-- its message
	updated_at	INTEGER NOT NULL
);
