/*
 * fake_exec — the in-memory executor of the engine's tests.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fake_exec.h"

static int64_t
fake_now(void *ctx)
{
	/* The wall clock may be stepped (wall_skew); the monotonic not. */
	return ((struct fake *)ctx)->now + ((struct fake *)ctx)->wall_skew;
}

static int64_t
fake_mono(void *ctx)
{
	return ((struct fake *)ctx)->now * 1000;
}

struct fake_guest *
fake_guest(struct fake *f, int64_t vmid)
{
	size_t i;

	for (i = 0; i < f->nguests; i++)
		if (f->guests[i].vmid == vmid)
			return &f->guests[i];
	return NULL;
}

struct fake_guest *
fake_guest_add(struct fake *f, int64_t vmid, const char *status,
    const char *config_json)
{
	struct fake_guest *g = fake_guest(f, vmid);
	json_error_t jerr;
	char buf[128];

	if (g == NULL) {
		if (f->nguests == FAKE_MAX_GUESTS)
			return NULL;
		g = &f->guests[f->nguests++];
	}
	json_decref(g->config);
	memset(g, 0, sizeof(*g));
	g->vmid = vmid;
	g->present = 1;
	(void) snprintf(g->status, sizeof(g->status), "%s", status);
	if (config_json == NULL) {
		(void) snprintf(buf, sizeof(buf), "{\"hostname\":\"ct%" PRId64
		    "\",\"memory\":512,\"swap\":512,\"cores\":1}", vmid);
		config_json = buf;
	}
	g->config = json_loads(config_json, 0, &jerr);
	return g;
}

struct fake_task *
fake_task(struct fake *f, const char *upid)
{
	size_t i;

	for (i = 0; i < f->ntasks; i++)
		if (strcmp(f->tasks[i].upid, upid) == 0)
			return &f->tasks[i];
	return NULL;
}

struct fake_task *
fake_task_add(struct fake *f, int64_t vmid, const char *type, int64_t start,
    int polls_left)
{
	struct fake_task *t;

	if (f->ntasks == FAKE_MAX_TASKS)
		return NULL;
	t = &f->tasks[f->ntasks];
	memset(t, 0, sizeof(*t));
	(void) snprintf(t->upid, sizeof(t->upid), "UPID:fake:%08X:00000001:"
	    "%08X:%s:%" PRId64 ":felhom@pve!agent:", (unsigned)(f->ntasks + 1),
	    (unsigned)start, type, vmid);
	t->vmid = vmid;
	(void) snprintf(t->type, sizeof(t->type), "%s", type);
	t->start = start;
	t->polls_left = polls_left;
	t->end = EXEC_TASK_OK;
	t->what = EXEC_STEP__COUNT;
	(void) snprintf(t->exit, sizeof(t->exit), "OK");
	f->ntasks++;
	return t;
}

void
fake_release(struct fake *f, int64_t vmid)
{
	size_t i;

	for (i = 0; i < f->ntasks; i++)
		if (f->tasks[i].vmid == vmid && f->tasks[i].polls_left < 0)
			f->tasks[i].polls_left = 1;
	if (f->hang_vmid == vmid)
		f->hang_vmid = 0;
}

void
fake_digest(const struct fake_guest *g, char *out, size_t n)
{
	char *text = json_dumps(g->config, JSON_SORT_KEYS | JSON_COMPACT);
	uint64_t h = 1469598103934665603ULL;
	const char *p;

	/* FNV-1a of the config: changes on any write, as PVE's SHA-1. */
	for (p = text != NULL ? text : ""; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	for (p = g->snaps[0]; p < g->snaps[0] + sizeof(g->snaps); p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	free(text);
	(void) snprintf(out, n, "%016" PRIx64, h);
}

int
fake_has_snapshot(const struct fake_guest *g, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(g->snaps) / sizeof(g->snaps[0]); i++)
		if (g->snaps[i][0] != '\0' && strcmp(g->snaps[i], name) == 0)
			return 1;
	return 0;
}

static void
add_snapshot(struct fake_guest *g, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(g->snaps) / sizeof(g->snaps[0]); i++)
		if (g->snaps[i][0] == '\0') {
			(void) snprintf(g->snaps[i], sizeof(g->snaps[i]), "%s",
			    name);
			return;
		}
}

