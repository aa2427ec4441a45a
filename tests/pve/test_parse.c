/*
 * test_parse — every file of tests/fixtures/pve/api goes through the
 * matching pve_ parser or classifier, and the
 * quirks of pve-api.md §1.4 come out typed: numbers as strings, 0/1
 * booleans, string vmids, string pressures, `cpus` as a string, split and
 * joined token users, "OK" from vzdump, null from set-config.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "pve/pve.h"
#include "testutil.h"

static json_t *
load(const char *name)
{
	char rel[512];
	json_t *root = NULL;
	struct err err;

	err_init(&err);
	(void) snprintf(rel, sizeof(rel), "pve/api/%s", name);
	ck_assert_msg(jsonx_parse_file(tu_fixture(rel), 1 << 20, 0, &root,
	    &err) == 0, "%s: %s", name, err.msg);
	return root;
}

static json_t *
data(json_t *root)
{
	return json_object_get(root, "data");
}

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* ".../error-403.x.json" → 403. */
static long
status_of(const char *name)
{
	return strtol(name + strlen("error-"), NULL, 10);
}

/* A realistic reason phrase: the message's first line, or the pre-8.4
 * status line text (pve-api.md §1.3, §3). */
static void
reason_of(const char *name, json_t *root, char *out, size_t n)
{
	json_t *m = json_object_get(root, "message");

	if (json_is_string(m)) {
		const char *t = json_string_value(m);

		(void) snprintf(out, n, "%.*s", (int)strcspn(t, "\n"), t);
	} else if (has_prefix(name, "error-400")) {
		(void) snprintf(out, n, "Parameter verification failed.");
	} else if (has_prefix(name, "error-403")) {
		(void) snprintf(out, n, "Permission check failed");
	} else if (strstr(name, "config-missing") != NULL) {
		(void) snprintf(out, n, "Configuration file "
		    "'nodes/pve/lxc/999.conf' does not exist");
	} else {
		(void) snprintf(out, n, "Internal Server Error");
	}
}

/* Parses one .http fixture's status line: "HTTP/1.1 401 reason". */
static long
http_status_line(const char *name, char *reason, size_t n)
{
	char rel[512], *text, *eol;
	long status;

	(void) snprintf(rel, sizeof(rel), "pve/api/%s", name);
	text = tu_read_file(tu_fixture(rel), NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert(has_prefix(text, "HTTP/1.1 "));
	status = strtol(text + 9, &eol, 10);
	eol++;
	(void) snprintf(reason, n, "%.*s", (int)strcspn(eol, "\r\n"), eol);
	free(text);
	return status;
}

/* Feeds one fixture to its parser; returns 1 when the name was known. */
static int
feed(const char *name)
{
	union {
		struct pve_version v;
		struct pve_nodes nodes;
		struct pve_node_status ns;
		struct pve_guests g;
		struct pve_guest_status gs;
		struct pve_lxc_config cfg;
		struct pve_storages st;
		struct pve_backups b;
		struct pve_snapshots sn;
		struct pve_task_status ts;
		struct pve_tasks t;
		struct pve_task_log tl;
		struct pve_disks d;
		struct pve_smart sm;
	} u;
	struct pve_submit sub;
	struct pve_fault f;
	struct err err;
	char reason[256];
	json_t *root = NULL;
	int rc, known = 1;
	long status;

	memset(&u, 0, sizeof(u));
	err_init(&err);
	if (has_prefix(name, "error-") && strstr(name, ".http") != NULL) {
		status = http_status_line(name, reason, sizeof(reason));
		rc = pve_classify_error(status, reason, "", 0,
		    "agent@pve!reconciler", &f, &err);
		ck_assert_int_eq(rc, ERR_AUTH);
		ck_assert_int_eq(f.reason, PVE_E_AUTH);
		return 1;
	}
	root = load(name);
	if (has_prefix(name, "error-")) {
		char *body = jsonx_dump(root);

		reason_of(name, root, reason, sizeof(reason));
		rc = pve_classify_error(status_of(name), reason, body,
		    strlen(body), "agent@pve!reconciler", &f, &err);
		free(body);
		ck_assert_int_ne(rc, 0);
		ck_assert_int_ne(f.reason, PVE_E_NONE);
		ck_assert_int_eq(err.status, status_of(name));
		json_decref(root);
		return 1;
	}
	if (strstr(name, ".upid.") != NULL || has_prefix(name, "vzdump.") ||
	    strstr(name, ".null.") != NULL) {
		rc = pve_parse_submit(data(root), (1u << PVE_SUBMIT_TASK) |
		    (1u << PVE_SUBMIT_SYNC) | (1u << PVE_SUBMIT_OK), &sub,
		    &err);
	} else if (has_prefix(name, "disks-list")) {
		rc = pve_parse_disks(data(root), &u.d, &err);
		pve_disks_reset(&u.d);
	} else if (has_prefix(name, "disks-smart")) {
		rc = pve_parse_smart(data(root), &u.sm, &err);
		pve_smart_reset(&u.sm);
	} else if (has_prefix(name, "lxc-config.") ||
	    has_prefix(name, "qemu-config.")) {
		rc = pve_parse_lxc_config(data(root), &u.cfg, &err);
		pve_lxc_config_reset(&u.cfg);
	} else if (has_prefix(name, "lxc-list.")) {
		rc = pve_parse_guests(data(root), &u.g, &err);
		pve_guests_reset(&u.g);
	} else if (has_prefix(name, "lxc-snapshot-list.")) {
		rc = pve_parse_snapshots(data(root), &u.sn, &err);
		pve_snapshots_reset(&u.sn);
	} else if (has_prefix(name, "lxc-status-current.") ||
	    has_prefix(name, "qemu-status-current.")) {
		rc = pve_parse_guest_status(data(root), &u.gs, &err);
		pve_guest_status_reset(&u.gs);
	} else if (has_prefix(name, "node-status.")) {
		rc = pve_parse_node_status(data(root), &u.ns, &err);
		pve_node_status_reset(&u.ns);
	} else if (has_prefix(name, "nodes-list.")) {
		rc = pve_parse_nodes(data(root), &u.nodes, &err);
		pve_nodes_reset(&u.nodes);
	} else if (has_prefix(name, "storage-content.")) {
		rc = pve_parse_backups(data(root), &u.b, &err);
		pve_backups_reset(&u.b);
	} else if (has_prefix(name, "storage-list.")) {
		rc = pve_parse_storages(data(root), &u.st, &err);
		pve_storages_reset(&u.st);
	} else if (has_prefix(name, "task-log.")) {
		rc = pve_parse_task_log(root, &u.tl, &err);
		pve_task_log_reset(&u.tl);
	} else if (has_prefix(name, "task-status.")) {
		rc = pve_parse_task_status(data(root), &u.ts, &err);
		pve_task_status_reset(&u.ts);
	} else if (has_prefix(name, "tasks-list.")) {
		rc = pve_parse_tasks(root, &u.t, &err);
		pve_tasks_reset(&u.t);
	} else if (has_prefix(name, "version.")) {
		rc = pve_parse_version(data(root), &u.v, &err);
		pve_version_reset(&u.v);
	} else {
		known = 0;
		rc = 0;
	}
	ck_assert_msg(rc == 0, "%s: %s", name, err.msg);
	json_decref(root);
	return known;
}

START_TEST(every_api_fixture_has_a_parser_and_parses)
{
	DIR *d = opendir(tu_fixture("pve/api"));
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		ck_assert_msg(feed(e->d_name), "%s: no parser for this "
		    "fixture", e->d_name);
		n++;
	}
	(void) closedir(d);
	ck_assert_int_ge(n, 60);
}
END_TEST

