# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# testenv.sh: start and drive the local Cognito emulator from bash tests.
# Source it:  . "$srcdir/../emulator/testenv.sh"   (works with set -eu)
#
#   emu_start WORKDIR [emulator args...]
#       Makes a throw-away CA and a server certificate for 127.0.0.1/::1/localhost
#       in WORKDIR (ca.pem, server.pem, server.key; the CA key is deleted once the
#       server certificate is signed, so it can never be reused), starts
#       cognito_emulator.py with HTTPS on a free port and waits (bounded,
#       EMU_START_TIMEOUT seconds, default 20) until it listens.  Exports
#       EMU_PID EMU_PORT EMU_URL=https://127.0.0.1:PORT/ EMU_CA=WORKDIR/ca.pem
#       EMU_WORKDIR EMU_LOG (the emulator's stderr, WORKDIR/emulator.log).
#       Returns 0; 77 when openssl or python3 is missing (callers may `exit 77`);
#       1 on any other failure (the log is shown on stderr).
#   emu_stop
#       SIGTERM, wait up to 10 s, then SIGKILL.  Returns the emulator's exit
#       status (0 after a clean shutdown).  Safe to call twice; in an EXIT trap
#       under set -e write `emu_stop || true`.
#   emu_ctl METHOD PATH [JSON]
#       Control interface call (tests/emulator/emuctl.py): prints the JSON answer;
#       status 0 for 2xx, 1 other HTTP status, 2 usage, 3 connection/TLS failure.
#       PATH is /_emulator/... or short ("users", "faults").
#   emu_make_certs WORKDIR
#       Only the certificate part of emu_start.
#   emu_wrong_ca WORKDIR
#       Makes WORKDIR/wrong-ca.pem, a fresh CA with the same subject as the real
#       one but an unrelated key, prints its path: wrong=$(emu_wrong_ca "$dir")
#
# Tunables (environment): EMU_PYTHON (default python3), EMU_START_TIMEOUT.

EMU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${EMU_PYTHON:=python3}"
: "${EMU_START_TIMEOUT:=20}"

emu__have() {
	command -v "$1" >/dev/null 2>&1
}

# emu__ca DIR NAME: a self-signed CA certificate DIR/NAME.pem with key DIR/NAME.key
emu__ca() {
	local dir=$1 name=$2
	cat >"$dir/$name.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = pam_cognito_passkey test CA
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$dir/$name.key" -out "$dir/$name.pem" -days 7 \
		-set_serial "0x$(openssl rand -hex 15)" -config "$dir/$name.cnf" \
		>"$dir/$name.openssl.log" 2>&1 || {
		cat "$dir/$name.openssl.log" >&2
		return 1
	}
	rm -f "$dir/$name.cnf" "$dir/$name.openssl.log"
}

emu_make_certs() {
	local dir=${1:-}
	if [ -z "$dir" ]; then
		echo "emu_make_certs: WORKDIR missing" >&2
		return 1
	fi
	emu__have openssl || { echo "emu_make_certs: openssl not found" >&2; return 77; }
	mkdir -p "$dir" || return 1
	(
		umask 077
		rm -f "$dir/ca.key" "$dir/ca.pem" "$dir/server.key" "$dir/server.pem"
		emu__ca "$dir" ca || exit 1
		cat >"$dir/server.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[v3_srv]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$dir/server.key" -out "$dir/server.csr" -config "$dir/server.cnf" \
			>"$dir/server.openssl.log" 2>&1 &&
		openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
			-set_serial "0x$(openssl rand -hex 15)" -days 7 \
			-extfile "$dir/server.cnf" -extensions v3_srv -out "$dir/server.pem" \
			>>"$dir/server.openssl.log" 2>&1 || {
			cat "$dir/server.openssl.log" >&2
			exit 1
		}
		# The CA signs exactly one certificate: its key goes now.
		rm -f "$dir/ca.key" "$dir/server.csr" "$dir/server.cnf" "$dir/server.openssl.log"
		chmod 644 "$dir/ca.pem" "$dir/server.pem"
	)
}

emu_wrong_ca() {
	local dir=${1:-}
	if [ -z "$dir" ]; then
		echo "emu_wrong_ca: WORKDIR missing" >&2
		return 1
	fi
	emu__have openssl || { echo "emu_wrong_ca: openssl not found" >&2; return 77; }
	mkdir -p "$dir" || return 1
	(
		umask 077
		emu__ca "$dir" wrong-ca || exit 1
		rm -f "$dir/wrong-ca.key"
		chmod 644 "$dir/wrong-ca.pem"
	) || return 1
	printf '%s\n' "$(cd "$dir" && pwd)/wrong-ca.pem"
}

emu_start() {
	local dir=${1:-} pid port="" i rc
	if [ -z "$dir" ]; then
		echo "emu_start: WORKDIR missing" >&2
		return 1
	fi
	shift
	emu__have openssl || { echo "emu_start: openssl not found: skipping" >&2; return 77; }
	emu__have "$EMU_PYTHON" || { echo "emu_start: $EMU_PYTHON not found: skipping" >&2; return 77; }
	if [ -n "${EMU_PID:-}" ] && kill -0 "$EMU_PID" 2>/dev/null; then
		echo "emu_start: an emulator is already running (pid $EMU_PID); emu_stop first" >&2
		return 1
	fi
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	emu_make_certs "$dir" || { rc=$?; return "$rc"; }
	rm -f "$dir/port"
	"$EMU_PYTHON" "$EMU_DIR/cognito_emulator.py" --host 127.0.0.1 --port 0 \
		--port-file "$dir/port" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" \
		"$@" </dev/null >>"$dir/emulator.log" 2>&1 &
	pid=$!
	i=0
	while [ "$i" -lt $((EMU_START_TIMEOUT * 10)) ]; do
		if [ -s "$dir/port" ]; then
			port=$(cat "$dir/port")
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		echo "emu_start: the emulator did not start; its log:" >&2
		cat "$dir/emulator.log" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 1
	fi
	export EMU_PID=$pid EMU_PORT=$port EMU_URL="https://127.0.0.1:$port/"
	export EMU_CA="$dir/ca.pem" EMU_WORKDIR=$dir EMU_LOG="$dir/emulator.log"
	return 0
}

emu_stop() {
	local pid=${EMU_PID:-} i=0 rc=0
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# bash reaps its children as they exit, so kill -0 fails once it is gone
		while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if [ "$i" -ge 100 ]; then
			echo "emu_stop: emulator $pid ignored SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || rc=$?
	# 127: not a child of this shell (started elsewhere): its status is unknowable
	[ "$rc" -ne 127 ] || rc=0
	unset EMU_PID
	return "$rc"
}

emu_ctl() {
	if [ -z "${EMU_URL:-}" ]; then
		echo "emu_ctl: no emulator (EMU_URL unset); call emu_start first" >&2
		return 2
	fi
	"$EMU_PYTHON" "$EMU_DIR/emuctl.py" "$@"
}
