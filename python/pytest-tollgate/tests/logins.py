"""A native login over verified HTTPS, for the tests here and the inner sessions they run."""

import json
import ssl
import urllib.error
import urllib.request

from pytest_tollgate import TollgateServer


def native_login(server: TollgateServer, org: str, user: str, password: str) -> int:
    """The status of a native login (201 when it succeeds, 401 when it is refused)."""
    request = urllib.request.Request(
        server.base_url("native") + "/v1/sessions",
        data=json.dumps({"org": org, "username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    tls = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, context=tls, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code
