/*
 * exec — step sequences of the op kinds and the error policy shared by
 * the engine and its executors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/exec.h"
#include "engine/exec_priv.h"

static const struct exec_step_info step_info[] = {
	/*	name		task type	HA task type	sync safety over */
	[EXEC_STEP_START] =
	    { "start",		"vzstart",	"hastart",	0, 0, 0 },
	[EXEC_STEP_SHUTDOWN] =
	    { "shutdown",	"vzshutdown",	"hastop",	0, 0, 0 },
	[EXEC_STEP_STOP] =
	    { "stop",		"vzstop",	"hastop",	0, 0, 0 },
	[EXEC_STEP_SET_CONFIG] =
	    { "set_config",	"qmconfig",	NULL,		1, 0, 0 },
	[EXEC_STEP_SNAPSHOT] =
	    { "snapshot",	"vzsnapshot",	NULL,		0, 0, 0 },
	[EXEC_STEP_DELETE_SNAPSHOT] =
	    { "delete_snapshot", "vzdelsnapshot", NULL,	0, 0, 0 },
	[EXEC_STEP_ROLLBACK] =
	    { "rollback",	"vzrollback",	NULL,		0, 0, 1 },
	[EXEC_STEP_BACKUP] =
	    { "backup",		"vzdump",	NULL,		1, 0, 0 },
	[EXEC_STEP_RESTORE] =
	    { "restore",	"vzrestore",	NULL,		0, 0, 1 },
	[EXEC_STEP_DESTROY] =
	    { "destroy",	"vzdestroy",	NULL,		0, 0, 0 },
	[EXEC_STEP_CREATE] =
	    { "create",		"vzcreate",	NULL,		0, 0, 0 },
	[EXEC_STEP_SAFETY_SNAPSHOT] =
	    { "safety_snapshot", "vzsnapshot",	NULL,		0, 1, 0 },
	[EXEC_STEP_DROP_SAFETY] =
	    { "drop_safety",	"vzdelsnapshot", NULL,		0, 0, 0 },
	/* The privileged helper's, synchronous: no PVE task. */
	[EXEC_STEP_REATTACH] =
	    { "reattach",	NULL,		NULL,		1, 0, 0 },
	[EXEC_STEP_START_AGAIN] =
	    { "start_again",	"vzstart",	"hastart",	1, 0, 0 },
	/*
	 * R-08a: pct create as root; a pseudo task type the real executor
	 * looks for in the helper's root tasks after a crash.
	 */
	[EXEC_STEP_PRIV_CREATE] =
	    { "priv_create",	"priv:vzcreate", NULL,		0, 0, 0 },
	/* Synchronous and idempotent: sent again after a crash. */
	[EXEC_STEP_PRIV_CONFIG] =
	    { "priv_config",	NULL,		NULL,		1, 0, 0 },
};
_Static_assert(sizeof(step_info) / sizeof(step_info[0]) == EXEC_STEP__COUNT,
    "exec step facts");

/*
 * Single-step kinds, by kind; stop and rollback depend on their params
 * and are chosen in exec_steps().
 */
static const enum exec_step_kind single_step[OPS_KIND__COUNT] = {
	[OPS_KIND_START] = EXEC_STEP_START,
	[OPS_KIND_STOP] = EXEC_STEP_SHUTDOWN,
	[OPS_KIND_SET_CONFIG] = EXEC_STEP_SET_CONFIG,
	[OPS_KIND_SNAPSHOT] = EXEC_STEP_SNAPSHOT,
	[OPS_KIND_DELETE_SNAPSHOT] = EXEC_STEP_DELETE_SNAPSHOT,
	[OPS_KIND_ROLLBACK] = EXEC_STEP_ROLLBACK,
	[OPS_KIND_BACKUP] = EXEC_STEP_BACKUP,
	/*
	 * Never used alone: exec_steps() gives seq_restore, and a signed
	 * overwrite gets seq_restore_safe from exec_op_steps().
	 */
	[OPS_KIND_RESTORE] = EXEC_STEP_RESTORE,
	[OPS_KIND_DESTROY] = EXEC_STEP_DESTROY,
	[OPS_KIND_PROVISION] = EXEC_STEP_CREATE,
	[OPS_KIND_ROTATE_SIGNERS] = EXEC_STEP__COUNT,	/* not here */
};
static const enum exec_step_kind seq_stop[] = { EXEC_STEP_STOP };
/*
 * A provision: created through the API, or by the helper when its
 * feature flags are root-only (R-08a), with every managed key of the
 * spec but the bind mounts (attached afterwards, R-08b); then started
 * when the desired state is running.
 */