/* ---- shapes and quirks ----------------------------------------------- */

START_TEST(lxc_list_vmid_as_string_and_pressure_strings)
{
	json_t *r7 = load("lxc-list.pve7.vmid-as-string.json");
	json_t *r9 = load("lxc-list.pve9.constructed.json");
	struct pve_guests g7, g9;

	memset(&g7, 0, sizeof(g7));
	memset(&g9, 0, sizeof(g9));
	ck_assert_int_eq(pve_parse_guests(data(r7), &g7, NULL), 0);
	ck_assert_uint_eq(g7.n, 3);
	ck_assert_int_eq(g7.items[0].vmid, 106);
	ck_assert_int_eq(g7.items[2].vmid, 101);
	ck_assert_int_eq(g7.items[2].is_template, 1);
	ck_assert_int_eq(g7.items[2].state, PVE_GUEST_STOPPED);
	ck_assert(g7.items[0].pressure_cpu_some < 0);
	ck_assert_int_eq(pve_parse_guests(data(r9), &g9, NULL), 0);
	ck_assert_int_eq(g9.items[0].vmid, 101);
	ck_assert_int_eq(g9.items[0].state, PVE_GUEST_RUNNING);
	ck_assert(g9.items[0].pressure_cpu_some == 0.0);
	ck_assert_int_eq(g9.items[0].maxmem, 2147483648LL);
	ck_assert_str_eq(g9.items[0].tags, "prod;web");
	ck_assert_str_eq(g9.items[1].lock, "backup");
	ck_assert_ptr_null(g9.items[0].lock);
	ck_assert_int_eq(g9.items[1].pid, -1);
	pve_guests_reset(&g7);
	pve_guests_reset(&g9);
	pve_guests_reset(&g9);	/* twice is fine */
	json_decref(r7);
	json_decref(r9);
}
END_TEST

