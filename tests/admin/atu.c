/*
 * atu — helpers of the felhom-admin suites.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "atu.h"
#include "authz/opblob.h"
#include "authz_tu.h"
#include "store/db.h"
#include "store/ops.h"

struct at_env at;

void
at_sims_start(void)
{
	const char *pargs[] = { "--task-seconds", "0.05", NULL };
	const char *hargs[] = { "--quiet", "--host-id", AT_HOST, NULL };

	if (at.pve.pid != 0)
		return;		/* already up: a suite shares them */
	ck_assert_int_eq(tu_pve_sim_start(&at.pve, pargs), 0);
	ck_assert_int_eq(tu_hub_sim_start(&at.hub, hargs), 0);
}

void
at_sims_stop(void)
{
	tu_sim_stop(&at.pve);
	tu_sim_stop(&at.hub);
}

void
at_write_config(void)
{
	char *text;

	ck_assert_int_gt(asprintf(&text,
	    "{\"host\":{\"id\":\"" AT_HOST "\",\"node\":\"%s\"},"
	    "\"database\":\"%s\","
	    "\"pve\":{\"url\":\"https://127.0.0.1:%d/api2/json\","
	    "\"token_id\":\"%s\",\"token_secret\":\"%s\",\"ca_file\":\"%s\","
	    "\"timeout_s\":10},"
	    "\"hub\":{\"mode\":\"on\",\"url\":\"%s\",\"token\":\"%s\","
	    "\"ca_file\":\"%s\"},"
	    "\"authz\":{\"operational_signers\":\"%s/operational_signers\","
	    "\"recovery_signers\":\"%s/recovery_signers\","
	    "\"clock_skew_s\":%ld,\"sign_request_ttl_s\":3600},"
	    "\"log\":{\"level\":\"info\"}}",
	    tu_sim_str(&at.pve, "node"), at.db, at.pve.port,
	    tu_sim_str(&at.pve, "token_id"), tu_sim_str(&at.pve,
	    "token_secret"), at.pve.ca_file, tu_sim_str(&at.hub, "url"),
	    tu_sim_str(&at.hub, "token"), at.hub.ca_file, at.dir, at.dir,
	    at.skew_s), 0);
	ck_assert_int_eq(tu_write_file(at.cfg, text, strlen(text), 0600), 0);
	free(text);
}

void
at_setup(void)
{
	char *alice = NULL, *eve = NULL, *text;

	at_sim(&at.pve, "/_sim/reset", "{\"world\":true}");
	/* A case may have slowed the simulator (settings outlive a reset). */
	at_sim(&at.pve, "/_sim/config", "{\"latency_ms\":0}");
	at_sim(&at.hub, "/_sim/reset", "{\"all\":true}");
	at.dir = tu_tmpdir();
	ck_assert_ptr_nonnull(at.dir);
	(void) snprintf(at.cfg, sizeof(at.cfg), "%s/config.json", at.dir);
	(void) snprintf(at.db, sizeof(at.db), "%s/state.db", at.dir);
	ck_assert_int_eq(atu_keygen(at.dir, "alice", "ed25519", 0, &alice), 0);
	ck_assert_int_eq(atu_keygen(at.dir, "eve", "ed25519", 0, &eve), 0);
	ck_assert_int_gt(asprintf(&text, "alice@ops namespaces=\"" AT_NS
	    "\" %s\n", alice), 0);
	free(atu_write(at.dir, "operational_signers", text));
	free(text);
	free(alice);
	free(eve);
	if (at.skew_s == 0)
		at.skew_s = 120;
	at_write_config();
	ck_assert_int_eq(tu_db_init(at.db), 0);
}

void
at_teardown(void)
{
	tu_rmrf(at.dir);
	free(at.dir);
	at.dir = NULL;
	at.skew_s = 0;
}

int
at_agent_once(int timeout_s)
{
	/* The sim's tasks are short: polled every 50 ms, not every second. */
	static const char *const env[] = { "FELHOM_TEST_POLL_MS=50", NULL };
	char t[16], *err = NULL;
	const char *argv[] = { tu_bin("felhom-agent"), "--config", at.cfg,
	    "--once", "--once-timeout", t, NULL };
	int st = -1;

	(void) snprintf(t, sizeof(t), "%d", timeout_s);
	ck_assert_int_eq(tu_run(argv, env, NULL, 0, NULL, &err, &st), 0);
	if (st != 0)
		fprintf(stderr, "felhom-agent --once exited %d:\n%s\n", st,
		    err != NULL ? err : "");
	free(err);
	return st;
}

