/*
 * test_opblob — op blob v1: strict parse, params per op, canonical make
 * (R-13; signed-ops.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz_tu.h"
#include "base/err.h"
#include "testutil.h"

#define NONCE	"6f1c0e9a4b2d47c8a1f3e5d7c9b0a2e4"
#define HEAD	"{\"schema\":\"felhom.op/v1\",\"host_id\":\"pve-01\"," \
		"\"nonce\":\"" NONCE "\",\"not_before\":\"2026-11-28T12:00:00Z\"," \
		"\"not_after\":\"2026-11-28T13:00:00Z\","

static char *keyline;

static void
setup(void)
{
	char *t = tu_read_file(atu_vec("keys/ed25519-a.pub"), NULL), *sp;

	ck_assert_ptr_nonnull(t);
	sp = strchr(strchr(t, ' ') + 1, ' ');
	*sp = '\0';
	keyline = t;
}

static void
teardown(void)
{
	free(keyline);
}

static int
parse_text(const char *text, struct opblob **out, struct err *err)
{
	err_init(err);
	return opblob_parse(text, strlen(text), out, err);
}

/* One valid blob per op, from signed-ops.md's table. */
static const struct {
	const char	*op;
	const char	*guest;
	const char	*params;
} good[] = {
	{ "start", "101", "{}" },
	{ "stop", "101", "{\"mode\":\"shutdown\"}" },
	{ "stop", "101", "{\"mode\":\"stop\"}" },
	{ "set_config", "101", "{\"set\":{\"cores\":2,\"memory\":\"2048\","
	    "\"onboot\":true,\"cpulimit\":0.5},\"delete\":[\"mp0\"]}" },
	{ "set_config", "101", "{\"delete\":[\"unused0\"]}" },
	{ "snapshot", "101", "{\"name\":\"pre-upgrade_1\"}" },
	{ "snapshot", "101", "{\"name\":\"a\",\"description\":\"before\"}" },
	{ "delete_snapshot", "101", "{\"name\":\"pre-upgrade\"}" },
	{ "rollback", "101", "{\"snapshot\":\"pre-upgrade\"}" },
	{ "rollback", "101", "{\"snapshot\":\"s1\",\"no_safety\":true}" },
	{ "backup", "101", "{\"storage\":\"local\",\"mode\":\"snapshot\"}" },
	{ "restore", "101", "{\"archive\":\"pbs-main:backup/ct/104/"
	    "2026-11-27T02:10:00Z\",\"storage\":\"local-lvm\"}" },
	{ "restore", "999999999", "{\"archive\":\"local:backup/vzdump-lxc-"
	    "101-2025_09_07-22_00_00.tar.zst\",\"storage\":\"local\","
	    "\"no_safety\":false}" },
	{ "destroy", "103", "{\"purge\":true}" },
	{ "provision", "110", "{\"template\":\"local:vztmpl/debian-12-"
	    "standard_12.7-1_amd64.tar.zst\",\"storage\":\"local-lvm\","
	    "\"spec\":{\"cores\":2}}" },
	{ "rotate_signers", "null", "{\"kind\":\"planned\","
	    "\"operational\":[KEY]}" },
	{ "rotate_signers", "null", "{\"kind\":\"recovery\","
	    "\"operational\":[],\"recovery\":[KEY]}" },
};

/* Expands KEY into a quoted allowed_signers line. */
static char *
expand(const char *fmt)
{
	const char *k = strstr(fmt, "KEY");
	char *out;

	if (k == NULL)
		return strdup(fmt);
	ck_assert_int_gt(asprintf(&out, "%.*s\"op@x %s\"%s", (int)(k - fmt),
	    fmt, keyline, k + 3), 0);
	return out;
}

START_TEST(every_op_parses)
{
	struct opblob *b = NULL;
	struct err err;
	char *params = expand(good[_i].params), *text;

	ck_assert_int_gt(asprintf(&text, HEAD "\"op\":\"%s\",\"guest_id\":%s,"
	    "\"params\":%s}", good[_i].op, good[_i].guest, params), 0);
	ck_assert_msg(parse_text(text, &b, &err) == 0, "%s: %s", text,
	    err.msg);
	ck_assert_str_eq(opblob_op_name((int)b->op), good[_i].op);
	ck_assert_str_eq(b->host_id, "pve-01");
	ck_assert_str_eq(b->nonce, NONCE);
	ck_assert_int_eq(b->not_after - b->not_before, 3600);
	ck_assert_uint_eq(b->raw_len, strlen(text));
	ck_assert(memcmp(b->raw, text, b->raw_len) == 0);
	if (b->op == OPBLOB_OP_ROTATE_SIGNERS) {
		ck_assert_int_eq(b->has_guest, 0);
		ck_assert_uint_eq(signers_count(b->rotate_set), 1);
		ck_assert_int_ne(b->rotate_kind, OPBLOB_ROTATE_NONE);
	} else
		ck_assert_int_eq(b->has_guest, 1);
	opblob_free(b);
	free(text);
	free(params);
}
END_TEST

