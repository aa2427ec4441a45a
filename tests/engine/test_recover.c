/*
 * test_recover — the operator's side of recovery (engine/recover, R-34,
 * which action applies in which state and step, each one audited
 * transition naming the operator, a refused one writing nothing; what
 * recovery says it will do; and how loud each transition is logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/log.h"
#include "engine/recover.h"
#include "engine/sm.h"
#include "etu.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"
#include "testutil.h"

#define T0	1780000000

static char *dir;
static struct db *db;

static const char UPID[] =
    "UPID:pve-01:00001234:00ABCDEF:6A000000:vzstart:101:felhom@pve!agent:";

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
	db_close(db);
	db = NULL;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

/* A signed rollback of 101 (three steps) moved to `to` by the engine. */
static int64_t
op_in(const char *key, enum sm_state to, int mid)
{
	json_t *safety = json_pack("{s:s}", "snapshot", "felhom_safety_t");
	struct sm_args a;
	int64_t id;

	id = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"s1\"}", key, T0);
	memset(&a, 0, sizeof(a));
	a.now = T0 + 1;
	if (to == SM_NEW)
		goto out;
	if (to == SM_PENDING_SIGNATURE) {
		a.not_after = T0 + 3600;
		etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
		goto out;
	}
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	if (mid) {
		/* The safety snapshot taken: step 1, a copy to return to. */
		etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
		a.upid = UPID;
		etu_step(db, id, SM_SUBMITTING, SM_EV_TASK_STARTED, &a);
		a.upid = NULL;
		a.safety = safety;
		etu_step(db, id, SM_RUNNING, SM_EV_STEP_DONE, &a);
		a.safety = NULL;
	}
	if (to == SM_AUTHORIZED)
		goto out;
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	if (to == SM_SUBMITTING)
		goto out;
	a.upid = UPID;
	etu_step(db, id, SM_SUBMITTING, SM_EV_TASK_STARTED, &a);
	if (to == SM_RUNNING)
		goto out;
	a.error_code = "task_failed";
	a.error = "rollback failed";
	etu_step(db, id, SM_RUNNING, SM_EV_TASK_FAILED_UNDO, &a);
out:
	json_decref(safety);
	return id;
}

static struct ops_row *
row(int64_t id)
{
	struct ops_row *op = NULL;

	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	return op;
}

static int64_t
nrows(int64_t id)
{
	int64_t n = -1;

	ck_assert_int_eq(journal_count(db, id, &n, NULL), 0);
	return n;
}

/* One case: (state, mid-sequence) x action → result (or refusal). */
struct action_case {
	enum sm_state		 from;
	int			 mid;
	enum recover_action	 action;
	enum sm_state		 to;		/* SM__COUNT: refused */
	const char		*refusal;	/* fragment of the message */
};

static const struct action_case cases[] = {
	{ SM_NEW, 0, RECOVER_CANCEL, SM_CANCELLED, NULL },
	{ SM_NEW, 0, RECOVER_ABANDON, SM__COUNT, "use 'cancel" },
	{ SM_PENDING_SIGNATURE, 0, RECOVER_CANCEL, SM_CANCELLED, NULL },
	{ SM_PENDING_SIGNATURE, 0, RECOVER_RESUME, SM__COUNT,
	    "nothing to resume" },
	{ SM_PENDING_SIGNATURE, 0, RECOVER_ROLLBACK, SM__COUNT,
	    "only possible between steps" },
	{ SM_AUTHORIZED, 0, RECOVER_CANCEL, SM_CANCELLED, NULL },
	{ SM_AUTHORIZED, 0, RECOVER_RESUME, SM_AUTHORIZED, NULL },
	{ SM_AUTHORIZED, 0, RECOVER_ROLLBACK, SM__COUNT, "no safety copy" },
	{ SM_AUTHORIZED, 1, RECOVER_CANCEL, SM__COUNT, "mid-sequence" },
	{ SM_AUTHORIZED, 1, RECOVER_ROLLBACK, SM_ROLLING_BACK, NULL },
	{ SM_AUTHORIZED, 1, RECOVER_ABANDON, SM_CANCELLED, NULL },
	{ SM_SUBMITTING, 0, RECOVER_CANCEL, SM__COUNT, "--abandon" },
	{ SM_SUBMITTING, 0, RECOVER_ABANDON, SM_CANCELLED, NULL },
	{ SM_SUBMITTING, 0, RECOVER_RESUME, SM_SUBMITTING, NULL },
	{ SM_RUNNING, 0, RECOVER_ROLLBACK, SM__COUNT,
	    "only possible between steps" },
	{ SM_RUNNING, 0, RECOVER_ABANDON, SM_CANCELLED, NULL },
	{ SM_RUNNING, 0, RECOVER_RESUME, SM_RUNNING, NULL },
	{ SM_ROLLING_BACK, 1, RECOVER_ABANDON, SM_FAILED, NULL },
	{ SM_ROLLING_BACK, 1, RECOVER_RESUME, SM_ROLLING_BACK, NULL },
};

