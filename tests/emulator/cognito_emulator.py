#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""A local Amazon Cognito user-pool service for the pam_cognito_passkey tests.

Python 3 standard library only.  It speaks the awsJson1_1 protocol that real
Cognito speaks (POST /, X-Amz-Target: AWSCognitoIdentityProviderService.<Op>,
application/x-amz-json-1.1) over HTTP or HTTPS on loopback, for the operations
the product uses:

  InitiateAuth (USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH), GetTokensFromRefreshToken,
  GetUser, ListWebAuthnCredentials, DeleteWebAuthnCredential, RevokeToken

with the service's input validation, error format and token rules (expiry,
scope, revocation, refresh-token rotation, client secrets), plus a plain-JSON
control interface under /_emulator/ for tests (users, passkeys, minted tokens,
fault injection, latency, clock, request log).  See README.md next to this file.

Access tokens are JWTs shaped like Cognito's (header {"kid","alg":"RS256"},
Cognito's claims); their signature is an HMAC with a per-process key, which is
how the emulator recognises its own tokens.  Refresh tokens are opaque
JWE-shaped strings kept in a table.
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import unicodedata
import uuid
from decimal import Decimal
from urllib.parse import unquote, urlsplit

PROG = "cognito_emulator"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
ADMIN_SCOPE = "aws.cognito.signin.user.admin"
AMZ_JSON = "application/x-amz-json-1.1"
ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazonaws.cognitoidentityprovider/"
MAX_REQUEST_BODY = 2 * 1024 * 1024
OVERSIZE_BYTES = 1536 * 1024
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120
DEFAULT_REFRESH_TTL = 30 * 86400
DEFAULT_CLIENT_ID = "1example23456789emulatorab"
PAGE_SIZE_DEFAULT = 20

# ---------------------------------------------------------------------------
# Service model (botocore cognito-idp 2016-04-18, the members we serve)
# ---------------------------------------------------------------------------

TOKEN_MODEL = {"type": "string", "pattern": r"[A-Za-z0-9_=.\-]+",
               "pattern_text": "[A-Za-z0-9-_=.]+", "sensitive": True}
CLIENT_ID_TYPE = {"type": "string", "min": 1, "max": 128, "pattern": r"[\w+]+",
                  "pattern_text": "[\\w+]+", "sensitive": True}
CLIENT_SECRET_TYPE = {"type": "string", "min": 24, "max": 64, "pattern": r"[\w+]+",
                      "pattern_text": "[\\w+]+", "sensitive": True}
STRING_TYPE = {"type": "string", "min": 0, "max": 131072}
PAGINATION_KEY = {"type": "string", "min": 1, "max": 131072, "pattern": r"\S+",
                  "pattern_text": "[\\S]+"}
DEVICE_KEY = {"type": "string", "min": 1, "max": 55, "pattern": r"[\w-]+_[0-9a-f-]+",
              "pattern_text": "[\\w-]+_[0-9a-f-]+"}
STRING_MAP = {"type": "map"}
AUTH_FLOWS = ["USER_SRP_AUTH", "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN", "CUSTOM_AUTH",
              "ADMIN_NO_SRP_AUTH", "USER_PASSWORD_AUTH", "ADMIN_USER_PASSWORD_AUTH",
              "USER_AUTH"]

# operation -> (members in model order, required members)
OPERATIONS = {
    "InitiateAuth": ([
        ("AuthFlow", {"type": "string", "enum": AUTH_FLOWS}),
        ("AuthParameters", {"type": "map", "sensitive": True}),
        ("ClientMetadata", STRING_MAP),
        ("ClientId", CLIENT_ID_TYPE),
        ("AnalyticsMetadata", {"type": "structure"}),
        ("UserContextData", {"type": "structure", "sensitive": True}),
        ("Session", {"type": "string", "min": 20, "max": 2048, "sensitive": True}),
    ], ("AuthFlow", "ClientId")),
    "GetTokensFromRefreshToken": ([
        ("RefreshToken", TOKEN_MODEL),
        ("ClientId", CLIENT_ID_TYPE),
        ("ClientSecret", CLIENT_SECRET_TYPE),
        ("DeviceKey", DEVICE_KEY),
        ("ClientMetadata", STRING_MAP),
    ], ("RefreshToken", "ClientId")),
    "GetUser": ([("AccessToken", TOKEN_MODEL)], ("AccessToken",)),
    "ListWebAuthnCredentials": ([
        ("AccessToken", TOKEN_MODEL),
        ("NextToken", PAGINATION_KEY),
        ("MaxResults", {"type": "integer", "min": 0, "max": 20}),
    ], ("AccessToken",)),
    "DeleteWebAuthnCredential": ([
        ("AccessToken", TOKEN_MODEL),
        ("CredentialId", STRING_TYPE),
    ], ("AccessToken", "CredentialId")),
    "RevokeToken": ([
        ("Token", TOKEN_MODEL),
        ("ClientId", CLIENT_ID_TYPE),
        ("ClientSecret", CLIENT_SECRET_TYPE),
    ], ("Token", "ClientId")),
}

# Messages used when a fault names only an error code.
DEFAULT_MESSAGES = {
    "TooManyRequestsException": "Rate exceeded",
    "LimitExceededException": "Attempt limit exceeded, please try after some time.",
    "InternalErrorException": "Internal server error.",
    "ForbiddenException": "Request not allowed due to WAF block.",
    "PasswordResetRequiredException": "Password reset required for the user",
    "OperationNotEnabledException": "WebAuthn is not enabled for this user pool.",
    "UserNotFoundException": "User does not exist.",
    "UserNotConfirmedException": "User is not confirmed.",
    "InvalidParameterException": "Invalid parameter: the request was rejected.",
    "NotAuthorizedException": "Access Token has been revoked",
    "ResourceNotFoundException": "Credential not found",
    "UnauthorizedException": "Unauthorized",
    "UnsupportedOperationException": "Operation is not supported for this client.",
    "UnsupportedTokenTypeException": "Unsupported token type",
    "RefreshTokenReuseException": "Refresh Token has been reused",
}

FAULT_SHORTCUTS = {
    "throttle": "TooManyRequestsException",
    "limit": "LimitExceededException",
    "internal": "InternalErrorException",
    "forbidden": "ForbiddenException",
}

CODE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")


class ServiceError(Exception):
    """An awsJson error answer: 400, or 500 for InternalErrorException."""

    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or (500 if code == "InternalErrorException" else 400)


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def not_authorized(message):
    return ServiceError("NotAuthorizedException", message)


# ---------------------------------------------------------------------------
# Encoding helpers
# ---------------------------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class RawNumber:
    """A JSON number written verbatim (e.g. 1.7001E9, as Java services emit)."""

    def __init__(self, text):
        self.text = text


_RAW = "\x00raw\x00"
_RAW_RE = re.compile(r'"\\u0000raw\\u0000([-+0-9.Ee]+)\\u0000raw\\u0000"')


def wire_json(obj):
    """Compact UTF-8 JSON as Cognito sends it, with RawNumber support."""
    def default(o):
        if isinstance(o, RawNumber):
            return _RAW + o.text + _RAW
        raise TypeError(type(o).__name__)
    text = json.dumps(obj, default=default, separators=(",", ":"), ensure_ascii=False)
    return _RAW_RE.sub(r"\1", text).encode("utf-8")


