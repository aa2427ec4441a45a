/*
 * https — the one libcurl wrapper (R-07 TLS trust, R-06/R-21 typed
 * errors and secret hygiene).
 *
 * Every request, single or batched, runs through the client's multi
 * handle: the loop waits at most 100 ms at a time and checks the abort
 * flag between waits, so a SIGTERM stops calls in flight quickly.  The
 * easy handles of the pool are reused (curl_easy_reset keeps the
 * connection cache), so calls keep their connections alive.
 *
 * Trust: the leaf certificate's SHA-256 is taken in an OpenSSL
 * certificate-verify callback installed through CURLOPT_SSL_CTX_FUNCTION.
 * In PIN mode that digest must equal the pin (the chain is not CA-checked,
 * as PVE's own client does with pinned fingerprints); in CA modes the
 * callback records the digest and runs OpenSSL's normal verification; in
 * INSECURE mode it only records.  TLS sessions are resumed (a curl share
 * per client): a resumed session skips the certificate, which was
 * checked when the session was made; a server with a new certificate
 * (a restart) cannot resume and is checked again.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "base/err.h"
#include "base/log.h"
#include "net/https.h"

/*
 * The pin check hooks OpenSSL's verification through the SSL_CTX that
 * libcurl hands over; that needs libcurl built on OpenSSL 3 (Debian's
 * libcurl4-openssl-dev).  With another TLS backend PIN mode is refused
 * and the fingerprint is simply not recorded in the other modes.
 */
#define HTTPS_FP_LEN		(32 * 3)	/* "AA:" x 32, last ':' = NUL */
#define HTTPS_DEFAULT_CONNECT_MS 10000
#define HTTPS_DEFAULT_TIMEOUT_MS 30000
#define HTTPS_DEFAULT_CAP	(4u * 1024 * 1024)
#define HTTPS_POLL_MS		100

static const char *const https_reason_names[HTTPS_R__COUNT] = {
	[HTTPS_R_NONE] = "none",
	[HTTPS_R_DNS] = "dns",
	[HTTPS_R_CONNECT] = "connect",
	[HTTPS_R_TIMEOUT] = "timeout",
	[HTTPS_R_RESET] = "reset",
	[HTTPS_R_TLS] = "tls",
	[HTTPS_R_PIN_MISMATCH] = "tls_pin_mismatch",
	[HTTPS_R_ABORTED] = "aborted",
	[HTTPS_R_OTHER] = "other",
};
_Static_assert(sizeof(https_reason_names) / sizeof(https_reason_names[0]) ==
    HTTPS_R__COUNT, "https_reason_names must name every reason");

/* Process state, set once by https_global_init(). */
static int https_inited;	/* curl_global_init done */
static int https_ctx_ok;	/* OpenSSL backend and libssl hooks present */

struct https_client;
struct https_xfer;

/* One reusable easy handle and the state of the transfer it runs. */
struct https_slot {
	struct https_client	*c;
	CURL			*easy;
	struct curl_slist	*headers;	/* wiped before free */
	struct https_xfer	*x;		/* running it; NULL: free */
	struct https_response	*resp;		/* x's, during a transfer */
	const char		*method, *url;	/* x's, during a transfer */
	size_t			 body_alloc;	/* allocated bytes of body */
	int			 too_large;	/* body over the cap */
	int			 pin_mismatch;	/* presented != pin */
	char			 presented[HTTPS_FP_LEN];
	char			 errbuf[CURL_ERROR_SIZE];
};

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_DONE };

/* One request, from https_submit() to https_xfer_finish(). */
struct https_xfer {
	struct https_client	*c;		/* NULL once the client is gone */
	struct https_xfer	*next, *prev;	/* the client's list */
	struct https_slot	*slot;		/* XFER_RUNNING */
	enum xfer_state		 state;
	enum https_prio		 prio;
	uint64_t		 order;		/* FIFO within a priority */
	struct https_request	 req;		/* strings below, owned */
	char			*method, *url, *auth, *ctype, *accept, *inm;
	void			*body;
	int			 rc;		/* XFER_DONE */
	struct err		 err;
	struct https_response	 resp;
};

struct https_multi {
	CURLM			*multi;
	int			 wake_fd;
	uint64_t		 connects;
};

struct https_client {
	enum https_trust_mode	 trust;
	char			*ca_file;
	char			*pin;		/* normalized "AA:BB:.." */
	unsigned char		 pin_raw[32];
	char			*user_agent;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	size_t			 body_cap;
	volatile sig_atomic_t	*abort_flag;
	struct https_multi	*m;
	struct https_multi	*own;		/* private multi, or NULL */
	CURLSH			*share;		/* TLS sessions */
	size_t			 cap;		/* 0: no cap */
	size_t			 running;
	uint64_t		 order;
	uint64_t		 connects;
	struct https_xfer	*xfers;		/* every live transfer */
	struct https_slot	**slots;
	size_t			 nslots;
	char			 last_fp[HTTPS_FP_LEN];
};

