/*
 * test_lane — the lanes under real timing: a request PVE takes in
 * after the client gave up is adopted or confirmed, never resent; a late,
 * stale config write is refused by its digest; a snapshot an earlier
 * attempt made counts as done; waits run on the monotonic clock, survive
 * a restart and a clock stepped back.  Issue 17: a request in flight
 * (ERR_PENDING in a pass) changes nothing until its answer is taken,
 * by the same call, never looked up while this process holds it; a
 * crash meanwhile is recovered by the lookup.  The fake executor, no
 * network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "base/log.h"
#include "engine/engine.h"
#include "engine/sm.h"
#include "etu.h"
#include "fake_exec.h"
#include "store/db.h"
#include "store/ops.h"
#include "testutil.h"

#define T0	1780000000

static char *dir;
static struct db *db;
static struct fake fk;
static struct engine *eng;
static int group;		/* engine_config.group_commit */

static void
engine_open(void)
{
	struct engine_config cfg;
	struct err err;

	memset(&cfg, 0, sizeof(cfg));
	cfg.poll_interval_ms = 1000;
	cfg.group_commit = group;
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
	group = 0;
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
		/* The loop drives the multi: what the step queued is sent. */
		if (fk.defer)
			(void) fake_drive(&fk);
		/* An answer awaited: the loop comes back at its completion. */
		if (nx.more || nx.pending > 0)
			continue;
		/* Idle, or only a sign window left to lapse: done. */
		if (nx.delay_ms < 0 || nx.delay_ms > 600000)
			break;
		fk.now += nx.delay_ms / 1000 > 0 ? nx.delay_ms / 1000 : 1;
	}
	return i;
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

/* a request PVE takes in after the client gave up on it. */
START_TEST(a_late_answer_is_adopted_not_resent)
{
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.late_s = 20;
	id = op_authorized(101, OPS_KIND_START, NULL, "a");
	(void) run(200);
	op = op_get(id);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_int_eq(op->attempt, 1);
	ck_assert_ptr_nonnull(strstr(op->upid, ":vzstart:101:"));
	ops_row_free(op);
	/* One request, one task: nothing sent twice. */
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_uint_eq(fk.ntasks, 1);
	ck_assert_str_eq(fk.guests[0].status, "running");
}
END_TEST

START_TEST(a_late_config_write_is_confirmed_not_resent)
{
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.late_s = 20;
	id = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"memory\":\"2048\"},\"delete\":[]}", "a");
	(void) run(200);
	op = op_get(id);
	ck_assert_str_eq(op->state, "succeeded");
	/* The write carried the digest of the config it was computed from. */
	ck_assert_ptr_nonnull(op->config_digest);
	ops_row_free(op);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_str_eq(json_string_value(json_object_get(fk.guests[0].config,
	    "memory")), "2048");
}
END_TEST

/* The memory PVE shows for guest vmid now. */
static int64_t
memory_of(int64_t vmid)
{
	json_t *c = NULL;
	int64_t m;

	ck_assert_int_eq(fk.exec.ops->read_config(fk.exec.ctx, vmid, &c,
	    NULL), 0);
	m = atoll(json_string_value(json_object_get(c, "memory")));
	json_decref(c);
	return m;
}

/*
 * A write held past the window is retried; when the held one lands
 * after a newer write, its digest is stale and PVE refuses it: the
 * newer value stays (it used to be overwritten for good).
 */
START_TEST(a_stale_late_config_write_is_refused_by_its_digest)
{
	int64_t a, b;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.late_s = 90;
	a = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"memory\":\"1024\"},\"delete\":[]}", "gen1");
	(void) run(200);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 2);
	b = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"memory\":\"2048\"},\"delete\":[]}", "gen2");
	(void) run(20);
	ck_assert_int_eq(etu_state(db, b), SM_SUCCEEDED);
	ck_assert_int_lt(fk.now - T0, 90);
	/* The held generation-1 write reaches PVE now. */
	fk.now = T0 + 100;
	ck_assert_int_eq(memory_of(101), 2048);
	ck_assert_int_eq(fk.modified, 1);
}
END_TEST

