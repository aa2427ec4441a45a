/*
 * test_norm — PVE round-trip quirks never read as drift:
 * descriptions, tags, memory units, 0/1 booleans, unset vs default,
 * feature strings; the spec built from real config fixtures; the PUT
 * parameters; the read-back of a set-config; random input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/json.h"
#include "engine/norm.h"
#include "testutil.h"

struct eq_case {
	const char	*key;
	const char	*desired;	/* JSON text, NULL = unset */
	const char	*actual;	/* JSON text, NULL = unset */
	int		 equal;
};

static const struct eq_case eq_cases[] = {
	/* description: trailing newline per line, comment form (§8.1) */
	{ "description", "\"Web front end\"", "\"Web front end\\n\"", 1 },
	{ "description", "\"a\\nb\"", "\"a\\nb\\n\"", 1 },
	{ "description", "\"a\\nb\\n\"", "\"a\\nb\\n\"", 1 },
	{ "description", "\"a\\n\\n\"", "\"a\\n\"", 1 },
	{ "description", "\"a\\n\\nb\"", "\"a\\n\\nb\\n\"", 1 },
	{ "description", "\"\"", NULL, 1 },
	{ "description", "\"x\"", NULL, 0 },
	{ "description", "\"x\"", "\"y\\n\"", 0 },
	/* tags: order, separators, case, duplicates (§8.3) */
	{ "tags", "[\"prod\",\"web\"]", "\"web;prod\"", 1 },
	{ "tags", "[\"Prod\",\"web\"]", "\"prod, web\"", 1 },
	{ "tags", "[\"web\",\"web\"]", "\"web\"", 1 },
	{ "tags", "[\"one\",\"two\",\"three\"]", "\"one, two, three\"", 1 },
	{ "tags", "[]", NULL, 1 },
	{ "tags", "[\"a\"]", "\"a;b\"", 0 },
	{ "tags", "[\"prod\",\"web\"]", "[\"web\",\"prod\"]", 1 },
	/* memory in MiB; numbers as strings; defaults (§8.2, §8.4) */
	{ "memory_mib", "1024", "1024", 1 },
	{ "memory_mib", "1024", "\"1024\"", 1 },
	{ "memory_mib", "512", NULL, 1 },
	{ "memory_mib", "1024", NULL, 0 },
	{ "memory_mib", "1024", "2048", 0 },
	{ "swap_mib", "512", NULL, 1 },
	{ "swap_mib", "0", "0", 1 },
	{ "cores", "2", NULL, 0 },
	{ "cores", "2", "\"2\"", 1 },
	/* 0/1 booleans, absent = 0 */
	{ "onboot", "true", "1", 1 },
	{ "onboot", "true", "\"1\"", 1 },
	{ "onboot", "false", NULL, 1 },
	{ "onboot", "false", "0", 1 },
	{ "onboot", "true", "0", 0 },
	{ "onboot", "true", NULL, 0 },
	/* features as "k=1,k2=0" */
	{ "features", "{\"nesting\":true}", "\"nesting=1\"", 1 },
	{ "features", "{\"nesting\":true,\"keyctl\":false}", "\"nesting=1\"",
	    1 },
	{ "features", "{\"nesting\":true,\"keyctl\":true}",
	    "\"keyctl=1,nesting=1\"", 1 },
	{ "features", "{\"nesting\":true}", "\"keyctl=1,nesting=1\"", 0 },
	{ "features", "{}", NULL, 1 },
	{ "features", "{\"nesting\":true}", "{\"nesting\":true}", 1 },
	{ "features", "{\"nesting\":false}", "\"nesting=0\"", 1 },
	/* hostname is exact */
	{ "hostname", "\"web\"", "\"web\"", 1 },
	{ "hostname", "\"web\"", "\"Web\"", 0 },
	{ "hostname", "\"web\"", NULL, 0 },
};

static json_t *
parse_or_null(const char *text)
{
	json_error_t jerr;
	json_t *v;

	if (text == NULL)
		return NULL;
	v = json_loads(text, JSON_DECODE_ANY, &jerr);
	ck_assert_msg(v != NULL, "bad case JSON %s: %s", text, jerr.text);
	return v;
}

