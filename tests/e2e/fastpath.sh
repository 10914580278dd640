#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The fast path: nothing pending -> PAM_IGNORE, no helper started, no
# request made; the other entry points and the PAM_PRELIM_CHECK phase do
# nothing; unknown or unsafe user names and non-root callers are ignored.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

e2e_stub 'echo "deleted	Should not	run"; exit 0'
e2e_service cpk-test

e2e_drive -c -f cpk-test alice open_session close_session
e2e_expect open_session PAM_IGNORE "nothing pending"
e2e_expect close_session PAM_IGNORE "close_session does nothing"
e2e_check "no helper started when nothing is pending" [ "$(e2e_stub_calls)" = 0 ]
e2e_check "no descriptor left open" e2e_out_has '^fds leaked=0$'
e2e_check "host SIGCHLD handler untouched" e2e_out_has '^sigchld handler=kept calls=0$'
e2e_check "fast path well under 100 ms" [ "$(e2e_elapsed open_session)" -lt 100 ]

e2e_drive cpk-test alice chauthtok authenticate acct_mgmt setcred
e2e_expect chauthtok PAM_IGNORE "password stack, nothing pending"
e2e_expect authenticate PAM_IGNORE "auth entry point"
e2e_expect acct_mgmt PAM_IGNORE "account entry point"
e2e_expect setcred PAM_IGNORE "setcred entry point"
e2e_check "no helper started by any of them" [ "$(e2e_stub_calls)" = 0 ]

# With something pending, only open_session and chauthtok's update phase act.
e2e_flag alice
e2e_drive cpk-test alice authenticate acct_mgmt setcred close_session
e2e_expect authenticate PAM_IGNORE "auth entry point, pending"
e2e_expect close_session PAM_IGNORE "close_session, pending"
e2e_check "no helper started by auth/account/setcred/close" [ "$(e2e_stub_calls)" = 0 ]

# The state directory is absent altogether: nothing pending.
rm -f "$E2E_STATE/pending/alice"
e2e_config "state_dir = $SANDBOX/no-such-dir"
e2e_drive cpk-test alice open_session
e2e_expect open_session PAM_IGNORE "state_dir missing"
e2e_config

# User names: unknown to NSS, or unsafe as a file name, even when a file of
# that name exists in pending/.
e2e_flag nosuchuser
e2e_drive cpk-test nosuchuser open_session
e2e_expect open_session PAM_IGNORE "user unknown to NSS"
mkdir -p "$E2E_STATE/victim"
echo x >"$E2E_STATE/victim/x"
e2e_drive cpk-test ../victim/x open_session
e2e_expect open_session PAM_IGNORE "user name with a path"
e2e_drive cpk-test "" open_session
e2e_check "empty user name handled" [ -n "$(e2e_result open_session)" ]
e2e_check "no helper started for bad names" [ "$(e2e_stub_calls)" = 0 ]

# A non-root caller (a screen locker) cannot read the state: PAM_IGNORE,
# and no helper, even with a revocation pending.
e2e_flag alice
chmod 0755 "$SANDBOX"
chmod -R a+rX "$E2E_PAMD"
setpriv --reuid 4001 --regid 4001 --clear-groups -- \
	"$CPK_DRIVER" -I -d "$E2E_PAMD" cpk-test alice open_session >"$SANDBOX/driver.out" 2>&1
E2E_OUT="$SANDBOX/driver.out"
e2e_expect open_session PAM_IGNORE "non-root caller, state unreadable"
chmod 0711 "$E2E_STATE" "$E2E_STATE/pending"
setpriv --reuid 4001 --regid 4001 --clear-groups -- \
	"$CPK_DRIVER" -I -d "$E2E_PAMD" cpk-test alice open_session >"$SANDBOX/driver.out" 2>&1
e2e_expect open_session PAM_IGNORE "non-root caller, pending visible"
e2e_check "no helper started for a non-root caller" [ "$(e2e_stub_calls)" = 0 ]
chmod 0700 "$E2E_STATE" "$E2E_STATE/pending"

# And now, as root, the same pending flag does start the helper.
e2e_drive cpk-test alice open_session
e2e_expect open_session PAM_SUCCESS "root caller, pending"
e2e_check "helper started once" [ "$(e2e_stub_calls)" = 1 ]

# The real helper and the emulator: nothing pending means no request at all.
if e2e_have_engine; then
	e2e_emulator
	e2e_use_helper "$CPK_HELPER"
	e2e_unflag alice
	e2e_token alice
	before=$(e2e_requests)
	e2e_drive cpk-test alice open_session
	e2e_expect open_session PAM_IGNORE "real helper, nothing pending"
	e2e_check "no request reached the emulator" [ "$(e2e_requests)" = "$before" ]
else
	e2e_log "# (engine not built yet: emulator part skipped)"
fi
e2e_done
