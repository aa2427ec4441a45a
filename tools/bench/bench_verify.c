/*
 * bench_verify — verification throughput of the signed-op pipeline
 * (R-10, R-11, R-15):
 *  1. the accept path: signed destroy jobs (Ed25519) taken from the
 *     signed-ops inbox by intake_run(): verify_run(), the replay check,
 *     the op, its classification, the audit row, the nonce consumed and
 *     the inbox entry marked, committed durably — measured two ways:
 *     M jobs delivered together (one GET /signed-ops) decided in one
 *     transaction (intake's group commit), and one job delivered and
 *     committed at a time; per second, against the raw reference of one
 *     EVP Ed25519 verify of the same signed bytes plus one in-place 4 KiB
 *     pwrite + fdatasync of a preallocated file per job, interleaved round
 *     by round (the order rotates each round), median of N rounds and
 *     the spread of the per-round ratios; target >= 0.85x; with the WAL
 *     pages (frames, sqlite3_wal_hook) each way writes per job;
 *  2. the crypto-only pipeline (verify_run(), no nonce) against raw EVP,
 *     and the pipeline rates of ECDSA P-256 and RSA-3072.
 *
 * Keys and signatures are made with ssh-keygen in a temp dir at start
 * (one signature per accepted job: each has its own nonce).
 * BENCH_SECONDS (default 2) sets the time per crypto-only figure;
 * BENCH_KEEP=1 keeps the scratch directory, with a copy of the accept
 * database and its WAL as they were before closing (kept.db, kept.db-wal).
 *
 *	bin/bench-verify [--quick] [--rounds N] [--per-round M]
 *
 * Each figure with a target is also printed as one "BENCH\t..." line
 * for tools/bench/run-all.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "engine/gate.h"
#include "engine/intake.h"
#include "store/db.h"
#include "store/inbox.h"

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
struct raw_ed {
	EVP_PKEY	*pkey;
	uint8_t		*blob;		/* the decoded SSHSIG */
	const uint8_t	*sigb;
	size_t		 siglen;
	uint8_t		 signed_[128];
	size_t		 off;
};

static void
raw_setup(const struct sample *s, struct raw_ed *x)
{
	struct buf_reader r, k, g;
	const uint8_t *pk = NULL, *ns, *hash, *p;
	uint8_t h[64];
	size_t blen = 0, pklen, nslen, hlen, n;
	const char *b = strchr(s->sig, '\n') + 1,
	    *e = strstr(s->sig, "\n-----END");
	unsigned int mdlen = 0;
	uint32_t ver;

	memset(x, 0, sizeof(*x));
	x->blob = malloc((size_t)(e - b));
	if (x->blob == NULL || sshsig_b64_decode(b, (size_t)(e - b), x->blob,
	    (size_t)(e - b), &blen) != 0)
		exit(1);
	buf_reader_init(&r, x->blob, blen);
	if (buf_skip(&r, 6) != 0 || buf_get_u32(&r, &ver) != 0 ||
	    buf_get_string_reader(&r, 4096, &k) != 0 ||
	    buf_get_string_direct(&r, 256, &ns, &nslen) != 0 ||
	    buf_get_string_direct(&r, 256, &p, &n) != 0 ||
	    buf_get_string_direct(&r, 64, &hash, &hlen) != 0 ||
	    buf_get_string_reader(&r, 4096, &g) != 0 ||
	    buf_get_string_direct(&k, 64, &p, &n) != 0 ||
	    buf_get_string_direct(&k, 64, &pk, &pklen) != 0 ||
	    buf_get_string_direct(&g, 64, &p, &n) != 0 ||
	    buf_get_string_direct(&g, 64, &x->sigb, &x->siglen) != 0)
		exit(1);
	if (EVP_Digest(s->blob, s->blob_len, h, &mdlen, EVP_sha512(),
	    NULL) != 1)
		exit(1);
#define PUT(q, l) do { memcpy(x->signed_ + x->off, (q), (l));		\
	x->off += (l); } while (0)
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
	if ((x->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    pklen)) == NULL)
		exit(1);
}

static void
raw_verify(const struct raw_ed *x)
{
	EVP_MD_CTX *ctx;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, x->pkey) != 1 ||
	    EVP_DigestVerify(ctx, x->sigb, x->siglen, x->signed_, x->off) !=
	    1) {
		fprintf(stderr, "raw EVP verify failed\n");
		exit(1);
	}
	EVP_MD_CTX_free(ctx);
}

static void
raw_free(struct raw_ed *x)
{
	EVP_PKEY_free(x->pkey);
	free(x->blob);
}

