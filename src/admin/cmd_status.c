/*
 * cmd_status — `felhom-admin status`: one screen about the agent.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] status
 *
 * The agent: running or not, its pid, version and uptime — from the
 * kernel's lock table and the lock file the running process wrote at
 * start, not from a periodic database write.  The hub: mode, the last
 * report the hub took and when, the last failure, blocked, the poll
 * interval.  The desired and applied generations, ops by state, the
 * pending signatures, the signed-ops inbox, the last errors, the signer
 * counts and whether the allowed_signers files differ from the live
 * set.  Read-only.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/err.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/kv.h"
#include "store/lastrep.h"
#include "store/reportq.h"

#define STATUS_ERRORS	5
/* Ended ops counted and errors shown: those of the last week (issue 15). */
#define STATUS_RECENT_S	(7 * 86400)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-admin [--config PATH] [--db PATH] [--json] status\n"
	    "\n"
	    "One screen: the agent (running, pid, version, uptime), the hub "
	    "(last report,\nlast failure, blocked), desired and applied "
	    "generations, operations by state,\npending signatures, the last "
	    "errors, the signers and whether the\nallowed_signers files "
	    "differ from the live set.  Read-only.\n");
}

/* A kv integer as JSON (null when absent or 0 with zero_null). */
static json_t *
kv_json_int(struct db *db, const char *key, int zero_null, struct err *err,
    int *rc)
{
	int64_t v = 0;

	if (*rc == 0)
		*rc = kv_get_int(db, key, 0, &v, err);
	if (*rc != 0 || (zero_null && v == 0))
		return json_null();
	return json_integer(v);
}

static json_t *
kv_json_time(struct db *db, const char *key, struct err *err, int *rc)
{
	char t[CLOCK_RFC3339_LEN];
	int64_t v = 0;

	if (*rc == 0)
		*rc = kv_get_int(db, key, 0, &v, err);
	if (*rc != 0 || v <= 0)
		return json_null();
	clock_format_rfc3339(v, t, sizeof(t));
	return json_string(t);
}

static json_t *
kv_json_text(struct db *db, const char *key, struct err *err, int *rc)
{
	char *v = NULL;
	json_t *j;
	int r;

	if (*rc != 0)
		return json_null();
	r = kv_get(db, key, &v, err);
	if (r == ERR_NOT_FOUND)
		return json_null();
	if (r != 0) {
		*rc = r;
		return json_null();
	}
	j = json_string(v);
	free(v);
	return j;
}

/*
 * The last report the hub took (store/lastrep.h): when and its seq, null
 * when none was kept or the file cannot be read (status never fails on
 * a diagnostic copy).
 */
static void
last_report(struct db *db, json_t **at_out, json_t **seq_out)
{
	char t[CLOCK_RFC3339_LEN];
	struct lastrep lr;

	*at_out = json_null();
	*seq_out = json_null();
	if (lastrep_read(db_path(db), &lr, NULL) != 0)
		return;
	clock_format_rfc3339(lr.sent_at, t, sizeof(t));
	*at_out = json_string(t);
	*seq_out = json_integer(lr.seq);
	lastrep_reset(&lr);
}

/* The agent process: from the lock, never from the database. */
static json_t *
agent_json(const char *dbpath, int64_t now)
{
	struct db_lock_info li;
	struct err err;
	char t[CLOCK_RFC3339_LEN];

	err_init(&err);
	if (db_lock_probe(dbpath, &li, &err) != 0)
		return json_pack("{s:n,s:s}", "running", "error",
		    err_msg(&err));
	if (!li.held)
		return json_pack("{s:b}", "running", 0);
	return json_pack("{s:b,s:I,s:s,s:o,s:o}", "running", 1, "pid",
	    (json_int_t)li.pid, "version", li.version,
	    "started_at", li.started_at > 0 ? json_string(cmd_time(
	    li.started_at, t, sizeof(t))) : json_null(),
	    "uptime_s", li.started_at > 0 && li.started_at <= now ?
	    json_integer(now - li.started_at) : json_null());
}

/* The whole status document; what --json prints, what people read. */
static int
build(struct db *db, const struct config *cfg, int64_t now, json_t **out,
    struct err *err)
{
	json_t *doc = NULL, *hub = NULL, *states = NULL, *errors = NULL;
	json_t *inbox = NULL, *signers = NULL, *diff = NULL, *agent;
	json_t *last_at, *last_seq;
	int64_t op = 0, rec = 0, bytes = 0;
	int version = 0, rc = 0;

