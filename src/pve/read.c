/*
 * pve read — the typed GETs: one HTTP call each, then the parser
 * of parse.c; plus the concurrent config fetch the collector uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

typedef int (*parse_data_fn)(json_t *data, void *out, struct err *err);

/*
 * GET path?query and feed "data" (or the whole envelope when `whole`) to
 * parse.  A shape error is ERR_FORMAT prefixed with the request.
 */
static int
get_parsed(struct pve_client *c, const char *path, const char *query,
    int whole, parse_data_fn parse, void *out, struct err *err)
{
	json_t *root = NULL;
	int rc;

	if ((rc = pve_call(c, "GET", path, query, NULL, &root, err)) != 0)
		goto out;
	if ((rc = parse(whole ? root : pve_data(root), out, err)) != 0) {
		c->fault.reason = PVE_E_PROTOCOL;
		(void) err_prefix(err, "pve: GET %s: ", path);
	}
out:
	json_decref(root);
	return rc;
}

/* Adapters from the typed parsers to parse_data_fn. */
static int
p_version(json_t *d, void *o, struct err *e)
{
	return pve_parse_version(d, o, e);
}

static int
p_nodes(json_t *d, void *o, struct err *e)
{
	return pve_parse_nodes(d, o, e);
}

static int
p_node_status(json_t *d, void *o, struct err *e)
{
	return pve_parse_node_status(d, o, e);
}

static int
p_guests(json_t *d, void *o, struct err *e)
{
	return pve_parse_guests(d, o, e);
}

static int
p_guest_status(json_t *d, void *o, struct err *e)
{
	return pve_parse_guest_status(d, o, e);
}

static int
p_lxc_config(json_t *d, void *o, struct err *e)
{
	return pve_parse_lxc_config(d, o, e);
}

static int
p_storages(json_t *d, void *o, struct err *e)
{
	return pve_parse_storages(d, o, e);
}

static int
p_backups(json_t *d, void *o, struct err *e)
{
	return pve_parse_backups(d, o, e);
}

static int
p_storage_cfgs(json_t *d, void *o, struct err *e)
{
	return pve_parse_storage_cfgs(d, o, e);
}

static int
p_snapshots(json_t *d, void *o, struct err *e)
{
	return pve_parse_snapshots(d, o, e);
}

static int
p_tasks(json_t *d, void *o, struct err *e)
{
	return pve_parse_tasks(d, o, e);
}

static int
p_task_log(json_t *d, void *o, struct err *e)
{
	return pve_parse_task_log(d, o, e);
}

static int
p_permissions(json_t *d, void *o, struct err *e)
{
	return pve_parse_permissions(d, o, e);
}

int
pve_version(struct pve_client *c, struct pve_version *out, struct err *err)
{
	return get_parsed(c, "/version", NULL, 0, p_version, out, err);
}

int
pve_nodes(struct pve_client *c, struct pve_nodes *out, struct err *err)
{
	return get_parsed(c, "/nodes", NULL, 0, p_nodes, out, err);
}

int
pve_node_status(struct pve_client *c, const char *node,
    struct pve_node_status *out, struct err *err)
{
	char *path = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/status", node) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	rc = get_parsed(c, path, NULL, 0, p_node_status, out, err);
	free(path);
	return rc;
}

int
pve_lxc_list(struct pve_client *c, const char *node, struct pve_guests *out,
    struct err *err)
{
	char *path = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/lxc", node) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	rc = get_parsed(c, path, NULL, 0, p_guests, out, err);
	free(path);
	return rc;
}

int
pve_lxc_status(struct pve_client *c, const char *node, long vmid,
    struct pve_guest_status *out, struct err *err)
{
	char *path = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/lxc/%ld/status/current", node,
	    vmid) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	rc = get_parsed(c, path, NULL, 0, p_guest_status, out, err);
	free(path);
	return rc;
}

int
pve_lxc_config(struct pve_client *c, const char *node, long vmid, int current,
    struct pve_lxc_config *out, struct err *err)
{
	char *path = NULL;
	uint64_t gen;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/lxc/%ld/config", node, vmid) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	rc = get_parsed(c, path, current ? "current=1" : NULL, 0, p_lxc_config,
	    out, err);
	/* When its request left (issue 17: a pass's answer came later). */
	gen = c->answer_gen;
	/* Issue 15: a fresh read serves the report and reconcile too. */
	if (rc == 0 && !current) {
		c->config_reads++;
		pve_config_store(c, vmid, gen, out->raw);
	}
	free(path);
	return rc;
}