const char *
https_reason_name(int reason)
{
	if (reason < 0 || reason >= HTTPS_R__COUNT)
		return "unknown";
	return https_reason_names[reason];
}

int
https_global_init(struct err *err)
{
	const curl_version_info_data *vi;
	CURLcode cc;

	if (https_inited)
		return 0;
	if ((cc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK)
		return err_set(err, ERR_INTERNAL, "https: curl_global_init: %s",
		    curl_easy_strerror(cc));
	vi = curl_version_info(CURLVERSION_NOW);
	https_ctx_ok = vi != NULL && vi->ssl_version != NULL &&
	    strncmp(vi->ssl_version, "OpenSSL/3", 9) == 0;
	https_inited = 1;
	return 0;
}

static void
fp_format(const unsigned char *md, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[i * 3] = hex[md[i] >> 4];
		out[i * 3 + 1] = hex[md[i] & 0xf];
		out[i * 3 + 2] = i == 31 ? '\0' : ':';
	}
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "AA:BB:..." (32 pairs, any case) or 64 bare hex digits → 32 bytes. */
static int
pin_parse(const char *s, unsigned char *raw)
{
	size_t i, len = strlen(s), step;

	if (len == 32 * 3 - 1)
		step = 3;
	else if (len == 64)
		step = 2;
	else
		return -1;
	for (i = 0; i < 32; i++) {
		int hi = hexval((unsigned char)s[i * step]);
		int lo = hexval((unsigned char)s[i * step + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		if (step == 3 && i < 31 && s[i * step + 2] != ':')
			return -1;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/*
 * OpenSSL certificate-verify callback (replaces the chain check for this
 * connection; arg is the slot that opened it).  R-07.
 */
static int
verify_cb(X509_STORE_CTX *sctx, void *arg)
{
	struct https_slot *s = arg;
	struct https_client *c = s->c;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);

	s->presented[0] = '\0';
	if (leaf != NULL && X509_digest(leaf, EVP_sha256(), md, &mdlen) == 1 &&
	    mdlen == 32) {
		fp_format(md, s->presented);
		memcpy(c->last_fp, s->presented, sizeof(c->last_fp));
	}
	switch (c->trust) {
	case HTTPS_TRUST_PIN:
		/* the pin must match exactly; no CA chain involved. */
		if (s->presented[0] != '\0' &&
		    CRYPTO_memcmp(md, c->pin_raw, 32) == 0)
			return 1;
		s->pin_mismatch = 1;
		X509_STORE_CTX_set_error(sctx,
		    X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	case HTTPS_TRUST_INSECURE:
		return 1;
	default:
		return X509_verify_cert(sctx);
	}
}

static CURLcode
ssl_ctx_cb(CURL *easy, void *sslctx, void *userp)
{
	struct https_slot *s = userp;

	(void) easy;
	SSL_CTX_set_cert_verify_callback(sslctx, verify_cb, s);
	/* curl set VERIFY_NONE for PIN (verifypeer off): make a failed
	 * callback abort the handshake. */
	if (s->c->trust == HTTPS_TRUST_PIN)
		SSL_CTX_set_verify(sslctx, SSL_VERIFY_PEER, NULL);
	return CURLE_OK;
}

static char *
dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

int
https_client_new(const struct https_options *opt, struct https_client **out,
    struct err *err)
{
	struct https_client *c = NULL;
	int rc, fail = 0;

	if ((rc = https_global_init(err)) != 0)
		return rc;
	if (opt->trust < 0 || opt->trust >= HTTPS_TRUST__COUNT)
		return err_set(err, ERR_INVALID, "https: unknown trust mode %d",
		    (int)opt->trust);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "https: out of memory");
		goto out;
	}
	c->trust = opt->trust;
	c->connect_timeout_ms = opt->connect_timeout_ms > 0 ?
	    opt->connect_timeout_ms : HTTPS_DEFAULT_CONNECT_MS;
	c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms :
	    HTTPS_DEFAULT_TIMEOUT_MS;
	c->body_cap = opt->body_cap > 0 ? opt->body_cap : HTTPS_DEFAULT_CAP;
	c->abort_flag = opt->abort_flag;
	c->ca_file = dup_or_null(opt->ca_file, &fail);
	c->user_agent = opt->user_agent != NULL ?
	    dup_or_null(opt->user_agent, &fail) :
	    dup_or_null("felhom-agent/" FELHOM_VERSION, &fail);
	if (fail) {
		rc = err_set(err, ERR_NOMEM, "https: out of memory");
		goto out;
	}
	if (c->trust == HTTPS_TRUST_CA_FILE && c->ca_file == NULL) {
		rc = err_set(err, ERR_INVALID, "https: CA-file trust without "
		    "a CA file");
		goto out;
	}
	if (c->trust == HTTPS_TRUST_PIN) {
		if (opt->pin == NULL || pin_parse(opt->pin, c->pin_raw) != 0) {
			rc = err_set(err, ERR_INVALID, "https: pin: expected "
			    "the SHA-256 fingerprint as 32 hex pairs "
			    "(AA:BB:...)");
			goto out;
		}
		if (!https_ctx_ok) {
			rc = err_set(err, ERR_UNSUPPORTED, "https: certificate "
			    "pinning needs libcurl built with OpenSSL 3");
			goto out;
		}
		if ((c->pin = malloc(HTTPS_FP_LEN)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "https: out of memory");
			goto out;
		}
		fp_format(c->pin_raw, c->pin);
	}
	c->cap = opt->max_in_flight;
	if (opt->multi != NULL)
		c->m = opt->multi;
	else {
		struct https_multi_options mo = { -1 };

		if ((rc = https_multi_new(&mo, &c->own, err)) != 0)
			goto out;
		c->m = c->own;
	}
	/* Issue 15: TLS sessions are resumed, no full handshake per
	 * reconnect.  A resumed session was verified (pin or CA) when it
	 * was made; the share is the client's own, so its trust mode. */
	if ((c->share = curl_share_init()) == NULL ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
		rc = err_set(err, ERR_NOMEM, "https: curl_share_init failed");
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	https_client_free(c);
	return rc;
}

static void
slot_wipe_headers(struct https_slot *s)
{
	struct curl_slist *h;

	/* The Authorization line is a secret. */
	for (h = s->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(s->headers);
	s->headers = NULL;
}

static void xfer_stop(struct https_xfer *x, int code, int reason,
    const char *why);

void
https_client_free(struct https_client *c)
{
	struct https_xfer *x;
	size_t i;

	if (c == NULL)
		return;
	/* Transfers still held by their owners end now and forget us. */
	while ((x = c->xfers) != NULL) {
		if (x->state != XFER_DONE)
			xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
			    "aborted (the client was closed)");
		c->xfers = x->next;
		x->next = x->prev = NULL;
		x->c = NULL;
	}
	for (i = 0; i < c->nslots; i++) {
		struct https_slot *s = c->slots[i];

		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		slot_wipe_headers(s);
	}
	https_multi_free(c->own);
	if (c->share != NULL)
		(void) curl_share_cleanup(c->share);
	/* Slots outlive the connections whose verify callback points at
	 * them (a connection's handshake runs while its transfer does). */
	for (i = 0; i < c->nslots; i++)
		free(c->slots[i]);
	free(c->slots);
	free(c->ca_file);
	free(c->pin);
	free(c->user_agent);
	free(c);
}

const char *
https_last_fingerprint(const struct https_client *c)
{
	return c != NULL ? c->last_fp : "";
}

void
https_response_init(struct https_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
}

void
https_response_reset(struct https_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->content_type);
	free(resp->etag);
	https_response_init(resp);
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct https_slot *s = ud;
	struct https_response *r = s->resp;
	size_t n = size * nmemb, want;
	char *nb;

	if (n > s->c->body_cap || r->body_len > s->c->body_cap - n) {
		s->too_large = 1;
		return 0;	/* aborts the transfer now */
	}
	want = r->body_len + n + 1;
	if (want > s->body_alloc) {
		size_t na = s->body_alloc == 0 ? 4096 : s->body_alloc;

		while (na < want)
			na *= 2;
		if (na > s->c->body_cap + 1)
			na = s->c->body_cap + 1;
		if ((nb = realloc(r->body, na)) == NULL)
			return 0;
		r->body = nb;
		s->body_alloc = na;
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* Copies the header value (trimmed) into a new string. */
static char *
header_value(const char *p, size_t n)
{
	char *v;

	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' ||
	    p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if ((v = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(v, p, n);
	v[n] = '\0';
	return v;
}

/* Retry-After: delta-seconds or an HTTP-date; -1 when unparsable. */
static long
parse_retry_after(const char *v)
{
	const char *p;
	long n = 0;
	time_t t;

	if (*v == '\0')
		return -1;
	for (p = v; *p >= '0' && *p <= '9'; p++) {
		if (n > 100000000L)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (*p == '\0')
		return n;
	if ((t = curl_getdate(v, NULL)) < 0)
		return -1;
	t -= time(NULL);
	return t > 0 ? (long)t : 0;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct https_slot *s = ud;
	struct https_response *r = s->resp;
	size_t n = size * nmemb, i, k;
	const char *colon;
	char *v;

	if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new status line (after 1xx): forget earlier headers. */
		free(r->content_type);
		free(r->etag);
		r->content_type = r->etag = NULL;
		r->retry_after_s = -1;
		r->reason[0] = '\0';
		for (i = 5; i < n && p[i] != ' '; i++)
			;
		i++;			/* the space */
		i += 3;			/* the status code */
		if (i < n && p[i] == ' ')
			i++;
		for (k = 0; i < n && p[i] != '\r' && p[i] != '\n' &&
		    k + 1 < sizeof(r->reason); i++)
			r->reason[k++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] :
			    '?';
		r->reason[k] = '\0';
		return n;
	}
	if ((colon = memchr(p, ':', n)) == NULL)
		return n;
	k = (size_t)(colon - p);
	if (k == 12 && strncasecmp(p, "content-type", k) == 0) {
		if ((v = header_value(colon + 1, n - k - 1)) == NULL)
			return 0;
		free(r->content_type);
		r->content_type = v;
	} else if (k == 4 && strncasecmp(p, "etag", k) == 0) {
		if ((v = header_value(colon + 1, n - k - 1)) == NULL)
			return 0;
		free(r->etag);
		r->etag = v;
	} else if (k == 11 && strncasecmp(p, "retry-after", k) == 0) {
		if ((v = header_value(colon + 1, n - k - 1)) == NULL)
			return 0;
		r->retry_after_s = parse_retry_after(v);
		free(v);
	}
	return n;
}

static int
on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct https_slot *s = ud;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return s->c->abort_flag != NULL && *s->c->abort_flag ? 1 : 0;
}

static int
slot_add_header(struct https_slot *s, const char *name, const char *value)
{
	struct curl_slist *h;
	size_t len = strlen(name) + strlen(value) + 3;
	char *line;

	if ((line = malloc(len)) == NULL)
		return ERR_NOMEM;
	(void) snprintf(line, len, "%s: %s", name, value);
	h = curl_slist_append(s->headers, line);
	explicit_bzero(line, len);
	free(line);
	if (h == NULL)
		return ERR_NOMEM;
	s->headers = h;
	return 0;
}

static int
slot_setup(struct https_slot *s, struct https_xfer *x, struct err *err)
{
	struct https_client *c = s->c;
	const struct https_request *req = &x->req;
	struct curl_slist *h;
	CURL *e = s->easy;
	CURLcode cc = CURLE_OK;
	static const char empty[] = "";
	const void *body = req->body != NULL ? req->body : empty;

	https_response_init(&x->resp);
	curl_easy_reset(e);
	s->x = x;
	s->resp = &x->resp;
	s->method = req->method;
	s->url = req->url;
	s->body_alloc = 0;
	s->too_large = 0;
	s->pin_mismatch = 0;
	s->presented[0] = '\0';
	s->errbuf[0] = '\0';
	slot_wipe_headers(s);
	if (req->method == NULL || req->url == NULL ||
	    strncmp(req->url, "https://", 8) != 0)
		return err_set(err, ERR_INVALID, "https: %s %s: only https:// "
		    "URLs are requested", req->method != NULL ? req->method :
		    "?", req->url != NULL ? req->url : "(null)");
	if ((req->authorization != NULL &&
	    slot_add_header(s, "Authorization", req->authorization) != 0) ||
	    slot_add_header(s, "Accept", req->accept != NULL ? req->accept :
	    "application/json") != 0 ||
	    (req->content_type != NULL &&
	    slot_add_header(s, "Content-Type", req->content_type) != 0) ||
	    (req->if_none_match != NULL &&
	    slot_add_header(s, "If-None-Match", req->if_none_match) != 0) ||
	    (h = curl_slist_append(s->headers, "Expect:")) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	s->headers = h;		/* "Expect:" with no value: never 100-continue */

#define SETOPT(o, v) do {						\
	if (cc == CURLE_OK)						\
		cc = curl_easy_setopt(e, (o), (v));			\
} while (0)
	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_USERAGENT, c->user_agent);
	SETOPT(CURLOPT_HTTPHEADER, s->headers);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, s);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, s);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, s);
	SETOPT(CURLOPT_ERRORBUFFER, s->errbuf);
	SETOPT(CURLOPT_PRIVATE, s);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->body_cap);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_SSL_SESSIONID_CACHE, 1L);
	SETOPT(CURLOPT_SHARE, c->share);
	switch (c->trust) {
	case HTTPS_TRUST_SYSTEM:
		SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
		break;
	case HTTPS_TRUST_CA_FILE:
		SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
		SETOPT(CURLOPT_CAINFO, c->ca_file);
		SETOPT(CURLOPT_CAPATH, (char *)NULL);
		break;
	case HTTPS_TRUST_PIN:
	case HTTPS_TRUST_INSECURE:
	default:
		/* PIN: the verify callback decides. */
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
		break;
	}
	if (https_ctx_ok) {
		SETOPT(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		SETOPT(CURLOPT_SSL_CTX_DATA, s);
	}
	if (strcmp(req->method, "GET") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SETOPT(CURLOPT_POSTFIELDS, body);
	} else {
		if (req->body != NULL || strcmp(req->method, "PUT") == 0) {
			SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)req->body_len);
			SETOPT(CURLOPT_POSTFIELDS, body);
		}
		SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
	}
