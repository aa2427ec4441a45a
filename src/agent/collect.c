/*
 * collect — the host report.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/collect.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "engine/norm.h"
#include "hub/hub.h"
#include "priv/spawn.h"
#include "pve/pve.h"
#include "store/audit.h"
#include "store/desired.h"
#include "store/kv.h"
#include "store/reportq.h"
#include "store/rtests.h"

/* ---- the read-only probe ------------------------------------------- */

/*
 * Through priv/spawn, the project's one process starter (the fence of
 * R-08 is checked on the objects: nothing else references fork, exec or
 * posix_spawn).  The probe runs unprivileged, read-only.
 */
int
collect_run(const char *const argv[], char *out, size_t cap,
    long timeout_ms, volatile sig_atomic_t *abort_flag, int *status_out,
    struct err *err)
{
	struct spawn_opts o;
	struct spawn_result r;
	int rc;

	if (cap == 0 || argv[0] == NULL || argv[0][0] != '/')
		return err_set(err, ERR_INVALID, "probe: argv[0] must be an "
		    "absolute path");
	out[0] = '\0';
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = timeout_ms;
	o.out_cap = cap;
	o.abort_flag = abort_flag;
	rc = spawn_run(&o, &r, err);
	if (rc == ERR_TIMEOUT)
		rc = err_set(err, ERR_TIMEOUT, "probe %s: no answer within "
		    "%ld ms", argv[0], timeout_ms);
	if (rc == 0) {
		memcpy(out, r.out, r.out_len + 1);
		*status_out = r.status;
	}
	spawn_result_reset(&r);
	return rc;
}

struct run_ctx {
	volatile sig_atomic_t	*abort_flag;
};

static int
system_run(void *ctx, const char *const argv[], char *out, size_t cap,
    int *status_out, struct err *err)
{
	struct run_ctx *rc = ctx;

	return collect_run(argv, out, cap, COLLECT_PROBE_TIMEOUT_MS,
	    rc->abort_flag, status_out, err);
}

/* First of the candidates that is an executable file, or NULL. */
static const char *
find_exe(const char *const *cands)
{
	for (; *cands != NULL; cands++)
		if (access(*cands, X_OK) == 0)
			return *cands;
	return NULL;
}

/* "cloudflared version 2025.8.1 (built ...)" → "2025.8.1". */
static json_t *
cloudflared_version(const char *s)
{
	const char *p = strstr(s, "version ");
	size_t n = 0;

	if (p == NULL)
		return json_null();
	p += 8;
	while (p[n] != '\0' && p[n] != ' ' && p[n] != '\n' && n < 64)
		n++;
	return n > 0 ? json_stringn(p, n) : json_null();
}

json_t *
collect_cloudflared(const struct collect_probe *probe,
    volatile sig_atomic_t *abort_flag)
{
	static const char *const bins[] = { "/usr/bin/cloudflared",
	    "/usr/local/bin/cloudflared", NULL };
	static const char *const ctls[] = { "/usr/bin/systemctl",
	    "/bin/systemctl", NULL };
	struct run_ctx rctx = { abort_flag };
	struct collect_probe sys = { system_run, &rctx };
	const char *bin, *ctl;
	char *buf = NULL;
	json_t *version = NULL;
	struct err err;
	int installed = 0, active = 0, st;

	if (probe == NULL)
		probe = &sys;
	if ((buf = malloc(COLLECT_PROBE_OUT_MAX)) == NULL)
		return NULL;
	/* A fake probe decides itself what exists. */
	bin = probe == &sys ? find_exe(bins) : bins[0];
	ctl = probe == &sys ? find_exe(ctls) : ctls[0];
	if (bin != NULL) {
		const char *argv[] = { bin, "--version", NULL };

		err_init(&err);
		if (probe->run(probe->ctx, argv, buf, COLLECT_PROBE_OUT_MAX,
		    &st, &err) == 0) {
			installed = 1;
			if (st == 0)
				version = cloudflared_version(buf);
		} else if (err.code != ERR_NOT_FOUND)
			log_warn("cloudflared --version: %s, ignoring",
			    err_msg(&err));
	}
	if (installed && ctl != NULL) {
		const char *argv[] = { ctl, "is-active", "cloudflared", NULL };

		err_init(&err);
		if (probe->run(probe->ctx, argv, buf, COLLECT_PROBE_OUT_MAX,
		    &st, &err) == 0)
			active = st == 0 && strncmp(buf, "active", 6) == 0 &&
			    (buf[6] == '\n' || buf[6] == '\0');
		else if (err.code != ERR_NOT_FOUND)
			log_warn("systemctl is-active cloudflared: %s, "
			    "ignoring", err_msg(&err));
	}
	free(buf);
	return json_pack("{s:b,s:b,s:o}", "installed", installed, "active",
	    active, "version", version != NULL ? version : json_null());
}

