/*
 * lane_resolve — what a request did: a running task
 * polled, a request whose answer was lost looked up (task list, config
 * read-back, the world) until the unknown-outcome window closes, and
 * recovery of every op in flight at start.  Never sends a mutation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/lane.h"
#include "engine/lane_int.h"
#include "engine/norm.h"
#include "engine/sm.h"
#include "engine/timer.h"
#include "store/journal.h"
#include "store/ops.h"

/*
 * judged by the world where the op allows it — a snapshot step
 * whose task cannot be found succeeded when the snapshot is there under
 * its name.  1 yes, 0 no or cannot tell, ERR_PENDING: the read is in
 * flight (issue 17).
 */
static int
world_says_done(const struct lane_ctx *e, const struct ops_row *op,
    enum exec_step_kind what)
{
	const char *name = NULL;
	char safety[64];
	struct err xe;
	int exists = 0;

	if (e->exec->ops->snapshot_exists == NULL)
		return 0;
	if (what == EXEC_STEP_SNAPSHOT)
		name = json_string_value(json_object_get(op->params, "name"));
	else if (what == EXEC_STEP_SAFETY_SNAPSHOT) {
		exec_safety_name(op->uid, safety, sizeof(safety));
		name = safety;
	}
	if (name == NULL)
		return 0;
	err_init(&xe);
	if (e->exec->ops->snapshot_exists(e->exec->ctx, op->vmid, name,
	    &exists, &xe) != 0) {
		if (xe.code == ERR_PENDING)
			return ERR_PENDING;
		log_warn("%s: cannot tell whether snapshot %s exists: %s",
		    op->uid, name, err_msg(&xe));
		return 0;
	}
	return exists;
}

/* lane_int.h */
int
lane_claimed(const struct lane_ctx *e, const struct ops_row *op,
    int64_t since, const char *also, json_t **arr, const char ***list,
    struct err *err)
{
	const char **l;
	size_t i, n;
	int rc;

	*list = NULL;
	*arr = NULL;
	/* A row is written after its task started: a minute covers skew. */
	if ((rc = journal_claimed_upids(e->db, op->vmid, since - 60, arr,
	    err)) != 0)
		return rc;
	n = json_array_size(*arr);
	if ((l = calloc(n + 2, sizeof(*l))) == NULL) {
		json_decref(*arr);
		*arr = NULL;
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		l[i] = json_string_value(json_array_get(*arr, i));
	l[n] = also;
	*list = l;
	return 0;
}

/*
 * An op in submitting whose request's fate is unknown (a crash, a lost
 * answer): look before retrying.  Never sends a mutation.
 * An unknown outcome stays unknown: "not sent" is concluded only when
 * the unknown-outcome window has closed without the request's effect
 * showing (its task, the config it wrote), or when the config changed
 * under a write that carries the old digest (it can never apply now).
 */
int
lane_resolve_submitting(const struct lane_ctx *e, const struct ops_row *op,
    struct engine_recovery *rec, struct tick *tk, enum adv *adv,
    struct err *err)
{
	const enum exec_step_kind *steps;
	const struct exec_step_info *si;
	const char *digest;
	json_t *config = NULL;
	struct sm_args a;
	struct err xe;
	const char **claimed = NULL;
	json_t *claimed_arr = NULL;
	char *upid = NULL;
	int64_t left, since;
	size_t n;
	int rc, changed = 0;

