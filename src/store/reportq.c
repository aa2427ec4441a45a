/*
 * reportq — read-only queries for the host report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/clock.h"
#include "store/reportq.h"

/*
 * The ops not ended (ended_at IS NULL, through ops_ended: 0005) and those
 * ended since ?1: what is going on, not the whole history (issue 15).
 */
#define NOT_ENDED "(state NOT IN ('succeeded', 'failed', 'rejected', " \
	"'expired', 'superseded', 'cancelled', 'rolled_back'))"
#define OPS_COLS "uid, vmid, kind, source, class, state, created_at, " \
	"updated_at, upid, error, blob, blob_not_after, id"
static const char SQL_OPS[] =
    "SELECT " OPS_COLS " FROM (SELECT " OPS_COLS " FROM ops INDEXED BY "
    "ops_ended WHERE ended_at IS NULL UNION ALL SELECT " OPS_COLS " FROM ops "
    "INDEXED BY ops_ended WHERE ended_at >= ?1 AND NOT " NOT_ENDED ") "
    "ORDER BY created_at DESC, id DESC LIMIT ?2";
static const char SQL_SIGNERS[] =
    "SELECT coalesce(sum(role = 'operational'), 0), "
    "coalesce(sum(role = 'recovery'), 0) FROM signers";
static const char SQL_PAGES[] = "PRAGMA page_count";
static const char SQL_PAGE_SIZE[] = "PRAGMA page_size";

/* {blob_b64, not_after} of a pending op, or null. */
static json_t *
sign_request(sqlite3_stmt *st)
{
	const unsigned char *state = sqlite3_column_text(st, 5);
	const void *blob;
	unsigned char *b64;
	json_t *o;
	int n;

	if (state == NULL || strcmp((const char *)state,
	    "pending_signature") != 0 ||
	    sqlite3_column_type(st, 10) == SQLITE_NULL)
		return json_null();
	blob = sqlite3_column_blob(st, 10);
	n = sqlite3_column_bytes(st, 10);
	if ((b64 = malloc((size_t)(n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	(void) EVP_EncodeBlock(b64, blob != NULL ? blob : (const void *)"",
	    n);
	o = json_pack("{s:s,s:o}", "blob_b64", (const char *)b64,
	    "not_after", db_col_time(st, 11));
	free(b64);
	return o;
}

int
reportq_ops(struct db *db, int64_t now, size_t limit, json_t **out,
    struct err *err)
{
	json_t *arr = NULL, *o;
	sqlite3_stmt *st;
	int rc;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_OPS, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, now - REPORTQ_ENDED_WINDOW_S);
	(void) sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		    "op_id", db_col_text(st, 0),
		    "vmid", db_col_int(st, 1),
		    "op", db_col_text(st, 2),
		    "source", db_col_text(st, 3),
		    "class", db_col_text(st, 4),
		    "state", db_col_text(st, 5),
		    "created_at", db_col_time(st, 6),
		    "updated_at", db_col_time(st, 7),
		    "upid", db_col_text(st, 8),
		    "error", db_col_text(st, 9),
		    "sign_request", sign_request(st));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read ops for the report", err);
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
reportq_signers(struct db *db, int64_t *operational, int64_t *recovery,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_SIGNERS, &st, err)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*operational = sqlite3_column_int64(st, 0);
		*recovery = sqlite3_column_int64(st, 1);
	}
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count signers", err);
}

int
reportq_db_bytes(struct db *db, int64_t *out, struct err *err)
{
	int64_t pages, size;
	int rc;

	if ((rc = db_scalar_i64(db, SQL_PAGES, "read database size", &pages,
	    err)) != 0 ||
	    (rc = db_scalar_i64(db, SQL_PAGE_SIZE, "read database size", &size,
	    err)) != 0)
		return rc;
	*out = pages * size;
	return 0;
}
