#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Mistakes only an administrator can fix (a missing or non-PEM ca_file, a
# broken client_secret_file, an endpoint that is not Cognito) are
# configuration errors, not outages: exit 1 with the key and the file named,
# action=administrator on the audit line, -S says config_error (or the
# endpoint's own code, with a hint to check endpoint_url), fail=closed
# refuses the session, and the revocation stays pending.  A token cache that
# is not there is named by its expanded path.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_service sshd "fail=closed"

e2e_user carol '[{"FriendlyCredentialName": "Key"}]'
e2e_token carol
e2e_revoke -a -r "left the company" carol

# admin_error WHAT KEY PATTERN [ERROR]: -x carol under the current $E2E_CONF
admin_error() {
	local what=$1 key=$2 pattern=$3 error=${4:-config_error} rc=0 before
	before=$(e2e_requests)
	e2e_syslog_mark "$what"
	e2e_revoke -x carol >"$SANDBOX/x.out" 2>&1 || rc=$?
	e2e_check "$what: -x exits 1 (got $rc)" [ "$rc" = 1 ]
	e2e_check "$what: the message names $key" grep -q -- "$key" "$SANDBOX/x.out"
	e2e_check "$what: the message names the file" grep -qF -- "$pattern" "$SANDBOX/x.out"
	e2e_check "$what: audited error=$error action=administrator" \
		e2e_log_has "event=revocation_deferred user=carol error=$error .*action=administrator"
	e2e_check "$what: no token_rejected (the token is fine)" e2e_log_lacks "event=token_rejected"
	e2e_check "$what: -S says $error" \
		bash -c "'$CPK_PASSKEY_REVOKE' --config '$E2E_CONF' -S carol | grep -q 'last_error=$error'"
	e2e_check "$what: still pending" [ -f "$E2E_STATE/pending/carol" ]
	e2e_check "$what: carol's passkey is still there" [ "$(e2e_passkey_count carol)" = 1 ]
	[ "$key" = endpoint_url ] ||
		e2e_check "$what: nothing reached the service" [ "$(e2e_requests)" = "$before" ]
}

# ---- ca_file missing, then not PEM
e2e_config "ca_file = $SANDBOX/no-such-ca.pem"
admin_error "missing ca_file" ca_file "$SANDBOX/no-such-ca.pem"
e2e_drive sshd carol open_session
e2e_expect open_session PAM_SYSTEM_ERR "missing ca_file with fail=closed"

printf 'this is not a certificate\n' >"$SANDBOX/junk.pem"
e2e_config "ca_file = $SANDBOX/junk.pem"
admin_error "non-PEM ca_file" ca_file "$SANDBOX/junk.pem"

# ---- client_secret_file missing: seen when the expired token is refreshed
e2e_token carol '"Ttl": -300'
e2e_config "client_secret_file = $SANDBOX/no-such-secret"
admin_error "missing client_secret_file" client_secret_file "$SANDBOX/no-such-secret"

# ---- an endpoint that does not speak Cognito's protocol
e2e_token carol
e2e_config
emu_ctl POST faults '{"Operation": "ListWebAuthnCredentials", "Faults": ["error:UnknownOperationException"]}' >/dev/null
admin_error "UnknownOperationException" endpoint_url "check endpoint_url" UnknownOperationException
emu_ctl POST faults '{"Operation": "ListWebAuthnCredentials", "Faults": ["http:404"]}' >/dev/null
admin_error "HTTP 404 without a Cognito error code" endpoint_url "check endpoint_url" HTTP404

# ---- the token cache not found: the expanded path is named
e2e_config
cache="$(getent passwd carol | cut -d: -f6)/.cache/cognito/tokens.json"
rm -f "$cache"
rc=0
e2e_revoke -x carol >"$SANDBOX/x.out" 2>&1 || rc=$?
e2e_check "no token cache: stays pending (exit $rc)" [ "$rc" = 2 ]
e2e_check "not_found names the expanded path" \
	e2e_log_has "event=token_rejected user=carol error=not_found detail=\"the token cache $cache"

# ---- mended: it completes
e2e_token carol
e2e_check "with the configuration fixed it completes" e2e_revoke -x carol
e2e_check "carol's passkey is gone" [ "$(e2e_passkey_count carol)" = 0 ]
e2e_done
