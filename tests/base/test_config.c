/*
 * test_config — R-38: every validation error path, environment override
 * precedence, defaults, file checks and redaction of secrets.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "base/config.h"
#include "testutil.h"

#define PVE_SECRET	"0b5e6f1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
#define HUB_SECRET	"fh_live_8c1d0a9e4f7b2c3d"

/* A valid base document; cases patch one thing each. */
static const char base_doc[] =
    "{\"host\":{\"id\":\"pve-01\",\"node\":\"pve-01\"},"
    "\"database\":\"/var/lib/felhom-agent/state.db\","
    "\"pve\":{\"url\":\"https://127.0.0.1:8006/api2/json\","
    "\"token_id\":\"felhom@pve!agent\",\"token_secret\":\"" PVE_SECRET "\"},"
    "\"hub\":{\"mode\":\"on\",\"url\":\"https://hub.example.net/api/agent/v1\","
    "\"token\":\"" HUB_SECRET "\"}}";

/* Applies a JSON merge of `patch` over base_doc and returns the text. */
static char *
patched(const char *patch)
{
	json_t *b = json_loads(base_doc, 0, NULL), *p;
	const char *k, *k2;
	json_t *v, *v2;
	char *s;

	ck_assert_ptr_nonnull(b);
	p = json_loads(patch, 0, NULL);
	ck_assert_msg(p != NULL, "bad patch %s", patch);
	json_object_foreach(p, k, v) {
		json_t *cur = json_object_get(b, k);

		if (json_is_object(v) && json_is_object(cur)) {
			json_object_foreach(v, k2, v2) {
				if (json_is_string(v2) &&
				    strcmp(json_string_value(v2), "<del>") == 0)
					(void) json_object_del(cur, k2);
				else
					(void) json_object_set(cur, k2, v2);
			}
		} else if (json_is_string(v) &&
		    strcmp(json_string_value(v), "<del>") == 0)
			(void) json_object_del(b, k);
		else
			(void) json_object_set(b, k, v);
	}
	s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	json_decref(p);
	return s;
}

struct bad_case {
	const char *patch;
	const char *fragment;
};

