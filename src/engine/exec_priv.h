/*
 * exec_priv — the executor's side of the privileged helper: which
 * op steps need root, how their params become helper requests, and the
 * helper jobs in flight.  Used by exec_pve (the only caller); the engine
 * sees helper steps as ordinary steps of exec.h.
 *
 * A `pct create` can take minutes, so it runs as a job: the request is
 * sent, the step gets a pseudo UPID ("felhom-priv:vzcreate:VMID:START:N")
 * and each poll reads the helper's answer if it came, never waiting
 * .  The job lives in memory only: after a restart the pseudo
 * UPID is resolved through PVE itself (exec_pve: the root task pct
 * left in the node's task list, or the guest it made).  Attaching host
 * paths and devices (`pct set`) takes a second and is a synchronous
 * step, retried safely (setting the same mount point again changes
 * nothing).
 */
#ifndef FELHOM_ENGINE_EXEC_PRIV_H
#define FELHOM_ENGINE_EXEC_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "engine/exec.h"
#include "priv/priv.h"
#include "pve/pve.h"

#define EXEC_PRIV_UPID_PREFIX	"felhom-priv:"
#define EXEC_PRIV_JOBS_MAX	64
#define EXEC_PRIV_SET_TIMEOUT_MS 120000	/* a pct set, a restore check */
#define EXEC_PRIV_LOST_GRACE_S	60	/* a lost job may still start */

/*
 * 1 when a provision (params {template, storage, rootfs_gib, spec})
 * creates a guest with feature flags other than nesting: root only
 * (pve-container src/PVE/LXC.pm check_ct_modify_config_perm).
 */
int	exec_priv_create_needs_root(const json_t *params);
/*
 * 1 when set_config params ({"set": {...}, "delete": [...]}) set a
 * feature flag other than nesting, a mount point on a host path, or
 * set or delete a device (devN): the same function refuses those to an
 * API token.
 */
int	exec_priv_config_needs_root(const json_t *params);

/* The helper's create request of a provision op (new reference). */
int	exec_priv_create_req(int64_t vmid, const json_t *params,
	    json_t **out, struct err *err);

/*
 * Splits set_config params: *api_out ({"set", "delete"} for the PUT, or
 * NULL when nothing is left for the API), *attach_out (the helper's
 * attach request, or NULL), *features_out (its features request, or
 * NULL).  A host-path mount point option the helper does not take, or
 * a device mount point, is ERR_UNSUPPORTED naming it.
 */
int	exec_priv_split_config(int64_t vmid, const json_t *params,
	    json_t **api_out, json_t **attach_out, json_t **features_out,
	    struct err *err);

/* The helper jobs of one executor. */
struct exec_priv;

int	exec_priv_new(struct priv_client *client, struct exec_priv **out,
	    struct err *err);
void	exec_priv_free(struct exec_priv *xp);
struct priv_client *exec_priv_client(const struct exec_priv *xp);

/*
 * Sends req as a job of `type` (e.g. "vzcreate") on vmid started at
 * `now` (unix seconds); *upid_out (caller frees) its pseudo UPID.
 */
int	exec_priv_start(struct exec_priv *xp, const char *type, int64_t vmid,
	    int64_t now, const json_t *req, char **upid_out, struct err *err);
/*
 * One look at the job of upid: *state_out RUNNING, OK or FAILED with
 * *exit_out (caller frees) the helper's reason.  ERR_NOT_FOUND when no
 * such job is held (a restart lost it).
 */
int	exec_priv_poll(struct exec_priv *xp, const char *upid,
	    enum exec_task_state *state_out, char **exit_out, struct err *err);

/*
 * Recovery of helper steps through PVE: the oldest task of root@pam
 * (pct, run by the helper) of type on vmid started at or after since,
 * other than those in exclude; ERR_NOT_FOUND when none.
 */
int	exec_priv_find_root_task(struct pve_client *c, const char *node,
	    const char *type, int64_t vmid, int64_t since,
	    const char *const *exclude, char **upid_out, struct err *err);
/*
 * A pseudo UPID whose job this process does not hold: *root_out (caller
 * frees) the root task to poll in its place; or NULL with *state_out
 * said from the guest (there and unlocked: OK; locked: RUNNING; gone:
 * RUNNING for EXEC_PRIV_LOST_GRACE_S after the job was sent, pct may
 * not have begun, then FAILED with *exit_out the reason).
 */
int	exec_priv_resolve_lost(struct pve_client *c, const char *node,
	    const char *upid, char **root_out, enum exec_task_state *state_out,
	    char **exit_out, struct err *err);

/* Parsed pseudo UPID: 0 when upid is one. */
struct exec_priv_upid {
	char		type[32];
	int64_t		vmid;
	int64_t		start;
};
int	exec_priv_upid_parse(const char *upid, struct exec_priv_upid *out);

#endif
