/*
 * fuzz_pve — libFuzzer targets for every answer of the PVE API the
 * client reads (R-02 .. R-06; pve-api.md §5): each typed read, the
 * mutation answers and the error answers.
 *
 * The input is an HTTP body as libcurl hands it over (NUL-terminated
 * after `size` bytes, net/https.h).  It goes through pve_answer(), the
 * client's own envelope check over the strict JSON loader, then through
 * the endpoint's parser on the envelope's "data" (or the whole envelope
 * for the task list and log), exactly as pve_call() and read.c do.
 *
 * Invariants: a refusal says why (err set, never ERR_NOMEM for bad
 * input); an accepted result holds its required fields, every number it
 * hands on can be reported (finite: json_pack "f" refuses NaN and
 * infinities, collect.c), and the helpers reading a result (lookups,
 * permission and ownership checks) run on it without fault.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "fuzz.h"
#include "net/https.h"
#include "pve/pve.h"
#include "pve/pve_int.h"

/* A refusal of bad input names it; out of memory would be a lie. */
#define REFUSED(rc, err) \
	FUZZ_ASSERT((rc) == 0 || ((err).code == (rc) && (rc) != ERR_NOMEM))

/* A number a parser hands on: -1 (absent) or a finite value. */
#define REPORTABLE(x)	FUZZ_ASSERT(isfinite(x))

static char token_id[] = "agent@pve!reconciler";

/*
 * pve_answer() reads the client's body cap and token id only; a client
 * without a transport is enough (and keeps the targets off the network).
 */
static struct pve_client client = {
	.token_id = token_id,
	.body_cap = PVE_DEFAULT_CAP,
};

/*
 * The body as pve_call() gets it: status and reason of the status line,
 * the body NUL-terminated as net/https guarantees.  0 and *root_out (a
 * {"data": ...} object) for a 2xx answer; the classified error
 * otherwise.
 */
static int
answer(const uint8_t *data, size_t size, long status, const char *reason,
    json_t **root_out, struct err *err)
{
	struct https_response resp;
	struct pve_fault fault;
	char *body;
	int rc;

	if ((body = malloc(size + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "fuzz: out of memory");
	if (size > 0)
		memcpy(body, data, size);
	body[size] = '\0';
	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	resp.body = body;
	resp.body_len = size;
	resp.retry_after_s = -1;
	(void) snprintf(resp.reason, sizeof(resp.reason), "%s", reason);
	memset(&fault, 0, sizeof(fault));
	rc = pve_answer(&client, "GET", "/fuzz", &resp, &fault, root_out,
	    err);
	free(body);
	if (rc == 0)
		FUZZ_ASSERT(json_is_object(*root_out) &&
		    json_object_get(*root_out, "data") != NULL);
	else
		FUZZ_ASSERT(err->code == rc && fault.reason != PVE_E_NONE);
	return rc;
}

/* One endpoint: parses the envelope, checks and frees the result. */
typedef int (*endpoint_fn)(json_t *root, struct err *err);

static int
run(const uint8_t *data, size_t size, endpoint_fn endpoint)
{
	struct err err;
	json_t *root = NULL;
	int rc;

	err_init(&err);
	if (answer(data, size, 200, "OK", &root, &err) == 0) {
		err_init(&err);
		rc = endpoint(root, &err);
		REFUSED(rc, err);
	}
	json_decref(root);
	return 0;
}

static void
check_guest(const struct pve_guest *g)
{
	FUZZ_ASSERT(g->vmid >= 0 && g->vmid <= 999999999);
	FUZZ_ASSERT(g->state >= 0 && g->state < PVE_GUEST__COUNT);
	FUZZ_ASSERT(pve_guest_state_name((int)g->state) != NULL);
	REPORTABLE(g->cpus);
	REPORTABLE(g->cpu);
	REPORTABLE(g->pressure_cpu_some);
	REPORTABLE(g->pressure_cpu_full);
	REPORTABLE(g->pressure_io_some);
	REPORTABLE(g->pressure_io_full);
	REPORTABLE(g->pressure_mem_some);
	REPORTABLE(g->pressure_mem_full);
}

static int
version(json_t *root, struct err *err)
{
	struct pve_version v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_version(pve_data(root), &v, err)) == 0)
		FUZZ_ASSERT(v.version != NULL);
	pve_version_reset(&v);
	return rc;
}

static int
nodes(json_t *root, struct err *err)
{
	struct pve_nodes v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_nodes(pve_data(root), &v, err)) == 0) {
		FUZZ_ASSERT(v.n == json_array_size(pve_data(root)));
		for (i = 0; i < v.n; i++) {
			FUZZ_ASSERT(v.items[i].node != NULL);
			REPORTABLE(v.items[i].cpu);
		}
	}
	pve_nodes_reset(&v);
	return rc;
}

