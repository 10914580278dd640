#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The command and the helper end to end under valgrind memcheck, against
# the emulator: passkey-revoke -a, -L, -S, -x and --history; the helper
# for one user as the module runs it (empty environment), through a token
# refresh with write-back; the helper again on a deferral path (the
# service refuses: error paths are where leaks hide); and the module in a
# PAM host for a few cycles.  Each run must end with its normal exit
# status and valgrind must report no error and no definite or indirect
# leak (--errors-for-leak-kinds=definite,indirect).  One run each:
# valgrind is slow.  SKIP under the sanitizers (ASan and valgrind exclude
# each other) and when valgrind is missing.
. "$(dirname "$0")/lib.sh"
rel_init "$0" "$@"
e2e_need_engine
[ "$REL_SAN" != yes ] || e2e_skip "sanitizer build: valgrind cannot run ASan binaries"
command -v valgrind >/dev/null || e2e_skip "valgrind not installed"
e2e_emulator
# valgrind makes everything ~20x slower: give the network work room
e2e_config "timeout = 60"

VG_EXIT=99
VALGRIND=$(command -v valgrind)
vg_runs=0
vg_clean=0

# vg [-i] NAME WANT-STATUS CMD...: CMD under memcheck; log in
# $SANDBOX/vg-NAME.log.  -i: with an empty environment, as the module
# starts the helper.
vg() {
	local envflag="" name want rc=0 log errors leaks
	if [ "$1" = -i ]; then
		envflag=-i
		shift
	fi
	name=$1 want=$2
	shift 2
	log="$SANDBOX/vg-$name.log"
	env $envflag "$VALGRIND" --tool=memcheck --leak-check=full \
		--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
		--error-exitcode=$VG_EXIT --track-origins=yes --num-callers=30 --log-file="$log" \
		"$@" >"$SANDBOX/vg-$name.out" 2>&1 || rc=$?
	vg_runs=$((vg_runs + 1))
	errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	leaks=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1)
	rel_figure "valgrind_$name" "status=$rc errors=${errors:-?} definitely_lost=${leaks:-0}"
	if [ "$rc" = "$want" ] && [ "${errors:-x}" = 0 ]; then
		vg_clean=$((vg_clean + 1))
		e2e_pass "valgrind $name: exit $rc, 0 errors, no leak"
	else
		e2e_fail "valgrind $name: exit $rc (want $want), errors=${errors:-?}"
		grep -v '^==[0-9]*== *$' "$log" | head -n 120 >&2
		sed 's/^/    out: /' "$SANDBOX/vg-$name.out" | head -n 20 >&2
	fi
}

e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"},
	{"FriendlyCredentialName": "Work laptop"}]'
e2e_user bob '[{"FriendlyCredentialName": "Bob key"}, {}]'
e2e_user carol '[{}]'
e2e_token alice
e2e_token bob '"Ttl": -60'	# expired: the helper must refresh and write back
e2e_token carol

# ---- the command
vg flag 0 "$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" -a -r "valgrind" alice
vg list 0 "$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" -L alice
vg status 0 "$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" -S alice
vg run 0 "$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" -x alice
e2e_check "alice's passkeys are gone" [ "$(e2e_passkey_count alice)" = 0 ]
vg history 0 "$CPK_PASSKEY_REVOKE" --config "$E2E_CONF" --history --json alice

# ---- the helper, as the module runs it: empty environment, argv settings
rel_flag bob
access() {
	"${PYTHON3:-python3}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessToken"])' \
		"$SANDBOX/home/bob/.cache/cognito/tokens.json"
}
old_access=$(access)
vg -i helper 0 "$CPK_HELPER" bob sshd session "conf=$E2E_CONF"
e2e_check "bob's passkeys are gone" [ "$(e2e_passkey_count bob)" = 0 ]
e2e_check "the helper refreshed and wrote the token back" [ "$old_access" != "$(access)" ]

# ---- the helper on a deferral path
rel_flag carol
emu_ctl POST faults '{"Operation": "ListWebAuthnCredentials", "Faults": ["forbidden"]}' >/dev/null
vg -i helper-deferred 2 "$CPK_HELPER" carol sshd session "conf=$E2E_CONF"
e2e_check "carol's revocation stays pending" [ -f "$E2E_STATE/pending/carol" ]

# ---- the module in a PAM host: nothing pending, then carol pending (the
# helper it starts runs natively: valgrind does not follow the exec)
rel_service vg-host
vg module-idle 0 "$CPK_PAM_LOOP" -d "$E2E_PAMD" -n 20 -w 5 vg-host alice
e2e_check "module host: 20 cycles, every session opened" \
	grep -q '^result open_session PAM_SUCCESS 20$' "$SANDBOX/vg-module-idle.out"
vg module-pending 0 "$CPK_PAM_LOOP" -d "$E2E_PAMD" -n 1 -w 0 vg-host carol
e2e_check "module host: carol's revocation carried out" [ ! -e "$E2E_STATE/pending/carol" ]

rel_figure valgrind runs=$vg_runs clean=$vg_clean
e2e_done
