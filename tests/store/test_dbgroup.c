/*
 * test_dbgroup — issue 15: the engine tick's group commit (db_txn.c).
 * Inside a group each caller's transaction keeps all-or-nothing, but
 * nothing is durable (or seen by another connection) before the group's
 * flush, which is one commit; a flush inside an open transaction is
 * refused (its effect would precede its record); a group whose end failed
 * makes the next flush fail once, so the barrier drops what it queued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sqlite3.h>

#include "store/db.h"
#include "store/kv.h"
#include "testutil.h"

static char *dir;
static char dbpath[512];
static struct db *db, *other;

static void
setup(void)
{
	struct err err;

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err) == 0, "open: %s", err.msg);
	/* A second connection sees only what was committed. */
	ck_assert_msg(db_open(dbpath, 0, &other, &err) == 0, "open: %s",
	    err.msg);
}

static void
teardown(void)
{
	db_close(other);
	db_close(db);
	tu_rmrf(dir);
	free(dir);
}

/* 1 when the other connection finds key. */
static int
seen(const char *key)
{
	char *v = NULL;
	int rc = kv_get(other, key, &v, NULL);

	free(v);
	return rc == 0;
}

static void
put(const char *key, int commit)
{
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(kv_set(db, key, "v", NULL), 0);
	if (commit)
		ck_assert_int_eq(db_commit(db, NULL), 0);
	else
		db_rollback(db);
}

START_TEST(a_group_is_one_commit_for_many_transactions)
{
	char key[16];
	int i, commits = 0;

	(void) sqlite3_wal_hook(db_handle(db), tu_count_commits, &commits);
	ck_assert_int_eq(db_group_begin(db, NULL), 0);
	ck_assert(db_group_active(db));
	for (i = 0; i < 20; i++) {
		(void) snprintf(key, sizeof(key), "k%d", i);
		put(key, 1);
		ck_assert(!db_in_txn(db));
	}
	/* Committed for their callers, not yet durable. */
	ck_assert_int_eq(commits, 0);
	ck_assert(!seen("k0"));
	ck_assert_int_eq(db_group_end(db, NULL), 0);
	ck_assert(!db_group_active(db));
	ck_assert_int_eq(commits, 1);
	for (i = 0; i < 20; i++) {
		(void) snprintf(key, sizeof(key), "k%d", i);
		ck_assert(seen(key));
	}
	/* Outside a group, a commit is a commit again. */
	put("after", 1);
	ck_assert_int_eq(commits, 2);
	ck_assert(seen("after"));
	(void) sqlite3_wal_hook(db_handle(db), NULL, NULL);
}
END_TEST

START_TEST(a_rolled_back_transaction_leaves_the_others)
{
	ck_assert_int_eq(db_group_begin(db, NULL), 0);
	put("a", 1);
	put("b", 0);
	put("c", 1);
	/* A flush mid-group makes what came before durable. */
	ck_assert_int_eq(db_group_flush(db, NULL), 0);
	ck_assert(seen("a") && seen("c"));
	put("d", 1);
	ck_assert(!seen("d"));
	ck_assert_int_eq(db_group_end(db, NULL), 0);
	ck_assert(seen("a") && !seen("b") && seen("c") && seen("d"));
}
END_TEST

START_TEST(a_flush_inside_an_open_transaction_is_refused)
{
	struct err err;

	ck_assert_int_eq(db_group_begin(db, NULL), 0);
	put("a", 1);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(kv_set(db, "b", "v", NULL), 0);
	err_init(&err);
	ck_assert_int_eq(db_group_flush(db, &err), ERR_INTERNAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "write-ahead"));
	ck_assert(!seen("a"));
	ck_assert_int_eq(db_commit(db, NULL), 0);
	ck_assert_int_eq(db_group_end(db, NULL), 0);
	ck_assert(seen("a") && seen("b"));
	/* Nested begins stay an error, as outside a group. */
	ck_assert_int_eq(db_group_begin(db, NULL), 0);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(db_begin(db, NULL), ERR_INTERNAL);
	ck_assert_int_eq(db_group_begin(db, NULL), ERR_INTERNAL);
	db_rollback(db);
	ck_assert_int_eq(db_group_end(db, NULL), 0);
}
END_TEST

START_TEST(a_lost_group_fails_the_next_flush_once)
{
	struct err err;

	ck_assert_int_eq(db_group_begin(db, NULL), 0);
	put("a", 1);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(kv_set(db, "b", "v", NULL), 0);
	/* Ended with a transaction open: all of it undone. */
	err_init(&err);
	ck_assert_int_eq(db_group_end(db, &err), ERR_INTERNAL);
	ck_assert(!db_group_active(db) && !db_in_txn(db));
	ck_assert(!seen("a") && !seen("b"));
	/* The barrier's flush hears it once: what was queued is dropped. */
	err_init(&err);
	ck_assert_int_eq(db_group_flush(db, &err), ERR_IO);
	ck_assert_ptr_nonnull(strstr(err.msg, "commit"));
	ck_assert_int_eq(db_group_flush(db, NULL), 0);
	/* The connection works on. */
	put("c", 1);
	ck_assert(seen("c") && !seen("a"));
}
END_TEST

static Suite *
dbgroup_suite(void)
{
	Suite *s = suite_create("dbgroup");
	TCase *tc = tcase_create("dbgroup");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_group_is_one_commit_for_many_transactions);
	tcase_add_test(tc, a_rolled_back_transaction_leaves_the_others);
	tcase_add_test(tc, a_flush_inside_an_open_transaction_is_refused);
	tcase_add_test(tc, a_lost_group_fails_the_next_flush_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dbgroup_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
