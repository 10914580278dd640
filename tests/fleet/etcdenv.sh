# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/fleet/etcdenv.sh: a real etcd for the fleet tests.  Sourced.
#
#   etcd_certs DIR             CA, server cert (127.0.0.1, localhost), client
#                              cert, and a wrong CA (same name, another key)
#   etcd_start DIR N           N members (1 or 3) on free loopback ports, TLS
#                              and client-certificate auth on both sides, data
#                              under DIR; waits until every member says it is
#                              ready; sets ETCD_ENDPOINTS (comma-separated)
#   etcd_stop                  stops the members this shell started
#   etcd_member_stop I [SIG]   member mI stopped (TERM, or KILL for a crash)
#   etcd_member_start I        member mI started again with its data
#   etcd_ctl ARGS...           etcdctl against the cluster, with the client cert
#
# CPK_ETCD_MAX_REQUEST_BYTES: the members' --max-request-bytes (default 8 MiB).
# Everything lives under DIR and on ports the kernel hands out, so several
# copies of the suite can run side by side.
ETCD_PIDS=""
ETCD_ENDPOINTS=""

etcd_certs() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cpk-test-etcd-ca" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=cpk-test-etcd-ca" \
		-keyout "$d/wrong-ca.key" -out "$d/wrong-ca.pem" 2>/dev/null || return 1
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		"extendedKeyUsage=serverAuth,clientAuth" >"$d/server.ext"
	printf '%s\n' "extendedKeyUsage=clientAuth" >"$d/client.ext"
	local who
	for who in server client; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=cpk-test-$who" \
			-keyout "$d/$who.key" -out "$d/$who.csr" 2>/dev/null || return 1
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 2 -extfile "$d/$who.ext" -out "$d/$who.pem" 2>/dev/null ||
			return 1
	done
	chmod 0600 "$d"/*.key
}

# N free loopback TCP ports, held together so that they differ.
etcd_free_ports() {
	"${PYTHON3:-python3}" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# Wait for LINE in FILE, reading it as it grows: the event, not a sleep.
# Gives up when the process PID has died, or after SECONDS (default 60).
etcd_wait_line() {
	local file=$1 line=$2 pid=$3 limit=$((SECONDS + ${4:-60})) tailpid fd got found=1
	exec {fd}< <(exec tail -n +1 -F "$file" 2>/dev/null)
	tailpid=$!
	while [ "$SECONDS" -lt "$limit" ]; do
		if IFS= read -r -t 2 got <&"$fd"; then
			case $got in *"$line"*) found=0; break ;; esac
		else
			kill -0 "$pid" 2>/dev/null || break
		fi
	done
	kill "$tailpid" 2>/dev/null
	exec {fd}<&-
	return $found
}

# etcd__member DIR I: run member I (its ports and the cluster in DIR) in
# the background, its log appended to DIR/mI/log; a data dir that exists
# makes it the same member again (etcd then ignores the initial-cluster flags).
etcd__member() {
	local d=$1 i=$2 name=m$2 client peer
	client=$(cat "$d/m$i/client_port")
	peer=$(cat "$d/m$i/peer_port")
	mkdir -p "$d/$name"
	chmod 0700 "$d/$name"
	etcd --name "$name" --data-dir "$d/$name/data" \
		--listen-client-urls "https://127.0.0.1:$client" \
		--advertise-client-urls "https://127.0.0.1:$client" \
		--listen-peer-urls "https://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "https://127.0.0.1:$peer" \
		--initial-cluster "$(cat "$d/cluster")" --initial-cluster-state new \
		--initial-cluster-token "$(cat "$d/token")" \
		--client-cert-auth --trusted-ca-file "$d/ca.pem" \
		--cert-file "$d/server.pem" --key-file "$d/server.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$d/ca.pem" \
		--peer-cert-file "$d/server.pem" --peer-key-file "$d/server.key" \
		--max-request-bytes "${CPK_ETCD_MAX_REQUEST_BYTES:-8388608}" \
		>>"$d/$name/log" 2>&1 &
	echo "$!" >"$d/$name/pid"
}

etcd_start() {
	local d=$1 n=$2 i ports cluster="" name pid tries token
	for tries in 1 2 3; do
		token="cpk-test-$$-$RANDOM"
		ports=($(etcd_free_ports $((2 * n))))
		cluster=""
		for i in $(seq 1 "$n"); do
			cluster="$cluster${cluster:+,}m$i=https://127.0.0.1:${ports[$((2 * i - 1))]}"
		done
		echo "$cluster" >"$d/cluster"
		echo "$token" >"$d/token"
		ETCD_ENDPOINTS=""
		ETCD_PIDS=""
		for i in $(seq 1 "$n"); do
			name=m$i
			rm -rf "$d/$name"
			mkdir -p "$d/$name"
			echo "${ports[$((2 * i - 2))]}" >"$d/$name/client_port"
			echo "${ports[$((2 * i - 1))]}" >"$d/$name/peer_port"
			etcd__member "$d" "$i"
			pid=$(cat "$d/$name/pid")
			ETCD_PIDS="$ETCD_PIDS $pid"
			ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+,}https://127.0.0.1:${ports[$((2 * i - 2))]}"
		done
		ETCD_DIR=$d
		local ok=0
		for i in $(seq 1 "$n"); do
			etcd_wait_line "$d/m$i/log" "ready to serve client requests" \
				"$(cat "$d/m$i/pid")" || ok=1
		done
		if [ "$ok" -eq 0 ] && etcd_ctl endpoint health >/dev/null 2>&1; then
			export ETCD_ENDPOINTS ETCD_DIR
			return 0
		fi
		# a port taken between the choice and the bind: again, with others
		grep -h "address already in use" "$d"/m*/log >/dev/null 2>&1 || break
		etcd_stop
	done
	echo "etcd did not start; its logs:" >&2
	tail -n 20 "$d"/m*/log >&2
	etcd_stop
	return 1
}

