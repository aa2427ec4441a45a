/*
 * actual — the last observation of the guests.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"
#include "store/actual.h"

static const char SQL_DELETE[] = "DELETE FROM actual_guests";
static const char SQL_INSERT[] =
    "INSERT INTO actual_guests (vmid, observed_at, name, status, lock, "
    "template, spec, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/*
 * issue 15: a row is written only where the guest changed; observed_at
 * is when it was last seen to change.  An unchanged row is left alone
 * (the WHERE of the upsert is false: no page is touched, no WAL frame).
 */
static const char SQL_UPSERT[] =
    "INSERT INTO actual_guests (vmid, observed_at, name, status, lock, "
    "template, spec, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (vmid) DO UPDATE SET observed_at = excluded.observed_at, "
    "name = excluded.name, status = excluded.status, lock = excluded.lock, "
    "template = excluded.template, spec = excluded.spec, "
    "config = excluded.config WHERE name IS NOT excluded.name OR "
    "status IS NOT excluded.status OR lock IS NOT excluded.lock OR "
    "template IS NOT excluded.template OR spec IS NOT excluded.spec OR "
    "config IS NOT excluded.config";
static const char SQL_VMIDS[] =
    "SELECT vmid FROM actual_guests ORDER BY vmid";
static const char SQL_DELETE_ONE[] =
    "DELETE FROM actual_guests WHERE vmid = ?1";
static const char SQL_SELECT[] =
    "SELECT vmid, observed_at, name, status, lock, template, spec, config "
    "FROM actual_guests ORDER BY vmid";
/*
 * issue 15: what the plan compares, the normalized spec stored when the
 * guest was observed; the raw config (NULL here) is not parsed again.
 */
static const char SQL_SELECT_SPECS[] =
    "SELECT vmid, observed_at, name, status, lock, template, spec, NULL "
    "FROM actual_guests ORDER BY vmid";

struct actual_set *
actual_set_new(void)
{
	return calloc(1, sizeof(struct actual_set));
}

static void
guest_reset(struct actual_guest *g)
{
	free(g->name);
	free(g->status);
	free(g->lock);
	json_decref(g->spec);
	free(g->spec_text);
	json_decref(g->config);
	memset(g, 0, sizeof(*g));
}

void
actual_set_free(struct actual_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nguests; i++)
		guest_reset(&set->guests[i]);
	free(set->guests);
	free(set);
}

int
actual_set_add(struct actual_set *set, struct actual_guest *g,
    struct err *err)
{
	struct actual_guest *ng;
	size_t cap;

	if (set->nguests == set->cap) {
		cap = set->cap == 0 ? 16 : set->cap * 2;
		if ((ng = realloc(set->guests, cap * sizeof(*ng))) == NULL) {
			guest_reset(g);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
		set->guests = ng;
		set->cap = cap;
	}
	set->guests[set->nguests++] = *g;
	memset(g, 0, sizeof(*g));
	return 0;
}

static int
cmp_vmid(const void *a, const void *b)
{
	const struct actual_guest *x = a, *y = b;

	return x->vmid < y->vmid ? -1 : x->vmid > y->vmid;
}

void
actual_set_sort(struct actual_set *set)
{
	if (set->nguests > 1)
		qsort(set->guests, set->nguests, sizeof(*set->guests),
		    cmp_vmid);
}

const struct actual_guest *
actual_find(const struct actual_set *set, int64_t vmid)
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

static int
insert_one(struct db *db, const char *sql, const struct actual_set *set,
    const struct actual_guest *g, struct err *err)
{
	sqlite3_stmt *st;
	char *spec = NULL, *config = NULL;
	const char *spec_text = g->spec_text;
	int rc;

	if ((spec_text == NULL && g->spec != NULL &&
	    (spec_text = spec = jsonx_dump(g->spec)) == NULL) ||
	    (g->config != NULL && (config = jsonx_dump(g->config)) == NULL)) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, g->vmid);
	(void) sqlite3_bind_int64(st, 2, set->observed_at);
	if (g->name != NULL)
		(void) sqlite3_bind_text(st, 3, g->name, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 4, g->status != NULL ? g->status :
	    "unknown", -1, SQLITE_STATIC);
	if (g->lock != NULL)
		(void) sqlite3_bind_text(st, 5, g->lock, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int(st, 6, g->template != 0);
	if (spec_text != NULL)
		(void) sqlite3_bind_text(st, 7, spec_text, -1, SQLITE_STATIC);
	if (config != NULL)
		(void) sqlite3_bind_text(st, 8, config, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	(void) sqlite3_clear_bindings(st);
	rc = rc == SQLITE_DONE ? 0 : db_error(db, rc, "store actual guest",
	    err);
out:
	free(spec);
	free(config);
	return rc;
}

int
actual_replace(struct db *db, const struct actual_set *set, struct err *err)
{
	sqlite3_stmt *st;
	size_t i;
	int rc, own = 0;

	if (!db_in_txn(db)) {
		if ((rc = db_begin(db, err)) != 0)
			return rc;
		own = 1;
	}
	if ((rc = db_prepare(db, SQL_DELETE, &st, err)) != 0)
		goto out;
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "clear actual guests", err);
		goto out;
	}
	for (i = 0; i < set->nguests; i++)
		if ((rc = insert_one(db, SQL_INSERT, set, &set->guests[i],
		    err)) != 0)
			goto out;
	if (own) {
		own = 0;
		if ((rc = db_commit(db, err)) != 0)
			goto out;
	}
	rc = 0;
out:
	if (own)
		db_rollback(db);
	return rc;
}

