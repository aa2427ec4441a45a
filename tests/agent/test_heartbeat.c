/*
 * test_heartbeat — agent.health (hub-contract v1.1): the cause each
 * failure gives a degraded report, `since` kept while the cause holds,
 * and the two JSON forms with one key set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "agent/heartbeat.h"
#include "base/err.h"
#include "net/https.h"

static const struct {
	int		 code;
	int		 reason;
	long		 status;
	const char	*cause;		/* NULL: nothing to send */
} causes[] = {
	{ ERR_TRANSPORT, HTTPS_R_CONNECT, 0, "pve_unreachable" },
	{ ERR_TRANSPORT, HTTPS_R_TIMEOUT, 0, "pve_unreachable" },
	{ ERR_TRANSPORT, HTTPS_R_ABORTED, 0, NULL },
	{ ERR_TIMEOUT, 0, 0, "pve_unreachable" },
	{ ERR_HTTP, 0, 500, "pve_unreachable" },
	{ ERR_HTTP, 0, 596, "pve_unreachable" },
	{ ERR_HTTP, 0, 418, "pve_error" },
	{ ERR_TLS, HTTPS_R_PIN_MISMATCH, 0, "pve_tls" },
	{ ERR_TLS, HTTPS_R_TLS, 0, "pve_tls" },
	{ ERR_AUTH, 0, 401, "pve_auth" },
	{ ERR_PERMISSION, 0, 403, "pve_auth" },
	{ ERR_PROTOCOL, 0, 200, "pve_error" },
	{ ERR_FULL, 0, 0, "db_full" },
	{ ERR_READONLY, 0, 0, "db_readonly" },
	{ ERR_BUSY, 0, 0, "db_busy" },
	{ ERR_IO, 0, 0, "db_io" },
	{ ERR_CORRUPT, 0, 0, "db_corrupt" },
	{ ERR_NOMEM, 0, 0, NULL },
};

START_TEST(each_failure_names_its_cause)
{
	struct err e;
	const char *c;

	err_init(&e);
	e.code = causes[_i].code;
	e.reason = causes[_i].reason;
	e.status = causes[_i].status;
	c = heartbeat_cause_of(&e);
	if (causes[_i].cause == NULL)
		ck_assert_ptr_null(c);
	else {
		ck_assert_ptr_nonnull(c);
		ck_assert_str_eq(c, causes[_i].cause);
	}
}
END_TEST

START_TEST(only_database_write_failures_keep_the_seq_in_memory)
{
	struct err e;

	err_init(&e);
	e.code = ERR_FULL;
	ck_assert_int_eq(heartbeat_db_cannot_commit(&e), 1);
	e.code = ERR_READONLY;
	ck_assert_int_eq(heartbeat_db_cannot_commit(&e), 1);
	e.code = ERR_BUSY;
	ck_assert_int_eq(heartbeat_db_cannot_commit(&e), 1);
	e.code = ERR_CORRUPT;
	ck_assert_int_eq(heartbeat_db_cannot_commit(&e), 0);
	e.code = ERR_TRANSPORT;
	ck_assert_int_eq(heartbeat_db_cannot_commit(&e), 0);
}
END_TEST

START_TEST(since_is_kept_while_the_cause_holds)
{
	struct heartbeat hb;
	json_t *j;

	heartbeat_init(&hb);
	heartbeat_degraded(&hb, "pve_unreachable", "node status: refused",
	    1764331200);
	heartbeat_degraded(&hb, "pve_unreachable", "node status: timeout",
	    1764331260);
	ck_assert_int_eq(hb.since, 1764331200);
	ck_assert_str_eq(hb.message, "node status: timeout");
	/* Another cause starts its own time. */
	heartbeat_degraded(&hb, "db_full", "disk full", 1764331320);
	ck_assert_int_eq(hb.since, 1764331320);
	j = heartbeat_json(&hb);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
	    "degraded");
	ck_assert_str_eq(json_string_value(json_object_get(j, "cause")),
	    "db_full");
	ck_assert_str_eq(json_string_value(json_object_get(j, "since")),
	    "2025-11-28T12:02:00Z");
	json_decref(j);
	/* Healthy, then down again: a new since. */
	heartbeat_ok(&hb);
	heartbeat_degraded(&hb, "db_full", "disk full", 1764331400);
	ck_assert_int_eq(hb.since, 1764331400);
}
END_TEST

START_TEST(both_forms_have_one_key_set_and_peer_text_is_escaped)
{
	struct heartbeat hb;
	json_t *ok, *deg, *report;
	const char *k;
	json_t *v;

	heartbeat_init(&hb);
	ok = heartbeat_json(&hb);
	ck_assert_str_eq(json_string_value(json_object_get(ok, "state")),
	    "ok");
	heartbeat_degraded(&hb, "pve_error", "bad \xff\n answer", 1764331200);
	deg = heartbeat_json(&hb);
	ck_assert_ptr_nonnull(deg);
	ck_assert_uint_eq(json_object_size(ok), 4);
	json_object_foreach(ok, k, v) {
		ck_assert_ptr_nonnull(json_object_get(deg, k));
		if (strcmp(k, "state") != 0)
			ck_assert(json_is_null(v));
	}
	ck_assert_str_eq(json_string_value(json_object_get(deg, "message")),
	    "bad \\xff\\n answer");
	/* Applied to a report whose agent section is null. */
	report = json_pack("{s:n}", "agent");
	ck_assert_int_eq(heartbeat_apply(&hb, report, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_object_get(report, "agent"), "health"), "cause")),
	    "pve_error");
	json_decref(report);
	json_decref(ok);
	json_decref(deg);
}
END_TEST

static Suite *
heartbeat_suite(void)
{
	Suite *s = suite_create("heartbeat");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, each_failure_names_its_cause, 0,
	    (int)(sizeof(causes) / sizeof(causes[0])));
	tcase_add_test(tc, only_database_write_failures_keep_the_seq_in_memory);
	tcase_add_test(tc, since_is_kept_while_the_cause_holds);
	tcase_add_test(tc,
	    both_forms_have_one_key_set_and_peer_text_is_escaped);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(heartbeat_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
