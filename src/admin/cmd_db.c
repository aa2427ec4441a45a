/*
 * cmd_db — `felhom-admin db`: database maintenance.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] db check
 *	felhom-admin ... db init [--nonce-floor TIME]
 *	felhom-admin ... db backup FILE
 *	felhom-admin ... db migrate
 *	felhom-admin ... db version
 *
 * init: a new database on purpose: its id, its nonce floor (now,
 * or --nonce-floor) and the marker beside it; the agent never creates
 * one by itself where the state directory shows there was one.
 * check: PRAGMA integrity_check and the schema version against this
 * binary's (exit 1 when the check fails).  backup: a consistent copy
 * through SQLite's online backup API, safe while the agent writes, in
 * rollback-journal mode so that plain `sqlite3 -readonly` opens it
 * without write access; checked before it is reported.  migrate: create
 * or upgrade (the agent does this itself at start).  version: the
 * schema version.  The database path comes from --db, else the
 * configuration.  One subcommand per row of `subs`.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/clock.h"
#include "store/db.h"
#include "store/dbstate.h"

#define CHECK_PROBLEMS_MAX	20

struct db_sub {
	const char	*name;
	int		(*fn)(struct cmd_ctx *ctx, int argc, char **argv);
	const char	*args;		/* synopsis after "db NAME" */
	const char	*summary;
};

static int db_check_cmd(struct cmd_ctx *ctx, int argc, char **argv);
static int db_init_cmd(struct cmd_ctx *ctx, int argc, char **argv);
static int db_backup_cmd(struct cmd_ctx *ctx, int argc, char **argv);
static int db_migrate_cmd(struct cmd_ctx *ctx, int argc, char **argv);
static int db_version_cmd(struct cmd_ctx *ctx, int argc, char **argv);

static const struct db_sub subs[] = {
	/* name		fn		args	summary */
	{ "check",	db_check_cmd,	"",	"integrity check and schema "
					"version; exit 1 when it fails" },
	{ "init",	db_init_cmd,	" [--nonce-floor TIME]", "create the "
					"database on purpose, with its nonce "
					"floor (default now)" },
	{ "backup",	db_backup_cmd,	" FILE", "a consistent copy to a new "
					"FILE, safe while the agent runs" },
	{ "migrate",	db_migrate_cmd,	"",	"create the database or apply "
					"pending migrations" },
	{ "version",	db_version_cmd,	"",	"print the schema version" },
};

#define NSUBS (sizeof(subs) / sizeof(subs[0]))

static void
usage(FILE *f)
{
	size_t i;

	for (i = 0; i < NSUBS; i++)
		fprintf(f, "%s felhom-admin [--config PATH] [--db PATH] "
		    "[--json] db %s%s\n", i == 0 ? "usage:" : "      ",
		    subs[i].name, subs[i].args);
	fprintf(f, "\n");
	for (i = 0; i < NSUBS; i++)
		fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].summary);
	fprintf(f, "The database is --db PATH, else the configuration's "
	    "`database`.\n");
}

/* Only the global options (and --help): a subcommand without args. */
static int
no_args(struct cmd_ctx *ctx, int argc, char **argv, int want)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return -1;
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (argc - optind != want)
		return cmd_usage_fail(ctx, usage);
	return 0;
}

