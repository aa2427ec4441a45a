/*
 * norm — PVE round-trip quirks normalized in one place (R-23;
 * reference/pve-api.md §8: description comment form and trailing
 * newline, MiB units, tag order and separators, 0/1 booleans, unset vs
 * default).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "engine/norm.h"

#define NORM_MAX_MP	256	/* mp0 ... mp255 */
#define NORM_MAX_NET	32	/* net0 ... net31 */

static const char *const managed_keys[] = {
	"hostname", "cores", "memory_mib", "swap_mib", "onboot",
	"description", "tags", "features", "bind_mounts", "usb_devices", NULL
};

int
norm_key_managed(const char *key)
{
	size_t i;

	for (i = 0; managed_keys[i] != NULL; i++)
		if (strcmp(managed_keys[i], key) == 0)
			return 1;
	return 0;
}

static int
is_tag_sep(char c)
{
	return c == ';' || c == ',' || isspace((unsigned char)c);
}

static int
cmp_json_str(const void *a, const void *b)
{
	const json_t *const *x = a, *const *y = b;

	return strcmp(json_string_value(*x), json_string_value(*y));
}

/* Appends the lower-cased tags of s (split on ; , space) to arr. */
static int
tags_split(const char *s, json_t *arr)
{
	const char *p = s, *start;
	char *t;
	size_t n, i;

	while (*p != '\0') {
		while (*p != '\0' && is_tag_sep(*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && !is_tag_sep(*p))
			p++;
		n = (size_t)(p - start);
		if ((t = strndup(start, n)) == NULL)
			return ERR_NOMEM;
		for (i = 0; i < n; i++)
			t[i] = (char)tolower((unsigned char)t[i]);
		if (json_array_append_new(arr, json_string(t)) != 0) {
			free(t);
			return ERR_NOMEM;
		}
		free(t);
	}
	return 0;
}

json_t *
norm_tags(const json_t *v)
{
	json_t *raw = NULL, *res = NULL, *e, **items = NULL;
	size_t i, n;

	if ((raw = json_array()) == NULL)
		goto fail;
	if (v == NULL || json_is_null(v))
		;
	else if (json_is_string(v)) {
		if (tags_split(json_string_value(v), raw) != 0)
			goto fail;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (!json_is_string(e) ||
			    tags_split(json_string_value(e), raw) != 0)
				goto fail;
		}
	} else
		goto fail;
	n = json_array_size(raw);
	if ((res = json_array()) == NULL)
		goto fail;
	if (n > 0) {
		if ((items = calloc(n, sizeof(*items))) == NULL)
			goto fail;
		for (i = 0; i < n; i++)
			items[i] = json_array_get(raw, i);
		qsort(items, n, sizeof(*items), cmp_json_str);
		for (i = 0; i < n; i++) {
			if (i > 0 && strcmp(json_string_value(items[i]),
			    json_string_value(items[i - 1])) == 0)
				continue;
			if (json_array_append(res, items[i]) != 0)
				goto fail;
		}
	}
	free(items);
	json_decref(raw);
	return res;
fail:
	free(items);
	json_decref(raw);
	json_decref(res);
	return NULL;
}

/*
 * One "k=v" feature: flags "1"/"0" become booleans; "mount" (a list of
 * file system types) stays its string.
 */
