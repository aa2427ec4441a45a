/*
 * test_privsim — the engine with the gate, the PVE executor and the
 * privileged helper (started unprivileged, with the fake pct, pvesm,
 * smartctl and sensors acting on pve-sim), end to end (R-08, R-17,
 *
 *   - a desired guest with keyctl is created by the helper's pct, one
 *     with nesting only through the API; both started in the same op;
 *   - desired bind mounts are attached by the helper; removing one is
 *     held for a signature;
 *   - restore tests: a good backup passes, a broken one fails, both
 *     leave no scratch guest; an occupied scratch vmid is skipped; a
 *     scratch guest replaced behind the agent's back is left alone, and
 *     a guest created at a finished test's vmid is the customer's
 *     (destroying it is gated);
 *   - a crash (the process state thrown away, the database kept) during
 *     a restore test or a helper job: after the restart nothing runs
 *     twice and no scratch guest is left.
 */
#include <stdint.h>
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
#include "engine/gate.h"
#include "engine/rtest.h"
#include "engine/sm.h"
#include "etu.h"
#include "hub/hub.h"
#include "priv/priv.h"
#include "privtu.h"
#include "pve/pve.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/ops.h"
#include "store/provenance.h"
#include "store/rtests.h"
#include "testutil.h"

#define TMPL	"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

static struct tu_sim sim;
static struct ptu_rig rig;
static char *dir;
static struct db *db;
static struct pve_client *client;
static struct priv_client *pc;
static struct exec_pve *xp;
static struct exec ex;
static struct gate *gate;
static struct engine *eng;
static struct rtest *rt;
static int64_t generation;
static int64_t hold_s = 1;

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
ctl(const char *path, const char *body)
{
	long st = tu_sim_call(&sim, "POST", path, body, NULL);

	ck_assert_msg(st == 200, "%s: HTTP %ld", path, st);
}

static int
decide(void *ctx, const struct ops_row *op, struct err *err)
{
	struct gate_result res;

	gate_result_init(&res);
	return gate_decide(ctx, op, &res, err);
}

