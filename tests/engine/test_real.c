/*
 * test_real — the engine through exec_pve against tools/pve-sim where
 * real Proxmox VE behaves unlike a lenient simulator (issue 11; the sim
 * follows pve-container, pve-manager, pve-storage, pve-common and is
 * checked against them by tools/pve-sim/test_pve_real.py):
 *
 *   - a restore over a guest with bind mounts completes only with the
 *     privileged helper (exec_helper), forward and back to its safety
 *     backup; a restore without a storage is refused before a request;
 *   - HA resources: hastart completes when the guest runs, a guest the HA
 *     stack never moves fails after the bound, recovery finds hastart;
 *   - a config lock file held by another worker is retried, not a
 *     verdict; a start of a missing guest fails as not_found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/exec_pve.h"
#include "engine/sm.h"
#include "etu.h"
#include "pve/pve.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"
#include "testutil.h"

static struct tu_sim sim;
static char *dir;
static struct db *db;
static struct pve_client *client;
static struct exec_pve *xp;
static struct exec ex;
static struct engine *eng;

/*
 * A stand-in for the privileged helper: what `pct set <vmid> -mpN ...`
 * as root does, done through the simulator's control API (it edits the
 * CT behind the API, as root would).
 */
static int helper_calls;
static json_t *helper_last;

static int
fake_reattach(void *ctx, int64_t vmid, const json_t *mounts, struct err *err)
{
	json_t *body;
	char *text;
	long st;

	(void) ctx;
	helper_calls++;
	json_decref(helper_last);
	helper_last = json_deep_copy(mounts);
	body = json_pack("{s:I,s:O}", "vmid", (json_int_t)vmid, "config",
	    mounts);
	text = json_dumps(body, JSON_COMPACT);
	st = tu_sim_call(&sim, "POST", "/_sim/world/guest", text, NULL);
	free(text);
	json_decref(body);
	if (st != 200)
		return err_set(err, ERR_IO, "fake helper: HTTP %ld", st);
	return 0;
}

static const struct exec_helper helper = { fake_reattach, NULL };

static void
ctl(const char *path, const char *body)
{
	long st = tu_sim_call(&sim, "POST", path, body, NULL);

	ck_assert_msg(st == 200, "%s: HTTP %ld", path, st);
}

static void
sim_start(void)
{
	const char *extra[] = { "--task-seconds", "0.05", NULL };

	log_setup(getenv("SIMLOG") != NULL ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
	    LOG_FORMAT_TEXT, stderr);
	ck_assert_int_eq(tu_pve_sim_start(&sim, extra), 0);
}

static void
sim_stop(void)
{
	tu_sim_stop(&sim);
}

static void
engine_open(int with_helper)
{
	struct pve_client_options o;
	struct engine_config cfg;
	char url[256];
	struct err err;

	err_init(&err);
	db = etu_db_open(dir);
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
	if (with_helper)
		exec_pve_set_helper(xp, &helper);
	exec_pve_set_ha_wait(xp, 3);
	exec_pve_bind(xp, &ex);
	memset(&cfg, 0, sizeof(cfg));
	cfg.poll_interval_ms = 50;
	cfg.backoff_base_s = 1;
	cfg.backoff_max_s = 1;
	ck_assert_msg(engine_new(db, &ex, clock_system(), &cfg, &eng, &err) ==
	    0, "%s", err_msg(&err));
}

static void
engine_close(void)
{
	engine_free(eng);
	exec_pve_free(xp);
	pve_client_free(client);
	db_close(db);
	eng = NULL;
	xp = NULL;
	client = NULL;
	db = NULL;
}

static void
setup(void)
{
	ctl("/_sim/reset", "{\"world\":true}");
	ctl("/_sim/acl", "{\"/\":[\"*\"]}");
	ctl("/_sim/config", "{\"lock_timeout_scale\":1,\"ha_delay\":0.5}");
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	helper_calls = 0;
	json_decref(helper_last);
	helper_last = NULL;
}

static void
teardown(void)
{
	if (eng != NULL)
		engine_close();
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

static json_t *
guest(int64_t vmid)
{
	json_t *w = tu_sim_json(&sim, "GET", "/_sim/world", NULL), *g, *r = NULL;
	size_t i;

	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "guests"), i, g)
		if (json_integer_value(json_object_get(g, "vmid")) == vmid)
			r = json_incref(g);
	json_decref(w);
	return r;
}

static int
counted(int64_t vmid, const char *kind)
{
	json_t *c = tu_sim_json(&sim, "GET", "/_sim/counters", NULL);
	char key[64];
	int n;

	(void) snprintf(key, sizeof(key), "%lld:%s", (long long)vmid, kind);
	n = (int)json_integer_value(json_object_get(c, key));
	json_decref(c);
	return n;
}

