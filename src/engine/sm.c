/*
 * sm — the operation state machine: one static transition table and the
 * one function that changes ops.state (R-33; DESIGN invariants 0 and 4).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/crash.h"
#include "base/log.h"
#include "engine/sm.h"
#include "store/audit.h"
#include "store/journal.h"
#include "store/ops.h"

typedef int (*sm_action_fn)(struct db *db, int64_t op_id,
    const struct sm_args *args, struct err *err);

struct sm_row {
	enum sm_state	 from;
	enum sm_event	 event;
	enum sm_state	 to;
	sm_action_fn	 action;
};

/* Audit facts of an event: decisions are audited. */
struct sm_event_info {
	const char	*name;
	const char	*audit;		/* audit event; NULL: no decision */
	const char	*decision;	/* NULL: the target state's name */
};

static const struct sm_state_info state_info[] = {
	/*			  name			term	lane	flight */
	[SM_NEW] =		{ "new",		0,	0,	0 },
	[SM_PENDING_SIGNATURE] = { "pending_signature",	0,	0,	0 },
	[SM_AUTHORIZED] =	{ "authorized",		0,	1,	0 },
	[SM_SUBMITTING] =	{ "submitting",		0,	1,	1 },
	[SM_RUNNING] =		{ "running",		0,	1,	1 },
	[SM_SUCCEEDED] =	{ "succeeded",		1,	0,	0 },
	[SM_FAILED] =		{ "failed",		1,	0,	0 },
	[SM_REJECTED] =		{ "rejected",		1,	0,	0 },
	[SM_EXPIRED] =		{ "expired",		1,	0,	0 },
	[SM_SUPERSEDED] =	{ "superseded",		1,	0,	0 },
	[SM_CANCELLED] =	{ "cancelled",		1,	0,	0 },
	[SM_ROLLING_BACK] =	{ "rolling_back",	0,	1,	1 },
	[SM_ROLLED_BACK] =	{ "rolled_back",	1,	0,	0 },
};
_Static_assert(sizeof(state_info) / sizeof(state_info[0]) == SM__COUNT,
    "sm state facts");

static const struct sm_event_info event_info[] = {
	/*				  name			audit	decision */
	[SM_EV_CLASSIFIED_BENIGN] =	{ "classified_benign",	"gate",	NULL },
	[SM_EV_CLASSIFIED_DESTRUCTIVE] = { "classified_destructive", "gate",
					    NULL },
	[SM_EV_REFUSED] =		{ "refused",		"gate",	NULL },
	[SM_EV_SIGNATURE_ACCEPTED] =	{ "signature_accepted",	"gate",	NULL },
	[SM_EV_SIGNATURE_REJECTED] =	{ "signature_rejected",	"gate",
					    "rejected" },
	[SM_EV_OPERATOR_CONFIRMED] =	{ "operator_confirmed",	"gate",	NULL },
	[SM_EV_SIGN_WINDOW_LAPSED] =	{ "sign_window_lapsed",	"gate",	NULL },
	[SM_EV_SUPERSEDED] =		{ "superseded",	"transition",	NULL },
	[SM_EV_CANCEL] =		{ "cancel",	"transition",	NULL },
	[SM_EV_SUBMIT] =		{ "submit",		NULL,	NULL },
	[SM_EV_TASK_STARTED] =		{ "task_started",	NULL,	NULL },
	[SM_EV_SYNC_DONE] =		{ "sync_done",		NULL,	NULL },
	[SM_EV_SYNC_STEP_DONE] =	{ "sync_step_done",	NULL,	NULL },
	[SM_EV_RETRYABLE_ERROR] =	{ "retryable_error",	NULL,	NULL },
	[SM_EV_FATAL_ERROR] =		{ "fatal_error",	NULL,	NULL },
	[SM_EV_ATTEMPTS_EXHAUSTED] =	{ "attempts_exhausted", "transition",
					    NULL },
	[SM_EV_NOT_SUBMITTED] =		{ "not_submitted",	NULL,	NULL },
	[SM_EV_ADOPT_TASK] =		{ "adopt_task",		NULL,	NULL },
	[SM_EV_TASK_OK] =		{ "task_ok",		NULL,	NULL },
	[SM_EV_TASK_WARNINGS] =		{ "task_warnings",	NULL,	NULL },
	[SM_EV_STEP_DONE] =		{ "step_done",		NULL,	NULL },
	[SM_EV_TASK_FAILED] =		{ "task_failed",	NULL,	NULL },
	[SM_EV_TASK_FAILED_UNDO] =	{ "task_failed_undo",	NULL,	NULL },
	[SM_EV_UNDO_STARTED] =		{ "undo_started",	NULL,	NULL },
	[SM_EV_UNDO_RETRY] =		{ "undo_retry",		NULL,	NULL },
	[SM_EV_UNDO_OK] =		{ "undo_ok",		NULL,	NULL },
	[SM_EV_UNDO_FAILED] =		{ "undo_failed", "transition",	NULL },
	[SM_EV_ABANDON] =		{ "abandon",	"transition",	NULL },
	[SM_EV_REVIEW_HOLD] =		{ "review_hold",	"gate",	NULL },
	[SM_EV_RESUME] =		{ "resume",	"transition",	NULL },
	[SM_EV_ROLLBACK] =		{ "rollback",	"transition",	NULL },
};
_Static_assert(sizeof(event_info) / sizeof(event_info[0]) == SM_EV__COUNT,
    "sm event facts");

