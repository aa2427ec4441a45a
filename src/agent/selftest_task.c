/*
 * selftest_task — `felhom-agent --selftest=task [--guest VMID [--yes]]`
 * (R-09; issue 10): the reversible round trip snapshot → rollback →
 * delete-snapshot, run as ops through the engine — created in the
 * database, classified by the gate, journaled and audited, serialized in
 * the guest's lane — never as direct PVE calls beside the daemon.
 *
 * By default it works on a scratch container it creates for the purpose
 * (provision, recorded as the agent's own), and destroys it afterwards:
 * every step is then benign.  With --guest VMID it works on an existing
 * guest; its rollback is destructive, so the operator at the host
 * confirms it (typing the vmid, or --yes) and the confirmation is
 * audited as theirs (operator_confirmed).
 *
 * When the daemon runs (it holds the agent lock) it drives the ops; this
 * process creates them, confirms what the operator confirmed, and waits.
 * Otherwise this process takes the lock and drives the guest's lane
 * itself, and no other.
 */
#include <sys/types.h>

#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/selftest.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/exec_pve.h"
#include "engine/gate.h"
#include "engine/sm.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/kv.h"
#include "store/ops.h"

#define TT_OP_WAIT_MS		(10L * 60 * 1000)	/* one op, at most */
#define TT_DAEMON_POLL_MS	200
#define TT_SCRATCH_FIRST	999900	/* scratch vmids tried, in order */
#define TT_SCRATCH_LAST		999999
#define TT_SNAPSHOT		"felhom_selftest"

/* One run. */
struct tt {
	const struct config	*cfg;
	struct db		*db;
	struct pve_client	*pve;
	struct exec_pve		*xpve;
	struct exec		 exec;
	struct gate		*gate;
	struct engine		*engine;	/* NULL: the daemon drives */
	int			 lockfd;
	int64_t			 vmid;
	int			 scratch;	/* vmid is our scratch guest */
	int			 confirmed;	/* the operator said yes */
	int			 nops;
	char			 run[32];	/* idempotency key prefix */
	char			 actor[96];	/* "operator:NAME (uid N)" */
	struct err		 err;
};

static void
row(const char *check, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
row(const char *check, const char *result, const char *fmt, ...)
{
	va_list ap;

	printf("%-28s %-6s ", check, result);
	va_start(ap, fmt);
	(void) vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	(void) fflush(stdout);
}

/* The ERR_* behind an op's error code (exec_error_code's names). */
static int
code_err(const char *code)
{
	if (code == NULL)
		return ERR_TASK;
	if (strcmp(code, "permission") == 0)
		return ERR_PERMISSION;
	if (strcmp(code, "auth") == 0)
		return ERR_AUTH;
	if (strcmp(code, "locked") == 0)
		return ERR_LOCKED;
	return ERR_TASK;
}


/* Who runs this: the audit actor of the operator's confirmation. */
static void
operator_name(char *out, size_t n)
{
	const struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");

	(void) snprintf(out, n, "operator:%s%s%s (uid %lu)",
	    pw != NULL ? pw->pw_name : "?", sudo != NULL ? " via sudo by " :
	    "", sudo != NULL ? sudo : "", (unsigned long)getuid());
}

/*
 * The operator's yes for a self-test on their own guest: the vmid typed
 * on the terminal.  Without a terminal only --yes says yes.
 */
static int
confirm(int64_t vmid)
{
	char line[64], want[32];

	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "felhom-agent: --selftest=task --guest %" PRId64
		    " rolls the guest back to a snapshot; without a terminal "
		    "to confirm on, add --yes\n", vmid);
		return 0;
	}
	fprintf(stderr, "The task self-test snapshots CT %" PRId64 ", rolls it "
	    "back to that snapshot (discarding whatever the guest writes in "
	    "between; a running guest is stopped and started again) and "
	    "deletes the snapshot.\nType %" PRId64 " to go on: ", vmid, vmid);
	(void) fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	(void) snprintf(want, sizeof(want), "%" PRId64, vmid);
	return strcmp(line, want) == 0;
}

static void
tt_reset(struct tt *t)
{
	engine_free(t->engine);
	gate_free(t->gate);
	exec_pve_free(t->xpve);
	pve_client_free(t->pve);
	db_close(t->db);
	if (t->lockfd >= 0)
		(void) close(t->lockfd);
}

