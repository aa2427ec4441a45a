/*
 * privtu — a privileged helper rig for the integration suites: a temp
 * dir with bind roots, a fake sysfs, the fake tools of tools/fakes
 * (linked in, with their fakes.json pointing at a running pve-sim and
 * recording every call), a helper config, and felhom-privhelper started
 * unprivileged with --listen on it.
 */
#ifndef FELHOM_TESTS_PRIVTU_H
#define FELHOM_TESTS_PRIVTU_H

#include <sys/types.h>

#include <jansson.h>

#include "testutil.h"

struct ptu_rig {
	char		*dir;		/* the temp dir (owned) */
	struct tu_sim	 helper;	/* the helper process */
	char		 socket[256];	/* its socket */
	char		 record[256];	/* the fakes' call log */
	char		 config[256];	/* its config file */
};

/*
 * Builds the rig and starts the helper.  sim: the running pve-sim the
 * fakes act on.  agent_uid: the uid the helper serves (use getuid(), or
 * another to see it refuse).  Fails the test on error.
 */
void	ptu_rig_start(struct ptu_rig *rig, const struct tu_sim *sim,
	    uid_t agent_uid);
/* Stops the helper and removes the temp dir (NULL-safe on a stopped rig). */
void	ptu_rig_stop(struct ptu_rig *rig);

/* "<dir>/<rel>" in a rotating static buffer. */
const char *ptu_path(const struct ptu_rig *rig, const char *rel);

/* The recorded calls as an array of {"tool", "argv"} (never NULL). */
json_t	*ptu_calls(const struct ptu_rig *rig);
/* Number of recorded calls of tool (NULL: any). */
size_t	 ptu_ncalls(const struct ptu_rig *rig, const char *tool);
/* Forgets the recorded calls. */
void	 ptu_calls_clear(const struct ptu_rig *rig);

/* A fake USB device in the rig's sysfs (bus and dev numbers). */
void	 ptu_usb(const struct ptu_rig *rig, const char *name,
	    const char *vendor, const char *product, int bus, int dev);

#endif
