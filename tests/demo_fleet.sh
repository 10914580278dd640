# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/demo_fleet.sh -- the second act of tests/demo.sh: a fleet.  Sourced by
# tests/demo.sh inside its private mount namespace, once the single-host part
# has reached its end state (the emulator runs, alice has a token cache, the
# helper is bind-mounted, syslog is captured; say/note/show/check exist).
#
# Two hosts, A and B (each its own configuration, state_dir and host_name),
# share one real etcd (Debian's etcd-server, TLS with client certificates,
# tests/fleet/etcdenv.sh).  The administrator flags alice on host A; host B
# mirrors the flag with --sync; alice opens a session on host B through the
# same real PAM stack as before, and her passkeys are deleted there, once;
# --sync on host A then drops A's copy.  Exits 0 only if that is the end state.

# shellcheck source=fleet/etcdenv.sh
. "$top/tests/fleet/etcdenv.sh"
# libcurl would send the loopback etcd and the emulator through a proxy
unset https_proxy HTTPS_PROXY http_proxy HTTP_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

FLEET_PREFIX=/cpk-demo/
FLEET_ETCD=$SANDBOX/etcd

# etcd must go with the namespace; e2e_cleanup still needs the script's status
demo_fleet_cleanup() {
	local rc=$?
	etcd_stop
	(exit "$rc")
	e2e_cleanup
}
trap demo_fleet_cleanup EXIT

# on HOST ARGS...: passkey-revoke with HOST's configuration, shown as typed.
on() {
	local h=$1
	shift
	printf '\033[36m[host %s]$ passkey-revoke %s\033[0m\n' "$h" "$(quoted "$@")" >&2
	"$CPK_PASSKEY_REVOKE" --config "$SANDBOX/host-$h/conf" "$@"
}
# fleet_get KEY: etcdctl get, shown as typed (the client certificate is the hosts').
fleet_get() {
	printf '\033[36m$ etcdctl get %s%s --print-value-only\033[0m\n' "$FLEET_PREFIX" "$1" >&2
	etcd_ctl get "$FLEET_PREFIX$1" --print-value-only
}
fleet_absent() { [ -z "$(etcd_ctl get "$FLEET_PREFIX$1")" ]; }
# fleet_history_from HOST: alice's history in etcd has an event from HOST.
fleet_history_from() {
	local keys
	# read it whole first: grep -q would leave etcdctl writing into a closed pipe
	keys=$(etcd_ctl get --prefix "${FLEET_PREFIX}history/alice/" --keys-only) || return 1
	grep -q "\.$1\.[0-9]*\$" <<<"$keys"
}
# delete_requests: DeleteWebAuthnCredential requests the service answered 200.
delete_requests() {
	emu_ctl GET requests | "$PYTHON3" -c '
import json, sys
n = sum(1 for r in json.load(sys.stdin)["Requests"]
        if r["Operation"] == "DeleteWebAuthnCredential" and r["Status"] == 200)
print(n)'
}

say "11. Act two, a fleet: one etcd (TLS, client certificates), two hosts"
note "tests/fleet/etcdenv.sh: a throw-away CA, a server and a client certificate"
etcd_certs "$FLEET_ETCD" || { echo "demo: openssl failed" >&2; exit 1; }
etcd_start "$FLEET_ETCD" 1 || { echo "demo: etcd did not start" >&2; exit 1; }
note "etcd $(etcd --version | sed -n 's/^etcd Version: //p') listening on $ETCD_ENDPOINTS" \
	"(--client-cert-auth: without the client certificate it answers nothing)"
for h in a b; do
	mkdir -p "$SANDBOX/host-$h/pam.d"
	mkdir -p -m 0700 "$SANDBOX/host-$h/state"
	cat >"$SANDBOX/host-$h/conf" <<CONF
# host $h of the demo's fleet
state_dir = $SANDBOX/host-$h/state
endpoint_url = $EMU_URL
ca_file = $EMU_CA
timeout = 10
fleet = etcd
etcd_endpoints = $ETCD_ENDPOINTS
etcd_ca_file = $FLEET_ETCD/ca.pem
etcd_cert_file = $FLEET_ETCD/client.pem
etcd_key_file = $FLEET_ETCD/client.key
etcd_prefix = $FLEET_PREFIX
etcd_timeout = 5
host_name = host-$h
CONF
	chmod 0644 "$SANDBOX/host-$h/conf"
done
note "host A's configuration ($SANDBOX/host-a/conf; host B's differs in state_dir and host_name):"
sed 's/^/      /' "$SANDBOX/host-a/conf"

