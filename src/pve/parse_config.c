/*
 * pve parse_config — GET .../lxc/{vmid}/config into struct
 * pve_lxc_config (R-02, pve-api.md §5.6): the typed keys, the indexed
 * lists (mpN, netN, devN, unusedN), the raw lxc.* pairs, and every other
 * key kept as text in `extra` so it can be reported.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

/* ---- LXC config ----------------------------------------------------- */

static void
kv_free(struct pve_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n && kv != NULL; i++)
		free(kv[i].value);
	free(kv);
}

void
pve_lxc_config_reset(struct pve_lxc_config *v)
{
	if (v == NULL)
		return;
	kv_free(v->mps, v->n_mps);
	kv_free(v->nets, v->n_nets);
	kv_free(v->devs, v->n_devs);
	kv_free(v->unused, v->n_unused);
	kv_free(v->lxc, v->n_lxc);
	kv_free(v->extra, v->n_extra);
	json_decref(v->raw);
	memset(v, 0, sizeof(*v));
}

/* Text form of a scalar config value (numbers as PVE would print). */
static char *
value_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		if (pve_asprintf(&s, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v)) != 0)
			return NULL;
		return s;
	}
	if (json_is_real(v)) {
		if (pve_asprintf(&s, "%.17g", json_real_value(v)) != 0)
			return NULL;
		return s;
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "1" : "0");
	if (json_is_null(v))
		return strdup("");
	return jsonx_dump(v);
}

static int
kv_push(struct pve_kv **list, size_t *n, const char *key, char *value)
{
	struct pve_kv *nl;

	if ((nl = realloc(*list, (*n + 1) * sizeof(*nl))) == NULL)
		return ERR_NOMEM;
	*list = nl;
	nl[*n].key = key;
	nl[*n].value = value;
	(*n)++;
	return 0;
}

/* "mp12" with prefix "mp" → 12; -1 when key is not prefix + digits. */
static long
indexed(const char *key, const char *prefix)
{
	size_t pl = strlen(prefix);
	const char *p;
	long n = 0;

	if (strncmp(key, prefix, pl) != 0 || key[pl] == '\0')
		return -1;
	for (p = key + pl; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > 100000)
			return -1;
		n = n * 10 + (*p - '0');
	}
	return n;
}

static int
kv_cmp_index(const void *a, const void *b)
{
	const struct pve_kv *x = a, *y = b;
	const char *px = x->key, *py = y->key;
	long nx, ny;

	while (*px != '\0' && (*px < '0' || *px > '9'))
		px++;
	while (*py != '\0' && (*py < '0' || *py > '9'))
		py++;
	nx = strtol(px, NULL, 10);
	ny = strtol(py, NULL, 10);
	return nx < ny ? -1 : nx > ny;
}

static int
kv_cmp_key(const void *a, const void *b)
{
	const struct pve_kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

static void
kv_sort(struct pve_kv *list, size_t n, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp);
}

/* The raw "lxc": [[key, value], ...] pairs (§5.6). */
static int
parse_lxc_pairs(const json_t *arr, struct pve_lxc_config *c, struct err *err)
{
	size_t i;
	char *v;

	if (!json_is_array(arr))
		return err_set(err, ERR_FORMAT, "config.lxc: expected an array "
		    "of [key, value] pairs");
	for (i = 0; i < json_array_size(arr); i++) {
		json_t *pair = json_array_get(arr, i);
		json_t *k = json_array_get(pair, 0), *val;

		val = json_array_get(pair, 1);
		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    !json_is_string(k) || !json_is_string(val))
			return err_set(err, ERR_FORMAT, "config.lxc[%zu]: "
			    "expected a [key, value] pair of strings", i);
		if ((v = strdup(json_string_value(val))) == NULL ||
		    kv_push(&c->lxc, &c->n_lxc, json_string_value(k), v) != 0) {
			free(v);
			return err_set(err, ERR_NOMEM, "pve: out of memory");
		}
	}
	return 0;
}

enum cfg_kind { CFG_STR, CFG_INT, CFG_REAL, CFG_BOOL };

struct cfg_field {
	const char	*key;
	enum cfg_kind	 kind;
	size_t		 off;		/* offset in struct pve_lxc_config */
};

#define CFG(k, kind, field) \
	{ (k), (kind), offsetof(struct pve_lxc_config, field) }

