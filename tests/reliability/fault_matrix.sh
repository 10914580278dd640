#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The fault matrix: every fault the emulator can inject (throttle, limit,
# internal, forbidden, hang, reset, garbage, namespaced) on every operation
# of a run (ListWebAuthnCredentials, DeleteWebAuthnCredential, and the
# refresh GetTokensFromRefreshToken with an expired access token), once
# and persistently, through passkey-revoke -x; each cell checked against
# doc/DESIGN.md's outcome table and against what the emulator really did, then
# recovered.  fault_matrix.py has the details; it prints the table.
. "$(dirname "$0")/lib.sh"
rel_init "$0" "$@"
e2e_need_engine
e2e_emulator

export E2E_STATE CPK_PASSKEY_REVOKE
table=$SANDBOX/fault_matrix.table
if "${PYTHON3:-python3}" "$(dirname "$0")/fault_matrix.py" >"$table"; then
	cat "$table"
	e2e_pass "fault matrix: every cell as doc/DESIGN.md says, nothing lost, nothing invented"
else
	cat "$table"
	# each failed cell and its reasons become failures of their own, so
	# that they are what the end of the log shows
	while IFS= read -r line; do
		e2e_fail "fault matrix: $line"
	done < <(grep -E ' FAIL$|^    ! ' "$table")
	e2e_fail "fault matrix: some cells failed (table above)"
fi
e2e_check "no token in any syslog line" bash -c "! grep -Eq 'eyJ[A-Za-z0-9_-]{20,}' '$E2E_SYSLOG'"
e2e_done
