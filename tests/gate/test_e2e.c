/*
 * test_e2e — the adversarial matrix end to end (R-27 … ):
 * the real felhom-agent (--once, and as a daemon) and felhom-admin
 * against tools/pve-sim and tools/hub-sim, with real ssh-keygen keys.
 * What PVE saw is read from the simulator's mutating-request counters;
 * what the agent decided from its database and the hub's reports.
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

#include "authz/opblob.h"
#include "authz_tu.h"
#include "base/clock.h"
#include "base/log.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/inbox.h"
#include "store/journal.h"
#include "store/nonces.h"
#include "store/ops.h"
#include "store/provenance.h"
#include "testutil.h"

#define HOST	"pve-01"
#define NS	"felhom-op-v1"

static struct tu_sim pve, hub;
static char *dir;
static char cfgpath[4096], dbpath[4096];
static char *line_alice, *line_rec, *line_eve;

/*
 * ---- simulators (started once for both groups of cases: every case
 * resets both worlds in setup_common; main() stops them) ------------------
 */

static void
sims_start(void)
{
	const char *pargs[] = { "--task-seconds", "0.05", NULL };
	const char *hargs[] = { "--quiet", "--host-id", HOST, NULL };

	if (pve.pid != 0)
		return;
	ck_assert_int_eq(tu_pve_sim_start(&pve, pargs), 0);
	ck_assert_int_eq(tu_hub_sim_start(&hub, hargs), 0);
}

static void
sims_stop(void)
{
	tu_sim_stop(&pve);
	tu_sim_stop(&hub);
}

static void
write_config(int with_signers)
{
	char ops[4096], rec[4096], *text;

	(void) snprintf(ops, sizeof(ops), "%s/%s", dir, with_signers ?
	    "operational_signers" : "none/operational_signers");
	(void) snprintf(rec, sizeof(rec), "%s/%s", dir, with_signers ?
	    "recovery_signers" : "none/recovery_signers");
	ck_assert_int_gt(asprintf(&text,
	    "{\"host\":{\"id\":\"" HOST "\",\"node\":\"%s\"},"
	    "\"database\":\"%s\","
	    "\"pve\":{\"url\":\"https://127.0.0.1:%d/api2/json\","
	    "\"token_id\":\"%s\",\"token_secret\":\"%s\",\"ca_file\":\"%s\","
	    "\"timeout_s\":10},"
	    "\"hub\":{\"mode\":\"on\",\"url\":\"%s\",\"token\":\"%s\","
	    "\"ca_file\":\"%s\"},"
	    "\"authz\":{\"operational_signers\":\"%s\","
	    "\"recovery_signers\":\"%s\",\"sign_request_ttl_s\":3600},"
	    "\"log\":{\"level\":\"info\"}}",
	    tu_sim_str(&pve, "node"), dbpath, pve.port,
	    tu_sim_str(&pve, "token_id"), tu_sim_str(&pve, "token_secret"),
	    pve.ca_file, tu_sim_str(&hub, "url"), tu_sim_str(&hub, "token"),
	    hub.ca_file, ops, rec), 0);
	ck_assert_int_eq(tu_write_file(cfgpath, text, strlen(text), 0600), 0);
	free(text);
}

static void
setup_common(int with_signers)
{
	char *text;

	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/reset",
	    "{\"world\":true}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/reset",
	    "{\"all\":true}", NULL), 200);
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", dir);
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	ck_assert_int_eq(atu_keygen(dir, "alice", "ed25519", 0, &line_alice),
	    0);
	ck_assert_int_eq(atu_keygen(dir, "rec", "ed25519", 0, &line_rec), 0);
	ck_assert_int_eq(atu_keygen(dir, "eve", "ed25519", 0, &line_eve), 0);
	ck_assert_int_gt(asprintf(&text, "alice@ops namespaces=\"" NS "\" %s\n",
	    line_alice), 0);
	free(atu_write(dir, "operational_signers", text));
	free(text);
	ck_assert_int_gt(asprintf(&text, "rec@ops %s\n", line_rec), 0);
	free(atu_write(dir, "recovery_signers", text));
	free(text);
	write_config(with_signers);
	ck_assert_int_eq(tu_db_init(dbpath), 0);
}

static void
setup(void)
{
	setup_common(1);
}

static void
setup_no_signers(void)
{
	setup_common(0);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	free(line_alice);
	free(line_rec);
	free(line_eve);
	line_alice = line_rec = line_eve = NULL;
}

/* ---- the binaries ----------------------------------------------------- */

