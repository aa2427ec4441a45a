/*
 * opblob — the operation blob v1 an operator signs (R-13;
 * shared/reference/signed-ops.md "Op blob v1").
 *
 * opblob_parse() reads the exact bytes that were verified: at most 16
 * KiB, one JSON object, no BOM, duplicate keys, unknown keys, missing
 * keys, wrong types and trailing data refused, params checked per op.
 * The parsed blob keeps its own copy of those bytes; nothing is
 * re-serialized.  Every refusal is ERR_REJECTED with reason
 * AUTHZ_BAD_BLOB and a message naming the member.
 *
 * opblob_make() writes a canonical blob (compact JSON, fixed key order)
 * for `felhom-admin op new` and the agent's own sign requests.
 */
#ifndef FELHOM_AUTHZ_OPBLOB_H
#define FELHOM_AUTHZ_OPBLOB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "authz/signers.h"
#include "base/err.h"

#define OPBLOB_MAX		(16 * 1024)	/* bytes */
#define OPBLOB_SCHEMA		"felhom.op/v1"
#define OPBLOB_HOST_MAX		64
#define OPBLOB_NONCE_MIN	32		/* hex characters */
#define OPBLOB_NONCE_MAX	128
#define OPBLOB_GUEST_MIN	100
#define OPBLOB_GUEST_MAX	999999999
#define OPBLOB_KEYLINES_MAX	64		/* per rotate_signers set */

enum opblob_op {
	OPBLOB_OP_START,
	OPBLOB_OP_STOP,
	OPBLOB_OP_SET_CONFIG,
	OPBLOB_OP_SNAPSHOT,
	OPBLOB_OP_DELETE_SNAPSHOT,
	OPBLOB_OP_ROLLBACK,
	OPBLOB_OP_BACKUP,
	OPBLOB_OP_RESTORE,
	OPBLOB_OP_DESTROY,
	OPBLOB_OP_PROVISION,
	OPBLOB_OP_ROTATE_SIGNERS,
	OPBLOB_OP_UNKNOWN,	/* any other name: destructive (fail safe) */
	OPBLOB_OP__COUNT
};

enum opblob_rotate_kind {
	OPBLOB_ROTATE_NONE,	/* not a rotate_signers blob */
	OPBLOB_ROTATE_PLANNED,	/* may replace the operational set only */
	OPBLOB_ROTATE_RECOVERY,	/* may replace both (recovery keys only) */
	OPBLOB_ROTATE__COUNT
};

/* "start", ... "rotate_signers"; "unknown" for OPBLOB_OP_UNKNOWN. */
const char *opblob_op_name(int op);
/* The op named s (NUL-terminated), OPBLOB_OP_UNKNOWN otherwise. */
enum opblob_op opblob_kind_from_name(const char *s);
/* "none" / "planned" / "recovery". */
const char *opblob_rotate_kind_name(int kind);

struct opblob {
	uint8_t			*raw;		/* copy of the signed bytes */
	size_t			 raw_len;
	json_t			*root;		/* parsed object, owned */
	enum opblob_op		 op;
	char			 host_id[OPBLOB_HOST_MAX + 1];
	int			 has_guest;	/* 0: guest_id was null */
	int64_t			 guest_id;
	const json_t		*params;	/* borrowed from root */
	char			 nonce[OPBLOB_NONCE_MAX + 1];
	int64_t			 not_before;	/* unix seconds */
	int64_t			 not_after;
	enum opblob_rotate_kind	 rotate_kind;	/* rotate_signers only */
	int			 has_operational; /* params.operational given */
	int			 has_recovery;	/* params.recovery given */
	struct signers		*rotate_set;	/* the new keys, both roles */
};

/*
 * Parses the blob from data (len bytes; copied).  Caller frees *out with
 * opblob_free().  ERR_REJECTED/AUTHZ_BAD_BLOB, or ERR_NOMEM.
 */
int	opblob_parse(const void *data, size_t len, struct opblob **out,
	    struct err *err);
void	opblob_free(struct opblob *blob);

/*
 * Checks params for op as signed-ops.md's table says (also used for
 * operations that never came in a blob, e.g. a pending op's params).
 * rotate_set (may be NULL) receives the parsed KEYLINEs of
 * rotate_signers; *kind_out (may be NULL) its kind.  ERR_REJECTED /
 * AUTHZ_BAD_BLOB naming "params.<key>".
 */
int	opblob_check_params(enum opblob_op op, const json_t *params,
	    struct signers *rotate_set, enum opblob_rotate_kind *kind_out,
	    int *has_operational, int *has_recovery, struct err *err);

/* What opblob_make writes. */
struct opblob_spec {
	enum opblob_op	 op;
	const char	*host_id;
	int		 has_guest;	/* 0 writes "guest_id":null */
	int64_t		 guest_id;
	const json_t	*params;	/* NULL writes {} */
	const char	*nonce;		/* NULL: 32 fresh random bytes, hex */
	int64_t		 not_before;
	int64_t		 not_after;
};

/*
 * Writes the canonical blob: compact JSON, keys in the order schema,
 * op, host_id, guest_id, params, nonce, not_before, not_after; params
 * with sorted keys; no trailing newline.  The result is checked with
 * opblob_parse before it is returned.  Caller frees *out (NUL-terminated,
 * *len_out bytes without the NUL).  ERR_INVALID / ERR_REJECTED for a
 * spec that would not parse, ERR_CRYPTO when no randomness, ERR_NOMEM.
 */
int	opblob_make(const struct opblob_spec *spec, char **out,
	    size_t *len_out, struct err *err);

#endif