static int
feature_put(json_t *obj, const char *kv, size_t len)
{
	const char *eq = memchr(kv, '=', len);
	char *key = NULL, *val = NULL;
	int rc = ERR_FORMAT;
	json_t *jv;

	if (eq == NULL || eq == kv)
		return ERR_FORMAT;
	if ((key = strndup(kv, (size_t)(eq - kv))) == NULL ||
	    (val = strndup(eq + 1, len - (size_t)(eq - kv) - 1)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	if (strcmp(key, "mount") == 0)
		jv = json_string(val);
	else if (strcmp(val, "1") == 0)
		jv = json_true();
	else if (strcmp(val, "0") == 0)
		jv = json_false();
	else
		goto out;
	rc = json_object_set_new(obj, key, jv) == 0 ? 0 : ERR_NOMEM;
out:
	free(key);
	free(val);
	return rc;
}

json_t *
norm_features(const json_t *v)
{
	json_t *res, *e;
	const char *s, *comma, *k;
	int b;

	if ((res = json_object()) == NULL)
		return NULL;
	if (v == NULL || json_is_null(v))
		return res;
	if (json_is_string(v)) {
		s = json_string_value(v);
		while (*s != '\0') {
			comma = strchr(s, ',');
			if (comma == NULL)
				comma = s + strlen(s);
			if (comma > s && feature_put(res, s,
			    (size_t)(comma - s)) != 0)
				goto fail;
			s = *comma == ',' ? comma + 1 : comma;
		}
		return res;
	}
	if (!json_is_object(v))
		goto fail;
	json_object_foreach((json_t *)(uintptr_t)v, k, e) {
		if (strcmp(k, "mount") == 0 && json_is_string(e)) {
			if (json_object_set(res, k, e) != 0)
				goto fail;
			continue;
		}
		if (jsonx_loose_bool(e, &b) != 0 ||
		    json_object_set_new(res, k, json_boolean(b)) != 0)
			goto fail;
	}
	return res;
fail:
	json_decref(res);
	return NULL;
}

json_t *
norm_description(const json_t *v)
{
	const char *s;
	size_t n;

	if (v == NULL || json_is_null(v))
		return json_string("");
	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	n = json_string_length(v);
	/*
	 * PVE stores each line as a "#" comment and appends "\n" to every
	 * line on read; trailing empty lines are dropped by its split.
	 */
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return json_stringn(s, n);
}

/* Flags set to true, and the mount string, as a comparable object. */
static json_t *
features_effective(const json_t *v)
{
	json_t *f, *res, *e;
	const char *k;

	if ((f = norm_features(v)) == NULL)
		return NULL;
	if ((res = json_object()) == NULL) {
		json_decref(f);
		return NULL;
	}
	json_object_foreach(f, k, e) {
		if (json_is_false(e))
			continue;
		if (json_object_set(res, k, e) != 0) {
			json_decref(res);
			res = NULL;
			break;
		}
	}
	json_decref(f);
	return res;
}

static int
int_default(const char *key, int64_t *out)
{
	if (strcmp(key, "memory_mib") == 0) {
		*out = NORM_DEFAULT_MEMORY_MIB;
		return 0;
	}
	if (strcmp(key, "swap_mib") == 0) {
		*out = NORM_DEFAULT_SWAP_MIB;
		return 0;
	}
	return ERR_NOT_FOUND;
}

static int
is_unset(const json_t *v)
{
	return v == NULL || json_is_null(v);
}

int
norm_value_equal(const char *key, const json_t *desired,
    const json_t *actual)
{
	json_t *a = NULL, *b = NULL;
	int64_t x, y;
	int eq = 0, p, q;

	if (strcmp(key, "cores") == 0 || strcmp(key, "memory_mib") == 0 ||
	    strcmp(key, "swap_mib") == 0) {
		if (is_unset(desired))
			return is_unset(actual);
		if (jsonx_loose_int(desired, &x) != 0)
			return 0;
		if (is_unset(actual)) {
			if (int_default(key, &y) != 0)
				return 0;
		} else if (jsonx_loose_int(actual, &y) != 0)
			return 0;
		return x == y;
	}
	if (strcmp(key, "onboot") == 0 || strcmp(key, "unprivileged") == 0) {
		p = 0;
		q = 0;
		if (!is_unset(desired) && jsonx_loose_bool(desired, &p) != 0)
			return 0;
		if (!is_unset(actual) && jsonx_loose_bool(actual, &q) != 0)
			return 0;
		return p == q;
	}
	if (strcmp(key, "description") == 0) {
		a = norm_description(desired);
		b = norm_description(actual);
	} else if (strcmp(key, "tags") == 0) {
		a = norm_tags(desired);
		b = norm_tags(actual);
	} else if (strcmp(key, "features") == 0) {
		a = features_effective(desired);
		b = features_effective(actual);
	} else if (strcmp(key, "bind_mounts") == 0) {
		return norm_binds_equal(desired, actual);
	} else if (strcmp(key, "usb_devices") == 0) {
		return norm_usb_equal(desired, actual);
	} else if (strcmp(key, "hostname") == 0) {
		if (is_unset(desired) || is_unset(actual))
			return is_unset(desired) && is_unset(actual);
		return json_is_string(desired) && json_is_string(actual) &&
		    strcmp(json_string_value(desired),
		    json_string_value(actual)) == 0;
	} else {
		if (is_unset(desired) || is_unset(actual))
			return is_unset(desired) && is_unset(actual);
		return json_equal((json_t *)(uintptr_t)desired,
		    (json_t *)(uintptr_t)actual);
	}
	if (a != NULL && b != NULL)
		eq = json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return eq;
}

/*
 * A PVE property string ("vol,k=v,k2=v2") split into an object; the
 * first element without "=" is stored under default_key.
 */
static json_t *
prop_split(const char *s, const char *default_key)
{
	json_t *obj = json_object();
	const char *p = s, *end, *eq;
	char *k = NULL, *v = NULL;

	if (obj == NULL)
		return NULL;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL) {
			k = strndup(p, (size_t)(eq - p));
			v = strndup(eq + 1, (size_t)(end - eq - 1));
		} else if (default_key != NULL && p < end) {
			k = strdup(default_key);
			v = strndup(p, (size_t)(end - p));
		}
		if ((eq != NULL || (default_key != NULL && p < end)) &&
		    (k == NULL || v == NULL ||
		    json_object_set_new(obj, k, json_string(v)) != 0)) {
			free(k);
			free(v);
			json_decref(obj);
			return NULL;
		}
		free(k);
		free(v);
		k = v = NULL;
		p = *end == ',' ? end + 1 : end;
	}
	return obj;
}

