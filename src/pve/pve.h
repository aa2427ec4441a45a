/*
 * pve — the Proxmox VE API client (R-01 .. R-06).
 *
 * Talks to the local PVE API with an API token over net/https.  It never
 * runs a program (R-01, R-08: this area does not link the spawner).
 *
 *  - Typed reads: version, nodes, node status, LXC list, LXC
 *    status/current, LXC config, storage list, storage content (backups),
 *    snapshot list, task list, task status, task log, and the token's
 *    permissions.  Each read is an HTTP call plus a pure parser
 *    pve_parse_X(data, ...) that takes the envelope's "data" member; the
 *    parsers are public so fixtures can be fed to them directly.
 *    PVE quirks are absorbed: numbers as strings, 0/1 booleans, vmid as a
 *    string before PVE 8.2, string pressures, `cpus` as a string.
 *  - Mutations return a struct pve_submit: a validated UPID for
 *    asynchronous calls; set-config is dual mode: a UPID means
 *    "wait for the task", null/"" means "applied synchronously"; vzdump
 *    may answer "OK".
 *  - Task polls: pve_task_status_once() (one poll; the engine's
 *    tool) and pve_wait_task() (bounded wait with backoff; self-tests and
 *    tools only — the engine never blocks).
 *  - Errors are typed: err->code is a generic ERR_*, err->reason an
 *    enum pve_error (or enum https_reason for ERR_TRANSPORT / ERR_TLS),
 *    err->status the HTTP status.  The details a caller may branch on
 *    (privilege, ACL path, lock name, task exit status) are in the
 *    client's struct pve_fault (pve_last_fault()).  Peer text is escaped
 *    and truncated.  The token secret never appears in any message.
 *
 * Result structs borrow their strings from `raw` (the "data" JSON, one
 * reference held by the struct): they stay valid until the struct's
 * _reset().  Every _reset() accepts a zeroed or already-reset struct.
 * Integer fields that PVE may omit are -1 when absent (booleans too:
 * -1 absent, 0, 1) unless noted; absent strings are NULL.
 *
 * Not thread-safe: one client per thread (the agent is single-threaded).
 */
#ifndef FELHOM_PVE_PVE_H
#define FELHOM_PVE_PVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "net/https.h"
#include "pve/upid.h"

/* err->reason for errors from this module (not ERR_TRANSPORT/ERR_TLS). */
enum pve_error {
	PVE_E_NONE,
	PVE_E_AUTH,		/* 401: token rejected (ERR_AUTH) */
	PVE_E_PERMISSION,	/* 403: privilege missing (ERR_PERMISSION) */
	PVE_E_NOT_FOUND,	/* config file missing / no such task */
	PVE_E_LOCKED,		/* "CT is locked (backup)" (ERR_LOCKED) */
	PVE_E_ALREADY_RUNNING,	/* "CT 101 already running" (ERR_CONFLICT) */
	PVE_E_NOT_RUNNING,	/* "CT 101 not running" (ERR_CONFLICT) */
	PVE_E_EXISTS,		/* "CT 101 already exists" (ERR_CONFLICT) */
	PVE_E_DIGEST,		/* config digest mismatch (ERR_CONFLICT) */
	PVE_E_PARAM,		/* 400 parameter verification (ERR_INVALID) */
	PVE_E_HTTP,		/* any other status (ERR_HTTP) */
	PVE_E_PROTOCOL,		/* answer outside the contract (ERR_PROTOCOL) */
	PVE_E_TASK_FAILED,	/* task ended in error (ERR_TASK) */
	PVE_E_TASK_TIMEOUT,	/* pve_wait_task deadline (ERR_TIMEOUT) */
	PVE_E_OUTCOME_UNKNOWN,	/* mutation sent, answer lost (ERR_TIMEOUT) */
	PVE_E_RUNNING,		/* "can't overwrite running container": the
				   request needs the CT stopped (ERR_CONFLICT) */
	PVE_E__COUNT
};

/* "auth", "permission", "not_found", "locked", ... */
const char *pve_error_name(int reason);

/*
 * Details of the last failed call of a client.  All strings are escaped
 * peer text, NUL-terminated, "" when not applicable.
 */
struct pve_fault {
	int	reason;			/* enum pve_error, PVE_E_NONE if none */
	long	http_status;		/* 0 if no HTTP answer */
	char	privilege[128];		/* "VM.PowerMgmt" ("A|B" any-of) */
	char	path[128];		/* ACL path "/vms/101" */
	char	lock[32];		/* PVE_E_LOCKED: "backup", ..., or
					   "config-file" (lock file timeout) */
	char	exitstatus[256];	/* PVE_E_TASK_FAILED: the exit status */
	char	upid[UPID_MAX + 1];	/* task errors: the task */
	char	message[256];		/* PVE's message (first line) */
};