/* Actions: the database part of a row, beyond the state itself. */

/* The sign request of a pending op, when the gate gives one. */
static int
act_sign_request(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	if (a->blob == NULL && a->not_after <= 0)
		return 0;
	return ops_set_sign_request(db, id, a->blob, a->blob_len,
	    a->not_after, err);
}

/* Who signed: the gate consumed the nonce in this transaction. */
static int
act_accept(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_set_signature(db, id, a->signature, a->signer, a->nonce,
	    err);
}

/* Write-ahead intent (DESIGN invariant 1): counted, timed, no UPID. */
static int
act_submit(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_mark_submit(db, id, a->now, a->digest, err);
}

/* The task of the step (or of the undo) is known. */
static int
act_task(struct db *db, int64_t id, const struct sm_args *a, struct err *err)
{
	if (a->upid == NULL || a->upid[0] == '\0')
		return err_set(err, ERR_INVALID, "transition needs a UPID");
	return ops_set_upid(db, id, a->upid, err);
}

/* The typed error, for the op and a human. */
static int
act_error(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_set_error(db, id, a->error_code, a->error, 0, 0, err);
}

/* Back to authorized, not before next_at (now when not given). */
static int
act_retry(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_set_error(db, id, a->error_code, a->error,
	    a->next_at > 0 ? a->next_at : a->now, a->wait_ms, err);
}

/* The next step starts from authorized; a safety step leaves its copy. */
static int
act_next_step(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_next_step(db, id, a->safety, err);
}

/* Undo intent after a failed step: error kept, undo attempts from 0. */
static int
act_undo_intent(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	int rc;

	if ((rc = ops_set_error(db, id, a->error_code, a->error, 0, 0,
	    err)) != 0)
		return rc;
	return ops_mark_undo(db, id, a->now, 1, err);
}

/* Operator: the op goes on at the next tick, any backoff dropped. */
static int
act_resume(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_set_next_at(db, id, a->now, err);
}

/*
 * Operator: back to the safety copy.  Only an op that has one can
 * (rolling_back's invariant); the undo starts from attempt 0.
 */
static int
act_rollback(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	struct ops_row *op = NULL;
	int rc, has;

	if ((rc = ops_get(db, id, &op, err)) != 0)
		return rc;
	has = op->safety != NULL;
	ops_row_free(op);
	if (!has)
		return err_set(err, ERR_TRANSITION, "there is no safety copy "
		    "to roll back to");
	return act_undo_intent(db, id, a, err);
}

/* The undo request is sent (again): a new intent, counted. */
static int
act_undo_retry(struct db *db, int64_t id, const struct sm_args *a,
    struct err *err)
{
	return ops_mark_undo(db, id, a->now, 0, err);
}

static const struct {
	sm_action_fn	 fn;
	const char	*name;
} action_names[] = {
	{ act_sign_request,	"sign_request" },
	{ act_accept,		"accept" },
	{ act_submit,		"submit" },
	{ act_task,		"task" },
	{ act_error,		"error" },
	{ act_retry,		"retry" },
	{ act_next_step,	"next_step" },
	{ act_undo_intent,	"undo_intent" },
	{ act_undo_retry,	"undo_retry" },
	{ act_resume,		"resume" },
	{ act_rollback,		"rollback" },
};

