/*
 * collect — builds the host report: PVE reads (node
 * status, version, guests with their configs fetched concurrently,
 * storage, backups, PBS), the cloudflared probe, and the agent's own
 * sections from the database (agent, ops, audit).  The document's key set
 * is that of shared/fixtures/hub/host-report.golden.json.
 *
 * Partial failure: node status unreadable → no report (error;
 * the hub loop sends collect_minimal()'s degraded report instead);
 * a guest's config unreadable → that guest with its run status and
 * "spec": null; a storage's backups unreadable → skipped with a warning;
 * the storage list unreadable → storage, backups and pbs empty, warning.
 */
#ifndef FELHOM_AGENT_COLLECT_H
#define FELHOM_AGENT_COLLECT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/config.h"
#include "agent/health.h"
#include "base/err.h"
#include "pve/pve.h"
#include "store/db.h"

#define COLLECT_IN_FLIGHT_MAX	8	/* concurrent config reads */
#define COLLECT_AUDIT_MAX	1000	/* audit events per report */
#define COLLECT_PROBE_OUT_MAX	4096	/* bytes of a probe's stdout kept */
#define COLLECT_PROBE_TIMEOUT_MS 1500

/*
 * Runs a program read-only: fixed argv (argv[0] an absolute path), no
 * shell, stdin /dev/null, stderr discarded, a minimal environment
 * (PATH, LC_ALL=C); at most cap-1 bytes of stdout into out (NUL-
 * terminated, the rest drained and dropped); killed after timeout_ms or
 * when *abort_flag (may be NULL) is raised.  0 with *status_out the exit
 * status (128 + signal when killed by one); ERR_NOT_FOUND when argv[0]
 * is not an executable file, ERR_TIMEOUT, ERR_IO.
 */
int	collect_run(const char *const argv[], char *out, size_t cap,
	    long timeout_ms, volatile sig_atomic_t *abort_flag, int *status_out,
	    struct err *err);

/* The probe seam: tests pass a fake; NULL in collect_source = collect_run. */
typedef int (*collect_run_fn)(void *ctx, const char *const argv[], char *out,
    size_t cap, int *status_out, struct err *err);

struct collect_probe {
	collect_run_fn	 run;
	void		*ctx;
};

/* What the collector reads from; everything borrowed. */
struct collect_source {
	const struct config	*cfg;		/* host.id, host.node */
	struct pve_client	*pve;
	struct db		*db;
	const struct clock	*clock;		/* NULL = system */
	const struct collect_probe *probe;	/* NULL = collect_run */
	volatile sig_atomic_t	*abort_flag;	/* for the probe; may be NULL */
	int64_t			 started_mono_ms; /* agent start (uptime_s) */
	size_t			 in_flight;	/* config reads, 0 = max (8) */
	struct health		*health;	/* disks, sensors; NULL: none */
};

/* What one collection saw (self-test output, tests, logs). */
struct collect_stats {
	size_t	guests;
	size_t	spec_null;		/* guests whose config was unreadable */
	size_t	storages;
	size_t	storages_skipped;	/* backups unreadable */
	size_t	backups;
	size_t	pbs;
	size_t	ops;
	size_t	audit;
	int64_t	audit_max_seq;		/* highest seq in `audit`, 0 none */
	int	storage_list_failed;
};

/*
 * Builds the report into *out (caller decrefs) with every key except
 * `seq`, which the caller sets once it is persisted (hubloop).  stats
 * may be NULL.  A failure to read the node status is ERR_* from pve_
 * prefixed "node status: "; database failures pass up unchanged.
 */
int	collect_report(const struct collect_source *src, json_t **out,
	    struct collect_stats *stats, struct err *err);

/*
 * The degraded report (hub-contract v1.1) into *out (caller decrefs):
 * no PVE read at all — host null; guests, storage, backups and pbs
 * empty — the restore tests, agent, ops and audit sections from the
 * database (null values and empty lists when it cannot be read), and
 * cloudflared; every key but `seq`, agent.health "ok" until the caller
 * sets it.  Fails only on allocation failure (ERR_NOMEM).
 */
int	collect_minimal(const struct collect_source *src, json_t **out,
	    struct collect_stats *stats, struct err *err);

/*
 * The same collection without blocking (issue 17): collect_start()
 * submits the first reads on the PVE client's https multi; the caller
 * runs that multi (the daemon's loop) and calls collect_step(), which
 * never waits, until it returns 1; then collect_finish() builds the
 * report exactly as collect_report() would (and frees the job), or
 * collect_cancel() drops it.  collect_report() is start + step + run
 * until done.  The database sections, the helper's health reads and the
 * cloudflared probe run in collect_finish(): local, bounded, not PVE.
 */
struct collect_job;

int	collect_start(const struct collect_source *src,
	    struct collect_job **out, struct err *err);
int	collect_step(struct collect_job *j);
int	collect_finish(struct collect_job *j, json_t **out,
	    struct collect_stats *stats, struct err *err);
void	collect_cancel(struct collect_job *j);

/*
 * The cloudflared section {installed, active, version} through probe
 * (NULL = collect_run).  Never fails but on allocation failure (NULL).
 */
json_t	*collect_cloudflared(const struct collect_probe *probe,
	    volatile sig_atomic_t *abort_flag);

#endif