struct pve_client_options {
	const char		*url;		/* ".../api2/json" */
	const char		*token_id;	/* USER@REALM!TOKENID */
	const char		*token_secret;	/* secret */
	enum https_trust_mode	 trust;
	const char		*ca_file;	/* HTTPS_TRUST_CA_FILE */
	const char		*pin;		/* HTTPS_TRUST_PIN "AA:BB:.." */
	long			 timeout_s;	/* whole call; 0 = 30 */
	long			 connect_timeout_s; /* 0 = 10 */
	size_t			 body_cap;	/* 0 = 8 MiB */
	volatile sig_atomic_t	*abort_flag;	/* see https_options */
	struct https_multi	*multi;		/* NULL: a private one */
	size_t			 max_in_flight;	/* requests at once; 0: 4 */
	long			 config_ttl_ms;	/* cache; 0: PVE_CONFIG_TTL_MS */
};

struct pve_client;

/*
 * Creates a client; strings are copied (the secret is wiped on free).
 * Caller frees with pve_client_free().
 */
int	pve_client_new(const struct pve_client_options *o,
	    struct pve_client **out, struct err *err);

/*
 * From the agent configuration: fingerprint → PIN, ca_file →
 * CA_FILE, insecure → INSECURE (the caller logs that loudly).
 */
int	pve_client_from_config(const struct config *cfg,
	    volatile sig_atomic_t *abort_flag, struct pve_client **out,
	    struct err *err);
void	pve_client_free(struct pve_client *c);

/* Details of the last failure (reset at the start of every call). */
const struct pve_fault *pve_last_fault(const struct pve_client *c);

/* The token id (not secret) and the leaf fingerprint last presented. */
const char *pve_client_token_id(const struct pve_client *c);
const char *pve_client_fingerprint(const struct pve_client *c);

/* ---- reads (R-02) --------------------------------------------------- */

struct pve_version {
	json_t		*raw;
	const char	*version;	/* "8.4.14" */
	const char	*release;	/* "8.4" */
	const char	*repoid;
};

struct pve_node {
	const char	*node;
	const char	*status;	/* "online" | "offline" | "unknown" */
	const char	*ssl_fingerprint; /* NULL when absent */
	const char	*level;		/* subscription, "" none */
	double		 cpu;		/* fraction, -1 absent */
	int64_t		 maxcpu, mem, maxmem, disk, maxdisk, uptime;
};

struct pve_nodes {
	json_t		*raw;
	struct pve_node	*items;
	size_t		 n;
};

struct pve_node_status {
	json_t		*raw;
	int64_t		 uptime;
	double		 loadavg[3];	/* from strings */
	double		 cpu, wait;	/* fractions */
	const char	*kversion;
	const char	*pveversion;	/* "pve-manager/8.4.14/..." */
	const char	*cpu_model;
	int64_t		 cpu_sockets, cpu_cores, cpu_cpus;
	double		 cpu_mhz;	/* -1 absent */
	int64_t		 mem_total, mem_used, mem_free;
	int64_t		 mem_available;	/* PVE >= 9 only, else -1 */
	int64_t		 swap_total, swap_used, swap_free;
	int64_t		 rootfs_total, rootfs_used, rootfs_avail, rootfs_free;
	const char	*boot_mode;	/* "efi" | "legacy-bios" | NULL */
	int		 secureboot;	/* -1 absent */
};

enum pve_guest_state {
	PVE_GUEST_UNKNOWN,	/* empty or unrecognised */
	PVE_GUEST_RUNNING,
	PVE_GUEST_STOPPED,
	PVE_GUEST_PAUSED,	/* QEMU only */
	PVE_GUEST__COUNT
};

/* "unknown", "running", "stopped", "paused". */
const char *pve_guest_state_name(int state);

/* One item of GET .../lxc, or GET .../lxc/{vmid}/status/current. */
struct pve_guest {
	long		 vmid;		/* from a number or a string */
	const char	*type;		/* "lxc" | "qemu" | NULL */
	enum pve_guest_state state;
	const char	*status;	/* as sent, NULL when absent */
	const char	*name;
	const char	*tags;		/* NULL when none */
	const char	*lock;		/* NULL when not locked */
	int		 is_template;	/* 0/1 (absent = 0) */
	double		 cpus;		/* number or string; -1 absent */
	double		 cpu;		/* fraction; -1 absent */
	int64_t		 maxmem, maxswap, maxdisk;	/* bytes */
	int64_t		 mem, swap, disk;		/* bytes */
	int64_t		 uptime, netin, netout, diskread, diskwrite;
	int64_t		 pid;		/* running only */
	double		 pressure_cpu_some, pressure_cpu_full;	/* -1 absent */
	double		 pressure_io_some, pressure_io_full;
	double		 pressure_mem_some, pressure_mem_full;
	int		 ha_managed;	/* status/current only; -1 absent */
	const char	*ha_state;	/* NULL unless managed */
};

