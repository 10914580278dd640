#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The module under pamtester, an ordinary PAM application, through
# pam_wrapper (service files from a directory, pam_syslog passed on to
# syslog): a stack as an administrator writes it (conf/pam.d examples).
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

[ -x "${PAMTESTER:-}" ] || e2e_skip "pamtester not installed"
wrapper=$(pkg-config --libs pam_wrapper 2>/dev/null || true)
[ -f "$wrapper" ] || wrapper=$(ls /usr/lib/*/libpam_wrapper.so 2>/dev/null | head -n 1)
[ -f "$wrapper" ] || e2e_skip "pam_wrapper not installed"
preload=$wrapper
if [ "${CPK_SANITIZERS:-no}" = yes ]; then
	preload="$(${CC:-cc} -print-file-name=libasan.so) $wrapper"
	export PAM_WRAPPER_DISABLE_DEEPBIND=1 ASAN_OPTIONS=detect_leaks=0
fi

e2e_service_file cpk-login <<EOF2
session  required  pam_permit.so
session  optional  $CPK_MODULE conf=$E2E_CONF
password required  pam_permit.so
password optional  $CPK_MODULE conf=$E2E_CONF
EOF2

pamtester_run() {
	LD_PRELOAD=$preload PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$E2E_PAMD" \
		PAM_WRAPPER_USE_SYSLOG=1 "$PAMTESTER" -v "$@" >"$SANDBOX/pamtester.out" 2>&1
}

e2e_stub 'printf "deleted\tYubiKey 5C\tAAAA\n"; exit 0'
e2e_check "pamtester: session opens, nothing pending" pamtester_run cpk-login alice open_session close_session
e2e_check "nothing pending: no helper" [ "$(e2e_stub_calls)" = 0 ]
e2e_flag alice
e2e_check "pamtester: session opens with a revocation" pamtester_run cpk-login alice open_session close_session
e2e_check "pamtester shows the notice" grep -q 'Your passkey "YubiKey 5C" was revoked by your administrator.' "$SANDBOX/pamtester.out"
e2e_check "pamtester: successfully opened" grep -q 'successfully opened a session' "$SANDBOX/pamtester.out"
e2e_check "helper ran once" [ "$(e2e_stub_calls)" = 1 ]
e2e_check "pamtester: chauthtok" pamtester_run cpk-login alice chauthtok
e2e_check "helper ran once more, for the update phase only" [ "$(e2e_stub_calls)" = 2 ]
e2e_check "... with type password" grep -qx 'arg password' "$E2E_CONF.call-2"

# fail=open keeps the session when the helper fails; a system error is logged
e2e_stub 'exit 2'
e2e_check "pamtester: optional module, pending stays: session opens" \
	pamtester_run cpk-login alice open_session close_session
e2e_check "module line reached syslog through pam_wrapper" \
	e2e_log_has 'pam_cognito_passkey\(cpk-login:session\): user alice: revocation still pending'
sed 's/^/    pamtester: /' "$SANDBOX/pamtester.out" >&2
e2e_done
