/*
 * test_collect — the host report built against pve-sim:
 * the golden key set (C rule and tools/hub-sim/keyset.py), the agent's own
 * sections from the database, partial failures, and the read-only probe.
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "agent/collect.h"
#include "agent/health.h"
#include "base/clock.h"
#include "base/err.h"
#include "hubtest.h"
#include "priv/priv.h"
#include "privtu.h"
#include "store/audit.h"
#include "store/kv.h"
#include "testutil.h"

static struct ht_env env;

static void
sims_up(void)
{
	ht_sims_start(&env, NULL);
}

static void
sims_down(void)
{
	ht_sims_stop(&env);
}

static void
open_env(void)
{
	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/reset", "{}",
	    NULL), 200);
	ht_open(&env, 1);
}

static void
close_env(void)
{
	ht_close(&env);
}

/* A fake probe: cloudflared 2025.8.1 installed and active. */
static int
fake_run(void *ctx, const char *const argv[], char *out, size_t cap,
    int *status, struct err *err)
{
	const char *what = ctx;

	if (strcmp(what, "absent") == 0)
		return err_set(err, ERR_NOT_FOUND, "%s: not installed",
		    argv[0]);
	if (strstr(argv[0], "cloudflared") != NULL)
		(void) snprintf(out, cap, "cloudflared version 2025.8.1 "
		    "(built 2025-08-01-1200 UTC)\n");
	else
		(void) snprintf(out, cap, "%s\n", what);
	*status = strcmp(what, "active") == 0 ? 0 : 3;
	return 0;
}

static void
exec_sql(const char *sql)
{
	char *msg = NULL;

	ck_assert_msg(sqlite3_exec(db_handle(env.db), sql, NULL, NULL,
	    &msg) == SQLITE_OK, "%s: %s", sql, msg);
}

/* One pending op with a sign request, one ended op, an audit event. */
static void
seed_db(void)
{
	struct audit_event ev;

	exec_sql("INSERT INTO ops (uid, vmid, kind, source, class, state, "
	    "idem_key, blob, blob_not_after, created_at, updated_at) VALUES "
	    "('op-00000000000000a1', 103, 'destroy', 'desired', 'destructive',"
	    " 'pending_signature', 'k1', CAST('{\"op\":\"destroy\"}' AS BLOB),"
	    " 1800000000, strftime('%s','now'), strftime('%s','now'))");
	exec_sql("INSERT INTO ops (uid, vmid, kind, source, class, state, "
	    "idem_key, created_at, updated_at, ended_at, upid) VALUES "
	    "('op-00000000000000a2', 101, 'start', 'desired', 'benign',"
	    " 'succeeded', 'k2', strftime('%s','now') - 60,"
	    " strftime('%s','now'), strftime('%s','now'), 'UPID:x')");
	exec_sql("INSERT INTO ops (uid, vmid, kind, source, class, state, "
	    "idem_key, created_at, updated_at, ended_at) VALUES "
	    "('op-00000000000000a3', 101, 'stop', 'desired', 'benign',"
	    " 'failed', 'k3', 1000, 1000, 1000)");
	exec_sql("INSERT INTO signers (role, keytype, fingerprint, principals,"
	    " line, added_at, source) VALUES ('operational', 'ssh-ed25519',"
	    " 'SHA256:a', 'op', 'l', 1, 'admin'), ('operational',"
	    " 'ssh-ed25519', 'SHA256:b', 'op', 'l', 1, 'admin'), ('recovery',"
	    " 'ssh-ed25519', 'SHA256:c', 'op', 'l', 1, 'admin')");
	memset(&ev, 0, sizeof(ev));
	ev.at = 1764331080;
	ev.event = "gate";
	ev.decision = "pending_signature";
	ev.code = "unsigned_destructive";
	ev.op_id = 1;
	ev.vmid = 103;
	ev.detail = "destroy of customer guest 103 needs an operator signature";
	ck_assert_int_eq(audit_append(env.db, &ev, NULL, NULL), 0);
}

static json_t *
collect(struct collect_stats *st)
{
	json_t *r = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(collect_report(&env.src, &r, st, &err) == 0, "%s",
	    err.msg);
	ck_assert_int_eq(json_object_set_new(r, "seq", json_integer(1)), 0);
	return r;
}

