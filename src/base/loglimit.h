/*
 * loglimit — bounded log volume for repeating conditions (issue 17, "The
 * loop": a condition such as "cannot poll", "hub down" or "PVE down" is
 * logged on change and then at a capped rate, not once a second per op).
 *
 * A limiter remembers the condition it saw last (a short key the caller
 * chooses: what failed and why, never the varying text) and when it last
 * let a line through.  A new condition is written at once; the same one
 * again only once per interval (default one minute), with the number of
 * occurrences held back since, so the log says "repeated N times".  When
 * the condition ends the caller says so, and a change back to it is
 * logged at once again.
 *
 * The caller owns the struct (one per repeating call site or condition
 * family) and passes the monotonic time: tests drive it with a fake
 * clock.  No global state.
 */
#ifndef FELHOM_BASE_LOGLIMIT_H
#define FELHOM_BASE_LOGLIMIT_H

#include <stdint.h>

#include "base/log.h"

#define LOGLIMIT_INTERVAL_MS	60000	/* at most one line a minute */
#define LOGLIMIT_KEY_MAX	96

struct loglimit {
	int64_t		 interval_ms;	/* 0: LOGLIMIT_INTERVAL_MS */
	char		 key[LOGLIMIT_KEY_MAX];	/* condition seen last, "" */
	int64_t		 last_ms;	/* monotonic ms of its last line */
	uint64_t	 held;		/* occurrences not written since */
};

/* An empty limiter (no condition seen) with that interval (0: default). */
void	loglimit_init(struct loglimit *ll, int64_t interval_ms);

/*
 * One occurrence of condition key (truncated to LOGLIMIT_KEY_MAX - 1) at
 * now_ms.  1 when the caller should write its line now — key differs
 * from the condition seen last, or interval_ms have passed since its last
 * line — with *held_out the occurrences held back since that line (0 on
 * a change); 0 when the line is to be held back (counted).
 */
int	loglimit_check(struct loglimit *ll, int64_t now_ms, const char *key,
	    uint64_t *held_out);

/*
 * The condition ended (the call succeeded again): returns the
 * occurrences held back and not told yet, and forgets the condition so
 * that its next occurrence is logged at once.
 */
uint64_t loglimit_end(struct loglimit *ll);

/*
 * loglimit_check() and, when it lets the line through, log_write() of
 * the message with " (repeated N times in the last S s)" appended when
 * occurrences were held back.  Returns 1 when a line was written.
 */
int	loglimit_write(struct loglimit *ll, int64_t now_ms, const char *key,
	    enum log_level level, const char *file, int line,
	    const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 8, 9)));

#define log_limited(ll, now_ms, key, lvl, ...) \
	loglimit_write((ll), (now_ms), (key), (lvl), __FILE__, __LINE__, \
	    __func__, __VA_ARGS__)

#endif
