/*
 * felhom-agent — the per-host daemon (DESIGN.md "Processes").
 * This file parses the command line and hands over to agent_run() and
 * the self-tests; the loop lives in agent/agent.c.
 */
#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <jansson.h>

#include "agent/agent.h"
#include "base/config.h"
#include "base/err.h"
#include "base/exitcode.h"
#include "base/log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: felhom-agent [--config PATH] [--once [--once-timeout S]]\n"
	    "       felhom-agent [--config PATH] --print-config\n"
	    "       felhom-agent [--config PATH] --selftest[=read|hub]\n"
	    "       felhom-agent [--config PATH] --selftest=task"
	    " [--guest VMID [--yes]]\n"
	    "       felhom-agent --list-crashpoints\n"
	    "       felhom-agent --version\n");
}

static void
help(void)
{
	usage(stdout);
	printf("\n"
	    "The per-host daemon of felhom: reports the host to the hub, "
	    "takes desired\nstate and operator-signed operations, and "
	    "drives the containers through\nthe Proxmox API.  See "
	    "felhom-agent(8).\n"
	    "\n"
	    "  --config PATH       configuration file (default "
	    CONFIG_DEFAULT_PATH ")\n"
	    "  --once              one start-up, one hub cycle, run until "
	    "nothing can move\n"
	    "                      without outside input, then exit; "
	    "non-zero when the\n"
	    "                      cycle failed (the reason on stderr)\n"
	    "  --once-timeout S    with --once: stop waiting after S seconds "
	    "(default 120)\n"
	    "  --print-config      the effective configuration, secrets "
	    "redacted\n"
	    "  --selftest[=MODE]   read (default): PVE reachable, token "
	    "and privileges;\n"
	    "                      task: one reversible change on --guest "
	    "VMID; hub: one\n"
	    "                      report round trip\n"
	    "  --list-crashpoints  the crash points of a test build\n"
	    "\nexit status:\n");
	exitcode_print(stdout, 0);
}

int
main(int argc, char **argv)
{
	enum { OPT_PRINT = 256, OPT_SELFTEST, OPT_ONCE, OPT_ONCE_TIMEOUT,
	    OPT_CRASHPOINTS, OPT_GUEST, OPT_VERSION, OPT_YES };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "print-config", no_argument, NULL, OPT_PRINT },
		{ "selftest", optional_argument, NULL, OPT_SELFTEST },
		{ "guest", required_argument, NULL, OPT_GUEST },
		{ "yes", no_argument, NULL, OPT_YES },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "once-timeout", required_argument, NULL, OPT_ONCE_TIMEOUT },
		{ "list-crashpoints", no_argument, NULL, OPT_CRASHPOINTS },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent_options ao;
	struct config *cfg = NULL;
	struct err err;
	int c, print = 0, rc, timeout_given = 0;
	char *end;

	memset(&ao, 0, sizeof(ao));
	ao.once_timeout_s = 120;
	/*
	 * issue 10: whatever this process creates (the database and what
	 * SQLite makes beside it, the lock, a migration copy, a blob to
	 * sign) is private to its user, whatever umask the caller had.
	 */
	(void) umask(077);
	err_init(&err);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ao.config_path = optarg;
			break;
		case OPT_PRINT:
			print = 1;
			break;
		case OPT_SELFTEST:
			ao.selftest = optarg != NULL ? optarg : "read";
			break;
		case OPT_GUEST:
			ao.guest = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' ||
			    ao.guest < 100 || ao.guest > 999999999) {
				fprintf(stderr, "felhom-agent: --guest: '%s' is "
				    "not a vmid (100-999999999)\n", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_YES:
			ao.yes = 1;
			break;
		case OPT_ONCE:
			ao.once = 1;
			break;
		case OPT_ONCE_TIMEOUT:
			ao.once_timeout_s = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' ||
			    ao.once_timeout_s < 1) {
				fprintf(stderr, "felhom-agent: --once-timeout: "
				    "'%s' is not a positive number of "
				    "seconds\n", optarg);
				return EX_USAGE;
			}
			timeout_given = 1;
			break;
		case OPT_CRASHPOINTS:
			return agent_list_crashpoints(stdout);
		case OPT_VERSION:
			printf("felhom-agent %s\n", FELHOM_VERSION);
			return 0;
		case 'h':
			help();
			return fflush(stdout) == 0 ? 0 : EX_IOERR;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "felhom-agent: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	/* Options that only mean something with another. */
	if (timeout_given && !ao.once) {
		fprintf(stderr, "felhom-agent: --once-timeout needs --once\n");
		usage(stderr);
		return EX_USAGE;
	}
	if (ao.guest != 0 && (ao.selftest == NULL ||
	    strcmp(ao.selftest, "task") != 0)) {
		fprintf(stderr, "felhom-agent: --guest needs "
		    "--selftest=task\n");
		usage(stderr);
		return EX_USAGE;
	}
	if (ao.once && (ao.selftest != NULL || print)) {
		fprintf(stderr, "felhom-agent: --once cannot be combined with "
		    "--%s\n", print ? "print-config" : "selftest");
		usage(stderr);
		return EX_USAGE;
	}
	if (ao.selftest != NULL && strcmp(ao.selftest, "read") != 0 &&
	    strcmp(ao.selftest, "task") != 0 &&
	    strcmp(ao.selftest, "hub") != 0) {
		fprintf(stderr, "felhom-agent: --selftest=%s: unknown mode; "
		    "valid modes: read|task|hub\n", ao.selftest);
		return EX_USAGE;
	}
	if ((ao.guest != 0 || ao.yes) && (ao.selftest == NULL ||
	    strcmp(ao.selftest, "task") != 0)) {
		fprintf(stderr, "felhom-agent: --guest and --yes belong to "
		    "--selftest=task\n");
		return EX_USAGE;
	}
	if (ao.yes && ao.guest == 0) {
		fprintf(stderr, "felhom-agent: --yes confirms a self-test on "
		    "--guest VMID; the scratch guest needs none\n");
		return EX_USAGE;
	}
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	if ((rc = config_load(ao.config_path, NULL, &cfg, &err)) != 0) {
		fprintf(stderr, "felhom-agent: %s\n", err_msg(&err));
		return exitcode_of(rc);
	}
	if ((rc = config_register_secrets(cfg)) != 0) {
		fprintf(stderr, "felhom-agent: out of memory\n");
		config_free(cfg);
		return EX_SOFTWARE;
	}
	log_setup((enum log_level)cfg->log_level,
	    (enum log_format)cfg->log_format, NULL);
	if (print) {
		json_t *j = config_to_json(cfg);

		if (j == NULL || json_dumpf(j, stdout, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER) != 0) {
			json_decref(j);
			config_free(cfg);
			return EX_IOERR;
		}
		putchar('\n');
		json_decref(j);
		config_free(cfg);
		return 0;
	}
	rc = agent_main(cfg, &ao);
	config_free(cfg);
	log_clear_secrets();
	return rc;
}