pid_t
at_agent_start(void)
{
	char logpath[4200];
	pid_t pid;
	int fd;

	(void) snprintf(logpath, sizeof(logpath), "%s/agent.log", at.dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			(void) dup2(fd, 1);
			(void) dup2(fd, 2);
		}
		/* Several hub cycles in a test's seconds (test builds). */
		(void) setenv("FELHOM_TEST_MIN_INTERVAL_MS", "500", 1);
		(void) setenv("FELHOM_TEST_POLL_MS", "50", 1);
		execl(tu_bin("felhom-agent"), "felhom-agent", "--config",
		    at.cfg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

int
at_agent_stop(pid_t pid)
{
	int st = -1, i;

	(void) kill(pid, SIGTERM);
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		(void) usleep(50000);
	}
	(void) kill(pid, SIGKILL);
	(void) waitpid(pid, &st, 0);
	return -1;
}

int
at_admin(const char *const args[], char **out, char **err)
{
	static const char *const env[] = { "SUDO_USER=tester", NULL };
	const char *argv[32];
	int n = 0, st = -1;

	argv[n++] = tu_bin("felhom-admin");
	while (*args != NULL && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(tu_run(argv, env, NULL, 0, out, err, &st), 0);
	return st;
}

json_t *
at_admin_json(const char *const args[], int *status)
{
	const char *argv[32];
	char *out = NULL, *err = NULL;
	json_t *doc;
	int n = 0;

	argv[n++] = "--config";
	argv[n++] = at.cfg;
	while (*args != NULL && n < 30)
		argv[n++] = *args++;
	argv[n++] = "--json";
	argv[n] = NULL;
	*status = at_admin(argv, &out, &err);
	doc = json_loads(out != NULL ? out : "", 0, NULL);
	ck_assert_msg(doc != NULL || *status != 0, "not JSON (exit %d): "
	    "%s\n%s", *status, out, err);
	free(out);
	free(err);
	return doc;
}

char *
at_blob(const char *op, int64_t guest, const char *params, int64_t ttl_s)
{
	struct opblob_spec spec;
	json_t *p = json_loads(params, 0, NULL);
	int64_t now = (int64_t)time(NULL);
	char *out = NULL;
	size_t len;

	ck_assert_ptr_nonnull(p);
	memset(&spec, 0, sizeof(spec));
	spec.op = opblob_kind_from_name(op);
	spec.host_id = AT_HOST;
	spec.has_guest = guest > 0;
	spec.guest_id = guest;
	spec.params = p;
	spec.not_before = now - 60;
	spec.not_after = now + ttl_s;
	ck_assert_int_eq(opblob_make(&spec, &out, &len, NULL), 0);
	json_decref(p);
	return out;
}

char *
at_sign(const char *key, const void *blob, size_t len)
{
	char *sig = atu_sign(at.dir, key, AT_NS, NULL, blob, len);

	ck_assert_ptr_nonnull(sig);
	return sig;
}

void
at_hub_post(const char *ref, const void *blob, size_t len, const char *sig)
{
	unsigned char *b64 = malloc(len / 3 * 4 + 8);
	json_t *e;
	char *body;

	ck_assert_ptr_nonnull(b64);
	(void) EVP_EncodeBlock(b64, blob, (int)len);
	e = json_pack("{s:o,s:s,s:o}", "op_id", ref != NULL ?
	    json_string(ref) : json_null(), "blob_b64", (char *)b64,
	    "signature", sig != NULL ? json_string(sig) : json_null());
	body = json_dumps(e, JSON_COMPACT);
	at_sim(&at.hub, "/_sim/signed-ops", body);
	free(body);
	json_decref(e);
	free(b64);
}

void
at_sim(struct tu_sim *sim, const char *path, const char *body)
{
	char *resp = NULL;
	long st = tu_sim_call(sim, "POST", path, body, &resp);

	ck_assert_msg(st == 200, "%s: HTTP %ld: %s", path, st,
	    resp != NULL ? resp : "");
	free(resp);
}

int
at_pve_count(const char *key)
{
	json_t *c = tu_sim_json(&at.pve, "GET", "/_sim/counters", NULL);
	int n;

	ck_assert_ptr_nonnull(c);
	n = (int)json_integer_value(json_object_get(c, key));
	json_decref(c);
	return n;
}

static struct db *
db_ro(void)
{
	struct db *db = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(db_open(at.db, DB_OPEN_READONLY, &db, &err) == 0,
	    "db_open: %s", err_msg(&err));
	return db;
}

char *
at_only_op(const char *state)
{
	struct db *db = db_ro();
	struct ops_row **ops = NULL;
	size_t n = 0, i;
	char *uid = NULL;
	int found = 0;

	ck_assert_int_eq(ops_list_active(db, &ops, &n, NULL), 0);
	for (i = 0; i < n; i++)
		if (strcmp(ops[i]->state, state) == 0) {
			found++;
			free(uid);
			uid = strdup(ops[i]->uid);
		}
	ops_rows_free(ops, n);
	db_close(db);
	ck_assert_msg(found == 1, "%d ops in %s", found, state);
	return uid;
}

char *
at_op_state(const char *uid)
{
	struct db *db = db_ro();
	struct ops_row *op = NULL;
	char *s;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	s = strdup(op->state);
	ops_row_free(op);
	db_close(db);
	return s;
}

void
at_snap_take(struct at_snap *s)
{
	char wal[4200];

	memset(s, 0, sizeof(*s));
	s->db = tu_read_file(at.db, &s->dblen);
	ck_assert_ptr_nonnull(s->db);
	(void) snprintf(wal, sizeof(wal), "%s-wal", at.db);
	s->wal = tu_read_file(wal, &s->wallen);
}

int
at_snap_same(const struct at_snap *a, const struct at_snap *b)
{
	if (a->dblen != b->dblen || memcmp(a->db, b->db, a->dblen) != 0)
		return 0;
	/* No WAL and an empty one both mean: no frames (SQLite makes it). */
	if ((a->wal == NULL ? 0 : a->wallen) != (b->wal == NULL ? 0 :
	    b->wallen))
		return 0;
	return a->wal == NULL || b->wal == NULL ||
	    memcmp(a->wal, b->wal, a->wallen) == 0;
}

void
at_snap_free(struct at_snap *s)
{
	free(s->db);
	free(s->wal);
	memset(s, 0, sizeof(*s));
}
