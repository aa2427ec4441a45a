#!/bin/sh
# run-fuzz.sh [SECONDS] — builds the libFuzzer targets of tests/fuzz with
# clang (`cmake --preset fuzz`, binary dir build-fuzz) and runs each one
# for SECONDS (default 60).  Seeds: the SSHSIG vectors of
# tests/fixtures/sshsig and tests/fuzz/corpus/.  The growing corpus is
# kept in build-fuzz/fuzz-corpus/<target>; a crash leaves its input in
# build-fuzz/fuzz-artifacts/ and makes the script exit non-zero.
set -eu

secs=${1:-60}
case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=${FELHOM_FIXTURE_DIR:-$root/tests/fixtures}
build=$root/build-fuzz
jobs=${FUZZ_BUILD_JOBS:-2}

cd "$root"
cmake --preset fuzz >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_sshsig fuzz_opblob \
    fuzz_upid

# Seed corpora: armored vectors and their raw blobs for sshsig.
seeds=$build/fuzz-seeds
rm -rf "$seeds"
mkdir -p "$seeds/sshsig" "$seeds/opblob" "$seeds/upid"
if [ -d "$fixtures/sshsig/sigs" ]; then
	cp "$fixtures"/sshsig/sigs/*.sig "$seeds/sshsig/"
	cp "$fixtures"/sshsig/openssh-testdata/*.sig "$seeds/sshsig/" \
	    2>/dev/null || true
	for f in "$fixtures"/sshsig/sigs/pos-*.sig; do
		sed '1d;$d' "$f" | base64 -d > "$seeds/sshsig/$(basename "$f" .sig).bin" \
		    2>/dev/null || true
	done
fi
cp "$root"/tests/fuzz/corpus/opblob/* "$seeds/opblob/"
# UPIDs: the data strings of the captured mutation answers.
for f in "$fixtures"/pve/api/*upid*.json; do
	[ -f "$f" ] || continue
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])).get("data"); print(d if isinstance(d,str) else "", end="")' \
	    "$f" > "$seeds/upid/$(basename "$f" .json)" 2>/dev/null || true
done

status=0
for t in sshsig opblob upid; do
	corpus=$build/fuzz-corpus/$t
	artifacts=$build/fuzz-artifacts/$t/
	mkdir -p "$corpus" "$artifacts"
	echo "== fuzz_$t for ${secs}s"
	if ! "$build/bin/fuzz_$t" -max_total_time="$secs" -max_len=20000 \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$artifacts" "$corpus" "$seeds/$t" \
	    > "$build/fuzz_$t.log" 2>&1; then
		echo "fuzz_$t FAILED; see $build/fuzz_$t.log and $artifacts" >&2
		tail -n 40 "$build/fuzz_$t.log" >&2
		status=1
	fi
	grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' \
	    "$build/fuzz_$t.log" || tail -n 3 "$build/fuzz_$t.log"
done
exit $status
