/*
 * json — strict helpers over Jansson (translates json_error_t once, here).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/json.h"

static const char *
sep(const char *ctx)
{
	return ctx == NULL || ctx[0] == '\0' ? "" : ".";
}

static const char *
nz(const char *ctx)
{
	return ctx == NULL ? "" : ctx;
}

int
jsonx_parse(const char *data, size_t len, size_t cap, int flags,
    const char *what, json_t **out, struct err *err)
{
	json_error_t jerr;
	size_t jflags = 0;
	json_t *v;

	if (len > cap)
		return err_set(err, ERR_TOO_LARGE,
		    "%s: %zu bytes, over the limit of %zu", what, len, cap);
	if (flags & JSONX_DUPLICATES)
		jflags |= JSON_REJECT_DUPLICATES;
	/* JSON_DISABLE_EOF_CHECK off: trailing data is an error. */
	v = json_loadb(data, len, jflags, &jerr);
	if (v == NULL)
		return err_set(err, ERR_FORMAT, "%s: invalid JSON at line %d "
		    "column %d: %s", what, jerr.line, jerr.column, jerr.text);
	*out = v;
	return 0;
}

int
jsonx_parse_file(const char *path, size_t cap, int flags, json_t **out,
    struct err *err)
{
	FILE *f = NULL;
	char *data = NULL;
	size_t len = 0, n;
	int rc;

	if ((f = fopen(path, "rb")) == NULL) {
		rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
		    "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((data = malloc(cap + 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	while ((n = fread(data + len, 1, cap + 1 - len, f)) > 0) {
		len += n;
		if (len > cap)
			break;
	}
	if (ferror(f)) {
		rc = err_set(err, ERR_IO, "%s: read error", path);
		goto out;
	}
	rc = jsonx_parse(data, len, cap, flags, path, out, err);
out:
	if (f != NULL)
		(void) fclose(f);
	free(data);
	return rc;
}

static int
get(const json_t *obj, const char *ctx, const char *key, json_t **out,
    struct err *err)
{
	json_t *v;

	if (!json_is_object(obj))
		return err_set(err, ERR_FORMAT, "%s: expected object",
		    ctx == NULL || ctx[0] == '\0' ? "(root)" : ctx);
	v = json_object_get(obj, key);
	*out = json_is_null(v) ? NULL : v;
	return 0;
}

static int
missing(const char *ctx, const char *key, const char *type, struct err *err)
{
	return err_set(err, ERR_FORMAT, "%s%s%s: required %s is missing",
	    nz(ctx), sep(ctx), key, type);
}

static int
badtype(const char *ctx, const char *key, const char *type, struct err *err)
{
	return err_set(err, ERR_FORMAT, "%s%s%s: expected %s", nz(ctx),
	    sep(ctx), key, type);
}

#define PRESENT(p, v)	do { if ((p) != NULL) *(p) = (v); } while (0)

/*
 * The member key of obj when present, non-null and of type t (JSON_TRUE
 * stands for either boolean): *out set and *present 1; absent or null:
 * *present 0 and *out untouched; another type: ERR_FORMAT naming it.
 */
static int
opt_typed(const json_t *obj, const char *ctx, const char *key, json_type t,
    const char *tname, json_t **out, int *present, struct err *err)
{
	json_t *v;
	int rc;

	PRESENT(present, 0);
	if ((rc = get(obj, ctx, key, &v, err)) != 0)
		return rc;
	if (v == NULL)
		return 0;
	if (t == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != t)
		return badtype(ctx, key, tname, err);
	*out = v;
	PRESENT(present, 1);
	return 0;
}

/* A required member: the optional getter's failure, or "missing". */
static int
required(int rc, int present, const char *ctx, const char *key,
    const char *tname, struct err *err)
{
	if (rc != 0)
		return rc;
	return present ? 0 : missing(ctx, key, tname, err);
}

int
jsonx_opt_string(const json_t *obj, const char *ctx, const char *key,
    const char **out, int *present, struct err *err)
{
	json_t *v = NULL;
	int rc, here = 0;

	rc = opt_typed(obj, ctx, key, JSON_STRING, "string", &v, &here, err);
	if (rc == 0 && here)
		*out = json_string_value(v);
	PRESENT(present, here);
	return rc;
}

int
jsonx_req_string(const json_t *obj, const char *ctx, const char *key,
    const char **out, struct err *err)
{
	int present = 0, rc;

	rc = jsonx_opt_string(obj, ctx, key, out, &present, err);
	return required(rc, present, ctx, key, "string", err);
}