START_TEST(value_equal_absorbs_round_trip_quirks)
{
	const struct eq_case *c = &eq_cases[_i];
	json_t *d = parse_or_null(c->desired), *a = parse_or_null(c->actual);

	ck_assert_msg(norm_value_equal(c->key, d, a) == c->equal,
	    "%s: %s vs %s should be %s", c->key, c->desired,
	    c->actual != NULL ? c->actual : "(unset)",
	    c->equal ? "equal" : "different");
	json_decref(d);
	json_decref(a);
}
END_TEST

static json_t *
fixture_data(const char *rel)
{
	json_t *root = NULL, *data;
	struct err err;

	err_init(&err);
	ck_assert_msg(jsonx_parse_file(tu_fixture(rel), 1 << 20, 0, &root,
	    &err) == 0, "%s: %s", rel, err_msg(&err));
	data = json_incref(json_object_get(root, "data"));
	json_decref(root);
	ck_assert_ptr_nonnull(data);
	return data;
}

/* The report's guests[].spec key set, recursively (hub golden). */
static void
assert_same_keys(const json_t *want, const json_t *got, const char *ctx)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)(uintptr_t)want, k, v) {
		ck_assert_msg(json_object_get(got, k) != NULL, "%s.%s missing",
		    ctx, k);
	}
	json_object_foreach((json_t *)(uintptr_t)got, k, v) {
		ck_assert_msg(json_object_get(want, k) != NULL, "%s.%s extra",
		    ctx, k);
	}
}

START_TEST(spec_from_config_has_the_report_shape)
{
	json_t *config = fixture_data("pve/api/"
	    "lxc-config.pve9.constructed.json");
	json_t *golden = NULL, *gspec, *spec = NULL, *m;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(jsonx_parse_file(tu_fixture("hub/"
	    "host-report.golden.json"), 1 << 20, 0, &golden, NULL), 0);
	gspec = json_object_get(json_array_get(json_object_get(golden,
	    "guests"), 0), "spec");
	ck_assert_msg(norm_spec_from_config(config, &spec, &err) == 0, "%s",
	    err_msg(&err));
	/* The engine's own key; the report leaves it out (collect.c). */
	ck_assert(json_is_array(json_object_get(spec, "bind_mounts")));
	ck_assert_int_eq(json_object_del(spec, "bind_mounts"), 0);
	ck_assert(json_is_array(json_object_get(spec, "usb_devices")));
	ck_assert_int_eq(json_object_del(spec, "usb_devices"), 0);
	assert_same_keys(gspec, spec, "spec");
	assert_same_keys(json_object_get(gspec, "rootfs"),
	    json_object_get(spec, "rootfs"), "spec.rootfs");
	assert_same_keys(json_array_get(json_object_get(gspec, "mounts"), 0),
	    json_array_get(json_object_get(spec, "mounts"), 0), "spec.mounts");
	assert_same_keys(json_array_get(json_object_get(gspec, "net"), 0),
	    json_array_get(json_object_get(spec, "net"), 0), "spec.net");
	ck_assert_str_eq(json_string_value(json_object_get(spec,
	    "description")), "managed by agent\nowner: team-a");
	ck_assert_int_eq(json_integer_value(json_object_get(spec,
	    "memory_mib")), 2048);
	ck_assert(json_is_true(json_object_get(spec, "onboot")));
	ck_assert(json_is_true(json_object_get(spec, "unprivileged")));
	ck_assert(json_is_true(json_object_get(json_object_get(spec,
	    "features"), "nesting")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(spec,
	    "tags"), 1)), "web");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(spec,
	    "rootfs"), "size")), "8G");
	m = json_array_get(json_object_get(spec, "mounts"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(m, "key")), "mp0");
	ck_assert_str_eq(json_string_value(json_object_get(m, "path")),
	    "/srv/data");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
	    json_object_get(spec, "net"), 0), "hwaddr")), "BC:24:11:5E:3A:01");
	json_decref(spec);
	json_decref(config);
	json_decref(golden);
}
END_TEST

