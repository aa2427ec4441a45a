/*
 * test_helper — felhom-privhelper against pve-sim and the fake tools
 * started unprivileged: SMART and temperatures parsed from real
 * outputs; a keyctl container created and a backup restored as root; a
 * bind mount and a USB device attached; every crafted bad argument
 * (path traversal, symlink escape, shell metacharacters, wrong device
 * pattern, a feature outside the list, an oversize request, the wrong
 * peer uid) refused with a clear error while the fakes record no call.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "base/log.h"
#include "priv/priv.h"
#include "priv/wire.h"
#include "privtu.h"
#include "testutil.h"

#define TMPL	"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

static struct tu_sim sim;
static struct ptu_rig rig;
static struct priv_client *cl;

static void
sim_start(void)
{
	const char *extra[] = { "--task-seconds", "0.05", NULL };

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	ck_assert_int_eq(tu_pve_sim_start(&sim, extra), 0);
}

static void
sim_stop(void)
{
	tu_sim_stop(&sim);
}

static void
setup(void)
{
	ck_assert_int_eq(tu_sim_call(&sim, "POST", "/_sim/reset",
	    "{\"world\":true}", NULL), 200);
	ptu_rig_start(&rig, &sim, getuid());
	ck_assert_int_eq(priv_client_new(rig.socket, &cl, NULL), 0);
}

static void
teardown(void)
{
	priv_client_free(cl);
	cl = NULL;
	ptu_rig_stop(&rig);
}

/* The sim's config of vmid (borrowed from *w, which the caller frees). */
static json_t *
guest_config(json_t **w, int64_t vmid)
{
	json_t *g;
	size_t i;

	*w = tu_sim_json(&sim, "GET", "/_sim/world", NULL);
	ck_assert_ptr_nonnull(*w);
	json_array_foreach(json_object_get(*w, "guests"), i, g)
		if (json_integer_value(json_object_get(g, "vmid")) == vmid)
			return json_object_get(g, "config");
	return NULL;
}

static const char *
conf_str(const json_t *conf, const char *key)
{
	return json_string_value(json_object_get(conf, key));
}

/* Calls req (taking it), expecting failure with code and fragment. */
static void
refused(json_t *req, int code, const char *fragment)
{
	json_t *res = NULL;
	struct err err;
	int rc;

	ck_assert_ptr_nonnull(req);
	err_init(&err);
	rc = priv_call(cl, req, 30000, &res, &err);
	json_decref(req);
	json_decref(res);
	ck_assert_msg(rc == code, "expected %s, got %s: %s", err_name(code),
	    err_name(rc), err_msg(&err));
	ck_assert_msg(strstr(err.msg, fragment) != NULL, "'%s' not in '%s'",
	    fragment, err.msg);
	ck_assert_msg(strncmp(err.msg, "helper: ", 8) == 0, "%s", err.msg);
}

/* ---- (c) SMART and temperatures ---------------------------------------- */

START_TEST(smart_reads_each_disk_through_the_helper)
{
	json_t *d = NULL, *calls, *argv;
	struct err err;

	err_init(&err);
	ck_assert_msg(priv_smart(cl, "/dev/nvme0n1", &d, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_str_eq(json_string_value(json_object_get(d, "device")),
	    "/dev/nvme0n1");
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "temperature_c")), 58);
	ck_assert(json_is_true(json_object_get(d, "smart_passed")));
	json_decref(d);
	/* A failing disk: smartctl exits with bits 3/4/6/7, still data. */
	ck_assert_int_eq(priv_smart(cl, "/dev/sdb", &d, NULL), 0);
	ck_assert(json_is_false(json_object_get(d, "smart_passed")));
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "exit_status")), 216);
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "power_on_hours")), 65592);
	json_decref(d);
	/* A disk smartctl cannot open: no values, smartctl's reason. */
	ck_assert_int_eq(priv_smart(cl, "/dev/sdc", &d, NULL), 0);
	ck_assert(json_is_null(json_object_get(d, "temperature_c")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d,
	    "error")), "/dev/sdc failed"));
	json_decref(d);
	/* The fixed argv the fake saw. */
	calls = ptu_calls(&rig);
	ck_assert_uint_eq(json_array_size(calls), 3);
	argv = json_object_get(json_array_get(calls, 0), "argv");
	ck_assert_str_eq(json_string_value(json_array_get(argv, 0)),
	    "--json");
	ck_assert_str_eq(json_string_value(json_array_get(argv, 1)), "-a");
	ck_assert_str_eq(json_string_value(json_array_get(argv, 2)),
	    "/dev/nvme0n1");
	json_decref(calls);
}
END_TEST

