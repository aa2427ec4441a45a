/*
 * https xfer — the multi (one curl_multi_poll for every transfer of its
 * clients), the transfers' queue with the per-client cap and priorities,
 * and the blocking forms that wait by driving the multi (issue 17).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/err.h"
#include "base/log.h"
#include "net/https.h"
#include "net/https_int.h"

/* ---- the multi -------------------------------------------------------- */

/*
 * Issue 15: the pool keeps its connections.  libcurl's default cache is
 * 4 x the handles added, so it shrinks (closing connections) whenever a
 * fan-out ends; a fixed size large enough for every host's cap does not.
 */
#define HTTPS_MAXCONNECTS	64L

int
https_multi_new(const struct https_multi_options *opt,
    struct https_multi **out, struct err *err)
{
	struct https_multi *m;
	int rc;

	if ((rc = https_global_init(err)) != 0)
		return rc;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	m->wake_fd = opt != NULL ? opt->wake_fd : -1;
	if ((m->multi = curl_multi_init()) == NULL) {
		free(m);
		return err_set(err, ERR_NOMEM, "https: curl_multi_init failed");
	}
	(void) curl_multi_setopt(m->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_NOTHING);
	(void) curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS,
	    HTTPS_MAXCONNECTS);
	*out = m;
	return 0;
}

void
https_multi_free(struct https_multi *m)
{
	if (m == NULL)
		return;
	(void) curl_multi_cleanup(m->multi);
	free(m);
}

void
https_multi_set_wake_fd(struct https_multi *m, int fd)
{
	m->wake_fd = fd;
}

void
https_multi_set_barrier(struct https_multi *m, barrier_fn fn, void *ctx)
{
	m->barrier = fn;
	m->barrier_ctx = ctx;
}

uint64_t
https_multi_connects(const struct https_multi *m)
{
	return m != NULL ? m->connects : 0;
}

struct https_multi *
https_client_multi(const struct https_client *c)
{
	return c->m;
}

uint64_t
https_client_connects(const struct https_client *c)
{
	return c->connects;
}

/* ---- transfers -------------------------------------------------------- */

static struct https_slot *
pool_get(struct https_client *c, struct err *err)
{
	struct https_slot **ns, *s;
	size_t i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i]->x == NULL)
			return c->slots[i];
	if ((ns = realloc(c->slots, (c->nslots + 1) * sizeof(*ns))) == NULL) {
		(void) err_set(err, ERR_NOMEM, "https: out of memory");
		return NULL;
	}
	c->slots = ns;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		(void) err_set(err, ERR_NOMEM, "https: out of memory");
		return NULL;
	}
	s->c = c;
	if ((s->easy = curl_easy_init()) == NULL) {
		free(s);
		(void) err_set(err, ERR_NOMEM, "https: curl_easy_init failed");
		return NULL;
	}
	c->slots[c->nslots++] = s;
	return s;
}

