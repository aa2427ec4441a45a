/*
 * test_hub — the hub client and the contract parsers:
 * every fixture of tests/fixtures/hub parses; desired documents are
 * validated as a whole; against hub-sim, every fault kind gives its typed
 * error and the next call succeeds; the token never shows in an error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "hub/hub.h"
#include "net/https.h"
#include "testutil.h"

static json_t *
fixture(const char *name)
{
	char rel[256];
	json_t *doc = NULL;
	struct err err;

	err_init(&err);
	(void) snprintf(rel, sizeof(rel), "hub/%s", name);
	ck_assert_msg(jsonx_parse_file(tu_fixture(rel), HUB_BODY_CAP,
	    JSONX_DUPLICATES, &doc, &err) == 0, "%s: %s", name, err.msg);
	return doc;
}

/* ---- fixtures -------------------------------------------------------- */

START_TEST(envelope_fixture_full_parses)
{
	json_t *doc = fixture("control-envelope.json");
	struct hub_envelope env;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(hub_envelope_parse(doc, &env, &err), 0);
	ck_assert_int_eq(env.poll_interval_s, 300);
	ck_assert_int_eq(env.has_blocked, 1);
	ck_assert_int_eq(env.blocked, 0);
	ck_assert_int_eq(env.has_desired_generation, 1);
	ck_assert_int_eq(env.desired_generation, 12);
	ck_assert_int_eq(env.has_signed_ops, 1);
	ck_assert_int_eq(env.has_audit_ack_seq, 1);
	ck_assert_int_eq(env.audit_ack_seq, 991);
	json_decref(doc);
}
END_TEST

START_TEST(envelope_fixture_minimal_leaves_optional_keys_absent)
{
	json_t *doc = fixture("control-envelope-minimal.json");
	struct hub_envelope env;

	ck_assert_int_eq(hub_envelope_parse(doc, &env, NULL), 0);
	ck_assert_int_eq(env.poll_interval_s, 30);
	ck_assert_int_eq(env.has_blocked, 0);
	ck_assert_int_eq(env.has_desired_generation, 0);
	ck_assert_int_eq(env.has_signed_ops, 0);
	ck_assert_int_eq(env.has_audit_ack_seq, 0);
	json_decref(doc);
}
END_TEST

START_TEST(envelope_fixture_blocked_ignores_unknown_keys)
{
	json_t *doc = fixture("control-envelope-blocked.json");
	struct hub_envelope env;

	ck_assert_int_eq(hub_envelope_parse(doc, &env, NULL), 0);
	ck_assert_int_eq(env.blocked, 1);
	ck_assert_int_eq(env.poll_interval_s, 7200);
	ck_assert_int_eq(env.desired_generation, 13);
	ck_assert_int_eq(env.has_signed_ops, 0);
	ck_assert_int_eq(env.audit_ack_seq, 1200);
	json_decref(doc);
}
END_TEST

