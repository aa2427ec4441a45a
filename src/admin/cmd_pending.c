/*
 * cmd_pending — `felhom-admin pending`: the ops waiting for an operator
 * signature, and the exact bytes each one asks to be signed.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] pending
 *	    [--write-blob DIR]
 *
 * One row per op: its id, guest (vmid and name), operation, source,
 * params, why the gate parked it, and its sign window; first, whether
 * the hub holds the host blocked (nothing runs then, signed or not).
 * --write-blob DIR writes DIR/OP_ID.json holding exactly the sign
 * request's bytes (no newline added), so
 *	ssh-keygen -Y sign -n felhom-op-v1 -f KEY DIR/OP_ID.json
 * signs them as they are; `felhom-admin approve OP_ID --signature
 * DIR/OP_ID.json.sig` hands the signature back.  Read-only on the
 * database.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "engine/sm.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/kv.h"
#include "store/ops.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] pending "
	    "[--write-blob DIR]\n"
	    "\n"
	    "Lists the operations waiting for an operator signature: id, "
	    "guest, operation,\nsource, params, why the gate holds it, and "
	    "until when it can be signed;\nand whether the hub holds the "
	    "host blocked.  --write-blob DIR writes\nDIR/OP_ID.json with "
	    "exactly the bytes to sign:\n"
	    "  ssh-keygen -Y sign -n felhom-op-v1 -f KEY DIR/OP_ID.json\n"
	    "  felhom-admin approve OP_ID --signature DIR/OP_ID.json.sig\n"
	    "The configuration (default " CONFIG_DEFAULT_PATH ") names "
	    "the database.\n");
}

/*
 * Writes len bytes to a new file path, 0600; the bytes exactly.  An
 * existing file (or a link planted there) is never written through: it
 * could be someone else's, or another blob than the one shown.
 */
static int
write_exact(const char *path, const void *data, size_t len, struct err *err)
{
	const char *p = data;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) < 0)
		return err_set(err, ERR_IO, "%s: %s%s", path, strerror(errno),
		    errno == EEXIST ? "; remove it or write to an empty "
		    "directory" : "");
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			(void) close(fd);
			return err_set(err, ERR_IO, "%s: %s", path,
			    strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0)
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

/* The gate's reason for parking op (its journal), else the op's why. */
static char *
pending_why(struct db *db, const struct ops_row *op)
{
	json_t *d = NULL;
	const char *why = NULL;
	char *s;

	if (journal_last_detail(db, op->id, "classified_destructive", &d,
	    NULL) == 0)
		why = json_string_value(json_object_get(d, "why"));
	if (why == NULL)
		why = op->why != NULL ? op->why : "destructive";
	s = strdup(why);
	json_decref(d);
	return s;
}

/* "2026-11-28T13:00:00Z (in 2h05m)" or "... (lapsed)". */
static void
window_text(int64_t not_after, int64_t now, char *out, size_t n)
{
	char t[CLOCK_RFC3339_LEN];
	int64_t left = not_after - now;

	if (not_after <= 0) {
		(void) snprintf(out, n, "-");
		return;
	}
	clock_format_rfc3339(not_after, t, sizeof(t));
	if (left < 0)
		(void) snprintf(out, n, "%s (lapsed)", t);
	else
		(void) snprintf(out, n, "%s (in %" PRId64 "h%02" PRId64 "m)",
		    t, left / 3600, left % 3600 / 60);
}

/* One pending op as the table and --json show it. */
static json_t *
pending_json(struct db *db, const struct ops_row *op, const json_t *names,
    int64_t now, const char *blob_file)
{
	char vm[24], t[CLOCK_RFC3339_LEN], window[64], *why;
	json_t *o;

	if ((why = pending_why(db, op)) == NULL)
		return NULL;
	(void) snprintf(vm, sizeof(vm), "%" PRId64, op->vmid);
	clock_format_rfc3339(op->blob_not_after, t, sizeof(t));
	window_text(op->blob_not_after, now, window, sizeof(window));
	o = json_pack("{s:s,s:o,s:o,s:s,s:s,s:O,s:s,s:o,s:s,s:o}",
	    "op_id", op->uid,
	    "vmid", op->vmid > 0 ? json_integer(op->vmid) : json_null(),
	    "guest", json_is_string(json_object_get(names, vm)) ?
	    json_string(json_string_value(json_object_get(names, vm))) :
	    json_null(),
	    "op", ops_kind_name(op->kind),
	    "source", ops_source_name(op->source),
	    "params", op->params,
	    "why", why,
	    "not_after", op->blob_not_after > 0 ? json_string(t) :
	    json_null(),
	    "window", window,
	    "blob_file", blob_file != NULL ? json_string(blob_file) :
	    json_null());
	free(why);
	return o;
}

