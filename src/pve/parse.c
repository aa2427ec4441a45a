/*
 * pve parse — the typed readers of PVE's "data" JSON.
 *
 * Types follow the real shapes (pve-api.md §1.4, §5; fixtures/pve/api):
 * numbers may arrive as strings (cpulimit, loadavg, pressure*, old vmid,
 * `cpus`), booleans as 0/1.  Identity fields (vmid, upid, names) are
 * required; a field of the wrong type is ERR_FORMAT naming it.  Strings
 * are borrowed from `raw`, which each result holds a reference to.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

static const char *const pve_guest_state_names[PVE_GUEST__COUNT] = {
	[PVE_GUEST_UNKNOWN] = "unknown",
	[PVE_GUEST_RUNNING] = "running",
	[PVE_GUEST_STOPPED] = "stopped",
	[PVE_GUEST_PAUSED] = "paused",
};
_Static_assert(sizeof(pve_guest_state_names) /
    sizeof(pve_guest_state_names[0]) == PVE_GUEST__COUNT,
    "pve_guest_state_names must name every state");

static const char *const pve_task_state_names[PVE_TASK__COUNT] = {
	[PVE_TASK_RUNNING] = "running",
	[PVE_TASK_OK] = "ok",
	[PVE_TASK_WARNINGS] = "warnings",
	[PVE_TASK_FAILED] = "failed",
};
_Static_assert(sizeof(pve_task_state_names) /
    sizeof(pve_task_state_names[0]) == PVE_TASK__COUNT,
    "pve_task_state_names must name every state");

const char *
pve_guest_state_name(int state)
{
	if (state < 0 || state >= PVE_GUEST__COUNT)
		return "unknown";
	return pve_guest_state_names[state];
}

const char *
pve_task_state_name(int state)
{
	if (state < 0 || state >= PVE_TASK__COUNT)
		return "unknown";
	return pve_task_state_names[state];
}

/* ---- field readers -------------------------------------------------- */