/* The agent's start-up, as agent.c does it; with_helper 0: none. */
static void
agent_open(int with_helper)
{
	struct pve_client_options o;
	struct engine_config ec;
	struct rtest_config rc;
	struct gate_config gc;
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
	if (with_helper) {
		ck_assert_int_eq(priv_client_new(rig.socket, &pc, NULL), 0);
		ck_assert_int_eq(exec_pve_set_priv(xp, pc, NULL), 0);
	}
	exec_pve_bind(xp, &ex);
	memset(&gc, 0, sizeof(gc));
	gc.host_id = "pve-01";
	gc.clock_skew_s = 120;
	gc.max_window_s = 86400;
	gc.sign_request_ttl_s = 3600;
	ck_assert_msg(gate_new(db, &gc, clock_system(), &ex, &gate, &err) ==
	    0, "%s", err_msg(&err));
	memset(&ec, 0, sizeof(ec));
	ec.poll_interval_ms = 50;
	ec.decide = decide;
	ec.decide_ctx = gate;
	ec.transition_hook = gate_provenance_hook;
	/* The rig's sysfs: the devices the helper resolves ids against. */
	ec.sysfs_root = ptu_path(&rig, "sys");
	ck_assert_msg(engine_new(db, &ex, clock_system(), &ec, &eng, &err) ==
	    0, "%s", err_msg(&err));
	memset(&rc, 0, sizeof(rc));
	rc.hold_s = hold_s;
	rc.check_ms = 100;
	rc.transition_hook = gate_provenance_hook;
	ck_assert_int_eq(rtest_new(db, &ex, clock_system(), &rc, &rt, NULL),
	    0);
	ck_assert_msg(engine_recover(eng, NULL, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_msg(rtest_recover(rt, NULL, &err) == 0, "%s",
	    err_msg(&err));
}

/* Everything in memory goes: what a crash leaves is the database. */
static void
agent_close(void)
{
	rtest_free(rt);
	engine_free(eng);
	gate_free(gate);
	exec_pve_free(xp);
	priv_client_free(pc);
	pve_client_free(client);
	db_close(db);
	rt = NULL;
	eng = NULL;
	gate = NULL;
	xp = NULL;
	pc = NULL;
	client = NULL;
	db = NULL;
}

static void
setup(void)
{
	ctl("/_sim/reset", "{\"world\":true}");
	ptu_rig_start(&rig, &sim, getuid());
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	generation = 0;
	hold_s = 1;
	agent_open(1);
}

static void
teardown(void)
{
	agent_close();
	ptu_rig_stop(&rig);
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

/* ---- driving ------------------------------------------------------------ */

static int
open_runs(void)
{
	struct rtests_run *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(rtests_open(db, &v, &n, NULL), 0);
	rtests_runs_free(v, n);
	return (int)n;
}

/*
 * Steps the lanes and the restore tests until nothing moves by itself
 * (a pending signature is left waiting), or until stop() says so.
 */
static int
settle_until(int timeout_s, int (*stop)(void))
{
	struct engine_next nx;
	struct timespec ts;
	struct err err;
	time_t deadline = time(NULL) + timeout_s;
	int64_t rd, ms;

	while (time(NULL) < deadline) {
		if (stop != NULL && stop())
			return 0;
		err_init(&err);
		ck_assert_msg(engine_step(eng, 0, &nx, &err) == 0, "step: %s",
		    err_msg(&err));
		err_init(&err);
		ck_assert_msg(rtest_tick(rt, 0, &rd, &err) == 0, "rtest: %s",
		    err_msg(&err));
		if (nx.more || rd == 0)
			continue;
		if ((nx.delay_ms < 0 || nx.delay_ms > 60000) && rd < 0)
			return 0;
		ms = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = ms * 1000000L;
		(void) nanosleep(&ts, NULL);
	}
	return -1;
}

static void
settle(void)
{
	ck_assert_int_eq(settle_until(90, NULL), 0);
}

static void
cycle(void)
{
	struct err err;
	int safe = 0;

	err_init(&err);
	ck_assert_msg(engine_observe(eng, &safe, &err) == 0, "observe: %s",
	    err_msg(&err));
	ck_assert(safe);
	ck_assert_msg(engine_plan(eng, NULL, &err) == 0, "plan: %s",
	    err_msg(&err));
	settle();
}

static void
store_desired(const char *guests, const char *tests)
{
	json_t *g = json_loads(guests, 0, NULL);
	json_t *t = tests != NULL ? json_loads(tests, 0, NULL) : NULL;
	struct err err;

	ck_assert_ptr_nonnull(g);
	err_init(&err);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_msg(desired_replace(db, ++generation, g, t, &err) == 0,
	    "%s", err_msg(&err));
	ck_assert_int_eq(db_commit(db, NULL), 0);
	json_decref(g);
	json_decref(t);
}

static json_t *
world_guest(json_t **w, int64_t vmid)
{
	json_t *g;
	size_t i;

	*w = tu_sim_json(&sim, "GET", "/_sim/world", NULL);
	ck_assert_ptr_nonnull(*w);
	json_array_foreach(json_object_get(*w, "guests"), i, g)
		if (json_integer_value(json_object_get(g, "vmid")) == vmid)
			return g;
	return NULL;
}

static int
exists(int64_t vmid)
{
	json_t *w;
	int e = world_guest(&w, vmid) != NULL;

	json_decref(w);
	return e;
}

static int
counted(int64_t vmid, const char *kind)
{
	json_t *c = tu_sim_json(&sim, "GET", "/_sim/counters", NULL);
	char key[64];
	int n;

	ck_assert_ptr_nonnull(c);
	(void) snprintf(key, sizeof(key), "%lld:%s", (long long)vmid, kind);
	n = (int)json_integer_value(json_object_get(c, key));
	json_decref(c);
	return n;
}

/* The newest op of vmid and kind (caller frees), or NULL. */
static struct ops_row *
last_op(int64_t vmid, enum ops_kind kind)
{
	struct ops_row *op = NULL, *best = NULL;
	int64_t id;

	for (id = 1; ops_get(db, id, &op, NULL) == 0; id++) {
		if (op->vmid == vmid && op->kind == kind) {
			ops_row_free(best);
			best = op;
		} else
			ops_row_free(op);
		op = NULL;
	}
	return best;
}

static int64_t
ops_of(int64_t vmid, enum ops_kind kind, const char *state)
{
	struct ops_row *op = NULL;
	int64_t id, n = 0;

	for (id = 1; ops_get(db, id, &op, NULL) == 0; id++) {
		if (op->vmid == vmid && op->kind == kind &&
		    (state == NULL || strcmp(op->state, state) == 0))
			n++;
		ops_row_free(op);
		op = NULL;
	}
	return n;
}

/* ---- provisioning and host paths --------------------------------------- */

START_TEST(keyctl_provisioning_goes_through_the_helper)
{
	json_t *w, *g;

	store_desired("[{\"vmid\":150,\"state\":\"running\",\"spec\":"
	    "{\"hostname\":\"build\",\"memory_mib\":1024,\"features\":"
	    "{\"nesting\":true,\"keyctl\":true}},\"provision\":{\"template\":"
	    "\"" TMPL "\",\"storage\":\"local-lvm\",\"rootfs_gib\":8}}]", NULL);
	cycle();
	g = world_guest(&w, 150);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "features")), "keyctl=1,nesting=1");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "running");
	json_decref(w);
	/* Created as root by pct, started through the API, in one op. */
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	ck_assert_int_eq(counted(150, "create"), 0);
	ck_assert_int_eq(counted(150, "start"), 1);
	ck_assert_int_eq(ops_of(150, OPS_KIND_PROVISION, "succeeded"), 1);
	ck_assert_int_eq(ops_of(150, OPS_KIND_START, NULL), 0);
	/* A second cycle finds nothing to do. */
	cycle();
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	ck_assert_int_eq(counted(150, "config"), 0);
}
END_TEST

