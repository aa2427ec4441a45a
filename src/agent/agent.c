/*
 * agent — start-up and the daemon loop (DESIGN.md "One thread, no
 * blocking waits"; ).
 *
 * Start-up: the exclusive lock, the database (checked, migrated), the
 * signer set seeded from the allowed_signers files on first start, the
 * clients, then recovery of every op in flight before any new work.
 *
 * The loop, on one thread: the hub cycle moves as far as its exchanges
 * allow (report, envelope, desired state, signed ops — or the
 * desired_file in standalone mode; issue 17: it never waits) → observe
 * PVE and plan when due → step every lane once → wait on the one https
 * multi (every PVE and hub transfer) until the next timer, a completed
 * exchange or a signal.  Signal handlers set flags and write to a
 * self-pipe the poll watches.
 *
 * Under systemd: READY=1 once recovery is done, STATUS= lines
 * saying what the loop is at, WATCHDOG=1 from every turn of the loop,
 * STOPPING=1 on SIGTERM/SIGINT (the transition under way finishes, the
 * loop ends, exit 0), RELOADING=1 and READY=1 around a SIGHUP.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/collect.h"
#include "agent/health.h"
#include "agent/hubloop.h"
#include "agent/notify.h"
#include "agent/reload.h"
#include "agent/retain.h"
#include "agent/selftest.h"
#include "agent/selftest_hub.h"
#include "base/clock.h"
#include "base/crash.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "base/loglimit.h"
#include "engine/engine.h"
#include "engine/exec_pve.h"
#include "engine/gate.h"
#include "engine/intake.h"
#include "engine/rtest.h"
#include "hub/hub.h"
#include "net/https.h"
#include "priv/priv.h"
#include "pve/pve.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/dbstate.h"
#include "store/ops.h"
#include "store/rtests.h"

/* How often the engine re-reads PVE and plans (ms). */
#define AGENT_RECONCILE_MS	15000
/* Longest wait of the loop when nothing is due (ms). */
#define AGENT_IDLE_MAX_MS	1000

static volatile sig_atomic_t agent_stop;
static volatile sig_atomic_t agent_reload;
/* The write end of the self-pipe that wakes the loop's poll. */
static volatile sig_atomic_t agent_wake_fd = -1;

/* Async-signal-safe: one byte into the non-blocking self-pipe. */
static void
wake_loop(void)
{
	int saved = errno;
	char b = 1;

	if (agent_wake_fd >= 0 && write(agent_wake_fd, &b, 1) < 0)
		b = 0;	/* full: a wake-up is pending anyway */
	errno = saved;
}

static void
on_stop(int sig)
{
	(void) sig;
	agent_stop = 1;
	wake_loop();
}

static void
on_hup(int sig)
{
	(void) sig;
	agent_reload = 1;
	wake_loop();
}

int
agent_list_crashpoints(FILE *f)
{
#ifdef FELHOM_TESTING
	return crash_list(f);
#else
	fprintf(f, "(this build has no crash points: configure with "
	    "-DFELHOM_TESTING=ON)\n");
	return 0;
#endif
}

/*
 * Test builds (FELHOM_TESTING) only, hidden from release builds:
 * FELHOM_TEST_UNKNOWN_WINDOW_MS=N (>= 100) shortens the unknown-outcome
 * window, FELHOM_TEST_CONVERGE_BASE_S=N (>= 1) the re-convergence backoff,
 * FELHOM_TEST_POLL_MS=N (>= 50) the task poll period, so end-to-end
 * tests and the crash matrix run in seconds.
 */
static void
engine_test_overrides(struct engine_config *ec)
{
#ifdef FELHOM_TESTING
	const char *v;
	char *end;
	long long n;

	if ((v = getenv("FELHOM_TEST_UNKNOWN_WINDOW_MS")) != NULL &&
	    (n = strtoll(v, &end, 10)) >= 100 && *end == '\0')
		ec->unknown_window_ms = n;
	if ((v = getenv("FELHOM_TEST_CONVERGE_BASE_S")) != NULL &&
	    (n = strtoll(v, &end, 10)) >= 1 && *end == '\0')
		ec->converge_base_s = n;
	if ((v = getenv("FELHOM_TEST_POLL_MS")) != NULL &&
	    (n = strtoll(v, &end, 10)) >= 50 && *end == '\0')
		ec->poll_interval_ms = n;
#else
	(void) ec;
#endif
}

