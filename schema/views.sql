-- The inspection views (R-35), created by migrations/0002_views.sql.
-- Query them with: sqlite3 -readonly /var/lib/felhom-agent/state.db
-- See docs/sqlite-inspection.md.
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
