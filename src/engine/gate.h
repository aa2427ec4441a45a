/*
 * gate — the reversibility gate (R-27 …; signed-ops.md).
 *
 * gate_classify() decides benign vs destructive by provenance and
 * data-bearingness, never by verb alone: start, stop, snapshot, backup
 * and provision are benign; set_config is classified from the exact
 * form parameters the executor will send (pvereq_set_config): it is
 * destructive when that form deletes a data-bearing key (mpN, unusedN,
 * rootfs) or sets one (attaching or replacing a volume), and refused
 * (bad_blob) when no such form exists — a key of `set` that is not a
 * container option, such as PVE's own `delete`; delete_snapshot and
 * destroy are benign only for what the agent itself created (its
 * `provenance` table); rollback is destructive but for a guest the
 * agent created (a self-test's scratch guest); restore is destructive
 * unless the target vmid is proven free; rotate_signers always needs a
 * signature; anything unknown is destructive.  Provenance comes from
 * the agent's own table only: nothing the hub or a blob claims counts.
 *
 * gate_decide() moves an op out of `new`: benign → authorized unsigned;
 * destructive → pending_signature with a sign request the agent writes
 * itself (its own nonce, window now .. now + sign_request_ttl_s, the
 * op's own op/host/guest/params), published through ops.blob in the
 * report.  gate_approve() runs the locked pipeline on a signature for a
 * pending op, bound to it (op, host, guest, params), and moves it to
 * authorized in the one transaction that consumes the nonce (R-15,
 * DESIGN invariant 3).  Every decision is audited with its code.
 *
 * gate_run_host_op() executes the host-scoped rotate_signers op in the
 * agent itself: the signer set in the database is replaced, audited,
 * and used by the next verification.
 *
 * gate_provenance_hook() is called by the state machine inside every
 * transition's transaction: the agent's creations (safety copies,
 * internal guests and snapshots) are recorded with the transition that
 * records them, and forgotten with the one that records their deletion;
 * a safety copy stops being the agent's with the transition that ends
 * its overwrite without success or undo.
 */
#ifndef FELHOM_ENGINE_GATE_H
#define FELHOM_ENGINE_GATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "authz/opblob.h"
#include "authz/verify.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "engine/exec.h"
#include "engine/sm.h"
#include "store/db.h"
#include "store/ops.h"

enum gate_class {
	GATE_BENIGN,
	GATE_DESTRUCTIVE,
	GATE_REFUSED,		/* no request can say it: rejected, bad_blob */
	GATE_CLASS__COUNT
};

/* Why the classifier said what it said; the name is the audit detail. */
enum gate_reason {
	GATE_R_NO_DATA_LOST,	/* start, stop, snapshot, backup */
	GATE_R_CREATES,		/* provision: creates, destroys nothing */
	GATE_R_CONFIG,		/* set_config: no volume deleted or set */
	GATE_R_CONFIG_DATA,	/* set_config deletes mpN / unusedN */
	GATE_R_CONFIG_VOLUME,	/* set_config sets rootfs / mpN / unusedN */
	GATE_R_BAD_PARAMS,	/* params no PVE request may carry */
	GATE_R_UNEXAMINED,	/* params could not be examined (memory) */
	GATE_R_AGENT_SNAPSHOT,	/* delete_snapshot of the agent's own */
	GATE_R_SNAPSHOT,	/* delete_snapshot of anyone else's */
	GATE_R_ROLLBACK,	/* rollback overwrites the current state */
	GATE_R_RESTORE_FRESH,	/* restore into a vmid proven free */
	GATE_R_RESTORE_OVERWRITE, /* restore over an existing guest */
	GATE_R_RESTORE_UNPROVEN, /* restore where absence is not proven */
	GATE_R_AGENT_GUEST,	/* destroy of a guest the agent created */
	GATE_R_GUEST,		/* destroy of a customer guest */
	GATE_R_ROTATION,	/* rotate_signers: always signed */
	GATE_R_UNKNOWN,		/* unknown operation: fail safe */
	GATE_R__COUNT
};

/* Does the op's vmid exist on PVE (only restore asks). */
enum gate_exists {
	GATE_EXISTS_UNKNOWN,	/* not asked, or PVE could not tell */
	GATE_EXISTS_YES,
	GATE_EXISTS_NO,		/* proven by a direct read */
	GATE_EXISTS__COUNT
};

/* "benign" / "destructive"; "unknown" out of range. */
const char *gate_class_name(int c);
/* "restore_overwrite", ...; "unknown" out of range. */
const char *gate_reason_name(int r);

/* What is classified; borrowed for the call. */
struct gate_subject {
	enum opblob_op	 op;
	int64_t		 vmid;		/* 0: host-scoped */
	const json_t	*params;	/* never NULL for a real op */
};

