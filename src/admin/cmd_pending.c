/*
 * cmd_pending — `felhom-admin pending`: the ops waiting for an operator
 * signature, and the exact bytes each one asks to be signed.
 *
 *	felhom-admin [--config PATH] pending [--write-blob DIR] [--json]
 *
 * One line per op: its id, vmid, operation, why the gate parked it, and
 * its sign window.  --write-blob DIR writes DIR/OP_ID.json holding
 * exactly the sign request's bytes (no newline added), so
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
#include "admin/cmd_gate.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "engine/sm.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] pending [--write-blob DIR] "
	    "[--json]\n"
	    "\n"
	    "Lists the operations waiting for an operator signature: id, "
	    "vmid, operation,\nwhy the gate holds it, and until when it "
	    "can be signed.  --write-blob DIR\nwrites DIR/OP_ID.json with "
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

int
cmd_pending(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "write-blob", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *dir = NULL;
	struct config *cfg = NULL;
	struct db *db = NULL;
	struct ops_row **ops = NULL;
	struct err err;
	json_t *arr = NULL, *o;
	uint8_t *blob = NULL;
	char *why = NULL, *path = NULL, window[64], t[CLOCK_RFC3339_LEN];
	size_t n = 0, i, blen, shown = 0;
	int64_t now = clock_now(clock_system());
	int ch, rc, json = 0, ret = EX_SOFTWARE;

	err_init(&err);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfgpath = optarg;
			break;
		case 'w':
			dir = optarg;
			break;
		case 'j':
			json = 1;
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
	if ((rc = config_load(cfgpath, NULL, &cfg, &err)) != 0) {
		fprintf(stderr, "felhom-admin pending: %s\n", err_msg(&err));
		return rc == ERR_CONFIG ? EX_CONFIG : cmd_exit_code(rc);
	}
	if ((rc = db_open(cfg->database, DB_OPEN_READONLY, &db, &err)) != 0 ||
	    (rc = ops_list_active(db, &ops, &n, &err)) != 0) {
		fprintf(stderr, "felhom-admin pending: %s: %s\n", cfg->database,
		    err_msg(&err));
		ret = cmd_exit_code(rc);
		goto out;
	}
	if (json && (arr = json_array()) == NULL)
		goto nomem;
	if (!json)
		printf("%-20s %-9s %-16s %-44s %s\n", "ID", "VMID", "OP", "WHY",
		    "WINDOW");
	for (i = 0; i < n; i++) {
		if (sm_state_parse(ops[i]->state) != SM_PENDING_SIGNATURE)
			continue;
		shown++;
		free(why);
		if ((why = pending_why(db, ops[i])) == NULL)
			goto nomem;
		window_text(ops[i]->blob_not_after, now, window,
		    sizeof(window));
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
				fprintf(stderr, "felhom-admin pending: %s\n",
				    err_msg(&err));
				ret = rc == ERR_IO ? EX_CANTCREAT :
				    cmd_exit_code(rc);
				goto out;
			}
		}
		if (json) {
			clock_format_rfc3339(ops[i]->blob_not_after, t,
			    sizeof(t));
			o = json_pack("{s:s,s:o,s:s,s:s,s:o,s:o}", "op_id",
			    ops[i]->uid, "vmid", ops[i]->vmid > 0 ?
			    json_integer(ops[i]->vmid) : json_null(), "op",
			    ops_kind_name(ops[i]->kind), "why", why,
			    "not_after", ops[i]->blob_not_after > 0 ?
			    json_string(t) : json_null(), "blob_file",
			    path != NULL ? json_string(path) : json_null());
			if (o == NULL || json_array_append_new(arr, o) != 0)
				goto nomem;
			continue;
		}
		if (ops[i]->vmid > 0)
			printf("%-20s %-9" PRId64 " %-16s %-44s %s\n",
			    ops[i]->uid, ops[i]->vmid,
			    ops_kind_name(ops[i]->kind), why, window);
		else
			printf("%-20s %-9s %-16s %-44s %s\n", ops[i]->uid,
			    "-", ops_kind_name(ops[i]->kind), why, window);
		if (path != NULL)
			printf("  to sign: %s\n", path);
	}
	if (json) {
		if (json_dumpf(arr, stdout, JSON_INDENT(2)) != 0)
			goto nomem;
		putchar('\n');
	} else if (shown == 0)
		printf("(no operation is waiting for a signature)\n");
	ret = fflush(stdout) == 0 ? 0 : EX_IOERR;
	goto out;
nomem:
	fprintf(stderr, "felhom-admin pending: out of memory\n");
	ret = EX_OSERR;
out:
	json_decref(arr);
	free(blob);
	free(why);
	free(path);
	ops_rows_free(ops, n);
	db_close(db);
	config_free(cfg);
	return ret;
}
