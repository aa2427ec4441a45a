/*
 * test_plan — the reconciler as a pure function, on tables of cases
 * (R-22 … R-24): no drift on PVE quirks, each benign action, destructive
 * ones, unmanaged guests, a shrunk list, locks, proven absence.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/json.h"
#include "engine/norm.h"
#include "engine/plan.h"
#include "store/actual.h"
#include "store/desired.h"

struct plan_case {
	const char	*name;
	const char	*desired;	/* JSON array of desired guests */
	const char	*actual;	/* [{vmid, status, lock?, config?}] */
	const char	*previous;	/* vmids seen last time, or NULL */
	const char	*proven;	/* vmids proven absent, or NULL */
	const char	*busy;		/* vmids with ops in flight */
	int		 skipped;
	const char	*expect;	/* "vmid:kind:class ..." in order */
	const char	*notes;		/* "vmid:note ..." */
};

#define WEB_SPEC "{\"hostname\":\"web\",\"memory_mib\":1024," \
    "\"swap_mib\":512,\"onboot\":true,\"description\":\"Web front end\"," \
    "\"tags\":[\"prod\",\"web\"],\"features\":{\"nesting\":true}}"
#define WEB_CONFIG "{\"hostname\":\"web\",\"memory\":1024,\"onboot\":1," \
    "\"description\":\"Web front end\\n\",\"tags\":\"web;prod\"," \
    "\"features\":\"nesting=1\",\"unprivileged\":1,\"cores\":2," \
    "\"digest\":\"abc\"}"

