/*
 * hubtest — helpers shared by the hub-area suites.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/json.h"
#include "hubtest.h"
#include "net/https.h"

void
ht_sims_start(struct ht_env *e, const char *const pve_extra[])
{
	ck_assert_int_eq(https_global_init(NULL), 0);
	ck_assert_int_eq(tu_hub_sim_start(&e->hub, (const char *const[]){
	    "--quiet", NULL }), 0);
	ck_assert_int_eq(tu_pve_sim_start(&e->pve, pve_extra), 0);
}

void
ht_sims_stop(struct ht_env *e)
{
	tu_sim_stop(&e->hub);
	tu_sim_stop(&e->pve);
}

char *
ht_config_text(const struct ht_env *e, int hub_on)
{
	json_t *c;
	char pveurl[256], *s;

	(void) snprintf(pveurl, sizeof(pveurl), "%s/api2/json", e->pve.base);
	c = json_pack("{s:{s:s,s:s},s:s,s:{s:s,s:s,s:s,s:s},"
	    "s:{s:s,s:s,s:s,s:s},s:s,s:{s:s}}",
	    "host", "id", "pve-01", "node", tu_sim_str(&e->pve, "node"),
	    "database", e->dbpath,
	    "pve", "url", pveurl,
		"token_id", tu_sim_str(&e->pve, "token_id"),
		"token_secret", tu_sim_str(&e->pve, "token_secret"),
		"fingerprint", tu_sim_str(&e->pve, "fingerprint"),
	    "hub", "mode", hub_on ? "on" : "off",
		"url", tu_sim_str(&e->hub, "url"),
		"token", tu_sim_str(&e->hub, "token"),
		"ca_file", e->hub.ca_file,
	    "desired_file", e->desired_file,
	    "log", "level", "debug");
	ck_assert_ptr_nonnull(c);
	s = json_dumps(c, JSON_INDENT(1));
	json_decref(c);
	return s;
}

void
ht_open(struct ht_env *e, int hub_on)
{
	static char *const noenv[] = { NULL };
	struct hub_options ho;
	struct err err;
	char *text;

	ck_assert_ptr_nonnull(e->dir = tu_tmpdir());
	(void) snprintf(e->dbpath, sizeof(e->dbpath), "%s/state.db", e->dir);
	(void) snprintf(e->desired_file, sizeof(e->desired_file),
	    "%s/desired.json", e->dir);
	text = ht_config_text(e, hub_on);
	err_init(&err);
	ck_assert_msg(config_load_text(text, "test config", noenv, &e->cfg,
	    &err) == 0, "config: %s", err.msg);
	free(text);
	ck_assert_msg(db_open(e->dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE,
	    &e->db, &err) == 0, "db: %s", err.msg);
	ck_assert_msg(pve_client_from_config(e->cfg, NULL, &e->pvec,
	    &err) == 0, "pve: %s", err.msg);
	if (hub_on) {
		memset(&ho, 0, sizeof(ho));
		ho.url = e->cfg->hub_url;
		ho.token = e->cfg->hub_token;
		ho.ca_file = e->cfg->hub_ca_file;
		ho.timeout_ms = 5000;
		ck_assert_msg(hub_client_new(&ho, &e->hubc, &err) == 0,
		    "hub: %s", err.msg);
	}
	memset(&e->src, 0, sizeof(e->src));
	e->src.cfg = e->cfg;
	e->src.pve = e->pvec;
	e->src.db = e->db;
	e->src.started_mono_ms = clock_mono_ms(NULL);
}

void
ht_close(struct ht_env *e)
{
	hub_client_free(e->hubc);
	pve_client_free(e->pvec);
	db_close(e->db);
	config_free(e->cfg);
	e->hubc = NULL;
	e->pvec = NULL;
	e->db = NULL;
	e->cfg = NULL;
	tu_rmrf(e->dir);
	free(e->dir);
	e->dir = NULL;
}

static const char *
kind(const json_t *v)
{
	if (json_is_object(v))
		return "object";
	if (json_is_array(v))
		return "array";
	return "scalar";
}

static size_t
diff(const json_t *g, const json_t *d, const char *path, char *out, size_t n)
{
	char sub[512];
	const char *k;
	json_t *v;
	size_t i, cnt = 0, len;

	if (json_is_null(g) || json_is_null(d))
		return 0;	/* golden null: anything; doc null: accepted */
	if (strcmp(kind(g), kind(d)) != 0) {
		len = strlen(out);
		(void) snprintf(out + len, n - len, "type mismatch at %s: "
		    "expected %s, got %s\n", path, kind(g), kind(d));
		return 1;
	}
	if (json_is_object(g)) {
		json_object_foreach((json_t *)(uintptr_t)g, k, v) {
			(void) snprintf(sub, sizeof(sub), "%s%s%s", path,
			    path[0] != '\0' ? "." : "", k);
			if (json_object_get(d, k) == NULL) {
				len = strlen(out);
				(void) snprintf(out + len, n - len, "missing "
				    "key: %s\n", sub);
				cnt++;
			} else
				cnt += diff(v, json_object_get(d, k), sub, out,
				    n);
		}
		json_object_foreach((json_t *)(uintptr_t)d, k, v) {
			if (json_object_get(g, k) != NULL)
				continue;
			len = strlen(out);
			(void) snprintf(out + len, n - len, "extra key: %s%s%s\n",
			    path, path[0] != '\0' ? "." : "", k);
			cnt++;
		}
		return cnt;
	}
	if (json_is_array(g) && json_array_size(g) > 0)
		json_array_foreach(d, i, v) {
			(void) snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			cnt += diff(json_array_get(g, 0), v, sub, out, n);
		}
	return cnt;
}

size_t
ht_keyset_diff(const json_t *golden, const json_t *doc, char *out, size_t n)
{
	out[0] = '\0';
	return diff(golden, doc, "", out, n);
}

json_t *
ht_golden(void)
{
	json_t *g = NULL;

	ck_assert_int_eq(jsonx_parse_file(tu_fixture(
	    "hub/host-report.golden.json"), HUB_BODY_CAP, 0, &g,
	    NULL), 0);
	return g;
}

int
ht_keyset_py(const json_t *doc, char **out)
{
	char script[4096], golden[4096];
	char *text = json_dumps(doc, JSON_COMPACT);
	int status = -1;

	(void) snprintf(script, sizeof(script), "%s",
	    tu_source("tools/hub-sim/keyset.py"));
	(void) snprintf(golden, sizeof(golden), "%s",
	    tu_fixture("hub/host-report.golden.json"));
	{
		const char *argv[] = { "python3", script, golden, "-", NULL };

		ck_assert_int_eq(tu_run(argv, NULL, text, strlen(text), out,
		    NULL, &status), 0);
	}
	free(text);
	return status;
}
