#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The passwd-style path: pam_chauthtok through the password
# stack carries out the revocation in the PAM_UPDATE_AUTHTOK phase only
# (PAM_PRELIM_CHECK does nothing).
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_service passwd
e2e_service passwd-closed fail=closed

# With the stub helper: exactly one start per pam_chauthtok, in the update
# phase, with type "password".
e2e_flag alice
e2e_stub 'printf "deleted\tYubiKey 5C\tAAAA\n"; exit 0'
e2e_drive -c passwd alice chauthtok
e2e_expect chauthtok PAM_SUCCESS "stub: chauthtok"
e2e_check "helper started once (not in PAM_PRELIM_CHECK)" [ "$(e2e_stub_calls)" = 1 ]
e2e_check "type password" grep -qx 'arg password' "$E2E_CONF.call-1"
e2e_check "user told" e2e_out_has '^info Your passkey "YubiKey 5C" was revoked'
e2e_stub 'exit 2'
e2e_drive passwd-closed alice chauthtok
e2e_expect chauthtok PAM_AUTHTOK_ERR "stub: pending stays, fail=closed"
e2e_check "still one start" [ "$(e2e_stub_calls)" = 1 ]
e2e_unflag alice

e2e_have_engine || { e2e_log "# (engine not built yet: emulator part skipped)"; e2e_done; }
e2e_emulator
e2e_use_helper "$CPK_HELPER"
e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}]'
e2e_token alice
e2e_revoke -a -r "off-boarding" alice
e2e_check "pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_syslog_mark chauthtok
e2e_drive passwd alice chauthtok
e2e_expect chauthtok PAM_SUCCESS "chauthtok with a pending revocation"
e2e_check "passkeys gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
e2e_check "audit from the password stack" \
	e2e_log_has 'pam_cognito_passkey\(passwd:chauthtok\): event=passkey_deleted user=alice credential=.* request='
e2e_check "one helper run (one pid)" \
	[ "$(grep -o 'cognito-passkey-helper\[[0-9]*\]' "$E2E_SYSLOG" | sort -u | wc -l)" = 1 ]
e2e_check "users told" e2e_out_has '^info Your passkey "iPhone" was revoked'
e2e_done