/* The name a snapshot step creates, or NULL. */
static const char *
snapshot_name(const struct fake_task *t, char *buf, size_t n)
{
	if (t->what == EXEC_STEP_SNAPSHOT)
		return json_string_value(json_object_get(t->params, "name"));
	if (t->what == EXEC_STEP_SAFETY_SNAPSHOT) {
		exec_safety_name(t->uid, buf, n);
		return buf;
	}
	return NULL;
}

/* set_config params applied to a config. */
static void
apply_config(json_t *config, const json_t *params)
{
	const json_t *set = json_object_get(params, "set");
	const json_t *del = json_object_get(params, "delete");
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)(uintptr_t)set, k, v)
		(void) json_object_set(config, k, v);
	json_array_foreach(del, i, v)
		(void) json_object_del(config, json_string_value(v));
}

static void
apply_task(struct fake *f, struct fake_task *t)
{
	struct fake_guest *g = fake_guest(f, t->vmid);
	const json_t *spec;
	const char *name;
	char buf[64];

	if (t->applied || t->end == EXEC_TASK_FAILED)
		return;
	t->applied = 1;
	if (g != NULL && (name = snapshot_name(t, buf, sizeof(buf))) != NULL)
		add_snapshot(g, name);
	switch (t->what) {
	case EXEC_STEP_START:
	case EXEC_STEP_START_AGAIN:
		if (g != NULL)
			(void) snprintf(g->status, sizeof(g->status),
			    "running");
		break;
	case EXEC_STEP_SHUTDOWN:
	case EXEC_STEP_STOP:
	case EXEC_STEP_ROLLBACK:
		if (g != NULL)
			(void) snprintf(g->status, sizeof(g->status),
			    "stopped");
		break;
	case EXEC_STEP_SET_CONFIG:
		if (g != NULL)
			apply_config(g->config, t->params);
		break;
	case EXEC_STEP_DESTROY:
		if (g != NULL)
			g->present = 0;
		break;
	case EXEC_STEP_CREATE:
		g = fake_guest_add(f, t->vmid, "stopped", NULL);
		spec = json_object_get(t->params, "spec");
		if (g != NULL && json_is_string(json_object_get(spec,
		    "hostname")))
			(void) json_object_set(g->config, "hostname",
			    json_object_get(spec, "hostname"));
		break;
	default:
		break;
	}
}

static void
note_order(struct fake *f, int64_t vmid, const char *what)
{
	size_t n = strlen(f->order);

	(void) snprintf(f->order + n, sizeof(f->order) - n, "%s%" PRId64 ":%s",
	    n > 0 ? " " : "", vmid, what);
}

static int
maybe_fail(struct fake *f, struct err *err)
{
	int code = f->fail_submit;

	if (code == 0)
		return 0;
	if (f->fail_count > 0 && --f->fail_count == 0)
		f->fail_submit = 0;
	return err_setr(err, code, 0, f->fail_status, "fake: request refused "
	    "(%s)", err_name(code));
}

static struct fake_task *
start_task(struct fake *f, const struct exec_target *t, const char *type,
    int64_t start)
{
	struct fake_guest *g = fake_guest(f, t->vmid);
	struct fake_task *k;
	const char *name;
	char buf[64];

	k = fake_task_add(f, t->vmid, type, start,
	    f->hang_vmid == t->vmid ? -1 : (f->task_polls > 0 ?
	    f->task_polls : 1));
	if (k == NULL)
		return NULL;
	k->what = t->what;
	k->params = json_incref((json_t *)(uintptr_t)t->params);
	(void) snprintf(k->uid, sizeof(k->uid), "%s", t->uid);
	if (f->fail_exit[0] != '\0' && (f->fail_task_kind < 0 ||
	    f->fail_task_kind == (int)t->what)) {
		k->end = EXEC_TASK_FAILED;
		(void) snprintf(k->exit, sizeof(k->exit), "%s", f->fail_exit);
		f->fail_exit[0] = '\0';
	}
	/* The worker refuses a snapshot name already taken (as PVE). */
	if (g != NULL && (name = snapshot_name(k, buf, sizeof(buf))) != NULL &&
	    fake_has_snapshot(g, name)) {
		k->end = EXEC_TASK_FAILED;
		(void) snprintf(k->exit, sizeof(k->exit), "snapshot name '%s' "
		    "already used", name);
	}
	return k;
}

