/*
 * test_growth — issue 15: what felhom-admin's read-only commands cost
 * does not grow with the history.  The same commands run against a
 * database with 1,000 and one with 50,000 journal rows (terminal ops of
 * five rows each, an audit row each, 50 ops in flight), and SQLite's
 * own count of the virtual-machine steps they ran (test hook
 * FELHOM_TEST_VM_STEPS, store/db.c) must be the same within a small
 * constant: a count, not a time, so a loaded machine cannot fail it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "store/audit.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"
#include "testutil.h"

/* One op an hour: a longer history at the same pace of work. */
#define GAP		3600
#define PER_OP		5
#define INFLIGHT	50
/* What may differ: a page more of a B-tree to descend, a few rows. */
#define SLACK		300

static char *dir;
static char small[600], big[600], uid_s[OPS_UID_LEN], uid_b[OPS_UID_LEN];

static void
die_if(int rc, const struct err *err, const char *what)
{
	ck_assert_msg(rc == 0, "%s: %s", what, err_msg(err));
}

static void
jrow(struct db *db, int64_t id, int64_t t, const char *from, const char *ev,
    const char *to)
{
	struct journal_entry je;
	struct err err;

	memset(&je, 0, sizeof(je));
	je.op_id = id;
	je.at = t;
	je.from = from;
	je.event = ev;
	je.to = to;
	err_init(&err);
	die_if(journal_append(db, &je, NULL, &err), &err, "journal");
}

/*
 * rows journal rows, one op an hour up to now (the longer history has
 * the same recent days); the oldest op's uid into first_uid.
 */
static void
build(const char *path, int64_t rows, char *first_uid)
{
	static const char *const ev[PER_OP][3] = {
		{ "new", "decide", "authorized" },
		{ "authorized", "submit", "submitting" },
		{ "submitting", "accepted", "running" },
		{ "running", "task_ok", "running" },
		{ "running", "done", "succeeded" } };
	int64_t nops = rows / PER_OP, i, id, t, vm, now = (int64_t)time(NULL);
	struct audit_event ae;
	struct ops_new on;
	struct db *db = NULL;
	struct err err;
	char key[64];
	int k;

	err_init(&err);
	die_if(db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db, &err),
	    &err, path);
	die_if(db_begin(db, &err), &err, "begin");
	for (i = 0; i < nops + INFLIGHT; i++) {
		t = now - (nops + INFLIGHT - i) * GAP;
		(void) snprintf(key, sizeof(key), "growth/%lld", (long long)i);
		memset(&on, 0, sizeof(on));
		on.vmid = 100 + i % 200;
		on.kind = OPS_KIND_START;
		on.source = OPS_SOURCE_DESIRED;
		on.class = OPS_CLASS_BENIGN;
		on.idem_key = key;
		on.now = t;
		die_if(ops_create(db, &on, &id, &err), &err, "op");
		if (i == 0) {
			struct ops_row *op = NULL;

			die_if(ops_get(db, id, &op, &err), &err, "get");
			(void) snprintf(first_uid, OPS_UID_LEN, "%s", op->uid);
			ops_row_free(op);
		}
		if (i >= nops) {
			die_if(ops_cas_state(db, id, "new", "authorized", 0, t,
			    &vm, NULL, &err), &err, "in flight");
			jrow(db, id, t, "new", "decide", "authorized");
			continue;
		}
		for (k = 0; k < PER_OP; k++)
			jrow(db, id, t + k, ev[k][0], ev[k][1], ev[k][2]);
		die_if(ops_cas_state(db, id, "new", i % 10 == 0 ? "failed" :
		    "succeeded", 1, t + PER_OP, &vm, NULL, &err), &err, "end");
		if (i % 10 == 0)
			die_if(ops_set_error(db, id, "pve_error", "it failed", 0,
			    0, &err), &err, "error");
		memset(&ae, 0, sizeof(ae));
		ae.at = t;
		ae.event = "transition";
		ae.code = "succeeded";
		ae.op_id = id;
		ae.vmid = on.vmid;
		die_if(audit_append(db, &ae, NULL, &err), &err, "audit");
	}
	die_if(db_commit(db, &err), &err, "commit");
	db_close(db);
}

/* The VM steps one felhom-admin command ran (all its connections). */
static long long
steps(const char *db, const char *const args[])
{
	char stepfile[600], env[700], *out = NULL, *text, *p;
	const char *argv[16];
	const char *envv[] = { env, NULL };
	long long total = 0, n;
	int i = 0, st = -1;

	(void) snprintf(stepfile, sizeof(stepfile), "%s/steps", dir);
	(void) unlink(stepfile);
	(void) snprintf(env, sizeof(env), "FELHOM_TEST_VM_STEPS=%s", stepfile);
	argv[i++] = tu_bin("felhom-admin");
	argv[i++] = "--db";
	argv[i++] = db;
	while (*args != NULL && i < 15)
		argv[i++] = *args++;
	argv[i] = NULL;
	ck_assert_int_eq(tu_run(argv, envv, NULL, 0, &out, NULL, &st), 0);
	ck_assert_msg(st == 0, "felhom-admin %s: exit %d", argv[3], st);
	free(out);
	text = tu_read_file(stepfile, NULL);
	ck_assert_ptr_nonnull(text);
	for (p = text; (p = strstr(p, "vm_steps ")) != NULL; p += 9) {
		n = strtoll(p + 9, NULL, 10);
		total += n;
	}
	free(text);
	ck_assert_int_gt(total, 0);
	return total;
}

static const char *const cmds[][8] = {
	{ "status", NULL },
	{ "--json", "status", NULL },
	{ "journal", NULL },
	{ "journal", "--op", "@first", NULL },
	{ "audit", NULL },
	{ "audit", "--op", "@first", NULL },
	{ "pending", NULL },
	{ "db", "version", NULL },
};

START_TEST(admin_commands_cost_the_same_at_1k_and_50k_journal_rows)
{
	const char *a[8];
	long long s, b;
	int k;

	for (k = 0; cmds[_i][k] != NULL; k++)
		a[k] = strcmp(cmds[_i][k], "@first") == 0 ? uid_s :
		    cmds[_i][k];
	a[k] = NULL;
	s = steps(small, a);
	for (k = 0; cmds[_i][k] != NULL; k++)
		if (strcmp(cmds[_i][k], "@first") == 0)
			a[k] = uid_b;
	b = steps(big, a);
	fprintf(stderr, "felhom-admin %s %s: %lld VM steps at 1k, %lld at "
	    "50k journal rows\n", a[0], a[1] != NULL ? a[1] : "", s, b);
	ck_assert_msg(b <= s + SLACK, "felhom-admin %s %s: %lld VM steps at "
	    "50k journal rows, %lld at 1k: it grows with the history", a[0],
	    a[1] != NULL ? a[1] : "", b, s);
}
END_TEST

/* Once for all the commands (built in the parent). */
static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(small, sizeof(small), "%s/small.db", dir);
	(void) snprintf(big, sizeof(big), "%s/big.db", dir);
	build(small, 1000, uid_s);
	build(big, 50000, uid_b);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
}

static Suite *
growth_suite(void)
{
	Suite *s = suite_create("growth");
	TCase *tc = tcase_create("growth");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc,
	    admin_commands_cost_the_same_at_1k_and_50k_journal_rows, 0,
	    (int)(sizeof(cmds) / sizeof(cmds[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(growth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
