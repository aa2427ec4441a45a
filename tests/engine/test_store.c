/*
 * test_store — the engine's tables: desired, actual, ops and
 * idempotency keys across a reopen, the append-only journal
 * and its view.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/json.h"
#include "etu.h"
#include "store/actual.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/journal.h"
#include "store/kv.h"
#include "store/ops.h"
#include "testutil.h"

#define T0	1780000000

static char *dir;
static struct db *db;

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	db = etu_db_open(dir);
}

static void
teardown(void)
{
	db_close(db);
	db = NULL;
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

static json_t *
desired_fixture(void)
{
	json_t *doc = NULL;
	struct err err;

	err_init(&err);
	ck_assert_msg(jsonx_parse_file(tu_fixture("hub/desired.json"),
	    1 << 20, JSONX_DUPLICATES, &doc, &err) == 0, "%s", err_msg(&err));
	return doc;
}

START_TEST(desired_round_trips_the_fixture_document)
{
	json_t *doc = desired_fixture();
	struct desired_set *set = NULL;
	const struct desired_guest *g;
	int64_t gen;

	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(desired_replace(db, 12, json_object_get(doc, "guests"),
	    json_object_get(doc, "restore_tests"), NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	ck_assert_int_eq(desired_load(db, &set, NULL), 0);
	ck_assert_int_eq(set->generation, 12);
	ck_assert_uint_eq(set->nguests, 5);
	ck_assert_uint_eq(set->ntests, 1);
	g = desired_find(set, 101);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->state, DESIRED_RUNNING);
	ck_assert_int_eq(json_integer_value(json_object_get(g->spec,
	    "memory_mib")), 1024);
	ck_assert_int_eq(desired_find(set, 103)->state, DESIRED_ABSENT);
	ck_assert_ptr_nonnull(desired_find(set, 104)->restore);
	ck_assert_ptr_nonnull(desired_find(set, 105)->provision);
	ck_assert_ptr_null(desired_find(set, 102)->provision);
	ck_assert_ptr_null(desired_find(set, 999));
	ck_assert_int_eq(set->tests[0].scratch_first, 9000);
	ck_assert_int_eq(set->tests[0].scratch_last, 9099);
	ck_assert_str_eq(set->tests[0].storage, "local-lvm");
	ck_assert_int_eq(kv_get_int(db, KV_DESIRED_GENERATION, 0, &gen, NULL),
	    0);
	ck_assert_int_eq(gen, 12);
	desired_set_free(set);
	json_decref(doc);
}
END_TEST

START_TEST(desired_replace_needs_the_callers_transaction)
{
	json_t *doc = desired_fixture();
	struct err err;

	err_init(&err);
	ck_assert_int_eq(desired_replace(db, 12, json_object_get(doc, "guests"),
	    NULL, &err), ERR_INTERNAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "outside a transaction"));
	json_decref(doc);
}
END_TEST

START_TEST(desired_generation_never_goes_back)
{
	json_t *doc = desired_fixture();
	struct err err;

	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(desired_replace(db, 12, json_object_get(doc, "guests"),
	    NULL, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(desired_replace(db, 11, json_object_get(doc, "guests"),
	    NULL, &err), ERR_CONFLICT);
	db_rollback(db);
	ck_assert_ptr_nonnull(strstr(err.msg, "older than the stored 12"));
	json_decref(doc);
}
END_TEST

START_TEST(desired_replace_replaces_everything_or_nothing)
{
	json_t *doc = desired_fixture(), *bad;
	struct desired_set *set = NULL;
	struct err err;

	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(desired_replace(db, 12, json_object_get(doc, "guests"),
	    NULL, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	bad = json_pack("[{s:i,s:s},{s:i,s:s}]", "vmid", 200, "state",
	    "running", "vmid", 200, "state", "stopped");
	ck_assert_int_eq(db_begin(db, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(desired_replace(db, 13, bad, NULL, &err), ERR_FORMAT);
	db_rollback(db);
	ck_assert_ptr_nonnull(strstr(err.msg, "guests[1]"));
	ck_assert_int_eq(desired_load(db, &set, NULL), 0);
	ck_assert_int_eq(set->generation, 12);
	ck_assert_uint_eq(set->nguests, 5);
	desired_set_free(set);
	json_decref(bad);
	bad = json_pack("[{s:i,s:s}]", "vmid", 200, "state", "paused");
	ck_assert_int_eq(db_begin(db, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(desired_replace(db, 13, bad, NULL, &err), ERR_FORMAT);
	db_rollback(db);
	ck_assert_ptr_nonnull(strstr(err.msg, "guests[0].state"));
	json_decref(bad);
	json_decref(doc);
}
END_TEST

START_TEST(desired_empty_when_nothing_stored)
{
	struct desired_set *set = NULL;

	ck_assert_int_eq(desired_load(db, &set, NULL), 0);
	ck_assert_int_eq(set->generation, 0);
	ck_assert_uint_eq(set->nguests, 0);
	desired_set_free(set);
	ck_assert_str_eq(desired_state_name(DESIRED_ABSENT), "absent");
	ck_assert_int_eq(desired_state_parse("stopped"), DESIRED_STOPPED);
	ck_assert_int_eq(desired_state_parse("gone"), -1);
}
END_TEST

START_TEST(actual_round_trips_and_is_found_by_vmid)
{
	struct actual_set *set = actual_set_new(), *back = NULL;
	struct actual_guest g;
	int64_t vmid;

	set->observed_at = T0;
	for (vmid = 140; vmid >= 100; vmid -= 10) {
		memset(&g, 0, sizeof(g));
		g.vmid = vmid;
		g.name = strdup("ct");
		g.status = strdup(vmid == 120 ? "stopped" : "running");
		if (vmid == 130)
			g.lock = strdup("backup");
		g.spec = json_pack("{s:i}", "memory_mib", (int)vmid);
		ck_assert_int_eq(actual_set_add(set, &g, NULL), 0);
	}
	actual_set_sort(set);
	ck_assert_int_eq(actual_replace(db, set, NULL), 0);
	ck_assert_int_eq(actual_load(db, &back, NULL), 0);
	ck_assert_uint_eq(back->nguests, 5);
	ck_assert_int_eq(back->observed_at, T0);
	ck_assert_str_eq(actual_find(back, 120)->status, "stopped");
	ck_assert_str_eq(actual_find(back, 130)->lock, "backup");
	ck_assert_ptr_null(actual_find(back, 110)->lock);
	ck_assert_int_eq(json_integer_value(json_object_get(actual_find(back,
	    140)->spec, "memory_mib")), 140);
	ck_assert_ptr_null(actual_find(back, 145));
	actual_set_free(back);
	actual_set_free(set);
}
END_TEST

/*
 * issue 15: the plan's load reads the normalized spec stored with each
 * guest and leaves the raw config unparsed; a guest whose config was not
 * understood (spec NULL) loads as one, not compared.
 */
