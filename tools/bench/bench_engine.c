/*
 * bench-engine — the engine's budgets (issue 15):
 *  1. durable transitions, one lane: sm_step (one transaction each, WAL,
 *     synchronous=FULL) against the honest raw reference, an in-place
 *     4 KiB pwrite + fdatasync of a preallocated, already written file
 *     (what a WAL does once it wraps); target >= 0.5x;
 *  2. group commit: 50 lanes ready in one tick, driven by the engine
 *     itself (engine_step with engine_config.group_commit, an executor
 *     that queues its requests as the agent's does: tick_exec.c) until
 *     all 50 ops succeeded, against the same reference, in transitions
 *     per second; target >= 5x.  The same engine without group commit
 *     (a commit per transition) is measured in the same rounds;
 *  3. WAL pages (frames) per transition, counted with sqlite3_wal_hook;
 *  4. plan, 2,000 guests all drifting: desired and actual loaded from the
 *     database, the active ops listed, the plan computed and its ops
 *     created in one committed transaction; p50/p90, target p90 < 20 ms.
 *
 * Method: the reference and the path measured alternate round by round
 * in the same run (the order flips every round), each round's ratio is
 * taken, and the median of N rounds is printed with its spread (min and
 * max of the per-round ratios).
 *
 *   bench-engine [-q] [-p] [-d DIR] [-r ROUNDS] [-m PER_ROUND] [-g GUESTS]
 *
 * -q is the quick mode (a smoke run: few rounds, few guests); -p runs
 * the plan alone (for profiling it: perf record bench-engine -p).  DIR
 * (default $TMPDIR or /tmp) holds the scratch files; it is the file
 * system measured.  Each figure is also printed as one line
 * "BENCH<TAB>name<TAB>figure<TAB>unit<TAB>reference<TAB>ratio<TAB>
 * target<TAB>pass|fail<TAB>method" for tools/bench/run-all.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/log.h"
#include "engine/norm.h"
#include "engine/plan.h"
#include "engine/sm.h"
#include "store/actual.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/ops.h"
#include "tick_exec.h"

#define T0		1780000000
#define REF_SLOTS	1024		/* 4 MiB preallocated reference */
#define LANES		50		/* group commit: lanes in one tick */

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

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n) (sorts v). */
static double
quantile(double *v, int n, double q)
{
	int i;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	i = (int)(q * (n - 1) + 0.5);
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static void
bench_line(const char *name, double fig, const char *unit, double ref,
    double ratio, const char *target, int pass, const char *method)
{
	printf("BENCH\t%s\t%.3f\t%s\t%.3f\t%.3f\t%s\t%s\t%s\n", name, fig,
	    unit, ref, ratio, target, pass ? "pass" : "fail", method);
}

/*
 * The reference: a 4 MiB file written through once and synced, then
 * overwritten in place one 4 KiB block + fdatasync at a time, cycling
 * (a wrapped WAL: no allocation, no size change, data only).
 */
struct ref {
	int	fd;
	long	next;
};

static void
ref_open(struct ref *r, const char *dir)
{
	char path[4200], block[4096];
	int i;

	(void) snprintf(path, sizeof(path), "%s/ref.bin", dir);
	if ((r->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		die_errno(path);
	(void) unlink(path);
	memset(block, 0, sizeof(block));
	for (i = 0; i < REF_SLOTS; i++)
		if (write(r->fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			die_errno("ref preallocate");
	if (fsync(r->fd) != 0)
		die_errno("ref fsync");
	r->next = 0;
}

/* m overwrites, each synced; their rate per second. */
static double
ref_round(struct ref *r, int m)
{
	char block[4096];
	double t0;
	int i;

	memset(block, 0x5a, sizeof(block));
	t0 = now_s();
	for (i = 0; i < m; i++, r->next++)
		if (pwrite(r->fd, block, sizeof(block),
		    (off_t)(r->next % REF_SLOTS) * 4096) !=
		    (ssize_t)sizeof(block) || fdatasync(r->fd) != 0)
			die_errno("ref write");
	return m / (now_s() - t0);
}

/* WAL frames written, from the WAL hook (frames in the WAL per commit). */
struct walcount {
	long	last;		/* frames in the WAL after the last commit */
	long	frames;		/* counted since the last reset */
	long	commits;
	int	wrapped;	/* the WAL started again from its beginning */
};

static int
wal_hook(void *ctx, sqlite3 *h, const char *name, int npages)
{
	struct walcount *w = ctx;

	(void) name;
	/* A reset WAL (after a checkpoint) starts counting from 0 again. */
	if (npages < w->last)
		w->wrapped = 1;
	w->frames += npages >= w->last ? npages - w->last : npages;
	w->last = npages;
	w->commits++;
	if (npages >= 1000) {
		(void) sqlite3_wal_checkpoint_v2(h, NULL,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return SQLITE_OK;
}

/* The op walk: new -> authorized -> submitting -> running -> succeeded. */
static const enum sm_event walk[] = { SM_EV_CLASSIFIED_BENIGN,
    SM_EV_SUBMIT, SM_EV_TASK_STARTED, SM_EV_TASK_OK };
static const enum sm_state from[] = { SM_NEW, SM_AUTHORIZED,
    SM_SUBMITTING, SM_RUNNING };

struct durable {
	struct db	*db;
	struct walcount	 wal;
	int64_t		*ids;
	int		 nops;
	int		 next_op;	/* the next unused op */
	int		 k;		/* single lane: step of the current op */
	int64_t		 cur;		/* single lane: the current op */
};

static void
args_init(struct sm_args *a)
{
	memset(a, 0, sizeof(*a));
	a->now = T0 + 1;
	a->upid = "UPID:pve-01:00001234:00ABCDEF:6A000000:vzstart:101:"
	    "felhom@pve!agent:";
}

static int64_t
take_op(struct durable *d)
{
	if (d->next_op >= d->nops) {
		fprintf(stderr, "bench-engine: out of ops\n");
		exit(1);
	}
	return d->ids[d->next_op++];
}

/* One lane: m transitions, each its own transaction (sm_step). */
static double
lane_round(struct durable *d, int m)
{
	struct sm_args a;
	struct err err;
	double t0;
	int j;

	args_init(&a);
	t0 = now_s();
	for (j = 0; j < m; j++) {
		if (d->k == 0)
			d->cur = take_op(d);
		err_init(&err);
		if (sm_step(d->db, d->cur, from[d->k], walk[d->k], &a, NULL,
		    &err) != 0)
			die("sm_step", &err);
		d->k = (d->k + 1) % 4;
	}
	return m / (now_s() - t0);
}

struct durable_result {
	double	ref, lane, ratio, rmin, rmax;		/* single lane */
	double	gref, group, gratio, gmin, gmax;	/* group commit */
	double	nogroup;	/* the same engine, a commit a transition */
	double	commits_group, commits_nogroup;	/* per round (LANES ops) */
	long	transitions;			/* per round */
	double	pages_lane;
};

/*
 * Group commit through the engine (tick_exec.c): rounds of LANES ops
 * run to success by one engine with group commit and one without,
 * alternating with the reference, on a database of their own (the
 * lane rounds' pool of new ops would be the engine's work too).
 */
static void
group_bench(const char *dir, int rounds, int m, struct ref *ref,
    struct durable_result *out)
{
	struct tick_bench *on = NULL, *off = NULL;
	struct db *db;
	struct err err;
	char path[4200], p2[4300];
	double *gr = calloc((size_t)rounds, sizeof(double)),
	    *sr = calloc((size_t)rounds, sizeof(double)),
	    *grr = calloc((size_t)rounds, sizeof(double)),
	    *gq = calloc((size_t)rounds, sizeof(double));
	long tr, cm, con = 0, coff = 0;
	int r;

	if (gr == NULL || sr == NULL || grr == NULL || gq == NULL)
		exit(1);
	(void) snprintf(path, sizeof(path), "%s/tick.db", dir);
	err_init(&err);
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE | DB_OPEN_NO_BACKUP,
	    &db, &err) != 0)
		die("open", &err);
	if (tick_bench_new(db, 1, &on, &err) != 0 ||
	    tick_bench_new(db, 0, &off, &err) != 0)
		die("engine", &err);
	/* Warm-up: the WAL grows to its working size and wraps. */
	for (r = 0; r < 4; r++)
		(void) tick_bench_round(off, LANES, &tr, &cm);
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			grr[r] = ref_round(ref, m);
			gr[r] = tick_bench_round(on, LANES, &tr, &cm);
			con += cm;
			sr[r] = tick_bench_round(off, LANES, &tr, &cm);
			coff += cm;
		} else {
			sr[r] = tick_bench_round(off, LANES, &tr, &cm);
			coff += cm;
			gr[r] = tick_bench_round(on, LANES, &tr, &cm);
			con += cm;
			grr[r] = ref_round(ref, m);
		}
		gq[r] = gr[r] / grr[r];
	}
	out->transitions = tr;
	out->commits_group = (double)con / rounds;
	out->commits_nogroup = (double)coff / rounds;
	out->gref = quantile(grr, rounds, 0.5);
	out->group = quantile(gr, rounds, 0.5);
	out->nogroup = quantile(sr, rounds, 0.5);
	out->gratio = quantile(gq, rounds, 0.5);
	out->gmin = gq[0];
	out->gmax = gq[rounds - 1];
	tick_bench_free(on);
	tick_bench_free(off);
	db_close(db);
	(void) unlink(path);
	(void) snprintf(p2, sizeof(p2), "%s-wal", path);
	(void) unlink(p2);
	(void) snprintf(p2, sizeof(p2), "%s-shm", path);
	(void) unlink(p2);
	free(gr);
	free(sr);
	free(grr);
	free(gq);
}

static void
durable_bench(const char *dir, int rounds, int m, struct durable_result *out)
{
	struct durable d;
	struct ref ref;
	struct ops_new on;
	struct err err;
	char path[4200], key[64];
	double *lr = calloc((size_t)rounds, sizeof(double)),
	    *rr = calloc((size_t)rounds, sizeof(double)),
	    *q = calloc((size_t)rounds, sizeof(double));
	long lane_frames = 0, lane_n = 0;
	int i, r;

	if (lr == NULL || rr == NULL || q == NULL)
		exit(1);
	memset(&d, 0, sizeof(d));
	ref_open(&ref, dir);
	(void) snprintf(path, sizeof(path), "%s/bench.db", dir);
	err_init(&err);
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE | DB_OPEN_NO_BACKUP,
	    &d.db, &err) != 0)
		die("open", &err);
	d.nops = rounds * ((m + 3) / 4 + 1) + 400;
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
	(void) sqlite3_wal_hook(db_handle(d.db), wal_hook, &d.wal);
	/*
	 * Warm-up, not counted: the WAL grows to its working size once
	 * (1,000 frames, the automatic checkpoint's) and then starts again
	 * from its beginning, overwriting in place: what a running agent's
	 * WAL does after its first checkpoint (no journal_size_limit), and
	 * what the reference does.
	 */
	(void) ref_round(&ref, m);
	while (!d.wal.wrapped)
		(void) lane_round(&d, 4);
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0)
			rr[r] = ref_round(&ref, m);
		d.wal.frames = 0;
		lr[r] = lane_round(&d, m);
		lane_frames += d.wal.frames;
		lane_n += m;
		if (r % 2 == 1)
			rr[r] = ref_round(&ref, m);
		q[r] = lr[r] / rr[r];
	}
	group_bench(dir, rounds, m, &ref, out);
	out->ref = quantile(rr, rounds, 0.5);
	out->lane = quantile(lr, rounds, 0.5);
	out->ratio = quantile(q, rounds, 0.5);
	out->rmin = q[0];
	out->rmax = q[rounds - 1];
	out->pages_lane = (double)lane_frames / (double)lane_n;
	(void) close(ref.fd);
	free(d.ids);
	db_close(d.db);
	(void) unlink(path);
	{
		char p2[4300];

		(void) snprintf(p2, sizeof(p2), "%s-wal", path);
		(void) unlink(p2);
		(void) snprintf(p2, sizeof(p2), "%s-shm", path);
		(void) unlink(p2);
	}
	free(lr);
	free(rr);
	free(q);
}

