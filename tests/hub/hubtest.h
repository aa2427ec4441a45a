/*
 * hubtest — shared by the hub-area suites: the two simulators, a config
 * pointing at them, an open database and clients, and the golden key-set
 * comparison (the rule of tools/hub-sim/keyset.py, in C).
 */
#ifndef FELHOM_TESTS_HUBTEST_H
#define FELHOM_TESTS_HUBTEST_H

#include <stddef.h>

#include <jansson.h>

#include "agent/collect.h"
#include "base/config.h"
#include "hub/hub.h"
#include "pve/pve.h"
#include "store/db.h"
#include "testutil.h"

struct ht_env {
	struct tu_sim		 hub;		/* pid 0 when not started */
	struct tu_sim		 pve;
	char			*dir;
	char			 dbpath[512];
	char			 desired_file[512];
	struct config		*cfg;
	struct db		*db;
	struct pve_client	*pvec;
	struct hub_client	*hubc;
	struct collect_source	 src;
};

/* Starts the simulators (pve_extra: extra pve-sim args, may be NULL). */
void	ht_sims_start(struct ht_env *e, const char *const pve_extra[]);
void	ht_sims_stop(struct ht_env *e);

/*
 * Makes a temp dir, a config (hub.mode on/off; extra JSON members for
 * the top level may be NULL), opens the database and the clients and
 * fills e->src.  Asserts on failure.
 */
void	ht_open(struct ht_env *e, int hub_on);
void	ht_close(struct ht_env *e);

/* The config text ht_open() writes (for running the real binary). */
char	*ht_config_text(const struct ht_env *e, int hub_on);

/*
 * Key-set differences between golden and doc (keyset.py's rule), one per
 * line into out (size n); returns their number.
 */
size_t	ht_keyset_diff(const json_t *golden, const json_t *doc, char *out,
	    size_t n);

/* Runs tools/hub-sim/keyset.py GOLDEN - on doc; returns its exit code. */
int	ht_keyset_py(const json_t *doc, char **out);

/* The golden report (caller decrefs). */
json_t	*ht_golden(void);

#endif
