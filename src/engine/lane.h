/*
 * lane — the engine's driver of ops, one lane per vmid (R-25, R-26,
 * Internal to the engine: engine_step() and engine_recover()
 * are its public faces (engine.h).
 */
#ifndef FELHOM_ENGINE_LANE_H
#define FELHOM_ENGINE_LANE_H

#include "base/clock.h"
#include "base/err.h"
#include "base/loglimit.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "engine/sm.h"
#include "engine/timer.h"
#include "store/db.h"
#include "store/ops.h"

/* What the lanes work with; all borrowed from the engine. */
struct lane_ctx {
	struct db			*db;
	const struct exec		*exec;
	const struct clock		*clock;
	const struct engine_config	*cfg;	/* defaults filled in */
	struct timers			*timers;	/* monotonic */
	struct loglimit			*pve_log;	/* PVE failing, or NULL */
};

/* The op's state as an enum (SM__COUNT for a name not known). */
enum sm_state lane_op_state(const struct ops_row *op);

/* One tick of every lane: engine_step() when not blocked. */
int	lane_step(const struct lane_ctx *e, struct engine_next *out,
	    struct err *err);

/* engine_recover(): every op not terminal, examined once. */
int	lane_recover(const struct lane_ctx *e, struct engine_recovery *out,
	    struct err *err);

#endif