START_TEST(a_config_already_as_asked_is_not_written)
{
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", "{\"memory\":2048}");
	id = op_authorized(101, OPS_KIND_SET_CONFIG,
	    "{\"set\":{\"memory\":\"2048\"},\"delete\":[]}", "a");
	(void) run(20);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

/*
 * A first snapshot request held past the window, then sent again: the
 * second task fails "already used" because the first one made it — the
 * op succeeded (it used to be reported failed).
 */
START_TEST(a_snapshot_an_earlier_attempt_made_is_a_success)
{
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.late_s = 61;
	id = op_authorized(101, OPS_KIND_SNAPSHOT, "{\"name\":\"nightly\"}",
	    "a");
	(void) run(200);
	op = op_get(id);
	ck_assert_msg(strcmp(op->state, "succeeded") == 0, "%s: %s",
	    op->state, op->error != NULL ? op->error : "");
	ck_assert_int_eq(op->attempt, 2);
	ops_row_free(op);
	ck_assert(fake_has_snapshot(fake_guest(&fk, 101), "nightly"));
}
END_TEST

/* a backoff runs on the monotonic clock, not the wall clock. */
START_TEST(a_clock_stepped_back_does_not_stall_a_retry)
{
	struct engine_next nx;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_LOCKED;
	fk.fail_count = 1;
	id = op_authorized(101, OPS_KIND_START, NULL, "k");
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_eq(etu_state(db, id), SM_AUTHORIZED);
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	ck_assert_int_eq(nx.delay_ms, 5000);
	/* The wall clock steps back two hours; five seconds pass. */
	fk.wall_skew = -7200;
	fk.now += 5;
	(void) run(20);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_int_lt(fk.now - T0, 60);
}
END_TEST

/* A wait survives a restart as its length, clamped to the largest. */
START_TEST(a_restart_resumes_a_retry_wait_from_its_length)
{
	struct engine_next nx;
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_LOCKED;
	fk.fail_count = 1;
	id = op_authorized(101, OPS_KIND_START, NULL, "k");
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	op = op_get(id);
	ck_assert_int_eq(op->wait_ms, 5000);
	ops_row_free(op);
	/* Restarted with the wall clock two hours back: 5 s, not 2 h. */
	restart();
	fk.wall_skew = -7200;
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_eq(nx.delay_ms, 5000);
	fk.now += 5;
	(void) run(20);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 2);
}
END_TEST

/* A clean stop stores what is left of a wait; a restart resumes it. */
START_TEST(a_clean_stop_keeps_what_is_left_of_a_wait)
{
	struct engine_next nx;
	struct ops_row *op;
	int64_t id;

	fake_guest_add(&fk, 101, "stopped", NULL);
	fk.fail_submit = ERR_LOCKED;
	fk.fail_count = 1;
	id = op_authorized(101, OPS_KIND_START, NULL, "k");
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	fk.now += 3;
	ck_assert_int_eq(engine_save_waits(eng, NULL), 0);
	op = op_get(id);
	ck_assert_int_eq(op->wait_ms, 2000);
	ops_row_free(op);
	restart();
	ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
	ck_assert_int_eq(nx.delay_ms, 2000);
	fk.now += 2;
	(void) run(20);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
}
END_TEST

/* One engine tick; *nx what it said. */
static void
tick(struct engine_next *nx)
{
	struct err err;

	err_init(&err);
	ck_assert_msg(engine_step(eng, 0, nx, &err) == 0, "engine_step: %s",
	    err_msg(&err));
}

/*
 * Issue 17: a submit whose answer is not there yet leaves its op in
 * submitting, nothing else changed; the next tick takes the answer of
 * that very request — never the lookup of a lost answer, never a second
 * request.
 */
START_TEST(a_pending_submit_is_taken_not_looked_up)
{
	struct engine_next nx;
	struct ops_row *op;
	int64_t id;

	fk.passes = 1;
	fake_guest_add(&fk, 101, "stopped", NULL);
	id = op_authorized(101, OPS_KIND_START, NULL, "a");
	tick(&nx);
	/* DESIGN invariant 1: the intent is committed, the request sent. */
	ck_assert_int_eq(etu_state(db, id), SM_SUBMITTING);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_eq(fk.pended, 1);
	ck_assert_uint_eq(nx.pending, 1);
	tick(&nx);
	op = op_get(id);
	ck_assert_str_eq(op->state, "running");
	ck_assert_ptr_nonnull(strstr(op->upid, ":vzstart:101:"));
	ops_row_free(op);
	/* Its own answer: no task search, no second request. */
	ck_assert_int_eq(fk.finds, 0);
	ck_assert_int_eq(fk.submits, 1);
	/* The poll pends too, and nothing moves meanwhile. */
	tick(&nx);
	ck_assert_int_eq(etu_state(db, id), SM_RUNNING);
	ck_assert_uint_eq(nx.pending, 1);
	ck_assert_uint_eq(nx.transitions, 0);
	(void) run(50);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_int_eq(fk.finds, 0);
	ck_assert_uint_eq(fk.ntasks, 1);
	/* What the passes kept is gone with their completion. */
	ck_assert_uint_eq(fk.nheld, 0);
}
END_TEST

