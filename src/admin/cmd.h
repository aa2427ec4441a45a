/*
 * cmd — felhom-admin's command table, its global options and the
 * helpers every command shares.
 *
 *	felhom-admin [--config PATH] [--db PATH] [--json] COMMAND [ARGS]
 *
 * The global options are also accepted after the command name.  Every
 * command that reads the database takes its path from --db, else from
 * the configuration (--config, else CONFIG_DEFAULT_PATH).  Exit
 * statuses are base/exitcode.h's; a failure is one line on stderr,
 * "felhom-admin COMMAND: why", saying the path once at most.
 */
#ifndef FELHOM_ADMIN_CMD_H
#define FELHOM_ADMIN_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "store/adminq.h"
#include "store/db.h"
#include "store/ops.h"

#define CMD_OPTS_MAX	48	/* a command's options plus the globals */

/* One run of one command: the global options and what they opened. */
struct cmd_ctx {
	const char	*name;		/* the command ("journal"), messages */
	const char	*config_path;	/* --config; NULL: the default */
	const char	*db_path;	/* --db; NULL: the configuration's */
	int		 json;		/* --json */
	struct config	*cfg;		/* cmd_config(), owned */
	struct option	 opts[CMD_OPTS_MAX];	/* cmd_getopt()'s merge */
	const struct option *opts_of;	/* the command table merged */
	char		 namebuf[48];	/* name's storage */
	char		 label[64];	/* "felhom-admin NAME": argv[0] */
};

typedef int (*cmd_fn)(struct cmd_ctx *ctx, int argc, char **argv);

struct cmd {
	const char	*name;
	cmd_fn		 fn;
	const char	*summary;
};