START_TEST(nesting_only_provisioning_uses_the_api)
{
	json_t *w, *g;

	store_desired("[{\"vmid\":151,\"state\":\"stopped\",\"spec\":"
	    "{\"hostname\":\"web\",\"features\":{\"nesting\":true}},"
	    "\"provision\":{\"template\":\"" TMPL "\",\"storage\":"
	    "\"local-lvm\",\"rootfs_gib\":4}}]", NULL);
	cycle();
	g = world_guest(&w, 151);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "features")), "nesting=1");
	ck_assert_str_eq(json_string_value(json_object_get(g, "status")),
	    "stopped");
	json_decref(w);
	ck_assert_int_eq(counted(151, "create"), 1);
	ck_assert_int_eq(counted(151, "start"), 0);
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(keyctl_without_a_helper_fails_as_unsupported)
{
	struct ops_row *op;

	agent_close();
	agent_open(0);
	store_desired("[{\"vmid\":152,\"state\":\"running\",\"spec\":"
	    "{\"features\":{\"keyctl\":true}},\"provision\":{\"template\":"
	    "\"" TMPL "\",\"storage\":\"local-lvm\",\"rootfs_gib\":4}}]", NULL);
	cycle();
	op = last_op(152, OPS_KIND_PROVISION);
	ck_assert_ptr_nonnull(op);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_str_eq(op->error_code, "unsupported");
	ck_assert_ptr_nonnull(strstr(op->error, "priv.mode"));
	ops_row_free(op);
	ck_assert(!exists(152));
	ck_assert_int_eq(counted(152, "create"), 0);
}
END_TEST

