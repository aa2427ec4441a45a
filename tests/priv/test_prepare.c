/*
 * test_prepare — the two halves of a helper request (R-08;
 * priv/helper.h): helper_prepare decodes, validates and builds the
 * argv without starting any program — the tools here are scripts that
 * leave a mark when run, and none does — and helper_run is what runs
 * the plan.  The frame decoder under wire_read (wire_reader_space/put)
 * takes the bytes in any split.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "base/err.h"
#include "priv/helper.h"
#include "priv/wire.h"
#include "testutil.h"

static char *dir;
static struct helper_config hc;
static char mark[512];

/* A tool that records it ran (and prints an empty sensors document). */
static char *
tool(const char *name)
{
	char path[512], text[1200];

	(void) snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void) snprintf(text, sizeof(text), "#!/bin/sh\necho %s >> '%s'\n"
	    "echo '{}'\n", name, mark);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text), 0755), 0);
	return strdup(path);
}

static void
setup(void)
{
	char roots[600], sub[600];

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(mark, sizeof(mark), "%s/ran", dir);
	(void) snprintf(roots, sizeof(roots), "%s/bus/usb/devices", dir);
	/* An empty sysfs: no USB device plugged in. */
	(void) snprintf(sub, sizeof(sub), "%s/bus", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	(void) snprintf(sub, sizeof(sub), "%s/bus/usb", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(mkdir(roots, 0755), 0);
	(void) snprintf(roots, sizeof(roots), "%s", dir);
	memset(&hc, 0, sizeof(hc));
	ck_assert_int_eq(policy_init(&hc.policy, roots, 100, 999999999, dir,
	    NULL), 0);
	hc.pct = tool("pct");
	hc.pvesm = tool("pvesm");
	hc.smartctl = tool("smartctl");
	hc.sensors = tool("sensors");
	hc.timeout_ms = 10000;
}

static void
teardown(void)
{
	helper_config_reset(&hc);
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

static int
ran(void)
{
	return access(mark, F_OK) == 0;
}

static int
prepare(const char *body, struct helper_plan **pl, struct err *err)
{
	struct helper_summary sum;

	memset(&sum, 0, sizeof(sum));
	return helper_prepare(&hc, body, strlen(body), pl, &sum, err);
}

START_TEST(prepare_builds_the_argv_and_runs_nothing)
{
	char body[1024];
	struct helper_plan *pl = NULL;
	const char *const *v;
	struct err err;
	size_t n;

	(void) snprintf(body, sizeof(body), "{\"type\":\"attach\",\"vmid\":"
	    "101,\"bind\":[{\"key\":\"mp0\",\"host_path\":\"%s\",\"path\":"
	    "\"/media\",\"read_only\":true}],\"devices\":[{\"key\":\"dev0\","
	    "\"path\":\"/dev/bus/usb/001/004\"}],\"delete\":[\"dev3\"]}", dir);
	err_init(&err);
	ck_assert_msg(prepare(body, &pl, &err) == 0, "%s", err_msg(&err));
	v = helper_plan_argv(pl, 0, &n);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(v[0], hc.pct);
	ck_assert_str_eq(v[1], "set");
	ck_assert_str_eq(v[2], "101");
	ck_assert_str_eq(v[4], "--dev0=/dev/bus/usb/001/004");
	ck_assert_str_eq(v[5], "--delete=dev3");
	ck_assert_ptr_null(v[6]);
	helper_plan_argv(pl, 1, &n);
	ck_assert_uint_eq(n, 0);
	helper_plan_free(pl);
	pl = NULL;
	/* A restore reads the backup's config first: planned, not run. */
	ck_assert_int_eq(prepare("{\"type\":\"restore\",\"vmid\":101,"
	    "\"archive\":\"local:backup/vzdump-lxc-101.tar.zst\",\"storage\":"
	    "\"local-lvm\"}", &pl, NULL), 0);
	v = helper_plan_argv(pl, 1, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0], hc.pvesm);
	ck_assert_str_eq(v[1], "extractconfig");
	helper_plan_free(pl);
	pl = NULL;
	ck_assert_int_eq(prepare("{\"type\":\"smart\",\"device\":"
	    "\"/dev/sda\"}", &pl, NULL), 0);
	helper_plan_free(pl);
	ck_assert(!ran());
}
END_TEST

START_TEST(prepare_refuses_with_the_rule_broken)
{
	static const struct {
		const char *body, *frag;
	} bad[] = {
		{ "{\"type\":\"smart\",\"device\":\"/dev/sda1\"}", "not a disk" },
		{ "{\"type\":\"attach\",\"vmid\":101,\"devices\":[{\"key\":"
		    "\"dev0\",\"usb\":\"046d-c52b;reboot\"}]}", "is neither" },
		{ "{\"type\":\"attach\",\"vmid\":101,\"devices\":[{\"key\":"
		    "\"dev0\",\"usb\":\"dead:beef\"}]}", "not plugged in" },
		{ "{\"type\":\"restore\",\"vmid\":101,\"archive\":\"--force=1\","
		    "\"storage\":\"local\"}", "archive" },
		{ "{\"type\":\"features\",\"vmid\":99,\"features\":{}}",
		    "vmid" },
		{ "{\"type\":\"shell\"}", "not one the helper answers" },
		{ "{\"type\":\"sensors\",\"type\":\"smart\"}", "duplicate" },
	};
	struct helper_plan *pl = NULL;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_init(&err);
		ck_assert_msg(prepare(bad[i].body, &pl, &err) != 0, "%s",
		    bad[i].body);
		ck_assert_ptr_null(pl);
		ck_assert_msg(strstr(err_msg(&err), bad[i].frag) != NULL,
		    "'%s' lacks '%s'", err_msg(&err), bad[i].frag);
	}
	ck_assert(!ran());
}
END_TEST

START_TEST(run_is_the_half_that_starts_the_tool)
{
	struct helper_summary sum;
	struct helper_plan *pl = NULL;
	json_t *res = NULL;
	struct err err;

	ck_assert_int_eq(prepare("{\"type\":\"sensors\"}", &pl, NULL), 0);
	ck_assert(!ran());
	memset(&sum, 0, sizeof(sum));
	err_init(&err);
	ck_assert_msg(helper_run(&hc, pl, &res, &sum, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert(ran());
	ck_assert(sum.ran);
	ck_assert(json_is_array(json_object_get(res, "sensors")));
	json_decref(res);
	helper_plan_free(pl);
}
END_TEST

/* The frame decoder, fed one byte at a time. */
START_TEST(frames_decode_in_any_split)
{
	static const char frame[] = "\0\0\0\022{\"type\":\"sensors\"}";
	struct wire_reader r;
	unsigned char *buf;
	size_t want, i, len = 0;
	int done = 0;
	char *body;

	wire_reader_init(&r, WIRE_REQUEST_MAX);
	for (i = 0; i < sizeof(frame) - 1; i++) {
		ck_assert(!done);
		wire_reader_space(&r, &buf, &want);
		ck_assert_uint_ge(want, 1);
		*buf = (unsigned char)frame[i];
		ck_assert_int_eq(wire_reader_put(&r, 1, &done, NULL), 0);
	}
	ck_assert(done);
	body = wire_reader_take(&r, &len);
	ck_assert_uint_eq(len, 18);
	ck_assert_str_eq(body, "{\"type\":\"sensors\"}");
	free(body);
	/* A length over the cap is refused before any body byte. */
	wire_reader_init(&r, 16);
	wire_reader_space(&r, &buf, &want);
	ck_assert_uint_eq(want, 4);
	memcpy(buf, "\0\0\0\021", 4);
	ck_assert_int_eq(wire_reader_put(&r, 4, &done, NULL), ERR_TOO_LARGE);
	wire_reader_reset(&r);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("prepare");
	TCase *tc = tcase_create("prepare");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, prepare_builds_the_argv_and_runs_nothing);
	tcase_add_test(tc, prepare_refuses_with_the_rule_broken);
	tcase_add_test(tc, run_is_the_half_that_starts_the_tool);
	tcase_add_test(tc, frames_decode_in_any_split);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
