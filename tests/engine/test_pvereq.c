/*
 * test_pvereq — the one builder of a set_config's PUT form: only
 * container options come from the op's params, PVE's request-level
 * parameters never do, the agent's own (digest) only from the internal
 * struct; the form is exactly what is expected, key by key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "authz/codes.h"
#include "authz/lxcopt.h"
#include "engine/pvereq.h"

static json_t *
load(const char *text)
{
	json_t *j = json_loads(text, JSON_ALLOW_NUL, NULL);

	ck_assert_msg(j != NULL, "bad test JSON: %s", text);
	return j;
}

/* The form as "k=v" lines sorted, for an exact comparison. */
static char *
form_text(const struct pvereq *r)
{
	char *lines[PVEREQ_MAX_PARAMS], *out, *t;
	size_t i, j, len = 1;

	ck_assert_uint_le(r->n, PVEREQ_MAX_PARAMS);
	for (i = 0; i < r->n; i++) {
		ck_assert_int_gt(asprintf(&lines[i], "%s=%s", r->p[i].key,
		    r->p[i].value), 0);
		len += strlen(lines[i]) + 1;
	}
	for (i = 1; i < r->n; i++)
		for (j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			t = lines[j];
			lines[j] = lines[j - 1];
			lines[j - 1] = t;
		}
	out = calloc(1, len);
	ck_assert_ptr_nonnull(out);
	for (i = 0; i < r->n; i++) {
		strcat(out, lines[i]);
		strcat(out, i + 1 < r->n ? "&" : "");
		free(lines[i]);
	}
	return out;
}

static const struct {
	const char	*params;
	const char	*digest;
	const char	*form;		/* sorted "k=v&..." */
} good[] = {
	{ "{\"set\":{\"cores\":2}}", NULL, "cores=2" },
	{ "{\"set\":{\"onboot\":true,\"protection\":false}}", NULL,
	    "onboot=1&protection=0" },
	{ "{\"set\":{\"cpulimit\":1.5,\"memory\":\"2048\"}}", NULL,
	    "cpulimit=1.5&memory=2048" },
	{ "{\"set\":{\"tags\":\"a;b\",\"description\":\"x&delete=mp0\"}}",
	    NULL, "description=x&delete=mp0&tags=a;b" },
	{ "{\"delete\":[\"tags\",\"description\"]}", NULL,
	    "delete=tags,description" },
	{ "{\"set\":{\"hostname\":\"h\"},\"delete\":[\"mp0\"]}", NULL,
	    "delete=mp0&hostname=h" },
	{ "{\"set\":{\"net31\":\"name=eth0\",\"mp255\":\"local:1\"}}", NULL,
	    "mp255=local:1&net31=name=eth0" },
	/* The agent's own request-level parameter, never the op's. */
	{ "{\"set\":{\"cores\":1}}", "0123456789abcdef0123456789abcdef01234567",
	    "cores=1&digest=0123456789abcdef0123456789abcdef01234567" },
};

START_TEST(set_config_form_is_exact)
{
	struct pvereq r;
	struct pvereq_internal in;
	struct err err;
	json_t *p = load(good[_i].params);
	char *form;

	memset(&r, 0, sizeof(r));
	memset(&in, 0, sizeof(in));
	in.digest = good[_i].digest;
	err_init(&err);
	ck_assert_msg(pvereq_set_config(p, &in, &r, &err) == 0, "%s: %s",
	    good[_i].params, err_msg(&err));
	form = form_text(&r);
	ck_assert_str_eq(form, good[_i].form);
	free(form);
	pvereq_reset(&r);
	json_decref(p);
}
END_TEST

