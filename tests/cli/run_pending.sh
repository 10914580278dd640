#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# --run-pending: every flagged user, -j N workers at a time, --rate R capping
# the requests per second across all of them, a progress line only on a
# terminal, exit status over all users, --json.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

users="alice bob carol mallory"
setup() {
	for u in $users; do
		cli_user "$u" "[{\"CredentialId\": \"$u-1\"}, {\"CredentialId\": \"$u-2\"}, {\"CredentialId\": \"$u-3\"}]"
		cli_token "$u"
		pr -d "$u" >/dev/null
		pr -a -r "offboarding" "$u" >/dev/null
	done
	emu_ctl DELETE requests >/dev/null
}

pr_out --run-pending
cli_rc "nothing pending" 0
cli_check "says nothing pending" cli_out_has '^nothing pending$'

# --- four users, three workers, 10 requests a second across them
setup
pr_out --run-pending -j 3 --rate 10
cli_rc "--run-pending -j 3 --rate 10" 0
for u in $users; do
	cli_eq "$u: no passkey left" "$(cli_count "$u")" 0
	cli_check "$u: done line" cli_out_has "^$u: done: 3 deleted"
done
cli_check "no progress line without a terminal" bash -c "! grep -q \$'\\r' '$SANDBOX/err'"
emu_ctl GET requests >"$SANDBOX/requests.json"
# per user: GetUser (whose token it is), List, three Deletes
# The cap bounds when requests are sent; the emulator sees them later, by
# however long a loaded machine delays each, so the checks leave room for
# that delay and still catch a cap that does nothing (20 requests at once
# span well under a second).
cli_check "20 requests spread at <= 10/s over all workers" "$PYTHON3" -c '
import json, sys
times = sorted(r["Time"] for r in json.load(open(sys.argv[1]))["Requests"])
assert len(times) == 20, len(times)
span = times[-1] - times[0]
# GCRA: the n-th request starts no earlier than (n-1)/R after the first
assert span >= 1.4, "span %.3f" % span
busiest = max(sum(1 for t in times if a <= t < a + 1.0) for a in times)
assert busiest <= 15, "%d requests in one second" % busiest
print("span %.2f s, at most %d in a second" % (span, busiest), file=sys.stderr)' "$SANDBOX/requests.json"
# three workers, each keeping its one connection for the users it serves
cli_check "workers ran in parallel, one connection each" "$PYTHON3" -c '
import json, sys
conns = {r["Connection"] for r in json.load(open(sys.argv[1]))["Requests"]}
assert len(conns) == 3, conns' "$SANDBOX/requests.json"

# --- without --rate, -j 4: the users are served at once.  With 300 ms a
# request, one user takes at least 1.5 s; served one after the other, the
# emulator would see each user's requests as one block.
setup
emu_ctl POST latency '{"Milliseconds": 300}' >/dev/null
pr_out --run-pending -j 4
emu_ctl POST latency '{"Milliseconds": 0}' >/dev/null
cli_rc "--run-pending -j 4" 0
emu_ctl GET requests >"$SANDBOX/requests.json"
cli_check "four users served at once (their requests interleave)" "$PYTHON3" -c '
import json, sys
reqs = sorted(json.load(open(sys.argv[1]))["Requests"], key=lambda r: r["Time"])
conns = [r["Connection"] for r in reqs]
blocks = 1 + sum(1 for a, b in zip(conns, conns[1:]) if a != b)
assert len(set(conns)) == 4, set(conns)
assert blocks > 4, "one connection after the other: %d blocks" % blocks
print("%d requests in %d runs of one connection" % (len(conns), blocks), file=sys.stderr)' "$SANDBOX/requests.json"

# --- a progress line on a terminal (a private devpts instance gives us one)
setup
if mount -t devpts -o newinstance,ptmxmode=0666 cpk-cli-pts /dev/pts 2>/dev/null &&
	mount --bind /dev/pts/ptmx /dev/ptmx 2>/dev/null; then
	script -qec "'$CPK_PASSKEY_REVOKE' --config '$CLI_CONF' --run-pending -j 2" /dev/null \
		>"$SANDBOX/tty.out" 2>&1 || true
	cli_check "progress line on a terminal" grep -q '4/4 users, 4 done, 0 pending, 0 failed' "$SANDBOX/tty.out"
	cli_check "the progress line is rewritten in place" grep -q $'\r' "$SANDBOX/tty.out"
else
	cli_log "# no pseudo-terminal here: progress line on a terminal not checked"
	pr --run-pending >/dev/null
fi

# --- mixed outcomes: one user's token is refused -> exit 2, --json says who
setup
chmod 0644 "$SANDBOX/home/bob/.cache/cognito/tokens.json"
pr_out --run-pending --json
cli_rc "one user stays pending -> exit 2" 2
cli_check "--json names each user's status" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
st = {u["user"]: u["status"] for u in d["users"]}
assert st == {"alice": "done", "bob": "pending", "carol": "done", "mallory": "done"}, st
assert d["exit"] == 2
bob = [u for u in d["users"] if u["user"] == "bob"][0]
assert bob["last_error"] == "mode_too_open", bob' "$SANDBOX/out"
cli_eq "bob keeps his passkeys" "$(cli_count bob)" 3
pr_out -S -A
cli_check "status: bob pending" cli_out_has '^bob pending 1 request since .* last_error=mode_too_open attempts=1$'
cli_check "status: alice done" cli_out_has '^alice done '
chmod 0600 "$SANDBOX/home/bob/.cache/cognito/tokens.json"
pr_out --run-pending
cli_rc "bob's turn once his token is fixed" 0
cli_check "only bob was run" bash -c "[ \"\$(grep -c ': done' '$SANDBOX/out')\" = 1 ]"

