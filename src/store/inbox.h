/*
 * inbox — the signed_inbox table: entries of the hub's GET /signed-ops
 * stored as received, before the gate takes them.  The
 * report loop writes; the gate engineer's code consumes.
 */
#ifndef FELHOM_STORE_INBOX_H
#define FELHOM_STORE_INBOX_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

/* Values of signed_inbox.state. */
#define INBOX_NEW	"new"		/* waiting for the gate */
#define INBOX_TAKEN	"taken"		/* the gate made an op of it */
#define INBOX_REJECTED	"rejected"	/* refused; result says why */

struct inbox_entry {
	int64_t		 seq;		/* the hub's seq (v1.1); 0 none */
	int64_t		 received_at;	/* unix seconds */
	const char	*op_ref;	/* op_id it approves, NULL = a job */
	const void	*blob;		/* the op blob bytes (decoded) */
	size_t		 blob_len;
	const char	*signature;	/* armored SSHSIG, NULL = unsigned */
	const char	*state;		/* INBOX_NEW or INBOX_REJECTED */
	const char	*result;	/* NULL, or why it was rejected */
};

/*
 * Appends one entry; *id_out (may be NULL) gets its row id.  Call it
 * inside the caller's transaction when several entries go together.  A
 * seq held already is ERR_CONFLICT.
 */
int	inbox_add(struct db *db, const struct inbox_entry *e, int64_t *id_out,
	    struct err *err);

/*
 * hub-contract v1.1: 1 in *found when an entry with the hub's seq is
 * held already (whatever became of it): served again, it is ignored.
 */
int	inbox_has_seq(struct db *db, int64_t seq, int *found,
	    struct err *err);

/* Number of entries in state (NULL = all). */
int	inbox_count(struct db *db, const char *state, int64_t *out,
	    struct err *err);

/* One stored entry, heap-owned (inbox_rows_free). */
struct inbox_row {
	int64_t		 id;
	int64_t		 received_at;
	char		*op_ref;	/* NULL = a job */
	uint8_t		*blob;		/* the bytes as received */
	size_t		 blob_len;
	char		*signature;	/* NULL = unsigned */
};

/*
 * The entries in state "new", oldest first, at most limit.  Caller
 * frees with inbox_rows_free(*out, *n_out).  (The gate's intake.)
 */
int	inbox_list_new(struct db *db, size_t limit, struct inbox_row **out,
	    size_t *n_out, struct err *err);
void	inbox_rows_free(struct inbox_row *rows, size_t n);

/*
 * Marks entry id INBOX_TAKEN or INBOX_REJECTED with result (may be
 * NULL), only from "new": ERR_CONFLICT when it was already decided.
 * Call it in the transaction that records the decision.
 */
int	inbox_mark(struct db *db, int64_t id, const char *state,
	    const char *result, struct err *err);

#endif
