/*
 * test_sm — the transition table as data, sm_step's transaction (CAS,
 * journal, audit, refused transitions), the in-transaction variant,
 * invariants, crash points, and the documented table.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "base/crash.h"
#include "base/log.h"
#include "engine/sm.h"
#include "etu.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"
#include "testutil.h"

#define T0	1780000000

static char *dir;
static struct db *db;

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	db = etu_db_open(dir);
}

static void
teardown(void)
{
	etu_cover(db);
	db_close(db);
	db = NULL;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

static const char UPID[] =
    "UPID:pve-01:00001234:00ABCDEF:6A000000:vzstart:101:felhom@pve!agent:";

/* Arguments good for any event (each action reads what it needs). */
static void
args_for(struct sm_args *a, enum sm_event ev, json_t *safety)
{
	memset(a, 0, sizeof(*a));
	a->now = T0 + 10;
	a->safety = safety;
	switch (ev) {
	case SM_EV_TASK_STARTED:
	case SM_EV_ADOPT_TASK:
	case SM_EV_UNDO_STARTED:
		a->upid = UPID;
		break;
	case SM_EV_RETRYABLE_ERROR:
	case SM_EV_NOT_SUBMITTED:
		a->error_code = "locked";
		a->error = "CT is locked (backup)";
		a->next_at = T0 + 60;
		break;
	case SM_EV_FATAL_ERROR:
	case SM_EV_TASK_FAILED:
	case SM_EV_TASK_FAILED_UNDO:
	case SM_EV_UNDO_FAILED:
	case SM_EV_ATTEMPTS_EXHAUSTED:
	case SM_EV_REFUSED:
	case SM_EV_ABANDON:
		a->error_code = "test";
		a->error = "a test failure";
		break;
	case SM_EV_SIGNATURE_ACCEPTED:
		a->signature = "-----BEGIN SSH SIGNATURE-----";
		a->signer = "alice@ops SHA256:x";
		break;
	case SM_EV_OPERATOR_CONFIRMED:
		a->signer = "operator:root (uid 0)";
		break;
	case SM_EV_CLASSIFIED_DESTRUCTIVE:
		a->not_after = T0 + 86400;
		break;
	default:
		break;
	}
}

START_TEST(table_from_event_pairs_are_unique)
{
	struct sm_row_info a, b;
	size_t i, j;

	ck_assert_uint_gt(sm_rows_count(), 0);
	for (i = 0; i < sm_rows_count(); i++) {
		ck_assert_int_eq(sm_row_at(i, &a), 0);
		for (j = i + 1; j < sm_rows_count(); j++) {
			ck_assert_int_eq(sm_row_at(j, &b), 0);
			ck_assert_msg(a.from != b.from || a.event != b.event,
			    "rows %zu and %zu share (%s, %s)", i, j,
			    sm_state_name(a.from), sm_event_name(a.event));
		}
		ck_assert_int_eq(sm_row_find(a.from, a.event), (int)i);
	}
}
END_TEST

START_TEST(table_nothing_leaves_a_terminal_state)
{
	struct sm_row_info r;
	size_t i;

	for (i = 0; i < sm_rows_count(); i++) {
		ck_assert_int_eq(sm_row_at(i, &r), 0);
		ck_assert_msg(!sm_is_terminal(r.from), "row %zu leaves "
		    "terminal %s", i, sm_state_name(r.from));
	}
}
END_TEST

START_TEST(table_every_state_is_reachable_from_new)
{
	int seen[SM__COUNT] = { 0 }, changed = 1;
	struct sm_row_info r;
	size_t i;

	seen[SM_NEW] = 1;
	while (changed) {
		changed = 0;
		for (i = 0; i < sm_rows_count(); i++) {
			(void) sm_row_at(i, &r);
			if (seen[r.from] && !seen[r.to]) {
				seen[r.to] = 1;
				changed = 1;
			}
		}
	}
	for (i = 0; i < SM__COUNT; i++)
		ck_assert_msg(seen[i], "%s is unreachable from new",
		    sm_state_name((enum sm_state)i));
}
END_TEST