static const struct plan_case cases[] = {
	{ "no drift on round-trip quirks",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":" WEB_SPEC "}]",
	  "[{\"vmid\":101,\"status\":\"running\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "", "" },
	{ "stopped guest desired running is started",
	  "[{\"vmid\":101,\"state\":\"running\"}]",
	  "[{\"vmid\":101,\"status\":\"stopped\"}]",
	  NULL, NULL, NULL, 0, "101:start:benign", "" },
	{ "running guest desired stopped is stopped",
	  "[{\"vmid\":101,\"state\":\"stopped\"}]",
	  "[{\"vmid\":101,\"status\":\"running\"}]",
	  NULL, NULL, NULL, 0, "101:stop:benign", "" },
	{ "config drift is a set_config",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":"
	  "{\"memory_mib\":2048}}]",
	  "[{\"vmid\":101,\"status\":\"running\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "101:set_config:benign", "" },
	{ "set_config comes before the start",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":{\"cores\":4}}]",
	  "[{\"vmid\":101,\"status\":\"stopped\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "101:set_config:benign 101:start:benign", "" },
	{ "stop comes before the set_config",
	  "[{\"vmid\":101,\"state\":\"stopped\",\"spec\":{\"cores\":4}}]",
	  "[{\"vmid\":101,\"status\":\"running\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "101:stop:benign 101:set_config:benign", "" },
	{ "absent is a destroy, destructive",
	  "[{\"vmid\":103,\"state\":\"absent\"}]",
	  "[{\"vmid\":103,\"status\":\"running\"}]",
	  NULL, NULL, NULL, 0, "103:destroy:destructive", "" },
	{ "absent and already gone is nothing",
	  "[{\"vmid\":103,\"state\":\"absent\"}]", "[]",
	  NULL, NULL, NULL, 0, "", "" },
	{ "restore is destructive and alone this cycle",
	  "[{\"vmid\":104,\"state\":\"running\",\"restore\":{\"archive\":"
	  "\"pbs:backup/ct/104/2026-11-27T02:10:00Z\",\"storage\":"
	  "\"local-lvm\"},\"spec\":{\"cores\":8}}]",
	  "[{\"vmid\":104,\"status\":\"stopped\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "104:restore:destructive", "" },
	{ "rollback is destructive",
	  "[{\"vmid\":104,\"state\":\"running\",\"rollback\":{\"snapshot\":"
	  "\"pre-upgrade\"}}]",
	  "[{\"vmid\":104,\"status\":\"running\"}]",
	  NULL, NULL, NULL, 0, "104:rollback:destructive", "" },
	{ "guests not in the desired state are never touched",
	  "[{\"vmid\":101,\"state\":\"running\"}]",
	  "[{\"vmid\":101,\"status\":\"running\"},{\"vmid\":999,\"status\":"
	  "\"stopped\"},{\"vmid\":998,\"status\":\"running\"}]",
	  NULL, NULL, NULL, 0, "", "" },
	{ "a shrunk list skips the cycle",
	  "[{\"vmid\":101,\"state\":\"stopped\"}]",
	  "[{\"vmid\":101,\"status\":\"running\"}]",
	  "[101,102]", NULL, NULL, 1, "", "" },
	{ "a shrink proven by a direct read is planned",
	  "[{\"vmid\":101,\"state\":\"stopped\"}]",
	  "[{\"vmid\":101,\"status\":\"running\"}]",
	  "[101,102]", "[102]", NULL, 0, "101:stop:benign", "" },
	{ "a locked guest is skipped",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":{\"cores\":4}}]",
	  "[{\"vmid\":101,\"status\":\"stopped\",\"lock\":\"backup\","
	  "\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "", "101:locked" },
	{ "a proven-missing guest is provisioned",
	  "[{\"vmid\":105,\"state\":\"running\",\"spec\":{\"hostname\":"
	  "\"build\"},\"provision\":{\"template\":\"local:vztmpl/d.tar.zst\","
	  "\"storage\":\"local-lvm\",\"rootfs_gib\":16}}]", "[]",
	  NULL, "[105]", NULL, 0, "105:provision:benign", "" },
	{ "an unproven absence is not provisioned",
	  "[{\"vmid\":105,\"state\":\"running\",\"provision\":{\"template\":"
	  "\"local:vztmpl/d.tar.zst\",\"storage\":\"local-lvm\"}}]", "[]",
	  NULL, NULL, NULL, 0, "", "105:unproven_absence" },
	{ "a guest with an op in flight waits",
	  "[{\"vmid\":101,\"state\":\"running\"}]",
	  "[{\"vmid\":101,\"status\":\"stopped\"}]",
	  NULL, NULL, "[101]", 0, "", "101:busy" },
	{ "a template is not managed",
	  "[{\"vmid\":106,\"state\":\"running\"}]",
	  "[{\"vmid\":106,\"status\":\"stopped\",\"template\":1}]",
	  NULL, NULL, NULL, 0, "", "106:template" },
	{ "missing without provision is only noted",
	  "[{\"vmid\":107,\"state\":\"running\"}]", "[]",
	  NULL, NULL, NULL, 0, "", "107:missing" },
	{ "an unread config still gets its power action",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":{\"cores\":4}}]",
	  "[{\"vmid\":101,\"status\":\"stopped\"}]",
	  NULL, NULL, NULL, 0, "101:start:benign", "101:no_spec" },
	{ "an unknown run status gets no power action",
	  "[{\"vmid\":101,\"state\":\"running\",\"spec\":{\"cores\":4}}]",
	  "[{\"vmid\":101,\"status\":\"unknown\",\"config\":" WEB_CONFIG "}]",
	  NULL, NULL, NULL, 0, "101:set_config:benign",
	  "101:unknown_status" },
	{ "several guests, in vmid order",
	  "[{\"vmid\":101,\"state\":\"running\"},{\"vmid\":102,\"state\":"
	  "\"stopped\"},{\"vmid\":103,\"state\":\"absent\"}]",
	  "[{\"vmid\":103,\"status\":\"stopped\"},{\"vmid\":101,\"status\":"
	  "\"stopped\"},{\"vmid\":102,\"status\":\"running\"}]",
	  NULL, NULL, NULL, 0,
	  "101:start:benign 102:stop:benign 103:destroy:destructive", "" },
};

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	ck_assert_msg(v != NULL, "bad JSON %s: %s", text, jerr.text);
	return v;
}

static json_t *
dup_member(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return v != NULL ? json_deep_copy(v) : NULL;
}

static struct desired_set *
desired_from(const char *text)
{
	struct desired_set *set = calloc(1, sizeof(*set));
	json_t *arr = parse(text), *g;
	size_t i;

	set->generation = 7;
	set->nguests = json_array_size(arr);
	set->guests = calloc(set->nguests + 1, sizeof(*set->guests));
	json_array_foreach(arr, i, g) {
		set->guests[i].vmid = json_integer_value(json_object_get(g,
		    "vmid"));
		set->guests[i].state = (enum desired_state)desired_state_parse(
		    json_string_value(json_object_get(g, "state")));
		set->guests[i].spec = dup_member(g, "spec");
		set->guests[i].provision = dup_member(g, "provision");
		set->guests[i].restore = dup_member(g, "restore");
		set->guests[i].rollback = dup_member(g, "rollback");
	}
	json_decref(arr);
	return set;
}

static struct actual_set *
actual_from(const char *text)
{
	struct actual_set *set = actual_set_new();
	struct actual_guest g;
	json_t *arr = parse(text), *o, *cfg;
	const char *lock;
	size_t i;

	json_array_foreach(arr, i, o) {
		memset(&g, 0, sizeof(g));
		g.vmid = json_integer_value(json_object_get(o, "vmid"));
		g.status = strdup(json_string_value(json_object_get(o,
		    "status")));
		if ((lock = json_string_value(json_object_get(o, "lock"))) !=
		    NULL)
			g.lock = strdup(lock);
		g.template = (int)json_integer_value(json_object_get(o,
		    "template"));
		if ((cfg = json_object_get(o, "config")) != NULL) {
			g.config = json_incref(cfg);
			ck_assert_int_eq(norm_spec_from_config(cfg, &g.spec,
			    NULL), 0);
		}
		ck_assert_int_eq(actual_set_add(set, &g, NULL), 0);
	}
	actual_set_sort(set);
	json_decref(arr);
	return set;
}

static int64_t *
vmids(const char *text, size_t *n)
{
	json_t *arr;
	int64_t *v;
	size_t i;

	*n = 0;
	if (text == NULL)
		return NULL;
	arr = parse(text);
	*n = json_array_size(arr);
	v = calloc(*n + 1, sizeof(*v));
	for (i = 0; i < *n; i++)
		v[i] = json_integer_value(json_array_get(arr, i));
	json_decref(arr);
	return v;
}

static struct actual_set *
previous_from(const char *text)
{
	struct actual_set *set = actual_set_new();
	struct actual_guest g;
	int64_t *v;
	size_t n, i;

	v = vmids(text, &n);
	for (i = 0; i < n; i++) {
		memset(&g, 0, sizeof(g));
		g.vmid = v[i];
		g.status = strdup("running");
		ck_assert_int_eq(actual_set_add(set, &g, NULL), 0);
	}
	free(v);
	return set;
}

static void
desired_free(struct desired_set *set)
{
	desired_set_free(set);
}

/*
 * The observed specs as engine_observe keeps them between cycles: as
 * text (issue 15), to be parsed by the plan.
 */
static void
specs_as_text(struct actual_set *a)
{
	size_t i;

	for (i = 0; i < a->nguests; i++) {
		if (a->guests[i].spec == NULL)
			continue;
		a->guests[i].spec_text = jsonx_dump(a->guests[i].spec);
		ck_assert_ptr_nonnull(a->guests[i].spec_text);
		json_decref(a->guests[i].spec);
		a->guests[i].spec = NULL;
	}
}

static void
plan_case(const struct plan_case *c, int as_text)
{
	struct desired_set *d = desired_from(c->desired);
	struct actual_set *a = actual_from(c->actual), *p = NULL;
	struct plan_input in;
	struct plan *plan = NULL;
	struct err err;
	char got[1024] = "", notes[1024] = "", digest[PLAN_DIGEST_LEN];
	char *text;
	size_t i, j, len;
	int has;

	if (as_text)
		specs_as_text(a);
	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.actual = a;
	if (c->previous != NULL)
		in.previous = p = previous_from(c->previous);
	in.proven_absent = vmids(c->proven, &in.nproven_absent);
	in.busy = vmids(c->busy, &in.nbusy);
	err_init(&err);
	ck_assert_msg(plan_compute(&in, &plan, &err) == 0, "%s: %s", c->name,
	    err_msg(&err));
	ck_assert_msg(plan->skipped == c->skipped, "%s: skipped %d",
	    c->name, plan->skipped);
	for (i = 0; i < plan->nactions; i++) {
		len = strlen(got);
		(void) snprintf(got + len, sizeof(got) - len, "%s%lld:%s:%s",
		    i > 0 ? " " : "", (long long)plan->actions[i].vmid,
		    ops_kind_name(plan->actions[i].kind),
		    ops_class_name(plan->actions[i].class));
		ck_assert_uint_eq(strlen(plan->actions[i].digest), 64);
		/* What ops_create stores is what the digest hashed. */
		ck_assert_ptr_nonnull(text = jsonx_dump(
		    plan->actions[i].params));
		ck_assert_str_eq(plan->actions[i].params_text, text);
		ck_assert_int_eq(plan_digest(plan->actions[i].params, digest,
		    NULL), 0);
		ck_assert_str_eq(plan->actions[i].digest, digest);
		free(text);
	}
	/* plan_has_actions (a binary search) agrees with the list. */
	for (i = 0; i < plan->nconsidered; i++) {
		for (j = 0, has = 0; j < plan->nactions; j++)
			has |= plan->actions[j].vmid == plan->considered[i];
		ck_assert_int_eq(plan_has_actions(plan, plan->considered[i]),
		    has);
	}
	ck_assert(!plan_has_actions(plan, 99));
	ck_assert(!plan_has_actions(plan, 1000000000));
	for (i = 0; i < plan->nnotes; i++) {
		len = strlen(notes);
		(void) snprintf(notes + len, sizeof(notes) - len, "%s%lld:%s",
		    i > 0 ? " " : "", (long long)plan->notes[i].vmid,
		    plan_note_name(plan->notes[i].kind));
	}
	ck_assert_msg(strcmp(got, c->expect) == 0, "%s: actions '%s', want "
	    "'%s'", c->name, got, c->expect);
	ck_assert_msg(strcmp(notes, c->notes) == 0, "%s: notes '%s', want "
	    "'%s'", c->name, notes, c->notes);
	if (c->skipped)
		ck_assert_ptr_nonnull(strstr(plan->skip_reason, "shrank"));
	plan_free(plan);
	free((void *)(uintptr_t)in.proven_absent);
	free((void *)(uintptr_t)in.busy);
	actual_set_free(p);
	actual_set_free(a);
	desired_free(d);
}

START_TEST(plan_cases)
{
	plan_case(&cases[_i], 0);
}
END_TEST

/* The same cases with the observed specs kept as text: the same plan. */
START_TEST(plan_cases_spec_text)
{
	plan_case(&cases[_i], 1);
}
END_TEST

static struct plan *
plan_of(const char *desired, const char *actual)
{
	struct desired_set *d = desired_from(desired);
	struct actual_set *a = actual_from(actual);
	struct plan_input in;
	struct plan *plan = NULL;

	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.actual = a;
	ck_assert_int_eq(plan_compute(&in, &plan, NULL), 0);
	actual_set_free(a);
	desired_free(d);
	return plan;
}

START_TEST(set_config_params_are_the_signed_ops_shape)
{
	struct plan *plan = plan_of("[{\"vmid\":101,\"state\":\"running\","
	    "\"spec\":{\"memory_mib\":2048,\"tags\":[],\"description\":\"\"}}]",
	    "[{\"vmid\":101,\"status\":\"running\",\"config\":" WEB_CONFIG
	    "}]");
	const json_t *p, *del;

	ck_assert_uint_eq(plan->nactions, 1);
	p = plan->actions[0].params;
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p,
	    "set"), "memory")), "2048");
	del = json_object_get(p, "delete");
	ck_assert_uint_eq(json_array_size(del), 2);
	ck_assert_str_eq(json_string_value(json_array_get(del, 0)),
	    "description");
	ck_assert_str_eq(json_string_value(json_array_get(del, 1)), "tags");
	ck_assert_ptr_nonnull(plan_find(plan, 101, OPS_KIND_SET_CONFIG,
	    plan->actions[0].digest));
	ck_assert_ptr_null(plan_find(plan, 101, OPS_KIND_START,
	    plan->actions[0].digest));
	ck_assert(plan_considers(plan, 101));
	ck_assert(!plan_considers(plan, 102));
	plan_free(plan);
}
END_TEST

START_TEST(stop_is_a_shutdown_with_a_timeout)
{
	struct plan *plan = plan_of("[{\"vmid\":101,\"state\":\"stopped\"}]",
	    "[{\"vmid\":101,\"status\":\"running\"}]");

	ck_assert_uint_eq(plan->nactions, 1);
	ck_assert_str_eq(json_string_value(json_object_get(
	    plan->actions[0].params, "mode")), "shutdown");
	ck_assert_int_eq(json_integer_value(json_object_get(
	    plan->actions[0].params, "timeout")), PLAN_SHUTDOWN_TIMEOUT_S);
	plan_free(plan);
}
END_TEST

START_TEST(provision_carries_the_spec)
{
	struct desired_set *d = desired_from("[{\"vmid\":105,\"state\":"
	    "\"running\",\"spec\":{\"hostname\":\"build\"},\"provision\":"
	    "{\"template\":\"local:vztmpl/d.tar.zst\",\"storage\":"
	    "\"local-lvm\",\"rootfs_gib\":16}}]");
	struct actual_set *a = actual_from("[]");
	int64_t proven[] = { 105 };
	struct plan_input in;
	struct plan *plan = NULL;
	const json_t *p;

	memset(&in, 0, sizeof(in));
	in.desired = d;
	in.actual = a;
	in.proven_absent = proven;
	in.nproven_absent = 1;
	ck_assert_int_eq(plan_compute(&in, &plan, NULL), 0);
	ck_assert_uint_eq(plan->nactions, 1);
	p = plan->actions[0].params;
	ck_assert_str_eq(json_string_value(json_object_get(p, "template")),
	    "local:vztmpl/d.tar.zst");
	ck_assert_int_eq(json_integer_value(json_object_get(p, "rootfs_gib")),
	    16);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p,
	    "spec"), "hostname")), "build");
	plan_free(plan);
	actual_set_free(a);
	desired_free(d);
}
END_TEST

