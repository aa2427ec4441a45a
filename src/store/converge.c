/*
 * converge — per-guest re-convergence backoff.
 */
#include <stdlib.h>
#include <string.h>

#include "store/converge.h"

static const char SQL_GET[] =
    "SELECT failures, wait_ms, coalesce(op_id, 0), error_code, error, "
    "updated_at FROM converge WHERE vmid = ?1";
static const char SQL_PUT[] =
    "INSERT OR REPLACE INTO converge (vmid, failures, wait_ms, op_id, "
    "error_code, error, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_CLEAR_ONE[] = "DELETE FROM converge WHERE vmid = ?1";
static const char SQL_CLEAR_ALL[] = "DELETE FROM converge";

void
converge_row_reset(struct converge_row *r)
{
	if (r == NULL)
		return;
	free(r->error_code);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

static int
dup_col(sqlite3_stmt *st, int col, char **out)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = strdup((const char *)s)) == NULL ? ERR_NOMEM : 0;
}

int
converge_get(struct db *db, int64_t vmid, struct converge_row *out,
    struct err *err)
{
	struct converge_row r;
	sqlite3_stmt *st;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((rc = db_prepare(db, SQL_GET, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, vmid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r.vmid = vmid;
		r.failures = sqlite3_column_int(st, 0);
		r.wait_ms = sqlite3_column_int64(st, 1);
		r.op_id = sqlite3_column_int64(st, 2);
		r.updated_at = sqlite3_column_int64(st, 5);
		if (dup_col(st, 3, &r.error_code) != 0 ||
		    dup_col(st, 4, &r.error) != 0)
			rc = err_set(err, ERR_NOMEM, "out of memory");
		else
			rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = ERR_NOT_FOUND;
	else
		rc = db_error(db, rc, "read converge row", err);
	(void) sqlite3_reset(st);
	if (rc == 0) {
		*out = r;
		memset(&r, 0, sizeof(r));
	}
	converge_row_reset(&r);
	return rc;
}

int
converge_put(struct db *db, const struct converge_row *r, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_PUT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, r->vmid);
	(void) sqlite3_bind_int(st, 2, r->failures);
	(void) sqlite3_bind_int64(st, 3, r->wait_ms);
	if (r->op_id > 0)
		(void) sqlite3_bind_int64(st, 4, r->op_id);
	if (r->error_code != NULL)
		(void) sqlite3_bind_text(st, 5, r->error_code, -1,
		    SQLITE_STATIC);
	if (r->error != NULL)
		(void) sqlite3_bind_text(st, 6, r->error, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 7, r->updated_at);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	(void) sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : db_error(db, rc, "store converge row",
	    err);
}

int
converge_clear(struct db *db, int64_t vmid, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, vmid > 0 ? SQL_CLEAR_ONE : SQL_CLEAR_ALL, &st,
	    err)) != 0)
		return rc;
	if (vmid > 0)
		(void) sqlite3_bind_int64(st, 1, vmid);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_error(db, rc, "clear converge row",
	    err);
}