#undef SETOPT
	if (cc != CURLE_OK)
		return err_set(err, ERR_INTERNAL, "https: %s %s: setting up "
		    "the request: %s", req->method, req->url,
		    curl_easy_strerror(cc));
	return 0;
}

/* Translates the outcome of a finished transfer (CURLcode, once, here). */
static int
slot_finish(struct https_slot *s, CURLcode cc, struct err *err)
{
	struct https_client *c = s->c;
	struct https_response *r = s->resp;
	const char *detail = s->errbuf[0] != '\0' ? s->errbuf :
	    curl_easy_strerror(cc);
	curl_off_t reqsize = 0;
	int rc = 0, reason;
	long status = 0;

	slot_wipe_headers(s);
	if (curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &status) ==
	    CURLE_OK && status > 0) {
		c->connects += (uint64_t)status;
		c->m->connects += (uint64_t)status;
	}
	status = 0;
	if (cc == CURLE_OK) {
		(void) curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE,
		    &status);
		r->status = status;
		if (r->body == NULL && (r->body = calloc(1, 1)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "https: out of memory");
			goto out;
		}
		log_debug("https: %s %s: %ld %s (%zu bytes)", s->method, s->url,
		    status, r->reason, r->body_len);
		return 0;
	}
	if (s->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		rc = err_set(err, ERR_TOO_LARGE, "https: %s %s: response body "
		    "over the limit of %zu bytes", s->method, s->url,
		    c->body_cap);
		goto out;
	}
	if (s->pin_mismatch) {
		rc = err_setr(err, ERR_TLS, HTTPS_R_PIN_MISMATCH, 0,
		    "tls_pin_mismatch: %s: the server presented a certificate "
		    "with SHA-256 fingerprint %s, expected the pinned %s",
		    s->url, s->presented[0] != '\0' ? s->presented :
		    "(none)", c->pin);
		goto out;
	}
	switch (cc) {
	case CURLE_ABORTED_BY_CALLBACK:
		reason = HTTPS_R_ABORTED;
		detail = "aborted (shutting down)";
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		reason = HTTPS_R_DNS;
		break;
	case CURLE_COULDNT_CONNECT:
		reason = HTTPS_R_CONNECT;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		/* Nothing sent yet: a connect-phase timeout, the request
		 * certainly had no effect. */
		(void) curl_easy_getinfo(s->easy, CURLINFO_REQUEST_SIZE,
		    &status);
		reqsize = status;
		reason = reqsize > 0 ? HTTPS_R_TIMEOUT : HTTPS_R_CONNECT;
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		reason = HTTPS_R_RESET;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
		rc = err_setr(err, ERR_TLS, HTTPS_R_TLS, 0, "https: %s %s: "
		    "tls: %s", s->method, s->url, detail);
		goto out;
	default:
		reason = HTTPS_R_OTHER;
		break;
	}
	if (c->abort_flag != NULL && *c->abort_flag) {
		reason = HTTPS_R_ABORTED;
		detail = "aborted (shutting down)";
	}
	rc = err_setr(err, ERR_TRANSPORT, reason, 0, "https: %s %s: %s: %s",
	    s->method, s->url, https_reason_name(reason), detail);
