/*
 * exec — the executor interface: how the engine reaches PVE (R-04,
 * A struct of function pointers plus a context, filled in
 * by the caller: exec_pve.c on top of the PVE client, a fake in the
 * tests.  Nothing else in the engine touches the network.
 *
 * Also here, because both sides need them: the steps each op kind is
 * made of (multi-step ops pass through submitting/running once per
 * step), the PVE task type each step creates (recovery looks for it in
 * the node's task list), and how a failed request is treated (retry,
 * fail, or "outcome unknown": look before retrying).
 */
#ifndef FELHOM_ENGINE_EXEC_H
#define FELHOM_ENGINE_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/ops.h"

/* What one poll of a task says (R-05: WARNINGS is success). */
enum exec_task_state {
	EXEC_TASK_RUNNING,
	EXEC_TASK_OK,
	EXEC_TASK_WARNINGS,
	EXEC_TASK_FAILED,
	EXEC_TASK__COUNT
};

enum exec_step_kind {
	EXEC_STEP_START,
	EXEC_STEP_SHUTDOWN,		/* then a hard stop after timeout */
	EXEC_STEP_STOP,
	EXEC_STEP_SET_CONFIG,		/* LXC: synchronous */
	EXEC_STEP_SNAPSHOT,
	EXEC_STEP_DELETE_SNAPSHOT,
	EXEC_STEP_ROLLBACK,
	EXEC_STEP_BACKUP,
	EXEC_STEP_RESTORE,
	EXEC_STEP_DESTROY,
	EXEC_STEP_CREATE,
	EXEC_STEP_SAFETY_SNAPSHOT,	/* what an undo returns to */
	EXEC_STEP_DROP_SAFETY,		/* delete it after a success */
	EXEC_STEP_REATTACH,		/* host-path mounts back, as root */
	EXEC_STEP_START_AGAIN,		/* start it if it ran before */
	EXEC_STEP_PRIV_CREATE,		/* R-08a: pct create by the helper */
	EXEC_STEP_PRIV_CONFIG,		/* set_config needing root */
	EXEC_STEP__COUNT
};

struct exec_step_info {
	const char	*name;
	const char	*task_type;	/* PVE worker type of its task, NULL
					   for a step PVE has no task of */
	const char	*ha_task_type;	/* the same for an HA resource
					   (pve-api.md §5.8), or NULL */
	int		 sync;		/* may end without a task */
	int		 safety;	/* leaves ops.safety behind */
	int		 overwrites;	/* replaces the guest's state: its
					   failure returns to the safety
					   copy; other steps' failures
					   leave the guest as it is */
};

/*
 * 1 for a PVE worker type of the HA stack ("hastart", "hastop"): the
 * task ends once the request is queued, not when the guest changed
 * (pve-api.md §5.8).
 */
int	exec_task_type_is_ha(const char *type);

/* The worker type of an undo (rollback to the safety snapshot). */
#define EXEC_UNDO_TASK_TYPE	"vzrollback"
/*
 * R-31 (gate): a guest PVE cannot snapshot (a bind or device mount
 * point) gets a vzdump backup as its safety copy instead; the safety
 * step's task is then of this type, and its undo a restore.
 */
#define EXEC_SAFETY_BACKUP_TASK_TYPE	"vzdump"
#define EXEC_UNDO_BACKUP_TASK_TYPE	"vzrestore"
/*
 * a step the privileged helper runs has a task type with this
 * prefix: its task, if any, is root's (pct), not the token's.
 */
#define EXEC_PRIV_TASK_PREFIX		"priv:"
#define EXEC_UPID_MAX		256

/* The op as the executor sees it; everything borrowed for the call. */
struct exec_target {
	int64_t			 op_id;
	const char		*uid;
	int64_t			 vmid;
	enum ops_kind		 kind;
	int			 step;		/* index of the step */
	enum exec_step_kind	 what;		/* that step */
	const json_t		*params;	/* ops.params */
	const json_t		*safety;	/* ops.safety or NULL */
	int			 overwrite;	/* restore: replace the existing
						   guest (PVE force=1); only a
						   signed or agent-owned one */
	const char		*digest;	/* set_config: the digest of the
						   config the write was computed
						   from; NULL: none */
	int			 was_running;	/* the guest ran before the op
						   stopped it: 1, 0, or -1
						   unknown (start_again, the
						   undo) */
};

/* A guest as listed or read by the executor (strings owned). */
struct exec_guest {
	int64_t		 vmid;
	char		*name;		/* may be NULL */
	char		*status;	/* running, stopped, unknown */
	char		*lock;		/* NULL when none */
	int		 template;
};

void	exec_guest_reset(struct exec_guest *g);
void	exec_guests_free(struct exec_guest *v, size_t n);