static const enum exec_step_kind seq_create_start[] = {
	EXEC_STEP_CREATE, EXEC_STEP_START
};
static const enum exec_step_kind seq_priv_create[] = {
	EXEC_STEP_PRIV_CREATE
};
static const enum exec_step_kind seq_priv_create_start[] = {
	EXEC_STEP_PRIV_CREATE, EXEC_STEP_START
};
static const enum exec_step_kind seq_priv_config[] = {
	EXEC_STEP_PRIV_CONFIG
};
/*
 * a rollback overwrites the current state, so it is preceded by a
 * snapshot of it; when the rollback fails the undo returns there, when
 * it succeeds the copy is dropped.  (PVE on ZFS/LVM-thin only rolls back
 * to the newest snapshot; there the rollback fails and the undo leaves
 * the guest as it was: safe.)
 */
static const enum exec_step_kind seq_rollback_safe[] = {
	EXEC_STEP_SAFETY_SNAPSHOT, EXEC_STEP_ROLLBACK, EXEC_STEP_DROP_SAFETY
};

/*
 * R-31 (gate): a restore over an existing guest, signed because the gate
 * saw the guest there.  Its safety copy is always a backup: PVE's
 * restore creates the new volumes, then destroys the old ones with every
 * snapshot on them before it extracts the archive (pve-container
 * API2/LXC.pm create_vm, destroy_lxc_container), so a snapshot would not
 * survive a restore that fails late.  A running guest cannot be
 * overwritten ("can't overwrite running container", pve-api.md §5.11):
 * it is stopped first and started again afterwards; host-path mount
 * points, which a token cannot restore, are put back by the privileged
 * helper (exec_helper).  A failure of the restore returns to the safety
 * backup; a failure of another step leaves the guest as it is.
 */
static const enum exec_step_kind seq_restore_safe[] = {
	EXEC_STEP_SAFETY_SNAPSHOT, EXEC_STEP_STOP, EXEC_STEP_RESTORE,
	EXEC_STEP_REATTACH, EXEC_STEP_START_AGAIN, EXEC_STEP_DROP_SAFETY
};
/*
 * The same without a safety copy: a signed "no_safety" overwrite, or a
 * benign restore (into a free vmid, where the stop and the start have
 * nothing to do, or over the agent's own guest).
 */
static const enum exec_step_kind seq_restore[] = {
	EXEC_STEP_STOP, EXEC_STEP_RESTORE, EXEC_STEP_REATTACH,
	EXEC_STEP_START_AGAIN
};

#define NSTEPS(a)	(sizeof(a) / sizeof((a)[0]))

int
exec_op_steps(const struct ops_row *op, const enum exec_step_kind **steps_out,
    size_t *n_out, struct err *err)
{
	if (op->kind == OPS_KIND_RESTORE &&
	    op->class == OPS_CLASS_DESTRUCTIVE &&
	    !json_is_true(json_object_get(op->params, "no_safety"))) {
		*steps_out = seq_restore_safe;
		*n_out = NSTEPS(seq_restore_safe);
		return 0;
	}
	return exec_steps(op->kind, op->params, steps_out, n_out, err);
}

int
exec_steps(enum ops_kind kind, const json_t *params,
    const enum exec_step_kind **steps_out, size_t *n_out, struct err *err)
{
	const enum exec_step_kind *steps;
	const char *mode;
	size_t n = 1;

	if ((unsigned)kind >= OPS_KIND__COUNT ||
	    single_step[kind] == EXEC_STEP__COUNT)
		return err_set(err, ERR_UNSUPPORTED, "op kind %s is not run by "
		    "the engine's executor", ops_kind_name(kind) != NULL ?
		    ops_kind_name(kind) : "?");
	steps = &single_step[kind];
	if (kind == OPS_KIND_STOP) {
		mode = json_string_value(json_object_get(params, "mode"));
		if (mode != NULL && strcmp(mode, "stop") == 0)
			steps = seq_stop;
		else if (mode != NULL && strcmp(mode, "shutdown") != 0)
			return err_set(err, ERR_FORMAT, "stop: mode '%s' is "
			    "not shutdown or stop", mode);
	} else if (kind == OPS_KIND_ROLLBACK &&
	    !json_is_true(json_object_get(params, "no_safety"))) {
		steps = seq_rollback_safe;
		n = NSTEPS(seq_rollback_safe);
	} else if (kind == OPS_KIND_RESTORE) {
		steps = seq_restore;
		n = NSTEPS(seq_restore);
	} else if (kind == OPS_KIND_PROVISION) {
		int root = exec_priv_create_needs_root(params);

		if (json_is_true(json_object_get(params, "start"))) {
			steps = root ? seq_priv_create_start :
			    seq_create_start;
			n = 2;
		} else if (root)
			steps = seq_priv_create;
	} else if (kind == OPS_KIND_SET_CONFIG &&
	    exec_priv_config_needs_root(params))
		steps = seq_priv_config;
	*steps_out = steps;
	*n_out = n;
	return 0;
}

