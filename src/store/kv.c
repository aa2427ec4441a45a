/*
 * kv — small named values.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/kv.h"

static const char SQL_GET[] = "SELECT value FROM kv WHERE key = ?1";
static const char SQL_SET[] =
    "INSERT INTO kv (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
    "WHERE value IS NOT excluded.value";	/* issue 15: same: no write */
static const char SQL_CAS[] =
    "UPDATE kv SET value = ?3 WHERE key = ?1 AND value = ?2";

int
kv_get(struct db *db, const char *key, char **out, struct err *err)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc;

	if ((rc = db_prepare(db, SQL_GET, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = db_error(db, rc, "read kv", err);
		goto out;
	}
	v = sqlite3_column_text(st, 0);
	if ((*out = strdup(v != NULL ? (const char *)v : "")) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	(void) sqlite3_reset(st);
	return rc;
}

int
kv_get_int(struct db *db, const char *key, int64_t dflt, int64_t *out,
    struct err *err)
{
	char *v = NULL, *end;
	long long n;
	int rc;

	rc = kv_get(db, key, &v, err);
	if (rc == ERR_NOT_FOUND) {
		*out = dflt;
		return 0;
	}
	if (rc != 0)
		return rc;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end != '\0')
		rc = err_set(err, ERR_CORRUPT, "kv %s: '%s' is not an integer",
		    key, v);
	else
		*out = n;
	free(v);
	return rc;
}

int
kv_set(struct db *db, const char *key, const char *value, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = db_prepare(db, SQL_SET, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "write kv", err);
	return 0;
}

int
kv_set_int(struct db *db, const char *key, int64_t value, struct err *err)
{
	char buf[32];

	(void) snprintf(buf, sizeof(buf), "%" PRId64, value);
	return kv_set(db, key, buf, err);
}

int
kv_next(struct db *db, const char *key, int64_t *out, struct err *err)
{
	int64_t v;
	int rc;

	if ((rc = kv_get_int(db, key, 0, &v, err)) != 0 ||
	    (rc = kv_set_int(db, key, v + 1, err)) != 0)
		return rc;
	*out = v + 1;
	return 0;
}

int
kv_cas_int(struct db *db, const char *key, int64_t expect, int64_t value,
    int *swapped_out, struct err *err)
{
	sqlite3_stmt *st;
	char e[32], v[32];
	int rc;

	(void) snprintf(e, sizeof(e), "%" PRId64, expect);
	(void) snprintf(v, sizeof(v), "%" PRId64, value);
	if ((rc = db_prepare(db, SQL_CAS, &st, err)) != 0)
		return rc;
	(void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 2, e, -1, SQLITE_STATIC);
	(void) sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	(void) sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_error(db, rc, "write kv", err);
	*swapped_out = sqlite3_changes(db_handle(db)) > 0;
	return 0;
}