/*
 * Issue 17: a crash while a submit is in flight leaves submitting (the
 * intent committed before the request); the restarted agent looks the
 * request up, as after any crash: adopted, never sent twice.
 */
START_TEST(a_crash_with_a_submit_in_flight_looks_it_up)
{
	struct engine_recovery rec;
	struct engine_next nx;
	struct err err;
	int64_t id;

	fk.passes = 1;
	fake_guest_add(&fk, 101, "stopped", NULL);
	id = op_authorized(101, OPS_KIND_START, NULL, "a");
	tick(&nx);
	ck_assert_int_eq(etu_state(db, id), SM_SUBMITTING);
	ck_assert_int_eq(fk.submits, 1);
	/* The process dies with the answer: its memory is gone. */
	fake_drop_held(&fk);
	restart();
	err_init(&err);
	ck_assert_int_eq(engine_recover(eng, &rec, &err), 0);
	ck_assert_uint_eq(rec.adopted, 1);
	ck_assert_int_eq(fk.finds, 1);
	(void) run(50);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 1);
	ck_assert_uint_eq(fk.ntasks, 1);
}
END_TEST

/*
 * Issue 17: two lanes' requests are in flight together: each tick sends
 * both, neither waits for the other's answer.
 */
START_TEST(two_lanes_pend_side_by_side)
{
	struct engine_next nx;
	int64_t a, b;

	fk.passes = 1;
	fake_guest_add(&fk, 101, "stopped", NULL);
	fake_guest_add(&fk, 102, "stopped", NULL);
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	b = op_authorized(102, OPS_KIND_START, NULL, "b");
	tick(&nx);
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_uint_eq(nx.pending, 2);
	tick(&nx);
	ck_assert_int_eq(etu_state(db, a), SM_RUNNING);
	ck_assert_int_eq(etu_state(db, b), SM_RUNNING);
	(void) run(50);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	ck_assert_int_eq(etu_state(db, b), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits, 2);
	ck_assert_int_eq(fk.finds, 0);
}
END_TEST

/*
 * Issue 15: the write-ahead witness.  As a request reaches the world, a
 * second connection (it sees only what was committed) must find its op
 * already in flight: the intent durable before its request.
 */
struct witness {
	struct db	*db;
	int		 seen;
	int		 early;		/* requests ahead of their record */
};

static void
witness_check(void *ctx, int64_t op_id)
{
	struct witness *w = ctx;
	struct ops_row *op = NULL;

	w->seen++;
	ck_assert_int_eq(ops_get(w->db, op_id, &op, NULL), 0);
	if (strcmp(op->state, "submitting") != 0 &&
	    strcmp(op->state, "rolling_back") != 0)
		w->early++;
	ops_row_free(op);
}

#define GROUP_LANES	50

/*
 * Issue 15: with 50 lanes ready in one tick, their 50 intents are made
 * durable by one commit, and none of their requests leaves before it.
 */