START_TEST(status_current_cpus_string_and_ha)
{
	json_t *r = load("lxc-status-current.running-ha.pve6.2.json");
	json_t *r9 = load("lxc-status-current.running.pve9.constructed.json");
	struct pve_guest_status s, s9;

	ck_assert_int_eq(pve_parse_guest_status(data(r), &s, NULL), 0);
	ck_assert(s.guest.cpus == 1.0);
	ck_assert_int_eq(s.guest.ha_managed, 1);
	ck_assert_str_eq(s.guest.ha_state, "started");
	ck_assert_int_eq(pve_parse_guest_status(data(r9), &s9, NULL), 0);
	ck_assert_int_eq(s9.guest.ha_managed, 0);
	ck_assert_ptr_null(s9.guest.ha_state);
	ck_assert_str_eq(pve_guest_state_name((int)s9.guest.state), "running");
	pve_guest_status_reset(&s);
	pve_guest_status_reset(&s9);
	json_decref(r);
	json_decref(r9);
}
END_TEST

START_TEST(empty_or_odd_status_reads_unknown)
{
	json_t *d = json_pack("{s:s, s:s}", "vmid", "105", "status", "");
	struct pve_guest_status s;

	ck_assert_int_eq(pve_parse_guest_status(d, &s, NULL), 0);
	ck_assert_int_eq(s.guest.vmid, 105);
	ck_assert_int_eq(s.guest.state, PVE_GUEST_UNKNOWN);	/* */
	pve_guest_status_reset(&s);
	json_decref(d);
}
END_TEST

START_TEST(lxc_config_typed_indexed_raw_and_extra)
{
	json_t *r = load("lxc-config.raw-lxc-keys-bindmount.json");
	json_t *r9 = load("lxc-config.pve9.constructed.json");
	struct pve_lxc_config c, c9;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(pve_parse_lxc_config(data(r), &c, NULL), 0);
	ck_assert_str_eq(c.hostname, "test-container");
	ck_assert_int_eq(c.cores, 2);
	ck_assert_int_eq(c.memory, 4096);
	ck_assert_int_eq(c.onboot, 1);
	ck_assert_int_eq(c.unprivileged, -1);	/* absent: schema default */
	ck_assert_uint_eq(c.n_mps, 1);
	ck_assert_str_eq(c.mps[0].key, "mp0");
	ck_assert_str_eq(c.mps[0].value, "/mnt/foo/bar,mp=/storage");
	ck_assert_uint_eq(c.n_nets, 1);
	ck_assert_uint_eq(c.n_lxc, 5);
	ck_assert_str_eq(c.lxc[3].key, "lxc.mount.entry");
	ck_assert_str_eq(c.lxc[3].value,
	    "/dev/dri dev/dri none bind,optional,create=dir");
	ck_assert_uint_eq(c.n_extra, 0);
	ck_assert_str_eq(c.digest, "5911baea29f4c0073fb063fd9ab29e75892832bf");
	ck_assert_int_eq(pve_parse_lxc_config(data(r9), &c9, NULL), 0);
	ck_assert_str_eq(c9.description, "managed by agent\nowner: team-a\n");
	ck_assert_str_eq(c9.parent, "pre-upgrade");
	ck_assert_int_eq(c9.unprivileged, 1);
	ck_assert(c9.cpulimit < 0);
	ck_assert_ptr_eq(c9.raw, data(r9));
	pve_lxc_config_reset(&c);
	pve_lxc_config_reset(&c9);
	json_decref(r);
	json_decref(r9);
}
END_TEST

START_TEST(lxc_config_numbers_as_strings_and_unknown_keys)
{
	json_t *d = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:f, "
	    "s:b}", "digest", "abc", "cpulimit", "1.5", "memory", "2048",
	    "mp10", 1, "mp2", "x", "nameserver", "1.1.1.1", "net1", "n1",
	    "net0", "n0", "weird", 0.25, "flag", 1);
	json_t *ok;
	struct pve_lxc_config c;
	struct err err;

	/* mp10 is a number: refused as not a string. */
	err_init(&err);
	ck_assert_int_eq(pve_parse_lxc_config(d, &c, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "mp10"));
	ok = json_deep_copy(d);
	(void) json_object_set_new(ok, "mp10", json_string("y"));
	ck_assert_int_eq(pve_parse_lxc_config(ok, &c, NULL), 0);
	ck_assert(c.cpulimit == 1.5);
	ck_assert_int_eq(c.memory, 2048);
	ck_assert_uint_eq(c.n_mps, 2);
	ck_assert_str_eq(c.mps[0].key, "mp2");	/* index order */
	ck_assert_str_eq(c.mps[1].key, "mp10");
	ck_assert_str_eq(c.nets[0].key, "net0");
	ck_assert_uint_eq(c.n_extra, 3);	/* sorted by key */
	ck_assert_str_eq(c.extra[0].key, "flag");
	ck_assert_str_eq(c.extra[0].value, "1");
	ck_assert_str_eq(c.extra[1].key, "nameserver");
	ck_assert_str_eq(c.extra[2].key, "weird");
	ck_assert_str_eq(c.extra[2].value, "0.25");
	pve_lxc_config_reset(&c);
	json_decref(ok);
	json_decref(d);
}
END_TEST

