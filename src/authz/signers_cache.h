/*
 * signers_cache — the live signer set without parsing it again
 * for every verification.
 *
 * The signers table is the live set, and a rotation counts at once: so
 * every signers_cache_get() reads the table's rows again (a few short
 * rows) and compares them, id, role and line, with the rows the cached
 * set was built from; only when anything differs is the set parsed
 * again (each key's parse includes its public-key check, which costs
 * far more than the read: an ECDSA key's check is a point
 * multiplication).
 */
#ifndef FELHOM_AUTHZ_SIGNERS_CACHE_H
#define FELHOM_AUTHZ_SIGNERS_CACHE_H

#include "authz/signers.h"
#include "base/err.h"
#include "store/db.h"

struct signers_cache;

/* An empty cache (caller frees with signers_cache_free), or NULL. */
struct signers_cache *signers_cache_new(void);
void	signers_cache_free(struct signers_cache *c);

/*
 * The set as the table holds it now, borrowed from the cache until the
 * next call or signers_cache_free().  Errors as signers_load_db (a row
 * that no longer parses is ERR_CORRUPT); after an error the cache is
 * empty, so nothing stale is ever returned.
 */
int	signers_cache_get(struct signers_cache *c, struct db *db,
	    const struct signers **set_out, struct err *err);

/* How many times the set was parsed (for tests). */
unsigned long signers_cache_loads(const struct signers_cache *c);

#endif
