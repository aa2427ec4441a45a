/*
 * test_exitcodes — the one exit-status table (base/exitcode.h, R-36):
 * every documented condition, produced for real, gives its status from
 * felhom-agent and from felhom-admin alike; the table in the docs (the
 * man pages' source) is the one the binaries print; --once says why it
 * failed on stderr.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "atu.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "store/db.h"
#include "testutil.h"

static char *dir;
static char cfg[4200], db[4200], desired[4200];

/* A configuration with PVE on a closed port (nothing listens there). */
static void
write_cfg(const char *dbpath, const char *hub, const char *desired_file)
{
	char *text;

	ck_assert_int_gt(asprintf(&text,
	    "{\"host\":{\"id\":\"pve-01\",\"node\":\"pve-01\"},"
	    "\"database\":\"%s\","
	    "\"pve\":{\"url\":\"https://127.0.0.1:1/api2/json\","
	    "\"token_id\":\"felhom@pve!agent\",\"token_secret\":\"s3cr3t-x\","
	    "\"insecure\":true,\"timeout_s\":2},"
	    "%s\"desired_file\":\"%s\","
	    "\"authz\":{\"operational_signers\":\"%s/none\","
	    "\"recovery_signers\":\"%s/none\"}}",
	    dbpath, hub, desired_file, dir, dir), 0);
	ck_assert_int_eq(tu_write_file(cfg, text, strlen(text), 0600), 0);
	free(text);
}

static void
setup(void)
{
	static const char doc[] = "{\"schema\":\"felhom.desired/v1\","
	    "\"host_id\":\"pve-01\",\"generation\":1,\"guests\":[]}";

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
	(void) snprintf(db, sizeof(db), "%s/state.db", dir);
	(void) snprintf(desired, sizeof(desired), "%s/desired.json", dir);
	ck_assert_int_eq(tu_write_file(desired, doc, strlen(doc), 0644), 0);
	write_cfg(db, "\"hub\":{\"mode\":\"off\"},", desired);
}

static void
teardown(void)
{
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
}

/* Runs a binary with args; its status, stderr kept in *err (heap). */
static int
run(const char *bin, const char *const args[], char **err)
{
	const char *argv[24];
	int n = 0, st = -1;

	argv[n++] = tu_bin(bin);
	while (*args != NULL && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, NULL, err, &st), 0);
	return st;
}

/* felhom-admin db migrate: an empty database of this binary. */
static void
make_db(const char *path)
{
	const char *args[] = { "--db", path, "db", "migrate", NULL };

	ck_assert_int_eq(run("felhom-admin", args, NULL), 0);
}

/* The preparations a condition needs. */
enum prep {
	P_NONE,
	P_DB,			/* an empty database */
	P_CORRUPT,		/* a file that is not a database */
	P_FOREIGN,		/* someone else's SQLite database */
	P_NEWER,		/* our database, schema 99 */
	P_BAD_CONFIG,		/* a configuration that does not validate */
	P_BAD_DESIRED,		/* desired_file is not JSON */
	P_NO_DB_DIR,		/* database where no directory can be made */
	P__COUNT
};

struct row {
	const char	*condition;
	enum prep	 prep;
	int		 status;
	const char	*agent[8];	/* NULL first: not the agent's */
	const char	*admin[8];	/* NULL first: not the admin's */
	const char	*msg;		/* in both stderrs, when set */
};

#define CFG	"@cfg"
#define DBP	"@db"