START_TEST(qemu_config_memory_string_kept)
{
	json_t *r = load("qemu-config.pve9.constructed.json");
	struct pve_lxc_config c;

	ck_assert_int_eq(pve_parse_lxc_config(data(r), &c, NULL), 0);
	ck_assert_int_eq(c.memory, 2048);
	ck_assert_uint_ge(c.n_extra, 8);	/* boot, cpu, meta, name, ... */
	pve_lxc_config_reset(&c);
	json_decref(r);
}
END_TEST

START_TEST(node_status_strings_to_numbers)
{
	json_t *r = load("node-status.pve8.4.14.pvesh.json");
	json_t *r7 = load("node-status.pve7.4-16.json");
	struct pve_node_status s, s7;

	ck_assert_int_eq(pve_parse_node_status(data(r), &s, NULL), 0);
	ck_assert(s.loadavg[0] == 0.16);
	ck_assert(s.cpu_mhz == 800.0);
	ck_assert(s.cpu == 0.0);
	ck_assert_int_eq(s.mem_available, -1);
	ck_assert_str_eq(s.boot_mode, "legacy-bios");
	ck_assert_int_eq(s.uptime, 23433);
	ck_assert_int_eq(pve_parse_node_status(data(r7), &s7, NULL), 0);
	ck_assert_ptr_null(s7.boot_mode);
	ck_assert_int_eq(s7.cpu_cpus, 8);
	pve_node_status_reset(&s);
	pve_node_status_reset(&s7);
	json_decref(r);
	json_decref(r7);
}
END_TEST

START_TEST(storage_and_backups)
{
	json_t *rs = load("storage-list.constructed.json");
	json_t *rb = load("storage-content.backup.pbs.constructed.json");
	struct pve_storages s;
	struct pve_backups b;

	ck_assert_int_eq(pve_parse_storages(data(rs), &s, NULL), 0);
	ck_assert_uint_eq(s.n, 6);
	ck_assert_int_eq(s.items[4].active, 0);
	ck_assert(s.items[4].used_fraction < 0);
	ck_assert_int_eq(s.items[3].shared, 1);
	ck_assert_int_eq(pve_parse_backups(data(rb), &b, NULL), 0);
	ck_assert_uint_eq(b.n, 2);
	ck_assert_int_eq(b.items[0].vmid, 101);
	ck_assert_int_eq(b.items[0].is_protected, 1);
	ck_assert_str_eq(b.items[0].verify_state, "ok");
	ck_assert_str_eq(b.items[1].encrypted, "1");
	ck_assert_int_eq(b.items[1].is_protected, 0);
	pve_storages_reset(&s);
	pve_backups_reset(&b);
	json_decref(rs);
	json_decref(rb);
}
END_TEST

START_TEST(snapshots_current_last_and_lookup)
{
	json_t *r = load("lxc-snapshot-list.pve9.constructed.json");
	struct pve_snapshots s;

	ck_assert_int_eq(pve_parse_snapshots(data(r), &s, NULL), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert(s.items[2].is_current);
	ck_assert_int_eq(s.items[2].running, 1);
	ck_assert_int_eq(s.items[2].snaptime, -1);
	ck_assert_str_eq(s.items[0].description, "");
	ck_assert_ptr_nonnull(pve_snapshots_find(&s, "pre-upgrade"));
	ck_assert_ptr_null(pve_snapshots_find(&s, "current"));
	ck_assert_ptr_null(pve_snapshots_find(&s, "nope"));
	pve_snapshots_reset(&s);
	json_decref(r);
}
END_TEST

START_TEST(task_status_states)
{
	static const struct {
		const char	*file;
		int		 state, running, warnings;
	} v[] = {
		{ "task-status.running.qmconfig.json", PVE_TASK_RUNNING, 1, 0 },
		{ "task-status.running.vzdump.constructed.json",
		    PVE_TASK_RUNNING, 1, 0 },
		{ "task-status.stopped-error.ct-locked.constructed.json",
		    PVE_TASK_FAILED, 0, 0 },
		{ "task-status.stopped-ok.token-user-split.constructed.json",
		    PVE_TASK_OK, 0, 0 },
		{ "task-status.stopped-warnings.qmstart.json",
		    PVE_TASK_WARNINGS, 0, 1 },
	};
	struct pve_task_status s;
	json_t *r;
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		r = load(v[i].file);
		ck_assert_int_eq(pve_parse_task_status(data(r), &s, NULL), 0);
		ck_assert_int_eq(s.state, v[i].state);
		ck_assert_int_eq(s.running, v[i].running);
		ck_assert_int_eq(s.warnings, v[i].warnings);
		ck_assert_str_eq(s.upid.node, s.node);
		pve_task_status_reset(&s);
		json_decref(r);
	}
}
END_TEST

