#!/usr/bin/env python3
"""Black-box vmware-aria-logs 0.1.0 (`LogInsightClient`) flow against Tollgate's `loginsight` dialect.

Exercises docs/contracts/loginsight.md:
  * "POST /api/v1/sessions (and the same at /api/v2/sessions)": this client only speaks v2 — it
    POSTs username/password/provider to /api/v2/sessions and reads `sessionId`;
    401 on a bad password; 503 "should be bootstrapped" before bootstrap;
  * "Presenting the token": Authorization: Bearer <sessionId> (urllib, Accept: application/json);
  * "Other endpoints": GET /api/v2/version and GET /api/v2/sessions/current.
The client has no re-login, no TTL refresh and no logout; it raises LogInsightError("HTTP <status>
for <method> <path>: <body>") for any status >= 400.

--expect ok               authenticate() -> get_version() -> GET /api/v2/sessions/current.
--expect unauthorized     authenticate() raises LogInsightError for HTTP 401.
--expect not-bootstrapped authenticate() raises LogInsightError for HTTP 503 quoting "should be bootstrapped".
A refusal prints {"exception","status","body"} (the body as the error message quotes it, parsed as
JSON when it is JSON); success prints the version and the current session.
Exit status 0 on success (one JSON line of facts on stdout), 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import json
import sys
from urllib.parse import urlsplit

from vmware_aria_logs.clients.loginsight import LogInsightClient, LogInsightError

PHRASE = "should be bootstrapped"


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="e.g. https://127.0.0.1:9543 (no path)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--provider", default="Local", help="Local | ActiveDirectory | vIDM [Local]")
    ap.add_argument("--api", choices=["v2"], default="v2",
                    help="the client hard-codes /api/v2; accepted for symmetry with the other drivers")
    ap.add_argument("--expect", choices=["ok", "unauthorized", "not-bootstrapped"], default="ok")
    a = ap.parse_args()

    u = urlsplit(a.url)
    if not u.hostname or u.path not in ("", "/"):
        fail(f"--url {a.url!r}: give scheme://host:port only (the client appends /api/v2/...)")
    client = LogInsightClient(base_url=a.url, username=a.user, password=a.password, provider=a.provider,
                              verify_tls=False, timeout_sec=30)

    if a.expect in ("unauthorized", "not-bootstrapped"):
        status = 401 if a.expect == "unauthorized" else 503
        try:
            client.authenticate()
        except LogInsightError as e:
            msg = str(e)
            if not msg.startswith(f"HTTP {status} for POST /api/v2/sessions"):
                fail(f"expected HTTP {status} from POST /api/v2/sessions, got LogInsightError: {msg}")
            if status == 503 and PHRASE not in msg:
                fail(f"503 without {PHRASE!r}: {msg}")
            if client.token:
                fail("client kept a token after a failed login")
            # The message is "HTTP <status> for POST /api/v2/sessions: <body>": the client exposes the body.
            body = msg.split(": ", 1)[1] if ": " in msg else None
            try:
                body = json.loads(body)
            except (TypeError, ValueError):
                pass
            print(json.dumps({"client": "vmware-aria-logs", "expect": a.expect, "exception": type(e).__name__,
                              "status": int(msg.split()[1]), "body": body, "error": msg}))
            return 0
        except Exception as e:
            fail(f"expected LogInsightError (HTTP {status}), got {type(e).__name__}: {e}")
        fail(f"login succeeded but HTTP {status} was expected")

    try:
        token = client.authenticate()
    except Exception as e:
        fail(f"authenticate(): {type(e).__name__}: {e}")
    try:
        version = client.get_version()
    except Exception as e:
        fail(f"get_version(): {type(e).__name__}: {e}")
    if not isinstance(version, dict) or not str(version.get("version", "")).count("-") or "releaseName" not in version:
        fail(f"/api/v2/version body {version!r}, expected {{'version': 'X.Y.Z-build', 'releaseName': ...}}")
    try:  # the client's own authenticated JSON path (Bearer token, Accept: application/json)
        current = client._request_json(method="GET", path="/api/v2/sessions/current")
    except Exception as e:
        fail(f"GET /api/v2/sessions/current: {type(e).__name__}: {e}")
    if not isinstance(current, dict) or "userId" not in current or not isinstance(current.get("ttl"), int):
        fail(f"/api/v2/sessions/current body {current!r}, expected {{'userId':..., 'ttl': <int>}}")
    probe = client.probe_endpoint(method="GET", path="/api/v2/sessions/current")
    if probe["verdict"] != "available":
        fail(f"probe_endpoint(GET /api/v2/sessions/current): {probe}")

    print(json.dumps({"client": "vmware-aria-logs", "expect": "ok", "api": "v2", "provider": a.provider,
                      "token_len": len(token), "version": version, "current": current,
                      "probe_verdict": probe["verdict"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
