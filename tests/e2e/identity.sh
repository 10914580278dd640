#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Whose token is it (doc/DESIGN.md, "Identity: whose token is it
# (revised)"): another Cognito user's valid token written into alice's cache
# (alice's file, 0600, as alice herself could write it) must never make a
# revocation for alice report "done".  With the shipped configuration it is
# refused (token_rejected error=username_mismatch), the request stays
# pending, alice's passkey stays registered and recorded as such; with
# "expect_username = none" and no user_pool_id nothing proves whose token
# it is and every run refuses (identity_unverified); the sub Cognito
# answered at the first verified run is pinned, so a token of another
# "alice" (another pool, a re-created user) is refused later
# (identity_mismatch).  The same sessions before the fix completed.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_service sshd

SHIPPED="$CPK_TOP_SRCDIR/conf/pam_cognito_passkey.conf"
ALICE_CACHE="$SANDBOX/home/alice/.cache/cognito/tokens.json"
POOL=$(emu_ctl GET config | "${PYTHON3:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["UserPoolId"])')

# shipped [key = value ...]: the shipped file as is, pointed at the sandbox.
shipped() {
	e2e_config "$(grep -v '^state_dir\|^endpoint_url\|^ca_file' "$SHIPPED")" "$@"
}

# plant USER [JSON-FIELDS]: a valid token of USER, written into alice's cache
# the way alice could (her own file, mode 0600).
plant() {
	local dir
	dir=$(dirname "$ALICE_CACHE")
	mkdir -p "$dir"
	emu_ctl POST tokens "{\"Username\": \"$1\"${2:+, $2}}" >"$ALICE_CACHE"
	chown -R alice:alice "$SANDBOX/home/alice/.cache"
	chmod 0700 "$SANDBOX/home/alice/.cache" "$dir"
	chmod 0600 "$ALICE_CACHE"
}

# fresh: alice has one passkey (the stolen one), bob none; "-a" and "-c" pending.
fresh() {
	emu_ctl DELETE faults >/dev/null
	e2e_revoke -d alice >/dev/null 2>&1 || true
	rm -f "$E2E_STATE/history/alice"
	e2e_user alice '[{"CredentialId": "alice-k1", "FriendlyCredentialName": "Stolen key"}]'
	e2e_user bob '[]'
	e2e_revoke -a -r "stolen" alice >/dev/null
	e2e_revoke -c alice-k1 -r "stolen" alice >/dev/null
	e2e_syslog_mark "$1"
}

calls() {
	emu_ctl GET requests | "${PYTHON3:-python3}" -c '
import json, sys
print(" ".join(r.get("Operation", "?") for r in json.load(sys.stdin)["Requests"]))'
}

still_pending() {
	local what=$1
	e2e_check "$what: both requests still pending" \
		[ "$("${PYTHON3:-python3}" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["requests"]))' \
			"$E2E_STATE/pending/alice" 2>/dev/null)" = 2 ]
	e2e_check "$what: alice's passkey still registered" [ "$(e2e_passkey_count alice)" = 1 ]
	e2e_check "$what: no revocation_completed" e2e_log_lacks 'event=revocation_completed'
	e2e_check "$what: history says nothing completed or absent" \
		bash -c "! grep -Eq '\"event\":\"(completed|absent)\"' '$E2E_STATE/history/alice'"
}

# --- the attack, with the shipped configuration: bob's token in alice's cache
shipped
fresh attack
plant bob
emu_ctl DELETE requests >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "session with bob's token in alice's cache (fail=open)"
still_pending "bob's token"
e2e_check "audit: token_rejected username_mismatch" \
	e2e_log_has 'event=token_rejected user=alice error=username_mismatch detail=.*bob'
e2e_check "audit: deferred, the administrator must act" \
	e2e_log_has 'event=revocation_deferred user=alice error=username_mismatch .*action=administrator'
e2e_check "no request sent with bob's token" [ "$(calls)" = "" ]
e2e_revoke -x alice >"$SANDBOX/x.out" 2>&1 && rc=0 || rc=$?
e2e_check "passkey-revoke -x alice: stays pending (exit 2), not done" [ "$rc" = 2 ]
e2e_check "-x names the reason" grep -q 'username_mismatch' "$SANDBOX/x.out"
e2e_revoke -L alice >"$SANDBOX/l.out" 2>&1 && rc=0 || rc=$?
e2e_check "passkey-revoke -L alice refuses bob's token" [ "$rc" != 0 ]
e2e_revoke -S alice >"$SANDBOX/s.out" 2>&1 || true
e2e_check "-S: pending, last_error=username_mismatch" \
	grep -Eq '^alice pending 2 requests .*last_error=username_mismatch' "$SANDBOX/s.out"

# fail = closed refuses the session instead
shipped "fail = closed"
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SESSION_ERR "fail=closed with bob's token"
shipped

# alice's own token: GetUser first, then the listing and the deletion, done
plant alice
emu_ctl DELETE requests >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_SUCCESS "alice's own token"
e2e_check "alice's passkey deleted" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "GetUser asked before anything is listed or deleted" \
	[ "$(calls)" = "GetUser ListWebAuthnCredentials DeleteWebAuthnCredential" ]
e2e_check "nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
e2e_check "audit: revocation_completed" e2e_log_has 'event=revocation_completed user=alice'

# --- the opt-out without a pool: nothing proves whose token it is
shipped "expect_username = none"
fresh none
plant alice
emu_ctl DELETE requests >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "expect_username = none, no user_pool_id"
still_pending "identity_unverified"
e2e_check "audit: token_rejected identity_unverified" \
	e2e_log_has 'event=token_rejected user=alice error=identity_unverified'
e2e_check "audit: deferred identity_unverified, administrator" \
	e2e_log_has 'event=revocation_deferred user=alice error=identity_unverified .*action=administrator'
e2e_check "no request at all" [ "$(calls)" = "" ]
e2e_revoke -x alice >"$SANDBOX/x.out" 2>&1 && rc=0 || rc=$?
e2e_check "-x with identity_unverified: exit 2" [ "$rc" = 2 ]

# --- the opt-out with the pool: the first verified run pins the sub
shipped "expect_username = none" "user_pool_id = $POOL"
fresh pinned
plant alice
emu_ctl POST faults '{"Operation": "DeleteWebAuthnCredential", "Faults": ["forbidden"]}' >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "first run (Delete forbidden)"
e2e_check "the sub Cognito answered is kept with the requests" \
	[ "$(grep -o '"sub":"[^"]*"' "$E2E_STATE/pending/alice" | sort -u)" = \
	  "\"sub\":\"$(emu_ctl GET users/alice | "${PYTHON3:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["Sub"])')\"" ]
e2e_syslog_mark pinned-bob
plant bob
emu_ctl DELETE requests >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "bob's token after alice's sub was pinned"
still_pending "pinned, bob's token"
e2e_check "audit: token_rejected identity_mismatch" \
	e2e_log_has 'event=token_rejected user=alice error=identity_mismatch'
e2e_check "nothing listed or deleted through bob's token" [ "$(calls)" = "GetUser" ]

# --- the default rule and the pin: another "alice" (re-created, or another pool's)
shipped
e2e_syslog_mark other-alice
emu_ctl POST users '{"Username": "alice", "Sub": "00000000-0000-4000-8000-00000000a11c",
	"Passkeys": [{"CredentialId": "alice-k1", "FriendlyCredentialName": "Stolen key"}]}' >/dev/null
plant alice
emu_ctl DELETE requests >/dev/null
e2e_drive sshd alice open_session
e2e_expect open_session PAM_IGNORE "a token of another user named alice"
still_pending "another alice"
e2e_check "audit: identity_mismatch for the other alice" \
	e2e_log_has 'event=token_rejected user=alice error=identity_mismatch detail=.*00000000-0000-4000-8000-00000000a11c'
e2e_check "nothing listed or deleted through it" [ "$(calls)" = "GetUser" ]
e2e_check "no token in any log line" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
e2e_done
