/*
 * cmd_show — `felhom-admin show OP_ID`: one
 * operation whole — its facts and steps, what the agent will do with it
 * next, its signature, its sign request (the exact bytes to sign, while
 * it is pending), its journal and its audit rows.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] show OP_ID
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
#include "engine/sm.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/ops.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] show "
	    "OP_ID\n"
	    "\n"
	    "One operation: its facts and steps, what the agent does with it "
	    "next and\nwhich operator actions apply, its signature, its sign "
	    "request while it\nwaits for one (the exact bytes to sign), its "
	    "journal and its audit rows.\n");
}

/* The sign request of a pending op: its bytes as text, and until when. */
static json_t *
sign_request_json(struct db *db, const struct ops_row *op, struct err *err)
{
	uint8_t *blob = NULL;
	size_t len = 0;
	char t[CLOCK_RFC3339_LEN];
	json_t *o;
	int rc;

	if (sm_state_parse(op->state) != SM_PENDING_SIGNATURE ||
	    !op->has_blob)
		return json_null();
	if ((rc = ops_get_blob(db, op->id, &blob, &len, err)) != 0)
		return NULL;
	clock_format_rfc3339(op->blob_not_after, t, sizeof(t));
	/* A sign request is the agent's own JSON text (opblob_make). */
	o = json_pack("{s:s%,s:s}", "blob", (const char *)blob, len,
	    "not_after", t);
	free(blob);
	if (o == NULL)
		(void) err_set(err, ERR_NOMEM, "out of memory");
	return o;
}

static void
print_kv(const char *k, const json_t *v)
{
	char *s = cmd_cell(v);

	printf("%-13s %s\n", k, s != NULL ? s : "?");
	free(s);
}

static int
print_human(const json_t *doc)
{
	static const char *const jhdr[] = { "ID", "AT", "FROM", "EVENT", "TO",
	    "STEP", "DETAIL" };
	static const char *const jkeys[] = { "id", "at", "from", "event", "to",
	    "step", "detail" };
	static const char *const ahdr[] = { "SEQ", "AT", "EVENT", "DECISION",
	    "CODE", "ACTOR", "DETAIL" };
	static const char *const akeys[] = { "seq", "at", "event", "decision",
	    "code", "actor", "detail" };
	static const char *const fields[] = { "op_id", "vmid", "op", "source",
	    "class", "state", "steps", "step", "attempt", "max_attempts",
	    "next_at", "upid", "params", "safety", "why", "error_code",
	    "error", "created_at", "updated_at", "ended_at", NULL };
	const json_t *op = json_object_get(doc, "op"), *rec, *sig, *req;
	size_t i;
	int rc;

	for (i = 0; fields[i] != NULL; i++)
		print_kv(fields[i], json_object_get(op, fields[i]));
	rec = json_object_get(op, "recovery");
	printf("next          %s: %s\n", json_string_value(json_object_get(rec,
	    "does")), json_string_value(json_object_get(rec, "why")));
	print_kv("actions", json_object_get(rec, "actions"));
	sig = json_object_get(doc, "signature");
	print_kv("signed", json_object_get(sig, "signed"));
	print_kv("signer", json_object_get(sig, "signer"));
	print_kv("nonce", json_object_get(sig, "nonce"));
	req = json_object_get(doc, "sign_request");
	if (json_is_object(req)) {
		printf("\nsign request (valid until %s; the exact "
		    "bytes):\n%s\n", json_string_value(json_object_get(req,
		    "not_after")),
		    json_string_value(json_object_get(req, "blob")));
	}
	printf("\njournal:\n");
	if ((rc = cmd_print_rows(json_object_get(doc, "journal"), 7, jhdr,
	    jkeys, 6, 70)) != 0)
		return rc;
	printf("\naudit:\n");
	if (json_array_size(json_object_get(doc, "audit")) == 0) {
		printf("(none)\n");
		return 0;
	}
	return cmd_print_rows(json_object_get(doc, "audit"), 7, ahdr, akeys,
	    6, 70);
}

int
cmd_show(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct adminq_filter f;
	struct ops_row *op = NULL;
	struct db *db = NULL;
	struct err err;
	json_t *doc = NULL, *j = NULL, *a = NULL, *sig = NULL, *req;
	int ch, ret;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return cmd_done(0);
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (optind + 1 != argc)
		return cmd_usage_fail(ctx, usage);
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	if ((ret = cmd_find_op(ctx, db, argv[optind], &op)) != 0)
		goto out;
	err_init(&err);
	memset(&f, 0, sizeof(f));
	f.op_id = op->id;
	if (adminq_journal(db, &f, &j, &err) != 0 ||
	    adminq_audit(db, &f, &a, &err) != 0 ||
	    adminq_op_signature(db, op->id, &sig, &err) != 0 ||
	    (req = sign_request_json(db, op, &err)) == NULL) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	doc = json_pack("{s:o,s:O,s:o,s:O,s:O}", "op", cmd_op_json(op,
	    clock_now(clock_system())), "signature", sig, "sign_request", req,
	    "journal", j, "audit", a);
	if (doc == NULL) {
		ret = cmd_fail(ctx, EX_SOFTWARE, "out of memory");
		goto out;
	}
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(doc));
		doc = NULL;
	} else
		ret = cmd_done(print_human(doc) == 0 ? 0 : EX_SOFTWARE);
out:
	json_decref(doc);
	json_decref(j);
	json_decref(a);
	json_decref(sig);
	ops_row_free(op);
	db_close(db);
	return ret;
}
