/*
 * test_property — the gate as a property (R-27, R-28; issue 10): for
 * every op kind and for generated params — valid ones, every reserved
 * request parameter of PVE's, case variants, list encodings "a,b" "a;b"
 * "a b", arrays, objects, wrong types — whatever reaches the real
 * executor (exec_pve) and pve-sim never removes data unless the op was
 * classified destructive and then signed.
 *
 * Each generated op comes in by two doors: as an unsigned job from the
 * hub (its blob through intake: parser, gate) and as an op whose params
 * never saw the blob parser (the plan's door: ops_create, then the
 * gate).  Nobody signs, so no destructive op may run: every mutating
 * request pve-sim records (GET /_sim/requests: the decoded form PVE
 * received) is checked with an oracle of its own, written from PVE's
 * semantics (pve-api.md), not from the gate's code.  A control then
 * signs a few destructive ops and shows the oracle does flag what they
 * send.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/exec_pve.h"
#include "engine/gate.h"
#include "engine/intake.h"
#include "engine/sm.h"
#include "etu.h"
#include "pve/pve.h"
#include "store/db.h"
#include "store/inbox.h"
#include "store/ops.h"
#include "testutil.h"

#define HOST		"pve-01"
#define NCASES		160	/* generated ops per door */
#define SETTLE_MS	90000	/* the engine's work, at most */

static struct tu_sim sim;
static char *dir;
static struct db *db;
static struct pve_client *client;
static struct exec_pve *xp;
static struct exec ex;
static struct gate *gate;
static struct engine *eng;
static unsigned seed, seed0;	/* the generator, its start */

/* ---- a small deterministic generator ---------------------------------- */

static unsigned
rnd(unsigned n)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 8) % n;
}

static const char *
pick(const char *const *v, size_t n)
{
	return v[rnd((unsigned)n)];
}

#define PICK(a)	pick((a), sizeof(a) / sizeof((a)[0]))

/* Keys: container options, PVE's request parameters, case variants. */
static const char *const keys[] = {
	"cores", "memory", "hostname", "description", "tags", "onboot",
	"protection", "net0", "features", "lock", "template",
	"delete", "revert", "digest", "node", "vmid", "force", "skiplock",
	"purge", "destroy-unreferenced-disks", "remove", "prune-backups",
	"storage", "restore", "ostemplate", "unique", "start", "snapname",
	"Delete", "DELETE", "dElEtE", "Revert", "REVERT", "Digest",
	"mp0", "mp1", "unused0", "unused3", "rootfs", "dev0",
	"MP0", "Mp1", "UNUSED0", "ROOTFS", "RootFS", "mp01", "mp256",
	"lxc", "lxc.apparmor.profile", "parent", "snaptime", "a",
};

/* Values, as JSON: list encodings, arrays, objects, wrong types. */
static const char *const values[] = {
	"\"mp0,unused0\"", "\"mp0;unused0\"", "\"mp0 unused0\"",
	"\"mp0\\tunused0\"", "\"mp0\\nunused0\"", "\"unused0\"", "\"mp0\"",
	"\"rootfs\"", "\"MP0\"", "\"tags,mp0\"", "\"x&delete=mp0\"",
	"\"x;delete=mp0\"", "\"x\\u0000,mp0\"", "[\"mp0\"]",
	"[\"mp0\",\"unused0\"]", "{\"delete\":\"mp0\"}", "1", "0", "2048",
	"true", "false", "1.5", "null", "\"\"", "\"web01\"",
	"\"local-lvm:vm-102-disk-1,mp=/x\"", "\"local-lvm:1,mp=/y\"",
	"\"name=eth0,bridge=vmbr0\"", "\"nesting=1\"", "\"keep-last=1\"",
};

/* Entries of a delete list. */
static const char *const dels[] = {
	"\"tags\"", "\"description\"", "\"mp0\"", "\"unused0\"", "\"rootfs\"",
	"\"mp0,unused0\"", "\"mp0;unused0\"", "\"mp0 unused0\"", "\"MP0\"",
	"\"Unused0\"", "\"net0\"", "\"onboot\"", "[\"mp0\"]", "1", "null",
	"\"delete\"", "\"revert\"", "\"mp0\\u0000\"",
};

static const char *const kinds[] = {
	"start", "stop", "set_config", "set_config", "set_config",
	"set_config", "snapshot", "delete_snapshot", "rollback", "backup",
	"backup", "restore", "restore", "destroy", "provision",
	"rotate_signers", "reboot", "migrate",
};

