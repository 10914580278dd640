#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The module links neither libcurl nor json-c (readelf -d), exports only the
# pam_sm_* entry points, loads with every symbol resolved (dlopen RTLD_NOW),
# and names the helper path it was built for.  No root needed.
set -u
# shellcheck source=../harness.sh
. "$(dirname "$0")/../harness.sh"
ok() { t_pass "$@"; }
fail() { t_fail "$@"; }
: "${CPK_MODULE:?run through make check}" "${CPK_HELPER:?}" "${CPK_HELPER_PATH:?}"

[ -f "$CPK_MODULE" ] || { echo "FATAL: $CPK_MODULE not built" >&2; exit 99; }
needed=$(readelf -d "$CPK_MODULE" | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }')
echo "module NEEDED: $(echo $needed)" >&2
if echo "$needed" | grep -Eq 'curl|json'; then
	fail "module links libcurl or json-c: $(echo $needed)"
else
	ok "readelf -d: no libcurl, no json-c"
fi
echo "$needed" | grep -q '^libpam\.so' && ok "module links libpam" || fail "module does not link libpam"

# The same check must be able to see a linked libcurl: the helper has one.
if readelf -d "$CPK_HELPER" | grep -q 'NEEDED.*libcurl'; then
	ok "readelf -d sees libcurl in the helper (the check is not blind)"
else
	fail "the helper does not link libcurl?"
fi

exported=$(nm -D --defined-only "$CPK_MODULE" | awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' | sort)
echo "module exports: $(echo $exported)" >&2
others=$(echo "$exported" | grep -v '^pam_sm_' || true)
if [ -z "$others" ]; then
	ok "only pam_sm_* exported"
else
	fail "exports other than pam_sm_*: $(echo $others)"
fi
for sym in pam_sm_open_session pam_sm_close_session pam_sm_chauthtok pam_sm_authenticate \
	pam_sm_setcred pam_sm_acct_mgmt; do
	echo "$exported" | grep -qx "$sym" || fail "$sym not exported"
done

# Undefined symbols resolve at load time (like Linux-PAM's tst-dlopen).
# an ASan-built module loads only into a process whose first library is libasan
preload=
if [ "${CPK_SANITIZERS:-no}" = yes ]; then
	preload=$(${CC:-cc} -print-file-name=libasan.so)
fi
if LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 "${PYTHON3:-python3}" - "$CPK_MODULE" <<'PY'
import ctypes, os, sys
lib = ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW)
lib.pam_sm_open_session
try:
    lib.cpk_config_load
except AttributeError:
    sys.exit(0)
sys.exit(1)
PY
then
	ok "dlopen(RTLD_NOW) resolves everything; internals are hidden"
else
	fail "dlopen(RTLD_NOW) failed, or cpk_* internals are visible"
fi

if grep -aqF "$CPK_HELPER_PATH" "$CPK_MODULE"; then
	ok "module runs $CPK_HELPER_PATH"
else
	fail "module does not name $CPK_HELPER_PATH"
fi
if readelf -d "$CPK_MODULE" | grep -q 'BIND_NOW\|FLAGS.*NOW'; then
	ok "module is linked with -z now"
else
	fail "module is not linked with -z now"
fi

t_done symbols