START_TEST(report_has_exactly_the_golden_key_set)
{
	struct collect_probe probe = { fake_run, (void *)"active" };
	struct collect_stats st;
	json_t *golden = ht_golden(), *r;
	char diffs[8192], *pyout = NULL;
	size_t n;
	int rc;

	seed_db();
	env.src.probe = &probe;
	r = collect(&st);
	n = ht_keyset_diff(golden, r, diffs, sizeof(diffs));
	ck_assert_msg(n == 0, "key set differs:\n%s", diffs);
	rc = ht_keyset_py(r, &pyout);
	ck_assert_msg(rc == 0, "keyset.py exit %d:\n%s", rc, pyout);
	/* Every array the golden has an element for is non-empty here. */
	ck_assert_uint_gt(json_array_size(json_object_get(r, "guests")), 0);
	ck_assert_uint_gt(json_array_size(json_object_get(r, "storage")), 0);
	ck_assert_uint_gt(json_array_size(json_object_get(r, "backups")), 0);
	ck_assert_uint_gt(json_array_size(json_object_get(r, "pbs")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "ops")), 2);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "audit")), 1);
	ck_assert_uint_eq(st.spec_null, 0);
	free(pyout);
	json_decref(r);
	json_decref(golden);
}
END_TEST

/*
 * R-08c, R-17: host.disks and host.sensors come from the privileged
 * helper (here unprivileged, with the fake smartctl and sensors answering
 * real outputs), with the golden key set.
 */
START_TEST(report_disks_and_sensors_come_from_the_helper)
{
	static const char *const block[] = { "sda", "sdb", "nvme0n1",
	    "sda1", "nvme0n1p1", "loop0", "dm-0", "zram0" };
	struct collect_probe probe = { fake_run, (void *)"active" };
	struct priv_client *pc = NULL;
	struct health *h = NULL;
	struct ptu_rig rig;
	json_t *golden = ht_golden(), *r, *disks, *d;
	char diffs[8192], path[600];
	size_t i;

	ptu_rig_start(&rig, &env.pve, getuid());
	for (i = 0; i < sizeof(block) / sizeof(block[0]); i++) {
		(void) snprintf(path, sizeof(path), "%s/sys/block/%s", rig.dir,
		    block[i]);
		ck_assert_int_eq(mkdir(path, 0755), 0);
	}
	ck_assert_int_eq(priv_client_new(rig.socket, &pc, NULL), 0);
	ck_assert_int_eq(health_new(pc, ptu_path(&rig, "sys"), 0, &h, NULL),
	    0);
	env.src.probe = &probe;
	env.src.health = h;
	r = collect(NULL);
	ck_assert_msg(ht_keyset_diff(golden, r, diffs, sizeof(diffs)) == 0,
	    "key set differs:\n%s", diffs);
	disks = json_object_get(json_object_get(r, "host"), "disks");
	/* Whole disks only, sorted; partitions, loop, dm, zram left out. */
	ck_assert_uint_eq(json_array_size(disks), 3);
	d = json_array_get(disks, 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "device")),
	    "/dev/nvme0n1");
	ck_assert_str_eq(json_string_value(json_object_get(d, "model")),
	    "Samsung SSD 980 PRO with Heatsink 1TB");
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "temperature_c")), 58);
	d = json_array_get(disks, 2);
	ck_assert_str_eq(json_string_value(json_object_get(d, "device")),
	    "/dev/sdb");
	ck_assert(json_is_false(json_object_get(d, "smart_passed")));
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r,
	    "host"), "sensors")), 6);
	ck_assert_uint_eq(ptu_ncalls(&rig, "smartctl"), 3);
	json_decref(r);
	json_decref(golden);
	env.src.health = NULL;
	health_free(h);
	priv_client_free(pc);
	ptu_rig_stop(&rig);
}
END_TEST

/*
 * backups of every active storage, the PBS ones with the state of
 * their verification (the sim verified the odd vmids), the dir ones
 * with none.
 */
