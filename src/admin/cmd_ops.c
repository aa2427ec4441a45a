/*
 * cmd_ops — one operation as felhom-admin shows it, shared by
 * `show` and `recover`: the row's facts, its steps, and what the agent
 * will do with it next (engine/recover).
 */
#include <stdio.h>
#include <sysexits.h>

#include <jansson.h>

#include "admin/cmd.h"
#include "base/clock.h"
#include "base/exitcode.h"
#include "engine/exec.h"
#include "engine/recover.h"
#include "engine/sm.h"
#include "store/ops.h"

static json_t *
time_or_null(int64_t t)
{
	char s[CLOCK_RFC3339_LEN];

	if (t <= 0)
		return json_null();
	clock_format_rfc3339(t, s, sizeof(s));
	return json_string(s);
}

static json_t *
steps_json(const struct ops_row *op)
{
	const enum exec_step_kind *steps;
	json_t *arr;
	size_t n, i;

	if ((arr = json_array()) == NULL)
		return NULL;
	if (op->vmid == 0 || exec_op_steps(op, &steps, &n, NULL) != 0)
		return arr;
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_string(exec_step_info(
		    steps[i])->name)) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

static json_t *
advice_json(const struct ops_row *op, int64_t now)
{
	struct recover_advice adv;
	json_t *o, *acts;
	int a;

	recover_explain(op, now, &adv);
	if ((acts = json_array()) == NULL)
		return NULL;
	for (a = 0; a < RECOVER__COUNT; a++)
		if ((adv.actions & (1u << a)) && json_array_append_new(acts,
		    json_string(recover_action_name((enum recover_action)a))) !=
		    0) {
			json_decref(acts);
			return NULL;
		}
	o = json_pack("{s:s,s:s,s:o,s:o}", "does", adv.does, "why", adv.why,
	    "step", adv.step[0] != '\0' ? json_string(adv.step) : json_null(),
	    "actions", acts);
	return o;
}

json_t *
cmd_op_json(const struct ops_row *op, int64_t now)
{
	return json_pack("{s:s,s:o,s:s,s:s,s:s,s:s,s:i,s:o,s:i,s:i,s:o,s:o,"
	    "s:O,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "op_id", op->uid,
	    "vmid", op->vmid > 0 ? json_integer(op->vmid) : json_null(),
	    "op", ops_kind_name(op->kind),
	    "source", ops_source_name(op->source),
	    "class", ops_class_name(op->class),
	    "state", op->state,
	    "step", op->step,
	    "steps", steps_json(op),
	    "attempt", op->attempt,
	    "max_attempts", op->max_attempts,
	    "next_at", time_or_null(op->next_at > now ? op->next_at : 0),
	    "upid", op->upid != NULL ? json_string(op->upid) : json_null(),
	    "params", op->params,
	    "safety", op->safety != NULL ? json_deep_copy(op->safety) :
	    json_null(),
	    "why", op->why != NULL ? json_string(op->why) : json_null(),
	    "error_code", op->error_code != NULL ?
	    json_string(op->error_code) : json_null(),
	    "error", op->error != NULL ? json_string(op->error) : json_null(),
	    "created_at", time_or_null(op->created_at),
	    "updated_at", time_or_null(op->updated_at),
	    "ended_at", time_or_null(op->ended_at),
	    "recovery", advice_json(op, now));
}

int
cmd_find_op(struct cmd_ctx *ctx, struct db *db, const char *uid,
    struct ops_row **out)
{
	struct err err;
	int rc;

	err_init(&err);
	if (cmd_parse_op_id(uid, &err) != 0)
		return cmd_fail(ctx, EX_USAGE, "%s", err_msg(&err));
	if ((rc = ops_get_uid(db, uid, out, &err)) == ERR_NOT_FOUND)
		return cmd_fail(ctx, EXITCODE_NEGATIVE, "%s: no such operation",
		    uid);
	if (rc != 0)
		return cmd_fail_err(ctx, &err);
	return 0;
}

int
cmd_op_action(struct cmd_ctx *ctx, const char *uid, int action)
{
	struct recover_result r;
	struct db *db = NULL;
	struct err err;
	char who[64];
	int rc, ret;

	err_init(&err);
	if (cmd_parse_op_id(uid, &err) != 0)
		return cmd_fail(ctx, EX_USAGE, "%s", err_msg(&err));
	/* Written through the agent's own transactions, never created. */
	if ((ret = cmd_db_open(ctx, 0, &db)) != 0)
		return ret;
	cmd_operator(who, sizeof(who));
	rc = recover_apply(db, uid, (enum recover_action)action, who,
	    clock_now(clock_system()), &r, &err);
	db_close(db);
	if (rc == ERR_NOT_FOUND)
		return cmd_fail(ctx, EXITCODE_NEGATIVE, "%s: no such operation",
		    uid);
	if (rc == ERR_TRANSITION || rc == ERR_CONFLICT)
		/* Refused, or the agent moved it first: nothing written. */
		return cmd_fail(ctx, EXITCODE_NEGATIVE, "%s", err_msg(&err));
	if (rc != 0)
		return cmd_fail_err(ctx, &err);
	if (ctx->json)
		return cmd_done(cmd_print_json(json_pack("{s:s,s:s,s:s,s:s,"
		    "s:s}", "op_id", r.uid, "action", recover_action_name(
		    (enum recover_action)action), "from", sm_state_name(r.from),
		    "to", sm_state_name(r.to), "operator", who)));
	printf("%s: %s %s -> %s (by %s, audited); %s\n",
	    recover_action_name((enum recover_action)action), r.uid,
	    sm_state_name(r.from), sm_state_name(r.to), who,
	    action == RECOVER_CANCEL || action == RECOVER_ABANDON ?
	    "the agent does nothing more with it" :
	    action == RECOVER_ROLLBACK ? "the agent returns the guest to the "
	    "safety copy at its next tick" : "the agent takes it up at its "
	    "next tick");
	return cmd_done(0);
}