START_TEST(each_action_applies_where_the_table_says_and_nowhere_else)
{
	const struct action_case *c = &cases[_i];
	struct recover_result r;
	struct ops_row *op;
	struct adminq_filter f;
	struct err err;
	json_t *j = NULL, *a = NULL, *last;
	int64_t id, before;
	char key[32], uid[OPS_UID_LEN];
	int rc;

	(void) snprintf(key, sizeof(key), "case-%d", _i);
	id = op_in(key, c->from, c->mid);
	op = row(id);
	ck_assert_int_eq(sm_state_parse(op->state), c->from);
	(void) snprintf(uid, sizeof(uid), "%s", op->uid);
	ops_row_free(op);
	before = nrows(id);
	err_init(&err);
	rc = recover_apply(db, uid, c->action, "alice", T0 + 50, &r, &err);
	if (c->to == SM__COUNT) {
		ck_assert_int_eq(rc, ERR_TRANSITION);
		ck_assert_msg(strstr(err.msg, c->refusal) != NULL, "%s",
		    err.msg);
		/* Refused: nothing written, the op as it was. */
		ck_assert_int_eq(nrows(id), before);
		op = row(id);
		ck_assert_int_eq(sm_state_parse(op->state), c->from);
		ops_row_free(op);
		return;
	}
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_int_eq(r.from, c->from);
	ck_assert_int_eq(r.to, c->to);
	ck_assert_int_eq(nrows(id), before + 1);
	op = row(id);
	ck_assert_int_eq(sm_state_parse(op->state), c->to);
	err_init(&err);
	ck_assert_msg(sm_check_op(op, &err) == 0, "%s", err.msg);
	if (c->action == RECOVER_RESUME)
		ck_assert_int_eq(op->next_at, T0 + 50);
	ops_row_free(op);
	/* The journal row names the operator; the audit row its actor. */
	memset(&f, 0, sizeof(f));
	f.op_id = id;
	ck_assert_int_eq(adminq_journal(db, &f, &j, NULL), 0);
	last = json_array_get(j, json_array_size(j) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    last, "detail"), "operator")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(last, "event")),
	    recover_action_name(c->action));
	f.code = recover_action_name(c->action);
	ck_assert_int_eq(adminq_audit(db, &f, &a, NULL), 0);
	ck_assert_uint_eq(json_array_size(a), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a,
	    0), "actor")), "admin:alice");
	json_decref(j);
	json_decref(a);
}
END_TEST

START_TEST(a_finished_or_unknown_op_is_refused)
{
	struct recover_result r;
	struct ops_row *op;
	struct err err;
	int64_t id = op_in("fin", SM_PENDING_SIGNATURE, 0);
	int a;

	op = row(id);
	err_init(&err);
	ck_assert_int_eq(recover_apply(db, op->uid, RECOVER_CANCEL, "bob",
	    T0 + 9, &r, &err), 0);
	for (a = 0; a < RECOVER__COUNT; a++) {
		err_init(&err);
		ck_assert_int_eq(recover_apply(db, op->uid,
		    (enum recover_action)a, "bob", T0 + 10, &r, &err),
		    ERR_TRANSITION);
		ck_assert_ptr_nonnull(strstr(err.msg, "finished"));
	}
	err_init(&err);
	ck_assert_int_eq(recover_apply(db, "op-0000000000000000",
	    RECOVER_CANCEL, "bob", T0 + 10, &r, &err), ERR_NOT_FOUND);
	ck_assert_str_eq(err.msg, "no such operation");
	ops_row_free(op);
}
END_TEST

