/*
 * rtest — restore tests as a sequence of internal ops.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "engine/exec.h"
#include "engine/rtest.h"
#include "engine/sm.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/ops.h"
#include "store/provenance.h"
#include "store/rtests.h"

#define RTEST_MARKER	"felhom-agent restore test %" PRId64 " "

struct rtest {
	struct db		*db;
	const struct exec	*exec;
	const struct clock	*clock;
	struct rtest_config	 cfg;
	int64_t			 next_check_ms;	/* hold status reads */
	int			 watching;	/* a run is holding */
	int			 made;		/* an op was made this tick */
};

int
rtest_new(struct db *db, const struct exec *exec, const struct clock *clock,
    const struct rtest_config *cfg, struct rtest **out, struct err *err)
{
	struct rtest *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rt->db = db;
	rt->exec = exec;
	rt->clock = clock;
	if (cfg != NULL)
		rt->cfg = *cfg;
	if (rt->cfg.hold_s <= 0)
		rt->cfg.hold_s = RTEST_HOLD_S;
	if (rt->cfg.check_ms <= 0)
		rt->cfg.check_ms = RTEST_CHECK_MS;
	*out = rt;
	return 0;
}

void
rtest_free(struct rtest *rt)
{
	free(rt);
}

/* ---- run bookkeeping ----------------------------------------------------- */

