/*
 * lane — drives the ops, one lane per vmid (R-25, R-26, R-34; DESIGN
 * invariants 1 and 2, "One thread, no blocking waits", "Recovery").
 *
 * Each lane (the non-terminal ops of one vmid, oldest first) has a head:
 * the op already in flight (submitting, running, rolling_back, or
 * authorized mid-sequence), else the oldest authorized op.  Only the
 * head moves.  Every PVE request goes through the executor seam, and
 * every mutating one is preceded by a committed intent.  A request whose
 * answer was lost leaves its op in submitting, to be looked up (task
 * list, config read-back) before anything is sent again: an unknown
 * outcome stays unknown until the lookup finds the request's effect or
 * the unknown-outcome window (longer than PVE's proxy timeout) closes
 * (lane_resolve.c).  Waits run on the monotonic clock (engine/timer).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/crash.h"
#include "base/log.h"
#include "base/loglimit.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/lane.h"
#include "engine/lane_int.h"
#include "engine/norm.h"
#include "engine/sm.h"
#include "store/journal.h"
#include "store/ops.h"
#include "store/provenance.h"

/* Wake up in ms at the latest (a wait that has not ended). */
void
lane_log_pve(const struct lane_ctx *e, const struct err *xe, const char *file,
    int line, const char *func, const char *fmt, ...)
{
	char msg[2048], key[LOGLIMIT_KEY_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (e->pve_log == NULL) {
		log_write(LOG_LEVEL_WARN, file, line, func, NULL, 0, "%s", msg);
		return;
	}
	(void) snprintf(key, sizeof(key), "pve:%d:%d:%ld", xe->code,
	    xe->reason, xe->status);
	(void) loglimit_write(e->pve_log, clock_mono_ms(e->clock), key,
	    LOG_LEVEL_WARN, file, line, func, "%s", msg);
}

void
lane_pve_ok(const struct lane_ctx *e)
{
	if (e->pve_log != NULL && e->pve_log->key[0] != '\0')
		(void) loglimit_end(e->pve_log);
}

void
lane_wake(struct tick *tk, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	if (tk->wake_ms == 0 || ms < tk->wake_ms)
		tk->wake_ms = ms;
}

/* The gen of an op's undo request (its own window, apart from steps). */
static int64_t
undo_gen(const struct ops_row *op)
{
	return timer_op_gen(op->step, op->attempt) | ((int64_t)1 << 62);
}

/* ms left of op's unknown-outcome window (armed at first sight). */
int
lane_window_left(const struct lane_ctx *e, const struct ops_row *op, int64_t gen,
    int64_t *left, struct err *err)
{
	if (timer_left(e->timers, TIMER_UNKNOWN, op->id, gen,
	    e->cfg->unknown_window_ms, e->cfg->unknown_window_ms,
	    clock_mono_ms(e->clock), left) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

enum sm_state
lane_op_state(const struct ops_row *op)
{
	int s = sm_state_parse(op->state);

	return s < 0 ? SM__COUNT : (enum sm_state)s;
}

/* The step a transition concerns, for its log line and journal row. */
static const char *
step_name(const struct ops_row *op, enum sm_event ev)
{
	const enum exec_step_kind *steps;
	size_t n;

	switch (ev) {
	case SM_EV_UNDO_STARTED:
	case SM_EV_UNDO_RETRY:
	case SM_EV_UNDO_OK:
	case SM_EV_UNDO_FAILED:
		return "undo";
	default:
		break;
	}
	switch (lane_op_state(op)) {
	case SM_AUTHORIZED:
	case SM_SUBMITTING:
	case SM_RUNNING:
		break;
	default:
		return NULL;
	}
	if (exec_op_steps(op, &steps, &n, NULL) != 0 || op->step < 0 ||
	    (size_t)op->step >= n)
		return NULL;
	return exec_step_info(steps[op->step])->name;
}

/*
 * One transition of op from its current state.  A lost compare-and-set
 * (felhom-admin moved it) and a refused transition are not engine
 * failures: they are logged by sm_ and the op is looked at again on the
 * next tick.  Database failures are returned.
 */
int
lane_transition(const struct lane_ctx *e, const struct ops_row *op, enum sm_event ev,
    const struct sm_args *args_in, struct err *err)
{
	struct sm_args a;
	struct err local;
	int rc;

	if (args_in != NULL)
		a = *args_in;
	else
		memset(&a, 0, sizeof(a));
	if (a.now == 0)
		a.now = clock_now(e->clock);
	if (a.hook == NULL)
		a.hook = e->cfg->transition_hook;
	if (a.step_name == NULL)
		a.step_name = step_name(op, ev);
	/*
	 * Issue 17: nothing changes while a call of the pass waits for its
	 * answer (the pass is replayed once it came).
	 */
	if (exec_pass_pending(e->exec)) {
		log_error("%s: %s attempted while a PVE request of the op is "
		    "in flight; not taken", op->uid, sm_event_name(ev));
		return err_set(err, ERR_PENDING, "%s: a PVE request is in "
		    "flight", op->uid);
	}
	err_init(&local);
	rc = sm_step(e->db, op->id, lane_op_state(op), ev, &a, NULL, &local);
	if (rc == ERR_CONFLICT || rc == ERR_TRANSITION || rc == ERR_NOT_FOUND) {
		log_info("%s: %s, looking again next tick", op->uid,
		    err_msg(&local));
		return ERR_CONFLICT;
	}
	if (rc != 0)
		return err_copy(err, &local);
	return 0;
}

int64_t
lane_backoff(const struct lane_ctx *e, int attempt)
{
	int64_t d = e->cfg->backoff_base_s;
	int i;

	for (i = 1; i < attempt && d < e->cfg->backoff_max_s; i++)
		d *= 2;
	return d < e->cfg->backoff_max_s ? d : e->cfg->backoff_max_s;
}

int
lane_op_steps(const struct ops_row *op, const enum exec_step_kind **steps,
    size_t *n, struct err *err)
{
	int rc;

	if ((rc = exec_op_steps(op, steps, n, err)) != 0)
		return rc;
	if (op->step < 0 || (size_t)op->step >= *n)
		return err_set(err, ERR_INTERNAL, "%s: step %d of %zu",
		    op->uid, op->step, *n);
	return 0;
}

/*
 * Whether the op's guest was running before the op stopped it: the stop
 * step's journal row says so ("was_running", step_succeeded()).  -1 when
 * the op has no such row.
 */
static int
was_running(const struct lane_ctx *e, const struct ops_row *op)
{
	json_t *rows = NULL, *row, *v;
	size_t i;
	int r = -1;

	if (journal_list(e->db, op->id, &rows, NULL) != 0)
		return -1;
	json_array_foreach(rows, i, row) {
		v = json_object_get(json_object_get(row, "detail"),
		    "was_running");
		if (json_is_boolean(v))
			r = json_is_true(v);
	}
	json_decref(rows);
	return r;
}

void
lane_target_init(struct exec_target *t, const struct ops_row *op,
    enum exec_step_kind what)
{
	memset(t, 0, sizeof(*t));
	t->op_id = op->id;
	t->uid = op->uid;
	t->vmid = op->vmid;
	t->kind = op->kind;
	t->step = op->step;
	t->what = what;
	t->params = op->params;
	t->safety = op->safety;
	t->was_running = -1;
}

/* A failed op, with the typed error of the executor. */
int
lane_fail(const struct lane_ctx *e, const struct ops_row *op, enum sm_event ev,
    const struct err *cause, const char *code, struct err *err)
{
	struct sm_args a;

	memset(&a, 0, sizeof(a));
	a.error_code = code != NULL ? code : exec_error_code(cause);
	a.error = err_msg(cause);
	return lane_transition(e, op, ev, &a, err);
}

/* After the op's step is done: the next one, or the end. */
int
lane_step_done(const struct lane_ctx *e, const struct ops_row *op, int sync,
    enum exec_step_kind what, size_t nsteps, const char *exitstatus,
    const char *kept, struct err *err)
{
	struct sm_args a;
	json_t *safety = NULL, *detail = NULL;
	char name[64];
	int last = (size_t)op->step + 1 >= nsteps, warn, rc;
	enum sm_event ev;

	memset(&a, 0, sizeof(a));
	warn = exitstatus != NULL && strncmp(exitstatus, "WARNINGS", 8) == 0;
	if ((detail = json_object()) == NULL ||
	    (exitstatus != NULL && json_object_set_new(detail, "exitstatus",
	    json_string(exitstatus)) != 0) ||
	    (kept != NULL && json_object_set_new(detail, "safety_kept",
	    json_string(kept)) != 0)) {
		json_decref(detail);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	/*
	 * R-31 (gate): the journal row of an overwrite says which safety
	 * copy stood behind it, or that none did (a signed no_safety).
	 */
	if ((what == EXEC_STEP_ROLLBACK || (what == EXEC_STEP_RESTORE &&
	    op->class == OPS_CLASS_DESTRUCTIVE)) &&
	    json_object_set_new(detail, "safety", op->safety != NULL ?
	    json_deep_copy(op->safety) : json_string("none")) != 0) {
		json_decref(detail);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	/*
	 * The stop before an overwrite: a task means the guest ran, and is
	 * started again at the end (start_again, the undo).
	 */
	if (what == EXEC_STEP_STOP && nsteps > 1 &&
	    json_object_set_new(detail, "was_running", json_boolean(!sync)) !=
	    0) {
		json_decref(detail);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	a.detail = detail;
	if (exec_step_info(what)->safety && e->exec->ops->safety_copy != NULL) {
		/* R-31 (gate): a snapshot, or a backup for a bind mount. */
		struct exec_target t;
		struct err xe;

		lane_target_init(&t, op, what);
		err_init(&xe);
		if ((rc = e->exec->ops->safety_copy(e->exec->ctx, &t,
		    op->upid, &safety, &xe)) != 0) {
			json_decref(detail);
			if (rc == ERR_NOMEM || rc == ERR_PENDING)
				return err_copy(err, &xe);
			log_warn("%s: cannot tell the safety copy made: %s; "
			    "looking again next tick", op->uid, err_msg(&xe));
			return 0;
		}
		a.safety = safety;
	} else if (exec_step_info(what)->safety) {
		exec_safety_name(op->uid, name, sizeof(name));
		if ((safety = json_pack("{s:s}", "snapshot", name)) == NULL) {
			json_decref(detail);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
		a.safety = safety;
	}
	if (sync)
		ev = last ? SM_EV_SYNC_DONE : SM_EV_SYNC_STEP_DONE;
	else if (last)
		ev = warn ? SM_EV_TASK_WARNINGS : SM_EV_TASK_OK;
	else
		ev = SM_EV_STEP_DONE;
	rc = lane_transition(e, op, ev, &a, err);
	json_decref(safety);
	json_decref(detail);
	return rc;
}

/* A definite PVE refusal of a step's request: back off, or give up. */
int
lane_refused(const struct lane_ctx *e, const struct ops_row *op, int attempt,
    const struct err *cause, enum sm_event retry_ev, struct err *err)
{
	struct sm_args a;
	const char *code = exec_error_code(cause);
	int64_t d;
	int rc;

	if (exec_error_outcome(cause) == EXEC_OUTCOME_FATAL)
		return lane_fail(e, op, SM_EV_FATAL_ERROR, cause, code, err);
	if (attempt >= op->max_attempts)
		return lane_fail(e, op, SM_EV_ATTEMPTS_EXHAUSTED, cause, code,
		    err);
	memset(&a, 0, sizeof(a));
	a.error_code = code;
	a.error = err_msg(cause);
	/* The wait runs on the monotonic clock; next_at is for people. */
	d = lane_backoff(e, attempt);
	a.next_at = clock_now(e->clock) + d;
	a.wait_ms = d * 1000;
	if ((rc = lane_transition(e, op, retry_ev, &a, err)) != 0)
		return rc;
	if (timer_arm(e->timers, TIMER_RETRY, op->id, timer_op_gen(op->step,
	    op->attempt), a.wait_ms, clock_mono_ms(e->clock)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * R-27/R-28 (gate): a restore replaces an existing guest (PVE force=1)
 * only when that was signed (the gate made it destructive because the
 * guest was there) or the guest is the agent's own (provenance).  A
 * benign restore into a free vmid runs without force, so a guest that
 * appeared meanwhile makes PVE refuse instead of being overwritten.
 */
static int
restore_overwrites(const struct lane_ctx *e, const struct ops_row *op)
{
	int found = 0;

	if (op->class == OPS_CLASS_DESTRUCTIVE)
		return 1;
	if (provenance_has(e->db, PROVENANCE_GUEST, op->vmid, NULL, &found,
	    NULL, NULL) != 0)
		return 0;
	return found;
}

/* Sends the current step of a submitting op (the intent is committed). */
static int
send_step(const struct lane_ctx *e, const struct ops_row *op, struct err *err)
{
	const enum exec_step_kind *steps;
	struct exec_target t;
	struct sm_args a;
	struct err xe;
	char *upid = NULL;
	size_t n;
	int rc;

	err_init(&xe);
	if ((rc = lane_op_steps(op, &steps, &n, &xe)) != 0)
		return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, NULL, err);
	lane_target_init(&t, op, steps[op->step]);
	if (op->kind == OPS_KIND_RESTORE)
		t.overwrite = restore_overwrites(e, op);
	t.digest = op->config_digest;
	if (steps[op->step] == EXEC_STEP_START_AGAIN)
		t.was_running = was_running(e, op);
	rc = e->exec->ops->submit(e->exec->ctx, &t, &upid, &xe);
	if (rc == ERR_PENDING) {
		/*
		 * Issue 17: sent (or queued), its answer not there yet: the
		 * op stays submitting and its lane comes back to this very
		 * call (advance), never to the lookup of a lost answer,
		 * until a pass of the op goes through.
		 */
		if (timer_arm(e->timers, TIMER_IN_FLIGHT, op->id,
		    timer_op_gen(op->step, op->attempt), 0,
		    clock_mono_ms(e->clock)) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		return err_copy(err, &xe);
	}
	if (rc == 0 && upid != NULL) {
		crash_point("exec.after_post");
		memset(&a, 0, sizeof(a));
		a.upid = upid;
		rc = lane_transition(e, op, SM_EV_TASK_STARTED, &a, err);
		timer_drop(e->timers, TIMER_UNKNOWN, op->id);
		free(upid);
		return rc;
	}
	if (rc == 0)
		return lane_step_done(e, op, 1, steps[op->step], n, NULL, NULL,
		    err);
	if (steps[op->step] == EXEC_STEP_DROP_SAFETY &&
	    exec_error_outcome(&xe) == EXEC_OUTCOME_FATAL)
		/* R-31 (gate): as a failed drop task, never an undo. */
		return lane_step_done(e, op, 1, steps[op->step], n, NULL,
		    err_msg(&xe), err);
	if (exec_error_outcome(&xe) == EXEC_OUTCOME_UNKNOWN) {
		/*
		 * It may have applied, or may still: stays submitting and is
		 * looked up until the unknown-outcome window closes.
		 */
		log_warn("%s: %s; the outcome is unknown, looking for its "
		    "effect before any retry", op->uid, err_msg(&xe));
		crash_point("exec.outcome_unknown");
		return 0;
	}
	return lane_refused(e, op, op->attempt, &xe, SM_EV_RETRYABLE_ERROR,
	    err);
}

/* Re-reads op after a transition (the row changed under us). */
static int
reload(const struct lane_ctx *e, struct ops_row **op, struct err *err)
{
	struct ops_row *fresh;
	int rc;

	if ((rc = ops_get(e->db, (*op)->id, &fresh, err)) != 0)
		return rc;
	ops_row_free(*op);
	*op = fresh;
	return 0;
}

/*
 * a config write carries the digest of the config it is computed
 * from, read just before its intent; a config already as asked needs no
 * write at all.  0 with *digest_out (heap, may stay NULL) and *applied.
 */
static int
config_before_write(const struct lane_ctx *e, const struct ops_row *op,
    char **digest_out, int *applied, struct err *err)
{
	json_t *config = NULL;
	const char *d;
	int rc;

	*digest_out = NULL;
	if ((rc = e->exec->ops->read_config(e->exec->ctx, op->vmid, &config,
	    err)) != 0)
		return rc;
	*applied = norm_config_applied(op->params, config);
	d = json_string_value(json_object_get(config, "digest"));
	if (d != NULL && (*digest_out = strdup(d)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	json_decref(config);
	return rc;
}

static int
advance_authorized(const struct lane_ctx *e, struct ops_row **opp,
    struct tick *tk, enum adv *adv, struct err *err)
{
	struct ops_row *op = *opp;
	const enum exec_step_kind *steps;
	struct sm_args a;
	struct err xe;
	char *digest = NULL;
	int64_t left = 0;
	size_t n;
	int rc, applied = 0;

	*adv = ADV_WAIT;
	/*
	 * The retry backoff, on the monotonic clock; its length is in the
	 * row (0: none, or an operator's resume dropped it).
	 */
	if (op->wait_ms <= 0)
		timer_drop(e->timers, TIMER_RETRY, op->id);
	else if (timer_left(e->timers, TIMER_RETRY, op->id,
	    timer_op_gen(op->step, op->attempt), op->wait_ms,
	    e->cfg->backoff_max_s * 1000, tk->mono, &left) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (left > 0) {
		lane_wake(tk, left);
		return 0;
	}
	*adv = ADV_MOVED;
	err_init(&xe);
	if ((rc = lane_op_steps(op, &steps, &n, &xe)) != 0)
		return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, NULL, err);
	if (op->attempt >= op->max_attempts) {
		/* R-26 / the brief: a human reads the audit row. */
		memset(&a, 0, sizeof(a));
		a.error_code = op->error_code != NULL ? op->error_code :
		    "attempts";
		a.error = op->error != NULL ? op->error :
		    "attempts used up";
		return lane_transition(e, op, SM_EV_ATTEMPTS_EXHAUSTED, &a, err);
	}
	memset(&a, 0, sizeof(a));
	if (steps[op->step] == EXEC_STEP_SET_CONFIG &&
	    (rc = config_before_write(e, op, &digest, &applied, &xe)) != 0) {
		if (rc == ERR_NOMEM || rc == ERR_PENDING)
			return err_copy(err, &xe);
		/* A guest that is not there (or a refusal) will not pass. */
		if (exec_error_outcome(&xe) == EXEC_OUTCOME_FATAL)
			return lane_fail(e, op, SM_EV_FATAL_ERROR, &xe, NULL,
			    err);
		*adv = ADV_STUCK;
		lane_warn_pve(e, &xe, "%s: cannot read the config before "
		    "writing it: %s; trying again later", op->uid,
		    err_msg(&xe));
		return 0;
	}
	a.digest = digest;
	/* DESIGN invariant 1: the intent is committed before the request. */
	rc = lane_transition(e, op, SM_EV_SUBMIT, &a, err);
	free(digest);
	if (rc != 0)
		return rc == ERR_CONFLICT ? 0 : rc;
	if ((rc = reload(e, opp, err)) != 0)
		return rc;
	op = *opp;
	timer_drop(e->timers, TIMER_RETRY, op->id);
	if (timer_arm(e->timers, TIMER_UNKNOWN, op->id, timer_op_gen(op->step,
	    op->attempt), e->cfg->unknown_window_ms,
	    clock_mono_ms(e->clock)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (applied) {
		/* judged by the world — nothing to write. */
		log_info("%s: the config is already as asked; nothing sent",
		    op->uid);
		timer_drop(e->timers, TIMER_UNKNOWN, op->id);
		return lane_step_done(e, op, 1, steps[op->step], n, NULL, NULL,
		    err);
	}
	return send_step(e, op, err);
}

/*
 * The undo task ended OK: what is left of it (exec_ops.undo_done: the
 * helper's mount points, a start), then rolled_back.
 */
static int
undo_finished(const struct lane_ctx *e, const struct ops_row *op,
    enum adv *adv, struct err *err)
{
	struct exec_target t;
	struct sm_args a;
	struct err xe;
	json_t *detail = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	if (e->exec->ops->undo_done != NULL) {
		lane_target_init(&t, op, EXEC_STEP_ROLLBACK);
		t.was_running = was_running(e, op);
		err_init(&xe);
		rc = e->exec->ops->undo_done(e->exec->ctx, &t, &detail, &xe);
		if (rc == ERR_NOMEM || rc == ERR_PENDING)
			return err_copy(err, &xe);
		if (rc != 0 && exec_error_outcome(&xe) != EXEC_OUTCOME_FATAL &&
		    xe.code != ERR_UNSUPPORTED) {
			lane_warn_pve(e, &xe, "%s: finishing the undo: %s; "
			    "trying again later", op->uid, err_msg(&xe));
			*adv = ADV_STUCK;
			return 0;
		}
		if (rc != 0) {
			a.error_code = exec_error_code(&xe);
			a.error = err_msg(&xe);
			return lane_transition(e, op, SM_EV_UNDO_FAILED, &a, err);
		}
	}
	a.detail = detail;
	rc = lane_transition(e, op, SM_EV_UNDO_OK, &a, err);
	json_decref(detail);
	return rc;
}

static int send_undo(const struct lane_ctx *e, const struct ops_row *op,
    enum adv *adv, struct err *err);

/* The undo of a failed step back to its safety copy. */
static int
advance_rolling_back(const struct lane_ctx *e, struct ops_row **opp,
    enum adv *adv, struct err *err)
{
	struct ops_row *op = *opp;
	enum exec_task_state ts;
	struct sm_args a;
	struct err xe;
	json_t *failed = NULL, *claimed_arr = NULL;
	char *upid = NULL, *exitstatus = NULL;
	const char *exclude = NULL, **claimed = NULL;
	int64_t left;
	int rc;

	err_init(&xe);
	memset(&a, 0, sizeof(a));
	*adv = ADV_WAIT;
	if (op->upid != NULL) {
		rc = e->exec->ops->poll(e->exec->ctx, op->upid, &ts,
		    &exitstatus, &xe);
		if (rc == ERR_PENDING)
			return err_copy(err, &xe);
		if (rc != 0 && rc != ERR_NOT_FOUND) {
			*adv = ADV_STUCK;
			return 0;
		}
		if (rc == 0 && ts == EXEC_TASK_RUNNING)
			return 0;
		*adv = ADV_MOVED;
		if (rc == 0 && (ts == EXEC_TASK_OK || ts == EXEC_TASK_WARNINGS))
			rc = undo_finished(e, op, adv, err);
		else {
			a.error_code = rc == ERR_NOT_FOUND ? "task_unknown" :
			    "undo_failed";
			a.error = rc == ERR_NOT_FOUND ? err_msg(&xe) :
			    exitstatus != NULL ? exitstatus : "undo failed";
			rc = lane_transition(e, op, SM_EV_UNDO_FAILED, &a, err);
		}
		free(exitstatus);
		return rc;
	}
	/* Issue 17: our undo request is in flight; its answer tells. */
	if (timer_armed(e->timers, TIMER_IN_FLIGHT, op->id, undo_gen(op))) {
		*adv = ADV_MOVED;
		return send_undo(e, op, adv, err);
	}
	/* No undo task known: ours may exist (a crash), else send it. */
	if (journal_last_detail(e->db, op->id, "task_failed_undo", &failed,
	    NULL) == 0)
		exclude = json_string_value(json_object_get(failed, "upid"));
	if ((rc = lane_claimed(e, op, op->intent_at, exclude, &claimed_arr,
	    &claimed, err)) != 0) {
		json_decref(failed);
		return rc;
	}
	rc = e->exec->ops->find_task(e->exec->ctx,
	    exec_undo_task_type(op->safety),
	    op->vmid, op->intent_at, claimed, &upid, &xe);
	free(claimed);
	json_decref(claimed_arr);
	json_decref(failed);
	if (rc == ERR_PENDING)
		return err_copy(err, &xe);
	if (rc == 0) {
		*adv = ADV_MOVED;
		a.upid = upid;
		rc = lane_transition(e, op, SM_EV_UNDO_STARTED, &a, err);
		timer_drop(e->timers, TIMER_UNKNOWN, op->id);
		free(upid);
		return rc;
	}
	if (rc != ERR_NOT_FOUND) {
		*adv = ADV_STUCK;
		return 0;
	}
	/* An undo request already sent may still take effect. */
	if (op->attempt > 0) {
		if ((rc = lane_window_left(e, op, undo_gen(op), &left, err)) != 0)
			return rc;
		if (left > 0) {
			*adv = ADV_STUCK;
			return 0;
		}
	}
	*adv = ADV_MOVED;
	if (op->attempt >= op->max_attempts) {
		a.error_code = "attempts";
		a.error = "the undo could not be sent";
		return lane_transition(e, op, SM_EV_UNDO_FAILED, &a, err);
	}
	if ((rc = lane_transition(e, op, SM_EV_UNDO_RETRY, NULL, err)) != 0)
		return rc == ERR_CONFLICT ? 0 : rc;
	if ((rc = reload(e, opp, err)) != 0)
		return rc;
	op = *opp;
	if (timer_arm(e->timers, TIMER_UNKNOWN, op->id, undo_gen(op),
	    e->cfg->unknown_window_ms, clock_mono_ms(e->clock)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return send_undo(e, op, adv, err);
}

/* Sends the undo of op (its intent, undo_retry, is committed). */
static int
send_undo(const struct lane_ctx *e, const struct ops_row *op, enum adv *adv,
    struct err *err)
{
	struct exec_target t;
	struct sm_args a;
	struct err xe;
	char *upid = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	lane_target_init(&t, op, EXEC_STEP_ROLLBACK);
	t.was_running = was_running(e, op);
	err_init(&xe);
	rc = e->exec->ops->undo(e->exec->ctx, &t, &upid, &xe);
	if (rc == ERR_PENDING) {
		/* Issue 17: the lane comes back to this call (advance). */
		if (timer_arm(e->timers, TIMER_IN_FLIGHT, op->id, undo_gen(op),
		    0, clock_mono_ms(e->clock)) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		return err_copy(err, &xe);
	}
	if (rc == 0 && upid != NULL) {
		crash_point("exec.after_post");
		a.upid = upid;
		rc = lane_transition(e, op, SM_EV_UNDO_STARTED, &a, err);
		timer_drop(e->timers, TIMER_UNKNOWN, op->id);
		free(upid);
		return rc;
	}
	if (rc == 0)
		return undo_finished(e, op, adv, err);
	if (exec_error_outcome(&xe) == EXEC_OUTCOME_FATAL) {
		a.error_code = exec_error_code(&xe);
		a.error = err_msg(&xe);
		return lane_transition(e, op, SM_EV_UNDO_FAILED, &a, err);
	}
	if (exec_error_outcome(&xe) != EXEC_OUTCOME_UNKNOWN &&
	    timer_arm(e->timers, TIMER_UNKNOWN, op->id, undo_gen(op), 0,
	    clock_mono_ms(e->clock)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	lane_warn_pve(e, &xe, "%s: undo: %s; trying again later", op->uid,
	    err_msg(&xe));
	return 0;
}

/*
 * Ends op's pass (issue 17).  What it left in flight is kept for its
 * replay: the TIMER_PASS mark says so, and an op that ends elsewhere has
 * it dropped (keep_timer).  Returns rc (ERR_NOMEM if the mark fails).
 */
static int
pass_end(const struct lane_ctx *e, int64_t id, int rc, struct err *err)
{
	if (!exec_pass_end(e->exec)) {
		timer_drop(e->timers, TIMER_PASS, id);
		return rc;
	}
	if (timer_arm(e->timers, TIMER_PASS, id, 0, 0,
	    clock_mono_ms(e->clock)) != 0 && rc == 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return rc;
}

/* Advances the head of a lane by one transition (or one poll). */
static int
advance(const struct lane_ctx *e, struct ops_row **opp, struct tick *tk,
    struct err *err)
{
	enum adv adv = ADV_WAIT;
	char scope[40];
	int rc;

	/*
	 * Issue 17: the op's calls never wait.  One whose answer is not
	 * there yet ends the pass with ERR_PENDING and nothing changed; the
	 * loop comes back when an answer completes, and the pass, replayed
	 * from its start, takes the answers that came (each request sent
	 * once) until it goes through.
	 */
	(void) snprintf(scope, sizeof(scope), "op:%" PRId64, (*opp)->id);
	/* No answer came since its last pass: nothing to replay yet. */
	if (timer_armed(e->timers, TIMER_PASS, (*opp)->id, 0) &&
	    exec_pass_waiting(e->exec, scope)) {
		if (sm_state_info(lane_op_state(*opp)) != NULL &&
		    sm_state_info(lane_op_state(*opp))->in_flight)
			tk->in_flight++;
		tk->pending++;
		return 0;
	}
	if ((rc = exec_pass_begin(e->exec, scope, 0, err)) != 0)
		return rc;
	switch (lane_op_state(*opp)) {
	case SM_AUTHORIZED:
		rc = advance_authorized(e, opp, tk, &adv, err);
		break;
	case SM_SUBMITTING:
		tk->in_flight++;
		/* Issue 17: our request's answer is on its way: take it. */
		if (timer_armed(e->timers, TIMER_IN_FLIGHT, (*opp)->id,
		    timer_op_gen((*opp)->step, (*opp)->attempt))) {
			adv = ADV_MOVED;
			rc = send_step(e, *opp, err);
			break;
		}
		rc = lane_resolve_submitting(e, *opp, NULL, tk, &adv, err);
		break;
	case SM_RUNNING:
		tk->in_flight++;
		rc = lane_poll_running(e, *opp, NULL, &adv, err);
		break;
	case SM_ROLLING_BACK:
		tk->in_flight++;
		rc = advance_rolling_back(e, opp, &adv, err);
		break;
	default:
		rc = 0;
		break;
	}
	rc = pass_end(e, (*opp)->id, rc, err);
	if (rc == ERR_PENDING) {
		/* Nothing changed: the answer's completion wakes the loop. */
		err_init(err);
		tk->pending++;
		return 0;
	}
	/*
	 * The pass went through: a request it had in flight was answered
	 * and what followed from the answer is done.
	 */
	timer_drop(e->timers, TIMER_IN_FLIGHT, (*opp)->id);
	if (rc == ERR_CONFLICT)
		rc = 0;
	if (adv == ADV_MOVED)
		tk->moved++;
	else if (adv == ADV_STUCK || lane_op_state(*opp) == SM_RUNNING ||
	    lane_op_state(*opp) == SM_ROLLING_BACK)
		tk->poll = 1;
	return rc;
}

/* A failure that says the database is unwell: the loop must hear it. */
static int
db_failure(int rc)
{
	return rc == ERR_BUSY || rc == ERR_FULL || rc == ERR_READONLY ||
	    rc == ERR_CORRUPT || rc == ERR_IO || rc == ERR_NOMEM;
}

/*
 * New ops go through the gate when one is wired, else by
 * their own class.
 */
static int
classify(const struct lane_ctx *e, const struct ops_row *op, struct tick *tk,
    struct err *err)
{
	struct sm_args a;
	struct err local;
	char scope[40];
	int rc;

	if (e->cfg->decide != NULL) {
		err_init(&local);
		/* Issue 17: its PVE read (a restore's) never waits. */
		(void) snprintf(scope, sizeof(scope), "op:%" PRId64, op->id);
		if ((rc = exec_pass_begin(e->exec, scope, 0, err)) != 0)
			return rc;
		rc = e->cfg->decide(e->cfg->decide_ctx, op, &local);
		if ((rc = pass_end(e, op->id, rc, err)) == ERR_PENDING) {
			tk->pending++;
			return 0;
		}
		if (rc == 0) {
			tk->moved++;
			return 0;
		}
		if (db_failure(rc))
			return err_copy(err, &local);
		if (rc != ERR_CONFLICT)
			log_warn("%s: the gate could not decide: %s; trying "
			    "again next tick", op->uid, err_msg(&local));
		return 0;
	}
	memset(&a, 0, sizeof(a));
	if (op->class == OPS_CLASS_BENIGN)
		rc = lane_transition(e, op, SM_EV_CLASSIFIED_BENIGN, &a, err);
	else {
		/* Never executed without a signature: R-28. */
		a.not_after = tk->now + e->cfg->sign_window_s;
		rc = lane_transition(e, op, SM_EV_CLASSIFIED_DESTRUCTIVE, &a, err);
	}
	if (rc == 0)
		tk->moved++;
	return rc == ERR_CONFLICT ? 0 : rc;
}

static int
expire(const struct lane_ctx *e, const struct ops_row *op, struct tick *tk,
    struct err *err)
{
	struct sm_args a;
	int rc;

	if (op->blob_not_after <= 0)
		return 0;
	if (op->blob_not_after >= tk->now) {
		/* A signature window is wall-clock time (signed-ops.md). */
		lane_wake(tk, (op->blob_not_after + 1 - tk->now) * 1000);
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.error_code = "expired";
	a.error = "the sign window lapsed without a signature";
	rc = lane_transition(e, op, SM_EV_SIGN_WINDOW_LAPSED, &a, err);
	if (rc == 0)
		tk->moved++;
	return rc == ERR_CONFLICT ? 0 : rc;
}

/* Authorized host-scoped ops, handed to their runner (the gate). */
static int
run_host_ops(const struct lane_ctx *e, struct ops_row **ops, size_t first,
    size_t last, struct tick *tk, struct err *err)
{
	struct err local;
	size_t i;
	int rc;

	if (e->cfg->run_host == NULL)
		return 0;
	for (i = first; i < last; i++) {
		if (lane_op_state(ops[i]) != SM_AUTHORIZED)
			continue;
		err_init(&local);
		rc = e->cfg->run_host(e->cfg->run_host_ctx, ops[i], &local);
		if (rc == 0) {
			tk->moved++;
			continue;
		}
		if (db_failure(rc))
			return err_copy(err, &local);
		if (rc != ERR_CONFLICT)
			log_warn("%s: %s", ops[i]->uid, err_msg(&local));
	}
	return 0;
}

/* The lane head among ops[first, last) (all of one vmid), or -1. */
static long
lane_head(struct ops_row **ops, size_t first, size_t last)
{
	long oldest_auth = -1;
	size_t i;
	enum sm_state s;

	for (i = first; i < last; i++) {
		s = lane_op_state(ops[i]);
		if (sm_state_info(s) == NULL || !sm_state_info(s)->lane)
			continue;
		/* In flight, or mid-sequence: it keeps the lane. */
		if (sm_state_info(s)->in_flight || ops[i]->step > 0)
			return (long)i;
		if (oldest_auth < 0)
			oldest_auth = (long)i;
	}
	return oldest_auth;
}

struct active {
	const struct lane_ctx	 *e;
	struct ops_row		**ops;
	size_t			  n;
};

/*
 * An op's timers live while it is not terminal; so do the answers its
 * passes keep (issue 17), dropped with its TIMER_PASS mark.
 */
static int
keep_timer(void *ctx, enum timer_kind kind, int64_t id)
{
	const struct active *act = ctx;
	char scope[40];
	size_t i;

	if (kind != TIMER_RETRY && kind != TIMER_UNKNOWN &&
	    kind != TIMER_IN_FLIGHT && kind != TIMER_PASS)
		return 1;
	for (i = 0; i < act->n; i++)
		if (act->ops[i]->id == id)
			return 1;
	if (kind == TIMER_PASS) {
		(void) snprintf(scope, sizeof(scope), "op:%" PRId64, id);
		exec_pass_forget(act->e->exec, scope);
	}
	return 0;
}

/*
 * The step's group made durable (its transitions, in one commit).  A
 * failed commit loses them all: the step reports it, and the requests
 * they queued are dropped unsent at the barrier (db_group_flush).
 */
static int
group_end(const struct lane_ctx *e, int rc, struct err *err)
{
	struct err ge;

	if (!e->cfg->group_commit)
		return rc;
	err_init(&ge);
	if (db_group_end(e->db, &ge) != 0 && rc == 0) {
		log_error("the engine step's commit failed: %s; its "
		    "transitions are undone and nothing they asked was sent",
		    err_msg(&ge));
		return err_copy(err, &ge);
	}
	return rc;
}

int
lane_step(const struct lane_ctx *e, struct engine_next *out, struct err *err)
{
	struct active act;
	struct ops_row **ops = NULL;
	struct tick tk;
	size_t n = 0, i, j;
	long h;
	int rc;

	memset(&tk, 0, sizeof(tk));
	memset(out, 0, sizeof(*out));
	tk.now = clock_now(e->clock);
	tk.mono = clock_mono_ms(e->clock);
	/*
	 * Issue 15: the step's transitions commit together at its end (one
	 * fsync for every lane that moved).  Nothing leaves before: the
	 * passes only queue their requests, and the multi's barrier (the
	 * agent's) flushes the group before a byte is sent.
	 */
	if (e->cfg->group_commit && (rc = db_group_begin(e->db, err)) != 0)
		return rc;
	if ((rc = ops_list_active(e->db, &ops, &n, err)) != 0)
		goto out;
	act.e = e;
	act.ops = ops;
	act.n = n;
	timer_sweep(e->timers, keep_timer, &act);
	for (i = 0; i < n; i++) {
		if (e->cfg->only_vmid != 0 && ops[i]->vmid != e->cfg->only_vmid)
			continue;
		if (lane_op_state(ops[i]) == SM_NEW)
			rc = classify(e, ops[i], &tk, err);
		else if (lane_op_state(ops[i]) == SM_PENDING_SIGNATURE)
			rc = expire(e, ops[i], &tk, err);
		if (rc != 0)
			goto out;
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && ops[j]->vmid == ops[i]->vmid; j++)
			;
		if (e->cfg->only_vmid != 0 && ops[i]->vmid != e->cfg->only_vmid)
			continue;
		/* Host-scoped ops (rotate_signers) run in-process. */
		if (ops[i]->vmid == 0) {
			if ((rc = run_host_ops(e, ops, i, j, &tk, err)) != 0)
				goto out;
			continue;
		}
		if ((h = lane_head(ops, i, j)) < 0)
			continue;
		if ((rc = advance(e, &ops[h], &tk, err)) != 0)
			goto out;
	}
	out->transitions = tk.moved;
	out->in_flight = tk.in_flight;
	out->pending = tk.pending;
	out->more = tk.moved > 0;
	out->delay_ms = out->more ? 0 : -1;
	if (!out->more && tk.poll)
		out->delay_ms = e->cfg->poll_interval_ms;
	if (!out->more && tk.wake_ms > 0 && (out->delay_ms < 0 ||
	    tk.wake_ms < out->delay_ms))
		out->delay_ms = tk.wake_ms;
	rc = 0;
out:
	ops_rows_free(ops, n);
	return group_end(e, rc, err);
}
