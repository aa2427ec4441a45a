/*
 * fake_exec — an in-memory executor for the engine's tests: a small PVE
 * world (guests with configs, tasks that end after a number of polls),
 * scripted failures, and counters of every request, behind the same
 * struct exec the real executor fills.  Also a settable clock.
 */
#ifndef FELHOM_TESTS_FAKE_EXEC_H
#define FELHOM_TESTS_FAKE_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/clock.h"
#include "engine/exec.h"

#define FAKE_MAX_GUESTS	64
#define FAKE_MAX_TASKS	512

struct fake_guest {
	int64_t		 vmid;
	char		 status[16];	/* running, stopped */
	char		 lock[24];	/* "" none */
	int		 template;
	int		 hidden;	/* not listed (a bad token) */
	int		 forbidden;	/* direct reads answer 403 */
	json_t		*config;	/* PVE config */
	int		 present;
	char		 snaps[8][64];	/* snapshot names, "" free */
};

struct fake_task {
	char		 upid[96];
	int64_t		 vmid;
	char		 type[24];
	int64_t		 start;
	int		 polls_left;	/* until it ends; -1 hangs */
	enum exec_task_state end;
	char		 exit[128];
	enum exec_step_kind what;
	json_t		*params;	/* for its effect on the world */
	char		 uid[32];
	int		 ended;
	int		 applied;
};

/* A request PVE takes in late, after its answer was lost (a timeout). */
struct fake_late {
	struct exec_target t;		/* uid, params copied below */
	char		 uid[32];
	json_t		*params;
	char		 digest[48];	/* "" none */
	int64_t		 due;		/* fake seconds */
	int		 done;
};

/*
 * Issue 17: with `passes` set, a submit, undo or poll made inside a pass
 * is done at once (the request reaches the world) but answers
 * ERR_PENDING; the same call in a later pass of the scope takes the
 * answer kept here, as the real executor's memo (pve/memo.c) does.
 */
#define FAKE_MAX_HELD	64

/* A request queued, not yet sent (defer: the target, copied). */
struct fake_queued {
	struct exec_target t;
	char		 uid[64];
	char		 digest[96];
	int		 undo;
};

struct fake_held {
	char		 scope[32];
	char		 key[160];	/* "submit uid step", "poll upid" */
	struct fake_queued *queued;	/* defer: not sent yet */
	int		 rc;
	struct err	 err;
	char		*upid;		/* submit/undo */
	enum exec_task_state ts;	/* poll */
	char		*exit;		/* poll */
};

struct fake {
	int64_t		 now;		/* the clock (seconds) */
	int64_t		 wall_skew;	/* added to the wall clock only */
	int64_t		 mono_ms;
	struct clock	 clock;
	struct exec	 exec;
	struct fake_guest guests[FAKE_MAX_GUESTS];
	size_t		 nguests;
	struct fake_task tasks[FAKE_MAX_TASKS];
	size_t		 ntasks;
	/* behaviour */
	int		 task_polls;	/* polls a task runs (1) */
	int64_t		 hang_vmid;	/* its tasks never end */
	int		 fail_submit;	/* submits fail: this ERR_* */
	int		 fail_count;	/* how many (0: all while set) */
	long		 fail_status;
	char		 fail_exit[128];	/* next task fails so */
	int		 fail_task_kind;	/* that step kind; -1 any */
	int		 drop_answer;	/* applied, answer lost */
	int		 list_fails;
	int64_t		 late_s;	/* next submit: lost answer, PVE takes
					   it in this many seconds later */
	struct fake_late late[8];
	size_t		 nlate;
	int		 passes;	/* calls in a pass pend once */
	/*
	 * Issue 15, with passes: a submit or undo in a pass is only queued,
	 * as the real executor's (https_submit adds a transfer the multi
	 * sends when the loop drives it); fake_drive() sends them.
	 */
	int		 defer;
	/* Called as each submit or undo reaches the world (op id). */
	void		(*witness)(void *ctx, int64_t op_id);
	void		*witness_ctx;
	char		 scope[32];	/* the pass's, "" none */
	int		 pass_pending;
	struct fake_held held[FAKE_MAX_HELD];
	size_t		 nheld;
	/* counters */
	int		 pended;	/* calls answered ERR_PENDING */
	int		 submits;
	int		 submits_by[EXEC_STEP__COUNT];
	int		 undos;
	int		 undo_was_running;	/* the last undo's target */
	int		 polls;
	int		 finds;
	int		 reads;
	int		 lists;
	int		 statuses;
	int		 modified;	/* writes refused by their digest */
	char		 order[4096];	/* "101:start 102:..." */
};

/* Initializes f (zeroed storage) with an empty world at time now. */
void	fake_init(struct fake *f, int64_t now);
void	fake_reset(struct fake *f);
/* Forgets every kept answer (the process holding them died). */
void	fake_drop_held(struct fake *f);
/* defer: sends every queued request (the loop driving the multi). */
size_t	fake_drive(struct fake *f);
/* Adds a guest with a PVE config (JSON text, may be NULL: minimal). */
struct fake_guest *fake_guest_add(struct fake *f, int64_t vmid,
	    const char *status, const char *config_json);
struct fake_guest *fake_guest(struct fake *f, int64_t vmid);
/* Adds a task as if an earlier process had started it. */
struct fake_task *fake_task_add(struct fake *f, int64_t vmid,
	    const char *type, int64_t start, int polls_left);
struct fake_task *fake_task(struct fake *f, const char *upid);
/* Lets every hanging task of vmid end OK at its next poll. */
void	fake_release(struct fake *f, int64_t vmid);
/* The config digest PVE would show for guest g (into out, >= 48). */
void	fake_digest(const struct fake_guest *g, char *out, size_t n);
/* 1 when guest g has snapshot name. */
int	fake_has_snapshot(const struct fake_guest *g, const char *name);

#endif