START_TEST(bind_mount_attach_goes_through_the_helper)
{
	char desired[1024], want[600];
	struct ops_row *op;
	json_t *w, *g;

	(void) snprintf(desired, sizeof(desired), "[{\"vmid\":101,\"state\":"
	    "\"running\",\"spec\":{\"bind_mounts\":[{\"host_path\":\"%s\","
	    "\"path\":\"/media\",\"read_only\":true}]}}]",
	    ptu_path(&rig, "roots/media"));
	store_desired(desired, NULL);
	cycle();
	g = world_guest(&w, 101);
	(void) snprintf(want, sizeof(want), "%s,mp=/media,ro=1",
	    ptu_path(&rig, "roots/media"));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "mp0")), want);
	json_decref(w);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	ck_assert_int_eq(counted(101, "config"), 0);
	/* In sync now: nothing more. */
	cycle();
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	/* No longer desired: removing a data-bearing mount point is gated. */
	store_desired("[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"bind_mounts\":[]}}]", NULL);
	cycle();
	op = last_op(101, OPS_KIND_SET_CONFIG);
	ck_assert_ptr_nonnull(op);
	ck_assert_str_eq(op->state, "pending_signature");
	ck_assert_str_eq(op->error_code != NULL ? op->error_code : "", "");
	ops_row_free(op);
	g = world_guest(&w, 101);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(g,
	    "config"), "mp0")), want);
	json_decref(w);
	ck_assert_int_eq(counted(101, "config"), 0);
}
END_TEST

/* 1 when the fake pct was called with an argument equal to arg. */
static int
pct_got(const char *arg)
{
	json_t *calls = ptu_calls(&rig), *c, *a;
	size_t i, j;
	int found = 0;

	json_array_foreach(calls, i, c)
		json_array_foreach(json_object_get(c, "argv"), j, a)
			if (strcmp(json_string_value(a), arg) == 0)
				found = 1;
	json_decref(calls);
	return found;
}

static const char *
config_str(int64_t vmid, const char *key, char *out, size_t n)
{
	json_t *w, *g = world_guest(&w, vmid);
	const char *v;

	ck_assert_ptr_nonnull(g);
	v = json_string_value(json_object_get(json_object_get(g, "config"),
	    key));
	(void) snprintf(out, n, "%s", v != NULL ? v : "");
	json_decref(w);
	return out;
}

START_TEST(usb_device_attach_goes_through_the_helper)
{
	struct ops_row *op;
	json_t *w2, *g;
	char v[128];

	/* The rig's sysfs has 046d:c52b at 1-1.2, bus 1 device 4. */
	store_desired("[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"usb_devices\":[\"046d:c52b\"]}}]", NULL);
	cycle();
	ck_assert_str_eq(config_str(101, "dev0", v, sizeof(v)),
	    "/dev/bus/usb/001/004");
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	ck_assert(pct_got("--dev0=/dev/bus/usb/001/004"));
	ck_assert_int_eq(counted(101, "config"), 0);
	op = last_op(101, OPS_KIND_SET_CONFIG);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(ops_class_name(op->class), "benign");
	ops_row_free(op);
	/* In sync, by either form of the id: nothing more. */
	cycle();
	store_desired("[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"usb_devices\":[\"1-1.2\"]}}]", NULL);
	cycle();
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	/*
	 * No longer desired: a device holds no data, and the gate's rule
	 * (a delete of no volume key) makes the removal benign: done
	 * unsigned, through the helper (a token may not touch devN).
	 */
	store_desired("[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"usb_devices\":[]}}]", NULL);
	cycle();
	op = last_op(101, OPS_KIND_SET_CONFIG);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(ops_class_name(op->class), "benign");
	ck_assert(!op->has_blob);
	ops_row_free(op);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 2);
	ck_assert(pct_got("--delete=dev0"));
	/*
	 * A running guest keeps the device until its next start: PVE
	 * leaves a devN delete pending (pve-container src/PVE/LXC/Config.pm
	 * vmconfig_hotplug_pending: "skip non-hotpluggable opts"); the
	 * engine reads the config with pending changes, so it is done.
	 */
	g = world_guest(&w2, 101);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(g,
	    "pending_delete"), 0)), "dev0");
	json_decref(w2);
	cycle();
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 2);
	ck_assert_int_eq(counted(101, "config"), 0);
}
END_TEST

