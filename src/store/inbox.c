/*
 * inbox — the signed_inbox table.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/inbox.h"

static const char SQL_ADD[] =
    "INSERT INTO signed_inbox (received_at, op_ref, blob, signature, "
    "state, result, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_HAS_SEQ[] =
    "SELECT 1 FROM signed_inbox WHERE seq = ?1";
static const char SQL_LIST_NEW[] =
    "SELECT id, received_at, op_ref, blob, signature FROM signed_inbox "
    "WHERE state = 'new' ORDER BY id LIMIT ?1";
static const char SQL_MARK[] =
    "UPDATE signed_inbox SET state = ?2, result = ?3 "
    "WHERE id = ?1 AND state = 'new'";
static const char SQL_COUNT[] =
    "SELECT count(*) FROM signed_inbox WHERE ?1 IS NULL OR state = ?1";

int
inbox_add(struct db *db, const struct inbox_entry *e, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_ADD, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, e->received_at);
	if (e->op_ref != NULL)
		(void) sqlite3_bind_text(st, 2, e->op_ref, -1, SQLITE_STATIC);
	/* A zero-length blob is still a blob (NOT NULL column). */
	(void) sqlite3_bind_blob(st, 3, e->blob != NULL ? e->blob : "",
	    (int)e->blob_len, SQLITE_STATIC);
	if (e->signature != NULL)
		(void) sqlite3_bind_text(st, 4, e->signature, -1,
		    SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 5, e->state != NULL ? e->state :
	    INBOX_NEW, -1, SQLITE_STATIC);
	if (e->result != NULL)
		(void) sqlite3_bind_text(st, 6, e->result, -1, SQLITE_STATIC);
	if (e->seq > 0)
		(void) sqlite3_bind_int64(st, 7, e->seq);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "store signed-ops entry", err);
	if (id_out != NULL)
		*id_out = sqlite3_last_insert_rowid(db_handle(db));
	return 0;
}

int
inbox_has_seq(struct db *db, int64_t seq, int *found, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_HAS_SEQ, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, seq);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(db, rc, "look up signed-ops seq", err);
	*found = rc == SQLITE_ROW;
	return 0;
}

int
inbox_count(struct db *db, const char *state, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_COUNT, &st, err)) != 0)
		return rc;
	if (state != NULL)
		(void) sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count signed inbox",
	    err);
}

void
inbox_rows_free(struct inbox_row *rows, size_t n)
{
	size_t i;

	if (rows == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(rows[i].op_ref);
		free(rows[i].blob);
		free(rows[i].signature);
	}
	free(rows);
}

/* A heap copy of text column col, NULL when NULL; -1 on no memory. */
static int
col_text(sqlite3_stmt *st, int col, char **out)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = strdup((const char *)s)) == NULL ? -1 : 0;
}

int
inbox_list_new(struct db *db, size_t limit, struct inbox_row **out,
    size_t *n_out, struct err *err)
{
	struct inbox_row *rows = NULL, *nr, *r;
	sqlite3_stmt *st;
	size_t n = 0, cap = 0, len;
	const void *b;
	int rc;

	if ((rc = db_prepare(db, SQL_LIST_NEW, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nr = realloc(rows, cap * sizeof(*rows))) == NULL)
				goto nomem;
			rows = nr;
		}
		r = &rows[n];
		memset(r, 0, sizeof(*r));
		n++;
		r->id = sqlite3_column_int64(st, 0);
		r->received_at = sqlite3_column_int64(st, 1);
		b = sqlite3_column_blob(st, 3);
		len = (size_t)sqlite3_column_bytes(st, 3);
		/* One spare NUL byte: the blob is often read as text. */
		if ((r->blob = malloc(len + 1)) == NULL)
			goto nomem;
		if (len > 0)
			memcpy(r->blob, b, len);
		r->blob[len] = 0;
		r->blob_len = len;
		if (col_text(st, 2, &r->op_ref) != 0 ||
		    col_text(st, 4, &r->signature) != 0)
			goto nomem;
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		inbox_rows_free(rows, n);
		return db_error(db, rc, "read signed inbox", err);
	}
	*out = rows;
	*n_out = n;
	return 0;
nomem:
	(void) sqlite3_reset(st);
	inbox_rows_free(rows, n);
	return err_set(err, ERR_NOMEM, "out of memory");
}

int
inbox_mark(struct db *db, int64_t id, const char *state, const char *result,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (strcmp(state, INBOX_TAKEN) != 0 &&
	    strcmp(state, INBOX_REJECTED) != 0)
		return err_set(err, ERR_INVALID, "inbox state '%s'", state);
	if ((rc = db_prepare(db, SQL_MARK, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	if (result != NULL)
		(void) sqlite3_bind_text(st, 3, result, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "mark signed inbox entry", err);
	if (sqlite3_changes(db_handle(db)) != 1)
		return err_set(err, ERR_CONFLICT, "signed inbox entry %" PRId64
		    " was already decided", id);
	return 0;
}