START_TEST(explain_says_what_recovery_will_do)
{
	struct recover_advice adv;
	struct ops_row *op;
	struct sm_args a;
	int64_t id;

	op = row(op_in("ex-run", SM_RUNNING, 0));
	recover_explain(op, T0 + 5, &adv);
	ck_assert_str_eq(adv.does, "poll its task");
	ck_assert_ptr_nonnull(strstr(adv.why, UPID));
	ck_assert_uint_eq(adv.actions, (1u << RECOVER_RESUME) |
	    (1u << RECOVER_ABANDON));
	ops_row_free(op);
	op = row(op_in("ex-sub", SM_SUBMITTING, 0));
	recover_explain(op, T0 + 5, &adv);
	ck_assert_str_eq(adv.does, "look for its task");
	ck_assert_ptr_nonnull(strstr(adv.why, "vzsnapshot"));
	ck_assert_str_eq(adv.step, "safety_snapshot (1 of 3)");
	ops_row_free(op);
	/* Refused by PVE, backing off: "retry later", cancellable. */
	id = op_in("ex-retry", SM_SUBMITTING, 0);
	memset(&a, 0, sizeof(a));
	a.now = T0 + 2;
	a.error_code = "http";
	a.error = "HTTP 500 cfs-lock timeout";
	a.next_at = T0 + 60;
	etu_step(db, id, SM_SUBMITTING, SM_EV_RETRYABLE_ERROR, &a);
	op = row(id);
	recover_explain(op, T0 + 5, &adv);
	ck_assert_str_eq(adv.does, "retry later");
	ck_assert_ptr_nonnull(strstr(adv.why, "cfs-lock timeout"));
	ck_assert(adv.actions & (1u << RECOVER_CANCEL));
	ck_assert(adv.actions & (1u << RECOVER_RESUME));
	ops_row_free(op);
	op = row(op_in("ex-undo", SM_ROLLING_BACK, 1));
	recover_explain(op, T0 + 5, &adv);
	/* The undo intent is committed, its task not known yet. */
	ck_assert_str_eq(adv.does, "find or send the undo");
	ck_assert_ptr_nonnull(strstr(adv.why, "vzrollback"));
	ops_row_free(op);
}
END_TEST

/* ---- how loud a transition is (R-36 logs) ----------------------------- */

static char *
logged(enum sm_state from, enum sm_event ev, const char *step_name,
    int64_t id)
{
	struct sm_args a;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, f);
	memset(&a, 0, sizeof(a));
	a.now = T0 + 20;
	a.error_code = "task_failed";
	a.error = "unable to restore CT 101";
	a.next_at = T0 + 60;
	a.upid = UPID;
	a.step_name = step_name;
	etu_step(db, id, from, ev, &a);
	ck_assert_int_eq(fclose(f), 0);
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	return buf;
}

START_TEST(a_terminal_failure_is_an_error_a_retry_a_notice_step_named)
{
	char *line;

	line = logged(SM_RUNNING, SM_EV_TASK_FAILED, "restore",
	    op_in("lg-fail", SM_RUNNING, 0));
	ck_assert_msg(strstr(line, " error ") != NULL, "%s", line);
	ck_assert_ptr_nonnull(strstr(line, "running -> failed by task_failed "
	    "(restore): unable to restore CT 101"));
	free(line);
	line = logged(SM_SUBMITTING, SM_EV_RETRYABLE_ERROR, "destroy",
	    op_in("lg-retry", SM_SUBMITTING, 0));
	ck_assert_msg(strstr(line, " notice ") != NULL, "%s", line);
	ck_assert_ptr_nonnull(strstr(line, "(destroy)"));
	free(line);
	line = logged(SM_RUNNING, SM_EV_TASK_FAILED_UNDO, "rollback",
	    op_in("lg-undo", SM_RUNNING, 1));
	ck_assert_msg(strstr(line, " warn ") != NULL, "%s", line);
	free(line);
	line = logged(SM_ROLLING_BACK, SM_EV_UNDO_OK, "undo",
	    op_in("lg-rb", SM_ROLLING_BACK, 1));
	ck_assert_msg(strstr(line, " warn ") != NULL, "%s", line);
	ck_assert_ptr_nonnull(strstr(line, "-> rolled_back by undo_ok (undo)"));
	free(line);
	line = logged(SM_SUBMITTING, SM_EV_TASK_STARTED, NULL,
	    op_in("lg-ok", SM_SUBMITTING, 0));
	ck_assert_msg(strstr(line, " info ") != NULL, "%s", line);
	free(line);
}
END_TEST

static Suite *
recover_suite(void)
{
	Suite *s = suite_create("recover");
	TCase *tc = tcase_create("actions");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc,
	    each_action_applies_where_the_table_says_and_nowhere_else, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, a_finished_or_unknown_op_is_refused);
	tcase_add_test(tc, explain_says_what_recovery_will_do);
	tcase_add_test(tc,
	    a_terminal_failure_is_an_error_a_retry_a_notice_step_named);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(recover_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