const struct exec_step_info *
exec_step_info(enum exec_step_kind k)
{
	return (unsigned)k < EXEC_STEP__COUNT ? &step_info[k] : NULL;
}

void
exec_safety_name(const char *uid, char *out, size_t n)
{
	/* "op-<hex>" → "felhom_safety_<hex>": a valid PVE snapshot name. */
	const char *hex = strncmp(uid, "op-", 3) == 0 ? uid + 3 : uid;

	(void) snprintf(out, n, "felhom_safety_%s", hex);
}

int
exec_task_type_is_ha(const char *type)
{
	return type != NULL && (strcmp(type, "hastart") == 0 ||
	    strcmp(type, "hastop") == 0);
}

const char *
exec_undo_task_type(const json_t *safety)
{
	return json_object_get(safety, "backup") != NULL ?
	    EXEC_UNDO_BACKUP_TASK_TYPE : EXEC_UNDO_TASK_TYPE;
}

void
exec_guest_reset(struct exec_guest *g)
{
	if (g == NULL)
		return;
	free(g->name);
	free(g->status);
	free(g->lock);
	memset(g, 0, sizeof(*g));
}

void
exec_guests_free(struct exec_guest *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		exec_guest_reset(&v[i]);
	free(v);
}

void
exec_backups_free(struct exec_backup *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].volid);
		free(v[i].storage);
	}
	free(v);
}

enum exec_outcome
exec_error_outcome(const struct err *err)
{
	switch (err->code) {
	case ERR_TRANSPORT:
	case ERR_TIMEOUT:
	case ERR_PROTOCOL:
		/* The request may have reached PVE. */
		return EXEC_OUTCOME_UNKNOWN;
	case ERR_HTTP:
		/* pveproxy's 59x pseudo statuses: the proxy gave up waiting. */
		if (err->status >= 590 && err->status <= 599)
			return EXEC_OUTCOME_UNKNOWN;
		return err->status >= 500 ? EXEC_OUTCOME_RETRY :
		    EXEC_OUTCOME_FATAL;
	case ERR_LOCKED:
	case ERR_BUSY:
	case ERR_AUTH:
		return EXEC_OUTCOME_RETRY;
	default:
		return EXEC_OUTCOME_FATAL;
	}
}

int
exec_exit_retryable(const char *exitstatus)
{
	if (exitstatus == NULL)
		return 0;
	/* PVE: "CT is locked (backup)", "VM is locked (...)" (§3, §8.6). */
	if (strstr(exitstatus, " is locked") != NULL)
		return 1;
	/* §3: lock_file_full's timeout on the config lock file. */
	return strstr(exitstatus, "can't lock file '") != NULL &&
	    strstr(exitstatus, "' - got timeout") != NULL;
}

const char *
exec_exit_error_code(const char *exitstatus)
{
	/* §5.8: a start of a CT that does not exist fails in its worker. */
	if (exitstatus != NULL &&
	    strstr(exitstatus, "Configuration file '") != NULL &&
	    strstr(exitstatus, "' does not exist") != NULL)
		return "not_found";
	return "task_failed";
}

const char *
exec_error_code(const struct err *err)
{
	switch (err->code) {
	case ERR_TRANSPORT:
		return "transport";
	case ERR_TIMEOUT:
		return "timeout";
	case ERR_HTTP:
		return "http";
	case ERR_AUTH:
		return "auth";
	case ERR_PERMISSION:
		return "permission";
	case ERR_NOT_FOUND:
		return "not_found";
	case ERR_LOCKED:
		return "locked";
	case ERR_TASK:
		return "task_failed";
	case ERR_PROTOCOL:
		return "protocol";
	default:
		return err_name(err->code);
	}
}

int
exec_upid_listed(const char *const *list, const char *upid)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, upid) == 0)
			return 1;
	return 0;
}

int
exec_pass_begin(const struct exec *x, const char *scope, int background,
    struct err *err)
{
	if (x->ops->pass_begin == NULL)
		return 0;
	return x->ops->pass_begin(x->ctx, scope, background, err);
}

int
exec_pass_pending(const struct exec *x)
{
	return x->ops->pass_pending != NULL && x->ops->pass_pending(x->ctx);
}

int
exec_pass_end(const struct exec *x)
{
	return x->ops->pass_end != NULL && x->ops->pass_end(x->ctx);
}

void
exec_pass_forget(const struct exec *x, const char *scope)
{
	if (x->ops->pass_forget != NULL)
		x->ops->pass_forget(x->ctx, scope);
}

int
exec_pass_waiting(const struct exec *x, const char *scope)
{
	return x->ops->pass_waiting != NULL &&
	    x->ops->pass_waiting(x->ctx, scope);
}
