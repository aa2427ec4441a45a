/*
 * pve mutate — the mutating calls.  Each returns a struct
 * pve_submit: a validated UPID for a started worker, "applied
 * synchronously" for set-config's null answer, or vzdump's "OK".
 * Parameters go percent-encoded in full (pve-api.md §1.2), booleans as
 * 0/1 (§8.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

#define ALLOW(k)	(1u << (k))

static const char *const pve_submit_kind_names[PVE_SUBMIT__COUNT] = {
	[PVE_SUBMIT_TASK] = "task",
	[PVE_SUBMIT_SYNC] = "sync",
	[PVE_SUBMIT_OK] = "ok",
};
_Static_assert(sizeof(pve_submit_kind_names) /
    sizeof(pve_submit_kind_names[0]) == PVE_SUBMIT__COUNT,
    "pve_submit_kind_names must name every kind");

const char *
pve_submit_kind_name(int kind)
{
	if (kind < 0 || kind >= PVE_SUBMIT__COUNT)
		return "unknown";
	return pve_submit_kind_names[kind];
}

int
pve_parse_submit(const json_t *data, unsigned allowed, struct pve_submit *out,
    struct err *err)
{
	struct pve_submit s;
	const char *str;
	char esc[80];

	memset(&s, 0, sizeof(s));
	if (data == NULL || json_is_null(data)) {
		/* applied within the request. */
		s.kind = PVE_SUBMIT_SYNC;
	} else if (!json_is_string(data)) {
		return err_setr(err, ERR_PROTOCOL, PVE_E_PROTOCOL, 0,
		    "answer data is neither a UPID nor null");
	} else if ((str = json_string_value(data))[0] == '\0') {
		s.kind = PVE_SUBMIT_SYNC;
	} else if (strcmp(str, "OK") == 0) {
		s.kind = PVE_SUBMIT_OK;		/* vzdump, §5.10 */
	} else {
		if (json_string_length(data) > UPID_MAX ||
		    upid_parse(str, json_string_length(data), &s.parsed,
		    NULL) != 0) {
			err_escape(esc, sizeof(esc), str,
			    json_string_length(data));
			return err_setr(err, ERR_PROTOCOL, PVE_E_PROTOCOL, 0,
			    "answer data '%s' is not a valid UPID", esc);
		}
		memcpy(s.upid, str, json_string_length(data) + 1);
		s.kind = PVE_SUBMIT_TASK;
	}
	if ((allowed & ALLOW(s.kind)) == 0)
		return err_setr(err, ERR_PROTOCOL, PVE_E_PROTOCOL, 0,
		    "unexpected answer kind '%s' for this call",
		    pve_submit_kind_name((int)s.kind));
	*out = s;
	return 0;
}

/* The answer of a sent request was lost: it may have taken effect. */
static int
outcome_unknown(const struct err *e)
{
	if (e->code == ERR_TRANSPORT)
		return e->reason == HTTPS_R_TIMEOUT ||
		    e->reason == HTTPS_R_RESET;
	/* §1.1: pveproxy's AnyEvent pseudo statuses (595-599, e.g. 596
	 * "Connection timed out") after its 30 s proxy timeout. */
	return e->code == ERR_HTTP && e->status >= 595 && e->status <= 599;
}

/*
 * Sends one mutation.  `params` go in the body (POST/PUT) or the query
 * string (DELETE).
 */
static int
submit(struct pve_client *c, const char *method, const char *path,
    const struct pve_param *params, size_t n, unsigned allowed,
    struct pve_submit *out, struct err *err)
{
	struct err e;
	json_t *root = NULL;
	char *form = NULL;
	int rc, in_query = strcmp(method, "DELETE") == 0;

	err_init(&e);
	if ((rc = pve_form_encode(params, n, &form, err)) != 0)
		goto out;
	/*
	 * Issue 15: a cached config may be stale from now on (inside a
	 * pass: when the request leaves and when its answer is taken,
	 * memo.c, not at each replay).
	 */
	if (!pve_pass_active(c))
		pve_config_changed(c);
	if ((rc = pve_call(c, method, path, in_query ? form : NULL,
	    in_query ? NULL : form, &root, &e)) != 0) {
		if (outcome_unknown(&e)) {
			c->fault.reason = PVE_E_OUTCOME_UNKNOWN;
			c->fault.http_status = e.status;
			rc = err_setr(err, ERR_TIMEOUT, PVE_E_OUTCOME_UNKNOWN,
			    e.status, "pve: %s %s: outcome unknown, the answer "
			    "was lost after sending (%s); confirm by reading "
			    "back", method, path, e.msg);
		} else {
			rc = err_copy(err, &e);
		}
		goto out;
	}
	if ((rc = pve_parse_submit(pve_data(root), allowed, out, err)) != 0) {
		c->fault.reason = PVE_E_PROTOCOL;
		(void) err_prefix(err, "pve: %s %s: ", method, path);
	}
out:
	json_decref(root);
	free(form);
	return rc;
}

