/*
 * hubloop_int — what the report loop's two files share: hubloop.c (the
 * cycle's state machine, desired state, signed ops) and hubreport.c (one
 * report: its seq, fallback, envelope, the last report kept).  Internal
 * to the agent; nothing outside src/agent/hub*.c includes it.
 */
#ifndef FELHOM_AGENT_HUBLOOP_INT_H
#define FELHOM_AGENT_HUBLOOP_INT_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "agent/collect.h"
#include "agent/heartbeat.h"
#include "agent/hubloop.h"
#include "base/err.h"
#include "base/loglimit.h"
#include "hub/hub.h"

struct file_id {
	int		 seen;		/* a stat was recorded */
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
};

enum cyc_state {
	CYC_IDLE,
	CYC_COLLECT,		/* the report's PVE reads */
	CYC_REPORT,		/* POST /report */
	CYC_DESIRED,		/* GET /desired */
	CYC_SIGNED_OPS,		/* GET /signed-ops */
};

struct hubloop {
	struct hubloop_deps	 d;
	struct hubloop_params	 p;
	struct hubloop_rand	 rand;
	uint64_t		 rstate;	/* default generator */
	int64_t			 next_due_ms;
	int64_t			 last_start_ms;	/* last report attempt, -1 */
	enum hubloop_outcome	 last_outcome;
	struct file_id		 file;		/* desired_file last read */
	int			 file_missing_logged;
	struct hubloop_status	 st;
	enum hubloop_phase	 fail_phase;	/* of the last cycle */
	struct err		 fail;		/* its first failure */
	struct heartbeat	 hb;		/* agent.health (v1.1) */
	int64_t			 seq_mem;	/* highest seq sent uncommitted */
	int64_t			 seq_hwm;	/* report_seq this loop stored */
	int64_t			 seq_last;	/* last seq taken, <= seq_hwm */
	int			 lastrep_failed; /* last write failed, logged */
	struct loglimit		 fail_log;	/* repeating failures */
	/* The cycle in progress (issue 17: a state machine, never a wait). */
	enum cyc_state		 cs;
	struct collect_job	*job;
	struct hub_req		*req;
	struct hubloop_report_info info;
	char			*body;		/* the report as sent */
	enum hubloop_outcome	 o;
	long			 ra;
	int64_t			 rejected;	/* desired_rejected before */
	int			 poked;		/* a poke during the cycle */
	int			 rc;		/* the cycle's result */
	struct err		 err;
};

/* The unused rest of the reserved seq block given back (a clean stop). */
void	seq_release(struct hubloop *hl);
/*
 * A report that could not be collected: with degrade, the minimal report
 * instead (info->degraded).  Returns 0 when there is a report.
 */
int	report_fallback(struct hubloop *hl, int degrade, int crc,
	    const struct err *cerr, struct hubloop_report_info *info,
	    struct err *err);
/*
 * After a built (or minimal) report: its seq taken, its agent.health
 * set, *body its text.
 */
int	report_prepare(struct hubloop *hl, int degrade,
	    struct hubloop_report_info *info, char **body, struct err *err);
/*
 * After POST /report answered (rc, err): the seq given back or the
 * envelope applied.  Returns 0 when the hub took the report.
 */
int	report_posted(struct hubloop *hl, int degrade,
	    struct hubloop_report_info *info, const char *body, int rc,
	    struct err *err);

#endif
