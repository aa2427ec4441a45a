/*
 * hubloop — the report loop as a non-blocking timer.
 *
 * The daemon's single-threaded loop asks hubloop_next_due_ms() when the
 * next hub cycle is due (monotonic ms) and calls hubloop_cycle() then;
 * nothing here sleeps.  One cycle with hub.mode "on": collect the report,
 * persist its seq, POST /report, apply the envelope (blocked, poll
 * interval, audit ack — persisted in kv), then GET /desired when the hub
 * announces a newer generation and GET /signed-ops when it has some
 * (kept by the hub until a report acknowledges their seq: v1.1).
 * The heartbeat always tells (hub-contract v1.1): when the node status
 * cannot be read, the database cannot commit or PVE's certificate
 * changed, the cycle still sends a report — minimal when the collection
 * failed — with agent.health degraded and its cause (agent/heartbeat.h);
 * its seq is kept in memory when the database cannot commit, and the
 * next committed seq jumps past it.
 * Quiet when nothing changes (issue 15): seqs are reserved in blocks —
 * kv report_seq is a high-water mark committed before any seq up to it
 * is sent, and a new process (or this one after another writer such as
 * --selftest=hub moved the mark) numbers on past the stored mark, so a
 * crash only skips seqs, never reuses one; a clean stop gives the unused
 * rest back.  The envelope's effects are written only when they change,
 * and the last report the hub took goes to "<db>.last-report"
 * (store/lastrep.h), not the database: a steady cycle commits nothing.  A degraded cycle is retried on the
 * failure backoff and logged on change, then once a minute
 * (base/loglimit.h).
 * With hub.mode "off" a cycle re-reads desired_file when it changed
 * (inode, size or mtime) and stores it the same way (standalone mode).
 *
 * Timing: report at once on start, then every poll_interval_seconds
 * clamped to [60, 3600] with a ±10% jitter (clamped too); after a
 * failure exponential backoff from 5 s doubling up to the interval, with
 * full jitter applied after the cap; Retry-After honoured (capped at
 * 3600 s); 401/403 → the maximum interval; hubloop_poke() brings the next
 * report forward, debounced to once per 10 s.
 *
 * Clock and randomness are seams (struct clock, struct hubloop_rand) so
 * the timer math is tested deterministically.
 */
#ifndef FELHOM_AGENT_HUBLOOP_H
#define FELHOM_AGENT_HUBLOOP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/collect.h"
#include "agent/heartbeat.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "hub/hub.h"
#include "store/db.h"

/* Random 64-bit values (the jitter).  Tests pass a fixed sequence. */
typedef uint64_t (*hubloop_rand_fn)(void *ctx);

struct hubloop_rand {
	hubloop_rand_fn	 next;
	void		*ctx;
};

struct hubloop_params {
	int64_t	min_interval_ms;	/* 60000: clamp floor */
	int64_t	max_interval_ms;	/* 3600000: clamp ceiling, auth wait */
	int64_t	default_interval_ms;	/* 300000: before any envelope */
	int64_t	backoff_base_ms;	/* 5000: first backoff cap */
	int64_t	retry_floor_ms;		/* 1000: least wait after a failure */
	int64_t	debounce_ms;		/* 10000: pokes at most this often */
	int64_t	file_check_ms;		/* 5000: desired_file stat period */
	int	jitter_pct;		/* 10: regular interval ±% */
	int64_t	seq_block;		/* 1000: seqs reserved per commit */
};

/*
 * The defaults above.  Test builds (FELHOM_TESTING) only, hidden from
 * release builds: FELHOM_TEST_MIN_INTERVAL_MS=N (integer >= 100) sets the
 * clamp floor, the debounce and the desired_file check period to N ms and
 * the retry floor to N/10 ms; FELHOM_TEST_BACKOFF_BASE_MS=N sets the
 * backoff base — so integration tests (and a test daemon) can watch
 * several cycles in seconds.
 */
void	hubloop_params_default(struct hubloop_params *p);

