/*
 * plan — the reconciler's decision: desired × actual → a minimal action
 * set.  A pure function: no I/O, no clock, no
 * database; the engine gathers the inputs (engine_observe) and turns the
 * actions into ops (engine_plan).
 *
 * Rules:
 *   - only guests listed in the desired state are looked at; absence
 *     from it never means destroy;
 *   - values are compared through norm_ so PVE round-trip quirks are
 *     never drift;
 *   - start, stop (shutdown with a timeout, then hard stop) and
 *     set_config of the managed keys are benign; destroy (state
 *     "absent"), restore and rollback are destructive and go to the
 *     gate; provision of a missing guest is benign, but only when a
 *     direct read proved it absent;
 *   - a locked guest, a template, or one with an op in flight is skipped
 *     this cycle;
 *   - when a guest seen last time is missing now without a direct read
 *     proving it gone, the whole cycle is skipped: a token without
 *     privileges gets a shortened list with HTTP 200.
 */
#ifndef FELHOM_ENGINE_PLAN_H
#define FELHOM_ENGINE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/actual.h"
#include "store/desired.h"
#include "store/ops.h"

#define PLAN_DIGEST_LEN		65	/* SHA-256 hex + NUL */
#define PLAN_KEY_MAX		160
#define PLAN_SHUTDOWN_TIMEOUT_S	60

struct plan_input {
	const struct desired_set *desired;
	const struct actual_set	*actual;	/* this cycle's */
	const struct actual_set	*previous;	/* last one; NULL */
	const int64_t	*proven_absent;	/* ascending, read "absent" */
	size_t		 nproven_absent;
	const int64_t	*busy;		/* ascending, op in flight */
	size_t		 nbusy;
	int64_t		 shutdown_timeout_s;	/* 0: the default */
};

struct plan_action {
	int64_t		 vmid;
	enum ops_kind	 kind;
	enum ops_class	 class;
	json_t		*params;		/* owned */
	char		*params_text;	/* owned: their compact, key-sorted
					   JSON, hashed into digest and
					   stored as ops.params */
	char		 digest[PLAN_DIGEST_LEN];	/* of the params */
	char		 why[96];		/* human reason */
};

/* Why a desired guest got no action this cycle (logged, tested). */
enum plan_note_kind {
	PLAN_NOTE_LOCKED,		/* PVE lock: skipped, no error storm */
	PLAN_NOTE_BUSY,			/* an op of it is in flight */
	PLAN_NOTE_TEMPLATE,		/* a template is never managed */
	PLAN_NOTE_UNPROVEN,		/* missing, absence not proven */
	PLAN_NOTE_MISSING,		/* missing, nothing to provision */
	PLAN_NOTE_NO_SPEC,		/* config unread: spec not compared */
	PLAN_NOTE_UNKNOWN_STATUS,	/* run status unknown: no power op */
	PLAN_NOTE__COUNT
};

struct plan_note {
	int64_t			 vmid;
	enum plan_note_kind	 kind;
};

struct plan {
	int		 skipped;	/* 1: the whole cycle is skipped */
	char		 skip_reason[160];
	struct plan_action *actions;	/* in order; per vmid, lane order */
	size_t		 nactions;
	int64_t		*considered;	/* ascending: vmids planned */
	size_t		 nconsidered;
	struct plan_note *notes;
	size_t		 nnotes;
};

/*
 * Computes the plan (caller frees *out with plan_free).  ERR_FORMAT when
 * a desired spec cannot be turned into PVE parameters.
 */
int	plan_compute(const struct plan_input *in, struct plan **out,
	    struct err *err);
void	plan_free(struct plan *plan);

/* 1 when vmid is in the plan's considered set. */
int	plan_considers(const struct plan *plan, int64_t vmid);
/* 1 when the plan has an action for vmid. */
int	plan_has_actions(const struct plan *plan, int64_t vmid);
/* The action of (vmid, kind, digest) in plan, or NULL. */
const struct plan_action *plan_find(const struct plan *plan, int64_t vmid,
	    enum ops_kind kind, const char *digest);

const char *plan_note_name(enum plan_note_kind k);

/*
 * SHA-256 (hex) of the compact, key-sorted JSON of params, or of that
 * text as stored in ops.params.
 */
int	plan_digest(const json_t *params, char *out, struct err *err);
int	plan_digest_text(const char *text, char *out, struct err *err);

/*
 * Idempotency key of a desired action:
 * "desired/<vmid>/<kind>/<digest>/<generation>"; plan_key_prefix()
 * writes the same without the generation (ends with "/").
 */
void	plan_idem_key(int64_t generation, int64_t vmid, enum ops_kind kind,
	    const char *digest, char *out, size_t n);
void	plan_key_prefix(int64_t vmid, enum ops_kind kind,
	    const char *digest, char *out, size_t n);

#endif
