/*
 * provenance — the agent's own creations.
 */
#include <stdint.h>
#include <string.h>

#include "store/db.h"
#include "store/provenance.h"

static const char *const kind_names[PROVENANCE__COUNT] = {
	[PROVENANCE_GUEST] = "guest",
	[PROVENANCE_SNAPSHOT] = "snapshot",
	[PROVENANCE_BACKUP] = "backup",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) ==
    PROVENANCE__COUNT, "kind_names must name every kind");

static const char SQL_RECORD[] =
    "INSERT INTO provenance (kind, vmid, name, op_id, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, vmid, name) DO UPDATE "
    "SET op_id = excluded.op_id, created_at = excluded.created_at";
static const char SQL_HAS[] =
    "SELECT coalesce(op_id, 0) FROM provenance "
    "WHERE kind = ?1 AND vmid = ?2 AND name = ?3";
static const char SQL_FORGET_ONE[] =
    "DELETE FROM provenance WHERE kind = ?1 AND vmid = ?2 AND name = ?3";
static const char SQL_FORGET_ALL[] =
    "DELETE FROM provenance WHERE kind = ?1 AND vmid = ?2";
static const char SQL_COUNT[] =
    "SELECT count(*) FROM provenance WHERE ?1 IS NULL OR kind = ?1";

const char *
provenance_kind_name(int kind)
{
	if (kind < 0 || kind >= PROVENANCE__COUNT)
		return "unknown";
	return kind_names[kind];
}

int
provenance_kind_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < PROVENANCE__COUNT; i++)
		if (strcmp(kind_names[i], s) == 0)
			return i;
	return -1;
}

static int
check_kind(enum provenance_kind kind, struct err *err)
{
	if ((unsigned)kind >= PROVENANCE__COUNT)
		return err_set(err, ERR_INVALID, "provenance kind %d",
		    (int)kind);
	return 0;
}

int
provenance_record(struct db *db, enum provenance_kind kind, int64_t vmid,
    const char *name, int64_t op_id, int64_t now, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = check_kind(kind, err)) != 0)
		return rc;
	/* written with the creation it describes, never alone. */
	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "provenance_record called "
		    "outside the transaction that records the creation");
	if ((rc = db_prepare(db, SQL_RECORD, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, kind_names[kind], -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 2, vmid);
	(void) sqlite3_bind_text(st, 3, name != NULL ? name : "", -1,
	    SQLITE_STATIC);
	if (op_id > 0)
		(void) sqlite3_bind_int64(st, 4, op_id);
	else
		(void) sqlite3_bind_null(st, 4);
	(void) sqlite3_bind_int64(st, 5, now);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "record provenance", err);
	return 0;
}

int
provenance_has(struct db *db, enum provenance_kind kind, int64_t vmid,
    const char *name, int *found_out, int64_t *op_id_out, struct err *err)
{
	sqlite3_stmt *st;
	int64_t op_id = 0;
	int rc;

	if ((rc = check_kind(kind, err)) != 0)
		return rc;
	if ((rc = db_prepare(db, SQL_HAS, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, kind_names[kind], -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 2, vmid);
	(void) sqlite3_bind_text(st, 3, name != NULL ? name : "", -1,
	    SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		op_id = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(db, rc, "look up provenance", err);
	*found_out = rc == SQLITE_ROW;
	if (op_id_out != NULL)
		*op_id_out = op_id;
	return 0;
}

int
provenance_forget(struct db *db, enum provenance_kind kind, int64_t vmid,
    const char *name, int64_t *n_out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = check_kind(kind, err)) != 0)
		return rc;
	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "provenance_forget called "
		    "outside the transaction that records the deletion");
	if ((rc = db_prepare(db, name != NULL ? SQL_FORGET_ONE :
	    SQL_FORGET_ALL, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, kind_names[kind], -1, SQLITE_STATIC);
	(void) sqlite3_bind_int64(st, 2, vmid);
	if (name != NULL)
		(void) sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "forget provenance", err);
	if (n_out != NULL)
		*n_out = sqlite3_changes(db_handle(db));
	return 0;
}

int
provenance_count(struct db *db, int kind, int64_t *out, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (kind >= PROVENANCE__COUNT)
		return err_set(err, ERR_INVALID, "provenance kind %d", kind);
	if ((rc = db_prepare(db, SQL_COUNT, &st, err)) != 0)
		return rc;
	if (kind >= 0)
		(void) sqlite3_bind_text(st, 1, kind_names[kind], -1,
		    SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	(void) sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_error(db, rc, "count provenance",
	    err);
}
