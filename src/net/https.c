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
#include "net/https_int.h"

/*
 * The pin check hooks OpenSSL's verification through the SSL_CTX that
 * libcurl hands over; that needs libcurl built on OpenSSL 3 (Debian's
 * libcurl4-openssl-dev).  With another TLS backend PIN mode is refused
 * and the fingerprint is simply not recorded in the other modes.
 */
#define HTTPS_DEFAULT_CONNECT_MS 10000
#define HTTPS_DEFAULT_TIMEOUT_MS 30000
#define HTTPS_DEFAULT_CAP	(4u * 1024 * 1024)

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
	/* issue 15: an idle kept connection gives back its 2 x ~17 KiB
	 * record buffers (allocated again on its next use). */
	(void) SSL_CTX_set_mode(sslctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_cert_verify_callback(sslctx, verify_cb, s);
	/* curl set VERIFY_NONE for PIN (verifypeer off): make a failed
	 * callback abort the handshake. */
	if (s->c->trust == HTTPS_TRUST_PIN)
		SSL_CTX_set_verify(sslctx, SSL_VERIFY_PEER, NULL);
	return CURLE_OK;
}

char *
https_dup_or_null(const char *s, int *fail)
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
	c->ca_file = https_dup_or_null(opt->ca_file, &fail);
	c->user_agent = opt->user_agent != NULL ?
	    https_dup_or_null(opt->user_agent, &fail) :
	    https_dup_or_null("felhom-agent/" FELHOM_VERSION, &fail);
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
	c->mnext = c->m->clients;
	if (c->mnext != NULL)
		c->mnext->mprev = c;
	c->m->clients = c;
	*out = c;
	c = NULL;
	rc = 0;
out:
	https_client_free(c);
	return rc;
}

void
https_slot_wipe_headers(struct https_slot *s)
{
	struct curl_slist *h;

	/* The Authorization line is a secret. */
	for (h = s->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(s->headers);
	s->headers = NULL;
}

void
https_client_free(struct https_client *c)
{
	struct https_xfer *x;
	size_t i;

	if (c == NULL)
		return;
	if (c->mprev != NULL)
		c->mprev->mnext = c->mnext;
	else if (c->m != NULL && c->m->clients == c)
		c->m->clients = c->mnext;
	if (c->mnext != NULL)
		c->mnext->mprev = c->mprev;
	/* Transfers still held by their owners end now and forget us. */
	while ((x = c->xfers) != NULL) {
		if (x->state != XFER_DONE)
			https_xfer_stop(x, ERR_TRANSPORT, HTTPS_R_ABORTED,
			    "aborted (the client was closed)");
		c->xfers = x->next;
		x->next = x->prev = NULL;
		x->c = NULL;
	}
	for (i = 0; i < c->nslots; i++) {
		struct https_slot *s = c->slots[i];

		curl_easy_cleanup(s->easy);
		s->easy = NULL;
		https_slot_wipe_headers(s);
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

int
https_slot_setup(struct https_slot *s, struct https_xfer *x, struct err *err)
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
	https_slot_wipe_headers(s);
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
int
https_slot_finish(struct https_slot *s, CURLcode cc, struct err *err)
{
	struct https_client *c = s->c;
	struct https_response *r = s->resp;
	const char *detail = s->errbuf[0] != '\0' ? s->errbuf :
	    curl_easy_strerror(cc);
	curl_off_t reqsize = 0;
	int rc = 0, reason;
	long status = 0;

	https_slot_wipe_headers(s);
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

