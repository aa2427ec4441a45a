/*
 * provenance — what the agent itself created: scratch guests of its
 * restore tests, the safety snapshots and backups it takes before an
 * overwrite.  The gate reads it to decide that destroying
 * or deleting such a thing is benign.
 *
 * A row is written only in the transaction that records the agent's own
 * creation (a state-machine transition), so these writers refuse to run
 * outside a transaction.  Nothing from the hub or from an op blob ever
 * reaches this table: provenance is the agent's word alone.
 */
#ifndef FELHOM_STORE_PROVENANCE_H
#define FELHOM_STORE_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

enum provenance_kind {
	PROVENANCE_GUEST,	/* a guest the agent created (name "") */
	PROVENANCE_SNAPSHOT,	/* a snapshot it took (name = snapshot) */
	PROVENANCE_BACKUP,	/* a backup it made (name = volid) */
	PROVENANCE__COUNT
};

/* "guest", "snapshot", "backup"; "unknown" out of range. */
const char *provenance_kind_name(int kind);
/* The kind named s, or -1. */
int	provenance_kind_parse(const char *s);

/*
 * Records that op_id (0: none) created (kind, vmid, name); name NULL is
 * "".  Must run inside the caller's transaction (ERR_INTERNAL
 * otherwise): the one that records the creation.  A row already there
 * for the same thing is replaced (the agent made it again).
 */
int	provenance_record(struct db *db, enum provenance_kind kind,
	    int64_t vmid, const char *name, int64_t op_id, int64_t now,
	    struct err *err);

/*
 * *found_out = 1 when (kind, vmid, name) was created by the agent;
 * *op_id_out (may be NULL) gets the op that made it (0 when none).
 */
int	provenance_has(struct db *db, enum provenance_kind kind, int64_t vmid,
	    const char *name, int *found_out, int64_t *op_id_out,
	    struct err *err);

/*
 * Forgets (kind, vmid, name) once the thing is gone (the agent deleted
 * it); name NULL forgets every row of that kind for vmid (a destroyed
 * guest takes its snapshots along).  Inside the caller's transaction.
 * *n_out (may be NULL) gets the number of rows removed.
 */
int	provenance_forget(struct db *db, enum provenance_kind kind,
	    int64_t vmid, const char *name, int64_t *n_out, struct err *err);

/* Number of rows (kind -1: all kinds). */
int	provenance_count(struct db *db, int kind, int64_t *out,
	    struct err *err);

#endif
