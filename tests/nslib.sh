# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/nslib.sh: what the harnesses (tests/e2e/lib.sh, tests/cli/lib.sh)
# do inside the private mount namespace of tests/sandbox.sh.  Sourced.
#
#   ns_shadow_dir DIR [SKIP]   new entries in DIR stay in this namespace
#   ns_copy_dir DIR            the same with copies (for a tool that rewrites)
#   ns_syslog_start LOGFILE    a /dev/log whose every line lands in LOGFILE
#   ns_syslog_wait LOGFILE REGEX [SECONDS]
#   ns_syslog_stop
#
# Syslog: glibc's syslog(3) always sends to /dev/log.  /dev is shadowed by a
# tmpfs that keeps every original entry (bind mounts) except log, and
# syslog_sink.py binds a datagram socket there.  (On a host with a /dev/log,
# a plain bind mount of a socket file over it would do; here there may be
# none to bind over.)

NS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# A tmpfs over DIR, with every original entry (but SKIP) bind-mounted back.
# Those entries ARE the originals: a write into one of them goes through.
# The originals are reached through a descriptor opened before the tmpfs
# hides them (DIR may hold $SANDBOX itself, as under make distcheck).
ns_shadow_dir() {
	local dir=$1 skip=${2:-} fd src name names
	exec {fd}<"$dir"
	src="/proc/$$/fd/$fd"
	# the names first: once /dev is covered, not even /dev/fd exists
	mapfile -d '' names < <(find "$src/" -mindepth 1 -maxdepth 1 -printf '%f\0')
	mount -t tmpfs -o mode=0755 cpk-ns "$dir"
	for name in "${names[@]}"; do
		[ "$name" != "$skip" ] || continue
		if [ -L "$src/$name" ]; then
			cp -P "$src/$name" "$dir/$name"
		elif [ -d "$src/$name" ]; then
			mkdir "$dir/$name"
			mount --no-canonicalize --rbind "$src/$name" "$dir/$name"
		else
			: >"$dir/$name"
			mount --no-canonicalize --bind "$src/$name" "$dir/$name"
		fi
	done
	exec {fd}<&-
}

# Copies of the entries: nothing done to DIR can reach the original (for
# small directories a tool rewrites).
ns_copy_dir() {
	local dir=$1 fd
	exec {fd}<"$dir"
	mount -t tmpfs -o mode=0755 cpk-ns "$dir"
	cp -a "/proc/$$/fd/$fd/." "$dir/"
	exec {fd}<&-
}

# Returns 1 when the sink did not come up within 5 s.
ns_syslog_start() {
	local log=$1 i=0
	ns_shadow_dir /dev log
	: >"$log"
	"${PYTHON3:-python3}" "$NS_LIB_DIR/syslog_sink.py" /dev/log "$log" &
	NS_SYSLOG_PID=$!
	while [ ! -S /dev/log ] && [ "$i" -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -S /dev/log ]
}

# ns_syslog_wait LOGFILE REGEX [SECONDS]: until a line matches (the sink is
# asynchronous); 1 when none did within SECONDS (default 120: a guard
# against a hang, not a window; a line that comes returns at once).
ns_syslog_wait() {
	local log=$1 pattern=$2 limit=$((${3:-120} * 20)) i=0
	while ! grep -Eq -- "$pattern" "$log"; do
		[ "$i" -lt "$limit" ] || return 1
		sleep 0.05
		i=$((i + 1))
	done
}

# ns_syslog_sync LOGFILE: until every line sent before now has reached
# LOGFILE.  /dev/log is a datagram socket read by one sink in order, so a
# marker sent now arrives after them all.
NS_SYNC_SEQ=0
ns_syslog_sync() {
	local mark
	NS_SYNC_SEQ=$((NS_SYNC_SEQ + 1))
	mark="cpk-sync-$$-$NS_SYNC_SEQ"
	"${PYTHON3:-python3}" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.sendto(("<13>"+sys.argv[1]).encode(),"/dev/log")' "$mark"
	ns_syslog_wait "$1" "$mark"
}

ns_syslog_stop() {
	if [ -n "${NS_SYSLOG_PID:-}" ]; then
		kill "$NS_SYSLOG_PID" 2>/dev/null || true
		wait "$NS_SYSLOG_PID" 2>/dev/null || true
		NS_SYSLOG_PID=
	fi
}
