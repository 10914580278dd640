#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/stress.sh: is the suite hermetic under load?  Runs tests/check.sh
# (stage check) on fresh clones of this repository's HEAD while the machine
# is kept busy, and says for each run whether it passed.  Not run by CI: a
# full round takes hours on a small shared machine (tests/RELIABILITY.md).
#
#   tests/stress.sh [-n N] [-m serial|parallel] [-l stress|make|none]
#                   [-w WORKDIR] [-c COMMAND] [-k] [--dry-run]
#
#   -n N        runs (serial) or rounds of two runs (parallel); default 5
#   -m serial   one clone after the other, each on a fresh clone (default)
#   -m parallel two clones at once, each round, with the load still on
#   -l stress   stress-ng --cpu 4 --io 2 for the whole time (default;
#               installed with apt-get when missing, else -l make)
#   -l make     two `make -j2` build loops of a second clone instead
#   -l none     no extra load (to compare)
#   -w WORKDIR  where the clones go (default: a new directory in TMPDIR)
#   -c COMMAND  what a run executes in its clone (default:
#               CPK_STAGES=check tests/check.sh); for a quick try of this
#               script itself
#   -k          keep WORKDIR (it is kept anyway when a run failed)
#   --dry-run   print what would run, run nothing
#
# One line a run:  run 3/5 serial PASS 1712 s load 3.41 2.97 2.60 (log ...)
# (load: /proc/loadavg when the run ended).  Exit status 0 only if every
# run passed; the logs of the failed runs are kept and named.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
runs=5 mode=serial load=stress work='' keep=0 dry=0
cmd='CPK_STAGES=check tests/check.sh'

usage() {
	sed -n '7,23p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=${2:?}; shift 2 ;;
	-m) mode=${2:?}; shift 2 ;;
	-l) load=${2:?}; shift 2 ;;
	-w) work=${2:?}; shift 2 ;;
	-c) cmd=${2:?}; shift 2 ;;
	-k) keep=1; shift ;;
	--dry-run) dry=1; shift ;;
	*) usage ;;
	esac
done
case $runs in '' | *[!0-9]* | 0) usage ;; esac
case $mode in serial | parallel) ;; *) usage ;; esac
case $load in stress | make | none) ;; *) usage ;; esac

rev=$(git -C "$top" rev-parse HEAD)
if [ "$dry" = 1 ]; then
	work=${work:-${TMPDIR:-/tmp}/cpk-stress.XXXXXX}
else
	mkdir -p "${work:-${TMPDIR:-/tmp}}"
	work=${work:-$(mktemp -d "${TMPDIR:-/tmp}/cpk-stress.XXXXXX")}
fi
load_pids=()
failed=0

# Runs "$@", or only says it would.
run() {
	if [ "$dry" = 1 ]; then
		printf 'would run: %s\n' "$*"
	else
		"$@"
	fi
}

# A fresh clone of HEAD in $1 (uncommitted changes are not in it).
clone() {
	run rm -rf "$1"
	run git clone -q --no-checkout "$top" "$1"
	run git -C "$1" checkout -q "$rev"
}

have_stress_ng() {
	command -v stress-ng >/dev/null && return 0
	[ "$(id -u)" = 0 ] || return 1
	echo "stress.sh: installing stress-ng" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null 2>&1 || return 1
	command -v stress-ng >/dev/null
}

# Two build loops of their own clone: what two other engineers' builds do.
make_loop() {
	local src=$1 dir=$2
	while :; do
		rm -rf "$dir"
		mkdir -p "$dir"
		(cd "$dir" && "$src/configure" -q && make -j2) >/dev/null 2>&1 || true
	done
}

