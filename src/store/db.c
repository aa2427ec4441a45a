/*
 * db — open, pragmas, checks, migrations, transactions, the agent lock
 * .  The one place where SQLite result codes are translated.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/crash.h"
#include "base/err.h"
#include "store/db.h"
#include "store/db_int.h"
#include "store/dbpath.h"
#include "store/migrations.h"

#define DB_BUSY_TIMEOUT_MS	5000
#define DB_BUSY_STOPPING_MS	1000	/* the wait once asked to stop */


int
db_error(struct db *db, int rc, const char *what, struct err *err)
{
	const char *msg = db != NULL && db->h != NULL ? sqlite3_errmsg(db->h) :
	    sqlite3_errstr(rc);
	const char *path = db != NULL && db->path != NULL ? db->path : "database";
	int sys = db != NULL && db->h != NULL ? sqlite3_system_errno(db->h) : 0;

	/*
	 * SQLite says "disk I/O error" for a full or read-only filesystem
	 * met outside a plain write (the -shm, an fsync, a truncate): the
	 * OS error tells, so disk full is ERR_FULL wherever it shows, at
	 * start-up as while running (exit 74 either way, issue 17).
	 */
	if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT))
		return err_set(err, ERR_FULL, "%s: %s: disk or database is "
		    "full: %s (%s)", path, what, msg, strerror(sys));
	if ((rc & 0xff) == SQLITE_IOERR && sys == EROFS)
		return err_set(err, ERR_READONLY, "%s: %s: database is "
		    "read-only: %s (%s)", path, what, msg, strerror(sys));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(err, ERR_BUSY, "%s: %s: database is busy "
		    "(another writer holds it): %s", path, what, msg);
	case SQLITE_FULL:
		return err_set(err, ERR_FULL, "%s: %s: disk or database is "
		    "full: %s", path, what, msg);
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		if ((rc & 0xff) == SQLITE_CANTOPEN)
			return err_set(err, ERR_IO, "%s: %s: cannot open: %s",
			    path, what, msg);
		return err_set(err, ERR_READONLY, "%s: %s: database is "
		    "read-only: %s", path, what, msg);
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return err_set(err, ERR_CORRUPT, "%s: %s: database file is "
		    "corrupt or not a database: %s", path, what, msg);
	case SQLITE_CONSTRAINT:
		return err_set(err, ERR_CONFLICT, "%s: %s: %s", path, what,
		    msg);
	case SQLITE_NOMEM:
		return err_set(err, ERR_NOMEM, "%s: %s: out of memory", path,
		    what);
	default:
		return err_set(err, ERR_IO, "%s: %s: %s", path, what, msg);
	}
}

/*
 * Waits for another writer's lock: SQLite's own schedule
 * (sqliteDefaultBusyCallback: 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50,
 * then 100 ms steps) up to busy_ms.  Once the abort flag is set, a
 * statement waits at most DB_BUSY_STOPPING_MS in all: a daemon asked to
 * stop while another connection holds the database exits in seconds
 * (issue 17: SIGTERM within 5 s in every state) instead of waiting out
 * each of its last writes.  A signal ends a sleep early; the flag is
 * read at each step.
 */
static int
busy_wait(void *ctx, int count)
{
	static const int delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
	    50, 100 };
	const int n = (int)(sizeof(delays) / sizeof(delays[0]));
	struct db *db = ctx;
	struct timespec ts;
	int delay, prior = 0, limit = db->busy_ms, i;

	if (db->abort_flag != NULL && *db->abort_flag != 0 &&
	    limit > DB_BUSY_STOPPING_MS)
		limit = DB_BUSY_STOPPING_MS;
	if (count < n) {
		delay = delays[count];
		for (i = 0; i < count; i++)
			prior += delays[i];
	} else {
		delay = delays[n - 1];
		for (i = 0; i < n - 1; i++)
			prior += delays[i];
		prior += delay * (count - (n - 1));
	}
	if (prior >= limit)
		return 0;
	if (prior + delay > limit)
		delay = limit - prior;
	ts.tv_sec = delay / 1000;
	ts.tv_nsec = (long)(delay % 1000) * 1000000L;
	(void) nanosleep(&ts, NULL);
	return 1;
}