START_TEST(sensors_through_the_helper)
{
	json_t *l = NULL, *r;
	struct err err;

	err_init(&err);
	ck_assert_msg(priv_sensors(cl, &l, &err) == 0, "%s", err_msg(&err));
	ck_assert_uint_eq(json_array_size(l), 6);
	r = json_array_get(l, 3);
	ck_assert_str_eq(json_string_value(json_object_get(r, "chip")),
	    "k10temp-pci-00c3");
	ck_assert_str_eq(json_string_value(json_object_get(r, "label")),
	    "Tctl");
	json_decref(l);
	ck_assert_uint_eq(ptu_ncalls(&rig, "sensors"), 1);
}
END_TEST

/* Issue 15: a barrier that refuses (the record is not durable). */
static int
refuse_barrier(void *ctx, struct err *err)
{
	(*(int *)ctx)++;
	return err_set(err, ERR_IO, "the record is not durable");
}

/*
 * Issue 15 (write-ahead): the client's barrier runs before a request
 * leaves; refused, nothing reaches the helper and the call fails with
 * its reason.
 */
START_TEST(a_refusing_barrier_sends_nothing_to_the_helper)
{
	json_t *l = NULL;
	struct err err;
	int calls = 0;

	priv_client_set_barrier(cl, refuse_barrier, &calls);
	err_init(&err);
	ck_assert_int_eq(priv_sensors(cl, &l, &err), ERR_IO);
	ck_assert_ptr_null(l);
	ck_assert_ptr_nonnull(strstr(err.msg, "helper request not sent"));
	ck_assert_ptr_nonnull(strstr(err.msg, "the record is not durable"));
	ck_assert_int_eq(calls, 1);
	ck_assert_uint_eq(ptu_ncalls(&rig, "sensors"), 0);
	/* Let through, the same call reaches the tool. */
	priv_client_set_barrier(cl, NULL, NULL);
	ck_assert_int_eq(priv_sensors(cl, &l, NULL), 0);
	json_decref(l);
	ck_assert_uint_eq(ptu_ncalls(&rig, "sensors"), 1);
}
END_TEST

/* ---- (a) create, restore, features ------------------------------------ */

START_TEST(create_with_keyctl_goes_through_pct)
{
	struct priv_create a;
	json_t *req, *res = NULL, *w, *conf, *c, *feat, *spec;
	struct err err;

	feat = json_pack("{s:b,s:b}", "nesting", 1, "keyctl", 1);
	spec = json_pack("{s:s,s:i,s:[s,s]}", "hostname", "build",
	    "memory_mib", 1024, "tags", "ci", "prod");
	memset(&a, 0, sizeof(a));
	a.vmid = 150;
	a.template_volid = TMPL;
	a.storage = "local-lvm";
	a.rootfs_gib = 8;
	a.features = feat;
	a.spec = spec;
	req = priv_req_create(&a);
	ck_assert_ptr_nonnull(req);
	err_init(&err);
	ck_assert_msg(priv_call(cl, req, 60000, &res, &err) == 0, "%s",
	    err_msg(&err));
	json_decref(req);
	json_decref(res);
	json_decref(feat);
	json_decref(spec);
	conf = guest_config(&w, 150);
	ck_assert_ptr_nonnull(conf);
	ck_assert_str_eq(conf_str(conf, "features"), "keyctl=1,nesting=1");
	ck_assert_str_eq(conf_str(conf, "hostname"), "build");
	ck_assert_int_eq(json_integer_value(json_object_get(conf, "memory")),
	    1024);
	ck_assert_int_eq(json_integer_value(json_object_get(conf,
	    "unprivileged")), 1);
	json_decref(w);
	/* As root (the CLI), not through the agent's API token. */
	c = tu_sim_json(&sim, "GET", "/_sim/counters", NULL);
	ck_assert(json_object_get(c, "150:create") == NULL);
	json_decref(c);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
}
END_TEST

