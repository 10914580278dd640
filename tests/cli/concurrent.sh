#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Ten `passkey-revoke -x` for the same user at once: each credential is
# deleted exactly once (the emulator's request log).  Ten flags at once: no
# request is lost.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

emu_ctl POST latency '{"Milliseconds": 50}' >/dev/null
cli_user alice '[{"CredentialId": "c1"}, {"CredentialId": "c2"}, {"CredentialId": "c3"},
                 {"CredentialId": "c4"}, {"CredentialId": "c5"}]'
cli_token alice

# --- ten flags at once, each for one id: all ten requests end up pending
pids=()
for i in 1 2 3 4 5 6 7 8 9 10; do
	pr -c "c$(( (i - 1) % 5 + 1 ))" -r "flag $i" alice >/dev/null 2>"$SANDBOX/flag-$i.err" &
	pids+=($!)
done
bad=0
for pid in "${pids[@]}"; do
	wait "$pid" || bad=$((bad + 1))
done
cli_eq "ten concurrent flags succeed" "$bad" 0
cli_eq "ten requests pending" "$("$PYTHON3" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["requests"]))' "$CLI_STATE/pending/alice")" 10
cli_eq "ten requested events" "$(cli_history_count alice requested)" 10
pr -d alice >/dev/null

# --- ten runs at once
pr -a -r "all at once" alice >/dev/null
emu_ctl DELETE requests >/dev/null
pids=()
for i in 1 2 3 4 5 6 7 8 9 10; do
	pr -x alice >"$SANDBOX/run-$i.out" 2>"$SANDBOX/run-$i.err" &
	pids+=($!)
done
bad=0
for pid in "${pids[@]}"; do
	wait "$pid" || bad=$((bad + 1))
done
cli_eq "all ten runs exit 0" "$bad" 0
cli_eq "no passkey left" "$(cli_count alice)" 0
for id in c1 c2 c3 c4 c5; do
	cli_eq "$id deleted exactly once" "$(cli_deletes "$id")" 1
done
cli_eq "five DeleteWebAuthnCredential calls in all" "$(cli_calls DeleteWebAuthnCredential)" 5
cli_eq "one listing in all (the others found nothing pending)" "$(cli_calls ListWebAuthnCredentials)" 1
cli_eq "five deleted events" "$(cli_history_count alice deleted)" 5
cli_eq "one completed event" "$(cli_history_count alice completed)" 1
cli_eq "nine runs found nothing to do" "$(cat "$SANDBOX"/run-*.out | grep -c 'nothing pending')" 9
cli_check "pending file gone" test ! -e "$CLI_STATE/pending/alice"

cli_done