/* ---- PVE sections --------------------------------------------------- */

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
time_json(int64_t t)
{
	char ts[CLOCK_RFC3339_LEN];

	if (t < 0)
		return json_null();
	clock_format_rfc3339(t, ts, sizeof(ts));
	return json_string(ts);
}

/* Kernel release: current-kernel.release, else kversion's 2nd word. */
static json_t *
kernel_of(const struct pve_node_status *ns)
{
	const char *rel, *p, *q;

	rel = json_string_value(json_object_get(json_object_get(ns->raw,
	    "current-kernel"), "release"));
	if (rel != NULL)
		return json_string(rel);
	if (ns->kversion == NULL || (p = strchr(ns->kversion, ' ')) == NULL)
		return json_null();
	p++;
	q = strchr(p, ' ');
	return json_stringn(p, q != NULL ? (size_t)(q - p) : strlen(p));
}

static int
host_section(const struct collect_source *src, json_t **out,
    struct err *err)
{
	struct pve_node_status ns;
	struct pve_version ver;
	struct err verr;
	json_t *host = NULL, *version = NULL, *disks = NULL, *sensors = NULL;
	int rc;

	memset(&ns, 0, sizeof(ns));
	memset(&ver, 0, sizeof(ver));
	/* no node status, no report. */
	if ((rc = pve_node_status(src->pve, src->cfg->host_node, &ns,
	    err)) != 0) {
		(void) err_prefix(err, "node status: ");
		goto out;
	}
	err_init(&verr);
	if (pve_version(src->pve, &ver, &verr) == 0)
		version = json_string(ver.version);
	else {
		log_warn("PVE version unreadable: %s, reporting null",
		    err_msg(&verr));
		version = json_null();
	}
	/* R-08c: SMART and temperatures, read by the privileged helper. */
	if ((rc = health_read(src->health, clock_mono_ms(src->clock), &disks,
	    &sensors, err)) != 0) {
		json_decref(version);
		goto out;
	}
	host = json_pack("{s:s,s:o,s:o,s:I,s:I,s:f,s:[fff],"
	    "s:{s:I,s:I},s:{s:I,s:I},s:o,s:o}",
	    "node", src->cfg->host_node,
	    "pve_version", version,
	    "kernel", kernel_of(&ns),
	    "uptime_s", (json_int_t)ns.uptime,
	    "cpu_count", (json_int_t)ns.cpu_cpus,
	    "cpu_usage", ns.cpu,
	    "loadavg", ns.loadavg[0], ns.loadavg[1], ns.loadavg[2],
	    "memory", "total_bytes", (json_int_t)ns.mem_total,
		"used_bytes", (json_int_t)ns.mem_used,
	    "rootfs", "total_bytes", (json_int_t)ns.rootfs_total,
		"used_bytes", (json_int_t)ns.rootfs_used,
	    "disks", disks,
	    "sensors", sensors);
	if (host == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = host;
	rc = 0;
out:
	pve_node_status_reset(&ns);
	pve_version_reset(&ver);
	return rc;
}

/*
 * The contract's v1 key set has spec.features = {"nesting"} exactly
 * (fixtures/hub/host-report.golden.json, checked key by key by the hub):
 * other flags cannot be reported without breaking it, so the object is
 * projected onto that key.
 */
static int
contract_features(json_t *spec)
{
	json_t *f = json_object_get(spec, "features");
	int nesting = json_is_true(json_object_get(f, "nesting"));

	/* bind_mounts is the engine's view; the report has them in mounts. */
	(void) json_object_del(spec, "bind_mounts");
	/* So is usb_devices: the golden spec has no key for devN. */
	(void) json_object_del(spec, "usb_devices");
	return json_object_set_new(spec, "features", json_pack("{s:b}",
	    "nesting", nesting));
}

static int
cmp_guest(const void *a, const void *b)
{
	const struct pve_guest *x = a, *y = b;

	return (x->vmid > y->vmid) - (x->vmid < y->vmid);
}

static int
guests_section(const struct collect_source *src, json_t **out,
    struct collect_stats *stats, struct err *err)
{
	struct pve_guests list;
	struct pve_lxc_config *cfgs = NULL;
	struct err *errs = NULL, nerr;
	json_t *arr = NULL, *g, *spec;
	long *vmids = NULL;
	int *rcs = NULL, rc;
	size_t i, n, inflight;

