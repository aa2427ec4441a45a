/*
 * config — JSON file + environment overrides, validated per mode.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/json.h"
#include "base/log.h"

extern char **environ;

enum ckey_type {
	CKEY_STRING,
	CKEY_INT,
	CKEY_BOOL,
	CKEY__COUNT
};

/* Every key of the file; the single table for parsing and overrides. */
struct ckey {
	const char	*section;	/* NULL: top level */
	const char	*key;
	enum ckey_type	 type;
	int		 secret;
};

static const struct ckey ckeys[] = {
	/* section	key			type		secret */
	{ "host",	"id",			CKEY_STRING,	0 },
	{ "host",	"node",			CKEY_STRING,	0 },
	{ NULL,		"database",		CKEY_STRING,	0 },
	{ "pve",	"url",			CKEY_STRING,	0 },
	{ "pve",	"token_id",		CKEY_STRING,	0 },
	{ "pve",	"token_secret",		CKEY_STRING,	1 },
	{ "pve",	"fingerprint",		CKEY_STRING,	0 },
	{ "pve",	"ca_file",		CKEY_STRING,	0 },
	{ "pve",	"insecure",		CKEY_BOOL,	0 },
	{ "pve",	"timeout_s",		CKEY_INT,	0 },
	{ "pve",	"max_concurrent",	CKEY_INT,	0 },
	{ "hub",	"mode",			CKEY_STRING,	0 },
	{ "hub",	"url",			CKEY_STRING,	0 },
	{ "hub",	"token",		CKEY_STRING,	1 },
	{ "hub",	"ca_file",		CKEY_STRING,	0 },
	{ NULL,		"desired_file",		CKEY_STRING,	0 },
	{ NULL,		"retention_days",	CKEY_INT,	0 },
	{ "authz",	"operational_signers",	CKEY_STRING,	0 },
	{ "authz",	"recovery_signers",	CKEY_STRING,	0 },
	{ "authz",	"clock_skew_s",		CKEY_INT,	0 },
	{ "authz",	"max_window_s",		CKEY_INT,	0 },
	{ "authz",	"sign_request_ttl_s",	CKEY_INT,	0 },
	{ "priv",	"mode",			CKEY_STRING,	0 },
	{ "priv",	"socket",		CKEY_STRING,	0 },
	{ "priv",	"agent_user",		CKEY_STRING,	0 },
	{ "priv",	"bind_roots",		CKEY_STRING,	0 },
	{ "priv",	"vmid_min",		CKEY_INT,	0 },
	{ "priv",	"vmid_max",		CKEY_INT,	0 },
	{ "priv",	"pct",			CKEY_STRING,	0 },
	{ "priv",	"pvesm",		CKEY_STRING,	0 },
	{ "priv",	"smartctl",		CKEY_STRING,	0 },
	{ "priv",	"sensors",		CKEY_STRING,	0 },
	{ "priv",	"timeout_s",		CKEY_INT,	0 },
	{ "priv",	"idle_exit_s",		CKEY_INT,	0 },
	{ "priv",	"sysfs_root",		CKEY_STRING,	0 },
	{ "restore_tests", "hold_s",		CKEY_INT,	0 },
	{ "log",	"level",		CKEY_STRING,	0 },
	{ "log",	"format",		CKEY_STRING,	0 },
};
#define NCKEYS (sizeof(ckeys) / sizeof(ckeys[0]))

static const char *const sections[] = { "host", "pve", "hub", "authz",
    "priv", "restore_tests", "log", NULL };

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	if (c->pve_token_secret != NULL)
		explicit_bzero(c->pve_token_secret,
		    strlen(c->pve_token_secret));
	if (c->hub_token != NULL)
		explicit_bzero(c->hub_token, strlen(c->hub_token));
	free(c->path);
	free(c->host_id);
	free(c->host_node);
	free(c->database);
	free(c->pve_url);
	free(c->pve_token_id);
	free(c->pve_token_secret);
	free(c->pve_fingerprint);
	free(c->pve_ca_file);
	free(c->hub_url);
	free(c->hub_token);
	free(c->hub_ca_file);
	free(c->desired_file);
	free(c->authz_operational);
	free(c->authz_recovery);
	free(c->priv_socket);
	free(c->priv_agent_user);
	free(c->priv_bind_roots);
	free(c->priv_pct);
	free(c->priv_pvesm);
	free(c->priv_smartctl);
	free(c->priv_sensors);
	free(c->priv_sysfs_root);
	free(c);
}