START_TEST(desired_fixture_validates)
{
	json_t *doc = fixture("desired.json");
	int64_t gen = 0;
	struct err err;

	err_init(&err);
	ck_assert_msg(hub_desired_check(doc, "pve-01", 0, &gen, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(gen, 12);
	/* Same generation again is not backwards. */
	ck_assert_int_eq(hub_desired_check(doc, "pve-01", 12, &gen, NULL), 0);
	json_decref(doc);
}
END_TEST

START_TEST(signed_ops_fixture_parses_every_entry)
{
	json_t *doc = fixture("signed-ops.json");
	struct hub_signed_ops so;
	struct err err;

	err_init(&err);
	ck_assert_msg(hub_signed_ops_parse(doc, &so, &err) == 0, "%s",
	    err.msg);
	ck_assert_uint_eq(so.n, 2);
	ck_assert_ptr_null(so.ops[0].op_ref);
	ck_assert_str_eq(so.ops[1].op_ref, "op-000123");
	ck_assert_ptr_null(so.ops[0].bad);
	ck_assert_uint_eq(so.ops[0].blob_len, strlen(
	    "{\"schema\":\"felhom.op/v1\"}"));
	ck_assert_mem_eq(so.ops[0].blob, "{\"schema\":\"felhom.op/v1\"}",
	    so.ops[0].blob_len);
	ck_assert_ptr_nonnull(strstr(so.ops[1].signature,
	    "BEGIN SSH SIGNATURE"));
	hub_signed_ops_reset(&so);
	json_decref(doc);
}
END_TEST

START_TEST(golden_report_schema_is_the_contract_one)
{
	json_t *doc = fixture("host-report.golden.json");

	ck_assert_str_eq(json_string_value(json_object_get(doc, "schema")),
	    HUB_SCHEMA_REPORT);
	json_decref(doc);
}
END_TEST

/* ---- envelope and signed-ops rejections ------------------------------ */

static const struct {
	const char	*doc;
	int		 code;
	const char	*frag;
} bad_envelopes[] = {
	{ "{\"schema\":\"felhom.control/v2\",\"poll_interval_seconds\":60}",
	    ERR_PROTOCOL, "expected felhom.control/v1" },
	{ "{\"poll_interval_seconds\":60}", ERR_FORMAT, "schema" },
	{ "{\"schema\":\"felhom.control/v1\"}", ERR_FORMAT,
	    "poll_interval_seconds" },
	{ "{\"schema\":\"felhom.control/v1\",\"poll_interval_seconds\":\"60\"}",
	    ERR_FORMAT, "poll_interval_seconds" },
	{ "{\"schema\":\"felhom.control/v1\",\"poll_interval_seconds\":60,"
	    "\"blocked\":1}", ERR_FORMAT, "blocked" },
	{ "{\"schema\":\"felhom.control/v1\",\"poll_interval_seconds\":60,"
	    "\"audit_ack_seq\":-1}", ERR_FORMAT, "audit_ack_seq" },
};

START_TEST(envelope_bad_shapes_are_protocol_errors)
{
	json_t *doc = json_loads(bad_envelopes[_i].doc, 0, NULL);
	struct hub_envelope env;
	struct err err;

	ck_assert_ptr_nonnull(doc);
	err_init(&err);
	ck_assert_int_eq(hub_envelope_parse(doc, &env, &err),
	    bad_envelopes[_i].code);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	ck_assert_msg(strstr(err.msg, bad_envelopes[_i].frag) != NULL,
	    "'%s' lacks '%s'", err.msg, bad_envelopes[_i].frag);
	json_decref(doc);
}
END_TEST

START_TEST(signed_ops_bad_entry_is_flagged_others_kept)
{
	json_t *doc = json_loads("{\"schema\":\"felhom.signed-ops/v1\",\"ops\":["
	    "{\"op_id\":null,\"blob_b64\":\"not base64!\",\"signature\":null},"
	    "{\"op_id\":5,\"blob_b64\":\"eyJ9\"},"
	    "{\"blob_b64\":\"eyJ9\",\"signature\":null}]}", 0, NULL);
	struct hub_signed_ops so;

	ck_assert_int_eq(hub_signed_ops_parse(doc, &so, NULL), 0);
	ck_assert_uint_eq(so.n, 3);
	ck_assert_ptr_nonnull(strstr(so.ops[0].bad, "base64"));
	ck_assert_str_eq(so.ops[0].blob_b64, "not base64!");
	ck_assert_ptr_nonnull(strstr(so.ops[1].bad, "op_id"));
	ck_assert_ptr_null(so.ops[2].bad);
	ck_assert_ptr_null(so.ops[2].signature);
	ck_assert_mem_eq(so.ops[2].blob, "{\"}", 3);
	hub_signed_ops_reset(&so);
	json_decref(doc);
}
END_TEST

/* v1.1: seq is a positive integer; an entry with a bad one is refused. */
START_TEST(signed_ops_seq_is_a_positive_integer)
{
	json_t *doc = json_loads("{\"schema\":\"felhom.signed-ops/v1\",\"ops\":["
	    "{\"seq\":41,\"op_id\":null,\"blob_b64\":\"YQ==\",\"signature\":null},"
	    "{\"seq\":0,\"op_id\":null,\"blob_b64\":\"YQ==\",\"signature\":null},"
	    "{\"seq\":\"42\",\"op_id\":null,\"blob_b64\":\"YQ==\",\"signature\":null},"
	    "{\"op_id\":null,\"blob_b64\":\"YQ==\",\"signature\":null}]}", 0, NULL);
	struct hub_signed_ops so;

	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(hub_signed_ops_parse(doc, &so, NULL), 0);
	ck_assert_uint_eq(so.n, 4);
	ck_assert_int_eq(so.ops[0].seq, 41);
	ck_assert_ptr_null(so.ops[0].bad);
	ck_assert_ptr_nonnull(strstr(so.ops[1].bad, "ops[1].seq"));
	ck_assert_ptr_nonnull(strstr(so.ops[2].bad, "ops[2].seq"));
	ck_assert_int_eq(so.ops[3].seq, 0);
	ck_assert_ptr_null(so.ops[3].bad);
	hub_signed_ops_reset(&so);
	json_decref(doc);
}
END_TEST

START_TEST(signed_ops_wrong_schema_or_ops_is_protocol_error)
{
	json_t *a = json_loads("{\"schema\":\"felhom.signed-ops/v9\","
	    "\"ops\":[]}", 0, NULL);
	json_t *b = json_loads("{\"schema\":\"felhom.signed-ops/v1\","
	    "\"ops\":{}}", 0, NULL);
	struct hub_signed_ops so;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(hub_signed_ops_parse(a, &so, &err), ERR_PROTOCOL);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	err_init(&err);
	ck_assert_int_eq(hub_signed_ops_parse(b, &so, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, "ops"));
	json_decref(a);
	json_decref(b);
}
END_TEST

/* ---- desired validation ---------------------------------------------- */

static const struct {
	const char	*name;
	const char	*guests;	/* the guests array text */
	const char	*frag;
} bad_guests[] = {
	{ "vmid below 100", "[{\"vmid\":99,\"state\":\"running\"}]", "vmid" },
	{ "vmid above max", "[{\"vmid\":1000000000,\"state\":\"running\"}]",
	    "vmid" },
	{ "vmid string", "[{\"vmid\":\"101\",\"state\":\"running\"}]", "vmid" },
	{ "duplicate vmid", "[{\"vmid\":101,\"state\":\"running\"},"
	    "{\"vmid\":101,\"state\":\"stopped\"}]", "twice" },
	{ "unknown state", "[{\"vmid\":101,\"state\":\"paused\"}]", "state" },
	{ "missing state", "[{\"vmid\":101}]", "state" },
	{ "spec unknown key", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"cpulimit\":2}}]", "cpulimit" },
	{ "spec cores string", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"cores\":\"2\"}}]", "cores" },
	{ "spec memory zero", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"memory_mib\":0}}]", "memory_mib" },
	{ "spec onboot 1", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"onboot\":1}}]", "onboot" },
	{ "spec tags string", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"tags\":\"a;b\"}}]", "tags" },
	{ "spec tag with semicolon", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"tags\":[\"a;b\"]}}]", "tags[0]" },
	{ "spec features not bool", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"features\":{\"nesting\":1}}}]", "features" },
	{ "spec not object", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":[]}]", "spec" },
	{ "bind mount relative", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"bind_mounts\":[{\"host_path\":\"data\","
	    "\"path\":\"/d\"}]}}]", "bind_mounts[0]" },
	{ "bind mount injection", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"bind_mounts\":[{\"host_path\":\"/mnt/a,mp=/etc\","
	    "\"path\":\"/d\"}]}}]", "absolute paths" },
	{ "bind mount traversal", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"bind_mounts\":[{\"host_path\":\"/mnt/../etc\","
	    "\"path\":\"/d\"}]}}]", "absolute paths" },
	{ "bind mount extra key", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"bind_mounts\":[{\"host_path\":\"/mnt/a\","
	    "\"path\":\"/d\",\"acl\":1}]}}]", "acl" },
	{ "bind mount path twice", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"bind_mounts\":[{\"host_path\":\"/mnt/a\","
	    "\"path\":\"/d\"},{\"host_path\":\"/mnt/b\",\"path\":"
	    "\"/d\"}]}}]", "appears twice" },
	{ "usb id bad form", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"usb_devices\":[\"046d-c52b\"]}}]",
	    "usb_devices[0]: USB id '046d-c52b' is neither" },
	{ "usb id injection", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"usb_devices\":[\"1-1;reboot\"]}}]",
	    "neither vendor:product" },
	{ "usb id not string", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"usb_devices\":[1]}}]", "usb_devices[0]" },
	{ "usb id twice", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"usb_devices\":[\"046d:c52b\",\"046D:C52B\"]}}]",
	    "appears twice" },
	{ "usb ids over the cap", "[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"usb_devices\":[\"1-1\",\"1-2\",\"1-3\",\"1-4\","
	    "\"1-5\",\"1-6\",\"1-7\",\"1-8\",\"1-9\",\"1-10\",\"1-11\","
	    "\"1-12\",\"1-13\",\"1-14\",\"1-15\",\"1-16\",\"1-17\"]}}]",
	    "more than 16" },
	{ "provision missing rootfs_gib", "[{\"vmid\":101,\"state\":"
	    "\"running\",\"provision\":{\"template\":\"t\",\"storage\":"
	    "\"s\"}}]", "rootfs_gib" },
	{ "provision extra key", "[{\"vmid\":101,\"state\":\"running\","
	    "\"provision\":{\"template\":\"t\",\"storage\":\"s\","
	    "\"rootfs_gib\":8,\"x\":1}}]", "provision.x" },
	{ "restore missing storage", "[{\"vmid\":101,\"state\":\"running\","
	    "\"restore\":{\"archive\":\"a\"}}]", "storage" },
	{ "rollback empty name", "[{\"vmid\":101,\"state\":\"running\","
	    "\"rollback\":{\"snapshot\":\"\"}}]", "snapshot" },
	{ "guest not object", "[101]", "guests[0]" },
};

START_TEST(desired_bad_guest_rejects_whole_document)
{
	char text[1024];
	json_t *doc;
	int64_t gen = -1;
	struct err err;

	(void) snprintf(text, sizeof(text), "{\"schema\":\"felhom.desired/v1\","
	    "\"host_id\":\"pve-01\",\"generation\":3,\"guests\":%s}",
	    bad_guests[_i].guests);
	ck_assert_ptr_nonnull(doc = json_loads(text, 0, NULL));
	err_init(&err);
	ck_assert_msg(hub_desired_check(doc, "pve-01", 0, &gen, &err) != 0,
	    "%s accepted", bad_guests[_i].name);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	ck_assert_msg(strstr(err.msg, bad_guests[_i].frag) != NULL,
	    "%s: '%s' lacks '%s'", bad_guests[_i].name, err.msg,
	    bad_guests[_i].frag);
	ck_assert_int_eq(gen, -1);
	json_decref(doc);
}
END_TEST

START_TEST(desired_usb_devices_in_both_forms_are_accepted)
{
	json_t *doc = json_loads("{\"schema\":\"felhom.desired/v1\","
	    "\"host_id\":\"pve-01\",\"generation\":3,\"guests\":[{\"vmid\":"
	    "101,\"state\":\"running\",\"spec\":{\"usb_devices\":["
	    "\"046d:c52b\",\"1-1.2\",\"2-3\"]}}]}", 0, NULL);
	int64_t gen = -1;
	struct err err;

	ck_assert_ptr_nonnull(doc);
	err_init(&err);
	ck_assert_msg(hub_desired_check(doc, "pve-01", 0, &gen, &err) == 0,
	    "%s", err.msg);
	ck_assert_int_eq(gen, 3);
	json_decref(doc);
}
END_TEST

START_TEST(desired_other_host_is_rejected)
{
	json_t *doc = fixture("desired.json");
	int64_t gen;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(hub_desired_check(doc, "pve-02", 0, &gen, &err),
	    ERR_PROTOCOL);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not this host"));
	json_decref(doc);
}
END_TEST

START_TEST(desired_old_generation_is_rejected)
{
	json_t *doc = fixture("desired.json");
	int64_t gen;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(hub_desired_check(doc, "pve-01", 13, &gen, &err),
	    ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "backwards"));
	json_decref(doc);
}
END_TEST

START_TEST(desired_restore_tests_shape_is_checked)
{
	static const char *const bad[] = {
		"[{\"vmid\":101,\"every_hours\":0,\"scratch_vmids\":[9000,9099],"
		    "\"storage\":\"s\"}]",
		"[{\"vmid\":101,\"every_hours\":24,\"scratch_vmids\":[9099,9000],"
		    "\"storage\":\"s\"}]",
		"[{\"vmid\":101,\"every_hours\":24,\"scratch_vmids\":[9000],"
		    "\"storage\":\"s\"}]",
		"[{\"vmid\":101,\"every_hours\":24,\"scratch_vmids\":[9000,9099]}]",
		"{}",
	};
	char text[1024];
	json_t *doc;
	size_t i;
	int64_t gen;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		(void) snprintf(text, sizeof(text), "{\"schema\":"
		    "\"felhom.desired/v1\",\"host_id\":\"pve-01\","
		    "\"generation\":3,\"guests\":[],\"restore_tests\":%s}",
		    bad[i]);
		ck_assert_ptr_nonnull(doc = json_loads(text, 0, NULL));
		ck_assert_msg(hub_desired_check(doc, "pve-01", 0, &gen,
		    NULL) != 0, "accepted %s", bad[i]);
		json_decref(doc);
	}
}
END_TEST

