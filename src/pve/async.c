/*
 * pve async — reads as asynchronous requests on the client's https
 * multi (issue 17: the report's collection never blocks the loop), and
 * the config cache the report and the reconcile share (issue 15: a
 * guest's config is read at most once a PVE_CONFIG_TTL_MS).
 *
 * The cache is invalidated as a whole whenever something may have
 * changed a config: a mutation sent through this client, a task seen
 * ending (its worker changed the config when it ended), or
 * pve_config_changed() (the privileged helper's changes).  An answer is
 * cached only when no such change happened while it was in flight.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

struct pve_req {
	struct https_xfer	*x;
	enum pve_read_kind	 kind;
	long			 vmid;		/* PVE_READ_LXC_CONFIG */
	uint64_t		 gen;		/* cfg_gen at submit */
	char			*path;		/* for messages */
};

/* The path and query of a read; ERR_INVALID for bad arguments. */
static int
read_path(enum pve_read_kind kind, const struct pve_read_args *a,
    char **path, char **query, struct err *err)
{
	struct pve_param p[1];
	int rc;

	*path = *query = NULL;
	if (kind != PVE_READ_VERSION && kind != PVE_READ_STORAGE_CFGS &&
	    (rc = pve_check_node(a->node, err)) != 0)
		return rc;
	switch (kind) {
	case PVE_READ_VERSION:
		rc = pve_asprintf(path, "/version");
		break;
	case PVE_READ_NODE_STATUS:
		rc = pve_asprintf(path, "/nodes/%s/status", a->node);
		break;
	case PVE_READ_LXC_LIST:
		rc = pve_asprintf(path, "/nodes/%s/lxc", a->node);
		break;
	case PVE_READ_LXC_CONFIG:
		if ((rc = pve_check_vmid(a->vmid, err)) != 0)
			return rc;
		rc = pve_asprintf(path, "/nodes/%s/lxc/%ld/config", a->node,
		    a->vmid);
		break;
	case PVE_READ_STORAGES:
		rc = pve_asprintf(path, "/nodes/%s/storage", a->node);
		break;
	case PVE_READ_BACKUPS:
		if ((rc = pve_check_storage(a->storage, err)) != 0)
			return rc;
		if ((rc = pve_asprintf(path, "/nodes/%s/storage/%s/content",
		    a->node, a->storage)) == 0)
			rc = pve_asprintf(query, "content=backup");
		break;
	case PVE_READ_STORAGE_CFGS:
		if (a->type != NULL && (rc = pve_check_storage(a->type,
		    err)) != 0)
			return rc;
		p[0].key = "type";
		p[0].value = a->type;
		if ((rc = pve_asprintf(path, "/storage")) == 0)
			rc = pve_form_encode(p, a->type != NULL ? 1 : 0, query,
			    err);
		break;
	default:
		return err_set(err, ERR_INVALID, "pve: unknown read %d",
		    (int)kind);
	}
	if (rc != 0) {
		free(*path);
		free(*query);
		*path = *query = NULL;
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	}
	return 0;
}

int
pve_read_submit(struct pve_client *c, enum pve_read_kind kind,
    const struct pve_read_args *a, enum https_prio prio,
    struct pve_req **out, struct err *err)
{
	struct https_request req;
	struct pve_req *r;
	char *query = NULL, *url = NULL;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	r->kind = kind;
	r->vmid = a->vmid;
	r->gen = c->cfg_gen;
	if ((rc = read_path(kind, a, &r->path, &query, err)) != 0 ||
	    (rc = pve_build_url(c, r->path, query, &url, err)) != 0)
		goto fail;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.authorization = c->auth;
	log_debug("pve: GET %s (async)", r->path);
	if ((rc = https_submit(c->https, &req, prio, &r->x, err)) != 0)
		goto fail;
	free(query);
	free(url);
	*out = r;
	return 0;
fail:
	free(query);
	free(url);
	free(r->path);
	free(r);
	return rc;
}

int
pve_req_done(const struct pve_req *r)
{
	return https_xfer_done(r->x);
}

void
pve_req_cancel(struct pve_req *r)
{
	if (r == NULL)
		return;
	https_xfer_cancel(r->x);
	free(r->path);
	free(r);
}

static int
parse_kind(enum pve_read_kind kind, json_t *data, void *out, struct err *err)
{
	switch (kind) {
	case PVE_READ_VERSION:
		return pve_parse_version(data, out, err);
	case PVE_READ_NODE_STATUS:
		return pve_parse_node_status(data, out, err);
	case PVE_READ_LXC_LIST:
		return pve_parse_guests(data, out, err);
	case PVE_READ_LXC_CONFIG:
		return pve_parse_lxc_config(data, out, err);
	case PVE_READ_STORAGES:
		return pve_parse_storages(data, out, err);
	case PVE_READ_BACKUPS:
		return pve_parse_backups(data, out, err);
	case PVE_READ_STORAGE_CFGS:
		return pve_parse_storage_cfgs(data, out, err);
	default:
		return err_set(err, ERR_INVALID, "pve: unknown read %d",
		    (int)kind);
	}
}

int
pve_read_finish(struct pve_client *c, struct pve_req *r, void *out,
    struct err *err)
{
	struct https_response resp;
	json_t *root = NULL;
	int rc;

