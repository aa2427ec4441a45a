-- 0001_initial: every table of DESIGN.md "The database".
-- Times are unix seconds (UTC).  JSON columns hold compact JSON text.
-- Never edit this file once released: add 0002_... instead.

-- One row per operation, driven through the state machine (R-33).
CREATE TABLE ops (
	id		INTEGER PRIMARY KEY,
	uid		TEXT NOT NULL UNIQUE,		-- "op-" + 16 hex, shown to operators
	vmid		INTEGER CHECK (vmid IS NULL OR vmid BETWEEN 100 AND 999999999),
	kind		TEXT NOT NULL CHECK (kind IN ('start', 'stop', 'set_config',
			    'snapshot', 'delete_snapshot', 'rollback', 'backup', 'restore',
			    'destroy', 'provision', 'rotate_signers')),
	source		TEXT NOT NULL CHECK (source IN ('desired', 'signed', 'request',
			    'admin', 'internal')),
	class		TEXT NOT NULL CHECK (class IN ('benign', 'destructive')),
	state		TEXT NOT NULL CHECK (state IN ('new', 'pending_signature',
			    'authorized', 'submitting', 'running', 'succeeded', 'failed',
			    'rejected', 'expired', 'superseded', 'cancelled',
			    'rolling_back', 'rolled_back')),
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
	error		TEXT				-- its message
);
-- Non-terminal ops per vmid, oldest first: the lane query (invariant 2).
CREATE INDEX ops_lane ON ops (vmid, id) WHERE state NOT IN ('succeeded',
    'failed', 'rejected', 'expired', 'superseded', 'cancelled', 'rolled_back');
CREATE INDEX ops_state ON ops (state);
CREATE INDEX ops_ended ON ops (ended_at);

-- One row per state change, append-only (R-33, R-35).
CREATE TABLE journal (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	op_id		INTEGER NOT NULL REFERENCES ops (id),
	at		INTEGER NOT NULL,
	from_state	TEXT NOT NULL,
	event		TEXT NOT NULL,
	to_state	TEXT NOT NULL,
	step		INTEGER NOT NULL DEFAULT 0,
	detail		TEXT NOT NULL DEFAULT '{}'	-- JSON
);
CREATE INDEX journal_op ON journal (op_id, id);
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN
	SELECT RAISE(ABORT, 'journal is append-only');
END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
	SELECT RAISE(ABORT, 'journal is append-only');
END;

-- Decisions and security events, append-only; seq is what the hub acks.
-- Shaped like the report's audit element (hub-contract.md).
CREATE TABLE audit (
	seq		INTEGER PRIMARY KEY AUTOINCREMENT,
	at		INTEGER NOT NULL,
	event		TEXT NOT NULL,			-- gate, verify, transition, signers, ...
	decision	TEXT NOT NULL DEFAULT '',	-- authorized, pending_signature, rejected, ...
	code		TEXT NOT NULL,			-- accepted, replay, binding_mismatch, ...
	op_id		INTEGER REFERENCES ops (id),
	vmid		INTEGER,
	actor		TEXT NOT NULL DEFAULT 'agent',	-- agent, hub, admin
	detail		TEXT NOT NULL DEFAULT '',	-- human text
	data		TEXT NOT NULL DEFAULT '{}'	-- JSON facts
);
CREATE INDEX audit_op ON audit (op_id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
	SELECT RAISE(ABORT, 'audit is append-only');
END;

-- Accepted nonces (R-15): a row exists exactly when a signed op was
-- accepted, written in that same transaction; pruned only after expiry.
CREATE TABLE nonces (
	nonce		TEXT PRIMARY KEY CHECK (length(nonce) BETWEEN 32 AND 128),
	op_id		INTEGER REFERENCES ops (id),
	signer		TEXT NOT NULL,
	accepted_at	INTEGER NOT NULL,
	expires_at	INTEGER NOT NULL		-- not_after + clock skew
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);

-- Idempotency keys of applied or queued operations (R-26).
CREATE TABLE idempotency (
	key		TEXT PRIMARY KEY,
	op_id		INTEGER NOT NULL REFERENCES ops (id),
	created_at	INTEGER NOT NULL
) WITHOUT ROWID;

-- Desired state (from the hub or desired_file), one generation at a time.
CREATE TABLE desired_guests (
	vmid		INTEGER PRIMARY KEY CHECK (vmid BETWEEN 100 AND 999999999),
	generation	INTEGER NOT NULL,
	state		TEXT NOT NULL CHECK (state IN ('running', 'stopped', 'absent')),
	spec		TEXT,				-- JSON, managed keys only
	provision	TEXT,				-- JSON or NULL
	restore		TEXT,				-- JSON or NULL
	rollback	TEXT				-- JSON or NULL
);
CREATE TABLE desired_restore_tests (
	vmid		INTEGER PRIMARY KEY CHECK (vmid BETWEEN 100 AND 999999999),
	generation	INTEGER NOT NULL,
	every_hours	INTEGER NOT NULL CHECK (every_hours > 0),
	scratch_first	INTEGER NOT NULL,
	scratch_last	INTEGER NOT NULL CHECK (scratch_last >= scratch_first),
	storage		TEXT NOT NULL
);

-- Actual state as last observed from PVE.
CREATE TABLE actual_guests (
	vmid		INTEGER PRIMARY KEY,
	observed_at	INTEGER NOT NULL,
	name		TEXT,
	status		TEXT NOT NULL,			-- running, stopped, unknown
	lock		TEXT,
	template	INTEGER NOT NULL DEFAULT 0 CHECK (template IN (0, 1)),
	spec		TEXT,				-- normalized spec (JSON) or NULL
	config		TEXT				-- raw config (JSON) or NULL
);

-- The live signer set (R-14), seeded from the allowed_signers files.
CREATE TABLE signers (
	id		INTEGER PRIMARY KEY,
	role		TEXT NOT NULL CHECK (role IN ('operational', 'recovery')),
	keytype		TEXT NOT NULL,
	fingerprint	TEXT NOT NULL,			-- SHA256:base64
	principals	TEXT NOT NULL,
	line		TEXT NOT NULL,			-- the allowed_signers line
	added_at	INTEGER NOT NULL,
	source		TEXT NOT NULL,			-- file:<path>, rotate:<op uid>, admin
	UNIQUE (role, fingerprint)
);

-- What the agent itself created (R-27): written in the same transaction
-- that records the creation.  Never from the hub or a blob.
CREATE TABLE provenance (
	id		INTEGER PRIMARY KEY,
	kind		TEXT NOT NULL CHECK (kind IN ('guest', 'snapshot', 'backup')),
	vmid		INTEGER NOT NULL,
	name		TEXT NOT NULL DEFAULT '',	-- snapshot name or volid
	op_id		INTEGER REFERENCES ops (id),
	created_at	INTEGER NOT NULL,
	UNIQUE (kind, vmid, name)
);

-- Signed-ops entries as received from the hub, before the engine takes them.
CREATE TABLE signed_inbox (
	id		INTEGER PRIMARY KEY,
	received_at	INTEGER NOT NULL,
	op_ref		TEXT,				-- op_id of an approval, or NULL
	blob		BLOB NOT NULL,
	signature	TEXT,
	state		TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'taken',
			    'rejected')),
	result		TEXT
);

-- Small named values: report seq, applied generation, acked audit seq ...
CREATE TABLE kv (
	key		TEXT PRIMARY KEY,
	value		TEXT NOT NULL
) WITHOUT ROWID;
