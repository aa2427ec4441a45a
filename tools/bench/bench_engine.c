/*
 * bench-engine — the engine's two budgets:
 *  1. durable transitions per second (sm_step: one transaction each, WAL,
 *     synchronous=FULL) next to the raw write+fdatasync rate of the same
 *     file system, measured in the same run; their ratio should be at
 *     least 0.5 (one fsync per transition, no more);
 *  2. the plan time for 2,000 guests (target < 20 ms).
 *
 *   bench-engine [-d DIR] [-n TRANSITIONS] [-g GUESTS]
 *
 * DIR (default $TMPDIR or /tmp) holds the scratch files; it is the file
 * system measured.  Prints figures, not a verdict (not a test).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/log.h"
#include "engine/norm.h"
#include "engine/plan.h"
#include "engine/sm.h"
#include "store/actual.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/ops.h"

#define T0	1780000000

static double
now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const struct err *err)
{
	fprintf(stderr, "bench-engine: %s: %s\n", what, err_msg(err));
	exit(1);
}

static void
die_errno(const char *what)
{
	fprintf(stderr, "bench-engine: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct durable {
	int		 fd;		/* the raw file */
	struct db	*db;
	int64_t		*ids;
	int		 nops;
	int		 next;		/* k * nops + i */
	double		 raw_s, txn_s;	/* time spent in each */
	int		 raw_n, txn_n;
};

/* m write(4 KiB) + fdatasync on the raw file (appending, like the WAL). */
static void
raw_batch(struct durable *d, int m)
{
	char block[4096];
	double t0;
	int i;

	memset(block, 0x5a, sizeof(block));
	t0 = now_s();
	for (i = 0; i < m; i++)
		if (write(d->fd, block, sizeof(block)) !=
		    (ssize_t)sizeof(block) || fdatasync(d->fd) != 0)
			die_errno("raw write");
	d->raw_s += now_s() - t0;
	d->raw_n += m;
}

/*
 * m transitions through sm_step, each its own durable transaction: the
 * ops walk new → authorized → submitting → running → succeeded.
 */
static void
txn_batch(struct durable *d, int m)
{
	static const enum sm_event walk[] = { SM_EV_CLASSIFIED_BENIGN,
	    SM_EV_SUBMIT, SM_EV_TASK_STARTED, SM_EV_TASK_OK };
	static const enum sm_state from[] = { SM_NEW, SM_AUTHORIZED,
	    SM_SUBMITTING, SM_RUNNING };
	struct sm_args a;
	struct err err;
	double t0;
	int i, k, j;

	memset(&a, 0, sizeof(a));
	a.now = T0 + 1;
	a.upid = "UPID:pve-01:00001234:00ABCDEF:6A000000:vzstart:101:"
	    "felhom@pve!agent:";
	t0 = now_s();
	for (j = 0; j < m; j++, d->next++) {
		k = d->next / d->nops;
		i = d->next % d->nops;
		err_init(&err);
		if (sm_step(d->db, d->ids[i], from[k], walk[k], &a, NULL,
		    &err) != 0)
			die("sm_step", &err);
	}
	d->txn_s += now_s() - t0;
	d->txn_n += m;
}

/*
 * n transitions and n raw syncs, interleaved in small batches so that
 * both see the same device (other load on the machine included).
 */
static void
durable_rates(const char *dir, int n, double *raw, double *txn)
{
	struct durable d;
	struct ops_new on;
	struct err err;
	char path[4096], key[64];
	int i, batch = 25;

	memset(&d, 0, sizeof(d));
	(void) snprintf(path, sizeof(path), "%s/raw.bin", dir);
	if ((d.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		die_errno(path);
	(void) unlink(path);
	(void) snprintf(path, sizeof(path), "%s/bench.db", dir);
	err_init(&err);
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE | DB_OPEN_NO_BACKUP,
	    &d.db, &err) != 0)
		die("open", &err);
	d.nops = (n + 3) / 4;
	if ((d.ids = calloc((size_t)d.nops, sizeof(*d.ids))) == NULL)
		exit(1);
	/* The ops themselves, in one transaction: not what is measured. */
	if (db_begin(d.db, &err) != 0)
		die("begin", &err);
	for (i = 0; i < d.nops; i++) {
		memset(&on, 0, sizeof(on));
		(void) snprintf(key, sizeof(key), "bench/%d", i);
		on.vmid = 100 + i % 2000;
		on.kind = OPS_KIND_START;
		on.source = OPS_SOURCE_ADMIN;
		on.class = OPS_CLASS_BENIGN;
		on.idem_key = key;
		on.now = T0;
		if (ops_create(d.db, &on, &d.ids[i], &err) != 0)
			die("create", &err);
	}
	if (db_commit(d.db, &err) != 0)
		die("commit", &err);
	while (d.txn_n < n) {
		if (batch > n - d.txn_n)
			batch = n - d.txn_n;
		raw_batch(&d, batch);
		txn_batch(&d, batch);
	}
	*raw = d.raw_n / d.raw_s;
	*txn = d.txn_n / d.txn_s;
	(void) close(d.fd);
	free(d.ids);
	db_close(d.db);
	(void) unlink(path);
	(void) snprintf(key, sizeof(key), "-wal");
	{
		char p2[4200];

		(void) snprintf(p2, sizeof(p2), "%s-wal", path);
		(void) unlink(p2);
		(void) snprintf(p2, sizeof(p2), "%s-shm", path);
		(void) unlink(p2);
	}
}

