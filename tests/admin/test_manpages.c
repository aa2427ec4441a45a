/*
 * test_manpages — felhom-admin(1) and felhom-agent(8), generated from
 * docs/ by cmake/Md2Man.cmake: they exist, render without a groff
 * warning, and felhom-admin(1) has a section for every command the
 * binary's own help lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "testutil.h"

static char *
page(const char *name)
{
	char path[4096];
	char *text;

	(void) snprintf(path, sizeof(path), "%s/%s", FELHOM_MAN_DIR, name);
	text = tu_read_file(path, NULL);
	ck_assert_msg(text != NULL, "%s: not generated", path);
	return text;
}

START_TEST(admin_page_has_a_section_per_command)
{
	const char *argv[] = { tu_bin("felhom-admin"), "help", NULL };
	char *help = NULL, *text = page("felhom-admin.1"), *p, *nl, want[64];
	char name[32];
	size_t n = 0;
	int st;

	ck_assert_ptr_nonnull(strstr(text, ".TH FELHOM-ADMIN 1 "));
	ck_assert_ptr_nonnull(strstr(text, ".SH EXIT STATUS"));
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &help, NULL, &st), 0);
	ck_assert_int_eq(st, 0);
	p = strstr(help, "commands:\n");
	ck_assert_ptr_nonnull(p);
	for (p = strchr(p, '\n') + 1; *p == ' '; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert_int_eq(sscanf(p, " %31s", name), 1);
		if (strcmp(name, "help") == 0 || strcmp(name, "version") == 0)
			continue;
		(void) snprintf(want, sizeof(want), "\n.SS %s\n", name);
		ck_assert_msg(strstr(text, want) != NULL, "felhom-admin(1) has "
		    "no section for '%s'", name);
		n++;
	}
	ck_assert_uint_ge(n, 15);
	free(help);
	free(text);
}
END_TEST

START_TEST(agent_page_names_its_options)
{
	char *text = page("felhom-agent.8");

	ck_assert_ptr_nonnull(strstr(text, ".TH FELHOM-AGENT 8 "));
	ck_assert_ptr_nonnull(strstr(text, "\\-\\-once\\-timeout"));
	ck_assert_ptr_nonnull(strstr(text, ".SH EXIT STATUS"));
	free(text);
}
END_TEST

START_TEST(pages_render_without_warnings)
{
	static const char *const pages[] = { "felhom-admin.1",
	    "felhom-agent.8" };
	char path[4096], *err = NULL;
	size_t i;
	int st;

	if (access("/usr/bin/groff", X_OK) != 0)
		return;		/* nothing to render with */
	for (i = 0; i < 2; i++) {
		const char *argv[] = { "groff", "-man", "-t", "-Tutf8", "-ww",
		    "-z", path, NULL };

		(void) snprintf(path, sizeof(path), "%s/%s", FELHOM_MAN_DIR,
		    pages[i]);
		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, &err, &st),
		    0);
		ck_assert_int_eq(st, 0);
		ck_assert_msg(err == NULL || err[0] == '\0', "%s: %s",
		    pages[i], err);
		free(err);
		err = NULL;
	}
}
END_TEST

static Suite *
manpages_suite(void)
{
	Suite *s = suite_create("admin_manpages");
	TCase *tc = tcase_create("pages");

	tcase_add_test(tc, admin_page_has_a_section_per_command);
	tcase_add_test(tc, agent_page_names_its_options);
	tcase_add_test(tc, pages_render_without_warnings);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(manpages_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