int
actual_vmids(struct db *db, int64_t **out, size_t *nout, struct err *err)
{
	sqlite3_stmt *st;
	int64_t *v = NULL, *nv;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = db_prepare(db, SQL_VMIDS, &st, err)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				(void) sqlite3_reset(st);
				free(v);
				return err_set(err, ERR_NOMEM, "out of memory");
			}
			v = nv;
		}
		v[n++] = sqlite3_column_int64(st, 0);
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_error(db, rc, "read actual guests", err);
	}
	*out = v;
	*nout = n;
	return 0;
}

static int
delete_one(struct db *db, int64_t vmid, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_DELETE_ONE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, vmid);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_error(db, rc, "drop actual guest",
	    err);
}

int
actual_sync(struct db *db, const struct actual_set *set, size_t *changed,
    struct err *err)
{
	int64_t *old = NULL;
	size_t nold = 0, i, n = 0;
	int rc, own = 0;

	if ((rc = actual_vmids(db, &old, &nold, err)) != 0)
		return rc;
	if (!db_in_txn(db)) {
		if ((rc = db_begin(db, err)) != 0)
			goto out;
		own = 1;
	}
	/* Guests gone from the observation (set is sorted by vmid). */
	for (i = 0; i < nold; i++) {
		if (actual_find(set, old[i]) != NULL)
			continue;
		if ((rc = delete_one(db, old[i], err)) != 0)
			goto out;
		n++;
	}
	for (i = 0; i < set->nguests; i++) {
		if ((rc = insert_one(db, SQL_UPSERT, set, &set->guests[i],
		    err)) != 0)
			goto out;
		n += (size_t)sqlite3_changes(db_handle(db));
	}
	if (own) {
		own = 0;
		if ((rc = db_commit(db, err)) != 0)
			goto out;
	}
	if (changed != NULL)
		*changed = n;
	rc = 0;
out:
	if (own)
		db_rollback(db);
	free(old);
	return rc;
}

static int
col_dup(sqlite3_stmt *st, int col, char **out)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = strdup((const char *)s)) == NULL ? ERR_NOMEM : 0;
}

static int
col_json(sqlite3_stmt *st, int col, json_t **out)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	json_error_t jerr;

	*out = NULL;
	if (s == NULL)
		return 0;
	return (*out = json_loads((const char *)s, 0, &jerr)) == NULL ?
	    ERR_CORRUPT : 0;
}

static int
load(struct db *db, const char *sql, struct actual_set **out,
    struct err *err)
{
	struct actual_set *set;
	struct actual_guest g;
	sqlite3_stmt *st;
	int rc;

	if ((set = actual_set_new()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&g, 0, sizeof(g));
		g.vmid = sqlite3_column_int64(st, 0);
		set->observed_at = sqlite3_column_int64(st, 1);
		g.template = sqlite3_column_int(st, 5);
		if ((rc = col_dup(st, 2, &g.name)) != 0 ||
		    (rc = col_dup(st, 3, &g.status)) != 0 ||
		    (rc = col_dup(st, 4, &g.lock)) != 0 ||
		    (rc = col_json(st, 6, &g.spec)) != 0 ||
		    (rc = col_json(st, 7, &g.config)) != 0) {
			(void) sqlite3_reset(st);
			rc = rc == ERR_NOMEM ? err_set(err, rc,
			    "out of memory") : err_set(err, rc,
			    "actual_guests %lld: bad JSON", (long long)g.vmid);
			guest_reset(&g);
			goto out;
		}
		if ((rc = actual_set_add(set, &g, err)) != 0) {
			(void) sqlite3_reset(st);
			goto out;
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "read actual guests", err);
		goto out;
	}
	*out = set;
	set = NULL;
	rc = 0;
out:
	actual_set_free(set);
	return rc;
}

int
actual_load(struct db *db, struct actual_set **out, struct err *err)
{
	return load(db, SQL_SELECT, out, err);
}

int
actual_load_specs(struct db *db, struct actual_set **out, struct err *err)
{
	return load(db, SQL_SELECT_SPECS, out, err);
}