START_TEST(spec_from_config_fills_defaults_for_unset_keys)
{
	json_t *config = json_pack("{s:s}", "hostname", "bare"), *spec = NULL;

	ck_assert_int_eq(norm_spec_from_config(config, &spec, NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(spec,
	    "memory_mib")), 512);
	ck_assert_int_eq(json_integer_value(json_object_get(spec,
	    "swap_mib")), 512);
	ck_assert(json_is_null(json_object_get(spec, "cores")));
	ck_assert(json_is_false(json_object_get(spec, "onboot")));
	ck_assert(json_is_false(json_object_get(spec, "unprivileged")));
	ck_assert_str_eq(json_string_value(json_object_get(spec,
	    "description")), "");
	ck_assert_uint_eq(json_array_size(json_object_get(spec, "tags")), 0);
	ck_assert(json_is_null(json_object_get(spec, "rootfs")));
	json_decref(spec);
	json_decref(config);
}
END_TEST

START_TEST(spec_from_config_reads_raw_lxc_keys_and_bind_mounts)
{
	json_t *config = fixture_data("pve/api/"
	    "lxc-config.raw-lxc-keys-bindmount.json"), *spec = NULL, *f;
	struct err err;

	err_init(&err);
	ck_assert_msg(norm_spec_from_config(config, &spec, &err) == 0, "%s",
	    err_msg(&err));
	f = json_object_get(spec, "features");
	ck_assert(json_is_true(json_object_get(f, "fuse")));
	ck_assert(json_is_true(json_object_get(f, "mknod")));
	ck_assert_uint_ge(json_array_size(json_object_get(spec, "mounts")), 1);
	json_decref(spec);
	json_decref(config);
}
END_TEST

/* R-08b: host directories among the mount points, and only those. */
START_TEST(bind_mounts_are_read_from_mount_points)
{
	json_t *config = json_pack("{s:s,s:s,s:s,s:s,s:s}",
	    "rootfs", "local-lvm:vm-101-disk-0,size=8G",
	    "mp0", "local-lvm:vm-101-disk-1,mp=/db,size=4G",
	    "mp2", "/mnt/bindmounts/media,mp=/media,ro=1",
	    "mp10", "volume=/mnt/bindmounts/b,mp=/b,backup=0",
	    "mp3", "/dev/sdb1,mp=/disk"), *spec = NULL, *b, *e;

	ck_assert_int_eq(norm_spec_from_config(config, &spec, NULL), 0);
	b = json_object_get(spec, "bind_mounts");
	ck_assert_uint_eq(json_array_size(b), 2);
	e = json_array_get(b, 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "mp2");
	ck_assert_str_eq(json_string_value(json_object_get(e, "host_path")),
	    "/mnt/bindmounts/media");
	ck_assert_str_eq(json_string_value(json_object_get(e, "path")),
	    "/media");
	ck_assert(json_is_true(json_object_get(e, "read_only")));
	e = json_array_get(b, 1);
	ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "mp10");
	ck_assert(json_is_false(json_object_get(e, "read_only")));
	json_decref(spec);
	json_decref(config);
}
END_TEST

/*
 * Desired bind mounts against the attached ones: set-compared, a new one
 * takes the lowest free mount point, a changed option rewrites in place,
 * one no longer desired is deleted (a data-bearing mpN: the gate's).
 */
START_TEST(bind_mount_params)
{
	json_t *config = json_pack("{s:s,s:s,s:s}",
	    "mp0", "local-lvm:vm-101-disk-1,mp=/db,size=4G",
	    "mp1", "/mnt/bindmounts/a,mp=/a",
	    "mp2", "/mnt/bindmounts/old,mp=/old"), *actual = NULL;
	json_t *same = json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "bind_mounts",
	    "path", "/old", "host_path", "/mnt/bindmounts/old",
	    "host_path", "/mnt/bindmounts/a", "path", "/a");
	json_t *want = json_pack("{s:[{s:s,s:s,s:b},{s:s,s:s}]}",
	    "bind_mounts", "host_path", "/mnt/bindmounts/a", "path", "/a",
	    "read_only", 1, "host_path", "/mnt/bindmounts/new", "path",
	    "/new"), *params = NULL;

	ck_assert_int_eq(norm_spec_from_config(config, &actual, NULL), 0);
	ck_assert_int_eq(norm_spec_to_params(same, actual, &params, NULL), 0);
	ck_assert_uint_eq(json_object_size(params), 0);
	json_decref(params);
	params = NULL;
	ck_assert_int_eq(norm_spec_to_params(want, actual, &params, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(params, "mp1")),
	    "/mnt/bindmounts/a,mp=/a,ro=1");
	ck_assert_str_eq(json_string_value(json_object_get(params, "mp3")),
	    "/mnt/bindmounts/new,mp=/new");
	ck_assert_str_eq(json_string_value(json_object_get(params, "delete")),
	    "mp2");
	ck_assert_uint_eq(json_object_size(params), 3);
	json_decref(params);
	json_decref(want);
	json_decref(same);
	json_decref(actual);
	json_decref(config);
}
END_TEST

