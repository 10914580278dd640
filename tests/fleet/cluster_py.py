#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""cluster_py.py: cluster.test's one Python process (a coprocess).

A Python start costs seconds on a loaded machine; the test asks this one
process instead.  One request a line on stdin, a JSON array of strings;
one answer a line on stdout, "ok TEXT" or "err TEXT".

  ["emu", METHOD, PATH, BODY?]     the emulator's control interface
                                   (EMU_URL, EMU_CA): the answer, one line
  ["emu_to", FILE, METHOD, PATH, BODY?]  the same, the answer into FILE
  ["deletes", CRED, "all"|"ok"]    Delete calls for CRED in the request log
                                   (every call, or those answered 200)
  ["faults_empty", OP]             "yes" when OP has no queued fault left
  ["gone", USER, CRED...]          "yes" when the emulator holds none of
                                   USER's passkeys and deleted exactly CREDs
  ["field", FILE, USER, NAME]      NAME of USER's entry in FILE (the output
                                   of passkey-revoke -S USER --json)
  ["events", FILE, CRED, HOST?, EVENT?]  EVENT ("deleted") events naming
                                   CRED (by HOST) among FILE's lines (etcd's
                                   history values)
  ["leader", FILE, ENDPOINTS]      the 1-based index of the leader in
                                   FILE (etcdctl endpoint status -w json)
  ["etcd_put", URL, KEY, FILE]    FILE's bytes put under KEY through etcd's
                                   JSON gateway at URL (ETCD_DIR's CA and
                                   client certificate): etcdctl's own client
                                   refuses to send more than 2 MiB
  ["listen"]                       a TCP listener on a free loopback port
                                   that counts connections: its port
  ["accepted"]                     connections it took so far
"""

import base64
import http.client
import json
import os
import socket
import ssl
import sys
import threading
from urllib.parse import urlsplit

ACCEPTED = [0]


def emu(method, path, body=None):
    parts = urlsplit(os.environ["EMU_URL"])
    context = ssl.create_default_context(cafile=os.environ["EMU_CA"])
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=30,
                                       context=context)
    conn.request(method, "/_emulator/" + path,
                 body=body.encode("utf-8") if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    conn.close()
    if not 200 <= resp.status < 300:
        raise RuntimeError("%s %s: HTTP %d %s" % (method, path, resp.status, data.strip()))
    return data


def deletes(cred, which):
    log = json.loads(emu("GET", "requests"))["Requests"]
    return sum(1 for r in log
               if r["Operation"] == "DeleteWebAuthnCredential"
               and (r["Input"] or {}).get("CredentialId") == cred
               and (which == "all" or r["Status"] == 200))


def faults_empty(op):
    q = json.loads(emu("GET", "faults"))
    q = q.get("Pending", q)
    return "no" if q.get(op) else "yes"


def gone(user, *creds):
    u = json.loads(emu("GET", "users/" + user))
    return "yes" if not u["Passkeys"] and sorted(u["Deleted"]) == sorted(creds) else "no"


def field(path, user, name):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    users = doc if isinstance(doc, list) else doc.get("users", [doc])
    for u in users:
        if u.get("user") == user:
            v = u.get(name)
            return "" if v is None else (v if isinstance(v, str) else json.dumps(v))
    return ""


def events(path, cred, host="", event="deleted"):
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("credential") == cred and ev.get("event") == event and \
                    (not host or ev.get("host") == host):
                n += 1
    return n


def leader(path, endpoints):
    eps = endpoints.split(",")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for s in json.loads(text) if text.strip() else []:
        st = s["Status"]
        if st.get("leader") and st["leader"] == st["header"]["member_id"]:
            return eps.index(s["Endpoint"]) + 1
    return 0


def etcd_put(url, key, path):
    d = os.environ["ETCD_DIR"]
    context = ssl.create_default_context(cafile=d + "/ca.pem")
    context.load_cert_chain(d + "/client.pem", d + "/client.key")
    parts = urlsplit(url)
    with open(path, "rb") as f:
        value = f.read()
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value).decode()})
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=60,
                                       context=context)
    conn.request("POST", "/v3/kv/put", body=body.encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    conn.close()
    if resp.status != 200:
        raise RuntimeError("HTTP %d %s" % (resp.status, data[:300]))
    return len(value)


def count_connections(sock):
    while True:
        conn, _ = sock.accept()
        ACCEPTED[0] += 1
        conn.close()


def listen():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    threading.Thread(target=count_connections, args=(sock,), daemon=True).start()
    return sock.getsockname()[1]


def answer(req):
    op, args = req[0], req[1:]
    if op == "emu":
        return emu(*args).strip().replace("\n", " ")
    if op == "emu_to":
        with open(args[0], "w", encoding="utf-8") as f:
            f.write(emu(*args[1:]))
        return ""
    if op == "deletes":
        return deletes(*args)
    if op == "faults_empty":
        return faults_empty(*args)
    if op == "gone":
        return gone(*args)
    if op == "field":
        return field(*args)
    if op == "events":
        return events(*args)
    if op == "leader":
        return leader(*args)
    if op == "etcd_put":
        return etcd_put(*args)
    if op == "listen":
        return listen()
    if op == "accepted":
        return ACCEPTED[0]
    raise RuntimeError("unknown request " + op)


def main():
    for line in sys.stdin:
        try:
            out = "ok %s" % (answer(json.loads(line)),)
        except Exception as exc:  # every failure is the test's to report
            out = "err %s: %s" % (type(exc).__name__, str(exc).replace("\n", " "))
        sys.stdout.write(out + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