struct agent {
	const struct config	*cfg;
	const struct agent_options *ao;
	struct db		*db;
	struct pve_client	*pve;
	struct exec_pve		*xpve;
	struct exec		 exec;
	struct gate		*gate;
	struct engine		*engine;
	struct rtest		*rtest;		/* restore tests */
	struct hub_client	*hub;
	struct priv_client	*priv;		/* NULL: priv.mode off */
	struct health		*health;
	struct collect_source	 src;
	struct hubloop		*hl;
	struct notify		 nt;		/* systemd or no-ops */
	struct https_multi	*multi;		/* every PVE and hub exchange */
	int			 wake[2];	/* self-pipe, -1 when none */
	int64_t			 reconcile_due;	/* monotonic ms */
	int			 observing;	/* an observation pends */
	int			 lockfd;
	struct db_lock_info	 lock;		/* before this start */
	int			 wal_missing;	/* <db>-wal gone at start */
	char			 db_id[DBSTATE_ID_LEN];
	int64_t			 audit_seen;	/* the marker's audit seq */
	int			 once_status;	/* --once: first failure's */
	struct err		 once_err;	/* and why */
	size_t			 in_flight;	/* for STATUS= */
	/* Repeating failures: on change, then once a minute (issue 17). */
	struct loglimit		 lim_observe, lim_engine, lim_rtest, lim_note;
	struct retain		 retain;	/* issue 15: archive moves */
	int64_t			 reconcile_ms;	/* AGENT_RECONCILE_MS */
	uint64_t		 cycles;	/* reconciles planned */
};

/* A failure's kind, the key of its loglimit: never its varying text. */
static const char *
err_key(const struct err *err, char *key, size_t n)
{
	(void) snprintf(key, n, "%d:%d:%ld", err->code, err->reason,
	    err->status);
	return key;
}

/*
 * The reconcile period; FELHOM_TEST_RECONCILE_MS=N (>= 50, FELHOM_TESTING
 * builds only) shortens it so that a test sees many cycles in seconds.
 */
static int64_t
reconcile_period_ms(void)
{
#ifdef FELHOM_TESTING
	const char *v;
	char *end;
	long long n;

	if ((v = getenv("FELHOM_TEST_RECONCILE_MS")) != NULL &&
	    (n = strtoll(v, &end, 10)) >= 50 && *end == '\0')
		return n;
#endif
	return AGENT_RECONCILE_MS;
}

/*
 * --once: the first failure of the run decides its exit status
 * (base/exitcode.h) and is said on stderr at the end.
 */
static void
once_failed(struct agent *a, int status, const struct err *err,
    const char *what)
{
	if (!a->ao->once || a->once_status != 0)
		return;
	a->once_status = status;
	err_init(&a->once_err);
	(void) err_set(&a->once_err, err->code, "%s: %s", what, err_msg(err));
}

/* After a hub cycle: a failure of any of its parts fails --once. */
static void
once_check_cycle(struct agent *a)
{
	const struct err *err;
	enum hubloop_phase p = hubloop_last_failure(a->hl, &err);

	switch (p) {
	case HUBLOOP_PHASE_NONE:
		return;
	case HUBLOOP_PHASE_DESIRED_INVALID:
		once_failed(a, EX_DATAERR, err, "desired state invalid");
		return;
	case HUBLOOP_PHASE_COLLECT:
		/* PVE's failure, or the database's. */
		once_failed(a, exitcode_of(err->code) == EX_NOINPUT ?
		    EX_UNAVAILABLE : exitcode_of(err->code), err,
		    "report not built");
		return;
	default:
		/* The hub refused or could not be reached. */
		once_failed(a, exitcode_of(err->code) == EX_IOERR ||
		    exitcode_of(err->code) == EX_TEMPFAIL ?
		    exitcode_of(err->code) : EX_UNAVAILABLE, err, p ==
		    HUBLOOP_PHASE_REPORT ? "hub report" : p ==
		    HUBLOOP_PHASE_DESIRED ? "hub desired state" :
		    "hub signed-ops");
		return;
	}
}

static int
decide_adapter(void *ctx, const struct ops_row *op, struct err *err)
{
	struct gate_result res;

	gate_result_init(&res);
	return gate_decide(ctx, op, &res, err);
}

static int
run_host_adapter(void *ctx, const struct ops_row *op, struct err *err)
{
	return gate_run_host_op(ctx, op, err);
}

/*
 * Signed ops received from the hub: verified and turned into ops (or
 * approvals) here, each entry on its own.
 */
