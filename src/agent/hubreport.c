/*
 * hubreport — one report of the loop: its seq (blocks reserved ahead,
 * given back, kept in memory while the database cannot commit), the
 * degraded or minimal fallback, the envelope applied and the last report
 * kept for felhom-admin.  The cycle's state machine is hubloop.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
#include "hub/hub.h"
#include "store/db.h"
#include "store/kv.h"
#include "store/lastrep.h"

/* ---- one report ----------------------------------------------------- */

/* The envelope as the hub sent it (its known keys), for kv. */
static char *
envelope_text(const struct hub_envelope *env)
{
	json_t *o;
	char *s = NULL;

	if ((o = json_pack("{s:s,s:I}", "schema", HUB_SCHEMA_CONTROL,
	    "poll_interval_seconds", (json_int_t)env->poll_interval_s)) ==
	    NULL)
		return NULL;
	if ((env->has_blocked && json_object_set_new(o, "blocked",
	    json_boolean(env->blocked)) != 0) ||
	    (env->has_desired_generation && json_object_set_new(o,
	    "desired_generation", json_integer(env->desired_generation)) !=
	    0) ||
	    json_object_set_new(o, "has_signed_ops",
	    json_boolean(env->has_signed_ops)) != 0 ||
	    (env->has_audit_ack_seq && json_object_set_new(o, "audit_ack_seq",
	    json_integer(env->audit_ack_seq)) != 0))
		goto out;
	s = jsonx_dump(o);
out:
	json_decref(o);
	return s;
}

/*
 * The last report the hub took and its envelope, beside the database
 * felhom-admin report --last; issue 15: not a commit per cycle).
 * Best effort: a failure is logged once until a write succeeds again.
 */
static void
keep_last_report(struct hubloop *hl, int64_t seq, const char *body,
    const char *etext)
{
	struct err err;

	err_init(&err);
	if (lastrep_write(db_path(hl->d.db), seq, clock_now(hl->d.clock),
	    body, etext, &err) == 0) {
		hl->lastrep_failed = 0;
		return;
	}
	if (!hl->lastrep_failed)
		log_warn("hub: the last report could not be kept for "
		    "felhom-admin: %s", err_msg(&err));
	hl->lastrep_failed = 1;
}

/*
 * Persists the envelope's effects in one transaction — each value only
 * when it changed (kv_set), so a steady cycle commits nothing — then
 * keeps the report (body) and envelope as the last sent.
 */
