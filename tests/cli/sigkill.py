#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""sigkill.py ITERATIONS: kill passkey-revoke -x with SIGKILL at random points.

Run by sigkill.sh inside the sandbox, with the emulator up (EMU_URL, EMU_CA)
and CLI_STATE, CLI_CONF, CPK_PASSKEY_REVOKE, SANDBOX set.  Each iteration
flags a revocation for alice, starts the engine, kills its whole process
group after a random delay (the emulator's latency widens the window), then
checks:
  - the state parses (pending file, every history line), nothing set aside;
  - nothing flagged is lost: a selected passkey the emulator still has is
    still pending;
  - nothing is recorded as deleted that the emulator still has;
and after a run to completion: everything selected is gone, nothing else,
each credential was deleted at most once, every selected one is on record.
Exit 0 when every check held.  CPK_SIGKILL_SEED repeats a run.
"""

import http.client
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import time
from urllib.parse import urlsplit

URL = urlsplit(os.environ["EMU_URL"])
CTX = ssl.create_default_context(cafile=os.environ["EMU_CA"])
STATE = os.environ["CLI_STATE"]
CONF = os.environ["CLI_CONF"]
PROG = os.environ["CPK_PASSKEY_REVOKE"]
HOME = os.path.join(os.environ["SANDBOX"], "home", "alice")
ALICE_UID = 4001


def ctl(method, path, body=None):
    conn = http.client.HTTPSConnection(URL.hostname, URL.port, context=CTX, timeout=15)
    conn.request(method, "/_emulator/" + path,
                 body=json.dumps(body).encode() if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    if resp.status != 200:
        raise RuntimeError("%s %s: %s" % (method, path, data))
    return data


def write_token(ttl=None):
    body = {"Username": "alice"}
    if ttl is not None:
        body["Ttl"] = ttl
    tokens = ctl("POST", "tokens", body)
    d = os.path.join(HOME, ".cache", "cognito")
    os.makedirs(d, exist_ok=True)
    for p in (os.path.join(HOME, ".cache"), d):
        os.chown(p, ALICE_UID, ALICE_UID)
        os.chmod(p, 0o700)
    path = os.path.join(d, "tokens.json")
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(tokens, f)
    os.chown(tmp, ALICE_UID, ALICE_UID)
    os.chmod(tmp, 0o600)
    os.rename(tmp, path)


def pr(*args):
    return subprocess.run([PROG, "--config", CONF] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def pending():
    path = os.path.join(STATE, "pending", "alice")
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    assert doc["version"] == 1 and doc["user"] == "alice", doc
    assert isinstance(doc["requests"], list)
    return doc


def history():
    path = os.path.join(STATE, "history", "alice")
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def group_alive(pgid):
    """Processes of the group that still run (zombies hold no file or lock)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def group_gone(pgid, limit=120.0):    # a guard against a hang, not a window
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not group_alive(pgid):
            return True
        time.sleep(0.005)
    return False


def deletes_by_id():
    counts = {}
    for r in ctl("GET", "requests")["Requests"]:
        if r.get("Operation") == "DeleteWebAuthnCredential" and r.get("Status") == 200:
            cid = (r.get("Input") or {}).get("CredentialId")
            counts[cid] = counts.get(cid, 0) + 1
    return counts


def main(argv):
    n = int(argv[1]) if len(argv) > 1 else 50
    seed = int(os.environ.get("CPK_SIGKILL_SEED") or time.time_ns() % 1000000)
    rng = random.Random(seed)
    print("# seed %d (CPK_SIGKILL_SEED=%d repeats this run)" % (seed, seed))
    ctl("POST", "latency", {"Milliseconds": 60})
    problems = []
    stats = {"before": 0, "partial": 0, "after": 0}

    def check(cond, what):
        if not cond:
            problems.append("iteration %d: %s" % (i, what))

    for i in range(n):
        k = 4
        ids = ["it%d-k%d" % (i, j) for j in range(k)]
        ctl("POST", "users", {"Username": "alice", "Passkeys": [
            {"CredentialId": cid, "FriendlyCredentialName": "key %d" % j}
            for j, cid in enumerate(ids)]})
        write_token(-30 if i % 5 == 4 else None)   # every fifth run refreshes first
        ctl("DELETE", "requests")
        hist = os.path.join(STATE, "history", "alice")
        if os.path.exists(hist):
            os.unlink(hist)
        kind = i % 3
        if kind == 0:
            sel, selected = ["-a"], set(ids)
        elif kind == 1:
            sel, selected = ["-c", ids[0], "-c", ids[2], "-c", "gone-%d" % i], {ids[0], ids[2]}
        else:
            sel, selected = ["-n", "key [0-2]"], set(ids[:3])
        r = pr(*sel, "-r", "sigkill %d" % i, "alice")
        check(r.returncode == 0, "flagging failed: %s" % r.stderr)

        p = subprocess.Popen([PROG, "--config", CONF, "-x", "alice"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.4))
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        check(group_gone(p.pid), "the killed run's processes did not go away")

        # --- right after the kill
        try:
            doc = pending()
        except (ValueError, AssertionError, KeyError) as exc:
            check(False, "pending file does not parse: %r" % exc)
            doc = None
        corrupt = [f for f in os.listdir(os.path.join(STATE, "pending")) if f.startswith(".corrupt")]
        check(not corrupt, "a file was set aside: %s" % corrupt)
        try:
            events = history()
        except ValueError as exc:
            check(False, "history does not parse: %r" % exc)
            events = []
        user = ctl("GET", "users/alice")
        remaining = {p_["CredentialId"] for p_ in user["Passkeys"]}
        recorded_deleted = {e["credential"] for e in events if e["event"] == "deleted"}
        check(not (recorded_deleted & remaining),
              "recorded as deleted but still in Cognito: %s" % (recorded_deleted & remaining))
        left = selected & remaining
        if left:
            check(doc is not None and doc["requests"],
                  "flagged passkeys %s still exist but nothing is pending" % sorted(left))
            if doc is not None and kind == 1:
                still = {x for rq in doc["requests"] for x in rq.get("ids", [])}
                check(left <= still, "ids %s dropped from pending" % sorted(left - still))
        gone = len(selected - remaining)
        stats["before" if gone == 0 else "after" if not left else "partial"] += 1

        # --- a run to completion
        r = pr("-x", "alice")
        check(r.returncode == 0, "completion run: exit %d: %s" % (r.returncode, r.stderr))
        check(pending() is None, "pending after the completion run")
        user = ctl("GET", "users/alice")
        remaining = {p_["CredentialId"] for p_ in user["Passkeys"]}
        check(not (selected & remaining), "selected passkeys survived: %s" % (selected & remaining))
        check(remaining == set(ids) - selected, "unselected passkeys deleted: %s" % remaining)
        counts = deletes_by_id()
        twice = {c: v for c, v in counts.items() if v > 1}
        check(not twice, "deleted more than once: %s" % twice)
        events = history()
        for cid in selected:
            outcomes = [e["event"] for e in events if e.get("credential") == cid]
            check(outcomes.count("deleted") <= 1 and
                  ("deleted" in outcomes or "absent" in outcomes),
                  "%s on record as %s" % (cid, outcomes))
        check(any(e["event"] == "completed" for e in events), "no completed event")
    ctl("POST", "latency", {"Milliseconds": 0})
    print("# kills: %(before)d before any deletion, %(partial)d mid-way, "
          "%(after)d after every deletion" % stats)
    for p_ in problems:
        print("FAIL - " + p_)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
