/*
 * test_hubloop — the report loop: the timer math with
 * a fake clock and fixed randomness, then cycles against hub-sim and
 * pve-sim with faults, Retry-After, blocked, the audit ack cursor, the
 * desired state (hub and desired_file), signed-ops, crash points, abort,
 * and the token never reaching a log line or an error.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "agent/hubloop.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "hubtest.h"
#include "net/https.h"
#include "store/audit.h"
#include "store/desired.h"
#include "store/inbox.h"
#include "store/kv.h"
#include "store/lastrep.h"
#include "testutil.h"

/* ---- seams ------------------------------------------------------------ */

struct fake_clock {
	int64_t	now_s;
	int64_t	mono_ms;
};

static int64_t
fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now_s;
}

static int64_t
fake_mono(void *ctx)
{
	return ((struct fake_clock *)ctx)->mono_ms;
}

static struct fake_clock fc = { 1764331200, 1000000 };
static const struct clock fake = { fake_now, fake_mono, &fc };

static uint64_t rval;

static uint64_t
fixed_rand(void *ctx)
{
	(void) ctx;
	return rval;
}

static const struct hubloop_rand frand = { fixed_rand, NULL };

static struct hubloop_params P;

static void
params(void)
{
	hubloop_params_default(&P);
	/* Test builds may shorten these through the environment: not here. */
	P.min_interval_ms = 60000;
	P.backoff_base_ms = 5000;
	P.retry_floor_ms = 1000;
	P.debounce_ms = 10000;
	P.file_check_ms = 5000;
	/*
	 * A seq reserved (committed) per report, as the seq tests below
	 * count it; the blocks of the default are tested on their own.
	 */
	P.seq_block = 1;
}

/* ---- timer math ------------------------------------------------------ */

START_TEST(interval_is_clamped_to_60_3600)
{
	params();
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, 30), 60000);
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, 0), 60000);
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, -5), 60000);
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, 300), 300000);
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, 7200), 3600000);
	ck_assert_int_eq(hubloop_clamp_interval_ms(&P, INT64_MAX), 3600000);
}
END_TEST

START_TEST(regular_delay_has_small_jitter_within_bounds)
{
	static const int64_t iv[] = { 60000, 300000, 3600000 };
	uint64_t r;
	int64_t d;
	size_t i;

	params();
	for (i = 0; i < 3; i++)
		for (r = 0; r < 200000; r += 997) {
			d = hubloop_delay_ms(&P, HUBLOOP_OK, iv[i], 0, -1,
			    r * 0x9e3779b97f4a7c15ULL);
			ck_assert_int_ge(d, iv[i] * 9 / 10);
			ck_assert_int_le(d, iv[i] * 11 / 10);
			ck_assert_int_ge(d, 60000);
			ck_assert_int_le(d, 3600000);
		}
	/* Both ends are reachable. */
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_OK, 300000, 0, -1, 0),
	    270000);
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_OK, 300000, 0, -1,
	    60000), 330000);
}
END_TEST

START_TEST(backoff_doubles_from_5s_up_to_the_interval)
{
	static const int64_t caps[] = { 5000, 10000, 20000, 40000, 80000,
	    160000, 300000, 300000, 300000 };
	int f;

	params();
	for (f = 1; f <= 9; f++) {
		/* r == cap: r % (cap + 1) is the cap itself. */
		ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_FAILED, 300000, f,
		    -1, (uint64_t)caps[f - 1]), caps[f - 1]);
		/* Full jitter: the low end reaches the floor. */
		ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_FAILED, 300000, f,
		    -1, 0), 1000);
	}
	/* The cap never exceeds a short interval either. */
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_FAILED, 60000, 30, -1,
	    60000), 60000);
}
END_TEST

START_TEST(backoff_full_jitter_spans_the_capped_range)
{
	uint64_t s = 12345;
	int64_t d, lo = INT64_MAX, hi = 0;
	int i;

	params();
	for (i = 0; i < 5000; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		d = hubloop_delay_ms(&P, HUBLOOP_FAILED, 300000, 12, -1, s);
		ck_assert_int_ge(d, 1000);
		ck_assert_int_le(d, 300000);
		if (d < lo)
			lo = d;
		if (d > hi)
			hi = d;
	}
	ck_assert_int_lt(lo, 30000);
	ck_assert_int_gt(hi, 270000);
}
END_TEST

START_TEST(retry_after_is_honoured_and_capped)
{
	params();
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_RETRY_AFTER, 300000, 0,
	    7, 999), 7000);
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_RETRY_AFTER, 300000, 0,
	    9000, 999), 3600000);
	ck_assert_int_eq(hubloop_delay_ms(&P, HUBLOOP_RETRY_AFTER, 300000, 0,
	    0, 999), 1000);
}
END_TEST

START_TEST(auth_failure_waits_the_maximum_interval)
{
	uint64_t r;
	int64_t d;

	params();
	for (r = 0; r < 1000000; r += 7919) {
		d = hubloop_delay_ms(&P, HUBLOOP_AUTH, 60000, 0, -1, r);
		ck_assert_int_ge(d, 3240000);
		ck_assert_int_le(d, 3600000);
	}
}
END_TEST

START_TEST(outcome_follows_the_hub_reason)
{
	struct err e;

	err_init(&e);
	e.reason = HUB_E_AUTH;
	ck_assert_int_eq(hubloop_outcome_of(&e), HUBLOOP_AUTH);
	e.reason = HUB_E_RETRY_AFTER;
	ck_assert_int_eq(hubloop_outcome_of(&e), HUBLOOP_RETRY_AFTER);
	e.reason = HUB_E_TRANSPORT;
	ck_assert_int_eq(hubloop_outcome_of(&e), HUBLOOP_FAILED);
	e.reason = HUB_E_PROTOCOL;
	ck_assert_int_eq(hubloop_outcome_of(&e), HUBLOOP_FAILED);
	e.reason = 0;
	ck_assert_int_eq(hubloop_outcome_of(&e), HUBLOOP_FAILED);
}
END_TEST

/* ---- cycles against the simulators ----------------------------------- */

static struct ht_env env;
static struct hubloop *hl;
static char errlog[65536];

static void
note(const struct err *err)
{
	size_t n = strlen(errlog);

	(void) snprintf(errlog + n, sizeof(errlog) - n, "%s\n", err->msg);
}

/*
 * The simulators, started once for the three groups of cases (every
 * case resets both worlds in open_common); main() stops them.
 */
static void
sims_up(void)
{
	if (env.hub.pid == 0)
		ht_sims_start(&env, NULL);
}

static void
new_loop(void)
{
	struct hubloop_deps d;
	struct err err;

	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = env.hubc;
	d.collect = &env.src;
	d.clock = &fake;
	d.rand = &frand;
	d.params = &P;
	err_init(&err);
	ck_assert_msg(hubloop_new(&d, &hl, &err) == 0, "%s", err.msg);
}

static void
open_common(int hub_on)
{
	ck_assert_int_eq(tu_sim_call(&env.hub, "POST", "/_sim/reset",
	    "{\"all\":true}", NULL), 200);
	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/reset", "{}",
	    NULL), 200);
	params();
	rval = 30000;	/* regular delay: interval - 10% + 30 s */
	errlog[0] = '\0';
	ht_open(&env, hub_on);
	env.src.clock = &fake;
	new_loop();
}

