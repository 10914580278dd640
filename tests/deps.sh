#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Install what building and testing need, on Debian 12, when it is missing.
# Sourced by tests/check.sh and tests/demo.sh.
cpk_install_deps() {
	local pkgs="build-essential autoconf automake libtool pkg-config libpam0g-dev
		libcurl4-openssl-dev libjson-c-dev libssl-dev check libpam-wrapper
		libnss-wrapper libpamtest0-dev pamtester python3 openssl valgrind
		binutils util-linux procps groff-base etcd-server etcd-client $*"
	local missing="" p
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "==> installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