/* What a cycle's outcome means for the schedule. */
enum hubloop_outcome {
	HUBLOOP_OK,		/* regular interval with jitter */
	HUBLOOP_FAILED,		/* backoff with full jitter */
	HUBLOOP_RETRY_AFTER,	/* the hub's Retry-After */
	HUBLOOP_AUTH,		/* token refused: maximum interval */
	HUBLOOP__COUNT
};

/* Poll interval from the envelope (seconds) → ms clamped to the bounds. */
int64_t	hubloop_clamp_interval_ms(const struct hubloop_params *p,
	    int64_t seconds);

/*
 * The delay before the next cycle (pure): interval_ms is the current
 * regular interval, failures the consecutive failures including this
 * one (HUBLOOP_FAILED), retry_after_s the hub's value, r a random value.
 *   OK:          interval ± jitter_pct, clamped to [min, max]
 *   FAILED:      cap = min(base * 2^(failures-1), interval);
 *                uniform in [0, cap], at least min(retry_floor, cap)
 *   RETRY_AFTER: min(retry_after_s, 3600) s, at least retry_floor
 *   AUTH:        max_interval - up to jitter_pct
 */
int64_t	hubloop_delay_ms(const struct hubloop_params *p,
	    enum hubloop_outcome outcome, int64_t interval_ms, int failures,
	    long retry_after_s, uint64_t r);

/* Maps a hub failure (err->reason) to its outcome. */
enum hubloop_outcome hubloop_outcome_of(const struct err *err);

/* Everything borrowed; lives as long as the hubloop. */
struct hubloop_deps {
	const struct config	*cfg;		/* host.id, hub.mode, desired_file */
	struct db		*db;
	struct hub_client	*hub;		/* NULL when hub.mode is off */
	const struct collect_source *collect;	/* hub.mode on */
	const struct clock	*clock;		/* NULL = system */
	const struct hubloop_rand *rand;	/* NULL = getrandom-seeded */
	const struct hubloop_params *params;	/* NULL = defaults */
};

/* Counters and last facts, for self-tests, tests and felhom-admin. */
struct hubloop_status {
	int64_t	 reports_ok;		/* the hub took them */
	int64_t	 reports_degraded;	/* of which: degraded (v1.1) */
	int64_t	 reports_failed;	/* collection or POST failed */
	int64_t	 collect_failed;	/* of which: no report built */
	int64_t	 last_seq;		/* seq of the last report sent */
	int	 last_reason;		/* enum hub_error of the last failure */
	int	 failures;		/* consecutive */
	int64_t	 interval_ms;		/* current regular interval */
	int	 blocked;
	int64_t	 desired_generation;	/* stored (kv) */
	int64_t	 desired_stored;	/* documents stored by this loop */
	int64_t	 desired_rejected;
	int64_t	 desired_unchanged;	/* 304 / 204 / same file */
	int64_t	 signed_ops_stored;	/* inbox rows written */
	int64_t	 signed_ops_held;	/* served again, ignored (v1.1) */
	int64_t	 follow_up_failed;	/* desired / signed-ops fetches */
	char	 health_cause[HEARTBEAT_CAUSE_MAX]; /* last report's, "" ok */
};

struct hubloop;

/*
 * Reads the persisted state (blocked, poll interval) and schedules the
 * first cycle at once.  Caller frees with hubloop_free().
 */
int	hubloop_new(const struct hubloop_deps *deps, struct hubloop **out,
	    struct err *err);
void	hubloop_free(struct hubloop *hl);

/* Monotonic ms at which hubloop_cycle() is due (<= now: due now). */
int64_t	hubloop_next_due_ms(const struct hubloop *hl);

/*
 * Runs one cycle now and schedules the next; logs its own outcome (the
 * caller need not log again).  0 when the full report went through (hub
 * mode) or the desired_file check ran; otherwise the report's typed
 * error, or for a degraded report the hub took, its cause's (follow-up
 * fetch failures are logged and counted, not returned).
 * An error with reason HUB_E_ABORTED means the abort flag was raised.
 */
int	hubloop_cycle(struct hubloop *hl, struct err *err);

