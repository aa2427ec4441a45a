/*
 * reload — SIGHUP: the configuration and the signer files read again
 * (R-37, R-14).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/reload.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "base/config.h"
#include "base/err.h"
#include "base/log.h"
#include "engine/gate.h"

/* Appends name to the comma list in out (cap), "..." once full. */
static void
list_add(char *out, size_t cap, const char *name)
{
	size_t len = strlen(out);

	if (len + strlen(name) + 6 >= cap) {
		if (len + 4 < cap && (len < 3 ||
		    strcmp(out + len - 3, "...") != 0))
			(void) snprintf(out + len, cap - len, "%s...",
			    len > 0 ? ", " : "");
		return;
	}
	(void) snprintf(out + len, cap - len, "%s%s", len > 0 ? ", " : "",
	    name);
}

static int
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* The secret keys: compared by value, since config_to_json hides them. */
static int
is_secret(const char *section, const char *key)
{
	return (strcmp(section, "pve") == 0 &&
	    strcmp(key, "token_secret") == 0) ||
	    (strcmp(section, "hub") == 0 && strcmp(key, "token") == 0);
}

size_t
reload_config_diff(const struct config *a, const struct config *b,
    char *out, size_t cap)
{
	json_t *ja = config_to_json(a), *jb = config_to_json(b), *va, *sa;
	const char *k, *sk;
	char name[128];
	size_t n = 0;

	out[0] = '\0';
	if (ja == NULL || jb == NULL) {
		/* Out of memory: say so rather than "nothing changed". */
		(void) snprintf(out, cap, "(not compared: out of memory)");
		json_decref(ja);
		json_decref(jb);
		return 1;
	}
	json_object_foreach(ja, k, va) {
		json_t *vb = json_object_get(jb, k);

		if (!json_is_object(va)) {
			if (!json_equal(va, vb)) {
				list_add(out, cap, k);
				n++;
			}
			continue;
		}
		json_object_foreach(va, sk, sa) {
			if (is_secret(k, sk))
				continue;
			if (!json_equal(sa, json_object_get(vb, sk))) {
				(void) snprintf(name, sizeof(name), "%s.%s", k,
				    sk);
				list_add(out, cap, name);
				n++;
			}
		}
	}
	if (str_differs(a->pve_token_secret, b->pve_token_secret)) {
		list_add(out, cap, "pve.token_secret");
		n++;
	}
	if (str_differs(a->hub_token, b->hub_token)) {
		list_add(out, cap, "hub.token");
		n++;
	}
	json_decref(ja);
	json_decref(jb);
	return n;
}

/* The entry of role whose key is e's key, or NULL. */
static const struct signers_entry *
find_key(const struct signers *set, enum signers_role role,
    const struct signers_entry *e)
{
	const struct signers_entry *c;
	size_t i;

	for (i = 0; i < signers_count(set); i++) {
		c = signers_get(set, i);
		if (c->role == role && sshsig_key_equal(c->key, e->key))
			return c;
	}
	return NULL;
}

/* What differs between two lines of one key, for the log. */
static const char *
entry_difference(const struct signers_entry *f,
    const struct signers_entry *l)
{
	if (str_differs(f->principals, l->principals))
		return "principals";
	if (str_differs(f->options, l->options) || f->policy != l->policy ||
	    f->valid_after != l->valid_after ||
	    f->valid_before != l->valid_before ||
	    str_differs(f->namespaces, l->namespaces))
		return "options";
	return NULL;
}

/*
 * Compares one role's file with the live set and logs each difference;
 * adds their number to *ndiff.
 */
