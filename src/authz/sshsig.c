/*
 * sshsig — OpenSSH SSHSIG parsing and verification over OpenSSL 3 EVP
 * (R-10, R-11 stages 1, 2 and 4; shared/reference/sshsig.md).
 *
 * All binary input goes through the buf_ reader.  Every field is
 * compared by length and bytes, never with strcmp, so a trailing NUL
 * makes a different name (sshsig.md §9).  No cryptography is written
 * here: keys are built with OSSL_PARAM / EVP_PKEY_fromdata and
 * signatures checked with EVP_DigestVerify, and only a result of
 * exactly 1 counts as valid.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "authz/codes.h"
#include "authz/sshsig.h"
#include "base/buf.h"
#include "base/err.h"

#define ARMOR_BEGIN	"-----BEGIN SSH SIGNATURE-----"
#define ARMOR_END	"\n-----END SSH SIGNATURE-----"
#define MAGIC		"SSHSIG"
#define MAGIC_LEN	6
#define NS_MAX		1024	/* longer namespaces are never expected */
#define NAME_MAX_LEN	128	/* key type / signature type names */
#define APP_MAX		1024	/* sk application string */
#define HASH_MAX_LEN	64	/* hash algorithm name */
#define DIGEST_MAX	64	/* SHA-512 */

struct kt_info {
	const char	*name;		/* wire name */
	const char	*label;		/* ssh-keygen's display name */
	const char	*curve;		/* SSH curve id, NULL if not EC */
	const char	*group;		/* OpenSSL group name */
	size_t		 qlen;		/* uncompressed point length */
	size_t		 order_len;	/* bytes of the group order */
	int		 is_sk;		/* FIDO key */
};

static const struct kt_info kt_table[SSHSIG_KT__COUNT] = {
	[SSHSIG_KT_ED25519] = { "ssh-ed25519", "ED25519", NULL, NULL,
	    0, 0, 0 },
	[SSHSIG_KT_ECDSA_P256] = { "ecdsa-sha2-nistp256", "ECDSA",
	    "nistp256", "prime256v1", 65, 32, 0 },
	[SSHSIG_KT_ECDSA_P384] = { "ecdsa-sha2-nistp384", "ECDSA",
	    "nistp384", "secp384r1", 97, 48, 0 },
	[SSHSIG_KT_ECDSA_P521] = { "ecdsa-sha2-nistp521", "ECDSA",
	    "nistp521", "secp521r1", 133, 66, 0 },
	[SSHSIG_KT_RSA] = { "ssh-rsa", "RSA", NULL, NULL, 0, 0, 0 },
	[SSHSIG_KT_SK_ED25519] = { "sk-ssh-ed25519@openssh.com",
	    "ED25519-SK", NULL, NULL, 0, 0, 1 },
	[SSHSIG_KT_SK_ECDSA_P256] = { "sk-ecdsa-sha2-nistp256@openssh.com",
	    "ECDSA-SK", "nistp256", "prime256v1", 65, 32, 1 },
};
_Static_assert(sizeof(kt_table) / sizeof(kt_table[0]) == SSHSIG_KT__COUNT,
    "kt_table must describe every key type");

static const char *const hash_names[SSHSIG_HASH__COUNT] = {
	[SSHSIG_HASH_SHA256] = "sha256",
	[SSHSIG_HASH_SHA512] = "sha512",
};
_Static_assert(sizeof(hash_names) / sizeof(hash_names[0]) ==
    SSHSIG_HASH__COUNT, "hash_names must name every hash");

/*
 * Ed25519 small-order points and non-canonical encodings of 0 and 1,
 * compared with the x sign bit cleared (sshsig.md §6.1, libsodium's
 * blocklist).
 */