START_TEST(task_classify_forms)
{
	int w;

	ck_assert_int_eq(pve_task_classify("OK", &w), PVE_TASK_OK);
	ck_assert_int_eq(pve_task_classify("WARNINGS: 12", &w),
	    PVE_TASK_WARNINGS);
	ck_assert_int_eq(w, 12);
	ck_assert_int_eq(pve_task_classify("WARNINGS: ", &w), PVE_TASK_FAILED);
	ck_assert_int_eq(pve_task_classify("WARNINGS: 2x", &w),
	    PVE_TASK_FAILED);
	ck_assert_int_eq(pve_task_classify("RUNNING", NULL), PVE_TASK_RUNNING);
	ck_assert_int_eq(pve_task_classify("unexpected status", NULL),
	    PVE_TASK_FAILED);
	ck_assert_int_eq(pve_task_classify("job errors", NULL),
	    PVE_TASK_FAILED);
	ck_assert_int_eq(pve_task_classify(NULL, NULL), PVE_TASK_FAILED);
	ck_assert_str_eq(pve_task_state_name(PVE_TASK_WARNINGS), "warnings");
}
END_TEST

START_TEST(task_list_split_and_joined_token_users)
{
	json_t *ra = load("tasks-list.source-active.constructed.json");
	json_t *rv = load("tasks-list.vmid-filter.token.constructed.json");
	json_t *r6 = load("tasks-list.pve6.4-8.json");
	struct pve_tasks a, v, t6;

	ck_assert_int_eq(pve_parse_tasks(ra, &a, NULL), 0);
	ck_assert_int_eq(pve_parse_tasks(rv, &v, NULL), 0);
	ck_assert_int_eq(pve_parse_tasks(r6, &t6, NULL), 0);
	ck_assert_int_eq(a.total, 1);
	ck_assert_int_eq(a.items[0].state, PVE_TASK_RUNNING);
	ck_assert_int_eq(a.items[0].endtime, -1);
	ck_assert(pve_task_is_ours(&a.items[0], "agent@pve!reconciler"));
	ck_assert(!pve_task_is_ours(&a.items[0], "agent@pve!other"));
	ck_assert_int_eq(v.total, 3);
	ck_assert_int_eq(v.items[0].state, PVE_TASK_WARNINGS);
	ck_assert_int_eq(v.items[1].state, PVE_TASK_FAILED);
	ck_assert(pve_task_is_ours(&v.items[0], "agent@pve!reconciler"));
	ck_assert(!pve_task_is_ours(&v.items[0], "agent@pve!reconcilerX"));
	ck_assert(!pve_task_is_ours(&v.items[0], "agent@pv!reconciler"));
	ck_assert(!pve_task_is_ours(&v.items[0], "agent@pve"));
	ck_assert_int_eq(t6.total, -1);
	ck_assert(!pve_task_is_ours(&t6.items[0], "root@pam!x"));
	ck_assert_int_eq(t6.items[1].state, PVE_TASK_FAILED);
	pve_tasks_reset(&a);
	pve_tasks_reset(&v);
	pve_tasks_reset(&t6);
	json_decref(ra);
	json_decref(rv);
	json_decref(r6);
}
END_TEST

START_TEST(task_log_lines_and_total)
{
	json_t *r = load("task-log.vzdump-lxc.constructed.json");
	struct pve_task_log l;

	ck_assert_int_eq(pve_parse_task_log(r, &l, NULL), 0);
	ck_assert_uint_eq(l.n, 18);
	ck_assert_int_eq(l.total, 18);
	ck_assert_int_eq(l.lines[17].n, 18);
	ck_assert_str_eq(l.lines[17].t, "TASK OK");
	pve_task_log_reset(&l);
	json_decref(r);
}
END_TEST

/* ---- mutation answers (R-03, R-04) ----------------------------------- */