start_load() {
	if [ "$load" = stress ] && [ "$dry" = 0 ] && ! have_stress_ng; then
		echo "stress.sh: no stress-ng: two make -j2 build loops instead" >&2
		load='make'
	fi
	case $load in
	stress)
		echo "load: stress-ng --cpu 4 --io 2"
		if [ "$dry" = 1 ]; then
			run stress-ng --cpu 4 --io 2 --quiet
		else
			stress-ng --cpu 4 --io 2 --quiet &
			load_pids+=("$!")
		fi
		;;
	make)
		echo "load: two make -j2 build loops of $work/load"
		clone "$work/load"
		run sh -c "cd '$work/load' && autoreconf -fi >/dev/null 2>&1"
		if [ "$dry" = 1 ]; then
			run make_loop "$work/load" "$work/load/b1"
			run make_loop "$work/load" "$work/load/b2"
		else
			make_loop "$work/load" "$work/load/b1" &
			load_pids+=("$!")
			make_loop "$work/load" "$work/load/b2" &
			load_pids+=("$!")
		fi
		;;
	none)
		echo "load: none"
		;;
	esac
}

# Only what this script started, by process group (the loops' makes too).
stop_load() {
	local pid
	for pid in "${load_pids[@]+"${load_pids[@]}"}"; do
		kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
	done
	for pid in "${load_pids[@]+"${load_pids[@]}"}"; do
		wait "$pid" 2>/dev/null || true
	done
	load_pids=()
}

cleanup() {
	stop_load
	if [ "$dry" = 0 ] && [ "$keep" = 0 ] && [ "$failed" = 0 ]; then
		rm -rf "$work"
	elif [ "$dry" = 0 ]; then
		echo "stress.sh: kept $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One run of the suite in clone $1, its log $2; prints nothing.
suite() {
	local dir=$1 log=$2
	clone "$dir"
	if [ "$dry" = 1 ]; then
		run sh -c "cd '$dir' && $cmd" ">$log" "2>&1"
		return 0
	fi
	sh -c "cd '$dir' && $cmd" >"$log" 2>&1
}

# The line for a finished run: name, exit status, start time, log.
report() {
	local name=$1 rc=$2 t0=$3 log=$4 verdict=PASS
	local la
	[ "$dry" = 0 ] || return 0
	la=$(cut -d' ' -f1-3 /proc/loadavg)
	if [ "$rc" -ne 0 ]; then
		verdict=FAIL
		failed=$((failed + 1))
	fi
	printf '%s %s %d s load %s (log %s)\n' "$name" "$verdict" $(($(date +%s) - t0)) "$la" "$log"
}

serial() {
	local i t0 rc log
	for i in $(seq 1 "$runs"); do
		log=$work/run-$i.log
		t0=$(date +%s)
		rc=0
		suite "$work/clone" "$log" || rc=$?
		report "run $i/$runs serial" "$rc" "$t0" "$log"
	done
}

# Two copies of the suite at once, in two clones, each round.
parallel() {
	local i t0 pa pb ra rb
	for i in $(seq 1 "$runs"); do
		t0=$(date +%s)
		if [ "$dry" = 1 ]; then
			suite "$work/a" "$work/run-$i-a.log"
			suite "$work/b" "$work/run-$i-b.log"
			continue
		fi
		suite "$work/a" "$work/run-$i-a.log" &
		pa=$!
		suite "$work/b" "$work/run-$i-b.log" &
		pb=$!
		ra=0 rb=0
		wait "$pa" || ra=$?
		report "run $i/$runs parallel a" "$ra" "$t0" "$work/run-$i-a.log"
		wait "$pb" || rb=$?
		report "run $i/$runs parallel b" "$rb" "$t0" "$work/run-$i-b.log"
	done
}

echo "stress.sh: $mode, $runs run(s) of '$cmd' on clones of $rev in $work"
# the load's builds and stress-ng in a process group of their own each
set -m
start_load
set +m
"$mode"
stop_load
if [ "$dry" = 1 ]; then
	echo "stress.sh: dry run, nothing ran"
	exit 0
fi
if [ "$failed" -ne 0 ]; then
	echo "stress.sh: $failed run(s) FAILED"
	exit 1
fi
echo "stress.sh: all runs passed"