START_TEST(restore_as_root_brings_bind_mounts_back)
{
	char body[1024];
	json_t *w, *conf;
	struct err err;

	(void) snprintf(body, sizeof(body), "{\"volid\":\"local:backup/"
	    "vzdump-lxc-120-2026_01_02-03_04_05.tar.zst\",\"content\":"
	    "\"backup\",\"size\":1000,\"config\":{\"hostname\":\"files\","
	    "\"memory\":512,\"unprivileged\":1,\"arch\":\"amd64\","
	    "\"ostype\":\"debian\",\"rootfs\":\"local-lvm:vm-120-disk-0,"
	    "size=4G\",\"mp0\":\"%s,mp=/media\"}}",
	    ptu_path(&rig, "roots/media"));
	ck_assert_int_eq(tu_sim_call(&sim, "POST", "/_sim/world/volume", body,
	    NULL), 200);
	err_init(&err);
	ck_assert_msg(priv_restore(cl, 160, "local:backup/vzdump-lxc-120-"
	    "2026_01_02-03_04_05.tar.zst", "local-lvm", 0, 60000, &err) == 0,
	    "%s", err_msg(&err));
	conf = guest_config(&w, 160);
	ck_assert_ptr_nonnull(conf);
	ck_assert_ptr_nonnull(strstr(conf_str(conf, "mp0"), "roots/media"));
	json_decref(w);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pvesm"), 1);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 1);
}
END_TEST

/* The volid of a backup of vmid in the sim's world (static buffer). */
static const char *
backup_of(int64_t vmid)
{
	static char volid[256];
	json_t *w, *v;
	size_t i;

	volid[0] = '\0';
	w = tu_sim_json(&sim, "GET", "/_sim/world", NULL);
	ck_assert_ptr_nonnull(w);
	json_array_foreach(json_object_get(w, "volumes"), i, v)
		if (json_integer_value(json_object_get(v, "vmid")) == vmid &&
		    strcmp(json_string_value(json_object_get(v, "content")),
		    "backup") == 0)
			(void) snprintf(volid, sizeof(volid), "%s",
			    json_string_value(json_object_get(v, "volid")));
	json_decref(w);
	ck_assert_msg(volid[0] != '\0', "no backup of %lld", (long long)vmid);
	return volid;
}

START_TEST(restore_of_a_backup_escaping_the_roots_is_refused)
{
	struct err err;

	/* The default world's 103 has mp0: /srv/data, outside the roots. */
	err_init(&err);
	ck_assert_int_eq(priv_restore(cl, 161, backup_of(103), "local-lvm", 0,
	    60000, &err), ERR_INVALID);
	ck_assert_msg(strstr(err.msg, "mp0") != NULL && (strstr(err.msg,
	    "/srv/data") != NULL), "%s", err.msg);
	/* It read the backup's config, and ran nothing else. */
	ck_assert_uint_eq(ptu_ncalls(&rig, "pvesm"), 1);
	ck_assert_uint_eq(ptu_ncalls(&rig, "pct"), 0);
}
END_TEST

START_TEST(features_on_an_existing_guest)
{
	json_t *f = json_pack("{s:b,s:b,s:b}", "nesting", 1, "fuse", 1,
	    "mknod", 0), *w, *conf, *res = NULL, *req;

	/* 104 is stopped: a running guest would hold it as pending. */
	req = priv_req_features(104, f);
	ck_assert_int_eq(priv_call(cl, req, 30000, &res, NULL), 0);
	json_decref(req);
	json_decref(res);
	json_decref(f);
	conf = guest_config(&w, 104);
	ck_assert_str_eq(conf_str(conf, "features"), "fuse=1,nesting=1");
	json_decref(w);
}
END_TEST

/* ---- (b) host paths and devices -------------------------------------- */

