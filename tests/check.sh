#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The whole test suite, as CI runs it:
#   1. install missing Debian packages, autoreconf, build out of tree in build/
#   2. make check (units, emulator, client, token, engine, command, e2e PAM)
#   3. the same under ASan + UBSan (build-san/)
#   4. make distcheck
#   5. the libFuzzer targets, CPK_FUZZ_SECONDS (default 20) each (build-fuzz/, clang)
# Each stage prints the automake summary.  Exit status 0 only if all pass.
# CPK_STAGES="check san distcheck fuzz" selects stages (default: all).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
. tests/harness.sh
cpk_install_deps clang libclang-rt-14-dev

stages=${CPK_STAGES:-check san distcheck fuzz}
jobs=2

configure_in() {
	local dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@")
}

run_check() {
	local dir=$1 name=$2
	echo "==> make check ($name)"
	if ! make -C "$dir" -j"$jobs" check; then
		t_show_failures "$dir"
		echo "==> FAILED: make check ($name)"
		return 1
	fi
}

[ -x configure ] || autoreconf -fi
[ configure -nt configure.ac ] || autoreconf -fi

for stage in $stages; do
	case $stage in
	check)
		configure_in build
		make -C build -j"$jobs" >/dev/null
		run_check build plain
		;;
	san)
		configure_in build-san --enable-sanitizers
		make -C build-san -j"$jobs" >/dev/null
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			run_check build-san sanitizers
		;;
	distcheck)
		configure_in build
		echo "==> make distcheck"
		make -C build -j"$jobs" distcheck
		;;
	fuzz)
		echo "==> fuzz (${CPK_FUZZ_SECONDS:-20} s a target)"
		CPK_FUZZ_BUILD="$top/build-fuzz" tests/fuzz/run.sh "${CPK_FUZZ_SECONDS:-20}"
		;;
	*)
		echo "unknown stage $stage" >&2
		exit 1
		;;
	esac
done
echo "==> all stages passed: $stages"