/* §5.6 typed keys. */
static const struct cfg_field cfg_fields[] = {
	CFG("arch",		CFG_STR,	arch),
	CFG("hostname",		CFG_STR,	hostname),
	CFG("ostype",		CFG_STR,	ostype),
	CFG("rootfs",		CFG_STR,	rootfs),
	CFG("features",		CFG_STR,	features),
	CFG("startup",		CFG_STR,	startup),
	CFG("description",	CFG_STR,	description),
	CFG("tags",		CFG_STR,	tags),
	CFG("lock",		CFG_STR,	lock),
	CFG("parent",		CFG_STR,	parent),
	CFG("digest",		CFG_STR,	digest),
	CFG("env",		CFG_STR,	env),
	CFG("cores",		CFG_INT,	cores),
	CFG("cpuunits",		CFG_INT,	cpuunits),
	CFG("memory",		CFG_INT,	memory),
	CFG("swap",		CFG_INT,	swap),
	CFG("cpulimit",		CFG_REAL,	cpulimit),
	CFG("unprivileged",	CFG_BOOL,	unprivileged),
	CFG("onboot",		CFG_BOOL,	onboot),
	CFG("protection",	CFG_BOOL,	protection),
	CFG("template",		CFG_BOOL,	is_template),
	CFG("console",		CFG_BOOL,	console),
	CFG("debug",		CFG_BOOL,	debug),
};

#undef CFG

static int
cfg_typed(json_t *data, const char *key, json_t *v, struct pve_lxc_config *c,
    int *handled, struct err *err)
{
	const struct cfg_field *f;
	char *base = (char *)c;
	size_t i;

	*handled = 0;
	for (i = 0; i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++) {
		f = &cfg_fields[i];
		if (strcmp(f->key, key) != 0)
			continue;
		*handled = 1;
		switch (f->kind) {
		case CFG_STR:
			return pve_get_str(data, "config", key, 0,
			    (const char **)(void *)(base + f->off), err);
		case CFG_INT:
			return pve_get_int(data, "config", key, 0, -1,
			    (int64_t *)(void *)(base + f->off), err);
		case CFG_REAL:
			return pve_get_real(data, "config", key, -1,
			    (double *)(void *)(base + f->off), err);
		case CFG_BOOL:
		default:
			return pve_get_bool(data, "config", key, -1,
			    (int *)(void *)(base + f->off), err);
		}
	}
	(void) v;
	return 0;
}

static void
cfg_defaults(struct pve_lxc_config *c)
{
	c->cores = c->cpuunits = c->memory = c->swap = -1;
	c->cpulimit = -1;
	c->unprivileged = c->onboot = c->protection = c->is_template = -1;
	c->console = c->debug = -1;
}

int
pve_parse_lxc_config(json_t *data, struct pve_lxc_config *out,
    struct err *err)
{
	struct pve_lxc_config c;
	const char *key;
	json_t *v;
	char *text = NULL;
	int rc, handled;

	memset(&c, 0, sizeof(c));
	cfg_defaults(&c);
	if ((rc = pve_need_object(data, "config", err)) != 0)
		return rc;
	json_object_foreach(data, key, v) {
		struct pve_kv **list = NULL;
		size_t *count = NULL;

		if ((rc = cfg_typed(data, key, v, &c, &handled, err)) != 0)
			goto out;
		if (handled)
			continue;
		if (strcmp(key, "lxc") == 0) {
			if ((rc = parse_lxc_pairs(v, &c, err)) != 0)
				goto out;
			continue;
		}
		if (indexed(key, "mp") >= 0) {
			list = &c.mps;
			count = &c.n_mps;
		} else if (indexed(key, "net") >= 0) {
			list = &c.nets;
			count = &c.n_nets;
		} else if (indexed(key, "dev") >= 0) {
			list = &c.devs;
			count = &c.n_devs;
		} else if (indexed(key, "unused") >= 0) {
			list = &c.unused;
			count = &c.n_unused;
		} else {
			list = &c.extra;
			count = &c.n_extra;
		}
		if (list != &c.extra && !json_is_string(v)) {
			rc = err_set(err, ERR_FORMAT, "config.%s: expected a "
			    "string", key);
			goto out;
		}
		if ((text = value_text(v)) == NULL ||
		    kv_push(list, count, key, text) != 0) {
			rc = err_set(err, ERR_NOMEM, "pve: out of memory");
			goto out;
		}
		text = NULL;
	}
	if (c.digest == NULL) {
		rc = err_set(err, ERR_FORMAT, "config.digest: missing");
		goto out;
	}
	kv_sort(c.mps, c.n_mps, kv_cmp_index);
	kv_sort(c.nets, c.n_nets, kv_cmp_index);
	kv_sort(c.devs, c.n_devs, kv_cmp_index);
	kv_sort(c.unused, c.n_unused, kv_cmp_index);
	kv_sort(c.extra, c.n_extra, kv_cmp_key);
	c.raw = json_incref(data);
	*out = c;
	memset(&c, 0, sizeof(c));
	rc = 0;
out:
	free(text);
	pve_lxc_config_reset(&c);
	return rc;
}