static const struct sm_row sm_table[] = {
	/* from			event				to			action */
	/* new */
	{ SM_NEW,		SM_EV_CLASSIFIED_BENIGN,	SM_AUTHORIZED,		NULL },
	{ SM_NEW,		SM_EV_CLASSIFIED_DESTRUCTIVE,	SM_PENDING_SIGNATURE,	act_sign_request },
	{ SM_NEW,		SM_EV_REFUSED,			SM_REJECTED,		act_error },
	{ SM_NEW,		SM_EV_SUPERSEDED,		SM_SUPERSEDED,		NULL },
	{ SM_NEW,		SM_EV_CANCEL,			SM_CANCELLED,		NULL },
	/* pending_signature */
	{ SM_PENDING_SIGNATURE,	SM_EV_SIGNATURE_ACCEPTED,	SM_AUTHORIZED,		act_accept },
	{ SM_PENDING_SIGNATURE,	SM_EV_SIGNATURE_REJECTED,	SM_PENDING_SIGNATURE,	NULL },
	{ SM_PENDING_SIGNATURE,	SM_EV_OPERATOR_CONFIRMED,	SM_AUTHORIZED,		act_accept },
	{ SM_PENDING_SIGNATURE,	SM_EV_REFUSED,			SM_REJECTED,		act_error },
	{ SM_PENDING_SIGNATURE,	SM_EV_SIGN_WINDOW_LAPSED,	SM_EXPIRED,		NULL },
	{ SM_PENDING_SIGNATURE,	SM_EV_SUPERSEDED,		SM_SUPERSEDED,		NULL },
	{ SM_PENDING_SIGNATURE,	SM_EV_CANCEL,			SM_CANCELLED,		NULL },
	{ SM_PENDING_SIGNATURE,	SM_EV_REVIEW_HOLD,		SM_PENDING_SIGNATURE,	act_sign_request },
	/* authorized */
	{ SM_AUTHORIZED,	SM_EV_SUBMIT,			SM_SUBMITTING,		act_submit },
	{ SM_AUTHORIZED,	SM_EV_ATTEMPTS_EXHAUSTED,	SM_FAILED,		act_error },
	{ SM_AUTHORIZED,	SM_EV_FATAL_ERROR,		SM_FAILED,		act_error },
	{ SM_AUTHORIZED,	SM_EV_SUPERSEDED,		SM_SUPERSEDED,		NULL },
	{ SM_AUTHORIZED,	SM_EV_CANCEL,			SM_CANCELLED,		NULL },
	{ SM_AUTHORIZED,	SM_EV_REVIEW_HOLD,		SM_PENDING_SIGNATURE,	act_sign_request },
	{ SM_AUTHORIZED,	SM_EV_ABANDON,			SM_CANCELLED,		act_error },
	{ SM_AUTHORIZED,	SM_EV_RESUME,			SM_AUTHORIZED,		act_resume },
	{ SM_AUTHORIZED,	SM_EV_ROLLBACK,			SM_ROLLING_BACK,	act_rollback },
	/* submitting */
	{ SM_SUBMITTING,	SM_EV_TASK_STARTED,		SM_RUNNING,		act_task },
	{ SM_SUBMITTING,	SM_EV_ADOPT_TASK,		SM_RUNNING,		act_task },
	{ SM_SUBMITTING,	SM_EV_SYNC_DONE,		SM_SUCCEEDED,		NULL },
	{ SM_SUBMITTING,	SM_EV_SYNC_STEP_DONE,		SM_AUTHORIZED,		act_next_step },
	{ SM_SUBMITTING,	SM_EV_RETRYABLE_ERROR,		SM_AUTHORIZED,		act_retry },
	{ SM_SUBMITTING,	SM_EV_NOT_SUBMITTED,		SM_AUTHORIZED,		act_retry },
	{ SM_SUBMITTING,	SM_EV_FATAL_ERROR,		SM_FAILED,		act_error },
	{ SM_SUBMITTING,	SM_EV_ATTEMPTS_EXHAUSTED,	SM_FAILED,		act_error },
	{ SM_SUBMITTING,	SM_EV_ABANDON,			SM_CANCELLED,		act_error },
	{ SM_SUBMITTING,	SM_EV_RESUME,			SM_SUBMITTING,		act_resume },
	/* running */
	{ SM_RUNNING,		SM_EV_TASK_OK,			SM_SUCCEEDED,		NULL },
	{ SM_RUNNING,		SM_EV_TASK_WARNINGS,		SM_SUCCEEDED,		NULL },
	{ SM_RUNNING,		SM_EV_STEP_DONE,		SM_AUTHORIZED,		act_next_step },
	{ SM_RUNNING,		SM_EV_RETRYABLE_ERROR,		SM_AUTHORIZED,		act_retry },
	{ SM_RUNNING,		SM_EV_TASK_FAILED,		SM_FAILED,		act_error },
	{ SM_RUNNING,		SM_EV_TASK_FAILED_UNDO,		SM_ROLLING_BACK,	act_undo_intent },
	{ SM_RUNNING,		SM_EV_FATAL_ERROR,		SM_FAILED,		act_error },
	{ SM_RUNNING,		SM_EV_ATTEMPTS_EXHAUSTED,	SM_FAILED,		act_error },
	{ SM_RUNNING,		SM_EV_ABANDON,			SM_CANCELLED,		act_error },
	{ SM_RUNNING,		SM_EV_RESUME,			SM_RUNNING,		act_resume },
	/* rolling_back */
	{ SM_ROLLING_BACK,	SM_EV_UNDO_STARTED,		SM_ROLLING_BACK,	act_task },
	{ SM_ROLLING_BACK,	SM_EV_UNDO_RETRY,		SM_ROLLING_BACK,	act_undo_retry },
	{ SM_ROLLING_BACK,	SM_EV_UNDO_OK,			SM_ROLLED_BACK,		NULL },
	{ SM_ROLLING_BACK,	SM_EV_UNDO_FAILED,		SM_FAILED,		act_error },
	{ SM_ROLLING_BACK,	SM_EV_ABANDON,			SM_FAILED,		act_error },
	{ SM_ROLLING_BACK,	SM_EV_RESUME,			SM_ROLLING_BACK,	act_resume },
	/* succeeded, failed, rejected, expired, superseded, cancelled,
	 * rolled_back: terminal, no rows. */
};