static const struct {
	const char	*text;
	const char	*msg;
} bad_blobs[] = {
	{ "", "invalid JSON" },
	{ "[]", "expected a JSON object" },
	{ "\xef\xbb\xbf{}", "byte order mark" },
	/* not even whitespace after the closing brace. */
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}} ",
	    "trailing data after the closing brace (last byte 0x20)" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}\n",
	    "trailing data after the closing brace (last byte 0x0a)" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}\r\n",
	    "trailing data" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}\t",
	    "trailing data" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}x",
	    "invalid JSON" },
	{ " " HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}",
	    NULL },		/* leading whitespace is JSON's own */
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{}}{}",
	    "invalid JSON" },
	{ HEAD "\"op\":\"start\",\"op\":\"stop\",\"guest_id\":101,"
	    "\"params\":{}}", "duplicate" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{},\"x\":1}",
	    "unknown key" },
	{ HEAD "\"op\":\"start\",\"params\":{}}", "guest_id: required" },
	{ HEAD "\"op\":\"start\",\"guest_id\":\"101\",\"params\":{}}",
	    "guest_id: expected" },
	{ HEAD "\"op\":\"start\",\"guest_id\":99,\"params\":{}}",
	    "out of range" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101.0,\"params\":{}}",
	    "guest_id: expected" },
	{ HEAD "\"op\":\"reboot\",\"guest_id\":101,\"params\":{}}",
	    "unknown operation 'reboot'" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":[]}",
	    "params: expected an object" },
	{ HEAD "\"op\":\"start\",\"guest_id\":101,\"params\":{\"a\":1}}",
	    "params.a: unknown key" },
	{ HEAD "\"op\":\"stop\",\"guest_id\":101,\"params\":{}}",
	    "params.mode: required" },
	{ HEAD "\"op\":\"stop\",\"guest_id\":101,\"params\":{\"mode\":"
	    "\"halt\"}}", "params.mode: must be" },
	{ HEAD "\"op\":\"snapshot\",\"guest_id\":101,\"params\":{\"name\":"
	    "\"1abc\"}}", "params.name: must be" },
	{ HEAD "\"op\":\"snapshot\",\"guest_id\":101,\"params\":{\"name\":"
	    "\"a23456789012345678901234567890123456789012\"}}",
	    "params.name: must be" },
	{ HEAD "\"op\":\"delete_snapshot\",\"guest_id\":101,\"params\":"
	    "{\"name\":\"a b\"}}", "params.name: must be" },
	{ HEAD "\"op\":\"rollback\",\"guest_id\":101,\"params\":{\"snapshot\":"
	    "\"s\",\"no_safety\":1}}", "params.no_safety" },
	{ HEAD "\"op\":\"backup\",\"guest_id\":101,\"params\":{\"storage\":"
	    "\"local\",\"mode\":\"full\"}}", "params.mode" },
	{ HEAD "\"op\":\"backup\",\"guest_id\":101,\"params\":{\"storage\":"
	    "\"-x\",\"mode\":\"stop\"}}", "params.storage" },
	{ HEAD "\"op\":\"restore\",\"guest_id\":101,\"params\":{\"archive\":"
	    "\"local:../../etc/shadow\",\"storage\":\"local\"}}",
	    "params.archive" },
	{ HEAD "\"op\":\"restore\",\"guest_id\":101,\"params\":{\"archive\":"
	    "\"/var/lib/vz/dump/x.tar\",\"storage\":\"local\"}}",
	    "params.archive" },
	{ HEAD "\"op\":\"destroy\",\"guest_id\":101,\"params\":{}}",
	    "params.purge: required" },
	{ HEAD "\"op\":\"destroy\",\"guest_id\":101,\"params\":{\"purge\":"
	    "\"yes\"}}", "params.purge" },
	{ HEAD "\"op\":\"provision\",\"guest_id\":101,\"params\":{\"template\":"
	    "\"local:vztmpl/a.tar\",\"storage\":\"local\"}}", "params.spec" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{}}",
	    "needs" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"Cores\":2}}}", "'Cores' is not a container option" },
	/* PVE's request parameters are never settings. */
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"delete\":\"mp0,unused0\"}}}",
	    "params.set: 'delete' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"revert\":\"mp0\"}}}", "'revert' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"digest\":\"0123\"}}}", "'digest' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"node\":\"pve-02\"}}}", "'node' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"vmid\":102}}}", "'vmid' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"DELETE\":\"mp0\"}}}", "'DELETE' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"parent\":\"s1\"}}}", "'parent' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"mp256\":\"local:1\"}}}", "'mp256' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"lxc.apparmor.profile\":\"unconfined\"}}}",
	    "is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":"
	    "{\"delete\":[\"mp0,unused0\"]}}",
	    "params.delete[0]: 'mp0,unused0' is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":"
	    "{\"delete\":[\"mp0 unused0\"]}}", "is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":"
	    "{\"delete\":[\"mp0;unused0\"]}}", "is not a container option" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":"
	    "{\"delete\":\"mp0\"}}", "params.delete: expected an array" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":"
	    "{\"delete\":[[\"mp0\"]]}}", "params.delete[0]: expected a string" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"cores\":[2]}}}", "params.set.cores: expected a string" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"cores\":null}}}", "params.set.cores" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"set\":"
	    "{\"cores\":2},\"delete\":[\"cores\"]}}", "both set and deleted" },
	{ HEAD "\"op\":\"set_config\",\"guest_id\":101,\"params\":{\"delete\":"
	    "[\"mp0\",\"mp0\"]}}", "twice" },
	{ HEAD "\"op\":\"rotate_signers\",\"guest_id\":null,\"params\":"
	    "{\"kind\":\"planned\"}}", "needs" },
	{ HEAD "\"op\":\"rotate_signers\",\"guest_id\":null,\"params\":"
	    "{\"kind\":\"sudden\",\"operational\":[]}}", "params.kind" },
	{ HEAD "\"op\":\"rotate_signers\",\"guest_id\":null,\"params\":"
	    "{\"kind\":\"planned\",\"operational\":[\"# c\"]}}", "comment" },
	{ HEAD "\"op\":\"rotate_signers\",\"guest_id\":null,\"params\":"
	    "{\"kind\":\"planned\",\"operational\":[\"a ssh-rsa AAAA\"]}}",
	    "params.operational[0]" },
	{ "{\"schema\":\"felhom.op/v2\",\"op\":\"start\",\"host_id\":\"h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"" NONCE "\","
	    "\"not_before\":\"2026-11-28T12:00:00Z\",\"not_after\":"
	    "\"2026-11-28T13:00:00Z\"}", "schema" },
	{ "{\"schema\":\"felhom.op/v1\",\"op\":\"start\",\"host_id\":\"h h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"" NONCE "\","
	    "\"not_before\":\"2026-11-28T12:00:00Z\",\"not_after\":"
	    "\"2026-11-28T13:00:00Z\"}", "host_id" },
	{ "{\"schema\":\"felhom.op/v1\",\"op\":\"start\",\"host_id\":\"h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"6F1C0E9A4B2D47C8A1F3E5"
	    "D7C9B0A2E4\",\"not_before\":\"2026-11-28T12:00:00Z\","
	    "\"not_after\":\"2026-11-28T13:00:00Z\"}", "nonce" },
	{ "{\"schema\":\"felhom.op/v1\",\"op\":\"start\",\"host_id\":\"h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"6f1c0e9a\","
	    "\"not_before\":\"2026-11-28T12:00:00Z\",\"not_after\":"
	    "\"2026-11-28T13:00:00Z\"}", "nonce" },
	{ "{\"schema\":\"felhom.op/v1\",\"op\":\"start\",\"host_id\":\"h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"" NONCE "\","
	    "\"not_before\":\"2026-11-28T12:00:00+00:00\",\"not_after\":"
	    "\"2026-11-28T13:00:00Z\"}", "not_before" },
	{ "{\"schema\":\"felhom.op/v1\",\"op\":\"start\",\"host_id\":\"h\","
	    "\"guest_id\":101,\"params\":{},\"nonce\":\"" NONCE "\","
	    "\"not_before\":\"2026-11-28T12:00:00Z\",\"not_after\":"
	    "\"2026-11-28T12:00:00Z\"}", "later than" },
};

