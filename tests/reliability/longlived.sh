#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# A long-lived PAM host: one process (pam_loop.c) runs pam_start /
# pam_open_session / pam_close_session / pam_end cycles with the module,
# as sshd does for months:
#   phase idle:    nothing pending (the fast path);
#   phase pending: alice has a pending revocation, a valid token cache,
#                  and the service is unreachable (the emulator's port,
#                  closed), so every cycle starts the real helper, which
#                  defers and exits 2.
# Descriptors (/proc/self/fd) and resident memory (/proc/self/statm) are
# measured after the first 100 cycles (allocator, libpam and loader
# warm-up) and at the end: descriptors must be equal, memory may grow by
# at most REL_RSS_SLACK_KB (a leak of 16 bytes a cycle would pass it over
# 8,000 cycles).  No child may remain (zombie or running), the host's
# SIGCHLD handler must be untouched and never called, and every pending
# cycle must have run the helper (one deferral in the history each).
#
# Cycles: REL_IDLE_CYCLES + REL_PENDING_CYCLES, default 10,000 + 2,000 (a
# pending cycle forks the helper, ~10x the cost of an idle one).  Under
# the sanitizers: 1,000 + 200 and no memory bound (ASan's quarantine holds
# freed memory by design); descriptors, children and deferrals are still
# checked.
. "$(dirname "$0")/lib.sh"
rel_init "$0" "$@"
e2e_need_engine
e2e_emulator

if [ "$REL_SAN" = yes ]; then
	: "${REL_IDLE_CYCLES:=1000}" "${REL_PENDING_CYCLES:=200}"
else
	: "${REL_IDLE_CYCLES:=10000}" "${REL_PENDING_CYCLES:=2000}"
fi
: "${REL_RSS_SLACK_KB:=128}"
WARMUP=100
rel_service host

field() {	# FILE KEY NAME: the value of NAME= on the line starting with KEY
	awk -v key="$2" -v name="$3" '$1 == key { for (i = 2; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == name) print kv[2] } }' "$1"
}

# check_host PHASE CYCLES OUT: the measurements of one pam_loop run.
check_host() {
	local phase=$1 cycles=$2 out=$3 fw fe rw re vw ve
	fw=$(field "$out" fds warm) fe=$(field "$out" fds end)
	rw=$(field "$out" rss_kb warm) re=$(field "$out" rss_kb end)
	vw=$(field "$out" vm_kb warm) ve=$(field "$out" vm_kb end)
	rel_figure "longlived_$phase" "cycles=$cycles fds_warm=$fw fds_end=$fe rss_kb_warm=$rw" \
		"rss_kb_end=$re vm_kb_warm=$vw vm_kb_end=$ve elapsed_ms=$(awk '$1 == "elapsed_ms" { print $2 }' "$out")"
	e2e_check "$phase: $cycles cycles ran" grep -qx "cycles $cycles" "$out"
	e2e_check "$phase: every session opened ($cycles x PAM_SUCCESS)" \
		grep -qx "result open_session PAM_SUCCESS $cycles" "$out"
	e2e_check "$phase: every session closed" grep -qx "result close_session PAM_SUCCESS $cycles" "$out"
	e2e_check "$phase: descriptors $fw after warm-up, $fe at the end" \
		bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$fw" "$fe"
	if [ "$REL_SAN" = yes ]; then
		e2e_log "# $phase: memory $rw -> $re KiB (not bounded under ASan)"
	else
		e2e_check "$phase: resident memory $rw -> $re KiB (slack $REL_RSS_SLACK_KB)" \
			bash -c '[ -n "$1" ] && [ -n "$2" ] && [ "$2" -le $(($1 + $3)) ]' _ \
			"$rw" "$re" "$REL_RSS_SLACK_KB"
	fi
	e2e_check "$phase: no child left (zombie or running)" \
		grep -qx 'children zombie=0 other=0 reap=none' "$out"
	e2e_check "$phase: host SIGCHLD handler kept, never called" \
		grep -qx 'sigchld handler=kept calls=0' "$out"
}

# ---- phase idle: nothing pending
requests_before=$(e2e_requests)
"$CPK_PAM_LOOP" -d "$E2E_PAMD" -n "$REL_IDLE_CYCLES" -w $WARMUP host alice >"$SANDBOX/idle.out"
sed 's/^/    idle: /' "$SANDBOX/idle.out" >&2
check_host idle "$REL_IDLE_CYCLES" "$SANDBOX/idle.out"
e2e_check "idle: no request reached the service" [ "$(e2e_requests)" = "$requests_before" ]
e2e_check "idle: no helper ran (no history)" [ ! -e "$E2E_STATE/history/alice" ]

# ---- phase pending: the service is unreachable
e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}]'
e2e_token alice
rel_flag alice
emu_stop || true	# its port is now closed: connection refused
e2e_config "timeout = 3" "connect_timeout = 1" "max_attempts = 1"
"$CPK_PAM_LOOP" -d "$E2E_PAMD" -n "$REL_PENDING_CYCLES" -w $WARMUP host alice >"$SANDBOX/pending.out"
sed 's/^/    pending: /' "$SANDBOX/pending.out" >&2
check_host pending "$REL_PENDING_CYCLES" "$SANDBOX/pending.out"
e2e_check "pending: the revocation is still pending" [ -f "$E2E_STATE/pending/alice" ]
deferred=$(rel_history_count alice deferred)
rel_figure longlived_pending_deferrals "$deferred"
e2e_check "pending: the helper ran and deferred in every cycle ($deferred)" \
	[ "$deferred" = "$REL_PENDING_CYCLES" ]
attempts=$("${PYTHON3:-python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"][0]["attempts"])' \
	"$E2E_STATE/pending/alice")
e2e_check "pending: the request counts $attempts attempts" [ "$attempts" = "$REL_PENDING_CYCLES" ]
rel_figure longlived cycles=$((REL_IDLE_CYCLES + REL_PENDING_CYCLES)) idle=$REL_IDLE_CYCLES \
	pending=$REL_PENDING_CYCLES
e2e_done
