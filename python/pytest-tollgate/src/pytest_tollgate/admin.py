"""A thin client of Tollgate's admin REST API (`/v1/admin`), on the standard library alone."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Optional

TIMEOUT_SECONDS = 30.0


class TollgateApiError(RuntimeError):
    """The admin API refused a request: its status, error code and message."""

    def __init__(self, method: str, path: str, status: int, code: str, message: str):
        super().__init__(f"{method} {path}: {status} {code}: {message}")
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message


class AdminApi:
    """Requests to `/v1/admin` with an API token; answers are decoded JSON."""

    def __init__(self, url: str, api_token: str, ca_file: Optional[Path]):
        self.url = url.rstrip("/")
        self._token = api_token
        self._tls = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def __repr__(self) -> str:
        # The token stays out of reprs, and so out of pytest's failure reports.
        return f"AdminApi({self.url!r})"

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Mapping[str, Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
    ) -> Any:
        """Sends ``method path`` (``path`` from ``/v1``); returns the decoded JSON answer (None
        for an empty one) or raises TollgateApiError for an error answer."""
        target = path
        if query:
            given = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items() if v is not None}
            target = f"{path}?{urllib.parse.urlencode(given)}" if given else path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + target, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=self._tls) as answer:
                text = answer.read()
        except urllib.error.HTTPError as e:
            raise _api_error(method, path, e.code, e.read()) from None
        except urllib.error.URLError as e:
            raise TollgateApiError(method, path, 0, "unreachable", str(e.reason)) from None
        return json.loads(text) if text else None


def _api_error(method: str, path: str, status: int, text: bytes) -> TollgateApiError:
    """The error of an answer in the native shape ``{"error", "message"}``, or its raw text."""
    try:
        document = json.loads(text)
        return TollgateApiError(method, path, status, str(document["error"]), str(document["message"]))
    except (ValueError, KeyError, TypeError):
        return TollgateApiError(method, path, status, "unexpected_answer", text.decode(errors="replace")[:500])
