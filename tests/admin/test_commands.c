/*
 * test_commands — every felhom-admin command against a database made by
 * a real scenario run: felhom-agent (--once, and as a daemon) against
 * tools/pve-sim and tools/hub-sim, real ssh-keygen signers (R-35,
 * R-36).  Human and --json outputs are checked; cancel, approve and
 * recover through the journal, the audit log and the simulators'
 * counters; every bad input through its message, its exit status and a
 * database left byte for byte as it was.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "atu.h"
#include "base/log.h"
#include "store/db.h"
#include "testutil.h"

/*
 * The scenario: a desired state that destroys guest 105 (parked for a
 * signature), an unsigned benign start of 104 (runs), a snapshot of 101
 * signed by alice (runs, its nonce kept), a destroy signed by eve (not a
 * signer: rejected, audited).  Returns the pending op's uid (heap).
 */
static char *
scenario(void)
{
	char *start = at_blob("start", 104, "{}", 3600);
	char *snap = at_blob("snapshot", 101, "{\"name\":\"before\"}", 3600);
	char *evil = at_blob("destroy", 103, "{\"purge\":true}", 3600);
	char *ss = at_sign("alice", snap, strlen(snap));
	char *es = at_sign("eve", evil, strlen(evil));

	at_sim(&at.hub, "/_sim/desired", "{\"schema\":\"felhom.desired/v1\","
	    "\"host_id\":\"" AT_HOST "\",\"generation\":1,\"guests\":"
	    "[{\"vmid\":105,\"state\":\"absent\"}]}");
	at_hub_post(NULL, start, strlen(start), NULL);
	at_hub_post(NULL, snap, strlen(snap), ss);
	at_hub_post(NULL, evil, strlen(evil), es);
	ck_assert_int_eq(at_agent_once(8), 0);
	ck_assert_int_eq(at_pve_count("104:start"), 1);
	ck_assert_int_eq(at_pve_count("101:snapshot"), 1);
	free(start);
	free(snap);
	free(evil);
	free(ss);
	free(es);
	return at_only_op("pending_signature");
}

static int
has_row(const json_t *arr, const char *key, const char *value)
{
	const json_t *o;
	size_t i;

	json_array_foreach(arr, i, o)
		if (json_is_string(json_object_get(o, key)) &&
		    strcmp(json_string_value(json_object_get(o, key)), value) ==
		    0)
			return 1;
	return 0;
}

/* Reports the hub received so far. */
static size_t
hub_reports(json_int_t *last_seq)
{
	json_t *r = tu_sim_json(&at.hub, "GET", "/_sim/reports", NULL);
	size_t n;

	ck_assert_ptr_nonnull(r);
	n = json_array_size(r);
	if (last_seq != NULL)
		*last_seq = n == 0 ? 0 : json_integer_value(json_object_get(
		    json_array_get(r, n - 1), "seq"));
	json_decref(r);
	return n;
}

/* PRAGMA data_version seen from h, and the WAL's size. */
static void
db_marks(sqlite3 *h, int64_t *dv, int64_t *wal)
{
	tu_db_marks(h, at.db, dv, wal);
}

/*
 * issue 15: the daemon with the hub on, nothing changing — a report
 * every second, the reconcile every 200 ms — commits nothing (no seq,
 * no last report, no envelope value written), while the hub sees every
 * report and `report --last` the newest.
 */
START_TEST(a_steady_daemon_with_the_hub_commits_nothing)
{
	const char *last[] = { "report", "--last", NULL };
	int64_t dv0, wal0, dv, wal;
	json_int_t seq0, seq;
	size_t n0, n;
	sqlite3 *h = NULL;
	json_t *doc;
	pid_t pid;
	int i, st;

	at_sim(&at.hub, "/_sim/envelope", "{\"poll_interval_seconds\":1}");
	(void) setenv("FELHOM_TEST_RECONCILE_MS", "200", 1);
	pid = at_agent_start();
	(void) unsetenv("FELHOM_TEST_RECONCILE_MS");
	for (i = 0; i < 150 && hub_reports(NULL) < 3; i++)
		(void) usleep(100000);
	ck_assert_uint_ge(hub_reports(NULL), 3);
	ck_assert_int_eq(sqlite3_open_v2(at.db, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	db_marks(h, &dv0, &wal0);
	n0 = hub_reports(&seq0);
	(void) usleep(3500000);
	db_marks(h, &dv, &wal);
	n = hub_reports(&seq);
	sqlite3_close(h);
	ck_assert_msg(n >= n0 + 2, "%zu reports in 3.5 s", n - n0);
	ck_assert_int_gt(seq, seq0);
	ck_assert_msg(dv == dv0, "the steady daemon committed (data_version "
	    "%lld -> %lld)", (long long)dv0, (long long)dv);
	ck_assert_int_eq(wal, wal0);
	doc = at_admin_json(last, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(
	    doc, "report"), "seq")), seq);
	json_decref(doc);
	ck_assert_int_eq(at_agent_stop(pid), 0);
}
END_TEST

/* ---- status ------------------------------------------------------------ */