# --- twelve users at -j 3: three workers, three connections (TLS
# handshakes), not twelve; --json reports both
cli_many_users bk 12 4300
for i in $(seq 1 12); do
	pr -a -r "bulk" "$(printf 'bk%02d' "$i")" >/dev/null
done
emu_ctl DELETE requests >/dev/null
pr_out --run-pending -j 3 --json
cli_rc "12 users at -j 3" 0
emu_ctl GET requests >"$SANDBOX/requests.json"
cli_check "the emulator saw 3 connections for 12 users" "$PYTHON3" -c '
import json, sys
reqs = json.load(open(sys.argv[1]))["Requests"]
conns = {r["Connection"] for r in reqs}
assert len(reqs) == 12 * 3, len(reqs)
assert len(conns) == 3, conns
print("%d requests on %d connections" % (len(reqs), len(conns)), file=sys.stderr)' "$SANDBOX/requests.json"
cli_check "--json: 3 workers, 3 connections, every user done" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["workers"] == 3 and d["connections"] == 3, (d["workers"], d["connections"])
assert len(d["users"]) == 12 and all(u["status"] == "done" for u in d["users"]), d["users"]' \
	"$SANDBOX/out"

# --- a worker killed on one user: that user stays pending (worker_killed),
# the others are served by the rest and by the worker started in its place
for i in $(seq 1 4); do
	u=$(printf 'bk%02d' "$i")
	emu_ctl POST users "{\"Username\": \"$u\", \"Passkeys\": [{\"CredentialId\": \"$u-2\"}]}" >/dev/null
	pr -a -r "bulk" "$u" >/dev/null
done
emu_ctl DELETE requests >/dev/null
emu_ctl POST latency '{"Milliseconds": 1500}' >/dev/null
"$CPK_PASSKEY_REVOKE" --config "$CLI_CONF" --run-pending -j 2 --json >"$SANDBOX/out" 2>"$SANDBOX/err" &
run_pid=$!
# the event: both workers have a request in flight at the emulator
for _ in $(seq 1 600); do
	n=$(emu_ctl GET requests | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)["Requests"]))')
	[ "$n" -ge 2 ] && break
	sleep 0.2
done
victim=$(pgrep -P "$run_pid" | head -1)
cli_check "a worker to kill" test -n "$victim"
kill -KILL "$victim"
RC=0
wait "$run_pid" || RC=$?
emu_ctl POST latency '{"Milliseconds": 0}' >/dev/null
cli_rc "a killed worker's user stays pending" 2
cli_check "one user worker_killed, three done, a worker started in its place" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
st = sorted((u["status"], u["last_error"]) for u in d["users"])
assert st == [("done", None)] * 3 + [("pending", "worker_killed")], st
assert d["workers"] == 3, d["workers"]' "$SANDBOX/out"

# --- a worker that outlives its user's deadline (stopped: it can neither
# finish nor die by itself) is killed by the parent once timeout + grace
# have passed: its user stays pending (worker_hung), nothing is lost
# (the emulator answers after a minute: the worker is busy for its whole
# 10 s deadline, time enough to find and stop it on a loaded machine)
cli_config "timeout = 10" "etcd_timeout = 1"
emu_ctl POST latency '{"Milliseconds": 60000}' >/dev/null
"$CPK_PASSKEY_REVOKE" --config "$CLI_CONF" --run-pending -j 1 --json >"$SANDBOX/out" 2>"$SANDBOX/err" &
run_pid=$!
victim=
for _ in $(seq 1 600); do
	victim=$(pgrep -P "$run_pid" | head -1)
	[ -n "$victim" ] && break
	sleep 0.1
done
cli_check "a worker to stop" test -n "$victim"
kill -STOP "$victim"
RC=0
wait "$run_pid" || RC=$?
emu_ctl POST latency '{"Milliseconds": 0}' >/dev/null
cli_config
cli_rc "a hung worker's user stays pending" 2
cli_check "the stopped worker was killed, its user pending with worker_hung" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
st = [(u["status"], u["last_error"]) for u in d["users"]]
assert st == [("pending", "worker_hung")], st' "$SANDBOX/out"
cli_check "no worker left behind" bash -c "! kill -0 $victim 2>/dev/null"

# --- options
pr_out --run-pending -j 0
cli_rc "-j 0" 1
pr_out --run-pending --rate nan
cli_rc "--rate nan" 1
pr_out -x -j 2 alice
cli_rc "-j without --run-pending" 1
pr_out --run-pending alice
cli_rc "--run-pending with a user" 1

cli_done
