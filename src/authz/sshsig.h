/*
 * sshsig — OpenSSH SSHSIG signatures (`ssh-keygen -Y sign`): armor and
 * blob parsing, pinned public keys, and verification through OpenSSL 3
 * EVP (R-10; shared/reference/sshsig.md).
 *
 * Two objects:
 *   struct sshsig_key  a pinned public key, parsed strictly and checked
 *                      once at load (EVP_PKEY_public_check, Ed25519
 *                      small-order blocklist, RSA >= 2048 bits); keeps
 *                      its EVP_PKEY so each verification is one EVP call.
 *   struct sshsig      a parsed signature: dearmored, every length
 *                      checked, version 1, hash sha256/sha512, the
 *                      embedded key of an allowed type and well formed.
 *
 * Failures that are verdicts return ERR_REJECTED with err->reason set to
 * an enum authz_code (authz/codes.h); resource failures return
 * ERR_NOMEM / ERR_CRYPTO.  The OpenSSL error queue is translated here
 * and cleared.
 */
#ifndef FELHOM_AUTHZ_SSHSIG_H
#define FELHOM_AUTHZ_SSHSIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum sshsig_keytype {
	SSHSIG_KT_ED25519,		/* ssh-ed25519 */
	SSHSIG_KT_ECDSA_P256,		/* ecdsa-sha2-nistp256 */
	SSHSIG_KT_ECDSA_P384,		/* ecdsa-sha2-nistp384 */
	SSHSIG_KT_ECDSA_P521,		/* ecdsa-sha2-nistp521 */
	SSHSIG_KT_RSA,			/* ssh-rsa (rsa-sha2-256/512 sigs) */
	SSHSIG_KT_SK_ED25519,		/* sk-ssh-ed25519@openssh.com */
	SSHSIG_KT_SK_ECDSA_P256,	/* sk-ecdsa-sha2-nistp256@openssh.com */
	SSHSIG_KT__COUNT
};

enum sshsig_hash {
	SSHSIG_HASH_SHA256,
	SSHSIG_HASH_SHA512,
	SSHSIG_HASH__COUNT
};

/* FIDO policy of a pinned sk key (sshsig.md §7, sshd's meaning). */
#define SSHSIG_POLICY_NO_TOUCH_REQUIRED	0x1	/* UP flag not required */
#define SSHSIG_POLICY_VERIFY_REQUIRED	0x2	/* UV flag required */

#define SSHSIG_SK_FLAG_UP	0x01	/* user presence (touch) */
#define SSHSIG_SK_FLAG_UV	0x04	/* user verification (PIN) */

/* Caps on untrusted input. */
#define SSHSIG_ARMOR_MAX	(64 * 1024)	/* armored signature file */
#define SSHSIG_KEYBLOB_MAX	(4 * 1024)	/* RSA 16384 is ~2 KiB */
#define SSHSIG_RSA_MIN_BITS	2048		/* sshsig.md §9 */
#define SSHSIG_RSA_MAX_BITS	16384		/* OpenSSH's bignum limit */

/* "SHA256:" + 43 base64 characters + NUL. */
#define SSHSIG_FP_LEN		51

/* Wire name ("ssh-ed25519"); "unknown" out of range. */
const char *sshsig_keytype_name(int kt);
/* What ssh-keygen prints ("ED25519", "ECDSA", "RSA", "ED25519-SK"...). */
const char *sshsig_keytype_label(int kt);
/* The key type of a wire name, or -1 when not in the allow-list. */
int	sshsig_keytype_from_name(const char *name, size_t len);
/* "sha256" / "sha512". */
const char *sshsig_hash_name(int hash);

struct sshsig_key;

/*
 * Parses a public key blob (the SSH wire form) strictly and runs the
 * load checks (sshsig.md §11 "Key loading").  The bytes are copied.
 * Caller frees *out with sshsig_key_free().  ERR_FORMAT for a malformed
 * key, ERR_UNSUPPORTED for a type outside the allow-list or a key that
 * fails a check (weak RSA, small-order Ed25519, invalid point), with a
 * message saying why.
 */
int	sshsig_key_from_blob(const uint8_t *blob, size_t len,
	    struct sshsig_key **out, struct err *err);

/*
 * As sshsig_key_from_blob, from the text of a .pub / allowed_signers
 * key: the type name (typelen bytes) and the base64 blob (b64len bytes).
 * The blob's type must equal the text type.
 */
