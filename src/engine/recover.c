/*
 * recover — what recovery does with an op, and the operator's actions
 * on it.  The actions are rows of the table (engine/sm):
 * cancel, resume, rollback and abandon events; this file only checks
 * the facts the table cannot see (the step, the safety copy) inside the
 * same transaction as the transition.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "engine/exec.h"
#include "engine/recover.h"
#include "engine/sm.h"
#include "store/ops.h"

static const char *const action_names[RECOVER__COUNT] = {
	[RECOVER_CANCEL] = "cancel",
	[RECOVER_RESUME] = "resume",
	[RECOVER_ROLLBACK] = "rollback",
	[RECOVER_ABANDON] = "abandon",
};
_Static_assert(sizeof(action_names) / sizeof(action_names[0]) ==
    RECOVER__COUNT, "recover action names");

/* The table's event of each action. */
static const enum sm_event action_events[RECOVER__COUNT] = {
	[RECOVER_CANCEL] = SM_EV_CANCEL,
	[RECOVER_RESUME] = SM_EV_RESUME,
	[RECOVER_ROLLBACK] = SM_EV_ROLLBACK,
	[RECOVER_ABANDON] = SM_EV_ABANDON,
};

const char *
recover_action_name(enum recover_action a)
{
	return (unsigned)a < RECOVER__COUNT ? action_names[a] : "unknown";
}

int
recover_action_parse(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < RECOVER__COUNT; i++)
		if (strcmp(action_names[i], s) == 0)
			return i;
	return -1;
}

static enum sm_state
state_of(const struct ops_row *op)
{
	int s = sm_state_parse(op->state);

	return s < 0 ? SM__COUNT : (enum sm_state)s;
}

/* "name (k of n)" of the op's current step; 0 when unknown. */
static int
step_text(const struct ops_row *op, char *out, size_t n,
    const enum exec_step_kind **steps_out, size_t *nsteps_out)
{
	const enum exec_step_kind *steps;
	size_t k;

	out[0] = '\0';
	if (op->vmid == 0 || exec_op_steps(op, &steps, &k, NULL) != 0 ||
	    op->step < 0 || (size_t)op->step >= k)
		return 0;
	(void) snprintf(out, n, "%s (%d of %zu)",
	    exec_step_info(steps[op->step])->name, op->step + 1, k);
	*steps_out = steps;
	*nsteps_out = k;
	return 1;
}

const char *
recover_refusal(const struct ops_row *op, enum recover_action action,
    char *buf, size_t n)
{
	enum sm_state s = state_of(op);
	char step[64];
	const enum exec_step_kind *steps;
	size_t k;

	if ((unsigned)action >= RECOVER__COUNT || s == SM__COUNT) {
		(void) snprintf(buf, n, "unknown action or state '%s'",
		    op->state);
		return buf;
	}
	if (sm_is_terminal(s)) {
		(void) snprintf(buf, n, "it is %s: a finished operation "
		    "cannot be changed", op->state);
		return buf;
	}
	if (sm_row_find(s, action_events[action]) < 0) {
		if (action == RECOVER_CANCEL && sm_state_info(s)->in_flight)
			(void) snprintf(buf, n, "it is %s: a request may be "
			    "out; use 'recover %s --abandon' (or --resume)",
			    op->state, op->uid);
		else if (action == RECOVER_CANCEL ||
		    action == RECOVER_ABANDON)
			(void) snprintf(buf, n, "it is %s: nothing runs yet; "
			    "use 'cancel %s'", op->state, op->uid);
		else if (action == RECOVER_ROLLBACK)
			(void) snprintf(buf, n, "it is %s: a rollback to the "
			    "safety copy is only possible between steps "
			    "(authorized), when nothing is in flight",
			    op->state);
		else
			(void) snprintf(buf, n, "it is %s: there is nothing "
			    "to resume; it waits for outside input",
			    op->state);
		return buf;
	}
	/* Facts the table cannot see. */
	if (action == RECOVER_CANCEL && s == SM_AUTHORIZED && op->step > 0) {
		(void) step_text(op, step, sizeof(step), &steps, &k);
		(void) snprintf(buf, n, "it is mid-sequence (next step %s): "
		    "use 'recover %s --rollback' or '--abandon'",
		    step[0] != '\0' ? step : "?", op->uid);
		return buf;
	}
	if (action == RECOVER_ROLLBACK && op->safety == NULL) {
		(void) snprintf(buf, n, "it has no safety copy to roll back "
		    "to");
		return buf;
	}
	return NULL;
}

