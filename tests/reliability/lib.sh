# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/reliability/lib.sh: what the reliability tests share.  They run
# through the end-to-end harness (tests/e2e/lib.sh: private mount
# namespace, test users, helper bind mount, /dev/log sink, emulator), so
# this only adds the few things that harness does not have:
#
#   . "$(dirname "$0")/lib.sh"
#   rel_init "$0" "$@"          e2e_init, and REL_* below
#   rel_figure NAME VALUE...    "figure NAME VALUE..." for RELIABILITY.md
#   rel_service NAME [ARGS]     a PAM stack as an administrator writes it
#   rel_flag USER [ARGS]        passkey-revoke -a USER (a real pending file)
#   rel_history_count USER EVENT
#
# Environment from tests/reliability/Makefile.am: those of tests/e2e plus
# CPK_E2E_LIB and CPK_PAM_LOOP.

: "${CPK_E2E_LIB:?run through make check}"
# shellcheck source=../e2e/lib.sh
. "$CPK_E2E_LIB"

rel_init() {
	e2e_init "$@"
	REL_SAN=${CPK_SANITIZERS:-no}
}

# One greppable line per measured figure, in the test's log.
rel_figure() {
	local name=$1
	shift
	printf 'figure %s %s\n' "$name" "$*" >&2
}

# rel_service NAME [MODULE-ARGS]: session and password stacks as in
# conf/pam.d (the module optional, then the host's own module), so that
# results are what sshd would see.
rel_service() {
	local name=$1
	shift
	cat >"$E2E_PAMD/$name" <<EOF
session  optional $CPK_MODULE conf=$E2E_CONF $*
session  required pam_permit.so
password optional $CPK_MODULE conf=$E2E_CONF $*
password required pam_permit.so
EOF
}

# rel_flag USER [passkey-revoke flag options]: flag a revocation with the
# real command, so that the pending file is the engine's own.
rel_flag() {
	local user=$1
	shift
	[ $# -gt 0 ] || set -- -a
	e2e_revoke "$@" -r "reliability test" "$user" >/dev/null
}

# rel_history_count USER EVENT: history events of that kind.
rel_history_count() {
	[ -f "$E2E_STATE/history/$1" ] || { echo 0; return; }
	"${PYTHON3:-python3}" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    if line.strip() and json.loads(line).get("event") == sys.argv[2]:
        n += 1
print(n)' "$E2E_STATE/history/$1" "$2"
}