START_TEST(actual_specs_load_without_the_raw_configs)
{
	struct actual_set *set = actual_set_new(), *back = NULL;
	struct actual_guest g;
	int64_t vmid;

	set->observed_at = T0;
	for (vmid = 100; vmid <= 102; vmid++) {
		memset(&g, 0, sizeof(g));
		g.vmid = vmid;
		g.status = strdup("running");
		g.config = json_pack("{s:i,s:s}", "memory", 512, "hostname",
		    "ct");
		if (vmid != 101)
			g.spec = json_pack("{s:i}", "memory_mib", (int)vmid);
		ck_assert_int_eq(actual_set_add(set, &g, NULL), 0);
	}
	ck_assert_int_eq(actual_replace(db, set, NULL), 0);
	ck_assert_int_eq(actual_load_specs(db, &back, NULL), 0);
	ck_assert_uint_eq(back->nguests, 3);
	ck_assert_int_eq(back->observed_at, T0);
	ck_assert_str_eq(actual_find(back, 101)->status, "running");
	ck_assert_ptr_null(actual_find(back, 100)->config);
	ck_assert_ptr_null(actual_find(back, 101)->spec);
	ck_assert_int_eq(json_integer_value(json_object_get(actual_find(back,
	    102)->spec, "memory_mib")), 102);
	actual_set_free(back);
	/* The whole observation still has them. */
	ck_assert_int_eq(actual_load(db, &back, NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(actual_find(back,
	    101)->config, "memory")), 512);
	actual_set_free(back);
	actual_set_free(set);
}
END_TEST

