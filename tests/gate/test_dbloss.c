/*
 * test_dbloss — a lost or restored database never reopens replay (R-15,
 * the real felhom-agent and felhom-admin against
 * tools/pve-sim and tools/hub-sim.  A signed snapshot is accepted and
 * run; the database is then lost in one of five ways — truncated to 0
 * bytes, deleted, its -wal deleted after kill -9, a `cp` taken while the
 * agent ran put back, a `felhom-admin db backup` put back — and the hub
 * relays the same signed entry again.  The agent refuses to start where
 * a database existed, or starts with the nonce floor moved; either way
 * PVE sees the snapshot request once (its counters).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "authz/opblob.h"
#include "authz_tu.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/ops.h"
#include "testutil.h"

#define HOST	"pve-01"
#define NS	"felhom-op-v1"

static struct tu_sim pve, hub;
static char *dir;
static char cfgpath[4096], dbpath[4096];
static char *blob, *sig;
static int64_t blob_nb;		/* the blob's not_before */

static void
sims_start(void)
{
	const char *pargs[] = { "--task-seconds", "0.05", NULL };
	const char *hargs[] = { "--quiet", "--host-id", HOST, NULL };

	ck_assert_int_eq(tu_pve_sim_start(&pve, pargs), 0);
	ck_assert_int_eq(tu_hub_sim_start(&hub, hargs), 0);
}

static void
sims_stop(void)
{
	tu_sim_stop(&pve);
	tu_sim_stop(&hub);
}

static int
run_admin(const char *a1, const char *a2, const char *a3, const char *a4,
    char **err_out)
{
	const char *argv[] = { tu_bin("felhom-admin"), a1, a2, a3, a4, NULL };
	int st = -1;

	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, err_out, &st), 0);
	return st;
}

static void
setup(void)
{
	char *line = NULL, *text, path[4200];
	struct opblob_spec spec;
	json_t *p;
	size_t len;

	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/reset",
	    "{\"world\":true}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/reset",
	    "{\"all\":true}", NULL), 200);
	/* Reports every second, so a running agent fetches soon. */
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/envelope",
	    "{\"poll_interval_seconds\":1}", NULL), 200);
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", dir);
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	ck_assert_int_eq(atu_keygen(dir, "alice", "ed25519", 0, &line), 0);
	ck_assert_int_gt(asprintf(&text, "alice@ops namespaces=\"" NS "\" %s\n",
	    line), 0);
	free(atu_write(dir, "operational_signers", text));
	free(text);
	free(atu_write(dir, "recovery_signers", ""));
	free(line);
	(void) snprintf(path, sizeof(path), "%s/", dir);
	ck_assert_int_gt(asprintf(&text,
	    "{\"host\":{\"id\":\"" HOST "\",\"node\":\"%s\"},"
	    "\"database\":\"%s\","
	    "\"pve\":{\"url\":\"https://127.0.0.1:%d/api2/json\","
	    "\"token_id\":\"%s\",\"token_secret\":\"%s\",\"ca_file\":\"%s\"},"
	    "\"hub\":{\"mode\":\"on\",\"url\":\"%s\",\"token\":\"%s\","
	    "\"ca_file\":\"%s\"},"
	    "\"authz\":{\"operational_signers\":\"%soperational_signers\","
	    "\"recovery_signers\":\"%srecovery_signers\"},"
	    "\"log\":{\"level\":\"info\"}}",
	    tu_sim_str(&pve, "node"), dbpath, pve.port,
	    tu_sim_str(&pve, "token_id"), tu_sim_str(&pve, "token_secret"),
	    pve.ca_file, tu_sim_str(&hub, "url"), tu_sim_str(&hub, "token"),
	    hub.ca_file, path, path), 0);
	ck_assert_int_eq(tu_write_file(cfgpath, text, strlen(text), 0600), 0);
	free(text);
	/* The database on purpose, then an operator's signed snapshot. */
	ck_assert_int_eq(run_admin("db", "init", "--db", dbpath, NULL), 0);
	p = json_pack("{s:s}", "name", "before-upgrade");
	memset(&spec, 0, sizeof(spec));
	spec.op = OPBLOB_OP_SNAPSHOT;
	spec.host_id = HOST;
	spec.has_guest = 1;
	spec.guest_id = 101;
	spec.params = p;
	spec.not_before = blob_nb = (int64_t)time(NULL);
	spec.not_after = spec.not_before + 3600;
	ck_assert_int_eq(opblob_make(&spec, &blob, &len, NULL), 0);
	json_decref(p);
	sig = atu_sign(dir, "alice", NS, NULL, blob, len);
	ck_assert_ptr_nonnull(sig);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	free(blob);
	free(sig);
	dir = NULL;
	blob = sig = NULL;
}

