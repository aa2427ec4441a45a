-- 0004_restore_tests: the agent's restore tests (R-17, R-27), one row per
-- run: which backup of which guest went into which scratch vmid, where
-- the run stands, and its result for the report.  The scratch guest is
-- the agent's by provenance (table provenance) from the transition that
-- records its restore; `op_id` is the op of the current phase.

CREATE TABLE restore_test_runs (
	id		INTEGER PRIMARY KEY,
	vmid		INTEGER NOT NULL CHECK (vmid BETWEEN 100 AND 999999999),
	scratch_vmid	INTEGER CHECK (scratch_vmid IS NULL OR
			    scratch_vmid BETWEEN 100 AND 999999999),
	backup_volid	TEXT,
	storage		TEXT NOT NULL,
	phase		TEXT NOT NULL CHECK (phase IN ('restore', 'isolate',
			    'start', 'hold', 'stop', 'destroy', 'done')),
	op_id		INTEGER REFERENCES ops (id),
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
CREATE INDEX restore_test_runs_vmid ON restore_test_runs (vmid, id);
CREATE INDEX restore_test_runs_open ON restore_test_runs (phase)
    WHERE phase <> 'done';
