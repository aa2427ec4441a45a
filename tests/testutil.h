/*
 * testutil — helpers shared by the Check suites: fixture paths, temp
 * dirs, running programs with captured output, starting the simulators
 * (tools/pve-sim, tools/hub-sim) and calling their control endpoints.
 */
#ifndef FELHOM_TESTUTIL_H
#define FELHOM_TESTUTIL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

/* $FELHOM_FIXTURE_DIR, ... or the compiled-in defaults. */
const char *tu_fixture_dir(void);
const char *tu_source_dir(void);
const char *tu_bin_dir(void);

/* "<fixtures>/<rel>" etc. in a static rotating buffer (8 slots). */
const char *tu_fixture(const char *rel);
const char *tu_source(const char *rel);
const char *tu_bin(const char *name);

/* mkdtemp("/tmp/felhom-test-XXXXXX"); caller frees and tu_rmrf()s. */
char	*tu_tmpdir(void);
void	 tu_rmrf(const char *path);

/* Whole file into a NUL-terminated heap buffer (NULL on error). */
char	*tu_read_file(const char *path, size_t *len_out);
int	 tu_write_file(const char *path, const void *data, size_t len,
	    mode_t mode);

/*
 * Runs argv[0] (execvp) with optional stdin bytes and environment
 * additions ("K=V", NULL-terminated, may be NULL); captures stdout and
 * stderr (heap, NUL-terminated, may be NULL to discard).  *status gets
 * the exit code, or 128+signal.  Returns 0 when the program ran.
 */
int	 tu_run(const char *const argv[], const char *const env[],
	    const void *in, size_t inlen, char **out, char **errout,
	    int *status);

/* A simulator process and the JSON object of its first stdout line. */
struct tu_sim {
	pid_t	 pid;
	json_t	*info;		/* first line, owned */
	int	 port;
	char	 base[128];	/* "https://127.0.0.1:PORT" */
	char	*ca_file;	/* from info, or NULL */
};

/*
 * Starts argv (e.g. {"python3", ".../pve-sim", "--port", "0", NULL}) and
 * reads its first stdout line (timeout 20 s).  Returns 0 or -1.
 */
int	 tu_sim_start(const char *const argv[], struct tu_sim *sim);
/* Starts tools/pve-sim/pve-sim with extra args (NULL-terminated). */
int	 tu_pve_sim_start(struct tu_sim *sim, const char *const extra[]);
/* Starts tools/hub-sim/hub-sim with extra args. */
int	 tu_hub_sim_start(struct tu_sim *sim, const char *const extra[]);
/* SIGTERM, wait (5 s, then SIGKILL); frees info.  NULL-safe. */
void	 tu_sim_stop(struct tu_sim *sim);
/* String member of sim->info, or NULL. */
const char *tu_sim_str(const struct tu_sim *sim, const char *key);

/*
 * Calls a control endpoint: METHOD base+path with an optional JSON body,
 * verifying TLS against sim->ca_file when set (else not verifying: test
 * control traffic only).  *resp (may be NULL) gets the body; returns the
 * HTTP status or -1.
 */
long	 tu_sim_call(const struct tu_sim *sim, const char *method,
	    const char *path, const char *body, char **resp);
/* As tu_sim_call, parsing the response body as JSON (NULL on error). */
json_t	*tu_sim_json(const struct tu_sim *sim, const char *method,
	    const char *path, const char *body);

/* Count of occurrences of needle in hay (0 when either is NULL). */
size_t	 tu_count(const char *hay, const char *needle);

/*
 * `felhom-admin db init --db dbpath --nonce-floor NOW-3600`: the database
 * created on purpose before any blob is signed, its nonce floor an hour
 * back (the tests' blobs are valid from a minute ago; the floor itself is
 * tested in gate.dbloss).  0, or -1 when it failed.
 */
int	 tu_db_init(const char *dbpath);

/*
 * Issue 15's "writes nothing": PRAGMA data_version as connection h sees
 * it (it moves when another connection committed) and the size of
 * dbpath's WAL (-1 when there is none).  Fails the test on an error.
 */
/*
 * A WAL hook (sqlite3_wal_hook(h, tu_count_commits, &n)) counting the
 * commits that wrote frames into int n: issue 15's group commits.
 */
int	 tu_count_commits(void *ctx, sqlite3 *h, const char *name,
	    int npages);
void	 tu_db_marks(sqlite3 *h, const char *dbpath, int64_t *dv,
	    int64_t *wal);

#endif
