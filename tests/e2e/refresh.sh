#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The cached access token has expired, the refresh token is good: one
# session open refreshes it, writes the new tokens back (as the user,
# 0600, same format, the rotated refresh token kept), and revokes.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_service sshd

tokens="$SANDBOX/home/alice/.cache/cognito/tokens.json"
field() {	# FIELD: a top-level string of the token cache
	"${PYTHON3:-python3}" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$tokens" "$1"
}
exp_of() {	# the access token's exp claim
	"${PYTHON3:-python3}" -c 'import base64,json,sys
t = json.load(open(sys.argv[1]))["AccessToken"].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["exp"])' "$tokens"
}

# ---- GetTokensFromRefreshToken with rotation: the new refresh token must be kept
emu_ctl POST config '{"RotateRefreshTokens": true}' >/dev/null
e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}]'
e2e_token alice '"Ttl": -300'
old_access=$(field AccessToken)
old_refresh=$(field RefreshToken)
e2e_check "the cached access token has expired" [ "$(exp_of)" -lt "$(date +%s)" ]
e2e_revoke -a -r "lost laptop" alice
e2e_syslog_mark refresh
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SUCCESS "expired token, one session open"
e2e_check "passkeys gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
e2e_check "token_refreshed audited" e2e_log_has 'pam_cognito_passkey\(sshd:session\): event=token_refreshed user=alice'
e2e_check "a new access token was written back" [ "$(field AccessToken)" != "$old_access" ]
e2e_check "it is valid now" [ "$(exp_of)" -gt "$(date +%s)" ]
e2e_check "the rotated refresh token was written back" \
	bash -c "[ -n \"\$1\" ] && [ \"\$1\" != \"\$2\" ]" _ "$(field RefreshToken)" "$old_refresh"
e2e_check "the cache is still alice's, 0600" [ "$(stat -c '%U %a' "$tokens")" = "alice 600" ]
e2e_check "no token in any log line" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"

# ---- InitiateAuth REFRESH_TOKEN_AUTH (no rotation)
emu_ctl POST config '{"RotateRefreshTokens": false}' >/dev/null
e2e_config "refresh_api = initiate_auth"
e2e_user alice '[{"FriendlyCredentialName": "Phone"}]'
e2e_token alice '"Ttl": -300'
old_refresh=$(field RefreshToken)
e2e_revoke -a alice
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SUCCESS "expired token, refresh_api=initiate_auth"
e2e_check "passkey gone" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "the refresh token is kept" [ "$(field RefreshToken)" = "$old_refresh" ]
e2e_check "the new access token is valid" [ "$(exp_of)" -gt "$(date +%s)" ]

# ---- refresh disabled: the revocation waits, the session is not held
e2e_config "refresh = no"
e2e_user alice '[{"FriendlyCredentialName": "Phone"}]'
e2e_token alice '"Ttl": -300'
e2e_revoke -a alice
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "expired token, refresh=no, fail=open"
e2e_check "still pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_check "passkey still there" [ "$(e2e_passkey_count alice)" = 1 ]
e2e_done
