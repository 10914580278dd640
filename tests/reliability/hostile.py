#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""hostile.py: the /proc and core-file parts of tests/reliability/hostile.sh.

  hostile.py secrets TOKENFILE...
      Prints the secret fragments of the token caches, one a line: every
      token, and every dot-separated part of a token that is 40 characters
      or more (the JWT payload and signature, the refresh token's parts).
  hostile.py grep SECRETS FILE...
      Exit 1 and name the file when any secret fragment occurs in a file.
  hostile.py watch SECRETS HELPER -- CMD...
      Runs CMD and, until it exits, scans every process's /proc/PID/cmdline
      and /proc/PID/environ for the secret fragments, every 20 ms.  It also
      looks at each process running HELPER: its environment must be empty
      and its core size limit 0 (/proc/PID/limits).  Prints
      `figure proc_scan ...`; exit 1 on a leak, 2 when no HELPER process
      was ever seen (the scan proved nothing), else CMD's status.
  hostile.py crash SECRETS WORKDIR -- CMD...
      Runs CMD in WORKDIR with RLIMIT_CORE raised to unlimited (it must
      lower it itself), waits DELAY (env CRASH_DELAY, default 1.0 s) while
      it holds the token, sends SIGSEGV (env CRASH_SIGNAL=ABRT: SIGABRT,
      which a sanitizer build does not intercept; both signals dump core
      by default) and checks that it died without a
      core dump (WCOREDUMP clear, no core* file in WORKDIR, and no file in
      WORKDIR holds a secret).  A control process (sleep) treated the same
      way shows whether this host writes core files at all.  Exit 1 when
      CMD dumped core.
"""

import os
import resource
import signal
import subprocess
import sys
import time


def load_secrets(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def secrets_of(paths):
    import json
    out = []
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        if "AuthenticationResult" in doc:
            doc = doc["AuthenticationResult"]
        for key, value in doc.items():
            if not isinstance(value, str) or "token" not in key.lower():
                continue
            out.append(value)
            out.extend(part for part in value.split(".") if len(part) >= 40)
    return sorted(set(out), key=len, reverse=True)


def cmd_secrets(args):
    for s in secrets_of(args):
        print(s)
    return 0


def cmd_grep(args):
    secrets = [s.encode() for s in load_secrets(args[0])]
    bad = 0
    for path in args[1:]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for s in secrets:
            if s in data:
                print("secret found in %s (%d-char fragment)" % (path, len(s)))
                bad = 1
                break
    return bad


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def core_limit(pid):
    data = read("/proc/%d/limits" % pid)
    if data is None:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Max core file size"):
            return line.split()[4:6]
    return None


def cmd_watch(args):
    sep = args.index("--")
    secrets = [s.encode() for s in load_secrets(args[0])]
    helper = os.path.realpath(args[1])
    cmd = args[sep + 1:]
    me = os.getpid()
    proc = subprocess.Popen(cmd)
    scans = procs = 0
    helpers = {}
    leaks = {}
    while True:
        done = proc.poll() is not None
        scans += 1
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            pid = int(name)
            cmdline = read("/proc/%d/cmdline" % pid)
            environ = read("/proc/%d/environ" % pid)
            if cmdline is None:
                continue
            procs += 1
            for s in secrets:
                if s in cmdline or (environ and s in environ):
                    where = "argv" if s in cmdline else "environment"
                    leaks[(pid, where)] = "pid %d (%s): %d-char fragment in %s" % (
                        pid, cmdline.split(b"\0")[0].decode(errors="replace"), len(s), where)
                    break
            exe = cmdline.split(b"\0")[0].decode(errors="replace")
            if exe and os.path.basename(exe) == os.path.basename(helper):
                info = helpers.setdefault(pid, {"environ": None, "core": None})
                if environ is not None:
                    info["environ"] = len([e for e in environ.split(b"\0") if e])
                limit = core_limit(pid)
                if limit is not None:
                    info["core"] = limit
        if done:
            break
        time.sleep(0.02)
    rc = proc.wait()
    print("figure proc_scan scans=%d processes_examined=%d helper_processes=%d leaks=%d"
          % (scans, procs, len(helpers), len(leaks)))
    for pid, info in sorted(helpers.items()):
        print("helper pid %d: environment variables=%s core limit=%s"
              % (pid, info["environ"], info["core"]))
    for leak in leaks.values():
        print("LEAK " + leak)
    if leaks:
        return 1
    if not helpers:
        print("the helper was never seen running: nothing proven")
        return 2
    for pid, info in helpers.items():
        if info["environ"] not in (0, None) or (info["core"] is not None
                                                and info["core"] != ["0", "0"]):
            print("helper pid %d: environment or core limit wrong" % pid)
            return 1
    return rc


def crash(cmd, workdir, delay, sig):
    def raise_core():
        resource.setrlimit(resource.RLIMIT_CORE,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    proc = subprocess.Popen(cmd, cwd=workdir, preexec_fn=raise_core,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    limit = core_limit(proc.pid)
    alive = proc.poll() is None
    os.kill(proc.pid, sig)
    _, status = os.waitpid(proc.pid, 0)
    proc.returncode = 0
    return alive, limit, os.WIFSIGNALED(status) and os.WTERMSIG(status) == sig, \
        os.WCOREDUMP(status)


def cores_in(workdir):
    return [n for n in os.listdir(workdir) if n.startswith("core")]


def cmd_crash(args):
    sep = args.index("--")
    secrets = [s.encode() for s in load_secrets(args[0])]
    workdir = args[1]
    cmd = args[sep + 1:]
    delay = float(os.environ.get("CRASH_DELAY", "1.0"))
    sig = getattr(signal, "SIG" + os.environ.get("CRASH_SIGNAL", "SEGV"))
    pattern = (read("/proc/sys/kernel/core_pattern") or b"?").decode().strip()

    control_dir = os.path.join(workdir, "control")
    os.makedirs(control_dir, exist_ok=True)
    _, _, _, control_dumped = crash(["sleep", "30"], control_dir, 0.2, sig)
    control_files = cores_in(control_dir)
    for n in control_files:
        os.unlink(os.path.join(control_dir, n))
    print("control (sleep): core_dumped=%s core_files=%d core_pattern=%r"
          % (control_dumped, len(control_files), pattern))

    alive, limit, killed, dumped = crash(cmd, workdir, delay, sig)
    files = cores_in(workdir)
    leaked = []
    for name in os.listdir(workdir):
        p = os.path.join(workdir, name)
        if os.path.isfile(p):
            data = read(p) or b""
            if any(s in data for s in secrets):
                leaked.append(name)
    print("figure core_dump signal=%s helper_alive_at_signal=%s core_limit=%s "
          "killed_by_signal=%s core_dumped=%s core_files=%d files_with_secret=%d "
          "control_dumped=%s" % (sig.name, alive, "/".join(limit or ["?"]), killed, dumped,
                                 len(files), len(leaked), control_dumped))
    if not alive or not killed:
        print("the helper was not running when signalled: nothing proven")
        return 2
    if dumped or files or leaked or limit != ["0", "0"]:
        return 1
    return 0


def main(argv):
    cmds = {"secrets": cmd_secrets, "grep": cmd_grep, "watch": cmd_watch, "crash": cmd_crash}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
