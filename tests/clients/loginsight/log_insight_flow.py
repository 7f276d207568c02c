#!/usr/bin/env python3
"""Black-box vmware-log-insight 2.4.1 (`connection.LogInsightClient`) flow against Tollgate's `loginsight` dialect.

Exercises docs/contracts/loginsight.md:
  * "POST /api/v1/sessions (and the same at /api/v2/sessions)": this client only speaks v2
    (base https://host:port/api/v2), logs in when constructed, reads `sessionId` and `ttl`;
    401 on a bad password; 503 before bootstrap;
  * "Presenting the token": Bearer <sessionId>, sent with Content-Type: application/json even on
    GETs without a body (must be accepted); re-login on 401/403; refresh at ttl - 60 s;
  * "Other endpoints": GET /api/v2/version (via ops.fields.get_version) and /api/v2/sessions/current
    (via client.get and the client's liveness probe is_alive()).

--expect ok               construct (login) -> get_version -> GET /sessions/current -> is_alive() ->
                          unknown token: 401 -> re-login -> retry -> near expiry: re-login first.
--expect unauthorized     construction raises LogInsightApiError(status_code=401).
--expect not-bootstrapped construction raises LogInsightApiError(status_code=503) (the client drops the
                          body, so "should be bootstrapped" is not visible through it).
A refusal prints {"exception","status","path","body": null}; success prints the login ttl, the
version, the current session and the requests the client sent.
Exit status 0 on success (one JSON line of facts on stdout), 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import json
import math
import sys
import time
from urllib.parse import urlsplit

from vmware_log_insight.config import TargetConfig
from vmware_log_insight.connection import LogInsightApiError, LogInsightClient
from vmware_log_insight.ops.fields import get_version


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="https://host:port (the client always uses https and /api/v2)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--provider", default="Local", help="Local | ActiveDirectory | vIDM [Local]")
    ap.add_argument("--api", choices=["v2"], default="v2",
                    help="the client hard-codes /api/v2; accepted for symmetry with the other drivers")
    ap.add_argument("--expect", choices=["ok", "unauthorized", "not-bootstrapped"], default="ok")
    a = ap.parse_args()

    u = urlsplit(a.url)
    if u.scheme != "https" or not u.hostname or u.path not in ("", "/"):
        fail(f"--url {a.url!r}: give https://host:port only (the client builds https://host:port/api/v2)")
    target = TargetConfig(host=u.hostname, username=a.user, port=u.port or 443, verify_ssl=False,
                          provider=a.provider)

    if a.expect in ("unauthorized", "not-bootstrapped"):
        status = 401 if a.expect == "unauthorized" else 503
        try:
            LogInsightClient(target, a.password)
        except LogInsightApiError as e:
            if e.status_code != status or e.path != "/sessions":
                fail(f"expected LogInsightApiError {status} on POST /sessions, got {e.status_code} {e.path}: {e}")
            print(json.dumps({"client": "vmware-log-insight", "expect": a.expect, "exception": type(e).__name__,
                              "status": e.status_code, "path": e.path, "body": None, "error": str(e)}))
            return 0
        except Exception as e:
            fail(f"expected LogInsightApiError {status}, got {type(e).__name__}: {e}")
        fail(f"login succeeded but HTTP {status} was expected")

    try:
        client = LogInsightClient(target, a.password)  # POST /api/v2/sessions happens here
    except Exception as e:
        fail(f"login: {type(e).__name__}: {e}")
    # The client set its expiry to (time of the answer + ttl), just before this line: rounding
    # up recovers the ttl however long the login itself took (a busy machine can take seconds).
    ttl = math.ceil(client._session_expires_at - time.time())

    trace = []

    def record(resp):
        req = resp.request
        auth = req.headers.get("Authorization", "")
        trace.append(f"{req.method} {req.url.path}{' [Bearer]' if auth.startswith('Bearer ') else ''}"
                     f" -> {resp.status_code}")

    client._client.event_hooks["response"] = [record]  # httpx's public hook API; observes only

    try:
        version = get_version(client)
        current = client.get("/sessions/current")
    except Exception as e:
        fail(f"{type(e).__name__}: {e} (requests: {trace})")
    if not version.get("version") or not version.get("build"):
        fail(f"get_version() returned {version!r}; expected version 'X.Y.Z-build'")
    if not isinstance(current, dict) or "userId" not in current or not isinstance(current.get("ttl"), int):
        fail(f"/api/v2/sessions/current body {current!r}, expected {{'userId':..., 'ttl': <int>}}")
    if not client.is_alive():
        fail(f"is_alive() (GET /sessions/current) is False (requests: {trace})")
    if ttl <= 60:
        # A ttl of 60 s or less (a Tollgate test clock) makes the client log in again before every
        # request, so the token-replacement checks below cannot happen; only check what it did.
        if [t for t in trace if not t.startswith("POST /api/v2/sessions")] != [
                "GET /api/v2/version [Bearer] -> 200", "GET /api/v2/sessions/current [Bearer] -> 200",
                "GET /api/v2/sessions/current [Bearer] -> 200"]:
            fail(f"unexpected request sequence (short ttl {ttl}): {trace}")
        client.close()
        print(json.dumps({"client": "vmware-log-insight", "expect": "ok", "api": "v2", "provider": a.provider,
                          "login_ttl": ttl, "short_ttl": True, "version": version, "current": current,
                          "requests": trace}))
        return 0
    if trace != ["GET /api/v2/version [Bearer] -> 200", "GET /api/v2/sessions/current [Bearer] -> 200",
                 "GET /api/v2/sessions/current [Bearer] -> 200"]:
        fail(f"unexpected request sequence: {trace}")

    # An unknown token: 401 (or 403) -> one re-login -> the request is retried and succeeds.
    first_sid = client._session_id
    client._session_id = "tollgate-bogus-session-id"
    mark = len(trace)
    try:
        again = client.get("/sessions/current", retries=0)
    except Exception as e:
        fail(f"re-login after an unknown token: {type(e).__name__}: {e} (requests: {trace[mark:]})")
    seq = trace[mark:]
    if len(seq) != 3 or seq[0] not in ("GET /api/v2/sessions/current [Bearer] -> 401",
                                       "GET /api/v2/sessions/current [Bearer] -> 403") \
            or seq[1] != "POST /api/v2/sessions -> 200" or seq[2] != "GET /api/v2/sessions/current [Bearer] -> 200":
        fail(f"unknown token: expected 401 -> POST /sessions -> retry, saw {seq}")
    if client._session_id in (first_sid, "tollgate-bogus-session-id"):
        fail("re-login did not produce a new sessionId")
    if again.get("userId") != current.get("userId"):
        fail(f"userId changed across logins: {current.get('userId')!r} -> {again.get('userId')!r}")

    # Near expiry (within 60 s of the login's ttl) the client logs in again before the request.
    client._session_expires_at = time.time() + 59
    mark = len(trace)
    try:
        client.get("/version")
    except Exception as e:
        fail(f"refresh near expiry: {type(e).__name__}: {e} (requests: {trace[mark:]})")
    if trace[mark:] != ["POST /api/v2/sessions -> 200", "GET /api/v2/version [Bearer] -> 200"]:
        fail(f"near expiry: expected POST /sessions then GET /version, saw {trace[mark:]}")
    client.close()

    print(json.dumps({"client": "vmware-log-insight", "expect": "ok", "api": "v2", "provider": a.provider,
                      "login_ttl": ttl, "version": version, "current": current, "requests": trace}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