static int
db_check_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *path;
	struct db *db = NULL;
	struct err err;
	json_t *problems = NULL, *o;
	size_t i;
	int ok = 0, version = 0, rc, ret;

	if ((ret = no_args(ctx, argc, argv, 0)) != 0)
		return ret < 0 ? cmd_done(0) : ret;
	if ((ret = cmd_db_path(ctx, &path)) != 0)
		return ret;
	if (access(path, F_OK) != 0)
		return cmd_fail(ctx, EX_NOINPUT, "%s: no database", path);
	err_init(&err);
	/* A file that is not a database at all fails the check too. */
	rc = db_open(path, DB_OPEN_READONLY, &db, &err);
	if (rc == ERR_CORRUPT) {
		if (ctx->json)
			return cmd_done(cmd_print_json(json_pack(
			    "{s:s,s:b,s:[s]}", "database", path, "ok", 0,
			    "problems", err_msg(&err))) != 0 ? EX_IOERR :
			    EXITCODE_NEGATIVE);
		printf("integrity FAILED: %s\n", err_msg(&err));
		return cmd_done(EXITCODE_NEGATIVE);
	}
	if (rc != 0)
		return cmd_fail_err(ctx, &err);
	if ((rc = db_integrity_check(db, CHECK_PROBLEMS_MAX, &ok, &problems,
	    &err)) != 0 || (rc = db_schema_version(db, &version, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if (ctx->json) {
		o = json_pack("{s:s,s:b,s:O,s:i,s:i}", "database", path, "ok",
		    ok, "problems", problems, "schema", version,
		    "schema_latest", db_schema_latest());
		ret = cmd_print_json(o);
		ret = cmd_done(ret != 0 ? ret : ok ? 0 : EXITCODE_NEGATIVE);
		goto out;
	}
	if (ok)
		printf("integrity ok\n");
	else {
		printf("integrity FAILED:\n");
		for (i = 0; i < json_array_size(problems); i++)
			printf("  %s\n", json_string_value(json_array_get(
			    problems, i)));
	}
	printf("schema %d (this binary: %d)%s\n", version, db_schema_latest(),
	    version < db_schema_latest() ? "; the agent migrates it at its "
	    "next start" : "");
	ret = cmd_done(ok ? 0 : EXITCODE_NEGATIVE);
out:
	json_decref(problems);
	db_close(db);
	return ret;
}

static int
db_backup_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct db *db = NULL, *copy = NULL;
	struct err err;
	struct stat sb;
	json_t *problems = NULL;
	const char *file, *path;
	int ok = 0, version = 0, rc, ret;

	if ((ret = no_args(ctx, argc, argv, 1)) != 0)
		return ret < 0 ? cmd_done(0) : ret;
	file = argv[optind];
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	path = db_path(db);
	err_init(&err);
	if ((rc = db_backup(db, file, &err)) != 0) {
		/* An existing FILE is never replaced: it cannot be written. */
		ret = cmd_fail(ctx, rc == ERR_CONFLICT ? EX_IOERR :
		    exitcode_of(rc), "%s", err_msg(&err));
		goto out;
	}
	/* The copy must pass what `db check` asks before it is reported. */
	if ((rc = db_open(file, DB_OPEN_READONLY, &copy, &err)) != 0 ||
	    (rc = db_integrity_check(copy, CHECK_PROBLEMS_MAX, &ok, &problems,
	    &err)) != 0 || (rc = db_schema_version(copy, &version,
	    &err)) != 0) {
		ret = cmd_fail(ctx, exitcode_of(rc), "%s: the copy does not "
		    "open: %s", file, err_msg(&err));
		goto out;
	}
	if (!ok) {
		ret = cmd_fail(ctx, EX_SOFTWARE, "%s: the copy fails its "
		    "integrity check", file);
		goto out;
	}
	if (stat(file, &sb) != 0)
		sb.st_size = 0;
	if (ctx->json)
		ret = cmd_print_json(json_pack("{s:s,s:s,s:I,s:i,s:b}",
		    "database", path, "backup", file, "bytes",
		    (json_int_t)sb.st_size, "schema", version, "ok", 1));
	else
		printf("backup of %s written to %s (%lld bytes, schema %d, "
		    "integrity ok)\n", path, file, (long long)sb.st_size,
		    version);
	ret = cmd_done(ret);
out:
	json_decref(problems);
	db_close(copy);
	db_close(db);
	return ret;
}

/*
 * A new database, deliberately: refused while an agent runs on it (75)
 * or when a database is there already (1).  Its nonce floor is now
 * unless --nonce-floor says otherwise: a signed op valid from earlier is
 * refused (replay_floor).
 */
static int
db_init_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "nonce-floor", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char id[DBSTATE_ID_LEN], when[CLOCK_RFC3339_LEN];
	int64_t now = clock_now(NULL), floor = now;
	const char *path;
	struct err err;
	int ch, fd = -1, rc, ret;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 'f':
			if (clock_parse_rfc3339(optarg, &floor) != 0)
				return cmd_fail(ctx, EX_USAGE, "--nonce-floor "
				    "'%s': expected YYYY-MM-DDTHH:MM:SSZ",
				    optarg);
			break;
		case 'h':
			usage(stdout);
			return cmd_done(0);
		default:
			return cmd_usage_fail(ctx, usage);
		}
	}
	if (argc - optind != 0)
		return cmd_usage_fail(ctx, usage);
	if ((ret = cmd_db_path(ctx, &path)) != 0)
		return ret;
	err_init(&err);
	if ((rc = db_lock_agent(path, &fd, NULL, &err)) != 0 ||
	    (rc = dbstate_create(path, now, floor, id, &err)) != 0 ||
	    (rc = db_lock_mark(fd, "stopped", id, &err)) != 0) {
		if (fd >= 0)
			(void) close(fd);
		return cmd_fail_err(ctx, &err);
	}
	(void) close(fd);
	clock_format_rfc3339(floor, when, sizeof(when));
	if (ctx->json)
		return cmd_done(cmd_print_json(json_pack("{s:s,s:s,s:s}",
		    "database", path, "id", id, "nonce_floor", when)));
	printf("created %s (database id %s, nonce floor %s)\n", path, id,
	    when);
	return cmd_done(0);
}

