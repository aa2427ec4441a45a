/*
 * hubloop — the report loop (R-19, R-20, R-21; standalone desired_file).
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/collect.h"
#include "agent/heartbeat.h"
#include "agent/hubloop.h"
#include "agent/hubloop_int.h"
#include "base/clock.h"
#include "base/crash.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/loglimit.h"
#include "hub/hub.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/desired.h"
#include "store/inbox.h"
#include "store/kv.h"

#define DESIRED_FILE_CAP	HUB_BODY_CAP

static const char *const phase_names[HUBLOOP_PHASE__COUNT] = {
	[HUBLOOP_PHASE_NONE] = "none",
	[HUBLOOP_PHASE_COLLECT] = "collect",
	[HUBLOOP_PHASE_REPORT] = "report",
	[HUBLOOP_PHASE_DESIRED] = "desired",
	[HUBLOOP_PHASE_DESIRED_INVALID] = "desired_invalid",
	[HUBLOOP_PHASE_SIGNED_OPS] = "signed_ops",
};
_Static_assert(sizeof(phase_names) / sizeof(phase_names[0]) ==
    HUBLOOP_PHASE__COUNT, "hubloop phase names");

const char *
hubloop_phase_name(enum hubloop_phase p)
{
	return (unsigned)p < HUBLOOP_PHASE__COUNT ? phase_names[p] : "unknown";
}

enum hubloop_phase
hubloop_last_failure(const struct hubloop *hl, const struct err **err_out)
{
	if (err_out != NULL)
		*err_out = &hl->fail;
	return hl->fail_phase;
}

/*
 * Notes the first failure of a cycle and keeps it in kv for
 * `felhom-admin status` (best effort: the database may be the failure).
 */
static void
note_failure(struct hubloop *hl, enum hubloop_phase phase,
    const struct err *err)
{
	char text[ERR_MSG_MAX + 32];

	if (hl->fail_phase == HUBLOOP_PHASE_NONE) {
		hl->fail_phase = phase;
		err_init(&hl->fail);
		(void) err_copy(&hl->fail, err);
	}
	if (err->reason == HUB_E_ABORTED && phase != HUBLOOP_PHASE_COLLECT)
		return;
	(void) snprintf(text, sizeof(text), "%s: %s", phase_names[phase],
	    err_msg(err));
	if (db_begin(hl->d.db, NULL) != 0)
		return;
	if (kv_set(hl->d.db, KV_HUB_LAST_ERROR, text, NULL) != 0 ||
	    kv_set_int(hl->d.db, KV_HUB_LAST_ERROR_AT,
	    clock_now(hl->d.clock), NULL) != 0 ||
	    db_commit(hl->d.db, NULL) != 0)
		db_rollback(hl->d.db);
}

/* ---- timer math (pure) ---------------------------------------------- */

void
hubloop_params_default(struct hubloop_params *p)
{
	p->min_interval_ms = 60 * 1000;
	p->max_interval_ms = 3600 * 1000;
	p->default_interval_ms = 300 * 1000;
	p->backoff_base_ms = 5 * 1000;
	p->retry_floor_ms = 1000;
	p->debounce_ms = 10 * 1000;
	p->file_check_ms = 5 * 1000;
	p->jitter_pct = 10;
	p->seq_block = 1000;
#ifdef FELHOM_TESTING
	{
		const char *v;
		char *end;
		long long n;

		/* Test builds only: see hubloop.h. */
		if ((v = getenv("FELHOM_TEST_MIN_INTERVAL_MS")) != NULL &&
		    (n = strtoll(v, &end, 10)) >= 100 && *end == '\0') {
			p->min_interval_ms = n;
			p->retry_floor_ms = n / 10;
			p->debounce_ms = n;
			p->file_check_ms = n;
		}
		if ((v = getenv("FELHOM_TEST_BACKOFF_BASE_MS")) != NULL &&
		    (n = strtoll(v, &end, 10)) >= 100 && *end == '\0')
			p->backoff_base_ms = n;
	}
#endif
}

int64_t
hubloop_clamp_interval_ms(const struct hubloop_params *p, int64_t seconds)
{
	int64_t ms;

	/* [60, 3600] s. */
	if (seconds <= 0 || seconds > p->max_interval_ms / 1000)
		ms = seconds <= 0 ? p->min_interval_ms : p->max_interval_ms;
	else
		ms = seconds * 1000;
	if (ms < p->min_interval_ms)
		ms = p->min_interval_ms;
	if (ms > p->max_interval_ms)
		ms = p->max_interval_ms;
	return ms;
}

