#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Run every libFuzzer target for SECONDS each (default 30) and print the
# executions per target.  Builds with clang in $CPK_FUZZ_BUILD (default
# build-fuzz/ at the top, like tests/check.sh's build/ and build-san/)
# when that has no Makefile yet.
#
#   tests/fuzz/run.sh [SECONDS]
#
# The seed corpus in tests/fuzz/corpus/<target>/ is only read: each target
# runs on a copy in a temporary directory, where libFuzzer also writes its
# new inputs and any crash, leak or timeout artifact.  On success the copy
# is removed; on a failure it is kept and its path printed, with the
# reproducer (<target> <artifact>).  Exit status 0 when no target failed.
#
# The targets are the subdirectories of corpus/: a new target needs its
# seed corpus there and its entry in Makefile.am.
set -euo pipefail
secs=${1:-30}
case $secs in
'' | *[!0-9]* | 0) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/../.." && pwd)
src=$top/tests/fuzz
build=${CPK_FUZZ_BUILD:-$top/build-fuzz}
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
if [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q CC=clang --enable-fuzzing)
fi
make -C "$build" -j2 >/dev/null
make -C "$build/tests/fuzz" -j2 >/dev/null

targets=()
for dir in "$src"/corpus/*/; do
	targets+=("$(basename "$dir")")
done

# A target that crashes must fail the run: no "keep going" options.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
total=0
printf '%-14s %6s %10s %8s %7s %s\n' target secs execs exec/s corpus result
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/$t
	if [ ! -x "$bin" ]; then
		printf '%-14s %6s %10s %8s %7s %s\n' "$t" - - - - "NOT BUILT ($bin)"
		status=1
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/cpk-fuzz-$t.XXXXXX")
	mkdir "$work/corpus"
	cp -r "$src/corpus/$t/." "$work/corpus/"
	seeds=$(find "$work/corpus" -type f | wc -l)
	log=$work/fuzz.log
	result=ok
	if ! "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$log" 2>&1; then
		artifact=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' \
			-o -name 'timeout-*' -o -name 'oom-*' \) | head -n 1)
		result="FAILED: log $log${artifact:+, reproduce: $bin $artifact}"
		status=1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
	[ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
	units=$(find "$work/corpus" -type f | wc -l)
	printf '%-14s %6s %10s %8s %7s %s\n' "$t" "$secs" "${execs:-?}" \
		"$(( ${execs:-0} / secs ))" "$seeds>$units" "$result"
	total=$((total + ${execs:-0}))
	[ "$result" != ok ] || rm -rf "$work"
done
printf '%-14s %6s %10s\n' total "$((secs * ${#targets[@]}))" "$total"
exit $status