START_TEST(table_every_state_can_reach_a_terminal_one)
{
	int done[SM__COUNT] = { 0 }, changed = 1;
	struct sm_row_info r;
	size_t i;

	for (i = 0; i < SM__COUNT; i++)
		done[i] = sm_is_terminal((enum sm_state)i);
	while (changed) {
		changed = 0;
		for (i = 0; i < sm_rows_count(); i++) {
			(void) sm_row_at(i, &r);
			if (done[r.to] && !done[r.from]) {
				done[r.from] = 1;
				changed = 1;
			}
		}
	}
	for (i = 0; i < SM__COUNT; i++)
		ck_assert_msg(done[i], "%s cannot reach a terminal state",
		    sm_state_name((enum sm_state)i));
}
END_TEST

START_TEST(names_round_trip_and_match_the_schema)
{
	int i;

	for (i = 0; i < SM__COUNT; i++) {
		ck_assert_int_eq(sm_state_parse(sm_state_name(
		    (enum sm_state)i)), i);
		ck_assert_ptr_nonnull(sm_state_info((enum sm_state)i));
	}
	for (i = 0; i < SM_EV__COUNT; i++)
		ck_assert_int_eq(sm_event_parse(sm_event_name(
		    (enum sm_event)i)), i);
	ck_assert_int_eq(sm_state_parse("bogus"), -1);
	ck_assert_int_eq(sm_event_parse("bogus"), -1);
	/* Lane facts: only states past authorized and not ended. */
	ck_assert(sm_state_info(SM_AUTHORIZED)->lane);
	ck_assert(!sm_state_info(SM_PENDING_SIGNATURE)->lane);
	ck_assert(sm_state_info(SM_RUNNING)->in_flight);
	ck_assert(!sm_state_info(SM_SUCCEEDED)->lane);
}
END_TEST

/*
 * A path of events from new to `to` (breadth first); rolling_back needs a
 * safety copy, so task_failed_undo is only taken after a step that left
 * one.  Returns its length, -1 when none.
 */
static int
path_to(enum sm_state to, int need_safety, enum sm_event *path, int max)
{
	/* search node: state x has-safety */
	int prev_node[SM__COUNT * 2], prev_ev[SM__COUNT * 2];
	int queue[SM__COUNT * 2], qh = 0, qt = 0, seen[SM__COUNT * 2];
	struct sm_row_info r;
	int node, nn, n, k, safety;
	size_t i;

	memset(seen, 0, sizeof(seen));
	queue[qt++] = SM_NEW * 2;
	seen[SM_NEW * 2] = 1;
	prev_node[SM_NEW * 2] = -1;
	while (qh < qt) {
		node = queue[qh++];
		if (node / 2 == (int)to && (!need_safety || node % 2)) {
			n = 0;
			for (k = node; prev_node[k] >= 0; k = prev_node[k])
				n++;
			if (n > max)
				return -1;
			for (k = node, i = (size_t)n; prev_node[k] >= 0;
			    k = prev_node[k])
				path[--i] = (enum sm_event)prev_ev[k];
			return n;
		}
		for (i = 0; i < sm_rows_count(); i++) {
			(void) sm_row_at(i, &r);
			if ((int)r.from != node / 2)
				continue;
			safety = node % 2;
			if ((r.event == SM_EV_TASK_FAILED_UNDO ||
			    r.event == SM_EV_ROLLBACK) && !safety)
				continue;
			if (r.event == SM_EV_STEP_DONE ||
			    r.event == SM_EV_SYNC_STEP_DONE)
				safety = 1;
			nn = (int)r.to * 2 + safety;
			if (seen[nn])
				continue;
			seen[nn] = 1;
			prev_node[nn] = node;
			prev_ev[nn] = (int)r.event;
			queue[qt++] = nn;
		}
	}
	return -1;
}

