#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/cli/own_status.sh: a user's own status (issue 16), as a real
# non-root user of the sandbox.  passkey-revoke is not set-uid: alice reads
# state_dir/summary/alice (hers, 0400, in root's 0711 directories) and
# nothing else; -S bob is refused; reading is not an audit event.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

# as USER ARGS...: passkey-revoke as USER (uid, gid, no supplementary groups)
as() {
	local user=$1 uid
	shift
	uid=$(id -u "$user")
	RC=0
	env -i PATH=/usr/bin:/bin HOME="/home/$user" \
		setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$CPK_PASSKEY_REVOKE" --config "$CLI_CONF" "$@" >"$SANDBOX/out" 2>"$SANDBOX/err" ||
		RC=$?
	OUT=$(cat "$SANDBOX/out")
	ERR=$(cat "$SANDBOX/err")
}

# as_sh USER COMMAND: a shell command as USER
as_sh() {
	local uid
	uid=$(id -u "$1")
	setpriv --reuid="$uid" --regid="$uid" --clear-groups sh -c "$2"
}

chmod 0755 "$SANDBOX"
cli_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone\u001b[2J"}]'
cli_token alice
cli_user bob '[{"FriendlyCredentialName": "bob-secret-key"}]'

# alice: nothing recorded yet
as alice -S
cli_rc "alice -S before anything" 0
cli_check "alice -S: none" cli_out_has '^alice none$'

pr_out -a -r "lost laptop" alice
cli_rc "flag alice" 0
pr_out -a -r "bob-private-reason" bob
cli_rc "flag bob" 0
pr_out -x alice
cli_rc "-x alice" 0

# --- the files and their modes
S=$CLI_STATE/summary
cli_check "state_dir 0711 root" test "$(stat -c %a:%u "$CLI_STATE")" = 711:0
cli_check "summary/ 0711 root" test "$(stat -c %a:%u "$S")" = 711:0
cli_check "pending/ history/ lock/ stay 0700" \
	test "$(stat -c %a "$CLI_STATE/pending" "$CLI_STATE/history" "$CLI_STATE/lock" | sort -u)" = 700
cli_check "summary/alice is alice's, 0400" test "$(stat -c %a:%U "$S/alice")" = 400:alice
cli_check "summary/bob is bob's, 0400" test "$(stat -c %a:%U "$S/bob")" = 400:bob
cli_check "no token in the summary" bash -c "! grep -Eq 'eyJ|token' '$S/alice'"
cli_check "alice's summary holds nothing of bob" bash -c "! grep -q bob '$S/alice'"

# --- what alice can read under state_dir: her summary, nothing else
readable=$(find "$CLI_STATE" -type f | while read -r f; do
	as_sh alice "cat '$f' >/dev/null 2>&1" && echo "$f"
done)
cli_eq "files under state_dir alice can read" "$readable" "$S/alice"
listable=$(find "$CLI_STATE" -type d | while read -r d; do
	as_sh alice "ls '$d' >/dev/null 2>&1" && echo "$d"
done)
cli_eq "directories under state_dir alice can list" "$listable" ""
if as_sh alice "rm -f '$S/alice' || mv '$S/alice' '$S/x'" 2>/dev/null; then
	cli_fail "alice removed or renamed her summary"
else
	cli_pass "alice can neither remove nor rename her summary"
fi
cli_check "the summary is still there" test -f "$S/alice"

# --- alice's -S: status and history, text
lines_before=$(cli_log_count 'passkey-revoke')
as alice -S
cli_rc "alice -S" 0
cli_check "status line: done, 2 deleted" cli_out_has '^alice done [0-9T:-]+Z deleted=2 absent=0 failed=0$'
cli_check "recent history follows" cli_out_has '^recent history:$'
cli_check "history: what was revoked" cli_out_has 'event=deleted credential=[^ ]+ name="YubiKey 5C"'
cli_check "history: why" cli_out_has 'event=requested .*reason="lost laptop"'
cli_check "history: a name with an escape, shown escaped" cli_out_has 'name="iPhone\\x1b\[2J"'
cli_check "history: the id vocabulary (revocation=, cognito_request=)" \
	bash -c "grep -Eq 'cognito_request=[0-9a-f-]{36}' '$SANDBOX/out' && grep -Eq 'revocation=r-' '$SANDBOX/out'"
cli_check "which host" cli_out_has '^\(events without host= happened on '
cli_check "no escape byte reaches the terminal" bash -c "! grep -q $'\033' '$SANDBOX/out'"
cli_check "nothing of bob" bash -c "! grep -q bob '$SANDBOX/out'"
as alice -S alice
cli_rc "alice -S alice" 0
cli_check "-S alice: the same status" cli_out_has '^alice done '

# --- others are refused
as alice -S bob
cli_rc "alice -S bob" 1
cli_check "-S bob: a clear refusal" grep -q 'permission denied: only root may see the status of other users' "$SANDBOX/err"
cli_check "-S bob prints nothing of bob" test ! -s "$SANDBOX/out"
as alice -S alice bob
cli_rc "alice -S alice bob" 1
as alice -S -A
cli_rc "alice -S -A" 1
as alice --history bob
cli_rc "alice --history bob" 1
as mallory -S alice
cli_rc "mallory -S alice" 1

# --- --json
as alice -S --json
cli_rc "alice -S --json" 0
cli_check "--json: alice's status and history" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d) == 1 and d[0]["user"] == "alice" and d[0]["state"] == "done", d
assert d[0]["deleted"] == 2 and d[0]["host"], d
h = d[0]["history"]
assert [e for e in h if e["event"] == "deleted" and len(e["cognito_request"]) > 10], h
assert all("request" not in e for e in h), h
assert [e for e in h if e["event"] == "requested" and e["revocation"].startswith("r-")], h
assert "bob" not in open(sys.argv[1]).read()' "$SANDBOX/out"
as alice --history --json alice
cli_rc "alice --history --json (own, from the summary)" 0
cli_check "--history --json: a list of events" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and any(e["event"] == "completed" for e in d), d' "$SANDBOX/out"
cli_eq "reading one's own status is not an audit event" "$(cli_log_count 'passkey-revoke')" "$lines_before"

# --- the summary follows every change, whoever made it
pr_out -n "iPhone*" -r "second flag" alice
cli_rc "flag alice again" 0
as alice -S
cli_check "alice sees her new pending request" cli_out_has '^alice pending 1 request since '
pr_out -d -r "changed my mind" alice
cli_rc "cancel alice" 0
as alice -S
cli_check "alice sees the cancellation" cli_out_has '^alice cancelled '
as alice -S --json
cli_check "--json: cancelled, the reason in the history" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))[0]
assert d["state"] == "cancelled" and d["history"][-1]["reason"] == "changed my mind", d' "$SANDBOX/out"

# --- bob, pending, sees his own through his summary
as bob -S
cli_rc "bob -S" 0
cli_check "bob pending" cli_out_has '^bob pending 1 request since '

# --- the reader trusts only root's directories and its own file
chown bob "$S/alice" && chmod 0444 "$S/alice"
as alice -S
cli_rc "a summary not owned by alice" 1
cli_check "refused, named" grep -q 'not your summary' "$SANDBOX/err"
chown alice "$S/alice" && chmod 0400 "$S/alice"
chmod 0733 "$S"
as alice -S
cli_rc "summary/ writable by others" 1
cli_check "refused: not root's alone" grep -q "not root's alone" "$SANDBOX/err"
chmod 0711 "$S"

cli_done