out:
	log_debug("https: %s %s: failed: %s", s->method, s->url,
	    https_reason_name(err != NULL ? err->reason : 0));
	https_response_reset(r);
	return rc;
}

/* ---- the multi -------------------------------------------------------- */

/*
 * Issue 15: the pool keeps its connections.  libcurl's default cache is
 * 4 x the handles added, so it shrinks (closing connections) whenever a
 * fan-out ends; a fixed size large enough for every host's cap does not.
 */
#define HTTPS_MAXCONNECTS	64L

int
https_multi_new(const struct https_multi_options *opt,
    struct https_multi **out, struct err *err)
{
	struct https_multi *m;
	int rc;

	if ((rc = https_global_init(err)) != 0)
		return rc;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	m->wake_fd = opt != NULL ? opt->wake_fd : -1;
	if ((m->multi = curl_multi_init()) == NULL) {
		free(m);
		return err_set(err, ERR_NOMEM, "https: curl_multi_init failed");
	}
	(void) curl_multi_setopt(m->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_NOTHING);
	(void) curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS,
	    HTTPS_MAXCONNECTS);
	*out = m;
	return 0;
}

void
https_multi_free(struct https_multi *m)
{
	if (m == NULL)
		return;
	(void) curl_multi_cleanup(m->multi);
	free(m);
}

