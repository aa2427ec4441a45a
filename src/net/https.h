/*
 * https — the one HTTPS client (libcurl), shared by pve/ and hub/
 * (R-07, R-21).
 *
 * Verification is always on; the trust mode picks what is trusted:
 * system roots, a CA file, the SHA-256 pin of the server's leaf
 * certificate (the "AA:BB:..." form the PVE GUI shows), or — explicitly —
 * nothing (insecure).  No other switch turns checking off.
 *
 * Errors are typed through struct err: ERR_TRANSPORT (reason: DNS,
 * connect, timeout, reset, ... with curl's text), ERR_TLS (reason: verify
 * failed, or HTTPS_R_PIN_MISMATCH with expected and presented
 * fingerprints), ERR_TOO_LARGE (body over the cap).  An HTTP status is
 * NOT an error here: https_do() returns 0 with resp->status set, and the
 * caller (pve/, hub/) interprets it.
 *
 * The Authorization header value is a secret: it never appears in any
 * message this module produces.
 *
 * Transfers run on a struct https_multi: one curl multi handle that
 * several clients may share (the daemon's loop has one, polled once per
 * turn with its timers, so no exchange blocks the loop), or a private
 * one per client.  Asynchronous use: https_submit() queues a request,
 * https_multi_run() moves every transfer of the multi, https_xfer_done()
 * / https_xfer_finish() take the outcome.  https_do() and
 * https_do_many() are the blocking forms: they wait by driving the same
 * multi, so other clients' transfers progress meanwhile (their outcomes
 * wait for their owners), and a write to the multi's wake fd or the
 * abort flag ends the wait at once.
 *
 * A client may cap its concurrent requests (max_in_flight, the PVE
 * host's worker count): queued requests start in priority order; a
 * HTTPS_PRIO_LOW request never takes the last free place (it is kept
 * for the HIGH ones), so a lane's request never waits behind a report's
 * fan-out.  Connections are kept in the multi's pool (no shrinking after
 * a fan-out) and TLS sessions are resumed through a curl share.
 * Not thread-safe; one multi and its clients per thread.
 */
#ifndef FELHOM_NET_HTTPS_H
#define FELHOM_NET_HTTPS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "base/barrier.h"
#include "base/err.h"

enum https_trust_mode {
	HTTPS_TRUST_SYSTEM,	/* system CA roots (hub default) */
	HTTPS_TRUST_CA_FILE,	/* a CA bundle file */
	HTTPS_TRUST_PIN,	/* SHA-256 of the leaf certificate (DER) */
	HTTPS_TRUST_INSECURE,	/* explicit; the caller logs a warning */
	HTTPS_TRUST__COUNT
};

/* err->reason values for ERR_TRANSPORT / ERR_TLS. */
enum https_reason {
	HTTPS_R_NONE,
	HTTPS_R_DNS,
	HTTPS_R_CONNECT,
	HTTPS_R_TIMEOUT,
	HTTPS_R_RESET,		/* connection reset / closed mid-response */
	HTTPS_R_TLS,		/* handshake or CA verification failed */
	HTTPS_R_PIN_MISMATCH,	/* "tls_pin_mismatch" */
	HTTPS_R_ABORTED,	/* the abort flag was raised */
	HTTPS_R_OTHER,
	HTTPS_R__COUNT
};

/* "dns", "connect", ..., "tls_pin_mismatch". */
const char *https_reason_name(int reason);

struct https_options {
	enum https_trust_mode	 trust;
	const char		*ca_file;	/* HTTPS_TRUST_CA_FILE */
	const char		*pin;		/* HTTPS_TRUST_PIN: "AA:BB:..." */
	long			 connect_timeout_ms;	/* 0 = 10000 */
	long			 timeout_ms;		/* 0 = 30000, whole call */
	size_t			 body_cap;	/* 0 = 4 MiB */
	const char		*user_agent;	/* NULL = felhom-agent/VER */
	/* When non-NULL and set non-zero, calls in flight stop within ~100 ms
	 * with ERR_TRANSPORT/HTTPS_R_ABORTED (clean SIGTERM). */
	volatile sig_atomic_t	*abort_flag;
	/* The multi to run on (borrowed, outlives the client); NULL: the
	 * client makes a private one. */
	struct https_multi	*multi;
	/* At most this many requests of this client at once; 0: no cap. */
	size_t			 max_in_flight;
};

struct https_request {
	const char	*method;	/* "GET", "POST", "PUT", "DELETE" */
	const char	*url;		/* absolute https:// URL */
	const char	*authorization;	/* header VALUE, secret; NULL = none */
	const char	*content_type;	/* of body; NULL when no body */
	const void	*body;
	size_t		 body_len;
	const char	*accept;	/* NULL = "application/json" */
	const char	*if_none_match;	/* NULL = none */
};