int
db_exec(struct db *db, const char *sql, const char *what, struct err *err)
{
	char *emsg = NULL;
	int rc;

	rc = sqlite3_exec(db->h, sql, NULL, NULL, &emsg);
	sqlite3_free(emsg);
	if (rc != SQLITE_OK)
		return db_error(db, rc, what, err);
	return 0;
}

/*
 * A statement without rows through the statement cache: the transaction
 * statements run once or more per transaction, and parsing them again
 * each time (sqlite3_exec) cost about a tenth of a signed job's accept
 * path (issue 15).  sql must be a static string (the cache's key).
 */
int
db_exec_cached(struct db *db, const char *sql, const char *what,
    struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		return rc;
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, what, err);
	return 0;
}


int
db_scalar_i64(struct db *db, const char *sql, const char *what,
    int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int64_t v;
	int rc;

	if ((rc = db_prepare(db, sql, &st, err)) != 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		(void) sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return err_set(err, ERR_IO, "%s: no row", what);
		return db_error(db, rc, what, err);
	}
	v = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	*out = v;
	return 0;
}

static int
pragma_int(struct db *db, const char *sql, int *out, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rc = db_error(db, rc, sql, err);
		goto out;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = db_error(db, rc, sql, err);
		goto out;
	}
	*out = sqlite3_column_int(st, 0);
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * PRAGMA integrity_check: the full check (indexes against their tables
 * too, which quick_check skips).  Run after an unclean shutdown and by
 * `felhom-admin db check`, not on every open: its cost grows with
 * the database.
 */
static int
integrity_check(struct db *db, struct err *err)
{
	json_t *problems = NULL;
	size_t n;
	int ok = 0, rc;

	if ((rc = db_integrity_check(db, 20, &ok, &problems, err)) != 0)
		return rc;
	n = json_array_size(problems);
	if (!ok)
		rc = err_set(err, ERR_CORRUPT, "%s: integrity check failed (%zu "
		    "problem%s): %s; restore the database from a backup (see "
		    "docs/recovery.md)", db->path, n, n == 1 ? "" : "s", n > 0 ?
		    json_string_value(json_array_get(problems, 0)) : "?");
	json_decref(problems);
	return rc;
}

int
db_check(struct db *db, struct err *err)
{
	return integrity_check(db, err);
}

static int
has_tables(struct db *db, int *out, struct err *err)
{
	return pragma_int(db, "SELECT count(*) FROM sqlite_master", out, err);
}

int
db_schema_latest(void)
{
	return migrations_count == 0 ? 0 :
	    migrations[migrations_count - 1].version;
}

int
db_schema_version(struct db *db, int *out, struct err *err)
{
	return pragma_int(db, "PRAGMA user_version", out, err);
}

/*
 * issue 10: the state lives 0600 in a 0700 directory.  The directory of
 * path is made 0700 when it is missing (its parent must exist; an
 * existing one is the operator's and is left as it is).
 */
static int
state_dir(const char *path, struct err *err)
{
	char dir[4096], *slash;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return err_set(err, ERR_INVALID, "%s: path too long", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		char why[1024];
		int e = errno;

		/* Name the cause (a missing parent directory). */
		if (dbpath_explain(path, why, sizeof(why)))
			return err_set(err, ERR_IO, "%s: cannot use the "
			    "database: %s", path, why);
		return err_set(err, ERR_IO, "%s: cannot create the state "
		    "directory: %s", dir, strerror(e));
	}
	return 0;
}

/*
 * Makes path (a file of ours) 0600 when group or others have any bit:
 * a database or lock file an older version left with the caller's
 * umask.  A file of another user is not ours to change; a link is not
 * followed.
 */
