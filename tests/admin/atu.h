/*
 * atu — helpers of the felhom-admin suites: the simulators, a fresh
 * agent configuration with real ssh-keygen signers, the real binaries
 * (felhom-agent --once or as a daemon, felhom-admin with its output),
 * signed blobs, the simulators' counters, and byte snapshots of the
 * database.
 */
#ifndef FELHOM_TESTS_ATU_H
#define FELHOM_TESTS_ATU_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "testutil.h"

#define AT_HOST	"pve-01"
#define AT_NS	"felhom-op-v1"

/* One test's world: sims (shared), a temp dir, keys and a config. */
struct at_env {
	struct tu_sim	 pve;
	struct tu_sim	 hub;
	char		*dir;
	char		 cfg[4096];	/* config.json */
	char		 db[4096];	/* state.db */
	long		 skew_s;	/* authz.clock_skew_s written */
};

extern struct at_env at;

/*
 * Starts / stops both simulators (an unchecked fixture).  Starting them
 * while they run does nothing: a suite may share them between groups of
 * cases (at_setup resets both worlds) and stop them at the end.
 */
void	at_sims_start(void);
void	at_sims_stop(void);

/*
 * Resets the sims, makes a temp dir with keys alice (operational, in
 * the file) and eve (not a signer), and writes the configuration
 * (authz.clock_skew_s = at.skew_s).  at_teardown() removes it.
 */
void	at_setup(void);
void	at_teardown(void);
/* Rewrites the configuration (after changing at.skew_s). */
void	at_write_config(void);

/* felhom-agent --once --once-timeout s; its exit status. */
int	at_agent_once(int timeout_s);
/* The daemon in the background (log in dir/agent.log); its pid. */
pid_t	at_agent_start(void);
/* SIGTERM and wait; its exit status. */
int	at_agent_stop(pid_t pid);

/*
 * felhom-admin with args (NULL-terminated), as operator "tester"
 * (SUDO_USER): *out / *err (heap, may be NULL to discard).  Returns the
 * exit status.
 */
int	at_admin(const char *const args[], char **out, char **err);
/* As at_admin with --config first and --json appended; parsed stdout. */
json_t	*at_admin_json(const char *const args[], int *status);

/* An op blob (heap) for op on guest (0: none) valid [now-60, now+ttl]. */
char	*at_blob(const char *op, int64_t guest, const char *params,
	    int64_t ttl_s);
/* ssh-keygen -Y sign with dir/key (heap). */
char	*at_sign(const char *key, const void *blob, size_t len);
/* Queues a signed-ops entry at the hub (sig NULL: unsigned; ref: op). */
void	at_hub_post(const char *ref, const void *blob, size_t len,
	    const char *sig);
/* POSTs body to a sim control path; fails the test unless 200. */
void	at_sim(struct tu_sim *sim, const char *path, const char *body);
/* The pve-sim count of "vmid:kind" requests. */
int	at_pve_count(const char *key);

/* The uid (heap) of the only op in state; fails unless exactly one. */
char	*at_only_op(const char *state);
/* The op's state (heap). */
char	*at_op_state(const char *uid);

/* The bytes of the database and its WAL, for "nothing changed". */
struct at_snap {
	char	*db;
	size_t	 dblen;
	char	*wal;		/* NULL when there is none (= empty) */
	size_t	 wallen;
};
void	at_snap_take(struct at_snap *s);
int	at_snap_same(const struct at_snap *a, const struct at_snap *b);
void	at_snap_free(struct at_snap *s);

#endif
