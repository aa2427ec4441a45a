/*
 * db — the one SQLite database: open with the fixed pragmas, integrity
 * and ownership checks, migrations, transactions, the agent's exclusive
 * lock, and the one translation of SQLite errors.
 *
 * SQL lives in src/store/ only.  Other store modules (ops, journal,
 * audit, nonces, ...) get the raw handle through db_handle() and report
 * failures through db_error().
 */
#ifndef FELHOM_STORE_DB_H
#define FELHOM_STORE_DB_H

#include <signal.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/err.h"

/* PRAGMA application_id of a felhom-agent database: "FHAG". */
#define DB_APPLICATION_ID	0x46484147

#define DB_OPEN_CREATE		0x1	/* create the file if missing */
#define DB_OPEN_READONLY	0x2	/* SQLITE_OPEN_READONLY, no migrate */
#define DB_OPEN_MIGRATE		0x4	/* apply pending migrations */
#define DB_OPEN_NO_BACKUP	0x8	/* skip the pre-migration copy */
#define DB_OPEN_CHECK		0x10	/* full PRAGMA integrity_check */

struct db;

/*
 * Opens path: WAL, synchronous=FULL, foreign_keys=ON, busy_timeout, and
 * the application_id (ERR_FOREIGN when the file belongs to something
 * else; a new empty file gets ours; ERR_CORRUPT when it is not a
 * database at all).  With DB_OPEN_CHECK, the full PRAGMA integrity_check
 * too (ERR_CORRUPT when not "ok").  A
 * user_version newer than this binary knows is ERR_VERSION naming both.
 * With DB_OPEN_MIGRATE, pending migrations are applied (see db_migrate).
 * Caller frees *out with db_close().
 */
int	db_open(const char *path, int flags, struct db **out, struct err *err);
void	db_close(struct db *db);

sqlite3	*db_handle(struct db *db);
/* Changes how long a writer waits for the lock (default 5000 ms). */
void	db_set_busy_timeout(struct db *db, int ms);
/*
 * Once *flag is set (the daemon's stop signal), a writer waits at most
 * 1 s for another connection's lock, then fails ERR_BUSY: a stop is not
 * held up by each last write.  The flag outlives the db.
 */
void	db_set_abort(struct db *db, volatile sig_atomic_t *flag);
const char *db_path(const struct db *db);
/*
 * issue 15: while on, this connection's DELETEs of journal and audit
 * rows pass the append-only triggers (0006) — for store/archive's move
 * only, which sets it around its DELETEs and audits the move.
 */
void	db_archive_move(struct db *db, int on);

/* The newest migration this binary embeds. */
int	db_schema_latest(void);
/* PRAGMA user_version of the open database. */
int	db_schema_version(struct db *db, int *out, struct err *err);

/*
 * Applies every pending migration in order, each in one transaction that
 * also sets user_version.  Before the first one, a database that holds
 * data is copied (SQLite backup API) to "<path>.pre-N.bak" unless
 * DB_OPEN_NO_BACKUP was given.  *version_out gets the resulting version.
 */
int	db_migrate(struct db *db, int *version_out, struct err *err);

/*
 * Transactions: BEGIN IMMEDIATE (the writer lock is taken at once, so a
 * busy database fails here, before any work), COMMIT, ROLLBACK.
 * db_rollback() is safe to call when no transaction is open.
 */
int	db_begin(struct db *db, struct err *err);
/*
 * Whether a write could commit now: takes the write lock (BEGIN
 * IMMEDIATE, waiting as any writer does) and gives it back, writing
 * nothing — no commit, no WAL frame, no fsync.  ERR_BUSY when another
 * connection held it past the busy timeout.
 */
int	db_probe_write(struct db *db, struct err *err);
/*
 * A transaction that takes each database's write lock only when it
 * first writes there: one that reads the live database and writes an
 * attached one never holds up the live database's writers (issue 15).
 */
int	db_begin_deferred(struct db *db, struct err *err);
int	db_commit(struct db *db, struct err *err);
void	db_rollback(struct db *db);
int	db_in_txn(struct db *db);

/*
 * Inside a transaction: a savepoint (one level), so that one part of a
 * group commit can be undone alone.  db_savepoint_undo() rolls back to
 * it and releases it; the transaction stays open either way.
 */
int	db_savepoint(struct db *db, struct err *err);
int	db_savepoint_release(struct db *db, struct err *err);
int	db_savepoint_undo(struct db *db, struct err *err);

/*
 * The group commit of one engine tick (issue 15; db_txn.c says how).
 * Between db_group_begin() and db_group_end(), db_begin()/db_commit()/
 * db_rollback() keep their meaning for the caller (all or nothing) but
 * a commit is a savepoint's release: the tick's transactions become
 * durable together, at db_group_flush() or db_group_end(), in one
 * fsync.  The caller must flush before anything leaves the process
 * (write-ahead): db_group_flush() refuses (ERR_INTERNAL) while a
 * caller's transaction is open.  A failed flush or end rolls the whole
 * group back; the group stays on after a flush, until db_group_end().
 * After a failed db_group_end(), the next db_group_flush() fails once
 * (ERR_IO, "not sent: ..."): the barrier in front of the network drops
 * the requests queued for the lost group.  Otherwise both are no-ops
 * without a group.
 */
