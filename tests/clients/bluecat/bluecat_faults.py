#!/usr/bin/env python3
"""bluecat-libraries 26.1.0 under Tollgate fault rules: log in, then GET /api/v2/users --reads
times with one client; a rule the test set answers some reads with an error status.

Prints one JSON line: {"reads": [...]}, each read either "ok" or what the client raised
(exception class, and for BAMV2ErrorResponse its status, reason, code and message). Exit status
0 when it could log in, 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import json
import sys

import urllib3
from bluecat_libraries.address_manager.apiv2 import BAMV2ErrorResponse, Client

urllib3.disable_warnings()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--reads", type=int, default=2)
    a = ap.parse_args()

    client = Client(a.url, verify=False)
    try:
        client.login(a.user, a.password)
    except Exception as e:
        print(f"FAIL: login: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    reads = []
    for _ in range(a.reads):
        try:
            client.http_get("/users")
            reads.append("ok")
        except BAMV2ErrorResponse as e:
            reads.append({"exception": type(e).__name__, "status": e.status, "reason": e.reason,
                          "code": e.code, "message": e.message})
        except Exception as e:
            reads.append({"exception": type(e).__name__, "message": str(e)})
    print(json.dumps({"reads": reads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
