/*
 * test_signers — allowed_signers grammar, matching, file checks and the
 * signers table (R-14; sshsig.md §10).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sqlite3.h>

#include "authz/codes.h"
#include "authz/signers.h"
#include "authz/signers_cache.h"
#include "authz/sshsig.h"
#include "authz_tu.h"
#include "base/err.h"
#include "store/db.h"
#include "store/signers_db.h"
#include "testutil.h"

static char *keyline_a;		/* "ssh-ed25519 AAAA..." of ed25519-a */
static char *keyline_b;

static char *
keyline(const char *rel)
{
	char *t = tu_read_file(atu_vec(rel), NULL), *sp;

	ck_assert_ptr_nonnull(t);
	sp = strchr(t, ' ');
	sp = strchr(sp + 1, ' ');
	if (sp == NULL)
		sp = t + strcspn(t, "\n");
	*sp = '\0';
	return t;
}

static void
setup(void)
{
	keyline_a = keyline("keys/ed25519-a.pub");
	keyline_b = keyline("keys/ed25519-b.pub");
}

static void
teardown(void)
{
	free(keyline_a);
	free(keyline_b);
}

/* Parses "PREFIX keyline_a SUFFIX"; returns the code, entry in *out. */
static int
parse(const char *prefix, const char *suffix, struct signers_entry **out,
    struct err *err)
{
	char *line;
	int rc;

	ck_assert_int_gt(asprintf(&line, "%s%s%s", prefix, keyline_a,
	    suffix), 0);
	err_init(err);
	rc = signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, out, err);
	free(line);
	return rc;
}

START_TEST(line_with_options_and_comment_parses)
{
	struct signers_entry *e = NULL;
	struct err err;
	char *l = NULL;

	ck_assert_int_eq(parse("  alice@ops,bob@ops namespaces=\"felhom-op-v1,"
	    "git\",VALID-AFTER=\"20200101Z\",valid-before=\"209901011200\" ",
	    " my key\r\n", &e, &err), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->principals, "alice@ops,bob@ops");
	ck_assert_str_eq(e->namespaces, "felhom-op-v1,git");
	ck_assert_int_eq(e->valid_after, 1577836800);
	ck_assert_int_gt(e->valid_before, e->valid_after);
	ck_assert_str_eq(e->comment, "my key");
	ck_assert_int_eq(sshsig_key_type(e->key), SSHSIG_KT_ED25519);
	ck_assert_int_eq(signers_entry_line(e, &l, &err), 0);
	ck_assert_ptr_nonnull(strstr(l, "namespaces=\"felhom-op-v1,git\""));
	free(l);
	signers_entry_free(e);
}
END_TEST