/* felhom-agent --once; returns its exit status. */
static int
agent_once(int timeout_s)
{
	/* The sim's tasks take 0.05 s: polled every 50 ms, not every second. */
	static const char *const env[] = { "FELHOM_TEST_POLL_MS=50", NULL };
	char t[16], *err = NULL;
	const char *argv[] = { tu_bin("felhom-agent"), "--config", cfgpath,
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

/* felhom-admin with args; *out gets stdout (heap); returns the status. */
static int
admin(const char *const args[], char **out)
{
	const char *argv[16];
	int n = 0, st = -1;

	argv[n++] = tu_bin("felhom-admin");
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, out, NULL, &st), 0);
	return st;
}

/* ---- blobs and the hub ------------------------------------------------ */

static char *
blob_make(const char *op, const char *host, int64_t guest,
    const char *params, int64_t nb, int64_t na)
{
	struct opblob_spec spec;
	json_t *p = json_loads(params, 0, NULL);
	char *out = NULL;
	size_t len;

	ck_assert_ptr_nonnull(p);
	memset(&spec, 0, sizeof(spec));
	spec.op = opblob_kind_from_name(op);
	spec.host_id = host;
	spec.has_guest = guest > 0;
	spec.guest_id = guest;
	spec.params = p;
	spec.not_before = nb;
	spec.not_after = na;
	ck_assert_int_eq(opblob_make(&spec, &out, &len, NULL), 0);
	json_decref(p);
	return out;
}

static char *
blob_now(const char *op, int64_t guest, const char *params)
{
	int64_t now = (int64_t)time(NULL);

	return blob_make(op, HOST, guest, params, now - 60, now + 3600);
}

static char *
sign(const char *key, const void *blob, size_t len)
{
	char *sig = atu_sign(dir, key, NS, NULL, blob, len);

	ck_assert_ptr_nonnull(sig);
	return sig;
}

/* Queues one signed-ops entry at the hub (sig NULL: unsigned). */
static void
hub_post(const char *op_id, const void *blob, size_t len, const char *sig)
{
	unsigned char *b64 = malloc(len / 3 * 4 + 8);
	json_t *e;
	char *body;

	ck_assert_ptr_nonnull(b64);
	(void) EVP_EncodeBlock(b64, blob, (int)len);
	e = json_pack("{s:o,s:s,s:o}", "op_id", op_id != NULL ?
	    json_string(op_id) : json_null(), "blob_b64", (char *)b64,
	    "signature", sig != NULL ? json_string(sig) : json_null());
	body = json_dumps(e, JSON_COMPACT);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops", body,
	    NULL), 200);
	free(body);
	json_decref(e);
	free(b64);
}

static void
hub_post_text(const char *blob, const char *sig)
{
	hub_post(NULL, blob, strlen(blob), sig);
}

static void
hub_desired(const char *doc)
{
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/desired", doc, NULL),
	    200);
}

/* The simulator's count of vmid:kind requests (0 when none). */
static int
pve_count(const char *key)
{
	json_t *c = tu_sim_json(&pve, "GET", "/_sim/counters", NULL);
	int n;

	ck_assert_ptr_nonnull(c);
	n = (int)json_integer_value(json_object_get(c, key));
	json_decref(c);
	return n;
}

static size_t
pve_total(void)
{
	json_t *c = tu_sim_json(&pve, "GET", "/_sim/counters", NULL);
	size_t n;

	ck_assert_ptr_nonnull(c);
	n = json_object_size(c);
	json_decref(c);
	return n;
}

/* The newest report the hub received (caller decrefs), or NULL. */
static json_t *
last_report(void)
{
	json_t *arr = tu_sim_json(&hub, "GET", "/_sim/reports", NULL), *r;

	ck_assert_ptr_nonnull(arr);
	r = json_array_get(arr, json_array_size(arr) - 1);
	json_incref(r);
	json_decref(arr);
	return r;
}

/* A backup volume of vmid in the simulated world (heap). */
static char *
backup_of(int64_t vmid)
{
	json_t *w = tu_sim_json(&pve, "GET", "/_sim/world", NULL), *v;
	char *volid = NULL;
	size_t i;

	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "volumes"), i, v) {
		if (volid == NULL && json_integer_value(json_object_get(v,
		    "vmid")) == vmid && strcmp(json_string_value(
		    json_object_get(v, "content")), "backup") == 0)
			volid = strdup(json_string_value(json_object_get(v,
			    "volid")));
	}
	json_decref(w);
	ck_assert_ptr_nonnull(volid);
	return volid;
}

/* ---- the agent's database (read-only) --------------------------------- */

static struct db *
db_ro(void)
{
	struct db *db = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_READONLY, &db, &err) == 0,
	    "db_open: %s", err_msg(&err));
	return db;
}

