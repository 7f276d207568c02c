#!/usr/bin/env python3
"""pyloginsight-fork under a Tollgate fault rule: read /api/v1/sessions/current --reads times
with one client, which logs in on the first 401 and again whenever a request gets 401 or 440.

Prints one JSON line: {"requests": ["GET /api/v1/sessions/current [Bearer] -> 440", ...],
"failed": null or the exception that escaped}. Exit status 0, or 1 with "FAIL: ..." on stderr
when the client cannot be set up.
"""
import argparse
import json
import sys
from urllib.parse import urlsplit

import requests
# pyloginsight_flow restores the collections aliases pyloginsight needs before importing it.
from pyloginsight_flow import Connection, Credentials, NotBootstrapped, RecordingAdapter, Server, fmt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--reads", type=int, default=3)
    a = ap.parse_args()
    u = urlsplit(a.url)
    if not u.hostname:
        print(f"FAIL: --url {a.url!r} has no host", file=sys.stderr)
        return 1
    ssl = u.scheme == "https"
    trace = []
    rs = requests.Session()
    adapter = RecordingAdapter(trace)
    rs.mount("https://", adapter)
    rs.mount("http://", adapter)
    conn = Connection(u.hostname, port=u.port or (443 if ssl else 80), ssl=ssl, verify=False,
                      auth=Credentials(a.user, a.password, "Local"), existing_session=rs)
    server = Server(conn)
    failed = None
    try:
        for _ in range(a.reads):
            server.current_session
    except (Exception, NotBootstrapped) as e:
        failed = f"{type(e).__name__}: {e!r}"
    print(json.dumps({"requests": fmt(trace), "failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
