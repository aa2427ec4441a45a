/*
 * cmd_nonces — `felhom-admin nonces prune`: deletes the
 * accepted nonces whose expiry has passed — a replay of one could no
 * longer pass the time stage anyway — and never one that has not.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] nonces prune
 *
 * One transaction, safe while the agent runs (it prunes the same way at
 * intake).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/err.h"
#include "store/db.h"
#include "store/nonces.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] nonces "
	    "prune\n"
	    "\n"
	    "Deletes the accepted nonces whose expiry (the signed window's end "
	    "plus the\nclock skew) has passed; a nonce still in its window is "
	    "never deleted.\n");
}

static int
nonces_prune_cmd(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct db *db = NULL;
	struct err err;
	int64_t now = clock_now(clock_system()), deleted = 0, kept = 0;
	int ch, rc, ret;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return cmd_done(0);
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (optind != argc)
		return cmd_usage_fail(ctx, usage);
	if ((ret = cmd_db_open(ctx, 0, &db)) != 0)
		return ret;
	err_init(&err);
	if ((rc = db_begin(db, &err)) != 0)
		goto fail;
	if ((rc = nonces_prune(db, now, &deleted, &err)) != 0 ||
	    (rc = nonces_count(db, &kept, &err)) != 0) {
		db_rollback(db);
		goto fail;
	}
	if ((rc = db_commit(db, &err)) != 0)
		goto fail;
	db_close(db);
	if (ctx->json)
		return cmd_done(cmd_print_json(json_pack("{s:I,s:I}", "pruned",
		    (json_int_t)deleted, "kept", (json_int_t)kept)));
	printf("pruned %" PRId64 " expired nonce%s; %" PRId64 " kept (still "
	    "in their window)\n", deleted, deleted == 1 ? "" : "s", kept);
	return cmd_done(0);
fail:
	db_close(db);
	return cmd_fail_err(ctx, &err);
}

int
cmd_nonces(struct cmd_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_fail(ctx, usage);
	if (strcmp(argv[1], "prune") == 0) {
		cmd_enter(ctx, "nonces prune", argv + 1);
		return nonces_prune_cmd(ctx, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return cmd_done(0);
	}
	(void) cmd_fail(ctx, EX_USAGE, "unknown subcommand '%s'", argv[1]);
	return cmd_usage_fail(ctx, usage);
}