static const uint8_t ed25519_blocklist[7][32] = {
	{ 0 },
	{ 0x01 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
	  0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
	  0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
	  0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
	  0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

struct sshsig_key {
	enum sshsig_keytype	 type;
	EVP_PKEY		*pkey;		/* built once at load */
	unsigned		 bits;		/* key size */
	uint8_t			 apphash[32];	/* SHA-256(application), sk */
	char			 fp[SSHSIG_FP_LEN];
	size_t			 bloblen;
	uint8_t			 blob[];	/* exact wire bytes */
};

struct sshsig {
	uint32_t		 version;
	enum sshsig_keytype	 keytype;	/* of the embedded key */
	enum sshsig_hash	 hash;
	const uint8_t		*pk;		/* embedded key blob */
	size_t			 pklen;
	const uint8_t		*ns;		/* namespace */
	size_t			 nslen;
	const uint8_t		*sig;		/* signature blob */
	size_t			 siglen;
	size_t			 bloblen;
	uint8_t			 blob[];	/* decoded SSHSIG bytes */
};

/* The parts of a public key blob, borrowed from it. */
struct keyparts {
	enum sshsig_keytype	 type;
	const uint8_t		*pk;	/* Ed25519 key or EC point */
	size_t			 pklen;
	const uint8_t		*e, *n;	/* RSA, minimal magnitudes */
	size_t			 elen, nlen;
	const uint8_t		*app;	/* sk application */
	size_t			 applen;
};

const char *
sshsig_keytype_name(int kt)
{
	if (kt < 0 || kt >= SSHSIG_KT__COUNT)
		return "unknown";
	return kt_table[kt].name;
}

const char *
sshsig_keytype_label(int kt)
{
	if (kt < 0 || kt >= SSHSIG_KT__COUNT)
		return "UNKNOWN";
	return kt_table[kt].label;
}

int
sshsig_keytype_from_name(const char *name, size_t len)
{
	int i;

	for (i = 0; i < SSHSIG_KT__COUNT; i++)
		if (strlen(kt_table[i].name) == len &&
		    memcmp(kt_table[i].name, name, len) == 0)
			return i;
	return -1;
}

const char *
sshsig_hash_name(int hash)
{
	if (hash < 0 || hash >= SSHSIG_HASH__COUNT)
		return "unknown";
	return hash_names[hash];
}

/* Translates and clears the OpenSSL error queue (the one place). */
static int
ossl_err(struct err *err, int code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		(void) snprintf(buf, sizeof(buf), "no detail");
	ERR_clear_error();
	return err_set(err, code, "%s: %s", what, buf);
}

/* Printable copy of untrusted bytes for messages. */
static const char *
esc(char *out, size_t n, const uint8_t *p, size_t len)
{
	err_escape(out, n, (const char *)p, len);
	return out;
}

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

int
sshsig_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
    size_t *outlen)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int state = 0, v;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (is_space(c))
			continue;
		if (c == '=')
			break;
		if ((v = b64val(c)) < 0)
			return ERR_FORMAT;
		acc = acc << 6 | (uint32_t)v;
		if (++state == 4) {
			if (outcap - o < 3)
				return ERR_TOO_LARGE;
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
			state = 0;
		}
	}
	if (i == len) {
		if (state != 0)
			return ERR_FORMAT;	/* padding required */
		*outlen = o;
		return 0;
	}
	/* At the first '=': b64_pton's rules for the final quantum. */
	switch (state) {
	case 2:
		if ((acc & 0xf) != 0 || outcap - o < 1)
			return (acc & 0xf) != 0 ? ERR_FORMAT : ERR_TOO_LARGE;
		out[o++] = (uint8_t)(acc >> 4);
		for (i++; i < len && is_space((unsigned char)in[i]); i++)
			;
		if (i == len || in[i] != '=')
			return ERR_FORMAT;
		break;
	case 3:
		if ((acc & 0x3) != 0 || outcap - o < 2)
			return (acc & 0x3) != 0 ? ERR_FORMAT : ERR_TOO_LARGE;
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
		break;
	default:
		return ERR_FORMAT;
	}
	for (i++; i < len; i++)
		if (!is_space((unsigned char)in[i]))
			return ERR_FORMAT;
	*outlen = o;
	return 0;
}

int
sshsig_fingerprint(const uint8_t *blob, size_t len, char *out,
    size_t outlen)
{
	uint8_t md[32];
	unsigned char b64[48];
	unsigned int mdlen = 0;
	int n;

	if (outlen < SSHSIG_FP_LEN)
		return ERR_INVALID;
	if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		ERR_clear_error();
		return ERR_CRYPTO;
	}
	n = EVP_EncodeBlock(b64, md, (int)sizeof(md));
	while (n > 0 && b64[n - 1] == '=')
		n--;
	(void) snprintf(out, outlen, "SHA256:%.*s", n, (const char *)b64);
	return 0;
}

/*
 * A strict mpint (RFC 4251 §5): non-empty, positive, minimal.  *out
 * points at the magnitude without the sign byte.
 */
static int
get_mpint(struct buf_reader *r, size_t maxbytes, const uint8_t **out,
    size_t *outlen, const char *what, struct err *err)
{
	struct buf_reader save = *r;
	const uint8_t *p;
	size_t n;
	int rc;

	if ((rc = buf_get_string_direct(r, maxbytes + 1, &p, &n)) != 0)
		return err_set(err, ERR_FORMAT, "%s: %s", what,
		    rc == ERR_TOO_LARGE ? "too large" : "truncated");
	if (n == 0)
		rc = err_set(err, ERR_FORMAT, "%s: zero", what);
	else if (p[0] & 0x80)
		rc = err_set(err, ERR_FORMAT, "%s: negative", what);
	else if (p[0] == 0 && (n == 1 || (p[1] & 0x80) == 0))
		rc = err_set(err, ERR_FORMAT, "%s: non-minimal encoding "
		    "(leading zero byte)", what);
	if (rc != 0) {
		*r = save;
		return rc;
	}
	if (p[0] == 0) {
		p++;
		n--;
	}
	if (n > maxbytes) {
		*r = save;
		return err_set(err, ERR_FORMAT, "%s: too large", what);
	}
	*out = p;
	*outlen = n;
	return 0;
}

/* Refusal message for a key type outside the allow-list. */
static int
refuse_type(const uint8_t *name, size_t len, struct err *err)
{
	static const char cert[] = "-cert-v01@openssh.com";
	char e[160];

	(void) esc(e, sizeof(e), name, len);
	if (len > sizeof(cert) - 1 && memcmp(name + len - (sizeof(cert) - 1),
	    cert, sizeof(cert) - 1) == 0)
		return err_set(err, ERR_UNSUPPORTED, "key type %s: "
		    "certificates are not supported, pin the plain key", e);
	if (len == 7 && memcmp(name, "ssh-dss", 7) == 0)
		return err_set(err, ERR_UNSUPPORTED, "key type ssh-dss: DSA "
		    "keys are not supported");
	return err_set(err, ERR_UNSUPPORTED, "key type '%s' is not "
	    "supported (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa, "
	    "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com)",
	    e);
}

