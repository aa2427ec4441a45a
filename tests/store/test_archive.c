/*
 * test_archive — retention (issue 15): terminal ops past the retention
 * age move with their journal and audit rows to monthly archives; every
 * row stays readable exactly once across live + archive, each op's
 * journal whole and gap-free, a crash mid-move loses and doubles
 * nothing, nonces and idempotency keys still refuse replays, and the
 * append-only triggers still refuse every other DELETE.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "store/archive.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/nonces.h"
#include "store/ops.h"
#include "testutil.h"

#define DAY	86400
/* 2026-05-20T00:00:00Z */
#define NOW	1779235200
#define CUTOFF	(NOW - 90 * DAY)
#define NOPS	40

static char *dir;
static char dbpath[512];
static struct db *db;

static void
x(const char *sql)
{
	char *emsg = NULL;

	ck_assert_msg(sqlite3_exec(db_handle(db), sql, NULL, NULL, &emsg) ==
	    SQLITE_OK, "%s: %s", sql, emsg != NULL ? emsg : "?");
}

static void
xf(const char *fmt, ...)
{
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	ck_assert_ptr_nonnull(sql);
	x(sql);
	sqlite3_free(sql);
}

/*
 * NOPS ops: the odd ones ended long ago (in two months, 96..134 days
 * back), the even ones yesterday (so the newest journal row is a live
 * op's); each with 3..5 journal rows and an audit row; plus audit rows
 * of no op, old and new, in the order of their time.
 */
static void
fill(void)
{
	int64_t ended;
	int i, k;

	x("BEGIN");
	for (i = 1; i <= NOPS; i++) {
		ended = i % 2 == 1 ? NOW - (95 + i) * DAY : NOW - DAY;
		xf("INSERT INTO ops (id, uid, vmid, kind, source, class, state, "
		    "idem_key, created_at, updated_at, ended_at) VALUES (%d, "
		    "'op-%016x', %d, 'start', 'desired', 'benign', 'succeeded', "
		    "'key/%d', %lld, %lld, %lld)", i, i, 100 + i, i,
		    (long long)(ended - 60), (long long)ended,
		    (long long)ended);
		xf("INSERT INTO idempotency VALUES ('key/%d', %d, %lld)", i, i,
		    (long long)(ended - 60));
		for (k = 0; k < 3 + i % 3; k++)
			xf("INSERT INTO journal (op_id, at, from_state, event, "
			    "to_state, step) VALUES (%d, %lld, 's%d', 'e%d', "
			    "'s%d', %d)", i, (long long)(ended - 60 + k), k, k,
			    k + 1, k);
		xf("INSERT INTO audit (at, event, code, op_id, vmid) VALUES "
		    "(%lld, 'transition', 'ok', %d, %d)", (long long)ended, i,
		    100 + i);
	}
	/* Audit rows of no op, appended as time went (seq follows at). */
	for (i = NOPS - 1; i >= -NOPS; i -= 2)
		xf("INSERT INTO audit (at, event, code) VALUES (%lld, "
		    "'verify', 'expired')", (long long)(i > 0 ? NOW - (95 + i) *
		    DAY : NOW + i * 60));
	x("COMMIT");
}

static void
setup(void)
{
	struct err err;

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err) == 0, "%s", err_msg(&err));
	fill();
}

static void
teardown(void)
{
	db_close(db);
	db = NULL;
	tu_rmrf(dir);
	free(dir);
}

