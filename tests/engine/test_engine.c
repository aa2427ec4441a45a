/*
 * test_engine — lanes, execution, failures, idempotency and recovery on
 * the fake executor (R-22 … ): no network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "base/log.h"
#include "engine/engine.h"
#include "engine/sm.h"
#include "etu.h"
#include "fake_exec.h"
#include "store/actual.h"
#include "store/audit.h"
#include "store/converge.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/journal.h"
#include "store/kv.h"
#include "store/ops.h"
#include "testutil.h"

#define T0	1780000000

static char *dir;
static struct db *db;
static struct fake fk;
static struct engine *eng;

static void
engine_open(void)
{
	struct engine_config cfg;
	struct err err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.poll_interval_ms = 1000;
	err_init(&err);
	ck_assert_msg(engine_new(db, &fk.exec, &fk.clock, &cfg, &eng, &err) ==
	    0, "engine_new: %s", err_msg(&err));
}

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	db = etu_db_open(dir);
	fake_init(&fk, T0);
	engine_open();
}

static void
teardown(void)
{
	etu_cover(db);
	engine_free(eng);
	eng = NULL;
	db_close(db);
	db = NULL;
	fake_reset(&fk);
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

/* Closes and reopens the database and the engine: a restart. */
static void
restart(void)
{
	engine_free(eng);
	db_close(db);
	db = etu_db_open(dir);
	engine_open();
}

static void
store_desired(int64_t gen, const char *guests_json)
{
	json_error_t jerr;
	json_t *g = json_loads(guests_json, 0, &jerr);
	struct err err;

	ck_assert_msg(g != NULL, "%s", jerr.text);
	err_init(&err);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_msg(desired_replace(db, gen, g, NULL, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_int_eq(db_commit(db, NULL), 0);
	json_decref(g);
}

/*
 * Steps until nothing is left to do, advancing the fake clock by the
 * delays asked for (up to 10 minutes); at most `max` calls.  Returns
 * the calls made.
 */
static int
run(int max)
{
	struct engine_next nx;
	struct err err;
	int i;

	for (i = 0; i < max; i++) {
		err_init(&err);
		ck_assert_msg(engine_step(eng, 0, &nx, &err) == 0,
		    "engine_step: %s", err_msg(&err));
		if (nx.more)
			continue;
		/* Idle, or only a sign window left to lapse: done. */
		if (nx.delay_ms < 0 || nx.delay_ms > 600000)
			break;
		fk.now += nx.delay_ms / 1000 > 0 ? nx.delay_ms / 1000 : 1;
	}
	return i;
}

static void
cycle(void)
{
	struct err err;
	int safe = 0;

	err_init(&err);
	ck_assert_msg(engine_observe(eng, &safe, &err) == 0, "observe: %s",
	    err_msg(&err));
	ck_assert(safe);
	ck_assert_msg(engine_plan(eng, NULL, &err) == 0, "plan: %s",
	    err_msg(&err));
	(void) run(200);
}

static int64_t
count_ops(const char *state)
{
	int64_t n;

	ck_assert_int_eq(ops_count(db, state, &n, NULL), 0);
	return n;
}

/* An authorized op (classified by one engine tick). */
static int64_t
op_authorized(int64_t vmid, enum ops_kind kind, const char *params,
    const char *key)
{
	struct sm_args a;
	int64_t id = etu_op(db, vmid, kind, OPS_CLASS_BENIGN, params, key,
	    fk.now);

	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	return id;
}

static struct ops_row *
op_get(int64_t id)
{
	struct ops_row *op = NULL;

	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	return op;
}

START_TEST(desired_state_converges_then_stays_quiet)
{
	int submits;

	fake_guest_add(&fk, 101, "stopped", "{\"hostname\":\"web\","
	    "\"memory\":512,\"tags\":\"web;prod\"}");
	fake_guest_add(&fk, 102, "running", NULL);
	fake_guest_add(&fk, 103, "running", NULL);
	fake_guest_add(&fk, 999, "running", NULL);	/* unmanaged */
	store_desired(3, "[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"memory_mib\":1024,\"tags\":[\"prod\",\"web\"]}},"
	    "{\"vmid\":102,\"state\":\"stopped\"},"
	    "{\"vmid\":103,\"state\":\"absent\"}]");
	cycle();
	ck_assert_str_eq(fk.guests[0].status, "running");
	ck_assert_str_eq(json_string_value(json_object_get(fk.guests[0].config,
	    "memory")), "1024");
	ck_assert_str_eq(fk.guests[1].status, "stopped");
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_SET_CONFIG], 1);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_START], 1);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_SHUTDOWN], 1);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_DESTROY], 0);
	ck_assert_int_eq(fk.submits, 3);
	ck_assert_ptr_nonnull(strstr(fk.order, "101:set_config"));
	ck_assert(strstr(fk.order, "101:set_config") <
	    strstr(fk.order, "101:start"));
	ck_assert_int_eq(count_ops("succeeded"), 3);
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	ck_assert_str_eq(fk.guests[3].status, "running");
	/* The second cycle finds nothing to do: no request at all. */
	submits = fk.submits;
	cycle();
	ck_assert_int_eq(fk.submits, submits);
	ck_assert_int_eq(count_ops(NULL), 4);
}
END_TEST

