#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# How the module runs its helper (like pam_unix runs unix_chkpwd): empty
# environment, only stdin (/dev/null), stdout (a pipe) and stderr
# (/dev/null) open, signals unblocked, argv = user service type settings;
# the host's SIGCHLD handler neither fires nor is lost; every exit status
# maps to the code of doc/DESIGN.md's table for fail=open and fail=closed; with
# notify the user is told of each revoked passkey, names sanitized.
# The stub helper (stub_helper.c) stands in for the real one.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

e2e_service cpk-test
e2e_service cpk-closed fail=closed
e2e_flag alice

# ---- the launch itself
e2e_stub 'printf "deleted\tYubiKey 5C\tAAAA\n"; exit 0'
e2e_drive -c -f cpk-test alice open_session
e2e_expect open_session PAM_SUCCESS "helper exit 0"
call="$E2E_CONF.call-1"
e2e_check "helper started once" [ "$(e2e_stub_calls)" = 1 ]
e2e_check "helper runs as root" grep -q 'uid=0 euid=0' "$E2E_CONF.calls"
e2e_check "helper environment is empty" bash -c "! grep -q '^env ' '$call'"
e2e_check "helper argv[0] is the compiled-in path" grep -qxF "arg $CPK_HELPER_PATH" "$call"
e2e_check "helper argv: user, service, type" \
	bash -c "sed -n '2,4p' '$call' | tr '\n' ' ' | grep -qx 'arg alice arg cpk-test arg session '"
e2e_check "helper argv: conf= first of the settings" \
	bash -c "sed -n '5p' '$call' | grep -qxF 'arg conf=$E2E_CONF'"
e2e_check "helper argv carries the settings (state_dir, timeout, fail)" \
	bash -c "grep -qxF 'arg state_dir=$E2E_STATE' '$call' && grep -qx 'arg timeout=10' '$call' && grep -qx 'arg fail=open' '$call'"
e2e_check "helper has exactly fds 0 1 2" \
	bash -c "[ \"\$(grep '^fd ' '$call' | cut -d' ' -f2 | sort -n | tr '\n' ' ')\" = '0 1 2 ' ]"
e2e_check "helper stdin is /dev/null or an empty pipe" \
	grep -Eq '^fd 0 (/dev/null|pipe:)' "$call"
e2e_check "helper stdout is a pipe" grep -Eq '^fd 1 pipe:' "$call"
e2e_check "helper stderr is /dev/null" grep -q '^fd 2 /dev/null' "$call"
e2e_check "helper starts with no signal blocked" grep -qx 'sigblk 0' "$call"
e2e_check "user told of the revoked passkey" \
	e2e_out_has '^info Your passkey "YubiKey 5C" was revoked by your administrator\.$'
e2e_check "host SIGCHLD handler kept and not called" e2e_out_has '^sigchld handler=kept calls=0$'
e2e_check "no descriptor left open" e2e_out_has '^fds leaked=0$'
e2e_check "no child left behind" e2e_out_has '^children none$'

# dry_run passes through to the helper
e2e_service cpk-dry dry_run
e2e_stub 'exit 0'
e2e_drive cpk-dry alice open_session
e2e_check "dry_run reaches the helper" grep -qx 'arg dry_run=yes' "$E2E_CONF.call-1"
e2e_check "no secret-looking argument" bash -c "! grep -Eiq 'token|secret=' '$E2E_CONF.call-1' || grep -E 'arg (token_cache|client_secret_file)=' '$E2E_CONF.call-1' >/dev/null"

# ---- notify: several passkeys, hostile names, silence
e2e_stub 'printf "deleted\tPhone\tID1\nabsent\tGone\tID2\ndeleted\tEvil\033[31mRed\007\tID3\ndeleted\t\tNAMELESSID\n"; exit 0'
e2e_drive cpk-test alice open_session
e2e_expect open_session PAM_SUCCESS "several outcomes"
e2e_check "each deleted passkey announced" e2e_out_has '^info Your passkey "Phone" was revoked'
e2e_check "absent passkeys not announced" e2e_out_lacks 'Gone'
e2e_check "control bytes in a name are neutralised" \
	e2e_out_has '^info Your passkey "Evil\\x1b\[31mRed\\x07" was revoked'