static int
ct_path(char **out, const char *node, long vmid, const char *suffix,
    struct err *err)
{
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if (pve_asprintf(out, "/nodes/%s/lxc/%ld%s", node, vmid, suffix) != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	return 0;
}

static int
power(struct pve_client *c, const char *node, long vmid, const char *action,
    const struct pve_param *params, size_t n, struct pve_submit *out,
    struct err *err)
{
	char suffix[32], *path = NULL;
	int rc;

	(void) snprintf(suffix, sizeof(suffix), "/status/%s", action);
	if ((rc = ct_path(&path, node, vmid, suffix, err)) != 0)
		return rc;
	rc = submit(c, "POST", path, params, n, ALLOW(PVE_SUBMIT_TASK), out,
	    err);
	free(path);
	return rc;
}

int
pve_lxc_start(struct pve_client *c, const char *node, long vmid,
    struct pve_submit *out, struct err *err)
{
	return power(c, node, vmid, "start", NULL, 0, out, err);
}

int
pve_lxc_stop(struct pve_client *c, const char *node, long vmid,
    struct pve_submit *out, struct err *err)
{
	return power(c, node, vmid, "stop", NULL, 0, out, err);
}

int
pve_lxc_shutdown(struct pve_client *c, const char *node, long vmid,
    long timeout_s, int force_stop, struct pve_submit *out, struct err *err)
{
	struct pve_param p[2];
	char t[24];
	size_t n = 0;

	if (timeout_s > 0) {
		(void) snprintf(t, sizeof(t), "%ld", timeout_s);
		p[n++] = (struct pve_param){ "timeout", t };
	}
	if (force_stop)
		p[n++] = (struct pve_param){ "forceStop", "1" };
	return power(c, node, vmid, "shutdown", p, n, out, err);
}

int
pve_lxc_reboot(struct pve_client *c, const char *node, long vmid,
    long timeout_s, struct pve_submit *out, struct err *err)
{
	struct pve_param p[1];
	char t[24];
	size_t n = 0;

	if (timeout_s > 0) {
		(void) snprintf(t, sizeof(t), "%ld", timeout_s);
		p[n++] = (struct pve_param){ "timeout", t };
	}
	return power(c, node, vmid, "reboot", p, n, out, err);
}

int
pve_snapshot_create(struct pve_client *c, const char *node, long vmid,
    const char *snapname, const char *description, struct pve_submit *out,
    struct err *err)
{
	struct pve_param p[2];
	char *path = NULL;
	size_t n = 0;
	int rc;