/* A desired set and the actual set it is compared with. */
static void
build_sets(int n, int drift, struct desired_set **dout,
    struct actual_set **aout)
{
	struct desired_set *d = calloc(1, sizeof(*d));
	struct actual_set *a = actual_set_new();
	struct actual_guest g;
	json_t *config;
	int i;

	if (d == NULL || a == NULL ||
	    (d->guests = calloc((size_t)n, sizeof(*d->guests))) == NULL)
		exit(1);
	d->generation = 1;
	d->nguests = (size_t)n;
	for (i = 0; i < n; i++) {
		d->guests[i].vmid = 100 + i;
		d->guests[i].state = i % 4 == 3 ? DESIRED_STOPPED :
		    DESIRED_RUNNING;
		d->guests[i].spec = json_pack("{s:s,s:i,s:i,s:i,s:b,s:s,s:[ss],"
		    "s:{s:b}}", "hostname", "guest", "cores", 2, "memory_mib",
		    drift ? 2048 : 1024, "swap_mib", 512, "onboot", 1,
		    "description", "managed by felhom", "tags", "web", "prod",
		    "features", "nesting", 1);
		config = json_pack("{s:s,s:i,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:s,"
		    "s:i}", "hostname", "guest", "cores", 2, "memory", 1024,
		    "swap", 512, "onboot", 1, "description",
		    "managed by felhom\n", "tags", "prod;web", "features",
		    "nesting=1", "rootfs", "local-lvm:vm-100-disk-0,size=8G",
		    "net0", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,"
		    "ip=dhcp,type=veth", "unprivileged", 1);
		memset(&g, 0, sizeof(g));
		g.vmid = 100 + i;
		g.status = strdup(i % 4 == 3 ? "stopped" : "running");
		if (norm_spec_from_config(config, &g.spec, NULL) != 0)
			exit(1);
		g.config = config;
		if (actual_set_add(a, &g, NULL) != 0)
			exit(1);
	}
	*dout = d;
	*aout = a;
}

/* Best of rounds, in milliseconds, and the action count. */
static double
plan_ms(int n, int drift, size_t *nactions)
{
	struct desired_set *d;
	struct actual_set *a;
	struct plan_input in;
	struct plan *p;
	struct err err;
	double best = 1e9, t0, t;
	int r;

	build_sets(n, drift, &d, &a);
	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.actual = a;
	in.previous = a;
	for (r = 0; r < 15; r++) {
		err_init(&err);
		t0 = now_s();
		if (plan_compute(&in, &p, &err) != 0)
			die("plan", &err);
		t = (now_s() - t0) * 1000.0;
		if (t < best)
			best = t;
		*nactions = p->nactions;
		plan_free(p);
	}
	actual_set_free(a);
	desired_set_free(d);
	return best;
}

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	char dir[4096];
	int c, n = 2000, guests = 2000;
	double raw, tr, per, p0, p1;
	size_t a0, a1;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	while ((c = getopt(argc, argv, "d:n:g:")) != -1) {
		switch (c) {
		case 'd':
			base = optarg;
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'g':
			guests = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench-engine [-d DIR] "
			    "[-n TRANSITIONS] [-g GUESTS]\n");
			return 64;
		}
	}
	if (n < 4 || guests < 1) {
		fprintf(stderr, "bench-engine: -n >= 4, -g >= 1\n");
		return 64;
	}
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	(void) snprintf(dir, sizeof(dir), "%s/bench-engine-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench-engine: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	durable_rates(dir, n, &raw, &tr);
	per = 1000.0 / tr;
	p0 = plan_ms(guests, 0, &a0);
	p1 = plan_ms(guests, 1, &a1);
	(void) rmdir(dir);
	printf("file system: %s\n", base);
	printf("raw write(4 KiB)+fdatasync:      %10.1f /s  (interleaved "
	    "with the transitions)\n", raw);
	printf("durable transitions (sm_step):   %10.1f /s  (%.3f ms each, "
	    "%d transitions)\n", tr, per, n);
	printf("ratio transitions/raw:           %10.2f    (target >= 0.5)\n",
	    tr / raw);
	printf("plan %d guests, no drift:      %10.2f ms (%zu actions, "
	    "target < 20 ms)\n", guests, p0, a0);
	printf("plan %d guests, all drift:     %10.2f ms (%zu actions)\n",
	    guests, p1, a1);
	return 0;
}