/*
 * Structural parse of a public key blob (sshsig.md §6): type in the
 * allow-list, curve id matching the type, uncompressed points of exact
 * length, minimal RSA mpints, no trailing bytes.  ERR_UNSUPPORTED for
 * the type, ERR_FORMAT otherwise.
 */
static int
key_parse(const uint8_t *blob, size_t len, struct keyparts *kp,
    struct err *err)
{
	const struct kt_info *ki;
	struct buf_reader r;
	const uint8_t *name, *curve;
	size_t namelen, curvelen;
	int kt, rc;

	memset(kp, 0, sizeof(*kp));
	buf_reader_init(&r, blob, len);
	if (buf_get_string_direct(&r, NAME_MAX_LEN, &name, &namelen) != 0)
		return err_set(err, ERR_FORMAT, "public key: bad type name");
	if ((kt = sshsig_keytype_from_name((const char *)name, namelen)) < 0)
		return refuse_type(name, namelen, err);
	kp->type = (enum sshsig_keytype)kt;
	ki = &kt_table[kt];
	if (ki->curve != NULL) {
		if (buf_get_string_direct(&r, NAME_MAX_LEN, &curve,
		    &curvelen) != 0)
			return err_set(err, ERR_FORMAT, "%s key: truncated "
			    "curve name", ki->name);
		if (curvelen != strlen(ki->curve) ||
		    memcmp(curve, ki->curve, curvelen) != 0) {
			char e[160];

			return err_set(err, ERR_FORMAT, "%s key: curve '%s' "
			    "does not match the key type", ki->name,
			    esc(e, sizeof(e), curve, curvelen));
		}
		if (buf_get_string_direct(&r, ki->qlen, &kp->pk,
		    &kp->pklen) != 0 || kp->pklen != ki->qlen)
			return err_set(err, ERR_FORMAT, "%s key: point must "
			    "be %zu bytes (uncompressed)", ki->name, ki->qlen);
		if (kp->pk[0] != 0x04)
			return err_set(err, ERR_FORMAT, "%s key: point is not "
			    "in uncompressed form", ki->name);
	} else if (kp->type == SSHSIG_KT_RSA) {
		if ((rc = get_mpint(&r, SSHSIG_RSA_MAX_BITS / 8, &kp->e,
		    &kp->elen, "ssh-rsa key: e", err)) != 0 ||
		    (rc = get_mpint(&r, SSHSIG_RSA_MAX_BITS / 8, &kp->n,
		    &kp->nlen, "ssh-rsa key: n", err)) != 0)
			return rc;
	} else {
		if (buf_get_string_direct(&r, 32, &kp->pk, &kp->pklen) != 0 ||
		    kp->pklen != 32)
			return err_set(err, ERR_FORMAT, "%s key: public key "
			    "must be 32 bytes", ki->name);
	}
	if (ki->is_sk) {
		if (buf_get_string_direct(&r, APP_MAX, &kp->app,
		    &kp->applen) != 0)
			return err_set(err, ERR_FORMAT, "%s key: bad "
			    "application string", ki->name);
		if (kp->applen > 0 && memchr(kp->app, '\0', kp->applen))
			return err_set(err, ERR_FORMAT, "%s key: NUL in the "
			    "application string", ki->name);
	}
	if (buf_end(&r) != 0)
		return err_set(err, ERR_FORMAT, "%s key: %zu trailing bytes",
		    ki->name, buf_remaining(&r));
	return 0;
}

static int
pkey_check(EVP_PKEY *pkey, const char *what, struct err *err)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		return ossl_err(err, ERR_NOMEM, what);
	ok = EVP_PKEY_public_check(ctx);
	EVP_PKEY_CTX_free(ctx);
	if (ok != 1) {
		ERR_clear_error();
		return err_set(err, ERR_UNSUPPORTED, "%s: public key check "
		    "failed (invalid or weak key)", what);
	}
	return 0;
}

static int
pkey_fromdata(const char *alg, OSSL_PARAM_BLD *bld, EVP_PKEY **out,
    const char *what, struct err *err)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int rc;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL)) == NULL) {
		rc = ossl_err(err, ERR_NOMEM, what);
		goto out;
	}
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		rc = err_set(err, ERR_UNSUPPORTED, "%s: OpenSSL refused the "
		    "key parameters", what);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

static int
pkey_ec(const struct kt_info *ki, const struct keyparts *kp, EVP_PKEY **out,
    struct err *err)
{
	OSSL_PARAM_BLD *bld;
	int rc;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return ossl_err(err, ERR_NOMEM, ki->name);
	if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    ki->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    kp->pk, kp->pklen) != 1)
		rc = ossl_err(err, ERR_NOMEM, ki->name);
	else
		rc = pkey_fromdata("EC", bld, out, ki->name, err);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