START_TEST(one_vmid_runs_strictly_in_submission_order)
{
	struct engine_next nx;
	int64_t a, b, c;
	int i;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.task_polls = 3;
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	b = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"cores\":\"2\"},\"delete\":[]}", "b");
	c = op_authorized(101, OPS_KIND_STOP, "{\"mode\":\"shutdown\","
	    "\"timeout\":30}", "c");
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
		/* Never two of one vmid past authorized at once. */
		ck_assert_uint_le(nx.in_flight, 1);
		if (etu_state(db, a) != SM_SUCCEEDED)
			ck_assert_int_eq(fk.submits, 1);
		if (etu_state(db, b) != SM_SUCCEEDED)
			ck_assert_int_le(fk.submits, 2);
		if (!nx.more && nx.delay_ms < 0)
			break;
		if (!nx.more)
			fk.now++;
	}
	ck_assert_str_eq(fk.order, "101:start 101:set_config 101:shutdown");
	ck_assert_int_eq(etu_state(db, c), SM_SUCCEEDED);
}
END_TEST

START_TEST(different_vmids_interleave_and_a_hung_task_stalls_only_its_own)
{
	int64_t a, b1, b2;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fake_guest_add(&fk, 102, "stopped", NULL);
	fk.hang_vmid = 101;
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	b1 = op_authorized(102, OPS_KIND_START, NULL, "b1");
	b2 = op_authorized(102, OPS_KIND_STOP, "{\"mode\":\"stop\"}", "b2");
	(void) run(30);
	ck_assert_int_eq(etu_state(db, b1), SM_SUCCEEDED);
	ck_assert_int_eq(etu_state(db, b2), SM_SUCCEEDED);
	ck_assert_int_eq(etu_state(db, a), SM_RUNNING);
	ck_assert_int_ge(fk.polls, 5);
	fake_release(&fk, 101);
	(void) run(30);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 3);
}
END_TEST

START_TEST(blocked_moves_nothing)
{
	struct engine_next nx;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k",
	    fk.now);
	ck_assert_int_eq(engine_step(eng, 1, &nx, NULL), 0);
	ck_assert_int_eq(nx.more, 0);
	ck_assert_int_eq(nx.delay_ms, -1);
	ck_assert_int_eq(etu_state(db, id), SM_NEW);
	ck_assert_int_eq(fk.submits, 0);
	(void) run(20);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
}
END_TEST

START_TEST(retryable_errors_back_off_then_end_for_a_human)
{
	struct ops_row *op;
	json_t *audit;
	int64_t id, seq0;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_LOCKED;
	id = op_authorized(101, OPS_KIND_START, NULL, "k");
	ck_assert_int_eq(audit_last_seq(db, &seq0, NULL), 0);
	(void) run(100);
	ck_assert_int_eq(fk.submits, OPS_DEFAULT_MAX_ATTEMPTS);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "locked");
	ck_assert_int_eq(op->attempt, OPS_DEFAULT_MAX_ATTEMPTS);
	/* 5 + 10 + 20 + 40 s of backoff between the five attempts. */
	ck_assert_int_ge(fk.now - T0, 75);
	ops_row_free(op);
	ck_assert_int_eq(audit_since(db, seq0, 10, &audit, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, json_array_size(audit) - 1), "code")),
	    "attempts_exhausted");
	json_decref(audit);
}
END_TEST

START_TEST(permission_denied_fails_at_once_with_the_typed_error)
{
	struct ops_row *op;
	json_t *rows;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_PERMISSION;
	fk.fail_status = 403;
	fk.fail_count = 1;
	id = op_authorized(101, OPS_KIND_START, NULL, "k");
	(void) run(20);
	ck_assert_int_eq(fk.submits, 1);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "permission");
	ck_assert_ptr_nonnull(strstr(op->error, "request refused"));
	ops_row_free(op);
	ck_assert_int_eq(journal_list(db, id, &rows, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_array_get(rows, json_array_size(rows) - 1), "detail"),
	    "error_code")), "permission");
	json_decref(rows);
}
END_TEST

START_TEST(a_failed_task_fails_the_op_a_lock_is_retried)
{
	struct ops_row *op;
	int64_t a, b;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fake_guest_add(&fk, 102, "stopped", NULL);
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "startup for "
	    "container '101' failed");
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	(void) run(20);
	op = op_get(a);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "task_failed");
	ck_assert_ptr_nonnull(strstr(op->error, "startup for container"));
	ops_row_free(op);
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "CT is locked "
	    "(backup)");
	b = op_authorized(102, OPS_KIND_START, NULL, "b");
	(void) run(40);
	op = op_get(b);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_int_eq(op->attempt, 2);
	ops_row_free(op);
}
END_TEST

/* A lost answer is looked up, never re-sent. */
START_TEST(a_lost_answer_is_adopted_not_resent)
{
	int64_t a, b;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.drop_answer = 1;
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	(void) run(20);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_ge(fk.finds, 1);
	fk.drop_answer = 1;
	b = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"memory\":\"2048\"},\"delete\":[]}", "b");
	(void) run(20);
	ck_assert_int_eq(etu_state(db, b), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_int_ge(fk.reads, 1);
}
END_TEST

