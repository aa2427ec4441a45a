/*
 * test_selftest — `felhom-agent --selftest[=read|task]` run as the
 * real binary against tools/pve-sim with a config file written to a temp
 * dir: healthy passes; a wrong token, a wrong pin and a missing privilege
 * fail naming the token, both fingerprints, the privilege; the task
 * round trip runs as ops through the engine, on a scratch guest by
 * default, on a named guest once the operator said yes, and leaves the
 * guest as it was.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <check.h>
#include <jansson.h>

#include "testutil.h"

static struct tu_sim sim;
static char *tmpdir;
static char cfgpath[4096];

static void
write_config(const char *secret, const char *fingerprint)
{
	char db[4096], desired[4096], url[256], *text;
	json_t *cfg;

	(void) snprintf(db, sizeof(db), "%s/state.db", tmpdir);
	(void) snprintf(desired, sizeof(desired), "%s/desired.json", tmpdir);
	(void) snprintf(url, sizeof(url), "%s/api2/json", sim.base);
	cfg = json_pack("{s:{s:s, s:s}, s:s, s:{s:s, s:s, s:s, s:s, s:i}, "
	    "s:{s:s}, s:s, s:{s:s, s:s}}",
	    "host", "id", "pve-01", "node", tu_sim_str(&sim, "node"),
	    "database", db,
	    "pve", "url", url, "token_id", tu_sim_str(&sim, "token_id"),
	    "token_secret", secret != NULL ? secret :
	    tu_sim_str(&sim, "token_secret"),
	    "fingerprint", fingerprint != NULL ? fingerprint :
	    tu_sim_str(&sim, "fingerprint"), "timeout_s", 10,
	    "hub", "mode", "off",
	    "desired_file", desired,
	    "log", "level", "debug", "format", "text");
	ck_assert_ptr_nonnull(cfg);
	text = json_dumps(cfg, JSON_INDENT(2));
	ck_assert_int_eq(tu_write_file(cfgpath, text, strlen(text), 0600), 0);
	free(text);
	json_decref(cfg);
}

static void
setup(void)
{
	const char *extra[] = { "--task-seconds", "0.1", NULL };

	tmpdir = tu_tmpdir();
	ck_assert_ptr_nonnull(tmpdir);
	(void) snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", tmpdir);
	ck_assert_int_eq(tu_pve_sim_start(&sim, extra), 0);
}

static void
teardown(void)
{
	tu_sim_stop(&sim);
	tu_rmrf(tmpdir);
	free(tmpdir);
}

/*
 * Runs the agent (extra: one more argument, or NULL); returns its exit
 * status, output in *out / *err_out.
 */
static int
agent_x(const char *mode, const char *guest, const char *extra, char **out,
    char **err_out)
{
	const char *argv[10];
	char sel[64];
	size_t n = 0;
	int status = -1;

	(void) snprintf(sel, sizeof(sel), "--selftest=%s", mode);
	argv[n++] = tu_bin("felhom-agent");
	argv[n++] = "--config";
	argv[n++] = cfgpath;
	argv[n++] = sel;
	if (guest != NULL) {
		argv[n++] = "--guest";
		argv[n++] = guest;
	}
	if (extra != NULL)
		argv[n++] = extra;
	argv[n] = NULL;
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, out, err_out, &status),
	    0);
	return status;
}

/* --selftest=task on a named guest is confirmed with --yes (no tty). */
static int
agent(const char *mode, const char *guest, char **out, char **err_out)
{
	return agent_x(mode, guest, guest != NULL && strcmp(mode, "task") ==
	    0 ? "--yes" : NULL, out, err_out);
}

/* The simulator's mutating requests, as {"vmid:kind": n}. */
static json_t *
counters(void)
{
	json_t *c = tu_sim_json(&sim, "GET", "/_sim/counters", NULL);

	ck_assert_ptr_nonnull(c);
	return c;
}

