/*
 * tick_exec — bench-engine's group commit figure, through the engine
 * itself (issue 15): n ops on n guests, driven by engine_step() until
 * all have succeeded, with an executor that behaves like the agent's —
 * inside a pass a request is only queued (the real one's https_submit),
 * and it leaves when the loop "drives the multi" after the step, behind
 * the barrier the agent installs (db_group_flush).  No network: what is
 * measured is the engine's transitions and their commits.
 */
#ifndef FELHOM_BENCH_TICK_EXEC_H
#define FELHOM_BENCH_TICK_EXEC_H

#include "base/err.h"
#include "store/db.h"

struct tick_bench;

/*
 * An engine on db (open, migrated) with engine_config.group_commit set
 * to group.  Caller frees with tick_bench_free.
 */
int	tick_bench_new(struct db *db, int group, struct tick_bench **out,
	    struct err *err);
void	tick_bench_free(struct tick_bench *tb);

/*
 * Makes n new benign start ops on guests 100..100+n-1 (not timed), then
 * steps the engine until every one has succeeded (timed).  Returns the
 * transitions made per second; *transitions and *commits (the WAL
 * commits of the timed part) filled.  The requests sent, each once, are
 * checked: exit(1) on any surprise.
 */
double	tick_bench_round(struct tick_bench *tb, int n, long *transitions,
	    long *commits);

#endif