/* felhom.desired/v1 guests, all drifting from what build_actual holds. */
static json_t *
desired_doc(int n)
{
	json_t *guests = json_array(), *g;
	int i;

	if (guests == NULL)
		exit(1);
	for (i = 0; i < n; i++) {
		g = json_pack("{s:i,s:s,s:{s:s,s:i,s:i,s:i,s:b,s:s,s:[ss],"
		    "s:{s:b}}}", "vmid", 100 + i, "state", i % 4 == 3 ?
		    "stopped" : "running", "spec", "hostname", "guest",
		    "cores", 2, "memory_mib", 2048, "swap_mib", 512, "onboot", 1,
		    "description", "managed by felhom", "tags", "web", "prod",
		    "features", "nesting", 1);
		if (g == NULL || json_array_append_new(guests, g) != 0)
			exit(1);
	}
	return guests;
}

static struct actual_set *
build_actual(int n)
{
	struct actual_set *a = actual_set_new();
	struct actual_guest g;
	json_t *config;
	int i;

	if (a == NULL)
		exit(1);
	a->observed_at = T0;
	for (i = 0; i < n; i++) {
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
		if (config == NULL || g.status == NULL ||
		    norm_spec_from_config(config, &g.spec, NULL) != 0)
			exit(1);
		g.config = config;
		if (actual_set_add(a, &g, NULL) != 0)
			exit(1);
	}
	return a;
}

