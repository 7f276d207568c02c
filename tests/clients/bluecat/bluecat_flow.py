#!/usr/bin/env python3
"""Black-box bluecat-libraries 26.1.0 (REST v2 `Client`) flow against Tollgate's `bluecat` dialect.

Exercises docs/contracts/bluecat.md:
  * "POST /api/v2/sessions" (201, application/hal+json, basicAuthenticationCredentials, readOnly);
  * "GET /api/v2/sessions/current" (login() calls it with Basic right after the POST, needs 200;
    what login() returns is that body), GET /api/v2/users and /api/v2/users/{id};
  * "Presenting the token": Basic base64(username:apiToken) and Bearer <apiToken>;
  * "Logout" (PATCH /api/v2/sessions/{id}, application/merge-patch+json, {"state":"LOGGED_OUT"});
    with --read-only also "a read-only session is refused on anything but reads (403
    ReadOnlySession) except its own logout";
  * "Errors" (Content-Type exactly application/json, status/reason/code/message ->
    BAMV2ErrorResponse): 401 InvalidUsernameOrPassword at login, 401
    InvalidAuthorizationCredentials for a logged-out token, 403 ReadOnlySession.

--expect ok           Client(url, verify=False) -> login -> GET /sessions/current -> GET /users ->
                      GET /users/{id} -> raw Bearer check -> [read-only write probes] -> logout ->
                      old Basic and old Bearer rejected (raw requests and through a fresh Client).
--expect unauthorized login() must raise BAMV2ErrorResponse 401 InvalidUsernameOrPassword.
Exit status 0 on success (one JSON line of facts on stdout), 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import base64
import json
import sys
from urllib.parse import urlsplit

import requests
import urllib3
from bluecat_libraries.address_manager.apiv2 import BAMV2ErrorResponse, Client
from bluecat_libraries.http_client import GeneralError, UnexpectedResponse

urllib3.disable_warnings()

ERROR_KEYS = {"status", "reason", "code", "message"}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def describe(exc):
    if isinstance(exc, BAMV2ErrorResponse):
        return f"BAMV2ErrorResponse(status={exc.status}, code={exc.code}, reason={exc.reason}, message={exc.message!r})"
    if isinstance(exc, UnexpectedResponse):
        r = exc.response
        extra = f" [HTTP {r.status_code}, Content-Type {r.headers.get('Content-Type')!r}]" if r is not None else ""
        return f"UnexpectedResponse({exc.message!r}){extra}"
    return f"{type(exc).__name__}: {exc}"


def new_client(url, trace):
    client = Client(url, verify=False)

    def record(resp, *args, **kwargs):
        req = resp.request
        auth = req.headers.get("Authorization")
        trace.append(f"{req.method} {urlsplit(req.url).path}"
                     f"{' [' + auth.split(' ', 1)[0] + ']' if auth else ''} -> {resp.status_code}")

    client.session.hooks["response"].append(record)  # requests' public hook API; observes only
    return client


def expect_bam_error(what, status, code, call):
    """`call()` must raise BAMV2ErrorResponse with this status and code."""
    try:
        call()
    except BAMV2ErrorResponse as e:
        if e.status != status or e.code != code:
            fail(f"{what}: expected {status} {code}, got {describe(e)}")
        if e.response is not None and e.response.status_code != status:
            fail(f"{what}: HTTP status {e.response.status_code} but body status {e.status}")
        return e
    except Exception as e:  # UnexpectedResponse when the error's Content-Type is not exactly application/json
        fail(f"{what}: expected BAMV2ErrorResponse {status} {code}, got {describe(e)}")
    fail(f"{what}: succeeded but {status} {code} was expected")


def raw_current(url, authorization):
    try:
        return requests.get(url.rstrip("/") + "/api/v2/sessions/current",
                            headers={"Authorization": authorization}, verify=False, timeout=30)
    except requests.RequestException as e:
        fail(f"raw GET /api/v2/sessions/current: {e}")


def check_raw_401(url, authorization, what):
    """A raw request with a dead credential: 401, Content-Type exactly application/json, 4 keys."""
    r = raw_current(url, authorization)
    if r.status_code != 401:
        fail(f"{what}: raw GET /api/v2/sessions/current gave {r.status_code}, expected 401")
    ct = r.headers.get("Content-Type")
    if ct != "application/json":
        fail(f"{what}: 401 Content-Type is {ct!r}, must be exactly 'application/json'")
    try:
        body = r.json()
    except ValueError:
        fail(f"{what}: 401 body is not JSON: {r.text[:200]!r}")
    if not isinstance(body, dict) or not ERROR_KEYS <= body.keys():
        fail(f"{what}: 401 body lacks {sorted(ERROR_KEYS)}: {body!r}")
    if body["status"] != 401 or body["code"] != "InvalidAuthorizationCredentials":
        fail(f"{what}: 401 body {body!r}, expected status 401 code InvalidAuthorizationCredentials")
    return {"status": r.status_code, "content_type": ct, "code": body["code"]}


def check_session_body(what, body, user, read_only, state="LOGGED_IN"):
    if not isinstance(body, dict):
        fail(f"{what}: expected a JSON object (is the Content-Type a JSON one?), got {type(body).__name__}: {body!r:.200}")
    if body.get("type") != "UserSession":
        fail(f"{what}: type is {body.get('type')!r}, expected 'UserSession'")
    if body.get("state") != state:
        fail(f"{what}: state is {body.get('state')!r}, expected {state!r}")
    name = (body.get("user") or {}).get("name")
    if name != user:
        fail(f"{what}: user.name is {name!r}, expected {user!r}")
    if body.get("readOnly") is not read_only:
        fail(f"{what}: readOnly is {body.get('readOnly')!r}, expected {read_only!r}")
    if not isinstance(body.get("id"), int):
        fail(f"{what}: id is {body.get('id')!r}, expected an integer")


def login(client, user, password, read_only):
    try:
        if read_only:
            return client.login(user, password, options={"readOnly": True})
        return client.login(user, password)
    except Exception as e:
        fail(f"login: {describe(e)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. https://127.0.0.1:8443 (path is ignored)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--read-only", action="store_true", help='log in with options={"readOnly": True}')
    ap.add_argument("--expect", choices=["ok", "unauthorized"], default="ok")
    a = ap.parse_args()

    trace = []
    client = new_client(a.url, trace)

    if a.expect == "unauthorized":
        e = expect_bam_error("login with a wrong password", 401, "InvalidUsernameOrPassword",
                             lambda: login_raw(client, a))
        if client.is_authenticated:
            fail("client holds an Authorization header after a failed login")
        print(json.dumps({"client": "bluecat-libraries", "expect": "unauthorized",
                          "exception": type(e).__name__, "status": e.status,
                          "code": e.code, "reason": e.reason, "message": e.message, "requests": trace}))
        return 0

    # 1. login: POST /sessions, then GET /sessions/current with Basic; returns the GET body.
    session = login(client, a.user, a.password, a.read_only)
    check_session_body("login() result (GET /sessions/current)", session, a.user, a.read_only)
    client_is_read_only = client.is_read_only
    if client.is_read_only is not a.read_only:
        fail(f"client.is_read_only (POST body readOnly) is {client.is_read_only!r}, expected {a.read_only!r}")
    if client.username != a.user:
        fail(f"client.username is {client.username!r}, expected {a.user!r}")
    basic = client.auth  # "Basic " + basicAuthenticationCredentials of the POST body
    if not basic or not basic.startswith("Basic "):
        fail(f"client.auth after login is {basic!r}, expected 'Basic ...'")
    try:
        decoded = base64.b64decode(basic[len("Basic "):], validate=True).decode()
    except Exception as e:
        fail(f"basicAuthenticationCredentials is not base64 of username:apiToken: {e}")
    if not decoded.startswith(a.user + ":") or len(decoded) == len(a.user) + 1:
        fail("basicAuthenticationCredentials does not decode to '<username>:<apiToken>'")
    api_token = decoded[len(a.user) + 1:]
    if "apiToken" in session and session["apiToken"] != api_token:
        fail("GET /sessions/current apiToken differs from the token in basicAuthenticationCredentials")
    session_id = session["id"]

    # 2. reads with Basic through the client.
    try:
        current = client.http_get("/sessions/current")
    except Exception as e:
        fail(f"http_get('/sessions/current'): {describe(e)}")
    check_session_body("http_get('/sessions/current')", current, a.user, a.read_only)
    if current["id"] != session_id:
        fail(f"/sessions/current id {current['id']} differs from login's {session_id}")
    try:
        users = client.http_get("/users")
    except Exception as e:
        fail(f"http_get('/users'): {describe(e)}")
    user_href = ((session.get("user") or {}).get("_links") or {}).get("self", {}).get("href", "")
    user_path = user_href[len("/api/v2"):] if user_href.startswith("/api/v2/") else None
    if user_path:
        try:
            me = client.http_get(user_path)
        except Exception as e:
            fail(f"http_get({user_path!r}) (the session's own user): {describe(e)}")
        if not isinstance(me, dict) or me.get("name") != a.user:
            fail(f"http_get({user_path!r}) returned {me!r:.200}, expected the user {a.user!r}")

    # 3. Bearer <apiToken> is accepted too (raw requests, and through the client's auth setter).
    r = raw_current(a.url, f"Bearer {api_token}")
    if r.status_code != 200:
        fail(f"raw GET /api/v2/sessions/current with Bearer apiToken gave {r.status_code}: {r.text[:200]!r}")
    bearer_client = new_client(a.url, trace)
    try:
        bearer_client.auth = f"Bearer {api_token}"  # the library's way to reuse an existing token
    except Exception as e:
        fail(f"Client.auth = 'Bearer <apiToken>': {describe(e)}")
    if bearer_client.username != a.user:
        fail(f"Client with Bearer token: username {bearer_client.username!r}, expected {a.user!r}")

    # 4. read-only: writes refused with 403 ReadOnlySession (its own logout still allowed, below).
    ro_probes = []
    if a.read_only:
        e = expect_bam_error("read-only session: POST /users", 403, "ReadOnlySession",
                             lambda: client.http_post("/users", json={"type": "User", "name": "tollgate-ro-probe",
                                                                      "password": "x-Tollgate-ro-1"}))
        ro_probes.append({"request": "POST /users", "status": e.status, "code": e.code})
        other = new_client(a.url, trace)
        other_session = login(other, a.user, a.password, False)
        e = expect_bam_error("read-only session: PATCH another session", 403, "ReadOnlySession",
                             lambda: client.http_patch(f"/sessions/{other_session['id']}",
                                                       json={"state": "TERMINATED"},
                                                       headers={"Content-Type": "application/merge-patch+json"}))
        ro_probes.append({"request": "PATCH /sessions/{other}", "status": e.status, "code": e.code})
        try:
            other.logout()
        except Exception as e:
            fail(f"logout of the second (read-write) session: {describe(e)}")

    # 5. logout: PATCH /sessions/{id} merge-patch {"state":"LOGGED_OUT"}.
    try:
        out = client.logout()
    except Exception as e:
        fail(f"logout(): {describe(e)}")
    check_session_body("logout() result", out, a.user, a.read_only, state="LOGGED_OUT")
    if not out.get("logoutDateTime"):
        fail(f"logout() result has logoutDateTime {out.get('logoutDateTime')!r}, expected a timestamp")
    if client.is_authenticated:
        fail("client still holds an Authorization header after logout()")

    # 6. the old credentials are dead: raw requests and through fresh clients (BAMV2ErrorResponse).
    after_logout = {
        "raw_basic": check_raw_401(a.url, basic, "old Basic credentials after logout"),
        "raw_bearer": check_raw_401(a.url, f"Bearer {api_token}", "old Bearer apiToken after logout"),
    }
    for label, value in (("Basic", basic), ("Bearer", f"Bearer {api_token}")):
        fresh = new_client(a.url, trace)
        e = expect_bam_error(f"fresh Client with the old {label} credentials", 401,
                             "InvalidAuthorizationCredentials", lambda: setattr(fresh, "auth", value))
        after_logout[f"client_{label.lower()}"] = {"exception": type(e).__name__, "status": e.status, "code": e.code}

    print(json.dumps({
        "client": "bluecat-libraries", "expect": "ok", "user": a.user, "read_only": a.read_only,
        "session_id": session_id, "login_state": session.get("state"), "login_read_only": session.get("readOnly"),
        "client_is_read_only": client_is_read_only, "basic_decodes_to_user": decoded.split(":", 1)[0],
        "current_id_matches": current["id"] == session_id, "bearer_status": r.status_code,
        "state_after_logout": out.get("state"),
        "logoutDateTime": out.get("logoutDateTime"),
        "apiTokenExpirationDateTime": session.get("apiTokenExpirationDateTime"),
        "authenticator": (session.get("authenticator") or {}).get("name"),
        "current_has_apiToken": "apiToken" in session,
        "users_is_collection": isinstance(users, dict) and "data" in users,
        "read_only_probes": ro_probes, "after_logout": after_logout, "requests": trace,
    }))
    return 0


def login_raw(client, a):
    if a.read_only:
        return client.login(a.user, a.password, options={"readOnly": True})
    return client.login(a.user, a.password)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GeneralError as e:  # transport failure (refused connection, TLS) and the like
        fail(f"{describe(e)} (cause: {e.__cause__!r})")