static int
count_of(const json_t *c, const char *key)
{
	return (int)json_integer_value(json_object_get(c, key));
}

/* The agent's database: sqlite3 -readonly, one value per line. */
static char *
db_query(const char *sql)
{
	char db[4096], *out = NULL;
	const char *argv[] = { "sqlite3", "-readonly", db, sql, NULL };
	int st = -1;

	(void) snprintf(db, sizeof(db), "%s/state.db", tmpdir);
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &st), 0);
	ck_assert_int_eq(st, 0);
	return out;
}

static void
no_secret(const char *out, const char *err_out)
{
	const char *secret = tu_sim_str(&sim, "token_secret");

	ck_assert_ptr_null(strstr(out, secret));
	ck_assert_ptr_null(strstr(err_out, secret));
}

START_TEST(read_selftest_passes_and_creates_nothing)
{
	char *out = NULL, *err_out = NULL, db[4096];
	struct stat st;

	write_config(NULL, NULL);
	ck_assert_msg(agent("read", NULL, &out, &err_out) == 0, "%s\n%s", out,
	    err_out);
	ck_assert_ptr_nonnull(strstr(out, "CHECK"));
	ck_assert_ptr_nonnull(strstr(out, "RESULT"));
	ck_assert_ptr_nonnull(strstr(out, "read self-test: OK"));
	ck_assert_ptr_nonnull(strstr(out, "pve token"));
	ck_assert_ptr_nonnull(strstr(out, "priv VM.PowerMgmt"));
	/* Issue 11: the bridges' SDN.Use, each storage's AllocateSpace. */
	ck_assert_ptr_nonnull(strstr(out, "on /sdn/zones/localnetwork/vmbr0: "));
	ck_assert_ptr_nonnull(strstr(out, "ok     on /storage/pbs: safety "
	    "backups and listing backups there"));
	ck_assert_ptr_nonnull(strstr(out, "ok     on /storage/local-lvm: "
	    "restored and created guest volumes there"));
	ck_assert_ptr_nonnull(strstr(out, "ok     on /storage/pbs: PBS "
	    "server, datastore, fingerprint"));
	ck_assert_ptr_null(strstr(out, "FAIL"));
	(void) snprintf(db, sizeof(db), "%s/state.db", tmpdir);
	ck_assert_int_ne(stat(db, &st), 0);	/* read-only: not created */
	no_secret(out, err_out);
	free(out);
	free(err_out);
}
END_TEST

START_TEST(bare_selftest_means_read)
{
	const char *argv[] = { NULL, "--config", cfgpath, "--selftest", NULL };
	char *out = NULL, *err_out = NULL;
	int status = -1;

	write_config(NULL, NULL);
	argv[0] = tu_bin("felhom-agent");
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, &err_out, &status),
	    0);
	ck_assert_msg(status == 0, "%s\n%s", out, err_out);
	ck_assert_ptr_nonnull(strstr(out, "read self-test: OK"));
	free(out);
	free(err_out);
}
END_TEST

START_TEST(read_selftest_with_an_existing_database)
{
	const char *argv[] = { NULL, "db", "migrate", "--db", NULL, NULL };
	char *out = NULL, *err_out = NULL, db[4096];
	int status = -1;

	write_config(NULL, NULL);
	(void) snprintf(db, sizeof(db), "%s/state.db", tmpdir);
	argv[0] = tu_bin("felhom-admin");
	argv[4] = db;
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, NULL, &status), 0);
	ck_assert_int_eq(status, 0);
	ck_assert_msg(agent("read", NULL, &out, &err_out) == 0, "%s\n%s", out,
	    err_out);
	ck_assert_ptr_nonnull(strstr(out, "database"));
	ck_assert_ptr_nonnull(strstr(out, "(read-only check)"));
	free(out);
	free(err_out);
}
END_TEST

/*
 * Issue 11 (pve-api.md §5.7, §5.13): SDN.Use on a guest's bridge and
 * Datastore.AllocateSpace on a backup storage are checked on their own
 * paths, wherever the ACL sits.
 */
