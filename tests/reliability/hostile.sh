#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# Hostile host: what a curious user, a careless administrator or a bad
# network can do must neither expose a token nor lose a revocation.
#   1. no token in any process's argv or environment while the helper runs
#      (every /proc/PID/cmdline and environ scanned every 20 ms, the
#      service slowed down so that the helper is caught mid-run); the
#      helper's environment is empty and its core limit 0;
#   2. no core file: the helper, killed by SIGSEGV while it holds the token
#      (SIGABRT in a sanitizer build, where ASan intercepts SIGSEGV)
#      (its parent had raised RLIMIT_CORE), dumps nothing (PR_SET_DUMPABLE 0
#      and RLIMIT_CORE 0, see cognito-passkey-helper.c harden()); a control
#      process shows whether this host writes cores at all; the revocation
#      stays pending and the next run does it;
#   3. no token in syslog (debug on), the history, the pending files or the
#      command's output, after a refresh (old and new tokens), a deferral
#      with a token error, -L, -S and --history;
#   4. a setuid copy of the helper run by a user refuses (real uid checked,
#      not only the effective one) and touches nothing;
#   5. a state_dir (or pending/) with loose permissions, another owner, or
#      a symlink is refused by the command and the helper: nothing sent;
#   6. proxy environment variables change nothing (all pointing at a dead
#      port: the command still works);
#   7. endpoint_url http:// to a non-loopback address is a configuration
#      error (command and helper), before any connection;
#   8. a wrong CA, or the system store, fails TLS: deferred with a TLS error,
#      nothing lost; the right CA then completes it.
# Points already proven elsewhere are not repeated: the helper refusing a
# plain non-root caller (tests/e2e/launch.sh), the helper's empty
# environment and descriptors (launch.sh), proxy/CA/http:// at the client
# level (tests/integration/test_cognito.c, tests/unit/test_cognito.c and
# test_config.c).
. "$(dirname "$0")/lib.sh"
rel_init "$0" "$@"
e2e_need_engine
e2e_emulator
e2e_config "debug = yes"
rel_service host
HOSTILE="${PYTHON3:-python3} $(cd "$(dirname "$0")" && pwd)/hostile.py"
SECRETS="$SANDBOX/secrets"
cache() { echo "$SANDBOX/home/$1/.cache/cognito/tokens.json"; }
requests() { e2e_requests; }
sum_state() { find "$E2E_STATE" -type f -exec sha256sum {} + 2>/dev/null | sort; }

e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}]'
e2e_user bob '[{"FriendlyCredentialName": "Bob key"}, {}]'
e2e_user carol '[{"FriendlyCredentialName": "Carol key"}]'
e2e_user mallory '[{}]'
e2e_token alice '"Ttl": -60'	# expired: the module's helper refreshes it
e2e_token bob
e2e_token carol
e2e_token mallory
$HOSTILE secrets "$(cache alice)" "$(cache bob)" "$(cache carol)" "$(cache mallory)" >"$SECRETS"
rel_figure secret_fragments "$(wc -l <"$SECRETS")"

# ---- 1. argv and environment of every process while the helper runs
rel_flag bob
emu_ctl POST latency '{"Milliseconds": 400}' >/dev/null
if $HOSTILE watch "$SECRETS" "$CPK_HELPER_PATH" -- \
	"$CPK_PAM_LOOP" -d "$E2E_PAMD" -n 1 -w 0 host bob >"$SANDBOX/watch.out" 2>&1; then
	e2e_pass "no token in any process's argv or environment; helper env empty, core limit 0"
else
	e2e_fail "process scan (see below)"
fi
sed 's/^/    /' "$SANDBOX/watch.out" >&2
grep '^figure' "$SANDBOX/watch.out" >&2 || true
emu_ctl POST latency '{"Milliseconds": 0}' >/dev/null
e2e_check "bob's passkeys were revoked meanwhile" [ "$(e2e_passkey_count bob)" = 0 ]

# ---- 2. core file
rel_flag carol
mkdir -p "$SANDBOX/crash"
emu_ctl POST latency '{"Milliseconds": 2000}' >/dev/null
rc=0
sig=SEGV
[ "$REL_SAN" != yes ] || sig=ABRT	# ASan turns SIGSEGV into a report and exit 1
CRASH_SIGNAL=$sig CRASH_DELAY=1.0 $HOSTILE crash "$SECRETS" "$SANDBOX/crash" -- \
	env -i "$CPK_HELPER" carol sshd session "conf=$E2E_CONF" >"$SANDBOX/crash.out" 2>&1 || rc=$?