static size_t
counted_total(void)
{
	json_t *c = tu_sim_json(&sim, "GET", "/_sim/counters", NULL);
	size_t n = json_object_size(c);

	json_decref(c);
	return n;
}

/* The volid of the guest's PBS backup (heap). */
static char *
backup_of(int64_t vmid)
{
	json_t *w = tu_sim_json(&sim, "GET", "/_sim/world", NULL), *v;
	char *r = NULL;
	size_t i;

	json_array_foreach(json_object_get(w, "volumes"), i, v)
		if (json_integer_value(json_object_get(v, "vmid")) == vmid &&
		    strncmp(json_string_value(json_object_get(v, "volid")),
		    "pbs:", 4) == 0)
			r = strdup(json_string_value(json_object_get(v,
			    "volid")));
	json_decref(w);
	ck_assert_ptr_nonnull(r);
	return r;
}

static int
settle(int timeout_s)
{
	struct engine_next nx;
	struct err err;
	time_t deadline = time(NULL) + timeout_s;

	while (time(NULL) < deadline) {
		err_init(&err);
		ck_assert_msg(engine_step(eng, 0, &nx, &err) == 0, "step: %s",
		    err_msg(&err));
		if (nx.more)
			continue;
		if (nx.delay_ms < 0 || nx.delay_ms > 60000)
			return 0;
		(void) usleep((useconds_t)(nx.delay_ms < 50 ? nx.delay_ms :
		    50) * 1000);
	}
	return -1;
}

/* A destructive op as the gate leaves it once an operator signed it. */
static int64_t
signed_op(int64_t vmid, enum ops_kind kind, const char *params)
{
	struct sm_args a;
	int64_t id = etu_op(db, vmid, kind, OPS_CLASS_DESTRUCTIVE, params, "k",
	    time(NULL));

	memset(&a, 0, sizeof(a));
	a.now = time(NULL);
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
	a.signature = "-----BEGIN SSH SIGNATURE-----";
	a.signer = "alice@ops SHA256:test";
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	return id;
}

static struct ops_row *
op_get(int64_t id)
{
	struct ops_row *op = NULL;

	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	return op;
}

static const char *
mp0_of(json_t *g)
{
	return json_string_value(json_object_get(json_object_get(g, "config"),
	    "mp0"));
}

/* ---- bind mounts (pve-api.md §5.11, §6.2) ----------------------------- */

/*
 * CT 103 runs with a bind mount (and raw lxc keys).  With the helper the
 * overwrite stops it, restores its volumes (given explicitly, so PVE
 * leaves the bind mount out), the helper puts mp0 back, and it is
 * started again.
 */
START_TEST(a_bind_mount_restore_completes_with_the_helper)
{
	char *archive = backup_of(103), params[512];
	struct ops_row *op;
	json_t *g;
	int64_t id;

	engine_open(1);
	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\"}",
	    archive);
	id = signed_op(103, OPS_KIND_RESTORE, params);
	ck_assert_int_eq(settle(60), 0);
	op = op_get(id);
	ck_assert_msg(strcmp(op->state, "succeeded") == 0, "%s: %s",
	    op->state, op->error != NULL ? op->error : "");
	ck_assert_ptr_nonnull(json_object_get(op->safety, "backup"));
	ck_assert_str_eq(json_string_value(json_object_get(op->safety,
	    "rootfs_storage")), "local-lvm");
	ops_row_free(op);
	ck_assert_int_eq(counted(103, "vzdump"), 1);
	ck_assert_int_eq(counted(103, "stop"), 1);
	ck_assert_int_eq(counted(103, "restore"), 1);
	ck_assert_int_eq(counted(103, "start"), 1);
	ck_assert_int_eq(helper_calls, 1);
	ck_assert_str_eq(json_string_value(json_object_get(helper_last,
	    "mp0")), "/srv/data,mp=/data");
	g = guest(103);
	ck_assert_str_eq(mp0_of(g), "/srv/data,mp=/data");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "running");
	json_decref(g);
	free(archive);
}
END_TEST

/*
 * The rewrite of the lenient "failed restore returns to the safety
 * backup" case: the restore fails late, which on PVE has destroyed CT
 * 103 already; the undo restores the safety backup's volumes onto the
 * old storage, the helper puts mp0 back and the guest runs again.
 */
