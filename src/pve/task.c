/*
 * pve task — task polls and verdicts.
 *
 * pve_task_status_once() is the engine's tool (one poll, no waiting);
 * pve_wait_task() blocks with a bounded, backed-off poll and is for the
 * self-tests and tools only.  Success is `stopped` with exit status OK,
 * or WARNINGS: n (success with warnings).  Authorization can fail inside
 * the worker (vzdump checks VM.Backup there, §5.10), so a failed task's
 * log is scanned for the privilege it names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/err.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

#define TASK_LOG_SCAN_LINES	500

int
pve_task_status_once(struct pve_client *c, const char *upid,
    struct pve_task_status *out, struct err *err)
{
	struct upid u;
	json_t *root = NULL;
	char *path = NULL, *enc = NULL;
	int rc;

	pve_fault_clear(c);
	if ((rc = upid_parse_str(upid, &u, err)) != 0)
		return rc;
	if ((enc = pve_pct_encode(upid)) == NULL ||
	    pve_asprintf(&path, "/nodes/%s/tasks/%s/status", u.node,
	    enc) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	if ((rc = pve_call(c, "GET", path, NULL, NULL, &root, err)) != 0)
		goto out;
	if ((rc = pve_parse_task_status(pve_data(root), out, err)) != 0) {
		c->fault.reason = PVE_E_PROTOCOL;
		(void) err_prefix(err, "pve: GET %s: ", path);
	} else if (!out->running)
		/* Issue 15: its worker changed the config as it ended. */
		pve_config_changed(c);
out:
	json_decref(root);
	free(enc);
	free(path);
	return rc;
}

/* Scans the task log for a permission failure; 1 when one was named. */
static int
scan_log(struct pve_client *c, const char *upid, struct pve_fault *f)
{
	struct pve_task_log log;
	struct pve_fault saved = c->fault;
	size_t i;
	int found = 0;

	memset(&log, 0, sizeof(log));
	if (pve_task_log(c, upid, 0, TASK_LOG_SCAN_LINES, &log, NULL) == 0) {
		for (i = 0; i < log.n && !found; i++)
			found = pve_scan_permission(log.lines[i].t, f);
	}
	pve_task_log_reset(&log);
	c->fault = saved;
	return found;
}

int
pve_task_verdict(struct pve_client *c, const struct pve_task_status *st,
    struct err *err)
{
	struct pve_fault f;
	char what[160];

	if (st->running || st->state == PVE_TASK_RUNNING)
		return err_set(err, ERR_INVALID, "pve: task %s is still "
		    "running; no verdict yet", st->upid_str);
	if (st->state == PVE_TASK_OK || st->state == PVE_TASK_WARNINGS)
		return 0;
	memset(&f, 0, sizeof(f));
	f.reason = PVE_E_TASK_FAILED;
	(void) snprintf(f.upid, sizeof(f.upid), "%s", st->upid_str);
	err_escape(f.exitstatus, sizeof(f.exitstatus),
	    st->exitstatus != NULL ? st->exitstatus : "unexpected status",
	    strlen(st->exitstatus != NULL ? st->exitstatus :
	    "unexpected status"));
	(void) snprintf(f.message, sizeof(f.message), "%s", f.exitstatus);
	if (st->exitstatus != NULL) {
		const char *p = strstr(st->exitstatus, " is locked (");

		if (p != NULL) {
			const char *q;

			p += strlen(" is locked (");
			if ((q = strchr(p, ')')) != NULL)
				err_escape(f.lock, sizeof(f.lock), p,
				    (size_t)(q - p));
		}
	}
	(void) snprintf(what, sizeof(what), "%s%s%s", st->upid.type,
	    st->upid.id[0] != '\0' ? " " : "", st->upid.id);
	/* name the privilege when the log says so. */
	if (!pve_scan_permission(st->exitstatus, &f))
		(void) scan_log(c, st->upid_str, &f);
	c->fault = f;
	if (f.privilege[0] != '\0')
		return err_setr(err, ERR_TASK, PVE_E_TASK_FAILED, 0,
		    "pve: task %s failed: %s (missing privilege %s on %s)",
		    what, f.exitstatus, f.privilege, f.path);
	return err_setr(err, ERR_TASK, PVE_E_TASK_FAILED, 0, "pve: task %s "
	    "failed: %s", what, f.exitstatus);
}

/* Sleeps ms, in slices so the abort flag is honoured quickly. */
static int
nap(struct pve_client *c, long ms)
{
	struct timespec ts;
	long slice;

	while (ms > 0) {
		if (c->abort_flag != NULL && *c->abort_flag)
			return -1;
		slice = ms > 100 ? 100 : ms;
		ts.tv_sec = 0;
		ts.tv_nsec = slice * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			if (c->abort_flag != NULL && *c->abort_flag)
				return -1;
		ms -= slice;
	}
	return 0;
}

int
pve_wait_task(struct pve_client *c, const char *upid,
    const struct pve_wait_options *o, struct pve_task_status *out,
    struct err *err)
{
	const struct clock *clk = clock_system();
	struct pve_task_status st;
	long timeout = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : 300000;
	long interval = o != NULL && o->first_ms > 0 ? o->first_ms : 100;
	long ceiling = o != NULL && o->max_ms > 0 ? o->max_ms : 2000;
	int64_t deadline = clock_mono_ms(clk) + timeout, left;
	int rc;

	memset(&st, 0, sizeof(st));
	for (;;) {
		pve_task_status_reset(&st);
		if ((rc = pve_task_status_once(c, upid, &st, err)) != 0)
			goto out;
		if (!st.running)
			break;
		left = deadline - clock_mono_ms(clk);
		if (left <= 0) {
			c->fault.reason = PVE_E_TASK_TIMEOUT;
			(void) snprintf(c->fault.upid, sizeof(c->fault.upid),
			    "%s", upid);
			rc = err_setr(err, ERR_TIMEOUT, PVE_E_TASK_TIMEOUT, 0,
			    "pve: task %s still running after %ld ms", upid,
			    timeout);
			goto out;
		}
		if (nap(c, interval < left ? interval : (long)left) != 0) {
			rc = err_setr(err, ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
			    "pve: waiting for task %s: aborted (shutting "
			    "down)", upid);
			goto out;
		}
		interval = interval * 3 / 2;
		if (interval > ceiling)
			interval = ceiling;
	}
	if ((rc = pve_task_verdict(c, &st, err)) != 0)
		goto out;
	if (out != NULL) {
		*out = st;
		memset(&st, 0, sizeof(st));
	}
	rc = 0;
out:
	pve_task_status_reset(&st);
	return rc;
}