static int
tighten(const char *path, struct err *err)
{
	struct stat st;

	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) == 0)
		return 0;
	if (chmod(path, st.st_mode & 0700) != 0)
		return err_set(err, ERR_IO, "%s: cannot make it private "
		    "(mode %04o): %s", path, (unsigned)(st.st_mode & 07777),
		    strerror(errno));
	return 0;
}

/*
 * Before SQLite opens path for writing: a new database file is created
 * 0600 here (SQLite then gives -wal and -shm the database file's mode),
 * and the existing ones are tightened.
 */
static int
private_files(const char *path, int create, struct err *err)
{
	static const char *const sfx[] = { "", "-wal", "-shm", NULL };
	char side[4200];
	size_t i;
	int fd, rc;

	if (create) {
		if ((rc = state_dir(path, err)) != 0)
			return rc;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd >= 0)
			(void) close(fd);
		else if (errno != EEXIST)
			return err_set(err, ERR_IO, "%s: cannot create the "
			    "database: %s", path, strerror(errno));
	}
	for (i = 0; sfx[i] != NULL; i++) {
		(void) snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
		if ((rc = tighten(side, err)) != 0)
			return rc;
	}
	return 0;
}

#ifdef SQLITE_INNOCUOUS
#define DB_FN_INNOCUOUS	SQLITE_INNOCUOUS
#else
#define DB_FN_INNOCUOUS	0
#endif

#ifdef FELHOM_TESTING
/*
 * Test hook (issue 15): with FELHOM_TEST_VM_STEPS=PATH, every statement's
 * SQLite VM steps are summed and "vm_steps N" appended to PATH when the
 * connection closes — what a command cost, independent of the machine's
 * speed, so a test can tell that it does not grow with the data.
 */
static int
vm_trace(unsigned type, void *ctx, void *p, void *x)
{
	struct db *db = ctx;

	(void) x;
	if (type == SQLITE_TRACE_PROFILE)
		db->vm_steps += sqlite3_stmt_status(p,
		    SQLITE_STMTSTATUS_VM_STEP, 1);
	return 0;
}

static void
vm_steps_report(const struct db *db)
{
	const char *path = getenv("FELHOM_TEST_VM_STEPS");
	FILE *f;

	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "vm_steps %lld\n", (long long)db->vm_steps);
	(void) fclose(f);
}
#endif

/* felhom_archive_move(): 1 while this connection moves rows to archive. */
static void
archive_move_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const struct db *db = sqlite3_user_data(ctx);

	(void) argc;
	(void) argv;
	sqlite3_result_int(ctx, db->archive_move);
}

void
db_archive_move(struct db *db, int on)
{
	db->archive_move = on != 0;
}