static int
compare_role(const char *path, enum signers_role role,
    const struct signers *live, size_t *ndiff, struct err *err)
{
	const char *rname = signers_role_name((int)role);
	const struct signers_entry *e, *m;
	struct signers *file = NULL;
	struct err lerr;
	const char *what;
	size_t i, n = 0, nfile = 0, nlive;
	int rc, missing = 0;

	if (path == NULL)
		return 0;
	if ((file = signers_new()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	err_init(&lerr);
	rc = signers_load_file(file, path, role, 0, 0, NULL, NULL, &lerr);
	if (rc == ERR_NOT_FOUND) {
		missing = 1;
	} else if (rc != 0) {
		log_error("SIGHUP: %s signers: %s; the live set is unchanged",
		    rname, err_msg(&lerr));
		rc = err_copy(err, &lerr);
		goto out;
	}
	for (i = 0; i < signers_count(file); i++) {
		e = signers_get(file, i);
		nfile++;
		if ((m = find_key(live, role, e)) == NULL) {
			log_warn("SIGHUP: %s signers: %s (%s) is in %s but not "
			    "in the live set", rname,
			    sshsig_key_fingerprint(e->key), e->principals,
			    path);
			n++;
		} else if ((what = entry_difference(e, m)) != NULL) {
			log_warn("SIGHUP: %s signers: %s: %s differ between "
			    "%s (%s) and the live set (%s)", rname,
			    sshsig_key_fingerprint(e->key), what, path,
			    e->principals, m->principals);
			n++;
		}
	}
	nlive = signers_count_role(live, role);
	for (i = 0; i < signers_count(live); i++) {
		e = signers_get(live, i);
		if (e->role != role || find_key(file, role, e) != NULL)
			continue;
		log_warn("SIGHUP: %s signers: %s (%s) is in the live set but "
		    "not in %s%s", rname, sshsig_key_fingerprint(e->key),
		    e->principals, path, missing ? " (the file does not "
		    "exist)" : "");
		n++;
	}
	if (n == 0)
		log_info("SIGHUP: %s signers: %s matches the live set (%zu "
		    "key%s)", rname, path, nlive, nlive == 1 ? "" : "s");
	else
		log_warn("SIGHUP: %s signers: %s differs from the live set in "
		    "%zu key%s (%zu in the file, %zu live); the live set is "
		    "unchanged: it changes only by a signed rotate_signers "
		    "op", rname, path, n, n == 1 ? "" : "s", nfile, nlive);
	*ndiff += n;
	rc = 0;
out:
	signers_free(file);
	return rc;
}

static int
reload_signers(const struct config *cfg, struct db *db, int64_t now,
    struct reload_result *res, struct err *err)
{
	struct signers *live = NULL;
	int rc;

	/* files seed once; a host started without keys seeds now. */
	if ((rc = gate_signers_seed(db, cfg, now, &res->signers_seeded,
	    err)) != 0) {
		log_error("SIGHUP: signers: %s; the live set is unchanged",
		    err_msg(err));
		return rc;
	}
	if ((live = signers_new()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = signers_load_db(live, db, err)) != 0) {
		log_error("SIGHUP: cannot read the live signer set: %s",
		    err_msg(err));
		goto out;
	}
	if ((rc = compare_role(cfg->authz_operational,
	    SIGNERS_ROLE_OPERATIONAL, live, &res->signer_differences,
	    err)) != 0)
		goto out;
	rc = compare_role(cfg->authz_recovery, SIGNERS_ROLE_RECOVERY, live,
	    &res->signer_differences, err);
out:
	signers_free(live);
	return rc;
}

int
reload_run(const struct config *running, const char *config_path,
    struct db *db, int64_t now, struct reload_result *out)
{
	struct reload_result res;
	struct config *cfg = NULL;
	struct err err;
	char changed[512];
	int rc;

	memset(&res, 0, sizeof(res));
	err_init(&err);
	if (config_load(config_path, NULL, &cfg, &err) != 0) {
		log_error("SIGHUP: %s; keeping the running configuration",
		    err_msg(&err));
		rc = err.code;
		goto out;
	}
	res.config_ok = 1;
	if ((rc = config_register_secrets(cfg)) != 0) {
		log_error("SIGHUP: out of memory; keeping the running "
		    "configuration");
		goto out;
	}
	log_setup((enum log_level)cfg->log_level,
	    (enum log_format)cfg->log_format, NULL);
	res.config_changed = reload_config_diff(running, cfg, changed,
	    sizeof(changed));
	if (res.config_changed == 0)
		log_info("SIGHUP: %s re-read: no change", cfg->path);
	else
		log_info("SIGHUP: %s re-read: %zu key%s differ from the "
		    "running configuration (%s); log.level and log.format "
		    "apply now, the others at the next restart", cfg->path,
		    res.config_changed, res.config_changed == 1 ? "" : "s",
		    changed);
	err_init(&err);
	rc = reload_signers(cfg, db, now, &res, &err);
out:
	config_free(cfg);
	if (out != NULL)
		*out = res;
	return rc;
}