static int
node_status(json_t *root, struct err *err)
{
	struct pve_node_status v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_node_status(pve_data(root), &v, err)) == 0) {
		for (i = 0; i < 3; i++)
			REPORTABLE(v.loadavg[i]);
		REPORTABLE(v.cpu);
		REPORTABLE(v.wait);
		REPORTABLE(v.cpu_mhz);
	}
	pve_node_status_reset(&v);
	return rc;
}

static int
lxc_list(json_t *root, struct err *err)
{
	struct pve_guests v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_guests(pve_data(root), &v, err)) == 0) {
		FUZZ_ASSERT(v.n == json_array_size(pve_data(root)));
		for (i = 0; i < v.n; i++)
			check_guest(&v.items[i]);
	}
	pve_guests_reset(&v);
	return rc;
}

static int
lxc_status(json_t *root, struct err *err)
{
	struct pve_guest_status v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_guest_status(pve_data(root), &v, err)) == 0)
		check_guest(&v.guest);
	pve_guest_status_reset(&v);
	return rc;
}

static void
check_kvs(const struct pve_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		FUZZ_ASSERT(kv[i].key != NULL && kv[i].value != NULL);
}

static int
lxc_config(json_t *root, struct err *err)
{
	struct pve_lxc_config v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_lxc_config(pve_data(root), &v, err)) == 0) {
		FUZZ_ASSERT(v.digest != NULL);
		REPORTABLE(v.cpulimit);
		check_kvs(v.mps, v.n_mps);
		check_kvs(v.nets, v.n_nets);
		check_kvs(v.devs, v.n_devs);
		check_kvs(v.unused, v.n_unused);
		check_kvs(v.lxc, v.n_lxc);
		check_kvs(v.extra, v.n_extra);
	}
	pve_lxc_config_reset(&v);
	return rc;
}

static int
storage_list(json_t *root, struct err *err)
{
	struct pve_storages v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_storages(pve_data(root), &v, err)) == 0)
		for (i = 0; i < v.n; i++) {
			FUZZ_ASSERT(v.items[i].storage != NULL);
			REPORTABLE(v.items[i].used_fraction);
		}
	pve_storages_reset(&v);
	return rc;
}

static int
storage_backups(json_t *root, struct err *err)
{
	struct pve_backups v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_backups(pve_data(root), &v, err)) == 0)
		for (i = 0; i < v.n; i++)
			FUZZ_ASSERT(v.items[i].volid != NULL);
	pve_backups_reset(&v);
	return rc;
}

static int
snapshot_list(json_t *root, struct err *err)
{
	const struct pve_snapshot *s, *found;
	struct pve_snapshots v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_snapshots(pve_data(root), &v, err)) == 0)
		for (i = 0; i < v.n; i++) {
			s = &v.items[i];
			FUZZ_ASSERT(s->name != NULL && s->description != NULL);
			found = pve_snapshots_find(&v, s->name);
			/* The pseudo entry "current" is never found. */
			FUZZ_ASSERT(s->is_current ? found == NULL :
			    found != NULL && strcmp(found->name, s->name) == 0);
		}
	pve_snapshots_reset(&v);
	return rc;
}

static void
check_upid(const char *text, const struct upid *u)
{
	char back[UPID_MAX + 16];

	FUZZ_ASSERT(text != NULL && upid_valid(text));
	FUZZ_ASSERT(upid_format(u, back, sizeof(back)) > 0);
}

static int
task_list(json_t *root, struct err *err)
{
	struct pve_tasks v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_tasks(root, &v, err)) == 0)
		for (i = 0; i < v.n; i++) {
			check_upid(v.items[i].upid_str, &v.items[i].upid);
			FUZZ_ASSERT(v.items[i].state >= 0 &&
			    v.items[i].state < PVE_TASK__COUNT);
			(void) pve_task_is_ours(&v.items[i], token_id);
		}
	pve_tasks_reset(&v);
	return rc;
}

static int
task_status(json_t *root, struct err *err)
{
	struct pve_task_status v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_task_status(pve_data(root), &v, err)) == 0) {
		check_upid(v.upid_str, &v.upid);
		/* A stopped task is never "running". */
		FUZZ_ASSERT(v.running == (v.state == PVE_TASK_RUNNING));
		FUZZ_ASSERT(v.warnings >= 0);
	}
	pve_task_status_reset(&v);
	return rc;
}

static int
task_log(json_t *root, struct err *err)
{
	struct pve_task_log v;
	struct pve_fault f;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_task_log(root, &v, err)) == 0)
		for (i = 0; i < v.n; i++) {
			/* pve_task_verdict() scans the lines for a refusal. */
			FUZZ_ASSERT(v.lines[i].t != NULL);
			memset(&f, 0, sizeof(f));
			if (pve_scan_permission(v.lines[i].t, &f))
				FUZZ_ASSERT(memchr(f.privilege, '\0',
				    sizeof(f.privilege)) != NULL &&
				    memchr(f.path, '\0', sizeof(f.path)) !=
				    NULL);
		}
	pve_task_log_reset(&v);
	return rc;
}

