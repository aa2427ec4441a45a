/*
 * desired — the desired state from the hub (or desired_file), one
 * generation at a time: tables desired_guests and desired_restore_tests
 * plus the generation in kv.
 *
 * The document was validated by its reader (hub_) before it reaches
 * desired_replace(); the store still refuses values that would break
 * its own invariants (vmid range, state names) rather than trust them.
 */
#ifndef FELHOM_STORE_DESIRED_H
#define FELHOM_STORE_DESIRED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

/* kv: the generation last planned in full (agent.applied_generation). */
#define DESIRED_KV_APPLIED	"applied_generation"

enum desired_state {
	DESIRED_RUNNING,
	DESIRED_STOPPED,
	DESIRED_ABSENT,
	DESIRED__COUNT
};

struct desired_guest {
	int64_t			 vmid;
	enum desired_state	 state;
	json_t			*spec;		/* managed keys, or NULL */
	json_t			*provision;	/* {template, storage, ...} */
	json_t			*restore;	/* {archive, storage} */
	json_t			*rollback;	/* {snapshot} or NULL */
};

struct desired_restore_test {
	int64_t		 vmid;
	int64_t		 every_hours;
	int64_t		 scratch_first;
	int64_t		 scratch_last;
	char		*storage;	/* owned */
};

struct desired_set {
	int64_t				 generation;	/* 0: none */
	struct desired_guest		*guests;	/* ascending vmid */
	size_t				 nguests;
	struct desired_restore_test	*tests;		/* ascending */
	size_t				 ntests;
};

/* "running", "stopped", "absent"; NULL for an out-of-range value. */
const char *desired_state_name(enum desired_state s);
/* Parses a state name; -1 when unknown. */
int	desired_state_parse(const char *s);

/*
 * Replaces the whole desired state with an already-validated
 * felhom.desired/v1 document's `guests` and `restore_tests` arrays
 * (restore_tests may be NULL: none) and its generation (kv
 * KV_DESIRED_GENERATION).  MUST be called inside the caller's
 * transaction (db_begin/db_commit) so the generation and the rows commit
 * together: ERR_INTERNAL otherwise.  A generation lower than the stored
 * one is ERR_CONFLICT; a malformed element ERR_FORMAT naming it.
 */
int	desired_replace(struct db *db, int64_t generation,
	    const json_t *guests, const json_t *restore_tests,
	    struct err *err);

/*
 * Loads the stored desired state into a new set (caller frees with
 * desired_set_free); an empty set with generation 0 when none is stored.
 */
int	desired_load(struct db *db, struct desired_set **out,
	    struct err *err);
void	desired_set_free(struct desired_set *set);

/* The stored guest of vmid in set (borrowed), or NULL. */
const struct desired_guest *desired_find(const struct desired_set *set,
	    int64_t vmid);

#endif