START_TEST(backups_of_every_storage_with_verification)
{
	struct collect_probe probe = { fake_run, (void *)"active" };
	json_t *r, *b;
	size_t i, local = 0, pbs_ok = 0, pbs_none = 0;
	const char *sid, *ver;
	int64_t vmid;

	env.src.probe = &probe;
	r = collect(NULL);
	json_array_foreach(json_object_get(r, "backups"), i, b) {
		sid = json_string_value(json_object_get(b, "storage"));
		ver = json_string_value(json_object_get(b, "verification"));
		vmid = json_integer_value(json_object_get(b, "vmid"));
		if (strcmp(sid, "local") == 0) {
			local++;
			ck_assert_ptr_null(ver);
		} else if (strcmp(sid, "pbs") == 0) {
			if (vmid % 2 == 1) {
				ck_assert_str_eq(ver, "ok");
				pbs_ok++;
			} else {
				ck_assert_ptr_null(ver);
				pbs_none++;
			}
		}
	}
	ck_assert_uint_ge(local, 1);
	ck_assert_uint_ge(pbs_ok, 1);
	ck_assert_uint_ge(pbs_none, 1);
	json_decref(r);
}
END_TEST

/* No helper configured: the sections are empty, the report goes on. */
START_TEST(report_without_helper_has_empty_health)
{
	struct collect_probe probe = { fake_run, (void *)"active" };
	struct priv_client *pc = NULL;
	struct health *h = NULL;
	json_t *r;

	ck_assert_int_eq(priv_client_new("/nonexistent/priv.sock", &pc, NULL),
	    0);
	ck_assert_int_eq(health_new(pc, "/nonexistent-sys", 0, &h, NULL), 0);
	env.src.probe = &probe;
	env.src.health = h;
	r = collect(NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r,
	    "host"), "disks")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(json_object_get(r,
	    "host"), "sensors")), 0);
	json_decref(r);
	env.src.health = NULL;
	health_free(h);
	priv_client_free(pc);
}
END_TEST

START_TEST(report_values_follow_the_contract)
{
	struct collect_probe probe = { fake_run, (void *)"active" };
	json_t *r, *g, *ops, *sr, *agent, *host, *cf, *st;
	size_t i;

	seed_db();
	env.src.probe = &probe;
	r = collect(NULL);
	ck_assert_str_eq(json_string_value(json_object_get(r, "schema")),
	    "felhom.host-report/v1");
	ck_assert_str_eq(json_string_value(json_object_get(r, "host_id")),
	    "pve-01");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(r,
	    "reported_at"))), 20);
	host = json_object_get(r, "host");
	ck_assert_str_eq(json_string_value(json_object_get(host, "node")),
	    tu_sim_str(&env.pve, "node"));
	ck_assert(json_is_string(json_object_get(host, "pve_version")));
	ck_assert_uint_eq(json_array_size(json_object_get(host, "loadavg")),
	    3);
	ck_assert_uint_eq(json_array_size(json_object_get(host, "disks")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(host, "sensors")),
	    0);
	/* Guests sorted by vmid, status of the run kept. */
	json_array_foreach(json_object_get(r, "guests"), i, g) {
		const char *s = json_string_value(json_object_get(g, "status"));

		ck_assert(strcmp(s, "running") == 0 || strcmp(s, "stopped") ==
		    0);
		ck_assert(json_is_object(json_object_get(g, "spec")));
		if (i > 0)
			ck_assert_int_lt(json_integer_value(json_object_get(
			    json_array_get(json_object_get(r, "guests"), i - 1),
			    "vmid")), json_integer_value(json_object_get(g,
			    "vmid")));
	}
	/* Newest op first; the pending one carries its sign request. */
	ops = json_object_get(r, "ops");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ops,
	    0), "op_id")), "op-00000000000000a1");
	sr = json_object_get(json_array_get(ops, 0), "sign_request");
	ck_assert_str_eq(json_string_value(json_object_get(sr, "blob_b64")),
	    "eyJvcCI6ImRlc3Ryb3kifQ==");
	ck_assert_str_eq(json_string_value(json_object_get(sr, "not_after")),
	    "2027-01-15T08:00:00Z");
	ck_assert(json_is_null(json_object_get(json_array_get(ops, 1),
	    "sign_request")));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ops,
	    1), "upid")), "UPID:x");
	agent = json_object_get(r, "agent");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    agent, "signers"), "operational")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    agent, "signers"), "recovery")), 1);
	ck_assert_int_gt(json_integer_value(json_object_get(agent,
	    "db_bytes")), 0);
	ck_assert(json_is_false(json_object_get(agent, "blocked")));
	cf = json_object_get(r, "cloudflared");
	ck_assert(json_is_true(json_object_get(cf, "installed")));
	ck_assert(json_is_true(json_object_get(cf, "active")));
	ck_assert_str_eq(json_string_value(json_object_get(cf, "version")),
	    "2025.8.1");
	/*
	 * PBS storage reported with its own section; server, datastore and
	 * fingerprint from GET /storage (pve-api.md §5.13).
	 */
	st = json_array_get(json_object_get(r, "pbs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(st, "storage")),
	    "pbs");
	ck_assert_str_eq(json_string_value(json_object_get(st, "server")),
	    "pbs.example");
	ck_assert_str_eq(json_string_value(json_object_get(st, "datastore")),
	    "store1");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(st,
	    "fingerprint"))), 95);
	json_decref(r);
}
END_TEST

