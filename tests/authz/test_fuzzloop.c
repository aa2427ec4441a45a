/*
 * test_fuzzloop — randomized loop over the authz parsers (STYLE.md
 * "Parsers get a randomized loop"): mutations of real signatures,
 * SSHSIG blobs, op blobs and allowed_signers lines must never crash,
 * leak or read out of bounds (the sanitizer build runs this), and every
 * result must be 0 or a defined negative code.
 *
 * FELHOM_FUZZ_SEED and FELHOM_FUZZ_ITERS override the seed (printed) and
 * the iteration count per corpus entry kind.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "authz_tu.h"
#include "base/err.h"
#include "testutil.h"

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static size_t
rnd_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

static long
iters(void)
{
	const char *s = getenv("FELHOM_FUZZ_ITERS");

	return s != NULL && atol(s) > 0 ? atol(s) : 10000;
}

/* One random mutation of p (len, capacity cap) in place. */
static size_t
mutate(uint8_t *p, size_t len, size_t cap)
{
	static const uint32_t interesting[] = { 0, 1, 0x7f, 0x80, 0xff,
	    0x7fffffff, 0x80000000u, 0xfffffffcu, 0xffffffffu, 32, 64, 65 };
	size_t i, n, k;
	uint32_t v;

	switch (rnd_below(8)) {
	case 0:		/* flip a bit */
		if (len > 0)
			p[rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
		break;
	case 1:		/* random byte */
		if (len > 0)
			p[rnd_below(len)] = (uint8_t)rnd();
		break;
	case 2:		/* insert a byte */
		if (len < cap) {
			i = rnd_below(len + 1);
			memmove(p + i + 1, p + i, len - i);
			p[i] = (uint8_t)rnd();
			len++;
		}
		break;
	case 3:		/* delete a range */
		if (len > 0) {
			i = rnd_below(len);
			n = 1 + rnd_below(len - i < 16 ? len - i : 16);
			memmove(p + i, p + i + n, len - i - n);
			len -= n;
		}
		break;
	case 4:		/* truncate */
		len = rnd_below(len + 1);
		break;
	case 5:		/* an interesting u32 (length fields) */
		if (len >= 4) {
			i = rnd_below(len - 3);
			v = interesting[rnd_below(sizeof(interesting) /
			    sizeof(interesting[0]))];
			if (rnd_below(4) == 0)
				v = (uint32_t)(len - i + rnd_below(3) - 1);
			p[i] = (uint8_t)(v >> 24);
			p[i + 1] = (uint8_t)(v >> 16);
			p[i + 2] = (uint8_t)(v >> 8);
			p[i + 3] = (uint8_t)v;
		}
		break;
	case 6:		/* duplicate a chunk */
		if (len > 0 && len < cap) {
			i = rnd_below(len);
			n = 1 + rnd_below(len - i);
			k = rnd_below(len + 1);
			if (n > cap - len)
				n = cap - len;
			memmove(p + k + n, p + k, len - k);
			memmove(p + k, p + (i < k ? i : i + n), n);
			len += n;
		}
		break;
	default:	/* swap two bytes */
		if (len > 1) {
			uint8_t t;

			i = rnd_below(len);
			k = rnd_below(len);
			t = p[i];
			p[i] = p[k];
			p[k] = t;
		}
		break;
	}
	return len;
}

static void
check_rc(int rc, const char *what, const struct err *err)
{
	ck_assert_msg(rc == 0 || (rc < 0 && rc > -ERR__COUNT), "%s: rc %d",
	    what, rc);
	if (rc == ERR_REJECTED)
		ck_assert_msg(err->reason > 0 && err->reason < AUTHZ__COUNT,
		    "%s: reason %d", what, err->reason);
}

START_TEST(signatures_survive_mutation)
{
	const struct vec_row *rows;
	size_t nrows = atu_vectors(&rows), r, len, blen, cap;
	struct signers *set = signers_new();
	char *msg, *text;
	uint8_t *buf, *raw;
	struct err err;
	long i, n = iters();

	ck_assert_ptr_nonnull(set);
	/* Every pinned key of the corpus, so mutants reach the crypto. */
	for (r = 0; r < nrows; r++) {
		err_init(&err);
		(void) signers_load_file(set,
		    atu_vec(rows[r].f[VEC_ALLOWED_SIGNERS]),
		    SIGNERS_ROLE_OPERATIONAL, 0, SIGNERS_LENIENT, NULL, NULL,
		    &err);
	}
	msg = tu_read_file(atu_vec("msgs/ascii.txt"), NULL);
	ck_assert_ptr_nonnull(msg);
	for (r = 0; r < nrows; r++) {
		if (strcmp(rows[r].f[VEC_MESSAGE], "msgs/bin1m.bin") == 0 ||
		    strcmp(rows[r].f[VEC_MESSAGE], "msgs/bin1m-bitflip.bin") ==
		    0)
			continue;
		text = tu_read_file(atu_vec(rows[r].f[VEC_SIGNATURE]), &len);
		ck_assert_ptr_nonnull(text);
		cap = len * 2 + 64;
		buf = malloc(cap);
		ck_assert_ptr_nonnull(buf);
		raw = atu_dearmor(text, &blen);
		for (i = 0; i < n / (long)(nrows / 8 + 1) + 1; i++) {
			struct verify_result res;
			struct sshsig *sig = NULL;
			size_t l = len;
			int k, rc;

			memcpy(buf, text, len);
			for (k = 0; k < 1 + (int)rnd_below(4); k++)
				l = mutate(buf, l, cap);
			verify_result_init(&res);
			err_init(&err);
			rc = verify_signature((const char *)buf, l, msg,
			    strlen(msg), "felhom-op-v1", NULL, 1800000000, set,
			    &res, &err);
			check_rc(rc, "verify_signature(armor)", &err);
			verify_result_reset(&res);
			if (raw == NULL)
				continue;
			memcpy(buf, raw, blen);
			l = blen;
			for (k = 0; k < 1 + (int)rnd_below(4); k++)
				l = mutate(buf, l, cap);
			err_init(&err);
			rc = sshsig_parse_blob(buf, l, &sig, &err);
			check_rc(rc, "sshsig_parse_blob", &err);
			sshsig_free(sig);
		}
		free(raw);
		free(buf);
		free(text);
	}
	free(msg);
	signers_free(set);
}
END_TEST

START_TEST(op_blobs_survive_mutation)
{
	static const char *const params[] = { "{}", "{\"mode\":\"stop\"}",
	    "{\"set\":{\"cores\":2,\"hostname\":\"y\"},\"delete\":[\"mp0\"]}",
	    "{\"name\":\"s1\",\"description\":\"d\"}", "{\"name\":\"s1\"}",
	    "{\"snapshot\":\"s1\",\"no_safety\":true}",
	    "{\"storage\":\"local\",\"mode\":\"snapshot\"}",
	    "{\"archive\":\"pbs:backup/ct/1/2026-01-01T00:00:00Z\","
	    "\"storage\":\"local\"}", "{\"purge\":true}",
	    "{\"template\":\"local:vztmpl/x.tar\",\"storage\":\"l\","
	    "\"spec\":{\"a\":[1,2,{\"b\":null}]}}",
	    "{\"kind\":\"planned\",\"operational\":[\"a ssh-ed25519 AAAAC3Nz"
	    "aC1lZDI1NTE5AAAAIEwBFZlCOkpdBaATgzuGQcyUr5CYaFTU0iw0WXMLHA9U\"]}",
	};
	struct opblob_spec spec;
	struct err err;
	uint8_t buf[OPBLOB_MAX + 64];
	char *blob;
	size_t len, l;
	long i, n = iters();
	int op, k, rc;

	for (op = 0; op < OPBLOB_OP_UNKNOWN; op++) {
		json_t *p = json_loads(params[op], 0, NULL);

		ck_assert_ptr_nonnull(p);
		memset(&spec, 0, sizeof(spec));
		spec.op = (enum opblob_op)op;
		spec.host_id = "pve-01";
		spec.has_guest = op != OPBLOB_OP_ROTATE_SIGNERS;
		spec.guest_id = 101;
		spec.params = p;
		spec.not_before = 1800000000;
		spec.not_after = 1800003600;
		err_init(&err);
		ck_assert_msg(opblob_make(&spec, &blob, &len, &err) == 0,
		    "%s: %s", opblob_op_name(op), err.msg);
		for (i = 0; i < n / 4 + 1; i++) {
			struct opblob *b = NULL;

			memcpy(buf, blob, len);
			l = len;
			for (k = 0; k < 1 + (int)rnd_below(3); k++)
				l = mutate(buf, l, sizeof(buf));
			err_init(&err);
			rc = opblob_parse(buf, l, &b, &err);
			check_rc(rc, "opblob_parse", &err);
			if (rc == 0)
				ck_assert_uint_eq(b->raw_len, l);
			opblob_free(b);
		}
		free(blob);
		json_decref(p);
	}
}
END_TEST

START_TEST(signer_lines_survive_mutation)
{
	static const char *const lines[] = {
	    "alice@ops,*@x namespaces=\"felhom-op-v1,!git\",valid-after="
	    "\"20200101\",valid-before=\"20990101Z\" ssh-ed25519 AAAAC3NzaC1"
	    "lZDI1NTE5AAAAIEwBFZlCOkpdBaATgzuGQcyUr5CYaFTU0iw0WXMLHA9U c",
	    "\"a b\" no-touch-required,verify-required sk-ssh-ed25519@openssh"
	    ".com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIETRGnUkBBDHDte"
	    "nbxfOFkLbAo2ZsEZzV+DO5C0xnZ5iAAAABHNzaDo= sk",
	};
	uint8_t buf[1024];
	struct err err;
	size_t i, l;
	long j, n = iters();
	int k, rc;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		for (j = 0; j < n; j++) {
			struct signers_entry *e = NULL;

			l = strlen(lines[i]);
			memcpy(buf, lines[i], l);
			for (k = 0; k < 1 + (int)rnd_below(3); k++)
				l = mutate(buf, l, sizeof(buf));
			err_init(&err);
			rc = signers_parse_line((const char *)buf, l, "f", 1,
			    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err);
			check_rc(rc, "signers_parse_line", &err);
			ck_assert(rc == 0 || e == NULL);
			signers_entry_free(e);
		}
	}
}
END_TEST

static Suite *
fuzzloop_suite(void)
{
	Suite *s = suite_create("authz.fuzzloop");
	TCase *tc = tcase_create("mutations");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, signatures_survive_mutation);
	tcase_add_test(tc, op_blobs_survive_mutation);
	tcase_add_test(tc, signer_lines_survive_mutation);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	const char *s = getenv("FELHOM_FUZZ_SEED");
	SRunner *sr;
	int failed;

	rng_state = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
	if (rng_state == 0)
		rng_state = 1;
	printf("fuzzloop seed %llu (FELHOM_FUZZ_SEED to repeat)\n",
	    (unsigned long long)rng_state);
	sr = srunner_create(fuzzloop_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
