/*
 * audit — the append-only audit log (R-28 every gate decision, R-35).
 * Rows are never updated or deleted (triggers enforce it); `seq` is what
 * the hub acknowledges.  Shaped like the report's `audit` element.
 */
#ifndef FELHOM_STORE_AUDIT_H
#define FELHOM_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

struct audit_event {
	int64_t		 at;		/* unix seconds */
	const char	*event;		/* gate, verify, transition, ... */
	const char	*decision;	/* authorized, rejected, ...; NULL = "" */
	const char	*code;		/* accepted, replay, ... */
	int64_t		 op_id;		/* ops.id, 0 = none */
	int64_t		 vmid;		/* 0 = none */
	const char	*actor;		/* NULL = "agent" */
	const char	*detail;	/* human text; NULL = "" */
	const json_t	*data;		/* extra facts; NULL = {} */
};

/* Appends one event; *seq_out (may be NULL) gets its seq. */
int	audit_append(struct db *db, const struct audit_event *ev,
	    int64_t *seq_out, struct err *err);

/*
 * Events with seq > after, oldest first, at most limit, as a JSON array
 * of the report's audit objects {seq, at, op_id (uid or null), vmid,
 * event, decision, code, detail}.  Caller decrefs *out.
 */
int	audit_since(struct db *db, int64_t after, size_t limit, json_t **out,
	    struct err *err);

/* Highest seq, 0 when empty. */
int	audit_last_seq(struct db *db, int64_t *out, struct err *err);

#endif