static int
print_table(const json_t *doc)
{
	static const char *const hdr[] = { "ID", "VMID", "GUEST", "OP",
	    "SOURCE", "PARAMS", "WHY", "WINDOW" };
	const json_t *ops = json_object_get(doc, "ops"), *o;
	struct cmd_table *t;
	char *c[8];
	size_t i, k;
	int rc = 0;

	if (json_is_true(json_object_get(doc, "blocked")))
		printf("host BLOCKED by the hub: nothing runs, signed or not, "
		    "until the hub lifts it\n");
	if (json_array_size(ops) == 0) {
		printf("(no operation is waiting for a signature)\n");
		return 0;
	}
	if ((t = cmd_table_new(8, hdr)) == NULL)
		return ERR_NOMEM;
	cmd_table_cap(t, 5, 40);
	cmd_table_cap(t, 6, 44);
	json_array_foreach(ops, i, o) {
		c[0] = cmd_cell(json_object_get(o, "op_id"));
		c[1] = cmd_cell(json_object_get(o, "vmid"));
		c[2] = cmd_cell(json_object_get(o, "guest"));
		c[3] = cmd_cell(json_object_get(o, "op"));
		c[4] = cmd_cell(json_object_get(o, "source"));
		c[5] = cmd_cell(json_object_get(o, "params"));
		c[6] = cmd_cell(json_object_get(o, "why"));
		c[7] = cmd_cell(json_object_get(o, "window"));
		for (k = 0; k < 8; k++)
			if (c[k] == NULL)
				rc = ERR_NOMEM;
		if (rc == 0)
			rc = cmd_table_add(t, (const char *const *)c);
		for (k = 0; k < 8; k++)
			free(c[k]);
		if (rc != 0)
			break;
	}
	if (rc == 0)
		cmd_table_print(t, stdout);
	cmd_table_free(t);
	if (rc != 0)
		return rc;
	json_array_foreach(ops, i, o)
		if (json_is_string(json_object_get(o, "blob_file")))
			printf("to sign %s: %s\n", json_string_value(
			    json_object_get(o, "op_id")), json_string_value(
			    json_object_get(o, "blob_file")));
	return 0;
}

int
cmd_pending(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "write-blob", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL;
	struct db *db = NULL;
	struct ops_row **ops = NULL;
	struct err err;
	json_t *doc = NULL, *arr, *names = NULL, *o;
	uint8_t *blob = NULL;
	char *path = NULL;
	size_t n = 0, i, blen;
	int64_t now = clock_now(clock_system()), blocked = 0;
	int ch, rc, ret;

	err_init(&err);
	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 'w':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return cmd_done(0);
		default:
			return cmd_usage_fail(ctx, usage);
		}
	}
	if (optind != argc)
		return cmd_usage_fail(ctx, usage);
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	if ((rc = ops_list_active(db, &ops, &n, &err)) != 0 ||
	    (rc = kv_get_int(db, KV_HUB_BLOCKED, 0, &blocked, &err)) != 0 ||
	    (rc = adminq_guest_names(db, &names, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if ((doc = json_pack("{s:b,s:[]}", "blocked", blocked != 0, "ops")) ==
	    NULL)
		goto nomem;
	arr = json_object_get(doc, "ops");
	for (i = 0; i < n; i++) {
		if (sm_state_parse(ops[i]->state) != SM_PENDING_SIGNATURE)
			continue;
		free(path);
		path = NULL;
		if (dir != NULL && ops[i]->has_blob) {
			if (asprintf(&path, "%s/%s.json", dir, ops[i]->uid) <
			    0) {
				path = NULL;
				goto nomem;
			}
			free(blob);
			blob = NULL;
			if ((rc = ops_get_blob(db, ops[i]->id, &blob, &blen,
			    &err)) != 0 || (rc = write_exact(path, blob, blen,
			    &err)) != 0) {
				ret = cmd_fail_err(ctx, &err);
				goto out;
			}
		}
		if ((o = pending_json(db, ops[i], names, now, path)) == NULL ||
		    json_array_append_new(arr, o) != 0)
			goto nomem;
	}
	if (ctx->json) {
		ret = cmd_print_json(doc);
		doc = NULL;
	} else
		ret = print_table(doc) == 0 ? 0 : EX_SOFTWARE;
	ret = cmd_done(ret);
	goto out;
nomem:
	ret = cmd_fail(ctx, EX_SOFTWARE, "out of memory");
out:
	json_decref(doc);
	json_decref(names);
	free(blob);
	free(path);
	ops_rows_free(ops, n);
	db_close(db);
	return ret;
}