START_TEST(desired_wrong_schema_and_missing_keys_are_rejected)
{
	static const char *const bad[] = {
		"{\"schema\":\"felhom.desired/v2\",\"host_id\":\"pve-01\","
		    "\"generation\":1,\"guests\":[]}",
		"{\"host_id\":\"pve-01\",\"generation\":1,\"guests\":[]}",
		"{\"schema\":\"felhom.desired/v1\",\"generation\":1,"
		    "\"guests\":[]}",
		"{\"schema\":\"felhom.desired/v1\",\"host_id\":\"pve-01\","
		    "\"guests\":[]}",
		"{\"schema\":\"felhom.desired/v1\",\"host_id\":\"pve-01\","
		    "\"generation\":1}",
		"[]",
	};
	json_t *doc;
	size_t i;
	int64_t gen;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_ptr_nonnull(doc = json_loads(bad[i], 0, NULL));
		ck_assert_msg(hub_desired_check(doc, "pve-01", 0, &gen,
		    NULL) != 0, "accepted %s", bad[i]);
		json_decref(doc);
	}
}
END_TEST

/* Randomized: mutated fixtures never crash a parser; verdicts are typed. */
START_TEST(parsers_survive_random_mutations)
{
	static const char *const names[] = { "desired.json",
	    "control-envelope.json", "signed-ops.json",
	    "control-envelope-blocked.json" };
	struct hub_signed_ops so;
	struct hub_envelope env;
	char *text, *m;
	size_t len, i, k;
	json_t *doc;
	int64_t gen;
	struct err err;
	int rc;

	srandom(4242);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char rel[128];

		(void) snprintf(rel, sizeof(rel), "hub/%s", names[i]);
		ck_assert_ptr_nonnull(text = tu_read_file(tu_fixture(rel),
		    &len));
		ck_assert_ptr_nonnull(m = malloc(len + 1));
		for (k = 0; k < 3000; k++) {
			size_t j, flips = 1 + (size_t)random() % 4;

			memcpy(m, text, len + 1);
			for (j = 0; j < flips; j++)
				m[(size_t)random() % len] =
				    "{}[]\",:0123456789-aZ \\nt"[random() % 25];
			if ((doc = json_loadb(m, len, 0, NULL)) == NULL)
				continue;
			err_init(&err);
			rc = hub_desired_check(doc, "pve-01", 0, &gen, &err);
			ck_assert(rc == 0 || (err.code == rc && err.reason != 0));
			err_init(&err);
			rc = hub_envelope_parse(doc, &env, &err);
			ck_assert(rc == 0 || err.code == rc);
			err_init(&err);
			if (hub_signed_ops_parse(doc, &so, &err) == 0)
				hub_signed_ops_reset(&so);
			json_decref(doc);
		}
		free(m);
		free(text);
	}
}
END_TEST

