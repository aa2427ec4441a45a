/*
 * recover — the operator's side of recovery (R-34, R-36; DESIGN
 * "Recovery"): what the agent's own recovery will do with an op that is
 * not terminal, and why; and the operator's actions on one op — cancel
 * (not started), resume, roll back to the safety copy, abandon — each
 * one transition of the table (engine/sm), audited with the operator's
 * name.  Used by `felhom-admin cancel` and `felhom-admin recover`.
 * Nothing here touches the network: the agent carries the op on.
 */
#ifndef FELHOM_ENGINE_RECOVER_H
#define FELHOM_ENGINE_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/sm.h"
#include "store/db.h"
#include "store/ops.h"

enum recover_action {
	RECOVER_CANCEL,		/* not started (authorized: step 0) */
	RECOVER_RESUME,		/* go on at the next tick, backoff dropped */
	RECOVER_ROLLBACK,	/* back to the safety copy, between steps */
	RECOVER_ABANDON,	/* give up; PVE is left as it is */
	RECOVER__COUNT
};

/* "cancel", "resume", "rollback", "abandon"; -1 / "unknown" otherwise. */
const char *recover_action_name(enum recover_action a);
int	recover_action_parse(const char *s);

/* What the agent does next with an op, and what an operator may do. */
struct recover_advice {
	const char	*does;		/* short verb phrase (static) */
	char		 why[512];	/* the facts behind it */
	char		 step[64];	/* "restore (2 of 3)", "" when none */
	unsigned	 actions;	/* 1 << RECOVER_*: what applies now */
};

/*
 * Describes op (any state; a terminal one has no actions) as the
 * agent's recovery and lanes will treat it at `now`.  Never
 * fails: an op whose steps cannot be known says so in `why`.
 */
void	recover_explain(const struct ops_row *op, int64_t now,
	    struct recover_advice *out);

/* Why `action` does not apply to op, into buf (n); NULL when it does. */
const char *recover_refusal(const struct ops_row *op,
	    enum recover_action action, char *buf, size_t n);

/* The outcome of recover_apply. */
struct recover_result {
	char		 uid[OPS_UID_LEN];
	enum sm_state	 from;
	enum sm_state	 to;
	enum sm_event	 event;
};

/*
 * Applies an operator's action to the op uid in one transaction that
 * reads the op, checks the action applies to its state (and step),
 * and makes the table's transition, audited with actor
 * "admin:<operator_name>" and a journal detail naming the operator.
 * ERR_NOT_FOUND: no such op;
 * ERR_TRANSITION: the action does not apply (the message says why and
 * what does); ERR_BUSY and other database codes as db_error().  Safe
 * while the agent runs: the transaction holds the write lock, so the
 * check and the compare-and-set see the same state.
 */
int	recover_apply(struct db *db, const char *uid,
	    enum recover_action action, const char *operator_name,
	    int64_t now, struct recover_result *out, struct err *err);

#endif
