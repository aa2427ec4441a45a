/*
 * pve — the client, the request plumbing and the error classifier
 * .  Reads live in read.c and parse.c, mutations in
 * mutate.c, task polls in task.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

static const char *const pve_error_names[PVE_E__COUNT] = {
	[PVE_E_NONE] = "none",
	[PVE_E_AUTH] = "auth",
	[PVE_E_PERMISSION] = "permission",
	[PVE_E_NOT_FOUND] = "not_found",
	[PVE_E_LOCKED] = "locked",
	[PVE_E_ALREADY_RUNNING] = "already_running",
	[PVE_E_NOT_RUNNING] = "not_running",
	[PVE_E_EXISTS] = "exists",
	[PVE_E_DIGEST] = "digest_mismatch",
	[PVE_E_PARAM] = "param",
	[PVE_E_HTTP] = "http",
	[PVE_E_PROTOCOL] = "protocol",
	[PVE_E_TASK_FAILED] = "task_failed",
	[PVE_E_TASK_TIMEOUT] = "task_timeout",
	[PVE_E_OUTCOME_UNKNOWN] = "outcome_unknown",
	[PVE_E_RUNNING] = "running",
};
_Static_assert(sizeof(pve_error_names) / sizeof(pve_error_names[0]) ==
    PVE_E__COUNT, "pve_error_names must name every reason");

const char *
pve_error_name(int reason)
{
	if (reason < 0 || reason >= PVE_E__COUNT)
		return "unknown";
	return pve_error_names[reason];
}

int
pve_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(out, fmt, ap);
	va_end(ap);
	if (n < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return 0;
}

static int
unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
	    ch == '~';
}

char *
pve_pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s), i, o = 0;
	char *out;

	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (unreserved(ch)) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 0xf];
		}
	}
	out[o] = '\0';
	return out;
}

int
pve_form_encode(const struct pve_param *params, size_t n, char **out,
    struct err *err)
{
	char *buf = NULL, *k = NULL, *v = NULL, *nb;
	size_t len = 0, i, need;
	int rc;

	if ((buf = calloc(1, 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (params[i].key == NULL || params[i].key[0] == '\0' ||
		    params[i].value == NULL) {
			rc = err_set(err, ERR_INVALID, "pve: parameter %zu has "
			    "no key or no value", i);
			goto out;
		}
		/* §1.2: PVE splits on & and ; and maps + to space, so
		 * every byte outside the unreserved set is encoded. */
		if ((k = pve_pct_encode(params[i].key)) == NULL ||
		    (v = pve_pct_encode(params[i].value)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		need = len + (i > 0) + strlen(k) + 1 + strlen(v) + 1;
		if ((nb = realloc(buf, need)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		buf = nb;
		len += (size_t)snprintf(buf + len, need - len, "%s%s=%s",
		    i > 0 ? "&" : "", k, v);
		free(k);
		free(v);
		k = v = NULL;
	}
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	free(k);
	free(v);
	free(buf);
	return rc;
}

int
pve_check_node(const char *node, struct err *err)
{
	size_t i, n;

	if (node == NULL || (n = strlen(node)) == 0 || n > 63)
		return err_set(err, ERR_INVALID, "pve: node name missing or "
		    "too long");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)node[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return err_set(err, ERR_INVALID, "pve: node name "
			    "'%.63s' is not a hostname", node);
	}
	return 0;
}

int
pve_check_vmid(long vmid, struct err *err)
{
	/* pve-vmid: 100 .. 999999999 */
	if (vmid < 100 || vmid > 999999999L)
		return err_set(err, ERR_INVALID, "pve: vmid %ld out of range "
		    "(100-999999999)", vmid);
	return 0;
}

int
pve_check_snapname(const char *name, struct err *err)
{
	size_t i, n;

	/* pve-snapshot-name: [A-Za-z][A-Za-z0-9_\-]+, at most 40 */
	if (name == NULL || (n = strlen(name)) < 2 || n > 40 ||
	    !((name[0] >= 'a' && name[0] <= 'z') ||
	    (name[0] >= 'A' && name[0] <= 'Z')))
		goto bad;
	for (i = 1; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			goto bad;
	}
	return 0;
bad:
	return err_set(err, ERR_INVALID, "pve: '%.60s' is not a snapshot name "
	    "([A-Za-z][A-Za-z0-9_-]+, at most 40)", name != NULL ? name : "");
}

int
pve_check_storage(const char *storage, struct err *err)
{
	size_t i, n;

	/* pve-storage-id: [a-z][a-z0-9\-\_\.]*[a-z0-9] */
	if (storage == NULL || (n = strlen(storage)) == 0 || n > 100)
		goto bad;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)storage[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.'))
			goto bad;
	}
	return 0;
bad:
	return err_set(err, ERR_INVALID, "pve: '%.60s' is not a storage id",
	    storage != NULL ? storage : "");
}