	memset(&list, 0, sizeof(list));
	if ((rc = pve_lxc_list(src->pve, src->cfg->host_node, &list,
	    err)) != 0) {
		(void) err_prefix(err, "guest list: ");
		goto out;
	}
	n = list.n;
	if (n > 1)
		qsort(list.items, n, sizeof(*list.items), cmp_guest);
	if ((arr = json_array()) == NULL || (n > 0 &&
	    ((vmids = calloc(n, sizeof(*vmids))) == NULL ||
	    (cfgs = calloc(n, sizeof(*cfgs))) == NULL ||
	    (rcs = calloc(n, sizeof(*rcs))) == NULL ||
	    (errs = calloc(n, sizeof(*errs))) == NULL))) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		vmids[i] = list.items[i].vmid;
	inflight = src->in_flight == 0 || src->in_flight >
	    COLLECT_IN_FLIGHT_MAX ? COLLECT_IN_FLIGHT_MAX : src->in_flight;
	if (n > 0 && (rc = pve_lxc_configs(src->pve, src->cfg->host_node,
	    vmids, n, inflight, cfgs, rcs, errs, err)) != 0) {
		(void) err_prefix(err, "guest configs: ");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct pve_guest *pg = &list.items[i];

		spec = NULL;
		if (rcs[i] != 0)
			log_warn("guest %ld: config unreadable: %s; reported "
			    "with spec null", pg->vmid, err_msg(&errs[i]));
		else {
			err_init(&nerr);
			if (norm_spec_from_config(cfgs[i].raw, &spec,
			    &nerr) != 0) {
				log_warn("guest %ld: config not understood: "
				    "%s; reported with spec null", pg->vmid,
				    err_msg(&nerr));
				spec = NULL;
			} else if (contract_features(spec) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				json_decref(spec);
				goto out;
			}
		}
		if (spec == NULL)
			stats->spec_null++;
		/* the run status is kept; an empty one reads unknown. */
		g = json_pack("{s:I,s:s,s:o,s:s,s:o,s:I,s:o}",
		    "vmid", (json_int_t)pg->vmid,
		    "type", pg->type != NULL ? pg->type : "lxc",
		    "name", str_or_null(pg->name),
		    "status", pve_guest_state_name((int)pg->state),
		    "lock", str_or_null(pg->lock),
		    "uptime_s", (json_int_t)(pg->uptime > 0 ? pg->uptime : 0),
		    "spec", spec != NULL ? spec : json_null());
		if (g == NULL || json_array_append_new(arr, g) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	stats->guests = n;
	*out = arr;
	arr = NULL;
	rc = 0;
out:
	for (i = 0; cfgs != NULL && i < list.n; i++)
		pve_lxc_config_reset(&cfgs[i]);
	free(cfgs);
	free(errs);
	free(rcs);
	free(vmids);
	json_decref(arr);
	pve_guests_reset(&list);
	return rc;
}

/* "images,rootdir" → sorted array. */
static json_t *
content_array(const char *s)
{
	json_t *arr = json_array(), *v;
	const char *p = s, *q;
	size_t i, j;

	if (arr == NULL)
		return NULL;
	while (p != NULL && *p != '\0') {
		q = strchr(p, ',');
		if ((q == NULL ? strlen(p) : (size_t)(q - p)) > 0 &&
		    json_array_append_new(arr, json_stringn(p, q == NULL ?
		    strlen(p) : (size_t)(q - p))) != 0) {
			json_decref(arr);
			return NULL;
		}
		p = q == NULL ? NULL : q + 1;
	}
	/* PVE sends the list in random order (pve-api.md §5.13). */
	for (i = 1; i < json_array_size(arr); i++)
		for (j = i; j > 0 && strcmp(json_string_value(json_array_get(
		    arr, j - 1)), json_string_value(json_array_get(arr, j))) >
		    0; j--) {
			v = json_incref(json_array_get(arr, j - 1));
			(void) json_array_set(arr, j - 1, json_array_get(arr,
			    j));
			(void) json_array_set_new(arr, j, v);
		}
	return arr;
}

static int
has_content(const char *list, const char *what)
{
	size_t n = strlen(what);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, what, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return 0;
}

/*
 * The storage configuration of PBS storage id, or NULL.  pve-api.md
 * §5.13: the node's storage list never carries a PBS storage's server,
 * datastore or fingerprint; GET /storage?type=pbs does.
 */
static const struct pve_storage_cfg *
pbs_cfg(const struct pve_storage_cfgs *sc, const char *id)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (strcmp(sc->items[i].storage, id) == 0)
			return &sc->items[i];
	return NULL;
}

/* Reads the PBS storage configs once, when the list has a PBS storage. */
static void
pbs_cfgs(const struct collect_source *src, const struct pve_storages *st,
    struct pve_storage_cfgs *out)
{
	struct err err;
	size_t i;