static void
explain_submitting(const struct ops_row *op, const enum exec_step_kind *steps,
    size_t nsteps, struct recover_advice *out)
{
	char t[CLOCK_RFC3339_LEN];
	const struct exec_step_info *si;
	const char *then;

	if (steps == NULL || (size_t)op->step >= nsteps) {
		out->does = "fail it";
		(void) snprintf(out->why, sizeof(out->why), "its steps are "
		    "unknown to this version");
		return;
	}
	si = exec_step_info(steps[op->step]);
	then = op->attempt >= op->max_attempts ? "fail it: its attempts are "
	    "used up" : "retry the step";
	clock_format_rfc3339(op->intent_at, t, sizeof(t));
	if (si->sync) {
		out->does = "read the config back";
		(void) snprintf(out->why, sizeof(out->why), "the request "
		    "(attempt %d of %d, %s) may or may not have reached PVE: "
		    "applied → done, else %s", op->attempt, op->max_attempts,
		    t, then);
		return;
	}
	out->does = "look for its task";
	(void) snprintf(out->why, sizeof(out->why), "the request (attempt %d "
	    "of %d) may or may not have reached PVE: a %s task of %" PRId64
	    " started after %s by our token is adopted; none → %s",
	    op->attempt, op->max_attempts, si->task_type, op->vmid, t, then);
}

void
recover_explain(const struct ops_row *op, int64_t now,
    struct recover_advice *out)
{
	const enum exec_step_kind *steps = NULL;
	char t[CLOCK_RFC3339_LEN], buf[8];
	size_t nsteps = 0;
	enum sm_state s = state_of(op);
	int a;

	memset(out, 0, sizeof(*out));
	(void) step_text(op, out->step, sizeof(out->step), &steps, &nsteps);
	for (a = 0; a < RECOVER__COUNT; a++)
		if (recover_refusal(op, (enum recover_action)a, buf,
		    sizeof(buf)) == NULL)
			out->actions |= 1u << a;
	switch (s) {
	case SM_NEW:
		out->does = "classify";
		(void) snprintf(out->why, sizeof(out->why), "the gate decides "
		    "on the next tick: benign → authorized, destructive → "
		    "pending_signature");
		break;
	case SM_PENDING_SIGNATURE:
		clock_format_rfc3339(op->blob_not_after, t, sizeof(t));
		out->does = op->blob_not_after > 0 && op->blob_not_after <
		    now ? "expire" : "wait for a signature";
		(void) snprintf(out->why, sizeof(out->why), "destructive (%s); "
		    "%s %s", op->why != NULL ? op->why : op->class ==
		    OPS_CLASS_DESTRUCTIVE ? "destructive" : "held",
		    op->blob_not_after > 0 && op->blob_not_after < now ?
		    "its sign window lapsed at" : "can be signed until",
		    op->blob_not_after > 0 ? t : "(no window)");
		break;
	case SM_AUTHORIZED:
		if (op->next_at > now) {
			clock_format_rfc3339(op->next_at, t, sizeof(t));
			out->does = "retry later";
			(void) snprintf(out->why, sizeof(out->why), "attempt "
			    "%d of %d failed (%s: %s); the next is not before "
			    "%s", op->attempt, op->max_attempts,
			    op->error_code != NULL ? op->error_code : "?",
			    op->error != NULL ? op->error : "?", t);
		} else if (op->attempt >= op->max_attempts) {
			out->does = "fail it";
			(void) snprintf(out->why, sizeof(out->why), "its %d "
			    "attempts are used up", op->max_attempts);
		} else {
			out->does = op->step > 0 ? "run the next step" :
			    "run it";
			(void) snprintf(out->why, sizeof(out->why), "%s%s%s "
			    "runs when it heads the lane of guest %" PRId64,
			    op->step > 0 ? "mid-sequence: " : "",
			    out->step[0] != '\0' ? "step " : "the op",
			    out->step, op->vmid);
		}
		break;
	case SM_SUBMITTING:
		explain_submitting(op, steps, nsteps, out);
		break;
	case SM_RUNNING:
		out->does = "poll its task";
		(void) snprintf(out->why, sizeof(out->why), "task %s: still "
		    "running → keep polling; ended → the op (or its next "
		    "step) finishes by the task's exit status",
		    op->upid != NULL ? op->upid : "?");
		break;
	case SM_ROLLING_BACK:
		out->does = op->upid != NULL ? "poll the undo task" :
		    "find or send the undo";
		if (op->upid != NULL)
			(void) snprintf(out->why, sizeof(out->why), "returning "
			    "to the safety copy: undo task %s", op->upid);
		else
			(void) snprintf(out->why, sizeof(out->why), "returning "
			    "to the safety copy: a %s task started after the "
			    "undo intent is adopted, else the undo is sent "
			    "(attempt %d of %d)", exec_undo_task_type(
			    op->safety), op->attempt + 1, op->max_attempts);
		break;
	default:
		out->does = "nothing";
		(void) snprintf(out->why, sizeof(out->why), "it is %s "
		    "(terminal)", op->state);
		break;
	}
}