static void
agent_intake(struct agent *a, int blocked)
{
	struct intake_stats st;
	struct err err;

	err_init(&err);
	memset(&st, 0, sizeof(st));
	if (intake_run(a->gate, blocked, &st, &err) != 0) {
		log_error("intake: %s", err_msg(&err));
		return;
	}
	if (st.entries > 0)
		log_info("intake: %zu signed-ops entr%s: %zu authorized, %zu "
		    "pending, %zu rejected", st.entries, st.entries == 1 ?
		    "y" : "ies", st.authorized, st.pending, st.rejected);
}

static void
agent_reset(struct agent *a)
{
	rtest_free(a->rtest);
	engine_free(a->engine);
	gate_free(a->gate);
	hubloop_free(a->hl);
	hub_client_free(a->hub);
	health_free(a->health);
	exec_pve_free(a->xpve);
	priv_client_free(a->priv);
	pve_client_free(a->pve);
	db_close(a->db);
}

/*
 * base/barrier.h: before a request leaves (the multi, the helper), what
 * the engine step recorded for it is durable.
 */
static int
agent_barrier(void *ctx, struct err *err)
{
	int rc;

	if ((rc = db_group_flush(ctx, err)) != 0)
		return err_prefix(err, "not sent, its record is not durable: ");
	return 0;
}