START_TEST(status_shows_agent_hub_ops_and_signers)
{
	const char *args[] = { "--config", at.cfg, "status", NULL };
	const char *jargs[] = { "status", NULL };
	char *uid = scenario(), *out = NULL, *text;
	json_t *doc;
	pid_t pid;
	int st, i;

	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "agent        not running"));
	ck_assert_ptr_nonnull(strstr(out, "pending_signature 1"));
	ck_assert_ptr_nonnull(strstr(out, "succeeded 2"));
	ck_assert_ptr_nonnull(strstr(out, "1 waiting for a signature"));
	ck_assert_ptr_nonnull(strstr(out, "1 operational, 0 recovery; files "
	    "agree with the live set"));
	ck_assert_ptr_nonnull(strstr(out, "generation 1, applied 1"));
	free(out);
	doc = at_admin_json(jargs, &st);
	ck_assert_int_eq(st, 0);
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "agent"),
	    "running")));
	ck_assert_int_eq(json_integer_value(json_object_get(doc,
	    "pending_signatures")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    doc, "ops"), "succeeded")), 2);
	ck_assert(json_is_string(json_object_get(json_object_get(doc, "hub"),
	    "last_report_at")));
	ck_assert(json_is_false(json_object_get(json_object_get(doc, "hub"),
	    "blocked")));
	ck_assert(json_is_false(json_object_get(json_object_get(doc,
	    "signers"), "files_differ")));
	json_decref(doc);
	/* The running agent: its pid and version from the process's lock. */
	pid = at_agent_start();
	doc = NULL;
	for (i = 0; i < 100; i++) {
		json_decref(doc);
		doc = at_admin_json(jargs, &st);
		if (json_is_true(json_object_get(json_object_get(doc, "agent"),
		    "running")))
			break;
		(void) usleep(100000);
	}
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "agent"),
	    "running")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    doc, "agent"), "pid")), pid);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    doc, "agent"), "version")), FELHOM_VERSION);
	json_decref(doc);
	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "agent        running, pid "));
	free(out);
	ck_assert_int_eq(at_agent_stop(pid), 0);
	/* A signer file edited on disk: the live set is not, status says. */
	ck_assert_int_gt(asprintf(&text, "%s/operational_signers", at.dir), 0);
	{
		size_t len;
		char *old = tu_read_file(text, &len), *line, *bob = NULL;

		ck_assert_ptr_nonnull(old);
		line = strstr(old, "ssh-ed25519 ");
		ck_assert_ptr_nonnull(line);
		/* The same key for another principal: a changed line. */
		ck_assert_int_gt(asprintf(&bob, "bob@ops namespaces=\"" AT_NS
		    "\" %s", line), 0);
		ck_assert_int_eq(tu_write_file(text, bob, strlen(bob), 0644),
		    0);
		free(old);
		free(bob);
	}
	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "files DIFFER from the live set"));
	free(out);
	free(text);
	free(uid);
}
END_TEST

/* ---- report ------------------------------------------------------------ */

START_TEST(report_live_has_no_seq_and_last_is_what_the_hub_took)
{
	const char *live[] = { "report", NULL };
	const char *last[] = { "report", "--last", NULL };
	const char *sect[] = { "report", "--section", "guests,ops", NULL };
	const char *bad[] = { "--config", at.cfg, "report", "--section",
	    "nosuch", NULL };
	const char *human[] = { "--config", at.cfg, "report", "--last",
	    "--section", "agent", NULL };
	char *uid = scenario(), *out = NULL, *err = NULL;
	json_t *doc, *reports, *hubs, *mine;
	int st;

	doc = at_admin_json(live, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "schema")),
	    "felhom.host-report/v1");
	ck_assert_ptr_null(json_object_get(doc, "seq"));
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "guests")), 6);
	ck_assert(has_row(json_object_get(doc, "ops"), "op_id", uid));
	json_decref(doc);
	/* --last: as the hub received it, with the envelope it answered. */
	doc = at_admin_json(last, &st);
	ck_assert_int_eq(st, 0);
	reports = tu_sim_json(&at.hub, "GET", "/_sim/reports", NULL);
	hubs = json_array_get(reports, json_array_size(reports) - 1);
	mine = json_object_get(doc, "report");
	ck_assert_msg(json_equal(mine, hubs), "the last report differs from "
	    "the hub's");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    doc, "envelope"), "poll_interval_seconds")), 300);
	ck_assert(json_is_string(json_object_get(doc, "sent_at")));
	json_decref(reports);
	json_decref(doc);
	doc = at_admin_json(sect, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_object_size(doc), 2);
	ck_assert(json_is_array(json_object_get(doc, "guests")));
	json_decref(doc);
	ck_assert_int_eq(at_admin(human, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "last report sent at "));
	ck_assert_ptr_nonnull(strstr(out, "desired_generation"));
	free(out);
	out = NULL;
	ck_assert_int_eq(at_admin(bad, &out, &err), 64);
	ck_assert_ptr_nonnull(strstr(err, "no section 'nosuch'"));
	free(out);
	free(err);
	free(uid);
}
END_TEST

