/*
 * test_fence — the fence of R-08 as a link-time fact (DESIGN "Modules"):
 * felhom-privhelper links neither libcurl nor libssl; no object outside
 * priv/spawn references a process-starting call (the PVE client's least
 * of all: it only speaks HTTPS); priv/ references no libcurl symbol.
 * Read with readelf and nm from binutils.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "testutil.h"

static const char *const spawn_calls[] = {
	"fork", "vfork", "execve", "execv", "execvp", "execvpe", "execl",
	"execlp", "execle", "fexecve", "posix_spawn", "posix_spawnp",
	"system", "popen", "clone", "clone3", NULL
};

static const char *
lib_dir(void)
{
	const char *d = getenv("FELHOM_LIB_DIR");

	return d != NULL ? d : FELHOM_BIN_DIR_DEFAULT "/../src";
}

/* Output of a command (stdout), or fails the test. */
static char *
run(const char *const argv[])
{
	char *out = NULL, *errout = NULL;
	int status = -1;

	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, &errout, &status),
	    0);
	ck_assert_msg(status == 0, "%s: exit %d: %s", argv[0], status,
	    errout != NULL ? errout : "");
	free(errout);
	return out;
}

/*
 * The undefined symbols of each object in an archive: "nm -u -A" prints
 * "archive:object: U name" per line.  Lines naming a spawn call are
 * returned (NULL when none) except for objects named `allowed`.
 */
static char *
spawning_objects(const char *archive, const char *allowed)
{
	const char *argv[] = { "nm", "-u", "-A", archive, NULL };
	char *out = run(argv), *line, *save = NULL, *sym, *found = NULL;
	size_t flen = 0, i;

	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		sym = strrchr(line, ' ');
		if (sym == NULL)
			continue;
		sym++;
		for (i = 0; spawn_calls[i] != NULL; i++) {
			size_t n = strlen(spawn_calls[i]);

			/* "fork" and "fork@GLIBC_2.2.5" */
			if (strncmp(sym, spawn_calls[i], n) != 0 ||
			    (sym[n] != '\0' && sym[n] != '@'))
				continue;
			if (allowed != NULL && strstr(line, allowed) != NULL)
				continue;
			found = realloc(found, flen + strlen(line) + 2);
			ck_assert_ptr_nonnull(found);
			memcpy(found + flen, line, strlen(line));
			flen += strlen(line);
			found[flen++] = '\n';
			found[flen] = '\0';
		}
	}
	free(out);
	return found;
}

START_TEST(helper_links_neither_curl_nor_ssl)
{
	const char *argv[] = { "readelf", "-d", tu_bin("felhom-privhelper"),
	    NULL };
	char *out = run(argv);

	ck_assert_ptr_nonnull(strstr(out, "NEEDED"));
	ck_assert_msg(strstr(out, "libcurl") == NULL, "%s", out);
	ck_assert_msg(strstr(out, "libssl") == NULL, "%s", out);
	free(out);
	/* ... while the agent does (the check reads what it claims). */
	argv[2] = tu_bin("felhom-agent");
	out = run(argv);
	ck_assert_ptr_nonnull(strstr(out, "libcurl"));
	free(out);
}
END_TEST

static const char *const areas[] = {
	"pve", "net", "hub", "store", "authz", "engine", "agent", "admin",
	"base",
};

START_TEST(no_spawn_call_outside_priv_spawn)
{
	char path[4096], *found;

	(void) snprintf(path, sizeof(path), "%s/libfelhom_%s.a", lib_dir(),
	    areas[_i]);
	found = spawning_objects(path, NULL);
	ck_assert_msg(found == NULL, "process-starting calls in %s:\n%s",
	    areas[_i], found);
}
END_TEST

START_TEST(priv_spawns_only_in_spawn_and_uses_no_curl)
{
	const char *argv[] = { "nm", "-u", "-A", NULL, NULL };
	char path[4096], *found, *out;

	(void) snprintf(path, sizeof(path), "%s/libfelhom_priv.a", lib_dir());
	found = spawning_objects(path, "spawn.c.o:");
	ck_assert_msg(found == NULL, "process-starting calls in priv:\n%s",
	    found);
	/* spawn.c.o itself does use posix_spawn: the scan finds it. */
	found = spawning_objects(path, NULL);
	ck_assert_ptr_nonnull(found);
	ck_assert_ptr_nonnull(strstr(found, "posix_spawn"));
	free(found);
	argv[3] = path;
	out = run(argv);
	ck_assert_msg(strstr(out, " curl_") == NULL &&
	    strstr(out, " SSL_") == NULL, "%s", out);
	free(out);
}
END_TEST

static Suite *
fence_suite(void)
{
	Suite *s = suite_create("fence");
	TCase *tc = tcase_create("fence");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, helper_links_neither_curl_nor_ssl);
	tcase_add_loop_test(tc, no_spawn_call_outside_priv_spawn, 0,
	    sizeof(areas) / sizeof(areas[0]));
	tcase_add_test(tc, priv_spawns_only_in_spawn_and_uses_no_curl);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fence_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