static void
open_on(void)
{
	open_common(1);
}

static void
open_off(void)
{
	open_common(0);
}

static void
close_env(void)
{
	const char *tok = tu_sim_str(&env.hub, "token");

	ck_assert_msg(strstr(errlog, tok) == NULL, "token in an error");
	hubloop_free(hl);
	hl = NULL;
	ht_close(&env);
}

static int
cycle(struct err *err)
{
	int rc;

	err_init(err);
	rc = hubloop_cycle(hl, err);
	if (rc != 0)
		note(err);
	return rc;
}

static void
cycle_ok(void)
{
	struct err err;

	ck_assert_msg(cycle(&err) == 0, "cycle: %s", err.msg);
}

static void
sim(const char *method, const char *path, const char *body)
{
	long st = tu_sim_call(&env.hub, method, path, body, NULL);

	ck_assert_msg(st == 200, "%s %s: %ld", method, path, st);
}

static json_t *
reports(void)
{
	json_t *r = tu_sim_json(&env.hub, "GET", "/_sim/reports", NULL);

	ck_assert_ptr_nonnull(r);
	return r;
}

static int64_t
kvi(const char *key)
{
	int64_t v = -1;

	ck_assert_int_eq(kv_get_int(env.db, key, -1, &v, NULL), 0);
	return v;
}

/* Requests to path in the hub-sim log. */
static size_t
requests_to(const char *path, json_t **last)
{
	json_t *reqs = tu_sim_json(&env.hub, "GET", "/_sim/requests", NULL), *r;
	size_t i, n = 0;

	json_array_foreach(reqs, i, r) {
		const char *p = json_string_value(json_object_get(r, "path"));

		if (p != NULL && strstr(p, path) != NULL) {
			n++;
			if (last != NULL) {
				json_decref(*last);
				*last = json_incref(r);
			}
		}
	}
	json_decref(reqs);
	return n;
}

START_TEST(reports_at_once_then_every_interval)
{
	json_t *r;
	int64_t due;

	ck_assert_int_eq(hubloop_next_due_ms(hl), fc.mono_ms);
	cycle_ok();
	due = hubloop_next_due_ms(hl) - fc.mono_ms;
	/* hub-sim's envelope: 300 s, jitter ±10 %. */
	ck_assert_int_eq(due, 270000 + 30000);
	ck_assert_int_eq(hubloop_status(hl)->interval_ms, 300000);
	ck_assert_int_eq(kvi(KV_POLL_INTERVAL), 300);
	fc.mono_ms += due;
	cycle_ok();
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r,
	    0), "seq")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r,
	    1), "seq")), 2);
	ck_assert_int_eq(hubloop_status(hl)->reports_ok, 2);
	json_decref(r);
}
END_TEST

START_TEST(seq_strictly_increases_across_restarts)
{
	json_t *r;
	size_t i;

	cycle_ok();
	cycle_ok();
	hubloop_free(hl);
	new_loop();
	cycle_ok();
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(
		    json_array_get(r, i), "seq")), (json_int_t)i + 1);
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 3);
	json_decref(r);
}
END_TEST

static const struct {
	const char	*fault;
	int		 reason;
	int64_t		 lo, hi;	/* next due, ms after now */
} loop_faults[] = {
	{ "{\"kind\":\"status\",\"status\":500}", HUB_E_HTTP, 1000, 5000 },
	{ "{\"kind\":\"503\"}", HUB_E_HTTP, 1000, 5000 },
	{ "{\"kind\":\"status\",\"status\":400}", HUB_E_HTTP, 1000, 5000 },
	{ "{\"kind\":\"drop\"}", HUB_E_TRANSPORT, 1000, 5000 },
	{ "{\"kind\":\"slow\",\"delay_ms\":7000}", HUB_E_TRANSPORT, 1000,
	    5000 },
	{ "{\"kind\":\"invalid_json\"}", HUB_E_PROTOCOL, 1000, 5000 },
	{ "{\"kind\":\"wrong_content_type\"}", HUB_E_PROTOCOL, 1000, 5000 },
	{ "{\"kind\":\"oversize\"}", HUB_E_PROTOCOL, 1000, 5000 },
	{ "{\"kind\":\"wrong_schema\"}", HUB_E_PROTOCOL, 1000, 5000 },
	{ "{\"kind\":\"429\",\"retry_after\":7}", HUB_E_RETRY_AFTER, 7000,
	    7000 },
	{ "{\"kind\":\"503\",\"retry_after\":99999}", HUB_E_RETRY_AFTER,
	    3600000, 3600000 },
	{ "{\"kind\":\"401\"}", HUB_E_AUTH, 3240000, 3600000 },
	{ "{\"kind\":\"403\"}", HUB_E_AUTH, 3240000, 3600000 },
};

START_TEST(each_fault_is_typed_scheduled_and_survived)
{
	struct err err;
	int64_t due;

	sim("POST", "/_sim/fault", loop_faults[_i].fault);
	ck_assert_int_ne(cycle(&err), 0);
	ck_assert_msg(err.reason == loop_faults[_i].reason, "%s: %s (%s)",
	    loop_faults[_i].fault, hub_error_name(err.reason), err.msg);
	due = hubloop_next_due_ms(hl) - fc.mono_ms;
	ck_assert_msg(due >= loop_faults[_i].lo && due <= loop_faults[_i].hi,
	    "%s: due in %lld ms", loop_faults[_i].fault, (long long)due);
	ck_assert_int_eq(hubloop_status(hl)->reports_failed, 1);
	ck_assert_int_eq(hubloop_status(hl)->last_reason,
	    loop_faults[_i].reason);
	/* The agent keeps going: the next cycle succeeds. */
	fc.mono_ms += due;
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->failures, 0);
	ck_assert_int_eq(hubloop_status(hl)->reports_ok, 1);
}
END_TEST

START_TEST(backoff_doubles_over_consecutive_failures)
{
	static const int64_t caps[] = { 5000, 10000, 20000, 40000, 80000,
	    160000, 300000 };
	struct err err;
	int i;

	/* Learn the interval (300 s) first. */
	cycle_ok();
	sim("POST", "/_sim/fault", "{\"kind\":\"status\",\"status\":502,"
	    "\"count\":7}");
	for (i = 0; i < 7; i++) {
		rval = (uint64_t)caps[i];
		fc.mono_ms = hubloop_next_due_ms(hl);
		ck_assert_int_eq(cycle(&err), ERR_HTTP);
		ck_assert_int_eq(hubloop_status(hl)->failures, i + 1);
		ck_assert_int_eq(hubloop_next_due_ms(hl) - fc.mono_ms, caps[i]);
	}
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->failures, 0);
}
END_TEST

static json_t *
health_of(const json_t *report)
{
	return json_object_get(json_object_get(report, "agent"), "health");
}

/*
 * hub-contract v1.1: the node status unreadable still sends a report —
 * minimal, with the golden key set, marked degraded with its cause —
 * and the full report is tried again on the failure backoff.
 */
