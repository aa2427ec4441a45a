/*
 * test_selftest — `felhom-agent --selftest=hub`: the real
 * binary against hub-sim (with --strict-reports: the golden key set is
 * checked by the hub side too) and pve-sim, with a 0600 config file.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <check.h>
#include <jansson.h>

#include "hubtest.h"
#include "testutil.h"

static struct ht_env env;
static char cfgpath[600];

static void
sims_up(void)
{
	ck_assert_int_eq(tu_hub_sim_start(&env.hub, (const char *const[]){
	    "--quiet", "--strict-reports", NULL }), 0);
	ck_assert_int_eq(tu_pve_sim_start(&env.pve, NULL), 0);
}

static void
sims_down(void)
{
	ht_sims_stop(&env);
}

static void
setup(void)
{
	char *text;

	ck_assert_int_eq(tu_sim_call(&env.hub, "POST", "/_sim/reset",
	    "{\"all\":true}", NULL), 200);
	ck_assert_ptr_nonnull(env.dir = tu_tmpdir());
	(void) snprintf(env.dbpath, sizeof(env.dbpath), "%s/state.db",
	    env.dir);
	(void) snprintf(env.desired_file, sizeof(env.desired_file),
	    "%s/desired.json", env.dir);
	(void) snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", env.dir);
	text = ht_config_text(&env, 1);
	ck_assert_int_eq(tu_write_file(cfgpath, text, strlen(text), 0600), 0);
	free(text);
}

static void
teardown(void)
{
	tu_rmrf(env.dir);
	free(env.dir);
	env.dir = NULL;
}

static int
run(const char *const extra_env[], char **out, char **errout)
{
	char bin[4096];
	int status = -1;

	(void) snprintf(bin, sizeof(bin), "%s", tu_bin("felhom-agent"));
	{
		const char *argv[] = { bin, "--config", cfgpath,
		    "--selftest=hub", NULL };

		ck_assert_int_eq(tu_run(argv, extra_env, NULL, 0, out, errout,
		    &status), 0);
	}
	return status;
}

static void
no_secret(const char *out, const char *err)
{
	const char *tok = tu_sim_str(&env.hub, "token");
	const char *pvesec = tu_sim_str(&env.pve, "token_secret");

	ck_assert_msg(strstr(out, tok) == NULL && strstr(err, tok) == NULL,
	    "hub token printed");
	ck_assert_msg(strstr(out, pvesec) == NULL &&
	    strstr(err, pvesec) == NULL, "PVE secret printed");
}

START_TEST(selftest_round_trip_passes)
{
	char *out = NULL, *err = NULL;
	json_t *reports;
	int st;

	st = run(NULL, &out, &err);
	ck_assert_msg(st == 0, "exit %d\nstdout:\n%s\nstderr:\n%s", st, out,
	    err);
	ck_assert_ptr_nonnull(strstr(out, "sent: POST /report, seq 1, "));
	ck_assert_ptr_nonnull(strstr(out, "  guests: "));
	ck_assert_ptr_nonnull(strstr(out, "  audit: 0"));
	ck_assert_ptr_nonnull(strstr(out, "received: control envelope"));
	ck_assert_ptr_nonnull(strstr(out, "poll_interval_seconds: 300"));
	ck_assert_ptr_nonnull(strstr(out, "hub self-test: OK"));
	no_secret(out, err);
	/* The strict hub accepted it: the golden key set, hub side. */
	reports = tu_sim_json(&env.hub, "GET", "/_sim/reports", NULL);
	ck_assert_uint_eq(json_array_size(reports), 1);
	json_decref(reports);
	free(out);
	free(err);
	/* A second run continues the persisted seq. */
	st = run(NULL, &out, &err);
	ck_assert_int_eq(st, 0);
	ck_assert_ptr_nonnull(strstr(out, "seq 2,"));
	free(out);
	free(err);
}
END_TEST

START_TEST(selftest_wrong_token_fails_typed_without_printing_it)
{
	const char *env_add[] = {
	    "FELHOM_AGENT_HUB_TOKEN=fh_wrong_selftest_token_42", NULL };
	char *out = NULL, *err = NULL;
	int st;

	st = run(env_add, &out, &err);
	ck_assert_int_eq(st, EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(err, "FAILED (auth, HTTP 401)"));
	ck_assert_ptr_null(strstr(out, "hub self-test: OK"));
	ck_assert_ptr_null(strstr(out, "fh_wrong_selftest_token_42"));
	ck_assert_ptr_null(strstr(err, "fh_wrong_selftest_token_42"));
	no_secret(out, err);
	free(out);
	free(err);
}
END_TEST

START_TEST(selftest_hub_unavailable_fails)
{
	char *out = NULL, *err = NULL;
	int st;

	ck_assert_int_eq(tu_sim_call(&env.hub, "POST", "/_sim/fault",
	    "{\"kind\":\"503\"}", NULL), 200);
	st = run(NULL, &out, &err);
	ck_assert_int_eq(st, EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(err, "FAILED (http, HTTP 503)"));
	no_secret(out, err);
	/* it claims no report it did not send, and takes no seq. */
	ck_assert_msg(strstr(out, "\nsent: ") == NULL, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "not sent: "));
	ck_assert_ptr_nonnull(strstr(out, "seq 1 given back"));
	free(out);
	free(err);
	st = run(NULL, &out, &err);
	ck_assert_msg(st == 0, "exit %d\n%s\n%s", st, out, err);
	ck_assert_ptr_nonnull(strstr(out, "sent: POST /report, seq 1, "));
	free(out);
	free(err);
}
END_TEST

START_TEST(selftest_protocol_fault_fails)
{
	char *out = NULL, *err = NULL;
	int st;

	ck_assert_int_eq(tu_sim_call(&env.hub, "POST", "/_sim/fault",
	    "{\"kind\":\"wrong_schema\"}", NULL), 200);
	st = run(NULL, &out, &err);
	ck_assert_int_eq(st, EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(err, "FAILED (protocol"));
	/* The hub answered 200: it has seq 1, which is never used again. */
	ck_assert_ptr_nonnull(strstr(out, "seq 1: the hub took it"));
	free(out);
	free(err);
	st = run(NULL, &out, &err);
	ck_assert_msg(st == 0, "exit %d\n%s\n%s", st, out, err);
	ck_assert_ptr_nonnull(strstr(out, "sent: POST /report, seq 2, "));
	free(out);
	free(err);
}
END_TEST

START_TEST(selftest_with_hub_off_is_a_config_error)
{
	const char *env_add[] = { "FELHOM_AGENT_HUB_MODE=off", NULL };
	char *out = NULL, *err = NULL;
	int st;

	st = run(env_add, &out, &err);
	ck_assert_int_eq(st, EX_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "hub.mode"));
	free(out);
	free(err);
}
END_TEST

static Suite *
selftest_suite(void)
{
	Suite *s = suite_create("selftest_hub");
	TCase *tc = tcase_create("binary");

	tcase_add_unchecked_fixture(tc, sims_up, sims_down);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, selftest_round_trip_passes);
	tcase_add_test(tc, selftest_wrong_token_fails_typed_without_printing_it);
	tcase_add_test(tc, selftest_hub_unavailable_fails);
	tcase_add_test(tc, selftest_protocol_fault_fails);
	tcase_add_test(tc, selftest_with_hub_off_is_a_config_error);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(selftest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
