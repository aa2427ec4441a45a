/*
 * test_sshsig — SSHSIG parsing, pinned-key load checks and verification
 * in process (R-10; sshsig.md §6, §9, §12).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "authz/codes.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "authz_tu.h"
#include "base/buf.h"
#include "base/err.h"
#include "testutil.h"

static const struct vec_row *rows;
static size_t nrows;

/* Reads a .pub file of the vector corpus and decodes its blob. */
static uint8_t *
pub_blob(const char *rel, size_t *len)
{
	char *text = tu_read_file(atu_vec(rel), NULL), *b, *e;
	uint8_t *out;

	ck_assert_ptr_nonnull(text);
	b = strchr(text, ' ');
	ck_assert_ptr_nonnull(b);
	b++;
	e = b + strcspn(b, " \n");
	out = malloc((size_t)(e - b));
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(sshsig_b64_decode(b, (size_t)(e - b), out,
	    (size_t)(e - b), len), 0);
	free(text);
	return out;
}

START_TEST(vectors_in_process_match_expected)
{
	const struct vec_row *r = &rows[_i];
	struct signers *set = signers_new();
	struct verify_result res;
	struct err err;
	char *msg, *sig;
	size_t mlen = 0, slen = 0;
	unsigned policy = 0;
	int rc;

	ck_assert_ptr_nonnull(set);
	if (strcmp(r->f[VEC_FELHOM_OPTS], "no-touch-required") == 0)
		policy = SSHSIG_POLICY_NO_TOUCH_REQUIRED;
	else if (strcmp(r->f[VEC_FELHOM_OPTS], "verify-required") == 0)
		policy = SSHSIG_POLICY_VERIFY_REQUIRED;
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, atu_vec(
	    r->f[VEC_ALLOWED_SIGNERS]), SIGNERS_ROLE_OPERATIONAL, policy,
	    SIGNERS_LENIENT, NULL, NULL, &err), 0);
	msg = tu_read_file(atu_vec(r->f[VEC_MESSAGE]), &mlen);
	sig = tu_read_file(atu_vec(r->f[VEC_SIGNATURE]), &slen);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(sig);
	verify_result_init(&res);
	rc = verify_signature(sig, slen, msg, mlen, r->f[VEC_NAMESPACE],
	    r->f[VEC_PRINCIPAL], (int64_t)time(NULL), set, &res, &err);
	if (strcmp(r->f[VEC_EXPECTED], "accept") == 0) {
		ck_assert_msg(rc == 0, "%s: rejected: %s", r->f[VEC_ID],
		    err_msg(&err));
		ck_assert_int_eq(res.code, AUTHZ_ACCEPTED);
	} else {
		ck_assert_msg(rc == ERR_REJECTED, "%s: expected a rejection, "
		    "got %d (%s)", r->f[VEC_ID], rc, err_msg(&err));
		ck_assert_int_eq(err.reason, res.code);
		ck_assert_int_ne(res.code, AUTHZ_ACCEPTED);
		ck_assert_int_eq(res.outcome[res.stage],
		    VERIFY_OUTCOME_REJECTED);
	}
	verify_result_reset(&res);
	signers_free(set);
	free(msg);
	free(sig);
}
END_TEST

static const struct {
	const char	*in;
	int		 ok;
	const char	*out;
} b64_cases[] = {
	{ "", 1, "" },
	{ "Zg==", 1, "f" },
	{ "Zm8=", 1, "fo" },
	{ "Zm9v", 1, "foo" },
	{ " Zm\n9v\r\n ", 1, "foo" },
	{ "Zg= =", 1, "f" },
	{ "Zg", 0, NULL },		/* padding required */
	{ "Zh==", 0, NULL },		/* non-zero pad bits */
	{ "Zm9=", 0, NULL },		/* non-zero pad bits */
	{ "Z===", 0, NULL },
	{ "Zg==Zg==", 0, NULL },	/* data after padding */
	{ "Zm9*", 0, NULL },
	{ "Zm9v=", 0, NULL },
	{ "-_==", 0, NULL },		/* url alphabet */
};

START_TEST(b64_decode_is_strict)
{
	uint8_t out[16];
	size_t len = 0;
	int rc;

	rc = sshsig_b64_decode(b64_cases[_i].in, strlen(b64_cases[_i].in),
	    out, sizeof(out), &len);
	if (b64_cases[_i].ok) {
		ck_assert_msg(rc == 0, "'%s' refused", b64_cases[_i].in);
		ck_assert_uint_eq(len, strlen(b64_cases[_i].out));
		ck_assert(memcmp(out, b64_cases[_i].out, len) == 0);
	} else
		ck_assert_msg(rc == ERR_FORMAT, "'%s' accepted",
		    b64_cases[_i].in);
}
END_TEST

