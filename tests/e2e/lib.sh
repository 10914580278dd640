# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/e2e/lib.sh: harness for the end-to-end tests of pam_cognito_passkey
# through real PAM stacks.  Sourced by every tests/e2e/*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   e2e_init "$0" "$@"        re-runs the test as root in a private mount
#                             namespace (tests/sandbox.sh); SKIP (77) otherwise
#   ... e2e_service / e2e_drive / e2e_expect ... checks ...
#   e2e_done                  summary; exit 1 if a check failed
#
# Inside the namespace (doc/DESIGN.md, "Testing notes"):
#   - the test users alice bob carol mallory exist for every process;
#   - the helper the module runs is the compiled-in path ($CPK_HELPER_PATH),
#     with the built helper (or the stub) bind-mounted over it; when that
#     directory does not exist, its nearest existing ancestor is shadowed by
#     a tmpfs that keeps every original entry (bind mounts), so nothing
#     outside the namespace changes;
#   - /dev is shadowed the same way and /dev/log is our datagram socket: the
#     module's (pam_syslog) and the helper's (syslog) lines land in $E2E_SYSLOG.
# Never `rm -r` inside the namespace: bind mounts of originals live there.
#
# Environment from tests/e2e/Makefile.am: CPK_MODULE CPK_HELPER CPK_STUB_HELPER
# CPK_HELPER_PATH CPK_DRIVER CPK_PASSKEY_REVOKE CPK_SANDBOX_SH CPK_EMULATOR_DIR
# E2E_BUILDDIR PYTHON3 PAMTESTER CPK_SANITIZERS.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../nslib.sh
. "$E2E_DIR/../nslib.sh"
# shellcheck source=../harness.sh
. "$E2E_DIR/../harness.sh"

e2e_log() {
	printf '%s\n' "$*" >&2
}

e2e_skip() {
	e2e_log "SKIP: $*"
	exit 77
}

e2e_fatal() {
	e2e_log "FATAL: $*"
	exit 99
}

# ---------------------------------------------------------------- the sandbox

e2e_init() {
	local script name
	script="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
	shift
	name=$(basename "$script" .sh)
	for var in CPK_MODULE CPK_HELPER CPK_HELPER_PATH CPK_DRIVER CPK_SANDBOX_SH E2E_BUILDDIR; do
		[ -n "${!var:-}" ] || e2e_fatal "$var is not set (run through make check)"
	done
	if [ -z "${CPK_IN_SANDBOX:-}" ]; then
		[ "$(id -u)" = 0 ] || e2e_skip "end-to-end PAM tests need root (private mount namespace)"
		E2E_WORK="$E2E_BUILDDIR/work-$name"
		# outside the namespace there are no mounts under it: plain removal
		rm -rf "$E2E_WORK"
		mkdir -p "$E2E_WORK"
		export E2E_NAME=$name
		exec bash "$CPK_SANDBOX_SH" "$E2E_WORK" bash "$script" "$@"
	fi
	set -u
	export E2E_NAME=$name
	E2E_SYSLOG="$SANDBOX/syslog"
	E2E_PAMD="$SANDBOX/pam.d"
	E2E_CONF="$SANDBOX/cpk.conf"
	E2E_STATE="$SANDBOX/state"
	mkdir -p "$E2E_PAMD"
	mkdir -p -m 0700 "$E2E_STATE"
	# libpam reads "other" when a service has no file; keep its noise out of the log
	printf '%s\n' "auth required pam_deny.so" "account required pam_deny.so" \
		"password required pam_deny.so" "session required pam_deny.so" >"$E2E_PAMD/other"
	trap e2e_cleanup EXIT
	ns_syslog_start "$E2E_SYSLOG" || e2e_fatal "syslog sink did not start"
	e2e_use_helper "$CPK_HELPER"
	e2e_config
}

e2e_cleanup() {
	local rc=$?
	ns_syslog_stop
	if [ -n "${EMU_PID:-}" ] && command -v emu_stop >/dev/null; then
		emu_stop || true
	fi
	return "$rc"
}

# e2e_use_helper FILE: FILE is what the module runs from now on.
e2e_use_helper() {
	local src=$1 target=$CPK_HELPER_PATH dir anc
	if [ -z "${E2E_HELPER_READY:-}" ]; then
		if [ ! -e "$target" ]; then
			dir=$(dirname "$target")
			anc=$dir
			while [ ! -d "$anc" ]; do
				anc=$(dirname "$anc")
			done
			ns_shadow_dir "$anc"
			mkdir -p "$dir"
			: >"$target"
		fi
		E2E_HELPER_READY=1
	else
		umount "$target"
	fi
	mount --bind "$src" "$target"
}