START_TEST(a_failed_bind_mount_restore_returns_with_the_helper)
{
	char *archive = backup_of(103), params[512];
	struct ops_row *op;
	json_t *g, *d = NULL;
	int64_t id;
	int i, running = 0;

	engine_open(1);
	ctl("/_sim/task-fault", "{\"vmid\":103,\"kind\":\"restore\","
	    "\"count\":1,\"exitstatus\":\"unable to restore CT 103 - command "
	    "'tar' failed: exit code 2\"}");
	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	id = signed_op(103, OPS_KIND_RESTORE, params);
	ck_assert_int_eq(settle(60), 0);
	op = op_get(id);
	ck_assert_msg(strcmp(op->state, "rolled_back") == 0, "%s: %s",
	    op->state, op->error != NULL ? op->error : "");
	ck_assert_ptr_nonnull(strstr(op->error, "exit code 2"));
	ops_row_free(op);
	ck_assert_int_eq(counted(103, "restore"), 2);
	ck_assert_int_eq(helper_calls, 1);
	g = guest(103);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(mp0_of(g), "/srv/data,mp=/data");
	json_decref(g);
	/* The start after the re-attach is sent, not waited for. */
	for (i = 0; i < 100; i++) {
		g = guest(103);
		running = strcmp(json_string_value(json_object_get(g,
		    "status")), "running") == 0;
		json_decref(g);
		if (running)
			break;
		(void) usleep(50000);
	}
	ck_assert(running);
	ck_assert_int_eq(counted(103, "start"), 1);
	/* The journal says what the undo did after its task. */
	ck_assert_int_eq(journal_last_detail(db, id, "undo_ok", &d, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "reattached")),
	    "mp0");
	ck_assert_ptr_nonnull(json_object_get(d, "started"));
	json_decref(d);
	free(archive);
}
END_TEST

/* Without the helper: refused before any request (no undo could run). */
START_TEST(a_bind_mount_restore_is_refused_without_the_helper)
{
	char *archive = backup_of(103), params[512];
	struct ops_row *op;
	int64_t id;

	engine_open(0);
	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\"}",
	    archive);
	id = signed_op(103, OPS_KIND_RESTORE, params);
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "unsupported");
	ck_assert_ptr_nonnull(strstr(op->error, "mp0"));
	ops_row_free(op);
	ck_assert_uint_eq(counted_total(), 0);
	/* A fresh restore of that backup too: it would fail in PVE. */
	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	id = etu_op(db, 150, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, params, "f",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->error_code, "unsupported");
	ops_row_free(op);
	ck_assert_uint_eq(counted_total(), 0);
	free(archive);
}
END_TEST

/* §5.11: a restore into a free vmid without a storage is never sent. */
START_TEST(a_fresh_restore_without_a_storage_is_refused)
{
	char *archive = backup_of(104), params[512];
	struct ops_row *op;
	int64_t id;

	engine_open(0);
	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\"}",
	    archive);
	id = etu_op(db, 150, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, params, "f",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_ptr_nonnull(strstr(op->error, "'local'"));
	ops_row_free(op);
	ck_assert_uint_eq(counted_total(), 0);
	free(archive);
}
END_TEST

/* ---- HA resources (§5.8) ---------------------------------------------- */

START_TEST(an_ha_start_completes_when_the_guest_runs)
{
	struct ops_row *op;
	json_t *g, *d = NULL;
	int64_t id;

	engine_open(0);
	ctl("/_sim/world/guest", "{\"vmid\":104,\"ha\":{\"state\":"
	    "\"stopped\"}}");
	id = etu_op(db, 104, OPS_KIND_START, OPS_CLASS_BENIGN, "{}", "s",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "succeeded");
	ops_row_free(op);
	/* Succeeded only once the guest ran, not when hastart ended. */
	g = guest(104);
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "running");
	json_decref(g);
	ck_assert_int_eq(journal_last_detail(db, id, "task_started", &d, NULL),
	    0);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d,
	    "upid")), ":hastart:104:"));
	json_decref(d);
}
END_TEST