/* The commands (main.c's table). */
int	cmd_status(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_report(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_journal(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_show(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_audit(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_pending(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_approve(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_cancel(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_recover(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_signers(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_db(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_nonces(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_verify(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_op(struct cmd_ctx *ctx, int argc, char **argv);
int	cmd_states(struct cmd_ctx *ctx, int argc, char **argv);

/*
 * Enters command (or "command sub") name: messages say "felhom-admin
 * NAME: ...", and argv[0] becomes that label for getopt's own.
 */
void	cmd_enter(struct cmd_ctx *ctx, const char *name, char **argv);

/*
 * getopt_long() over the command's longopts (NULL-terminated) plus the
 * global --config, --db and --json, which it consumes itself.  The
 * first call of a parse resets getopt.  Returns as getopt_long does:
 * the option's value, '?' for an unknown one (getopt said so), -1 at
 * the end.
 */
int	cmd_getopt(struct cmd_ctx *ctx, int argc, char **argv,
	    const char *shortopts, const struct option *longopts);

/*
 * Prints "felhom-admin NAME: <message>" on stderr; returns status.
 * cmd_fail_err() prints err's message and returns its exit status.
 */
int	cmd_fail(struct cmd_ctx *ctx, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	cmd_fail_err(struct cmd_ctx *ctx, const struct err *err);

/* Prints usage on stderr and returns EX_USAGE (64). */
int	cmd_usage_fail(struct cmd_ctx *ctx, void (*usage)(FILE *));

/*
 * Loads the configuration once (ctx->cfg).  With `optional` set, a
 * default configuration file that does not exist is no error (*out
 * NULL); an explicit --config must exist.  Returns 0 or the exit
 * status, the failure said on stderr.
 */
int	cmd_config(struct cmd_ctx *ctx, int optional,
	    const struct config **out);

/* The database path: --db, else the configuration's (may load it). */
int	cmd_db_path(struct cmd_ctx *ctx, const char **out);

/*
 * Opens the agent's database (never created; DB_OPEN_READONLY or 0 for
 * writing through the same transactions the agent uses).  A database
 * that does not exist is EX_NOINPUT.  Returns 0 or the exit status.
 */
int	cmd_db_open(struct cmd_ctx *ctx, int flags, struct db **out);

/*
 * The operator's name for the audit log: $SUDO_USER, else $USER, else
 * the login name of the real uid, else "uid N".
 */
void	cmd_operator(char *out, size_t n);

/*
 * Writes doc (consumed) to stdout as indented JSON and a newline.
 * Returns 0, EX_SOFTWARE when doc is NULL (allocation failed) or
 * EX_IOERR.
 */
int	cmd_print_json(json_t *doc);

/* Flushes stdout: ret, or EX_IOERR when the output could not be written. */
int	cmd_done(int ret);

/* A unix time as RFC 3339 ("-" for 0) into out (CLOCK_RFC3339_LEN). */
const char *cmd_time(int64_t t, char *out, size_t n);

/* "2h05m", "3d04h", "45s" for a duration in seconds. */
const char *cmd_duration(int64_t s, char *out, size_t n);

/*
 * Parses an op id argument: "op-" and 16 hex digits.  ERR_INVALID
 * (usage) otherwise.
 */
int	cmd_parse_op_id(const char *s, struct err *err);

/* Parses a time "YYYY-MM-DDTHH:MM:SSZ", or "N[smhd]" ago. */
int	cmd_parse_since(const char *s, int64_t now, int64_t *out);

/* A file read whole (path "-" = stdin), at most cap bytes; caller frees. */
int	cmd_read_file(const char *path, size_t cap, char **out,
	    size_t *len_out, struct err *err);

/*
 * The signer files (from the configuration) against the live set (the
 * signers table): *out is {same (bool), only_files: [...],
 * only_live: [...], changed: [...]}, each entry {role, fingerprint,
 * principals, line}.  Returns 0 or an ERR_*.
 */
int	cmd_signers_compare(const struct config *cfg, struct db *db,
	    json_t **out, struct err *err);

/*
 * An op as felhom-admin shows it (show, recover): its row's facts, its
 * steps, and what the agent will do with it (engine/recover) with the
 * operator actions that apply now.  NULL on allocation failure.
 */
json_t	*cmd_op_json(const struct ops_row *op, int64_t now);

/*
 * An operator's action on op uid (engine/recover): one audited
 * transition, reported as a line or --json.  Exit 0 done; 1 no such op,
 * or the action does not apply (said why); 64 a malformed id; 75 busy.
 */
int	cmd_op_action(struct cmd_ctx *ctx, const char *uid, int action);

/*
 * Resolves an op id argument to its row: usage (64) for a malformed id,
 * 1 for no such operation, else 0 with *out (caller ops_row_free()s).
 */
int	cmd_find_op(struct cmd_ctx *ctx, struct db *db, const char *uid,
	    struct ops_row **out);

/*
 * Human tables: columns aligned by display width, control characters
 * shown escaped, over-wide cells cut at a character boundary with "~"
 * marking the cut.  Cells are copied.
 */
struct cmd_table;

struct cmd_table *cmd_table_new(size_t ncols, const char *const *headers);
/* Caps column col at max display characters (0: no cap). */
void	cmd_table_cap(struct cmd_table *t, size_t col, size_t max);
/* Adds a row of ncols cells (NULL prints "-"); ERR_NOMEM. */
int	cmd_table_add(struct cmd_table *t, const char *const *cells);
void	cmd_table_print(const struct cmd_table *t, FILE *f);
void	cmd_table_free(struct cmd_table *t);

/*
 * Prints the objects of arr as a table: one column per key (headers
 * hdr), column `capped` cut at cap characters.  0 or ERR_NOMEM.
 */
int	cmd_print_rows(const json_t *arr, size_t ncols,
	    const char *const *hdr, const char *const *keys, size_t capped,
	    size_t cap);

/* The filters of the log commands (journal, audit). */
struct cmd_filter {
	struct adminq_filter	 f;
	const char		*op;	/* --op OP_ID, resolved later */
};

/*
 * Handles one of the shared log options, by getopt value: 'o' --op,
 * 'v' --vmid, 's' --since, 'l' --limit.  0, or the exit status (usage
 * printed) for a bad value or an unknown option.
 */
int	cmd_filter_opt(struct cmd_ctx *ctx, int ch, struct cmd_filter *o,
	    void (*usage)(FILE *));
/* Resolves --op to the op's row id: 0, or 64 / 1 as cmd_find_op. */
int	cmd_filter_resolve(struct cmd_ctx *ctx, struct db *db,
	    struct cmd_filter *o);

/* What a log command lists, and how (journal, audit). */
struct cmd_listing {
	int		  (*query)(struct db *, const struct adminq_filter *,
			    json_t **, struct err *);
	const char	   *empty;	/* printed when nothing matches */
	size_t		    ncols;
	const char *const  *hdr;
	const char *const  *keys;
	size_t		    capped;	/* the column cut at cap characters */
	size_t		    cap;
};

/*
 * The end of a log command once its options are read: the database
 * opened read-only, --op resolved, the rows queried and printed as JSON
 * or a table.  Returns the exit status.
 */
int	cmd_filter_list(struct cmd_ctx *ctx, struct cmd_filter *o,
	    const struct cmd_listing *l);

/* A non-negative integer argument; -1 when it is not one. */
int64_t	cmd_parse_count(const char *s);

/* A JSON value as table text: strings as is, null "-", else compact. */
char	*cmd_cell(const json_t *v);

#endif
