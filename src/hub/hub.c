/*
 * hub — the hub client: requests, status mapping, envelope and
 * signed-ops parsing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "hub/hub.h"
#include "net/https.h"

#define HUB_SIGNED_OPS_MAX	1000	/* entries per answer */
#define HUB_BLOB_MAX		(64u * 1024u)	/* decoded op blob */
#define HUB_SIGNATURE_MAX	(16u * 1024u)	/* armored SSHSIG */
#define HUB_OP_REF_MAX		64

struct hub_client {
	struct https_client	*https;
	char			*base;		/* url without trailing '/' */
	char			*auth;		/* "Bearer <token>", secret */
	long			 retry_after_s;	/* of the last failure, -1 */
	enum hub_delivery	 delivery;	/* of the last request */
};

static const char *const hub_error_names[HUB_E__COUNT] = {
	[HUB_E_NONE] = "none",
	[HUB_E_AUTH] = "auth",
	[HUB_E_HTTP] = "http",
	[HUB_E_RETRY_AFTER] = "retry_after",
	[HUB_E_PROTOCOL] = "protocol",
	[HUB_E_TRANSPORT] = "transport",
	[HUB_E_ABORTED] = "aborted",
};
_Static_assert(sizeof(hub_error_names) / sizeof(hub_error_names[0]) ==
    HUB_E__COUNT, "hub_error_names");

const char *
hub_error_name(int reason)
{
	if (reason < 0 || reason >= HUB_E__COUNT)
		return "unknown";
	return hub_error_names[reason];
}

/* Marks an error already set by a parser as a protocol fault. */
static int
protocol(struct err *err, int rc)
{
	if (err != NULL && err->code != 0 && err->reason == 0)
		err->reason = HUB_E_PROTOCOL;
	return rc;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int
hub_client_new(const struct hub_options *opt, struct hub_client **out,
    struct err *err)
{
	struct https_options ho;
	struct hub_client *c = NULL;
	size_t n;
	int rc;