START_TEST(collection_failure_sends_a_degraded_report_and_backs_off)
{
	json_t *r, *rep, *h, *golden = ht_golden();
	char diffs[4096];
	struct err err;

	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/nodes/[^/]+/status$\",\"status\":500,"
	    "\"count\":2}", NULL), 200);
	ck_assert_int_ne(cycle(&err), 0);
	ck_assert_int_eq(err.code, ERR_HTTP);
	ck_assert_int_eq(hubloop_status(hl)->collect_failed, 1);
	ck_assert_int_eq(hubloop_status(hl)->reports_degraded, 1);
	ck_assert_str_eq(hubloop_status(hl)->health_cause, "pve_unreachable");
	ck_assert_int_eq(hubloop_last_failure(hl, NULL),
	    HUBLOOP_PHASE_COLLECT);
	ck_assert_int_le(hubloop_next_due_ms(hl) - fc.mono_ms, 5000);
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 1);
	rep = json_array_get(r, 0);
	ck_assert_msg(ht_keyset_diff(golden, rep, diffs, sizeof(diffs)) == 0,
	    "%s", diffs);
	ck_assert(json_is_null(json_object_get(rep, "host")));
	ck_assert_uint_eq(json_array_size(json_object_get(rep, "guests")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "seq")), 1);
	h = health_of(rep);
	ck_assert_str_eq(json_string_value(json_object_get(h, "state")),
	    "degraded");
	ck_assert_str_eq(json_string_value(json_object_get(h, "cause")),
	    "pve_unreachable");
	ck_assert_str_eq(json_string_value(json_object_get(h, "since")),
	    "2025-11-28T12:00:00Z");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(h,
	    "message")), "node status"));
	json_decref(r);
	/* Still down a minute later: the same cause, since kept. */
	fc.now_s += 60;
	fc.mono_ms = hubloop_next_due_ms(hl);
	ck_assert_int_ne(cycle(&err), 0);
	r = reports();
	h = health_of(json_array_get(r, 1));
	ck_assert_str_eq(json_string_value(json_object_get(h, "since")),
	    "2025-11-28T12:00:00Z");
	json_decref(r);
	/* PVE back: a full report, healthy. */
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	r = reports();
	rep = json_array_get(r, 2);
	ck_assert(json_is_object(json_object_get(rep, "host")));
	ck_assert_int_eq(json_integer_value(json_object_get(rep, "seq")), 3);
	h = health_of(rep);
	ck_assert_str_eq(json_string_value(json_object_get(h, "state")), "ok");
	ck_assert(json_is_null(json_object_get(h, "cause")));
	ck_assert(json_is_null(json_object_get(h, "since")));
	ck_assert_msg(ht_keyset_diff(golden, rep, diffs, sizeof(diffs)) == 0,
	    "%s", diffs);
	ck_assert_str_eq(hubloop_status(hl)->health_cause, "");
	json_decref(r);
	json_decref(golden);
}
END_TEST

/*
 * The database cannot commit: the report goes out anyway with a seq kept
 * in memory, marked db_readonly; the next committed seq jumps past it.
 */
START_TEST(database_that_cannot_commit_keeps_the_seq_in_memory)
{
	json_t *r, *h;
	struct err err;
	size_t i;

	cycle_ok();
	cycle_ok();
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 2);
	/* SQLite refuses every write on this connection (SQLITE_READONLY). */
	ck_assert_int_eq(db_exec(env.db, "PRAGMA query_only=1", "test", NULL),
	    0);
	for (i = 0; i < 2; i++) {
		fc.mono_ms = hubloop_next_due_ms(hl);
		ck_assert_int_eq(cycle(&err), ERR_READONLY);
	}
	ck_assert_int_eq(hubloop_status(hl)->reports_degraded, 2);
	ck_assert_int_eq(hubloop_status(hl)->last_seq, 4);
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 2);
	ck_assert_int_eq(db_exec(env.db, "PRAGMA query_only=0", "test", NULL),
	    0);
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 5);
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 5);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(
		    json_array_get(r, i), "seq")), (json_int_t)i + 1);
	h = health_of(json_array_get(r, 2));
	ck_assert_str_eq(json_string_value(json_object_get(h, "state")),
	    "degraded");
	ck_assert_str_eq(json_string_value(json_object_get(h, "cause")),
	    "db_readonly");
	/* Not minimal: PVE answered, only the database failed. */
	ck_assert(json_is_object(json_object_get(json_array_get(r, 2),
	    "host")));
	h = health_of(json_array_get(r, 4));
	ck_assert_str_eq(json_string_value(json_object_get(h, "state")), "ok");
	json_decref(r);
	/* A restart numbers on from the committed value. */
	hubloop_free(hl);
	new_loop();
	cycle_ok();
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 6);
}
END_TEST

/*
 * The certificate PVE presents is not the pinned one: degraded, cause
 * pve_tls, with the mismatch in the message.
 */
START_TEST(a_changed_pve_certificate_is_reported_as_pve_tls)
{
	struct collect_source src = env.src;
	struct pve_client *pc = NULL;
	struct config *cfg;
	struct hubloop_deps d;
	struct hubloop *h = NULL;
	static char *const noenv[] = { NULL };
	char *text, *p;
	const char *fp;
	json_t *r, *hh;
	struct err err;

	/* The same config, but pinned to another certificate. */
	text = ht_config_text(&env, 1);
	fp = tu_sim_str(&env.pve, "fingerprint");
	ck_assert_ptr_nonnull(p = strstr(text, fp));
	*p = *p == 'A' ? 'B' : 'A';
	err_init(&err);
	ck_assert_msg(config_load_text(text, "test config", noenv, &cfg,
	    &err) == 0, "%s", err.msg);
	free(text);
	ck_assert_int_eq(pve_client_from_config(cfg, NULL, &pc, NULL), 0);
	src.pve = pc;
	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = env.hubc;
	d.collect = &src;
	d.clock = &fake;
	d.rand = &frand;
	d.params = &P;
	ck_assert_int_eq(hubloop_new(&d, &h, NULL), 0);
	err_init(&err);
	ck_assert_int_eq(hubloop_cycle(h, &err), ERR_TLS);
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 1);
	hh = health_of(json_array_get(r, 0));
	ck_assert_str_eq(json_string_value(json_object_get(hh, "cause")),
	    "pve_tls");
	json_decref(r);
	hubloop_free(h);
	pve_client_free(pc);
	config_free(cfg);
}
END_TEST

/*
 * PVE refusing the token leaves no report to send: PVE's failure, logged
 * and kept as such, retried on the failure backoff — never the hub's
 * one-hour auth wait (the reasons share numbers across modules).
 */
START_TEST(a_pve_auth_failure_is_pves_and_does_not_slow_reporting)
{
	const struct err *last;
	struct err err;
	char *text = NULL;

	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/nodes/[^/]+/status$\",\"status\":401}", NULL),
	    200);
	ck_assert_int_ne(cycle(&err), 0);
	ck_assert_int_eq(err.code, ERR_AUTH);
	ck_assert_int_le(hubloop_next_due_ms(hl) - fc.mono_ms, 5000);
	ck_assert_int_eq(hubloop_status(hl)->last_reason, HUB_E_NONE);
	ck_assert_int_eq(hubloop_last_failure(hl, &last),
	    HUBLOOP_PHASE_COLLECT);
	ck_assert_int_eq(last->code, ERR_AUTH);
	ck_assert_int_eq(kv_get(env.db, KV_HUB_LAST_ERROR, &text, NULL), 0);
	ck_assert_msg(strncmp(text, "collect: ", 9) == 0 && strstr(text,
	    "rejected") != NULL, "%s", text);
	free(text);
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	ck_assert_int_eq(hubloop_last_failure(hl, NULL), HUBLOOP_PHASE_NONE);
}
END_TEST

