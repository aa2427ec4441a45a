/*
 * agent — the daemon: start-up (lock, database, recovery), the loop
 * (hub cycle, reconcile, lanes), signals, and the self-tests.
 */
#ifndef FELHOM_AGENT_AGENT_H
#define FELHOM_AGENT_AGENT_H

#include <stdio.h>

#include "base/config.h"

struct agent_options {
	const char	*config_path;	/* NULL = default */
	const char	*selftest;	/* NULL, "read", "task", "hub" */
	long		 guest;		/* --guest for selftest=task */
	int		 yes;		/* --yes: confirmed beforehand */
	int		 once;		/* --once */
	long		 once_timeout_s;
};

/* Runs the daemon or a self-test; returns the process exit status. */
int	agent_main(const struct config *cfg, const struct agent_options *ao);

/* --list-crashpoints; returns the exit status. */
int	agent_list_crashpoints(FILE *f);

#endif
