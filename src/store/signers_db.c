/*
 * signers_db — rows of the signers table.
 */
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "store/signers_db.h"

static const char SQL_LIST[] =
    "SELECT id, role, keytype, fingerprint, principals, line, source, "
    "added_at FROM signers ORDER BY role, id";
static const char SQL_COUNT_ALL[] = "SELECT count(*) FROM signers";
static const char SQL_COUNT_ROLE[] =
    "SELECT count(*) FROM signers WHERE role = ?1";
static const char SQL_DELETE_ROLE[] = "DELETE FROM signers WHERE role = ?1";
static const char SQL_INSERT[] =
    "INSERT INTO signers (role, keytype, fingerprint, principals, line, "
    "added_at, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

void
signers_db_rows_free(struct signers_db_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(rows[i].role);
		free(rows[i].keytype);
		free(rows[i].fingerprint);
		free(rows[i].principals);
		free(rows[i].line);
		free(rows[i].source);
	}
	free(rows);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return strdup(v != NULL ? (const char *)v : "");
}

int
signers_db_list(struct db *db, struct signers_db_row **rows_out,
    size_t *n_out, struct err *err)
{
	struct signers_db_row *rows = NULL, *nr, *r;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_LIST, &st, err)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nr = reallocarray(rows, cap, sizeof(*rows))) ==
			    NULL) {
				rc = err_set(err, ERR_NOMEM, "signers: out of "
				    "memory");
				goto out;
			}
			rows = nr;
		}
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->id = sqlite3_column_int64(st, 0);
		r->added_at = sqlite3_column_int64(st, 7);
		if ((r->role = col_dup(st, 1)) == NULL ||
		    (r->keytype = col_dup(st, 2)) == NULL ||
		    (r->fingerprint = col_dup(st, 3)) == NULL ||
		    (r->principals = col_dup(st, 4)) == NULL ||
		    (r->line = col_dup(st, 5)) == NULL ||
		    (r->source = col_dup(st, 6)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "signers: out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read signers", err);
		goto out;
	}
	*rows_out = rows;
	*n_out = n;
	rows = NULL;
	rc = 0;
out:
	(void) sqlite3_reset(st);
	signers_db_rows_free(rows, n);
	return rc;
}

int
signers_db_count(struct db *db, const char *role, int64_t *out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, role == NULL ? SQL_COUNT_ALL :
	    SQL_COUNT_ROLE, &st, err)) != 0)
		return rc;
	if (role != NULL)
		(void) sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else
		rc = db_error(db, rc, "count signers", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
signers_db_replace_role(struct db *db, const char *role,
    const struct signers_db_row *rows, size_t n, int64_t now,
    struct err *err)
{
	sqlite3_stmt *st;
	size_t i, j;
	int rc;

	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "signers_db_replace_role "
		    "called outside a transaction");
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(rows[i].fingerprint, rows[j].fingerprint) ==
			    0)
				return err_set(err, ERR_CONFLICT, "%s signers: "
				    "key %s is listed twice; the signers "
				    "table holds one line per key and role",
				    role, rows[i].fingerprint);
	if ((rc = db_prepare(db, SQL_DELETE_ROLE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "delete signers", err);
	for (i = 0; i < n; i++) {
		if ((rc = db_prepare(db, SQL_INSERT, &st, err)) != 0)
			return rc;
		(void) sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
		(void) sqlite3_bind_text(st, 2, rows[i].keytype, -1,
		    SQLITE_STATIC);
		(void) sqlite3_bind_text(st, 3, rows[i].fingerprint, -1,
		    SQLITE_STATIC);
		(void) sqlite3_bind_text(st, 4, rows[i].principals, -1,
		    SQLITE_STATIC);
		(void) sqlite3_bind_text(st, 5, rows[i].line, -1,
		    SQLITE_STATIC);
		(void) sqlite3_bind_int64(st, 6, now);
		(void) sqlite3_bind_text(st, 7, rows[i].source != NULL ?
		    rows[i].source : "admin", -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		(void) sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return db_error(db, rc, "insert signer", err);
	}
	return 0;
}
