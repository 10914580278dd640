#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""A hostile etcd gateway on loopback for tests/fleet/test_etcd: every
answer is wrong in one way, chosen by the first path component
(http://127.0.0.1:PORT/MODE/v3/kv/range).  Prints its port on stdout once
it listens, then serves until stdin closes or it is killed."""
import base64
import http.server
import json
import sys
import threading

PREFIX = "/fake/"


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def kv(key, value, **extra):
    d = {"key": b64(key), "value": b64(value), "create_revision": "2",
         "mod_revision": "2", "version": "1"}
    d.update(extra)
    return d


def range_reply(kvs):
    return json.dumps({"header": {"revision": "5"}, "kvs": kvs, "count": str(len(kvs))})


ANSWERS = {
    "garbage": (200, "this is not json {"),
    "nonobject": (200, "[1, 2, 3]"),
    "trailing": (200, '{"header": {"revision": "5"}} {"x": 1}'),
    "huge": (200, '{"header": {"revision": "5"}, "pad": "' + "x" * (5 * 1024 * 1024) + '"}'),
    "outside": (200, range_reply([kv("/other/secret", "v")])),
    "badb64": (200, range_reply([dict(kv(PREFIX + "k", "v"), value="!!!notbase64")])),
    "bigvalue": (200, range_reply([kv(PREFIX + "big", b"v" * (300 * 1024))])),
    "badrev": (200, range_reply([kv(PREFIX + "k", "v", mod_revision="12abc")])),
    "noheader": (200, json.dumps({"kvs": []})),
    "kvsobject": (200, json.dumps({"header": {"revision": "5"}, "kvs": {"a": 1}})),
    "nulkey": (200, range_reply([kv(PREFIX + "a\0b", "v")])),
    "unavailable": (503, json.dumps({"error": "etcdserver: no leader", "code": 14,
                                      "message": "etcdserver: no leader"})),
    "denied": (403, json.dumps({"error": "permission denied", "code": 7,
                                "message": "etcdserver: permission denied\x1b[31m"})),
}


COMPACTED = (400, json.dumps({"error": "etcdserver: mvcc: required revision has been compacted",
                              "code": 11,
                              "message": "etcdserver: mvcc: required revision has been compacted"}))
# "pages"/"compactonce": a listing of two pages; the second must continue
# after k1 at the first page's revision ("compactonce": that revision is
# compacted the first time it is asked for, and the next listing is at 9)
PAGES = {"first_rev": 7, "compacted": False}


def page_answer(mode, req):
    rev = req.get("revision")
    if rev is None:
        return 200, json.dumps({"header": {"revision": str(PAGES["first_rev"])},
                                "kvs": [kv(PREFIX + "k1", "1")], "more": True})
    if mode == "compactonce" and not PAGES["compacted"]:
        PAGES["compacted"] = True
        PAGES["first_rev"] = 9
        return COMPACTED
    if rev != str(PAGES["first_rev"]) or req.get("key") != b64(PREFIX + "k1\0"):
        return 400, json.dumps({"error": "wrong page", "code": 3,
                                "message": "wrong page: %s" % json.dumps(req)})
    return 200, json.dumps({"header": {"revision": "12"}, "kvs": [kv(PREFIX + "k2", "2")],
                            "more": False})


ANSWERS["endless"] = (200, json.dumps({"header": {"revision": "5"}, "kvs": [kv(PREFIX + "k", "v")],
                                       "more": True}))
ANSWERS["compacted"] = COMPACTED


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        mode = self.path.split("/")[1]
        status, body = ANSWERS.get(mode, (404, "{}"))
        if mode in ("pages", "compactonce"):
            status, body = page_answer(mode, json.loads(raw))
        if mode == "watchgarbage":
            status, body = 200, json.dumps({"result": {"created": True}}) + "\n<html>\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up on a huge answer is what we test


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
