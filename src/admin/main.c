/*
 * felhom-admin — the operator's command: inspect and steer the agent
 * through the same database and engine code.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] COMMAND [ARGS]
 */
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "admin/cmd.h"
#include "base/exitcode.h"

static int cmd_version(struct cmd_ctx *ctx, int argc, char **argv);
static int cmd_help(struct cmd_ctx *ctx, int argc, char **argv);

static const struct cmd cmds[] = {
	/* name		fn		summary */
	{ "status",	cmd_status,	"one screen: agent, hub, ops, "
					"signers" },
	{ "report",	cmd_report,	"the host report, now or as last "
					"sent" },
	{ "journal",	cmd_journal,	"the transition journal" },
	{ "show",	cmd_show,	"one operation: steps, journal, "
					"audit" },
	{ "audit",	cmd_audit,	"the audit log" },
	{ "pending",	cmd_pending,	"operations waiting for a signature" },
	{ "approve",	cmd_approve,	"approve a pending operation" },
	{ "cancel",	cmd_cancel,	"cancel an operation not started" },
	{ "recover",	cmd_recover,	"operations in flight: resume, roll "
					"back, abandon" },
	{ "signers",	cmd_signers,	"the live signer set, and the files" },
	{ "db",		cmd_db,		"check, back up, create or upgrade "
					"the database" },
	{ "nonces",	cmd_nonces,	"prune expired nonces" },
	{ "verify",	cmd_verify,	"verify an SSHSIG signature" },
	{ "op",		cmd_op,		"compose or check a signed op" },
	{ "states",	cmd_states,	"print the operation state machine" },
	{ "version",	cmd_version,	"print the version" },
	{ "help",	cmd_help,	"list the commands and exit statuses" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-admin [--config PATH] [--db PATH] [--json] "
	    "COMMAND [ARGS]\n");
}

static int
cmd_version(struct cmd_ctx *ctx, int argc, char **argv)
{
	(void) ctx;
	(void) argc;
	(void) argv;
	printf("felhom-admin %s\n", FELHOM_VERSION);
	return cmd_done(0);
}

static int
cmd_help(struct cmd_ctx *ctx, int argc, char **argv)
{
	size_t i;

	(void) ctx;
	(void) argc;
	(void) argv;
	usage(stdout);
	printf("\n"
	    "  --config PATH  the configuration (default "
	    CONFIG_DEFAULT_PATH ")\n"
	    "  --db PATH      the database, instead of the configuration's\n"
	    "  --json         output for scripts instead of tables\n"
	    "The global options may also follow the command name.\n"
	    "\ncommands:\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-10s %s\n", cmds[i].name, cmds[i].summary);
	printf("\n'felhom-admin COMMAND --help' shows a command's options; "
	    "see felhom-admin(1).\n\nexit status:\n");
	exitcode_print(stdout, 0);
	return cmd_done(0);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]; 1 when it matched. */
static int
global_value(int argc, char **argv, int *i, const char *name,
    const char **out, int *bad)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*out = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "felhom-admin: %s needs a value\n", name);
		*bad = 1;
		return 1;
	}
	*out = argv[++*i];
	return 1;
}

int
main(int argc, char **argv)
{
	struct cmd_ctx ctx;
	size_t k;
	int i, bad = 0, rc;

	/*
	 * issue 10: whatever this process creates (the database and what
	 * SQLite makes beside it, the lock, a migration copy, a blob to
	 * sign) is private to its user, whatever umask the caller had.
	 */
	(void) umask(077);
	memset(&ctx, 0, sizeof(ctx));
	/* The global options before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (global_value(argc, argv, &i, "--config", &ctx.config_path,
		    &bad) || global_value(argc, argv, &i, "--db",
		    &ctx.db_path, &bad)) {
			if (bad)
				return EX_USAGE;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0)
			ctx.json = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return cmd_help(&ctx, 0, NULL);
		else if (strcmp(argv[i], "--version") == 0)
			return cmd_version(&ctx, 0, NULL);
		else {
			fprintf(stderr, "felhom-admin: unknown option '%s'\n",
			    argv[i]);
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		fprintf(stderr, "'felhom-admin help' lists the commands.\n");
		return EX_USAGE;
	}
	for (k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
		if (strcmp(argv[i], cmds[k].name) != 0)
			continue;
		cmd_enter(&ctx, cmds[k].name, argv + i);
		rc = cmds[k].fn(&ctx, argc - i, argv + i);
		config_free(ctx.cfg);
		return rc;
	}
	fprintf(stderr, "felhom-admin: unknown command '%s' (try "
	    "'felhom-admin help')\n", argv[i]);
	return EX_USAGE;
}
