#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The hard deadline: a helper that hangs is killed at timeout + 2 s and
# reaped; the session returns in time; the revocation stays pending;
# fail=closed refuses, fail=open lets the session open; the module audits
# event=revocation_deferred error=deadline.  The stub helper hangs here;
# hang.sh does the same with the real helper and a hanging emulator.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

e2e_config "timeout = 1"
e2e_service cpk-open
e2e_service cpk-closed fail=closed
e2e_flag alice

# within_deadline OP: at least timeout (1 s), at most timeout + 2 s grace + 0.5 s slack
within_deadline() {
	local ms
	ms=$(e2e_elapsed "$1")
	[ -n "$ms" ] && [ "$ms" -ge 1000 ] && [ "$ms" -le 3500 ]
}
helper_gone() {	# the stub's pid, from its call record
	local pid
	pid=$(sed -n 's/^call [0-9]* pid=\([0-9]*\) .*/\1/p' "$E2E_CONF.calls" | tail -n 1)
	[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null
}

# A helper that ignores SIGTERM and never ends.
e2e_stub 'trap "" TERM HUP INT; exec sleep 120'
e2e_drive -c cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "hanging helper, fail=open"
e2e_check "returned within timeout + 2 s ($(e2e_elapsed open_session) ms)" within_deadline open_session
e2e_check "helper killed and reaped" helper_gone
e2e_check "no child left behind" e2e_out_has '^children none$'
e2e_check "host SIGCHLD handler kept and not called" e2e_out_has '^sigchld handler=kept calls=0$'
e2e_check "revocation still pending" [ -f "$E2E_STATE/pending/alice" ]
e2e_check "deadline audited at LOG_ERR" \
	e2e_log_has '^<83>.*pam_cognito_passkey\(cpk-open:session\): event=revocation_deferred user=alice error=deadline detail="helper killed after 1 s \+ 2000 ms"'

e2e_drive cpk-closed alice open_session
e2e_expect open_session PAM_SESSION_ERR "hanging helper, fail=closed"
e2e_check "returned within timeout + 2 s ($(e2e_elapsed open_session) ms)" within_deadline open_session
e2e_check "helper killed and reaped" helper_gone

e2e_drive cpk-closed alice chauthtok
e2e_expect chauthtok PAM_AUTHTOK_ERR "hanging helper, fail=closed, password"
e2e_check "password: returned within timeout + 2 s" within_deadline chauthtok

# A helper that closes its stdout and then hangs: the reaping is bounded too.
e2e_stub 'exec >/dev/null; trap "" TERM; exec sleep 120'
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_IGNORE "silent hanging helper, fail=open"
e2e_check "returned within timeout + 2 s ($(e2e_elapsed open_session) ms)" within_deadline open_session
e2e_check "helper killed and reaped" helper_gone

# A helper that reports a passkey, then hangs: what it said still counts for
# notify, the verdict is the deadline's.
e2e_stub 'printf "deleted\tPhone\tID1\n"; exec sleep 120'
e2e_drive cpk-closed alice open_session
e2e_expect open_session PAM_SESSION_ERR "partial report then hang, fail=closed"
e2e_check "the deleted passkey is still announced" e2e_out_has '^info Your passkey "Phone" was revoked'

# A slow helper inside the deadline is waited for.
e2e_stub 'sleep 1.5; exit 0'
e2e_drive cpk-open alice open_session
e2e_expect open_session PAM_SUCCESS "slow helper within timeout + grace"

# The deadline follows the timeout setting.
e2e_config "timeout = 3"
e2e_stub 'exec sleep 120'
e2e_drive cpk-open alice open_session
ms=$(e2e_elapsed open_session)
e2e_check "timeout=3: killed after 3..5.5 s ($ms ms)" [ "$ms" -ge 3000 ] && [ "$ms" -le 5500 ]
e2e_done
