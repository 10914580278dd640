#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Hostile text and state, as an attacker (or a broken disk) would write them:
#  - a token whose claims hold terminal escapes, passkey names with C1
#     controls and invalid UTF-8 in state files: nothing that reaches the
#     terminal holds a control byte, every --json output parses as strict
#     UTF-8 JSON, and truncation never cuts a character;
#  - the pending-file writer refuses what the reader would call corrupt,
#     and no read-only command renames or changes state;
#  - a corrupt pending file is never "nothing pending": it stays where the
#     module's fast path sees it, -x is a system error, -S says corrupt,
#     flagging over it changes nothing, --discard-corrupt resolves it with
#     a history event and an audit line.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

# clean FILE: no byte < 0x20 but newline, no DEL, and valid UTF-8
clean() {
	"$PYTHON3" -c '
import sys
b = open(sys.argv[1], "rb").read()
b.decode("utf-8")
bad = [c for c in b if (c < 0x20 and c != 0x0a) or c == 0x7f]
sys.exit(1 if bad else 0)' "$1"
}
# json_ok FILE: one strict JSON document
json_ok() {
	"$PYTHON3" -c 'import json,sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$1"
}
outputs_clean() {
	clean "$SANDBOX/out" && clean "$SANDBOX/err"
}
snapshot() {
	find "$CLI_STATE" -printf '%p %s %T@ %m\n' | sort
}

# ------------------------------------ no control byte reaches the terminal
# -L with a token whose issuer sets the title, clears the screen (ESC, BEL, C1 CSI)
cli_user alice '[{"CredentialId": "k1", "FriendlyCredentialName": "Key \u009b2J \u001b]0;x\u0007 caf\u00e9"}]'
cli_token alice '"Issuer": "https://evil.example/\u001b]0;owned\u0007\u001b[2J\u009b2Jall passkeys deleted\u00e9"'
pr_out -L alice
cli_rc "-L with a foreign issuer is refused" 1
cli_check "-L: the issuer is named, escaped" cli_err_has 'evil\.example/\\x1b\]0;owned\\x07\\x1b\[2J\\xc2\\x9b2Jall passkeys deleted'
cli_check "-L: no control byte reaches the terminal" outputs_clean

cli_token alice
pr_out -L alice --json
cli_rc "-L --json" 0
cli_check "-L --json parses" json_ok "$SANDBOX/out"
cli_check "-L --json: nothing a terminal acts on" outputs_clean
pr_out -L alice
cli_check "-L: names escaped" outputs_clean

pr_out -a alice
pr_out -x alice
cli_rc "-x deletes the oddly named passkey" 0
cli_check "-x: the name is shown escaped" cli_out_has 'deleted "Key \\xc2\\x9b2J'
cli_check "-x: no control byte" outputs_clean
cli_user alice '[{"CredentialId": "k2", "FriendlyCredentialName": "\u00e9\u00e9\u009b"}]'
pr_out -a alice
pr_out -x alice --json
cli_check "-x --json parses" json_ok "$SANDBOX/out"
cli_check "-x --json: no control byte" outputs_clean

# state files with invalid UTF-8, controls and a multibyte error at the
# 96-byte status field's limit (a cut there used to make invalid JSON)
long=$("$PYTHON3" -c 'print("\u00e9" * 60)')
printf '{"version": 1, "user": "bob", "requests": [{"id": "r-1-00", "selector": "all", "actor": "root", "requested_at": 1, "attempts": 1, "last_attempt_at": 2, "last_error": "%s", "last_detail": "bad \377\376 \033[2J", "reason": "x\302\233y"}]}\n' "$long" >"$CLI_STATE/pending/bob"
printf '{"time": 5, "event": "failed", "credential": "k\377", "name": "\033]0;t\007\377\340\200", "error": "%s"}\n{"time": 6, "event": "failed"}\n' "$long" >"$CLI_STATE/history/bob"
for args in "-S bob" "-S bob --json" "-S -A --json" "--history bob --json" "--history bob"; do
	# shellcheck disable=SC2086
	pr_out $args
	cli_rc "$args" 0
	cli_check "$args: no control byte, valid UTF-8" outputs_clean
	case $args in *--json*) cli_check "$args parses" json_ok "$SANDBOX/out" ;; esac
