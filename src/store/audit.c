/*
 * audit — the append-only audit log.
 */
#include <stdlib.h>

#include "base/clock.h"
#include "base/json.h"
#include "store/audit.h"

static const char SQL_APPEND[] =
    "INSERT INTO audit (at, event, decision, code, op_id, vmid, actor, "
    "detail, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_SINCE[] =
    "SELECT a.seq, a.at, o.uid, a.vmid, a.event, a.decision, a.code, "
    "a.detail FROM audit a LEFT JOIN ops o ON o.id = a.op_id "
    "WHERE a.seq > ?1 ORDER BY a.seq LIMIT ?2";
static const char SQL_LAST[] = "SELECT coalesce(max(seq), 0) FROM audit";

int
audit_append(struct db *db, const struct audit_event *ev, int64_t *seq_out,
    struct err *err)
{
	sqlite3_stmt *st;
	char *data = NULL;
	int rc;

	if (ev->data != NULL && (data = jsonx_dump(ev->data)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_APPEND, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, ev->at);
	(void) sqlite3_bind_text(st, 2, ev->event, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, ev->decision != NULL ? ev->decision :
	    "", -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 4, ev->code, -1, SQLITE_STATIC);
	if (ev->op_id > 0)
		(void) sqlite3_bind_int64(st, 5, ev->op_id);
	if (ev->vmid > 0)
		(void) sqlite3_bind_int64(st, 6, ev->vmid);
	(void) sqlite3_bind_text(st, 7, ev->actor != NULL ? ev->actor :
	    "agent", -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 8, ev->detail != NULL ? ev->detail :
	    "", -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 9, data != NULL ? data : "{}", -1,
	    SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "append audit event", err);
		goto out;
	}
	if (seq_out != NULL)
		*seq_out = sqlite3_last_insert_rowid(db_handle(db));
	rc = 0;
out:
	free(data);
	return rc;
}

int
audit_since(struct db *db, int64_t after, size_t limit, json_t **out,
    struct err *err)
{
	json_t *arr = NULL, *o;
	sqlite3_stmt *st;
	int rc;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_SINCE, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, after);
	(void) sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		    "seq", (json_int_t)sqlite3_column_int64(st, 0),
		    "at", db_col_time(st, 1),
		    "op_id", db_col_text(st, 2),
		    "vmid", db_col_int(st, 3),
		    "event", db_col_text(st, 4),
		    "decision", db_col_text(st, 5),
		    "code", db_col_text(st, 6),
		    "detail", db_col_text(st, 7));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read audit log", err);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

int
audit_last_seq(struct db *db, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_LAST, &st, err)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "read audit seq", err);
}
