/*
 * test_exec_priv — which op steps go to the privileged helper and
 * what it is asked: provisions with root-only feature flags, set_config
 * with host paths, devices or such flags; the API keeps the rest.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "engine/exec.h"
#include "engine/exec_priv.h"

static json_t *
J(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);

	ck_assert_msg(v != NULL, "bad test JSON: %s", text);
	return v;
}

struct steps_case {
	enum ops_kind		 kind;
	const char		*params;
	enum exec_step_kind	 want[3];
	size_t			 n;
};

static const struct steps_case steps_cases[] = {
	{ OPS_KIND_PROVISION, "{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":4,\"spec\":{\"features\":{\"nesting\":true}},"
	    "\"start\":true}", { EXEC_STEP_CREATE, EXEC_STEP_START }, 2 },
	{ OPS_KIND_PROVISION, "{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":4,\"spec\":{\"features\":{\"nesting\":true,"
	    "\"keyctl\":true}},\"start\":true}",
	    { EXEC_STEP_PRIV_CREATE, EXEC_STEP_START }, 2 },
	{ OPS_KIND_PROVISION, "{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":4,\"spec\":{\"features\":{\"fuse\":true}}}",
	    { EXEC_STEP_PRIV_CREATE }, 1 },
	/* a flag asked off needs nobody */
	{ OPS_KIND_PROVISION, "{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":4,\"spec\":{\"features\":{\"keyctl\":false}}}",
	    { EXEC_STEP_CREATE }, 1 },
	{ OPS_KIND_PROVISION, "{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":4,\"spec\":{}}", { EXEC_STEP_CREATE }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"set\":{\"memory\":\"1024\"},\"delete\":"
	    "[\"mp1\"]}", { EXEC_STEP_SET_CONFIG }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"set\":{\"features\":\"nesting=1\"}}",
	    { EXEC_STEP_SET_CONFIG }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"set\":{\"features\":"
	    "\"keyctl=1,nesting=1\"}}", { EXEC_STEP_PRIV_CONFIG }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"set\":{\"mp2\":\"local-lvm:8,mp=/d\"}}",
	    { EXEC_STEP_SET_CONFIG }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"set\":{\"mp2\":\"/mnt/bindmounts/m,"
	    "mp=/m\"}}", { EXEC_STEP_PRIV_CONFIG }, 1 },
	{ OPS_KIND_SET_CONFIG, "{\"delete\":[\"dev0\"]}",
	    { EXEC_STEP_PRIV_CONFIG }, 1 },
};

START_TEST(steps_route_root_work_to_the_helper)
{
	const struct steps_case *c = &steps_cases[_i];
	const enum exec_step_kind *steps = NULL;
	json_t *p = J(c->params);
	size_t n = 0, i;

	ck_assert_int_eq(exec_steps(c->kind, p, &steps, &n, NULL), 0);
	ck_assert_uint_eq(n, c->n);
	for (i = 0; i < n; i++)
		ck_assert_msg(steps[i] == c->want[i], "step %zu is %s", i,
		    exec_step_info(steps[i])->name);
	json_decref(p);
}
END_TEST

START_TEST(split_keeps_the_api_part)
{
	json_t *p = J("{\"set\":{\"memory\":\"1024\",\"mp1\":"
	    "\"/mnt/bindmounts/m,mp=/m,ro=1,backup=0\",\"mp2\":"
	    "\"local-lvm:vm-1-disk-2,mp=/d\",\"dev0\":\"/dev/bus/usb/001/004\","
	    "\"features\":\"fuse=1,nesting=1\"},\"delete\":[\"mp3\",\"dev1\","
	    "\"tags\"]}");
	json_t *api = NULL, *att = NULL, *feat = NULL, *e;
	struct err err;

	err_init(&err);
	ck_assert_msg(exec_priv_split_config(101, p, &api, &att, &feat, &err) ==
	    0, "%s", err_msg(&err));
	/* The API: memory, a storage volume, deleting mp3 and tags. */
	ck_assert_ptr_nonnull(api);
	ck_assert_uint_eq(json_object_size(json_object_get(api, "set")), 2);
	ck_assert_ptr_nonnull(json_object_get(json_object_get(api, "set"),
	    "mp2"));
	ck_assert_uint_eq(json_array_size(json_object_get(api, "delete")), 2);
	/* The helper: the bind mount, the device, deleting dev1. */
	ck_assert_str_eq(json_string_value(json_object_get(att, "type")),
	    "attach");
	ck_assert_int_eq(json_integer_value(json_object_get(att, "vmid")), 101);
	e = json_array_get(json_object_get(att, "bind"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "mp1");
	ck_assert_str_eq(json_string_value(json_object_get(e, "host_path")),
	    "/mnt/bindmounts/m");
	ck_assert_str_eq(json_string_value(json_object_get(e, "path")), "/m");
	ck_assert(json_is_true(json_object_get(e, "read_only")));
	e = json_array_get(json_object_get(att, "devices"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "path")),
	    "/dev/bus/usb/001/004");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(att,
	    "delete"), 0)), "dev1");
	/* And the flags. */
	ck_assert_str_eq(json_string_value(json_object_get(feat, "type")),
	    "features");
	ck_assert(json_is_true(json_object_get(json_object_get(feat,
	    "features"), "fuse")));
	json_decref(api);
	json_decref(att);
	json_decref(feat);
	json_decref(p);
}
END_TEST

