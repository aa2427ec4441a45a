/*
 * retain — runs the retention move (store/archive) from the loop's idle
 * time (issue 15): one small step when due, the next soon after while
 * there is more to move, else once a minute (a check that only reads).
 */
#ifndef FELHOM_AGENT_RETAIN_H
#define FELHOM_AGENT_RETAIN_H

#include <stdint.h>

#include "base/config.h"
#include "store/db.h"

/* Between two steps while ops are due; when nothing was (ms). */
#define RETAIN_BUSY_MS		250
#define RETAIN_IDLE_MS		60000

/* A long move says how far it got at most this often (ms). */
#define RETAIN_PROGRESS_MS	60000

struct retain {
	int64_t		due_ms;		/* monotonic; 0: at once */
	int		failing;	/* the last step failed (logged once) */
	/*
	 * The move in progress, logged once when the backlog is done (and
	 * at most once a RETAIN_PROGRESS_MS while it goes on), not once a
	 * step: a backlog of 100,000 ops is 6,250 steps.
	 */
	size_t		ops, journal, audit, steps;
	int64_t		longest_ms;	/* the longest step */
	int64_t		logged_ms;	/* monotonic: the last progress line */
	char		file[256];	/* where the last step moved rows */
};

/*
 * One step when due (mono_ms, monotonic) of ops that ended before
 * now - retention_days; returns the ms until the next is due.
 */
int64_t	retain_tick(struct retain *r, struct db *db, const struct config *cfg,
	    int64_t mono_ms, int64_t now);

#endif