/* ---- base64 --------------------------------------------------------- */

static const struct {
	const char	*in;
	const char	*out;	/* NULL = must be refused */
} b64v[] = {
	{ "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" },
	{ "Zm9vYg==", "foob" }, { "Zm9vYmE=", "fooba" },
	{ "Zm9vYmFy", "foobar" },
	{ "", NULL }, { "Zg=", NULL }, { "Zh==", NULL }, { "Zm9=", NULL },
	{ "Zm 9v", NULL }, { "Z===", NULL }, { "Zm=v", NULL },
	{ "QQ=A", NULL }, { "Zm9v\n", NULL }, { "Zm-_", NULL },
};

START_TEST(b64_decode_is_strict)
{
	uint8_t *out = NULL;
	size_t n = 0;
	int rc;

	rc = hub_b64_decode(b64v[_i].in, strlen(b64v[_i].in), &out, &n);
	if (b64v[_i].out == NULL) {
		ck_assert_msg(rc == ERR_FORMAT, "'%s' accepted", b64v[_i].in);
		return;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(n, strlen(b64v[_i].out));
	ck_assert_mem_eq(out, b64v[_i].out, n);
	free(out);
}
END_TEST

/* ---- against hub-sim -------------------------------------------------- */

static struct tu_sim hub;
static struct hub_client *client;
static const char *token;
static char errlog[65536];	/* every error message of the run */

static void
note(const struct err *err)
{
	size_t n = strlen(errlog);

	(void) snprintf(errlog + n, sizeof(errlog) - n, "%s\n", err->msg);
}

static void
sim_setup(void)
{
	struct hub_options o;
	struct err err;

	ck_assert_int_eq(https_global_init(NULL), 0);
	ck_assert_int_eq(tu_hub_sim_start(&hub, (const char *const[]){
	    "--quiet", NULL }), 0);
	token = tu_sim_str(&hub, "token");
	memset(&o, 0, sizeof(o));
	o.url = tu_sim_str(&hub, "url");
	o.token = token;
	o.ca_file = hub.ca_file;
	o.timeout_ms = 3000;
	err_init(&err);
	ck_assert_msg(hub_client_new(&o, &client, &err) == 0, "%s", err.msg);
	errlog[0] = '\0';
}

static void
sim_teardown(void)
{
	/* the token is in no error message of the whole test. */
	ck_assert_msg(token == NULL || strstr(errlog, token) == NULL,
	    "token leaked into an error");
	hub_client_free(client);
	client = NULL;
	tu_sim_stop(&hub);
}

static const char REPORT[] = "{\"schema\":\"felhom.host-report/v1\","
    "\"host_id\":\"pve-01\",\"seq\":1,\"audit\":[{\"seq\":7}]}";

static int
post(struct hub_envelope *env, struct err *err)
{
	int rc;

	err_init(err);
	rc = hub_post_report(client, REPORT, strlen(REPORT), env, err);
	if (rc != 0)
		note(err);
	return rc;
}

static void
fault(const char *json)
{
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/fault", json, NULL),
	    200);
}

