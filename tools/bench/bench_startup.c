/*
 * bench-startup — start-up to READY after a clean stop (issue 15): the
 * database open with the migration check (no integrity check: that runs
 * after an unclean stop only), the newest audit seq, and the recovery of
 * 50 ops in flight (each task polled once; the poll answers "running"
 * at once, so PVE's latency is not measured) — with 100,000 and with
 * 1,000,000 journal rows.  Target: < 100 ms at 100 k, and flat: 1 M
 * within 1.5x of 100 k.
 *
 * Also the retention move (store/archive): the time of each step that
 * moves ops of the 100 k database to an archive (target: each < 10 ms,
 * the longest the engine waits for it).
 *
 *   bench-startup [-d DIR] [-n RUNS]
 *
 * The databases are built once in DIR (default /tmp/felhom-bench-startup)
 * and kept for the next run (building 1 M rows takes a minute or two),
 * built again when the schema's version changed.
 * Runs alternate between the two sizes (interleaved), warm page cache;
 * the median of RUNS (default 11) is printed with its spread (min-max).
 * Prints figures, not a verdict (not a test).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "store/archive.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"

#define T0		1780000000
#define INFLIGHT	50
#define PER_OP		5	/* journal rows per terminal op */
#define DAY		86400

static double
now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
die(const char *what, const struct err *err)
{
	fprintf(stderr, "bench-startup: %s: %s\n", what, err_msg(err));
	exit(1);
}

/* The executor of the bench: every task is still running. */
static int
x_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	(void) ctx;
	(void) upid;
	(void) err;
	*out = EXEC_TASK_RUNNING;
	*exit_out = NULL;
	return 0;
}

static const struct exec_ops xops = { .poll = x_poll };

static void
op_new(struct db *db, int64_t i, int64_t t, int64_t *id)
{
	struct ops_new on;
	char key[64];
	struct err err;

	(void) snprintf(key, sizeof(key), "bench/%lld", (long long)i);
	memset(&on, 0, sizeof(on));
	on.vmid = 100 + i % 500;
	on.kind = OPS_KIND_START;
	on.source = OPS_SOURCE_DESIRED;
	on.class = OPS_CLASS_BENIGN;
	on.why = "bench";
	on.idem_key = key;
	on.now = t;
	err_init(&err);
	if (ops_create(db, &on, id, &err) != 0)
		die("create op", &err);
}

static void
jrow(struct db *db, int64_t id, int64_t t, const char *from,
    const char *ev, const char *to)
{
	struct journal_entry je;
	struct err err;

	memset(&je, 0, sizeof(je));
	je.op_id = id;
	je.at = t;
	je.from = from;
	je.event = ev;
	je.to = to;
	err_init(&err);
	if (journal_append(db, &je, NULL, &err) != 0)
		die("journal", &err);
}

/*
 * rows journal rows: terminal ops of PER_OP rows each, ended 200 days
 * ago back to now (the older half past a 90-day retention), an audit
 * row each, and INFLIGHT ops running with a task.
 */
static void
build(const char *path, int64_t rows)
{
	static const char *const ev[PER_OP][3] = {
		{ "new", "decide", "authorized" },
		{ "authorized", "submit", "submitting" },
		{ "submitting", "accepted", "running" },
		{ "running", "task_ok", "running" },
		{ "running", "done", "succeeded" } };
	struct audit_event ae;
	struct db *db = NULL;
	struct err err;
	int64_t nops = rows / PER_OP, i, id, t, vm;
	char side[4200];
	int k;

	err_init(&err);
	(void) unlink(path);
	(void) snprintf(side, sizeof(side), "%s-wal", path);
	(void) unlink(side);
	(void) snprintf(side, sizeof(side), "%s-shm", path);
	(void) unlink(side);
	if (db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db, &err) != 0)
		die(path, &err);
	for (i = 0; i < nops + INFLIGHT; i++) {
		if (i % 5000 == 0 && (i > 0 && db_commit(db, &err) != 0))
			die("commit", &err);
		if (i % 5000 == 0 && db_begin(db, &err) != 0)
			die("begin", &err);
		t = T0 - 200 * DAY + (i * 200 * DAY) / (nops + INFLIGHT);
		op_new(db, i, t, &id);
		if (i >= nops) {
			if (ops_cas_state(db, id, "new", "running", 0, t, &vm,
			    NULL, &err) != 0 || ops_set_upid(db, id,
			    "UPID:pve1:00001234:00005678:6A000000:vzstart:100:"
			    "bench@pve!t:", &err) != 0)
				die("in flight", &err);
			jrow(db, id, t, "new", "decide", "authorized");
			continue;
		}
		for (k = 0; k < PER_OP; k++)
			jrow(db, id, t + k, ev[k][0], ev[k][1], ev[k][2]);
		if (ops_cas_state(db, id, "new", "succeeded", 1, t + PER_OP,
		    &vm, NULL, &err) != 0)
			die("end op", &err);
		memset(&ae, 0, sizeof(ae));
		ae.at = t;
		ae.event = "transition";
		ae.code = "succeeded";
		ae.op_id = id;
		if (audit_append(db, &ae, NULL, &err) != 0)
			die("audit", &err);
	}
	if (db_commit(db, &err) != 0)
		die("commit", &err);
	db_close(db);
}