static int
permissions(json_t *root, struct err *err)
{
	struct pve_permissions v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_permissions(pve_data(root), &v, err)) == 0) {
		(void) pve_permissions_has(&v, "/vms/101", "VM.PowerMgmt");
		(void) pve_permissions_has(&v, "/storage/local",
		    "Datastore.AllocateSpace");
		(void) pve_permissions_has(&v, "/", "Sys.Audit");
	}
	pve_permissions_reset(&v);
	return rc;
}

static int
disks(json_t *root, struct err *err)
{
	struct pve_disks v;
	size_t i;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_disks(pve_data(root), &v, err)) == 0)
		for (i = 0; i < v.n; i++)
			FUZZ_ASSERT(v.items[i].devpath != NULL &&
			    v.items[i].wearout >= -1 &&
			    v.items[i].wearout <= 100);
	pve_disks_reset(&v);
	return rc;
}

static int
smart(json_t *root, struct err *err)
{
	struct pve_smart v;
	int rc;

	memset(&v, 0, sizeof(v));
	if ((rc = pve_parse_smart(pve_data(root), &v, err)) == 0)
		FUZZ_ASSERT(v.wearout >= -1 && v.wearout <= 100);
	pve_smart_reset(&v);
	return rc;
}

/* A mutation's answer, as each mix of allowed kinds sees it. */
static int
submit(json_t *root, struct err *err)
{
	struct pve_submit s;
	unsigned allowed;
	int rc;

	for (allowed = 1; allowed < 1u << PVE_SUBMIT__COUNT; allowed++) {
		memset(&s, 0, sizeof(s));
		err_init(err);
		rc = pve_parse_submit(pve_data(root), allowed, &s, err);
		REFUSED(rc, *err);
		if (rc != 0)
			continue;
		FUZZ_ASSERT(allowed & 1u << s.kind);
		if (s.kind == PVE_SUBMIT_TASK)
			check_upid(s.upid, &s.parsed);
		else
			FUZZ_ASSERT(s.upid[0] == '\0');
	}
	return 0;
}

int
fuzz_pve_version(const uint8_t *data, size_t size)
{
	return run(data, size, version);
}

int
fuzz_pve_nodes(const uint8_t *data, size_t size)
{
	return run(data, size, nodes);
}

int
fuzz_pve_node_status(const uint8_t *data, size_t size)
{
	return run(data, size, node_status);
}

int
fuzz_pve_lxc_list(const uint8_t *data, size_t size)
{
	return run(data, size, lxc_list);
}

int
fuzz_pve_lxc_status(const uint8_t *data, size_t size)
{
	return run(data, size, lxc_status);
}

int
fuzz_pve_lxc_config(const uint8_t *data, size_t size)
{
	return run(data, size, lxc_config);
}

int
fuzz_pve_storage_list(const uint8_t *data, size_t size)
{
	return run(data, size, storage_list);
}

int
fuzz_pve_storage_backups(const uint8_t *data, size_t size)
{
	return run(data, size, storage_backups);
}

int
fuzz_pve_snapshot_list(const uint8_t *data, size_t size)
{
	return run(data, size, snapshot_list);
}

int
fuzz_pve_task_list(const uint8_t *data, size_t size)
{
	return run(data, size, task_list);
}

int
fuzz_pve_task_status(const uint8_t *data, size_t size)
{
	return run(data, size, task_status);
}

int
fuzz_pve_task_log(const uint8_t *data, size_t size)
{
	return run(data, size, task_log);
}

int
fuzz_pve_permissions(const uint8_t *data, size_t size)
{
	return run(data, size, permissions);
}

int
fuzz_pve_disks(const uint8_t *data, size_t size)
{
	return run(data, size, disks);
}

int
fuzz_pve_smart(const uint8_t *data, size_t size)
{
	return run(data, size, smart);
}

int
fuzz_pve_submit(const uint8_t *data, size_t size)
{
	return run(data, size, submit);
}

/*
 * An error answer: the first line is the status line's reason
 * phrase, the rest the body, classified under each status PVE uses.
 * The classification always says what happened, with PVE's text
 * escaped and bounded in the fault.
 */
int
fuzz_pve_error(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 401, 403, 500, 501, 596 };
	const uint8_t *nl = memchr(data, '\n', size);
	size_t rl = nl != NULL ? (size_t)(nl - data) : 0, i;
	char reason[128];
	struct err err;
	json_t *root;

	if (rl >= sizeof(reason))
		rl = sizeof(reason) - 1;
	memcpy(reason, data, rl);
	reason[rl] = '\0';
	if (nl != NULL) {
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		root = NULL;
		err_init(&err);
		FUZZ_ASSERT(answer(data, size, statuses[i], reason, &root,
		    &err) != 0 && err.status == statuses[i]);
		FUZZ_ASSERT(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		json_decref(root);
	}
	return 0;
}
