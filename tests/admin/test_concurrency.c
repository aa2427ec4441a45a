/*
 * test_concurrency — felhom-admin writing while felhom-agent runs
 * approve and cancel racing each other and the agent on
 * the same ops never corrupt the database and never run an op twice or
 * after its cancel; `db backup` taken while the agent works restores to
 * a database that passes `db check` and holds the journal as it was up
 * to the backup.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "atu.h"
#include "base/log.h"
#include "testutil.h"

#define NOPS	4

/*
 * Pending ops, one per guest; the pve-sim kind each one runs, and how
 * much later than its approval the cancel starts: before the approval
 * lands, between it and the agent's submit, after.  Guest 105 is
 * protected: PVE refuses its destroy, which then backs off (authorized
 * again, cancellable: the case).
 */
static const struct {
	const char	*op;
	int64_t		 vmid;
	const char	*params;
	const char	*counter;
	long		 cancel_delay_us;
} jobs[NOPS] = {
	{ "delete_snapshot", 101, "{\"name\":\"pre-upgrade\"}",
	    "101:delete_snapshot", 0 },
	{ "set_config", 102, "{\"delete\":[\"mp0\"]}", "102:config",
	    200000 },
	{ "destroy", 105, "{\"purge\":true}", "105:destroy", 600000 },
	{ "destroy", 104, "{\"purge\":true}", "104:destroy", 3000000 },
};

/*
 * Runs felhom-admin args in a child that waits for go to close, then
 * delay_us more.
 */
static pid_t
racer(const int go[2], long delay_us, const char *const args[])
{
	const char *argv[16];
	char c;
	int n = 0, fd;
	pid_t pid;

	argv[n++] = tu_bin("felhom-admin");
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			(void) dup2(fd, 1);
			(void) dup2(fd, 2);
		}
		(void) setenv("SUDO_USER", "racer", 1);
		/* Everybody starts when the parent closes the pipe. */
		(void) close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(126);
		if (delay_us > 0)
			(void) usleep((useconds_t)delay_us);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static int