static int64_t
count_ops(const char *state)
{
	struct db *db = db_ro();
	int64_t n = -1;

	ck_assert_int_eq(ops_count(db, state, &n, NULL), 0);
	db_close(db);
	return n;
}

static int64_t
nonces(void)
{
	struct db *db = db_ro();
	int64_t n = -1;

	ck_assert_int_eq(nonces_count(db, &n, NULL), 0);
	db_close(db);
	return n;
}

static int64_t
inbox_in(const char *state)
{
	struct db *db = db_ro();
	int64_t n = -1;

	ck_assert_int_eq(inbox_count(db, state, &n, NULL), 0);
	db_close(db);
	return n;
}

static int
audited(const char *code)
{
	struct db *db = db_ro();
	json_t *arr = NULL, *o;
	size_t i;
	int found = 0;

	ck_assert_int_eq(audit_since(db, 0, 100000, &arr, NULL), 0);
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "code")),
		    code) == 0)
			found = 1;
	json_decref(arr);
	db_close(db);
	return found;
}

/* The uid of the only op in state (heap). */
static char *
only_op(const char *state)
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
	ck_assert_int_eq(found, 1);
	return uid;
}

static char *
op_state(const char *uid)
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

static void
assert_state(const char *uid, const char *want)
{
	char *s = op_state(uid);

	ck_assert_str_eq(s, want);
	free(s);
}

/* ---- the matrix ------------------------------------------------------- */

START_TEST(e2e_unsigned_destructive_never_runs_benign_runs_once)
{
	char *job = blob_now("delete_snapshot", 101,
	    "{\"name\":\"pre-upgrade\"}");
	char *benign = blob_now("start", 104, "{}");
	json_t *rep, *o;
	size_t i, with_req = 0;

	/* A destructive desired-state delta: guest 105 absent. */
	hub_desired("{\"schema\":\"felhom.desired/v1\",\"host_id\":\"" HOST
	    "\",\"generation\":1,\"guests\":[{\"vmid\":105,\"state\":"
	    "\"absent\"}]}");
	hub_post_text(job, NULL);
	hub_post_text(benign, NULL);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert_int_eq(count_ops("pending_signature"), 2);
	ck_assert_int_eq(pve_count("105:destroy"), 0);
	ck_assert_int_eq(pve_count("101:delete_snapshot"), 0);
	ck_assert_int_eq(pve_count("104:start"), 1);
	ck_assert(audited("unsigned_destructive"));
	/* Again (a restart): still nothing destructive, nothing twice. */
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert_int_eq(pve_count("105:destroy"), 0);
	ck_assert_int_eq(pve_count("101:delete_snapshot"), 0);
	ck_assert_int_eq(pve_count("104:start"), 1);
	ck_assert_uint_eq(pve_total(), 1);
	/* The report publishes each pending op's sign request. */
	rep = last_report();
	ck_assert_ptr_nonnull(rep);
	json_array_foreach(json_object_get(rep, "ops"), i, o) {
		json_t *sr = json_object_get(o, "sign_request");

		if (strcmp(json_string_value(json_object_get(o, "state")),
		    "pending_signature") != 0)
			continue;
		ck_assert(json_is_object(sr));
		ck_assert(json_is_string(json_object_get(sr, "blob_b64")));
		ck_assert(json_is_string(json_object_get(sr, "not_after")));
		with_req++;
	}
	ck_assert_uint_eq(with_req, 2);
	json_decref(rep);
	free(job);
	free(benign);
}
END_TEST