/* Every row of table, one text line each, ordered by key (live only). */
static char *
rows(sqlite3 *h, const char *schema, const char *table, const char *key)
{
	sqlite3_stmt *st;
	char *sql, *out = NULL;

	sql = sqlite3_mprintf("SELECT group_concat(r, char(10)) FROM (SELECT "
	    "json_array(*) AS r FROM (SELECT * FROM %w.%w ORDER BY %w))",
	    schema, table, key);
	ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	sqlite3_free(sql);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	if (sqlite3_column_text(st, 0) != NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out != NULL ? out : strdup("");
}

static int64_t
count(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n;

	ck_assert_msg(sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(h));
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * A fresh connection (as the sqlite3 shell) with every archive file of
 * dir attached, and temp views all_<table> over live + archives.
 */
static sqlite3 *
reader(int *narch)
{
	static const char *const months[] = { "2026-01", "2026-02", "2026-03",
	    "2026-04", "2026-05", NULL };
	static const char *const tables[] = { "ops", "journal", "audit",
	    NULL };
	char path[700], *u[3] = { NULL, NULL, NULL }, *sql;
	struct stat sb;
	sqlite3 *h;
	int i, t, n = 0;

	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	for (t = 0; tables[t] != NULL; t++)
		u[t] = sqlite3_mprintf("SELECT * FROM main.%s", tables[t]);
	for (i = 0; months[i] != NULL; i++) {
		(void) snprintf(path, sizeof(path), "%s/archive-%s.db", dir,
		    months[i]);
		if (stat(path, &sb) != 0)
			continue;
		sql = sqlite3_mprintf("ATTACH %Q AS a%d", path, n);
		ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_free(sql);
		for (t = 0; tables[t] != NULL; t++) {
			sql = sqlite3_mprintf("%s UNION ALL SELECT * FROM "
			    "a%d.%s", u[t], n, tables[t]);
			sqlite3_free(u[t]);
			u[t] = sql;
		}
		n++;
	}
	for (t = 0; tables[t] != NULL; t++) {
		sql = sqlite3_mprintf("CREATE TEMP VIEW all_%s AS %s",
		    tables[t], u[t]);
		ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_free(sql);
		sqlite3_free(u[t]);
	}
	*narch = n;
	return h;
}

struct snap {
	char	*ops, *journal, *audit;
};

static void
snap_take(struct snap *s, sqlite3 *h, const char *prefix)
{
	char t[3][32];

	(void) snprintf(t[0], sizeof(t[0]), "%sops", prefix);
	(void) snprintf(t[1], sizeof(t[1]), "%sjournal", prefix);
	(void) snprintf(t[2], sizeof(t[2]), "%saudit", prefix);
	s->ops = rows(h, prefix[0] != '\0' ? "temp" : "main", t[0], "id");
	s->journal = rows(h, prefix[0] != '\0' ? "temp" : "main", t[1], "id");
	s->audit = rows(h, prefix[0] != '\0' ? "temp" : "main", t[2], "seq");
}

static void
snap_free(struct snap *s)
{
	free(s->ops);
	free(s->journal);
	free(s->audit);
}

/* Steps until nothing is due; returns the steps that moved something. */
static int
drain(int64_t upto)
{
	struct archive_result r;
	struct err err;
	int n = 0;

	for (;;) {
		err_init(&err);
		ck_assert_msg(archive_step(db, NOW, CUTOFF, upto, 4, &r,
		    &err) == 0, "archive_step: %s", err_msg(&err));
		if (r.ops == 0 && r.audit == 0)
			return n;
		ck_assert(r.file[0] != '\0');
		n++;
		ck_assert_int_lt(n, 200);
	}
}

/* The audit rows of the moves themselves (newer than the snapshot). */
#define NMOVES_SQL "SELECT count(*) FROM main.audit WHERE event = " \
	"'retention' AND decision = 'archived'"

START_TEST(old_terminal_ops_move_and_every_row_stays_readable_once)
{
	struct snap before, after;
	sqlite3 *h;
	int narch, moves;
	int64_t maxseq;

	h = reader(&narch);
	snap_take(&before, h, "");
	maxseq = count(h, "SELECT max(seq) FROM audit");
	sqlite3_close(h);
	ck_assert_int_eq(narch, 0);

	moves = drain(INT64_MAX);
	ck_assert_int_gt(moves, 5);	/* 4 ops a step: small transactions */

	h = reader(&narch);
	ck_assert_int_eq(narch, 2);	/* two months' files */
	/* Live: only the recent ops; their rows all there. */
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops"), NOPS / 2);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops WHERE "
	    "ended_at < " "1771459200"), 0);
	/* Every row once across live + archive, unchanged ... */
	ck_assert_int_eq(count(h, "SELECT count(*) - count(DISTINCT id) FROM "
	    "all_ops"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) - count(DISTINCT id) FROM "
	    "all_journal"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) - count(DISTINCT seq) FROM "
	    "all_audit"), 0);
	{
		char *sql;

		/* ... (the view minus the audit rows of the moves). */
		sql = sqlite3_mprintf("CREATE TEMP VIEW all_audit_old AS "
		    "SELECT * FROM all_audit WHERE seq <= %lld",
		    (long long)maxseq);
		ck_assert_int_eq(sqlite3_exec(h, sql, NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_free(sql);
	}
	after.ops = rows(h, "temp", "all_ops", "id");
	after.journal = rows(h, "temp", "all_journal", "id");
	after.audit = rows(h, "temp", "all_audit_old", "seq");
	ck_assert_str_eq(after.ops, before.ops);
	ck_assert_str_eq(after.journal, before.journal);
	ck_assert_str_eq(after.audit, before.audit);
	/* Each op's journal is whole in one place: its op's file. */
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.journal j WHERE "
	    "NOT EXISTS (SELECT 1 FROM main.ops o WHERE o.id = j.op_id)"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM a0.journal j WHERE "
	    "NOT EXISTS (SELECT 1 FROM a0.ops o WHERE o.id = j.op_id)"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM a1.journal j WHERE "
	    "NOT EXISTS (SELECT 1 FROM a1.ops o WHERE o.id = j.op_id)"), 0);
	/* Old audit rows of no op moved too; the newest stays. */
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.audit WHERE "
	    "op_id IS NULL AND at < 1771459200 AND event <> 'retention'"), 0);
	/* Each move is audited. */
	ck_assert_int_eq(count(h, NMOVES_SQL), moves);
	sqlite3_close(h);
	snap_free(&before);
	free(after.ops);
	free(after.journal);
	free(after.audit);
}
END_TEST