struct pve_guests {
	json_t		*raw;
	struct pve_guest *items;
	size_t		 n;
};

struct pve_guest_status {
	json_t		*raw;
	struct pve_guest guest;
};

/* A config key/value kept as PVE sent it (numbers as decimal text). */
struct pve_kv {
	const char	*key;		/* "mp0", "nameserver", "lxc.*" */
	char		*value;		/* heap copy, owned by the struct */
};

/*
 * GET .../lxc/{vmid}/config (pve-api.md §5.6).  Every key is either a
 * typed field here, an indexed list (mp/net/dev/unused), the raw lxc.*
 * pairs, or kept in `extra` so it can be reported.
 */
struct pve_lxc_config {
	json_t		*raw;		/* the whole "data" object */
	const char	*arch, *hostname, *ostype, *rootfs, *features;
	const char	*startup, *description, *tags, *lock, *parent;
	const char	*digest;	/* always sent by PVE */
	const char	*env;		/* PVE 9.1 OCI, NULL when hidden */
	int64_t		 cores, cpuunits, memory, swap;	/* MiB; -1 absent */
	double		 cpulimit;	/* string in PVE; -1 absent */
	int		 unprivileged, onboot, protection, is_template;
	int		 console, debug;	/* -1 absent */
	struct pve_kv	*mps;		/* "mp0".. in index order */
	size_t		 n_mps;
	struct pve_kv	*nets;		/* "net0".. */
	size_t		 n_nets;
	struct pve_kv	*devs;		/* "dev0".. */
	size_t		 n_devs;
	struct pve_kv	*unused;	/* "unused0".. */
	size_t		 n_unused;
	struct pve_kv	*lxc;		/* raw lxc.* [key, value] pairs */
	size_t		 n_lxc;
	struct pve_kv	*extra;		/* every other key, sorted by key */
	size_t		 n_extra;
};

struct pve_storage {
	const char	*storage;	/* id */
	const char	*type;		/* "dir", "lvmthin", "pbs", ... */
	const char	*content;	/* comma list, random order */
	int		 active, enabled, shared;	/* 0/1 */
	int64_t		 total, used, avail;		/* bytes */
	double		 used_fraction;	/* -1 when absent (total 0) */
};

struct pve_storages {
	json_t		*raw;
	struct pve_storage *items;
	size_t		 n;
};

/*
 * One entry of the cluster-wide storage configuration (GET /storage,
 * pve-api.md §5.13): where a PBS storage's server, datastore and
 * fingerprint are (the node's storage list never has them).  Secrets are
 * never part of it.
 */
struct pve_storage_cfg {
	const char	*storage;	/* id */
	const char	*type;		/* "pbs", "dir", ... */
	const char	*content;	/* comma list */
	const char	*server;	/* PBS; NULL when absent */
	const char	*datastore;	/* PBS */
	const char	*fingerprint;	/* PBS, "AA:BB:..." */
	const char	*username;	/* PBS */
	const char	*ns;		/* PBS "namespace" */
	int		 disabled;	/* "disable": 0/1 (absent = 0) */
};

struct pve_storage_cfgs {
	json_t		*raw;
	struct pve_storage_cfg *items;
	size_t		 n;
};

/* One backup volume (GET .../storage/{id}/content?content=backup). */
struct pve_backup {
	const char	*volid;
	const char	*format;	/* "tar.zst", "pbs-ct", ... */
	const char	*subtype;	/* "lxc", "qemu", ... NULL absent */
	const char	*notes;		/* NULL absent */
	const char	*encrypted;	/* PBS: fingerprint or "1"; NULL */
	const char	*verify_state;	/* PBS: "ok" | "failed" | NULL */
	long		 vmid;		/* -1 absent */
	int64_t		 ctime, size;
	int		 is_protected;	/* 0/1 */
};

struct pve_backups {
	json_t		*raw;
	struct pve_backup *items;
	size_t		 n;
};

/* One snapshot; the pseudo entry "current" has is_current = 1. */
struct pve_snapshot {
	const char	*name;
	const char	*description;	/* "" when none (trailing \n kept) */
	const char	*parent;	/* NULL when none */
	const char	*snapstate;	/* "prepare" | "delete" | NULL */
	const char	*digest;	/* "current" only */
	int64_t		 snaptime;	/* -1 for "current" */
	int		 running;	/* "current" only; -1 otherwise */
	int		 is_current;
};

struct pve_snapshots {
	json_t		*raw;
	struct pve_snapshot *items;	/* as sent (unordered, current last) */
	size_t		 n;
};

/* Lookup by name (not "current"); NULL when absent. */
const struct pve_snapshot *pve_snapshots_find(const struct pve_snapshots *s,
	    const char *name);