#define SM_NROWS (sizeof(sm_table) / sizeof(sm_table[0]))

const char *
sm_state_name(enum sm_state s)
{
	return (unsigned)s < SM__COUNT ? state_info[s].name : "unknown";
}

const char *
sm_event_name(enum sm_event e)
{
	return (unsigned)e < SM_EV__COUNT ? event_info[e].name : "unknown";
}

int
sm_state_parse(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < SM__COUNT; i++)
		if (strcmp(state_info[i].name, name) == 0)
			return i;
	return -1;
}

int
sm_event_parse(const char *name)
{
	int i;

	for (i = 0; name != NULL && i < SM_EV__COUNT; i++)
		if (strcmp(event_info[i].name, name) == 0)
			return i;
	return -1;
}

const struct sm_state_info *
sm_state_info(enum sm_state s)
{
	return (unsigned)s < SM__COUNT ? &state_info[s] : NULL;
}

int
sm_is_terminal(enum sm_state s)
{
	return (unsigned)s < SM__COUNT && state_info[s].terminal;
}

size_t
sm_rows_count(void)
{
	return SM_NROWS;
}

static const char *
action_name(sm_action_fn fn)
{
	size_t i;

	if (fn == NULL)
		return "-";
	for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (action_names[i].fn == fn)
			return action_names[i].name;
	return "?";
}

int
sm_row_at(size_t i, struct sm_row_info *out)
{
	if (i >= SM_NROWS)
		return ERR_INVALID;
	out->from = sm_table[i].from;
	out->event = sm_table[i].event;
	out->to = sm_table[i].to;
	out->action = action_name(sm_table[i].action);
	return 0;
}

int
sm_row_find(enum sm_state from, enum sm_event event)
{
	size_t i;

	for (i = 0; i < SM_NROWS; i++)
		if (sm_table[i].from == from && sm_table[i].event == event)
			return (int)i;
	return -1;
}