/* Every row, exercised on a real op reached from new: rows as data. */
START_TEST(walk_exercises_every_row_with_one_journal_row_each)
{
	enum sm_event path[32];
	struct sm_row_info r;
	struct sm_args a;
	struct ops_row *op;
	json_t *safety = json_pack("{s:s}", "snapshot", "felhom_safety_t");
	struct err err;
	enum sm_state s, to;
	int64_t id, before, after;
	char key[32];
	size_t i;
	int n, k;

	for (i = 0; i < sm_rows_count(); i++) {
		ck_assert_int_eq(sm_row_at(i, &r), 0);
		n = path_to(r.from, r.event == SM_EV_TASK_FAILED_UNDO ||
		    r.event == SM_EV_ROLLBACK, path, 32);
		ck_assert_msg(n >= 0, "no path to %s", sm_state_name(r.from));
		(void) snprintf(key, sizeof(key), "walk-%zu", i);
		id = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
		    "{\"snapshot\":\"s1\"}", key, T0);
		s = SM_NEW;
		for (k = 0; k < n; k++) {
			args_for(&a, path[k], safety);
			err_init(&err);
			ck_assert_msg(sm_step(db, id, s, path[k], &a, &to,
			    &err) == 0, "path to %s: %s", sm_state_name(r.from),
			    err_msg(&err));
			s = to;
		}
		ck_assert_int_eq(s, r.from);
		ck_assert_int_eq(journal_count(db, id, &before, NULL), 0);
		args_for(&a, r.event, safety);
		err_init(&err);
		ck_assert_msg(sm_step(db, id, r.from, r.event, &a, &to,
		    &err) == 0, "row %zu (%s, %s): %s", i,
		    sm_state_name(r.from), sm_event_name(r.event),
		    err_msg(&err));
		ck_assert_int_eq(to, r.to);
		ck_assert_int_eq(etu_state(db, id), r.to);
		ck_assert_int_eq(journal_count(db, id, &after, NULL), 0);
		ck_assert_int_eq(after, before + 1);
		ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
		err_init(&err);
		ck_assert_msg(sm_check_op(op, &err) == 0, "after row %zu: %s",
		    i, err_msg(&err));
		ops_row_free(op);
	}
	json_decref(safety);
}
END_TEST

START_TEST(benign_lifecycle_journals_each_step_and_ends_the_op)
{
	struct sm_args a;
	struct ops_row *op;
	json_t *rows;
	int64_t id, n;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	args_for(&a, SM_EV_SUBMIT, NULL);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	ck_assert_int_eq(op->attempt, 1);
	ck_assert_int_eq(op->intent_at, T0 + 10);
	ck_assert_ptr_null(op->upid);
	ops_row_free(op);
	args_for(&a, SM_EV_TASK_STARTED, NULL);
	etu_step(db, id, SM_SUBMITTING, SM_EV_TASK_STARTED, &a);
	args_for(&a, SM_EV_TASK_OK, NULL);
	etu_step(db, id, SM_RUNNING, SM_EV_TASK_OK, &a);
	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(op->upid, UPID);
	ck_assert_int_eq(op->ended_at, T0 + 10);
	ck_assert_int_eq(sm_check_op(op, NULL), 0);
	ops_row_free(op);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(journal_list(db, id, &rows, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows,
	    2), "event")), "task_started");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    json_array_get(rows, 2), "detail"), "upid")), UPID);
	json_decref(rows);
}
END_TEST

START_TEST(terminal_state_refuses_with_transition_error_and_audit)
{
	struct sm_args a;
	struct err err;
	json_t *audit;
	int64_t id, n;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CANCEL, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CANCEL, &a);
	err_init(&err);
	args_for(&a, SM_EV_SUBMIT, NULL);
	ck_assert_int_eq(sm_step(db, id, SM_CANCELLED, SM_EV_SUBMIT, &a, NULL,
	    &err), ERR_TRANSITION);
	ck_assert_ptr_nonnull(strstr(err.msg, "no transition from cancelled "
	    "by submit"));
	ck_assert_int_eq(etu_state(db, id), SM_CANCELLED);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(audit_since(db, 0, 100, &audit, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, json_array_size(audit) - 1), "code")), "no_transition");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, json_array_size(audit) - 1), "decision")), "refused");
	json_decref(audit);
}
END_TEST

