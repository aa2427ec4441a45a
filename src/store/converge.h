/*
 * converge — the converge table: per guest, the consecutive failed (or
 * drifted) desired ops and the backoff before the plan tries again within
 * the same desired generation.  The wait is a length on the
 * monotonic clock (engine/timer arms it).
 */
#ifndef FELHOM_STORE_CONVERGE_H
#define FELHOM_STORE_CONVERGE_H

#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

struct converge_row {
	int64_t		 vmid;
	int		 failures;	/* consecutive */
	int64_t		 wait_ms;	/* backoff after the last one */
	int64_t		 op_id;		/* the last op counted */
	char		*error_code;	/* heap, NULL when none */
	char		*error;		/* heap, NULL when none */
	int64_t		 updated_at;
};

void	converge_row_reset(struct converge_row *r);

/* The row of vmid into *out (caller resets it); ERR_NOT_FOUND. */
int	converge_get(struct db *db, int64_t vmid, struct converge_row *out,
	    struct err *err);

/* Inserts or replaces the row of r->vmid. */
int	converge_put(struct db *db, const struct converge_row *r,
	    struct err *err);

/* Forgets vmid (converged), or every guest when vmid is 0. */
int	converge_clear(struct db *db, int64_t vmid, struct err *err);

#endif
