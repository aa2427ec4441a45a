/*
 * test_replay — the fuzz targets of tests/fuzz run in the normal builds
 * (plain and ASan + UBSan): every target gets its seeds (targets.tsv)
 * and every regression input of tests/fuzz/regress/<target>/ — inputs a
 * fuzzer once broke a parser with — through the same target function
 * libFuzzer calls.  A broken invariant fails the test naming the input;
 * a crash, a leak or UB fails it through the sanitizers.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "fuzz.h"
#include "testutil.h"

/* The input being replayed, for the message of a broken invariant. */
static const char *current = "(none)";

void
fuzz_fail(const char *file, int line, const char *what)
{
	ck_abort_msg("%s:%d: fuzz invariant broken: %s; input %s", file,
	    line, what, current);
	abort();	/* not reached: ck_abort_msg does not return */
}

/* Runs one file through fn, from a buffer of exactly its size. */
static void
replay_file(fuzz_fn fn, const char *path)
{
	uint8_t *copy;
	size_t len = 0;
	char *data;

	current = path;
	data = tu_read_file(path, &len);
	ck_assert_msg(data != NULL, "cannot read %s", path);
	/* Exact size, so that ASan sees a read past the end. */
	copy = malloc(len > 0 ? len : 1);
	ck_assert(copy != NULL);
	memcpy(copy, data, len);
	free(data);
	ck_assert_int_eq(fn(copy, len), 0);
	free(copy);
	current = "(none)";
}

/* Every regular file matching one glob (relative to the source tree). */
static size_t
replay_glob(fuzz_fn fn, const char *pattern)
{
	struct stat st;
	glob_t g;
	size_t i, n = 0;
	int rc;

	memset(&g, 0, sizeof(g));
	rc = glob(tu_source(pattern), 0, NULL, &g);
	ck_assert_msg(rc == 0 || rc == GLOB_NOMATCH, "glob %s: %d", pattern,
	    rc);
	for (i = 0; rc == 0 && i < g.gl_pathc; i++) {
		if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		replay_file(fn, g.gl_pathv[i]);
		n++;
	}
	globfree(&g);
	return n;
}

START_TEST(every_seed_and_regression_input_passes_its_target)
{
	const struct fuzz_target *t = &fuzz_targets[_i];
	char *globs, *pat, *save = NULL, regress[256];
	size_t seeds = 0;

	ck_assert_ptr_nonnull(globs = strdup(t->seeds));
	for (pat = strtok_r(globs, " ", &save); pat != NULL;
	    pat = strtok_r(NULL, " ", &save))
		seeds += replay_glob(t->fn, pat);
	free(globs);
	/* A renamed fixture must not leave a target without seeds. */
	ck_assert_msg(seeds > 0, "target %s: no seed matches '%s'", t->name,
	    t->seeds);
	(void) snprintf(regress, sizeof(regress), "tests/fuzz/regress/%s/*",
	    t->name);
	(void) replay_glob(t->fn, regress);
}
END_TEST

START_TEST(every_regression_folder_names_a_target)
{
	struct dirent *de;
	DIR *d;
	size_t i;
	int known;

	ck_assert_ptr_nonnull(d = opendir(tu_source("tests/fuzz/regress")));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		known = 0;
		for (i = 0; i < fuzz_ntargets; i++)
			if (strcmp(fuzz_targets[i].name, de->d_name) == 0)
				known = 1;
		ck_assert_msg(known || strcmp(de->d_name, "README.md") == 0,
		    "tests/fuzz/regress/%s: no such target in targets.tsv "
		    "(its inputs would never run)", de->d_name);
	}
	(void) closedir(d);
}
END_TEST

static Suite *
replay_suite(void)
{
	Suite *s = suite_create("fuzz.replay");
	TCase *tc = tcase_create("replay");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc,
	    every_seed_and_regression_input_passes_its_target, 0,
	    (int)fuzz_ntargets);
	tcase_add_test(tc, every_regression_folder_names_a_target);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(replay_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
