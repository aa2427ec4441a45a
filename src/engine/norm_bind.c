/*
 * norm — host bind mounts of a guest (R-08b, R-23): desired
 * spec.bind_mounts against the mpN of a config whose volume is a host
 * path.  Compared as sets of (host_path, path, read_only): the mount
 * point number PVE stores them under is not part of the desired state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "engine/norm.h"

#define NORM_MAX_MP	256

/* "mp7" → 7, anything else → -1. */
static int
mp_index(const char *key)
{
	const char *p;
	int v = 0;

	if (strncmp(key, "mp", 2) != 0 || key[2] == '\0' ||
	    (key[2] == '0' && key[3] != '\0'))
		return -1;
	for (p = key + 2; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v >= NORM_MAX_MP)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < NORM_MAX_MP ? v : -1;
}

/* One mpN value → {key, host_path, path, read_only}, or NULL (a volume). */
static json_t *
bind_of(const char *key, const char *value)
{
	char *copy = strdup(value), *tok, *save = NULL, *vol = NULL;
	const char *mp = NULL;
	int ro = 0, first = 1;
	json_t *res = NULL;

	if (copy == NULL)
		return NULL;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save), first = 0) {
		if (strncmp(tok, "volume=", 7) == 0)
			vol = tok + 7;
		else if (first && strchr(tok, '=') == NULL)
			vol = tok;
		else if (strncmp(tok, "mp=", 3) == 0)
			mp = tok + 3;
		else if (strcmp(tok, "ro=1") == 0)
			ro = 1;
	}
	/* A host directory; not a storage volume, not a device. */
	if (vol != NULL && vol[0] == '/' && strncmp(vol, "/dev/", 5) != 0)
		res = json_pack("{s:s,s:s,s:s?,s:b}", "key", key,
		    "host_path", vol, "path", mp, "read_only", ro);
	free(copy);
	return res;
}

int
norm_binds_from_config(const json_t *config, json_t **out, struct err *err)
{
	const json_t *order[NORM_MAX_MP];
	const char *keys[NORM_MAX_MP];
	json_t *arr = json_array(), *b, *v;
	const char *key;
	int i;

	if (arr == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < NORM_MAX_MP; i++)
		order[i] = NULL;
	json_object_foreach((json_t *)(uintptr_t)config, key, v)
		if ((i = mp_index(key)) >= 0 && json_is_string(v)) {
			order[i] = v;
			keys[i] = key;
		}
	for (i = 0; i < NORM_MAX_MP; i++) {
		if (order[i] == NULL)
			continue;
		b = bind_of(keys[i], json_string_value(order[i]));
		if (b != NULL && json_array_append_new(arr, b) != 0) {
			json_decref(arr);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	*out = arr;
	return 0;
}

static int
same_mount(const json_t *a, const json_t *b)
{
	const char *ha = json_string_value(json_object_get(a, "host_path"));
	const char *hb = json_string_value(json_object_get(b, "host_path"));
	const char *pa = json_string_value(json_object_get(a, "path"));
	const char *pb = json_string_value(json_object_get(b, "path"));

	return ha != NULL && hb != NULL && pa != NULL && pb != NULL &&
	    strcmp(ha, hb) == 0 && strcmp(pa, pb) == 0;
}

static int
same_ro(const json_t *a, const json_t *b)
{
	return json_is_true(json_object_get(a, "read_only")) ==
	    json_is_true(json_object_get(b, "read_only"));
}

/* The entry of list matching m (host_path and path), or NULL. */
static const json_t *
find_mount(const json_t *list, const json_t *m)
{
	const json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (same_mount(e, m))
			return e;
	return NULL;
}

int
norm_binds_equal(const json_t *desired, const json_t *actual)
{
	const json_t *d, *a;
	size_t i;

	if (!json_is_array(desired) || (actual != NULL &&
	    !json_is_null(actual) && !json_is_array(actual)))
		return 0;
	if (json_array_size(desired) != json_array_size(actual))
		return 0;
	json_array_foreach(desired, i, d) {
		if ((a = find_mount(actual, d)) == NULL || !same_ro(a, d))
			return 0;
	}
	return 1;
}

static int
put_mount(json_t *params, const char *key, const json_t *d, struct err *err)
{
	char *v = NULL;
	int rc;

	if (asprintf(&v, "%s,mp=%s%s", json_string_value(json_object_get(d,
	    "host_path")), json_string_value(json_object_get(d, "path")),
	    json_is_true(json_object_get(d, "read_only")) ? ",ro=1" : "") < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = json_object_set_new(params, key, json_string(v)) == 0 ? 0 :
	    err_set(err, ERR_NOMEM, "out of memory");
	free(v);
	return rc;
}

int
norm_binds_params(json_t *params, const json_t *desired,
    const json_t *actual_spec, struct err *err)
{
	const json_t *have = json_object_get(actual_spec, "bind_mounts");
	const json_t *mounts = json_object_get(actual_spec, "mounts"), *d, *a;
	unsigned char used[NORM_MAX_MP];
	char key[16];
	size_t i;
	int idx, next = 0, rc;

	memset(used, 0, sizeof(used));
	json_array_foreach(mounts, i, a)
		if ((idx = mp_index(json_string_value(json_object_get(a,
		    "key")) != NULL ? json_string_value(json_object_get(a,
		    "key")) : "")) >= 0)
			used[idx] = 1;
	json_array_foreach(desired, i, d) {
		if (!json_is_object(d) || !json_is_string(json_object_get(d,
		    "host_path")) || !json_is_string(json_object_get(d,
		    "path")))
			return err_set(err, ERR_FORMAT, "spec.bind_mounts"
			    "[%zu]: expected {host_path, path, read_only}", i);
		a = find_mount(have, d);
		if (a != NULL && same_ro(a, d))
			continue;
		if (a != NULL) {
			/* Same mount, other options: rewritten in place. */
			rc = put_mount(params, json_string_value(
			    json_object_get(a, "key")), d, err);
		} else {
			while (next < NORM_MAX_MP && used[next])
				next++;
			if (next == NORM_MAX_MP)
				return err_set(err, ERR_FORMAT, "spec."
				    "bind_mounts: no free mount point left");
			used[next] = 1;
			(void) snprintf(key, sizeof(key), "mp%d", next);
			rc = put_mount(params, key, d, err);
		}
		if (rc != 0)
			return rc;
	}
	/* An attached host path no longer desired: removing it is gated. */
	json_array_foreach(have, i, a)
		if (find_mount(desired, a) == NULL &&
		    norm_add_delete(params, json_string_value(json_object_get(
		    a, "key"))) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}
