/*
 * nonces — the store of accepted operation nonces (R-15, DESIGN.md
 * invariant 3).  A row exists exactly when a signed op was accepted; it
 * is written in the transaction that accepts the op, so these functions
 * never begin or commit.  Rows are kept until their expiry (not_after +
 * clock skew) has passed, which is when a replay could no longer pass
 * the time stage anyway.
 */
#ifndef FELHOM_STORE_NONCES_H
#define FELHOM_STORE_NONCES_H

#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

/*
 * Inserts nonce.  *inserted_out is 1 when the row was written, 0 when the
 * nonce was already there (nothing changed).  op_id 0 stores NULL.
 * Database failures are db_error()'s codes.
 */
int	nonces_insert(struct db *db, const char *nonce, int64_t op_id,
	    const char *signer, int64_t accepted_at, int64_t expires_at,
	    int *inserted_out, struct err *err);

/* *exists_out = 1 when nonce is stored (read-only). */
int	nonces_exists(struct db *db, const char *nonce, int *exists_out,
	    struct err *err);

/*
 * Deletes the rows whose expires_at < now, never one that has not
 * expired.  *deleted_out (may be NULL) gets the count.
 */
int	nonces_prune(struct db *db, int64_t now, int64_t *deleted_out,
	    struct err *err);

/* Number of stored nonces. */
int	nonces_count(struct db *db, int64_t *out, struct err *err);

#endif