/* A new guest gets its USB devices once it exists, like bind mounts. */
START_TEST(a_provisioned_guest_gets_its_usb_device_afterwards)
{
	struct ops_row *op;
	char v[128];

	store_desired("[{\"vmid\":154,\"state\":\"stopped\",\"spec\":"
	    "{\"hostname\":\"cam\",\"usb_devices\":[\"1-1.2\"]},"
	    "\"provision\":{\"template\":\"" TMPL "\",\"storage\":"
	    "\"local-lvm\",\"rootfs_gib\":4}}]", NULL);
	cycle();
	op = last_op(154, OPS_KIND_PROVISION);
	ck_assert_msg(strcmp(op->state, "succeeded") == 0, "%s: %s",
	    op->state, op->error != NULL ? op->error : "");
	ops_row_free(op);
	ck_assert_int_eq(counted(154, "create"), 1);
	cycle();
	ck_assert_str_eq(config_str(154, "dev0", v, sizeof(v)),
	    "/dev/bus/usb/001/004");
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
	ck_assert(pct_got("--dev0=/dev/bus/usb/001/004"));
}
END_TEST

/* The op of vmid's set_config failed with text in its error. */
static void
assert_config_failed(int64_t vmid, const char *text)
{
	struct ops_row *op = last_op(vmid, OPS_KIND_SET_CONFIG);

	ck_assert_ptr_nonnull(op);
	ck_assert_str_eq(op->state, "failed");
	ck_assert_msg(op->error != NULL && strstr(op->error, text) != NULL,
	    "'%s' lacks '%s'", op->error != NULL ? op->error : "", text);
	ops_row_free(op);
}

START_TEST(a_bad_usb_id_is_refused_and_nothing_runs)
{
	static const char guests[] = "[{\"vmid\":101,\"state\":"
	    "\"running\",\"spec\":{\"usb_devices\":[\"046d:c52b;reboot\"]}}]";
	char doc[512], v[128];
	json_t *d;
	int64_t gen;
	struct err err;

	/* The hub's document is refused at intake ... */
	(void) snprintf(doc, sizeof(doc), "{\"schema\":\"felhom.desired/v1\","
	    "\"host_id\":\"pve-01\",\"generation\":1,\"guests\":%s}", guests);
	ck_assert_ptr_nonnull(d = json_loads(doc, 0, NULL));
	err_init(&err);
	ck_assert_int_ne(hub_desired_check(d, "pve-01", 0, &gen, &err), 0);
	ck_assert_msg(strstr(err_msg(&err), "usb_devices[0]: USB id "
	    "'046d:c52b;reboot' is neither") != NULL, "%s", err_msg(&err));
	json_decref(d);
	/* ... and, were it stored anyway, the helper refuses it. */
	store_desired(guests, NULL);
	cycle();
	assert_config_failed(101, "USB id '046d:c52b;reboot' is neither "
	    "vendor:product");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
	ck_assert_str_eq(config_str(101, "dev0", v, sizeof(v)), "");
}
END_TEST

START_TEST(a_usb_id_matching_no_device_is_a_clear_error)
{
	char v[128];

	store_desired("[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	    "{\"usb_devices\":[\"dead:beef\"]}}]", NULL);
	cycle();
	assert_config_failed(101, "USB device dead:beef is not plugged in");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
	ck_assert_str_eq(config_str(101, "dev0", v, sizeof(v)), "");
}
END_TEST

START_TEST(a_lost_helper_job_is_found_again_after_a_restart)
{
	struct engine_next nx;
	struct ops_row *op = NULL;
	int safe, i;

	ctl("/_sim/config", "{\"task_seconds\":1.0}");
	store_desired("[{\"vmid\":153,\"state\":\"stopped\",\"spec\":"
	    "{\"features\":{\"fuse\":true}},\"provision\":{\"template\":\""
	    TMPL "\",\"storage\":\"local-lvm\",\"rootfs_gib\":4}}]", NULL);
	ck_assert_int_eq(engine_observe(eng, &safe, NULL), 0);
	ck_assert_int_eq(engine_plan(eng, NULL, NULL), 0);
	/* Until the helper's job is in flight ... */
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(engine_step(eng, 0, &nx, NULL), 0);
		op = last_op(153, OPS_KIND_PROVISION);
		if (op != NULL && strcmp(op->state, "running") == 0)
			break;
		ops_row_free(op);
		op = NULL;
	}
	ck_assert_ptr_nonnull(op);
	ck_assert_ptr_nonnull(strstr(op->upid, "felhom-priv:vzcreate:153:"));
	ops_row_free(op);
	/* ... then the agent dies: its job table with it. */
	agent_close();
	ctl("/_sim/config", "{\"task_seconds\":0.05}");
	agent_open(1);
	settle();
	op = last_op(153, OPS_KIND_PROVISION);
	ck_assert_msg(strcmp(op->state, "succeeded") == 0, "%s: %s",
	    op->state, op->error != NULL ? op->error : "");
	ops_row_free(op);
	ck_assert(exists(153));
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
}
END_TEST