static int64_t
uniform(uint64_t r, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
}

int64_t
hubloop_delay_ms(const struct hubloop_params *p, enum hubloop_outcome outcome,
    int64_t interval_ms, int failures, long retry_after_s, uint64_t r)
{
	int64_t cap, d, j;
	int k;

	switch (outcome) {
	case HUBLOOP_OK:
		j = interval_ms * p->jitter_pct / 100;
		d = uniform(r, interval_ms - j, interval_ms + j);
		if (d < p->min_interval_ms)
			d = p->min_interval_ms;
		if (d > p->max_interval_ms)
			d = p->max_interval_ms;
		return d;
	case HUBLOOP_RETRY_AFTER:
		if (retry_after_s > HUB_RETRY_AFTER_MAX_S)
			retry_after_s = HUB_RETRY_AFTER_MAX_S;
		d = (int64_t)retry_after_s * 1000;
		return d < p->retry_floor_ms ? p->retry_floor_ms : d;
	case HUBLOOP_AUTH:
		j = p->max_interval_ms * p->jitter_pct / 100;
		return uniform(r, p->max_interval_ms - j, p->max_interval_ms);
	case HUBLOOP_FAILED:
	default:
		/* 5 s doubling; the cap first, then full jitter under it. */
		cap = p->backoff_base_ms;
		for (k = 1; k < failures && cap < interval_ms; k++)
			cap *= 2;
		if (cap > interval_ms)
			cap = interval_ms;
		d = uniform(r, 0, cap);
		if (d < p->retry_floor_ms)
			d = p->retry_floor_ms < cap ? p->retry_floor_ms : cap;
		return d;
	}
}

enum hubloop_outcome
hubloop_outcome_of(const struct err *err)
{
	switch (err->reason) {
	case HUB_E_AUTH:
		return HUBLOOP_AUTH;
	case HUB_E_RETRY_AFTER:
		return HUBLOOP_RETRY_AFTER;
	default:
		return HUBLOOP_FAILED;
	}
}

