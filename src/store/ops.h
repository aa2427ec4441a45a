/*
 * ops — the ops table: one row per operation and its
 * idempotency keys.
 *
 * Only the state machine (engine/sm) changes ops.state, through
 * ops_cas_state(); the other setters here are the database parts of its
 * transitions and are called by its actions only.  States travel as
 * their names (sm_state_name()): the store does not interpret them,
 * except in the lane query and ops_count(), which know the terminal
 * states: an op's ended_at is set when it enters one, so the ops not
 * ended are those whose ended_at is NULL (found through ops_ended).
 */
#ifndef FELHOM_STORE_OPS_H
#define FELHOM_STORE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

#define OPS_UID_LEN		20	/* "op-" + 16 hex + NUL */
#define OPS_STATE_MAX		24	/* longest state name + NUL */
#define OPS_DEFAULT_MAX_ATTEMPTS 5

enum ops_kind {
	OPS_KIND_START,
	OPS_KIND_STOP,
	OPS_KIND_SET_CONFIG,
	OPS_KIND_SNAPSHOT,
	OPS_KIND_DELETE_SNAPSHOT,
	OPS_KIND_ROLLBACK,
	OPS_KIND_BACKUP,
	OPS_KIND_RESTORE,
	OPS_KIND_DESTROY,
	OPS_KIND_PROVISION,
	OPS_KIND_ROTATE_SIGNERS,
	OPS_KIND__COUNT
};

enum ops_source {
	OPS_SOURCE_DESIRED,
	OPS_SOURCE_SIGNED,
	OPS_SOURCE_REQUEST,
	OPS_SOURCE_ADMIN,
	OPS_SOURCE_INTERNAL,
	OPS_SOURCE__COUNT
};

enum ops_class {
	OPS_CLASS_BENIGN,
	OPS_CLASS_DESTRUCTIVE,
	OPS_CLASS__COUNT
};

/* Names as stored ("set_config", "desired", "benign"); parse: -1 if unknown. */
const char *ops_kind_name(enum ops_kind k);
const char *ops_source_name(enum ops_source s);
const char *ops_class_name(enum ops_class c);
int	ops_kind_parse(const char *s);
int	ops_source_parse(const char *s);
int	ops_class_parse(const char *s);

/* One ops row, heap-owned (ops_row_free). */
struct ops_row {
	int64_t		 id;
	char		 uid[OPS_UID_LEN];
	int64_t		 vmid;		/* 0 for host-scoped ops */
	enum ops_kind	 kind;
	enum ops_source	 source;
	enum ops_class	 class;
	char		 state[OPS_STATE_MAX];	/* state name */
	int		 step;
	json_t		*params;	/* owned, never NULL */
	char		*params_text;	/* as stored (sorted) */
	char		*why;		/* may be NULL */
	char		*idem_key;
	int64_t		 generation;	/* 0 when none */
	int64_t		 blob_not_after;	/* 0 when none */
	int		 has_blob;
	char		*upid;		/* NULL when none */
	json_t		*safety;	/* owned, NULL when none */
	int		 attempt;
	int		 max_attempts;
	int64_t		 next_at;
	int64_t		 intent_at;	/* 0 when none */
	int64_t		 created_at;
	int64_t		 updated_at;
	int64_t		 ended_at;	/* 0 when not ended */
	char		*error_code;	/* NULL when none */
	char		*error;		/* NULL when none */
	char		*config_digest;	/* set_config: the config digest
					   its write carries; NULL */
	int64_t		 wait_ms;	/* retry wait (monotonic), 0 */
};

void	ops_row_free(struct ops_row *op);
void	ops_rows_free(struct ops_row **ops, size_t n);

/* What a new op is made of; pointers borrowed for the call. */
struct ops_new {
	int64_t		 vmid;		/* 0: host-scoped */
	enum ops_kind	 kind;
	enum ops_source	 source;
	enum ops_class	 class;
	const json_t	*params;	/* NULL = {} */
	const char	*params_text;	/* NULL, or jsonx_dump(params) made
					   already (a plan action's) */
	const char	*why;		/* may be NULL */
	const char	*idem_key;	/* desired key or nonce */
	int64_t		 generation;	/* 0: none */
	int		 max_attempts;	/* 0: the default */
	int64_t		 now;
};

/*
 * Inserts an op in state "new" with a fresh uid, and its idempotency
 * row, in the caller's transaction or its own.  A key that already
 * exists (in either table) is ERR_CONFLICT and nothing is written
 * .  *id_out gets the new id.
 */
int	ops_create(struct db *db, const struct ops_new *n, int64_t *id_out,
	    struct err *err);

/* ops.id of the op holding key: ERR_NOT_FOUND when none. */
int	ops_find_key(struct db *db, const char *key, int64_t *id_out,
	    struct err *err);

/*
 * 1 in *found when an op whose key starts with prefix ended in
 * `state` (e.g. "succeeded"): an already applied desired action.
 */
