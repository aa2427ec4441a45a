/*
 * archive — retention (issue 15): terminal ops older than retention_days
 * move, with their journal and audit rows, to a monthly archive database
 * beside the live one ("archive-YYYY-MM.db" by the month the op ended),
 * a few at a time.  Audit rows without an op move by their own time.
 *
 * The move is two short transactions: the rows are first copied into
 * the archive (INSERT OR IGNORE: a copy left by a crash is not doubled),
 * then deleted from the live tables — after checking that the archive
 * holds every one — with the move audited in the same transaction.  A
 * crash between the two leaves the rows in both places; the next step
 * finishes the move.  Nothing is lost, nothing is kept twice for long.
 *
 * Never moved: an op a live nonce still names (replay protection reads
 * the nonce; it is pruned only after expiry), one a guest's backoff or
 * an open restore test names, audit rows the hub has not acked, and the
 * newest journal and audit rows (the database markers follow them).
 */
#ifndef FELHOM_STORE_ARCHIVE_H
#define FELHOM_STORE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

/* Ops per step: each transaction stays within a few milliseconds. */
#define ARCHIVE_BATCH		16
#define ARCHIVE_FILE_MAX	4096

struct archive_result {
	size_t	ops;		/* ops moved */
	size_t	journal;	/* their journal rows */
	size_t	audit;		/* audit rows moved */
	double	lock_ms;	/* the live database's write lock held */
	char	file[ARCHIVE_FILE_MAX];	/* the archive written, "" if none */
};

/*
 * One step: moves up to batch ops that ended before cutoff (or, when no
 * op is due, up to batch * 4 audit rows without an op from before
 * cutoff), none of whose audit rows is past audit_upto.  out says what
 * moved; all zero when nothing was due.  A step with nothing due only
 * reads.
 */
int	archive_step(struct db *db, int64_t now, int64_t cutoff,
	    int64_t audit_upto, size_t batch, struct archive_result *out,
	    struct err *err);

/* The archive file for a time: <dir of db>/archive-YYYY-MM.db. */
int	archive_path(const struct db *db, int64_t t, char *out, size_t n,
	    struct err *err);

#endif
