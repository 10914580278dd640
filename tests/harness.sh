# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# tests/harness.sh: the one pass/fail harness of the shell tests (e2e, cli,
# reliability, symbols.sh).  Sourced.
#
#   t_pass TEXT / t_fail TEXT       count and print "ok - " / "FAIL - "
#   t_check TEXT COMMAND...         t_pass or t_fail on COMMAND's status
#   t_done NAME [LOGFILE]           summary; exit 1 when a check failed or
#                                   none ran (then LOGFILE, e.g. the captured
#                                   syslog, is printed), else 0
#   t_show_failures BUILDDIR        the log of every failing automake test
T_PASSED=0
T_FAILED=0
T_FAILURES=

t_pass() {
	T_PASSED=$((T_PASSED + 1))
	printf 'ok - %s\n' "$*" >&2
}

t_fail() {
	T_FAILED=$((T_FAILED + 1))
	T_FAILURES="$T_FAILURES$*
"
	printf 'FAIL - %s\n' "$*" >&2
}

t_check() {
	local what=$1
	shift
	if "$@"; then
		t_pass "$what"
	else
		t_fail "$what"
	fi
}

t_done() {
	local name=$1 log=${2:-}
	printf '# %s: %d passed, %d failed\n' "$name" "$T_PASSED" "$T_FAILED" >&2
	if [ $((T_PASSED + T_FAILED)) -eq 0 ]; then
		printf 'FAIL - no check ran: a test that checks nothing proves nothing\n' >&2
		exit 1
	fi
	[ "$T_FAILED" -eq 0 ] && exit 0
	if [ -n "$log" ] && [ -f "$log" ]; then
		printf -- '---- %s\n' "$log" >&2
		sed 's/^/    /' "$log" >&2
	fi
	# last, so that a log's tail (all CI shows) names what failed
	printf '%s' "$T_FAILURES" | sed 's/^/FAIL - /' >&2
	exit 1
}

# automake's .trs files say which tests failed, whatever the timestamps (a
# fresh clone's build is all "new").
t_show_failures() {
	local dir=$1 trs
	find "$dir" -name '*.trs' 2>/dev/null | sort |
	while read -r trs; do
		grep -qE '^:test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
		echo "---------- ${trs%.trs}.log: what failed"
		grep -E '^FAIL - |^not ok ' "${trs%.trs}.log" 2>/dev/null | head -n 60
		echo "---------- ${trs%.trs}.log: its end"
		tail -n 60 "${trs%.trs}.log" 2>/dev/null || echo "(no log)"
	done
}
