/*
 * test_holes — issue 10, end to end: the doors a hub in control tried,
 * against tools/pve-sim and tools/hub-sim with the real felhom-agent and
 * felhom-admin.  For each: unsigned job, signed job and desired-state
 * variants where the door exists; what PVE saw comes from the
 * simulator's counters and its record of requests, what the agent
 * decided from its database (op states, audit rows).
 *
 *  1. PVE's request parameters inside set_config's `set`;
 *  2. a benign backup pruning older backups (and the safety backup on a
 *     storage at its retention limit);
 *  3. the safety copy of a failed overwrite deleted unsigned;
 *  4. a consumed nonce kept only for the accepting process's skew;
 *  6. blob and state file permissions;
 *  7. a PVE exit status forging a log line.
 * (5, the task self-test, is in tests/pve/test_selftest.c.)
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "e2etu.h"
#include "store/db.h"
#include "store/inbox.h"
#include "store/nonces.h"
#include "testutil.h"

/* One value (first column, first row) of sql on the agent's database. */
static char *
db_text(const char *sql)
{
	struct db *db = e2e_db();
	sqlite3_stmt *st = NULL;
	char *s = NULL;

	ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) !=
	    NULL)
		s = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	db_close(db);
	return s;
}

static int64_t
inbox_in(const char *state)
{
	struct db *db = e2e_db();
	int64_t n = -1;

	ck_assert_int_eq(inbox_count(db, state, &n, NULL), 0);
	db_close(db);
	return n;
}

/* The first backup of vmid on storage in the simulated world (heap). */
static char *
backup_on(int64_t vmid, const char *storage)
{
	char *all = e2e_backups(vmid, storage), *comma;

	ck_assert_msg(all[0] != '\0', "no backup of %lld on %s",
	    (long long)vmid, storage);
	if ((comma = strchr(all, ',')) != NULL)
		*comma = '\0';
	return all;
}

/* An old backup of vmid on local, at 00:00 of 2025-01-<day>. */
static void
old_backup(int64_t vmid, int day)
{
	char body[512];
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 125;
	tm.tm_mday = day;
	tm.tm_isdst = -1;
	(void) snprintf(body, sizeof(body), "{\"volid\":\"local:backup/"
	    "vzdump-lxc-%lld-2025_01_%02d-00_00_00.tar.zst\",\"content\":"
	    "\"backup\",\"vmid\":%lld,\"ctime\":%lld,\"size\":1000}",
	    (long long)vmid, day, (long long)vmid, (long long)mktime(&tm));
	e2e_pve_ctl("/_sim/world/volume", body);
}

/* ---- hole 1: request parameters inside `set` ------------------------- */

START_TEST(holes_request_params_in_set_never_reach_pve)
{
	static const char *const params[] = {
		"{\"set\":{\"delete\":\"mp0,unused0\"}}",	/* the issue's */
		"{\"set\":{\"DELETE\":\"mp0\"}}",
		"{\"set\":{\"revert\":\"mp0\"}}",
		"{\"set\":{\"cores\":2,\"digest\":\"0123456789abcdef\"}}",
		"{\"delete\":[\"mp0;unused0\"]}",
		"{\"set\":{\"cores\":2},\"delete\":\"mp0 unused0\"}",
	};
	char *b, *s, *d, nb[CLOCK_RFC3339_LEN], na[CLOCK_RFC3339_LEN];
	int64_t now = (int64_t)time(NULL);
	size_t i;

	clock_format_rfc3339(now - 60, nb, sizeof(nb));
	clock_format_rfc3339(now + 3600, na, sizeof(na));
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		/* Raw text: no writer of ours would make these blobs. */
		ck_assert_int_gt(asprintf(&b, "{\"schema\":\"felhom.op/v1\","
		    "\"op\":\"set_config\",\"host_id\":\"" E2E_HOST "\","
		    "\"guest_id\":102,\"params\":%s,\"nonce\":\"%032zx\","
		    "\"not_before\":\"%s\",\"not_after\":\"%s\"}", params[i],
		    i + 1, nb, na), 0);
		/* Unsigned, and the same signed by an operational key. */
		e2e_hub_post(NULL, b, strlen(b), NULL);
		s = e2e_sign("alice", b, strlen(b));
		e2e_hub_post(NULL, b, strlen(b), s);
		free(s);
		free(b);
	}
	ck_assert_int_eq(e2e_agent_once(5, NULL), 0);
	/* PVE saw nothing at all. */
	ck_assert_uint_eq(e2e_pve_keys(), 0);
	ck_assert_int_eq(inbox_in(INBOX_REJECTED), 12);
	ck_assert_int_eq(e2e_count_ops(NULL), 0);
	d = db_text("SELECT count(*) FROM nonces");
	ck_assert_str_eq(d, "0");
	free(d);
	/* The audit says why. */
	ck_assert(e2e_audited("verify", "bad_blob"));
	d = db_text("SELECT count(*) FROM audit WHERE code = 'bad_blob'");
	ck_assert_str_eq(d, "12");
	free(d);
	d = db_text("SELECT count(*) FROM audit WHERE code = 'bad_blob' AND "
	    "detail GLOB '*''delete'' is not a container option*'");
	ck_assert_str_eq(d, "2");
	free(d);
}
END_TEST