# etcd_member_stop I [SIGNAL]: member I of the cluster etcd_start made
# stopped (TERM by default; KILL for a crash) and reaped.
etcd_member_stop() {
	local i=$1 sig=${2:-TERM} pid
	pid=$(cat "$ETCD_DIR/m$i/pid")
	kill -"$sig" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# etcd_member_start I: member I again, with its data; waits until it says
# it serves (a member without quorum says so only once it has one).
etcd_member_start() {
	local i=$1 old new p pids=""
	old=$(cat "$ETCD_DIR/m$i/pid")
	echo "---- restart" >>"$ETCD_DIR/m$i/log"
	local from=$(($(wc -l <"$ETCD_DIR/m$i/log") + 1))
	etcd__member "$ETCD_DIR" "$i"
	new=$(cat "$ETCD_DIR/m$i/pid")
	for p in $ETCD_PIDS; do
		[ "$p" = "$old" ] || pids="$pids $p"
	done
	ETCD_PIDS="$pids $new"
	etcd__wait_from "$ETCD_DIR/m$i/log" "$from" "ready to serve client requests" "$new" 90
}

# etcd__wait_from FILE LINE_NO TEXT PID [SECONDS]: TEXT at or after LINE_NO.
etcd__wait_from() {
	local file=$1 from=$2 text=$3 pid=$4 limit=$((SECONDS + ${5:-60}))
	while [ "$SECONDS" -lt "$limit" ]; do
		tail -n +"$from" "$file" 2>/dev/null | grep -qF -- "$text" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

etcd_stop() {
	local pid
	for pid in $ETCD_PIDS; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $ETCD_PIDS; do
		wait "$pid" 2>/dev/null || true
	done
	ETCD_PIDS=""
}

etcd_ctl() {
	ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_DIR/ca.pem" \
		--cert "$ETCD_DIR/client.pem" --key "$ETCD_DIR/client.key" "$@"
}

# etcd_client_cert DIR CN: DIR/CN.pem and DIR/CN.key, a client certificate
# with that common name, signed by etcd_certs' CA (with auth enabled and
# --client-cert-auth, etcd takes the CN as the user name on its gRPC port)
etcd_client_cert() {
	local d=$1 cn=$2
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
		-keyout "$d/$cn.key" -out "$d/$cn.csr" 2>/dev/null &&
		openssl x509 -req -in "$d/$cn.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
			-CAcreateserial -days 2 -extfile "$d/client.ext" -out "$d/$cn.pem" 2>/dev/null &&
		chmod 0600 "$d/$cn.key"
}