START_TEST(bind_mount_attach_goes_through_pct_set)
{
	struct priv_bind b = { "mp1", NULL, "/media", 1 };
	json_t *w, *conf, *calls;
	char want[600];
	struct err err;

	/* Through a symlink that stays inside: the resolved path is used. */
	ck_assert_int_eq(symlink(ptu_path(&rig, "roots/media/films"),
	    ptu_path(&rig, "roots/films-link")), 0);
	b.host_path = ptu_path(&rig, "roots/films-link");
	err_init(&err);
	ck_assert_msg(priv_attach(cl, 101, &b, 1, NULL, 0, &err) == 0, "%s",
	    err_msg(&err));
	conf = guest_config(&w, 101);
	(void) snprintf(want, sizeof(want), "%s,mp=/media,ro=1",
	    ptu_path(&rig, "roots/media/films"));
	ck_assert_str_eq(conf_str(conf, "mp1"), want);
	json_decref(w);
	calls = ptu_calls(&rig);
	ck_assert_uint_eq(json_array_size(calls), 1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
	    json_array_get(calls, 0), "argv"), 0)), "set");
	json_decref(calls);
}
END_TEST

START_TEST(usb_device_attach_by_id_and_by_port)
{
	struct priv_device d[2] = { { "dev0", "046d:c52b", NULL },
	    { "dev1", "2-3", NULL } };
	json_t *w, *conf;
	struct err err;

	ptu_usb(&rig, "2-3", "0bda", "8153", 2, 17);
	err_init(&err);
	ck_assert_msg(priv_attach(cl, 104, NULL, 0, d, 2, &err) == 0, "%s",
	    err_msg(&err));
	conf = guest_config(&w, 104);
	ck_assert_str_eq(conf_str(conf, "dev0"), "/dev/bus/usb/001/004");
	ck_assert_str_eq(conf_str(conf, "dev1"), "/dev/bus/usb/002/017");
	json_decref(w);
	/* Not plugged in: refused before pct runs. */
	ptu_calls_clear(&rig);
	d[0].usb = "dead:beef";
	err_init(&err);
	ck_assert_int_eq(priv_attach(cl, 104, NULL, 0, d, 1, &err),
	    ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "not plugged in"));
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

/* ---- refusals ------------------------------------------------------------ */

/* A bind attach of host_path (relative to the rig when not absolute). */
static json_t *
bind_req(const char *host, const char *guest)
{
	struct priv_bind b;

	b.key = "mp2";
	b.host_path = host[0] == '/' ? host : ptu_path(&rig, host);
	b.path = guest;
	b.read_only = 0;
	return priv_req_attach(101, &b, 1, NULL, 0, NULL, 0);
}

