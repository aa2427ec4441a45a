/*
 * test_log — formats, levels and redaction of secrets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/log.h"
#include "testutil.h"

static char *
capture(enum log_format fmt, void (*emit)(void))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	log_setup(LOG_LEVEL_DEBUG, fmt, f);
	emit();
	(void) fclose(f);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	return buf;
}

static void
emit_fields(void)
{
	struct log_field f[] = {
		LOG_F("vmid", "101"),
		LOG_F("note", "two words"),
		LOG_SECRET("token", "s3cr3t-field-value"),
	};

	log_fields(LOG_LEVEL_INFO, f, 3, "op %s moved", "op-1");
	log_debug("hidden at info? no: debug level is on");
}

START_TEST(log_text_line_has_fields_and_redacts_secret_fields)
{
	char *out = capture(LOG_FORMAT_TEXT, emit_fields);

	ck_assert_ptr_nonnull(strstr(out, "info  op op-1 moved vmid=101 "
	    "note=\"two words\" token=<redacted>"));
	ck_assert_ptr_null(strstr(out, "s3cr3t-field-value"));
	ck_assert_ptr_nonnull(strstr(out, "code=")); /* debug has location */
	free(out);
}
END_TEST

static void
emit_forgery(void)
{
	/* A PVE exit status as a peer could write it. */
	log_warn("task failed: %s", "boom\n2026-01-01T00:00:00Z info  op "
	    "op-9 succeeded\r\x1b[2J\x7f \xc2\x9b tab\there \xc3\xa9t\xc3\xa9");
}

/* issue 10, hole 7: a message is one line, whatever it quotes. */
START_TEST(log_text_escapes_control_characters)
{
	char *out = capture(LOG_FORMAT_TEXT, emit_forgery);

	ck_assert_uint_eq(tu_count(out, "\n"), 1);
	ck_assert_ptr_null(strchr(out, '\r'));
	ck_assert_ptr_null(strchr(out, '\x1b'));
	ck_assert_ptr_null(strchr(out, '\x7f'));
	ck_assert_ptr_nonnull(strstr(out, "task failed: boom\\n2026-01-01T"
	    "00:00:00Z info  op op-9 succeeded\\r\\x1b[2J\\x7f \\xc2\\x9b "
	    "tab\\there \xc3\xa9t\xc3\xa9\n"));
	free(out);
}
END_TEST

START_TEST(log_json_line_is_one_object_per_line)
{
	char *out = capture(LOG_FORMAT_JSON, emit_fields);
	size_t first = strcspn(out, "\n");
	json_t *o;

	ck_assert_uint_lt(first, strlen(out));
	o = json_loadb(out, first, 0, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "level")),
	    "info");
	ck_assert_str_eq(json_string_value(json_object_get(o, "vmid")), "101");
	ck_assert_str_eq(json_string_value(json_object_get(o, "token")),
	    "<redacted>");
	json_decref(o);
	free(out);
}
END_TEST

static void
emit_leak(void)
{
	log_error("request failed with header PVEAPIToken=a@pve!t="
	    "9f1c2b7e-aaaa-bbbb and again 9f1c2b7e-aaaa-bbbb");
}

START_TEST(log_masks_registered_secrets_anywhere_in_a_line)
{
	char *out;

	ck_assert_int_eq(log_add_secret("9f1c2b7e-aaaa-bbbb"), 0);
	out = capture(LOG_FORMAT_TEXT, emit_leak);
	ck_assert_ptr_null(strstr(out, "9f1c2b7e"));
	ck_assert_uint_eq(tu_count(out, "<redacted>"), 2);
	free(out);
	log_clear_secrets();
}
END_TEST

static void
emit_levels(void)
{
	log_debug("dbg");
}

START_TEST(log_level_filters_lines)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	log_setup(LOG_LEVEL_WARN, LOG_FORMAT_TEXT, f);
	log_info("not shown");
	log_warn("shown");
	(void) fclose(f);
	ck_assert_ptr_null(strstr(buf, "not shown"));
	ck_assert_ptr_nonnull(strstr(buf, "warn  shown"));
	free(buf);
	buf = capture(LOG_FORMAT_TEXT, emit_levels);
	ck_assert_ptr_nonnull(strstr(buf, "dbg"));
	free(buf);
	ck_assert_int_eq(log_level_parse("debug"), LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_level_parse("verbose"), -1);
	ck_assert_int_eq(log_format_parse("json"), LOG_FORMAT_JSON);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, log_text_line_has_fields_and_redacts_secret_fields);
	tcase_add_test(tc, log_text_escapes_control_characters);
	tcase_add_test(tc, log_json_line_is_one_object_per_line);
	tcase_add_test(tc, log_masks_registered_secrets_anywhere_in_a_line);
	tcase_add_test(tc, log_level_filters_lines);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