/* Task outcome classes. */
enum pve_task_state {
	PVE_TASK_RUNNING,
	PVE_TASK_OK,		/* exitstatus "OK" */
	PVE_TASK_WARNINGS,	/* "WARNINGS: n" — success with warnings */
	PVE_TASK_FAILED,	/* anything else */
	PVE_TASK__COUNT
};

/* "running", "ok", "warnings", "failed". */
const char *pve_task_state_name(int state);

/*
 * Classifies an exitstatus (task status) or list status ("RUNNING",
 * "OK", "WARNINGS: 2", error text).  *warnings_out (may be NULL) gets n.
 */
enum pve_task_state pve_task_classify(const char *status, int *warnings_out);

/* GET /nodes/{node}/tasks/{upid}/status. */
struct pve_task_status {
	json_t		*raw;
	const char	*upid_str;
	struct upid	 upid;		/* parsed upid_str */
	const char	*node, *type, *id;
	const char	*user;		/* as sent: split or joined form */
	const char	*tokenid;	/* NULL when not split */
	const char	*exitstatus;	/* stopped only, else NULL */
	int		 running;	/* status == "running" */
	enum pve_task_state state;
	int		 warnings;	/* n of "WARNINGS: n" */
	int64_t		 pid, pstart, starttime;
};

/* One item of GET /nodes/{node}/tasks. */
struct pve_task {
	const char	*upid_str;
	struct upid	 upid;
	const char	*node, *type, *id, *user;
	const char	*tokenid;	/* archived token tasks; else NULL */
	const char	*status;	/* "RUNNING", "OK", "WARNINGS: n", .. */
	enum pve_task_state state;
	int64_t		 pid, pstart, starttime;
	int64_t		 endtime;	/* -1 while running */
};

struct pve_tasks {
	json_t		*raw;
	struct pve_task	*items;		/* newest first, as sent */
	size_t		 n;
	long		 total;		/* "total", -1 absent */
};

/*
 * 1 when the task was started by token_id ("user@realm!tokenid"): token
 * tasks appear joined (user "agent@pve!reconciler", active tasks) or
 * split (user "agent@pve" + tokenid "reconciler", archived tasks;
 * pve-api.md §5.14).
 */
int	pve_task_is_ours(const struct pve_task *t, const char *token_id);

/* Task-list filters (pve-api.md §5.14); zero/NULL = not sent. */
struct pve_task_filter {
	long		 vmid;		/* exact match on the task id */
	const char	*typefilter;	/* exact worker type */
	const char	*userfilter;	/* case-insensitive substring */
	const char	*source;	/* "archive" | "active" | "all" */
	int64_t		 since, until;	/* epoch */
	long		 start;		/* offset */
	long		 limit;		/* 0 = PVE default 50 */
	int		 errors;	/* 1 = errors only */
};

struct pve_log_line {
	long		 n;		/* 1-based */
	const char	*t;
};

struct pve_task_log {
	json_t		*raw;
	struct pve_log_line *lines;
	size_t		 n;
	long		 total;		/* all lines, -1 absent */
};

/*
 * GET /access/permissions: path → privilege → propagate flag.  raw is
 * the "data" object as sent.
 */
struct pve_permissions {
	json_t		*raw;
};

/*
 * 1 when priv is granted on path: an entry for path itself, or for an
 * ancestor ("/vms" for "/vms/101", then "/") whose flag propagates.
 */
int	pve_permissions_has(const struct pve_permissions *p, const char *path,
	    const char *priv);

/* GET /nodes/{node}/disks/list item (reference only: §5.16). */
struct pve_disk {
	const char	*devpath, *model, *serial, *type, *health;
	int64_t		 size;
	int		 wearout;	/* percent, -1 for "N/A"/absent */
};

struct pve_disks {
	json_t		*raw;
	struct pve_disk	*items;
	size_t		 n;
};

/* GET /nodes/{node}/disks/smart (reference only: §5.16). */
struct pve_smart {
	json_t		*raw;
	const char	*health;	/* "PASSED", "OK", ... */
	const char	*type;		/* "ata" | "text" */
	const char	*text;		/* type "text" */
	int		 wearout;	/* -1 absent */
	size_t		 n_attributes;	/* type "ata" */
};

void	pve_version_reset(struct pve_version *v);
void	pve_nodes_reset(struct pve_nodes *v);
void	pve_node_status_reset(struct pve_node_status *v);
void	pve_guests_reset(struct pve_guests *v);
void	pve_guest_status_reset(struct pve_guest_status *v);
void	pve_lxc_config_reset(struct pve_lxc_config *v);
void	pve_storages_reset(struct pve_storages *v);
/* 1 when the storage's content list holds what ("backup", "rootdir"). */
int	pve_storage_has_content(const struct pve_storage *s,
	    const char *what);
