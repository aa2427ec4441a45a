/*
 * test_loglimit — a repeating condition is logged on change, then at
 * most once per interval with the count held back (issue 17), driven by
 * a fake monotonic clock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "base/log.h"
#include "base/loglimit.h"
#include "testutil.h"

START_TEST(first_occurrence_and_every_change_are_told_at_once)
{
	struct loglimit ll;
	uint64_t held = 99;

	loglimit_init(&ll, 60000);
	ck_assert_int_eq(loglimit_check(&ll, 1000, "hub:transport", &held), 1);
	ck_assert_uint_eq(held, 0);
	ck_assert_int_eq(loglimit_check(&ll, 1500, "hub:transport", &held), 0);
	/* Another condition: a change, told at once. */
	ck_assert_int_eq(loglimit_check(&ll, 1600, "hub:http", &held), 1);
	ck_assert_uint_eq(held, 0);
	ck_assert_int_eq(loglimit_check(&ll, 1700, "hub:transport", &held), 1);
}
END_TEST

START_TEST(a_condition_repeating_every_second_is_told_once_a_minute)
{
	struct loglimit ll;
	uint64_t held = 0, told = 0, last_held = 0;
	int64_t t;

	loglimit_init(&ll, 0);
	ck_assert_int_eq(ll.interval_ms, LOGLIMIT_INTERVAL_MS);
	/* One hour of a failure every second. */
	for (t = 0; t < 3600 * 1000; t += 1000)
		if (loglimit_check(&ll, t, "pve:cannot poll", &held)) {
			told++;
			last_held = held;
		}
	ck_assert_uint_eq(told, 60);
	/* The 59 held back in between are counted in the next line. */
	ck_assert_uint_eq(last_held, 59);
}
END_TEST

START_TEST(end_returns_what_was_held_and_rearms_the_condition)
{
	struct loglimit ll;
	uint64_t held;

	loglimit_init(&ll, 60000);
	ck_assert_int_eq(loglimit_check(&ll, 0, "x", &held), 1);
	ck_assert_int_eq(loglimit_check(&ll, 10, "x", &held), 0);
	ck_assert_int_eq(loglimit_check(&ll, 20, "x", &held), 0);
	ck_assert_uint_eq(loglimit_end(&ll), 2);
	ck_assert_uint_eq(loglimit_end(&ll), 0);
	/* It came back: a change again, told at once. */
	ck_assert_int_eq(loglimit_check(&ll, 30, "x", &held), 1);
	ck_assert_uint_eq(held, 0);
}
END_TEST

START_TEST(written_lines_say_how_often_they_repeated)
{
	struct loglimit ll;
	char *buf = NULL;
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&buf, &len);
	int64_t t;
	const char *p;

	ck_assert_ptr_nonnull(f);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, f);
	loglimit_init(&ll, 60000);
	for (t = 0; t <= 120 * 1000; t += 1000)
		(void) log_limited(&ll, t, "hub:transport", LOG_LEVEL_WARN,
		    "hub report failed: connect: refused; next in %d s",
		    (int)(t / 1000) % 7);
	(void) fclose(f);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	for (p = buf; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	ck_assert_uint_eq(lines, 3);
	ck_assert_ptr_nonnull(strstr(buf, "(repeated 59 times in the last "
	    "60 s)"));
	ck_assert_uint_eq(tu_count(buf, "repeated"), 2);
	free(buf);
}
END_TEST

START_TEST(long_keys_are_compared_on_their_kept_prefix)
{
	struct loglimit ll;
	char k1[200], k2[200];
	uint64_t held;

	memset(k1, 'a', sizeof(k1) - 1);
	k1[sizeof(k1) - 1] = '\0';
	memcpy(k2, k1, sizeof(k2));
	k2[190] = 'b';		/* differs only past the kept prefix */
	loglimit_init(&ll, 60000);
	ck_assert_int_eq(loglimit_check(&ll, 0, k1, &held), 1);
	ck_assert_int_eq(loglimit_check(&ll, 1, k2, &held), 0);
}
END_TEST

static Suite *
loglimit_suite(void)
{
	Suite *s = suite_create("loglimit");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, first_occurrence_and_every_change_are_told_at_once);
	tcase_add_test(tc,
	    a_condition_repeating_every_second_is_told_once_a_minute);
	tcase_add_test(tc, end_returns_what_was_held_and_rearms_the_condition);
	tcase_add_test(tc, written_lines_say_how_often_they_repeated);
	tcase_add_test(tc, long_keys_are_compared_on_their_kept_prefix);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loglimit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
