/*
 * ops — the ops table and its idempotency keys.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"
#include "store/ops.h"

#define OPS_COLS \
    "id, uid, vmid, kind, source, class, state, step, params, why, " \
    "idem_key, generation, blob_not_after, blob IS NOT NULL, upid, safety, " \
    "attempt, max_attempts, next_at, intent_at, created_at, updated_at, " \
    "ended_at, error_code, error, config_digest, wait_ms"

static const char SQL_INSERT[] =
    "INSERT INTO ops (uid, vmid, kind, source, class, state, params, why, "
    "idem_key, generation, max_attempts, created_at, updated_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, 'new', ?6, ?7, ?8, ?9, ?10, ?11, ?11)";
static const char SQL_INSERT_KEY[] =
    "INSERT INTO idempotency (key, op_id, created_at) VALUES (?1, ?2, ?3)";
static const char SQL_FIND_KEY[] =
    "SELECT op_id FROM idempotency WHERE key = ?1";
static const char SQL_FIND_PREFIX[] =
    "SELECT 1 FROM ops WHERE idem_key >= ?1 AND idem_key < ?2 "
    "AND state = ?3 LIMIT 1";
static const char SQL_GET[] = "SELECT " OPS_COLS " FROM ops WHERE id = ?1";
/* ?2 = base + "/", ?3 = base + "0": the "<base>/<round>" keys. */
static const char SQL_LATEST_KEY[] =
    "SELECT o.id, o.uid, o.state, o.error_code, o.error, "
    "(SELECT coalesce(max(j.id), 0) FROM journal j WHERE j.op_id = o.id) "
    "FROM ops o WHERE o.idem_key = ?1 OR "
    "(o.idem_key >= ?2 AND o.idem_key < ?3) ORDER BY o.id DESC LIMIT 1";
/*
 * The rounds of a key from the idempotency keys, which are never
 * archived: an op moved to an archive (issue 15) still counts.
 */
static const char SQL_ROUNDS_KEY[] =
    "SELECT count(*) FROM idempotency WHERE key = ?1 OR "
    "(key >= ?2 AND key < ?3)";
static const char SQL_GET_UID[] =
    "SELECT " OPS_COLS " FROM ops WHERE uid = ?1";
/*
 * The ops not ended, through the ops_ended index (0005: ended_at is set
 * by the transition into a terminal state and only by it); the list of
 * terminal states says the same of the state.
 */
static const char SQL_ACTIVE[] =
    "SELECT " OPS_COLS " FROM ops WHERE ended_at IS NULL AND state NOT IN "
    "('succeeded', 'failed', 'rejected', 'expired', 'superseded', "
    "'cancelled', 'rolled_back') ORDER BY vmid, id";
static const char SQL_STATE[] = "SELECT state FROM ops WHERE id = ?1";
/*
 * Two statements: one that names ended_at would rewrite the op's
 * ops_ended entry on every transition (SQLite updates the indexes of the
 * columns an UPDATE assigns, changed or not).  No RETURNING: SQLite
 * keeps returned rows in an ephemeral table opened for each run, which
 * cost more than the rest of a transition; the row is read by its key.
 */
static const char SQL_CAS[] =
    "UPDATE ops SET state = ?3, updated_at = ?4 "
    "WHERE id = ?1 AND state = ?2";
static const char SQL_CAS_END[] =
    "UPDATE ops SET state = ?3, updated_at = ?4, ended_at = ?4 "
    "WHERE id = ?1 AND state = ?2";
static const char SQL_VMID_UID[] =
    "SELECT coalesce(vmid, 0), uid FROM ops WHERE id = ?1";
static const char SQL_SUBMIT[] =
    "UPDATE ops SET attempt = attempt + 1, intent_at = ?2, upid = NULL, "
    "next_at = 0, wait_ms = 0, config_digest = ?3 WHERE id = ?1";
static const char SQL_UPID[] = "UPDATE ops SET upid = ?2 WHERE id = ?1";
static const char SQL_WAIT[] =
    "UPDATE ops SET wait_ms = ?2 WHERE id = ?1 AND state = 'authorized'";
