#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""syslog_sink.py SOCKET OUTFILE: a /dev/log for tests.

Binds a Unix datagram socket at SOCKET (what syslog(3) and pam_syslog send
to) and appends each message, as received ("<PRI>TIMESTAMP TAG: TEXT"), to
OUTFILE as one line.  Runs until SIGTERM.  Standard library only.
"""

import os
import signal
import socket
import sys


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: syslog_sink.py SOCKET OUTFILE\n")
        return 2
    path, outfile = argv[1], argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(outfile, "a", encoding="utf-8", errors="backslashreplace") as out:
        while True:
            data = sock.recv(65536)
            text = data.decode("utf-8", "backslashreplace").rstrip("\n\0")
            out.write(text.replace("\n", "\\n") + "\n")
            out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