say "12. alice enrols two new passkeys, and has a fresh token"
fleet_new='{"Passkeys": [{"FriendlyCredentialName": "New laptop"}, {"FriendlyCredentialName": "Pixel 8"}]}'
printf '\033[36m$ emu_ctl POST users/alice/passkeys %s\033[0m\n' "'$fleet_new'" >&2
emu_ctl POST users/alice/passkeys "$fleet_new" >/dev/null
e2e_token alice
fleet_ids_before=$(emu_ctl GET users/alice | "$PYTHON3" -c '
import json, sys
print(" ".join(p["CredentialId"] for p in json.load(sys.stdin)["Passkeys"]))')
fleet_deletes_before=$(delete_requests)
fleet_log_from=$(($(wc -l <"$E2E_SYSLOG") + 1))
on b -L alice

say "13. On host A, the administrator flags the revocation: it goes to etcd"
on a -a -r "laptop stolen at the airport" alice
fleet_get pending/alice | sed 's/^/    /'
note "host A keeps a mirror: $(ls "$SANDBOX/host-a/state/pending/")" \
	"host B has none yet:    $(ls "$SANDBOX/host-b/state/pending/" 2>/dev/null | grep . || echo '(none)')"

say "14. Host B mirrors etcd (passkey-revoke-sync.timer runs this on a real host)"
on b --sync
on b -S alice || true

say "15. alice opens a session on host B: pamtester through the same real PAM stack"
printf '%s\n' "auth required pam_deny.so" "account required pam_deny.so" \
	"password required pam_deny.so" "session required pam_deny.so" \
	>"$SANDBOX/host-b/pam.d/other"
cat >"$SANDBOX/host-b/pam.d/sshd" <<EOF
# host B's sshd session stack: the module reads host B's configuration
session  required  pam_permit.so
session  optional  $CPK_MODULE conf=$SANDBOX/host-b/conf
EOF
note "PAM service file sshd on host B:"
sed 's/^/      /' "$SANDBOX/host-b/pam.d/sshd"
printf '\033[36m[host b]$ pamtester -v sshd alice open_session close_session\033[0m\n' >&2
LD_PRELOAD=$wrapper PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$SANDBOX/host-b/pam.d" \
	PAM_WRAPPER_USE_SYSLOG=1 "$PAMTESTER" -v sshd alice open_session close_session || true
ns_syslog_sync "$E2E_SYSLOG" || true
on b -S alice || true
printf '\033[36m$ etcdctl get --prefix %spending/ --keys-only\033[0m\n' "$FLEET_PREFIX" >&2
note "($(etcd_ctl get --prefix "${FLEET_PREFIX}pending/" --keys-only | grep -c . || true) key(s): the request is done)"
printf '\033[36m$ etcdctl get --prefix %shistory/alice/ --keys-only\033[0m\n' "$FLEET_PREFIX" >&2
etcd_ctl get --prefix "${FLEET_PREFIX}history/alice/" --keys-only | grep . | sed 's/^/    /' || true

say "16. Host A syncs: its copy of the flag goes"
note "before: host A's pending/: $(ls "$SANDBOX/host-a/state/pending/" | tr '\n' ' ')"
on a --sync
note "after:  host A's pending/: $(ls "$SANDBOX/host-a/state/pending/" | grep . || echo '(none)')"
on a -S alice || true
note "(host A deleted nothing itself: the deletions are host B's, in etcd's history)"
ns_syslog_sync "$E2E_SYSLOG" || true

say "17. The audit lines of act two, as syslog received them"
tail -n "+$fleet_log_from" "$E2E_SYSLOG" | grep 'pam_cognito_passkey\|passkey-revoke' |
	sed 's/^<[0-9]*>//; s/^/    /' || true

say "18. The service: alice's passkeys"
fleet_deleted=$(emu_ctl GET users/alice | "$PYTHON3" -c '
import json, sys
u = json.load(sys.stdin)
ids = sys.argv[1].split()
print(len(u["Passkeys"]), sum(u["Deleted"].count(i) for i in ids),
      max([u["Deleted"].count(i) for i in ids] or [0]))' "$fleet_ids_before")
read -r fleet_left fleet_gone fleet_most <<<"$fleet_deleted"
note "passkeys left: $fleet_left" \
	"the two new ones deleted: $fleet_gone (at most $fleet_most time(s) each)" \
	"DeleteWebAuthnCredential answered in act two: $(($(delete_requests) - fleet_deletes_before))"

say "Result (fleet)"
fails=0
check "alice has zero passkeys in the service" [ "$fleet_left" = 0 ]
check "each of her two new passkeys was deleted once" [ "$fleet_gone/$fleet_most" = 2/1 ]
check "two DeleteWebAuthnCredential calls in act two, no more" \
	[ "$(($(delete_requests) - fleet_deletes_before))" = 2 ]
check "the deletions ran on host B, in alice's session" \
	bash -c "tail -n +$fleet_log_from '$E2E_SYSLOG' |
		grep -c 'pam_cognito_passkey(sshd:session): event=passkey_deleted user=alice' |
		grep -qx 2"
check "etcd: ${FLEET_PREFIX}pending/alice is gone" fleet_absent pending/alice
check "etcd: no claim left on alice" fleet_absent claims/alice
check "etcd: the outcome is in ${FLEET_PREFIX}history/alice/, from host-b" \
	fleet_history_from host-b
check "host B: nothing pending for alice" [ ! -e "$SANDBOX/host-b/state/pending/alice" ]
check "host A: nothing pending for alice after --sync" [ ! -e "$SANDBOX/host-a/state/pending/alice" ]
check "no token in syslog" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
if [ "$fails" -ne 0 ]; then
	say "The fleet act did NOT reach the expected end state ($fails check(s) failed)"
	exit 1
fi
say "Done: flagged on host A, carried out once in alice's session on host B, gone everywhere."
exit 0
