/*
 * selftest — the read self-test.
 *
 * `--selftest` (read) touches nothing: it reads the configuration, opens
 * the database read-only if there is one, and asks PVE who the token is
 * and what it may do.  `--selftest=task` lives in selftest_task.c.  Both
 * print their findings on stdout and return a sysexits status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "agent/selftest.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "net/https.h"
#include "pve/pve.h"
#include "store/db.h"

#define PRIV_ROWS_MAX	128	/* privilege rows checked */
#define CONFIG_FANOUT	8	/* guest configs read at once */

enum check_result {
	CHECK_OK,
	CHECK_WARN,
	CHECK_SKIP,
	CHECK_FAIL,
	CHECK__COUNT
};

static const char *const check_result_names[CHECK__COUNT] = {
	[CHECK_OK] = "ok",
	[CHECK_WARN] = "warn",
	[CHECK_SKIP] = "skip",
	[CHECK_FAIL] = "FAIL",
};
_Static_assert(sizeof(check_result_names) / sizeof(check_result_names[0]) ==
    CHECK__COUNT, "check_result_names must name every result");

/*
 * What the agent needs and why (pve-api.md §5, the per-endpoint
 * privileges).  `alt`: another privilege that also satisfies the row.
 */
struct need {
	const char	*priv;
	const char	*alt;
	const char	*path;		/* NULL = "/nodes/<host.node>" */
	const char	*why;
};

static const struct need needs[] = {
	{ "Sys.Audit", NULL, NULL,
	    "node status, every task's status/log (5.3, 5.14)" },
	{ "VM.Audit", NULL, "/vms",
	    "list, status, config, snapshot list (5.4-5.6, 5.9)" },
	{ "VM.PowerMgmt", NULL, "/vms",
	    "start, stop, shutdown, reboot (5.8)" },
	{ "VM.Config.Disk", NULL, "/vms", "set-config rootfs/mpN (5.7)" },
	{ "VM.Config.CPU", NULL, "/vms", "set-config cores/cpulimit (5.7)" },
	{ "VM.Config.Memory", NULL, "/vms", "set-config memory/swap (5.7)" },
	{ "VM.Config.Network", NULL, "/vms",
	    "set-config netN/hostname (5.7)" },
	{ "VM.Config.Options", NULL, "/vms",
	    "set-config description/onboot/tags (5.7)" },
	{ "VM.Snapshot", NULL, "/vms",
	    "snapshot create/delete, safety snapshots (5.9)" },
	{ "VM.Snapshot.Rollback", "VM.Snapshot", "/vms",
	    "rollback (5.9; VM.Snapshot also allows it)" },
	{ "VM.Backup", NULL, "/vms", "vzdump, restore over a CT, and "
	    "listing a guest's backups at all (5.10, 5.11, 5.13)" },
	{ "VM.Allocate", NULL, "/vms",
	    "create, destroy, restore test guests (5.11, 5.12)" },
	{ "Datastore.Audit", NULL, "/storage",
	    "storage list, PBS server/datastore/fingerprint (5.13)" },
	{ "Datastore.AllocateSpace", NULL, "/storage",
	    "backup target, restore/create volumes (5.10, 5.11)" },
};

static void
row(const char *check, enum check_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
row(const char *check, enum check_result r, const char *fmt, ...)
{
	va_list ap;

	printf("%-28s %-6s ", check, check_result_names[r]);
	va_start(ap, fmt);
	(void) vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* One privilege on one concrete ACL path, and why. */
struct priv_row {
	char		 priv[40];
	const char	*alt;
	char		 path[192];
	char		 why[192];
};

struct priv_rows {
	struct priv_row	 r[PRIV_ROWS_MAX];
	size_t		 n;
};

static void
rows_add(struct priv_rows *rs, const char *priv, const char *alt,
    const char *path, const char *why)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].priv, priv) == 0 &&
		    strcmp(rs->r[i].path, path) == 0)
			return;
	if (rs->n == PRIV_ROWS_MAX)
		return;
	(void) snprintf(rs->r[rs->n].priv, sizeof(rs->r[rs->n].priv), "%s",
	    priv);
	rs->r[rs->n].alt = alt;
	(void) snprintf(rs->r[rs->n].path, sizeof(rs->r[rs->n].path), "%s",
	    path);
	(void) snprintf(rs->r[rs->n].why, sizeof(rs->r[rs->n].why), "%s",
	    why);
	rs->n++;
}