/* The archive alone, as `sqlite3 archive-YYYY-MM.db` reads it. */
START_TEST(an_archive_reads_alone_with_its_views_and_stays_append_only)
{
	char path[700];
	sqlite3 *h;
	int64_t gaps;

	(void) drain(INT64_MAX);
	(void) snprintf(path, sizeof(path), "%s/archive-2026-02.db", dir);
	ck_assert_int_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	ck_assert_int_gt(count(h, "SELECT count(*) FROM v_journal WHERE op "
	    "IS NOT NULL"), 0);
	ck_assert_int_gt(count(h, "SELECT count(*) FROM v_ops"), 0);
	ck_assert_int_gt(count(h, "SELECT count(*) FROM v_audit"), 0);
	/* Per op, the journal ids are consecutive among the op's own rows. */
	gaps = count(h, "SELECT count(*) FROM (SELECT op_id, count(*) AS n, "
	    "(SELECT count(*) FROM journal j2 WHERE j2.op_id = j.op_id) AS m "
	    "FROM journal j GROUP BY op_id) WHERE n <> m");
	ck_assert_int_eq(gaps, 0);
	ck_assert_int_ne(sqlite3_exec(h, "DELETE FROM journal", NULL, NULL,
	    NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(h, "UPDATE ops SET state = 'failed'",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}
END_TEST

START_TEST(the_live_tables_stay_append_only_outside_a_move)
{
	sqlite3 *h;

	/* The agent's own connection, outside a move. */
	ck_assert_int_ne(sqlite3_exec(db_handle(db), "DELETE FROM journal "
	    "WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(db_handle(db), "DELETE FROM audit "
	    "WHERE seq = 1", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(db_handle(db), "UPDATE journal SET "
	    "event = 'x'", NULL, NULL, NULL), SQLITE_OK);
	/* Another program (no felhom_archive_move function at all). */
	ck_assert_int_eq(sqlite3_open(dbpath, &h), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(h, "DELETE FROM journal", NULL, NULL,
	    NULL), SQLITE_OK);
	ck_assert_int_ne(sqlite3_exec(h, "DELETE FROM audit", NULL, NULL,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM journal"),
	    count(h, "SELECT count(*) FROM journal"));
	sqlite3_close(h);
	(void) drain(INT64_MAX);
	/* After a move, the same holds. */
	ck_assert_int_ne(sqlite3_exec(db_handle(db), "DELETE FROM journal",
	    NULL, NULL, NULL), SQLITE_OK);
}
END_TEST

/* A child process moves with the crash point armed; it dies there. */
static void
crash_at(const char *point)
{
	struct archive_result r;
	struct db *cdb = NULL;
	struct err err;
	pid_t pid;
	int st;

	/* No connection carried across fork(): closed, reopened after. */
	db_close(db);
	db = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		(void) setenv("FELHOM_CRASHPOINT", point, 1);
		if (db_open(dbpath, 0, &cdb, NULL) != 0)
			_exit(3);
		(void) archive_step(cdb, NOW, CUTOFF, INT64_MAX, 4, &r, NULL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 137,
	    "the child did not crash at %s (status %d)", point, st);
	err_init(&err);
	ck_assert_msg(db_open(dbpath, 0, &db, &err) == 0, "%s",
	    err_msg(&err));
}

START_TEST(a_crash_mid_move_loses_and_doubles_nothing)
{
	static const char *const points[] = { "archive.copied",
	    "archive.before_commit" };
	const char *point = points[_i];
	struct snap before;
	char *ops, *journal;
	sqlite3 *h;
	int narch;

	h = reader(&narch);
	snap_take(&before, h, "");
	sqlite3_close(h);
	crash_at(point);
	/* Copied, not deleted: the rows are in both places for now. */
	h = reader(&narch);
	ck_assert_int_eq(narch, 1);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops"), NOPS);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM a0.ops"), 4);
	ck_assert_int_eq(count(h, NMOVES_SQL), 0);
	sqlite3_close(h);
	/* The next steps finish the move: each row once. */
	(void) drain(INT64_MAX);
	h = reader(&narch);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM all_ops"), NOPS);
	ck_assert_int_eq(count(h, "SELECT count(*) - count(DISTINCT id) FROM "
	    "all_journal"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) - count(DISTINCT seq) FROM "
	    "all_audit"), 0);
	ops = rows(h, "temp", "all_ops", "id");
	journal = rows(h, "temp", "all_journal", "id");
	ck_assert_str_eq(ops, before.ops);
	ck_assert_str_eq(journal, before.journal);
	sqlite3_close(h);
	free(ops);
	free(journal);
	snap_free(&before);
}
END_TEST

START_TEST(nonces_and_keys_still_refuse_replays)
{
	struct err err;
	int inserted = 0, exists = 0;
	int64_t id = 0;
	sqlite3 *h;
	int narch;

	/* Op 3 (ended long ago) was accepted with a nonce still live. */
	err_init(&err);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_msg(nonces_insert(db, "0123456789abcdef0123456789abcdef", 3,
	    "alice", NOW - 100 * DAY, NOW + DAY, &inserted, &err) == 0, "%s",
	    err_msg(&err));
	ck_assert_int_eq(db_commit(db, NULL), 0);
	(void) drain(INT64_MAX);
	ck_assert_int_eq(nonces_exists(db, "0123456789abcdef0123456789abcdef",
	    &exists, NULL), 0);
	ck_assert_int_eq(exists, 1);
	h = reader(&narch);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops WHERE id = "
	    "3"), 1);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.journal WHERE "
	    "op_id = 3"), 3);
	sqlite3_close(h);
	/* An archived op's key is still known: never applied again. */
	ck_assert_int_eq(ops_find_key(db, "key/5", &id, NULL), 0);
	ck_assert_int_eq(id, 5);
	/* Expired and pruned: then the op moves. */
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(nonces_prune(db, NOW + 2 * DAY, NULL, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	(void) drain(INT64_MAX);
	h = reader(&narch);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops WHERE id = "
	    "3"), 0);
	sqlite3_close(h);
}
END_TEST