	https_response_init(&resp);
	rc = https_xfer_finish(r->x, &resp, err);
	r->x = NULL;
	if (rc != 0)
		goto out;
	if ((rc = pve_answer(c, "GET", r->path, &resp, NULL, &root,
	    err)) != 0)
		goto out;
	if ((rc = parse_kind(r->kind, pve_data(root), out, err)) != 0) {
		(void) err_prefix(err, "pve: GET %s: ", r->path);
		goto out;
	}
	if (r->kind == PVE_READ_LXC_CONFIG) {
		c->config_reads++;
		pve_config_store(c, r->vmid, r->gen, pve_data(root));
	}
out:
	json_decref(root);
	https_response_reset(&resp);
	free(r->path);
	free(r);
	return rc;
}

/* ---- the config cache ------------------------------------------------ */

/* Frees a cached text unless it lives in the pool. */
static void
text_free(const struct pve_client *c, char *t)
{
	uintptr_t p = (uintptr_t)t, lo = (uintptr_t)c->cache_pool;

	if (c->cache_pool != NULL && p >= lo && p < lo + c->cache_pool_len)
		return;
	free(t);
}

void
pve_config_changed(struct pve_client *c)
{
	size_t i;

	c->cfg_gen++;
	for (i = 0; i < c->ncache; i++)
		text_free(c, c->cache[i].text);
	c->ncache = 0;
	free(c->cache_pool);
	c->cache_pool = NULL;
	c->cache_pool_len = 0;
}

void
pve_config_compact(struct pve_client *c)
{
	uintptr_t lo = (uintptr_t)c->cache_pool, p;
	size_t len = 0, at = 0, loose = 0, i;
	char *pool;

	for (i = 0; i < c->ncache; i++) {
		len += c->cache[i].len + 1;
		p = (uintptr_t)c->cache[i].text;
		loose += c->cache_pool == NULL || p < lo ||
		    p >= lo + c->cache_pool_len;
	}
	/* Nothing new, and the pool not much larger than what it holds. */
	if (loose == 0 && c->cache_pool_len <= 2 * len)
		return;
	if (len == 0) {
		free(c->cache_pool);
		c->cache_pool = NULL;
		c->cache_pool_len = 0;
		return;
	}
	if ((pool = malloc(len)) == NULL)
		return;
	for (i = 0; i < c->ncache; i++) {
		memcpy(pool + at, c->cache[i].text, c->cache[i].len + 1);
		text_free(c, c->cache[i].text);
		c->cache[i].text = pool + at;
		at += c->cache[i].len + 1;
	}
	free(c->cache_pool);
	c->cache_pool = pool;
	c->cache_pool_len = len;
}

static struct pve_cached *
cache_find(struct pve_client *c, long vmid)
{
	size_t i;

	for (i = 0; i < c->ncache; i++)
		if (c->cache[i].vmid == vmid)
			return &c->cache[i];
	return NULL;
}

void
pve_config_store(struct pve_client *c, long vmid, uint64_t gen, json_t *data)
{
	struct pve_cached *e, *nc;
	char *text;

	/* A change while the answer was in flight: it may be older. */
	if (gen != c->cfg_gen || data == NULL)
		return;
	/* Insertion order kept: parsed again, it is the same object. */
	if ((text = json_dumps(data, JSON_COMPACT)) == NULL)
		return;			/* not cached: read again */
	if ((e = cache_find(c, vmid)) == NULL) {
		if (c->ncache == c->acache) {
			size_t na = c->acache == 0 ? 16 : c->acache * 2;

			if ((nc = realloc(c->cache, na * sizeof(*nc))) ==
			    NULL) {
				free(text);
				return;		/* not cached: read again */
			}
			c->cache = nc;
			c->acache = na;
		}
		e = &c->cache[c->ncache++];
		e->vmid = vmid;
		e->text = NULL;
	}
	text_free(c, e->text);
	e->text = text;
	e->len = strlen(text);
	e->at_ms = clock_mono_ms(NULL);
}

int
pve_config_cached(struct pve_client *c, long vmid,
    struct pve_lxc_config *out)
{
	struct pve_cached *e = cache_find(c, vmid);
	struct err err;
	json_t *data;
	int rc;

	if (e == NULL || clock_mono_ms(NULL) - e->at_ms >= c->config_ttl_ms)
		return 0;
	/* Out of memory here: not served, read again. */
	if ((data = json_loadb(e->text, e->len, 0, NULL)) == NULL)
		return 0;
	err_init(&err);
	memset(out, 0, sizeof(*out));
	rc = pve_parse_lxc_config(data, out, &err);
	json_decref(data);		/* out->raw holds its own reference */
	if (rc != 0)
		return 0;
	c->config_hits++;
	return 1;
}

void
pve_config_forget(struct pve_client *c, const long *keep, size_t n)
{
	size_t i, j, o = 0;
	int kept;

	for (i = 0; i < c->ncache; i++) {
		kept = 0;
		for (j = 0; j < n && !kept; j++)
			kept = keep[j] == c->cache[i].vmid;
		if (kept)
			c->cache[o++] = c->cache[i];
		else
			text_free(c, c->cache[i].text);
	}
	c->ncache = o;
	pve_config_compact(c);
}

void
pve_client_stats(const struct pve_client *c, struct pve_client_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->config_reads = c->config_reads;
	st->config_hits = c->config_hits;
	st->connects = https_client_connects(c->https);
}

struct https_multi *
pve_client_multi(const struct pve_client *c)
{
	return https_client_multi(c->https);
}
