#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later
"""boto3_revoke.py TOKEN_CACHE ENDPOINT CA REGION

The baseline of tests/bench/run.sh: what an administrator would script with
the official AWS SDK for Python to do what `passkey-revoke -x` does for one
user: ListWebAuthnCredentials (every page), then DeleteWebAuthnCredential for
each passkey, with the user's cached access token, over HTTPS with verify=CA.
It does less than the command (no state, no history, no refresh, no audit).

Prints one line: deleted=N import_ms=X client_ms=Y calls_ms=Z
"""

import json
import sys
import time

T0 = time.perf_counter()
import boto3  # noqa: E402  (the import is part of what is measured)
from botocore.config import Config  # noqa: E402

T1 = time.perf_counter()


def main(cache, endpoint, ca, region):
    with open(cache) as fp:
        token = json.load(fp)["AccessToken"]
    client = boto3.client("cognito-idp", region_name=region, endpoint_url=endpoint,
                          verify=ca, config=Config(retries={"mode": "standard"}))
    t2 = time.perf_counter()
    ids, kwargs = [], {"AccessToken": token}
    while True:
        page = client.list_web_authn_credentials(**kwargs)
        ids += [c["CredentialId"] for c in page["Credentials"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    for cid in ids:
        client.delete_web_authn_credential(AccessToken=token, CredentialId=cid)
    t3 = time.perf_counter()
    print("deleted=%d import_ms=%.1f client_ms=%.1f calls_ms=%.1f"
          % (len(ids), (T1 - T0) * 1e3, (t2 - T1) * 1e3, (t3 - t2) * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