START_TEST(an_idempotency_key_survives_a_reopen)
{
	struct ops_new n;
	struct err err;
	int64_t id, id2, found;
	int hit;

	memset(&n, 0, sizeof(n));
	n.vmid = 101;
	n.kind = OPS_KIND_START;
	n.source = OPS_SOURCE_DESIRED;
	n.class = OPS_CLASS_BENIGN;
	n.idem_key = "desired/101/start/abc/7";
	n.now = T0;
	ck_assert_int_eq(ops_create(db, &n, &id, NULL), 0);
	db_close(db);
	db = etu_db_open(dir);
	err_init(&err);
	ck_assert_int_eq(ops_create(db, &n, &id2, &err), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "already belongs to op"));
	ck_assert_int_eq(ops_find_key(db, n.idem_key, &found, NULL), 0);
	ck_assert_int_eq(found, id);
	ck_assert_int_eq(ops_find_key(db, "desired/101/start/abc/8", &found,
	    NULL), ERR_NOT_FOUND);
	ck_assert_int_eq(ops_find_prefix_state(db, "desired/101/start/abc/",
	    "new", &hit, NULL), 0);
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(ops_find_prefix_state(db, "desired/101/start/abd/",
	    "new", &hit, NULL), 0);
	ck_assert_int_eq(hit, 0);
	ck_assert_int_eq(ops_find_prefix_state(db, "desired/101/start/abc/",
	    "succeeded", &hit, NULL), 0);
	ck_assert_int_eq(hit, 0);
}
END_TEST

START_TEST(ops_round_trip_every_column)
{
	struct ops_row *op = NULL, *by_uid = NULL;
	int64_t id;

	id = etu_op(db, 101, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"set\":{\"memory\":\"2048\"},\"delete\":[]}", "k", T0);
	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	ck_assert_int_eq(strncmp(op->uid, "op-", 3), 0);
	ck_assert_uint_eq(strlen(op->uid), 19);
	ck_assert_int_eq(op->vmid, 101);
	ck_assert_int_eq(op->kind, OPS_KIND_SET_CONFIG);
	ck_assert_int_eq(op->source, OPS_SOURCE_ADMIN);
	ck_assert_str_eq(op->state, "new");
	ck_assert_str_eq(op->params_text,
	    "{\"delete\":[],\"set\":{\"memory\":\"2048\"}}");
	ck_assert_int_eq(op->max_attempts, OPS_DEFAULT_MAX_ATTEMPTS);
	ck_assert_int_eq(op->created_at, T0);
	ck_assert_ptr_null(op->upid);
	ck_assert_int_eq(ops_get_uid(db, op->uid, &by_uid, NULL), 0);
	ck_assert_int_eq(by_uid->id, id);
	ck_assert_int_eq(ops_set_class(db, id, OPS_CLASS_DESTRUCTIVE, NULL),
	    0);
	ops_row_free(by_uid);
	ck_assert_int_eq(ops_get_uid(db, op->uid, &by_uid, NULL), 0);
	ck_assert_int_eq(by_uid->class, OPS_CLASS_DESTRUCTIVE);
	ops_row_free(by_uid);
	ops_row_free(op);
	ck_assert_int_eq(ops_get(db, 999, &op, NULL), ERR_NOT_FOUND);
	ck_assert_str_eq(ops_kind_name(OPS_KIND_ROTATE_SIGNERS),
	    "rotate_signers");
	ck_assert_int_eq(ops_kind_parse("delete_snapshot"),
	    OPS_KIND_DELETE_SNAPSHOT);
	ck_assert_int_eq(ops_source_parse("hub"), -1);
}
END_TEST

START_TEST(the_journal_is_append_only)
{
	struct journal_entry je;
	struct err err;
	json_t *rows;
	int64_t id;

	id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, NULL, "k", T0);
	memset(&je, 0, sizeof(je));
	je.op_id = id;
	je.at = T0;
	je.from = "new";
	je.event = "classified_benign";
	je.to = "authorized";
	ck_assert_int_eq(journal_append(db, &je, NULL, NULL), 0);
	err_init(&err);
	ck_assert_int_ne(db_exec(db, "UPDATE journal SET event = 'x'",
	    "tamper", &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "append-only"));
	err_init(&err);
	ck_assert_int_ne(db_exec(db, "DELETE FROM journal", "tamper", &err),
	    0);
	ck_assert_int_eq(journal_list(db, id, &rows, NULL), 0);
	ck_assert_uint_eq(json_array_size(rows), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rows,
	    0), "to")), "authorized");
	json_decref(rows);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *t = tcase_create("store");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, desired_round_trips_the_fixture_document);
	tcase_add_test(t, desired_replace_needs_the_callers_transaction);
	tcase_add_test(t, desired_generation_never_goes_back);
	tcase_add_test(t, desired_replace_replaces_everything_or_nothing);
	tcase_add_test(t, desired_empty_when_nothing_stored);
	tcase_add_test(t, actual_round_trips_and_is_found_by_vmid);
	tcase_add_test(t, actual_specs_load_without_the_raw_configs);
	tcase_add_test(t, an_idempotency_key_survives_a_reopen);
	tcase_add_test(t, ops_round_trip_every_column);
	tcase_add_test(t, the_journal_is_append_only);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
