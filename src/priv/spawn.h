/*
 * spawn — the one place a process is started (R-08; DESIGN "priv/").
 *
 * A program runs with a fixed argv (argv[0] an absolute path, never a
 * shell), a fixed minimal environment (nothing inherited), stdin
 * /dev/null, in its own process group, every other descriptor closed;
 * its stdout (and stderr when asked) are read up to a cap each, the rest
 * drained and dropped; after the timeout, or when the abort flag is
 * raised, the whole group gets SIGTERM and, a grace period later,
 * SIGKILL.  The privileged helper runs pct, pvesm, smartctl and sensors
 * through it; the agent's unprivileged cloudflared probe does too.  No
 * other module of the project references fork, exec or posix_spawn (a
 * test checks the objects).
 */
#ifndef FELHOM_PRIV_SPAWN_H
#define FELHOM_PRIV_SPAWN_H

#include <signal.h>
#include <stddef.h>

#include "base/err.h"

/* The environment every spawned program gets, and nothing else. */
#define SPAWN_PATH	"PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_GRACE_MS	2000	/* SIGTERM → SIGKILL */

struct spawn_opts {
	const char *const	*argv;		/* argv[0] absolute; borrowed */
	long			 timeout_ms;	/* > 0 */
	size_t			 out_cap;	/* stdout bytes kept (>= 1) */
	size_t			 err_cap;	/* stderr kept; 0: discarded */
	volatile sig_atomic_t	*abort_flag;	/* may be NULL */
};

struct spawn_result {
	char	*out;		/* stdout, NUL-terminated, never NULL */
	size_t	 out_len;
	int	 out_truncated;	/* more than out_cap - 1 bytes came */
	char	*errtext;	/* stderr (err_cap > 0), else NULL */
	size_t	 err_len;
	int	 status;	/* exit code, or 128 + signal */
	int	 timed_out;	/* killed at the deadline or on abort */
};

/*
 * Runs o->argv and waits for it (polling its pipes; never longer than
 * the timeout plus the grace period).  0 with *r filled (caller frees
 * with spawn_result_reset) whenever the program ran, whatever its exit
 * status; ERR_NOT_FOUND when argv[0] is not an executable file,
 * ERR_INVALID for a bad argv, ERR_TIMEOUT (r filled too, timed_out set)
 * when it was killed, ERR_IO when it could not be started.
 */
int	spawn_run(const struct spawn_opts *o, struct spawn_result *r,
	    struct err *err);
void	spawn_result_reset(struct spawn_result *r);

#endif
