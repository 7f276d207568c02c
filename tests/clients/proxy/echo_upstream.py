#!/usr/bin/env python3
"""The upstream a reverse proxy protects in the forward-auth tests: answers every GET with the
request's path and the X-Tollgate-* and Authorization headers that reached it, as JSON.

Binds 127.0.0.1 on a free port and prints `listening PORT` once it serves; runs until killed.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDENTITY = ("X-Tollgate-User", "X-Tollgate-Org", "X-Tollgate-Roles", "X-Tollgate-Session", "X-Tollgate-Dialect")


class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        seen = {name: self.headers.get(name) for name in IDENTITY}
        seen["path"] = self.path
        body = json.dumps(seen).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(f"listening {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
