/*
 * signers — the pinned signer set in OpenSSH allowed_signers format
 * (R-14; shared/reference/sshsig.md §10, signed-ops.md "Signers and
 * roles").
 *
 * Grammar as ssh-keygen(1) ALLOWED SIGNERS, so the same file means the
 * same to `ssh-keygen -Y verify`:
 *
 *	principals [options] keytype base64-key [comment]
 *
 * principals is a comma-separated pattern list (`*`, `?`, `!neg`);
 * options are `namespaces="pattern-list"`, `valid-after="T"`,
 * `valid-before="T"` (T = YYYYMMDD[HHMM[SS]], local time unless it ends
 * in Z or UTC), plus the felhom-only `no-touch-required` and
 * `verify-required` (FIDO policy; ssh-keygen skips such lines).
 * `cert-authority` is refused: felhom pins plain keys.  Every line that
 * fully matches accepts (OpenSSH's rule), so the first fully matching
 * line wins.
 *
 * Every key goes through sshsig_key_from_blob's load checks.  A set
 * holds entries of both roles; the role comes from the file (or table
 * row) that listed the key, never from a signature.
 */
#ifndef FELHOM_AUTHZ_SIGNERS_H
#define FELHOM_AUTHZ_SIGNERS_H

#include <sys/stat.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "authz/sshsig.h"
#include "base/err.h"
#include "store/db.h"

enum signers_role {
	SIGNERS_ROLE_OPERATIONAL,	/* everyday operations */
	SIGNERS_ROLE_RECOVERY,		/* rotate_signers only */
	SIGNERS_ROLE__COUNT
};

#define SIGNERS_FILE_MAX	(1024 * 1024)	/* allowed_signers file */
#define SIGNERS_LINE_MAX	(16 * 1024)	/* one line */

/* Flags of signers_load_file. */
#define SIGNERS_LENIENT		0x1	/* skip bad lines (warn), as ssh-keygen */

/* "operational" / "recovery"; "unknown" out of range. */
const char *signers_role_name(int role);
/* The role named s, or -1. */
int	signers_role_from_name(const char *s);

struct signers_entry {
	enum signers_role	 role;
	char			*principals;	/* pattern list as written */
	char			*namespaces;	/* pattern list, NULL = any */
	int64_t			 valid_after;	/* unix time, 0 = unset */
	int64_t			 valid_before;	/* unix time, 0 = unset */
	unsigned		 policy;	/* SSHSIG_POLICY_* */
	struct sshsig_key	*key;		/* loaded and checked */
	char			*options;	/* options text, NULL if none */
	char			*keytext;	/* "keytype base64" */
	char			*comment;	/* trailing comment or NULL */
	char			*source;	/* file path or "db:signers" */
	unsigned long		 lineno;	/* line (or row id) in source */
};

struct signers;

/* Called with "file:line: ..., line skipped" and similar warnings. */
typedef void (*signers_warn_fn)(void *ctx, const char *msg);

/* An empty set, or NULL on allocation failure.  Free with signers_free. */
struct signers *signers_new(void);
void	signers_free(struct signers *set);

/* Number of entries (all roles), and one of them (borrowed). */
size_t	signers_count(const struct signers *set);
size_t	signers_count_role(const struct signers *set, enum signers_role role);
const struct signers_entry *signers_get(const struct signers *set, size_t i);

/*
 * Parses one allowed_signers line (len bytes, no NUL needed; a trailing
 * CR/LF is ignored).  A blank or comment line gives *out = NULL and 0.
 * `policy` (SSHSIG_POLICY_*) is added to the line's own FIDO options.
 * Errors: ERR_FORMAT (grammar, options, key encoding), ERR_UNSUPPORTED
 * (key type or weak key, cert-authority), ERR_NOMEM; the message does
 * not carry the "source:line: " prefix.  Caller frees *out with
 * signers_entry_free().
 */
int	signers_parse_line(const char *line, size_t len, const char *source,
	    unsigned long lineno, enum signers_role role, unsigned policy,
	    struct signers_entry **out, struct err *err);
