/*
 * e2etu — the end-to-end harness of the gate's suites.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "authz/opblob.h"
#include "authz_tu.h"
#include "e2etu.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/ops.h"

struct tu_sim e2e_pve, e2e_hub;
char *e2e_dir;
char e2e_cfgpath[4096], e2e_dbpath[4096];
static char *line_alice, *line_rec, *line_eve;

void
e2e_sims_start(void)
{
	const char *pargs[] = { "--task-seconds", "0.05", NULL };
	const char *hargs[] = { "--quiet", "--host-id", E2E_HOST, NULL };

	ck_assert_int_eq(tu_pve_sim_start(&e2e_pve, pargs), 0);
	ck_assert_int_eq(tu_hub_sim_start(&e2e_hub, hargs), 0);
}

void
e2e_sims_stop(void)
{
	tu_sim_stop(&e2e_pve);
	tu_sim_stop(&e2e_hub);
}

static void
write_config(void)
{
	char *text;

	ck_assert_int_gt(asprintf(&text,
	    "{\"host\":{\"id\":\"" E2E_HOST "\",\"node\":\"%s\"},"
	    "\"database\":\"%s\","
	    "\"pve\":{\"url\":\"https://127.0.0.1:%d/api2/json\","
	    "\"token_id\":\"%s\",\"token_secret\":\"%s\",\"ca_file\":\"%s\","
	    "\"timeout_s\":10},"
	    "\"hub\":{\"mode\":\"on\",\"url\":\"%s\",\"token\":\"%s\","
	    "\"ca_file\":\"%s\"},"
	    "\"authz\":{\"operational_signers\":\"%s/operational_signers\","
	    "\"recovery_signers\":\"%s/recovery_signers\","
	    "\"sign_request_ttl_s\":3600},"
	    "\"log\":{\"level\":\"info\"}}",
	    tu_sim_str(&e2e_pve, "node"), e2e_dbpath, e2e_pve.port,
	    tu_sim_str(&e2e_pve, "token_id"),
	    tu_sim_str(&e2e_pve, "token_secret"), e2e_pve.ca_file,
	    tu_sim_str(&e2e_hub, "url"), tu_sim_str(&e2e_hub, "token"),
	    e2e_hub.ca_file, e2e_dir, e2e_dir), 0);
	ck_assert_int_eq(tu_write_file(e2e_cfgpath, text, strlen(text), 0600),
	    0);
	free(text);
}

void
e2e_setup(void)
{
	char *text;

	ck_assert_int_eq(tu_sim_call(&e2e_pve, "POST", "/_sim/reset",
	    "{\"world\":true}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&e2e_hub, "POST", "/_sim/reset",
	    "{\"all\":true}", NULL), 200);
	e2e_dir = tu_tmpdir();
	ck_assert_ptr_nonnull(e2e_dir);
	(void) snprintf(e2e_cfgpath, sizeof(e2e_cfgpath), "%s/config.json",
	    e2e_dir);
	(void) snprintf(e2e_dbpath, sizeof(e2e_dbpath), "%s/state/state.db",
	    e2e_dir);
	ck_assert_int_eq(atu_keygen(e2e_dir, "alice", "ed25519", 0,
	    &line_alice), 0);
	ck_assert_int_eq(atu_keygen(e2e_dir, "rec", "ed25519", 0, &line_rec),
	    0);
	ck_assert_int_eq(atu_keygen(e2e_dir, "eve", "ed25519", 0, &line_eve),
	    0);
	ck_assert_int_gt(asprintf(&text, "alice@ops namespaces=\"" E2E_NS
	    "\" %s\n", line_alice), 0);
	free(atu_write(e2e_dir, "operational_signers", text));
	free(text);
	ck_assert_int_gt(asprintf(&text, "rec@ops %s\n", line_rec), 0);
	free(atu_write(e2e_dir, "recovery_signers", text));
	free(text);
	write_config();
	ck_assert_int_eq(tu_db_init(e2e_dbpath), 0);
}

void
e2e_teardown(void)
{
	tu_rmrf(e2e_dir);
	free(e2e_dir);
	e2e_dir = NULL;
	free(line_alice);
	free(line_rec);
	free(line_eve);
	line_alice = line_rec = line_eve = NULL;
}

int
e2e_agent_once(int timeout_s, char **err_out)
{
	/* The sim's tasks take 0.05 s: polled every 50 ms, not every second. */
	static const char *const env[] = { "FELHOM_TEST_POLL_MS=50", NULL };
	char t[16], *err = NULL;
	const char *argv[] = { tu_bin("felhom-agent"), "--config", e2e_cfgpath,
	    "--once", "--once-timeout", t, NULL };
	int st = -1;

	(void) snprintf(t, sizeof(t), "%d", timeout_s);
	ck_assert_int_eq(tu_run(argv, env, NULL, 0, NULL, &err, &st), 0);
	if (st != 0)
		fprintf(stderr, "felhom-agent --once exited %d:\n%s\n", st,
		    err != NULL ? err : "");
	if (err_out != NULL)
		*err_out = err;
	else
		free(err);
	return st;
}

int
e2e_admin(const char *const args[], char **out)
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