START_TEST(holes_setting_a_volume_key_waits_for_a_signature)
{
	char *b = e2e_blob_now("set_config", 102, "{\"set\":{\"mp1\":"
	    "\"local-lvm:vm-101-disk-0,mp=/stolen\"}}"), *d;

	e2e_hub_post(NULL, b, strlen(b), NULL);
	ck_assert_int_eq(e2e_agent_once(4, NULL), 0);
	ck_assert_int_eq(e2e_count_ops("pending_signature"), 1);
	ck_assert_int_eq(e2e_pve_count("102:config"), 0);
	ck_assert(e2e_audited("gate", "unsigned_destructive"));
	d = e2e_audit_detail("unsigned_destructive");
	ck_assert_ptr_nonnull(strstr(d, "new -> pending_signature"));
	free(d);
	d = db_text("SELECT json_extract(detail, '$.why') FROM journal WHERE "
	    "event = 'classified_destructive'");
	ck_assert_str_eq(d, "set_config sets volume key mp1 of guest 102");
	free(d);
	free(b);
}
END_TEST

/* The desired state: only the managed keys, the form without a delete. */
START_TEST(holes_desired_state_cannot_carry_request_params)
{
	json_t *reqs, *p;
	char *err = NULL;

	e2e_hub_desired("{\"schema\":\"felhom.desired/v1\",\"host_id\":\""
	    E2E_HOST "\",\"generation\":1,\"guests\":[{\"vmid\":102,"
	    "\"state\":\"running\",\"spec\":{\"delete\":\"mp0,unused0\"}}]}");
	/* --once fails with the data status (65): the desired state is bad. */
	ck_assert_int_eq(e2e_agent_once(4, &err), 65);
	ck_assert_ptr_nonnull(strstr(err, "spec.delete"));
	free(err);
	ck_assert_uint_eq(e2e_pve_keys(), 0);
	ck_assert_int_eq(e2e_count_ops(NULL), 0);
	/* A real drift: one PUT, exactly the drifted key, nothing deleted. */
	e2e_hub_desired("{\"schema\":\"felhom.desired/v1\",\"host_id\":\""
	    E2E_HOST "\",\"generation\":2,\"guests\":[{\"vmid\":102,"
	    "\"state\":\"running\",\"spec\":{\"cores\":3}}]}");
	ck_assert_int_eq(e2e_agent_once(6, NULL), 0);
	ck_assert_int_eq(e2e_pve_count("102:config"), 1);
	reqs = e2e_pve_requests(102);
	ck_assert_uint_eq(json_array_size(reqs), 1);
	p = json_object_get(json_array_get(reqs, 0), "params");
	ck_assert_str_eq(json_string_value(json_object_get(p, "cores")), "3");
	ck_assert_ptr_null(json_object_get(p, "delete"));
	ck_assert_ptr_null(json_object_get(p, "revert"));
	json_decref(reqs);
}
END_TEST

