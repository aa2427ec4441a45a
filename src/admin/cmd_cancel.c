/*
 * cmd_cancel — `felhom-admin cancel OP_ID`: drops an op
 * that has not started — new, pending a signature, or authorized before
 * its first step (also one backing off between retries of that step) —
 * through the table's `cancel` transition, audited with the operator's
 * name.  An op in flight or mid-sequence is refused with what applies
 * instead (recover --abandon / --rollback).  Safe while the agent runs:
 * the check and the compare-and-set share one transaction, so the op
 * either never starts or the cancel is refused.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] cancel OP_ID
 */
#include <getopt.h>
#include <stdio.h>

#include "admin/cmd.h"
#include "engine/recover.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] cancel "
	    "OP_ID\n"
	    "\n"
	    "Cancels an operation that has not started: new, waiting for a "
	    "signature, or\nauthorized before its first step (retries "
	    "included).  One audited transition;\nan operation in flight or "
	    "mid-sequence is refused: see felhom-admin recover.\n"
	    "Exit: 0 cancelled; 1 no such operation or not cancellable (the "
	    "reason on\nstderr); 64 usage; 75 database busy.\n");
}

int
cmd_cancel(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return cmd_done(0);
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (optind + 1 != argc)
		return cmd_usage_fail(ctx, usage);
	return cmd_op_action(ctx, argv[optind], RECOVER_CANCEL);
}