def java_double(value):
    """Double.toString(): 1.7001E9 for |v| >= 1e7, as Cognito writes epoch seconds."""
    value = float(value)
    if value == 0.0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    e10 = len(digits) - 1 + exp
    mant = str(digits[0]) + "." + ("".join(str(d) for d in digits[1:]) or "0")
    return ("-" if sign else "") + mant + "E" + str(e10)


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def lower_first(name):
    return name[:1].lower() + name[1:]


def redact(value):
    """Stand-in for a secret in the request log: lets tests match, never shows it."""
    if not isinstance(value, str):
        return "<redacted>"
    return "<redacted sha256:%s>" % hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]



SENSITIVE_KEYS = {"AccessToken", "RefreshToken", "Token", "ClientSecret", "Session",
                  "UserContextData"}
SENSITIVE_AUTH_PARAMS = {"PASSWORD", "REFRESH_TOKEN", "SECRET_HASH", "SRP_A"}


def redacted_input(obj):
    if not isinstance(obj, dict):
        return None
    out = {}
    for key, val in obj.items():
        if key in SENSITIVE_KEYS:
            out[key] = redact(val)
        elif key == "AuthParameters" and isinstance(val, dict):
            out[key] = {k: (redact(v) if k in SENSITIVE_AUTH_PARAMS else v)
                        for k, v in val.items()}
        elif key == "CredentialId" and isinstance(val, str) and len(val) > 256:
            out[key] = val[:64] + "...<%d chars>" % len(val)
        else:
            out[key] = val
    return out


# ---------------------------------------------------------------------------
# Input validation, Coral style
# ---------------------------------------------------------------------------

def _json_token(value):
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, (int, float)):
        return "NUMBER_VALUE"
    if isinstance(value, str):
        return "STRING_VALUE"
    return "VALUE"


def _type_problem(spec, value):
    """SerializationException text when the JSON type is wrong, else None."""
    kind = spec["type"]
    if isinstance(value, dict) and kind not in ("map", "structure"):
        return "Start of structure or map found where not expected."
    if isinstance(value, list):
        return "Start of list found where not expected"
    if kind == "string":
        if isinstance(value, str):
            return None
        return "%s can not be converted to a String" % _json_token(value)
    if kind == "integer":
        if isinstance(value, bool) or isinstance(value, str):
            return "%s can not be converted to an Integer" % _json_token(value)
        if isinstance(value, float) and not value.is_integer():
            return "NUMBER_VALUE can not be converted to an Integer"
        if isinstance(value, (int, float)) and abs(value) > 2 ** 31 - 1:
            return "Numeric value (%d) out of range of int" % int(value)
        return None
    if kind == "map":
        if not isinstance(value, dict):
            return "%s can not be converted to a Map" % _json_token(value)
        for item in value.values():
            if item is None:
                continue
            if isinstance(item, (dict, list)):
                return "Start of structure or map found where not expected."
            if not isinstance(item, str):
                return "%s can not be converted to a String" % _json_token(item)
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            return "%s can not be converted to a Structure" % _json_token(value)
        return None
    return None


def _show(spec, name, value):
    if value is None:
        return "Value null at '%s'" % name
    if spec.get("sensitive"):
        return "Value at '%s'" % name
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > 128:
        text = text[:128] + "..."
    return "Value '%s' at '%s'" % (text, name)


def _constraint_problems(spec, value):
    out = []
    kind = spec["type"]
    if kind == "string":
        length = utf16_len(value)
        if "min" in spec and length < spec["min"]:
            out.append("Member must have length greater than or equal to %d" % spec["min"])
        if "max" in spec and length > spec["max"]:
            out.append("Member must have length less than or equal to %d" % spec["max"])
        if "pattern" in spec and not re.fullmatch(spec["pattern"], value, re.ASCII):
            out.append("Member must satisfy regular expression pattern: %s"
                       % spec["pattern_text"])
        if "enum" in spec and value not in spec["enum"]:
            out.append("Member must satisfy enum value set: [%s]" % ", ".join(spec["enum"]))
    elif kind == "integer":
        number = int(value)
        if "min" in spec and number < spec["min"]:
            out.append("Member must have value greater than or equal to %d" % spec["min"])
        if "max" in spec and number > spec["max"]:
            out.append("Member must have value less than or equal to %d" % spec["max"])
    return out


def validate_input(operation, params):
    """Return the cleaned input or raise SerializationException/InvalidParameterException."""
    members, required = OPERATIONS[operation]
    clean = {}
    for name, spec in members:
        value = params.get(name)
        if value is None:
            continue
        problem = _type_problem(spec, value)
        if problem:
            raise ServiceError("SerializationException", problem)
        if spec["type"] == "integer":
            value = int(value)
        if spec["type"] == "map":
            value = {k: v for k, v in value.items() if v is not None}
        clean[name] = value
    errors = []
    for name, spec in members:
        path = lower_first(name)
        value = clean.get(name)
        if value is None:
            if name in required:
                errors.append("%s failed to satisfy constraint: Member must not be null"
                              % _show(spec, path, None))
            continue
        for problem in _constraint_problems(spec, value):
            errors.append("%s failed to satisfy constraint: %s"
                          % (_show(spec, path, value), problem))
    if errors:
        count = len(errors)
        raise ServiceError("InvalidParameterException", "%d validation error%s detected: %s"
                           % (count, "" if count == 1 else "s", "; ".join(errors)))
    return clean


def valid_username(name):
    """UsernameType: 1..128, [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+."""
    if not isinstance(name, str) or not 1 <= utf16_len(name) <= 128:
        return False
    return all(unicodedata.category(ch)[0] in "LMSNP" for ch in name)


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

def parse_fault(text):
    """Validate a fault spec; return (kind, args) or raise ValueError."""
    if not isinstance(text, str) or not text:
        raise ValueError("a fault is a non-empty string")
    head, _, rest = text.partition(":")
    if head in FAULT_SHORTCUTS and not rest:
        return ("error", (FAULT_SHORTCUTS[head], None))
    if head in ("retryafter", "amzretryafter"):
        # throttled, with a hint: Retry-After (seconds, or an HTTP date
        # with retryafter:date:SECONDS) or x-amz-retry-after (milliseconds)
        form, _, value = rest.rpartition(":")
        if not value.isdigit() or form not in ("", "date") or \
                (form == "date" and head != "retryafter"):
            raise ValueError("retryafter:[date:]SECONDS or amzretryafter:MS")
        return ("retryafter", (head, form, int(value)))
    if head == "error":
        code, _, message = rest.partition(":")
        if not CODE_RE.fullmatch(code):
            raise ValueError("error:<Code>[:message] needs an error code")
        return ("error", (code, message or None))
    if head in ("namespaced", "headeronly", "codefield"):
        code = rest or "NotAuthorizedException"
        if not CODE_RE.fullmatch(code):
            raise ValueError("%s[:<Code>] needs an error code" % head)
        return (head, (code,))
    if head == "hang":
        seconds, _, mode = rest.partition(":")
        try:
            value = float(seconds)
        except ValueError:
            raise ValueError("hang:SECONDS[:close]") from None
        if not 0 <= value <= 3600 or mode not in ("", "close", "reset"):
            raise ValueError("hang:SECONDS[:close|:reset], 0..3600 seconds")
        return ("hang", (value, mode or None))
    if head in ("garbage", "binary"):
        status = int(rest) if rest.isdigit() else (200 if not rest else None)
        if status is None or not 100 <= status <= 599:
            raise ValueError("%s[:STATUS]" % head)
        return (head, (status,))
    if head == "http":
        if not rest.isdigit() or not 100 <= int(rest) <= 599:
            raise ValueError("http:STATUS")
        return ("http", (int(rest),))
    if head in ("reset", "close", "oversize", "truncate", "ok") and not rest:
        return (head, ())
    raise ValueError("unknown fault %r" % text)