START_TEST(audit_after_ack_only)
{
	struct audit_event ev;
	json_t *r;
	int i;

	memset(&ev, 0, sizeof(ev));
	ev.at = 1;
	ev.event = "gate";
	ev.code = "accepted";
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(audit_append(env.db, &ev, NULL, NULL), 0);
	ck_assert_int_eq(kv_set_int(env.db, KV_AUDIT_ACK_SEQ, 3, NULL), 0);
	r = collect(NULL);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "audit")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
	    json_object_get(r, "audit"), 0), "seq")), 4);
	json_decref(r);
}
END_TEST

/*
 * Issue 15: in steady state a report opens no connection (the pool keeps
 * its connections, TLS sessions resume) and reads no config a minute
 * after the last read; a change made through the client reads them all
 * again.
 */
START_TEST(steady_state_report_opens_no_connection_and_reads_configs_once)
{
	struct pve_client_stats a, b;
	struct pve_param p[1] = { { "description", "changed by the test" } };
	struct pve_submit sub;
	struct collect_stats st;
	struct err err;
	json_t *fresh = NULL, *r;
	size_t i;
	int cycle;

	json_decref(collect(&st));
	ck_assert_uint_gt(st.guests, 0);
	/* Full fan-outs (every config read): the pool keeps its places. */
	for (cycle = 0; cycle < 3; cycle++) {
		pve_config_changed(env.pvec);
		pve_client_stats(env.pvec, &a);
		json_decref(fresh);
		fresh = collect(&st);
		pve_client_stats(env.pvec, &b);
		fprintf(stderr, "fan-out cycle %d: %llu new connections, %llu "
		    "config reads\n", cycle,
		    (unsigned long long)(b.connects - a.connects),
		    (unsigned long long)(b.config_reads - a.config_reads));
		ck_assert_uint_eq(b.config_reads - a.config_reads, st.guests);
		ck_assert_uint_eq(b.connects - a.connects, 0);
	}
	for (cycle = 0; cycle < 3; cycle++) {
		pve_client_stats(env.pvec, &a);
		r = collect(&st);
		pve_client_stats(env.pvec, &b);
		/* The cache (compact text, issue 15) gives the same specs. */
		ck_assert_uint_eq(json_array_size(json_object_get(r, "guests")),
		    json_array_size(json_object_get(fresh, "guests")));
		for (i = 0; i < st.guests; i++)
			ck_assert_msg(json_equal(json_object_get(json_array_get(
			    json_object_get(r, "guests"), i), "spec"),
			    json_object_get(json_array_get(json_object_get(
			    fresh, "guests"), i), "spec")), "guest %zu: the "
			    "spec from the cache differs from the one read", i);
		json_decref(r);
		fprintf(stderr, "steady cycle %d: %llu new connections, %llu "
		    "config reads, %llu from the cache (%zu guests)\n", cycle,
		    (unsigned long long)(b.connects - a.connects),
		    (unsigned long long)(b.config_reads - a.config_reads),
		    (unsigned long long)(b.config_hits - a.config_hits),
		    st.guests);
		ck_assert_uint_eq(b.connects - a.connects, 0);
		ck_assert_uint_eq(b.config_reads - a.config_reads, 0);
		ck_assert_uint_eq(b.config_hits - a.config_hits, st.guests);
		ck_assert_uint_eq(st.spec_null, 0);
	}
	/* A mutation through the client: every config is read again. */
	err_init(&err);
	ck_assert_msg(pve_lxc_set_config(env.pvec, env.cfg->host_node, 101, p,
	    1, &sub, &err) == 0, "%s", err.msg);
	pve_client_stats(env.pvec, &a);
	json_decref(collect(&st));
	pve_client_stats(env.pvec, &b);
	ck_assert_uint_eq(b.config_reads - a.config_reads, st.guests);
	json_decref(fresh);
	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/reset",
	    "{\"world\":true}", NULL), 200);
}
END_TEST