/*
 * Per storage the token can see: Datastore.AllocateSpace where backups
 * go or are listed (without it the backup list is silently empty,
 * pve-api.md §5.13) and where restored volumes are made (§5.11);
 * Datastore.Audit on a PBS storage for its configuration.
 */
static void
storage_rows(struct pve_client *pve, const struct config *cfg,
    struct priv_rows *rs)
{
	struct pve_storages st;
	struct err err;
	char path[192];
	size_t i;

	memset(&st, 0, sizeof(st));
	err_init(&err);
	if (pve_storage_list(pve, cfg->host_node, NULL, &st, &err) != 0) {
		row("storages", CHECK_WARN, "cannot list them (%s): only the "
		    "generic /storage rows are checked", err_msg(&err));
		return;
	}
	for (i = 0; i < st.n; i++) {
		const struct pve_storage *s = &st.items[i];

		(void) snprintf(path, sizeof(path), "/storage/%s", s->storage);
		if (pve_storage_has_content(s, "backup"))
			rows_add(rs, "Datastore.AllocateSpace", NULL, path,
			    "safety backups and listing backups there "
			    "(5.10, 5.13)");
		if (pve_storage_has_content(s, "rootdir"))
			rows_add(rs, "Datastore.AllocateSpace", NULL, path,
			    "restored and created guest volumes there (5.11)");
		if (s->type != NULL && strcmp(s->type, "pbs") == 0)
			rows_add(rs, "Datastore.Audit", NULL, path,
			    "PBS server, datastore, fingerprint (5.13)");
	}
	pve_storages_reset(&st);
}

/* The bridge (and VLAN tag) of a netN value into path; 0 when none. */
static int
net_path(const char *net, char *path, size_t n)
{
	const char *b = strstr(net, "bridge="), *t = strstr(net, "tag=");
	size_t bl, tl;

	if (b == NULL || (b != net && b[-1] != ','))
		return 0;
	b += 7;
	bl = strcspn(b, ",");
	if (bl == 0)
		return 0;
	if (t != NULL && (t == net || t[-1] == ',')) {
		t += 4;
		tl = strcspn(t, ",");
		(void) snprintf(path, n, "/sdn/zones/localnetwork/%.*s/%.*s",
		    (int)bl, b, (int)tl, t);
	} else
		(void) snprintf(path, n, "/sdn/zones/localnetwork/%.*s",
		    (int)bl, b);
	return 1;
}

/*
 * SDN.Use on the bridge of every netN of the node's guests: PVE >= 8
 * checks it in create, set-config (also deleting netN) and restore
 * (pve-api.md §5.7; pve-guest-common check_vnet_access).
 */
static void
bridge_rows(struct pve_client *pve, const struct config *cfg,
    struct priv_rows *rs)
{
	struct pve_guests gs;
	struct pve_lxc_config *res = NULL;
	struct err err, *errs = NULL;
	long *ids = NULL;
	int *rcs = NULL;
	char path[192];
	size_t i, j, bridges = 0;

	memset(&gs, 0, sizeof(gs));
	err_init(&err);
	if (pve_lxc_list(pve, cfg->host_node, &gs, &err) != 0 || gs.n == 0)
		goto fallback;
	if ((res = calloc(gs.n, sizeof(*res))) == NULL ||
	    (errs = calloc(gs.n, sizeof(*errs))) == NULL ||
	    (ids = calloc(gs.n, sizeof(*ids))) == NULL ||
	    (rcs = calloc(gs.n, sizeof(*rcs))) == NULL)
		goto fallback;
	for (i = 0; i < gs.n; i++) {
		ids[i] = gs.items[i].vmid;
		err_init(&errs[i]);
	}
	if (pve_lxc_configs(pve, cfg->host_node, ids, gs.n, CONFIG_FANOUT,
	    res, rcs, errs, &err) != 0)
		goto fallback;
	for (i = 0; i < gs.n; i++) {
		for (j = 0; rcs[i] == 0 && j < res[i].n_nets; j++)
			if (res[i].nets[j].value != NULL &&
			    net_path(res[i].nets[j].value, path,
			    sizeof(path))) {
				rows_add(rs, "SDN.Use", NULL, path, "netN on "
				    "this bridge in create, set-config and "
				    "restore (5.7, PVE >= 8)");
				bridges++;
			}
		pve_lxc_config_reset(&res[i]);
	}
fallback:
	if (bridges == 0)
		rows_add(rs, "SDN.Use", NULL, "/sdn/zones/localnetwork",
		    "netN of any guest in create, set-config and restore "
		    "(5.7, PVE >= 8)");
	free(res);
	free(errs);
	free(ids);
	free(rcs);
	pve_guests_reset(&gs);
}

