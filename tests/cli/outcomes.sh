#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Every answer of doc/DESIGN.md's outcome table, produced by an emulator fault on
# DeleteWebAuthnCredential, recorded as the table says; token problems too.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

# A fresh case: alice has k1 and k2, a valid token, and "-a" pending.
fresh() {
	emu_ctl DELETE faults >/dev/null
	pr -d alice >/dev/null
	rm -f "$CLI_STATE/history/alice"
	cli_user alice '[{"CredentialId": "k1", "FriendlyCredentialName": "Key one"},
	                 {"CredentialId": "k2", "FriendlyCredentialName": "Key two"}]'
	cli_token alice "${1:-}"
	pr -a -r "case" alice >/dev/null
	emu_ctl DELETE requests >/dev/null
	cli_log_mark
}
left() { cli_ids alice | tr '\n' ' '; }
attempts() {
	"$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"][0]["attempts"])' \
		"$CLI_STATE/pending/alice"
}

# --- 200: covered everywhere; ResourceNotFoundException: absent, counts as done
fresh
cli_fault DeleteWebAuthnCredential '["error:ResourceNotFoundException"]'
pr_out -x alice
cli_rc "ResourceNotFoundException -> done" 0
cli_eq "absent/deleted in history" "$(cli_history_count alice absent)/$(cli_history_count alice deleted)" "1/1"
cli_check "audit passkey_absent" cli_log_has 'event=passkey_absent user=alice credential=k1 name="Key one"'
cli_check "nothing pending" test ! -e "$CLI_STATE/pending/alice"

# --- NotAuthorizedException once: refresh, retry, done
fresh
cli_fault DeleteWebAuthnCredential '["error:NotAuthorizedException:Access Token has been revoked"]'
refreshes=$(cli_calls GetTokensFromRefreshToken)
pr_out -x alice
cli_rc "NotAuthorizedException once -> refresh -> done" 0
cli_eq "both gone" "$(left)" ""
cli_eq "one refresh" "$(cli_calls GetTokensFromRefreshToken)" $((refreshes + 1))
cli_check "audit token_refreshed" cli_log_has 'event=token_refreshed user=alice'
cli_eq "k1 deleted once" "$(cli_deletes k1)" 1

# --- NotAuthorizedException again after the refresh: stays pending
fresh
cli_fault DeleteWebAuthnCredential '["error:NotAuthorizedException", "error:NotAuthorizedException"]'
pr_out -x alice
cli_rc "NotAuthorizedException twice -> pending" 2
cli_eq "both kept" "$(left)" "k1 k2 "
cli_check "audit revocation_deferred" cli_log_has 'event=revocation_deferred user=alice error=NotAuthorizedException detail="Access Token has been revoked" attempts=1'
pr_out -S alice
cli_check "status: pending last_error attempts" cli_out_has '^alice pending 1 request since [0-9T:Z-]+ last_error=NotAuthorizedException attempts=1$'
cli_eq "history: deferred" "$(cli_history_count alice deferred)" 1
pr_out -x alice
cli_rc "next run with a good token" 0
cli_eq "both gone now" "$(left)" ""

# --- errors that stay pending for the administrator
for code in ForbiddenException PasswordResetRequiredException OperationNotEnabledException \
	UserNotFoundException; do
	fresh
	cli_fault DeleteWebAuthnCredential "[\"error:$code\"]"
	pr_out -x alice
	cli_rc "$code -> pending" 2
	cli_eq "$code: both kept" "$(left)" "k1 k2 "
	cli_check "$code: deferred, administrator action" \
		cli_log_has "event=revocation_deferred user=alice error=$code detail=.* attempts=1 action=administrator"
	cli_check "$code: pending file kept" test -f "$CLI_STATE/pending/alice"
	cli_check "$code: last_error recorded" grep -q "\"last_error\":\"$code\"" "$CLI_STATE/pending/alice"
	cli_check "$code: stderr tells the administrator" cli_err_has "error=$code"
done

# --- retried with backoff: one throttle, then success
fresh
cli_fault DeleteWebAuthnCredential '["throttle"]'
pr_out -x alice
cli_rc "one TooManyRequestsException -> retried -> done" 0
cli_eq "both gone after the retry" "$(left)" ""

# --- retried until max_attempts (3), then pending; the other credential is
# not tried (it would meet the same)
for fault in throttle limit internal http:503; do
	fresh
	cli_fault DeleteWebAuthnCredential "[\"$fault\", \"$fault\", \"$fault\"]"
	pr_out -x alice
	cli_rc "$fault x3 -> pending" 2
	cli_eq "$fault: both kept" "$(left)" "k1 k2 "
	cli_check "$fault: deferred" cli_log_has 'event=revocation_deferred user=alice error=[A-Za-z]+'
	cli_eq "$fault: 3 attempts, then stopped" "$(cli_calls DeleteWebAuthnCredential)" 3