void	pve_storage_cfgs_reset(struct pve_storage_cfgs *v);
void	pve_backups_reset(struct pve_backups *v);
void	pve_snapshots_reset(struct pve_snapshots *v);
void	pve_task_status_reset(struct pve_task_status *v);
void	pve_tasks_reset(struct pve_tasks *v);
void	pve_task_log_reset(struct pve_task_log *v);
void	pve_permissions_reset(struct pve_permissions *v);
void	pve_disks_reset(struct pve_disks *v);
void	pve_smart_reset(struct pve_smart *v);

/*
 * Parsers: `data` is the envelope's "data" member (borrowed; the result
 * takes its own reference).  0, or ERR_FORMAT naming the key; *out is
 * written only on success.
 */
int	pve_parse_version(json_t *data, struct pve_version *out,
	    struct err *err);
int	pve_parse_nodes(json_t *data, struct pve_nodes *out, struct err *err);
int	pve_parse_node_status(json_t *data, struct pve_node_status *out,
	    struct err *err);
int	pve_parse_guests(json_t *data, struct pve_guests *out,
	    struct err *err);
int	pve_parse_guest_status(json_t *data, struct pve_guest_status *out,
	    struct err *err);
int	pve_parse_lxc_config(json_t *data, struct pve_lxc_config *out,
	    struct err *err);
int	pve_parse_storages(json_t *data, struct pve_storages *out,
	    struct err *err);
int	pve_parse_backups(json_t *data, struct pve_backups *out,
	    struct err *err);
int	pve_parse_storage_cfgs(json_t *data, struct pve_storage_cfgs *out,
	    struct err *err);
/*
 * A guest config as the raw pct.conf text a backup stores (GET
 * .../vzdump/extractconfig): the main section only (up to the first
 * "[snapshot]" or "[pve:pending]" line) as a JSON object of key → string
 * value, '#' lines joined into "description", raw "lxc.*" lines skipped.
 * ERR_FORMAT for a line that is neither.  Caller decrefs *out.
 */
int	pve_parse_pct_conf(const char *text, json_t **out, struct err *err);
int	pve_parse_snapshots(json_t *data, struct pve_snapshots *out,
	    struct err *err);
int	pve_parse_task_status(json_t *data, struct pve_task_status *out,
	    struct err *err);
/* root: the whole envelope (for "total"), data its "data" member. */
int	pve_parse_tasks(json_t *root, struct pve_tasks *out, struct err *err);
int	pve_parse_task_log(json_t *root, struct pve_task_log *out,
	    struct err *err);
int	pve_parse_permissions(json_t *data, struct pve_permissions *out,
	    struct err *err);
int	pve_parse_disks(json_t *data, struct pve_disks *out, struct err *err);
int	pve_parse_smart(json_t *data, struct pve_smart *out, struct err *err);

int	pve_version(struct pve_client *c, struct pve_version *out,
	    struct err *err);
int	pve_nodes(struct pve_client *c, struct pve_nodes *out,
	    struct err *err);
int	pve_node_status(struct pve_client *c, const char *node,
	    struct pve_node_status *out, struct err *err);
int	pve_lxc_list(struct pve_client *c, const char *node,
	    struct pve_guests *out, struct err *err);
int	pve_lxc_status(struct pve_client *c, const char *node, long vmid,
	    struct pve_guest_status *out, struct err *err);
/* current: 1 = without pending changes (current=1). */
int	pve_lxc_config(struct pve_client *c, const char *node, long vmid,
	    int current, struct pve_lxc_config *out, struct err *err);
/* content: NULL = all, e.g. "backup". */
int	pve_storage_list(struct pve_client *c, const char *node,
	    const char *content, struct pve_storages *out, struct err *err);
/* vmid: 0 = all guests. */
int	pve_storage_backups(struct pve_client *c, const char *node,
	    const char *storage, long vmid, struct pve_backups *out,
	    struct err *err);
/* The container templates (content=vztmpl) of storage, volid and size. */
int	pve_storage_templates(struct pve_client *c, const char *node,
	    const char *storage, struct pve_backups *out, struct err *err);
int	pve_snapshot_list(struct pve_client *c, const char *node, long vmid,
	    struct pve_snapshots *out, struct err *err);
/* GET /storage[?type=...]: type NULL = every storage the token sees. */
int	pve_storage_config(struct pve_client *c, const char *type,
	    struct pve_storage_cfgs *out, struct err *err);
/*
 * GET /nodes/{node}/vzdump/extractconfig?volume=...: the config stored in
 * a backup, parsed by pve_parse_pct_conf() (VM.Backup on its guest,
 * Datastore.AllocateSpace on its storage).  Caller decrefs *out.
 */
int	pve_backup_config(struct pve_client *c, const char *node,
	    const char *volid, json_t **out, struct err *err);
int	pve_task_list(struct pve_client *c, const char *node,
	    const struct pve_task_filter *f, struct pve_tasks *out,
	    struct err *err);
/* start: 0-based line offset; limit 0 = PVE default (50). */
int	pve_task_log(struct pve_client *c, const char *upid, long start,
	    long limit, struct pve_task_log *out, struct err *err);
