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

struct retain {
	int64_t		due_ms;		/* monotonic; 0: at once */
	int		failing;	/* the last step failed (logged once) */
};

/*
 * One step when due (mono_ms, monotonic) of ops that ended before
 * now - retention_days; returns the ms until the next is due.
 */
int64_t	retain_tick(struct retain *r, struct db *db, const struct config *cfg,
	    int64_t mono_ms, int64_t now);

#endif
