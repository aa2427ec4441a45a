/*
 * heartbeat — agent.health: the cause of a degraded report (issue 17).
 */
#include <sys/statvfs.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/heartbeat.h"
#include "base/clock.h"
#include "base/err.h"
#include "net/https.h"

static const char *const state_names[HEARTBEAT__COUNT] = {
	[HEARTBEAT_OK] = "ok",
	[HEARTBEAT_DEGRADED] = "degraded",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) ==
    HEARTBEAT__COUNT, "heartbeat state names");

const char *
heartbeat_state_name(enum heartbeat_state s)
{
	return (unsigned)s < HEARTBEAT__COUNT ? state_names[s] : "unknown";
}

const char *
heartbeat_cause_of(const struct err *err)
{
	switch (err->code) {
	case ERR_NOMEM:
		return NULL;
	case ERR_TRANSPORT:
		/* The abort flag: the agent is stopping, not PVE. */
		return err->reason == HTTPS_R_ABORTED ? NULL :
		    "pve_unreachable";
	case ERR_TLS:
		return "pve_tls";
	case ERR_AUTH:
	case ERR_PERMISSION:
		return "pve_auth";
	case ERR_TIMEOUT:
		return "pve_unreachable";
	case ERR_HTTP:
		/* A proxy's 5xx or PVE's own: PVE is not serving. */
		return err->status >= 500 ? "pve_unreachable" : "pve_error";
	case ERR_FULL:
		return "db_full";
	case ERR_READONLY:
		return "db_readonly";
	case ERR_BUSY:
	case ERR_LOCKED:
		return "db_busy";
	case ERR_IO:
		return "db_io";
	case ERR_CORRUPT:
		return "db_corrupt";
	default:
		return "pve_error";
	}
}

int
heartbeat_db_cannot_commit(const struct err *err)
{
	return err->code == ERR_FULL || err->code == ERR_READONLY ||
	    err->code == ERR_BUSY || err->code == ERR_LOCKED ||
	    err->code == ERR_IO;
}

int
heartbeat_probe_db(const char *dbpath, struct err *err)
{
	struct statvfs sv;
	uint64_t avail;

	if (statvfs(dbpath, &sv) != 0)
		return 0;
	if ((sv.f_flag & ST_RDONLY) != 0)
		return err_set(err, ERR_READONLY, "the database's file system "
		    "is mounted read-only");
	/* root may use the blocks reserved for it, others may not. */
	avail = (uint64_t)(geteuid() == 0 ? sv.f_bfree : sv.f_bavail) *
	    (uint64_t)sv.f_frsize;
	if (avail < HEARTBEAT_DB_FREE_MIN)
		return err_set(err, ERR_FULL, "the database's file system is "
		    "full: %" PRIu64 " bytes free, a commit needs room for its "
		    "write-ahead log (free space there)", avail);
	return 0;
}

void
heartbeat_init(struct heartbeat *hb)
{
	memset(hb, 0, sizeof(*hb));
	hb->state = HEARTBEAT_OK;
}

void
heartbeat_degraded(struct heartbeat *hb, const char *cause,
    const char *message, int64_t now)
{
	if (hb->state != HEARTBEAT_DEGRADED || strcmp(hb->cause, cause) != 0)
		hb->since = now;
	hb->state = HEARTBEAT_DEGRADED;
	(void) snprintf(hb->cause, sizeof(hb->cause), "%s", cause);
	/* Peer text may be anything: ASCII, control characters escaped. */
	if (message == NULL)
		message = "";
	err_escape(hb->message, sizeof(hb->message), message,
	    strlen(message));
}

void
heartbeat_ok(struct heartbeat *hb)
{
	heartbeat_init(hb);
}

json_t *
heartbeat_json(const struct heartbeat *hb)
{
	char ts[CLOCK_RFC3339_LEN];

	if (hb->state != HEARTBEAT_DEGRADED)
		return json_pack("{s:s,s:n,s:n,s:n}", "state",
		    state_names[HEARTBEAT_OK], "cause", "since", "message");
	clock_format_rfc3339(hb->since, ts, sizeof(ts));
	return json_pack("{s:s,s:s,s:s,s:s}", "state",
	    state_names[HEARTBEAT_DEGRADED], "cause", hb->cause, "since", ts,
	    "message", hb->message);
}

int
heartbeat_apply(const struct heartbeat *hb, json_t *report, struct err *err)
{
	json_t *agent = json_object_get(report, "agent"), *h;

	if (!json_is_object(agent)) {
		if ((agent = json_object()) == NULL ||
		    json_object_set_new(report, "agent", agent) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((h = heartbeat_json(hb)) == NULL ||
	    json_object_set_new(agent, "health", h) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}
