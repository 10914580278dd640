#!/bin/bash
# Run a command as root inside a private mount namespace in which the test
# users exist for every process (getpwnam in the helper too, which starts
# with an empty environment, so nss_wrapper cannot reach it).  Nothing
# outside the namespace sees the users: /etc/passwd and /etc/group are
# bind-mounted copies.  See DESIGN.md, "Testing notes".
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
exec unshare -m --propagation private /bin/bash -c '
	set -e
	mount --bind "$SANDBOX/etc/passwd" /etc/passwd
	mount --bind "$SANDBOX/etc/group" /etc/group
	exec "$@"' sandbox "$@"
