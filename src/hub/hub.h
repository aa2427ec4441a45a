/*
 * hub — the HTTP client of the felhom hub and the types of its wire
 * contract (shared/reference/hub-contract.md; ).
 *
 * Transport is net/https: every request carries `Authorization: Bearer`,
 * `User-Agent: felhom-agent/<version>` and `Accept: application/json`
 * over verified TLS (system roots, or hub.ca_file).  Bodies are capped at
 * HUB_BODY_CAP; a 200 must be application/json with the right `schema`;
 * unknown keys are ignored (forward compatible).
 *
 * Errors are typed: err->code is the generic ERR_* (ERR_TRANSPORT,
 * ERR_TLS, ERR_AUTH, ERR_PERMISSION, ERR_HTTP, ERR_PROTOCOL, ERR_FORMAT,
 * ERR_TOO_LARGE), err->reason an enum hub_error saying what the loop must
 * do about it, err->status the HTTP status when there was one.  The token
 * never appears in any message.  Nothing here logs above debug.
 */
#ifndef FELHOM_HUB_HUB_H
#define FELHOM_HUB_HUB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "net/https.h"

#define HUB_BODY_CAP		(4u * 1024u * 1024u)	/* response bodies */
#define HUB_RETRY_AFTER_MAX_S	3600	/* Retry-After is capped at this */
#define HUB_MESSAGE_MAX		512	/* bytes of the hub's message kept */

#define HUB_SCHEMA_REPORT	"felhom.host-report/v1"
#define HUB_SCHEMA_CONTROL	"felhom.control/v1"
#define HUB_SCHEMA_DESIRED	"felhom.desired/v1"
#define HUB_SCHEMA_SIGNED_OPS	"felhom.signed-ops/v1"

/* err->reason of a hub failure: how the report loop reacts. */
enum hub_error {
	HUB_E_NONE,
	HUB_E_AUTH,		/* 401/403: report on at the maximum interval */
	HUB_E_HTTP,		/* 5xx, other 4xx: backoff */
	HUB_E_RETRY_AFTER,	/* 429/503 with Retry-After: wait that long */
	HUB_E_PROTOCOL,		/* size, content type, JSON, schema, shape */
	HUB_E_TRANSPORT,	/* DNS, connect, TLS, timeout, reset: backoff */
	HUB_E_ABORTED,		/* the abort flag was raised (shutdown) */
	HUB_E__COUNT
};

/* "auth", "http", "retry_after", ...; "unknown" out of range. */
const char *hub_error_name(int reason);

/* Positive results of the GET calls (0 = a document was returned). */
#define HUB_NOT_MODIFIED	1	/* 304: If-None-Match matched */
#define HUB_NO_CONTENT		2	/* 204: nothing there */

/*
 * The control envelope (POST /report's answer).  An absent optional key
 * leaves its has_ flag 0: the loop then keeps what it had.
 */
struct hub_envelope {
	int64_t	 poll_interval_s;	/* as received; the loop clamps it */
	int	 has_blocked;
	int	 blocked;		/* 1: no mutation of any kind */
	int	 has_desired_generation;
	int64_t	 desired_generation;
	int	 has_signed_ops;	/* 1 when the hub said true */
	int	 has_audit_ack_seq;
	int64_t	 audit_ack_seq;
};

/*
 * One entry of GET /signed-ops.  An entry of the wrong shape does not
 * spoil the others: it gets `bad` (why) and is rejected by the caller.
 */
struct hub_signed_op {
	int64_t	 seq;		/* v1.1: the hub's seq (> 0); 0: none (v1) */
	char	*op_ref;	/* op_id of the pending op it approves, or NULL */
	char	*blob_b64;	/* the blob as received ("" if not a string) */
	uint8_t	*blob;		/* decoded bytes; NULL when bad */
	size_t	 blob_len;
	char	*signature;	/* armored SSHSIG, NULL = unsigned job */
	char	*bad;		/* NULL, or why the entry is refused */
};

struct hub_signed_ops {
	struct hub_signed_op	*ops;
	size_t			 n;
};

struct hub_options {
	const char		*url;		/* hub.url, https:// */
	const char		*token;		/* hub.token, secret (copied) */
	const char		*ca_file;	/* NULL = system roots */
	long			 connect_timeout_ms;	/* 0 = 10000 */
	long			 timeout_ms;		/* 0 = 30000 */
	/* Raised by the signal handler: calls stop within ~100 ms. */
	volatile sig_atomic_t	*abort_flag;
	struct https_multi	*multi;		/* NULL: a private one */
};

struct hub_client;

/* Caller frees *out with hub_client_free() (which wipes the token). */
int	hub_client_new(const struct hub_options *opt, struct hub_client **out,
	    struct err *err);
void	hub_client_free(struct hub_client *c);

/*
 * POST /report with body (len bytes of JSON).  0 with *env filled from
 * the control envelope, or a typed error (see above).
 */
