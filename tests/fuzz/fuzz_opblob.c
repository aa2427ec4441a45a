/*
 * fuzz_opblob — libFuzzer target for the op blob v1 parser (R-13;
 * signed-ops.md), including the allowed_signers lines of rotate_signers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "authz/opblob.h"
#include "authz/signers.h"
#include "base/err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signers_entry *e = NULL;
	struct opblob *b = NULL;
	struct err err;

	err_init(&err);
	if (opblob_parse(data, size, &b, &err) == 0) {
		/* Parsed from the bytes given, never re-serialized. */
		if (b->raw_len != size || memcmp(b->raw, data, size) != 0)
			__builtin_trap();
		opblob_free(b);
	}
	err_init(&err);
	if (signers_parse_line((const char *)data, size, "fuzz", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, &err) == 0)
		signers_entry_free(e);
	return 0;
}
