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
#include "net/https.h"
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

/* ---- the collection as a state machine (issue 17) -------------------- */

/*
 * The PVE reads run as asynchronous requests (HTTPS_PRIO_LOW: the lanes'
 * requests go first) on the client's multi, which the daemon's loop
 * polls; collect_step() only looks at what has completed and submits
 * what comes next, so it never blocks.  Phases: node status + version +
 * guest list together, then the configs not cached (a window of
 * in_flight), then the storage list, then the PBS configs and each
 * backup storage's content together.  Each answer is parsed as it
 * completes (issue 15: no whole set buffered).
 */
enum job_phase { JOB_FIRST, JOB_CONFIGS, JOB_STORAGE, JOB_BACKUPS, JOB_DONE };

struct job_bk {
	struct pve_req		*req;
	const struct pve_storage *s;	/* borrowed from job.st */
};

struct collect_job {
	const struct collect_source *src;
	enum job_phase		 phase;
	int			 rc;		/* the job failed: why */
	struct err		 err;
	struct collect_stats	 stats;
	/* JOB_FIRST */
	struct pve_req		*r_status, *r_version, *r_list;
	struct pve_node_status	 ns;
	struct pve_version	 ver;
	int			 have_status, have_version;
	struct pve_guests	 list;
	int			 have_list;
	/* JOB_CONFIGS: one per guest, in vmid order */
	json_t			**guests;	/* built, or NULL */
	struct pve_req		**cfg_reqs;
	size_t			 next_cfg, cfg_in_flight, window;
	/* JOB_STORAGE, JOB_BACKUPS */
	struct pve_req		*r_storages, *r_pbs;
	struct pve_storages	 st;
	struct pve_storage_cfgs	 sc;
	int			 have_st;
	struct job_bk		*bks;
	size_t			 nbks;
	json_t			*backups;	/* per storage, in list order */
};

static void
job_fail(struct collect_job *j, int rc, const struct err *e, const char *pfx)
{
	if (j->rc != 0)
		return;
	j->rc = err_set(&j->err, rc, "%s%s", pfx, err_msg(e));
	j->err.reason = e->reason;
	j->err.status = e->status;
	j->phase = JOB_DONE;
}

static void
job_nomem(struct collect_job *j)
{
	struct err e;

	err_init(&e);
	(void) err_set(&e, ERR_NOMEM, "out of memory");
	job_fail(j, ERR_NOMEM, &e, "");
}

static int
job_read(struct collect_job *j, enum pve_read_kind kind, long vmid,
    const char *storage, const char *type, struct pve_req **out)
{
	struct pve_read_args a;
	struct err e;
	int rc;

	memset(&a, 0, sizeof(a));
	a.node = j->src->cfg->host_node;
	a.vmid = vmid;
	a.storage = storage;
	a.type = type;
	err_init(&e);
	if ((rc = pve_read_submit(j->src->pve, kind, &a, HTTPS_PRIO_LOW, out,
	    &e)) != 0) {
		job_fail(j, rc, &e, "");
		return rc;
	}
	return 0;
}

/* One guest of the report from its list entry and config (or NULL). */
static json_t *
guest_json(const struct pve_guest *pg, json_t *config, const struct err *cerr,
    struct collect_stats *stats, int *nomem)
{
	struct err nerr;
	json_t *spec = NULL, *g;