/* Moves a fresh op to submitting as a crashed process left it. */
static int64_t
op_submitting(int64_t vmid, enum ops_kind kind, const char *params,
    const char *key, int max_attempts)
{
	struct ops_new n;
	struct sm_args a;
	json_error_t jerr;
	json_t *p = params != NULL ? json_loads(params, 0, &jerr) : NULL;
	int64_t id;

	memset(&n, 0, sizeof(n));
	n.vmid = vmid;
	n.kind = kind;
	n.source = OPS_SOURCE_DESIRED;
	n.class = OPS_CLASS_BENIGN;
	n.params = p;
	n.idem_key = key;
	n.max_attempts = max_attempts;
	n.now = fk.now;
	ck_assert_int_eq(ops_create(db, &n, &id, NULL), 0);
	json_decref(p);
	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	return id;
}

static int64_t
op_running(int64_t vmid, const char *upid, const char *key)
{
	struct sm_args a;
	int64_t id = op_submitting(vmid, OPS_KIND_START, NULL, key, 0);

	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	a.upid = upid;
	etu_step(db, id, SM_SUBMITTING, SM_EV_TASK_STARTED, &a);
	return id;
}

static struct engine_recovery
recover(void)
{
	struct engine_recovery rec;
	struct err err;

	restart();
	err_init(&err);
	ck_assert_msg(engine_recover(eng, &rec, &err) == 0, "recover: %s",
	    err_msg(&err));
	return rec;
}

START_TEST(recovery_finishes_a_running_op_whose_task_ended)
{
	struct fake_task *t;
	struct engine_recovery rec;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	t = fake_task_add(&fk, 101, "vzstart", fk.now, 1);
	t->what = EXEC_STEP_START;
	id = op_running(101, t->upid, "k");
	rec = recover();
	ck_assert_uint_eq(rec.examined, 1);
	ck_assert_uint_eq(rec.finished, 1);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(recovery_resumes_a_running_op_whose_task_runs)
{
	struct fake_task *t;
	struct engine_recovery rec;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	t = fake_task_add(&fk, 101, "vzstart", fk.now, -1);
	id = op_running(101, t->upid, "k");
	rec = recover();
	ck_assert_uint_eq(rec.resumed, 1);
	ck_assert_int_eq(etu_state(db, id), SM_RUNNING);
	fake_release(&fk, 101);
	(void) run(10);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(recovery_adopts_the_task_a_crash_left_unrecorded)
{
	struct fake_task *t, *old;
	struct engine_recovery rec;
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	old = fake_task_add(&fk, 101, "vzstart", fk.now - 600, 1);
	id = op_submitting(101, OPS_KIND_START, NULL, "k", 0);
	/* The POST went out after the intent; its UPID never committed. */
	t = fake_task_add(&fk, 101, "vzstart", fk.now, 1);
	t->what = EXEC_STEP_START;
	rec = recover();
	ck_assert_uint_eq(rec.adopted, 1);
	op = op_get(id);
	ck_assert_str_eq(op->state, "running");
	ck_assert_str_eq(op->upid, t->upid);
	ck_assert_str_ne(op->upid, old->upid);
	ops_row_free(op);
	(void) run(10);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_str_eq(fk.guests[0].status, "running");
}
END_TEST

/* Steps n times, the fake clock one second apart. */
static void
tick_seconds(int n)
{
	struct engine_next nx;
	int i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
		fk.now++;
	}
}

START_TEST(recovery_retries_a_step_only_after_the_unknown_window)
{
	struct engine_recovery rec;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	(void) fake_task_add(&fk, 101, "vzstart", fk.now - 600, 1);
	id = op_submitting(101, OPS_KIND_START, NULL, "k", 0);
	rec = recover();
	/* one empty lookup is no proof that nothing was sent. */
	ck_assert_uint_eq(rec.retried, 0);
	ck_assert_uint_eq(rec.waiting, 1);
	ck_assert_int_eq(etu_state(db, id), SM_SUBMITTING);
	tick_seconds(55);
	ck_assert_int_eq(etu_state(db, id), SM_SUBMITTING);
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_int_gt(fk.finds, 10);
	(void) run(200);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 1);
}
END_TEST

START_TEST(recovery_adopts_a_task_that_shows_up_late)
{
	struct engine_recovery rec;
	struct fake_task *t;
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	id = op_submitting(101, OPS_KIND_START, NULL, "k", 0);
	rec = recover();
	ck_assert_uint_eq(rec.waiting, 1);
	tick_seconds(20);
	/* PVE took the request in late (a proxy that held it). */
	t = fake_task_add(&fk, 101, "vzstart", fk.now, 1);
	t->what = EXEC_STEP_START;
	(void) run(200);
	op = op_get(id);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(op->upid, t->upid);
	ops_row_free(op);
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_str_eq(fk.guests[0].status, "running");
}
END_TEST

/*
 * Found by tools/soak: two ops of one kind on one guest in the same
 * moments (two snapshot deletes).  The first one's task is recorded;
 * the second one's answer is lost.  The search for it must never adopt
 * the first one's task (it would claim an outcome it did not have and
 * leave its own task an orphan), but wait for its own.
 */