sed 's/^/    /' "$SANDBOX/crash.out" >&2
grep '^figure' "$SANDBOX/crash.out" >&2 || true
e2e_check "helper killed by SIG$sig mid-run: no core, no file with a token" [ "$rc" = 0 ]
sleep 1.5	# the request it had in flight is answered (and logged) 2 s after it came
emu_ctl POST latency '{"Milliseconds": 0}' >/dev/null
e2e_check "the crashed run left the revocation pending" [ -f "$E2E_STATE/pending/carol" ]
e2e_check "the next run carries it out" e2e_revoke -x carol
e2e_check "carol's passkey is gone" [ "$(e2e_passkey_count carol)" = 0 ]

# ---- 3. syslog, state files, command output (debug on)
rel_flag alice
"$CPK_PAM_LOOP" -d "$E2E_PAMD" -n 1 -w 0 host alice >"$SANDBOX/alice.out"
e2e_check "alice's session revoked her passkeys" [ "$(e2e_passkey_count alice)" = 0 ]
e2e_check "through a token refresh" e2e_log_has 'event=token_refreshed user=alice'
rel_flag mallory
emu_ctl POST users/mallory/signout >/dev/null	# token and refresh token revoked
"$CPK_PAM_LOOP" -d "$E2E_PAMD" -n 1 -w 0 host mallory >"$SANDBOX/mallory.out"
e2e_check "mallory's revocation deferred on a token error" \
	e2e_log_has 'event=revocation_deferred user=mallory error=NotAuthorizedException'
outputs=()
for args in "-L alice" "-L mallory" "-S -A" "--history alice" "--history --json mallory" \
	"-x mallory" "--json -x mallory"; do
	out="$SANDBOX/cmd-$(echo "$args" | tr -c 'A-Za-z0-9\n' _).out"
	# shellcheck disable=SC2086
	e2e_revoke $args >"$out" 2>&1 || true
	outputs+=("$out")
done
ns_syslog_sync "$E2E_SYSLOG"	# every line so far has reached the sink
$HOSTILE secrets "$(cache alice)" "$(cache mallory)" >>"$SANDBOX/secrets.new"
sort -u "$SECRETS" "$SANDBOX/secrets.new" >"$SANDBOX/secrets.all"
e2e_check "the refreshed tokens are in the secret list too" \
	[ "$(wc -l <"$SANDBOX/secrets.all")" -gt "$(wc -l <"$SECRETS")" ]
rel_figure syslog_lines "$(wc -l <"$E2E_SYSLOG")"
e2e_check "no token in syslog ($(wc -l <"$E2E_SYSLOG") lines, debug on)" \
	$HOSTILE grep "$SANDBOX/secrets.all" "$E2E_SYSLOG"
