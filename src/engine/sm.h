/*
 * sm — the operation state machine (R-33, DESIGN "The state machine").
 *
 * The transitions of an operation are the rows of one static table,
 * {from, event, to, action}; sm_step() is the only code that changes
 * ops.state.  Each step is one transaction: compare-and-set of the
 * state, the row's database action, exactly one journal row, and an
 * audit row when the transition is a decision; then commit, then one
 * log line.  Actions never touch the network.  A (state, event) with no
 * row is ERR_TRANSITION, audited and logged naming both.
 *
 * States and their invariants (checked by sm_check_op()):
 *   new               created by the plan, a signed job or a request;
 *                     never submitted: step 0, attempt 0, no UPID.
 *   pending_signature destructive, waiting for an operator signature;
 *                     never executed: no UPID; step 0, unless a
 *                     restored database held it mid-sequence for review.
 *   authorized        may run when it heads its vmid's lane and next_at
 *                     has passed; no UPID (step > 0: mid-sequence).
 *   submitting        write-ahead intent of step `step` committed
 *                     (intent_at set, attempt >= 1); its request may or
 *                     may not have reached PVE; no UPID yet.
 *   running           the step's PVE task is known: UPID set.
 *   rolling_back      a step failed and the safety copy (ops.safety, set)
 *                     is being restored; UPID set once the undo task is
 *                     known.
 *   succeeded, failed, rejected, expired, superseded, cancelled,
 *   rolled_back       terminal and absorbing: ended_at set; no row leaves
 *                     them.
 * Per vmid, at most one op is in submitting, running or rolling_back
 * (the lane, R-25).
 */
#ifndef FELHOM_ENGINE_SM_H
#define FELHOM_ENGINE_SM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"
#include "store/ops.h"

enum sm_state {
	SM_NEW,
	SM_PENDING_SIGNATURE,
	SM_AUTHORIZED,
	SM_SUBMITTING,
	SM_RUNNING,
	SM_SUCCEEDED,
	SM_FAILED,
	SM_REJECTED,
	SM_EXPIRED,
	SM_SUPERSEDED,
	SM_CANCELLED,
	SM_ROLLING_BACK,
	SM_ROLLED_BACK,
	SM__COUNT
};

enum sm_event {
	SM_EV_CLASSIFIED_BENIGN,	/* gate: benign, runs unsigned */
	SM_EV_CLASSIFIED_DESTRUCTIVE,	/* gate: needs a signature */
	SM_EV_REFUSED,			/* gate: refused outright */
	SM_EV_SIGNATURE_ACCEPTED,	/* gate: a bound, verified signature */
	SM_EV_SIGNATURE_REJECTED,	/* gate: a bad one (stays pending) */
	SM_EV_OPERATOR_CONFIRMED,	/* a local operator, in person: the
					   task self-test on their guest */
	SM_EV_SIGN_WINDOW_LAPSED,	/* its not_after passed */
	SM_EV_SUPERSEDED,		/* no longer desired */
	SM_EV_CANCEL,			/* operator: drop it, not started */
	SM_EV_SUBMIT,			/* write-ahead intent of a step */
	SM_EV_TASK_STARTED,		/* the POST answered with a UPID */
	SM_EV_SYNC_DONE,		/* last step applied synchronously */
	SM_EV_SYNC_STEP_DONE,		/* a middle step, synchronously */
	SM_EV_RETRYABLE_ERROR,		/* transient: back off, retry */
	SM_EV_FATAL_ERROR,		/* permanent failure */
	SM_EV_ATTEMPTS_EXHAUSTED,	/* retried max_attempts times */
	SM_EV_NOT_SUBMITTED,		/* recovery: no task, retry */
	SM_EV_ADOPT_TASK,		/* recovery: our task found */
	SM_EV_TASK_OK,			/* last step's task ended OK */
	SM_EV_TASK_WARNINGS,		/* ... ended WARNINGS: n */
	SM_EV_STEP_DONE,		/* a middle step's task succeeded */
	SM_EV_TASK_FAILED,		/* the task failed, no safety copy */
	SM_EV_TASK_FAILED_UNDO,		/* failed: undo to the safety copy */
	SM_EV_UNDO_STARTED,		/* the undo answered a UPID */
	SM_EV_UNDO_RETRY,		/* the undo request is (re)sent */
	SM_EV_UNDO_OK,			/* the undo task succeeded */
	SM_EV_UNDO_FAILED,		/* the undo failed: for a human */
	SM_EV_ABANDON,			/* operator: give up in flight */
	SM_EV_REVIEW_HOLD,		/* restored database: sign again */
	SM_EV_RESUME,			/* operator: go on now (no backoff) */
	SM_EV_ROLLBACK,			/* operator: back to the safety copy */
	SM_EV__COUNT
};