/* One audit row of the run (started, finished), the operator's. */
static int
audit_run(struct tt *t, const char *decision, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
audit_run(struct tt *t, const char *decision, const char *fmt, ...)
{
	struct audit_event ev;
	char text[256];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	(void) vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memset(&ev, 0, sizeof(ev));
	ev.at = clock_now(NULL);
	ev.event = "selftest";
	ev.decision = decision;
	ev.code = "task";
	ev.vmid = t->vmid;
	ev.actor = t->actor;
	ev.detail = text;
	if ((rc = db_begin(t->db, &t->err)) != 0)
		return rc;
	if ((rc = audit_append(t->db, &ev, NULL, &t->err)) != 0 ||
	    (rc = db_commit(t->db, &t->err)) != 0)
		db_rollback(t->db);
	return rc;
}

static int
blocked(struct tt *t, int *out)
{
	int64_t v = 0;
	int rc;

	if ((rc = kv_get_int(t->db, KV_HUB_BLOCKED, 0, &v, &t->err)) != 0)
		return rc;
	*out = v != 0;
	return 0;
}

/* The operator's confirmation of op_id (pending its signature). */
static int
confirm_op(struct tt *t, int64_t op_id)
{
	struct sm_args a;
	json_t *detail;
	int rc;

	if ((detail = json_pack("{s:s}", "confirmed_by", t->actor)) == NULL)
		return err_set(&t->err, ERR_NOMEM, "out of memory");
	memset(&a, 0, sizeof(a));
	a.now = clock_now(NULL);
	a.actor = t->actor;
	a.code = "operator_confirmed";
	a.signer = t->actor;
	a.detail = detail;
	rc = sm_step(t->db, op_id, SM_PENDING_SIGNATURE,
	    SM_EV_OPERATOR_CONFIRMED, &a, NULL, &t->err);
	json_decref(detail);
	return rc == ERR_CONFLICT ? 0 : rc;
}

/* Gives up an op that waits for a signature no one gives here. */
static void
cancel_op(struct tt *t, int64_t op_id)
{
	struct sm_args a;

	memset(&a, 0, sizeof(a));
	a.now = clock_now(NULL);
	a.actor = t->actor;
	a.code = "selftest";
	(void) sm_step(t->db, op_id, SM_PENDING_SIGNATURE, SM_EV_CANCEL, &a,
	    NULL, NULL);
}

static void
nap(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		ms = 10;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	(void) nanosleep(&ts, NULL);
}

/*
 * Creates one op of the run in the guest's lane and waits until it
 * ends: decided by the gate, run by the engine (ours or the daemon's).
 * *state_out gets the end state; 0 unless the wait itself failed.
 */
static int
run_op(struct tt *t, const char *step, enum ops_kind kind,
    const char *params, enum sm_state *state_out)
{
	struct ops_new on;
	struct ops_row *op = NULL;
	struct engine_next next;
	json_t *p = NULL;
	char key[96];
	int64_t id = 0, t0 = clock_mono_ms(NULL), waited;
	enum sm_state st = SM__COUNT;
	int rc;

	if ((p = json_loads(params, 0, NULL)) == NULL)
		return err_set(&t->err, ERR_INTERNAL, "bad self-test params");
	(void) snprintf(key, sizeof(key), "%s/%d", t->run, ++t->nops);
	memset(&on, 0, sizeof(on));
	on.vmid = t->vmid;
	on.kind = kind;
	on.source = OPS_SOURCE_INTERNAL;
	on.class = OPS_CLASS_BENIGN;	/* the gate decides */
	on.params = p;
	on.why = step;
	on.idem_key = key;
	on.now = clock_now(NULL);
	rc = ops_create(t->db, &on, &id, &t->err);
	json_decref(p);
	if (rc != 0)
		return rc;
	for (;;) {
		ops_row_free(op);
		op = NULL;
		if ((rc = ops_get(t->db, id, &op, &t->err)) != 0)
			goto out;
		st = (enum sm_state)sm_state_parse(op->state);
		if (sm_is_terminal(st))
			break;
		if (st == SM_NEW) {
			/* The gate, here or in the daemon (a race is fine). */
			rc = gate_decide(t->gate, op, NULL, &t->err);
			if (rc != 0 && rc != ERR_CONFLICT)
				goto out;
			err_init(&t->err);
			continue;
		}
		if (st == SM_PENDING_SIGNATURE) {
			if (!t->confirmed) {
				cancel_op(t, id);
				rc = err_set(&t->err, ERR_PERMISSION, "%s: %s "
				    "needs a signature; the self-test gives "
				    "up", op->uid, ops_kind_name(kind));
				goto out;
			}
			if ((rc = confirm_op(t, id)) != 0)
				goto out;
			continue;
		}
		waited = clock_mono_ms(NULL) - t0;
		if (waited > TT_OP_WAIT_MS) {
			rc = err_set(&t->err, ERR_TIMEOUT, "%s is still %s "
			    "after %" PRId64 " s; it goes on in the guest's "
			    "lane", op->uid, op->state, waited / 1000);
			goto out;
		}
		if (t->engine == NULL) {
			nap(TT_DAEMON_POLL_MS);
			continue;
		}
		memset(&next, 0, sizeof(next));
		if ((rc = engine_step(t->engine, 0, &next, &t->err)) != 0)
			goto out;
		if (!next.more)
			nap(next.delay_ms < 0 || next.delay_ms > 200 ? 200 :
			    next.delay_ms);
	}
	*state_out = st;
	if (st == SM_SUCCEEDED) {
		row(step, "ok", "%s %s of CT %" PRId64 " succeeded (%.1f s)",
		    op->uid, ops_kind_name(kind), t->vmid,
		    (double)(clock_mono_ms(NULL) - t0) / 1000.0);
		rc = 0;
		goto out;
	}
	row(step, "FAIL", "%s %s of CT %" PRId64 " ended %s: %s%s%s", op->uid,
	    ops_kind_name(kind), t->vmid, op->state, op->error_code != NULL ?
	    op->error_code : "", op->error != NULL ? ": " : "",
	    op->error != NULL ? op->error : "");
	rc = err_set(&t->err, code_err(op->error_code), "%s ended %s",
	    op->uid, op->state);
out:
	if (rc != 0 && st == SM__COUNT)
		row(step, "FAIL", "%s", err_msg(&t->err));
	ops_row_free(op);
	return rc;
}

/* The guest's snapshot names (not "current"), sorted, ',' joined. */
static int
cmp_str(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

static int
snap_names(struct tt *t, char *out, size_t n)
{
	struct pve_snapshots s;
	const char **names = NULL;
	size_t i, k = 0, o = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	out[0] = '\0';
	if ((rc = pve_snapshot_list(t->pve, t->cfg->host_node, (long)t->vmid,
	    &s, &t->err)) != 0)
		return rc;
	if ((names = calloc(s.n + 1, sizeof(*names))) == NULL) {
		rc = err_set(&t->err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < s.n; i++)
		if (!s.items[i].is_current)
			names[k++] = s.items[i].name;
	qsort(names, k, sizeof(*names), cmp_str);
	for (i = 0; i < k && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%s", i > 0 ? "," : "",
		    names[i]);
	rc = 0;
out:
	free(names);
	pve_snapshots_reset(&s);
	return rc;
}

/* 1 running, 0 stopped; ERR_NOT_FOUND when the guest does not exist. */
static int
guest_running(struct tt *t, int *running)
{
	struct pve_guest_status gs;
	int rc;

	memset(&gs, 0, sizeof(gs));
	if ((rc = pve_lxc_status(t->pve, t->cfg->host_node, (long)t->vmid,
	    &gs, &t->err)) != 0)
		return rc;
	*running = gs.guest.state == PVE_GUEST_RUNNING;
	pve_guest_status_reset(&gs);
	return 0;
}

/*
 * What the scratch guest is made of: the first (by id) active storage
 * for container volumes, and the first template (by volid) on any
 * active storage holding templates.
 */
static int
scratch_parts(struct tt *t, char **storage_out, char **template_out)
{
	struct pve_storages ss;
	struct pve_backups tm;
	const struct pve_storage *root = NULL, *s;
	const char *best = NULL;
	char *tmpl = NULL;
	size_t i, j;
	int rc;

	memset(&ss, 0, sizeof(ss));
	if ((rc = pve_storage_list(t->pve, t->cfg->host_node, NULL, &ss,
	    &t->err)) != 0)
		return rc;
	for (i = 0; i < ss.n; i++) {
		s = &ss.items[i];
		if (!s->enabled || !s->active)
			continue;
		if (pve_storage_has_content(s, "rootdir") && (root == NULL ||
		    strcmp(s->storage, root->storage) < 0))
			root = s;
		if (!pve_storage_has_content(s, "vztmpl"))
			continue;
		memset(&tm, 0, sizeof(tm));
		if ((rc = pve_storage_templates(t->pve, t->cfg->host_node,
		    s->storage, &tm, &t->err)) != 0)
			goto out;
		for (j = 0; j < tm.n; j++)
			if (best == NULL || strcmp(tm.items[j].volid,
			    best) < 0) {
				free(tmpl);
				if ((tmpl = strdup(tm.items[j].volid)) ==
				    NULL) {
					pve_backups_reset(&tm);
					rc = err_set(&t->err, ERR_NOMEM,
					    "out of memory");
					goto out;
				}
				best = tmpl;
			}
		pve_backups_reset(&tm);
	}
	if (root == NULL || tmpl == NULL) {
		rc = err_set(&t->err, ERR_NOT_FOUND, "no active storage %s; "
		    "name a test guest with --guest VMID", root == NULL ?
		    "takes container volumes (rootdir)" : "holds a container "
		    "template (vztmpl)");
		goto out;
	}
	if ((*storage_out = strdup(root->storage)) == NULL) {
		rc = err_set(&t->err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*template_out = tmpl;
	tmpl = NULL;
	rc = 0;
out:
	free(tmpl);
	pve_storages_reset(&ss);
	return rc;
}

/* A vmid proven free by a direct read, with no op of ours on it. */
static int
scratch_vmid(struct tt *t, int64_t *out)
{
	struct ops_row **ops = NULL;
	struct exec_guest g;
	struct err xe;
	size_t n = 0, i;
	int64_t v;
	int busy, rc;

	if ((rc = ops_list_active(t->db, &ops, &n, &t->err)) != 0)
		return rc;
	rc = err_set(&t->err, ERR_NOT_FOUND, "no free vmid in %d..%d for "
	    "the scratch guest; name a test guest with --guest VMID",
	    TT_SCRATCH_FIRST, TT_SCRATCH_LAST);
	for (v = TT_SCRATCH_FIRST; v <= TT_SCRATCH_LAST; v++) {
		for (busy = 0, i = 0; i < n && !busy; i++)
			busy = ops[i]->vmid == v;
		if (busy)
			continue;
		memset(&g, 0, sizeof(g));
		err_init(&xe);
		rc = t->exec.ops->guest_status(t->exec.ctx, v, &g, &xe);
		exec_guest_reset(&g);
		if (rc == ERR_NOT_FOUND) {
			*out = v;
			err_init(&t->err);
			rc = 0;
			break;
		}
		if (rc != 0) {
			rc = err_copy(&t->err, &xe);
			break;
		}
		rc = err_set(&t->err, ERR_NOT_FOUND, "no free vmid in "
		    "%d..%d for the scratch guest", TT_SCRATCH_FIRST,
		    TT_SCRATCH_LAST);
	}
	ops_rows_free(ops, n);
	return rc;
}

static int
tt_open(struct tt *t)
{
	struct gate_config gc;
	int rc, blk = 0;

	if ((rc = db_open(t->cfg->database, DB_OPEN_CREATE | DB_OPEN_MIGRATE,
	    &t->db, &t->err)) != 0) {
		row("database", "FAIL", "%s", err_msg(&t->err));
		return rc;
	}
	if ((rc = blocked(t, &blk)) != 0)
		return rc;
	if (blk) {
		row("hub", "FAIL", "the hub has blocked this host: nothing "
		    "runs, the self-test neither");
		return err_set(&t->err, ERR_LOCKED, "blocked by the hub");
	}
	if ((rc = https_global_init(&t->err)) != 0 ||
	    (rc = pve_client_from_config(t->cfg, NULL, &t->pve,
	    &t->err)) != 0 ||
	    (rc = exec_pve_new(t->pve, t->cfg->host_node, &t->xpve,
	    &t->err)) != 0) {
		row("pve client", "FAIL", "%s", err_msg(&t->err));
		return rc;
	}
	exec_pve_bind(t->xpve, &t->exec);
	gate_config_from(t->cfg, &gc);
	if ((rc = gate_new(t->db, &gc, clock_system(), &t->exec, &t->gate,
	    &t->err)) != 0)
		return rc;
	return 0;
}

/* The daemon's, or this process's: who drives the lane of t->vmid. */
static int
tt_driver(struct tt *t)
{
	struct engine_config ec;
	struct err lerr;
	int rc;

	err_init(&lerr);
	rc = db_lock_agent(t->cfg->database, &t->lockfd, NULL, &lerr);
	if (rc == ERR_LOCKED) {
		t->lockfd = -1;
		row("engine", "ok", "the running agent drives the ops (its "
		    "lane for CT %" PRId64 ")", t->vmid);
		return 0;
	}
	if (rc != 0) {
		t->lockfd = -1;
		return err_copy(&t->err, &lerr);
	}
	memset(&ec, 0, sizeof(ec));
	ec.sign_window_s = t->cfg->authz_sign_request_ttl_s;
	ec.poll_interval_ms = 100;
	ec.transition_hook = gate_provenance_hook;
	ec.only_vmid = t->vmid;
	if ((rc = engine_new(t->db, &t->exec, clock_system(), &ec, &t->engine,
	    &t->err)) != 0)
		return rc;
	row("engine", "ok", "no agent runs: this process drives the lane of "
	    "CT %" PRId64 " only", t->vmid);
	return 0;
}

/* snapshot → rollback → (start) → delete-snapshot; cleans up on failure. */
static int
round_trip(struct tt *t, int was_running, int *snapped)
{
	enum sm_state st;
	char params[160];
	int rc;

	(void) snprintf(params, sizeof(params), "{\"name\":\"%s\","
	    "\"description\":\"felhom-agent --selftest=task\"}", TT_SNAPSHOT);
	rc = run_op(t, "snapshot", OPS_KIND_SNAPSHOT, params, &st);
	*snapped = 1;	/* a failed worker may still have left it */
	if (rc != 0)
		return rc;
	(void) snprintf(params, sizeof(params), "{\"snapshot\":\"%s\"}",
	    TT_SNAPSHOT);
	if ((rc = run_op(t, "rollback", OPS_KIND_ROLLBACK, params, &st)) != 0)
		return rc;
	/* §5.9: a rollback leaves the CT stopped; restore the run state. */
	if (was_running && (rc = run_op(t, "start again", OPS_KIND_START,
	    "{}", &st)) != 0)
		return rc;
	(void) snprintf(params, sizeof(params), "{\"name\":\"%s\"}",
	    TT_SNAPSHOT);
	if ((rc = run_op(t, "delete-snapshot", OPS_KIND_DELETE_SNAPSHOT,
	    params, &st)) != 0)
		return rc;
	*snapped = 0;
	return 0;
}

int
selftest_task(const struct config *cfg, long vmid, int yes)
{
	struct tt t;
	enum sm_state st = SM__COUNT;
	char before[2048], after[2048], params[1024], *storage = NULL,
	    *tmpl = NULL;
	int rc, status = 0, was_running = 0, now_running = 0, snapped = 0;
	int created = 0;

	memset(&t, 0, sizeof(t));
	t.cfg = cfg;
	t.lockfd = -1;
	t.vmid = vmid;
	err_init(&t.err);
	operator_name(t.actor, sizeof(t.actor));
	(void) snprintf(t.run, sizeof(t.run), "selftest/%lx-%lx",
	    (unsigned long)clock_now(NULL), (unsigned long)getpid());
	if (vmid != 0) {
		if (!yes && !confirm(vmid)) {
			fprintf(stderr, "felhom-agent: task self-test on CT "
			    "%ld not confirmed; nothing done\n", vmid);
			return EX_USAGE;
		}
		t.confirmed = 1;
	}
	printf("felhom-agent %s task self-test on %s (node %s)\n",
	    FELHOM_VERSION, vmid != 0 ? "a named guest" : "a scratch guest",
	    cfg->host_node);
	printf("%-28s %-6s %s\n", "CHECK", "RESULT", "DETAIL");
	if (cfg->pve_insecure)
		log_warn("pve.insecure is on: the PVE certificate is NOT "
		    "verified");
	if ((rc = tt_open(&t)) != 0) {
		status = rc == ERR_LOCKED ? EX_TEMPFAIL : exitcode_of(rc);
		goto out;
	}
	if (vmid == 0) {
		t.scratch = 1;
		if ((rc = scratch_parts(&t, &storage, &tmpl)) != 0 ||
		    (rc = scratch_vmid(&t, &t.vmid)) != 0) {
			row("scratch guest", "FAIL", "%s", err_msg(&t.err));
			status = exitcode_of(rc);
			goto out;
		}
		row("scratch guest", "ok", "CT %" PRId64 " from %s on %s",
		    t.vmid, tmpl, storage);
	}
	if ((rc = tt_driver(&t)) != 0) {
		row("engine", "FAIL", "%s", err_msg(&t.err));
		status = exitcode_of(rc);
		goto out;
	}
	if ((rc = audit_run(&t, "started", "task self-test on CT %" PRId64
	    " (%s) by %s", t.vmid, t.scratch ? "scratch guest" :
	    "confirmed by the operator", t.actor)) != 0) {
		row("audit", "FAIL", "%s", err_msg(&t.err));
		status = EX_SOFTWARE;
		goto out;
	}
	if (t.scratch) {
		(void) snprintf(params, sizeof(params), "{\"template\":\"%s\","
		    "\"storage\":\"%s\",\"rootfs_gib\":1,\"spec\":{\"hostname\":"
		    "\"felhom-selftest\"}}", tmpl, storage);
		rc = run_op(&t, "provision", OPS_KIND_PROVISION, params, &st);
		/* PVE removes a guest whose create failed (§5.11). */
		created = st == SM_SUCCEEDED;
		if (rc != 0)
			goto fail;
	}
	err_init(&t.err);
	if ((rc = guest_running(&t, &was_running)) != 0 ||
	    (rc = snap_names(&t, before, sizeof(before))) != 0) {
		row("guest", "FAIL", "%s", err_msg(&t.err));
		goto fail;
	}
	row("guest", "ok", "CT %" PRId64 " %s; snapshots: %s", t.vmid,
	    was_running ? "running" : "stopped", before[0] != '\0' ? before :
	    "(none)");
	if ((rc = round_trip(&t, was_running, &snapped)) != 0)
		goto fail;
	err_init(&t.err);
	if ((rc = guest_running(&t, &now_running)) != 0 ||
	    (rc = snap_names(&t, after, sizeof(after))) != 0) {
		row("verify", "FAIL", "%s", err_msg(&t.err));
		goto fail;
	}
	if (strcmp(before, after) != 0 || now_running != was_running) {
		row("verify", "FAIL", "guest not as before: snapshots '%s' -> "
		    "'%s', %s -> %s", before, after, was_running ? "running" :
		    "stopped", now_running ? "running" : "stopped");
		rc = ERR_INTERNAL;
		goto fail;
	}
	row("verify", "ok", "snapshots and run state as before (%s)",
	    was_running ? "running" : "stopped");
	goto clean;
fail:
	status = exitcode_of(rc);
	if (snapped) {
		/* Best effort: our own snapshot goes (it is the agent's). */
		(void) snprintf(params, sizeof(params), "{\"name\":\"%s\"}",
		    TT_SNAPSHOT);
		err_init(&t.err);
		(void) run_op(&t, "cleanup: delete-snapshot",
		    OPS_KIND_DELETE_SNAPSHOT, params, &st);
	}
	if (!t.scratch && was_running && guest_running(&t, &now_running) ==
	    0 && !now_running) {
		err_init(&t.err);
		(void) run_op(&t, "cleanup: start", OPS_KIND_START, "{}", &st);
	}
clean:
	if (created) {
		err_init(&t.err);
		if (run_op(&t, t.scratch && status == 0 ? "destroy" :
		    "cleanup: destroy", OPS_KIND_DESTROY, "{\"purge\":true}",
		    &st) != 0 && status == 0)
			status = EX_SOFTWARE;
		if (status == 0 && guest_running(&t, &now_running) !=
		    ERR_NOT_FOUND) {
			row("verify", "FAIL", "scratch CT %" PRId64 " still "
			    "exists", t.vmid);
			status = EX_SOFTWARE;
		}
	}
	(void) audit_run(&t, status == 0 ? "succeeded" : "failed", "task "
	    "self-test on CT %" PRId64 " by %s: %s", t.vmid, t.actor,
	    status == 0 ? "OK" : "FAILED");
out:
	free(storage);
	free(tmpl);
	tt_reset(&t);
	printf("task self-test: %s\n", status == 0 ? "OK" : "FAILED");
	return status;
}
