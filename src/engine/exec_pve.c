/*
 * exec_pve — the real executor: op steps as PVE API calls (R-03 … R-05,
 * R-34) and its exec_ops.  With exec_pve_read.c (the polls and reads),
 * exec_safe.c (the overwrites) and exec_restore.c (what a restore sends)
 * the only engine code that talks to the PVE client; the steps that need
 * root go to the privileged helper through exec_priv.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "engine/exec.h"
#include "engine/exec_priv.h"
#include "engine/exec_pve.h"
#include "engine/exec_pve_int.h"
#include "engine/norm.h"
#include "engine/pvereq.h"
#include "pve/pve.h"
#include "pve/upid.h"

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
		/*
		 * Host paths and devices: attached by the helper once it
		 * exists (R-08b).
		 */
		if (strncmp(k, "mp", 2) == 0 || strncmp(k, "dev", 3) == 0)
			continue;
		if (strcmp(k, "features") == 0) {
			f = json_string_value(v);
			/* exec_steps sent root-only flags to the helper. */
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

/*
 * A restore test's copy into a free scratch vmid: never forced (a guest
 * that appeared there meanwhile makes PVE refuse), new MAC addresses
 * (unique), not started at boot; its network is removed before it
 * starts (engine/rtest.c).
 */
static int
scratch_restore(struct exec_pve *x, const struct exec_target *t,
    struct pve_submit *sub, struct err *err)
{
	struct pve_param p[5];
	const char *archive, *storage;
	size_t n = 0;
	int rc;

	if ((rc = exec_pve_need_str(t->params, "archive", &archive,
	    err)) != 0)
		return rc;
	/* pve-api.md §5.11: never PVE's default "local" (issue 11). */
	if ((storage = exec_pve_str_param(t->params, "storage")) == NULL)
		return err_set(err, ERR_FORMAT, "params.storage: required for "
		    "a restore test");
	p[n++] = (struct pve_param){ "ostemplate", archive };
	p[n++] = (struct pve_param){ "restore", "1" };
	p[n++] = (struct pve_param){ "storage", storage };
	p[n++] = (struct pve_param){ "unique", "1" };
	p[n++] = (struct pve_param){ "onboot", "0" };
	return pve_lxc_create(x->client, x->node, (long)t->vmid, p, n, sub,
	    err);
}

static int
need_priv(const struct exec_pve *x, const struct exec_target *t,
    struct err *err)
{
	if (x->priv != NULL)
		return 0;
	return err_set(err, ERR_UNSUPPORTED, "op %s (%s on %" PRId64 ") needs "
	    "root and no privileged helper is configured (priv.mode \"on\" "
	    "and felhom-privhelper.socket, R-08)", t->uid,
	    ops_kind_name(t->kind), t->vmid);
}

/* One blocking helper request; PVE's lock answer stays retryable. */
static int
helper_call(struct exec_pve *x, const json_t *req, struct err *err)
{
	json_t *res = NULL;
	struct err ce;
	int rc;

	err_init(&ce);
	rc = priv_call(exec_priv_client(x->priv), req,
	    EXEC_PRIV_SET_TIMEOUT_MS, &res, &ce);
	json_decref(res);
	/* Issue 15: the helper changed a config behind the client. */
	pve_config_changed(x->client);
	if (rc != 0 && strstr(err_msg(&ce), " is locked") != NULL)
		ce.code = rc = ERR_LOCKED;
	return rc != 0 ? err_copy(err, &ce) : 0;
}

/*
 * a set_config with root-only keys.  The API takes what it may
 * (PUT, the very form the gate classified), the helper attaches host
 * paths and devices and sets the feature flags; repeating either after
 * a crash changes nothing.
 */
static int
priv_config(struct exec_pve *x, const struct exec_target *t,
    struct pve_submit *sub, struct err *err)
{
	json_t *api = NULL, *att = NULL, *feat = NULL;
	struct pvereq_internal internal;
	struct pvereq ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	memset(&internal, 0, sizeof(internal));
	internal.digest = t->digest;
	if ((rc = exec_priv_split_config(t->vmid, t->params, &api, &att,
	    &feat, err)) != 0)
		return rc;
	if ((att != NULL || feat != NULL) &&
	    (rc = need_priv(x, t, err)) != 0)
		goto out;
	if (api != NULL && ((rc = pvereq_set_config(api, &internal, &ps,
	    err)) != 0 || (rc = pve_lxc_set_config(x->client, x->node,
	    (long)t->vmid, ps.p, ps.n, sub, err)) != 0))
		goto out;
	if ((att != NULL && (rc = helper_call(x, att, err)) != 0) ||
	    (feat != NULL && (rc = helper_call(x, feat, err)) != 0))
		goto out;
	sub->kind = PVE_SUBMIT_SYNC;
out:
	pvereq_reset(&ps);
	json_decref(api);
	json_decref(att);
	json_decref(feat);
	return rc;
}

/* R-08a: `pct create` by the helper, as a job the loop polls. */
static int
priv_create(struct exec_pve *x, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	json_t *req = NULL;
	int rc;

	if ((rc = need_priv(x, t, err)) != 0 ||
	    (rc = exec_priv_create_req(t->vmid, t->params, &req, err)) != 0)
		return rc;
	rc = exec_priv_start(x->priv, "vzcreate", t->vmid, (int64_t)time(NULL),
	    req, upid_out, err);
	json_decref(req);
	return rc;
}

/*
 * issue 11's seam (exec_helper), served by the helper: the host-path
 * mount points a token's restore left out are set again as root, like
 * a set_config of those keys would through the helper (R-08b).
 */
static int
helper_reattach(void *ctx, int64_t vmid, const json_t *mounts,
    struct err *err)
{
	struct exec_pve *x = ctx;
	json_t *params = NULL, *api = NULL, *att = NULL, *feat = NULL;
	int rc;

	if (x->priv == NULL)
		return err_set(err, ERR_UNSUPPORTED, "no privileged helper to "
		    "put host-path mount points back on CT %" PRId64, vmid);
	if ((params = json_pack("{s:O}", "set", mounts)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = exec_priv_split_config(vmid, params, &api, &att, &feat,
	    err)) != 0)
		goto out;
	if (api != NULL || feat != NULL) {
		rc = err_set(err, ERR_INTERNAL, "re-attach of CT %" PRId64
		    ": not only host paths", vmid);
		goto out;
	}
	if (att != NULL)
		rc = helper_call(x, att, err);
out:
	json_decref(params);
	json_decref(api);
	json_decref(att);
	json_decref(feat);
	return rc;
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
		if (json_is_true(json_object_get(t->params, "scratch"))) {
			rc = scratch_restore(x, t, &sub, &local);
			break;
		}
		rc = exec_safe_submit(x, t, &sub, &local);
		break;
	case EXEC_STEP_REATTACH:
		rc = exec_safe_submit(x, t, &sub, &local);
		break;
	case EXEC_STEP_PRIV_CONFIG:
		rc = priv_config(x, t, &sub, &local);
		break;
	case EXEC_STEP_PRIV_CREATE:
		if ((rc = priv_create(x, t, upid_out, &local)) != 0)
			break;
		return 0;
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

/* ---- issue 17: passes that never wait -------------------------------- */

static int
x_pass_begin(void *ctx, const char *scope, int background, struct err *err)
{
	struct exec_pve *x = ctx;

	if (!x->async)
		return 0;
	return pve_pass_begin(x->client, scope, background ? HTTPS_PRIO_LOW :
	    HTTPS_PRIO_HIGH, err);
}

static int
x_pass_pending(void *ctx)
{
	struct exec_pve *x = ctx;

	return pve_pass_pending(x->client);
}

static int
x_pass_end(void *ctx)
{
	struct exec_pve *x = ctx;

	return pve_pass_end(x->client);
}

static void
x_pass_forget(void *ctx, const char *scope)
{
	struct exec_pve *x = ctx;

	pve_memo_forget(x->client, scope);
}

static int
x_pass_waiting(void *ctx, const char *scope)
{
	struct exec_pve *x = ctx;

	return pve_memo_waiting(x->client, scope);
}

/*
 * A call of the pass pends: whatever the executor made of the answers
 * it had (a fallback, an error it tolerates), there is no result yet.
 * 1 when so (err then says ERR_PENDING).
 */
static int
pended(struct exec_pve *x, struct err *err)
{
	if (!pve_pass_pending(x->client))
		return 0;
	if (err != NULL)
		err_init(err);
	(void) err_set(err, ERR_PENDING, "a PVE request is in flight");
	return 1;
}

static int
w_submit(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	int rc = x_submit(ctx, t, upid_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		free(*upid_out);
		*upid_out = NULL;
	}
	return ERR_PENDING;
}

static int
w_undo(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	int rc = exec_safe_undo(ctx, t, upid_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		free(*upid_out);
		*upid_out = NULL;
	}
	return ERR_PENDING;
}

static int
w_undo_done(void *ctx, const struct exec_target *t, json_t **detail_out,
    struct err *err)
{
	int rc = exec_safe_undo_done(ctx, t, detail_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		json_decref(*detail_out);
		*detail_out = NULL;
	}
	return ERR_PENDING;
}

static int
w_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	int rc = x_poll(ctx, upid, out, exit_out, err);

	if (!pended(ctx, err))
		return rc;
	free(*exit_out);
	*exit_out = NULL;
	return ERR_PENDING;
}

static int
w_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
    const char *const *exclude, char **upid_out, struct err *err)
{
	int rc = x_find_task(ctx, type, vmid, since, exclude, upid_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		free(*upid_out);
		*upid_out = NULL;
	}
	return ERR_PENDING;
}

