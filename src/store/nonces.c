/*
 * nonces — accepted nonces.
 */
#include <stdint.h>

#include "store/db.h"
#include "store/nonces.h"

static const char SQL_INSERT[] =
    "INSERT INTO nonces (nonce, op_id, signer, accepted_at, expires_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (nonce) DO NOTHING";
static const char SQL_EXISTS[] =
    "SELECT 1 FROM nonces WHERE nonce = ?1";
static const char SQL_PRUNE[] =
    "DELETE FROM nonces WHERE expires_at < ?1";
static const char SQL_COUNT[] =
    "SELECT count(*) FROM nonces";

int
nonces_insert(struct db *db, const char *nonce, int64_t op_id,
    const char *signer, int64_t accepted_at, int64_t expires_at,
    int *inserted_out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_INSERT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, nonce, -1, SQLITE_STATIC);
	if (op_id > 0)
		(void) sqlite3_bind_int64(st, 2, op_id);
	else
		(void) sqlite3_bind_null(st, 2);
	(void) sqlite3_bind_text(st, 3, signer, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 4, accepted_at);
	(void) sqlite3_bind_int64(st, 5, expires_at);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "insert nonce", err);
		goto out;
	}
	/* ON CONFLICT DO NOTHING: no change means the nonce was known. */
	*inserted_out = sqlite3_changes(db_handle(db)) == 1;
	rc = 0;
out:
	(void) sqlite3_reset(st);
	return rc;
}

int
nonces_exists(struct db *db, const char *nonce, int *exists_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_EXISTS, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, nonce, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		*exists_out = rc == SQLITE_ROW;
		rc = 0;
	} else
		rc = db_error(db, rc, "look up nonce", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
nonces_prune(struct db *db, int64_t now, int64_t *deleted_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_PRUNE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, now);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		rc = db_error(db, rc, "prune nonces", err);
	else {
		if (deleted_out != NULL)
			*deleted_out = sqlite3_changes(db_handle(db));
		rc = 0;
	}
	(void) sqlite3_reset(st);
	return rc;
}

int
nonces_count(struct db *db, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_COUNT, &st, err)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else
		rc = db_error(db, rc, "count nonces", err);
	(void) sqlite3_reset(st);
	return rc;
}