# ---------------------------------------------------------------------------
# The service state
# ---------------------------------------------------------------------------

FRIENDLY_NAMES = ["YubiKey 5C NFC", "iCloud Keychain", "Google Password Manager",
                  "Windows Hello", "1Password", "Clé de sécurité", "Pixel 8 \u2014 Chrome"]
TRANSPORTS = [(["usb", "nfc"], "cross-platform"), (["internal", "hybrid"], "platform"),
              (["internal"], "platform"), (["hybrid"], None), (["usb"], "cross-platform")]


class Emulator:
    def __init__(self, config, verbose=False):
        self.base_config = dict(config)
        self.verbose = verbose
        self.lock = threading.RLock()
        self.sign_key = secrets.token_bytes(32)
        self.kid_access = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.kid_id = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self.page_key = secrets.token_bytes(32)
        self.connection_count = 0
        self.reset()

    # -- state ------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.config = dict(self.base_config)
            self.users = {}
            self.refresh_tokens = {}
            self.families = {}          # origin_jti -> username
            self.revoked_families = set()
            self.faults = {}
            self.latency_ms = 0
            self.requests = []
            self.clock_offset = 0.0
            self.seq = 0

    def now(self):
        return time.time() + self.clock_offset

    def issuer(self, region=None, pool=None):
        region = region or self.config["region"]
        pool = pool or self.config["user_pool_id"]
        return "https://cognito-idp.%s.amazonaws.com/%s" % (region, pool)

    def relying_party(self):
        return "passkeys-demo.auth.%s.amazoncognito.com" % self.config["region"]

    def take_fault(self, operation):
        with self.lock:
            for key in (operation, "*"):
                queue = self.faults.get(key)
                if queue:
                    fault = queue.pop(0)
                    if not queue:
                        del self.faults[key]
                    return fault
        return None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    # -- tokens -----------------------------------------------------------
    def _signature(self, signing_input, kid):
        # 256 bytes, like an RS256 signature with a 2048-bit key.
        key = self.sign_key + kid.encode("ascii")
        return b"".join(hmac.new(key, bytes([i]) + signing_input, hashlib.sha256).digest()
                        for i in range(8))

    def _jwt(self, kid, claims, bad_signature=False):
        header = b64u(compact({"kid": kid, "alg": "RS256"}).encode("utf-8"))
        payload = b64u(compact(claims).encode("utf-8"))
        signing_input = (header + "." + payload).encode("ascii")
        signature = bytearray(self._signature(signing_input, kid))
        if bad_signature:
            signature[0] ^= 0x01
        return header + "." + payload + "." + b64u(bytes(signature))

    def _refresh_string(self):
        header = b64u(compact({"cty": "JWT", "enc": "A256GCM", "alg": "RSA-OAEP"}).encode())
        parts = [header, b64u(secrets.token_bytes(256)), b64u(secrets.token_bytes(12)),
                 b64u(secrets.token_bytes(1200)), b64u(secrets.token_bytes(16))]
        return ".".join(parts)

    def _sub_for(self, username):
        user = self.users.get(username)
        if user:
            return user["Sub"]
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "cognito-emulator:" + username))

    def issue(self, username, scope=ADMIN_SCOPE, ttl=None, family=None, auth_time=None,
              client_id=None, token_use="access", iss=None, extra_claims=None,
              bad_signature=False, with_refresh=False, refresh_ttl=None):
        """Mint an AuthenticationResult.  Caller holds the lock."""
        now = int(self.now())
        ttl = self.config["access_token_ttl"] if ttl is None else int(ttl)
        family = family or str(uuid.uuid4())
        auth_time = now if auth_time is None else int(auth_time)
        client_id = client_id or self.config["client_id"]
        iss = iss or self.issuer()
        sub = self._sub_for(username)
        event_id = str(uuid.uuid4())
        access = {"sub": sub, "iss": iss, "client_id": client_id, "origin_jti": family,
                  "event_id": event_id, "token_use": token_use, "scope": scope,
                  "auth_time": auth_time, "exp": now + ttl, "iat": now,
                  "jti": str(uuid.uuid4()), "username": username}
        if scope is None:
            del access["scope"]
        for key, value in (extra_claims or {}).items():
            if value is None:
                access.pop(key, None)
            else:
                access[key] = value
        user = self.users.get(username) or {}
        idc = {"sub": sub, "email_verified": True, "iss": iss, "cognito:username": username,
               "origin_jti": family, "aud": client_id, "event_id": event_id,
               "token_use": "id", "auth_time": auth_time, "exp": now + ttl, "iat": now,
               "jti": str(uuid.uuid4())}
        if "email" in user.get("Attributes", {}):
            idc["email"] = user["Attributes"]["email"]
        else:
            del idc["email_verified"]
        self.families.setdefault(family, username)
        result = {"AccessToken": self._jwt(self.kid_access, access, bad_signature),
                  "ExpiresIn": ttl, "TokenType": "Bearer",
                  "IdToken": self._jwt(self.kid_id, idc)}
        if with_refresh:
            result["RefreshToken"] = self.new_refresh(username, client_id, family, auth_time,
                                                      scope, refresh_ttl)
        return result

    def new_refresh(self, username, client_id, family, auth_time, scope, ttl=None):
        ttl = DEFAULT_REFRESH_TTL if ttl is None else int(ttl)
        token = self._refresh_string()
        self.refresh_tokens[token] = {
            "username": username, "client_id": client_id, "family": family,
            "auth_time": auth_time, "scope": scope, "ttl": ttl,
            "exp": self.now() + ttl, "state": "active"}
        return token

    def decode_access(self, token):
        """Claims of a token this emulator signed, or raise 'Invalid Access Token'."""
        parts = token.split(".")
        if len(parts) != 3:
            raise not_authorized("Invalid Access Token")
        try:
            header = json.loads(b64u_decode(parts[0]))
            claims = json.loads(b64u_decode(parts[1]))
            signature = b64u_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise not_authorized("Invalid Access Token") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise not_authorized("Invalid Access Token")
        kid = header.get("kid")
        if kid != self.kid_access or header.get("alg") != "RS256":
            raise not_authorized("Invalid Access Token")
        expected = self._signature((parts[0] + "." + parts[1]).encode("ascii"), kid)
        if not hmac.compare_digest(expected, signature):
            raise not_authorized("Invalid Access Token")
        return claims

    def authorize(self, token):
        """Cognito's checks for a user-token operation; returns (claims, user)."""
        claims = self.decode_access(token)
        if claims.get("iss") != self.issuer() or claims.get("token_use") != "access":
            raise not_authorized("Invalid Access Token")
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            raise not_authorized("Invalid Access Token")
        if exp <= self.now():
            raise not_authorized("Access Token has expired")
        if claims.get("origin_jti") in self.revoked_families:
            raise not_authorized("Access Token has been revoked")
        scope = claims.get("scope")
        if not isinstance(scope, str) or ADMIN_SCOPE not in scope.split():
            raise not_authorized("Access Token does not have required scopes")
        user = self.users.get(claims.get("username"))
        if user is None:
            raise ServiceError("UserNotFoundException", "User does not exist.")
        if user["Sub"] != claims.get("sub"):
            raise not_authorized("Access Token has been revoked")
        return claims, user

    def check_client(self, client_id):
        if client_id != self.config["client_id"]:
            raise ServiceError("ResourceNotFoundException",
                               "User pool client %s does not exist." % client_id)

    def secret_hash(self, username):
        digest = hmac.new(self.config["client_secret"].encode("utf-8"),
                          (username + self.config["client_id"]).encode("utf-8"),
                          hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def use_refresh(self, token, client_id, reuse_error):
        rec = self.refresh_tokens.get(token)
        if rec is None or rec["client_id"] != client_id:
            raise not_authorized("Invalid Refresh Token")
        if rec["state"] == "revoked" or rec["family"] in self.revoked_families:
            raise not_authorized("Refresh Token has been revoked")
        if rec["state"] == "rotated":
            if reuse_error:
                raise ServiceError("RefreshTokenReuseException",
                                   "Refresh Token has been rotated and is no longer valid")
            raise not_authorized("Invalid Refresh Token")
        if rec["exp"] <= self.now():
            raise not_authorized("Refresh Token has expired")
        user = self.users.get(rec["username"])
        if user is None:
            raise ServiceError("UserNotFoundException", "User does not exist.")
        return rec, user

    # -- passkeys ---------------------------------------------------------
    def _next_seq(self):
        self.seq += 1
        return self.seq

    def make_passkey(self, spec, index):
        """A stored passkey from a control-interface description (fields optional)."""
        if not isinstance(spec, dict):
            raise ControlError(400, "a passkey is a JSON object")
        known = {"CredentialId", "FriendlyCredentialName", "RelyingPartyId",
                 "AuthenticatorAttachment", "AuthenticatorTransports", "CreatedAt"}
        unknown = set(spec) - known
        if unknown:
            raise ControlError(400, "unknown passkey field(s): %s" % ", ".join(sorted(unknown)))
        transports, attachment = TRANSPORTS[index % len(TRANSPORTS)]
        generated_time = "CreatedAt" not in spec
        created = spec.get("CreatedAt")
        if created is None:
            # ascending with the index, like a real account's history; millisecond precision
            created = round(self.now() - 86400 * (400 - index % 400) - secrets.randbelow(3600)
                            - secrets.randbelow(1000) / 1000.0, 3)
            if index % 3 == 2:
                created = float(int(created))
        if isinstance(created, bool) or not isinstance(created, (int, float)):
            raise ControlError(400, "CreatedAt must be a number of epoch seconds")
        cred_id = spec.get("CredentialId")
        if cred_id is None:
            cred_id = b64u(secrets.token_bytes((16, 32, 64, 20)[index % 4]))
        passkey = {
            "CredentialId": cred_id,
            "FriendlyCredentialName": spec.get("FriendlyCredentialName",
                                               FRIENDLY_NAMES[index % len(FRIENDLY_NAMES)]),
            "RelyingPartyId": spec.get("RelyingPartyId", self.relying_party()),
            "AuthenticatorAttachment": spec.get("AuthenticatorAttachment", attachment),
            "AuthenticatorTransports": spec.get("AuthenticatorTransports", transports),
            "CreatedAt": float(created),
            "_seq": self._next_seq(),
            # generated passkeys: every third CreatedAt is a plain integer on the wire
            "_plain": generated_time and index % 3 == 2,
        }
        for key in ("CredentialId", "FriendlyCredentialName", "RelyingPartyId"):
            if not isinstance(passkey[key], str):
                raise ControlError(400, "%s must be a string" % key)
        if passkey["AuthenticatorAttachment"] is not None and \
                not isinstance(passkey["AuthenticatorAttachment"], str):
            raise ControlError(400, "AuthenticatorAttachment must be a string or null")
        if not isinstance(passkey["AuthenticatorTransports"], list) or \
                not all(isinstance(t, str) for t in passkey["AuthenticatorTransports"]):
            raise ControlError(400, "AuthenticatorTransports must be a list of strings")
        return passkey

    @staticmethod
    def passkey_view(passkey):
        out = {k: v for k, v in passkey.items() if not k.startswith("_")}
        if out.get("AuthenticatorAttachment") is None:
            out.pop("AuthenticatorAttachment", None)
        return out

    @staticmethod
    def passkey_wire(passkey):
        out = Emulator.passkey_view(passkey)
        value = passkey["CreatedAt"]
        out["CreatedAt"] = RawNumber(str(int(value)) if passkey["_plain"] else java_double(value))
        return out

    def user_view(self, user):
        return {"Username": user["Username"], "Sub": user["Sub"],
                "Attributes": dict(user["Attributes"]),
                "Passkeys": [self.passkey_view(p) for p in user["Passkeys"]],
                "Deleted": list(user["Deleted"])}

    def page_token(self, sub, last_seq):
        body = b64u(compact({"v": 1, "s": sub, "k": last_seq}).encode())
        mac = b64u(hmac.new(self.page_key, body.encode(), hashlib.sha256).digest()[:16])
        return body + "." + mac

    def read_page_token(self, token, sub):
        bad = ServiceError("InvalidParameterException", "Invalid NextToken provided.")
        body, _, mac = token.partition(".")
        try:
            expected = b64u(hmac.new(self.page_key, body.encode(), hashlib.sha256).digest()[:16])
            if not hmac.compare_digest(expected.encode(), mac.encode()):
                raise bad
            data = json.loads(b64u_decode(body))
        except (ValueError, UnicodeError):
            raise bad from None
        if not isinstance(data, dict) or data.get("s") != sub or not isinstance(data.get("k"), int):
            raise bad
        return data["k"]

    # -- operations -------------------------------------------------------
    def op_initiate_auth(self, req):
        flow = req["AuthFlow"]
        client_id = req["ClientId"]
        params = req.get("AuthParameters", {})
        self.check_client(client_id)
        if flow in ("ADMIN_NO_SRP_AUTH", "ADMIN_USER_PASSWORD_AUTH"):
            raise ServiceError("InvalidParameterException", "Initiate Auth method not supported.")
        if flow == "USER_PASSWORD_AUTH":
            return self._password_auth(client_id, params)
        if flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
            return self._refresh_auth(client_id, params)
        raise ServiceError("InvalidParameterException",
                           "%s flow not enabled for this client" % flow)

    def _require_secret_hash(self, params, client_id):
        if self.config["client_secret"] and "SECRET_HASH" not in params:
            raise not_authorized("Client %s is configured for secret but secret was not received"
                                 % client_id)

    def _check_secret_hash(self, params, client_id, usernames):
        if not self.config["client_secret"]:
            return
        given = params.get("SECRET_HASH", "")
        for name in usernames:
            if hmac.compare_digest(self.secret_hash(name).encode(), given.encode()):
                return
        raise not_authorized("Unable to verify secret hash for client %s" % client_id)

    def _password_auth(self, client_id, params):
        for name in ("USERNAME", "PASSWORD"):
            if name not in params:
                raise ServiceError("InvalidParameterException",
                                   "Missing required parameter %s" % name)
        self._require_secret_hash(params, client_id)
        username = params["USERNAME"]
        self._check_secret_hash(params, client_id, [username])
        user = self.users.get(username)
        password = params["PASSWORD"]
        if user is None or user["Password"] is None or \
                not hmac.compare_digest(user["Password"].encode(), password.encode()):
            raise not_authorized("Incorrect username or password.")
        result = self.issue(username, with_refresh=True)
        return {"ChallengeParameters": {}, "AuthenticationResult": result}

    def _refresh_auth(self, client_id, params):
        if self.config["rotate_refresh_tokens"]:
            # Rotation needs GetTokensFromRefreshToken; the client refuses this flow.
            raise ServiceError("InvalidParameterException",
                               "REFRESH_TOKEN_AUTH flow not enabled for this client")
        if "REFRESH_TOKEN" not in params:
            raise ServiceError("InvalidParameterException",
                               "Missing required parameter REFRESH_TOKEN")
        self._require_secret_hash(params, client_id)
        rec, user = self.use_refresh(params["REFRESH_TOKEN"], client_id, reuse_error=False)
        # The username in the hash is the user's Cognito username; the sub is accepted too.
        self._check_secret_hash(params, client_id, [user["Username"], user["Sub"]])
        result = self.issue(rec["username"], scope=rec["scope"], family=rec["family"],
                            auth_time=rec["auth_time"], client_id=client_id)
        return {"ChallengeParameters": {}, "AuthenticationResult": result}

    def op_get_tokens_from_refresh_token(self, req):
        client_id = req["ClientId"]
        self.check_client(client_id)
        secret = self.config["client_secret"]
        if secret:
            given = req.get("ClientSecret")
            if given is None:
                raise not_authorized("Client %s is configured for secret but secret was not "
                                     "received" % client_id)
            if not hmac.compare_digest(secret.encode(), given.encode()):
                raise not_authorized("Unable to verify secret for client %s" % client_id)
        rec, _user = self.use_refresh(req["RefreshToken"], client_id, reuse_error=True)
        result = self.issue(rec["username"], scope=rec["scope"], family=rec["family"],
                            auth_time=rec["auth_time"], client_id=client_id)
        if self.config["rotate_refresh_tokens"]:
            rec["state"] = "rotated"
            result["RefreshToken"] = self.new_refresh(rec["username"], client_id, rec["family"],
                                                      rec["auth_time"], rec["scope"], rec["ttl"])
        return {"AuthenticationResult": result}

    def op_get_user(self, req):
        _claims, user = self.authorize(req["AccessToken"])
        attrs = [{"Name": "sub", "Value": user["Sub"]}]
        attrs += [{"Name": k, "Value": v} for k, v in user["Attributes"].items() if k != "sub"]
        return {"Username": user["Username"], "UserAttributes": attrs}

    def op_list_web_authn_credentials(self, req):
        _claims, user = self.authorize(req["AccessToken"])
        limit = req.get("MaxResults") or PAGE_SIZE_DEFAULT
        after = 0
        if "NextToken" in req:
            after = self.read_page_token(req["NextToken"], user["Sub"])
        remaining = [p for p in user["Passkeys"] if p["_seq"] > after]
        page = remaining[:limit]
        out = {"Credentials": [self.passkey_wire(p) for p in page]}
        if len(remaining) > limit:
            out["NextToken"] = self.page_token(user["Sub"], page[-1]["_seq"])
        return out

    def op_delete_web_authn_credential(self, req):
        _claims, user = self.authorize(req["AccessToken"])
        cred_id = req["CredentialId"]
        for i, passkey in enumerate(user["Passkeys"]):
            if passkey["CredentialId"] == cred_id:
                del user["Passkeys"][i]
                user["Deleted"].append(cred_id)
                return None
        raise ServiceError("ResourceNotFoundException", "Credential not found")

    def op_revoke_token(self, req):
        client_id = req["ClientId"]
        self.check_client(client_id)
        secret = self.config["client_secret"]
        if secret:
            given = req.get("ClientSecret")
            if given is None or not hmac.compare_digest(secret.encode(), given.encode()):
                raise ServiceError("UnauthorizedException",
                                   "Client secret is missing or does not match")
        token = req["Token"]
        if token.count(".") == 2:
            raise ServiceError("UnsupportedTokenTypeException", "Unsupported token type")
        rec = self.refresh_tokens.get(token)
        if rec is None:
            return None            # like OAuth revocation: unknown tokens are not an error
        if rec["client_id"] != client_id:
            raise ServiceError("UnauthorizedException", "Token was not issued to this client")
        rec["state"] = "revoked"
        self.revoked_families.add(rec["family"])
        return None

    HANDLERS = {
        "InitiateAuth": op_initiate_auth,
        "GetTokensFromRefreshToken": op_get_tokens_from_refresh_token,
        "GetUser": op_get_user,
        "ListWebAuthnCredentials": op_list_web_authn_credentials,
        "DeleteWebAuthnCredential": op_delete_web_authn_credential,
        "RevokeToken": op_revoke_token,
    }

    def dispatch(self, operation, content_type, body):
        """Run one service call; returns the output object (None = empty output)."""
        if operation not in OPERATIONS:
            raise ServiceError("UnknownOperationException",
                               "Operation is not supported: %s" % (operation or "(none)"))
        ctype = (content_type or "").split(";")[0].strip().lower()
        if ctype not in ("application/x-amz-json-1.1", "application/x-amz-json-1.0",
                         "application/json"):
            raise ServiceError("UnknownOperationException",
                               "Unsupported Content-Type: %s" % (ctype or "(none)"))
        params = parse_body(body)
        req = validate_input(operation, params)
        with self.lock:
            return self.HANDLERS[operation](self, req)


def parse_body(body):
    if not body.strip():
        return {}
    try:
        params = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ServiceError("SerializationException", "Invalid UTF-8 start byte") from None
    except ValueError as exc:
        raise ServiceError("SerializationException",
                           "Unexpected character in request body: %s" % exc.msg) from None
    if isinstance(params, list):
        raise ServiceError("SerializationException", "Start of list found where not expected")
    if not isinstance(params, dict):
        raise ServiceError("SerializationException",
                           "%s can not be converted to a Structure" % _json_token(params))
    return params


def best_effort_json(body):
    try:
        obj = json.loads(body.decode("utf-8"))
        return obj if isinstance(obj, dict) else None
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------
# Control interface (/_emulator/...)
# ---------------------------------------------------------------------------

def _need(obj, key, kinds, optional=True):
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise ControlError(400, "%s is required" % key)
    if isinstance(value, bool) and bool not in kinds:
        raise ControlError(400, "%s has the wrong type" % key)
    if not isinstance(value, kinds):
        raise ControlError(400, "%s has the wrong type" % key)
    return value


class Control:
    def __init__(self, emu, server_info):
        self.emu = emu
        self.server_info = server_info

    def handle(self, method, path, query, body):
        emu = self.emu
        parts = [unquote(p) for p in path.split("/")[2:] if p != ""]
        if method in ("POST", "PUT"):
            try:
                obj = json.loads(body.decode("utf-8")) if body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                raise ControlError(400, "body is not JSON") from None
            if not isinstance(obj, dict):
                raise ControlError(400, "body must be a JSON object")
        else:
            obj = {}
        with emu.lock:
            return self._route(method, parts, obj)

    def _route(self, method, parts, obj):
        emu = self.emu
        head = parts[0] if parts else ""
        if head == "health" and method == "GET":
            return {"Ok": True}
        if head == "config":
            if method == "POST":
                self._set_config(obj)
            elif method != "GET":
                raise ControlError(405, "GET or POST")
            return self._config_view()
        if head == "reset" and method == "POST":
            emu.reset()
            return {"Reset": True}
        if head == "users":
            return self._users(method, parts[1:], obj)
        if head == "tokens" and method == "POST":
            return self._mint(obj)
        if head == "faults":
            if method == "POST":
                return self._add_faults(obj)
            if method == "DELETE":
                emu.faults = {}
            elif method != "GET":
                raise ControlError(405, "GET, POST or DELETE")
            return {"Pending": {k: list(v) for k, v in emu.faults.items()}}
        if head == "latency":
            if method == "POST":
                ms = _need(obj, "Milliseconds", (int,), optional=False)
                if not 0 <= ms <= 600000:
                    raise ControlError(400, "Milliseconds must be 0..600000")
                emu.latency_ms = ms
            elif method != "GET":
                raise ControlError(405, "GET or POST")
            return {"Milliseconds": emu.latency_ms}
        if head == "requests":
            if method == "DELETE":
                emu.requests = []
            elif method != "GET":
                raise ControlError(405, "GET or DELETE")
            return {"Requests": list(emu.requests)}
        if head == "clock":
            if method == "POST":
                if "Offset" in obj:
                    emu.clock_offset = float(_need(obj, "Offset", (int, float)))
                if "Advance" in obj:
                    emu.clock_offset += float(_need(obj, "Advance", (int, float)))
            elif method != "GET":
                raise ControlError(405, "GET or POST")
            return {"Now": emu.now(), "Offset": emu.clock_offset}
        raise ControlError(404, "no such control resource: /_emulator/%s" % "/".join(parts))

    def _config_view(self):
        cfg = self.emu.config
        view = {"Region": cfg["region"], "UserPoolId": cfg["user_pool_id"],
                "ClientId": cfg["client_id"], "HasClientSecret": bool(cfg["client_secret"]),
                "RotateRefreshTokens": cfg["rotate_refresh_tokens"],
                "AccessTokenTtl": cfg["access_token_ttl"], "Issuer": self.emu.issuer(),
                "EmptyOutput": cfg["empty_output"], "RelyingPartyId": self.emu.relying_party(),
                "Connections": self.emu.connection_count}
        view.update(self.server_info)
        return view

    def _set_config(self, obj):
        cfg = self.emu.config
        if "ClientSecret" in obj:
            secret = obj["ClientSecret"]
            if secret is not None and not valid_client_secret(secret):
                raise ControlError(400, "ClientSecret must be 24..64 characters of [\\w+]")
            cfg["client_secret"] = secret
        if "RotateRefreshTokens" in obj:
            cfg["rotate_refresh_tokens"] = bool(_need(obj, "RotateRefreshTokens", (bool,)))
        if "AccessTokenTtl" in obj:
            ttl = _need(obj, "AccessTokenTtl", (int,))
            if ttl is None or ttl < 1:
                raise ControlError(400, "AccessTokenTtl must be a positive integer")
            cfg["access_token_ttl"] = ttl
        if "EmptyOutput" in obj:
            if obj["EmptyOutput"] not in ("", "{}"):
                raise ControlError(400, 'EmptyOutput must be "" or "{}"')
            cfg["empty_output"] = obj["EmptyOutput"]
        unknown = set(obj) - {"ClientSecret", "RotateRefreshTokens", "AccessTokenTtl",
                              "EmptyOutput"}
        if unknown:
            raise ControlError(400, "unknown config key(s): %s" % ", ".join(sorted(unknown)))

    def _passkeys_from(self, obj, start):
        emu = self.emu
        passkeys = obj.get("Passkeys")
        count = obj.get("PasskeyCount")
        if passkeys is not None and count is not None:
            raise ControlError(400, "give Passkeys or PasskeyCount, not both")
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10000:
                raise ControlError(400, "PasskeyCount must be 0..10000")
            passkeys = [{}] * count
        if passkeys is None:
            return []
        if not isinstance(passkeys, list):
            raise ControlError(400, "Passkeys must be a list")
        return [emu.make_passkey(p, start + i) for i, p in enumerate(passkeys)]

    def _users(self, method, rest, obj):
        emu = self.emu
        if not rest:
            if method == "GET":
                return {"Users": [emu.user_view(u) for u in emu.users.values()]}
            if method != "POST":
                raise ControlError(405, "GET or POST")
            name = obj.get("Username")
            if not valid_username(name):
                raise ControlError(400, "Username must be 1..128 printable characters, "
                                        "no spaces")
            unknown = set(obj) - {"Username", "Password", "Passkeys", "PasskeyCount",
                                  "Attributes", "Sub"}
            if unknown:
                raise ControlError(400, "unknown user field(s): %s" % ", ".join(sorted(unknown)))
            password = _need(obj, "Password", (str,))
            attrs = _need(obj, "Attributes", (dict,)) or {}
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
                raise ControlError(400, "Attributes must map strings to strings")
            old = emu.users.get(name)
            sub = _need(obj, "Sub", (str,)) or (old["Sub"] if old else str(uuid.uuid4()))
            passkeys = self._passkeys_from(obj, 0)
            ids = [p["CredentialId"] for p in passkeys]
            if len(set(ids)) != len(ids):
                raise ControlError(400, "duplicate CredentialId")
            user = {"Username": name, "Sub": sub, "Password": password,
                    "Attributes": dict(attrs), "Passkeys": passkeys, "Deleted": []}
            emu.users[name] = user
            return emu.user_view(user)
        name = rest[0]
        user = emu.users.get(name)
        if user is None:
            raise ControlError(404, "no such user: %s" % name)
        if len(rest) == 1:
            if method == "GET":
                return emu.user_view(user)
            if method == "DELETE":
                del emu.users[name]
                return {"Deleted": name}
            raise ControlError(405, "GET or DELETE")
        if rest[1:] == ["passkeys"] and method == "POST":
            added = self._passkeys_from(obj, len(user["Passkeys"]) + len(user["Deleted"]))
            ids = [p["CredentialId"] for p in user["Passkeys"] + added]
            if len(set(ids)) != len(ids):
                raise ControlError(400, "duplicate CredentialId")
            user["Passkeys"].extend(added)
            return emu.user_view(user)
        if rest[1:] == ["signout"] and method == "POST":
            # Like GlobalSignOut: every token family of the user is revoked.
            for family, owner in emu.families.items():
                if owner == name:
                    emu.revoked_families.add(family)
            for rec in emu.refresh_tokens.values():
                if rec["username"] == name:
                    rec["state"] = "revoked"
            return emu.user_view(user)
        raise ControlError(404, "no such control resource")

    def _mint(self, obj):
        emu = self.emu
        known = {"Username", "Ttl", "Scope", "TokenUse", "Issuer", "UserPoolId", "Region",
                 "ClientId", "Claims", "BadSignature", "RefreshToken", "RefreshTtl",
                 "AuthTime"}
        unknown = set(obj) - known
        if unknown:
            raise ControlError(400, "unknown token field(s): %s" % ", ".join(sorted(unknown)))
        name = _need(obj, "Username", (str,), optional=False)
        scope = obj["Scope"] if "Scope" in obj else ADMIN_SCOPE
        if scope is not None and not isinstance(scope, str):
            raise ControlError(400, "Scope must be a string or null")
        ttl = _need(obj, "Ttl", (int,))
        iss = _need(obj, "Issuer", (str,))
        if iss is None and ("UserPoolId" in obj or "Region" in obj):
            pool = _need(obj, "UserPoolId", (str,))
            region = _need(obj, "Region", (str,))
            if pool and not region:
                region = pool.split("_")[0]
            iss = emu.issuer(region, pool)
        claims = _need(obj, "Claims", (dict,))
        with_refresh = obj.get("RefreshToken", True)
        if not isinstance(with_refresh, bool):
            raise ControlError(400, "RefreshToken must be true or false")
        return emu.issue(name, scope=scope, ttl=ttl,
                         token_use=_need(obj, "TokenUse", (str,)) or "access",
                         client_id=_need(obj, "ClientId", (str,)), iss=iss,
                         extra_claims=claims,
                         bad_signature=bool(_need(obj, "BadSignature", (bool,))),
                         auth_time=_need(obj, "AuthTime", (int,)),
                         with_refresh=with_refresh,
                         refresh_ttl=_need(obj, "RefreshTtl", (int,)))

    def _add_faults(self, obj):
        emu = self.emu
        operation = _need(obj, "Operation", (str,), optional=False)
        faults = obj.get("Faults")
        if isinstance(faults, str):
            faults = [faults]
        if not isinstance(faults, list) or not faults:
            raise ControlError(400, "Faults must be a non-empty list")
        for fault in faults:
            try:
                parse_fault(fault)
            except ValueError as exc:
                raise ControlError(400, str(exc)) from None
        emu.faults.setdefault(operation, []).extend(faults)
        return {"Pending": {k: list(v) for k, v in emu.faults.items()}}


def valid_client_secret(secret):
    return isinstance(secret, str) and 24 <= len(secret) <= 64 and \
        re.fullmatch(r"[\w+]+", secret, re.ASCII) is not None


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class BodyTooLarge(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    # TCP_NODELAY: the headers and the body go out in two writes, and with
    # Nagle the body waited for the client's delayed ACK of the headers:
    # 40 ms added to every answer with a body (tests/bench), which the
    # service does not do.
    disable_nagle_algorithm = True

    def version_string(self):
        return "cognito-emulator"

    def __init__(self, request, client_address, server, conn_id):
        self.conn_id = conn_id
        super().__init__(request, client_address, server)

    # quiet unless --verbose; never prints bodies, so never a token
    def log_message(self, fmt, *args):
        if self.server.emu.verbose:
            sys.stderr.write("%s: conn=%d %s\n" % (PROG, self.conn_id, fmt % args))

    def do_POST(self):
        self._dispatch()

    def do_GET(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    # -- plumbing -----------------------------------------------------------
    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_REQUEST_BODY:
                    raise BodyTooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        length = int(length)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_REQUEST_BODY:
            raise BodyTooLarge()
        return self.rfile.read(length)

    def _send(self, status, body, content_type, request_id, extra=(), declared_length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length",
                         str(len(body) if declared_length is None else declared_length))
        self.send_header("x-amzn-RequestId", request_id)
        for key, value in extra:
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _drop(self, rst):
        """Close the connection without an answer: RST (SO_LINGER 0) or FIN."""
        conn = self.connection
        try:
            if rst:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for stream in (self.rfile, self.wfile):
                try:
                    stream.close()
                except OSError:
                    pass
            conn.close()
        except OSError:
            pass
        self.close_connection = True

    def _dispatch(self):
        received = time.time()
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.close_connection = True
            self._send(413, wire_json({"__type": "SerializationException",
                                       "message": "Request body too large"}),
                       AMZ_JSON, str(uuid.uuid4()))
            return
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, b'{"message":"Malformed request body"}', "application/json",
                       str(uuid.uuid4()))
            return
        path = urlsplit(self.path)
        if path.path.startswith("/_emulator/") or path.path == "/_emulator":
            self._control(path.path, path.query, body)
            return
        self._service(path.path, body, received)

    def _control(self, path, query, body):
        control = self.server.control
        request_id = str(uuid.uuid4())
        try:
            result = control.handle(self.command, path, query, body)
            status = 200
        except ControlError as exc:
            status, result = exc.status, {"Error": exc.message}
        payload = json.dumps(result, ensure_ascii=False).encode("utf-8") + b"\n"
        self._send(status, payload, "application/json", request_id)

    def _service(self, path, body, received):
        emu = self.server.emu
        request_id = str(uuid.uuid4())
        target = self.headers.get("X-Amz-Target")
        operation = target[len(TARGET_PREFIX):] if target and target.startswith(
            TARGET_PREFIX) else target
        if path != "/" or self.command != "POST":
            operation = None
        fault = emu.take_fault(operation or "") if operation else None
        parsed = best_effort_json(body)
        entry = {"Operation": operation, "Connection": self.conn_id, "Status": None,
                 "ErrorCode": None, "Time": received, "RequestId": request_id,
                 "Fault": fault, "Method": self.command, "Path": self.path,
                 "ContentType": self.headers.get("Content-Type"),
                 "Input": redacted_input(parsed), "Jti": None}
        if parsed and isinstance(parsed.get("AccessToken"), str):
            try:
                entry["Jti"] = emu.decode_access(parsed["AccessToken"]).get("jti")
            except ServiceError:
                pass
        kind, args = parse_fault(fault) if fault else (None, ())
        if kind == "hang":
            time.sleep(args[0])
            if args[1]:
                emu.record(entry)
                self._drop(rst=args[1] == "reset")
                return
        if emu.latency_ms:
            time.sleep(emu.latency_ms / 1000.0)
        if kind in ("reset", "close"):
            emu.record(entry)
            self._drop(rst=kind == "reset")
            return

        extra = []
        content_type = AMZ_JSON
        declared = None
        code = None
        if kind == "retryafter":
            code, message, status = "TooManyRequestsException", "Rate exceeded", 400
            payload = wire_json({"__type": code, "message": message})
            extra.append(("x-amzn-ErrorType", code + ERROR_TYPE_SUFFIX))
            header, form, value = args
            if header == "amzretryafter":
                extra.append(("x-amz-retry-after", str(value)))
            elif form == "date":
                extra.append(("Retry-After", email.utils.formatdate(
                    time.time() + value, usegmt=True)))
            else:
                extra.append(("Retry-After", str(value)))
        elif kind in ("error", "namespaced", "headeronly", "codefield"):
            code = args[0]
            message = (args[1] if kind == "error" else None) or DEFAULT_MESSAGES.get(
                code, "Injected %s" % code)
            status = 500 if code == "InternalErrorException" else 400
            if kind == "error":
                payload = wire_json({"__type": code, "message": message})
                extra.append(("x-amzn-ErrorType", code + ERROR_TYPE_SUFFIX))
            elif kind == "namespaced":
                payload = wire_json({"__type": "com.amazonaws.cognitoidentityprovider#" + code
                                     + ERROR_TYPE_SUFFIX, "Message": message})
            elif kind == "codefield":
                payload = wire_json({"code": code, "message": message})
            else:
                payload = wire_json({"message": message})
                extra.append(("x-amzn-ErrorType", code + ERROR_TYPE_SUFFIX))
        elif kind == "garbage":
            status = args[0]
            payload = b"<html>Not JSON at all {\"__type\": \"NotAuthorizedExcep"
        elif kind == "binary":
            status = args[0]
            payload = b"\x00\xff\xfe{\"__type\":\x00\x80 not UTF-8, not JSON"
        elif kind == "http":
            status = args[0]
            content_type = "text/html"
            payload = ("<html><body><h1>%d %s</h1></body></html>\n" % (
                status, self.responses.get(status, ("Error",))[0])).encode()
        elif kind == "oversize":
            status = 200
            payload = wire_json({"Credentials": [], "Padding": "x" * OVERSIZE_BYTES})
        else:
            try:
                output = emu.dispatch(operation, self.headers.get("Content-Type"), body)
                status = 200
                if output is None:
                    payload = emu.config["empty_output"].encode()
                else:
                    payload = wire_json(output)
            except ServiceError as exc:
                status, code = exc.status, exc.code
                payload = wire_json({"__type": exc.code, "message": exc.message})
                extra.append(("x-amzn-ErrorType", exc.code + ERROR_TYPE_SUFFIX))
            if kind == "truncate":
                declared = len(payload) + 100
                self.close_connection = True
        entry["Status"] = status
        entry["ErrorCode"] = code
        emu.record(entry)
        if self.server.emu.verbose:
            sys.stderr.write("%s: conn=%d op=%s status=%d code=%s fault=%s\n" % (
                PROG, self.conn_id, operation, status, code, fault))
        self._send(status, payload, content_type, request_id, extra, declared)
        if kind == "truncate":
            self._drop(rst=False)


class EmulatorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, family, emu, ssl_context):
        self.address_family = family
        self.emu = emu
        self.ssl_context = ssl_context
        self._conn_lock = threading.Lock()
        super().__init__(address, Handler)
        self.control = Control(emu, {"Scheme": "https" if ssl_context else "http",
                                     "Port": self.server_address[1]})

    def finish_request(self, request, client_address):
        # Runs in the connection's own thread: the TLS handshake happens here, so a
        # client that never completes one cannot stall the accept loop.
        with self._conn_lock:
            self.emu.connection_count += 1
            conn_id = self.emu.connection_count
        sock = request
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                sock = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                if self.emu.verbose:
                    sys.stderr.write("%s: conn=%d TLS handshake failed: %s\n"
                                     % (PROG, conn_id, exc))
                return
        try:
            Handler(sock, client_address, self, conn_id)
        finally:
            if sock is not request:
                try:
                    sock.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.emu.verbose:
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="cognito_emulator.py",
                                description="Local Cognito user-pool service for tests.")
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument("--port-file", help="write the port here once listening")
    p.add_argument("--tls-cert", help="PEM server certificate (serve HTTPS only)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    p.add_argument("--region", help="AWS region (default: from the pool id, else eu-west-1)")
    p.add_argument("--user-pool-id", help="pool id (default <region>_Example)")
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="app client id")
    p.add_argument("--client-secret", help="app client secret (24..64 chars of [\\w+])")
    p.add_argument("--access-token-ttl", type=int, default=3600, help="seconds (default 3600)")
    p.add_argument("--rotate-refresh-tokens", action="store_true",
                   help="refresh-token rotation (GetTokensFromRefreshToken returns a new one)")
    p.add_argument("--empty-output", choices=["", "{}"], default="",
                   help='success body of Delete/RevokeToken: "" (default) or "{}"')
    p.add_argument("--watch-stdin", action="store_true",
                   help="exit when standard input reaches end of file (parent died)")
    p.add_argument("--verbose", action="store_true", help="one stderr line per request")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if not 0 <= args.port <= 65535:
        p.error("--port must be 0..65535")
    pool_re = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
    if args.user_pool_id:
        if not pool_re.fullmatch(args.user_pool_id):
            p.error("--user-pool-id must look like eu-west-1_AbCdEf123")
        pool_region = args.user_pool_id.split("_")[0]
        if args.region and args.region != pool_region:
            p.error("--region %s does not match the pool id's region %s"
                    % (args.region, pool_region))
        args.region = pool_region
    args.region = args.region or "eu-west-1"
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", args.region):
        p.error("--region must look like eu-west-1")
    args.user_pool_id = args.user_pool_id or args.region + "_Example"
    if not re.fullmatch(r"[\w+]{1,128}", args.client_id, re.ASCII):
        p.error("--client-id must be 1..128 characters of [\\w+]")
    if args.client_secret is not None and not valid_client_secret(args.client_secret):
        p.error("--client-secret must be 24..64 characters of [\\w+]")
    if args.access_token_ttl < 1:
        p.error("--access-token-ttl must be at least 1")
    return args