/* path NULL = every ACL path. */
int	pve_permissions(struct pve_client *c, const char *path,
	    struct pve_permissions *out, struct err *err);

/*
 * Concurrent config reads for a report: vmids[i] → results[i] (zeroed
 * by the caller), rcs[i] and errs[i] (initialised) its own outcome.  At
 * most max_in_flight requests at once (clamped to 1..8).  Returns 0
 * when the batch ran (individual failures in rcs), or an ERR_* when it
 * could not run at all.  Per-guest faults are not kept in
 * pve_last_fault().
 */
int	pve_lxc_configs(struct pve_client *c, const char *node,
	    const long *vmids, size_t n, size_t max_in_flight,
	    struct pve_lxc_config *results, int *rcs, struct err *errs,
	    struct err *err);

/* ---- asynchronous reads (issue 17) ---------------------------------- */

/*
 * The reads of a report, as requests on the client's https multi (the
 * daemon's loop polls it): submit, let the loop run, finish when done.
 * Each read's answer is parsed into the struct of its kind: pve_version,
 * pve_node_status, pve_guests, pve_lxc_config, pve_storages, pve_backups
 * (content=backup), pve_storage_cfgs.  Per-request faults are not kept
 * in pve_last_fault().
 */
enum pve_read_kind {
	PVE_READ_VERSION,
	PVE_READ_NODE_STATUS,
	PVE_READ_LXC_LIST,
	PVE_READ_LXC_CONFIG,
	PVE_READ_STORAGES,
	PVE_READ_BACKUPS,
	PVE_READ_STORAGE_CFGS,
	PVE_READ__COUNT
};

struct pve_read_args {
	const char	*node;
	long		 vmid;		/* LXC_CONFIG */
	const char	*storage;	/* BACKUPS */
	const char	*type;		/* STORAGE_CFGS; NULL = all */
};

struct pve_req;

int	pve_read_submit(struct pve_client *c, enum pve_read_kind kind,
	    const struct pve_read_args *a, enum https_prio prio,
	    struct pve_req **out, struct err *err);
int	pve_req_done(const struct pve_req *r);
/* The typed result into *out (as the blocking read would); frees r. */
int	pve_read_finish(struct pve_client *c, struct pve_req *r, void *out,
	    struct err *err);
/* Stops and frees; NULL is fine. */
void	pve_req_cancel(struct pve_req *r);

/*
 * Issue 17: calls that never wait ("passes").  Between
 * pve_pass_begin() and pve_pass_end() every call of the client (each
 * goes through one request function) is non-blocking: a request not
 * answered yet is sent once and the call returns ERR_PENDING; the same
 * request made again in a later pass of the same scope ("op:12",
 * "observe") takes its answer, as the blocking call would have returned
 * it.  A pass is meant to be replayed from its start until none of its
 * calls pends: every answer it took stays for the replays (the n-th
 * identical request of a pass is the n-th answer), so a sequence of k
 * calls costs k latencies, each request sent once.  A pass that ended
 * with nothing pending forgets its scope's answers; a scope that will
 * not be replayed (its op ended) is dropped with pve_memo_forget().
 * Nothing expires by itself: an answer is there for as long as its
 * scope may come back for it, so a mutation is never sent twice.
 * Outside a pass calls block as before.  prio: HTTPS_PRIO_HIGH for the
 * lanes, LOW for background reads.
 */
int	pve_pass_begin(struct pve_client *c, const char *scope,
	    enum https_prio prio, struct err *err);
/* 1 when a call of the current pass returned ERR_PENDING. */
int	pve_pass_pending(const struct pve_client *c);
/* 1 inside a pass. */
int	pve_pass_active(const struct pve_client *c);
/* Ends the pass; 1 when something of it is still in flight. */
int	pve_pass_end(struct pve_client *c);
/*
 * 1 when a replay of scope's pass would learn nothing: something of it
 * is in flight and no answer came since its last pass.
 */
int	pve_memo_waiting(const struct pve_client *c, const char *scope);
/* Drops a scope's answers and requests (an op that ended elsewhere). */
void	pve_memo_forget(struct pve_client *c, const char *scope);
/* Requests in flight or answers kept (all scopes). */
size_t	pve_memo_size(const struct pve_client *c);

/* The https multi the client runs on (the loop polls it). */
struct https_multi *pve_client_multi(const struct pve_client *c);

/*
 * Issue 15: configs read by the report or the reconcile are kept for
 * config_ttl_ms, shared by both.  Any mutation sent through the client
 * or task seen ending forgets them all; pve_config_changed() does it
 * for changes made elsewhere (the privileged helper).
 */
#define PVE_CONFIG_TTL_MS	60000

/* 1 with *out (reset it) when vmid's config is cached and fresh. */
int	pve_config_cached(struct pve_client *c, long vmid,
	    struct pve_lxc_config *out);
