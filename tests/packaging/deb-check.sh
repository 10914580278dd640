#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The Debian package on this machine, end to end:
#
#   sudo tests/packaging/deb-check.sh ../libpam-cognito-passkey_0.1.0_amd64.deb
#
# dpkg -i; every file where Debian wants it; the state directory 0700; the
# conffile; pam-auth-update knows the profile (off by default) and can turn
# it on and off; then, in a private mount namespace (test users, syslog
# captured; tests/sandbox.sh), a session through a real /etc/pam.d service
# (/etc/pam.d/cpk-test, the module named by its bare name, so libpam loads
# the installed one) opened by pamtester revokes alice's passkeys in the
# local Cognito-compatible service, with the installed helper and command;
# finally dpkg -r removes it cleanly and pam-auth-update no longer lists it,
# and dpkg --purge removes the conffile and the state.
#
# Changes this machine: installs and removes the package, creates and
# removes /etc/pam.d/cpk-test.  Exit status 0 only when every check passed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
pkg=libpam-cognito-passkey
service=cpk-test
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
module=/lib/$multiarch/security/pam_cognito_passkey.so
helper=/usr/libexec/cognito-passkey-helper
command=/usr/sbin/passkey-revoke
fails=0

ok() { echo "ok - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() {	# check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
not() { ! "$@"; }
pam_lines() {	# pam_lines: the module's lines in the common stacks
	grep -h pam_cognito_passkey /etc/pam.d/common-session /etc/pam.d/common-password \
		/etc/pam.d/common-session-noninteractive 2>/dev/null
}

# ------------------------------------------------- inside the namespace
if [ "${1:-}" = --session ]; then
	# shellcheck source=../emulator/testenv.sh
	. "$top/tests/emulator/testenv.sh"
	work=$SANDBOX
	# syslog: our own /dev/log, in this namespace only
	"${PYTHON3:-python3}" "$top/tests/syslog_sink.py" "$work/log.sock" "$work/syslog" &
	sink=$!
	for _ in $(seq 100); do [ -S "$work/log.sock" ] && break; sleep 0.05; done
	if [ -e /dev/log ] || [ -L /dev/log ]; then
		mount --bind "$work/log.sock" /dev/log
	else
		# /dev has no log entry: shadow /dev with a tmpfs holding the
		# original entries plus ours (as tests/e2e/lib.sh does)
		exec {fd}</dev
		mapfile -d '' names < <(find "/proc/$$/fd/$fd/" -mindepth 1 -maxdepth 1 -printf '%f\0')
		mount -t tmpfs -o mode=0755 cpk-dev /dev
		for n in "${names[@]}"; do
			src="/proc/$$/fd/$fd/$n"
			if [ -L "$src" ]; then cp -P "$src" "/dev/$n"
			elif [ -d "$src" ]; then mkdir "/dev/$n"; mount --rbind "$src" "/dev/$n"
			else : >"/dev/$n"; mount --bind "$src" "/dev/$n"; fi
		done
		exec {fd}<&-
		: >/dev/log
		mount --bind "$work/log.sock" /dev/log
	fi
	emu_start "$work/emu" >/dev/null || { echo "FAIL - emulator did not start"; exit 1; }
	trap 'emu_stop >/dev/null 2>&1 || true; kill "$sink" 2>/dev/null' EXIT
	conf=$work/cpk.conf
	printf '%s\n' "state_dir = $work/state" "endpoint_url = $EMU_URL" "ca_file = $EMU_CA" >"$conf"
	chmod 0644 "$conf"

	emu_ctl POST users '{"Username": "alice", "Passkeys": [{"FriendlyCredentialName": "YubiKey 5C"},
		{"FriendlyCredentialName": "iPhone 15"}, {"FriendlyCredentialName": "Work laptop"}]}' >/dev/null
	mkdir -p "$work/home/alice/.cache/cognito"
	emu_ctl POST tokens '{"Username": "alice"}' >"$work/home/alice/.cache/cognito/tokens.json"
	chown -R alice:alice "$work/home/alice/.cache"
	chmod 0700 "$work/home/alice/.cache" "$work/home/alice/.cache/cognito"
	chmod 0600 "$work/home/alice/.cache/cognito/tokens.json"

	cat >/etc/pam.d/$service <<EOF
# $service: written by tests/packaging/deb-check.sh, removed at its end
auth     required  pam_permit.so
account  required  pam_permit.so
session  required  pam_permit.so
session  optional  pam_cognito_passkey.so conf=$conf
password optional  pam_cognito_passkey.so conf=$conf
EOF
	echo "---- /etc/pam.d/$service"
	sed 's/^/    /' /etc/pam.d/$service

	echo "---- $command -L alice / -a / -S"
	"$command" --config "$conf" -L alice | sed 's/^/    /'
	check "passkey-revoke -a -r \"lost laptop\" alice" "$command" --config "$conf" -a -r "lost laptop" alice
	"$command" --config "$conf" -S alice | sed 's/^/    /'
	check "pending file exists" test -f "$work/state/pending/alice"

	echo "---- pamtester -v $service alice open_session close_session"
	pamtester -v "$service" alice open_session close_session 2>&1 | tee "$work/pamtester.out" | sed 's/^/    /'
	check "pamtester: session opened" grep -q "successfully opened a session" "$work/pamtester.out"
	check "the user is told" grep -q 'Your passkey "YubiKey 5C" was revoked by your administrator' "$work/pamtester.out"
	left=$(emu_ctl GET users/alice | "${PYTHON3:-python3}" -c 'import json,sys; print(len(json.load(sys.stdin)["Passkeys"]))')
	check "alice has no passkey left in the service ($left)" [ "$left" = 0 ]
	check "nothing pending" [ ! -e "$work/state/pending/alice" ]
	"$command" --config "$conf" -S alice | tee "$work/status.out" | sed 's/^/    /'
	check "passkey-revoke -S alice: done, deleted=3" grep -Eq '^alice done .*deleted=3' "$work/status.out"
	for _ in $(seq 50); do grep -q revocation_completed "$work/syslog" && break; sleep 0.1; done
	echo "---- the audit lines syslog received"
	grep pam_cognito_passkey "$work/syslog" | sed 's/^<[0-9]*>//; s/^/    /'
	check "3 passkey_deleted lines from the installed helper ($service:session)" \
		[ "$(grep -c "cognito-passkey-helper\[[0-9]*\]: pam_cognito_passkey($service:session): event=passkey_deleted user=alice" "$work/syslog")" = 3 ]
	check "no token in the log" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$work/syslog'"
	exit "$fails"