START_TEST(a_lost_answer_never_adopts_a_task_another_op_holds)
{
	struct engine_recovery rec;
	struct fake_task *t1, *t2;
	struct sm_args a;
	struct ops_row *op;
	int64_t first, second;

	fake_guest_add(&fk, 101, "stopped", NULL);
	t1 = fake_task_add(&fk, 101, "vzstart", fk.now, 1);
	t1->what = EXEC_STEP_START;
	first = op_running(101, t1->upid, "first");
	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	etu_step(db, first, SM_RUNNING, SM_EV_TASK_OK, &a);
	second = op_submitting(101, OPS_KIND_START, NULL, "second", 0);
	rec = recover();
	ck_assert_uint_eq(rec.adopted, 0);
	ck_assert_uint_eq(rec.waiting, 1);
	ck_assert_int_eq(etu_state(db, second), SM_SUBMITTING);
	tick_seconds(3);
	/* Its own request reaches PVE late. */
	t2 = fake_task_add(&fk, 101, "vzstart", fk.now, 1);
	t2->what = EXEC_STEP_START;
	(void) run(200);
	op = op_get(second);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(op->upid, t2->upid);
	ops_row_free(op);
	op = op_get(first);
	ck_assert_str_eq(op->upid, t1->upid);
	ops_row_free(op);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(recovery_fails_a_step_whose_attempts_are_used)
{
	struct engine_recovery rec;
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	id = op_submitting(101, OPS_KIND_START, NULL, "k", 1);
	rec = recover();
	ck_assert_uint_eq(rec.waiting, 1);
	(void) run(200);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "attempts");
	ops_row_free(op);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(recovery_reads_a_synchronous_set_config_back)
{
	struct engine_recovery rec;
	int64_t applied, lost;

	fake_guest_add(&fk, 101, "stopped", "{\"memory\":2048,\"tags\":"
	    "\"b;a\"}");
	fake_guest_add(&fk, 102, "stopped", "{\"memory\":512}");
	applied = op_submitting(101, OPS_KIND_SET_CONFIG, "{\"set\":"
	    "{\"memory\":\"2048\",\"tags\":\"a;b\"},\"delete\":[]}", "k1", 0);
	lost = op_submitting(102, OPS_KIND_SET_CONFIG, "{\"set\":"
	    "{\"memory\":\"2048\"},\"delete\":[]}", "k2", 0);
	rec = recover();
	ck_assert_uint_eq(rec.confirmed, 1);
	ck_assert_uint_eq(rec.waiting, 1);
	ck_assert_int_eq(etu_state(db, applied), SM_SUCCEEDED);
	ck_assert_int_eq(etu_state(db, lost), SM_SUBMITTING);
	(void) run(200);
	ck_assert_int_eq(etu_state(db, lost), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 1);
}
END_TEST

START_TEST(recovery_leaves_ops_alone_when_pve_is_unreachable)
{
	struct engine_recovery rec;
	struct fake_task *t;
	int64_t a, b;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fake_guest_add(&fk, 102, "stopped", NULL);
	a = op_submitting(101, OPS_KIND_SET_CONFIG, "{\"set\":{\"cores\":"
	    "\"2\"},\"delete\":[]}", "k1", 0);
	t = fake_task_add(&fk, 102, "vzstart", fk.now, 1);
	b = op_running(102, t->upid, "k2");
	fk.guests[0].forbidden = 1;
	rec = recover();
	ck_assert_uint_eq(rec.unresolved, 1);
	ck_assert_int_eq(etu_state(db, a), SM_SUBMITTING);
	ck_assert_int_eq(etu_state(db, b), SM_SUCCEEDED);
}
END_TEST

/* a rollback keeps a safety snapshot and returns to it on failure. */
static int64_t
signed_rollback(const char *key)
{
	struct sm_args a;
	int64_t id = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"pre-upgrade\"}", key, fk.now);

	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
	a.signature = "sig";
	a.signer = "alice@ops SHA256:x";
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	return id;
}

START_TEST(a_failed_rollback_returns_to_its_safety_snapshot)
{
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "running", NULL);
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "can't rollback, "
	    "'pre-upgrade' is not most recent snapshot on 'vm-101-disk-0'");
	fk.fail_task_kind = EXEC_STEP_ROLLBACK;
	id = signed_rollback("k");
	(void) run(40);
	op = op_get(id);
	ck_assert_str_eq(op->state, "rolled_back");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(op->safety,
	    "snapshot")), "felhom_safety_", 14), 0);
	ck_assert_ptr_nonnull(strstr(op->error, "not most recent"));
	ops_row_free(op);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:rollback "
	    "101:undo");
	ck_assert_int_eq(fk.undos, 1);
}
END_TEST

START_TEST(a_rollback_drops_its_safety_snapshot_after_success)
{
	int64_t id;

	fake_guest_add(&fk, 101, "running", NULL);
	id = signed_rollback("k");
	(void) run(40);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:rollback "
	    "101:drop_safety");
}
END_TEST

/* A signed restore over guest 101 (restore_overwrites: destructive). */
static int64_t
signed_restore(const char *key)
{
	struct sm_args a;
	int64_t id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_DESTRUCTIVE,
	    "{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"lvm\"}", key,
	    fk.now);

	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
	a.signature = "sig";
	a.signer = "alice@ops SHA256:x";
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	return id;
}

