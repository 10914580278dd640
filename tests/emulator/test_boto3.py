#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""The emulator driven by the official AWS SDK for Python (boto3/botocore).

Every operation and every error the product meets, over HTTPS with a
throw-away CA (verify=<ca.pem>): the SDK must get the outputs and exception
classes it would get from AWS.  Exits 77 (automake SKIP) when boto3 is missing
or too old to know the WebAuthn operations.
"""

import base64
import datetime
import hashlib
import hmac
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emutest  # noqa: E402
from emutest import Emu  # noqa: E402

NEEDED = ("list_web_authn_credentials", "delete_web_authn_credential",
          "get_tokens_from_refresh_token", "revoke_token", "get_user", "initiate_auth")


def skip(reason):
    print("SKIP: %s" % reason)
    sys.stdout.flush()
    sys.exit(77)


try:
    import boto3
    import botocore
    import botocore.exceptions
    from botocore.config import Config
except ImportError as exc:
    skip("boto3/botocore is not importable by %s (%s)" % (sys.executable, exc))

# No credentials, profiles or instance metadata: these operations are unsigned.
for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
            "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS", "AWS_CA_BUNDLE", "AWS_NEW_RETRIES_2026"):
    os.environ.pop(var, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

_probe = boto3.session.Session().client(
    "cognito-idp", region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="dummy", endpoint_url="https://127.0.0.1:9/")
_missing = [op for op in NEEDED if not hasattr(_probe, op)]
if _missing:
    skip("boto3 %s / botocore %s is too old for %s (WebAuthn operations came with botocore "
         "1.35.68, GetTokensFromRefreshToken with 1.38.0)"
         % (boto3.__version__, botocore.__version__, ", ".join(_missing)))
print("boto3 %s, botocore %s, python %s" % (boto3.__version__, botocore.__version__,
                                            sys.version.split()[0]))

SECRET = "s3cr3tEmulatorClientSecret0123456789abcdef"
MAIN = SECRETIVE = ROTATING = None


def setUpModule():
    global MAIN, SECRETIVE, ROTATING
    MAIN = Emu().start()
    SECRETIVE = Emu("--client-secret", SECRET, "--user-pool-id", "us-east-1_SecretPool",
                    "--client-id", "secretclient123").start()
    ROTATING = Emu("--rotate-refresh-tokens", "--client-secret", SECRET).start()


def tearDownModule():
    for emu in (MAIN, SECRETIVE, ROTATING):
        if emu:
            assert emu.stop() == 0, emu.log()


def client(emu, attempts=1, **config):
    cfg = Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                 connect_timeout=5, read_timeout=config.pop("read_timeout", 15), **config)
    region = emu.ctl("GET", "config")["Region"]
    return boto3.session.Session().client(
        "cognito-idp", region_name=region, endpoint_url=emu.url, verify=emu.ca,
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="dummy", config=cfg)


def secret_hash(username, client_id, secret=SECRET):
    digest = hmac.new(secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def claims(token):
    return emutest.jwt_parts(token)[1]


class Base(unittest.TestCase):
    emu_name = "MAIN"

    def setUp(self):
        self.emu = globals()[self.emu_name]
        self.emu.ctl("POST", "reset")
        cfg = self.emu.ctl("GET", "config")
        self.client_id = cfg["ClientId"]
        self.user = self.emu.add_user("alice", Password="Corr3ct-horse", PasskeyCount=3,
                                      Attributes={"email": "alice@example.com"})
        self.c = client(self.emu)
        self.tokens = self.emu.mint("alice")
        self.at = self.tokens["AccessToken"]

    def assertRaisesCode(self, exc_class, message, fn, **kw):
        with self.assertRaises(exc_class) as ctx:
            fn(**kw)
        err = ctx.exception.response["Error"]
        if message is not None:
            self.assertEqual(err["Message"], message)
        return ctx.exception


class Operations(Base):
    def test_user_password_auth_and_get_user(self):
        out = self.c.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=self.client_id,
                                   AuthParameters={"USERNAME": "alice",
                                                   "PASSWORD": "Corr3ct-horse"})
        res = out["AuthenticationResult"]
        self.assertEqual(out["ChallengeParameters"], {})
        self.assertEqual((res["TokenType"], res["ExpiresIn"]), ("Bearer", 3600))
        for key in ("AccessToken", "RefreshToken", "IdToken"):
            self.assertRegex(res[key], r"^[A-Za-z0-9_=.-]+$")
        c = claims(res["AccessToken"])
        self.assertEqual((c["username"], c["token_use"], c["client_id"], c["sub"]),
                         ("alice", "access", self.client_id, self.user["Sub"]))
        self.assertEqual(c["scope"], "aws.cognito.signin.user.admin")
        self.assertEqual(c["iss"], "https://cognito-idp.eu-west-1.amazonaws.com/"
                                   "eu-west-1_Example")
        me = self.c.get_user(AccessToken=res["AccessToken"])
        self.assertEqual(me["Username"], "alice")
        self.assertIn({"Name": "email", "Value": "alice@example.com"}, me["UserAttributes"])
        self.assertEqual(me["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(me["ResponseMetadata"]["RequestId"],
                         self.emu.requests()[-1]["RequestId"])

    def test_password_and_client_errors(self):
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Incorrect username or password.", self.c.initiate_auth,
                              AuthFlow="USER_PASSWORD_AUTH", ClientId=self.client_id,
                              AuthParameters={"USERNAME": "alice", "PASSWORD": "wrong"})
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Incorrect username or password.", self.c.initiate_auth,
                              AuthFlow="USER_PASSWORD_AUTH", ClientId=self.client_id,
                              AuthParameters={"USERNAME": "mallory", "PASSWORD": "x"})
        self.assertRaisesCode(self.c.exceptions.ResourceNotFoundException,
                              "User pool client otherclient does not exist.",
                              self.c.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
                              ClientId="otherclient", AuthParameters={"REFRESH_TOKEN": "x"})
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException,
                              "Missing required parameter REFRESH_TOKEN", self.c.initiate_auth,
                              AuthFlow="REFRESH_TOKEN_AUTH", ClientId=self.client_id,
                              AuthParameters={})
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException,
                              "USER_SRP_AUTH flow not enabled for this client",
                              self.c.initiate_auth, AuthFlow="USER_SRP_AUTH",
                              ClientId=self.client_id, AuthParameters={"USERNAME": "alice"})

    def test_list_and_delete(self):
        out = self.c.list_web_authn_credentials(AccessToken=self.at)
        self.assertNotIn("NextToken", out)
        stored = self.emu.user("alice")["Passkeys"]
        self.assertEqual([p["CredentialId"] for p in out["Credentials"]],
                         [p["CredentialId"] for p in stored])
        for got, want in zip(out["Credentials"], stored):
            self.assertIsInstance(got["CreatedAt"], datetime.datetime)
            self.assertAlmostEqual(got["CreatedAt"].timestamp(), want["CreatedAt"], places=3)
            for key in ("FriendlyCredentialName", "RelyingPartyId", "AuthenticatorTransports"):
                self.assertEqual(got[key], want[key])
            self.assertEqual(got.get("AuthenticatorAttachment"),
                             want.get("AuthenticatorAttachment"))
        victim = stored[1]["CredentialId"]
        out = self.c.delete_web_authn_credential(AccessToken=self.at, CredentialId=victim)
        self.assertEqual(set(out), {"ResponseMetadata"})
        self.assertEqual(out["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertTrue(out["ResponseMetadata"]["RequestId"])
        after = self.emu.user("alice")
        self.assertEqual(after["Deleted"], [victim])
        self.assertNotIn(victim, [p["CredentialId"] for p in after["Passkeys"]])
        self.assertRaisesCode(self.c.exceptions.ResourceNotFoundException, None,
                              self.c.delete_web_authn_credential, AccessToken=self.at,
                              CredentialId=victim)
        self.assertRaisesCode(self.c.exceptions.ResourceNotFoundException, None,
                              self.c.delete_web_authn_credential, AccessToken=self.at,
                              CredentialId="")
        # "{}" as the success body parses the same
        self.emu.ctl("POST", "config", {"EmptyOutput": "{}"})
        out = self.c.delete_web_authn_credential(AccessToken=self.at,
                                                 CredentialId=stored[0]["CredentialId"])
        self.assertEqual(set(out), {"ResponseMetadata"})

    def test_pagination_over_25_passkeys(self):
        self.emu.add_user("bob", PasskeyCount=25)
        at = self.emu.mint("bob")["AccessToken"]
        ids = [p["CredentialId"] for p in self.emu.user("bob")["Passkeys"]]
        for max_results, sizes in ((None, [20, 5]), (0, [20, 5]), (7, [7, 7, 7, 4]),
                                   (20, [20, 5]), (1, [1] * 25)):
            seen, pages, token = [], [], None
            while True:
                kw = {"AccessToken": at}
                if max_results is not None:
                    kw["MaxResults"] = max_results
                if token:
                    kw["NextToken"] = token
                out = self.c.list_web_authn_credentials(**kw)
                pages.append(len(out["Credentials"]))
                seen += [p["CredentialId"] for p in out["Credentials"]]
                token = out.get("NextToken")
                if not token:
                    break
                self.assertRegex(token, r"^\S+$")
            self.assertEqual(pages, sizes, max_results)
            self.assertEqual(seen, ids)

    def test_pagination_survives_deletes_and_rejects_foreign_tokens(self):
        self.emu.add_user("bob", PasskeyCount=25)
        at = self.emu.mint("bob")["AccessToken"]
        first = self.c.list_web_authn_credentials(AccessToken=at, MaxResults=10)
        for p in first["Credentials"][:5]:
            self.c.delete_web_authn_credential(AccessToken=at, CredentialId=p["CredentialId"])
        second = self.c.list_web_authn_credentials(AccessToken=at, MaxResults=10,
                                                   NextToken=first["NextToken"])
        ids = [p["CredentialId"] for p in self.emu.user("bob")["Passkeys"]]
        self.assertEqual([p["CredentialId"] for p in second["Credentials"]], ids[5:15])
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException, None,
                              self.c.list_web_authn_credentials, AccessToken=self.at,
                              NextToken=first["NextToken"])
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException, None,
                              self.c.list_web_authn_credentials, AccessToken=at,
                              NextToken="garbage")

    def test_server_side_validation(self):
        raw = client(self.emu, parameter_validation=False)
        err = self.assertRaisesCode(raw.exceptions.InvalidParameterException, None,
                                    raw.list_web_authn_credentials, AccessToken=self.at,
                                    MaxResults=21)
        self.assertIn("Member must have value less than or equal to 20", str(err))
        self.assertRaisesCode(raw.exceptions.InvalidParameterException, None,
                              raw.list_web_authn_credentials, AccessToken=self.at,
                              MaxResults=-1)
        self.assertRaisesCode(raw.exceptions.InvalidParameterException,
                              "1 validation error detected: Value null at 'credentialId' failed "
                              "to satisfy constraint: Member must not be null",
                              raw.delete_web_authn_credential, AccessToken=self.at)
        # botocore checks neither patterns nor maxima: the service does
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException, None,
                              self.c.get_user, AccessToken="bad token!")
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException, None,
                              self.c.delete_web_authn_credential, AccessToken=self.at,
                              CredentialId="c" * 131073)
        with self.assertRaises(botocore.exceptions.ParamValidationError):
            self.c.list_web_authn_credentials(AccessToken=self.at, MaxResults=-1)

    def test_unknown_operation(self):
        def retarget(request, **kwargs):
            request.headers["X-Amz-Target"] = "AWSCognitoIdentityProviderService.Nope"
        self.c.meta.events.register_first("before-send.cognito-idp.GetUser", retarget)
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.c.get_user(AccessToken=self.at)
        self.assertEqual(ctx.exception.response["Error"]["Code"], "UnknownOperationException")
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)


class TokenRules(Base):
    def each_user_operation(self, token):
        yield lambda: self.c.get_user(AccessToken=token)
        yield lambda: self.c.list_web_authn_credentials(AccessToken=token)
        yield lambda: self.c.delete_web_authn_credential(
            AccessToken=token, CredentialId=self.user["Passkeys"][0]["CredentialId"])

    def assertRejected(self, token, message, exc=None):
        exc = exc or self.c.exceptions.NotAuthorizedException
        for call in self.each_user_operation(token):
            with self.assertRaises(exc) as ctx:
                call()
            self.assertEqual(ctx.exception.response["Error"]["Message"], message)
            self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.emu.user("alice")["Deleted"], [])

    def test_expired(self):
        self.assertRejected(self.emu.mint("alice", Ttl=-60)["AccessToken"],
                            "Access Token has expired")

    def test_scope_less(self):
        self.assertRejected(self.emu.mint("alice", Scope="openid email")["AccessToken"],
                            "Access Token does not have required scopes")
        self.assertRejected(self.emu.mint("alice", Scope=None)["AccessToken"],
                            "Access Token does not have required scopes")

    def test_foreign_and_forged(self):
        for kw in ({"UserPoolId": "eu-west-1_OtherPool"}, {"Region": "us-east-1"},
                   {"Issuer": "https://evil.example/eu-west-1_Example"},
                   {"TokenUse": "id"}, {"BadSignature": True}):
            self.assertRejected(self.emu.mint("alice", **kw)["AccessToken"],
                                "Invalid Access Token")
        self.assertRejected(self.tokens["IdToken"], "Invalid Access Token")
        self.assertRejected("eyJraWQiOiJhIn0.eyJzdWIiOiJ4In0.c2ln", "Invalid Access Token")
        # a token of another emulator instance (another signing key)
        self.assertRejected(SECRETIVE.mint("alice")["AccessToken"], "Invalid Access Token")

    def test_revoked_by_revoke_token(self):
        self.c.revoke_token(Token=self.tokens["RefreshToken"], ClientId=self.client_id)
        self.assertRejected(self.at, "Access Token has been revoked")
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Refresh Token has been revoked", self.c.initiate_auth,
                              AuthFlow="REFRESH_TOKEN_AUTH", ClientId=self.client_id,
                              AuthParameters={"REFRESH_TOKEN": self.tokens["RefreshToken"]})
        # other sessions of the same user are unaffected
        other = self.emu.mint("alice")["AccessToken"]
        self.c.get_user(AccessToken=other)
        # unknown tokens revoke quietly; an access token is the wrong type
        self.c.revoke_token(Token="unknown.refresh.token.x.y", ClientId=self.client_id)
        self.assertRaisesCode(self.c.exceptions.UnsupportedTokenTypeException, None,
                              self.c.revoke_token, Token=other, ClientId=self.client_id)

    def test_global_signout_and_deleted_user(self):
        self.emu.ctl("POST", "users/alice/signout")
        self.assertRejected(self.at, "Access Token has been revoked")
        self.emu.ctl("DELETE", "users/alice")
        at = self.emu.mint("alice")["AccessToken"]
        for call in self.each_user_operation(at):
            with self.assertRaises(self.c.exceptions.UserNotFoundException):
                call()

    def test_clock_expiry(self):
        self.emu.ctl("POST", "clock", {"Advance": 3600})
        self.assertRejected(self.at, "Access Token has expired")


class Refresh(Base):
    def test_refresh_token_auth(self):
        out = self.c.initiate_auth(AuthFlow="REFRESH_TOKEN_AUTH", ClientId=self.client_id,
                                   AuthParameters={"REFRESH_TOKEN": self.tokens["RefreshToken"]})
        res = out["AuthenticationResult"]
        self.assertNotIn("RefreshToken", res)
        old, new = claims(self.at), claims(res["AccessToken"])
        self.assertNotEqual(old["jti"], new["jti"])
        self.assertEqual((old["origin_jti"], old["auth_time"]),
                         (new["origin_jti"], new["auth_time"]))
        self.c.get_user(AccessToken=res["AccessToken"])
        # REFRESH_TOKEN is the older name of the same flow
        self.c.initiate_auth(AuthFlow="REFRESH_TOKEN", ClientId=self.client_id,
                             AuthParameters={"REFRESH_TOKEN": self.tokens["RefreshToken"]})

    def test_get_tokens_without_rotation(self):
        rt = self.tokens["RefreshToken"]
        res = self.c.get_tokens_from_refresh_token(RefreshToken=rt, ClientId=self.client_id)
        self.assertNotIn("RefreshToken", res["AuthenticationResult"])
        self.c.get_tokens_from_refresh_token(RefreshToken=rt, ClientId=self.client_id)

    def test_expired_refreshed(self):
        self.emu.ctl("POST", "clock", {"Advance": 4000})
        res = self.c.get_tokens_from_refresh_token(RefreshToken=self.tokens["RefreshToken"],
                                                   ClientId=self.client_id)
        at = res["AuthenticationResult"]["AccessToken"]
        self.assertEqual(len(self.c.list_web_authn_credentials(AccessToken=at)["Credentials"]),
                         3)

    def test_scope_survives_refresh(self):
        rt = self.emu.mint("alice", Scope="openid")["RefreshToken"]
        res = self.c.get_tokens_from_refresh_token(RefreshToken=rt, ClientId=self.client_id)
        self.assertEqual(claims(res["AuthenticationResult"]["AccessToken"])["scope"], "openid")

    def test_refresh_errors(self):
        for fn, kw in ((self.c.initiate_auth, {"AuthFlow": "REFRESH_TOKEN_AUTH",
                                               "ClientId": self.client_id}),
                       (self.c.get_tokens_from_refresh_token, {"ClientId": self.client_id})):
            def call(token):
                if fn == self.c.initiate_auth:
                    return fn(AuthParameters={"REFRESH_TOKEN": token}, **kw)
                return fn(RefreshToken=token, **kw)
            self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                                  "Invalid Refresh Token", call, token="nope")
            expired = self.emu.mint("alice", RefreshTtl=-1)["RefreshToken"]
            self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                                  "Refresh Token has expired", call, token=expired)
            ghost = self.emu.mint("ghost")["RefreshToken"]
            self.assertRaisesCode(self.c.exceptions.UserNotFoundException, None, call,
                                  token=ghost)

    def test_runtime_rotation_switch(self):
        self.emu.ctl("POST", "config", {"RotateRefreshTokens": True})
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException,
                              "REFRESH_TOKEN_AUTH flow not enabled for this client",
                              self.c.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
                              ClientId=self.client_id,
                              AuthParameters={"REFRESH_TOKEN": self.tokens["RefreshToken"]})
        res = self.c.get_tokens_from_refresh_token(RefreshToken=self.tokens["RefreshToken"],
                                                   ClientId=self.client_id)
        self.assertIn("RefreshToken", res["AuthenticationResult"])


class ClientSecret(Base):
    emu_name = "SECRETIVE"

    def test_user_password_auth_needs_secret_hash(self):
        params = {"USERNAME": "alice", "PASSWORD": "Corr3ct-horse"}
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Client secretclient123 is configured for secret but secret was "
                              "not received", self.c.initiate_auth,
                              AuthFlow="USER_PASSWORD_AUTH", ClientId=self.client_id,
                              AuthParameters=params)
        out = self.c.initiate_auth(AuthFlow="USER_PASSWORD_AUTH", ClientId=self.client_id,
                                   AuthParameters=dict(params, SECRET_HASH=secret_hash(
                                       "alice", self.client_id)))
        self.assertIn("AccessToken", out["AuthenticationResult"])
        self.assertEqual(claims(out["AuthenticationResult"]["AccessToken"])["iss"],
                         "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_SecretPool")

    def test_refresh_token_auth_secret_hash(self):
        rt = self.tokens["RefreshToken"]

        def refresh(**extra):
            params = {"REFRESH_TOKEN": rt}
            params.update(extra)
            return self.c.initiate_auth(AuthFlow="REFRESH_TOKEN_AUTH", ClientId=self.client_id,
                                        AuthParameters=params)
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Client secretclient123 is configured for secret but secret was "
                              "not received", refresh)
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Unable to verify secret hash for client secretclient123", refresh,
                              SECRET_HASH=secret_hash("bob", self.client_id))
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException,
                              "Unable to verify secret hash for client secretclient123", refresh,
                              SECRET_HASH=secret_hash("alice", self.client_id, "x" * 30))
        out = refresh(SECRET_HASH=secret_hash("alice", self.client_id))
        self.c.get_user(AccessToken=out["AuthenticationResult"]["AccessToken"])
        # the user's sub is accepted in place of the username, as Cognito does
        refresh(SECRET_HASH=secret_hash(self.user["Sub"], self.client_id))

    def test_get_tokens_needs_client_secret(self):
        rt = self.tokens["RefreshToken"]
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException, None,
                              self.c.get_tokens_from_refresh_token, RefreshToken=rt,
                              ClientId=self.client_id)
        self.assertRaisesCode(self.c.exceptions.NotAuthorizedException, None,
                              self.c.get_tokens_from_refresh_token, RefreshToken=rt,
                              ClientId=self.client_id, ClientSecret="y" * 40)
        out = self.c.get_tokens_from_refresh_token(RefreshToken=rt, ClientId=self.client_id,
                                                   ClientSecret=SECRET)
        self.assertNotIn("RefreshToken", out["AuthenticationResult"])

    def test_revoke_token_needs_client_secret(self):
        rt = self.tokens["RefreshToken"]
        self.assertRaisesCode(self.c.exceptions.UnauthorizedException, None,
                              self.c.revoke_token, Token=rt, ClientId=self.client_id)
        self.c.revoke_token(Token=rt, ClientId=self.client_id, ClientSecret=SECRET)
        with self.assertRaises(self.c.exceptions.NotAuthorizedException):
            self.c.get_user(AccessToken=self.at)


class Rotation(Base):
    emu_name = "ROTATING"

    def test_rotation_chain(self):
        rt1 = self.tokens["RefreshToken"]
        out = self.c.get_tokens_from_refresh_token(RefreshToken=rt1, ClientId=self.client_id,
                                                   ClientSecret=SECRET)
        res = out["AuthenticationResult"]
        rt2 = res["RefreshToken"]
        self.assertNotEqual(rt1, rt2)
        self.assertRegex(rt2, r"^[A-Za-z0-9_=.-]+$")
        self.assertEqual(claims(res["AccessToken"])["origin_jti"], claims(self.at)["origin_jti"])
        # the old refresh token is dead
        self.assertRaisesCode(self.c.exceptions.RefreshTokenReuseException, None,
                              self.c.get_tokens_from_refresh_token, RefreshToken=rt1,
                              ClientId=self.client_id, ClientSecret=SECRET)
        rt3 = self.c.get_tokens_from_refresh_token(
            RefreshToken=rt2, ClientId=self.client_id,
            ClientSecret=SECRET)["AuthenticationResult"]["RefreshToken"]
        self.assertNotIn(rt3, (rt1, rt2))
        # revoking the newest token ends the whole session
        self.c.revoke_token(Token=rt3, ClientId=self.client_id, ClientSecret=SECRET)
        with self.assertRaises(self.c.exceptions.NotAuthorizedException):
            self.c.get_user(AccessToken=res["AccessToken"])

    def test_refresh_token_auth_refused(self):
        self.assertRaisesCode(self.c.exceptions.InvalidParameterException,
                              "REFRESH_TOKEN_AUTH flow not enabled for this client",
                              self.c.initiate_auth, AuthFlow="REFRESH_TOKEN_AUTH",
                              ClientId=self.client_id,
                              AuthParameters={"REFRESH_TOKEN": self.tokens["RefreshToken"],
                                              "SECRET_HASH": secret_hash("alice",
                                                                         self.client_id)})


class FaultsThroughTheSdk(Base):
    def delete(self, client_=None):
        return (client_ or self.c).delete_web_authn_credential(
            AccessToken=self.at, CredentialId=self.user["Passkeys"][0]["CredentialId"])

    def test_error_classes(self):
        table = [("throttle", "TooManyRequestsException", 400),
                 ("limit", "LimitExceededException", 400),
                 ("internal", "InternalErrorException", 500),
                 ("forbidden", "ForbiddenException", 400),
                 ("error:PasswordResetRequiredException", "PasswordResetRequiredException", 400),
                 ("error:UserNotFoundException", "UserNotFoundException", 400),
                 ("error:InvalidParameterException", "InvalidParameterException", 400),
                 ("error:NotAuthorizedException", "NotAuthorizedException", 400),
                 ("error:ResourceNotFoundException", "ResourceNotFoundException", 400),
                 ("namespaced", "NotAuthorizedException", 400),
                 ("namespaced:ForbiddenException", "ForbiddenException", 400)]
        self.emu.faults("DeleteWebAuthnCredential", *[f for f, _c, _s in table])
        for fault, code, status in table:
            with self.assertRaises(getattr(self.c.exceptions, code), msg=fault) as ctx:
                self.delete()
            resp = ctx.exception.response
            self.assertEqual(resp["Error"]["Code"], code)
            self.assertTrue(resp["Error"]["Message"])
            self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status)
            self.assertTrue(resp["ResponseMetadata"]["RequestId"])
        self.assertEqual(self.emu.user("alice")["Deleted"], [])
        self.delete()
        self.assertEqual(len(self.emu.user("alice")["Deleted"]), 1)

    def test_operation_not_enabled(self):
        # newer models have the class; older botocore still reports the code
        self.emu.faults("DeleteWebAuthnCredential", "error:OperationNotEnabledException")
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.delete()
        self.assertEqual(ctx.exception.response["Error"]["Code"], "OperationNotEnabledException")
        if hasattr(self.c.exceptions, "OperationNotEnabledException"):
            self.assertIsInstance(ctx.exception, self.c.exceptions.OperationNotEnabledException)

    def test_header_only_and_code_field(self):
        # botocore's awsJson parser reads only __type; without it the code is the status
        self.emu.faults("DeleteWebAuthnCredential", "headeronly", "codefield")
        for _ in range(2):
            with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                self.delete()
            self.assertEqual(ctx.exception.response["Error"]["Code"], "400")

    def test_standard_retries_on_one_connection(self):
        self.emu.ctl("DELETE", "requests")
        retrying = client(self.emu, attempts=3)
        self.emu.faults("DeleteWebAuthnCredential", "throttle", "internal")
        out = self.delete(retrying)
        self.assertEqual(out["ResponseMetadata"]["RetryAttempts"], 2)
        log = self.emu.requests()
        self.assertEqual([e["Status"] for e in log], [400, 500, 200])
        self.assertEqual(len({e["Connection"] for e in log}), 1)

    def test_transport_faults(self):
        self.emu.faults("ListWebAuthnCredentials", "reset")
        with self.assertRaises((botocore.exceptions.HTTPClientError,
                                botocore.exceptions.ConnectionError)):
            self.c.list_web_authn_credentials(AccessToken=self.at)
        self.emu.faults("ListWebAuthnCredentials", "hang:3")
        impatient = client(self.emu, read_timeout=1)
        with self.assertRaises(botocore.exceptions.ReadTimeoutError):
            impatient.list_web_authn_credentials(AccessToken=self.at)
        self.emu.faults("ListWebAuthnCredentials", "garbage:500")
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.c.list_web_authn_credentials(AccessToken=self.at)
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.emu.faults("ListWebAuthnCredentials", "garbage")
        self.assertIsNone(self.c.list_web_authn_credentials(AccessToken=self.at)
                          .get("Credentials"))
        self.emu.faults("ListWebAuthnCredentials", "oversize")
        self.assertEqual(self.c.list_web_authn_credentials(AccessToken=self.at)["Credentials"],
                         [])
        self.assertEqual(len(self.c.list_web_authn_credentials(
            AccessToken=self.at)["Credentials"]), 3)

    def test_keep_alive_and_threads(self):
        self.emu.ctl("DELETE", "requests")
        for _ in range(5):
            self.c.get_user(AccessToken=self.at)
        self.assertEqual(len({e["Connection"] for e in self.emu.requests()}), 1)
        shared = client(self.emu, max_pool_connections=10)
        errors = []

        def worker():
            try:
                for _ in range(4):
                    shared.list_web_authn_credentials(AccessToken=self.at)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(repr(exc))
        pool = [threading.Thread(target=worker) for _ in range(10)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.emu.requests()), 5 + 40)


if __name__ == "__main__":
    emutest.bound_runtime(240)
    unittest.main(verbosity=2)
