/*
 * cmd — the felhom-admin command table and shared option helpers.
 * Exit codes are sysexits.h: 0, 64 usage, 65 bad data, 69 unavailable,
 * 70 internal, 75 temporary, 78 config (except where a command's own
 * contract says otherwise, e.g. `verify`).
 */
#ifndef FELHOM_ADMIN_CMD_H
#define FELHOM_ADMIN_CMD_H

#include "base/err.h"

typedef int (*cmd_fn)(int argc, char **argv);

struct cmd {
	const char	*name;
	cmd_fn		 fn;
	const char	*summary;
};

/* Maps an ERR_* to the sysexits code an operator's script can branch on. */
int	cmd_exit_code(int err_code);

int	cmd_db(int argc, char **argv);
/* db init, db backup, db check (cmd_dbstate.c): argv[0] is "db". */
int	cmd_db_init(int argc, char **argv);
int	cmd_db_backup(int argc, char **argv);
int	cmd_db_check(int argc, char **argv);

#endif
