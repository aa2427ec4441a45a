/*
 * cmd_authz — felhom-admin's operator-signature commands (R-10 .. R-15):
 * `verify` (ssh-keygen -Y verify's meaning, felhom's verifier) and
 * `op new` / `op check` (compose a blob to sign, dry-run the pipeline).
 */
#ifndef FELHOM_ADMIN_CMD_AUTHZ_H
#define FELHOM_ADMIN_CMD_AUTHZ_H

#include <stddef.h>

#include "base/err.h"

int	cmd_verify(int argc, char **argv);
int	cmd_op(int argc, char **argv);

/*
 * Reads path ("-" = stdin) whole into a NUL-terminated heap buffer;
 * more than cap bytes is ERR_TOO_LARGE.  Caller frees *out.
 */
int	cmd_authz_read(const char *path, size_t cap, char **out,
	    size_t *len_out, struct err *err);

#endif
