/*
 * opblob — strict parsing and canonical writing of op blob v1 (R-13;
 * signed-ops.md).  Parsed from the verified bytes, never re-serialized.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "authz/codes.h"
#include "authz/lxcopt.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"

#define NAME_MAX_CHARS		40	/* PVE snapshot names */
#define ID_MAX_CHARS		64	/* storage id */
#define VOLPATH_MAX_CHARS	255	/* volume path after "storage:" */
#define DESCRIPTION_MAX		8192
#define CONFVAL_MAX		8192

static const char *const op_names[OPBLOB_OP__COUNT] = {
	[OPBLOB_OP_START] = "start",
	[OPBLOB_OP_STOP] = "stop",
	[OPBLOB_OP_SET_CONFIG] = "set_config",
	[OPBLOB_OP_SNAPSHOT] = "snapshot",
	[OPBLOB_OP_DELETE_SNAPSHOT] = "delete_snapshot",
	[OPBLOB_OP_ROLLBACK] = "rollback",
	[OPBLOB_OP_BACKUP] = "backup",
	[OPBLOB_OP_RESTORE] = "restore",
	[OPBLOB_OP_DESTROY] = "destroy",
	[OPBLOB_OP_PROVISION] = "provision",
	[OPBLOB_OP_ROTATE_SIGNERS] = "rotate_signers",
	[OPBLOB_OP_UNKNOWN] = "unknown",
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == OPBLOB_OP__COUNT,
    "op_names must name every op");

static const char *const rotate_names[OPBLOB_ROTATE__COUNT] = {
	[OPBLOB_ROTATE_NONE] = "none",
	[OPBLOB_ROTATE_PLANNED] = "planned",
	[OPBLOB_ROTATE_RECOVERY] = "recovery",
};
_Static_assert(sizeof(rotate_names) / sizeof(rotate_names[0]) ==
    OPBLOB_ROTATE__COUNT, "rotate_names must name every kind");

static const char *const blob_keys[] = { "schema", "op", "host_id",
    "guest_id", "params", "nonce", "not_before", "not_after", NULL };

const char *
opblob_op_name(int op)
{
	if (op < 0 || op >= OPBLOB_OP__COUNT)
		return "unknown";
	return op_names[op];
}

enum opblob_op
opblob_kind_from_name(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < OPBLOB_OP_UNKNOWN; i++)
		if (strcmp(op_names[i], s) == 0)
			return (enum opblob_op)i;
	return OPBLOB_OP_UNKNOWN;
}

const char *
opblob_rotate_kind_name(int kind)
{
	if (kind < 0 || kind >= OPBLOB_ROTATE__COUNT)
		return "unknown";
	return rotate_names[kind];
}

