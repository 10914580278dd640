#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The AWS "standard" retry rules the client keeps: a server's Retry-After
# or x-amz-retry-after is waited for (never past the run's deadline), and
# one retry quota (500 tokens, 5 a retry) is shared by every worker of a
# --run-pending, so that a throttled run backs off instead of multiplying
# the load.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

# request_times OPERATION: the emulator's arrival times of OPERATION, one a line.
request_times() {
	emu_ctl GET requests | "$PYTHON3" -c '
import json, sys
for r in json.load(sys.stdin)["Requests"]:
    if r.get("Operation") == sys.argv[1]:
        print(r["Time"])' "$1"
}

# gap_at_least OPERATION SECONDS: its first two requests lie SECONDS apart
# or more (a lower bound: a loaded machine only makes the gap longer).
gap_at_least() {
	request_times "$1" | "$PYTHON3" -c '
import sys
t = [float(x) for x in sys.stdin]
assert len(t) >= 2, "%d requests" % len(t)
print("gap %.3f s" % (t[1] - t[0]), file=sys.stderr)
assert t[1] - t[0] >= float(sys.argv[1])' "$2"
}

flag_alice() {
	pr -d alice >/dev/null
	cli_user alice '[{"CredentialId": "k1"}]'
	cli_token alice
	pr -a -r "retry test" alice >/dev/null
	emu_ctl DELETE requests >/dev/null
}

cli_config "max_attempts = 3" "timeout = 30"

# --- Retry-After in seconds: waited for, then the retry succeeds
flag_alice
cli_fault GetUser '["retryafter:2"]'
pr_out -x alice
cli_rc "Retry-After: 2, then success -> done" 0
cli_check "the retry came >= 2 s after the throttled request" gap_at_least GetUser 2

# --- Retry-After as an HTTP date
flag_alice
cli_fault GetUser '["retryafter:date:2"]'
pr_out -x alice
cli_rc "Retry-After: <date 2 s ahead> -> done" 0
# an HTTP date has whole seconds: 2 s ahead is at least 1 s ahead
cli_check "the retry waited for the date" gap_at_least GetUser 1

# --- x-amz-retry-after in milliseconds
flag_alice
cli_fault GetUser '["amzretryafter:1500"]'
pr_out -x alice
cli_rc "x-amz-retry-after: 1500 -> done" 0
cli_check "the retry came >= 1.5 s later" gap_at_least GetUser 1.5

# --- a hint beyond the deadline is not waited for: pending at once, the
# server's own error kept
cli_config "max_attempts = 3" "timeout = 5"
flag_alice
cli_fault GetUser '["retryafter:3600"]'
pr_out -x alice
cli_rc "Retry-After beyond the deadline -> pending" 2
cli_eq "no retry was sent" "$(cli_calls GetUser)" 1
cli_check "deferred as throttled" cli_log_has \
	'event=revocation_deferred user=alice error=TooManyRequestsException'
cli_check "still pending" test -e "$CLI_STATE/pending/alice"

# --- the shared quota: 30 users, every request answered InternalErrorException.
# Without a quota each user would be tried max_attempts = 6 times (180
# requests); the quota pays for 500 / 5 = 100 retries across all workers.
pr -d alice >/dev/null
users=()
for i in $(seq 1 30); do
	users+=("$(printf 'qu%02d' "$i")")
done
cli_many_users qu 30 4100
cli_config "max_attempts = 6" "timeout = 60"
for u in "${users[@]}"; do
	pr -a -r "quota test" "$u" >/dev/null
done
emu_ctl DELETE requests >/dev/null
faults=$("$PYTHON3" -c 'import json; print(json.dumps(["internal"] * 1000))')
cli_fault '*' "$faults"
pr_out --run-pending -j 8
cli_rc "every user throttled -> pending" 2
sent=$(emu_ctl GET requests | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)["Requests"]))')
cli_log "# $sent requests for ${#users[@]} users"
cli_check "at most users + 100 requests ($sent)" test "$sent" -le $((${#users[@]} + 100))
cli_check "more than one a user: the quota paid for retries ($sent)" test "$sent" -gt "${#users[@]}"
left=0
for u in "${users[@]}"; do
	[ -e "$CLI_STATE/pending/$u" ] && left=$((left + 1))
done
cli_eq "every user still pending" "$left" "${#users[@]}"
cli_check "the quota's end is named" cli_log_has 'error=retry_quota_exhausted'
emu_ctl DELETE faults >/dev/null

# --- the service is well again: a fresh run has a fresh quota, all done
pr_out --run-pending -j 8
cli_rc "recovered -> done" 0
left=0
for u in "${users[@]}"; do
	[ -e "$CLI_STATE/pending/$u" ] && left=$((left + 1))
done
cli_eq "nothing pending" "$left" 0

cli_done
