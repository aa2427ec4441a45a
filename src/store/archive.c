/*
 * archive — retention: terminal ops, their journal and audit rows move
 * to monthly archive databases (issue 15).  See archive.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/crash.h"
#include "base/json.h"
#include "store/archive.h"
#include "store/audit.h"

/* 'FHAR': an archive, never opened as a live database. */
#define ARCHIVE_APPLICATION_ID	1179140434

#define TERMINAL "('succeeded', 'failed', 'rejected', 'expired', " \
	"'superseded', 'cancelled', 'rolled_back')"

/*
 * Due ops, oldest first (index ops_ended).  Each NOT EXISTS is one
 * index probe: nonces_op, converge (a few rows), restore_test_runs_open,
 * audit_op, journal_op.
 */
static const char SQL_DUE_OPS[] =
    "SELECT o.id, o.ended_at FROM ops o "
    "WHERE o.ended_at < ?1 AND o.state IN " TERMINAL " "
    "AND NOT EXISTS (SELECT 1 FROM nonces n WHERE n.op_id = o.id) "
    "AND NOT EXISTS (SELECT 1 FROM converge c WHERE c.op_id = o.id) "
    "AND NOT EXISTS (SELECT 1 FROM restore_test_runs r WHERE "
    "r.op_id = o.id AND r.phase <> 'done') "
    "AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.op_id = o.id AND "
    "(a.seq > ?2 OR a.seq >= (SELECT max(seq) FROM audit))) "
    "AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.op_id = o.id AND "
    "j.id >= (SELECT max(id) FROM journal)) "
    "ORDER BY o.ended_at, o.id LIMIT ?3";
/* Audit rows of no op, oldest first (index audit_op). */
static const char SQL_DUE_AUDIT[] =
    "SELECT seq, at FROM audit WHERE op_id IS NULL AND seq <= ?1 AND "
    "seq < (SELECT max(seq) FROM audit) ORDER BY seq LIMIT ?2";
static const char SQL_ATTACH[] = "ATTACH DATABASE ?1 AS archive";

/* A table moved: its key column, and the column the ids select on. */
struct mv {
	const char	*table;
	const char	*key;
	const char	*by;
};

static const struct mv mv_ops[] = {
	{ "ops", "id", "id" },
	{ "journal", "id", "op_id" },
	{ "audit", "seq", "op_id" },
};
static const struct mv mv_audit[] = {
	{ "audit", "seq", "seq" },
};

/* What the archive file holds besides the tables (idempotent). */
static const char SQL_ARCHIVE_EXTRA[] =
    "CREATE UNIQUE INDEX IF NOT EXISTS archive.ops_id ON ops (id);"
    "CREATE INDEX IF NOT EXISTS archive.ops_uid ON ops (uid);"
    "CREATE INDEX IF NOT EXISTS archive.ops_ended ON ops (ended_at);"
    "CREATE UNIQUE INDEX IF NOT EXISTS archive.journal_id ON journal (id);"
    "CREATE INDEX IF NOT EXISTS archive.journal_op ON journal (op_id, id);"
    "CREATE UNIQUE INDEX IF NOT EXISTS archive.audit_seq ON audit (seq);"
    "CREATE INDEX IF NOT EXISTS archive.audit_op ON audit (op_id);"
    "CREATE TRIGGER IF NOT EXISTS archive.ops_no_update BEFORE UPDATE ON "
    "ops BEGIN SELECT RAISE(ABORT, 'archived ops are read-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS archive.ops_no_delete BEFORE DELETE ON "
    "ops BEGIN SELECT RAISE(ABORT, 'archived ops are read-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS archive.journal_no_update BEFORE UPDATE "
    "ON journal BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS archive.journal_no_delete BEFORE DELETE "
    "ON journal BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS archive.audit_no_update BEFORE UPDATE "
    "ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS archive.audit_no_delete BEFORE DELETE "
    "ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE VIEW IF NOT EXISTS archive.v_ops AS "
    "SELECT o.id, o.uid, o.vmid, o.kind, o.source, o.class, o.state, "
    "o.step, o.attempt, o.upid, o.why, o.error_code, o.error, o.signer, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', o.created_at, 'unixepoch') AS created, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', o.updated_at, 'unixepoch') AS updated, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', o.ended_at, 'unixepoch') AS ended, "
    "o.params FROM ops o;"
    "CREATE VIEW IF NOT EXISTS archive.v_journal AS "
    "SELECT j.id, strftime('%Y-%m-%dT%H:%M:%SZ', j.at, 'unixepoch') AS at, "
    "o.uid AS op, o.vmid, o.kind, j.from_state, j.event, j.to_state, "
    "j.step, j.detail FROM journal j LEFT JOIN ops o ON o.id = j.op_id;"
    "CREATE VIEW IF NOT EXISTS archive.v_audit AS "
    "SELECT a.seq, strftime('%Y-%m-%dT%H:%M:%SZ', a.at, 'unixepoch') AS at, "
    "a.event, a.decision, a.code, o.uid AS op, a.vmid, a.actor, a.detail, "
    "a.data FROM audit a LEFT JOIN ops o ON o.id = a.op_id;";

