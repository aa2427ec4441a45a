/*
 * fuzz — what the libFuzzer targets of tests/fuzz share.
 *
 * A target is `int fuzz_<name>(const uint8_t *data, size_t size)`: it
 * feeds arbitrary bytes to the real parser, the way production reaches
 * it, frees everything and returns 0.  Targets are listed in
 * tests/fuzz/targets.tsv; CMake generates their prototypes and the table
 * below from that list.  The same functions run in two harnesses:
 *
 *  - the fuzz build (clang, `cmake --preset fuzz`): one libFuzzer
 *    executable per target, bin/fuzz_<name> (tests/fuzz/entry.c);
 *  - the normal builds: the Check suite fuzz.replay replays every seed
 *    and every regression input of tests/fuzz/regress/<name>/ through it
 *    (tests/fuzz/suite/test_replay.c).
 *
 * A broken invariant is FUZZ_ASSERT: fuzz_fail() aborts under libFuzzer
 * (the input is saved as a crash) and fails the Check test in a replay.
 */
#ifndef FELHOM_TESTS_FUZZ_H
#define FELHOM_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

struct fuzz_target {
	const char	*name;		/* "pve_lxc_config" */
	fuzz_fn		 fn;		/* fuzz_pve_lxc_config */
	const char	*seeds;		/* globs from targets.tsv, one string */
};

/* Every target (generated from targets.tsv; fuzz_targets.c). */
extern const struct fuzz_target fuzz_targets[];
extern const size_t fuzz_ntargets;

/* Reports a broken invariant of a target; does not return. */
void	fuzz_fail(const char *file, int line, const char *what)
	    __attribute__((noreturn));

#define FUZZ_ASSERT(cond) \
	((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))

#include "fuzz_targets.h"

#endif