static int
agent_start(struct agent *a, struct err *err)
{
	struct hubloop_deps deps;
	struct hub_options ho;
	struct engine_recovery rec;
	struct engine_config ec;
	struct rtest_config rc_cfg;
	struct gate_config gc;
	struct err nerr;
	int rc, version;

	struct dbstate_verdict dv;
	int64_t now;
	size_t held = 0;
	int created = 0, unclean = a->lock.existed && a->lock.running;

	/* a database is never replaced silently. */
	if ((rc = dbstate_ensure(a->cfg->database, &a->lock, clock_now(NULL),
	    &created, err)) != 0)
		return err_prefix(err, "database: ");
	if (created)
		log_info("no database and no sign of one ever here: created %s "
		    "(nonce floor now)", a->cfg->database);
	if (unclean)
		log_warn("the previous run ended uncleanly: full integrity "
		    "check of %s", a->cfg->database);
	/* the full check after an unclean shutdown only. */
	err_init(&nerr);
	(void) notify_status(&a->nt, "starting: opening the database", &nerr);
	if ((rc = db_open(a->cfg->database, DB_OPEN_MIGRATE | (unclean ?
	    DB_OPEN_CHECK : 0), &a->db, err)) != 0 ||
	    (rc = db_schema_version(a->db, &version, err)) != 0)
		return err_prefix(err, "database: ");
	/* Another writer holding it cannot hold up a stop (issue 17). */
	db_set_abort(a->db, &agent_stop);
	log_info("felhom-agent %s: database %s at schema %d", FELHOM_VERSION,
	    a->cfg->database, version);
	now = clock_now(NULL);
	/* past anything a lost state may have accepted. */
	if ((rc = dbstate_check(a->db, a->cfg->database, unclean,
	    a->wal_missing && !created, now, now + 1 +
	    a->cfg->authz_clock_skew_s, &dv, err)) != 0 ||
	    (rc = db_lock_mark(a->lockfd, "running", dv.db_id, err)) != 0 ||
	    (rc = audit_last_seq(a->db, &a->audit_seen, err)) != 0)
		return err_prefix(err, "database: ");
	(void) snprintf(a->db_id, sizeof(a->db_id), "%s", dv.db_id);
	if (dv.restored)
		log_warn("database restored or lost commits: %s; signed ops "
		    "from before now are refused (nonce floor), destructive "
		    "ops are held for a new signature", dv.why);
	/* the files seed the signer set once; then the database is it. */
	if ((rc = gate_signers_seed(a->db, a->cfg, clock_now(NULL), NULL,
	    err)) != 0)
		return err_prefix(err, "signers: ");
	if (a->cfg->pve_insecure)
		log_warn("pve.insecure is true: the Proxmox API certificate is "
		    "NOT verified; set pve.fingerprint or pve.ca_file");
	if ((rc = https_global_init(err)) != 0 ||
	    (rc = pve_client_from_config(a->cfg, &agent_stop, &a->pve,
	    err)) != 0 ||
	    (rc = exec_pve_new(a->pve, a->cfg->host_node, &a->xpve, err)) != 0)
		return rc;
	/*
	 * Issue 17: one multi for every exchange, polled by the loop; a
	 * signal wakes its poll (and any blocking wait) through the pipe.
	 */
	a->multi = pve_client_multi(a->pve);
	https_multi_set_wake_fd(a->multi, a->wake[0]);
	/*
	 * Issue 15: an engine step's transitions commit together; nothing
	 * they ask leaves before they are durable (base/barrier.h).
	 */
	https_multi_set_barrier(a->multi, agent_barrier, a->db);
	/* the privileged helper, when the host has it. */
	if (a->cfg->priv_on && (rc = priv_client_new(a->cfg->priv_socket,
	    &a->priv, err)) != 0)
		return rc;
	if (a->priv != NULL)
		priv_client_set_barrier(a->priv, agent_barrier, a->db);
	if ((rc = health_new(a->priv, a->cfg->priv_sysfs_root, HEALTH_TTL_MS,
	    &a->health, err)) != 0 ||
	    (rc = exec_pve_set_priv(a->xpve, a->priv, err)) != 0)
		return rc;
	exec_pve_bind(a->xpve, &a->exec);
	gate_config_from(a->cfg, &gc);
	if ((rc = gate_new(a->db, &gc, clock_system(), &a->exec,
	    &a->gate, err)) != 0)
		return rc;
	if (dv.restored) {
		/* a restored state may have run them already. */
		if ((rc = gate_hold_for_review(a->gate, &held, err)) != 0)
			return err_prefix(err, "review hold: ");
		if (held > 0)
			log_warn("%zu destructive op(s) held for review: each "
			    "needs a new signature", held);
	}
	/* The gate decides every new op and records provenance. */
	memset(&ec, 0, sizeof(ec));
	ec.sign_window_s = a->cfg->authz_sign_request_ttl_s;
	/*
	 * an answer lost to the client's own timeout may still take
	 * effect until PVE's 30 s proxy timeout has passed on top of it.
	 */
	ec.unknown_window_ms = (a->cfg->pve_timeout_s + 30) * 1000;
	if (ec.unknown_window_ms < 60000)
		ec.unknown_window_ms = 60000;
	engine_test_overrides(&ec);
	ec.decide = decide_adapter;
	ec.decide_ctx = a->gate;
	ec.run_host = run_host_adapter;
	ec.run_host_ctx = a->gate;
	ec.transition_hook = gate_provenance_hook;
	ec.sysfs_root = a->cfg->priv_sysfs_root;
	ec.group_commit = 1;
	if ((rc = engine_new(a->db, &a->exec, clock_system(), &ec,
	    &a->engine, err)) != 0)
		return rc;
	memset(&rc_cfg, 0, sizeof(rc_cfg));
	rc_cfg.hold_s = a->cfg->rt_hold_s;
	rc_cfg.transition_hook = gate_provenance_hook;
	if ((rc = rtest_new(a->db, &a->exec, clock_system(), &rc_cfg,
	    &a->rtest, err)) != 0)
		return rc;
	if (a->cfg->hub_on) {
		memset(&ho, 0, sizeof(ho));
		ho.url = a->cfg->hub_url;
		ho.token = a->cfg->hub_token;
		ho.ca_file = a->cfg->hub_ca_file;
		ho.abort_flag = &agent_stop;
		ho.multi = a->multi;
		if ((rc = hub_client_new(&ho, &a->hub, err)) != 0)
			return rc;
	}
	memset(&a->src, 0, sizeof(a->src));
	a->src.cfg = a->cfg;
	a->src.pve = a->pve;
	a->src.db = a->db;
	a->src.abort_flag = &agent_stop;
	a->src.started_mono_ms = clock_mono_ms(NULL);
	a->src.health = a->health;
	memset(&deps, 0, sizeof(deps));
	deps.cfg = a->cfg;
	deps.db = a->db;
	deps.hub = a->hub;
	deps.collect = &a->src;
	if ((rc = hubloop_new(&deps, &a->hl, err)) != 0)
		return rc;
	/* every op in flight is resumed or finished before new work
	 * (engine_recover logs what it found). */
	memset(&rec, 0, sizeof(rec));
	(void) notify_status(&a->nt, "starting: recovering operations in "
	    "flight", &nerr);
	if ((rc = engine_recover(a->engine, &rec, err)) != 0)
		return err_prefix(err, "recovery: ");
	/* A restore test cut short by the crash is failed and cleaned up. */
	if ((rc = rtest_recover(a->rtest, NULL, err)) != 0)
		return err_prefix(err, "recovery: ");
	/*
	 * Issue 17: from now on the lanes' and observe's PVE calls never
	 * wait (recovery above did, before READY), --once's too.
	 */
	exec_pve_set_async(a->xpve, 1);
	a->reconcile_due = clock_mono_ms(NULL);
	a->reconcile_ms = reconcile_period_ms();
	return 0;
}

