/*
 * verify — the locked verification pipeline of an operator-signed
 * operation (R-10 .. R-15; signed-ops.md "The verification pipeline").
 *
 *  1 parse      armor + SSHSIG blob     bad_armor, bad_sshsig,
 *                                       unsupported_key_type, bad_hash_alg
 *  2 namespace  felhom-op-v1            bad_namespace
 *  3 signer     pinned key + options    unknown_signer
 *  4 signature  raw blob bytes, FIDO    bad_signature, user_presence_required
 *  5 blob       op blob v1 (strict)     bad_blob
 *  6 target     host, guest             wrong_host, wrong_guest
 *  7 time       window, skew, length    not_yet_valid, expired,
 *                                       window_too_long
 *  8 role       operational / recovery  role_denied
 *  9 binding    pending op (approvals)  binding_mismatch
 * 10 nonce      LAST, in the accepting  replay, replay_floor
 *               transaction; not_before
 *               before the database's
 *               nonce floor
 *
 * verify_run() runs stages 1-9 and touches no database: a rejection at
 * any stage leaves no trace in the nonce store.  The engine then
 * calls verify_consume_nonce() inside the transaction that accepts the
 * op (R-15, DESIGN.md invariant 3).
 */
#ifndef FELHOM_AUTHZ_VERIFY_H
#define FELHOM_AUTHZ_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "base/err.h"
#include "store/db.h"

#define VERIFY_NAMESPACE		"felhom-op-v1"	/* */
#define VERIFY_DEFAULT_SKEW_S		120
#define VERIFY_DEFAULT_MAX_WINDOW_S	86400

enum verify_stage {
	VERIFY_STAGE_PARSE,
	VERIFY_STAGE_NAMESPACE,
	VERIFY_STAGE_SIGNER,
	VERIFY_STAGE_SIGNATURE,
	VERIFY_STAGE_BLOB,
	VERIFY_STAGE_TARGET,
	VERIFY_STAGE_TIME,
	VERIFY_STAGE_ROLE,
	VERIFY_STAGE_BINDING,
	VERIFY_STAGE_NONCE,
	VERIFY_STAGE__COUNT
};

enum verify_outcome {
	VERIFY_OUTCOME_SKIPPED,		/* not reached */
	VERIFY_OUTCOME_OK,
	VERIFY_OUTCOME_REJECTED,
	VERIFY_OUTCOME_NOT_APPLICABLE,	/* binding of a non-approval */
	VERIFY_OUTCOME__COUNT
};

/* "parse", "namespace", ...; "skipped", "ok", ... */
const char *verify_stage_name(int stage);
const char *verify_outcome_name(int outcome);

struct verify_config {
	int64_t	 clock_skew_s;		/* authz.clock_skew_s */
	int64_t	 max_window_s;		/* authz.max_window_s */
};

/* The pending op a signature must approve (stage 9). */
struct verify_binding {
	enum opblob_op	 op;
	int		 has_guest;	/* 0: host-scoped */
	int64_t		 guest_id;
	const json_t	*params;	/* compared as JSON values */
};

struct verify_input {
	const uint8_t			*blob;		/* signed bytes */
	size_t				 blob_len;
	const char			*signature;	/* armored SSHSIG */
	size_t				 signature_len;
	const char			*host_id;	/* this host */
	const struct verify_binding	*binding;	/* NULL: signed job */
	int64_t				 now;		/* unix seconds */
	const struct verify_config	*config;	/* NULL: defaults */
	const struct signers		*signers;	/* both roles */
	int64_t				 nonce_floor;	/* 0 none */
};

#define VERIFY_PRINCIPAL_MAX	256
#define VERIFY_SIGNER_MAX	(VERIFY_PRINCIPAL_MAX + SSHSIG_FP_LEN + 2)

struct verify_result {
	int			 code;		/* enum authz_code */
	enum verify_stage	 stage;		/* deciding stage; NONCE if
						   stages 1-9 passed */
	enum verify_outcome	 outcome[VERIFY_STAGE__COUNT];
	char			 msg[ERR_MSG_MAX]; /* why, for a rejection */
	struct opblob		*blob;		/* parsed from stage 5, owned */
	int			 has_key;	/* key facts below are set */
	enum sshsig_keytype	 keytype;
	enum sshsig_hash	 hash;
	char			 fingerprint[SSHSIG_FP_LEN];
	int			 has_signer;	/* a signer line matched */
	char			 principal[VERIFY_PRINCIPAL_MAX];
	unsigned		 role_mask;	/* 1 << enum signers_role */
	enum signers_role	 role;		/* role that authorized */
	char			 signer[VERIFY_SIGNER_MAX]; /* "principal fp" */
	struct sshsig_sk_info	 sk;		/* FIDO flags and counter */
	int64_t			 nonce_expires_at; /* not_after + max skew */
};

void	verify_result_init(struct verify_result *res);
/* Frees res->blob and clears res. */
void	verify_result_reset(struct verify_result *res);

/*
 * Stages 1-4 of a pure signature check, ssh-keygen -Y verify's meaning:
 * armor, namespace ns (exact), a signer line matching principal (NULL =
 * any) and ns and now, then the signature over msg with the line's FIDO
 * policy.  Fills res (stage, outcomes, key facts, principal); returns 0,
 * ERR_REJECTED with err->reason = the code, or ERR_NOMEM/ERR_CRYPTO.
 */
int	verify_signature(const char *armor, size_t armor_len, const void *msg,
	    size_t msglen, const char *ns, const char *principal, int64_t now,
	    const struct signers *set, struct verify_result *res,
	    struct err *err);

/*
 * Stages 1-9.  Returns 0 when every stage passed (res->code
 * AUTHZ_ACCEPTED, res->stage VERIFY_STAGE_NONCE, still to be consumed),
 * ERR_REJECTED with err->reason = res->code at the first stage that
 * rejects, or a resource error.  res must be initialised; the caller
 * resets it.
 */
int	verify_run(const struct verify_input *in, struct verify_result *res,
	    struct err *err);

/*
 * Stage 10: records nonce as used by signer for op_id (0: none yet)
 * with expiry expires_at (not_after + CONFIG_CLOCK_SKEW_MAX_S).  Must
 * be called inside the transaction that accepts the op (ERR_INTERNAL
 * otherwise); it neither begins nor commits.  A nonce already stored is ERR_REJECTED with
 * reason AUTHZ_REPLAY and nothing written.
 */
int	verify_consume_nonce(struct db *db, const char *nonce,
	    int64_t expires_at, const char *signer, int64_t op_id, int64_t now,
	    struct err *err);

#endif
