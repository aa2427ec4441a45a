/*
 * exec_priv — op steps that need root, as helper requests.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/err.h"
#include "engine/exec_priv.h"
#include "engine/norm.h"
#include "priv/priv.h"

struct job {
	char			*upid;		/* NULL: free slot */
	struct priv_call	*call;
};

struct exec_priv {
	struct priv_client	*client;	/* borrowed */
	struct job		 jobs[EXEC_PRIV_JOBS_MAX];
	unsigned		 seq;
};

/* ---- which steps need root --------------------------------------------- */

/* 1 when a features value (PVE string or object) sets a flag but nesting. */
static int
features_beyond_nesting(const json_t *v)
{
	json_t *f = norm_features(v), *e;
	const char *k;
	int beyond = 0;

	if (f == NULL)
		return 1;	/* unreadable: the helper explains */
	json_object_foreach(f, k, e)
		if (strcmp(k, "nesting") != 0 && (json_is_true(e) ||
		    json_is_string(e)))
			beyond = 1;
	json_decref(f);
	return beyond;
}

int
exec_priv_create_needs_root(const json_t *params)
{
	const json_t *f = json_object_get(json_object_get(params, "spec"),
	    "features");

	return f != NULL && features_beyond_nesting(f);
}

int
exec_priv_config_needs_root(const json_t *params)
{
	json_t *api = NULL, *att = NULL, *feat = NULL;
	int root;

	if (exec_priv_split_config(0, params, &api, &att, &feat, NULL) != 0)
		return 1;	/* let the helper step say what is wrong */
	root = att != NULL || feat != NULL;
	json_decref(api);
	json_decref(att);
	json_decref(feat);
	return root;
}

int
exec_priv_create_req(int64_t vmid, const json_t *params, json_t **out,
    struct err *err)
{
	struct priv_create a;
	const json_t *spec = json_object_get(params, "spec");
	json_t *feat, *req;

	memset(&a, 0, sizeof(a));
	a.vmid = vmid;
	a.template_volid = json_string_value(json_object_get(params,
	    "template"));
	a.storage = json_string_value(json_object_get(params, "storage"));
	a.rootfs_gib = json_integer_value(json_object_get(params,
	    "rootfs_gib"));
	if (a.template_volid == NULL || a.storage == NULL || a.rootfs_gib < 1)
		return err_set(err, ERR_FORMAT, "provision: template, storage "
		    "and rootfs_gib are required");
	if ((feat = norm_features(json_object_get(spec, "features"))) ==
	    NULL)
		return err_set(err, ERR_FORMAT, "provision: spec.features is "
		    "not an object of flags");
	a.features = feat;
	a.spec = spec;
	req = priv_req_create(&a);
	json_decref(feat);
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	*out = req;
	return 0;
}

/* ---- set_config → API part + helper requests ----------------------------- */

/* "mp7" / "dev3": 1 when key is prefix followed by a number. */
static int
indexed(const char *key, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;

	if (strncmp(key, prefix, n) != 0 || key[n] == '\0')
		return 0;
	for (p = key + n; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* A param value in PVE's text form (strings as they are). */
static char *
text_of(const json_t *v)
{
	char buf[64];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v))
		(void) snprintf(buf, sizeof(buf), "%" PRId64,
		    (int64_t)json_integer_value(v));
	else if (json_is_boolean(v))
		(void) snprintf(buf, sizeof(buf), "%d", json_is_true(v));
	else
		return NULL;
	return strdup(buf);
}

/*
 * "HOST,mp=PATH[,ro=0|1][,backup=0|1]" → a bind entry; 1 when value is
 * not on a host path (a storage volume: the API's), -1 on an option the
 * helper does not take (err set).
 */
static int
bind_entry(const char *key, const char *value, json_t **out,
    struct err *err)
{
	char *copy = strdup(value), *tok, *save = NULL;
	const char *vol = NULL, *mp = NULL;
	int ro = 0, first = 1, rc = 0;

