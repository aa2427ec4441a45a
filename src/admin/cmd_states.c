/*
 * felhom-admin states — prints the operation state machine: every row
 * of the transition table (from, event, to, action), as columns or as
 * the Markdown table docs/state-machine.md holds.
 *   felhom-admin states [--markdown] [--json]
 */
#include <getopt.h>
#include <stdio.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "engine/sm.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin states [--markdown] [--json]\n"
	    "\n"
	    "Prints every row of the operation state machine's transition "
	    "table\n(from, event, to, action); --markdown as in "
	    "docs/state-machine.md.\n");
}

int
cmd_states(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "markdown", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sm_row_info r;
	json_t *arr, *o;
	size_t i;
	int c, markdown = 0;

	while ((c = cmd_getopt(ctx, argc, argv, "mh", opts)) != -1) {
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
	if (!ctx->json) {
		sm_print_table(stdout, markdown);
		return cmd_done(0);
	}
	if ((arr = json_array()) == NULL)
		return cmd_print_json(NULL);
	for (i = 0; i < sm_rows_count(); i++) {
		(void) sm_row_at(i, &r);
		o = json_pack("{s:s,s:s,s:s,s:s}", "from",
		    sm_state_name(r.from), "event", sm_event_name(r.event),
		    "to", sm_state_name(r.to), "action", r.action);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return cmd_print_json(NULL);
		}
	}
	return cmd_done(cmd_print_json(arr));
}
