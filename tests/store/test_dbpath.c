/*
 * test_dbpath — a first install that gets the database location wrong
 * is told what to fix: a missing directory is named by db_open
 * and by the agent's lock (not "cannot open lock file"), and a database
 * that root created and the service user cannot write is refused naming
 * its owner, not opened read-only to fail later.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "base/err.h"
#include "store/db.h"
#include "store/dbpath.h"
#include "testutil.h"

/* An unprivileged uid for the "service user" when we run as root. */
#define OTHER_UID	65534

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(chmod(dir, 0755), 0);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

START_TEST(a_missing_directory_is_named_by_open_and_by_the_lock)
{
	char path[4200], want[4300];
	struct db *db = NULL;
	struct err err;
	int fd = -1;

	/* A missing state directory is made (issue 10); its parent is not. */
	(void) snprintf(path, sizeof(path), "%s/missing/state/state.db", dir);
	(void) snprintf(want, sizeof(want), "the directory %s/missing/state "
	    "does not exist", dir);
	err_init(&err);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err), ERR_IO);
	ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
	err_init(&err);
	ck_assert_int_eq(db_lock_agent(path, &fd, NULL, &err), ERR_IO);
	ck_assert_msg(strstr(err.msg, want) != NULL, "%s", err.msg);
	ck_assert_ptr_null(strstr(err.msg, "lock file"));
	ck_assert_int_eq(fd, -1);
}
END_TEST

/*
 * A database the service user may not write: made by root and handed
 * to nobody's directory when we are root, else made read-only.
 */
START_TEST(a_database_the_user_cannot_write_is_refused_naming_its_owner)
{
	char sub[4200], path[4300];
	struct db *db = NULL;
	struct err err;
	int root = geteuid() == 0;

	(void) snprintf(sub, sizeof(sub), "%s/state", dir);
	(void) snprintf(path, sizeof(path), "%s/state.db", sub);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	err_init(&err);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err), 0);
	db_close(db);
	db = NULL;
	if (root) {
		ck_assert_int_eq(chmod(path, 0644), 0);
		ck_assert_int_eq(chown(sub, OTHER_UID, OTHER_UID), 0);
		ck_assert_int_eq(setgid(OTHER_UID), 0);
		ck_assert_int_eq(setuid(OTHER_UID), 0);
	} else
		ck_assert_int_eq(chmod(path, 0444), 0);
	err_init(&err);
	ck_assert_int_eq(db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err), ERR_READONLY);
	ck_assert_msg(strstr(err.msg, "cannot write it") != NULL, "%s",
	    err.msg);
	ck_assert_msg(strstr(err.msg, root ? "belongs to root" :
	    "(mode 0444)") != NULL, "%s", err.msg);
	ck_assert_ptr_null(db);
	/* Read-only use (felhom-admin inspecting it) still works. */
	err_init(&err);
	ck_assert_int_eq(db_open(path, DB_OPEN_READONLY, &db, &err), 0);
	db_close(db);
}
END_TEST

START_TEST(a_good_location_explains_nothing)
{
	char path[4200], why[512];

	(void) snprintf(path, sizeof(path), "%s/state.db", dir);
	ck_assert_int_eq(dbpath_explain(path, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_int_eq(dbpath_explain("state.db", why, sizeof(why)),
	    access(".", W_OK) == 0 ? 0 : 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dbpath");
	TCase *tc = tcase_create("dbpath");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    a_missing_directory_is_named_by_open_and_by_the_lock);
	tcase_add_test(tc,
	    a_database_the_user_cannot_write_is_refused_naming_its_owner);
	tcase_add_test(tc, a_good_location_explains_nothing);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