/* migrate and version: open (creating / migrating) and say the schema. */
static int
db_open_version(struct cmd_ctx *ctx, int argc, char **argv, int flags)
{
	const char *path;
	struct db *db = NULL;
	struct err err;
	int version = 0, rc, ret;

	if ((ret = no_args(ctx, argc, argv, 0)) != 0)
		return ret < 0 ? cmd_done(0) : ret;
	if ((ret = cmd_db_path(ctx, &path)) != 0)
		return ret;
	if (!(flags & DB_OPEN_CREATE) && access(path, F_OK) != 0)
		return cmd_fail(ctx, EX_NOINPUT, "%s: no database", path);
	err_init(&err);
	if ((rc = db_open(path, flags, &db, &err)) != 0 ||
	    (rc = db_schema_version(db, &version, &err)) != 0) {
		db_close(db);
		return cmd_fail_err(ctx, &err);
	}
	db_close(db);
	if (ctx->json)
		return cmd_done(cmd_print_json(json_pack("{s:s,s:i,s:i}",
		    "database", path, "schema", version, "schema_latest",
		    db_schema_latest())));
	printf("schema %d\n", version);
	return cmd_done(0);
}

static int
db_migrate_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	return db_open_version(ctx, argc, argv, DB_OPEN_CREATE |
	    DB_OPEN_MIGRATE);
}

static int
db_version_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	return db_open_version(ctx, argc, argv, DB_OPEN_READONLY);
}

int
cmd_db(struct cmd_ctx *ctx, int argc, char **argv)
{
	char name[32];
	size_t i;

	if (argc < 2)
		return cmd_usage_fail(ctx, usage);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return cmd_done(0);
	}
	for (i = 0; i < NSUBS; i++) {
		if (strcmp(argv[1], subs[i].name) != 0)
			continue;
		(void) snprintf(name, sizeof(name), "db %s", subs[i].name);
		cmd_enter(ctx, name, argv + 1);
		return subs[i].fn(ctx, argc - 1, argv + 1);
	}
	(void) cmd_fail(ctx, EX_USAGE, "unknown subcommand '%s'", argv[1]);
	return cmd_usage_fail(ctx, usage);
}
