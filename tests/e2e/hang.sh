#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# When the emulator hangs, the session returns within timeout + 2 s,
# the helper is gone, the revocation is still pending; fail=closed refuses
# the session, fail=open lets it open; once the service answers again the
# next session carries the revocation out.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_config "timeout = 2"
e2e_service sshd
e2e_service sshd-closed fail=closed

e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}]'
e2e_token alice
e2e_revoke -a -r "lost laptop" alice

within() {	# OP: 2 s timeout + 2 s grace + 0.5 s slack
	local ms
	ms=$(e2e_elapsed "$1")
	[ -n "$ms" ] && [ "$ms" -le 4500 ]
}
hang_all() {
	emu_ctl DELETE faults >/dev/null
	emu_ctl POST faults '{"Operation": "*", "Faults": ["hang:60", "hang:60", "hang:60", "hang:60", "hang:60", "hang:60"]}' >/dev/null
}

hang_all
e2e_drive -c sshd alice open_session
e2e_expect open_session PAM_IGNORE "emulator hangs, fail=open: the session opens"
e2e_check "returned within timeout + 2 s ($(e2e_elapsed open_session) ms)" within open_session
e2e_check "the helper is gone" e2e_out_has '^children none$'
e2e_check "revocation still pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_check "passkeys untouched" [ "$(e2e_passkey_count alice)" = 2 ]
e2e_check "deferral audited with its cause" \
	e2e_log_has 'pam_cognito_passkey\(sshd:session\): event=revocation_deferred user=alice error=[A-Za-z]'

hang_all
e2e_drive sshd-closed alice open_session
e2e_expect open_session PAM_SESSION_ERR "emulator hangs, fail=closed: the session is refused"
e2e_check "returned within timeout + 2 s ($(e2e_elapsed open_session) ms)" within open_session
e2e_check "the helper is gone" e2e_out_has '^children none$'
e2e_check "revocation still pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_revoke -S alice >"$SANDBOX/status.out" 2>&1 || true
e2e_check "passkey-revoke -S shows it pending" grep -q '^alice pending' "$SANDBOX/status.out"

# The service is back: the next session does it.
emu_ctl DELETE faults >/dev/null
e2e_drive sshd-closed alice open_session
e2e_expect open_session PAM_SUCCESS "service back"
e2e_check "passkeys gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
e2e_done