/*
 * the marker follows the newest audit seq committed, so a copy
 * restored later (or a lost -wal) shows as behind it.
 */
static void
agent_note(struct agent *a)
{
	char key[LOGLIMIT_KEY_MAX];
	struct err err;

	err_init(&err);
	if (dbstate_note(a->db, a->cfg->database, &a->audit_seen, &err) != 0)
		(void) log_limited(&a->lim_note, clock_mono_ms(NULL),
		    err_key(&err, key, sizeof(key)), LOG_LEVEL_WARN,
		    "database marker: %s; trying again", err_msg(&err));
	else
		(void) loglimit_end(&a->lim_note);
}

/*
 * Observe PVE and plan; planning is skipped while blocked or unsafe.
 * 1 while the observation's reads are in flight (issue 17: called again
 * on the loop's next turns until it is done), else 0.
 */
static int
agent_reconcile(struct agent *a, int blocked)
{
	char key[LOGLIMIT_KEY_MAX];
	struct err err;
	size_t created = 0;
	int safe = 0, rc;

	err_init(&err);
	if ((rc = engine_observe(a->engine, &safe, &err)) == ERR_PENDING)
		return 1;
	if (rc != 0) {
		(void) log_limited(&a->lim_observe, clock_mono_ms(NULL),
		    err_key(&err, key, sizeof(key)), LOG_LEVEL_WARN,
		    "reconcile: cannot observe PVE: %s; planning skipped this "
		    "cycle", err_msg(&err));
		once_failed(a, exitcode_of(err.code) == EX_NOINPUT ?
		    EX_UNAVAILABLE : exitcode_of(err.code), &err,
		    "cannot observe PVE");
		return 0;
	}
	(void) loglimit_end(&a->lim_observe);
	if (!safe || blocked)
		return 0;
	if (engine_plan(a->engine, &created, &err) != 0) {
		log_error("reconcile: planning failed: %s", err_msg(&err));
		once_failed(a, exitcode_of(err.code), &err, "planning");
		return 0;
	}
	if (created > 0)
		log_info("reconcile: %zu new operation(s)", created);
	/* A mark per cycle at debug level (bench-memory counts them). */
	log_debug("reconcile: cycle %" PRIu64 " done", ++a->cycles);
#ifdef __GLIBC__
	/* The cycle's transient memory goes back to the kernel (issue 15). */
	(void) malloc_trim(0);
#endif
	return 0;
}

/*
 * Waits up to ms for a signal or a completed PVE/hub exchange, moving
 * every transfer meanwhile (issue 17: the loop's one poll); never longer
 * than AGENT_IDLE_MAX_MS, nor than half the watchdog interval (the
 * loop's turn is the ping).  A signal handler sets its flag and writes
 * to the self-pipe the poll watches: a signal landing between the test
 * of the flags and the poll still ends the wait at once.
 */
static void
agent_wait(const struct agent *a, int64_t ms)
{
	int64_t deadline, left;
	struct err err;

	if (a->nt.watchdog_ms > 0 && ms > a->nt.watchdog_ms / 2)
		ms = a->nt.watchdog_ms / 2;
	if (ms > AGENT_IDLE_MAX_MS)
		ms = AGENT_IDLE_MAX_MS;
	deadline = clock_mono_ms(NULL) + ms;
	while (!agent_stop && !agent_reload) {
		left = ms <= 0 ? 0 : deadline - clock_mono_ms(NULL);
		if (left < 0)
			left = 0;
		err_init(&err);
		/* A completion is news for the loop: it returns then. */
		if (https_multi_run(a->multi, (long)left, &err) != 0 ||
		    left == 0)
			return;
	}
}

#ifdef FELHOM_TESTING
/*
 * Test hook: once the file named by $FELHOM_TEST_WEDGE_FILE exists, the
 * loop stops turning, as a deadlock would — no more watchdog pings, no
 * signal handled — so a test can see the pings stop.
 */
static void
agent_test_wedge(void)
{
	const char *path = getenv("FELHOM_TEST_WEDGE_FILE");

	if (path == NULL || access(path, F_OK) != 0)
		return;
	log_warn("test hook: %s exists; the loop is wedged now", path);
	for (;;)
		(void) pause();
}
#endif

