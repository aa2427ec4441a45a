/*
 * timer — the engine's deadlines on the monotonic clock (R-34; DESIGN
 * "The loop": timers use CLOCK_MONOTONIC, the wall clock serves only
 * signature windows and timestamps).
 *
 * A timer is named by (kind, id, gen): an op's retry wait, an op's
 * unknown-outcome window, a guest's re-convergence backoff; `gen` tells
 * one wait of the same object from the next (an op's step and attempt,
 * a guest's failure count).  Deadlines live in memory only.  What the
 * database keeps is a wait's length (ops.wait_ms, converge.wait_ms): a
 * timer this process has not armed — after a restart — is armed at first
 * sight from that length, clamped, so a restart never cuts a wait short
 * and a clock step never stretches or shortens one.
 */
#ifndef FELHOM_ENGINE_TIMER_H
#define FELHOM_ENGINE_TIMER_H

#include <stdint.h>

#include "base/err.h"

enum timer_kind {
	TIMER_RETRY,		/* an op's backoff before its next attempt */
	TIMER_UNKNOWN,		/* an op's unknown-outcome window */
	TIMER_CONVERGE,		/* a guest's backoff before re-planning */
	TIMER_IN_FLIGHT,	/* issue 17: an op's request whose answer a
				   later pass takes (gen: its step and
				   attempt); armed, never due */
	TIMER_PASS,		/* issue 17: an op whose last pass waits for
				   answers (gen 0); armed, never due */
	TIMER__COUNT
};

struct timers;

/* An empty set; NULL when out of memory.  timer_free() accepts NULL. */
struct timers *timer_new(void);
void	timer_free(struct timers *t);

/*
 * Arms (kind, id, gen) to fire dur_ms after now_ms, replacing any timer
 * of (kind, id).  ERR_NOMEM.
 */
int	timer_arm(struct timers *t, enum timer_kind kind, int64_t id,
	    int64_t gen, int64_t dur_ms, int64_t now_ms);

/*
 * *left_out gets the ms left before (kind, id, gen) fires (<= 0: due).
 * A timer not armed for that gen is armed now for stored_ms clamped to
 * [0, max_ms] (a restart resumes a wait from its stored length).
 * ERR_NOMEM.
 */
int	timer_left(struct timers *t, enum timer_kind kind, int64_t id,
	    int64_t gen, int64_t stored_ms, int64_t max_ms, int64_t now_ms,
	    int64_t *left_out);

/* 1 when (kind, id, gen) is armed in this process. */
int	timer_armed(const struct timers *t, enum timer_kind kind, int64_t id,
	    int64_t gen);

/* Forgets the timer of (kind, id), if any. */
void	timer_drop(struct timers *t, enum timer_kind kind, int64_t id);

/* Called for each armed timer (timer_each). */
typedef int (*timer_each_fn)(void *ctx, enum timer_kind kind, int64_t id,
    int64_t gen, int64_t left_ms, struct err *err);

/* Calls fn for every armed timer with the ms left at now_ms; stops at
 * the first failure and returns it. */
int	timer_each(const struct timers *t, int64_t now_ms, timer_each_fn fn,
	    void *ctx, struct err *err);

/* Whether a timer is still wanted (timer_sweep). */
typedef int (*timer_keep_fn)(void *ctx, enum timer_kind kind, int64_t id);

/* Forgets every timer keep() says is no longer wanted. */
void	timer_sweep(struct timers *t, timer_keep_fn keep, void *ctx);

/* The gen of an op's wait: its step and attempt. */
int64_t	timer_op_gen(int step, int attempt);

#endif