static void
wipe_free(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static void
xfer_free(struct https_xfer *x)
{
	struct https_client *c = x->c;

	if (c != NULL) {
		if (x->prev != NULL)
			x->prev->next = x->next;
		else
			c->xfers = x->next;
		if (x->next != NULL)
			x->next->prev = x->prev;
	}
	free(x->method);
	free(x->url);
	wipe_free(x->auth);	/* secret */
	free(x->ctype);
	free(x->accept);
	free(x->inm);
	if (x->body != NULL) {
		explicit_bzero(x->body, x->req.body_len);
		free(x->body);
	}
	https_response_reset(&x->resp);
	free(x);
}

/* Releases x's slot (if running) and marks it done with code/reason. */
void
https_xfer_stop(struct https_xfer *x, int code, int reason, const char *why)
{
	struct https_client *c = x->c;
	struct https_slot *s = x->slot;

	if (s != NULL) {
		(void) curl_multi_remove_handle(c->m->multi, s->easy);
		https_slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->slot = NULL;
		c->running--;
	}
	https_response_reset(&x->resp);
	err_init(&x->err);
	x->rc = err_setr(&x->err, code, reason, 0, "https: %s %s: %s",
	    x->req.method, x->req.url, why);
	x->state = XFER_DONE;
}

static int
aborting(const struct https_client *c)
{
	return c->abort_flag != NULL && *c->abort_flag;
}

/* Starts x on a slot; on failure x is done with the reason. */
static void
xfer_start(struct https_client *c, struct https_xfer *x)
{
	struct https_slot *s;
	struct err err;
	CURLMcode mc;

	err_init(&err);
	if ((s = pool_get(c, &err)) == NULL) {
		x->rc = err_copy(&x->err, &err);
		x->state = XFER_DONE;
		return;
	}
	if ((x->rc = https_slot_setup(s, x, &x->err)) != 0) {
		https_slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->state = XFER_DONE;
		return;
	}
	if ((mc = curl_multi_add_handle(c->m->multi, s->easy)) != CURLM_OK) {
		https_slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->rc = err_set(&x->err, ERR_INTERNAL, "https: "
		    "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		x->state = XFER_DONE;
		return;
	}
	x->slot = s;
	x->state = XFER_RUNNING;
	c->running++;
}

/*
 * Starts queued transfers while the cap allows: HIGH first, each
 * priority in order; a LOW one never takes the last free place.
 */
static void
client_pump(struct https_client *c)
{
	struct https_xfer *x, *best;

	for (;;) {
		best = NULL;
		for (x = c->xfers; x != NULL; x = x->next) {
			if (x->state != XFER_QUEUED)
				continue;
			if (aborting(c)) {
				https_xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
				    "aborted (shutting down)");
				continue;
			}
			if (best == NULL || x->prio < best->prio ||
			    (x->prio == best->prio && x->order < best->order))
				best = x;
		}
		if (best == NULL)
			return;
		if (c->cap > 0 && (c->running >= c->cap ||
		    (best->prio == HTTPS_PRIO_LOW && c->cap > 1 &&
		    c->running + 1 >= c->cap)))
			return;
		xfer_start(c, best);
	}
}

static char *
dup_opt(const char *s, int *fail)
{
	return https_dup_or_null(s, fail);
}

int
https_submit(struct https_client *c, const struct https_request *req,
    enum https_prio prio, struct https_xfer **out, struct err *err)
{
	struct https_xfer *x;
	int fail = 0;

	if (req->method == NULL || req->url == NULL ||
	    strncmp(req->url, "https://", 8) != 0)
		return err_set(err, ERR_INVALID, "https: %s %s: only https:// "
		    "URLs are requested", req->method != NULL ? req->method :
		    "?", req->url != NULL ? req->url : "(null)");
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	x->method = dup_opt(req->method, &fail);
	x->url = dup_opt(req->url, &fail);
	x->auth = dup_opt(req->authorization, &fail);
	x->ctype = dup_opt(req->content_type, &fail);
	x->accept = dup_opt(req->accept, &fail);
	x->inm = dup_opt(req->if_none_match, &fail);
	if (!fail && req->body != NULL) {
		if ((x->body = malloc(req->body_len + 1)) == NULL)
			fail = 1;
		else
			memcpy(x->body, req->body, req->body_len);
	}
	x->req.method = x->method;
	x->req.url = x->url;
	x->req.authorization = x->auth;
	x->req.content_type = x->ctype;
	x->req.accept = x->accept;
	x->req.if_none_match = x->inm;
	x->req.body = x->body;
	x->req.body_len = req->body_len;
	https_response_init(&x->resp);
	err_init(&x->err);
	if (fail) {
		xfer_free(x);
		return err_set(err, ERR_NOMEM, "https: out of memory");
	}
	x->c = c;
	x->prio = prio < 0 || prio >= HTTPS_PRIO__COUNT ? HTTPS_PRIO_HIGH :
	    prio;
	x->order = c->order++;
	x->epoch = c->m->epoch;
	x->state = XFER_QUEUED;
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	client_pump(c);
	*out = x;
	return 0;
}

int
https_xfer_done(const struct https_xfer *x)
{
	return x->state == XFER_DONE;
}

int
https_xfer_finish(struct https_xfer *x, struct https_response *resp,
    struct err *err)
{
	struct https_client *c = x->c;
	int rc;

	if (x->state != XFER_DONE)
		https_xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED, "aborted "
		    "(cancelled)");
	rc = x->rc;
	if (rc != 0)
		(void) err_copy(err, &x->err);
	if (resp != NULL) {
		*resp = x->resp;
		https_response_init(&x->resp);
	}
	xfer_free(x);
	if (c != NULL)
		client_pump(c);
	return rc;
}