/* ---- journal, audit, show --------------------------------------------- */

START_TEST(journal_filters_by_op_vmid_and_since)
{
	char *uid = scenario(), *out = NULL;
	const char *by_op[] = { "journal", "--op", uid, NULL };
	const char *by_vm[] = { "journal", "--vmid", "104", NULL };
	const char *future[] = { "journal", "--since",
	    "2099-01-01T00:00:00Z", NULL };
	const char *recent[] = { "journal", "--since", "1h", NULL };
	const char *human[] = { "--config", at.cfg, "journal", "--limit", "2",
	    NULL };
	json_t *arr, *o;
	size_t i;
	int st;

	arr = at_admin_json(by_op, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_array_size(arr), 1);
	o = json_array_get(arr, 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "op_id")), uid);
	ck_assert_str_eq(json_string_value(json_object_get(o, "event")),
	    "classified_destructive");
	ck_assert(json_is_object(json_object_get(o, "detail")));
	json_decref(arr);
	arr = at_admin_json(by_vm, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_ge(json_array_size(arr), 3);
	json_array_foreach(arr, i, o)
		ck_assert_int_eq(json_integer_value(json_object_get(o, "vmid")),
		    104);
	json_decref(arr);
	arr = at_admin_json(future, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_array_size(arr), 0);
	json_decref(arr);
	arr = at_admin_json(recent, &st);
	ck_assert_uint_ge(json_array_size(arr), 7);
	json_decref(arr);
	ck_assert_int_eq(at_admin(human, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "EVENT"));
	ck_assert_uint_eq(tu_count(out, "\n"), 3);	/* header + 2 */
	free(out);
	free(uid);
}
END_TEST

START_TEST(audit_filters_by_seq_and_code)
{
	const char *all[] = { "audit", NULL };
	const char *code[] = { "audit", "--code", "unknown_signer", NULL };
	const char *human[] = { "--config", at.cfg, "audit", "--code",
	    "unknown_signer", NULL };
	char *uid = scenario(), *out = NULL, seq[24];
	const char *after[] = { "audit", "--since-seq", seq, NULL };
	json_t *arr;
	json_int_t last;
	int st;

	arr = at_admin_json(all, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_ge(json_array_size(arr), 3);
	ck_assert(has_row(arr, "code", "unsigned_destructive"));
	ck_assert(has_row(arr, "code", "unknown_signer"));
	last = json_integer_value(json_object_get(json_array_get(arr,
	    json_array_size(arr) - 1), "seq"));
	json_decref(arr);
	(void) snprintf(seq, sizeof(seq), "%lld", (long long)last - 1);
	arr = at_admin_json(after, &st);
	ck_assert_uint_eq(json_array_size(arr), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(arr,
	    0), "seq")), last);
	json_decref(arr);
	arr = at_admin_json(code, &st);
	ck_assert_uint_eq(json_array_size(arr), 1);
	/* The signed job came from the hub. */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr,
	    0), "actor")), "hub");
	json_decref(arr);
	ck_assert_int_eq(at_admin(human, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "unknown_signer"));
	ck_assert_ptr_nonnull(strstr(out, "ACTOR"));
	free(out);
	free(uid);
}
END_TEST

START_TEST(show_gives_steps_journal_audit_and_sign_request)
{
	char *uid = scenario(), *out = NULL, blobdir[4200], file[4300], *blob;
	const char *show[] = { "show", uid, NULL };
	const char *human[] = { "--config", at.cfg, "show", uid, NULL };
	const char *pend[] = { "--config", at.cfg, "pending", "--write-blob",
	    blobdir, NULL };
	json_t *doc, *op;
	size_t len;
	int st;

	doc = at_admin_json(show, &st);
	ck_assert_int_eq(st, 0);
	op = json_object_get(doc, "op");
	ck_assert_str_eq(json_string_value(json_object_get(op, "state")),
	    "pending_signature");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(op,
	    "steps"), 0)), "destroy");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(op,
	    "recovery"), "does")), "wait for a signature");
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "journal")), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "audit")), 1);
	ck_assert(json_is_false(json_object_get(json_object_get(doc,
	    "signature"), "signed")));
	/* The sign request: the very bytes pending --write-blob writes. */
	(void) snprintf(blobdir, sizeof(blobdir), "%s/sign", at.dir);
	ck_assert_int_eq(mkdir(blobdir, 0700), 0);
	ck_assert_int_eq(at_admin(pend, NULL, NULL), 0);
	(void) snprintf(file, sizeof(file), "%s/%s.json", blobdir, uid);
	blob = tu_read_file(file, &len);
	ck_assert_ptr_nonnull(blob);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc,
	    "sign_request"), "blob")), blob);
	json_decref(doc);
	ck_assert_int_eq(at_admin(human, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "sign request (valid until "));
	ck_assert_ptr_nonnull(strstr(out, blob));
	ck_assert_ptr_nonnull(strstr(out, "classified_destructive"));
	free(out);
	free(blob);
	free(uid);
}
END_TEST

/* ---- pending, approve, cancel -------------------------------------------- */

