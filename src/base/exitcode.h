/*
 * exitcode — the one exit-status scheme of felhom-agent and felhom-admin
 * the sysexits.h codes, plus 1 for a negative answer.  The same
 * condition gives the same code from both binaries.  The table below is
 * the documentation: `--help` of both binaries prints it, and the
 * Markdown table in docs/felhom-admin.md and docs/felhom-agent.md (the
 * man pages' source) is compared with exitcode_print() by a test.
 */
#ifndef FELHOM_BASE_EXITCODE_H
#define FELHOM_BASE_EXITCODE_H

#include <stddef.h>
#include <stdio.h>

/* The answer is no: rejected, not found, wrong state, check failed. */
#define EXITCODE_NEGATIVE	1

struct exitcode_info {
	int		 code;		/* the exit status */
	const char	*name;		/* "usage", sysexits' EX_ name */
	const char	*when;		/* the documented conditions */
};

/* The table, ascending by code; *n_out gets its length. */
const struct exitcode_info *exitcode_table(size_t *n_out);

/*
 * The exit status of a failure with code (an ERR_*; 0 gives 0):
 * rejected/conflict/transition 1, invalid 64, malformed or corrupt data
 * 65, not found 66, PVE or hub refusing or unreachable 69, I/O 74, busy
 * or locked 75, configuration or a newer schema 78, anything else 70.
 */
int	exitcode_of(int err_code);

/* The table as aligned text (--help), or the Markdown table of docs/. */
void	exitcode_print(FILE *f, int markdown);

#endif