void	pve_config_changed(struct pve_client *c);
/* Forgets the cached configs of guests not in keep (they are gone). */
void	pve_config_forget(struct pve_client *c, const long *keep, size_t n);

struct pve_client_stats {
	uint64_t	config_reads;	/* config GETs answered */
	uint64_t	config_hits;	/* served from the cache */
	uint64_t	connects;	/* new TCP+TLS connections */
};

void	pve_client_stats(const struct pve_client *c,
	    struct pve_client_stats *st);

/* ---- mutations (R-03, R-04) ----------------------------------------- */

enum pve_submit_kind {
	PVE_SUBMIT_TASK,	/* a worker was started: upid is set */
	PVE_SUBMIT_SYNC,	/* data null/"": applied synchronously */
	PVE_SUBMIT_OK,		/* vzdump's literal "OK": nothing started */
	PVE_SUBMIT__COUNT
};

/* "task", "sync", "ok". */
const char *pve_submit_kind_name(int kind);

struct pve_submit {
	enum pve_submit_kind kind;
	char		 upid[UPID_MAX + 1];	/* kind TASK, else "" */
	struct upid	 parsed;		/* kind TASK */
};

/*
 * Interprets a mutation's "data": a valid UPID string → TASK, null or
 * "" → SYNC, "OK" → OK; anything else ERR_PROTOCOL.  `allowed` is a
 * mask of (1 << kind) the endpoint may answer with.
 */
int	pve_parse_submit(const json_t *data, unsigned allowed,
	    struct pve_submit *out, struct err *err);

/* A request parameter; the value is sent percent-encoded as is. */
struct pve_param {
	const char	*key;
	const char	*value;
};

/*
 * Builds an application/x-www-form-urlencoded body (or query string):
 * every byte outside [A-Za-z0-9-._~] is %XX-encoded, so PVE's naive
 * decoder (splits on & and ;, + is space) gets the exact value.
 * Caller frees *out.
 */
int	pve_form_encode(const struct pve_param *params, size_t n, char **out,
	    struct err *err);

/*
 * Every mutation: 0 with *out filled, or a typed error.  A mutation whose
 * answer was lost after sending (HTTP-level timeout, reset, PVE proxy
 * 59x) fails with ERR_TIMEOUT / PVE_E_OUTCOME_UNKNOWN: it may have taken
 * effect; the caller confirms by reading back (config) or by the task
 * list (source=all, pve_task_is_ours).
 */
int	pve_lxc_start(struct pve_client *c, const char *node, long vmid,
	    struct pve_submit *out, struct err *err);
int	pve_lxc_stop(struct pve_client *c, const char *node, long vmid,
	    struct pve_submit *out, struct err *err);
/* timeout_s: 0 = PVE default (60); force_stop: stop after the timeout. */
int	pve_lxc_shutdown(struct pve_client *c, const char *node, long vmid,
	    long timeout_s, int force_stop, struct pve_submit *out,
	    struct err *err);
int	pve_lxc_reboot(struct pve_client *c, const char *node, long vmid,
	    long timeout_s, struct pve_submit *out, struct err *err);
/* description may be NULL. */
int	pve_snapshot_create(struct pve_client *c, const char *node, long vmid,
	    const char *snapname, const char *description,
	    struct pve_submit *out, struct err *err);
/* start: 1 = start the CT after the rollback (else it is left stopped). */
int	pve_snapshot_rollback(struct pve_client *c, const char *node,
	    long vmid, const char *snapname, int start, struct pve_submit *out,
	    struct err *err);
int	pve_snapshot_delete(struct pve_client *c, const char *node, long vmid,
	    const char *snapname, int force, struct pve_submit *out,
	    struct err *err);

struct pve_vzdump_options {
	const long	*vmids;		/* one or more */
	size_t		 n_vmids;
	const char	*storage;	/* NULL = PVE default */
	const char	*mode;		/* "snapshot" | "suspend" | "stop" */
	const char	*compress;	/* "zstd", "0", ... NULL = default */
	const char	*notes_template;	/* needs storage */
	int		 protect;	/* -1 not sent, 0/1 (needs storage) */
	int		 remove;	/* -1 not sent, 0/1 */
};

/* TASK, or OK (nothing to back up on this node). */
int	pve_vzdump(struct pve_client *c, const char *node,
	    const struct pve_vzdump_options *o, struct pve_submit *out,
	    struct err *err);

/*
 * POST /nodes/{node}/lxc restore=1 (pve-api.md §5.11).  `storage` is
 * required: PVE would default it to 'local', which on a stock install has
 * no container directories (400) and elsewhere silently moves the disks.
 * Without `volumes` PVE runs "storage-only mode" (every mount point of the
 * backup recreated on storage; a bind/device mount point fails for a
 * token); with them (rootfs first, then volume mpN, each
 * "STORAGE:SIZE_GiB[,options]") exactly those volumes are made and the
 * backup's mount points are not restored.  force overwrites an existing
 * CT, which must be stopped ("can't overwrite running container").
 */
