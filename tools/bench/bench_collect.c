/*
 * bench-collect — time to build the host report against pve-sim with the
 * guest configs fetched concurrently (8 in flight) and one at a time
 * (R-16, DESIGN.md "Reads that fan out ... may run in parallel").
 *
 *   bench-collect [--guests N] [--latency-ms L] [--runs R]
 *
 * Starts tools/pve-sim/pve-sim itself (--guests N --latency-ms L), builds
 * the report R times each way and prints the medians and their ratio.
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

#define RUNS_MAX	15

struct sim {
	pid_t	 pid;
	json_t	*info;
};

static int
sim_start(long guests, long latency, struct sim *s)
{
	char path[4096], g[32], l[32], line[4096];
	const char *src = getenv("FELHOM_SOURCE_DIR");
	size_t len = 0;
	int p[2];

	if (src == NULL)
		src = FELHOM_SOURCE_DIR_DEFAULT;
	(void) snprintf(path, sizeof(path), "%s/tools/pve-sim/pve-sim", src);
	(void) snprintf(g, sizeof(g), "%ld", guests);
	(void) snprintf(l, sizeof(l), "%ld", latency);
	if (pipe2(p, O_CLOEXEC) != 0 || (s->pid = fork()) < 0)
		return -1;
	if (s->pid == 0) {
		const char *argv[] = { "python3", path, "--port", "0",
		    "--guests", g, "--latency-ms", l, NULL };

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

/* Median seconds of runs collections with in_flight config reads. */
static int
measure(struct collect_source *src, size_t in_flight, int runs,
    double *median, size_t *guests)
{
	struct collect_stats st;
	double t[RUNS_MAX];
	json_t *r = NULL;
	struct err err;
	int64_t t0;
	int i;

	src->in_flight = in_flight;
	for (i = 0; i < runs; i++) {
		err_init(&err);
		/* Every run reads every config (not the minute's cache). */
		pve_config_changed(src->pve);
		t0 = clock_mono_ms(NULL);
		if (collect_report(src, &r, &st, &err) != 0) {
			fprintf(stderr, "bench-collect: %s\n", err_msg(&err));
			return -1;
		}
		t[i] = (double)(clock_mono_ms(NULL) - t0) / 1000.0;
		json_decref(r);
		if (st.spec_null != 0) {
			fprintf(stderr, "bench-collect: %zu configs failed\n",
			    st.spec_null);
			return -1;
		}
		*guests = st.guests;
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_d);
	*median = t[runs / 2];
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "guests", required_argument, NULL, 'g' },
		{ "latency-ms", required_argument, NULL, 'l' },
		{ "runs", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	static char *const noenv[] = { NULL };
	long guests = 500, latency = 20;
	int runs = 3, c, rc = 1;
	char dir[] = "/tmp/bench-collect-XXXXXX", dbpath[256] = "", url[256];
	char *text = NULL;
	struct collect_source src;
	struct config *cfg = NULL;
	struct pve_client *pve = NULL;
	struct db *db = NULL;
	struct sim sim = { 0, NULL };
	struct err err;
	double conc, serial;
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
		default:
			fprintf(stderr, "usage: bench-collect [--guests N] "
			    "[--latency-ms L] [--runs R]\n");
			return 64;
		}
	}
	if (guests < 1 || latency < 0 || runs < 1 || runs > RUNS_MAX) {
		fprintf(stderr, "bench-collect: bad arguments\n");
		return 64;
	}
	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, NULL);
	err_init(&err);
	if (mkdtemp(dir) == NULL || https_global_init(&err) != 0 ||
	    sim_start(guests, latency, &sim) != 0) {
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
	/* One warm-up (TLS session, pve-sim caches). */
	if (measure(&src, COLLECT_IN_FLIGHT_MAX, 1, &conc, &n) != 0 ||
	    measure(&src, COLLECT_IN_FLIGHT_MAX, runs, &conc, &n) != 0 ||
	    measure(&src, 1, runs, &serial, &n) != 0)
		goto out;
	printf("bench-collect: %zu guests, pve-sim latency %ld ms per "
	    "request, median of %d\n", n, latency, runs);
	printf("  concurrent (%d in flight): %8.3f s\n", COLLECT_IN_FLIGHT_MAX,
	    conc);
	printf("  one at a time:            %8.3f s\n", serial);
	printf("  ratio: %.1fx (target >= 3x)\n", serial / conc);
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