START_TEST(report_round_trip_sends_contract_headers)
{
	struct hub_envelope env;
	struct err err;
	json_t *reqs, *r;

	ck_assert_msg(post(&env, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(env.poll_interval_s, 300);
	ck_assert_int_eq(env.has_audit_ack_seq, 1);
	ck_assert_int_eq(env.audit_ack_seq, 7);
	reqs = tu_sim_json(&hub, "GET", "/_sim/requests", NULL);
	ck_assert_uint_eq(json_array_size(reqs), 1);
	r = json_array_get(reqs, 0);
	ck_assert_str_eq(json_string_value(json_object_get(r, "user_agent")),
	    "felhom-agent/" FELHOM_VERSION);
	ck_assert_str_eq(json_string_value(json_object_get(r, "accept")),
	    "application/json");
	ck_assert(json_is_true(json_object_get(r, "authorized")));
	json_decref(reqs);
}
END_TEST

static const struct {
	const char	*fault;
	int		 code;
	int		 reason;
	long		 status;
	const char	*frag;
} faults[] = {
	{ "{\"kind\":\"401\"}", ERR_AUTH, HUB_E_AUTH, 401, "refused" },
	{ "{\"kind\":\"403\",\"message\":\"host disabled\"}", ERR_PERMISSION,
	    HUB_E_AUTH, 403, "host disabled" },
	{ "{\"kind\":\"429\",\"retry_after\":7}", ERR_HTTP,
	    HUB_E_RETRY_AFTER, 429, "retry after 7 s" },
	{ "{\"kind\":\"503\",\"retry_after\":9000}", ERR_HTTP,
	    HUB_E_RETRY_AFTER, 503, "retry after 3600 s" },
	{ "{\"kind\":\"503\"}", ERR_HTTP, HUB_E_HTTP, 503, "HTTP 503" },
	{ "{\"kind\":\"status\",\"status\":500}", ERR_HTTP, HUB_E_HTTP, 500,
	    "HTTP 500" },
	{ "{\"kind\":\"status\",\"status\":404,\"message\":\"no\\nsuch\\u0001"
	    "host\"}", ERR_HTTP, HUB_E_HTTP, 404, "no\\nsuch\\x01host" },
	{ "{\"kind\":\"status\",\"status\":400,\"message\":\"bad report\"}",
	    ERR_HTTP, HUB_E_HTTP, 400, "bad report" },
	{ "{\"kind\":\"drop\"}", ERR_TRANSPORT, HUB_E_TRANSPORT, 0, "" },
	{ "{\"kind\":\"slow\",\"delay_ms\":5000}", ERR_TRANSPORT,
	    HUB_E_TRANSPORT, 0, "" },
	{ "{\"kind\":\"invalid_json\"}", ERR_FORMAT, HUB_E_PROTOCOL, 0,
	    "invalid JSON" },
	{ "{\"kind\":\"wrong_content_type\"}", ERR_PROTOCOL, HUB_E_PROTOCOL,
	    200, "content type" },
	{ "{\"kind\":\"oversize\"}", ERR_TOO_LARGE, HUB_E_PROTOCOL, 0, "" },
	{ "{\"kind\":\"oversize\",\"no_content_length\":true}", ERR_TOO_LARGE,
	    HUB_E_PROTOCOL, 0, "" },
	{ "{\"kind\":\"wrong_schema\"}", ERR_PROTOCOL, HUB_E_PROTOCOL, 200,
	    "felhom.wrong-schema/v1" },
};

START_TEST(report_fault_gives_typed_error_then_next_succeeds)
{
	struct hub_envelope env;
	struct err err;
	int rc;

	fault(faults[_i].fault);
	rc = post(&env, &err);
	ck_assert_msg(rc == faults[_i].code, "%s: rc %d (%s) msg %s",
	    faults[_i].fault, rc, err_name(rc), err.msg);
	ck_assert_int_eq(err.code, faults[_i].code);
	ck_assert_msg(err.reason == faults[_i].reason, "%s: reason %s",
	    faults[_i].fault, hub_error_name(err.reason));
	ck_assert_int_eq(err.status, faults[_i].status);
	ck_assert_msg(strstr(err.msg, faults[_i].frag) != NULL,
	    "'%s' lacks '%s'", err.msg, faults[_i].frag);
	if (faults[_i].reason == HUB_E_RETRY_AFTER)
		ck_assert_int_eq(hub_retry_after_s(client),
		    faults[_i].status == 429 ? 7 : 3600);
	else
		ck_assert_int_eq(hub_retry_after_s(client), -1);
	ck_assert_msg(post(&env, &err) == 0, "after %s: %s",
	    faults[_i].fault, err.msg);
}
END_TEST

START_TEST(wrong_token_is_auth_error_and_never_printed)
{
	struct hub_client *bad = NULL;
	struct hub_envelope env;
	struct hub_options o;
	struct err err;
	const char *secret = "fh_wrong_token_1234567890";

	memset(&o, 0, sizeof(o));
	o.url = tu_sim_str(&hub, "url");
	o.token = secret;
	o.ca_file = hub.ca_file;
	ck_assert_int_eq(hub_client_new(&o, &bad, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(hub_post_report(bad, REPORT, strlen(REPORT), &env,
	    &err), ERR_AUTH);
	ck_assert_int_eq(err.reason, HUB_E_AUTH);
	ck_assert_ptr_null(strstr(err.msg, secret));
	note(&err);
	hub_client_free(bad);
}
END_TEST

START_TEST(untrusted_certificate_is_transport_error)
{
	struct hub_client *c = NULL;
	struct hub_envelope env;
	struct hub_options o;
	struct err err;

	memset(&o, 0, sizeof(o));
	o.url = tu_sim_str(&hub, "url");
	o.token = token;
	o.ca_file = NULL;	/* system roots do not know the sim's CA */
	ck_assert_int_eq(hub_client_new(&o, &c, NULL), 0);
	err_init(&err);
	ck_assert_int_ne(hub_post_report(c, REPORT, strlen(REPORT), &env,
	    &err), 0);
	ck_assert_int_eq(err.reason, HUB_E_TRANSPORT);
	ck_assert(err.code == ERR_TLS || err.code == ERR_TRANSPORT);
	note(&err);
	hub_client_free(c);
}
END_TEST

START_TEST(desired_204_200_304_and_spoiled_answers)
{
	char *doc = tu_read_file(tu_fixture("hub/desired.json"), NULL);
	json_t *d = NULL;
	char *etag = NULL, *etag2 = NULL;
	int64_t gen;
	struct err err;
	int rc;

	err_init(&err);
	ck_assert_int_eq(hub_get_desired(client, NULL, &d, &etag, &err),
	    HUB_NO_CONTENT);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/desired", doc,
	    NULL), 200);
	ck_assert_int_eq(hub_get_desired(client, NULL, &d, &etag, &err), 0);
	ck_assert_ptr_nonnull(etag);
	ck_assert_int_eq(hub_desired_check(d, "pve-01", 0, &gen, NULL), 0);
	ck_assert_int_eq(gen, 12);
	json_decref(d);
	d = NULL;
	ck_assert_int_eq(hub_get_desired(client, etag, &d, &etag2, &err),
	    HUB_NOT_MODIFIED);
	ck_assert_ptr_null(d);
	/* Another host's document parses, and the check refuses it. */
	fault("{\"endpoint\":\"desired\",\"kind\":\"other_host\"}");
	ck_assert_int_eq(hub_get_desired(client, etag, &d, &etag2, &err), 0);
	ck_assert_int_eq(hub_desired_check(d, "pve-01", 0, &gen, &err),
	    ERR_PROTOCOL);
	note(&err);
	json_decref(d);
	free(etag2);
	d = NULL;
	etag2 = NULL;
	fault("{\"endpoint\":\"desired\",\"kind\":\"old_generation\"}");
	ck_assert_int_eq(hub_get_desired(client, etag, &d, &etag2, &err), 0);
	err_init(&err);
	ck_assert_int_eq(hub_desired_check(d, "pve-01", 12, &gen, &err),
	    ERR_PROTOCOL);
	note(&err);
	json_decref(d);
	free(etag2);
	d = NULL;
	etag2 = NULL;
	fault("{\"endpoint\":\"desired\",\"kind\":\"wrong_schema\"}");
	err_init(&err);
	rc = hub_get_desired(client, etag, &d, &etag2, &err);
	ck_assert_int_eq(rc, ERR_PROTOCOL);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	note(&err);
	free(etag);
	free(doc);
}
END_TEST

START_TEST(signed_ops_fixture_round_trip)
{
	char *doc = tu_read_file(tu_fixture("hub/signed-ops.json"),
	    NULL);
	struct hub_signed_ops so;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(hub_get_signed_ops(client, &so, &err),
	    HUB_NO_CONTENT);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops", doc,
	    NULL), 200);
	fault("{\"endpoint\":\"signed-ops\",\"kind\":\"invalid_json\"}");
	ck_assert_int_eq(hub_get_signed_ops(client, &so, &err), ERR_FORMAT);
	ck_assert_int_eq(err.reason, HUB_E_PROTOCOL);
	note(&err);
	err_init(&err);
	ck_assert_msg(hub_get_signed_ops(client, &so, &err) == 0, "%s",
	    err.msg);
	ck_assert_uint_eq(so.n, 2);
	ck_assert_str_eq(so.ops[1].op_ref, "op-000123");
	/* v1.1: each entry has its seq and is served until acknowledged. */
	ck_assert_int_gt(so.ops[0].seq, 0);
	ck_assert_int_eq(so.ops[1].seq, so.ops[0].seq + 1);
	hub_signed_ops_reset(&so);
	ck_assert_int_eq(hub_get_signed_ops(client, &so, &err), 0);
	ck_assert_uint_eq(so.n, 2);
	hub_signed_ops_reset(&so);
	/* A v1 hub: no seq, served once. */
	ck_assert_int_eq(tu_sim_call(&hub, "DELETE", "/_sim/signed-ops", NULL,
	    NULL), 200);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops",
	    "{\"delivery\":\"once\"}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops", doc,
	    NULL), 200);
	ck_assert_int_eq(hub_get_signed_ops(client, &so, &err), 0);
	ck_assert_int_eq(so.ops[0].seq, 0);
	hub_signed_ops_reset(&so);
	ck_assert_int_eq(hub_get_signed_ops(client, &so, &err),
	    HUB_NO_CONTENT);
	ck_assert_int_eq(tu_sim_call(&hub, "POST", "/_sim/signed-ops",
	    "{\"delivery\":\"ack\"}", NULL), 200);
	free(doc);
}
END_TEST