struct pve_restore_options {
	const char		*archive;	/* backup volid */
	const char		*storage;	/* target storage, required */
	int			 force;		/* overwrite an existing CT */
	int			 start;		/* start it once restored */
	const struct pve_param	*volumes;	/* rootfs/mpN, or NULL */
	size_t			 n_volumes;
};

int	pve_lxc_restore(struct pve_client *c, const char *node, long vmid,
	    const struct pve_restore_options *o, struct pve_submit *out,
	    struct err *err);
/* POST /nodes/{node}/lxc: vmid plus params (ostemplate, rootfs, ...). */
int	pve_lxc_create(struct pve_client *c, const char *node, long vmid,
	    const struct pve_param *params, size_t n, struct pve_submit *out,
	    struct err *err);
/* DELETE /nodes/{node}/lxc/{vmid}; force: stop first; purge: jobs/HA. */
int	pve_lxc_destroy(struct pve_client *c, const char *node, long vmid,
	    int force, int purge, struct pve_submit *out, struct err *err);
/*
 * PUT /nodes/{node}/lxc/{vmid}/config: SYNC when applied in the
 * request (LXC today), TASK when PVE answers with a UPID.  `params` may
 * include "delete" and "digest".  On PVE_E_OUTCOME_UNKNOWN read the
 * config back to learn whether it was applied.
 */
int	pve_lxc_set_config(struct pve_client *c, const char *node, long vmid,
	    const struct pve_param *params, size_t n, struct pve_submit *out,
	    struct err *err);
/* DELETE /nodes/{node}/tasks/{upid}: stops a task (sync). */
int	pve_task_stop(struct pve_client *c, const char *upid,
	    struct err *err);

/* ---- tasks (R-05) --------------------------------------------------- */

/*
 * One poll of GET /nodes/{node}/tasks/{upid}/status (node taken from
 * the UPID).  0 with *out filled whatever the task's state; the caller
 * looks at out->state.  A UPID PVE does not know is ERR_NOT_FOUND.
 */
int	pve_task_status_once(struct pve_client *c, const char *upid,
	    struct pve_task_status *out, struct err *err);

/*
 * Turns a stopped task's status into the R-05 verdict: 0 for OK and
 * WARNINGS: n; ERR_TASK / PVE_E_TASK_FAILED otherwise, with the exit
 * status in the message and pve_last_fault(); when the task log names a
 * permission failure, the privilege and path too (one log read).
 * A running task is ERR_INVALID (programmer error).
 */
int	pve_task_verdict(struct pve_client *c, const struct pve_task_status *st,
	    struct err *err);

struct pve_wait_options {
	long	 timeout_ms;	/* deadline for the whole wait; 0 = 300000 */
	long	 first_ms;	/* first poll interval; 0 = 100 */
	long	 max_ms;	/* backoff ceiling; 0 = 2000 */
};

/*
 * Polls until the task stops or the deadline passes (backoff x1.5 from
 * first_ms to max_ms), then pve_task_verdict().  0 on OK / WARNINGS
 * (*out, may be NULL, filled; out->warnings tells), ERR_TASK on
 * failure, ERR_TIMEOUT / PVE_E_TASK_TIMEOUT when still running at the
 * deadline.  Blocking: self-tests and tools only.
 */
int	pve_wait_task(struct pve_client *c, const char *upid,
	    const struct pve_wait_options *o, struct pve_task_status *out,
	    struct err *err);

/* ---- errors (R-06) -------------------------------------------------- */

/*
 * Classifies a PVE error answer (status >= 400): the JSON body's
 * "message" (PVE >= 8.4) or else the reason phrase, plus "errors".
 * token_id (may be NULL) names the token in a 401 message.  Fills
 * *fault (may be NULL) and err; returns the ERR_* code:
 *   401 → ERR_AUTH/PVE_E_AUTH; 403 → ERR_PERMISSION (privilege, path);
 *   config missing / no such task → ERR_NOT_FOUND; "is locked (x)" →
 *   ERR_LOCKED, and so is a config lock file timeout ("can't lock file
 *   ... - got timeout", §3); already/not running, "can't overwrite
 *   running container", exists, digest → ERR_CONFLICT;
 *   other 400 → ERR_INVALID/PVE_E_PARAM; anything else ERR_HTTP.
 */
int	pve_classify_error(long status, const char *reason, const char *body,
	    size_t body_len, const char *token_id, struct pve_fault *fault,
	    struct err *err);

/*
 * Finds a permission failure in task-log text ("Permission check failed
 * (/vms/101, VM.Backup)"): 1 and fault->privilege/path set, else 0.
 */
int	pve_scan_permission(const char *text, struct pve_fault *fault);

#endif
