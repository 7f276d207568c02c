#!/usr/bin/env python3
"""A real client's token opens an upstream behind nginx `auth_request` + Tollgate's
/v1/auth/verify, and stops opening it once the client logs out.

--client bluecat   bluecat-libraries 26.1.0 logs in to Tollgate; its own requests session
                   (`Authorization: Basic user:apiToken`, as the library sets it) then calls
                   the proxy.
--client pyvcloud  pyvcloud 23.0.4 logs in (provider, org System, API 36.0); its access token
                   is sent to the proxy as `Authorization: Bearer`, as pyvcloud sends it.

Through the proxy, in order: GET /app/hello (must reach the upstream, which must see the
session's identity), the same with a forged X-Tollgate-User (the upstream must see the real
one), GET /admin/panel (a gate that wants System Administrator), then logout and the old
token again (must be refused). Prints one JSON line of what it saw; exit 1 with "FAIL: ..."
on stderr otherwise.
"""
import argparse
import json
import os
import sys
import tempfile

import requests
import urllib3

urllib3.disable_warnings()


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def bluecat(a):
    from bluecat_libraries.address_manager.apiv2 import Client

    client = Client(a.tollgate, verify=False)
    client.login(a.user, a.password)
    headers = {"Authorization": client.session.headers["Authorization"]}
    return headers, client.logout


def pyvcloud(a):
    from pyvcloud.vcd.client import BasicLoginCredentials, Client

    # pyvcloud always logs to a file: keep it out of the working directory.
    log_file = os.path.join(tempfile.gettempdir(), "tollgate-pyvcloud.log")
    client = Client(a.tollgate, verify_ssl_certs=False, api_version="36.0", log_file=log_file)
    client.set_credentials(BasicLoginCredentials(a.user, "System", a.password))
    headers = {"Authorization": f"Bearer {client.get_access_token()}"}
    return headers, client.logout


def through_proxy(a, path, headers):
    try:
        return requests.get(a.proxy.rstrip("/") + path, headers=headers, timeout=30)
    except Exception as e:
        fail(f"GET {path} through the proxy: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", choices=["bluecat", "pyvcloud"], required=True)
    ap.add_argument("--tollgate", required=True, help="Tollgate's base URL, where the client logs in")
    ap.add_argument("--proxy", required=True, help="nginx's base URL")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    a = ap.parse_args()

    try:
        headers, logout = bluecat(a) if a.client == "bluecat" else pyvcloud(a)
    except Exception as e:
        fail(f"{a.client} login: {type(e).__name__}: {e}")

    opened = through_proxy(a, "/app/hello", headers)
    if opened.status_code != 200:
        fail(f"GET /app/hello with the {a.client} token: {opened.status_code}, expected 200")
    forged = through_proxy(a, "/app/hello", {**headers, "X-Tollgate-User": "mallory"})
    admin = through_proxy(a, "/admin/panel", headers)
    try:
        logout()
    except Exception as e:
        fail(f"{a.client} logout: {type(e).__name__}: {e}")
    after_logout = through_proxy(a, "/app/hello", headers)

    print(json.dumps({
        "upstream_saw": opened.json(),
        "forged_upstream_saw": forged.json() if forged.status_code == 200 else forged.status_code,
        "admin_status": admin.status_code,
        "after_logout_status": after_logout.status_code,
    }))


if __name__ == "__main__":
    main()
