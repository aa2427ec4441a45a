/*
 * tick_exec — see tick_exec.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/sm.h"
#include "store/ops.h"
#include "tick_exec.h"

#define TB_MAX		256	/* requests kept at once */

enum tb_req_state { TB_FREE, TB_QUEUED, TB_ANSWERED };

/* One kept request of a pass's scope ("op:ID"), as pve/memo.c keeps. */
struct tb_req {
	enum tb_req_state	 state;
	char			 scope[32];
	int64_t			 vmid;
	int			 step;
};

struct tick_bench {
	struct db		*db;
	struct engine		*eng;
	struct exec		 exec;
	struct clock		 clock;
	int64_t			 mono_ms;
	int64_t			 round;
	char			 scope[32];	/* the pass's; "" none */
	int			 pending;
	struct tb_req		 req[TB_MAX];
	long			 transitions;
	long			 commits;
	long			 sent;
};

static void
fail(const char *what, const char *msg)
{
	fprintf(stderr, "bench-engine: tick: %s: %s\n", what, msg);
	exit(1);
}

static int64_t
tb_now(void *ctx)
{
	const struct tick_bench *tb = ctx;

	return 1780000000 + tb->mono_ms / 1000;
}

static int64_t
tb_mono(void *ctx)
{
	const struct tick_bench *tb = ctx;

	return tb->mono_ms;
}

static struct tb_req *
req_find(struct tick_bench *tb, int step)
{
	size_t i;

	for (i = 0; i < TB_MAX; i++)
		if (tb->req[i].state != TB_FREE && tb->req[i].step == step &&
		    strcmp(tb->req[i].scope, tb->scope) == 0)
			return &tb->req[i];
	return NULL;
}

static int
pend(struct tick_bench *tb, struct err *err)
{
	tb->pending = 1;
	return err_set(err, ERR_PENDING, "bench: the answer is not there yet");
}

/* Inside a pass: queued at the first call, answered after a drive. */
static int
tb_submit(void *ctx, const struct exec_target *t, char **upid_out,
    struct err *err)
{
	struct tick_bench *tb = ctx;
	struct tb_req *r;
	char upid[EXEC_UPID_MAX];
	size_t i;

