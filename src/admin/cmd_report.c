/*
 * cmd_report — `felhom-admin report`: the host report
 * the agent would send now, collected live from PVE and the database by
 * the agent's own collector — or, with --last, the last report the hub
 * took, as sent, with the envelope it answered.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] report [--last]
 *	    [--section NAME[,NAME...]]
 *
 * A live report carries no seq (the agent numbers what it sends); it
 * needs the configuration (PVE) and reads the database only.  Exit 69
 * when PVE cannot be read, 66 with --last when nothing was sent yet.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "agent/collect.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/json.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/db.h"
#include "store/kv.h"
#include "store/lastrep.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] report "
	    "[--last]\n"
	    "           [--section NAME[,NAME...]]\n"
	    "\n"
	    "The host report the agent would send now, collected live from "
	    "PVE (without\nits seq: the agent numbers what it sends); with "
	    "--last, the last report the\nhub took, as sent, with its "
	    "envelope.  --section keeps the named top-level\nsections "
	    "(host, guests, storage, backups, restore_tests, pbs, "
	    "cloudflared,\nagent, ops, audit, ...).  Exit 69 when PVE cannot "
	    "be read; 66 with --last\nwhen no report was sent yet.\n");
}

/* Keeps only the sections listed (comma list); ERR_INVALID naming one. */
static int
keep_sections(json_t *report, const char *list, struct err *err)
{
	json_t *keep;
	const char *p = list, *comma, *key;
	json_t *v;
	void *tmp;
	size_t n;
	char name[64];

	if ((keep = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	while (*p != '\0') {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n >= sizeof(name)) {
			json_decref(keep);
			return err_set(err, ERR_INVALID, "--section: empty or "
			    "too long a name");
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if ((v = json_object_get(report, name)) == NULL) {
			json_decref(keep);
			return err_set(err, ERR_INVALID, "--section: the "
			    "report has no section '%s'", name);
		}
		if (json_object_set(keep, name, v) != 0) {
			json_decref(keep);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
		p += n;
		if (*p == ',')
			p++;
	}
	json_object_foreach_safe(report, tmp, key, v)
		if (json_object_get(keep, key) == NULL)
			(void) json_object_del(report, key);
	json_decref(keep);
	return 0;
}

/* One section for people: key/value lines, or a table of objects. */
static int
print_section(const char *name, const json_t *v)
{
	const char *keys[12], *hdr[12];
	const json_t *first, *x;
	const char *k;
	size_t n = 0;
	char *s;

	printf("%s:\n", name);
	if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, k, x) {
			s = cmd_cell(x);
			printf("  %-22s %s\n", k, s != NULL ? s : "?");
			free(s);
		}
		return 0;
	}
	first = json_array_get(v, 0);
	if (!json_is_array(v) || !json_is_object(first)) {
		s = cmd_cell(v);
		printf("  %s\n", json_is_array(v) && json_array_size(v) == 0 ?
		    "(none)" : s != NULL ? s : "?");
		free(s);
		return 0;
	}
	/* The scalar columns of the first row (nested ones in --json). */
	json_object_foreach((json_t *)(uintptr_t)first, k, x) {
		if (n < sizeof(keys) / sizeof(keys[0]) && !json_is_object(x) &&
		    !json_is_array(x)) {
			keys[n] = k;
			hdr[n] = k;
			n++;
		}
	}
	return cmd_print_rows(v, n, hdr, keys, n > 0 ? n - 1 : 0, 60);
}

static int
print_report(const json_t *report)
{
	const char *k;
	json_t *v;
	int rc;

	json_object_foreach((json_t *)(uintptr_t)report, k, v)
		if ((rc = print_section(k, v)) != 0)
			return rc;
	return 0;
}

static int
report_last(struct cmd_ctx *ctx, const char *sections)
{
	struct db *db = NULL;
	struct lastrep lr;
	struct err err;
	json_t *doc;
	char t[CLOCK_RFC3339_LEN];
	int rc, ret;

	memset(&lr, 0, sizeof(lr));
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	rc = lastrep_read(db_path(db), &lr, &err);
	if (rc == ERR_NOT_FOUND) {
		ret = cmd_fail(ctx, EX_NOINPUT, "no report was sent yet (the "
		    "agent keeps the last one the hub took)");
		goto out;
	}
	if (rc == ERR_FORMAT) {
		ret = cmd_fail(ctx, EX_DATAERR, "the stored last report does "
		    "not parse: %s", err_msg(&err));
		goto out;
	}
	if (rc != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if (sections != NULL && (rc = keep_sections(lr.report, sections,
	    &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	cmd_time(lr.sent_at, t, sizeof(t));
	if (ctx->json) {
		doc = json_pack("{s:s,s:O,s:O}", "sent_at", t, "report",
		    lr.report, "envelope", lr.envelope);
		ret = cmd_done(cmd_print_json(doc));
		goto out;
	}
	printf("last report sent at %s, seq %" PRId64 "\n", t, lr.seq);
	(void) json_object_del(lr.report, "seq");
	ret = print_report(lr.report) == 0 ? 0 : EX_SOFTWARE;
	if (ret == 0 && sections == NULL)
		ret = print_section("envelope (the hub's answer)",
		    lr.envelope) == 0 ? 0 : EX_SOFTWARE;
	ret = cmd_done(ret);
out:
	lastrep_reset(&lr);
	db_close(db);
	return ret;
}

static int
report_live(struct cmd_ctx *ctx, const char *sections)
{
	const struct config *cfg;
	struct collect_source src;
	struct db_lock_info li;
	struct pve_client *pve = NULL;
	struct db *db = NULL;
	struct err err;
	json_t *report = NULL;
	int64_t now = clock_now(clock_system());
	int rc, ret;

	if ((ret = cmd_config(ctx, 0, &cfg)) != 0)
		return ret;
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if ((rc = https_global_init(&err)) != 0 ||
	    (rc = pve_client_from_config(cfg, NULL, &pve, &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	memset(&src, 0, sizeof(src));
	src.cfg = cfg;
	src.pve = pve;
	src.db = db;
	/* The agent's uptime, as the agent itself would report it. */
	src.started_mono_ms = clock_mono_ms(NULL);
	if (db_lock_probe(db_path(db), &li, NULL) == 0 && li.held &&
	    li.started_at > 0 && li.started_at <= now)
		src.started_mono_ms -= (now - li.started_at) * 1000;
	if ((rc = collect_report(&src, &report, NULL, &err)) != 0) {
		ret = cmd_fail(ctx, exitcode_of(rc) == EX_NOINPUT ?
		    EX_UNAVAILABLE : exitcode_of(rc), "%s", err_msg(&err));
		goto out;
	}
	if (sections != NULL && (rc = keep_sections(report, sections,
	    &err)) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(report));
		report = NULL;
		goto out;
	}
	printf("report the agent would send now (collected live, not sent)\n");
	ret = cmd_done(print_report(report) == 0 ? 0 : EX_SOFTWARE);
out:
	json_decref(report);
	pve_client_free(pve);
	db_close(db);
	return ret;
}

int
cmd_report(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "last", no_argument, NULL, 'l' },
		{ "section", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *sections = NULL;
	int ch, last = 0;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		switch (ch) {
		case 'l':
			last = 1;
			break;
		case 's':
			sections = optarg;
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
	return last ? report_last(ctx, sections) : report_live(ctx, sections);
}
