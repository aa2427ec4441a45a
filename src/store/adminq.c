/*
 * adminq — read-only queries for felhom-admin.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/adminq.h"

/* The newest ?4 rows (-1: all) of the filter, then oldest first. */
static const char SQL_JOURNAL[] =
    "SELECT * FROM (SELECT j.id, j.at, o.uid, o.vmid, o.kind, "
    "j.from_state, j.event, j.to_state, j.step, j.detail "
    "FROM journal j JOIN ops o ON o.id = j.op_id "
    "WHERE (?1 = 0 OR j.op_id = ?1) AND (?2 = 0 OR o.vmid = ?2) "
    "AND j.at >= ?3 ORDER BY j.id DESC LIMIT ?4) ORDER BY id";
/*
 * One op's rows: through the index journal_op (op_id, id), whatever
 * the journal's length (issue 15).
 */
static const char SQL_JOURNAL_OP[] =
    "SELECT * FROM (SELECT j.id, j.at, o.uid, o.vmid, o.kind, "
    "j.from_state, j.event, j.to_state, j.step, j.detail "
    "FROM journal j JOIN ops o ON o.id = j.op_id "
    "WHERE j.op_id = ?1 AND (?2 = 0 OR o.vmid = ?2) "
    "AND j.at >= ?3 ORDER BY j.id DESC LIMIT ?4) ORDER BY id";
static const char SQL_AUDIT_OP[] =
    "SELECT * FROM (SELECT a.seq, a.at, o.uid, a.vmid, a.event, "
    "a.decision, a.code, a.actor, a.detail, a.data "
    "FROM audit a LEFT JOIN ops o ON o.id = a.op_id "
    "WHERE a.op_id = ?3 AND a.seq > ?1 AND (?2 IS NULL OR a.code = ?2) "
    "AND (?4 = 0 OR a.vmid = ?4) "
    "AND a.at >= ?5 ORDER BY a.seq DESC LIMIT ?6) ORDER BY seq";
static const char SQL_AUDIT[] =
    "SELECT * FROM (SELECT a.seq, a.at, o.uid, a.vmid, a.event, "
    "a.decision, a.code, a.actor, a.detail, a.data "
    "FROM audit a LEFT JOIN ops o ON o.id = a.op_id "
    "WHERE a.seq > ?1 AND (?2 IS NULL OR a.code = ?2) "
    "AND (?3 = 0 OR a.op_id = ?3) AND (?4 = 0 OR a.vmid = ?4) "
    "AND a.at >= ?5 ORDER BY a.seq DESC LIMIT ?6) ORDER BY seq";
/*
 * issue 15: counts and errors read only the ops not ended (ended_at IS
 * NULL, through ops_ended: 0005) and those ended since ?1: their cost
 * follows what is going on, not the length of the history.
 */
#define NOT_ENDED "(state NOT IN ('succeeded', 'failed', 'rejected', " \
	"'expired', 'superseded', 'cancelled', 'rolled_back'))"
static const char SQL_STATES[] =
    "SELECT state, count(*) FROM ops INDEXED BY ops_ended "
    "WHERE ended_at IS NULL"
    " GROUP BY state UNION ALL "
    "SELECT state, count(*) FROM ops INDEXED BY ops_ended WHERE "
    "ended_at >= ?1 AND NOT " NOT_ENDED " GROUP BY state "
    "ORDER BY 1";
static const char SQL_ERRORS[] =
    "SELECT uid, vmid, kind, state, error_code, error, updated_at FROM ("
    "SELECT id, uid, vmid, kind, state, error_code, error, updated_at "
    "FROM ops INDEXED BY ops_ended WHERE ended_at IS NULL AND "
    "(error IS NOT NULL OR error_code IS NOT NULL) UNION ALL "
    "SELECT id, uid, vmid, kind, state, error_code, error, updated_at "
    "FROM ops INDEXED BY ops_ended WHERE ended_at >= ?2 AND NOT "
    NOT_ENDED " AND (error IS NOT NULL OR error_code IS NOT NULL)) "
    "ORDER BY updated_at DESC, id DESC LIMIT ?1";
static const char SQL_SIGNATURE[] =
    "SELECT signature IS NOT NULL, signer, nonce, blob IS NOT NULL, "
    "blob_not_after FROM ops WHERE id = ?1";
static const char SQL_INBOX[] =
    "SELECT state, count(*) FROM signed_inbox GROUP BY state";
static const char SQL_NAMES[] =
    "SELECT CAST(vmid AS TEXT), name FROM actual_guests "
    "WHERE name IS NOT NULL ORDER BY vmid";
static const char SQL_NONCES_EXPIRED[] =
    "SELECT count(*) FROM nonces WHERE expires_at < ?1";

/* A JSON column: its object, or the raw text when it does not parse. */
static json_t *
col_json(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	json_t *v;

	if (s == NULL)
		return json_null();
	if ((v = json_loads(s, JSON_DECODE_ANY, NULL)) != NULL)
		return v;
	return json_string(s);
}

static int64_t
limit_of(const struct adminq_filter *f)
{
	return f->limit == 0 || f->limit > INT64_MAX ? -1 : (int64_t)f->limit;
}