START_TEST(bad_blobs_are_bad_blob)
{
	struct opblob *b = NULL;
	struct err err;
	int rc;

	rc = parse_text(bad_blobs[_i].text, &b, &err);
	if (bad_blobs[_i].msg == NULL) {
		ck_assert_msg(rc == 0, "%s", err.msg);
		opblob_free(b);
		return;
	}
	ck_assert_msg(rc == ERR_REJECTED, "accepted: %s", bad_blobs[_i].text);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_BLOB);
	ck_assert_msg(strstr(err.msg, bad_blobs[_i].msg) != NULL,
	    "message '%s' lacks '%s'", err.msg, bad_blobs[_i].msg);
}
END_TEST

START_TEST(oversize_blob_refused)
{
	size_t n = OPBLOB_MAX + 1;
	char *big = malloc(n);
	struct opblob *b = NULL;
	struct err err;

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	err_init(&err);
	ck_assert_int_eq(opblob_parse(big, n, &b, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_BLOB);
	ck_assert_ptr_nonnull(strstr(err.msg, "limit"));
	free(big);
}
END_TEST

START_TEST(make_is_canonical_and_parses)
{
	struct opblob_spec spec;
	struct opblob *b = NULL;
	struct err err;
	json_t *params = json_pack("{s:{s:i,s:b},s:[s]}", "set", "memory",
	    2048, "onboot", 1, "delete", "mp0");
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;

	memset(&spec, 0, sizeof(spec));
	spec.op = OPBLOB_OP_SET_CONFIG;
	spec.host_id = "pve-01";
	spec.has_guest = 1;
	spec.guest_id = 101;
	spec.params = params;
	spec.not_before = 1795852800;
	spec.not_after = 1795852800 + 3600;
	err_init(&err);
	ck_assert_int_eq(opblob_make(&spec, &out, &len, &err), 0);
	ck_assert_uint_eq(strlen(out), len);
	ck_assert_msg(strncmp(out, "{\"schema\":\"felhom.op/v1\",\"op\":"
	    "\"set_config\",\"host_id\":\"pve-01\",\"guest_id\":101,"
	    "\"params\":{\"delete\":[\"mp0\"],\"set\":{\"memory\":2048,"
	    "\"onboot\":true}},\"nonce\":\"", 150) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\",\"not_before\":\""
	    "2026-11-28T08:00:00Z\",\"not_after\":\"2026-11-28T09:00:00Z\"}"));
	ck_assert_int_eq(out[len - 1], '}');
	ck_assert_int_eq(opblob_parse(out, len, &b, &err), 0);
	ck_assert_uint_eq(strlen(b->nonce), 64);
	/* Fresh nonce each time. */
	ck_assert_int_eq(opblob_make(&spec, &out2, &len2, &err), 0);
	ck_assert_str_ne(out, out2);
	opblob_free(b);
	free(out2);
	/* A given nonce, null guest for rotate; invalid specs refused. */
	spec.op = OPBLOB_OP_DESTROY;
	spec.params = NULL;
	err_init(&err);
	ck_assert_int_eq(opblob_make(&spec, &out2, &len2, &err), ERR_REJECTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "params.purge"));
	spec.op = OPBLOB_OP_START;
	spec.nonce = "ABC";
	err_init(&err);
	ck_assert_int_eq(opblob_make(&spec, &out2, &len2, &err), ERR_INVALID);
	spec.nonce = NONCE;
	spec.host_id = "bad host";
	err_init(&err);
	ck_assert_int_eq(opblob_make(&spec, &out2, &len2, &err), ERR_INVALID);
	spec.host_id = "pve-01";
	ck_assert_int_eq(opblob_make(&spec, &out2, &len2, &err), 0);
	ck_assert_ptr_nonnull(strstr(out2, "\"nonce\":\"" NONCE "\""));
	free(out2);
	free(out);
	json_decref(params);
}
END_TEST

START_TEST(kind_names)
{
	int i;

	for (i = 0; i < OPBLOB_OP_UNKNOWN; i++)
		ck_assert_int_eq(opblob_kind_from_name(opblob_op_name(i)), i);
	ck_assert_int_eq(opblob_kind_from_name("reboot"), OPBLOB_OP_UNKNOWN);
	ck_assert_int_eq(opblob_kind_from_name("unknown"), OPBLOB_OP_UNKNOWN);
	ck_assert_int_eq(opblob_kind_from_name(NULL), OPBLOB_OP_UNKNOWN);
	ck_assert_str_eq(opblob_rotate_kind_name(OPBLOB_ROTATE_PLANNED),
	    "planned");
}
END_TEST

static Suite *
opblob_suite(void)
{
	Suite *s = suite_create("authz.opblob");
	TCase *tc = tcase_create("opblob");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, every_op_parses, 0,
	    (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_loop_test(tc, bad_blobs_are_bad_blob, 0,
	    (int)(sizeof(bad_blobs) / sizeof(bad_blobs[0])));
	tcase_add_test(tc, oversize_blob_refused);
	tcase_add_test(tc, make_is_canonical_and_parses);
	tcase_add_test(tc, kind_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(opblob_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
