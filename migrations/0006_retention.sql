-- 0006_retention: terminal ops past retention_days move, with their
-- journal and audit rows, to a monthly archive database beside this one
-- (issue 15; docs/recovery.md "Retention and archives").  Never edit
-- this file once released: add 0006_... instead.

-- The append-only triggers stay; their one exception is the archive
-- move.  felhom_archive_move() is a function the agent registers on its
-- own connections only: it answers 1 while that connection runs an
-- archive move (a flag of the connection, set and cleared around the
-- move's DELETE, which is audited).  Anywhere else - the sqlite3 shell,
-- another program, the agent outside a move - a DELETE is refused
-- ("journal is append-only", or "no such function" where the function
-- does not exist at all).  UPDATE stays refused always.
DROP TRIGGER journal_no_delete;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
WHEN NOT felhom_archive_move()
BEGIN
	SELECT RAISE(ABORT, 'journal is append-only');
END;
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT felhom_archive_move()
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

-- Rows that outlive their op's move keep its id as a plain number (the
-- op is then read in its archive): the idempotency keys (R-26: a key
-- seen once is never applied again, so they are never archived), the
-- provenance of what the agent created (R-27) and the restore-test
-- runs.  Same columns and constraints as before, without the foreign
-- key to ops.
CREATE TABLE idempotency_0006 AS SELECT * FROM idempotency;
DROP TABLE idempotency;
CREATE TABLE idempotency (
	key		TEXT PRIMARY KEY,
	op_id		INTEGER NOT NULL,		-- ops.id (live or archived)
	created_at	INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO idempotency (key, op_id, created_at)
    SELECT key, op_id, created_at FROM idempotency_0006;
DROP TABLE idempotency_0006;

CREATE TABLE provenance_0006 AS SELECT * FROM provenance;
DROP TABLE provenance;
CREATE TABLE provenance (
	id		INTEGER PRIMARY KEY,
	kind		TEXT NOT NULL CHECK (kind IN ('guest', 'snapshot', 'backup')),
	vmid		INTEGER NOT NULL,
	name		TEXT NOT NULL DEFAULT '',	-- snapshot name or volid
	op_id		INTEGER,			-- ops.id (live or archived)
	created_at	INTEGER NOT NULL,
	UNIQUE (kind, vmid, name)
);
INSERT INTO provenance (id, kind, vmid, name, op_id, created_at)
    SELECT id, kind, vmid, name, op_id, created_at FROM provenance_0006;
DROP TABLE provenance_0006;

CREATE TABLE restore_test_runs_0006 AS SELECT * FROM restore_test_runs;
DROP TABLE restore_test_runs;
CREATE TABLE restore_test_runs (
	id		INTEGER PRIMARY KEY,
	vmid		INTEGER NOT NULL CHECK (vmid BETWEEN 100 AND 999999999),
	scratch_vmid	INTEGER CHECK (scratch_vmid IS NULL OR
			    scratch_vmid BETWEEN 100 AND 999999999),
	backup_volid	TEXT,
	storage		TEXT NOT NULL,
	phase		TEXT NOT NULL CHECK (phase IN ('restore', 'isolate',
			    'start', 'hold', 'stop', 'destroy', 'done')),
	op_id		INTEGER,			-- ops.id (live or archived)
	marked		INTEGER NOT NULL DEFAULT 0 CHECK (marked IN (0, 1)),
	result		TEXT CHECK (result IS NULL OR result IN ('passed',
			    'failed')),
	detail		TEXT,
	started_at	INTEGER NOT NULL,
	running_since	INTEGER,
	finished_at	INTEGER,
	CHECK (phase <> 'done' OR (result IS NOT NULL AND
	    finished_at IS NOT NULL))
);
INSERT INTO restore_test_runs SELECT * FROM restore_test_runs_0006;
DROP TABLE restore_test_runs_0006;
CREATE INDEX restore_test_runs_vmid ON restore_test_runs (vmid, id);
CREATE INDEX restore_test_runs_open ON restore_test_runs (phase)
    WHERE phase <> 'done';

-- An accepted nonce keeps its op live (replay protection reads both).
CREATE INDEX nonces_op ON nonces (op_id);
