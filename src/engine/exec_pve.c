/*
 * exec_pve — op steps as PVE API calls, polls and reads (R-03 … R-05,
 * With exec_safe.c (the overwrites) and exec_restore.c (what a
 * restore sends) the only engine code that talks to the PVE client.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "engine/exec.h"
#include "engine/exec_pve.h"
#include "engine/exec_pve_int.h"
#include "engine/norm.h"
#include "engine/pvereq.h"
#include "pve/pve.h"
#include "pve/upid.h"

#define EXEC_PVE_FANOUT		8	/* config reads at once */

const char *
exec_pve_str_param(const json_t *params, const char *key)
{
	return json_string_value(json_object_get(params, key));
}

int
exec_pve_need_str(const json_t *params, const char *key, const char **out,
    struct err *err)
{
	if ((*out = exec_pve_str_param(params, key)) == NULL || **out == '\0')
		return err_set(err, ERR_FORMAT, "params.%s: required string",
		    key);
	return 0;
}

/*
 * provision params {template, storage, rootfs_gib, spec} → create
 * parameters.  Feature flags other than nesting are root-only in the
 * API: they belong to the privileged helper (R-08a), not here.
 */
static int
create_params(const json_t *params, struct pvereq *ps, struct err *err)
{
	const char *tmpl, *storage, *k, *f;
	const json_t *spec = json_object_get(params, "spec"), *gib;
	json_t *flat = NULL, *v;
	char buf[96];
	int rc;

	if ((rc = exec_pve_need_str(params, "template", &tmpl, err)) != 0 ||
	    (rc = exec_pve_need_str(params, "storage", &storage, err)) != 0)
		return rc;
	if ((rc = pvereq_puts(ps, "ostemplate", tmpl, err)) != 0 ||
	    (rc = pvereq_puts(ps, "storage", storage, err)) != 0 ||
	    (rc = pvereq_puts(ps, "unprivileged", "1", err)) != 0)
		return rc;
	gib = json_object_get(params, "rootfs_gib");
	if (gib != NULL) {
		if (!json_is_integer(gib) || json_integer_value(gib) < 1)
			return err_set(err, ERR_FORMAT, "params.rootfs_gib: "
			    "expected a positive integer");
		(void) snprintf(buf, sizeof(buf), "%s:%" PRId64, storage,
		    (int64_t)json_integer_value(gib));
		if ((rc = pvereq_puts(ps, "rootfs", buf, err)) != 0)
			return rc;
	}
	if (spec == NULL || json_is_null(spec))
		return 0;
	if ((rc = norm_spec_to_params(spec, NULL, &flat, err)) != 0)
		return rc;
	json_object_foreach(flat, k, v) {
		if (strcmp(k, "delete") == 0)
			continue;	/* nothing to delete on a new guest */
		if (strcmp(k, "features") == 0) {
			f = json_string_value(v);
			if (f != NULL && strcmp(f, "nesting=1") != 0) {
				rc = err_set(err, ERR_UNSUPPORTED, "features "
				    "'%s': flags other than nesting are "
				    "root-only in the PVE API; they need the "
				    "privileged helper (R-08)", f);
				goto out;
			}
		}
		if ((rc = pvereq_put(ps, k, v, err)) != 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(flat);
	return rc;
}

/* Answers that mean "already as asked": the step is done. */
static int
already_done(enum exec_step_kind what, int rc, const struct pve_fault *f)
{
	if (rc == 0 || f == NULL)
		return 0;
	switch (what) {
	case EXEC_STEP_START:
	case EXEC_STEP_START_AGAIN:
		return f->reason == PVE_E_ALREADY_RUNNING;
	case EXEC_STEP_SHUTDOWN:
	case EXEC_STEP_STOP:
		return f->reason == PVE_E_NOT_RUNNING;
	case EXEC_STEP_DESTROY:
	case EXEC_STEP_DROP_SAFETY:	/* the copy is gone already */
		return f->reason == PVE_E_NOT_FOUND;
	default:
		return 0;
	}
}

static int
x_submit(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_submit sub;
	struct pvereq ps;
	struct pvereq_internal internal;
	struct err local;
	const char *a;
	long vmid = (long)t->vmid, timeout;
	int rc;

	memset(&ps, 0, sizeof(ps));
	memset(&sub, 0, sizeof(sub));
	err_init(&local);
	switch (t->what) {
	case EXEC_STEP_START:
		rc = pve_lxc_start(x->client, x->node, vmid, &sub, &local);
		break;
	case EXEC_STEP_SHUTDOWN:
		timeout = (long)json_integer_value(json_object_get(t->params,
		    "timeout"));
		/* Shutdown with a timeout, then a hard stop (forceStop). */
		rc = pve_lxc_shutdown(x->client, x->node, vmid, timeout, 1,
		    &sub, &local);
		break;
	case EXEC_STEP_STOP:
		if (t->kind == OPS_KIND_RESTORE)
			rc = exec_safe_submit(x, t, &sub, &local);
		else
			rc = pve_lxc_stop(x->client, x->node, vmid, &sub,
			    &local);
		break;
	case EXEC_STEP_SET_CONFIG:
		/* the very list the gate classified (pvereq.h); the
		 * digest of the config it was computed from is the
		 * agent's own parameter, never the blob's. */
		internal.digest = t->digest;
		if ((rc = pvereq_set_config(t->params, &internal, &ps,
		    &local)) != 0)
			break;
		rc = pve_lxc_set_config(x->client, x->node, vmid, ps.p, ps.n,
		    &sub, &local);
		break;
	case EXEC_STEP_SNAPSHOT:
		if ((rc = exec_pve_need_str(t->params, "name", &a, &local)) != 0)
			break;
		rc = pve_snapshot_create(x->client, x->node, vmid, a,
		    exec_pve_str_param(t->params, "description"), &sub, &local);
		break;
	case EXEC_STEP_DELETE_SNAPSHOT:
		if ((rc = exec_pve_need_str(t->params, "name", &a, &local)) != 0)
			break;
		rc = pve_snapshot_delete(x->client, x->node, vmid, a, 0, &sub,
		    &local);
		break;
	case EXEC_STEP_ROLLBACK:
		if ((rc = exec_pve_need_str(t->params, "snapshot", &a, &local)) != 0)
			break;
		rc = pve_snapshot_rollback(x->client, x->node, vmid, a, 0,
		    &sub, &local);
		break;
	case EXEC_STEP_BACKUP: {
		struct pve_vzdump_options o;

		memset(&o, 0, sizeof(o));
		o.vmids = &vmid;
		o.n_vmids = 1;
		o.storage = exec_pve_str_param(t->params, "storage");
		o.mode = exec_pve_str_param(t->params, "mode");
		o.protect = -1;
		/*
		 * a backup loses nothing.  PVE's default remove=1
		 * would prune older backups by the storage's retention
		 * (pve-guest-common VZDump/Common.pm); with 0 a full
		 * storage refuses instead (PVE/VZDump.pm, "max backup
		 * limit"), and the op fails saying so (x_poll).
		 */
		o.remove = 0;
		rc = pve_vzdump(x->client, x->node, &o, &sub, &local);
		break;
	}
	case EXEC_STEP_RESTORE:
	case EXEC_STEP_REATTACH:
		rc = exec_safe_submit(x, t, &sub, &local);
		break;
	case EXEC_STEP_START_AGAIN:
		/* Only a guest the op stopped is started again. */
		if (t->was_running != 1) {
			sub.kind = PVE_SUBMIT_SYNC;
			rc = 0;
			break;
		}
		rc = pve_lxc_start(x->client, x->node, vmid, &sub, &local);
		break;
	case EXEC_STEP_DESTROY:
		rc = pve_lxc_destroy(x->client, x->node, vmid, 1,
		    json_is_true(json_object_get(t->params, "purge")), &sub,
		    &local);
		break;
	case EXEC_STEP_CREATE:
		if ((rc = create_params(t->params, &ps, &local)) != 0 ||
		    (rc = pvereq_finish(&ps, &local)) != 0)
			break;
		rc = pve_lxc_create(x->client, x->node, vmid, ps.p, ps.n, &sub,
		    &local);
		break;
	case EXEC_STEP_SAFETY_SNAPSHOT:
		rc = exec_safe_submit(x, t, &sub, &local);
		break;
	case EXEC_STEP_DROP_SAFETY:
		a = exec_pve_str_param(t->safety, "snapshot");
		if (a == NULL && exec_pve_str_param(t->safety, "backup") != NULL) {
			/* The engine keeps it, as the agent's (lane.c). */
			rc = err_set(&local, ERR_UNSUPPORTED, "safety backup "
			    "%s kept: the API subset has no volume delete; "
			    "the storage's retention prunes it",
			    exec_pve_str_param(t->safety, "backup"));
			break;
		}
		if (a == NULL) {
			rc = err_set(&local, ERR_FORMAT, "op %s has no safety "
			    "snapshot to drop", t->uid);
			break;
		}
		rc = pve_snapshot_delete(x->client, x->node, vmid, a, 0, &sub,
		    &local);
		break;
	default:
		rc = err_set(&local, ERR_UNSUPPORTED, "step %d is not run "
		    "over the PVE API", (int)t->what);
		break;
	}
	pvereq_reset(&ps);
	if (rc != 0 && already_done(t->what, rc,
	    pve_last_fault(x->client))) {
		*upid_out = NULL;
		return 0;
	}
	if (rc != 0)
		return err_copy(err, &local);
	if (sub.kind != PVE_SUBMIT_TASK) {
		*upid_out = NULL;	/* applied synchronously */
		return 0;
	}
	if ((*upid_out = strdup(sub.upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * §5.8: an HA resource's hastart/hastop task ends once the request is
 * queued.  The step is done when the guest got there; until the bound
 * it is reported running, then as failed with what the guest is doing.
 */
static int
ha_poll(struct exec_pve *x, const struct pve_task_status *st,
    enum exec_task_state *out, char **exit_out, struct err *err)
{
	struct pve_guest_status gs;
	int start = strcmp(st->type, "hastart") == 0, rc, there;
	long vmid = strtol(st->id != NULL ? st->id : "", NULL, 10);
	int64_t waited;
	char msg[256];

	memset(&gs, 0, sizeof(gs));
	if ((rc = pve_lxc_status(x->client, x->node, vmid, &gs, err)) != 0)
		return err_prefix(err, "HA request %s: ", st->upid_str);
	there = gs.guest.state == (start ? PVE_GUEST_RUNNING :
	    PVE_GUEST_STOPPED);
	waited = clock_now(NULL) - (int64_t)st->upid.starttime;
	if (there)
		*out = EXEC_TASK_OK;
	else if (waited < x->ha_wait_s)
		*out = EXEC_TASK_RUNNING;
	else {
		*out = EXEC_TASK_FAILED;
		(void) snprintf(msg, sizeof(msg), "the HA stack did not %s CT "
		    "%ld within %ld s of the request (CT %s, HA state '%s'); "
		    "ha-manager keeps the request", start ? "start" : "stop",
		    vmid, x->ha_wait_s,
		    pve_guest_state_name((int)gs.guest.state),
		    gs.guest.ha_state != NULL ? gs.guest.ha_state : "?");
		if ((*exit_out = strdup(msg)) == NULL)
			rc = err_set(err, ERR_NOMEM, "out of memory");
	}
	pve_guest_status_reset(&gs);
	return rc;
}

/*
 * vzdump ends "job errors" whatever failed; the reason is the log's
 * "ERROR: Backup of VM N failed - ..." line (pve-manager PVE/VZDump.pm,
 * exec_backup_task).  *out: "job errors: Backup of VM N failed - ...",
 * or NULL when the log does not say (best effort: one read).
 */
static char *
vzdump_reason(struct exec_pve *x, const char *upid)
{
	static const char mark[] = "ERROR: Backup of VM ";
	struct pve_task_log log;
	const char *why = NULL;
	char *out = NULL;
	size_t i;

	memset(&log, 0, sizeof(log));
	if (pve_task_log(x->client, upid, 0, 1000, &log, NULL) != 0)
		return NULL;
	for (i = 0; i < log.n; i++)
		if (log.lines[i].t != NULL &&
		    strncmp(log.lines[i].t, mark, sizeof(mark) - 1) == 0)
			why = log.lines[i].t + sizeof("ERROR: ") - 1;
	if (why != NULL && asprintf(&out, "job errors: %s", why) < 0)
		out = NULL;
	pve_task_log_reset(&log);
	return out;
}

/* a finished snapshot (not one PVE is still preparing). */
static int
x_snapshot_exists(void *ctx, int64_t vmid, const char *name, int *out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_snapshots ss;
	const struct pve_snapshot *sn;
	int rc;

	memset(&ss, 0, sizeof(ss));
	if ((rc = pve_snapshot_list(x->client, x->node, (long)vmid, &ss,
	    err)) != 0)
		return rc;
	sn = pve_snapshots_find(&ss, name);
	*out = sn != NULL && sn->snapstate == NULL;
	pve_snapshots_reset(&ss);
	return 0;
}

static int
x_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_task_status st;
	int rc;

	memset(&st, 0, sizeof(st));
	if ((rc = pve_task_status_once(x->client, upid, &st, err)) != 0)
		return rc;
	if (st.running)
		*out = EXEC_TASK_RUNNING;
	else if (st.state == PVE_TASK_OK || st.state == PVE_TASK_WARNINGS) {
		*out = st.state == PVE_TASK_OK ? EXEC_TASK_OK :
		    EXEC_TASK_WARNINGS;
		if (exec_task_type_is_ha(st.type)) {
			rc = ha_poll(x, &st, out, exit_out, err);
			pve_task_status_reset(&st);
			return rc;
		}
	} else
		*out = EXEC_TASK_FAILED;
	if (*out == EXEC_TASK_FAILED && st.exitstatus != NULL &&
	    strcmp(st.exitstatus, "job errors") == 0 && st.type != NULL &&
	    strcmp(st.type, "vzdump") == 0)
		*exit_out = vzdump_reason(x, upid);
	if (!st.running && st.exitstatus != NULL && *exit_out == NULL &&
	    (*exit_out = strdup(st.exitstatus)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	pve_task_status_reset(&st);
	return rc;
}

static int
x_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
    const char *exclude, char **upid_out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_task_filter f;
	struct pve_tasks tasks;
	const struct pve_task *best = NULL, *t;
	const char *token = pve_client_token_id(x->client);
	size_t i;
	int rc;

	memset(&f, 0, sizeof(f));
	memset(&tasks, 0, sizeof(tasks));
	f.vmid = (long)vmid;
	f.typefilter = type;
	f.source = "all";	/* running tasks too (§5.14) */
	f.since = since > 0 ? since : 0;
	f.limit = 500;
	if ((rc = pve_task_list(x->client, x->node, &f, &tasks, err)) != 0)
		return rc;
	/* Newest first: the last match is the oldest of ours. */
	for (i = 0; i < tasks.n; i++) {
		t = &tasks.items[i];
		if (t->type == NULL || strcmp(t->type, type) != 0 ||
		    t->starttime < since || !pve_task_is_ours(t, token) ||
		    (exclude != NULL && strcmp(t->upid_str, exclude) == 0))
			continue;
		if (best == NULL || t->starttime <= best->starttime)
			best = t;
	}
	if (best == NULL)
		rc = ERR_NOT_FOUND;
	else if ((*upid_out = strdup(best->upid_str)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	pve_tasks_reset(&tasks);
	return rc;
}

static int
x_read_config(void *ctx, int64_t vmid, json_t **out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_lxc_config cfg;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	if ((rc = pve_lxc_config(x->client, x->node, (long)vmid, 0, &cfg,
	    err)) != 0)
		return rc;
	*out = json_incref(cfg.raw);
	pve_lxc_config_reset(&cfg);
	return 0;
}

static int
x_read_configs(void *ctx, const int64_t *vmids, size_t n, json_t **out,
    int *rcs, struct err *errs, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_lxc_config *res = NULL;
	long *ids = NULL;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if ((res = calloc(n, sizeof(*res))) == NULL ||
	    (ids = calloc(n, sizeof(*ids))) == NULL) {
		free(res);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		ids[i] = (long)vmids[i];
		err_init(&errs[i]);
		out[i] = NULL;
	}
	if ((rc = pve_lxc_configs(x->client, x->node, ids, n,
	    EXEC_PVE_FANOUT, res, rcs, errs, err)) == 0) {
		for (i = 0; i < n; i++)
			if (rcs[i] == 0)
				out[i] = json_incref(res[i].raw);
	}
	for (i = 0; i < n; i++)
		pve_lxc_config_reset(&res[i]);
	free(res);
	free(ids);
	return rc;
}

static int
guest_fill(const struct pve_guest *g, struct exec_guest *out)
{
	memset(out, 0, sizeof(*out));
	out->vmid = g->vmid;
	out->template = g->is_template;
	if ((g->name != NULL && (out->name = strdup(g->name)) == NULL) ||
	    (out->status = strdup(pve_guest_state_name((int)g->state))) ==
	    NULL ||
	    (g->lock != NULL && (out->lock = strdup(g->lock)) == NULL)) {
		exec_guest_reset(out);
		return ERR_NOMEM;
	}
	return 0;
}

static int
x_list_guests(void *ctx, struct exec_guest **out, size_t *n_out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_guests gs;
	struct exec_guest *v = NULL;
	size_t i, n = 0;
	int rc;

	memset(&gs, 0, sizeof(gs));
	if ((rc = pve_lxc_list(x->client, x->node, &gs, err)) != 0)
		return rc;
	if (gs.n > 0 && (v = calloc(gs.n, sizeof(*v))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < gs.n; i++) {
		if (guest_fill(&gs.items[i], &v[n]) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	*out = v;
	*n_out = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	exec_guests_free(v, n);
	pve_guests_reset(&gs);
	return rc;
}

static int
x_guest_status(void *ctx, int64_t vmid, struct exec_guest *out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_guest_status st;
	int rc;

	memset(&st, 0, sizeof(st));
	if ((rc = pve_lxc_status(x->client, x->node, (long)vmid, &st,
	    err)) != 0)
		return rc;
	if (guest_fill(&st.guest, out) != 0)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	pve_guest_status_reset(&st);
	return rc;
}

static const struct exec_ops exec_pve_ops = {
	.submit = x_submit,
	.undo = exec_safe_undo,
	.undo_done = exec_safe_undo_done,
	.poll = x_poll,
	.find_task = x_find_task,
	.read_config = x_read_config,
	.read_configs = x_read_configs,
	.list_guests = x_list_guests,
	.guest_status = x_guest_status,
	.safety_copy = exec_safe_copy,
	.snapshot_exists = x_snapshot_exists,
};

int
exec_pve_new(struct pve_client *client, const char *node,
    struct exec_pve **out, struct err *err)
{
	struct exec_pve *x;

	if (client == NULL || node == NULL || node[0] == '\0')
		return err_set(err, ERR_INVALID, "exec_pve needs a client and "
		    "a node");
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->node = strdup(node)) == NULL) {
		free(x);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	x->client = client;
	x->ha_wait_s = EXEC_PVE_HA_WAIT_S;
	x->ops = exec_pve_ops;
	*out = x;
	return 0;
}

void
exec_pve_set_helper(struct exec_pve *x, const struct exec_helper *h)
{
	x->helper = h;
}

void
exec_pve_set_ha_wait(struct exec_pve *x, long seconds)
{
	x->ha_wait_s = seconds > 0 ? seconds : EXEC_PVE_HA_WAIT_S;
}

void
exec_pve_free(struct exec_pve *x)
{
	if (x == NULL)
		return;
	free(x->node);
	free(x);
}

void
exec_pve_bind(struct exec_pve *x, struct exec *out)
{
	out->ops = &x->ops;
	out->ctx = x;
}
