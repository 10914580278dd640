#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Run a command as root inside a private mount namespace in which the test
# users exist for every process (getpwnam in the helper too, which starts
# with an empty environment, so nss_wrapper cannot reach it).  Nothing
# outside the namespace sees the users or any other change to /etc: the
# namespace's /etc is an overlay (upper layer on a private tmpfs) or, where
# overlayfs is not available, a bind-mounted copy.  A whole directory, not
# single files: a bind mount of /etc/passwd itself is dropped the moment
# the host replaces the file (useradd, another test suite), and the users
# would vanish in the middle of a test.
#
#   tests/sandbox.sh WORKDIR CMD [ARGS...]
#
# Inside CMD: users alice (4001), bob (4002), carol (4003), mallory (4004)
# with homes WORKDIR/home/NAME (0700, owned by the user), and the variable
# SANDBOX=WORKDIR.  Exits 77 (automake SKIP) when not root or when mount
# namespaces are unavailable.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 WORKDIR CMD [ARGS...]" >&2
	exit 2
fi
work=$(cd "$1" && pwd)
shift

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: sandbox needs root (private mount namespace)" >&2
	exit 77
fi
if [ "${CPK_IN_SANDBOX:-}" = "$work" ]; then
	exec "$@"
fi
if ! unshare -m --propagation private true 2>/dev/null; then
	echo "SKIP: unshare -m is not permitted here" >&2
	exit 77
fi

mkdir -p "$work/etc" "$work/home"
cp /etc/passwd "$work/etc/passwd"
cp /etc/group "$work/etc/group"
for entry in alice:4001 bob:4002 carol:4003 mallory:4004; do
	name=${entry%%:*}
	id=${entry##*:}
	grep -q "^$name:" "$work/etc/passwd" ||
		echo "$name:x:$id:$id:test user:$work/home/$name:/bin/sh" >>"$work/etc/passwd"
	grep -q "^$name:" "$work/etc/group" ||
		echo "$name:x:$id:" >>"$work/etc/group"
	mkdir -p "$work/home/$name"
	chown "$id:$id" "$work/home/$name"
	chmod 0700 "$work/home/$name"
done
chmod 0755 "$work" "$work/home"

export SANDBOX="$work" CPK_IN_SANDBOX="$work"
mkdir -p "$work/etc-layer"
exec unshare -m --propagation private /bin/bash -c '
	set -e
	layer=$SANDBOX/etc-layer
	mount -t tmpfs -o mode=0700 cpk-sandbox "$layer"
	mkdir "$layer/upper" "$layer/work"
	if ! mount -t overlay cpk-sandbox -o "lowerdir=/etc,upperdir=$layer/upper,workdir=$layer/work" /etc 2>/dev/null; then
		cp -a /etc "$layer/copy"
		mount --bind "$layer/copy" /etc
	fi
	cat "$SANDBOX/etc/passwd" >/etc/passwd
	cat "$SANDBOX/etc/group" >/etc/group
	exec "$@"' sandbox "$@"
