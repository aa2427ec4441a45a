#!/bin/sh
# run-fuzz.sh [-j N] [SECONDS [TARGET...]] — builds the libFuzzer targets
# of tests/fuzz with clang (`cmake --preset fuzz`, binary dir build-fuzz;
# only the targets and the libraries they need) and runs each one for
# SECONDS (default 60) with ASan + UBSan and leak detection: one after the
# other, or -j N at a time (each target still runs its full SECONDS on a
# core of its own; libFuzzer's -max_total_time is wall-clock time).  The
# targets and their seeds are listed in tests/fuzz/targets.tsv;
# TARGET... runs only those.  The test suite runs `run-fuzz.sh -j 2 5`
# (ctest fuzz.all, which holds two of ctest's slots).
#
# Seeds come from the repository only (tests/fixtures, tests/fuzz/corpus)
# plus the regression inputs of tests/fuzz/regress/<target>.  The growing
# corpus is kept in build-fuzz/fuzz-corpus/<target>.  A finding (crash,
# leak, UB, timeout) leaves its input in build-fuzz/fuzz-artifacts/<target>/
# and makes the script exit 1; see tests/fuzz/README.md for what to do
# with it.
set -eu

usage() {
	echo "usage: $0 [-j N] [SECONDS [TARGET...]]" >&2
	exit 64
}
par=1
case ${1:-} in
-j) [ $# -ge 2 ] || usage; par=$2; shift 2 ;;
-j*) par=${1#-j}; shift ;;
esac
case $par in
''|*[!0-9]*|0) usage ;;
esac
secs=${1:-60}
case $secs in
''|*[!0-9]*) usage ;;
esac
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
jobs=${FUZZ_BUILD_JOBS:-2}
list=$root/tests/fuzz/targets.tsv

if ! command -v clang >/dev/null 2>&1; then
	echo "run-fuzz: clang not found; run tools/install-deps.sh --fuzz" >&2
	exit 69
fi

# The target names of targets.tsv, and the seed globs of one.
names() {
	sed -e 's/#.*//' "$list" | awk 'NF > 0 { print $1 }'
}
globs() {
	sed -e 's/#.*//' "$list" | awk -v t="$1" '$1 == t {
	    for (i = 2; i <= NF; i++) print $i }'
}

all=$(names)
if [ $# -gt 0 ]; then
	targets="$*"
	for t in $targets; do
		if ! echo "$all" | grep -qx -- "$t"; then
			echo "run-fuzz: no target '$t' in $list" >&2
			exit 64
		fi
	done
else
	targets=$all
fi

cd "$root"
cmake --preset fuzz >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz-targets >/dev/null

# One target: seeds, fuzzing, its report.  Returns 1 on a finding.  The
# report (two lines, or the failure and the log's tail) is printed in one
# piece so that targets run side by side do not interleave theirs.
fuzz_one() {
	t=$1
	seeds=$build/fuzz-seeds/$t
	corpus=$build/fuzz-corpus/$t
	artifacts=$build/fuzz-artifacts/$t/
	report=$build/fuzz_$t.report
	rm -rf "$seeds"
	mkdir -p "$seeds" "$corpus" "$artifacts"
	n=0
	for g in $(globs "$t") "tests/fuzz/regress/$t/*"; do
		# shellcheck disable=SC2086
		for f in $root/$g; do
			[ -f "$f" ] || continue
			n=$((n + 1))
			cp "$f" "$seeds/$n-$(basename "$f")"
		done
	done
	echo "== fuzz_$t for ${secs}s ($n seeds)" > "$report"
	if ! "$build/bin/fuzz_$t" -max_total_time="$secs" -max_len=20000 \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$artifacts" "$corpus" "$seeds" \
	    > "$build/fuzz_$t.log" 2>&1; then
		echo "fuzz_$t FAILED; see $build/fuzz_$t.log and $artifacts" \
		    >> "$report"
		tail -n 40 "$build/fuzz_$t.log" >> "$report"
		cat "$report" >&2
		return 1
	fi
	grep -E '^#[0-9]+.*DONE' "$build/fuzz_$t.log" >> "$report" ||
	    tail -n 3 "$build/fuzz_$t.log" >> "$report"
	cat "$report"
}

# A lane runs the targets one after the other, each target claimed with
# an atomic mkdir so that N lanes share the list without running one
# twice; a finding is recorded as a file in $failed.
claims=$build/fuzz-claims
failed=$build/fuzz-failed
rm -rf "$claims" "$failed"
mkdir -p "$claims" "$failed"
lane() {
	for t in $targets; do
		mkdir "$claims/$t" 2>/dev/null || continue
		fuzz_one "$t" || : > "$failed/$t"
	done
}

count=0
for t in $targets; do
	count=$((count + 1))
done
start=$(date +%s)
i=0
pids=
while [ $i -lt "$par" ] && [ $i -lt $count ]; do
	lane &
	pids="$pids $!"
	i=$((i + 1))
done
status=0
for p in $pids; do
	wait "$p" || status=1
done
[ -z "$(ls "$failed")" ] || status=1
rm -rf "$claims" "$failed"
echo "== $count targets in $(( $(date +%s) - start ))s:" \
    "$([ $status -eq 0 ] && echo ok || echo FAILED)"
exit $status
