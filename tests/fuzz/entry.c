/*
 * entry — the libFuzzer entry point of one target: bin/fuzz_<name> is
 * this file compiled with FUZZ_FN=fuzz_<name> (tests/fuzz/CMakeLists.txt)
 * and linked with -fsanitize=fuzzer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

#ifndef FUZZ_FN
#error "FUZZ_FN names the target function (fuzz_<name>)"
#endif

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return FUZZ_FN(data, size);
}

/* libFuzzer saves the input that got here as a crash artifact. */
void
fuzz_fail(const char *file, int line, const char *what)
{
	(void) fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file,
	    line, what);
	abort();
}