done
# network: connections reset (libcurl may resend once on a reused connection)
fresh
cli_fault DeleteWebAuthnCredential '["reset", "reset", "reset", "reset", "reset", "reset", "reset", "reset"]'
pr_out -x alice
cli_rc "connection resets -> pending" 2
cli_eq "reset: both kept" "$(left)" "k1 k2 "
cli_check "reset: deferred" cli_log_has 'event=revocation_deferred user=alice error=TransportError'
# attempts grow run after run
fresh
cli_fault DeleteWebAuthnCredential '["forbidden", "forbidden"]'
pr -x alice >/dev/null 2>&1 || true
pr -x alice >/dev/null 2>&1 || true
cli_eq "attempts after two deferred runs" "$(attempts)" 2

# --- InvalidParameterException: that credential fails for good, the rest go on
fresh
cli_fault DeleteWebAuthnCredential '["error:InvalidParameterException:1 validation error detected"]'
pr_out -x alice
cli_rc "InvalidParameterException -> failed" 3
cli_eq "k2 still deleted" "$(left)" "k1 "
cli_check "audit revocation_failed for k1" cli_log_has 'event=revocation_failed user=alice credential=k1 name="Key one" request=[0-9a-f-]+ actor=root reason=case error=InvalidParameterException'
cli_check "request-level revocation_failed" cli_log_has 'event=revocation_failed user=alice selector=all deleted=1 absent=0 failed=1'
cli_check "not pending any more" test ! -e "$CLI_STATE/pending/alice"
cli_check "output names the failure" cli_out_has '^alice: failed "Key one" \(k1\): InvalidParameterException'
pr_out -S alice
cli_check "status failed" cli_out_has '^alice failed .* failed=1 last_error=InvalidParameterException$'

# --- token problems
fresh '"Ttl": -30'
pr_out -x alice
cli_rc "expired token -> refreshed -> done" 0
cli_check "token_refreshed" cli_log_has 'event=token_refreshed user=alice'

# a refresh that fails for a transient reason says nothing about the token:
# deferred with the real error, no token_rejected; a refused refresh token is
cli_config "max_attempts = 1"
fresh '"Ttl": -30'
cli_fault GetTokensFromRefreshToken '["internal"]'
pr_out -x alice
cli_rc "refresh answered InternalErrorException -> pending" 2
cli_check "deferred InternalErrorException" \
	cli_log_has 'event=revocation_deferred user=alice error=InternalErrorException'
cli_eq "no token_rejected" "$(cli_log_count 'event=token_rejected')" 0
fresh '"Ttl": -30'
cli_fault GetTokensFromRefreshToken '["error:NotAuthorizedException:Refresh Token has expired"]'
pr_out -x alice
cli_rc "refresh token refused -> pending" 2
cli_check "token_rejected NotAuthorizedException" \
	cli_log_has 'event=token_rejected user=alice error=NotAuthorizedException'
cli_config

cli_config "refresh = no"
fresh '"Ttl": -30'
pr_out -x alice
cli_rc "expired token, refresh = no -> pending" 2
cli_check "token_rejected expired" cli_log_has 'event=token_rejected user=alice error=expired'
cli_check "deferred expired" cli_log_has 'event=revocation_deferred user=alice error=expired'
cli_config

fresh
chmod 0644 "$SANDBOX/home/alice/.cache/cognito/tokens.json"
pr_out -x alice
cli_rc "token mode 0644 -> pending" 2
cli_check "token_rejected mode_too_open" cli_log_has 'event=token_rejected user=alice error=mode_too_open'
cli_check "deferred mode_too_open" cli_log_has 'event=revocation_deferred user=alice error=mode_too_open .*attempts=1'
cli_eq "nothing deleted with a refused token" "$(left)" "k1 k2 "

fresh
rm -f "$SANDBOX/home/alice/.cache/cognito/tokens.json"
pr_out -x alice
cli_rc "no token -> pending" 2
cli_check "token_rejected not_found" cli_log_has 'event=token_rejected user=alice error=not_found'

fresh '"Scope": "openid"'
pr_out -x alice
cli_rc "token without the admin scope -> pending" 2
cli_check "token_rejected missing_scope" cli_log_has 'event=token_rejected user=alice error=missing_scope'

cli_done