/*
 * The last report the hub took is kept as sent, with its envelope; a
 * report the hub refused takes no seq and leaves its failure behind.
 */
START_TEST(the_last_report_taken_and_the_last_failure_are_kept)
{
	struct lastrep lr;
	json_t *r;
	char *text = NULL;
	struct err err;

	cycle_ok();
	ck_assert_int_eq(lastrep_read(db_path(env.db), &lr, NULL), 0);
	r = reports();
	ck_assert(json_equal(lr.report, json_array_get(r, 0)));
	json_decref(r);
	ck_assert_int_eq(json_integer_value(json_object_get(lr.envelope,
	    "poll_interval_seconds")), 300);
	ck_assert_int_eq(lr.sent_at, fc.now_s);
	ck_assert_int_eq(lr.seq, 1);
	lastrep_reset(&lr);
	sim("POST", "/_sim/fault", "{\"kind\":\"status\",\"status\":500}");
	ck_assert_int_ne(cycle(&err), 0);
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 1);
	ck_assert_int_eq(kv_get(env.db, KV_HUB_LAST_ERROR, &text, NULL), 0);
	ck_assert_msg(strncmp(text, "report: ", 8) == 0, "%s", text);
	free(text);
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r,
	    1), "seq")), 2);
	json_decref(r);
}
END_TEST

START_TEST(poll_interval_from_envelope_is_clamped)
{
	sim("POST", "/_sim/envelope", "{\"poll_interval_seconds\":7200}");
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->interval_ms, 3600000);
	ck_assert_int_le(hubloop_next_due_ms(hl) - fc.mono_ms, 3600000);
	sim("POST", "/_sim/envelope", "{\"poll_interval_seconds\":30}");
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->interval_ms, 60000);
	ck_assert_int_ge(hubloop_next_due_ms(hl) - fc.mono_ms, 60000);
	ck_assert_int_eq(kvi(KV_POLL_INTERVAL), 60);
}
END_TEST

START_TEST(blocked_is_persisted_exposed_and_reporting_goes_on)
{
	json_t *r;

	ck_assert_int_eq(hubloop_blocked(hl), 0);
	sim("POST", "/_sim/envelope", "{\"blocked\":true}");
	cycle_ok();
	ck_assert_int_eq(hubloop_blocked(hl), 1);
	ck_assert_int_eq(kvi(KV_HUB_BLOCKED), 1);
	/* A restart knows it before talking to the hub. */
	hubloop_free(hl);
	new_loop();
	ck_assert_int_eq(hubloop_blocked(hl), 1);
	cycle_ok();
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 2);
	ck_assert(json_is_true(json_object_get(json_object_get(json_array_get(
	    r, 1), "agent"), "blocked")));
	json_decref(r);
	/* An envelope without the key keeps it; false lifts it. */
	sim("POST", "/_sim/envelope", "{\"blocked\":null}");
	cycle_ok();
	ck_assert_int_eq(hubloop_blocked(hl), 1);
	sim("POST", "/_sim/envelope", "{\"blocked\":false}");
	cycle_ok();
	ck_assert_int_eq(hubloop_blocked(hl), 0);
	ck_assert_int_eq(kvi(KV_HUB_BLOCKED), 0);
}
END_TEST

static void
add_audit(int n)
{
	struct audit_event ev;
	int i;

	memset(&ev, 0, sizeof(ev));
	ev.at = fc.now_s;
	ev.event = "gate";
	ev.decision = "authorized";
	ev.code = "accepted";
	for (i = 0; i < n; i++)
		ck_assert_int_eq(audit_append(env.db, &ev, NULL, NULL), 0);
}

/* The audit seqs of report i, as "1,2,3". */
static void
audit_seqs(size_t i, char *out, size_t n)
{
	json_t *r = reports(), *a, *e;
	size_t k;

	out[0] = '\0';
	a = json_object_get(json_array_get(r, i), "audit");
	json_array_foreach(a, k, e) {
		size_t len = strlen(out);

		(void) snprintf(out + len, n - len, "%s%lld", k > 0 ? "," : "",
		    (long long)json_integer_value(json_object_get(e, "seq")));
	}
	json_decref(r);
}

START_TEST(audit_ack_cursor_no_event_sent_twice)
{
	char s[256];

	add_audit(3);
	cycle_ok();
	audit_seqs(0, s, sizeof(s));
	ck_assert_str_eq(s, "1,2,3");
	ck_assert_int_eq(kvi(KV_AUDIT_ACK_SEQ), 3);
	add_audit(2);
	cycle_ok();
	audit_seqs(1, s, sizeof(s));
	ck_assert_str_eq(s, "4,5");
	cycle_ok();
	audit_seqs(2, s, sizeof(s));
	ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(audit_unacked_events_are_sent_again_after_restart)
{
	char s[256];

	sim("POST", "/_sim/envelope", "{\"audit_ack_seq\":null}");
	add_audit(3);
	cycle_ok();
	hubloop_free(hl);
	new_loop();
	cycle_ok();
	audit_seqs(1, s, sizeof(s));
	ck_assert_str_eq(s, "1,2,3");
	/* An ack beyond what was sent stops at what was sent. */
	sim("POST", "/_sim/envelope", "{\"audit_ack_seq\":1000}");
	cycle_ok();
	ck_assert_int_eq(kvi(KV_AUDIT_ACK_SEQ), 3);
	add_audit(1);
	cycle_ok();
	audit_seqs(3, s, sizeof(s));
	ck_assert_str_eq(s, "4");
}
END_TEST

static void
post_desired_fixture(void)
{
	char *doc = tu_read_file(tu_fixture("hub/desired.json"), NULL);

	ck_assert_ptr_nonnull(doc);
	sim("POST", "/_sim/desired", doc);
	free(doc);
}

static int64_t
stored_generation(size_t *nguests)
{
	struct desired_set *set = NULL;
	int64_t g;

	ck_assert_int_eq(desired_load(env.db, &set, NULL), 0);
	g = set->generation;
	if (nguests != NULL)
		*nguests = set->nguests;
	desired_set_free(set);
	return g;
}

START_TEST(desired_is_fetched_validated_and_stored)
{
	char *etag = NULL;
	size_t n;

	post_desired_fixture();
	cycle_ok();
	ck_assert_int_eq(stored_generation(&n), 12);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(kv_get(env.db, KV_DESIRED_ETAG, &etag, NULL), 0);
	ck_assert_uint_gt(strlen(etag), 0);
	ck_assert_int_eq(hubloop_status(hl)->desired_stored, 1);
	/* Same generation announced: no fetch. */
	cycle_ok();
	ck_assert_uint_eq(requests_to("/desired", NULL), 1);
	free(etag);
}
END_TEST

START_TEST(desired_if_none_match_gives_304_unchanged)
{
	json_t *last = NULL;
	char *etag = NULL;

	post_desired_fixture();
	cycle_ok();
	ck_assert_int_eq(kv_get(env.db, KV_DESIRED_ETAG, &etag, NULL), 0);
	sim("POST", "/_sim/envelope", "{\"desired_generation\":13}");
	cycle_ok();
	ck_assert_uint_eq(requests_to("/desired", &last), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(last, "status")),
	    304);
	ck_assert_str_eq(json_string_value(json_object_get(last,
	    "if_none_match")), etag);
	ck_assert_int_eq(hubloop_status(hl)->desired_unchanged, 1);
	ck_assert_int_eq(stored_generation(NULL), 12);
	json_decref(last);
	free(etag);
}
END_TEST