e2e_check "a nameless passkey is shown by its id" e2e_out_has '^info Your passkey "NAMELESSID" was revoked'
e2e_check "no raw escape reaches the terminal" bash -c "! grep -q $'\033' '$E2E_OUT'"
e2e_drive -s cpk-test alice open_session
e2e_check "PAM_SILENT: nothing shown" e2e_out_lacks '^info '
e2e_service cpk-quiet notify=no
e2e_drive cpk-quiet alice open_session
e2e_check "notify=no: nothing shown" e2e_out_lacks '^info '
e2e_stub 'i=0; while [ $i -lt 3000 ]; do printf "deleted\tKey %d\t%0200d\n" $i $i; i=$((i+1)); done; exit 0'
e2e_drive cpk-test alice open_session
e2e_expect open_session PAM_SUCCESS "a report larger than the module keeps (no deadlock on a full pipe)"

# ---- exit status -> PAM code, fail=open and fail=closed
expect_codes() {	# SCRIPT OPEN-CODE CLOSED-CODE CLOSED-PASSWORD-CODE WHAT
	e2e_stub "$1"
	e2e_drive cpk-test alice open_session chauthtok
	e2e_expect open_session "$2" "$5, fail=open"
	e2e_expect chauthtok "$2" "$5, fail=open, password"
	e2e_drive cpk-closed alice open_session chauthtok
	e2e_expect open_session "$3" "$5, fail=closed"
	e2e_expect chauthtok "$4" "$5, fail=closed, password"
}
expect_codes 'exit 0' PAM_SUCCESS PAM_SUCCESS PAM_SUCCESS "exit 0 (done)"
expect_codes 'exit 2' PAM_IGNORE PAM_SESSION_ERR PAM_AUTHTOK_ERR "exit 2 (pending)"
expect_codes 'exit 3' PAM_IGNORE PAM_IGNORE PAM_IGNORE "exit 3 (a request failed for good)"
expect_codes 'exit 1' PAM_IGNORE PAM_SYSTEM_ERR PAM_SYSTEM_ERR "exit 1 (system error)"
expect_codes 'exit 42' PAM_IGNORE PAM_SYSTEM_ERR PAM_SYSTEM_ERR "unknown exit status"
expect_codes 'kill -SEGV $$' PAM_IGNORE PAM_SYSTEM_ERR PAM_SYSTEM_ERR "helper crashed"
e2e_check "crash audited" e2e_log_has 'pam_cognito_passkey\(cpk-test:session\): event=revocation_deferred user=alice error=helper_crashed detail="helper killed by signal 11"'
e2e_check "pending logged at LOG_ERR (authpriv.err = <83>)" \
	e2e_log_has '^<83>.*pam_cognito_passkey\(cpk-test:session\): user alice: revocation still pending; continuing \(fail=open\)'
e2e_check "password stack lines say chauthtok" e2e_log_has 'pam_cognito_passkey\(cpk-test:chauthtok\): '

# ---- the helper cannot be executed
e2e_no_helper
e2e_drive cpk-test alice open_session
e2e_expect open_session PAM_IGNORE "helper missing, fail=open"
e2e_drive cpk-closed alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "helper missing, fail=closed"
e2e_check "helper missing logged at LOG_ALERT (<81>)" \
	e2e_log_has "^<81>.*pam_cognito_passkey\(cpk-test:session\): $CPK_HELPER_PATH: Permission denied"

# ---- the real helper refuses non-root callers and bad argv
e2e_check "helper refuses a non-root caller" \
	bash -c "setpriv --reuid 4001 --regid 4001 --clear-groups -- '$CPK_HELPER' alice svc session 2>/dev/null; [ \$? = 1 ]"
e2e_check "helper refuses a bad user name" \
	bash -c "'$CPK_HELPER' ../x svc session 2>/dev/null; [ \$? = 1 ]"
e2e_check "helper refuses a bad type" \
	bash -c "'$CPK_HELPER' alice svc auth 2>/dev/null; [ \$? = 1 ]"
e2e_check "helper refuses a bad setting" \
	bash -c "'$CPK_HELPER' alice svc session conf=$E2E_CONF timeout=never 2>/dev/null; [ \$? = 1 ]"
e2e_check "bad setting logged at LOG_ALERT by the helper" \
	e2e_log_has "^<81>.*cognito-passkey-helper\[[0-9]+\]: pam_cognito_passkey\(svc:session\): bad configuration.*timeout"
e2e_done