static const char SQL_ERROR[] =
    "UPDATE ops SET error_code = ?2, error = ?3, upid = NULL, "
    "next_at = CASE WHEN ?4 > 0 THEN ?4 ELSE next_at END, "
    "wait_ms = CASE WHEN ?4 > 0 THEN ?5 ELSE wait_ms END WHERE id = ?1";
static const char SQL_NEXT_STEP[] =
    "UPDATE ops SET step = step + 1, attempt = 0, upid = NULL, "
    "safety = coalesce(?2, safety) WHERE id = ?1";
static const char SQL_UNDO[] =
    "UPDATE ops SET intent_at = ?2, upid = NULL, "
    "attempt = CASE WHEN ?3 THEN 0 ELSE attempt + 1 END WHERE id = ?1";
static const char SQL_NEXT_AT[] = "UPDATE ops SET next_at = ?2, wait_ms = 0 "
    "WHERE id = ?1";
static const char SQL_SIGN_REQ[] =
    "UPDATE ops SET blob = coalesce(?2, blob), blob_not_after = "
    "CASE WHEN ?3 > 0 THEN ?3 ELSE blob_not_after END WHERE id = ?1";
static const char SQL_SIGNATURE[] =
    "UPDATE ops SET signature = coalesce(?2, signature), "
    "signer = coalesce(?3, signer), nonce = coalesce(?4, nonce) "
    "WHERE id = ?1";
static const char SQL_BLOB[] = "SELECT blob FROM ops WHERE id = ?1";
static const char SQL_CLASS[] = "UPDATE ops SET class = ?2 WHERE id = ?1";
static const char SQL_STEP[] = "SELECT step, attempt FROM ops WHERE id = ?1";
static const char SQL_COUNT_ALL[] = "SELECT count(*) FROM ops";
static const char SQL_COUNT_STATE[] =
    "SELECT count(*) FROM ops WHERE state = ?1";
/* A state that is not terminal: only ops not ended (ops_ended). */
static const char SQL_COUNT_ACTIVE_STATE[] =
    "SELECT count(*) FROM ops WHERE ended_at IS NULL AND state = ?1";
static const char *const terminal_names[] = { "succeeded", "failed",
    "rejected", "expired", "superseded", "cancelled", "rolled_back" };

static int
terminal_name(const char *state)
{
	size_t i;

	for (i = 0; i < sizeof(terminal_names) / sizeof(terminal_names[0]);
	    i++)
		if (strcmp(state, terminal_names[i]) == 0)
			return 1;
	return 0;
}

static const char *const kind_names[] = {
	[OPS_KIND_START] = "start",
	[OPS_KIND_STOP] = "stop",
	[OPS_KIND_SET_CONFIG] = "set_config",
	[OPS_KIND_SNAPSHOT] = "snapshot",
	[OPS_KIND_DELETE_SNAPSHOT] = "delete_snapshot",
	[OPS_KIND_ROLLBACK] = "rollback",
	[OPS_KIND_BACKUP] = "backup",
	[OPS_KIND_RESTORE] = "restore",
	[OPS_KIND_DESTROY] = "destroy",
	[OPS_KIND_PROVISION] = "provision",
	[OPS_KIND_ROTATE_SIGNERS] = "rotate_signers",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == OPS_KIND__COUNT,
    "ops kind names");

static const char *const source_names[] = {
	[OPS_SOURCE_DESIRED] = "desired",
	[OPS_SOURCE_SIGNED] = "signed",
	[OPS_SOURCE_REQUEST] = "request",
	[OPS_SOURCE_ADMIN] = "admin",
	[OPS_SOURCE_INTERNAL] = "internal",
};
_Static_assert(sizeof(source_names) / sizeof(source_names[0]) ==
    OPS_SOURCE__COUNT, "ops source names");

static const char *const class_names[] = {
	[OPS_CLASS_BENIGN] = "benign",
	[OPS_CLASS_DESTRUCTIVE] = "destructive",
};
_Static_assert(sizeof(class_names) / sizeof(class_names[0]) ==
    OPS_CLASS__COUNT, "ops class names");