START_TEST(path_traversal_is_refused)
{
	refused(bind_req("roots/media/../../outside/secret", "/x"),
	    ERR_INVALID, "path traversal");
	refused(bind_req("roots/media", "/srv/../../etc"), ERR_INVALID,
	    "path traversal");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(symlink_escape_is_refused)
{
	refused(bind_req("roots/media/escape", "/x"), ERR_INVALID,
	    "outside the bind roots");
	refused(bind_req("outside/secret", "/x"), ERR_INVALID,
	    "outside the bind roots");
	refused(bind_req("/etc", "/x"), ERR_INVALID,
	    "outside the bind roots");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(shell_metacharacters_are_refused)
{
	struct priv_create a;
	json_t *feat = json_pack("{s:b}", "keyctl", 1);
	json_t *spec = json_pack("{s:s}", "hostname", "x;reboot");

	refused(bind_req("roots/media;reboot", "/x"), ERR_INVALID,
	    "only letters, digits");
	refused(bind_req("roots/media", "/x,mp=/etc"), ERR_INVALID,
	    "only letters, digits");
	refused(bind_req("roots/$(id)", "/x"), ERR_INVALID,
	    "only letters, digits");
	memset(&a, 0, sizeof(a));
	a.vmid = 150;
	a.template_volid = TMPL;
	a.storage = "local-lvm";
	a.rootfs_gib = 4;
	a.features = feat;
	a.spec = spec;
	refused(priv_req_create(&a), ERR_INVALID, "not a DNS name");
	a.spec = NULL;
	a.template_volid = "local:vztmpl/x.tar.zst; rm -rf /";
	refused(priv_req_create(&a), ERR_INVALID, "not a volume id");
	json_decref(feat);
	json_decref(spec);
	refused(json_pack("{s:s,s:s}", "type", "smart", "device",
	    "/dev/sda;reboot"), ERR_INVALID, "not a disk");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(wrong_device_patterns_are_refused)
{
	struct priv_device d = { "dev0", NULL, "/dev/sda" };

	refused(priv_req_smart("/dev/sda1"), ERR_INVALID, "not a disk");
	refused(priv_req_smart("/dev/mapper/pve-root"), ERR_INVALID,
	    "not a disk");
	refused(priv_req_smart("/dev/nvme0"), ERR_INVALID, "not a disk");
	refused(priv_req_attach(104, NULL, 0, &d, 1, NULL, 0), ERR_INVALID,
	    "not a USB device node");
	d.path = NULL;
	d.usb = "046d-c52b";
	refused(priv_req_attach(104, NULL, 0, &d, 1, NULL, 0), ERR_INVALID,
	    "neither vendor:product");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(requests_outside_the_table_are_refused)
{
	json_t *f = json_pack("{s:b}", "privileged", 1);

	refused(priv_req_features(101, f), ERR_INVALID, "not one of nesting");
	json_decref(f);
	f = json_pack("{s:b}", "keyctl", 1);
	refused(priv_req_features(99999, f), ERR_INVALID,
	    "outside the helper's range");
	json_decref(f);
	refused(json_pack("{s:s,s:s}", "type", "shell", "cmd", "id"),
	    ERR_INVALID, "not one the helper answers");
	refused(json_pack("{s:s,s:s,s:s}", "type", "smart", "device",
	    "/dev/sda", "extra", "x"), ERR_INVALID, "unknown key");
	refused(json_pack("{s:s,s:i,s:[]}", "type", "attach", "vmid", 101,
	    "bind"), ERR_INVALID, "attach 0 entries");
	refused(json_pack("{s:s,s:i,s:[s]}", "type", "attach", "vmid", 101,
	    "delete", "mp0"), ERR_INVALID, "not dev0");
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

/* Sends raw bytes and returns the answer document (or NULL). */
static json_t *
raw_exchange(const void *data, size_t len)
{
	struct sockaddr_un sa;
	char *body = NULL;
	size_t blen;
	json_t *doc;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	(void) snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", rig.socket);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	(void) send(fd, data, len, MSG_NOSIGNAL);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	if (wire_read(fd, WIRE_ANSWER_MAX, wire_now_ms() + 10000, &body,
	    &blen, NULL) != 0) {
		(void) close(fd);
		return NULL;
	}
	(void) close(fd);
	doc = json_loads(body, 0, NULL);
	free(body);
	return doc;
}

START_TEST(oversize_and_malformed_requests_are_refused)
{
	size_t n = WIRE_REQUEST_MAX + 100;
	unsigned char *big = malloc(n + 4);
	json_t *doc;

	ck_assert_ptr_nonnull(big);
	big[0] = (unsigned char)(n >> 24);
	big[1] = (unsigned char)(n >> 16);
	big[2] = (unsigned char)(n >> 8);
	big[3] = (unsigned char)n;
	memset(big + 4, ' ', n);
	doc = raw_exchange(big, 4 + 1024);
	free(big);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_is_false(json_object_get(doc, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(doc, "code")),
	    "too_large");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(doc,
	    "error")), "over the limit of 65536"));
	json_decref(doc);
	/* Not JSON. */
	doc = raw_exchange("\0\0\0\x05{type", 9);
	ck_assert_ptr_nonnull(doc);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "code")),
	    "format");
	json_decref(doc);
	/* The client refuses to send one at all. */
	{
		char *huge = malloc(WIRE_REQUEST_MAX + 10);
		json_t *req, *res = NULL;
		struct err err;

		ck_assert_ptr_nonnull(huge);
		memset(huge, 'a', WIRE_REQUEST_MAX + 9);
		huge[WIRE_REQUEST_MAX + 9] = '\0';
		req = json_pack("{s:s,s:s}", "type", "smart", "device", huge);
		free(huge);
		err_init(&err);
		ck_assert_int_eq(priv_call(cl, req, 5000, &res, &err),
		    ERR_TOO_LARGE);
		json_decref(req);
	}
	ck_assert_uint_eq(ptu_ncalls(&rig, NULL), 0);
}
END_TEST

