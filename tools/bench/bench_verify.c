/*
 * bench_verify — verification throughput of the signed-op pipeline
 * full in-process verify_run() (armor, SSHSIG blob,
 * namespace, signer match, signature, op blob parse, target, time,
 * role; no nonce) per second for Ed25519, next to the raw OpenSSL EVP
 * Ed25519 verification of the same key and signed bytes, their ratio,
 * and the pipeline rates of ECDSA P-256 and RSA-3072.
 *
 * Keys and signatures are made with ssh-keygen in a temp dir at start.
 * BENCH_SECONDS (default 2) sets the time per measurement.
 *
 *	bin/bench-verify
 */
#include <sys/wait.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/buf.h"
#include "base/err.h"

#define HOST	"bench-host"

struct sample {
	const char	*name;
	const char	*type;
	const char	*bits;
	char		*blob;		/* op blob text */
	size_t		 blob_len;
	char		*sig;		/* armor */
	size_t		 sig_len;
};

static int
run(char *const argv[])
{
	pid_t pid;
	int st;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL) {
		if (fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		} else {
			p[n] = '\0';
			*len = (size_t)n;
		}
	}
	(void) fclose(f);
	return p;
}

static double
now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Makes the key, an allowed_signers line, a blob and its signature. */
static int
prepare(const char *dir, struct sample *s, FILE *as)
{
	char key[4096], pub[4200], blobpath[4200], sigpath[4300], *line;
	char *kg[] = { "ssh-keygen", "-q", "-t", (char *)(uintptr_t)s->type,
	    "-b", (char *)(uintptr_t)s->bits, "-N", "", "-f", key, NULL };
	char *sg[] = { "ssh-keygen", "-q", "-Y", "sign", "-n",
	    VERIFY_NAMESPACE, "-f", key, blobpath, NULL };
	struct opblob_spec spec;
	struct err err;
	size_t len;
	FILE *f;

	(void) snprintf(key, sizeof(key), "%s/%s", dir, s->name);
	(void) snprintf(pub, sizeof(pub), "%s.pub", key);
	(void) snprintf(blobpath, sizeof(blobpath), "%s.json", key);
	(void) snprintf(sigpath, sizeof(sigpath), "%s.sig", blobpath);
	if (strcmp(s->type, "ed25519") == 0) {
		kg[4] = "-N";
		kg[5] = "";
		kg[6] = "-f";
		kg[7] = key;
		kg[8] = NULL;
	}
	if (run(kg) != 0 || (line = slurp(pub, &len)) == NULL)
		return -1;
	fprintf(as, "%s@bench %s", s->name, line);
	free(line);
	memset(&spec, 0, sizeof(spec));
	spec.op = OPBLOB_OP_DESTROY;
	spec.host_id = HOST;
	spec.has_guest = 1;
	spec.guest_id = 101;
	spec.not_before = (int64_t)time(NULL);
	spec.not_after = spec.not_before + 3600;
	err_init(&err);
	{
		json_t *p = json_pack("{s:b}", "purge", 1);

		spec.params = p;
		if (p == NULL || opblob_make(&spec, &s->blob, &s->blob_len,
		    &err) != 0) {
			fprintf(stderr, "opblob_make: %s\n", err_msg(&err));
			json_decref(p);
			return -1;
		}
		json_decref(p);
	}
	if ((f = fopen(blobpath, "wb")) == NULL ||
	    fwrite(s->blob, 1, s->blob_len, f) != s->blob_len) {
		if (f != NULL)
			(void) fclose(f);
		return -1;
	}
	(void) fclose(f);
	if (run(sg) != 0 || (s->sig = slurp(sigpath, &s->sig_len)) == NULL)
		return -1;
	return 0;
}

static double
bench_pipeline(const struct sample *s, const struct signers *set,
    double secs)
{
	struct verify_input in;
	struct verify_result res;
	struct err err;
	double t0, t;
	long n = 0;

	memset(&in, 0, sizeof(in));
	in.blob = (const uint8_t *)s->blob;
	in.blob_len = s->blob_len;
	in.signature = s->sig;
	in.signature_len = s->sig_len;
	in.host_id = HOST;
	in.now = (int64_t)time(NULL) + 1;
	in.signers = set;
	t0 = now_s();
	do {
		verify_result_init(&res);
		err_init(&err);
		if (verify_run(&in, &res, &err) != 0) {
			fprintf(stderr, "%s: verify_run: %s\n", s->name,
			    err_msg(&err));
			exit(1);
		}
		verify_result_reset(&res);
		n++;
	} while ((n & 15) != 0 || (t = now_s() - t0) < secs);
	return (double)n / t;
}

/*
 * The raw EVP reference: the same key and the same signed bytes (the
 * SSHSIG "signed data" of sshsig.md §4), EVP_DigestVerify per call.
 */
