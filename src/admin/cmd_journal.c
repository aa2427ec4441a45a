/*
 * cmd_journal — `felhom-admin journal`: the
 * append-only journal of transitions, filtered, newest rows last.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] journal
 *	    [--op OP_ID] [--vmid N] [--since T] [--limit N]
 *
 * T is YYYY-MM-DDTHH:MM:SSZ or a duration back from now (90s, 15m, 2h,
 * 3d).  --limit keeps the newest N rows (default 200; 0 all).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/err.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/ops.h"

#define DEFAULT_LIMIT	200

static void
journal_usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] journal "
	    "[--op OP_ID]\n"
	    "           [--vmid N] [--since T] [--limit N]\n"
	    "\n"
	    "The journal: one row per state change of an operation, oldest "
	    "first.\nT is YYYY-MM-DDTHH:MM:SSZ or a duration back from now "
	    "(90s, 15m, 2h, 3d).\n--limit keeps the newest N rows (default "
	    "200; 0: all).\n");
}


int
cmd_journal(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "op", required_argument, NULL, 'o' },
		{ "vmid", required_argument, NULL, 'v' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const hdr[] = { "ID", "AT", "OP", "VMID", "KIND",
	    "FROM", "EVENT", "TO", "STEP", "DETAIL" };
	static const char *const keys[] = { "id", "at", "op_id", "vmid", "op",
	    "from", "event", "to", "step", "detail" };
	static const struct cmd_listing listing = { adminq_journal,
	    "(no journal rows)", 10, hdr, keys, 9, 60 };
	struct cmd_filter o;
	int ch, ret;

	memset(&o, 0, sizeof(o));
	o.f.limit = DEFAULT_LIMIT;
	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			journal_usage(stdout);
			return cmd_done(0);
		}
		if ((ret = cmd_filter_opt(ctx, ch, &o, journal_usage)) != 0)
			return ret;
	}
	if (optind != argc)
		return cmd_usage_fail(ctx, journal_usage);
	return cmd_filter_list(ctx, &o, &listing);
}

