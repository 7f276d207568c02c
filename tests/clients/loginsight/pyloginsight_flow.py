#!/usr/bin/env python3
"""Black-box pyloginsight-fork (0.dev0) flow against Tollgate's `loginsight` dialect.

Exercises docs/contracts/loginsight.md:
  * "Presenting the token": the client sends its first request with no token and logs in only
    after a 401 or 440; an unknown token -> 401 -> a fresh login; with --wait-expiry an expired
    token -> 440 -> a fresh login; Bearer <sessionId>;
  * "POST /api/v1/sessions" (username/password/provider -> sessionId; 401 FIELD_ERROR on a bad
    password; 503 "should be bootstrapped" before bootstrap);
  * "Other endpoints": GET /api/v1/version (parsed as "X.Y.Z-build") and /api/v1/sessions/current;
    with --logout also Tollgate's DELETE /api/v1/sessions/current extension.

pyloginsight-fork is unmodified, but it predates Python 3.10: its modules (and attrdict's) do
`from collections import Mapping`, so the collections ABC aliases are restored before import,
and it needs marshmallow 2.x (pinned in tests/clients/requirements.txt).

--expect ok               Server(Connection).version -> .current_session -> bogus-token re-login
                          -> [--wait-expiry N: idle, expired token -> 440 -> re-login]
                          -> [--logout: DELETE /sessions/current, old token -> 401].
--expect unauthorized     the login the client attempts after the first 401 fails: pyloginsight
                          raises Unauthorized("Authentication failed", <401 response>).
--expect not-bootstrapped the error surfaces with "should be bootstrapped" (NotBootstrapped when the
                          first request gets 401 and the login 503; TransportError(503, body) when
                          the first request itself gets 503).
A refusal prints {"exception","status","body"} (status and body of the response that ended the
flow); success prints the version, the current session, the re-login statuses and the old token's
answer after --logout.
Exit status 0 on success (one JSON line of facts on stdout), 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import collections
import collections.abc
import json
import logging
import sys
import time
import warnings
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

for _name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
logging.getLogger("pyloginsight").setLevel(logging.CRITICAL)  # it logs schema binding at ERROR on import
warnings.filterwarnings("ignore", category=DeprecationWarning)

from pyloginsight.connection import Connection, Credentials  # noqa: E402
from pyloginsight.exceptions import NotBootstrapped, TransportError, Unauthorized  # noqa: E402
from pyloginsight.models import Server  # noqa: E402

urllib3.disable_warnings()
PHRASE = "should be bootstrapped"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class RecordingAdapter(HTTPAdapter):
    """Observes every request, including the login and retry pyloginsight sends via r.connection.send."""

    def __init__(self, trace):
        super().__init__()
        self.trace = trace

    def send(self, request, **kwargs):
        resp = super().send(request, **kwargs)
        body_keys = None
        if request.body:
            try:
                body_keys = sorted(json.loads(request.body))
            except Exception:
                body_keys = "non-JSON"
        self.trace.append({"method": request.method, "path": urlsplit(request.url).path,
                           "bearer": (request.headers.get("Authorization") or "").startswith("Bearer "),
                           "body_keys": body_keys, "status": resp.status_code})
        return resp


def fmt(trace):
    return [f"{t['method']} {t['path']}{' [Bearer]' if t['bearer'] else ''} -> {t['status']}" for t in trace]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="e.g. https://127.0.0.1:9543 (path is ignored)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--provider", default="Local", help="Local | ActiveDirectory | vIDM [Local]")
    ap.add_argument("--expect", choices=["ok", "unauthorized", "not-bootstrapped"], default="ok")
    ap.add_argument("--wait-expiry", type=float, metavar="SECONDS",
                    help="against a short-TTL server: idle this long, then the token must get 440 (or 401) "
                         "and the client must log in again")
    ap.add_argument("--logout", action="store_true",
                    help="also DELETE /api/v1/sessions/current (Tollgate extension) and check the token dies")
    a = ap.parse_args()

    u = urlsplit(a.url)
    if not u.hostname:
        fail(f"--url {a.url!r} has no host")
    ssl = u.scheme == "https"
    port = u.port or (443 if ssl else 80)
    trace = []
    rs = requests.Session()
    adapter = RecordingAdapter(trace)
    rs.mount("https://", adapter)
    rs.mount("http://", adapter)
    creds = Credentials(a.user, a.password, a.provider)
    conn = Connection(u.hostname, port=port, ssl=ssl, verify=False, auth=creds, existing_session=rs)
    server = Server(conn)

    if a.expect == "unauthorized":
        try:
            server.current_session
        except Unauthorized as e:
            resp = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], requests.Response) else None
            if resp is None or resp.status_code != 401:
                fail(f"expected Unauthorized carrying the 401 login response, got {e.args!r}")
            if not any(t["method"] == "POST" and t["path"] == "/api/v1/sessions" for t in trace):
                fail(f"Unauthorized raised without a login attempt: {fmt(trace)}")
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
            print(json.dumps({"client": "pyloginsight-fork", "expect": "unauthorized", "exception": type(e).__name__,
                              "status": resp.status_code, "body": body, "requests": fmt(trace)}))
            return 0
        except (Exception, NotBootstrapped) as e:
            fail(f"expected pyloginsight Unauthorized, got {type(e).__name__}: {e!r}")
        fail(f"request succeeded but a failed login was expected: {fmt(trace)}")

    if a.expect == "not-bootstrapped":
        try:
            server.current_session
        except NotBootstrapped as e:  # a BaseException subclass in pyloginsight, not an Exception
            msg = str(e.args[0]) if e.args else ""
            if PHRASE not in msg:
                fail(f"NotBootstrapped without {PHRASE!r}: {e.args!r}")
            surfaced, body = "NotBootstrapped", msg
        except TransportError as e:
            if not (e.args and e.args[0] == 503 and PHRASE in json.dumps(e.args[1:])):
                fail(f"expected 503 {PHRASE!r}, got {type(e).__name__}{e.args!r}")
            surfaced, body = "TransportError", json.dumps(e.args[1:])
        except Exception as e:
            fail(f"expected NotBootstrapped/503 {PHRASE!r}, got {type(e).__name__}: {e!r}")
        else:
            fail(f"request succeeded but the server should not be bootstrapped: {fmt(trace)}")
        print(json.dumps({"client": "pyloginsight-fork", "expect": "not-bootstrapped", "exception": surfaced,
                          "status": trace[-1]["status"] if trace else None, "body": body,
                          "requests": fmt(trace)}))
        return 0

    # ok: the first request goes out without a token; 401/440 -> POST /api/v1/sessions -> retry.
    try:
        version = server.version
    except (Exception, NotBootstrapped) as e:
        fail(f"server.version: {type(e).__name__}: {e!r} (requests: {fmt(trace)})")
    try:
        current = server.current_session
    except (Exception, NotBootstrapped) as e:
        fail(f"server.current_session: {type(e).__name__}: {e!r} (requests: {fmt(trace)})")
    first = trace[0] if trace else None
    if not first or first["bearer"]:
        fail(f"the first request should carry no token: {fmt(trace)}")
    logins = [i for i, t in enumerate(trace) if t["method"] == "POST" and t["path"] == "/api/v1/sessions"]
    if len(logins) != 1:
        fail(f"expected exactly one login, saw {len(logins)}: {fmt(trace)}")
    i = logins[0]
    if i == 0 or trace[i - 1]["status"] not in (401, 440) or trace[i - 1]["bearer"]:
        fail(f"the login must follow an unauthenticated request answered 401/440: {fmt(trace)}")
    if trace[i]["status"] != 200 or trace[i]["body_keys"] != ["password", "provider", "username"]:
        fail(f"login request/response unexpected: {trace[i]}")
    retry = trace[i + 1] if i + 1 < len(trace) else None
    if not retry or not retry["bearer"] or retry["path"] != trace[i - 1]["path"] or retry["status"] != 200:
        fail(f"the original request must be retried with Bearer and succeed: {fmt(trace)}")
    if any(not t["bearer"] for t in trace[i + 1:]):
        fail(f"requests after login must carry Bearer: {fmt(trace)}")
    if not isinstance(current, dict) or "userId" not in current or not isinstance(current.get("ttl"), int):
        fail(f"/sessions/current body {current!r}, expected {{'userId':..., 'ttl': <int>}}")
    try:
        build = version.build
    except Exception as e:
        fail(f"version {getattr(version, 'vstring', version)!r}: build suffix is not an integer: {e}")
    session_id = creds.sessionId

    # An unknown token gets 401, and the client logs in again and retries.
    creds.sessionId = "tollgate-bogus-session-id"
    mark = len(trace)
    try:
        again = server.current_session
    except (Exception, NotBootstrapped) as e:
        fail(f"re-login after an unknown token: {type(e).__name__}: {e!r} (requests: {fmt(trace[mark:])})")
    seq = [(t["method"], t["path"], t["status"]) for t in trace[mark:]]
    unknown_token = [f"{m} {p} -> {st}" for m, p, st in seq]
    if seq != [("GET", "/api/v1/sessions/current", 401), ("POST", "/api/v1/sessions", 200),
               ("GET", "/api/v1/sessions/current", 200)]:
        fail(f"unknown token: expected 401 -> login -> retry, saw {fmt(trace[mark:])}")
    if creds.sessionId in (session_id, "tollgate-bogus-session-id"):
        fail("re-login did not produce a new sessionId")
    if again.get("userId") != current.get("userId"):
        fail(f"userId changed across logins: {current.get('userId')!r} -> {again.get('userId')!r}")

    expiry = None
    if a.wait_expiry:
        time.sleep(a.wait_expiry)
        mark = len(trace)
        try:
            server.current_session
        except (Exception, NotBootstrapped) as e:
            fail(f"re-login after expiry: {type(e).__name__}: {e!r} (requests: {fmt(trace[mark:])})")
        seq = [(t["method"], t["path"], t["status"]) for t in trace[mark:]]
        if len(seq) != 3 or seq[0][2] not in (440, 401) or seq[1:] != [
                ("POST", "/api/v1/sessions", 200), ("GET", "/api/v1/sessions/current", 200)]:
            fail(f"expired token: expected 440 -> login -> retry, saw {fmt(trace[mark:])}")
        expiry = seq[0][2]

    logout = None
    if a.logout:
        old = creds.sessionId
        try:
            conn.delete("/sessions/current")
        except (Exception, NotBootstrapped) as e:
            fail(f"DELETE /api/v1/sessions/current: {type(e).__name__}: {e!r}")
        r = requests.get(f"{u.scheme}://{u.netloc}/api/v1/sessions/current",
                         headers={"Authorization": f"Bearer {old}"}, verify=False, timeout=30)
        if r.status_code != 401:
            fail(f"token still works after DELETE /api/v1/sessions/current: HTTP {r.status_code}")
        logout = {"status": r.status_code, "content_type": r.headers.get("Content-Type"), "body": r.text[:100]}

    print(json.dumps({
        "client": "pyloginsight-fork", "expect": "ok", "provider": a.provider,
        "version": version.vstring, "build": build, "release_name": version.release_name,
        "current": current, "first_status": first["status"], "unknown_token": unknown_token,
        "expired_token_status": expiry,
        "old_token_after_logout": logout,
        "requests": fmt(trace),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