int	sshsig_key_from_text(const char *type, size_t typelen, const char *b64,
	    size_t b64len, struct sshsig_key **out, struct err *err);

void	sshsig_key_free(struct sshsig_key *key);

/* Accessors; pointers are borrowed and live as long as the key. */
enum sshsig_keytype sshsig_key_type(const struct sshsig_key *key);
const char *sshsig_key_fingerprint(const struct sshsig_key *key);
const uint8_t *sshsig_key_blob(const struct sshsig_key *key, size_t *len);
unsigned sshsig_key_bits(const struct sshsig_key *key);
/* 1 when both keys are the same key (type and parameters). */
int	sshsig_key_equal(const struct sshsig_key *a,
	    const struct sshsig_key *b);

/*
 * Writes "SHA256:<base64 without padding>" of SHA-256(blob) into out
 * (>= SSHSIG_FP_LEN bytes), as ssh-keygen -l prints it.  Returns 0 or
 * ERR_CRYPTO.
 */
int	sshsig_fingerprint(const uint8_t *blob, size_t len, char *out,
	    size_t outlen);

struct sshsig;

/*
 * Dearmors and parses an armored signature (sshsig.md §2, §3; R-11
 * stage 1).  The input need not be NUL-terminated.  Rejections:
 * AUTHZ_BAD_ARMOR (header, footer, base64), AUTHZ_BAD_SSHSIG (magic,
 * version != 1, a length, trailing bytes, a malformed embedded key),
 * AUTHZ_BAD_HASH_ALG, AUTHZ_UNSUPPORTED_KEY_TYPE.  Caller frees *out
 * with sshsig_free().
 */
int	sshsig_parse(const char *armor, size_t len, struct sshsig **out,
	    struct err *err);

/* Parses an already dearmored blob the same way (tests, fuzzing). */
int	sshsig_parse_blob(const uint8_t *blob, size_t len,
	    struct sshsig **out, struct err *err);

void	sshsig_free(struct sshsig *sig);

/* Accessors; pointers are borrowed and live as long as sig. */
const uint8_t *sshsig_pubkey(const struct sshsig *sig, size_t *len);
enum sshsig_keytype sshsig_keytype(const struct sshsig *sig);
enum sshsig_hash sshsig_hash(const struct sshsig *sig);
const uint8_t *sshsig_namespace(const struct sshsig *sig, size_t *len);
/* Fingerprint of the embedded key into out (see sshsig_fingerprint). */
int	sshsig_sig_fingerprint(const struct sshsig *sig, char *out,
	    size_t outlen);

/*
 * Compares the signature's namespace with ns byte for byte and length
 * for length (a trailing NUL is a different namespace).  AUTHZ_BAD_NAMESPACE.
 */
int	sshsig_check_namespace(const struct sshsig *sig, const char *ns,
	    struct err *err);

/* Filled by sshsig_verify for sk keys. */
struct sshsig_sk_info {
	int		 is_sk;		/* 1 for a FIDO key */
	uint8_t		 flags;		/* signed authenticator flags */
	uint32_t	 counter;	/* signed counter (informational) */
};

/*
 * Verifies sig over the raw message bytes with the pinned key, the
 * signed data built from the expected namespace ns (sshsig.md §4, §11).
 * The embedded key must be `key` (byte-equal; the caller matched it).
 * For sk keys `policy` (SSHSIG_POLICY_*) decides the flags check, made
 * after the signature verified.  Rejections: AUTHZ_BAD_NAMESPACE,
 * AUTHZ_UNKNOWN_SIGNER (key differs), AUTHZ_BAD_SIGNATURE,
 * AUTHZ_USER_PRESENCE_REQUIRED.  info may be NULL.
 */
int	sshsig_verify(const struct sshsig *sig, const struct sshsig_key *key,
	    const char *ns, const void *msg, size_t msglen, unsigned policy,
	    struct sshsig_sk_info *info, struct err *err);

/*
 * Base64 helpers (standard alphabet).  sshsig_b64_decode is strict:
 * ASCII whitespace is skipped, any other non-alphabet byte, a missing
 * '=', data after the padding or non-zero pad bits fail with
 * ERR_FORMAT.  out must hold 3 * (len / 4) + 3 bytes.
 */
int	sshsig_b64_decode(const char *in, size_t len, uint8_t *out,
	    size_t outcap, size_t *outlen);

#endif