START_TEST(pending_names_the_guest_params_source_and_blocked)
{
	const char *args[] = { "--config", at.cfg, "pending", NULL };
	const char *jargs[] = { "pending", NULL };
	char *uid = scenario(), *out = NULL;
	json_t *doc, *o;
	int st;

	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, uid));
	ck_assert_ptr_nonnull(strstr(out, "mon01"));
	ck_assert_ptr_nonnull(strstr(out, "desired"));
	ck_assert_ptr_nonnull(strstr(out, "{\"purge\":true}"));
	ck_assert_ptr_null(strstr(out, "BLOCKED"));
	free(out);
	doc = at_admin_json(jargs, &st);
	o = json_array_get(json_object_get(doc, "ops"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(o, "guest")),
	    "mon01");
	ck_assert_str_eq(json_string_value(json_object_get(o, "source")),
	    "desired");
	ck_assert(json_is_true(json_object_get(json_object_get(o, "params"),
	    "purge")));
	ck_assert(json_is_false(json_object_get(doc, "blocked")));
	json_decref(doc);
	/* The hub blocks the host: pending says nothing runs. */
	at_sim(&at.hub, "/_sim/envelope", "{\"blocked\":true}");
	ck_assert_int_eq(at_agent_once(3), 0);
	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "host BLOCKED by the hub"));
	free(out);
	doc = at_admin_json(jargs, &st);
	ck_assert(json_is_true(json_object_get(doc, "blocked")));
	json_decref(doc);
	free(uid);
}
END_TEST

/* The journal detail of uid's last row with event (heap text). */
static json_t *
last_row(const char *uid, const char *event)
{
	const char *args[] = { "journal", "--op", uid, NULL };
	json_t *arr, *o, *found = NULL;
	size_t i;
	int st;

	arr = at_admin_json(args, &st);
	ck_assert_int_eq(st, 0);
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "event")),
		    event) == 0) {
			json_decref(found);
			found = json_incref(o);
		}
	json_decref(arr);
	ck_assert_msg(found != NULL, "%s: no %s row", uid, event);
	return found;
}

/* The audit row of uid with code (actor checked by the caller). */
static json_t *
audit_row(const char *uid, const char *code)
{
	const char *args[] = { "audit", "--op", uid, "--code", code, NULL };
	json_t *arr, *o;
	int st;

	arr = at_admin_json(args, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_array_size(arr), 1);
	o = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return o;
}

START_TEST(cancel_of_a_pending_op_keeps_it_from_ever_running)
{
	char *uid = scenario(), *out = NULL, *s;
	const char *args[] = { "--config", at.cfg, "cancel", uid, NULL };
	json_t *row;

	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "pending_signature -> cancelled"));
	free(out);
	row = last_row(uid, "cancel");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(row,
	    "detail"), "operator")), "tester");
	json_decref(row);
	row = audit_row(uid, "cancel");
	ck_assert_str_eq(json_string_value(json_object_get(row, "actor")),
	    "admin:tester");
	json_decref(row);
	/* The agent and the hub take it as cancelled; PVE never sees it. */
	ck_assert_int_eq(at_agent_once(3), 0);
	s = at_op_state(uid);
	ck_assert_str_eq(s, "cancelled");
	free(s);
	ck_assert_int_eq(at_pve_count("105:destroy"), 0);
	free(uid);
}
END_TEST

/* A destroy of 104 signed by alice whose DELETE PVE refuses n times. */
static char *
refused_destroy(int n)
{
	char *b = at_blob("destroy", 104, "{\"purge\":true}", 3600);
	char *s = at_sign("alice", b, strlen(b)), body[256], *uid;

	(void) snprintf(body, sizeof(body), "{\"method\":\"DELETE\",\"path\":"
	    "\"/lxc/104$\",\"status\":500,\"message\":\"cfs-lock timeout\","
	    "\"count\":%d}", n);
	at_sim(&at.pve, "/_sim/fault", body);
	at_hub_post(NULL, b, strlen(b), s);
	/* One attempt, refused: it waits out its backoff (5 s) after this. */
	ck_assert_int_eq(at_agent_once(2), 0);
	ck_assert_int_eq(at_pve_count("104:destroy"), 1);
	uid = at_only_op("authorized");
	free(b);
	free(s);
	return uid;
}

/* The issue's case: a signed destroy retrying — the operator stops it. */
START_TEST(cancel_stops_a_destroy_that_keeps_retrying)
{
	char *uid = refused_destroy(10), *s;
	const char *args[] = { "--config", at.cfg, "cancel", uid, NULL };
	const char *list[] = { "recover", NULL };
	json_t *arr, *rec;
	int st;

	arr = at_admin_json(list, &st);
	ck_assert_int_eq(st, 0);
	rec = json_object_get(json_array_get(arr, 0), "recovery");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "does")),
	    "retry later");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(rec,
	    "why")), "cfs-lock timeout"));
	json_decref(arr);
	ck_assert_int_eq(at_admin(args, NULL, NULL), 0);
	s = at_op_state(uid);
	ck_assert_str_eq(s, "cancelled");
	free(s);
	/*
	 * A --once longer than its backoff: a live op would be retried in
	 * it; a cancelled one leaves nothing to wait for.
	 */
	ck_assert_int_eq(at_agent_once(8), 0);
	ck_assert_int_eq(at_pve_count("104:destroy"), 1);
	free(uid);
}
END_TEST

