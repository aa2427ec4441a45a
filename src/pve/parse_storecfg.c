/*
 * pve parse_storecfg — the storage configuration (GET /storage) and the
 * guest config a backup stores (pct.conf text, GET .../extractconfig):
 * the two places the agent reads PVE facts the node's own lists do not
 * carry (pve-api.md §5.11, §5.13).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

#define PCT_CONF_MAX_LINE	65536

void
pve_storage_cfgs_reset(struct pve_storage_cfgs *v)
{
	if (v != NULL)
		pve_result_reset(v, sizeof(*v), v->items, v->raw);
}

static int
parse_storage_cfg(json_t *o, const char *ctx, void *item, struct err *err)
{
	struct pve_storage_cfg *s = item;
	int rc;

	if ((rc = pve_get_str(o, ctx, "storage", 1, &s->storage, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "type", 1, &s->type, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "content", 0, &s->content, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "server", 0, &s->server, err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "datastore", 0, &s->datastore,
	    err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "fingerprint", 0, &s->fingerprint,
	    err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "username", 0, &s->username,
	    err)) != 0 ||
	    (rc = pve_get_str(o, ctx, "namespace", 0, &s->ns, err)) != 0 ||
	    (rc = pve_get_bool(o, ctx, "disable", 0, &s->disabled, err)) != 0)
		return rc;
	return 0;
}

int
pve_parse_storage_cfgs(json_t *data, struct pve_storage_cfgs *out,
    struct err *err)
{
	void *items;
	int rc;

	if ((rc = pve_parse_list(data, "storage config", sizeof(*out->items),
	    parse_storage_cfg, &items, &out->n, err)) != 0)
		return rc;
	out->raw = json_incref(data);
	out->items = items;
	return 0;
}

/* PVE::Tools::decode_text: %XX back to the byte. */
static void
decode_text(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '%' && isxdigit((unsigned char)s[1]) &&
		    isxdigit((unsigned char)s[2])) {
			char hex[3] = { s[1], s[2], '\0' };

			*w++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

/* Appends "line\n" to the description being built. */
static int
desc_append(char **desc, size_t *len, const char *line)
{
	size_t n = strlen(line);
	char *d;

	if ((d = realloc(*desc, *len + n + 2)) == NULL)
		return ERR_NOMEM;
	memcpy(d + *len, line, n);
	d[*len + n] = '\n';
	d[*len + n + 1] = '\0';
	*desc = d;
	*len += n + 1;
	return 0;
}

/* One "key: value" line into conf (lxc.* pairs into conf.lxc). */
static int
conf_line(json_t *conf, char *line, size_t lineno, struct err *err)
{
	char *colon = strchr(line, ':'), *v;
	json_t *lxc, *pair, *val;

	if (colon == NULL || colon == line)
		return err_set(err, ERR_FORMAT, "pct.conf line %zu: expected "
		    "'key: value'", lineno);
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (strncmp(line, "lxc.", 4) == 0) {
		if ((lxc = json_object_get(conf, "lxc")) == NULL) {
			if ((lxc = json_array()) == NULL ||
			    json_object_set_new(conf, "lxc", lxc) != 0)
				return err_set(err, ERR_NOMEM, "out of memory");
		}
		if ((pair = json_pack("[s,s]", line, v)) == NULL ||
		    json_array_append_new(lxc, pair) != 0)
			return err_set(err, ERR_NOMEM, "out of memory");
		return 0;
	}
	for (char *k = line; *k != '\0'; k++)
		if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_')
			return err_set(err, ERR_FORMAT, "pct.conf line %zu: "
			    "bad key", lineno);
	if ((val = json_string(v)) == NULL)
		return err_set(err, ERR_FORMAT, "pct.conf line %zu: value is "
		    "not UTF-8", lineno);
	if (json_object_set_new(conf, line, val) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

int
pve_parse_pct_conf(const char *text, json_t **out, struct err *err)
{
	json_t *conf = NULL;
	char *line = NULL, *desc = NULL;
	const char *p = text, *nl;
	size_t n, lineno = 0, dlen = 0;
	int rc = 0;

	if (text == NULL)
		return err_set(err, ERR_FORMAT, "pct.conf: no text");
	if ((conf = json_object()) == NULL ||
	    (line = malloc(PCT_CONF_MAX_LINE)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	while (*p != '\0') {
		lineno++;
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n >= PCT_CONF_MAX_LINE) {
			rc = err_set(err, ERR_FORMAT, "pct.conf line %zu: too "
			    "long", lineno);
			goto out;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl != NULL ? 1 : 0);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n == 0)
			continue;
		/* parse_pct_config: a "[name]" line starts another section. */
		if (line[0] == '[')
			break;
		if (line[0] == '#') {
			decode_text(line + 1);
			if (desc_append(&desc, &dlen, line + 1) != 0) {
				rc = err_set(err, ERR_NOMEM, "out of memory");
				goto out;
			}
			continue;
		}
		if ((rc = conf_line(conf, line, lineno, err)) != 0)
			goto out;
	}
	if (desc != NULL) {
		json_t *d = json_string(desc);

		if (d == NULL) {
			rc = err_set(err, ERR_FORMAT, "pct.conf: description "
			    "is not UTF-8");
			goto out;
		}
		if (json_object_set_new(conf, "description", d) != 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	*out = conf;
	conf = NULL;
out:
	json_decref(conf);
	free(line);
	free(desc);
	return rc;
}
