#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# A bad configuration is logged loudly even without debug (LOG_ALERT) and
# gives PAM_IGNORE with fail=open, PAM_SYSTEM_ERR with fail=closed, where
# fail=closed may come from the module arguments or from the file itself.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

e2e_stub 'exit 0'
e2e_service cpk-open
e2e_service cpk-closed fail=closed
e2e_flag alice

# An unknown key in the file.
e2e_config "timeuot = 5"
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "unknown key, fail=open"
e2e_check "logged at LOG_ALERT (<81>) with file:line and key" \
	e2e_log_has "^<81>.*pam_cognito_passkey\(cpk-open:session\): bad configuration, revocations cannot run: $E2E_CONF:[0-9]+: unknown key 'timeuot'"
e2e_drive cpk-closed alice open_session chauthtok
e2e_expect open_session PAM_SYSTEM_ERR "unknown key, fail=closed in the arguments"
e2e_expect chauthtok PAM_SYSTEM_ERR "unknown key, fail=closed in the arguments, password"
e2e_check "no helper run with a bad configuration" [ "$(e2e_stub_calls)" = 0 ]
e2e_check "the system-error line names the user PAM knows" \
	e2e_log_has 'pam_cognito_passkey\(cpk-closed:session\): user alice: system error; refused \(fail=closed\)'

# fail=closed in the file, before the bad line, holds too.
e2e_config "fail = closed" "timeout = forever"
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "bad value, fail=closed in the file"
# ... and an explicit fail=open argument wins over it.
e2e_service cpk-open2 fail=open
e2e_drive cpk-open2 alice open_session
e2e_expect open_session PAM_IGNORE "bad value, fail=open argument over fail=closed file"

# Also when nothing is pending: a broken configuration is never silent.
e2e_unflag alice
e2e_config "timeuot = 5"
e2e_syslog_mark nothing-pending
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "bad configuration, nothing pending, fail=open"
e2e_check "still logged at LOG_ALERT" e2e_log_has '^<81>.*bad configuration'
e2e_flag alice

# A bad module argument.
e2e_config
e2e_service cpk-badarg timeout=abc
e2e_drive cpk-badarg alice open_session
e2e_expect open_session PAM_IGNORE "bad argument, fail=open"
e2e_check "bad argument logged" e2e_log_has "^<81>.*cpk-badarg:session\): bad configuration.*argument 'timeout=abc'"
e2e_service cpk-badarg2 fail=closed bogus
e2e_drive cpk-badarg2 alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "unknown argument, fail=closed"

# A configuration file that others could have written is refused.
e2e_config "timeout = 5"
chmod 0666 "$E2E_CONF"
e2e_drive cpk-closed alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "world-writable configuration, fail=closed"
e2e_check "refusal logged" e2e_log_has "^<81>.*must be owned by root and not writable"
chmod 0644 "$E2E_CONF"

# A missing explicit conf= file.
e2e_service_file cpk-missing <<EOT
session [success=done ignore=ignore default=die] $CPK_MODULE conf=$SANDBOX/nope.conf fail=closed
session [success=ok default=die] pam_debug.so open_session=no_module_data
EOT
e2e_drive cpk-missing alice open_session
e2e_expect open_session PAM_SYSTEM_ERR "missing conf= file, fail=closed"
e2e_check "missing file logged" e2e_log_has "^<81>.*nope.conf: cannot open"

# With debug, the fast path says what it did; without, it is quiet.
e2e_config
e2e_unflag alice
e2e_syslog_mark quiet
e2e_drive cpk-open alice open_session
e2e_check "fast path quiet without debug" e2e_log_lacks 'pam_cognito_passkey'
e2e_service cpk-debug debug
e2e_drive cpk-debug alice open_session
e2e_check "debug: fast path logged" e2e_log_has '^<87>.*cpk-debug:session\): nothing pending for alice'
e2e_check "no helper run in any of this" [ "$(e2e_stub_calls)" = 0 ]
e2e_done
