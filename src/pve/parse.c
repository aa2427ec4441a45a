/*
 * pve parse — the typed readers of PVE's "data" JSON: the shared
 * field readers, version, nodes, node status, guests, storage, backups,
 * snapshots, disks.  LXC config: parse_config.c; tasks: parse_task.c.
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

const char *
pve_guest_state_name(int state)
{
	if (state < 0 || state >= PVE_GUEST__COUNT)
		return "unknown";
	return pve_guest_state_names[state];
}

/* ---- field readers -------------------------------------------------- */

json_t *
pve_member(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

int
pve_get_str(const json_t *o, const char *ctx, const char *key, int required,
    const char **out, struct err *err)
{
	json_t *v = pve_member(o, key);

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

int
pve_get_int(const json_t *o, const char *ctx, const char *key, int required,
    int64_t dflt, int64_t *out, struct err *err)
{
	json_t *v = pve_member(o, key);

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

int
pve_get_real(const json_t *o, const char *ctx, const char *key, double dflt,
    double *out, struct err *err)
{
	json_t *v = pve_member(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (jsonx_loose_real(v, out) != 0)
		return err_set(err, ERR_FORMAT, "%s.%s: expected a number", ctx,
		    key);
	return 0;
}

int
pve_get_bool(const json_t *o, const char *ctx, const char *key, int dflt,
    int *out, struct err *err)
{
	json_t *v = pve_member(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (jsonx_loose_bool(v, out) != 0)
		return err_set(err, ERR_FORMAT, "%s.%s: expected 0 or 1", ctx,
		    key);
	return 0;
}

int
pve_need_array(const json_t *data, const char *what, struct err *err)
{
	if (!json_is_array(data))
		return err_set(err, ERR_FORMAT, "%s: expected an array", what);
	return 0;
}

int
pve_need_object(const json_t *data, const char *what, struct err *err)
{
	if (!json_is_object(data))
		return err_set(err, ERR_FORMAT, "%s: expected an object", what);
	return 0;
}

int
pve_parse_list(json_t *data, const char *what, size_t item_size,
    pve_item_fn one, void **items_out, size_t *n_out, struct err *err)
{
	unsigned char *items = NULL;
	char ctx[48];
	size_t i, n;
	int rc;

	if ((rc = pve_need_array(data, what, err)) != 0)
		return rc;
	n = json_array_size(data);
	/* At least one item, so that an empty list is not NULL. */
	if ((items = calloc(n > 0 ? n : 1, item_size)) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	for (i = 0; i < n; i++) {
		json_t *o = json_array_get(data, i);

		(void) snprintf(ctx, sizeof(ctx), "%s[%zu]", what, i);
		if ((rc = pve_need_object(o, ctx, err)) != 0 ||
		    (rc = one(o, ctx, items + i * item_size, err)) != 0)
			goto out;
	}
	*items_out = items;
	*n_out = n;
	items = NULL;
	rc = 0;
out:
	free(items);
	return rc;
}

void
pve_result_reset(void *v, size_t size, void *items, json_t *raw)
{
	free(items);
	json_decref(raw);
	memset(v, 0, size);
}

/* ---- version, nodes, node status ------------------------------------ */

void
pve_version_reset(struct pve_version *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
}

int
pve_parse_version(json_t *data, struct pve_version *out, struct err *err)
{
	struct pve_version v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_need_object(data, "version", err)) != 0 ||
	    (rc = pve_get_str(data, "version", "version", 1, &v.version,
	    err)) != 0 ||
	    (rc = pve_get_str(data, "version", "release", 0, &v.release,
	    err)) != 0 ||
	    (rc = pve_get_str(data, "version", "repoid", 0, &v.repoid,
	    err)) != 0)
		return rc;
	v.raw = json_incref(data);
	*out = v;
	return 0;
}

void
pve_nodes_reset(struct pve_nodes *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_node(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_node *n = item;
	int rc;

	if ((rc = pve_get_str(o, ctx, "node", 1, &n->node, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "status", 0, &n->status, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "ssl_fingerprint", 0,
	    &n->ssl_fingerprint, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "level", 0, &n->level, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "cpu", -1, &n->cpu, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxcpu", 0, -1, &n->maxcpu,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "mem", 0, -1, &n->mem, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxmem", 0, -1, &n->maxmem,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "disk", 0, -1, &n->disk, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxdisk", 0, -1, &n->maxdisk,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "uptime", 0, -1, &n->uptime, err)) != 0)
		return rc;
	return 0;
}

int
pve_parse_nodes(json_t *data, struct pve_nodes *out, struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "nodes", sizeof(*out->items),
	    parse_node, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

void
pve_node_status_reset(struct pve_node_status *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
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
	if ((rc = pve_need_object(data, ctx, err)) != 0)
		return rc;
	ci = pve_member(data, "cpuinfo");
	mem = pve_member(data, "memory");
	swap = pve_member(data, "swap");
	rootfs = pve_member(data, "rootfs");
	boot = pve_member(data, "boot-info");
	if ((ci != NULL && !json_is_object(ci)) ||
	    (mem != NULL && !json_is_object(mem)) ||
	    (swap != NULL && !json_is_object(swap)) ||
	    (rootfs != NULL && !json_is_object(rootfs)) ||
	    (boot != NULL && !json_is_object(boot)))
		return err_set(err, ERR_FORMAT, "%s: cpuinfo, memory, swap, "
		    "rootfs and boot-info must be objects", ctx);
	if ((rc = pve_get_int(data, ctx, "uptime", 0, -1, &s.uptime,
	    err)) != 0 ||
	    (rc = pve_get_real(data, ctx, "cpu", -1, &s.cpu, err)) != 0 ||
	    (rc = pve_get_real(data, ctx, "wait", -1, &s.wait, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "kversion", 0, &s.kversion,
	    err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "pveversion", 0, &s.pveversion,
	    err)) != 0 ||
	    (rc = pve_get_str(ci, "node_status.cpuinfo", "model", 0,
	    &s.cpu_model, err)) != 0 ||
	    (rc = pve_get_int(ci, "node_status.cpuinfo", "sockets", 0, -1,
	    &s.cpu_sockets, err)) != 0 ||
	    (rc = pve_get_int(ci, "node_status.cpuinfo", "cores", 0, -1,
	    &s.cpu_cores, err)) != 0 ||
	    (rc = pve_get_int(ci, "node_status.cpuinfo", "cpus", 0, -1,
	    &s.cpu_cpus, err)) != 0 ||
	    (rc = pve_get_real(ci, "node_status.cpuinfo", "mhz", -1, &s.cpu_mhz,
	    err)) != 0 ||
	    (rc = pve_get_int(mem, "node_status.memory", "total", 0, -1,
	    &s.mem_total, err)) != 0 ||
	    (rc = pve_get_int(mem, "node_status.memory", "used", 0, -1,
	    &s.mem_used, err)) != 0 ||
	    (rc = pve_get_int(mem, "node_status.memory", "free", 0, -1,
	    &s.mem_free, err)) != 0 ||
	    (rc = pve_get_int(mem, "node_status.memory", "available", 0, -1,
	    &s.mem_available, err)) != 0 ||
	    (rc = pve_get_int(swap, "node_status.swap", "total", 0, -1,
	    &s.swap_total, err)) != 0 ||
	    (rc = pve_get_int(swap, "node_status.swap", "used", 0, -1,
	    &s.swap_used, err)) != 0 ||
	    (rc = pve_get_int(swap, "node_status.swap", "free", 0, -1,
	    &s.swap_free, err)) != 0 ||
	    (rc = pve_get_int(rootfs, "node_status.rootfs", "total", 0, -1,
	    &s.rootfs_total, err)) != 0 ||
	    (rc = pve_get_int(rootfs, "node_status.rootfs", "used", 0, -1,
	    &s.rootfs_used, err)) != 0 ||
	    (rc = pve_get_int(rootfs, "node_status.rootfs", "avail", 0, -1,
	    &s.rootfs_avail, err)) != 0 ||
	    (rc = pve_get_int(rootfs, "node_status.rootfs", "free", 0, -1,
	    &s.rootfs_free, err)) != 0 ||
	    (rc = pve_get_str(boot, "node_status.boot-info", "mode", 0,
	    &s.boot_mode, err)) != 0 ||
	    (rc = pve_get_bool(boot, "node_status.boot-info", "secureboot", -1,
	    &s.secureboot, err)) != 0)
		return rc;
	for (i = 0; i < 3; i++)
		s.loadavg[i] = -1;
	if ((la = pve_member(data, "loadavg")) != NULL) {
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

/* Also reads status/current, hence its own object check. */
static int
parse_guest(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_guest *g = item;
	int64_t vmid;
	json_t *ha;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = pve_need_object(o, ctx, err)) != 0)
		return rc;
	/* §1.4: vmid is a string before pve-container 5.0.10. */
	if ((rc = pve_get_int(o, ctx, "vmid", 1, -1, &vmid, err)) != 0)
		return rc;
	if (vmid < 0 || vmid > 999999999)
		return err_set(err, ERR_FORMAT, "%s.vmid: %" PRId64 " out of "
		    "range", ctx, vmid);
	g->vmid = (long)vmid;
	if ((rc = pve_get_str(o, ctx, "type", 0, &g->type, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "status", 0, &g->status, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "name", 0, &g->name, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "tags", 0, &g->tags, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "lock", 0, &g->lock, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "template", 0, &g->is_template,
	    err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "cpus", -1, &g->cpus, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "cpu", -1, &g->cpu, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxmem", 0, -1, &g->maxmem, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxswap", 0, -1, &g->maxswap,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "maxdisk", 0, -1, &g->maxdisk,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "mem", 0, -1, &g->mem, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "swap", 0, -1, &g->swap, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "disk", 0, -1, &g->disk, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "uptime", 0, -1, &g->uptime, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "netin", 0, -1, &g->netin, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "netout", 0, -1, &g->netout, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "diskread", 0, -1, &g->diskread,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "diskwrite", 0, -1, &g->diskwrite,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "pid", 0, -1, &g->pid, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressurecpusome", -1,
	    &g->pressure_cpu_some, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressurecpufull", -1,
	    &g->pressure_cpu_full, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressureiosome", -1,
	    &g->pressure_io_some, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressureiofull", -1,
	    &g->pressure_io_full, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressurememorysome", -1,
	    &g->pressure_mem_some, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "pressurememoryfull", -1,
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
	if ((ha = pve_member(o, "ha")) != NULL) {
		char hctx[64];

		(void) snprintf(hctx, sizeof(hctx), "%s.ha", ctx);
		if ((rc = pve_need_object(ha, hctx, err)) != 0 ||
		    (rc = pve_get_bool(ha, hctx, "managed", -1, &g->ha_managed,
		    err)) != 0 ||
		    (rc = pve_get_str(ha, hctx, "state", 0, &g->ha_state,
		    err)) != 0)
			return rc;
	}
	return 0;
}

void
pve_guests_reset(struct pve_guests *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

int
pve_parse_guests(json_t *data, struct pve_guests *out, struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "guests", sizeof(*out->items),
	    parse_guest, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

void
pve_guest_status_reset(struct pve_guest_status *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
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

/* ---- storage -------------------------------------------------------- */

int
pve_storage_has_content(const struct pve_storage *s, const char *what)
{
	const char *p = s->content;
	size_t n = strlen(what);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, what, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return 0;
}

void
pve_storages_reset(struct pve_storages *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_storage(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_storage *s = item;
	int rc;

	if ((rc = pve_get_str(o, ctx, "storage", 1, &s->storage, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "type", 0, &s->type, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "content", 0, &s->content, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "active", 0, &s->active, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "enabled", 0, &s->enabled, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "shared", 0, &s->shared, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "total", 0, 0, &s->total, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "used", 0, 0, &s->used, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "avail", 0, 0, &s->avail, err)) != 0 ||
	    (rc = pve_get_real(o, ctx, "used_fraction", -1, &s->used_fraction,
	    err)) != 0)
		return rc;
	return 0;
}

int
pve_parse_storages(json_t *data, struct pve_storages *out, struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "storages", sizeof(*out->items),
	    parse_storage, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

void
pve_backups_reset(struct pve_backups *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_backup(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_backup *b = item;
	int64_t vmid;
	json_t *ver;
	int rc;

	if ((rc = pve_get_str(o, ctx, "volid", 1, &b->volid, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "format", 0, &b->format, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "subtype", 0, &b->subtype, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "notes", 0, &b->notes, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "encrypted", 0, &b->encrypted,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "vmid", 0, -1, &vmid, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "ctime", 0, 0, &b->ctime, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "size", 0, 0, &b->size, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "protected", 0, &b->is_protected,
	    err)) != 0)
		return rc;
	b->vmid = (long)vmid;
	if ((ver = pve_member(o, "verification")) != NULL) {
		char vctx[64];

		(void) snprintf(vctx, sizeof(vctx), "%s.verification", ctx);
		if ((rc = pve_need_object(ver, vctx, err)) != 0 ||
		    (rc = pve_get_str(ver, vctx, "state", 0, &b->verify_state,
		    err)) != 0)
			return rc;
	}
	return 0;
}

int
pve_parse_backups(json_t *data, struct pve_backups *out, struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "backups", sizeof(*out->items),
	    parse_backup, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

/* ---- snapshots ------------------------------------------------------ */

void
pve_snapshots_reset(struct pve_snapshots *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_snapshot(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_snapshot *s = item;
	int rc;

	if ((rc = pve_get_str(o, ctx, "name", 1, &s->name, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "description", 0, &s->description,
	    err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "parent", 0, &s->parent, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "snapstate", 0, &s->snapstate,
	    err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "digest", 0, &s->digest, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "snaptime", 0, -1, &s->snaptime,
	    err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "running", -1, &s->running, err)) != 0)
		return rc;
	if (s->description == NULL)
		s->description = "";
	s->is_current = strcmp(s->name, "current") == 0;
	return 0;
}

int
pve_parse_snapshots(json_t *data, struct pve_snapshots *out,
    struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "snapshots", sizeof(*out->items),
	    parse_snapshot, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
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

/* ---- disks (reference endpoints, §5.16) ----------------------------- */

void
pve_disks_reset(struct pve_disks *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_disk(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_disk *d = item;
	int64_t w;
	json_t *wv;
	int rc;

	if ((rc = pve_get_str(o, ctx, "devpath", 1, &d->devpath, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "model", 0, &d->model, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "serial", 0, &d->serial, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "type", 0, &d->type, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "health", 0, &d->health, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "size", 0, -1, &d->size, err)) != 0)
		return rc;
	/* wearout: a number, or the string "N/A" (§1.4). */
	d->wearout = -1;
	wv = pve_member(o, "wearout");
	if (wv != NULL && jsonx_loose_int(wv, &w) == 0 && w >= 0 && w <= 100)
		d->wearout = (int)w;
	return 0;
}

int
pve_parse_disks(json_t *data, struct pve_disks *out, struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "disks", sizeof(*out->items),
	    parse_disk, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

void
pve_smart_reset(struct pve_smart *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
}

int
pve_parse_smart(json_t *data, struct pve_smart *out, struct err *err)
{
	struct pve_smart s;
	json_t *attrs;
	int64_t w;
	int rc;

	memset(&s, 0, sizeof(s));
	if ((rc = pve_need_object(data, "smart", err)) != 0 ||
	    (rc = pve_get_str(data, "smart", "health", 0, &s.health,
	    err)) != 0 ||
	    (rc = pve_get_str(data, "smart", "type", 0, &s.type, err)) != 0 ||
	    (rc = pve_get_str(data, "smart", "text", 0, &s.text, err)) != 0 ||
	    (rc = pve_get_int(data, "smart", "wearout", 0, -1, &w, err)) != 0)
		return rc;
	s.wearout = w >= 0 && w <= 100 ? (int)w : -1;
	if ((attrs = pve_member(data, "attributes")) != NULL) {
		if (!json_is_array(attrs))
			return err_set(err, ERR_FORMAT, "smart.attributes: "
			    "expected an array");
		s.n_attributes = json_array_size(attrs);
	}
	s.raw = json_incref(data);
	*out = s;
	return 0;
}