START_TEST(fifty_ready_lanes_commit_their_intents_once)
{
	struct engine_next nx;
	struct witness w = { NULL, 0, 0 };
	int64_t ids[GROUP_LANES];
	char key[16];
	int i, commits = 0;

	fk.passes = 1;
	fk.defer = 1;
	group = 1;
	restart();
	for (i = 0; i < GROUP_LANES; i++) {
		fake_guest_add(&fk, 101 + i, "stopped", NULL);
		(void) snprintf(key, sizeof(key), "g%d", i);
		ids[i] = op_authorized(101 + i, OPS_KIND_START, NULL, key);
	}
	w.db = etu_db_open(dir);
	fk.witness = witness_check;
	fk.witness_ctx = &w;
	(void) sqlite3_wal_hook(db_handle(db), tu_count_commits, &commits);
	tick(&nx);
	/* 50 transitions, one commit; nothing was sent inside the tick. */
	ck_assert_uint_eq(nx.pending, GROUP_LANES);
	ck_assert_int_eq(commits, 1);
	ck_assert_int_eq(fk.submits, 0);
	for (i = 0; i < GROUP_LANES; i++)
		ck_assert_int_eq(etu_state(w.db, ids[i]), SM_SUBMITTING);
	/* The loop drives the multi: every request finds its record. */
	ck_assert_uint_eq(fake_drive(&fk), GROUP_LANES);
	ck_assert_int_eq(w.seen, GROUP_LANES);
	ck_assert_int_eq(w.early, 0);
	/* The 50 answers taken: the tasks' starts, one commit again. */
	commits = 0;
	tick(&nx);
	ck_assert_int_eq(commits, 1);
	for (i = 0; i < GROUP_LANES; i++)
		ck_assert_int_eq(etu_state(w.db, ids[i]), SM_RUNNING);
	(void) run(200);
	for (i = 0; i < GROUP_LANES; i++)
		ck_assert_int_eq(etu_state(db, ids[i]), SM_SUCCEEDED);
	/* Exactly once: one request per op. */
	ck_assert_int_eq(fk.submits, GROUP_LANES);
	ck_assert_int_eq(w.early, 0);
	(void) sqlite3_wal_hook(db_handle(db), NULL, NULL);
	db_close(w.db);
}
END_TEST

/*
 * The witness itself: an executor that acts inside the step (the fake
 * without defer, as a test's) under group commit sends each request
 * before its record is durable — why engine_config.group_commit is
 * only for an executor that queues, and why it is off by default.
 */
START_TEST(an_executor_acting_at_once_needs_commit_per_transition)
{
	struct engine_next nx;
	struct witness w = { NULL, 0, 0 };
	int64_t a, b;

	fk.passes = 1;
	fake_guest_add(&fk, 101, "stopped", NULL);
	fake_guest_add(&fk, 102, "stopped", NULL);
	a = op_authorized(101, OPS_KIND_START, NULL, "a");
	w.db = etu_db_open(dir);
	fk.witness = witness_check;
	fk.witness_ctx = &w;
	/* Off (the default): every intent committed before its request. */
	tick(&nx);
	ck_assert_int_eq(w.seen, 1);
	ck_assert_int_eq(w.early, 0);
	(void) run(50);
	ck_assert_int_eq(etu_state(db, a), SM_SUCCEEDED);
	/* On, with an executor that acts at once: the request is early. */
	group = 1;
	restart();
	b = op_authorized(102, OPS_KIND_START, NULL, "b");
	tick(&nx);
	ck_assert_int_eq(w.seen, 2);
	ck_assert_int_eq(w.early, 1);
	(void) run(50);
	ck_assert_int_eq(etu_state(db, b), SM_SUCCEEDED);
	db_close(w.db);
}
END_TEST

static Suite *
lane_suite(void)
{
	Suite *s = suite_create("lane");
	TCase *t = tcase_create("lane");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, a_late_answer_is_adopted_not_resent);
	tcase_add_test(t, a_late_config_write_is_confirmed_not_resent);
	tcase_add_test(t, a_stale_late_config_write_is_refused_by_its_digest);
	tcase_add_test(t, a_config_already_as_asked_is_not_written);
	tcase_add_test(t, a_snapshot_an_earlier_attempt_made_is_a_success);
	tcase_add_test(t, a_clock_stepped_back_does_not_stall_a_retry);
	tcase_add_test(t, a_restart_resumes_a_retry_wait_from_its_length);
	tcase_add_test(t, a_clean_stop_keeps_what_is_left_of_a_wait);
	tcase_add_test(t, a_pending_submit_is_taken_not_looked_up);
	tcase_add_test(t, a_crash_with_a_submit_in_flight_looks_it_up);
	tcase_add_test(t, two_lanes_pend_side_by_side);
	tcase_add_test(t, fifty_ready_lanes_commit_their_intents_once);
	tcase_add_test(t, an_executor_acting_at_once_needs_commit_per_transition);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lane_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