/* ---- restore tests ----------------------------------------------------- */

#define RT_101	"[{\"vmid\":101,\"every_hours\":24,\"scratch_vmids\":" \
    "[9000,9010],\"storage\":\"local-lvm\"}]"

/* The newest backup volume of vmid in the sim (a new reference). */
static json_t *
newest_backup(int64_t vmid)
{
	json_t *w = tu_sim_json(&sim, "GET", "/_sim/world", NULL), *v,
	    *best = NULL;
	size_t i;

	json_array_foreach(json_object_get(w, "volumes"), i, v)
		if (json_integer_value(json_object_get(v, "vmid")) == vmid &&
		    strcmp(json_string_value(json_object_get(v, "content")),
		    "backup") == 0 && (best == NULL ||
		    json_integer_value(json_object_get(v, "ctime")) >
		    json_integer_value(json_object_get(best, "ctime"))))
			best = v;
	ck_assert_ptr_nonnull(best);
	best = json_deep_copy(best);
	json_decref(w);
	return best;
}

static json_t *
report_entry(int64_t vmid)
{
	json_t *arr = NULL, *e, *res = NULL;
	size_t i;

	ck_assert_int_eq(rtests_report(db, &arr, NULL), 0);
	json_array_foreach(arr, i, e)
		if (json_integer_value(json_object_get(e, "vmid")) == vmid)
			res = json_incref(e);
	json_decref(arr);
	return res;
}

static void
assert_no_scratch_left(void)
{
	int64_t v, n = -1;

	for (v = 9000; v <= 9010; v++)
		ck_assert_msg(!exists(v), "scratch guest %lld left",
		    (long long)v);
	ck_assert_int_eq(provenance_count(db, PROVENANCE_GUEST, &n, NULL), 0);
	ck_assert_int_eq(n, 0);
}

START_TEST(a_restore_test_passes_on_a_good_backup)
{
	json_t *b = newest_backup(101), *e;
	struct ops_row *op;

	store_desired("[]", RT_101);
	settle();
	e = report_entry(101);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "passed");
	ck_assert_str_eq(json_string_value(json_object_get(e, "backup_volid")),
	    json_string_value(json_object_get(b, "volid")));
	ck_assert_int_eq(json_integer_value(json_object_get(e,
	    "scratch_vmid")), 9000);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    "detail")), "running after"));
	ck_assert(json_is_string(json_object_get(e, "finished_at")));
	json_decref(e);
	json_decref(b);
	/* Each step once, through the API; the scratch guest is gone. */
	ck_assert_int_eq(counted(9000, "restore"), 1);
	ck_assert_int_eq(counted(9000, "config"), 1);
	ck_assert_int_eq(counted(9000, "start"), 1);
	ck_assert_int_eq(counted(9000, "stop"), 1);
	ck_assert_int_eq(counted(9000, "destroy"), 1);
	assert_no_scratch_left();
	/* Its own scratch guest destroyed unsigned, by provenance. */
	op = last_op(9000, OPS_KIND_DESTROY);
	ck_assert_str_eq(op->state, "succeeded");
	ck_assert_str_eq(ops_class_name(op->class), "benign");
	ck_assert(!op->has_blob);
	ops_row_free(op);
	/* Not due again within every_hours. */
	settle();
	ck_assert_int_eq(counted(9000, "restore"), 1);
}
END_TEST