void
https_multi_set_wake_fd(struct https_multi *m, int fd)
{
	m->wake_fd = fd;
}

uint64_t
https_multi_connects(const struct https_multi *m)
{
	return m != NULL ? m->connects : 0;
}

struct https_multi *
https_client_multi(const struct https_client *c)
{
	return c->m;
}

uint64_t
https_client_connects(const struct https_client *c)
{
	return c->connects;
}

/* ---- transfers -------------------------------------------------------- */

static struct https_slot *
pool_get(struct https_client *c, struct err *err)
{
	struct https_slot **ns, *s;
	size_t i;

	for (i = 0; i < c->nslots; i++)
		if (c->slots[i]->x == NULL)
			return c->slots[i];
	if ((ns = realloc(c->slots, (c->nslots + 1) * sizeof(*ns))) == NULL) {
		(void) err_set(err, ERR_NOMEM, "https: out of memory");
		return NULL;
	}
	c->slots = ns;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		(void) err_set(err, ERR_NOMEM, "https: out of memory");
		return NULL;
	}
	s->c = c;
	if ((s->easy = curl_easy_init()) == NULL) {
		free(s);
		(void) err_set(err, ERR_NOMEM, "https: curl_easy_init failed");
		return NULL;
	}
	c->slots[c->nslots++] = s;
	return s;
}