/* The facts besides the op itself, from the agent's own records. */
struct gate_facts {
	enum gate_exists guest;		/* restore: does vmid exist */
	int		 agent_guest;	/* provenance: agent created vmid
					   (restore, destroy, rollback) */
	int		 agent_snapshot; /* agent took params.name */
};

struct gate_verdict {
	enum gate_class	 class;
	enum gate_reason reason;
	char		 why[160];	/* human: "deletes data-bearing mp0" */
};

/*
 * 1 when a PVE config key holds data: mpN, unusedN (N digits) or
 * rootfs, in any letter case (fail safe).
 */
int	gate_is_data_key(const char *key);

/* The pure classifier (table-tested); never fails. */
void	gate_classify(const struct gate_subject *s, const struct gate_facts *f,
	    struct gate_verdict *out);

/* The blob op of an ops kind (names are shared). */
enum opblob_op gate_op_of_kind(enum ops_kind kind);

/* Settings of the gate, from config (authz.*, host.id). */
struct gate_config {
	const char	*host_id;		/* copied */
	int64_t		 clock_skew_s;		/* authz.clock_skew_s */
	int64_t		 max_window_s;		/* authz.max_window_s */
	int64_t		 sign_request_ttl_s;	/* authz.sign_request_ttl_s */
};

/* Fills out from a loaded configuration (pointers borrowed from cfg). */
void	gate_config_from(const struct config *cfg, struct gate_config *out);

struct gate;

/*
 * A gate over db and clock (borrowed, must outlive it; NULL: the
 * system clock).  exec (may be
 * NULL) is used for one read only: whether a restore's vmid exists
 * (guest_status); without it that is unknown, so such a restore is
 * destructive.  Caller frees with gate_free().
 */
int	gate_new(struct db *db, const struct gate_config *cfg,
	    const struct clock *clock, const struct exec *exec,
	    struct gate **out, struct err *err);
void	gate_free(struct gate *g);

/*
 * First start: when the signer set was never seeded, reads the
 * allowed_signers files named by authz.operational_signers and
 * authz.recovery_signers (a missing file is an empty role) and stores
 * them as the live set; from then on the database is the set and the
 * files are not read again (kv KV_SIGNERS_SEEDED).  *seeded_out (may be
 * NULL) is 1 when this call stored keys.  A file that is unsafe or has
 * a bad line is an error (ERR_PERMISSION, ERR_FORMAT ...), for the
 * caller's start-up to report.
 */
int	gate_signers_seed(struct db *db, const struct config *cfg, int64_t now,
	    int *seeded_out, struct err *err);

struct db *gate_db(const struct gate *g);
int64_t	gate_now(const struct gate *g);
const char *gate_host_id(const struct gate *g);
/* The clock skew allowance and the longest window (verify's config). */
void	gate_window(const struct gate *g, int64_t *skew_out,
	    int64_t *max_window_out);

/*
 * The facts of s: provenance lookups, and (when s is a restore) one
 * direct read of the vmid through the executor.
 */
int	gate_facts_load(struct gate *g, const struct gate_subject *s,
	    struct gate_facts *out, struct err *err);

/* What a decision did, for the caller's messages and the tests. */
#define GATE_CODE_MAX	32
struct gate_result {
	char		 code[GATE_CODE_MAX];	/* accepted, replay, ... */
	int		 authz;		/* enum authz_code when a verdict */
	char		 msg[ERR_MSG_MAX];
	int64_t		 op_id;		/* 0 when no op is concerned */
	char		 uid[OPS_UID_LEN];
	enum sm_state	 to;		/* the op's state after the decision */
	struct gate_verdict verdict;	/* when classified */
};

void	gate_result_init(struct gate_result *r);

/*
 * Moves op (in `new`) by its verdict, in one transaction: benign →
 * authorized; destructive → pending_signature with a sign request
 * (opblob_make over the op's kind, vmid and params) and its window; a
 * destructive op that no blob can express is refused (rejected,
 * bad_blob).  The op's class is set to the verdict.  ERR_CONFLICT when
 * the op left `new` meanwhile.
 */
int	gate_decide(struct gate *g, const struct ops_row *op,
	    struct gate_result *out, struct err *err);

/* Options of gate_classify_in_txn(); all zero: the agent's own op. */
struct gate_classify_opts {
	const void	*request;	/* a destructive op's blob, or
					   NULL: the agent writes one */
	size_t		 request_len;
	int64_t		 not_after;	/* its window end */
	int		 signed_job;	/* request is signed: accepted next */
	const char	*actor;		/* audit actor, NULL = agent */
};