	for (i = 0; i < st->n; i++)
		if (st->items[i].type != NULL &&
		    strcmp(st->items[i].type, "pbs") == 0)
			break;
	if (i == st->n)
		return;
	err_init(&err);
	if (pve_storage_config(src->pve, "pbs", out, &err) != 0)
		log_warn("PBS storage configuration unreadable (it needs "
		    "Datastore.Audit on /storage/<id>): %s; pbs server, "
		    "datastore and fingerprint reported as null",
		    err_msg(&err));
}

static int
append_backups(const struct pve_backups *b, const char *storage,
    json_t *arr, struct collect_stats *stats)
{
	json_t *o;
	size_t i;

	for (i = 0; i < b->n; i++) {
		const struct pve_backup *v = &b->items[i];

		o = json_pack("{s:s,s:s,s:o,s:o,s:I,s:b,s:o,s:o}",
		    "volid", v->volid != NULL ? v->volid : "",
		    "storage", storage,
		    "vmid", v->vmid >= 0 ? json_integer(v->vmid) : json_null(),
		    "ctime", time_json(v->ctime),
		    "size_bytes", (json_int_t)v->size,
		    "protected", v->is_protected == 1,
		    "verification", str_or_null(v->verify_state),
		    "notes", str_or_null(v->notes));
		if (o == NULL || json_array_append_new(arr, o) != 0)
			return ERR_NOMEM;
		stats->backups++;
	}
	return 0;
}

/* storage, backups and pbs from one storage list. */
static int
storage_sections(const struct collect_source *src, json_t *report,
    struct collect_stats *stats, struct err *err)
{
	struct pve_storages st;
	struct pve_storage_cfgs sc;
	const struct pve_storage_cfg *pc;
	struct pve_backups bk;
	struct err serr;
	json_t *storage, *backups, *pbs, *o;
	size_t i;
	int rc;

