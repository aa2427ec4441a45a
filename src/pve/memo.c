/*
 * pve memo — calls that never wait (issue 17, pve.h "passes").
 *
 * Every call of the client goes through pve_call(); inside a pass it
 * comes here.  The first time a scope's pass makes a request it is
 * queued on the client's https multi (the loop polls it) and the call
 * returns ERR_PENDING; the answer is kept under (scope, request) and
 * handed out when a later pass of that scope makes the same request
 * again.  Within one pass the n-th identical request is the n-th entry,
 * so a replayed sequence takes the same answers in the same order and
 * each request is sent exactly once, mutations included.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

struct pve_memo {
	char			*scope;
	char			*key;		/* METHOD url \n body */
	struct https_xfer	*x;		/* in flight, else NULL */
	uint64_t		 used;		/* pass that last took it */
	uint64_t		 gen;		/* cfg_gen when it left */
	int			 rc;		/* once answered */
	struct err		 err;
	struct https_response	 resp;
};

static void
entry_free(struct pve_memo *e)
{
	https_xfer_cancel(e->x);
	https_response_reset(&e->resp);
	free(e->scope);
	free(e->key);
}

/* Drops scope's entries; the rest keep their order. */
static void
sweep(struct pve_client *c, const char *scope)
{
	size_t i, o = 0;
	struct pve_memo *e, *nm;

	for (i = 0; i < c->nmemo; i++) {
		e = &c->memo[i];
		if (strcmp(e->scope, scope) == 0)
			entry_free(e);
		else
			c->memo[o++] = *e;
	}
	c->nmemo = o;
	/*
	 * Issue 15: observe's pass holds an entry per guest (~760 bytes
	 * each, ~150 KiB for 200 guests); the array is not kept at that
	 * size once they are gone.  A failed shrink keeps the larger one.
	 */
	if (o == 0) {
		free(c->memo);
		c->memo = NULL;
		c->amemo = 0;
	} else if (c->amemo > 16 && o < c->amemo / 4 &&
	    (nm = realloc(c->memo, o * 2 * sizeof(*nm))) != NULL) {
		c->memo = nm;
		c->amemo = o * 2;
	}
}

static char *
request_key(const struct https_request *req)
{
	size_t lm = strlen(req->method), lu = strlen(req->url);
	char *k;

	if ((k = malloc(lm + lu + req->body_len + 3)) == NULL)
		return NULL;
	memcpy(k, req->method, lm);
	k[lm] = ' ';
	memcpy(k + lm + 1, req->url, lu);
	k[lm + 1 + lu] = '\n';
	if (req->body_len > 0)
		memcpy(k + lm + 2 + lu, req->body, req->body_len);
	k[lm + 2 + lu + req->body_len] = '\0';
	return k;
}

/* The first entry of this request the current pass has not taken. */
static struct pve_memo *
find(struct pve_client *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->nmemo; i++)
		if (c->memo[i].used != c->pass &&
		    strcmp(c->memo[i].scope, c->scope) == 0 &&
		    strcmp(c->memo[i].key, key) == 0)
			return &c->memo[i];
	return NULL;
}

/*
 * The scope's mutation already out, other than key: every step of the
 * engine sends one at most, so a replay that would send a second one
 * has diverged from the pass that sent the first.
 */
static const struct pve_memo *
other_mutation(const struct pve_client *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->nmemo; i++)
		if (strcmp(c->memo[i].scope, c->scope) == 0 &&
		    strncmp(c->memo[i].key, "GET ", 4) != 0 &&
		    strcmp(c->memo[i].key, key) != 0)
			return &c->memo[i];
	return NULL;
}