	last_report(db, &last_at, &last_seq);
	hub = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "mode", cfg == NULL ? json_null() : json_string(cfg->hub_on ?
	    "on" : "off"),
	    "last_report_at", last_at,
	    "report_seq", last_seq,
	    "last_error", kv_json_text(db, KV_HUB_LAST_ERROR, err, &rc),
	    "last_error_at", kv_json_time(db, KV_HUB_LAST_ERROR_AT, err, &rc),
	    "blocked", json_boolean(0),
	    "poll_interval_s", kv_json_int(db, KV_POLL_INTERVAL, 1, err,
	    &rc));
	if (hub == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (rc == 0) {
		int64_t b = 0;

		if ((rc = kv_get_int(db, KV_HUB_BLOCKED, 0, &b, err)) == 0)
			(void) json_object_set_new(hub, "blocked",
			    json_boolean(b != 0));
	}
	if (rc == 0 && ((rc = adminq_state_counts(db, now - STATUS_RECENT_S,
	    &states, err)) != 0 ||
	    (rc = adminq_recent_errors(db, now - STATUS_RECENT_S,
	    STATUS_ERRORS, &errors, err)) != 0 ||
	    (rc = adminq_inbox_counts(db, &inbox, err)) != 0 ||
	    (rc = reportq_signers(db, &op, &rec, err)) != 0 ||
	    (rc = reportq_db_bytes(db, &bytes, err)) != 0 ||
	    (rc = db_schema_version(db, &version, err)) != 0))
		goto out;
	if (rc != 0)
		goto out;
	signers = json_pack("{s:I,s:I,s:n}", "operational", (json_int_t)op,
	    "recovery", (json_int_t)rec, "files_differ");
	if (signers == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The files against the live set (needs the configuration). */
	if (cfg != NULL) {
		struct err derr;

		err_init(&derr);
		if (cmd_signers_compare(cfg, db, &diff, &derr) == 0)
			(void) json_object_set_new(signers, "files_differ",
			    json_boolean(!json_is_true(json_object_get(diff,
			    "same"))));
		else
			(void) json_object_set_new(signers, "files_error",
			    json_string(err_msg(&derr)));
	}
	agent = agent_json(db_path(db), now);
	doc = json_pack("{s:o,s:{s:s,s:i,s:i,s:I},s:o,s:{s:o,s:o},s:O,s:I,"
	    "s:O,s:O,s:O}",
	    "agent", agent,
	    "database", "path", db_path(db), "schema", version,
	    "schema_latest", db_schema_latest(), "bytes", (json_int_t)bytes,
	    "hub", hub,
	    "desired", "generation", kv_json_int(db, KV_DESIRED_GENERATION, 0,
	    err, &rc), "applied_generation", kv_json_int(db,
	    DESIRED_KV_APPLIED, 0, err, &rc),
	    "ops", states,
	    "pending_signatures", json_integer_value(json_object_get(states,
	    "pending_signature")),
	    "inbox", inbox,
	    "errors", errors,
	    "signers", signers);
	hub = NULL;
	if (doc == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (rc != 0)
		goto out;
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	json_decref(hub);
	json_decref(states);
	json_decref(errors);
	json_decref(inbox);
	json_decref(signers);
	json_decref(diff);
	return rc;
}

static void
line(const char *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line(const char *k, const char *fmt, ...)
{
	va_list ap;

	printf("%-12s ", k);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *
str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "-";
}

/* An integer member as text into buf; "-" when absent. */
static const char *
num(const json_t *o, const char *k, char *buf, size_t n)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		return "-";
	(void) snprintf(buf, n, "%" JSON_INTEGER_FORMAT,
	    json_integer_value(v));
	return buf;
}

static void
print_agent(const json_t *a)
{
	char pid[32], dur[32];

	if (json_is_true(json_object_get(a, "running")))
		line("agent", "running, pid %s, version %s, up %s (since %s)",
		    num(a, "pid", pid, sizeof(pid)), str(a, "version"),
		    json_is_integer(json_object_get(a, "uptime_s")) ?
		    cmd_duration(json_integer_value(json_object_get(a,
		    "uptime_s")), dur, sizeof(dur)) : "?",
		    str(a, "started_at"));
	else if (json_is_string(json_object_get(a, "error")))
		line("agent", "unknown: %s", str(a, "error"));
	else
		line("agent", "not running");
}

static void
print_human(const json_t *d)
{
	static const char *const hdr[] = { "OP", "VMID", "KIND", "STATE",
	    "ERROR", "AT" };
	static const char *const keys[] = { "op_id", "vmid", "op", "state",
	    "error", "updated_at" };
	const json_t *o, *e;
	const char *k;
	char b1[32], b2[32], b3[32], counts[512];
	size_t n = 0;

	print_agent(json_object_get(d, "agent"));
	o = json_object_get(d, "database");
	line("database", "%s, schema %s (this binary: %s), %s bytes",
	    str(o, "path"), num(o, "schema", b1, sizeof(b1)),
	    num(o, "schema_latest", b2, sizeof(b2)),
	    num(o, "bytes", b3, sizeof(b3)));
	o = json_object_get(d, "hub");
	line("hub", "mode %s%s; last report %s (seq %s); poll %s s",
	    str(o, "mode"), json_is_true(json_object_get(o, "blocked")) ?
	    ", BLOCKED (no mutation until the hub lifts it)" : "",
	    str(o, "last_report_at"), num(o, "report_seq", b1, sizeof(b1)),
	    num(o, "poll_interval_s", b2, sizeof(b2)));
	if (json_is_string(json_object_get(o, "last_error")))
		line("hub error", "%s: %s", str(o, "last_error_at"),
		    str(o, "last_error"));
	o = json_object_get(d, "desired");
	line("desired", "generation %s, applied %s",
	    num(o, "generation", b1, sizeof(b1)),
	    num(o, "applied_generation", b2, sizeof(b2)));
	counts[0] = '\0';
	json_object_foreach((json_t *)(uintptr_t)json_object_get(d, "ops"), k,
	    e)
		if (n < sizeof(counts))
			n += (size_t)snprintf(counts + n, sizeof(counts) - n,
			    "%s%s %" JSON_INTEGER_FORMAT, n > 0 ? ", " : "", k,
			    json_integer_value(e));
	line("ops", "%s", n > 0 ? counts : "none");
	line("pending", "%s waiting for a signature%s",
	    num(d, "pending_signatures", b1, sizeof(b1)),
	    json_integer_value(json_object_get(d, "pending_signatures")) > 0 ?
	    " (felhom-admin pending)" : "");
	line("signed-ops", "%s received, not yet taken in",
	    json_is_integer(json_object_get(json_object_get(d, "inbox"),
	    "new")) ? num(json_object_get(d, "inbox"), "new", b1,
	    sizeof(b1)) : "0");
	o = json_object_get(d, "signers");
	line("signers", "%s operational, %s recovery; files %s",
	    num(o, "operational", b1, sizeof(b1)),
	    num(o, "recovery", b2, sizeof(b2)),
	    json_is_true(json_object_get(o, "files_differ")) ? "DIFFER from "
	    "the live set (felhom-admin signers diff)" :
	    json_is_false(json_object_get(o, "files_differ")) ?
	    "agree with the live set" : json_is_string(json_object_get(o,
	    "files_error")) ? str(o, "files_error") : "not compared (no "
	    "configuration)");
	if (json_array_size(json_object_get(d, "errors")) > 0) {
		printf("\nlast errors:\n");
		(void) cmd_print_rows(json_object_get(d, "errors"), 6, hdr,
		    keys, 4, 70);
	}
}

int
cmd_status(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct config *cfg = NULL;
	struct db *db = NULL;
	struct err err;
	json_t *doc = NULL;
	int ch, ret;

	while ((ch = cmd_getopt(ctx, argc, argv, "h", longopts)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return cmd_done(0);
		}
		return cmd_usage_fail(ctx, usage);
	}
	if (optind != argc)
		return cmd_usage_fail(ctx, usage);
	/* The configuration is optional with --db: hub mode, signer files. */
	if ((ret = cmd_config(ctx, ctx->db_path != NULL, &cfg)) != 0)
		return ret;
	if ((ret = cmd_db_open(ctx, DB_OPEN_READONLY, &db)) != 0)
		return ret;
	err_init(&err);
	if (build(db, cfg, clock_now(clock_system()), &doc, &err) != 0) {
		ret = cmd_fail_err(ctx, &err);
		goto out;
	}
	if (ctx->json) {
		ret = cmd_done(cmd_print_json(doc));
		doc = NULL;
		goto out;
	}
	print_human(doc);
	ret = cmd_done(0);
out:
	json_decref(doc);
	db_close(db);
	return ret;
}
