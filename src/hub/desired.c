/*
 * hub — validation of a felhom.desired/v1 document: the hub's
 * GET /desired answer, or the desired_file of standalone mode.  One fault
 * anywhere rejects the whole document; nothing of it is applied.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "base/usbdev.h"
#include "hub/hub.h"

#define VMID_MIN	100
#define VMID_MAX	999999999
#define GUESTS_MAX	10000
#define TAGS_MAX	64
#define STR_MAX		4096	/* description and any other string */
#define NAME_MAX_	255	/* hostnames, storage ids, volids */
#define BINDS_MAX	32	/* spec.bind_mounts entries */
#define USB_MAX		16	/* spec.usb_devices entries */

static int
reject(struct err *err, int rc)
{
	if (err != NULL && err->code != 0 && err->reason == 0)
		err->reason = HUB_E_PROTOCOL;
	return rc;
}

/* A short identifier-like string: no control characters, bounded. */
static int
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
req_name(const json_t *obj, const char *ctx, const char *key,
    struct err *err)
{
	const char *s;
	int rc;

	if ((rc = jsonx_req_string(obj, ctx, key, &s, err)) != 0)
		return rc;
	if (!name_ok(s, NAME_MAX_))
		return err_set(err, ERR_FORMAT, "%s.%s: expected a name of 1 to "
		    "%d printable bytes", ctx, key, NAME_MAX_);
	return 0;
}

/* Optional spec strings and tags. */
static int
spec_string(const json_t *spec, const char *ctx, const char *key,
    size_t max, int printable, struct err *err)
{
	const char *s;
	int present, rc;

	if ((rc = jsonx_opt_string(spec, ctx, key, &s, &present, err)) != 0)
		return rc;
	if (!present)
		return 0;
	if (strlen(s) > max || (printable && !name_ok(s, max)))
		return err_set(err, ERR_FORMAT, "%s.%s: not a valid value", ctx,
		    key);
	return 0;
}

static int
tag_ok(const char *s)
{
	size_t n = strlen(s);

	/* PVE tags: [a-z0-9_][a-z0-9_+.-]* (case-folded by PVE). */
	if (n == 0 || n > 64)
		return 0;
	for (; *s != '\0'; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '+' || c == '.'))
			return 0;
	}
	return 1;
}

/* An absolute path of the characters the helper accepts (R-08b). */
static int
path_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > NAME_MAX_ || s[0] != '/' || strstr(s, "..") != NULL ||
	    strstr(s, "//") != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '/' || *s == '.' ||
		    *s == '_' || *s == '-' || *s == '@' || *s == '+'))
			return 0;
	return 1;
}

/* spec.bind_mounts: [{host_path, path, read_only}], host paths unique. */
static int
check_binds(const json_t *binds, const char *ctx, struct err *err)
{
	static const char *const keys[] = { "host_path", "path", "read_only",
	    NULL };
	const char *h, *p;
	json_t *b, *o;
	char sub[96];
	size_t i, j;
	int ro, rc;

	if (json_array_size(binds) > BINDS_MAX)
		return err_set(err, ERR_FORMAT, "%s.bind_mounts: more than %d",
		    ctx, BINDS_MAX);
	json_array_foreach(binds, i, b) {
		(void) snprintf(sub, sizeof(sub), "%s.bind_mounts[%zu]", ctx,
		    i);
		if (!json_is_object(b))
			return err_set(err, ERR_FORMAT, "%s: expected object",
			    sub);
		if ((rc = jsonx_only_keys(b, sub, keys, err)) != 0 ||
		    (rc = jsonx_req_string(b, sub, "host_path", &h,
		    err)) != 0 ||
		    (rc = jsonx_req_string(b, sub, "path", &p, err)) != 0 ||
		    (rc = jsonx_opt_bool(b, sub, "read_only", &ro, NULL,
		    err)) != 0)
			return rc;
		if (!path_ok(h) || !path_ok(p))
			return err_set(err, ERR_FORMAT, "%s: host_path and "
			    "path must be absolute paths of [A-Za-z0-9._@+-/]",
			    sub);
		for (j = 0; j < i; j++) {
			o = json_array_get(binds, j);
			if (strcmp(json_string_value(json_object_get(o,
			    "path")), p) == 0)
				return err_set(err, ERR_FORMAT, "%s: path %s "
				    "appears twice", sub, p);
		}
	}
	return 0;
}

