#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""tests/bench/fleet_probe.py: the measuring side of tests/bench/fleet.sh.

    fleet_probe.py latency REVOKE CONF_A PENDING_DIR_B USER...
        For each USER: runs `REVOKE --config CONF_A -a -r bench USER` and
        stamps (CLOCK_MONOTONIC) the moment it returns and the moment
        PENDING_DIR_B/USER appears (an inotify event, IN_CREATE or
        IN_MOVED_TO, read by a thread as it comes: no poll).  Prints one
        line per sample, "user flag_ms after_return_ms", then the summary.
        A negative after_return_ms means B had the file before A's command
        had returned (A mirrors locally after etcd took the flag).

    fleet_probe.py fill URL CA CERT KEY PREFIX TEMPLATE TEMPLATE_USER USERS_FILE
        Puts pending/<user> for every user of USERS_FILE (one a line) under
        PREFIX, in txns of 100 puts through etcd's JSON gateway; the value is
        TEMPLATE (a document etcd holds for TEMPLATE_USER) with the user's
        name in place of TEMPLATE_USER's.

    fleet_probe.py count LOG FROM TO
        The requests logged by etcd_count.py between lines FROM and TO
        (1-based, inclusive), per tag and per kind (range, txn:claim,
        txn:outcome, txn:pending, lease/grant, ...), as "tag kind n" lines
        and a total.
"""
import base64
import ctypes
import ctypes.util
import json
import os
import ssl
import struct
import subprocess
import sys
import threading
import time
import http.client
from urllib.parse import urlparse

IN_CREATE = 0x100
IN_MOVED_TO = 0x80


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


class Watch:
    """inotify on one directory; first time each name appeared."""

    def __init__(self, path):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init()
        if self.fd < 0 or libc.inotify_add_watch(self.fd, path.encode(),
                                                 IN_CREATE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify on " + path)
        self.seen = {}
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            buf = os.read(self.fd, 65536)
            now = time.monotonic()
            i = 0
            while i + 16 <= len(buf):
                _, _, _, length = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16:i + 16 + length].rstrip(b"\0").decode()
                i += 16 + length
                with self.cond:
                    self.seen.setdefault(name, now)
                    self.cond.notify_all()

    def wait(self, name, timeout):
        with self.cond:
            self.cond.wait_for(lambda: name in self.seen, timeout)
            return self.seen.get(name)


def latency(revoke, conf, pending_dir, users):
    w = Watch(pending_dir)
    after, flag = [], []
    for user in users:
        t0 = time.monotonic()
        r = subprocess.run([revoke, "--config", conf, "-a", "-r", "bench", user],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        t1 = time.monotonic()
        if r.returncode != 0:
            sys.stderr.write("flag %s failed: %s\n" % (user, r.stderr.decode(errors="replace")))
            return 1
        seen = w.wait(user, 30)
        if seen is None:
            sys.stderr.write("%s never appeared in %s\n" % (user, pending_dir))
            return 1
        flag.append((t1 - t0) * 1000)
        after.append((seen - t1) * 1000)
        print("sample %s flag_ms=%.1f after_return_ms=%.1f" % (user, flag[-1], after[-1]))
    print("samples=%d" % len(after))
    print("after_return_median_ms=%.1f after_return_p90_ms=%.1f after_return_max_ms=%.1f"
          % (pct(after, .5), pct(after, .9), max(after)))
    print("flag_median_ms=%.1f flag_p90_ms=%.1f" % (pct(flag, .5), pct(flag, .9)))
    both = [a + f for a, f in zip(after, flag)]
    print("flag_start_to_file_median_ms=%.1f flag_start_to_file_p90_ms=%.1f"
          % (pct(both, .5), pct(both, .9)))
    return 0


def b64(s):
    return base64.b64encode(s.encode()).decode()


def fill(url, ca, cert, key, prefix, template, template_user, users_file):
    with open(template, encoding="utf-8") as f:
        doc = f.read().strip()
    needle = '"user":"%s"' % template_user
    if needle not in doc.replace(" ", ""):
        sys.stderr.write("template does not name %s as its user\n" % template_user)
    with open(users_file, encoding="utf-8") as f:
        users = [u.strip() for u in f if u.strip()]
    p = urlparse(url)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    conn = http.client.HTTPSConnection(p.hostname, p.port, context=ctx, timeout=30)
    for i in range(0, len(users), 100):
        ops = []
        for u in users[i:i + 100]:
            value = doc.replace('"%s"' % template_user, '"%s"' % u)
            ops.append({"request_put": {"key": b64(prefix + "pending/" + u),
                                        "value": b64(value)}})
        conn.request("POST", "/v3/kv/txn", json.dumps({"success": ops}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.stderr.write("txn: HTTP %d %s\n" % (r.status, body[:200]))
            return 1
    print("filled=%d" % len(users))
    return 0


def kind(path, keys):
    name = path.rsplit("/", 1)[-1] if path.startswith("/v3/kv/") else path[len("/v3/"):]
    if name == "txn":
        # the outcome's txn also deletes the claim: history/ decides first
        for sub in ("history/", "claims/", "pending/"):
            if any(sub in k for k in keys):
                return "txn:" + {"claims/": "claim", "history/": "outcome",
                                 "pending/": "pending"}[sub]
    if name in ("range", "deleterange", "put"):
        for sub in ("claims/", "history/", "pending/"):
            if any(sub in k for k in keys):
                return name + ":" + sub.rstrip("/")
    return name


def count(log, first, last):
    per = {}
    total = 0
    with open(log, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if n < first or n > last:
                continue
            parts = line.split()
            if len(parts) < 3:
                continue
            k = (parts[1], kind(parts[2], parts[3:]))
            per[k] = per.get(k, 0) + 1
            total += 1
    for (tag, what), n in sorted(per.items()):
        print("%s %s %d" % (tag, what, n))
    print("total %d" % total)
    return 0


def main(argv):
    if len(argv) >= 5 and argv[0] == "latency":
        return latency(argv[1], argv[2], argv[3], argv[4:])
    if len(argv) == 9 and argv[0] == "fill":
        return fill(*argv[1:])
    if len(argv) == 4 and argv[0] == "count":
        return count(argv[1], int(argv[2]), int(argv[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
