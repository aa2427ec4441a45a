/*
 * cmd_audit — `felhom-admin audit`: the append-only
 * audit log of decisions — gate verdicts, signature verdicts, operator
 * actions — filtered, newest rows last.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] audit
 *	    [--since-seq N] [--code C] [--op OP_ID] [--vmid N] [--since T]
 *	    [--limit N]
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
audit_usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] audit "
	    "[--since-seq N]\n"
	    "           [--code C] [--op OP_ID] [--vmid N] [--since T] "
	    "[--limit N]\n"
	    "\n"
	    "The audit log: every gate decision, signature verdict and "
	    "operator action,\noldest first, with its seq (what the hub "
	    "acknowledges).  --since-seq N shows\nthe events after seq N; "
	    "--code C those with code C (replay, cancel, ...).\n--limit keeps "
	    "the newest N rows (default 200; 0: all).\n");
}

int
cmd_audit(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "since-seq", required_argument, NULL, 'S' },
		{ "code", required_argument, NULL, 'c' },
		{ "op", required_argument, NULL, 'o' },
		{ "vmid", required_argument, NULL, 'v' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const hdr[] = { "SEQ", "AT", "EVENT", "DECISION",
	    "CODE", "OP", "VMID", "ACTOR", "DETAIL" };
	static const char *const keys[] = { "seq", "at", "event", "decision",
	    "code", "op_id", "vmid", "actor", "detail" };
	static const struct cmd_listing listing = { adminq_audit,
	    "(no audit events)", 9, hdr, keys, 8, 60 };
	struct cmd_filter o;
	int64_t v;
	int ch, ret;

	memset(&o, 0, sizeof(o));
	o.f.limit = DEFAULT_LIMIT;
	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			audit_usage(stdout);
			return cmd_done(0);
		}
		if (ch == 'S') {
			if ((v = cmd_parse_count(optarg)) < 0) {
				(void) cmd_fail(ctx, EX_USAGE, "--since-seq "
				    "'%s': not a seq", optarg);
				return cmd_usage_fail(ctx, audit_usage);
			}
			o.f.since_seq = v;
			continue;
		}
		if (ch == 'c') {
			o.f.code = optarg;
			continue;
		}
		if ((ret = cmd_filter_opt(ctx, ch, &o, audit_usage)) != 0)
			return ret;
	}
	if (optind != argc)
		return cmd_usage_fail(ctx, audit_usage);
	return cmd_filter_list(ctx, &o, &listing);
}
