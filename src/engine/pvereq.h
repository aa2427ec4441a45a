/*
 * pvereq — the exact form parameters a PVE request of the executor
 * carries, built in one place (R-27, R-03; pve-api.md §1.2, §5.7).
 *
 * pvereq_set_config() is the one function that turns a set_config op's
 * params ({"set": {KEY: VALUE...}, "delete": [KEY...]}) into the form of
 * PUT /nodes/{node}/lxc/{vmid}/config.  The gate classifies from its
 * result and the executor sends its result, so what is classified is
 * what PVE receives.  Only container options (authz/lxcopt.h) come from
 * the op's params; the request-level parameters the agent needs itself
 * (the config `digest`) come from struct pvereq_internal, never from
 * the params.
 */
#ifndef FELHOM_ENGINE_PVEREQ_H
#define FELHOM_ENGINE_PVEREQ_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "pve/pve.h"

#define PVEREQ_MAX_PARAMS	64

/*
 * A parameter list: values kept as strings in PVE's form (booleans
 * 1/0, numbers in decimal), each key at most once.  Zero it before the
 * first use; pvereq_reset() frees it.  p[0 .. n) is valid after
 * pvereq_finish() until the next put or the reset.
 */
struct pvereq {
	json_t			*vals;		/* key → string, owned */
	struct pve_param	 p[PVEREQ_MAX_PARAMS];
	size_t			 n;
};

void	pvereq_reset(struct pvereq *r);

/*
 * Sets key to the scalar v (string, integer, real or boolean) or to
 * value; ERR_FORMAT for another JSON type, ERR_NOMEM.
 */
int	pvereq_put(struct pvereq *r, const char *key, const json_t *v,
	    struct err *err);
int	pvereq_puts(struct pvereq *r, const char *key, const char *value,
	    struct err *err);

/* Points p[] at the values; ERR_TOO_LARGE over PVEREQ_MAX_PARAMS. */
int	pvereq_finish(struct pvereq *r, struct err *err);

/* The value of key, or NULL (borrowed from r). */
const char *pvereq_get(const struct pvereq *r, const char *key);

/*
 * Request-level parameters the agent adds to a config write itself;
 * all NULL: none.
 */
struct pvereq_internal {
	const char	*digest;	/* optimistic concurrency (§8.5) */
};

/*
 * The finished form of PUT .../config for set_config params, plus the
 * internal parameters (may be NULL).  ERR_REJECTED with a message
 * naming the member when the params are not exactly {"set": object of
 * container options → scalar, "delete": array of container options}
 * with something to change, or an internal value is malformed;
 * ERR_NOMEM.  out is reset first.
 */
int	pvereq_set_config(const json_t *params,
	    const struct pvereq_internal *internal, struct pvereq *out,
	    struct err *err);

#endif