static double
mono_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
archive_path(const struct db *db, int64_t t, char *out, size_t n,
    struct err *err)
{
	const char *path = db_path(db), *slash = strrchr(path, '/');
	time_t tt = (time_t)t;
	struct tm tm;
	char month[16];
	int dlen = slash != NULL ? (int)(slash - path) : 1;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(month, sizeof(month), "%Y-%m", &tm) == 0)
		return err_set(err, ERR_INVALID, "archive: bad time %" PRId64,
		    t);
	if ((size_t)snprintf(out, n, "%.*s/archive-%s.db", dlen,
	    slash != NULL ? path : ".", month) >= n)
		return err_set(err, ERR_INVALID, "%s: path too long", path);
	return 0;
}

static int
exec_fmt(struct db *db, const char *what, struct err *err, const char *fmt,
    ...)
{
	va_list ap;
	char *sql;
	int rc;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sql == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = db_exec(db, sql, what, err);
	sqlite3_free(sql);
	return rc;
}

/* An integer from sql (made with sqlite3_mprintf, freed here). */
static int
scalar_sql(struct db *db, char *sql, const char *ids, int64_t *out,
    struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sql == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	sqlite3_free(sql);
	if (rc != SQLITE_OK)
		return db_error(db, rc, "archive query", err);
	if (ids != NULL)
		(void) sqlite3_bind_text(st, 1, ids, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else
		rc = db_error(db, rc, "archive query", err);
	sqlite3_finalize(st);
	return rc;
}

/*
 * The columns of main.<table> as a list ("a", "b", ...); the archive's
 * table gets any it lacks (a newer schema added them).
 */
static int
columns(struct db *db, const char *table, char **out, struct err *err)
{
	sqlite3_stmt *st = NULL;
	const char *name;
	char *list = NULL, *next;
	int64_t have;
	int rc;

	rc = sqlite3_prepare_v2(db_handle(db), "SELECT name FROM "
	    "pragma_table_info(?1, 'main') ORDER BY cid", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(db, rc, "archive: table columns", err);
	(void) sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		if (name == NULL)
			continue;
		if ((rc = scalar_sql(db, sqlite3_mprintf("SELECT count(*) FROM "
		    "pragma_table_info(%Q, 'archive') WHERE name = %Q", table,
		    name), NULL, &have, err)) != 0)
			goto out;
		if (have == 0 && (rc = exec_fmt(db, "archive: add a column",
		    err, "ALTER TABLE archive.%w ADD COLUMN \"%w\"", table,
		    name)) != 0)
			goto out;
		next = list == NULL ? sqlite3_mprintf("\"%w\"", name) :
		    sqlite3_mprintf("%s, \"%w\"", list, name);
		sqlite3_free(list);
		if ((list = next) == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(db, rc, "archive: table columns", err);
		goto out;
	}
	if (list == NULL) {
		rc = err_set(err, ERR_INTERNAL, "archive: no table %s", table);
		goto out;
	}
	*out = list;
	list = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_free(list);
	return rc;
}

/* Creates the archive file 0600 (SQLite would use the umask). */
static int
create_private(const char *path, struct err *err)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(err, ERR_IO, "%s: cannot create the archive: %s",
		    path, strerror(errno));
	(void) close(fd);
	return 0;
}

/* Attaches path as "archive", with its tables; in no transaction. */
static int
attach(struct db *db, const char *path, struct err *err)
{
	static const char *const tables[] = { "ops", "journal", "audit" };
	sqlite3_stmt *st = NULL;
	int64_t appid, ntables;
	char *cols;
	size_t i;
	int rc;

	if ((rc = create_private(path, err)) != 0)
		return rc;
	rc = sqlite3_prepare_v2(db_handle(db), SQL_ATTACH, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		(void) sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		(void) db_error(db, rc, "attach the archive", err);
		return err_prefix(err, "%s: ", path);
	}
	if ((rc = scalar_sql(db, sqlite3_mprintf("PRAGMA "
	    "archive.application_id"), NULL, &appid, err)) != 0 ||
	    (rc = scalar_sql(db, sqlite3_mprintf("SELECT count(*) FROM "
	    "archive.sqlite_master"), NULL, &ntables, err)) != 0)
		return rc;
	if (appid != ARCHIVE_APPLICATION_ID && !(appid == 0 && ntables == 0))
		return err_set(err, ERR_FOREIGN, "%s: not a felhom-agent "
		    "archive (application_id %" PRId64 "); move it away, "
		    "nothing was written to it", path, appid);
	if ((rc = db_exec(db, "PRAGMA archive.synchronous=FULL",
	    "archive pragmas", err)) != 0 ||
	    (rc = db_begin_deferred(db, err)) != 0)
		return rc;
	if (appid == 0 && (rc = exec_fmt(db, "archive: application_id", err,
	    "PRAGMA archive.application_id=%d", ARCHIVE_APPLICATION_ID)) != 0)
		goto fail;
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if ((rc = exec_fmt(db, "archive: create a table", err,
		    "CREATE TABLE IF NOT EXISTS archive.%w AS SELECT * FROM "
		    "main.%w WHERE 0", tables[i], tables[i])) != 0 ||
		    (rc = columns(db, tables[i], &cols, err)) != 0)
			goto fail;
		sqlite3_free(cols);
	}
	if ((rc = db_exec(db, SQL_ARCHIVE_EXTRA, "archive: indexes, "
	    "triggers, views", err)) != 0 ||
	    (rc = db_commit(db, err)) != 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return err_prefix(err, "%s: ", path);
}

static void
detach(struct db *db)
{
	(void) sqlite3_exec(db_handle(db), "DETACH DATABASE archive", NULL,
	    NULL, NULL);
}

/* Copies the rows of ids into the archive (a copy already there stays). */
static int
copy_rows(struct db *db, const struct mv *m, size_t nm, const char *ids,
    struct err *err)
{
	sqlite3_stmt *st = NULL;
	char *cols = NULL, *sql;
	size_t i;
	int rc;

	for (i = 0; i < nm; i++) {
		if ((rc = columns(db, m[i].table, &cols, err)) != 0)
			return rc;
		sql = sqlite3_mprintf("INSERT OR IGNORE INTO archive.%w (%s) "
		    "SELECT %s FROM main.%w WHERE %w IN (SELECT value FROM "
		    "json_each(?1)) ORDER BY %w", m[i].table, cols, cols,
		    m[i].table, m[i].by, m[i].key);
		sqlite3_free(cols);
		if (sql == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		rc = sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
		sqlite3_free(sql);
		if (rc == SQLITE_OK) {
			(void) sqlite3_bind_text(st, 1, ids, -1,
			    SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE)
			return db_error(db, rc, "copy rows to the archive",
			    err);
	}
	return 0;
}

/*
 * Deletes the rows of ids from the live tables, each only once the
 * archive holds it; *counts gets the rows deleted per table.
 */
static int
delete_rows(struct db *db, const struct mv *m, size_t nm, const char *ids,
    size_t *counts, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int64_t missing;
	char *sql;
	size_t i;
	int rc;

	for (i = 0; i < nm; i++)
		if ((rc = scalar_sql(db, sqlite3_mprintf("SELECT count(*) FROM "
		    "main.%w m WHERE m.%w IN (SELECT value FROM json_each(?1)) "
		    "AND NOT EXISTS (SELECT 1 FROM archive.%w a WHERE a.%w = "
		    "m.%w)", m[i].table, m[i].by, m[i].table, m[i].key,
		    m[i].key), ids, &missing, err)) != 0)
			return rc;
		else if (missing > 0)
			return err_set(err, ERR_CORRUPT, "archive: %" PRId64
			    " %s row(s) are not in the archive after the copy; "
			    "nothing deleted", missing, m[i].table);
	/* Children first (foreign keys): the table list ends with them. */
	db_archive_move(db, 1);
	for (i = nm; i-- > 0;) {
		sql = sqlite3_mprintf("DELETE FROM main.%w WHERE %w IN (SELECT "
		    "value FROM json_each(?1))", m[i].table, m[i].by);
		if (sql == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			break;
		}
		rc = sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
		sqlite3_free(sql);
		if (rc == SQLITE_OK) {
			(void) sqlite3_bind_text(st, 1, ids, -1,
			    SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		st = NULL;
		if (rc != SQLITE_DONE) {
			rc = db_error(db, rc, "delete archived rows", err);
			break;
		}
		counts[i] = (size_t)sqlite3_changes(db_handle(db));
		rc = 0;
	}
	db_archive_move(db, 0);
	return rc;
}

static int
audit_move(struct db *db, int64_t now, const struct archive_result *r,
    int64_t first, int64_t last, int orphans, struct err *err)
{
	struct audit_event ev;
	char detail[ARCHIVE_FILE_MAX + 200];
	json_t *data;
	int rc;

	if ((data = json_pack("{s:s,s:I,s:I,s:I,s:s,s:I,s:I}", "file", r->file,
	    "ops", (json_int_t)r->ops, "journal", (json_int_t)r->journal,
	    "audit", (json_int_t)r->audit, "by", orphans ? "audit_seq" :
	    "op_id", "first", (json_int_t)first, "last", (json_int_t)last)) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	(void) snprintf(detail, sizeof(detail), "%zu op(s), %zu journal and "
	    "%zu audit row(s) moved to %s (retention)", r->ops, r->journal,
	    r->audit, r->file);
	memset(&ev, 0, sizeof(ev));
	ev.at = now;
	ev.event = "retention";
	ev.decision = "archived";
	ev.code = "archived";
	ev.detail = detail;
	ev.data = data;
	rc = audit_append(db, &ev, NULL, err);
	json_decref(data);
	return rc;
}

/* The due rows (ids, JSON array text) of one month; *t_out its time. */
static int
due(struct db *db, const char *sql, int64_t a, int64_t b, int64_t lim,
    int64_t cutoff, int stop_at_cutoff, json_t **ids_out, int64_t *t_out,
    struct err *err)
{
	sqlite3_stmt *st;
	json_t *ids;
	char m0[16], m[16];
	struct tm tm;
	time_t tt;
	int64_t t;
	int rc;

	if ((ids = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_prepare(db, sql, &st, err)) != 0) {
		json_decref(ids);
		return rc;
	}
	(void) sqlite3_bind_int64(st, 1, a);
	(void) sqlite3_bind_int64(st, 2, b);
	if (lim > 0)
		(void) sqlite3_bind_int64(st, 3, lim);
	m0[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		t = sqlite3_column_int64(st, 1);
		if (stop_at_cutoff && t >= cutoff)
			break;
		tt = (time_t)t;
		if (gmtime_r(&tt, &tm) == NULL ||
		    strftime(m, sizeof(m), "%Y-%m", &tm) == 0)
			break;
		if (m0[0] == '\0') {
			(void) snprintf(m0, sizeof(m0), "%s", m);
			*t_out = t;
		} else if (strcmp(m, m0) != 0)
			break;		/* one month's file per step */
		if (json_array_append_new(ids, json_integer(
		    sqlite3_column_int64(st, 0))) != 0) {
			(void) sqlite3_reset(st);
			json_decref(ids);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	(void) sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		json_decref(ids);
		return db_error(db, rc, "find rows due for the archive", err);
	}
	*ids_out = ids;
	return 0;
}

int
archive_step(struct db *db, int64_t now, int64_t cutoff, int64_t audit_upto,
    size_t batch, struct archive_result *out, struct err *err)
{
	const struct mv *m = mv_ops;
	size_t nm = sizeof(mv_ops) / sizeof(mv_ops[0]), counts[3] = { 0 };
	json_t *ids = NULL;
	char *idtext = NULL;
	int64_t t = 0, first, last;
	double t0;
	int rc, orphans = 0;

	memset(out, 0, sizeof(*out));
	if (batch == 0)
		batch = ARCHIVE_BATCH;
	if ((rc = due(db, SQL_DUE_OPS, cutoff, audit_upto, (int64_t)batch,
	    cutoff, 0, &ids, &t, err)) != 0)
		return rc;
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		ids = NULL;
		orphans = 1;
		m = mv_audit;
		nm = 1;
		if ((rc = due(db, SQL_DUE_AUDIT, audit_upto,
		    (int64_t)batch * 4, 0, cutoff, 1, &ids, &t, err)) != 0)
			return rc;
	}
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return 0;		/* nothing due: nothing written */
	}
	first = json_integer_value(json_array_get(ids, 0));
	last = json_integer_value(json_array_get(ids,
	    json_array_size(ids) - 1));
	if ((idtext = jsonx_dump(ids)) == NULL) {
		json_decref(ids);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	json_decref(ids);
	if ((rc = archive_path(db, t, out->file, sizeof(out->file), err)) != 0)
		goto out;
	if ((rc = attach(db, out->file, err)) != 0)
		goto out;
	/*
	 * 1: into the archive (committed there first).  The live database
	 * is only read: its writers (the engine) do not wait for this.
	 */
	if ((rc = db_begin_deferred(db, err)) != 0)
		goto out;
	if ((rc = copy_rows(db, m, nm, idtext, err)) != 0 ||
	    (rc = db_commit(db, err)) != 0) {
		db_rollback(db);
		goto out;
	}
	crash_point("archive.copied");
	/*
	 * 2: out of the live tables, audited, once the archive has them:
	 * the only part that holds the live database's write lock.
	 */
	t0 = mono_ms();
	if ((rc = db_begin(db, err)) != 0)
		goto out;
	if ((rc = delete_rows(db, m, nm, idtext, counts, err)) != 0)
		goto fail;
	if (orphans)
		out->audit = counts[0];
	else {
		out->ops = counts[0];
		out->journal = counts[1];
		out->audit = counts[2];
	}
	if ((rc = audit_move(db, now, out, first, last, orphans, err)) != 0)
		goto fail;
	crash_point("archive.before_commit");
	if ((rc = db_commit(db, err)) != 0)
		goto out;
	out->lock_ms = mono_ms() - t0;
	rc = 0;
	goto out;
fail:
	db_rollback(db);
out:
	detach(db);
	free(idtext);
	if (rc != 0)
		out->ops = out->journal = out->audit = 0;
	return rc;
}