/* ---- hole 2: backups never prune ------------------------------------- */

START_TEST(holes_backup_never_prunes_older_backups)
{
	char *b, *s, *before, *after, *d;
	json_t *reqs, *r;
	size_t i;

	e2e_pve_ctl("/_sim/world/storage", "{\"storage\":\"local\","
	    "\"prune-backups\":\"keep-last=2\"}");
	old_backup(104, 1);
	old_backup(104, 2);
	before = e2e_backups(104, "local");
	/* Unsigned and signed: PVE's default would prune both old ones. */
	b = e2e_blob_now("backup", 104, "{\"storage\":\"local\",\"mode\":"
	    "\"snapshot\"}");
	e2e_hub_post(NULL, b, strlen(b), NULL);
	free(b);
	b = e2e_blob_now("backup", 104, "{\"storage\":\"local\",\"mode\":"
	    "\"stop\"}");
	s = e2e_sign("alice", b, strlen(b));
	e2e_hub_post(NULL, b, strlen(b), s);
	free(s);
	free(b);
	ck_assert_int_eq(e2e_agent_once(10, NULL), 0);
	ck_assert_int_eq(e2e_pve_count("104:vzdump"), 2);
	reqs = e2e_pve_requests(104);
	json_array_foreach(reqs, i, r)
		ck_assert_str_eq(json_string_value(json_object_get(
		    json_object_get(r, "params"), "remove")), "0");
	json_decref(reqs);
	/* At the limit: refused, said so, nothing deleted. */
	after = e2e_backups(104, "local");
	ck_assert_str_eq(after, before);
	free(after);
	ck_assert_int_eq(e2e_count_ops("failed"), 2);
	d = db_text("SELECT error FROM ops WHERE kind = 'backup' LIMIT 1");
	ck_assert_msg(strstr(d, "max backup limit of 2") != NULL, "%s", d);
	free(d);
	/* Below it: a new backup beside the old ones, none pruned. */
	e2e_pve_ctl("/_sim/world/storage", "{\"storage\":\"local\","
	    "\"prune-backups\":\"keep-last=3\"}");
	b = e2e_blob_now("backup", 104, "{\"storage\":\"local\",\"mode\":"
	    "\"snapshot\"}");
	e2e_hub_post(NULL, b, strlen(b), NULL);
	free(b);
	ck_assert_int_eq(e2e_agent_once(10, NULL), 0);
	ck_assert_int_eq(e2e_count_ops("succeeded"), 1);
	after = e2e_backups(104, "local");
	ck_assert_ptr_nonnull(strstr(after, before));
	ck_assert_uint_gt(strlen(after), strlen(before));
	free(after);
	free(before);
}
END_TEST

/*
 * issue 11, point 4: the safety backup taken before a restore over a
 * guest (PVE's restore destroys the old volumes with their snapshots, so
 * only a backup can undo it) is protected (never held to the storage's limit: PVE/VZDump.pm), so it is
 * made on a storage at its limit; when even max-protected-backups says
 * no, the overwrite never starts.
 */
static void
signed_restore_104(void)
{
	char *archive = backup_on(104, "pbs"), params[512], *b, *s;

	(void) snprintf(params, sizeof(params), "{\"archive\":\"%s\","
	    "\"storage\":\"local-lvm\"}", archive);
	b = e2e_blob_now("restore", 104, params);
	s = e2e_sign("alice", b, strlen(b));
	e2e_hub_post(NULL, b, strlen(b), s);
	ck_assert_int_eq(e2e_agent_once(15, NULL), 0);
	free(s);
	free(b);
	free(archive);
}