/* The STATUS= line: what the loop is at, in a few words. */
static void
agent_status(struct agent *a, int blocked)
{
	const struct hubloop_status *hs = hubloop_status(a->hl);
	char line[NOTIFY_STATUS_MAX], hub[128];
	struct err err;

	if (!notify_enabled(&a->nt))
		return;
	if (!a->cfg->hub_on)
		(void) snprintf(hub, sizeof(hub), "hub off, desired state "
		    "from %s", a->cfg->desired_file);
	else if (blocked)
		(void) snprintf(hub, sizeof(hub), "BLOCKED by the hub: no "
		    "changes");
	else if (hs->health_cause[0] != '\0')
		(void) snprintf(hub, sizeof(hub), "hub told: degraded, %s "
		    "(report #%" PRId64 ")", hs->health_cause, hs->last_seq);
	else if (hs->failures > 0)
		(void) snprintf(hub, sizeof(hub), "hub unreachable (%s, %d "
		    "in a row)", hub_error_name(hs->last_reason),
		    hs->failures);
	else if (hs->reports_ok > 0)
		(void) snprintf(hub, sizeof(hub), "hub ok, report #%" PRId64,
		    hs->last_seq);
	else
		(void) snprintf(hub, sizeof(hub), "hub not reached yet");
	(void) snprintf(line, sizeof(line), "running: %zu op%s in flight; %s",
	    a->in_flight, a->in_flight == 1 ? "" : "s", hub);
	err_init(&err);
	(void) notify_status(&a->nt, line, &err);
}

/* SIGHUP, between two turns of the loop. */
static void
agent_reload_now(struct agent *a)
{
	struct reload_result res;
	struct err err;

	err_init(&err);
	(void) notify_reloading(&a->nt, &err);
	(void) reload_run(a->cfg, a->ao->config_path, a->db,
	    clock_now(NULL), &res);
	/* The running configuration stays either way: ready again. */
	a->nt.status[0] = '\0';
	(void) notify_ready(&a->nt, res.config_ok ? "running: configuration "
	    "re-read" : "running: new configuration refused, see the log",
	    &err);
}

/*
 * --once: nothing left that the agent can move by itself — no op in
 * flight, none authorized (waiting for its lane or a retry), none new.
 * What remains waits for outside input (a signature, the hub).
 */
static int
agent_quiet(struct agent *a)
{
	static const char *const busy[] = { "new", "authorized", "submitting",
	    "running", "rolling_back" };
	struct rtests_run *open = NULL;
	struct err err;
	int64_t n;
	size_t i, nopen = 0;

	for (i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
		err_init(&err);
		if (ops_count(a->db, busy[i], &n, &err) != 0 || n > 0)
			return 0;
	}
	/* A restore test holding its scratch guest is work in flight too. */
	err_init(&err);
	if (rtests_open(a->db, &open, &nopen, &err) != 0)
		return 0;
	rtests_runs_free(open, nopen);
	return nopen == 0;
}

