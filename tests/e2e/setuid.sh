#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
# The REAL set-uid /bin/su and /usr/bin/passwd, started by a regular
# user, carry out a pending revocation.  Their real uid is the caller's; the helper's child must
# become fully root (lib/spawn.c) or the helper refuses ("must be run by
# root") and the request stays pending for ever.  The caller also sets
# what a hostile user can set before running su: a low file-size and
# descriptor limit, nice 19, ignored and blocked signals, umask 0, a cwd
# of its own; none of it may reach the helper, and the caller cannot
# signal the helper.
#
# The services are the sandbox's /etc/pam.d/su, su-l and passwd (the
# namespace's /etc is an overlay, tests/sandbox.sh): su and passwd read
# nothing else.
. "$(dirname "$0")/lib.sh"
e2e_init "$0" "$@"

for prog in /bin/su /usr/bin/passwd; do
	if [ ! -u "$prog" ] || [ "$(stat -c %u "$prog")" != 0 ]; then
		e2e_skip "$prog is not installed set-uid root on this host"
	fi
	# the sandbox adds no nosuid mount; a host that has one must be told
	if findmnt -n -o OPTIONS -T "$prog" | grep -qw nosuid; then
		e2e_fatal "$prog lies on a nosuid mount: set-uid cannot be tested"
	fi
done
if grep -Eq '^NoNewPrivs:[[:space:]]*1' /proc/self/status; then
	e2e_skip "this test runs under no_new_privs: the kernel ignores set-uid bits"
fi

# hostile [FSIZE] USER CMD...: run CMD as USER (real, effective, saved ids
# and groups; the set-uid bit of CMD is what gives root back) with
# attributes a user may set for itself before running su.  FSIZE: the soft
# file-size limit in bytes (default 4096: the stub's records still fit).
hostile() {
	local fsize=4096
	case $1 in [0-9]*) fsize=$1; shift ;; esac
	"${PYTHON3:-python3}" - "$fsize" "$@" <<'PY'
import os, pwd, resource, signal, sys
fsize = int(sys.argv.pop(1))
pw = pwd.getpwnam(sys.argv[1])
os.initgroups(pw.pw_name, pw.pw_gid)
os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
os.chdir(pw.pw_dir)
os.nice(19)
os.umask(0)
for res, soft in ((resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_NOFILE, 64)):
    hard = resource.getrlimit(res)[1]
    resource.setrlimit(res, (soft, hard))
for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
            signal.SIGPIPE, signal.SIGXFSZ, signal.SIGUSR2):
    signal.signal(sig, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGUSR1})
os.execv(sys.argv[2], sys.argv[2:])
PY
}

# session: our module's code decides (required); the rest is pam_permit, so
# no password is asked and nothing but our module acts.
for svc in su su-l; do
	cat >"/etc/pam.d/$svc" <<EOF
auth     required pam_permit.so
account  required pam_permit.so
session  required $CPK_MODULE conf=$E2E_CONF fail=closed
session  required pam_permit.so
password required pam_permit.so
EOF
done
cat >/etc/pam.d/passwd <<EOF
auth     required pam_permit.so
account  required pam_permit.so
password requisite $CPK_MODULE conf=$E2E_CONF fail=closed
password required pam_permit.so
session  required pam_permit.so
EOF

# An ASan-built module cannot load into a set-uid program: the loader
# ignores LD_PRELOAD of the ASan runtime in secure-execution mode.
if [ "${CPK_SANITIZERS:-no}" = yes ]; then
	e2e_syslog_mark probe
	e2e_stub 'exit 0'
	e2e_flag alice
	hostile bob /bin/su alice -c true >"$SANDBOX/probe.out" 2>&1 || true
	e2e_unflag alice
	if [ "$(e2e_stub_calls)" = 0 ]; then
		sed 's/^/    su: /' "$SANDBOX/probe.out" | head -n 5 >&2
		sed 's/^/    syslog: /' "$E2E_SYSLOG" | head -n 5 >&2
		e2e_skip "sanitizer build: the set-uid su cannot load the ASan-built module (no LD_PRELOAD in secure mode)"
	fi
fi

