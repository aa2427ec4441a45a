/*
 * cmd_approve — `felhom-admin approve`: an operator's signature for a
 * pending op, handed over locally instead of through the hub (R-28,
 *
 *
 *	felhom-admin [--config PATH] approve OP_ID --signature FILE
 *
 * The locked pipeline runs against that op's own blob (its sign
 * request), bound to the op; when accepted, the op moves to authorized
 * through the very state-machine transition the agent uses, and the
 * nonce is consumed in that transaction.  Safe while the agent runs:
 * the transaction takes the database's write lock and compare-and-sets
 * the op's state; the agent picks the op up on its next tick.  Every
 * verdict is audited (actor "admin").
 *
 * Exit 0 accepted; 1 rejected, with "rejected: CODE: message" on
 * stdout; sysexits for usage (64), a missing op or file (66), a busy
 * database (75), configuration (78), I/O and the rest.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "admin/cmd.h"
#include "admin/cmd_authz.h"
#include "admin/cmd_gate.h"
#include "authz/sshsig.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "engine/gate.h"
#include "store/db.h"
#include "store/ops.h"

#define APPROVE_EXIT_REJECTED	1

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] approve OP_ID --signature "
	    "FILE\n"
	    "\n"
	    "Verifies FILE, an SSHSIG signature (ssh-keygen -Y sign -n "
	    "felhom-op-v1)\nover the sign request of the pending operation "
	    "OP_ID (see `felhom-admin\npending --write-blob DIR`), and "
	    "authorizes the operation when it is\naccepted.  The agent runs "
	    "it on its next tick.\n"
	    "Exit: 0 accepted, 1 rejected (\"rejected: CODE: message\"), "
	    "64 usage,\n66 no such operation or file, 75 database busy, 78 "
	    "configuration.\n");
}

int
cmd_approve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "signature", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *sigpath = NULL, *uid;
	struct config *cfg = NULL;
	struct gate_config gc;
	struct gate_result r;
	struct gate *g = NULL;
	struct db *db = NULL;
	struct ops_row *op = NULL;
	struct err err;
	uint8_t *blob = NULL;
	char *sig = NULL;
	size_t siglen = 0, blen = 0;
	int ch, rc, ret = EX_SOFTWARE;

	err_init(&err);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 's':
			sigpath = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind + 1 != argc || sigpath == NULL) {
		usage(stderr);
		return EX_USAGE;
	}
	uid = argv[optind];
	if ((rc = config_load(cfgpath, NULL, &cfg, &err)) != 0) {
		fprintf(stderr, "felhom-admin approve: %s\n", err_msg(&err));
		return rc == ERR_CONFIG ? EX_CONFIG : cmd_exit_code(rc);
	}
	if ((rc = cmd_authz_read(sigpath, SSHSIG_ARMOR_MAX, &sig, &siglen,
	    &err)) != 0) {
		fprintf(stderr, "felhom-admin approve: %s\n", err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	/* The agent's own database: never created or migrated from here. */
	if ((rc = db_open(cfg->database, 0, &db, &err)) != 0) {
		fprintf(stderr, "felhom-admin approve: %s: %s\n", cfg->database,
		    err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	rc = ops_get_uid(db, uid, &op, &err);
	if (rc == 0)
		rc = ops_get_blob(db, op->id, &blob, &blen, &err);
	if (rc != 0) {
		fprintf(stderr, "felhom-admin approve: %s: %s\n", uid,
		    rc == ERR_NOT_FOUND && op == NULL ? "no such operation" :
		    err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	gate_config_from(cfg, &gc);
	if ((rc = gate_new(db, &gc, clock_system(), NULL, &g, &err)) != 0) {
		fprintf(stderr, "felhom-admin approve: %s\n", err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	/* against the op's own blob, bound to the op. */
	gate_result_init(&r);
	rc = gate_approve(g, op->uid, blob, blen, sig, siglen, "admin", NULL,
	    NULL, &r, &err);
	if (rc == ERR_REJECTED) {
		printf("rejected: %s: %s\n", r.code, r.msg);
		ret = APPROVE_EXIT_REJECTED;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "felhom-admin approve: %s: %s\n", uid,
		    err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	printf("accepted: %s authorized (%s); the agent runs it on its next "
	    "tick\n", op->uid, r.msg);
	ret = 0;
out:
	if (fflush(stdout) != 0 && ret == 0)
		ret = EX_IOERR;
	gate_free(g);
	ops_row_free(op);
	free(blob);
	if (sig != NULL)
		explicit_bzero(sig, siglen);
	free(sig);
	db_close(db);
	config_free(cfg);
	return ret;
}
