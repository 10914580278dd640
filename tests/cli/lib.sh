# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/cli/lib.sh: harness for the passkey-revoke tests against the emulator.
# Sourced by every tests/cli/*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   cli_init "$0" "$@"     re-runs the test as root in a private mount namespace
#                          (tests/sandbox.sh; SKIP 77 otherwise), then starts a
#                          syslog sink on /dev/log and the emulator, and writes
#                          $CLI_CONF pointing at both
#   ... pr ARGS / cli_check / cli_log_has ...
#   cli_done               summary; exit 1 if a check failed
#
# Syslog lands in $CLI_SYSLOG through tests/nslib.sh (ns_syslog_start).
#
# Environment from tests/cli/Makefile.am: CPK_PASSKEY_REVOKE CPK_SANDBOX_SH
# CPK_EMULATOR_DIR CLI_BUILDDIR PYTHON3.

CLI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../nslib.sh
. "$CLI_DIR/../nslib.sh"
# shellcheck source=../harness.sh
. "$CLI_DIR/../harness.sh"
: "${PYTHON3:=python3}"

cli_log() {
	printf '%s\n' "$*" >&2
}

cli_skip() {
	cli_log "SKIP: $*"
	exit 77
}

cli_fatal() {
	cli_log "FATAL: $*"
	exit 99
}

cli_init() {
	local script=$1 name work
	shift
	name=$(basename "$script" .sh)
	for var in CPK_PASSKEY_REVOKE CPK_SANDBOX_SH CPK_EMULATOR_DIR CLI_BUILDDIR; do
		[ -n "${!var:-}" ] || cli_fatal "$var is not set (run through make check)"
	done
	if [ -z "${CPK_IN_SANDBOX:-}" ]; then
		[ "$(id -u)" = 0 ] || cli_skip "passkey-revoke tests need root (private mount namespace)"
		work="$CLI_BUILDDIR/work-$name"
		rm -rf "$work"
		mkdir -p "$work"
		exec bash "$CPK_SANDBOX_SH" "$work" bash "$script" "$@"
	fi
	set -u
	CLI_NAME=$name
	CLI_SYSLOG="$SANDBOX/syslog"
	CLI_CONF="$SANDBOX/cpk.conf"
	CLI_STATE="$SANDBOX/state"
	trap cli_cleanup EXIT
	ns_syslog_start "$CLI_SYSLOG" || cli_fatal "syslog sink did not start"
	EMU_PYTHON=$PYTHON3
	# shellcheck source=../emulator/testenv.sh
	. "$CPK_EMULATOR_DIR/testenv.sh"
	emu_start "$SANDBOX/emu" || {
		local rc=$?
		[ "$rc" -ne 77 ] || cli_skip "the emulator cannot run here"
		cli_fatal "the emulator did not start"
	}
	cli_config
}

cli_cleanup() {
	local rc=$?
	ns_syslog_stop
	if [ -n "${EMU_PID:-}" ]; then
		emu_stop || true
	fi
	return "$rc"
}

# cli_config [key = value ...]: $CLI_CONF pointing at the sandbox and the emulator.
cli_config() {
	{
		echo "# written by tests/cli/lib.sh"
		echo "state_dir = $CLI_STATE"
		echo "endpoint_url = $EMU_URL"
		echo "ca_file = $EMU_CA"
		for line in "$@"; do
			echo "$line"
		done
	} >"$CLI_CONF"
	chmod 0644 "$CLI_CONF"
}

# pr ARGS...: passkey-revoke with our configuration.
pr() {
	"$CPK_PASSKEY_REVOKE" --config "$CLI_CONF" "$@"
}

# pr_out ARGS...: run it; output in $OUT (stdout) and $ERR (stderr), status in $RC.
pr_out() {
	RC=0
	pr "$@" >"$SANDBOX/out" 2>"$SANDBOX/err" || RC=$?
	OUT=$(cat "$SANDBOX/out")
	ERR=$(cat "$SANDBOX/err")
}

# ------------------------------------------------------------ the emulator

# cli_user USER PASSKEY-JSON-LIST: USER in the emulator with these passkeys.
cli_user() {
	emu_ctl POST users "{\"Username\": \"$1\", \"Passkeys\": ${2:-[]}}" >/dev/null
}

# cli_user_count USER N: USER with N generated passkeys.
cli_user_count() {
	emu_ctl POST users "{\"Username\": \"$1\", \"PasskeyCount\": $2}" >/dev/null
}

# cli_token USER [JSON-FIELDS]: mint tokens and write them, as the
# AuthenticationResult, to USER's token cache (USER's, 0600).
cli_token() {
	local user=$1 extra=${2:-} home dir
	home=$(getent passwd "$user" | cut -d: -f6)
	dir="$home/.cache/cognito"
	mkdir -p "$dir"
	emu_ctl POST tokens "{\"Username\": \"$user\"${extra:+, $extra}}" >"$dir/tokens.json"
	chown -R "$user:$user" "$home/.cache"
	chmod 0700 "$home/.cache" "$dir"
	chmod 0600 "$dir/tokens.json"
}

