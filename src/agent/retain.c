/*
 * retain — the retention move from the loop's idle time (issue 15).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/retain.h"
#include "base/clock.h"
#include "base/log.h"
#include "store/archive.h"
#include "store/kv.h"

/* One line for a move: its totals, its steps and the longest one. */
static void
retain_log(const struct retain *r, const struct config *cfg,
    const char *what)
{
	log_info("retention: %zu op(s), %zu journal and %zu audit row(s) "
	    "older than %ld days %s to %s (%zu step(s), the longest %" PRId64
	    " ms)", r->ops, r->journal, r->audit, cfg->retention_days, what,
	    r->file, r->steps, r->longest_ms);
}

int64_t
retain_tick(struct retain *r, struct db *db, const struct config *cfg,
    int64_t mono_ms, int64_t now)
{
	struct archive_result res;
	struct err err;
	int64_t upto = INT64_MAX, t0, took;

	if (r->due_ms > mono_ms)
		return r->due_ms - mono_ms;
	err_init(&err);
	/* With a hub, only what it has acked (hub-contract audit_ack_seq). */
	if (cfg->hub_on && kv_get_int(db, KV_AUDIT_ACK_SEQ, 0, &upto,
	    &err) != 0)
		goto failed;
	t0 = clock_mono_ms(NULL);
	if (archive_step(db, now, now - (int64_t)cfg->retention_days * 86400,
	    upto, ARCHIVE_BATCH, &res, &err) != 0)
		goto failed;
	took = clock_mono_ms(NULL) - t0;
	r->failing = 0;
	if (res.ops == 0 && res.audit == 0) {
		if (r->steps > 0)
			retain_log(r, cfg, "moved");
		r->ops = r->journal = r->audit = r->steps = 0;
		r->longest_ms = 0;
		r->due_ms = mono_ms + RETAIN_IDLE_MS;
		return RETAIN_IDLE_MS;
	}
	if (r->steps == 0)
		r->logged_ms = mono_ms;
	r->ops += res.ops;
	r->journal += res.journal;
	r->audit += res.audit;
	r->steps++;
	if (took > r->longest_ms)
		r->longest_ms = took;
	(void) snprintf(r->file, sizeof(r->file), "%s", res.file);
	if (mono_ms - r->logged_ms >= RETAIN_PROGRESS_MS) {
		retain_log(r, cfg, "moved so far");
		r->logged_ms = mono_ms;
	}
	r->due_ms = mono_ms + RETAIN_BUSY_MS;
	return RETAIN_BUSY_MS;
failed:
	if (!r->failing)
		log_warn("retention: %s; nothing lost, trying again in %d s",
		    err_msg(&err), RETAIN_IDLE_MS / 1000);
	r->failing = 1;
	r->due_ms = mono_ms + RETAIN_IDLE_MS;
	return RETAIN_IDLE_MS;
}