	if ((rc = pve_check_snapname(snapname, err)) != 0 ||
	    (rc = ct_path(&path, node, vmid, "/snapshot", err)) != 0)
		return rc;
	p[n++] = (struct pve_param){ "snapname", snapname };
	if (description != NULL)
		p[n++] = (struct pve_param){ "description", description };
	rc = submit(c, "POST", path, p, n, ALLOW(PVE_SUBMIT_TASK), out, err);
	free(path);
	return rc;
}

int
pve_snapshot_rollback(struct pve_client *c, const char *node, long vmid,
    const char *snapname, int start, struct pve_submit *out, struct err *err)
{
	struct pve_param p[1] = { { "start", "1" } };
	char suffix[96], *path = NULL;
	int rc;

	if ((rc = pve_check_snapname(snapname, err)) != 0)
		return rc;
	(void) snprintf(suffix, sizeof(suffix), "/snapshot/%s/rollback",
	    snapname);
	if ((rc = ct_path(&path, node, vmid, suffix, err)) != 0)
		return rc;
	rc = submit(c, "POST", path, p, start ? 1 : 0, ALLOW(PVE_SUBMIT_TASK),
	    out, err);
	free(path);
	return rc;
}

int
pve_snapshot_delete(struct pve_client *c, const char *node, long vmid,
    const char *snapname, int force, struct pve_submit *out, struct err *err)
{
	struct pve_param p[1] = { { "force", "1" } };
	char suffix[80], *path = NULL;
	int rc;

	if ((rc = pve_check_snapname(snapname, err)) != 0)
		return rc;
	(void) snprintf(suffix, sizeof(suffix), "/snapshot/%s", snapname);
	if ((rc = ct_path(&path, node, vmid, suffix, err)) != 0)
		return rc;
	rc = submit(c, "DELETE", path, p, force ? 1 : 0,
	    ALLOW(PVE_SUBMIT_TASK), out, err);
	free(path);
	return rc;
}

int
pve_vzdump(struct pve_client *c, const char *node,
    const struct pve_vzdump_options *o, struct pve_submit *out,
    struct err *err)
{
	struct pve_param p[7];
	char *path = NULL, *vmids = NULL, *nv;
	size_t n = 0, i, len = 0;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0)
		return rc;
	if (o == NULL || o->n_vmids == 0)
		return err_set(err, ERR_INVALID, "pve: vzdump needs at least "
		    "one vmid");
	if (o->storage != NULL && (rc = pve_check_storage(o->storage,
	    err)) != 0)
		return rc;
	for (i = 0; i < o->n_vmids; i++) {
		if ((rc = pve_check_vmid(o->vmids[i], err)) != 0)
			goto out;
		if ((nv = realloc(vmids, len + 24)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		vmids = nv;
		len += (size_t)snprintf(vmids + len, 24, "%s%ld",
		    i > 0 ? "," : "", o->vmids[i]);
	}
	p[n++] = (struct pve_param){ "vmid", vmids };
	if (o->storage != NULL)
		p[n++] = (struct pve_param){ "storage", o->storage };
	if (o->mode != NULL)
		p[n++] = (struct pve_param){ "mode", o->mode };
	if (o->compress != NULL)
		p[n++] = (struct pve_param){ "compress", o->compress };
	if (o->notes_template != NULL)
		p[n++] = (struct pve_param){ "notes-template",
		    o->notes_template };
	if (o->protect >= 0)
		p[n++] = (struct pve_param){ "protected",
		    o->protect ? "1" : "0" };
	if (o->remove >= 0)
		p[n++] = (struct pve_param){ "remove", o->remove ? "1" : "0" };
	if (pve_asprintf(&path, "/nodes/%s/vzdump", node) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	/* §5.10: "OK" instead of a UPID when nothing runs on this node. */
	rc = submit(c, "POST", path, p, n, ALLOW(PVE_SUBMIT_TASK) |
	    ALLOW(PVE_SUBMIT_OK), out, err);
out:
	free(vmids);
	free(path);
	return rc;
}

/* "rootfs" or "mp<digits>". */
static int
volume_key(const char *k)
{
	size_t i;

	if (k == NULL)
		return 0;
	if (strcmp(k, "rootfs") == 0)
		return 1;
	if (strncmp(k, "mp", 2) != 0 || k[2] == '\0')
		return 0;
	for (i = 2; k[i] != '\0'; i++)
		if (k[i] < '0' || k[i] > '9')
			return 0;
	return 1;
}

int
pve_lxc_restore(struct pve_client *c, const char *node, long vmid,
    const struct pve_restore_options *o, struct pve_submit *out,
    struct err *err)
{
	struct pve_param *p = NULL;
	char v[24], *path = NULL;
	size_t n = 0, i;
	int rc, rootfs = 0;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if (o == NULL || o->archive == NULL || o->archive[0] == '\0')
		return err_set(err, ERR_INVALID, "pve: restore needs an "
		    "archive volid");
	/* §5.11: without it PVE takes 'local'. */
	if (o->storage == NULL)
		return err_set(err, ERR_INVALID, "pve: restore of %ld needs a "
		    "target storage (PVE would default to 'local')", vmid);
	if ((rc = pve_check_storage(o->storage, err)) != 0)
		return rc;
	for (i = 0; i < o->n_volumes; i++) {
		if (!volume_key(o->volumes[i].key) ||
		    o->volumes[i].value == NULL)
			return err_set(err, ERR_INVALID, "pve: restore volume "
			    "%zu: expected rootfs or mpN with a value", i);
		rootfs |= strcmp(o->volumes[i].key, "rootfs") == 0;
	}
	if (o->n_volumes > 0 && !rootfs)
		return err_set(err, ERR_INVALID, "pve: restore volumes "
		    "without rootfs (PVE: \"mount points configured, but "
		    "'rootfs' not set\")");
	if ((p = calloc(o->n_volumes + 6, sizeof(*p))) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	(void) snprintf(v, sizeof(v), "%ld", vmid);
	p[n++] = (struct pve_param){ "vmid", v };
	p[n++] = (struct pve_param){ "ostemplate", o->archive };
	p[n++] = (struct pve_param){ "restore", "1" };
	p[n++] = (struct pve_param){ "storage", o->storage };
	if (o->force)
		p[n++] = (struct pve_param){ "force", "1" };
	if (o->start)
		p[n++] = (struct pve_param){ "start", "1" };
	for (i = 0; i < o->n_volumes; i++)
		p[n++] = o->volumes[i];
	if (pve_asprintf(&path, "/nodes/%s/lxc", node) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	rc = submit(c, "POST", path, p, n, ALLOW(PVE_SUBMIT_TASK), out, err);
out:
	free(p);
	free(path);
	return rc;
}

int
pve_lxc_create(struct pve_client *c, const char *node, long vmid,
    const struct pve_param *params, size_t n, struct pve_submit *out,
    struct err *err)
{
	struct pve_param *p = NULL;
	char v[24], *path = NULL;
	size_t i;
	int rc;

	if ((rc = pve_check_node(node, err)) != 0 ||
	    (rc = pve_check_vmid(vmid, err)) != 0)
		return rc;
	if ((p = calloc(n + 1, sizeof(*p))) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	(void) snprintf(v, sizeof(v), "%ld", vmid);
	p[0] = (struct pve_param){ "vmid", v };
	for (i = 0; i < n; i++) {
		if (params[i].key != NULL && strcmp(params[i].key,
		    "vmid") == 0) {
			rc = err_set(err, ERR_INVALID, "pve: create: vmid is "
			    "given as the argument, not as a parameter");
			goto out;
		}
		p[i + 1] = params[i];
	}
	if (pve_asprintf(&path, "/nodes/%s/lxc", node) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	rc = submit(c, "POST", path, p, n + 1, ALLOW(PVE_SUBMIT_TASK), out,
	    err);
out:
	free(p);
	free(path);
	return rc;
}

int
pve_lxc_destroy(struct pve_client *c, const char *node, long vmid, int force,
    int purge, struct pve_submit *out, struct err *err)
{
	struct pve_param p[2];
	char *path = NULL;
	size_t n = 0;
	int rc;

	if ((rc = ct_path(&path, node, vmid, "", err)) != 0)
		return rc;
	if (force)
		p[n++] = (struct pve_param){ "force", "1" };
	if (purge)
		p[n++] = (struct pve_param){ "purge", "1" };
	rc = submit(c, "DELETE", path, p, n, ALLOW(PVE_SUBMIT_TASK), out, err);
	free(path);
	return rc;
}

int
pve_lxc_set_config(struct pve_client *c, const char *node, long vmid,
    const struct pve_param *params, size_t n, struct pve_submit *out,
    struct err *err)
{
	char *path = NULL;
	int rc;

	if (n == 0)
		return err_set(err, ERR_INVALID, "pve: set-config without "
		    "parameters");
	if ((rc = ct_path(&path, node, vmid, "/config", err)) != 0)
		return rc;
	/* a UPID means "wait for the task", null "applied". */
	rc = submit(c, "PUT", path, params, n, ALLOW(PVE_SUBMIT_TASK) |
	    ALLOW(PVE_SUBMIT_SYNC), out, err);
	free(path);
	return rc;
}

int
pve_task_stop(struct pve_client *c, const char *upid, struct err *err)
{
	struct pve_submit s;
	struct upid u;
	char *path = NULL, *enc = NULL;
	int rc;

	if ((rc = upid_parse_str(upid, &u, err)) != 0)
		return rc;
	if ((enc = pve_pct_encode(upid)) == NULL ||
	    pve_asprintf(&path, "/nodes/%s/tasks/%s", u.node, enc) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	rc = submit(c, "DELETE", path, NULL, 0, ALLOW(PVE_SUBMIT_SYNC), &s,
	    err);
out:
	free(enc);
	free(path);
	return rc;
}
