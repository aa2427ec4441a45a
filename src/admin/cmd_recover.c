/*
 * cmd_recover — `felhom-admin recover` (R-34, R-36; DESIGN "Recovery"):
 * every op that is not terminal, with what the agent's recovery and
 * lanes will do with it and why, and the operator's actions on one:
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] recover
 *	felhom-admin ... recover OP_ID --resume | --rollback | --abandon
 *
 * --resume: the op goes on at the agent's next tick (a retry backoff is
 * dropped).  --rollback: an op between steps that holds a safety copy
 * returns to it (the undo of rolling_back).  --abandon: the agent gives
 * the op up and never touches it again; PVE is left as it is (a task in
 * flight runs on).  Each is one transition of the table, audited with
 * the operator's name ($SUDO_USER, else $USER).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/err.h"
#include "engine/recover.h"
#include "store/db.h"
#include "store/ops.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] recover\n"
	    "       felhom-admin [--config PATH] [--db PATH] [--json] recover "
	    "OP_ID\n"
	    "           --resume | --rollback | --abandon\n"
	    "\n"
	    "Without OP_ID: every operation that is not finished, what the "
	    "agent does with\nit next and why, and the actions that apply.  "
	    "With OP_ID, one audited\ntransition:\n"
	    "  --resume    go on at the agent's next tick (a retry backoff is "
	    "dropped)\n"
	    "  --rollback  return to the safety copy (an operation between "
	    "steps that\n"
	    "              holds one)\n"
	    "  --abandon   the agent gives it up; PVE is left as it is (a task "
	    "in flight\n"
	    "              runs on)\n"
	    "Exit: 0 done; 1 no such operation or the action does not apply "
	    "(the reason\non stderr); 64 usage; 75 database busy.\n");
}

static int
list(struct cmd_ctx *ctx)
{
	static const char *const hdr[] = { "ID", "VMID", "KIND", "STATE",
	    "STEP", "NEXT", "ACTIONS", "WHY" };
	struct cmd_table *t = NULL;
	struct ops_row **ops = NULL;
	struct db *db = NULL;
	struct err err;
	json_t *arr = NULL, *o, *rec;
	const json_t *v;
	char *c[8];
	size_t n = 0, i, k;
	int64_t now = clock_now(clock_system());
	int ret, rc = 0;

	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if (ops_list_active(db, &ops, &n, &err) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if ((arr = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if ((o = cmd_op_json(ops[i], now)) == NULL ||
		    json_array_append_new(arr, o) != 0)
			goto nomem;
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(arr));
		arr = NULL;
		goto out;
	}
	if (n == 0) {
		printf("(no operation in flight: nothing to recover)\n");
		ret = cmd_done(0);
		goto out;
	}
	if ((t = cmd_table_new(8, hdr)) == NULL)
		goto nomem;
	cmd_table_cap(t, 7, 90);
	json_array_foreach(arr, i, o) {
		rec = json_object_get(o, "recovery");
		c[0] = cmd_cell(json_object_get(o, "op_id"));
		c[1] = cmd_cell(json_object_get(o, "vmid"));
		c[2] = cmd_cell(json_object_get(o, "op"));
		c[3] = cmd_cell(json_object_get(o, "state"));
		c[4] = cmd_cell(json_object_get(rec, "step"));
		c[5] = cmd_cell(json_object_get(rec, "does"));
		v = json_object_get(rec, "actions");
		c[6] = json_array_size(v) == 0 ? strdup("-") : NULL;
		if (c[6] == NULL && (c[6] = malloc(64)) != NULL) {
			c[6][0] = '\0';
			for (k = 0; k < json_array_size(v); k++)
				(void) snprintf(c[6] + strlen(c[6]), 64 -
				    strlen(c[6]), "%s%s", k > 0 ? "," : "",
				    json_string_value(json_array_get(v, k)));
		}
		c[7] = cmd_cell(json_object_get(rec, "why"));
		for (k = 0; k < 8; k++)
			if (c[k] == NULL)
				rc = ERR_NOMEM;
		if (rc == 0)
			rc = cmd_table_add(t, (const char *const *)c);
		for (k = 0; k < 8; k++)
			free(c[k]);
		if (rc != 0)
			goto nomem;
	}
	cmd_table_print(t, stdout);
	ret = cmd_done(0);
	goto out;
nomem:
	ret = cmd_fail(ctx, EX_SOFTWARE, "out of memory");
out:
	cmd_table_free(t);
	json_decref(arr);
	ops_rows_free(ops, n);
	db_close(db);
	return ret;
}

int
cmd_recover(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "resume", no_argument, NULL, 'r' },
		{ "rollback", no_argument, NULL, 'b' },
		{ "abandon", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch, action = -1, nactions = 0;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 'r':
			action = RECOVER_RESUME;
			nactions++;
			break;
		case 'b':
			action = RECOVER_ROLLBACK;
			nactions++;
			break;
		case 'a':
			action = RECOVER_ABANDON;
			nactions++;
			break;
		case 'h':
			usage(stdout);
			return cmd_done(0);
		default:
			return cmd_usage_fail(ctx, usage);
		}
	}
	if (optind == argc && nactions == 0)
		return list(ctx);
	if (optind + 1 != argc || nactions != 1) {
		(void) cmd_fail(ctx, EX_USAGE, "%s", optind + 1 != argc ?
		    "--resume, --rollback and --abandon need one OP_ID" :
		    "give exactly one of --resume, --rollback, --abandon");
		return cmd_usage_fail(ctx, usage);
	}
	return cmd_op_action(ctx, argv[optind], action);
}
