#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""fault_matrix.py: every fault the emulator can inject, on every operation of
a run, checked against doc/DESIGN.md's outcome table through `passkey-revoke -x`.

Run by fault_matrix.sh inside the sandbox, with the emulator started.  For
each cell (fault x operation x mode):

  1. alice has 3 passkeys in the emulator and a fresh token cache (for the
     refresh column the access token has expired, so the run must call
     GetTokensFromRefreshToken first); `passkey-revoke -a alice` flags them;
  2. the fault is queued on the operation: once (a transient fault, which
     the retry or the refresh must absorb) or persistent (more faults than
     the run has attempts); the del-ids column flags the three credential
     ids (-c) instead of every passkey (-a);
  3. `passkey-revoke -x alice` runs; its exit status must be the expected
     one (0 done, 2 stays pending);
  4. invariants, whatever the outcome:
     - every credential the history records as deleted is in the emulator's
       Deleted list (nothing recorded that did not happen), at most once;
     - every credential the history records as absent is really gone;
     - a passkey still in the emulator means the pending file still holds a
       request (nothing flagged lost); a deletion the emulator made that the
       history does not record (its answer was lost) is held by id in the
       pending file; no pending file means no passkey left and every
       deletion the emulator made is in the history;
     - a run that leaves something pending records a deferral with its cause;
  5. recovery: faults cleared, `passkey-revoke -x alice` again must finish
     the job: exit 0, no passkey left, no pending file, and the history
     accounts for each of the 3 credentials exactly once (deleted or absent).
     The hard case is a hang on DeleteWebAuthnCredential: the service
     deletes the passkey 3 s later, after the run has given up; the next
     run must still name that credential (as absent), even for a request
     that selects "all" and no longer sees it when it lists ("unrec" in the
     table counts credentials the history never names).

Prints the matrix as a table and `figure` lines; exit status 1 if a cell
failed.  Environment: EMU_URL EMU_CA CPK_PASSKEY_REVOKE SANDBOX E2E_STATE.
"""

import http.client
import json
import os
import pwd
import shutil
import ssl
import subprocess
import sys
import time
from urllib.parse import urlsplit

USER = "alice"
PASSKEYS = 3
HANG = "hang:3"
HANG_TIMEOUT = 2        # seconds: the run's deadline when the service hangs
TIMEOUT = 8             # seconds: room for max_attempts with backoff
MAX_ATTEMPTS = 3
PERSISTENT = 12         # more faults than a run makes requests of one kind

FAULTS = ["throttle", "limit", "internal", "forbidden", "hang", "reset", "garbage",
          "namespaced"]
# (column, operation that gets the fault, how the revocation is flagged)
OPERATIONS = [("list", "ListWebAuthnCredentials", "all"),
              ("delete", "DeleteWebAuthnCredential", "all"),
              ("del-ids", "DeleteWebAuthnCredential", "ids"),
              ("refresh", "GetTokensFromRefreshToken", "all")]
MODES = ["once", "persistent"]

# doc/DESIGN.md, "Outcomes of DeleteWebAuthnCredential" (and the same error model
# for the list and the refresh):
#   TooManyRequests, LimitExceeded, InternalError, network: retried with
#     backoff inside the deadline; otherwise stays pending
#   Forbidden (WAF): stays pending (not retried)
#   NotAuthorized: refresh once and retry; otherwise stays pending (on the
#     refresh itself: the refresh token is refused, stays pending)
#   deadline (the service hangs): stays pending
#   an answer that is not JSON: not Cognito's, stays pending
RETRIED = {"throttle", "limit", "internal", "reset"}
CAUSE = {
    "throttle": {"TooManyRequestsException"},
    "limit": {"LimitExceededException"},
    "internal": {"InternalErrorException"},
    "forbidden": {"ForbiddenException"},
    "hang": {"Timeout", "TransportError", "deadline"},
    "reset": {"TransportError"},
    "garbage": {"InvalidResponse"},
    "namespaced": {"NotAuthorizedException"},
}


def expected(fault, op, mode):
    """'done' or 'pending', from doc/DESIGN.md's table."""
    if mode == "persistent":
        return "pending"
    if fault in RETRIED:
        return "done"
    if fault == "namespaced" and op != "refresh":
        return "done"       # NotAuthorized: refresh once and retry
    return "pending"


