#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Bad input: a clear message, the documented exit status (1), and the state
# untouched.  Also: loose or foreign state_dir, corrupt pending file,
# non-root callers, unreadable configuration.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

cli_user alice '[{"CredentialId": "k1"}]'
cli_token alice

# expect_usage DESCRIPTION MESSAGE-REGEX ARGS...: exit 1, the message on stderr
expect_usage() {
	local what=$1 msg=$2
	shift 2
	pr_out "$@"
	cli_rc "$what" 1
	cli_check "$what: says why" cli_err_has "$msg"
}

# --- before any state exists: nothing gets created by a refused command
expect_usage "unknown user" "user 'nosuchuser' does not exist" -a nosuchuser
cli_check "no state_dir created by a refused flag" test ! -e "$CLI_STATE"
# reading commands on a host where nothing was ever flagged: no state_dir yet
pr_out -S alice
cli_rc "-S without state_dir" 0
cli_check "-S without state_dir: none" cli_out_has '^alice none'
pr_out --history alice
cli_rc "--history without state_dir" 0
cli_check "no state_dir created by reading" test ! -e "$CLI_STATE"

pr -a -r "baseline" alice >/dev/null
snapshot() { (cd "$CLI_STATE" && find . -printf '%p %m %s\n' | sort && cat pending/* history/* 2>/dev/null) | md5sum; }
before=$(snapshot)

expect_usage "user ../etc" "invalid user name '../etc'" -a ../etc
expect_usage "user ../etc for -x" "invalid user name" -x ../etc
expect_usage "user ../etc for -S" "invalid user name" -S ../etc
expect_usage "user with a newline" "invalid user name 'al\\\\x0aice'" -a "$(printf 'al\nice')"
expect_usage "empty reason" "the reason must not be empty" -a -r "" alice
expect_usage "-a twice" "-a is given more than once" -a -a alice
expect_usage "-a and -n" "give one of -a" -a -n 'Yubi*' alice
expect_usage "-d for a name that is no user and has nothing pending" \
	"user 'nosuchuser' does not exist, and nothing is pending for them" -d nosuchuser
cli_check "-d nosuchuser creates no lock file" test ! -e "$CLI_STATE/lock/nosuchuser"
expect_usage "reason with a control byte" "printable" -a -r "$(printf 'a\tb')" alice
expect_usage "unknown long option" "unknown option '--bogus'" --bogus alice
expect_usage "unknown short option" "unknown option '-q'" -q alice
expect_usage "missing option argument" "needs an argument" -a alice -r
expect_usage "no user" "a user name is required" -a
expect_usage "two users" "exactly one user name" -a alice bob
expect_usage "no action" "what should be revoked" alice
expect_usage "nothing at all" "no action given"
expect_usage "two actions" "only one of" -x -d alice
expect_usage "two selectors" "give one of" -a -n 'x*' alice
expect_usage "selector with -x" "do not combine" -x -a alice
expect_usage "bad credential id" "not a credential id" -c 'a b' alice
expect_usage "empty name glob" "pattern must be" -n '' alice
expect_usage "bad relying party" "not a relying party id" --rp 'bad rp!' alice
expect_usage "-A with a user" "-A takes no user names" -S -A alice
expect_usage "-r with -x" "-r goes with" -x -r why alice
expect_usage "relative --config" "not an absolute path" --config etc/x.conf -S
pr_out --config /nonexistent/cpk.conf -a alice
cli_rc "missing configuration file" 1
cli_check "missing configuration: names the file" cli_err_has '/nonexistent/cpk.conf: cannot open'
printf 'state_dir = %s\nno_such_key = 1\n' "$CLI_STATE" >"$SANDBOX/bad.conf"
pr_out --config "$SANDBOX/bad.conf" -a alice
cli_rc "configuration with an unknown key" 1
cli_check "unknown key: names file and line" cli_err_has "bad.conf:2"
cli_eq "state untouched by all of the above" "$(snapshot)" "$before"

# --- help and version
pr_out -h
cli_rc "-h" 0
cli_check "-h prints the synopsis" cli_out_has '^Usage: passkey-revoke \[-a \| -c ID \.\.\. \| -n GLOB \| --rp RPID\] \[-r REASON\] USER'
pr_out -V
cli_rc "-V" 0
cli_check "-V prints the version" cli_out_has '^passkey-revoke \(pam_cognito_passkey\) [0-9]'

# --- non-root callers
as_alice() {
	RC=0
	setpriv --reuid=4001 --regid=4001 --clear-groups \
		"$CPK_PASSKEY_REVOKE" --config "$CLI_CONF" "$@" >"$SANDBOX/out" 2>"$SANDBOX/err" || RC=$?
	OUT=$(cat "$SANDBOX/out")
	ERR=$(cat "$SANDBOX/err")
}
for args in "-a alice" "-c k1 bob" "-d alice" "-x alice" "--run-pending" "-L alice" "-S -A"; do
	# shellcheck disable=SC2086
	as_alice $args
	cli_rc "non-root: $args" 1
	cli_check "non-root: $args: permission denied" cli_err_has 'permission denied'
done
as_alice -S bob
cli_rc "non-root: status of another user" 1
cli_check "non-root -S bob: permission denied" cli_err_has 'permission denied: only root'
# issue 16: a user's own status needs no privilege (state_dir/summary/alice)
as_alice -S
cli_rc "non-root: own status, from summary/alice" 0
cli_check "non-root -S: alice's own status" cli_out_has '^alice pending 1 request since '
chmod 0600 "$CLI_CONF"
as_alice -S
cli_rc "non-root: unreadable configuration" 1
cli_check "unreadable configuration: says so" cli_err_has "configuration: .*cpk.conf"
chmod 0644 "$CLI_CONF"
cli_eq "state untouched by non-root callers" "$(snapshot)" "$before"

# --- state_dir that is not ours alone
chmod 0755 "$CLI_STATE"
pr_out -x alice
cli_rc "state_dir 0755 refused" 1
cli_check "says the mode is too open" cli_err_has "mode 0755 is too open"
pr_out -a alice
cli_rc "flagging refused too" 1
# back to the mode the store made it (0711: summary/ needs the search bit)
chmod 0711 "$CLI_STATE"
chown 4001 "$CLI_STATE"
pr_out -x alice
cli_rc "state_dir owned by alice refused" 1
cli_check "says who owns it" cli_err_has "owned by uid 4001, must be owned by root"
chown 0 "$CLI_STATE"
cli_eq "alice's passkey untouched" "$(cli_count alice)" 1
cli_eq "state untouched" "$(snapshot)" "$before"

# --- a corrupt pending file is reported and kept in place, never dropped
printf '{"version": 1, "user": "alice", "requests": [' >"$CLI_STATE/pending/alice"
cli_log_mark
pr_out -x alice
cli_rc "corrupt pending file" 1
cli_check "audit: corrupt_state" cli_log_has 'event=revocation_failed user=alice error=corrupt_state detail=".*/pending/alice is corrupt'
cli_check "-x says corrupt_state" cli_out_has '^alice: not carried out: corrupt_state'
cli_check "kept in place (the fast path still sees it)" test -e "$CLI_STATE/pending/alice"
pr_out -S alice
cli_check "status says corrupt" cli_out_has '^alice corrupt kept=.*/pending/alice( |$)'
cli_eq "nothing deleted" "$(cli_count alice)" 1
pr_out --discard-corrupt alice
cli_rc "--discard-corrupt" 0
cli_check "discarded" test ! -e "$CLI_STATE/pending/alice"
rm -f "$CLI_STATE"/pending/.corrupt.alice.*

# --- a well-formed but empty pending file is removed (the fast path stays fast)
printf '{"version": 1, "user": "alice", "requests": []}\n' >"$CLI_STATE/pending/alice"
# -d takes --json like every action
pr -a -r "json cancel" alice >/dev/null
pr_out -d --json alice
cli_rc "-d --json" 0
cli_check "-d --json prints JSON" "$PYTHON3" -c '
import json, sys
d = json.loads(sys.argv[1])
assert d == {"user": "alice", "cancelled": 1}, d' "$OUT"
pr -a -r "baseline" alice >/dev/null
pr_out -x alice
cli_rc "empty pending list" 0
cli_check "empty pending file removed" test ! -e "$CLI_STATE/pending/alice"

cli_done
