#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The bash completion of passkey-revoke: options, user names with state,
# every account for a flag, credential ids from `passkey-revoke -L USER`.
# passkey-revoke is replaced by a function with fixed answers.
set -u
srcdir=${srcdir:-$(dirname "$0")}
status=0

passkey-revoke() {
	case "$*" in
	"-S -A") printf 'alice pending 2 requests since 2026-11-29T10:02Z\nbob done\n' ;;
	"-L alice") printf 'id=AbC123_-x name="YubiKey 5C" rp=example.com created=2026-10-02T08:11:09Z\nid="dEf456==" name=phone rp=example.com\n' ;;
	*) return 1 ;;
	esac
}
# shellcheck source=../../conf/bash-completion/passkey-revoke
. "$srcdir/../../conf/bash-completion/passkey-revoke" || exit 1

expect() {	# expect "WANT" WORD...: completing the last WORD offers WANT
	local want=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_passkey_revoke
	if [[ "${COMPREPLY[*]}" == "$want" ]]; then
		echo "ok: [$*] -> $want"
	else
		echo "FAIL: [$*] -> '${COMPREPLY[*]}', want '$want'"
		status=1
	fi
}

expect "--rp --reason --run --run-pending --rate" passkey-revoke --r
expect "alice bob" passkey-revoke -d ""
expect "alice bob" passkey-revoke -S ""
expect "alice" passkey-revoke -x al
expect "AbC123_-x dEf456==" passkey-revoke alice -c ""
expect "dEf456==" passkey-revoke -c AbC123_-x -r "lost key" alice -c d
expect "dEf456==" passkey-revoke --credential AbC123_-x --reason "lost key" alice --credential d
expect "alice bob" passkey-revoke --cancel ""
expect "--run --run-pending" passkey-revoke --run
expect "" passkey-revoke -c ""
expect "root" passkey-revoke -a roo
expect "" passkey-revoke -a alice ""
expect "" passkey-revoke -r ""
expect "1 2 4 8 16" passkey-revoke --run-pending -j ""
exit $status