static int
agent_loop(struct agent *a)
{
	int64_t deadline = 0, now, wake, rdelay, stored;
	int hub_done = 0, reconciled = 0, cycled = 0, blocked, rc;
	size_t moved = 0;
	char key[LOGLIMIT_KEY_MAX];
	struct engine_next next;
	struct err err;

	if (a->ao->once)
		deadline = clock_mono_ms(NULL) + a->ao->once_timeout_s * 1000;
	while (!agent_stop) {
#ifdef FELHOM_TESTING
		agent_test_wedge();
#endif
		err_init(&err);
		(void) notify_watchdog(&a->nt, clock_mono_ms(NULL), &err);
		if (agent_reload) {
			agent_reload = 0;
			agent_reload_now(a);
		}
		err_init(&err);
		stored = hubloop_status(a->hl)->desired_stored;
		if (a->ao->once) {
			/* --once: the desired state first, then one plan. */
			if (!hub_done) {
				(void) hubloop_cycle(a->hl, &err);
				hub_done = 1;
				cycled = 1;
				if (agent_stop)
					break;
				once_check_cycle(a);
			}
		} else if (hubloop_tick(a->hl, 0, NULL, &err) ==
		    HUBLOOP_ENDED) {
			/* Issue 17: the cycle moved as its exchanges
			 * completed; it never held the loop. */
			cycled = 1;
			if (agent_stop)
				break;
			/* A new desired state is planned now. */
			if (hubloop_status(a->hl)->desired_stored != stored)
				a->reconcile_due = clock_mono_ms(NULL);
		}
		blocked = hubloop_blocked(a->hl);
		/*
		 * Signed ops only arrive with a hub cycle (and the first one
		 * runs at start, taking any left by a crash): intake runs
		 * after a cycle, not on every tick.
		 */
		if (cycled) {
			agent_intake(a, blocked);
			agent_note(a);
			cycled = 0;
		}
		now = clock_mono_ms(NULL);
		if (a->reconcile_due <= now && (!a->ao->once || !reconciled)) {
			/* Issue 17: pending, it goes on at the next turns. */
			a->observing = agent_reconcile(a, blocked);
			if (!a->observing) {
				reconciled = 1;
				a->reconcile_due = now + a->reconcile_ms;
			}
		}
		err_init(&err);
		memset(&next, 0, sizeof(next));
		if ((rc = engine_step(a->engine, blocked, &next, &err)) != 0) {
			/* The database unusable: stop, saying so (74, 65). */
			if (rc == ERR_CORRUPT || rc == ERR_FULL ||
			    rc == ERR_READONLY) {
				log_error("engine: %s; stopping (exit status "
				    "%d)", err_msg(&err), exitcode_of(rc));
				return exitcode_of(rc);
			}
			(void) log_limited(&a->lim_engine, clock_mono_ms(NULL),
			    err_key(&err, key, sizeof(key)), LOG_LEVEL_ERROR,
			    "engine: %s", err_msg(&err));
			once_failed(a, exitcode_of(rc), &err, "engine");
			next.more = 0;
			next.delay_ms = 1000;
		} else
			(void) loglimit_end(&a->lim_engine);
		err_init(&err);
		if (rtest_tick(a->rtest, blocked, &rdelay, &err) != 0) {
			(void) log_limited(&a->lim_rtest, clock_mono_ms(NULL),
			    err_key(&err, key, sizeof(key)), LOG_LEVEL_ERROR,
			    "restore tests: %s", err_msg(&err));
			rdelay = 1000;
		} else
			(void) loglimit_end(&a->lim_rtest);
		if (rdelay >= 0 && (next.delay_ms < 0 ||
		    rdelay < next.delay_ms))
			next.delay_ms = rdelay;
		if (rdelay == 0)
			next.more = 1;
		if (next.transitions > 0)
			hubloop_poke(a->hl);
		agent_note(a);
		moved += next.transitions;
		a->in_flight = next.in_flight;
		agent_status(a, blocked);
		if (next.more)
			continue;
		if (a->ao->once) {
			/*
			 * Done when nothing can advance without outside input
			 * and no answer is awaited (issue 17).
			 */
			if (!a->observing && next.pending == 0 &&
			    (next.delay_ms < 0 || blocked || agent_quiet(a)))
				break;
			now = clock_mono_ms(NULL);
			if (now >= deadline) {
				log_warn("--once: %zu operation(s) still in "
				    "flight after %lds; they resume at the next "
				    "start", next.in_flight,
				    a->ao->once_timeout_s);
				break;
			}
			/* Never past the deadline: --once-timeout holds. */
			agent_wait(a, next.delay_ms >= 0 &&
			    next.delay_ms < deadline - now ? next.delay_ms :
			    deadline - now);
			continue;
		}
		now = clock_mono_ms(NULL);
		/* Idle: retention's small steps (issue 15). */
		rdelay = retain_tick(&a->retain, a->db, a->cfg, now,
		    clock_now(NULL));
		if (next.delay_ms < 0 || rdelay < next.delay_ms)
			next.delay_ms = rdelay;
		/* A cycle in progress wakes the loop by its completions. */
		wake = hubloop_busy(a->hl) ? now + AGENT_IDLE_MAX_MS :
		    hubloop_next_due_ms(a->hl);
		/* An observation in progress: its completions wake it. */
		if (!a->observing && a->reconcile_due < wake)
			wake = a->reconcile_due;
		if (next.delay_ms >= 0 && now + next.delay_ms < wake)
			wake = now + next.delay_ms;
		agent_wait(a, wake - now);
	}
	/* --once: the hub learns the outcome now, not at the next run. */
	if (a->ao->once && moved > 0 && a->cfg->hub_on && !agent_stop) {
		err_init(&err);
		(void) hubloop_cycle(a->hl, &err);
		once_check_cycle(a);
	}
	if (agent_stop)
		log_info("stopping on signal");
	if (a->once_status != 0) {
		log_error("--once: the cycle failed: %s",
		    err_msg(&a->once_err));
		return a->once_status;
	}
	return 0;
}