/* The hub relays the signed snapshot (again). */
static void
relay(void)
{
	size_t len = strlen(blob);
	unsigned char *b64 = malloc(len / 3 * 4 + 8);
	json_t *e;
	char *body;

	ck_assert_ptr_nonnull(b64);
	(void) EVP_EncodeBlock(b64, (const unsigned char *)blob, (int)len);
	e = json_pack("{s:n,s:s,s:s}", "op_id", "blob_b64", (char *)b64,
	    "signature", sig);
	body = json_dumps(e, JSON_COMPACT);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops", body,
	    NULL), 200);
	free(body);
	json_decref(e);
	free(b64);
}

static int
snapshots(void)
{
	json_t *c = tu_sim_json(&pve, "GET", "/_sim/counters", NULL);
	int n;

	ck_assert_ptr_nonnull(c);
	n = (int)json_integer_value(json_object_get(c, "101:snapshot"));
	json_decref(c);
	return n;
}

/* felhom-agent --once: its exit status; *err_out its stderr (heap). */
static int
agent_once(char **err_out)
{
	/* The sim's tasks are short: polled every 50 ms, not every second. */
	static const char *const env[] = { "FELHOM_TEST_POLL_MS=50", NULL };
	const char *argv[] = { tu_bin("felhom-agent"), "--config", cfgpath,
	    "--once", "--once-timeout", "20", NULL };
	int st = -1;

	ck_assert_int_eq(tu_run(argv, env, NULL, 0, NULL, err_out, &st), 0);
	return st;
}

static pid_t
agent_daemon(void)
{
	char logpath[4200];
	pid_t pid;
	int fd;

	(void) snprintf(logpath, sizeof(logpath), "%s/agent.log", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			(void) dup2(fd, 1);
			(void) dup2(fd, 2);
		}
		(void) setenv("FELHOM_TEST_MIN_INTERVAL_MS", "200", 1);
		(void) setenv("FELHOM_TEST_POLL_MS", "50", 1);
		execl(tu_bin("felhom-agent"), "felhom-agent", "--config",
		    cfgpath, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int64_t
succeeded(void)
{
	struct db *db = NULL;
	int64_t n = -1;

	if (db_open(dbpath, DB_OPEN_READONLY, &db, NULL) != 0)
		return -1;
	if (ops_count(db, "succeeded", &n, NULL) != 0)
		n = -1;
	db_close(db);
	return n;
}

/* Waits until the snapshot ran and its op is recorded succeeded. */
static void
wait_done(void)
{
	int i;

	for (i = 0; i < 300 && (snapshots() < 1 || succeeded() < 1); i++)
		(void) usleep(100000);
	ck_assert_int_eq(snapshots(), 1);
	ck_assert_int_eq(succeeded(), 1);
}

static void
daemon_stop(pid_t pid, int sig_)
{
	int st = -1;

	ck_assert_int_eq(kill(pid, sig_), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (sig_ == SIGTERM)
		ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int
audited(const char *code)
{
	struct db *db = NULL;
	json_t *arr = NULL, *o;
	size_t i;
	int found = 0;

	ck_assert_int_eq(db_open(dbpath, DB_OPEN_READONLY, &db, NULL), 0);
	ck_assert_int_eq(audit_since(db, 0, 100000, &arr, NULL), 0);
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "code")),
		    code) == 0)
			found = 1;
	json_decref(arr);
	db_close(db);
	return found;
}

static void
rm_side_files(void)
{
	char p[4200];

	(void) snprintf(p, sizeof(p), "%s-wal", dbpath);
	(void) unlink(p);
	(void) snprintf(p, sizeof(p), "%s-shm", dbpath);
	(void) unlink(p);
}

static void
copy_file(const char *from, const char *to)
{
	size_t len = 0;
	char *data = tu_read_file(from, &len);

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(tu_write_file(to, data, len, 0600), 0);
	free(data);
}

/* Accepted and run once: the starting point of every case. */
static void
accept_once(void)
{
	relay();
	ck_assert_int_eq(agent_once(NULL), 0);
	ck_assert_int_eq(snapshots(), 1);
	ck_assert_int_eq(succeeded(), 1);
}

