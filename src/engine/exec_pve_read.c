/*
 * exec_pve_read — the real executor's polls and reads: a task's state
 * (HA requests, vzdump's reason, a helper job lost to a restart), a
 * task found again after a crash, guest configs and states, snapshots
 * and backups (R-03 … ).  The steps it submits are
 * exec_pve.c's; what both share is exec_pve_int.h.
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

#define EXEC_PVE_FANOUT		8	/* config reads at once */

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
int
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

static int poll_task(struct exec_pve *x, const char *upid,
    enum exec_task_state *out, char **exit_out, struct err *err);

/*
 * A helper job this process does not hold (the agent restarted while
 * pct ran): the root task pct left is polled in its place, or PVE's
 * guest says what became of it (exec_priv_resolve_lost).
 */
static int
poll_lost_job(struct exec_pve *x, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	char *root = NULL;
	int rc;

	if ((rc = exec_priv_resolve_lost(x->client, x->node, upid, &root, out,
	    exit_out, err)) != 0 || root == NULL)
		return rc;
	rc = poll_task(x, root, out, exit_out, err);
	free(root);
	return rc;
}

int
x_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	struct exec_pve *x = ctx;
	int rc;

	if (strncmp(upid, EXEC_PRIV_UPID_PREFIX,
	    strlen(EXEC_PRIV_UPID_PREFIX)) == 0) {
		rc = x->priv != NULL ? exec_priv_poll(x->priv, upid, out,
		    exit_out, err) : ERR_NOT_FOUND;
		/* Issue 15: a helper job that ended changed a config. */
		if (rc == 0 && *out != EXEC_TASK_RUNNING)
			pve_config_changed(x->client);
		if (rc != ERR_NOT_FOUND)
			return rc;
		if (err != NULL)
			err_init(err);
		return poll_lost_job(x, upid, out, exit_out, err);
	}
	return poll_task(x, upid, out, exit_out, err);
}

static int
poll_task(struct exec_pve *x, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
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

int
x_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
    const char *const *exclude, char **upid_out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_task_filter f;
	struct pve_tasks tasks;
	const struct pve_task *best = NULL, *t;
	const char *token = pve_client_token_id(x->client);
	size_t i, np = strlen(EXEC_PRIV_TASK_PREFIX);
	int rc;

	/*
	 * a helper step's task is root's (pct); a synchronous one has
	 * none, and repeating it is harmless.
	 */
	if (strncmp(type, EXEC_PRIV_TASK_PREFIX, np) == 0) {
		if (strcmp(type + np, "config") == 0)
			return ERR_NOT_FOUND;
		return exec_priv_find_root_task(x->client, x->node,
		    type + np, vmid, since, exclude, upid_out, err);
	}
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
		    exec_upid_listed(exclude, t->upid_str))
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

int
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

int
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
	rc = 0;
	if (pve_pass_active(x->client)) {
		/* Issue 17: each a request of the pass, all at once. */
		for (i = 0; i < n; i++)
			if (!pve_config_cached(x->client, ids[i], &res[i]))
				rcs[i] = pve_lxc_config(x->client, x->node,
				    ids[i], 0, &res[i], &errs[i]);
			else
				rcs[i] = 0;
	} else
		rc = pve_lxc_configs(x->client, x->node, ids, n,
		    EXEC_PVE_FANOUT, res, rcs, errs, err);
	if (rc == 0) {
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

int
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

int
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

int
x_list_backups(void *ctx, int64_t vmid, struct exec_backup **out,
    size_t *n_out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_storages ss;
	struct pve_backups bs;
	struct exec_backup *v = NULL, *nv;
	const struct pve_storage *s;
	size_t i, j, n = 0;
	int rc;

	memset(&ss, 0, sizeof(ss));
	if ((rc = pve_storage_list(x->client, x->node, "backup", &ss,
	    err)) != 0)
		return rc;
	for (i = 0; i < ss.n; i++) {
		s = &ss.items[i];
		if (!s->enabled || !s->active || s->content == NULL ||
		    strstr(s->content, "backup") == NULL)
			continue;
		memset(&bs, 0, sizeof(bs));
		if ((rc = pve_storage_backups(x->client, x->node, s->storage,
		    (long)vmid, &bs, err)) != 0)
			goto out;
		for (j = 0; j < bs.n; j++) {
			if (bs.items[j].vmid != (long)vmid ||
			    bs.items[j].volid == NULL)
				continue;
			if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
				pve_backups_reset(&bs);
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			v = nv;
			memset(&v[n], 0, sizeof(v[n]));
			v[n].ctime = bs.items[j].ctime;
			n++;
			if ((v[n - 1].volid = strdup(bs.items[j].volid)) ==
			    NULL || (v[n - 1].storage = strdup(s->storage)) ==
			    NULL) {
				pve_backups_reset(&bs);
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
		}
		pve_backups_reset(&bs);
	}
	*out = v;
	*n_out = n;
	v = NULL;
	n = 0;
	rc = 0;
out:
	exec_backups_free(v, n);
	pve_storages_reset(&ss);
	return rc;
}
