/*
 * exec_safe — the executor's overwrites (R-31, pve-api.md §5.11): the
 * safety copy (a snapshot, or a backup for a restore and for a guest PVE
 * cannot snapshot), the stop before a restore, the restore itself with
 * its storage always named, the privileged helper's re-attaching of
 * host-path mount points, and the undo back to the safety copy.  Part of
 * the real executor (exec_pve_int.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/log.h"
#include "engine/exec.h"
#include "engine/exec_pve_int.h"
#include "engine/exec_restore.h"
#include "pve/pve.h"
#include "pve/upid.h"

/*
 * R-31 (gate): whether PVE can snapshot guest vmid.  A bind or device
 * mount point (a volume that is a host path) cannot be snapshotted
 * (pve-api.md; PVE answers "snapshot feature is not available").
 * *mounts_out (may be NULL) gets those mount points.
 */
static int
snapshot_capable(struct exec_pve *x, long vmid, int *capable,
    json_t **mounts_out, struct err *err)
{
	struct pve_lxc_config cfg;
	json_t *mounts = NULL;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	if ((rc = pve_lxc_config(x->client, x->node, vmid, 0, &cfg,
	    err)) != 0)
		return rc;
	if ((rc = exec_host_mounts(cfg.raw, &mounts, err)) == 0) {
		*capable = json_object_size(mounts) == 0;
		if (mounts_out != NULL) {
			*mounts_out = mounts;
			mounts = NULL;
		}
	}
	json_decref(mounts);
	pve_lxc_config_reset(&cfg);
	return rc;
}

/*
 * "Never start an overwrite whose undo cannot run": the undo from a
 * safety backup of a guest with host-path mount points needs the
 * privileged helper to put them back (a token cannot restore them,
 * pve-api.md §5.11).
 */
static int
need_helper(struct exec_pve *x, const char *what, long vmid,
    const json_t *mounts, struct err *err)
{
	char keys[160];

	if (json_object_size(mounts) == 0 || x->helper != NULL)
		return 0;
	exec_mount_keys(mounts, keys, sizeof(keys));
	return err_set(err, ERR_UNSUPPORTED, "%s %ld has host-path mount "
	    "points (%s) that an API token cannot restore (PVE allows it "
	    "only to root@pam); without the privileged helper (priv.socket) "
	    "they could not be put back, so the overwrite is refused before "
	    "anything is changed", what, vmid, keys);
}

/*
 * The storage a safety backup goes to: the first (by id) enabled and
 * active storage holding backups.  Chosen the same way again to find
 * the volume afterwards.
 */