/*
 * The same cycle without blocking (issue 17).  hubloop_tick() starts a
 * cycle when one is due (or force) and moves the one in progress as far
 * as the exchanges completed so far allow — the report's PVE reads, the
 * POST, the follow-up GETs run as requests on the PVE client's https
 * multi, which the caller's loop polls (the hub client runs on the same
 * multi).  HUBLOOP_ENDED: the cycle ended in this call, *rc_out (may be
 * NULL) and err as hubloop_cycle() returns them.  hubloop_cycle() is a
 * forced tick run to its end.  hub.mode "off": the desired_file check,
 * local and short, ends within the tick.
 */
enum hubloop_progress {
	HUBLOOP_IDLE,		/* nothing due, nothing in progress */
	HUBLOOP_RUNNING,	/* waiting for an exchange */
	HUBLOOP_ENDED,
};

enum hubloop_progress hubloop_tick(struct hubloop *hl, int force,
	    int *rc_out, struct err *err);
/* 1 while a cycle is in progress. */
int	hubloop_busy(const struct hubloop *hl);

/*
 * An op ended or entered pending_signature: report soon — not before
 * debounce_ms after the last report started, and never earlier than a
 * backoff, Retry-After or auth wait already scheduled.  During a cycle
 * in progress it applies when that cycle ends.
 */
void	hubloop_poke(struct hubloop *hl);

/* 1 while the hub says blocked: no mutation of any kind. */
int	hubloop_blocked(const struct hubloop *hl);

const struct hubloop_status *hubloop_status(const struct hubloop *hl);

/* What failed in the last cycle (hubloop_last_failure). */
enum hubloop_phase {
	HUBLOOP_PHASE_NONE,		/* the cycle went through */
	HUBLOOP_PHASE_COLLECT,		/* no report built (PVE, database) */
	HUBLOOP_PHASE_REPORT,		/* POST /report or its envelope */
	HUBLOOP_PHASE_DESIRED,		/* GET /desired failed */
	HUBLOOP_PHASE_DESIRED_INVALID,	/* a desired state rejected */
	HUBLOOP_PHASE_SIGNED_OPS,	/* GET /signed-ops failed */
	HUBLOOP_PHASE__COUNT
};

/* "collect", "report", "desired", "desired_invalid", "signed_ops". */
const char *hubloop_phase_name(enum hubloop_phase p);

/*
 * The first failure of the last hubloop_cycle() — including the
 * follow-up fetches and a rejected desired state, which the cycle only
 * logs — and its phase; HUBLOOP_PHASE_NONE (err code 0) when it all
 * went through.  Borrowed until the next cycle.
 */
enum hubloop_phase hubloop_last_failure(const struct hubloop *hl,
	    const struct err **err_out);

/* One report round trip, for --selftest=hub. */
struct hubloop_report_info {
	json_t			*report;	/* as built; caller decrefs */
	int			 built;		/* a report was collected */
	size_t			 bytes;		/* body size */
	int64_t			 seq;		/* 0 when none was taken */
	enum hub_delivery	 delivery;	/* of the POST */
	int			 seq_returned;	/* seq given back: not sent */
	int			 collect_failed; /* the full report failed */
	int			 degraded;	/* sent degraded (the loop) */
	int			 seq_in_memory;	/* the database cannot commit */
	int			 db_unwritable;	/* its file system full or
						   read-only (statvfs) */
	struct err		 cause;		/* why degraded */
	struct collect_stats	 stats;
	struct hub_envelope	 env;		/* as received */
};

/*
 * Collects, takes the next seq, POSTs and applies the envelope's
 * persisted effects — never degraded: a failure to collect or to commit
 * the seq is returned — (blocked, interval, audit ack; the report and its
 * envelope as the last sent) — no follow-up fetches, no scheduling.
 * info->report is set whenever a report was built.  A seq is consumed
 * only by a report the hub may have taken: when it certainly did not
 * (never sent, or refused with an HTTP error) the seq is given back,
 * unless another writer took a newer one meanwhile (info->seq_returned).
 */
int	hubloop_report_once(struct hubloop *hl, struct hubloop_report_info *info,
	    struct err *err);

#endif