static double
bench_raw_ed25519(const struct sample *s, double secs)
{
	struct raw_ed x;
	double t0, t;
	long cnt = 0;

	raw_setup(s, &x);
	t0 = now_s();
	do {
		raw_verify(&x);
		cnt++;
	} while ((cnt & 15) != 0 || (t = now_s() - t0) < secs);
	raw_free(&x);
	return (double)cnt / t;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One signed destroy job of guest 101, its own nonce. */
static int
sign_job(const char *dir, const char *key, char **blob, size_t *blob_len,
    char **sig)
{
	char blobpath[4200], sigpath[4300];
	char *sg[] = { "ssh-keygen", "-q", "-Y", "sign", "-n",
	    VERIFY_NAMESPACE, "-f", (char *)(uintptr_t)key, blobpath, NULL };
	struct opblob_spec spec;
	json_t *params = json_pack("{s:b}", "purge", 1);
	size_t len;
	FILE *f;
	int rc = -1;

	(void) snprintf(blobpath, sizeof(blobpath), "%s/job.json", dir);
	(void) snprintf(sigpath, sizeof(sigpath), "%s.sig", blobpath);
	(void) unlink(sigpath);
	memset(&spec, 0, sizeof(spec));
	spec.op = OPBLOB_OP_DESTROY;
	spec.host_id = HOST;
	spec.has_guest = 1;
	spec.guest_id = 101;
	spec.not_before = (int64_t)time(NULL);
	spec.not_after = spec.not_before + 3600;
	spec.params = params;
	if (params == NULL || opblob_make(&spec, blob, blob_len, NULL) != 0)
		goto out;
	if ((f = fopen(blobpath, "wb")) == NULL)
		goto out;
	if (fwrite(*blob, 1, *blob_len, f) != *blob_len) {
		(void) fclose(f);
		goto out;
	}
	(void) fclose(f);
	if (run(sg) != 0 || (*sig = slurp(sigpath, &len)) == NULL)
		goto out;
	rc = 0;
out:
	json_decref(params);
	return rc;
}

struct accept_result {
	double	ref, acc, ratio, rmin, rmax;		/* batch */
	double	acc1, ratio1, rmin1, rmax1;		/* one job a commit */
	double	pages1, pagesb;				/* WAL pages per job */
};

/* WAL frames written by commits (sqlite3_wal_hook), as bench-engine. */
struct walcount {
	int	last;
	long	frames;
};

static int
wal_hook(void *ctx, sqlite3 *h, const char *name, int npages)
{
	struct walcount *w = ctx;

	(void) name;
	/* A reset WAL (after a checkpoint) starts counting from 0 again. */
	w->frames += npages >= w->last ? npages - w->last : npages;
	w->last = npages;
	if (npages >= 1000)
		(void) sqlite3_wal_checkpoint_v2(h, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

/* Jobs [from, to) into the inbox, one commit (not measured). */
static void
arrive(struct db *db, char **blobs, const size_t *lens, char **sigs,
    int from, int to)
{
	struct inbox_entry ie;
	struct err err;
	int i;

	err_init(&err);
	if (db_begin(db, &err) != 0)
		exit(1);
	for (i = from; i < to; i++) {
		memset(&ie, 0, sizeof(ie));
		ie.received_at = (int64_t)time(NULL);
		ie.blob = blobs[i];
		ie.blob_len = lens[i];
		ie.signature = sigs[i];
		ie.state = INBOX_NEW;
		if (inbox_add(db, &ie, NULL, &err) != 0) {
			fprintf(stderr, "bench-verify: inbox: %s\n",
			    err_msg(&err));
			exit(1);
		}
	}
	if (db_commit(db, &err) != 0)
		exit(1);
}

/* intake_run() over what is in the inbox: want jobs must be accepted. */
static void
intake(struct gate *g, size_t want)
{
	struct intake_stats st;
	struct err err;

	memset(&st, 0, sizeof(st));
	err_init(&err);
	if (intake_run(g, 0, &st, &err) != 0) {
		fprintf(stderr, "bench-verify: intake: %s\n", err_msg(&err));
		exit(1);
	}
	if (st.authorized != want) {
		fprintf(stderr, "bench-verify: %zu of %zu jobs accepted (%zu "
		    "rejected)\n", st.authorized, want, st.rejected);
		exit(1);
	}
}

static void
median_spread(double *v, int n, double *med, double *lo, double *hi)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	*med = v[n / 2];
	if (lo != NULL)
		*lo = v[0];
	if (hi != NULL)
		*hi = v[n - 1];
}

/*
 * rounds x m signed jobs through intake_run(), each round three ways,
 * interleaved (the order rotates every round):
 *   reference  m x (raw EVP verify + one in-place 4 KiB pwrite +
 *              fdatasync);
 *   batch      m jobs delivered together (one GET /signed-ops) and
 *              decided by one intake_run(): one commit;
 *   one job    m x (one job delivered, one intake_run(): one commit).
 */
static void
bench_accept(const char *dir, const struct sample *ed,
    const struct signers *set, int rounds, int m, struct accept_result *out)
{
	struct gate_config gc;
	struct walcount wc;
	struct raw_ed x;
	struct gate *g = NULL;
	struct db *db = NULL;
	struct err err;
	char path[4200], key[4200], block[4096], **sigs, **blobs;
	size_t *lens;
	double *ra = calloc((size_t)rounds, sizeof(double)),
	    *r1 = calloc((size_t)rounds, sizeof(double)),
	    *rr = calloc((size_t)rounds, sizeof(double)),
	    *q = calloc((size_t)rounds, sizeof(double)),
	    *q1 = calloc((size_t)rounds, sizeof(double)), t0;
	long frames1 = 0, framesb = 0, f0;
	int fd, i, r, k, seeded = 0, n = rounds * m * 2, next = 0;
	long slot = 0;

	sigs = calloc((size_t)n, sizeof(*sigs));
	blobs = calloc((size_t)n, sizeof(*blobs));
	lens = calloc((size_t)n, sizeof(*lens));
	if (ra == NULL || r1 == NULL || rr == NULL || q == NULL ||
	    q1 == NULL || sigs == NULL || blobs == NULL || lens == NULL)
		exit(1);
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	(void) snprintf(path, sizeof(path), "%s/accept.db", dir);
	err_init(&err);
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE | DB_OPEN_NO_BACKUP,
	    &db, &err) != 0 || signers_seed_db(db, set, "file:bench", "",
	    (int64_t)time(NULL), &seeded, &err) != 0) {
		fprintf(stderr, "bench-verify: %s\n", err_msg(&err));
		exit(1);
	}
	memset(&gc, 0, sizeof(gc));
	gc.host_id = HOST;
	gc.clock_skew_s = 120;
	gc.max_window_s = 86400;
	gc.sign_request_ttl_s = 3600;
	if (gate_new(db, &gc, NULL, NULL, &g, &err) != 0) {
		fprintf(stderr, "bench-verify: gate: %s\n", err_msg(&err));
		exit(1);
	}
	(void) snprintf(key, sizeof(key), "%s/%s", dir, ed->name);
	for (i = 0; i < n; i++)
		if (sign_job(dir, key, &blobs[i], &lens[i], &sigs[i]) != 0) {
			fprintf(stderr, "bench-verify: cannot sign a job\n");
			exit(1);
		}
	/* The reference's file: written through once, then overwritten. */
	(void) snprintf(path, sizeof(path), "%s/ref.bin", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0) {
		perror(path);
		exit(1);
	}
	(void) unlink(path);
	memset(block, 0, sizeof(block));
	for (i = 0; i < 1024; i++)
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			exit(1);
	if (fsync(fd) != 0)
		exit(1);
	memset(block, 0x5a, sizeof(block));
	raw_setup(ed, &x);
	memset(&wc, 0, sizeof(wc));
	(void) sqlite3_wal_hook(db_handle(db), wal_hook, &wc);
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < 3; k++) {
			switch ((k + r) % 3) {
			case 0:
				t0 = now_s();
				for (i = 0; i < m; i++, slot++) {
					raw_verify(&x);
					if (pwrite(fd, block, sizeof(block),
					    (off_t)(slot % 1024) * 4096) !=
					    (ssize_t)sizeof(block) ||
					    fdatasync(fd) != 0)
						exit(1);
				}
				rr[r] = m / (now_s() - t0);
				break;
			case 1:
				arrive(db, blobs, lens, sigs, next, next + m);
				next += m;
				f0 = wc.frames;
				t0 = now_s();
				intake(g, (size_t)m);
				ra[r] = m / (now_s() - t0);
				framesb += wc.frames - f0;
				break;
			default:
				t0 = 0;
				for (i = 0; i < m; i++) {
					arrive(db, blobs, lens, sigs, next,
					    next + 1);
					next++;
					f0 = wc.frames;
					t0 -= now_s();
					intake(g, 1);
					t0 += now_s();
					frames1 += wc.frames - f0;
				}
				r1[r] = m / t0;
				break;
			}
		}
	}
	for (r = 0; r < rounds; r++) {
		q[r] = ra[r] / rr[r];
		q1[r] = r1[r] / rr[r];
	}
	raw_free(&x);
	(void) close(fd);
	median_spread(ra, rounds, &out->acc, NULL, NULL);
	median_spread(r1, rounds, &out->acc1, NULL, NULL);
	median_spread(rr, rounds, &out->ref, NULL, NULL);
	median_spread(q, rounds, &out->ratio, &out->rmin, &out->rmax);
	median_spread(q1, rounds, &out->ratio1, &out->rmin1, &out->rmax1);
	out->pages1 = (double)frames1 / (rounds * m);
	out->pagesb = (double)framesb / (rounds * m);
	for (i = 0; i < n; i++) {
		free(sigs[i]);
		free(blobs[i]);
	}
	free(sigs);
	free(blobs);
	free(lens);
	free(ra);
	free(r1);
	free(rr);
	free(q);
	free(q1);
	gate_free(g);
	if (getenv("BENCH_KEEP") != NULL) {
		/* Its WAL as it stands (closing checkpoints and removes it). */
		char *cp[] = { "cp", path, NULL, NULL };

		(void) snprintf(path, sizeof(path), "%s/accept.db-wal", dir);
		(void) snprintf(key, sizeof(key), "%s/kept.db-wal", dir);
		cp[2] = key;
		(void) run(cp);
		(void) snprintf(path, sizeof(path), "%s/accept.db", dir);
		(void) snprintf(key, sizeof(key), "%s/kept.db", dir);
		(void) run(cp);
	}
	db_close(db);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "per-round", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct accept_result ar;
	int c, rounds = 15, m = 20, quick = 0;
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

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'm':
			m = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench-verify [--quick] "
			    "[--rounds N] [--per-round M]\n");
			return 64;
		}
	}
	if (quick) {
		rounds = 2;
		m = 3;
		secs = 0.05;
	}
	if (rounds < 1 || m < 1) {
		fprintf(stderr, "bench-verify: --rounds and --per-round >= 1\n");
		return 64;
	}
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
	bench_accept(dir, &s[0], set, rounds, m, &ar);
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
	printf("bench-verify: accept path = intake_run() on signed destroy "
	    "jobs (verify, replay\n  check, op, classification, audit, nonce, "
	    "inbox; durable commit);\n  reference = raw EVP Ed25519 verify + "
	    "in-place 4 KiB pwrite + fdatasync per job;\n  interleaved, median "
	    "of %d rounds of %d jobs each way\n", rounds, m);
	printf("  %-32s %10.1f /s  (%.1f WAL pages per job)\n", "accept, "
	    "one job per commit", ar.acc1, ar.pages1);
	printf("  %-32s %10.1f /s  (%.1f WAL pages per job)\n", "accept, "
	    "batch delivered together", ar.acc, ar.pagesb);
	printf("  %-32s %10.1f /s\n", "reference", ar.ref);
	printf("  %-32s %10.2f (spread %.2f..%.2f; target >= 0.85)\n",
	    "ratio one job/reference", ar.ratio1, ar.rmin1, ar.rmax1);
	printf("  %-32s %10.2f (spread %.2f..%.2f; target >= 0.85)\n",
	    "ratio batch/reference", ar.ratio, ar.rmin, ar.rmax);
	printf("BENCH\tverify accept + nonce commit, batch %d\t%.3f\t/s\t%.3f\t"
	    "%.3f\t>=0.85x\t%s\tinterleaved, median of %d rounds, ratio "
	    "spread %.2f..%.2f; %d jobs delivered together, one commit, "
	    "%.1f WAL pages a job\n", m, ar.acc, ar.ref, ar.ratio,
	    ar.ratio >= 0.85 ? "pass" : "fail", rounds, ar.rmin, ar.rmax, m,
	    ar.pagesb);
	printf("BENCH\tverify accept + nonce commit, 1 job\t%.3f\t/s\t%.3f\t"
	    "%.3f\t>=0.85x\t%s\tinterleaved, median of %d rounds, ratio "
	    "spread %.2f..%.2f; one job a commit, %.1f WAL pages a job\n",
	    ar.acc1, ar.ref, ar.ratio1, ar.ratio1 >= 0.85 ? "pass" : "fail",
	    rounds, ar.rmin1, ar.rmax1, ar.pages1);
	printf("BENCH\tverify pipeline, crypto only\t%.3f\t/s\t%.3f\t%.3f\t"
	    ">=0.85x\t%s\tsequential, %.2f s each (no nonce, no disk)\n",
	    pipe_ed, raw_ed, pipe_ed / raw_ed, pipe_ed / raw_ed >= 0.85 ?
	    "pass" : "fail", secs);
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		free(s[i].blob);
		free(s[i].sig);
	}
	signers_free(set);
	/* BENCH_KEEP=1: the scratch directory stays, for inspection. */
	if (getenv("BENCH_KEEP") != NULL)
		fprintf(stderr, "bench-verify: kept %s\n", dir);
	else
		(void) run(rm);
	return 0;
}