START_TEST(desired_for_another_host_is_rejected_nothing_stored)
{
	size_t n;

	post_desired_fixture();
	sim("POST", "/_sim/fault", "{\"endpoint\":\"desired\","
	    "\"kind\":\"other_host\"}");
	cycle_ok();	/* the report itself went through */
	ck_assert_int_eq(hubloop_status(hl)->desired_rejected, 1);
	ck_assert_int_eq(stored_generation(&n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(kvi(KV_DESIRED_ETAG), -1);
	cycle_ok();
	ck_assert_int_eq(stored_generation(&n), 12);
}
END_TEST

START_TEST(desired_older_generation_is_rejected)
{
	char *doc;

	post_desired_fixture();
	cycle_ok();
	doc = tu_read_file(tu_fixture("hub/desired.json"), NULL);
	/* A generation 13 document, answered as generation 11. */
	memcpy(strstr(doc, "\"generation\":12"), "\"generation\":13", 15);
	sim("POST", "/_sim/desired", doc);
	sim("POST", "/_sim/fault", "{\"endpoint\":\"desired\","
	    "\"kind\":\"old_generation\",\"generation\":11}");
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->desired_rejected, 1);
	ck_assert_int_eq(stored_generation(NULL), 12);
	cycle_ok();
	ck_assert_int_eq(stored_generation(NULL), 13);
	free(doc);
}
END_TEST

START_TEST(signed_ops_are_stored_as_received)
{
	char *doc = tu_read_file(tu_fixture("hub/signed-ops.json"),
	    NULL);
	int64_t n = -1, seq = 0;

	sim("POST", "/_sim/signed-ops", doc);
	sim("POST", "/_sim/signed-ops", "{\"raw\":true,\"op_id\":null,"
	    "\"blob_b64\":\"%%%\",\"signature\":null}");
	cycle_ok();
	ck_assert_int_eq(inbox_count(env.db, INBOX_NEW, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(inbox_count(env.db, INBOX_REJECTED, &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(audit_last_seq(env.db, &seq, NULL), 0);
	ck_assert_int_eq(seq, 1);	/* the bad entry, audited */
	/* Delivered once: nothing more next time. */
	cycle_ok();
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 3);
	free(doc);
}
END_TEST

START_TEST(poke_reports_early_debounced)
{
	struct err err;
	int64_t t0 = fc.mono_ms;

	cycle_ok();
	fc.mono_ms += 1000;
	hubloop_poke(hl);
	ck_assert_int_eq(hubloop_next_due_ms(hl), t0 + 10000);
	fc.mono_ms = t0 + 10000;
	cycle_ok();
	fc.mono_ms += 20000;
	hubloop_poke(hl);	/* last report 20 s ago: at once */
	ck_assert_int_eq(hubloop_next_due_ms(hl), fc.mono_ms);
	/* After a Retry-After the poke cannot bring it forward. */
	sim("POST", "/_sim/fault", "{\"kind\":\"429\",\"retry_after\":60}");
	ck_assert_int_ne(cycle(&err), 0);
	hubloop_poke(hl);
	ck_assert_int_eq(hubloop_next_due_ms(hl), fc.mono_ms + 60000);
}
END_TEST

/*
 * Issue 17: an op that ends while a report is being built (the cycle in
 * progress, not blocking) still brings the next report forward once
 * that cycle ended — the report in flight may have missed it.
 */
START_TEST(poke_during_a_cycle_in_progress_counts_after_it)
{
	struct https_multi *m = pve_client_multi(env.pvec);
	struct https_multi *hm = hub_client_multi(env.hubc);
	struct err err;
	int64_t t0;
	int rc = -1, ended = 0, i;

	cycle_ok();
	fc.mono_ms += 30000;
	t0 = fc.mono_ms;
	err_init(&err);
	/* Started, not ended: its PVE reads are in flight. */
	ck_assert_int_eq(hubloop_tick(hl, 1, &rc, &err), HUBLOOP_RUNNING);
	ck_assert_int_eq(hubloop_busy(hl), 1);
	hubloop_poke(hl);
	for (i = 0; i < 600 && !ended; i++) {
		err_init(&err);
		(void) https_multi_run(m, 50, &err);
		(void) https_multi_run(hm, 50, &err);
		ended = hubloop_tick(hl, 0, &rc, &err) == HUBLOOP_ENDED;
	}
	ck_assert_int_eq(ended, 1);
	ck_assert_int_eq(rc, 0);
	/* Debounced from the start of the cycle, not the interval. */
	ck_assert_int_eq(hubloop_next_due_ms(hl), t0 + 10000);
}
END_TEST

static void
write_desired(const char *text)
{
	char tmp[600];

	/* A new inode each time, as an editor or a config tool would. */
	(void) snprintf(tmp, sizeof(tmp), "%s.tmp", env.desired_file);
	ck_assert_int_eq(tu_write_file(tmp, text, strlen(text), 0600), 0);
	ck_assert_int_eq(rename(tmp, env.desired_file), 0);
}

START_TEST(desired_file_mode_reads_and_rereads_on_change)
{
	char *doc = tu_read_file(tu_fixture("hub/desired.json"), NULL);
	struct err err;
	size_t n;

	/* No file yet: checked again later, nothing stored. */
	cycle_ok();
	ck_assert_int_eq(hubloop_next_due_ms(hl) - fc.mono_ms, 5000);
	write_desired(doc);
	cycle_ok();
	ck_assert_int_eq(stored_generation(&n), 12);
	ck_assert_uint_eq(n, 5);
	cycle_ok();
	ck_assert_int_eq(hubloop_status(hl)->desired_unchanged, 1);
	memcpy(strstr(doc, "\"generation\":12"), "\"generation\":13", 15);
	write_desired(doc);
	cycle_ok();
	ck_assert_int_eq(stored_generation(NULL), 13);
	/* Another host's file: rejected, the stored state stays. */
	memcpy(strstr(doc, "\"pve-01\""), "\"pve-99\"", 8);
	write_desired(doc);
	ck_assert_int_eq(cycle(&err), ERR_PROTOCOL);
	ck_assert_ptr_nonnull(strstr(err.msg, "not this host"));
	ck_assert_int_eq(stored_generation(NULL), 13);
	/* Reported once: the same bad file is not re-read. */
	cycle_ok();
	write_desired("{\"schema\":");
	ck_assert_int_eq(cycle(&err), ERR_FORMAT);
	ck_assert_int_eq(stored_generation(NULL), 13);
	ck_assert_uint_eq(requests_to("/", NULL), 0);	/* no hub traffic */
	free(doc);
}
END_TEST

START_TEST(token_never_reaches_a_log_line_or_an_error)
{
	static const char *const fl[] = { "{\"kind\":\"401\"}",
	    "{\"kind\":\"403\"}", "{\"kind\":\"status\",\"status\":500}",
	    "{\"kind\":\"drop\"}", "{\"kind\":\"invalid_json\"}",
	    "{\"kind\":\"wrong_schema\"}", "{\"kind\":\"429\"}",
	    "{\"kind\":\"oversize\"}", "{\"kind\":\"wrong_content_type\"}",
	    "{\"endpoint\":\"desired\",\"kind\":\"other_host\"}",
	    "{\"endpoint\":\"desired\",\"kind\":\"status\",\"status\":404}" };
	const char *tok = tu_sim_str(&env.hub, "token");
	char path[600], *text;
	struct err err;
	FILE *f;
	size_t i;

	(void) snprintf(path, sizeof(path), "%s/log.txt", env.dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	/* Debug level, and no secret masking: nothing may need it. */
	log_clear_secrets();
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, f);
	post_desired_fixture();
	for (i = 0; i < sizeof(fl) / sizeof(fl[0]); i++) {
		sim("POST", "/_sim/fault", fl[i]);
		(void) cycle(&err);
		(void) cycle(&err);
	}
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	(void) fclose(f);
	ck_assert_ptr_nonnull(text = tu_read_file(path, NULL));
	ck_assert_uint_gt(strlen(text), 200);
	ck_assert_ptr_nonnull(strstr(text, "hub report failed"));
	ck_assert_msg(strstr(text, tok) == NULL, "token in the log");
	ck_assert_msg(strstr(errlog, tok) == NULL, "token in an error");
	free(text);
}
END_TEST

/* The child runs one cycle in a fresh process with FELHOM_CRASHPOINT. */
static int
cycle_in_child(const char *point)
{
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct hubloop_deps d;
		struct hub_options ho;
		struct collect_source src = env.src;
		struct hub_client *hc = NULL;
		struct pve_client *pc = NULL;
		struct hubloop *h = NULL;
		struct db *db = NULL;

		(void) setenv("FELHOM_CRASHPOINT", point, 1);
		memset(&ho, 0, sizeof(ho));
		ho.url = env.cfg->hub_url;
		ho.token = env.cfg->hub_token;
		ho.ca_file = env.cfg->hub_ca_file;
		if (db_open(env.dbpath, 0, &db, NULL) != 0 ||
		    pve_client_from_config(env.cfg, NULL, &pc, NULL) != 0 ||
		    hub_client_new(&ho, &hc, NULL) != 0)
			_exit(2);
		src.db = db;
		src.pve = pc;
		memset(&d, 0, sizeof(d));
		d.cfg = env.cfg;
		d.db = db;
		d.hub = hc;
		d.collect = &src;
		d.params = &P;
		if (hubloop_new(&d, &h, NULL) != 0)
			_exit(3);
		(void) hubloop_cycle(h, NULL);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(crash_after_report_before_envelope_keeps_seq)
{
	json_t *r;

	sim("POST", "/_sim/envelope", "{\"blocked\":true}");
	ck_assert_int_eq(cycle_in_child("hub.mid_report"), 137);
	r = reports();
	ck_assert_uint_eq(json_array_size(r), 1);	/* it was sent */
	json_decref(r);
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 1);	/* persisted first */
	ck_assert_int_eq(kvi(KV_HUB_BLOCKED), -1);	/* not applied */
	cycle_ok();
	r = reports();
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(r,
	    1), "seq")), 2);
	json_decref(r);
	ck_assert_int_eq(kvi(KV_HUB_BLOCKED), 1);
}
END_TEST

/* PRAGMA data_version seen from h, and the WAL's size. */
static void
db_marks(sqlite3 *h, int64_t *dv, int64_t *wal)
{
	tu_db_marks(h, env.dbpath, dv, wal);
}

/* The loop again, with the default seq block. */
static void
loop_with_default_block(void)
{
	struct hubloop_params dflt;

	hubloop_params_default(&dflt);
	hubloop_free(hl);
	P.seq_block = dflt.seq_block;
	new_loop();
}

/* Seqs of the reports the hub received, in order; 1 if strictly rising. */
static int
seqs_rise(json_int_t *last_out)
{
	json_t *r = reports();
	json_int_t prev = 0, s;
	size_t i;
	int ok = 1;

	for (i = 0; i < json_array_size(r); i++) {
		s = json_integer_value(json_object_get(json_array_get(r, i),
		    "seq"));
		if (s <= prev)
			ok = 0;
		prev = s;
	}
	json_decref(r);
	*last_out = prev;
	return ok;
}

/*
 * issue 15: with the hub on and nothing changing, report cycles commit
 * nothing — the seqs come from a block reserved (committed) once, the
 * envelope's values are the same — while the hub sees every seq rise
 * and `felhom-admin report --last` the last report.
 */
START_TEST(steady_report_cycles_commit_nothing)
{
	int64_t dv0, wal0, dv, wal;
	struct lastrep lr;
	json_int_t last;
	sqlite3 *h = NULL;
	int i;

	loop_with_default_block();
	cycle_ok();			/* reserves the block, stores the envelope */
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), P.seq_block);
	ck_assert_int_eq(sqlite3_open_v2(env.dbpath, &h, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	db_marks(h, &dv0, &wal0);
	for (i = 0; i < 10; i++) {
		fc.mono_ms = hubloop_next_due_ms(hl);
		fc.now_s += 300;
		cycle_ok();
	}
	db_marks(h, &dv, &wal);
	sqlite3_close(h);
	ck_assert_msg(dv == dv0, "steady report cycles committed "
	    "(data_version %lld -> %lld)", (long long)dv0, (long long)dv);
	ck_assert_int_eq(wal, wal0);
	ck_assert_int_eq(hubloop_status(hl)->reports_ok, 11);
	ck_assert(seqs_rise(&last));
	ck_assert_int_eq(last, 11);
	ck_assert_int_eq(lastrep_read(env.dbpath, &lr, NULL), 0);
	ck_assert_int_eq(lr.seq, 11);
	ck_assert_int_eq(lr.sent_at, fc.now_s);
	lastrep_reset(&lr);
	/* A change the envelope brings is written at once. */
	sim("POST", "/_sim/envelope", "{\"blocked\":true}");
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	ck_assert_int_eq(kvi(KV_HUB_BLOCKED), 1);
}
END_TEST

/*
 * The block's guarantee: a seq is never sent twice, across a crash (the
 * rest of the block skipped), a clean stop (the rest given back) and
 * another writer taking a seq meanwhile (--selftest=hub: the loop jumps
 * past it).
 */
START_TEST(seq_blocks_never_reuse_a_seq)
{
	struct hubloop_report_info info;
	struct hubloop_deps d;
	struct hubloop *other = NULL;
	json_int_t last;
	struct err err;

	loop_with_default_block();
	cycle_ok();
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	/* A clean stop: the mark back to the last seq sent. */
	hubloop_free(hl);
	hl = NULL;
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 2);
	/* A process that sends one report and dies (no clean stop). */
	ck_assert_int_eq(cycle_in_child("none"), 0);
	ck_assert_int_eq(kvi(KV_REPORT_SEQ), 2 + P.seq_block);
	new_loop();
	cycle_ok();
	ck_assert(seqs_rise(&last));
	ck_assert_int_eq(last, 3 + P.seq_block);	/* 4..1002 skipped */
	/* --selftest=hub beside the running loop: one seq past the mark. */
	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = env.hubc;
	d.collect = &env.src;
	d.clock = &fake;
	d.params = &P;
	err_init(&err);
	ck_assert_int_eq(hubloop_new(&d, &other, &err), 0);
	ck_assert_msg(hubloop_report_once(other, &info, &err) == 0, "%s",
	    err.msg);
	json_decref(info.report);
	ck_assert_int_eq(info.seq, 2 + 2 * P.seq_block + 1);
	hubloop_free(other);
	fc.mono_ms = hubloop_next_due_ms(hl);
	cycle_ok();
	ck_assert(seqs_rise(&last));
	ck_assert_int_eq(last, 2 + 2 * P.seq_block + 2);
}
END_TEST

