/*
 * heartbeat — the report's agent.health (hub-contract v1.1, "Degraded
 * report"; issue 17 "The heartbeat always tells").
 *
 * When the node status cannot be read, the database cannot commit, or
 * PVE's certificate no longer matches, the agent still reports: a
 * minimal report marked degraded with the cause, instead of silence.
 * This module names the cause of a failure and keeps the state the
 * reports carry:
 *
 *   {"state":"ok","cause":null,"since":null,"message":null}
 *   {"state":"degraded","cause":"pve_unreachable","since":"<RFC 3339>",
 *    "message":"node status: ..."}
 *
 * (the healthy form carries the other keys as null so that both forms
 * have the golden report's key set).  `since` is when this cause began
 * (wall clock, kept while the same cause goes on; in memory: a restart
 * starts it again).
 */
#ifndef FELHOM_AGENT_HEARTBEAT_H
#define FELHOM_AGENT_HEARTBEAT_H

#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define HEARTBEAT_CAUSE_MAX	32

enum heartbeat_state {
	HEARTBEAT_OK,
	HEARTBEAT_DEGRADED,
	HEARTBEAT__COUNT
};

struct heartbeat {
	enum heartbeat_state	 state;
	char			 cause[HEARTBEAT_CAUSE_MAX]; /* "" when ok */
	int64_t			 since;		/* unix s the cause began */
	char			 message[ERR_MSG_MAX];
};

/* "ok", "degraded". */
const char *heartbeat_state_name(enum heartbeat_state s);

/*
 * The cause a failure gives a degraded report — pve_tls (certificate
 * or pin mismatch), pve_auth (token refused, privilege missing),
 * pve_unreachable (connect, timeout, reset, HTTP 5xx), pve_error (any
 * other PVE answer outside the contract), db_full, db_readonly,
 * db_busy, db_io, db_corrupt — or NULL when the failure leaves nothing
 * to send: out of memory, or the agent is stopping (aborted).
 */
const char *heartbeat_cause_of(const struct err *err);

/* 1 when err says the database could not commit (full, read-only,
 * busy, I/O): a seq is then kept in memory. */
int	heartbeat_db_cannot_commit(const struct err *err);

/* Below this many free bytes the database's file system counts as full. */
#define HEARTBEAT_DB_FREE_MIN	(1024 * 1024)

/*
 * Whether the database's file system could take a commit, asked without
 * writing (issue 15: a steady report cycle commits nothing, so a full or
 * read-only disk would otherwise show only at the next commit):
 * ERR_READONLY when it is mounted read-only, ERR_FULL when less than
 * HEARTBEAT_DB_FREE_MIN bytes are free to the agent; 0 otherwise, also
 * when statvfs cannot answer.
 */
int	heartbeat_probe_db(const char *dbpath, struct err *err);

/* Healthy, nothing seen yet. */
void	heartbeat_init(struct heartbeat *hb);

/*
 * This report is degraded by cause (static string) with message (copied,
 * truncated); since becomes now unless the cause is the one already
 * held.
 */
void	heartbeat_degraded(struct heartbeat *hb, const char *cause,
	    const char *message, int64_t now);

/* This report is healthy again. */
void	heartbeat_ok(struct heartbeat *hb);

/* agent.health as a new object, or NULL (out of memory). */
json_t	*heartbeat_json(const struct heartbeat *hb);

/*
 * Sets report.agent.health; an absent or null agent section becomes an
 * object first.  ERR_NOMEM.
 */
int	heartbeat_apply(const struct heartbeat *hb, json_t *report,
	    struct err *err);

#endif
