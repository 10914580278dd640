#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/bench/run.sh: performance of pam_cognito_passkey against its baselines
# and against the physical limit, side by side in one run.  Not part
# of `make check`: run it on demand, as root, on a quiet machine.
#
#   tests/bench/run.sh [-b BUILDDIR] [SECTION...]
#
# SECTION: fastpath revoke runpending rate memory (default: all; about 2-3 minutes,
# at most 5).  BUILDDIR is a configured and built out-of-tree build
# (default $CPK_BUILDDIR, else one is configured and built in
# /tmp/cpk-bench-build).  Every figure is printed with the baseline measured
# in the same run and their ratio; a summary table in Markdown comes last
# (for tests/bench/RESULTS.md).  Exit status 0 when every target is met,
# 1 when one is missed, 2 when the bench could not run, 77 when not root.
#
# The bench runs in a private mount namespace (unshare -m) in which
# /etc/passwd and /etc/group are bind-mounted copies with the bench users
# (cpkfast, cpkrev, bu001..bu200), homes under a temp directory: nothing
# outside the namespace sees them.  The emulator (tests/emulator) serves
# HTTPS on 127.0.0.1 with a throw-away CA.
set -eu

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
PY=${PYTHON3:-python3}
LATENCY_MS=20
FAST_CALLS=100000
FAST_ROUNDS=3
CG_CALLS=2000
STRACE_CALLS=10000
REVOKE_REPS=5
BULK_USERS=200
HOLD_HANDLES=1000

usage() {
	sed -n '3,17p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ------------------------------------------------------------ outside the namespace

if [ -z "${CPK_BENCH_WORK:-}" ]; then
	BUILD=${CPK_BUILDDIR:-}
	while getopts b:h opt; do
		case $opt in
		b) BUILD=$OPTARG ;;
		*) usage ;;
		esac
	done
	shift $((OPTIND - 1))
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: the bench needs root (private mount namespace, bench users)" >&2
		exit 77
	fi
	unshare -m --propagation private true 2>/dev/null || {
		echo "SKIP: unshare -m is not permitted here" >&2
		exit 77
	}
	if [ -z "$BUILD" ]; then
		BUILD=/tmp/cpk-bench-build
		if [ ! -x "$BUILD/passkey-revoke/passkey-revoke" ]; then
			echo "# building in $BUILD (not counted in the bench time)" >&2
			[ -x "$TOP/configure" ] || (cd "$TOP" && autoreconf -fi)
			mkdir -p "$BUILD"
			(cd "$BUILD" && "$TOP/configure" >/dev/null && make -j2 >/dev/null) || exit 2
		fi
	fi
	BUILD=$(cd "$BUILD" && pwd)
	for f in passkey-revoke/passkey-revoke helper/cognito-passkey-helper \
		pam_module/.libs/pam_cognito_passkey.so; do
		[ -e "$BUILD/$f" ] || { echo "run.sh: $BUILD/$f missing: build first" >&2; exit 2; }
	done
	WORK=$(mktemp -d /tmp/cpk-bench.XXXXXX)
	chmod 0755 "$WORK"
	mkdir -p "$WORK/etc" "$WORK/home"
	cp /etc/passwd "$WORK/etc/passwd"
	cp /etc/group "$WORK/etc/group"
	{
		echo "cpkfast:5000"
		echo "cpkrev:5001"
		for i in $(seq 1 "$BULK_USERS"); do
			printf 'bu%03d:%d\n' "$i" $((5100 + i))
		done
	} >"$WORK/users"
	while IFS=: read -r name id; do
		echo "$name:x:$id:$id:bench user:$WORK/home/$name:/bin/sh" >>"$WORK/etc/passwd"
		echo "$name:x:$id:" >>"$WORK/etc/group"
		mkdir -p "$WORK/home/$name"
		chown "$id:$id" "$WORK/home/$name"
		chmod 0700 "$WORK/home/$name"
	done <"$WORK/users"
	export CPK_BENCH_WORK=$WORK CPK_BENCH_BUILD=$BUILD
	rc=0
	unshare -m --propagation private /bin/bash -c '
		set -e
		mount --bind "$CPK_BENCH_WORK/etc/passwd" /etc/passwd
		mount --bind "$CPK_BENCH_WORK/etc/group" /etc/group
		exec bash "$0" "$@"' "$0" "$@" || rc=$?
	if [ "${CPK_BENCH_KEEP:-}" = "" ]; then
		rm -rf "$WORK"
	else
		echo "# kept $WORK" >&2
	fi
	exit "$rc"