START_TEST(crash_inside_desired_transaction_stores_nothing)
{
	post_desired_fixture();
	ck_assert_int_eq(cycle_in_child("hub.mid_desired"), 137);
	ck_assert_int_eq(stored_generation(NULL), 0);
	ck_assert_int_eq(kvi(KV_DESIRED_ETAG), -1);
	cycle_ok();
	ck_assert_int_eq(stored_generation(NULL), 12);
}
END_TEST

/* The hub's signed-ops queue length. */
static int64_t
hub_queue(void)
{
	json_t *q = tu_sim_json(&env.hub, "GET", "/_sim/signed-ops", NULL);
	int64_t n;

	ck_assert_ptr_nonnull(q);
	n = json_integer_value(json_object_get(q, "queue_length"));
	json_decref(q);
	return n;
}

/* agent.signed_ops_ack_seq of the last report the hub received. */
static int64_t
last_ack(void)
{
	json_t *r = reports();
	int64_t n;

	n = json_integer_value(json_object_get(json_object_get(json_array_get(
	    r, json_array_size(r) - 1), "agent"), "signed_ops_ack_seq"));
	json_decref(r);
	return n;
}

/*
 * hub-contract v1.1: the hub serves an entry until a report acknowledges
 * its seq; an entry served again is ignored — no second inbox row, no
 * second audit event.
 */