static int
set_text(char **field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
set_text(char **field, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return ERR_NOMEM;
	free(*field);
	*field = s;
	return 0;
}

/* The first failure decides the result; later ones add to the detail. */
static int
run_failed(struct rtests_run *r, const char *why, struct err *err)
{
	int rc;

	if (r->result == NULL)
		rc = set_text(&r->result, "failed") != 0 ||
		    set_text(&r->detail, "%s", why) != 0 ? ERR_NOMEM : 0;
	else
		rc = set_text(&r->detail, "%s; %s", r->detail != NULL ?
		    r->detail : "", why);
	return rc != 0 ? err_set(err, ERR_NOMEM, "out of memory") : 0;
}

static void
run_done(struct rtests_run *r, int64_t now)
{
	r->phase = RTESTS_DONE;
	r->op_id = 0;
	r->finished_at = now;
}

static int
save_txn(struct db *db, void *ctx, struct err *err)
{
	return rtests_update(db, ctx, err);
}

static int
save(struct rtest *rt, struct rtests_run *r, struct err *err)
{
	return db_txn(rt->db, save_txn, r, err);
}

/*
 * Creates the op of the run's current phase and points the run at it,
 * in one transaction (the run never names an op that does not exist).
 */
struct newop {
	struct rtests_run	*run;
	enum ops_kind		 kind;
	json_t			*params;
	const char		*why;
	int64_t			 now;
};

static int
newop_txn(struct db *db, void *ctx, struct err *err)
{
	struct newop *n = ctx;
	struct ops_new on;
	char key[96];
	int64_t id;
	int rc;

	(void) snprintf(key, sizeof(key), "rtest/%" PRId64 "/%s",
	    n->run->id, rtests_phase_name(n->run->phase));
	memset(&on, 0, sizeof(on));
	on.vmid = n->run->scratch_vmid;
	on.kind = n->kind;
	on.source = OPS_SOURCE_INTERNAL;
	on.class = OPS_CLASS_BENIGN;	/* the gate decides */
	on.params = n->params;
	on.why = n->why;
	on.idem_key = key;
	on.now = n->now;
	if ((rc = ops_create(db, &on, &id, err)) != 0)
		return rc;
	n->run->op_id = id;
	return rtests_update(db, n->run, err);
}

static int
new_op(struct rtest *rt, struct rtests_run *r, enum ops_kind kind,
    json_t *params, const char *why, int64_t now, struct err *err)
{
	struct newop n;
	int rc;

	if (params == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	n.run = r;
	n.kind = kind;
	n.params = params;
	n.why = why;
	n.now = now;
	rc = db_txn(rt->db, newop_txn, &n, err);
	json_decref(params);
	if (rc == 0)
		rt->made = 1;
	if (rc == 0)
		log_info("restore test %" PRId64 " of %" PRId64 ": %s on "
		    "scratch %" PRId64, r->id, r->vmid, ops_kind_name(kind),
		    r->scratch_vmid);
	return rc;
}

/* ---- starting a run ---------------------------------------------------- */

/* The newest backup of vmid, or ERR_NOT_FOUND. */
static int
newest_backup(struct rtest *rt, int64_t vmid, char **volid_out,
    struct err *err)
{
	struct exec_backup *v = NULL;
	size_t n = 0, i, best = 0;
	int rc;

	if (rt->exec->ops->list_backups == NULL)
		return err_set(err, ERR_UNSUPPORTED, "the executor cannot list "
		    "backups");
	if ((rc = rt->exec->ops->list_backups(rt->exec->ctx, vmid, &v, &n,
	    err)) != 0)
		return rc;
	for (i = 1; i < n; i++)
		if (v[i].ctime > v[best].ctime)
			best = i;
	if (n == 0)
		rc = ERR_NOT_FOUND;
	else if ((*volid_out = strdup(v[best].volid)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	exec_backups_free(v, n);
	return rc;
}

static int
in_list(const int64_t *v, size_t n, int64_t x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/*
 * A scratch vmid in [first, last] that PVE proves free (a direct read
 * says it does not exist) and nothing of the agent's is using.
 * ERR_NOT_FOUND when none; ERR_BUSY when PVE could not tell this time.
 */
static int
free_scratch(struct rtest *rt, const struct desired_restore_test *t,
    const int64_t *busy, size_t nbusy, int64_t *out, struct err *err)
{
	struct exec_guest *list = NULL, g;
	struct err xe;
	size_t n = 0, i, probes = 0;
	int64_t v, *seen = NULL;
	int rc;

	if ((rc = rt->exec->ops->list_guests(rt->exec->ctx, &list, &n,
	    err)) != 0)
		return rc;
	if (n > 0 && (seen = calloc(n, sizeof(*seen))) == NULL) {
		exec_guests_free(list, n);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		seen[i] = list[i].vmid;
	exec_guests_free(list, n);
	rc = ERR_NOT_FOUND;
	for (v = t->scratch_first; v <= t->scratch_last; v++) {
		if (in_list(seen, n, v) || in_list(busy, nbusy, v))
			continue;
		if (probes++ == RTEST_PROBES_MAX) {
			rc = ERR_BUSY;
			break;
		}
		memset(&g, 0, sizeof(g));
		err_init(&xe);
		rc = rt->exec->ops->guest_status(rt->exec->ctx, v, &g, &xe);
		exec_guest_reset(&g);
		if (rc == ERR_NOT_FOUND) {
			*out = v;
			rc = 0;
			break;
		}
		if (rc != 0) {
			log_warn("scratch vmid %" PRId64 ": cannot tell "
			    "whether it is free: %s; trying later", v,
			    err_msg(&xe));
			rc = ERR_BUSY;
			break;
		}
		rc = ERR_NOT_FOUND;	/* there, though not listed */
	}
	free(seen);
	return rc;
}

/*
 * vmids the agent must not take: ops in flight, open runs' scratch
 * guests, and every guest of the desired state (one to be provisioned
 * does not exist yet).
 */
static int
busy_vmids(struct rtest *rt, const struct desired_set *set,
    const struct rtests_run *open, size_t nopen, int64_t **out,
    size_t *n_out, struct err *err)
{
	struct ops_row **ops = NULL;
	size_t nops = 0, i, n = 0;
	int64_t *v;
	int rc;

	if ((rc = ops_list_active(rt->db, &ops, &nops, err)) != 0)
		return rc;
	if ((v = calloc(nops + nopen + set->nguests + 1, sizeof(*v))) ==
	    NULL) {
		ops_rows_free(ops, nops);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < nops; i++)
		v[n++] = ops[i]->vmid;
	for (i = 0; i < nopen; i++)
		if (open[i].scratch_vmid != 0)
			v[n++] = open[i].scratch_vmid;
	for (i = 0; i < set->nguests; i++)
		v[n++] = set->guests[i].vmid;
	ops_rows_free(ops, nops);
	*out = v;
	*n_out = n;
	return 0;
}

struct startrun {
	struct rtests_run	*run;
	json_t			*params;	/* NULL: finished at once */
	int64_t			 now;
};

static int
start_txn(struct db *db, void *ctx, struct err *err)
{
	struct startrun *s = ctx;
	struct newop n;
	int rc;

	if ((rc = rtests_insert(db, s->run, &s->run->id, err)) != 0 ||
	    s->params == NULL)
		return rc;
	n.run = s->run;
	n.kind = OPS_KIND_RESTORE;
	n.params = s->params;
	n.why = "restore test: the newest backup into a scratch vmid";
	n.now = s->now;
	return newop_txn(db, &n, err);
}

/* Starts the test of t now: a run row, and its restore op. */
static int
start_run(struct rtest *rt, const struct desired_restore_test *t,
    const int64_t *busy, size_t nbusy, int64_t now, struct err *err)
{
	struct rtests_run r;
	struct startrun s;
	struct err xe;
	char why[200];
	int rc;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	r.vmid = t->vmid;
	r.storage = t->storage;		/* borrowed for the insert */
	r.phase = RTESTS_RESTORE;
	r.started_at = now;
	err_init(&xe);
	rc = newest_backup(rt, t->vmid, &r.backup_volid, &xe);
	if (rc == ERR_NOT_FOUND || rc == ERR_UNSUPPORTED) {
		(void) snprintf(why, sizeof(why), rc == ERR_NOT_FOUND ?
		    "no backup of %" PRId64 " on any active storage" :
		    "backups of %" PRId64 " cannot be listed here", t->vmid);
		goto finished;
	}
	if (rc != 0) {
		if (rc == ERR_NOMEM)
			return err_copy(err, &xe);
		log_warn("restore test of %" PRId64 ": backups unreadable: "
		    "%s; trying later", t->vmid, err_msg(&xe));
		return 0;
	}
	err_init(&xe);
	rc = free_scratch(rt, t, busy, nbusy, &r.scratch_vmid, &xe);
	if (rc == ERR_BUSY) {
		free(r.backup_volid);
		return 0;
	}
	if (rc == ERR_NOT_FOUND) {
		(void) snprintf(why, sizeof(why), "no free scratch vmid in "
		    "%" PRId64 " … %" PRId64, t->scratch_first,
		    t->scratch_last);
		goto finished;
	}
	if (rc != 0) {
		free(r.backup_volid);
		if (rc == ERR_NOMEM)
			return err_copy(err, &xe);
		log_warn("restore test of %" PRId64 ": guests unreadable: %s; "
		    "trying later", t->vmid, err_msg(&xe));
		return 0;
	}
	s.params = json_pack("{s:s,s:s,s:b}", "archive", r.backup_volid,
	    "storage", t->storage, "scratch", 1);
	if (s.params == NULL) {
		free(r.backup_volid);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	s.run = &r;
	s.now = now;
	rc = db_txn(rt->db, start_txn, &s, err);
	json_decref(s.params);
	if (rc == 0)
		rt->made = 1;
	if (rc == 0)
		log_info("restore test %" PRId64 " of %" PRId64 ": %s into "
		    "scratch %" PRId64, r.id, r.vmid, r.backup_volid,
		    r.scratch_vmid);
	free(r.backup_volid);
	return rc;
finished:
	/* Reported, and not tried again before the next period. */
	r.result = "failed";
	r.detail = why;
	r.phase = RTESTS_DONE;
	r.finished_at = now;
	s.run = &r;
	rc = db_txn(rt->db, start_txn, &s, err);
	log_warn("restore test of %" PRId64 ": %s", t->vmid, why);
	free(r.backup_volid);
	return rc;
}

/* Starts every test that is due and not running. */
static int
start_due(struct rtest *rt, const struct rtests_run *open, size_t nopen,
    int64_t now, struct err *err)
{
	struct desired_set *set = NULL;
	struct rtests_run last;
	int64_t *busy = NULL;
	size_t nbusy = 0, i, j;
	int rc, running;

	if ((rc = desired_load(rt->db, &set, err)) != 0)
		return rc;
	if (set->ntests > 0 && (rc = busy_vmids(rt, set, open, nopen, &busy,
	    &nbusy, err)) != 0)
		goto out;
	for (i = 0; i < set->ntests; i++) {
		const struct desired_restore_test *t = &set->tests[i];

		for (running = 0, j = 0; j < nopen; j++)
			if (open[j].vmid == t->vmid)
				running = 1;
		if (running)
			continue;
		memset(&last, 0, sizeof(last));
		rc = rtests_latest(rt->db, t->vmid, &last, err);
		if (rc != 0 && rc != ERR_NOT_FOUND)
			goto out;
		running = rc == 0 && last.started_at + t->every_hours * 3600 >
		    now;
		rtests_run_reset(&last);
		if (running)
			continue;
		if ((rc = start_run(rt, t, busy, nbusy, now, err)) != 0)
			goto out;
	}
	rc = 0;
out:
	free(busy);
	desired_set_free(set);
	return rc;
}

/* ---- advancing a run ---------------------------------------------------- */

/* The marker the isolate step writes into the scratch guest. */
static int
marker(const struct rtests_run *r, char *out, size_t n)
{
	return snprintf(out, n, RTEST_MARKER "of guest %" PRId64 " from %s; "
	    "destroyed when it ends", r->id, r->vmid, r->backup_volid != NULL ?
	    r->backup_volid : "?");
}

/*
 * The isolate op: the scratch copy never joins the network (its netN go,
 * so a production guest's addresses are not taken twice), passes no
 * device through (devN go), does not start at boot, and carries the
 * run's marker.
 */
static int
isolate_op(struct rtest *rt, struct rtests_run *r, int64_t now,
    struct err *err)
{
	json_t *config = NULL, *del, *params;
	const char *k;
	json_t *v;
	char desc[400];
	struct err xe;
	int rc;

	err_init(&xe);
	if ((rc = rt->exec->ops->read_config(rt->exec->ctx, r->scratch_vmid,
	    &config, &xe)) != 0) {
		if (rc == ERR_NOMEM)
			return err_copy(err, &xe);
		log_warn("restore test %" PRId64 ": config of %" PRId64
		    " unreadable: %s; trying later", r->id, r->scratch_vmid,
		    err_msg(&xe));
		return 0;
	}
	if ((del = json_array()) == NULL) {
		json_decref(config);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	json_object_foreach(config, k, v)
		if ((strncmp(k, "net", 3) == 0 || strncmp(k, "dev", 3) == 0) &&
		    k[3] >= '0' && k[3] <= '9' &&
		    json_array_append_new(del, json_string(k)) != 0) {
			json_decref(del);
			json_decref(config);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	json_decref(config);
	(void) marker(r, desc, sizeof(desc));
	params = json_pack("{s:{s:s,s:s},s:o}", "set", "description", desc,
	    "onboot", "0", "delete", del);
	return new_op(rt, r, OPS_KIND_SET_CONFIG, params, "restore test: "
	    "isolate the scratch copy", now, err);
}

/*
 * Still the run's own guest?  Its description must carry the marker; a
 * guest put at that vmid behind the agent's back does not, and is not
 * the agent's to stop or destroy: the provenance is dropped with the
 * run's end, in one transaction.
 */
struct replaced {
	struct rtests_run	*run;
};

static int
replaced_txn(struct db *db, void *ctx, struct err *err)
{
	struct replaced *x = ctx;
	int rc;

	if ((rc = provenance_forget(db, PROVENANCE_GUEST,
	    x->run->scratch_vmid, NULL, NULL, err)) != 0)
		return rc;
	return rtests_update(db, x->run, err);
}

static int
still_ours(struct rtest *rt, struct rtests_run *r, int64_t now, int *ours,
    struct err *err)
{
	json_t *config = NULL;
	const char *d;
	char want[64];
	struct replaced x;
	struct err xe;
	int rc;

	*ours = 1;
	if (!r->marked)
		return 0;
	err_init(&xe);
	rc = rt->exec->ops->read_config(rt->exec->ctx, r->scratch_vmid,
	    &config, &xe);
	if (rc == ERR_NOT_FOUND) {
		*ours = 0;	/* gone already: nothing to clean */
		if ((rc = run_failed(r, "the scratch guest vanished before "
		    "the cleanup", err)) != 0)
			return rc;
		run_done(r, now);
		x.run = r;
		return db_txn(rt->db, replaced_txn, &x, err);
	}
	if (rc != 0) {
		*ours = -1;	/* cannot tell: later */
		return rc == ERR_NOMEM ? err_copy(err, &xe) : 0;
	}
	(void) snprintf(want, sizeof(want), RTEST_MARKER, r->id);
	d = json_string_value(json_object_get(config, "description"));
	if (d == NULL || strstr(d, want) == NULL) {
		*ours = 0;
		log_warn("restore test %" PRId64 ": guest %" PRId64 " no "
		    "longer carries the test's marker: it was replaced behind "
		    "the agent's back and is left alone", r->id,
		    r->scratch_vmid);
		rc = run_failed(r, "the scratch guest was replaced behind the "
		    "agent's back: left alone, not the agent's any more", err);
		if (rc == 0) {
			run_done(r, now);
			x.run = r;
			rc = db_txn(rt->db, replaced_txn, &x, err);
		}
	}
	json_decref(config);
	return rc;
}

/* Enters phase p with no op yet (made by the next step). */
static void
enter(struct rtests_run *r, enum rtests_phase p)
{
	r->phase = p;
	r->op_id = 0;
}

/* Creates the op of a phase that has none yet. */
static int
make_op(struct rtest *rt, struct rtests_run *r, int64_t now, struct err *err)
{
	int ours, rc;

	switch (r->phase) {
	case RTESTS_ISOLATE:
		return isolate_op(rt, r, now, err);
	case RTESTS_START:
		return new_op(rt, r, OPS_KIND_START, json_object(),
		    "restore test: start the scratch copy", now, err);
	case RTESTS_STOP:
		if ((rc = still_ours(rt, r, now, &ours, err)) != 0 ||
		    ours != 1)
			return rc;
		return new_op(rt, r, OPS_KIND_STOP, json_pack("{s:s}", "mode",
		    "stop"), "restore test: stop the scratch copy", now, err);
	case RTESTS_DESTROY:
		return new_op(rt, r, OPS_KIND_DESTROY, json_pack("{s:b}",
		    "purge", 1), "restore test: destroy the scratch copy", now,
		    err);
	default:
		return 0;
	}
}

/* A terminal op's outcome moves the run to its next phase. */
static int
op_ended(struct rtests_run *r, const struct ops_row *op, int64_t now,
    struct err *err)
{
	int ok = strcmp(op->state, "succeeded") == 0, rc = 0;
	char why[700];

	if (!ok)
		(void) snprintf(why, sizeof(why), "%s %s: %s",
		    ops_kind_name(op->kind), op->state, op->error != NULL ?
		    op->error : "no reason given");
	switch (r->phase) {
	case RTESTS_RESTORE:
		if (ok)
			enter(r, r->result != NULL ? RTESTS_STOP :
			    RTESTS_ISOLATE);
		else {
			/* PVE removes what a failed restore made. */
			rc = run_failed(r, why, err);
			run_done(r, now);
		}
		break;
	case RTESTS_ISOLATE:
		r->marked = ok;
		if (!ok)
			rc = run_failed(r, why, err);
		enter(r, r->result != NULL ? RTESTS_STOP : RTESTS_START);
		break;
	case RTESTS_START:
		if (!ok)
			rc = run_failed(r, why, err);
		if (r->result != NULL)
			enter(r, RTESTS_STOP);
		else {
			enter(r, RTESTS_HOLD);
			r->running_since = now;
		}
		break;
	case RTESTS_STOP:
		/* A failed stop is not fatal: destroy forces it. */
		enter(r, RTESTS_DESTROY);
		break;
	case RTESTS_DESTROY:
		if (!ok) {
			(void) snprintf(why, sizeof(why), "scratch guest %"
			    PRId64 " left: destroy %s: %s", r->scratch_vmid,
			    op->state, op->error != NULL ? op->error : "?");
			rc = run_failed(r, why, err);
		}
		run_done(r, now);
		break;
	default:
		break;
	}
	return rc;
}

/* The hold: running for hold_s is a pass; stopping before is a failure. */
static int
hold(struct rtest *rt, struct rtests_run *r, int64_t now, int64_t now_ms,
    int *changed, struct err *err)
{
	struct exec_guest g;
	struct err xe;
	char why[160];
	int rc;

	rt->watching = 1;
	if (r->result != NULL) {
		enter(r, RTESTS_STOP);	/* interrupted: clean up */
		*changed = 1;
		return 0;
	}
	if (now_ms < rt->next_check_ms && now - r->running_since <
	    rt->cfg.hold_s)
		return 0;
	rt->next_check_ms = now_ms + rt->cfg.check_ms;
	memset(&g, 0, sizeof(g));
	err_init(&xe);
	rc = rt->exec->ops->guest_status(rt->exec->ctx, r->scratch_vmid, &g,
	    &xe);
	if (rc == 0 && g.status != NULL && strcmp(g.status, "running") == 0) {
		if (now - r->running_since >= rt->cfg.hold_s) {
			if (set_text(&r->result, "passed") != 0 ||
			    set_text(&r->detail, "restored and started; "
			    "running after %" PRId64 " s", now -
			    r->running_since) != 0)
				rc = err_set(err, ERR_NOMEM, "out of memory");
			enter(r, RTESTS_STOP);
			*changed = 1;
		}
	} else if (rc == 0 || rc == ERR_NOT_FOUND) {
		(void) snprintf(why, sizeof(why), "the scratch copy %s after "
		    "%" PRId64 " s", rc == 0 ? "stopped" : "disappeared",
		    now - r->running_since);
		rc = run_failed(r, why, err);
		enter(r, RTESTS_STOP);
		*changed = 1;
	} else {
		log_warn("restore test %" PRId64 ": status of %" PRId64
		    " unreadable: %s; looking again", r->id, r->scratch_vmid,
		    err_msg(&xe));
		rc = rc == ERR_NOMEM ? err_copy(err, &xe) : 0;
	}
	exec_guest_reset(&g);
	return rc;
}

/* An op of the runner held for a signature: never signed for, dropped. */
static int
supersede(struct rtest *rt, struct rtests_run *r, const struct ops_row *op,
    int64_t now, struct err *err)
{
	struct sm_args a;
	char why[200];
	int rc;

	memset(&a, 0, sizeof(a));
	a.now = now;
	a.hook = rt->cfg.transition_hook;
	a.error_code = "not_agents";
	a.error = "the restore test does not ask for a signature";
	rc = sm_step(rt->db, op->id, SM_PENDING_SIGNATURE, SM_EV_SUPERSEDED,
	    &a, NULL, err);
	if (rc == ERR_CONFLICT)
		return 0;
	if (rc != 0)
		return rc;
	(void) snprintf(why, sizeof(why), "the gate held the %s of %" PRId64
	    " for a signature: it is not the agent's to do, left alone",
	    ops_kind_name(op->kind), r->scratch_vmid);
	if ((rc = run_failed(r, why, err)) != 0)
		return rc;
	/* Nothing of the agent's to clean up behind a refused op. */
	run_done(r, now);
	return 0;
}

static int
advance(struct rtest *rt, struct rtests_run *r, int blocked, int64_t now,
    int64_t now_ms, struct err *err)
{
	struct ops_row *op = NULL;
	int changed = 0, rc = 0, st;

	if (r->op_id != 0) {
		if ((rc = ops_get(rt->db, r->op_id, &op, err)) != 0)
			return rc;
		st = sm_state_parse(op->state);
		if (st >= 0 && !sm_is_terminal((enum sm_state)st)) {
			if (st == SM_PENDING_SIGNATURE && !blocked)
				rc = supersede(rt, r, op, now, err);
			else {
				ops_row_free(op);
				return 0;	/* the lanes are on it */
			}
			changed = 1;
		} else {
			rc = op_ended(r, op, now, err);
			changed = 1;
		}
		ops_row_free(op);
		if (rc != 0)
			return rc;
	} else if (r->phase == RTESTS_HOLD) {
		if ((rc = hold(rt, r, now, now_ms, &changed, err)) != 0)
			return rc;
	}
	if (changed && (rc = save(rt, r, err)) != 0)
		return rc;
	if (blocked || r->phase == RTESTS_DONE || r->phase == RTESTS_HOLD ||
	    r->op_id != 0)
		return 0;
	return make_op(rt, r, now, err);
}

int
rtest_tick(struct rtest *rt, int blocked, int64_t *delay_ms_out,
    struct err *err)
{
	struct rtests_run *open = NULL;
	int64_t now = clock_now(rt->clock), now_ms = clock_mono_ms(rt->clock);
	size_t n = 0, i;
	int rc;

	rt->watching = 0;
	rt->made = 0;
	if ((rc = rtests_open(rt->db, &open, &n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++)
		if ((rc = advance(rt, &open[i], blocked, now, now_ms,
		    err)) != 0)
			goto out;
	if (!blocked && (rc = start_due(rt, open, n, now, err)) != 0)
		goto out;
	if (delay_ms_out != NULL)
		*delay_ms_out = rt->made ? 0 : rt->watching ?
		    rt->cfg.check_ms : n > 0 ? 1000 : -1;
	rc = 0;
out:
	rtests_runs_free(open, n);
	return rc;
}

int
rtest_recover(struct rtest *rt, size_t *n_out, struct err *err)
{
	struct rtests_run *open = NULL;
	char why[160];
	size_t n = 0, i;
	int rc;

	if ((rc = rtests_open(rt->db, &open, &n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		(void) snprintf(why, sizeof(why), "interrupted by an agent "
		    "restart in phase %s; the scratch guest is cleaned up",
		    rtests_phase_name(open[i].phase));
		if ((rc = run_failed(&open[i], why, err)) != 0 ||
		    (rc = save(rt, &open[i], err)) != 0)
			goto out;
		log_warn("restore test %" PRId64 " of %" PRId64 ": %s",
		    open[i].id, open[i].vmid, why);
	}
	if (n_out != NULL)
		*n_out = n;
	rc = 0;
out:
	rtests_runs_free(open, n);
	return rc;
}