/* A backup volume of a guest (strings owned). */
struct exec_backup {
	char		*volid;
	char		*storage;
	int64_t		 ctime;		/* unix seconds */
};

void	exec_backups_free(struct exec_backup *v, size_t n);

/*
 * The seam.  Every function returns 0 or a negative ERR_* with err set
 * (reason/status as the PVE client fills them).  Strings and JSON
 * handed out are the caller's to free.
 */
struct exec_ops {
	/*
	 * Sends the step's mutating request.  *upid_out gets its task, or
	 * NULL when the step completed synchronously (set-config, an
	 * "already in that state" answer).
	 */
	int	(*submit)(void *ctx, const struct exec_target *t,
		    char **upid_out, struct err *err);
	/* Sends the undo (rollback to t->safety); *upid_out as above. */
	int	(*undo)(void *ctx, const struct exec_target *t,
		    char **upid_out, struct err *err);
	/*
	 * One status read of a task, never a wait; *exit_out (may be left
	 * NULL) gets the exit status text once it stopped.  A task PVE
	 * does not know is ERR_NOT_FOUND.
	 */
	int	(*poll)(void *ctx, const char *upid,
		    enum exec_task_state *out, char **exit_out,
		    struct err *err);
	/*
	 * Recovery: the oldest task of this type on vmid started by our
	 * own token at or after `since` (running or finished, source=all),
	 * other than those in `exclude` (a NULL-terminated list of UPIDs
	 * some op already holds, may be NULL); ERR_NOT_FOUND when there is
	 * none.
	 */
	int	(*find_task)(void *ctx, const char *type, int64_t vmid,
		    int64_t since, const char *const *exclude, char **upid_out,
		    struct err *err);
	/* The guest's config (`data` of GET .../config), or ERR_NOT_FOUND. */
	int	(*read_config)(void *ctx, int64_t vmid, json_t **out,
		    struct err *err);
	/*
	 * Optional fan-out of read_config for n guests (the PVE client runs
	 * them concurrently): out[i] and rcs[i] (0 or an ERR_*, errs[i]
	 * explaining) per guest; 0 when the batch ran.  NULL: the engine
	 * calls read_config for each.
	 */
	int	(*read_configs)(void *ctx, const int64_t *vmids, size_t n,
		    json_t **out, int *rcs, struct err *errs, struct err *err);
	/* Every guest the token can see on the node. */
	int	(*list_guests)(void *ctx, struct exec_guest **out,
		    size_t *n_out, struct err *err);
	/*
	 * A direct read of one guest: 0 with *out filled; ERR_NOT_FOUND only
	 * when PVE says the guest does not exist (proven absence);
	 * ERR_PERMISSION and others when it cannot tell.
	 */
	int	(*guest_status)(void *ctx, int64_t vmid,
		    struct exec_guest *out, struct err *err);
	/*
	 * R-31 (gate): once a safety step's task (upid; NULL when it
	 * answered synchronously) ended OK, the copy it made, as
	 * ops.safety: {"snapshot": NAME} or {"backup": VOLID}.  May be
	 * NULL (the tests' fake): {"snapshot": exec_safety_name(uid)}.
	 */
	int	(*safety_copy)(void *ctx, const struct exec_target *t,
		    const char *upid, json_t **out, struct err *err);
	/*
	 * whether guest vmid has a snapshot called name (*out 1/0),
	 * so a step whose task cannot be found is judged by the world.
	 * May be NULL: the step is then judged by its task alone.
	 */
	int	(*snapshot_exists)(void *ctx, int64_t vmid, const char *name,
		    int *out, struct err *err);
	/*
	 * Optional (NULL: nothing to do): what an undo needs after its task
	 * ended OK — the real executor puts back host-path mount points a
	 * restore cannot bring (exec_helper) and starts the guest again
	 * when it ran before.  *detail_out (may be left NULL) goes into the
	 * journal row of undo_ok.  0: the undo is complete; ERR_UNSUPPORTED
	 * or another verdict (exec_error_outcome FATAL): the undo failed;
	 * other errors: tried again on the next tick.  Idempotent (it may
	 * run again after a crash).
	 */
	int	(*undo_done)(void *ctx, const struct exec_target *t,
		    json_t **detail_out, struct err *err);
	/*
	 * The backups of vmid on every active storage that holds backups
	 * (restore tests).  May be NULL: then no restore test can run.
	 */
	int	(*list_backups)(void *ctx, int64_t vmid,
		    struct exec_backup **out, size_t *n_out, struct err *err);
	/*
	 * Issue 17, optional (NULL: every call waits for its answer).  The
	 * calls between pass_begin and pass_end never wait: one whose
	 * answer is not there yet returns ERR_PENDING (its request sent
	 * once, at most), and the same sequence of calls made again in a
	 * later pass of the same scope ("op:ID", "observe") takes the
	 * answers in order, as the blocking calls would have returned them.
	 * The caller replays a pass from its start until nothing pends and
	 * changes nothing while anything does.  background: the requests
	 * go after the lanes' (the collection's priority).  pass_pending: 1
	 * when a call of the current pass returned ERR_PENDING.  pass_end:
	 * 1 when something of the pass is still in flight.
	 */
	int	(*pass_begin)(void *ctx, const char *scope, int background,
		    struct err *err);
	int	(*pass_pending)(void *ctx);
	int	(*pass_end)(void *ctx);
	/* Drops what a scope that is never replayed (its op ended) kept. */
	void	(*pass_forget)(void *ctx, const char *scope);
	/*
	 * 1 when replaying scope's pass now would only pend again (its
	 * requests in flight, no answer came since): the pass may be
	 * skipped.  NULL: never.
	 */
	int	(*pass_waiting)(void *ctx, const char *scope);
};

