/*
 * engine — observe PVE, plan desired × actual into ops, and hand the
 * ticks to the lanes (R-22 … ).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"
#include "base/log.h"
#include "base/loglimit.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/lane.h"
#include "engine/norm.h"
#include "engine/plan.h"
#include "engine/sm.h"
#include "engine/timer.h"
#include "store/actual.h"
#include "store/audit.h"
#include "store/converge.h"
#include "store/desired.h"
#include "store/journal.h"
#include "store/kv.h"
#include "store/ops.h"

#define ENGINE_MAX_ATTEMPTS	OPS_DEFAULT_MAX_ATTEMPTS
#define ENGINE_BACKOFF_BASE_S	5
#define ENGINE_BACKOFF_MAX_S	300
#define ENGINE_POLL_MS		1000
#define ENGINE_FIND_SLACK_S	1
#define ENGINE_SIGN_WINDOW_S	86400
/* past PVE's 30 s proxy timeout, with room for the request's trip. */
#define ENGINE_UNKNOWN_WINDOW_MS	60000
#define ENGINE_CONVERGE_BASE_S	30
#define ENGINE_CONVERGE_MAX_S	3600

struct engine {
	struct db		*db;		/* borrowed */
	const struct exec	*exec;		/* borrowed */
	const struct clock	*clock;		/* borrowed */
	struct engine_config	 cfg;		/* defaults filled */
	struct lane_ctx		 lane;		/* for lane_ */
	struct loglimit		 pve_log;	/* PVE failing (issue 17) */
	struct timers		*timers;	/* monotonic deadlines */
	struct actual_set	*prev;		/* the one before */
	struct actual_set	*cur;		/* last observation */
	int64_t			*proven;	/* proven absent */
	size_t			 nproven;
	int			 safe;		/* cur plannable */
	int64_t			 obs_mark;	/* journal id before cur */
	int			 obs_open;	/* an observation pends */
	int64_t			 obs_open_mark;	/* its journal id */
};

static int64_t
dflt(int64_t v, int64_t d)
{
	return v > 0 ? v : d;
}

