#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/bench/fleet.sh: the fleet (fleet = etcd, issue 13) against a real
# 3-member etcd on loopback (tests/fleet/etcdenv.sh: TLS, client certificates)
# and the Cognito emulator.  Not part of `make check`: run it on demand, as root.
#
#   tests/bench/fleet.sh [-b BUILDDIR] [-n SAMPLES] [-u SYNC_USERS]
#
# 1. latency: host B runs `passkey-revoke --sync --follow`; host A flags
#    SAMPLES users (default 30) one after the other with `-a`; the time from
#    A's command returning to B's pending file appearing (inotify event),
#    median and p90 (goal: median < 1 s).
# 2. requests: the same through a counting proxy (etcd_count.py): the HTTP
#    requests A, B and A's --follow make to etcd for flag -> run on B (-x)
#    -> outcome seen by A, per phase and kind (goal: <= 4 per revocation);
#    then both hosts' --follow idle for CPK_FBENCH_IDLE s (default 60): their
#    requests per minute.
# 3. bulk sync: SYNC_USERS (default 10000) pending users in etcd, a host with
#    an empty state_dir runs `--sync` (timed), then again (nothing to do);
#    then one key more (past the 10,000 a range answer may hold), and the
#    first sync again from another empty state_dir through the proxy (counted).
#
# Runs in a private mount namespace whose /etc/passwd and /etc/group are
# copies with the bench users (fl*, fc*, sy*; the sync refuses users unknown
# to NSS); nothing outside it sees them.  Exit 0 when the goals are met, 1
# when one is missed, 2 when the bench could not run, 77 when not root.
set -eu

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
PY=${PYTHON3:-python3}
SAMPLES=${CPK_FBENCH_SAMPLES:-30}
COUNT_USERS=5
SYNC_USERS=${CPK_FBENCH_SYNC_USERS:-10000}
IDLE=${CPK_FBENCH_IDLE:-60}

usage() {
	sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ------------------------------------------------------------ outside the namespace

if [ -z "${CPK_FBENCH_WORK:-}" ]; then
	BUILD=${CPK_BUILDDIR:-$TOP/build}
	while getopts b:n:u:h opt; do
		case $opt in
		b) BUILD=$OPTARG ;;
		n) SAMPLES=$OPTARG ;;
		u) SYNC_USERS=$OPTARG ;;
		*) usage ;;
		esac
	done
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: the bench needs root (private mount namespace, bench users)" >&2
		exit 77
	fi
	for tool in etcd etcdctl openssl "$PY"; do
		command -v "$tool" >/dev/null ||
			{ echo "SKIP: $tool is not installed (tests/deps.sh installs it)" >&2; exit 77; }
	done
	[ -x "$BUILD/passkey-revoke/passkey-revoke" ] ||
		{ echo "fleet.sh: $BUILD/passkey-revoke/passkey-revoke missing: build first" >&2; exit 2; }
	BUILD=$(cd "$BUILD" && pwd)
	WORK=$(mktemp -d /tmp/cpk-fbench.XXXXXX)
	chmod 0755 "$WORK"
	mkdir -p "$WORK/etc" "$WORK/home"
	cp /etc/passwd "$WORK/etc/passwd"
	cp /etc/group "$WORK/etc/group"
	# fl*: latency, fc*: counted runs (homes, token caches), sy*: bulk sync
	"$PY" - "$WORK" "$SAMPLES" "$COUNT_USERS" "$SYNC_USERS" <<'PY'
import os, sys
work, nl, nc, ns = sys.argv[1], *map(int, sys.argv[2:])
users = [("fl%03d" % i, None) for i in range(1, nl + 1)]
users += [("fc%03d" % i, "home") for i in range(1, nc + 1)]
users += [("sy%05d" % i, None) for i in range(1, ns + 1)]
with open(work + "/etc/passwd", "a") as pw, open(work + "/etc/group", "a") as gr, \
     open(work + "/users", "w") as lst:
    for n, (name, home) in enumerate(users):
        uid = 20000 + n
        h = "%s/home/%s" % (work, name) if home else "/nonexistent"
        pw.write("%s:x:%d:%d:fleet bench:%s:/bin/sh\n" % (name, uid, uid, h))
        gr.write("%s:x:%d:\n" % (name, uid))
        lst.write("%s\n" % name)
        if home:
            os.makedirs(h, mode=0o700)
            os.chown(h, uid, uid)