/* Every documented condition of docs/felhom-admin.md "Exit status". */
static const struct row rows[] = {
	{ "success", P_DB, 0, { "--version" }, { "--db", DBP, "journal" },
	    NULL },
	{ "negative: no such operation", P_DB, EXITCODE_NEGATIVE, { NULL },
	    { "--db", DBP, "show", "op-0123456789abcdef" },
	    "no such operation" },
	{ "negative: a failed check", P_CORRUPT, EXITCODE_NEGATIVE, { NULL },
	    { "--db", DBP, "db", "check" }, NULL },
	{ "usage: unknown option", P_NONE, EX_USAGE, { "--bogus" },
	    { "--bogus", "status" }, NULL },
	{ "usage: unknown option after the command", P_NONE, EX_USAGE,
	    { "--config", CFG, "--bogus" }, { "status", "--bogus" }, NULL },
	{ "usage: an option without the one it needs", P_NONE, EX_USAGE,
	    { "--once-timeout", "5" }, { "recover", "--abandon" }, NULL },
	{ "dataerr: corrupt database", P_CORRUPT, EX_DATAERR,
	    { "--config", CFG, "--once" }, { "--db", DBP, "journal" },
	    "not a database" },
	{ "dataerr: not felhom-agent's database", P_FOREIGN, EX_DATAERR,
	    { "--config", CFG, "--once" }, { "--db", DBP, "audit" },
	    "not a felhom-agent database" },
	{ "dataerr: invalid desired state", P_BAD_DESIRED, EX_DATAERR,
	    { "--config", CFG, "--once" }, { NULL }, "desired_file rejected" },
	{ "noinput: no configuration", P_NONE, EX_NOINPUT,
	    { "--config", "/nonexistent/config.json", "--once" },
	    { "--config", "/nonexistent/config.json", "status" },
	    "/nonexistent/config.json" },
	{ "noinput: no database", P_NONE, EX_NOINPUT, { NULL },
	    { "--db", DBP, "journal" }, "no database" },
	{ "unavailable: PVE unreachable", P_DB, EX_UNAVAILABLE,
	    { "--config", CFG, "--once" }, { "--config", CFG, "report" },
	    "127.0.0.1:1" },
	{ "ioerr: database cannot be written", P_NO_DB_DIR, EX_IOERR,
	    { "--config", CFG, "--once" }, { NULL }, NULL },
	{ "ioerr: a file cannot be written", P_DB, EX_IOERR, { NULL },
	    { "--db", DBP, "db", "backup", "/nonexistent/backup.db" },
	    "/nonexistent/backup.db" },
	{ "config: invalid configuration", P_BAD_CONFIG, EX_CONFIG,
	    { "--config", CFG, "--once" }, { "--config", CFG, "status" },
	    "pve.url" },
	{ "config: database schema newer than the binary", P_NEWER, EX_CONFIG,
	    { "--config", CFG, "--once" }, { "--db", DBP, "journal" },
	    "schema 99 is newer" },
};

