#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The shipped PAM configuration works as shipped: the pam-auth-update profile
# (conf/pam-configs/cognito-passkey) puts the module in common-session and
# common-password but not in common-session-noninteractive, and the stacks
# pam-auth-update writes, and the conf/pam.d examples, run the module with
# the system's own modules (pam_unix, pam_systemd, ...).  Everything happens
# on copies in the private mount namespace: /etc/pam.d, /etc/security,
# /usr/share/pam-configs, /var/lib/pam and debconf's cache are tmpfs copies,
# and the module is bind-mounted into the module directory under its name.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

command -v pam-auth-update >/dev/null || e2e_skip "pam-auth-update not installed (not Debian?)"
srcconf="$CPK_TOP_SRCDIR/conf"
moddir=$(dirname "$(find /lib /usr/lib -name pam_permit.so -path '*security*' 2>/dev/null | head -n 1)")
[ -d "$moddir" ] || e2e_skip "PAM module directory not found"
# The shipped lines carry no conf=: the module must read /etc/security (not
# so when built with another sysconfdir, as under make distcheck).
defconf=$(grep -ao '/[[:print:]]*/pam_cognito_passkey\.conf' "$CPK_MODULE" | head -n 1)
[ "$defconf" = /etc/security/pam_cognito_passkey.conf ] ||
	e2e_skip "module built to read $defconf, not /etc/security/pam_cognito_passkey.conf (sysconfdir)"

for f in pam-configs/cognito-passkey pam.d/sshd.example pam.d/login.example pam.d/su.example \
	pam.d/passwd.example; do
	[ -f "$srcconf/$f" ] || e2e_fail "conf/$f is missing from the tree (not distributed? conf/Makefile.am)"
done
[ "$T_FAILED" = 0 ] || e2e_done

for d in /etc/pam.d /etc/security /usr/share/pam-configs /var/lib/pam /var/cache/debconf; do
	[ -d "$d" ] || e2e_skip "$d missing"
	ns_copy_dir "$d"
done
ns_shadow_dir "$moddir"
: >"$moddir/pam_cognito_passkey.so"
mount --bind "$CPK_MODULE" "$moddir/pam_cognito_passkey.so"
# the default configuration path, as an administrator has it
cp "$E2E_CONF" /etc/security/pam_cognito_passkey.conf
E2E_CONF=/etc/security/pam_cognito_passkey.conf
# never let pam_unix touch a password database, not even a copy (put back
# before pam-auth-update, which would refuse a locally modified file)
cp /etc/pam.d/common-password "$SANDBOX/common-password.orig"
printf '%s\n' "password required pam_permit.so" >/etc/pam.d/common-password

e2e_flag alice
e2e_stub 'printf "deleted\tYubiKey 5C\tAAAA\n"; exit 0'
E2E_PAMD=/etc/pam.d

# ---- the examples, with the distribution's common-* files
for svc in sshd login su; do
	cp "$srcconf/pam.d/$svc.example" "/etc/pam.d/cpk-$svc"
	before=$(e2e_stub_calls)
	"$CPK_DRIVER" -d /etc/pam.d "cpk-$svc" alice open_session close_session >"$SANDBOX/driver.out" 2>&1
	E2E_OUT="$SANDBOX/driver.out"
	e2e_expect open_session PAM_SUCCESS "conf/pam.d/$svc.example: session opens"
	e2e_check "conf/pam.d/$svc.example: the module ran the helper" [ "$(e2e_stub_calls)" = $((before + 1)) ]
	e2e_check "conf/pam.d/$svc.example: the user was told" e2e_out_has '^info Your passkey "YubiKey 5C" was revoked'
done
cp "$srcconf/pam.d/passwd.example" /etc/pam.d/cpk-passwd
before=$(e2e_stub_calls)
"$CPK_DRIVER" -d /etc/pam.d cpk-passwd alice chauthtok >"$SANDBOX/driver.out" 2>&1
e2e_expect chauthtok PAM_SUCCESS "conf/pam.d/passwd.example: chauthtok"
e2e_check "conf/pam.d/passwd.example: helper ran once" [ "$(e2e_stub_calls)" = $((before + 1)) ]

# ---- the pam-auth-update profile
cp "$SANDBOX/common-password.orig" /etc/pam.d/common-password
cp "$srcconf/pam-configs/cognito-passkey" /usr/share/pam-configs/
e2e_check "Default: no -- not enabled by a plain pam-auth-update --package" \
	bash -c 'DEBIAN_FRONTEND=noninteractive pam-auth-update --package >/dev/null 2>&1 && ! grep -q pam_cognito_passkey /etc/pam.d/common-session'
e2e_check "pam-auth-update --enable cognito-passkey" \
	env DEBIAN_FRONTEND=noninteractive pam-auth-update --enable cognito-passkey
e2e_check "common-session has the module, optional" \
	grep -Eq '^session[[:space:]]+optional[[:space:]]+pam_cognito_passkey\.so' /etc/pam.d/common-session
e2e_check "common-password has the module, optional" \
	grep -Eq '^password[[:space:]]+optional[[:space:]]+pam_cognito_passkey\.so' /etc/pam.d/common-password
e2e_check "common-session-noninteractive does not (cron, systemd --user)" \
	bash -c '! grep -q pam_cognito_passkey /etc/pam.d/common-session-noninteractive'
printf '%s\n' "@include common-session" >/etc/pam.d/cpk-common
printf '%s\n' "@include common-session-noninteractive" >/etc/pam.d/cpk-cron
before=$(e2e_stub_calls)
"$CPK_DRIVER" -d /etc/pam.d cpk-common alice open_session close_session >"$SANDBOX/driver.out" 2>&1
e2e_expect open_session PAM_SUCCESS "stack from pam-auth-update: session opens"
e2e_check "stack from pam-auth-update: the module ran" [ "$(e2e_stub_calls)" = $((before + 1)) ]
"$CPK_DRIVER" -d /etc/pam.d cpk-cron alice open_session close_session >"$SANDBOX/driver.out" 2>&1
e2e_expect open_session PAM_SUCCESS "non-interactive stack: session opens"
e2e_check "non-interactive stack: the module did not run" [ "$(e2e_stub_calls)" = $((before + 1)) ]
e2e_check "pam-auth-update --remove cognito-passkey" \
	env DEBIAN_FRONTEND=noninteractive pam-auth-update --package --remove cognito-passkey
e2e_check "gone from common-session" bash -c '! grep -q pam_cognito_passkey /etc/pam.d/common-session'
e2e_done