/*
 * A config write as PVE takes it: the digest first (pve-common
 * PVE::Tools::assert_if_modified), then the change.
 */
static int
write_config(struct fake *f, struct fake_guest *g, const json_t *params,
    const char *digest, struct err *err)
{
	char cur[48];

	if (g == NULL || !g->present)
		return err_set(err, ERR_NOT_FOUND, "fake: no guest");
	if (g->lock[0] != '\0')
		return err_setr(err, ERR_LOCKED, 0, 500, "CT is locked (%s)",
		    g->lock);
	fake_digest(g, cur, sizeof(cur));
	if (digest != NULL && digest[0] != '\0' && strcmp(digest, cur) != 0) {
		f->modified++;
		return err_setr(err, ERR_HTTP, 0, 500, "detected modified "
		    "configuration - file changed by other user? Try again.");
	}
	apply_config(g->config, params);
	return 0;
}

/* Late requests whose time has come reach the fake PVE now. */
static void
catch_up(struct fake *f)
{
	struct fake_late *l;
	struct fake_task *k;
	struct err e;
	size_t i;

	for (i = 0; i < f->nlate; i++) {
		l = &f->late[i];
		if (l->done || l->due > f->now)
			continue;
		l->done = 1;
		l->t.uid = l->uid;
		l->t.params = l->params;
		if (l->t.what == EXEC_STEP_SET_CONFIG) {
			err_init(&e);
			(void) write_config(f, fake_guest(f, l->t.vmid),
			    l->params, l->digest, &e);
			continue;
		}
		k = start_task(f, &l->t, exec_step_info(l->t.what)->task_type,
		    l->due);
		(void) k;
	}
}