START_TEST(signed_ops_served_again_are_taken_once_and_acknowledged)
{
	int64_t n = -1, audit0 = 0, audit1 = 0;

	/* Manual ack at the hub: it serves the entries on every cycle. */
	sim("POST", "/_sim/signed-ops", "{\"keep_until_ack\":true,\"ops\":["
	    "{\"blob_b64\":\"YQ==\"},{\"blob_b64\":\"%%%\"}]}");
	cycle_ok();
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(audit_last_seq(env.db, &audit0, NULL), 0);
	ck_assert_int_eq(last_ack(), 0);	/* sent before the fetch */
	ck_assert_int_gt(kvi(KV_SIGNED_OPS_ACK_SEQ), 1);
	cycle_ok();
	ck_assert_int_eq(last_ack(), kvi(KV_SIGNED_OPS_ACK_SEQ));
	ck_assert_int_eq(hubloop_status(hl)->signed_ops_held, 2);
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
	/* The bad entry was audited once, not once per delivery. */
	ck_assert_int_eq(audit_last_seq(env.db, &audit1, NULL), 0);
	ck_assert_int_eq(audit1, audit0);
	/* In the default mode the ack drops them at the hub. */
	sim("POST", "/_sim/signed-ops", "{\"keep_until_ack\":false}");
	sim("POST", "/_sim/signed-ops", "{\"blob_b64\":\"Yg==\"}");
	cycle_ok();
	ck_assert_int_eq(hub_queue(), 1);
	cycle_ok();
	ck_assert_int_eq(hub_queue(), 0);
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 3);
}
END_TEST

