/*
 * engine — reconcile and execute: observe PVE, plan desired × actual
 * into ops, and drive every op through the state machine one lane per
 * vmid, without ever waiting (R-22 …; DESIGN "One
 * thread, no blocking waits", "Recovery").
 *
 * The daemon loop calls, on one thread:
 *   engine_new()            once, after the database is open;
 *   engine_recover()        once, before any new work;
 *   engine_observe()        each reconcile cycle, then
 *   engine_plan()           when observe said planning is safe and the
 *                           hub is not blocking;
 *   engine_step()           on every tick: each lane advances at most one
 *                           transition; running tasks are polled once;
 *                           returns when to call again;
 *   engine_free()           at exit.
 * Ops created by others (the gate, felhom-admin) are driven by the same
 * engine_step().
 */
#ifndef FELHOM_ENGINE_ENGINE_H
#define FELHOM_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/err.h"
#include "engine/exec.h"
#include "engine/sm.h"
#include "store/db.h"

struct ops_row;

/* A decision about one op, made outside the engine (the gate). */
typedef int (*engine_op_fn)(void *ctx, const struct ops_row *op,
    struct err *err);

/* Tunables; 0 selects the default in brackets. */
struct engine_config {
	int	 max_attempts;		/* per op [5] */
	int64_t	 backoff_base_s;	/* first retry, doubled [5] */
	int64_t	 backoff_max_s;		/* retry cap [300] */
	int64_t	 poll_interval_ms;	/* task poll period [1000] */
	int64_t	 find_slack_s;		/* task start vs intent [1] */
	/*
	 * How long a request whose answer was lost may still take effect:
	 * the task list (and a config read-back) is searched that long
	 * before "not sent" is concluded — longer than PVE's own 30 s
	 * proxy timeout [60000].
	 */
	int64_t	 unknown_window_ms;
	int64_t	 converge_base_s;	/* re-plan after a failure [30] */
	int64_t	 converge_max_s;	/* ... doubling up to [3600] */
	int64_t	 shutdown_timeout_s;	/* then a hard stop [60] */
	int64_t	 sign_window_s;		/* no gate: window [86400] */
	/*
	 * The gate: moves an op out of `new` itself (an
	 * adapter over gate_decide).  NULL: the op's own class decides —
	 * benign → authorized, destructive → pending_signature with a
	 * window of sign_window_s.
	 */
	engine_op_fn	 decide;
	void		*decide_ctx;
	/* Runs an authorized host-scoped op (gate_run_host_op); NULL: none. */
	engine_op_fn	 run_host;
	void		*run_host_ctx;
	/* Inside every transition the engine makes (gate_provenance_hook). */
	sm_hook_fn	 transition_hook;
	/*
	 * 0: every lane.  Else engine_step() moves only this vmid's lane
	 * (the task self-test driving its own ops while no daemon runs).
	 */
	int64_t		 only_vmid;
	/*
	 * Issue 15: 1 = one engine step's transitions are made durable
	 * together, in one commit at its end (db_group_begin).  Only for an
	 * executor that sends nothing before the step returns — requests
	 * queued on a multi whose barrier flushes the group, helper calls
	 * behind the same barrier (the agent sets both); an executor that
	 * acts at once (a test's fake) must leave it 0, or its effects
	 * would precede their records.
	 */
	int		 group_commit;
	/*
	 * Where the host's USB devices are read (priv.sysfs_root), to tell
	 * which desired USB id a guest's devN is [/sys].  Borrowed.
	 */
	const char	*sysfs_root;
};

struct engine;

/* What engine_step() says about the next call. */
struct engine_next {
	int	 more;		/* 1: call again at once */
	int64_t	 delay_ms;	/* else after this; -1: idle */
	size_t	 transitions;	/* transitions made by this call */
	size_t	 in_flight;	/* submitting, running, ... */
	size_t	 pending;	/* issue 17: ops waiting for an answer
				   (its completion wakes the loop) */
};

/* What engine_recover() found and did (also logged). */
struct engine_recovery {
	size_t	 examined;	/* non-terminal ops */
	size_t	 resumed;	/* task still running: poll on */
	size_t	 finished;	/* task ended while we were down */
	size_t	 adopted;	/* our task found in the list */
	size_t	 retried;	/* no task: the step is retried */
	size_t	 confirmed;	/* set-config read back applied */
	size_t	 waiting;	/* outcome unknown: still looking */
	size_t	 failed;	/* attempts used, task unknown */
	size_t	 unresolved;	/* PVE unreachable: for later */
};

/*
 * A new engine over db (borrowed, open, migrated), exec and clock
 * (borrowed, must outlive the engine); cfg may be NULL (defaults).
 * Caller frees with engine_free().
 */
int	engine_new(struct db *db, const struct exec *exec,
	    const struct clock *clock, const struct engine_config *cfg,
	    struct engine **out, struct err *err);
void	engine_free(struct engine *e);

/*
 * Examines every op not in a terminal state: running with a UPID
 * → one status poll (resume or finish); submitting → the task list is
 * searched for our task (adopt it, or retry the step when none exists,
 * or fail after its attempts); a synchronous set-config → its config is
 * read back.  Never sends a mutating request.  out may be NULL.
 */
int	engine_recover(struct engine *e, struct engine_recovery *out,
	    struct err *err);

/*
 * Reads the guests from PVE into the engine and store/actual.  *safe_out
 * is 1 when the observation can be planned on, 0 when the guest list
 * shrank without proof (the stored observation is then kept, and
 * engine_plan() skips this cycle).  Missing desired guests that would be
 * provisioned are read directly: "does not exist" is the only proof of
 * absence.  With an executor whose passes never wait (exec_ops.pass_*,
 * issue 17) it is ERR_PENDING while its reads are in flight: nothing is
 * concluded then, and the caller calls it again (after the loop ran)
 * until it is not.
 */
int	engine_observe(struct engine *e, int *safe_out, struct err *err);

/*
 * Plans the last observation against the stored desired state and, in
 * one transaction, supersedes the desired ops that no longer match and
 * creates the missing ones (idempotent, R-26); records the applied
 * generation (kv DESIRED_KV_APPLIED).  *created_out (may be NULL) gets
 * the number of new ops.  Call only when not blocked: creating and
 * superseding are changes the hub may be holding back.
 */
int	engine_plan(struct engine *e, size_t *created_out, struct err *err);

/*
 * Advances every lane by at most one transition (invariant 2): per vmid
 * only the oldest op past authorized runs; a running task is polled
 * once, never waited for.  Classifies new ops by their class (until the
 * gate takes that over), expires lapsed sign windows.  With `blocked`
 * set nothing moves at all (hub-contract "blocked").  Database failures
 * are returned; PVE failures belong to the ops.
 */
int	engine_step(struct engine *e, int blocked, struct engine_next *out,
	    struct err *err);

/*
 * A clean stop: each wait still running (an op's retry backoff, a guest's
 * re-convergence backoff) is stored as what is left of it, so the next
 * start resumes it rather than starting it over.
 */
int	engine_save_waits(struct engine *e, struct err *err);

/* Database-backed counts for the report and tests. */
int	engine_in_flight(struct engine *e, size_t *out, struct err *err);

#endif