struct sm_args;

/*
 * A hook run inside a transition's transaction, after the row's action
 * and before the journal row (the gate records provenance there:
 * gate_provenance_hook).  Its failure rolls the transition back.
 */
typedef int (*sm_hook_fn)(struct db *db, int64_t op_id, enum sm_event event,
    const struct sm_args *args, struct err *err);

/*
 * Inputs of one transition.  Every member is optional except `now`;
 * pointers are borrowed for the call.  Which members a row's action
 * reads is given in the table (docs/state-machine.md).
 */
struct sm_args {
	int64_t		 now;		/* unix seconds: updated, journal */
	const json_t	*detail;	/* journal detail; NULL = {} */
	const char	*upid;		/* task_started, adopt_task, ... */
	int64_t		 next_at;	/* retry: not before (wall, shown) */
	int64_t		 wait_ms;	/* retry: its length (monotonic) */
	const char	*digest;	/* submit: config digest it carries */
	const char	*error_code;	/* failures: typed error name */
	const char	*error;		/* failures: message */
	const json_t	*safety;	/* step_done of a safety step */
	const char	*actor;		/* NULL (agent), hub, admin */
	const char	*code;		/* audit code; NULL = event */
	const void	*blob;		/* the sign request */
	size_t		 blob_len;
	int64_t		 not_after;	/* its sign window end */
	const char	*signature;	/* signature_accepted */
	const char	*signer;
	const char	*nonce;
	const char	*step_name;	/* the step concerned, for logs */
	sm_hook_fn	 hook;		/* NULL: none */
};

/* Per-state facts. */
struct sm_state_info {
	const char	*name;		/* as in ops.state, logs */
	int		 terminal;	/* absorbing: no row leaves it */
	int		 lane;		/* holds its vmid's lane */
	int		 in_flight;	/* a PVE request may be out */
};

/* One row, for printing and for tests walking the table. */
struct sm_row_info {
	enum sm_state	 from;
	enum sm_event	 event;
	enum sm_state	 to;
	const char	*action;	/* action name, "-" when none */
};

const char *sm_state_name(enum sm_state s);
const char *sm_event_name(enum sm_event e);
/* Name → value; -1 when unknown. */
int	sm_state_parse(const char *name);
int	sm_event_parse(const char *name);
const struct sm_state_info *sm_state_info(enum sm_state s);
int	sm_is_terminal(enum sm_state s);

/* The table, row by row (i < sm_rows_count()). */
size_t	sm_rows_count(void);
int	sm_row_at(size_t i, struct sm_row_info *out);
/* Index of the row of (from, event), or -1 when there is none. */
int	sm_row_find(enum sm_state from, enum sm_event event);

/*
 * Moves op_id from `from` by `event`, in its own transaction (see the
 * top of this file).  *to_out (may be NULL) gets the new state.
 * ERR_TRANSITION: no row for (from, event) (audited, logged);
 * ERR_CONFLICT: the op is not in `from` any more (a concurrent writer
 * won; nothing written); ERR_NOT_FOUND: no such op; database errors as
 * db_error().  Crash points sm.before_commit and sm.after_commit, each
 * also as "<name>.<event>".
 */
int	sm_step(struct db *db, int64_t op_id, enum sm_state from,
	    enum sm_event event, const struct sm_args *args,
	    enum sm_state *to_out, struct err *err);

/*
 * As sm_step, inside the caller's open transaction (the gate consumes
 * a nonce in the same one): no BEGIN, no COMMIT, no crash points, no
 * log line.  The caller commits, or rolls back on failure.  A refused
 * transition's audit row is written in that transaction.
 */
int	sm_step_in_txn(struct db *db, int64_t op_id, enum sm_state from,
	    enum sm_event event, const struct sm_args *args,
	    enum sm_state *to_out, struct err *err);

/*
 * Checks the invariants of the op's state (above): ERR_CORRUPT naming
 * the broken one, ERR_FORMAT for an unknown state name.
 */
int	sm_check_op(const struct ops_row *op, struct err *err);

/*
 * Prints the table: plain columns, or (markdown != 0) the Markdown
 * table docs/state-machine.md holds.
 */
void	sm_print_table(FILE *f, int markdown);

#endif
