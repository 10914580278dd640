#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""bench_emu.py: emulator-side chores for tests/bench/run.sh (stdlib only).

Reads EMU_URL and EMU_CA.  One keep-alive connection per invocation, so that
setting up 200 users costs one TLS handshake, not 400 process starts.

  bench_emu.py users HOMEBASE PASSKEYS USER:UID...
        (Re)create each user with PASSKEYS passkeys, mint tokens, write them as
        Cognito's AuthenticationResult to HOMEBASE/USER/.cache/cognito/tokens.json
        (0600, owned by UID; directories 0700).
  bench_emu.py passkeys PASSKEYS USER...
        Give each user exactly PASSKEYS fresh passkeys (tokens stay valid).
  bench_emu.py remaining USER...
        Print the number of passkeys the users still have, in total.
  bench_emu.py latency MS
  bench_emu.py clear-log
  bench_emu.py log-summary [OPERATION-PREFIX]
        JSON: service requests, connections, first/last Time.
  bench_emu.py rate-check RATE
        JSON: the achieved rate of the logged service requests and the largest
        number received in any one-second window (sliding, half-open).
"""

import http.client
import json
import os
import ssl
import sys
from urllib.parse import urlsplit


class Emu:
    def __init__(self):
        parts = urlsplit(os.environ["EMU_URL"])
        ctx = ssl.create_default_context(cafile=os.environ["EMU_CA"])
        self.conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=60,
                                                context=ctx)

    def call(self, method, path, obj=None):
        body = json.dumps(obj).encode() if obj is not None else None
        self.conn.request(method, "/_emulator/" + path, body=body,
                          headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if not 200 <= resp.status < 300:
            raise SystemExit("bench_emu: %s %s: HTTP %d %s" % (method, path, resp.status,
                                                                data[:200]))
        return json.loads(data) if data else None


def write_cache(home, uid, tokens):
    cache = os.path.join(home, ".cache")
    cdir = os.path.join(cache, "cognito")
    os.makedirs(cdir, mode=0o700, exist_ok=True)
    path = os.path.join(cdir, "tokens.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fp:
        json.dump(tokens, fp)
    for p in (home, cache, cdir, path):
        os.chown(p, uid, uid)
    os.chmod(home, 0o700)
    os.chmod(cache, 0o700)
    os.chmod(cdir, 0o700)


def users(emu, homebase, count, specs):
    for spec in specs:
        name, uid = spec.split(":")
        emu.call("POST", "users", {"Username": name, "PasskeyCount": count})
        tokens = emu.call("POST", "tokens", {"Username": name, "Ttl": 86400})
        write_cache(os.path.join(homebase, name), int(uid), tokens)


def passkeys(emu, count, names):
    for name in names:
        user = emu.call("GET", "users/" + name)
        missing = count - len(user["Passkeys"])
        if missing > 0:
            emu.call("POST", "users/%s/passkeys" % name, {"PasskeyCount": missing})


def service_requests(emu):
    return [r for r in emu.call("GET", "requests")["Requests"] if r.get("Operation")]


def rate_check(emu, rate):
    times = sorted(r["Time"] for r in service_requests(emu))
    worst, j = 0, 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + 1.0:
            j += 1
        worst = max(worst, j - i)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / span if span > 0 else 0.0
    # how close request k+R comes to request k: under 1 s means R+1 in a window
    r = int(rate)
    closest = min((times[k + r] - times[k] for k in range(len(times) - r)), default=0.0)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"requests": len(times), "span_s": round(span, 4), "achieved": round(achieved, 3),
            "target": rate, "max_in_1s_window": worst,
            "closest_%d_apart_ms" % r: round(closest * 1e3, 2),
            "min_gap_ms": round(min(gaps, default=0.0) * 1e3, 2),
            "max_gap_ms": round(max(gaps, default=0.0) * 1e3, 2)}


def main(argv):
    emu = Emu()
    cmd, args = argv[1], argv[2:]
    if cmd == "users":
        users(emu, args[0], int(args[1]), args[2:])
    elif cmd == "passkeys":
        passkeys(emu, int(args[0]), args[1:])
    elif cmd == "remaining":
        print(sum(len(emu.call("GET", "users/" + n)["Passkeys"]) for n in args))
    elif cmd == "latency":
        emu.call("POST", "latency", {"Milliseconds": int(args[0])})
    elif cmd == "clear-log":
        emu.call("DELETE", "requests")
    elif cmd == "log-summary":
        reqs = service_requests(emu)
        ops = {}
        for r in reqs:
            ops[r["Operation"]] = ops.get(r["Operation"], 0) + 1
        print(json.dumps({"requests": len(reqs), "operations": ops,
                          "connections": len({r["Connection"] for r in reqs}),
                          "errors": sum(1 for r in reqs if r.get("ErrorCode"))}))
    elif cmd == "rate-check":
        print(json.dumps(rate_check(emu, float(args[0]))))
    else:
        raise SystemExit("bench_emu: unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
