/*
 * norm — USB devices of a guest (R-08b): desired spec.usb_devices (USB
 * ids, base/usbdev.h) against the devN of a config.  PVE keeps only the
 * device node ("dev0: /dev/bus/usb/001/004", pve-container
 * src/PVE/LXC/Config.pm $dev_desc: path, mode, uid, gid, deny-write;
 * no other field), so which id a devN is comes from sysfs at
 * observation time (norm_usb_observe).  Compared as sets: the devN
 * number is not part of the desired state.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/usbdev.h"
#include "engine/norm.h"

#define NORM_MAX_DEV	256	/* dev0 ... dev255 ($MAX_DEVICES) */

/* "dev7" → 7, anything else → -1. */
static int
dev_index(const char *key)
{
	const char *p;
	int v = 0;

	if (key == NULL || strncmp(key, "dev", 3) != 0 || key[3] == '\0' ||
	    (key[3] == '0' && key[4] != '\0'))
		return -1;
	for (p = key + 3; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v >= NORM_MAX_DEV)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v < NORM_MAX_DEV ? v : -1;
}

/* The device path of a devN value: "[path=]PATH[,options]". */
static json_t *
dev_entry(const char *key, const char *value)
{
	const char *v = value, *tok, *end;
	size_t len;

	for (tok = v; tok != NULL && *tok != '\0'; tok = end != NULL ?
	    end + 1 : NULL) {
		end = strchr(tok, ',');
		len = end != NULL ? (size_t)(end - tok) : strlen(tok);
		if (strncmp(tok, "path=", 5) == 0 && len > 5)
			return json_pack("{s:s,s:s%}", "key", key, "path",
			    tok + 5, len - 5);
		if (tok == v && memchr(tok, '=', len) == NULL)
			return json_pack("{s:s,s:s%}", "key", key, "path",
			    tok, len);
	}
	return json_pack("{s:s,s:s}", "key", key, "path", "");
}

int
norm_usb_from_config(const json_t *config, json_t **out, struct err *err)
{
	const json_t *order[NORM_MAX_DEV];
	const char *keys[NORM_MAX_DEV];
	json_t *arr = json_array(), *e, *v;
	const char *key;
	int i;

	if (arr == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (i = 0; i < NORM_MAX_DEV; i++)
		order[i] = NULL;
	json_object_foreach((json_t *)(uintptr_t)config, key, v)
		if ((i = dev_index(key)) >= 0 && json_is_string(v)) {
			order[i] = v;
			keys[i] = key;
		}
	for (i = 0; i < NORM_MAX_DEV; i++) {
		if (order[i] == NULL)
			continue;
		e = dev_entry(keys[i], json_string_value(order[i]));
		if (e == NULL || json_array_append_new(arr, e) != 0) {
			json_decref(arr);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	*out = arr;
	return 0;
}

/* 1 when the entry's path is a USB device node. */
static int
is_usb(const json_t *e)
{
	const char *p = json_string_value(json_object_get(e, "path"));

	return p != NULL && usbdev_path_check(p, NULL) == 0;
}

int
norm_usb_observe(json_t *spec, const char *sysfs_root)
{
	char vp[USBDEV_ID_MAX], port[USBDEV_ID_MAX];
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(spec, "usb_devices"), i, e) {
		if (!is_usb(e) || usbdev_describe(sysfs_root,
		    json_string_value(json_object_get(e, "path")), vp, port,
		    NULL) != 0)
			continue;	/* unplugged: no id, matches nothing */
		if (json_object_set_new(e, "id", json_string(vp)) != 0 ||
		    json_object_set_new(e, "port", json_string(port)) != 0)
			return ERR_NOMEM;
	}
	return 0;
}

/* 1 when the desired id names the device of actual entry e. */
static int
names(const json_t *id, const json_t *e)
{
	const char *s = json_string_value(id);
	const char *vp = json_string_value(json_object_get(e, "id"));
	const char *port = json_string_value(json_object_get(e, "port"));

	if (s == NULL || !is_usb(e))
		return 0;
	if (strchr(s, ':') != NULL)
		return vp != NULL && usbdev_id_same(vp, s);
	return port != NULL && strcmp(port, s) == 0;
}

/* 1 when some attached device is the one id names. */
static int
attached(const json_t *actual, const json_t *id)
{
	const json_t *e;
	size_t i;

	json_array_foreach(actual, i, e)
		if (names(id, e))
			return 1;
	return 0;
}

/* 1 when some desired id names attached device e. */
static int
desired(const json_t *ids, const json_t *e)
{
	const json_t *id;
	size_t i;

	json_array_foreach(ids, i, id)
		if (names(id, e))
			return 1;
	return 0;
}

int
norm_usb_equal(const json_t *ids, const json_t *actual)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(ids))
		return 0;
	json_array_foreach(ids, i, v)
		if (!attached(actual, v))
			return 0;
	json_array_foreach(actual, i, v)
		if (is_usb(v) && !desired(ids, v))
			return 0;
	return 1;
}

int
norm_usb_params(json_t *params, const json_t *ids, const json_t *actual_spec,
    struct err *err)
{
	const json_t *have = json_object_get(actual_spec, "usb_devices"), *v;
	unsigned char used[NORM_MAX_DEV];
	char key[16], *val = NULL;
	size_t i;
	int idx, next = 0, rc;

	if (!json_is_array(ids))
		return err_set(err, ERR_FORMAT, "spec.usb_devices: expected "
		    "an array of USB ids");
	memset(used, 0, sizeof(used));
	json_array_foreach(have, i, v)
		if ((idx = dev_index(json_string_value(json_object_get(v,
		    "key")))) >= 0)
			used[idx] = 1;
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v))
			return err_set(err, ERR_FORMAT, "spec.usb_devices[%zu]:"
			    " expected a USB id", i);
		if (attached(have, v))
			continue;
		while (next < NORM_MAX_DEV && used[next])
			next++;
		if (next == NORM_MAX_DEV)
			return err_set(err, ERR_FORMAT, "spec.usb_devices: no "
			    "free device slot left");
		used[next] = 1;
		(void) snprintf(key, sizeof(key), "dev%d", next);
		/* The helper resolves the id when it attaches (exec_priv). */
		if (asprintf(&val, NORM_USB_PREFIX "%s",
		    json_string_value(v)) < 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		rc = json_object_set_new(params, key, json_string(val));
		free(val);
		if (rc != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	}
	/* An attached USB device no longer desired (devices hold no data). */
	json_array_foreach(have, i, v)
		if (is_usb(v) && !desired(ids, v) && norm_add_delete(params,
		    json_string_value(json_object_get(v, "key"))) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}
