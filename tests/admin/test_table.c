/*
 * test_table — felhom-admin's human tables: aligned by display
 * width, over-wide cells cut at a character boundary with "~", text
 * from peers shown with its control characters escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "admin/cmd.h"

/* The table printed into a heap string. */
static char *
render(struct cmd_table *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	cmd_table_print(t, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

START_TEST(columns_align_by_characters_not_bytes)
{
	static const char *const hdr[] = { "NAME", "STATE" };
	const char *r1[] = { "kávéház", "running" };
	const char *r2[] = { "db", NULL };
	struct cmd_table *t = cmd_table_new(2, hdr);
	char *out;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(cmd_table_add(t, r1), 0);
	ck_assert_int_eq(cmd_table_add(t, r2), 0);
	out = render(t);
	/* 7 characters wide (9 bytes): STATE starts at column 9 always. */
	ck_assert_str_eq(out, "NAME     STATE\n"
	    "kávéház  running\n"
	    "db       -\n");
	free(out);
	cmd_table_free(t);
}
END_TEST

START_TEST(control_characters_are_shown_escaped)
{
	static const char *const hdr[] = { "ERROR" };
	const char *r1[] = { "bad\x1b[2Jthing\nnext\xff" };
	struct cmd_table *t = cmd_table_new(1, hdr);
	char *out;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(cmd_table_add(t, r1), 0);
	out = render(t);
	ck_assert_str_eq(out, "ERROR\nbad\\x1b[2Jthing\\x0anext\\xff\n");
	free(out);
	cmd_table_free(t);
}
END_TEST

START_TEST(a_capped_column_is_cut_at_a_character_with_a_mark)
{
	static const char *const hdr[] = { "WHY", "N" };
	const char *r1[] = { "őrült hosszú szöveg", "1" };
	struct cmd_table *t = cmd_table_new(2, hdr);
	char *out;

	ck_assert_ptr_nonnull(t);
	cmd_table_cap(t, 0, 8);
	ck_assert_int_eq(cmd_table_add(t, r1), 0);
	out = render(t);
	/* Seven characters and the mark: never half a UTF-8 sequence. */
	ck_assert_str_eq(out, "WHY       N\nőrült h~  1\n");
	free(out);
	cmd_table_free(t);
}
END_TEST

static Suite *
table_suite(void)
{
	Suite *s = suite_create("admin_table");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, columns_align_by_characters_not_bytes);
	tcase_add_test(tc, control_characters_are_shown_escaped);
	tcase_add_test(tc, a_capped_column_is_cut_at_a_character_with_a_mark);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(table_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