START_TEST(blank_and_comment_lines_give_no_entry)
{
	const char *lines[] = { "", "   ", "\t\r\n", "# comment",
	    "   # indented comment" };
	struct signers_entry *e = NULL;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		err_init(&err);
		ck_assert_int_eq(signers_parse_line(lines[i], strlen(lines[i]),
		    "t", 1, SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
		ck_assert_ptr_null(e);
	}
}
END_TEST

static const struct {
	const char	*prefix;
	int		 rc;
	const char	*msg;
} bad_lines[] = {
	{ "alice cert-authority ", ERR_UNSUPPORTED, "certificates" },
	{ "alice namespaces=git ", ERR_FORMAT, "double quotes" },
	{ "alice namespaces=\"git ", ERR_FORMAT, "quote" },
	{ "alice namespaces=\"a\",namespaces=\"b\" ", ERR_FORMAT, "twice" },
	{ "alice valid-after=\"2020\" ", ERR_FORMAT, "invalid time" },
	{ "alice valid-after=\"20201301\" ", ERR_FORMAT, "invalid time" },
	{ "alice valid-after=\"20210101\",valid-before=\"20200101\" ",
	    ERR_FORMAT, "not after" },
	{ "alice permit-pty ", ERR_FORMAT, "unsupported option" },
	{ "alice namespaces=\"a\", ", ERR_FORMAT, "trailing" },
	{ "alice ", 0, NULL },
};

START_TEST(bad_lines_are_refused_with_reason)
{
	struct signers_entry *e = NULL;
	struct err err;
	int rc;

	rc = parse(bad_lines[_i].prefix, "", &e, &err);
	ck_assert_msg(rc == bad_lines[_i].rc, "'%s': rc %d (%s)",
	    bad_lines[_i].prefix, rc, err.msg);
	if (bad_lines[_i].msg != NULL)
		ck_assert_msg(strstr(err.msg, bad_lines[_i].msg) != NULL,
		    "'%s': message '%s'", bad_lines[_i].prefix, err.msg);
	signers_entry_free(e);
}
END_TEST

START_TEST(unsupported_key_types_refused)
{
	const char *lines[] = {
	    "a ssh-dss AAAAB3NzaC1kc3MAAACBAOoA",
	    "a ssh-ed448 AAAA",
	    "a ssh-ed25519-cert-v01@openssh.com AAAA",
	    "a ssh-ed25519 !!!!",
	    "a ssh-ed25519",
	    "a" };
	struct signers_entry *e = NULL;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		err_init(&err);
		ck_assert_int_ne(signers_parse_line(lines[i], strlen(lines[i]),
		    "t", 1, SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
		ck_assert_ptr_null(e);
		ck_assert_int_ne(err.msg[0], '\0');
	}
}
END_TEST

START_TEST(fido_options_and_caller_policy)
{
	struct signers_entry *e = NULL;
	struct err err;
	char *l = NULL, *line;

	ck_assert_int_eq(parse("a no-touch-required,verify-required ", "", &e,
	    &err), 0);
	ck_assert_uint_eq(e->policy, SSHSIG_POLICY_NO_TOUCH_REQUIRED |
	    SSHSIG_POLICY_VERIFY_REQUIRED);
	signers_entry_free(e);
	/* Caller policy (-O) is added and rendered into the stored line. */
	ck_assert_int_gt(asprintf(&line, "a %s", keyline_a), 0);
	err_init(&err);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_RECOVERY, SSHSIG_POLICY_VERIFY_REQUIRED, &e, &err), 0);
	ck_assert_uint_eq(e->policy, SSHSIG_POLICY_VERIFY_REQUIRED);
	ck_assert_int_eq(e->role, SIGNERS_ROLE_RECOVERY);
	ck_assert_int_eq(signers_entry_line(e, &l, &err), 0);
	ck_assert_ptr_nonnull(strstr(l, "a verify-required ssh-ed25519 "));
	signers_entry_free(e);
	free(l);
	free(line);
}
END_TEST