/* A fake sysfs USB device under root. */
static void
usb_dev(const char *root, const char *name, const char *vp, int bus, int dev)
{
	char d[512], cmd[1400];

	(void) snprintf(d, sizeof(d), "%s/bus/usb/devices/%s", root, name);
	(void) snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && printf '%.4s\\n' "
	    "> '%s/idVendor' && printf '%s\\n' > '%s/idProduct' && printf "
	    "'%d\\n' > '%s/busnum' && printf '%d\\n' > '%s/devnum'", d, vp,
	    d, vp + 5, d, bus, d, dev, d);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * Desired USB ids against the attached devN: which id a node is comes
 * from sysfs; set-compared by vendor:product or bus-port; a missing one
 * takes the lowest free devN as "usb:ID" (the helper resolves it); an
 * attached USB device no id names is deleted, an unplugged one too; a
 * devN that is no USB node is left alone.
 */
START_TEST(usb_device_params)
{
	char *root = tu_tmpdir();
	json_t *config = json_pack("{s:s,s:s,s:s,s:s}",
	    "dev0", "/dev/bus/usb/001/004",
	    "dev1", "/dev/dri/renderD128,gid=44",
	    "dev2", "path=/dev/bus/usb/002/009,mode=0660",
	    "dev4", "/dev/bus/usb/002/017"), *actual = NULL, *e;
	json_t *same = json_pack("{s:[s,s]}", "usb_devices", "2-3",
	    "046D:C52B"), *want = json_pack("{s:[s,s]}", "usb_devices",
	    "1-1.2", "1-9"), *params = NULL;

	ck_assert_ptr_nonnull(root);
	usb_dev(root, "1-1.2", "046d:c52b", 1, 4);
	usb_dev(root, "2-3", "0bda:8153", 2, 17);
	ck_assert_int_eq(norm_spec_from_config(config, &actual, NULL), 0);
	ck_assert_int_eq(norm_usb_observe(actual, root), 0);
	e = json_array_get(json_object_get(actual, "usb_devices"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "id")),
	    "046d:c52b");
	ck_assert_str_eq(json_string_value(json_object_get(e, "port")),
	    "1-1.2");
	e = json_array_get(json_object_get(actual, "usb_devices"), 2);
	ck_assert_str_eq(json_string_value(json_object_get(e, "path")),
	    "/dev/bus/usb/002/009");
	ck_assert_ptr_null(json_object_get(e, "id"));
	/* Both named, by either form: only the unplugged dev2 goes. */
	ck_assert_int_eq(norm_spec_to_params(same, actual, &params, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(params, "delete")),
	    "dev2");
	ck_assert_uint_eq(json_object_size(params), 1);
	json_decref(params);
	params = NULL;
	ck_assert_int_eq(norm_spec_to_params(want, actual, &params, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(params, "dev3")),
	    "usb:1-9");
	ck_assert_str_eq(json_string_value(json_object_get(params, "delete")),
	    "dev2,dev4");
	ck_assert_uint_eq(json_object_size(params), 2);
	json_decref(params);
	params = NULL;
	/* In sync once dev2 is gone. */
	ck_assert_int_eq(json_array_remove(json_object_get(actual,
	    "usb_devices"), 2), 0);
	ck_assert(norm_value_equal("usb_devices", json_object_get(same,
	    "usb_devices"), json_object_get(actual, "usb_devices")));
	ck_assert(!norm_value_equal("usb_devices", json_object_get(want,
	    "usb_devices"), json_object_get(actual, "usb_devices")));
	/* A new guest: every id, from dev0. */
	ck_assert_int_eq(norm_spec_to_params(want, NULL, &params, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(params, "dev0")),
	    "usb:1-1.2");
	ck_assert_str_eq(json_string_value(json_object_get(params, "dev1")),
	    "usb:1-9");
	json_decref(params);
	json_decref(want);
	json_decref(same);
	json_decref(actual);
	json_decref(config);
	tu_rmrf(root);
	free(root);
}
END_TEST