/* Steps st, appending what row() makes of each row to a new array. */
static int
collect(struct db *db, sqlite3_stmt *st, json_t *(*row)(sqlite3_stmt *),
    const char *what, json_t **out, struct err *err)
{
	json_t *arr, *o;
	int rc;

	if ((arr = json_array()) == NULL) {
		(void) sqlite3_reset(st);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((o = row(st)) == NULL || json_array_append_new(arr, o) !=
		    0) {
			(void) sqlite3_reset(st);
			json_decref(arr);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_error(db, rc, what, err);
	}
	*out = arr;
	return 0;
}

static json_t *
journal_row(sqlite3_stmt *st)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:o}",
	    "id", (json_int_t)sqlite3_column_int64(st, 0),
	    "at", db_col_time(st, 1),
	    "op_id", db_col_text(st, 2),
	    "vmid", db_col_int(st, 3),
	    "op", db_col_text(st, 4),
	    "from", db_col_text(st, 5),
	    "event", db_col_text(st, 6),
	    "to", db_col_text(st, 7),
	    "step", sqlite3_column_int(st, 8),
	    "detail", col_json(st, 9));
}

int
adminq_journal(struct db *db, const struct adminq_filter *f, json_t **out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, f->op_id != 0 ? SQL_JOURNAL_OP :
	    SQL_JOURNAL, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, f->op_id);
	(void) sqlite3_bind_int64(st, 2, f->vmid);
	(void) sqlite3_bind_int64(st, 3, f->since);
	(void) sqlite3_bind_int64(st, 4, limit_of(f));
	return collect(db, st, journal_row, "read journal", out, err);
}

static json_t *
audit_row(sqlite3_stmt *st)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "seq", (json_int_t)sqlite3_column_int64(st, 0),
	    "at", db_col_time(st, 1),
	    "op_id", db_col_text(st, 2),
	    "vmid", db_col_int(st, 3),
	    "event", db_col_text(st, 4),
	    "decision", db_col_text(st, 5),
	    "code", db_col_text(st, 6),
	    "actor", db_col_text(st, 7),
	    "detail", db_col_text(st, 8),
	    "data", col_json(st, 9));
}

int
adminq_audit(struct db *db, const struct adminq_filter *f, json_t **out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, f->op_id != 0 ? SQL_AUDIT_OP : SQL_AUDIT,
	    &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, f->since_seq);
	if (f->code != NULL)
		(void) sqlite3_bind_text(st, 2, f->code, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 3, f->op_id);
	(void) sqlite3_bind_int64(st, 4, f->vmid);
	(void) sqlite3_bind_int64(st, 5, f->since);
	(void) sqlite3_bind_int64(st, 6, limit_of(f));
	return collect(db, st, audit_row, "read audit log", out, err);
}

/*
 * Runs a "key, value" query into an object (value integer or text);
 * bind1 >= 0 is bound to ?1.
 */
static int
counts(struct db *db, const char *sql, int64_t bind1, const char *what,
    json_t **out, struct err *err)
{
	sqlite3_stmt *st;
	json_t *o;
	int rc;

	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		return rc;
	if (bind1 >= 0)
		(void) sqlite3_bind_int64(st, 1, bind1);
	if ((o = json_object()) == NULL) {
		(void) sqlite3_reset(st);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);

		if (json_object_set_new(o, k != NULL ? k : "?",
		    sqlite3_column_type(st, 1) == SQLITE_TEXT ?
		    db_col_text(st, 1) : json_integer(sqlite3_column_int64(st,
		    1))) != 0) {
			(void) sqlite3_reset(st);
			json_decref(o);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(o);
		return db_error(db, rc, what, err);
	}
	*out = o;
	return 0;
}

int
adminq_state_counts(struct db *db, int64_t ended_since, json_t **out,
    struct err *err)
{
	return counts(db, SQL_STATES, ended_since, "count ops", out, err);
}

int
adminq_inbox_counts(struct db *db, json_t **out, struct err *err)
{
	return counts(db, SQL_INBOX, -1, "count signed-ops inbox", out, err);
}

static json_t *
error_row(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "op_id", db_col_text(st, 0),
	    "vmid", db_col_int(st, 1),
	    "op", db_col_text(st, 2),
	    "state", db_col_text(st, 3),
	    "error_code", db_col_text(st, 4),
	    "error", db_col_text(st, 5),
	    "updated_at", db_col_time(st, 6));
}

int
adminq_recent_errors(struct db *db, int64_t ended_since, size_t limit,
    json_t **out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_ERRORS, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	(void) sqlite3_bind_int64(st, 2, ended_since);
	return collect(db, st, error_row, "read op errors", out, err);
}

int
adminq_op_signature(struct db *db, int64_t op_id, json_t **out,
    struct err *err)
{
	sqlite3_stmt *st;
	json_t *o;
	int rc;

	if ((rc = db_prepare(db, SQL_SIGNATURE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, op_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		(void) sqlite3_reset(st);
		return err_set(err, ERR_NOT_FOUND, "no such operation");
	}
	if (rc != SQLITE_ROW) {
		(void) sqlite3_reset(st);
		return db_error(db, rc, "read op signature", err);
	}
	o = json_pack("{s:b,s:o,s:o,s:b,s:o}",
	    "signed", sqlite3_column_int(st, 0),
	    "signer", db_col_text(st, 1),
	    "nonce", db_col_text(st, 2),
	    "sign_request", sqlite3_column_int(st, 3),
	    "not_after", sqlite3_column_type(st, 4) == SQLITE_NULL ||
	    sqlite3_column_int64(st, 4) <= 0 ? json_null() :
	    db_col_time(st, 4));
	(void) sqlite3_reset(st);
	if (o == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	*out = o;
	return 0;
}

int
adminq_guest_names(struct db *db, json_t **out, struct err *err)
{
	return counts(db, SQL_NAMES, -1, "read guest names", out, err);
}

int
adminq_nonces_expired(struct db *db, int64_t now, int64_t *out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_NONCES_EXPIRED, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count nonces", err);
}
