/*
 * test_vectors — the differential test of R-10: every vector of
 * tests/fixtures/sshsig/manifest.tsv through the real `felhom-admin
 * verify` binary, its verdict compared with the manifest's `expected`
 * and, on rows whose policy is `required`, with `ssh-keygen -Y verify`.
 * Then fresh keys of every type made by ssh-keygen at test time, random
 * messages signed with `ssh-keygen -Y sign -n felhom-op-v1`, both
 * verifiers accepting and both rejecting a bit-flipped message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/rand.h>

#include "authz_tu.h"
#include "testutil.h"

static const struct vec_row *rows;
static size_t nrows;

/* "accept" / "reject" from felhom-admin verify; NULL on a usage error. */
static const char *
run_felhom(const char *as, const char *principal, const char *ns,
    const char *sig, const char *opts, const void *msg, size_t len,
    char **out, char **errout)
{
	const char *argv[16];
	int st, n = 0;

	argv[n++] = tu_bin("felhom-admin");
	argv[n++] = "verify";
	argv[n++] = "-f";
	argv[n++] = as;
	argv[n++] = "-I";
	argv[n++] = principal;
	argv[n++] = "-n";
	argv[n++] = ns;
	argv[n++] = "-s";
	argv[n++] = sig;
	if (opts != NULL && strcmp(opts, "-") != 0) {
		argv[n++] = "-O";
		argv[n++] = opts;
	}
	argv[n] = NULL;
	if (tu_run(argv, NULL, msg, len, out, errout, &st) != 0)
		return NULL;
	return st == 0 ? "accept" : st == 1 ? "reject" : NULL;
}

static const char *
run_sshkeygen(const char *as, const char *principal, const char *ns,
    const char *sig, const void *msg, size_t len)
{
	const char *argv[] = { "ssh-keygen", "-Y", "verify", "-f", as, "-I",
	    principal, "-n", ns, "-s", sig, NULL };
	int st;

	if (tu_run(argv, NULL, msg, len, NULL, NULL, &st) != 0)
		return NULL;
	return st == 0 ? "accept" : "reject";
}

START_TEST(vector_verdict_matches_manifest)
{
	const struct vec_row *r = &rows[_i];
	char *msg, *out = NULL, *errout = NULL, as[4096], sig[4096];
	const char *got, *oracle;
	size_t len = 0;

	(void) snprintf(as, sizeof(as), "%s", atu_vec(r->f[VEC_ALLOWED_SIGNERS]));
	(void) snprintf(sig, sizeof(sig), "%s", atu_vec(r->f[VEC_SIGNATURE]));
	msg = tu_read_file(atu_vec(r->f[VEC_MESSAGE]), &len);
	ck_assert_msg(msg != NULL, "%s: cannot read message", r->f[VEC_ID]);
	got = run_felhom(as, r->f[VEC_PRINCIPAL], r->f[VEC_NAMESPACE], sig,
	    r->f[VEC_FELHOM_OPTS], msg, len, &out, &errout);
	ck_assert_msg(got != NULL, "%s: felhom-admin verify failed to run "
	    "or exited 2: %s%s", r->f[VEC_ID], out != NULL ? out : "",
	    errout != NULL ? errout : "");
	ck_assert_msg(strcmp(got, r->f[VEC_EXPECTED]) == 0,
	    "DISAGREEMENT %s (%s): expected %s, felhom-admin verify says %s: "
	    "%s", r->f[VEC_ID], r->f[VEC_CATEGORY], r->f[VEC_EXPECTED], got,
	    out);
	/* On accept the output names the key; on reject a typed code. */
	if (strcmp(got, "accept") == 0)
		ck_assert_msg(strncmp(out, "accepted ", 9) == 0 &&
		    strstr(out, " SHA256:") != NULL, "%s: output '%s'",
		    r->f[VEC_ID], out);
	else
		ck_assert_msg(strncmp(out, "rejected: ", 10) == 0,
		    "%s: output '%s'", r->f[VEC_ID], out);
	if (strcmp(r->f[VEC_POLICY], "required") == 0) {
		oracle = run_sshkeygen(as, r->f[VEC_PRINCIPAL],
		    r->f[VEC_NAMESPACE], sig, msg, len);
		ck_assert_msg(oracle != NULL, "%s: ssh-keygen did not run",
		    r->f[VEC_ID]);
		ck_assert_msg(strcmp(oracle, got) == 0, "DISAGREEMENT %s "
		    "(policy required): ssh-keygen -Y verify says %s, "
		    "felhom-admin verify says %s: %s", r->f[VEC_ID], oracle,
		    got, out);
	}
	free(out);
	free(errout);
	free(msg);
}
END_TEST