START_TEST(submit_answer_kinds)
{
	json_t *up = load("qemu-config-post.upid.constructed.json");
	json_t *nul = load("lxc-config-put.null.constructed.json");
	json_t *ok = load("vzdump.ok-string.constructed.json");
	json_t *multi = load("vzdump.multi-vmid.upid.constructed.json");
	json_t *junk = json_string("UPID:pve:bad");
	json_t *num = json_integer(5);
	json_t *empty = json_string("");
	unsigned dual = (1u << PVE_SUBMIT_TASK) | (1u << PVE_SUBMIT_SYNC);
	struct pve_submit s;
	struct err err;

	ck_assert_int_eq(pve_parse_submit(data(up), dual, &s, NULL), 0);
	ck_assert_int_eq(s.kind, PVE_SUBMIT_TASK);
	ck_assert_str_eq(s.parsed.type, "qmconfig");
	ck_assert_str_eq(s.upid, json_string_value(data(up)));
	ck_assert_int_eq(pve_parse_submit(data(nul), dual, &s, NULL), 0);
	ck_assert_int_eq(s.kind, PVE_SUBMIT_SYNC);
	ck_assert_str_eq(s.upid, "");
	ck_assert_int_eq(pve_parse_submit(empty, dual, &s, NULL), 0);
	ck_assert_int_eq(s.kind, PVE_SUBMIT_SYNC);
	ck_assert_int_eq(pve_parse_submit(data(ok), (1u << PVE_SUBMIT_TASK) |
	    (1u << PVE_SUBMIT_OK), &s, NULL), 0);
	ck_assert_int_eq(s.kind, PVE_SUBMIT_OK);
	ck_assert_int_eq(pve_parse_submit(data(multi), 1u << PVE_SUBMIT_TASK,
	    &s, NULL), 0);
	ck_assert_str_eq(s.parsed.id, "");
	/* "OK" where only a UPID may come; a broken UPID; a number. */
	err_init(&err);
	ck_assert_int_eq(pve_parse_submit(data(ok), 1u << PVE_SUBMIT_TASK, &s,
	    &err), ERR_PROTOCOL);
	err_init(&err);
	ck_assert_int_eq(pve_parse_submit(junk, dual, &s, &err), ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "UPID:pve:bad"));
	ck_assert_int_eq(err.reason, PVE_E_PROTOCOL);
	err_init(&err);
	ck_assert_int_eq(pve_parse_submit(num, dual, &s, &err), ERR_PROTOCOL);
	ck_assert_int_eq(pve_parse_submit(data(nul), 1u << PVE_SUBMIT_TASK, &s,
	    NULL), ERR_PROTOCOL);
	json_decref(up);
	json_decref(nul);
	json_decref(ok);
	json_decref(multi);
	json_decref(junk);
	json_decref(num);
	json_decref(empty);
}
END_TEST

START_TEST(form_encoding_leaves_only_unreserved_bytes)
{
	struct pve_param p[] = {
		{ "net0", "name=eth0,bridge=vmbr0" },
		{ "tags", "a;b c+d&e%f#g" },
		{ "description", "über\nline2" },
		{ "plain", "AZaz09-._~" },
	};
	char *out = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(pve_form_encode(p, 4, &out, &err), 0);
	ck_assert_str_eq(out, "net0=name%3Deth0%2Cbridge%3Dvmbr0"
	    "&tags=a%3Bb%20c%2Bd%26e%25f%23g"
	    "&description=%C3%BCber%0Aline2"
	    "&plain=AZaz09-._~");
	free(out);
	ck_assert_int_eq(pve_form_encode(p, 0, &out, NULL), 0);
	ck_assert_str_eq(out, "");
	free(out);
	p[0].value = NULL;
	ck_assert_int_eq(pve_form_encode(p, 1, &out, NULL), ERR_INVALID);
}
END_TEST

/* ---- errors (R-06) --------------------------------------------------- */

static int
classify_file(const char *name, long status, const char *reason,
    struct pve_fault *f, struct err *err)
{
	json_t *root = load(name);
	char *body = jsonx_dump(root);
	int rc;

	rc = pve_classify_error(status, reason, body, strlen(body),
	    "agent@pve!reconciler", f, err);
	free(body);
	json_decref(root);
	return rc;
}

START_TEST(forbidden_names_privilege_and_path)
{
	struct pve_fault f;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(classify_file("error-403.permission.pve8.4+."
	    "constructed.json", 403, "Permission check failed (/vms/101, "
	    "VM.PowerMgmt)", &f, &err), ERR_PERMISSION);
	ck_assert_int_eq(err.reason, PVE_E_PERMISSION);
	ck_assert_str_eq(f.privilege, "VM.PowerMgmt");
	ck_assert_str_eq(f.path, "/vms/101");
	ck_assert_ptr_nonnull(strstr(err.msg, "VM.PowerMgmt on /vms/101"));
	err_init(&err);
	ck_assert_int_eq(classify_file("error-403.any-of-privs.pve8.4+."
	    "constructed.json", 403, "Permission check failed", &f, &err),
	    ERR_PERMISSION);
	ck_assert_str_eq(f.privilege, "VM.Config.Disk|VM.Config.CPU|"
	    "VM.Config.Memory|VM.Config.Network|VM.Config.Options");
	/* Pre-8.4: the text is only in the reason phrase. */
	err_init(&err);
	ck_assert_int_eq(classify_file("error-403.pre-8.4-no-message.json", 403,
	    "Permission check failed (/vms/101, VM.Snapshot)", &f, &err),
	    ERR_PERMISSION);
	ck_assert_str_eq(f.privilege, "VM.Snapshot");
	ck_assert_str_eq(f.path, "/vms/101");
	err_init(&err);
	ck_assert_int_eq(classify_file("error-403.pre-8.4-no-message.json", 403,
	    "Permission check failed", &f, &err), ERR_PERMISSION);
	ck_assert_str_eq(f.privilege, "");
	ck_assert_ptr_nonnull(strstr(err.msg, "Permission check failed"));
	/* root@pam-only texts: no privilege, the message says why. */
	err_init(&err);
	ck_assert_int_eq(classify_file("error-403.feature-flags-root-only."
	    "constructed.json", 403, "x", &f, &err), ERR_PERMISSION);
	ck_assert_str_eq(f.privilege, "");
	ck_assert_ptr_nonnull(strstr(err.msg, "only allowed for root@pam"));
}
END_TEST