static void
env_name(const struct ckey *k, char *out, size_t n)
{
	size_t i;

	if (k->section != NULL)
		(void) snprintf(out, n, "FELHOM_AGENT_%s_%s", k->section,
		    k->key);
	else
		(void) snprintf(out, n, "FELHOM_AGENT_%s", k->key);
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
}

static const char *
env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* Sets obj.section.key (creating the section) to v; steals v. */
static int
json_put(json_t *root, const struct ckey *k, json_t *v, struct err *err)
{
	json_t *sec = root;

	if (v == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (k->section != NULL) {
		sec = json_object_get(root, k->section);
		if (sec == NULL || json_is_null(sec)) {
			sec = json_object();
			if (sec == NULL || json_object_set_new(root,
			    k->section, sec) != 0) {
				json_decref(v);
				return err_set(err, ERR_NOMEM, "out of memory");
			}
		}
		if (!json_is_object(sec)) {
			json_decref(v);
			return err_set(err, ERR_CONFIG, "%s: expected object",
			    k->section);
		}
	}
	if (json_object_set_new(sec, k->key, v) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

/* Applies FELHOM_AGENT_* overrides onto root; unknown names are errors. */
static int
apply_env(json_t *root, char *const *envp, struct err *err)
{
	char name[128];
	size_t i;
	int rc;

	for (char *const *e = envp; e != NULL && *e != NULL; e++) {
		size_t len = strcspn(*e, "=");
		int known = 0;

		if (strncmp(*e, "FELHOM_AGENT_", 13) != 0)
			continue;
		for (i = 0; i < NCKEYS; i++) {
			env_name(&ckeys[i], name, sizeof(name));
			if (strlen(name) == len && strncmp(*e, name, len) == 0)
				known = 1;
		}
		if (!known)
			return err_set(err, ERR_CONFIG, "environment: %.*s is "
			    "not a configuration key (see "
			    "docs/configuration.md)", (int)len, *e);
	}
	for (i = 0; i < NCKEYS; i++) {
		const struct ckey *k = &ckeys[i];
		const char *v;
		json_t *js = NULL;
		char *end;
		long long n;

		env_name(k, name, sizeof(name));
		if ((v = env_get(envp, name)) == NULL)
			continue;
		switch (k->type) {
		case CKEY_STRING:
			/* Jansson refuses a value that is not UTF-8. */
			if (v[0] != '\0' && (js = json_string(v)) == NULL)
				return err_set(err, ERR_CONFIG, "%s: the value "
				    "is not valid UTF-8", name);
			rc = json_put(root, k, v[0] == '\0' ? json_null() : js,
			    err);
			break;
		case CKEY_INT:
			errno = 0;
			n = strtoll(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno != 0)
				return err_set(err, ERR_CONFIG, "%s: '%s' is "
				    "not an integer", name, v);
			rc = json_put(root, k, json_integer(n), err);
			break;
		case CKEY_BOOL:
			if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
				rc = json_put(root, k, json_true(), err);
			else if (strcmp(v, "false") == 0 ||
			    strcmp(v, "0") == 0)
				rc = json_put(root, k, json_false(), err);
			else
				return err_set(err, ERR_CONFIG, "%s: '%s' is "
				    "not a boolean (true/false)", name, v);
			break;
		default:
			return err_set(err, ERR_INTERNAL, "bad key type");
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Any failure while validating is a configuration error. */
static int
cfg_err(struct err *err, int rc)
{
	if (rc == 0)
		return 0;
	if (rc == ERR_NOMEM)
		return rc;
	if (err != NULL && err->code != 0)
		err->code = ERR_CONFIG;
	return ERR_CONFIG;
}

/* Unknown keys anywhere are errors: a typo must not silently do nothing. */
static int
check_keys(const json_t *root, struct err *err)
{
	const char *top[NCKEYS + 8], *sub[NCKEYS + 1];
	size_t nt = 0, ns, i, j;
	int rc;

	for (i = 0; i < NCKEYS; i++)
		if (ckeys[i].section == NULL)
			top[nt++] = ckeys[i].key;
	for (i = 0; sections[i] != NULL; i++)
		top[nt++] = sections[i];
	top[nt] = NULL;
	if ((rc = jsonx_only_keys(root, "", top, err)) != 0)
		return cfg_err(err, rc);
	for (i = 0; sections[i] != NULL; i++) {
		json_t *sec = json_object_get(root, sections[i]);

		if (sec == NULL || json_is_null(sec))
			continue;
		ns = 0;
		for (j = 0; j < NCKEYS; j++)
			if (ckeys[j].section != NULL &&
			    strcmp(ckeys[j].section, sections[i]) == 0)
				sub[ns++] = ckeys[j].key;
		sub[ns] = NULL;
		if ((rc = jsonx_only_keys(sec, sections[i], sub, err)) != 0)
			return cfg_err(err, rc);
	}
	return 0;
}

static json_t *
section(const json_t *root, const char *name, struct err *err, int *rc)
{
	json_t *sec = NULL;

	*rc = jsonx_opt_object(root, "", name, &sec, NULL, err);
	return sec;
}

/* Optional string: *out = strdup(value) or strdup(dflt) or NULL. */
static int
get_str(const json_t *sec, const char *ctx, const char *key,
    const char *dflt, char **out, struct err *err)
{
	const char *v = NULL;
	int rc;

	if (sec != NULL &&
	    (rc = jsonx_opt_string(sec, ctx, key, &v, NULL, err)) != 0)
		return cfg_err(err, rc);
	if (v != NULL && v[0] == '\0')
		return err_set(err, ERR_CONFIG, "%s%s%s: must not be empty "
		    "(use null or leave it out)", ctx, ctx[0] ? "." : "", key);
	if (v == NULL)
		v = dflt;
	if (v == NULL) {
		*out = NULL;
		return 0;
	}
	if ((*out = strdup(v)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	return 0;
}

static int
get_int(const json_t *sec, const char *ctx, const char *key, long min,
    long max, long dflt, long *out, struct err *err)
{
	int64_t v = dflt;
	int rc;

	if (sec != NULL && (rc = jsonx_opt_int(sec, ctx, key, min, max, &v,
	    NULL, err)) != 0)
		return cfg_err(err, rc);
	*out = (long)v;
	return 0;
}

static int
valid_host_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-')
			return 0;
	return 1;
}

/* "USER@REALM!TOKENID" (pve-api.md §2.1). */
static int
valid_token_id(const char *s)
{
	const char *at = strchr(s, '@'), *bang = strchr(s, '!');

	if (at == NULL || bang == NULL || at == s || bang < at + 2 ||
	    bang[1] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || *s == '=' || *s == ':')
			return 0;
	return 1;
}

/* Normalizes a SHA-256 fingerprint to "AA:BB:..." (32 bytes). */
static int
norm_fingerprint(char *fp)
{
	size_t i;

	if (strlen(fp) != 95)
		return 0;
	for (i = 0; i < 95; i++) {
		if (i % 3 == 2) {
			if (fp[i] != ':')
				return 0;
			continue;
		}
		if (!isxdigit((unsigned char)fp[i]))
			return 0;
		fp[i] = (char)toupper((unsigned char)fp[i]);
	}
	return 1;
}

static int
https_url(const char *u)
{
	return strncmp(u, "https://", 8) == 0 && u[8] != '\0' &&
	    u[8] != '/';
}

/* An absolute path key with a default. */
static int
get_path(const json_t *sec, const char *ctx, const char *key,
    const char *dflt, char **out, struct err *err)
{
	int rc;

	if ((rc = get_str(sec, ctx, key, dflt, out, err)) != 0)
		return rc;
	if (*out != NULL && (*out)[0] != '/')
		return err_set(err, ERR_CONFIG, "%s.%s: '%s' must be an "
		    "absolute path", ctx, key, *out);
	return 0;
}

/* priv and restore_tests: the helper's policy and the agent's use of it. */
static int
validate_priv(const json_t *root, struct config *c, struct err *err)
{
	json_t *priv, *rt;
	const char *mode = NULL;
	int rc = 0;

	priv = section(root, "priv", err, &rc);
	if (rc == 0)
		rt = section(root, "restore_tests", err, &rc);
	if (rc != 0)
		return cfg_err(err, rc);
	if (priv != NULL && (rc = jsonx_opt_string(priv, "priv", "mode",
	    &mode, NULL, err)) != 0)
		return cfg_err(err, rc);
	if (mode == NULL || strcmp(mode, "off") == 0)
		c->priv_on = 0;
	else if (strcmp(mode, "on") == 0)
		c->priv_on = 1;
	else
		return err_set(err, ERR_CONFIG, "priv.mode: '%s' must be "
		    "\"on\" or \"off\"", mode);
	if ((rc = get_path(priv, "priv", "socket",
	    "/run/felhom-agent/priv.sock", &c->priv_socket, err)) != 0 ||
	    (rc = get_str(priv, "priv", "agent_user", "felhom",
	    &c->priv_agent_user, err)) != 0 ||
	    (rc = get_str(priv, "priv", "bind_roots", "/mnt/bindmounts",
	    &c->priv_bind_roots, err)) != 0 ||
	    (rc = get_int(priv, "priv", "vmid_min", 100, 999999999, 100,
	    &c->priv_vmid_min, err)) != 0 ||
	    (rc = get_int(priv, "priv", "vmid_max", 100, 999999999, 999999999,
	    &c->priv_vmid_max, err)) != 0 ||
	    (rc = get_path(priv, "priv", "pct", "/usr/sbin/pct", &c->priv_pct,
	    err)) != 0 ||
	    (rc = get_path(priv, "priv", "pvesm", "/usr/sbin/pvesm",
	    &c->priv_pvesm, err)) != 0 ||
	    (rc = get_path(priv, "priv", "smartctl", "/usr/sbin/smartctl",
	    &c->priv_smartctl, err)) != 0 ||
	    (rc = get_path(priv, "priv", "sensors", "/usr/bin/sensors",
	    &c->priv_sensors, err)) != 0 ||
	    (rc = get_int(priv, "priv", "timeout_s", 10, 86400, 3600,
	    &c->priv_timeout_s, err)) != 0 ||
	    (rc = get_int(priv, "priv", "idle_exit_s", 0, 86400, 60,
	    &c->priv_idle_exit_s, err)) != 0 ||
	    (rc = get_path(priv, "priv", "sysfs_root", "/sys",
	    &c->priv_sysfs_root, err)) != 0 ||
	    (rc = get_int(rt, "restore_tests", "hold_s", 1, 86400, 30,
	    &c->rt_hold_s, err)) != 0)
		return rc;
	if (c->priv_vmid_min > c->priv_vmid_max)
		return err_set(err, ERR_CONFIG, "priv.vmid_min (%ld) is above "
		    "priv.vmid_max (%ld)", c->priv_vmid_min, c->priv_vmid_max);
	if (c->priv_agent_user[0] == '-' ||
	    strspn(c->priv_agent_user, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(c->priv_agent_user))
		return err_set(err, ERR_CONFIG, "priv.agent_user: '%s' is not "
		    "a user name or uid", c->priv_agent_user);
	return 0;
}

static int
validate(const json_t *root, struct config *c, struct err *err)
{
	json_t *host, *pve, *hub, *authz, *log;
	char hn[HOST_NAME_MAX + 1];
	const char *mode = NULL, *lv = NULL, *lf = NULL;
	int rc, present;

	if ((rc = check_keys(root, err)) != 0)
		return cfg_err(err, rc);
	host = section(root, "host", err, &rc);
	if (rc == 0)
		pve = section(root, "pve", err, &rc);
	if (rc == 0)
		hub = section(root, "hub", err, &rc);
	if (rc == 0)
		authz = section(root, "authz", err, &rc);
	if (rc == 0)
		log = section(root, "log", err, &rc);
	if (rc != 0)
		return cfg_err(err, rc);

	/* host */
	if (gethostname(hn, sizeof(hn)) != 0)
		(void) snprintf(hn, sizeof(hn), "localhost");
	hn[sizeof(hn) - 1] = '\0';
	hn[strcspn(hn, ".")] = '\0';
	if ((rc = get_str(host, "host", "id", NULL, &c->host_id, err)) != 0 ||
	    (rc = get_str(host, "host", "node", hn, &c->host_node, err)) != 0)
		return rc;
	if (c->host_id == NULL)
		return err_set(err, ERR_CONFIG, "host.id: required (the host "
		    "id the hub and signed operations use)");
	if (!valid_host_id(c->host_id))
		return err_set(err, ERR_CONFIG, "host.id: '%s' must be 1-64 of "
		    "[A-Za-z0-9._-]", c->host_id);

	if ((rc = get_str(root, "", "database", CONFIG_DEFAULT_DB,
	    &c->database, err)) != 0 ||
	    (rc = get_int(root, "", "retention_days", 1, 36500,
	    CONFIG_DEFAULT_RETENTION_DAYS, &c->retention_days, err)) != 0)
		return rc;
	if (c->database[0] != '/')
		return err_set(err, ERR_CONFIG, "database: '%s' must be an "
		    "absolute path", c->database);

	/* pve */
	if ((rc = get_str(pve, "pve", "url", CONFIG_DEFAULT_PVE_URL,
	    &c->pve_url, err)) != 0 ||
	    (rc = get_str(pve, "pve", "token_id", NULL, &c->pve_token_id,
	    err)) != 0 ||
	    (rc = get_str(pve, "pve", "token_secret", NULL,
	    &c->pve_token_secret, err)) != 0 ||
	    (rc = get_str(pve, "pve", "fingerprint", NULL,
	    &c->pve_fingerprint, err)) != 0 ||
	    (rc = get_str(pve, "pve", "ca_file", NULL, &c->pve_ca_file,
	    err)) != 0 ||
	    (rc = get_int(pve, "pve", "timeout_s", 1, 600, 30,
	    &c->pve_timeout_s, err)) != 0 ||
	    (rc = get_int(pve, "pve", "max_concurrent", 1, 64, 4,
	    &c->pve_max_concurrent, err)) != 0)
		return rc;
	c->pve_insecure = 0;
	if (pve != NULL && (rc = jsonx_opt_bool(pve, "pve", "insecure",
	    &c->pve_insecure, NULL, err)) != 0)
		return cfg_err(err, rc);
	if (!https_url(c->pve_url))
		return err_set(err, ERR_CONFIG, "pve.url: '%s' must be an "
		    "https:// URL", c->pve_url);
	if (c->pve_token_id == NULL)
		return err_set(err, ERR_CONFIG, "pve.token_id: required "
		    "(USER@REALM!TOKENID, e.g. felhom@pve!agent)");
	if (!valid_token_id(c->pve_token_id))
		return err_set(err, ERR_CONFIG, "pve.token_id: '%s' is not of "
		    "the form USER@REALM!TOKENID", c->pve_token_id);
	if (c->pve_token_secret == NULL)
		return err_set(err, ERR_CONFIG, "pve.token_secret: required "
		    "(or set FELHOM_AGENT_PVE_TOKEN_SECRET)");
	if (c->pve_fingerprint != NULL && c->pve_ca_file != NULL)
		return err_set(err, ERR_CONFIG, "pve.fingerprint and "
		    "pve.ca_file: give one trust mode, not both");
	if (c->pve_insecure && (c->pve_fingerprint != NULL ||
	    c->pve_ca_file != NULL))
		return err_set(err, ERR_CONFIG, "pve.insecure: true cannot be "
		    "combined with pve.%s", c->pve_fingerprint != NULL ?
		    "fingerprint" : "ca_file");
	if (c->pve_fingerprint != NULL &&
	    !norm_fingerprint(c->pve_fingerprint))
		return err_set(err, ERR_CONFIG, "pve.fingerprint: expected the "
		    "SHA-256 form AA:BB:...:FF (32 hex pairs) as the PVE GUI "
		    "shows it");
	if (c->pve_fingerprint == NULL && !c->pve_insecure &&
	    c->pve_ca_file == NULL &&
	    (c->pve_ca_file = strdup(CONFIG_DEFAULT_PVE_CA)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");

	/* hub */
	if (hub != NULL && (rc = jsonx_opt_string(hub, "hub", "mode", &mode,
	    NULL, err)) != 0)
		return cfg_err(err, rc);
	if (mode == NULL)
		mode = "on";
	if (strcmp(mode, "on") == 0)
		c->hub_on = 1;
	else if (strcmp(mode, "off") == 0)
		c->hub_on = 0;
	else
		return err_set(err, ERR_CONFIG, "hub.mode: '%s' must be \"on\" "
		    "or \"off\"", mode);
	if ((rc = get_str(hub, "hub", "url", NULL, &c->hub_url, err)) != 0 ||
	    (rc = get_str(hub, "hub", "token", NULL, &c->hub_token, err)) != 0 ||
	    (rc = get_str(hub, "hub", "ca_file", NULL, &c->hub_ca_file,
	    err)) != 0 ||
	    (rc = get_str(root, "", "desired_file", NULL, &c->desired_file,
	    err)) != 0)
		return rc;
	if (c->hub_on) {
		if (c->hub_url == NULL)
			return err_set(err, ERR_CONFIG, "hub.url: required "
			    "when hub.mode is \"on\"");
		if (!https_url(c->hub_url))
			return err_set(err, ERR_CONFIG, "hub.url: '%s' must be "
			    "an https:// URL", c->hub_url);
		if (c->hub_token == NULL)
			return err_set(err, ERR_CONFIG, "hub.token: required "
			    "when hub.mode is \"on\" (or set "
			    "FELHOM_AGENT_HUB_TOKEN)");
	} else if (c->desired_file == NULL)
		return err_set(err, ERR_CONFIG, "desired_file: required when "
		    "hub.mode is \"off\" (the local felhom.desired/v1 file)");

	/* authz */
	if ((rc = get_str(authz, "authz", "operational_signers",
	    "/etc/felhom-agent/operational_signers", &c->authz_operational,
	    err)) != 0 ||
	    (rc = get_str(authz, "authz", "recovery_signers",
	    "/etc/felhom-agent/recovery_signers", &c->authz_recovery,
	    err)) != 0 ||
	    (rc = get_int(authz, "authz", "clock_skew_s", 0,
	    CONFIG_CLOCK_SKEW_MAX_S, 120,
	    &c->authz_clock_skew_s, err)) != 0 ||
	    (rc = get_int(authz, "authz", "max_window_s", 60, 30 * 86400,
	    86400, &c->authz_max_window_s, err)) != 0 ||
	    (rc = get_int(authz, "authz", "sign_request_ttl_s", 60,
	    30 * 86400, 86400, &c->authz_sign_request_ttl_s, err)) != 0)
		return rc;
	if (c->authz_sign_request_ttl_s > c->authz_max_window_s)
		return err_set(err, ERR_CONFIG, "authz.sign_request_ttl_s: %ld "
		    "exceeds authz.max_window_s (%ld): the agent's own sign "
		    "requests would be refused", c->authz_sign_request_ttl_s,
		    c->authz_max_window_s);

	if ((rc = validate_priv(root, c, err)) != 0)
		return rc;

	/* log */
	present = 0;
	if (log != NULL && ((rc = jsonx_opt_string(log, "log", "level", &lv,
	    &present, err)) != 0 || (rc = jsonx_opt_string(log, "log",
	    "format", &lf, NULL, err)) != 0))
		return cfg_err(err, rc);
	c->log_level = lv == NULL ? LOG_LEVEL_INFO : log_level_parse(lv);
	if (c->log_level < 0)
		return err_set(err, ERR_CONFIG, "log.level: '%s' must be one "
		    "of error, warn, notice, info, debug", lv);
	c->log_format = lf == NULL ? LOG_FORMAT_TEXT : log_format_parse(lf);
	if (c->log_format < 0)
		return err_set(err, ERR_CONFIG, "log.format: '%s' must be "
		    "\"text\" or \"json\"", lf);
	return 0;
}

static int
load_json(json_t *root, const char *path, char *const *envp,
    struct config **out, struct err *err)
{
	struct config *c;
	int rc;

	if (!json_is_object(root))
		return err_set(err, ERR_CONFIG, "%s: the configuration must be "
		    "a JSON object", path);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		config_free(c);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((rc = apply_env(root, envp != NULL ? envp : environ, err)) != 0 ||
	    (rc = validate(root, c, err)) != 0) {
		config_free(c);
		(void) err_prefix(err, "%s: ", path);
		return cfg_err(err, rc);
	}
	*out = c;
	return 0;
}

static int
has_secret(const json_t *root)
{
	const json_t *pve = json_object_get(root, "pve");
	const json_t *hub = json_object_get(root, "hub");

	return json_is_string(json_object_get(pve, "token_secret")) ||
	    json_is_string(json_object_get(hub, "token"));
}

int
config_load(const char *path, char *const *envp, struct config **out,
    struct err *err)
{
	json_t *root = NULL;
	struct stat st;
	int rc;

	if (path == NULL)
		path = CONFIG_DEFAULT_PATH;
	if ((rc = jsonx_parse_file(path, CONFIG_MAX_BYTES, JSONX_DUPLICATES,
	    &root, err)) != 0) {
		if (rc == ERR_FORMAT)
			rc = err_set(err, ERR_CONFIG, "%s", err_msg(err));
		if (err != NULL && rc == ERR_FORMAT)
			err->code = ERR_CONFIG;
		return rc == ERR_FORMAT ? ERR_CONFIG : rc;
	}
	/*
	 * A secret in a file group or others can read is already leaked:
	 * refuse (issue 10; docs/configuration.md).
	 */
	if (has_secret(root) && stat(path, &st) == 0 &&
	    (st.st_mode & (S_IRGRP | S_IROTH))) {
		rc = err_set(err, ERR_CONFIG, "%s: holds a secret but is "
		    "readable by %s (mode %04o); run: chmod 600 %s", path,
		    (st.st_mode & S_IROTH) ? "everyone" : "its group",
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	rc = load_json(root, path, envp, out, err);
out:
	json_decref(root);
	return rc;
}

int
config_load_helper(const char *path, char *const *envp, struct config **out,
    struct err *err)
{
	json_t *root = NULL;
	struct config *c = NULL;
	struct stat st;
	int rc;

	if (path == NULL)
		path = CONFIG_DEFAULT_PATH;
	if ((rc = jsonx_parse_file(path, CONFIG_MAX_BYTES, JSONX_DUPLICATES,
	    &root, err)) != 0) {
		if (err != NULL && rc == ERR_FORMAT)
			err->code = ERR_CONFIG;
		return rc == ERR_FORMAT ? ERR_CONFIG : rc;
	}
	/* Root reads its policy only from a file nobody else can change. */
	if (geteuid() == 0 && stat(path, &st) == 0 &&
	    (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
		rc = err_set(err, ERR_CONFIG, "%s: the helper runs as root and "
		    "reads its policy from this file, so it must be owned by "
		    "root and writable by nobody else (owner %u, mode %04o)",
		    path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (!json_is_object(root)) {
		rc = err_set(err, ERR_CONFIG, "%s: the configuration must be a "
		    "JSON object", path);
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = apply_env(root, envp != NULL ? envp : environ, err)) != 0 ||
	    (rc = check_keys(root, err)) != 0 ||
	    (rc = validate_priv(root, c, err)) != 0) {
		(void) err_prefix(err, "%s: ", path);
		rc = cfg_err(err, rc);
		goto out;
	}
	c->log_level = LOG_LEVEL_INFO;
	c->log_format = LOG_FORMAT_TEXT;
	*out = c;
	c = NULL;
out:
	config_free(c);
	json_decref(root);
	return rc;
}

int
config_load_text(const char *text, const char *what, char *const *envp,
    struct config **out, struct err *err)
{
	json_t *root = NULL;
	int rc;

	if ((rc = jsonx_parse(text, strlen(text), CONFIG_MAX_BYTES,
	    JSONX_DUPLICATES, what, &root, err)) != 0) {
		if (err != NULL)
			err->code = ERR_CONFIG;
		return ERR_CONFIG;
	}
	rc = load_json(root, what, envp, out, err);
	json_decref(root);
	return rc;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
secret(const char *s)
{
	return s != NULL ? json_string("<redacted>") : json_null();
}

json_t *
config_to_json(const struct config *c)
{
	return json_pack("{s:{s:o,s:o},s:o,"
	    "s:{s:o,s:o,s:o,s:o,s:o,s:b,s:I,s:I},"
	    "s:{s:s,s:o,s:o,s:o},s:o,s:I,"
	    "s:{s:o,s:o,s:I,s:I,s:I},"
	    "s:{s:s,s:o,s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:I,s:I,s:o},"
	    "s:{s:I},s:{s:s,s:s}}",
	    "host", "id", str_or_null(c->host_id),
		"node", str_or_null(c->host_node),
	    "database", str_or_null(c->database),
	    "pve", "url", str_or_null(c->pve_url),
		"token_id", str_or_null(c->pve_token_id),
		"token_secret", secret(c->pve_token_secret),
		"fingerprint", str_or_null(c->pve_fingerprint),
		"ca_file", str_or_null(c->pve_ca_file),
		"insecure", c->pve_insecure,
		"timeout_s", (json_int_t)c->pve_timeout_s,
		"max_concurrent", (json_int_t)c->pve_max_concurrent,
	    "hub", "mode", c->hub_on ? "on" : "off",
		"url", str_or_null(c->hub_url),
		"token", secret(c->hub_token),
		"ca_file", str_or_null(c->hub_ca_file),
	    "desired_file", str_or_null(c->desired_file),
	    "retention_days", (json_int_t)c->retention_days,
	    "authz", "operational_signers", str_or_null(c->authz_operational),
		"recovery_signers", str_or_null(c->authz_recovery),
		"clock_skew_s", (json_int_t)c->authz_clock_skew_s,
		"max_window_s", (json_int_t)c->authz_max_window_s,
		"sign_request_ttl_s",
		    (json_int_t)c->authz_sign_request_ttl_s,
	    "priv", "mode", c->priv_on ? "on" : "off",
		"socket", str_or_null(c->priv_socket),
		"agent_user", str_or_null(c->priv_agent_user),
		"bind_roots", str_or_null(c->priv_bind_roots),
		"vmid_min", (json_int_t)c->priv_vmid_min,
		"vmid_max", (json_int_t)c->priv_vmid_max,
		"pct", str_or_null(c->priv_pct),
		"pvesm", str_or_null(c->priv_pvesm),
		"smartctl", str_or_null(c->priv_smartctl),
		"sensors", str_or_null(c->priv_sensors),
		"timeout_s", (json_int_t)c->priv_timeout_s,
		"idle_exit_s", (json_int_t)c->priv_idle_exit_s,
		"sysfs_root", str_or_null(c->priv_sysfs_root),
	    "restore_tests", "hold_s", (json_int_t)c->rt_hold_s,
	    "log", "level", log_level_name((enum log_level)c->log_level),
		"format", c->log_format == LOG_FORMAT_JSON ? "json" : "text");
}

int
config_register_secrets(const struct config *c)
{
	int rc;

	if ((rc = log_add_secret(c->pve_token_secret)) != 0)
		return rc;
	return log_add_secret(c->hub_token);
}
