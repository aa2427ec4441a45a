/*
 * e2etu — the end-to-end harness of the gate's suites: tools/pve-sim and
 * tools/hub-sim, a config and real ssh-keygen keys (alice operational,
 * rec recovery, eve unknown) in a temp dir, the real felhom-agent and
 * felhom-admin, blobs, the hub's queue, the simulator's counters and the
 * agent's database read-only.
 */
#ifndef FELHOM_TESTS_E2ETU_H
#define FELHOM_TESTS_E2ETU_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/db.h"
#include "testutil.h"

#define E2E_HOST	"pve-01"
#define E2E_NS		"felhom-op-v1"

extern struct tu_sim e2e_pve, e2e_hub;
extern char *e2e_dir;
extern char e2e_cfgpath[4096], e2e_dbpath[4096];

/* Unchecked fixture: both simulators (pve-sim tasks of 0.05 s). */
void	e2e_sims_start(void);
void	e2e_sims_stop(void);
/* Checked fixture: worlds reset, a temp dir, keys, signer files, config. */
void	e2e_setup(void);
void	e2e_teardown(void);

/* felhom-agent --once; its exit status (stderr to *err_out if given). */
int	e2e_agent_once(int timeout_s, char **err_out);
/* felhom-admin ARGS...; the exit status, stdout in *out (may be NULL). */
int	e2e_admin(const char *const args[], char **out);

/* A canonical blob (heap); e2e_blob_now: valid from a minute ago, 1 h. */
char	*e2e_blob(const char *op, int64_t guest, const char *params,
	    int64_t nb, int64_t na);
char	*e2e_blob_now(const char *op, int64_t guest, const char *params);
/* ssh-keygen -Y sign with the key of name (alice, rec, eve) (heap). */
char	*e2e_sign(const char *key, const void *blob, size_t len);
/* One signed-ops entry at the hub; op_id and sig may be NULL. */
void	e2e_hub_post(const char *op_id, const void *blob, size_t len,
	    const char *sig);
void	e2e_hub_desired(const char *doc);

/* pve-sim: a control call that must answer 200. */
void	e2e_pve_ctl(const char *path, const char *body);
/* The count of "vmid:kind" mutating requests; the number of such keys. */
int	e2e_pve_count(const char *key);
size_t	e2e_pve_keys(void);
/* GET /_sim/requests[?vmid=N] (caller decrefs). */
json_t	*e2e_pve_requests(int64_t vmid);
/* The backup volids of vmid on storage, sorted, ',' joined (heap). */
char	*e2e_backups(int64_t vmid, const char *storage);

/* The agent's database, read-only. */
struct db *e2e_db(void);
int64_t	e2e_count_ops(const char *state);
/* 1 when an audit row has code (and, when given, event). */
int	e2e_audited(const char *event, const char *code);
/* The detail of the newest audit row with code (heap), or NULL. */
char	*e2e_audit_detail(const char *code);
/* The uid of the only op in state (heap); fails unless exactly one. */
char	*e2e_only_op(const char *state);
char	*e2e_op_state(const char *uid);

#endif