static const struct {
	const char	*params;
	const char	*msg;
} bad[] = {
	{ "{\"set\":{\"delete\":\"mp0,unused0\"}}",
	    "params.set: 'delete' is not a container option" },
	{ "{\"set\":{\"revert\":\"mp0\"}}", "'revert' is not a container" },
	{ "{\"set\":{\"digest\":\"ab\"}}", "'digest' is not a container" },
	{ "{\"set\":{\"node\":\"pve-02\"}}", "'node' is not a container" },
	{ "{\"set\":{\"vmid\":101}}", "'vmid' is not a container" },
	{ "{\"set\":{\"force\":1}}", "'force' is not a container" },
	{ "{\"set\":{\"skiplock\":1}}", "'skiplock' is not a container" },
	{ "{\"set\":{\"Cores\":1}}", "'Cores' is not a container" },
	/* After a good key: nothing of it stays behind. */
	{ "{\"set\":{\"cores\":1,\"delete\":\"mp0\"}}",
	    "'delete' is not a container" },
	{ "{\"set\":{\"cores\":1,\"memory\":[1]}}",
	    "params.set.memory: expected" },
	{ "{\"set\":{\"cores\":1},\"delete\":[\"tags\",\"mp0,x\"]}",
	    "params.delete[1]" },
	{ "{\"set\":{\"DELETE\":\"mp0\"}}", "'DELETE' is not a container" },
	{ "{\"set\":{\"parent\":\"s\"}}", "'parent' is not a container" },
	{ "{\"set\":{\"snaptime\":1}}", "'snaptime' is not a container" },
	{ "{\"set\":{\"lxc\":\"x\"}}", "'lxc' is not a container" },
	{ "{\"set\":{\"mp01\":\"x\"}}", "'mp01' is not a container" },
	{ "{\"set\":{\"net32\":\"x\"}}", "'net32' is not a container" },
	{ "{\"set\":{\"cores\":[1]}}", "params.set.cores: expected" },
	{ "{\"set\":{\"cores\":{\"a\":1}}}", "params.set.cores: expected" },
	{ "{\"set\":{\"cores\":null}}", "params.set.cores: expected" },
	{ "{\"set\":{\"description\":\"a\\u0000&delete=mp0\"}}",
	    "contains a NUL byte" },
	{ "{\"set\":[[\"delete\",\"mp0\"]]}", "params.set: expected an object" },
	{ "{\"delete\":\"mp0\"}", "params.delete: expected an array" },
	{ "{\"delete\":[\"mp0,unused0\"]}",
	    "params.delete[0]: 'mp0,unused0' is not a container option" },
	{ "{\"delete\":[\"mp0;unused0\"]}", "is not a container option" },
	{ "{\"delete\":[\"mp0 unused0\"]}", "is not a container option" },
	{ "{\"delete\":[\"mp0\\tunused0\"]}", "is not a container option" },
	{ "{\"delete\":[\"mp0\\u0000unused0\"]}", "is not a container option" },
	{ "{\"delete\":[[\"mp0\"]]}", "params.delete[0]: expected a string" },
	{ "{\"delete\":[\"mp0\",\"mp0\"]}", "listed twice" },
	{ "{\"set\":{\"cores\":1},\"delete\":[\"cores\"]}", "both set and" },
	{ "{\"set\":{},\"delete\":[]}", "changes nothing" },
	{ "{}", "changes nothing" },
	{ "{\"set\":{\"cores\":1},\"revert\":\"mp0\"}",
	    "params.revert: unknown key" },
	{ "[]", "params: expected an object" },
};

START_TEST(set_config_refuses_what_no_option_is)
{
	struct pvereq r;
	struct err err;
	json_t *p = load(bad[_i].params);

	memset(&r, 0, sizeof(r));
	err_init(&err);
	ck_assert_int_eq(pvereq_set_config(p, NULL, &r, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_BAD_BLOB);
	ck_assert_msg(strstr(err_msg(&err), bad[_i].msg) != NULL,
	    "%s: message '%s' lacks '%s'", bad[_i].params, err_msg(&err),
	    bad[_i].msg);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_ptr_null(r.vals);
	json_decref(p);
}
END_TEST

START_TEST(set_config_internal_digest_is_checked)
{
	static const char *const digests[] = { "", "ABCDEF",
	    "0123456789abcdef0123456789abcdef012345678", "12 34", NULL };
	struct pvereq r;
	struct pvereq_internal in;
	struct err err;
	json_t *p = load("{\"set\":{\"cores\":1}}");
	size_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; digests[i] != NULL; i++) {
		memset(&in, 0, sizeof(in));
		in.digest = digests[i];
		err_init(&err);
		ck_assert_int_eq(pvereq_set_config(p, &in, &r, &err),
		    ERR_REJECTED);
		ck_assert_ptr_nonnull(strstr(err_msg(&err), "digest"));
	}
	json_decref(p);
}
END_TEST

/* pve-container src/PVE/LXC/Config.pm, $confdesc. */
START_TEST(options_are_the_lxc_schema)
{
	static const char *const yes[] = { "arch", "cmode", "console", "cores",
	    "cpulimit", "cpuunits", "debug", "description", "entrypoint",
	    "env", "features", "hookscript", "hostname", "lock", "memory",
	    "nameserver", "onboot", "ostype", "protection", "rootfs",
	    "searchdomain", "startup", "swap", "tags", "template", "timezone",
	    "tty", "unprivileged", "net0", "net31", "mp0", "mp255", "unused0",
	    "unused255", "dev0", "dev255", NULL };
	static const char *const no[] = { "delete", "revert", "digest",
	    "node", "vmid", "parent", "snaptime", "lxc", "force", "purge",
	    "skiplock", "net32", "mp256", "unused256", "dev256", "mp", "mp-1",
	    "mp00", "mp1a", "MP0", "Cores", "", " cores", "cores ", NULL };
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		ck_assert_msg(lxcopt_is_option(yes[i]), "%s", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		ck_assert_msg(!lxcopt_is_option(no[i]), "%s", no[i]);
	ck_assert(!lxcopt_is_option(NULL));
}
END_TEST

static Suite *
pvereq_suite(void)
{
	Suite *s = suite_create("engine.pvereq");
	TCase *tc = tcase_create("set_config");

	tcase_add_loop_test(tc, set_config_form_is_exact, 0,
	    (int)(sizeof(good) / sizeof(good[0])));
	tcase_add_loop_test(tc, set_config_refuses_what_no_option_is, 0,
	    (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, set_config_internal_digest_is_checked);
	tcase_add_test(tc, options_are_the_lxc_schema);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pvereq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
