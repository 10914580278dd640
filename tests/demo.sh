#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/demo.sh -- pam_cognito_passkey from a clean clone, in one command:
#
#   sudo tests/demo.sh
#
# As root on Debian 12: installs the build dependencies that are missing
# (apt-get), builds out of tree in build/, then, in a private mount namespace
# (tests/sandbox.sh: test users, nothing under /etc changed outside it):
# starts the local Cognito-compatible service over HTTPS with a throw-away CA,
# gives alice three passkeys and a token cache, flags the revocation of all
# of them as an administrator would, opens a session for alice through a real
# PAM stack (pamtester, an ordinary PAM application), and shows the status,
# the history, the audit lines as syslog has them, and the service confirming
# that alice has no passkey left.  Then a second act, a fleet
# (tests/demo_fleet.sh): one etcd with TLS client certificates, two hosts;
# alice is flagged on host A and her new passkeys are deleted, once, when
# she opens a session on host B.  Exit status 0 only if both acts reach
# their end state.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"

say() {
	printf '\n\033[1m==> %s\033[0m\n' "$*"
}
note() {
	printf '    %s\n' "$@"
}
# quoted ARGS...: the arguments as one would type them.
quoted() {
	local a out=""
	for a in "$@"; do
		case $a in
		*[[:space:]\"]*) out="$out \"$a\"" ;;
		*) out="$out $a" ;;
		esac
	done
	printf '%s' "${out# }"
}
# show CMD...: print the command as typed, then run it.
show() {
	printf '\033[36m$ %s\033[0m\n' "$(quoted "$@")" >&2
	"$@"
}
# passkey_revoke ARGS...: the command with the demo's configuration, shown as typed.
passkey_revoke() {
	printf '\033[36m$ passkey-revoke %s\033[0m\n' "$(quoted "$@")" >&2
	"$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" "$@"
}

# ------------------------------------------------------------------ outside
if [ -z "${CPK_IN_SANDBOX:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "demo.sh: run as root (sudo tests/demo.sh): it needs a private mount namespace" >&2
		exit 1
	fi
	say "1. Build dependencies (Debian packages; only the missing ones are installed)"
	. "$top/tests/deps.sh"
	cpk_install_deps
	note "ok"

	say "2. Build, out of tree, in build/"
	cd "$top"
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		show autoreconf -fi
	fi
	mkdir -p "$build"
	cd "$build"
	[ -f Makefile ] || show "$top/configure" -q
	show make -j2 -s >/dev/null
	note "module: $build/pam_module/.libs/pam_cognito_passkey.so" \
		"helper: $build/helper/cognito-passkey-helper" \
		"command: $build/passkey-revoke/passkey-revoke"

	export CPK_MODULE="$build/pam_module/.libs/pam_cognito_passkey.so"
	export CPK_HELPER="$build/helper/cognito-passkey-helper"
	export CPK_PASSKEY_REVOKE="$build/passkey-revoke/passkey-revoke"
	export CPK_STUB_HELPER="$build/tests/e2e/stub_helper"
	export CPK_DRIVER="$build/tests/e2e/pam_driver"
	export CPK_SANDBOX_SH="$top/tests/sandbox.sh"
	export CPK_EMULATOR_DIR="$top/tests/emulator"
	export CPK_TOP_SRCDIR="$top"
	export E2E_BUILDDIR="$build"
	export PYTHON3=/usr/bin/python3 PAMTESTER=/usr/bin/pamtester
	# the helper path the module was built with, as the module itself names it
	CPK_HELPER_PATH=$(grep -ao '/[[:print:]]*/cognito-passkey-helper' "$CPK_MODULE" | head -n 1)
	export CPK_HELPER_PATH

	say "3. A private mount namespace (tests/sandbox.sh)"
	note "Users alice, bob, carol and mallory exist only inside it; the module's helper" \
		"($CPK_HELPER_PATH) is the one just built, bind-mounted there;" \
		"syslog (/dev/log) is captured.  Nothing outside the namespace changes."
fi

. "$top/tests/e2e/lib.sh"
e2e_init "$top/tests/demo.sh" "$@"
# ------------------------------------------------------------------ inside

say "4. A local Cognito-compatible service, HTTPS with a throw-away CA"
e2e_emulator
note "listening on $EMU_URL (CA: $EMU_CA)"
e2e_config "timeout = 10"
note "configuration ($E2E_CONF; passkey-revoke below is run with --config it):"
sed 's/^/      /' "$E2E_CONF"

say "5. alice has three passkeys, and a cached Cognito token"
e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"},
	{"FriendlyCredentialName": "iPhone 15"}, {"FriendlyCredentialName": "Work laptop"}]'
e2e_token alice
note "token cache: $(stat -c '%n  owner=%U mode=%a' "$SANDBOX/home/alice/.cache/cognito/tokens.json")"
passkey_revoke -L alice

say "6. The administrator flags the revocation"
passkey_revoke -a -r "lost laptop" alice
passkey_revoke -S alice

say "7. alice opens a session: pamtester through a real PAM stack"
e2e_service_file sshd <<EOF
# the session part of an sshd stack, with the line conf/pam.d/sshd.example adds
session  required  pam_permit.so
session  optional  $CPK_MODULE conf=$E2E_CONF
EOF
note "PAM service file sshd:"
sed 's/^/      /' "$E2E_PAMD/sshd"
wrapper=$(pkg-config --libs pam_wrapper 2>/dev/null || true)
[ -f "$wrapper" ] || wrapper=$(ls /usr/lib/*/libpam_wrapper.so | head -n 1)
printf '\033[36m$ pamtester -v sshd alice open_session close_session\033[0m\n' >&2
LD_PRELOAD=$wrapper PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$E2E_PAMD" PAM_WRAPPER_USE_SYSLOG=1 \
	"$PAMTESTER" -v sshd alice open_session close_session || true

say "8. Where things stand"
passkey_revoke -S alice || true
passkey_revoke --history alice || true

say "9. The audit lines, as syslog (facility authpriv) received them"
e2e_syslog_wait 'event=revocation_completed user=alice' 5 || true
grep 'pam_cognito_passkey' "$E2E_SYSLOG" | sed 's/^<[0-9]*>//; s/^/    /' || true

say "10. The service: alice's passkeys"
show emu_ctl GET users/alice | "$PYTHON3" -c '
import json, sys
u = json.load(sys.stdin)
print("    passkeys left: %d" % len(u["Passkeys"]))
print("    deleted: %d credential(s)" % len(u["Deleted"]))'

say "Result"
fails=0
check() {
	if "${@:2}"; then
		note "ok   $1"
	else
		note "FAIL $1"
		fails=$((fails + 1))
	fi
}
check "alice has zero passkeys in the service" [ "$(e2e_passkey_count alice)" = 0 ]
check "nothing is pending for alice" [ ! -e "$E2E_STATE/pending/alice" ]
check "passkey-revoke -S alice says done, deleted=3" \
	bash -c "'$CPK_PASSKEY_REVOKE' --config '$E2E_CONF' -S alice | grep -Eq '^alice done .*deleted=3'"
check "three passkey_deleted audit lines from the session" \
	[ "$(grep -c 'pam_cognito_passkey(sshd:session): event=passkey_deleted user=alice' "$E2E_SYSLOG")" = 3 ]
check "no token in syslog" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
if [ "$fails" -ne 0 ]; then
	say "The demo did NOT reach the expected end state ($fails check(s) failed)"
	exit 1
fi
say "Done: alice's three passkeys were revoked when she opened a session."

# Act two: the same with a fleet (two hosts, one etcd); it exits.
. "$top/tests/demo_fleet.sh"