	*adv = ADV_STUCK;
	err_init(&xe);
	if ((rc = lane_op_steps(op, &steps, &n, &xe)) != 0) {
		*adv = ADV_MOVED;
		if (rec != NULL)
			rec->failed++;
		return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, NULL, err);
	}
	si = exec_step_info(steps[op->step]);
	memset(&a, 0, sizeof(a));
	if ((rc = lane_window_left(e, op, timer_op_gen(op->step, op->attempt),
	    &left, err)) != 0)
		return rc;
	if (steps[op->step] == EXEC_STEP_SET_CONFIG) {
		/* Synchronous: the config itself says whether it applied. */
		rc = e->exec->ops->read_config(e->exec->ctx, op->vmid, &config,
		    &xe);
		if (rc == ERR_PENDING)
			return err_copy(err, &xe);
		if (rc != 0) {
			log_warn("%s: cannot read the config of %" PRId64
			    " back: %s; trying again later", op->uid, op->vmid,
			    err_msg(&xe));
			if (rec != NULL)
				rec->unresolved++;
			return 0;
		}
		if (norm_config_applied(op->params, config)) {
			json_decref(config);
			*adv = ADV_MOVED;
			if (rec != NULL)
				rec->confirmed++;
			return lane_step_done(e, op, 1, steps[op->step], n,
			    NULL, NULL, err);
		}
		/*
		 * The write carries the digest it was computed from: once
		 * the config moved on, PVE refuses it ("modified").
		 */
		digest = json_string_value(json_object_get(config, "digest"));
		changed = op->config_digest != NULL && digest != NULL &&
		    strcmp(op->config_digest, digest) != 0;
		json_decref(config);
	} else if (si->task_type == NULL) {
		/* The helper's step: synchronous, idempotent, sent again. */
		left = 0;
	} else {
		since = op->intent_at - e->cfg->find_slack_s;
		/* Never a task some op holds (the slack reaches back). */
		if ((rc = lane_claimed(e, op, since, NULL, &claimed_arr,
		    &claimed, err)) != 0)
			return rc;
		rc = e->exec->ops->find_task(e->exec->ctx, si->task_type,
		    op->vmid, since, claimed, &upid, &xe);
		/* §5.8: an HA resource's start/stop is a hastart/hastop. */
		if (rc == ERR_NOT_FOUND && si->ha_task_type != NULL)
			rc = e->exec->ops->find_task(e->exec->ctx,
			    si->ha_task_type, op->vmid, since, claimed, &upid,
			    &xe);
		/* R-31 (gate): a safety step may have been a vzdump. */
		if (rc == ERR_NOT_FOUND &&
		    steps[op->step] == EXEC_STEP_SAFETY_SNAPSHOT)
			rc = e->exec->ops->find_task(e->exec->ctx,
			    EXEC_SAFETY_BACKUP_TASK_TYPE, op->vmid, since,
			    claimed, &upid, &xe);
		free(claimed);
		json_decref(claimed_arr);
		if (rc == ERR_PENDING)
			return err_copy(err, &xe);
		if (rc == 0) {
			a.upid = upid;
			*adv = ADV_MOVED;
			if (rec != NULL)
				rec->adopted++;
			rc = lane_transition(e, op, SM_EV_ADOPT_TASK, &a, err);
			timer_drop(e->timers, TIMER_UNKNOWN, op->id);
			free(upid);
			return rc;
		}
		if (rc != ERR_NOT_FOUND) {
			lane_warn_pve(e, &xe, "%s: cannot search the task "
			    "list: %s; trying again later", op->uid,
			    err_msg(&xe));
			if (rec != NULL)
				rec->unresolved++;
			return 0;
		}
	}
	if (left > 0 && !changed) {
		/* it may still arrive; never taken for "not sent". */
		log_debug("%s: no trace of the %s request yet; looking again "
		    "for %" PRId64 " ms", op->uid, si->name, left);
		if (tk != NULL)
			lane_wake(tk, left < e->cfg->poll_interval_ms ? left :
			    e->cfg->poll_interval_ms);
		if (rec != NULL)
			rec->waiting++;
		return 0;
	}
	if ((rc = world_says_done(e, op, steps[op->step])) == ERR_PENDING)
		return err_set(err, ERR_PENDING, "%s: a PVE read is in "
		    "flight", op->uid);
	*adv = ADV_MOVED;
	timer_drop(e->timers, TIMER_UNKNOWN, op->id);
	if (rc == 1) {
		if (rec != NULL)
			rec->confirmed++;
		log_info("%s: no task found, but the snapshot is there: the %s "
		    "step took effect", op->uid, si->name);
		return lane_step_done(e, op, 1, steps[op->step], n, NULL, NULL,
		    err);
	}
	/* The request never took effect, and now never will. */
	if (op->attempt >= op->max_attempts) {
		if (rec != NULL)
			rec->failed++;
		a.error_code = "attempts";
		a.error = "the step was not applied and its attempts are "
		    "used up";
		return lane_transition(e, op, SM_EV_ATTEMPTS_EXHAUSTED, &a, err);
	}
	if (rec != NULL)
		rec->retried++;
	a.error_code = "not_submitted";
	a.error = changed ? "the config changed under the write, which "
	    "carries the old digest and can no longer apply; the step is "
	    "retried" : "the request did not reach PVE; the step is retried";
	a.next_at = clock_now(e->clock);
	return lane_transition(e, op, SM_EV_NOT_SUBMITTED, &a, err);
}

/*
 * a snapshot task that failed because the name is taken, when an
 * earlier attempt of this same op may have taken it (a safety snapshot's
 * name is the op's own; a named one after a first attempt), and the
 * snapshot is there: the earlier attempt succeeded.
 */
static int
earlier_attempt_made_it(const struct lane_ctx *e, const struct ops_row *op,
    enum exec_step_kind what, const char *exitstatus)
{
	if (exitstatus == NULL || strstr(exitstatus, "already used") == NULL)
		return 0;
	if (what != EXEC_STEP_SAFETY_SNAPSHOT &&
	    !(what == EXEC_STEP_SNAPSHOT && op->attempt > 1))
		return 0;
	return world_says_done(e, op, what);
}

/* One status poll of a running step (R-05, R-25: never a wait). */
int
lane_poll_running(const struct lane_ctx *e, const struct ops_row *op,
    struct engine_recovery *rec, enum adv *adv, struct err *err)
{
	const enum exec_step_kind *steps;
	enum exec_task_state ts;
	struct err xe;
	char *exitstatus = NULL;
	size_t n;
	int rc;