static const struct {
	const char	*s;
	const char	*list;
	int		 r;
} patterns[] = {
	{ "alice@ops", "alice@ops", 1 },
	{ "alice@ops", "*@ops", 1 },
	{ "alice@ops", "bob@ops,*@ops", 1 },
	{ "alice@ops", "?lice@ops", 1 },
	{ "alice@ops", "alice", 0 },
	{ "alice@ops", "Alice@ops", 0 },
	{ "alice@ops", "*@ops,!alice@ops", -1 },
	{ "alice@ops", "!bob@ops", 0 },
	{ "felhom-op-v1", "felhom-op-*", 1 },
	{ "felhom-op-v1", "git,file", 0 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*a*c", 0 },
	{ "", "*", 1 },
	{ "x", "", 0 },
};

START_TEST(pattern_lists_as_openssh)
{
	ck_assert_msg(signers_match_list(patterns[_i].s, patterns[_i].list) ==
	    patterns[_i].r, "'%s' vs '%s'", patterns[_i].s,
	    patterns[_i].list);
}
END_TEST

START_TEST(times_as_ssh_keygen)
{
	int64_t t = 0;

	ck_assert_int_eq(signers_parse_time("20200101Z", &t), 0);
	ck_assert_int_eq(t, 1577836800);
	ck_assert_int_eq(signers_parse_time("202001010102UTC", &t), 0);
	ck_assert_int_eq(t, 1577836800 + 3600 + 120);
	ck_assert_int_eq(signers_parse_time("20200101010203z", &t), 0);
	ck_assert_int_eq(t, 1577836800 + 3723);
	ck_assert_int_eq(signers_parse_time("20200101", &t), 0);
	ck_assert_int_eq(signers_parse_time("2020010", &t), ERR_FORMAT);
	ck_assert_int_eq(signers_parse_time("20200230Z", &t), ERR_FORMAT);
	ck_assert_int_eq(signers_parse_time("2020010a", &t), ERR_FORMAT);
	ck_assert_int_eq(signers_parse_time("20200101 Z", &t), ERR_FORMAT);
}
END_TEST

struct warns {
	int	 n;
	char	 last[1024];
};

static void
collect(void *ctx, const char *msg)
{
	struct warns *w = ctx;

	w->n++;
	(void) snprintf(w->last, sizeof(w->last), "%s", msg);
}

START_TEST(file_errors_name_file_and_line)
{
	char *dir = tu_tmpdir(), *text, *path;
	struct signers *set = signers_new();
	struct warns w = { 0, "" };
	struct err err;

	ck_assert_int_gt(asprintf(&text, "# ops\n\nalice@ops %s\nbob permit-pty "
	    "%s\n", keyline_a, keyline_b), 0);
	path = atu_write(dir, "ops", text);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, 0, collect, &w, &err), ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err.msg, ":4: unsupported option"));
	ck_assert_uint_eq(signers_count(set), 0);
	/* Lenient (ssh-keygen's way): skip the line, warn, keep the rest. */
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, SIGNERS_LENIENT, collect, &w, &err), 0);
	ck_assert_uint_eq(signers_count(set), 1);
	ck_assert_int_eq(w.n, 1);
	ck_assert_ptr_nonnull(strstr(w.last, ":4: "));
	ck_assert_ptr_nonnull(strstr(w.last, "skipped"));
	ck_assert_uint_eq(signers_get(set, 0)->lineno, 3);
	free(text);
	free(path);
	signers_free(set);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* R-14 (issue 10): owner root or the agent's user, nobody else. */
START_TEST(signer_file_owner_and_mode)
{
	struct stat st;
	struct err err;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0644;
	st.st_uid = 0;
	ck_assert_int_eq(signers_file_safe(&st, 1000, "f", NULL), 0);
	st.st_uid = 1000;
	ck_assert_int_eq(signers_file_safe(&st, 1000, "f", NULL), 0);
	st.st_uid = 1001;
	err_init(&err);
	ck_assert_int_eq(signers_file_safe(&st, 1000, "f", &err),
	    ERR_PERMISSION);
	ck_assert_ptr_nonnull(strstr(err.msg, "owned by uid 1001, neither "
	    "root nor the agent's user (uid 1000)"));
	st.st_uid = 0;
	st.st_mode = S_IFREG | 0620;
	err_init(&err);
	ck_assert_int_eq(signers_file_safe(&st, 1000, "f", &err),
	    ERR_PERMISSION);
	ck_assert_ptr_nonnull(strstr(err.msg, "writable"));
	st.st_mode = S_IFDIR | 0755;
	ck_assert_int_eq(signers_file_safe(&st, 1000, "f", NULL), ERR_IO);
}
END_TEST

START_TEST(writable_file_refused)
{
	char *dir = tu_tmpdir(), *text, *path;
	struct signers *set = signers_new();
	struct err err;

	ck_assert_int_gt(asprintf(&text, "alice %s\n", keyline_a), 0);
	ck_assert_int_gt(asprintf(&path, "%s/ops", dir), 0);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text), 0664), 0);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, SIGNERS_LENIENT, NULL, NULL, &err), ERR_PERMISSION);
	ck_assert_ptr_nonnull(strstr(err.msg, "writable"));
	ck_assert_int_eq(tu_write_file(path, text, strlen(text), 0602), 0);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, 0, NULL, NULL, &err), ERR_PERMISSION);
	ck_assert_int_eq(tu_write_file(path, text, strlen(text), 0644), 0);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, 0, NULL, NULL, &err), 0);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, "/nonexistent/x",
	    SIGNERS_ROLE_OPERATIONAL, 0, 0, NULL, NULL, &err), ERR_NOT_FOUND);
	/* A symlink, even to a good file, is refused (issue 10). */
	signers_free(set);
	set = signers_new();
	ck_assert_ptr_nonnull(set);
	{
		char *link;

		ck_assert_int_gt(asprintf(&link, "%s/link", dir), 0);
		ck_assert_int_eq(symlink(path, link), 0);
		err_init(&err);
		ck_assert_int_eq(signers_load_file(set, link,
		    SIGNERS_ROLE_OPERATIONAL, 0, 0, NULL, NULL, &err),
		    ERR_PERMISSION);
		ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
		ck_assert_uint_eq(signers_count(set), 0);
		free(link);
	}
	free(text);
	free(path);
	signers_free(set);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Key blob of keyline_a, for queries. */