START_TEST(missing_sdn_use_and_allocatespace_are_named)
{
	char *out = NULL, *err_out = NULL;
	long st;

	write_config(NULL, NULL);
	st = tu_sim_call(&sim, "POST", "/_sim/acl", "{\"/\":[\"*\"],"
	    "\"/sdn/zones/localnetwork/vmbr0\":[],"
	    "\"/storage/pbs\":[\"Datastore.Audit\"]}", NULL);
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(agent("read", NULL, &out, &err_out), EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(out, "MISSING SDN.Use on "
	    "/sdn/zones/localnetwork/vmbr0: needed for netN on this bridge"));
	ck_assert_ptr_nonnull(strstr(out, "MISSING Datastore.AllocateSpace on "
	    "/storage/pbs: needed for safety backups and listing backups"));
	ck_assert_int_eq((int)tu_count(out, "MISSING"), 2);
	ck_assert_ptr_nonnull(strstr(err_out, "lacks 2 privilege"));
	free(out);
	free(err_out);
	ck_assert_int_eq(tu_sim_call(&sim, "POST", "/_sim/acl",
	    "{\"/\":[\"*\"]}", NULL), 200);
}
END_TEST

START_TEST(wrong_token_fails_naming_the_token)
{
	char *out = NULL, *err_out = NULL;

	write_config("11111111-2222-3333-4444-555555555555", NULL);
	ck_assert_int_eq(agent("read", NULL, &out, &err_out), EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(out, "pve token"));
	ck_assert_ptr_nonnull(strstr(out, "FAIL"));
	ck_assert_ptr_nonnull(strstr(out, tu_sim_str(&sim, "token_id")));
	ck_assert_ptr_nonnull(strstr(out, "rejected"));
	ck_assert_ptr_nonnull(strstr(out, "read self-test: FAILED"));
	ck_assert_ptr_null(strstr(out, "11111111-2222"));
	ck_assert_ptr_null(strstr(err_out, "11111111-2222"));
	free(out);
	free(err_out);
}
END_TEST

START_TEST(wrong_pin_fails_showing_both_fingerprints)
{
	static const char wrong[] = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
	    "67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
	char *out = NULL, *err_out = NULL;

	write_config(NULL, wrong);
	ck_assert_int_eq(agent("read", NULL, &out, &err_out), EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(out, "tls_pin_mismatch"));
	ck_assert_ptr_nonnull(strstr(out, wrong));
	ck_assert_ptr_nonnull(strstr(out, tu_sim_str(&sim, "fingerprint")));
	no_secret(out, err_out);
	free(out);
	free(err_out);
}
END_TEST

START_TEST(missing_privilege_is_named)
{
	char *out = NULL, *err_out = NULL;
	long st;

	write_config(NULL, NULL);
	st = tu_sim_call(&sim, "POST", "/_sim/acl", "{\"/\":[\"VM.Audit\","
	    "\"Sys.Audit\",\"Datastore.Audit\",\"Datastore.AllocateSpace\","
	    "\"VM.PowerMgmt\",\"VM.Config.Disk\",\"VM.Config.CPU\","
	    "\"VM.Config.Memory\",\"VM.Config.Network\",\"VM.Config.Options\","
	    "\"VM.Snapshot\",\"VM.Allocate\",\"SDN.Use\"]}", NULL);
	ck_assert_int_eq(st, 200);
	ck_assert_int_eq(agent("read", NULL, &out, &err_out), EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(out, "MISSING VM.Backup on /vms"));
	ck_assert_int_eq((int)tu_count(out, "MISSING"), 1);
	ck_assert_ptr_nonnull(strstr(err_out, "lacks 1 privilege"));
	free(out);
	free(err_out);
}
END_TEST