def loopback_address(host):
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SystemExit("%s: cannot resolve %s: %s" % (PROG, host, exc)) from None
    for family, _t, _p, _c, sockaddr in infos:
        if ipaddress.ip_address(sockaddr[0]).is_loopback:
            return family, sockaddr[0]
    raise SystemExit("%s: refusing to listen on %s: loopback addresses only" % (PROG, host))


def write_port_file(path, port):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    family, address = loopback_address(args.host)
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise SystemExit("%s: cannot load TLS certificate/key: %s" % (PROG, exc)) from None
    config = {"region": args.region, "user_pool_id": args.user_pool_id,
              "client_id": args.client_id, "client_secret": args.client_secret,
              "access_token_ttl": args.access_token_ttl,
              "rotate_refresh_tokens": args.rotate_refresh_tokens,
              "empty_output": args.empty_output}
    emu = Emulator(config, verbose=args.verbose)
    try:
        server = EmulatorServer((address, args.port), family, emu, ssl_context)
    except OSError as exc:
        raise SystemExit("%s: cannot listen on %s:%d: %s" % (PROG, address, args.port, exc)) \
            from None
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)

    stopping = threading.Event()

    def stop(signum=None, frame=None):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    if args.watch_stdin:
        def watch():
            # os.read, not sys.stdin: a daemon thread blocked inside a buffered
            # reader's lock aborts the interpreter at exit.
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            stop()
        threading.Thread(target=watch, daemon=True).start()

    scheme = "https" if ssl_context else "http"
    host = "[%s]" % address if family == socket.AF_INET6 else address
    sys.stderr.write("%s: listening on %s://%s:%d/ pid=%d region=%s pool=%s client=%s "
                     "secret=%s rotation=%s access_ttl=%d\n"
                     % (PROG, scheme, host, port, os.getpid(), args.region, args.user_pool_id,
                        args.client_id, "yes" if args.client_secret else "no",
                        "on" if args.rotate_refresh_tokens else "off", args.access_token_ttl))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if args.port_file:
            try:
                os.unlink(args.port_file)
            except OSError:
                pass
    sys.stderr.write("%s: stopped after %d connection(s)\n" % (PROG, emu.connection_count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