/* CPU seconds of this (single-threaded) process: less moved by load. */
static double
cpu_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
copy_file(const char *src, const char *dst)
{
	char buf[65536];
	ssize_t n;
	int in, out;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		die_errno(src);
	if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		die_errno(dst);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			die_errno(dst);
	if (n < 0)
		die_errno(src);
	(void) close(in);
	(void) close(out);
}

static void
unlink_db(const char *path)
{
	char p2[4300];

	(void) unlink(path);
	(void) snprintf(p2, sizeof(p2), "%s-wal", path);
	(void) unlink(p2);
	(void) snprintf(p2, sizeof(p2), "%s-shm", path);
	(void) unlink(p2);
}

/* An ascending list of the vmids with an active op (the engine's busy). */
static int64_t *
busy_of(struct ops_row **ops, size_t n, size_t *nout)
{
	int64_t *b = calloc(n + 1, sizeof(*b));
	size_t i;

	if (b == NULL)
		exit(1);
	*nout = 0;
	for (i = 0; i < n; i++)
		if (ops[i]->vmid != 0 && (*nout == 0 ||
		    b[*nout - 1] != ops[i]->vmid))
			b[(*nout)++] = ops[i]->vmid;
	return b;
}

/*
 * One planning cycle from the database: what engine_plan() does (load,
 * compute, create in one transaction) with ops_create per action.
 */