static int
bad(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bad(struct err *err, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_setr(err, ERR_REJECTED, AUTHZ_BAD_BLOB, 0, "%s", msg);
}

static int
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* host_id: 1-64 of [A-Za-z0-9._-]. */
static int
valid_host(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > OPBLOB_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* NAME: 1-40 of [A-Za-z0-9_-], starting with a letter. */
static int
valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > NAME_MAX_CHARS || !is_alpha(s[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return 0;
	return 1;
}

/* Storage ID: a letter, then [A-Za-z0-9._-], at most 64. */
static int
valid_id_n(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > ID_MAX_CHARS || !is_alpha(s[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/*
 * VOLID: "<storage-id>:<path>", the path 1-255 of [A-Za-z0-9._/:+@=-],
 * not absolute and without ".." segments (PVE volume ids such as
 * "local:backup/vzdump-lxc-101-....tar.zst", "pbs:backup/ct/101/...Z").
 */
static int
valid_volid(const char *s)
{
	const char *colon = strchr(s, ':'), *p, *seg;
	size_t n;

	if (colon == NULL || !valid_id_n(s, (size_t)(colon - s)))
		return 0;
	p = colon + 1;
	n = strlen(p);
	if (n == 0 || n > VOLPATH_MAX_CHARS || p[0] == '/')
		return 0;
	for (seg = p; *p != '\0'; p++) {
		if (!is_alpha(*p) && !is_digit(*p) &&
		    strchr("._/:+@=-", *p) == NULL)
			return 0;
		if (*p == '/') {
			if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
				return 0;
			seg = p + 1;
		}
	}
	return !(p - seg == 2 && seg[0] == '.' && seg[1] == '.');
}

static int
only_keys(const json_t *obj, const char *const *allowed, struct err *err)
{
	struct err jerr;

	err_init(&jerr);
	if (jsonx_only_keys(obj, "params", allowed, &jerr) != 0)
		return bad(err, "%s", jerr.msg);
	return 0;
}

/* A required string member of params checked by valid(). */
static int
req_str(const json_t *params, const char *key, int (*valid)(const char *),
    const char *rule, struct err *err)
{
	const json_t *v = json_object_get(params, key);

	if (v == NULL)
		return bad(err, "params.%s: required", key);
	if (!json_is_string(v))
		return bad(err, "params.%s: expected a string", key);
	if (valid != NULL && !valid(json_string_value(v)))
		return bad(err, "params.%s: must be %s", key, rule);
	return 0;
}

static int
req_enum(const json_t *params, const char *key, const char *const *vals,
    const char *rule, struct err *err)
{
	const json_t *v = json_object_get(params, key);
	size_t i;

	if (v == NULL)
		return bad(err, "params.%s: required", key);
	if (json_is_string(v))
		for (i = 0; vals[i] != NULL; i++)
			if (strcmp(vals[i], json_string_value(v)) == 0)
				return 0;
	return bad(err, "params.%s: must be %s", key, rule);
}

static int
opt_bool(const json_t *params, const char *key, int required,
    struct err *err)
{
	const json_t *v = json_object_get(params, key);

	if (v == NULL)
		return required ? bad(err, "params.%s: required", key) : 0;
	if (!json_is_boolean(v))
		return bad(err, "params.%s: expected true or false", key);
	return 0;
}

static int
check_set_config(const json_t *params, struct err *err)
{
	static const char *const keys[] = { "set", "delete", NULL };
	const json_t *set, *del, *v;
	const char *k;
	char e[72];
	size_t i, j;
	int rc;

	if ((rc = only_keys(params, keys, err)) != 0)
		return rc;
	set = json_object_get(params, "set");
	del = json_object_get(params, "delete");
	if (set == NULL && del == NULL)
		return bad(err, "params: set_config needs \"set\" or "
		    "\"delete\"");
	if (set != NULL) {
		if (!json_is_object(set))
			return bad(err, "params.set: expected an object");
		json_object_foreach((json_t *)(uintptr_t)set, k, v) {
			/*
			 * only container options are settings; a
			 * request parameter of PVE's (delete, revert,
			 * digest, node, vmid, ...) is never one.
			 */
			if (!lxcopt_is_option(k)) {
				err_escape(e, sizeof(e), k, strlen(k));
				return bad(err, "params.set: '%s' is not a "
				    "container option (PVE's request "
				    "parameters cannot be set)", e);
			}
			if (json_is_string(v) &&
			    json_string_length(v) > CONFVAL_MAX)
				return bad(err, "params.set.%s: value longer "
				    "than %d", k, CONFVAL_MAX);
			if (!json_is_string(v) && !json_is_integer(v) &&
			    !json_is_real(v) && !json_is_boolean(v))
				return bad(err, "params.set.%s: expected a "
				    "string, number or boolean", k);
		}
	}
	if (del != NULL) {
		if (!json_is_array(del))
			return bad(err, "params.delete: expected an array");
		for (i = 0; i < json_array_size(del); i++) {
			v = json_array_get(del, i);
			if (!json_is_string(v))
				return bad(err, "params.delete[%zu]: expected a "
				    "string", i);
			if (!lxcopt_is_option(json_string_value(v))) {
				err_escape(e, sizeof(e), json_string_value(v),
				    json_string_length(v));
				return bad(err, "params.delete[%zu]: '%s' is not "
				    "a container option", i, e);
			}
			k = json_string_value(v);
			for (j = 0; j < i; j++)
				if (strcmp(k, json_string_value(
				    json_array_get(del, j))) == 0)
					return bad(err, "params.delete: '%s' "
					    "listed twice", k);
			if (set != NULL && json_object_get(set, k) != NULL)
				return bad(err, "params: '%s' is both set and "
				    "deleted", k);
		}
	}
	if ((set == NULL || json_object_size(set) == 0) &&
	    (del == NULL || json_array_size(del) == 0))
		return bad(err, "params: set_config changes nothing");
	return 0;
}

static int
check_keylines(const json_t *arr, const char *key, enum signers_role role,
    struct signers *set, struct err *err)
{
	struct signers_entry *e = NULL;
	struct err lerr;
	const char *s;
	size_t i, j, n;
	int rc;

	if (!json_is_array(arr))
		return bad(err, "params.%s: expected an array of "
		    "allowed_signers lines", key);
	n = json_array_size(arr);
	if (n > OPBLOB_KEYLINES_MAX)
		return bad(err, "params.%s: more than %d lines", key,
		    OPBLOB_KEYLINES_MAX);
	for (i = 0; i < n; i++) {
		const json_t *v = json_array_get(arr, i);

		if (!json_is_string(v))
			return bad(err, "params.%s[%zu]: expected a string",
			    key, i);
		s = json_string_value(v);
		err_init(&lerr);
		rc = signers_parse_line(s, strlen(s), "blob", i + 1, role, 0,
		    &e, &lerr);
		if (rc == ERR_NOMEM)
			return err_copy(err, &lerr);
		if (rc != 0)
			return bad(err, "params.%s[%zu]: %s", key, i,
			    lerr.msg);
		if (e == NULL)
			return bad(err, "params.%s[%zu]: empty or comment line",
			    key, i);
		if (set == NULL) {
			signers_entry_free(e);
			e = NULL;
			continue;
		}
		/* One line per key and role (the signers table's rule). */
		for (j = 0; j < signers_count(set); j++) {
			const struct signers_entry *o = signers_get(set, j);

			if (o->role == role && sshsig_key_equal(o->key,
			    e->key)) {
				rc = bad(err, "params.%s[%zu]: key %s is listed "
				    "twice", key, i,
				    sshsig_key_fingerprint(e->key));
				signers_entry_free(e);
				return rc;
			}
		}
		if ((rc = signers_add(set, e, err)) != 0)
			return rc;
		e = NULL;
	}
	return 0;
}

static int
check_rotate(const json_t *params, struct signers *set,
    enum opblob_rotate_kind *kind_out, int *has_op, int *has_rec,
    struct err *err)
{
	static const char *const keys[] = { "kind", "operational", "recovery",
	    NULL };
	static const char *const kinds[] = { "planned", "recovery", NULL };
	const json_t *op, *rec;
	int rc;

	if ((rc = only_keys(params, keys, err)) != 0 ||
	    (rc = req_enum(params, "kind", kinds, "\"planned\" or "
	    "\"recovery\"", err)) != 0)
		return rc;
	op = json_object_get(params, "operational");
	rec = json_object_get(params, "recovery");
	if (op == NULL && rec == NULL)
		return bad(err, "params: rotate_signers needs \"operational\" "
		    "or \"recovery\"");
	if (op != NULL && (rc = check_keylines(op, "operational",
	    SIGNERS_ROLE_OPERATIONAL, set, err)) != 0)
		return rc;
	if (rec != NULL && (rc = check_keylines(rec, "recovery",
	    SIGNERS_ROLE_RECOVERY, set, err)) != 0)
		return rc;
	if (kind_out != NULL)
		*kind_out = strcmp(json_string_value(json_object_get(params,
		    "kind")), "planned") == 0 ? OPBLOB_ROTATE_PLANNED :
		    OPBLOB_ROTATE_RECOVERY;
	if (has_op != NULL)
		*has_op = op != NULL;
	if (has_rec != NULL)
		*has_rec = rec != NULL;
	return 0;
}

int
opblob_check_params(enum opblob_op op, const json_t *params,
    struct signers *rotate_set, enum opblob_rotate_kind *kind_out,
    int *has_operational, int *has_recovery, struct err *err)
{
	static const char *const k_none[] = { NULL };
	static const char *const k_stop[] = { "mode", NULL };
	static const char *const stop_modes[] = { "shutdown", "stop", NULL };
	static const char *const k_snap[] = { "name", "description", NULL };
	static const char *const k_name[] = { "name", NULL };
	static const char *const k_rollback[] = { "snapshot", "no_safety",
	    NULL };
	static const char *const k_backup[] = { "storage", "mode", NULL };
	static const char *const backup_modes[] = { "snapshot", "suspend",
	    "stop", NULL };
	static const char *const k_restore[] = { "archive", "storage",
	    "no_safety", NULL };
	static const char *const k_destroy[] = { "purge", NULL };
	static const char *const k_provision[] = { "template", "storage",
	    "spec", NULL };
	const json_t *v;
	int rc;

	if (!json_is_object(params))
		return bad(err, "params: expected an object");
	switch (op) {
	case OPBLOB_OP_START:
		return only_keys(params, k_none, err);
	case OPBLOB_OP_STOP:
		if ((rc = only_keys(params, k_stop, err)) != 0)
			return rc;
		return req_enum(params, "mode", stop_modes, "\"shutdown\" or "
		    "\"stop\"", err);
	case OPBLOB_OP_SET_CONFIG:
		return check_set_config(params, err);
	case OPBLOB_OP_SNAPSHOT:
		if ((rc = only_keys(params, k_snap, err)) != 0 ||
		    (rc = req_str(params, "name", valid_name, "1-40 of "
		    "[A-Za-z0-9_-] starting with a letter", err)) != 0)
			return rc;
		v = json_object_get(params, "description");
		if (v != NULL && (!json_is_string(v) ||
		    json_string_length(v) > DESCRIPTION_MAX))
			return bad(err, "params.description: expected a string "
			    "of at most %d bytes", DESCRIPTION_MAX);
		return 0;
	case OPBLOB_OP_DELETE_SNAPSHOT:
		if ((rc = only_keys(params, k_name, err)) != 0)
			return rc;
		return req_str(params, "name", valid_name, "1-40 of "
		    "[A-Za-z0-9_-] starting with a letter", err);
	case OPBLOB_OP_ROLLBACK:
		if ((rc = only_keys(params, k_rollback, err)) != 0 ||
		    (rc = req_str(params, "snapshot", valid_name, "1-40 of "
		    "[A-Za-z0-9_-] starting with a letter", err)) != 0)
			return rc;
		return opt_bool(params, "no_safety", 0, err);
	case OPBLOB_OP_BACKUP:
		if ((rc = only_keys(params, k_backup, err)) != 0 ||
		    (rc = req_str(params, "storage", NULL, "", err)) != 0)
			return rc;
		v = json_object_get(params, "storage");
		if (!valid_id_n(json_string_value(v),
		    json_string_length(v)))
			return bad(err, "params.storage: must be a storage id");
		return req_enum(params, "mode", backup_modes, "\"snapshot\", "
		    "\"suspend\" or \"stop\"", err);
	case OPBLOB_OP_RESTORE:
		if ((rc = only_keys(params, k_restore, err)) != 0 ||
		    (rc = req_str(params, "archive", valid_volid, "a volume "
		    "id (storage:path)", err)) != 0 ||
		    (rc = req_str(params, "storage", NULL, "", err)) != 0)
			return rc;
		v = json_object_get(params, "storage");
		if (!valid_id_n(json_string_value(v),
		    json_string_length(v)))
			return bad(err, "params.storage: must be a storage id");
		return opt_bool(params, "no_safety", 0, err);
	case OPBLOB_OP_DESTROY:
		if ((rc = only_keys(params, k_destroy, err)) != 0)
			return rc;
		return opt_bool(params, "purge", 1, err);
	case OPBLOB_OP_PROVISION:
		if ((rc = only_keys(params, k_provision, err)) != 0 ||
		    (rc = req_str(params, "template", valid_volid, "a volume "
		    "id (storage:path)", err)) != 0 ||
		    (rc = req_str(params, "storage", NULL, "", err)) != 0)
			return rc;
		v = json_object_get(params, "storage");
		if (!valid_id_n(json_string_value(v),
		    json_string_length(v)))
			return bad(err, "params.storage: must be a storage id");
		if (!json_is_object(json_object_get(params, "spec")))
			return bad(err, "params.spec: required object");
		return 0;
	case OPBLOB_OP_ROTATE_SIGNERS:
		return check_rotate(params, rotate_set, kind_out,
		    has_operational, has_recovery, err);
	default:
		return bad(err, "op: unknown operation");
	}
}

static int
valid_nonce(const char *s)
{
	size_t i, n = strlen(s);

	if (n < OPBLOB_NONCE_MIN || n > OPBLOB_NONCE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return 0;
	return 1;
}

static int
get_str(const json_t *root, const char *key, const char **out,
    struct err *err)
{
	const json_t *v = json_object_get(root, key);

	if (!json_is_string(v))
		return bad(err, "%s: expected a string", key);
	*out = json_string_value(v);
	return 0;
}

static int
get_time(const json_t *root, const char *key, int64_t *out, struct err *err)
{
	const char *s = NULL;
	int rc;

	if ((rc = get_str(root, key, &s, err)) != 0)
		return rc;
	if (clock_parse_rfc3339(s, out) != 0)
		return bad(err, "%s: '%.32s' is not YYYY-MM-DDTHH:MM:SSZ", key,
		    s);
	return 0;
}

int
opblob_parse(const void *data, size_t len, struct opblob **out,
    struct err *err)
{
	struct opblob *b = NULL;
	struct err jerr;
	const json_t *v;
	const char *s = NULL;
	size_t i;
	int rc;

	if (len > OPBLOB_MAX)
		return bad(err, "op blob of %zu bytes is over the limit of %d",
		    len, OPBLOB_MAX);
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		return bad(err, "op blob starts with a byte order mark");
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->raw = malloc(len + 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "op blob: out of memory");
		goto out;
	}
	if (len > 0)
		memcpy(b->raw, data, len);
	b->raw[len] = '\0';
	b->raw_len = len;
	err_init(&jerr);
	/* duplicate keys refused; trailing data refused. */
	if ((rc = jsonx_parse((const char *)b->raw, len, OPBLOB_MAX,
	    JSONX_DUPLICATES, "op blob", &b->root, &jerr)) != 0) {
		rc = rc == ERR_NOMEM ? err_copy(err, &jerr) :
		    bad(err, "%s", jerr.msg);
		goto out;
	}
	if (!json_is_object(b->root)) {
		rc = bad(err, "op blob: expected a JSON object");
		goto out;
	}
	/*
	 * nothing after the closing brace, not even whitespace or a
	 * newline (JSON itself allows them; signed-ops.md does not).
	 */
	if (b->raw[len - 1] != '}') {
		rc = bad(err, "op blob: trailing data after the closing brace "
		    "(last byte 0x%02x); sign the blob exactly as written, "
		    "without a final newline", b->raw[len - 1]);
		goto out;
	}
	err_init(&jerr);
	if (jsonx_only_keys(b->root, "", blob_keys, &jerr) != 0) {
		rc = bad(err, "%s", jerr.msg);
		goto out;
	}
	for (i = 0; blob_keys[i] != NULL; i++)
		if (json_object_get(b->root, blob_keys[i]) == NULL) {
			rc = bad(err, "%s: required key is missing",
			    blob_keys[i]);
			goto out;
		}
	if ((rc = get_str(b->root, "schema", &s, err)) != 0)
		goto out;
	if (strcmp(s, OPBLOB_SCHEMA) != 0) {
		rc = bad(err, "schema: '%.40s' is not '" OPBLOB_SCHEMA "'", s);
		goto out;
	}
	if ((rc = get_str(b->root, "op", &s, err)) != 0)
		goto out;
	if ((b->op = opblob_kind_from_name(s)) == OPBLOB_OP_UNKNOWN) {
		char e[64];

		err_escape(e, sizeof(e), s, strlen(s));
		rc = bad(err, "op: unknown operation '%s'", e);
		goto out;
	}
	if ((rc = get_str(b->root, "host_id", &s, err)) != 0)
		goto out;
	if (!valid_host(s)) {
		rc = bad(err, "host_id: must be 1-64 of [A-Za-z0-9._-]");
		goto out;
	}
	memcpy(b->host_id, s, strlen(s) + 1);
	v = json_object_get(b->root, "guest_id");
	if (json_is_integer(v)) {
		json_int_t g = json_integer_value(v);

		if (g < OPBLOB_GUEST_MIN || g > OPBLOB_GUEST_MAX) {
			rc = bad(err, "guest_id: %" PRId64 " is out of range "
			    "[%d, %d]", (int64_t)g, OPBLOB_GUEST_MIN,
			    OPBLOB_GUEST_MAX);
			goto out;
		}
		b->has_guest = 1;
		b->guest_id = g;
	} else if (!json_is_null(v)) {
		rc = bad(err, "guest_id: expected an integer or null");
		goto out;
	}
	if ((rc = get_str(b->root, "nonce", &s, err)) != 0)
		goto out;
	if (!valid_nonce(s)) {
		rc = bad(err, "nonce: must be %d-%d lowercase hex characters",
		    OPBLOB_NONCE_MIN, OPBLOB_NONCE_MAX);
		goto out;
	}
	memcpy(b->nonce, s, strlen(s) + 1);
	if ((rc = get_time(b->root, "not_before", &b->not_before, err)) != 0 ||
	    (rc = get_time(b->root, "not_after", &b->not_after, err)) != 0)
		goto out;
	if (b->not_after <= b->not_before) {
		rc = bad(err, "not_after must be later than not_before");
		goto out;
	}
	b->params = json_object_get(b->root, "params");
	if (!json_is_object(b->params)) {
		rc = bad(err, "params: expected an object");
		goto out;
	}
	if (b->op == OPBLOB_OP_ROTATE_SIGNERS &&
	    (b->rotate_set = signers_new()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "op blob: out of memory");
		goto out;
	}
	if ((rc = opblob_check_params(b->op, b->params, b->rotate_set,
	    &b->rotate_kind, &b->has_operational, &b->has_recovery,
	    err)) != 0)
		goto out;
	*out = b;
	b = NULL;
	rc = 0;
out:
	opblob_free(b);
	return rc;
}

void
opblob_free(struct opblob *b)
{
	if (b == NULL)
		return;
	json_decref(b->root);
	free(b->raw);
	signers_free(b->rotate_set);
	free(b);
}

static int
put_str(struct buf_writer *w, const char *s)
{
	return buf_put_bytes(w, s, strlen(s));
}

int
opblob_make(const struct opblob_spec *spec, char **out, size_t *len_out,
    struct err *err)
{
	struct buf_writer w;
	struct opblob *check = NULL;
	uint8_t rnd[32];
	char nonce[2 * sizeof(rnd) + 1], nb[CLOCK_RFC3339_LEN],
	    na[CLOCK_RFC3339_LEN], num[32], *params = NULL;
	json_t *empty = NULL;
	uint8_t *data = NULL;
	size_t len, i;
	int rc;

	buf_writer_init(&w, OPBLOB_MAX + 1);
	if ((int)spec->op < 0 || (int)spec->op >= OPBLOB_OP_UNKNOWN)
		return err_set(err, ERR_INVALID, "op blob: unknown op");
	if (spec->host_id == NULL || !valid_host(spec->host_id))
		return err_set(err, ERR_INVALID, "op blob: host id must be "
		    "1-64 of [A-Za-z0-9._-]");
	if (spec->nonce != NULL) {
		if (!valid_nonce(spec->nonce))
			return err_set(err, ERR_INVALID, "op blob: nonce must "
			    "be 32-128 lowercase hex characters");
		(void) snprintf(nonce, sizeof(nonce), "%s", spec->nonce);
	} else {
		if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
			ERR_clear_error();
			return err_set(err, ERR_CRYPTO, "op blob: no random "
			    "bytes for the nonce");
		}
		for (i = 0; i < sizeof(rnd); i++)
			(void) snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
		explicit_bzero(rnd, sizeof(rnd));
	}
	clock_format_rfc3339(spec->not_before, nb, sizeof(nb));
	clock_format_rfc3339(spec->not_after, na, sizeof(na));
	if (spec->params == NULL && (empty = json_object()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "op blob: out of memory");
		goto out;
	}
	if (!json_is_object(spec->params != NULL ? spec->params : empty)) {
		rc = err_set(err, ERR_INVALID, "op blob: params must be a "
		    "JSON object");
		goto out;
	}
	if ((params = json_dumps(spec->params != NULL ? spec->params : empty,
	    JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "op blob: out of memory");
		goto out;
	}
	if (spec->has_guest)
		(void) snprintf(num, sizeof(num), "%" PRId64, spec->guest_id);
	else
		(void) snprintf(num, sizeof(num), "null");
	/* Fixed key order; host_id and the op name need no escaping. */
	if ((rc = put_str(&w, "{\"schema\":\"" OPBLOB_SCHEMA "\",\"op\":\""))
	    != 0 || (rc = put_str(&w, op_names[spec->op])) != 0 ||
	    (rc = put_str(&w, "\",\"host_id\":\"")) != 0 ||
	    (rc = put_str(&w, spec->host_id)) != 0 ||
	    (rc = put_str(&w, "\",\"guest_id\":")) != 0 ||
	    (rc = put_str(&w, num)) != 0 ||
	    (rc = put_str(&w, ",\"params\":")) != 0 ||
	    (rc = put_str(&w, params)) != 0 ||
	    (rc = put_str(&w, ",\"nonce\":\"")) != 0 ||
	    (rc = put_str(&w, nonce)) != 0 ||
	    (rc = put_str(&w, "\",\"not_before\":\"")) != 0 ||
	    (rc = put_str(&w, nb)) != 0 ||
	    (rc = put_str(&w, "\",\"not_after\":\"")) != 0 ||
	    (rc = put_str(&w, na)) != 0 ||
	    (rc = put_str(&w, "\"}")) != 0 ||
	    (rc = buf_put_u8(&w, 0)) != 0) {
		rc = rc == ERR_NOMEM ? err_set(err, rc, "op blob: out of "
		    "memory") : err_set(err, ERR_INVALID, "op blob: larger "
		    "than %d bytes", OPBLOB_MAX);
		goto out;
	}
	if ((rc = buf_writer_steal(&w, &data, &len)) != 0) {
		rc = err_set(err, rc, "op blob: out of memory");
		goto out;
	}
	len--;	/* the NUL */
	if ((rc = opblob_parse(data, len, &check, err)) != 0)
		goto out;
	*out = (char *)data;
	*len_out = len;
	data = NULL;
out:
	opblob_free(check);
	free(data);
	free(params);
	json_decref(empty);
	buf_writer_reset(&w);
	return rc;
}