static int
resp_copy(const struct https_response *src, struct https_response *dst,
    struct err *err)
{
	https_response_init(dst);
	dst->status = src->status;
	dst->retry_after_s = src->retry_after_s;
	memcpy(dst->reason, src->reason, sizeof(dst->reason));
	if ((dst->body = malloc(src->body_len + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	if (src->body_len > 0)
		memcpy(dst->body, src->body, src->body_len);
	dst->body[src->body_len] = '\0';
	dst->body_len = src->body_len;
	return 0;
}

static int
pending(struct pve_client *c, const char *method, const char *path,
    struct err *err)
{
	c->pass_pending = 1;
	return err_set(err, ERR_PENDING, "pve: %s %s: the answer is not "
	    "there yet", method, path);
}

int
pve_memo_call(struct pve_client *c, const struct https_request *req,
    const char *method, const char *path, struct https_response *resp,
    int *handled, struct err *err)
{
	struct pve_memo *e, *nm;
	char *key;
	int rc;

	*handled = 0;
	if (c->scope == NULL)
		return 0;
	*handled = 1;
	if ((key = request_key(req)) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	if ((e = find(c, key)) == NULL && strcmp(method, "GET") != 0 &&
	    other_mutation(c, key) != NULL) {
		/*
		 * Exactly once: never a second mutation while the first
		 * one's answer is kept.  Taken as a lost answer: the engine
		 * looks the first one's effect up.
		 */
		free(key);
		log_error("pve: %s %s: not sent: another request that changes "
		    "PVE left in this pass's scope (%s) and its answer is "
		    "kept", method, path, c->scope);
		c->fault.reason = PVE_E_OUTCOME_UNKNOWN;
		return err_setr(err, ERR_TIMEOUT, PVE_E_OUTCOME_UNKNOWN, 0,
		    "pve: %s %s: not sent while another change of %s is in "
		    "flight; its outcome is looked up", method, path,
		    c->scope);
	}
	if (e == NULL) {
		if (c->nmemo == c->amemo) {
			size_t na = c->amemo == 0 ? 8 : c->amemo * 2;

			if ((nm = realloc(c->memo, na * sizeof(*nm))) == NULL) {
				free(key);
				return err_set(err, ERR_NOMEM, "pve: out of "
				    "memory");
			}
			c->memo = nm;
			c->amemo = na;
		}
		e = &c->memo[c->nmemo];
		memset(e, 0, sizeof(*e));
		https_response_init(&e->resp);
		if ((e->scope = strdup(c->scope)) == NULL) {
			free(key);
			return err_set(err, ERR_NOMEM, "pve: out of memory");
		}
		e->key = key;
		/* Issue 15: a mutation makes cached configs stale. */
		if (strcmp(method, "GET") != 0)
			pve_config_changed(c);
		e->gen = c->cfg_gen;
		log_debug("pve: %s %s", method, path);
		if ((rc = https_submit(c->https, req, c->scope_prio, &e->x,
		    err)) != 0) {
			entry_free(e);
			return rc;
		}
		c->nmemo++;
		key = NULL;
	}
	free(key);
	e->used = c->pass;
	if (e->x != NULL) {
		if (!https_xfer_done(e->x))
			return pending(c, method, path, err);
		err_init(&e->err);
		e->rc = https_xfer_finish(e->x, &e->resp, &e->err);
		e->x = NULL;
		/* It applied at some point before its answer: stale again. */
		if (strcmp(method, "GET") != 0)
			pve_config_changed(c);
	}
	c->answer_gen = e->gen;
	if (e->rc != 0)
		return err_copy(err, &e->err);
	return resp_copy(&e->resp, resp, err);
}

int
pve_pass_begin(struct pve_client *c, const char *scope, enum https_prio prio,
    struct err *err)
{
	if (c->scope != NULL)
		return err_set(err, ERR_INTERNAL, "pve: pass %s begun inside "
		    "pass %s", scope, c->scope);
	if ((c->scope = strdup(scope)) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	c->scope_prio = prio;
	c->pass++;
	c->pass_pending = 0;
	return 0;
}

int
pve_pass_pending(const struct pve_client *c)
{
	return c->scope != NULL && c->pass_pending;
}

int
pve_pass_active(const struct pve_client *c)
{
	return c->scope != NULL;
}

int
pve_pass_end(struct pve_client *c)
{
	int p = c->pass_pending;

	if (c->scope == NULL)
		return 0;
	/*
	 * Complete: its answers were taken, the next pass asks anew.  Issue
	 * 15: the configs it read were cached one by one among its kept
	 * answers, now freed; moved into one block, as after a batch read,
	 * they keep none of those pages resident.
	 */
	if (!p) {
		sweep(c, c->scope);
		pve_config_compact(c);
	}
	free(c->scope);
	c->scope = NULL;
	c->pass_pending = 0;
	return p;
}

int
pve_memo_waiting(const struct pve_client *c, const char *scope)
{
	const struct pve_memo *e;
	size_t i;
	int flying = 0;

	for (i = 0; i < c->nmemo; i++) {
		e = &c->memo[i];
		if (e->x == NULL || strcmp(e->scope, scope) != 0)
			continue;
		if (https_xfer_done(e->x))
			return 0;	/* an answer to take */
		flying = 1;
	}
	return flying;
}

void
pve_memo_forget(struct pve_client *c, const char *scope)
{
	sweep(c, scope);
}

size_t
pve_memo_size(const struct pve_client *c)
{
	return c->nmemo;
}

void
pve_memo_free(struct pve_client *c)
{
	size_t i;

	for (i = 0; i < c->nmemo; i++)
		entry_free(&c->memo[i]);
	free(c->memo);
	c->memo = NULL;
	c->nmemo = c->amemo = 0;
	free(c->scope);
	c->scope = NULL;
}