START_TEST(node_status_unreadable_means_no_report)
{
	json_t *r = NULL;
	struct err err;

	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/nodes/[^/]+/status$\",\"status\":500,\"count\":5,"
	    "\"message\":\"boom\"}", NULL), 200);
	err_init(&err);
	ck_assert_int_ne(collect_report(&env.src, &r, NULL, &err), 0);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err.msg, "node status") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(guest_config_unreadable_keeps_status_spec_null)
{
	struct collect_stats st;
	json_t *r, *g;
	size_t i;
	int seen = 0;

	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/lxc/101/config\",\"status\":500,\"count\":5}", NULL),
	    200);
	r = collect(&st);
	ck_assert_uint_eq(st.spec_null, 1);
	json_array_foreach(json_object_get(r, "guests"), i, g) {
		if (json_integer_value(json_object_get(g, "vmid")) != 101) {
			ck_assert(json_is_object(json_object_get(g, "spec")));
			continue;
		}
		seen = 1;
		ck_assert(json_is_null(json_object_get(g, "spec")));
		ck_assert(json_is_string(json_object_get(g, "status")));
		ck_assert_str_ne(json_string_value(json_object_get(g,
		    "status")), "unknown");
	}
	ck_assert(seen);
	json_decref(r);
}
END_TEST

START_TEST(storage_backups_unreadable_is_skipped)
{
	struct collect_stats st, st0;
	json_t *r;

	json_decref(collect(&st0));
	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/storage/pbs/content\",\"status\":500,\"count\":5}",
	    NULL), 200);
	r = collect(&st);
	ck_assert_uint_eq(st.storages_skipped, 1);
	ck_assert_uint_eq(st.storages, st0.storages);
	ck_assert_uint_lt(st.backups, st0.backups);
	ck_assert_uint_gt(st.backups, 0);	/* local's still there */
	json_decref(r);
}
END_TEST

START_TEST(storage_list_unreadable_reports_empty_sections)
{
	struct collect_stats st;
	json_t *r;

	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/nodes/[^/]+/storage$\",\"status\":500,\"count\":5}",
	    NULL), 200);
	r = collect(&st);
	ck_assert_int_eq(st.storage_list_failed, 1);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "storage")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "backups")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(r, "pbs")), 0);
	json_decref(r);
}
END_TEST

/* ---- cloudflared and the probe --------------------------------------- */

START_TEST(cloudflared_absent_is_not_installed)
{
	struct collect_probe probe = { fake_run, (void *)"absent" };
	json_t *cf = collect_cloudflared(&probe, NULL);

	ck_assert(json_is_false(json_object_get(cf, "installed")));
	ck_assert(json_is_false(json_object_get(cf, "active")));
	ck_assert(json_is_null(json_object_get(cf, "version")));
	json_decref(cf);
}
END_TEST

START_TEST(cloudflared_installed_inactive)
{
	struct collect_probe probe = { fake_run, (void *)"inactive" };
	json_t *cf = collect_cloudflared(&probe, NULL);

	ck_assert(json_is_true(json_object_get(cf, "installed")));
	ck_assert(json_is_false(json_object_get(cf, "active")));
	json_decref(cf);
}
END_TEST