static const struct bad_case bad_cases[] = {
	{ "{\"hostt\":{}}", "hostt: unknown key" },
	{ "{\"pve\":{\"tokenid\":\"x\"}}", "pve.tokenid: unknown key" },
	{ "{\"host\":{\"id\":\"<del>\"}}", "host.id: required" },
	{ "{\"host\":{\"id\":\"bad id!\"}}", "host.id: 'bad id!' must be" },
	{ "{\"host\":{\"id\":\"\"}}", "host.id: must not be empty" },
	{ "{\"host\":{\"id\":7}}", "host.id: expected string" },
	{ "{\"database\":\"relative.db\"}", "database: 'relative.db' must be "
	    "an absolute path" },
	{ "{\"pve\":{\"url\":\"http://127.0.0.1:8006\"}}", "pve.url: "
	    "'http://127.0.0.1:8006' must be an https:// URL" },
	{ "{\"pve\":{\"token_id\":\"<del>\"}}", "pve.token_id: required" },
	{ "{\"pve\":{\"token_id\":\"felhom-agent\"}}", "pve.token_id: "
	    "'felhom-agent' is not of the form USER@REALM!TOKENID" },
	{ "{\"pve\":{\"token_secret\":\"<del>\"}}", "pve.token_secret: "
	    "required" },
	{ "{\"pve\":{\"fingerprint\":\"AA:BB\"}}", "pve.fingerprint: expected "
	    "the SHA-256 form" },
	{ "{\"pve\":{\"fingerprint\":\"3C:5A:2B:9F:11:0E:7D:44:AB:90:C2:6E:58:"
	    "F1:07:3D:96:12:BB:E4:0A:7C:D5:81:26:4F:93:E8:5D:C0:1B:AF\","
	    "\"ca_file\":\"/etc/ca.pem\"}}", "give one trust mode, not both" },
	{ "{\"pve\":{\"insecure\":true,\"ca_file\":\"/etc/ca.pem\"}}",
	    "pve.insecure: true cannot be combined with pve.ca_file" },
	{ "{\"pve\":{\"insecure\":\"yes\"}}", "pve.insecure: expected true or "
	    "false" },
	{ "{\"pve\":{\"timeout_s\":0}}", "pve.timeout_s: 0 is out of range" },
	{ "{\"hub\":{\"mode\":\"maybe\"}}", "hub.mode: 'maybe' must be" },
	{ "{\"hub\":{\"url\":\"<del>\"}}", "hub.url: required when hub.mode "
	    "is \"on\"" },
	{ "{\"hub\":{\"url\":\"http://hub.example.net\"}}", "hub.url: "
	    "'http://hub.example.net' must be an https:// URL" },
	{ "{\"hub\":{\"token\":\"<del>\"}}", "hub.token: required when" },
	{ "{\"hub\":{\"mode\":\"off\"}}", "desired_file: required when "
	    "hub.mode is \"off\"" },
	{ "{\"authz\":{\"clock_skew_s\":-1}}", "authz.clock_skew_s: -1 is out "
	    "of range" },
	{ "{\"authz\":{\"max_window_s\":10}}", "authz.max_window_s: 10 is out "
	    "of range" },
	{ "{\"authz\":{\"max_window_s\":3600,\"sign_request_ttl_s\":7200}}",
	    "authz.sign_request_ttl_s: 7200 exceeds authz.max_window_s" },
	{ "{\"authz\":{\"signers\":\"x\"}}", "authz.signers: unknown key" },
	{ "{\"priv\":{\"socket\":5}}", "priv.socket: expected string" },
	{ "{\"priv\":{\"socket\":\"priv.sock\"}}", "priv.socket: "
	    "'priv.sock' must be an absolute path" },
	{ "{\"priv\":{\"mode\":\"yes\"}}", "priv.mode: 'yes' must be" },
	{ "{\"priv\":{\"pct\":\"pct\"}}", "priv.pct: 'pct' must be an "
	    "absolute path" },
	{ "{\"priv\":{\"agent_user\":\"-x\"}}", "priv.agent_user: '-x' "
	    "is not a user name" },
	{ "{\"priv\":{\"vmid_min\":9000,\"vmid_max\":100}}",
	    "priv.vmid_min (9000) is above priv.vmid_max" },
	{ "{\"priv\":{\"timeout_s\":1}}", "priv.timeout_s: 1 is out of "
	    "range" },
	{ "{\"priv\":{\"roots\":\"/x\"}}", "priv.roots: unknown key" },
	{ "{\"restore_tests\":{\"hold_s\":0}}", "restore_tests.hold_s: 0 is "
	    "out of range" },
	{ "{\"log\":{\"level\":\"verbose\"}}", "log.level: 'verbose' must be" },
	{ "{\"log\":{\"format\":\"xml\"}}", "log.format: 'xml' must be" },
	{ "{\"hub\":[]}", "hub: expected object" },
};

START_TEST(config_each_invalid_key_is_named)
{
	const struct bad_case *bc = &bad_cases[_i];
	char *const noenv[] = { NULL };
	struct config *cfg = NULL;
	struct err err;
	char *doc = patched(bc->patch);
	int rc;

	err_init(&err);
	rc = config_load_text(doc, "cfg", noenv, &cfg, &err);
	ck_assert_msg(rc == ERR_CONFIG, "patch %s: rc %d (%s)", bc->patch, rc,
	    err.msg);
	ck_assert_int_eq(err.code, ERR_CONFIG);
	ck_assert_msg(strstr(err.msg, bc->fragment) != NULL,
	    "patch %s: message '%s' lacks '%s'", bc->patch, err.msg,
	    bc->fragment);
	ck_assert_ptr_null(strstr(err.msg, PVE_SECRET));
	ck_assert_ptr_null(strstr(err.msg, HUB_SECRET));
	free(doc);
}
END_TEST