int
db_open(const char *path, int flags, struct db **out, struct err *err)
{
	struct db *db = NULL;
	int oflags, rc, appid, ntables, version, jm;
	char pragmas[256];

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->path = strdup(path)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	db->flags = flags;
	if (!(flags & DB_OPEN_READONLY) && (rc = private_files(path,
	    (flags & DB_OPEN_CREATE) != 0, err)) != 0)
		goto out;
	if (flags & DB_OPEN_READONLY)
		oflags = SQLITE_OPEN_READONLY;
	else
		oflags = SQLITE_OPEN_READWRITE |
		    ((flags & DB_OPEN_CREATE) ? SQLITE_OPEN_CREATE : 0);
	oflags |= SQLITE_OPEN_NOMUTEX;
	rc = sqlite3_open_v2(path, &db->h, oflags, NULL);
	if (rc != SQLITE_OK) {
		char why[1024];

		if ((rc & 0xff) == SQLITE_CANTOPEN &&
		    dbpath_explain(path, why, sizeof(why)))
			rc = err_set(err, ERR_IO, "%s: cannot open the "
			    "database: %s", path, why);
		else if ((rc & 0xff) == SQLITE_CANTOPEN)
			rc = err_set(err, ERR_IO, "%s: cannot open database "
			    "(%s)%s", path, strerror(errno),
			    (flags & DB_OPEN_CREATE) ? "" :
			    "; create it with 'felhom-admin db migrate'");
		else
			rc = db_error(db, rc, "open", err);
		goto out;
	}
	(void) sqlite3_extended_result_codes(db->h, 1);
	db->busy_ms = DB_BUSY_TIMEOUT_MS;
	(void) sqlite3_busy_handler(db->h, busy_wait, db);
#ifdef FELHOM_TESTING
	if (getenv("FELHOM_TEST_VM_STEPS") != NULL)
		(void) sqlite3_trace_v2(db->h, SQLITE_TRACE_PROFILE, vm_trace,
		    db);
#endif
	/* 0006: the append-only triggers' one exception (db_archive_move). */
	rc = sqlite3_create_function_v2(db->h, "felhom_archive_move", 0,
	    SQLITE_UTF8 | DB_FN_INNOCUOUS, db, archive_move_fn, NULL, NULL,
	    NULL);
	if (rc != SQLITE_OK) {
		rc = db_error(db, rc, "register functions", err);
		goto out;
	}
	/* SQLite falls back to read-only on a file it may not write. */
	if (!(flags & DB_OPEN_READONLY) &&
	    sqlite3_db_readonly(db->h, "main") == 1) {
		char why[1024];

		if (!dbpath_explain(path, why, sizeof(why)))
			(void) snprintf(why, sizeof(why), "the file is "
			    "read-only");
		rc = err_set(err, ERR_READONLY, "%s: cannot write the "
		    "database: %s", path, why);
		goto out;
	}

	/* Reading the header first tells "not a database" from the rest. */
	if ((rc = has_tables(db, &ntables, err)) != 0 ||
	    (rc = pragma_int(db, "PRAGMA application_id", &appid, err)) != 0)
		goto out;
	if (appid != DB_APPLICATION_ID && !(appid == 0 && ntables == 0)) {
		rc = err_set(err, ERR_FOREIGN, "%s: not a felhom-agent "
		    "database (application_id %d, expected %d); refusing to "
		    "touch it", path, appid, DB_APPLICATION_ID);
		goto out;
	}
	if ((flags & DB_OPEN_CHECK) && (rc = integrity_check(db, err)) != 0)
		goto out;
	if ((rc = db_schema_version(db, &version, err)) != 0)
		goto out;
	if (version > db_schema_latest()) {
		rc = err_set(err, ERR_VERSION, "%s: database schema %d is "
		    "newer than this felhom-agent knows (schema %d); run a "
		    "newer version or restore a backup", path, version,
		    db_schema_latest());
		goto out;
	}
	if (!(flags & DB_OPEN_READONLY)) {
		(void) snprintf(pragmas, sizeof(pragmas),
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
		    "PRAGMA foreign_keys=ON;%s",
		    "");
		if (appid == 0) {
			char setid[64];

			(void) snprintf(setid, sizeof(setid),
			    "PRAGMA application_id=%d", DB_APPLICATION_ID);
			if ((rc = db_exec(db, setid, "set application_id",
			    err)) != 0)
				goto out;
		}
		if ((rc = db_exec(db, pragmas, "set pragmas", err)) != 0)
			goto out;
		if ((rc = pragma_int(db, "PRAGMA journal_mode='wal'", &jm,
		    err)) != 0)
			goto out;
	} else if ((rc = db_exec(db, "PRAGMA foreign_keys=ON",
	    "set pragmas", err)) != 0)
		goto out;
	if ((flags & DB_OPEN_MIGRATE) && !(flags & DB_OPEN_READONLY) &&
	    (rc = db_migrate(db, &version, err)) != 0)
		goto out;
	*out = db;
	db = NULL;
	rc = 0;
out:
	db_close(db);
	return rc;
}

void
db_close(struct db *db)
{
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].stmt);
	if (db->h != NULL)
		(void) sqlite3_close_v2(db->h);
#ifdef FELHOM_TESTING
	if (db->h != NULL && getenv("FELHOM_TEST_VM_STEPS") != NULL)
		vm_steps_report(db);
#endif
	free(db->path);
	free(db);
}