START_TEST(decisions_are_audited_plain_steps_are_not)
{
	struct sm_args a;
	json_t *audit;
	int64_t id, id2, seq0, seq1;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	id2 = etu_op(db, 103, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k2", T0);
	ck_assert_int_eq(audit_last_seq(db, &seq0, NULL), 0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	args_for(&a, SM_EV_CLASSIFIED_DESTRUCTIVE, NULL);
	etu_step(db, id2, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
	args_for(&a, SM_EV_SUBMIT, NULL);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	ck_assert_int_eq(audit_last_seq(db, &seq1, NULL), 0);
	ck_assert_int_eq(seq1 - seq0, 2);
	ck_assert_int_eq(audit_since(db, seq0, 10, &audit, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, 0), "decision")), "authorized");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, 1), "decision")), "pending_signature");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
	    audit, 1), "vmid")), 103);
	json_decref(audit);
}
END_TEST

/* WAL frames written by the commits since the hook was set. */
static int
count_frames(void *ctx, sqlite3 *h, const char *name, int npages)
{
	int *last = ctx;

	(void) h;
	(void) name;
	last[1] += npages - last[0];
	last[0] = npages;
	return SQLITE_OK;
}

/*
 * Issue 15: a plain step (no audit row, not terminal) writes four
 * pages — the op row, the journal row, its index entry and the
 * journal's sqlite_sequence row — not the op's entries in indexes
 * keyed or filtered on its state (0005).  A terminal step adds its
 * ops_ended entry, and the op leaves the lane query.
 */
