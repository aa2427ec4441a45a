/*
 * helper — felhom-privhelper's request handling: peer check,
 * one capped frame, the fixed request table, policy checks, fixed-argv
 * programs, parsed answers.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "priv/helper.h"
#include "priv/policy.h"
#include "priv/sensors.h"
#include "priv/smart.h"
#include "priv/spawn.h"
#include "priv/wire.h"

#define HELPER_ARGV_MAX		64
#define HELPER_ARG_MAX		(POLICY_DESC_MAX + 32)
#define HELPER_PCT_OUT_MAX	(64 * 1024)	/* task log kept */
#define HELPER_ERR_MAX		(16 * 1024)	/* stderr kept */
#define HELPER_ENTRIES_MAX	32		/* mount points per attach */
#define HELPER_CONFIG_OUT_MAX	(256 * 1024)	/* extractconfig text */

/* ---- configuration ----------------------------------------------------- */

static int
resolve_user(const char *name, uid_t *out, struct err *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *end;
	unsigned long v;
	int e;

	if (isdigit((unsigned char)name[0])) {
		errno = 0;
		v = strtoul(name, &end, 10);
		if (*end != '\0' || errno != 0 || v > 0x7fffffffUL)
			return err_set(err, ERR_CONFIG, "priv.agent_user: '%s' "
			    "is not a uid", name);
		*out = (uid_t)v;
		return 0;
	}
	e = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (e != 0 || res == NULL)
		return err_set(err, ERR_CONFIG, "priv.agent_user: no user "
		    "'%s' on this host", name);
	*out = pw.pw_uid;
	return 0;
}

void
helper_config_reset(struct helper_config *hc)
{
	if (hc == NULL)
		return;
	policy_reset(&hc->policy);
	free(hc->pct);
	free(hc->pvesm);
	free(hc->smartctl);
	free(hc->sensors);
	memset(hc, 0, sizeof(*hc));
}

int
helper_config_from(const struct config *cfg, struct helper_config *out,
    struct err *err)
{
	struct helper_config hc;
	int rc;

