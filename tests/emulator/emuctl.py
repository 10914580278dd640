#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""emuctl.py METHOD PATH [JSON]: call the Cognito emulator's control interface.

Reads EMU_URL (e.g. https://127.0.0.1:43210/) and EMU_CA (CA file for HTTPS).
PATH is /_emulator/... or a short form such as "users/alice" (the /_emulator/
prefix is added).  Prints the JSON answer on standard output.
Exit status: 0 for a 2xx answer, 1 for any other HTTP status, 2 usage error,
3 connection or TLS failure.  Python 3 standard library only.
"""

import http.client
import json
import os
import ssl
import sys
from urllib.parse import urlsplit


def main(argv):
    if len(argv) not in (3, 4) or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: emuctl.py METHOD PATH [JSON]\n")
        return 2
    method, path = argv[1].upper(), argv[2]
    body = argv[3] if len(argv) == 4 else None
    if body is not None:
        try:
            json.loads(body)
        except ValueError as exc:
            sys.stderr.write("emuctl: JSON argument is not valid JSON: %s\n" % exc)
            return 2
    url = os.environ.get("EMU_URL", "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        sys.stderr.write("emuctl: EMU_URL is not set to http(s)://HOST:PORT/\n")
        return 2
    if not path.startswith("/"):
        path = "/_emulator/" + path
    timeout = float(os.environ.get("EMU_CTL_TIMEOUT", "15"))
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=os.environ.get("EMU_CA") or None)
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                               context=context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Content-Type": "application/json"}
        conn.request(method, path, body=body.encode("utf-8") if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode("utf-8", "replace")
        conn.close()
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        sys.stderr.write("emuctl: %s %s: %s\n" % (method, path, exc))
        return 3
    sys.stdout.write(data if data.endswith("\n") or not data else data + "\n")
    if not 200 <= resp.status < 300:
        sys.stderr.write("emuctl: %s %s: HTTP %d\n" % (method, path, resp.status))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
