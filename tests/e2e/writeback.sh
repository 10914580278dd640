#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# A refresh rotates the refresh token and the new tokens cannot be written
# back (alice's cache directory is read-only to her): the old refresh token
# is dead already, so the run uses the new access token all the same and
# carries the revocation out, logs token_writeback_failed at LOG_ALERT, and
# -S (text and --json) says so.  Without a rotation the session only warns.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_service sshd "fail=closed"

home=$(getent passwd alice | cut -d: -f6)
dir="$home/.cache/cognito"

emu_ctl POST config '{"RotateRefreshTokens": true}' >/dev/null
e2e_user alice '[{"FriendlyCredentialName": "YubiKey"}, {"FriendlyCredentialName": "Phone"}]'
e2e_token alice '"Ttl": -300'
before=$(cat "$dir/tokens.json")
chmod 0500 "$dir"	# alice can read her cache but not replace it
e2e_revoke -a -r "stolen laptop" alice
e2e_syslog_mark writeback
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SUCCESS "rotated refresh token not writable"
e2e_check "both passkeys are gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
e2e_check "token_writeback_failed logged at LOG_ALERT (authpriv.alert = <81>)" \
	e2e_log_has '^<81>.*event=token_writeback_failed user=alice detail=".*rotated refresh token'
e2e_check "the cache is untouched" [ "$(cat "$dir/tokens.json")" = "$before" ]
e2e_check "no token in any log line" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
e2e_revoke -S alice >"$SANDBOX/S.out"
e2e_check "-S: done, warning=token_writeback_failed" \
	grep -Eq '^alice done .*warning=token_writeback_failed' "$SANDBOX/S.out"
e2e_revoke -S --json alice >"$SANDBOX/S.json"
e2e_check "-S --json: warning token_writeback_failed" "${PYTHON3:-python3}" -c '
import json, sys
d = json.load(open(sys.argv[1]))
d = d[0] if isinstance(d, list) else d
d = d.get("users", [d])[0] if "users" in d else d
sys.exit(d.get("warning") != "token_writeback_failed")' "$SANDBOX/S.json"
e2e_check "the history's completed event carries the note" \
	grep -q '"event":"completed".*"error":"token_writeback_failed"' "$E2E_STATE/history/alice"

# ---- no rotation: the old refresh token still works, a warning only
chmod 0700 "$dir"
emu_ctl POST config '{"RotateRefreshTokens": false}' >/dev/null
e2e_user alice '[{"FriendlyCredentialName": "Key"}]'
e2e_token alice '"Ttl": -300'
chmod 0500 "$dir"
e2e_revoke -a alice
e2e_syslog_mark norotate
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SUCCESS "no rotation, cache not writable"
e2e_check "the passkey is gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "a warning names the cache" e2e_log_has "user=alice: refreshed tokens not written back to $dir/tokens.json"
e2e_check "no token_writeback_failed alert" e2e_log_lacks 'event=token_writeback_failed'
chmod 0700 "$dir"
e2e_done