START_TEST(a_restore_test_fails_on_a_broken_backup)
{
	json_t *b = newest_backup(101), *e;
	char *body;

	ck_assert_int_eq(json_object_set_new(b, "broken", json_true()), 0);
	body = json_dumps(b, 0);
	ctl("/_sim/world/volume", body);
	free(body);
	store_desired("[]", RT_101);
	settle();
	e = report_entry(101);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "failed");
	ck_assert_msg(strstr(json_string_value(json_object_get(e, "detail")),
	    "unable to restore CT 9000") != NULL, "%s",
	    json_string_value(json_object_get(e, "detail")));
	json_decref(e);
	json_decref(b);
	ck_assert_int_eq(counted(9000, "start"), 0);
	ck_assert_int_eq(counted(9000, "destroy"), 0);
	assert_no_scratch_left();
}
END_TEST

START_TEST(an_occupied_scratch_vmid_is_skipped)
{
	json_t *e;

	/* Someone's guest sits at 9000, unknown to the agent. */
	ctl("/_sim/world/guest", "{\"vmid\":9000,\"config\":{\"hostname\":"
	    "\"theirs\"}}");
	store_desired("[]", RT_101);
	settle();
	e = report_entry(101);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "passed");
	ck_assert_int_eq(json_integer_value(json_object_get(e,
	    "scratch_vmid")), 9001);
	json_decref(e);
	ck_assert(exists(9000));
	ck_assert(!exists(9001));
	ck_assert_int_eq(counted(9000, "restore") + counted(9000, "destroy") +
	    counted(9000, "stop"), 0);
}
END_TEST

START_TEST(a_desired_guests_vmid_is_never_scratch)
{
	json_t *e;

	/* Desired (to be provisioned later), absent from PVE for now. */
	store_desired("[{\"vmid\":9000,\"state\":\"stopped\"}]", RT_101);
	settle();
	e = report_entry(101);
	ck_assert_int_eq(json_integer_value(json_object_get(e,
	    "scratch_vmid")), 9001);
	json_decref(e);
	ck_assert_int_eq(counted(9000, "restore"), 0);
}
END_TEST

static int
holding(void)
{
	struct rtests_run *v = NULL;
	size_t n = 0;
	int h;

	ck_assert_int_eq(rtests_open(db, &v, &n, NULL), 0);
	h = n > 0 && v[0].phase == RTESTS_HOLD;
	rtests_runs_free(v, n);
	return h;
}

START_TEST(provenance_holds_from_both_sides)
{
	struct ops_row *op;
	json_t *e;
	int64_t id;

	/* A scratch guest replaced behind the agent's back while held. */
	agent_close();
	hold_s = 3;
	agent_open(1);
	store_desired("[]", RT_101);
	ck_assert_int_eq(settle_until(60, holding), 0);
	ctl("/_sim/world/guest", "{\"vmid\":9000,\"remove\":true}");
	ctl("/_sim/world/guest", "{\"vmid\":9000,\"status\":\"running\","
	    "\"config\":{\"hostname\":\"impostor\"}}");
	settle();
	e = report_entry(101);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "passed");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    "detail")), "replaced behind the agent's back"));
	json_decref(e);
	ck_assert(exists(9000));
	ck_assert_int_eq(counted(9000, "stop") + counted(9000, "destroy"), 0);
	ck_assert_int_eq(ops_of(9000, OPS_KIND_DESTROY, NULL), 0);
	/* Not the agent's any more: destroying it needs a signature. */
	id = etu_op(db, 9000, OPS_KIND_DESTROY, OPS_CLASS_BENIGN,
	    "{\"purge\":true}", "behind-its-back", time(NULL));
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	ck_assert(exists(9000));
	op = last_op(9000, OPS_KIND_DESTROY);
	ck_assert_str_eq(ops_class_name(op->class), "destructive");
	ops_row_free(op);
}
END_TEST