START_TEST(fingerprint_matches_ssh_keygen)
{
	const char *types[] = { "ed25519", "ecdsa", "rsa" };
	char *dir = tu_tmpdir(), *line = NULL, *out = NULL, path[4200],
	    *sp;
	const char *argv[] = { "ssh-keygen", "-l", "-E", "sha256", "-f",
	    path, NULL };
	struct sshsig_key *key = NULL;
	struct err err;
	int st;

	ck_assert_int_eq(atu_keygen(dir, "k", types[_i], 0, &line), 0);
	sp = strchr(line, ' ');
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_text(line, (size_t)(sp - line),
	    sp + 1, strlen(sp + 1), &key, &err), 0);
	(void) snprintf(path, sizeof(path), "%s/k.pub", dir);
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &st), 0);
	ck_assert_int_eq(st, 0);
	ck_assert_msg(strstr(out, sshsig_key_fingerprint(key)) != NULL,
	    "ssh-keygen -l '%s' vs '%s'", out, sshsig_key_fingerprint(key));
	ck_assert_uint_eq(strlen(sshsig_key_fingerprint(key)), 50);
	sshsig_key_free(key);
	free(out);
	free(line);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* sshsig.md §6.1: the blocklist, with and without the x sign bit. */
static const char *const small_order[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
};

START_TEST(ed25519_small_order_keys_refused_at_load)
{
	struct buf_writer w;
	struct sshsig_key *key = NULL;
	struct err err;
	uint8_t pk[32], *blob;
	size_t len, i;
	unsigned v;

	for (i = 0; i < 32; i++) {
		ck_assert_int_eq(sscanf(small_order[_i] + 2 * i, "%2x", &v),
		    1);
		pk[i] = (uint8_t)v;
	}
	buf_writer_init(&w, 1024);
	ck_assert_int_eq(buf_put_cstring(&w, "ssh-ed25519"), 0);
	ck_assert_int_eq(buf_put_string(&w, pk, 32), 0);
	ck_assert_int_eq(buf_writer_steal(&w, &blob, &len), 0);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "small-order"));
	/* Also as a FIDO key (sk-ssh-ed25519 shares the check). */
	buf_writer_init(&w, 1024);
	ck_assert_int_eq(buf_put_cstring(&w, "sk-ssh-ed25519@openssh.com"),
	    0);
	ck_assert_int_eq(buf_put_string(&w, pk, 32), 0);
	ck_assert_int_eq(buf_put_cstring(&w, "ssh:"), 0);
	free(blob);
	ck_assert_int_eq(buf_writer_steal(&w, &blob, &len), 0);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	free(blob);
}
END_TEST

/* Rebuilds an ssh-rsa blob with another public exponent. */
static uint8_t *
rsa_with_e(const uint8_t *e, size_t elen, size_t *len)
{
	struct buf_reader r;
	struct buf_writer w;
	const uint8_t *p;
	uint8_t *orig, *out;
	size_t olen = 0, n;

	orig = pub_blob("keys/rsa2048.pub", &olen);
	buf_reader_init(&r, orig, olen);
	ck_assert_int_eq(buf_get_string_direct(&r, 64, &p, &n), 0);
	ck_assert_int_eq(buf_get_string_direct(&r, 8, &p, &n), 0);
	ck_assert_int_eq(buf_get_string_direct(&r, 1024, &p, &n), 0);
	buf_writer_init(&w, 4096);
	ck_assert_int_eq(buf_put_cstring(&w, "ssh-rsa"), 0);
	ck_assert_int_eq(buf_put_string(&w, e, elen), 0);
	ck_assert_int_eq(buf_put_string(&w, p, n), 0);
	ck_assert_int_eq(buf_writer_steal(&w, &out, len), 0);
	free(orig);
	return out;
}

START_TEST(rsa_weak_exponent_refused_at_load)
{
	static const uint8_t e1[] = { 0x01 }, e2[] = { 0x02 },
	    e65537[] = { 0x01, 0x00, 0x01 }, e0pad[] = { 0x00, 0x01, 0x00,
	    0x01 };
	struct sshsig_key *key = NULL;
	struct err err;
	uint8_t *blob;
	size_t len = 0;

	blob = rsa_with_e(e1, 1, &len);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	free(blob);
	blob = rsa_with_e(e2, 1, &len);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	free(blob);
	/* Non-minimal mpint: refused as malformed. */
	blob = rsa_with_e(e0pad, 4, &len);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "non-minimal"));
	free(blob);
	blob = rsa_with_e(e65537, 3, &len);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err), 0);
	ck_assert_uint_eq(sshsig_key_bits(key), 2048);
	ck_assert_int_eq(sshsig_key_type(key), SSHSIG_KT_RSA);
	sshsig_key_free(key);
	free(blob);
}
END_TEST

