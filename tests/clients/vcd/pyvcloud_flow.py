#!/usr/bin/env python3
"""Black-box pyvcloud 23.0.4 login flow against Tollgate's `vcd` dialect.

Exercises docs/contracts/vcd.md:
  * "Login" — auto mode: GET /api/versions, POST /cloudapi/1.0.0/sessions (tenant) or
    .../sessions/provider (System), then GET /api/session with Bearer;
    pinned32: POST /api/sessions (legacy, x-vcloud-authorization);
  * "GET /api/session", "What clients read right after login" (GET /api/org/, GET /api/org/{id});
  * "Logout" (DELETE /api/session -> 204) and "old token -> 401".

--expect ok           log in, check org/user, log out (unless --no-logout), then present the old
                      token(s) again; prints what it saw (tokens, API version, Session user/org,
                      org names, logout, how each old token was refused) as one JSON line.
--expect unauthorized login must raise pyvcloud UnauthorizedException (HTTP 401); prints the
                      exception class, status, minorErrorCode and message as one JSON line.
Exit status 0 on success, 1 with a "FAIL:" message on stderr otherwise.
"""
import argparse
import json
import os
import sys
import tempfile

import urllib3
from pyvcloud.vcd.client import BasicLoginCredentials, Client
from pyvcloud.vcd.exceptions import UnauthorizedException
from vcd_errors import refusal

urllib3.disable_warnings()
LOG_FILE = os.path.join(tempfile.gettempdir(), "tollgate-pyvcloud.log")  # pyvcloud always logs to a file


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def new_client(url, api_version):
    return Client(url, api_version=api_version, verify_ssl_certs=False, log_file=LOG_FILE)


def expect_401(url, api_version, token, is_jwt):
    """A fresh client presenting a revoked token must get UnauthorizedException; returns refusal()."""
    try:
        new_client(url, api_version).rehydrate_from_token(token, is_jwt_token=is_jwt)
    except UnauthorizedException as e:
        return refusal(e)
    except Exception as e:  # e.g. lxml XMLSyntaxError when the 401 body is not XML
        fail(f"old {'access' if is_jwt else 'x-vcloud-authorization'} token: expected UnauthorizedException, "
             f"got {type(e).__name__}: {e}")
    fail(f"old {'access' if is_jwt else 'x-vcloud-authorization'} token still accepted after logout")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. https://127.0.0.1:8443")
    ap.add_argument("--org", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--mode", choices=["auto", "pinned32"], default="auto")
    ap.add_argument("--expect", choices=["ok", "unauthorized"], default="ok")
    ap.add_argument("--no-logout", action="store_true")
    a = ap.parse_args()

    client = new_client(a.url, "32.0" if a.mode == "pinned32" else None)
    creds = BasicLoginCredentials(a.user, a.org, a.password)

    if a.expect == "unauthorized":
        try:
            client.set_credentials(creds)
        except UnauthorizedException as e:
            print(json.dumps({"expect": "unauthorized", "login": refusal(e)}), flush=True)
            return 0
        except Exception as e:  # VcdException('Login failed.') when the 401 body does not parse
            fail(f"login: expected UnauthorizedException, got {type(e).__name__}: {e}")
        fail("login succeeded but 401 was expected")

    try:
        client.set_credentials(creds)
    except Exception as e:
        fail(f"login failed: {type(e).__name__}: {e}")

    version = client.get_api_version()
    xauth = client.get_xvcloud_authorization_token()
    access = client.get_access_token()
    if a.mode == "pinned32":
        if version != "32.0":
            fail(f"api version {version!r}, expected '32.0'")
        if not xauth:
            fail("no x-vcloud-authorization token from POST /api/sessions")
    else:
        if float(version) < 33.0:
            fail(f"negotiated api version {version!r}; expected >= 33.0 (cloudapi login)")
        if not access or len(access) <= 32:
            fail(f"access token missing or not longer than 32 chars: {access!r}")

    session = client.get_vcloud_session()
    if (session.get("user") or "") != a.user:
        fail(f"Session user={session.get('user')!r}, expected {a.user!r}")
    if (session.get("org") or "").lower() != a.org.lower():
        fail(f"Session org={session.get('org')!r}, expected {a.org!r}")
    if client.is_sysadmin() != (a.org.lower() == "system"):
        fail(f"is_sysadmin()={client.is_sysadmin()} for org {a.org!r}")

    try:
        org = client.get_org()  # GET <Session Link rel=down type=...vcloud.org+xml>
        org_names = [o.get("name").lower() for o in client.get_org_list()]  # GET /api/org/ then each Org href
    except Exception as e:
        fail(f"get_org/get_org_list failed: {type(e).__name__}: {e}")
    if (org.get("name") or "").lower() != a.org.lower():
        fail(f"get_org() name={org.get('name')!r}, expected {a.org!r}")
    if a.org.lower() not in org_names:
        fail(f"logged-in org {a.org!r} missing from get_org_list(): {org_names}")

    summary = {"expect": "ok", "x_vcloud_authorization": xauth, "access_token": access,
               "api_version": version, "session_user": session.get("user"), "session_org": session.get("org"),
               "is_sysadmin": client.is_sysadmin(), "org_name": org.get("name"), "org_href": org.get("href"),
               "org_names": org_names}
    if not a.no_logout:
        try:
            logout_body = client.logout()  # 204 with an empty body -> None
        except Exception as e:
            fail(f"logout failed: {type(e).__name__}: {e}")
        summary["logout_returned_body"] = logout_body is not None
        summary["after_logout"] = {
            "access_token": expect_401(a.url, version, access, True) if access else None,
            "x_vcloud_authorization": expect_401(a.url, version, xauth, False) if xauth else None,
        }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