	memset(&hc, 0, sizeof(hc));
	if ((rc = resolve_user(cfg->priv_agent_user, &hc.agent_uid,
	    err)) != 0)
		return rc;
	if ((rc = policy_init(&hc.policy, cfg->priv_bind_roots,
	    cfg->priv_vmid_min, cfg->priv_vmid_max, cfg->priv_sysfs_root,
	    err)) != 0)
		return rc;
	if ((hc.pct = strdup(cfg->priv_pct)) == NULL ||
	    (hc.pvesm = strdup(cfg->priv_pvesm)) == NULL ||
	    (hc.smartctl = strdup(cfg->priv_smartctl)) == NULL ||
	    (hc.sensors = strdup(cfg->priv_sensors)) == NULL) {
		helper_config_reset(&hc);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	hc.timeout_ms = cfg->priv_timeout_s * 1000;
	*out = hc;
	return 0;
}

/* ---- argv building ----------------------------------------------------- */

/* An argv of owned strings. */
struct argv {
	char	*v[HELPER_ARGV_MAX + 1];
	size_t	 n;
};

static void
argv_reset(struct argv *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	memset(a, 0, sizeof(*a));
}

static int
argv_add(struct argv *a, struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
argv_add(struct argv *a, struct err *err, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	if (a->n == HELPER_ARGV_MAX)
		return err_set(err, ERR_TOO_LARGE, "too many arguments");
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((size_t)n > HELPER_ARG_MAX) {
		free(s);
		return err_set(err, ERR_TOO_LARGE, "argument too long");
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

/* ---- the plan of one request ------------------------------------------- */

/*
 * What a validated request runs: helper_prepare fills it without
 * starting anything, helper_run runs it.
 */
struct helper_plan {
	enum wire_req	 type;
	struct argv	 probe;		/* restore: pvesm extractconfig */
	struct argv	 run;		/* the program itself */
	char		 dev[64];	/* smart: the disk */
	json_t		*result;	/* answered after a good run */
};

void
helper_plan_free(struct helper_plan *p)
{
	if (p == NULL)
		return;
	argv_reset(&p->probe);
	argv_reset(&p->run);
	json_decref(p->result);
	free(p);
}

int
helper_plan_type(const struct helper_plan *p)
{
	return (int)p->type;
}

const char *const *
helper_plan_argv(const struct helper_plan *p, int probe, size_t *n)
{
	const struct argv *a = probe ? &p->probe : &p->run;

	*n = a->n;
	return (const char *const *)a->v;
}

/* ---- running programs -------------------------------------------------- */

/* The last non-empty line of text, escaped, into out. */
static void
last_line(const char *text, size_t len, char *out, size_t n)
{
	size_t end = len, start;

	out[0] = '\0';
	while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' ||
	    text[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	if (end > start)
		err_escape(out, n, text + start, end - start);
}

/*
 * Runs a pct/pvesm command; a non-zero exit is ERR_TASK with the tool's
 * own last error line.  *out_res (may be NULL) keeps the result.
 */
static int
run_tool(struct argv *a, long timeout_ms, size_t out_cap,
    struct helper_summary *sum, struct spawn_result *out_res,
    struct err *err)
{
	struct spawn_opts o;
	struct spawn_result r;
	char line[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)a->v;
	o.timeout_ms = timeout_ms;
	o.out_cap = out_cap;
	o.err_cap = HELPER_ERR_MAX;
	sum->ran = 1;
	rc = spawn_run(&o, &r, err);
	if (rc != 0) {
		spawn_result_reset(&r);
		return rc;
	}
	if (r.status != 0) {
		last_line(r.errtext, r.err_len, line, sizeof(line));
		if (line[0] == '\0')
			last_line(r.out, r.out_len, line, sizeof(line));
		rc = err_setr(err, ERR_TASK, 0, r.status, "%s %s failed "
		    "(exit %d): %s", a->v[0], a->v[1], r.status,
		    line[0] != '\0' ? line : "no message");
		spawn_result_reset(&r);
		return rc;
	}
	if (out_res != NULL)
		*out_res = r;
	else
		spawn_result_reset(&r);
	return 0;
}

/* ---- request fields ---------------------------------------------------- */

static int
req_vmid(const struct helper_config *hc, const json_t *req, int64_t *vmid,
    struct helper_summary *sum, struct err *err)
{
	int rc;

	if ((rc = jsonx_req_int(req, "request", "vmid", 0, 999999999, vmid,
	    err)) != 0) {
		/* A field error is a validation failure (as invalid()). */
		if (rc == ERR_FORMAT && err != NULL)
			err->code = ERR_INVALID;
		return rc == ERR_FORMAT ? ERR_INVALID : rc;
	}
	sum->vmid = *vmid;
	return policy_vmid(&hc->policy, *vmid, err);
}

/* A field error is a validation failure: ERR_INVALID, same message. */
static int
invalid(int rc, struct err *err)
{
	if (rc == ERR_FORMAT && err != NULL)
		err->code = ERR_INVALID;
	return rc == ERR_FORMAT ? ERR_INVALID : rc;
}

/*
 * features object → "keyctl=1,nesting=1" (only true flags; mount as its
 * value) into out.  *n_out counts what was written.
 */
static int
features_value(const json_t *f, char *out, size_t n, size_t *n_out,
    struct err *err)
{
	const char *k;
	json_t *v;
	size_t len = 0, cnt = 0;
	int w, rc;

	out[0] = '\0';
	if (!json_is_object(f))
		return err_set(err, ERR_INVALID, "request.features: expected "
		    "an object of flags");
	json_object_foreach((json_t *)(uintptr_t)f, k, v) {
		if (strcmp(k, "mount") == 0) {
			if (!json_is_string(v))
				return err_set(err, ERR_INVALID, "request."
				    "features.mount: expected a string");
			if ((rc = policy_mount_types(json_string_value(v),
			    err)) != 0)
				return rc;
			w = snprintf(out + len, n - len, "%smount=%s",
			    cnt > 0 ? "," : "", json_string_value(v));
		} else {
			if ((rc = policy_feature(k, err)) != 0)
				return rc;
			if (!json_is_boolean(v))
				return err_set(err, ERR_INVALID, "request."
				    "features.%s: expected true or false", k);
			if (!json_is_true(v))
				continue;
			w = snprintf(out + len, n - len, "%s%s=1",
			    cnt > 0 ? "," : "", k);
		}
		if (w < 0 || (size_t)w >= n - len)
			return err_set(err, ERR_INVALID, "request.features: "
			    "too long");
		len += (size_t)w;
		cnt++;
	}
	*n_out = cnt;
	return 0;
}

/* ---- (a) pct create / restore / set --features --------------------------- */

/*
 * (a) pve-container src/PVE/API2/LXC.pm create_vm calls
 * check_ct_modify_config_perm (src/PVE/LXC.pm), which refuses feature
 * flags other than nesting to anyone but root@pam; an API token never
 * is root@pam.  So a container that needs keyctl, fuse, mknod ... is
 * created here, as root, with `pct create`.
 */
static int
prep_create(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", "vmid", "template",
	    "storage", "rootfs_gib", "features", "hostname", "memory_mib",
	    "swap_mib", "cores", "onboot", "description", "tags", NULL };
	const char *tmpl, *storage, *host = NULL, *desc = NULL;
	json_t *features, *tags = NULL, *t;
	int64_t vmid, gib, mem, swap, cores;
	int onboot = 0, p_mem = 0, p_swap = 0, p_cores = 0, p_onboot = 0, rc;
	char fv[256], tagv[1024];
	size_t nf = 0, i, tl = 0;
	struct argv *a = &pl->run;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0 ||
	    (rc = req_vmid(hc, req, &vmid, sum, err)) != 0 ||
	    (rc = jsonx_req_string(req, "request", "template", &tmpl,
	    err)) != 0 ||
	    (rc = jsonx_req_string(req, "request", "storage", &storage,
	    err)) != 0 ||
	    (rc = jsonx_req_int(req, "request", "rootfs_gib", 1, 65536, &gib,
	    err)) != 0 ||
	    (rc = jsonx_req_object(req, "request", "features", &features,
	    err)) != 0 ||
	    (rc = jsonx_opt_string(req, "request", "hostname", &host, NULL,
	    err)) != 0 ||
	    (rc = jsonx_opt_int(req, "request", "memory_mib", 16, 64 * 1048576,
	    &mem, &p_mem, err)) != 0 ||
	    (rc = jsonx_opt_int(req, "request", "swap_mib", 0, 64 * 1048576,
	    &swap, &p_swap, err)) != 0 ||
	    (rc = jsonx_opt_int(req, "request", "cores", 1, 8192, &cores,
	    &p_cores, err)) != 0 ||
	    (rc = jsonx_opt_bool(req, "request", "onboot", &onboot, &p_onboot,
	    err)) != 0 ||
	    (rc = jsonx_opt_string(req, "request", "description", &desc, NULL,
	    err)) != 0 ||
	    (rc = jsonx_opt_array(req, "request", "tags", &tags, NULL,
	    err)) != 0)
		return invalid(rc, err);
	if ((rc = policy_volid(tmpl, "template", err)) != 0 ||
	    (rc = policy_storage(storage, err)) != 0 ||
	    (host != NULL && (rc = policy_hostname(host, err)) != 0) ||
	    (desc != NULL && (rc = policy_description(desc, err)) != 0) ||
	    (rc = features_value(features, fv, sizeof(fv), &nf, err)) != 0)
		return rc;
	tagv[0] = '\0';
	json_array_foreach(tags, i, t) {
		if (!json_is_string(t) || i >= 64)
			return err_set(err, ERR_INVALID, "request.tags[%zu]: "
			    "expected a tag", i);
		if ((rc = policy_tag(json_string_value(t), err)) != 0)
			return rc;
		tl += (size_t)snprintf(tagv + tl, sizeof(tagv) - tl, "%s%s",
		    i > 0 ? ";" : "", json_string_value(t));
		if (tl >= sizeof(tagv))
			return err_set(err, ERR_INVALID, "request.tags: too "
			    "long");
	}
	(void) snprintf(sum->what, sizeof(sum->what), "pct create %" PRId64
	    " (%s)", vmid, fv);
	/* Always unprivileged: a privileged container is root on the host. */
	if ((rc = argv_add(a, err, "%s", hc->pct)) != 0 ||
	    (rc = argv_add(a, err, "create")) != 0 ||
	    (rc = argv_add(a, err, "%" PRId64, vmid)) != 0 ||
	    (rc = argv_add(a, err, "%s", tmpl)) != 0 ||
	    (rc = argv_add(a, err, "--storage=%s", storage)) != 0 ||
	    (rc = argv_add(a, err, "--rootfs=%s:%" PRId64, storage,
	    gib)) != 0 ||
	    (rc = argv_add(a, err, "--unprivileged=1")) != 0 ||
	    (nf > 0 && (rc = argv_add(a, err, "--features=%s", fv)) != 0) ||
	    (host != NULL && (rc = argv_add(a, err, "--hostname=%s",
	    host)) != 0) ||
	    (p_mem && (rc = argv_add(a, err, "--memory=%" PRId64,
	    mem)) != 0) ||
	    (p_swap && (rc = argv_add(a, err, "--swap=%" PRId64,
	    swap)) != 0) ||
	    (p_cores && (rc = argv_add(a, err, "--cores=%" PRId64,
	    cores)) != 0) ||
	    (p_onboot && (rc = argv_add(a, err, "--onboot=%d",
	    onboot)) != 0) ||
	    (desc != NULL && (rc = argv_add(a, err, "--description=%s",
	    desc)) != 0) ||
	    (tl > 0 && (rc = argv_add(a, err, "--tags=%s", tagv)) != 0))
		return rc;
	if ((pl->result = json_pack("{s:I,s:s}", "vmid", (json_int_t)vmid,
	    "features", fv)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * (a)/(b) A backup whose guest had bind or device mount points cannot
 * be restored by an API token: src/PVE/API2/LXC.pm create_vm dies with
 * "restoring 'mpN' to bind mount is only possible for root", and a
 * non-root restore drops raw lxc.* keys (src/PVE/LXC/Create.pm
 * sanitize_and_merge_config).  Root brings them back as they were, so
 * the backup's own config is read first (`pvesm extractconfig`) and
 * every host path, device and raw key in it must pass the policy.
 */
static int
prep_restore(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", "vmid", "archive",
	    "storage", "force", "unique", NULL };
	const char *archive, *storage;
	int64_t vmid;
	int force = 0, unique = 0, rc;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0 ||
	    (rc = req_vmid(hc, req, &vmid, sum, err)) != 0 ||
	    (rc = jsonx_req_string(req, "request", "archive", &archive,
	    err)) != 0 ||
	    (rc = jsonx_req_string(req, "request", "storage", &storage,
	    err)) != 0 ||
	    (rc = jsonx_opt_bool(req, "request", "force", &force, NULL,
	    err)) != 0 ||
	    (rc = jsonx_opt_bool(req, "request", "unique", &unique, NULL,
	    err)) != 0)
		return invalid(rc, err);
	if ((rc = policy_volid(archive, "archive", err)) != 0 ||
	    (rc = policy_storage(storage, err)) != 0)
		return rc;
	(void) snprintf(sum->what, sizeof(sum->what), "pct restore %" PRId64
	    " %s%s", vmid, archive, force ? " (overwrite)" : "");
	/* The backup's config is checked first (run_restore). */
	if ((rc = argv_add(&pl->probe, err, "%s", hc->pvesm)) != 0 ||
	    (rc = argv_add(&pl->probe, err, "extractconfig")) != 0 ||
	    (rc = argv_add(&pl->probe, err, "%s", archive)) != 0 ||
	    (rc = argv_add(&pl->run, err, "%s", hc->pct)) != 0 ||
	    (rc = argv_add(&pl->run, err, "restore")) != 0 ||
	    (rc = argv_add(&pl->run, err, "%" PRId64, vmid)) != 0 ||
	    (rc = argv_add(&pl->run, err, "%s", archive)) != 0 ||
	    (rc = argv_add(&pl->run, err, "--storage=%s", storage)) != 0 ||
	    (force && (rc = argv_add(&pl->run, err, "--force=1")) != 0) ||
	    (unique && (rc = argv_add(&pl->run, err, "--unique=1")) != 0))
		return rc;
	if ((pl->result = json_pack("{s:I,s:s}", "vmid", (json_int_t)vmid,
	    "archive", archive)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* pvesm extractconfig, the policy on what it printed, then pct restore. */
static int
run_restore(const struct helper_config *hc, struct helper_plan *pl,
    struct helper_summary *sum, struct err *err)
{
	struct spawn_result cfgtext;
	int rc;

	memset(&cfgtext, 0, sizeof(cfgtext));
	if ((rc = run_tool(&pl->probe, HELPER_PROBE_TIMEOUT_MS,
	    HELPER_CONFIG_OUT_MAX, sum, &cfgtext, err)) != 0)
		goto out;
	if (cfgtext.out_truncated) {
		rc = err_set(err, ERR_TOO_LARGE, "the backup's config is over "
		    "%d bytes", HELPER_CONFIG_OUT_MAX);
		goto out;
	}
	if ((rc = policy_backup_config(&hc->policy, cfgtext.out,
	    cfgtext.out_len, err)) != 0)
		goto out;
	rc = run_tool(&pl->run, hc->timeout_ms, HELPER_PCT_OUT_MAX, sum, NULL,
	    err);
out:
	spawn_result_reset(&cfgtext);
	return rc;
}

/* (a) The same root-only flags on an existing guest: `pct set --features`. */
static int
prep_features(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", "vmid", "features", NULL };
	json_t *features;
	int64_t vmid;
	char fv[256];
	size_t nf = 0;
	struct argv *a = &pl->run;
	int rc;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0 ||
	    (rc = req_vmid(hc, req, &vmid, sum, err)) != 0 ||
	    (rc = jsonx_req_object(req, "request", "features", &features,
	    err)) != 0)
		return invalid(rc, err);
	if ((rc = features_value(features, fv, sizeof(fv), &nf, err)) != 0)
		return rc;
	(void) snprintf(sum->what, sizeof(sum->what), "pct set %" PRId64
	    " features '%s'", vmid, fv);
	if ((rc = argv_add(a, err, "%s", hc->pct)) != 0 ||
	    (rc = argv_add(a, err, "set")) != 0 ||
	    (rc = argv_add(a, err, "%" PRId64, vmid)) != 0 ||
	    (rc = (nf > 0 ? argv_add(a, err, "--features=%s", fv) :
	    argv_add(a, err, "--delete=features"))) != 0)
		return rc;
	if ((pl->result = json_pack("{s:I,s:s}", "vmid", (json_int_t)vmid,
	    "features", fv)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* ---- (b) host paths and devices --------------------------------------- */

/* One bind entry {key, host_path, path, read_only} → "--mpN=...". */
static int
bind_arg(const struct helper_config *hc, const json_t *e, size_t i,
    struct argv *a, json_t *done, struct err *err)
{
	static const char *const keys[] = { "key", "host_path", "path",
	    "read_only", NULL };
	const char *key, *host, *path;
	char ctx[32], *canon = NULL;
	int ro = 0, rc;

	(void) snprintf(ctx, sizeof(ctx), "request.bind[%zu]", i);
	if (!json_is_object(e))
		return err_set(err, ERR_INVALID, "%s: expected an object", ctx);
	if ((rc = jsonx_only_keys(e, ctx, keys, err)) != 0 ||
	    (rc = jsonx_req_string(e, ctx, "key", &key, err)) != 0 ||
	    (rc = jsonx_req_string(e, ctx, "host_path", &host, err)) != 0 ||
	    (rc = jsonx_req_string(e, ctx, "path", &path, err)) != 0 ||
	    (rc = jsonx_opt_bool(e, ctx, "read_only", &ro, NULL, err)) != 0)
		return invalid(rc, err);
	if ((rc = policy_key(key, "mp", err)) != 0 ||
	    (rc = policy_host_path(&hc->policy, host, &canon, err)) != 0 ||
	    (rc = policy_guest_path(path, err)) != 0)
		goto out;
	/* The resolved path goes to PVE, never the one asked for. */
	if ((rc = argv_add(a, err, "--%s=%s,mp=%s%s", key, canon, path,
	    ro ? ",ro=1" : "")) != 0)
		goto out;
	if (json_object_set_new(done, key, json_pack("{s:s,s:s}", "host_path",
	    canon, "path", path)) != 0)
		rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	free(canon);
	return rc;
}

/* One device entry {key, usb} or {key, path} → "--devN=/dev/bus/usb/..". */
static int
device_arg(const struct helper_config *hc, const json_t *e, size_t i,
    struct argv *a, json_t *done, struct err *err)
{
	static const char *const keys[] = { "key", "usb", "path", NULL };
	const char *key, *usb = NULL, *path = NULL;
	char ctx[32], dev[40];
	int rc;

	(void) snprintf(ctx, sizeof(ctx), "request.devices[%zu]", i);
	if (!json_is_object(e))
		return err_set(err, ERR_INVALID, "%s: expected an object", ctx);
	if ((rc = jsonx_only_keys(e, ctx, keys, err)) != 0 ||
	    (rc = jsonx_req_string(e, ctx, "key", &key, err)) != 0 ||
	    (rc = jsonx_opt_string(e, ctx, "usb", &usb, NULL, err)) != 0 ||
	    (rc = jsonx_opt_string(e, ctx, "path", &path, NULL, err)) != 0)
		return invalid(rc, err);
	if ((rc = policy_key(key, "dev", err)) != 0)
		return rc;
	if ((usb == NULL) == (path == NULL))
		return err_set(err, ERR_INVALID, "%s: give exactly one of usb "
		    "(an id) and path (/dev/bus/usb/BBB/DDD)", ctx);
	if (usb != NULL) {
		if ((rc = policy_usb_resolve(&hc->policy, usb, dev,
		    sizeof(dev), err)) != 0)
			return rc;
	} else {
		if ((rc = policy_usb_path(path, err)) != 0)
			return rc;
		(void) snprintf(dev, sizeof(dev), "%s", path);
	}
	if ((rc = argv_add(a, err, "--%s=%s", key, dev)) != 0)
		return rc;
	if (json_object_set_new(done, key, json_string(dev)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/*
 * (b) src/PVE/LXC.pm check_ct_modify_config_perm refuses "mount point
 * type bind is only allowed for root@pam" and "configuring device
 * passthrough is only allowed for root@pam" to anyone but root@pam; the
 * API has no parameter at all for raw lxc.* keys.  So host paths and USB
 * devices are attached here with `pct set`, which writes the config
 * under PVE's own config lock.  (devN needs PVE 8.1 or newer.)
 */
static int
prep_attach(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", "vmid", "bind",
	    "devices", "delete", NULL };
	json_t *bind = NULL, *devs = NULL, *del = NULL, *e, *done = NULL;
	char dl[HELPER_ENTRIES_MAX * 8], ctx[32];
	size_t i, n, dlen = 0;
	int64_t vmid;
	struct argv *a = &pl->run;
	int rc;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0 ||
	    (rc = req_vmid(hc, req, &vmid, sum, err)) != 0 ||
	    (rc = jsonx_opt_array(req, "request", "bind", &bind, NULL,
	    err)) != 0 ||
	    (rc = jsonx_opt_array(req, "request", "devices", &devs, NULL,
	    err)) != 0 ||
	    (rc = jsonx_opt_array(req, "request", "delete", &del, NULL,
	    err)) != 0)
		return invalid(rc, err);
	n = json_array_size(bind) + json_array_size(devs) +
	    json_array_size(del);
	if (n == 0 || n > HELPER_ENTRIES_MAX)
		return err_set(err, ERR_INVALID, "request: attach %zu entries "
		    "(1 … %d)", n, HELPER_ENTRIES_MAX);
	if ((done = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = argv_add(a, err, "%s", hc->pct)) != 0 ||
	    (rc = argv_add(a, err, "set")) != 0 ||
	    (rc = argv_add(a, err, "%" PRId64, vmid)) != 0)
		goto out;
	/* Everything is checked before anything runs. */
	json_array_foreach(bind, i, e)
		if ((rc = bind_arg(hc, e, i, a, done, err)) != 0)
			goto out;
	json_array_foreach(devs, i, e)
		if ((rc = device_arg(hc, e, i, a, done, err)) != 0)
			goto out;
	dl[0] = '\0';
	json_array_foreach(del, i, e) {
		(void) snprintf(ctx, sizeof(ctx), "request.delete[%zu]", i);
		if (!json_is_string(e)) {
			rc = err_set(err, ERR_INVALID, "%s: expected a key",
			    ctx);
			goto out;
		}
		/* Bind mount points go through the API (a token may). */
		if ((rc = policy_key(json_string_value(e), "dev", err)) != 0)
			goto out;
		dlen += (size_t)snprintf(dl + dlen, sizeof(dl) - dlen, "%s%s",
		    i > 0 ? "," : "", json_string_value(e));
	}
	if (dlen > 0 && (rc = argv_add(a, err, "--delete=%s", dl)) != 0)
		goto out;
	(void) snprintf(sum->what, sizeof(sum->what), "pct set %" PRId64
	    ": %zu bind mount(s), %zu device(s), delete '%s'", vmid,
	    json_array_size(bind), json_array_size(devs), dl);
	if ((pl->result = json_pack("{s:I,s:O}", "vmid", (json_int_t)vmid,
	    "attached", done)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
out:
	json_decref(done);
	return rc;
}

/* ---- (c) SMART and temperatures --------------------------------------- */

/*
 * (c) The API only scrapes smartctl's human text (storage
 * src/PVE/Diskmanage.pm get_smart_data; no temperature for NVMe/SAS)
 * and has no sensor endpoint; reading a disk's SMART data needs root.
 */
static int
prep_smart(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", "device", NULL };
	const char *dev;
	int rc;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0 ||
	    (rc = jsonx_req_string(req, "request", "device", &dev, err)) != 0)
		return invalid(rc, err);
	if ((rc = policy_disk(dev, err)) != 0)
		return rc;
	(void) snprintf(sum->what, sizeof(sum->what), "smartctl %s", dev);
	(void) snprintf(pl->dev, sizeof(pl->dev), "%s", dev);
	if ((rc = argv_add(&pl->run, err, "%s", hc->smartctl)) != 0 ||
	    (rc = argv_add(&pl->run, err, "--json")) != 0 ||
	    (rc = argv_add(&pl->run, err, "-a")) != 0 ||
	    (rc = argv_add(&pl->run, err, "%s", dev)) != 0)
		return rc;
	return 0;
}

static int
run_smart(struct helper_plan *pl, json_t **result,
    struct helper_summary *sum, struct err *err)
{
	struct spawn_opts o;
	struct spawn_result r;
	json_t *disk = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)pl->run.v;
	o.timeout_ms = HELPER_PROBE_TIMEOUT_MS;
	o.out_cap = SMART_OUT_MAX;
	sum->ran = 1;
	if ((rc = spawn_run(&o, &r, err)) != 0) {
		spawn_result_reset(&r);
		return rc;
	}
	/* A non-zero status is a bit mask describing the disk, not failure. */
	rc = smart_parse(pl->dev, r.out, r.out_len, r.status, &disk, err);
	spawn_result_reset(&r);
	if (rc != 0)
		return rc;
	if ((*result = json_pack("{s:o}", "disk", disk)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
prep_sensors(const struct helper_config *hc, const json_t *req,
    struct helper_plan *pl, struct helper_summary *sum, struct err *err)
{
	static const char *const keys[] = { "type", NULL };
	int rc;

	if ((rc = jsonx_only_keys(req, "request", keys, err)) != 0)
		return invalid(rc, err);
	(void) snprintf(sum->what, sizeof(sum->what), "sensors");
	if ((rc = argv_add(&pl->run, err, "%s", hc->sensors)) != 0 ||
	    (rc = argv_add(&pl->run, err, "-j")) != 0)
		return rc;
	return 0;
}

static int
run_sensors(struct helper_plan *pl, json_t **result,
    struct helper_summary *sum, struct err *err)
{
	struct spawn_opts o;
	struct spawn_result r;
	json_t *list = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)pl->run.v;
	o.timeout_ms = HELPER_PROBE_TIMEOUT_MS;
	o.out_cap = SENSORS_OUT_MAX;
	/* stdout only: lm-sensors prints its ERROR lines to stderr. */
	o.err_cap = 0;
	sum->ran = 1;
	if ((rc = spawn_run(&o, &r, err)) != 0) {
		spawn_result_reset(&r);
		return rc;
	}
	if (r.out_len == 0 && r.status != 0)
		rc = err_setr(err, ERR_TASK, 0, r.status, "sensors -j failed "
		    "(exit %d) and printed nothing: is lm-sensors set up "
		    "(sensors-detect)?", r.status);
	else
		rc = sensors_parse(r.out, r.out_len, &list, err);
	spawn_result_reset(&r);
	if (rc != 0)
		return rc;
	if ((*result = json_pack("{s:o}", "sensors", list)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* ---- dispatch ----------------------------------------------------------- */

typedef int (*helper_prep_fn)(const struct helper_config *hc,
    const json_t *req, struct helper_plan *pl, struct helper_summary *sum,
    struct err *err);

static const helper_prep_fn preps[] = {
	[WIRE_REQ_CREATE] = prep_create,
	[WIRE_REQ_RESTORE] = prep_restore,
	[WIRE_REQ_FEATURES] = prep_features,
	[WIRE_REQ_ATTACH] = prep_attach,
	[WIRE_REQ_SMART] = prep_smart,
	[WIRE_REQ_SENSORS] = prep_sensors,
};
_Static_assert(sizeof(preps) / sizeof(preps[0]) == WIRE_REQ__COUNT,
    "every request type has its handler");

static int
answer(int fd, int code, const char *msg, json_t *result)
{
	json_t *doc;
	char *text;
	struct err we;
	int rc;

	if (code == 0)
		doc = json_pack("{s:b,s:O}", "ok", 1, "result", result);
	else
		doc = json_pack("{s:b,s:s,s:s}", "ok", 0, "code",
		    err_name(code), "error", msg);
	if (doc == NULL || (text = jsonx_dump(doc)) == NULL) {
		json_decref(doc);
		return ERR_NOMEM;
	}
	json_decref(doc);
	err_init(&we);
	rc = wire_write(fd, text, strlen(text), wire_now_ms() + 5000, &we);
	free(text);
	return rc;
}

int
helper_prepare(const struct helper_config *hc, const char *body, size_t len,
    struct helper_plan **out, struct helper_summary *sum, struct err *err)
{
	struct helper_plan *pl = NULL;
	json_t *req = NULL;
	const char *type;
	int t, rc;

	*out = NULL;
	if ((rc = jsonx_parse(body, len, WIRE_REQUEST_MAX, JSONX_DUPLICATES,
	    "request", &req, err)) != 0)
		return rc;
	if (!json_is_object(req)) {
		rc = err_set(err, ERR_FORMAT, "request: expected a JSON "
		    "object");
		goto out;
	}
	if ((rc = jsonx_req_string(req, "request", "type", &type, err)) != 0)
		goto out;
	(void) snprintf(sum->type, sizeof(sum->type), "%s", type);
	if ((t = wire_req_parse(type)) < 0) {
		rc = err_set(err, ERR_INVALID, "request type '%.32s' is not "
		    "one the helper answers (create, restore, features, "
		    "attach, smart, sensors)", type);
		goto out;
	}
	if ((pl = calloc(1, sizeof(*pl))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	pl->type = (enum wire_req)t;
	if ((rc = preps[t](hc, req, pl, sum, err)) != 0)
		goto out;
	*out = pl;
	pl = NULL;
out:
	helper_plan_free(pl);
	json_decref(req);
	return rc;
}

int
helper_run(const struct helper_config *hc, struct helper_plan *pl,
    json_t **result, struct helper_summary *sum, struct err *err)
{
	int rc;

	switch (pl->type) {
	case WIRE_REQ_SMART:
		return run_smart(pl, result, sum, err);
	case WIRE_REQ_SENSORS:
		return run_sensors(pl, result, sum, err);
	case WIRE_REQ_RESTORE:
		rc = run_restore(hc, pl, sum, err);
		break;
	default:
		rc = run_tool(&pl->run, hc->timeout_ms, HELPER_PCT_OUT_MAX, sum,
		    NULL, err);
		break;
	}
	if (rc != 0)
		return rc;
	*result = pl->result;
	pl->result = NULL;
	return 0;
}

int
helper_handle(const struct helper_config *hc, int fd,
    struct helper_summary *sum)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct helper_plan *plan = NULL;
	json_t *result = NULL;
	struct err err;
	char *body = NULL;
	size_t len = 0;
	int rc;

	memset(sum, 0, sizeof(*sum));
	err_init(&err);
	sum->peer_uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		rc = err_set(&err, ERR_IO, "SO_PEERCRED: %s", strerror(errno));
		goto out;
	}
	sum->peer_uid = cred.uid;
	/* the agent's user and no one else, not even root. */
	if (cred.uid != hc->agent_uid) {
		rc = err_set(&err, ERR_PERMISSION, "peer uid %u is not the "
		    "agent's user (uid %u): refused", (unsigned)cred.uid,
		    (unsigned)hc->agent_uid);
		goto out;
	}
	if ((rc = wire_read(fd, WIRE_REQUEST_MAX, wire_now_ms() +
	    HELPER_READ_TIMEOUT_MS, &body, &len, &err)) != 0)
		goto out;
	if ((rc = helper_prepare(hc, body, len, &plan, sum, &err)) != 0)
		goto out;
	rc = helper_run(hc, plan, &result, sum, &err);
out:
	helper_plan_free(plan);
	sum->code = rc;
	if (rc != 0)
		(void) snprintf(sum->error, sizeof(sum->error), "%s",
		    err_msg(&err));
	(void) answer(fd, rc, err_msg(&err), result);
	json_decref(result);
	free(body);
	return rc;
}