static double
bench_raw_ed25519(const struct sample *s, double secs)
{
	struct buf_reader r, k, g;
	const uint8_t *pk = NULL, *ns, *hash, *sigb, *p;
	uint8_t *blob, signed_[128], h[64];
	size_t blen = 0, pklen, nslen, hlen, siglen, n, off = 0;
	const char *b = strchr(s->sig, '\n') + 1,
	    *e = strstr(s->sig, "\n-----END");
	unsigned int mdlen = 0;
	uint32_t ver;
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	double t0, t;
	long cnt = 0;

	blob = malloc((size_t)(e - b));
	if (blob == NULL || sshsig_b64_decode(b, (size_t)(e - b), blob,
	    (size_t)(e - b), &blen) != 0)
		exit(1);
	buf_reader_init(&r, blob, blen);
	if (buf_skip(&r, 6) != 0 || buf_get_u32(&r, &ver) != 0 ||
	    buf_get_string_reader(&r, 4096, &k) != 0 ||
	    buf_get_string_direct(&r, 256, &ns, &nslen) != 0 ||
	    buf_get_string_direct(&r, 256, &p, &n) != 0 ||
	    buf_get_string_direct(&r, 64, &hash, &hlen) != 0 ||
	    buf_get_string_reader(&r, 4096, &g) != 0 ||
	    buf_get_string_direct(&k, 64, &p, &n) != 0 ||
	    buf_get_string_direct(&k, 64, &pk, &pklen) != 0 ||
	    buf_get_string_direct(&g, 64, &p, &n) != 0 ||
	    buf_get_string_direct(&g, 64, &sigb, &siglen) != 0)
		exit(1);
	if (EVP_Digest(s->blob, s->blob_len, h, &mdlen, EVP_sha512(),
	    NULL) != 1)
		exit(1);
#define PUT(q, l) do { memcpy(signed_ + off, (q), (l)); off += (l); } while (0)
#define PUT32(v) do { uint8_t x_[4] = { (uint8_t)((v) >> 24),		\
	(uint8_t)((v) >> 16), (uint8_t)((v) >> 8), (uint8_t)(v) };	\
	PUT(x_, 4); } while (0)
	PUT("SSHSIG", 6);
	PUT32(nslen);
	PUT(ns, nslen);
	PUT32(0u);
	PUT32(hlen);
	PUT(hash, hlen);
	PUT32(mdlen);
	PUT(h, mdlen);
	if ((pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    pklen)) == NULL)
		exit(1);
	t0 = now_s();
	do {
		if ((ctx = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
		    EVP_DigestVerify(ctx, sigb, siglen, signed_, off) != 1) {
			fprintf(stderr, "raw EVP verify failed\n");
			exit(1);
		}
		EVP_MD_CTX_free(ctx);
		cnt++;
	} while ((cnt & 15) != 0 || (t = now_s() - t0) < secs);
	EVP_PKEY_free(pkey);
	free(blob);
	return (double)cnt / t;
}

int
main(void)
{
	struct sample s[] = {
		{ "ed25519", "ed25519", "", NULL, 0, NULL, 0 },
		{ "ecdsa-p256", "ecdsa", "256", NULL, 0, NULL, 0 },
		{ "rsa-3072", "rsa", "3072", NULL, 0, NULL, 0 },
	};
	char dir[] = "/tmp/felhom-bench-XXXXXX", path[4096];
	const char *env = getenv("BENCH_SECONDS");
	double secs = env != NULL && atof(env) > 0 ? atof(env) : 2.0;
	double pipe_ed, raw_ed, pipe_ec, pipe_rsa;
	struct signers *set;
	struct err err;
	char *rm[] = { "rm", "-rf", dir, NULL };
	size_t i;
	FILE *as;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	(void) snprintf(path, sizeof(path), "%s/allowed_signers", dir);
	if ((as = fopen(path, "w")) == NULL) {
		perror(path);
		return 1;
	}
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (prepare(dir, &s[i], as) != 0) {
			fprintf(stderr, "cannot make the %s sample (ssh-keygen "
			    "missing?)\n", s[i].name);
			return 1;
		}
	(void) fclose(as);
	err_init(&err);
	if ((set = signers_new()) == NULL ||
	    signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL, 0, 0, NULL,
	    NULL, &err) != 0) {
		fprintf(stderr, "signers: %s\n", err_msg(&err));
		return 1;
	}
	pipe_ed = bench_pipeline(&s[0], set, secs);
	raw_ed = bench_raw_ed25519(&s[0], secs);
	pipe_ec = bench_pipeline(&s[1], set, secs);
	pipe_rsa = bench_pipeline(&s[2], set, secs);
	printf("bench-verify: full pipeline = verify_run() (armor, SSHSIG, "
	    "namespace, signer,\n  signature, op blob, target, time, role; no "
	    "nonce), %.1f s per figure\n", secs);
	printf("  %-28s %10.0f /s\n", "ed25519 pipeline", pipe_ed);
	printf("  %-28s %10.0f /s\n", "ed25519 raw EVP_DigestVerify", raw_ed);
	printf("  %-28s %10.2f (target >= 0.85)\n", "ratio pipeline/raw",
	    pipe_ed / raw_ed);
	printf("  %-28s %10.0f /s\n", "ecdsa-p256 pipeline", pipe_ec);
	printf("  %-28s %10.0f /s\n", "rsa-3072 pipeline", pipe_rsa);
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		free(s[i].blob);
		free(s[i].sig);
	}
	signers_free(set);
	(void) run(rm);
	return 0;
}