START_TEST(config_defaults_are_filled)
{
	char *const noenv[] = { NULL };
	struct config *cfg = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", noenv, &cfg, &err),
	    0);
	ck_assert_str_eq(cfg->pve_ca_file, CONFIG_DEFAULT_PVE_CA);
	ck_assert_ptr_null(cfg->pve_fingerprint);
	ck_assert_int_eq(cfg->pve_insecure, 0);
	ck_assert_int_eq(cfg->pve_timeout_s, 30);
	ck_assert_int_eq(cfg->authz_clock_skew_s, 120);
	ck_assert_int_eq(cfg->authz_max_window_s, 86400);
	ck_assert_int_eq(cfg->authz_sign_request_ttl_s, 86400);
	ck_assert_str_eq(cfg->priv_socket, "/run/felhom-agent/priv.sock");
	ck_assert_int_eq(cfg->priv_on, 0);
	ck_assert_str_eq(cfg->priv_agent_user, "felhom");
	ck_assert_str_eq(cfg->priv_bind_roots, "/mnt/bindmounts");
	ck_assert_str_eq(cfg->priv_pct, "/usr/sbin/pct");
	ck_assert_str_eq(cfg->priv_smartctl, "/usr/sbin/smartctl");
	ck_assert_str_eq(cfg->priv_sensors, "/usr/bin/sensors");
	ck_assert_str_eq(cfg->priv_sysfs_root, "/sys");
	ck_assert_int_eq(cfg->priv_timeout_s, 3600);
	ck_assert_int_eq(cfg->rt_hold_s, 30);
	ck_assert_int_eq(cfg->hub_on, 1);
	config_free(cfg);
}
END_TEST

START_TEST(config_hub_off_needs_no_hub_keys)
{
	char *const noenv[] = { NULL };
	struct config *cfg = NULL;
	char *doc = patched("{\"hub\":{\"mode\":\"off\",\"url\":\"<del>\","
	    "\"token\":\"<del>\"},\"desired_file\":\"/etc/felhom-agent/"
	    "desired.json\",\"pve\":{\"fingerprint\":\"3c:5a:2b:9f:11:0e:7d:"
	    "44:ab:90:c2:6e:58:f1:07:3d:96:12:bb:e4:0a:7c:d5:81:26:4f:93:e8:"
	    "5d:c0:1b:af\"}}");

	ck_assert_int_eq(config_load_text(doc, "cfg", noenv, &cfg, NULL), 0);
	ck_assert_int_eq(cfg->hub_on, 0);
	ck_assert_ptr_null(cfg->hub_token);
	/* The pin is normalized to the GUI's upper-case form. */
	ck_assert_str_eq(cfg->pve_fingerprint, "3C:5A:2B:9F:11:0E:7D:44:AB:90:"
	    "C2:6E:58:F1:07:3D:96:12:BB:E4:0A:7C:D5:81:26:4F:93:E8:5D:C0:1B:"
	    "AF");
	ck_assert_ptr_null(cfg->pve_ca_file);
	config_free(cfg);
	free(doc);
}
END_TEST

START_TEST(config_environment_overrides_the_file)
{
	char *const env[] = {
		"FELHOM_AGENT_HUB_TOKEN=from-env-token",
		"FELHOM_AGENT_PVE_TIMEOUT_S=45",
		"FELHOM_AGENT_PVE_INSECURE=true",
		"FELHOM_AGENT_HOST_ID=pve-02",
		"FELHOM_AGENT_DATABASE=/tmp/x.db",
		"FELHOM_AGENT_LOG_LEVEL=debug",
		"UNRELATED=1",
		NULL,
	};
	struct config *cfg = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", env, &cfg, &err), 0);
	ck_assert_str_eq(cfg->hub_token, "from-env-token");
	ck_assert_int_eq(cfg->pve_timeout_s, 45);
	ck_assert_int_eq(cfg->pve_insecure, 1);
	ck_assert_ptr_null(cfg->pve_ca_file);
	ck_assert_str_eq(cfg->host_id, "pve-02");
	ck_assert_str_eq(cfg->database, "/tmp/x.db");
	ck_assert_str_eq(cfg->pve_token_secret, PVE_SECRET);
	config_free(cfg);
}
END_TEST