static const struct {
	const char	*name;
	const char	*type;
	int		 bits;
} fresh[] = {
	{ "ed25519", "ed25519", 0 },
	{ "ecdsa256", "ecdsa", 256 },
	{ "ecdsa384", "ecdsa", 384 },
	{ "ecdsa521", "ecdsa", 521 },
	{ "rsa2048", "rsa", 2048 },
	{ "rsa3072", "rsa", 3072 },
};

START_TEST(fresh_keys_both_verifiers_agree)
{
	char *dir = tu_tmpdir(), *line = NULL, *as, *asig, *sigpath, *text;
	const char *hash[] = { NULL, "sha256" };
	unsigned char msg[4096], lenb[2];
	size_t len, h;
	const char *f, *o;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(atu_keygen(dir, fresh[_i].name, fresh[_i].type,
	    fresh[_i].bits, &line), 0);
	ck_assert_int_gt(asprintf(&text, "op@felhom.test %s\n", line), 0);
	as = atu_write(dir, "allowed_signers", text);
	ck_assert_ptr_nonnull(as);
	for (h = 0; h < 2; h++) {
		ck_assert_int_eq(RAND_bytes(lenb, 2), 1);
		len = (size_t)(lenb[0] << 8 | lenb[1]) % sizeof(msg);
		ck_assert_int_eq(RAND_bytes(msg, (int)sizeof(msg)), 1);
		asig = atu_sign(dir, fresh[_i].name, "felhom-op-v1", hash[h],
		    msg, len);
		ck_assert_msg(asig != NULL, "ssh-keygen -Y sign failed");
		sigpath = atu_write(dir, "msg.sig", asig);
		f = run_felhom(as, "op@felhom.test", "felhom-op-v1", sigpath,
		    NULL, msg, len, NULL, NULL);
		o = run_sshkeygen(as, "op@felhom.test", "felhom-op-v1",
		    sigpath, msg, len);
		ck_assert_msg(f != NULL && strcmp(f, "accept") == 0,
		    "%s: felhom rejects a fresh signature", fresh[_i].name);
		ck_assert_msg(o != NULL && strcmp(o, "accept") == 0,
		    "%s: ssh-keygen rejects a fresh signature",
		    fresh[_i].name);
		/* One flipped bit anywhere in the message: both reject. */
		if (len == 0)
			len = 1;
		msg[(size_t)lenb[1] % len] ^= (unsigned char)(1u <<
		    (lenb[0] % 8));
		f = run_felhom(as, "op@felhom.test", "felhom-op-v1", sigpath,
		    NULL, msg, len, NULL, NULL);
		o = run_sshkeygen(as, "op@felhom.test", "felhom-op-v1",
		    sigpath, msg, len);
		ck_assert_msg(f != NULL && strcmp(f, "reject") == 0,
		    "%s: felhom accepts a bit-flipped message",
		    fresh[_i].name);
		ck_assert_msg(o != NULL && strcmp(o, "reject") == 0,
		    "%s: ssh-keygen accepts a bit-flipped message",
		    fresh[_i].name);
		free(asig);
		free(sigpath);
	}
	free(as);
	free(text);
	free(line);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(verify_missing_file_exits_66_usage_64)
{
	const char *argv[] = { tu_bin("felhom-admin"), "verify", "-f",
	    "/nonexistent", "-I", "x", "-n", "felhom-op-v1", "-s",
	    "/nonexistent", NULL };
	const char *argv2[] = { tu_bin("felhom-admin"), "verify", "-f", "x",
	    NULL };
	char *errout = NULL;
	int st;

	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, &errout, &st), 0);
	ck_assert_int_eq(st, 66);
	ck_assert_ptr_nonnull(strstr(errout, "/nonexistent"));
	free(errout);
	ck_assert_int_eq(tu_run(argv2, NULL, NULL, 0, NULL, NULL, &st), 0);
	ck_assert_int_eq(st, 64);
}
END_TEST

static Suite *
vectors_suite(void)
{
	Suite *s = suite_create("authz.vectors");
	TCase *tc;

	nrows = atu_vectors(&rows);
	tc = tcase_create("manifest");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, vector_verdict_matches_manifest, 0,
	    (int)nrows);
	suite_add_tcase(s, tc);
	tc = tcase_create("fresh");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, fresh_keys_both_verifiers_agree, 0,
	    (int)(sizeof(fresh) / sizeof(fresh[0])));
	tcase_add_test(tc, verify_missing_file_exits_66_usage_64);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vectors_suite());
	int failed;

	if (nrows < 163)
		fprintf(stderr, "warning: only %zu vectors in the manifest\n",
		    nrows);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	printf("vectors: %zu rows, %d failing checks\n", nrows, failed);
	srunner_free(sr);
	return failed == 0 && nrows > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