START_TEST(e2e_signed_job_rejections_leave_no_trace)
{
	int64_t now = (int64_t)time(NULL);
	char *b[7], *s[7], *pend, *req, *wrong, *ws;
	const char *codes[] = { "unknown_signer", "expired", "not_yet_valid",
	    "wrong_host", "wrong_guest", "role_denied", "window_too_long" };
	size_t i;

	b[0] = blob_now("destroy", 104, "{\"purge\":true}");
	s[0] = sign("eve", b[0], strlen(b[0]));
	b[1] = blob_make("destroy", HOST, 104, "{\"purge\":true}", now - 7200,
	    now - 3600);
	s[1] = sign("alice", b[1], strlen(b[1]));
	b[2] = blob_make("destroy", HOST, 104, "{\"purge\":true}", now + 3600,
	    now + 7200);
	s[2] = sign("alice", b[2], strlen(b[2]));
	b[3] = blob_make("destroy", "pve-02", 104, "{\"purge\":true}",
	    now - 60, now + 600);
	s[3] = sign("alice", b[3], strlen(b[3]));
	b[4] = blob_make("rotate_signers", HOST, 104, "{\"kind\":\"planned\","
	    "\"operational\":[]}", now - 60, now + 600);
	s[4] = sign("alice", b[4], strlen(b[4]));
	b[5] = blob_now("destroy", 104, "{\"purge\":true}");
	s[5] = sign("rec", b[5], strlen(b[5]));
	b[6] = blob_make("destroy", HOST, 104, "{\"purge\":true}", now - 60,
	    now + 3 * 86400);
	s[6] = sign("alice", b[6], strlen(b[6]));
	for (i = 0; i < 7; i++)
		hub_post_text(b[i], s[i]);
	/* And an unsigned destroy, to be approved wrongly below. */
	pend = blob_now("destroy", 104, "{\"purge\":true}");
	hub_post_text(pend, NULL);
	ck_assert_int_eq(agent_once(4), 0);
	for (i = 0; i < 7; i++)
		ck_assert_msg(audited(codes[i]), "no audit row with code %s",
		    codes[i]);
	ck_assert_int_eq(inbox_in(INBOX_REJECTED), 7);
	/* An approval whose params differ from the pending op's. */
	req = only_op("pending_signature");
	wrong = blob_now("destroy", 104, "{\"purge\":false}");
	ws = sign("alice", wrong, strlen(wrong));
	hub_post(req, wrong, strlen(wrong), ws);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert(audited("binding_mismatch"));
	assert_state(req, "pending_signature");
	/* Nothing ran, nothing was consumed. */
	ck_assert_int_eq(pve_count("104:destroy"), 0);
	ck_assert_int_eq(nonces(), 0);
	ck_assert_int_eq(count_ops(NULL), 1);
	for (i = 0; i < 7; i++) {
		free(b[i]);
		free(s[i]);
	}
	free(pend);
	free(req);
	free(wrong);
	free(ws);
}
END_TEST

START_TEST(e2e_valid_signature_runs_once_replay_rejected)
{
	char *b = blob_now("destroy", 104, "{\"purge\":true}");
	char *s = sign("alice", b, strlen(b));

	hub_post_text(b, s);
	ck_assert_int_eq(agent_once(8), 0);
	ck_assert_int_eq(pve_count("104:destroy"), 1);
	ck_assert_int_eq(count_ops("succeeded"), 1);
	ck_assert_int_eq(nonces(), 1);
	/* The same signed job again, to a restarted agent: a replay. */
	hub_post_text(b, s);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert(audited("replay"));
	ck_assert_int_eq(pve_count("104:destroy"), 1);
	ck_assert_int_eq(count_ops(NULL), 1);
	ck_assert_int_eq(nonces(), 1);
	free(b);
	free(s);
}
END_TEST

/* each destructive kind, signed, runs once, wrapped where due. */
START_TEST(e2e_signed_destructive_kinds_run_once)
{
	const char *jobs[][3] = {
		{ "set_config", "102", "{\"delete\":[\"mp0\"]}" },
		{ "rollback", "101", "{\"snapshot\":\"pre-upgrade\"}" },
		{ "delete_snapshot", "101", "{\"name\":\"pre-upgrade\"}" },
	};
	char *b, *s;
	size_t i;

	for (i = 0; i < 3; i++) {
		b = blob_now(jobs[i][0], atoi(jobs[i][1]), jobs[i][2]);
		s = sign("alice", b, strlen(b));
		hub_post_text(b, s);
		free(b);
		free(s);
	}
	ck_assert_int_eq(agent_once(20), 0);
	ck_assert_int_eq(count_ops("succeeded"), 3);
	ck_assert_int_eq(nonces(), 3);
	ck_assert_int_eq(pve_count("102:config"), 1);
	/* The rollback behind its safety snapshot, dropped after. */
	ck_assert_int_eq(pve_count("101:snapshot"), 1);
	ck_assert_int_eq(pve_count("101:rollback"), 1);
	ck_assert_int_eq(pve_count("101:delete_snapshot"), 2);
	ck_assert_uint_eq(pve_total(), 4);
}
END_TEST

START_TEST(e2e_hub_provenance_claims_are_ignored)
{
	const char *claim = "{\"schema\":\"felhom.op/v1\",\"op\":\"destroy\","
	    "\"host_id\":\"pve-01\",\"guest_id\":104,\"params\":"
	    "{\"purge\":true,\"scratch\":true},\"nonce\":"
	    "\"0123456789abcdef0123456789abcdef\","
	    "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":"
	    "\"2026-01-01T01:00:00Z\"}";

	/* The desired state says "scratch" and "provenance": no such keys. */
	hub_desired("{\"schema\":\"felhom.desired/v1\",\"host_id\":\"" HOST
	    "\",\"generation\":1,\"guests\":[{\"vmid\":104,\"state\":"
	    "\"absent\",\"scratch\":true,\"provenance\":\"agent\"}]}");
	hub_post_text(claim, NULL);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert(audited("bad_blob"));
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	ck_assert_int_eq(pve_count("104:destroy"), 0);
}
END_TEST

