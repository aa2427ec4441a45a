/*
 * rtest — the agent's restore tests (R-17, R-27; hub-contract.md
 * desired restore_tests, report restore_tests).
 *
 * For each desired entry, when due (its every_hours since the last run):
 * the newest backup of the guest on any active storage is restored into
 * a free vmid of the scratch range, its network removed and a marker
 * written into its description, started, watched to stay running for
 * hold_s, stopped and destroyed.  Each of these is an ordinary op
 * (source internal) driven by the engine's lanes through the gate: the
 * restore is benign because the vmid is proven free and records the
 * scratch guest as the agent's (provenance) in the transition that
 * records its success; the destroy is benign only because of that
 * record.  A run is one row of restore_test_runs (store/rtests): its
 * phase and the op of the phase survive a crash.
 *
 * Never left behind: a run found open at start (rtest_recover) is
 * failed as interrupted and cleaned up as soon as its op in flight
 * ends.  Never the customer's: before it is stopped the scratch guest
 * must still carry the run's marker; a guest put in its place behind
 * the agent's back loses the agent's provenance and is left alone, and
 * any op of the runner the gate holds for a signature is superseded,
 * never signed for.
 */
#ifndef FELHOM_ENGINE_RTEST_H
#define FELHOM_ENGINE_RTEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/err.h"
#include "engine/exec.h"
#include "engine/sm.h"
#include "store/db.h"

#define RTEST_HOLD_S		30	/* running this long: passed */
#define RTEST_CHECK_MS		5000	/* status reads while holding */
#define RTEST_PROBES_MAX	16	/* scratch vmids read per tick */

struct rtest_config {
	int64_t		 hold_s;		/* 0: RTEST_HOLD_S */
	int64_t		 check_ms;		/* 0: RTEST_CHECK_MS */
	sm_hook_fn	 transition_hook;	/* as the engine's */
};

struct rtest;

/*
 * A runner over db, exec and clock (borrowed; must outlive it); cfg may
 * be NULL (defaults).  Caller frees with rtest_free (NULL-safe).
 */
int	rtest_new(struct db *db, const struct exec *exec,
	    const struct clock *clock, const struct rtest_config *cfg,
	    struct rtest **out, struct err *err);
void	rtest_free(struct rtest *rt);

/*
 * At start, after engine_recover: every run still open is failed as
 * "interrupted by an agent restart" and will be cleaned up.  *n_out
 * (may be NULL) gets their number.
 */
int	rtest_recover(struct rtest *rt, size_t *n_out, struct err *err);

/*
 * One look at every run: starts the due tests and moves each open run
 * on by its op's outcome (never while `blocked`: no new op then).
 * *delay_ms_out (may be NULL) says when something needs a look again
 * (0: an op was just made for the lanes; -1: nothing open).  Database failures are returned; PVE's are the
 * runs'.
 */
int	rtest_tick(struct rtest *rt, int blocked, int64_t *delay_ms_out,
	    struct err *err);

#endif