	if (tb->scope[0] == '\0')
		return err_set(err, ERR_INTERNAL, "bench: a submit outside a "
		    "pass would act at once");
	if ((r = req_find(tb, t->step)) == NULL) {
		for (i = 0; i < TB_MAX && tb->req[i].state != TB_FREE; i++)
			;
		if (i == TB_MAX)
			return err_set(err, ERR_NOMEM, "bench: too many kept");
		r = &tb->req[i];
		r->state = TB_QUEUED;
		(void) snprintf(r->scope, sizeof(r->scope), "%s", tb->scope);
		r->vmid = t->vmid;
		r->step = t->step;
		return pend(tb, err);
	}
	if (r->state == TB_QUEUED)
		return pend(tb, err);
	(void) snprintf(upid, sizeof(upid), "UPID:bench:%08" PRIX64
	    ":00000000:%08" PRIX64 ":vzstart:%" PRId64 ":bench@pve!t:",
	    (uint64_t)t->op_id, (uint64_t)tb_now(tb), t->vmid);
	if ((*upid_out = strdup(upid)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* A task that has ended OK by its first poll. */
static int
tb_poll(void *ctx, const char *upid, enum exec_task_state *out,
    char **exit_out, struct err *err)
{
	(void) ctx;
	(void) upid;
	*out = EXEC_TASK_OK;
	if ((*exit_out = strdup("OK")) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* Every request is answered here: a lookup means a lost answer. */
static int
tb_find_task(void *ctx, const char *type, int64_t vmid, int64_t since,
    const char *const *exclude, char **upid_out, struct err *err)
{
	(void) ctx;
	(void) since;
	(void) exclude;
	(void) upid_out;
	fail("a task was looked up", type);
	return err_set(err, ERR_NOT_FOUND, "bench: no task of %" PRId64, vmid);
}

static int
tb_pass_begin(void *ctx, const char *scope, int background, struct err *err)
{
	struct tick_bench *tb = ctx;

	(void) background;
	(void) err;
	(void) snprintf(tb->scope, sizeof(tb->scope), "%s", scope);
	tb->pending = 0;
	return 0;
}

static int
tb_pass_pending(void *ctx)
{
	const struct tick_bench *tb = ctx;

	return tb->scope[0] != '\0' && tb->pending;
}

static void
tb_pass_forget(void *ctx, const char *scope)
{
	struct tick_bench *tb = ctx;
	size_t i;

	for (i = 0; i < TB_MAX; i++)
		if (tb->req[i].state != TB_FREE &&
		    strcmp(tb->req[i].scope, scope) == 0)
			tb->req[i].state = TB_FREE;
}

static int
tb_pass_end(void *ctx)
{
	struct tick_bench *tb = ctx;
	int p = tb->pending;

	if (tb->scope[0] != '\0' && !p)
		tb_pass_forget(tb, tb->scope);
	tb->scope[0] = '\0';
	tb->pending = 0;
	return p;
}

static const struct exec_ops tb_ops = {
	.submit = tb_submit,
	.poll = tb_poll,
	.find_task = tb_find_task,
	.pass_begin = tb_pass_begin,
	.pass_pending = tb_pass_pending,
	.pass_end = tb_pass_end,
	.pass_forget = tb_pass_forget,
};

/*
 * The loop after a step: the barrier (the agent's, base/barrier.h),
 * then every queued request leaves and is answered.
 */
static void
drive(struct tick_bench *tb)
{
	struct err err;
	size_t i;

	err_init(&err);
	if (db_group_flush(tb->db, &err) != 0)
		fail("barrier", err_msg(&err));
	for (i = 0; i < TB_MAX; i++)
		if (tb->req[i].state == TB_QUEUED) {
			tb->req[i].state = TB_ANSWERED;
			tb->sent++;
		}
}

/* The round's transition count (sm_hook_fn has no context). */
static long *hook_count;

static int
count_transition(struct db *db, int64_t op_id, enum sm_event event,
    const struct sm_args *args, struct err *err)
{
	if (hook_count != NULL)
		(*hook_count)++;
	(void) db;
	(void) op_id;
	(void) event;
	(void) args;
	(void) err;
	return 0;
}

static int
count_commit(void *ctx, sqlite3 *h, const char *name, int npages)
{
	(void) h;
	(void) name;
	(void) npages;
	((struct tick_bench *)ctx)->commits++;
	return SQLITE_OK;
}

int
tick_bench_new(struct db *db, int group, struct tick_bench **out,
    struct err *err)
{
	struct engine_config cfg;
	struct tick_bench *tb;
	int rc;

	if ((tb = calloc(1, sizeof(*tb))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	tb->db = db;
	tb->exec.ops = &tb_ops;
	tb->exec.ctx = tb;
	tb->clock.now = tb_now;
	tb->clock.mono_ms = tb_mono;
	tb->clock.ctx = tb;
	memset(&cfg, 0, sizeof(cfg));
	cfg.group_commit = group;
	cfg.transition_hook = count_transition;
	if ((rc = engine_new(db, &tb->exec, &tb->clock, &cfg, &tb->eng,
	    err)) != 0) {
		free(tb);
		return rc;
	}
	*out = tb;
	return 0;
}

void
tick_bench_free(struct tick_bench *tb)
{
	if (tb == NULL)
		return;
	engine_free(tb->eng);
	free(tb);
}

/* n new benign start ops, one per guest (not timed). */
static void
make_ops(struct tick_bench *tb, int n, int64_t *ids)
{
	struct ops_new on;
	struct err err;
	char key[64];
	int i;

	err_init(&err);
	if (db_begin(tb->db, &err) != 0)
		fail("begin", err_msg(&err));
	for (i = 0; i < n; i++) {
		memset(&on, 0, sizeof(on));
		(void) snprintf(key, sizeof(key), "tick/%p/%" PRId64 "/%d",
		    (void *)tb, tb->round, i);
		on.vmid = 100 + i;
		on.kind = OPS_KIND_START;
		on.source = OPS_SOURCE_ADMIN;
		on.class = OPS_CLASS_BENIGN;
		on.idem_key = key;
		on.now = tb_now(tb);
		if (ops_create(tb->db, &on, &ids[i], &err) != 0)
			fail("create", err_msg(&err));
	}
	if (db_commit(tb->db, &err) != 0)
		fail("commit", err_msg(&err));
	tb->round++;
}

static void
check_done(struct tick_bench *tb, const int64_t *ids, int n)
{
	struct ops_row *op;
	struct err err;
	int i;

	for (i = 0; i < n; i++) {
		err_init(&err);
		if (ops_get(tb->db, ids[i], &op, &err) != 0)
			fail("read op", err_msg(&err));
		if (strcmp(op->state, "succeeded") != 0)
			fail("an op did not succeed", op->state);
		ops_row_free(op);
	}
}

static double
now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
tick_bench_round(struct tick_bench *tb, int n, long *transitions,
    long *commits)
{
	struct engine_next nx;
	struct err err;
	int64_t ids[TB_MAX];
	long sent0 = tb->sent;
	double t0, dt;
	int steps = 0;

	if (n <= 0 || n > TB_MAX / 2)
		fail("round", "between 1 and 128 ops");
	make_ops(tb, n, ids);
	tb->transitions = 0;
	tb->commits = 0;
	hook_count = &tb->transitions;
	(void) sqlite3_wal_hook(db_handle(tb->db), count_commit, tb);
	t0 = now_s();
	do {
		err_init(&err);
		if (engine_step(tb->eng, 0, &nx, &err) != 0)
			fail("engine_step", err_msg(&err));
		drive(tb);
		tb->mono_ms += 1000;
		if (++steps > 100)
			fail("round", "the ops did not end in 100 steps");
	} while (nx.more || nx.pending > 0 || nx.in_flight > 0);
	dt = now_s() - t0;
	(void) sqlite3_wal_hook(db_handle(tb->db), NULL, NULL);
	hook_count = NULL;
	check_done(tb, ids, n);
	/* Exactly once: one request per op. */
	if (tb->sent - sent0 != n)
		fail("round", "not one request per op");
	*transitions = tb->transitions;
	*commits = tb->commits;
	return (double)tb->transitions / dt;
}