sqlite3 *
db_handle(struct db *db)
{
	return db->h;
}

void
db_set_busy_timeout(struct db *db, int ms)
{
	db->busy_ms = ms > 0 ? ms : 0;
}

void
db_set_abort(struct db *db, volatile sig_atomic_t *flag)
{
	db->abort_flag = flag;
}

const char *
db_path(const struct db *db)
{
	return db->path;
}

static int
backup_copy(struct db *db, int from, struct err *err)
{
	char *bpath = NULL;
	size_t n;
	int rc;

	n = strlen(db->path) + 32;
	if ((bpath = malloc(n)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	(void) snprintf(bpath, n, "%s.pre-%d.bak", db->path, from + 1);
	/* A copy left by an earlier, failed migration is replaced. */
	(void) unlink(bpath);
	rc = db_backup(db, bpath, err);
	free(bpath);
	return rc;
}

/*
 * PRAGMA foreign_key_check inside a migration's transaction: a migration
 * that rebuilds a table others refer to runs with foreign keys off
 * (SQLite's documented procedure), so nothing else would notice a row it
 * left without its parent.
 */
static int
fk_check(struct db *db, struct err *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db->h, "PRAGMA foreign_key_check", -1, &st,
	    NULL);
	if (rc != SQLITE_OK)
		return db_error(db, rc, "foreign key check", err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = err_set(err, ERR_CORRUPT, "table %s row %lld would refer "
		    "to a missing row of %s (rolled back, nothing changed)",
		    (const char *)sqlite3_column_text(st, 0),
		    (long long)sqlite3_column_int64(st, 1),
		    (const char *)sqlite3_column_text(st, 2));
	else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = db_error(db, rc, "foreign key check", err);
	sqlite3_finalize(st);
	return rc;
}

/* The pending migrations, with foreign keys off (see fk_check). */
static int
migrate_steps(struct db *db, int *version, struct err *err)
{
	char setv[64];
	size_t i;
	int rc;

	for (i = 0; i < migrations_count; i++) {
		const struct migration *m = &migrations[i];

		if (m->version <= *version)
			continue;
		if ((rc = db_begin(db, err)) != 0)
			return rc;
		(void) snprintf(setv, sizeof(setv), "PRAGMA user_version=%d",
		    m->version);
		if ((rc = db_exec(db, m->sql, m->name, err)) != 0 ||
		    (rc = fk_check(db, err)) != 0 ||
		    (rc = db_exec(db, setv, m->name, err)) != 0) {
			db_rollback(db);
			return err_prefix(err, "migration %s: ", m->name);
		}
		crash_point("db.migrate.before_commit");
		if ((rc = db_commit(db, err)) != 0)
			return rc;
		*version = m->version;
	}
	return 0;
}

int
db_migrate(struct db *db, int *version_out, struct err *err)
{
	struct err xe;
	int version, ntables, rc;

	if ((rc = db_schema_version(db, &version, err)) != 0 ||
	    (rc = has_tables(db, &ntables, err)) != 0)
		return rc;
	if (version > db_schema_latest())
		return err_set(err, ERR_VERSION, "%s: database schema %d is "
		    "newer than this binary knows (schema %d)", db->path,
		    version, db_schema_latest());
	if (version < db_schema_latest() && ntables > 0 &&
	    !(db->flags & DB_OPEN_NO_BACKUP) &&
	    (rc = backup_copy(db, version, err)) != 0)
		return rc;
	if (version < db_schema_latest()) {
		/*
		 * SQLite's "Making Other Kinds Of Table Schema Changes": a
		 * table others refer to is rebuilt with foreign keys off (the
		 * pragma does nothing inside a transaction), checked with
		 * foreign_key_check before each commit, and on again after.
		 */
		if ((rc = db_exec(db, "PRAGMA foreign_keys=OFF", "migrations",
		    err)) != 0)
			return rc;
		rc = migrate_steps(db, &version, err);
		err_init(&xe);
		if (db_exec(db, "PRAGMA foreign_keys=ON", "migrations",
		    &xe) != 0 && rc == 0)
			rc = err_copy(err, &xe);
		if (rc != 0)
			return rc;
	}
	if (version_out != NULL)
		*version_out = version;
	return 0;
}

int
db_prepare(struct db *db, const char *sql, sqlite3_stmt **out,
    struct err *err)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	for (i = 0; i < db->ncache; i++)
		if (db->cache[i].sql == sql) {
			(void) sqlite3_reset(db->cache[i].stmt);
			(void) sqlite3_clear_bindings(db->cache[i].stmt);
			*out = db->cache[i].stmt;
			return 0;
		}
	rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_error(db, rc, "prepare statement", err);
	if (db->ncache < DB_STMT_CACHE) {
		db->cache[db->ncache].sql = sql;
		db->cache[db->ncache].stmt = st;
		db->ncache++;
	} else {
		/* Cache full: evict the oldest entry. */
		sqlite3_finalize(db->cache[0].stmt);
		memmove(&db->cache[0], &db->cache[1],
		    sizeof(db->cache[0]) * (DB_STMT_CACHE - 1));
		db->cache[DB_STMT_CACHE - 1].sql = sql;
		db->cache[DB_STMT_CACHE - 1].stmt = st;
	}
	*out = st;
	return 0;
}

/* A write lock on the whole lock file (fcntl: F_GETLK tells the pid). */
static void
lock_whole(struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = F_WRLCK;
	fl->l_whence = SEEK_SET;
	fl->l_start = 0;
	fl->l_len = 0;
}

/*
 * The facts of the lock file's "key value" lines (db_lock_mark): "pid N",
 * "state running|stopped", "version V", "started T", "db ID".
 */
static void
lock_parse(const char *text, struct db_lock_info *out)
{
	const char *p = text, *nl;
	char *end;
	size_t n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n > 6 && strncmp(p, "state ", 6) == 0)
			out->running = n == 13 && strncmp(p + 6, "running",
			    7) == 0;
		else if (n > 3 && strncmp(p, "db ", 3) == 0 &&
		    n - 3 < sizeof(out->db_id))
			(void) snprintf(out->db_id, sizeof(out->db_id), "%.*s",
			    (int)(n - 3), p + 3);
		else if (n > 8 && strncmp(p, "version ", 8) == 0 &&
		    n - 8 < sizeof(out->version))
			(void) snprintf(out->version, sizeof(out->version),
			    "%.*s", (int)(n - 8), p + 8);
		else if (n > 8 && strncmp(p, "started ", 8) == 0) {
			out->started_at = strtoll(p + 8, &end, 10);
			if (end != p + n)
				out->started_at = 0;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
}

int
db_lock_agent(const char *dbpath, int *fd_out, struct db_lock_info *prev,
    struct err *err)
{
	struct db_lock_info info;
	char path[4096], old[DB_LOCK_TEXT_LEN + 1];
	struct flock fl;
	struct stat sb;
	ssize_t n;
	int fd, rc;

	memset(&info, 0, sizeof(info));
	if ((size_t)snprintf(path, sizeof(path), "%s.lock", dbpath) >=
	    sizeof(path))
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	if ((rc = state_dir(dbpath, err)) != 0 ||
	    (rc = tighten(path, err)) != 0)
		return rc;
	info.existed = stat(path, &sb) == 0;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		char why[1024];
		int e = errno;

		/* Name the cause (a missing directory), not the lock file. */
		if (dbpath_explain(dbpath, why, sizeof(why)))
			return err_set(err, ERR_IO, "%s: cannot use the "
			    "database: %s", dbpath, why);
		return err_set(err, e == EACCES ? ERR_PERMISSION : ERR_IO,
		    "%s: cannot open lock file: %s", path, strerror(e));
	}
	/* An fcntl lock, so that the kernel can name its holder. */
	lock_whole(&fl);
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		int e = errno;
		long pid = 0;

		lock_whole(&fl);
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			pid = (long)fl.l_pid;
		(void) close(fd);
		if (e == EACCES || e == EAGAIN)
			return err_set(err, ERR_LOCKED, "another felhom-agent "
			    "(pid %ld) is running on %s; only one agent may "
			    "use a database", pid, dbpath);
		return err_set(err, ERR_IO, "%s: lock: %s", path,
		    strerror(e));
	}
	n = pread(fd, old, sizeof(old) - 1, 0);
	old[n > 0 ? n : 0] = '\0';
	lock_parse(old, &info);
	if (prev != NULL)
		*prev = info;
	*fd_out = fd;
	return 0;
}

