/*
 * test_dbstate —: a database created on purpose, never
 * recreated silently where one existed, a restored or WAL-less one
 * detected (nonce floor moved, audited), the full integrity check.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "store/audit.h"
#include "store/db.h"
#include "store/dbstate.h"
#include "store/kv.h"
#include "testutil.h"

#define NOW	1780000000

static char *dir;
static char dbpath[512];

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

static int
exists(const char *suffix)
{
	char p[600];
	struct stat sb;

	(void) snprintf(p, sizeof(p), "%s%s", dbpath, suffix);
	return stat(p, &sb) == 0;
}

static struct db *
open_db(int flags)
{
	struct db *db = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_MIGRATE | flags, &db, &err) == 0,
	    "open: %s", err.msg);
	return db;
}

static void
audit_one(struct db *db, const char *code)
{
	struct audit_event ev = { .at = NOW, .event = "gate", .code = code };

	ck_assert_int_eq(audit_append(db, &ev, NULL, NULL), 0);
}

static int64_t
kvi(struct db *db, const char *key)
{
	int64_t v = -1;

	ck_assert_int_eq(kv_get_int(db, key, -1, &v, NULL), 0);
	return v;
}

START_TEST(a_clean_directory_gets_a_database_with_floor_and_marker)
{
	struct dbstate_marker m;
	struct db *db;
	int created = 0;
	char *id = NULL;

	ck_assert_int_eq(dbstate_ensure(dbpath, NULL, NOW, &created, NULL), 0);
	ck_assert_int_eq(created, 1);
	ck_assert(!exists(".new"));
	ck_assert_int_eq(dbstate_marker_read(dbpath, &m, NULL), 0);
	ck_assert_int_eq(m.present, 1);
	ck_assert_int_eq(m.created_at, NOW);
	db = open_db(0);
	ck_assert_int_eq(kvi(db, DBSTATE_KV_FLOOR), NOW);
	ck_assert_int_eq(kv_get(db, DBSTATE_KV_ID, &id, NULL), 0);
	ck_assert_str_eq(id, m.db_id);
	free(id);
	db_close(db);
	/* There now: left alone. */
	ck_assert_int_eq(dbstate_ensure(dbpath, NULL, NOW + 5, &created, NULL),
	    0);
	ck_assert_int_eq(created, 0);
}
END_TEST

/* Each piece of evidence alone refuses a missing or empty database. */
static const char *const evidence[] = { ".marker", ".lock", "-wal",
    ".pre-3.bak" };

START_TEST(a_missing_or_empty_database_where_one_existed_is_refused)
{
	struct db_lock_info lk;
	struct err err;
	char p[600];
	int created = 0, i;

	memset(&lk, 0, sizeof(lk));
	(void) snprintf(p, sizeof(p), "%s%s", dbpath, evidence[_i]);
	if (strcmp(evidence[_i], ".lock") == 0)
		(void) snprintf(lk.db_id, sizeof(lk.db_id), "%032x", 7);
	ck_assert_int_eq(tu_write_file(p, "x", 1, 0600), 0);
	for (i = 0; i < 2; i++) {
		/* Deleted, then 0 bytes. */
		if (i == 1)
			ck_assert_int_eq(tu_write_file(dbpath, "", 0, 0600), 0);
		err_init(&err);
		ck_assert_int_eq(dbstate_ensure(dbpath, &lk, NOW, &created,
		    &err), ERR_NOT_FOUND);
		ck_assert_int_eq(created, 0);
		ck_assert_ptr_nonnull(strstr(err.msg, "felhom-admin db init"));
		ck_assert_ptr_nonnull(strstr(err.msg, evidence[_i]));
	}
	/* Nothing was made. */
	ck_assert(!exists(".new"));
	{
		struct stat sb;

		ck_assert_int_eq(stat(dbpath, &sb), 0);
		ck_assert_int_eq(sb.st_size, 0);
	}
}
END_TEST