/*
 * spec.usb_devices (a felhom addition): USB ids in the forms the
 * privileged helper takes (base/usbdev.h), each once.
 */
static int
check_usb(const json_t *ids, const char *ctx, struct err *err)
{
	struct err ie;
	json_t *v;
	size_t i, j;

	if (json_array_size(ids) > USB_MAX)
		return err_set(err, ERR_FORMAT, "%s.usb_devices: more than %d",
		    ctx, USB_MAX);
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v))
			return err_set(err, ERR_FORMAT, "%s.usb_devices[%zu]: "
			    "expected a USB id string", ctx, i);
		err_init(&ie);
		if (usbdev_id_check(json_string_value(v), &ie) != 0)
			return err_set(err, ERR_FORMAT, "%s.usb_devices[%zu]: "
			    "%s", ctx, i, err_msg(&ie));
		for (j = 0; j < i; j++)
			if (usbdev_id_same(json_string_value(json_array_get(
			    ids, j)), json_string_value(v)))
				return err_set(err, ERR_FORMAT, "%s.usb_devices"
				    "[%zu]: %s appears twice", ctx, i,
				    json_string_value(v));
	}
	return 0;
}

static int
check_spec(const json_t *spec, const char *ctx, struct err *err)
{
	static const char *const keys[] = { "hostname", "cores", "memory_mib",
	    "swap_mib", "onboot", "description", "tags", "features",
	    "bind_mounts", "usb_devices", NULL };
	const char *fk;
	json_t *tags = NULL, *features = NULL, *fv, *binds = NULL, *usb = NULL;
	int64_t i64;
	size_t i;
	int b, present, rc;

	if ((rc = jsonx_only_keys(spec, ctx, keys, err)) != 0 ||
	    (rc = spec_string(spec, ctx, "hostname", 63, 1, err)) != 0 ||
	    (rc = jsonx_opt_int(spec, ctx, "cores", 1, 8192, &i64, &present,
	    err)) != 0 ||
	    (rc = jsonx_opt_int(spec, ctx, "memory_mib", 16, 64 * 1024 * 1024,
	    &i64, &present, err)) != 0 ||
	    (rc = jsonx_opt_int(spec, ctx, "swap_mib", 0, 64 * 1024 * 1024,
	    &i64, &present, err)) != 0 ||
	    (rc = jsonx_opt_bool(spec, ctx, "onboot", &b, &present,
	    err)) != 0 ||
	    (rc = spec_string(spec, ctx, "description", STR_MAX, 0,
	    err)) != 0 ||
	    (rc = jsonx_opt_array(spec, ctx, "tags", &tags, &present,
	    err)) != 0 ||
	    (rc = jsonx_opt_object(spec, ctx, "features", &features, &present,
	    err)) != 0 ||
	    (rc = jsonx_opt_array(spec, ctx, "bind_mounts", &binds, &present,
	    err)) != 0 ||
	    (binds != NULL && (rc = check_binds(binds, ctx, err)) != 0) ||
	    (rc = jsonx_opt_array(spec, ctx, "usb_devices", &usb, &present,
	    err)) != 0 ||
	    (usb != NULL && (rc = check_usb(usb, ctx, err)) != 0))
		return rc;
	if (tags != NULL) {
		if (json_array_size(tags) > TAGS_MAX)
			return err_set(err, ERR_FORMAT, "%s.tags: more than %d",
			    ctx, TAGS_MAX);
		for (i = 0; i < json_array_size(tags); i++) {
			json_t *t = json_array_get(tags, i);

			if (!json_is_string(t) || !tag_ok(json_string_value(t)))
				return err_set(err, ERR_FORMAT, "%s.tags[%zu]: "
				    "expected a tag ([A-Za-z0-9_+.-], 1 to 64)",
				    ctx, i);
		}
	}
	if (features != NULL)
		json_object_foreach(features, fk, fv) {
			if (!json_is_boolean(fv))
				return err_set(err, ERR_FORMAT, "%s.features."
				    "%.32s: expected true or false", ctx, fk);
			if (!name_ok(fk, 32))
				return err_set(err, ERR_FORMAT, "%s.features: "
				    "bad feature name", ctx);
		}
	return 0;
}