int
pve_client_new(const struct pve_client_options *o, struct pve_client **out,
    struct err *err)
{
	struct https_options ho;
	struct pve_client *c = NULL;
	size_t len;
	int rc;

	if (o->url == NULL || strncmp(o->url, "https://", 8) != 0)
		return err_set(err, ERR_INVALID, "pve: url must be https://");
	if (o->token_id == NULL || strchr(o->token_id, '!') == NULL ||
	    strchr(o->token_id, '@') == NULL || strchr(o->token_id, '=') !=
	    NULL)
		return err_set(err, ERR_INVALID, "pve: token id must be "
		    "USER@REALM!TOKENID");
	if (o->token_secret == NULL || o->token_secret[0] == '\0')
		return err_set(err, ERR_INVALID, "pve: token secret missing");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	c->body_cap = o->body_cap > 0 ? o->body_cap : PVE_DEFAULT_CAP;
	c->abort_flag = o->abort_flag;
	if ((c->base = strdup(o->url)) == NULL ||
	    (c->token_id = strdup(o->token_id)) == NULL ||
	    pve_asprintf(&c->auth, "PVEAPIToken=%s=%s", o->token_id,
	    o->token_secret) != 0) {
		rc = err_set(err, ERR_NOMEM, "pve: out of memory");
		goto out;
	}
	len = strlen(c->base);
	while (len > 8 && c->base[len - 1] == '/')
		c->base[--len] = '\0';
	memset(&ho, 0, sizeof(ho));
	ho.trust = o->trust;
	ho.ca_file = o->ca_file;
	ho.pin = o->pin;
	ho.connect_timeout_ms = (o->connect_timeout_s > 0 ?
	    o->connect_timeout_s : 10) * 1000;
	ho.timeout_ms = (o->timeout_s > 0 ? o->timeout_s : 30) * 1000;
	ho.body_cap = c->body_cap;
	ho.abort_flag = o->abort_flag;
	ho.multi = o->multi;
	/* pveproxy serves few requests at a time (3 workers by default). */
	ho.max_in_flight = o->max_in_flight > 0 ? o->max_in_flight : 4;
	c->config_ttl_ms = o->config_ttl_ms > 0 ? o->config_ttl_ms :
	    PVE_CONFIG_TTL_MS;
	if ((rc = https_client_new(&ho, &c->https, err)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	pve_client_free(c);
	return rc;
}

int
pve_client_from_config(const struct config *cfg,
    volatile sig_atomic_t *abort_flag, struct pve_client **out,
    struct err *err)
{
	struct pve_client_options o;

	memset(&o, 0, sizeof(o));
	o.url = cfg->pve_url;
	o.token_id = cfg->pve_token_id;
	o.token_secret = cfg->pve_token_secret;
	/* one trust mode, chosen by the configuration. */
	if (cfg->pve_fingerprint != NULL) {
		o.trust = HTTPS_TRUST_PIN;
		o.pin = cfg->pve_fingerprint;
	} else if (cfg->pve_insecure) {
		o.trust = HTTPS_TRUST_INSECURE;
	} else if (cfg->pve_ca_file != NULL) {
		o.trust = HTTPS_TRUST_CA_FILE;
		o.ca_file = cfg->pve_ca_file;
	} else {
		o.trust = HTTPS_TRUST_SYSTEM;
	}
	o.timeout_s = cfg->pve_timeout_s;
	o.abort_flag = abort_flag;
	o.max_in_flight = cfg->pve_max_concurrent > 0 ?
	    (size_t)cfg->pve_max_concurrent : 0;
	return pve_client_new(&o, out, err);
}

void
pve_client_free(struct pve_client *c)
{
	if (c == NULL)
		return;
	pve_memo_free(c);
	https_client_free(c->https);
	pve_config_changed(c);
	free(c->cache);
	if (c->auth != NULL) {
		explicit_bzero(c->auth, strlen(c->auth));
		free(c->auth);
	}
	free(c->base);
	free(c->token_id);
	free(c);
}

const struct pve_fault *
pve_last_fault(const struct pve_client *c)
{
	return &c->fault;
}

const char *
pve_client_token_id(const struct pve_client *c)
{
	return c->token_id;
}

const char *
pve_client_fingerprint(const struct pve_client *c)
{
	return https_last_fingerprint(c->https);
}

void
pve_fault_clear(struct pve_client *c)
{
	memset(&c->fault, 0, sizeof(c->fault));
}

int
pve_build_url(const struct pve_client *c, const char *path,
    const char *query, char **out, struct err *err)
{
	if (pve_asprintf(out, "%s%s%s%s", c->base, path,
	    query != NULL && query[0] != '\0' ? "?" : "",
	    query != NULL ? query : "") != 0)
		return err_set(err, ERR_NOMEM, "pve: out of memory");
	return 0;
}

json_t *
pve_data(json_t *root)
{
	return json_object_get(root, "data");
}

/* Copies the first line of s (at most n-1 bytes, escaped) into out. */
static void
first_line(char *out, size_t n, const char *s)
{
	size_t len = strcspn(s, "\n");

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\r'))
		len--;
	err_escape(out, n, s, len);
}

/* Copies s[0..len) into out (size n), NUL-terminated, escaped. */
static void
copy_escaped(char *out, size_t n, const char *s, size_t len)
{
	err_escape(out, n, s, len);
}

int
pve_scan_permission(const char *text, struct pve_fault *fault)
{
	static const char marker[] = "ermission check failed";
	const char *p, *open, *close, *comma, *end;
	size_t n;

	if (text == NULL || (p = strstr(text, marker)) == NULL)
		return 0;
	p += sizeof(marker) - 1;
	if (*p != ' ' || p[1] != '(')
		return 0;
	open = p + 2;
	/* The parenthesis may itself contain "(...)", e.g. "changing feature
	 * flags (except nesting) ..."; take the last ')' of the line. */
	end = open + strcspn(open, "\n");
	for (close = end; close > open && close[-1] != ')'; close--)
		;
	if (close == open)
		return 0;
	close--;
	if (*open != '/')
		return 0;	/* root@pam-only texts: no privilege named */
	comma = memchr(open, ',', (size_t)(close - open));
	if (comma == NULL)
		return 0;
	copy_escaped(fault->path, sizeof(fault->path), open,
	    (size_t)(comma - open));
	p = comma + 1;
	while (*p == ' ')
		p++;
	/* "Sys.Modify for modifying tag 'x'": the privilege is the first
	 * word. */
	n = strcspn(p, " )");
	if (p + n > close)
		n = (size_t)(close - p);
	if (n == 0)
		return 0;
	copy_escaped(fault->privilege, sizeof(fault->privilege), p, n);
	return 1;
}

/* "is locked (backup)" → "backup". */
static int
scan_lock(const char *text, char *out, size_t n)
{
	const char *p, *q;

	if ((p = strstr(text, " is locked (")) == NULL)
		return 0;
	p += strlen(" is locked (");
	if ((q = strchr(p, ')')) == NULL || q == p)
		return 0;
	copy_escaped(out, n, p, (size_t)(q - p));
	return 1;
}

/* Renders PVE's "errors" object as "key: text; key: text" (escaped). */
static void
render_errors(const json_t *errors, char *out, size_t n)
{
	const char *key;
	json_t *v;
	size_t o = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)(uintptr_t)errors, key, v) {
		char k[64], t[160];
		int w;

		if (!json_is_string(v))
			continue;
		copy_escaped(k, sizeof(k), key, strlen(key));
		first_line(t, sizeof(t), json_string_value(v));
		w = snprintf(out + o, n - o, "%s%s: %s", o > 0 ? "; " : "", k,
		    t);
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
}

int
pve_classify_error(long status, const char *reason, const char *body,
    size_t body_len, const char *token_id, struct pve_fault *fault,
    struct err *err)
{
	struct pve_fault f;
	json_t *root = NULL, *m, *errors;
	const char *text = NULL;
	char errs[256], full[1024], tok[160];
	int rc;

