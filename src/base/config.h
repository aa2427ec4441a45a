/*
 * config — the agent's configuration: a JSON file, then
 * FELHOM_AGENT_<SECTION>_<KEY> environment overrides, validated per mode,
 * defaults filled.  Key names are an operator contract
 * (shared/fixtures/config/example.json).  Secrets (pve.token_secret,
 * hub.token) are printed only as "<redacted>".
 */
#ifndef FELHOM_BASE_CONFIG_H
#define FELHOM_BASE_CONFIG_H

#include <jansson.h>

#include "base/err.h"

#define CONFIG_DEFAULT_PATH	"/etc/felhom-agent/config.json"
#define CONFIG_DEFAULT_DB	"/var/lib/felhom-agent/state.db"
/* issue 15: terminal ops older than this move to an archive. */
#define CONFIG_DEFAULT_RETENTION_DAYS	90
#define CONFIG_DEFAULT_PVE_URL	"https://127.0.0.1:8006/api2/json"
#define CONFIG_DEFAULT_PVE_CA	"/etc/pve/pve-root-ca.pem"
#define CONFIG_MAX_BYTES	(256 * 1024)
/*
 * The largest authz.clock_skew_s any process may be configured with.
 * A consumed nonce is kept until not_after plus this, so no
 * process's setting, and no later change of it, reopens a replay window.
 */
#define CONFIG_CLOCK_SKEW_MAX_S	3600

struct config {
	char	*path;			/* file read */
	char	*host_id;		/* host.id */
	char	*host_node;		/* host.node (default: short hostname) */
	char	*database;
	char	*pve_url;
	char	*pve_token_id;		/* USER@REALM!TOKENID */
	char	*pve_token_secret;	/* secret */
	char	*pve_fingerprint;	/* "AA:BB:..." upper case, or NULL */
	char	*pve_ca_file;		/* NULL when fingerprint/insecure */
	int	 pve_insecure;
	long	 pve_timeout_s;
	long	 pve_max_concurrent;	/* PVE requests at once (issue 17) */
	int	 hub_on;		/* hub.mode == "on" */
	char	*hub_url;
	char	*hub_token;		/* secret */
	char	*hub_ca_file;		/* NULL = system roots */
	char	*desired_file;
	char	*authz_operational;	/* allowed_signers file paths */
	char	*authz_recovery;
	long	 authz_clock_skew_s;
	long	 authz_max_window_s;
	long	 authz_sign_request_ttl_s;
	int	 priv_on;		/* priv.mode == "on" */
	char	*priv_socket;
	char	*priv_agent_user;	/* helper: the one peer it serves */
	char	*priv_bind_roots;	/* helper: comma-separated dirs */
	long	 priv_vmid_min, priv_vmid_max;	/* helper: guests it acts on */
	char	*priv_pct, *priv_pvesm;	/* helper: tool paths */
	char	*priv_smartctl, *priv_sensors;
	long	 priv_timeout_s;	/* helper: pct create/restore/set */
	long	 priv_idle_exit_s;	/* helper: exit when idle */
	char	*priv_sysfs_root;	/* disks (agent), USB (helper) */
	long	 rt_hold_s;		/* restore_tests.hold_s */
	long	 retention_days;	/* terminal ops archived after */
	int	 log_level;		/* enum log_level */
	int	 log_format;		/* enum log_format */
};

/*
 * Loads path (NULL = CONFIG_DEFAULT_PATH), applies the environment
 * (envp NULL = environ) and validates.  ERR_CONFIG with a message naming
 * the key and why; ERR_NOT_FOUND / ERR_IO for the file.  Caller frees
 * *out with config_free().
 */
int	config_load(const char *path, char *const *envp, struct config **out,
	    struct err *err);
/*
 * The privileged helper's view of the same file: every key is still
 * checked to be known, but only the priv section is validated (the
 * helper needs no PVE token and no hub).  When run as root the file must
 * be owned by root and writable by nobody else: its priv section is the
 * helper's policy.
 */
int	config_load_helper(const char *path, char *const *envp,
	    struct config **out, struct err *err);
/* As config_load, from a JSON text (tests); `what` names it. */
int	config_load_text(const char *text, const char *what, char *const *envp,
	    struct config **out, struct err *err);
void	config_free(struct config *cfg);

/*
 * The effective configuration as JSON in the file's shape, every secret
 * as "<redacted>".  Caller decrefs.  NULL on allocation failure.
 */
json_t	*config_to_json(const struct config *cfg);

/* Registers the secrets with the log's masking (log_add_secret). */
int	config_register_secrets(const struct config *cfg);

#endif