static int
parse_name(const char *const *names, int n, const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *
ops_kind_name(enum ops_kind k)
{
	return (unsigned)k < OPS_KIND__COUNT ? kind_names[k] : NULL;
}

const char *
ops_source_name(enum ops_source s)
{
	return (unsigned)s < OPS_SOURCE__COUNT ? source_names[s] : NULL;
}

const char *
ops_class_name(enum ops_class c)
{
	return (unsigned)c < OPS_CLASS__COUNT ? class_names[c] : NULL;
}

int
ops_kind_parse(const char *s)
{
	return parse_name(kind_names, OPS_KIND__COUNT, s);
}

int
ops_source_parse(const char *s)
{
	return parse_name(source_names, OPS_SOURCE__COUNT, s);
}

int
ops_class_parse(const char *s)
{
	return parse_name(class_names, OPS_CLASS__COUNT, s);
}

void
ops_row_free(struct ops_row *op)
{
	if (op == NULL)
		return;
	json_decref(op->params);
	json_decref(op->safety);
	free(op->params_text);
	free(op->why);
	free(op->idem_key);
	free(op->upid);
	free(op->error_code);
	free(op->error);
	free(op->config_digest);
	free(op);
}

void
ops_rows_free(struct ops_row **ops, size_t n)
{
	size_t i;

	if (ops == NULL)
		return;
	for (i = 0; i < n; i++)
		ops_row_free(ops[i]);
	free(ops);
}

static int
new_uid(char *out, struct err *err)
{
	unsigned char r[8];
	ssize_t n;
	size_t i;

	do
		n = getrandom(r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r))
		return err_set(err, ERR_IO, "getrandom: %s", n < 0 ?
		    strerror(errno) : "short read");
	memcpy(out, "op-", 3);
	for (i = 0; i < sizeof(r); i++)
		(void) snprintf(out + 3 + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
ops_find_key(struct db *db, const char *key, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_FIND_KEY, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id_out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = ERR_NOT_FOUND;
	else
		rc = db_error(db, rc, "find idempotency key", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
ops_create(struct db *db, const struct ops_new *n, int64_t *id_out,
    struct err *err)
{
	sqlite3_stmt *st;
	char uid[OPS_UID_LEN], *params = NULL;
	int64_t id, existing;
	int rc, own = 0;

	if ((unsigned)n->kind >= OPS_KIND__COUNT ||
	    (unsigned)n->source >= OPS_SOURCE__COUNT ||
	    (unsigned)n->class >= OPS_CLASS__COUNT || n->idem_key == NULL ||
	    n->idem_key[0] == '\0')
		return err_set(err, ERR_INVALID, "ops_create: bad kind, "
		    "source, class or key");
	if ((rc = new_uid(uid, err)) != 0)
		return rc;
	if (n->params != NULL) {
		if (!json_is_object(n->params))
			return err_set(err, ERR_INVALID, "ops_create: params "
			    "must be an object");
		if (n->params_text == NULL &&
		    (params = jsonx_dump(n->params)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
	}
	if (!db_in_txn(db)) {
		if ((rc = db_begin(db, err)) != 0)
			goto out;
		own = 1;
	}
	/* a key seen before is never applied again. */
	rc = ops_find_key(db, n->idem_key, &existing, err);
	if (rc == 0) {
		rc = err_set(err, ERR_CONFLICT, "idempotency key '%s' already "
		    "belongs to op %lld", n->idem_key, (long long)existing);
		goto out;
	}
	if (rc != ERR_NOT_FOUND)
		goto out;
	if ((rc = db_prepare(db, SQL_INSERT, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
	if (n->vmid > 0)
		(void) sqlite3_bind_int64(st, 2, n->vmid);
	(void) sqlite3_bind_text(st, 3, kind_names[n->kind], -1,
	    SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 4, source_names[n->source], -1,
	    SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 5, class_names[n->class], -1,
	    SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 6, params != NULL ? params :
	    n->params != NULL && n->params_text != NULL ? n->params_text :
	    "{}", -1, SQLITE_STATIC);
	if (n->why != NULL)
		(void) sqlite3_bind_text(st, 7, n->why, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 8, n->idem_key, -1, SQLITE_STATIC);
	if (n->generation > 0)
		(void) sqlite3_bind_int64(st, 9, n->generation);
	(void) sqlite3_bind_int(st, 10, n->max_attempts > 0 ?
	    n->max_attempts : OPS_DEFAULT_MAX_ATTEMPTS);
	(void) sqlite3_bind_int64(st, 11, n->now);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	(void) sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "insert op", err);
		goto out;
	}
	id = sqlite3_last_insert_rowid(db_handle(db));
	if ((rc = db_prepare(db, SQL_INSERT_KEY, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_text(st, 1, n->idem_key, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 2, id);
	(void) sqlite3_bind_int64(st, 3, n->now);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "insert idempotency key", err);
		goto out;
	}
	if (own && (rc = db_commit(db, err)) != 0) {
		own = 0;
		goto out;
	}
	own = 0;
	*id_out = id;
	rc = 0;
out:
	if (own)
		db_rollback(db);
	free(params);
	return rc;
}

int
ops_find_prefix_state(struct db *db, const char *prefix, const char *state,
    int *found, struct err *err)
{
	sqlite3_stmt *st;
	char *hi;
	size_t n = strlen(prefix);
	int rc;

	if (n == 0)
		return err_set(err, ERR_INVALID, "empty key prefix");
	/* [prefix, prefix with its last byte + 1): uses the UNIQUE index. */
	if ((hi = strdup(prefix)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	hi[n - 1] = (char)(hi[n - 1] + 1);
	if ((rc = db_prepare(db, SQL_FIND_PREFIX, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		*found = rc == SQLITE_ROW;
		rc = 0;
	} else
		rc = db_error(db, rc, "find applied op", err);
out:
	free(hi);
	return rc;
}

static char *col_strdup(sqlite3_stmt *st, int col, int *oom);

void
ops_latest_reset(struct ops_latest *l)
{
	if (l == NULL)
		return;
	free(l->error_code);
	free(l->error);
	memset(l, 0, sizeof(*l));
}

/* One integer from sql with three text parameters. */
static int
db_scalar3(struct db *db, const char *sql, const char *a, const char *b,
    const char *c, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count the rounds of "
	    "a key", err);
}

int
ops_latest_by_key(struct db *db, const char *base, struct ops_latest *out,
    struct err *err)
{
	sqlite3_stmt *st;
	struct ops_latest l;
	char *lo = NULL, *hi = NULL;
	const char *v;
	size_t n = strlen(base);
	int rc, r2, oom = 0;

	memset(&l, 0, sizeof(l));
	if ((lo = malloc(n + 2)) == NULL || (hi = malloc(n + 2)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	(void) snprintf(lo, n + 2, "%s/", base);
	(void) snprintf(hi, n + 2, "%s0", base);
	if ((rc = db_prepare(db, SQL_LATEST_KEY, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_text(st, 1, base, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		l.id = sqlite3_column_int64(st, 0);
		v = (const char *)sqlite3_column_text(st, 1);
		(void) snprintf(l.uid, sizeof(l.uid), "%s", v != NULL ? v : "");
		v = (const char *)sqlite3_column_text(st, 2);
		(void) snprintf(l.state, sizeof(l.state), "%s",
		    v != NULL ? v : "");
		l.error_code = col_strdup(st, 3, &oom);
		l.error = col_strdup(st, 4, &oom);
		l.journal_id = sqlite3_column_int64(st, 5);
		rc = oom ? err_set(err, ERR_NOMEM, "out of memory") : 0;
	} else if (rc == SQLITE_DONE)
		rc = ERR_NOT_FOUND;
	else
		rc = db_error(db, rc, "find the latest op of a key", err);
	(void) sqlite3_reset(st);
	if (rc != 0 && rc != ERR_NOT_FOUND)
		goto out;
	if ((r2 = db_scalar3(db, SQL_ROUNDS_KEY, base, lo, hi, &l.rounds,
	    err)) != 0) {
		rc = r2;
		goto out;
	}
	if (rc == 0) {
		*out = l;
		memset(&l, 0, sizeof(l));
	} else
		out->rounds = l.rounds;
out:
	ops_latest_reset(&l);
	free(lo);
	free(hi);
	return rc;
}

static char *
col_strdup(sqlite3_stmt *st, int col, int *oom)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	char *r;

	if (s == NULL)
		return NULL;
	if ((r = strdup((const char *)s)) == NULL)
		*oom = 1;
	return r;
}

static int
row_read(struct db *db, sqlite3_stmt *st, struct ops_row **out,
    struct err *err)
{
	struct ops_row *op;
	const char *s;
	json_error_t jerr;
	int oom = 0, rc, k;

	(void) db;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	op->id = sqlite3_column_int64(st, 0);
	s = (const char *)sqlite3_column_text(st, 1);
	(void) snprintf(op->uid, sizeof(op->uid), "%s", s != NULL ? s : "");
	op->vmid = sqlite3_column_int64(st, 2);
	k = ops_kind_parse((const char *)sqlite3_column_text(st, 3));
	if (k < 0) {
		rc = err_set(err, ERR_CORRUPT, "op %lld: unknown kind",
		    (long long)op->id);
		goto fail;
	}
	op->kind = (enum ops_kind)k;
	if ((k = ops_source_parse((const char *)sqlite3_column_text(st, 4))) <
	    0 || (op->source = (enum ops_source)k,
	    k = ops_class_parse((const char *)sqlite3_column_text(st, 5))) <
	    0) {
		rc = err_set(err, ERR_CORRUPT, "op %lld: unknown source or "
		    "class", (long long)op->id);
		goto fail;
	}
	op->class = (enum ops_class)k;
	s = (const char *)sqlite3_column_text(st, 6);
	(void) snprintf(op->state, sizeof(op->state), "%s",
	    s != NULL ? s : "");
	op->step = sqlite3_column_int(st, 7);
	op->params_text = col_strdup(st, 8, &oom);
	op->why = col_strdup(st, 9, &oom);
	op->idem_key = col_strdup(st, 10, &oom);
	op->generation = sqlite3_column_int64(st, 11);
	op->blob_not_after = sqlite3_column_int64(st, 12);
	op->has_blob = sqlite3_column_int(st, 13);
	op->upid = col_strdup(st, 14, &oom);
	if (oom) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((op->params = json_loads(op->params_text != NULL ?
	    op->params_text : "{}", 0, &jerr)) == NULL) {
		rc = err_set(err, ERR_CORRUPT, "op %lld: params: %s",
		    (long long)op->id, jerr.text);
		goto fail;
	}
	s = (const char *)sqlite3_column_text(st, 15);
	if (s != NULL && (op->safety = json_loads(s, 0, &jerr)) == NULL) {
		rc = err_set(err, ERR_CORRUPT, "op %lld: safety: %s",
		    (long long)op->id, jerr.text);
		goto fail;
	}
	op->attempt = sqlite3_column_int(st, 16);
	op->max_attempts = sqlite3_column_int(st, 17);
	op->next_at = sqlite3_column_int64(st, 18);
	op->intent_at = sqlite3_column_int64(st, 19);
	op->created_at = sqlite3_column_int64(st, 20);
	op->updated_at = sqlite3_column_int64(st, 21);
	op->ended_at = sqlite3_column_int64(st, 22);
	op->error_code = col_strdup(st, 23, &oom);
	op->error = col_strdup(st, 24, &oom);
	op->config_digest = col_strdup(st, 25, &oom);
	op->wait_ms = sqlite3_column_int64(st, 26);
	if (oom) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	*out = op;
	return 0;
fail:
	ops_row_free(op);
	return rc;
}

static int
get_one(struct db *db, const char *sql, int64_t id, const char *uid,
    struct ops_row **out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		return rc;
	if (uid != NULL)
		(void) sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
	else
		(void) sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = row_read(db, st, out, err);
	else if (rc == SQLITE_DONE)
		rc = uid != NULL ? err_set(err, ERR_NOT_FOUND, "no op %s",
		    uid) : err_set(err, ERR_NOT_FOUND, "no op %lld",
		    (long long)id);
	else
		rc = db_error(db, rc, "read op", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
ops_get(struct db *db, int64_t id, struct ops_row **out, struct err *err)
{
	return get_one(db, SQL_GET, id, NULL, out, err);
}

int
ops_get_uid(struct db *db, const char *uid, struct ops_row **out,
    struct err *err)
{
	return get_one(db, SQL_GET_UID, 0, uid, out, err);
}

int
ops_list_active(struct db *db, struct ops_row ***out, size_t *n_out,
    struct err *err)
{
	struct ops_row **v = NULL, **nv, *op;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_ACTIVE, &st, err)) != 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		if ((rc = row_read(db, st, &op, err)) != 0)
			goto out;
		v[n++] = op;
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "list active ops", err);
		goto out;
	}
	*out = v;
	*n_out = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	(void) sqlite3_reset(st);
	ops_rows_free(v, n);
	return rc;
}

int
ops_get_state(struct db *db, int64_t id, char *state, struct err *err)
{
	sqlite3_stmt *st;
	const char *s;
	int rc;

	if ((rc = db_prepare(db, SQL_STATE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		s = (const char *)sqlite3_column_text(st, 0);
		(void) snprintf(state, OPS_STATE_MAX, "%s", s != NULL ? s : "");
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = err_set(err, ERR_NOT_FOUND, "no op %lld", (long long)id);
	else
		rc = db_error(db, rc, "read op state", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
ops_cas_state(struct db *db, int64_t id, const char *from, const char *to,
    int terminal, int64_t now, int64_t *vmid_out, char *uid_out,
    struct err *err)
{
	sqlite3_stmt *st;
	char cur[OPS_STATE_MAX];
	const char *u;
	int rc;

	if ((rc = db_prepare(db, terminal ? SQL_CAS_END : SQL_CAS, &st,
	    err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 4, now);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "update op state", err);
	if (sqlite3_changes(db_handle(db)) == 1) {
		if ((rc = db_prepare(db, SQL_VMID_UID, &st, err)) != 0)
			return rc;
		(void) sqlite3_bind_int64(st, 1, id);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			*vmid_out = sqlite3_column_int64(st, 0);
			u = (const char *)sqlite3_column_text(st, 1);
			if (uid_out != NULL)
				(void) snprintf(uid_out, OPS_UID_LEN, "%s",
				    u != NULL ? u : "");
			rc = 0;
		} else
			rc = db_error(db, rc == SQLITE_DONE ? SQLITE_INTERNAL :
			    rc, "read the op just updated", err);
		(void) sqlite3_reset(st);
		return rc;
	}
	/* No row changed: tell a lost race from a missing op. */
	if ((rc = ops_get_state(db, id, cur, err)) != 0)
		return rc;
	return err_set(err, ERR_CONFLICT, "op %lld is %s, not %s (changed by "
	    "another writer)", (long long)id, cur, from);
}

static int
update_done(struct db *db, sqlite3_stmt *st, const char *what,
    struct err *err)
{
	int rc = sqlite3_step(st);

	(void) sqlite3_reset(st);
	(void) sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, what, err);
	return 0;
}

int
ops_mark_submit(struct db *db, int64_t id, int64_t now, const char *digest,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_SUBMIT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_int64(st, 2, now);
	if (digest != NULL)
		(void) sqlite3_bind_text(st, 3, digest, -1, SQLITE_STATIC);
	return update_done(db, st, "mark op submitted", err);
}

int
ops_set_wait(struct db *db, int64_t id, int64_t wait_ms, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_WAIT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_int64(st, 2, wait_ms > 0 ? wait_ms : 0);
	return update_done(db, st, "store op wait", err);
}

int
ops_set_upid(struct db *db, int64_t id, const char *upid, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_UPID, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_text(st, 2, upid, -1, SQLITE_STATIC);
	return update_done(db, st, "store op UPID", err);
}

int
ops_set_error(struct db *db, int64_t id, const char *code, const char *msg,
    int64_t next_at, int64_t wait_ms, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_ERROR, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	if (code != NULL)
		(void) sqlite3_bind_text(st, 2, code, -1, SQLITE_STATIC);
	if (msg != NULL)
		(void) sqlite3_bind_text(st, 3, msg, -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 4, next_at);
	(void) sqlite3_bind_int64(st, 5, wait_ms > 0 ? wait_ms : 0);
	return update_done(db, st, "store op error", err);
}

int
ops_next_step(struct db *db, int64_t id, const json_t *safety,
    struct err *err)
{
	sqlite3_stmt *st;
	char *s = NULL;
	int rc;

	if (safety != NULL && (s = jsonx_dump(safety)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, SQL_NEXT_STEP, &st, err)) != 0)
		goto out;
	(void) sqlite3_bind_int64(st, 1, id);
	if (s != NULL)
		(void) sqlite3_bind_text(st, 2, s, -1, SQLITE_STATIC);
	rc = update_done(db, st, "advance op step", err);
out:
	free(s);
	return rc;
}

int
ops_mark_undo(struct db *db, int64_t id, int64_t now, int reset,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_UNDO, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_int64(st, 2, now);
	(void) sqlite3_bind_int(st, 3, reset != 0);
	return update_done(db, st, "mark op undo", err);
}

int
ops_set_next_at(struct db *db, int64_t id, int64_t at, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_NEXT_AT, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_int64(st, 2, at);
	return update_done(db, st, "set op next_at", err);
}

int
ops_set_sign_request(struct db *db, int64_t id, const void *blob,
    size_t len, int64_t not_after, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_SIGN_REQ, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	if (blob != NULL)
		(void) sqlite3_bind_blob64(st, 2, blob, len, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 3, not_after);
	return update_done(db, st, "store sign request", err);
}

int
ops_set_signature(struct db *db, int64_t id, const char *signature,
    const char *signer, const char *nonce, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_SIGNATURE, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	if (signature != NULL)
		(void) sqlite3_bind_text(st, 2, signature, -1, SQLITE_STATIC);
	if (signer != NULL)
		(void) sqlite3_bind_text(st, 3, signer, -1, SQLITE_STATIC);
	if (nonce != NULL)
		(void) sqlite3_bind_text(st, 4, nonce, -1, SQLITE_STATIC);
	return update_done(db, st, "store signature", err);
}

int
ops_set_class(struct db *db, int64_t id, enum ops_class class,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((unsigned)class >= OPS_CLASS__COUNT)
		return err_set(err, ERR_INVALID, "bad op class %d", (int)class);
	if ((rc = db_prepare(db, SQL_CLASS, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	(void) sqlite3_bind_text(st, 2, class_names[class], -1, SQLITE_STATIC);
	return update_done(db, st, "store op class", err);
}

int
ops_get_step(struct db *db, int64_t id, int *step_out, int *attempt_out,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_STEP, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*step_out = sqlite3_column_int(st, 0);
		if (attempt_out != NULL)
			*attempt_out = sqlite3_column_int(st, 1);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = err_set(err, ERR_NOT_FOUND, "no op %lld", (long long)id);
	else
		rc = db_error(db, rc, "read op step", err);
	(void) sqlite3_reset(st);
	return rc;
}

int
ops_count(struct db *db, const char *state, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, state == NULL ? SQL_COUNT_ALL :
	    terminal_name(state) ? SQL_COUNT_STATE : SQL_COUNT_ACTIVE_STATE,
	    &st, err)) != 0)
		return rc;
	if (state != NULL)
		(void) sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count ops", err);
}

int
ops_get_blob(struct db *db, int64_t id, uint8_t **out, size_t *len_out,
    struct err *err)
{
	sqlite3_stmt *st;
	const void *b;
	uint8_t *copy = NULL;
	size_t len = 0;
	int rc;

	if ((rc = db_prepare(db, SQL_BLOB, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		b = sqlite3_column_blob(st, 0);
		len = (size_t)sqlite3_column_bytes(st, 0);
		if ((copy = malloc(len + 1)) == NULL)
			rc = err_set(err, ERR_NOMEM, "out of memory");
		else {
			if (len > 0)
				memcpy(copy, b, len);
			copy[len] = 0;
			rc = 0;
		}
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = err_set(err, ERR_NOT_FOUND, "op %lld has no blob",
		    (long long)id);
	else
		rc = db_error(db, rc, "read op blob", err);
	(void) sqlite3_reset(st);
	if (rc != 0)
		return rc;
	*out = copy;
	*len_out = len;
	return 0;
}
