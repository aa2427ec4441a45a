/*
 * inbox — the signed_inbox table.
 */
#include <stddef.h>
#include <stdint.h>

#include "store/inbox.h"

static const char SQL_ADD[] =
    "INSERT INTO signed_inbox (received_at, op_ref, blob, signature, "
    "state, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
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
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "store signed-ops entry", err);
	if (id_out != NULL)
		*id_out = sqlite3_last_insert_rowid(db_handle(db));
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