START_TEST(audit_the_hub_has_not_acked_stays)
{
	sqlite3 *h;
	int narch;

	/* Acked up to seq 10: ops whose audit rows are past it stay. */
	(void) drain(10);
	h = reader(&narch);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM all_audit WHERE seq > "
	    "10 AND seq NOT IN (SELECT seq FROM main.audit)"), 0);
	ck_assert_int_gt(count(h, "SELECT count(*) FROM main.ops WHERE "
	    "ended_at < 1771459200"), 0);
	sqlite3_close(h);
}
END_TEST

START_TEST(nothing_due_writes_nothing)
{
	struct archive_result r;
	sqlite3 *h;
	int64_t dv;
	int narch;

	(void) drain(INT64_MAX);
	h = reader(&narch);
	dv = count(h, "PRAGMA data_version");
	ck_assert_int_eq(archive_step(db, NOW, CUTOFF, INT64_MAX, 4, &r, NULL),
	    0);
	ck_assert_uint_eq(r.ops + r.audit, 0);
	ck_assert_int_eq(count(h, "PRAGMA data_version"), dv);
	sqlite3_close(h);
}
END_TEST

/*
 * An op moved to an archive keeps its id for good: a new op never gets
 * it again, even when the moved op had the highest id (its journal, its
 * idempotency and provenance rows name it).
 */
