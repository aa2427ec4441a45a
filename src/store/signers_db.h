/*
 * signers_db — the live signer set in the `signers` table.  The
 * allowed_signers files seed it at first start; after that the table is
 * the set, changed only by a verified rotate_signers op or an audited
 * local import.  Rows are plain text here (the allowed_signers line and
 * its facts); authz/signers parses them, so the dependency points down.
 */
#ifndef FELHOM_STORE_SIGNERS_DB_H
#define FELHOM_STORE_SIGNERS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

struct signers_db_row {
	int64_t	 id;		/* rowid (0 when inserting) */
	char	*role;		/* "operational" | "recovery" */
	char	*keytype;	/* "ssh-ed25519", ... */
	char	*fingerprint;	/* "SHA256:..." */
	char	*principals;	/* pattern list */
	char	*line;		/* the full allowed_signers line */
	char	*source;	/* file:<path>, rotate:<op uid>, admin */
	int64_t	 added_at;	/* unix seconds */
};

/*
 * Every row, ordered by role then id.  Caller frees *rows_out with
 * signers_db_rows_free().  An empty table gives *n_out = 0.
 */
int	signers_db_list(struct db *db, struct signers_db_row **rows_out,
	    size_t *n_out, struct err *err);
void	signers_db_rows_free(struct signers_db_row *rows, size_t n);

/* Number of rows of role (NULL: all roles). */
int	signers_db_count(struct db *db, const char *role, int64_t *out,
	    struct err *err);

/*
 * Replaces every row of role with rows[0..n) (their role, id and
 * added_at are ignored; added_at = now).  Must run inside the caller's
 * transaction (ERR_INTERNAL otherwise) so that a rotation and the op
 * that carried it commit together.  Two rows with one fingerprint are
 * ERR_CONFLICT.
 */
int	signers_db_replace_role(struct db *db, const char *role,
	    const struct signers_db_row *rows, size_t n, int64_t now,
	    struct err *err);

#endif
