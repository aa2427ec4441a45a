/*
 * test_restore — what a restore sends, from the configs PVE gives
 * (exec_restore.h; pve-api.md §5.11): the root disk's storage, the
 * host-path mount points, and the explicit volumes that keep a token's
 * restore clear of them — as pve-container's storage-only branch of
 * create_vm would size them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "engine/exec_restore.h"
#include "pve/pve.h"

static json_t *
conf(const char *text)
{
	json_t *c = json_loads(text, 0, NULL);

	ck_assert_ptr_nonnull(c);
	return c;
}

START_TEST(rootfs_storage_from_every_form)
{
	json_t *c = conf("{\"rootfs\":\"local-lvm:vm-101-disk-0,size=8G\"}");
	char s[64];
	struct err err;

	ck_assert_int_eq(exec_rootfs_storage(c, s, sizeof(s), NULL), 0);
	ck_assert_str_eq(s, "local-lvm");
	json_decref(c);
	c = conf("{\"rootfs\":\"size=8G,volume=tank:subvol-101-disk-0\"}");
	ck_assert_int_eq(exec_rootfs_storage(c, s, sizeof(s), NULL), 0);
	ck_assert_str_eq(s, "tank");
	json_decref(c);
	c = conf("{\"rootfs\":\"/srv/root,size=8G\"}");
	err_init(&err);
	ck_assert_int_eq(exec_rootfs_storage(c, s, sizeof(s), &err),
	    ERR_FORMAT);
	json_decref(c);
	c = conf("{\"memory\":512}");
	ck_assert_int_eq(exec_rootfs_storage(c, s, sizeof(s), NULL),
	    ERR_NOT_FOUND);
	json_decref(c);
}
END_TEST

START_TEST(host_mounts_are_bind_and_device_mount_points_only)
{
	json_t *c = conf("{\"rootfs\":\"local-lvm:vm-103-disk-0,size=8G\","
	    "\"mp0\":\"/srv/data,mp=/data\","
	    "\"mp1\":\"local-lvm:vm-103-disk-1,mp=/db,backup=1,size=4G\","
	    "\"mp2\":\"volume=/dev/sdb1,mp=/d\",\"net0\":\"name=eth0\","
	    "\"lxc\":[[\"lxc.mount.entry\",\"/dev/dri dev/dri none bind\"]]}");
	json_t *m = NULL;
	char keys[64];

	ck_assert_int_eq(exec_host_mounts(c, &m, NULL), 0);
	ck_assert_uint_eq(json_object_size(m), 2);
	ck_assert_str_eq(json_string_value(json_object_get(m, "mp0")),
	    "/srv/data,mp=/data");
	ck_assert_str_eq(json_string_value(json_object_get(m, "mp2")),
	    "volume=/dev/sdb1,mp=/d");
	exec_mount_keys(m, keys, sizeof(keys));
	ck_assert(strcmp(keys, "mp0,mp2") == 0 || strcmp(keys, "mp2,mp0") == 0);
	json_decref(m);
	json_decref(c);
}
END_TEST

START_TEST(explicit_volumes_keep_sizes_and_options_not_host_paths)
{
	json_t *c = conf("{\"rootfs\":\"local-lvm:vm-103-disk-0,size=8G\","
	    "\"mp0\":\"/srv/data,mp=/data\","
	    "\"mp1\":\"local-lvm:vm-103-disk-1,mp=/db,backup=1,size=512M\","
	    "\"mp2\":\"volume=zfs:subvol-103-disk-2,size=1T,mp=/big,ro=1\"}");
	json_t *v = NULL;
	struct err err;

	ck_assert_int_eq(exec_restore_volumes(c, "fast", &v, NULL), 0);
	ck_assert_uint_eq(json_object_size(v), 3);
	ck_assert_str_eq(json_string_value(json_object_get(v, "rootfs")),
	    "fast:8");
	ck_assert_str_eq(json_string_value(json_object_get(v, "mp1")),
	    "fast:0.5,mp=/db,backup=1");
	ck_assert_str_eq(json_string_value(json_object_get(v, "mp2")),
	    "fast:1024,mp=/big,ro=1");
	ck_assert_ptr_null(json_object_get(v, "mp0"));
	json_decref(v);
	json_decref(c);
	/* PVE: "unable to detect disk size - please specify mp1 (size)". */
	c = conf("{\"rootfs\":\"local-lvm:vm-1-disk-0,size=8G\","
	    "\"mp1\":\"local-lvm:vm-1-disk-1,mp=/x\"}");
	err_init(&err);
	ck_assert_int_eq(exec_restore_volumes(c, "fast", &v, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "mp1"));
	json_decref(c);
	/* A rootfs on a host path cannot be restored by volume. */
	c = conf("{\"rootfs\":\"/srv/ct,size=8G\"}");
	ck_assert_int_eq(exec_restore_volumes(c, "fast", &v, NULL), ERR_FORMAT);
	json_decref(c);
}
END_TEST

/* The backup's config text (extractconfig) goes through the same. */
START_TEST(pct_conf_text_feeds_the_plan)
{
	const char *text = "#file share\n#50%25 used\n"
	    "arch: amd64\nhostname: files01\nmemory: 1024\n"
	    "mp0: /srv/data,mp=/data\n"
	    "rootfs: local-lvm:vm-103-disk-0,size=8G\n"
	    "lxc.cgroup2.devices.allow: c 189:* rwm\n"
	    "\n[pre-upgrade]\nmp9: /other,mp=/o\n";
	json_t *c = NULL, *m = NULL;
	struct err err;

	ck_assert_int_eq(pve_parse_pct_conf(text, &c, NULL), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c, "description")),
	    "file share\n50% used\n");
	ck_assert_str_eq(json_string_value(json_object_get(c, "memory")),
	    "1024");
	ck_assert_ptr_null(json_object_get(c, "mp9"));	/* a snapshot's */
	ck_assert_uint_eq(json_array_size(json_object_get(c, "lxc")), 1);
	ck_assert_int_eq(exec_host_mounts(c, &m, NULL), 0);
	ck_assert_uint_eq(json_object_size(m), 1);
	json_decref(m);
	json_decref(c);
	err_init(&err);
	ck_assert_int_eq(pve_parse_pct_conf("no colon here\n", &c, &err),
	    ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "line 1"));
}
END_TEST

static Suite *
restore_suite(void)
{
	Suite *s = suite_create("restore");
	TCase *t = tcase_create("restore");

	tcase_add_test(t, rootfs_storage_from_every_form);
	tcase_add_test(t, host_mounts_are_bind_and_device_mount_points_only);
	tcase_add_test(t,
	    explicit_volumes_keep_sizes_and_options_not_host_paths);
	tcase_add_test(t, pct_conf_text_feeds_the_plan);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(restore_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