START_TEST(a_deliberate_create_refuses_a_database_and_sets_a_stale_wal_aside)
{
	char id[DBSTATE_ID_LEN];
	struct err err;

	ck_assert_int_eq(dbstate_create(dbpath, NOW, NOW - 60, id, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(dbstate_create(dbpath, NOW, NOW, NULL, &err),
	    ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "already"));
	/* Deleted, its -wal left behind: never replayed into the new one. */
	ck_assert_int_eq(unlink(dbpath), 0);
	ck_assert_int_eq(tu_write_file(dbpath + 0, "", 0, 0600), 0);
	{
		char w[600];

		(void) snprintf(w, sizeof(w), "%s-wal", dbpath);
		ck_assert_int_eq(tu_write_file(w, "garbage", 7, 0600), 0);
	}
	ck_assert_int_eq(dbstate_create(dbpath, NOW + 1, NOW + 1, NULL, NULL),
	    0);
	ck_assert(exists("-wal.old"));
	db_close(open_db(DB_OPEN_CHECK));
}
END_TEST

/* The agent's start after the database (audit seq) fell behind. */
START_TEST(a_database_behind_its_marker_is_restored_floor_moves)
{
	struct dbstate_verdict v;
	struct dbstate_marker m;
	struct db *db;
	char copy[600];
	int created = 0;
	int64_t seen = 0;
	json_t *a = NULL;

	ck_assert_int_eq(dbstate_ensure(dbpath, NULL, NOW, &created, NULL), 0);
	db = open_db(0);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 0, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 0);
	/* A backup taken now ... */
	(void) snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	ck_assert_int_eq(db_backup(db, copy, NULL), 0);
	/* ... then a nonce accepted (audited), the marker kept up. */
	audit_one(db, "accepted");
	ck_assert_int_eq(dbstate_note(db, dbpath, &seen, NULL), 0);
	ck_assert_int_eq(seen, 1);
	db_close(db);
	/* The copy is restored in its place. */
	ck_assert_int_eq(rename(copy, dbpath), 0);
	db = open_db(0);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 0, NOW + 100,
	    NOW + 221, &v, NULL),
	    0);
	ck_assert_int_eq(v.restored, 1);
	ck_assert_ptr_nonnull(strstr(v.why, "behind its marker"));
	ck_assert_int_eq(kvi(db, DBSTATE_KV_FLOOR), NOW + 221);
	ck_assert_int_eq(kvi(db, DBSTATE_KV_RESTORED), NOW + 100);
	ck_assert_int_eq(audit_since(db, 0, 10, &a, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a,
	    0), "code")), "restored");
	json_decref(a);
	/* The marker follows it: the next start is plain. */
	ck_assert_int_eq(dbstate_marker_read(dbpath, &m, NULL), 0);
	ck_assert_int_eq(m.audit_seq, 1);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 0, NOW + 200,
	    NOW + 321, &v, NULL),
	    0);
	ck_assert_int_eq(v.restored, 0);
	ck_assert_int_eq(kvi(db, DBSTATE_KV_FLOOR), NOW + 221);
	db_close(db);
}
END_TEST

START_TEST(another_database_or_a_lost_wal_counts_as_restored)
{
	struct dbstate_verdict v;
	struct dbstate_marker m;
	struct db *db;
	int created = 0;

	ck_assert_int_eq(dbstate_ensure(dbpath, NULL, NOW, &created, NULL), 0);
	db = open_db(0);
	/* Unclean, and the -wal gone: commits may be lost. */
	ck_assert_int_eq(dbstate_check(db, dbpath, 1, 1, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 1);
	ck_assert_ptr_nonnull(strstr(v.why, "-wal is gone"));
	/* Unclean with its -wal, or a clean stop: nothing lost. */
	ck_assert_int_eq(dbstate_check(db, dbpath, 1, 0, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 0);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 1, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 0);
	/* The marker names another database. */
	ck_assert_int_eq(dbstate_marker_read(dbpath, &m, NULL), 0);
	(void) snprintf(m.db_id, sizeof(m.db_id), "%032x", 1);
	ck_assert_int_eq(dbstate_marker_write(dbpath, &m, NULL), 0);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 0, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 1);
	ck_assert_ptr_nonnull(strstr(v.why, "not the one"));
	db_close(db);
}
END_TEST

