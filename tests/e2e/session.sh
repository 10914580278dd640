#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# A session that opens with a pending revocation: the passkeys are
# gone in the emulator, PAM_SUCCESS, the user is told, and the audit lines
# event=passkey_deleted user=alice credential=... request=... come out of
# syslog with the PAM service and type; the next session is the fast path.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator

e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"},
	{"FriendlyCredentialName": "Work laptop"}]'
e2e_user bob '[{"FriendlyCredentialName": "Bob key"}, {}]'
e2e_token alice
e2e_token bob
e2e_service sshd

e2e_check "passkey-revoke -a -r \"lost laptop\" alice" e2e_revoke -a -r "lost laptop" alice
e2e_check "the request is pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_check "requested is audited" \
	e2e_log_has 'pam_cognito_passkey\(passkey-revoke\): event=revocation_requested user=alice .*reason="lost laptop"'
e2e_syslog_mark session

e2e_drive -c sshd alice open_session
e2e_expect open_session PAM_SUCCESS "session with a pending revocation"
e2e_check "alice has no passkey left in the emulator" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "bob's passkeys untouched" [ "$(e2e_passkey_count bob)" = 2 ]
e2e_check "nothing pending any more" [ ! -e "$E2E_STATE/pending/alice" ]
for name in "YubiKey 5C" iPhone "Work laptop"; do
	e2e_check "user told: $name" e2e_out_has "^info Your passkey \"$name\" was revoked by your administrator\.$"
	e2e_check "audit: passkey_deleted $name" \
		e2e_log_has "cognito-passkey-helper\[[0-9]+\]: pam_cognito_passkey\(sshd:session\): event=passkey_deleted user=alice credential=[A-Za-z0-9_=-]+ name=(\"$name\"|$name) request=[0-9a-f-]+"
done
e2e_check "three passkey_deleted lines, no more" \
	[ "$(grep -c 'event=passkey_deleted user=alice' "$E2E_SYSLOG")" = 3 ]
e2e_check "actor and reason carried" e2e_log_has 'event=passkey_deleted user=alice .*actor=root.* reason="lost laptop"|event=passkey_deleted user=alice .*reason="lost laptop".*actor=root'
e2e_check "audit: revocation_completed" e2e_log_has 'pam_cognito_passkey\(sshd:session\): event=revocation_completed user=alice'
e2e_check "no token in any log line" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
e2e_check "host SIGCHLD handler kept" e2e_out_has '^sigchld handler=kept calls=0$'
e2e_check "no child left" e2e_out_has '^children none$'
e2e_check "history records the deletions" \
	[ "$(grep -c '"event":"deleted"' "$E2E_STATE/history/alice")" = 3 ]
e2e_check "history: run by pam:sshd" grep -q '"event":"deleted".*"run_by":"pam:sshd"' "$E2E_STATE/history/alice"
e2e_revoke -S alice >"$SANDBOX/status.out" 2>&1 || true
e2e_check "passkey-revoke -S alice: done, deleted=3" grep -Eq '^alice done .*deleted=3' "$SANDBOX/status.out"

# The next session: nothing pending, no helper, no request.
before=$(e2e_requests)
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "next session"
e2e_check "no request made" [ "$(e2e_requests)" = "$before" ]
e2e_done