void
https_xfer_cancel(struct https_xfer *x)
{
	if (x != NULL)
		(void) https_xfer_finish(x, NULL, NULL);
}

/*
 * Write-ahead (base/barrier.h): before the multi moves, what the new
 * transfers carry out must be durable.  Those submitted since the last
 * drive have not touched the wire (curl does no I/O before
 * curl_multi_perform); if the barrier refuses, they end unsent, with
 * its error, and the transfers already under way go on.
 */
static void
barrier(struct https_multi *m)
{
	struct https_client *c;
	struct https_xfer *x;
	struct err be;

	if (m->barrier != NULL) {
		err_init(&be);
		if (m->barrier(m->barrier_ctx, &be) != 0)
			for (c = m->clients; c != NULL; c = c->mnext) {
				for (x = c->xfers; x != NULL; x = x->next)
					if (x->epoch == m->epoch &&
					    x->state != XFER_DONE)
						https_xfer_stop(x,
						    ERR_TRANSPORT,
						    HTTPS_R_ABORTED,
						    err_msg(&be));
				/* Older ones waiting for a slot take it. */
				client_pump(c);
			}
	}
	m->epoch++;
}

/* curl_multi_perform and the completions; the number completed. */
static int
multi_drive(struct https_multi *m, struct err *err)
{
	struct https_slot *s;
	struct https_xfer *x;
	struct https_client *c;
	CURLMcode mc;
	CURLMsg *msg;
	int running, left, n = 0;

	barrier(m);
	if ((mc = curl_multi_perform(m->multi, &running)) != CURLM_OK)
		return err_set(err, ERR_INTERNAL, "https: curl multi: %s",
		    curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &priv);
		s = (struct https_slot *)(void *)priv;
		x = s->x;
		c = s->c;
		(void) curl_multi_remove_handle(m->multi, msg->easy_handle);
		c->running--;
		if (x != NULL) {
			x->rc = https_slot_finish(s, msg->data.result, &x->err);
			x->slot = NULL;
			x->state = XFER_DONE;
		}
		s->x = NULL;
		s->resp = NULL;
		n++;
		client_pump(c);
	}
	return n;
}

int
https_multi_run(struct https_multi *m, long timeout_ms, struct err *err)
{
	struct curl_waitfd wfd;
	CURLMcode mc;
	char buf[64];
	int n;

	if ((n = multi_drive(m, err)) != 0 || timeout_ms <= 0)
		return n;
	memset(&wfd, 0, sizeof(wfd));
	wfd.fd = m->wake_fd;
	wfd.events = CURL_WAIT_POLLIN;
	if ((mc = curl_multi_poll(m->multi, m->wake_fd >= 0 ? &wfd : NULL,
	    m->wake_fd >= 0 ? 1 : 0, timeout_ms > INT32_MAX ? INT32_MAX :
	    (int)timeout_ms, NULL)) != CURLM_OK)
		return err_set(err, ERR_INTERNAL, "https: curl multi: %s",
		    curl_multi_strerror(mc));
	/* One read: it cannot block after POLLIN, whatever the fd's mode. */
	if (m->wake_fd >= 0 && (wfd.revents & CURL_WAIT_POLLIN) != 0)
		if (read(m->wake_fd, buf, sizeof(buf)) < 0)
			buf[0] = '\0';	/* EAGAIN: someone drained it */
	return multi_drive(m, err);
}