/* splitmix64 over a getrandom() seed: jitter needs no crypto strength. */
static uint64_t
default_rand(void *ctx)
{
	uint64_t *s = ctx, z;

	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- lifecycle ------------------------------------------------------ */

int
hubloop_new(const struct hubloop_deps *deps, struct hubloop **out,
    struct err *err)
{
	struct hubloop *hl;
	int64_t blocked, interval, gen;
	int rc;

	if (deps->cfg->hub_on && (deps->hub == NULL || deps->collect == NULL))
		return err_set(err, ERR_INTERNAL, "hubloop: hub.mode on needs "
		    "a hub client and a collect source");
	if ((hl = calloc(1, sizeof(*hl))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	hl->d = *deps;
	if (deps->params != NULL)
		hl->p = *deps->params;
	else
		hubloop_params_default(&hl->p);
	if (deps->rand != NULL)
		hl->rand = *deps->rand;
	else {
		if (getrandom(&hl->rstate, sizeof(hl->rstate), 0) !=
		    (ssize_t)sizeof(hl->rstate))
			hl->rstate = (uint64_t)time(NULL) ^ (uint64_t)getpid();
		hl->rand.next = default_rand;
		hl->rand.ctx = &hl->rstate;
	}
	if ((rc = kv_get_int(deps->db, KV_HUB_BLOCKED, 0, &blocked,
	    err)) != 0 ||
	    (rc = kv_get_int(deps->db, KV_POLL_INTERVAL, 0, &interval,
	    err)) != 0 ||
	    (rc = kv_get_int(deps->db, KV_DESIRED_GENERATION, 0, &gen,
	    err)) != 0) {
		free(hl);
		return rc;
	}
	hl->st.blocked = blocked != 0;
	hl->st.interval_ms = interval > 0 ?
	    hubloop_clamp_interval_ms(&hl->p, interval) :
	    hl->p.default_interval_ms;
	hl->st.desired_generation = gen;
	hl->last_start_ms = -1;
	heartbeat_init(&hl->hb);
	loglimit_init(&hl->fail_log, 0);
	/* report at once on start. */
	hl->next_due_ms = clock_mono_ms(deps->clock);
	*out = hl;
	return 0;
}

static void cycle_drop(struct hubloop *hl);

void
hubloop_free(struct hubloop *hl)
{
	if (hl == NULL)
		return;
	cycle_drop(hl);
	seq_release(hl);
	free(hl);
}

int64_t
hubloop_next_due_ms(const struct hubloop *hl)
{
	return hl->next_due_ms;
}

int
hubloop_blocked(const struct hubloop *hl)
{
	return hl->st.blocked;
}

const struct hubloop_status *
hubloop_status(const struct hubloop *hl)
{
	return &hl->st;
}

void
hubloop_poke(struct hubloop *hl)
{
	int64_t now, at;

	/* A report being built may have missed it: after this cycle. */
	if (hl->cs != CYC_IDLE) {
		hl->poked = 1;
		return;
	}
	/* Never earlier than a backoff, Retry-After or auth wait. */
	if (!hl->d.cfg->hub_on || hl->last_outcome != HUBLOOP_OK)
		return;
	now = clock_mono_ms(hl->d.clock);
	at = hl->last_start_ms < 0 ? now : hl->last_start_ms +
	    hl->p.debounce_ms;
	if (at < now)
		at = now;
	if (at < hl->next_due_ms)
		hl->next_due_ms = at;
}

static void
schedule(struct hubloop *hl, enum hubloop_outcome o, long retry_after_s)
{
	int64_t d;

	hl->last_outcome = o;
	if (o == HUBLOOP_OK)
		hl->st.failures = 0;
	else if (o == HUBLOOP_FAILED)
		hl->st.failures++;
	d = hubloop_delay_ms(&hl->p, o, hl->st.interval_ms, hl->st.failures,
	    retry_after_s, hl->rand.next(hl->rand.ctx));
	hl->next_due_ms = clock_mono_ms(hl->d.clock) + d;
	log_debug("hub: next cycle in %" PRId64 " ms", d);
}

/* ---- the desired state ---------------------------------------------- */

/* Validates doc and stores it with its generation (and ETag) at once. */
static int
desired_store(struct hubloop *hl, const json_t *doc, const char *etag,
    const char *what, struct err *err)
{
	json_t *guests, *rts;
	int64_t stored, gen;
	int rc;

	if ((rc = kv_get_int(hl->d.db, KV_DESIRED_GENERATION, 0, &stored,
	    err)) != 0)
		return rc;
	if ((rc = hub_desired_check(doc, hl->d.cfg->host_id, stored, &gen,
	    err)) != 0) {
		hl->st.desired_rejected++;
		return err_prefix(err, "%s rejected, nothing stored: ", what);
	}
	guests = json_object_get(doc, "guests");
	rts = json_object_get(doc, "restore_tests");
	if ((rc = db_begin(hl->d.db, err)) != 0)
		return rc;
	if ((rc = desired_replace(hl->d.db, gen, guests, json_is_array(rts) ?
	    rts : NULL, err)) != 0 ||
	    (rc = kv_set(hl->d.db, KV_DESIRED_ETAG, etag != NULL ? etag : "",
	    err)) != 0)
		goto fail;
	crash_point("hub.mid_desired");
	if ((rc = db_commit(hl->d.db, err)) != 0)
		goto fail;
	hl->st.desired_generation = gen;
	hl->st.desired_stored++;
	log_info("desired state generation %" PRId64 " stored (%zu guests, "
	    "from %s)", gen, json_array_size(guests), what);
	return 0;
fail:
	db_rollback(hl->d.db);
	return rc;
}

/* GET /desired with the stored ETag, submitted. */
static int
desired_submit(struct hubloop *hl, struct hub_req **out, struct err *err)
{
	char *etag = NULL;
	int rc;

	rc = kv_get(hl->d.db, KV_DESIRED_ETAG, &etag, err);
	if (rc == ERR_NOT_FOUND) {
		etag = NULL;
		rc = 0;
	}
	if (rc == 0)
		rc = hub_submit_desired(hl->d.hub, etag != NULL &&
		    etag[0] != '\0' ? etag : NULL, out, err);
	free(etag);
	return rc;
}

/* The answer of GET /desired, stored when it is a new document. */
static int
desired_answer(struct hubloop *hl, struct hub_req *r, struct err *err)
{
	json_t *doc = NULL;
	char *tag = NULL;
	int rc;

	rc = hub_finish_desired(hl->d.hub, r, &doc, &tag, err);
	if (rc == HUB_NOT_MODIFIED || rc == HUB_NO_CONTENT) {
		hl->st.desired_unchanged++;
		log_debug("hub: desired state unchanged (%s)", rc ==
		    HUB_NOT_MODIFIED ? "304" : "204");
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = desired_store(hl, doc, tag, "hub desired state", err);
out:
	json_decref(doc);
	free(tag);
	return rc;
}

/*
 * GET /signed-ops into the inbox, in one transaction (R-20,
 * hub-contract v1.1 "Delivery: at least once"): the hub keeps serving an
 * entry until a report acknowledges its seq, so a crash before the
 * commit loses nothing; an entry held already (same seq) is ignored —
 * no second verification, no second audit event.  The highest seq
 * committed is the next report's agent.signed_ops_ack_seq.
 */
static int
signed_ops_answer(struct hubloop *hl, struct hub_req *r, struct err *err)
{
	struct hub_signed_ops so = { NULL, 0 };
	struct inbox_entry e;
	struct audit_event ev;
	int64_t now = clock_now(hl->d.clock), ack;
	size_t i, taken = 0, held = 0;
	int rc, found;

	rc = hub_finish_signed_ops(hl->d.hub, r, &so, err);
	if (rc == HUB_NO_CONTENT)
		return 0;
	if (rc != 0)
		return rc;
	if ((rc = db_begin(hl->d.db, err)) != 0)
		goto out;
	if ((rc = kv_get_int(hl->d.db, KV_SIGNED_OPS_ACK_SEQ, 0, &ack,
	    err)) != 0)
		goto fail;
	for (i = 0; i < so.n; i++) {
		const struct hub_signed_op *op = &so.ops[i];

		if (op->seq > 0) {
			if ((rc = inbox_has_seq(hl->d.db, op->seq, &found,
			    err)) != 0)
				goto fail;
			if (found) {
				held++;
				continue;
			}
			if (op->seq > ack)
				ack = op->seq;
		}
		memset(&e, 0, sizeof(e));
		e.seq = op->seq;
		e.received_at = now;
		e.op_ref = op->op_ref;
		e.signature = op->signature;
		if (op->bad == NULL) {
			/* As received: the gate verifies these bytes. */
			e.blob = op->blob;
			e.blob_len = op->blob_len;
			e.state = INBOX_NEW;
		} else {
			e.blob = op->blob_b64;
			e.blob_len = strlen(op->blob_b64);
			e.state = INBOX_REJECTED;
			e.result = op->bad;
			memset(&ev, 0, sizeof(ev));
			ev.at = now;
			ev.event = "verify";
			ev.decision = "rejected";
			ev.code = "bad_blob";
			ev.actor = "hub";
			ev.detail = op->bad;
			if ((rc = audit_append(hl->d.db, &ev, NULL, err)) != 0)
				goto fail;
		}
		if ((rc = inbox_add(hl->d.db, &e, NULL, err)) != 0)
			goto fail;
		taken++;
	}
	if ((rc = kv_set_int(hl->d.db, KV_SIGNED_OPS_ACK_SEQ, ack, err)) != 0)
		goto fail;
	/* The hub answered; its entries are not committed yet. */
	crash_point("hub.mid_signed_ops");
	if ((rc = db_commit(hl->d.db, err)) != 0)
		goto fail;
	for (i = 0; i < so.n; i++)
		if (so.ops[i].bad != NULL)
			log_warn("hub signed-ops: %s, rejected", so.ops[i].bad);
	hl->st.signed_ops_stored += (int64_t)taken;
	hl->st.signed_ops_held += (int64_t)held;
	if (held > 0)
		log_info("hub: %zu signed-ops entries received, %zu served "
		    "again and ignored (held already)", taken, held);
	else
		log_info("hub: %zu signed-ops entries received", taken);
	rc = 0;
	goto out;
fail:
	db_rollback(hl->d.db);
out:
	hub_signed_ops_reset(&so);
	return rc;
}

/*
 * A failed or degraded cycle, logged when its condition changes and
 * then at most once a minute with the count held back (issue 17): a hub
 * or PVE down for hours is a few lines, not one per retry.
 */
static void
log_failure(struct hubloop *hl, const struct err *err,
    enum hubloop_outcome o, int built, const struct hubloop_report_info *info)
{
	int64_t now = clock_mono_ms(hl->d.clock);
	double in_s = (double)(hl->next_due_ms - now) / 1000.0;
	char key[LOGLIMIT_KEY_MAX];
	const char *cause = info->degraded ? heartbeat_cause_of(&info->cause) :
	    NULL;

	/* The condition: what failed and its kind, never the varying text. */
	(void) snprintf(key, sizeof(key), "%s:%s:%d:%d:%ld",
	    cause != NULL ? cause : "-", built ? "report" : "collect",
	    err->code, err->reason, err->status);
	if (!built)
		/* PVE's failure (or the database's), not the hub's. */
		(void) log_limited(&hl->fail_log, now, key, LOG_LEVEL_WARN,
		    "hub report not sent: the report could not be built: %s; "
		    "failure %d, next attempt in %.1f s", err_msg(err),
		    hl->st.failures, in_s);
	else if (o == HUBLOOP_AUTH)
		(void) log_limited(&hl->fail_log, now, key, LOG_LEVEL_ERROR,
		    "hub report failed (%s): %s; reporting on at the maximum "
		    "interval, next in %.0f s", hub_error_name(err->reason),
		    err_msg(err), in_s);
	else if (cause != NULL)
		(void) log_limited(&hl->fail_log, now, key, LOG_LEVEL_WARN,
		    "hub report failed (%s): %s; it was a degraded report "
		    "(%s: %s); failure %d, next attempt in %.1f s",
		    hub_error_name(err->reason), err_msg(err), cause,
		    err_msg(&info->cause), hl->st.failures, in_s);
	else
		(void) log_limited(&hl->fail_log, now, key, LOG_LEVEL_WARN,
		    "hub report failed (%s): %s; failure %d, next attempt in "
		    "%.1f s", hub_error_name(err->reason), err_msg(err),
		    hl->st.failures, in_s);
}

/* A degraded report the hub took: said on change, then once a minute. */
static void
log_degraded(struct hubloop *hl, const struct hubloop_report_info *info)
{
	int64_t now = clock_mono_ms(hl->d.clock);
	char key[LOGLIMIT_KEY_MAX];

	(void) snprintf(key, sizeof(key), "degraded:%s:%d:%d:%ld",
	    hl->hb.cause, info->cause.code, info->cause.reason,
	    info->cause.status);
	(void) log_limited(&hl->fail_log, now, key, LOG_LEVEL_WARN,
	    "hub report seq %" PRId64 " sent degraded (%s): %s; next attempt "
	    "in %.1f s", info->seq, hl->hb.cause, err_msg(&info->cause),
	    (double)(hl->next_due_ms - now) / 1000.0);
}

/* The condition logged by log_failure/log_degraded is over. */
static void
log_recovered(struct hubloop *hl)
{
	uint64_t held;

	if (hl->fail_log.key[0] == '\0')
		return;
	held = loglimit_end(&hl->fail_log);
	if (held > 0)
		log_info("hub report seq %" PRId64 " sent in full again (%"
		    PRIu64 " more failure%s since the last line)",
		    hl->st.last_seq, held, held == 1 ? "" : "s");
	else
		log_info("hub report seq %" PRId64 " sent in full again",
		    hl->st.last_seq);
}

/* Drops the cycle in progress (no outcome, nothing scheduled). */
static void
cycle_drop(struct hubloop *hl)
{
	collect_cancel(hl->job);
	hl->job = NULL;
	hub_req_cancel(hl->req);
	hl->req = NULL;
	json_decref(hl->info.report);
	hl->info.report = NULL;
	free(hl->body);
	hl->body = NULL;
	hl->cs = CYC_IDLE;
}

/*
 * The cycle ends: the next one scheduled, the outcome kept.  A degraded
 * cycle has its failure backoff already (unless the hub asked for more)
 * and ends with its cause.
 */
static void
cycle_end(struct hubloop *hl)
{
	if (!hl->info.degraded || hl->o != HUBLOOP_FAILED)
		schedule(hl, hl->o, hl->ra);
	if (hl->info.degraded)
		hl->rc = err_copy(&hl->err, &hl->info.cause);
	cycle_drop(hl);
	if (hl->poked) {
		hl->poked = 0;
		hubloop_poke(hl);
	}
}

/* The report was not built or not taken: hl->rc/hl->err say why. */
static void
cycle_report_failed(struct hubloop *hl)
{
	const struct err *err = &hl->err;
	int built = hl->info.built;

	/* What made the report degraded fails the cycle first (--once). */
	if (hl->info.degraded)
		note_failure(hl, hl->info.collect_failed ?
		    HUBLOOP_PHASE_COLLECT : HUBLOOP_PHASE_REPORT,
		    &hl->info.cause);
	hl->st.reports_failed++;
	/*
	 * A report that could not be built is PVE's failure: its reason
	 * is a pve_ one, never the hub's auth wait.
	 */
	hl->st.last_reason = built ? err->reason : HUB_E_NONE;
	hl->o = built ? hubloop_outcome_of(err) : HUBLOOP_FAILED;
	if (hl->o == HUBLOOP_RETRY_AFTER)
		hl->ra = hub_retry_after_s(hl->d.hub);
	schedule(hl, hl->o, hl->ra);
	if (!built || err->reason != HUB_E_ABORTED)
		log_failure(hl, err, hl->o, built, &hl->info);
	note_failure(hl, built ? HUBLOOP_PHASE_REPORT :
	    HUBLOOP_PHASE_COLLECT, err);
	cycle_drop(hl);
	/* The backoff decides when the next report goes. */
	hl->poked = 0;
}

/* A follow-up fetch failed: logged; Retry-After and auth still count. */
static void
follow_up_failed(struct hubloop *hl, enum hubloop_phase phase,
    const char *what, const struct err *ferr)
{
	enum hubloop_outcome fo;

	hl->st.follow_up_failed++;
	log_warn("hub %s: %s", what, err_msg(ferr));
	note_failure(hl, phase, ferr);
	if ((fo = hubloop_outcome_of(ferr)) != HUBLOOP_FAILED) {
		hl->o = fo;
		hl->ra = hub_retry_after_s(hl->d.hub);
	}
}

/* GET /signed-ops when the envelope says so, else the cycle ends. */
static void
cycle_signed_ops(struct hubloop *hl)
{
	struct err ferr;

	err_init(&ferr);
	/* A degraded report the hub took: its signed ops are still read. */
	if (hl->info.env.has_signed_ops && (hl->o == HUBLOOP_OK ||
	    (hl->info.degraded && hl->o == HUBLOOP_FAILED))) {
		if (hub_submit_signed_ops(hl->d.hub, &hl->req, &ferr) == 0) {
			hl->cs = CYC_SIGNED_OPS;
			return;
		}
		follow_up_failed(hl, HUBLOOP_PHASE_SIGNED_OPS, "signed-ops",
		    &ferr);
	}
	cycle_end(hl);
}

/* After the report: GET /desired when the hub has a newer one. */
static void
cycle_follow_ups(struct hubloop *hl)
{
	struct err ferr;

	err_init(&ferr);
	if (hl->info.env.has_desired_generation &&
	    hl->info.env.desired_generation > hl->st.desired_generation) {
		hl->rejected = hl->st.desired_rejected;
		if (desired_submit(hl, &hl->req, &ferr) == 0) {
			hl->cs = CYC_DESIRED;
			return;
		}
		follow_up_failed(hl, HUBLOOP_PHASE_DESIRED, "desired state",
		    &ferr);
	}
	cycle_signed_ops(hl);
}

/*
 * The collection ended (crc, cerr): the report — or the degraded one —
 * numbered and POSTed, or the cycle failed.
 */
static void
cycle_submit_report(struct hubloop *hl, int crc, const struct err *cerr)
{
	int rc;

	if (crc != 0 && (rc = report_fallback(hl, 1, crc, cerr, &hl->info,
	    &hl->err)) != 0) {
		hl->rc = rc;
		cycle_report_failed(hl);
		return;
	}
	if ((rc = report_prepare(hl, 1, &hl->info, &hl->body,
	    &hl->err)) != 0 ||
	    (rc = hub_submit_report(hl->d.hub, hl->body, hl->info.bytes,
	    &hl->req, &hl->err)) != 0) {
		hl->rc = rc;
		cycle_report_failed(hl);
		return;
	}
	hl->cs = CYC_REPORT;
}

/*
 * The hub took the report.  A degraded one: the hub knows why, the full
 * report is tried again on the failure backoff, and nothing is fetched
 * that could not be kept (a seq held in memory ends the cycle here).
 */
static void
cycle_report_taken(struct hubloop *hl)
{
	struct hubloop_report_info *info = &hl->info;

	hl->st.reports_ok++;
	log_debug("hub: report seq %" PRId64 " sent (%zu bytes)", info->seq,
	    info->bytes);
	(void) snprintf(hl->st.health_cause, sizeof(hl->st.health_cause), "%s",
	    info->degraded ? hl->hb.cause : "");
	if (!info->degraded) {
		log_recovered(hl);
		cycle_follow_ups(hl);
		return;
	}
	note_failure(hl, info->collect_failed ? HUBLOOP_PHASE_COLLECT :
	    HUBLOOP_PHASE_REPORT, &info->cause);
	hl->st.reports_degraded++;
	hl->st.last_reason = HUB_E_NONE;
	schedule(hl, HUBLOOP_FAILED, -1);
	log_degraded(hl, info);
	hl->o = HUBLOOP_FAILED;
	hl->ra = -1;
	hl->poked = 0;		/* the backoff decides the next one */
	/* Nothing is fetched that could not be kept. */
	if (info->seq_in_memory || info->db_unwritable) {
		cycle_end(hl);
		return;
	}
	cycle_follow_ups(hl);
}

/* One move of the cycle in progress; returns without waiting. */
static void
cycle_advance(struct hubloop *hl)
{
	struct hub_req *r;
	struct err ferr;
	int rc;

	switch (hl->cs) {
	case CYC_IDLE:
		return;
	case CYC_COLLECT:
		if (!collect_step(hl->job))
			return;
		err_init(&ferr);
		rc = collect_finish(hl->job, &hl->info.report,
		    &hl->info.stats, &ferr);
		hl->job = NULL;
		cycle_submit_report(hl, rc, &ferr);
		return;
	case CYC_REPORT:
		if (!hub_req_done(hl->req))
			return;
		r = hl->req;
		hl->req = NULL;
		rc = hub_finish_report(hl->d.hub, r, &hl->info.env, &hl->err);
		if ((rc = report_posted(hl, 1, &hl->info, hl->body, rc,
		    &hl->err)) != 0) {
			hl->rc = rc;
			cycle_report_failed(hl);
			return;
		}
		cycle_report_taken(hl);
		return;
	case CYC_DESIRED:
		if (!hub_req_done(hl->req))
			return;
		r = hl->req;
		hl->req = NULL;
		err_init(&ferr);
		if (desired_answer(hl, r, &ferr) != 0)
			follow_up_failed(hl, hl->st.desired_rejected >
			    hl->rejected ? HUBLOOP_PHASE_DESIRED_INVALID :
			    HUBLOOP_PHASE_DESIRED, "desired state", &ferr);
		cycle_signed_ops(hl);
		return;
	case CYC_SIGNED_OPS:
		if (!hub_req_done(hl->req))
			return;
		r = hl->req;
		hl->req = NULL;
		err_init(&ferr);
		if (signed_ops_answer(hl, r, &ferr) != 0)
			follow_up_failed(hl, HUBLOOP_PHASE_SIGNED_OPS,
			    "signed-ops", &ferr);
		cycle_end(hl);
		return;
	}
}

/* Starts a hub-mode cycle: the report's collection. */
static void
cycle_start(struct hubloop *hl)
{
	struct err cerr;
	int rc;

	hl->fail_phase = HUBLOOP_PHASE_NONE;
	err_init(&hl->fail);
	err_init(&hl->err);
	memset(&hl->info, 0, sizeof(hl->info));
	err_init(&hl->info.cause);
	hl->o = HUBLOOP_OK;
	hl->ra = -1;
	hl->rc = 0;
	hl->last_start_ms = clock_mono_ms(hl->d.clock);
	err_init(&cerr);
	if ((rc = collect_start(hl->d.collect, &hl->job, &cerr)) != 0) {
		hl->job = NULL;
		cycle_submit_report(hl, rc, &cerr);
		return;
	}
	hl->cs = CYC_COLLECT;
}

/* ---- standalone mode: desired_file ---------------------------------- */

static int
cycle_file(struct hubloop *hl, struct err *err)
{
	const char *path = hl->d.cfg->desired_file;
	struct file_id id;
	struct stat sb;
	json_t *doc = NULL;
	int64_t rejected = hl->st.desired_rejected;
	int rc = 0;

	hl->next_due_ms = clock_mono_ms(hl->d.clock) + hl->p.file_check_ms;
	if (stat(path, &sb) != 0) {
		if (!hl->file_missing_logged)
			log_warn("desired_file %s: %s; checking again", path,
			    strerror(errno));
		hl->file_missing_logged = 1;
		hl->file.seen = 0;
		return 0;
	}
	hl->file_missing_logged = 0;
	memset(&id, 0, sizeof(id));
	id.seen = 1;
	id.dev = sb.st_dev;
	id.ino = sb.st_ino;
	id.size = sb.st_size;
	id.mtime = sb.st_mtim;
	if (hl->file.seen && hl->file.dev == id.dev && hl->file.ino == id.ino &&
	    hl->file.size == id.size &&
	    hl->file.mtime.tv_sec == id.mtime.tv_sec &&
	    hl->file.mtime.tv_nsec == id.mtime.tv_nsec) {
		hl->st.desired_unchanged++;
		return 0;
	}
	/* Recorded first: a bad file is reported once, not every check. */
	hl->file = id;
	if ((rc = jsonx_parse_file(path, DESIRED_FILE_CAP, JSONX_DUPLICATES,
	    &doc, err)) != 0) {
		hl->st.desired_rejected++;
		(void) err_prefix(err, "desired_file rejected, nothing "
		    "stored: ");
		goto out;
	}
	rc = desired_store(hl, doc, NULL, "desired_file", err);
out:
	if (rc != 0) {
		log_error("%s", err_msg(err));
		note_failure(hl, hl->st.desired_rejected > rejected ?
		    HUBLOOP_PHASE_DESIRED_INVALID : HUBLOOP_PHASE_DESIRED, err);
	}
	json_decref(doc);
	return rc;
}

enum hubloop_progress
hubloop_tick(struct hubloop *hl, int force, int *rc_out, struct err *err)
{
	int rc;

	if (hl->cs == CYC_IDLE) {
		if (!force && hl->next_due_ms > clock_mono_ms(hl->d.clock))
			return HUBLOOP_IDLE;
		if (!hl->d.cfg->hub_on) {
			hl->fail_phase = HUBLOOP_PHASE_NONE;
			err_init(&hl->fail);
			rc = cycle_file(hl, err);
			if (rc_out != NULL)
				*rc_out = rc;
			return HUBLOOP_ENDED;
		}
		cycle_start(hl);
	}
	/* Each step may complete several exchanges already done. */
	for (;;) {
		enum cyc_state before = hl->cs;

		cycle_advance(hl);
		if (hl->cs == CYC_IDLE || hl->cs == before)
			break;
	}
	if (hl->cs != CYC_IDLE)
		return HUBLOOP_RUNNING;
	if (rc_out != NULL)
		*rc_out = hl->rc;
	if (hl->rc != 0)
		(void) err_copy(err, &hl->err);
	return HUBLOOP_ENDED;
}

int
hubloop_busy(const struct hubloop *hl)
{
	return hl->cs != CYC_IDLE;
}

/* Moves the transfers of the cycle's clients (one multi, or two). */
static void
cycle_wait(struct hubloop *hl)
{
	struct https_multi *pm = pve_client_multi(hl->d.collect->pve);
	struct https_multi *hm = hub_client_multi(hl->d.hub);
	struct err e;

	err_init(&e);
	if (https_multi_run(pm, hm == pm ? 100 : 10, &e) < 0)
		log_warn("hub cycle: %s", err_msg(&e));
	err_init(&e);
	if (hm != pm && https_multi_run(hm, 10, &e) < 0)
		log_warn("hub cycle: %s", err_msg(&e));
}

int
hubloop_cycle(struct hubloop *hl, struct err *err)
{
	struct err e;
	int rc = 0;

	/* A cycle in progress ends first; then a new one, to its end. */
	while (hl->cs != CYC_IDLE) {
		err_init(&e);
		cycle_wait(hl);
		(void) hubloop_tick(hl, 0, NULL, &e);
	}
	if (hubloop_tick(hl, 1, &rc, err) == HUBLOOP_ENDED)
		return rc;
	for (;;) {
		cycle_wait(hl);
		if (hubloop_tick(hl, 0, &rc, err) == HUBLOOP_ENDED)
			return rc;
	}
}