static void
wipe_free(char *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static void
xfer_free(struct https_xfer *x)
{
	struct https_client *c = x->c;

	if (c != NULL) {
		if (x->prev != NULL)
			x->prev->next = x->next;
		else
			c->xfers = x->next;
		if (x->next != NULL)
			x->next->prev = x->prev;
	}
	free(x->method);
	free(x->url);
	wipe_free(x->auth);	/* secret */
	free(x->ctype);
	free(x->accept);
	free(x->inm);
	if (x->body != NULL) {
		explicit_bzero(x->body, x->req.body_len);
		free(x->body);
	}
	https_response_reset(&x->resp);
	free(x);
}

/* Releases x's slot (if running) and marks it done with code/reason. */
static void
xfer_stop(struct https_xfer *x, int code, int reason, const char *why)
{
	struct https_client *c = x->c;
	struct https_slot *s = x->slot;

	if (s != NULL) {
		(void) curl_multi_remove_handle(c->m->multi, s->easy);
		slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->slot = NULL;
		c->running--;
	}
	https_response_reset(&x->resp);
	err_init(&x->err);
	x->rc = err_setr(&x->err, code, reason, 0, "https: %s %s: %s",
	    x->req.method, x->req.url, why);
	x->state = XFER_DONE;
}

static int
aborting(const struct https_client *c)
{
	return c->abort_flag != NULL && *c->abort_flag;
}

/* Starts x on a slot; on failure x is done with the reason. */
static void
xfer_start(struct https_client *c, struct https_xfer *x)
{
	struct https_slot *s;
	struct err err;
	CURLMcode mc;

	err_init(&err);
	if ((s = pool_get(c, &err)) == NULL) {
		x->rc = err_copy(&x->err, &err);
		x->state = XFER_DONE;
		return;
	}
	if ((x->rc = slot_setup(s, x, &x->err)) != 0) {
		slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->state = XFER_DONE;
		return;
	}
	if ((mc = curl_multi_add_handle(c->m->multi, s->easy)) != CURLM_OK) {
		slot_wipe_headers(s);
		s->x = NULL;
		s->resp = NULL;
		x->rc = err_set(&x->err, ERR_INTERNAL, "https: "
		    "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		x->state = XFER_DONE;
		return;
	}
	x->slot = s;
	x->state = XFER_RUNNING;
	c->running++;
}

/*
 * Starts queued transfers while the cap allows: HIGH first, each
 * priority in order; a LOW one never takes the last free place.
 */
static void
client_pump(struct https_client *c)
{
	struct https_xfer *x, *best;

	for (;;) {
		best = NULL;
		for (x = c->xfers; x != NULL; x = x->next) {
			if (x->state != XFER_QUEUED)
				continue;
			if (aborting(c)) {
				xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
				    "aborted (shutting down)");
				continue;
			}
			if (best == NULL || x->prio < best->prio ||
			    (x->prio == best->prio && x->order < best->order))
				best = x;
		}
		if (best == NULL)
			return;
		if (c->cap > 0 && (c->running >= c->cap ||
		    (best->prio == HTTPS_PRIO_LOW && c->cap > 1 &&
		    c->running + 1 >= c->cap)))
			return;
		xfer_start(c, best);
	}
}

static char *
dup_opt(const char *s, int *fail)
{
	return dup_or_null(s, fail);
}

int
https_submit(struct https_client *c, const struct https_request *req,
    enum https_prio prio, struct https_xfer **out, struct err *err)
{
	struct https_xfer *x;
	int fail = 0;

	if (req->method == NULL || req->url == NULL ||
	    strncmp(req->url, "https://", 8) != 0)
		return err_set(err, ERR_INVALID, "https: %s %s: only https:// "
		    "URLs are requested", req->method != NULL ? req->method :
		    "?", req->url != NULL ? req->url : "(null)");
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	x->method = dup_opt(req->method, &fail);
	x->url = dup_opt(req->url, &fail);
	x->auth = dup_opt(req->authorization, &fail);
	x->ctype = dup_opt(req->content_type, &fail);
	x->accept = dup_opt(req->accept, &fail);
	x->inm = dup_opt(req->if_none_match, &fail);
	if (!fail && req->body != NULL) {
		if ((x->body = malloc(req->body_len + 1)) == NULL)
			fail = 1;
		else
			memcpy(x->body, req->body, req->body_len);
	}
	x->req.method = x->method;
	x->req.url = x->url;
	x->req.authorization = x->auth;
	x->req.content_type = x->ctype;
	x->req.accept = x->accept;
	x->req.if_none_match = x->inm;
	x->req.body = x->body;
	x->req.body_len = req->body_len;
	https_response_init(&x->resp);
	err_init(&x->err);
	if (fail) {
		xfer_free(x);
		return err_set(err, ERR_NOMEM, "https: out of memory");
	}
	x->c = c;
	x->prio = prio < 0 || prio >= HTTPS_PRIO__COUNT ? HTTPS_PRIO_HIGH :
	    prio;
	x->order = c->order++;
	x->state = XFER_QUEUED;
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	client_pump(c);
	*out = x;
	return 0;
}

int
https_xfer_done(const struct https_xfer *x)
{
	return x->state == XFER_DONE;
}

int
https_xfer_finish(struct https_xfer *x, struct https_response *resp,
    struct err *err)
{
	struct https_client *c = x->c;
	int rc;

	if (x->state != XFER_DONE)
		xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED, "aborted "
		    "(cancelled)");
	rc = x->rc;
	if (rc != 0)
		(void) err_copy(err, &x->err);
	if (resp != NULL) {
		*resp = x->resp;
		https_response_init(&x->resp);
	}
	xfer_free(x);
	if (c != NULL)
		client_pump(c);
	return rc;
}

