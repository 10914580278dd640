#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""Wire-level tests of the Cognito emulator (no AWS SDK needed).

What the C client depends on: status codes, headers, error bodies, empty
success bodies, number formats, keep-alive, connection ids, faults as seen on
the socket, concurrency, command line and clean shutdown.
"""

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emutest  # noqa: E402
from emutest import Emu, PREFIX, AMZ_JSON  # noqa: E402

TOKEN_RE = re.compile(r"[A-Za-z0-9_=.-]+")
EMU = None


def setUpModule():
    global EMU
    EMU = Emu().start()


def tearDownModule():
    if EMU:
        EMU.stop()


class Base(unittest.TestCase):
    def setUp(self):
        EMU.ctl("POST", "reset")
        self.user = EMU.add_user("alice", Password="correct horse", PasskeyCount=4,
                                 Attributes={"email": "alice@example.com"})
        self.tokens = EMU.mint("alice")
        self.at = self.tokens["AccessToken"]

    def assertError(self, result, code, status=400, message=None):
        status_got, headers, body = result
        self.assertEqual(status_got, status, body)
        self.assertEqual(headers.get("content-type"), AMZ_JSON)
        self.assertTrue(headers.get("x-amzn-requestid"))
        self.assertEqual(int(headers["content-length"]), len(body))
        obj = json.loads(body)
        self.assertEqual(obj["__type"], code, obj)
        if message is not None:
            self.assertEqual(obj["message"], message)
        return obj


class WireFormat(Base):
    def test_success_headers_and_request_id(self):
        status, headers, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], AMZ_JSON)
        self.assertEqual(int(headers["content-length"]), len(body))
        uuid.UUID(headers["x-amzn-requestid"])
        out = json.loads(body)
        self.assertEqual(out["Username"], "alice")
        self.assertIn({"Name": "sub", "Value": self.user["Sub"]}, out["UserAttributes"])
        self.assertIn({"Name": "email", "Value": "alice@example.com"}, out["UserAttributes"])
        log = EMU.requests()[-1]
        self.assertEqual(log["RequestId"], headers["x-amzn-requestid"])

    def test_error_format(self):
        obj = self.assertError(EMU.call("GetUser", {"AccessToken": "abc"}),
                               "NotAuthorizedException", message="Invalid Access Token")
        self.assertEqual(set(obj), {"__type", "message"})
        _s, headers, _b = EMU.call("GetUser", {"AccessToken": "abc"})
        self.assertEqual(headers["x-amzn-errortype"].split(":")[0], "NotAuthorizedException")

    def test_internal_error_is_500(self):
        EMU.faults("GetUser", "internal")
        self.assertError(EMU.call("GetUser", {"AccessToken": self.at}),
                         "InternalErrorException", status=500)

    def test_delete_success_is_empty_body(self):
        cred = self.user["Passkeys"][0]["CredentialId"]
        status, headers, body = EMU.call("DeleteWebAuthnCredential",
                                         {"AccessToken": self.at, "CredentialId": cred})
        self.assertEqual((status, body, headers["content-length"]), (200, b"", "0"))
        self.assertTrue(headers["x-amzn-requestid"])
        self.assertEqual(EMU.user("alice")["Deleted"], [cred])
        EMU.ctl("POST", "config", {"EmptyOutput": "{}"})
        cred = self.user["Passkeys"][1]["CredentialId"]
        status, _h, body = EMU.call("DeleteWebAuthnCredential",
                                    {"AccessToken": self.at, "CredentialId": cred})
        self.assertEqual((status, body), (200, b"{}"))

    def test_created_at_number_forms(self):
        EMU.add_user("bob", PasskeyCount=6)
        at = EMU.mint("bob")["AccessToken"]
        _s, _h, body = EMU.call("ListWebAuthnCredentials", {"AccessToken": at})
        text = body.decode()
        exponent = re.findall(r'"CreatedAt":(\d\.\d+E9)[,}]', text)
        plain = re.findall(r'"CreatedAt":(\d{10})[,}]', text)
        self.assertEqual(len(exponent), 4, text)
        self.assertEqual(len(plain), 2, text)
        stored = [p["CreatedAt"] for p in EMU.user("bob")["Passkeys"]]
        parsed = [p["CreatedAt"] for p in json.loads(body)["Credentials"]]
        self.assertEqual(stored, parsed)

    def test_utf8_friendly_name(self):
        EMU.add_user("carol", Passkeys=[{"FriendlyCredentialName": "Clé — ñ"}])
        at = EMU.mint("carol")["AccessToken"]
        _s, _h, body = EMU.call("ListWebAuthnCredentials", {"AccessToken": at})
        self.assertIn("Clé — ñ".encode("utf-8"), body)
        self.assertEqual(json.loads(body)["Credentials"][0]["FriendlyCredentialName"], "Clé — ñ")

    def test_unknown_operation(self):
        self.assertError(EMU.call("NoSuchOperation", {}), "UnknownOperationException")
        self.assertError(EMU.call("GetUser", {}, target=None, headers={"X-Amz-Target": None}),
                         "UnknownOperationException")
        self.assertError(EMU.call("GetUser", {"AccessToken": self.at},
                                  headers={"Content-Type": "text/plain"}),
                         "UnknownOperationException")
        conn = EMU.connection()
        conn.request("GET", "/")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 400)
        self.assertEqual(json.loads(resp.read())["__type"], "UnknownOperationException")
        conn.close()

    def test_serialization_errors(self):
        self.assertError(EMU.call("GetUser", b"{not json"), "SerializationException")
        self.assertError(EMU.call("GetUser", b"[1]"), "SerializationException")
        self.assertError(EMU.call("GetUser", {"AccessToken": 5}), "SerializationException",
                         message="NUMBER_VALUE can not be converted to a String")
        self.assertError(EMU.call("ListWebAuthnCredentials",
                                  {"AccessToken": self.at, "MaxResults": "5"}),
                         "SerializationException",
                         message="STRING_VALUE can not be converted to an Integer")
        self.assertError(EMU.call("GetUser", {"AccessToken": {"a": 1}}),
                         "SerializationException")

    def test_validation_messages(self):
        self.assertError(
            EMU.call("DeleteWebAuthnCredential", {}), "InvalidParameterException",
            message="2 validation errors detected: Value null at 'accessToken' failed to "
                    "satisfy constraint: Member must not be null; Value null at 'credentialId' "
                    "failed to satisfy constraint: Member must not be null")
        self.assertError(
            EMU.call("GetUser", {"AccessToken": "a/b"}), "InvalidParameterException",
            message="1 validation error detected: Value at 'accessToken' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "[A-Za-z0-9-_=.]+")
        self.assertError(
            EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at, "MaxResults": 21}),
            "InvalidParameterException",
            message="1 validation error detected: Value '21' at 'maxResults' failed to satisfy "
                    "constraint: Member must have value less than or equal to 20")
        self.assertError(
            EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at, "NextToken": ""}),
            "InvalidParameterException")
        self.assertError(
            EMU.call("DeleteWebAuthnCredential",
                     {"AccessToken": self.at, "CredentialId": "x" * 131073}),
            "InvalidParameterException",
            message="1 validation error detected: Value '%s...' at 'credentialId' failed to "
                    "satisfy constraint: Member must have length less than or equal to 131072"
                    % ("x" * 128))
        # 131072 is allowed, and simply not found
        self.assertError(EMU.call("DeleteWebAuthnCredential",
                                  {"AccessToken": self.at, "CredentialId": "x" * 131072}),
                         "ResourceNotFoundException")
        self.assertError(EMU.call("InitiateAuth", {"AuthFlow": "NOPE", "ClientId": "c"}),
                         "InvalidParameterException")
        self.assertError(EMU.call("RevokeToken", {"Token": "t", "ClientId": "bad id"}),
                         "InvalidParameterException")

    def test_chunked_request_body(self):
        conn = EMU.connection()
        body = json.dumps({"AccessToken": self.at}).encode()
        conn.request("POST", "/", body=iter([body[:10], body[10:]]), encode_chunked=True,
                     headers={"Content-Type": AMZ_JSON, "X-Amz-Target": PREFIX + "GetUser",
                              "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200, resp.read())
        resp.read()
        # the connection is still usable afterwards
        status, _h, _b = EMU.call("GetUser", {"AccessToken": self.at}, conn=conn)
        self.assertEqual(status, 200)
        conn.close()

    def test_tokens_shape(self):
        header, claims = emutest.jwt_parts(self.at)
        self.assertEqual(set(header), {"kid", "alg"})
        self.assertEqual(header["alg"], "RS256")
        cfg = EMU.ctl("GET", "config")
        self.assertEqual(claims["iss"], "https://cognito-idp.eu-west-1.amazonaws.com/"
                                        "eu-west-1_Example")
        self.assertEqual(claims["iss"], cfg["Issuer"])
        self.assertEqual(set(claims), {"sub", "iss", "client_id", "origin_jti", "event_id",
                                       "token_use", "scope", "auth_time", "exp", "iat", "jti",
                                       "username"})
        self.assertEqual(claims["token_use"], "access")
        self.assertEqual(claims["scope"], "aws.cognito.signin.user.admin")
        self.assertEqual(claims["client_id"], cfg["ClientId"])
        self.assertEqual(claims["exp"] - claims["iat"], 3600)
        self.assertEqual(claims["sub"], self.user["Sub"])
        self.assertTrue(TOKEN_RE.fullmatch(self.tokens["RefreshToken"]))
        self.assertEqual(self.tokens["RefreshToken"].count("."), 4)
        self.assertEqual(self.tokens["TokenType"], "Bearer")
        _h, idc = emutest.jwt_parts(self.tokens["IdToken"])
        self.assertEqual(idc["token_use"], "id")
        self.assertEqual(idc["aud"], cfg["ClientId"])
        self.assertEqual(idc["email"], "alice@example.com")
        # an ID token is not an access token
        self.assertError(EMU.call("GetUser", {"AccessToken": self.tokens["IdToken"]}),
                         "NotAuthorizedException", message="Invalid Access Token")


class KeepAliveAndConnections(Base):
    def test_one_connection_serves_many_requests(self):
        EMU.ctl("DELETE", "requests")
        conn = EMU.connection()
        for _ in range(3):
            self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at}, conn=conn)[0], 200)
        # error answers keep the connection open too
        self.assertEqual(EMU.call("GetUser", {"AccessToken": "x"}, conn=conn)[0], 400)
        EMU.faults("GetUser", "internal")
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at}, conn=conn)[0], 500)
        self.assertEqual(EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at},
                                  conn=conn)[0], 200)
        conn.close()
        other = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(other[0], 200)
        log = EMU.requests()
        self.assertEqual(len(log), 7)
        ids = [e["Connection"] for e in log]
        self.assertEqual(len(set(ids[:6])), 1, ids)
        self.assertNotEqual(ids[6], ids[0])
        self.assertEqual([e["Status"] for e in log], [200, 200, 200, 400, 500, 200, 200])
        self.assertEqual(log[3]["ErrorCode"], "NotAuthorizedException")
        self.assertEqual(log[4]["ErrorCode"], "InternalErrorException")
        self.assertEqual(log[4]["Fault"], "internal")
        for entry in log:
            for key in ("Operation", "Connection", "Status", "ErrorCode", "Time"):
                self.assertIn(key, entry)
            self.assertIsInstance(entry["Time"], float)
            self.assertLess(abs(entry["Time"] - time.time()), 60)

    def test_request_log_never_shows_tokens(self):
        EMU.call("GetUser", {"AccessToken": self.at})
        EMU.call("InitiateAuth", {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": "x",
                                  "AuthParameters": {"REFRESH_TOKEN":
                                                     self.tokens["RefreshToken"]}})
        conn = EMU.connection()
        conn.request("GET", "/_emulator/requests")
        raw = conn.getresponse().read().decode()
        conn.close()
        self.assertNotIn(self.at, raw)
        self.assertNotIn(self.tokens["RefreshToken"], raw)
        self.assertNotIn(self.at.split(".")[2], raw)
        log = json.loads(raw)["Requests"]
        self.assertTrue(log[0]["Input"]["AccessToken"].startswith("<redacted sha256:"))
        self.assertEqual(log[0]["Jti"], emutest.jwt_parts(self.at)[1]["jti"])
        EMU.ctl("DELETE", "requests")
        self.assertEqual(EMU.requests(), [])

    def test_concurrent_connections(self):
        EMU.ctl("DELETE", "requests")
        threads, errors, per_thread = 40, [], 3
        barrier = threading.Barrier(threads)

        def worker():
            try:
                conn = EMU.connection(timeout=30)
                barrier.wait(20)
                for i in range(per_thread):
                    op = "GetUser" if i % 2 else "ListWebAuthnCredentials"
                    status, _h, body = EMU.call(op, {"AccessToken": self.at}, conn=conn)
                    if status != 200:
                        errors.append((status, body))
                conn.close()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))

        started = time.monotonic()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertLess(time.monotonic() - started, 60)
        log = EMU.requests()
        self.assertEqual(len(log), threads * per_thread)
        by_conn = {}
        for entry in log:
            by_conn[entry["Connection"]] = by_conn.get(entry["Connection"], 0) + 1
        self.assertEqual(len(by_conn), threads)
        self.assertEqual(set(by_conn.values()), {per_thread})

    def test_a_hanging_request_does_not_block_others(self):
        EMU.faults("GetUser", "hang:2")
        done = {}

        def slow():
            t0 = time.monotonic()
            done["status"] = EMU.call("GetUser", {"AccessToken": self.at})[0]
            done["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        for _ in range(5):
            self.assertEqual(EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at})[0],
                             200)
        self.assertLess(time.monotonic() - t0, 1.5)
        t.join(10)
        self.assertEqual(done["status"], 200)
        self.assertGreaterEqual(done["elapsed"], 1.9)


class Faults(Base):
    def test_error_faults_consumed_one_per_call(self):
        EMU.faults("GetUser", "throttle", "limit", "forbidden",
                   "error:PasswordResetRequiredException",
                   "error:UserNotFoundException:User is gone")
        expected = ["TooManyRequestsException", "LimitExceededException", "ForbiddenException",
                    "PasswordResetRequiredException", "UserNotFoundException"]
        for code in expected:
            obj = self.assertError(EMU.call("GetUser", {"AccessToken": self.at}), code)
        self.assertEqual(obj["message"], "User is gone")
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 200)
        self.assertEqual(EMU.ctl("GET", "faults")["Pending"], {})

    def test_wildcard_and_ok(self):
        EMU.faults("*", "throttle")
        EMU.faults("GetUser", "ok", "internal")
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 200)
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 500)
        self.assertError(EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at}),
                         "TooManyRequestsException")
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 200)

    def test_unknown_fault_refused(self):
        for bad in ("explode", "hang:x", "error:", "garbage:abc", "http:99"):
            EMU.ctl("POST", "faults", {"Operation": "GetUser", "Faults": [bad]}, expect=400)
        EMU.ctl("DELETE", "faults")

    def test_namespaced_and_header_only(self):
        EMU.faults("DeleteWebAuthnCredential", "namespaced", "headeronly:ForbiddenException",
                   "codefield:TooManyRequestsException")
        body = {"AccessToken": self.at, "CredentialId": "x"}
        status, headers, raw = EMU.call("DeleteWebAuthnCredential", body)
        obj = json.loads(raw)
        self.assertEqual(status, 400)
        self.assertEqual(obj["__type"], "com.amazonaws.cognitoidentityprovider#"
                         "NotAuthorizedException:http://internal.amazon.com/coral/"
                         "com.amazonaws.cognitoidentityprovider/")
        self.assertIn("Message", obj)
        self.assertNotIn("message", obj)
        status, headers, raw = EMU.call("DeleteWebAuthnCredential", body)
        self.assertNotIn("__type", json.loads(raw))
        self.assertTrue(headers["x-amzn-errortype"].startswith("ForbiddenException:"))
        status, headers, raw = EMU.call("DeleteWebAuthnCredential", body)
        self.assertEqual(json.loads(raw)["code"], "TooManyRequestsException")
        self.assertEqual(headers["x-amzn-requestid"] != "", True)

    def test_generic_error_codes_of_delete(self):
        codes = ["PasswordResetRequiredException", "OperationNotEnabledException",
                 "UserNotFoundException", "InvalidParameterException", "NotAuthorizedException",
                 "ResourceNotFoundException", "ForbiddenException", "LimitExceededException",
                 "TooManyRequestsException", "InternalErrorException"]
        EMU.faults("DeleteWebAuthnCredential", *["error:" + c for c in codes])
        for code in codes:
            self.assertError(EMU.call("DeleteWebAuthnCredential",
                                      {"AccessToken": self.at, "CredentialId": "x"}), code,
                             status=500 if code == "InternalErrorException" else 400)

    def test_garbage_http_oversize(self):
        EMU.faults("GetUser", "binary", "garbage", "garbage:500", "http:503", "oversize")
        status, headers, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(status, 200)
        self.assertIn(b"\x00", body)
        self.assertRaises(UnicodeDecodeError, body.decode, "utf-8")
        status, headers, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(status, 200)
        self.assertRaises(ValueError, lambda: json.loads(body))
        status, _h, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(status, 500)
        self.assertRaises(ValueError, lambda: json.loads(body))
        status, headers, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual((status, headers["content-type"]), (503, "text/html"))
        status, headers, body = EMU.call("GetUser", {"AccessToken": self.at})
        self.assertEqual(status, 200)
        self.assertGreater(len(body), 1024 * 1024)
        self.assertEqual(int(headers["content-length"]), len(body))
        json.loads(body)

    def test_hang_then_answer_and_hang_close(self):
        EMU.faults("GetUser", "hang:1", "hang:0.5:close")
        t0 = time.monotonic()
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        t0 = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            EMU.call("GetUser", {"AccessToken": self.at})
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)

    def test_truncated_body(self):
        EMU.faults("GetUser", "truncate")
        with self.assertRaises(http.client.IncompleteRead):
            EMU.call("GetUser", {"AccessToken": self.at})

    def test_latency(self):
        EMU.ctl("POST", "latency", {"Milliseconds": 300})
        t0 = time.monotonic()
        EMU.call("GetUser", {"AccessToken": self.at})
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        EMU.ctl("POST", "latency", {"Milliseconds": 0})
        t0 = time.monotonic()
        EMU.ctl("GET", "health")
        self.assertLess(time.monotonic() - t0, 0.29)


class ResetFaultOverPlainHttp(unittest.TestCase):
    """An abrupt RST is checked on plain TCP, where it is unambiguous."""

    def test_reset_and_close(self):
        emu = Emu(tls=False).start()
        try:
            emu.add_user("alice", PasskeyCount=1)
            at = emu.mint("alice")["AccessToken"]
            emu.faults("ListWebAuthnCredentials", "reset", "close")
            with self.assertRaises(ConnectionResetError):
                emu.call("ListWebAuthnCredentials", {"AccessToken": at})
            with self.assertRaises(http.client.RemoteDisconnected):
                emu.call("ListWebAuthnCredentials", {"AccessToken": at})
            self.assertEqual(emu.call("ListWebAuthnCredentials", {"AccessToken": at})[0], 200)
            log = emu.requests()
            self.assertEqual([e["Fault"] for e in log], ["reset", "close", None])
            self.assertEqual([e["Status"] for e in log], [None, None, 200])
        finally:
            self.assertEqual(emu.stop(), 0)

    def test_reset_over_tls(self):
        EMU.ctl("POST", "reset")
        EMU.add_user("alice", PasskeyCount=1)
        at = EMU.mint("alice")["AccessToken"]
        EMU.faults("GetUser", "reset")
        with self.assertRaises((ConnectionError, ssl.SSLError, http.client.HTTPException)):
            EMU.call("GetUser", {"AccessToken": at})


class Control(Base):
    def test_users_and_passkeys(self):
        EMU.ctl("GET", "users/nobody", expect=404)
        user = EMU.ctl("POST", "users/alice/passkeys", {"Passkeys": [
            {"CredentialId": "fixed-id", "FriendlyCredentialName": "Work key",
             "RelyingPartyId": "example.com", "AuthenticatorTransports": ["usb"],
             "CreatedAt": 1.7001e9, "AuthenticatorAttachment": None}]})
        self.assertEqual(len(user["Passkeys"]), 5)
        self.assertEqual(user["Passkeys"][-1], {
            "CredentialId": "fixed-id", "FriendlyCredentialName": "Work key",
            "RelyingPartyId": "example.com", "AuthenticatorTransports": ["usb"],
            "CreatedAt": 1700100000.0})
        EMU.ctl("POST", "users/alice/passkeys", {"Passkeys": [{"CredentialId": "fixed-id"}]},
                expect=400)
        _s, _h, body = EMU.call("ListWebAuthnCredentials", {"AccessToken": self.at})
        self.assertIn(b'"CredentialId":"fixed-id"', body)
        self.assertIn(b'"CreatedAt":1.7001E9}', body)
        EMU.ctl("POST", "users", {"Username": "x", "Bogus": 1}, expect=400)
        EMU.ctl("POST", "users", {"Username": "has space"}, expect=400)
        EMU.ctl("POST", "tokens", {"Username": "alice", "Nope": 1}, expect=400)
        EMU.ctl("GET", "nothing-here", expect=404)
        self.assertEqual(len(EMU.ctl("GET", "users")["Users"]), 1)
        EMU.ctl("DELETE", "users/alice")
        self.assertError(EMU.call("GetUser", {"AccessToken": self.at}), "UserNotFoundException")

    def test_reset_clears_everything(self):
        EMU.faults("GetUser", "throttle")
        EMU.ctl("POST", "latency", {"Milliseconds": 5})
        EMU.ctl("POST", "config", {"RotateRefreshTokens": True})
        EMU.ctl("POST", "reset")
        self.assertEqual(EMU.ctl("GET", "users")["Users"], [])
        self.assertEqual(EMU.ctl("GET", "faults")["Pending"], {})
        self.assertEqual(EMU.ctl("GET", "latency")["Milliseconds"], 0)
        self.assertEqual(EMU.requests(), [])
        self.assertFalse(EMU.ctl("GET", "config")["RotateRefreshTokens"])

    def test_clock(self):
        EMU.ctl("POST", "clock", {"Advance": 3601})
        self.assertError(EMU.call("GetUser", {"AccessToken": self.at}),
                         "NotAuthorizedException", message="Access Token has expired")
        EMU.ctl("POST", "clock", {"Offset": 0})
        self.assertEqual(EMU.call("GetUser", {"AccessToken": self.at})[0], 200)


class CommandLine(unittest.TestCase):
    def run_emulator(self, *args):
        return subprocess.run([sys.executable, emutest.EMULATOR] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_bad_arguments(self):
        for args in (["--client-secret", "short"], ["--region", "mars"],
                     ["--user-pool-id", "eu-west-1_X", "--region", "us-east-1"],
                     ["--tls-cert", "x.pem"], ["--access-token-ttl", "0"],
                     ["--client-id", "bad id"]):
            result = self.run_emulator(*args)
            self.assertEqual(result.returncode, 2, (args, result.stderr))
        result = self.run_emulator("--host", "192.0.2.1")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("loopback", result.stderr)

    def test_startup_line_port_file_and_sigterm(self):
        emu = Emu("--user-pool-id", "us-east-2_AbC123", "--client-secret", "s" * 40,
                  "--rotate-refresh-tokens", "--access-token-ttl", "300").start()
        port_file = os.path.join(emu.dir, "port")
        self.assertTrue(os.path.exists(port_file))
        cfg = emu.ctl("GET", "config")
        self.assertEqual((cfg["Region"], cfg["UserPoolId"], cfg["HasClientSecret"],
                          cfg["RotateRefreshTokens"], cfg["AccessTokenTtl"], cfg["Port"]),
                         ("us-east-2", "us-east-2_AbC123", True, True, 300, emu.port))
        # an idle keep-alive connection must not delay the shutdown
        idle = emu.connection()
        idle.request("GET", "/_emulator/health")
        idle.getresponse().read()
        t0 = time.monotonic()
        self.assertEqual(emu.stop(), 0)
        self.assertLess(time.monotonic() - t0, 5)
        idle.close()
        log = emu.log()
        self.assertRegex(log, r"cognito_emulator: listening on https://127\.0\.0\.1:%d/ "
                              r"pid=\d+ region=us-east-2 pool=us-east-2_AbC123 " % emu.port)
        self.assertIn("secret=yes rotation=on", log)
        self.assertIn("stopped", log)
        self.assertNotIn("s" * 40, log)
        self.assertFalse(os.path.exists(port_file))

    def test_plain_http_and_ipv6(self):
        emu = Emu(tls=False).start()
        self.assertEqual(emu.ctl("GET", "health"), {"Ok": True})
        self.assertEqual(emu.stop(), 0)
        try:
            socket.socket(socket.AF_INET6).close()
            has_v6 = socket.has_ipv6
        except OSError:
            has_v6 = False
        if has_v6:
            port_file = os.path.join(emutest.tmpdir("v6"), "port")
            proc = subprocess.Popen([sys.executable, emutest.EMULATOR, "--host", "::1",
                                     "--port-file", port_file], stderr=subprocess.PIPE,
                                    text=True)
            try:
                for _ in range(200):
                    if os.path.exists(port_file) or proc.poll() is not None:
                        break
                    time.sleep(0.05)
                if proc.poll() is None:
                    with open(port_file) as f:
                        port = int(f.read())
                    conn = http.client.HTTPConnection("::1", port, timeout=10)
                    conn.request("GET", "/_emulator/health")
                    self.assertEqual(conn.getresponse().status, 200)
                    conn.close()
            finally:
                proc.terminate()
                proc.wait(10)
                proc.stderr.close()

    def test_wrong_ca_is_refused(self):
        wrong_dir = emutest.tmpdir("wrongca")
        wrong = subprocess.run(["bash", "-c", '. "$1" && emu_wrong_ca "$2"', "x",
                                emutest.TESTENV, wrong_dir], capture_output=True, text=True,
                               check=True, timeout=60).stdout.strip()
        ctx = ssl.create_default_context(cafile=wrong)
        conn = http.client.HTTPSConnection("127.0.0.1", EMU.port, timeout=10, context=ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/_emulator/health")
        conn.close()
        # the emulator survives a failed handshake
        self.assertEqual(EMU.ctl("GET", "health"), {"Ok": True})

    def test_stalled_handshake_does_not_block_others(self):
        raw = socket.create_connection(("127.0.0.1", EMU.port), timeout=5)
        try:
            t0 = time.monotonic()
            self.assertEqual(EMU.ctl("GET", "health"), {"Ok": True})
            self.assertLess(time.monotonic() - t0, 2)
        finally:
            raw.close()


if __name__ == "__main__":
    emutest.bound_runtime(240)
    unittest.main(verbosity=2)