static int
pkey_rsa(const struct keyparts *kp, EVP_PKEY **out, struct err *err)
{
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int rc;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    (n = BN_bin2bn(kp->n, (int)kp->nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(kp->e, (int)kp->elen, NULL)) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		rc = ossl_err(err, ERR_NOMEM, "ssh-rsa");
		goto out;
	}
	/* sshsig.md §6.3: e odd and >= 3 (public_check also wants it). */
	if (!BN_is_odd(e) || BN_num_bits(e) < 2) {
		rc = err_set(err, ERR_UNSUPPORTED, "ssh-rsa key: public "
		    "exponent must be odd and at least 3");
		goto out;
	}
	rc = pkey_fromdata("RSA", bld, out, "ssh-rsa key", err);
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

static int
pkey_ed25519(const struct kt_info *ki, const uint8_t *pk, EVP_PKEY **out,
    struct err *err)
{
	uint8_t y[32];
	size_t i;

	/* sshsig.md §6.1: OpenSSL's public check lets these through. */
	memcpy(y, pk, sizeof(y));
	y[31] &= 0x7f;
	for (i = 0; i < sizeof(ed25519_blocklist) /
	    sizeof(ed25519_blocklist[0]); i++)
		if (memcmp(y, ed25519_blocklist[i], sizeof(y)) == 0)
			return err_set(err, ERR_UNSUPPORTED, "%s key: "
			    "small-order or non-canonical point refused",
			    ki->name);
	if ((*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    32)) == NULL)
		return ossl_err(err, ERR_UNSUPPORTED, ki->name);
	return 0;
}

int
sshsig_key_from_blob(const uint8_t *blob, size_t len,
    struct sshsig_key **out, struct err *err)
{
	struct sshsig_key *key = NULL;
	const struct kt_info *ki;
	struct keyparts kp;
	EVP_PKEY *pkey = NULL;
	unsigned int hl = 0;
	int rc, bits;

	if (len > SSHSIG_KEYBLOB_MAX)
		return err_set(err, ERR_FORMAT, "public key: %zu bytes, over "
		    "the limit of %d", len, SSHSIG_KEYBLOB_MAX);
	if ((rc = key_parse(blob, len, &kp, err)) != 0)
		return rc;
	ki = &kt_table[kp.type];
	switch (kp.type) {
	case SSHSIG_KT_ED25519:
	case SSHSIG_KT_SK_ED25519:
		rc = pkey_ed25519(ki, kp.pk, &pkey, err);
		break;
	case SSHSIG_KT_RSA:
		rc = pkey_rsa(&kp, &pkey, err);
		break;
	default:
		rc = pkey_ec(ki, &kp, &pkey, err);
		break;
	}
	if (rc != 0)
		goto out;
	if ((rc = pkey_check(pkey, ki->name, err)) != 0)
		goto out;
	bits = EVP_PKEY_get_bits(pkey);
	if (kp.type == SSHSIG_KT_RSA && (bits < SSHSIG_RSA_MIN_BITS ||
	    bits > SSHSIG_RSA_MAX_BITS)) {
		rc = err_set(err, ERR_UNSUPPORTED, "ssh-rsa key of %d bits: "
		    "felhom requires %d to %d bits", bits, SSHSIG_RSA_MIN_BITS,
		    SSHSIG_RSA_MAX_BITS);
		goto out;
	}
	if ((key = calloc(1, sizeof(*key) + len)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "public key: out of memory");
		goto out;
	}
	key->type = kp.type;
	key->bits = bits > 0 ? (unsigned)bits : 0;
	key->bloblen = len;
	memcpy(key->blob, blob, len);
	if (ki->is_sk && EVP_Digest(kp.app, kp.applen, key->apphash, &hl,
	    EVP_sha256(), NULL) != 1) {
		rc = ossl_err(err, ERR_CRYPTO, "sha256");
		goto out;
	}
	if ((rc = sshsig_fingerprint(blob, len, key->fp, sizeof(key->fp))) !=
	    0) {
		rc = err_set(err, rc, "public key: fingerprint failed");
		goto out;
	}
	key->pkey = pkey;
	pkey = NULL;
	*out = key;
	key = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	sshsig_key_free(key);
	return rc;
}

int
sshsig_key_from_text(const char *type, size_t typelen, const char *b64,
    size_t b64len, struct sshsig_key **out, struct err *err)
{
	struct buf_reader r;
	const uint8_t *name;
	uint8_t *blob = NULL;
	size_t cap, len = 0, namelen;
	int rc;

	if (b64len > SSHSIG_KEYBLOB_MAX * 2)
		return err_set(err, ERR_FORMAT, "public key: base64 text of "
		    "%zu bytes is too long", b64len);
	cap = 3 * (b64len / 4) + 3;
	if ((blob = malloc(cap)) == NULL)
		return err_set(err, ERR_NOMEM, "public key: out of memory");
	if (sshsig_b64_decode(b64, b64len, blob, cap, &len) != 0) {
		rc = err_set(err, ERR_FORMAT, "public key: invalid base64");
		goto out;
	}
	buf_reader_init(&r, blob, len);
	if (buf_get_string_direct(&r, NAME_MAX_LEN, &name, &namelen) != 0) {
		rc = err_set(err, ERR_FORMAT, "public key: bad key blob");
		goto out;
	}
	if (namelen != typelen || memcmp(name, type, typelen) != 0) {
		char e1[160], e2[160];

		rc = err_set(err, ERR_FORMAT, "key type '%s' does not match "
		    "the key blob's type '%s'",
		    esc(e1, sizeof(e1), (const uint8_t *)type, typelen),
		    esc(e2, sizeof(e2), name, namelen));
		goto out;
	}
	rc = sshsig_key_from_blob(blob, len, out, err);
out:
	free(blob);
	return rc;
}

