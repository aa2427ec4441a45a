/*
 * adminq — the read-only queries behind felhom-admin: the
 * journal and the audit log with the operator's filters, op counts by
 * state, recent failures, an op's signature facts.  Each returns JSON
 * built from the row, so the command's human table and its --json are
 * the same data.  Nothing here writes.
 */
#ifndef FELHOM_STORE_ADMINQ_H
#define FELHOM_STORE_ADMINQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

/* Filters; a zero member does not filter. */
struct adminq_filter {
	int64_t		 op_id;		/* ops.id */
	int64_t		 vmid;
	int64_t		 since;		/* unix seconds: at >= since */
	int64_t		 since_seq;	/* audit: seq > since_seq */
	const char	*code;		/* audit: code = */
	size_t		 limit;		/* the newest `limit` rows; 0 all */
};

/*
 * Journal rows matching f, oldest first, as a JSON array of {id, at
 * (RFC 3339), op_id (uid), vmid, op, from, event, to, step, detail
 * (object)}.  Caller decrefs *out.
 */
int	adminq_journal(struct db *db, const struct adminq_filter *f,
	    json_t **out, struct err *err);

/*
 * Audit rows matching f (since_seq, code, op_id, vmid), oldest first:
 * {seq, at, op_id (uid or null), vmid, event, decision, code, actor,
 * detail, data (object)}.  Caller decrefs *out.
 */
int	adminq_audit(struct db *db, const struct adminq_filter *f,
	    json_t **out, struct err *err);

/*
 * {"state": count} of the ops not ended, and of those that ended at or
 * after ended_since (issue 15: not the whole history).  Caller decrefs.
 */
int	adminq_state_counts(struct db *db, int64_t ended_since, json_t **out,
	    struct err *err);

/*
 * The newest `limit` ops that carry an error among those not ended and
 * those ended at or after ended_since, newest first: {op_id, vmid, op,
 * state, error_code, error, updated_at}.  Caller decrefs.
 */
int	adminq_recent_errors(struct db *db, int64_t ended_since, size_t limit,
	    json_t **out, struct err *err);

/*
 * The signature facts of op id: {signed (bool), signer, nonce,
 * sign_request (bool: a blob to sign is held), not_after}.  Caller
 * decrefs; ERR_NOT_FOUND when there is no such op.
 */
int	adminq_op_signature(struct db *db, int64_t op_id, json_t **out,
	    struct err *err);

/* Signed-ops inbox counts {"new": n, "taken": n, "rejected": n}. */
int	adminq_inbox_counts(struct db *db, json_t **out, struct err *err);

/*
 * {"VMID": name} of the guests as last observed (actual_guests) that
 * have a name.  Caller decrefs.
 */
int	adminq_guest_names(struct db *db, json_t **out, struct err *err);

/* Nonces whose expiry (expires_at) is before now. */
int	adminq_nonces_expired(struct db *db, int64_t now, int64_t *out,
	    struct err *err);

#endif