START_TEST(holes_safety_backup_is_made_on_a_full_storage)
{
	json_t *reqs, *p;
	char *before, *after;

	e2e_pve_ctl("/_sim/world/storage", "{\"storage\":\"local\","
	    "\"prune-backups\":\"keep-last=1\"}");
	old_backup(104, 1);
	before = e2e_backups(104, "local");
	signed_restore_104();
	ck_assert_int_eq(e2e_pve_count("104:vzdump"), 1);
	reqs = e2e_pve_requests(104);
	p = json_object_get(json_array_get(reqs, 0), "params");
	ck_assert_str_eq(json_string_value(json_object_get(p, "protected")),
	    "1");
	ck_assert_str_eq(json_string_value(json_object_get(p, "remove")), "0");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
	    reqs, 0), "status")), 200);
	json_decref(reqs);
	/* Made beside the old backup, which is still there. */
	after = e2e_backups(104, "local");
	ck_assert_ptr_nonnull(strstr(after, before));
	ck_assert_uint_gt(strlen(after), strlen(before));
	free(after);
	free(before);
	ck_assert_int_eq(e2e_pve_count("104:restore"), 1);
}
END_TEST

START_TEST(holes_no_safety_backup_no_overwrite)
{
	char *d;

	e2e_pve_ctl("/_sim/world/storage", "{\"storage\":\"local\","
	    "\"max-protected-backups\":0}");
	signed_restore_104();
	ck_assert_int_eq(e2e_pve_count("104:vzdump"), 1);
	ck_assert_int_eq(e2e_pve_count("104:restore"), 0);
	ck_assert_int_eq(e2e_count_ops("failed"), 1);
	d = db_text("SELECT error FROM ops WHERE kind = 'restore'");
	ck_assert_msg(strstr(d, "protected backups per guest is limited to "
	    "0") != NULL, "%s", d);
	free(d);
}
END_TEST

/* ---- hole 3: the copy of a failed overwrite is the customer's -------- */

START_TEST(holes_copy_of_a_failed_overwrite_needs_a_signature)
{
	char *b = e2e_blob_now("rollback", 101, "{\"snapshot\":"
	    "\"pre-upgrade\"}"), *s = e2e_sign("alice", b, strlen(b));
	char *name, params[128], *job;

	/* The rollback fails, and so does the way back to the copy. */
	e2e_pve_ctl("/_sim/task-fault", "{\"vmid\":101,\"kind\":\"rollback\","
	    "\"count\":2,\"exitstatus\":\"storage error\"}");
	e2e_hub_post(NULL, b, strlen(b), s);
	ck_assert_int_eq(e2e_agent_once(15, NULL), 0);
	ck_assert_int_eq(e2e_pve_count("101:rollback"), 2);
	ck_assert_int_eq(e2e_count_ops("failed"), 1);
	ck_assert(e2e_audited("provenance", "safety_copy_retired"));
	name = db_text("SELECT json_extract(safety, '$.snapshot') FROM ops");
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(strncmp(name, "felhom_safety_", 14), 0);
	/* Unsigned, deleting it now waits for a signature. */
	(void) snprintf(params, sizeof(params), "{\"name\":\"%s\"}", name);
	job = e2e_blob_now("delete_snapshot", 101, params);
	e2e_hub_post(NULL, job, strlen(job), NULL);
	ck_assert_int_eq(e2e_agent_once(4, NULL), 0);
	ck_assert_int_eq(e2e_count_ops("pending_signature"), 1);
	ck_assert(e2e_audited("gate", "unsigned_destructive"));
	/* Only the safety copy itself was ever deleted: none. */
	ck_assert_int_eq(e2e_pve_count("101:delete_snapshot"), 0);
	free(job);
	free(name);
	free(b);
	free(s);
}
END_TEST

/* ---- hole 4: the nonce outlives any process's skew -------------------- */

START_TEST(holes_nonce_is_kept_past_any_skew)
{
	int64_t now = (int64_t)time(NULL);
	char *b = e2e_blob("start", 104, "{}", now - 60, now + 600);
	char *s = e2e_sign("alice", b, strlen(b)), *d, want[32];

	e2e_hub_post(NULL, b, strlen(b), s);
	ck_assert_int_eq(e2e_agent_once(6, NULL), 0);
	ck_assert_int_eq(e2e_pve_count("104:start"), 1);
	d = db_text("SELECT expires_at FROM nonces");
	(void) snprintf(want, sizeof(want), "%lld", (long long)(now + 600 +
	    CONFIG_CLOCK_SKEW_MAX_S));
	ck_assert_str_eq(d, want);
	free(d);
	free(b);
	free(s);
}
END_TEST

