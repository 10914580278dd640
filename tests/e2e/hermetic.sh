#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The sandbox holds while the host rewrites its /etc: the test users stay
# resolvable inside tests/sandbox.sh after /etc/passwd and /etc/group are
# replaced outside (as useradd or another test suite does, by rename).  The
# "host" here is itself a private namespace whose /etc is a writable copy,
# so nothing real is touched.
set -eu
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (private mount namespaces)" >&2; exit 77; }
unshare -m --propagation private true 2>/dev/null ||
	{ echo "SKIP: unshare -m is not permitted here" >&2; exit 77; }
: "${CPK_SANDBOX_SH:?run through make check}" "${E2E_BUILDDIR:?run through make check}"
work="$E2E_BUILDDIR/work-hermetic"
rm -rf "$work"
mkdir -p "$work/host-etc" "$work/sb"
cp -a /etc/. "$work/host-etc/"
mkfifo "$work/ready" "$work/go"

export work
exec timeout -k 5 120 unshare -m --propagation private bash -c '
	set -eu
	mount --bind "$work/host-etc" /etc
	bash "$CPK_SANDBOX_SH" "$work/sb" bash -c "
		getent passwd alice >/dev/null || exit 10
		echo up >\"$work/ready\"
		read -r _ <\"$work/go\"
		getent passwd alice >/dev/null || exit 11
		getent group carol >/dev/null || exit 12
	" &
	inner=$!
	read -r _ <"$work/ready"
	# replace both files by rename, as shadow-utils does
	for f in passwd group; do
		cp -p "/etc/$f" "/etc/$f+"
		mv "/etc/$f+" "/etc/$f"
	done
	echo go >"$work/go"
	rc=0
	wait "$inner" || rc=$?
	case $rc in
	0)  echo "ok - the test users survive the host replacing /etc/passwd and /etc/group" ;;
	11) echo "FAIL - alice vanished from the sandbox when the host replaced /etc/passwd" ;;
	12) echo "FAIL - carol'\''s group vanished when the host replaced /etc/group" ;;
	*)  echo "FAIL - the sandbox did not come up (exit $rc)" ;;
	esac
	exit "$rc"
'