static int
f_submit(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct fake *f = ctx;
	struct fake_guest *g = fake_guest(f, t->vmid);
	struct fake_task *k;
	int rc, drop;

	if (f->witness != NULL)
		f->witness(f->witness_ctx, t->op_id);
	catch_up(f);
	f->submits++;
	f->submits_by[t->what]++;
	note_order(f, t->vmid, exec_step_info(t->what)->name);
	if ((rc = maybe_fail(f, err)) != 0)
		return rc;
	if (f->late_s > 0 && f->nlate < sizeof(f->late) / sizeof(f->late[0])) {
		/* The answer is lost; PVE takes the request in later. */
		struct fake_late *l = &f->late[f->nlate++];

		memset(l, 0, sizeof(*l));
		l->t = *t;
		(void) snprintf(l->uid, sizeof(l->uid), "%s", t->uid);
		l->params = json_incref((json_t *)(uintptr_t)t->params);
		if (t->digest != NULL)
			(void) snprintf(l->digest, sizeof(l->digest), "%s",
			    t->digest);
		l->due = f->now + f->late_s;
		f->late_s = 0;
		return err_set(err, ERR_TIMEOUT, "fake: no answer in time");
	}
	drop = f->drop_answer;
	f->drop_answer = 0;
	if (t->what == EXEC_STEP_SET_CONFIG) {
		if ((rc = write_config(f, g, t->params, t->digest, err)) != 0)
			return rc;
		if (drop)
			return err_set(err, ERR_TIMEOUT, "fake: answer lost");
		*upid_out = NULL;
		return 0;
	}
	if ((t->what == EXEC_STEP_START || t->what == EXEC_STEP_START_AGAIN) &&
	    g != NULL && strcmp(g->status, "running") == 0 && !drop) {
		*upid_out = NULL;	/* "already running": done */
		return 0;
	}
	/* As exec_pve: nothing to start, stop or re-attach is done. */
	if (t->what == EXEC_STEP_REATTACH ||
	    (t->what == EXEC_STEP_START_AGAIN && t->was_running != 1) ||
	    ((t->what == EXEC_STEP_STOP || t->what == EXEC_STEP_SHUTDOWN) &&
	    (g == NULL || !g->present || strcmp(g->status, "running") != 0) &&
	    !drop)) {
		*upid_out = NULL;
		return 0;
	}
	if ((k = start_task(f, t, exec_step_info(t->what)->task_type,
	    f->now)) == NULL)
		return err_set(err, ERR_NOMEM, "fake: too many tasks");
	if (drop)
		return err_set(err, ERR_TIMEOUT, "fake: answer lost");
	if ((*upid_out = strdup(k->upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
f_undo(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct fake *f = ctx;
	struct exec_target u = *t;
	struct fake_task *k;

	if (f->witness != NULL)
		f->witness(f->witness_ctx, t->op_id);
	f->undos++;
	f->undo_was_running = t->was_running;
	note_order(f, t->vmid, "undo");
	u.what = EXEC_STEP_ROLLBACK;
	catch_up(f);
	if ((k = start_task(f, &u, EXEC_UNDO_TASK_TYPE, f->now)) == NULL)
		return err_set(err, ERR_NOMEM, "fake: too many tasks");
	if ((*upid_out = strdup(k->upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
f_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	struct fake *f = ctx;
	struct fake_task *t;

	catch_up(f);
	t = fake_task(f, upid);
	f->polls++;
	if (t == NULL)
		return err_set(err, ERR_NOT_FOUND, "fake: no such task %s",
		    upid);
	if (!t->ended) {
		if (t->polls_left < 0 || f->hang_vmid == t->vmid) {
			*out = EXEC_TASK_RUNNING;
			return 0;
		}
		if (--t->polls_left > 0) {
			*out = EXEC_TASK_RUNNING;
			return 0;
		}
		t->ended = 1;
		apply_task(f, t);
	}
	*out = t->end;
	if ((*exit_out = strdup(t->exit)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
f_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
    const char *const *exclude, char **upid_out, struct err *err)
{
	struct fake *f = ctx;
	const struct fake_task *best = NULL;
	size_t i;

	catch_up(f);
	f->finds++;
	for (i = 0; i < f->ntasks; i++) {
		const struct fake_task *t = &f->tasks[i];

		if (t->vmid != vmid || strcmp(t->type, type) != 0 ||
		    t->start < since ||
		    exec_upid_listed(exclude, t->upid))
			continue;
		if (best == NULL || t->start < best->start)
			best = t;
	}
	if (best == NULL)
		return ERR_NOT_FOUND;
	if ((*upid_out = strdup(best->upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
f_read_config(void *ctx, int64_t vmid, json_t **out, struct err *err)
{
	struct fake *f = ctx;
	struct fake_guest *g;
	char digest[48];

	catch_up(f);
	g = fake_guest(f, vmid);
	f->reads++;
	if (g == NULL || !g->present)
		return err_set(err, ERR_NOT_FOUND, "fake: Configuration file "
		    "'nodes/fake/lxc/%" PRId64 ".conf' does not exist", vmid);
	if (g->forbidden)
		return err_set(err, ERR_PERMISSION, "fake: Permission check "
		    "failed (/vms/%" PRId64 ", VM.Audit)", vmid);
	fake_digest(g, digest, sizeof(digest));
	if ((*out = json_deep_copy(g->config)) == NULL ||
	    json_object_set_new(*out, "digest", json_string(digest)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
f_snapshot_exists(void *ctx, int64_t vmid, const char *name, int *out,
    struct err *err)
{
	struct fake *f = ctx;
	struct fake_guest *g;

	catch_up(f);
	if ((g = fake_guest(f, vmid)) == NULL || !g->present)
		return err_set(err, ERR_NOT_FOUND, "fake: no guest %" PRId64,
		    vmid);
	*out = fake_has_snapshot(g, name);
	return 0;
}

static int
fill(const struct fake_guest *g, struct exec_guest *out)
{
	memset(out, 0, sizeof(*out));
	out->vmid = g->vmid;
	out->template = g->template;
	if ((out->status = strdup(g->status)) == NULL ||
	    (g->lock[0] != '\0' && (out->lock = strdup(g->lock)) == NULL))
		return ERR_NOMEM;
	return 0;
}

static int
f_list_guests(void *ctx, struct exec_guest **out, size_t *n_out,
    struct err *err)
{
	struct fake *f = ctx;
	struct exec_guest *v;
	size_t i, n = 0;

	catch_up(f);
	f->lists++;
	if (f->list_fails)
		return err_set(err, ERR_TRANSPORT, "fake: connection refused");
	if ((v = calloc(f->nguests + 1, sizeof(*v))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < f->nguests; i++) {
		if (!f->guests[i].present || f->guests[i].hidden)
			continue;
		if (fill(&f->guests[i], &v[n++]) != 0) {
			exec_guests_free(v, n);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	*out = v;
	*n_out = n;
	return 0;
}

static int
f_guest_status(void *ctx, int64_t vmid, struct exec_guest *out,
    struct err *err)
{
	struct fake *f = ctx;
	struct fake_guest *g = fake_guest(f, vmid);

	f->statuses++;
	if (g != NULL && g->present && g->forbidden)
		return err_set(err, ERR_PERMISSION, "fake: Permission check "
		    "failed (/vms/%" PRId64 ", VM.Audit)", vmid);
	if (g == NULL || !g->present)
		return err_set(err, ERR_NOT_FOUND, "fake: no guest %" PRId64,
		    vmid);
	return fill(g, out) == 0 ? 0 : err_set(err, ERR_NOMEM, "out of memory");
}

/* ---- issue 17: passes ------------------------------------------------- */

static void
held_free(struct fake_held *h)
{
	if (h->queued != NULL) {
		json_decref((json_t *)(uintptr_t)h->queued->t.params);
		json_decref((json_t *)(uintptr_t)h->queued->t.safety);
		free(h->queued);
	}
	free(h->upid);
	free(h->exit);
	memset(h, 0, sizeof(*h));
}

void
fake_drop_held(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->nheld; i++)
		held_free(&f->held[i]);
	f->nheld = 0;
}

static int
f_pass_begin(void *ctx, const char *scope, int background, struct err *err)
{
	struct fake *f = ctx;

	(void) background;
	(void) err;
	if (f->passes)
		(void) snprintf(f->scope, sizeof(f->scope), "%s", scope);
	f->pass_pending = 0;
	return 0;
}

static int
f_pass_pending(void *ctx)
{
	struct fake *f = ctx;

	return f->scope[0] != '\0' && f->pass_pending;
}

static void
f_pass_forget(void *ctx, const char *scope)
{
	struct fake *f = ctx;
	size_t i, o = 0;

	for (i = 0; i < f->nheld; i++)
		if (strcmp(f->held[i].scope, scope) == 0)
			held_free(&f->held[i]);
		else
			f->held[o++] = f->held[i];
	f->nheld = o;
}

static int
f_pass_end(void *ctx)
{
	struct fake *f = ctx;
	int p = f->pass_pending;

	if (f->scope[0] != '\0' && !p)
		f_pass_forget(f, f->scope);
	f->scope[0] = '\0';
	f->pass_pending = 0;
	return p;
}

/* The kept answer of key in this pass's scope, or NULL. */
static struct fake_held *
held_find(struct fake *f, const char *key)
{
	size_t i;

	for (i = 0; i < f->nheld; i++)
		if (strcmp(f->held[i].scope, f->scope) == 0 &&
		    strcmp(f->held[i].key, key) == 0)
			return &f->held[i];
	return NULL;
}

static struct fake_held *
held_new(struct fake *f, const char *key)
{
	struct fake_held *h;

	if (f->nheld == FAKE_MAX_HELD)
		return NULL;
	h = &f->held[f->nheld++];
	memset(h, 0, sizeof(*h));
	(void) snprintf(h->scope, sizeof(h->scope), "%s", f->scope);
	(void) snprintf(h->key, sizeof(h->key), "%s", key);
	err_init(&h->err);
	return h;
}

static int
pend(struct fake *f, struct err *err)
{
	f->pass_pending = 1;
	f->pended++;
	return err_set(err, ERR_PENDING, "fake: the answer is not there yet");
}

/* defer: the request kept for fake_drive(), its target copied. */
static int
queue(struct fake *f, struct fake_held *h, const struct exec_target *t,
    int undo, struct err *err)
{
	struct fake_queued *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	q->t = *t;
	q->undo = undo;
	(void) snprintf(q->uid, sizeof(q->uid), "%s", t->uid);
	q->t.uid = q->uid;
	if (t->digest != NULL) {
		(void) snprintf(q->digest, sizeof(q->digest), "%s", t->digest);
		q->t.digest = q->digest;
	}
	q->t.params = json_incref((json_t *)(uintptr_t)t->params);
	q->t.safety = json_incref((json_t *)(uintptr_t)t->safety);
	h->queued = q;
	return pend(f, err);
}

size_t
fake_drive(struct fake *f)
{
	struct fake_queued *q;
	size_t i, n = 0;

	for (i = 0; i < f->nheld; i++) {
		if ((q = f->held[i].queued) == NULL)
			continue;
		err_init(&f->held[i].err);
		f->held[i].rc = q->undo ? f_undo(f, &q->t, &f->held[i].upid,
		    &f->held[i].err) : f_submit(f, &q->t, &f->held[i].upid,
		    &f->held[i].err);
		f->held[i].queued = NULL;
		json_decref((json_t *)(uintptr_t)q->t.params);
		json_decref((json_t *)(uintptr_t)q->t.safety);
		free(q);
		n++;
	}
	return n;
}

/* submit and undo: sent at the first call, answered at the next. */
static int
held_submit(struct fake *f, const char *what, const struct exec_target *t,
    char **upid_out, struct err *err)
{
	struct fake_held *h;
	char key[160];

	(void) snprintf(key, sizeof(key), "%s %s %d %d", what, t->uid,
	    t->step, t->was_running);
	if ((h = held_find(f, key)) == NULL) {
		if ((h = held_new(f, key)) == NULL)
			return err_set(err, ERR_NOMEM, "fake: too many held");
		if (f->defer)
			return queue(f, h, t, strcmp(what, "undo") == 0, err);
		h->rc = strcmp(what, "undo") == 0 ? f_undo(f, t, &h->upid,
		    &h->err) : f_submit(f, t, &h->upid, &h->err);
		return pend(f, err);
	}
	if (h->queued != NULL)
		return pend(f, err);	/* not even sent yet */
	if (h->rc != 0)
		return err_copy(err, &h->err);
	if (h->upid != NULL && (*upid_out = strdup(h->upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
w_submit(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct fake *f = ctx;

	if (f->scope[0] == '\0')
		return f_submit(f, t, upid_out, err);
	return held_submit(f, "submit", t, upid_out, err);
}

static int
w_undo(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct fake *f = ctx;

	if (f->scope[0] == '\0')
		return f_undo(f, t, upid_out, err);
	return held_submit(f, "undo", t, upid_out, err);
}

static int
w_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	struct fake *f = ctx;
	struct fake_held *h;
	char key[160];

	if (f->scope[0] == '\0')
		return f_poll(f, upid, out, exit_out, err);
	(void) snprintf(key, sizeof(key), "poll %s", upid);
	if ((h = held_find(f, key)) == NULL) {
		if ((h = held_new(f, key)) == NULL)
			return err_set(err, ERR_NOMEM, "fake: too many held");
		h->rc = f_poll(f, upid, &h->ts, &h->exit, &h->err);
		return pend(f, err);
	}
	if (h->rc != 0)
		return err_copy(err, &h->err);
	*out = h->ts;
	if (h->exit != NULL && (*exit_out = strdup(h->exit)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static const struct exec_ops fake_ops = {
	.submit = w_submit,
	.undo = w_undo,
	.poll = w_poll,
	.pass_begin = f_pass_begin,
	.pass_pending = f_pass_pending,
	.pass_end = f_pass_end,
	.pass_forget = f_pass_forget,
	.find_task = f_find_task,
	.read_config = f_read_config,
	.list_guests = f_list_guests,
	.guest_status = f_guest_status,
	.snapshot_exists = f_snapshot_exists,
};

void
fake_init(struct fake *f, int64_t now)
{
	memset(f, 0, sizeof(*f));
	f->now = now;
	f->task_polls = 1;
	f->fail_task_kind = -1;
	f->clock.now = fake_now;
	f->clock.mono_ms = fake_mono;
	f->clock.ctx = f;
	f->exec.ops = &fake_ops;
	f->exec.ctx = f;
}

void
fake_reset(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->nguests; i++)
		json_decref(f->guests[i].config);
	for (i = 0; i < f->ntasks; i++)
		json_decref(f->tasks[i].params);
	for (i = 0; i < f->nlate; i++)
		json_decref(f->late[i].params);
	fake_drop_held(f);
	memset(f, 0, sizeof(*f));
}