static const char *
trust_name(const struct config *cfg)
{
	if (cfg->pve_fingerprint != NULL)
		return "pin";
	if (cfg->pve_insecure)
		return "INSECURE";
	if (cfg->pve_ca_file != NULL)
		return "ca_file";
	return "system";
}

/*
 * Exit status for a PVE failure (base/exitcode.h): a refusal, an
 * unknown node or guest, or no answer are all "unavailable" (69); a
 * locked guest is "try again" (75).
 */
static int
pve_exit(const struct err *err)
{
	if (err->code == ERR_NOT_FOUND)
		return EX_UNAVAILABLE;
	return exitcode_of(err->code);
}

static int
check_database(const struct config *cfg)
{
	struct db *db = NULL;
	struct err err;
	int version = 0, rc;

	err_init(&err);
	if (access(cfg->database, F_OK) != 0) {
		row("database", CHECK_SKIP, "%s does not exist yet (created at "
		    "the first start)", cfg->database);
		return 0;
	}
	if ((rc = db_open(cfg->database, DB_OPEN_READONLY, &db, &err)) != 0 ||
	    (rc = db_schema_version(db, &version, &err)) != 0) {
		row("database", CHECK_FAIL, "%s: %s", cfg->database,
		    err_msg(&err));
		db_close(db);
		return exitcode_of(rc);
	}
	db_close(db);
	if (version < db_schema_latest())
		row("database", CHECK_WARN, "%s: schema %d, this binary "
		    "migrates it to %d at start", cfg->database, version,
		    db_schema_latest());
	else
		row("database", CHECK_OK, "%s: schema %d (read-only check)",
		    cfg->database, version);
	return 0;
}

/*
 * Every privilege the agent's work needs, on the concrete paths PVE
 * checks (GET /access/permissions?path=..., so an ACL anywhere above
 * or on the path counts), each named with why, the missing ones marked.
 */
static int
check_privileges(struct pve_client *pve, const struct config *cfg)
{
	struct pve_permissions perms;
	struct priv_rows *rs;
	struct err err;
	char check[64];
	size_t i;
	int ok, missing = 0, failed = 0;

	if ((rs = calloc(1, sizeof(*rs))) == NULL) {
		row("privileges", CHECK_FAIL, "out of memory");
		return EX_SOFTWARE;
	}
	for (i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		char path[160];

		if (needs[i].path != NULL)
			(void) snprintf(path, sizeof(path), "%s",
			    needs[i].path);
		else
			(void) snprintf(path, sizeof(path), "/nodes/%s",
			    cfg->host_node);
		rows_add(rs, needs[i].priv, needs[i].alt, path, needs[i].why);
	}
	storage_rows(pve, cfg, rs);
	bridge_rows(pve, cfg, rs);
	for (i = 0; i < rs->n; i++) {
		const struct priv_row *r = &rs->r[i];

		err_init(&err);
		memset(&perms, 0, sizeof(perms));
		if (pve_permissions(pve, r->path, &perms, &err) != 0) {
			row("privileges", CHECK_FAIL, "GET /access/permissions"
			    "?path=%s: %s", r->path, err_msg(&err));
			failed = pve_exit(&err);
			break;
		}
		ok = pve_permissions_has(&perms, r->path, r->priv) ||
		    (r->alt != NULL &&
		    pve_permissions_has(&perms, r->path, r->alt));
		pve_permissions_reset(&perms);
		(void) snprintf(check, sizeof(check), "priv %s", r->priv);
		if (ok) {
			row(check, CHECK_OK, "on %s: %s", r->path, r->why);
		} else {
			row(check, CHECK_FAIL, "MISSING %s on %s: needed for "
			    "%s", r->priv, r->path, r->why);
			missing++;
		}
	}
	free(rs);
	if (failed != 0)
		return failed;
	if (missing > 0) {
		fprintf(stderr, "felhom-agent: self-test: token %s lacks %d "
		    "privilege(s) the agent needs (see MISSING above)\n",
		    cfg->pve_token_id, missing);
		return EX_UNAVAILABLE;
	}
	return 0;
}