static json_t *
str_or_null(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string(json_string_value(v)) :
	    json_null();
}

/* "rootfs" → {volume, size}. */
static json_t *
rootfs_from(const char *s)
{
	json_t *p, *res;

	if ((p = prop_split(s, "volume")) == NULL)
		return NULL;
	res = json_pack("{s:o,s:o}", "volume", str_or_null(p, "volume"),
	    "size", str_or_null(p, "size"));
	json_decref(p);
	return res;
}

/* The N of "<prefix>N" (no leading zeros, N < max), or -1. */
static int
key_index(const char *key, const char *prefix, int max)
{
	size_t n = strlen(prefix);
	const char *p;
	int v = 0;

	if (strncmp(key, prefix, n) != 0 || key[n] == '\0' ||
	    (key[n] == '0' && key[n + 1] != '\0'))
		return -1;
	for (p = key + n; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v >= max)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < max ? v : -1;
}

/* Numbered keys (mpN, netN) in number order into an array. */
static int
numbered(const json_t *config, const char *prefix, int max, json_t *arr,
    struct err *err)
{
	const char *keys[NORM_MAX_MP];
	const char *key;
	json_t *v, *p, *item;
	int i;

	for (i = 0; i < max; i++)
		keys[i] = NULL;
	json_object_foreach((json_t *)(uintptr_t)config, key, v)
		if ((i = key_index(key, prefix, max)) >= 0)
			keys[i] = key;
	for (i = 0; i < max; i++) {
		if ((key = keys[i]) == NULL)
			continue;
		v = json_object_get(config, key);
		if (!json_is_string(v))
			return err_set(err, ERR_FORMAT, "config.%s: expected "
			    "string", key);
		if (strcmp(prefix, "mp") == 0) {
			if ((p = prop_split(json_string_value(v), "volume")) ==
			    NULL)
				return err_set(err, ERR_NOMEM, "out of memory");
			item = json_pack("{s:s,s:o,s:o,s:o}", "key", key,
			    "volume", str_or_null(p, "volume"),
			    "path", str_or_null(p, "mp"),
			    "size", str_or_null(p, "size"));
		} else {
			if ((p = prop_split(json_string_value(v), NULL)) ==
			    NULL)
				return err_set(err, ERR_NOMEM, "out of memory");
			item = json_pack("{s:o,s:o,s:o,s:o}",
			    "name", str_or_null(p, "name"),
			    "bridge", str_or_null(p, "bridge"),
			    "ip", str_or_null(p, "ip"),
			    "hwaddr", str_or_null(p, "hwaddr"));
		}
		json_decref(p);
		if (item == NULL || json_array_append_new(arr, item) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

static int
put_int(json_t *spec, const json_t *config, const char *pkey,
    const char *skey, int has_default, int64_t dflt, struct err *err)
{
	const json_t *v = json_object_get(config, pkey);
	int64_t n;

	if (v == NULL || json_is_null(v))
		return json_object_set_new(spec, skey, has_default ?
		    json_integer(dflt) : json_null()) == 0 ? 0 :
		    err_set(err, ERR_NOMEM, "out of memory");
	if (jsonx_loose_int(v, &n) != 0)
		return err_set(err, ERR_FORMAT, "config.%s: expected integer",
		    pkey);
	return json_object_set_new(spec, skey, json_integer(n)) == 0 ? 0 :
	    err_set(err, ERR_NOMEM, "out of memory");
}

static int
put_bool(json_t *spec, const json_t *config, const char *key,
    struct err *err)
{
	const json_t *v = json_object_get(config, key);
	int b = 0;

	/* Absent is the schema default: 0 (R-23). */
	if (v != NULL && !json_is_null(v) && jsonx_loose_bool(v, &b) != 0)
		return err_set(err, ERR_FORMAT, "config.%s: expected 0 or 1",
		    key);
	return json_object_set_new(spec, key, json_boolean(b)) == 0 ? 0 :
	    err_set(err, ERR_NOMEM, "out of memory");
}

int
norm_spec_from_config(const json_t *config, json_t **out, struct err *err)
{
	json_t *spec = NULL, *v, *arr = NULL;
	const json_t *c;
	int rc;

	if (!json_is_object(config))
		return err_set(err, ERR_FORMAT, "config: expected object");
	if ((spec = json_object()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	c = json_object_get(config, "hostname");
	if (c != NULL && !json_is_null(c) && !json_is_string(c)) {
		rc = err_set(err, ERR_FORMAT, "config.hostname: expected "
		    "string");
		goto out;
	}
	if (json_object_set_new(spec, "hostname", c != NULL &&
	    json_is_string(c) ? json_string(json_string_value(c)) :
	    json_null()) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = put_int(spec, config, "cores", "cores", 0, 0, err)) != 0 ||
	    (rc = put_int(spec, config, "memory", "memory_mib", 1,
	    NORM_DEFAULT_MEMORY_MIB, err)) != 0 ||
	    (rc = put_int(spec, config, "swap", "swap_mib", 1,
	    NORM_DEFAULT_SWAP_MIB, err)) != 0 ||
	    (rc = put_bool(spec, config, "onboot", err)) != 0 ||
	    (rc = put_bool(spec, config, "unprivileged", err)) != 0)
		goto out;
	if ((v = norm_description(json_object_get(config, "description"))) ==
	    NULL) {
		rc = err_set(err, ERR_FORMAT, "config.description: expected "
		    "string");
		goto out;
	}
	if (json_object_set_new(spec, "description", v) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	c = json_object_get(config, "tags");
	if (c != NULL && !json_is_null(c) && !json_is_string(c)) {
		rc = err_set(err, ERR_FORMAT, "config.tags: expected string");
		goto out;
	}
	if ((v = norm_tags(c)) == NULL ||
	    json_object_set_new(spec, "tags", v) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	c = json_object_get(config, "features");
	if (c != NULL && !json_is_null(c) && !json_is_string(c)) {
		rc = err_set(err, ERR_FORMAT, "config.features: expected "
		    "string");
		goto out;
	}
	if ((v = norm_features(c)) == NULL) {
		rc = err_set(err, ERR_FORMAT, "config.features: '%s' is not "
		    "a list of k=0|1", json_string_value(c));
		goto out;
	}
	if (json_object_set_new(spec, "features", v) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	c = json_object_get(config, "rootfs");
	if (c != NULL && !json_is_null(c) && !json_is_string(c)) {
		rc = err_set(err, ERR_FORMAT, "config.rootfs: expected "
		    "string");
		goto out;
	}
	v = c != NULL && json_is_string(c) ?
	    rootfs_from(json_string_value(c)) : json_null();
	if (v == NULL || json_object_set_new(spec, "rootfs", v) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((arr = json_array()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = numbered(config, "mp", NORM_MAX_MP, arr, err)) != 0)
		goto out;
	if (json_object_set_new(spec, "mounts", arr) != 0) {
		arr = NULL;
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	arr = NULL;
	if ((rc = norm_binds_from_config(config, &arr, err)) != 0)
		goto out;
	if (json_object_set_new(spec, "bind_mounts", arr) != 0) {
		arr = NULL;
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	arr = NULL;
	if ((rc = norm_usb_from_config(config, &arr, err)) != 0)
		goto out;
	if (json_object_set_new(spec, "usb_devices", arr) != 0) {
		arr = NULL;
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((arr = json_array()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = numbered(config, "net", NORM_MAX_NET, arr, err)) != 0)
		goto out;
	if (json_object_set_new(spec, "net", arr) != 0) {
		arr = NULL;
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	arr = NULL;
	*out = spec;
	spec = NULL;
	rc = 0;
out:
	json_decref(arr);
	json_decref(spec);
	return rc;
}

int
norm_add_delete(json_t *params, const char *name)
{
	const char *old = json_string_value(json_object_get(params, "delete"));
	char *s;
	int rc;

	if (old == NULL)
		return json_object_set_new(params, "delete",
		    json_string(name)) == 0 ? 0 : ERR_NOMEM;
	if (asprintf(&s, "%s,%s", old, name) < 0)
		return ERR_NOMEM;
	rc = json_object_set_new(params, "delete", json_string(s)) == 0 ? 0 :
	    ERR_NOMEM;
	free(s);
	return rc;
}

static int
set_str(json_t *params, const char *key, const char *val, struct err *err)
{
	return json_object_set_new(params, key, json_string(val)) == 0 ? 0 :
	    err_set(err, ERR_NOMEM, "out of memory");
}

static int
set_int(json_t *params, const char *key, const json_t *v, int64_t min,
    int64_t max, const char *skey, struct err *err)
{
	char buf[32];

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return err_set(err, ERR_FORMAT, "spec.%s: expected integer "
		    "%" PRId64 "..%" PRId64, skey, min, max);
	(void) snprintf(buf, sizeof(buf), "%" PRId64,
	    (int64_t)json_integer_value(v));
	return set_str(params, key, buf, err);
}

/* Desired tags (array) → "a;b", or a delete when empty. */
static int
param_tags(json_t *params, const json_t *v, struct err *err)
{
	json_t *t = NULL, *e;
	char *s = NULL, *ns;
	size_t i, len = 0, n;
	int rc;

	if (!json_is_array(v))
		return err_set(err, ERR_FORMAT, "spec.tags: expected array");
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return err_set(err, ERR_FORMAT, "spec.tags[%zu]: "
			    "expected string", i);
	if ((t = norm_tags(v)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (json_array_size(t) == 0) {
		rc = norm_add_delete(params, "tags") == 0 ? 0 :
		    err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(t, i, e) {
		n = json_string_length(e);
		if ((ns = realloc(s, len + n + 2)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		s = ns;
		if (i > 0)
			s[len++] = ';';
		memcpy(s + len, json_string_value(e), n);
		len += n;
		s[len] = '\0';
	}
	rc = set_str(params, "tags", s, err);
out:
	free(s);
	json_decref(t);
	return rc;
}

/* Desired features (object of booleans) → "k=1,...", keeping mount. */
static int
param_features(json_t *params, const json_t *v, const json_t *actual,
    struct err *err)
{
	json_t *want = NULL, *have = NULL, *e;
	const char *k, *mount = NULL;
	char *s = NULL, *ns;
	size_t len = 0, n;
	int rc;

	if (!json_is_object(v))
		return err_set(err, ERR_FORMAT, "spec.features: expected "
		    "object");
	json_object_foreach((json_t *)(uintptr_t)v, k, e)
		if (!json_is_boolean(e))
			return err_set(err, ERR_FORMAT, "spec.features.%s: "
			    "expected boolean", k);
	if ((want = features_effective(v)) == NULL ||
	    (have = norm_features(actual)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	mount = json_string_value(json_object_get(have, "mount"));
	if (mount != NULL && json_object_set_new(want, "mount",
	    json_string(mount)) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Sorted keys: the same parameter for the same desired value. */
	{
		const char **keys = NULL;
		size_t nk = json_object_size(want), i = 0, j;

		if (nk > 0 && (keys = calloc(nk, sizeof(*keys))) == NULL) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		json_object_foreach(want, k, e)
			keys[i++] = k;
		for (i = 1; i < nk; i++)
			for (j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0;
			    j--) {
				const char *tmp = keys[j];

				keys[j] = keys[j - 1];
				keys[j - 1] = tmp;
			}
		for (i = 0; i < nk; i++) {
			e = json_object_get(want, keys[i]);
			n = strlen(keys[i]) + 2 + (json_is_string(e) ?
			    json_string_length(e) : 1);
			if ((ns = realloc(s, len + n + 1)) == NULL) {
				free(keys);
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			s = ns;
			len += (size_t)snprintf(s + len, n + 1, "%s%s=%s",
			    i > 0 ? "," : "", keys[i], json_is_string(e) ?
			    json_string_value(e) : "1");
		}
		free(keys);
	}
	if (s == NULL)
		rc = norm_add_delete(params, "features") == 0 ? 0 :
		    err_set(err, ERR_NOMEM, "out of memory");
	else
		rc = set_str(params, "features", s, err);
out:
	free(s);
	json_decref(want);
	json_decref(have);
	return rc;
}

int
norm_spec_to_params(const json_t *desired_spec, const json_t *actual_spec,
    json_t **out, struct err *err)
{
	json_t *params = NULL, *v, *d = NULL;
	const json_t *a;
	const char *key;
	int rc;

	if (!json_is_object(desired_spec))
		return err_set(err, ERR_FORMAT, "spec: expected object");
	if ((params = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	json_object_foreach((json_t *)(uintptr_t)desired_spec, key, v) {
		if (!norm_key_managed(key)) {
			rc = err_set(err, ERR_FORMAT, "spec.%s: unknown key",
			    key);
			goto out;
		}
		a = actual_spec != NULL ? json_object_get(actual_spec, key) :
		    NULL;
		if (actual_spec != NULL && norm_value_equal(key, v, a))
			continue;
		if (strcmp(key, "hostname") == 0) {
			if (!json_is_string(v) || json_string_length(v) == 0) {
				rc = err_set(err, ERR_FORMAT, "spec.hostname: "
				    "expected non-empty string");
				goto out;
			}
			rc = set_str(params, "hostname", json_string_value(v),
			    err);
		} else if (strcmp(key, "cores") == 0)
			rc = set_int(params, "cores", v, 1, 8192, key, err);
		else if (strcmp(key, "memory_mib") == 0)
			rc = set_int(params, "memory", v, 16, INT32_MAX, key,
			    err);
		else if (strcmp(key, "swap_mib") == 0)
			rc = set_int(params, "swap", v, 0, INT32_MAX, key, err);
		else if (strcmp(key, "onboot") == 0) {
			if (!json_is_boolean(v)) {
				rc = err_set(err, ERR_FORMAT, "spec.onboot: "
				    "expected boolean");
				goto out;
			}
			/* PVE's form checker takes 1/0 only (§1.2). */
			rc = set_str(params, "onboot", json_is_true(v) ? "1" :
			    "0", err);
		} else if (strcmp(key, "description") == 0) {
			if (!json_is_string(v)) {
				rc = err_set(err, ERR_FORMAT,
				    "spec.description: expected string");
				goto out;
			}
			if ((d = norm_description(v)) == NULL) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			if (json_string_length(d) == 0)
				rc = norm_add_delete(params,
				    "description") == 0 ? 0 : err_set(err,
				    ERR_NOMEM, "out of memory");
			else
				rc = set_str(params, "description",
				    json_string_value(d), err);
			json_decref(d);
			d = NULL;
		} else if (strcmp(key, "tags") == 0)
			rc = param_tags(params, v, err);
		else if (strcmp(key, "bind_mounts") == 0)
			rc = norm_binds_params(params, v, actual_spec, err);
		else if (strcmp(key, "usb_devices") == 0)
			rc = norm_usb_params(params, v, actual_spec, err);
		else
			rc = param_features(params, v, actual_spec != NULL ?
			    json_object_get(actual_spec, "features") : NULL,
			    err);
		if (rc != 0)
			goto out;
	}
	*out = params;
	params = NULL;
	rc = 0;
out:
	json_decref(params);
	return rc;
}

int
norm_config_applied(const json_t *params, const json_t *config)
{
	const json_t *set = json_object_get(params, "set");
	const json_t *del = json_object_get(params, "delete");
	const json_t *v, *have;
	const char *key, *skey, *a, *b;
	int64_t x, y;
	size_t i;

	if (!json_is_object(config))
		return 0;
	json_object_foreach((json_t *)(uintptr_t)set, key, v) {
		have = json_object_get(config, key);
		skey = strcmp(key, "memory") == 0 ? "memory_mib" :
		    strcmp(key, "swap") == 0 ? "swap_mib" : key;
		if (norm_key_managed(skey)) {
			if (!norm_value_equal(skey, v, have))
				return 0;
			continue;
		}
		/* Other keys: the same text, or the same number. */
		if (have == NULL)
			return 0;
		if (jsonx_loose_int(v, &x) == 0 &&
		    jsonx_loose_int(have, &y) == 0) {
			if (x != y)
				return 0;
			continue;
		}
		a = json_string_value(v);
		b = json_string_value(have);
		if (a == NULL || b == NULL || strcmp(a, b) != 0)
			return 0;
	}
	json_array_foreach(del, i, v) {
		if (json_is_string(v) &&
		    json_object_get(config, json_string_value(v)) != NULL)
			return 0;
	}
	return 1;
}