int
jsonx_opt_int(const json_t *obj, const char *ctx, const char *key,
    int64_t min, int64_t max, int64_t *out, int *present, struct err *err)
{
	json_int_t i;
	json_t *v = NULL;
	int rc, here = 0;

	PRESENT(present, 0);
	rc = opt_typed(obj, ctx, key, JSON_INTEGER, "integer", &v, &here, err);
	if (rc != 0 || !here)
		return rc;
	i = json_integer_value(v);
	if (i < min || i > max)
		return err_set(err, ERR_FORMAT, "%s%s%s: %" PRId64 " is out of "
		    "range [%" PRId64 ", %" PRId64 "]", nz(ctx), sep(ctx), key,
		    (int64_t)i, min, max);
	*out = i;
	PRESENT(present, 1);
	return 0;
}

int
jsonx_req_int(const json_t *obj, const char *ctx, const char *key,
    int64_t min, int64_t max, int64_t *out, struct err *err)
{
	int present = 0, rc;

	rc = jsonx_opt_int(obj, ctx, key, min, max, out, &present, err);
	return required(rc, present, ctx, key, "integer", err);
}

int
jsonx_opt_bool(const json_t *obj, const char *ctx, const char *key,
    int *out, int *present, struct err *err)
{
	json_t *v = NULL;
	int rc, here = 0;

	rc = opt_typed(obj, ctx, key, JSON_TRUE, "true or false", &v, &here,
	    err);
	if (rc == 0 && here)
		*out = json_is_true(v);
	PRESENT(present, here);
	return rc;
}

int
jsonx_req_bool(const json_t *obj, const char *ctx, const char *key,
    int *out, struct err *err)
{
	int present = 0, rc;

	rc = jsonx_opt_bool(obj, ctx, key, out, &present, err);
	return required(rc, present, ctx, key, "boolean", err);
}

int
jsonx_opt_object(const json_t *obj, const char *ctx, const char *key,
    json_t **out, int *present, struct err *err)
{
	return opt_typed(obj, ctx, key, JSON_OBJECT, "object", out, present,
	    err);
}

int
jsonx_req_object(const json_t *obj, const char *ctx, const char *key,
    json_t **out, struct err *err)
{
	int present = 0, rc;

	rc = jsonx_opt_object(obj, ctx, key, out, &present, err);
	return required(rc, present, ctx, key, "object", err);
}

int
jsonx_opt_array(const json_t *obj, const char *ctx, const char *key,
    json_t **out, int *present, struct err *err)
{
	return opt_typed(obj, ctx, key, JSON_ARRAY, "array", out, present,
	    err);
}

int
jsonx_req_array(const json_t *obj, const char *ctx, const char *key,
    json_t **out, struct err *err)
{
	int present = 0, rc;

	rc = jsonx_opt_array(obj, ctx, key, out, &present, err);
	return required(rc, present, ctx, key, "array", err);
}

int
jsonx_only_keys(const json_t *obj, const char *ctx,
    const char *const *allowed, struct err *err)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(obj))
		return err_set(err, ERR_FORMAT, "%s: expected object",
		    ctx == NULL || ctx[0] == '\0' ? "(root)" : ctx);
	json_object_foreach((json_t *)(uintptr_t)obj, key, v) {
		int ok = 0;

		(void) v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], key) == 0) {
				ok = 1;
				break;
			}
		if (!ok)
			return err_set(err, ERR_FORMAT, "%s%s%s: unknown key",
			    nz(ctx), sep(ctx), key);
	}
	return 0;
}

int
jsonx_loose_int(const json_t *v, int64_t *out)
{
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d != d || d < -9.2e18 || d > 9.2e18 ||
		    d != (double)(int64_t)d)
			return ERR_FORMAT;
		*out = (int64_t)d;
		return 0;
	}
	if (!json_is_string(v))
		return ERR_FORMAT;
	s = json_string_value(v);
	if (*s == '\0')
		return ERR_FORMAT;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return ERR_FORMAT;
	*out = n;
	return 0;
}

int
jsonx_loose_real(const json_t *v, double *out)
{
	const char *s;
	char *end;
	double d;

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return ERR_FORMAT;
	s = json_string_value(v);
	if (*s == '\0')
		return ERR_FORMAT;
	errno = 0;
	d = strtod(s, &end);
	/* strtod reads "nan" and "inf": no JSON number is either, and a
	 * report cannot carry one (json_real refuses them). */
	if (errno != 0 || *end != '\0' || !isfinite(d))
		return ERR_FORMAT;
	*out = d;
	return 0;
}

int
jsonx_loose_bool(const json_t *v, int *out)
{
	int64_t i;

	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (jsonx_loose_int(v, &i) != 0 || (i != 0 && i != 1))
		return ERR_FORMAT;
	*out = (int)i;
	return 0;
}

char *
jsonx_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY);
}