START_TEST(spec_from_config_refuses_wrong_types)
{
	json_t *config = json_pack("{s:s}", "memory", "lots"), *spec = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(norm_spec_from_config(config, &spec, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "config.memory"));
	json_decref(config);
	config = json_pack("{s:s}", "onboot", "maybe");
	err_init(&err);
	ck_assert_int_eq(norm_spec_from_config(config, &spec, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "config.onboot"));
	json_decref(config);
}
END_TEST

START_TEST(no_params_when_only_quirks_differ)
{
	json_t *desired = json_pack("{s:s,s:i,s:i,s:b,s:s,s:[ss],s:{s:b}}",
	    "hostname", "web01", "cores", 2, "memory_mib", 2048, "onboot", 1,
	    "description", "managed by agent\nowner: team-a", "tags", "web",
	    "prod", "features", "nesting", 1);
	json_t *config = fixture_data("pve/api/"
	    "lxc-config.pve9.constructed.json"), *actual = NULL, *params = NULL;

	ck_assert_int_eq(norm_spec_from_config(config, &actual, NULL), 0);
	ck_assert_int_eq(norm_spec_to_params(desired, actual, &params, NULL),
	    0);
	ck_assert_uint_eq(json_object_size(params), 0);
	json_decref(params);
	json_decref(actual);
	json_decref(config);
	json_decref(desired);
}
END_TEST

START_TEST(params_use_pve_names_and_forms)
{
	json_t *desired = json_pack("{s:i,s:i,s:b,s:[sss],s:{s:b,s:b},s:s,"
	    "s:s}", "memory_mib", 4096, "swap_mib", 0, "onboot", 0, "tags",
	    "Web", "prod", "web", "features", "nesting", 1, "keyctl", 1,
	    "description", "", "hostname", "build");
	json_t *params = NULL;

	ck_assert_int_eq(norm_spec_to_params(desired, NULL, &params, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(params, "memory")),
	    "4096");
	ck_assert_str_eq(json_string_value(json_object_get(params, "swap")),
	    "0");
	ck_assert_str_eq(json_string_value(json_object_get(params, "onboot")),
	    "0");
	ck_assert_str_eq(json_string_value(json_object_get(params, "tags")),
	    "prod;web");
	ck_assert_str_eq(json_string_value(json_object_get(params,
	    "features")), "keyctl=1,nesting=1");
	ck_assert_str_eq(json_string_value(json_object_get(params, "delete")),
	    "description");
	ck_assert_str_eq(json_string_value(json_object_get(params,
	    "hostname")), "build");
	ck_assert_ptr_null(json_object_get(params, "memory_mib"));
	json_decref(params);
	json_decref(desired);
}
END_TEST

START_TEST(params_keep_a_mount_feature_and_send_only_the_drift)
{
	json_t *desired = json_pack("{s:{s:b},s:i}", "features", "nesting", 1,
	    "memory_mib", 1024);
	json_t *actual = json_pack("{s:s,s:i}", "features",
	    "mount=nfs;cifs,nesting=0", "memory_mib", 1024), *params = NULL;

	ck_assert_int_eq(norm_spec_to_params(desired, actual, &params, NULL),
	    0);
	ck_assert_uint_eq(json_object_size(params), 1);
	ck_assert_str_eq(json_string_value(json_object_get(params,
	    "features")), "mount=nfs;cifs,nesting=1");
	json_decref(params);
	json_decref(actual);
	json_decref(desired);
}
END_TEST

START_TEST(params_refuse_unknown_keys_and_bad_types)
{
	json_t *params = NULL, *d;
	struct err err;

	d = json_pack("{s:i}", "rootfs", 8);
	err_init(&err);
	ck_assert_int_eq(norm_spec_to_params(d, NULL, &params, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "spec.rootfs: unknown key"));
	json_decref(d);
	d = json_pack("{s:s}", "memory_mib", "1G");
	err_init(&err);
	ck_assert_int_eq(norm_spec_to_params(d, NULL, &params, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "spec.memory_mib"));
	json_decref(d);
	d = json_pack("{s:i}", "onboot", 1);
	err_init(&err);
	ck_assert_int_eq(norm_spec_to_params(d, NULL, &params, &err),
	    ERR_FORMAT);
	json_decref(d);
}
END_TEST