struct https_response {
	long	 status;		/* HTTP status */
	char	*body;			/* heap, NUL-terminated (may be "") */
	size_t	 body_len;
	char	*content_type;		/* heap or NULL */
	char	*etag;			/* heap or NULL */
	long	 retry_after_s;		/* -1 when absent/unparsable */
	char	 reason[128];		/* status line's reason phrase */
};

/* Initializes libcurl once per process (idempotent). */
int	https_global_init(struct err *err);

struct https_client;

/* The options' strings are copied.  Free with https_client_free(). */
int	https_client_new(const struct https_options *opt,
	    struct https_client **out, struct err *err);
void	https_client_free(struct https_client *c);

/* ---- the multi: one poll for every transfer ---------------------------- */

struct https_multi;

struct https_multi_options {
	/* Readable = wake up (a signal handler's self-pipe); -1: none.
	 * The multi drains it. */
	int	wake_fd;
};

int	https_multi_new(const struct https_multi_options *opt,
	    struct https_multi **out, struct err *err);
/* After every client that uses it. */
void	https_multi_free(struct https_multi *m);
/* Sets the wake fd (see https_multi_options); -1: none. */
void	https_multi_set_wake_fd(struct https_multi *m, int fd);
/*
 * fn(ctx) runs before every drive of the multi (base/barrier.h): before
 * any byte of a newly submitted transfer leaves.  If it refuses, the
 * transfers submitted since the previous drive end unsent with its
 * error (ERR_TRANSPORT, HTTPS_R_ABORTED: "not sent: ...").  NULL: none.
 */
void	https_multi_set_barrier(struct https_multi *m, barrier_fn fn,
	    void *ctx);

/*
 * Moves every transfer: waits up to timeout_ms (0: not at all) for
 * network activity, a transfer's timer or the wake fd, and returns as
 * soon as any of them fires.  The number of transfers that completed
 * (>= 0), or an ERR_* when the multi itself failed.
 */
int	https_multi_run(struct https_multi *m, long timeout_ms,
	    struct err *err);

/* New connections (TCP+TLS) opened by the multi's transfers so far. */
uint64_t https_multi_connects(const struct https_multi *m);

/* The multi a client runs on (its own private one or the shared one). */
struct https_multi *https_client_multi(const struct https_client *c);
/* New connections opened by this client's transfers so far. */
uint64_t https_client_connects(const struct https_client *c);

/* ---- asynchronous requests ------------------------------------------ */

enum https_prio {
	HTTPS_PRIO_HIGH,	/* lanes, the hub, blocking calls */
	HTTPS_PRIO_LOW,		/* report collection: never the last place */
	HTTPS_PRIO__COUNT
};

struct https_xfer;

/*
 * Queues one request (copied, secrets wiped when done) and starts it
 * when the client's cap allows.  *out is the caller's until
 * https_xfer_finish() or https_xfer_cancel().  ERR_INVALID for a
 * request that can never be sent (not https://), ERR_NOMEM.
 */
int	https_submit(struct https_client *c, const struct https_request *req,
	    enum https_prio prio, struct https_xfer **out, struct err *err);

/* 1 once the transfer ended (answer, failure, cancel by the client). */
int	https_xfer_done(const struct https_xfer *x);

/*
 * The outcome of a done transfer, as https_do() returns it, and frees
 * it.  A transfer not done yet is cancelled (ERR_TRANSPORT, aborted).
 */
int	https_xfer_finish(struct https_xfer *x, struct https_response *resp,
	    struct err *err);

/* Stops (when running) and frees; NULL is fine. */
void	https_xfer_cancel(struct https_xfer *x);

/*
 * Blocks until x is done, driving the whole multi meanwhile; the abort
 * flag (or the wake fd) ends it, x then done as aborted.
 */
void	https_xfer_wait(struct https_xfer *x);

/* ---- blocking forms -------------------------------------------------- */

/*
 * Performs one request.  0 with *resp filled (any HTTP status), or an
 * ERR_* for transport/TLS/size failures (resp reset).  Caller calls
 * https_response_reset(resp) when done.
 */
int	https_do(struct https_client *c, const struct https_request *req,
	    struct https_response *resp, struct err *err);

/*
 * Performs n requests concurrently (libcurl multi), at most max_in_flight
 * at once.  resps[i] and errs[i] (caller arrays of n, errs initialised)
 * get each request's own outcome; rcs[i] its return code.  Returns 0
 * when the batch ran (individual failures are in rcs), or an ERR_* when
 * it could not run at all.
 */
int	https_do_many(struct https_client *c, const struct https_request *reqs,
	    size_t n, size_t max_in_flight, struct https_response *resps,
	    int *rcs, struct err *errs, struct err *err);

void	https_response_init(struct https_response *resp);
void	https_response_reset(struct https_response *resp);

/*
 * SHA-256 fingerprint of the leaf certificate presented on the last
 * connection, in "AA:BB:..." form (static per client, "" if none).
 */
const char *https_last_fingerprint(const struct https_client *c);

#endif