/* The journal detail: the caller's facts plus the transition's inputs. */
static json_t *
detail_build(const struct sm_args *a)
{
	json_t *d;

	if ((d = json_object()) == NULL)
		return NULL;
	if (a->detail != NULL && json_is_object(a->detail) &&
	    json_object_update(d, (json_t *)(uintptr_t)a->detail) != 0)
		goto fail;
	if (a->upid != NULL &&
	    json_object_set_new(d, "upid", json_string(a->upid)) != 0)
		goto fail;
	if (a->error_code != NULL &&
	    json_object_set_new(d, "error_code", json_string(a->error_code)) !=
	    0)
		goto fail;
	if (a->error != NULL &&
	    json_object_set_new(d, "error", json_string(a->error)) != 0)
		goto fail;
	if (a->next_at > 0 &&
	    json_object_set_new(d, "next_at", json_integer(a->next_at)) != 0)
		goto fail;
	if (a->wait_ms > 0 &&
	    json_object_set_new(d, "wait_ms", json_integer(a->wait_ms)) != 0)
		goto fail;
	if (a->digest != NULL &&
	    json_object_set_new(d, "config_digest", json_string(a->digest)) !=
	    0)
		goto fail;
	if (a->safety != NULL &&
	    json_object_set(d, "safety", (json_t *)(uintptr_t)a->safety) != 0)
		goto fail;
	if (a->signer != NULL &&
	    json_object_set_new(d, "signer", json_string(a->signer)) != 0)
		goto fail;
	if (a->step_name != NULL && json_object_get(d, "step_name") == NULL &&
	    json_object_set_new(d, "step_name", json_string(a->step_name)) !=
	    0)
		goto fail;
	return d;
fail:
	json_decref(d);
	return NULL;
}

/* The audit row of a refused transition (no table row). */
static int
audit_refused(struct db *db, int64_t op_id, enum sm_state from,
    enum sm_event event, const struct sm_args *a, struct err *err)
{
	struct audit_event ev;
	char detail[160];

	(void) snprintf(detail, sizeof(detail), "no transition from %s by %s",
	    sm_state_name(from), sm_event_name(event));
	memset(&ev, 0, sizeof(ev));
	ev.at = a->now;
	ev.event = "transition";
	ev.decision = "refused";
	ev.code = "no_transition";
	ev.op_id = op_id;
	ev.actor = a->actor;
	ev.detail = detail;
	return audit_append(db, &ev, NULL, err);
}