static json_t *
member(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

static int
get_str(const json_t *o, const char *ctx, const char *key, int required,
    const char **out, struct err *err)
{
	json_t *v = member(o, key);

	*out = NULL;
	if (v == NULL) {
		if (required)
			return err_set(err, ERR_FORMAT, "%s.%s: missing", ctx,
			    key);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, ERR_FORMAT, "%s.%s: expected a string", ctx,
		    key);
	*out = json_string_value(v);
	return 0;
}

static int
get_int(const json_t *o, const char *ctx, const char *key, int required,
    int64_t dflt, int64_t *out, struct err *err)
{
	json_t *v = member(o, key);

	*out = dflt;
	if (v == NULL) {
		if (required)
			return err_set(err, ERR_FORMAT, "%s.%s: missing", ctx,
			    key);
		return 0;
	}
	if (jsonx_loose_int(v, out) != 0)
		return err_set(err, ERR_FORMAT, "%s.%s: expected an integer",
		    ctx, key);
	return 0;
}

static int
get_real(const json_t *o, const char *ctx, const char *key, double dflt,
    double *out, struct err *err)
{
	json_t *v = member(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (jsonx_loose_real(v, out) != 0)
		return err_set(err, ERR_FORMAT, "%s.%s: expected a number", ctx,
		    key);
	return 0;
}

static int
get_bool(const json_t *o, const char *ctx, const char *key, int dflt,
    int *out, struct err *err)
{
	json_t *v = member(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (jsonx_loose_bool(v, out) != 0)
		return err_set(err, ERR_FORMAT, "%s.%s: expected 0 or 1", ctx,
		    key);
	return 0;
}

static int
need_array(const json_t *data, const char *what, struct err *err)
{
	if (!json_is_array(data))
		return err_set(err, ERR_FORMAT, "%s: expected an array", what);
	return 0;
}

static int
need_object(const json_t *data, const char *what, struct err *err)
{
	if (!json_is_object(data))
		return err_set(err, ERR_FORMAT, "%s: expected an object", what);
	return 0;
}

/* calloc of n items (at least one byte so an empty list is not NULL). */
static void *
items_alloc(size_t n, size_t size)
{
	return calloc(n > 0 ? n : 1, size);
}

/* ---- version, nodes, node status ------------------------------------ */

void
pve_version_reset(struct pve_version *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_version(json_t *data, struct pve_version *out, struct err *err)
{
	struct pve_version v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = need_object(data, "version", err)) != 0 ||
	    (rc = get_str(data, "version", "version", 1, &v.version,
	    err)) != 0 ||
	    (rc = get_str(data, "version", "release", 0, &v.release,
	    err)) != 0 ||
	    (rc = get_str(data, "version", "repoid", 0, &v.repoid, err)) != 0)
		return rc;
	v.raw = json_incref(data);
	*out = v;
	return 0;
}

void
pve_nodes_reset(struct pve_nodes *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_nodes(json_t *data, struct pve_nodes *out, struct err *err)
{
	struct pve_node *items = NULL, *n;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_array(data, "nodes", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		n = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "nodes[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "node", 1, &n->node, err)) != 0 ||
		    (rc = get_str(o, ctx, "status", 0, &n->status, err)) != 0 ||
		    (rc = get_str(o, ctx, "ssl_fingerprint", 0,
		    &n->ssl_fingerprint, err)) != 0 ||
		    (rc = get_str(o, ctx, "level", 0, &n->level, err)) != 0 ||
		    (rc = get_real(o, ctx, "cpu", -1, &n->cpu, err)) != 0 ||
		    (rc = get_int(o, ctx, "maxcpu", 0, -1, &n->maxcpu,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "mem", 0, -1, &n->mem, err)) != 0 ||
		    (rc = get_int(o, ctx, "maxmem", 0, -1, &n->maxmem,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "disk", 0, -1, &n->disk, err)) != 0 ||
		    (rc = get_int(o, ctx, "maxdisk", 0, -1, &n->maxdisk,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "uptime", 0, -1, &n->uptime,
		    err)) != 0)
			goto out;
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

void
pve_node_status_reset(struct pve_node_status *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_node_status(json_t *data, struct pve_node_status *out,
    struct err *err)
{
	static const char ctx[] = "node_status";
	struct pve_node_status s;
	json_t *la, *ci, *mem, *swap, *rootfs, *boot;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = need_object(data, ctx, err)) != 0)
		return rc;
	ci = member(data, "cpuinfo");
	mem = member(data, "memory");
	swap = member(data, "swap");
	rootfs = member(data, "rootfs");
	boot = member(data, "boot-info");
	if ((ci != NULL && !json_is_object(ci)) ||
	    (mem != NULL && !json_is_object(mem)) ||
	    (swap != NULL && !json_is_object(swap)) ||
	    (rootfs != NULL && !json_is_object(rootfs)) ||
	    (boot != NULL && !json_is_object(boot)))
		return err_set(err, ERR_FORMAT, "%s: cpuinfo, memory, swap, "
		    "rootfs and boot-info must be objects", ctx);
	if ((rc = get_int(data, ctx, "uptime", 0, -1, &s.uptime, err)) != 0 ||
	    (rc = get_real(data, ctx, "cpu", -1, &s.cpu, err)) != 0 ||
	    (rc = get_real(data, ctx, "wait", -1, &s.wait, err)) != 0 ||
	    (rc = get_str(data, ctx, "kversion", 0, &s.kversion, err)) != 0 ||
	    (rc = get_str(data, ctx, "pveversion", 0, &s.pveversion,
	    err)) != 0 ||
	    (rc = get_str(ci, "node_status.cpuinfo", "model", 0,
	    &s.cpu_model, err)) != 0 ||
	    (rc = get_int(ci, "node_status.cpuinfo", "sockets", 0, -1,
	    &s.cpu_sockets, err)) != 0 ||
	    (rc = get_int(ci, "node_status.cpuinfo", "cores", 0, -1,
	    &s.cpu_cores, err)) != 0 ||
	    (rc = get_int(ci, "node_status.cpuinfo", "cpus", 0, -1,
	    &s.cpu_cpus, err)) != 0 ||
	    (rc = get_real(ci, "node_status.cpuinfo", "mhz", -1, &s.cpu_mhz,
	    err)) != 0 ||
	    (rc = get_int(mem, "node_status.memory", "total", 0, -1,
	    &s.mem_total, err)) != 0 ||
	    (rc = get_int(mem, "node_status.memory", "used", 0, -1,
	    &s.mem_used, err)) != 0 ||
	    (rc = get_int(mem, "node_status.memory", "free", 0, -1,
	    &s.mem_free, err)) != 0 ||
	    (rc = get_int(mem, "node_status.memory", "available", 0, -1,
	    &s.mem_available, err)) != 0 ||
	    (rc = get_int(swap, "node_status.swap", "total", 0, -1,
	    &s.swap_total, err)) != 0 ||
	    (rc = get_int(swap, "node_status.swap", "used", 0, -1,
	    &s.swap_used, err)) != 0 ||
	    (rc = get_int(swap, "node_status.swap", "free", 0, -1,
	    &s.swap_free, err)) != 0 ||
	    (rc = get_int(rootfs, "node_status.rootfs", "total", 0, -1,
	    &s.rootfs_total, err)) != 0 ||
	    (rc = get_int(rootfs, "node_status.rootfs", "used", 0, -1,
	    &s.rootfs_used, err)) != 0 ||
	    (rc = get_int(rootfs, "node_status.rootfs", "avail", 0, -1,
	    &s.rootfs_avail, err)) != 0 ||
	    (rc = get_int(rootfs, "node_status.rootfs", "free", 0, -1,
	    &s.rootfs_free, err)) != 0 ||
	    (rc = get_str(boot, "node_status.boot-info", "mode", 0,
	    &s.boot_mode, err)) != 0 ||
	    (rc = get_bool(boot, "node_status.boot-info", "secureboot", -1,
	    &s.secureboot, err)) != 0)
		return rc;
	for (i = 0; i < 3; i++)
		s.loadavg[i] = -1;
	if ((la = member(data, "loadavg")) != NULL) {
		if (!json_is_array(la) || json_array_size(la) != 3)
			return err_set(err, ERR_FORMAT, "%s.loadavg: expected "
			    "3 values", ctx);
		for (i = 0; i < 3; i++)
			if (jsonx_loose_real(json_array_get(la, i),
			    &s.loadavg[i]) != 0)
				return err_set(err, ERR_FORMAT,
				    "%s.loadavg[%zu]: expected a number", ctx,
				    i);
	}
	s.raw = json_incref(data);
	*out = s;
	return 0;
}

/* ---- guests (LXC list, status/current) ------------------------------ */

static int
parse_guest(json_t *o, const char *ctx, struct pve_guest *g,
    struct err *err)
{
	int64_t vmid;
	json_t *ha;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = need_object(o, ctx, err)) != 0)
		return rc;
	/* §1.4: vmid is a string before pve-container 5.0.10. */
	if ((rc = get_int(o, ctx, "vmid", 1, -1, &vmid, err)) != 0)
		return rc;
	if (vmid < 0 || vmid > 999999999)
		return err_set(err, ERR_FORMAT, "%s.vmid: %" PRId64 " out of "
		    "range", ctx, vmid);
	g->vmid = (long)vmid;
	if ((rc = get_str(o, ctx, "type", 0, &g->type, err)) != 0 ||
	    (rc = get_str(o, ctx, "status", 0, &g->status, err)) != 0 ||
	    (rc = get_str(o, ctx, "name", 0, &g->name, err)) != 0 ||
	    (rc = get_str(o, ctx, "tags", 0, &g->tags, err)) != 0 ||
	    (rc = get_str(o, ctx, "lock", 0, &g->lock, err)) != 0 ||
	    (rc = get_bool(o, ctx, "template", 0, &g->is_template,
	    err)) != 0 ||
	    (rc = get_real(o, ctx, "cpus", -1, &g->cpus, err)) != 0 ||
	    (rc = get_real(o, ctx, "cpu", -1, &g->cpu, err)) != 0 ||
	    (rc = get_int(o, ctx, "maxmem", 0, -1, &g->maxmem, err)) != 0 ||
	    (rc = get_int(o, ctx, "maxswap", 0, -1, &g->maxswap, err)) != 0 ||
	    (rc = get_int(o, ctx, "maxdisk", 0, -1, &g->maxdisk, err)) != 0 ||
	    (rc = get_int(o, ctx, "mem", 0, -1, &g->mem, err)) != 0 ||
	    (rc = get_int(o, ctx, "swap", 0, -1, &g->swap, err)) != 0 ||
	    (rc = get_int(o, ctx, "disk", 0, -1, &g->disk, err)) != 0 ||
	    (rc = get_int(o, ctx, "uptime", 0, -1, &g->uptime, err)) != 0 ||
	    (rc = get_int(o, ctx, "netin", 0, -1, &g->netin, err)) != 0 ||
	    (rc = get_int(o, ctx, "netout", 0, -1, &g->netout, err)) != 0 ||
	    (rc = get_int(o, ctx, "diskread", 0, -1, &g->diskread,
	    err)) != 0 ||
	    (rc = get_int(o, ctx, "diskwrite", 0, -1, &g->diskwrite,
	    err)) != 0 ||
	    (rc = get_int(o, ctx, "pid", 0, -1, &g->pid, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressurecpusome", -1,
	    &g->pressure_cpu_some, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressurecpufull", -1,
	    &g->pressure_cpu_full, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressureiosome", -1,
	    &g->pressure_io_some, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressureiofull", -1,
	    &g->pressure_io_full, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressurememorysome", -1,
	    &g->pressure_mem_some, err)) != 0 ||
	    (rc = get_real(o, ctx, "pressurememoryfull", -1,
	    &g->pressure_mem_full, err)) != 0)
		return rc;
	if (g->status == NULL)
		g->state = PVE_GUEST_UNKNOWN;
	else if (strcmp(g->status, "running") == 0)
		g->state = PVE_GUEST_RUNNING;
	else if (strcmp(g->status, "stopped") == 0)
		g->state = PVE_GUEST_STOPPED;
	else if (strcmp(g->status, "paused") == 0)
		g->state = PVE_GUEST_PAUSED;
	else
		g->state = PVE_GUEST_UNKNOWN;	/* */
	g->ha_managed = -1;
	if ((ha = member(o, "ha")) != NULL) {
		char hctx[64];

		(void) snprintf(hctx, sizeof(hctx), "%s.ha", ctx);
		if ((rc = need_object(ha, hctx, err)) != 0 ||
		    (rc = get_bool(ha, hctx, "managed", -1, &g->ha_managed,
		    err)) != 0 ||
		    (rc = get_str(ha, hctx, "state", 0, &g->ha_state,
		    err)) != 0)
			return rc;
	}
	return 0;
}

void
pve_guests_reset(struct pve_guests *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_guests(json_t *data, struct pve_guests *out, struct err *err)
{
	struct pve_guest *items = NULL;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_array(data, "guests", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		(void) snprintf(ctx, sizeof(ctx), "guests[%zu]", i);
		if ((rc = parse_guest(json_array_get(data, i), ctx, &items[i],
		    err)) != 0)
			goto out;
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

void
pve_guest_status_reset(struct pve_guest_status *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_guest_status(json_t *data, struct pve_guest_status *out,
    struct err *err)
{
	struct pve_guest g;
	int rc;

	if ((rc = parse_guest(data, "status", &g, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->guest = g;
	return 0;
}

/* ---- LXC config ----------------------------------------------------- */

static void
kv_free(struct pve_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n && kv != NULL; i++)
		free(kv[i].value);
	free(kv);
}

void
pve_lxc_config_reset(struct pve_lxc_config *v)
{
	if (v == NULL)
		return;
	kv_free(v->mps, v->n_mps);
	kv_free(v->nets, v->n_nets);
	kv_free(v->devs, v->n_devs);
	kv_free(v->unused, v->n_unused);
	kv_free(v->lxc, v->n_lxc);
	kv_free(v->extra, v->n_extra);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

/* Text form of a scalar config value (numbers as PVE would print). */
static char *
value_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		if (pve_asprintf(&s, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v)) != 0)
			return NULL;
		return s;
	}
	if (json_is_real(v)) {
		if (pve_asprintf(&s, "%.17g", json_real_value(v)) != 0)
			return NULL;
		return s;
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "1" : "0");
	if (json_is_null(v))
		return strdup("");
	return jsonx_dump(v);
}

static int
kv_push(struct pve_kv **list, size_t *n, const char *key, char *value)
{
	struct pve_kv *nl;

	if ((nl = realloc(*list, (*n + 1) * sizeof(*nl))) == NULL)
		return ERR_NOMEM;
	*list = nl;
	nl[*n].key = key;
	nl[*n].value = value;
	(*n)++;
	return 0;
}

/* "mp12" with prefix "mp" → 12; -1 when key is not prefix + digits. */
static long
indexed(const char *key, const char *prefix)
{
	size_t pl = strlen(prefix);
	const char *p;
	long n = 0;

	if (strncmp(key, prefix, pl) != 0 || key[pl] == '\0')
		return -1;
	for (p = key + pl; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > 100000)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n;
}

static int
kv_cmp_index(const void *a, const void *b)
{
	const struct pve_kv *x = a, *y = b;
	const char *px = x->key, *py = y->key;
	long nx, ny;

	while (*px != '\0' && (*px < '0' || *px > '9'))
		px++;
	while (*py != '\0' && (*py < '0' || *py > '9'))
		py++;
	nx = strtol(px, NULL, 10);
	ny = strtol(py, NULL, 10);
	return nx < ny ? -1 : nx > ny;
}

static int
kv_cmp_key(const void *a, const void *b)
{
	const struct pve_kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static void
kv_sort(struct pve_kv *list, size_t n, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp);
}

/* The raw "lxc": [[key, value], ...] pairs (§5.6). */
static int
parse_lxc_pairs(const json_t *arr, struct pve_lxc_config *c, struct err *err)
{
	size_t i;
	char *v;

	if (!json_is_array(arr))
		return err_set(err, ERR_FORMAT, "config.lxc: expected an array "
		    "of [key, value] pairs");
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *pair = json_array_get(arr, i);
		json_t *k = json_array_get(pair, 0), *val;

		val = json_array_get(pair, 1);
		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    !json_is_string(k) || !json_is_string(val))
			return err_set(err, ERR_FORMAT, "config.lxc[%zu]: "
			    "expected a [key, value] pair of strings", i);
		if ((v = strdup(json_string_value(val))) == NULL ||
		    kv_push(&c->lxc, &c->n_lxc, json_string_value(k), v) != 0) {
			free(v);
			return err_set(err, ERR_NOMEM, "pve: out of memory");
		}
	}
	return 0;
}

enum cfg_kind { CFG_STR, CFG_INT, CFG_REAL, CFG_BOOL };

struct cfg_field {
	const char	*key;
	enum cfg_kind	 kind;
	size_t		 off;		/* offset in struct pve_lxc_config */
};

#define CFG(k, kind, field) \
	{ (k), (kind), offsetof(struct pve_lxc_config, field) }

/* §5.6 typed keys. */
static const struct cfg_field cfg_fields[] = {
	CFG("arch",		CFG_STR,	arch),
	CFG("hostname",		CFG_STR,	hostname),
	CFG("ostype",		CFG_STR,	ostype),
	CFG("rootfs",		CFG_STR,	rootfs),
	CFG("features",		CFG_STR,	features),
	CFG("startup",		CFG_STR,	startup),
	CFG("description",	CFG_STR,	description),
	CFG("tags",		CFG_STR,	tags),
	CFG("lock",		CFG_STR,	lock),
	CFG("parent",		CFG_STR,	parent),
	CFG("digest",		CFG_STR,	digest),
	CFG("env",		CFG_STR,	env),
	CFG("cores",		CFG_INT,	cores),
	CFG("cpuunits",		CFG_INT,	cpuunits),
	CFG("memory",		CFG_INT,	memory),
	CFG("swap",		CFG_INT,	swap),
	CFG("cpulimit",		CFG_REAL,	cpulimit),
	CFG("unprivileged",	CFG_BOOL,	unprivileged),
	CFG("onboot",		CFG_BOOL,	onboot),
	CFG("protection",	CFG_BOOL,	protection),
	CFG("template",		CFG_BOOL,	is_template),
	CFG("console",		CFG_BOOL,	console),
	CFG("debug",		CFG_BOOL,	debug),
};

#undef CFG

static int
cfg_typed(json_t *data, const char *key, json_t *v, struct pve_lxc_config *c,
    int *handled, struct err *err)
{
	const struct cfg_field *f;
	char *base = (char *)c;
	size_t i;

	*handled = 0;
	for (i = 0; i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++) {
		f = &cfg_fields[i];
		if (strcmp(f->key, key) != 0)
			continue;
		*handled = 1;
		switch (f->kind) {
		case CFG_STR:
			return get_str(data, "config", key, 0,
			    (const char **)(void *)(base + f->off), err);
		case CFG_INT:
			return get_int(data, "config", key, 0, -1,
			    (int64_t *)(void *)(base + f->off), err);
		case CFG_REAL:
			return get_real(data, "config", key, -1,
			    (double *)(void *)(base + f->off), err);
		case CFG_BOOL:
		default:
			return get_bool(data, "config", key, -1,
			    (int *)(void *)(base + f->off), err);
		}
	}
	(void) v;
	return 0;
}

static void
cfg_defaults(struct pve_lxc_config *c)
{
	c->cores = c->cpuunits = c->memory = c->swap = -1;
	c->cpulimit = -1;
	c->unprivileged = c->onboot = c->protection = c->is_template = -1;
	c->console = c->debug = -1;
}

int
pve_parse_lxc_config(json_t *data, struct pve_lxc_config *out,
    struct err *err)
{
	struct pve_lxc_config c;
	const char *key;
	json_t *v;
	char *text = NULL;
	int rc, handled;

	memset(&c, 0, sizeof(c));
	cfg_defaults(&c);
	if ((rc = need_object(data, "config", err)) != 0)
		return rc;
	json_object_foreach(data, key, v) {
		struct pve_kv **list = NULL;
		size_t *count = NULL;

		if ((rc = cfg_typed(data, key, v, &c, &handled, err)) != 0)
			goto out;
		if (handled)
			continue;
		if (strcmp(key, "lxc") == 0) {
			if ((rc = parse_lxc_pairs(v, &c, err)) != 0)
				goto out;
			continue;
		}
		if (indexed(key, "mp") >= 0) {
			list = &c.mps;
			count = &c.n_mps;
		} else if (indexed(key, "net") >= 0) {
			list = &c.nets;
			count = &c.n_nets;
		} else if (indexed(key, "dev") >= 0) {
			list = &c.devs;
			count = &c.n_devs;
		} else if (indexed(key, "unused") >= 0) {
			list = &c.unused;
			count = &c.n_unused;
		} else {
			list = &c.extra;
			count = &c.n_extra;
		}
		if (list != &c.extra && !json_is_string(v)) {
			rc = err_set(err, ERR_FORMAT, "config.%s: expected a "
			    "string", key);
			goto out;
		}
		if ((text = value_text(v)) == NULL ||
		    kv_push(list, count, key, text) != 0) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		text = NULL;
	}
	if (c.digest == NULL) {
		rc = err_set(err, ERR_FORMAT, "config.digest: missing");
		goto out;
	}
	kv_sort(c.mps, c.n_mps, kv_cmp_index);
	kv_sort(c.nets, c.n_nets, kv_cmp_index);
	kv_sort(c.devs, c.n_devs, kv_cmp_index);
	kv_sort(c.unused, c.n_unused, kv_cmp_index);
	kv_sort(c.extra, c.n_extra, kv_cmp_key);
	c.raw = json_incref(data);
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	free(text);
	pve_lxc_config_reset(&c);
	return rc;
}

/* ---- storage -------------------------------------------------------- */

void
pve_storages_reset(struct pve_storages *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_storages(json_t *data, struct pve_storages *out, struct err *err)
{
	struct pve_storage *items = NULL, *s;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_array(data, "storages", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		s = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "storages[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "storage", 1, &s->storage,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "type", 0, &s->type, err)) != 0 ||
		    (rc = get_str(o, ctx, "content", 0, &s->content,
		    err)) != 0 ||
		    (rc = get_bool(o, ctx, "active", 0, &s->active,
		    err)) != 0 ||
		    (rc = get_bool(o, ctx, "enabled", 0, &s->enabled,
		    err)) != 0 ||
		    (rc = get_bool(o, ctx, "shared", 0, &s->shared,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "total", 0, 0, &s->total,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "used", 0, 0, &s->used, err)) != 0 ||
		    (rc = get_int(o, ctx, "avail", 0, 0, &s->avail,
		    err)) != 0 ||
		    (rc = get_real(o, ctx, "used_fraction", -1,
		    &s->used_fraction, err)) != 0)
			goto out;
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

void
pve_backups_reset(struct pve_backups *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_backups(json_t *data, struct pve_backups *out, struct err *err)
{
	struct pve_backup *items = NULL, *b;
	int64_t vmid;
	json_t *ver;
	char ctx[48];
	size_t i;
	int rc;

	if ((rc = need_array(data, "backups", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		b = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "backups[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "volid", 1, &b->volid, err)) != 0 ||
		    (rc = get_str(o, ctx, "format", 0, &b->format, err)) != 0 ||
		    (rc = get_str(o, ctx, "subtype", 0, &b->subtype,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "notes", 0, &b->notes, err)) != 0 ||
		    (rc = get_str(o, ctx, "encrypted", 0, &b->encrypted,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "vmid", 0, -1, &vmid, err)) != 0 ||
		    (rc = get_int(o, ctx, "ctime", 0, 0, &b->ctime,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "size", 0, 0, &b->size, err)) != 0 ||
		    (rc = get_bool(o, ctx, "protected", 0, &b->is_protected,
		    err)) != 0)
			goto out;
		b->vmid = (long)vmid;
		if ((ver = member(o, "verification")) != NULL) {
			char vctx[64];

			(void) snprintf(vctx, sizeof(vctx), "%s.verification",
			    ctx);
			if ((rc = need_object(ver, vctx, err)) != 0 ||
			    (rc = get_str(ver, vctx, "state", 0,
			    &b->verify_state, err)) != 0)
				goto out;
		}
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

/* ---- snapshots ------------------------------------------------------ */

void
pve_snapshots_reset(struct pve_snapshots *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_snapshots(json_t *data, struct pve_snapshots *out,
    struct err *err)
{
	struct pve_snapshot *items = NULL, *s;
	char ctx[40];
	size_t i;
	int rc;

	if ((rc = need_array(data, "snapshots", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		s = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "snapshots[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "name", 1, &s->name, err)) != 0 ||
		    (rc = get_str(o, ctx, "description", 0, &s->description,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "parent", 0, &s->parent, err)) != 0 ||
		    (rc = get_str(o, ctx, "snapstate", 0, &s->snapstate,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "digest", 0, &s->digest, err)) != 0 ||
		    (rc = get_int(o, ctx, "snaptime", 0, -1, &s->snaptime,
		    err)) != 0 ||
		    (rc = get_bool(o, ctx, "running", -1, &s->running,
		    err)) != 0)
			goto out;
		if (s->description == NULL)
			s->description = "";
		s->is_current = strcmp(s->name, "current") == 0;
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

const struct pve_snapshot *
pve_snapshots_find(const struct pve_snapshots *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!s->items[i].is_current &&
		    strcmp(s->items[i].name, name) == 0)
			return &s->items[i];
	return NULL;
}

/* ---- tasks ---------------------------------------------------------- */

enum pve_task_state
pve_task_classify(const char *status, int *warnings_out)
{
	const char *p;
	long n = 0;

	if (warnings_out != NULL)
		*warnings_out = 0;
	if (status == NULL)
		return PVE_TASK_FAILED;
	if (strcmp(status, "RUNNING") == 0 || strcmp(status, "running") == 0)
		return PVE_TASK_RUNNING;
	if (strcmp(status, "OK") == 0)
		return PVE_TASK_OK;
	/* PVE's own test: /^WARNINGS: \d+$/ (UPID.pm status_is_error). */
	if (strncmp(status, "WARNINGS: ", 10) == 0 && status[10] != '\0') {
		for (p = status + 10; *p >= '0' && *p <= '9'; p++)
			if (n < 1000000)
				n = n * 10 + (*p - '0');
		if (*p == '\0') {
			if (warnings_out != NULL)
				*warnings_out = (int)n;
			return PVE_TASK_WARNINGS;
		}
	}
	return PVE_TASK_FAILED;
}

void
pve_task_status_reset(struct pve_task_status *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_task_status(json_t *data, struct pve_task_status *out,
    struct err *err)
{
	static const char ctx[] = "task_status";
	struct pve_task_status s;
	const char *status;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = need_object(data, ctx, err)) != 0 ||
	    (rc = get_str(data, ctx, "upid", 1, &s.upid_str, err)) != 0 ||
	    (rc = get_str(data, ctx, "status", 1, &status, err)) != 0 ||
	    (rc = get_str(data, ctx, "node", 0, &s.node, err)) != 0 ||
	    (rc = get_str(data, ctx, "type", 0, &s.type, err)) != 0 ||
	    (rc = get_str(data, ctx, "id", 0, &s.id, err)) != 0 ||
	    (rc = get_str(data, ctx, "user", 0, &s.user, err)) != 0 ||
	    (rc = get_str(data, ctx, "tokenid", 0, &s.tokenid, err)) != 0 ||
	    (rc = get_str(data, ctx, "exitstatus", 0, &s.exitstatus,
	    err)) != 0 ||
	    (rc = get_int(data, ctx, "pid", 0, -1, &s.pid, err)) != 0 ||
	    (rc = get_int(data, ctx, "pstart", 0, -1, &s.pstart, err)) != 0 ||
	    (rc = get_int(data, ctx, "starttime", 0, -1, &s.starttime,
	    err)) != 0)
		return rc;
	if ((rc = upid_parse_str(s.upid_str, &s.upid, err)) != 0)
		return err_prefix(err, "%s.upid: ", ctx);
	if (strcmp(status, "running") == 0) {
		s.running = 1;
		s.state = PVE_TASK_RUNNING;
	} else if (strcmp(status, "stopped") == 0) {
		s.state = pve_task_classify(s.exitstatus != NULL ?
		    s.exitstatus : "unexpected status", &s.warnings);
		/* "RUNNING" as an exit status would be nonsense. */
		if (s.state == PVE_TASK_RUNNING)
			s.state = PVE_TASK_FAILED;
	} else {
		return err_set(err, ERR_FORMAT, "%s.status: expected running "
		    "or stopped", ctx);
	}
	s.raw = json_incref(data);
	*out = s;
	return 0;
}

void
pve_tasks_reset(struct pve_tasks *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_tasks(json_t *root, struct pve_tasks *out, struct err *err)
{
	struct pve_task *items = NULL, *t;
	json_t *data;
	int64_t total;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_object(root, "tasks", err)) != 0)
		return rc;
	data = json_object_get(root, "data");
	if ((rc = need_array(data, "tasks.data", err)) != 0 ||
	    (rc = get_int(root, "tasks", "total", 0, -1, &total, err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		t = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "tasks[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "upid", 1, &t->upid_str, err)) != 0 ||
		    (rc = get_str(o, ctx, "node", 0, &t->node, err)) != 0 ||
		    (rc = get_str(o, ctx, "type", 0, &t->type, err)) != 0 ||
		    (rc = get_str(o, ctx, "id", 0, &t->id, err)) != 0 ||
		    (rc = get_str(o, ctx, "user", 0, &t->user, err)) != 0 ||
		    (rc = get_str(o, ctx, "tokenid", 0, &t->tokenid,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "status", 0, &t->status, err)) != 0 ||
		    (rc = get_int(o, ctx, "pid", 0, -1, &t->pid, err)) != 0 ||
		    (rc = get_int(o, ctx, "pstart", 0, -1, &t->pstart,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "starttime", 0, -1, &t->starttime,
		    err)) != 0 ||
		    (rc = get_int(o, ctx, "endtime", 0, -1, &t->endtime,
		    err)) != 0)
			goto out;
		if ((rc = upid_parse_str(t->upid_str, &t->upid, err)) != 0) {
			rc = err_prefix(err, "%s.upid: ", ctx);
			goto out;
		}
		if (t->status == NULL && t->endtime < 0)
			t->state = PVE_TASK_RUNNING;
		else
			t->state = pve_task_classify(t->status, NULL);
	}
	out->raw = json_incref(root);
	out->items = items;
	out->n = json_array_size(data);
	out->total = (long)total;
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

int
pve_task_is_ours(const struct pve_task *t, const char *token_id)
{
	size_t ul;

	if (t == NULL || t->user == NULL || token_id == NULL ||
	    strchr(token_id, '!') == NULL)
		return 0;
	/* Joined form (active tasks): "user@realm!tokenid". */
	if (t->tokenid == NULL)
		return strcmp(t->user, token_id) == 0;
	/* Split form (archived tasks): user + tokenid (§5.14). */
	ul = strlen(t->user);
	return strncmp(token_id, t->user, ul) == 0 && token_id[ul] == '!' &&
	    strcmp(token_id + ul + 1, t->tokenid) == 0;
}

void
pve_task_log_reset(struct pve_task_log *v)
{
	if (v == NULL)
		return;
	free(v->lines);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_task_log(json_t *root, struct pve_task_log *out, struct err *err)
{
	struct pve_log_line *lines = NULL;
	json_t *data;
	int64_t total, n;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_object(root, "task_log", err)) != 0)
		return rc;
	data = json_object_get(root, "data");
	if ((rc = need_array(data, "task_log.data", err)) != 0 ||
	    (rc = get_int(root, "task_log", "total", 0, -1, &total, err)) != 0)
		return rc;
	if ((lines = items_alloc(json_array_size(data), sizeof(*lines))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		(void) snprintf(ctx, sizeof(ctx), "task_log[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_int(o, ctx, "n", 1, 0, &n, err)) != 0 ||
		    (rc = get_str(o, ctx, "t", 1, &lines[i].t, err)) != 0)
			goto out;
		lines[i].n = (long)n;
	}
	out->raw = json_incref(root);
	out->lines = lines;
	out->n = json_array_size(data);
	out->total = (long)total;
	lines = NULL;
	rc = 0;
out:
	free(lines);
	return rc;
}

/* ---- permissions ---------------------------------------------------- */

void
pve_permissions_reset(struct pve_permissions *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_permissions(json_t *data, struct pve_permissions *out,
    struct err *err)
{
	const char *path, *priv;
	json_t *privs, *flag;
	int b;

	if (!json_is_object(data))
		return err_set(err, ERR_FORMAT, "permissions: expected an "
		    "object of paths");
	json_object_foreach(data, path, privs) {
		if (!json_is_object(privs))
			return err_set(err, ERR_FORMAT, "permissions.%s: "
			    "expected an object of privileges", path);
		json_object_foreach(privs, priv, flag)
			if (jsonx_loose_bool(flag, &b) != 0)
				return err_set(err, ERR_FORMAT,
				    "permissions.%s.%s: expected 0 or 1", path,
				    priv);
	}
	out->raw = json_incref(data);
	return 0;
}

int
pve_permissions_has(const struct pve_permissions *p, const char *path,
    const char *priv)
{
	char cur[256];
	json_t *privs, *flag;
	char *slash;
	int b, exact = 1;

	if (p == NULL || p->raw == NULL || path == NULL || priv == NULL ||
	    strlen(path) >= sizeof(cur))
		return 0;
	(void) snprintf(cur, sizeof(cur), "%s", path);
	for (;;) {
		privs = json_object_get(p->raw, cur);
		if (json_is_object(privs)) {
			/* A listed path holds its effective privileges. */
			flag = json_object_get(privs, priv);
			if (flag == NULL || jsonx_loose_bool(flag, &b) != 0)
				return 0;
			return exact ? 1 : b;
		}
		if (strcmp(cur, "/") == 0)
			return 0;
		exact = 0;
		slash = strrchr(cur, '/');
		if (slash == NULL)
			return 0;
		if (slash == cur)
			cur[1] = '\0';
		else
			*slash = '\0';
	}
}

/* ---- disks (reference endpoints, §5.16) ----------------------------- */

void
pve_disks_reset(struct pve_disks *v)
{
	if (v == NULL)
		return;
	free(v->items);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_disks(json_t *data, struct pve_disks *out, struct err *err)
{
	struct pve_disk *items = NULL, *d;
	int64_t w;
	json_t *wv;
	char ctx[32];
	size_t i;
	int rc;

	if ((rc = need_array(data, "disks", err)) != 0)
		return rc;
	if ((items = items_alloc(json_array_size(data), sizeof(*items))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < json_array_size(data); i++) {
		json_t *o = json_array_get(data, i);

		d = &items[i];
		(void) snprintf(ctx, sizeof(ctx), "disks[%zu]", i);
		if ((rc = need_object(o, ctx, err)) != 0 ||
		    (rc = get_str(o, ctx, "devpath", 1, &d->devpath,
		    err)) != 0 ||
		    (rc = get_str(o, ctx, "model", 0, &d->model, err)) != 0 ||
		    (rc = get_str(o, ctx, "serial", 0, &d->serial, err)) != 0 ||
		    (rc = get_str(o, ctx, "type", 0, &d->type, err)) != 0 ||
		    (rc = get_str(o, ctx, "health", 0, &d->health, err)) != 0 ||
		    (rc = get_int(o, ctx, "size", 0, -1, &d->size, err)) != 0)
			goto out;
		/* wearout: a number, or the string "N/A" (§1.4). */
		d->wearout = -1;
		wv = member(o, "wearout");
		if (wv != NULL && jsonx_loose_int(wv, &w) == 0 && w >= 0 &&
		    w <= 100)
			d->wearout = (int)w;
	}
	out->raw = json_incref(data);
	out->items = items;
	out->n = json_array_size(data);
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

void
pve_smart_reset(struct pve_smart *v)
{
	if (v == NULL)
		return;
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

int
pve_parse_smart(json_t *data, struct pve_smart *out, struct err *err)
{
	struct pve_smart s;
	json_t *attrs;
	int64_t w;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = need_object(data, "smart", err)) != 0 ||
	    (rc = get_str(data, "smart", "health", 0, &s.health, err)) != 0 ||
	    (rc = get_str(data, "smart", "type", 0, &s.type, err)) != 0 ||
	    (rc = get_str(data, "smart", "text", 0, &s.text, err)) != 0 ||
	    (rc = get_int(data, "smart", "wearout", 0, -1, &w, err)) != 0)
		return rc;
	s.wearout = w >= 0 && w <= 100 ? (int)w : -1;
	if ((attrs = member(data, "attributes")) != NULL) {
		if (!json_is_array(attrs))
			return err_set(err, ERR_FORMAT, "smart.attributes: "
			    "expected an array");
		s.n_attributes = json_array_size(attrs);
	}
	s.raw = json_incref(data);
	*out = s;
	return 0;
}
