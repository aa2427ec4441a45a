-- 0007_ops_checks: the ops table rebuilt with CHECK constraints SQLite
-- evaluates without building a table (issue 15, the plan's budget).
-- Never edit this file once released: add the next number instead.
--
-- SQLite evaluates `x IN ('a', 'b', 'c', ...)` of more than two values
-- by filling an ephemeral b-tree with the list, opened and closed again
-- on every run of every statement that checks it: each INSERT into ops
-- built three (kind, source, state) and each state change one, which
-- cost more than the row itself (EXPLAIN showed OpenEphemeral).  The same
-- lists written as `x = 'a' OR x = 'b' OR ...` are compared in place.
-- They refuse exactly what the IN lists refused: both compare with the
-- column's affinity (TEXT) and collation (BINARY); NULL passes a CHECK
-- in both forms and NOT NULL refuses it (tests/store/test_db.c
-- `ops_checks_as_strict` compares old and new constraints value by
-- value).  Nothing else changes: the same columns in the same order, the
-- same types, defaults, UNIQUE keys and index.
--
-- The rebuild follows SQLite's "Making Other Kinds Of Table Schema
-- Changes" (lang_altertable.html): the migration runs with foreign keys
-- off (db_migrate turns them off around the migrations and runs PRAGMA
-- foreign_key_check before each commits), the views that name ops are
-- dropped before and recreated after, word for word; journal, audit,
-- nonces and converge keep their REFERENCES ops (id), which then name
-- the new table.  Their append-only triggers do not name ops and stay.
--
-- One change besides the CHECKs: ids are AUTOINCREMENT.  Retention
-- (0006) moves old ops to archive files; once the op with the highest
-- id was moved, a plain INTEGER PRIMARY KEY handed that id (max + 1 of
-- the live rows) out again, and the archive's op, its journal, and the
-- idempotency and provenance rows that still name it would have shared
-- it with a new op.  The sequence starts past every id any live table
-- still names.  It costs no page per insert: sqlite_sequence's page is
-- written by the journal row of the same transaction anyway.

DROP VIEW v_ops;
DROP VIEW v_journal;
DROP VIEW v_audit;
DROP VIEW v_pending;

CREATE TABLE ops_0007 (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	uid		TEXT NOT NULL UNIQUE,		-- "op-" + 16 hex, shown to operators
	vmid		INTEGER CHECK (vmid IS NULL OR vmid BETWEEN 100 AND 999999999),
	kind		TEXT NOT NULL CHECK (kind = 'start' OR kind = 'stop' OR
			    kind = 'set_config' OR kind = 'snapshot' OR
			    kind = 'delete_snapshot' OR kind = 'rollback' OR
			    kind = 'backup' OR kind = 'restore' OR kind = 'destroy' OR
			    kind = 'provision' OR kind = 'rotate_signers'),
	source		TEXT NOT NULL CHECK (source = 'desired' OR source = 'signed' OR
			    source = 'request' OR source = 'admin' OR
			    source = 'internal'),
	class		TEXT NOT NULL CHECK (class = 'benign' OR class = 'destructive'),
	state		TEXT NOT NULL CHECK (state = 'new' OR
			    state = 'pending_signature' OR state = 'authorized' OR
			    state = 'submitting' OR state = 'running' OR
			    state = 'succeeded' OR state = 'failed' OR
			    state = 'rejected' OR state = 'expired' OR
			    state = 'superseded' OR state = 'cancelled' OR
			    state = 'rolling_back' OR state = 'rolled_back'),
	step		INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
	params		TEXT NOT NULL DEFAULT '{}',	-- op parameters (JSON)
	why		TEXT,				-- human reason it exists
	idem_key	TEXT NOT NULL UNIQUE,		-- R-26
	generation	INTEGER,			-- desired generation it came from
	blob		BLOB,				-- op blob: signed bytes or sign request
	blob_not_after	INTEGER,			-- sign window end (pending ops)
	signature	TEXT,				-- accepted armored SSHSIG
	signer		TEXT,				-- "principal SHA256:fp" of the signer
	nonce		TEXT,				-- accepted nonce (see nonces)
	upid		TEXT,				-- PVE task of the current step
	safety		TEXT,				-- safety copy taken (JSON) (R-31)
	attempt		INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	max_attempts	INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
	next_at		INTEGER NOT NULL DEFAULT 0,	-- not before (retry backoff)
	intent_at	INTEGER,			-- when submitting was committed
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	ended_at	INTEGER,
	error_code	TEXT,				-- typed error of the last failure
	error		TEXT,				-- its message
	config_digest	TEXT,				-- config a set_config write was computed from
	wait_ms		INTEGER NOT NULL DEFAULT 0 CHECK (wait_ms >= 0)
);
INSERT INTO ops_0007 (id, uid, vmid, kind, source, class, state, step,
    params, why, idem_key, generation, blob, blob_not_after, signature,
    signer, nonce, upid, safety, attempt, max_attempts, next_at, intent_at,
    created_at, updated_at, ended_at, error_code, error, config_digest,
    wait_ms)
SELECT id, uid, vmid, kind, source, class, state, step,
    params, why, idem_key, generation, blob, blob_not_after, signature,
    signer, nonce, upid, safety, attempt, max_attempts, next_at, intent_at,
    created_at, updated_at, ended_at, error_code, error, config_digest,
    wait_ms
FROM ops ORDER BY id;
DROP TABLE ops;
ALTER TABLE ops_0007 RENAME TO ops;
CREATE INDEX ops_ended ON ops (ended_at);
INSERT INTO sqlite_sequence (name, seq)
SELECT 'ops', 0 WHERE NOT EXISTS
    (SELECT 1 FROM sqlite_sequence WHERE name = 'ops');
UPDATE sqlite_sequence SET seq = max(seq,
    (SELECT coalesce(max(id), 0) FROM ops),
    (SELECT coalesce(max(op_id), 0) FROM journal),
    (SELECT coalesce(max(op_id), 0) FROM audit),
    (SELECT coalesce(max(op_id), 0) FROM nonces),
    (SELECT coalesce(max(op_id), 0) FROM idempotency),
    (SELECT coalesce(max(op_id), 0) FROM provenance),
    (SELECT coalesce(max(op_id), 0) FROM restore_test_runs),
    (SELECT coalesce(max(op_id), 0) FROM converge))
WHERE name = 'ops';

CREATE VIEW v_ops AS
SELECT o.id, o.uid, o.vmid, o.kind, o.source, o.class, o.state, o.step,
       o.attempt, o.upid, o.why, o.error_code, o.error, o.signer,
       strftime('%Y-%m-%dT%H:%M:%SZ', o.created_at, 'unixepoch') AS created,
       strftime('%Y-%m-%dT%H:%M:%SZ', o.updated_at, 'unixepoch') AS updated,
       strftime('%Y-%m-%dT%H:%M:%SZ', o.ended_at, 'unixepoch') AS ended,
       o.params
FROM ops o;

CREATE VIEW v_journal AS
SELECT j.id, strftime('%Y-%m-%dT%H:%M:%SZ', j.at, 'unixepoch') AS at,
       o.uid AS op, o.vmid, o.kind, j.from_state, j.event, j.to_state,
       j.step, j.detail
FROM journal j JOIN ops o ON o.id = j.op_id;

CREATE VIEW v_audit AS
SELECT a.seq, strftime('%Y-%m-%dT%H:%M:%SZ', a.at, 'unixepoch') AS at,
       a.event, a.decision, a.code, o.uid AS op, a.vmid, a.actor, a.detail,
       a.data
FROM audit a LEFT JOIN ops o ON o.id = a.op_id;

CREATE VIEW v_pending AS
SELECT o.uid AS op, o.vmid, o.kind, o.why,
       strftime('%Y-%m-%dT%H:%M:%SZ', o.blob_not_after, 'unixepoch')
           AS sign_by,
       strftime('%Y-%m-%dT%H:%M:%SZ', o.created_at, 'unixepoch') AS created,
       o.params
FROM ops o WHERE o.state = 'pending_signature';
