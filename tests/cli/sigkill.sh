#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# SIGKILL at random points of a run, 50 times: the state always parses,
# nothing flagged is lost, nothing is recorded as deleted that Cognito still
# has, and a later run finishes the job, deleting each credential once.
. "$(dirname "$0")/lib.sh"
cli_init "$0" "$@"

export CLI_STATE CLI_CONF CPK_PASSKEY_REVOKE SANDBOX EMU_URL EMU_CA
start=$(date +%s)
if "$PYTHON3" "$CLI_DIR/sigkill.py" "${CPK_SIGKILL_ITERATIONS:-50}"; then
	cli_pass "50 SIGKILLs: state parses, nothing lost, nothing recorded falsely, no double delete"
else
	cli_fail "SIGKILL invariants"
fi
cli_log "# took $(($(date +%s) - start)) s"
cli_done
