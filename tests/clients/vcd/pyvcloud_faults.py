#!/usr/bin/env python3
"""pyvcloud 23.0.4 under Tollgate fault rules: log in, then read the org list (GET /api/org/)
--reads times with one client; a rule the test set answers some reads with a 5xx.

Prints one JSON line: {"reads": [...]}, each read either "ok" or what pyvcloud raised (exception
class, HTTP status, the vcd Error's minorErrorCode and message). Exit status 0 when it could log
in, 1 with "FAIL: ..." on stderr otherwise.
"""
import argparse
import json
import os
import sys
import tempfile

import urllib3
from pyvcloud.vcd.client import BasicLoginCredentials, Client
from vcd_errors import refusal

urllib3.disable_warnings()
LOG_FILE = os.path.join(tempfile.gettempdir(), "tollgate-pyvcloud.log")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--org", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--reads", type=int, default=3)
    a = ap.parse_args()

    client = Client(a.url, verify_ssl_certs=False, log_file=LOG_FILE)
    try:
        client.set_credentials(BasicLoginCredentials(a.user, a.org, a.password))
    except Exception as e:
        print(f"FAIL: login: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    reads = []
    for _ in range(a.reads):
        try:
            client.get_org_list()
            reads.append("ok")
        except Exception as e:
            reads.append(refusal(e))
    print(json.dumps({"reads": reads}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