START_TEST(digest_ignores_key_order_and_keys_are_stable)
{
	json_t *a = parse("{\"b\":1,\"a\":{\"y\":2,\"x\":[1,2]}}");
	json_t *b = parse("{\"a\":{\"x\":[1,2],\"y\":2},\"b\":1}");
	json_t *c = parse("{\"a\":{\"x\":[2,1],\"y\":2},\"b\":1}");
	char da[PLAN_DIGEST_LEN], db_[PLAN_DIGEST_LEN], dc[PLAN_DIGEST_LEN];
	char key[PLAN_KEY_MAX], prefix[PLAN_KEY_MAX];

	ck_assert_int_eq(plan_digest(a, da, NULL), 0);
	ck_assert_int_eq(plan_digest(b, db_, NULL), 0);
	ck_assert_int_eq(plan_digest(c, dc, NULL), 0);
	ck_assert_str_eq(da, db_);
	ck_assert_str_ne(da, dc);
	/* SHA-256 of the compact sorted text {"a":{"x":[1,2],"y":2},"b":1} */
	ck_assert_int_eq(plan_digest_text("{\"a\":{\"x\":[1,2],\"y\":2},"
	    "\"b\":1}", dc, NULL), 0);
	ck_assert_str_eq(da, dc);
	plan_idem_key(12, 101, OPS_KIND_START, da, key, sizeof(key));
	plan_key_prefix(101, OPS_KIND_START, da, prefix, sizeof(prefix));
	ck_assert_int_eq(strncmp(key, prefix, strlen(prefix)), 0);
	ck_assert_str_eq(key + strlen(prefix), "12");
	ck_assert_int_eq(strncmp(key, "desired/101/start/", 18), 0);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}
END_TEST

static Suite *
plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *t = tcase_create("plan");

	tcase_add_loop_test(t, plan_cases, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_loop_test(t, plan_cases_spec_text, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(t, set_config_params_are_the_signed_ops_shape);
	tcase_add_test(t, stop_is_a_shutdown_with_a_timeout);
	tcase_add_test(t, provision_carries_the_spec);
	tcase_add_test(t, digest_ignores_key_order_and_keys_are_stable);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(plan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
