/*
 * bench-collect — time to build the host report against pve-sim with the
 * guest configs fetched concurrently (up to 8 in flight) and one at a
 * time (R-16, DESIGN.md "Reads that fan out ... may run in parallel"),
 * against a PVE that serves at most --max-concurrent requests at once
 * (pveproxy's 3 workers by default; the others wait in its queue).
 *
 *   bench-collect [--quick] [--guests N] [--latency-ms L] [--runs R]
 *                 [--max-concurrent C]
 *
 * Starts tools/pve-sim/pve-sim itself (--guests N --latency-ms L
 * --max-concurrent C), then alternates a concurrent and a one-at-a-time
 * collection R times (the order flips each round), and prints the
 * medians, the median of the per-round ratios and their spread.  The
 * simulator's own counter (GET /_sim/concurrency) must show that never
 * more than C requests were in flight: the bench fails otherwise.
 * Defaults: 500 guests, 20 ms, 5 rounds, cap 3; --quick: 40 guests, 2 ms,
 * 1 round.  Its figure is also printed as one "BENCH\t..." line for
 * tools/bench/run-all.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/collect.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/log.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/db.h"

#define RUNS_MAX	31

struct sim {
	pid_t	 pid;
	json_t	*info;
};

static int
sim_start(long guests, long latency, long cap, struct sim *s)
{
	char path[4096], g[32], l[32], c[32], line[4096];
	const char *src = getenv("FELHOM_SOURCE_DIR");
	size_t len = 0;
	int p[2];

	if (src == NULL)
		src = FELHOM_SOURCE_DIR_DEFAULT;
	(void) snprintf(path, sizeof(path), "%s/tools/pve-sim/pve-sim", src);
	(void) snprintf(g, sizeof(g), "%ld", guests);
	(void) snprintf(l, sizeof(l), "%ld", latency);
	(void) snprintf(c, sizeof(c), "%ld", cap);
	if (pipe2(p, O_CLOEXEC) != 0 || (s->pid = fork()) < 0)
		return -1;
	if (s->pid == 0) {
		const char *argv[] = { "python3", path, "--port", "0",
		    "--guests", g, "--latency-ms", l, "--max-concurrent", c,
		    NULL };

		(void) dup2(p[1], 1);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	(void) close(p[1]);
	while (len < sizeof(line) - 1) {
		struct pollfd pf = { p[0], POLLIN, 0 };

		if (poll(&pf, 1, 30000) <= 0 || read(p[0], line + len, 1) != 1)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	s->info = json_loads(line, 0, NULL);
	return s->info != NULL ? 0 : -1;
}

static void
sim_stop(struct sim *s)
{
	int st;

	if (s->pid > 0) {
		(void) kill(s->pid, SIGTERM);
		(void) waitpid(s->pid, &st, 0);
	}
	json_decref(s->info);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Seconds of one collection with in_flight config reads. */
static int
measure(struct collect_source *src, size_t in_flight, double *secs,
    size_t *guests)
{
	struct collect_stats st;
	json_t *r = NULL;
	struct err err;
	int64_t t0;

	src->in_flight = in_flight;
	err_init(&err);
	/* Every run reads every config (not the minute's cache). */
	pve_config_changed(src->pve);
	t0 = clock_mono_ms(NULL);
	if (collect_report(src, &r, &st, &err) != 0) {
		fprintf(stderr, "bench-collect: %s\n", err_msg(&err));
		return -1;
	}
	*secs = (double)(clock_mono_ms(NULL) - t0) / 1000.0;
	json_decref(r);
	if (st.spec_null != 0) {
		fprintf(stderr, "bench-collect: %zu configs failed\n",
		    st.spec_null);
		return -1;
	}
	*guests = st.guests;
	return 0;
}