void	signers_entry_free(struct signers_entry *e);

/* Appends e to set, taking ownership (also on failure: e is freed). */
int	signers_add(struct signers *set, struct signers_entry *e,
	    struct err *err);

/*
 * Reads an allowed_signers file into set with the given role; `policy`
 * is applied to every key of the file.  The file must not be a symbolic
 * link and must pass signers_file_safe() (ERR_PERMISSION), and be at
 * most SIGNERS_FILE_MAX bytes.  A bad line is "path:line: why" (ERR_FORMAT /
 * ERR_UNSUPPORTED) unless SIGNERS_LENIENT, which reports it through warn
 * and skips it, as ssh-keygen does.  A key listed twice in the file is
 * warned about (the least restricted line wins).  warn may be NULL.
 * On failure set is left as it was.
 */
/*
 * The rule for a file that lists signers: a regular file, owned
 * by root or by euid (the agent's user), not writable by group or
 * others.  0, or ERR_PERMISSION / ERR_IO naming path and the fix.
 */
int	signers_file_safe(const struct stat *st, uid_t euid, const char *path,
	    struct err *err);

int	signers_load_file(struct signers *set, const char *path,
	    enum signers_role role, unsigned policy, unsigned flags,
	    signers_warn_fn warn, void *warn_ctx, struct err *err);

/* What signers_find looks for. */
struct signers_query {
	const uint8_t	*key;		/* public key blob (from the SSHSIG) */
	size_t		 keylen;
	const char	*principal;	/* -I value; NULL matches any line */
	const char	*ns;		/* expected namespace */
	int64_t		 now;		/* verify time, unix seconds */
	int		 role;		/* enum signers_role, or -1 for any */
};

/*
 * The first entry whose key equals q->key and whose principals,
 * namespaces, valid-after and valid-before all allow the query (R-11
 * stage 3).  None: ERR_REJECTED with reason AUTHZ_UNKNOWN_SIGNER and a
 * message naming the nearest miss (listed but expired, wrong namespace,
 * other principal).  *out is borrowed from set.
 */
int	signers_find(const struct signers *set, const struct signers_query *q,
	    const struct signers_entry **out, struct err *err);

/*
 * OpenSSH's match_pattern_list(): 1 when s matches a positive pattern
 * of the comma list, -1 when it matches a negated one, 0 otherwise.
 */
int	signers_match_list(const char *s, const char *list);

/*
 * Renders e as one allowed_signers line (no newline), the entry's
 * policy included as options.  Caller frees *out.
 */
int	signers_entry_line(const struct signers_entry *e, char **out,
	    struct err *err);

/*
 * Parses an allowed_signers time ("YYYYMMDD[HHMM[SS]]" + optional
 * "Z"/"UTC"), as ssh-keygen's parse_absolute_time.  ERR_FORMAT.
 */
int	signers_parse_time(const char *s, int64_t *out);

/*
 * Appends every row of the signers table to set (R-14: after the first
 * start the table is the live set).  A row that no longer parses is
 * ERR_CORRUPT naming its id.
 */
struct signers_db_row;
int	signers_load_db(struct signers *set, struct db *db, struct err *err);
/* The same from rows already read from the table (signers_db_list). */
int	signers_load_rows(struct signers *set,
	    const struct signers_db_row *rows, size_t n, struct err *err);

/*
 * Replaces the role's rows with the role's entries of set, each stored
 * as its rendered line with `source`.  Runs inside the caller's
 * transaction (a rotation commits with its op); see
 * signers_db_replace_role.
 */
int	signers_save_role(struct db *db, enum signers_role role,
	    const struct signers *set, const char *source, int64_t now,
	    struct err *err);

/*
 * First start: when the signers table is empty, stores both roles of
 * set in one transaction (sources "file:<path>" as given) and sets
 * *seeded_out = 1; otherwise changes nothing and sets it to 0.
 */
int	signers_seed_db(struct db *db, const struct signers *set,
	    const char *source_operational, const char *source_recovery,
	    int64_t now, int *seeded_out, struct err *err);

#endif