/*
 * The nonce floor has a resolution of a second: a database made again,
 * or found restored, in the very second the blob became valid does not
 * put the floor after it.  A case whose floor must refuse the blob moves
 * it only once that second is over (with the agent's tasks polled every
 * 50 ms, a case can get there within it).
 */
static void
after_the_blobs_second(void)
{
	while ((int64_t)time(NULL) <= blob_nb)
		(void) usleep(20000);
}

/* After a deliberate db init, the relayed blob is refused by the floor. */
static void
init_again_refuses_the_old_blob(void)
{
	char *err = NULL;

	after_the_blobs_second();
	ck_assert_int_eq(run_admin("db", "init", "--db", dbpath, &err), 0);
	free(err);
	/* The operator's dry run says so too. */
	{
		char bf[4200], sf[4200], *out = NULL;
		const char *argv[] = { tu_bin("felhom-admin"), "op", "check",
		    "--config", cfgpath, "--blob", bf, "--signature", sf, NULL };
		int st = -1;

		(void) snprintf(bf, sizeof(bf), "%s/op.json", dir);
		(void) snprintf(sf, sizeof(sf), "%s/op.json.sig", dir);
		ck_assert_int_eq(tu_write_file(bf, blob, strlen(blob), 0600),
		    0);
		ck_assert_int_eq(tu_write_file(sf, sig, strlen(sig), 0600), 0);
		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &st),
		    0);
		ck_assert_int_ne(st, 0);
		ck_assert_ptr_nonnull(strstr(out, "replay_floor"));
		free(out);
	}
	relay();
	ck_assert_int_eq(agent_once(NULL), 0);
	ck_assert(audited("replay_floor"));
	ck_assert_int_eq(snapshots(), 1);
}

START_TEST(a_0_byte_database_is_refused_then_init_keeps_the_floor)
{
	char *err = NULL;

	accept_once();
	ck_assert_int_eq(truncate(dbpath, 0), 0);
	relay();
	ck_assert_int_eq(agent_once(&err), 66);
	ck_assert_ptr_nonnull(strstr(err, "missing or empty"));
	ck_assert_ptr_nonnull(strstr(err, "felhom-admin db init"));
	free(err);
	ck_assert_int_eq(snapshots(), 1);
	init_again_refuses_the_old_blob();
}
END_TEST

START_TEST(a_deleted_database_is_refused)
{
	char *err = NULL;

	accept_once();
	ck_assert_int_eq(unlink(dbpath), 0);
	relay();
	ck_assert_int_eq(agent_once(&err), 66);
	ck_assert_ptr_nonnull(strstr(err, "marker"));
	free(err);
	ck_assert_int_eq(access(dbpath, F_OK), -1);
	init_again_refuses_the_old_blob();
}
END_TEST

START_TEST(a_wal_deleted_after_kill_moves_the_floor)
{
	pid_t pid = agent_daemon();

	relay();
	wait_done();
	daemon_stop(pid, SIGKILL);
	rm_side_files();
	relay();
	after_the_blobs_second();
	ck_assert_int_eq(agent_once(NULL), 0);
	ck_assert(audited("restored"));
	ck_assert(audited("replay_floor"));
	ck_assert_int_eq(snapshots(), 1);
}
END_TEST

START_TEST(a_cp_taken_while_running_then_restored_moves_the_floor)
{
	char copy[4200];
	pid_t pid = agent_daemon();

	(void) snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	(void) usleep(1500000);	/* it runs */
	copy_file(dbpath, copy);
	relay();
	wait_done();
	daemon_stop(pid, SIGTERM);
	copy_file(copy, dbpath);
	rm_side_files();
	relay();
	ck_assert_int_eq(agent_once(NULL), 0);
	ck_assert(audited("restored"));
	ck_assert(audited("replay_floor"));
	ck_assert_int_eq(snapshots(), 1);
}
END_TEST

START_TEST(a_db_backup_restored_moves_the_floor)
{
	char backup[4200], *err = NULL;
	pid_t pid = agent_daemon();

	(void) snprintf(backup, sizeof(backup), "%s/backup.db", dir);
	(void) usleep(1500000);
	ck_assert_int_eq(run_admin("db", "backup", "--db", dbpath, NULL), 64);
	{
		const char *argv[] = { tu_bin("felhom-admin"), "db", "backup",
		    "--db", dbpath, backup, NULL };
		int st = -1;

		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, NULL, &st),
		    0);
		ck_assert_int_eq(st, 0);
	}
	relay();
	wait_done();
	daemon_stop(pid, SIGTERM);
	copy_file(backup, dbpath);
	rm_side_files();
	ck_assert_int_eq(run_admin("db", "check", "--db", dbpath, &err), 0);
	free(err);
	relay();
	ck_assert_int_eq(agent_once(NULL), 0);
	ck_assert(audited("restored"));
	ck_assert(audited("replay_floor"));
	ck_assert_int_eq(snapshots(), 1);
}
END_TEST