/*
 * The same inside the caller's transaction for op_id (in `new`), with
 * the verdict v already made.  opts (may be NULL) give an unsigned or
 * signed job's own blob as the op's blob instead of one the agent
 * writes.
 */
int	gate_classify_in_txn(struct gate *g, int64_t op_id, enum ops_kind kind,
	    int64_t vmid, const json_t *params, const struct gate_verdict *v,
	    const struct gate_classify_opts *opts, struct gate_result *out,
	    struct err *err);

/*
 * Runs stages 1-9 of the pipeline over blob and signature against the
 * signer set in the database, as of now; binding NULL for a job.  0
 * when accepted (res filled, nonce not yet consumed), ERR_REJECTED with
 * err->reason the authz code, or a resource error.
 */
int	gate_verify(struct gate *g, const void *blob, size_t len,
	    const char *sig, size_t siglen,
	    const struct verify_binding *binding, struct verify_result *res,
	    struct err *err);

/*
 * Audit facts of a pipeline verdict: the deciding stage, the key's
 * fingerprint, the signer and the nonce as far as known.  Caller
 * decrefs; NULL when out of memory.
 */
json_t	*gate_pipeline_data(const struct verify_result *res);

/*
 * Inside the caller's transaction: moves op_id from pending_signature
 * to authorized by signature_accepted with res's signer, then consumes
 * res's nonce (R-15: the same transaction), then hits the crash point
 * gate.after_nonce.  A nonce already used is ERR_REJECTED / AUTHZ_REPLAY
 * and the caller must roll back.
 */
int	gate_accept_in_txn(struct gate *g, int64_t op_id,
	    const struct verify_result *res, const char *sig, const char *actor,
	    struct err *err);

/*
 * Records a verdict against a signature, in the caller's transaction:
 * an op in pending_signature gets signature_rejected (journal + audit
 * with the code); otherwise one audit row (event "verify", decision
 * "rejected") names the op (op_id 0: none) and the code.  data (may be
 * NULL) adds facts to the audit row.
 */
int	gate_reject_in_txn(struct gate *g, int64_t op_id, const char *code,
	    const char *msg, const char *actor, const json_t *data,
	    struct err *err);

/* Called inside the deciding transaction (the inbox marks its entry). */
typedef int (*gate_txn_hook)(struct db *db, void *ctx,
    const struct gate_result *r, struct err *err);

/*
 * An approval of the pending op uid: the whole pipeline bound to that
 * op, then in one transaction signature_accepted + the nonce
 * .  The verdict is in out: 0 accepted; ERR_REJECTED with
 * out->code the code (and err->reason the authz code when the pipeline
 * said it) — recorded, audited, nonce table unchanged; other errors are
 * resource or database failures.  hook (may be NULL) runs inside the
 * transaction that records either verdict.  Safe while the agent runs:
 * the compare-and-set of the state decides a race.
 */
int	gate_approve(struct gate *g, const char *uid, const void *blob,
	    size_t len, const char *sig, size_t siglen, const char *actor,
	    gate_txn_hook hook, void *hook_ctx, struct gate_result *out,
	    struct err *err);

/*
 * Executes an authorized host-scoped op in-process (rotate_signers):
 * one transaction moves it through submitting to succeeded and replaces
 * the signer roles its params name (a planned rotation: operational
 * only), audited.  Other kinds are ERR_UNSUPPORTED.
 */
int	gate_run_host_op(struct gate *g, const struct ops_row *op,
	    struct err *err);

/*
 * R-15, after a restored database: every destructive op that could run
 * (authorized, at any step) goes back to pending_signature, and every op
 * already pending gets a fresh sign request (the old one predates the
 * nonce floor and can no longer be accepted): an operator reviews and
 * signs again.  Audited (gate / review_hold).  *held_out (may be NULL)
 * counts them.
 */
int	gate_hold_for_review(struct gate *g, size_t *held_out,
	    struct err *err);

/*
 * The state machine's hook, inside each transition's transaction after
 * its action: records provenance of what the transition says the agent
 * created (a safety copy when a safety step is done; the guest or
 * snapshot of an internal op that succeeded) and forgets what the agent
 * deleted (destroy, delete_snapshot, the dropped safety copy).  When an
 * op holding a safety copy ends failed or cancelled (the overwrite
 * failed without a successful undo, or its fate is unknown), the copy
 * may be the only record of the guest's prior state: its provenance is
 * retired in that transaction and audited (provenance / retired /
 * safety_copy_retired), so deleting it needs a signature from then on.
 */
int	gate_provenance_hook(struct db *db, int64_t op_id, enum sm_event event,
	    const struct sm_args *a, struct err *err);

#endif