/*
 * Milliseconds of each phase of one cycle: load, compute, create,
 * commit, and free (what was loaded and computed, released).
 */
struct plan_phases {
	double	load, compute, create, commit, release;
	double	cpu;	/* the whole cycle's CPU time */
};

static double
plan_once(struct db *db, size_t *nactions, struct plan_phases *ph)
{
	struct desired_set *d = NULL;
	struct actual_set *a = NULL;
	struct ops_row **ops = NULL;
	struct plan_input in;
	struct ops_new on;
	struct plan *p;
	struct err err;
	int64_t *busy, id;
	char key[96];
	size_t nops = 0, nbusy, i;
	double t0, c0;

	err_init(&err);
	c0 = cpu_s();
	t0 = now_s();
	if (desired_load(db, &d, &err) != 0 ||
	    actual_load_specs(db, &a, &err) != 0 ||
	    ops_list_active(db, &ops, &nops, &err) != 0)
		die("load", &err);
	ph->load = (now_s() - t0) * 1000.0;
	busy = busy_of(ops, nops, &nbusy);
	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.actual = a;
	in.previous = a;
	in.busy = busy;
	in.nbusy = nbusy;
	if (plan_compute(&in, &p, &err) != 0)
		die("plan", &err);
	ph->compute = (now_s() - t0) * 1000.0 - ph->load;
	if (db_begin(db, &err) != 0)
		die("begin", &err);
	for (i = 0; i < p->nactions; i++) {
		memset(&on, 0, sizeof(on));
		(void) snprintf(key, sizeof(key), "desired/%" PRId64 "/%"
		    PRId64 "/%s/%s", d->generation, p->actions[i].vmid,
		    ops_kind_name(p->actions[i].kind), p->actions[i].digest);
		on.vmid = p->actions[i].vmid;
		on.kind = p->actions[i].kind;
		on.source = OPS_SOURCE_DESIRED;
		on.class = p->actions[i].class;
		on.params = p->actions[i].params;
		on.params_text = p->actions[i].params_text;
		on.why = p->actions[i].why;
		on.idem_key = key;
		on.generation = d->generation;
		on.now = T0;
		if (ops_create(db, &on, &id, &err) != 0)
			die("create", &err);
	}
	ph->create = (now_s() - t0) * 1000.0 - ph->load - ph->compute;
	if (db_commit(db, &err) != 0)
		die("commit", &err);
	ph->commit = (now_s() - t0) * 1000.0 - ph->load - ph->compute -
	    ph->create;
	*nactions = p->nactions;
	plan_free(p);
	free(busy);
	ops_rows_free(ops, nops);
	actual_set_free(a);
	desired_set_free(d);
	ph->release = (now_s() - t0) * 1000.0 - ph->load - ph->compute -
	    ph->create - ph->commit;
	ph->cpu = (cpu_s() - c0) * 1000.0;
	return (now_s() - t0) * 1000.0;
}