# ---------------------------------------------------------------------------
# What the helper is started with: the stub records it (tests/e2e/stub_helper.c)
# and its script records what the stub would pass on to its own children,
# in a directory anyone may write: sh drops an effective uid 0 that the
# real uid does not match, so a child that did not become root still
# records what it inherited.
REC=$E2E_CONF.rec
mkdir -m 1777 "$REC"
# shellcheck disable=SC2016
e2e_stub 'rec=$STUB_CONF.rec
{
	echo "groups $(id -G)"
	echo "nice $(nice)"
	echo "nofile $(ulimit -Sn)"
	echo "fsize $(ulimit -Sf)"
	echo "core $(ulimit -Sc)"
	echo "umask $(umask)"
	echo "cwd $(pwd)"
	echo "sid $(cut -d" " -f6 /proc/$$/stat) pid $$"
	# read by the shell itself: a forked grep would see the mask the shell
	# holds while it waits for a child, not the one it inherited
	while read -r l; do
		case $l in SigIgn:* | SigBlk:*) echo "$l" ;; esac
	done </proc/$$/status
} >"$rec/attrs-$STUB_CALL"
echo "$$" >"$rec/pid-$STUB_CALL"
while [ ! -e "$rec/go-$STUB_CALL" ]; do sleep 0.05; done
exit 0'

# stub_run N DESCRIPTION USER CMD...: CMD (hostile, in the background) starts
# stub call N; while it waits, USER tries to signal it; then let it finish.
stub_run() {
	local n=$1 what=$2 caller=$3 pid hpid i=0 rc
	shift 3
	hostile "$caller" "$@" >"$SANDBOX/run-$n.out" 2>&1 &
	pid=$!
	while [ ! -s "$REC/pid-$n" ] && kill -0 "$pid" 2>/dev/null; do
		[ "$i" -lt 2400 ] || break	# a guard against a hang
		sleep 0.05
		i=$((i + 1))
	done
	if [ -s "$REC/pid-$n" ]; then
		e2e_pass "$what: the helper was started"
		hpid=$(cat "$REC/pid-$n")
		e2e_check "$what: $caller cannot signal the helper" \
			bash -c "! setpriv --reuid=$caller --regid=$caller --init-groups kill -TERM $hpid 2>/dev/null"
		e2e_check "$what: the helper is still there" kill -0 "$hpid"
	else
		e2e_fail "$what: the helper was never started"
		sed 's/^/    out: /' "$SANDBOX/run-$n.out" >&2
	fi
	: >"$REC/go-$n"
	wait "$pid"
	rc=$?
	e2e_check "$what: exits 0 (got $rc)" [ "$rc" = 0 ]
}

