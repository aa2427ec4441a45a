/*
 * test_policy — every argument check of the privileged helper:
 * vmid range, disk and USB patterns, host paths (traversal, symlink
 * escapes, metacharacters, roots), guest paths, keys, features, PVE
 * names, and the config a root restore would bring back.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "priv/policy.h"
#include "testutil.h"

static char *dir;
static struct policy pol;

static void
mkdirs(const char *rel)
{
	char path[PATH_MAX], *p;

	(void) snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (p = path + strlen(dir) + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void) mkdir(path, 0755);
			*p = '/';
		}
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static const char *
at(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int n;
	char *b = buf[n++ % 4];

	(void) snprintf(b, PATH_MAX, "%s/%s", dir, rel);
	return b;
}

static void
setup(void)
{
	struct err err;
	char roots[2 * PATH_MAX];

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	mkdirs("roots/media/films");
	mkdirs("roots2");
	mkdirs("outside/secret");
	mkdirs("sys/bus/usb/devices/1-1.2");
	mkdirs("sys/bus/usb/devices/1-1.2:1.0");
	mkdirs("sys/bus/usb/devices/2-3");
	/* A symlink inside a root that points out of it. */
	ck_assert_int_eq(symlink(at("outside/secret"),
	    at("roots/media/escape")), 0);
	/* And one that stays inside. */
	ck_assert_int_eq(symlink(at("roots/media/films"),
	    at("roots/media/inside")), 0);
	(void) snprintf(roots, sizeof(roots), "%s,%s", at("roots"),
	    at("roots2"));
	err_init(&err);
	ck_assert_msg(policy_init(&pol, roots, 100, 9999, at("sys"), &err) ==
	    0, "%s", err_msg(&err));
}

static void
teardown(void)
{
	policy_reset(&pol);
	tu_rmrf(dir);
	free(dir);
}

static void
usb_dev(const char *name, const char *vendor, const char *product,
    const char *bus, const char *devnum)
{
	char rel[PATH_MAX];

	(void) snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%s/idVendor",
	    name);
	ck_assert_int_eq(tu_write_file(at(rel), vendor, strlen(vendor), 0644),
	    0);
	(void) snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%s/idProduct",
	    name);
	ck_assert_int_eq(tu_write_file(at(rel), product, strlen(product),
	    0644), 0);
	(void) snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%s/busnum",
	    name);
	ck_assert_int_eq(tu_write_file(at(rel), bus, strlen(bus), 0644), 0);
	(void) snprintf(rel, sizeof(rel), "sys/bus/usb/devices/%s/devnum",
	    name);
	ck_assert_int_eq(tu_write_file(at(rel), devnum, strlen(devnum), 0644),
	    0);
}

/* ---- forms -------------------------------------------------------------- */

struct vec {
	const char	*in;
	int		 ok;
	const char	*msg;		/* fragment of the error */
};

static const struct vec disks[] = {
	{ "/dev/sda", 1, NULL },
	{ "/dev/sdab", 1, NULL },
	{ "/dev/nvme0n1", 1, NULL },
	{ "/dev/nvme12n3", 1, NULL },
	{ "/dev/sda1", 0, "not a disk" },		/* a partition */
	{ "/dev/nvme0", 0, "not a disk" },		/* the controller */
	{ "/dev/nvme0n1p1", 0, "not a disk" },
	{ "/dev/mapper/pve-root", 0, "not a disk" },
	{ "/dev/sd", 0, "not a disk" },
	{ "/dev/sdA", 0, "not a disk" },
	{ "/dev/sda;reboot", 0, "not a disk" },
	{ "/dev/../etc/shadow", 0, "not a disk" },
	{ "sda", 0, "not a disk" },
	{ "-a", 0, "not a disk" },
	{ "", 0, "not a disk" },
};

START_TEST(disk_patterns)
{
	const struct vec *v = &disks[_i];
	struct err err;

	err_init(&err);
	ck_assert_msg((policy_disk(v->in, &err) == 0) == v->ok, "%s: %s",
	    v->in, err_msg(&err));
	if (!v->ok) {
		ck_assert_int_eq(err.code, ERR_INVALID);
		ck_assert_ptr_nonnull(strstr(err.msg, v->msg));
	}
}
END_TEST

static const struct vec usb_ids[] = {
	{ "046d:c52b", 1, NULL },
	{ "046D:C52B", 1, NULL },
	{ "1-1.2", 1, NULL },
	{ "2-3", 1, NULL },
	{ "1-1.2.3.4", 1, NULL },
	{ "046d:c52", 0, "neither" },
	{ "046d-c52b", 0, "neither" },
	{ "046d:c52b;id", 0, "neither" },
	{ "1-", 0, "neither" },
	{ "1-1.", 0, "neither" },
	{ "../1-1", 0, "neither" },
	{ "$(id)", 0, "neither" },
	{ "", 0, "neither" },
};