static void
ensure(const char *dir, const char *name, int64_t rows, char *path,
    size_t n)
{
	char done[4200];
	struct stat sb;
	FILE *f;

	(void) snprintf(path, n, "%s/%s", dir, name);
	/*
	 * Built by this schema: a file another checkout built with a newer
	 * migration would be refused, one built by an older one migrated
	 * inside the first timed start.
	 */
	(void) snprintf(done, sizeof(done), "%s.built-v%d", path,
	    db_schema_latest());
	if (stat(done, &sb) == 0 && stat(path, &sb) == 0)
		return;
	fprintf(stderr, "bench-startup: building %s (%lld journal rows, "
	    "once)\n", path, (long long)rows);
	build(path, rows);
	if ((f = fopen(done, "w")) != NULL)
		(void) fclose(f);
}

/* Open, migration check, newest audit seq, recovery; in ms. */
static double
start(const char *path, size_t *examined)
{
	struct engine_recovery rec;
	struct engine *e = NULL;
	struct exec x = { &xops, NULL };
	struct db *db = NULL;
	struct err err;
	int64_t seq;
	int version;
	double t0 = now_ms(), t;

	err_init(&err);
	if (db_open(path, DB_OPEN_MIGRATE, &db, &err) != 0 ||
	    db_schema_version(db, &version, &err) != 0 ||
	    audit_last_seq(db, &seq, &err) != 0 ||
	    engine_new(db, &x, clock_system(), NULL, &e, &err) != 0 ||
	    engine_recover(e, &rec, &err) != 0)
		die(path, &err);
	t = now_ms() - t0;
	*examined = rec.examined;
	engine_free(e);
	db_close(db);
	return t;
}

static int
cmp_d(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/* Removes the files of dir, then dir. */
static void
rm_dir(const char *dir)
{
	char p[4400];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		(void) snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		(void) unlink(p);
	}
	(void) closedir(d);
	(void) rmdir(dir);
}

/* The retention steps on a copy of path: median and longest step (ms). */
static void
retention(const char *dir, const char *path, int steps, double *med,
    double *max, double *wmed, size_t *moved)
{
	struct archive_result r;
	char sub[4200], copy[4300];
	struct db *db = NULL, *cp = NULL;
	struct err err;
	double *t, *whole = NULL, t0;
	int i, n = 0;

	if ((t = calloc((size_t)steps, sizeof(*t))) == NULL ||
	    (whole = calloc((size_t)steps, sizeof(*whole))) == NULL)
		exit(1);
	(void) snprintf(sub, sizeof(sub), "%s/retention", dir);
	rm_dir(sub);
	(void) snprintf(copy, sizeof(copy), "%s/state.db", sub);
	err_init(&err);
	if (mkdir(sub, 0700) != 0 ||
	    db_open(path, DB_OPEN_READONLY, &db, &err) != 0 ||
	    db_backup(db, copy, &err) != 0)
		die("copy for retention", &err);
	db_close(db);
	if (db_open(copy, 0, &cp, &err) != 0)
		die(copy, &err);
	*moved = 0;
	for (i = 0; i < steps; i++) {
		t0 = now_ms();
		if (archive_step(cp, T0, T0 - 90 * DAY, INT64_MAX,
		    ARCHIVE_BATCH, &r, &err) != 0)
			die("archive step", &err);
		whole[n] = now_ms() - t0;
		t[n++] = r.lock_ms;
		*moved += r.ops;
		if (r.ops == 0 && r.audit == 0)
			break;
	}
	db_close(cp);
	qsort(t, (size_t)n, sizeof(*t), cmp_d);
	qsort(whole, (size_t)n, sizeof(*whole), cmp_d);
	*med = t[n / 2];
	*max = t[n - 1];
	*wmed = whole[n / 2];
	free(t);
	free(whole);
	rm_dir(sub);
}

