/*
 * test_json — strict JSON helpers: caps, duplicates, path-named errors.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "base/json.h"

START_TEST(json_rejects_duplicates_only_when_asked)
{
	const char *doc = "{\"a\":1,\"a\":2}";
	struct err err;
	json_t *v = NULL;

	err_init(&err);
	ck_assert_int_eq(jsonx_parse(doc, strlen(doc), 100, JSONX_DUPLICATES,
	    "doc", &v, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
	ck_assert_int_eq(jsonx_parse(doc, strlen(doc), 100, 0, "doc", &v,
	    NULL), 0);
	json_decref(v);
}
END_TEST

START_TEST(json_size_cap_is_enforced_before_parsing)
{
	struct err err;
	json_t *v = NULL;

	err_init(&err);
	ck_assert_int_eq(jsonx_parse("{\"a\":1}", 7, 6, 0, "doc", &v, &err),
	    ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit of 6"));
}
END_TEST

START_TEST(json_trailing_data_is_rejected)
{
	json_t *v = NULL;

	ck_assert_int_eq(jsonx_parse("{} {}", 5, 100, 0, "doc", &v, NULL),
	    ERR_FORMAT);
}
END_TEST

START_TEST(json_getters_name_the_path)
{
	const char *doc = "{\"hub\":{\"url\":5,\"n\":7,\"b\":true}}";
	struct err err;
	json_t *v = NULL, *hub = NULL;
	const char *s = NULL;
	int64_t n = 0;
	int b = 0, present = 1;

	ck_assert_int_eq(jsonx_parse(doc, strlen(doc), 1000, 0, "doc", &v,
	    NULL), 0);
	ck_assert_int_eq(jsonx_req_object(v, "", "hub", &hub, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(jsonx_req_string(hub, "hub", "url", &s, &err),
	    ERR_FORMAT);
	ck_assert_str_eq(err.msg, "hub.url: expected string");
	err_init(&err);
	ck_assert_int_eq(jsonx_req_string(hub, "hub", "token", &s, &err),
	    ERR_FORMAT);
	ck_assert_str_eq(err.msg, "hub.token: required string is missing");
	err_init(&err);
	ck_assert_int_eq(jsonx_req_int(hub, "hub", "n", 0, 5, &n, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "hub.n: 7 is out of range"));
	ck_assert_int_eq(jsonx_req_bool(hub, "hub", "b", &b, NULL), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(jsonx_opt_string(hub, "hub", "none", &s, &present,
	    NULL), 0);
	ck_assert_int_eq(present, 0);
	err_init(&err);
	ck_assert_int_eq(jsonx_only_keys(hub, "hub",
	    (const char *const[]){ "url", "n", NULL }, &err), ERR_FORMAT);
	ck_assert_str_eq(err.msg, "hub.b: unknown key");
	json_decref(v);
}
END_TEST

START_TEST(json_loose_readers_accept_pve_quirks)
{
	json_t *v;
	int64_t i;
	double d;
	int b;

	v = json_string("42");
	ck_assert_int_eq(jsonx_loose_int(v, &i), 0);
	ck_assert(i == 42);
	json_decref(v);
	v = json_string("0.16");
	ck_assert_int_eq(jsonx_loose_real(v, &d), 0);
	ck_assert(d > 0.159 && d < 0.161);
	ck_assert_int_eq(jsonx_loose_int(v, &i), ERR_FORMAT);
	json_decref(v);
	v = json_integer(1);
	ck_assert_int_eq(jsonx_loose_bool(v, &b), 0);
	ck_assert_int_eq(b, 1);
	json_decref(v);
	v = json_integer(2);
	ck_assert_int_eq(jsonx_loose_bool(v, &b), ERR_FORMAT);
	json_decref(v);
	v = json_string("N/A");
	ck_assert_int_eq(jsonx_loose_int(v, &i), ERR_FORMAT);
	json_decref(v);
	/* strtod's words are no numbers a report could carry (fuzz_pve). */
	v = json_string("nan");
	ck_assert_int_eq(jsonx_loose_real(v, &d), ERR_FORMAT);
	json_decref(v);
	v = json_string("-Infinity");
	ck_assert_int_eq(jsonx_loose_real(v, &d), ERR_FORMAT);
	json_decref(v);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("strict");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, json_rejects_duplicates_only_when_asked);
	tcase_add_test(tc, json_size_cap_is_enforced_before_parsing);
	tcase_add_test(tc, json_trailing_data_is_rejected);
	tcase_add_test(tc, json_getters_name_the_path);
	tcase_add_test(tc, json_loose_readers_accept_pve_quirks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