void
https_xfer_cancel(struct https_xfer *x)
{
	if (x != NULL)
		(void) https_xfer_finish(x, NULL, NULL);
}

/* curl_multi_perform and the completions; the number completed. */
static int
multi_drive(struct https_multi *m, struct err *err)
{
	struct https_slot *s;
	struct https_xfer *x;
	struct https_client *c;
	CURLMcode mc;
	CURLMsg *msg;
	int running, left, n = 0;

	if ((mc = curl_multi_perform(m->multi, &running)) != CURLM_OK)
		return err_set(err, ERR_INTERNAL, "https: curl multi: %s",
		    curl_multi_strerror(mc));
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		(void) curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &priv);
		s = (struct https_slot *)(void *)priv;
		x = s->x;
		c = s->c;
		(void) curl_multi_remove_handle(m->multi, msg->easy_handle);
		c->running--;
		if (x != NULL) {
			x->rc = slot_finish(s, msg->data.result, &x->err);
			x->slot = NULL;
			x->state = XFER_DONE;
		}
		s->x = NULL;
		s->resp = NULL;
		n++;
		client_pump(c);
	}
	return n;
}

int
https_multi_run(struct https_multi *m, long timeout_ms, struct err *err)
{
	struct curl_waitfd wfd;
	CURLMcode mc;
	char buf[64];
	int n;

	if ((n = multi_drive(m, err)) != 0 || timeout_ms <= 0)
		return n;
	memset(&wfd, 0, sizeof(wfd));
	wfd.fd = m->wake_fd;
	wfd.events = CURL_WAIT_POLLIN;
	if ((mc = curl_multi_poll(m->multi, m->wake_fd >= 0 ? &wfd : NULL,
	    m->wake_fd >= 0 ? 1 : 0, timeout_ms > INT32_MAX ? INT32_MAX :
	    (int)timeout_ms, NULL)) != CURLM_OK)
		return err_set(err, ERR_INTERNAL, "https: curl multi: %s",
		    curl_multi_strerror(mc));
	/* One read: it cannot block after POLLIN, whatever the fd's mode. */
	if (m->wake_fd >= 0 && (wfd.revents & CURL_WAIT_POLLIN) != 0)
		if (read(m->wake_fd, buf, sizeof(buf)) < 0)
			buf[0] = '\0';	/* EAGAIN: someone drained it */
	return multi_drive(m, err);
}