START_TEST(usb_id_patterns)
{
	const struct vec *v = &usb_ids[_i];
	struct err err;

	err_init(&err);
	ck_assert_msg((policy_usb_id(v->in, &err) == 0) == v->ok, "%s: %s",
	    v->in, err_msg(&err));
	if (!v->ok)
		ck_assert_ptr_nonnull(strstr(err.msg, v->msg));
}
END_TEST

START_TEST(usb_ids_resolve_through_sysfs)
{
	char path[40];
	struct err err;

	usb_dev("1-1.2", "046d", "c52b", "1", "4");
	usb_dev("2-3", "0bda", "8153", "2", "17");
	err_init(&err);
	ck_assert_msg(policy_usb_resolve(&pol, "046d:c52b", path, sizeof(path),
	    &err) == 0, "%s", err_msg(&err));
	ck_assert_str_eq(path, "/dev/bus/usb/001/004");
	ck_assert_int_eq(policy_usb_resolve(&pol, "2-3", path, sizeof(path),
	    NULL), 0);
	ck_assert_str_eq(path, "/dev/bus/usb/002/017");
	err_init(&err);
	ck_assert_int_eq(policy_usb_resolve(&pol, "dead:beef", path,
	    sizeof(path), &err), ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "not plugged in"));
	/* Two of the same kind: the id alone cannot say which. */
	usb_dev("2-3", "046d", "c52b", "2", "17");
	err_init(&err);
	ck_assert_int_eq(policy_usb_resolve(&pol, "046d:c52b", path,
	    sizeof(path), &err), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "bus-port"));
}
END_TEST

START_TEST(usb_paths)
{
	ck_assert_int_eq(policy_usb_path("/dev/bus/usb/001/004", NULL), 0);
	ck_assert_int_eq(policy_usb_path("/dev/bus/usb/001", NULL),
	    ERR_INVALID);
	ck_assert_int_eq(policy_usb_path("/dev/bus/usb/001/004/../../x",
	    NULL), ERR_INVALID);
	ck_assert_int_eq(policy_usb_path("/dev/sda", NULL), ERR_INVALID);
}
END_TEST

/* ---- host paths -------------------------------------------------------- */

START_TEST(host_path_inside_a_root_is_canonical)
{
	char *canon = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(policy_host_path(&pol, at("roots/media/films"), &canon,
	    &err) == 0, "%s", err_msg(&err));
	ck_assert_str_eq(canon, at("roots/media/films"));
	free(canon);
	/* A symlink that stays inside resolves to its target. */
	canon = NULL;
	ck_assert_int_eq(policy_host_path(&pol, at("roots/media/inside"),
	    &canon, NULL), 0);
	ck_assert_str_eq(canon, at("roots/media/films"));
	free(canon);
	canon = NULL;
	ck_assert_int_eq(policy_host_path(&pol, at("roots2"), &canon, NULL),
	    0);
	free(canon);
}
END_TEST

START_TEST(host_path_traversal_is_refused)
{
	char path[PATH_MAX], *canon = NULL;
	struct err err;

	(void) snprintf(path, sizeof(path), "%s/../outside/secret",
	    at("roots/media"));
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, path, &canon, &err),
	    ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "path traversal"));
	ck_assert_ptr_null(canon);
	(void) snprintf(path, sizeof(path), "%s/./films", at("roots/media"));
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, path, &canon, &err),
	    ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "'.' component"));
}
END_TEST

START_TEST(host_path_symlink_escape_is_refused)
{
	char *canon = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, at("roots/media/escape"),
	    &canon, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the bind roots"));
	ck_assert_ptr_nonnull(strstr(err.msg, "outside/secret"));
	ck_assert_ptr_null(canon);
}
END_TEST

START_TEST(host_path_outside_roots_is_refused)
{
	char path[PATH_MAX];
	struct err err;
	char *canon = NULL;

	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, at("outside/secret"), &canon,
	    &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the bind roots"));
	/* A sibling that merely shares the prefix is not inside. */
	(void) snprintf(path, sizeof(path), "%s-evil", at("roots"));
	ck_assert_int_eq(mkdir(path, 0755), 0);
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, path, &canon, &err),
	    ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the bind roots"));
	ck_assert_int_eq(policy_host_path(&pol, "/etc", &canon, NULL),
	    ERR_INVALID);
	ck_assert_int_eq(policy_host_path(&pol, "/", &canon, NULL),
	    ERR_INVALID);
}
END_TEST

static const char *const metachars[] = {
	";reboot", "$(id)", "`id`", " x", "a|b", "a&b", "a>b", "a<b", "a*",
	"a?", "a\\b", "a'b", "a\"b", "a\nb", ",mp=/etc", "=x", "a b", "~",
	"a\tb", "a#b",
};