# e2e_no_helper: the compiled-in path exists but cannot be executed.
e2e_no_helper() {
	umount "$CPK_HELPER_PATH"
	: >"$SANDBOX/not-a-helper"
	chmod 0644 "$SANDBOX/not-a-helper"
	mount --bind "$SANDBOX/not-a-helper" "$CPK_HELPER_PATH"
}

# e2e_syslog_wait PATTERN [SECONDS]: until a line matches (the sink is async).
e2e_syslog_wait() {
	ns_syslog_wait "$E2E_SYSLOG" "$@"
}

# Start a fresh log section, so that checks see only what follows.
e2e_syslog_mark() {
	local i=0
	logger --socket-errors=off -u /dev/log "cpk-e2e-mark $E2E_NAME ${1:-}" 2>/dev/null ||
		"${PYTHON3:-python3}" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.sendto(("<13>cpk-e2e-mark "+sys.argv[1]).encode(),"/dev/log")' "$E2E_NAME ${1:-}"
	while ! grep -q "cpk-e2e-mark $E2E_NAME ${1:-}" "$E2E_SYSLOG"; do
		[ "$i" -lt 2400 ] || e2e_fatal "syslog sink lost a line"
		sleep 0.05
		i=$((i + 1))
	done
	: >"$E2E_SYSLOG"
}

# ---------------------------------------------------------- configuration

# e2e_config [key = value ...]: write $E2E_CONF (root, 0644) from defaults
# pointing at the sandbox, plus the given lines.
e2e_config() {
	{
		echo "# written by tests/e2e/lib.sh"
		echo "state_dir = $E2E_STATE"
		if [ -n "${EMU_URL:-}" ]; then
			echo "endpoint_url = $EMU_URL"
			echo "ca_file = $EMU_CA"
		fi
		for line in "$@"; do
			echo "$line"
		done
	} >"$E2E_CONF"
	chmod 0644 "$E2E_CONF"
}

# e2e_service NAME MODULE-ARGS...: a service file whose session and password
# stacks report the module's own return code (see pam_driver -I).
e2e_service() {
	local name=$1
	shift
	cat >"$E2E_PAMD/$name" <<EOF
# $name: exact return codes of pam_cognito_passkey (tests/e2e/lib.sh)
session  [success=done ignore=ignore default=die] $CPK_MODULE conf=$E2E_CONF $*
session  [success=ok default=die] pam_debug.so open_session=no_module_data close_session=no_module_data
password [success=done ignore=ignore default=die] $CPK_MODULE conf=$E2E_CONF $*
password [success=ok default=die] pam_debug.so prechauthtok=success chauthtok=no_module_data
auth     [success=done ignore=ignore default=die] $CPK_MODULE conf=$E2E_CONF $*
auth     [success=ok default=die] pam_debug.so auth=no_module_data cred=no_module_data
account  [success=done ignore=ignore default=die] $CPK_MODULE conf=$E2E_CONF $*
account  [success=ok default=die] pam_debug.so acct=no_module_data
EOF
}

# e2e_service_file NAME < stack: a service file as an administrator writes it.
e2e_service_file() {
	cat >"$E2E_PAMD/$1"
}

# e2e_drive [driver options] SERVICE USER OP...: output in $E2E_OUT.
e2e_drive() {
	E2E_OUT="$SANDBOX/driver.out"
	"$CPK_DRIVER" -I -d "$E2E_PAMD" "$@" >"$E2E_OUT" 2>"$SANDBOX/driver.err" || {
		cat "$SANDBOX/driver.err" >&2
		e2e_fatal "pam_driver $* failed"
	}
}

# e2e_result OP: the PAM result name of OP in the last e2e_drive.
e2e_result() {
	awk -v op="$1" '$1 == "result" && $2 == op { print $3; exit }' "$E2E_OUT"
}

# e2e_elapsed OP: milliseconds OP took.
e2e_elapsed() {
	awk -v op="$1" '$1 == "result" && $2 == op { print $4; exit }' "$E2E_OUT"
}

# ------------------------------------------------------------------ checks

e2e_pass() { t_pass "$@"; }
e2e_fail() { t_fail "$@"; }
# e2e_check DESCRIPTION COMMAND...
e2e_check() { t_check "$@"; }

# e2e_expect OP PAM_CODE DESCRIPTION: the last e2e_drive gave OP that code.
e2e_expect() {
	local got
	got=$(e2e_result "$1")
	if [ "$got" = "$2" ]; then
		e2e_pass "$3: $1 -> $2"
	else
		e2e_fail "$3: $1 -> ${got:-nothing}, expected $2"
		sed 's/^/    driver: /' "$E2E_OUT" >&2
	fi
}