/*
 * Issue 11: a running guest is stopped before the overwrite and started
 * again after it; the journal row of the stop says it ran.
 */
START_TEST(a_restore_over_a_running_guest_stops_then_starts_it)
{
	json_t *d = NULL;
	int64_t id;

	fake_guest_add(&fk, 101, "running", NULL);
	id = signed_restore("k");
	(void) run(60);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:stop 101:restore "
	    "101:reattach 101:start_again 101:drop_safety");
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_START_AGAIN], 1);
	ck_assert_str_eq(fake_guest(&fk, 101)->status, "running");
	ck_assert_int_eq(journal_last_detail(db, id, "step_done", &d, NULL), 0);
	json_decref(d);
}
END_TEST

/*
 * Only the overwriting step returns to the safety copy: a failed stop
 * before it leaves the guest as it was, no undo.
 */
START_TEST(a_failed_stop_before_a_restore_is_not_undone)
{
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "running", NULL);
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "command "
	    "'lxc-stop -n 101 --kill' failed: exit code 1");
	fk.fail_task_kind = EXEC_STEP_STOP;
	id = signed_restore("k");
	(void) run(60);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "task_failed");
	ops_row_free(op);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:stop");
	ck_assert_int_eq(fk.undos, 0);
}
END_TEST

/* A failed restore does return to it, and starts the guest again. */
START_TEST(a_failed_restore_returns_and_knows_the_guest_ran)
{
	int64_t id;

	fake_guest_add(&fk, 101, "running", NULL);
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "unable to "
	    "restore CT 101 - command 'tar' failed");
	fk.fail_task_kind = EXEC_STEP_RESTORE;
	id = signed_restore("k");
	(void) run(60);
	ck_assert_int_eq(etu_state(db, id), SM_ROLLED_BACK);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:stop 101:restore "
	    "101:undo");
	ck_assert_int_eq(fk.undo_was_running, 1);
}
END_TEST