START_TEST(recover_resume_drops_the_backoff)
{
	char *uid = refused_destroy(1), *out = NULL, *s;
	const char *args[] = { "--config", at.cfg, "recover", uid,
	    "--resume", NULL };
	json_t *row;

	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "authorized -> authorized"));
	free(out);
	row = last_row(uid, "resume");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(row,
	    "detail"), "operator")), "tester");
	json_decref(row);
	/* At once, not after its 5 s backoff: a 3 s --once finishes it. */
	ck_assert_int_eq(at_agent_once(3), 0);
	s = at_op_state(uid);
	ck_assert_str_eq(s, "succeeded");
	free(s);
	ck_assert_int_eq(at_pve_count("104:destroy"), 2);
	free(uid);
}
END_TEST

START_TEST(recover_rollback_returns_to_the_safety_copy)
{
	char *b = at_blob("rollback", 101, "{\"snapshot\":\"pre-upgrade\"}",
	    3600);
	char *s = at_sign("alice", b, strlen(b)), *uid, *out = NULL, *state;
	const char *list[] = { "--config", at.cfg, "recover", NULL };
	const char *args[] = { "--config", at.cfg, "recover", NULL,
	    "--rollback", NULL };
	json_t *row;

	at_sim(&at.pve, "/_sim/fault", "{\"method\":\"POST\",\"path\":"
	    "\"/snapshot/pre-upgrade/rollback$\",\"status\":500,\"count\":1}");
	at_hub_post(NULL, b, strlen(b), s);
	ck_assert_int_eq(at_agent_once(2), 0);
	/* The safety snapshot is taken; the rollback was refused once. */
	ck_assert_int_eq(at_pve_count("101:snapshot"), 1);
	ck_assert_int_eq(at_pve_count("101:rollback"), 1);
	uid = at_only_op("authorized");
	ck_assert_int_eq(at_admin(list, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "rollback (2 of 3)"));
	ck_assert_ptr_nonnull(strstr(out, "resume,rollback,abandon"));
	free(out);
	args[3] = uid;
	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "authorized -> rolling_back"));
	free(out);
	ck_assert_int_eq(at_agent_once(5), 0);
	state = at_op_state(uid);
	ck_assert_str_eq(state, "rolled_back");
	free(state);
	/* The undo: one rollback to the safety snapshot, nothing more. */
	ck_assert_int_eq(at_pve_count("101:rollback"), 2);
	row = last_row(uid, "undo_ok");
	json_decref(row);
	row = audit_row(uid, "rollback");
	ck_assert_str_eq(json_string_value(json_object_get(row, "actor")),
	    "admin:tester");
	json_decref(row);
	free(uid);
	free(b);
	free(s);
}
END_TEST

START_TEST(recover_abandon_gives_up_a_running_task)
{
	char *b = at_blob("start", 104, "{}", 3600), *uid, *out = NULL, *st;
	const char *args[] = { "--config", at.cfg, "recover", NULL, "--abandon",
	    NULL };
	const char *cancel[] = { "--config", at.cfg, "cancel", NULL, NULL };
	const char *list[] = { "recover", NULL };
	json_t *arr, *rec;
	int status;

	at_sim(&at.pve, "/_sim/task-fault", "{\"vmid\":104,\"kind\":\"start\","
	    "\"count\":1,\"hang\":true}");
	at_hub_post(NULL, b, strlen(b), NULL);
	ck_assert_int_eq(at_agent_once(2), 0);
	uid = at_only_op("running");
	arr = at_admin_json(list, &status);
	rec = json_object_get(json_array_get(arr, 0), "recovery");
	ck_assert_str_eq(json_string_value(json_object_get(rec, "does")),
	    "poll its task");
	ck_assert_uint_eq(json_array_size(json_object_get(rec, "actions")), 2);
	json_decref(arr);
	/* cancel is for what has not started: refused, says what applies. */
	cancel[3] = uid;
	ck_assert_int_eq(at_admin(cancel, NULL, &out), 1);
	ck_assert_ptr_nonnull(strstr(out, "--abandon"));
	free(out);
	args[3] = uid;
	ck_assert_int_eq(at_admin(args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "running -> cancelled"));
	free(out);
	/* The task ends later: the agent no longer cares. */
	at_sim(&at.pve, "/_sim/release", "{}");
	ck_assert_int_eq(at_agent_once(3), 0);
	st = at_op_state(uid);
	ck_assert_str_eq(st, "cancelled");
	free(st);
	ck_assert_int_eq(at_pve_count("104:start"), 1);
	free(uid);
	free(b);
}
END_TEST