START_TEST(config_environment_errors_are_named)
{
	char *const typo[] = { "FELHOM_AGENT_HUB_TOKN=x", NULL };
	char *const badint[] = { "FELHOM_AGENT_PVE_TIMEOUT_S=soon", NULL };
	char *const badbool[] = { "FELHOM_AGENT_PVE_INSECURE=yes", NULL };
	/* Latin-1, not UTF-8 (found by fuzz_config: was "out of memory"). */
	char *const latin1[] = { "FELHOM_AGENT_PVE_CA_FILE=/etc/pve/ca-\xe9.pem",
	    NULL };
	struct config *cfg = NULL;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", typo, &cfg, &err),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "FELHOM_AGENT_HUB_TOKN is not a "
	    "configuration key"));
	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", badint, &cfg, &err),
	    ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "FELHOM_AGENT_PVE_TIMEOUT_S: "
	    "'soon' is not an integer"));
	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", badbool, &cfg,
	    &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a boolean"));
	err_init(&err);
	ck_assert_int_eq(config_load_text(base_doc, "cfg", latin1, &cfg,
	    &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "FELHOM_AGENT_PVE_CA_FILE: the "
	    "value is not valid UTF-8"));
}
END_TEST

START_TEST(config_file_checks)
{
	char *const noenv[] = { NULL };
	struct config *cfg = NULL;
	char *dir = tu_tmpdir(), path[512];
	struct err err;

	ck_assert_ptr_nonnull(dir);
	(void) snprintf(path, sizeof(path), "%s/config.json", dir);
	/* World-readable with a secret: refused, secret not shown. */
	ck_assert_int_eq(tu_write_file(path, base_doc, strlen(base_doc),
	    0644), 0);
	err_init(&err);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "readable by everyone"));
	ck_assert_ptr_nonnull(strstr(err.msg, "chmod 600"));
	ck_assert_ptr_null(strstr(err.msg, PVE_SECRET));
	/* Group-readable too (issue 10): the group is not the agent. */
	ck_assert_int_eq(chmod(path, 0640), 0);
	err_init(&err);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "readable by its group "
	    "(mode 0640)"));
	/* 0600 is fine. */
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(config_load(path, noenv, &cfg, NULL), 0);
	config_free(cfg);

	/* Duplicate keys and invalid JSON are config errors. */
	ck_assert_int_eq(tu_write_file(path, "{\"database\":\"/a\","
	    "\"database\":\"/b\"}", 34, 0600), 0);
	err_init(&err);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
	ck_assert_int_eq(tu_write_file(path, "{", 1, 0600), 0);
	err_init(&err);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid JSON"));
	/* A missing file says so. */
	err_init(&err);
	(void) snprintf(path, sizeof(path), "%s/none.json", dir);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * the helper reads only the priv section of the same file (no PVE
 * token needed), still refusing unknown keys; as root it trusts only a
 * file nobody else can change.
 */
