/*
 * desired — the stored desired state.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"
#include "store/desired.h"
#include "store/kv.h"

static const char SQL_DEL_GUESTS[] = "DELETE FROM desired_guests";
static const char SQL_DEL_TESTS[] = "DELETE FROM desired_restore_tests";
static const char SQL_INS_GUEST[] =
    "INSERT INTO desired_guests (vmid, generation, state, spec, provision, "
    "restore, rollback) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_INS_TEST[] =
    "INSERT INTO desired_restore_tests (vmid, generation, every_hours, "
    "scratch_first, scratch_last, storage) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_SEL_GUESTS[] =
    "SELECT vmid, state, spec, provision, restore, rollback "
    "FROM desired_guests ORDER BY vmid";
static const char SQL_SEL_TESTS[] =
    "SELECT vmid, every_hours, scratch_first, scratch_last, storage "
    "FROM desired_restore_tests ORDER BY vmid";
static const char SQL_COUNT_GUESTS[] = "SELECT count(*) FROM desired_guests";
static const char SQL_COUNT_TESTS[] =
    "SELECT count(*) FROM desired_restore_tests";

static const char *const state_names[] = {
	[DESIRED_RUNNING] = "running",
	[DESIRED_STOPPED] = "stopped",
	[DESIRED_ABSENT] = "absent",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) ==
    DESIRED__COUNT, "desired state names");

const char *
desired_state_name(enum desired_state s)
{
	if ((unsigned)s >= DESIRED__COUNT)
		return NULL;
	return state_names[s];
}

int
desired_state_parse(const char *s)
{
	int i;

	for (i = 0; i < DESIRED__COUNT; i++)
		if (strcmp(state_names[i], s) == 0)
			return i;
	return -1;
}

/* Binds an optional object member as compact JSON text (or NULL). */
static int
bind_json(sqlite3_stmt *st, int col, const json_t *obj, const char *key,
    char **hold, const char *ctx, struct err *err)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return err_set(err, ERR_FORMAT, "%s.%s: expected object", ctx,
		    key);
	if ((*hold = jsonx_dump(v)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	(void) sqlite3_bind_text(st, col, *hold, -1, SQLITE_STATIC);
	return 0;
}

static int
insert_guest(struct db *db, int64_t generation, const json_t *g, size_t idx,
    struct err *err)
{
	char ctx[48], *hold[4] = { NULL, NULL, NULL, NULL };
	const char *state;
	int64_t vmid;
	sqlite3_stmt *st;
	int rc;
	size_t i;

	(void) snprintf(ctx, sizeof(ctx), "guests[%zu]", idx);
	if (!json_is_object(g))
		return err_set(err, ERR_FORMAT, "%s: expected object", ctx);
	if ((rc = jsonx_req_int(g, ctx, "vmid", 100, 999999999, &vmid,
	    err)) != 0 ||
	    (rc = jsonx_req_string(g, ctx, "state", &state, err)) != 0)
		return rc;
	if (desired_state_parse(state) < 0)
		return err_set(err, ERR_FORMAT, "%s.state: '%s' is not "
		    "running, stopped or absent", ctx, state);
	if ((rc = db_prepare(db, SQL_INS_GUEST, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, vmid);
	(void) sqlite3_bind_int64(st, 2, generation);
	(void) sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	if ((rc = bind_json(st, 4, g, "spec", &hold[0], ctx, err)) != 0 ||
	    (rc = bind_json(st, 5, g, "provision", &hold[1], ctx, err)) != 0 ||
	    (rc = bind_json(st, 6, g, "restore", &hold[2], ctx, err)) != 0 ||
	    (rc = bind_json(st, 7, g, "rollback", &hold[3], ctx, err)) != 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		rc = (rc & 0xff) == SQLITE_CONSTRAINT ?
		    err_set(err, ERR_FORMAT, "%s: vmid %lld listed twice or "
		    "out of range", ctx, (long long)vmid) :
		    db_error(db, rc, "store desired guest", err);
		goto out;
	}
	rc = 0;
out:
	(void) sqlite3_reset(st);
	(void) sqlite3_clear_bindings(st);
	for (i = 0; i < 4; i++)
		free(hold[i]);
	return rc;
}

static int
insert_test(struct db *db, int64_t generation, const json_t *t, size_t idx,
    struct err *err)
{
	char ctx[48];
	const char *storage;
	int64_t vmid, every, first, last;
	json_t *range;
	sqlite3_stmt *st;
	int rc;

	(void) snprintf(ctx, sizeof(ctx), "restore_tests[%zu]", idx);
	if (!json_is_object(t))
		return err_set(err, ERR_FORMAT, "%s: expected object", ctx);
	if ((rc = jsonx_req_int(t, ctx, "vmid", 100, 999999999, &vmid,
	    err)) != 0 ||
	    (rc = jsonx_req_int(t, ctx, "every_hours", 1, INT32_MAX, &every,
	    err)) != 0 ||
	    (rc = jsonx_req_array(t, ctx, "scratch_vmids", &range, err)) != 0 ||
	    (rc = jsonx_req_string(t, ctx, "storage", &storage, err)) != 0)
		return rc;
	if (json_array_size(range) != 2 ||
	    !json_is_integer(json_array_get(range, 0)) ||
	    !json_is_integer(json_array_get(range, 1)))
		return err_set(err, ERR_FORMAT, "%s.scratch_vmids: expected "
		    "[first, last]", ctx);
	first = json_integer_value(json_array_get(range, 0));
	last = json_integer_value(json_array_get(range, 1));
	if (first < 100 || last > 999999999 || last < first)
		return err_set(err, ERR_FORMAT, "%s.scratch_vmids: [%lld, "
		    "%lld] is not a vmid range", ctx, (long long)first,
		    (long long)last);
	if ((rc = db_prepare(db, SQL_INS_TEST, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, vmid);
	(void) sqlite3_bind_int64(st, 2, generation);
	(void) sqlite3_bind_int64(st, 3, every);
	(void) sqlite3_bind_int64(st, 4, first);
	(void) sqlite3_bind_int64(st, 5, last);
	(void) sqlite3_bind_text(st, 6, storage, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return (rc & 0xff) == SQLITE_CONSTRAINT ?
		    err_set(err, ERR_FORMAT, "%s: vmid %lld listed twice", ctx,
		    (long long)vmid) :
		    db_error(db, rc, "store restore test", err);
	return 0;
}

int
desired_replace(struct db *db, int64_t generation, const json_t *guests,
    const json_t *restore_tests, struct err *err)
{
	int64_t stored;
	size_t i;
	int rc;

	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "desired_replace outside a "
		    "transaction");
	if (!json_is_array(guests))
		return err_set(err, ERR_FORMAT, "guests: expected array");
	if (restore_tests != NULL && !json_is_null(restore_tests) &&
	    !json_is_array(restore_tests))
		return err_set(err, ERR_FORMAT, "restore_tests: expected "
		    "array");
	if ((rc = kv_get_int(db, KV_DESIRED_GENERATION, 0, &stored, err)) != 0)
		return rc;
	if (generation < stored)
		return err_set(err, ERR_CONFLICT, "desired generation %lld is "
		    "older than the stored %lld", (long long)generation,
		    (long long)stored);
	if ((rc = db_exec_cached(db, SQL_DEL_GUESTS, "clear desired guests",
	    err)) != 0 ||
	    (rc = db_exec_cached(db, SQL_DEL_TESTS, "clear restore tests",
	    err)) != 0)
		return rc;
	for (i = 0; i < json_array_size(guests); i++)
		if ((rc = insert_guest(db, generation,
		    json_array_get(guests, i), i, err)) != 0)
			return rc;
	for (i = 0; restore_tests != NULL && i < json_array_size(restore_tests);
	    i++)
		if ((rc = insert_test(db, generation,
		    json_array_get(restore_tests, i), i, err)) != 0)
			return rc;
	return kv_set_int(db, KV_DESIRED_GENERATION, generation, err);
}

static int
count_rows(struct db *db, const char *sql, size_t *out, struct err *err)
{
	int64_t n;
	int rc;

	if ((rc = db_scalar_i64(db, sql, "count desired", &n, err)) != 0)
		return rc;
	*out = n > 0 ? (size_t)n : 0;
	return 0;
}

/* Column text parsed as a JSON object, or NULL for SQL NULL. */
static int
col_json(struct db *db, sqlite3_stmt *st, int col, json_t **out,
    struct err *err)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	json_error_t jerr;

	(void) db;
	*out = NULL;
	if (s == NULL)
		return 0;
	if ((*out = json_loads(s, 0, &jerr)) == NULL)
		return err_set(err, ERR_CORRUPT, "desired_guests column %d: %s",
		    col, jerr.text);
	return 0;
}

int
desired_load(struct db *db, struct desired_set **out, struct err *err)
{
	struct desired_set *set = NULL;
	struct desired_guest *g;
	struct desired_restore_test *t;
	sqlite3_stmt *st;
	const char *s;
	size_t n, i;
	int rc;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = kv_get_int(db, KV_DESIRED_GENERATION, 0, &set->generation,
	    err)) != 0 ||
	    (rc = count_rows(db, SQL_COUNT_GUESTS, &n, err)) != 0)
		goto out;
	if (n > 0 && (set->guests = calloc(n, sizeof(*set->guests))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = db_prepare(db, SQL_SEL_GUESTS, &st, err)) != 0)
		goto out;
	for (i = 0; i < n && (rc = sqlite3_step(st)) == SQLITE_ROW; i++) {
		g = &set->guests[i];
		set->nguests = i + 1;
		g->vmid = sqlite3_column_int64(st, 0);
		s = (const char *)sqlite3_column_text(st, 1);
		if (s == NULL || desired_state_parse(s) < 0) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_CORRUPT, "desired_guests %lld: "
			    "bad state", (long long)g->vmid);
			goto out;
		}
		g->state = (enum desired_state)desired_state_parse(s);
		if ((rc = col_json(db, st, 2, &g->spec, err)) != 0 ||
		    (rc = col_json(db, st, 3, &g->provision, err)) != 0 ||
		    (rc = col_json(db, st, 4, &g->restore, err)) != 0 ||
		    (rc = col_json(db, st, 5, &g->rollback, err)) != 0) {
			(void) sqlite3_reset(st);
			goto out;
		}
	}
	if (i == n)
		rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? err_set(err, ERR_BUSY, "desired state "
		    "changed while reading") :
		    db_error(db, rc, "read desired guests", err);
		goto out;
	}
	if ((rc = count_rows(db, SQL_COUNT_TESTS, &n, err)) != 0)
		goto out;
	if (n > 0 && (set->tests = calloc(n, sizeof(*set->tests))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = db_prepare(db, SQL_SEL_TESTS, &st, err)) != 0)
		goto out;
	for (i = 0; i < n && (rc = sqlite3_step(st)) == SQLITE_ROW; i++) {
		t = &set->tests[i];
		set->ntests = i + 1;
		t->vmid = sqlite3_column_int64(st, 0);
		t->every_hours = sqlite3_column_int64(st, 1);
		t->scratch_first = sqlite3_column_int64(st, 2);
		t->scratch_last = sqlite3_column_int64(st, 3);
		s = (const char *)sqlite3_column_text(st, 4);
		if ((t->storage = strdup(s != NULL ? s : "")) == NULL) {
			(void) sqlite3_reset(st);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (i == n)
		rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = rc == SQLITE_ROW ? err_set(err, ERR_BUSY, "desired state "
		    "changed while reading") :
		    db_error(db, rc, "read restore tests", err);
		goto out;
	}
	*out = set;
	set = NULL;
	rc = 0;
out:
	desired_set_free(set);
	return rc;
}

void
desired_set_free(struct desired_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nguests; i++) {
		json_decref(set->guests[i].spec);
		json_decref(set->guests[i].provision);
		json_decref(set->guests[i].restore);
		json_decref(set->guests[i].rollback);
	}
	for (i = 0; i < set->ntests; i++)
		free(set->tests[i].storage);
	free(set->guests);
	free(set->tests);
	free(set);
}

const struct desired_guest *
desired_find(const struct desired_set *set, int64_t vmid)
{
	size_t lo = 0, hi, mid;

	if (set == NULL)
		return NULL;
	hi = set->nguests;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (set->guests[mid].vmid == vmid)
			return &set->guests[mid];
		if (set->guests[mid].vmid < vmid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