START_TEST(e2e_approval_through_the_hub_runs_once)
{
	char *archive = backup_of(104), params[512], *b, *uid, *s;
	json_t *rep, *o, *sr = NULL;
	unsigned char req[8192];
	size_t i;
	int len;

	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	b = blob_now("restore", 104, params);
	hub_post_text(b, NULL);
	ck_assert_int_eq(agent_once(3), 0);
	uid = only_op("pending_signature");
	ck_assert_int_eq(pve_count("104:restore"), 0);
	/* The next report carries the agent's sign request. */
	ck_assert_int_eq(agent_once(3), 0);
	rep = last_report();
	json_array_foreach(json_object_get(rep, "ops"), i, o)
		if (strcmp(json_string_value(json_object_get(o, "op_id")),
		    uid) == 0)
			sr = json_object_get(o, "sign_request");
	ck_assert(json_is_object(sr));
	len = EVP_DecodeBlock(req, (const unsigned char *)json_string_value(
	    json_object_get(sr, "blob_b64")), (int)strlen(json_string_value(
	    json_object_get(sr, "blob_b64"))));
	ck_assert_int_gt(len, 0);
	while (len > 0 && req[len - 1] == '\0')	/* base64 padding */
		len--;
	s = sign("alice", req, (size_t)len);
	hub_post(uid, req, (size_t)len, s);
	ck_assert_int_eq(agent_once(10), 0);
	assert_state(uid, "succeeded");
	/*
	 * wrapped in a safety backup (PVE's restore destroys the old
	 * volumes and their snapshots), each request once.
	 */
	ck_assert_int_eq(pve_count("104:vzdump"), 1);
	ck_assert_int_eq(pve_count("104:snapshot"), 0);
	ck_assert_int_eq(pve_count("104:restore"), 1);
	ck_assert_int_eq(nonces(), 1);
	/* The approval again: a replay, nothing runs. */
	hub_post(uid, req, (size_t)len, s);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert(audited("replay"));
	ck_assert_int_eq(pve_count("104:restore"), 1);
	json_decref(rep);
	free(archive);
	free(b);
	free(uid);
	free(s);
}
END_TEST