static int
apply_envelope(struct hubloop *hl, const struct hub_envelope *env,
    int64_t seq, int64_t sent_max_seq, const char *body, struct err *err)
{
	int64_t ack, limit, interval_ms;
	int rc, blocked = hl->st.blocked;
	char *etext;

	interval_ms = hubloop_clamp_interval_ms(&hl->p, env->poll_interval_s);
	if (env->has_blocked)
		blocked = env->blocked;
	if ((etext = envelope_text(env)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	keep_last_report(hl, seq, body, etext);
	free(etext);
	if ((rc = db_begin(hl->d.db, err)) != 0)
		return rc;
	if ((rc = kv_get_int(hl->d.db, KV_AUDIT_ACK_SEQ, 0, &ack, err)) != 0)
		goto fail;
	if (env->has_audit_ack_seq) {
		/*
		 * Never past what this report carried or was acked before:
		 * events appended meanwhile were not delivered.
		 */
		limit = sent_max_seq > ack ? sent_max_seq : ack;
		ack = env->audit_ack_seq < limit ? env->audit_ack_seq : limit;
	}
	if ((rc = kv_set_int(hl->d.db, KV_HUB_BLOCKED, blocked, err)) != 0 ||
	    (rc = kv_set_int(hl->d.db, KV_POLL_INTERVAL, interval_ms / 1000,
	    err)) != 0 ||
	    (rc = kv_set_int(hl->d.db, KV_AUDIT_ACK_SEQ, ack, err)) != 0 ||
	    (rc = db_commit(hl->d.db, err)) != 0)
		goto fail;
	if (blocked != hl->st.blocked) {
		if (blocked)
			log_warn("hub: this host is blocked: no mutation until "
			    "the hub lifts it (reporting goes on)");
		else
			log_info("hub: block lifted");
	}
	hl->st.blocked = blocked;
	hl->st.interval_ms = interval_ms;
	return 0;
fail:
	db_rollback(hl->d.db);
	return rc;
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/*
 * The next seq (hub-contract: strictly increasing across restarts).
 * Taken from the block this loop reserved while the stored mark is still
 * its own — no write; otherwise a new block of `block` seqs past every
 * seq stored, taken or sent is reserved: its last seq committed as
 * report_seq before any of them is sent.
 */
static int
next_seq(struct hubloop *hl, int64_t block, int64_t *seq, struct err *err)
{
	int64_t stored, next;
	int rc;

	next = max64(max64(hl->seq_last, hl->seq_mem), hl->st.last_seq) + 1;
	if ((rc = kv_get_int(hl->d.db, KV_REPORT_SEQ, 0, &stored, err)) != 0)
		return rc;
	if (hl->seq_hwm > 0 && stored == hl->seq_hwm && next <= hl->seq_hwm) {
		*seq = hl->seq_last = next;
		return 0;
	}
	if ((rc = db_begin(hl->d.db, err)) != 0)
		return rc;
	/* Read again under the write lock: another writer may have moved it. */
	if ((rc = kv_get_int(hl->d.db, KV_REPORT_SEQ, 0, &stored, err)) != 0)
		goto fail;
	/* Past every seq sent while the database could not commit, too. */
	next = max64(next, stored + 1);
	if ((rc = kv_set_int(hl->d.db, KV_REPORT_SEQ, next + (block > 1 ?
	    block : 1) - 1, err)) != 0)
		goto fail;
	if ((rc = db_commit(hl->d.db, err)) != 0)
		goto fail;
	hl->seq_hwm = next + (block > 1 ? block : 1) - 1;
	*seq = hl->seq_last = next;
	return 0;
fail:
	db_rollback(hl->d.db);
	return rc;
}

/*
 * The seq of a report sent while the database cannot commit (v1.1):
 * kept in memory, past every seq taken — stored (reading still works
 * when writing does not) or sent — and the next committed one jumps
 * past it (next_seq).
 */
static int64_t
seq_in_memory(struct hubloop *hl)
{
	int64_t stored = 0;

	if (kv_get_int(hl->d.db, KV_REPORT_SEQ, 0, &stored, NULL) != 0)
		stored = 0;
	hl->seq_mem = max64(max64(hl->seq_mem, stored), max64(hl->seq_last,
	    hl->st.last_seq));
	return ++hl->seq_mem;
}

/*
 * The hub certainly does not have seq: give it back, unless a newer one
 * was taken meanwhile (then it stays a gap, which the contract allows).
 * Inside a reserved block that is memory only; the block's last seq is
 * given back in the database too (the stored mark moves back one).
 */
static int
give_back_seq(struct hubloop *hl, int64_t seq)
{
	int swapped = 0;

	if (seq != hl->seq_last)
		return 0;
	if (seq < hl->seq_hwm) {
		hl->seq_last--;
		return 1;
	}
	if (db_begin(hl->d.db, NULL) != 0)
		return 0;
	if (kv_cas_int(hl->d.db, KV_REPORT_SEQ, seq, seq - 1, &swapped,
	    NULL) != 0 || db_commit(hl->d.db, NULL) != 0) {
		db_rollback(hl->d.db);
		return 0;
	}
	if (swapped)
		hl->seq_hwm = hl->seq_last = seq - 1;
	return swapped;
}

/*
 * A clean stop: the unused rest of the reserved block given back (the
 * stored mark back to the last seq taken), so only a crash leaves a gap.
 */
void
seq_release(struct hubloop *hl)
{
	int swapped = 0;

	if (hl->seq_hwm <= 0 || hl->seq_last >= hl->seq_hwm)
		return;
	if (db_begin(hl->d.db, NULL) != 0)
		return;
	if (kv_cas_int(hl->d.db, KV_REPORT_SEQ, hl->seq_hwm, max64(
	    hl->seq_last, hl->seq_mem), &swapped, NULL) != 0 ||
	    db_commit(hl->d.db, NULL) != 0)
		db_rollback(hl->d.db);
}

/*
 * A report that could not be collected: with degrade (the loop; not the
 * self-test) and a cause the heartbeat can name, the minimal report
 * instead (hub-contract v1.1): info->degraded, the cause in info->cause.
 * cerr is the collection's failure.  Returns 0 when there is a report.
 */
int
report_fallback(struct hubloop *hl, int degrade, int crc,
    const struct err *cerr, struct hubloop_report_info *info,
    struct err *err)
{
	int rc;

	hl->st.collect_failed++;
	info->collect_failed = 1;
	(void) err_copy(&info->cause, cerr);
	if (!degrade || heartbeat_cause_of(&info->cause) == NULL) {
		(void) err_copy(err, cerr);
		return crc;
	}
	if ((rc = collect_minimal(hl->d.collect, &info->report,
	    &info->stats, err)) != 0)
		return rc;
	info->degraded = 1;
	return 0;
}

/*
 * After a built (or minimal) report: its seq taken and committed — or,
 * with degrade when the database cannot commit, kept in memory — its
 * agent.health set, *body its text.
 */
int
report_prepare(struct hubloop *hl, int degrade,
    struct hubloop_report_info *info, char **body, struct err *err)
{
	const char *cause = info->degraded ?
	    heartbeat_cause_of(&info->cause) : NULL;
	struct err serr;
	int rc;

	info->built = 1;
	err_init(&serr);
	if ((rc = next_seq(hl, degrade ? hl->p.seq_block : 1, &info->seq,
	    &serr)) != 0) {
		if (!degrade || !heartbeat_db_cannot_commit(&serr))
			return err_copy(err, &serr);
		info->seq = seq_in_memory(hl);
		info->seq_in_memory = 1;
		if (!info->degraded) {
			(void) err_copy(&info->cause, &serr);
			cause = heartbeat_cause_of(&serr);
			info->degraded = 1;
		}
	} else if (degrade && !info->degraded &&
	    (heartbeat_probe_db(db_path(hl->d.db), &serr) != 0 ||
	    db_probe_write(hl->d.db, &serr) != 0)) {
		/*
		 * A seq from the block: nothing committed, so asked — the
		 * file system (full, read-only), then the write lock
		 * (busy: taken and given back, nothing written).
		 */
		(void) err_copy(&info->cause, &serr);
		cause = heartbeat_cause_of(&serr);
		info->degraded = 1;
		info->db_unwritable = 1;
	}
	if (info->degraded)
		heartbeat_degraded(&hl->hb, cause, err_msg(&info->cause),
		    clock_now(hl->d.clock));
	else
		heartbeat_ok(&hl->hb);
	if ((rc = heartbeat_apply(&hl->hb, info->report, err)) != 0)
		return rc;
	if (json_object_set_new(info->report, "seq",
	    json_integer(info->seq)) != 0 ||
	    (*body = jsonx_dump(info->report)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	info->bytes = strlen(*body);
	return 0;
}

/*
 * After POST /report answered (rc, err): the seq given back when the hub
 * certainly does not have it, else the envelope applied.  With degrade,
 * an envelope the database cannot keep is held in memory and the report
 * counts as degraded.  Returns 0 when the hub took the report.
 */
int
report_posted(struct hubloop *hl, int degrade,
    struct hubloop_report_info *info, const char *body, int rc,
    struct err *err)
{
	struct err serr;

	info->delivery = hub_last_delivery(hl->d.hub);
	if (rc != 0) {
		if (info->delivery == HUB_DELIVERY_NONE) {
			if (!info->seq_in_memory)
				info->seq_returned = give_back_seq(hl,
				    info->seq);
			else if (hl->seq_mem == info->seq)
				hl->seq_mem--;
		}
		return rc;
	}
	hl->st.last_seq = info->seq;
	crash_point("hub.mid_report");
	err_init(&serr);
	rc = apply_envelope(hl, &info->env, info->seq,
	    info->stats.audit_max_seq, body, &serr);
	if (rc != 0 && degrade && heartbeat_db_cannot_commit(&serr)) {
		/*
		 * The hub took the report; its answer cannot be kept.  Held
		 * in memory until it can: a block holds at once.
		 */
		if (info->env.has_blocked)
			hl->st.blocked = info->env.blocked;
		hl->st.interval_ms = hubloop_clamp_interval_ms(&hl->p,
		    info->env.poll_interval_s);
		if (!info->degraded) {
			(void) err_copy(&info->cause, &serr);
			info->degraded = 1;
			/* The next report says so, unless it is healthy. */
			heartbeat_degraded(&hl->hb, heartbeat_cause_of(&serr),
			    err_msg(&serr), clock_now(hl->d.clock));
		}
		return 0;
	}
	if (rc != 0)
		return err_copy(err, &serr);
	return 0;
}

int
hubloop_report_once(struct hubloop *hl, struct hubloop_report_info *info,
    struct err *err)
{
	struct err cerr;
	char *body = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	err_init(&info->cause);
	if (!hl->d.cfg->hub_on)
		return err_set(err, ERR_CONFIG, "hub.mode is \"off\": there is "
		    "no hub to report to");
	err_init(&cerr);
	if ((rc = collect_report(hl->d.collect, &info->report, &info->stats,
	    &cerr)) != 0 &&
	    (rc = report_fallback(hl, 0, rc, &cerr, info, err)) != 0)
		return rc;
	if ((rc = report_prepare(hl, 0, info, &body, err)) != 0) {
		free(body);
		return rc;
	}
	rc = hub_post_report(hl->d.hub, body, info->bytes, &info->env, err);
	rc = report_posted(hl, 0, info, body, rc, err);
	free(body);
	return rc;
}