START_TEST(destructive_ops_wait_for_a_signature_then_expire)
{
	int64_t n;

	fake_guest_add(&fk, 103, "running", NULL);
	store_desired(1, "[{\"vmid\":103,\"state\":\"absent\"}]");
	cycle();
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	fk.now += 3600;
	(void) run(50);
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	fk.now += 86400;
	(void) run(50);
	ck_assert_int_eq(count_ops("expired"), 1);
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_int_eq(journal_count(db, 0, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
}
END_TEST

/* The code of the newest audit event ("" when none). */
static const char *
last_audit_code(char *buf, size_t n)
{
	json_t *a = NULL;
	int64_t last = 0;

	buf[0] = '\0';
	ck_assert_int_eq(audit_last_seq(db, &last, NULL), 0);
	ck_assert_int_eq(audit_since(db, last - 1, 1, &a, NULL), 0);
	if (json_array_size(a) == 1)
		(void) snprintf(buf, n, "%s/%s", json_string_value(
		    json_object_get(json_array_get(a, 0), "event")),
		    json_string_value(json_object_get(json_array_get(a, 0),
		    "code")));
	json_decref(a);
	return buf;
}

/*
 * R-26 within a generation, R-34 across it: an applied key is not applied
 * again while the guest stays as desired; drift behind the agent's back
 * is planned again in the same generation (and audited), across a restart.
 */
START_TEST(drift_in_the_same_generation_is_converged_again)
{
	char code[64];
	int safe;

	fake_guest_add(&fk, 101, "stopped", NULL);
	store_desired(5, "[{\"vmid\":101,\"state\":\"running\"}]");
	cycle();
	ck_assert_int_eq(fk.submits, 1);
	cycle();
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_eq(count_ops(NULL), 1);
	/* Someone stops it behind our back; same generation, new process. */
	(void) snprintf(fk.guests[0].status, sizeof(fk.guests[0].status),
	    "stopped");
	restart();
	ck_assert_int_eq(engine_recover(eng, NULL, NULL), 0);
	ck_assert_int_eq(engine_observe(eng, &safe, NULL), 0);
	ck_assert_int_eq(engine_plan(eng, NULL, NULL), 0);
	ck_assert_str_eq(last_audit_code(code, sizeof(code)),
	    "converge/drift");
	(void) run(20);
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_int_eq(count_ops("succeeded"), 2);
	ck_assert_str_eq(fk.guests[0].status, "running");
	cycle();
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_int_eq(count_ops(NULL), 2);
}
END_TEST

/* The backoff of guest vmid as stored (ms), -1 when none. */
static int64_t
converge_wait(int64_t vmid, int *failures)
{
	struct converge_row r;
	int64_t w;

	memset(&r, 0, sizeof(r));
	if (converge_get(db, vmid, &r, NULL) != 0)
		return -1;
	w = r.wait_ms;
	*failures = r.failures;
	converge_row_reset(&r);
	return w;
}

/*
 * A failed op is planned again without a new generation, after a per-guest
 * backoff doubling from 30 s (on the monotonic clock: a wall clock stepped
 * back does not stall it); the reason is audited; success clears it.
 */
START_TEST(a_failed_op_is_planned_again_after_a_doubling_backoff)
{
	char code[64];
	int failures = 0;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_PERMISSION;
	fk.fail_status = 403;
	store_desired(5, "[{\"vmid\":101,\"state\":\"running\"}]");
	cycle();
	ck_assert_int_eq(count_ops("failed"), 1);
	cycle();
	ck_assert_int_eq(count_ops(NULL), 1);
	ck_assert_int_eq(converge_wait(101, &failures), 30000);
	ck_assert_int_eq(failures, 1);
	ck_assert_str_eq(last_audit_code(code, sizeof(code)),
	    "converge/failed");
	fk.wall_skew = -7200;
	fk.now += 29;
	cycle();
	ck_assert_int_eq(count_ops(NULL), 1);
	fk.now += 2;
	cycle();
	ck_assert_int_eq(count_ops(NULL), 2);
	ck_assert_int_eq(count_ops("failed"), 2);
	cycle();
	ck_assert_int_eq(converge_wait(101, &failures), 60000);
	ck_assert_int_eq(failures, 2);
	fk.now += 59;
	cycle();
	ck_assert_int_eq(count_ops(NULL), 2);
	fk.fail_submit = 0;
	fk.now += 2;
	cycle();
	ck_assert_int_eq(count_ops(NULL), 3);
	ck_assert_int_eq(count_ops("succeeded"), 1);
	ck_assert_str_eq(fk.guests[0].status, "running");
	cycle();
	ck_assert_int_eq(converge_wait(101, &failures), -1);
	ck_assert_int_eq(count_ops(NULL), 3);
}
END_TEST

START_TEST(ops_not_started_are_superseded_when_the_desired_state_changes)
{
	json_t *audit;
	int64_t seq0;

	fake_guest_add(&fk, 103, "running", NULL);
	fake_guest_add(&fk, 104, "running", NULL);
	store_desired(1, "[{\"vmid\":103,\"state\":\"absent\"},"
	    "{\"vmid\":104,\"state\":\"running\",\"rollback\":{\"snapshot\":"
	    "\"s1\"}}]");
	cycle();
	ck_assert_int_eq(count_ops("pending_signature"), 2);
	ck_assert_int_eq(audit_last_seq(db, &seq0, NULL), 0);
	/* 103 is wanted now; 104 still asks the same rollback. */
	store_desired(2, "[{\"vmid\":103,\"state\":\"running\"},"
	    "{\"vmid\":104,\"state\":\"running\",\"rollback\":{\"snapshot\":"
	    "\"s1\"}}]");
	cycle();
	ck_assert_int_eq(count_ops("superseded"), 1);
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	ck_assert_int_eq(count_ops(NULL), 2);
	ck_assert_int_eq(audit_since(db, seq0, 10, &audit, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, 0), "decision")), "superseded");
	json_decref(audit);
	/* Dropped from the desired state entirely: superseded too. */
	store_desired(3, "[]");
	cycle();
	ck_assert_int_eq(count_ops("superseded"), 2);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

/* PRAGMA data_version seen from other, and the WAL's size. */
static void
db_marks(sqlite3 *other, int64_t *dv, int64_t *wal)
{
	tu_db_marks(other, db_path(db), dv, wal);
}

/*
 * issue 15: with every guest as desired, a cycle (observe, plan, lanes)
 * writes nothing: another connection sees no commit and the WAL does
 * not grow.  A guest that changes is written (the marks move).
 */
START_TEST(a_steady_state_cycle_writes_nothing)
{
	sqlite3 *other = NULL;
	int64_t dv0, wal0, dv, wal;
	int i;

	fake_guest_add(&fk, 101, "running", "{\"hostname\":\"web\","
	    "\"memory\":1024}");
	fake_guest_add(&fk, 102, "stopped", NULL);
	fake_guest_add(&fk, 999, "running", NULL);	/* unmanaged */
	store_desired(1, "[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"memory_mib\":1024}},{\"vmid\":102,\"state\":\"stopped\"}]");
	cycle();
	fk.now += 60;
	cycle();
	ck_assert_int_eq(fk.submits, 0);
	ck_assert_int_eq(sqlite3_open_v2(db_path(db), &other,
	    SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	db_marks(other, &dv0, &wal0);
	ck_assert_int_gt(wal0, 0);
	for (i = 0; i < 5; i++) {
		fk.now += 60;
		cycle();
		db_marks(other, &dv, &wal);
		ck_assert_msg(dv == dv0, "cycle %d committed a write "
		    "(data_version %lld -> %lld)", i, (long long)dv0,
		    (long long)dv);
		ck_assert_int_eq(wal, wal0);
	}
	/* A change outside is recorded: the marks do move. */
	(void) snprintf(fake_guest(&fk, 999)->status, sizeof(fake_guest(&fk,
	    999)->status), "stopped");
	fk.now += 60;
	cycle();
	db_marks(other, &dv, &wal);
	ck_assert_int_ne(dv, dv0);
	sqlite3_close(other);
}
END_TEST

START_TEST(a_shrunk_list_is_not_planned_on)
{
	struct actual_set *stored;
	int safe = 1;

	fake_guest_add(&fk, 101, "running", NULL);
	fake_guest_add(&fk, 102, "running", NULL);
	store_desired(1, "[{\"vmid\":101,\"state\":\"running\"},"
	    "{\"vmid\":102,\"state\":\"running\"}]");
	cycle();
	/* The token loses VM.Audit on 102: the list silently shrinks. */
	fk.guests[1].hidden = 1;
	fk.guests[1].forbidden = 1;
	store_desired(2, "[{\"vmid\":101,\"state\":\"stopped\"}]");
	ck_assert_int_eq(engine_observe(eng, &safe, NULL), 0);
	ck_assert_int_eq(safe, 0);
	ck_assert_int_eq(engine_plan(eng, NULL, NULL), 0);
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_int_eq(actual_load(db, &stored, NULL), 0);
	ck_assert_uint_eq(stored->nguests, 2);
	actual_set_free(stored);
	/* Proven gone: planning goes on. */
	fk.guests[1].present = 0;
	cycle();
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_SHUTDOWN], 1);
}
END_TEST

START_TEST(a_missing_guest_is_provisioned_only_when_proven_absent)
{
	const char *d = "[{\"vmid\":105,\"state\":\"running\",\"spec\":"
	    "{\"hostname\":\"build\"},\"provision\":{\"template\":"
	    "\"local:vztmpl/d.tar.zst\",\"storage\":\"local-lvm\","
	    "\"rootfs_gib\":8}}]";
	int safe;

	/* Exists but hidden from this token: a direct read says 403. */
	fake_guest_add(&fk, 105, "stopped", NULL);
	fk.guests[0].hidden = 1;
	fk.guests[0].forbidden = 1;
	store_desired(1, d);
	ck_assert_int_eq(engine_observe(eng, &safe, NULL), 0);
	ck_assert_int_eq(engine_plan(eng, NULL, NULL), 0);
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_int_ge(fk.statuses, 1);
	/* Really absent: provisioned, then started by the next cycle. */
	fk.guests[0].present = 0;
	cycle();
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_CREATE], 1);
	ck_assert(fake_guest(&fk, 105)->present);
	cycle();
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_START], 1);
	ck_assert_str_eq(fake_guest(&fk, 105)->status, "running");
}
END_TEST