	memset(&f, 0, sizeof(f));
	f.http_status = status;
	errs[0] = '\0';
	if (body != NULL && body_len > 0 && body_len <= 65536)
		root = json_loadb(body, body_len, 0, NULL);
	if (json_is_object(root)) {
		m = json_object_get(root, "message");
		if (json_is_string(m) && json_string_length(m) > 0)
			text = json_string_value(m);
		errors = json_object_get(root, "errors");
		if (json_is_object(errors))
			render_errors(errors, errs, sizeof(errs));
	}
	/* §1.3: before libpve-http-server 5.2.0 the text is only in the
	 * reason phrase (its first line). */
	if (text == NULL)
		text = reason != NULL ? reason : "";
	first_line(f.message, sizeof(f.message), text);
	/* Search the raw text plus the errors for the known forms. */
	(void) snprintf(full, sizeof(full), "%s\n%s", text,
	    errs[0] != '\0' ? errs : "");

	if (status == 401) {
		/* R-06; the 401 body is empty (§2.3). */
		f.reason = PVE_E_AUTH;
		copy_escaped(tok, sizeof(tok), token_id != NULL ? token_id :
		    "(none)", strlen(token_id != NULL ? token_id : "(none)"));
		rc = err_setr(err, ERR_AUTH, PVE_E_AUTH, status, "API token "
		    "'%s' rejected (HTTP 401 %s)", tok, f.message);
	} else if (status == 403) {
		f.reason = PVE_E_PERMISSION;
		if (pve_scan_permission(full, &f))
			rc = err_setr(err, ERR_PERMISSION, PVE_E_PERMISSION,
			    status, "permission denied: %s on %s (HTTP 403)",
			    f.privilege, f.path);
		else
			rc = err_setr(err, ERR_PERMISSION, PVE_E_PERMISSION,
			    status, "permission denied (HTTP 403): %s",
			    f.message[0] != '\0' ? f.message :
			    "no privilege named by PVE");
	} else if ((strstr(full, "Configuration file '") != NULL &&
	    strstr(full, "' does not exist") != NULL) ||
	    strstr(full, "no such task") != NULL) {
		f.reason = PVE_E_NOT_FOUND;
		rc = err_setr(err, ERR_NOT_FOUND, PVE_E_NOT_FOUND, status,
		    "not found: %s (HTTP %ld)", errs[0] != '\0' &&
		    strstr(errs, "no such task") != NULL ? errs : f.message,
		    status);
	} else if (strstr(full, "can't lock file '") != NULL &&
	    strstr(full, "' - got timeout") != NULL) {
		/*
		 * §3: another worker held the config lock file for more
		 * than lock_file_full's 10 s: a lock, not a verdict.
		 */
		f.reason = PVE_E_LOCKED;
		(void) snprintf(f.lock, sizeof(f.lock), "config-file");
		rc = err_setr(err, ERR_LOCKED, PVE_E_LOCKED, status,
		    "locked (config lock file busy): %s (HTTP %ld)",
		    f.message, status);
	} else if (strstr(full, "can't overwrite running container") !=
	    NULL) {
		f.reason = PVE_E_RUNNING;
		rc = err_setr(err, ERR_CONFLICT, PVE_E_RUNNING, status,
		    "the CT is running: %s (HTTP %ld)", f.message, status);
	} else if (scan_lock(full, f.lock, sizeof(f.lock))) {
		f.reason = PVE_E_LOCKED;
		rc = err_setr(err, ERR_LOCKED, PVE_E_LOCKED, status,
		    "locked (%s): %s (HTTP %ld)", f.lock, f.message, status);
	} else if (strstr(full, " already running") != NULL) {
		f.reason = PVE_E_ALREADY_RUNNING;
		rc = err_setr(err, ERR_CONFLICT, PVE_E_ALREADY_RUNNING, status,
		    "already running: %s (HTTP %ld)", f.message, status);
	} else if (strstr(full, " not running") != NULL) {
		f.reason = PVE_E_NOT_RUNNING;
		rc = err_setr(err, ERR_CONFLICT, PVE_E_NOT_RUNNING, status,
		    "not running: %s (HTTP %ld)", f.message, status);
	} else if (strstr(full, " already exists") != NULL) {
		f.reason = PVE_E_EXISTS;
		rc = err_setr(err, ERR_CONFLICT, PVE_E_EXISTS, status,
		    "already exists: %s (HTTP %ld)", f.message, status);
	} else if (strstr(full, "detected modified configuration") != NULL) {
		f.reason = PVE_E_DIGEST;
		rc = err_setr(err, ERR_CONFLICT, PVE_E_DIGEST, status,
		    "config changed meanwhile (digest mismatch): %s "
		    "(HTTP %ld)", f.message, status);
	} else if (status == 400) {
		f.reason = PVE_E_PARAM;
		rc = err_setr(err, ERR_INVALID, PVE_E_PARAM, status,
		    "rejected parameters: %s%s%s (HTTP 400)", f.message,
		    errs[0] != '\0' ? ": " : "", errs);
	} else {
		f.reason = PVE_E_HTTP;
		rc = err_setr(err, ERR_HTTP, PVE_E_HTTP, status, "HTTP %ld %s",
		    status, f.message);
	}
	json_decref(root);
	if (fault != NULL)
		*fault = f;
	return rc;
}

int
pve_answer(struct pve_client *c, const char *method, const char *path,
    const struct https_response *resp, struct pve_fault *fault,
    json_t **root_out, struct err *err)
{
	struct err e;
	json_t *root = NULL;
	int rc;

	err_init(&e);
	if (resp->status >= 400 || resp->status < 200) {
		rc = pve_classify_error(resp->status, resp->reason, resp->body,
		    resp->body_len, c->token_id, fault, &e);
		(void) err_prefix(&e, "pve: %s %s: ", method, path);
		return err_copy(err, &e);
	}
	if ((rc = jsonx_parse(resp->body, resp->body_len, c->body_cap, 0,
	    "answer", &root, &e)) != 0 || !json_is_object(root) ||
	    json_object_get(root, "data") == NULL) {
		if (fault != NULL) {
			fault->reason = PVE_E_PROTOCOL;
			fault->http_status = resp->status;
		}
		rc = err_setr(err, ERR_PROTOCOL, PVE_E_PROTOCOL, resp->status,
		    "pve: %s %s: answer is not a {\"data\": ...} JSON object%s"
		    "%s", method, path, e.code != 0 ? ": " : "",
		    e.code != 0 ? e.msg : "");
		json_decref(root);
		return rc;
	}
	*root_out = root;
	return 0;
}

int
pve_call(struct pve_client *c, const char *method, const char *path,
    const char *query, const char *form, json_t **root_out, struct err *err)
{
	struct https_request req;
	struct https_response resp;
	char *url = NULL;
	int rc, handled = 0;

	pve_fault_clear(c);
	https_response_init(&resp);
	if ((rc = pve_build_url(c, path, query, &url, err)) != 0)
		goto out;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.authorization = c->auth;
	if (form != NULL) {
		req.content_type = "application/x-www-form-urlencoded";
		req.body = form;
		req.body_len = strlen(form);
	}
	/* Issue 17: inside a pass the request never waits (memo.c). */
	if ((rc = pve_memo_call(c, &req, method, path, &resp, &handled,
	    err)) == 0 && !handled) {
		log_debug("pve: %s %s", method, path);
		c->answer_gen = c->cfg_gen;
		rc = https_do(c->https, &req, &resp, err);
	}
	if (rc != 0)
		goto out;
	rc = pve_answer(c, method, path, &resp, &c->fault, root_out, err);
out:
	https_response_reset(&resp);
	free(url);
	return rc;
}
