/*
 * timer — monotonic deadlines, one per (kind, id).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/timer.h"

struct timer {
	enum timer_kind	 kind;
	int64_t		 id;
	int64_t		 gen;
	int64_t		 due_ms;	/* monotonic */
};

struct timers {
	struct timer	*v;
	size_t		 n;
	size_t		 cap;
};

struct timers *
timer_new(void)
{
	return calloc(1, sizeof(struct timers));
}

void
timer_free(struct timers *t)
{
	if (t == NULL)
		return;
	free(t->v);
	free(t);
}

static struct timer *
find(const struct timers *t, enum timer_kind kind, int64_t id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && t->v[i].id == id)
			return &t->v[i];
	return NULL;
}

int
timer_arm(struct timers *t, enum timer_kind kind, int64_t id, int64_t gen,
    int64_t dur_ms, int64_t now_ms)
{
	struct timer *x = find(t, kind, id), *nv;
	size_t ncap;

	if (x == NULL) {
		if (t->n == t->cap) {
			ncap = t->cap == 0 ? 16 : t->cap * 2;
			if ((nv = realloc(t->v, ncap * sizeof(*nv))) == NULL)
				return ERR_NOMEM;
			t->v = nv;
			t->cap = ncap;
		}
		x = &t->v[t->n++];
	}
	x->kind = kind;
	x->id = id;
	x->gen = gen;
	x->due_ms = now_ms + (dur_ms > 0 ? dur_ms : 0);
	return 0;
}

int
timer_left(struct timers *t, enum timer_kind kind, int64_t id, int64_t gen,
    int64_t stored_ms, int64_t max_ms, int64_t now_ms, int64_t *left_out)
{
	struct timer *x = find(t, kind, id);
	int rc;

	if (x == NULL || x->gen != gen) {
		if (stored_ms > max_ms)
			stored_ms = max_ms;
		if ((rc = timer_arm(t, kind, id, gen, stored_ms, now_ms)) != 0)
			return rc;
		x = find(t, kind, id);
	}
	*left_out = x->due_ms - now_ms;
	return 0;
}

int
timer_armed(const struct timers *t, enum timer_kind kind, int64_t id,
    int64_t gen)
{
	const struct timer *x = find(t, kind, id);

	return x != NULL && x->gen == gen;
}

void
timer_drop(struct timers *t, enum timer_kind kind, int64_t id)
{
	struct timer *x = find(t, kind, id);

	if (x == NULL)
		return;
	*x = t->v[--t->n];
}

int
timer_each(const struct timers *t, int64_t now_ms, timer_each_fn fn,
    void *ctx, struct err *err)
{
	size_t i;
	int rc;

	for (i = 0; i < t->n; i++)
		if ((rc = fn(ctx, t->v[i].kind, t->v[i].id, t->v[i].gen,
		    t->v[i].due_ms - now_ms, err)) != 0)
			return rc;
	return 0;
}

void
timer_sweep(struct timers *t, timer_keep_fn keep, void *ctx)
{
	size_t i = 0;

	while (i < t->n) {
		if (keep(ctx, t->v[i].kind, t->v[i].id))
			i++;
		else
			t->v[i] = t->v[--t->n];
	}
}

int64_t
timer_op_gen(int step, int attempt)
{
	return ((int64_t)step << 32) | (uint32_t)attempt;
}
