#!/usr/bin/env python3
"""Black-box pyvcloud 23.0.4 `Client.rehydrate_from_token` against Tollgate's `vcd` dialect.

Exercises docs/contracts/vcd.md "Presenting the token" and "GET /api/session":
rehydrate_from_token sends GET /api/session with `Authorization: Bearer <token>` (--jwt, the
access token) or `x-vcloud-authorization: <token>` (default), then GET /api/org/{id};
with --logout also "Logout" (DELETE /api/session -> 204, then the token -> 401).

--expect ok           session must work; prints {"expect","user","org","org_href"} (with --logout
                      also "after_logout": how the token was refused afterwards) as one JSON line.
--expect unauthorized rehydrate must raise pyvcloud UnauthorizedException (HTTP 401); prints
                      {"expect","refused": {"exception","status","minor_error_code","message"}}.
Exit status 0 on success, 1 with a "FAIL:" message on stderr otherwise.
"""
import argparse
import json
import os
import sys
import tempfile

import urllib3
from pyvcloud.vcd.client import Client
from pyvcloud.vcd.exceptions import UnauthorizedException
from vcd_errors import refusal

urllib3.disable_warnings()
LOG_FILE = os.path.join(tempfile.gettempdir(), "tollgate-pyvcloud.log")


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def rehydrate(a):
    client = Client(a.url, api_version=a.api_version, verify_ssl_certs=False, log_file=LOG_FILE)
    client.rehydrate_from_token(a.token, is_jwt_token=a.jwt)
    return client


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. https://127.0.0.1:8443")
    ap.add_argument("--token", required=True)
    ap.add_argument("--jwt", action="store_true", help="token is the access token (Bearer)")
    ap.add_argument("--expect", choices=["ok", "unauthorized"], default="ok")
    ap.add_argument("--logout", action="store_true")
    ap.add_argument("--api-version", default=None, help="pin (skips GET /api/versions), e.g. 36.0")
    ap.add_argument("--org", help="if given, Session/Org name must match (case-insensitive)")
    ap.add_argument("--user", help="if given, Session user must match")
    a = ap.parse_args()

    if a.expect == "unauthorized":
        try:
            rehydrate(a)
        except UnauthorizedException as e:
            print(json.dumps({"expect": "unauthorized", "refused": refusal(e)}), flush=True)
            return 0
        except Exception as e:  # e.g. lxml XMLSyntaxError when the 401 body is not XML
            fail(f"expected UnauthorizedException, got {type(e).__name__}: {e}")
        fail("token accepted but 401 was expected")

    try:
        client = rehydrate(a)
        session = client.get_vcloud_session()
        org = client.get_org()
    except Exception as e:
        fail(f"rehydrate/get_org failed: {type(e).__name__}: {e}")
    if a.user is not None and session.get("user") != a.user:
        fail(f"Session user={session.get('user')!r}, expected {a.user!r}")
    for name, what in ((session.get("org"), "Session org"), (org.get("name"), "get_org() name")):
        if a.org is not None and (name or "").lower() != a.org.lower():
            fail(f"{what}={name!r}, expected {a.org!r}")
    summary = {"expect": "ok", "user": session.get("user"), "org": org.get("name"), "org_href": org.get("href")}

    if a.logout:
        try:
            client.logout()
        except Exception as e:
            fail(f"logout failed: {type(e).__name__}: {e}")
        try:
            rehydrate(a)
        except UnauthorizedException as e:
            summary["after_logout"] = refusal(e)
        except Exception as e:
            fail(f"after logout: expected UnauthorizedException, got {type(e).__name__}: {e}")
        else:
            fail("token still accepted after logout")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