fi

# ------------------------------------------------------------ inside the namespace

WORK=$CPK_BENCH_WORK
BUILD=$CPK_BENCH_BUILD
REVOKE=$BUILD/passkey-revoke/passkey-revoke
HELPER=$BUILD/helper/cognito-passkey-helper
MODULE=$BUILD/pam_module/.libs/pam_cognito_passkey.so
BIN=$WORK/bin
CONF=$WORK/cpk.conf
STATE=$WORK/state
SECTIONS=${*:-fastpath revoke runpending rate memory}
T_START=$(date +%s)
MISSED=0
SUMMARY=()

note() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 2; }
# calc EXPR [DECIMALS]
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
# field KEY < "k=v k=v": the value of KEY
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
# median of numbers on stdin; minimum
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
minimum() { sort -g | head -1; }
# verdict OK-EXPR (awk): PASS or MISS
verdict() {
	if [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; then
		echo PASS
	else
		echo MISS
	fi
}
# row FIGURE MEASURED BASELINE RATIO TARGET VERDICT: a line of the summary
# (rows are what counts for the exit status)
row() {
	SUMMARY+=("| $1 | $2 | $3 | $4 | $5 | $6 |")
	[ "$6" != MISS ] || MISSED=1
}

make_pamd() {
	mkdir -p "$WORK/pam.d"
	printf '%s\n' "session optional $MODULE conf=$CONF" "session required pam_permit.so" \
		>"$WORK/pam.d/with"
	printf '%s\n' "session required pam_permit.so" >"$WORK/pam.d/without"
	# control for memory: the same two stack lines, pam_permit in the module's place
	printf '%s\n' "session optional pam_permit.so conf=$CONF" "session required pam_permit.so" \
		>"$WORK/pam.d/control"
}

compile() {
	local cg=""
	mkdir -p "$BIN"
	[ -e /usr/include/valgrind/callgrind.h ] && cg=-DHAVE_CALLGRIND_H
	gcc -O2 -Wall -Wextra -Werror $cg -o "$BIN/bench_pam" "$BENCH_DIR/bench_pam.c" -lpam ||
		die "cannot build bench_pam (libpam headers?)"
	gcc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -o "$BIN/floor" "$BENCH_DIR/floor.c" \
		$(pkg-config --cflags --libs libcurl) || die "cannot build floor (libcurl headers?)"
	gcc -O2 -Wall -Wextra -Werror -o "$BIN/memsample" "$BENCH_DIR/memsample.c" ||
		die "cannot build memsample"
}

write_conf() {
	mkdir -p -m 0700 "$STATE"
	{
		cat "$TOP/conf/pam_cognito_passkey.conf"
		echo "state_dir = $STATE"
		if [ -n "${EMU_URL:-}" ]; then
			echo "endpoint_url = $EMU_URL"
			echo "ca_file = $EMU_CA"
		fi
	} >"$CONF"
	chmod 0644 "$CONF"
}

machine() {
	note "# machine: $(nproc) CPU, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r), $(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release)"
	note "# date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	note "# tree: $(git -C "$TOP" log -1 --format='%h %s' 2>/dev/null | cut -c1-72)"
	note "# libpam $(dpkg-query -W -f='${Version}' libpam0g 2>/dev/null || echo ?), $(curl-config --version 2>/dev/null || echo libcurl ?), $("$PY" -c 'import boto3, sys; print("boto3", boto3.__version__, "python", sys.version.split()[0])' 2>/dev/null || echo 'boto3 missing')"
}

# ------------------------------------------------------------ 1. fast path

fast_loop() { "$BIN/bench_pam" loop "$WORK/pam.d" "$1" cpkfast "$2"; }
fast_bare() { "$BIN/bench_pam" "${2:-bare}" "$CONF" cpkfast "$1"; }

# strace_counts FILE: "syscall calls" lines of an strace -c summary
strace_counts() { awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$1"; }

# callgrind_ir ARGS...: instructions in the timed loop
callgrind_ir() {
	local out=$WORK/callgrind.out
	rm -f "$out"
	valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$@" >/dev/null 2>&1 ||
		return 1
	awk '/^totals:/ { print $2; exit }' "$out"
}

# The headline: instructions (callgrind; exact, the same under any load).
fast_instructions() {
	local iw iwo ib il added ratio
	if ! command -v valgrind >/dev/null; then
		note "valgrind not installed: no instruction counts (the headline figure)"
		row "fast path: instructions the module adds per open+close (callgrind)" "-" "-" "-" \
			"<= 1.5x" "MISS (no valgrind)"
		return
	fi
	iw=$(callgrind_ir "$BIN/bench_pam" loop "$WORK/pam.d" with cpkfast "$CG_CALLS")
	iwo=$(callgrind_ir "$BIN/bench_pam" loop "$WORK/pam.d" without cpkfast "$CG_CALLS")
	ib=$(callgrind_ir "$BIN/bench_pam" bare "$CONF" cpkfast "$CG_CALLS")
	il=$(callgrind_ir "$BIN/bench_pam" lines "$CONF" cpkfast "$CG_CALLS")
	added=$(calc "($iw - $iwo) / $CG_CALLS" 0)
	ratio=$(calc "($iw - $iwo) / $ib")
	note "instructions per open+close (callgrind, $CG_CALLS calls after one warm-up call):"
	note "  stack with the module       $(calc "$iw/$CG_CALLS" 0)"
	note "  stack without it            $(calc "$iwo/$CG_CALLS" 0)   (baseline)"
	note "  the module adds             $added"
	note "  bare minimum (plain C)      $(calc "$ib/$CG_CALLS" 0)   (open, fstat, read, close the conf; strstr state_dir; stat pending/USER)"
	note "  ... visiting every line     $(calc "$il/$CG_CALLS" 0)   (the same plus one memchr a line: the least a parser that tells comments from settings does)"
	note "  added / bare minimum        ${ratio}x   target <= 1.5x (aim 1.2x)   $(verdict "$ratio <= 1.5")"
	note "  added / bare visiting lines $(calc "($iw - $iwo) / $il")x"
	row "fast path: instructions the module adds per open+close (callgrind)" "$added" \
		"bare minimum $(calc "$ib/$CG_CALLS" 0)" "${ratio}x" "<= 1.5x" "$(verdict "$ratio <= 1.5")"
	row "fast path: the same against a bare minimum that visits every line" "$added" \
		"$(calc "$il/$CG_CALLS" 0)" "$(calc "($iw - $iwo) / $il")x" "(reported)" "-"
}

# The second figure: wall time, best of FAST_ROUNDS (moves with the load).
fast_wall() {
	local r w wo b with=() without=() bare=() tw two tb added ratio
	for r in $(seq 1 "$FAST_ROUNDS"); do
		w=$(fast_loop with "$FAST_CALLS" | field ns_per_call)
		wo=$(fast_loop without "$FAST_CALLS" | field ns_per_call)
		b=$(fast_bare "$FAST_CALLS" | field ns_per_call)
		with+=("$w")
		without+=("$wo")
		bare+=("$b")
		note "round $r: with module $(calc "$w/1000") us, without $(calc "$wo/1000") us, bare minimum $(calc "$b/1000") us per call"
	done
	tw=$(printf '%s\n' "${with[@]}" | minimum)
	two=$(printf '%s\n' "${without[@]}" | minimum)
	tb=$(printf '%s\n' "${bare[@]}" | minimum)
	added=$(calc "$tw - $two" 1)
	ratio=$(calc "($tw - $two) / $tb")
	note "wall time, best of $FAST_ROUNDS x $FAST_CALLS calls (load $(cut -d' ' -f1 /proc/loadavg)):"
	note "  stack with the module     $(calc "$tw/1000") us/call"
	note "  stack without it          $(calc "$two/1000") us/call   (baseline)"
	note "  time the module adds      $(calc "$added/1000") us/call"
	note "  bare minimum (C loop)     $(calc "$tb/1000") us/call"
	note "  added / bare minimum      ${ratio}x"
	row "fast path: time the module adds per open+close (wall, best of $FAST_ROUNDS)" \
		"$(calc "$added/1000") us" "bare minimum $(calc "$tb/1000") us" "${ratio}x" "(reported)" "-"
	row "fast path: stack with / without the module (wall)" "$(calc "$tw/1000") us" \
		"$(calc "$two/1000") us" "$(calc "$tw/$two")x" "-" "-"
}

fast_syscalls() {
	local delta total_mod total_bare bad
	note "syscalls per call (strace -f -c, $STRACE_CALLS calls; with minus without):"
	strace -f -c -o "$WORK/strace.with" "$BIN/bench_pam" loop "$WORK/pam.d" with cpkfast "$STRACE_CALLS" >/dev/null
	strace -f -c -o "$WORK/strace.without" "$BIN/bench_pam" loop "$WORK/pam.d" without cpkfast "$STRACE_CALLS" >/dev/null
	strace -f -c -o "$WORK/strace.bare" "$BIN/bench_pam" bare "$CONF" cpkfast "$STRACE_CALLS" >/dev/null
	delta=$(join -a1 -a2 -e0 -o 0,1.2,2.2 <(strace_counts "$WORK/strace.with" | sort) \
		<(strace_counts "$WORK/strace.without" | sort) |
		awk -v n="$STRACE_CALLS" '{ d = ($2 - $3) / n; if (d >= 0.5 || d <= -0.5) printf "%s=%.2f ", $1, d }')
	note "  module: ${delta:-none}"
	note "  bare:   $(strace_counts "$WORK/strace.bare" | awk -v n="$STRACE_CALLS" '{ d = $2 / n; if (d >= 0.5) printf "%s=%.2f ", $1, d }')"
	total_mod=$(join -a1 -a2 -e0 -o 0,1.2,2.2 <(strace_counts "$WORK/strace.with" | sort) \
		<(strace_counts "$WORK/strace.without" | sort) |
		awk -v n="$STRACE_CALLS" '{ s += ($2 - $3) } END { printf "%.2f", s / n }')
	total_bare=$(strace_counts "$WORK/strace.bare" | awk -v n="$STRACE_CALLS" '{ s += $2 } END { printf "%.2f", s / n }')
	bad=$(echo "$delta" | grep -Eo '(clone|clone3|fork|vfork|execve|connect|socket|sendto|sendmsg)=' || true)
	note "  fork, exec or network calls the module adds: ${bad:-none}"
	note "    (libpam's own audit netlink socket, socket/sendto/recvfrom, is there with and without the module)"
	row "fast path: syscalls the module adds per call" "$total_mod" "bare minimum $total_bare" \
		"$(calc "$total_mod/$total_bare")x" "no fork, no network" "$([ -z "$bad" ] && echo PASS || echo MISS)"
}

section_fastpath() {
	note ""
	note "## 1. Fast path: nothing pending, pam_open_session + pam_close_session on a started handle"
	write_conf
	make_pamd
	# the same answer from every variant, or the comparison means nothing
	fast_loop with 1 | grep -q 'first=PAM_SUCCESS changed=0' || die "stack with the module fails"
	fast_bare 1 | grep -q 'first=nothing_pending changed=0' || die "bare loop fails"
	fast_bare 1 lines | grep -q 'first=nothing_pending changed=0' || die "bare line loop fails"
	fast_instructions
	fast_wall
	fast_syscalls
}

# ------------------------------------------------------------ emulator

EMU_STARTED=""
start_emulator() {
	[ -z "$EMU_STARTED" ] || return 0
	EMU_PYTHON=$PY
	# shellcheck source=../emulator/testenv.sh
	. "$TOP/tests/emulator/testenv.sh"
	emu_start "$WORK/emu" || die "the emulator did not start"
	EMU_STARTED=1
	trap 'emu_stop || true' EXIT
	write_conf
}

emu() { "$PY" "$BENCH_DIR/bench_emu.py" "$@"; }
flag() {
	local u
	for u in "$@"; do
		"$REVOKE" --config "$CONF" -a -r bench "$u" >/dev/null || die "cannot flag $u"
	done
}
# run_cmd [-s] CMD...: its output goes to $WORK/child.log, ours is bench_pam's line
run_cmd() { BENCH_CHILD_OUT=$WORK/child.log "$BIN/bench_pam" run "$@"; }

FLOOR_HS=""
FLOOR_REQ=""
measure_floor() {
	[ -z "$FLOOR_HS" ] || return 0
	local out
	emu latency 0
	out=$("$BIN/floor" "$EMU_URL" "$EMU_CA" "$WORK/home/cpkrev/.cache/cognito/tokens.json" 6 20)
	FLOOR_HS=$(echo "$out" | field handshake_ms)
	FLOOR_REQ=$(echo "$out" | field request_ms)
	note "network floor (libcurl in-process, latency 0, best of 20): TCP+TLS handshake ${FLOOR_HS} ms, one request on the open connection ${FLOOR_REQ} ms"
	emu latency "$LATENCY_MS"
}

# ------------------------------------------------------------ 2. one user's revocation

section_revoke() {
	local i out cpk=() py=() pyin=() sum tc tp tpin limit r1 r2 region cache
	note ""
	note "## 2. One user's revocation: 5 passkeys, HTTPS, ${LATENCY_MS} ms added per request"
	start_emulator
	emu users "$WORK/home" 5 cpkrev:5001
	measure_floor
	cache=$WORK/home/cpkrev/.cache/cognito/tokens.json
	region=$(sed -n 's/.*region=\([a-z0-9-]*\).*/\1/p' "$EMU_LOG" | head -1)
	"$PY" -c 'import boto3' 2>/dev/null || die "boto3 is missing: no baseline"
	for i in $(seq 1 "$REVOKE_REPS"); do
		emu passkeys 5 cpkrev
		flag cpkrev
		emu clear-log
		out=$(run_cmd "$REVOKE" --config "$CONF" -x cpkrev)
		[ "$(echo "$out" | field status)" = 0 ] || die "passkey-revoke -x failed: $out"
		sum=$(emu log-summary)
		[ "$(emu remaining cpkrev)" = 0 ] || die "passkey-revoke -x left passkeys"
		cpk+=("$(echo "$out" | field wall_ms)")
		emu passkeys 5 cpkrev
		out=$(AWS_EC2_METADATA_DISABLED=true run_cmd "$PY" "$BENCH_DIR/boto3_revoke.py" "$cache" "$EMU_URL" "$EMU_CA" "$region")
		[ "$(echo "$out" | field status)" = 0 ] || die "boto3 script failed: $out"
		[ "$(emu remaining cpkrev)" = 0 ] || die "boto3 script left passkeys"
		py+=("$(echo "$out" | field wall_ms)")
		note "rep $i: passkey-revoke -x $(calc "${cpk[-1]}" 1) ms (emulator saw: $sum); boto3 script $(calc "${py[-1]}" 1) ms"
	done
	# the in-script part of boto3 once more, for the breakdown (import, client, calls)
	emu passkeys 5 cpkrev
	pyin=$(AWS_EC2_METADATA_DISABLED=true "$PY" "$BENCH_DIR/boto3_revoke.py" "$cache" "$EMU_URL" "$EMU_CA" "$region")
	tc=$(printf '%s\n' "${cpk[@]}" | median)
	tp=$(printf '%s\n' "${py[@]}" | median)
	limit=$(calc "$FLOOR_HS + 6 * ($FLOOR_REQ + $LATENCY_MS)" 1)
	r1=$(calc "$tp / $tc")
	r2=$(calc "$tc / $limit")
	note "median of $REVOKE_REPS, end to end (exec to exit):"
	note "  passkey-revoke -x         $(calc "$tc" 1) ms"
	note "  boto3 script              $(calc "$tp" 1) ms   (baseline; $pyin)"
	note "  boto3 / passkey-revoke    ${r1}x   target >= 3x   $(verdict "$r1 >= 3")"
	note "  limit: handshake + 6 x (request floor + ${LATENCY_MS} ms) = $FLOOR_HS + 6 x ($FLOOR_REQ + $LATENCY_MS) = $limit ms"
	note "  passkey-revoke / limit    ${r2}x   target <= 1.25x   $(verdict "$r2 <= 1.25")"
	row "one user, 5 passkeys: passkey-revoke -x vs boto3" "$(calc "$tc" 1) ms" \
		"boto3 $(calc "$tp" 1) ms" "${r1}x faster" ">= 3x" "$(verdict "$r1 >= 3")"
	row "one user, 5 passkeys: passkey-revoke -x vs limit" "$(calc "$tc" 1) ms" \
		"limit $limit ms" "${r2}x" "<= 1.25x" "$(verdict "$r2 <= 1.25")"
}

# ------------------------------------------------------------ 3. --run-pending

bulk_names() { sed -n 's/^\(bu[0-9]*\):.*/\1/p' "$WORK/users" | head -"${1:-$BULK_USERS}"; }

# reset_bulk N: N users with 2 passkeys each, flagged
reset_bulk() {
	local n=$1
	# shellcheck disable=SC2046
	emu passkeys 2 $(bulk_names "$n")
	# shellcheck disable=SC2046
	flag $(bulk_names "$n")
	emu clear-log
}

# run_pending ARGS...: prints the bench_pam run line; checks that all is done
run_pending() {
	local out
	out=$(run_cmd "$REVOKE" --config "$CONF" --run-pending "$@")
	[ "$(echo "$out" | field status)" = 0 ] || die "--run-pending $* failed: $out"
	echo "$out"
}

# jnum KEY < JSON: one number of a JSON object, -1 when absent (a build before issue 14)
jnum() { "$PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], -1))' "$1"; }

# run_pending_json JOBS: one --run-pending -j JOBS --json; sets RP_MS, RP_WORKERS,
# RP_CONNS (the command's count) and RP_SEEN (connections the emulator saw)
run_pending_json() {
	local out
	: >"$WORK/child.log"
	out=$(run_pending -j "$1" --json)
	RP_MS=$(echo "$out" | field wall_ms)
	RP_WORKERS=$(jnum workers <"$WORK/child.log")
	RP_CONNS=$(jnum connections <"$WORK/child.log")
	RP_SEEN=$(emu log-summary | jnum connections)
	RP_REQS=$(emu log-summary | jnum requests)
	# shellcheck disable=SC2046
	[ "$(emu remaining $(bulk_names))" = 0 ] || die "-j $1 left passkeys"
}

section_runpending() {
	local t1 t8 lanes per_user limit r1 r2 w1 c1 s1 w8 c8 s8 hs_ok nreq
	note ""
	note "## 3. --run-pending: $BULK_USERS users x 2 passkeys, ${LATENCY_MS} ms added per request"
	note "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	bulk_setup

	reset_bulk "$BULK_USERS"
	run_pending_json 1
	t1=$RP_MS w1=$RP_WORKERS c1=$RP_CONNS s1=$RP_SEEN
	note "-j 1: $(calc "$t1/1000" 2) s   workers $w1, connections $c1 (emulator saw $s1)"

	reset_bulk "$BULK_USERS"
	run_pending_json 8
	t8=$RP_MS w8=$RP_WORKERS c8=$RP_CONNS s8=$RP_SEEN
	note "-j 8: $(calc "$t8/1000" 2) s   workers $w8, connections $c8 (emulator saw $s8, $RP_REQS requests)"
	note "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

	# a worker keeps one connection for every user it serves: one handshake a
	# lane, then the user's requests (GetUser, List, 2 x Delete), counted
	lanes=8
	nreq=$(calc "$RP_REQS / $BULK_USERS" 0)
	per_user=$(calc "$nreq * ($FLOOR_REQ + $LATENCY_MS)" 2)
	limit=$(calc "$FLOOR_HS + int(($BULK_USERS + $lanes - 1) / $lanes) * $per_user" 0)
	r1=$(calc "$t1 / $t8")
	r2=$(calc "$t8 / $limit")
	hs_ok=$(verdict "$c8 == $w8 && $s8 == $w8 && $c1 == 1 && $s1 == 1")
	note "  -j 8 vs -j 1              ${r1}x faster   target >= 6x   $(verdict "$r1 >= 6")"
	note "  limit for 8 lanes: handshake + ceil($BULK_USERS/8) users a lane x $nreq x (request floor + ${LATENCY_MS} ms) = $FLOOR_HS + 25 x $per_user = $limit ms"
	note "  -j 8 / limit              ${r2}x   target <= 1.3x   $(verdict "$r2 <= 1.3")"
	note "  handshakes (new connections) = workers: -j 1 $c1/$w1, -j 8 $c8/$w8 (emulator $s1, $s8)   $hs_ok"
	row "--run-pending 200 users: -j 8 vs -j 1" "$(calc "$t8/1000") s" "-j 1 $(calc "$t1/1000") s" \
		"${r1}x faster" ">= 6x" "$(verdict "$r1 >= 6")"
	row "--run-pending 200 users: -j 8 vs the 8-lane limit" "$(calc "$t8/1000") s" \
		"limit $(calc "$limit/1000") s" "${r2}x" "<= 1.3x" "$(verdict "$r2 <= 1.3")"
	row "--run-pending 200 users: handshakes (-j 8 / -j 1)" "$c8 / $c1" "workers $w8 / $w1" \
		"emulator saw $s8 / $s1" "= workers" "$hs_ok"
}

# ------------------------------------------------------------ 3b. --rate

bulk_setup() {
	start_emulator
	[ -e "$WORK/home/cpkrev/.cache/cognito/tokens.json" ] || emu users "$WORK/home" 5 cpkrev:5001
	measure_floor
	if [ ! -e "$WORK/home/bu001/.cache/cognito/tokens.json" ]; then
		# shellcheck disable=SC2046
		emu users "$WORK/home" 2 $(sed -n 's/^\(bu[0-9]*:[0-9]*\)$/\1/p' "$WORK/users")
	fi
}

section_rate() {
	local out tr rc achieved worst dev
	note ""
	note "## 3b. --run-pending -j 8 --rate 50: $BULK_USERS users x 2 passkeys"
	bulk_setup
	reset_bulk "$BULK_USERS"
	out=$(run_pending -j 8 --rate 50)
	tr=$(echo "$out" | field wall_ms)
	rc=$(emu rate-check 50)
	achieved=$(echo "$rc" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["achieved"])')
	worst=$(echo "$rc" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["max_in_1s_window"])')
	dev=$(calc "($achieved - 50) / 50 * 100" 1)
	note "--rate 50 (-j 8): $(calc "$tr/1000") s; from the emulator's request log: $rc"
	note "  achieved rate             $achieved/s (${dev}%)   target within 5%   $(verdict "$achieved >= 47.5 && $achieved <= 52.5")"
	note "  most in any 1 s window    $worst   target <= 50   $(verdict "$worst <= 50")"
	row "--rate 50: achieved rate (request log)" "$achieved/s" "50/s" "${dev}%" "within 5%" \
		"$(verdict "$achieved >= 47.5 && $achieved <= 52.5")"
	row "--rate 50: most requests in any 1 s window" "$worst" "50" "-" "<= 50" "$(verdict "$worst <= 50")"
}

# ------------------------------------------------------------ 4. memory

# mem CMD...: memsample's line for CMD (its output to $WORK/child.log)
mem() { "$BIN/memsample" "$@" 2>>"$WORK/child.log" | tail -1; }
mib() { calc "$1/1024"; }

section_memory() {
	local out hp hs fp fs xp xs xwp xws n1p n1c n1t n200p n200c n200t
	local with without control pw pwo pc once
	note ""
	note "## 4. Memory: private (Private_Dirty of /proc/PID/smaps_rollup) and PSS at their peak"
	note "# sampled from outside (tests/bench/memsample.c: every 2 ms and at each process's exit, ptrace)"
	note "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	bulk_setup
	emu passkeys 5 cpkrev
	flag cpkrev
	out=$(mem "$HELPER" cpkrev sshd session "conf=$CONF" </dev/null)
	[ "$(echo "$out" | field status)" = 0 ] || die "helper failed: $out"
	[ "$(emu remaining cpkrev)" = 0 ] || die "the helper left passkeys"
	hp=$(echo "$out" | field cmd_private_kb)
	hs=$(echo "$out" | field cmd_pss_kb)
	# baseline: the least any libcurl+OpenSSL client needs here (one TLS connection, 6 requests)
	out=$(mem "$BIN/floor" "$EMU_URL" "$EMU_CA" "$WORK/home/cpkrev/.cache/cognito/tokens.json" 6 1)
	fp=$(echo "$out" | field cmd_private_kb)
	fs=$(echo "$out" | field cmd_pss_kb)
	note "cognito-passkey-helper, one user, 5 passkeys: private $(mib "$hp") MiB, PSS $(mib "$hs") MiB"
	note "  baseline: minimal libcurl client (tests/bench/floor.c, one TLS connection): private $(mib "$fp") MiB, PSS $(mib "$fs") MiB"
	row "helper private memory, one user (5 passkeys)" "$(mib "$hp") MiB" \
		"libcurl client $(mib "$fp") MiB" "$(calc "$hp/$fp")x" "< 4 MiB" "$(verdict "$hp < 4096")"
	row "helper PSS, one user" "$(mib "$hs") MiB" "libcurl client $(mib "$fs") MiB" \
		"$(calc "$hs/$fs")x" "(reported)" "-"

	emu passkeys 5 cpkrev
	flag cpkrev
	out=$(mem "$REVOKE" --config "$CONF" -x cpkrev)
	[ "$(echo "$out" | field status)" = 0 ] || die "passkey-revoke -x failed: $out"
	xp=$(echo "$out" | field cmd_private_kb)
	xs=$(echo "$out" | field cmd_pss_kb)
	xwp=$(echo "$out" | field child_private_kb)
	xws=$(echo "$out" | field child_pss_kb)
	note "passkey-revoke -x, one user: command private $(mib "$xp") MiB (PSS $(mib "$xs")), its worker private $(mib "$xwp") MiB (PSS $(mib "$xws"))"
	row "passkey-revoke -x private memory, one user (command / worker)" \
		"$(mib "$xp") / $(mib "$xwp") MiB" "libcurl client $(mib "$fp") MiB" \
		"$(calc "$xwp/$fp")x" "< 4 MiB" "$(verdict "$xp < 4096 && $xwp < 4096")"

	reset_bulk 1
	out=$(mem "$REVOKE" --config "$CONF" --run-pending -j 8)
	[ "$(echo "$out" | field status)" = 0 ] || die "--run-pending N=1 failed: $out"
	n1p=$(echo "$out" | field cmd_private_kb)
	n1c=$(echo "$out" | field child_private_kb)
	n1t=$(echo "$out" | field total_private_kb)
	note "--run-pending -j 8, N=1:   command private $(mib "$n1p") MiB, largest worker $(mib "$n1c") MiB, all at once $(mib "$n1t") MiB ($out)"
	reset_bulk "$BULK_USERS"
	out=$(mem "$REVOKE" --config "$CONF" --run-pending -j 8)
	[ "$(echo "$out" | field status)" = 0 ] || die "--run-pending N=200 failed: $out"
	n200p=$(echo "$out" | field cmd_private_kb)
	n200c=$(echo "$out" | field child_private_kb)
	n200t=$(echo "$out" | field total_private_kb)
	note "--run-pending -j 8, N=200: command private $(mib "$n200p") MiB, largest worker $(mib "$n200c") MiB, all at once $(mib "$n200t") MiB ($out)"
	note "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	row "--run-pending command private memory, N=200 vs N=1" "$(mib "$n200p") MiB" \
		"$(mib "$n1p") MiB" "$(calc "$n200p/$n1p")x" "flat (<= 1.1x)" "$(verdict "$n200p <= 1.1 * $n1p")"
	row "--run-pending worker private memory, N=200 vs N=1" "$(mib "$n200c") MiB" \
		"$(mib "$n1c") MiB" "$(calc "$n200c/$n1c")x" "flat (<= 1.1x), < 4 MiB" \
		"$(verdict "$n200c <= 1.1 * $n1c && $n200c < 4096")"
	row "--run-pending private memory of all processes at once, N=200 (8 workers) vs N=1 (1)" \
		"$(mib "$n200t") MiB" "$(mib "$n1t") MiB" "$(calc "$n200t/$n1t")x" "(reported)" "-"

	make_pamd
	with=$("$BIN/bench_pam" hold "$WORK/pam.d" with cpkfast "$HOLD_HANDLES")
	without=$("$BIN/bench_pam" hold "$WORK/pam.d" without cpkfast "$HOLD_HANDLES")
	control=$("$BIN/bench_pam" hold "$WORK/pam.d" control cpkfast "$HOLD_HANDLES")
	pc=$(calc "($(echo "$control" | field rss_kb_k) - $(echo "$control" | field rss_kb_1)) / ($HOLD_HANDLES - 1)" 3)
	pw=$(calc "($(echo "$with" | field rss_kb_k) - $(echo "$with" | field rss_kb_1)) / ($HOLD_HANDLES - 1)" 3)
	pwo=$(calc "($(echo "$without" | field rss_kb_k) - $(echo "$without" | field rss_kb_1)) / ($HOLD_HANDLES - 1)" 3)
	once=$(calc "($(echo "$with" | field rss_kb_1) - $(echo "$with" | field rss_kb_0)) - ($(echo "$without" | field rss_kb_1) - $(echo "$without" | field rss_kb_0))" 0)
	note "host process holding $HOLD_HANDLES PAM handles, each opened once:"
	note "  with the module: $with"
	note "  without it:      $without"
	note "  control (pam_permit.so, same arguments, in the module's place): $control"
	note "  per handle: $pw KiB with, $pwo KiB without: the module adds $(calc "$pw - $pwo" 2) KiB a handle; once per process (first handle, dlopen): $once KiB"
	note "  of the per-handle cost, libpam's own bookkeeping for one more stack line is $(calc "$pc - $pwo" 2) KiB (control); the module's own: $(calc "$pw - $pc" 2) KiB"
	row "host RSS per PAM handle, with / without the module" "$pw KiB" "$pwo KiB" \
		"+$(calc "$pw - $pwo" 2) KiB" "(reported)" "-"
	row "host RSS per PAM handle, module vs pam_permit in its place" "$pw KiB" "$pc KiB" \
		"+$(calc "$pw - $pc" 2) KiB" "(reported)" "-"
	row "host RSS once per process (module loaded; noisy)" "$once KiB" "-" "-" "(reported)" "-"
}

# ------------------------------------------------------------ main

[ -d "$STATE" ] || mkdir -p -m 0700 "$STATE"
compile
machine
for s in $SECTIONS; do
	case $s in
	fastpath | revoke | runpending | rate | memory) "section_$s" ;;
	*) die "unknown section $s (fastpath revoke runpending rate memory)" ;;
	esac
done
note ""
note "## Summary ($(($(date +%s) - T_START)) s)"
note ""
note "| figure | measured | baseline | ratio | target | verdict |"
note "|---|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
exit "$MISSED"