	*adv = ADV_WAIT;
	err_init(&xe);
	if ((rc = lane_op_steps(op, &steps, &n, &xe)) != 0) {
		*adv = ADV_MOVED;
		return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, NULL, err);
	}
	rc = e->exec->ops->poll(e->exec->ctx, op->upid, &ts, &exitstatus, &xe);
	if (rc == ERR_PENDING)
		return err_copy(err, &xe);
	if (rc == ERR_NOT_FOUND) {
		*adv = ADV_MOVED;
		if (rec != NULL)
			rec->failed++;
		return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, "task_unknown",
		    err);
	}
	if (rc != 0) {
		lane_warn_pve(e, &xe, "%s: cannot poll %s: %s; polling again "
		    "later", op->uid, op->upid, err_msg(&xe));
		*adv = ADV_STUCK;
		if (rec != NULL)
			rec->unresolved++;
		return 0;
	}
	lane_pve_ok(e);
	if (ts == EXEC_TASK_RUNNING) {
		if (rec != NULL)
			rec->resumed++;
		free(exitstatus);
		return 0;
	}
	*adv = ADV_MOVED;
	if (rec != NULL)
		rec->finished++;
	if (ts == EXEC_TASK_OK || ts == EXEC_TASK_WARNINGS)
		rc = lane_step_done(e, op, 0, steps[op->step], n,
		    exitstatus != NULL ? exitstatus : "OK", NULL, err);
	else {
		err_init(&xe);
		(void) err_setr(&xe, ERR_TASK, 0, 0, "task %s failed: %s",
		    op->upid, exitstatus != NULL ? exitstatus : "(no status)");
		if (exec_exit_retryable(exitstatus)) {
			/* A lock, not a verdict: a later attempt may pass. */
			xe.code = ERR_LOCKED;
			rc = lane_refused(e, op, op->attempt, &xe,
			    SM_EV_RETRYABLE_ERROR, err);
		} else if ((rc = earlier_attempt_made_it(e, op,
		    steps[op->step], exitstatus)) == ERR_PENDING) {
			rc = err_set(err, ERR_PENDING, "%s: a PVE read is in "
			    "flight", op->uid);
		} else if (rc == 1) {
			log_info("%s: %s; an earlier attempt of this op made "
			    "it: the step took effect", op->uid, err_msg(&xe));
			rc = lane_step_done(e, op, 0, steps[op->step], n,
			    "OK", NULL, err);
		} else if (steps[op->step] == EXEC_STEP_DROP_SAFETY) {
			/*
			 * R-31 (gate): the overwrite before it succeeded, so
			 * no undo.  A copy already gone (the restore replaced
			 * its volumes) is dropped; otherwise it is kept, and
			 * stays the agent's (deleting it later is benign).
			 */
			rc = lane_step_done(e, op, 0, steps[op->step], n,
			    exitstatus, exitstatus != NULL && strstr(exitstatus,
			    "does not exist") != NULL ? NULL : err_msg(&xe),
			    err);
		} else if (op->safety != NULL &&
		    exec_step_info(steps[op->step])->overwrites) {
			struct sm_args a;

			memset(&a, 0, sizeof(a));
			a.error_code = "task_failed";
			a.error = err_msg(&xe);
			a.upid = op->upid;
			rc = lane_transition(e, op, SM_EV_TASK_FAILED_UNDO, &a, err);
		} else
			/*
			 * Nothing overwritten (a stop before a restore, a
			 * start after it): the guest is left as it is.
			 */
			rc = lane_fail(e, op, SM_EV_TASK_FAILED, &xe,
			    exec_exit_error_code(exitstatus), err);
	}
	free(exitstatus);
	return rc;
}

int
lane_recover(const struct lane_ctx *e, struct engine_recovery *out,
    struct err *err)
{
	struct engine_recovery rec;
	struct ops_row **ops = NULL;
	struct err ce;
	enum adv adv;
	size_t n = 0, i;
	int rc;

	memset(&rec, 0, sizeof(rec));
	if ((rc = ops_list_active(e->db, &ops, &n, err)) != 0)
		return rc;
	rec.examined = n;
	for (i = 0; i < n; i++) {
		err_init(&ce);
		if (sm_check_op(ops[i], &ce) != 0)
			log_warn("recovery: %s, continuing", err_msg(&ce));
		switch (lane_op_state(ops[i])) {
		case SM_RUNNING:
			rc = lane_poll_running(e, ops[i], &rec, &adv, err);
			break;
		case SM_SUBMITTING:
			rc = lane_resolve_submitting(e, ops[i], &rec, NULL, &adv,
			    err);
			break;
		default:
			/* rolling_back: engine_step looks its undo up first. */
			rc = 0;
			break;
		}
		if (rc == ERR_CONFLICT)
			rc = 0;
		if (rc != 0)
			goto out;
	}
	log_info("recovery: %zu op(s) not terminal: %zu resumed, %zu "
	    "finished, %zu adopted, %zu retried, %zu confirmed, %zu failed, "
	    "%zu unresolved, %zu with an unknown outcome still looked for",
	    rec.examined, rec.resumed, rec.finished, rec.adopted, rec.retried,
	    rec.confirmed, rec.failed, rec.unresolved, rec.waiting);
	if (out != NULL)
		*out = rec;
	rc = 0;
out:
	ops_rows_free(ops, n);
	return rc;
}