START_TEST(task_selftest_round_trip_leaves_the_guest_as_it_was)
{
	char *out = NULL, *err_out = NULL;
	json_t *w, *g;
	size_t i;
	int saw = 0;

	write_config(NULL, NULL);
	ck_assert_msg(agent("task", "101", &out, &err_out) == 0, "%s\n%s", out,
	    err_out);
	ck_assert_ptr_nonnull(strstr(out, "snapshot of CT 101 succeeded"));
	ck_assert_ptr_nonnull(strstr(out, "rollback of CT 101 succeeded"));
	/* 101 was running: started again. */
	ck_assert_ptr_nonnull(strstr(out, "start of CT 101 succeeded"));
	ck_assert_ptr_nonnull(strstr(out, "delete_snapshot of CT 101 "
	    "succeeded"));
	ck_assert_ptr_nonnull(strstr(out, "task self-test: OK"));
	/* Cross-check in the simulator's own world. */
	w = tu_sim_json(&sim, "GET", "/_sim/world", NULL);
	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "guests"), i, g) {
		if (json_integer_value(json_object_get(g, "vmid")) != 101)
			continue;
		saw = 1;
		ck_assert_str_eq(json_string_value(json_object_get(g,
		    "status")), "running");
		ck_assert(json_is_null(json_object_get(g, "lock")));
	}
	ck_assert(saw);
	json_decref(w);
	no_secret(out, err_out);
	free(out);
	free(err_out);
	/* A stopped guest stays stopped. */
	ck_assert_msg(agent("task", "104", &out, &err_out) == 0, "%s\n%s", out,
	    err_out);
	ck_assert_ptr_null(strstr(out, "start of CT 104"));
	free(out);
	free(err_out);
}
END_TEST

START_TEST(task_selftest_failure_is_reported_and_cleaned_up)
{
	char *out = NULL, *err_out = NULL;
	long st;

	write_config(NULL, NULL);
	st = tu_sim_call(&sim, "POST", "/_sim/task-fault", "{\"vmid\":101,"
	    "\"kind\":\"rollback\",\"exitstatus\":\"rollback exploded\"}",
	    NULL);
	ck_assert_int_eq(st, 200);
	ck_assert_int_ne(agent("task", "101", &out, &err_out), 0);
	ck_assert_ptr_nonnull(strstr(out, "rollback exploded"));
	ck_assert_ptr_nonnull(strstr(out, "cleanup"));
	ck_assert_ptr_nonnull(strstr(out, "task self-test: FAILED"));
	free(out);
	free(err_out);
}
END_TEST

/*
 * issue 10, hole 5: by default the round trip runs on a scratch guest
 * the agent provisions and destroys, every step an op through the gate
 * and the engine (journaled, audited), no other guest touched.
 */
START_TEST(task_selftest_on_a_scratch_guest_runs_as_ops)
{
	char *out = NULL, *err_out = NULL, *q;
	json_t *c, *v;
	const char *k;

	write_config(NULL, NULL);
	ck_assert_msg(agent("task", NULL, &out, &err_out) == 0, "%s\n%s", out,
	    err_out);
	ck_assert_ptr_nonnull(strstr(out, "task self-test: OK"));
	c = counters();
	json_object_foreach(c, k, v)
		ck_assert_msg(strncmp(k, "999900:", 7) == 0, "%s touched", k);
	ck_assert_int_eq(count_of(c, "999900:create"), 1);
	/* Ours and the rollback's safety snapshot, both deleted again. */
	ck_assert_int_eq(count_of(c, "999900:snapshot"), 2);
	ck_assert_int_eq(count_of(c, "999900:rollback"), 1);
	ck_assert_int_eq(count_of(c, "999900:delete_snapshot"), 2);
	ck_assert_int_eq(count_of(c, "999900:destroy"), 1);
	json_decref(c);
	q = db_query("SELECT kind || ':' || state FROM ops ORDER BY id");
	ck_assert_str_eq(q, "provision:succeeded\nsnapshot:succeeded\n"
	    "rollback:succeeded\ndelete_snapshot:succeeded\n"
	    "destroy:succeeded\n");
	free(q);
	/* Every step benign by provenance: no confirmation needed. */
	q = db_query("SELECT count(*) FROM audit WHERE code = "
	    "'operator_confirmed' OR code = 'unsigned_destructive'");
	ck_assert_str_eq(q, "0\n");
	free(q);
	q = db_query("SELECT decision FROM audit WHERE event = 'selftest' "
	    "AND actor LIKE 'operator:%' ORDER BY seq");
	ck_assert_str_eq(q, "started\nsucceeded\n");
	free(q);
	q = db_query("SELECT count(*) FROM provenance");
	ck_assert_str_eq(q, "0\n");
	free(q);
	free(out);
	free(err_out);
}
END_TEST