/* ---- hole 6: files ---------------------------------------------------- */

START_TEST(holes_blob_and_state_files_are_private)
{
	char *b = e2e_blob_now("destroy", 104, "{\"purge\":true}");
	char blobdir[4200], file[4300], sdir[4200], *uid, *out = NULL, *text;
	const char *args[] = { "--config", e2e_cfgpath, "pending",
	    "--write-blob", blobdir, NULL };
	struct stat st;

	e2e_hub_post(NULL, b, strlen(b), NULL);
	ck_assert_int_eq(e2e_agent_once(4, NULL), 0);
	uid = e2e_only_op("pending_signature");
	(void) snprintf(sdir, sizeof(sdir), "%s/state", e2e_dir);
	ck_assert_int_eq(stat(sdir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(stat(e2e_dbpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	(void) snprintf(blobdir, sizeof(blobdir), "%s/sign", e2e_dir);
	ck_assert_int_eq(mkdir(blobdir, 0755), 0);
	ck_assert_int_eq(e2e_admin(args, &out), 0);
	free(out);
	(void) snprintf(file, sizeof(file), "%s/%s.json", blobdir, uid);
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* Never written through an existing file: 74, content unchanged. */
	ck_assert_int_eq(tu_write_file(file, "operator's", 10, 0644), 0);
	ck_assert_int_eq(e2e_admin(args, NULL), 74);
	text = tu_read_file(file, NULL);
	ck_assert_str_eq(text, "operator's");
	free(text);
	free(uid);
	free(b);
}
END_TEST

/* ---- hole 7: a PVE exit status cannot forge a log line ---------------- */

START_TEST(holes_exit_status_cannot_forge_a_log_line)
{
	char *b = e2e_blob_now("start", 104, "{}"), *err = NULL, *line;

	e2e_pve_ctl("/_sim/task-fault", "{\"vmid\":104,\"kind\":\"start\","
	    "\"exitstatus\":\"boom\\n2026-01-01T00:00:00Z info  op-forged: "
	    "running -> succeeded by task_ok\"}");
	e2e_hub_post(NULL, b, strlen(b), NULL);
	ck_assert_int_eq(e2e_agent_once(6, &err), 0);
	ck_assert_int_eq(e2e_pve_count("104:start"), 1);
	ck_assert_ptr_nonnull(strstr(err, "boom\\n2026-01-01T00:00:00Z"));
	for (line = err; line != NULL; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		ck_assert_msg(strncmp(line, "2026-01-01T00:00:00Z", 20) != 0,
		    "a forged line:\n%s", err);
	}
	free(err);
	free(b);
}
END_TEST

static Suite *
holes_suite(void)
{
	Suite *s = suite_create("gate.holes");
	TCase *tc = tcase_create("holes");

	tcase_add_unchecked_fixture(tc, e2e_sims_start, e2e_sims_stop);
	tcase_add_checked_fixture(tc, e2e_setup, e2e_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, holes_request_params_in_set_never_reach_pve);
	tcase_add_test(tc, holes_setting_a_volume_key_waits_for_a_signature);
	tcase_add_test(tc, holes_desired_state_cannot_carry_request_params);
	tcase_add_test(tc, holes_backup_never_prunes_older_backups);
	tcase_add_test(tc, holes_safety_backup_is_made_on_a_full_storage);
	tcase_add_test(tc, holes_no_safety_backup_no_overwrite);
	tcase_add_test(tc, holes_copy_of_a_failed_overwrite_needs_a_signature);
	tcase_add_test(tc, holes_nonce_is_kept_past_any_skew);
	tcase_add_test(tc, holes_blob_and_state_files_are_private);
	tcase_add_test(tc, holes_exit_status_cannot_forge_a_log_line);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(holes_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