int	db_group_begin(struct db *db, struct err *err);
int	db_group_flush(struct db *db, struct err *err);
int	db_group_end(struct db *db, struct err *err);
int	db_group_active(const struct db *db);

/*
 * Runs fn(db, ctx, err) inside one transaction: commit when fn returns 0,
 * roll back otherwise, returning fn's code.
 */
typedef int (*db_txn_fn)(struct db *db, void *ctx, struct err *err);
int	db_txn(struct db *db, db_txn_fn fn, void *ctx, struct err *err);

/*
 * Translates an SQLite result code into an ERR_* with a message naming
 * what was being done: SQLITE_BUSY/LOCKED → ERR_BUSY, SQLITE_FULL →
 * ERR_FULL, SQLITE_READONLY → ERR_READONLY, SQLITE_CORRUPT/NOTADB →
 * ERR_CORRUPT, SQLITE_CONSTRAINT → ERR_CONFLICT, SQLITE_NOMEM →
 * ERR_NOMEM, anything else ERR_IO.
 */
int	db_error(struct db *db, int rc, const char *what, struct err *err);

/*
 * Prepares sql (cached per connection for the life of db); the statement
 * is reset and its bindings cleared.  Borrowed: do not finalize it.
 */
int	db_prepare(struct db *db, const char *sql, sqlite3_stmt **out,
	    struct err *err);

/*
 * The first column of the single row an unbound query returns (a count,
 * a pragma) into *out; *out is written only on success.  A query that
 * returns no row is an error (ERR_IO).
 */
int	db_scalar_i64(struct db *db, const char *sql, const char *what,
	    int64_t *out, struct err *err);

/*
 * Column readers for building JSON from a row: the text, the integer,
 * or the unix time as RFC 3339 — each JSON null when the column is NULL.
 * NULL only on allocation failure (json_pack then fails, as it should).
 */
json_t	*db_col_text(sqlite3_stmt *st, int col);
json_t	*db_col_int(sqlite3_stmt *st, int col);
json_t	*db_col_time(sqlite3_stmt *st, int col);

/* Executes SQL text with no results (migrations, pragmas). */
int	db_exec(struct db *db, const char *sql, const char *what,
	    struct err *err);
/*
 * One statement without rows through the statement cache (prepared
 * once, reset after each run): for a statement run over and over.  sql
 * must be a static string, the cache's key.
 */
int	db_exec_cached(struct db *db, const char *sql, const char *what,
	    struct err *err);

/* The full PRAGMA integrity_check: ERR_CORRUPT naming the first fault. */
int	db_check(struct db *db, struct err *err);

/* The lock file's size: its text, padded with empty lines. */
#define DB_LOCK_TEXT_LEN	256

/* What the lock file says, and who holds it (db_lock_probe). */
struct db_lock_info {
	int	 existed;	/* the file was there */
	int	 running;	/* "state running": its holder died (unclean) */
	char	 db_id[40];	/* "db ID": it had opened that database */
	char	 version[64];	/* "version V", "" unknown */
	int64_t	 started_at;	/* "started T", unix seconds, 0 unknown */
	int	 held;		/* probe: a live process holds the lock */
	long	 pid;		/* probe: the holder (0 when none) */
};

/*
 * Takes the agent's exclusive lock on "<dbpath>.lock": an fcntl() record
 * lock, so that the kernel can
 * name its holder (db_lock_probe): it is not inherited by children, and
 * closing any descriptor of the lock file in this process drops it — the
 * process must not open the file anywhere else.  A second agent gets
 * ERR_LOCKED "another felhom-agent (pid N) ...".  *prev (may be NULL)
 * gets what the file said before.  *fd_out stays open for the life of
 * the process.
 */
int	db_lock_agent(const char *dbpath, int *fd_out,
	    struct db_lock_info *prev, struct err *err);

/*
 * Rewrites the lock file: "pid N", "state running|stopped", "version V",
 * "started T" (unix seconds) and "db ID" (db_id may be NULL), synced.
 * "running" until a clean exit writes "stopped": a start that finds
 * "running" follows an unclean shutdown.
 */
int	db_lock_mark(int fd, const char *state, const char *db_id,
	    struct err *err);

/*
 * Is an agent running on dbpath, and since when?  Reads the lock file
 * and asks the kernel (F_GETLK) without taking the lock, so an agent
 * starting meanwhile is never disturbed.  No lock file, or nobody
 * holding it, is held = 0 and 0 returned; ERR_IO / ERR_PERMISSION when
 * the file cannot be read.
 */
int	db_lock_probe(const char *dbpath, struct db_lock_info *out,
	    struct err *err);

/*
 * PRAGMA integrity_check: *ok_out 1 when the database is sound; else
 * up to `max` of its findings in *problems_out (a JSON array of strings,
 * caller decrefs; empty when ok).
 */
int	db_integrity_check(struct db *db, size_t max, int *ok_out,
	    json_t **problems_out, struct err *err);

/*
 * Copies the database, consistent as of one instant, to a new file
 * `path` with the SQLite online backup API (safe while the agent
 * writes: one read transaction over the WAL).  The copy is in
 * rollback-journal mode (readable without write access to a -shm),
 * mode 0600, fsynced, and appears atomically: written beside path under
 * a temporary name, then linked.  An existing path is ERR_CONFLICT
 * (nothing overwritten); ERR_IO when the directory cannot be written.
 */
int	db_backup(struct db *db, const char *path, struct err *err);

#endif
