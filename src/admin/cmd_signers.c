/*
 * cmd_signers — `felhom-admin signers list|diff`: the live
 * signer set (the `signers` table, which the allowed_signers files only
 * seed at the first start), and how the files on disk differ from it.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] signers list
 *	felhom-admin [--config PATH] [--db PATH] [--json] signers diff
 *
 * diff exits 0 when the files and the live set agree, 1 when they
 * differ: editing a file changes nothing by itself (a rotation is a
 * signed rotate_signers op).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "store/db.h"
#include "store/signers_db.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] signers "
	    "list\n"
	    "       felhom-admin [--config PATH] [--db PATH] [--json] signers "
	    "diff\n"
	    "\n"
	    "list: the live signer set (roles, key types, fingerprints, "
	    "principals, where\neach came from).  diff: the allowed_signers "
	    "files named by the configuration\nagainst the live set; exit 1 "
	    "when they differ.  The files seed the set once,\nat the first "
	    "start; after that only a signed rotate_signers op changes it.\n");
}

/* {role, fingerprint, principals, line} of an entry. */
static json_t *
entry_json(const struct signers_entry *e, struct err *err)
{
	json_t *o;
	char *line = NULL;

	if (signers_entry_line(e, &line, err) != 0)
		return NULL;
	o = json_pack("{s:s,s:s,s:s,s:s}", "role",
	    signers_role_name((int)e->role), "fingerprint",
	    sshsig_key_fingerprint(e->key), "principals", e->principals,
	    "line", line);
	free(line);
	if (o == NULL)
		(void) err_set(err, ERR_NOMEM, "out of memory");
	return o;
}

/* The entry of set with e's role and key, or NULL. */
static const struct signers_entry *
find_key(const struct signers *set, const struct signers_entry *e)
{
	const struct signers_entry *x;
	size_t i;

	for (i = 0; i < signers_count(set); i++) {
		x = signers_get(set, i);
		if (x->role == e->role && strcmp(x->keytext, e->keytext) == 0)
			return x;
	}
	return NULL;
}

/* Appends the entries of a missing from b (or changed) to arr. */
static int
walk(const struct signers *a, const struct signers *b, json_t *only,
    json_t *changed, struct err *err)
{
	const struct signers_entry *e, *x;
	char *la = NULL, *lb = NULL;
	json_t *o;
	size_t i;
	int rc = 0;

	for (i = 0; i < signers_count(a) && rc == 0; i++) {
		e = signers_get(a, i);
		x = find_key(b, e);
		if (x != NULL && changed == NULL)
			continue;
		if (x != NULL) {
			la = lb = NULL;
			if ((rc = signers_entry_line(e, &la, err)) == 0 &&
			    (rc = signers_entry_line(x, &lb, err)) == 0 &&
			    strcmp(la, lb) != 0) {
				if ((o = json_pack("{s:s,s:s,s:s,s:s}", "role",
				    signers_role_name((int)e->role),
				    "fingerprint", sshsig_key_fingerprint(
				    e->key), "file", la, "live", lb)) == NULL ||
				    json_array_append_new(changed, o) != 0)
					rc = err_set(err, ERR_NOMEM, "out of "
					    "memory");
			}
			free(la);
			free(lb);
			continue;
		}
		if ((o = entry_json(e, err)) == NULL ||
		    json_array_append_new(only, o) != 0)
			rc = err_set(err, ERR_NOMEM, "out of memory");
	}
	return rc;
}

/* Loads a role's file; a file that does not exist is an empty role. */
static int
load_role(struct signers *set, const char *path, enum signers_role role,
    json_t *missing, struct err *err)
{
	struct err lerr;
	int rc;

	if (path == NULL)
		return 0;
	err_init(&lerr);
	rc = signers_load_file(set, path, role, 0, 0, NULL, NULL, &lerr);
	if (rc == ERR_NOT_FOUND)
		return json_array_append_new(missing, json_string(path)) == 0 ?
		    0 : err_set(err, ERR_NOMEM, "out of memory");
	return rc == 0 ? 0 : err_copy(err, &lerr);
}

int
cmd_signers_compare(const struct config *cfg, struct db *db, json_t **out,
    struct err *err)
{
	struct signers *files = NULL, *live = NULL;
	json_t *o = NULL, *of, *ol, *ch, *missing;
	int rc;