START_TEST(host_path_metacharacters_are_refused)
{
	char path[PATH_MAX], *canon = NULL;
	struct err err;

	(void) snprintf(path, sizeof(path), "%s/%s", at("roots/media"),
	    metachars[_i]);
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, path, &canon, &err),
	    ERR_INVALID);
	ck_assert_msg(strstr(err.msg, "only letters, digits") != NULL,
	    "%s", err.msg);
	ck_assert_ptr_null(canon);
	/* The guest side has the same rule. */
	(void) snprintf(path, sizeof(path), "/data/%s", metachars[_i]);
	ck_assert_int_eq(policy_guest_path(path, NULL), ERR_INVALID);
}
END_TEST

START_TEST(host_path_must_be_an_existing_directory)
{
	char *canon = NULL;
	struct err err;

	ck_assert_int_eq(tu_write_file(at("roots/media/file"), "x", 1, 0644),
	    0);
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, at("roots/media/file"),
	    &canon, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
	err_init(&err);
	ck_assert_int_eq(policy_host_path(&pol, at("roots/media/none"),
	    &canon, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
	ck_assert_int_eq(policy_host_path(&pol, "relative/x", &canon, NULL),
	    ERR_INVALID);
}
END_TEST

START_TEST(roots_are_checked_at_start)
{
	struct policy p;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(policy_init(&p, "/", 100, 200, NULL, &err),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "every host path"));
	err_init(&err);
	ck_assert_int_eq(policy_init(&p, "rel/dir", 100, 200, NULL, &err),
	    ERR_CONFIG);
	err_init(&err);
	ck_assert_int_eq(policy_init(&p, at("nothing-here"), 100, 200, NULL,
	    &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "not an existing directory"));
}
END_TEST

/* ---- the rest ----------------------------------------------------------- */

START_TEST(vmid_range)
{
	struct err err;

	ck_assert_int_eq(policy_vmid(&pol, 100, NULL), 0);
	ck_assert_int_eq(policy_vmid(&pol, 9999, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(policy_vmid(&pol, 99, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the helper's range"));
	ck_assert_int_eq(policy_vmid(&pol, 10000, NULL), ERR_INVALID);
	ck_assert_int_eq(policy_vmid(&pol, -1, NULL), ERR_INVALID);
}
END_TEST

START_TEST(guest_paths)
{
	ck_assert_int_eq(policy_guest_path("/data", NULL), 0);
	ck_assert_int_eq(policy_guest_path("/srv/media-1", NULL), 0);
	ck_assert_int_eq(policy_guest_path("/", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_guest_path("data", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_guest_path("/a/../etc", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_guest_path("/a//b", NULL), ERR_INVALID);
}
END_TEST

START_TEST(keys_and_features)
{
	ck_assert_int_eq(policy_key("mp0", "mp", NULL), 0);
	ck_assert_int_eq(policy_key("mp255", "mp", NULL), 0);
	ck_assert_int_eq(policy_key("dev3", "dev", NULL), 0);
	ck_assert_int_eq(policy_key("mp256", "mp", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_key("mp01", "mp", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_key("mp", "mp", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_key("rootfs", "mp", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_key("dev0", "mp", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_feature("keyctl", NULL), 0);
	ck_assert_int_eq(policy_feature("nesting", NULL), 0);
	ck_assert_int_eq(policy_feature("fuse", NULL), 0);
	ck_assert_int_eq(policy_feature("privileged", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_feature("mount", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_mount_types("nfs;cifs", NULL), 0);
	ck_assert_int_eq(policy_mount_types("ext4", NULL), 0);
	ck_assert_int_eq(policy_mount_types("nfs;", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_mount_types("nfs,cifs", NULL), ERR_INVALID);
}
END_TEST

START_TEST(pve_names)
{
	ck_assert_int_eq(policy_storage("local-lvm", NULL), 0);
	ck_assert_int_eq(policy_storage("pbs.main_2", NULL), 0);
	ck_assert_int_eq(policy_storage("-x", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_storage("Local", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_storage("a", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_volid("local:vztmpl/debian-12-standard_"
	    "12.7-1_amd64.tar.zst", "t", NULL), 0);
	ck_assert_int_eq(policy_volid("pbs:backup/ct/101/2025-09-08T22:00:"
	    "00Z", "t", NULL), 0);
	ck_assert_int_eq(policy_volid("local:backup/vzdump-lxc-101-2025_09_"
	    "08-22_00_00.tar.zst", "t", NULL), 0);
	ck_assert_int_eq(policy_volid("local:../../etc/shadow", "t", NULL),
	    ERR_INVALID);
	ck_assert_int_eq(policy_volid("local:-rf", "t", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_volid("/var/lib/vz/x.tar", "t", NULL),
	    ERR_INVALID);
	ck_assert_int_eq(policy_volid("local:vztmpl/a b", "t", NULL),
	    ERR_INVALID);
	ck_assert_int_eq(policy_hostname("web-1.example.net", NULL), 0);
	ck_assert_int_eq(policy_hostname("-web", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_hostname("web_1", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_tag("prod", NULL), 0);
	ck_assert_int_eq(policy_tag("a;b", NULL), ERR_INVALID);
	ck_assert_int_eq(policy_description("two\nlines", NULL), 0);
	ck_assert_int_eq(policy_description("bell\a", NULL), ERR_INVALID);
}
END_TEST

/* ---- a backup's config ----------------------------------------------- */

/* pre + path + post, checked as a backup's config. */
static int
backup_check(const char *pre, const char *path, const char *post,
    struct err *err)
{
	char text[4096];

	(void) snprintf(text, sizeof(text), "%s%s%s", pre, path, post);
	return policy_backup_config(&pol, text, strlen(text), err);
}

START_TEST(backup_config_inside_roots_passes)
{
	static const char pre[] = "arch: amd64\n#a description\n"
	    "rootfs: local-lvm:vm-103-disk-0,size=8G\nmp0: ";
	static const char post[] = ",mp=/data\n"
	    "mp1: local-lvm:vm-103-disk-1,mp=/db,size=4G\n"
	    "dev0: /dev/bus/usb/001/004\n"
	    "lxc.cgroup2.devices.allow: c 189:* rwm\n"
	    "lxc.mount.entry: /dev/bus/usb/001 dev/bus/usb/001 none "
	    "bind,optional,create=dir\n"
	    "[snap1]\nmp0: /etc,mp=/x\n";
	struct err err;

	err_init(&err);
	ck_assert_msg(backup_check(pre, at("roots/media/films"), post,
	    &err) == 0, "%s", err_msg(&err));
}
END_TEST

START_TEST(backup_config_escapes_are_refused)
{
	struct err err;

	err_init(&err);
	ck_assert_int_eq(backup_check("mp0: ", at("outside/secret"),
	    ",mp=/data\n", &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "mp0"));
	ck_assert_ptr_nonnull(strstr(err.msg, "outside the bind roots"));
	err_init(&err);
	ck_assert_int_eq(backup_check("mp0: volume=", at("roots/media/escape"),
	    ",mp=/data\n", &err), ERR_INVALID);
	err_init(&err);
	ck_assert_int_eq(backup_check("mp0: ", at("roots/media"),
	    ",mp=/data/../etc\n", &err), ERR_INVALID);
	err_init(&err);
	ck_assert_int_eq(backup_check("mp3: /dev/sdb1,mp=/disk", "", "\n",
	    &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "device mount point"));
	err_init(&err);
	ck_assert_int_eq(backup_check("lxc.idmap: u 0 0 65536", "", "\n",
	    &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "restored by hand"));
	err_init(&err);
	ck_assert_int_eq(backup_check("lxc.mount.entry: / host none bind", "",
	    "\n", &err), ERR_INVALID);
	err_init(&err);
	ck_assert_int_eq(backup_check("lxc.cgroup2.devices.allow: a", "",
	    "\n", &err), ERR_INVALID);
	err_init(&err);
	ck_assert_int_eq(backup_check("dev0: /dev/sda", "", "\n", &err),
	    ERR_INVALID);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, disk_patterns, 0,
	    sizeof(disks) / sizeof(disks[0]));
	tcase_add_loop_test(tc, usb_id_patterns, 0,
	    sizeof(usb_ids) / sizeof(usb_ids[0]));
	tcase_add_test(tc, usb_ids_resolve_through_sysfs);
	tcase_add_test(tc, usb_paths);
	tcase_add_test(tc, host_path_inside_a_root_is_canonical);
	tcase_add_test(tc, host_path_traversal_is_refused);
	tcase_add_test(tc, host_path_symlink_escape_is_refused);
	tcase_add_test(tc, host_path_outside_roots_is_refused);
	tcase_add_loop_test(tc, host_path_metacharacters_are_refused, 0,
	    sizeof(metachars) / sizeof(metachars[0]));
	tcase_add_test(tc, host_path_must_be_an_existing_directory);
	tcase_add_test(tc, roots_are_checked_at_start);
	tcase_add_test(tc, vmid_range);
	tcase_add_test(tc, guest_paths);
	tcase_add_test(tc, keys_and_features);
	tcase_add_test(tc, pve_names);
	tcase_add_test(tc, backup_config_inside_roots_passes);
	tcase_add_test(tc, backup_config_escapes_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