static int
w_read_config(void *ctx, int64_t vmid, json_t **out, struct err *err)
{
	int rc = x_read_config(ctx, vmid, out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		json_decref(*out);
		*out = NULL;
	}
	return ERR_PENDING;
}

static int
w_read_configs(void *ctx, const int64_t *vmids, size_t n, json_t **out,
    int *rcs, struct err *errs, struct err *err)
{
	int rc = x_read_configs(ctx, vmids, n, out, rcs, errs, err);
	size_t i;

	if (!pended(ctx, err))
		return rc;
	for (i = 0; rc == 0 && i < n; i++) {
		json_decref(out[i]);
		out[i] = NULL;
	}
	return ERR_PENDING;
}

static int
w_list_guests(void *ctx, struct exec_guest **out, size_t *n_out,
    struct err *err)
{
	int rc = x_list_guests(ctx, out, n_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		exec_guests_free(*out, *n_out);
		*out = NULL;
		*n_out = 0;
	}
	return ERR_PENDING;
}

static int
w_guest_status(void *ctx, int64_t vmid, struct exec_guest *out,
    struct err *err)
{
	int rc = x_guest_status(ctx, vmid, out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0)
		exec_guest_reset(out);
	return ERR_PENDING;
}

static int
w_safety_copy(void *ctx, const struct exec_target *t, const char *upid,
    json_t **out, struct err *err)
{
	int rc = exec_safe_copy(ctx, t, upid, out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		json_decref(*out);
		*out = NULL;
	}
	return ERR_PENDING;
}

