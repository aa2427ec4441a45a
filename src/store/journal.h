/*
 * journal — the append-only journal: one row per state change of an
 * operation (R-33 every transition appends its journal event, R-35
 * readable through v_journal).  Rows are never updated or deleted:
 * triggers of migration 0001 enforce it.
 */
#ifndef FELHOM_STORE_JOURNAL_H
#define FELHOM_STORE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

struct journal_entry {
	int64_t		 op_id;
	int64_t		 at;		/* unix seconds */
	const char	*from;		/* state names */
	const char	*event;
	const char	*to;
	int		 step;
	const json_t	*detail;	/* NULL = {} */
};

/* Appends one row (in the caller's transaction); *id_out may be NULL. */
int	journal_append(struct db *db, const struct journal_entry *e,
	    int64_t *id_out, struct err *err);

/*
 * The rows of op_id (0: all ops), oldest first, as a JSON array of
 * {id, op_id, at, from, event, to, step, detail}.  Caller decrefs *out.
 */
int	journal_list(struct db *db, int64_t op_id, json_t **out,
	    struct err *err);

/*
 * The detail of op_id's newest row with `event` (caller decrefs *out);
 * ERR_NOT_FOUND when there is none.
 */
int	journal_last_detail(struct db *db, int64_t op_id, const char *event,
	    json_t **out, struct err *err);

/*
 * The id of the newest row (0 when empty): a mark that orders an
 * observation against the transitions around it.
 */
int	journal_max_id(struct db *db, int64_t *out, struct err *err);

/*
 * The UPIDs any op on vmid recorded in rows from `since` (unix seconds)
 * on, as a JSON array of strings (caller decrefs *out): tasks that are
 * some op's, which a search for a lost answer must never adopt again.
 */
int	journal_claimed_upids(struct db *db, int64_t vmid, int64_t since,
	    json_t **out, struct err *err);

/* Number of rows of op_id (0: all). */
int	journal_count(struct db *db, int64_t op_id, int64_t *out,
	    struct err *err);

#endif
