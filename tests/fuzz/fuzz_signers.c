/*
 * fuzz_signers — libFuzzer target for the allowed_signers format (R-14;
 * sshsig.md §10): the input is a file, split into lines as
 * signers_load_file() does, each line through signers_parse_line().
 *
 * Invariants: a refusal says why (never ERR_NOMEM); an accepted line
 * survives the database round trip — signers_entry_line() (what
 * signers_save_role() stores) parses back to the same signer: same key,
 * principals, namespaces, validity window, FIDO policy and comment; and
 * the lookup of the verifier (signers_find: the pattern matching of
 * principals and namespaces) answers for every key of the set.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authz/signers.h"
#include "authz/sshsig.h"
#include "base/err.h"
#include "fuzz.h"

#define REFUSED(rc, err) \
	FUZZ_ASSERT((rc) == 0 || ((err).code == (rc) && (rc) != ERR_NOMEM))

static int
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Stored as text and read back, the signer is the same. */
static void
roundtrip(const struct signers_entry *e)
{
	struct signers_entry *back = NULL;
	struct err err;
	char *line = NULL;
	int rc;

	err_init(&err);
	if ((rc = signers_entry_line(e, &line, &err)) != 0) {
		FUZZ_ASSERT(rc == ERR_TOO_LARGE && err.code == rc);
		return;
	}
	err_init(&err);
	rc = signers_parse_line(line, strlen(line), "db:signers", e->lineno,
	    e->role, 0, &back, &err);
	FUZZ_ASSERT(rc == 0 && back != NULL);
	FUZZ_ASSERT(same_str(back->principals, e->principals));
	FUZZ_ASSERT(same_str(back->namespaces, e->namespaces));
	FUZZ_ASSERT(back->valid_after == e->valid_after &&
	    back->valid_before == e->valid_before);
	FUZZ_ASSERT(back->policy == e->policy);
	FUZZ_ASSERT(sshsig_key_equal(back->key, e->key));
	FUZZ_ASSERT(same_str(back->comment, e->comment));
	signers_entry_free(back);
	free(line);
}

/* The verifier's question for each key, as a signature would ask it. */
static void
lookups(const struct signers *set)
{
	static const char *const principals[] = { "ops@example.com",
	    "alice", NULL };
	const struct signers_entry *e, *found;
	struct signers_query q;
	struct err err;
	const uint8_t *blob;
	size_t i, j, len;
	int rc;

	for (i = 0; i < signers_count(set); i++) {
		e = signers_get(set, i);
		blob = sshsig_key_blob(e->key, &len);
		for (j = 0; j < sizeof(principals) / sizeof(principals[0]);
		    j++) {
			memset(&q, 0, sizeof(q));
			q.key = blob;
			q.keylen = len;
			q.principal = principals[j];
			q.ns = "felhom-op-v1";
			q.now = 1800000000;
			q.role = -1;
			found = NULL;
			err_init(&err);
			rc = signers_find(set, &q, &found, &err);
			FUZZ_ASSERT(rc == 0 ? found != NULL &&
			    sshsig_key_equal(found->key, e->key) :
			    rc == ERR_REJECTED && err.code == rc);
		}
	}
}

int
fuzz_signers(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *line, *nl;
	struct signers_entry *e;
	struct signers *set;
	struct err err;
	unsigned long lineno = 0;
	int rc;

	if ((set = signers_new()) == NULL)
		return 0;
	for (line = text; line < text + size; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)(text + size - line))) ==
		    NULL)
			nl = text + size;
		e = NULL;
		err_init(&err);
		rc = signers_parse_line(line, (size_t)(nl - line), "fuzz",
		    lineno, lineno % 2 ? SIGNERS_ROLE_OPERATIONAL :
		    SIGNERS_ROLE_RECOVERY, 0, &e, &err);
		REFUSED(rc, err);
		if (rc != 0 || e == NULL)
			continue;
		roundtrip(e);
		err_init(&err);
		if (signers_add(set, e, &err) != 0)
			break;
	}
	lookups(set);
	signers_free(set);
	return 0;
}