static int
w_snapshot_exists(void *ctx, int64_t vmid, const char *name, int *out,
    struct err *err)
{
	int rc = x_snapshot_exists(ctx, vmid, name, out, err);

	return pended(ctx, err) ? ERR_PENDING : rc;
}

static int
w_list_backups(void *ctx, int64_t vmid, struct exec_backup **out,
    size_t *n_out, struct err *err)
{
	int rc = x_list_backups(ctx, vmid, out, n_out, err);

	if (!pended(ctx, err))
		return rc;
	if (rc == 0) {
		exec_backups_free(*out, *n_out);
		*out = NULL;
		*n_out = 0;
	}
	return ERR_PENDING;
}

/*
 * Every call is wrapped (w_): inside a pass of the daemon's loop any
 * request still in flight makes it ERR_PENDING (issue 17).
 */
static const struct exec_ops exec_pve_ops = {
	.submit = w_submit,
	.undo = w_undo,
	.undo_done = w_undo_done,
	.poll = w_poll,
	.find_task = w_find_task,
	.read_config = w_read_config,
	.read_configs = w_read_configs,
	.list_guests = w_list_guests,
	.guest_status = w_guest_status,
	.safety_copy = w_safety_copy,
	.snapshot_exists = w_snapshot_exists,
	.list_backups = w_list_backups,
	.pass_begin = x_pass_begin,
	.pass_pending = x_pass_pending,
	.pass_end = x_pass_end,
	.pass_forget = x_pass_forget,
	.pass_waiting = x_pass_waiting,
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

int
exec_pve_set_priv(struct exec_pve *x, struct priv_client *client,
    struct err *err)
{
	int rc;

	exec_priv_free(x->priv);
	x->priv = NULL;
	if (x->helper == &x->priv_helper)
		x->helper = NULL;
	if (client == NULL)
		return 0;
	if ((rc = exec_priv_new(client, &x->priv, err)) != 0)
		return rc;
	/* The helper also serves issue 11's re-attach seam. */
	x->priv_helper.reattach = helper_reattach;
	x->priv_helper.ctx = x;
	x->helper = &x->priv_helper;
	return 0;
}

void
exec_pve_set_async(struct exec_pve *x, int on)
{
	x->async = on != 0;
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
	exec_priv_free(x->priv);
	free(x->node);
	free(x);
}

void
exec_pve_bind(struct exec_pve *x, struct exec *out)
{
	out->ops = &x->ops;
	out->ctx = x;
}