/* Guests of the default world (102: mp0; 103: bind mount) and free ones. */
static const int64_t vmids[] = { 101, 102, 103, 104, 105, 102, 102, 150,
    151, 152 };

struct gbuf {
	char	 s[4096];
	size_t	 n;
};

static void
put(struct gbuf *b, const char *fmt, ...) __attribute__((format(printf, 2,
    3)));

static void
put(struct gbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	ck_assert(n >= 0 && (size_t)n < sizeof(b->s) - b->n);
	b->n += (size_t)n;
}

/* A JSON object of 0..4 random members (keys unique). */
static void
gen_object(struct gbuf *b, int with_valid)
{
	const char *used[8];
	size_t n = rnd(5), i, j, k = 0;
	const char *key;

	put(b, "{");
	for (i = 0; i < n; i++) {
		key = with_valid && rnd(3) == 0 ? "cores" : PICK(keys);
		for (j = 0; j < k; j++)
			if (strcmp(used[j], key) == 0)
				break;
		if (j < k)
			continue;
		used[k++] = key;
		put(b, "%s\"%s\":%s", k > 1 ? "," : "", key,
		    strcmp(key, "cores") == 0 && rnd(2) ? "2" : PICK(values));
	}
	put(b, "}");
}

static void
gen_set_config(struct gbuf *b)
{
	size_t i, n;

	switch (rnd(6)) {
	case 0:	/* the issue's own example */
		put(b, "{\"set\":{\"delete\":\"mp0,unused0\"}}");
		return;
	case 1:
		put(b, "{\"set\":");
		gen_object(b, 1);
		put(b, "}");
		return;
	case 2:
		put(b, "{\"delete\":[");
		n = 1 + rnd(3);
		for (i = 0; i < n; i++)
			put(b, "%s%s", i > 0 ? "," : "", PICK(dels));
		put(b, "]}");
		return;
	case 3:
		put(b, "{\"set\":");
		gen_object(b, 1);
		put(b, ",\"delete\":%s}", rnd(2) ? PICK(values) : "[\"tags\"]");
		return;
	case 4:
		put(b, "{\"set\":{\"cores\":2},\"%s\":%s}", PICK(keys),
		    PICK(values));
		return;
	default:
		gen_object(b, 0);
		return;
	}
}

/* Valid params of kind with, sometimes, a generated extra member. */
static void
gen_params(struct gbuf *b, const char *kind, const char *archive)
{
	char extra[256] = "";

	if (rnd(3) == 0)
		(void) snprintf(extra, sizeof(extra), ",\"%s\":%s", PICK(keys),
		    PICK(values));
	if (strcmp(kind, "set_config") == 0)
		gen_set_config(b);
	else if (strcmp(kind, "stop") == 0)
		put(b, "{\"mode\":\"%s\"%s}", rnd(2) ? "stop" : "shutdown",
		    extra);
	else if (strcmp(kind, "snapshot") == 0)
		put(b, "{\"name\":\"s%u\"%s}", rnd(1000), extra);
	else if (strcmp(kind, "delete_snapshot") == 0)
		put(b, "{\"name\":\"pre-upgrade\"%s}", extra);
	else if (strcmp(kind, "rollback") == 0)
		put(b, "{\"snapshot\":\"pre-upgrade\"%s}", extra);
	else if (strcmp(kind, "backup") == 0)
		put(b, "{\"storage\":\"%s\",\"mode\":\"snapshot\"%s}",
		    rnd(2) ? "local" : "pbs", extra);
	else if (strcmp(kind, "restore") == 0)
		put(b, "{\"archive\":\"%s\",\"storage\":\"local-lvm\"%s}",
		    archive, extra);
	else if (strcmp(kind, "destroy") == 0)
		put(b, "{\"purge\":%s%s}", rnd(2) ? "true" : "false", extra);
	else if (strcmp(kind, "provision") == 0)
		put(b, "{\"template\":\"local:vztmpl/debian-12-standard_12.7-1_"
		    "amd64.tar.zst\",\"storage\":\"local-lvm\",\"spec\":"
		    "{\"cores\":1}%s}", extra);
	else if (strcmp(kind, "rotate_signers") == 0)
		put(b, "{\"kind\":\"planned\",\"operational\":[]%s}", extra);
	else if (extra[0] != '\0')
		put(b, "{%s}", extra + 1);
	else
		gen_object(b, 0);
}

