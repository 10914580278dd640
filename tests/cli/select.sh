#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Selectors: -n GLOB and --rp RPID choose by name and relying party, -c with an
# unknown id ends as passkey_absent, a glob that matches nothing completes with
# zero deletions; -L lists; --dry-run changes nothing; -d cancels.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

cli_user alice '[
 {"CredentialId": "yubi-c", "FriendlyCredentialName": "YubiKey 5C", "RelyingPartyId": "login.example.com"},
 {"CredentialId": "yubi-nano", "FriendlyCredentialName": "YubiKey Nano", "RelyingPartyId": "login.example.com"},
 {"CredentialId": "iphone", "FriendlyCredentialName": "iPhone", "RelyingPartyId": "other.example.com"},
 {"CredentialId": "laptop", "FriendlyCredentialName": "Work laptop", "RelyingPartyId": "login.example.com"}]'
cli_token alice
remaining() { cli_ids alice | sort | tr '\n' ' '; }

pr_out -L alice
cli_rc "-L alice" 0
cli_eq "-L lists four" "$(grep -c '^id=' "$SANDBOX/out")" 4
cli_check "-L line format" cli_out_has '^id=yubi-c name="YubiKey 5C" rp=login.example.com created=[0-9T:Z-]+'
pr_out -L --json alice
cli_check "-L --json" "$PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["passkeys"])==4 and d["passkeys"][0]["rp_id"]' "$SANDBOX/out"

# --- -n GLOB
pr_out -n 'YubiKey*' -r "yubikeys recalled" alice
cli_rc "flag -n 'YubiKey*'" 0
pr_out -x alice
cli_rc "-x (name glob)" 0
cli_eq "only the YubiKeys went" "$(remaining)" "iphone laptop "
cli_check "audit completed selector=name:YubiKey*" cli_log_has 'event=revocation_completed user=alice selector="?name:YubiKey\*"? deleted=2 absent=0 failed=0'

# --- --rp
pr_out --rp other.example.com alice
cli_rc "flag --rp" 0
pr_out -x alice
cli_rc "-x (relying party)" 0
cli_eq "only the other RP's passkey went" "$(remaining)" "laptop "

# --- -c unknown id: absent
cli_log_mark
pr_out -c no-such-credential -r "already replaced" alice
pr_out -x alice
cli_rc "-x (unknown id)" 0
cp "$SANDBOX/out" "$SANDBOX/out.unknown"
cli_check "ends as passkey_absent" cli_log_has 'event=passkey_absent user=alice credential=no-such-credential request=[0-9a-f-]{36} actor=root reason="already replaced"'
cli_eq "history: absent" "$(cli_history_count alice absent)" 1
cli_check "no pending file" test ! -e "$CLI_STATE/pending/alice"
cli_check "output says already gone" grep -q '^alice: already gone "" (no-such-credential)' "$SANDBOX/out.unknown"
pr_out -S alice
cli_check "status done" cli_out_has '^alice done .* absent=1 '

# --- -c twice: one real, one unknown
cli_user bob '[{"CredentialId": "b1"}, {"CredentialId": "b2"}]'
cli_token bob
pr_out -c b1 -c nope -c b1 bob
cli_rc "flag -c b1 -c nope" 0
pr_out -x bob
cli_rc "-x bob" 0
cli_eq "b1 deleted, b2 kept" "$(cli_ids bob)" "b2"
cli_eq "b1 deleted once" "$(cli_deletes b1)" 1
cli_eq "bob: 1 deleted, 1 absent" "$(cli_history_count bob deleted)/$(cli_history_count bob absent)" "1/1"

# --- a glob that matches nothing: completed, nothing deleted
cli_log_mark
pr_out -n 'Nothing*' alice
pr_out -x alice
cli_rc "-x (glob matches nothing)" 0
cli_eq "nothing deleted" "$(remaining)" "laptop "
cli_check "completed with deleted=0" cli_log_has 'event=revocation_completed user=alice selector=name:Nothing\* deleted=0 absent=0 failed=0'

# --- --dry-run: says what it would delete, changes nothing
pr_out -a alice
cp "$CLI_STATE/pending/alice" "$SANDBOX/pending.before"
hist_before=$(cli_history alice | wc -l)
deletes_before=$(cli_deletes)
pr_out -x --dry-run alice
cli_rc "-x --dry-run" 0
cli_check "would delete laptop" cli_out_has '^alice: would delete "Work laptop" \(laptop\)'
cli_eq "nothing deleted in dry run" "$(cli_deletes)" "$deletes_before"
cli_check "pending unchanged" cmp -s "$CLI_STATE/pending/alice" "$SANDBOX/pending.before"
cli_eq "history unchanged" "$(cli_history alice | wc -l)" "$hist_before"
pr_out --dry-run -a alice
cli_check "flag --dry-run writes nothing" cmp -s "$CLI_STATE/pending/alice" "$SANDBOX/pending.before"

# --- -d cancels
cli_log_mark
pr_out -d -r "found it" alice
cli_rc "-d alice" 0
cli_check "pending gone" test ! -e "$CLI_STATE/pending/alice"
cli_check "audit revocation_cancelled" cli_log_has 'event=revocation_cancelled user=alice selector=all actor=root reason="found it"'
cli_eq "history: cancelled" "$(cli_history_count alice cancelled)" 1
pr_out -S alice
cli_check "status cancelled" cli_out_has '^alice cancelled '
pr_out -d alice
cli_rc "-d with nothing pending" 0
cli_check "says nothing pending" cli_out_has 'nothing pending'
pr_out -x alice
cli_eq "laptop survives the cancelled request" "$(remaining)" "laptop "

cli_done