START_TEST(an_ha_start_that_never_happens_fails_after_the_bound)
{
	struct ops_row *op;
	int64_t id;

	engine_open(0);
	ctl("/_sim/world/guest", "{\"vmid\":104,\"ha\":{\"state\":\"stopped\","
	    "\"stuck\":true}}");
	id = etu_op(db, 104, OPS_KIND_START, OPS_CLASS_BENIGN, "{}", "s",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_ptr_nonnull(strstr(op->error, "HA stack did not start CT "
	    "104 within 3 s"));
	ops_row_free(op);
	ck_assert_int_eq(counted(104, "start"), 1);
}
END_TEST

/* the start was sent, the agent died before it committed the UPID. */
START_TEST(recovery_finds_an_hastart_task)
{
	struct engine_recovery rec;
	struct pve_submit s;
	struct sm_args a;
	int64_t id;

	engine_open(0);
	ctl("/_sim/world/guest", "{\"vmid\":104,\"ha\":{\"state\":"
	    "\"stopped\"}}");
	id = etu_op(db, 104, OPS_KIND_START, OPS_CLASS_BENIGN, "{}", "s",
	    time(NULL) - 5);
	memset(&a, 0, sizeof(a));
	a.now = time(NULL) - 5;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_BENIGN, &a);
	etu_step(db, id, SM_AUTHORIZED, SM_EV_SUBMIT, &a);
	ck_assert_int_eq(pve_lxc_start(client, tu_sim_str(&sim, "node"), 104,
	    &s, NULL), 0);
	ck_assert_str_eq(s.parsed.type, "hastart");
	engine_close();
	engine_open(0);
	ck_assert_int_eq(engine_recover(eng, &rec, NULL), 0);
	ck_assert_uint_eq(rec.adopted, 1);
	ck_assert_int_eq(settle(30), 0);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(counted(104, "start"), 1);
}
END_TEST

/* ---- config lock file, missing guest (§3, §5.8) ---------------------- */

START_TEST(a_config_lock_timeout_is_retried)
{
	struct ops_row *op;
	json_t *g, *d = NULL;
	int64_t id;

	engine_open(0);
	/* 10 s → 0.2 s; another worker holds the lock for 1.5 s. */
	ctl("/_sim/config", "{\"lock_timeout_scale\":0.02}");
	ctl("/_sim/config-lock", "{\"vmid\":104,\"seconds\":1.5}");
	id = etu_op(db, 104, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"set\":{\"cores\":3}}", "c", time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_int_ge(op->attempt, 2);
	ops_row_free(op);
	/* A lock, named so, not some HTTP 500. */
	ck_assert_int_eq(journal_last_detail(db, id, "retryable_error", &d,
	    NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "error_code")),
	    "locked");
	json_decref(d);
	g = guest(104);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(g,
	    "config"), "cores")), 3);
	json_decref(g);
	/* In a worker: the start task fails with it, and is retried. */
	ctl("/_sim/config-lock", "{\"vmid\":104,\"seconds\":1.5}");
	id = etu_op(db, 104, OPS_KIND_START, OPS_CLASS_BENIGN, "{}", "s",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_ge(counted(104, "start"), 2);
	ck_assert_int_eq(journal_last_detail(db, id, "retryable_error", &d,
	    NULL), 0);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d,
	    "error")), "pve-config-104.lock' - got timeout"));
	json_decref(d);
}
END_TEST

START_TEST(a_start_of_a_missing_guest_fails_as_not_found)
{
	struct ops_row *op;
	int64_t id;

	engine_open(0);
	id = etu_op(db, 999, OPS_KIND_START, OPS_CLASS_BENIGN, "{}", "s",
	    time(NULL));
	ck_assert_int_eq(settle(30), 0);
	op = op_get(id);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "not_found");
	ck_assert_ptr_nonnull(strstr(op->error, "999.conf' does not exist"));
	ops_row_free(op);
	/* Once: a verdict, not retried. */
	ck_assert_int_eq(counted(999, "start"), 1);
	/* A stop of it: "CT 999 not running", nothing to do. */
	id = etu_op(db, 999, OPS_KIND_STOP, OPS_CLASS_BENIGN,
	    "{\"mode\":\"stop\"}", "t", time(NULL));
	ck_assert_int_eq(settle(30), 0);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(counted(999, "stop"), 1);
}
END_TEST

static Suite *
real_suite(void)
{
	Suite *s = suite_create("real");
	TCase *t = tcase_create("real");

	tcase_add_unchecked_fixture(t, sim_start, sim_stop);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, a_bind_mount_restore_completes_with_the_helper);
	tcase_add_test(t, a_failed_bind_mount_restore_returns_with_the_helper);
	tcase_add_test(t, a_bind_mount_restore_is_refused_without_the_helper);
	tcase_add_test(t, a_fresh_restore_without_a_storage_is_refused);
	tcase_add_test(t, an_ha_start_completes_when_the_guest_runs);
	tcase_add_test(t, an_ha_start_that_never_happens_fails_after_the_bound);
	tcase_add_test(t, recovery_finds_an_hastart_task);
	tcase_add_test(t, a_config_lock_timeout_is_retried);
	tcase_add_test(t, a_start_of_a_missing_guest_fails_as_not_found);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(real_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	json_decref(helper_last);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
