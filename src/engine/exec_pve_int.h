/*
 * exec_pve_int — what the real executor's files share: exec_pve.c
 * (the steps as PVE calls), exec_pve_read.c (the polls and reads) and
 * exec_safe.c (the overwrites: safety copies, stop, restore, the helper,
 * the undo).
 * Internal to the engine; nothing outside src/engine/exec_*.c includes
 * it.
 */
#ifndef FELHOM_ENGINE_EXEC_PVE_INT_H
#define FELHOM_ENGINE_EXEC_PVE_INT_H

#include <jansson.h>

#include "base/err.h"
#include "engine/exec.h"
#include "engine/exec_priv.h"
#include "engine/pvereq.h"
#include "pve/pve.h"

struct exec_pve {
	struct pve_client	*client;	/* borrowed */
	char			*node;
	const struct exec_helper *helper;	/* borrowed, NULL: none */
	struct exec_priv	*priv;		/* the helper's jobs, NULL */
	struct exec_helper	 priv_helper;	/* helper seam over priv */
	long			 ha_wait_s;	/* HA request to guest state */
	int			 async;		/* passes never wait (issue 17) */
	struct exec_ops		 ops;		/* what exec_pve_bind hands */
};

/* params.key as a string, or NULL. */
const char *exec_pve_str_param(const json_t *params, const char *key);
/* params.key as a non-empty string, else ERR_FORMAT naming it. */
int	exec_pve_need_str(const json_t *params, const char *key,
	    const char **out, struct err *err);

/*
 * The overwrite steps of t (the safety copy, a restore's stop, the
 * restore, the helper's re-attach) into *sub: a task, or SYNC when done
 * (or nothing to do).
 */
int	exec_safe_submit(struct exec_pve *x, const struct exec_target *t,
	    struct pve_submit *sub, struct err *err);
/* exec_ops.undo, .undo_done and .safety_copy of the real executor. */
int	exec_safe_undo(void *ctx, const struct exec_target *t,
	    char **upid_out, struct err *err);
int	exec_safe_undo_done(void *ctx, const struct exec_target *t,
	    json_t **detail_out, struct err *err);
int	exec_safe_copy(void *ctx, const struct exec_target *t,
	    const char *upid, json_t **out, struct err *err);

/*
 * The polls and reads (exec_pve_read.c): exec_ops.snapshot_exists,
 * .poll, .find_task, .read_config, .read_configs, .list_guests,
 * .guest_status and .list_backups of the real executor.
 */
int	x_snapshot_exists(void *ctx, int64_t vmid, const char *name, int *out,
	    struct err *err);
int	x_poll(void *ctx, const char *upid, enum exec_task_state *out,
	    char **exit_out, struct err *err);
int	x_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
	    const char *const *exclude, char **upid_out, struct err *err);
int	x_read_config(void *ctx, int64_t vmid, json_t **out, struct err *err);
int	x_read_configs(void *ctx, const int64_t *vmids, size_t n, json_t **out,
	    int *rcs, struct err *errs, struct err *err);
int	x_list_guests(void *ctx, struct exec_guest **out, size_t *n_out,
	    struct err *err);
int	x_guest_status(void *ctx, int64_t vmid, struct exec_guest *out,
	    struct err *err);
int	x_list_backups(void *ctx, int64_t vmid, struct exec_backup **out,
	    size_t *n_out, struct err *err);

#endif