struct plan_result {
	double			p50, p90, min, max;
	struct plan_phases	ph;	/* the median of each phase */
	size_t			nactions;
};

static void
plan_bench(const char *dir, int n, int rounds, struct plan_result *out)
{
	char tmpl[4200], work[4200];
	struct actual_set *a;
	struct db *db;
	struct err err;
	json_t *guests;
	double *t = calloc((size_t)rounds, sizeof(double)),
	    *pl = calloc((size_t)rounds, sizeof(double)),
	    *pc = calloc((size_t)rounds, sizeof(double)),
	    *pn = calloc((size_t)rounds, sizeof(double)),
	    *pm = calloc((size_t)rounds, sizeof(double)),
	    *pf = calloc((size_t)rounds, sizeof(double)),
	    *pu = calloc((size_t)rounds, sizeof(double));
	struct plan_phases ph;
	int r;

	if (t == NULL || pl == NULL || pc == NULL || pn == NULL || pm == NULL ||
	    pf == NULL || pu == NULL)
		exit(1);
	(void) snprintf(tmpl, sizeof(tmpl), "%s/plan-template.db", dir);
	(void) snprintf(work, sizeof(work), "%s/plan.db", dir);
	err_init(&err);
	if (db_open(tmpl, DB_OPEN_CREATE | DB_OPEN_MIGRATE |
	    DB_OPEN_NO_BACKUP, &db, &err) != 0)
		die("open", &err);
	guests = desired_doc(n);
	a = build_actual(n);
	if (db_begin(db, &err) != 0 ||
	    desired_replace(db, 1, guests, NULL, &err) != 0 ||
	    actual_replace(db, a, &err) != 0 || db_commit(db, &err) != 0)
		die("seed", &err);
	json_decref(guests);
	actual_set_free(a);
	db_close(db);
	for (r = 0; r < rounds; r++) {
		unlink_db(work);
		copy_file(tmpl, work);
		if (db_open(work, DB_OPEN_NO_BACKUP, &db, &err) != 0)
			die("open", &err);
		t[r] = plan_once(db, &out->nactions, &ph);
		pl[r] = ph.load;
		pc[r] = ph.compute;
		pn[r] = ph.create;
		pm[r] = ph.commit;
		pf[r] = ph.release;
		pu[r] = ph.cpu;
		db_close(db);
	}
	unlink_db(work);
	unlink_db(tmpl);
	out->p50 = quantile(t, rounds, 0.5);
	out->p90 = quantile(t, rounds, 0.9);
	out->min = t[0];
	out->max = t[rounds - 1];
	out->ph.load = quantile(pl, rounds, 0.5);
	out->ph.compute = quantile(pc, rounds, 0.5);
	out->ph.create = quantile(pn, rounds, 0.5);
	out->ph.commit = quantile(pm, rounds, 0.5);
	out->ph.release = quantile(pf, rounds, 0.5);
	out->ph.cpu = quantile(pu, rounds, 0.5);
	free(t);
	free(pl);
	free(pc);
	free(pn);
	free(pm);
	free(pf);
	free(pu);
}

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	struct durable_result dr;
	struct plan_result pr;
	char dir[4096], method[512];
	int c, quick = 0, plan_only = 0, rounds = 15, m = 40, guests = 2000;
	int prounds = 25;

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	while ((c = getopt(argc, argv, "qpd:r:m:g:")) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			break;
		case 'p':
			plan_only = 1;
			break;
		case 'd':
			base = optarg;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'm':
			m = atoi(optarg);
			break;
		case 'g':
			guests = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench-engine [-q] [-p] [-d DIR] "
			    "[-r ROUNDS] [-m PER_ROUND] [-g GUESTS]\n");
			return 64;
		}
	}
	if (quick) {
		rounds = 3;
		m = 8;
		guests = 200;
		prounds = 3;
	}
	if (rounds < 1 || m < 4 || guests < 1) {
		fprintf(stderr, "bench-engine: -r >= 1, -m >= 4, -g >= 1\n");
		return 64;
	}
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	(void) snprintf(dir, sizeof(dir), "%s/bench-engine-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "bench-engine: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (plan_only) {
		plan_bench(dir, guests, prounds, &pr);
		(void) rmdir(dir);
		printf("plan %d guests, all drift: p50 %.2f ms  p90 %.2f ms  "
		    "(min %.2f, max %.2f; %d rounds)\n  phases (median): load "
		    "%.2f ms, compute %.2f ms, create %.2f ms, commit %.2f ms, "
		    "free %.2f ms\n  CPU time of a cycle (median): %.2f ms\n",
		    guests, pr.p50, pr.p90, pr.min, pr.max, prounds,
		    pr.ph.load, pr.ph.compute, pr.ph.create, pr.ph.commit,
		    pr.ph.release, pr.ph.cpu);
		return 0;
	}
	durable_bench(dir, rounds, m, &dr);
	plan_bench(dir, guests, prounds, &pr);
	(void) rmdir(dir);

	printf("file system: %s\n", base);
	printf("reference: in-place pwrite(4 KiB) + fdatasync of a "
	    "preallocated 4 MiB file;\n  interleaved with the path measured, "
	    "order flipped each round; median of %d rounds,\n  spread = "
	    "min..max of the per-round ratios\n", rounds);
	printf("durable transitions, one lane (sm_step): %9.1f /s  reference "
	    "%9.1f /s  ratio %.2f (%.2f..%.2f)  target >= 0.5\n", dr.lane,
	    dr.ref, dr.ratio, dr.rmin, dr.rmax);
	printf("  WAL frames per transition: %.2f (%d per round)\n",
	    dr.pages_lane, m);
	printf("group commit, %d lanes ready in one tick (engine_step): "
	    "%9.1f /s  reference %9.1f /s  ratio %.2f (%.2f..%.2f)  target "
	    ">= 5\n", LANES, dr.group, dr.gref, dr.gratio, dr.gmin, dr.gmax);
	printf("  a round: %d ops to success, %ld transitions, %.1f commits; "
	    "the same engine\n  without group commit: %9.1f /s, %.1f "
	    "commits\n", LANES, dr.transitions, dr.commits_group, dr.nogroup,
	    dr.commits_nogroup);
	printf("plan %d guests, all drift (load desired+actual+ops, compute, "
	    "create %zu ops, commit):\n  p50 %.2f ms  p90 %.2f ms  "
	    "(min %.2f, max %.2f; %d rounds)  target p90 < 20 ms\n", guests,
	    pr.nactions, pr.p50, pr.p90, pr.min, pr.max, prounds);
	printf("  phases (median): load %.2f ms, compute %.2f ms, create %.2f "
	    "ms, commit %.2f ms, free %.2f ms\n  CPU time of a cycle "
	    "(median): %.2f ms\n", pr.ph.load, pr.ph.compute, pr.ph.create,
	    pr.ph.commit, pr.ph.release, pr.ph.cpu);

	(void) snprintf(method, sizeof(method), "interleaved, median of %d "
	    "rounds, ratio spread %.2f..%.2f", rounds, dr.rmin, dr.rmax);
	bench_line("durable transitions, one lane", dr.lane, "/s", dr.ref,
	    dr.ratio, ">=0.5x", dr.ratio >= 0.5, method);
	(void) snprintf(method, sizeof(method), "engine_step, interleaved, "
	    "median of %d rounds, ratio spread %.2f..%.2f; %.1f commits a "
	    "round of %ld transitions (%.0f /s, %.1f commits without group "
	    "commit)", rounds, dr.gmin, dr.gmax, dr.commits_group,
	    dr.transitions, dr.nogroup, dr.commits_nogroup);
	bench_line("group commit, 50 lanes", dr.group, "/s", dr.gref,
	    dr.gratio, ">=5x", dr.gratio >= 5.0, method);
	(void) snprintf(method, sizeof(method), "WAL hook frame count over "
	    "%d transitions of the walk new..succeeded; reference: 7 before "
	    "issue 15", rounds * m);
	bench_line("WAL pages per transition", dr.pages_lane, "pages", 7.0,
	    dr.pages_lane / 7.0, "<7", dr.pages_lane < 7.0, method);
	(void) snprintf(method, sizeof(method), "%d guests, %d rounds, p50 "
	    "%.2f, spread %.2f..%.2f ms, CPU p50 %.2f ms", guests, prounds,
	    pr.p50, pr.min, pr.max, pr.ph.cpu);
	bench_line("plan p90, all drift", pr.p90, "ms", 20.0, pr.p90 / 20.0,
	    "<20ms", pr.p90 < 20.0, method);
	return 0;
}