	*out = NULL;
	if (copy == NULL) {
		(void) err_set(err, ERR_NOMEM, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save), first = 0) {
		if (first && strchr(tok, '=') == NULL)
			vol = tok;
		else if (strncmp(tok, "volume=", 7) == 0)
			vol = tok + 7;
		else if (strncmp(tok, "mp=", 3) == 0)
			mp = tok + 3;
		else if (strcmp(tok, "ro=1") == 0)
			ro = 1;
		else if (strcmp(tok, "ro=0") == 0 ||
		    strncmp(tok, "backup=", 7) == 0)
			;	/* backup has no meaning for a bind mount */
		else if (vol != NULL && vol[0] == '/') {
			rc = -1;
			(void) err_set(err, ERR_UNSUPPORTED, "%s: option '%s' "
			    "of a host mount point is not supported by the "
			    "privileged helper", key, tok);
			break;
		}
	}
	if (rc == 0 && (vol == NULL || vol[0] != '/'))
		rc = 1;
	else if (rc == 0 && (strncmp(vol, "/dev/", 5) == 0 ||
	    strcmp(key, "rootfs") == 0 || mp == NULL)) {
		rc = -1;
		(void) err_set(err, ERR_UNSUPPORTED, "%s: %s is not supported "
		    "(device mount points and a host rootfs are set by hand; a "
		    "bind mount needs mp=)", key, vol);
	} else if (rc == 0 && (*out = json_pack("{s:s,s:s,s:s,s:b}", "key",
	    key, "host_path", vol, "path", mp, "read_only", ro)) == NULL) {
		rc = -1;
		(void) err_set(err, ERR_NOMEM, "out of memory");
	}
	free(copy);
	return rc;
}

/*
 * "devN": "/dev/bus/usb/BBB/DDD" or "path=..." → a device entry {key,
 * path}; "usb:ID" (norm.h NORM_USB_PREFIX, a desired USB id) → {key,
 * usb}: the helper checks the id's form and resolves it through sysfs
 * when it attaches.
 */
static int
device_entry(const char *key, const char *value, json_t **out,
    struct err *err)
{
	const char *p = strncmp(value, "path=", 5) == 0 ? value + 5 : value;

