/*
 * journal — the append-only transition journal.
 */
#include <stdlib.h>

#include <jansson.h>

#include "base/json.h"
#include "store/journal.h"

static const char SQL_APPEND[] =
    "INSERT INTO journal (op_id, at, from_state, event, to_state, step, "
    "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_LIST_ONE[] =
    "SELECT id, op_id, at, from_state, event, to_state, step, detail "
    "FROM journal WHERE op_id = ?1 ORDER BY id";
static const char SQL_LIST_ALL[] =
    "SELECT id, op_id, at, from_state, event, to_state, step, detail "
    "FROM journal ORDER BY id";
static const char SQL_COUNT_ONE[] =
    "SELECT count(*) FROM journal WHERE op_id = ?1";
static const char SQL_COUNT_ALL[] = "SELECT count(*) FROM journal";
static const char SQL_MAX_ID[] = "SELECT coalesce(max(id), 0) FROM journal";
static const char SQL_LAST_DETAIL[] =
    "SELECT detail FROM journal WHERE op_id = ?1 AND event = ?2 "
    "ORDER BY id DESC LIMIT 1";
static const char SQL_CLAIMED[] =
    "SELECT DISTINCT json_extract(j.detail, '$.upid') FROM journal j "
    "JOIN ops o ON o.id = j.op_id WHERE o.vmid = ?1 AND j.at >= ?2 "
    "AND json_extract(j.detail, '$.upid') IS NOT NULL";

int
journal_append(struct db *db, const struct journal_entry *e, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	char *detail = NULL;
	int rc;

	if (e->detail != NULL && (detail = jsonx_dump(e->detail)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_APPEND, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, e->op_id);
	(void) sqlite3_bind_int64(st, 2, e->at);
	(void) sqlite3_bind_text(st, 3, e->from, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 4, e->event, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 5, e->to, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int(st, 6, e->step);
	(void) sqlite3_bind_text(st, 7, detail != NULL ? detail : "{}", -1,
	    SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "append journal row", err);
		goto out;
	}
	if (id_out != NULL)
		*id_out = sqlite3_last_insert_rowid(db_handle(db));
	rc = 0;
out:
	free(detail);
	return rc;
}

int
journal_list(struct db *db, int64_t op_id, json_t **out, struct err *err)
{
	json_t *arr = NULL, *o, *detail;
	json_error_t jerr;
	sqlite3_stmt *st;
	const char *d;
	int rc;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, op_id > 0 ? SQL_LIST_ONE : SQL_LIST_ALL, &st,
	    err)) != 0)
		goto out;
	if (op_id > 0)
		(void) sqlite3_bind_int64(st, 1, op_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d = (const char *)sqlite3_column_text(st, 7);
		detail = d != NULL ? json_loads(d, 0, &jerr) : json_object();
		if (detail == NULL)
			detail = json_string(d);
		o = json_pack("{s:I,s:I,s:I,s:s,s:s,s:s,s:i,s:o}",
		    "id", (json_int_t)sqlite3_column_int64(st, 0),
		    "op_id", (json_int_t)sqlite3_column_int64(st, 1),
		    "at", (json_int_t)sqlite3_column_int64(st, 2),
		    "from", (const char *)sqlite3_column_text(st, 3),
		    "event", (const char *)sqlite3_column_text(st, 4),
		    "to", (const char *)sqlite3_column_text(st, 5),
		    "step", sqlite3_column_int(st, 6),
		    "detail", detail);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read journal", err);
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
journal_count(struct db *db, int64_t op_id, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, op_id > 0 ? SQL_COUNT_ONE : SQL_COUNT_ALL,
	    &st, err)) != 0)
		return rc;
	if (op_id > 0)
		(void) sqlite3_bind_int64(st, 1, op_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count journal", err);
}

int
journal_max_id(struct db *db, int64_t *out, struct err *err)
{
	return db_scalar_i64(db, SQL_MAX_ID, "newest journal row", out, err);
}

int
journal_last_detail(struct db *db, int64_t op_id, const char *event,
    json_t **out, struct err *err)
{
	sqlite3_stmt *st;
	const char *d;
	json_error_t jerr;
	json_t *v;
	int rc;

	if ((rc = db_prepare(db, SQL_LAST_DETAIL, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, op_id);
	(void) sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		d = (const char *)sqlite3_column_text(st, 0);
		if ((v = json_loads(d != NULL ? d : "{}", 0, &jerr)) == NULL)
			rc = err_set(err, ERR_CORRUPT, "journal detail of op "
			    "%lld: %s", (long long)op_id, jerr.text);
		else {
			*out = v;
			rc = 0;
		}
	} else if (rc == SQLITE_DONE)
		rc = ERR_NOT_FOUND;
	else
		rc = db_error(db, rc, "read journal", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
journal_claimed_upids(struct db *db, int64_t vmid, int64_t since,
    json_t **out, struct err *err)
{
	json_t *arr;
	sqlite3_stmt *st;
	const char *u;
	int rc;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_CLAIMED, &st, err)) != 0) {
		json_decref(arr);
		return rc;
	}
	(void) sqlite3_bind_int64(st, 1, vmid);
	(void) sqlite3_bind_int64(st, 2, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((u = (const char *)sqlite3_column_text(st, 0)) == NULL)
			continue;
		if (json_array_append_new(arr, json_string(u)) != 0) {
			(void) sqlite3_reset(st);
			json_decref(arr);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return db_error(db, rc, "read journal", err);
	}
	*out = arr;
	return 0;
}
