/*
 * db_txn — transactions, savepoints, and the tick's group commit
 * (issue 15).
 *
 * A group gathers the transactions of one engine tick into one durable
 * commit.  Inside it, db_begin() opens a savepoint in the group's own
 * transaction (begun with the first of them), db_commit() releases it
 * and db_rollback() undoes it alone, so every caller keeps its
 * all-or-nothing transaction and the code between db_begin and
 * db_commit does not change.  What changes is when the work is durable:
 * at db_group_flush() or db_group_end(), not at each db_commit().
 *
 * Write-ahead (DESIGN invariant 1) stays true only if nothing leaves
 * the process between a released transaction and the flush: the caller
 * flushes before any effect — the agent hangs db_group_flush() in front
 * of every network exchange and helper call (https_multi_set_barrier,
 * priv_client_set_barrier), and the engine ends the group before the
 * loop drives a single transfer.  A flush refuses to run while a
 * caller's transaction is open: that transaction's effect would leave
 * before it is durable, the very thing write-ahead forbids.
 */
#include <sqlite3.h>

#include "base/err.h"
#include "store/db.h"
#include "store/db_int.h"

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN_DEFERRED[] = "BEGIN DEFERRED";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_SAVEPOINT[] = "SAVEPOINT part";
static const char SQL_RELEASE[] = "RELEASE part";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO part";
/* A caller's transaction inside a group (SQLite nests savepoints). */
static const char SQL_GROUP_PART[] = "SAVEPOINT grp";
static const char SQL_GROUP_RELEASE[] = "RELEASE grp";
static const char SQL_GROUP_UNDO[] = "ROLLBACK TO grp";

/* Undoes the whole open transaction, whoever opened it. */
static void
rollback_all(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		(void) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	db->outer = 0;
}

/* A caller's transaction as a savepoint of the group's. */
static int
group_part(struct db *db, const char *begin_sql, struct err *err)
{
	int rc, opened = 0;

	if (!db->outer) {
		if ((rc = db_exec_cached(db, begin_sql, "begin transaction",
		    err)) != 0)
			return rc;
		db->outer = opened = 1;
	}
	if ((rc = db_exec_cached(db, SQL_GROUP_PART, "begin transaction",
	    err)) != 0) {
		if (opened)
			rollback_all(db);
		return rc;
	}
	db->in_txn = 1;
	return 0;
}

static int
begin_with(struct db *db, const char *sql, struct err *err)
{
	int rc;

	if (db->in_txn)
		return err_set(err, ERR_INTERNAL, "transaction already open");
	if (db->group)
		return group_part(db, sql, err);
	if ((rc = db_exec_cached(db, sql, "begin transaction", err)) != 0)
		return rc;
	db->in_txn = 1;
	return 0;
}

int
db_begin(struct db *db, struct err *err)
{
	return begin_with(db, SQL_BEGIN, err);
}

int
db_probe_write(struct db *db, struct err *err)
{
	int rc;

	/* A group's open transaction holds the write lock already. */
	if (db->outer)
		return 0;
	if ((rc = db_begin(db, err)) != 0)
		return rc;
	db_rollback(db);
	return 0;
}

int
db_begin_deferred(struct db *db, struct err *err)
{
	return begin_with(db, SQL_BEGIN_DEFERRED, err);
}

int
db_commit(struct db *db, struct err *err)
{
	int rc;

	if (!db->in_txn)
		return err_set(err, ERR_INTERNAL, "no transaction to commit");
	if (db->group) {
		/* Durable at the group's flush. */
		if ((rc = db_exec_cached(db, SQL_GROUP_RELEASE, "commit",
		    err)) != 0) {
			db_rollback(db);
			return rc;
		}
		db->in_txn = 0;
		return 0;
	}
	if ((rc = db_exec_cached(db, SQL_COMMIT, "commit", err)) != 0) {
		db_rollback(db);
		return rc;
	}
	db->in_txn = 0;
	return 0;
}

void
db_rollback(struct db *db)
{
	if (db == NULL || !db->in_txn)
		return;
	db->in_txn = 0;
	if (db->group && db->outer) {
		/* This caller's part only; the group's earlier parts stay. */
		if (db_exec_cached(db, SQL_GROUP_UNDO, "roll back", NULL) != 0 ||
		    db_exec_cached(db, SQL_GROUP_RELEASE, "roll back",
		    NULL) != 0)
			rollback_all(db);
		return;
	}
	rollback_all(db);
}

int
db_in_txn(struct db *db)
{
	return db->in_txn;
}

int
db_savepoint(struct db *db, struct err *err)
{
	if (!db->in_txn)
		return err_set(err, ERR_INTERNAL, "savepoint outside a "
		    "transaction");
	return db_exec_cached(db, SQL_SAVEPOINT, "open a savepoint", err);
}

int
db_savepoint_release(struct db *db, struct err *err)
{
	return db_exec_cached(db, SQL_RELEASE, "release a savepoint", err);
}

int
db_savepoint_undo(struct db *db, struct err *err)
{
	int rc;

	if ((rc = db_exec_cached(db, SQL_ROLLBACK_TO,
	    "roll back to a savepoint", err)) != 0)
		return rc;
	return db_exec_cached(db, SQL_RELEASE, "release a savepoint", err);
}

int
db_txn(struct db *db, db_txn_fn fn, void *ctx, struct err *err)
{
	int rc;

	if ((rc = db_begin(db, err)) != 0)
		return rc;
	if ((rc = fn(db, ctx, err)) != 0) {
		db_rollback(db);
		return rc;
	}
	return db_commit(db, err);
}

int
db_group_begin(struct db *db, struct err *err)
{
	if (db->in_txn || db->group)
		return err_set(err, ERR_INTERNAL, "group commit begun inside "
		    "a transaction");
	db->group = 1;
	db->outer = 0;
	return 0;
}

int
db_group_active(const struct db *db)
{
	return db != NULL && db->group;
}

int
db_group_flush(struct db *db, struct err *err)
{
	int rc;

	if (db != NULL && db->lost) {
		/* Once: the effects queued in the lost group are dropped. */
		db->lost = 0;
		return err_set(err, ERR_IO, "the commit of the engine step "
		    "that recorded it failed");
	}
	if (db == NULL || !db->group || !db->outer)
		return 0;
	if (db->in_txn)
		return err_set(err, ERR_INTERNAL, "an effect was about to "
		    "leave inside an open transaction: refused, it would "
		    "precede its own record (write-ahead)");
	rc = db_exec_cached(db, SQL_COMMIT, "commit", err);
	/* Failed: nothing of the group is kept, nothing of it may leave. */
	if (rc != 0)
		rollback_all(db);
	db->outer = 0;
	return rc;
}

/* The group's end failed: the next flush (the barrier's) says so. */
static int
group_lost(struct db *db, int rc)
{
	db->lost = 1;
	db->group = 0;
	return rc;
}

int
db_group_end(struct db *db, struct err *err)
{
	int rc;

	if (db == NULL || !db->group)
		return 0;
	if (db->in_txn) {
		db->in_txn = 0;
		rollback_all(db);
		return group_lost(db, err_set(err, ERR_INTERNAL, "group "
		    "commit ended inside an open transaction: the group was "
		    "rolled back"));
	}
	if ((rc = db_group_flush(db, err)) != 0)
		return group_lost(db, rc);
	db->group = 0;
	return 0;
}
