/*
 * exec_pve_int — what the real executor's two files share: exec_pve.c
 * (the steps as PVE calls, polls, reads) and exec_safe.c (the
 * overwrites: safety copies, stop, restore, the helper, the undo).
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

#endif
