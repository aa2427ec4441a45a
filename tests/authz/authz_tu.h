/*
 * authz_tu — helpers shared by the authz suites: real keys and
 * signatures made with ssh-keygen in a temp dir, the vector manifest,
 * a base64 encoder for crafting armors.
 */
#ifndef FELHOM_TESTS_AUTHZ_TU_H
#define FELHOM_TESTS_AUTHZ_TU_H

#include <stddef.h>
#include <stdint.h>

/* Columns of tests/fixtures/sshsig/manifest.tsv. */
enum vec_col {
	VEC_ID, VEC_CATEGORY, VEC_EXPECTED, VEC_POLICY, VEC_FELHOM_OPTS,
	VEC_NAMESPACE, VEC_PRINCIPAL, VEC_ALLOWED_SIGNERS, VEC_PINNED_KEY,
	VEC_MESSAGE, VEC_SIGNATURE, VEC_ORACLE_VERIFY, VEC_ORACLE_RC,
	VEC_ORACLE_REASON, VEC_ORACLE_NOVALIDATE, VEC_NOTE, VEC__COUNT
};

struct vec_row {
	char	*f[VEC__COUNT];		/* "-" for empty cells */
};

/* Loads the manifest once (process lifetime); returns the row count. */
size_t	 atu_vectors(const struct vec_row **rows);
/* "<fixtures>/sshsig/<rel>" (static rotating buffer). */
const char *atu_vec(const char *rel);

/*
 * ssh-keygen -t type [-b bits] -N '' -f dir/name.  Returns 0 or -1.
 * The public key line (type + base64, no comment) goes to line_out
 * (heap) when non-NULL.
 */
int	 atu_keygen(const char *dir, const char *name, const char *type,
	    int bits, char **line_out);

/*
 * ssh-keygen -Y sign -n ns [-O hashalg=h] -f dir/key over msg; returns
 * the armored signature (heap, NUL-terminated) or NULL.
 */
char	*atu_sign(const char *dir, const char *key, const char *ns,
	    const char *hashalg, const void *msg, size_t len);

/* Writes text to dir/name with mode 0644; returns the path (heap). */
char	*atu_write(const char *dir, const char *name, const char *text);

/* Standard base64 with padding and a '\n' every 70 chars (heap). */
char	*atu_b64(const uint8_t *p, size_t n);
/* Wraps a raw SSHSIG blob in the armor (heap). */
char	*atu_armor(const uint8_t *blob, size_t n);
/* Decodes an armored signature to its blob (heap), or NULL. */
uint8_t	*atu_dearmor(const char *armor, size_t *len_out);

#endif