static uint8_t *
blob_a(size_t *len)
{
	const char *b = strchr(keyline_a, ' ') + 1;
	uint8_t *out = malloc(strlen(b));

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(sshsig_b64_decode(b, strlen(b), out, strlen(b), len),
	    0);
	return out;
}

START_TEST(find_uses_any_fully_matching_line)
{
	char *dir = tu_tmpdir(), *text, *path;
	struct signers *set = signers_new();
	const struct signers_entry *e = NULL;
	struct signers_query q;
	struct warns w = { 0, "" };
	struct err err;
	uint8_t *kb;

	ck_assert_int_gt(asprintf(&text,
	    "alice namespaces=\"git\" %s\n"
	    "alice valid-before=\"20200101Z\" %s\n"
	    "carol %s\n"
	    "alice %s\n", keyline_a, keyline_a, keyline_b, keyline_a), 0);
	path = atu_write(dir, "ops", text);
	err_init(&err);
	ck_assert_int_eq(signers_load_file(set, path, SIGNERS_ROLE_OPERATIONAL,
	    0, 0, collect, &w, &err), 0);
	ck_assert_int_eq(w.n, 2);	/* key on lines 2 and 4 again */
	memset(&q, 0, sizeof(q));
	q.key = kb = blob_a(&q.keylen);
	q.principal = "alice";
	q.ns = "felhom-op-v1";
	q.now = 1900000000;
	q.role = -1;
	ck_assert_int_eq(signers_find(set, &q, &e, &err), 0);
	ck_assert_uint_eq(e->lineno, 4);
	q.principal = "carol";
	err_init(&err);
	ck_assert_int_eq(signers_find(set, &q, &e, &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_UNKNOWN_SIGNER);
	ck_assert_ptr_nonnull(strstr(err.msg, "not for this principal"));
	q.principal = NULL;
	q.role = SIGNERS_ROLE_RECOVERY;
	err_init(&err);
	ck_assert_int_eq(signers_find(set, &q, &e, &err), ERR_REJECTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "not a recovery signer"));
	free(kb);
	free(text);
	free(path);
	signers_free(set);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(db_round_trip_and_seed_once)
{
	char *dir = tu_tmpdir(), *dbpath, *line;
	struct signers *set = signers_new(), *back = signers_new(),
	    *dup = signers_new();
	struct signers_entry *e = NULL;
	struct db *db = NULL;
	struct err err;
	int64_t n = 0;
	int seeded = -1;

	ck_assert_int_gt(asprintf(&dbpath, "%s/state.db", dir), 0);
	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err) == 0, "db_open: %s", err.msg);
	ck_assert_int_gt(asprintf(&line, "alice@ops namespaces=\"felhom-op-v1\""
	    " %s a", keyline_a), 0);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_OPERATIONAL, SSHSIG_POLICY_NO_TOUCH_REQUIRED, &e,
	    &err), 0);
	ck_assert_int_eq(signers_add(set, e, &err), 0);
	free(line);
	ck_assert_int_gt(asprintf(&line, "rec@ops %s", keyline_b), 0);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 2,
	    SIGNERS_ROLE_RECOVERY, 0, &e, &err), 0);
	ck_assert_int_eq(signers_add(set, e, &err), 0);
	ck_assert_int_eq(signers_seed_db(db, set, "file:/ops", "file:/rec",
	    1000, &seeded, &err), 0);
	ck_assert_int_eq(seeded, 1);
	ck_assert_int_eq(signers_seed_db(db, set, "file:/ops", "file:/rec",
	    1000, &seeded, &err), 0);
	ck_assert_int_eq(seeded, 0);
	ck_assert_int_eq(signers_db_count(db, "operational", &n, &err), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(signers_load_db(back, db, &err), 0);
	ck_assert_uint_eq(signers_count(back), 2);
	ck_assert_uint_eq(signers_count_role(back, SIGNERS_ROLE_RECOVERY), 1);
	for (size_t i = 0; i < 2; i++) {
		const struct signers_entry *b = signers_get(back, i);

		if (b->role == SIGNERS_ROLE_OPERATIONAL) {
			ck_assert_str_eq(b->namespaces, "felhom-op-v1");
			ck_assert_uint_eq(b->policy,
			    SSHSIG_POLICY_NO_TOUCH_REQUIRED);
		}
	}
	/* Replacing a role needs the caller's transaction. */
	err_init(&err);
	ck_assert_int_eq(signers_save_role(db, SIGNERS_ROLE_OPERATIONAL, set,
	    "admin", 2000, &err), ERR_INTERNAL);
	/* A key twice in one role does not fit the table. */
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
	ck_assert_int_eq(signers_add(dup, e, &err), 0);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 2,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
	ck_assert_int_eq(signers_add(dup, e, &err), 0);
	ck_assert_int_eq(db_begin(db, &err), 0);
	err_init(&err);
	ck_assert_int_eq(signers_save_role(db, SIGNERS_ROLE_OPERATIONAL, dup,
	    "admin", 2000, &err), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err.msg, "listed twice"));
	db_rollback(db);
	/* A rotation inside a transaction replaces only its role. */
	ck_assert_int_eq(db_begin(db, &err), 0);
	ck_assert_int_eq(signers_save_role(db, SIGNERS_ROLE_OPERATIONAL, back,
	    "rotate:op-1", 3000, &err), 0);
	ck_assert_int_eq(db_commit(db, &err), 0);
	ck_assert_int_eq(signers_db_count(db, NULL, &n, &err), 0);
	ck_assert_int_eq(n, 2);
	free(line);
	db_close(db);
	signers_free(set);
	signers_free(back);
	signers_free(dup);
	free(dbpath);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The principals of the cached set's operational entry. */
