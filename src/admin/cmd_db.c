/*
 * felhom-admin db — database maintenance.
 *   felhom-admin db migrate --db PATH
 * (init, backup and check: cmd_dbstate.c)
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "admin/cmd.h"
#include "store/db.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin db migrate --db PATH\n"
	    "       felhom-admin db version --db PATH\n"
	    "       felhom-admin db init --db PATH [--nonce-floor TIME]\n"
	    "       felhom-admin db backup --db PATH FILE\n"
	    "       felhom-admin db check --db PATH\n");
}

int
cmd_db(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *sub;
	struct db *db = NULL;
	struct err err;
	int c, version, rc;

	err_init(&err);
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	sub = argv[1];
	if (strcmp(sub, "init") == 0)
		return cmd_db_init(argc, argv);
	if (strcmp(sub, "backup") == 0)
		return cmd_db_backup(argc, argv);
	if (strcmp(sub, "check") == 0)
		return cmd_db_check(argc, argv);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(sub, "migrate") == 0)
		rc = db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE, &db, &err);
	else if (strcmp(sub, "version") == 0)
		rc = db_open(path, DB_OPEN_READONLY, &db, &err);
	else {
		fprintf(stderr, "felhom-admin db: unknown subcommand '%s'\n",
		    sub);
		usage(stderr);
		return EX_USAGE;
	}
	if (rc == 0)
		rc = db_schema_version(db, &version, &err);
	if (rc != 0) {
		fprintf(stderr, "felhom-admin db %s: %s\n", sub, err_msg(&err));
		db_close(db);
		return cmd_exit_code(rc);
	}
	printf("schema %d\n", version);
	db_close(db);
	return 0;
}