START_TEST(approve_of_an_op_not_pending_says_its_state)
{
	char *uid = scenario(), *out = NULL, sigfile[4200];
	const char *cancel[] = { "--config", at.cfg, "cancel", uid, NULL };
	const char *approve[] = { "--config", at.cfg, "approve", uid,
	    "--signature", sigfile, NULL };
	struct at_snap a, b;

	(void) snprintf(sigfile, sizeof(sigfile), "%s/any.sig", at.dir);
	ck_assert_int_eq(tu_write_file(sigfile, "x", 1, 0600), 0);
	ck_assert_int_eq(at_admin(cancel, NULL, NULL), 0);
	at_snap_take(&a);
	ck_assert_int_eq(at_admin(approve, &out, NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "not pending: "));
	ck_assert_ptr_nonnull(strstr(out, "is cancelled"));
	ck_assert_ptr_null(strstr(out, "rejected"));
	free(out);
	at_snap_take(&b);
	ck_assert(at_snap_same(&a, &b));
	at_snap_free(&a);
	at_snap_free(&b);
	free(uid);
}
END_TEST

/* ---- bad input --------------------------------------------------------- */

struct bad_case {
	const char	*args[12];	/* after --config CFG; "@" = the op */
	int		 status;
	const char	*msg;		/* on stderr */
};

static const struct bad_case bad_cases[] = {
	{ { "show", "op-0000000000000000" }, 1, "no such operation" },
	{ { "cancel", "op-0000000000000000" }, 1, "no such operation" },
	{ { "recover", "op-0000000000000000", "--abandon" }, 1,
	    "no such operation" },
	{ { "approve", "op-0000000000000000", "--signature", "/dev/null" }, 1,
	    "no such operation" },
	{ { "show", "op-12" }, 64, "is not an operation id" },
	{ { "cancel", "nonsense" }, 64, "is not an operation id" },
	{ { "recover", "@", "--rollback" }, 1, "only possible between steps" },
	{ { "recover", "@", "--resume", "--abandon" }, 64, "exactly one" },
	{ { "approve", "@", "--signature", "/nonexistent/x.sig" }, 66,
	    "No such file" },
	{ { "approve", "@", "--signature", "/" }, 74, "Is a directory" },
	{ { "journal", "--since", "yesterday" }, 64, "--since 'yesterday'" },
	{ { "journal", "--vmid", "7" }, 64, "not a vmid" },
	{ { "frobnicate" }, 64, "unknown command 'frobnicate'" },
	{ { "db", "explode" }, 64, "unknown subcommand 'explode'" },
	{ { "cancel" }, 64, "usage: felhom-admin" },
	{ { "op", "new", "--op", "destroy", "--host", AT_HOST }, 64,
	    "destroy needs --guest VMID" },
	{ { "op", "new", "--op", "snapshot", "--host", AT_HOST, "--guest",
	    "101", "--ttl", "2d" }, 64, "longer than the longest window" },
	{ { "op", "new", "--op", "rotate_signers", "--host", AT_HOST,
	    "--guest", "101" }, 64, "host-scoped" },
};

/* The bad-input cases share one scenario: none of them changes it. */
static char *bad_uid;

static void
bad_start(void)
{
	at_sims_start();
	at_setup();
	bad_uid = scenario();
}

static void
bad_stop(void)
{
	free(bad_uid);
	bad_uid = NULL;
	at_teardown();
	at_sims_stop();
}

START_TEST(bad_input_one_line_documented_status_nothing_changed)
{
	const struct bad_case *c = &bad_cases[_i];
	const char *uid = bad_uid;
	char *err = NULL;
	const char *argv[16];
	struct at_snap a, b;
	size_t n = 0, k;
	int st;

	argv[n++] = "--config";
	argv[n++] = at.cfg;
	for (k = 0; k < 12 && c->args[k] != NULL; k++)
		argv[n++] = strcmp(c->args[k], "@") == 0 ? uid : c->args[k];
	argv[n] = NULL;
	at_snap_take(&a);
	st = at_admin(argv, NULL, &err);
	at_snap_take(&b);
	ck_assert_msg(st == c->status, "%s: exit %d, want %d: %s", c->args[0],
	    st, c->status, err);
	ck_assert_msg(strstr(err, c->msg) != NULL, "%s: '%s' not in: %s",
	    c->args[0], c->msg, err);
	/* One line (a usage error adds the synopsis), the path once. */
	if (c->status != 64 || strstr(c->msg, "usage") == NULL)
		ck_assert_msg(tu_count(err, "\n") <= 1 || strstr(err,
		    "usage:") != NULL, "more than one line: %s", err);
	ck_assert_uint_le(tu_count(err, at.db), 1);
	ck_assert_msg(at_snap_same(&a, &b), "%s changed the database",
	    c->args[0]);
	at_snap_free(&a);
	at_snap_free(&b);
	free(err);
}
END_TEST