char *
e2e_blob(const char *op, int64_t guest, const char *params, int64_t nb,
    int64_t na)
{
	struct opblob_spec spec;
	json_t *p = json_loads(params, 0, NULL);
	char *out = NULL;
	size_t len;

	ck_assert_ptr_nonnull(p);
	memset(&spec, 0, sizeof(spec));
	spec.op = opblob_kind_from_name(op);
	spec.host_id = E2E_HOST;
	spec.has_guest = guest > 0;
	spec.guest_id = guest;
	spec.params = p;
	spec.not_before = nb;
	spec.not_after = na;
	ck_assert_int_eq(opblob_make(&spec, &out, &len, NULL), 0);
	json_decref(p);
	return out;
}

char *
e2e_blob_now(const char *op, int64_t guest, const char *params)
{
	int64_t now = (int64_t)time(NULL);

	return e2e_blob(op, guest, params, now - 60, now + 3600);
}

char *
e2e_sign(const char *key, const void *blob, size_t len)
{
	char *sig = atu_sign(e2e_dir, key, E2E_NS, NULL, blob, len);

	ck_assert_ptr_nonnull(sig);
	return sig;
}

void
e2e_hub_post(const char *op_id, const void *blob, size_t len,
    const char *sig)
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
	ck_assert_int_eq(tu_sim_call(&e2e_hub, "POST", "/_sim/signed-ops",
	    body, NULL), 200);
	free(body);
	json_decref(e);
	free(b64);
}

void
e2e_hub_desired(const char *doc)
{
	ck_assert_int_eq(tu_sim_call(&e2e_hub, "POST", "/_sim/desired", doc,
	    NULL), 200);
}

void
e2e_pve_ctl(const char *path, const char *body)
{
	char *resp = NULL;
	long st = tu_sim_call(&e2e_pve, "POST", path, body, &resp);

	ck_assert_msg(st == 200, "%s: HTTP %ld %s", path, st,
	    resp != NULL ? resp : "");
	free(resp);
}

int
e2e_pve_count(const char *key)
{
	json_t *c = tu_sim_json(&e2e_pve, "GET", "/_sim/counters", NULL);
	int n;

	ck_assert_ptr_nonnull(c);
	n = (int)json_integer_value(json_object_get(c, key));
	json_decref(c);
	return n;
}

size_t
e2e_pve_keys(void)
{
	json_t *c = tu_sim_json(&e2e_pve, "GET", "/_sim/counters", NULL);
	size_t n;

	ck_assert_ptr_nonnull(c);
	n = json_object_size(c);
	json_decref(c);
	return n;
}

json_t *
e2e_pve_requests(int64_t vmid)
{
	char path[64];
	json_t *r;

	if (vmid > 0)
		(void) snprintf(path, sizeof(path), "/_sim/requests?vmid=%lld",
		    (long long)vmid);
	else
		(void) snprintf(path, sizeof(path), "/_sim/requests");
	r = tu_sim_json(&e2e_pve, "GET", path, NULL);
	ck_assert_ptr_nonnull(r);
	return r;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *
e2e_backups(int64_t vmid, const char *storage)
{
	json_t *w = tu_sim_json(&e2e_pve, "GET", "/_sim/world", NULL), *v;
	const char *names[64];
	char *out;
	size_t i, n = 0, len = 1;

	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "volumes"), i, v) {
		if (json_integer_value(json_object_get(v, "vmid")) != vmid ||
		    strcmp(json_string_value(json_object_get(v, "content")),
		    "backup") != 0 || strcmp(json_string_value(
		    json_object_get(v, "storage")), storage) != 0 || n == 64)
			continue;
		names[n] = json_string_value(json_object_get(v, "volid"));
		len += strlen(names[n++]) + 1;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	out = calloc(1, len);
	ck_assert_ptr_nonnull(out);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, ",");
		strcat(out, names[i]);
	}
	json_decref(w);
	return out;
}

struct db *
e2e_db(void)
{
	struct db *db = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(db_open(e2e_dbpath, DB_OPEN_READONLY, &db, &err) == 0,
	    "db_open: %s", err_msg(&err));
	return db;
}

int64_t
e2e_count_ops(const char *state)
{
	struct db *db = e2e_db();
	int64_t n = -1;

	ck_assert_int_eq(ops_count(db, state, &n, NULL), 0);
	db_close(db);
	return n;
}

/* The newest audit row with code (and event), as a new reference. */
static json_t *
audit_row(const char *event, const char *code)
{
	struct db *db = e2e_db();
	json_t *arr = NULL, *o, *found = NULL;
	size_t i;

	ck_assert_int_eq(audit_since(db, 0, 100000, &arr, NULL), 0);
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "code")),
		    code) == 0 && (event == NULL || strcmp(json_string_value(
		    json_object_get(o, "event")), event) == 0))
			found = o;
	json_incref(found);
	json_decref(arr);
	db_close(db);
	return found;
}

int
e2e_audited(const char *event, const char *code)
{
	json_t *o = audit_row(event, code);
	int found = o != NULL;

	json_decref(o);
	return found;
}

char *
e2e_audit_detail(const char *code)
{
	json_t *o = audit_row(NULL, code);
	char *s = NULL;

	if (o != NULL)
		s = strdup(json_string_value(json_object_get(o, "detail")));
	json_decref(o);
	return s;
}

char *
e2e_only_op(const char *state)
{
	struct db *db = e2e_db();
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

char *
e2e_op_state(const char *uid)
{
	struct db *db = e2e_db();
	struct ops_row *op = NULL;
	char *s;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	s = strdup(op->state);
	ops_row_free(op);
	db_close(db);
	return s;
}