static int
safety_storage(struct exec_pve *x, char **out, struct err *err)
{
	struct pve_storages ss;
	const struct pve_storage *best = NULL, *s;
	size_t i;
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
		if (best == NULL || strcmp(s->storage, best->storage) < 0)
			best = s;
	}
	if (best == NULL)
		rc = err_set(err, ERR_UNSUPPORTED, "no active storage holds "
		    "backups: no safety copy can be taken");
	else if ((*out = strdup(best->storage)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	pve_storages_reset(&ss);
	return rc;
}

/* The safety copy of a guest PVE cannot snapshot: a vzdump backup. */
static int
safety_backup(struct exec_pve *x, const struct exec_target *t,
    struct pve_submit *sub, struct err *err)
{
	struct pve_vzdump_options o;
	long vmid = (long)t->vmid;
	char *storage = NULL, notes[96];
	int rc;

	if ((rc = safety_storage(x, &storage, err)) != 0)
		return rc;
	(void) snprintf(notes, sizeof(notes), "felhom-agent safety copy "
	    "before %s of op %s", ops_kind_name(t->kind), t->uid);
	memset(&o, 0, sizeof(o));
	o.vmids = &vmid;
	o.n_vmids = 1;
	o.storage = storage;
	o.notes_template = notes;
	/*
	 * issue 11: with remove=0 a storage whose prune-backups keeps N
	 * and already holds N backups of the guest refuses a plain
	 * backup ("max backup limit").  A protected one is held only to
	 * max-protected-backups, never to that limit, and is never pruned
	 * (pve-manager PVE/VZDump.pm exec_backup_task: the limit check is
	 * the elsif of the protected one; protected backups do not count).
	 * When even that is refused, the safety step fails and the
	 * overwrite after it never starts.
	 */
	o.protect = 1;
	o.remove = 0;		/* never prune the customer's backups */
	rc = pve_vzdump(x->client, x->node, &o, sub, err);
	free(storage);
	return rc;
}

/*
 * §5.11: the storage a forward restore goes to.  The op's when it names
 * one; for an overwrite the storage of the guest's current root disk;
 * a restore into a free vmid without one is refused (PVE would take
 * 'local').
 */
static int
restore_storage(struct exec_pve *x, const struct exec_target *t, char **out,
    struct err *err)
{
	struct pve_lxc_config cfg;
	const char *s = exec_pve_str_param(t->params, "storage");
	char buf[128];
	int rc;

	if (s != NULL && s[0] != '\0') {
		if ((*out = strdup(s)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		return 0;
	}
	if (!t->overwrite)
		return err_set(err, ERR_INVALID, "restore into %" PRId64 ": "
		    "params.storage names no target storage, and PVE would "
		    "put the disks on 'local'; the op needs one", t->vmid);
	memset(&cfg, 0, sizeof(cfg));
	if ((rc = pve_lxc_config(x->client, x->node, (long)t->vmid, 0, &cfg,
	    err)) != 0)
		return rc;
	rc = exec_rootfs_storage(cfg.raw, buf, sizeof(buf), err);
	pve_lxc_config_reset(&cfg);
	if (rc != 0)
		return err_prefix(err, "restore over %" PRId64 " without "
		    "params.storage: ", t->vmid);
	if ((*out = strdup(buf)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* The plan of a forward restore (storage, explicit volumes, mounts). */
static int
forward_plan(struct exec_pve *x, const struct exec_target *t,
    struct exec_restore_plan *plan, struct err *err)
{
	const char *archive;
	char *storage = NULL;
	int rc;

	if ((rc = exec_pve_need_str(t->params, "archive", &archive, err)) != 0 ||
	    (rc = restore_storage(x, t, &storage, err)) != 0)
		return rc;
	rc = exec_restore_plan(x->client, x->node, archive, storage, plan,
	    err);
	free(storage);
	return rc;
}

/*
 * Everything a restore will need, checked before its first step touches
 * anything: the target storage, the backup's config, and the helper for
 * host-path mount points of the backup and (for the undo) of the guest.
 */
static int
restore_preflight(struct exec_pve *x, const struct exec_target *t,
    struct err *err)
{
	struct exec_restore_plan plan;
	json_t *mounts = NULL;
	int rc, capable = 1;

	memset(&plan, 0, sizeof(plan));
	if ((rc = forward_plan(x, t, &plan, err)) != 0)
		return rc;
	rc = need_helper(x, "the backup of", (long)t->vmid, plan.mounts, err);
	exec_restore_plan_reset(&plan);
	if (rc != 0 || !t->overwrite)
		return rc;
	if ((rc = snapshot_capable(x, (long)t->vmid, &capable, &mounts,
	    err)) == ERR_NOT_FOUND)
		rc = 0;		/* nothing there to return to */
	else if (rc == 0)
		rc = need_helper(x, "CT", (long)t->vmid, mounts, err);
	json_decref(mounts);
	return rc;
}

/* The params of a plan's explicit volumes (pointing into plan). */
static int
plan_volumes(const struct exec_restore_plan *plan, struct pvereq *ps,
    struct err *err)
{
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach(plan->volumes, k, v)
		if ((rc = pvereq_put(ps, k, v, err)) != 0)
			return rc;
	return pvereq_finish(ps, err);
}

static int
send_restore(struct exec_pve *x, long vmid, const char *archive,
    const struct exec_restore_plan *plan, int force, int start,
    struct pve_submit *sub, struct err *err)
{
	struct pve_restore_options o;
	struct pvereq ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	memset(&o, 0, sizeof(o));
	if ((rc = plan_volumes(plan, &ps, err)) == 0) {
		o.archive = archive;
		o.storage = plan->storage;
		o.force = force;
		o.start = start;
		o.volumes = ps.p;
		o.n_volumes = ps.n;
		rc = pve_lxc_restore(x->client, x->node, vmid, &o, sub, err);
	}
	pvereq_reset(&ps);
	return rc;
}

/* Puts host-path mount points back through the helper (exec_helper). */
static int
reattach(struct exec_pve *x, long vmid, const json_t *mounts,
    struct err *err)
{
	char keys[160];
	int rc;

	if (json_object_size(mounts) == 0)
		return 0;
	exec_mount_keys(mounts, keys, sizeof(keys));
	if (x->helper == NULL || x->helper->reattach == NULL)
		return err_set(err, ERR_UNSUPPORTED, "CT %ld needs its "
		    "host-path mount points (%s) put back, which only the "
		    "privileged helper can do, and none is configured", vmid,
		    keys);
	if ((rc = x->helper->reattach(x->helper->ctx, (int64_t)vmid, mounts,
	    err)) != 0)
		return err_prefix(err, "re-attaching %s to CT %ld: ", keys,
		    vmid);
	log_info("CT %ld: host-path mount points %s re-attached by the "
	    "privileged helper", vmid, keys);
	return 0;
}

/*
 * The stop before an overwrite: nothing to do for a restore into a free
 * vmid or a guest that is not running (answered synchronously, so the
 * engine records that it did not run).
 */
static int
stop_for_overwrite(struct exec_pve *x, const struct exec_target *t,
    struct pve_submit *sub, struct err *err)
{
	struct pve_guest_status st;
	int rc, running;

	if (!t->overwrite) {
		sub->kind = PVE_SUBMIT_SYNC;
		return 0;
	}
	/* Without a safety step this is the first: refuse up front. */
	if (t->step == 0 && (rc = restore_preflight(x, t, err)) != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	rc = pve_lxc_status(x->client, x->node, (long)t->vmid, &st, err);
	if (rc == ERR_NOT_FOUND) {
		sub->kind = PVE_SUBMIT_SYNC;
		return 0;
	}
	if (rc != 0)
		return rc;
	running = st.guest.state == PVE_GUEST_RUNNING;
	pve_guest_status_reset(&st);
	if (!running) {
		sub->kind = PVE_SUBMIT_SYNC;
		return 0;
	}
	/* §5.11: "can't overwrite running container". */
	return pve_lxc_stop(x->client, x->node, (long)t->vmid, sub, err);
}

/*
 * The undo from a safety backup: a restore over the guest (or into its
 * vmid, when the failed restore already removed it) onto the storage its
 * root disk was on.  Host-path mount points the backup holds cannot be
 * restored by a token: the volumes are given explicitly and the helper
 * puts the mount points back in x_undo_done(), which then also starts
 * the guest; otherwise PVE starts it (start=1) when it ran before.
 */
static int
undo_restore(struct exec_pve *x, const struct exec_target *t,
    const char *backup, struct pve_submit *sub, struct err *err)
{
	struct exec_restore_plan plan;
	const char *storage = exec_pve_str_param(t->safety, "rootfs_storage");
	json_t *bconf = NULL;
	char buf[128];
	int rc, start;

	if (storage == NULL) {
		/* Older safety records: the backup's own root disk. */
		if ((rc = pve_backup_config(x->client, x->node, backup,
		    &bconf, err)) != 0)
			return rc;
		rc = exec_rootfs_storage(bconf, buf, sizeof(buf), err);
		json_decref(bconf);
		if (rc != 0)
			return rc;
		storage = buf;
	}
	memset(&plan, 0, sizeof(plan));
	if ((rc = exec_restore_plan(x->client, x->node, backup, storage,
	    &plan, err)) != 0)
		return rc;
	if ((rc = need_helper(x, "the safety backup of", (long)t->vmid,
	    plan.mounts, err)) == 0) {
		start = json_object_size(plan.mounts) == 0 &&
		    t->was_running == 1;
		rc = send_restore(x, (long)t->vmid, backup, &plan, 1, start,
		    sub, err);
	}
	exec_restore_plan_reset(&plan);
	return rc;
}

int
exec_safe_undo(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_submit sub;
	const char *snap = exec_pve_str_param(t->safety, "snapshot");
	const char *backup = exec_pve_str_param(t->safety, "backup");
	int rc;

	memset(&sub, 0, sizeof(sub));
	if (snap == NULL && backup != NULL) {
		/* R-31 (gate): back from the safety backup, over the guest. */
		if ((rc = undo_restore(x, t, backup, &sub, err)) != 0)
			return rc;
	} else if (snap == NULL)
		return err_set(err, ERR_FORMAT, "op %s has no safety snapshot "
		    "to return to", t->uid);
	else if ((rc = pve_snapshot_rollback(x->client, x->node,
	    (long)t->vmid, snap, t->was_running == 1, &sub, err)) != 0)
		/* §5.9: a rollback leaves the CT stopped unless start=1. */
		return rc;
	if (sub.kind != PVE_SUBMIT_TASK) {
		*upid_out = NULL;
		return 0;
	}
	if ((*upid_out = strdup(sub.upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * After the undo from a safety backup with host-path mount points: the
 * helper puts them back, then the guest is started when it ran before
 * (the start's UPID goes into the journal; it is not waited for).
 */
int
exec_safe_undo_done(void *ctx, const struct exec_target *t, json_t **detail_out,
    struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_submit sub;
	const char *backup = exec_pve_str_param(t->safety, "backup");
	json_t *bconf = NULL, *mounts = NULL;
	char keys[160];
	int rc;

	if (exec_pve_str_param(t->safety, "snapshot") != NULL || backup == NULL)
		return 0;
	if ((rc = pve_backup_config(x->client, x->node, backup, &bconf,
	    err)) != 0 ||
	    (rc = exec_host_mounts(bconf, &mounts, err)) != 0)
		goto out;
	if (json_object_size(mounts) == 0)
		goto out;	/* PVE restored it all (and started it) */
	if ((rc = reattach(x, (long)t->vmid, mounts, err)) != 0)
		goto out;
	exec_mount_keys(mounts, keys, sizeof(keys));
	memset(&sub, 0, sizeof(sub));
	if (t->was_running == 1) {
		rc = pve_lxc_start(x->client, x->node, (long)t->vmid, &sub,
		    err);
		if (rc != 0 && pve_last_fault(x->client)->reason ==
		    PVE_E_ALREADY_RUNNING)
			rc = 0;
		if (rc != 0)
			goto out;
	}
	if ((*detail_out = json_pack("{s:s,s:s?}", "reattached", keys,
	    "started", sub.kind == PVE_SUBMIT_TASK ? sub.upid : NULL)) ==
	    NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	json_decref(bconf);
	json_decref(mounts);
	return rc;
}

/*
 * R-31 (gate): the copy a safety step made.  A vzdump task made a
 * backup: the newest one of the guest on the safety storage, taken at
 * or after the task started.
 */
int
exec_safe_copy(void *ctx, const struct exec_target *t, const char *upid,
    json_t **out, struct err *err)
{
	struct exec_pve *x = ctx;
	struct pve_backups bs;
	const struct pve_backup *best = NULL;
	struct upid u;
	char *storage = NULL, name[64];
	size_t i;
	int rc;

	if (upid == NULL || upid_parse(upid, strlen(upid), &u, NULL) != 0 ||
	    strcmp(u.type, EXEC_SAFETY_BACKUP_TASK_TYPE) != 0) {
		exec_safety_name(t->uid, name, sizeof(name));
		if ((*out = json_pack("{s:s}", "snapshot", name)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		return 0;
	}
	if ((rc = safety_storage(x, &storage, err)) != 0)
		return rc;
	memset(&bs, 0, sizeof(bs));
	if ((rc = pve_storage_backups(x->client, x->node, storage,
	    (long)t->vmid, &bs, err)) != 0)
		goto out;
	for (i = 0; i < bs.n; i++)
		if (bs.items[i].vmid == (long)t->vmid &&
		    bs.items[i].ctime >= (int64_t)u.starttime &&
		    (best == NULL || bs.items[i].ctime > best->ctime))
			best = &bs.items[i];
	if (best == NULL)
		rc = err_set(err, ERR_NOT_FOUND, "the safety backup of %ld is "
		    "not on storage %s", (long)t->vmid, storage);
	else {
		/*
		 * Where the guest's root disk is now: the undo restores it
		 * there (§5.11: never PVE's default 'local').
		 */
		struct pve_lxc_config cfg;
		struct err ce;
		char rs[128];

		rs[0] = '\0';
		memset(&cfg, 0, sizeof(cfg));
		err_init(&ce);
		if (pve_lxc_config(x->client, x->node, (long)t->vmid, 0, &cfg,
		    &ce) == 0 && exec_rootfs_storage(cfg.raw, rs, sizeof(rs),
		    &ce) != 0)
			rs[0] = '\0';
		pve_lxc_config_reset(&cfg);
		if ((*out = json_pack("{s:s,s:s,s:s?}", "backup", best->volid,
		    "storage", storage, "rootfs_storage", rs[0] != '\0' ? rs :
		    NULL)) == NULL)
			rc = err_set(err, ERR_NOMEM, "out of memory");
	}
	pve_backups_reset(&bs);
out:
	free(storage);
	return rc;
}

int
exec_safe_submit(struct exec_pve *x, const struct exec_target *t,
    struct pve_submit *sub, struct err *err)
{
	struct exec_restore_plan plan;
	json_t *mounts = NULL;
	char name[64], desc[96];
	long vmid = (long)t->vmid;
	int rc, capable = 1;

	memset(&plan, 0, sizeof(plan));
	switch (t->what) {
	case EXEC_STEP_SAFETY_SNAPSHOT:
		/*
		 * A restore destroys the old volumes and their snapshots
		 * before it extracts (exec.c): its safety copy is a backup.
		 */
		if (t->kind == OPS_KIND_RESTORE) {
			if ((rc = restore_preflight(x, t, err)) == 0)
				rc = safety_backup(x, t, sub, err);
			break;
		}
		if ((rc = snapshot_capable(x, vmid, &capable, &mounts,
		    err)) != 0)
			break;
		if (!capable) {
			if ((rc = need_helper(x, "CT", vmid, mounts, err)) == 0)
				rc = safety_backup(x, t, sub, err);
			break;
		}
		exec_safety_name(t->uid, name, sizeof(name));
		(void) snprintf(desc, sizeof(desc), "felhom-agent safety copy "
		    "before %s of op %s", ops_kind_name(t->kind), t->uid);
		rc = pve_snapshot_create(x->client, x->node, vmid, name, desc,
		    sub, err);
		break;
	case EXEC_STEP_STOP:
		rc = stop_for_overwrite(x, t, sub, err);
		break;
	case EXEC_STEP_RESTORE:
		if ((rc = forward_plan(x, t, &plan, err)) != 0)
			break;
		/* A fresh restore of a backup with host paths: up front. */
		if (!t->overwrite && (rc = need_helper(x, "the backup of",
		    vmid, plan.mounts, err)) != 0)
			break;
		/* Force only an overwrite the gate let through (exec.h). */
		rc = send_restore(x, vmid, exec_pve_str_param(t->params,
		    "archive"), &plan, t->overwrite, 0, sub, err);
		break;
	case EXEC_STEP_REATTACH:
		if ((rc = forward_plan(x, t, &plan, err)) == 0)
			rc = reattach(x, vmid, plan.mounts, err);
		sub->kind = PVE_SUBMIT_SYNC;
		break;
	default:
		rc = err_set(err, ERR_INTERNAL, "exec_safe: step %s is not "
		    "an overwrite's", exec_step_info(t->what)->name);
		break;
	}
	json_decref(mounts);
	exec_restore_plan_reset(&plan);
	return rc;
}