int
db_lock_mark(int fd, const char *state, const char *db_id, struct err *err)
{
	char text[DB_LOCK_TEXT_LEN];
	int n;

	n = snprintf(text, sizeof(text), "pid %ld\nstate %s\nversion %s\n"
	    "started %lld\n%s%s%s", (long)getpid(), state, FELHOM_VERSION,
	    (long long)clock_now(NULL), db_id != NULL && db_id[0] != '\0' ?
	    "db " : "", db_id != NULL ? db_id : "", db_id != NULL &&
	    db_id[0] != '\0' ? "\n" : "");
	if (n < 0 || (size_t)n >= sizeof(text))
		return err_set(err, ERR_INVALID, "lock file text too long");
	/*
	 * One fixed-size write in place, padded with empty lines: a
	 * reader (db_lock_probe) never sees the file empty or half old,
	 * as it could between a truncate and a write.  The next start
	 * reads it: written through to the disk.
	 */
	memset(text + n, '\n', sizeof(text) - (size_t)n);
	if (pwrite(fd, text, sizeof(text), 0) != (ssize_t)sizeof(text) ||
	    ftruncate(fd, (off_t)sizeof(text)) != 0 || fdatasync(fd) != 0)
		return err_set(err, ERR_IO, "cannot write the lock file: %s",
		    strerror(errno));
	return 0;
}