START_TEST(a_locked_guest_is_skipped_without_errors)
{
	fake_guest_add(&fk, 101, "stopped", NULL);
	(void) snprintf(fk.guests[0].lock, sizeof(fk.guests[0].lock),
	    "backup");
	store_desired(1, "[{\"vmid\":101,\"state\":\"running\"}]");
	cycle();
	cycle();
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_int_eq(fk.submits, 0);
	fk.guests[0].lock[0] = '\0';
	cycle();
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_START], 1);
}
END_TEST

START_TEST(applied_generation_is_recorded)
{
	int64_t applied;

	fake_guest_add(&fk, 101, "running", NULL);
	store_desired(9, "[{\"vmid\":101,\"state\":\"running\"}]");
	cycle();
	ck_assert_int_eq(kv_get_int(db, DESIRED_KV_APPLIED, 0, &applied,
	    NULL), 0);
	ck_assert_int_eq(applied, 9);
}
END_TEST

START_TEST(observe_reports_pve_failures)
{
	struct err err;
	int safe = 7;

	fk.list_fails = 1;
	err_init(&err);
	ck_assert_int_eq(engine_observe(eng, &safe, &err), ERR_TRANSPORT);
	ck_assert_ptr_nonnull(strstr(err.msg, "list guests"));
	ck_assert_int_eq(safe, 7);
	ck_assert_int_eq(engine_plan(eng, NULL, &err), ERR_INVALID);
}
END_TEST

/* A stand-in gate: benign → authorized, recording who decided. */
static int decided;

static int
test_decide(void *ctx, const struct ops_row *op, struct err *err)
{
	struct sm_args a;

	(void) ctx;
	decided++;
	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	a.code = "test_gate";
	return sm_step(db, op->id, SM_NEW, op->class == OPS_CLASS_BENIGN ?
	    SM_EV_CLASSIFIED_BENIGN : SM_EV_REFUSED, &a, NULL, err);
}

static int hooked[SM_EV__COUNT], hook_fails;

static int
test_hook(struct db *hdb, int64_t op_id, enum sm_event ev,
    const struct sm_args *a, struct err *err)
{
	(void) hdb;
	(void) op_id;
	(void) a;
	hooked[ev]++;
	if (hook_fails && ev == SM_EV_TASK_OK)
		return err_set(err, ERR_FULL, "test hook: disk full");
	return 0;
}

static int ran_host;

static int
test_run_host(void *ctx, const struct ops_row *op, struct err *err)
{
	struct sm_args a;

	(void) ctx;
	ran_host++;
	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	if (sm_step(db, op->id, SM_AUTHORIZED, SM_EV_SUBMIT, &a, NULL,
	    err) != 0)
		return err->code;
	return sm_step(db, op->id, SM_SUBMITTING, SM_EV_SYNC_DONE, &a, NULL,
	    err);
}

static void
engine_with_seams(void)
{
	struct engine_config cfg;

	engine_free(eng);
	memset(&cfg, 0, sizeof(cfg));
	cfg.decide = test_decide;
	cfg.run_host = test_run_host;
	cfg.transition_hook = test_hook;
	ck_assert_int_eq(engine_new(db, &fk.exec, &fk.clock, &cfg, &eng,
	    NULL), 0);
}

