/*
 * test_spawn — how the helper (and the agent's probe) start programs
 * no shell, an environment of PATH and LC_ALL only, stdin
 * /dev/null, no inherited descriptors, capped output, a deadline that
 * kills the whole process group.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "priv/spawn.h"
#include "priv/wire.h"
#include "testutil.h"

static char *dir;

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

/* A shell script at <dir>/name (the program under test, not a shell). */
static const char *
script(const char *name, const char *body)
{
	static char path[4096];
	char text[4096];

	(void) snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void) snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text), 0755), 0);
	return path;
}

static int
run(const char *const *argv, long timeout_ms, size_t out_cap, size_t err_cap,
    struct spawn_result *r, struct err *err)
{
	struct spawn_opts o;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = timeout_ms;
	o.out_cap = out_cap;
	o.err_cap = err_cap;
	return spawn_run(&o, r, err);
}

START_TEST(arguments_are_not_interpreted)
{
	const char *p = script("args", "for a in \"$@\"; do echo \"[$a]\"; "
	    "done");
	const char *argv[] = { p, "a; touch x", "$(id)", "*", "`id`", NULL };
	struct spawn_result r;

	ck_assert_int_eq(run(argv, 5000, 4096, 0, &r, NULL), 0);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "[a; touch x]\n[$(id)]\n[*]\n[`id`]\n");
	spawn_result_reset(&r);
}
END_TEST

START_TEST(environment_is_cleared)
{
	const char *p = script("env", "env | sort; [ -t 0 ] || "
	    "read x || echo stdin-empty");
	const char *argv[] = { p, NULL };
	struct spawn_result r;

	ck_assert_int_eq(setenv("FELHOM_SECRET_TEST", "leak", 1), 0);
	ck_assert_int_eq(run(argv, 5000, 4096, 0, &r, NULL), 0);
	ck_assert_ptr_null(strstr(r.out, "FELHOM_SECRET_TEST"));
	ck_assert_ptr_nonnull(strstr(r.out, SPAWN_PATH));
	ck_assert_ptr_nonnull(strstr(r.out, "LC_ALL=C"));
	ck_assert_ptr_nonnull(strstr(r.out, "stdin-empty"));
	spawn_result_reset(&r);
}
END_TEST

START_TEST(descriptors_are_not_inherited)
{
	const char *p = script("fds",
	    "ls /proc/$$/fd | sort -n | tr '\\n' ' '");
	const char *argv[] = { p, NULL };
	struct spawn_result r;
	int fd = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC on purpose */

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 47), 47);
	ck_assert_int_eq(run(argv, 5000, 4096, 0, &r, NULL), 0);
	ck_assert_msg(strstr(r.out, "0 1 2 ") == r.out, "%s", r.out);
	ck_assert_msg(strstr(r.out, " 47 ") == NULL, "%s", r.out);
	(void) close(47);
	spawn_result_reset(&r);
	(void) close(fd);
}
END_TEST

START_TEST(output_is_capped_and_drained)
{
	const char *p = script("big", "i=0; while [ $i -lt 2000 ]; do "
	    "echo 0123456789012345678901234567890123456789; i=$((i+1)); done; "
	    "echo oops >&2; exit 3");
	const char *argv[] = { p, NULL };
	struct spawn_result r;

	ck_assert_int_eq(run(argv, 10000, 1000, 16, &r, NULL), 0);
	ck_assert_int_eq(r.status, 3);
	ck_assert_uint_eq(r.out_len, 999);
	ck_assert_uint_eq(strlen(r.out), 999);
	ck_assert(r.out_truncated);
	ck_assert_str_eq(r.errtext, "oops\n");
	spawn_result_reset(&r);
}
END_TEST

START_TEST(deadline_kills_the_group)
{
	char marker[4096], body[8192];
	const char *p;
	const char *argv[2];
	struct spawn_result r;
	struct stat st;
	struct err err;
	int64_t t0;

	/* A child that outlives its parent must die with the group. */
	(void) snprintf(marker, sizeof(marker), "%s/survived", dir);
	(void) snprintf(body, sizeof(body), "(sleep 3; touch %s) & sleep 30",
	    marker);
	p = script("slow", body);
	argv[0] = p;
	argv[1] = NULL;
	t0 = wire_now_ms();
	err_init(&err);
	ck_assert_int_eq(run(argv, 300, 64, 0, &r, &err), ERR_TIMEOUT);
	ck_assert(r.timed_out);
	ck_assert_int_eq(r.status, 128 + SIGTERM);
	ck_assert_ptr_nonnull(strstr(err.msg, "killed after 300 ms"));
	ck_assert_int_lt(wire_now_ms() - t0, 2500);
	spawn_result_reset(&r);
	sleep(4);
	ck_assert_int_ne(stat(marker, &st), 0);
}
END_TEST

START_TEST(missing_or_relative_programs)
{
	const char *rel[] = { "sh", NULL };
	char path[4096];
	const char *none[2];
	struct spawn_result r;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(run(rel, 1000, 64, 0, &r, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "absolute path"));
	(void) snprintf(path, sizeof(path), "%s/none", dir);
	none[0] = path;
	none[1] = NULL;
	err_init(&err);
	ck_assert_int_eq(run(none, 1000, 64, 0, &r, &err), ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "not installed"));
	/* A file that is not executable. */
	ck_assert_int_eq(tu_write_file(path, "x", 1, 0644), 0);
	ck_assert_int_eq(run(none, 1000, 64, 0, &r, NULL), ERR_NOT_FOUND);
}
END_TEST

static Suite *
spawn_suite(void)
{
	Suite *s = suite_create("spawn");
	TCase *tc = tcase_create("spawn");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, arguments_are_not_interpreted);
	tcase_add_test(tc, environment_is_cleared);
	tcase_add_test(tc, descriptors_are_not_inherited);
	tcase_add_test(tc, output_is_capped_and_drained);
	tcase_add_test(tc, deadline_kills_the_group);
	tcase_add_test(tc, missing_or_relative_programs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(spawn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