/*
 * The privileged helper's seam (felhom-privhelper).  An API token can
 * never restore or set a host-path (bind) or device mount point (only
 * root@pam may; pve-api.md §5.11, §6.2), so a restore over such a guest
 * is done in two parts: PVE restores the volumes (given explicitly, so
 * the backup's bind mounts are left out), then the helper puts the
 * bind/device mount points back as root.  Without a helper the executor
 * refuses such an overwrite before it touches anything
 * (ERR_UNSUPPORTED): its undo could not run.
 */
struct exec_helper {
	/*
	 * Sets the mount points `mounts` on CT vmid as root, as `pct set
	 * <vmid> -<key> <value>` would: an object {"mp0":
	 * "/srv/data,mp=/data", "mp3": "/dev/sdb1,mp=/d"} in PVE's config
	 * form (the values as the backup's config has them).  Synchronous,
	 * bounded and idempotent (a key already set to that value stays);
	 * 0 or an ERR_* with err set (ERR_UNSUPPORTED or ERR_INVALID: can
	 * never pass, e.g. the host path is gone; other codes: may pass
	 * later).
	 */
	int	(*reattach)(void *ctx, int64_t vmid, const json_t *mounts,
		    struct err *err);
	void	*ctx;
};

struct exec {
	const struct exec_ops	*ops;
	void			*ctx;
};

/*
 * The steps of an op of `kind` with `params` into *steps_out (a static
 * array) and *n_out (>= 1).  An op kind the engine does not run here
 * (rotate_signers) is ERR_UNSUPPORTED.
 */
int	exec_steps(enum ops_kind kind, const json_t *params,
	    const enum exec_step_kind **steps_out, size_t *n_out,
	    struct err *err);
/*
 * The steps of op: exec_steps(), except that a restore the gate found
 * to overwrite an existing guest (class destructive) is wrapped in a
 * safety snapshot like a rollback, unless its signed params say
 * "no_safety": true.
 */
int	exec_op_steps(const struct ops_row *op,
	    const enum exec_step_kind **steps_out, size_t *n_out,
	    struct err *err);
const struct exec_step_info *exec_step_info(enum exec_step_kind k);

/* The safety snapshot name of op uid ("felhom_safety_<hex>"). */
void	exec_safety_name(const char *uid, char *out, size_t n);

/* The worker type of the undo back to safety (a rollback or a restore). */
const char *exec_undo_task_type(const json_t *safety);

/* How a failed request is handled by the engine. */
enum exec_outcome {
	EXEC_OUTCOME_RETRY,	/* PVE refused for now: back off, retry */
	EXEC_OUTCOME_FATAL,	/* will not succeed: fail the op */
	EXEC_OUTCOME_UNKNOWN,	/* may have applied: look, then retry */
	EXEC_OUTCOME__COUNT
};

enum exec_outcome exec_error_outcome(const struct err *err);
/*
 * 1 when a failed task's exit status is transient: the guest was locked,
 * or another worker held its config lock file too long (pve-api.md §3).
 */
int	exec_exit_retryable(const char *exitstatus);
/*
 * ops.error_code of a failed task: "not_found" when the guest's config
 * does not exist (start of a missing CT, §5.8), else "task_failed".
 */
const char *exec_exit_error_code(const char *exitstatus);
/* Short machine name of an error for ops.error_code ("permission", ...). */
const char *exec_error_code(const struct err *err);

/* The pass seam of x (exec_ops.pass_*), no-ops when x has none. */
int	exec_pass_begin(const struct exec *x, const char *scope,
	    int background, struct err *err);
int	exec_pass_pending(const struct exec *x);
int	exec_pass_end(const struct exec *x);
void	exec_pass_forget(const struct exec *x, const char *scope);
int	exec_pass_waiting(const struct exec *x, const char *scope);

/* 1 when upid is in the NULL-terminated list (NULL: empty). */
int	exec_upid_listed(const char *const *list, const char *upid);

#endif