START_TEST(plain_step_writes_four_pages)
{
	struct ops_row **ops = NULL;
	struct sm_args a;
	int64_t id, other, n;
	size_t nops = 0;
	int frames[2] = { 0, 0 };

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	other = etu_op(db, 102, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k2",
	    T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	args_for(&a, SM_EV_SUBMIT, NULL);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	(void) sqlite3_wal_hook(db_handle(db), count_frames, frames);
	/* The hook reports the WAL's frame count: start from the current. */
	ck_assert_int_eq(sqlite3_wal_checkpoint_v2(db_handle(db), NULL,
	    SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
	args_for(&a, SM_EV_TASK_STARTED, NULL);
	etu_step(db, id, SM_SUBMITTING, SM_EV_TASK_STARTED, &a);
	ck_assert_int_eq(frames[1], 4);
	ck_assert_int_eq(ops_count(db, "running", &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	args_for(&a, SM_EV_TASK_OK, NULL);
	etu_step(db, id, SM_RUNNING, SM_EV_TASK_OK, &a);
	ck_assert_int_eq(frames[1], 4 + 5);
	(void) sqlite3_wal_hook(db_handle(db), NULL, NULL);
	ck_assert_int_eq(ops_count(db, "running", &n, NULL), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(ops_count(db, "succeeded", &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(ops_list_active(db, &ops, &nops, NULL), 0);
	ck_assert_uint_eq(nops, 1);
	ck_assert_int_eq(ops[0]->id, other);
	ops_rows_free(ops, nops);
}
END_TEST

START_TEST(attempts_exhausted_leaves_an_audit_row_for_a_human)
{
	struct sm_args a;
	json_t *audit;
	int64_t id, seq0;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	args_for(&a, SM_EV_SUBMIT, NULL);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	ck_assert_int_eq(audit_last_seq(db, &seq0, NULL), 0);
	args_for(&a, SM_EV_ATTEMPTS_EXHAUSTED, NULL);
	etu_step(db, id, SM_SUBMITTING, SM_EV_ATTEMPTS_EXHAUSTED, &a);
	ck_assert_int_eq(audit_since(db, seq0, 10, &audit, NULL), 0);
	ck_assert_uint_eq(json_array_size(audit), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, 0), "decision")), "failed");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    audit, 0), "code")), "attempts_exhausted");
	json_decref(audit);
}
END_TEST

/* felhom-admin on a second connection loses cleanly. */
START_TEST(concurrent_writer_loses_the_compare_and_set)
{
	struct db *other;
	struct sm_args a;
	struct err err;
	int64_t id, n;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	other = etu_db_open(dir);
	args_for(&a, SM_EV_SUBMIT, NULL);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	err_init(&err);
	args_for(&a, SM_EV_CANCEL, NULL);
	ck_assert_int_eq(sm_step(other, id, SM_AUTHORIZED, SM_EV_CANCEL, &a,
	    NULL, &err), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "is submitting, not "
	    "authorized"));
	ck_assert_int_eq(etu_state(other, id), SM_SUBMITTING);
	ck_assert_int_eq(journal_count(other, id, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
	db_close(other);
}
END_TEST

START_TEST(missing_op_is_not_found)
{
	struct sm_args a;
	struct err err;

	err_init(&err);
	args_for(&a, SM_EV_CANCEL, NULL);
	ck_assert_int_eq(sm_step(db, 4242, SM_NEW, SM_EV_CANCEL, &a, NULL,
	    &err), ERR_NOT_FOUND);
}
END_TEST

START_TEST(in_txn_step_commits_and_rolls_back_with_the_caller)
{
	struct sm_args a;
	struct err err;
	int64_t id, n;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	err_init(&err);
	ck_assert_int_eq(sm_step_in_txn(db, id, SM_NEW,
	    SM_EV_CLASSIFIED_BENIGN, &a, NULL, &err), ERR_INTERNAL);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(sm_step_in_txn(db, id, SM_NEW,
	    SM_EV_CLASSIFIED_BENIGN, &a, NULL, NULL), 0);
	db_rollback(db);
	ck_assert_int_eq(etu_state(db, id), SM_NEW);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(sm_step_in_txn(db, id, SM_NEW,
	    SM_EV_CLASSIFIED_BENIGN, &a, NULL, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	ck_assert_int_eq(etu_state(db, id), SM_AUTHORIZED);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(check_op_names_the_broken_invariant)
{
	struct ops_row op;
	struct err err;

	memset(&op, 0, sizeof(op));
	(void) snprintf(op.uid, sizeof(op.uid), "op-test");
	(void) snprintf(op.state, sizeof(op.state), "running");
	err_init(&err);
	ck_assert_int_eq(sm_check_op(&op, &err), ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "running without a UPID"));
	(void) snprintf(op.state, sizeof(op.state), "succeeded");
	err_init(&err);
	ck_assert_int_eq(sm_check_op(&op, &err), ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "without ended_at"));
	(void) snprintf(op.state, sizeof(op.state), "nonsense");
	ck_assert_int_eq(sm_check_op(&op, NULL), ERR_FORMAT);
	(void) snprintf(op.state, sizeof(op.state), "submitting");
	err_init(&err);
	ck_assert_int_eq(sm_check_op(&op, &err), ERR_CORRUPT);
	op.intent_at = T0;
	op.attempt = 1;
	ck_assert_int_eq(sm_check_op(&op, NULL), 0);
}
END_TEST

START_TEST(crash_points_exist)
{
	ck_assert(crash_known("sm.before_commit"));
	ck_assert(crash_known("sm.after_commit"));
	ck_assert(crash_known("sm.before_commit.submit"));
	ck_assert(crash_known("sm.after_commit.task_started"));
	ck_assert(crash_known("exec.after_post"));
}
END_TEST

#ifdef FELHOM_TESTING
/* Runs one submit in a child that dies at point; returns its status. */
static int
crash_child(int64_t id, const char *point)
{
	struct sm_args a;
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct db *cdb;
		struct err err;
		char path[4096];

		(void) setenv("FELHOM_CRASHPOINT", point, 1);
		(void) snprintf(path, sizeof(path), "%s/state.db", dir);
		err_init(&err);
		if (db_open(path, 0, &cdb, &err) != 0)
			_exit(3);
		args_for(&a, SM_EV_SUBMIT, NULL);
		(void) sm_step(cdb, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a, NULL,
		    NULL);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(crash_before_commit_leaves_nothing_after_commit_everything)
{
	struct sm_args a;
	int64_t id, n;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k1", T0);
	args_for(&a, SM_EV_CLASSIFIED_BENIGN, NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	ck_assert_int_eq(crash_child(id, "sm.before_commit.submit"), 137);
	ck_assert_int_eq(etu_state(db, id), SM_AUTHORIZED);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(crash_child(id, "sm.after_commit"), 137);
	ck_assert_int_eq(etu_state(db, id), SM_SUBMITTING);
	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
}
END_TEST

#endif

/* The table section of docs/state-machine.md is the printed table. */
START_TEST(docs_table_matches_felhom_admin_states)
{
	const char *argv[] = { tu_bin("felhom-admin"), "states", "--markdown",
	    NULL };
	char *out = NULL, *doc, *b, *e;
	int status;

	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &status), 0);
	ck_assert_int_eq(status, 0);
	doc = tu_read_file(tu_source("docs/state-machine.md"), NULL);
	ck_assert_ptr_nonnull(doc);
	b = strstr(doc, "<!-- table:begin -->\n");
	e = strstr(doc, "<!-- table:end -->");
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(e);
	b += strlen("<!-- table:begin -->\n");
	*e = '\0';
	ck_assert_msg(strcmp(b, out) == 0, "docs/state-machine.md differs "
	    "from 'felhom-admin states --markdown':\n%s", out);
	free(doc);
	free(out);
}
END_TEST

START_TEST(plain_table_lists_every_row)
{
	const char *argv[] = { tu_bin("felhom-admin"), "states", NULL };
	char *out = NULL;
	int status;

	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &status), 0);
	ck_assert_int_eq(status, 0);
	ck_assert_uint_eq(tu_count(out, "\n"), sm_rows_count() + 1);
	ck_assert_ptr_nonnull(strstr(out, "task_failed_undo"));
	free(out);
}
END_TEST

static Suite *
sm_suite(void)
{
	Suite *s = suite_create("sm");
	TCase *t;

	t = tcase_create("table");
	tcase_add_test(t, table_from_event_pairs_are_unique);
	tcase_add_test(t, table_nothing_leaves_a_terminal_state);
	tcase_add_test(t, table_every_state_is_reachable_from_new);
	tcase_add_test(t, table_every_state_can_reach_a_terminal_one);
	tcase_add_test(t, names_round_trip_and_match_the_schema);
	tcase_add_test(t, crash_points_exist);
	tcase_add_test(t, check_op_names_the_broken_invariant);
	suite_add_tcase(s, t);

	t = tcase_create("step");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, walk_exercises_every_row_with_one_journal_row_each);
	tcase_add_test(t, benign_lifecycle_journals_each_step_and_ends_the_op);
	tcase_add_test(t,
	    terminal_state_refuses_with_transition_error_and_audit);
	tcase_add_test(t, decisions_are_audited_plain_steps_are_not);
	tcase_add_test(t, plain_step_writes_four_pages);
	tcase_add_test(t, attempts_exhausted_leaves_an_audit_row_for_a_human);
	tcase_add_test(t, concurrent_writer_loses_the_compare_and_set);
	tcase_add_test(t, missing_op_is_not_found);
	tcase_add_test(t, in_txn_step_commits_and_rolls_back_with_the_caller);
#ifdef FELHOM_TESTING
	tcase_add_test(t,
	    crash_before_commit_leaves_nothing_after_commit_everything);
#endif
	suite_add_tcase(s, t);

	t = tcase_create("docs");
	tcase_add_test(t, docs_table_matches_felhom_admin_states);
	tcase_add_test(t, plain_table_lists_every_row);
	suite_add_tcase(s, t);
	return s;
}

/* Every row of the table was exercised by some test of this run. */
static int
coverage_ok(const char *path)
{
	char *text = tu_read_file(path, NULL), line[96];
	struct sm_row_info r;
	size_t i, missing = 0;

	for (i = 0; i < sm_rows_count(); i++) {
		(void) sm_row_at(i, &r);
		(void) snprintf(line, sizeof(line), "%s %s\n",
		    sm_state_name(r.from), sm_event_name(r.event));
		if (text == NULL || strstr(text, line) == NULL) {
			fprintf(stderr, "row not exercised: %s", line);
			missing++;
		}
	}
	free(text);
	fprintf(stderr, "sm: %zu of %zu rows exercised\n",
	    sm_rows_count() - missing, sm_rows_count());
	return missing == 0;
}

int
main(void)
{
	SRunner *sr = srunner_create(sm_suite());
	char *cover_dir = tu_tmpdir(), cover[4096];
	int failed, covered;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	(void) snprintf(cover, sizeof(cover), "%s/rows", cover_dir);
	etu_cover_file = cover;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	covered = coverage_ok(cover);
	tu_rmrf(cover_dir);
	free(cover_dir);
	return failed == 0 && covered ? EXIT_SUCCESS : EXIT_FAILURE;
}