/* The database part of one transition, in an open transaction. */
static int
step_txn(struct db *db, int64_t op_id, int row, const struct sm_args *a,
    char *uid, int64_t *vmid, struct err *err)
{
	const struct sm_row *r = &sm_table[row];
	const struct sm_event_info *ei = &event_info[r->event];
	struct journal_entry je;
	struct audit_event ev;
	json_t *detail = NULL;
	char text[200];
	int step = 0, rc;

	if ((rc = ops_cas_state(db, op_id, state_info[r->from].name,
	    state_info[r->to].name, state_info[r->to].terminal, a->now, vmid,
	    uid, err)) != 0)
		return rc;
	if (r->action != NULL && (rc = r->action(db, op_id, a, err)) != 0)
		return rc;
	if (a->hook != NULL && (rc = a->hook(db, op_id, r->event, a, err)) != 0)
		return rc;
	if ((rc = ops_get_step(db, op_id, &step, NULL, err)) != 0)
		return rc;
	if ((detail = detail_build(a)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	memset(&je, 0, sizeof(je));
	je.op_id = op_id;
	je.at = a->now;
	je.from = state_info[r->from].name;
	je.event = ei->name;
	je.to = state_info[r->to].name;
	je.step = step;
	je.detail = detail;
	if ((rc = journal_append(db, &je, NULL, err)) != 0)
		goto out;
	if (ei->audit != NULL) {
		(void) snprintf(text, sizeof(text), "%s: %s -> %s by %s%s%s",
		    uid, je.from, je.to, je.event, a->error != NULL ? ": " : "",
		    a->error != NULL ? a->error : "");
		memset(&ev, 0, sizeof(ev));
		ev.at = a->now;
		ev.event = ei->audit;
		ev.decision = ei->decision != NULL ? ei->decision : je.to;
		ev.code = a->code != NULL ? a->code : ei->name;
		ev.op_id = op_id;
		ev.vmid = *vmid;
		ev.actor = a->actor;
		ev.detail = text;
		ev.data = detail;
		if ((rc = audit_append(db, &ev, NULL, err)) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(detail);
	return rc;
}

/*
 * How loud a transition is: a terminal failure is an error or warning,
 * a retry a notice, a failed step that is being undone a warning, the
 * rest info.
 */
static enum log_level
log_level_of(const struct sm_row *r)
{
	switch (r->to) {
	case SM_FAILED:
		return LOG_LEVEL_ERROR;
	case SM_ROLLED_BACK:
	case SM_REJECTED:
	case SM_EXPIRED:
		return LOG_LEVEL_WARN;
	case SM_CANCELLED:
		return LOG_LEVEL_NOTICE;
	default:
		break;
	}
	switch (r->event) {
	case SM_EV_TASK_FAILED_UNDO:
	case SM_EV_SIGNATURE_REJECTED:
		return LOG_LEVEL_WARN;
	case SM_EV_RETRYABLE_ERROR:
	case SM_EV_NOT_SUBMITTED:
	case SM_EV_UNDO_RETRY:
	case SM_EV_RESUME:
	case SM_EV_ROLLBACK:
		return LOG_LEVEL_NOTICE;
	default:
		return LOG_LEVEL_INFO;
	}
}

static void
crash_points(const char *name, enum sm_event event)
{
	char buf[64];

	(void) snprintf(buf, sizeof(buf), "%s.%s", name, sm_event_name(event));
	crash_point(name);
	crash_point(buf);
	(void) name;
	(void) buf;
}

static int
no_row(struct db *db, int64_t op_id, enum sm_state from, enum sm_event event,
    const struct sm_args *a, int in_txn, struct err *err)
{
	struct log_field f[2];
	char id[24];

	(void) snprintf(id, sizeof(id), "%" PRId64, op_id);
	f[0] = LOG_F("OP_ID", id);
	f[1] = LOG_F("EVENT", sm_event_name(event));
	log_fields(LOG_LEVEL_WARN, f, 2,
	    "op %s: no transition from %s by %s, refused", id,
	    sm_state_name(from), sm_event_name(event));
	/* The refusal itself is audited; its own failure is not the news. */
	if (in_txn)
		(void) audit_refused(db, op_id, from, event, a, NULL);
	else if (db_begin(db, NULL) == 0) {
		if (audit_refused(db, op_id, from, event, a, NULL) != 0 ||
		    db_commit(db, NULL) != 0)
			db_rollback(db);
	}
	return err_set(err, ERR_TRANSITION, "op %s: no transition from %s by "
	    "%s", id, sm_state_name(from), sm_event_name(event));
}

static int
check_args(enum sm_state from, enum sm_event event, const struct sm_args *a,
    struct err *err)
{
	if ((unsigned)from >= SM__COUNT || (unsigned)event >= SM_EV__COUNT)
		return err_set(err, ERR_INVALID, "bad state %d or event %d",
		    (int)from, (int)event);
	if (a == NULL || a->now <= 0)
		return err_set(err, ERR_INVALID, "transition needs a time");
	return 0;
}

int
sm_step_in_txn(struct db *db, int64_t op_id, enum sm_state from,
    enum sm_event event, const struct sm_args *args, enum sm_state *to_out,
    struct err *err)
{
	char uid[OPS_UID_LEN];
	int64_t vmid;
	int row, rc;

	if ((rc = check_args(from, event, args, err)) != 0)
		return rc;
	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "sm_step_in_txn outside a "
		    "transaction");
	if ((row = sm_row_find(from, event)) < 0)
		return no_row(db, op_id, from, event, args, 1, err);
	if ((rc = step_txn(db, op_id, row, args, uid, &vmid, err)) != 0)
		return rc;
	if (to_out != NULL)
		*to_out = sm_table[row].to;
	return 0;
}

int
sm_step(struct db *db, int64_t op_id, enum sm_state from, enum sm_event event,
    const struct sm_args *args, enum sm_state *to_out, struct err *err)
{
	const struct sm_row *r;
	struct log_field f[5];
	char uid[OPS_UID_LEN], vm[24], stepname[48] = "";
	int64_t vmid = 0;
	size_t nf = 0;
	int row, rc;

	if ((rc = check_args(from, event, args, err)) != 0)
		return rc;
	if ((row = sm_row_find(from, event)) < 0)
		return no_row(db, op_id, from, event, args, 0, err);
	r = &sm_table[row];
	if ((rc = db_begin(db, err)) != 0)
		return rc;
	if ((rc = step_txn(db, op_id, row, args, uid, &vmid, err)) != 0) {
		db_rollback(db);
		return rc;
	}
	crash_points("sm.before_commit", event);
	if ((rc = db_commit(db, err)) != 0)
		return rc;
	crash_points("sm.after_commit", event);
	(void) snprintf(vm, sizeof(vm), "%" PRId64, vmid);
	if (args->step_name != NULL)
		(void) snprintf(stepname, sizeof(stepname), " (%s)",
		    args->step_name);
	/* the journal gets these as fields of their own. */
	f[nf++] = LOG_F("OP_ID", uid);
	f[nf++] = LOG_F("VMID", vm);
	f[nf++] = LOG_F("EVENT", event_info[event].name);
	if (args->upid != NULL)
		f[nf++] = LOG_F("UPID", args->upid);
	if (args->error_code != NULL || args->code != NULL)
		f[nf++] = LOG_F("CODE", args->error_code != NULL ?
		    args->error_code : args->code);
	log_fields(log_level_of(r), f, nf,
	    "%s: %s -> %s by %s%s%s%s", uid, state_info[r->from].name,
	    state_info[r->to].name, event_info[event].name, stepname,
	    args->error != NULL ? ": " : "",
	    args->error != NULL ? args->error : "");
	if (to_out != NULL)
		*to_out = r->to;
	return 0;
}

int
sm_check_op(const struct ops_row *op, struct err *err)
{
	int s = sm_state_parse(op->state);

	if (s < 0)
		return err_set(err, ERR_FORMAT, "op %s: unknown state '%s'",
		    op->uid, op->state);
	if (state_info[s].terminal != (op->ended_at != 0))
		return err_set(err, ERR_CORRUPT, "op %s: %s with%s ended_at",
		    op->uid, op->state, op->ended_at != 0 ? "" : "out");
	switch ((enum sm_state)s) {
	case SM_NEW:
		if (op->step != 0 || op->attempt != 0 || op->upid != NULL)
			return err_set(err, ERR_CORRUPT, "op %s: new but "
			    "already stepped, attempted or with a UPID",
			    op->uid);
		break;
	case SM_PENDING_SIGNATURE:
		/* step > 0: held mid-sequence after a restore (review_hold). */
		if (op->upid != NULL)
			return err_set(err, ERR_CORRUPT, "op %s: pending a "
			    "signature with a UPID", op->uid);
		break;
	case SM_AUTHORIZED:
		if (op->upid != NULL)
			return err_set(err, ERR_CORRUPT, "op %s: authorized "
			    "with a UPID", op->uid);
		break;
	case SM_SUBMITTING:
		if (op->intent_at == 0 || op->attempt < 1 || op->upid != NULL)
			return err_set(err, ERR_CORRUPT, "op %s: submitting "
			    "without an intent time or attempt, or with a "
			    "UPID", op->uid);
		break;
	case SM_RUNNING:
		if (op->upid == NULL)
			return err_set(err, ERR_CORRUPT, "op %s: running "
			    "without a UPID", op->uid);
		break;
	case SM_ROLLING_BACK:
		if (op->safety == NULL)
			return err_set(err, ERR_CORRUPT, "op %s: rolling back "
			    "without a safety copy", op->uid);
		break;
	default:
		break;
	}
	return 0;
}

void
sm_print_table(FILE *f, int markdown)
{
	size_t i;

	if (markdown)
		fprintf(f, "| from | event | to | action |\n"
		    "|---|---|---|---|\n");
	else
		fprintf(f, "%-18s %-23s %-18s %s\n", "FROM", "EVENT", "TO",
		    "ACTION");
	for (i = 0; i < SM_NROWS; i++) {
		const struct sm_row *r = &sm_table[i];

		if (markdown)
			fprintf(f, "| %s | %s | %s | %s |\n",
			    state_info[r->from].name,
			    event_info[r->event].name, state_info[r->to].name,
			    action_name(r->action));
		else
			fprintf(f, "%-18s %-23s %-18s %s\n",
			    state_info[r->from].name,
			    event_info[r->event].name, state_info[r->to].name,
			    action_name(r->action));
	}
}
