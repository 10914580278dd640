#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The engine's report (what the PAM module's notify reads from the helper):
# one tab-separated line per outcome, names made safe, no token ever; the
# helper's audit lines carry the PAM service and type.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"
[ -x "${CPK_HELPER:-}" ] || cli_skip "cognito-passkey-helper not built"

helper() {
	RC=0
	"$CPK_HELPER" alice sshd session "conf=$CLI_CONF" "$@" >"$SANDBOX/out" 2>"$SANDBOX/err" </dev/null || RC=$?
	OUT=$(cat "$SANDBOX/out")
	ERR=$(cat "$SANDBOX/err")
}
tab=$'\t'

cli_user alice '[{"CredentialId": "k1", "FriendlyCredentialName": "YubiKey 5C"},
                 {"CredentialId": "k2", "FriendlyCredentialName": "evil\tname\nline2"},
                 {"CredentialId": "k3", "FriendlyCredentialName": "Clé"}]'
cli_token alice
pr -c k1 -c k2 -c k3 -c nope alice >/dev/null

helper dry_run=yes
cli_rc "dry run" 0
cli_eq "dry run: would_delete lines" "$(grep -c "^would_delete$tab" "$SANDBOX/out")" 4
cli_check "dry run: name and id" grep -qx "would_delete${tab}YubiKey 5C${tab}k1" "$SANDBOX/out"
cli_eq "dry run: nothing deleted" "$(cli_count alice)" 3

cli_fault DeleteWebAuthnCredential '["ok", "error:InvalidParameterException"]'
cli_log_mark
helper
cli_rc "a credential refused for good -> 3" 3
cli_check "deleted line" grep -qx "deleted${tab}YubiKey 5C${tab}k1" "$SANDBOX/out"
cli_check "failed line with the code" grep -qx "failed${tab}evil\\\\x09name\\\\x0aline2${tab}k2${tab}InvalidParameterException" "$SANDBOX/out"
cli_check "UTF-8 names pass" grep -qx "deleted${tab}Clé${tab}k3" "$SANDBOX/out"
cli_check "absent line (name unknown)" grep -qx "absent${tab}${tab}nope" "$SANDBOX/out"
cli_eq "four lines, one per outcome" "$(wc -l <"$SANDBOX/out")" 4
cli_check "every line has 3 or 4 fields" awk -F'\t' 'NF < 3 || NF > 4 { exit 1 }' "$SANDBOX/out"
cli_check "no token in the report" bash -c "! grep -q 'eyJ' '$SANDBOX/out'"
cli_check "audit origin is the PAM service" cli_log_has 'pam_cognito_passkey\(sshd:session\): event=passkey_deleted user=alice credential=k1 name="YubiKey 5C" .* run_by=pam:sshd'

cli_user alice '[{"CredentialId": "k4"}]'
pr -a alice >/dev/null
cli_fault DeleteWebAuthnCredential '["forbidden"]'
helper
cli_rc "stays pending -> 2" 2
cli_check "pending line with code and detail" grep -qx "pending${tab}ForbiddenException${tab}Request not allowed due to WAF block." "$SANDBOX/out"

emu_ctl DELETE faults >/dev/null
helper
cli_rc "then done -> 0" 0
helper
cli_rc "nothing pending -> 0" 0
cli_eq "nothing pending: no line" "$(wc -c <"$SANDBOX/out")" 0

cli_done
