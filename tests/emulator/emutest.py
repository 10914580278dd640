# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""Helpers shared by the emulator's own tests (standard library only).

Emu starts cognito_emulator.py on a free loopback port (HTTPS with a throw-away
CA made by testenv.sh's emu_make_certs, or plain HTTP), and offers control calls
and raw awsJson requests.  Every emulator started here is tied to this process
(--watch-stdin) and killed at exit; bound_runtime() puts a hard limit on a test.
"""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(os.environ.get("srcdir") or os.path.dirname(os.path.abspath(__file__)))
if not os.path.exists(os.path.join(HERE, "cognito_emulator.py")):
    HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "cognito_emulator.py")
TESTENV = os.path.join(HERE, "testenv.sh")
PREFIX = "AWSCognitoIdentityProviderService."
AMZ_JSON = "application/x-amz-json-1.1"

_RUNNING = []
_TMPDIRS = []


def _cleanup():
    for emu in list(_RUNNING):
        emu.kill()
    for path in _TMPDIRS:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_cleanup)


def bound_runtime(seconds):
    """Fail (exit 1) if the test runs longer than `seconds`, killing emulators."""
    def expired(signum, frame):
        sys.stderr.write("\nTEST TIMED OUT after %d s\n" % seconds)
        sys.stderr.flush()
        _cleanup()
        os._exit(1)
    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def tmpdir(tag):
    base = os.environ.get("TMPDIR") or "/tmp"
    path = tempfile.mkdtemp(prefix="emu-%s-" % tag, dir=base)
    _TMPDIRS.append(path)
    return path


def make_certs(workdir):
    subprocess.run(["bash", "-c", '. "$1" && emu_make_certs "$2"', "make_certs", TESTENV,
                    workdir], check=True, timeout=60)
    return os.path.join(workdir, "ca.pem")


class Emu:
    def __init__(self, *args, tls=True):
        self.args = list(args)
        self.tls = tls
        self.dir = tmpdir("run")
        self.proc = None
        self.ca = None
        self.port = None

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout=20):
        cmd = [sys.executable, EMULATOR, "--host", "127.0.0.1", "--port", "0",
               "--port-file", os.path.join(self.dir, "port"), "--watch-stdin"]
        if self.tls:
            self.ca = make_certs(self.dir)
            cmd += ["--tls-cert", os.path.join(self.dir, "server.pem"),
                    "--tls-key", os.path.join(self.dir, "server.key")]
        cmd += self.args
        self.log_path = os.path.join(self.dir, "emulator.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        _RUNNING.append(self)
        port_file = os.path.join(self.dir, "port")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.kill()
            raise RuntimeError("emulator did not start:\n" + self.log())
        self.scheme = "https" if self.tls else "http"
        self.url = "%s://127.0.0.1:%d/" % (self.scheme, self.port)
        return self

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._finish()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._finish()

    def _finish(self):
        if self in _RUNNING:
            _RUNNING.remove(self)
        try:
            self.proc.stdin.close()
        except (OSError, AttributeError):
            pass
        try:
            self._log.close()
        except (OSError, AttributeError):
            pass

    # -- HTTP ----------------------------------------------------------------
    def ssl_context(self, cafile=None):
        return ssl.create_default_context(cafile=cafile or self.ca)

    def connection(self, timeout=15):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def ctl(self, method, path, obj=None, expect=200):
        conn = self.connection()
        try:
            body = json.dumps(obj).encode() if obj is not None else None
            conn.request(method, "/_emulator/" + path.lstrip("/"), body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if expect is not None and resp.status != expect:
            raise AssertionError("control %s %s: HTTP %d (wanted %d): %s"
                                 % (method, path, resp.status, expect, data[:500]))
        return json.loads(data) if data else None

    def call(self, operation, body, conn=None, headers=None, target=None):
        """One awsJson request; returns (status, headers dict lower-cased, raw body)."""
        own = conn is None
        conn = conn or self.connection()
        try:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs = {"Content-Type": AMZ_JSON,
                    "X-Amz-Target": target if target is not None else PREFIX + operation}
            if headers:
                hdrs.update(headers)
            hdrs = {k: v for k, v in hdrs.items() if v is not None}
            conn.request("POST", "/", body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            if own:
                conn.close()

    def requests(self):
        return self.ctl("GET", "requests")["Requests"]

    def user(self, name):
        return self.ctl("GET", "users/" + name)

    def add_user(self, name, **kw):
        obj = {"Username": name}
        obj.update(kw)
        return self.ctl("POST", "users", obj)

    def mint(self, name, **kw):
        obj = {"Username": name}
        obj.update(kw)
        return self.ctl("POST", "tokens", obj)

    def faults(self, operation, *faults):
        return self.ctl("POST", "faults", {"Operation": operation, "Faults": list(faults)})


def jwt_parts(token):
    import base64
    out = []
    for part in token.split(".")[:2]:
        out.append(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
