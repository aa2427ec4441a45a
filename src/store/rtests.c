/*
 * rtests — restore test runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/db.h"
#include "store/rtests.h"

static const char *const phase_names[] = {
	[RTESTS_RESTORE] = "restore",
	[RTESTS_ISOLATE] = "isolate",
	[RTESTS_START] = "start",
	[RTESTS_HOLD] = "hold",
	[RTESTS_STOP] = "stop",
	[RTESTS_DESTROY] = "destroy",
	[RTESTS_DONE] = "done",
};
_Static_assert(sizeof(phase_names) / sizeof(phase_names[0]) ==
    RTESTS__COUNT, "every phase is named");

#define COLS "id, vmid, scratch_vmid, backup_volid, storage, phase, op_id, " \
    "marked, result, detail, started_at, running_since, finished_at"

static const char SQL_INSERT[] =
    "INSERT INTO restore_test_runs (vmid, scratch_vmid, backup_volid, "
    "storage, phase, op_id, marked, result, detail, started_at, "
    "running_since, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
    "?9, ?10, ?11, ?12)";
static const char SQL_UPDATE[] =
    "UPDATE restore_test_runs SET scratch_vmid = ?2, backup_volid = ?3, "
    "phase = ?4, op_id = ?5, marked = ?6, result = ?7, detail = ?8, "
    "running_since = ?9, finished_at = ?10 WHERE id = ?1";
static const char SQL_OPEN[] =
    "SELECT " COLS " FROM restore_test_runs WHERE phase <> 'done' "
    "ORDER BY id";
static const char SQL_LATEST[] =
    "SELECT " COLS " FROM restore_test_runs WHERE vmid = ?1 "
    "ORDER BY id DESC LIMIT 1";
static const char SQL_REPORT[] =
    "SELECT vmid, backup_volid, scratch_vmid, started_at, finished_at, "
    "result, detail FROM restore_test_runs r WHERE phase = 'done' AND "
    "id = (SELECT max(id) FROM restore_test_runs x WHERE x.vmid = r.vmid "
    "AND x.phase = 'done') ORDER BY finished_at DESC, id DESC LIMIT ?1";

const char *
rtests_phase_name(enum rtests_phase p)
{
	return (unsigned)p < RTESTS__COUNT ? phase_names[p] : NULL;
}

int
rtests_phase_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < RTESTS__COUNT; i++)
		if (strcmp(phase_names[i], s) == 0)
			return i;
	return -1;
}

void
rtests_run_reset(struct rtests_run *r)
{
	if (r == NULL)
		return;
	free(r->backup_volid);
	free(r->storage);
	free(r->result);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

void
rtests_runs_free(struct rtests_run *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		rtests_run_reset(&v[i]);
	free(v);
}

static void
bind_opt_i64(sqlite3_stmt *st, int col, int64_t v)
{
	if (v != 0)
		(void) sqlite3_bind_int64(st, col, v);
	else
		(void) sqlite3_bind_null(st, col);
}

static void
bind_opt_text(sqlite3_stmt *st, int col, const char *s)
{
	if (s != NULL)
		(void) sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC);
	else
		(void) sqlite3_bind_null(st, col);
}

int
rtests_insert(struct db *db, const struct rtests_run *r, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_INSERT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, r->vmid);
	bind_opt_i64(st, 2, r->scratch_vmid);
	bind_opt_text(st, 3, r->backup_volid);
	(void) sqlite3_bind_text(st, 4, r->storage, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 5, rtests_phase_name(r->phase), -1,
	    SQLITE_STATIC);
	bind_opt_i64(st, 6, r->op_id);
	(void) sqlite3_bind_int(st, 7, r->marked != 0);
	bind_opt_text(st, 8, r->result);
	bind_opt_text(st, 9, r->detail);
	(void) sqlite3_bind_int64(st, 10, r->started_at);
	bind_opt_i64(st, 11, r->running_since);
	bind_opt_i64(st, 12, r->finished_at);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "insert a restore test run", err);
	*id_out = sqlite3_last_insert_rowid(db_handle(db));
	return 0;
}

int
rtests_update(struct db *db, const struct rtests_run *r, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_UPDATE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, r->id);
	bind_opt_i64(st, 2, r->scratch_vmid);
	bind_opt_text(st, 3, r->backup_volid);
	(void) sqlite3_bind_text(st, 4, rtests_phase_name(r->phase), -1,
	    SQLITE_STATIC);
	bind_opt_i64(st, 5, r->op_id);
	(void) sqlite3_bind_int(st, 6, r->marked != 0);
	bind_opt_text(st, 7, r->result);
	bind_opt_text(st, 8, r->detail);
	bind_opt_i64(st, 9, r->running_since);
	bind_opt_i64(st, 10, r->finished_at);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "update a restore test run", err);
	if (sqlite3_changes(db_handle(db)) != 1)
		return err_set(err, ERR_NOT_FOUND, "restore test run %lld is "
		    "gone", (long long)r->id);
	return 0;
}

static char *
col_dup(sqlite3_stmt *st, int col, int *oom)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	char *s;

	if (v == NULL)
		return NULL;
	if ((s = strdup((const char *)v)) == NULL)
		*oom = 1;
	return s;
}

static int
read_row(sqlite3_stmt *st, struct rtests_run *r)
{
	int oom = 0, p;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->vmid = sqlite3_column_int64(st, 1);
	r->scratch_vmid = sqlite3_column_int64(st, 2);
	r->backup_volid = col_dup(st, 3, &oom);
	r->storage = col_dup(st, 4, &oom);
	p = rtests_phase_parse((const char *)sqlite3_column_text(st, 5));
	r->phase = p < 0 ? RTESTS_DONE : (enum rtests_phase)p;
	r->op_id = sqlite3_column_int64(st, 6);
	r->marked = sqlite3_column_int(st, 7);
	r->result = col_dup(st, 8, &oom);
	r->detail = col_dup(st, 9, &oom);
	r->started_at = sqlite3_column_int64(st, 10);
	r->running_since = sqlite3_column_int64(st, 11);
	r->finished_at = sqlite3_column_int64(st, 12);
	if (oom) {
		rtests_run_reset(r);
		return ERR_NOMEM;
	}
	return p < 0 ? ERR_CORRUPT : 0;
}

int
rtests_open(struct db *db, struct rtests_run **out, size_t *n_out,
    struct err *err)
{
	struct rtests_run *v = NULL, *nv;
	sqlite3_stmt *st;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = db_prepare(db, SQL_OPEN, &st, err)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto fail;
			}
			v = nv;
		}
		if ((rc = read_row(st, &v[n])) != 0) {
			rc = err_set(err, rc, "restore test run: %s",
			    rc == ERR_NOMEM ? "out of memory" : "bad phase");
			goto fail;
		}
		n++;
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read restore test runs", err);
		rtests_runs_free(v, n);
		return rc;
	}
	*out = v;
	*n_out = n;
	return 0;
fail:
	(void) sqlite3_reset(st);
	rtests_runs_free(v, n);
	return rc;
}

int
rtests_latest(struct db *db, int64_t vmid, struct rtests_run *out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_LATEST, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, vmid);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = read_row(st, out);
		if (rc != 0)
			rc = err_set(err, rc, "restore test run: %s",
			    rc == ERR_NOMEM ? "out of memory" : "bad phase");
	} else if (rc == SQLITE_DONE)
		rc = ERR_NOT_FOUND;
	else
		rc = db_error(db, rc, "read a restore test run", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
rtests_report(struct db *db, json_t **out, struct err *err)
{
	json_t *arr = NULL, *o;
	sqlite3_stmt *st;
	int rc;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_REPORT, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, RTESTS_REPORT_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
		    "vmid", db_col_int(st, 0),
		    "backup_volid", db_col_text(st, 1),
		    "scratch_vmid", db_col_int(st, 2),
		    "started_at", db_col_time(st, 3),
		    "finished_at", db_col_time(st, 4),
		    "result", db_col_text(st, 5),
		    "detail", db_col_text(st, 6));
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read restore tests for the report", err);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	json_decref(arr);
	return rc;
}