int
db_lock_probe(const char *dbpath, struct db_lock_info *out, struct err *err)
{
	char path[4096], buf[DB_LOCK_TEXT_LEN + 1];
	struct flock fl;
	ssize_t n;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if ((size_t)snprintf(path, sizeof(path), "%s.lock", dbpath) >=
	    sizeof(path))
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno == EACCES ? ERR_PERMISSION : ERR_IO,
		    "%s: %s", path, strerror(errno));
	}
	out->existed = 1;
	/* Asks the kernel; takes nothing (an agent may start meanwhile). */
	lock_whole(&fl);
	if (fcntl(fd, F_GETLK, &fl) != 0) {
		rc = err_set(err, ERR_IO, "%s: lock query: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) < 0) {
		rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	lock_parse(buf, out);
	if (fl.l_type != F_UNLCK) {
		out->held = 1;
		out->pid = (long)fl.l_pid;
	}
	rc = 0;
out:
	(void) close(fd);
	return rc;
}

int
db_integrity_check(struct db *db, size_t max, int *ok_out,
    json_t **problems_out, struct err *err)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *res;
	json_t *arr = NULL;
	int rc, ok = 0;

	if ((arr = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = sqlite3_prepare_v2(db->h, "PRAGMA integrity_check", -1, &st,
	    NULL);
	if (rc != SQLITE_OK) {
		rc = db_error(db, rc, "integrity check", err);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		res = sqlite3_column_text(st, 0);
		if (res != NULL && strcmp((const char *)res, "ok") == 0) {
			ok = 1;
			continue;
		}
		if (json_array_size(arr) < max && json_array_append_new(arr,
		    json_string(res != NULL ? (const char *)res : "?")) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		/* A database too damaged to check is not sound either. */
		if ((rc & 0xff) != SQLITE_CORRUPT &&
		    (rc & 0xff) != SQLITE_NOTADB) {
			rc = db_error(db, rc, "integrity check", err);
			goto out;
		}
		ok = 0;
		if (json_array_append_new(arr, json_string(sqlite3_errmsg(
		    db->h))) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	*ok_out = ok && json_array_size(arr) == 0;
	*problems_out = arr;
	arr = NULL;
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(arr);
	return rc;
}

/* fsync of the directory holding path (the new name is durable). */
static int
sync_dir(const char *path)
{
	char *dir, *slash;
	int fd, rc = 0;

	if ((dir = strdup(path)) == NULL)
		return ERR_NOMEM;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		(void) snprintf(dir, strlen(dir) + 1, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fsync(fd) != 0)
		rc = ERR_IO;
	if (fd >= 0)
		(void) close(fd);
	free(dir);
	return rc;
}

int
db_backup(struct db *db, const char *path, struct err *err)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *bk = NULL;
	char *tmp = NULL;
	size_t n;
	int fd = -1, rc, linked = 0, made = 0;

	n = strlen(path) + 16;
	if ((tmp = malloc(n)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	(void) snprintf(tmp, n, "%s.tmp-XXXXXX", path);
	if (access(path, F_OK) == 0) {
		rc = err_set(err, ERR_CONFLICT, "%s: exists; nothing was "
		    "overwritten", path);
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		rc = err_set(err, ERR_IO, "%s: cannot create a file there: %s",
		    path, strerror(errno));
		goto out;
	}
	made = 1;
	(void) fchmod(fd, 0600);
	rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(err, ERR_IO, "%s: %s", path, dst != NULL ?
		    sqlite3_errmsg(dst) : sqlite3_errstr(rc));
		goto out;
	}
	if ((bk = sqlite3_backup_init(dst, "main", db->h, "main")) == NULL) {
		rc = err_set(err, ERR_IO, "%s: %s", path, sqlite3_errmsg(dst));
		goto out;
	}
	/* All pages in one step: one read transaction, one instant. */
	rc = sqlite3_backup_step(bk, -1);
	(void) sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		rc = (rc & 0xff) == SQLITE_BUSY ||
		    (rc & 0xff) == SQLITE_LOCKED ?
		    err_set(err, ERR_BUSY, "%s: the database is busy: %s",
		    path, sqlite3_errstr(rc)) : (rc & 0xff) == SQLITE_FULL ?
		    err_set(err, ERR_FULL, "%s: disk full", path) :
		    err_set(err, ERR_IO, "%s: %s", path, sqlite3_errstr(rc));
		goto out;
	}
	/* Readable without a -shm: rollback-journal mode, synced. */
	rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL,
	    NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(err, ERR_IO, "%s: %s", path, sqlite3_errmsg(dst));
		goto out;
	}
	rc = sqlite3_close(dst);
	dst = NULL;
	if (rc != SQLITE_OK || fsync(fd) != 0) {
		rc = err_set(err, ERR_IO, "%s: cannot sync the copy: %s", path,
		    strerror(errno));
		goto out;
	}
	/* link() never replaces: a file that appeared meanwhile stays. */
	if (link(tmp, path) != 0) {
		rc = err_set(err, errno == EEXIST ? ERR_CONFLICT : ERR_IO,
		    "%s: %s: %s", path, errno == EEXIST ? "it appeared "
		    "meanwhile; nothing was overwritten" : "cannot create it",
		    strerror(errno));
		goto out;
	}
	linked = 1;
	if (sync_dir(path) != 0) {
		rc = err_set(err, ERR_IO, "%s: cannot sync its directory: %s",
		    path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (dst != NULL)
		(void) sqlite3_close(dst);
	if (fd >= 0)
		(void) close(fd);
	if (made)
		(void) unlink(tmp);
	if (rc != 0 && linked)
		(void) unlink(path);
	free(tmp);
	return rc;
}

json_t *
db_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s != NULL ? json_string((const char *)s) : json_null();
}

json_t *
db_col_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}

json_t *
db_col_time(sqlite3_stmt *st, int col)
{
	char ts[CLOCK_RFC3339_LEN];

	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	clock_format_rfc3339(sqlite3_column_int64(st, col), ts, sizeof(ts));
	return json_string(ts);
}