e2e_check "no JWT-looking string in syslog" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
e2e_check "no token in the history or pending files" \
	$HOSTILE grep "$SANDBOX/secrets.all" "$E2E_STATE"/history/* "$E2E_STATE"/pending/*
e2e_check "no token in the command's output (-L -S --history -x, --json)" \
	$HOSTILE grep "$SANDBOX/secrets.all" "${outputs[@]}" "$SANDBOX/alice.out" "$SANDBOX/mallory.out"

# ---- 4. a setuid copy of the helper, run by a user
rel_flag carol -c does-not-matter
before=$(requests) sums=$(sum_state)
install -o root -g root -m 4755 "$CPK_HELPER" "$SANDBOX/suid-helper"
rc=0
setpriv --reuid 4001 --regid 4001 --clear-groups -- \
	"$SANDBOX/suid-helper" carol sshd session "conf=$E2E_CONF" >"$SANDBOX/suid.out" 2>&1 || rc=$?
nosuid=$(findmnt -n -o OPTIONS -T "$SANDBOX" | grep -c nosuid || true)
e2e_check "setuid helper run by alice refuses (exit $rc, nosuid mount: $nosuid)" [ "$rc" = 1 ]
e2e_check "it says why" grep -q 'must be run by root' "$SANDBOX/suid.out"
e2e_check "nothing sent" [ "$(requests)" = "$before" ]
e2e_check "state untouched" [ "$(sum_state)" = "$sums" ]
rm -f "$SANDBOX/suid-helper"
e2e_revoke -d carol >/dev/null 2>&1 || true

# ---- 5. state_dir with loose permissions, another owner, a symlink
e2e_user carol '[{"FriendlyCredentialName": "Carol key 2"}]'
rel_flag carol
refused() {	# WHAT: the command and the helper both refuse, nothing sent
	local what=$1 rc=0 hrc=0 before
	before=$(requests)
	e2e_revoke -x carol >"$SANDBOX/loose.out" 2>&1 || rc=$?
	env -i "$CPK_HELPER" carol sshd session "conf=$E2E_CONF" >/dev/null 2>&1 || hrc=$?
	e2e_check "state_dir $what: passkey-revoke -x refuses (exit $rc)" [ "$rc" = 1 ]
	e2e_check "state_dir $what: the helper refuses (exit $hrc)" [ "$hrc" = 1 ]
	e2e_check "state_dir $what: the error names it" \
		grep -Eq 'too open|owned by|symlink|not a directory' "$SANDBOX/loose.out"
	e2e_check "state_dir $what: nothing sent" [ "$(requests)" = "$before" ]
}
# 0711 (search only) is accepted: users reach their own summary/<user> (issue 16)
for mode in 0755 0750 0701 0710 0770; do
	chmod "$mode" "$E2E_STATE"
	refused "mode $mode"
done
chmod 0700 "$E2E_STATE"
chmod 0755 "$E2E_STATE/pending"
refused "pending/ mode 0755"
chmod 0700 "$E2E_STATE/pending"
chown 4001:4001 "$E2E_STATE"
refused "owned by alice"
chown 0:0 "$E2E_STATE"
mv "$E2E_STATE" "$E2E_STATE.real"
ln -s "$E2E_STATE.real" "$E2E_STATE"
refused "a symlink"
rm "$E2E_STATE"
mv "$E2E_STATE.real" "$E2E_STATE"
e2e_check "carol's revocation survived all that" [ -f "$E2E_STATE/pending/carol" ]

# ---- 6. proxy environment variables change nothing
dead=$("${PYTHON3:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rc=0
env -u no_proxy -u NO_PROXY \
	https_proxy="http://127.0.0.1:$dead" HTTPS_PROXY="http://127.0.0.1:$dead" \
	http_proxy="http://127.0.0.1:$dead" HTTP_PROXY="http://127.0.0.1:$dead" \
	ALL_PROXY="socks5://127.0.0.1:$dead" all_proxy="socks5://127.0.0.1:$dead" \
	"$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" -x carol >"$SANDBOX/proxy.out" 2>&1 || rc=$?
e2e_check "proxy variables to a dead port: passkey-revoke -x still works (exit $rc)" [ "$rc" = 0 ]
e2e_check "carol's passkey is gone" [ "$(e2e_passkey_count carol)" = 0 ]

# ---- 7. http:// to a non-loopback endpoint
e2e_user carol '[{"FriendlyCredentialName": "Carol key 3"}]'
rel_flag carol
good_conf=$(cat "$E2E_CONF")
for url in "http://192.0.2.1/" "http://cognito-idp.eu-west-1.amazonaws.com/" \
	"http://127.0.0.1.nip.io/" "http://[::ffff:192.0.2.1]/"; do
	printf '%s\nendpoint_url = %s\n' "$(grep -v '^endpoint_url' <<<"$good_conf")" "$url" >"$E2E_CONF"
	rc=0 hrc=0
	e2e_revoke -x carol >"$SANDBOX/http.out" 2>&1 || rc=$?
	e2e_check "endpoint_url $url: configuration error (exit $rc)" [ "$rc" = 1 ]
	# refused by the configuration check, which runs before any connection
	e2e_check "endpoint_url $url: the error names the key" grep -q 'endpoint_url' "$SANDBOX/http.out"
	e2e_check "endpoint_url $url: the error says loopback" grep -q 'loopback' "$SANDBOX/http.out"
	env -i "$CPK_HELPER" carol sshd session "conf=$E2E_CONF" >/dev/null 2>&1 || hrc=$?
	e2e_check "endpoint_url $url: the helper refuses it too (exit $hrc)" [ "$hrc" = 1 ]
done
printf '%s\n' "$good_conf" >"$E2E_CONF"
e2e_check "the bad configurations were logged loudly" e2e_log_has 'bad configuration'
e2e_check "carol's revocation is still pending" [ -f "$E2E_STATE/pending/carol" ]

# ---- 8. a wrong CA, and the system store, fail TLS: deferred, nothing lost
wrong=$(emu_wrong_ca "$SANDBOX/wrong")
for ca in "$wrong" system; do
	if [ "$ca" = system ]; then
		grep -v '^ca_file' <<<"$good_conf" >"$E2E_CONF"
	else
		printf '%s\nca_file = %s\n' "$(grep -v '^ca_file' <<<"$good_conf")" "$ca" >"$E2E_CONF"
	fi
	before=$(requests)
	rc=0
	e2e_revoke -x carol >"$SANDBOX/ca.out" 2>&1 || rc=$?
	e2e_check "CA $(basename "$ca"): deferred (exit $rc)" [ "$rc" = 2 ]
	e2e_check "CA $(basename "$ca"): nothing reached the service" [ "$(requests)" = "$before" ]
	e2e_check "CA $(basename "$ca"): the history names a TLS error" \
		bash -c "tail -n 1 '$E2E_STATE/history/carol' | grep -Eqi 'certificate|SSL|TLS'"
	e2e_check "CA $(basename "$ca"): the revocation is still pending" [ -f "$E2E_STATE/pending/carol" ]
done
printf '%s\n' "$good_conf" >"$E2E_CONF"
e2e_check "with the right CA it completes" e2e_revoke -x carol
e2e_check "carol's passkey is gone" [ "$(e2e_passkey_count carol)" = 0 ]
e2e_done
