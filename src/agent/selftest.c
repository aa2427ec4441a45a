/*
 * selftest — the read and task self-tests.
 *
 * `--selftest` (read) touches nothing: it reads the configuration, opens
 * the database read-only if there is one, and asks PVE who the token is
 * and what it may do.  `--selftest=task` makes one reversible change on a
 * named test guest (snapshot → rollback → delete-snapshot) and checks the
 * guest is left as it was.  Both print their findings on stdout and
 * return a sysexits status.
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

#define TASK_WAIT_MS	(10L * 60 * 1000)

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
	{ "VM.Backup", NULL, "/vms", "vzdump, restore over a CT (5.10, 5.11)" },
	{ "VM.Allocate", NULL, "/vms",
	    "create, destroy, restore test guests (5.11, 5.12)" },
	{ "Datastore.Audit", NULL, "/storage",
	    "storage list, backup listing (5.13)" },
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

static int
check_privileges(struct pve_client *pve, const struct config *cfg)
{
	struct pve_permissions perms;
	struct err err;
	char path[160], check[64];
	size_t i;
	int ok, missing = 0;

	err_init(&err);
	memset(&perms, 0, sizeof(perms));
	if (pve_permissions(pve, NULL, &perms, &err) != 0) {
		row("privileges", CHECK_FAIL, "GET /access/permissions: %s",
		    err_msg(&err));
		return pve_exit(&err);
	}
	for (i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		if (needs[i].path != NULL)
			(void) snprintf(path, sizeof(path), "%s",
			    needs[i].path);
		else
			(void) snprintf(path, sizeof(path), "/nodes/%s",
			    cfg->host_node);
		ok = pve_permissions_has(&perms, path, needs[i].priv) ||
		    (needs[i].alt != NULL &&
		    pve_permissions_has(&perms, path, needs[i].alt));
		(void) snprintf(check, sizeof(check), "priv %s",
		    needs[i].priv);
		if (ok) {
			row(check, CHECK_OK, "on %s: %s", path, needs[i].why);
		} else {
			row(check, CHECK_FAIL, "MISSING %s on %s: needed for "
			    "%s", needs[i].priv, path, needs[i].why);
			missing++;
		}
	}
	pve_permissions_reset(&perms);
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

/* ---- --selftest=task -------------------------------------------------- */

struct task_run {
	const struct config	*cfg;
	struct pve_client	*pve;
	long			 vmid;
	struct err		 err;
};

static double
since(int64_t t0)
{
	return (double)(clock_mono_ms(NULL) - t0) / 1000.0;
}

/* Awaits a submitted task and prints the step. */
static int
await(struct task_run *t, const char *step, int rc,
    const struct pve_submit *sub, int64_t t0)
{
	struct pve_wait_options wo;
	struct pve_task_status st;

	if (rc != 0) {
		row(step, CHECK_FAIL, "%s", err_msg(&t->err));
		return rc;
	}
	memset(&wo, 0, sizeof(wo));
	memset(&st, 0, sizeof(st));
	wo.timeout_ms = TASK_WAIT_MS;
	if ((rc = pve_wait_task(t->pve, sub->upid, &wo, &st, &t->err)) != 0) {
		row(step, CHECK_FAIL, "%s", err_msg(&t->err));
		return rc;
	}
	row(step, st.state == PVE_TASK_WARNINGS ? CHECK_WARN : CHECK_OK,
	    "%s %s (%.1f s)", sub->upid, st.exitstatus != NULL ?
	    st.exitstatus : "", since(t0));
	pve_task_status_reset(&st);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return strcmp(*x, *y);
}

/*
 * The guest's snapshot names (not "current") sorted and joined with ','
 * into out: PVE lists them in hash order, so they compare as a set.
 */
