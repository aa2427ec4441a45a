/*
 * priv — the agent's side of the privileged helper (R-08; DESIGN
 * "Processes").  The agent never runs pct, smartctl or sensors itself:
 * it asks felhom-privhelper over its Unix socket, one request per
 * connection (priv/wire.h), and gets parsed results back.
 *
 * Two ways to call: priv_call() waits for the answer (short requests:
 * SMART, sensors, an attach); priv_call_start() + priv_call_poll() never
 * block, for the engine's loop, which must not wait minutes for a
 * `pct create` (R-25: one slow guest never holds up another).
 *
 * The request builders below make the exact shapes the helper accepts;
 * the helper checks every field again (it trusts nothing from here).
 */
#ifndef FELHOM_PRIV_PRIV_H
#define FELHOM_PRIV_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/barrier.h"
#include "base/err.h"

#define PRIV_CALL_TIMEOUT_MS	120000	/* priv_call's default wait */

struct priv_client;

/*
 * A client of the helper listening on socket_path (copied); nothing is
 * connected yet.  Caller frees with priv_client_free (NULL-safe).
 */
int	priv_client_new(const char *socket_path, struct priv_client **out,
	    struct err *err);
void	priv_client_free(struct priv_client *c);
const char *priv_client_socket(const struct priv_client *c);
/*
 * fn(ctx) runs before every request is sent (base/barrier.h); a request
 * it refuses is not sent and fails with its error.  NULL: none.
 */
void	priv_client_set_barrier(struct priv_client *c, barrier_fn fn,
	    void *ctx);

/*
 * Sends req, waits up to timeout_ms (0: PRIV_CALL_TIMEOUT_MS) for the
 * answer: 0 with *result_out (caller decrefs) the answer's "result", or
 * the helper's refusal as its ERR_* code with its message (prefixed
 * "helper: ").  ERR_UNSUPPORTED when nothing listens on the socket (no
 * helper installed), ERR_IO / ERR_TIMEOUT / ERR_PROTOCOL otherwise.
 */
int	priv_call(struct priv_client *c, const json_t *req, long timeout_ms,
	    json_t **result_out, struct err *err);

/* A request in flight (its connection); owned by the caller. */
struct priv_call;

/*
 * Connects and sends req without waiting for the answer.  The helper
 * goes on even if the caller goes away (a `pct create` is not cut in
 * half).  Errors as priv_call's sending part.
 */
int	priv_call_start(struct priv_client *c, const json_t *req,
	    struct priv_call **out, struct err *err);
/*
 * Reads what has arrived, never waiting: *done = 0 while the helper
 * works; *done = 1 and 0 returned with *result_out, or the helper's
 * error, once it answered.  The call is spent after done.
 */
int	priv_call_poll(struct priv_call *call, int *done, json_t **result_out,
	    struct err *err);
void	priv_call_free(struct priv_call *call);

/* ---- request builders (new references; NULL only without memory) ---- */

/* (a) pct create: the spec's flags and the creation basics. */
struct priv_create {
	int64_t		 vmid;
	const char	*template_volid;
	const char	*storage;
	int64_t		 rootfs_gib;
	const json_t	*features;	/* {"keyctl": true, ...} */
	const json_t	*spec;		/* hostname, memory_mib, ... or NULL */
};
json_t	*priv_req_create(const struct priv_create *a);
/* (a) pct restore as root (bind mounts and devices come back). */
json_t	*priv_req_restore(int64_t vmid, const char *archive,
	    const char *storage, int force, int unique);
/* (a) pct set --features on an existing guest. */
json_t	*priv_req_features(int64_t vmid, const json_t *features);

/* (b) One bind mount point or USB device to attach. */
struct priv_bind {
	const char	*key;		/* mp0 … mp255 */
	const char	*host_path;	/* inside priv.bind_roots */
	const char	*path;		/* in the guest */
	int		 read_only;
};
struct priv_device {
	const char	*key;		/* dev0 … dev255 */
	const char	*usb;		/* hhhh:hhhh or bus-port, or NULL */
	const char	*path;		/* /dev/bus/usb/BBB/DDD, or NULL */
};
json_t	*priv_req_attach(int64_t vmid, const struct priv_bind *binds,
	    size_t nbinds, const struct priv_device *devs, size_t ndevs,
	    const char *const *delete_keys, size_t ndelete);

/* (c) */
json_t	*priv_req_smart(const char *device);
json_t	*priv_req_sensors(void);

/* ---- whole calls (blocking) -------------------------------------------- */

/*
 * (a) `pct restore` of archive into vmid on storage as root (force: over
 * an existing, stopped guest): the backup's bind mounts and devices come
 * back, each checked by the helper's policy first.  For an overwrite
 * that must re-attach host paths.
 */
int	priv_restore(struct priv_client *c, int64_t vmid, const char *archive,
	    const char *storage, int force, long timeout_ms, struct err *err);
/* (b) Attaches host paths / USB devices to vmid (`pct set`). */
int	priv_attach(struct priv_client *c, int64_t vmid,
	    const struct priv_bind *binds, size_t nbinds,
	    const struct priv_device *devs, size_t ndevs, struct err *err);
/*
 * (c) One disk: the helper's disk object (device, model, serial,
 * smart_passed, temperature_c, power_on_hours, exit_status, error).
 */
int	priv_smart(struct priv_client *c, const char *device, json_t **out,
	    struct err *err);
/* (c) The temperatures: array of {chip, label, temp_c}. */
int	priv_sensors(struct priv_client *c, json_t **out, struct err *err);

#endif