/* A database from a newer felhom-agent: refused, one line, untouched. */
START_TEST(a_newer_database_is_refused_untouched)
{
	char *uid = scenario(), *err = NULL;
	const char *args[] = { "--config", at.cfg, "journal", NULL };
	const char *cancel[] = { "--config", at.cfg, "cancel", uid, NULL };
	struct at_snap a, b;
	sqlite3 *h = NULL;

	ck_assert_int_eq(sqlite3_open(at.db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
	at_snap_take(&a);
	ck_assert_int_eq(at_admin(args, NULL, &err), 78);
	ck_assert_ptr_nonnull(strstr(err, "schema 99 is newer"));
	ck_assert_uint_eq(tu_count(err, "\n"), 1);
	ck_assert_uint_eq(tu_count(err, at.db), 1);
	free(err);
	ck_assert_int_eq(at_admin(cancel, NULL, &err), 78);
	free(err);
	at_snap_take(&b);
	ck_assert(at_snap_same(&a, &b));
	at_snap_free(&a);
	at_snap_free(&b);
	free(uid);
}
END_TEST

/* ---- the global options ----------------------------------------------- */

/* --config, --db, --json before the command or after it: the same. */
START_TEST(global_options_before_or_after_the_command)
{
	char *uid = scenario(), *a = NULL, *b = NULL, *c = NULL;
	const char *before[] = { "--config", at.cfg, "--json", "journal",
	    "--op", uid, NULL };
	const char *after[] = { "journal", "--op", uid, "--json", "--config",
	    at.cfg, NULL };
	const char *dbonly[] = { "journal", "--db", at.db, "--op", uid,
	    "--json", NULL };
	const char *eq[] = { "status", "--config=/nonexistent/c.json", NULL };

	ck_assert_int_eq(at_admin(before, &a, NULL), 0);
	ck_assert_int_eq(at_admin(after, &b, NULL), 0);
	/* --db alone: no configuration needed for the database. */
	ck_assert_int_eq(at_admin(dbonly, &c, NULL), 0);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(a, c);
	ck_assert_ptr_nonnull(strstr(a, uid));
	free(a);
	free(b);
	free(c);
	b = NULL;
	ck_assert_int_eq(at_admin(eq, NULL, &b), 66);
	ck_assert_ptr_nonnull(strstr(b, "/nonexistent/c.json"));
	free(b);
	free(uid);
}
END_TEST

/* ---- db, signers, nonces ------------------------------------------------- */

START_TEST(db_check_and_backup)
{
	char *uid = scenario(), *out = NULL, *err = NULL, bk[4200], bad[4200];
	char want[32];
	const char *check[] = { "--config", at.cfg, "db", "check", NULL };
	const char *backup[] = { "--config", at.cfg, "db", "backup", bk, NULL };
	const char *bkcheck[] = { "--db", bk, "db", "check", "--json", NULL };
	const char *badcheck[] = { "--db", bad, "db", "check", NULL };
	char *before, *after;
	size_t len, len2;
	json_t *doc;

	ck_assert_int_eq(at_admin(check, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "integrity ok"));
	(void) snprintf(want, sizeof(want), "schema %d", db_schema_latest());
	ck_assert_ptr_nonnull(strstr(out, want));
	free(out);
	(void) snprintf(bk, sizeof(bk), "%s/copy.db", at.dir);
	ck_assert_int_eq(at_admin(backup, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "integrity ok"));
	free(out);
	ck_assert_int_eq(at_admin(bkcheck, &out, NULL), 0);
	doc = json_loads(out, 0, NULL);
	ck_assert(json_is_true(json_object_get(doc, "ok")));
	json_decref(doc);
	free(out);
	/* A file that exists is never replaced. */
	before = tu_read_file(bk, &len);
	ck_assert_int_eq(at_admin(backup, NULL, &err), 74);
	ck_assert_ptr_nonnull(strstr(err, "exists; nothing was overwritten"));
	ck_assert_uint_eq(tu_count(err, bk), 1);
	after = tu_read_file(bk, &len2);
	ck_assert(len == len2 && memcmp(before, after, len) == 0);
	free(before);
	free(after);
	free(err);
	/* A damaged database fails the check: the answer is no (1). */
	(void) snprintf(bad, sizeof(bad), "%s/bad.db", at.dir);
	before = tu_read_file(bk, &len);
	memset(before + len / 2, 0x5a, 4096);
	ck_assert_int_eq(tu_write_file(bad, before, len, 0600), 0);
	free(before);
	ck_assert_int_eq(at_admin(badcheck, &out, NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "integrity FAILED"));
	free(out);
	free(uid);
}
END_TEST

START_TEST(signers_list_and_diff)
{
	char *uid = scenario(), *out = NULL, *path, *text, *eve = NULL;
	const char *list[] = { "signers", "list", NULL };
	const char *diff[] = { "--config", at.cfg, "signers", "diff", NULL };
	const char *jdiff[] = { "signers", "diff", NULL };
	json_t *doc;
	size_t len;
	int st;

	doc = at_admin_json(list, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(json_array_size(doc), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(doc,
	    0), "principals")), "alice@ops");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
	    json_array_get(doc, 0), "fingerprint")), "SHA256:"));
	json_decref(doc);
	ck_assert_int_eq(at_admin(diff, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "agree"));
	free(out);
	/* eve added to the file: not live until a rotation. */
	ck_assert_int_gt(asprintf(&path, "%s/operational_signers", at.dir), 0);
	text = tu_read_file(path, &len);
	{
		char kp[4200], *pub;

		(void) snprintf(kp, sizeof(kp), "%s/eve.pub", at.dir);
		pub = tu_read_file(kp, NULL);
		ck_assert_ptr_nonnull(pub);
		ck_assert_int_gt(asprintf(&eve, "%seve@ops %s", text, pub), 0);
		free(pub);
	}
	ck_assert_int_eq(tu_write_file(path, eve, strlen(eve), 0644), 0);
	ck_assert_int_eq(at_admin(diff, &out, NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "only in the files"));
	ck_assert_ptr_nonnull(strstr(out, "+ operational SHA256:"));
	free(out);
	doc = at_admin_json(jdiff, &st);
	ck_assert_int_eq(st, 1);
	ck_assert_uint_eq(json_array_size(json_object_get(doc, "only_files")),
	    1);
	json_decref(doc);
	free(text);
	free(eve);
	free(path);
	free(uid);
}
END_TEST