/*
 * makes the nonces_expiry index disagree with its table — what
 * PRAGMA quick_check does not see and integrity_check does.
 */
static void
corrupt_an_index(void)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	char sql[256];
	int root;

	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT rootpage FROM "
	    "sqlite_master WHERE name = 'nonces_expiry'", -1, &st, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	root = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA writable_schema=ON; DELETE "
	    "FROM sqlite_master WHERE name = 'nonces_expiry'", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(h);
	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "UPDATE nonces SET expires_at = "
	    "expires_at + 1000", NULL, NULL, NULL), SQLITE_OK);
	(void) snprintf(sql, sizeof(sql), "PRAGMA writable_schema=ON; INSERT "
	    "INTO sqlite_master VALUES ('index', 'nonces_expiry', 'nonces', "
	    "%d, 'CREATE INDEX nonces_expiry ON nonces (expires_at)')", root);
	ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* The full integrity check after an unclean stop; a clean one skips it. */
START_TEST(an_unclean_stop_runs_the_full_integrity_check)
{
	char lock[4200], *err = NULL, *out = NULL;
	const char *running = "pid 1\nstate running\n";
	const char *argv[] = { tu_bin("felhom-admin"), "db", "check", "--db",
	    dbpath, NULL };
	int st = -1;

	accept_once();
	corrupt_an_index();
	/* Stopped cleanly: started without the check. */
	ck_assert_int_eq(agent_once(NULL), 0);
	/* As if killed: the lock file still says running. */
	(void) snprintf(lock, sizeof(lock), "%s.lock", dbpath);
	ck_assert_int_eq(tu_write_file(lock, running, strlen(running), 0600),
	    0);
	ck_assert_int_eq(agent_once(&err), 65);
	ck_assert_ptr_nonnull(strstr(err, "integrity check failed"));
	free(err);
	err = NULL;
	/* db check says it on stdout, and exits 1 (a negative answer). */
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &st), 0);
	ck_assert_int_eq(st, 1);
	ck_assert_ptr_nonnull(strstr(out, "nonces_expiry"));
	free(out);
}
END_TEST

/*
 * Found by tools/soak: a start that fails after it opened the database
 * (here its marker cannot be written, as on a full disk) closes SQLite
 * in order, which checkpoints and removes the write-ahead log.  That is
 * no unclean stop: the next start must not take the missing log for lost
 * commits, move the nonce floor and hold every destructive op.
 */
START_TEST(a_start_that_failed_after_opening_is_no_restore)
{
	char tmp[4200], *err = NULL;
	struct stat sb;

	accept_once();
	(void) snprintf(tmp, sizeof(tmp), "%s.marker.tmp", dbpath);
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	ck_assert_int_ne(agent_once(&err), 0);
	ck_assert_ptr_nonnull(strstr(err, "marker"));
	free(err);
	err = NULL;
	ck_assert_int_eq(rmdir(tmp), 0);
	(void) snprintf(tmp, sizeof(tmp), "%s-wal", dbpath);
	ck_assert_int_ne(stat(tmp, &sb), 0);
	ck_assert_int_eq(agent_once(&err), 0);
	ck_assert_ptr_null(strstr(err, "uncleanly"));
	free(err);
	ck_assert(!audited("restored"));
	ck_assert_int_eq(snapshots(), 1);
}
END_TEST

static Suite *
dbloss_suite(void)
{
	Suite *s = suite_create("dbloss");
	TCase *t = tcase_create("dbloss");

	tcase_add_unchecked_fixture(t, sims_start, sims_stop);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, a_0_byte_database_is_refused_then_init_keeps_the_floor);
	tcase_add_test(t, a_deleted_database_is_refused);
	tcase_add_test(t, a_wal_deleted_after_kill_moves_the_floor);
	tcase_add_test(t,
	    a_cp_taken_while_running_then_restored_moves_the_floor);
	tcase_add_test(t, a_db_backup_restored_moves_the_floor);
	tcase_add_test(t, an_unclean_stop_runs_the_full_integrity_check);
	tcase_add_test(t, a_start_that_failed_after_opening_is_no_restore);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dbloss_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