/* Starts the daemon (no --once) in the background. */
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
		fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			(void) dup2(fd, 1);
			(void) dup2(fd, 2);
		}
		(void) setenv("FELHOM_TEST_POLL_MS", "50", 1);
		execl(tu_bin("felhom-agent"), "felhom-agent", "--config",
		    cfgpath, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
daemon_stop(pid_t pid)
{
	int st = -1, i;

	(void) kill(pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		(void) usleep(100000);
	}
	(void) kill(pid, SIGKILL);
	(void) waitpid(pid, &st, 0);
	return -1;
}

START_TEST(e2e_benign_restore_into_a_free_vmid_runs_unsigned)
{
	char *archive = backup_of(104), params[512], *b;
	json_t *w, *g;
	size_t i;
	int found = 0;

	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	b = blob_now("restore", 150, params);
	hub_post_text(b, NULL);
	ck_assert_int_eq(agent_once(8), 0);
	ck_assert_int_eq(count_ops("succeeded"), 1);
	ck_assert_int_eq(pve_count("150:restore"), 1);
	/* No safety copy: there was nothing to overwrite. */
	ck_assert_uint_eq(pve_total(), 1);
	w = tu_sim_json(&pve, "GET", "/_sim/world", NULL);
	json_array_foreach(json_object_get(w, "guests"), i, g)
		if (json_integer_value(json_object_get(g, "vmid")) == 150)
			found = 1;
	ck_assert_int_eq(found, 1);
	json_decref(w);
	free(archive);
	free(b);
}
END_TEST

/*
 * An unsigned restore over guest 104, approved offline with the
 * operator's own tools (pending --write-blob, ssh-keygen, approve);
 * returns the op's uid (heap) once the agent ran it.
 */
static char *
approved_restore_104(void)
{
	char *archive = backup_of(104), params[512], *b, *uid, *out = NULL;
	char blobdir[4200], file[4300], sigfile[4400], keypath[4200];
	const char *keyargv[] = { "ssh-keygen", "-q", "-Y", "sign", "-n", NS,
	    "-f", keypath, file, NULL };
	int st;

	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	b = blob_now("restore", 104, params);
	hub_post_text(b, NULL);
	ck_assert_int_eq(agent_once(3), 0);
	uid = only_op("pending_signature");
	(void) snprintf(blobdir, sizeof(blobdir), "%s/sign", dir);
	ck_assert_int_eq(mkdir(blobdir, 0700), 0);
	{
		const char *args[] = { "--config", cfgpath, "pending",
		    "--write-blob", blobdir, NULL };

		ck_assert_int_eq(admin(args, NULL), 0);
	}
	(void) snprintf(file, sizeof(file), "%s/%s.json", blobdir, uid);
	(void) snprintf(sigfile, sizeof(sigfile), "%s.sig", file);
	(void) snprintf(keypath, sizeof(keypath), "%s/alice", dir);
	ck_assert_int_eq(tu_run(keyargv, NULL, NULL, 0, NULL, NULL, &st), 0);
	ck_assert_int_eq(st, 0);
	{
		const char *args[] = { "--config", cfgpath, "approve", uid,
		    "--signature", sigfile, NULL };

		ck_assert_int_eq(admin(args, &out), 0);
	}
	free(out);
	ck_assert_int_eq(agent_once(15), 0);
	free(archive);
	free(b);
	return uid;
}

/* The journal detail of uid's newest row with event, as JSON text. */
static char *
journal_detail(const char *uid, const char *event)
{
	struct db *db = db_ro();
	struct ops_row *op = NULL;
	json_t *d = NULL;
	char *text;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	ck_assert_int_eq(journal_last_detail(db, op->id, event, &d, NULL), 0);
	text = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	ops_row_free(op);
	db_close(db);
	return text;
}

static int64_t
provenance_of(enum provenance_kind k)
{
	struct db *db = db_ro();
	int64_t n = -1;

	ck_assert_int_eq(provenance_count(db, (int)k, &n, NULL), 0);
	db_close(db);
	return n;
}

/* The op's error code and message, as "code: message" (heap). */
static char *
op_error(const char *uid)
{
	struct db *db = db_ro();
	struct ops_row *op = NULL;
	char *s = NULL;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	ck_assert_int_ge(asprintf(&s, "%s: %s", op->error_code != NULL ?
	    op->error_code : "", op->error != NULL ? op->error : ""), 0);
	ops_row_free(op);
	db_close(db);
	return s;
}

static json_t *
sim_guest(int64_t vmid)
{
	json_t *w = tu_sim_json(&pve, "GET", "/_sim/world", NULL), *g, *r = NULL;
	size_t i;

	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "guests"), i, g)
		if (json_integer_value(json_object_get(g, "vmid")) == vmid)
			r = json_incref(g);
	json_decref(w);
	return r;
}

/*
 * Issue 11, pve-api.md §5.11/§6.2: a token cannot restore a bind mount,
 * so the undo of an overwrite of 104 could not bring mp0 back.  Without
 * the privileged helper the overwrite is refused before any request.
 */
START_TEST(e2e_bind_mount_overwrite_is_refused_without_the_helper)
{
	char *uid, *e;
	json_t *g;

	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/world/guest",
	    "{\"vmid\":104,\"config\":{\"mp0\":\"/srv/data,mp=/data\"}}",
	    NULL), 200);
	uid = approved_restore_104();
	assert_state(uid, "failed");
	e = op_error(uid);
	ck_assert_msg(strncmp(e, "unsupported: ", 13) == 0, "%s", e);
	ck_assert_ptr_nonnull(strstr(e, "mp0"));
	ck_assert_ptr_nonnull(strstr(e, "privileged helper"));
	free(e);
	/* Not a single mutating request. */
	ck_assert_uint_eq(pve_total(), 0);
	g = sim_guest(104);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "mp0")), "/srv/data,mp=/data");
	json_decref(g);
	free(uid);
}
END_TEST

/*
 * Issue 11, §5.11: a restore over a running guest stops it first (PVE:
 * "can't overwrite running container"), restores onto the storage of its
 * root disk and starts it again, each a journaled step.
 */
START_TEST(e2e_restore_over_a_running_guest_stops_and_starts_it)
{
	char *uid, *d;
	json_t *g;

	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/world/guest",
	    "{\"vmid\":104,\"status\":\"running\"}", NULL), 200);
	uid = approved_restore_104();
	assert_state(uid, "succeeded");
	ck_assert_int_eq(pve_count("104:vzdump"), 1);
	ck_assert_int_eq(pve_count("104:stop"), 1);
	ck_assert_int_eq(pve_count("104:restore"), 1);
	ck_assert_int_eq(pve_count("104:start"), 1);
	d = journal_detail(uid, "step_done");
	ck_assert_ptr_nonnull(d);
	free(d);
	g = sim_guest(104);
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "running");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
	    json_object_get(g, "config"), "rootfs")), "local-lvm:"));
	json_decref(g);
	/* The safety backup is kept, and the agent's. */
	ck_assert_int_eq(provenance_of(PROVENANCE_BACKUP), 1);
	free(uid);
}
END_TEST

