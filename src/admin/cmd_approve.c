/*
 * cmd_approve — `felhom-admin approve`: an operator's signature for a
 * pending op, handed over locally instead of through the hub (R-28,
 *
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] approve OP_ID
 *	    --signature FILE
 *
 * The locked pipeline runs against that op's own blob (its sign
 * request), bound to the op; when accepted, the op moves to authorized
 * through the very state-machine transition the agent uses, and the
 * nonce is consumed in that transaction.  Safe while the agent runs:
 * the transaction takes the database's write lock and compare-and-sets
 * the op's state; the agent picks the op up on its next tick.  Every
 * verdict is audited (actor "admin:<operator>", $SUDO_USER or $USER).
 * An op that is not pending says so, with its state, and nothing is
 * verified or written.
 *
 * Exit (base/exitcode.h) 0 accepted; 1 rejected ("rejected: CODE:
 * message" on stdout), no such op, or not pending; 64 usage; 66 no such
 * signature file; 75 database busy; 78 configuration.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "authz/sshsig.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "engine/gate.h"
#include "engine/sm.h"
#include "store/db.h"
#include "store/ops.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] approve "
	    "OP_ID\n"
	    "           --signature FILE\n"
	    "\n"
	    "Verifies FILE, an SSHSIG signature (ssh-keygen -Y sign -n "
	    "felhom-op-v1)\nover the sign request of the pending operation "
	    "OP_ID (see `felhom-admin\npending --write-blob DIR`), and "
	    "authorizes the operation when it is\naccepted.  The agent runs "
	    "it on its next tick.\n"
	    "Exit: 0 accepted; 1 rejected (\"rejected: CODE: message\"), no "
	    "such operation,\nor not pending; 64 usage; 66 no such file; 75 "
	    "database busy; 78 configuration.\n");
}

/* The verdict for --json and the line for people, from one object. */
static int
verdict(struct cmd_ctx *ctx, const char *uid, const char *result,
    const char *code, const char *msg, const char *state, int ret)
{
	json_t *o;

	if (ctx->json) {
		o = json_pack("{s:s,s:s,s:s?,s:s?,s:s?}", "op_id", uid,
		    "result", result, "code", code, "message", msg, "state",
		    state);
		return cmd_done(cmd_print_json(o) != 0 ? EX_IOERR : ret);
	}
	if (strcmp(result, "accepted") == 0)
		printf("accepted: %s authorized (%s); the agent runs it on its "
		    "next tick\n", uid, msg);
	else if (strcmp(result, "not_pending") == 0)
		printf("not pending: %s is %s; there is nothing to approve\n",
		    uid, state);
	else
		printf("rejected: %s: %s\n", code, msg);
	return cmd_done(ret);
}

int
cmd_approve(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "signature", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sigpath = NULL, *uid;
	const struct config *cfg;
	struct gate_config gc;
	struct gate_result r;
	struct gate *g = NULL;
	struct db *db = NULL;
	struct ops_row *op = NULL;
	struct err err;
	uint8_t *blob = NULL;
	char *sig = NULL, who[64], actor[96];
	size_t siglen = 0, blen = 0;
	int ch, rc, ret = EX_SOFTWARE;

	err_init(&err);
	while ((ch = cmd_getopt(ctx, argc, argv, "s:h", longopts)) != -1) {
		switch (ch) {
		case 's':
			sigpath = optarg;
			break;
		case 'h':
			usage(stdout);
			return cmd_done(0);
		default:
			return cmd_usage_fail(ctx, usage);
		}
	}
	if (optind + 1 != argc || sigpath == NULL)
		return cmd_usage_fail(ctx, usage);
	uid = argv[optind];
	if ((rc = cmd_parse_op_id(uid, &err)) != 0) {
		(void) cmd_fail_err(ctx, &err);
		return cmd_usage_fail(ctx, usage);
	}
	/* The gate needs the host id and the authz settings. */
	if ((ret = cmd_config(ctx, 0, &cfg)) != 0)
		return ret;
	/* The agent's own database: never created or migrated from here. */
	if ((ret = cmd_db_open(ctx, 0, &db)) != 0)
		goto out;
	if ((rc = ops_get_uid(db, uid, &op, &err)) != 0) {
		ret = rc == ERR_NOT_FOUND ? cmd_fail(ctx, EXITCODE_NEGATIVE,
		    "%s: no such operation", uid) : cmd_fail_err(ctx, &err);
		goto out;
	}
	/* Not pending: say so, verify nothing, write nothing. */
	if (sm_state_parse(op->state) != SM_PENDING_SIGNATURE) {
		ret = verdict(ctx, op->uid, "not_pending", NULL, NULL,
		    op->state, EXITCODE_NEGATIVE);
		goto out;
	}
	if ((rc = cmd_read_file(sigpath, SSHSIG_ARMOR_MAX, &sig, &siglen,
	    &err)) != 0 ||
	    (rc = ops_get_blob(db, op->id, &blob, &blen, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	gate_config_from(cfg, &gc);
	if ((rc = gate_new(db, &gc, clock_system(), NULL, &g, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	cmd_operator(who, sizeof(who));
	(void) snprintf(actor, sizeof(actor), "admin:%s", who);
	/* against the op's own blob, bound to the op. */
	gate_result_init(&r);
	rc = gate_approve(g, op->uid, blob, blen, sig, siglen, actor, NULL,
	    NULL, &r, &err);
	if (rc == ERR_REJECTED) {
		ret = verdict(ctx, op->uid, "rejected", r.code, r.msg, NULL,
		    EXITCODE_NEGATIVE);
		goto out;
	}
	if (rc != 0) {
		ret = cmd_fail(ctx, exitcode_of(rc), "%s: %s", uid,
		    err_msg(&err));
		goto out;
	}
	ret = verdict(ctx, op->uid, "accepted", NULL, r.msg, "authorized", 0);
out:
	gate_free(g);
	ops_row_free(op);
	free(blob);
	if (sig != NULL)
		explicit_bzero(sig, siglen);
	free(sig);
	db_close(db);
	return ret;
}