START_TEST(cloudflared_system_probe_runs)
{
	json_t *cf = collect_cloudflared(NULL, NULL);

	/* Whatever this machine has, the section has its three keys. */
	ck_assert(json_is_boolean(json_object_get(cf, "installed")));
	ck_assert(json_is_boolean(json_object_get(cf, "active")));
	ck_assert_ptr_nonnull(json_object_get(cf, "version"));
	if (access("/usr/bin/cloudflared", X_OK) != 0 &&
	    access("/usr/local/bin/cloudflared", X_OK) != 0)
		ck_assert(json_is_false(json_object_get(cf, "installed")));
	json_decref(cf);
}
END_TEST

START_TEST(probe_captures_bounded_output)
{
	const char *argv[] = { "/bin/sh", "-c",
	    "printf 0123456789; printf 0123456789; exit 3", NULL };
	char out[8];
	int st = -1;

	ck_assert_int_eq(collect_run(argv, out, sizeof(out), 2000, NULL, &st,
	    NULL), 0);
	ck_assert_int_eq(st, 3);
	ck_assert_str_eq(out, "0123456");
}
END_TEST

START_TEST(probe_missing_binary_is_not_found)
{
	const char *argv[] = { "/nonexistent/cloudflared", "--version", NULL };
	char out[64];
	struct err err;
	int st;

	err_init(&err);
	ck_assert_int_eq(collect_run(argv, out, sizeof(out), 1000, NULL, &st,
	    &err), ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "not installed"));
}
END_TEST

START_TEST(probe_relative_path_is_refused)
{
	const char *argv[] = { "sh", "-c", "true", NULL };
	char out[64];
	int st;

	ck_assert_int_eq(collect_run(argv, out, sizeof(out), 1000, NULL, &st,
	    NULL), ERR_INVALID);
}
END_TEST

START_TEST(probe_timeout_kills_the_child)
{
	const char *argv[] = { "/bin/sleep", "10", NULL };
	char out[64];
	struct err err;
	int64_t t0 = clock_mono_ms(NULL);
	int st;

	err_init(&err);
	ck_assert_int_eq(collect_run(argv, out, sizeof(out), 300, NULL, &st,
	    &err), ERR_TIMEOUT);
	ck_assert_int_lt(clock_mono_ms(NULL) - t0, 2000);
}
END_TEST

START_TEST(probe_abort_flag_stops_it)
{
	const char *argv[] = { "/bin/sleep", "10", NULL };
	volatile sig_atomic_t stop = 1;
	char out[64];
	int64_t t0 = clock_mono_ms(NULL);
	int st;

	ck_assert_int_eq(collect_run(argv, out, sizeof(out), 5000, &stop, &st,
	    NULL), ERR_TIMEOUT);
	ck_assert_int_lt(clock_mono_ms(NULL) - t0, 1000);
}
END_TEST

static Suite *
collect_suite(void)
{
	Suite *s = suite_create("collect");
	TCase *tc;

	tc = tcase_create("pve-sim");
	tcase_add_unchecked_fixture(tc, sims_up, sims_down);
	tcase_add_checked_fixture(tc, open_env, close_env);
	tcase_add_test(tc, report_has_exactly_the_golden_key_set);
	tcase_add_test(tc, report_disks_and_sensors_come_from_the_helper);
	tcase_add_test(tc, report_without_helper_has_empty_health);
	tcase_add_test(tc, backups_of_every_storage_with_verification);
	tcase_add_test(tc, report_values_follow_the_contract);
	tcase_add_test(tc, audit_after_ack_only);
	tcase_add_test(tc,
	    steady_state_report_opens_no_connection_and_reads_configs_once);
	tcase_add_test(tc, node_status_unreadable_means_no_report);
	tcase_add_test(tc, guest_config_unreadable_keeps_status_spec_null);
	tcase_add_test(tc, storage_backups_unreadable_is_skipped);
	tcase_add_test(tc, storage_list_unreadable_reports_empty_sections);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("probe");
	tcase_add_test(tc, cloudflared_absent_is_not_installed);
	tcase_add_test(tc, cloudflared_installed_inactive);
	tcase_add_test(tc, cloudflared_system_probe_runs);
	tcase_add_test(tc, probe_captures_bounded_output);
	tcase_add_test(tc, probe_missing_binary_is_not_found);
	tcase_add_test(tc, probe_relative_path_is_refused);
	tcase_add_test(tc, probe_timeout_kills_the_child);
	tcase_add_test(tc, probe_abort_flag_stops_it);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(collect_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