	memset(&st, 0, sizeof(st));
	memset(&sc, 0, sizeof(sc));
	storage = json_array();
	backups = json_array();
	pbs = json_array();
	if (storage == NULL || backups == NULL || pbs == NULL ||
	    json_object_set_new(report, "storage", storage) != 0 ||
	    json_object_set_new(report, "backups", backups) != 0 ||
	    json_object_set_new(report, "pbs", pbs) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	err_init(&serr);
	if (pve_storage_list(src->pve, src->cfg->host_node, NULL, &st,
	    &serr) != 0) {
		log_warn("storage list unreadable: %s; storage, backups and "
		    "pbs reported empty", err_msg(&serr));
		stats->storage_list_failed = 1;
		return 0;
	}
	pbs_cfgs(src, &st, &sc);
	for (i = 0; i < st.n; i++) {
		const struct pve_storage *s = &st.items[i];

		o = json_pack("{s:s,s:s,s:b,s:b,s:b,s:o,s:I,s:I}",
		    "id", s->storage, "type", s->type != NULL ? s->type : "",
		    "active", s->active == 1, "enabled", s->enabled == 1,
		    "shared", s->shared == 1,
		    "content", content_array(s->content != NULL ? s->content :
			""),
		    "total_bytes", (json_int_t)s->total,
		    "used_bytes", (json_int_t)s->used);
		if (o == NULL || json_array_append_new(storage, o) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		stats->storages++;
		if (s->type != NULL && strcmp(s->type, "pbs") == 0) {
			pc = pbs_cfg(&sc, s->storage);
			o = json_pack("{s:s,s:o,s:o,s:o,s:b,s:I,s:I}",
			    "storage", s->storage,
			    "server", str_or_null(pc != NULL ? pc->server :
				NULL),
			    "datastore", str_or_null(pc != NULL ?
				pc->datastore : NULL),
			    "fingerprint", str_or_null(pc != NULL ?
				pc->fingerprint : NULL),
			    "active", s->active == 1,
			    "total_bytes", (json_int_t)s->total,
			    "used_bytes", (json_int_t)s->used);
			if (o == NULL || json_array_append_new(pbs, o) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			stats->pbs++;
		}
		/* Only active storages that hold backups can list them. */
		if (s->active != 1 || s->content == NULL ||
		    !has_content(s->content, "backup"))
			continue;
		memset(&bk, 0, sizeof(bk));
		err_init(&serr);
		if (pve_storage_backups(src->pve, src->cfg->host_node,
		    s->storage, 0, &bk, &serr) != 0) {
			log_warn("storage %s: backups unreadable: %s, "
			    "skipping it", s->storage, err_msg(&serr));
			stats->storages_skipped++;
			continue;
		}
		rc = append_backups(&bk, s->storage, backups, stats);
		pve_backups_reset(&bk);
		if (rc != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	pve_storage_cfgs_reset(&sc);
	pve_storages_reset(&st);
	return rc;
}

/* ---- the agent's own sections --------------------------------------- */

static int
agent_sections(const struct collect_source *src, int64_t now,
    json_t *report, struct collect_stats *stats, struct err *err)
{
	int64_t ack, dgen, agen, blocked, dbb, op, rec, up, sack;
	json_t *agent = NULL, *ops = NULL, *audit = NULL, *last;
	int rc;

	if ((rc = kv_get_int(src->db, KV_AUDIT_ACK_SEQ, 0, &ack, err)) != 0 ||
	    (rc = kv_get_int(src->db, KV_DESIRED_GENERATION, 0, &dgen,
	    err)) != 0 ||
	    (rc = kv_get_int(src->db, DESIRED_KV_APPLIED, 0, &agen,
	    err)) != 0 ||
	    (rc = kv_get_int(src->db, KV_HUB_BLOCKED, 0, &blocked,
	    err)) != 0 ||
	    (rc = kv_get_int(src->db, KV_SIGNED_OPS_ACK_SEQ, 0, &sack,
	    err)) != 0 ||
	    (rc = reportq_db_bytes(src->db, &dbb, err)) != 0 ||
	    (rc = reportq_signers(src->db, &op, &rec, err)) != 0 ||
	    (rc = reportq_ops(src->db, now, REPORTQ_OPS_MAX, &ops,
	    err)) != 0 ||
	    (rc = audit_since(src->db, ack, COLLECT_AUDIT_MAX, &audit,
	    err)) != 0)
		goto out;
	up = (clock_mono_ms(src->clock) - src->started_mono_ms) / 1000;
	agent = json_pack("{s:I,s:I,s:I,s:I,s:b,s:{s:I,s:I},s:I,"
	    "s:{s:s,s:n,s:n,s:n}}",
	    "uptime_s", (json_int_t)(up > 0 ? up : 0),
	    "db_bytes", (json_int_t)dbb,
	    "desired_generation", (json_int_t)dgen,
	    "applied_generation", (json_int_t)agen,
	    "blocked", blocked != 0,
	    "signers", "operational", (json_int_t)op,
		"recovery", (json_int_t)rec,
	    /* hub-contract v1.1: every seq up to it is committed. */
	    "signed_ops_ack_seq", (json_int_t)sack,
	    /* hub-contract v1.1: the hub loop says when it is degraded. */
	    "health", "state", "ok", "cause", "since", "message");
	if (agent == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	stats->ops = json_array_size(ops);
	stats->audit = json_array_size(audit);
	last = json_array_get(audit, json_array_size(audit) - 1);
	stats->audit_max_seq = last != NULL ? json_integer_value(
	    json_object_get(last, "seq")) : 0;
	/* json_object_set_new() takes the reference even when it fails. */
	rc = json_object_set_new(report, "agent", agent);
	rc |= json_object_set_new(report, "ops", ops);
	rc |= json_object_set_new(report, "audit", audit);
	agent = ops = audit = NULL;
	if (rc != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
out:
	json_decref(agent);
	json_decref(ops);
	json_decref(audit);
	return rc;
}

int
collect_report(const struct collect_source *src, json_t **out,
    struct collect_stats *stats, struct err *err)
{
	struct collect_stats local;
	json_t *report = NULL, *host = NULL, *guests = NULL, *cf, *rtests;
	int64_t now = clock_now(src->clock);
	int rc;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if ((rc = host_section(src, &host, err)) != 0 ||
	    (rc = guests_section(src, &guests, stats, err)) != 0)
		goto out;
	if ((rc = rtests_report(src->db, &rtests, err)) != 0)
		goto out;
	report = json_pack("{s:s,s:s,s:s,s:o,s:O,s:O,s:o}",
	    "schema", HUB_SCHEMA_REPORT,
	    "host_id", src->cfg->host_id,
	    "agent_version", FELHOM_VERSION,
	    "reported_at", time_json(now),
	    "host", host,
	    "guests", guests,
	    /* the newest finished restore test of each guest. */
	    "restore_tests", rtests);
	if (report == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = storage_sections(src, report, stats, err)) != 0 ||
	    (rc = agent_sections(src, now, report, stats, err)) != 0)
		goto out;
	if ((cf = collect_cloudflared(src->probe, src->abort_flag)) == NULL ||
	    json_object_set_new(report, "cloudflared", cf) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = report;
	report = NULL;
	rc = 0;
out:
	json_decref(host);
	json_decref(guests);
	json_decref(report);
	return rc;
}

/*
 * hub-contract v1.1, degraded report: what can be told without PVE.
 * The agent's own sections are read from the database; when that fails
 * too, their values are null and ops and audit empty (the key set stays
 * the golden one).
 */
int
collect_minimal(const struct collect_source *src, json_t **out,
    struct collect_stats *stats, struct err *err)
{
	struct collect_stats local;
	json_t *report = NULL, *rtests = NULL, *agent, *cf;
	int64_t now = clock_now(src->clock), up;
	struct err derr;
	int rc;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	err_init(&derr);
	if ((rc = rtests_report(src->db, &rtests, &derr)) != 0) {
		if (rc == ERR_NOMEM)
			return err_copy(err, &derr);
		log_warn("restore tests unreadable: %s; reported empty",
		    err_msg(&derr));
		rtests = json_array();
	}
	report = json_pack("{s:s,s:s,s:s,s:o,s:n,s:[],s:o,s:[],s:[],s:[]}",
	    "schema", HUB_SCHEMA_REPORT,
	    "host_id", src->cfg->host_id,
	    "agent_version", FELHOM_VERSION,
	    "reported_at", time_json(now),
	    "host",
	    "guests",
	    "restore_tests", rtests,
	    "storage", "backups", "pbs");
	if (report == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	err_init(&derr);
	if ((rc = agent_sections(src, now, report, stats, &derr)) != 0) {
		if (rc == ERR_NOMEM) {
			rc = err_copy(err, &derr);
			goto out;
		}
		log_warn("agent sections unreadable: %s; reported null",
		    err_msg(&derr));
		up = (clock_mono_ms(src->clock) - src->started_mono_ms) / 1000;
		agent = json_pack("{s:I,s:n,s:n,s:n,s:n,s:n,s:n}",
		    "uptime_s", (json_int_t)(up > 0 ? up : 0), "db_bytes",
		    "desired_generation", "applied_generation", "blocked",
		    "signers", "signed_ops_ack_seq");
		if (agent == NULL ||
		    json_object_set_new(report, "agent", agent) != 0 ||
		    json_object_set_new(report, "ops", json_array()) != 0 ||
		    json_object_set_new(report, "audit", json_array()) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((cf = collect_cloudflared(src->probe, src->abort_flag)) == NULL ||
	    json_object_set_new(report, "cloudflared", cf) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = report;
	report = NULL;
	rc = 0;
out:
	json_decref(report);
	return rc;
}
