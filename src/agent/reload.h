/*
 * reload — what SIGHUP does.
 *
 * The configuration file is read again.  A file that no longer loads is
 * refused with a logged error and the running configuration stays.  A
 * good one has its log settings applied at once; every other key that
 * differs from the running configuration is named, taking effect at the
 * next restart (secrets named, never shown).
 *
 * The allowed_signers files are read again too.  They seed the signer
 * set once (the first start that finds keys — also a SIGHUP, when none
 * were there before); after that the database is the live set and only
 * a signed rotate_signers op changes it.  So a SIGHUP never replaces the
 * live set: it logs, key by key, how each file differs from it.
 */
#ifndef FELHOM_AGENT_RELOAD_H
#define FELHOM_AGENT_RELOAD_H

#include <stdint.h>

#include "base/config.h"
#include "base/err.h"
#include "store/db.h"

/* What a reload found (for the caller's STATUS line and tests). */
struct reload_result {
	int	config_ok;		/* the new file loaded */
	size_t	config_changed;		/* keys differing, log.* too */
	size_t	signer_differences;	/* keys differing, all roles */
	int	signers_seeded;		/* first seed happened now */
};

/*
 * Reads config_path (NULL = default) and the signer files it names;
 * logs every finding itself.  `running` is the configuration in use.
 * Returns 0, or the error that stopped the signer comparison (the
 * caller logs nothing more: it was logged).
 */
int	reload_run(const struct config *running, const char *config_path,
	    struct db *db, int64_t now, struct reload_result *out);

/*
 * The dotted names ("pve.url", "log.level", ...) of the keys whose
 * values differ between a and b, comma-separated into out (cap bytes,
 * truncated with "..."); secrets compared by value, named only.
 * Returns how many differ.
 */
size_t	reload_config_diff(const struct config *a, const struct config *b,
	    char *out, size_t cap);

#endif
