/*
 * codes — the typed verdicts of the operator-signature pipeline
 * .  One code per stage; the names are what the audit log,
 * the report and `felhom-admin verify` print.  A rejection is returned
 * as ERR_REJECTED with struct err's `reason` set to one of these, so a
 * caller branches on err->reason, never on the message.
 */
#ifndef FELHOM_AUTHZ_CODES_H
#define FELHOM_AUTHZ_CODES_H

enum authz_code {
	AUTHZ_ACCEPTED = 0,		/* not a rejection */
	AUTHZ_BAD_ARMOR,		/* stage 1: armor / base64 */
	AUTHZ_BAD_SSHSIG,		/* stage 1: SSHSIG blob structure */
	AUTHZ_UNSUPPORTED_KEY_TYPE,	/* stage 1: key type not allowed */
	AUTHZ_BAD_HASH_ALG,		/* stage 1: not sha256 / sha512 */
	AUTHZ_BAD_NAMESPACE,		/* stage 2 */
	AUTHZ_UNKNOWN_SIGNER,		/* stage 3 */
	AUTHZ_BAD_SIGNATURE,		/* stage 4 */
	AUTHZ_USER_PRESENCE_REQUIRED,	/* stage 4: FIDO UP / UV flags */
	AUTHZ_BAD_BLOB,			/* stage 5: op blob */
	AUTHZ_WRONG_HOST,		/* stage 6 */
	AUTHZ_WRONG_GUEST,		/* stage 6 */
	AUTHZ_NOT_YET_VALID,		/* stage 7 */
	AUTHZ_EXPIRED,			/* stage 7 */
	AUTHZ_WINDOW_TOO_LONG,		/* stage 7 */
	AUTHZ_ROLE_DENIED,		/* stage 8 */
	AUTHZ_BINDING_MISMATCH,		/* stage 9 */
	AUTHZ_REPLAY,			/* stage 10: nonce, last */
	AUTHZ_REPLAY_FLOOR,		/* stage 10: signed before the
					   database's nonce floor */
	AUTHZ__COUNT
};

/* "accepted", "bad_armor", ...; "unknown" for an out-of-range value. */
const char *authz_code_name(int code);

/* The code named s, or -1. */
int	authz_code_from_name(const char *s);

#endif