int	hub_post_report(struct hub_client *c, const char *body, size_t len,
	    struct hub_envelope *env, struct err *err);

/*
 * GET /desired with If-None-Match: etag (NULL = none).  0 with *doc_out
 * (caller decrefs; schema checked, nothing else — see hub_desired_check)
 * and *etag_out (heap or NULL, caller frees); HUB_NOT_MODIFIED on 304,
 * HUB_NO_CONTENT on 204 (outputs untouched); or a typed error.
 */
int	hub_get_desired(struct hub_client *c, const char *etag,
	    json_t **doc_out, char **etag_out, struct err *err);

/*
 * GET /signed-ops.  0 with *out filled (caller hub_signed_ops_reset()s
 * it), HUB_NO_CONTENT on 204 (*out empty), or a typed error.  v1.1
 * ("Delivery: at least once"): the hub keeps serving an entry until a
 * report acknowledges its seq (agent.signed_ops_ack_seq).
 */
int	hub_get_signed_ops(struct hub_client *c, struct hub_signed_ops *out,
	    struct err *err);

/*
 * The same three exchanges without blocking (issue 17): submit, let the
 * loop run the client's https multi, then finish once hub_req_done().
 * finish frees the request and answers exactly as the blocking call
 * (which is submit + wait + finish); one request at a time per client.
 */
enum hub_req_kind { HUB_REQ_REPORT, HUB_REQ_DESIRED, HUB_REQ_SIGNED_OPS };

struct hub_req;

int	hub_submit_report(struct hub_client *c, const char *body, size_t len,
	    struct hub_req **out, struct err *err);
int	hub_finish_report(struct hub_client *c, struct hub_req *r,
	    struct hub_envelope *env, struct err *err);
int	hub_submit_desired(struct hub_client *c, const char *etag,
	    struct hub_req **out, struct err *err);
int	hub_finish_desired(struct hub_client *c, struct hub_req *r,
	    json_t **doc_out, char **etag_out, struct err *err);
int	hub_submit_signed_ops(struct hub_client *c, struct hub_req **out,
	    struct err *err);
int	hub_finish_signed_ops(struct hub_client *c, struct hub_req *r,
	    struct hub_signed_ops *out, struct err *err);
int	hub_req_done(const struct hub_req *r);
/* The https multi the client runs on. */
struct https_multi *hub_client_multi(const struct hub_client *c);
enum hub_req_kind hub_req_kind(const struct hub_req *r);
/* Stops and frees; NULL is fine. */
void	hub_req_cancel(struct hub_req *r);

/* Whether the last request's body may have reached the hub. */
enum hub_delivery {
	HUB_DELIVERY_NONE,	/* certainly not taken: never sent (DNS,
				 * connect, TLS) or refused (4xx, 5xx) */
	HUB_DELIVERY_UNKNOWN,	/* sent, answer lost (timeout, reset) */
	HUB_DELIVERY_TAKEN,	/* the hub answered 2xx */
	HUB_DELIVERY__COUNT
};

/* The delivery of the last request made with c (NONE before any). */
enum hub_delivery hub_last_delivery(const struct hub_client *c);

/*
 * Seconds of the Retry-After of the last answer that failed with
 * HUB_E_RETRY_AFTER (capped at HUB_RETRY_AFTER_MAX_S), -1 otherwise.
 */
long	hub_retry_after_s(const struct hub_client *c);

/*
 * Contract parsers, shared by the client, desired_file mode and tests.
 * Failures are ERR_PROTOCOL/ERR_FORMAT with reason HUB_E_PROTOCOL and a
 * message naming the key.
 */
int	hub_envelope_parse(const json_t *doc, struct hub_envelope *out,
	    struct err *err);
int	hub_signed_ops_parse(const json_t *doc, struct hub_signed_ops *out,
	    struct err *err);
void	hub_signed_ops_reset(struct hub_signed_ops *s);

/*
 * Validates a felhom.desired/v1 document: schema, host_id
 * equal to host_id, generation >= stored_generation, guests (vmid
 * 100..999999999 and unique, state running|stopped|absent, spec keys and
 * types of the contract only, provision/restore/rollback shapes) and
 * restore_tests.  Any fault rejects the whole document.  0 with
 * *generation_out set, or ERR_PROTOCOL/ERR_FORMAT (reason
 * HUB_E_PROTOCOL).
 */
int	hub_desired_check(const json_t *doc, const char *host_id,
	    int64_t stored_generation, int64_t *generation_out,
	    struct err *err);

/*
 * Strict base64 (RFC 4648, padding required, no whitespace) into a heap
 * buffer of *len_out bytes (caller frees).  ERR_FORMAT / ERR_NOMEM.
 */
int	hub_b64_decode(const char *in, size_t len, uint8_t **out,
	    size_t *len_out);

#endif