int	ops_find_prefix_state(struct db *db, const char *prefix,
	    const char *state, int *found, struct err *err);

/*
 * The newest op keyed `base` or "<base>/<round>" (a desired action planned
 * again in the same generation, R-34).  ERR_NOT_FOUND when none.
 */
struct ops_latest {
	int64_t		 id;
	char		 uid[OPS_UID_LEN];
	char		 state[OPS_STATE_MAX];
	int64_t		 journal_id;	/* its newest journal row */
	int64_t		 rounds;	/* ops under base so far, archived
					   ones too (set on ERR_NOT_FOUND) */
	char		*error_code;	/* heap, NULL when none */
	char		*error;		/* heap, NULL when none */
};

int	ops_latest_by_key(struct db *db, const char *base,
	    struct ops_latest *out, struct err *err);
void	ops_latest_reset(struct ops_latest *l);

/* Reads one op (ERR_NOT_FOUND when none); caller ops_row_free()s it. */
int	ops_get(struct db *db, int64_t id, struct ops_row **out,
	    struct err *err);
int	ops_get_uid(struct db *db, const char *uid, struct ops_row **out,
	    struct err *err);

/*
 * Every op not in a terminal state, by vmid then id (the lanes, oldest
 * first); caller frees with ops_rows_free(*out, *n_out).
 */
int	ops_list_active(struct db *db, struct ops_row ***out, size_t *n_out,
	    struct err *err);

/* Current state name of op id into state (OPS_STATE_MAX). */
int	ops_get_state(struct db *db, int64_t id, char *state,
	    struct err *err);

/*
 * Compare-and-set: state from → to where the op is in `from`;
 * updated_at = now, ended_at = now when `terminal`.  ERR_CONFLICT when
 * the op is in another state, ERR_NOT_FOUND when it does not exist.
 * *vmid_out gets the op's vmid (0 when none), uid_out (OPS_UID_LEN,
 * may be NULL) its uid.
 */
int	ops_cas_state(struct db *db, int64_t id, const char *from,
	    const char *to, int terminal, int64_t now, int64_t *vmid_out,
	    char *uid_out, struct err *err);

/* Database parts of transitions (engine/sm actions only). */
/*
 * submit: attempt + 1, intent_at = now, no UPID, no next_at or wait;
 * digest (may be NULL) the config digest a set_config write carries.
 */
int	ops_mark_submit(struct db *db, int64_t id, int64_t now,
	    const char *digest, struct err *err);
/* The task of the current step (or of the undo). */
int	ops_set_upid(struct db *db, int64_t id, const char *upid,
	    struct err *err);
/*
 * Failure facts; for a retry next_at (wall clock, shown; 0 = keep) and
 * wait_ms (its length on the monotonic clock); clears the UPID.
 */
int	ops_set_error(struct db *db, int64_t id, const char *code,
	    const char *msg, int64_t next_at, int64_t wait_ms,
	    struct err *err);
/*
 * The retry wait still to run of an op in authorized (a clean stop keeps
 * what is left of it, R-34); another state is left alone.
 */
int	ops_set_wait(struct db *db, int64_t id, int64_t wait_ms,
	    struct err *err);
/* Next step: step + 1, attempt 0, no UPID, safety (NULL = keep). */
int	ops_next_step(struct db *db, int64_t id, const json_t *safety,
	    struct err *err);
/* Undo intent: intent_at = now, no UPID; reset (attempt = 0) or count. */
int	ops_mark_undo(struct db *db, int64_t id, int64_t now, int reset,
	    struct err *err);
/* Not before: next_at = at, no retry wait left (an operator's resume). */
int	ops_set_next_at(struct db *db, int64_t id, int64_t at, struct err *err);
/* The sign request of a pending op (blob NULL: keep). */
int	ops_set_sign_request(struct db *db, int64_t id, const void *blob,
	    size_t len, int64_t not_after, struct err *err);
/* The accepted signature of an authorized op. */
int	ops_set_signature(struct db *db, int64_t id, const char *signature,
	    const char *signer, const char *nonce, struct err *err);
/* The class the gate decided (an op still in new). */
int	ops_set_class(struct db *db, int64_t id, enum ops_class class,
	    struct err *err);
/*
 * The op's blob (the signed bytes, or the sign request of a pending
 * op): a heap copy with one spare NUL byte, caller frees.  ERR_NOT_FOUND
 * when the op has none (or does not exist).
 */
int	ops_get_blob(struct db *db, int64_t id, uint8_t **out, size_t *len_out,
	    struct err *err);
/* Step and attempt of op id. */
int	ops_get_step(struct db *db, int64_t id, int *step_out,
	    int *attempt_out, struct err *err);

/*
 * Counts ops in state (NULL: all) — for tests, the bench and the
 * report.
 */
int	ops_count(struct db *db, const char *state, int64_t *out,
	    struct err *err);

#endif
