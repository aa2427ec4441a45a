/*
 * exec_pve — the real executor: the engine's exec_ops on top of the PVE
 * client (src/pve/pve.h), for the LXC guests of one node (R-03, R-04,
 *
 */
#ifndef FELHOM_ENGINE_EXEC_PVE_H
#define FELHOM_ENGINE_EXEC_PVE_H

#include "base/err.h"
#include "engine/exec.h"
#include "priv/priv.h"
#include "pve/pve.h"

struct exec_pve;

/*
 * An executor over client (borrowed; must outlive it) for node (copied).
 * Recovery matches tasks to the client's token id.  Caller frees with
 * exec_pve_free().
 */
int	exec_pve_new(struct pve_client *client, const char *node,
	    struct exec_pve **out, struct err *err);
void	exec_pve_free(struct exec_pve *x);

/*
 * Lets the executor run the steps that need root through the privileged
 * helper's client (borrowed; must outlive x); it also becomes the
 * executor's exec_helper (host-path mount points put back after a
 * restore).  Without it such steps fail as unsupported, naming
 * priv.mode.
 */
int	exec_pve_set_priv(struct exec_pve *x, struct priv_client *client,
	    struct err *err);

/* Fills *out with the ops table and x as context (valid while x lives). */
void	exec_pve_bind(struct exec_pve *x, struct exec *out);

/*
 * The privileged helper (borrowed; NULL: none).  Without one, an
 * overwrite of a guest or from a backup with host-path mount points is
 * refused before it starts (exec.h, struct exec_helper).
 */
void	exec_pve_set_helper(struct exec_pve *x, const struct exec_helper *h);

/*
 * Issue 17: on (the daemon's loop, after recovery), the engine's passes
 * (exec_ops.pass_begin) never wait: a call whose answer is not there
 * yet returns ERR_PENDING and the loop comes back for it.  Off (the
 * default: recovery, --once, the self-tests): every call waits.
 */
void	exec_pve_set_async(struct exec_pve *x, int on);

/*
 * §5.8: how long after an HA resource's hastart/hastop request the guest
 * may take to get there before the step fails (seconds; <= 0: default).
 */
#define EXEC_PVE_HA_WAIT_S	180
void	exec_pve_set_ha_wait(struct exec_pve *x, long seconds);

#endif
