#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""tests/bench/etcd_count.py: a counting proxy between passkey-revoke and etcd.

    etcd_count.py --ports FILE --log FILE --ca CA --cert CERT --key KEY \
                  TAG... -- UPSTREAM...

Listens on one loopback port per TAG (plain HTTP: etcd_endpoints accepts
http:// for loopback), writes "TAG PORT" lines to the ports file once every
port listens, and forwards each connection to the first UPSTREAM (https://)
that answers, over TLS with the client certificate.  Every HTTP request a
client sends is logged as one line:

    <monotonic seconds> <TAG> <path> <key>...

with the keys of its JSON body decoded from base64 (so a txn shows which
claims/, pending/, history/ keys it touches).  Only the bench uses it.
"""
import base64
import json
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlparse

LOCK = threading.Lock()


def keys_of(obj, out):
    """Every "key" value of a JSON document, decoded."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "key" and isinstance(v, str):
                try:
                    out.append(base64.b64decode(v).decode("utf-8", "replace"))
                except ValueError:
                    out.append("?")
            else:
                keys_of(v, out)
    elif isinstance(obj, list):
        for v in obj:
            keys_of(v, out)
    return out


def log_request(logf, tag, head, body):
    line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    path = line[1] if len(line) > 1 else "?"
    try:
        keys = keys_of(json.loads(body or b"{}"), [])
    except ValueError:
        keys = ["<not json>"]
    with LOCK:
        logf.write("%.6f %s %s %s\n" % (time.monotonic(), tag, path,
                                        " ".join(k.replace(" ", "_") for k in keys)))
        logf.flush()


def recv_until(sock, buf, marker):
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return buf


def client_to_upstream(cli, up, tag, logf):
    buf = b""
    try:
        while True:
            buf = recv_until(cli, buf, b"\r\n\r\n")
            if buf is None:
                break
            head, buf = buf.split(b"\r\n\r\n", 1)
            length = 0
            for h in head.split(b"\r\n")[1:]:
                name, _, value = h.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = buf[:length]
            buf = buf[length:]
            # one write: head and body apart would meet Nagle and a delayed ACK
            up.sendall(head + b"\r\n\r\n" + body)
            while len(body) < length:
                chunk = cli.recv(min(65536, length - len(body)))
                if not chunk:
                    return
                up.sendall(chunk)
                body += chunk
            log_request(logf, tag, head, body)
    except OSError:
        pass
    finally:
        for s in (up, cli):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def upstream_to_client(up, cli):
    try:
        while True:
            chunk = up.recv(65536)
            if not chunk:
                break
            cli.sendall(chunk)
    except OSError:
        pass
    finally:
        for s in (cli, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def connect(ctx, upstreams):
    for u in upstreams:
        p = urlparse(u)
        try:
            raw = socket.create_connection((p.hostname, p.port), timeout=5)
            raw.settimeout(None)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return ctx.wrap_socket(raw, server_hostname=p.hostname)
        except OSError:
            continue
    return None


def serve(lsock, tag, ctx, upstreams, logf):
    while True:
        cli, _ = lsock.accept()
        cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = connect(ctx, upstreams)
        if up is None:
            cli.close()
            continue
        threading.Thread(target=client_to_upstream, args=(cli, up, tag, logf),
                         daemon=True).start()
        threading.Thread(target=upstream_to_client, args=(up, cli), daemon=True).start()


def main(argv):
    opts, rest = {}, []
    i = 0
    while i < len(argv):
        if argv[i] in ("--ports", "--log", "--ca", "--cert", "--key"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    if "--" not in rest or any(k not in opts for k in ("ports", "log", "ca", "cert", "key")):
        sys.stderr.write(__doc__)
        return 2
    tags = rest[:rest.index("--")]
    upstreams = rest[rest.index("--") + 1:]
    ctx = ssl.create_default_context(cafile=opts["ca"])
    ctx.load_cert_chain(opts["cert"], opts["key"])
    ctx.set_alpn_protocols(["http/1.1"])
    logf = open(opts["log"], "a", encoding="utf-8")
    socks = []
    for tag in tags:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        socks.append((tag, s))
        threading.Thread(target=serve, args=(s, tag, ctx, upstreams, logf), daemon=True).start()
    with open(opts["ports"] + ".tmp", "w", encoding="utf-8") as f:
        for tag, s in socks:
            f.write("%s %d\n" % (tag, s.getsockname()[1]))
    import os
    os.rename(opts["ports"] + ".tmp", opts["ports"])
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