START_TEST(nonces_prune_only_what_expired)
{
	char *b1, *b2, *s1, *s2, *out = NULL;
	const char *prune[] = { "nonces", "prune", NULL };
	const char *human[] = { "--config", at.cfg, "nonces", "prune", NULL };
	sqlite3 *h = NULL;
	json_t *doc;
	int st;

	b1 = at_blob("snapshot", 101, "{\"name\":\"short\"}", 60);
	b2 = at_blob("snapshot", 102, "{\"name\":\"long\"}", 3600);
	s1 = at_sign("alice", b1, strlen(b1));
	s2 = at_sign("alice", b2, strlen(b2));
	at_hub_post(NULL, b1, strlen(b1), s1);
	at_hub_post(NULL, b2, strlen(b2), s2);
	ck_assert_int_eq(at_agent_once(8), 0);
	ck_assert_int_eq(at_pve_count("101:snapshot"), 1);
	ck_assert_int_eq(at_pve_count("102:snapshot"), 1);
	/* Both within not_after + the largest skew (issue 10): both kept. */
	doc = at_admin_json(prune, &st);
	ck_assert_int_eq(st, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "pruned")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "kept")), 2);
	json_decref(doc);
	/*
	 * Time passes for the short one only: its expiry (not_after + the
	 * configuration's maximum skew, an hour) moved into the past, as two
	 * hours later.
	 */
	ck_assert_int_eq(sqlite3_open(at.db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "UPDATE nonces SET expires_at = "
	    "expires_at - 7200 WHERE expires_at = (SELECT min(expires_at) "
	    "FROM nonces)", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_changes(h), 1);
	sqlite3_close(h);
	ck_assert_int_eq(at_admin(human, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "pruned 1 expired nonce; 1 kept"));
	free(out);
	free(b1);
	free(b2);
	free(s1);
	free(s2);
}
END_TEST

static Suite *
commands_suite(void)
{
	Suite *s = suite_create("admin_commands");
	TCase *tc;

	/*
	 * One pair of simulators for every group (at_setup resets both
	 * worlds); bad_stop stops it, main() if a failure skipped that.
	 */
	tc = tcase_create("read");
	tcase_add_unchecked_fixture(tc, at_sims_start, NULL);
	tcase_add_checked_fixture(tc, at_setup, at_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, status_shows_agent_hub_ops_and_signers);
	tcase_add_test(tc, a_steady_daemon_with_the_hub_commits_nothing);
	tcase_add_test(tc,
	    report_live_has_no_seq_and_last_is_what_the_hub_took);
	tcase_add_test(tc, journal_filters_by_op_vmid_and_since);
	tcase_add_test(tc, audit_filters_by_seq_and_code);
	tcase_add_test(tc, show_gives_steps_journal_audit_and_sign_request);
	tcase_add_test(tc, pending_names_the_guest_params_source_and_blocked);
	tcase_add_test(tc, db_check_and_backup);
	tcase_add_test(tc, signers_list_and_diff);
	tcase_add_test(tc, global_options_before_or_after_the_command);
	suite_add_tcase(s, tc);

	tc = tcase_create("steer");
	tcase_add_unchecked_fixture(tc, at_sims_start, NULL);
	tcase_add_checked_fixture(tc, at_setup, at_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cancel_of_a_pending_op_keeps_it_from_ever_running);
	tcase_add_test(tc, cancel_stops_a_destroy_that_keeps_retrying);
	tcase_add_test(tc, recover_resume_drops_the_backoff);
	tcase_add_test(tc, recover_rollback_returns_to_the_safety_copy);
	tcase_add_test(tc, recover_abandon_gives_up_a_running_task);
	tcase_add_test(tc, approve_of_an_op_not_pending_says_its_state);
	tcase_add_test(tc, nonces_prune_only_what_expired);
	suite_add_tcase(s, tc);

	tcase_add_test(tc, a_newer_database_is_refused_untouched);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_input");
	tcase_add_unchecked_fixture(tc, bad_start, bad_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc,
	    bad_input_one_line_documented_status_nothing_changed, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(commands_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	at_sims_stop();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