# e2e_out_has REGEX / e2e_out_lacks REGEX: on the driver's output.
e2e_out_has() {
	grep -Eq -- "$1" "$E2E_OUT"
}
e2e_out_lacks() {
	! grep -Eq -- "$1" "$E2E_OUT"
}

# e2e_log_has REGEX [SECONDS] / e2e_log_lacks REGEX: on the captured syslog.
e2e_log_has() {
	e2e_syslog_wait "$@"
}
e2e_log_lacks() {
	ns_syslog_sync "$E2E_SYSLOG" || return 1
	! grep -Eq -- "$1" "$E2E_SYSLOG"
}

e2e_done() { t_done "$E2E_NAME" "$E2E_SYSLOG"; }

# ------------------------------------------------------------ stub helper

# e2e_stub [SCRIPT]: the module now runs the stub helper; SCRIPT (sh) is its
# behaviour.  Calls are recorded in $E2E_CONF.calls and $E2E_CONF.call-N.
e2e_stub() {
	rm -f "$E2E_CONF".call* "$E2E_CONF.stub"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$1" >"$E2E_CONF.stub"
	fi
	e2e_use_helper "$CPK_STUB_HELPER"
}

# e2e_stub_calls: how many times the stub was started.
e2e_stub_calls() {
	if [ -f "$E2E_CONF.calls" ]; then
		wc -l <"$E2E_CONF.calls" | tr -d ' '
	else
		echo 0
	fi
}

# e2e_flag USER: make something pending for USER without the engine (the
# module's fast path only looks for the file).
e2e_flag() {
	mkdir -p -m 0700 "$E2E_STATE/pending"
	echo '{"requests":[]}' >"$E2E_STATE/pending/$1"
	chmod 0600 "$E2E_STATE/pending/$1"
}

e2e_unflag() {
	rm -f "$E2E_STATE/pending/$1"
}

# ------------------------------------------------------ engine + emulator

# e2e_need_engine: skip unless the helper carries the revocation engine.
e2e_need_engine() {
	if ! nm "$CPK_HELPER" 2>/dev/null | grep -q ' T cpk_revoke_user$'; then
		e2e_skip "the helper has no revocation engine yet (lib/revoke.c)"
	fi
	"${CPK_PASSKEY_REVOKE:-false}" -V >/dev/null 2>&1 || e2e_skip "passkey-revoke not built yet"
}

e2e_have_engine() {
	nm "$CPK_HELPER" 2>/dev/null | grep -q ' T cpk_revoke_user$' &&
		"${CPK_PASSKEY_REVOKE:-false}" -V >/dev/null 2>&1
}

# e2e_emulator: start the emulator with HTTPS and a throw-away CA.
e2e_emulator() {
	EMU_PYTHON=${PYTHON3:-python3}
	# shellcheck source=../emulator/testenv.sh
	. "$CPK_EMULATOR_DIR/testenv.sh"
	emu_start "$SANDBOX/emu" "$@" || {
		local rc=$?
		[ "$rc" -ne 77 ] || e2e_skip "emulator cannot run here"
		e2e_fatal "emulator did not start"
	}
	e2e_config
}

# e2e_token USER [JSON-FIELDS]: mint tokens for USER in the emulator and write
# them, as Cognito's AuthenticationResult, to USER's token cache (0600, USER's).
e2e_token() {
	local user=$1 extra=${2:-} home dir
	home=$(getent passwd "$user" | cut -d: -f6)
	dir="$home/.cache/cognito"
	mkdir -p "$dir"
	emu_ctl POST tokens "{\"Username\": \"$user\"${extra:+, $extra}}" >"$dir/tokens.json"
	chown -R "$user:$user" "$home/.cache"
	chmod 0700 "$home/.cache" "$dir"
	chmod 0600 "$dir/tokens.json"
}

# e2e_user USER PASSKEY-JSON-LIST: create USER in the emulator with these passkeys.
e2e_user() {
	emu_ctl POST users "{\"Username\": \"$1\", \"Passkeys\": ${2:-[]}}" >/dev/null
}

# e2e_passkey_count USER: passkeys USER has in the emulator.
e2e_passkey_count() {
	emu_ctl GET "users/$1" | "${PYTHON3:-python3}" -c \
		'import json,sys; print(len(json.load(sys.stdin)["Passkeys"]))'
}

# e2e_requests: requests the emulator has served so far.
e2e_requests() {
	emu_ctl GET requests | "${PYTHON3:-python3}" -c \
		'import json,sys; print(len(json.load(sys.stdin)["Requests"]))'
}

e2e_revoke() {
	"$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" "$@"
}
