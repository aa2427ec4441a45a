/*
 * crash — named crash points for recovery tests.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crash.h"

struct crash_def {
	const char	*name;
	const char	*what;
};

/* Grouped by the module that hits them. */
static const struct crash_def crash_table[] = {
	/* name				what */
	{ "db.migrate.before_commit",	"a migration ran, not committed" },
	{ "archive.copied",		"rows copied into an archive, not yet "
					"deleted from the live tables" },
	{ "archive.before_commit",	"archived rows deleted from the live "
					"tables, not committed" },
	{ "sm.before_commit",		"a transition's transaction, before "
					"COMMIT (any event)" },
	{ "sm.after_commit",		"a transition committed, before the "
					"next step (any event)" },
	{ "exec.after_post",		"a mutating PVE request returned, its "
					"UPID not yet committed" },
	{ "exec.outcome_unknown",	"a mutating PVE request's answer was "
					"lost: inside the unknown-outcome "
					"window" },
	{ "gate.after_nonce",		"nonce inserted, op not yet committed "
					"as authorized" },
	{ "hub.mid_report",		"report built and sent, envelope not "
					"yet applied" },
	{ "hub.mid_desired",		"desired state half stored, not "
					"committed" },
	{ "hub.mid_signed_ops",		"the hub answered GET /signed-ops, its "
					"entries not yet committed" },
};

int
crash_known(const char *name)
{
	size_t i, n;
	const char *dot;

	for (i = 0; i < sizeof(crash_table) / sizeof(crash_table[0]); i++) {
		if (strcmp(crash_table[i].name, name) == 0)
			return 1;
		/* "sm.after_commit.<event>" narrows a point to one event. */
		n = strlen(crash_table[i].name);
		dot = name + n;
		if (strncmp(crash_table[i].name, name, n) == 0 && *dot == '.')
			return 1;
	}
	return 0;
}

int
crash_list(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(crash_table) / sizeof(crash_table[0]); i++)
		fprintf(f, "%-28s %s\n", crash_table[i].name,
		    crash_table[i].what);
	return 0;
}

#ifdef FELHOM_TESTING
/*
 * FELHOM_CRASHPOINT_TRACE=PATH appends the name of every point passed to
 * PATH (one a line), so tools/crash-matrix learns from a scenario's run
 * without a crash which points that scenario reaches.
 */
static void
trace(const char *name)
{
	const char *path = getenv("FELHOM_CRASHPOINT_TRACE");
	char line[128];
	ssize_t w;
	int fd, n;

	if (path == NULL || path[0] == '\0')
		return;
	n = snprintf(line, sizeof(line), "%s\n", name);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) < 0)
		return;
	/* A short trace only makes the matrix run fewer cases: warned. */
	w = write(fd, line, (size_t)n);
	(void) w;
	(void) close(fd);
}

void
crash_point_hit(const char *name)
{
	const char *want = getenv("FELHOM_CRASHPOINT");

	trace(name);
	if (want == NULL || strcmp(want, name) != 0)
		return;
	_exit(137);
}
#endif