START_TEST(a_guest_at_a_finished_tests_vmid_is_the_customers)
{
	int64_t id;

	store_desired("[]", RT_101);
	settle();
	ck_assert(!exists(9000));
	ck_assert_int_eq(counted(9000, "destroy"), 1);
	/* Created behind the agent's back at the same vmid. */
	ctl("/_sim/world/guest", "{\"vmid\":9000,\"config\":{\"hostname\":"
	    "\"new\"}}");
	id = etu_op(db, 9000, OPS_KIND_DESTROY, OPS_CLASS_BENIGN,
	    "{\"purge\":true}", "same-vmid", time(NULL));
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	ck_assert(exists(9000));
	ck_assert_int_eq(counted(9000, "destroy"), 1);
}
END_TEST

static int
restore_running(void)
{
	struct ops_row *op = last_op(9000, OPS_KIND_RESTORE);
	int r = op != NULL && strcmp(op->state, "running") == 0;

	ops_row_free(op);
	return r;
}

START_TEST(a_crash_during_a_restore_test_leaves_no_scratch_guest)
{
	json_t *e;

	/* Crash 1: while the scratch guest is held running. */
	agent_close();
	hold_s = 30;
	agent_open(1);
	store_desired("[]", RT_101);
	ck_assert_int_eq(settle_until(60, holding), 0);
	ck_assert(exists(9000));
	agent_close();
	agent_open(1);
	settle();
	e = report_entry(101);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "failed");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    "detail")), "interrupted by an agent restart in phase hold"));
	json_decref(e);
	assert_no_scratch_left();
	ck_assert_int_eq(counted(9000, "restore"), 1);
	ck_assert_int_eq(counted(9000, "destroy"), 1);
	ck_assert_int_eq(open_runs(), 0);
}
END_TEST

START_TEST(a_crash_while_the_scratch_restore_runs_is_cleaned_up)
{
	json_t *e;

	ctl("/_sim/config", "{\"task_seconds\":1.0}");
	store_desired("[]", RT_101);
	ck_assert_int_eq(settle_until(60, restore_running), 0);
	agent_close();
	agent_open(1);
	ctl("/_sim/config", "{\"task_seconds\":0.05}");
	settle();
	e = report_entry(101);
	ck_assert_str_eq(json_string_value(json_object_get(e, "result")),
	    "failed");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e,
	    "detail")), "phase restore"));
	json_decref(e);
	/* The restore was adopted, not sent again; then cleaned up. */
	ck_assert_int_eq(counted(9000, "restore"), 1);
	ck_assert_int_eq(counted(9000, "start"), 0);
	ck_assert_int_eq(counted(9000, "destroy"), 1);
	assert_no_scratch_left();
}
END_TEST

static Suite *
privsim_suite(void)
{
	Suite *s = suite_create("privsim");
	TCase *t = tcase_create("privsim");

	tcase_set_timeout(t, 240);
	tcase_add_unchecked_fixture(t, sim_start, sim_stop);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, keyctl_provisioning_goes_through_the_helper);
	tcase_add_test(t, nesting_only_provisioning_uses_the_api);
	tcase_add_test(t, keyctl_without_a_helper_fails_as_unsupported);
	tcase_add_test(t, bind_mount_attach_goes_through_the_helper);
	tcase_add_test(t, usb_device_attach_goes_through_the_helper);
	tcase_add_test(t, a_bad_usb_id_is_refused_and_nothing_runs);
	tcase_add_test(t, a_provisioned_guest_gets_its_usb_device_afterwards);
	tcase_add_test(t, a_usb_id_matching_no_device_is_a_clear_error);
	tcase_add_test(t, a_lost_helper_job_is_found_again_after_a_restart);
	tcase_add_test(t, a_restore_test_passes_on_a_good_backup);
	tcase_add_test(t, a_restore_test_fails_on_a_broken_backup);
	tcase_add_test(t, an_occupied_scratch_vmid_is_skipped);
	tcase_add_test(t, a_desired_guests_vmid_is_never_scratch);
	tcase_add_test(t, provenance_holds_from_both_sides);
	tcase_add_test(t, a_guest_at_a_finished_tests_vmid_is_the_customers);
	tcase_add_test(t,
	    a_crash_during_a_restore_test_leaves_no_scratch_guest);
	tcase_add_test(t, a_crash_while_the_scratch_restore_runs_is_cleaned_up);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(privsim_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