fi

# ------------------------------------------------------------- outside
deb=${1:?usage: $0 PACKAGE.deb}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ ! -e /etc/pam.d/$service ] || { echo "/etc/pam.d/$service exists: not ours, stopping" >&2; exit 1; }
if dpkg -s "$pkg" >/dev/null 2>&1; then
	echo "$pkg is installed already: stopping" >&2
	exit 1
fi
pam_lines >/dev/null && { echo "the common stacks already name the module: stopping" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

echo "==== dpkg -i $deb"
check "dpkg -i" dpkg -i "$deb"
for f in "$module" "$helper" "$command" /etc/security/pam_cognito_passkey.conf \
	/usr/share/pam-configs/cognito-passkey /lib/systemd/system/passkey-revoke.service \
	/lib/systemd/system/passkey-revoke.timer /lib/systemd/system/passkey-revoke-sync.service \
	/usr/share/bash-completion/completions/passkey-revoke \
	/usr/share/man/man8/pam_cognito_passkey.8.gz /usr/share/man/man8/passkey-revoke.8.gz \
	/usr/share/man/man5/pam_cognito_passkey.conf.5.gz /usr/share/man/man8/cognito-passkey-helper.8.gz \
	/usr/share/doc/$pkg/examples/pam.d/sshd.example; do
	check "installed: $f" test -f "$f"
done
check "no .la in the PAM directory" test ! -e "${module%.so}.la"
check "state directory root 0700" [ "$(stat -c '%U %a' /var/lib/pam_cognito_passkey)" = "root 700" ]
check "configuration is a conffile" grep -qx /etc/security/pam_cognito_passkey.conf "/var/lib/dpkg/info/$pkg.conffiles"
check "timer enabled" test -L /etc/systemd/system/timers.target.wants/passkey-revoke.timer
check "sync service not enabled (fleet hosts enable it)" \
	test ! -e /etc/systemd/system/multi-user.target.wants/passkey-revoke-sync.service
check "man finds the page" bash -c "man -w pam_cognito_passkey >/dev/null"
check "passkey-revoke -V" "$command" -V

echo "==== pam-auth-update"
check "pam-auth-update --package registered the profile" grep -qx cognito-passkey /var/lib/pam/seen
check "off by default: no stack names the module" not pam_lines
check "pam-auth-update --enable cognito-passkey" pam-auth-update --enable cognito-passkey
pam_lines | sed 's/^/    /'
check "common-session names the module" grep -q 'optional.*pam_cognito_passkey.so' /etc/pam.d/common-session
check "common-password names the module" grep -q 'optional.*pam_cognito_passkey.so' /etc/pam.d/common-password
check "not in common-session-noninteractive" not grep -q pam_cognito_passkey /etc/pam.d/common-session-noninteractive
check "pam-auth-update --disable cognito-passkey" pam-auth-update --disable cognito-passkey
check "disabled: no stack names the module" not pam_lines

echo "==== a session through /etc/pam.d/$service (private mount namespace)"
work=$(mktemp -d /tmp/cpk-deb-check.XXXXXX)
chmod 0755 "$work"
bash "$top/tests/sandbox.sh" "$work" bash "$top/tests/packaging/deb-check.sh" --session
rc=$?
[ "$rc" = 0 ] || bad "session part: $rc check(s) failed"
rm -f /etc/pam.d/$service
check "/etc/pam.d/$service removed" test ! -e /etc/pam.d/$service

echo "==== dpkg -r $pkg (enabled first, so that prerm must take it out)"
pam-auth-update --enable cognito-passkey
check "dpkg -r" dpkg -r "$pkg"
check "no stack names the module" not grep -qh pam_cognito_passkey /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive /etc/pam.d/common-password
check "pam-auth-update no longer lists it (/var/lib/pam/seen)" not grep -qx cognito-passkey /var/lib/pam/seen
check "profile gone" test ! -e /usr/share/pam-configs/cognito-passkey
check "module gone" test ! -e "$module"
check "helper gone" test ! -e "$helper"
check "command gone" test ! -e "$command"
check "conffile kept after remove" test -f /etc/security/pam_cognito_passkey.conf
check "state kept after remove" test -d /var/lib/pam_cognito_passkey
check "dpkg --purge" dpkg --purge "$pkg"
check "conffile gone after purge" test ! -e /etc/security/pam_cognito_passkey.conf
check "state gone after purge" test ! -e /var/lib/pam_cognito_passkey
check "timer link gone after purge" test ! -e /etc/systemd/system/timers.target.wants/passkey-revoke.timer
check "dpkg knows nothing of it" not dpkg -s "$pkg"
rm -rf "$work"

echo "==== $fails failure(s)"
[ "$fails" = 0 ]