int
main(int argc, char **argv)
{
	const char *dir = "/tmp/felhom-bench-startup";
	char p1[4200], p2[4200];
	double *a, *b, rmed, rmax, wmed;
	size_t ex1 = 0, ex2 = 0, moved = 0;
	int runs = 11, quick = 0, c, i;
	const char *n1 = "100k", *n2 = "1M";
	long r1 = 100000, r2 = 1000000;
	char f1[64], f2[64];

	while ((c = getopt(argc, argv, "d:n:q")) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			runs = atoi(optarg);
			break;
		case 'q':	/* smoke: 10k and 100k rows, not the figures */
			quick = 1;
			break;
		default:
			fprintf(stderr, "usage: bench-startup [-d DIR] "
			    "[-n RUNS] [-q]\n");
			return 64;
		}
	}
	if (runs < 1) {
		fprintf(stderr, "bench-startup: -n >= 1\n");
		return 64;
	}
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "bench-startup: %s: %s\n", dir,
		    strerror(errno));
		return 1;
	}
	if (quick) {
		n1 = "10k";
		n2 = "100k";
		r1 = 10000;
		r2 = 100000;
	}
	(void) snprintf(f1, sizeof(f1), "journal-%s.db", n1);
	(void) snprintf(f2, sizeof(f2), "journal-%s.db", n2);
	ensure(dir, f1, r1, p1, sizeof(p1));
	ensure(dir, f2, r2, p2, sizeof(p2));
	if ((a = calloc((size_t)runs, sizeof(*a))) == NULL ||
	    (b = calloc((size_t)runs, sizeof(*b))) == NULL)
		return 1;
	(void) start(p1, &ex1);		/* warm the page cache */
	(void) start(p2, &ex2);
	for (i = 0; i < runs; i++) {
		a[i] = start(p1, &ex1);
		b[i] = start(p2, &ex2);
	}
	qsort(a, (size_t)runs, sizeof(*a), cmp_d);
	qsort(b, (size_t)runs, sizeof(*b), cmp_d);
	retention(dir, p1, 400, &rmed, &rmax, &wmed, &moved);
	printf("databases: %s (built once, kept)\n", dir);
	printf("start-up to READY, %s journal: %8.2f ms  (median of %d, "
	    "%.2f-%.2f, %zu ops in flight recovered, target < 100 ms)\n",
	    n1, a[runs / 2], runs, a[0], a[runs - 1], ex1);
	printf("start-up to READY, %s journal: %8.2f ms  (median of %d, "
	    "%.2f-%.2f, interleaved with %s)\n", n2, b[runs / 2], runs, b[0],
	    b[runs - 1], n1);
	printf("ratio %s/%s: %8.2f (target <= 1.5)\n", n2, n1,
	    b[runs / 2] / a[runs / 2]);
	printf("retention step, live db locked:  %8.2f ms  (median of the "
	    "steps; longest %.2f ms; %d ops a step, %zu moved from %s; "
	    "target each < 10 ms)\n", rmed, rmax, ARCHIVE_BATCH, moved, n1);
	printf("retention step, whole:           %8.2f ms  (median; the copy "
	    "into the archive holds no lock of the live db)\n", wmed);
	/* One line per figure for tools/bench/run-all. */
	printf("BENCH\tstart-up to READY, %s journal\t%.3f\tms\t100.000\t"
	    "%.3f\t<100ms\t%s\tmedian of %d runs, spread %.2f..%.2f ms, "
	    "interleaved with %s\n", n1, a[runs / 2], a[runs / 2] / 100.0,
	    a[runs / 2] < 100.0 ? "pass" : "fail", runs, a[0], a[runs - 1],
	    n2);
	printf("BENCH\tstart-up to READY, %s vs %s journal\t%.3f\tms\t"
	    "%.3f\t%.3f\t<=1.5x\t%s\tmedian of %d runs each, interleaved, "
	    "spread %.2f..%.2f ms\n", n2, n1, b[runs / 2], a[runs / 2],
	    b[runs / 2] / a[runs / 2], b[runs / 2] <= 1.5 * a[runs / 2] ?
	    "pass" : "fail", runs, b[0], b[runs - 1]);
	printf("BENCH\tretention step, live db locked (longest)\t%.3f\tms\t"
	    "10.000\t%.3f\t<10ms\t%s\tall steps of a %s move, median "
	    "%.2f ms\n", rmax, rmax / 10.0, rmax < 10.0 ? "pass" : "fail", n1,
	    rmed);
	free(a);
	free(b);
	return 0;
}