	if (opt->url == NULL || strncmp(opt->url, "https://", 8) != 0)
		return err_set(err, ERR_CONFIG, "hub.url: an https:// URL is "
		    "required");
	if (opt->token == NULL || opt->token[0] == '\0')
		return err_set(err, ERR_CONFIG, "hub.token: required");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	c->retry_after_s = -1;
	if ((c->base = strdup(opt->url)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	n = strlen(c->base);
	while (n > 8 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	n = strlen("Bearer ") + strlen(opt->token) + 1;
	if ((c->auth = malloc(n)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	(void) snprintf(c->auth, n, "Bearer %s", opt->token);
	memset(&ho, 0, sizeof(ho));
	ho.trust = opt->ca_file != NULL ? HTTPS_TRUST_CA_FILE :
	    HTTPS_TRUST_SYSTEM;
	ho.ca_file = opt->ca_file;
	ho.connect_timeout_ms = opt->connect_timeout_ms;
	ho.timeout_ms = opt->timeout_ms;
	ho.body_cap = HUB_BODY_CAP;
	ho.user_agent = "felhom-agent/" FELHOM_VERSION;
	ho.abort_flag = opt->abort_flag;
	ho.multi = opt->multi;
	if ((rc = https_client_new(&ho, &c->https, err)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	hub_client_free(c);
	return rc;
}

void
hub_client_free(struct hub_client *c)
{
	if (c == NULL)
		return;
	https_client_free(c->https);
	free(c->base);
	wipe_free(c->auth);
	free(c);
}

enum hub_delivery
hub_last_delivery(const struct hub_client *c)
{
	return c->delivery;
}

long
hub_retry_after_s(const struct hub_client *c)
{
	return c->retry_after_s;
}

/* application/json, parameters (charset) allowed. */
static int
json_content_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * The hub's message of an error answer: its JSON "message" when there is
 * one, else the raw body; first HUB_MESSAGE_MAX bytes, escaped.
 */
static void
hub_message(const struct https_response *resp, char *out, size_t n)
{
	const char *s = resp->body != NULL ? resp->body : "";
	size_t len = resp->body_len;
	json_t *doc = NULL, *m;

	if (len > 0 && len <= HUB_BODY_CAP && json_content_type(
	    resp->content_type) && (doc = json_loadb(resp->body, len, 0,
	    NULL)) != NULL && json_is_string(m = json_object_get(doc,
	    "message"))) {
		s = json_string_value(m);
		len = json_string_length(m);
	}
	if (len > HUB_MESSAGE_MAX)
		len = HUB_MESSAGE_MAX;
	if (len == 0) {
		s = resp->reason;
		len = strlen(s);
	}
	err_escape(out, n, s, len);
	json_decref(doc);
}

/* One request in flight (the hub client runs one at a time). */
struct hub_req {
	struct https_xfer	*x;
	enum hub_req_kind	 kind;
	const char		*method, *path;	/* static strings */
};

/* Submits METHOD base+path. */
static int
hub_submit(struct hub_client *c, enum hub_req_kind kind, const char *method,
    const char *path, const char *body, size_t len, const char *etag,
    struct hub_req **out, struct err *err)
{
	struct https_request req;
	struct hub_req *r;
	char url[2048];
	int rc;

	c->retry_after_s = -1;
	c->delivery = HUB_DELIVERY_NONE;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >=
	    sizeof(url))
		return err_set(err, ERR_CONFIG, "hub.url: too long");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	r->kind = kind;
	r->method = method;
	r->path = path;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.authorization = c->auth;
	req.accept = "application/json";
	req.if_none_match = etag;
	if (body != NULL) {
		req.content_type = "application/json";
		req.body = body;
		req.body_len = len;
	}
	if ((rc = https_submit(c->https, &req, HTTPS_PRIO_HIGH, &r->x,
	    err)) != 0) {
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/*
 * The answer of r (freed) mapped: 0 with *resp filled for a 200, 204 or
 * 304, else a typed error.
 */
static int
hub_answer(struct hub_client *c, struct hub_req *r,
    struct https_response *resp, struct err *err)
{
	const char *method = r->method, *path = r->path;
	struct err herr;
	char msg[HUB_MESSAGE_MAX * 4 + 1];
	long st, ra;
	int rc, reason;

	err_init(&herr);
	rc = https_xfer_finish(r->x, resp, &herr);
	free(r);
	if (rc != 0) {
		/* Before the request went out, the hub cannot have it. */
		if (rc != ERR_TOO_LARGE && (herr.reason == HTTPS_R_DNS ||
		    herr.reason == HTTPS_R_CONNECT ||
		    herr.reason == HTTPS_R_TLS ||
		    herr.reason == HTTPS_R_PIN_MISMATCH))
			c->delivery = HUB_DELIVERY_NONE;
		else
			c->delivery = HUB_DELIVERY_UNKNOWN;
		if (rc == ERR_TOO_LARGE)
			reason = HUB_E_PROTOCOL;
		else if (herr.reason == HTTPS_R_ABORTED)
			reason = HUB_E_ABORTED;
		else
			reason = HUB_E_TRANSPORT;
		return err_setr(err, rc, reason, 0, "%s %s: %s", method, path,
		    err_msg(&herr));
	}
	st = resp->status;
	c->delivery = st >= 200 && st <= 299 ? HUB_DELIVERY_TAKEN :
	    st >= 400 ? HUB_DELIVERY_NONE : HUB_DELIVERY_UNKNOWN;
	if (st == 200 || st == 204 || st == 304)
		return 0;
	hub_message(resp, msg, sizeof(msg));
	if (st == 401 || st == 403)
		return err_setr(err, st == 401 ? ERR_AUTH : ERR_PERMISSION,
		    HUB_E_AUTH, st, "%s %s: hub refused the token (HTTP %ld): "
		    "%s", method, path, st, msg);
	if ((st == 429 || st == 503) && resp->retry_after_s >= 0) {
		ra = resp->retry_after_s;
		if (ra > HUB_RETRY_AFTER_MAX_S)
			ra = HUB_RETRY_AFTER_MAX_S;
		c->retry_after_s = ra;
		return err_setr(err, ERR_HTTP, HUB_E_RETRY_AFTER, st,
		    "%s %s: HTTP %ld, retry after %ld s: %s", method, path,
		    st, ra, msg);
	}
	if (st >= 400 && st <= 599)
		return err_setr(err, ERR_HTTP, HUB_E_HTTP, st,
		    "%s %s: HTTP %ld: %s", method, path, st, msg);
	return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, st,
	    "%s %s: unexpected HTTP status %ld", method, path, st);
}

struct https_multi *
hub_client_multi(const struct hub_client *c)
{
	return https_client_multi(c->https);
}

int
hub_req_done(const struct hub_req *r)
{
	return https_xfer_done(r->x);
}

void
hub_req_cancel(struct hub_req *r)
{
	if (r == NULL)
		return;
	https_xfer_cancel(r->x);
	free(r);
}

enum hub_req_kind
hub_req_kind(const struct hub_req *r)
{
	return r->kind;
}

/* Checks a 200 answer: content type, JSON, schema.  *out: the document. */
static int
hub_json(const struct https_response *resp, const char *what,
    const char *schema, json_t **out, struct err *err)
{
	char ct[128];
	const char *s;
	json_t *doc = NULL;
	int rc;

	if (!json_content_type(resp->content_type)) {
		err_escape(ct, sizeof(ct), resp->content_type != NULL ?
		    resp->content_type : "(none)", resp->content_type != NULL ?
		    strlen(resp->content_type) : 6);
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 200,
		    "%s: content type '%s', expected application/json", what,
		    ct);
	}
	if ((rc = jsonx_parse(resp->body, resp->body_len, HUB_BODY_CAP,
	    JSONX_DUPLICATES, what, &doc, err)) != 0)
		return protocol(err, rc);
	if (!json_is_object(doc)) {
		rc = err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 200,
		    "%s: expected a JSON object", what);
		goto out;
	}
	s = json_string_value(json_object_get(doc, "schema"));
	if (s == NULL || strcmp(s, schema) != 0) {
		err_escape(ct, sizeof(ct), s != NULL ? s : "(none)",
		    s != NULL ? strlen(s) : 6);
		rc = err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 200,
		    "%s: schema '%s', expected %s", what, ct, schema);
		goto out;
	}
	*out = doc;
	doc = NULL;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
hub_envelope_parse(const json_t *doc, struct hub_envelope *out,
    struct err *err)
{
	struct hub_envelope env;
	const char *schema;
	int rc, sig = 0, present;

	memset(&env, 0, sizeof(env));
	if ((rc = jsonx_req_string(doc, "envelope", "schema", &schema,
	    err)) != 0)
		return protocol(err, rc);
	if (strcmp(schema, HUB_SCHEMA_CONTROL) != 0)
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "envelope.schema: '%.64s', expected %s", schema,
		    HUB_SCHEMA_CONTROL);
	/* Unknown keys are ignored: the hub may add some (contract). */
	if ((rc = jsonx_req_int(doc, "envelope", "poll_interval_seconds",
	    INT64_MIN, INT64_MAX, &env.poll_interval_s, err)) != 0 ||
	    (rc = jsonx_opt_bool(doc, "envelope", "blocked", &env.blocked,
	    &env.has_blocked, err)) != 0 ||
	    (rc = jsonx_opt_int(doc, "envelope", "desired_generation", 0,
	    INT64_MAX, &env.desired_generation, &env.has_desired_generation,
	    err)) != 0 ||
	    (rc = jsonx_opt_bool(doc, "envelope", "has_signed_ops", &sig,
	    &present, err)) != 0 ||
	    (rc = jsonx_opt_int(doc, "envelope", "audit_ack_seq", 0,
	    INT64_MAX, &env.audit_ack_seq, &env.has_audit_ack_seq, err)) != 0)
		return protocol(err, rc);
	env.has_signed_ops = present && sig;
	*out = env;
	return 0;
}

int
hub_submit_report(struct hub_client *c, const char *body, size_t len,
    struct hub_req **out, struct err *err)
{
	return hub_submit(c, HUB_REQ_REPORT, "POST", "/report", body, len,
	    NULL, out, err);
}

int
hub_finish_report(struct hub_client *c, struct hub_req *r,
    struct hub_envelope *env, struct err *err)
{
	struct https_response resp;
	json_t *doc = NULL;
	int rc;

	https_response_init(&resp);
	if ((rc = hub_answer(c, r, &resp, err)) != 0)
		goto out;
	if (resp.status != 200) {
		rc = err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, resp.status,
		    "POST /report: HTTP %ld without the control envelope",
		    resp.status);
		goto out;
	}
	if ((rc = hub_json(&resp, "POST /report", HUB_SCHEMA_CONTROL, &doc,
	    err)) != 0 || (rc = hub_envelope_parse(doc, env, err)) != 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	https_response_reset(&resp);
	return rc;
}

int
hub_post_report(struct hub_client *c, const char *body, size_t len,
    struct hub_envelope *env, struct err *err)
{
	struct hub_req *r = NULL;
	int rc;

	if ((rc = hub_submit_report(c, body, len, &r, err)) != 0)
		return rc;
	https_xfer_wait(r->x);
	return hub_finish_report(c, r, env, err);
}

int
hub_submit_desired(struct hub_client *c, const char *etag,
    struct hub_req **out, struct err *err)
{
	return hub_submit(c, HUB_REQ_DESIRED, "GET", "/desired", NULL, 0, etag,
	    out, err);
}

int
hub_finish_desired(struct hub_client *c, struct hub_req *r, json_t **doc_out,
    char **etag_out, struct err *err)
{
	struct https_response resp;
	json_t *doc = NULL;
	char *tag = NULL;
	int rc;

	https_response_init(&resp);
	if ((rc = hub_answer(c, r, &resp, err)) != 0)
		goto out;
	if (resp.status == 304) {
		rc = HUB_NOT_MODIFIED;
		goto out;
	}
	if (resp.status == 204) {
		rc = HUB_NO_CONTENT;
		goto out;
	}
	if ((rc = hub_json(&resp, "GET /desired", HUB_SCHEMA_DESIRED, &doc,
	    err)) != 0)
		goto out;
	if (resp.etag != NULL && (tag = strdup(resp.etag)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	*doc_out = doc;
	doc = NULL;
	*etag_out = tag;
	rc = 0;
out:
	json_decref(doc);
	https_response_reset(&resp);
	return rc;
}

int
hub_get_desired(struct hub_client *c, const char *etag, json_t **doc_out,
    char **etag_out, struct err *err)
{
	struct hub_req *r = NULL;
	int rc;

	if ((rc = hub_submit_desired(c, etag, &r, err)) != 0)
		return rc;
	https_xfer_wait(r->x);
	return hub_finish_desired(c, r, doc_out, etag_out, err);
}

static int
b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int
hub_b64_decode(const char *in, size_t len, uint8_t **out, size_t *len_out)
{
	uint8_t *buf;
	size_t i, o = 0, pad = 0;
	int v[4], k;

	if (len == 0 || len % 4 != 0)
		return ERR_FORMAT;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	if ((buf = malloc(len / 4 * 3)) == NULL)
		return ERR_NOMEM;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + (size_t)k >= len - pad) {
				v[k] = 0;
				continue;
			}
			if ((v[k] = b64val((unsigned char)in[i + (size_t)k])) <
			    0)
				goto bad;
		}
		buf[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (i + 4 < len || pad < 2)
			buf[o++] = (uint8_t)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (i + 4 < len || pad < 1)
			buf[o++] = (uint8_t)((v[2] & 0x3) << 6 | v[3]);
	}
	/* Canonical form: the bits dropped by the padding must be zero. */
	if ((pad == 2 && (v[1] & 0xf) != 0) || (pad == 1 && (v[2] & 0x3) != 0))
		goto bad;
	*out = buf;
	*len_out = o;
	return 0;
bad:
	free(buf);
	return ERR_FORMAT;
}

static int
dup_or_null(const char *s, char **out)
{
	if (s == NULL) {
		*out = NULL;
		return 0;
	}
	return (*out = strdup(s)) != NULL ? 0 : ERR_NOMEM;
}

/* One entry; a shape fault is recorded in e->bad (not an error). */
static int
signed_op_parse(const json_t *v, size_t i, struct hub_signed_op *e)
{
	char why[160];
	const json_t *ref, *blob, *sig, *seq;
	const char *b64 = "";
	int rc;

	why[0] = '\0';
	seq = json_object_get(v, "seq");
	ref = json_object_get(v, "op_id");
	blob = json_object_get(v, "blob_b64");
	sig = json_object_get(v, "signature");
	if (json_is_string(blob))
		b64 = json_string_value(blob);
	if ((e->blob_b64 = strdup(b64)) == NULL)
		return ERR_NOMEM;
	if (!json_is_object(v))
		(void) snprintf(why, sizeof(why), "ops[%zu]: expected object",
		    i);
	else if (seq != NULL && (!json_is_integer(seq) ||
	    json_integer_value(seq) < 1))
		/* v1.1: a positive integer; absent from a v1 hub. */
		(void) snprintf(why, sizeof(why), "ops[%zu].seq: expected a "
		    "positive integer", i);
	else if (ref != NULL && !json_is_null(ref) && (!json_is_string(ref) ||
	    json_string_length(ref) == 0 || json_string_length(ref) >
	    HUB_OP_REF_MAX))
		(void) snprintf(why, sizeof(why), "ops[%zu].op_id: expected "
		    "null or an op id", i);
	else if (!json_is_string(blob))
		(void) snprintf(why, sizeof(why), "ops[%zu].blob_b64: expected "
		    "string", i);
	else if (sig != NULL && !json_is_null(sig) && (!json_is_string(sig) ||
	    json_string_length(sig) > HUB_SIGNATURE_MAX))
		(void) snprintf(why, sizeof(why), "ops[%zu].signature: "
		    "expected null or an armored signature", i);
	else if (json_string_length(blob) > HUB_BLOB_MAX / 3 * 4 + 4)
		(void) snprintf(why, sizeof(why), "ops[%zu].blob_b64: over "
		    "%u bytes", i, HUB_BLOB_MAX);
	else if ((rc = hub_b64_decode(b64, json_string_length(blob), &e->blob,
	    &e->blob_len)) != 0) {
		if (rc == ERR_NOMEM)
			return rc;
		(void) snprintf(why, sizeof(why), "ops[%zu].blob_b64: not "
		    "valid base64", i);
	}
	/* A bad entry keeps a good seq: acknowledged, never re-audited. */
	if (json_is_integer(seq) && json_integer_value(seq) >= 1)
		e->seq = (int64_t)json_integer_value(seq);
	if (why[0] != '\0') {
		free(e->blob);
		e->blob = NULL;
		e->blob_len = 0;
		return (e->bad = strdup(why)) != NULL ? 0 : ERR_NOMEM;
	}
	if (dup_or_null(json_string_value(ref), &e->op_ref) != 0 ||
	    dup_or_null(json_string_value(sig), &e->signature) != 0)
		return ERR_NOMEM;
	return 0;
}

int
hub_signed_ops_parse(const json_t *doc, struct hub_signed_ops *out,
    struct err *err)
{
	struct hub_signed_ops s = { NULL, 0 };
	const char *schema;
	json_t *ops;
	size_t i, n;
	int rc;

	if ((rc = jsonx_req_string(doc, "signed-ops", "schema", &schema,
	    err)) != 0)
		return protocol(err, rc);
	if (strcmp(schema, HUB_SCHEMA_SIGNED_OPS) != 0)
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "signed-ops.schema: '%.64s', expected %s", schema,
		    HUB_SCHEMA_SIGNED_OPS);
	if ((rc = jsonx_req_array(doc, "signed-ops", "ops", &ops, err)) != 0)
		return protocol(err, rc);
	n = json_array_size(ops);
	if (n > HUB_SIGNED_OPS_MAX)
		return err_setr(err, ERR_TOO_LARGE, HUB_E_PROTOCOL, 0,
		    "signed-ops.ops: %zu entries, over %d", n,
		    HUB_SIGNED_OPS_MAX);
	if (n > 0 && (s.ops = calloc(n, sizeof(*s.ops))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		s.n = i + 1;
		if ((rc = signed_op_parse(json_array_get(ops, i), i,
		    &s.ops[i])) != 0) {
			rc = err_set(err, rc, "out of memory");
			goto out;
		}
	}
	*out = s;
	s.ops = NULL;
	s.n = 0;
	rc = 0;
out:
	hub_signed_ops_reset(&s);
	return rc;
}

void
hub_signed_ops_reset(struct hub_signed_ops *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->ops[i].op_ref);
		free(s->ops[i].blob_b64);
		free(s->ops[i].blob);
		free(s->ops[i].signature);
		free(s->ops[i].bad);
	}
	free(s->ops);
	s->ops = NULL;
	s->n = 0;
}

int
hub_submit_signed_ops(struct hub_client *c, struct hub_req **out,
    struct err *err)
{
	return hub_submit(c, HUB_REQ_SIGNED_OPS, "GET", "/signed-ops", NULL, 0,
	    NULL, out, err);
}

int
hub_finish_signed_ops(struct hub_client *c, struct hub_req *r,
    struct hub_signed_ops *out, struct err *err)
{
	struct https_response resp;
	json_t *doc = NULL;
	int rc;

	out->ops = NULL;
	out->n = 0;
	https_response_init(&resp);
	if ((rc = hub_answer(c, r, &resp, err)) != 0)
		goto out;
	if (resp.status == 204) {
		rc = HUB_NO_CONTENT;
		goto out;
	}
	if (resp.status != 200) {
		rc = err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, resp.status,
		    "GET /signed-ops: unexpected HTTP %ld", resp.status);
		goto out;
	}
	if ((rc = hub_json(&resp, "GET /signed-ops", HUB_SCHEMA_SIGNED_OPS,
	    &doc, err)) != 0 || (rc = hub_signed_ops_parse(doc, out,
	    err)) != 0)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	https_response_reset(&resp);
	return rc;
}

int
hub_get_signed_ops(struct hub_client *c, struct hub_signed_ops *out,
    struct err *err)
{
	struct hub_req *r = NULL;
	int rc;

	out->ops = NULL;
	out->n = 0;
	if ((rc = hub_submit_signed_ops(c, &r, err)) != 0)
		return rc;
	https_xfer_wait(r->x);
	return hub_finish_signed_ops(c, r, out, err);
}
