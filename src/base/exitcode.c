/*
 * exitcode — the exit statuses both binaries share.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "base/err.h"
#include "base/exitcode.h"

static const struct exitcode_info table[] = {
	{ 0, "ok", "success" },
	{ EXITCODE_NEGATIVE, "negative", "the answer is no: a signature "
	    "rejected, an operation not found or not in a state the action "
	    "applies to, a failed check (db check, verify, op check)" },
	{ EX_USAGE, "usage", "unknown command or option, a missing or "
	    "malformed argument, an option without the one it needs "
	    "(--once-timeout without --once)" },
	{ EX_DATAERR, "dataerr", "bad data: a database that is corrupt or "
	    "not felhom-agent's, an invalid desired state (--once)" },
	{ EX_NOINPUT, "noinput", "a file that does not exist: the "
	    "configuration, the database, a signature file" },
	{ EX_UNAVAILABLE, "unavailable", "PVE or the hub unreachable or "
	    "refusing (token, TLS, HTTP error): --once, the self-tests, "
	    "report" },
	{ EX_SOFTWARE, "software", "an internal error (a bug) or out of "
	    "memory" },
	{ EX_IOERR, "ioerr", "a file or the database cannot be read or "
	    "written (permissions, disk full, read-only), at start-up as "
	    "while running" },
	{ EX_TEMPFAIL, "tempfail", "try again: the database is busy, or "
	    "another felhom-agent holds the lock" },
	{ EX_CONFIG, "config", "the configuration is invalid, or the "
	    "database schema is newer than this binary" },
};

const struct exitcode_info *
exitcode_table(size_t *n_out)
{
	*n_out = sizeof(table) / sizeof(table[0]);
	return table;
}

int
exitcode_of(int err_code)
{
	switch (err_code) {
	case 0:
		return 0;
	case ERR_REJECTED:
	case ERR_CONFLICT:
	case ERR_TRANSITION:
		return EXITCODE_NEGATIVE;
	case ERR_INVALID:
		return EX_USAGE;
	case ERR_TRUNCATED:
	case ERR_TOO_LARGE:
	case ERR_FORMAT:
	case ERR_CORRUPT:
	case ERR_FOREIGN:
	case ERR_UNSUPPORTED:
		return EX_DATAERR;
	case ERR_NOT_FOUND:
		return EX_NOINPUT;
	case ERR_TRANSPORT:
	case ERR_HTTP:
	case ERR_AUTH:
	case ERR_PERMISSION:
	case ERR_TLS:
	case ERR_PROTOCOL:
	case ERR_TIMEOUT:
	case ERR_TASK:
		return EX_UNAVAILABLE;
	case ERR_IO:
	case ERR_FULL:
	case ERR_READONLY:
		return EX_IOERR;
	case ERR_BUSY:
	case ERR_LOCKED:
		return EX_TEMPFAIL;
	case ERR_CONFIG:
	case ERR_VERSION:
		return EX_CONFIG;
	default:
		return EX_SOFTWARE;
	}
}

/* Prints s word-wrapped at width columns, continuation lines indented. */
static void
wrap(FILE *f, const char *s, size_t indent, size_t width)
{
	size_t col = indent, w;

	while (*s != '\0') {
		w = strcspn(s, " ");
		if (col > indent && col + 1 + w > width) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)w, s);
		col += w;
		s += w;
		while (*s == ' ')
			s++;
	}
	fputc('\n', f);
}

void
exitcode_print(FILE *f, int markdown)
{
	size_t i;

	if (markdown)
		fprintf(f, "| status | name | when |\n|---|---|---|\n");
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (markdown) {
			fprintf(f, "| %d | %s | %s |\n", table[i].code,
			    table[i].name, table[i].when);
			continue;
		}
		fprintf(f, "  %3d %-11s ", table[i].code, table[i].name);
		wrap(f, table[i].when, 18, 78);
	}
}