START_TEST(auth_not_found_locked_and_conflicts)
{
	static const char notask[] =
	    "{\"data\":null,\"errors\":{\"upid\":\"no such task\"}}";
	struct pve_fault f;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(pve_classify_error(401, "Authentication failed!", "",
	    0, "agent@pve!reconciler", &f, &err), ERR_AUTH);
	ck_assert_ptr_nonnull(strstr(err.msg, "token 'agent@pve!reconciler' "
	    "rejected"));
	err_init(&err);
	ck_assert_int_eq(classify_file("error-500.config-missing.pve8.4+."
	    "constructed.json", 500, "x", &f, &err), ERR_NOT_FOUND);
	ck_assert_int_eq(f.reason, PVE_E_NOT_FOUND);
	err_init(&err);
	ck_assert_int_eq(classify_file("error-500.config-missing.pre-8.4."
	    "constructed.json", 500, "Configuration file "
	    "'nodes/pve/lxc/999.conf' does not exist", &f, &err),
	    ERR_NOT_FOUND);
	err_init(&err);
	ck_assert_int_eq(classify_file("error-500.ct-locked.pve8.4+."
	    "constructed.json", 500, "CT is locked (snapshot)", &f, &err),
	    ERR_LOCKED);
	ck_assert_str_eq(f.lock, "snapshot");
	ck_assert_int_eq(err.reason, PVE_E_LOCKED);
	err_init(&err);
	ck_assert_int_eq(pve_classify_error(500, "CT is locked (backup)", NULL,
	    0, NULL, &f, &err), ERR_LOCKED);
	ck_assert_str_eq(f.lock, "backup");
	err_init(&err);
	ck_assert_int_eq(classify_file("error-500.ct-already-running.pve8.4+."
	    "constructed.json", 500, "CT 101 already running", &f, &err),
	    ERR_CONFLICT);
	ck_assert_int_eq(f.reason, PVE_E_ALREADY_RUNNING);
	err_init(&err);
	ck_assert_int_eq(classify_file("error-500.digest-mismatch.pve8.4+."
	    "constructed.json", 500, "x", &f, &err), ERR_CONFLICT);
	ck_assert_int_eq(f.reason, PVE_E_DIGEST);
	err_init(&err);
	ck_assert_int_eq(classify_file("error-400.format-errors.json", 400,
	    "Parameter verification failed.", &f, &err), ERR_INVALID);
	ck_assert_int_eq(f.reason, PVE_E_PARAM);
	ck_assert_ptr_nonnull(strstr(err.msg, "vmid: invalid format"));
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	err_init(&err);
	ck_assert_int_eq(pve_classify_error(400, "Parameter verification "
	    "failed.", notask, strlen(notask), NULL, &f, &err), ERR_NOT_FOUND);
	err_init(&err);
	ck_assert_int_eq(pve_classify_error(501, "Method 'GET /x' not "
	    "implemented", NULL, 0, NULL, &f, &err), ERR_HTTP);
	ck_assert_int_eq(err.status, 501);
	ck_assert_ptr_nonnull(strstr(err.msg, "not implemented"));
}
END_TEST

START_TEST(peer_text_is_escaped_and_truncated)
{
	char body[4096];
	struct pve_fault f;
	struct err err;

	(void) snprintf(body, sizeof(body), "{\"data\":null,\"message\":\"evil"
	    "\\u001b[31m text %0*d\\n\"}", 2000, 7);
	err_init(&err);
	ck_assert_int_eq(pve_classify_error(500, "x", body, strlen(body), NULL,
	    &f, &err), ERR_HTTP);
	ck_assert_ptr_null(strchr(err.msg, 0x1b));
	ck_assert_ptr_nonnull(strstr(err.msg, "\\x1b"));
	ck_assert_uint_lt(strlen(err.msg), ERR_MSG_MAX);
}
END_TEST

START_TEST(scan_permission_in_task_log_lines)
{
	struct pve_fault f;

	memset(&f, 0, sizeof(f));
	ck_assert(pve_scan_permission("ERROR: Backup of VM 101 failed - "
	    "Permission check failed (/vms/101, VM.Backup)", &f));
	ck_assert_str_eq(f.privilege, "VM.Backup");
	ck_assert_str_eq(f.path, "/vms/101");
	memset(&f, 0, sizeof(f));
	ck_assert(pve_scan_permission("Permission check failed (/, Sys.Modify "
	    "for modifying tag 'x')", &f));
	ck_assert_str_eq(f.privilege, "Sys.Modify");
	ck_assert_str_eq(f.path, "/");
	ck_assert(!pve_scan_permission("TASK OK", &f));
	ck_assert(!pve_scan_permission(NULL, &f));
	ck_assert(!pve_scan_permission("Permission check failed", &f));
}
END_TEST