START_TEST(a_moved_ops_id_is_never_handed_out_again)
{
	sqlite3_stmt *st;
	sqlite3 *h;
	int64_t id;
	int narch;

	/* The highest id, ended long ago; a live op has the newest row. */
	x("BEGIN");
	xf("INSERT INTO ops (id, uid, vmid, kind, source, class, state, "
	    "idem_key, created_at, updated_at, ended_at) VALUES (%d, "
	    "'op-%016x', 150, 'start', 'desired', 'benign', 'succeeded', "
	    "'key/last', %lld, %lld, %lld)", NOPS + 1, NOPS + 1,
	    (long long)(NOW - 120 * DAY), (long long)(NOW - 120 * DAY),
	    (long long)(NOW - 120 * DAY));
	xf("INSERT INTO journal (op_id, at, from_state, event, to_state) "
	    "VALUES (%d, %lld, 'new', 'done', 'succeeded')", NOPS + 1,
	    (long long)(NOW - 120 * DAY));
	xf("INSERT INTO journal (op_id, at, from_state, event, to_state) "
	    "VALUES (2, %lld, 'a', 'b', 'c')", (long long)(NOW - DAY));
	x("COMMIT");
	(void) drain(INT64_MAX);
	h = reader(&narch);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM main.ops WHERE id = "
	    "41"), 0);
	ck_assert_int_eq(count(h, "SELECT count(*) FROM all_ops WHERE id = "
	    "41"), 1);
	sqlite3_close(h);
	/* A new op, as ops_create inserts it (no id given). */
	ck_assert_int_eq(sqlite3_prepare_v2(db_handle(db), "INSERT INTO ops "
	    "(uid, vmid, kind, source, class, state, idem_key, created_at, "
	    "updated_at) VALUES ('op-new', 151, 'start', 'desired', 'benign', "
	    "'new', 'key/new', 1, 1) RETURNING id", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	id = sqlite3_column_int64(st, 0);
	ck_assert_int_eq(sqlite3_finalize(st), SQLITE_OK);
	ck_assert_int_gt(id, NOPS + 1);
}
END_TEST

static Suite *
archive_suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc = tcase_create("archive");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc,
	    old_terminal_ops_move_and_every_row_stays_readable_once);
	tcase_add_test(tc,
	    an_archive_reads_alone_with_its_views_and_stays_append_only);
	tcase_add_test(tc, the_live_tables_stay_append_only_outside_a_move);
	tcase_add_loop_test(tc, a_crash_mid_move_loses_and_doubles_nothing,
	    0, 2);
	tcase_add_test(tc, nonces_and_keys_still_refuse_replays);
	tcase_add_test(tc, audit_the_hub_has_not_acked_stays);
	tcase_add_test(tc, nothing_due_writes_nothing);
	tcase_add_test(tc, a_moved_ops_id_is_never_handed_out_again);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(archive_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