done
rm -f "$CLI_STATE/pending/bob" "$CLI_STATE/history/bob"

# ------------------------ the writer refuses what the reader calls corrupt
# ids of 100000 bytes, 12 a flag: about 1.2 MB a request, so the fourth
# would make the file larger than the 4 MiB the reader accepts
ids() {
	"$PYTHON3" -c '
import sys
for i in range(12):
    print("-c"); print(("%s%02d" % (sys.argv[1], i)) * 1 + "A" * 99990)' "$1"
}
pr_out -a carol
cli_rc "carol: -a flagged" 0
for k in a b c d; do
	mapfile -t args < <(ids "$k")
	pr_out "${args[@]}" carol
	[ "$RC" = 0 ] || break
done
cli_rc "the flag that would pass the reader's cap is refused" 1
cli_check "the error names the file and the cap" cli_err_has "refused: .*/pending/carol would be [0-9]+ bytes, more than the 4194304"
cli_check "the file is still within the cap" test "$(stat -c %s "$CLI_STATE/pending/carol")" -le 4194304
before=$(snapshot)
pr_out -S carol
cli_rc "-S carol" 0
cli_check "-S: still pending, the -a among them" cli_out_has '^carol pending 4 requests'
pr_out --history carol --json
pr_out -S -A --json
cli_eq "no read-only command changes state" "$(snapshot)" "$before"
cli_check "nothing set aside" bash -c "! ls -a '$CLI_STATE/pending' | grep -q corrupt"
pr_out -d carol

# ------------------------------ a corrupt pending file is never "nothing"
printf 'garbage' >"$CLI_STATE/pending/carol"
before=$(snapshot)
pr_out -S carol
cli_rc "-S on a corrupt file" 0
cli_check "-S says corrupt" cli_out_has '^carol corrupt kept=.*/pending/carol( |$)'
pr_out -S -A --json
cli_check "-S -A --json says corrupt" bash -c "'$PYTHON3' -c 'import json,sys; d=[u for u in json.load(open(sys.argv[1])) if u[\"user\"]==\"carol\"]; sys.exit(0 if d and d[0][\"state\"]==\"corrupt\" and d[0][\"corrupt_file\"].endswith(\"/pending/carol\") else 1)' '$SANDBOX/out'"
cli_eq "-S moved nothing" "$(snapshot)" "$before"
pr_out -x carol
cli_rc "-x on a corrupt file is a system error, not 'nothing pending'" 1
cli_check "-x says corrupt_state" cli_out_has '^carol: not carried out: corrupt_state'
cli_check "audit at LOG_ALERT" cli_log_has '<81>.*event=revocation_failed user=carol error=corrupt_state'
pr_out -a carol
cli_rc "flagging over a corrupt file is refused" 1
cli_check "says how to resolve" cli_err_has 'discard-corrupt carol'
pr_out -d carol
cli_rc "cancelling over a corrupt file is refused" 1
cli_eq "nothing changed" "$(snapshot)" "$before"
pr_out -S carol
cli_check "still corrupt" cli_out_has '^carol corrupt'
pr_out --discard-corrupt carol
cli_rc "--discard-corrupt" 0
cli_check "audit: state_corrupt at LOG_ALERT" cli_log_has '<81>.*event=state_corrupt user=carol action=discarded file=.*/pending/carol'
cli_eq "history event" "$(cli_history_count carol discarded)" 1
cli_check "file removed" test ! -e "$CLI_STATE/pending/carol"
pr_out -S carol
cli_check "no longer corrupt" bash -c "! grep -q corrupt '$SANDBOX/out'"

# a file an earlier version kept aside counts until it is discarded
printf 'old' >"$CLI_STATE/pending/.corrupt.carol.100"
pr_out -S carol
cli_check "a kept file from an earlier version shows as corrupt" cli_out_has '^carol corrupt kept=.*/pending/\.corrupt\.carol\.100'
pr_out -a carol
pr_out -d carol
pr_out -S carol
cli_check "flag and cancel do not hide it" cli_out_has '^carol corrupt'
pr_out --discard-corrupt carol
cli_check "discarded" test ! -e "$CLI_STATE/pending/.corrupt.carol.100"

cli_done