/* An older database (no id, no marker) is adopted, not "restored". */
START_TEST(a_database_from_before_markers_is_adopted)
{
	struct dbstate_verdict v;
	struct dbstate_marker m;
	struct db *db = NULL;

	ck_assert_int_eq(db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    NULL), 0);
	ck_assert_int_eq(dbstate_check(db, dbpath, 0, 0, NOW, NOW, &v,
	    NULL), 0);
	ck_assert_int_eq(v.restored, 0);
	ck_assert_int_eq(v.adopted, 1);
	ck_assert_int_eq(kvi(db, DBSTATE_KV_FLOOR), -1);
	ck_assert_int_eq(dbstate_marker_read(dbpath, &m, NULL), 0);
	ck_assert_str_eq(m.db_id, v.db_id);
	db_close(db);
}
END_TEST

/*
 * an index that no longer matches its table passes quick_check
 * (what every open ran) but not integrity_check (DB_OPEN_CHECK, db
 * check); a plain open checks nothing.
 */
START_TEST(integrity_check_catches_what_quick_check_misses)
{
	struct db *db = NULL;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	struct err err;
	char sql[256], *quick = NULL;
	int root = 0;

	ck_assert_int_eq(dbstate_create(dbpath, NOW, NOW, NULL, NULL), 0);
	db = open_db(0);
	ck_assert_int_eq(db_exec(db, "INSERT INTO nonces VALUES ("
	    "'0123456789abcdef0123456789abcdef', NULL, 's', 1, 100), ("
	    "'1123456789abcdef0123456789abcdef', NULL, 's', 1, 200)", "t",
	    NULL), 0);
	db_close(db);
	/* Unhook the nonces_expiry index, change the table, hook it back. */
	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT rootpage FROM "
	    "sqlite_master WHERE name = 'nonces_expiry'", -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	root = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA writable_schema=ON; DELETE "
	    "FROM sqlite_master WHERE name = 'nonces_expiry'", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "UPDATE nonces SET expires_at = "
	    "expires_at + 1000", NULL, NULL, NULL), SQLITE_OK);
	(void) snprintf(sql, sizeof(sql), "PRAGMA writable_schema=ON; INSERT "
	    "INTO sqlite_master VALUES ('index', 'nonces_expiry', 'nonces', "
	    "%d, 'CREATE INDEX nonces_expiry ON nonces (expires_at)')", root);
	ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	/* quick_check says ok ... */
	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA quick_check", -1, &st,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	quick = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	ck_assert_str_eq(quick, "ok");
	free(quick);
	/* ... a plain open checks nothing, the full check refuses it. */
	db = open_db(0);
	db_close(db);
	err_init(&err);
	ck_assert_int_eq(db_open(dbpath, DB_OPEN_READONLY | DB_OPEN_CHECK, &db,
	    &err), ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "integrity check failed"));
	ck_assert_ptr_nonnull(strstr(err.msg, "nonces_expiry"));
}
END_TEST

static Suite *
dbstate_suite(void)
{
	Suite *s = suite_create("dbstate");
	TCase *tc = tcase_create("dbstate");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    a_clean_directory_gets_a_database_with_floor_and_marker);
	tcase_add_loop_test(tc,
	    a_missing_or_empty_database_where_one_existed_is_refused, 0,
	    (int)(sizeof(evidence) / sizeof(evidence[0])));
	tcase_add_test(tc,
	    a_deliberate_create_refuses_a_database_and_sets_a_stale_wal_aside);
	tcase_add_test(tc, a_database_behind_its_marker_is_restored_floor_moves);
	tcase_add_test(tc, another_database_or_a_lost_wal_counts_as_restored);
	tcase_add_test(tc, a_database_from_before_markers_is_adopted);
	tcase_add_test(tc, integrity_check_catches_what_quick_check_misses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dbstate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
