/*
 * pve parse_task — task status, task lists, task logs (R-02, R-05;
 * pve-api.md §5.14) and the token's permissions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

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
pve_task_state_name(int state)
{
	if (state < 0 || state >= PVE_TASK__COUNT)
		return "unknown";
	return pve_task_state_names[state];
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
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
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
	if ((rc = pve_need_object(data, ctx, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "upid", 1, &s.upid_str, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "status", 1, &status, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "node", 0, &s.node, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "type", 0, &s.type, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "id", 0, &s.id, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "user", 0, &s.user, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "tokenid", 0, &s.tokenid, err)) != 0 ||
	    (rc = pve_get_str(data, ctx, "exitstatus", 0, &s.exitstatus,
	    err)) != 0 ||
	    (rc = pve_get_int(data, ctx, "pid", 0, -1, &s.pid, err)) != 0 ||
	    (rc = pve_get_int(data, ctx, "pstart", 0, -1, &s.pstart,
	    err)) != 0 ||
	    (rc = pve_get_int(data, ctx, "starttime", 0, -1, &s.starttime,
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
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_task(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_task *t = item;
	int rc;

	if ((rc = pve_get_str(o, ctx, "upid", 1, &t->upid_str, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "node", 0, &t->node, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "type", 0, &t->type, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "id", 0, &t->id, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "user", 0, &t->user, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "tokenid", 0, &t->tokenid, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "status", 0, &t->status, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "pid", 0, -1, &t->pid, err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "pstart", 0, -1, &t->pstart,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "starttime", 0, -1, &t->starttime,
	    err)) != 0 ||
	    (rc = pve_get_int(o, ctx, "endtime", 0, -1, &t->endtime,
	    err)) != 0)
		return rc;
	if ((rc = upid_parse_str(t->upid_str, &t->upid, err)) != 0)
		return err_prefix(err, "%s.upid: ", ctx);
	if (t->status == NULL && t->endtime < 0)
		t->state = PVE_TASK_RUNNING;
	else
		t->state = pve_task_classify(t->status, NULL);
	return 0;
}

int
pve_parse_tasks(json_t *root, struct pve_tasks *out, struct err *err)
{
	json_t *data;
	int64_t total;
	void *items;
	size_t n;
	int rc;

	if ((rc = pve_need_object(root, "tasks", err)) != 0)
		return rc;
	data = json_object_get(root, "data");
	if ((rc = pve_need_array(data, "tasks.data", err)) != 0 ||
	    (rc = pve_get_int(root, "tasks", "total", 0, -1, &total,
	    err)) != 0 ||
	    (rc = pve_parse_list(data, "tasks", sizeof(*out->items),
	    parse_task, &items, &n, err)) != 0)
		return rc;
	out->raw = json_incref(root);
	out->items = items;
	out->n = n;
	out->total = (long)total;
	return 0;
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
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->lines, v->raw);
}

static int
parse_log_line(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_log_line *l = item;
	int64_t n;
	int rc;

	if ((rc = pve_get_int(o, ctx, "n", 1, 0, &n, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "t", 1, &l->t, err)) != 0)
		return rc;
	l->n = (long)n;
	return 0;
}

int
pve_parse_task_log(json_t *root, struct pve_task_log *out, struct err *err)
{
	json_t *data;
	int64_t total;
	void *lines;
	size_t n;
	int rc;

	if ((rc = pve_need_object(root, "task_log", err)) != 0)
		return rc;
	data = json_object_get(root, "data");
	if ((rc = pve_need_array(data, "task_log.data", err)) != 0 ||
	    (rc = pve_get_int(root, "task_log", "total", 0, -1, &total,
	    err)) != 0 ||
	    (rc = pve_parse_list(data, "task_log", sizeof(*out->lines),
	    parse_log_line, &lines, &n, err)) != 0)
		return rc;
	out->raw = json_incref(root);
	out->lines = lines;
	out->n = n;
	out->total = (long)total;
	return 0;
}

/* ---- permissions ---------------------------------------------------- */

void
pve_permissions_reset(struct pve_permissions *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), NULL, v->raw);
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
