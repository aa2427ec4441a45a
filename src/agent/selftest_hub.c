/*
 * selftest_hub — one report round trip.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "agent/collect.h"
#include "agent/hubloop.h"
#include "agent/selftest_hub.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "hub/hub.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/db.h"
#include "store/dbstate.h"

/* The shared scheme (base/exitcode.h); any hub failure is 69. */
static int
exit_code(const struct err *err)
{
	if (err->reason > HUB_E_NONE && err->reason < HUB_E__COUNT &&
	    exitcode_of(err->code) != EX_CONFIG)
		return EX_UNAVAILABLE;
	return exitcode_of(err->code);
}

static const char *
yn(int b)
{
	return b ? "true" : "false";
}

static void
print_sent(const struct hubloop_report_info *info)
{
	static const char *const arrays[] = { "guests", "storage", "backups",
	    "restore_tests", "pbs", "ops", "audit", NULL };
	const json_t *r = info->report, *host, *cf, *agent;
	size_t i;

	host = json_object_get(r, "host");
	cf = json_object_get(r, "cloudflared");
	agent = json_object_get(r, "agent");
	printf("built: report seq %" PRId64 ", %zu bytes, schema %s\n",
	    info->seq, info->bytes, json_string_value(json_object_get(r,
	    "schema")));
	printf("  host: node %s, pve %s, kernel %s\n",
	    json_string_value(json_object_get(host, "node")),
	    json_is_string(json_object_get(host, "pve_version")) ?
	    json_string_value(json_object_get(host, "pve_version")) : "?",
	    json_is_string(json_object_get(host, "kernel")) ?
	    json_string_value(json_object_get(host, "kernel")) : "?");
	for (i = 0; arrays[i] != NULL; i++)
		printf("  %s: %zu\n", arrays[i],
		    json_array_size(json_object_get(r, arrays[i])));
	printf("  guests without spec (config unreadable): %zu\n",
	    info->stats.spec_null);
	printf("  storages whose backups were unreadable: %zu\n",
	    info->stats.storages_skipped);
	printf("  cloudflared: installed %s, active %s\n",
	    yn(json_is_true(json_object_get(cf, "installed"))),
	    yn(json_is_true(json_object_get(cf, "active"))));
	printf("  agent: desired_generation %" JSON_INTEGER_FORMAT
	    ", applied_generation %" JSON_INTEGER_FORMAT ", blocked %s\n",
	    json_integer_value(json_object_get(agent, "desired_generation")),
	    json_integer_value(json_object_get(agent, "applied_generation")),
	    yn(json_is_true(json_object_get(agent, "blocked"))));
}

static void
print_envelope(const struct hub_envelope *e)
{
	printf("received: control envelope\n");
	printf("  poll_interval_seconds: %" PRId64 "\n", e->poll_interval_s);
	if (e->has_blocked)
		printf("  blocked: %s\n", yn(e->blocked));
	else
		printf("  blocked: (absent)\n");
	if (e->has_desired_generation)
		printf("  desired_generation: %" PRId64 "\n",
		    e->desired_generation);
	else
		printf("  desired_generation: (absent)\n");
	printf("  has_signed_ops: %s\n", yn(e->has_signed_ops));
	if (e->has_audit_ack_seq)
		printf("  audit_ack_seq: %" PRId64 "\n", e->audit_ack_seq);
	else
		printf("  audit_ack_seq: (absent)\n");
}

int
selftest_hub(const struct config *cfg)
{
	struct hubloop_report_info info;
	struct collect_source src;
	struct hubloop_deps deps;
	struct hub_options ho;
	struct hub_client *hub = NULL;
	struct pve_client *pve = NULL;
	struct hubloop *hl = NULL;
	struct db *db = NULL;
	struct err err;
	int rc, status, created = 0;

	err_init(&err);
	memset(&info, 0, sizeof(info));
	printf("hub self-test: %s\n", cfg->hub_on ? cfg->hub_url :
	    "(hub.mode off)");
	if (!cfg->hub_on) {
		rc = err_set(&err, ERR_CONFIG, "hub.mode is \"off\": there is "
		    "no hub to report to");
		goto out;
	}
	memset(&ho, 0, sizeof(ho));
	ho.url = cfg->hub_url;
	ho.token = cfg->hub_token;
	ho.ca_file = cfg->hub_ca_file;
	if (cfg->pve_insecure)
		log_warn("pve.insecure is on: the PVE certificate is NOT "
		    "verified");
	if ((rc = https_global_init(&err)) != 0 ||
	    /* never a new database where one existed. */
	    (rc = dbstate_ensure(cfg->database, NULL, clock_now(NULL),
	    &created, &err)) != 0 ||
	    (rc = db_open(cfg->database, DB_OPEN_MIGRATE, &db, &err)) != 0 ||
	    (rc = pve_client_from_config(cfg, NULL, &pve, &err)) != 0 ||
	    (rc = hub_client_new(&ho, &hub, &err)) != 0)
		goto out;
	memset(&src, 0, sizeof(src));
	src.cfg = cfg;
	src.pve = pve;
	src.db = db;
	src.started_mono_ms = clock_mono_ms(NULL);
	memset(&deps, 0, sizeof(deps));
	deps.cfg = cfg;
	deps.db = db;
	deps.hub = hub;
	deps.collect = &src;
	if ((rc = hubloop_new(&deps, &hl, &err)) != 0)
		goto out;
	rc = hubloop_report_once(hl, &info, &err);
	if (info.report != NULL && info.bytes > 0)
		print_sent(&info);
	/* Never claim what the hub did not take. */
	if (rc != 0 && info.bytes > 0) {
		if (info.delivery == HUB_DELIVERY_TAKEN)
			printf("sent: POST /report, seq %" PRId64 ": the hub "
			    "took it, but its answer was not usable\n",
			    info.seq);
		else if (info.delivery == HUB_DELIVERY_UNKNOWN)
			printf("not confirmed: POST /report, seq %" PRId64
			    ": the answer was lost; the hub may have it (seq "
			    "%" PRId64 " is not used again)\n", info.seq,
			    info.seq);
		else
			printf("not sent: POST /report did not reach the hub "
			    "or was refused; seq %" PRId64 " %s\n", info.seq,
			    info.seq_returned ? "given back" :
			    "skipped (a newer one was taken meanwhile)");
	}
	if (rc != 0)
		goto out;
	printf("sent: POST /report, seq %" PRId64 ", %zu bytes\n", info.seq,
	    info.bytes);
	print_envelope(&info.env);
out:
	if (rc != 0) {
		char http[32] = "";

		if (err.status != 0)
			(void) snprintf(http, sizeof(http), ", HTTP %ld",
			    err.status);
		fprintf(stderr, "hub self-test FAILED (%s%s): %s\n",
		    err.reason != 0 ? hub_error_name(err.reason) :
		    err_name(err.code), http, err_msg(&err));
		status = exit_code(&err);
	} else {
		printf("hub self-test: OK\n");
		status = 0;
	}
	json_decref(info.report);
	hubloop_free(hl);
	hub_client_free(hub);
	pve_client_free(pve);
	db_close(db);
	return status;
}
