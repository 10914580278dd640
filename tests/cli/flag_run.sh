#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# flag -> -x -> gone: credentials deleted in the emulator, pending file gone,
# history holds one event per credential with its request id, status says
# done, audit lines in syslog; -a with 25 passkeys takes every page.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

# --- flag, status, run, status
cli_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}, {"FriendlyCredentialName": "Work laptop"}]'
cli_token alice
mapfile -t ids < <(cli_ids alice)

pr_out -a -r "lost laptop" alice
cli_rc "flag -a alice" 0
cli_check "pending file exists" test -f "$CLI_STATE/pending/alice"
cli_check "state_dir is 0711 root (search only: users reach summary/<user>)" test "$(stat -c %a:%u "$CLI_STATE")" = 711:0
cli_check "pending file is 0600" test "$(stat -c %a "$CLI_STATE/pending/alice")" = 600
cli_check "audit revocation_requested" cli_log_has 'passkey-revoke\[[0-9]+\]: pam_cognito_passkey\(passkey-revoke\): event=revocation_requested user=alice selector=all actor=root reason="lost laptop"'

pr_out -S alice
cli_rc "status" 0
cli_check "status says pending" cli_out_has '^alice pending 1 request since [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z$'

pr_out -x alice
cli_rc "-x alice" 0
cli_eq "passkeys left in the emulator" "$(cli_count alice)" 0
cli_check "pending file gone" test ! -e "$CLI_STATE/pending/alice"
cli_eq "history: deleted events" "$(cli_history_count alice deleted)" 3
cli_eq "history: completed events" "$(cli_history_count alice completed)" 1
for id in "${ids[@]}"; do
	cli_eq "deleted exactly once: $id" "$(cli_deletes "$id")" 1
	cli_check "history names $id with a request id" "$PYTHON3" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [e for e in evs if e["event"] == "deleted" and e["credential"] == sys.argv[2]
      and len(e.get("cognito_request", "")) > 10 and e["actor"] == "root" and e["reason"] == "lost laptop"]
sys.exit(0 if len(ok) == 1 else 1)' "$CLI_STATE/history/alice" "$id"
done
cli_check "output names the deleted passkey" cli_out_has '^alice: deleted "YubiKey 5C" \('
cli_check "audit passkey_deleted with name and request" cli_log_has 'event=passkey_deleted user=alice credential=[^ ]+ name="YubiKey 5C" request=[0-9a-f-]{36} actor=root reason="lost laptop" run_by=root'
cli_check "audit revocation_completed" cli_log_has 'event=revocation_completed user=alice selector=all deleted=3 absent=0 failed=0 actor=root reason="lost laptop"'
cli_eq "three passkey_deleted lines" "$(cli_log_count 'event=passkey_deleted user=alice')" 3

pr_out -S alice
cli_check "status says done" cli_out_has '^alice done [0-9T:Z-]+ deleted=3 absent=0 failed=0$'
pr_out -x alice
cli_rc "-x again: nothing pending" 0
cli_check "says nothing pending" cli_out_has '^alice: nothing pending$'

pr_out --history alice
cli_rc "--history" 0
cli_eq "history lines" "$(grep -c . "$SANDBOX/out")" 5
pr_out --history --json alice
cli_check "--history --json parses" "$PYTHON3" -c 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 5' "$SANDBOX/out"

# --- 25 passkeys: every page
cli_user_count bob 25
cli_token bob
pr_out -a bob
pr_out -x --json bob
cli_rc "-x bob (25 passkeys)" 0
cli_eq "bob has no passkey left" "$(cli_count bob)" 0
cli_eq "bob: 25 deleted events" "$(cli_history_count bob deleted)" 25
cli_check "json result" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["user"] == "bob" and d["status"] == "done" and d["deleted"] == 25, d
assert len([o for o in d["outcomes"] if o["outcome"] == "deleted"]) == 25' "$SANDBOX/out"
cli_check "ListWebAuthnCredentials took two pages" test "$(cli_calls ListWebAuthnCredentials)" -ge 2

# --- -S -A and --json status
pr_out -S -A
cli_check "-S -A lists alice and bob" cli_out_has '^alice done'
cli_check "-S -A lists bob" cli_out_has '^bob done'
pr_out -S --json alice
cli_check "-S --json" "$PYTHON3" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["state"]=="done" and d[0]["deleted"]==3' "$SANDBOX/out"

cli_done
