/*
 * reportq — the read-only queries behind the host report's own sections
 * the `ops` array, the signer counts and the database size of
 * the `agent` object.  Nothing here writes.
 */
#ifndef FELHOM_STORE_REPORTQ_H
#define FELHOM_STORE_REPORTQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

#define REPORTQ_OPS_MAX		500	/* ops per report (contract) */
#define REPORTQ_ENDED_WINDOW_S	86400	/* ended ops kept for 24 h */

/*
 * Every op not in a terminal state and those that ended at or after
 * now - REPORTQ_ENDED_WINDOW_S, newest first, at most limit, as a JSON
 * array of the report's `ops` objects {op_id, vmid, op, source, class,
 * state, created_at, updated_at, upid, error, sign_request}; sign_request
 * is {blob_b64, not_after} for a pending_signature op with a blob, null
 * otherwise.  Caller decrefs *out.
 */
int	reportq_ops(struct db *db, int64_t now, size_t limit, json_t **out,
	    struct err *err);

/* Rows of the signers table per role. */
int	reportq_signers(struct db *db, int64_t *operational,
	    int64_t *recovery, struct err *err);

/* page_count * page_size of the main database. */
int	reportq_db_bytes(struct db *db, int64_t *out, struct err *err);

#endif
