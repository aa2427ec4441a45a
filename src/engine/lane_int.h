/*
 * lane_int — what the two halves of the lane module share (internal to
 * src/engine/lane*.c): lane.c moves ops forward tick by tick, lane_resolve.c
 * finds out what a request did (a task to poll, an unknown outcome to
 * look up, recovery at start).
 */
#ifndef FELHOM_ENGINE_LANE_INT_H
#define FELHOM_ENGINE_LANE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/lane.h"
#include "engine/sm.h"
#include "store/ops.h"

/* What advancing one op did. */
enum adv {
	ADV_WAIT,	/* nothing to do before `wake` */
	ADV_MOVED,	/* a transition happened */
	ADV_STUCK,	/* PVE unreachable or outcome unknown: retry later */
};

struct tick {
	int64_t	 now;		/* wall clock, s: sign windows */
	int64_t	 mono;		/* monotonic, ms: every wait */
	int64_t	 wake_ms;	/* earliest future wake-up, ms; 0 none */
	int	 poll;		/* something needs polling */
	size_t	 moved;
	size_t	 in_flight;
	size_t	 pending;	/* passes waiting for an answer */
};

/*
 * A PVE failure that repeats each tick while PVE is down (poll, task
 * search, config read; one op or many): logged when the failure changes,
 * then at most once a minute with the count (issue 17).  The key is the
 * failure's kind (code, reason, status), not the op.
 */
void	lane_log_pve(const struct lane_ctx *e, const struct err *xe,
	    const char *file, int line, const char *func, const char *fmt,
	    ...) __attribute__((format(printf, 6, 7)));
#define lane_warn_pve(e, xe, ...) \
	lane_log_pve((e), (xe), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* PVE answered again: the next failure is logged at once. */
void	lane_pve_ok(const struct lane_ctx *e);

/* Wake up in ms at the latest (a wait that has not ended). */
void	lane_wake(struct tick *tk, int64_t ms);

/*
 * What a search for op's lost request must skip: every UPID an op on its
 * vmid recorded since `since` (its own earlier steps and attempts, other
 * ops' tasks of the same type started in the same moments), plus `also`
 * (may be NULL); *list is NULL-terminated, its strings owned by *arr.
 * Caller frees *list and decrefs *arr.
 */
int	lane_claimed(const struct lane_ctx *e, const struct ops_row *op,
	    int64_t since, const char *also, json_t **arr,
	    const char ***list, struct err *err);

/* ms left of op's unknown-outcome window (armed at first sight). */
int	lane_window_left(const struct lane_ctx *e, const struct ops_row *op,
	    int64_t gen, int64_t *left, struct err *err);

/*
 * One transition of op (sm_step with the engine's hook and clock).  A lost
 * compare-and-set or a refused transition is ERR_CONFLICT (logged; looked
 * at again next tick); database failures are returned.
 */
int	lane_transition(const struct lane_ctx *e, const struct ops_row *op,
	    enum sm_event ev, const struct sm_args *args, struct err *err);

/* The retry backoff after `attempt` (s), doubling, capped. */
int64_t	lane_backoff(const struct lane_ctx *e, int attempt);

/* The steps of op and a check that its step is one of them. */
int	lane_op_steps(const struct ops_row *op,
	    const enum exec_step_kind **steps, size_t *n, struct err *err);

/* The executor's view of op's step `what`. */
void	lane_target_init(struct exec_target *t, const struct ops_row *op,
	    enum exec_step_kind what);

/* A failed op by ev, with the typed error of cause (code NULL: its own). */
int	lane_fail(const struct lane_ctx *e, const struct ops_row *op,
	    enum sm_event ev, const struct err *cause, const char *code,
	    struct err *err);

/*
 * After op's step is done (sync: without a task): the next step, or the
 * end; a safety step records its copy.
 */
int	lane_step_done(const struct lane_ctx *e, const struct ops_row *op,
	    int sync, enum exec_step_kind what, size_t nsteps,
	    const char *exitstatus, const char *kept, struct err *err);

/* A definite PVE refusal of a step's request: back off, or give up. */
int	lane_refused(const struct lane_ctx *e, const struct ops_row *op,
	    int attempt, const struct err *cause, enum sm_event retry_ev,
	    struct err *err);

/*
 * An op in submitting: its request's outcome looked up, never resent
 * .  rec (may be NULL) counts for recovery, tk (may be NULL) gets
 * the next wake-up while the window is open.
 */
int	lane_resolve_submitting(const struct lane_ctx *e,
	    const struct ops_row *op, struct engine_recovery *rec,
	    struct tick *tk, enum adv *adv, struct err *err);

/* One status poll of a running step (never a wait). */
int	lane_poll_running(const struct lane_ctx *e, const struct ops_row *op,
	    struct engine_recovery *rec, enum adv *adv, struct err *err);

#endif
