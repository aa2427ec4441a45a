/*
 * fuzz_opblob — libFuzzer target for the op blob v1 parser (R-13;
 * signed-ops.md).  The allowed_signers lines a rotate_signers blob
 * carries have their own target (fuzz_signers.c).
 *
 * Invariants: a refusal says why; an accepted blob is the bytes given,
 * never re-serialized (signatures are verified over them).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "authz/opblob.h"
#include "base/err.h"
#include "fuzz.h"

int
fuzz_opblob(const uint8_t *data, size_t size)
{
	struct opblob *b = NULL;
	struct err err;
	int rc;

	err_init(&err);
	if ((rc = opblob_parse(data, size, &b, &err)) == 0) {
		FUZZ_ASSERT(b->raw_len == size &&
		    memcmp(b->raw, data, size) == 0);
		opblob_free(b);
	} else {
		FUZZ_ASSERT(err.code == rc && rc != ERR_NOMEM);
	}
	return 0;
}