START_TEST(permissions_lookup_walks_propagating_ancestors)
{
	json_t *d = json_pack("{s:{s:i, s:i}, s:{s:i}, s:{s:i}}",
	    "/", "Sys.Audit", 1, "Datastore.Audit", 0,
	    "/vms", "VM.Audit", 1,
	    "/vms/101", "VM.PowerMgmt", 1);
	struct pve_permissions p;

	ck_assert_int_eq(pve_parse_permissions(d, &p, NULL), 0);
	ck_assert(pve_permissions_has(&p, "/", "Sys.Audit"));
	ck_assert(pve_permissions_has(&p, "/nodes/pve", "Sys.Audit"));
	ck_assert(pve_permissions_has(&p, "/", "Datastore.Audit"));
	ck_assert(!pve_permissions_has(&p, "/storage/local",
	    "Datastore.Audit"));			/* not propagated */
	ck_assert(pve_permissions_has(&p, "/vms/102", "VM.Audit"));
	ck_assert(!pve_permissions_has(&p, "/vms/101", "VM.Audit"));
	ck_assert(pve_permissions_has(&p, "/vms/101", "VM.PowerMgmt"));
	ck_assert(!pve_permissions_has(&p, "/vms", "VM.PowerMgmt"));
	pve_permissions_reset(&p);
	json_decref(d);
}
END_TEST

START_TEST(name_tables_are_complete)
{
	int i;

	for (i = 0; i < PVE_E__COUNT; i++)
		ck_assert_str_ne(pve_error_name(i), "unknown");
	for (i = 1; i < PVE_GUEST__COUNT; i++)
		ck_assert_str_ne(pve_guest_state_name(i), "unknown");
	for (i = 0; i < PVE_SUBMIT__COUNT; i++)
		ck_assert_str_ne(pve_submit_kind_name(i), "unknown");
	ck_assert_str_eq(pve_error_name(PVE_E__COUNT), "unknown");
	ck_assert_str_eq(pve_error_name(PVE_E_OUTCOME_UNKNOWN),
	    "outcome_unknown");
}
END_TEST

START_TEST(wrong_types_name_the_field)
{
	json_t *d = json_pack("[{s:s, s:s}]", "vmid", "abc", "status",
	    "running");
	json_t *d2 = json_pack("{s:s, s:s}", "upid", "UPID:x", "status",
	    "stopped");
	struct pve_guests g;
	struct pve_task_status t;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(pve_parse_guests(d, &g, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "guests[0].vmid"));
	err_init(&err);
	ck_assert_int_eq(pve_parse_task_status(d2, &t, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "task_status.upid"));
	err_init(&err);
	ck_assert_int_eq(pve_parse_guests(d2, &g, &err), ERR_FORMAT);
	json_decref(d);
	json_decref(d2);
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite *s = suite_create("pve_parse");
	TCase *tc = tcase_create("fixtures");

	tcase_add_test(tc, every_api_fixture_has_a_parser_and_parses);
	tcase_add_test(tc, lxc_list_vmid_as_string_and_pressure_strings);
	tcase_add_test(tc, status_current_cpus_string_and_ha);
	tcase_add_test(tc, empty_or_odd_status_reads_unknown);
	tcase_add_test(tc, lxc_config_typed_indexed_raw_and_extra);
	tcase_add_test(tc, lxc_config_numbers_as_strings_and_unknown_keys);
	tcase_add_test(tc, qemu_config_memory_string_kept);
	tcase_add_test(tc, node_status_strings_to_numbers);
	tcase_add_test(tc, storage_and_backups);
	tcase_add_test(tc, snapshots_current_last_and_lookup);
	tcase_add_test(tc, task_status_states);
	tcase_add_test(tc, task_classify_forms);
	tcase_add_test(tc, task_list_split_and_joined_token_users);
	tcase_add_test(tc, task_log_lines_and_total);
	tcase_add_test(tc, submit_answer_kinds);
	tcase_add_test(tc, form_encoding_leaves_only_unreserved_bytes);
	tcase_add_test(tc, forbidden_names_privilege_and_path);
	tcase_add_test(tc, auth_not_found_locked_and_conflicts);
	tcase_add_test(tc, peer_text_is_escaped_and_truncated);
	tcase_add_test(tc, scan_permission_in_task_log_lines);
	tcase_add_test(tc, permissions_lookup_walks_propagating_ancestors);
	tcase_add_test(tc, name_tables_are_complete);
	tcase_add_test(tc, wrong_types_name_the_field);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