START_TEST(the_gate_decides_new_ops_when_wired)
{
	int64_t a, b;

	engine_with_seams();
	fake_guest_add(&fk, 101, "stopped", NULL);
	a = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "a",
	    fk.now);
	b = etu_op(db, 102, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE, NULL,
	    "b", fk.now);
	(void) run(20);
	ck_assert_int_eq(decided, 2);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	ck_assert_int_eq(etu_state(db, b), SM_REJECTED);
	/* The hook saw the engine's own transitions, not the gate's. */
	ck_assert_int_eq(hooked[SM_EV_SUBMIT], 1);
	ck_assert_int_eq(hooked[SM_EV_TASK_OK], 1);
	ck_assert_int_eq(hooked[SM_EV_CLASSIFIED_BENIGN], 0);
}
END_TEST

START_TEST(a_failing_transition_hook_rolls_the_transition_back)
{
	struct engine_next nx;
	struct err err;
	int64_t a;
	int i, rc = 0;

	engine_with_seams();
	hook_fails = 1;
	fake_guest_add(&fk, 101, "stopped", NULL);
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	for (i = 0; i < 10 && rc == 0; i++) {
		err_init(&err);
		rc = engine_step(eng, 0, &nx, &err);
	}
	ck_assert_int_eq(rc, ERR_FULL);
	ck_assert_ptr_nonnull(strstr(err.msg, "disk full"));
	ck_assert_int_eq(etu_state(db, a), SM_RUNNING);
	hook_fails = 0;
	(void) run(10);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
}
END_TEST

START_TEST(host_ops_go_to_their_runner)
{
	struct sm_args sa;
	int64_t id;

	engine_with_seams();
	id = etu_op(db, 0, OPS_KIND_ROTATE_SIGNERS, OPS_CLASS_DESTRUCTIVE,
	    "{\"kind\":\"planned\"}", "r", fk.now);
	memset(&sa, 0, sizeof(sa));
	sa.now = fk.now;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &sa);
	(void) run(5);
	ck_assert_int_eq(ran_host, 0);
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &sa);
	(void) run(5);
	ck_assert_int_eq(ran_host, 1);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *t;

	t = tcase_create("lanes");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, desired_state_converges_then_stays_quiet);
	tcase_add_test(t, one_vmid_runs_strictly_in_submission_order);
	tcase_add_test(t,
	    different_vmids_interleave_and_a_hung_task_stalls_only_its_own);
	tcase_add_test(t, blocked_moves_nothing);
	tcase_add_test(t, retryable_errors_back_off_then_end_for_a_human);
	tcase_add_test(t, permission_denied_fails_at_once_with_the_typed_error);
	tcase_add_test(t, a_failed_task_fails_the_op_a_lock_is_retried);
	tcase_add_test(t, a_lost_answer_is_adopted_not_resent);
	tcase_add_test(t, a_failed_rollback_returns_to_its_safety_snapshot);
	tcase_add_test(t, a_rollback_drops_its_safety_snapshot_after_success);
	tcase_add_test(t, a_restore_over_a_running_guest_stops_then_starts_it);
	tcase_add_test(t, a_failed_stop_before_a_restore_is_not_undone);
	tcase_add_test(t, a_failed_restore_returns_and_knows_the_guest_ran);
	suite_add_tcase(s, t);

	t = tcase_create("recovery");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, recovery_finishes_a_running_op_whose_task_ended);
	tcase_add_test(t, recovery_resumes_a_running_op_whose_task_runs);
	tcase_add_test(t, recovery_adopts_the_task_a_crash_left_unrecorded);
	tcase_add_test(t, recovery_retries_a_step_only_after_the_unknown_window);
	tcase_add_test(t, recovery_adopts_a_task_that_shows_up_late);
	tcase_add_test(t, a_lost_answer_never_adopts_a_task_another_op_holds);
	tcase_add_test(t, recovery_fails_a_step_whose_attempts_are_used);
	tcase_add_test(t, recovery_reads_a_synchronous_set_config_back);
	tcase_add_test(t, recovery_leaves_ops_alone_when_pve_is_unreachable);
	suite_add_tcase(s, t);

	t = tcase_create("reconcile");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, destructive_ops_wait_for_a_signature_then_expire);
	tcase_add_test(t, drift_in_the_same_generation_is_converged_again);
	tcase_add_test(t,
	    a_failed_op_is_planned_again_after_a_doubling_backoff);
	tcase_add_test(t,
	    ops_not_started_are_superseded_when_the_desired_state_changes);
	tcase_add_test(t, a_shrunk_list_is_not_planned_on);
	tcase_add_test(t, a_steady_state_cycle_writes_nothing);
	tcase_add_test(t,
	    a_missing_guest_is_provisioned_only_when_proven_absent);
	tcase_add_test(t, a_locked_guest_is_skipped_without_errors);
	tcase_add_test(t, applied_generation_is_recorded);
	tcase_add_test(t, observe_reports_pve_failures);
	suite_add_tcase(s, t);

	t = tcase_create("seams");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, the_gate_decides_new_ops_when_wired);
	tcase_add_test(t, a_failing_transition_hook_rolls_the_transition_back);
	tcase_add_test(t, host_ops_go_to_their_runner);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