class Emulator:
    def __init__(self):
        parts = urlsplit(os.environ["EMU_URL"])
        self.host, self.port = parts.hostname, parts.port
        self.ctx = ssl.create_default_context(cafile=os.environ["EMU_CA"])

    def call(self, method, path, body=None):
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.ctx)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/_emulator/" + path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read().decode()
        finally:
            conn.close()
        if not 200 <= resp.status < 300:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, resp.status, text))
        return json.loads(text) if text else None


class Cell:
    def __init__(self, fault, op, operation, selector, mode):
        self.fault, self.op, self.operation, self.mode = fault, op, operation, mode
        self.selector = selector
        self.unrecorded = 0
        self.want = expected(fault, op, mode)
        self.problems = []
        self.outcome = "?"
        self.rc = None
        self.pending = 0
        self.left = 0
        self.deleted = 0
        self.emu_deleted = 0
        self.cause = "-"
        self.recovery = "?"
        self.seconds = 0.0

    def fail(self, what):
        self.problems.append(what)


class Matrix:
    def __init__(self):
        self.emu = Emulator()
        self.revoke = os.environ["CPK_PASSKEY_REVOKE"]
        self.sandbox = os.environ["SANDBOX"]
        self.state = os.environ["E2E_STATE"]
        self.conf = os.path.join(self.sandbox, "matrix.conf")
        pw = pwd.getpwnam(USER)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.cache = os.path.join(self.home, ".cache", "cognito", "tokens.json")
        self.injected = 0
        self.hangs_queued = 0

    # ---- set-up
    def write_conf(self, timeout):
        with open(self.conf, "w") as f:
            f.write("state_dir = %s\nendpoint_url = %s\nca_file = %s\n"
                    "timeout = %d\nmax_attempts = %d\n"
                    % (self.state, os.environ["EMU_URL"], os.environ["EMU_CA"], timeout,
                       MAX_ATTEMPTS))
        os.chmod(self.conf, 0o644)

    def write_tokens(self, expired):
        body = {"Username": USER}
        if expired:
            body["Ttl"] = -60
        tokens = self.emu.call("POST", "tokens", body)
        d = os.path.dirname(self.cache)
        os.makedirs(d, exist_ok=True)
        for p in (os.path.dirname(d), d):
            os.chown(p, self.uid, self.gid)
            os.chmod(p, 0o700)
        tmp = self.cache + ".new"
        with open(tmp, "w") as f:
            json.dump(tokens, f)
        os.chown(tmp, self.uid, self.gid)
        os.chmod(tmp, 0o600)
        os.rename(tmp, self.cache)

    def clean_state(self):
        for sub in ("pending", "history"):
            p = os.path.join(self.state, sub, USER)
            if os.path.lexists(p):
                os.unlink(p)

    def pr(self, *args):
        t0 = time.monotonic()
        r = subprocess.run([self.revoke, "--config", self.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace"), time.monotonic() - t0

    # ---- observation
    def history(self):
        p = os.path.join(self.state, "history", USER)
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [json.loads(line) for line in f if line.strip()]

    def pending_requests(self):
        p = os.path.join(self.state, "pending", USER)
        if not os.path.exists(p):
            return None
        with open(p) as f:
            return json.load(f)["requests"]

    def wait_hangs(self):
        """A hung request is answered (and a deletion made) 3 s after it came
        in, long after the client gave up: wait until every hang that was
        taken from the queue has been logged by the emulator."""
        limit = time.monotonic() + 120    # a safety net, not a window
        while time.monotonic() < limit:
            queued = self.emu.call("GET", "faults")["Pending"]
            left = sum(q.count(HANG) for q in queued.values())
            taken = self.hangs_queued - left
            logged = sum(1 for r in self.emu.call("GET", "requests")["Requests"]
                         if r.get("Fault") == HANG)
            if logged >= taken:
                return
            time.sleep(0.2)

    def check_invariants(self, cell, ids, stage):
        user = self.emu.call("GET", "users/" + USER)
        left = [p["CredentialId"] for p in user["Passkeys"]]
        emu_deleted = list(user.get("Deleted") or [])
        hist = self.history()
        deleted = [e.get("credential") for e in hist if e.get("event") == "deleted"]
        absent = [e.get("credential") for e in hist if e.get("event") == "absent"]
        pending = self.pending_requests()
        for c in deleted:
            if c not in emu_deleted:
                cell.fail("%s: history says %s deleted, the emulator did not delete it"
                          % (stage, c))
        for c in set(deleted):
            if deleted.count(c) > 1:
                cell.fail("%s: %s recorded deleted %d times" % (stage, c, deleted.count(c)))
        for c in absent:
            if c in left:
                cell.fail("%s: history says %s absent, it is still there" % (stage, c))
        if left and not pending:
            cell.fail("%s: %d passkey(s) left and nothing pending: revocation lost"
                      % (stage, len(left)))
        if pending is not None and len(pending) == 0:
            cell.fail("%s: pending file with no request" % stage)
        if pending:
            # what the service deleted without our knowing must be held by
            # id, so that the next run records it (lib/revoke_select.c remembers
            # the ids a request chose before deleting any)
            held = [i for req in pending for i in req.get("ids") or []]
            for c in emu_deleted:
                if c in ids and c not in deleted + absent and c not in held:
                    cell.fail("%s: %s deleted unconfirmed, and the pending file does not "
                              "hold its id" % (stage, c))
        if pending is None:
            for c in emu_deleted:
                if c in ids and c not in deleted and c not in absent:
                    cell.fail("%s: %s deleted by the emulator, not in the history, "
                              "nothing pending" % (stage, c))
        return left, emu_deleted, hist, pending, deleted, absent

    # ---- one cell
    def run_cell(self, cell):
        refresh = cell.op == "refresh"
        self.emu.call("POST", "reset")
        self.clean_state()
        self.write_conf(HANG_TIMEOUT if cell.fault == "hang" else TIMEOUT)
        ids = [p["CredentialId"] for p in
               self.emu.call("POST", "users", {"Username": USER,
                                               "PasskeyCount": PASSKEYS})["Passkeys"]]
        self.write_tokens(expired=refresh)
        if cell.selector == "ids":
            flag = [a for i in ids for a in ("-c", i)]
        else:
            flag = ["-a"]
        rc, out, err, _ = self.pr(*flag, "-r", "fault matrix", USER)
        if rc != 0:
            cell.fail("flag: exit %d: %s" % (rc, err.strip()))
            return
        fault = HANG if cell.fault == "hang" else cell.fault
        n = 1 if cell.mode == "once" else PERSISTENT
        self.hangs_queued = n if cell.fault == "hang" else 0
        self.emu.call("DELETE", "requests")
        self.emu.call("POST", "faults", {"Operation": cell.operation, "Faults": [fault] * n})

        cell.rc, out, err, cell.seconds = self.pr("-x", USER)
        if cell.fault == "hang":
            self.wait_hangs()
        taken = sum(1 for r in self.emu.call("GET", "requests")["Requests"]
                    if r.get("Fault") == fault and r.get("Operation") == cell.operation)
        self.injected += taken
        if cell.fault != "hang" and taken == 0:
            cell.fail("the fault was never met (no %s call)" % cell.operation)
        left, emu_deleted, hist, pending, deleted, absent = \
            self.check_invariants(cell, ids, "run")
        cell.outcome = "pending" if pending else "done"
        cell.pending = len(pending or [])
        cell.left = len(left)
        cell.deleted = len(deleted)
        cell.emu_deleted = len(emu_deleted)
        want_rc = 0 if cell.want == "done" else 2
        if cell.outcome != cell.want:
            cell.fail("outcome %s, doc/DESIGN.md says %s" % (cell.outcome, cell.want))
        if cell.rc != want_rc:
            cell.fail("exit %s, want %d (stderr: %s)" % (cell.rc, want_rc, err.strip()[:200]))
        if cell.outcome == "done" and left:
            cell.fail("done with %d passkey(s) left" % len(left))
        deferred = [e for e in hist if e.get("event") == "deferred"]
        if cell.outcome == "pending":
            if not deferred:
                cell.fail("left pending without a deferred event in the history")
            else:
                cell.cause = deferred[-1].get("error") or "?"
                if not any(c in cell.cause for c in CAUSE[cell.fault]):
                    cell.fail("deferred with error=%s, want one of %s"
                              % (cell.cause, sorted(CAUSE[cell.fault])))
                req = pending[0]
                if not req.get("last_error"):
                    cell.fail("the pending request has no last_error")

        # recovery: the service is well again, and the run gets the full
        # deadline (HANG_TIMEOUT is short on purpose; on a loaded machine
        # five requests might not fit in it, and this is not what the
        # recovery checks)
        self.emu.call("DELETE", "faults")
        self.write_conf(TIMEOUT)
        rc, out, err, _ = self.pr("-x", USER)
        left, emu_deleted, hist, pending, deleted, absent = \
            self.check_invariants(cell, ids, "recovery")
        accounted = [c for c in ids if (deleted + absent).count(c) == 1]
        unrecorded = [c for c in ids if c not in deleted + absent]
        cell.unrecorded = len(unrecorded)
        if rc == 0 and not left and pending is None and len(accounted) == len(ids) \
                and sorted(emu_deleted) == sorted(ids):
            cell.recovery = "done"
        else:
            cell.recovery = "FAIL"
            cell.fail("recovery: exit %d, %d left, pending=%s, accounted %d/%d (%s)"
                      % (rc, len(left), pending is not None, len(accounted), len(ids),
                         err.strip()[:200]))

    def run(self):
        cells = [Cell(f, op, operation, sel, m) for f in FAULTS
                 for op, operation, sel in OPERATIONS for m in MODES]
        head = "%-10s %-8s %-10s %-7s %-7s %4s %7s %4s %7s %7s %-24s %-8s %5s %5s %s" % (
            "fault", "op", "mode", "want", "outcome", "exit", "pending", "left", "deleted",
            "emu_del", "cause", "recovery", "unrec", "secs", "result")
        print(head)
        print("-" * len(head))
        t0 = time.monotonic()
        for cell in cells:
            try:
                self.run_cell(cell)
            except Exception as exc:    # a broken cell must show, not stop the matrix
                cell.fail("exception: %r" % exc)
            print("%-10s %-8s %-10s %-7s %-7s %4s %7d %4d %7d %7d %-24s %-8s %5d %5.1f %s" % (
                cell.fault, cell.op, cell.mode, cell.want, cell.outcome,
                cell.rc if cell.rc is not None else "-", cell.pending, cell.left,
                cell.deleted, cell.emu_deleted, cell.cause[:24], cell.recovery,
                cell.unrecorded, cell.seconds, "OK" if not cell.problems else "FAIL"),
                flush=True)
            for p in cell.problems:
                print("    ! " + p, flush=True)
        bad = [c for c in cells if c.problems]
        print("-" * len(head))
        print("figure fault_matrix cells=%d ok=%d failed=%d faults=%d operations=%d "
              "modes=%d faults_injected=%d unrecorded=%d seconds=%.0f"
              % (len(cells), len(cells) - len(bad), len(bad), len(FAULTS), len(OPERATIONS),
                 len(MODES), self.injected, sum(c.unrecorded for c in cells),
                 time.monotonic() - t0))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(Matrix().run())