wait_status(pid_t pid)
{
	int st = -1;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Rows of the journal of uid whose to-state is terminal. */
static size_t
terminal_rows(const char *uid)
{
	static const char *const term[] = { "succeeded", "failed",
	    "rejected", "expired", "superseded", "cancelled", "rolled_back",
	    NULL };
	const char *args[] = { "journal", "--op", uid, "--limit", "0", NULL };
	json_t *arr, *o;
	size_t i, k, n = 0;
	int st;

	arr = at_admin_json(args, &st);
	ck_assert_int_eq(st, 0);
	json_array_foreach(arr, i, o)
		for (k = 0; term[k] != NULL; k++)
			if (strcmp(json_string_value(json_object_get(o, "to")),
			    term[k]) == 0)
				n++;
	json_decref(arr);
	return n;
}

START_TEST(approve_and_cancel_racing_the_agent_run_each_op_at_most_once)
{
	char *uids[NOPS], blobdir[4200], file[4400], sig[4400], *blob, *state;
	const char *pend[] = { "--config", at.cfg, "pending", "--write-blob",
	    blobdir, NULL };
	const char *check[] = { "--config", at.cfg, "db", "check", NULL };
	int go[2], ap[NOPS], ca[NOPS], i, k, st, settled;
	pid_t agent, pa[NOPS], pc[NOPS];
	json_t *arr, *o, *accepted;
	size_t n, j, len;

	for (i = 0; i < NOPS; i++) {
		blob = at_blob(jobs[i].op, jobs[i].vmid, jobs[i].params, 3600);
		at_hub_post(NULL, blob, strlen(blob), NULL);
		free(blob);
	}
	ck_assert_int_eq(at_agent_once(4), 0);
	/* Each op's sign request, signed by alice. */
	(void) snprintf(blobdir, sizeof(blobdir), "%s/sign", at.dir);
	ck_assert_int_eq(mkdir(blobdir, 0700), 0);
	ck_assert_int_eq(at_admin(pend, NULL, NULL), 0);
	{
		const char *args[] = { "pending", NULL };

		arr = at_admin_json(args, &st);
	}
	n = json_array_size(json_object_get(arr, "ops"));
	ck_assert_uint_eq(n, NOPS);
	json_array_foreach(json_object_get(arr, "ops"), j, o) {
		for (i = 0; i < NOPS && jobs[i].vmid != json_integer_value(
		    json_object_get(o, "vmid")); i++)
			;
		ck_assert_int_lt(i, NOPS);
		uids[i] = strdup(json_string_value(json_object_get(o,
		    "op_id")));
		(void) snprintf(file, sizeof(file), "%s/%s.json", blobdir,
		    uids[i]);
		blob = tu_read_file(file, &len);
		ck_assert_ptr_nonnull(blob);
		{
			char *s = at_sign("alice", blob, len);

			(void) snprintf(sig, sizeof(sig), "%s.sig", file);
			ck_assert_int_eq(tu_write_file(sig, s, strlen(s),
			    0600), 0);
			free(s);
		}
		free(blob);
	}
	json_decref(arr);
	/*
	 * The agent runs, cycling every second; approve and cancel of every
	 * op start together.
	 */
	at_sim(&at.hub, "/_sim/envelope", "{\"poll_interval_seconds\":1}");
	agent = at_agent_start();
	(void) usleep(500000);
	ck_assert_int_eq(pipe(go), 0);
	for (i = 0; i < NOPS; i++) {
		(void) snprintf(file, sizeof(file), "%s/%s.json.sig", blobdir,
		    uids[i]);
		{
			const char *a[] = { "--config", at.cfg, "approve",
			    uids[i], "--signature", file, NULL };
			const char *c[] = { "--config", at.cfg, "cancel",
			    uids[i], NULL };

			pa[i] = racer(go, 0, a);
			pc[i] = racer(go, jobs[i].cancel_delay_us, c);
		}
	}
	(void) close(go[0]);
	(void) close(go[1]);
	for (i = 0; i < NOPS; i++) {
		ap[i] = wait_status(pa[i]);
		ca[i] = wait_status(pc[i]);
		/* Clean answers: done, or no (never busy, never 70). */
		ck_assert_msg((ap[i] == 0 || ap[i] == 1) && (ca[i] == 0 ||
		    ca[i] == 1), "op %d: approve %d, cancel %d", i, ap[i],
		    ca[i]);
	}
	/* Let the agent finish what it took, then stop it. */
	for (k = 0, settled = 0; k < 150 && !settled; k++) {
		settled = 1;
		for (i = 0; i < NOPS; i++) {
			state = at_op_state(uids[i]);
			if (strcmp(state, "succeeded") != 0 &&
			    strcmp(state, "cancelled") != 0)
				settled = 0;
			free(state);
		}
		if (!settled)
			(void) usleep(100000);
	}
	ck_assert_int_eq(at_agent_stop(agent), 0);
	for (i = 0; i < NOPS; i++) {
		state = at_op_state(uids[i]);
		/* Ran exactly once, or never: never after its cancel. */
		if (strcmp(state, "succeeded") == 0) {
			ck_assert_int_eq(ap[i], 0);
			ck_assert_int_eq(ca[i], 1);
		} else {
			ck_assert_str_eq(state, "cancelled");
			ck_assert_int_eq(ca[i], 0);
		}
		ck_assert_uint_eq(terminal_rows(uids[i]), 1);
		free(state);
	}
	/* What PVE carried out: once for a succeeded op, never otherwise. */
	accepted = tu_sim_json(&at.pve, "GET", "/_sim/counters?outcome="
	    "accepted", NULL);
	ck_assert_ptr_nonnull(accepted);
	for (i = 0; i < NOPS; i++) {
		state = at_op_state(uids[i]);
		ck_assert_msg(json_integer_value(json_object_get(accepted,
		    jobs[i].counter)) == (strcmp(state, "succeeded") == 0),
		    "%s: %s, %lld requests carried out", jobs[i].counter,
		    state, (long long)json_integer_value(json_object_get(
		    accepted, jobs[i].counter)));
		free(state);
	}
	json_decref(accepted);
	ck_assert_int_eq(at_admin(check, NULL, NULL), 0);
	for (i = 0; i < NOPS; i++)
		free(uids[i]);
}
END_TEST

/* The journal of a database file, oldest first (all rows). */
static json_t *
journal_of(const char *db)
{
	const char *args[] = { "--db", db, "journal", "--limit", "0", "--json",
	    NULL };
	char *out = NULL;
	json_t *arr;

	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	arr = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(arr);
	free(out);
	return arr;
}

START_TEST(backup_during_a_busy_run_restores_to_the_journal_up_to_it)
{
	char bk[3][4200], restored[4200], *blob, *sig, rdir[4200];
	const char *rcheck[] = { "--db", restored, "db", "check", NULL };
	json_t *live, *copy;
	size_t i, j, rows[3], mid = 0;
	pid_t agent;
	int k;

	/* Thirty signed snapshots over four guests: a busy agent. */
	for (i = 0; i < 30; i++) {
		char params[64];

		(void) snprintf(params, sizeof(params), "{\"name\":\"s%zu\"}",
		    i);
		blob = at_blob("snapshot", 101 + (int64_t)(i % 4), params,
		    3600);
		sig = at_sign("alice", blob, strlen(blob));
		at_hub_post(NULL, blob, strlen(blob), sig);
		free(blob);
		free(sig);
	}
	/*
	 * Each PVE call 100 ms: the run lasts seconds, not a fraction of
	 * one (with the agent polling every 50 ms, fixed sleeps could all
	 * fall before its first write or after its last).
	 */
	at_sim(&at.pve, "/_sim/config", "{\"latency_ms\":100}");
	agent = at_agent_start();
	for (k = 0; k < 3; k++) {
		const char *args[] = { "--config", at.cfg, "db", "backup",
		    bk[k], NULL };
		int n = 0, t;

		/* Backup k once (k + 1) x 5 of the 30 snapshots were sent. */
		for (t = 0; t < 600; t++) {
			n = at_pve_count("101:snapshot") +
			    at_pve_count("102:snapshot") +
			    at_pve_count("103:snapshot") +
			    at_pve_count("104:snapshot");
			if (n >= (k + 1) * 5)
				break;
			(void) usleep(20000);
		}
		ck_assert_msg(n >= (k + 1) * 5, "only %d snapshot(s) sent", n);
		(void) snprintf(bk[k], sizeof(bk[k]), "%s/backup-%d.db",
		    at.dir, k);
		ck_assert_int_eq(at_admin(args, NULL, NULL), 0);
	}
	/* Done: every snapshot ran. */
	for (k = 0; k < 300 && at_pve_count("104:snapshot") +
	    at_pve_count("101:snapshot") + at_pve_count("102:snapshot") +
	    at_pve_count("103:snapshot") < 30; k++)
		(void) usleep(100000);
	(void) usleep(300000);
	ck_assert_int_eq(at_agent_stop(agent), 0);
	at_sim(&at.pve, "/_sim/config", "{\"latency_ms\":0}");
	live = journal_of(at.db);
	for (k = 0; k < 3; k++) {
		/* Restored as a state.db of its own: it checks, and ... */
		(void) snprintf(rdir, sizeof(rdir), "%s/restore-%d", at.dir, k);
		ck_assert_int_eq(mkdir(rdir, 0700), 0);
		(void) snprintf(restored, sizeof(restored), "%s/state.db",
		    rdir);
		{
			size_t len;
			char *bytes = tu_read_file(bk[k], &len);

			ck_assert_ptr_nonnull(bytes);
			ck_assert_int_eq(tu_write_file(restored, bytes, len,
			    0600), 0);
			free(bytes);
		}
		ck_assert_int_eq(at_admin(rcheck, NULL, NULL), 0);
		/* ... its journal is the live one up to the backup. */
		copy = journal_of(restored);
		rows[k] = json_array_size(copy);
		ck_assert_uint_le(rows[k], json_array_size(live));
		for (j = 0; j < rows[k]; j++)
			ck_assert_msg(json_equal(json_array_get(copy, j),
			    json_array_get(live, j)), "backup %d row %zu "
			    "differs", k, j);
		if (rows[k] > 0 && rows[k] < json_array_size(live))
			mid++;
		json_decref(copy);
	}
	/* Taken while the agent wrote: some backup is mid-way. */
	ck_assert_uint_ge(mid, 1);
	ck_assert_uint_le(rows[0], rows[1]);
	ck_assert_uint_le(rows[1], rows[2]);
	json_decref(live);
}
END_TEST

static Suite *
concurrency_suite(void)
{
	Suite *s = suite_create("admin_concurrency");
	TCase *tc = tcase_create("daemon");

	tcase_add_unchecked_fixture(tc, at_sims_start, at_sims_stop);
	tcase_add_checked_fixture(tc, at_setup, at_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    approve_and_cancel_racing_the_agent_run_each_op_at_most_once);
	tcase_add_test(tc,
	    backup_during_a_busy_run_restores_to_the_journal_up_to_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(concurrency_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