# cli_many_users PREFIX N UIDBASE: N system users PREFIX01.. (uid UIDBASE+i),
# each in the emulator with one passkey and a token cache, through one
# emulator client (a python start a user costs minutes on a loaded machine).
cli_many_users() {
	local prefix=$1 n=$2 base=$3 i u
	for i in $(seq 1 "$n"); do
		u=$(printf '%s%02d' "$prefix" "$i")
		echo "$u:x:$((base + i)):$((base + i)):bulk test:$SANDBOX/home/$u:/bin/sh" >>/etc/passwd
		echo "$u:x:$((base + i)):" >>/etc/group
	done
	"$PYTHON3" - "$SANDBOX/home" "$prefix" "$n" "$base" <<'PY'
import http.client, json, os, ssl, sys
from urllib.parse import urlsplit
u = urlsplit(os.environ["EMU_URL"])
conn = http.client.HTTPSConnection(u.hostname, u.port,
                                   context=ssl.create_default_context(cafile=os.environ["EMU_CA"]))
def call(path, body):
    conn.request("POST", "/_emulator/" + path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200, (path, r.status, data)
    return data
home_root, prefix, n, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(1, n + 1):
    name = "%s%02d" % (prefix, i)
    call("users", {"Username": name, "Passkeys": [{"CredentialId": name + "-1"}]})
    tokens = call("tokens", {"Username": name})
    uid = gid = base + i
    home = os.path.join(home_root, name)
    d = os.path.join(home, ".cache", "cognito")
    os.makedirs(d, mode=0o700, exist_ok=True)
    for p in (home, os.path.join(home, ".cache"), d):
        os.chown(p, uid, gid)
        os.chmod(p, 0o700)
    with open(os.path.join(d, "tokens.json"), "wb") as f:
        f.write(tokens)
        os.fchown(f.fileno(), uid, gid)
        os.fchmod(f.fileno(), 0o600)
PY
}

# cli_ids USER: USER's credential ids in the emulator, one a line.
cli_ids() {
	emu_ctl GET "users/$1" | "$PYTHON3" -c \
		'import json,sys; [print(p["CredentialId"]) for p in json.load(sys.stdin)["Passkeys"]]'
}

cli_count() {
	cli_ids "$1" | wc -l | tr -d ' '
}

# cli_deletes [ID]: DeleteWebAuthnCredential calls the emulator answered with
# success, in total or for one credential id.
cli_deletes() {
	emu_ctl GET requests | "$PYTHON3" -c '
import json, sys
want = sys.argv[1] if len(sys.argv) > 1 else None
n = 0
for r in json.load(sys.stdin)["Requests"]:
    if r.get("Operation") != "DeleteWebAuthnCredential" or r.get("Status") != 200:
        continue
    if want is None or (r.get("Input") or {}).get("CredentialId") == want:
        n += 1
print(n)' "$@"
}

# cli_calls OPERATION: how many times the emulator saw OPERATION.
cli_calls() {
	emu_ctl GET requests | "$PYTHON3" -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin)["Requests"] if r.get("Operation") == sys.argv[1]))' "$1"
}

cli_fault() {
	emu_ctl POST faults "{\"Operation\": \"$1\", \"Faults\": $2}" >/dev/null
}

# ------------------------------------------------------------------ state

cli_history() {
	cat "$CLI_STATE/history/$1" 2>/dev/null || true
}

# cli_history_count USER EVENT: history events of that kind.
cli_history_count() {
	cli_history "$1" | "$PYTHON3" -c '
import json, sys
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l).get("event") == sys.argv[1]))' "$2"
}

# cli_pending_valid USER: the pending file is absent, or parses as ours.
cli_pending_valid() {
	[ ! -e "$CLI_STATE/pending/$1" ] || "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and isinstance(d["requests"], list)' "$CLI_STATE/pending/$1"
}

# ------------------------------------------------------------------ checks

cli_pass() { t_pass "$@"; }
cli_fail() { t_fail "$@"; }
# cli_check DESCRIPTION COMMAND...
cli_check() { t_check "$@"; }

# cli_eq DESCRIPTION GOT WANT
cli_eq() {
	if [ "$2" = "$3" ]; then
		cli_pass "$1"
	else
		cli_fail "$1: got '$2', want '$3'"
	fi
}

# cli_rc DESCRIPTION WANT: the last pr_out exited WANT.
cli_rc() {
	if [ "$RC" = "$2" ]; then
		cli_pass "$1 (exit $RC)"
	else
		cli_fail "$1: exit $RC, want $2"
		printf '    stdout: %s\n    stderr: %s\n' "$OUT" "$ERR" >&2
	fi
}

cli_out_has() {
	grep -Eq -- "$1" "$SANDBOX/out"
}
cli_err_has() {
	grep -Eq -- "$1" "$SANDBOX/err"
}

# cli_log_has REGEX [SECONDS]: a captured syslog line matches (the sink is async).
cli_log_has() {
	ns_syslog_wait "$CLI_SYSLOG" "$@"
}

cli_log_count() {
	ns_syslog_sync "$CLI_SYSLOG" >&2 || true
	grep -Ec -- "$1" "$CLI_SYSLOG" || true
}

# cli_log_mark: forget the lines so far.
cli_log_mark() {
	ns_syslog_sync "$CLI_SYSLOG" || true
	: >"$CLI_SYSLOG"
}

cli_done() { t_done "$CLI_NAME" "$CLI_SYSLOG"; }
