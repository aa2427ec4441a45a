/*
 * test_clock — RFC 3339 UTC parsing and formatting.
 */
#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "base/clock.h"
#include "base/err.h"

START_TEST(clock_parses_and_formats_round_trip)
{
	char buf[CLOCK_RFC3339_LEN];
	int64_t t;

	ck_assert_int_eq(clock_parse_rfc3339("2026-11-28T12:00:00Z", &t), 0);
	ck_assert(t == 1795867200);
	clock_format_rfc3339(t, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-28T12:00:00Z");
	ck_assert_int_eq(clock_parse_rfc3339("2024-02-29T23:59:59Z", &t), 0);
	ck_assert_int_eq(clock_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	ck_assert(t == 0);
}
END_TEST

START_TEST(clock_rejects_every_other_form)
{
	static const char *const bad[] = {
		"2026-11-28T12:00:00", "2026-11-28T12:00:00+00:00",
		"2026-11-28 12:00:00Z", "2026-11-28T12:00:00.5Z",
		"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
		"2026-11-31T00:00:00Z", "2026-11-28T24:00:00Z",
		"2026-11-28T12:60:00Z", "2026-1x-28T12:00:00Z",
		"2026-11-28t12:00:00z", "", "1969-12-31T23:59:59Z",
	};
	int64_t t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(clock_parse_rfc3339(bad[i], &t) == ERR_FORMAT,
		    "accepted '%s'", bad[i]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("rfc3339");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, clock_parses_and_formats_round_trip);
	tcase_add_test(tc, clock_rejects_every_other_form);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
