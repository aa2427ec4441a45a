/*
 * helper — the server side of felhom-privhelper (R-08; DESIGN
 * "Processes"; openssh-portable README.privsep).
 *
 * The agent runs unprivileged; three things only root can do on a
 * Proxmox host, and the helper does exactly those, for the agent's user
 * only, over a Unix socket:
 *   (a) create a container with feature flags beyond nesting, restore a
 *       backup as root, change such flags (pct create / restore / set):
 *       pve-container src/PVE/LXC.pm check_ct_modify_config_perm answers
 *       "changing feature flags (except nesting) is only allowed for
 *       root@pam" to anyone else, an API token included;
 *   (b) attach host paths and USB devices (pct set mpN / devN):
 *       the same function refuses "mount point type bind is only allowed
 *       for root@pam" and "configuring device passthrough is only
 *       allowed for root@pam", and src/PVE/API2/LXC.pm create_vm
 *       "restoring 'mpN' to bind mount is only possible for root";
 *   (c) SMART and temperatures (smartctl --json -a DEV, sensors -j): the
 *       API only scrapes smartctl's text (/disks/smart) and has no
 *       sensor endpoint at all (pve-api.md §5.16, §6.3).
 *
 * Per connection: the peer's uid (SO_PEERCRED) must be the agent's, one
 * size-capped frame is read (priv/wire.h), its type must be in the fixed
 * table and its fields exactly that type's; every field is checked by
 * priv/policy before a program runs; programs run through priv/spawn
 * (fixed argv, no shell, cleared environment, timeout, output cap); the
 * result is parsed and answered.
 */
#ifndef FELHOM_PRIV_HELPER_H
#define FELHOM_PRIV_HELPER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "priv/policy.h"

#define HELPER_READ_TIMEOUT_MS	10000	/* for the request frame */
#define HELPER_PROBE_TIMEOUT_MS	60000	/* smartctl, sensors */

struct helper_config {
	uid_t		 agent_uid;	/* the only peer served */
	struct policy	 policy;
	char		*pct, *pvesm, *smartctl, *sensors;	/* paths */
	long		 timeout_ms;	/* pct create / restore / set */
};

/*
 * From the loaded configuration (priv.*): the agent user resolved to a
 * uid (a name, or a number), the bind roots, the tools.  ERR_CONFIG
 * naming the key.  Caller resets with helper_config_reset.
 */
int	helper_config_from(const struct config *cfg, struct helper_config *out,
	    struct err *err);
void	helper_config_reset(struct helper_config *hc);

/* What one connection asked and got, for the caller's log line. */
struct helper_summary {
	uid_t		 peer_uid;
	char		 type[16];	/* request type, "" when unread */
	int64_t		 vmid;		/* 0 when none */
	char		 what[160];	/* "pct create 105 (keyctl=1,...)" */
	int		 code;		/* 0 or ERR_* answered */
	char		 error[ERR_MSG_MAX];
	int		 ran;		/* a program was started */
};

/*
 * One request in two halves, which helper_handle runs in turn:
 *
 * helper_prepare: a received frame's body (len bytes) → the plan of
 * what it runs: the JSON parsed (size-capped, duplicate keys refused),
 * its type from the fixed table, its fields exactly that type's, each
 * checked by priv/policy, the programs' fixed argv built.  Starts
 * nothing (a USB id is resolved through sysfs, a host path through
 * realpath: reads only).  *out (caller frees with helper_plan_free) on
 * success; otherwise the code to answer, err naming the field and rule.
 * Fills sum's type, vmid and what.
 *
 * helper_run: runs a plan's programs (for a restore, the backup's
 * config first, checked by policy_backup_config) and parses their
 * output into *result (caller decrefs).
 */
struct helper_plan;

int	helper_prepare(const struct helper_config *hc, const char *body,
	    size_t len, struct helper_plan **out, struct helper_summary *sum,
	    struct err *err);
int	helper_run(const struct helper_config *hc, struct helper_plan *plan,
	    json_t **result, struct helper_summary *sum, struct err *err);
void	helper_plan_free(struct helper_plan *plan);
/* The plan's request type (enum wire_req). */
int	helper_plan_type(const struct helper_plan *plan);
/*
 * The argv it runs (NULL-terminated, the program first; *n its count):
 * the program itself, or with probe 1 the one run before it (a
 * restore's pvesm extractconfig; *n 0 for other types).
 */
const char *const *helper_plan_argv(const struct helper_plan *plan,
	    int probe, size_t *n);

/*
 * Serves one accepted connection fd (non-blocking, closed by the
 * caller): checks the peer, reads, validates, runs, answers.  Returns
 * the code answered (0 for ok); fills *sum.
 */
int	helper_handle(const struct helper_config *hc, int fd,
	    struct helper_summary *sum);

#endif