/* On a named guest: the operator confirms, and it is audited as theirs. */
START_TEST(task_selftest_on_a_guest_needs_the_operators_yes)
{
	char *out = NULL, *err_out = NULL, *q;
	json_t *c;

	write_config(NULL, NULL);
	/* No terminal, no --yes: nothing happens at all. */
	ck_assert_int_eq(agent_x("task", "101", NULL, &out, &err_out),
	    EX_USAGE);
	ck_assert_ptr_nonnull(strstr(err_out, "--yes"));
	c = counters();
	ck_assert_uint_eq(json_object_size(c), 0);
	json_decref(c);
	free(out);
	free(err_out);
	ck_assert_msg(agent("task", "101", &out, &err_out) == 0, "%s\n%s",
	    out, err_out);
	q = db_query("SELECT event || ':' || code || ':' || (actor LIKE "
	    "'operator:%') FROM audit WHERE code IN ('unsigned_destructive', "
	    "'operator_confirmed') ORDER BY seq");
	ck_assert_str_eq(q, "gate:unsigned_destructive:0\n"
	    "gate:operator_confirmed:1\n");
	free(q);
	q = db_query("SELECT signer LIKE 'operator:%' FROM ops WHERE kind = "
	    "'rollback'");
	ck_assert_str_eq(q, "1\n");
	free(q);
	free(out);
	free(err_out);
}
END_TEST

START_TEST(task_selftest_yes_without_guest_is_a_usage_error)
{
	char *out = NULL, *err_out = NULL;

	write_config(NULL, NULL);
	ck_assert_int_eq(agent_x("task", NULL, "--yes", &out, &err_out),
	    EX_USAGE);
	ck_assert_ptr_nonnull(strstr(err_out, "--guest"));
	free(out);
	free(err_out);
	ck_assert_int_eq(agent_x("read", "101", NULL, &out, &err_out),
	    EX_USAGE);
	ck_assert_ptr_nonnull(strstr(err_out, "--selftest=task"));
	free(out);
	free(err_out);
}
END_TEST

static Suite *
selftest_suite(void)
{
	Suite *s = suite_create("selftest");
	TCase *tc = tcase_create("agent");

	/* A fresh simulator per test: each may change the ACL or world. */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 40);
	tcase_add_test(tc, read_selftest_passes_and_creates_nothing);
	tcase_add_test(tc, bare_selftest_means_read);
	tcase_add_test(tc, read_selftest_with_an_existing_database);
	tcase_add_test(tc, wrong_token_fails_naming_the_token);
	tcase_add_test(tc, wrong_pin_fails_showing_both_fingerprints);
	tcase_add_test(tc, missing_privilege_is_named);
	tcase_add_test(tc, missing_sdn_use_and_allocatespace_are_named);
	tcase_add_test(tc, task_selftest_round_trip_leaves_the_guest_as_it_was);
	tcase_add_test(tc, task_selftest_failure_is_reported_and_cleaned_up);
	tcase_add_test(tc, task_selftest_on_a_scratch_guest_runs_as_ops);
	tcase_add_test(tc, task_selftest_on_a_guest_needs_the_operators_yes);
	tcase_add_test(tc, task_selftest_yes_without_guest_is_a_usage_error);
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