START_TEST(config_read_back_confirms_a_set_config)
{
	json_t *params = json_pack("{s:{s:s,s:s,s:s,s:s,s:s},s:[s]}", "set",
	    "memory", "2048", "tags", "a;b", "onboot", "1", "description",
	    "x", "cpulimit", "1.5", "delete", "searchdomain");
	json_t *config = json_pack("{s:i,s:s,s:i,s:s,s:s}", "memory", 2048,
	    "tags", "b;a", "onboot", 1, "description", "x\n", "cpulimit",
	    "1.5");

	ck_assert_int_eq(norm_config_applied(params, config), 1);
	(void) json_object_set_new(config, "searchdomain",
	    json_string("example.net"));
	ck_assert_int_eq(norm_config_applied(params, config), 0);
	(void) json_object_del(config, "searchdomain");
	(void) json_object_set_new(config, "memory", json_integer(1024));
	ck_assert_int_eq(norm_config_applied(params, config), 0);
	json_decref(config);
	json_decref(params);
}
END_TEST

/* Random configs never crash the normalizer (parsers get a random loop). */
START_TEST(random_configs_are_parsed_or_refused)
{
	static const char *const keys[] = { "hostname", "memory", "swap",
	    "cores", "onboot", "unprivileged", "description", "tags",
	    "features", "rootfs", "mp0", "mp7", "net0", "net3" };
	static const char alphabet[] = "abc01=,;: \n\t/%#=GgMm-_";
	unsigned seed = 12345;
	json_t *config, *spec, *v;
	char s[24];
	size_t i, k, n;
	int round;

	for (round = 0; round < 2000; round++) {
		config = json_object();
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			if (rand_r(&seed) % 3 == 0)
				continue;
			switch (rand_r(&seed) % 4) {
			case 0:
				v = json_integer(rand_r(&seed) % 5000 - 100);
				break;
			case 1:
				v = json_null();
				break;
			case 2:
				v = json_true();
				break;
			default:
				n = (size_t)rand_r(&seed) % (sizeof(s) - 1);
				for (i = 0; i < n; i++)
					s[i] = alphabet[(size_t)rand_r(&seed) %
					    (sizeof(alphabet) - 1)];
				s[n] = '\0';
				v = json_string(s);
				break;
			}
			(void) json_object_set_new(config, keys[k], v);
		}
		spec = NULL;
		if (norm_spec_from_config(config, &spec, NULL) == 0) {
			ck_assert_ptr_nonnull(spec);
			ck_assert(json_is_array(json_object_get(spec, "tags")));
			json_decref(spec);
		}
		json_decref(config);
	}
}
END_TEST

static Suite *
norm_suite(void)
{
	Suite *s = suite_create("norm");
	TCase *t = tcase_create("norm");

	tcase_add_loop_test(t, value_equal_absorbs_round_trip_quirks, 0,
	    (int)(sizeof(eq_cases) / sizeof(eq_cases[0])));
	tcase_add_test(t, spec_from_config_has_the_report_shape);
	tcase_add_test(t, spec_from_config_fills_defaults_for_unset_keys);
	tcase_add_test(t, spec_from_config_reads_raw_lxc_keys_and_bind_mounts);
	tcase_add_test(t, bind_mounts_are_read_from_mount_points);
	tcase_add_test(t, usb_device_params);
	tcase_add_test(t, bind_mount_params);
	tcase_add_test(t, spec_from_config_refuses_wrong_types);
	tcase_add_test(t, no_params_when_only_quirks_differ);
	tcase_add_test(t, params_use_pve_names_and_forms);
	tcase_add_test(t, params_keep_a_mount_feature_and_send_only_the_drift);
	tcase_add_test(t, params_refuse_unknown_keys_and_bad_types);
	tcase_add_test(t, config_read_back_confirms_a_set_config);
	tcase_add_test(t, random_configs_are_parsed_or_refused);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(norm_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