static Suite *
hub_suite(void)
{
	Suite *s = suite_create("hub");
	TCase *tc;

	tc = tcase_create("fixtures");
	tcase_add_test(tc, envelope_fixture_full_parses);
	tcase_add_test(tc, envelope_fixture_minimal_leaves_optional_keys_absent);
	tcase_add_test(tc, envelope_fixture_blocked_ignores_unknown_keys);
	tcase_add_test(tc, desired_fixture_validates);
	tcase_add_test(tc, signed_ops_fixture_parses_every_entry);
	tcase_add_test(tc, golden_report_schema_is_the_contract_one);
	suite_add_tcase(s, tc);

	tc = tcase_create("parsers");
	tcase_add_loop_test(tc, envelope_bad_shapes_are_protocol_errors, 0,
	    (int)(sizeof(bad_envelopes) / sizeof(bad_envelopes[0])));
	tcase_add_test(tc, signed_ops_bad_entry_is_flagged_others_kept);
	tcase_add_test(tc, signed_ops_wrong_schema_or_ops_is_protocol_error);
	tcase_add_test(tc, signed_ops_seq_is_a_positive_integer);
	tcase_add_loop_test(tc, desired_bad_guest_rejects_whole_document, 0,
	    (int)(sizeof(bad_guests) / sizeof(bad_guests[0])));
	tcase_add_test(tc, desired_usb_devices_in_both_forms_are_accepted);
	tcase_add_test(tc, desired_other_host_is_rejected);
	tcase_add_test(tc, desired_old_generation_is_rejected);
	tcase_add_test(tc, desired_restore_tests_shape_is_checked);
	tcase_add_test(tc, desired_wrong_schema_and_missing_keys_are_rejected);
	tcase_add_test(tc, parsers_survive_random_mutations);
	tcase_add_loop_test(tc, b64_decode_is_strict, 0,
	    (int)(sizeof(b64v) / sizeof(b64v[0])));
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("sim");
	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_add_test(tc, report_round_trip_sends_contract_headers);
	tcase_add_loop_test(tc, report_fault_gives_typed_error_then_next_succeeds,
	    0, (int)(sizeof(faults) / sizeof(faults[0])));
	tcase_add_test(tc, wrong_token_is_auth_error_and_never_printed);
	tcase_add_test(tc, untrusted_certificate_is_transport_error);
	tcase_add_test(tc, desired_204_200_304_and_spoiled_answers);
	tcase_add_test(tc, signed_ops_fixture_round_trip);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hub_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
