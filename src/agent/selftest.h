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
 * The reversible round trip on test guest vmid: snapshot → rollback →
 * (start again if it was running) → delete-snapshot, each task awaited;
 * verifies the snapshot list and the run state are as before.  Returns 0
 * on success, EX_USAGE when vmid is 0 (no --guest), else EX_UNAVAILABLE,
 * EX_TEMPFAIL (guest locked), EX_UNAVAILABLE or EX_SOFTWARE (state not
 * restored).
 */
int	selftest_task(const struct config *cfg, long vmid);

#endif
