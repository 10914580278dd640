#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The suite under load, beside another copy of itself: the proof that the
# tests wait on events, not on time, and share no port, file or name.
#
#   tests/load.sh [COPIES]      (default 2; root, like make check)
#
# Keeps both cores busy (stress-ng, or shell busy loops without it), builds
# COPIES out-of-tree builds (build-load1, ...) of this tree, runs `make
# check` in all of them at the same time, and prints each one's summary and
# the log of every failing test.
# Exit status 0 only if every copy passed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/harness.sh
copies=${1:-2}
cpus=$(nproc)

[ -x configure ] || autoreconf -fi
load_pids=()
stop_load() {
	[ ${#load_pids[@]} -eq 0 ] || kill "${load_pids[@]}" 2>/dev/null || true
}
trap stop_load EXIT
if command -v stress-ng >/dev/null; then
	stress-ng --cpu "$cpus" --quiet &
	load_pids+=($!)
else
	for _ in $(seq "$cpus"); do
		bash -c 'while :; do :; done' &
		load_pids+=($!)
	done
fi

pids=()
for i in $(seq "$copies"); do
	dir=build-load$i
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q && make -j2 >/dev/null && make -j2 check) \
		>"$dir.log" 2>&1 &
	pids+=($!)
done

rc=0
for i in $(seq "$copies"); do
	if wait "${pids[$((i - 1))]}"; then
		echo "==> copy $i: make check passed under load"
	else
		rc=1
		echo "==> copy $i: FAILED (build-load$i.log)"
		t_show_failures "build-load$i"
	fi
	grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):' "build-load$i.log" | sed "s/^/    copy $i: /" || true
done
exit "$rc"