int
selftest_read(const struct config *cfg)
{
	struct pve_client *pve = NULL;
	struct pve_version ver;
	struct pve_nodes nodes;
	struct err err;
	char found[256];
	size_t i, o = 0;
	int status = 0, rc, node_ok = 0;

	err_init(&err);
	memset(&ver, 0, sizeof(ver));
	memset(&nodes, 0, sizeof(nodes));
	printf("felhom-agent %s read self-test\n", FELHOM_VERSION);
	printf("%-28s %-6s %s\n", "CHECK", "RESULT", "DETAIL");
	row("config", CHECK_OK, "%s; node %s; pve %s; trust %s",
	    cfg->path != NULL ? cfg->path : "(defaults)", cfg->host_node,
	    cfg->pve_url, trust_name(cfg));
	if (cfg->pve_insecure) {
		/* logged loudly. */
		log_warn("pve.insecure is on: the PVE certificate is NOT "
		    "verified");
		row("tls trust", CHECK_WARN, "pve.insecure: the PVE "
		    "certificate is not verified");
	}
	if ((rc = check_database(cfg)) != 0)
		status = rc;

	if ((rc = pve_client_from_config(cfg, NULL, &pve, &err)) != 0) {
		row("pve client", CHECK_FAIL, "%s", err_msg(&err));
		status = rc == ERR_UNSUPPORTED ? EX_UNAVAILABLE : EX_CONFIG;
		goto out;
	}
	rc = pve_version(pve, &ver, &err);
	/* Any answer but a TLS or transport failure proves the channel. */
	if (rc == ERR_TLS || rc == ERR_TRANSPORT) {
		row("pve tls", CHECK_FAIL, "%s", err_msg(&err));
		row("pve token", CHECK_SKIP, "not reached");
		status = EX_UNAVAILABLE;
		goto out;
	}
	row("pve tls", CHECK_OK, "%s; trust %s; leaf SHA-256 %s",
	    cfg->pve_url, trust_name(cfg), pve_client_fingerprint(pve));
	if (rc == ERR_AUTH) {
		row("pve token", CHECK_FAIL, "%s", err_msg(&err));
		status = EX_UNAVAILABLE;
		goto out;
	}
	if (rc != 0) {
		row("pve token", CHECK_FAIL, "%s", err_msg(&err));
		status = pve_exit(&err);
		goto out;
	}
	row("pve token", CHECK_OK, "token %s accepted; PVE %s",
	    cfg->pve_token_id, ver.version);

	err_init(&err);
	if (pve_nodes(pve, &nodes, &err) != 0) {
		row("pve node", CHECK_FAIL, "%s", err_msg(&err));
		status = pve_exit(&err);
		goto out;
	}
	found[0] = '\0';
	for (i = 0; i < nodes.n; i++) {
		if (strcmp(nodes.items[i].node, cfg->host_node) == 0)
			node_ok = 1;
		if (o < sizeof(found))
			o += (size_t)snprintf(found + o, sizeof(found) - o,
			    "%s%s", i > 0 ? ", " : "", nodes.items[i].node);
	}
	if (!node_ok) {
		row("pve node", CHECK_FAIL, "node '%s' (host.node) is not "
		    "among the cluster's nodes: %s", cfg->host_node, found);
		status = EX_UNAVAILABLE;
		goto out;
	}
	row("pve node", CHECK_OK, "%s found (%zu node%s)", cfg->host_node,
	    nodes.n, nodes.n == 1 ? "" : "s");
	if ((rc = check_privileges(pve, cfg)) != 0 && status == 0)
		status = rc;
out:
	pve_version_reset(&ver);
	pve_nodes_reset(&nodes);
	pve_client_free(pve);
	if (status == 0)
		printf("read self-test: OK\n");
	else
		printf("read self-test: FAILED\n");
	return status;
}
