/*
 * pvereq — one builder for the form parameters the executor sends
 * classify what will actually be sent).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authz/codes.h"
#include "authz/lxcopt.h"
#include "base/err.h"
#include "engine/pvereq.h"

#define DIGEST_MAX	40	/* PVE: maxLength 40 (§5.7) */

void
pvereq_reset(struct pvereq *r)
{
	if (r == NULL)
		return;
	json_decref(r->vals);
	memset(r, 0, sizeof(*r));
}

int
pvereq_put(struct pvereq *r, const char *key, const json_t *v,
    struct err *err)
{
	char buf[64];
	json_t *s;

	if (r->vals == NULL && (r->vals = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	/* PVE's form takes 1/0 for booleans (§1.2). */
	if (json_is_string(v))
		s = json_stringn(json_string_value(v), json_string_length(v));
	else if (json_is_integer(v)) {
		(void) snprintf(buf, sizeof(buf), "%" PRId64,
		    (int64_t)json_integer_value(v));
		s = json_string(buf);
	} else if (json_is_boolean(v))
		s = json_string(json_is_true(v) ? "1" : "0");
	else if (json_is_real(v)) {
		(void) snprintf(buf, sizeof(buf), "%g", json_real_value(v));
		s = json_string(buf);
	} else
		return err_set(err, ERR_FORMAT, "parameter %s: expected a "
		    "string, number or boolean", key);
	if (s == NULL || json_object_set_new(r->vals, key, s) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

int
pvereq_puts(struct pvereq *r, const char *key, const char *value,
    struct err *err)
{
	json_t *v = json_string(value);
	int rc;

	if (v == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = pvereq_put(r, key, v, err);
	json_decref(v);
	return rc;
}

int
pvereq_finish(struct pvereq *r, struct err *err)
{
	const char *k;
	json_t *v;

	r->n = 0;
	json_object_foreach(r->vals, k, v) {
		if (r->n == PVEREQ_MAX_PARAMS)
			return err_set(err, ERR_TOO_LARGE, "more than %d "
			    "request parameters", PVEREQ_MAX_PARAMS);
		r->p[r->n].key = k;
		r->p[r->n].value = json_string_value(v);
		r->n++;
	}
	return 0;
}

const char *
pvereq_get(const struct pvereq *r, const char *key)
{
	return json_string_value(json_object_get(r->vals, key));
}

static int
refuse(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct err *err, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_setr(err, ERR_REJECTED, AUTHZ_BAD_BLOB, 0, "%s", msg);
}

/* A name for a message: escaped, bounded. */
static const char *
shown(char *buf, size_t n, const char *s)
{
	err_escape(buf, n, s, strlen(s));
	return buf;
}

static int
put_delete(struct pvereq *r, const json_t *set, const json_t *del,
    struct err *err)
{
	const json_t *v;
	const char *k;
	char *list = NULL, *nl, e[72];
	size_t i, j, len = 0, n;
	int rc;

	if (!json_is_array(del))
		return refuse(err, "params.delete: expected an array of "
		    "container options");
	json_array_foreach(del, i, v) {
		if (!json_is_string(v)) {
			rc = refuse(err, "params.delete[%zu]: expected a "
			    "string", i);
			goto out;
		}
		k = json_string_value(v);
		/*
		 * one option per entry; PVE splits the joined list
		 * on , ; and whitespace, so an entry holding several
		 * would delete what the classifier never saw.
		 */
		if (!lxcopt_is_option(k) || strlen(k) != json_string_length(v)) {
			rc = refuse(err, "params.delete[%zu]: '%s' is not a "
			    "container option", i, shown(e, sizeof(e), k));
			goto out;
		}
		for (j = 0; j < i; j++)
			if (strcmp(k, json_string_value(json_array_get(del,
			    j))) == 0) {
				rc = refuse(err, "params.delete: '%s' listed "
				    "twice", k);
				goto out;
			}
		if (set != NULL && json_object_get(set, k) != NULL) {
			rc = refuse(err, "params: '%s' is both set and "
			    "deleted", k);
			goto out;
		}
		n = strlen(k);
		if ((nl = realloc(list, len + n + 2)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		list = nl;
		if (len > 0)
			list[len++] = ',';
		memcpy(list + len, k, n);
		len += n;
		list[len] = '\0';
	}
	rc = list != NULL ? pvereq_puts(r, "delete", list, err) : 0;
out:
	free(list);
	return rc;
}

static int
put_internal(struct pvereq *r, const struct pvereq_internal *in,
    struct err *err)
{
	const char *p;

	if (in == NULL || in->digest == NULL)
		return 0;
	for (p = in->digest; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			break;
	if (*p != '\0' || in->digest[0] == '\0' ||
	    strlen(in->digest) > DIGEST_MAX)
		return refuse(err, "config digest: expected 1-%d lowercase "
		    "hex characters", DIGEST_MAX);
	return pvereq_puts(r, "digest", in->digest, err);
}

int
pvereq_set_config(const json_t *params, const struct pvereq_internal *internal,
    struct pvereq *out, struct err *err)
{
	const json_t *set, *del, *v;
	const char *k;
	char e[72];
	size_t nset = 0;
	int rc;

	pvereq_reset(out);
	if (!json_is_object(params))
		return refuse(err, "params: expected an object");
	json_object_foreach((json_t *)(uintptr_t)params, k, v)
		if (strcmp(k, "set") != 0 && strcmp(k, "delete") != 0)
			return refuse(err, "params.%s: unknown key (set_config "
			    "takes \"set\" and \"delete\")", shown(e,
			    sizeof(e), k));
	set = json_object_get(params, "set");
	del = json_object_get(params, "delete");
	if (set != NULL && !json_is_object(set))
		return refuse(err, "params.set: expected an object");
	json_object_foreach((json_t *)(uintptr_t)set, k, v) {
		/* PVE's request parameters are never settings. */
		if (!lxcopt_is_option(k))
			rc = refuse(err, "params.set: '%s' is not a "
			    "container option (PVE's request parameters "
			    "cannot be set)", shown(e, sizeof(e), k));
		else if (!json_is_string(v) && !json_is_integer(v) &&
		    !json_is_real(v) && !json_is_boolean(v))
			rc = refuse(err, "params.set.%s: expected a string, "
			    "number or boolean", k);
		/* The form would carry the text up to the NUL only. */
		else if (json_is_string(v) && strlen(json_string_value(v)) !=
		    json_string_length(v))
			rc = refuse(err, "params.set.%s: contains a NUL byte",
			    k);
		else
			rc = pvereq_put(out, k, v, err);
		if (rc != 0)
			goto fail;
		nset++;
	}
	if (del != NULL && (rc = put_delete(out, set, del, err)) != 0)
		goto fail;
	if (nset == 0 && pvereq_get(out, "delete") == NULL) {
		rc = refuse(err, "params: set_config changes nothing");
		goto fail;
	}
	if ((rc = put_internal(out, internal, err)) != 0 ||
	    (rc = pvereq_finish(out, err)) != 0)
		goto fail;
	return 0;
fail:
	pvereq_reset(out);
	return rc;
}