	if (config == NULL)
		log_warn("guest %ld: config unreadable: %s; reported with "
		    "spec null", pg->vmid, err_msg(cerr));
	else {
		err_init(&nerr);
		if (norm_spec_from_config(config, &spec, &nerr) != 0) {
			log_warn("guest %ld: config not understood: %s; "
			    "reported with spec null", pg->vmid,
			    err_msg(&nerr));
			spec = NULL;
		} else if (contract_features(spec) != 0) {
			json_decref(spec);
			*nomem = 1;
			return NULL;
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
	if (g == NULL)
		*nomem = 1;
	return g;
}

/* The guest list arrived: the cached configs now, the rest to fetch. */
static void
job_list_ready(struct collect_job *j)
{
	struct pve_lxc_config cfg;
	long *keep = NULL;
	size_t i, n = j->list.n;
	int nomem = 0;

	if (n > 1)
		qsort(j->list.items, n, sizeof(*j->list.items), cmp_guest);
	if (n > 0 && ((j->guests = calloc(n, sizeof(*j->guests))) == NULL ||
	    (j->cfg_reqs = calloc(n, sizeof(*j->cfg_reqs))) == NULL ||
	    (keep = calloc(n, sizeof(*keep))) == NULL)) {
		free(keep);
		job_nomem(j);
		return;
	}
	for (i = 0; i < n; i++)
		keep[i] = j->list.items[i].vmid;
	/* Guests gone from the list leave the cache (memory stays flat). */
	pve_config_forget(j->src->pve, keep, n);
	free(keep);
	for (i = 0; i < n && !nomem; i++) {
		memset(&cfg, 0, sizeof(cfg));
		if (!pve_config_cached(j->src->pve, j->list.items[i].vmid,
		    &cfg))
			continue;
		j->guests[i] = guest_json(&j->list.items[i], cfg.raw, NULL,
		    &j->stats, &nomem);
		pve_lxc_config_reset(&cfg);
	}
	if (nomem)
		job_nomem(j);
}

static void
job_first(struct collect_job *j)
{
	struct err e;
	int rc;

	if (j->r_status != NULL && pve_req_done(j->r_status)) {
		err_init(&e);
		rc = pve_read_finish(j->src->pve, j->r_status, &j->ns, &e);
		j->r_status = NULL;
		/* no node status, no report. */
		if (rc != 0) {
			job_fail(j, rc, &e, "node status: ");
			return;
		}
		j->have_status = 1;
	}
	if (j->r_version != NULL && pve_req_done(j->r_version)) {
		err_init(&e);
		rc = pve_read_finish(j->src->pve, j->r_version, &j->ver, &e);
		j->r_version = NULL;
		if (rc != 0)
			log_warn("PVE version unreadable: %s, reporting null",
			    err_msg(&e));
		else
			j->have_version = 1;
	}
	if (j->r_list != NULL && pve_req_done(j->r_list)) {
		err_init(&e);
		rc = pve_read_finish(j->src->pve, j->r_list, &j->list, &e);
		j->r_list = NULL;
		if (rc != 0) {
			job_fail(j, rc, &e, "guest list: ");
			return;
		}
		j->have_list = 1;
		job_list_ready(j);
	}
	if (j->rc == 0 && j->r_status == NULL && j->r_version == NULL &&
	    j->r_list == NULL)
		j->phase = JOB_CONFIGS;
}

static void
job_configs(struct collect_job *j)
{
	struct pve_lxc_config cfg;
	struct err e;
	size_t i, n = j->list.n;
	int rc, nomem = 0;

	for (i = 0; i < n && j->cfg_in_flight > 0; i++) {
		if (j->cfg_reqs[i] == NULL || !pve_req_done(j->cfg_reqs[i]))
			continue;
		memset(&cfg, 0, sizeof(cfg));
		err_init(&e);
		rc = pve_read_finish(j->src->pve, j->cfg_reqs[i], &cfg, &e);
		j->cfg_reqs[i] = NULL;
		j->cfg_in_flight--;
		j->guests[i] = guest_json(&j->list.items[i], rc == 0 ?
		    cfg.raw : NULL, &e, &j->stats, &nomem);
		pve_lxc_config_reset(&cfg);
		if (nomem) {
			job_nomem(j);
			return;
		}
	}
	while (j->cfg_in_flight < j->window && j->next_cfg < n) {
		i = j->next_cfg++;
		if (j->guests[i] != NULL)
			continue;	/* cached */
		if (job_read(j, PVE_READ_LXC_CONFIG, j->list.items[i].vmid,
		    NULL, NULL, &j->cfg_reqs[i]) != 0)
			return;
		j->cfg_in_flight++;
	}
	if (j->cfg_in_flight == 0 && j->next_cfg == n) {
		j->stats.guests = n;
		if (job_read(j, PVE_READ_STORAGES, 0, NULL, NULL,
		    &j->r_storages) == 0)
			j->phase = JOB_STORAGE;
	}
}

static void
job_storage(struct collect_job *j)
{
	struct err e;
	size_t i, n = 0;
	int pbs = 0;

	if (!pve_req_done(j->r_storages))
		return;
	err_init(&e);
	if (pve_read_finish(j->src->pve, j->r_storages, &j->st, &e) != 0) {
		j->r_storages = NULL;
		log_warn("storage list unreadable: %s; storage, backups and "
		    "pbs reported empty", err_msg(&e));
		j->stats.storage_list_failed = 1;
		j->phase = JOB_DONE;
		return;
	}
	j->r_storages = NULL;
	j->have_st = 1;
	if (j->st.n > 0 && (j->bks = calloc(j->st.n, sizeof(*j->bks))) ==
	    NULL) {
		job_nomem(j);
		return;
	}
	for (i = 0; i < j->st.n; i++) {
		const struct pve_storage *s = &j->st.items[i];

		if (s->type != NULL && strcmp(s->type, "pbs") == 0)
			pbs = 1;
		/* Only active storages that hold backups can list them. */
		if (s->active != 1 || !pve_storage_has_content(s, "backup"))
			continue;
		j->bks[n].s = s;
		if (job_read(j, PVE_READ_BACKUPS, 0, s->storage, NULL,
		    &j->bks[n].req) != 0)
			return;
		n++;
	}
	j->nbks = n;
	/*
	 * pve-api.md §5.13: the node's storage list never carries a PBS
	 * storage's server, datastore or fingerprint; GET /storage?type=pbs
	 * does.
	 */
	if (pbs && job_read(j, PVE_READ_STORAGE_CFGS, 0, NULL, "pbs",
	    &j->r_pbs) != 0)
		return;
	j->phase = JOB_BACKUPS;
}

static void
job_backups(struct collect_job *j)
{
	struct pve_backups bk;
	struct err e;
	size_t i, open = 0;

	if (j->r_pbs != NULL) {
		if (pve_req_done(j->r_pbs)) {
			err_init(&e);
			if (pve_read_finish(j->src->pve, j->r_pbs, &j->sc,
			    &e) != 0)
				log_warn("PBS storage configuration unreadable "
				    "(it needs Datastore.Audit on "
				    "/storage/<id>): %s; pbs server, datastore "
				    "and fingerprint reported as null",
				    err_msg(&e));
			j->r_pbs = NULL;
		} else
			open++;
	}
	for (i = 0; i < j->nbks; i++) {
		if (j->bks[i].req == NULL)
			continue;
		if (!pve_req_done(j->bks[i].req)) {
			open++;
			continue;
		}
		memset(&bk, 0, sizeof(bk));
		err_init(&e);
		if (pve_read_finish(j->src->pve, j->bks[i].req, &bk,
		    &e) != 0) {
			j->bks[i].req = NULL;
			log_warn("storage %s: backups unreadable: %s, "
			    "skipping it", j->bks[i].s->storage, err_msg(&e));
			j->stats.storages_skipped++;
			continue;
		}
		j->bks[i].req = NULL;
		if (append_backups(&bk, j->bks[i].s->storage, j->backups,
		    &j->stats) != 0) {
			pve_backups_reset(&bk);
			job_nomem(j);
			return;
		}
		pve_backups_reset(&bk);
	}
	if (open == 0)
		j->phase = JOB_DONE;
}

int
collect_start(const struct collect_source *src, struct collect_job **out,
    struct err *err)
{
	struct collect_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->backups = json_array()) == NULL) {
		free(j);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	j->src = src;
	err_init(&j->err);
	j->window = src->in_flight == 0 || src->in_flight >
	    COLLECT_IN_FLIGHT_MAX ? COLLECT_IN_FLIGHT_MAX : src->in_flight;
	if (job_read(j, PVE_READ_NODE_STATUS, 0, NULL, NULL,
	    &j->r_status) == 0 &&
	    job_read(j, PVE_READ_VERSION, 0, NULL, NULL, &j->r_version) == 0)
		(void) job_read(j, PVE_READ_LXC_LIST, 0, NULL, NULL,
		    &j->r_list);
	*out = j;
	return 0;
}

int
collect_step(struct collect_job *j)
{
	enum job_phase before;

	do {
		before = j->phase;
		switch (j->phase) {
		case JOB_FIRST:
			job_first(j);
			break;
		case JOB_CONFIGS:
			job_configs(j);
			break;
		case JOB_STORAGE:
			job_storage(j);
			break;
		case JOB_BACKUPS:
			job_backups(j);
			break;
		case JOB_DONE:
			break;
		}
	} while (j->phase != before && j->phase != JOB_DONE);
	return j->phase == JOB_DONE;
}

void
collect_cancel(struct collect_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	pve_req_cancel(j->r_status);
	pve_req_cancel(j->r_version);
	pve_req_cancel(j->r_list);
	pve_req_cancel(j->r_storages);
	pve_req_cancel(j->r_pbs);
	for (i = 0; j->cfg_reqs != NULL && i < j->list.n; i++)
		pve_req_cancel(j->cfg_reqs[i]);
	for (i = 0; j->guests != NULL && i < j->list.n; i++)
		json_decref(j->guests[i]);
	for (i = 0; j->bks != NULL && i < j->nbks; i++)
		pve_req_cancel(j->bks[i].req);
	free(j->cfg_reqs);
	free(j->guests);
	free(j->bks);
	json_decref(j->backups);
	pve_node_status_reset(&j->ns);
	pve_version_reset(&j->ver);
	pve_guests_reset(&j->list);
	pve_storages_reset(&j->st);
	pve_storage_cfgs_reset(&j->sc);
	free(j);
}

static json_t *
job_host(struct collect_job *j, struct err *err)
{
	const struct pve_node_status *ns = &j->ns;
	json_t *disks = NULL, *sensors = NULL, *host;

	/* R-08c: SMART and temperatures, read by the privileged helper. */
	if (health_read(j->src->health, clock_mono_ms(j->src->clock), &disks,
	    &sensors, err) != 0)
		return NULL;
	host = json_pack("{s:s,s:o,s:o,s:I,s:I,s:f,s:[fff],"
	    "s:{s:I,s:I},s:{s:I,s:I},s:o,s:o}",
	    "node", j->src->cfg->host_node,
	    "pve_version", j->have_version ? json_string(j->ver.version) :
		json_null(),
	    "kernel", kernel_of(ns),
	    "uptime_s", (json_int_t)ns->uptime,
	    "cpu_count", (json_int_t)ns->cpu_cpus,
	    "cpu_usage", ns->cpu,
	    "loadavg", ns->loadavg[0], ns->loadavg[1], ns->loadavg[2],
	    "memory", "total_bytes", (json_int_t)ns->mem_total,
		"used_bytes", (json_int_t)ns->mem_used,
	    "rootfs", "total_bytes", (json_int_t)ns->rootfs_total,
		"used_bytes", (json_int_t)ns->rootfs_used,
	    "disks", disks,
	    "sensors", sensors);
	if (host == NULL)
		(void) err_set(err, ERR_NOMEM, "out of memory");
	return host;
}

/* storage and pbs from the storage list (backups are collected). */
static int
job_storage_json(struct collect_job *j, json_t *report, struct err *err)
{
	const struct pve_storage_cfg *pc;
	json_t *storage, *pbs, *o;
	size_t i;

	storage = json_array();
	pbs = json_array();
	if (json_object_set_new(report, "storage", storage) != 0 ||
	    json_object_set_new(report, "pbs", pbs) != 0 ||
	    json_object_set(report, "backups", j->backups) != 0 ||
	    storage == NULL || pbs == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; j->have_st && i < j->st.n; i++) {
		const struct pve_storage *s = &j->st.items[i];

		o = json_pack("{s:s,s:s,s:b,s:b,s:b,s:o,s:I,s:I}",
		    "id", s->storage, "type", s->type != NULL ? s->type : "",
		    "active", s->active == 1, "enabled", s->enabled == 1,
		    "shared", s->shared == 1,
		    "content", content_array(s->content != NULL ? s->content :
			""),
		    "total_bytes", (json_int_t)s->total,
		    "used_bytes", (json_int_t)s->used);
		if (o == NULL || json_array_append_new(storage, o) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		j->stats.storages++;
		if (s->type == NULL || strcmp(s->type, "pbs") != 0)
			continue;
		pc = pbs_cfg(&j->sc, s->storage);
		o = json_pack("{s:s,s:o,s:o,s:o,s:b,s:I,s:I}",
		    "storage", s->storage,
		    "server", str_or_null(pc != NULL ? pc->server : NULL),
		    "datastore", str_or_null(pc != NULL ? pc->datastore :
			NULL),
		    "fingerprint", str_or_null(pc != NULL ? pc->fingerprint :
			NULL),
		    "active", s->active == 1,
		    "total_bytes", (json_int_t)s->total,
		    "used_bytes", (json_int_t)s->used);
		if (o == NULL || json_array_append_new(pbs, o) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		j->stats.pbs++;
	}
	return 0;
}

int
collect_finish(struct collect_job *j, json_t **out,
    struct collect_stats *stats, struct err *err)
{
	json_t *report = NULL, *host = NULL, *guests = NULL, *cf, *rtests;
	int64_t now = clock_now(j->src->clock);
	size_t i;
	int rc;

	if (j->phase != JOB_DONE) {
		collect_cancel(j);
		return err_setr(err, ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
		    "collection cancelled before it was done");
	}
	if ((rc = j->rc) != 0) {
		(void) err_copy(err, &j->err);
		goto out;
	}
	if ((host = job_host(j, err)) == NULL) {
		rc = err->code != 0 ? err->code : ERR_NOMEM;
		goto out;
	}
	if ((guests = json_array()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < j->list.n; i++) {
		if (j->guests[i] == NULL || json_array_append_new(guests,
		    j->guests[i]) != 0) {
			j->guests[i] = NULL;
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		j->guests[i] = NULL;
	}
	if ((rc = rtests_report(j->src->db, &rtests, err)) != 0)
		goto out;
	report = json_pack("{s:s,s:s,s:s,s:o,s:O,s:O,s:o}",
	    "schema", HUB_SCHEMA_REPORT,
	    "host_id", j->src->cfg->host_id,
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
	if ((rc = job_storage_json(j, report, err)) != 0 ||
	    (rc = agent_sections(j->src, now, report, &j->stats, err)) != 0)
		goto out;
	if ((cf = collect_cloudflared(j->src->probe, j->src->abort_flag)) ==
	    NULL || json_object_set_new(report, "cloudflared", cf) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = report;
	report = NULL;
	rc = 0;
out:
	if (stats != NULL)
		*stats = j->stats;
	json_decref(host);
	json_decref(guests);
	json_decref(report);
	collect_cancel(j);
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

int
collect_report(const struct collect_source *src, json_t **out,
    struct collect_stats *stats, struct err *err)
{
	struct collect_job *j = NULL;
	struct err e;
	int rc;

	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if ((rc = collect_start(src, &j, err)) != 0)
		return rc;
	/* The blocking form: the same steps, waiting on the multi. */
	while (!collect_step(j)) {
		err_init(&e);
		if (https_multi_run(pve_client_multi(src->pve), 100, &e) < 0) {
			collect_cancel(j);
			return err_copy(err, &e);
		}
	}
	return collect_finish(j, out, stats, err);
}
