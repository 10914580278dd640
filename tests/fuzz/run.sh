#!/bin/bash
# Run every libFuzzer target for SECONDS each (default 30) and print the
# executions per target.  Builds in build-fuzz/ with clang when needed.
#   tests/fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-30}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${CPK_FUZZ_BUILD:-$top/build-fuzz}
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
if [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q CC=clang --enable-fuzzing)
fi
make -C "$build" -j2 >/dev/null
make -C "$build/tests/fuzz" -j2 >/dev/null
status=0
printf '%-14s %10s %8s %s\n' target execs exec/s result
for t in fuzz_config fuzz_token fuzz_cognito; do
	work=$(mktemp -d)
	cp -r "$top/tests/fuzz/corpus/$t/." "$work/"
	log=$work/fuzz.log
	if "$build/tests/fuzz/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "$work" >"$log" 2>&1; then
		result=ok
	else
		result="CRASH (see $log)"
		status=1
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
	[ -n "$execs" ] || execs=$(grep -Eo '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
	printf '%-14s %10s %8s %s\n' "$t" "${execs:-?}" "$(( ${execs:-0} / secs ))" "$result"
	[ "$result" = ok ] && rm -rf "$work"
done
exit $status