static const char *
operational_principals(const struct signers *set)
{
	size_t i;

	for (i = 0; i < signers_count(set); i++)
		if (signers_get(set, i)->role == SIGNERS_ROLE_OPERATIONAL)
			return signers_get(set, i)->principals;
	return NULL;
}

/*
 * R-14 with the gate's cache: the set is parsed once while the table
 * stays as it is, and a rotation (or any edit of a row) is seen by the
 * very next read; a row that no longer parses leaves nothing cached.
 */
START_TEST(cache_follows_the_table)
{
	char *dir = tu_tmpdir(), *dbpath, *line;
	struct signers *set = signers_new(), *rot = signers_new();
	struct signers_cache *c = signers_cache_new();
	const struct signers *live = NULL, *again = NULL;
	struct signers_entry *e = NULL;
	struct db *db = NULL;
	struct err err;
	int seeded = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_gt(asprintf(&dbpath, "%s/state.db", dir), 0);
	err_init(&err);
	ck_assert_msg(db_open(dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db,
	    &err) == 0, "db_open: %s", err.msg);
	ck_assert_int_gt(asprintf(&line, "alice@ops %s", keyline_a), 0);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
	ck_assert_int_eq(signers_add(set, e, &err), 0);
	free(line);
	ck_assert_int_eq(signers_seed_db(db, set, "file:/ops", "file:/rec",
	    1000, &seeded, &err), 0);
	ck_assert_int_eq(signers_cache_get(c, db, &live, &err), 0);
	ck_assert_str_eq(operational_principals(live), "alice@ops");
	ck_assert_int_eq(signers_cache_get(c, db, &again, &err), 0);
	ck_assert_ptr_eq(again, live);
	ck_assert_uint_eq(signers_cache_loads(c), 1);
	/* A rotation replaces the operational key: seen at once. */
	ck_assert_int_gt(asprintf(&line, "bob@ops %s", keyline_b), 0);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "t", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err), 0);
	ck_assert_int_eq(signers_add(rot, e, &err), 0);
	free(line);
	ck_assert_int_eq(db_begin(db, &err), 0);
	ck_assert_int_eq(signers_save_role(db, SIGNERS_ROLE_OPERATIONAL, rot,
	    "rotate:op-1", 2000, &err), 0);
	ck_assert_int_eq(db_commit(db, &err), 0);
	ck_assert_int_eq(signers_cache_get(c, db, &live, &err), 0);
	ck_assert_str_eq(operational_principals(live), "bob@ops");
	ck_assert_uint_eq(signers_count(live), 1);
	ck_assert_uint_eq(signers_cache_loads(c), 2);
	/* The same row id with another line is another set too. */
	ck_assert_int_eq(sqlite3_exec(db_handle(db), "UPDATE signers SET "
	    "line = replace(line, 'bob@ops', 'carol@ops')", NULL, NULL, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(signers_cache_get(c, db, &live, &err), 0);
	ck_assert_str_eq(operational_principals(live), "carol@ops");
	/* A row that no longer parses: an error, and nothing stale kept. */
	ck_assert_int_eq(sqlite3_exec(db_handle(db), "UPDATE signers SET "
	    "line = 'carol@ops ssh-ed25519 AAAA'", NULL, NULL, NULL),
	    SQLITE_OK);
	err_init(&err);
	ck_assert_int_eq(signers_cache_get(c, db, &live, &err), ERR_CORRUPT);
	ck_assert_ptr_null(live);
	ck_assert_int_eq(signers_cache_get(c, db, &live, &err), ERR_CORRUPT);
	db_close(db);
	signers_cache_free(c);
	signers_free(set);
	signers_free(rot);
	free(dbpath);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * A quoted principal may start with '#' (ssh-keygen reads it so); the
 * line stored for it must not read back as a comment, or the signers
 * table no longer loads (found by fuzz_signers).
 */
START_TEST(stored_line_of_a_hash_principal_reads_back)
{
	struct signers_entry *e = NULL, *back = NULL;
	struct err err;
	char *l = NULL;

	ck_assert_int_eq(parse("\"#ops\" ", " c", &e, &err), 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->principals, "#ops");
	ck_assert_int_eq(signers_entry_line(e, &l, &err), 0);
	ck_assert_int_eq(signers_parse_line(l, strlen(l), "db:signers", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &back, &err), 0);
	ck_assert_msg(back != NULL, "stored line '%s' reads as a comment", l);
	ck_assert_str_eq(back->principals, "#ops");
	ck_assert(sshsig_key_equal(back->key, e->key));
	free(l);
	signers_entry_free(back);
	signers_entry_free(e);
}
END_TEST

START_TEST(role_names)
{
	ck_assert_str_eq(signers_role_name(SIGNERS_ROLE_RECOVERY), "recovery");
	ck_assert_int_eq(signers_role_from_name("operational"),
	    SIGNERS_ROLE_OPERATIONAL);
	ck_assert_int_eq(signers_role_from_name("admin"), -1);
}
END_TEST

static Suite *
signers_suite(void)
{
	Suite *s = suite_create("authz.signers");
	TCase *tc = tcase_create("signers");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, line_with_options_and_comment_parses);
	tcase_add_test(tc, cache_follows_the_table);
	tcase_add_test(tc, blank_and_comment_lines_give_no_entry);
	tcase_add_loop_test(tc, bad_lines_are_refused_with_reason, 0,
	    (int)(sizeof(bad_lines) / sizeof(bad_lines[0])));
	tcase_add_test(tc, unsupported_key_types_refused);
	tcase_add_test(tc, fido_options_and_caller_policy);
	tcase_add_loop_test(tc, pattern_lists_as_openssh, 0,
	    (int)(sizeof(patterns) / sizeof(patterns[0])));
	tcase_add_test(tc, times_as_ssh_keygen);
	tcase_add_test(tc, file_errors_name_file_and_line);
	tcase_add_test(tc, writable_file_refused);
	tcase_add_test(tc, signer_file_owner_and_mode);
	tcase_add_test(tc, find_uses_any_fully_matching_line);
	tcase_add_test(tc, db_round_trip_and_seed_once);
	tcase_add_test(tc, stored_line_of_a_hash_principal_reads_back);
	tcase_add_test(tc, role_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(signers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