int
pve_storage_list(struct pve_client *c, const char *node, const char *content,
    struct pve_storages *out, struct err *err)
{
	struct pve_param p[1];
	char *path = NULL, *query = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	p[0].key = "content";
	p[0].value = content;
	if (pve_asprintf(&path, "/nodes/%s/storage", node) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	if ((rc = pve_form_encode(p, content != NULL ? 1 : 0, &query,
	    err)) != 0)
		goto out;
	rc = get_parsed(c, path, query, 0, p_storages, out, err);
out:
	free(path);
	free(query);
	return rc;
}

/* GET .../storage/{storage}/content?content=...[&vmid=...] */
static int
storage_content(struct pve_client *c, const char *node, const char *storage,
    const char *content, long vmid, struct pve_backups *out, struct err *err)
{
	char *path = NULL;
	char query[64];
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_storage(storage, err)) != 0 ||
	    (vmid != 0 && (rc = pve_check_vmid(vmid, err)) != 0))
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/storage/%s/content", node,
	    storage) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	if (vmid != 0)
		(void) snprintf(query, sizeof(query), "content=%s&vmid=%ld",
		    content, vmid);
	else
		(void) snprintf(query, sizeof(query), "content=%s", content);
	rc = get_parsed(c, path, query, 0, p_backups, out, err);
	free(path);
	return rc;
}

int
pve_storage_backups(struct pve_client *c, const char *node,
    const char *storage, long vmid, struct pve_backups *out, struct err *err)
{
	return storage_content(c, node, storage, "backup", vmid, out, err);
}

int
pve_storage_templates(struct pve_client *c, const char *node,
    const char *storage, struct pve_backups *out, struct err *err)
{
	return storage_content(c, node, storage, "vztmpl", 0, out, err);
}

int
pve_storage_config(struct pve_client *c, const char *type,
    struct pve_storage_cfgs *out, struct err *err)
{
	struct pve_param p[1] = { { "type", type } };
	char *query = NULL;
	int rc;

	if (type != NULL && (rc = pve_check_storage(type, err)) != 0)
		return rc;
	if ((rc = pve_form_encode(p, type != NULL ? 1 : 0, &query, err)) != 0)
		return rc;
	/* §5.13: Datastore.Audit or .AllocateSpace per storage. */
	rc = get_parsed(c, "/storage", query, 0, p_storage_cfgs, out, err);
	free(query);
	return rc;
}