START_TEST(rsa_below_2048_refused_at_load)
{
	struct sshsig_key *key = NULL;
	struct err err;
	uint8_t *blob;
	size_t len = 0;

	blob = pub_blob("keys/rsa1024.pub", &len);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "1024 bits"));
	free(blob);
}
END_TEST

START_TEST(ecdsa_bad_points_refused_at_load)
{
	struct buf_writer w;
	struct sshsig_key *key = NULL;
	struct err err;
	uint8_t *orig, *blob, q[65];
	size_t olen = 0, len;

	orig = pub_blob("keys/ecdsa256.pub", &olen);
	ck_assert_uint_eq(olen, 4 + 19 + 4 + 8 + 4 + 65);
	memcpy(q, orig + olen - 65, 65);
	/* Off the curve: Y xor 1. */
	q[64] ^= 1;
	buf_writer_init(&w, 1024);
	ck_assert_int_eq(buf_put_cstring(&w, "ecdsa-sha2-nistp256"), 0);
	ck_assert_int_eq(buf_put_cstring(&w, "nistp256"), 0);
	ck_assert_int_eq(buf_put_string(&w, q, 65), 0);
	ck_assert_int_eq(buf_writer_steal(&w, &blob, &len), 0);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_UNSUPPORTED);
	free(blob);
	/* Compressed and infinity encodings never reach OpenSSL. */
	buf_writer_init(&w, 1024);
	ck_assert_int_eq(buf_put_cstring(&w, "ecdsa-sha2-nistp256"), 0);
	ck_assert_int_eq(buf_put_cstring(&w, "nistp256"), 0);
	q[0] = 0x02;
	ck_assert_int_eq(buf_put_string(&w, q, 33), 0);
	ck_assert_int_eq(buf_writer_steal(&w, &blob, &len), 0);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_FORMAT);
	free(blob);
	buf_writer_init(&w, 1024);
	ck_assert_int_eq(buf_put_cstring(&w, "ecdsa-sha2-nistp256"), 0);
	ck_assert_int_eq(buf_put_cstring(&w, "nistp256"), 0);
	ck_assert_int_eq(buf_put_string(&w, "\0", 1), 0);
	ck_assert_int_eq(buf_writer_steal(&w, &blob, &len), 0);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, len, &key, &err),
	    ERR_FORMAT);
	free(blob);
	/* Trailing byte inside the key blob. */
	blob = malloc(olen + 1);
	ck_assert_ptr_nonnull(blob);
	memcpy(blob, orig, olen);
	blob[olen] = 0;
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(blob, olen + 1, &key, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "trailing"));
	free(blob);
	/* The genuine key loads. */
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(orig, olen, &key, &err), 0);
	sshsig_key_free(key);
	free(orig);
}
END_TEST

START_TEST(key_text_type_must_match_blob)
{
	struct sshsig_key *key = NULL;
	struct err err;
	char *text = tu_read_file(atu_vec("keys/ed25519-a.pub"), NULL), *b;

	ck_assert_ptr_nonnull(text);
	b = strchr(text, ' ') + 1;
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_text("ssh-rsa", 7, b,
	    strcspn(b, " \n"), &key, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "does not match"));
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_text("ssh-ed25519", 11, b,
	    strcspn(b, " \n"), &key, &err), 0);
	sshsig_key_free(key);
	free(text);
}
END_TEST

/* Version 0 (which OpenSSH takes) and an empty blob are refused. */
START_TEST(blob_version_must_be_1)
{
	char *armor = tu_read_file(atu_vec(
	    "sigs/pos-ed25519-a-ascii-sha512.sig"), NULL), *re;
	struct sshsig *sig = NULL;
	struct err err;
	uint8_t *blob;
	size_t len = 0;

	ck_assert_ptr_nonnull(armor);
	blob = atu_dearmor(armor, &len);
	ck_assert_ptr_nonnull(blob);
	err_init(&err);
	ck_assert_int_eq(sshsig_parse_blob(blob, len, &sig, &err), 0);
	sshsig_free(sig);
	blob[9] = 0;
	err_init(&err);
	ck_assert_int_eq(sshsig_parse_blob(blob, len, &sig, &err),
	    ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_SSHSIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "version 0"));
	re = atu_armor(blob, len);
	err_init(&err);
	ck_assert_int_eq(sshsig_parse(re, strlen(re), &sig, &err),
	    ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_SSHSIG);
	free(re);
	free(blob);
	free(armor);
}
END_TEST