static int
check_actions(const json_t *g, const char *ctx, struct err *err)
{
	static const char *const pkeys[] = { "template", "storage",
	    "rootfs_gib", NULL };
	static const char *const rkeys[] = { "archive", "storage", NULL };
	static const char *const bkeys[] = { "snapshot", NULL };
	char sub[64];
	json_t *o;
	int64_t gib;
	int present, rc;

	if ((rc = jsonx_opt_object(g, ctx, "provision", &o, &present,
	    err)) != 0)
		return rc;
	if (present) {
		(void) snprintf(sub, sizeof(sub), "%s.provision", ctx);
		if ((rc = jsonx_only_keys(o, sub, pkeys, err)) != 0 ||
		    (rc = req_name(o, sub, "template", err)) != 0 ||
		    (rc = req_name(o, sub, "storage", err)) != 0 ||
		    (rc = jsonx_req_int(o, sub, "rootfs_gib", 1, 1024 * 1024,
		    &gib, err)) != 0)
			return rc;
	}
	if ((rc = jsonx_opt_object(g, ctx, "restore", &o, &present,
	    err)) != 0)
		return rc;
	if (present) {
		(void) snprintf(sub, sizeof(sub), "%s.restore", ctx);
		if ((rc = jsonx_only_keys(o, sub, rkeys, err)) != 0 ||
		    (rc = req_name(o, sub, "archive", err)) != 0 ||
		    (rc = req_name(o, sub, "storage", err)) != 0)
			return rc;
	}
	if ((rc = jsonx_opt_object(g, ctx, "rollback", &o, &present,
	    err)) != 0)
		return rc;
	if (present) {
		(void) snprintf(sub, sizeof(sub), "%s.rollback", ctx);
		if ((rc = jsonx_only_keys(o, sub, bkeys, err)) != 0 ||
		    (rc = req_name(o, sub, "snapshot", err)) != 0)
			return rc;
	}
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts vmids and refuses a duplicate. */
static int
unique(int64_t *v, size_t n, const char *what, struct err *err)
{
	size_t i;

	if (n < 2)
		return 0;
	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return err_set(err, ERR_FORMAT, "%s: vmid %" PRId64
			    " appears twice", what, v[i]);
	return 0;
}

static int
check_guests(const json_t *guests, struct err *err)
{
	int64_t *vmids = NULL;
	json_t *g, *spec;
	const char *state;
	char ctx[48];
	size_t i, n = json_array_size(guests);
	int present, rc;

	if (n > GUESTS_MAX)
		return err_set(err, ERR_TOO_LARGE, "desired.guests: %zu "
		    "entries, over %d", n, GUESTS_MAX);
	if (n > 0 && (vmids = calloc(n, sizeof(*vmids))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	json_array_foreach(guests, i, g) {
		(void) snprintf(ctx, sizeof(ctx), "desired.guests[%zu]", i);
		if (!json_is_object(g)) {
			rc = err_set(err, ERR_FORMAT, "%s: expected object",
			    ctx);
			goto out;
		}
		if ((rc = jsonx_req_int(g, ctx, "vmid", VMID_MIN, VMID_MAX,
		    &vmids[i], err)) != 0 ||
		    (rc = jsonx_req_string(g, ctx, "state", &state, err)) != 0)
			goto out;
		if (strcmp(state, "running") != 0 &&
		    strcmp(state, "stopped") != 0 &&
		    strcmp(state, "absent") != 0) {
			rc = err_set(err, ERR_FORMAT, "%s.state: '%.32s' is not "
			    "running, stopped or absent", ctx, state);
			goto out;
		}
		if ((rc = jsonx_opt_object(g, ctx, "spec", &spec, &present,
		    err)) != 0)
			goto out;
		if (present) {
			(void) snprintf(ctx, sizeof(ctx),
			    "desired.guests[%zu].spec", i);
			if ((rc = check_spec(spec, ctx, err)) != 0)
				goto out;
			(void) snprintf(ctx, sizeof(ctx), "desired.guests[%zu]",
			    i);
		}
		if ((rc = check_actions(g, ctx, err)) != 0)
			goto out;
	}
	rc = unique(vmids, n, "desired.guests", err);
out:
	free(vmids);
	return rc;
}

static int
check_restore_tests(const json_t *rts, struct err *err)
{
	int64_t *vmids = NULL, every, a, b;
	json_t *t, *sv;
	char ctx[48];
	size_t i, n = json_array_size(rts);
	int rc;

	if (n > GUESTS_MAX)
		return err_set(err, ERR_TOO_LARGE, "desired.restore_tests: "
		    "%zu entries, over %d", n, GUESTS_MAX);
	if (n > 0 && (vmids = calloc(n, sizeof(*vmids))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	json_array_foreach(rts, i, t) {
		(void) snprintf(ctx, sizeof(ctx), "desired.restore_tests[%zu]",
		    i);
		if (!json_is_object(t)) {
			rc = err_set(err, ERR_FORMAT, "%s: expected object",
			    ctx);
			goto out;
		}
		if ((rc = jsonx_req_int(t, ctx, "vmid", VMID_MIN, VMID_MAX,
		    &vmids[i], err)) != 0 ||
		    (rc = jsonx_req_int(t, ctx, "every_hours", 1, 24 * 366,
		    &every, err)) != 0 ||
		    (rc = jsonx_req_array(t, ctx, "scratch_vmids", &sv,
		    err)) != 0 ||
		    (rc = req_name(t, ctx, "storage", err)) != 0)
			goto out;
		if (json_array_size(sv) != 2 ||
		    jsonx_loose_int(json_array_get(sv, 0), &a) != 0 ||
		    !json_is_integer(json_array_get(sv, 0)) ||
		    !json_is_integer(json_array_get(sv, 1)) ||
		    jsonx_loose_int(json_array_get(sv, 1), &b) != 0 ||
		    a < VMID_MIN || b > VMID_MAX || a > b) {
			rc = err_set(err, ERR_FORMAT, "%s.scratch_vmids: "
			    "expected [first, last] vmids, first <= last", ctx);
			goto out;
		}
	}
	rc = unique(vmids, n, "desired.restore_tests", err);
out:
	free(vmids);
	return rc;
}

int
hub_desired_check(const json_t *doc, const char *host_id,
    int64_t stored_generation, int64_t *generation_out, struct err *err)
{
	const char *schema, *host;
	json_t *guests, *rts;
	int64_t gen;
	int present, rc;

	if (!json_is_object(doc))
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "desired: expected a JSON object");
	if ((rc = jsonx_req_string(doc, "desired", "schema", &schema,
	    err)) != 0)
		return reject(err, rc);
	if (strcmp(schema, HUB_SCHEMA_DESIRED) != 0)
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "desired.schema: '%.64s', expected %s", schema,
		    HUB_SCHEMA_DESIRED);
	if ((rc = jsonx_req_string(doc, "desired", "host_id", &host,
	    err)) != 0)
		return reject(err, rc);
	if (strcmp(host, host_id) != 0)
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "desired.host_id: '%.64s' is not this host ('%.64s')",
		    host, host_id);
	if ((rc = jsonx_req_int(doc, "desired", "generation", 0, INT64_MAX,
	    &gen, err)) != 0)
		return reject(err, rc);
	if (gen < stored_generation)
		return err_setr(err, ERR_PROTOCOL, HUB_E_PROTOCOL, 0,
		    "desired.generation: %" PRId64 " goes backwards (stored "
		    "%" PRId64 ")", gen, stored_generation);
	if ((rc = jsonx_req_array(doc, "desired", "guests", &guests,
	    err)) != 0 || (rc = check_guests(guests, err)) != 0)
		return reject(err, rc);
	if ((rc = jsonx_opt_array(doc, "desired", "restore_tests", &rts,
	    &present, err)) != 0 ||
	    (present && (rc = check_restore_tests(rts, err)) != 0))
		return reject(err, rc);
	*generation_out = gen;
	return 0;
}