PY
	export CPK_FBENCH_WORK=$WORK CPK_FBENCH_BUILD=$BUILD CPK_FBENCH_SAMPLES=$SAMPLES \
		CPK_FBENCH_SYNC_USERS=$SYNC_USERS
	rc=0
	unshare -m --propagation private /bin/bash -c '
		set -e
		mount --bind "$CPK_FBENCH_WORK/etc/passwd" /etc/passwd
		mount --bind "$CPK_FBENCH_WORK/etc/group" /etc/group
		exec bash "$0"' "$0" || rc=$?
	if [ -z "${CPK_BENCH_KEEP:-}" ]; then
		rm -rf "$WORK"
	else
		echo "# kept $WORK" >&2
	fi
	exit "$rc"
fi

# ------------------------------------------------------------ inside the namespace

WORK=$CPK_FBENCH_WORK
BUILD=$CPK_FBENCH_BUILD
REVOKE=$BUILD/passkey-revoke/passkey-revoke
E=$WORK/etcd
PREFIX=/cpk-bench/
PROXY_PID=""
FOLLOW_PIDS=""
MISSED=0
T_START=$(date +%s)
unset https_proxy HTTPS_PROXY http_proxy HTTP_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

note() { printf '%s\n' "$*"; }
die() { printf 'fleet.sh: %s\n' "$*" >&2; exit 2; }
load() { note "# load average ($1): $(cut -d' ' -f1-3 /proc/loadavg)"; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
verdict() { if [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; then echo PASS; else echo MISS; fi; }

# shellcheck source=../fleet/etcdenv.sh
. "$TOP/tests/fleet/etcdenv.sh"
EMU_PYTHON=$PY
# shellcheck source=../emulator/testenv.sh
. "$TOP/tests/emulator/testenv.sh"

cleanup() {
	local p
	for p in $FOLLOW_PIDS $PROXY_PID; do
		kill "$p" 2>/dev/null || true
	done
	for p in $FOLLOW_PIDS $PROXY_PID; do
		wait "$p" 2>/dev/null || true
	done
	FOLLOW_PIDS=""
	etcd_stop
	emu_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# conf HOST ENDPOINTS: HOST's configuration (state_dir WORK/HOST/state)
conf() {
	mkdir -p "$WORK/$1"
	cat >"$WORK/$1/conf" <<CONF
state_dir = $WORK/$1/state
endpoint_url = $EMU_URL
ca_file = $EMU_CA
fleet = etcd
etcd_endpoints = $2
etcd_ca_file = $E/ca.pem
etcd_cert_file = $E/client.pem
etcd_key_file = $E/client.key
etcd_prefix = $PREFIX
etcd_timeout = 5
host_name = host-$1
CONF
	chmod 0644 "$WORK/$1/conf"
}
pr() {
	local h=$1
	shift
	"$REVOKE" --config "$WORK/$h/conf" "$@"
}
# follow HOST: --sync --follow in the background, back once it watches
follow() {
	# the command itself in the background, not a subshell: its pid is killed
	"$REVOKE" --config "$WORK/$1/conf" --sync --follow >"$WORK/$1/follow.out" \
		2>"$WORK/$1/follow.err" &
	FOLLOW_PIDS="$FOLLOW_PIDS $!"
	etcd_wait_line "$WORK/$1/follow.out" "synced at revision" $! 60 ||
		{ cat "$WORK/$1/follow.err" >&2; die "$1: --follow did not start"; }
	mkdir -p "$WORK/$1/state/pending"
}
users() { sed -n "/^$1/p" "$WORK/users"; }
lines() { wc -l <"$WORK/proxy.log"; }
# wait_gone FILE: gone (the event A's --follow causes), bounded
wait_gone() {
	local limit=$((SECONDS + 30))
	while [ -e "$1" ] && [ "$SECONDS" -lt "$limit" ]; do sleep 0.05; done
	[ ! -e "$1" ]
}

note "# fleet bench: $(nproc) CPU, kernel $(uname -r), $(etcd --version | head -1)"
note "# date: $(date -u '+%Y-%m-%d %H:%M UTC'); tree: $(git -C "$TOP" log -1 --format='%h %s' 2>/dev/null | cut -c1-60)"
load start
etcd_certs "$E" || die "openssl failed"
etcd_start "$E" 3 || die "etcd did not start"
emu_start "$WORK/emu" >/dev/null || die "the emulator did not start"
IFS=, read -r M1 M2 M3 <<<"$ETCD_ENDPOINTS"
note "# etcd: 3 members ($ETCD_ENDPOINTS); leader: $(etcd_ctl endpoint status -w table 2>/dev/null | awk -F'|' '$6 ~ /true/ { gsub(/ /, "", $2); print $2 }')"
# A talks to m1 first, B watches m2 (a follower, most likely), C syncs from m3
conf a "$M1,$M2,$M3"
conf b "$M2,$M3,$M1"
conf c "$M3,$M1,$M2"

# ------------------------------------------------------------ 1. latency

note ""
note "## 1. flag on A -> pending file on B (B: --sync --follow), $SAMPLES samples"
follow b
load "during latency"
"$PY" "$BENCH_DIR/fleet_probe.py" latency "$REVOKE" "$WORK/a/conf" "$WORK/b/state/pending" \
	$(users fl) >"$WORK/latency.out" || { cat "$WORK/latency.out"; die "latency probe failed"; }
load "after latency"
tail -4 "$WORK/latency.out"
LAT_MED=$(grep after_return_median "$WORK/latency.out" | field after_return_median_ms)
LAT_P90=$(grep after_return_median "$WORK/latency.out" | field after_return_p90_ms)
LAT_FLAG=$(grep flag_median "$WORK/latency.out" | field flag_median_ms)
LAT_ALL=$(grep flag_start_to_file "$WORK/latency.out" | field flag_start_to_file_median_ms)
LAT_ALL90=$(grep flag_start_to_file "$WORK/latency.out" | field flag_start_to_file_p90_ms)
LAT_V=$(verdict "$LAT_MED < 1000")

# ------------------------------------------------------------ 2. requests

note ""
note "## 2. etcd requests per completed revocation (counting proxy), $COUNT_USERS revocations"
"$PY" "$BENCH_DIR/etcd_count.py" --ports "$WORK/proxy.ports" --log "$WORK/proxy.log" \
	--ca "$E/ca.pem" --cert "$E/client.pem" --key "$E/client.key" \
	flag run follow-a follow-b sync -- "$M1" "$M2" "$M3" 2>"$WORK/proxy.err" &
PROXY_PID=$!
limit=$((SECONDS + 20))
while [ ! -e "$WORK/proxy.ports" ] && [ "$SECONDS" -lt "$limit" ]; do sleep 0.05; done
[ -e "$WORK/proxy.ports" ] || { cat "$WORK/proxy.err" >&2; die "the counting proxy did not start"; }
touch "$WORK/proxy.log"
port() { awk -v t="$1" '$1 == t { print $2 }' "$WORK/proxy.ports"; }
# the same hosts' state, each command through its own proxy port
mkdir -p "$WORK/ra" "$WORK/rb"
conf pa "http://127.0.0.1:$(port flag)"
conf pb "http://127.0.0.1:$(port run)"
conf pfa "http://127.0.0.1:$(port follow-a)"
conf pfb "http://127.0.0.1:$(port follow-b)"
conf pc "http://127.0.0.1:$(port sync)"
for h in pb pfb; do sed -i "s|^state_dir = .*|state_dir = $WORK/rb/state|; s|^host_name = .*|host_name = host-rb|" "$WORK/$h/conf"; done
for h in pa pfa; do sed -i "s|^state_dir = .*|state_dir = $WORK/ra/state|; s|^host_name = .*|host_name = host-ra|" "$WORK/$h/conf"; done
for u in $(users fc); do
	emu_ctl POST users "{\"Username\": \"$u\", \"Passkeys\": [
		{\"CredentialId\": \"${u}K1\", \"FriendlyCredentialName\": \"one\"},
		{\"CredentialId\": \"${u}K2\", \"FriendlyCredentialName\": \"two\"}]}" >/dev/null
	home=$(getent passwd "$u" | cut -d: -f6)
	mkdir -p "$home/.cache/cognito"
	emu_ctl POST tokens "{\"Username\": \"$u\"}" >"$home/.cache/cognito/tokens.json"
	chown -R "$u:$u" "$home/.cache"
	chmod 0700 "$home/.cache" "$home/.cache/cognito"
	chmod 0600 "$home/.cache/cognito/tokens.json"
done
follow pfa
follow pfb
cp "$WORK/proxy.log" "$WORK/proxy.setup.log"
: >"$WORK/phases"
for u in $(users fc); do
	l0=$(lines)
	pr pa -a -r bench "$u" >/dev/null || die "flag $u failed"
	limit=$((SECONDS + 30))
	while [ ! -e "$WORK/rb/state/pending/$u" ] && [ "$SECONDS" -lt "$limit" ]; do sleep 0.05; done
	[ -e "$WORK/rb/state/pending/$u" ] || die "$u never reached B"
	l1=$(lines)
	pr pb -x "$u" >"$WORK/x.out" 2>&1 || { cat "$WORK/x.out" >&2; die "-x $u on B failed"; }
	wait_gone "$WORK/ra/state/pending/$u" || die "A's copy of $u stayed after B's run"
	l2=$(lines)
	# A's --follow may still be writing history; the next flag's slice takes any straggler
	echo "$u $((l0 + 1)) $l1 $((l1 + 1)) $l2" >>"$WORK/phases"
done
deletes=$(emu_ctl GET requests | "$PY" -c 'import json,sys
print(sum(1 for r in json.load(sys.stdin)["Requests"] if r["Operation"] == "DeleteWebAuthnCredential"))')
note "# DeleteWebAuthnCredential requests: $deletes (for $COUNT_USERS users x 2 passkeys)"
: >"$WORK/per_rev"
while read -r u a0 a1 b0 b1; do
	"$PY" "$BENCH_DIR/fleet_probe.py" count "$WORK/proxy.log" "$a0" "$b1" >"$WORK/count.$u"
	total=$(awk '$1 == "total" { print $2 }' "$WORK/count.$u")
	cmd=$(awk '$1 == "flag" || $1 == "run" { n += $3 } END { print n + 0 }' "$WORK/count.$u")
	nowatch=$(awk '$1 != "total" && $2 != "watch" { n += $3 } END { print n + 0 }' "$WORK/count.$u")
	echo "$u $total $cmd $nowatch" >>"$WORK/per_rev"
done <"$WORK/phases"
first=$(head -1 "$WORK/phases" | cut -d' ' -f1)
note "# requests of the first revocation ($first), tag kind count:"
sed 's/^/#   /' "$WORK/count.$first"
note "# per revocation: user total commands-only total-without-watch-reopens"
sed 's/^/#   /' "$WORK/per_rev"
REQ_CMD=$(awk '{ print $3 }' "$WORK/per_rev" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
REQ_ALL=$(awk '{ print $2 }' "$WORK/per_rev" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
REQ_NW=$(awk '{ print $4 }' "$WORK/per_rev" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
REQ_V=$(verdict "$REQ_CMD <= 4")
# an idle --follow holds its watch open (re-opened every WATCH_SLICE, or when it breaks)
WATCH_RATE=$(awk '$2 == "follow-a" && $3 == "/v3/watch" { if (!n++) f = $1 } { l = $1 } END { printf "%d re-opens in %.1f s", n - 1, l - f }' "$WORK/proxy.log")
note "# host A's --follow: $WATCH_RATE"
# then both --follow idle for IDLE seconds: their requests, per minute and host
i0=$(($(lines) + 1))
sleep "$IDLE"
IDLE_REQ=$(tail -n +"$i0" "$WORK/proxy.log" | awk '$2 == "follow-a" || $2 == "follow-b" { n++ } END { print n + 0 }')
IDLE_RATE=$(awk "BEGIN { printf \"%.1f\", $IDLE_REQ / 2 * 60 / $IDLE }")
note "# both --follow idle for $IDLE s: $IDLE_REQ requests ($IDLE_RATE per minute and host)"
load "after requests"

# ------------------------------------------------------------ 3. bulk sync

note ""
note "## 3. --sync of $SYNC_USERS pending users from an empty state_dir"
# the earlier phases' keys go: exactly SYNC_USERS pending users in etcd
for p in $FOLLOW_PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
FOLLOW_PIDS=""
etcd_ctl del --prefix "${PREFIX}pending/" >/dev/null
users sy | head -1 >"$WORK/sy.first"
first=$(cat "$WORK/sy.first")
pr a -a -r bench "$first" >/dev/null || die "flag $first failed"
etcd_ctl get "${PREFIX}pending/$first" --print-value-only >"$WORK/template.json"
users sy | tail -n +2 >"$WORK/sy.rest"
"$PY" "$BENCH_DIR/fleet_probe.py" fill "$M1" "$E/ca.pem" "$E/client.pem" "$E/client.key" \
	"$PREFIX" "$WORK/template.json" "$first" "$WORK/sy.rest" >/dev/null || die "fill failed"
n=$(etcd_ctl get "${PREFIX}pending/sy" --prefix --keys-only | grep -c "^${PREFIX}pending/sy")
note "# etcd holds $n pending/sy* keys"
load "before sync"
t0=$(date +%s.%N)
pr c --sync >"$WORK/sync1.out" 2>"$WORK/sync1.err" || { tail "$WORK/sync1.err" >&2; die "--sync failed"; }
t1=$(date +%s.%N)
pr c --sync >"$WORK/sync2.out" 2>"$WORK/sync2.err" || { tail "$WORK/sync2.err" >&2; die "second --sync failed"; }
t2=$(date +%s.%N)
load "after sync"
SYNC1=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
SYNC2=$(awk "BEGIN { printf \"%.2f\", $t2 - $t1 }")
note "# first: $SYNC1 s: $(cat "$WORK/sync1.out")"
note "# again: $SYNC2 s: $(cat "$WORK/sync2.out")"
files=$(find "$WORK/c/state/pending" -name 'sy*' | wc -l)
note "# host C's pending/ holds $files sy* files"
# one key more than a range answer may hold (CPK_ETCD_MAX_KVS)
etcd_ctl put "${PREFIX}pending/zz-over-the-cap" x >/dev/null
if pr c --sync >"$WORK/sync4.out" 2>"$WORK/sync4.err"; then
	OVER="synced"
else
	OVER="refused: $(head -1 "$WORK/sync4.err" | cut -c1-90)"
fi
note "# --sync with $((SYNC_USERS + 1)) keys under pending/: $OVER"
etcd_ctl del "${PREFIX}pending/zz-over-the-cap" >/dev/null
# the same from another empty state_dir, through the counting proxy
l0=$(($(lines) + 1))
t0=$(date +%s.%N)
pr pc --sync >"$WORK/sync3.out" 2>"$WORK/sync3.err" || { tail "$WORK/sync3.err" >&2; die "proxied --sync failed"; }
t1=$(date +%s.%N)
"$PY" "$BENCH_DIR/fleet_probe.py" count "$WORK/proxy.log" "$l0" "$(lines)" >"$WORK/count.sync"
SYNC_REQ=$(awk '$1 == "total" { print $2 }' "$WORK/count.sync")
note "# through the proxy: $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s, requests: $(grep -v total "$WORK/count.sync" | tr '\n' ' ')"

# ------------------------------------------------------------ summary

note ""
for v in "$LAT_V" "$REQ_V"; do [ "$v" = PASS ] || MISSED=1; done
note "## Summary ($(($(date +%s) - T_START)) s)"
note ""
note "| figure | measured | goal | verdict |"
note "|---|---|---|---|"
note "| flag on A returned -> file on B (--follow), median / p90, $SAMPLES samples | $LAT_MED / $LAT_P90 ms | median < 1 s | $LAT_V |"
note "| flag command alone (A), median | $LAT_FLAG ms | - | - |"
note "| flag started -> file on B, median / p90 | $LAT_ALL / $LAT_ALL90 ms | - | - |"
note "| etcd requests per revocation, flag + run on B (median of $COUNT_USERS) | $REQ_CMD | <= 4 | $REQ_V |"
note "| the same with both hosts' --follow reactions (without / with watch re-opens) | $REQ_NW / $REQ_ALL | - | - |"
note "| one --follow's watch re-opens during the counted runs | $WATCH_RATE | - | - |"
note "| an idle --follow's etcd requests ($IDLE s, 2 hosts) | $IDLE_RATE per minute and host | - | - |"
note "| --sync of $SYNC_USERS users from empty | $SYNC1 s | - | - |"
note "| --sync again, nothing to change | $SYNC2 s | - | - |"
note "| etcd requests of that first --sync | $SYNC_REQ | - | - |"
note "| --sync with $((SYNC_USERS + 1)) keys under pending/ | $OVER | - | - |"
exit "$MISSED"