# no_ignored FILE: its SigIgn has no bit set but those of 32 and 33, glibc's
# own (SIGCANCEL, SIGSETXID): sigaction() refuses them, the helper's libc
# installs its handlers when it needs them, and the harness itself may run
# with them ignored.
no_ignored() {
	local hex
	hex=$(awk '$1 == "SigIgn:" { print $2 }' "$1")
	[ -n "$hex" ] && [ $((16#$hex & ~0x180000000)) = 0 ]
}

# attrs_are N DESCRIPTION CWD: stub call N ran as a fresh root process.
attrs_are() {
	local n=$1 what=$2 cwd=$3 f=$REC/attrs-$1
	e2e_check "$what: real and effective uid 0" grep -qx "call $n pid=[0-9]* uid=0 euid=0" "$E2E_CONF.calls"
	e2e_check "$what: groups 0 only" grep -qx 'groups 0' "$f"
	e2e_check "$what: nice 0, not the caller's 19" grep -qx 'nice 0' "$f"
	e2e_check "$what: file size unlimited, not the caller's 4 KiB" grep -qx 'fsize unlimited' "$f"
	# shellcheck disable=SC2016
	e2e_check "$what: at least 1024 descriptors, not the caller's 64" \
		awk '$1 == "nofile" && ($2 == "unlimited" || $2 >= 1024) { ok = 1 } END { exit !ok }' "$f"
	e2e_check "$what: no core file" grep -qx 'core 0' "$f"
	e2e_check "$what: umask 0077, not the caller's 0" grep -qx 'umask 0077' "$f"
	e2e_check "$what: cwd /, not $cwd" grep -qx 'cwd /' "$f"
	# shellcheck disable=SC2016
	e2e_check "$what: a session of its own" \
		awk '$1 == "sid" && $2 == $4 { ok = 1 } END { exit !ok }' "$f"
	e2e_check "$what: no ignored signal (but 32, 33)" no_ignored "$f"
	e2e_check "$what: no blocked signal" grep -Eqx 'SigBlk:[[:space:]]*0+' "$f"
}

e2e_flag alice
e2e_syslog_mark stub
stub_run 1 "bob: su - alice" bob /bin/su - alice -c true
attrs_are 1 "bob: su - alice" "$SANDBOX/home/bob"
e2e_check "su - ran the su-l session stack" grep -qx 'arg su-l' "$E2E_CONF.call-1"
stub_run 2 "alice: passwd" alice /usr/bin/passwd
attrs_are 2 "alice: passwd" "$SANDBOX/home/alice"
e2e_check "passwd ran the password stack" grep -qx 'arg password' "$E2E_CONF.call-2"
e2e_check "two helper starts" [ "$(e2e_stub_calls)" = 2 ]
e2e_unflag alice

# ---------------------------------------------------------------------------
# The real helper against the emulator: the revocation is carried out.
e2e_have_engine || { e2e_log "# (engine not built yet: emulator part skipped)"; e2e_done; }
e2e_emulator
e2e_use_helper "$CPK_HELPER"
e2e_user alice '[{"FriendlyCredentialName": "YubiKey 5C"}, {"FriendlyCredentialName": "iPhone"}]'
e2e_user bob '[{"FriendlyCredentialName": "Bob key"}]'
e2e_token alice
e2e_token bob

# real_run DESCRIPTION STACK CALLER CMD...: a pending -a for alice is done.
real_run() {
	local what=$1 stack=$2 caller=$3 rc
	shift 3
	e2e_check "$what: requested" e2e_revoke -a -r "off-boarding" alice
	e2e_check "$what: pending" [ -f "$E2E_STATE/pending/alice" ]
	e2e_syslog_mark "$stack"
	# no file may grow at all: the helper's state and history writes would fail
	hostile 0 "$caller" "$@" >"$SANDBOX/real.out" 2>&1
	rc=$?
	e2e_check "$what: exits 0 (got $rc)" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || sed 's/^/    out: /' "$SANDBOX/real.out" >&2
	e2e_check "$what: alice's passkeys are gone" [ "$(e2e_passkey_count alice)" = 0 ]
	e2e_check "$what: nothing pending" [ ! -e "$E2E_STATE/pending/alice" ]
	e2e_check "$what: audit revocation_completed" \
		e2e_log_has "cognito-passkey-helper\[[0-9]+\]: pam_cognito_passkey\($stack\): event=revocation_completed user=alice"
	e2e_check "$what: passkey_deleted from $stack" \
		e2e_log_has "pam_cognito_passkey\($stack\): event=passkey_deleted user=alice "
	e2e_check "$what: nothing says \"must be run by root\"" e2e_log_lacks 'must be run by root'
	e2e_check "$what: no helper error" e2e_log_lacks 'error=helper_'
	e2e_check "$what: bob's passkey untouched" [ "$(e2e_passkey_count bob)" = 1 ]
}

real_run "bob: su - alice -c true" su-l:session bob /bin/su - alice -c true
e2e_check "history: run by pam:su-l" grep -q '"event":"deleted".*"run_by":"pam:su-l"' "$E2E_STATE/history/alice"
emu_ctl POST users/alice/passkeys '{"Passkeys": [{"FriendlyCredentialName": "New key"}]}' >/dev/null
e2e_check "alice has a new passkey" [ "$(e2e_passkey_count alice)" = 1 ]
real_run "alice: passwd" passwd:chauthtok alice /usr/bin/passwd
e2e_check "history: run by pam:passwd" grep -q '"event":"deleted".*"run_by":"pam:passwd"' "$E2E_STATE/history/alice"
e2e_done