int
engine_new(struct db *db, const struct exec *exec, const struct clock *clock,
    const struct engine_config *cfg, struct engine **out, struct err *err)
{
	struct engine *e;

	if (db == NULL || exec == NULL || exec->ops == NULL || clock == NULL)
		return err_set(err, ERR_INVALID, "engine needs a database, an "
		    "executor and a clock");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	e->db = db;
	e->exec = exec;
	e->clock = clock;
	if (cfg != NULL)
		e->cfg = *cfg;
	e->cfg.max_attempts = (int)dflt(e->cfg.max_attempts,
	    ENGINE_MAX_ATTEMPTS);
	e->cfg.backoff_base_s = dflt(e->cfg.backoff_base_s,
	    ENGINE_BACKOFF_BASE_S);
	e->cfg.backoff_max_s = dflt(e->cfg.backoff_max_s,
	    ENGINE_BACKOFF_MAX_S);
	e->cfg.poll_interval_ms = dflt(e->cfg.poll_interval_ms,
	    ENGINE_POLL_MS);
	e->cfg.find_slack_s = dflt(e->cfg.find_slack_s, ENGINE_FIND_SLACK_S);
	e->cfg.shutdown_timeout_s = dflt(e->cfg.shutdown_timeout_s,
	    PLAN_SHUTDOWN_TIMEOUT_S);
	e->cfg.sign_window_s = dflt(e->cfg.sign_window_s,
	    ENGINE_SIGN_WINDOW_S);
	e->cfg.unknown_window_ms = dflt(e->cfg.unknown_window_ms,
	    ENGINE_UNKNOWN_WINDOW_MS);
	e->cfg.converge_base_s = dflt(e->cfg.converge_base_s,
	    ENGINE_CONVERGE_BASE_S);
	e->cfg.converge_max_s = dflt(e->cfg.converge_max_s,
	    ENGINE_CONVERGE_MAX_S);
	if ((e->timers = timer_new()) == NULL) {
		free(e);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	e->lane.db = db;
	e->lane.exec = exec;
	e->lane.clock = clock;
	e->lane.cfg = &e->cfg;
	e->lane.timers = e->timers;
	loglimit_init(&e->pve_log, 0);
	e->lane.pve_log = &e->pve_log;
	*out = e;
	return 0;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	actual_set_free(e->prev);
	actual_set_free(e->cur);
	free(e->proven);
	timer_free(e->timers);
	free(e);
}

int
engine_step(struct engine *e, int blocked, struct engine_next *out,
    struct err *err)
{
	if (blocked) {
		/* hub-contract "blocked": no mutation, ops stay put. */
		memset(out, 0, sizeof(*out));
		out->delay_ms = -1;
		return 0;
	}
	return lane_step(&e->lane, out, err);
}

int
engine_recover(struct engine *e, struct engine_recovery *out,
    struct err *err)
{
	return lane_recover(&e->lane, out, err);
}

static int
cmp_i64(const void *a, const void *b)
{
	const int64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

static int
push_i64(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
	int64_t *nv;

	if (*n == *cap) {
		*cap = *cap == 0 ? 16 : *cap * 2;
		if ((nv = realloc(*v, *cap * sizeof(*nv))) == NULL)
			return ERR_NOMEM;
		*v = nv;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/*
 * A direct read of a guest missing from the list: 1 proven absent,
 * 0 not proven (the list may be lying), 2 the read is in flight.
 */
static int
prove_absent(struct engine *e, int64_t vmid)
{
	struct exec_guest g;
	struct err xe;
	int rc;

	memset(&g, 0, sizeof(g));
	err_init(&xe);
	rc = e->exec->ops->guest_status(e->exec->ctx, vmid, &g, &xe);
	exec_guest_reset(&g);
	if (rc == ERR_NOT_FOUND)
		return 1;
	if (rc == ERR_PENDING)
		return 2;	/* the observation is replayed (issue 17) */
	if (rc == 0)
		log_warn("guest %" PRId64 " exists but is not in the guest "
		    "list: the list is incomplete", vmid);
	else
		log_warn("guest %" PRId64 " is missing from the list and a "
		    "direct read cannot tell why: %s", vmid, err_msg(&xe));
	return 0;
}

/*
 * The configs of the listed guests the desired state manages (only they
 * are compared), into a new array parallel to list (NULL: not read).
 */
static int
read_managed(struct engine *e, const struct desired_set *desired,
    const struct exec_guest *list, size_t nlist, json_t ***out,
    struct err *err)
{
	json_t **configs = NULL, **got = NULL;
	int64_t *vmids = NULL;
	size_t *where = NULL, n = 0, i;
	struct err *errs = NULL;
	int *rcs = NULL, rc;

	if ((configs = calloc(nlist + 1, sizeof(*configs))) == NULL ||
	    (vmids = calloc(nlist + 1, sizeof(*vmids))) == NULL ||
	    (where = calloc(nlist + 1, sizeof(*where))) == NULL ||
	    (got = calloc(nlist + 1, sizeof(*got))) == NULL ||
	    (rcs = calloc(nlist + 1, sizeof(*rcs))) == NULL ||
	    (errs = calloc(nlist + 1, sizeof(*errs))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nlist; i++)
		if (desired_find(desired, list[i].vmid) != NULL) {
			where[n] = i;
			vmids[n++] = list[i].vmid;
		}
	if (e->exec->ops->read_configs != NULL) {
		if ((rc = e->exec->ops->read_configs(e->exec->ctx, vmids, n,
		    got, rcs, errs, err)) != 0)
			goto out;
	} else
		for (i = 0; i < n; i++) {
			err_init(&errs[i]);
			rcs[i] = e->exec->ops->read_config(e->exec->ctx,
			    vmids[i], &got[i], &errs[i]);
		}
	for (i = 0; i < n; i++) {
		if (rcs[i] != 0) {
			log_warn("guest %" PRId64 ": config unreadable, not "
			    "compared this cycle: %s", vmids[i],
			    err_msg(&errs[i]));
			continue;
		}
		configs[where[i]] = got[i];
		got[i] = NULL;
	}
	*out = configs;
	configs = NULL;
	rc = 0;
out:
	for (i = 0; configs != NULL && i < nlist; i++)
		json_decref(configs[i]);
	for (i = 0; got != NULL && i < n; i++)
		json_decref(got[i]);
	free(configs);
	free(got);
	free(vmids);
	free(where);
	free(rcs);
	free(errs);
	return rc;
}

/*
 * issue 15: the guests of the last observation, by vmid alone (no name,
 * status or config): all that telling "missing now" needs.  The rows
 * themselves are compared in the database (actual_sync).
 */
static int
prev_vmids(struct db *db, struct actual_set **out, struct err *err)
{
	struct actual_set *set;
	int64_t *v = NULL;
	size_t n = 0, i;
	int rc;

	if ((rc = actual_vmids(db, &v, &n, err)) != 0)
		return rc;
	if ((set = actual_set_new()) == NULL ||
	    (n > 0 && (set->guests = calloc(n, sizeof(*set->guests))) ==
	    NULL)) {
		actual_set_free(set);
		free(v);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		set->guests[i].vmid = v[i];
	set->nguests = set->cap = n;
	free(v);
	*out = set;
	return 0;
}

static int
observe(struct engine *e, int64_t mark, int *safe_out, struct err *err)
{
	struct exec_guest *list = NULL;
	json_t **configs = NULL;
	struct actual_set *cur = NULL, *prev = NULL;
	struct desired_set *desired = NULL;
	struct actual_guest g;
	const struct desired_guest *dg;
	json_t *config;
	struct err xe;
	int64_t *proven = NULL;
	size_t nlist = 0, nproven = 0, cap = 0, i;
	int rc, safe = 1, p;

	if ((rc = e->exec->ops->list_guests(e->exec->ctx, &list, &nlist,
	    err)) != 0)
		return err_prefix(err, "list guests: ");
	if ((rc = desired_load(e->db, &desired, err)) != 0 ||
	    (rc = prev_vmids(e->db, &prev, err)) != 0)
		goto out;
	if ((cur = actual_set_new()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	cur->observed_at = clock_now(e->clock);
	if ((rc = read_managed(e, desired, list, nlist, &configs, err)) != 0)
		goto out;
	for (i = 0; i < nlist; i++) {
		memset(&g, 0, sizeof(g));
		g.vmid = list[i].vmid;
		g.name = list[i].name;
		g.status = list[i].status;
		g.lock = list[i].lock;
		g.template = list[i].template;
		list[i].name = list[i].status = list[i].lock = NULL;
		if ((config = configs[i]) != NULL) {
			configs[i] = NULL;
			err_init(&xe);
			if (norm_spec_from_config(config, &g.spec, &xe) != 0)
				log_warn("guest %" PRId64 ": config not "
				    "understood, not compared: %s", g.vmid,
				    err_msg(&xe));
			else if (norm_usb_observe(g.spec, e->cfg.sysfs_root !=
			    NULL ? e->cfg.sysfs_root : "/sys") != 0) {
				log_warn("guest %" PRId64 ": out of memory "
				    "reading its USB devices, not compared",
				    g.vmid);
				json_decref(g.spec);
				g.spec = NULL;
			} else if ((g.spec_text = jsonx_dump(g.spec)) !=
			    NULL) {
				/* Kept as text until the next cycle (issue
				 * 15); out of memory: kept parsed. */
				json_decref(g.spec);
				g.spec = NULL;
			}
			g.config = config;
		}
		if ((rc = actual_set_add(cur, &g, err)) != 0)
			goto out;
	}
	actual_set_sort(cur);
	/* Guests seen last time and now missing: proven gone, or unsafe. */
	for (i = 0; i < prev->nguests; i++) {
		if (actual_find(cur, prev->guests[i].vmid) != NULL)
			continue;
		if ((p = prove_absent(e, prev->guests[i].vmid)) == 1) {
			if (push_i64(&proven, &nproven, &cap,
			    prev->guests[i].vmid) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
		} else if (p == 0)
			safe = 0;
	}
	/* Missing desired guests to provision: prove before creating. */
	for (i = 0; safe && i < desired->nguests; i++) {
		dg = &desired->guests[i];
		if (dg->provision == NULL || dg->state == DESIRED_ABSENT ||
		    actual_find(cur, dg->vmid) != NULL ||
		    actual_find(prev, dg->vmid) != NULL)
			continue;
		if (prove_absent(e, dg->vmid) == 1 &&
		    push_i64(&proven, &nproven, &cap, dg->vmid) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	/* Issue 17: a read in flight: nothing is concluded yet. */
	if (exec_pass_pending(e->exec)) {
		rc = err_set(err, ERR_PENDING, "observe: PVE reads in flight");
		goto out;
	}
	if (nproven > 1)
		qsort(proven, nproven, sizeof(*proven), cmp_i64);
	if (!safe)
		log_warn("the guest list shrank without proof (%zu listed, %zu "
		    "before); not planning this cycle", cur->nguests,
		    prev->nguests);
	else if ((rc = actual_sync(e->db, cur, NULL, err)) != 0)
		goto out;
	/*
	 * issue 15: the raw configs are in the database now; the plan reads
	 * only the normalized specs, so they are not kept until the next
	 * cycle.
	 */
	for (i = 0; i < cur->nguests; i++) {
		json_decref(cur->guests[i].config);
		cur->guests[i].config = NULL;
	}
	actual_set_free(e->prev);
	actual_set_free(e->cur);
	free(e->proven);
	e->prev = prev;
	e->cur = cur;
	e->proven = proven;
	e->nproven = nproven;
	e->safe = safe;
	e->obs_mark = mark;
	prev = cur = NULL;
	proven = NULL;
	*safe_out = safe;
	rc = 0;
out:
	for (i = 0; configs != NULL && i < nlist; i++)
		json_decref(configs[i]);
	free(configs);
	exec_guests_free(list, nlist);
	desired_set_free(desired);
	actual_set_free(prev);
	actual_set_free(cur);
	free(proven);
	return rc;
}

int
engine_observe(struct engine *e, int *safe_out, struct err *err)
{
	int rc;

	/*
	 * What ended before this mark, the observation has seen: taken
	 * before its first request, kept while it pends (issue 17).
	 */
	if (!e->obs_open && (rc = journal_max_id(e->db, &e->obs_open_mark,
	    err)) != 0)
		return rc;
	/*
	 * Issue 17: observe's reads never wait (in the daemon's loop): an
	 * observation whose answers are not all there yet is ERR_PENDING,
	 * nothing concluded; called again, it takes them (the requests sent
	 * once) and goes on.  Its reads go after the lanes'.
	 */
	if (e->obs_open && exec_pass_waiting(e->exec, "observe"))
		return err_set(err, ERR_PENDING, "observe: PVE reads in flight");
	if ((rc = exec_pass_begin(e->exec, "observe", 1, err)) != 0)
		return rc;
	e->obs_open = 1;
	rc = observe(e, e->obs_open_mark, safe_out, err);
	(void) exec_pass_end(e->exec);
	if (rc != ERR_PENDING)
		e->obs_open = 0;
	return rc;
}

/* Vmids with an op in flight or mid-sequence: the plan leaves them be. */
static int
busy_vmids(struct ops_row **ops, size_t n, int64_t **out, size_t *nout)
{
	int64_t *v = NULL;
	size_t nv = 0, cap = 0, i;
	enum sm_state s;

	for (i = 0; i < n; i++) {
		s = lane_op_state(ops[i]);
		if (ops[i]->vmid == 0 || sm_state_info(s) == NULL)
			continue;
		if (!sm_state_info(s)->in_flight && !(s == SM_AUTHORIZED &&
		    (ops[i]->step > 0 || ops[i]->attempt > 0)))
			continue;
		if (nv > 0 && v[nv - 1] == ops[i]->vmid)
			continue;
		if (push_i64(&v, &nv, &cap, ops[i]->vmid) != 0) {
			free(v);
			return ERR_NOMEM;
		}
	}
	*out = v;
	*nout = nv;
	return 0;
}

/* An op the plan may still replace: from the plan, not yet started. */
static int
supersedable(const struct ops_row *op)
{
	enum sm_state s = lane_op_state(op);

	return op->source == OPS_SOURCE_DESIRED && op->step == 0 &&
	    op->attempt == 0 && (s == SM_NEW || s == SM_PENDING_SIGNATURE ||
	    s == SM_AUTHORIZED);
}

/* Kinds applied once: a success is never repeated by a later generation. */
static int
one_shot(enum ops_kind k)
{
	return k == OPS_KIND_RESTORE || k == OPS_KIND_ROLLBACK ||
	    k == OPS_KIND_DESTROY || k == OPS_KIND_PROVISION;
}

struct plan_ctx {
	struct engine		*e;
	struct plan		*plan;
	struct ops_row		**ops;
	size_t			 nops;
	const struct desired_set *desired;
	unsigned char		*covered;	/* per plan action */
	size_t			 created;
	size_t			 superseded;
	int			 again;		/* generation applied before */
	int64_t			 now;
};

/* The backoff after the n-th consecutive failure: doubling, capped. */
static int64_t
converge_wait_ms(const struct engine *e, int n)
{
	int64_t d = e->cfg.converge_base_s;
	int i;

	for (i = 1; i < n && d < e->cfg.converge_max_s; i++)
		d *= 2;
	return (d < e->cfg.converge_max_s ? d : e->cfg.converge_max_s) * 1000;
}

/* The audit row of a re-convergence decision (R-34: drift is audited). */
static int
converge_audit(struct db *db, struct plan_ctx *c, int64_t vmid, int64_t op_id,
    const char *decision, const char *code, const struct ops_latest *prev,
    int failures, int64_t wait_ms, struct err *err)
{
	struct audit_event ev;
	json_t *data;
	char text[300];
	int rc;

	if ((data = json_pack("{s:s?,s:s?,s:s?,s:s?,s:i,s:I}", "previous_op",
	    prev != NULL ? prev->uid : NULL, "previous_state",
	    prev != NULL ? prev->state : NULL, "error_code",
	    prev != NULL ? prev->error_code : NULL, "error",
	    prev != NULL ? prev->error : NULL, "failures", failures,
	    "wait_s", (json_int_t)(wait_ms / 1000))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (strcmp(decision, "backoff") == 0)
		(void) snprintf(text, sizeof(text), "guest %" PRId64 ": %s "
		    "ended %s (%s); planned again in %" PRId64 " s (failure "
		    "%d)", vmid, prev->uid, prev->state, prev->error != NULL ?
		    prev->error : "no reason given", wait_ms / 1000, failures);
	else if (strcmp(code, "drift") == 0)
		(void) snprintf(text, sizeof(text), "guest %" PRId64 " drifted "
		    "from desired generation %" PRId64 " behind the agent's "
		    "back; planned again", vmid, c->desired->generation);
	else
		(void) snprintf(text, sizeof(text), "guest %" PRId64 ": planned "
		    "again after %s ended %s (%s)", vmid, prev->uid,
		    prev->state, prev->error != NULL ? prev->error :
		    "no reason given");
	memset(&ev, 0, sizeof(ev));
	ev.at = c->now;
	ev.event = "converge";
	ev.decision = decision;
	ev.code = code;
	ev.op_id = op_id;
	ev.vmid = vmid;
	ev.detail = text;
	ev.data = data;
	rc = audit_append(db, &ev, NULL, err);
	json_decref(data);
	return rc;
}

/*
 * whether a desired action is planned again within its generation,
 * and under which key.  *key_out: NULL (nothing now) or the key of the
 * new op; *code_out the audit code ("drift" or "retry"), NULL for the
 * generation's first plan of the action.
 */
static int
converge_decide(struct db *db, struct plan_ctx *c, const struct plan_action *pa,
    const char *base, char *key, size_t keylen, const char **code_out,
    struct ops_latest *prev, struct err *err)
{
	struct engine *e = c->e;
	struct converge_row row;
	struct err xe;
	int64_t left = 0, wait;
	enum sm_state st;
	int rc, failed, failures;

	*code_out = NULL;
	key[0] = '\0';
	rc = ops_latest_by_key(db, base, prev, err);
	if (rc == ERR_NOT_FOUND && !c->again) {
		/* The generation's first plan of the action. */
		(void) snprintf(key, keylen, "%s", base);
		return 0;
	}
	if (rc != 0 && rc != ERR_NOT_FOUND)
		return rc;
	st = rc == 0 ? (enum sm_state)sm_state_parse(prev->state) :
	    SM_SUCCEEDED;
	if (rc == 0 && (!sm_is_terminal(st) || prev->journal_id > e->obs_mark))
		return 0;	/* in flight, or ended after the observation */
	failed = rc == 0 && st != SM_SUCCEEDED && st != SM_SUPERSEDED;
	memset(&row, 0, sizeof(row));
	err_init(&xe);
	rc = converge_get(db, pa->vmid, &row, &xe);
	if (rc != 0 && rc != ERR_NOT_FOUND)
		return err_copy(err, &xe);
	if (prev->id > 0 && st != SM_SUPERSEDED && row.op_id != prev->id) {
		/* Counted once per op: a failure, or drift after success. */
		failures = row.failures + 1;
		wait = failed ? converge_wait_ms(e, failures) : failures == 1 ?
		    0 : converge_wait_ms(e, failures - 1);
		converge_row_reset(&row);
		memset(&row, 0, sizeof(row));
		row.vmid = pa->vmid;
		row.failures = failures;
		row.wait_ms = wait;
		row.op_id = prev->id;
		row.error_code = prev->error_code;
		row.error = prev->error;
		row.updated_at = c->now;
		rc = converge_put(db, &row, err);
		row.error_code = row.error = NULL;
		if (rc != 0)
			return rc;
		if (timer_arm(e->timers, TIMER_CONVERGE, pa->vmid, failures,
		    wait, clock_mono_ms(e->clock)) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		if (failed && (rc = converge_audit(db, c, pa->vmid, prev->id,
		    "backoff", "failed", prev, failures, wait, err)) != 0)
			return rc;
		row.failures = failures;
		row.wait_ms = wait;
	}
	/* The guest's backoff, on the monotonic clock. */
	if (row.failures > 0 && timer_left(e->timers, TIMER_CONVERGE,
	    pa->vmid, row.failures, row.wait_ms,
	    e->cfg.converge_max_s * 1000, clock_mono_ms(e->clock),
	    &left) != 0) {
		converge_row_reset(&row);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	converge_row_reset(&row);
	if (left > 0)
		return 0;	/* the guest backs off (per guest, R-34) */
	/* Rounds moved to an archive still count (issue 15). */
	if (prev->id > 0 || prev->rounds > 0)
		(void) snprintf(key, keylen, "%s/%" PRId64, base,
		    prev->rounds + 1);
	else
		(void) snprintf(key, keylen, "%s", base);
	*code_out = failed ? "retry" : "drift";
	return 0;
}

static int
apply_plan(struct db *db, void *vctx, struct err *err)
{
	struct plan_ctx *c = vctx;
	const struct plan_action *pa;
	struct ops_new on;
	struct ops_latest prev;
	struct sm_args a;
	char digest[PLAN_DIGEST_LEN], key[PLAN_KEY_MAX], base[PLAN_KEY_MAX];
	const char *code;
	int64_t now = clock_now(c->e->clock), id, applied, vmid;
	size_t i;
	int rc, found;

	c->now = now;
	if ((rc = kv_get_int(db, DESIRED_KV_APPLIED, 0, &applied, err)) != 0)
		return rc;
	/* Planned before: what is created now is re-convergence. */
	c->again = applied == c->desired->generation;
	if (!c->again && (rc = converge_clear(db, 0, err)) != 0)
		return rc;

	for (i = 0; i < c->nops; i++) {
		const struct ops_row *op = c->ops[i];

		if (!supersedable(op))
			continue;
		if ((rc = plan_digest_text(op->params_text != NULL ?
		    op->params_text : "{}", digest, err)) != 0)
			return rc;
		if (desired_find(c->desired, op->vmid) != NULL) {
			if (!plan_considers(c->plan, op->vmid))
				continue;
			pa = plan_find(c->plan, op->vmid, op->kind, digest);
			if (pa != NULL) {
				c->covered[pa - c->plan->actions] = 1;
				continue;
			}
		}
		memset(&a, 0, sizeof(a));
		a.now = now;
		a.code = "desired_changed";
		a.error_code = "superseded";
		a.error = "the desired state no longer asks for it";
		rc = sm_step_in_txn(db, op->id, lane_op_state(op),
		    SM_EV_SUPERSEDED, &a, NULL, err);
		if (rc != 0)
			return rc;
		c->superseded++;
	}
	for (i = 0; i < c->plan->nactions; i++) {
		pa = &c->plan->actions[i];
		if (c->covered[i])
			continue;
		if (one_shot(pa->kind)) {
			plan_key_prefix(pa->vmid, pa->kind, pa->digest, key,
			    sizeof(key));
			if ((rc = ops_find_prefix_state(db, key, "succeeded",
			    &found, err)) != 0)
				return rc;
			if (found)
				continue;	/* applied before */
		}
		plan_idem_key(c->desired->generation, pa->vmid, pa->kind,
		    pa->digest, base, sizeof(base));
		/* once per generation, again after its end. */
		memset(&prev, 0, sizeof(prev));
		rc = converge_decide(db, c, pa, base, key, sizeof(key), &code,
		    &prev, err);
		if (rc != 0 || key[0] == '\0') {
			ops_latest_reset(&prev);
			if (rc != 0)
				return rc;
			continue;
		}
		memset(&on, 0, sizeof(on));
		on.vmid = pa->vmid;
		on.kind = pa->kind;
		on.source = OPS_SOURCE_DESIRED;
		on.class = pa->class;
		on.params = pa->params;
		on.params_text = pa->params_text;
		on.why = pa->why;
		on.idem_key = key;
		on.generation = c->desired->generation;
		on.max_attempts = c->e->cfg.max_attempts;
		on.now = now;
		if ((rc = ops_create(db, &on, &id, err)) != 0 ||
		    (code != NULL && (rc = converge_audit(db, c, pa->vmid, id,
		    "planned", code, prev.id > 0 ? &prev : NULL, 0, 0,
		    err)) != 0)) {
			ops_latest_reset(&prev);
			return rc;
		}
		if (code != NULL)
			log_info("guest %" PRId64 ": %s planned again in "
			    "generation %" PRId64 " (%s)", pa->vmid,
			    ops_kind_name(pa->kind), c->desired->generation,
			    code);
		ops_latest_reset(&prev);
		c->created++;
	}
	/* A guest with nothing left to do has converged: no backoff. */
	for (i = 0; i < c->plan->nconsidered; i++) {
		vmid = c->plan->considered[i];
		if (plan_has_actions(c->plan, vmid))
			continue;
		if ((rc = converge_clear(db, vmid, err)) != 0)
			return rc;
		timer_drop(c->e->timers, TIMER_CONVERGE, vmid);
	}
	return kv_set_int(db, DESIRED_KV_APPLIED, c->desired->generation, err);
}

int
engine_plan(struct engine *e, size_t *created_out, struct err *err)
{
	struct plan_input in;
	struct plan_ctx c;
	struct desired_set *desired = NULL;
	struct plan *plan = NULL;
	struct ops_row **ops = NULL;
	int64_t *busy = NULL;
	size_t nops = 0, nbusy = 0, i;
	int rc;

	memset(&c, 0, sizeof(c));
	if (e->cur == NULL)
		return err_set(err, ERR_INVALID, "engine_plan before "
		    "engine_observe");
	if ((rc = desired_load(e->db, &desired, err)) != 0 ||
	    (rc = ops_list_active(e->db, &ops, &nops, err)) != 0)
		goto out;
	if (busy_vmids(ops, nops, &busy, &nbusy) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	memset(&in, 0, sizeof(in));
	in.desired = desired;
	in.actual = e->cur;
	in.previous = e->prev;
	in.proven_absent = e->proven;
	in.nproven_absent = e->nproven;
	in.busy = busy;
	in.nbusy = nbusy;
	in.shutdown_timeout_s = e->cfg.shutdown_timeout_s;
	if ((rc = plan_compute(&in, &plan, err)) != 0)
		goto out;
	if (plan->skipped) {
		log_warn("plan skipped: %s", plan->skip_reason);
		goto done;
	}
	for (i = 0; i < plan->nnotes; i++)
		log_debug("plan: guest %" PRId64 " skipped: %s",
		    plan->notes[i].vmid, plan_note_name(plan->notes[i].kind));
	if (plan->nactions > 0 &&
	    (c.covered = calloc(plan->nactions, 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	c.e = e;
	c.plan = plan;
	c.ops = ops;
	c.nops = nops;
	c.desired = desired;
	if ((rc = db_txn(e->db, apply_plan, &c, err)) != 0)
		goto out;
	if (c.created > 0 || c.superseded > 0)
		log_info("plan of generation %" PRId64 ": %zu action(s), %zu "
		    "new op(s), %zu superseded", desired->generation,
		    plan->nactions, c.created, c.superseded);
done:
	if (created_out != NULL)
		*created_out = c.created;
	rc = 0;
out:
	free(c.covered);
	free(busy);
	plan_free(plan);
	ops_rows_free(ops, nops);
	desired_set_free(desired);
	return rc;
}

static int
save_wait(void *ctx, enum timer_kind kind, int64_t id, int64_t gen,
    int64_t left_ms, struct err *err)
{
	struct engine *e = ctx;
	struct converge_row row;
	int rc;

	if (left_ms < 0)
		left_ms = 0;
	if (kind == TIMER_RETRY)
		return ops_set_wait(e->db, id, left_ms, err);
	if (kind != TIMER_CONVERGE)
		return 0;
	memset(&row, 0, sizeof(row));
	if ((rc = converge_get(e->db, id, &row, err)) == ERR_NOT_FOUND)
		return 0;
	if (rc == 0 && row.failures == gen) {
		row.wait_ms = left_ms;
		rc = converge_put(e->db, &row, err);
	}
	converge_row_reset(&row);
	return rc;
}

int
engine_save_waits(struct engine *e, struct err *err)
{
	int rc;

	if ((rc = db_begin(e->db, err)) != 0)
		return rc;
	if ((rc = timer_each(e->timers, clock_mono_ms(e->clock), save_wait, e,
	    err)) != 0) {
		db_rollback(e->db);
		return rc;
	}
	return db_commit(e->db, err);
}

int
engine_in_flight(struct engine *e, size_t *out, struct err *err)
{
	struct ops_row **ops = NULL;
	size_t n = 0, i, k = 0;
	enum sm_state s;
	int rc;

	if ((rc = ops_list_active(e->db, &ops, &n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		s = lane_op_state(ops[i]);
		if (sm_state_info(s) != NULL && sm_state_info(s)->in_flight)
			k++;
	}
	ops_rows_free(ops, n);
	*out = k;
	return 0;
}