/*
 * a restore that fails late has already destroyed the old guest
 * (pve-container create_vm); the undo restores the safety backup into
 * the vmid on its old storage and, as 104 ran, starts it.
 */
START_TEST(e2e_failed_restore_returns_to_the_safety_backup)
{
	char *uid;
	json_t *g;

	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/world/guest",
	    "{\"vmid\":104,\"status\":\"running\",\"config\":"
	    "{\"hostname\":\"before\"}}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&pve, "POST", "/_sim/task-fault",
	    "{\"vmid\":104,\"kind\":\"restore\",\"count\":1,"
	    "\"exitstatus\":\"unable to restore CT 104 - command 'tar' "
	    "failed: exit code 2\"}", NULL), 200);
	uid = approved_restore_104();
	assert_state(uid, "rolled_back");
	ck_assert_int_eq(pve_count("104:vzdump"), 1);
	ck_assert_int_eq(pve_count("104:stop"), 1);
	/* The failed restore, then the undo from the safety backup. */
	ck_assert_int_eq(pve_count("104:restore"), 2);
	g = sim_guest(104);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "hostname")), "before");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "running");
	json_decref(g);
	free(uid);
}
END_TEST

START_TEST(e2e_offline_approval_while_the_agent_runs)
{
	char *b = blob_now("destroy", 104, "{\"purge\":true}");
	char blobdir[4200], file[4300], sigfile[4400], *uid, *out = NULL;
	const char *keyargv[12];
	char keypath[4200];
	int st, i;
	pid_t pid;

	hub_post_text(b, NULL);
	ck_assert_int_eq(agent_once(3), 0);
	uid = only_op("pending_signature");
	pid = agent_daemon();
	/* The operator: pending --write-blob, ssh-keygen, approve. */
	(void) snprintf(blobdir, sizeof(blobdir), "%s/sign", dir);
	ck_assert_int_eq(mkdir(blobdir, 0700), 0);
	{
		const char *args[] = { "--config", cfgpath, "pending",
		    "--write-blob", blobdir, NULL };

		ck_assert_int_eq(admin(args, &out), 0);
	}
	ck_assert_ptr_nonnull(strstr(out, uid));
	ck_assert_ptr_nonnull(strstr(out, "destroys guest 104"));
	free(out);
	out = NULL;
	(void) snprintf(file, sizeof(file), "%s/%s.json", blobdir, uid);
	(void) snprintf(sigfile, sizeof(sigfile), "%s.sig", file);
	(void) snprintf(keypath, sizeof(keypath), "%s/alice", dir);
	i = 0;
	keyargv[i++] = "ssh-keygen";
	keyargv[i++] = "-q";
	keyargv[i++] = "-Y";
	keyargv[i++] = "sign";
	keyargv[i++] = "-n";
	keyargv[i++] = NS;
	keyargv[i++] = "-f";
	keyargv[i++] = keypath;
	keyargv[i++] = file;
	keyargv[i] = NULL;
	ck_assert_int_eq(tu_run(keyargv, NULL, NULL, 0, NULL, NULL, &st), 0);
	ck_assert_int_eq(st, 0);
	{
		const char *args[] = { "--config", cfgpath, "approve", uid,
		    "--signature", sigfile, NULL };

		ck_assert_int_eq(admin(args, &out), 0);
	}
	ck_assert_ptr_nonnull(strstr(out, "accepted"));
	free(out);
	out = NULL;
	/* The running agent picks it up on its next tick. */
	for (i = 0; i < 200 && pve_count("104:destroy") == 0; i++)
		(void) usleep(100000);
	for (i = 0; i < 100; i++) {
		char *s = op_state(uid);
		int done = strcmp(s, "succeeded") == 0;

		free(s);
		if (done)
			break;
		(void) usleep(100000);
	}
	ck_assert_int_eq(daemon_stop(pid), 0);
	assert_state(uid, "succeeded");
	ck_assert_int_eq(pve_count("104:destroy"), 1);
	ck_assert_int_eq(nonces(), 1);
	/* Approving it again: it is not pending (says its state), exit 1. */
	{
		const char *args[] = { "--config", cfgpath, "approve", uid,
		    "--signature", sigfile, NULL };

		ck_assert_int_eq(admin(args, &out), 1);
	}
	ck_assert_ptr_nonnull(strstr(out, "not pending: "));
	ck_assert_ptr_nonnull(strstr(out, " is succeeded"));
	free(out);
	ck_assert_int_eq(pve_count("104:destroy"), 1);
	free(uid);
	free(b);
}
END_TEST

