/*
 * felhom-admin db init|backup|check — a database created on purpose, an
 * online backup, the full integrity check.
 *   felhom-admin db init --db PATH [--nonce-floor TIME]
 *   felhom-admin db backup --db PATH FILE
 *   felhom-admin db check --db PATH
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "store/db.h"
#include "store/dbstate.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin db init --db PATH [--nonce-floor "
	    "TIME]\n"
	    "       felhom-admin db backup --db PATH FILE\n"
	    "       felhom-admin db check --db PATH\n");
}

/* Options shared by the three: --db, --nonce-floor (init), --help. */
static int
parse(int argc, char **argv, const char **path, int64_t *floor,
    int *nargs_out)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "nonce-floor", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*path = optarg;
			break;
		case 'f':
			if (floor == NULL ||
			    clock_parse_rfc3339(optarg, floor) != 0) {
				fprintf(stderr, "felhom-admin db: --nonce-floor "
				    "'%s': expected YYYY-MM-DDTHH:MM:SSZ (init "
				    "only)\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (*path == NULL) {
		usage(stderr);
		return EX_USAGE;
	}
	*nargs_out = argc - optind;
	return 0;
}

/*
 * A new database, deliberately: refused while an agent runs on it (75)
 * or when a database with tables is there (73).  Its nonce floor is now
 * unless --nonce-floor says otherwise: a signed op valid from earlier is
 * refused (replay_floor).
 */
int
cmd_db_init(int argc, char **argv)
{
	const char *path = NULL;
	char id[DBSTATE_ID_LEN], when[CLOCK_RFC3339_LEN];
	int64_t now = (int64_t)time(NULL), floor = now;
	struct err err;
	int rc, fd = -1, n;

	if ((rc = parse(argc, argv, &path, &floor, &n)) != 0)
		return rc < 0 ? 0 : rc;
	if (n != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	err_init(&err);
	if ((rc = db_lock_agent(path, &fd, NULL, &err)) != 0 ||
	    (rc = dbstate_create(path, now, floor, id, &err)) != 0 ||
	    (rc = db_lock_mark(fd, "stopped", id, &err)) != 0) {
		fprintf(stderr, "felhom-admin db init: %s\n", err_msg(&err));
		if (fd >= 0)
			(void) close(fd);
		return rc == ERR_CONFLICT ? EX_CANTCREAT : cmd_exit_code(rc);
	}
	(void) close(fd);
	clock_format_rfc3339(floor, when, sizeof(when));
	printf("created %s (database id %s, nonce floor %s)\n", path, id,
	    when);
	return 0;
}

/* An online copy (SQLite backup API), consistent while the agent runs. */
int
cmd_db_backup(int argc, char **argv)
{
	const char *path = NULL, *file;
	struct db *db = NULL;
	struct err err;
	int rc, n, version = 0;

	if ((rc = parse(argc, argv, &path, NULL, &n)) != 0)
		return rc < 0 ? 0 : rc;
	if (n != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	file = argv[optind];
	err_init(&err);
	if ((rc = db_open(path, DB_OPEN_READONLY, &db, &err)) != 0 ||
	    (rc = db_backup_to(db, file, 0, &err)) != 0 ||
	    (rc = db_schema_version(db, &version, &err)) != 0) {
		fprintf(stderr, "felhom-admin db backup: %s\n", err_msg(&err));
		db_close(db);
		return rc == ERR_CONFLICT ? EX_CANTCREAT : cmd_exit_code(rc);
	}
	db_close(db);
	printf("backup of %s written to %s (schema %d)\n", path, file, version);
	return 0;
}

/* PRAGMA integrity_check in full, and the schema version. */
int
cmd_db_check(int argc, char **argv)
{
	const char *path = NULL;
	struct db *db = NULL;
	struct err err;
	int rc, n, version = 0;

	if ((rc = parse(argc, argv, &path, NULL, &n)) != 0)
		return rc < 0 ? 0 : rc;
	if (n != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	err_init(&err);
	if ((rc = db_open(path, DB_OPEN_READONLY | DB_OPEN_CHECK, &db,
	    &err)) != 0 ||
	    (rc = db_schema_version(db, &version, &err)) != 0) {
		fprintf(stderr, "felhom-admin db check: %s\n", err_msg(&err));
		db_close(db);
		return cmd_exit_code(rc);
	}
	db_close(db);
	printf("%s: integrity ok, schema %d\n", path, version);
	return 0;
}