/* A desired USB id goes to the helper as an id: it resolves it itself. */
START_TEST(split_passes_a_desired_usb_id_to_the_helper)
{
	json_t *p = J("{\"set\":{\"dev2\":\"usb:1-1.2\"}}");
	json_t *api = NULL, *att = NULL, *feat = NULL, *e;

	ck_assert_int_eq(exec_priv_split_config(101, p, &api, &att, &feat,
	    NULL), 0);
	ck_assert_ptr_null(api);
	ck_assert_ptr_null(feat);
	e = json_array_get(json_object_get(att, "devices"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(e, "key")), "dev2");
	ck_assert_str_eq(json_string_value(json_object_get(e, "usb")),
	    "1-1.2");
	ck_assert_ptr_null(json_object_get(e, "path"));
	ck_assert(exec_priv_config_needs_root(p));
	json_decref(att);
	json_decref(p);
}
END_TEST

START_TEST(split_refuses_what_the_helper_does_not_take)
{
	static const char *const bad[] = {
		"{\"set\":{\"mp1\":\"/dev/sdb1,mp=/disk\"}}",
		"{\"set\":{\"mp1\":\"/mnt/bindmounts/m,mp=/m,acl=1\"}}",
		"{\"set\":{\"mp1\":\"/mnt/bindmounts/m\"}}",
		"{\"set\":{\"rootfs\":\"/mnt/bindmounts/r\"}}",
		"{\"set\":{\"dev0\":\"/dev/sda\"}}",
		"{\"set\":{\"dev0\":\"/dev/bus/usb/001/004,mode=0666\"}}",
	};
	json_t *p, *api, *att, *feat;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = J(bad[i]);
		err_init(&err);
		ck_assert_msg(exec_priv_split_config(101, p, &api, &att, &feat,
		    &err) == ERR_UNSUPPORTED, "%s accepted", bad[i]);
		ck_assert_ptr_null(api);
		ck_assert_ptr_null(att);
		/* still routed to the helper step, which reports it */
		ck_assert(exec_priv_config_needs_root(p));
		json_decref(p);
	}
}
END_TEST

START_TEST(create_request_carries_the_spec)
{
	json_t *p = J("{\"template\":\"local:vztmpl/d.tar.zst\",\"storage\":"
	    "\"local-lvm\",\"rootfs_gib\":8,\"start\":true,\"spec\":{"
	    "\"hostname\":\"build\",\"memory_mib\":2048,\"features\":{"
	    "\"keyctl\":true,\"nesting\":true},\"bind_mounts\":[{\"host_path\":"
	    "\"/mnt/bindmounts/a\",\"path\":\"/a\"}]}}"), *req = NULL;

	ck_assert_int_eq(exec_priv_create_req(150, p, &req, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(req, "type")),
	    "create");
	ck_assert_int_eq(json_integer_value(json_object_get(req,
	    "rootfs_gib")), 8);
	ck_assert_str_eq(json_string_value(json_object_get(req, "hostname")),
	    "build");
	ck_assert(json_is_true(json_object_get(json_object_get(req,
	    "features"), "keyctl")));
	/* bind mounts are attached once the guest exists */
	ck_assert_ptr_null(json_object_get(req, "bind_mounts"));
	json_decref(req);
	json_decref(p);
}
END_TEST

START_TEST(pseudo_upids_parse)
{
	struct exec_priv_upid u;

	ck_assert_int_eq(exec_priv_upid_parse("felhom-priv:vzcreate:150:"
	    "1780000000:3", &u), 0);
	ck_assert_str_eq(u.type, "vzcreate");
	ck_assert_int_eq(u.vmid, 150);
	ck_assert_int_eq(u.start, 1780000000);
	ck_assert_int_eq(exec_priv_upid_parse("UPID:pve-01:0001:0002:0003:"
	    "vzcreate:150:root@pam:", &u), -1);
	ck_assert_int_eq(exec_priv_upid_parse("felhom-priv:vzcreate:x", &u),
	    -1);
}
END_TEST

static Suite *
exec_priv_suite(void)
{
	Suite *s = suite_create("exec_priv");
	TCase *tc = tcase_create("exec_priv");

	tcase_add_loop_test(tc, steps_route_root_work_to_the_helper, 0,
	    sizeof(steps_cases) / sizeof(steps_cases[0]));
	tcase_add_test(tc, split_keeps_the_api_part);
	tcase_add_test(tc, split_passes_a_desired_usb_id_to_the_helper);
	tcase_add_test(tc, split_refuses_what_the_helper_does_not_take);
	tcase_add_test(tc, create_request_carries_the_spec);
	tcase_add_test(tc, pseudo_upids_parse);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(exec_priv_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