int
pve_backup_config(struct pve_client *c, const char *node, const char *volid,
    json_t **out, struct err *err)
{
	struct pve_param p[1] = { { "volume", volid } };
	json_t *root = NULL, *data;
	char *path = NULL, *query = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (volid == NULL || volid[0] == '\0')
		return err_set(err, ERR_INVALID, "pve: extractconfig needs a "
		    "backup volid");
	if (pve_asprintf(&path, "/nodes/%s/vzdump/extractconfig", node) !=
	    0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	if ((rc = pve_form_encode(p, 1, &query, err)) != 0 ||
	    (rc = pve_call(c, "GET", path, query, NULL, &root, err)) != 0)
		goto out;
	data = pve_data(root);
	if (!json_is_string(data)) {
		c->fault.reason = PVE_E_PROTOCOL;
		rc = err_setr(err, ERR_PROTOCOL, PVE_E_PROTOCOL, 0, "pve: GET "
		    "%s: expected the config text", path);
		goto out;
	}
	if ((rc = pve_parse_pct_conf(json_string_value(data), out,
	    err)) != 0) {
		c->fault.reason = PVE_E_PROTOCOL;
		(void) err_prefix(err, "pve: GET %s: ", path);
	}
out:
	json_decref(root);
	free(path);
	free(query);
	return rc;
}

int
pve_snapshot_list(struct pve_client *c, const char *node, long vmid,
    struct pve_snapshots *out, struct err *err)
{
	char *path = NULL;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if (pve_asprintf(&path, "/nodes/%s/lxc/%ld/snapshot", node,
	    vmid) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	rc = get_parsed(c, path, NULL, 0, p_snapshots, out, err);
	free(path);
	return rc;
}

int
pve_task_list(struct pve_client *c, const char *node,
    const struct pve_task_filter *f, struct pve_tasks *out, struct err *err)
{
	struct pve_param p[9];
	char vmid[24], since[24], until[24], start[24], limit[24];
	char *path = NULL, *query = NULL;
	size_t n = 0;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (f != NULL) {
		if (f->vmid != 0) {
			(void) snprintf(vmid, sizeof(vmid), "%ld", f->vmid);
			p[n++] = (struct pve_param){ "vmid", vmid };
		}
		if (f->typefilter != NULL)
			p[n++] = (struct pve_param){ "typefilter",
			    f->typefilter };
		if (f->userfilter != NULL)
			p[n++] = (struct pve_param){ "userfilter",
			    f->userfilter };
		/* §5.14: recovery needs source=all to see running tasks. */
		if (f->source != NULL)
			p[n++] = (struct pve_param){ "source", f->source };
		if (f->since > 0) {
			(void) snprintf(since, sizeof(since), "%lld",
			    (long long)f->since);
			p[n++] = (struct pve_param){ "since", since };
		}
		if (f->until > 0) {
			(void) snprintf(until, sizeof(until), "%lld",
			    (long long)f->until);
			p[n++] = (struct pve_param){ "until", until };
		}
		if (f->start > 0) {
			(void) snprintf(start, sizeof(start), "%ld", f->start);
			p[n++] = (struct pve_param){ "start", start };
		}
		if (f->limit > 0) {
			(void) snprintf(limit, sizeof(limit), "%ld", f->limit);
			p[n++] = (struct pve_param){ "limit", limit };
		}
		if (f->errors)
			p[n++] = (struct pve_param){ "errors", "1" };
	}
	if (pve_asprintf(&path, "/nodes/%s/tasks", node) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	if ((rc = pve_form_encode(p, n, &query, err)) != 0)
		goto out;
	rc = get_parsed(c, path, query, 1, p_tasks, out, err);
out:
	free(path);
	free(query);
	return rc;
}

int
pve_task_log(struct pve_client *c, const char *upid, long start, long limit,
    struct pve_task_log *out, struct err *err)
{
	struct upid u;
	char *path = NULL, *enc = NULL;
	char query[64];
	int rc;

	if ((rc = upid_parse_str(upid, &u, err)) != 0)
		return rc;
	if ((enc = pve_pct_encode(upid)) == NULL ||
	    pve_asprintf(&path, "/nodes/%s/tasks/%s/log", u.node, enc) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	if (limit > 0)
		(void) snprintf(query, sizeof(query), "start=%ld&limit=%ld",
		    start < 0 ? 0 : start, limit);
	else
		(void) snprintf(query, sizeof(query), "start=%ld",
		    start < 0 ? 0 : start);
	rc = get_parsed(c, path, query, 1, p_task_log, out, err);
out:
	free(enc);
	free(path);
	return rc;
}

int
pve_permissions(struct pve_client *c, const char *path,
    struct pve_permissions *out, struct err *err)
{
	struct pve_param p[1] = { { "path", path } };
	char *query = NULL;
	int rc;

	if ((rc = pve_form_encode(p, path != NULL ? 1 : 0, &query, err)) != 0)
		return rc;
	rc = get_parsed(c, "/access/permissions", query, 0, p_permissions, out,
	    err);
	free(query);
	return rc;
}

int
pve_lxc_configs(struct pve_client *c, const char *node, const long *vmids,
    size_t n, size_t max_in_flight, struct pve_lxc_config *results, int *rcs,
    struct err *errs, struct err *err)
{
	struct https_request *reqs = NULL;
	struct https_response *resps = NULL;
	struct err *berrs = NULL;
	char **urls = NULL, **paths = NULL;
	size_t *map = NULL, i, j, m = 0;
	int *brcs = NULL, rc;
	uint64_t gen;
	json_t *root;

	pve_fault_clear(c);
	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (n == 0)
		return 0;
	if (max_in_flight < 1)
		max_in_flight = 1;
	if (max_in_flight > 8)
		max_in_flight = 8;
	if ((reqs = calloc(n, sizeof(*reqs))) == NULL ||
	    (resps = calloc(n, sizeof(*resps))) == NULL ||
	    (berrs = calloc(n, sizeof(*berrs))) == NULL ||
	    (brcs = calloc(n, sizeof(*brcs))) == NULL ||
	    (map = calloc(n, sizeof(*map))) == NULL ||
	    (urls = calloc(n, sizeof(*urls))) == NULL ||
	    (paths = calloc(n, sizeof(*paths))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	gen = c->cfg_gen;
	for (i = 0; i < n; i++) {
		https_response_init(&resps[i]);
		if ((rcs[i] = pve_check_vmid(vmids[i], &errs[i])) != 0)
			continue;
		/* Issue 15: read at most once a TTL, shared with the report. */
		if (pve_config_cached(c, vmids[i], &results[i]))
			continue;
		if (pve_asprintf(&paths[m], "/nodes/%s/lxc/%ld/config", node,
		    vmids[i]) != 0 ||
		    pve_build_url(c, paths[m], NULL, &urls[m], err) != 0) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		reqs[m].method = "GET";
		reqs[m].url = urls[m];
		reqs[m].authorization = c->auth;
		map[m++] = i;
	}
	if ((rc = https_do_many(c->https, reqs, m, max_in_flight, resps, brcs,
	    berrs, err)) != 0)
		goto out;
	for (j = 0; j < m; j++) {
		i = map[j];
		if (brcs[j] != 0) {
			rcs[i] = err_copy(&errs[i], &berrs[j]);
			continue;
		}
		root = NULL;
		rcs[i] = pve_answer(c, "GET", paths[j], &resps[j], NULL, &root,
		    &errs[i]);
		if (rcs[i] == 0 && (rcs[i] = pve_parse_lxc_config(
		    pve_data(root), &results[i], &errs[i])) != 0)
			(void) err_prefix(&errs[i], "pve: GET %s: ", paths[j]);
		else if (rcs[i] == 0) {
			c->config_reads++;
			pve_config_store(c, vmids[i], gen, pve_data(root));
		}
		json_decref(root);
	}
	if (m > 0)
		pve_config_compact(c);
	rc = 0;
out:
	for (i = 0; resps != NULL && i < n; i++)
		https_response_reset(&resps[i]);
	for (i = 0; urls != NULL && paths != NULL && i < n; i++) {
		free(urls[i]);
		free(paths[i]);
	}
	free(urls);
	free(paths);
	free(map);
	free(brcs);
	free(berrs);
	free(reqs);
	free(resps);
	return rc;
}