	if ((files = signers_new()) == NULL || (live = signers_new()) == NULL ||
	    (o = json_pack("{s:b,s:[],s:[],s:[],s:[]}", "same", 1,
	    "only_files", "only_live", "changed", "files_missing")) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	of = json_object_get(o, "only_files");
	ol = json_object_get(o, "only_live");
	ch = json_object_get(o, "changed");
	missing = json_object_get(o, "files_missing");
	if ((rc = load_role(files, cfg->authz_operational,
	    SIGNERS_ROLE_OPERATIONAL, missing, err)) != 0 ||
	    (rc = load_role(files, cfg->authz_recovery, SIGNERS_ROLE_RECOVERY,
	    missing, err)) != 0 ||
	    (rc = signers_load_db(live, db, err)) != 0 ||
	    (rc = walk(files, live, of, ch, err)) != 0 ||
	    (rc = walk(live, files, ol, NULL, err)) != 0)
		goto out;
	if (json_array_size(of) + json_array_size(ol) + json_array_size(ch) >
	    0 && json_object_set_new(o, "same", json_false()) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = o;
	o = NULL;
	rc = 0;
out:
	json_decref(o);
	signers_free(files);
	signers_free(live);
	return rc;
}

static int
print_entries(const char *title, const json_t *arr, const char *sign)
{
	const json_t *e;
	size_t i;

	if (json_array_size(arr) == 0)
		return 0;
	printf("%s:\n", title);
	json_array_foreach(arr, i, e) {
		if (json_object_get(e, "file") != NULL)
			printf("  ~ %s %s\n      file: %s\n      live: %s\n",
			    json_string_value(json_object_get(e, "role")),
			    json_string_value(json_object_get(e,
			    "fingerprint")), json_string_value(
			    json_object_get(e, "file")), json_string_value(
			    json_object_get(e, "live")));
		else
			printf("  %s %s %s %s\n", sign, json_string_value(
			    json_object_get(e, "role")), json_string_value(
			    json_object_get(e, "fingerprint")),
			    json_string_value(json_object_get(e,
			    "principals")));
	}
	return 0;
}

static int
signers_diff(struct cmd_ctx *ctx)
{
	const struct config *cfg;
	struct db *db = NULL;
	struct err err;
	json_t *d = NULL, *m;
	size_t i;
	int rc, ret, same;

	if ((ret = cmd_config(ctx, 0, &cfg)) != 0)
		return ret;
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if ((rc = cmd_signers_compare(cfg, db, &d, &err)) != 0) {
		db_close(db);
		return cmd_fail_err(ctx, &err);
	}
	db_close(db);
	same = json_is_true(json_object_get(d, "same"));
	if (ctx->json) {
		ret = cmd_print_json(d);
		return cmd_done(ret != 0 ? ret : same ? 0 : EXITCODE_NEGATIVE);
	}
	m = json_object_get(d, "files_missing");
	for (i = 0; i < json_array_size(m); i++)
		printf("file missing: %s (an empty role on disk)\n",
		    json_string_value(json_array_get(m, i)));
	if (same)
		printf("the files and the live set agree\n");
	else {
		print_entries("only in the files (not live: a signed "
		    "rotate_signers op adds them)", json_object_get(d,
		    "only_files"), "+");
		print_entries("only in the live set (removed from the files)",
		    json_object_get(d, "only_live"), "-");
		print_entries("same key, other options", json_object_get(d,
		    "changed"), "~");
	}
	json_decref(d);
	return cmd_done(same ? 0 : EXITCODE_NEGATIVE);
}

static int
signers_list(struct cmd_ctx *ctx)
{
	static const char *const hdr[] = { "ROLE", "KEYTYPE", "FINGERPRINT",
	    "PRINCIPALS", "SOURCE", "ADDED" };
	struct signers_db_row *rows = NULL;
	struct cmd_table *t = NULL;
	struct db *db = NULL;
	struct err err;
	json_t *arr = NULL, *o;
	char added[CLOCK_RFC3339_LEN];
	const char *c[6];
	size_t n = 0, i;
	int rc, ret;

	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if ((rc = signers_db_list(db, &rows, &n, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if ((arr = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "role",
		    rows[i].role, "keytype", rows[i].keytype, "fingerprint",
		    rows[i].fingerprint, "principals", rows[i].principals,
		    "source", rows[i].source, "added_at", cmd_time(
		    rows[i].added_at, added, sizeof(added)));
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto nomem;
	}
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(arr));
		arr = NULL;
		goto out;
	}
	if (n == 0) {
		printf("(no signers: nothing destructive can be approved)\n");
		ret = cmd_done(0);
		goto out;
	}
	if ((t = cmd_table_new(6, hdr)) == NULL)
		goto nomem;
	cmd_table_cap(t, 3, 40);
	json_array_foreach(arr, i, o) {
		c[0] = json_string_value(json_object_get(o, "role"));
		c[1] = json_string_value(json_object_get(o, "keytype"));
		c[2] = json_string_value(json_object_get(o, "fingerprint"));
		c[3] = json_string_value(json_object_get(o, "principals"));
		c[4] = json_string_value(json_object_get(o, "source"));
		c[5] = json_string_value(json_object_get(o, "added_at"));
		if (cmd_table_add(t, c) != 0)
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
	signers_db_rows_free(rows, n);
	db_close(db);
	return ret;
}

int
cmd_signers(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sub;
	char name[32];
	int ch;

	if (argc < 2)
		return cmd_usage_fail(ctx, usage);
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		usage(stdout);
		return cmd_done(0);
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "diff") != 0) {
		(void) cmd_fail(ctx, EX_USAGE, "unknown subcommand '%s'", sub);
		return cmd_usage_fail(ctx, usage);
	}
	(void) snprintf(name, sizeof(name), "signers %s", sub);
	cmd_enter(ctx, name, argv + 1);
	while ((ch = cmd_getopt(ctx, argc - 1, argv + 1, "h", longopts)) !=
	    -1) {
		if (ch == 'h') {
			usage(stdout);
			return cmd_done(0);
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (optind != argc - 1)
		return cmd_usage_fail(ctx, usage);
	return strcmp(sub, "list") == 0 ? signers_list(ctx) :
	    signers_diff(ctx);
}