int
recover_apply(struct db *db, const char *uid, enum recover_action action,
    const char *operator_name, int64_t now, struct recover_result *out,
    struct err *err)
{
	struct ops_row *op = NULL;
	struct sm_args a;
	struct err lerr;
	json_t *detail = NULL;
	char why[256], text[128], actor[96];
	const char *refusal;
	enum sm_state to;
	int rc;

	if ((unsigned)action >= RECOVER__COUNT)
		return err_set(err, ERR_INVALID, "unknown action %d",
		    (int)action);
	if ((detail = json_pack("{s:s,s:s}", "operator", operator_name,
	    "action", action_names[action])) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = db_begin(db, err)) != 0)
		goto out;
	/* Read and checked under the write lock: nothing moves meanwhile. */
	err_init(&lerr);
	if ((rc = ops_get_uid(db, uid, &op, &lerr)) != 0) {
		rc = rc == ERR_NOT_FOUND ? err_set(err, ERR_NOT_FOUND,
		    "no such operation") : err_copy(err, &lerr);
		goto fail;
	}
	if ((refusal = recover_refusal(op, action, why, sizeof(why))) !=
	    NULL) {
		rc = err_set(err, ERR_TRANSITION, "cannot %s %s: %s",
		    action_names[action], op->uid, refusal);
		goto fail;
	}
	(void) snprintf(text, sizeof(text), "%s by %s", action == RECOVER_CANCEL
	    ? "cancelled" : action == RECOVER_ABANDON ? "abandoned" :
	    action == RECOVER_ROLLBACK ? "rolled back" : "resumed",
	    operator_name);
	memset(&a, 0, sizeof(a));
	a.now = now;
	a.detail = detail;
	(void) snprintf(actor, sizeof(actor), "admin:%s", operator_name);
	a.actor = actor;
	a.code = action_names[action];
	if (action == RECOVER_ABANDON || action == RECOVER_ROLLBACK) {
		a.error_code = action == RECOVER_ABANDON ? "abandoned" :
		    "operator_rollback";
		a.error = text;
	}
	if ((rc = sm_step_in_txn(db, op->id, state_of(op),
	    action_events[action], &a, &to, err)) != 0)
		goto fail;
	if ((rc = db_commit(db, err)) != 0)
		goto out;
	memset(out, 0, sizeof(*out));
	(void) snprintf(out->uid, sizeof(out->uid), "%s", op->uid);
	out->from = state_of(op);
	out->to = to;
	out->event = action_events[action];
	rc = 0;
	goto out;
fail:
	db_rollback(db);
out:
	ops_row_free(op);
	json_decref(detail);
	return rc;
}
