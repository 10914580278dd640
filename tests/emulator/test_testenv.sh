#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Tests of testenv.sh, the bash API the end-to-end tests and the demo use:
# emu_start / emu_ctl / emu_wrong_ca / emu_stop, under set -u.
set -u

srcdir=${srcdir:-$(dirname "$0")}
. "$srcdir/testenv.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/emu-testenv.XXXXXX") || exit 99
main_pid=$$
# Hard bound on the whole test.
(
	sleep 120 &
	s=$!
	trap 'kill $s 2>/dev/null; exit 0' TERM
	wait "$s"
	echo "TIMEOUT: test_testenv.sh took more than 120 s" >&2
	kill -TERM "$main_pid"
) &
watchdog=$!
cleanup() {
	emu_stop >/dev/null 2>&1
	kill "$watchdog" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

failed=0
matches() { [[ $1 =~ $2 ]]; }
not() { ! "$@"; }
check() {
	local what=$1
	shift
	if "$@"; then
		echo "ok - $what"
	else
		echo "FAIL - $what"
		failed=1
	fi
}

secret=testenvSecret0123456789abcdef
emu_start "$work/a" --client-secret "$secret" --access-token-ttl 120
rc=$?
if [ "$rc" -eq 77 ]; then
	echo "SKIP: emu_start cannot run here (openssl or python3 missing)"
	exit 77
fi
check "emu_start returns 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || exit 1

check "EMU_URL is https://127.0.0.1:PORT/" matches "$EMU_URL" '^https://127\.0\.0\.1:[0-9]+/$'
check "EMU_PORT matches EMU_URL" [ "$EMU_URL" = "https://127.0.0.1:$EMU_PORT/" ]
check "EMU_CA is WORKDIR/ca.pem" [ "$EMU_CA" = "$work/a/ca.pem" ]
check "EMU_CA is not empty" [ -s "$EMU_CA" ]
check "EMU_WORKDIR" [ "$EMU_WORKDIR" = "$work/a" ]
check "emulator is running" kill -0 "$EMU_PID"
check "CA key is gone" [ ! -e "$work/a/ca.key" ]
check "server certificate verifies against EMU_CA" \
	openssl verify -CAfile "$EMU_CA" "$work/a/server.pem"
check "startup line in EMU_LOG" grep -q "listening on $EMU_URL" "$EMU_LOG"
check "the secret is not logged" not grep -q "$secret" "$EMU_LOG"

out=$(emu_ctl POST users '{"Username":"alice","PasskeyCount":2}')
check "emu_ctl POST users" [ $? -eq 0 ]
check "emu_ctl prints the answer" grep -q '"Username": "alice"' <<<"$out"
out=$(emu_ctl GET users/alice)
check "short PATH form" grep -q '"Deleted": \[\]' <<<"$out"
out=$(emu_ctl GET /_emulator/config)
check "extra emulator args reach it" grep -q '"HasClientSecret": true' <<<"$out"
check "extra emulator args reach it (ttl)" grep -q '"AccessTokenTtl": 120' <<<"$out"
emu_ctl GET users/nobody >/dev/null 2>&1
check "HTTP 404 -> status 1" [ $? -eq 1 ]
emu_ctl GET >/dev/null 2>&1
check "usage error -> status 2" [ $? -eq 2 ]
emu_ctl POST faults '{not json' >/dev/null 2>&1
check "bad JSON argument -> status 2" [ $? -eq 2 ]

wrong=$(emu_wrong_ca "$work/a")
check "emu_wrong_ca prints a CA file" [ -s "$wrong" ]
check "the wrong CA is another certificate" not cmp -s "$wrong" "$EMU_CA"
check "the wrong CA has no key left" [ ! -e "$work/a/wrong-ca.key" ]
EMU_CA=$wrong emu_ctl GET health >/dev/null 2>&1
check "TLS with the wrong CA fails (status 3)" [ $? -eq 3 ]
check "emulator survives the failed handshake" emu_ctl GET health >/dev/null

emu_start "$work/b" >/dev/null 2>&1
check "a second emu_start is refused while one runs" [ $? -eq 1 ]

pid=$EMU_PID
first_ca=$(cat "$EMU_CA")
emu_stop
check "emu_stop returns the clean exit status 0" [ $? -eq 0 ]
check "the emulator is gone" not kill -0 "$pid" 2>/dev/null
check "shutdown logged" grep -q "stopped" "$EMU_LOG"
emu_stop
check "emu_stop twice is harmless" [ $? -eq 0 ]

start=$SECONDS
emu_start "$work/c" --client-secret short 2>"$work/c.err"
rc=$?
check "emu_start with bad arguments fails" [ "$rc" -eq 1 ]
check "... quickly" [ $((SECONDS - start)) -lt 15 ]
check "... showing the emulator's complaint" grep -q "client-secret" "$work/c.err"

emu_start "$work/a"
check "restart in the same WORKDIR" [ $? -eq 0 ]
check "a fresh CA each time" [ "$(cat "$EMU_CA")" != "$first_ca" ]
check "state starts empty" grep -q '"Users": \[\]' <<<"$(emu_ctl GET users)"
emu_stop

exit "$failed"