	if (strncmp(value, NORM_USB_PREFIX, strlen(NORM_USB_PREFIX)) == 0) {
		if ((*out = json_pack("{s:s,s:s}", "key", key, "usb",
		    value + strlen(NORM_USB_PREFIX))) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		return 0;
	}

	if (strncmp(p, "/dev/bus/usb/", 13) != 0 || strchr(p, ',') != NULL)
		return err_set(err, ERR_UNSUPPORTED, "%s: '%s': only USB "
		    "device nodes without options are passed through by the "
		    "privileged helper", key, value);
	if ((*out = json_pack("{s:s,s:s}", "key", key, "path", p)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

int
exec_priv_split_config(int64_t vmid, const json_t *params, json_t **api_out,
    json_t **attach_out, json_t **features_out, struct err *err)
{
	const json_t *set = json_object_get(params, "set");
	const json_t *del = json_object_get(params, "delete"), *v;
	json_t *aset = NULL, *adel = NULL, *binds = NULL, *devs = NULL;
	json_t *ddel = NULL, *feat = NULL, *e;
	const char *k;
	char *text = NULL;
	size_t i;
	int rc;

	*api_out = *attach_out = *features_out = NULL;
	if ((aset = json_object()) == NULL || (adel = json_array()) == NULL ||
	    (binds = json_array()) == NULL || (devs = json_array()) == NULL ||
	    (ddel = json_array()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)set, k, v) {
		free(text);
		if ((text = text_of(v)) == NULL) {
			rc = err_set(err, ERR_FORMAT, "params.set.%s: expected "
			    "a string, number or boolean", k);
			goto out;
		}
		e = NULL;
		if (strcmp(k, "features") == 0 &&
		    features_beyond_nesting(v)) {
			if ((feat = norm_features(v)) == NULL) {
				rc = err_set(err, ERR_FORMAT, "params.set."
				    "features: '%s' is not a list of flags",
				    text);
				goto out;
			}
			continue;
		}
		if (strcmp(k, "rootfs") == 0 || indexed(k, "mp")) {
			rc = bind_entry(k, text, &e, err);
			if (rc < 0) {
				rc = err != NULL && err->code != 0 ?
				    err->code : ERR_UNSUPPORTED;
				goto out;
			}
			if (rc == 0) {
				if (json_array_append_new(binds, e) != 0) {
					rc = err_set(err, ERR_NOMEM,
					    "out of memory");
					goto out;
				}
				continue;
			}
		} else if (indexed(k, "dev")) {
			if ((rc = device_entry(k, text, &e, err)) != 0)
				goto out;
			if (json_array_append_new(devs, e) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if (json_object_set(aset, k, (json_t *)(uintptr_t)v) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	json_array_foreach(del, i, v) {
		if (!json_is_string(v)) {
			rc = err_set(err, ERR_FORMAT, "params.delete[%zu]: "
			    "expected a key", i);
			goto out;
		}
		/* The API may remove a bind mount point, not a device. */
		if (json_array_append(indexed(json_string_value(v), "dev") ?
		    ddel : adel, (json_t *)(uintptr_t)v) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_object_size(aset) > 0 || json_array_size(adel) > 0) {
		if ((*api_out = json_pack("{s:O,s:O}", "set", aset, "delete",
		    adel)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_array_size(binds) + json_array_size(devs) +
	    json_array_size(ddel) > 0) {
		*attach_out = json_pack("{s:s,s:I}", "type", "attach", "vmid",
		    (json_int_t)vmid);
		if (*attach_out == NULL ||
		    (json_array_size(binds) > 0 && json_object_set(
		    *attach_out, "bind", binds) != 0) ||
		    (json_array_size(devs) > 0 && json_object_set(
		    *attach_out, "devices", devs) != 0) ||
		    (json_array_size(ddel) > 0 && json_object_set(
		    *attach_out, "delete", ddel) != 0)) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (feat != NULL && (*features_out = priv_req_features(vmid,
	    feat)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		json_decref(*api_out);
		json_decref(*attach_out);
		json_decref(*features_out);
		*api_out = *attach_out = *features_out = NULL;
	}
	free(text);
	json_decref(aset);
	json_decref(adel);
	json_decref(binds);
	json_decref(devs);
	json_decref(ddel);
	json_decref(feat);
	return rc;
}

/* ---- jobs --------------------------------------------------------------- */

int
exec_priv_new(struct priv_client *client, struct exec_priv **out,
    struct err *err)
{
	struct exec_priv *xp;

	if ((xp = calloc(1, sizeof(*xp))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	xp->client = client;
	*out = xp;
	return 0;
}

static void
job_reset(struct job *j)
{
	free(j->upid);
	priv_call_free(j->call);
	j->upid = NULL;
	j->call = NULL;
}

void
exec_priv_free(struct exec_priv *xp)
{
	size_t i;

	if (xp == NULL)
		return;
	for (i = 0; i < EXEC_PRIV_JOBS_MAX; i++)
		job_reset(&xp->jobs[i]);
	free(xp);
}

struct priv_client *
exec_priv_client(const struct exec_priv *xp)
{
	return xp != NULL ? xp->client : NULL;
}

int
exec_priv_start(struct exec_priv *xp, const char *type, int64_t vmid,
    int64_t now, const json_t *req, char **upid_out, struct err *err)
{
	struct job *j = NULL;
	char *upid = NULL, *copy;
	size_t i;
	int rc;

	for (i = 0; i < EXEC_PRIV_JOBS_MAX && j == NULL; i++)
		if (xp->jobs[i].upid == NULL)
			j = &xp->jobs[i];
	if (j == NULL)
		return err_set(err, ERR_BUSY, "%d helper jobs in flight: "
		    "trying again later", EXEC_PRIV_JOBS_MAX);
	if (asprintf(&upid, EXEC_PRIV_UPID_PREFIX "%s:%" PRId64 ":%" PRId64
	    ":%u", type, vmid, now, ++xp->seq) < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = priv_call_start(xp->client, req, &j->call, err)) != 0) {
		free(upid);
		return rc;
	}
	if ((copy = strdup(upid)) == NULL) {
		priv_call_free(j->call);
		j->call = NULL;
		free(upid);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	j->upid = upid;
	*upid_out = copy;
	return 0;
}

int
exec_priv_poll(struct exec_priv *xp, const char *upid,
    enum exec_task_state *state_out, char **exit_out, struct err *err)
{
	struct job *j = NULL;
	json_t *res = NULL;
	struct err ce;
	size_t i;
	int done = 0, rc;

	for (i = 0; xp != NULL && i < EXEC_PRIV_JOBS_MAX && j == NULL; i++)
		if (xp->jobs[i].upid != NULL &&
		    strcmp(xp->jobs[i].upid, upid) == 0)
			j = &xp->jobs[i];
	if (j == NULL)
		return err_set(err, ERR_NOT_FOUND, "no helper job %s here",
		    upid);
	err_init(&ce);
	rc = priv_call_poll(j->call, &done, &res, &ce);
	json_decref(res);
	if (!done) {
		*state_out = EXEC_TASK_RUNNING;
		return 0;
	}
	*state_out = rc == 0 ? EXEC_TASK_OK : EXEC_TASK_FAILED;
	job_reset(j);
	if (rc == ERR_NOMEM)
		return err_copy(err, &ce);
	if (rc != 0 && (*exit_out = strdup(err_msg(&ce))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

int
exec_priv_upid_parse(const char *upid, struct exec_priv_upid *out)
{
	const char *p, *c;
	char *end;
	size_t n = strlen(EXEC_PRIV_UPID_PREFIX);

	memset(out, 0, sizeof(*out));
	if (upid == NULL || strncmp(upid, EXEC_PRIV_UPID_PREFIX, n) != 0)
		return -1;
	p = upid + n;
	if ((c = strchr(p, ':')) == NULL || (size_t)(c - p) >=
	    sizeof(out->type))
		return -1;
	memcpy(out->type, p, (size_t)(c - p));
	out->type[c - p] = '\0';
	out->vmid = strtoll(c + 1, &end, 10);
	if (*end != ':')
		return -1;
	out->start = strtoll(end + 1, &end, 10);
	return *end == ':' ? 0 : -1;
}

/* ---- recovery through PVE ------------------------------------------------ */

int
exec_priv_find_root_task(struct pve_client *c, const char *node,
    const char *type, int64_t vmid, int64_t since,
    const char *const *exclude, char **upid_out, struct err *err)
{
	struct pve_task_filter f;
	struct pve_tasks tasks;
	const struct pve_task *best = NULL, *t;
	size_t i;
	int rc;

	memset(&f, 0, sizeof(f));
	memset(&tasks, 0, sizeof(tasks));
	f.vmid = (long)vmid;
	f.typefilter = type;
	f.source = "all";	/* running tasks too (pve-api.md §5.14) */
	f.since = since > 0 ? since : 0;
	f.limit = 500;
	if ((rc = pve_task_list(c, node, &f, &tasks, err)) != 0)
		return rc;
	for (i = 0; i < tasks.n; i++) {
		t = &tasks.items[i];
		if (t->type == NULL || strcmp(t->type, type) != 0 ||
		    t->starttime < since || t->user == NULL ||
		    strcmp(t->user, "root@pam") != 0 || t->tokenid != NULL ||
		    exec_upid_listed(exclude, t->upid_str))
			continue;
		if (best == NULL || t->starttime <= best->starttime)
			best = t;
	}
	if (best == NULL)
		rc = ERR_NOT_FOUND;
	else if ((*upid_out = strdup(best->upid_str)) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	pve_tasks_reset(&tasks);
	return rc;
}

int
exec_priv_resolve_lost(struct pve_client *c, const char *node,
    const char *upid, char **root_out, enum exec_task_state *state_out,
    char **exit_out, struct err *err)
{
	struct exec_priv_upid pu;
	struct pve_guest_status st;
	int rc;

	*root_out = NULL;
	if (exec_priv_upid_parse(upid, &pu) != 0)
		return err_set(err, ERR_NOT_FOUND, "%s: not a helper job",
		    upid);
	/* pct's task starts a moment after the job was sent. */
	rc = exec_priv_find_root_task(c, node, pu.type, pu.vmid, pu.start - 5,
	    NULL, root_out, err);
	if (rc != ERR_NOT_FOUND)
		return rc;
	memset(&st, 0, sizeof(st));
	rc = pve_lxc_status(c, node, (long)pu.vmid, &st, err);
	if (rc != 0 && rc != ERR_NOT_FOUND)
		return rc;
	if (err != NULL && rc == ERR_NOT_FOUND)
		err_init(err);
	if (rc == 0)
		*state_out = st.guest.lock == NULL ? EXEC_TASK_OK :
		    EXEC_TASK_RUNNING;
	else if ((int64_t)time(NULL) - pu.start < EXEC_PRIV_LOST_GRACE_S)
		/* pct may not have registered its task yet: look again. */
		*state_out = EXEC_TASK_RUNNING;
	else {
		*state_out = EXEC_TASK_FAILED;
		if (asprintf(exit_out, "the helper's %s of %" PRId64 " left "
		    "no task and no guest (the agent restarted meanwhile)",
		    pu.type, pu.vmid) < 0) {
			*exit_out = NULL;
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	pve_guest_status_reset(&st);
	return 0;
}