START_TEST(config_helper_reads_the_priv_section)
{
	static const char doc[] = "{\"priv\":{\"agent_user\":\"1000\","
	    "\"bind_roots\":\"/srv/a,/srv/b\",\"vmid_max\":9999}}";
	char *const noenv[] = { NULL };
	struct config *cfg = NULL;
	char *dir = tu_tmpdir(), path[512];
	struct err err;

	ck_assert_ptr_nonnull(dir);
	(void) snprintf(path, sizeof(path), "%s/config.json", dir);
	ck_assert_int_eq(tu_write_file(path, doc, strlen(doc), 0600), 0);
	err_init(&err);
	ck_assert_msg(config_load_helper(path, noenv, &cfg, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_str_eq(cfg->priv_agent_user, "1000");
	ck_assert_str_eq(cfg->priv_bind_roots, "/srv/a,/srv/b");
	ck_assert_int_eq(cfg->priv_vmid_max, 9999);
	ck_assert_ptr_null(cfg->pve_token_id);
	config_free(cfg);
	/* The agent needs more from the same file. */
	err_init(&err);
	ck_assert_int_eq(config_load(path, noenv, &cfg, &err), ERR_CONFIG);
	ck_assert_int_eq(tu_write_file(path, "{\"priv\":{\"rootz\":1}}", 20,
	    0600), 0);
	err_init(&err);
	ck_assert_int_eq(config_load_helper(path, noenv, &cfg, &err),
	    ERR_CONFIG);
	ck_assert_msg(strstr(err.msg, "priv.rootz: unknown key") != NULL,
	    "%s", err.msg);
	if (geteuid() == 0) {
		/* Writable by its group: root does not take its policy. */
		ck_assert_int_eq(tu_write_file(path, doc, strlen(doc), 0660),
		    0);
		ck_assert_int_eq(chmod(path, 0660), 0);
		err_init(&err);
		ck_assert_int_eq(config_load_helper(path, noenv, &cfg, &err),
		    ERR_CONFIG);
		ck_assert_ptr_nonnull(strstr(err.msg, "owned by root and "
		    "writable by nobody else"));
		ck_assert_int_eq(chmod(path, 0640), 0);
		ck_assert_int_eq(chown(path, 1000, 0), 0);
		err_init(&err);
		ck_assert_int_eq(config_load_helper(path, noenv, &cfg, &err),
		    ERR_CONFIG);
	}
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The real binary: --print-config and its log output never show secrets. */
START_TEST(config_print_config_redacts_every_secret)
{
	char *dir = tu_tmpdir(), path[512], envtok[128];
	char *out = NULL, *errout = NULL;
	const char *argv[] = { tu_bin("felhom-agent"), "--config", path,
	    "--print-config", NULL };
	const char *env[] = { envtok, "FELHOM_AGENT_LOG_LEVEL=debug", NULL };
	json_t *j;
	int status;

	ck_assert_ptr_nonnull(dir);
	(void) snprintf(path, sizeof(path), "%s/config.json", dir);
	(void) snprintf(envtok, sizeof(envtok),
	    "FELHOM_AGENT_HUB_TOKEN=env-secret-token-123");
	ck_assert_int_eq(tu_write_file(path, base_doc, strlen(base_doc),
	    0600), 0);
	ck_assert_int_eq(tu_run(argv, env, NULL, 0, &out, &errout, &status),
	    0);
	ck_assert_msg(status == 0, "exit %d: %s", status, errout);
	ck_assert_ptr_null(strstr(out, PVE_SECRET));
	ck_assert_ptr_null(strstr(out, HUB_SECRET));
	ck_assert_ptr_null(strstr(out, "env-secret-token-123"));
	ck_assert_ptr_null(strstr(errout, PVE_SECRET));
	ck_assert_ptr_null(strstr(errout, "env-secret-token-123"));
	j = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "pve"), "token_secret")), "<redacted>");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "hub"), "token")), "<redacted>");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j,
	    "log"), "level")), "debug");
	json_decref(j);
	free(out);
	free(errout);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, config_each_invalid_key_is_named, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, config_defaults_are_filled);
	tcase_add_test(tc, config_hub_off_needs_no_hub_keys);
	tcase_add_test(tc, config_environment_overrides_the_file);
	tcase_add_test(tc, config_environment_errors_are_named);
	tcase_add_test(tc, config_file_checks);
	tcase_add_test(tc, config_helper_reads_the_priv_section);
	tcase_add_test(tc, config_print_config_redacts_every_secret);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