START_TEST(wrong_peer_uid_is_refused)
{
	struct ptu_rig other;
	struct priv_client *oc = NULL;
	json_t *l = NULL;
	struct err err;

	/* A helper that serves someone else: this test is not its agent. */
	ptu_rig_start(&other, &sim, getuid() + 1);
	ck_assert_int_eq(priv_client_new(other.socket, &oc, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(priv_sensors(oc, &l, &err), ERR_PERMISSION);
	ck_assert_msg(strstr(err.msg, "is not the agent's user") != NULL,
	    "%s", err.msg);
	err_init(&err);
	ck_assert_int_eq(priv_smart(oc, "/dev/sda", &l, &err),
	    ERR_PERMISSION);
	ck_assert_uint_eq(ptu_ncalls(&other, NULL), 0);
	priv_client_free(oc);
	ptu_rig_stop(&other);
}
END_TEST

START_TEST(no_helper_is_unsupported)
{
	struct priv_client *none = NULL;
	json_t *l = NULL;
	struct err err;

	ck_assert_int_eq(priv_client_new(ptu_path(&rig, "nothing.sock"), &none,
	    NULL), 0);
	err_init(&err);
	ck_assert_int_eq(priv_sensors(none, &l, &err), ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "felhom-privhelper.socket"));
	priv_client_free(none);
}
END_TEST

START_TEST(a_call_in_flight_does_not_block)
{
	struct priv_call *call = NULL;
	struct priv_create a;
	json_t *req, *res = NULL, *feat = json_pack("{s:b}", "keyctl", 1);
	int done = 0, polls = 0, rc = 0;
	int64_t t0;

	memset(&a, 0, sizeof(a));
	a.vmid = 151;
	a.template_volid = TMPL;
	a.storage = "local-lvm";
	a.rootfs_gib = 4;
	a.features = feat;
	req = priv_req_create(&a);
	/* A slow task: the first poll must come back at once. */
	ck_assert_int_eq(tu_sim_call(&sim, "POST", "/_sim/config",
	    "{\"task_seconds\":1.0}", NULL), 200);
	ck_assert_int_eq(priv_call_start(cl, req, &call, NULL), 0);
	t0 = wire_now_ms();
	ck_assert_int_eq(priv_call_poll(call, &done, &res, NULL), 0);
	ck_assert_int_eq(done, 0);
	ck_assert_int_lt(wire_now_ms() - t0, 200);
	while (!done && polls++ < 300) {
		usleep(50000);
		rc = priv_call_poll(call, &done, &res, NULL);
	}
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "vmid")),
	    151);
	json_decref(res);
	json_decref(req);
	json_decref(feat);
	priv_call_free(call);
	ck_assert_int_eq(tu_sim_call(&sim, "POST", "/_sim/config",
	    "{\"task_seconds\":0.05}", NULL), 200);
}
END_TEST

static Suite *
helper_suite(void)
{
	Suite *s = suite_create("helper");
	TCase *tc = tcase_create("helper");

	tcase_set_timeout(tc, 120);
	tcase_add_unchecked_fixture(tc, sim_start, sim_stop);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, smart_reads_each_disk_through_the_helper);
	tcase_add_test(tc, sensors_through_the_helper);
	tcase_add_test(tc, a_refusing_barrier_sends_nothing_to_the_helper);
	tcase_add_test(tc, create_with_keyctl_goes_through_pct);
	tcase_add_test(tc, restore_as_root_brings_bind_mounts_back);
	tcase_add_test(tc, restore_of_a_backup_escaping_the_roots_is_refused);
	tcase_add_test(tc, features_on_an_existing_guest);
	tcase_add_test(tc, bind_mount_attach_goes_through_pct_set);
	tcase_add_test(tc, usb_device_attach_by_id_and_by_port);
	tcase_add_test(tc, path_traversal_is_refused);
	tcase_add_test(tc, symlink_escape_is_refused);
	tcase_add_test(tc, shell_metacharacters_are_refused);
	tcase_add_test(tc, wrong_device_patterns_are_refused);
	tcase_add_test(tc, requests_outside_the_table_are_refused);
	tcase_add_test(tc, oversize_and_malformed_requests_are_refused);
	tcase_add_test(tc, wrong_peer_uid_is_refused);
	tcase_add_test(tc, no_helper_is_unsupported);
	tcase_add_test(tc, a_call_in_flight_does_not_block);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(helper_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