START_TEST(e2e_admin_usage_and_unknown_op)
{
	char *out = NULL, sigfile[4200];
	const char *none[] = { "--config", cfgpath, "approve",
	    "op-0000000000000000", "--signature", sigfile, NULL };
	const char *usage[] = { "approve", NULL };
	const char *empty[] = { "--config", cfgpath, "pending", NULL };

	(void) snprintf(sigfile, sizeof(sigfile), "%s/x.sig", dir);
	ck_assert_int_eq(tu_write_file(sigfile, "x", 1, 0644), 0);
	ck_assert_int_eq(agent_once(3), 0);
	ck_assert_int_eq(admin(usage, NULL), 64);
	/* No such operation: a negative answer (base/exitcode.h). */
	ck_assert_int_eq(admin(none, NULL), 1);
	ck_assert_int_eq(admin(empty, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "no operation is waiting"));
	free(out);
}
END_TEST

START_TEST(e2e_without_signers_benign_runs_destructive_waits)
{
	char *d = blob_now("destroy", 104, "{\"purge\":true}");
	char *ds = sign("alice", d, strlen(d));
	char *ok = blob_now("start", 104, "{}");
	json_t *rep;

	hub_post_text(d, ds);
	hub_post_text(d, NULL);
	hub_post_text(ok, NULL);
	ck_assert_int_eq(agent_once(4), 0);
	ck_assert(audited("unknown_signer"));
	ck_assert_int_eq(count_ops("pending_signature"), 1);
	ck_assert_int_eq(pve_count("104:start"), 1);
	ck_assert_int_eq(pve_count("104:destroy"), 0);
	ck_assert_int_eq(agent_once(3), 0);
	rep = last_report();
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    json_object_get(rep, "agent"), "signers"), "operational")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    json_object_get(rep, "agent"), "signers"), "recovery")), 0);
	json_decref(rep);
	free(d);
	free(ds);
	free(ok);
}
END_TEST

START_TEST(e2e_blocked_freezes_every_mutation)
{
	char *d = blob_now("destroy", 104, "{\"purge\":true}");
	char *ds = sign("alice", d, strlen(d));
	char *ok = blob_now("start", 104, "{}");

	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/envelope",
	    "{\"blocked\":true}", NULL), 200);
	hub_post_text(d, ds);
	hub_post_text(ok, NULL);
	ck_assert_int_eq(agent_once(3), 0);
	ck_assert_uint_eq(pve_total(), 0);
	ck_assert_int_eq(inbox_in(INBOX_NEW), 2);
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_int_eq(nonces(), 0);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/envelope",
	    "{\"blocked\":false}", NULL), 200);
	ck_assert_int_eq(agent_once(8), 0);
	ck_assert_int_eq(pve_count("104:destroy"), 1);
	ck_assert_int_eq(pve_count("104:start"), 1);
	ck_assert_int_eq(nonces(), 1);
	free(d);
	free(ds);
	free(ok);
}
END_TEST

static Suite *
e2e_suite(void)
{
	Suite *s = suite_create("e2e");
	TCase *tc;

	tc = tcase_create("signed");
	tcase_add_unchecked_fixture(tc, sims_start, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc,
	    e2e_unsigned_destructive_never_runs_benign_runs_once);
	tcase_add_test(tc, e2e_signed_job_rejections_leave_no_trace);
	tcase_add_test(tc, e2e_valid_signature_runs_once_replay_rejected);
	tcase_add_test(tc, e2e_signed_destructive_kinds_run_once);
	tcase_add_test(tc, e2e_hub_provenance_claims_are_ignored);
	tcase_add_test(tc, e2e_approval_through_the_hub_runs_once);
	tcase_add_test(tc, e2e_benign_restore_into_a_free_vmid_runs_unsigned);
	tcase_add_test(tc, e2e_offline_approval_while_the_agent_runs);
	tcase_add_test(tc, e2e_bind_mount_overwrite_is_refused_without_the_helper);
	tcase_add_test(tc, e2e_restore_over_a_running_guest_stops_and_starts_it);
	tcase_add_test(tc, e2e_failed_restore_returns_to_the_safety_backup);
	tcase_add_test(tc, e2e_admin_usage_and_unknown_op);
	tcase_add_test(tc, e2e_blocked_freezes_every_mutation);
	suite_add_tcase(s, tc);

	tc = tcase_create("no_signers");
	tcase_add_unchecked_fixture(tc, sims_start, NULL);
	tcase_add_checked_fixture(tc, setup_no_signers, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, e2e_without_signers_benign_runs_destructive_waits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(e2e_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	sims_stop();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
