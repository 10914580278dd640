#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# make install / make uninstall with DESTDIR: every file lands where it
# should, nothing else is installed, an administrator's configuration is
# never overwritten nor removed, and make uninstall leaves no file behind.
#
# Run by `make check` (tests/packaging/Makefile.am passes the build tree and
# the installation directories as make expands them), or by hand:
#   top_builddir=/tmp/build-x sh tests/packaging/install-check.sh
# which asks make for the directories.
set -eu

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

: "${top_builddir:?top_builddir must name a configured build tree}"
top_builddir=$(cd "$top_builddir" && pwd)
MAKE=${MAKE:-make}
# Not a recursive make of ours: do not inherit the caller's jobserver.
unset MAKEFLAGS MFLAGS MAKELEVEL || true

# Ask the build tree for a directory (make expands ${prefix} and friends).
makevar() {
	# shellcheck disable=SC2016
	v=$(printf 'print:\n\t@echo $(%s)\ninclude Makefile\n' "$1" |
		$MAKE -s -C "$top_builddir" -f - print 2>/dev/null)
	[ -n "$v" ] || fail "cannot find \$($1) in $top_builddir/Makefile"
	echo "$v"
}
: "${securedir:=$(makevar securedir)}"
: "${libexecdir:=$(makevar libexecdir)}"
: "${sbindir:=$(makevar sbindir)}"
: "${sysconfdir:=$(makevar sysconfdir)}"
: "${mandir:=$(makevar mandir)}"
: "${pamconfigsdir:=$(makevar pamconfigsdir)}"
: "${bashcompletiondir:=$(makevar bashcompletiondir)}"
: "${systemdunitdir:=$(makevar systemdunitdir)}"
: "${docdir:=$(makevar docdir)}"
srcdir=${srcdir:-$(makevar abs_top_srcdir)/tests/packaging}
top_srcdir=$(cd "$srcdir/../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cpk-install.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest
log=$tmp/make.log

run_make() {
	if ! $MAKE -C "$top_builddir" "$@" DESTDIR="$dest" >"$log" 2>&1; then
		cat "$log" >&2
		fail "make $*"
	fi
}

# ---- the files and their modes
expect=$tmp/expect
: >"$expect"
want() {	# want PATH MODE: PATH is installed with exactly MODE
	p=$dest$1
	if [ ! -f "$p" ] || [ -L "$p" ]; then
		fail "$1 not installed"
	fi
	m=$(stat -c %a "$p")
	[ "$m" = "$2" ] || fail "$1 has mode $m, want $2"
	echo "$1" >>"$expect"
	pass "$1 ($m)"
}

run_make install
want "$securedir/pam_cognito_passkey.so" 755
want "$libexecdir/cognito-passkey-helper" 755
want "$sbindir/passkey-revoke" 755
want "$sysconfdir/security/pam_cognito_passkey.conf" 644
want "$mandir/man8/pam_cognito_passkey.8" 644
want "$mandir/man8/passkey-revoke.8" 644
want "$mandir/man8/cognito-passkey-helper.8" 644
want "$mandir/man5/pam_cognito_passkey.conf.5" 644
want "$pamconfigsdir/cognito-passkey" 644
for ex in login passwd sshd su; do
	want "$docdir/examples/pam.d/$ex.example" 644
done
want "$bashcompletiondir/passkey-revoke" 644
want "$systemdunitdir/passkey-revoke.service" 644
want "$systemdunitdir/passkey-revoke.timer" 644
want "$systemdunitdir/passkey-revoke-sync.service" 644

# nothing else: no .la, no stray file
find "$dest" \( -type f -o -type l \) | sed "s|^$dest||" | sort >"$tmp/got"
sort -o "$expect" "$expect"
if ! cmp -s "$expect" "$tmp/got"; then
	diff "$expect" "$tmp/got" >&2 || true
	fail "installed files differ from the expected list (< missing, > unexpected)"
fi
pass "nothing else installed ($(wc -l <"$tmp/got") files)"

# the installed configuration is the shipped one
cmp -s "$top_srcdir/conf/pam_cognito_passkey.conf" \
	"$dest$sysconfdir/security/pam_cognito_passkey.conf" ||
	fail "installed configuration differs from conf/pam_cognito_passkey.conf"

# the unit runs the installed command
grep -qx "ExecStart=$sbindir/passkey-revoke --run-pending" \
	"$dest$systemdunitdir/passkey-revoke.service" ||
	fail "passkey-revoke.service does not run $sbindir/passkey-revoke --run-pending"
! grep -q '@[a-z]*@' "$dest$systemdunitdir/passkey-revoke.service" ||
	fail "passkey-revoke.service has an unsubstituted @variable@"
grep -qx "ExecStartPre=-$sbindir/passkey-revoke --sync" \
	"$dest$systemdunitdir/passkey-revoke.service" ||
	fail "passkey-revoke.service does not sync first (ExecStartPre=-... --sync)"
grep -qx "ExecStart=$sbindir/passkey-revoke --sync --follow" \
	"$dest$systemdunitdir/passkey-revoke-sync.service" ||
	fail "passkey-revoke-sync.service does not run $sbindir/passkey-revoke --sync --follow"
! grep -q '@[a-z]*@' "$dest$systemdunitdir/passkey-revoke-sync.service" ||
	fail "passkey-revoke-sync.service has an unsubstituted @variable@"
pass "passkey-revoke.service and passkey-revoke-sync.service run $sbindir/passkey-revoke"

# systemd accepts the units (when systemd-analyze is here); the copy runs
# the command from DESTDIR, since verify checks that ExecStart= exists.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$tmp/units"
	for unit in passkey-revoke.service passkey-revoke-sync.service; do
		sed -e "s|^ExecStart=$sbindir/|ExecStart=$dest$sbindir/|" \
			-e "s|^ExecStartPre=-$sbindir/|ExecStartPre=-$dest$sbindir/|" \
			"$dest$systemdunitdir/$unit" >"$tmp/units/$unit"
	done
	cp "$dest$systemdunitdir/passkey-revoke.timer" "$tmp/units/"
	if ! (cd "$tmp/units" && systemd-analyze verify --man=no \
		passkey-revoke.service passkey-revoke.timer passkey-revoke-sync.service) \
		>"$log" 2>&1 || [ -s "$log" ]; then
		cat "$log" >&2
		fail "systemd-analyze verify"
	fi
	pass "systemd-analyze verify passkey-revoke.service passkey-revoke.timer passkey-revoke-sync.service"
fi

# the pam-auth-update profile names the module
if [ -f "$dest$pamconfigsdir/cognito-passkey" ]; then
	for stack in Session Password; do
		# "Stack:" then indented lines, up to the next "Field:"
		awk -v f="$stack:" '$1 == f { on = 1; next } /^[A-Za-z-]+:/ { on = 0 }
			on && $1 == "optional" && $2 == "pam_cognito_passkey.so" { ok = 1 }
			END { exit !ok }' "$dest$pamconfigsdir/cognito-passkey" ||
			fail "pam-configs profile: no \"optional pam_cognito_passkey.so\" under $stack:"
	done
	pass "pam-configs profile names pam_cognito_passkey.so"
fi

# nothing setuid, nothing writable by group or others
bad=$(find "$dest" \( -perm -4000 -o -perm -2000 -o -perm -0020 -o -perm -0002 \) \
	\( -type f -o -type d \) -print)
[ -z "$bad" ] || fail "setuid, setgid or group/other-writable: $bad"
pass "no setuid file, nothing group or world writable"

# ---- an administrator's configuration survives install and uninstall
conf=$dest$sysconfdir/security/pam_cognito_passkey.conf
echo "timeout = 7" >>"$conf"
cp "$conf" "$tmp/admin.conf"
run_make install
cmp -s "$conf" "$tmp/admin.conf" || fail "make install overwrote the administrator's configuration"
pass "make install keeps an existing configuration"
run_make uninstall
cmp -s "$conf" "$tmp/admin.conf" || fail "make uninstall removed the administrator's configuration"
pass "make uninstall keeps a modified configuration"
rm -f "$conf"

# ---- a clean install, then uninstall leaves no file
run_make install
run_make uninstall
left=$(find "$dest" \( -type f -o -type l \) -print)
[ -z "$left" ] || fail "make uninstall left: $left"
pass "make uninstall leaves no file"