/* ---- blocking forms --------------------------------------------------- */

/*
 * Waits for x by driving the whole multi (other transfers move too);
 * the abort flag ends the wait within HTTPS_POLL_MS, or at once through
 * the wake fd.
 */
static void
xfer_wait(struct https_client *c, struct https_xfer *x)
{
	struct err err;

	while (x->state != XFER_DONE) {
		if (aborting(c)) {
			xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
			    "aborted (shutting down)");
			return;
		}
		err_init(&err);
		if (https_multi_run(c->m, HTTPS_POLL_MS, &err) < 0) {
			xfer_stop(x, ERR_INTERNAL, 0, err_msg(&err));
			return;
		}
	}
}

void
https_xfer_wait(struct https_xfer *x)
{
	if (x->c != NULL)
		xfer_wait(x->c, x);
}

int
https_do_many(struct https_client *c, const struct https_request *reqs,
    size_t n, size_t max_in_flight, struct https_response *resps, int *rcs,
    struct err *errs, struct err *err)
{
	struct https_xfer **xs;
	size_t next = 0, active = 0, i;
	struct err e;
	int rc;

	if (n == 0)
		return 0;
	if (max_in_flight == 0)
		max_in_flight = 1;
	if ((xs = calloc(n, sizeof(*xs))) == NULL)
		return err_set(err, ERR_NOMEM, "https: out of memory");
	for (i = 0; i < n; i++)
		https_response_init(&resps[i]);
	for (;;) {
		while (active < max_in_flight && next < n) {
			if (aborting(c)) {
				rcs[next] = err_setr(&errs[next],
				    ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
				    "https: %s %s: aborted (shutting down)",
				    reqs[next].method, reqs[next].url);
				next++;
				continue;
			}
			if ((rcs[next] = https_submit(c, &reqs[next],
			    HTTPS_PRIO_HIGH, &xs[next], &errs[next])) == 0)
				active++;
			next++;
		}
		for (i = 0; i < next; i++) {
			if (xs[i] == NULL || !https_xfer_done(xs[i]))
				continue;
			rcs[i] = https_xfer_finish(xs[i], &resps[i], &errs[i]);
			xs[i] = NULL;
			active--;
		}
		if (active == 0 && next == n)
			break;
		if (aborting(c)) {
			for (i = 0; i < next; i++)
				if (xs[i] != NULL)
					xfer_stop(xs[i], ERR_TRANSPORT,
					    HTTPS_R_ABORTED,
					    "aborted (shutting down)");
			continue;
		}
		err_init(&e);
		if ((rc = https_multi_run(c->m, HTTPS_POLL_MS, &e)) < 0) {
			for (i = 0; i < next; i++)
				if (xs[i] != NULL)
					xfer_stop(xs[i], ERR_INTERNAL, 0,
					    err_msg(&e));
			for (i = next; i < n; i++)
				rcs[i] = err_set(&errs[i], ERR_INTERNAL,
				    "https: %s %s: %s", reqs[i].method,
				    reqs[i].url, err_msg(&e));
			next = n;
			for (i = 0; i < n; i++)
				if (xs[i] != NULL) {
					rcs[i] = https_xfer_finish(xs[i],
					    &resps[i], &errs[i]);
					xs[i] = NULL;
				}
			free(xs);
			return err_copy(err, &e);
		}
	}
	free(xs);
	return 0;
}

int
https_do(struct https_client *c, const struct https_request *req,
    struct https_response *resp, struct err *err)
{
	struct https_xfer *x = NULL;
	int rc;

	https_response_init(resp);
	if (aborting(c))
		return err_setr(err, ERR_TRANSPORT, HTTPS_R_ABORTED, 0,
		    "https: %s %s: aborted (shutting down)", req->method,
		    req->url);
	if ((rc = https_submit(c, req, HTTPS_PRIO_HIGH, &x, err)) != 0)
		return rc;
	xfer_wait(c, x);
	return https_xfer_finish(x, resp, err);
}
