#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The fast path's cheap parse (cpk_config_load_fast) keeps every rule of the
# full one, with nothing pending (so no helper and no full load is there to
# catch what it missed): a typo or a bad value is refused at every login,
# loudly, with file:line and the key; fail=closed from the PAM line holds
# with a broken file; module arguments override the file, state_dir too.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

e2e_stub 'exit 0'
e2e_service cpk-open
e2e_service cpk-closed fail=closed
e2e_unflag alice

# conf TEXT...: the file exactly, so that line numbers are known.
conf() {
	printf '%s\n' "# fastconf.sh" "state_dir = $E2E_STATE" "$@" >"$E2E_CONF"
	chmod 0644 "$E2E_CONF"
}

# A typo, refused at every login, not only the first of a process.
conf "# a comment" "" "timeuot = 5"
for login in 1 2; do
	e2e_syslog_mark "typo-$login"
	e2e_drive cpk-open alice open_session
	e2e_expect open_session PAM_IGNORE "typo, nothing pending, fail=open (login $login)"
	e2e_check "typo logged at LOG_ALERT with file:line and key (login $login)" \
		e2e_log_has "^<81>.*cpk-open:session\): bad configuration, revocations cannot run: $E2E_CONF:5: unknown key 'timeuot'"
done

# A bad value, of a key the fast path itself never uses.
conf "region = eu-west-1" "endpoint_url = http://cognito.example.com/"
e2e_syslog_mark bad-value
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "bad value, nothing pending, fail=open"
e2e_check "bad value logged with file:line and key" \
	e2e_log_has "^<81>.*bad configuration, revocations cannot run: $E2E_CONF:4: endpoint_url: .*loopback"

# fail=closed from /etc/pam.d with a broken file, nothing pending.
e2e_drive cpk-closed alice open_session chauthtok
e2e_expect open_session PAM_SYSTEM_ERR "broken file, fail=closed argument, session"
e2e_expect chauthtok PAM_SYSTEM_ERR "broken file, fail=closed argument, password"
# ... and fail=closed in the file before the bad line, unless an argument says open.
conf "fail = closed" "timeout = forever"
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "bad value after fail = closed in the file"
e2e_service cpk-open2 fail=open
e2e_drive cpk-open2 alice open_session
e2e_expect open_session PAM_IGNORE "fail=open argument over the file's fail = closed"
# a bad argument is refused as loudly
conf
e2e_service cpk-badarg fail=closed timeout=abc
e2e_syslog_mark bad-arg
e2e_drive cpk-badarg alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "bad argument, fail=closed"
e2e_check "bad argument logged" \
	e2e_log_has "^<81>.*bad configuration.*argument 'timeout=abc': timeout: 'abc'"

# Arguments override the file: state_dir decides where the fast path looks.
e2e_flag alice
conf "state_dir = $SANDBOX/elsewhere"
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "the file's last state_dir wins: nothing pending there"
e2e_check "no helper for a flag in another state_dir" [ "$(e2e_stub_calls)" = 0 ]
e2e_service cpk-arg "state_dir=$E2E_STATE"
e2e_drive cpk-arg alice open_session
e2e_expect open_session PAM_SUCCESS "state_dir argument over the file: the flag is seen"
e2e_check "helper started once, for the argument's state_dir" [ "$(e2e_stub_calls)" = 1 ]
e2e_check "the helper was given the argument's state_dir" \
	grep -q -- "^arg state_dir=$E2E_STATE\$" "$E2E_CONF.call-1"

# A clean file, nothing pending: not a line, not a helper.
e2e_unflag alice
conf
e2e_syslog_mark quiet
e2e_drive cpk-closed alice open_session
e2e_expect open_session PAM_IGNORE "clean file, nothing pending, fail=closed"
e2e_check "quiet without debug" e2e_log_lacks 'pam_cognito_passkey'
e2e_done