START_TEST(verify_with_other_key_is_unknown_signer)
{
	char *armor = tu_read_file(atu_vec(
	    "sigs/pos-ed25519-a-ascii-sha512.sig"), NULL);
	char *msg = tu_read_file(atu_vec("msgs/ascii.txt"), NULL);
	struct sshsig_key *key = NULL;
	struct sshsig *sig = NULL;
	struct err err;
	uint8_t *kb;
	size_t klen = 0;

	kb = pub_blob("keys/ed25519-b.pub", &klen);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(kb, klen, &key, &err), 0);
	ck_assert_int_eq(sshsig_parse(armor, strlen(armor), &sig, &err), 0);
	ck_assert_int_eq(sshsig_verify(sig, key, "felhom-op-v1", msg,
	    strlen(msg), 0, NULL, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_UNKNOWN_SIGNER);
	sshsig_key_free(key);
	free(kb);
	/* With the right key it verifies; with a wrong namespace not. */
	kb = pub_blob("keys/ed25519-a.pub", &klen);
	err_init(&err);
	ck_assert_int_eq(sshsig_key_from_blob(kb, klen, &key, &err), 0);
	ck_assert_int_eq(sshsig_verify(sig, key, "felhom-op-v1", msg,
	    strlen(msg), 0, NULL, &err), 0);
	ck_assert_int_eq(sshsig_verify(sig, key, "felhom-op-v2", msg,
	    strlen(msg), 0, NULL, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_NAMESPACE);
	sshsig_key_free(key);
	sshsig_free(sig);
	free(kb);
	free(armor);
	free(msg);
}
END_TEST

START_TEST(oversize_armor_refused)
{
	size_t n = SSHSIG_ARMOR_MAX + 1;
	char *big = malloc(n);
	struct sshsig *sig = NULL;
	struct err err;

	ck_assert_ptr_nonnull(big);
	memset(big, 'A', n);
	memcpy(big, "-----BEGIN SSH SIGNATURE-----\n", 30);
	err_init(&err);
	ck_assert_int_eq(sshsig_parse(big, n, &sig, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_ARMOR);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
	free(big);
}
END_TEST

START_TEST(code_names_round_trip)
{
	int i;

	for (i = 0; i < AUTHZ__COUNT; i++)
		ck_assert_int_eq(authz_code_from_name(authz_code_name(i)), i);
	ck_assert_str_eq(authz_code_name(AUTHZ_REPLAY), "replay");
	ck_assert_str_eq(authz_code_name(99), "unknown");
	ck_assert_int_eq(authz_code_from_name("nope"), -1);
	for (i = 0; i < SSHSIG_KT__COUNT; i++)
		ck_assert_int_eq(sshsig_keytype_from_name(
		    sshsig_keytype_name(i), strlen(sshsig_keytype_name(i))), i);
}
END_TEST

static Suite *
sshsig_suite(void)
{
	Suite *s = suite_create("authz.sshsig");
	TCase *tc;

	nrows = atu_vectors(&rows);
	tc = tcase_create("vectors");
	tcase_add_loop_test(tc, vectors_in_process_match_expected, 0,
	    (int)nrows);
	suite_add_tcase(s, tc);
	tc = tcase_create("parse");
	tcase_add_loop_test(tc, b64_decode_is_strict, 0,
	    (int)(sizeof(b64_cases) / sizeof(b64_cases[0])));
	tcase_add_test(tc, blob_version_must_be_1);
	tcase_add_test(tc, oversize_armor_refused);
	tcase_add_test(tc, code_names_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, fingerprint_matches_ssh_keygen, 0, 3);
	tcase_add_loop_test(tc, ed25519_small_order_keys_refused_at_load, 0,
	    (int)(sizeof(small_order) / sizeof(small_order[0])));
	tcase_add_test(tc, rsa_weak_exponent_refused_at_load);
	tcase_add_test(tc, rsa_below_2048_refused_at_load);
	tcase_add_test(tc, ecdsa_bad_points_refused_at_load);
	tcase_add_test(tc, key_text_type_must_match_blob);
	tcase_add_test(tc, verify_with_other_key_is_unknown_signer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sshsig_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