static void
prepare(enum prep p)
{
	static const char junk[] = "this is not a database, it is a shopping "
	    "list: milk, eggs, bread, and more of it so that SQLite reads a "
	    "whole header, which is one hundred bytes long.";
	static const char badcfg[] = "{\"host\":{\"id\":\"pve-01\"},"
	    "\"pve\":{\"url\":\"ftp://x\"}}";
	sqlite3 *h = NULL;
	char path[4300];

	switch (p) {
	case P_DB:
		make_db(db);
		break;
	case P_CORRUPT:
		ck_assert_int_eq(tu_write_file(db, junk, strlen(junk), 0600),
		    0);
		break;
	case P_FOREIGN:
		ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(h, "PRAGMA application_id=7; "
		    "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
		break;
	case P_NEWER:
		make_db(db);
		ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(h, "PRAGMA user_version=99", NULL,
		    NULL, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
		break;
	case P_BAD_CONFIG:
		ck_assert_int_eq(tu_write_file(cfg, badcfg, strlen(badcfg),
		    0600), 0);
		break;
	case P_BAD_DESIRED:
		ck_assert_int_eq(tu_write_file(desired, "{not json", 9, 0644),
		    0);
		break;
	case P_NO_DB_DIR:
		/* The agent makes a missing state directory, not its parent. */
		(void) snprintf(path, sizeof(path), "%s/gone/deeper/state.db",
		    dir);
		write_cfg(path, "\"hub\":{\"mode\":\"off\"},", desired);
		break;
	default:
		break;
	}
}

/* args with @cfg / @db replaced; into out (NULL-terminated). */
static void
expand_args(const char *const in[], const char *out[])
{
	size_t i;

	for (i = 0; i < 8 && in[i] != NULL; i++)
		out[i] = strcmp(in[i], CFG) == 0 ? cfg : strcmp(in[i], DBP) ==
		    0 ? db : in[i];
	out[i] = NULL;
}

START_TEST(each_documented_condition_has_its_status_from_both_binaries)
{
	const struct row *r = &rows[_i];
	const char *args[9];
	char *err = NULL;
	int st;

	prepare(r->prep);
	if (r->agent[0] != NULL) {
		expand_args(r->agent, args);
		st = run("felhom-agent", args, &err);
		ck_assert_msg(st == r->status, "%s: felhom-agent exited %d, "
		    "documented %d\n%s", r->condition, st, r->status, err);
		if (r->msg != NULL)
			ck_assert_msg(strstr(err, r->msg) != NULL, "%s: "
			    "felhom-agent does not say '%s':\n%s",
			    r->condition, r->msg, err);
		free(err);
		err = NULL;
	}
	if (r->admin[0] != NULL) {
		expand_args(r->admin, args);
		st = run("felhom-admin", args, &err);
		ck_assert_msg(st == r->status, "%s: felhom-admin exited %d, "
		    "documented %d\n%s", r->condition, st, r->status, err);
		if (r->msg != NULL)
			ck_assert_msg(strstr(err, r->msg) != NULL, "%s: "
			    "felhom-admin does not say '%s':\n%s",
			    r->condition, r->msg, err);
		free(err);
	}
}
END_TEST

/* "tempfail": another agent holds the lock; a writer holds the db. */
START_TEST(tempfail_from_both_binaries)
{
	const char *agent[] = { "--config", cfg, "--once", NULL };
	const char *admin[] = { "--db", db, "cancel", "op-0123456789abcdef",
	    NULL };
	char *err = NULL;
	sqlite3 *h = NULL;
	int fd = -1;

	make_db(db);
	/* This process plays the running agent. */
	ck_assert_int_eq(db_lock_agent(db, &fd, NULL, NULL), 0);
	ck_assert_int_eq(run("felhom-agent", agent, &err), EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err, "another felhom-agent"));
	free(err);
	(void) close(fd);
	/* A writer holding the database past the busy timeout. */
	ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	err = NULL;
	ck_assert_int_eq(run("felhom-admin", admin, &err), EX_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err, "busy"));
	free(err);
	ck_assert_int_eq(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
}
END_TEST

START_TEST(software_is_the_rest)
{
	/* No way to make a bug on demand: the mapping itself. */
	ck_assert_int_eq(exitcode_of(ERR_INTERNAL), EX_SOFTWARE);
	ck_assert_int_eq(exitcode_of(ERR_NOMEM), EX_SOFTWARE);
	ck_assert_int_eq(exitcode_of(ERR_CRYPTO), EX_SOFTWARE);
	ck_assert_int_eq(exitcode_of(0), 0);
}
END_TEST

/* --once: why it failed, on stderr, as the last word. */
START_TEST(once_says_why_the_cycle_failed)
{
	const char *agent[] = { "--config", cfg, "--once", NULL };
	char *err = NULL;

	ck_assert_int_eq(run("felhom-agent", agent, &err), EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(err, "--once: the cycle failed: cannot "
	    "observe PVE: "));
	free(err);
	err = NULL;
	prepare(P_BAD_DESIRED);
	ck_assert_int_eq(run("felhom-agent", agent, &err), EX_DATAERR);
	ck_assert_ptr_nonnull(strstr(err, "--once: the cycle failed: desired "
	    "state invalid: "));
	free(err);
}
END_TEST

/* The hub refusing the token: --once fails, named as the hub's. */
START_TEST(once_fails_when_the_hub_refuses)
{
	const char *env[] = { "FELHOM_AGENT_HUB_TOKEN=not-the-token-1234",
	    NULL };
	const char *argv[] = { NULL, "--config", at.cfg, "--once",
	    "--once-timeout", "3", NULL };
	char *err = NULL;
	int st;

	at_sims_start();
	at_setup();
	argv[0] = tu_bin("felhom-agent");
	ck_assert_int_eq(tu_run(argv, env, NULL, 0, NULL, &err, &st), 0);
	ck_assert_int_eq(st, EX_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(err, "--once: the cycle failed: hub "
	    "report: "));
	ck_assert_ptr_null(strstr(err, "not-the-token-1234"));
	free(err);
	/* The same run with the right token: 0. */
	ck_assert_int_eq(at_agent_once(3), 0);
	at_teardown();
	at_sims_stop();
}
END_TEST

/* The Markdown table between the markers of a doc, or NULL. */
static char *
doc_table(const char *rel)
{
	static const char begin[] = "<!-- exit-codes:begin -->\n";
	static const char end[] = "<!-- exit-codes:end -->";
	char *text = tu_read_file(tu_source(rel), NULL), *a, *b, *t = NULL;

	if (text == NULL)
		return NULL;
	if ((a = strstr(text, begin)) != NULL &&
	    (b = strstr(a, end)) != NULL) {
		a += sizeof(begin) - 1;
		t = strndup(a, (size_t)(b - a));
	}
	free(text);
	return t;
}

START_TEST(the_docs_hold_the_table_the_binaries_print)
{
	static const char *const docs[] = { "docs/felhom-admin.md",
	    "docs/felhom-agent.md" };
	char *want = NULL, *got;
	size_t len = 0, i;
	FILE *f = open_memstream(&want, &len);

	ck_assert_ptr_nonnull(f);
	exitcode_print(f, 1);
	ck_assert_int_eq(fclose(f), 0);
	for (i = 0; i < 2; i++) {
		got = doc_table(docs[i]);
		ck_assert_msg(got != NULL, "%s: no exit-codes table", docs[i]);
		ck_assert_msg(strcmp(got, want) == 0, "%s: the exit-status "
		    "table differs from base/exitcode.c; it should be:\n%s",
		    docs[i], want);
		free(got);
	}
	free(want);
}
END_TEST

START_TEST(help_of_both_binaries_prints_the_table)
{
	const char *h[] = { "--help", NULL };
	const char *argv[3];
	char *out = NULL;
	int st;
	size_t i, n;
	const struct exitcode_info *t = exitcode_table(&n);

	for (i = 0; i < 2; i++) {
		argv[0] = tu_bin(i == 0 ? "felhom-agent" : "felhom-admin");
		argv[1] = h[0];
		argv[2] = NULL;
		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, NULL, &st),
		    0);
		ck_assert_int_eq(st, 0);
		ck_assert_ptr_nonnull(strstr(out, "exit status:"));
		ck_assert_ptr_nonnull(strstr(out, t[n - 1].name));
		ck_assert_ptr_nonnull(strstr(out, " 75 tempfail"));
		free(out);
		out = NULL;
	}
}
END_TEST

static Suite *
exitcodes_suite(void)
{
	Suite *s = suite_create("admin_exitcodes");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc,
	    each_documented_condition_has_its_status_from_both_binaries, 0,
	    (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, tempfail_from_both_binaries);
	tcase_add_test(tc, software_is_the_rest);
	tcase_add_test(tc, once_says_why_the_cycle_failed);
	tcase_add_test(tc, the_docs_hold_the_table_the_binaries_print);
	tcase_add_test(tc, help_of_both_binaries_prints_the_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("hub");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, once_fails_when_the_hub_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(exitcodes_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
