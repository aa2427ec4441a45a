/*
 * selftest — `felhom-agent --selftest[=read]` and `--selftest=task`
 * .  (`--selftest=hub` lives in selftest_hub.c.)
 */
#ifndef FELHOM_AGENT_SELFTEST_H
#define FELHOM_AGENT_SELFTEST_H

#include "base/config.h"

/*
 * Read-only health report: configuration, database (opened read-only
 * when it exists, never created), PVE reachable with the configured TLS
 * trust, token accepted, node found, and the token's privileges against
 * the ones the agent needs.  Prints a `CHECK RESULT DETAIL` table on
 * stdout.  Returns 0 only when healthy; otherwise (base/exitcode.h)
 * EX_UNAVAILABLE (token rejected, privilege missing, PVE unreachable,
 * TLS refused, node missing), EX_DATAERR / EX_CONFIG (database).
 */
int	selftest_read(const struct config *cfg);

/*
 * The reversible round trip snapshot → rollback → (start again if it was
 * running) → delete-snapshot, as ops through the engine (gate, journal,
 * audit, the guest's lane; selftest_task.c).  vmid 0: on a scratch guest
 * provisioned for it and destroyed afterwards (the agent's own, so every
 * step is benign).  vmid N: on that existing guest, once the operator
 * confirmed on the terminal (or yes is set), the confirmation audited as
 * theirs.  Verifies the snapshot list and the run state are as before.
 * Returns 0 on success; EX_USAGE when not confirmed; else the shared
 * status of the failure (base/exitcode.h): EX_UNAVAILABLE (PVE refused,
 * a privilege missing), EX_TEMPFAIL (guest locked, the hub blocks the
 * host), EX_SOFTWARE.
 */
int	selftest_task(const struct config *cfg, long vmid, int yes);

#endif