/* The simulator's concurrency counters (/_sim/concurrency). */
static int
sim_concurrency(const struct sim *s, const char *method, const char *body,
    long *max_in_flight, long *served)
{
	struct https_options o;
	struct https_request rq;
	struct https_response rs;
	struct https_client *c = NULL;
	struct err err;
	char url[128];
	json_t *j;
	int rc = -1;

	memset(&o, 0, sizeof(o));
	o.trust = HTTPS_TRUST_CA_FILE;
	o.ca_file = json_string_value(json_object_get(s->info, "ca_file"));
	(void) snprintf(url, sizeof(url), "https://127.0.0.1:%lld/_sim/"
	    "concurrency", (long long)json_integer_value(json_object_get(
	    s->info, "port")));
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	if (body != NULL) {
		rq.content_type = "application/json";
		rq.body = body;
		rq.body_len = strlen(body);
	}
	https_response_init(&rs);
	err_init(&err);
	if (https_client_new(&o, &c, &err) != 0 ||
	    https_do(c, &rq, &rs, &err) != 0 || rs.status != 200 ||
	    (j = json_loads(rs.body, 0, NULL)) == NULL) {
		fprintf(stderr, "bench-collect: /_sim/concurrency: %s\n",
		    err_msg(&err));
		goto out;
	}
	*max_in_flight = (long)json_integer_value(json_object_get(j,
	    "max_in_flight"));
	*served = (long)json_integer_value(json_object_get(j, "served"));
	json_decref(j);
	rc = 0;
out:
	https_response_reset(&rs);
	https_client_free(c);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "guests", required_argument, NULL, 'g' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "runs", required_argument, NULL, 'r' },
		{ "max-concurrent", required_argument, NULL, 'c' },
		{ "quick", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	static char *const noenv[] = { NULL };
	long guests = 500, latency = 20, cap = 3, peak = 0, served = 0;
	int runs = 5, c, rc = 1, i, pass;
	char dir[] = "/tmp/bench-collect-XXXXXX", dbpath[256] = "", url[256];
	char *text = NULL;
	struct collect_source src;
	struct config *cfg = NULL;
	struct pve_client *pve = NULL;
	struct db *db = NULL;
	struct sim sim = { 0, NULL };
	struct err err;
	double conc, serial, tc[RUNS_MAX], ts[RUNS_MAX], q[RUNS_MAX], ratio;
	size_t n = 0;
	json_t *cj;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			guests = strtol(optarg, NULL, 10);
			break;
		case 'l':
			latency = strtol(optarg, NULL, 10);
			break;
		case 'r':
			runs = (int)strtol(optarg, NULL, 10);
			break;
		case 'c':
			cap = strtol(optarg, NULL, 10);
			break;
		case 'q':
			guests = 40;
			latency = 2;
			runs = 1;
			break;
		default:
			fprintf(stderr, "usage: bench-collect [--quick] "
			    "[--guests N] [--latency-ms L] [--runs R] "
			    "[--max-concurrent C]\n");
			return 64;
		}
	}
	if (guests < 1 || latency < 0 || runs < 1 || runs > RUNS_MAX ||
	    cap < 0) {
		fprintf(stderr, "bench-collect: bad arguments\n");
		return 64;
	}
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	err_init(&err);
	if (mkdtemp(dir) == NULL || https_global_init(&err) != 0 ||
	    sim_start(guests, latency, cap, &sim) != 0) {
		fprintf(stderr, "bench-collect: cannot start pve-sim\n");
		goto out;
	}
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	(void) snprintf(url, sizeof(url), "https://127.0.0.1:%lld/api2/json",
	    (long long)json_integer_value(json_object_get(sim.info, "port")));
	cj = json_pack("{s:{s:s,s:s},s:s,s:{s:s,s:s,s:s,s:s},s:{s:s},"
	    "s:s}", "host", "id", "bench", "node",
	    json_string_value(json_object_get(sim.info, "node")),
	    "database", dbpath,
	    "pve", "url", url,
		"token_id", json_string_value(json_object_get(sim.info,
		    "token_id")),
		"token_secret", json_string_value(json_object_get(sim.info,
		    "token_secret")),
		"fingerprint", json_string_value(json_object_get(sim.info,
		    "fingerprint")),
	    "hub", "mode", "off", "desired_file", "/dev/null");
	text = json_dumps(cj, 0);
	json_decref(cj);
	if (text == NULL ||
	    config_load_text(text, "bench", noenv, &cfg, &err) != 0 ||
	    db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db, &err) != 0 ||
	    pve_client_from_config(cfg, NULL, &pve, &err) != 0) {
		fprintf(stderr, "bench-collect: %s\n", err_msg(&err));
		goto out;
	}
	memset(&src, 0, sizeof(src));
	src.cfg = cfg;
	src.pve = pve;
	src.db = db;
	src.started_mono_ms = clock_mono_ms(NULL);
	/* One warm-up (TLS session, pve-sim caches), not counted. */
	if (measure(&src, COLLECT_IN_FLIGHT_MAX, &conc, &n) != 0 ||
	    sim_concurrency(&sim, "POST", "{\"reset\": true}", &peak,
	    &served) != 0)
		goto out;
	for (i = 0; i < runs; i++) {
		if (i % 2 == 0 && measure(&src, COLLECT_IN_FLIGHT_MAX, &tc[i],
		    &n) != 0)
			goto out;
		if (measure(&src, 1, &ts[i], &n) != 0)
			goto out;
		if (i % 2 == 1 && measure(&src, COLLECT_IN_FLIGHT_MAX, &tc[i],
		    &n) != 0)
			goto out;
		q[i] = ts[i] / tc[i];
	}
	if (sim_concurrency(&sim, "GET", NULL, &peak, &served) != 0)
		goto out;
	qsort(tc, (size_t)runs, sizeof(tc[0]), cmp_d);
	qsort(ts, (size_t)runs, sizeof(ts[0]), cmp_d);
	qsort(q, (size_t)runs, sizeof(q[0]), cmp_d);
	conc = tc[runs / 2];
	serial = ts[runs / 2];
	ratio = q[runs / 2];
	pass = ratio >= 2.5 && (cap == 0 || peak <= cap);
	printf("bench-collect: %zu guests, pve-sim latency %ld ms per "
	    "request, at most %ld served at once (0: no cap);\n  concurrent "
	    "and one-at-a-time runs interleaved, median of %d rounds\n", n,
	    latency, cap, runs);
	printf("  concurrent (%d in flight): %8.3f s\n", COLLECT_IN_FLIGHT_MAX,
	    conc);
	printf("  one at a time:            %8.3f s\n", serial);
	printf("  ratio: %.2fx (spread %.2f..%.2f; target >= 2.5x)\n", ratio,
	    q[0], q[runs - 1]);
	printf("  pve-sim: at most %ld requests in flight of %ld served "
	    "(cap %ld)\n", peak, served, cap);
	printf("BENCH\tcollect %zu guests, cap %ld\t%.3f\ts\t%.3f\t%.3f\t"
	    ">=2.5x\t%s\tinterleaved, median of %d rounds, ratio spread "
	    "%.2f..%.2f, max in flight %ld\n", n, cap, conc, serial, ratio,
	    pass ? "pass" : "fail", runs, q[0], q[runs - 1], peak);
	if (cap > 0 && peak > cap) {
		fprintf(stderr, "bench-collect: %ld requests were in flight at "
		    "once, above the cap of %ld\n", peak, cap);
		goto out;
	}
	rc = 0;
out:
	pve_client_free(pve);
	db_close(db);
	config_free(cfg);
	free(text);
	sim_stop(&sim);
	if (dbpath[0] != '\0') {
		char p[300];

		(void) unlink(dbpath);
		(void) snprintf(p, sizeof(p), "%s-wal", dbpath);
		(void) unlink(p);
		(void) snprintf(p, sizeof(p), "%s-shm", dbpath);
		(void) unlink(p);
	}
	(void) rmdir(dir);
	return rc;
}