/* 1 when "<db>-wal" is not there (before the database is opened). */
static int
wal_missing(const char *dbpath)
{
	char path[4096];
	struct stat sb;

	if ((size_t)snprintf(path, sizeof(path), "%s-wal", dbpath) >=
	    sizeof(path))
		return 0;
	return stat(path, &sb) != 0 && errno == ENOENT;
}

int
agent_main(const struct config *cfg, const struct agent_options *ao)
{
	struct sigaction sa;
	struct agent a;
	struct err err;
	int lockfd = -1, rc, status, start_failed = 0, opened;

	if (ao->selftest != NULL && strcmp(ao->selftest, "read") == 0)
		return selftest_read(cfg);
	if (ao->selftest != NULL && strcmp(ao->selftest, "task") == 0)
		return selftest_task(cfg, ao->guest, ao->yes);
	if (ao->selftest != NULL && strcmp(ao->selftest, "hub") == 0)
		return selftest_hub(cfg);

#ifdef __GLIBC__
	/* One malloc arena: libcurl's resolver threads make no more. */
	(void) mallopt(M_ARENA_MAX, 1);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	(void) sigemptyset(&sa.sa_mask);
	(void) sigaction(SIGTERM, &sa, NULL);
	(void) sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	(void) sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);

	err_init(&err);
	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	a.ao = ao;
	a.wake[0] = a.wake[1] = -1;
	if (pipe2(a.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		log_error("self-pipe: %s", strerror(errno));
		return EX_OSERR;
	}
	agent_wake_fd = a.wake[1];
	/* Outside systemd the notify calls do nothing. */
	if (notify_init(&a.nt, &err) != 0) {
		log_warn("%s", err_msg(&err));
		err_init(&err);
	}
	if ((rc = db_lock_agent(cfg->database, &lockfd, &a.lock, &err)) != 0) {
		log_error("%s", err_msg(&err));
		status = exitcode_of(rc);
		goto out;
	}
	a.lockfd = lockfd;
	a.wal_missing = wal_missing(cfg->database);
	/* Until a clean exit says "stopped", a next start checks in full. */
	if ((rc = db_lock_mark(lockfd, "running", a.lock.db_id, &err)) != 0) {
		log_error("%s", err_msg(&err));
		status = EX_IOERR;
		goto out;
	}
	if ((rc = agent_start(&a, &err)) != 0) {
		log_error("start-up: %s", err_msg(&err));
		start_failed = 1;
		/* ERR_INVALID here is a setting the clients refused. */
		status = rc == ERR_INVALID ? EX_CONFIG : exitcode_of(rc);
		/* Asked to stop while starting: not a failure. */
		if (agent_stop && a.db != NULL) {
			log_info("start-up interrupted by a signal; stopping");
			status = 0;
		}
		goto out;
	}
	/* ready once the database is open and recovery is done. */
	err_init(&err);
	if (notify_ready(&a.nt, "running: recovery done", &err) != 0)
		log_warn("%s; continuing without readiness messages",
		    err_msg(&err));
	status = agent_loop(&a);
	err_init(&err);
	(void) notify_stopping(&a.nt, &err);
	/* waits resume next time with what is left of them. */
	err_init(&err);
	if (engine_save_waits(a.engine, &err) != 0)
		log_warn("%s; waits start over at the next start", err_msg(&err));
	agent_note(&a);
	/* A clean exit: the next start skips the full integrity check. */
	err_init(&err);
	if (db_lock_mark(lockfd, "stopped", a.db_id, &err) != 0)
		log_warn("%s", err_msg(&err));
out:
	opened = a.db != NULL;
	agent_reset(&a);
	/*
	 * A start-up that failed after it opened the database closed it in
	 * order (SQLite checkpoints and removes the write-ahead log; the
	 * check after an unclean stop, if due, was done): no unclean stop,
	 * or the next start takes the missing log for lost commits and
	 * holds every destructive op (found by tools/soak: a start on a
	 * full disk).  Before the database was opened, an earlier crash
	 * still wants its check.
	 */
	if (start_failed && opened && lockfd >= 0) {
		err_init(&err);
		if (db_lock_mark(lockfd, "stopped", a.db_id[0] != '\0' ?
		    a.db_id : a.lock.db_id, &err) != 0)
			log_warn("%s", err_msg(&err));
	}
	notify_reset(&a.nt);
	agent_wake_fd = -1;
	(void) close(a.wake[0]);
	(void) close(a.wake[1]);
	if (lockfd >= 0)
		(void) close(lockfd);
	return status;
}