void
sshsig_key_free(struct sshsig_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	explicit_bzero(key, sizeof(*key) + key->bloblen);
	free(key);
}

enum sshsig_keytype
sshsig_key_type(const struct sshsig_key *key)
{
	return key->type;
}

const char *
sshsig_key_fingerprint(const struct sshsig_key *key)
{
	return key->fp;
}

const uint8_t *
sshsig_key_blob(const struct sshsig_key *key, size_t *len)
{
	*len = key->bloblen;
	return key->blob;
}

unsigned
sshsig_key_bits(const struct sshsig_key *key)
{
	return key->bits;
}

int
sshsig_key_equal(const struct sshsig_key *a, const struct sshsig_key *b)
{
	/* Strictly parsed blobs are canonical: equal bytes, equal keys. */
	return a->bloblen == b->bloblen &&
	    memcmp(a->blob, b->blob, a->bloblen) == 0;
}

static int
reject(struct err *err, enum authz_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
reject(struct err *err, enum authz_code code, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_setr(err, ERR_REJECTED, (int)code, 0, "%s", msg);
}

/* R-11 stage 1 on the decoded bytes held by sig. */
static int
parse_blob(struct sshsig *sig, struct err *err)
{
	struct buf_reader r;
	struct keyparts kp;
	struct err kerr;
	const uint8_t *hash, *reserved;
	size_t hashlen, reservedlen;
	int rc;

	buf_reader_init(&r, sig->blob, sig->bloblen);
	if ((rc = buf_expect(&r, MAGIC, MAGIC_LEN)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "not an SSHSIG blob: "
		    "%s", rc == ERR_TRUNCATED ? "too short" :
		    "bad magic preamble");
	if (buf_get_u32(&r, &sig->version) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG blob truncated "
		    "at the version");
	/* sshsig.md §3: OpenSSH also takes 0; felhom requires exactly 1. */
	if (sig->version != 1)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG version %u is "
		    "not supported (only 1)", sig->version);
	if ((rc = buf_get_string_direct(&r, SSHSIG_KEYBLOB_MAX, &sig->pk,
	    &sig->pklen)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG publickey: %s",
		    rc == ERR_TOO_LARGE ? "length too large" : "truncated");
	if ((rc = buf_get_string_direct(&r, NS_MAX, &sig->ns,
	    &sig->nslen)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG namespace: %s",
		    rc == ERR_TOO_LARGE ? "length too large" : "truncated");
	if ((rc = buf_get_string_direct(&r, SSHSIG_ARMOR_MAX, &reserved,
	    &reservedlen)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG reserved: %s",
		    rc == ERR_TOO_LARGE ? "length too large" : "truncated");
	if ((rc = buf_get_string_direct(&r, HASH_MAX_LEN, &hash,
	    &hashlen)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG hash_algorithm: "
		    "%s", rc == ERR_TOO_LARGE ? "length too large" :
		    "truncated");
	if ((rc = buf_get_string_direct(&r, SSHSIG_KEYBLOB_MAX, &sig->sig,
	    &sig->siglen)) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG signature: %s",
		    rc == ERR_TOO_LARGE ? "length too large" : "truncated");
	if (buf_end(&r) != 0)
		return reject(err, AUTHZ_BAD_SSHSIG, "%zu trailing bytes after "
		    "the SSHSIG signature", buf_remaining(&r));
	err_init(&kerr);
	if ((rc = key_parse(sig->pk, sig->pklen, &kp, &kerr)) != 0)
		return reject(err, rc == ERR_UNSUPPORTED ?
		    AUTHZ_UNSUPPORTED_KEY_TYPE : AUTHZ_BAD_SSHSIG,
		    "embedded %s", kerr.msg);
	sig->keytype = kp.type;
	/* The reserved field is not signed and is ignored (§9). */
	if (hashlen == 6 && memcmp(hash, "sha256", 6) == 0)
		sig->hash = SSHSIG_HASH_SHA256;
	else if (hashlen == 6 && memcmp(hash, "sha512", 6) == 0)
		sig->hash = SSHSIG_HASH_SHA512;
	else {
		char e[160];

		return reject(err, AUTHZ_BAD_HASH_ALG, "hash algorithm '%s' "
		    "is not supported (sha256 or sha512)",
		    esc(e, sizeof(e), hash, hashlen));
	}
	return 0;
}

int
sshsig_parse_blob(const uint8_t *blob, size_t len, struct sshsig **out,
    struct err *err)
{
	struct sshsig *sig;
	int rc;

	if (len > SSHSIG_ARMOR_MAX)
		return reject(err, AUTHZ_BAD_SSHSIG, "SSHSIG blob of %zu "
		    "bytes is too large", len);
	if ((sig = calloc(1, sizeof(*sig) + len)) == NULL)
		return err_set(err, ERR_NOMEM, "signature: out of memory");
	if (len > 0)
		memcpy(sig->blob, blob, len);
	sig->bloblen = len;
	if ((rc = parse_blob(sig, err)) != 0) {
		sshsig_free(sig);
		return rc;
	}
	*out = sig;
	return 0;
}

int
sshsig_parse(const char *armor, size_t len, struct sshsig **out,
    struct err *err)
{
	const size_t blen = sizeof(ARMOR_BEGIN) - 1;
	const char *body, *end;
	struct sshsig *sig = NULL;
	size_t nl, bodylen, cap;
	int rc;

	if (len > SSHSIG_ARMOR_MAX)
		return reject(err, AUTHZ_BAD_ARMOR, "signature file of %zu "
		    "bytes is over the limit of %d", len, SSHSIG_ARMOR_MAX);
	/* sshsig.md §2: header at byte 0, then LF or CRLF. */
	if (len < blen || memcmp(armor, ARMOR_BEGIN, blen) != 0)
		return reject(err, AUTHZ_BAD_ARMOR, "signature does not start "
		    "with '" ARMOR_BEGIN "'");
	if (len > blen && armor[blen] == '\n')
		nl = blen;
	else if (len > blen + 1 && armor[blen] == '\r' &&
	    armor[blen + 1] == '\n')
		nl = blen + 1;
	else
		return reject(err, AUTHZ_BAD_ARMOR, "no line break after the "
		    "BEGIN line");
	end = memmem(armor + nl, len - nl, ARMOR_END, sizeof(ARMOR_END) - 1);
	if (end == NULL)
		return reject(err, AUTHZ_BAD_ARMOR, "missing '-----END SSH "
		    "SIGNATURE-----' line");
	body = armor + nl + 1;
	bodylen = end < body ? 0 : (size_t)(end - body);
	if (bodylen > 0 && memchr(body, '\0', bodylen) != NULL)
		return reject(err, AUTHZ_BAD_ARMOR, "NUL byte in the "
		    "signature body");
	cap = 3 * (bodylen / 4) + 3;
	if ((sig = calloc(1, sizeof(*sig) + cap)) == NULL)
		return err_set(err, ERR_NOMEM, "signature: out of memory");
	if (sshsig_b64_decode(body, bodylen, sig->blob, cap,
	    &sig->bloblen) != 0) {
		rc = reject(err, AUTHZ_BAD_ARMOR, "invalid base64 in the "
		    "signature body");
		goto out;
	}
	if (sig->bloblen == 0) {
		rc = reject(err, AUTHZ_BAD_ARMOR, "empty signature body");
		goto out;
	}
	if ((rc = parse_blob(sig, err)) != 0)
		goto out;
	*out = sig;
	sig = NULL;
out:
	sshsig_free(sig);
	return rc;
}

void
sshsig_free(struct sshsig *sig)
{
	if (sig == NULL)
		return;
	explicit_bzero(sig->blob, sig->bloblen);
	free(sig);
}

const uint8_t *
sshsig_pubkey(const struct sshsig *sig, size_t *len)
{
	*len = sig->pklen;
	return sig->pk;
}

enum sshsig_keytype
sshsig_keytype(const struct sshsig *sig)
{
	return sig->keytype;
}

enum sshsig_hash
sshsig_hash(const struct sshsig *sig)
{
	return sig->hash;
}

const uint8_t *
sshsig_namespace(const struct sshsig *sig, size_t *len)
{
	*len = sig->nslen;
	return sig->ns;
}

int
sshsig_sig_fingerprint(const struct sshsig *sig, char *out, size_t outlen)
{
	return sshsig_fingerprint(sig->pk, sig->pklen, out, outlen);
}

int
sshsig_check_namespace(const struct sshsig *sig, const char *ns,
    struct err *err)
{
	size_t n = strlen(ns);
	char e1[160], e2[160];

	/* exact bytes and length; never strcmp (sshsig.md §12). */
	if (sig->nslen == n && memcmp(sig->ns, ns, n) == 0)
		return 0;
	return reject(err, AUTHZ_BAD_NAMESPACE, "signature namespace '%s' "
	    "is not '%s'", esc(e1, sizeof(e1), sig->ns, sig->nslen),
	    esc(e2, sizeof(e2), (const uint8_t *)ns, n));
}

/* EVP_DigestVerify; *ok = 1 only for a result of exactly 1. */
static int
evp_verify(EVP_PKEY *pkey, const EVP_MD *md, const uint8_t *sig,
    size_t siglen, const uint8_t *data, size_t datalen, int *ok,
    struct err *err)
{
	EVP_MD_CTX *ctx;
	int rc = 0;

	*ok = 0;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return err_set(err, ERR_NOMEM, "verify: out of memory");
	if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, pkey) != 1)
		rc = ossl_err(err, ERR_CRYPTO, "EVP_DigestVerifyInit");
	else
		*ok = EVP_DigestVerify(ctx, sig, siglen, data, datalen) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ECDSA (r, s) as two strict mpints in a nested string, then DER. */
static int
ecdsa_der(struct buf_reader *r, size_t order_len, uint8_t **der,
    size_t *derlen, const char *name, struct err *err)
{
	struct buf_reader in;
	const uint8_t *rp, *sp;
	size_t rl, sl;
	ECDSA_SIG *esig = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *p = NULL;
	struct err merr;
	int n, rc;

	err_init(&merr);
	if (buf_get_string_reader(r, 2 * order_len + 16, &in) != 0)
		return reject(err, AUTHZ_BAD_SIGNATURE, "%s signature: bad "
		    "(r, s) string", name);
	if (get_mpint(&in, order_len, &rp, &rl, "r", &merr) != 0 ||
	    get_mpint(&in, order_len, &sp, &sl, "s", &merr) != 0)
		return reject(err, AUTHZ_BAD_SIGNATURE, "%s signature: %s",
		    name, merr.msg);
	if (buf_end(&in) != 0)
		return reject(err, AUTHZ_BAD_SIGNATURE, "%s signature: "
		    "trailing bytes after (r, s)", name);
	if ((esig = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(rp, (int)rl, NULL)) == NULL ||
	    (bs = BN_bin2bn(sp, (int)sl, NULL)) == NULL) {
		rc = ossl_err(err, ERR_NOMEM, "ECDSA_SIG");
		goto out;
	}
	if (ECDSA_SIG_set0(esig, br, bs) != 1) {
		rc = ossl_err(err, ERR_CRYPTO, "ECDSA_SIG_set0");
		goto out;
	}
	br = bs = NULL;
	if ((n = i2d_ECDSA_SIG(esig, &p)) <= 0) {
		rc = ossl_err(err, ERR_CRYPTO, "i2d_ECDSA_SIG");
		goto out;
	}
	*der = p;
	*derlen = (size_t)n;
	p = NULL;
	rc = 0;
out:
	OPENSSL_free(p);
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(esig);
	return rc;
}

static const EVP_MD *
ecdsa_md(enum sshsig_keytype kt)
{
	switch (kt) {
	case SSHSIG_KT_ECDSA_P384:
		return EVP_sha384();
	case SSHSIG_KT_ECDSA_P521:
		return EVP_sha512();
	default:
		return EVP_sha256();
	}
}

/* Reads the signature type name and compares it with the expected one. */
static int
sig_type(struct buf_reader *r, const struct kt_info *ki, int *rsa256,
    struct err *err)
{
	const uint8_t *name;
	size_t len;
	char e[160];

	if (buf_get_string_direct(r, NAME_MAX_LEN, &name, &len) != 0)
		return reject(err, AUTHZ_BAD_SIGNATURE, "signature blob: bad "
		    "type name");
	(void) esc(e, sizeof(e), name, len);
	if (rsa256 != NULL) {
		/* sshsig.c RSA_SIGN_ALLOWED; SHA-1 refused. */
		if (len == 12 && memcmp(name, "rsa-sha2-512", 12) == 0) {
			*rsa256 = 0;
			return 0;
		}
		if (len == 12 && memcmp(name, "rsa-sha2-256", 12) == 0) {
			*rsa256 = 1;
			return 0;
		}
		if (len == 7 && memcmp(name, "ssh-rsa", 7) == 0)
			return reject(err, AUTHZ_BAD_SIGNATURE, "SHA-1 "
			    "'ssh-rsa' signatures are refused (use "
			    "rsa-sha2-256 or rsa-sha2-512)");
		return reject(err, AUTHZ_BAD_SIGNATURE, "signature type '%s' "
		    "does not match an ssh-rsa key", e);
	}
	if (len == strlen(ki->name) && memcmp(name, ki->name, len) == 0)
		return 0;
	if (len > 9 && memcmp(name, "webauthn-", 9) == 0)
		return reject(err, AUTHZ_BAD_SIGNATURE, "webauthn signatures "
		    "('%s') are not supported", e);
	return reject(err, AUTHZ_BAD_SIGNATURE, "signature type '%s' does not "
	    "match the %s key", e, ki->name);
}

int
sshsig_verify(const struct sshsig *sig, const struct sshsig_key *key,
    const char *ns, const void *msg, size_t msglen, unsigned policy,
    struct sshsig_sk_info *info, struct err *err)
{
	const struct kt_info *ki = &kt_table[key->type];
	const EVP_MD *hmd, *md = NULL;
	uint8_t h[DIGEST_MAX], signed_[6 + 4 + NS_MAX + 4 + 4 + 6 + 4 +
	    DIGEST_MAX], skdata[32 + 1 + 4 + 32], pad[SSHSIG_RSA_MAX_BITS / 8];
	uint8_t *der = NULL, flags = 0;
	const uint8_t *sigp = NULL, *data;
	struct buf_reader r;
	size_t nslen = strlen(ns), hlen, slen, siglen = 0, datalen, k;
	unsigned int mdlen = 0;
	uint32_t counter = 0;
	int rc, ok = 0, rsa256 = 0;

	if (sig->keytype != key->type || sig->pklen != key->bloblen ||
	    memcmp(sig->pk, key->blob, key->bloblen) != 0)
		return reject(err, AUTHZ_UNKNOWN_SIGNER, "the signature was "
		    "not made by key %s", key->fp);
	if ((rc = sshsig_check_namespace(sig, ns, err)) != 0)
		return rc;

	/* sshsig.md §4: H(message), then the signed bytes. */
	hmd = sig->hash == SSHSIG_HASH_SHA256 ? EVP_sha256() : EVP_sha512();
	if (EVP_Digest(msg, msglen, h, &mdlen, hmd, NULL) != 1)
		return ossl_err(err, ERR_CRYPTO, "message digest");
	hlen = mdlen;
	slen = 0;
	memcpy(signed_, MAGIC, MAGIC_LEN);
	slen += MAGIC_LEN;
#define PUT32(v) do {							\
	signed_[slen++] = (uint8_t)((v) >> 24);				\
	signed_[slen++] = (uint8_t)((v) >> 16);				\
	signed_[slen++] = (uint8_t)((v) >> 8);				\
	signed_[slen++] = (uint8_t)(v);					\
} while (0)
	PUT32(nslen);
	memcpy(signed_ + slen, ns, nslen);
	slen += nslen;
	PUT32(0u);
	PUT32(6u);
	memcpy(signed_ + slen, hash_names[sig->hash], 6);
	slen += 6;
	PUT32(hlen);
	memcpy(signed_ + slen, h, hlen);
	slen += hlen;
#undef PUT32

	buf_reader_init(&r, sig->sig, sig->siglen);
	if ((rc = sig_type(&r, ki, key->type == SSHSIG_KT_RSA ? &rsa256 :
	    NULL, err)) != 0)
		goto out;
	switch (key->type) {
	case SSHSIG_KT_ED25519:
	case SSHSIG_KT_SK_ED25519:
		if (buf_get_string_direct(&r, 64, &sigp, &siglen) != 0 ||
		    siglen != 64) {
			rc = reject(err, AUTHZ_BAD_SIGNATURE, "%s signature "
			    "must be 64 bytes", ki->name);
			goto out;
		}
		break;
	case SSHSIG_KT_RSA:
		k = (size_t)EVP_PKEY_get_size(key->pkey);
		if (buf_get_string_direct(&r, k, &sigp, &siglen) != 0 ||
		    siglen == 0) {
			rc = reject(err, AUTHZ_BAD_SIGNATURE, "RSA signature "
			    "is empty or longer than the %zu-byte modulus", k);
			goto out;
		}
		/* sshsig.md §6.3: left-pad a short signature as OpenSSH. */
		if (siglen < k) {
			memset(pad, 0, k - siglen);
			memcpy(pad + (k - siglen), sigp, siglen);
			sigp = pad;
			siglen = k;
		}
		md = rsa256 ? EVP_sha256() : EVP_sha512();
		break;
	default:
		if ((rc = ecdsa_der(&r, ki->order_len, &der, &siglen,
		    ki->name, err)) != 0)
			goto out;
		sigp = der;
		md = ecdsa_md(key->type);
		break;
	}
	data = signed_;
	datalen = slen;
	if (ki->is_sk) {
		/* sshsig.md §6.4/6.5: app hash, flags, counter, H(signed). */
		if (buf_get_u8(&r, &flags) != 0 ||
		    buf_get_u32(&r, &counter) != 0) {
			rc = reject(err, AUTHZ_BAD_SIGNATURE, "%s signature: "
			    "truncated flags or counter", ki->name);
			goto out;
		}
		memcpy(skdata, key->apphash, 32);
		skdata[32] = flags;
		skdata[33] = (uint8_t)(counter >> 24);
		skdata[34] = (uint8_t)(counter >> 16);
		skdata[35] = (uint8_t)(counter >> 8);
		skdata[36] = (uint8_t)counter;
		if (EVP_Digest(signed_, slen, skdata + 37, &mdlen,
		    EVP_sha256(), NULL) != 1) {
			rc = ossl_err(err, ERR_CRYPTO, "sha256");
			goto out;
		}
		data = skdata;
		datalen = sizeof(skdata);
	}
	if (buf_end(&r) != 0) {
		rc = reject(err, AUTHZ_BAD_SIGNATURE, "%s signature: %zu "
		    "trailing bytes", ki->name, buf_remaining(&r));
		goto out;
	}
	if ((rc = evp_verify(key->pkey, md, sigp, siglen, data, datalen, &ok,
	    err)) != 0)
		goto out;
	if (!ok) {
		rc = reject(err, AUTHZ_BAD_SIGNATURE, "%s signature does not "
		    "verify with key %s", ki->name, key->fp);
		goto out;
	}
	/* sshsig.md §7: flags are checked once they are known genuine. */
	if (ki->is_sk && !(policy & SSHSIG_POLICY_NO_TOUCH_REQUIRED) &&
	    !(flags & SSHSIG_SK_FLAG_UP)) {
		rc = reject(err, AUTHZ_USER_PRESENCE_REQUIRED, "security key "
		    "signature without user presence (flags 0x%02x); touch "
		    "the key when signing, or pin it with no-touch-required",
		    flags);
		goto out;
	}
	if (ki->is_sk && (policy & SSHSIG_POLICY_VERIFY_REQUIRED) &&
	    !(flags & SSHSIG_SK_FLAG_UV)) {
		rc = reject(err, AUTHZ_USER_PRESENCE_REQUIRED, "security key "
		    "signature without user verification (flags 0x%02x) but "
		    "the key is pinned verify-required", flags);
		goto out;
	}
	if (info != NULL) {
		info->is_sk = ki->is_sk;
		info->flags = flags;
		info->counter = counter;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	explicit_bzero(h, sizeof(h));
	return rc;
}
