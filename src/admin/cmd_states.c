/*
 * felhom-admin states — prints the operation state machine: every row
 * of the transition table (from, event, to, action), as columns or as
 * the Markdown table docs/state-machine.md holds.
 *   felhom-admin states [--markdown]
 */
#include <getopt.h>
#include <stdio.h>
#include <sysexits.h>

#include "admin/cmd_engine.h"
#include "engine/sm.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin states [--markdown]\n");
}

int
cmd_states(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "markdown", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, markdown = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "mh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			markdown = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	sm_print_table(stdout, markdown);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
