/*
 * felhom-admin — the operator's command: inspect and steer the agent
 * through the same database and engine code.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "admin/cmd.h"
#include "admin/cmd_authz.h"
#include "admin/cmd_engine.h"
#include "admin/cmd_gate.h"
#include "base/err.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cmd cmds[] = {
	/* name		fn		summary */
	{ "db",		cmd_db,		"create, upgrade, back up or check the database" },
	/* authz commands */
	{ "verify",	cmd_verify,	"verify an SSHSIG signature" },
	{ "op",		cmd_op,		"compose or check a signed op" },
	{ "pending",	cmd_pending,	"list ops waiting for a signature" },
	{ "approve",	cmd_approve,	"approve a pending op with a signature" },
	{ "states",	cmd_states,	"print the operation state machine" },
	{ "version",	cmd_version,	"print the version" },
	{ "help",	cmd_help,	"list the commands" },
};

int
cmd_exit_code(int code)
{
	switch (code) {
	case 0:
		return 0;
	case ERR_INVALID:
		return EX_USAGE;
	case ERR_FORMAT:
	case ERR_CORRUPT:
	case ERR_FOREIGN:
	case ERR_VERSION:
	case ERR_REJECTED:
		return EX_DATAERR;
	case ERR_BUSY:
	case ERR_LOCKED:
		return EX_TEMPFAIL;
	case ERR_CONFIG:
		return EX_CONFIG;
	case ERR_NOT_FOUND:
		return EX_NOINPUT;
	case ERR_IO:
	case ERR_FULL:
	case ERR_READONLY:
		return EX_IOERR;
	case ERR_TRANSPORT:
	case ERR_HTTP:
	case ERR_AUTH:
	case ERR_PERMISSION:
	case ERR_TLS:
	case ERR_TIMEOUT:
		return EX_UNAVAILABLE;
	default:
		return EX_SOFTWARE;
	}
}

static int
cmd_version(int argc, char **argv)
{
	(void) argc;
	(void) argv;
	printf("felhom-admin %s\n", FELHOM_VERSION);
	return 0;
}

static int
cmd_help(int argc, char **argv)
{
	size_t i;

	(void) argc;
	(void) argv;
	printf("usage: felhom-admin COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].summary);
	printf("\nfelhom-admin COMMAND --help shows a command's options.\n");
	return 0;
}

int
main(int argc, char **argv)
{
	size_t i;

	/*
	 * issue 10: whatever this process creates (the database and what
	 * SQLite makes beside it, the lock, a migration copy, a blob to
	 * sign) is private to its user, whatever umask the caller had.
	 */
	(void) umask(077);
	if (argc < 2) {
		(void) cmd_help(0, NULL);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(0, NULL);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(0, NULL);
	/*
	 * "felhom-admin --config PATH COMMAND ..." means "COMMAND --config
	 * PATH ...": the option is the command's (pending, approve, ...).
	 */
	if (argc >= 4 && strcmp(argv[1], "--config") == 0) {
		char *opt = argv[1], *val = argv[2];

		argv[1] = argv[3];
		argv[2] = opt;
		argv[3] = val;
	} else if (argc >= 3 && strncmp(argv[1], "--config=", 9) == 0) {
		char *opt = argv[1];

		argv[1] = argv[2];
		argv[2] = opt;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "felhom-admin: unknown command '%s' (try "
	    "'felhom-admin help')\n", argv[1]);
	return EX_USAGE;
}
