/*
 * intake — turns the entries of GET /signed-ops, stored as received in
 * signed_inbox, into ops and approvals (R-11, R-15, R-20, R-28;
 * hub-contract.md "GET /signed-ops").
 *
 *   op_id set            an approval of that pending op: the locked
 *                        pipeline bound to it (gate_approve), accepted
 *                        in the transaction that consumes the nonce.
 *   op_id null, signed   a signed job: the pipeline, then an op (source
 *                        signed, idempotency key = the nonce) created and
 *                        moved to authorized in the one transaction that
 *                        consumes the nonce.
 *   signature null       an unsigned job: the blob is validated like any
 *                        other (strict parse, this host, its guest, its
 *                        window) and becomes an op (source request): a
 *                        benign one runs, a destructive one waits in
 *                        pending_signature with that very blob as its
 *                        sign request.
 *
 * Each entry is independent: a bad one is rejected and audited with its
 * code (the nonce table unchanged), marked rejected, and the rest go on.
 * An entry is marked taken or rejected in the transaction that records
 * its verdict, so a crash re-reads it and decides it once.  Signed jobs
 * that arrived together (consecutive in the inbox) are decided in one
 * transaction — a group commit, one fsync for the delivery (issue 15):
 * each is verified before it, decided under a savepoint of its own
 * inside it (a replay within the same delivery is still refused), and
 * logged after the commit; nothing runs before the commit (the ops are
 * only authorized), and a crash before it leaves the whole group new.
 *
 * While the hub says `blocked`, intake does nothing: entries wait in the
 * inbox and are decided once the block is lifted (hub-contract.md: "no
 * mutation of any kind ... ops stay where they are").  A signature whose
 * window lapses meanwhile is then rejected as expired.
 */
#ifndef FELHOM_ENGINE_INTAKE_H
#define FELHOM_ENGINE_INTAKE_H

#include <stddef.h>

#include "base/err.h"
#include "engine/gate.h"

#define INTAKE_BATCH	256	/* entries read per round */

struct intake_stats {
	size_t	 entries;	/* entries decided */
	size_t	 authorized;	/* ops now authorized (jobs, approvals) */
	size_t	 pending;	/* unsigned destructive jobs now pending */
	size_t	 rejected;	/* entries rejected (audited) */
};

/*
 * Decides every entry in state new, oldest first (none when blocked),
 * then prunes the nonces whose expiry passed.
 * Verdicts against an entry are not failures; database and resource
 * failures are returned (entries not yet decided stay new).  out may be
 * NULL.
 */
int	intake_run(struct gate *g, int blocked, struct intake_stats *out,
	    struct err *err);

#endif