/* ---- blocking forms --------------------------------------------------- */

/*
 * Waits for x by driving the whole multi (other transfers move too);
 * the abort flag ends the wait within HTTPS_POLL_MS, or at once through
 * the wake fd.
 */
static void
xfer_wait(struct https_client *c, struct https_xfer *x)
{
	struct err err;

	while (x->state != XFER_DONE) {
		if (aborting(c)) {
			https_xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
			    "aborted (shutting down)");
			return;
		}
		err_init(&err);
		if (https_multi_run(c->m, HTTPS_POLL_MS, &err) < 0) {
			https_xfer_stop(x, ERR_INTERNAL, 0, err_msg(&err));
			return;
		}
	}
}

void
https_xfer_wait(struct https_xfer *x)
{
	if (x->c != NULL)
		xfer_wait(x->c, x);
}

int
https_do_many(struct https_client *c, const struct https_request *reqs,
    size_t n, size_t max_in_flight, struct https_response *resps, int *rcs,
    struct err *errs, struct err *err)
{
	struct https_xfer **xs;
	size_t next = 0, active = 0, i;
	struct err e;
	int rc;

	if (n == 0)
		return 0;
	if (max_in_flight == 0)
		max_in_flight = 1;
	if ((xs = calloc(n, sizeof(*xs))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	for (i = 0; i < n; i++)
		https_response_init(&resps[i]);
	for (;;) {
		while (active < max_in_flight && next < n) {
			if (aborting(c)) {
				rcs[next] = err_setr(&errs[next],
				    ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
				    "https: %s %s: aborted (shutting down)",
				    reqs[next].method, reqs[next].url);
				next++;
				continue;
			}
			if ((rcs[next] = https_submit(c, &reqs[next],
			    HTTPS_PRIO_HIGH, &xs[next], &errs[next])) == 0)
				active++;
			next++;
		}
		for (i = 0; i < next; i++) {
			if (xs[i] == NULL || !https_xfer_done(xs[i]))
				continue;
			rcs[i] = https_xfer_finish(xs[i], &resps[i], &errs[i]);
			xs[i] = NULL;
			active--;
		}
		if (active == 0 && next == n)
			break;
		/* A place came free: the next request starts now, not after
		 * a poll that has nothing in flight to wake it. */
		if (active < max_in_flight && next < n)
			continue;
		if (aborting(c)) {
			for (i = 0; i < next; i++)
				if (xs[i] != NULL)
					https_xfer_stop(xs[i], ERR_TRANSPORT,
					    HTTPS_R_ABORTED,
					    "aborted (shutting down)");
			continue;
		}
		err_init(&e);
		if ((rc = https_multi_run(c->m, HTTPS_POLL_MS, &e)) < 0) {
			for (i = 0; i < next; i++)
				if (xs[i] != NULL)
					https_xfer_stop(xs[i], ERR_INTERNAL, 0,
					    err_msg(&e));
			for (i = next; i < n; i++)
				rcs[i] = err_set(&errs[i], ERR_INTERNAL,
				    "https: %s %s: %s", reqs[i].method,
				    reqs[i].url, err_msg(&e));
			next = n;
			for (i = 0; i < n; i++)
				if (xs[i] != NULL) {
					rcs[i] = https_xfer_finish(xs[i],
					    &resps[i], &errs[i]);
					xs[i] = NULL;
				}
			free(xs);
			return err_copy(err, &e);
		}
	}
	free(xs);
	return 0;
}

int
https_do(struct https_client *c, const struct https_request *req,
    struct https_response *resp, struct err *err)
{
	struct https_xfer *x = NULL;
	int rc;

	https_response_init(resp);
	if (aborting(c))
		return err_setr(err, ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
		    "https: %s %s: aborted (shutting down)", req->method,
		    req->url);
	if ((rc = https_submit(c, req, HTTPS_PRIO_HIGH, &x, err)) != 0)
		return rc;
	xfer_wait(c, x);
	return https_xfer_finish(x, resp, err);
}