/* ---- the oracle: does a request PVE received remove data? ------------- */

static const char *
str_of(const json_t *params, const char *key)
{
	const json_t *v = json_object_get(params, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* mpN, unusedN or rootfs, any letter case. */
static int
volume_key(const char *k, size_t n)
{
	size_t p, i;

	if (n == 6 && strncasecmp(k, "rootfs", 6) == 0)
		return 1;
	if (n > 2 && strncasecmp(k, "mp", 2) == 0)
		p = 2;
	else if (n > 6 && strncasecmp(k, "unused", 6) == 0)
		p = 6;
	else
		return 0;
	for (i = p; i < n; i++)
		if (k[i] < '0' || k[i] > '9')
			return 0;
	return 1;
}

/* PVE's split_list (pve-common ParseUtils.pm): , ; and whitespace. */
static int
list_names_volume(const char *list)
{
	const char *p = list;
	size_t n;

	while (*p != '\0') {
		p += strspn(p, ",; \t\n\r\f\v");
		n = strcspn(p, ",; \t\n\r\f\v");
		if (n == 0)
			break;
		if (volume_key(p, n))
			return 1;
		p += n;
	}
	return 0;
}

/* Why the request removes (or may remove) data, or NULL. */
static const char *
removes_data(const json_t *r)
{
	const char *m = json_string_value(json_object_get(r, "method"));
	const char *path = json_string_value(json_object_get(r, "path"));
	const json_t *p = json_object_get(r, "params"), *v;
	const char *k, *s;
	size_t len = strlen(path);

	json_object_foreach((json_t *)(uintptr_t)p, k, v) {
		if (strcasecmp(k, "purge") == 0 ||
		    strcasecmp(k, "destroy-unreferenced-disks") == 0)
			return "purge";
		if (strcasecmp(k, "revert") == 0)
			return "revert of pending changes";
		if (strcasecmp(k, "prune-backups") == 0)
			return "prune-backups";
	}
	if (strcmp(m, "PUT") == 0 && len > 7 &&
	    strcmp(path + len - 7, "/config") == 0) {
		json_object_foreach((json_t *)(uintptr_t)p, k, v) {
			if (volume_key(k, strlen(k)))
				return "sets a volume key";
			if (strcasecmp(k, "delete") == 0 &&
			    (!json_is_string(v) || list_names_volume(
			    json_string_value(v))))
				return "deletes a volume key";
		}
		return NULL;
	}
	if (strcmp(m, "POST") == 0 && strstr(path, "/vzdump") != NULL) {
		s = str_of(p, "remove");
		/* PVE's default remove=1 prunes (VZDump/Common.pm). */
		return s == NULL || strcmp(s, "0") != 0 ? "vzdump may prune" :
		    NULL;
	}
	if (strcmp(m, "POST") == 0 && len > 4 &&
	    strcmp(path + len - 4, "/lxc") == 0) {
		s = str_of(p, "force");
		return s != NULL && strcmp(s, "0") != 0 ? "restore over a guest" :
		    NULL;
	}
	if (strcmp(m, "DELETE") == 0 && strstr(path, "/tasks/") == NULL)
		return strstr(path, "/snapshot/") != NULL ?
		    "deletes a snapshot" : "destroys a guest";
	if (strcmp(m, "POST") == 0 && len > 9 &&
	    strcmp(path + len - 9, "/rollback") == 0)
		return "rollback";
	return NULL;
}

/* Every recorded request the oracle flags, "method path: why" lines. */
static char *
flagged(size_t *n_out, size_t *total_out)
{
	json_t *reqs = tu_sim_json(&sim, "GET", "/_sim/requests", NULL), *r;
	struct gbuf *b = calloc(1, sizeof(*b));
	const char *why;
	size_t i, n = 0;

	ck_assert_ptr_nonnull(reqs);
	ck_assert_ptr_nonnull(b);
	json_array_foreach(reqs, i, r) {
		if ((why = removes_data(r)) == NULL)
			continue;
		if (n++ < 20)
			put(b, "%s %s: %s\n", json_string_value(json_object_get(
			    r, "method")), json_string_value(json_object_get(r,
			    "path")), why);
	}
	*n_out = n;
	*total_out = json_array_size(reqs);
	json_decref(reqs);
	return (char *)b;
}

/* ---- the wiring -------------------------------------------------------- */

static int
decide_adapter(void *ctx, const struct ops_row *op, struct err *err)
{
	return gate_decide(ctx, op, NULL, err);
}

static void
setup(void)
{
	const char *extra[] = { "--task-seconds", "0.02", NULL };
	struct pve_client_options o;
	struct engine_config ec;
	struct gate_config gc;
	struct err err;
	char url[256];
	const char *s = getenv("FELHOM_PROPERTY_SEED");

	log_setup(getenv("PROP_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	seed = s != NULL ? (unsigned)strtoul(s, NULL, 10) :
	    (unsigned)time(NULL);
	seed0 = seed;
	fprintf(stderr, "property seed %u (FELHOM_PROPERTY_SEED to repeat)\n",
	    seed0);
	ck_assert_int_eq(tu_pve_sim_start(&sim, extra), 0);
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	db = etu_db_open(dir);
	err_init(&err);
	(void) snprintf(url, sizeof(url), "%s/api2/json", sim.base);
	memset(&o, 0, sizeof(o));
	o.url = url;
	o.token_id = tu_sim_str(&sim, "token_id");
	o.token_secret = tu_sim_str(&sim, "token_secret");
	o.trust = HTTPS_TRUST_CA_FILE;
	o.ca_file = sim.ca_file;
	o.timeout_s = 10;
	ck_assert_msg(pve_client_new(&o, &client, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_int_eq(exec_pve_new(client, tu_sim_str(&sim, "node"), &xp,
	    NULL), 0);
	exec_pve_bind(xp, &ex);
	memset(&gc, 0, sizeof(gc));
	gc.host_id = HOST;
	gc.clock_skew_s = 120;
	gc.max_window_s = 86400;
	gc.sign_request_ttl_s = 3600;
	ck_assert_int_eq(gate_new(db, &gc, clock_system(), &ex, &gate, NULL),
	    0);
	memset(&ec, 0, sizeof(ec));
	ec.poll_interval_ms = 20;
	ec.max_attempts = 2;
	ec.backoff_base_s = 1;
	ec.backoff_max_s = 1;
	ec.decide = decide_adapter;
	ec.decide_ctx = gate;
	ec.transition_hook = gate_provenance_hook;
	ck_assert_msg(engine_new(db, &ex, clock_system(), &ec, &eng, &err) ==
	    0, "%s", err_msg(&err));
}

static void
teardown(void)
{
	engine_free(eng);
	gate_free(gate);
	exec_pve_free(xp);
	pve_client_free(client);
	db_close(db);
	tu_sim_stop(&sim);
	tu_rmrf(dir);
	free(dir);
}

/* "uid kind state step error; ..." of the ops not terminal (a failure's why). */
static const char *
busy_ops(void)
{
	static char out[2048];
	sqlite3_stmt *st = NULL;
	size_t len = 0;

	out[0] = '\0';
	if (sqlite3_prepare_v2(db_handle(db), "SELECT uid, kind, state, step, "
	    "coalesce(error, '') FROM ops WHERE state IN ('new', 'authorized',"
	    " 'submitting', 'running', 'rolling_back')", -1, &st, NULL) !=
	    SQLITE_OK)
		return "?";
	while (sqlite3_step(st) == SQLITE_ROW && len < sizeof(out) - 1)
		len += (size_t)snprintf(out + len, sizeof(out) - len,
		    "%s %s %s step %d %s; ", sqlite3_column_text(st, 0),
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_int(st, 3), sqlite3_column_text(st, 4));
	(void) sqlite3_finalize(st);
	return out;
}

/* Runs the engine until nothing it can move is left (bounded). */
static void
settle(void)
{
	static const char *const busy[] = { "new", "authorized", "submitting",
	    "running", "rolling_back" };
	struct engine_next next;
	struct err err;
	struct timespec ts;
	int64_t t0 = clock_mono_ms(NULL), n, left;
	size_t i;

	for (;;) {
		err_init(&err);
		ck_assert_msg(engine_step(eng, 0, &next, &err) == 0,
		    "engine_step: %s", err_msg(&err));
		if (next.more)
			continue;
		for (left = 0, i = 0; i < sizeof(busy) / sizeof(busy[0]);
		    i++) {
			ck_assert_int_eq(ops_count(db, busy[i], &n, NULL), 0);
			left += n;
		}
		if (left == 0)
			return;
		ck_assert_msg(clock_mono_ms(NULL) - t0 < SETTLE_MS, "the engine "
		    "did not settle: %" PRId64 " op(s) busy: %s", left,
		    busy_ops());
		ts.tv_sec = 0;
		ts.tv_nsec = 20 * 1000000L;
		(void) nanosleep(&ts, NULL);
	}
}

/* The unsigned job's blob, as the hub would relay it (raw text). */
static void
hub_job(const char *kind, int64_t vmid, const char *params, int i)
{
	struct inbox_entry e;
	char nb[CLOCK_RFC3339_LEN], na[CLOCK_RFC3339_LEN], guest[24], *blob;
	int64_t now = clock_now(NULL), id = 0;

	clock_format_rfc3339(now - 60, nb, sizeof(nb));
	clock_format_rfc3339(now + 3600, na, sizeof(na));
	if (strcmp(kind, "rotate_signers") == 0)
		(void) snprintf(guest, sizeof(guest), "null");
	else
		(void) snprintf(guest, sizeof(guest), "%" PRId64, vmid);
	ck_assert_int_gt(asprintf(&blob, "{\"schema\":\"felhom.op/v1\","
	    "\"op\":\"%s\",\"host_id\":\"" HOST "\",\"guest_id\":%s,"
	    "\"params\":%s,\"nonce\":\"%024x%08x\",\"not_before\":\"%s\","
	    "\"not_after\":\"%s\"}", kind, guest, params, (unsigned)i, seed0,
	    nb, na), 0);
	memset(&e, 0, sizeof(e));
	e.received_at = now;
	e.blob = blob;
	e.blob_len = strlen(blob);
	ck_assert_int_eq(inbox_add(db, &e, &id, NULL), 0);
	free(blob);
}

/* The plan's door: params straight into an op, then the gate. */
static void
plan_op(const char *kind, int64_t vmid, const char *params, int i)
{
	struct ops_new on;
	json_t *p = json_loads(params, 0, NULL);
	char key[64];
	int64_t id = 0;
	int k = ops_kind_parse(kind);

	/* No source of ops carries a NUL (every JSON parser refuses it). */
	if (p == NULL || k < 0) {
		json_decref(p);
		return;		/* nor a kind the ops table does not know */
	}
	(void) snprintf(key, sizeof(key), "property/%u/%d", seed0, i);
	memset(&on, 0, sizeof(on));
	on.vmid = strcmp(kind, "rotate_signers") == 0 ? 0 : vmid;
	on.kind = (enum ops_kind)k;
	on.source = OPS_SOURCE_DESIRED;
	on.class = OPS_CLASS_BENIGN;	/* what a careless plan would say */
	on.params = p;
	on.why = "property";
	on.idem_key = key;
	on.now = clock_now(NULL);
	ck_assert_int_eq(ops_create(db, &on, &id, NULL), 0);
	json_decref(p);
}

/* A backup volume of vmid in the simulated world (heap), for restores. */
static char *
a_backup(void)
{
	json_t *w = tu_sim_json(&sim, "GET", "/_sim/world", NULL), *v;
	char *volid = NULL;
	size_t i;

	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "volumes"), i, v)
		if (volid == NULL && strcmp(json_string_value(json_object_get(v,
		    "content")), "backup") == 0)
			volid = strdup(json_string_value(json_object_get(v,
			    "volid")));
	json_decref(w);
	ck_assert_ptr_nonnull(volid);
	return volid;
}

START_TEST(executor_never_removes_data_unless_destructive_and_signed)
{
	struct intake_stats st;
	struct gbuf b;
	char *archive = a_backup(), *bad;
	const char *kind;
	size_t nflag = 0, total = 0, i;
	int64_t vmid, n = 0, pending = 0, rejected = 0, succeeded = 0, id;
	struct sm_args a;

	for (i = 0; i < NCASES; i++) {
		kind = PICK(kinds);
		vmid = vmids[rnd(sizeof(vmids) / sizeof(vmids[0]))];
		memset(&b, 0, sizeof(b));
		gen_params(&b, kind, archive);
		hub_job(kind, vmid, b.s, (int)i);
		plan_op(kind, vmid, b.s, (int)i);
		if (i % 40 == 39) {
			ck_assert_int_eq(intake_run(gate, 0, &st, NULL), 0);
			settle();
		}
	}
	ck_assert_int_eq(intake_run(gate, 0, &st, NULL), 0);
	settle();
	bad = flagged(&nflag, &total);
	ck_assert_msg(nflag == 0, "seed %u: %zu of %zu requests remove data "
	    "unsigned:\n%s", seed0, nflag, total, bad);
	free(bad);
	/* The run exercised every door: some ran, some wait, some refused. */
	ck_assert_int_eq(ops_count(db, "succeeded", &succeeded, NULL), 0);
	ck_assert_int_eq(ops_count(db, "pending_signature", &pending, NULL), 0);
	ck_assert_int_eq(ops_count(db, "rejected", &rejected, NULL), 0);
	ck_assert_int_eq(inbox_count(db, INBOX_REJECTED, &n, NULL), 0);
	ck_assert_msg(succeeded > 0 && pending > 0 && rejected + n > 0 &&
	    total > 0, "seed %u: succeeded %" PRId64 ", pending %" PRId64
	    ", rejected %" PRId64 " + %" PRId64 " entries, %zu requests",
	    seed0, succeeded, pending, rejected, n, total);

	/*
	 * The control: signed, the destructive ones do what they say, and
	 * the oracle sees it — it is not blind.
	 */
	id = etu_op(db, 102, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"delete\":[\"mp0\"]}", "control/1", clock_now(NULL));
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	bad = flagged(&nflag, &total);
	ck_assert_uint_eq(nflag, 0);
	free(bad);
	memset(&a, 0, sizeof(a));
	a.now = clock_now(NULL);
	a.signer = "control";
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	bad = flagged(&nflag, &total);
	if (nflag != 1) {
		char *all = NULL;

		(void) tu_sim_call(&sim, "GET", "/_sim/requests?vmid=102", NULL,
		    &all);
		fprintf(stderr, "requests of 102: %s\n", all);
		free(all);
	}
	ck_assert_msg(nflag == 1 && strstr(bad, "deletes a volume key") !=
	    NULL, "seed %u: %zu flagged:\n%s", seed0, nflag, bad);
	free(bad);
	free(archive);
}
END_TEST

/* The oracle itself, on requests written by hand. */
START_TEST(oracle_reads_pve_semantics)
{
	static const struct {
		const char	*req;
		int		 removes;
	} cases[] = {
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"delete\":\"tags;MP0\"}}", 1 },
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"delete\":\"tags description\"}}", 0 },
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"delete\":[\"tags\",\"unused2\"]}}", 1 },
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"mp3\":\"local:1\"}}", 1 },
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"revert\":\"cores\"}}", 1 },
		{ "{\"method\":\"PUT\",\"path\":\"/nodes/n/lxc/1/config\","
		    "\"params\":{\"cores\":\"2\",\"digest\":\"ab\"}}", 0 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/vzdump\","
		    "\"params\":{\"vmid\":\"1\"}}", 1 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/vzdump\","
		    "\"params\":{\"vmid\":\"1\",\"remove\":\"0\"}}", 0 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/lxc\","
		    "\"params\":{\"restore\":\"1\",\"force\":\"1\"}}", 1 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/lxc\","
		    "\"params\":{\"restore\":\"1\"}}", 0 },
		{ "{\"method\":\"DELETE\",\"path\":\"/nodes/n/lxc/1\","
		    "\"params\":{}}", 1 },
		{ "{\"method\":\"DELETE\",\"path\":\"/nodes/n/lxc/1/snapshot/s\","
		    "\"params\":{}}", 1 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/lxc/1/snapshot/s/"
		    "rollback\",\"params\":{}}", 1 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/lxc/1/snapshot\","
		    "\"params\":{\"snapname\":\"s\"}}", 0 },
		{ "{\"method\":\"POST\",\"path\":\"/nodes/n/lxc/1/status/start\","
		    "\"params\":{}}", 0 },
	};
	size_t i;
	json_t *r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = json_loads(cases[i].req, 0, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_msg((removes_data(r) != NULL) == cases[i].removes,
		    "%s", cases[i].req);
		json_decref(r);
	}
}
END_TEST

static Suite *
property_suite(void)
{
	Suite *s = suite_create("gate.property");
	TCase *tc = tcase_create("executor");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, executor_never_removes_data_unless_destructive_and_signed);
	suite_add_tcase(s, tc);
	tc = tcase_create("oracle");
	tcase_add_test(tc, oracle_reads_pve_semantics);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(property_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