static int
snap_names(struct task_run *t, char *out, size_t n)
{
	struct pve_snapshots s;
	const char **names = NULL;
	size_t i, k = 0, o = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	out[0] = '\0';
	if ((rc = pve_snapshot_list(t->pve, t->cfg->host_node, t->vmid, &s,
	    &t->err)) != 0)
		return rc;
	if ((names = calloc(s.n + 1, sizeof(*names))) == NULL) {
		rc = err_set(&t->err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < s.n; i++)
		if (!s.items[i].is_current)
			names[k++] = s.items[i].name;
	qsort(names, k, sizeof(*names), cmp_str);
	for (i = 0; i < k && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%s", i > 0 ? "," : "",
		    names[i]);
	rc = 0;
out:
	free(names);
	pve_snapshots_reset(&s);
	return rc;
}

static int
guest_running(struct task_run *t, int *running)
{
	struct pve_guest_status gs;
	int rc;

	memset(&gs, 0, sizeof(gs));
	if ((rc = pve_lxc_status(t->pve, t->cfg->host_node, t->vmid, &gs,
	    &t->err)) != 0)
		return rc;
	*running = gs.guest.state == PVE_GUEST_RUNNING;
	pve_guest_status_reset(&gs);
	return 0;
}

int
selftest_task(const struct config *cfg, long vmid)
{
	struct task_run t;
	struct pve_submit sub;
	char snap[48], before[2048], after[2048];
	int rc, status = 0, was_running = 0, now_running = 0, created = 0;
	int64_t t0;

	if (vmid == 0) {
		fprintf(stderr, "felhom-agent: --selftest=task needs --guest "
		    "VMID (a test guest it may snapshot and roll back)\n");
		return EX_USAGE;
	}
	memset(&t, 0, sizeof(t));
	err_init(&t.err);
	t.cfg = cfg;
	t.vmid = vmid;
	printf("felhom-agent %s task self-test on CT %ld (node %s)\n",
	    FELHOM_VERSION, vmid, cfg->host_node);
	printf("%-28s %-6s %s\n", "CHECK", "RESULT", "DETAIL");
	if (cfg->pve_insecure)
		log_warn("pve.insecure is on: the PVE certificate is NOT "
		    "verified");
	if ((rc = pve_client_from_config(cfg, NULL, &t.pve, &t.err)) != 0) {
		row("pve client", CHECK_FAIL, "%s", err_msg(&t.err));
		status = EX_CONFIG;
		goto out;
	}
	if ((rc = guest_running(&t, &was_running)) != 0 ||
	    (rc = snap_names(&t, before, sizeof(before))) != 0) {
		row("guest", CHECK_FAIL, "%s", err_msg(&t.err));
		status = pve_exit(&t.err);
		goto out;
	}
	row("guest", CHECK_OK, "CT %ld %s; snapshots: %s", vmid,
	    was_running ? "running" : "stopped", before[0] != '\0' ? before :
	    "(none)");
	(void) snprintf(snap, sizeof(snap), "felhom-selftest-%lx",
	    (unsigned long)clock_now(NULL));

	t0 = clock_mono_ms(NULL);
	rc = pve_snapshot_create(t.pve, cfg->host_node, vmid, snap,
	    "felhom-agent --selftest=task", &sub, &t.err);
	if ((rc = await(&t, "snapshot", rc, &sub, t0)) != 0) {
		/* A failed worker may still have left the snapshot. */
		created = 1;
		goto fail;
	}
	created = 1;
	t0 = clock_mono_ms(NULL);
	rc = pve_snapshot_rollback(t.pve, cfg->host_node, vmid, snap, 0, &sub,
	    &t.err);
	if ((rc = await(&t, "rollback", rc, &sub, t0)) != 0)
		goto fail;
	/* §5.9: rollback leaves the CT stopped; restore the run state. */
	if (was_running) {
		t0 = clock_mono_ms(NULL);
		rc = pve_lxc_start(t.pve, cfg->host_node, vmid, &sub, &t.err);
		if ((rc = await(&t, "start again", rc, &sub, t0)) != 0)
			goto fail;
	}
	t0 = clock_mono_ms(NULL);
	rc = pve_snapshot_delete(t.pve, cfg->host_node, vmid, snap, 0, &sub,
	    &t.err);
	if ((rc = await(&t, "delete-snapshot", rc, &sub, t0)) != 0)
		goto fail;
	created = 0;

	err_init(&t.err);
	if ((rc = guest_running(&t, &now_running)) != 0 ||
	    (rc = snap_names(&t, after, sizeof(after))) != 0) {
		row("verify", CHECK_FAIL, "%s", err_msg(&t.err));
		status = pve_exit(&t.err);
		goto out;
	}
	if (strcmp(before, after) != 0 || now_running != was_running) {
		row("verify", CHECK_FAIL, "guest not as before: snapshots "
		    "'%s' -> '%s', %s -> %s", before, after, was_running ?
		    "running" : "stopped", now_running ? "running" : "stopped");
		status = EX_SOFTWARE;
		goto out;
	}
	row("verify", CHECK_OK, "snapshots and run state as before (%s)",
	    was_running ? "running" : "stopped");
	goto out;
fail:
	status = pve_exit(&t.err);
	/* Best effort: leave the guest as it was. */
	if (created) {
		struct pve_wait_options wo;
		struct err e;

		memset(&wo, 0, sizeof(wo));
		wo.timeout_ms = TASK_WAIT_MS;
		err_init(&e);
		if (pve_snapshot_delete(t.pve, cfg->host_node, vmid, snap, 1,
		    &sub, &e) == 0)
			(void) pve_wait_task(t.pve, sub.upid, &wo, NULL, &e);
		row("cleanup", e.code == 0 ? CHECK_OK : CHECK_WARN, "delete "
		    "snapshot %s: %s", snap, e.code == 0 ? "done" :
		    err_msg(&e));
	}
	if (was_running) {
		struct err e;

		err_init(&e);
		t.err = e;
		if (guest_running(&t, &now_running) == 0 && !now_running &&
		    pve_lxc_start(t.pve, cfg->host_node, vmid, &sub,
		    &e) == 0)
			row("cleanup", CHECK_OK, "start CT %ld again: %s", vmid,
			    sub.upid);
	}
out:
	pve_client_free(t.pve);
	if (status == 0)
		printf("task self-test: OK\n");
	else
		printf("task self-test: FAILED\n");
	return status;
}