/* A crash between the hub's answer and the inbox commit loses nothing. */
START_TEST(crash_between_fetch_and_inbox_commit_loses_no_entry)
{
	int64_t n = -1;

	sim("POST", "/_sim/signed-ops", "[{\"blob_b64\":\"YQ==\"},"
	    "{\"blob_b64\":\"Yg==\"}]");
	ck_assert_int_eq(cycle_in_child("hub.mid_signed_ops"), 137);
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(hub_queue(), 2);	/* the hub kept them */
	cycle_ok();
	ck_assert_int_eq(inbox_count(env.db, INBOX_NEW, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
	cycle_ok();
	ck_assert_int_eq(hub_queue(), 0);
	ck_assert_int_eq(inbox_count(env.db, NULL, &n, NULL), 0);
	ck_assert_int_eq(n, 2);
}
END_TEST

static volatile sig_atomic_t stop_flag;

static void
on_alarm(int sig)
{
	(void) sig;
	stop_flag = 1;
}

START_TEST(abort_flag_stops_a_slow_request)
{
	struct hub_options ho;
	struct hub_client *hc = NULL;
	struct hubloop_deps d;
	struct hubloop *h = NULL;
	struct err err;
	int64_t t0;

	memset(&ho, 0, sizeof(ho));
	ho.url = env.cfg->hub_url;
	ho.token = env.cfg->hub_token;
	ho.ca_file = env.cfg->hub_ca_file;
	ho.abort_flag = &stop_flag;
	ck_assert_int_eq(hub_client_new(&ho, &hc, NULL), 0);
	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = hc;
	d.collect = &env.src;
	d.params = &P;
	ck_assert_int_eq(hubloop_new(&d, &h, NULL), 0);
	sim("POST", "/_sim/fault", "{\"kind\":\"slow\",\"delay_ms\":10000}");
	(void) signal(SIGALRM, on_alarm);
	(void) ualarm(300000, 0);
	t0 = clock_mono_ms(NULL);
	err_init(&err);
	ck_assert_int_ne(hubloop_cycle(h, &err), 0);
	ck_assert_int_eq(err.reason, HUB_E_ABORTED);
	ck_assert_int_lt(clock_mono_ms(NULL) - t0, 2000);
	hubloop_free(h);
	hub_client_free(hc);
}
END_TEST


START_TEST(abort_flag_stops_a_slow_collection)
{
	struct collect_source src = env.src;
	struct pve_client *pc = NULL;
	struct hubloop_deps d;
	struct hubloop *h = NULL;
	struct err err;
	int64_t t0;

	stop_flag = 0;
	ck_assert_int_eq(pve_client_from_config(env.cfg, &stop_flag, &pc,
	    NULL), 0);
	src.pve = pc;
	src.abort_flag = &stop_flag;
	src.clock = NULL;
	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = env.hubc;
	d.collect = &src;
	d.params = &P;
	ck_assert_int_eq(hubloop_new(&d, &h, NULL), 0);
	ck_assert_int_eq(tu_sim_call(&env.pve, "POST", "/_sim/fault",
	    "{\"path\":\"/lxc$\",\"delay_ms\":10000}", NULL), 200);
	(void) signal(SIGALRM, on_alarm);
	(void) ualarm(300000, 0);
	t0 = clock_mono_ms(NULL);
	err_init(&err);
	ck_assert_int_ne(hubloop_cycle(h, &err), 0);
	ck_assert_int_lt(clock_mono_ms(NULL) - t0, 2000);
	ck_assert_int_eq(hubloop_status(h)->collect_failed, 1);
	hubloop_free(h);
	pve_client_free(pc);
}
END_TEST

/* ---- real time: the intervals hub-sim observed ----------------------- */

/* Report request times (ms) from /_sim/requests. */
static size_t
report_times(double *t, size_t max)
{
	json_t *reqs = tu_sim_json(&env.hub, "GET", "/_sim/requests", NULL), *r;
	size_t i, n = 0;

	json_array_foreach(reqs, i, r) {
		const char *p = json_string_value(json_object_get(r, "path"));

		if (p != NULL && strstr(p, "/report") != NULL && n < max)
			t[n++] = json_real_value(json_object_get(r, "t")) * 1000;
	}
	json_decref(reqs);
	return n;
}

static void
run_until_due(struct hubloop *h)
{
	int64_t now = clock_mono_ms(NULL), due = hubloop_next_due_ms(h);
	struct err err;

	/* The test plays the daemon's loop: wait, then cycle when due. */
	if (due > now)
		(void) usleep((useconds_t)(due - now) * 1000);
	err_init(&err);
	(void) hubloop_cycle(h, &err);
}

START_TEST(observed_intervals_stay_within_their_bounds)
{
	static const struct { double lo, hi; } b[] = {
		{ 100, 250 },		/* 1st failure: cap 250 ms */
		{ 100, 500 },		/* 2nd: 500 */
		{ 100, 1000 },		/* 3rd: 1000 (4 x base) */
		{ 900, 1100 },		/* success: 1 s +- 10 % */
		{ 900, 1100 },
		{ 2000, 2000 },		/* 429 Retry-After: 2 */
	};
	struct hubloop_params tp;
	struct hubloop_deps d;
	struct hubloop *h = NULL;
	double t[16];
	size_t i, n;

	/* The documented test-only shortening (FELHOM_TESTING builds). */
	(void) setenv("FELHOM_TEST_MIN_INTERVAL_MS", "1000", 1);
	(void) setenv("FELHOM_TEST_BACKOFF_BASE_MS", "250", 1);
	hubloop_params_default(&tp);
	ck_assert_int_eq(tp.min_interval_ms, 1000);
	ck_assert_int_eq(tp.backoff_base_ms, 250);
	memset(&d, 0, sizeof(d));
	d.cfg = env.cfg;
	d.db = env.db;
	d.hub = env.hubc;
	d.collect = &env.src;
	d.params = &tp;
	env.src.clock = NULL;
	ck_assert_int_eq(hubloop_new(&d, &h, NULL), 0);
	sim("POST", "/_sim/envelope", "{\"poll_interval_seconds\":1}");
	sim("POST", "/_sim/fault", "{\"kind\":\"status\",\"status\":500,"
	    "\"count\":3}");
	for (i = 0; i < 6; i++) {
		if (i == 5)
			sim("POST", "/_sim/fault", "{\"kind\":\"429\","
			    "\"retry_after\":2}");
		run_until_due(h);
	}
	run_until_due(h);
	n = report_times(t, 16);
	ck_assert_uint_eq(n, 7);
	for (i = 0; i + 1 < n; i++) {
		double gap = t[i + 1] - t[i];

		/* Slack: one collection against pve-sim and the POST. */
		ck_assert_msg(gap >= b[i].lo - 150 && gap <= b[i].hi + 700,
		    "gap %zu: %.0f ms not in [%.0f, %.0f]", i, gap, b[i].lo,
		    b[i].hi);
	}
	hubloop_free(h);
}
END_TEST

static Suite *
hubloop_suite(void)
{
	Suite *s = suite_create("hubloop");
	TCase *tc;

	tc = tcase_create("timer");
	tcase_add_test(tc, interval_is_clamped_to_60_3600);
	tcase_add_test(tc, regular_delay_has_small_jitter_within_bounds);
	tcase_add_test(tc, backoff_doubles_from_5s_up_to_the_interval);
	tcase_add_test(tc, backoff_full_jitter_spans_the_capped_range);
	tcase_add_test(tc, retry_after_is_honoured_and_capped);
	tcase_add_test(tc, auth_failure_waits_the_maximum_interval);
	tcase_add_test(tc, outcome_follows_the_hub_reason);
	suite_add_tcase(s, tc);

	tc = tcase_create("hub");
	tcase_add_unchecked_fixture(tc, sims_up, NULL);
	tcase_add_checked_fixture(tc, open_on, close_env);
	tcase_add_test(tc, reports_at_once_then_every_interval);
	tcase_add_test(tc, seq_strictly_increases_across_restarts);
	tcase_add_loop_test(tc, each_fault_is_typed_scheduled_and_survived, 0,
	    (int)(sizeof(loop_faults) / sizeof(loop_faults[0])));
	tcase_add_test(tc, backoff_doubles_over_consecutive_failures);
	tcase_add_test(tc,
	    collection_failure_sends_a_degraded_report_and_backs_off);
	tcase_add_test(tc, database_that_cannot_commit_keeps_the_seq_in_memory);
	tcase_add_test(tc, a_changed_pve_certificate_is_reported_as_pve_tls);
	tcase_add_test(tc,
	    a_pve_auth_failure_is_pves_and_does_not_slow_reporting);
	tcase_add_test(tc, the_last_report_taken_and_the_last_failure_are_kept);
	tcase_add_test(tc, poll_interval_from_envelope_is_clamped);
	tcase_add_test(tc, blocked_is_persisted_exposed_and_reporting_goes_on);
	tcase_add_test(tc, audit_ack_cursor_no_event_sent_twice);
	tcase_add_test(tc, audit_unacked_events_are_sent_again_after_restart);
	tcase_add_test(tc, desired_is_fetched_validated_and_stored);
	tcase_add_test(tc, desired_if_none_match_gives_304_unchanged);
	tcase_add_test(tc, desired_for_another_host_is_rejected_nothing_stored);
	tcase_add_test(tc, desired_older_generation_is_rejected);
	tcase_add_test(tc, signed_ops_are_stored_as_received);
	tcase_add_test(tc,
	    signed_ops_served_again_are_taken_once_and_acknowledged);
	tcase_add_test(tc, poke_reports_early_debounced);
	tcase_add_test(tc, poke_during_a_cycle_in_progress_counts_after_it);
	tcase_add_test(tc, token_never_reaches_a_log_line_or_an_error);
	tcase_add_test(tc, crash_after_report_before_envelope_keeps_seq);
	tcase_add_test(tc, crash_inside_desired_transaction_stores_nothing);
	tcase_add_test(tc, steady_report_cycles_commit_nothing);
	tcase_add_test(tc, seq_blocks_never_reuse_a_seq);
	tcase_add_test(tc, crash_between_fetch_and_inbox_commit_loses_no_entry);
	tcase_add_test(tc, abort_flag_stops_a_slow_request);
	tcase_add_test(tc, abort_flag_stops_a_slow_collection);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(s, tc);

	tc = tcase_create("realtime");
	tcase_add_unchecked_fixture(tc, sims_up, NULL);
	tcase_add_checked_fixture(tc, open_on, close_env);
	tcase_add_test(tc, observed_intervals_stay_within_their_bounds);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_unchecked_fixture(tc, sims_up, NULL);
	tcase_add_checked_fixture(tc, open_off, close_env);
	tcase_add_test(tc, desired_file_mode_reads_and_rereads_on_change);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hubloop_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	ht_sims_stop(&env);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
