"""Fault rules (`/v1/admin/faults`) and the request journal (`/v1/admin/journal`)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .admin import AdminApi, TollgateApiError

# What a rule view carries besides its spec.
_COUNTS = ("name", "matched", "fired", "remaining")


@dataclass(frozen=True)
class FaultRule:
    """A fault rule as the server holds it, with how often it matched and fired."""

    name: str
    spec: Mapping[str, Any]
    """What it matches, does and how often, as given (``status``, ``dialect``, ``times``, …)."""
    matched: int
    """Requests that matched it (skipped ones included)."""
    fired: int
    remaining: Optional[int]
    """Firings left, for a rule with ``times``."""

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> "FaultRule":
        spec = {key: value for key, value in view.items() if key not in _COUNTS}
        return cls(view["name"], spec, view["matched"], view["fired"], view.get("remaining"))


class Faults:
    """The server's fault rules: a status in the dialect's own error shape, latency, a network
    fault or a forced state, on the requests a rule matches."""

    def __init__(self, api: AdminApi):
        self._api = api

    def __repr__(self) -> str:
        return f"Faults({self._api.url!r})"

    def add(
        self,
        *,
        status: Optional[int] = None,
        latency_ms: Optional[int] = None,
        jitter_ms: Optional[int] = None,
        network: Optional[str] = None,
        drip_bytes_per_second: Optional[int] = None,
        state: Optional[str] = None,
        dialect: Optional[str] = None,
        method: Optional[str] = None,
        path: Optional[str] = None,
        user: Optional[str] = None,
        namespace: Optional[str] = None,
        times: Optional[int] = None,
        skip: Optional[int] = None,
        probability: Optional[float] = None,
        seed: Optional[int] = None,
        name: Optional[str] = None,
    ) -> FaultRule:
        """Adds a rule. What it does: ``status`` (400-599, or Log Insight's 440), ``latency_ms``
        (with ``jitter_ms``), ``network`` (``reset``, ``empty_reply``, ``malformed_chunk``,
        ``hang``, ``slow_drip`` at ``drip_bytes_per_second``) or ``state`` (``not_initialised``,
        ``session_expired``, ``account_locked``). What it matches: ``dialect``, ``method``,
        ``path`` (a glob: ``*`` within a segment, ``**`` across), ``user`` (``name`` or
        ``name@org``), ``namespace`` (the org of the request's session). How often: ``times``, after ``skip`` matches, with ``probability`` and
        ``seed``; until removed by default. A rule the server refuses raises TollgateApiError
        (400) saying why."""
        given = dict(
            status=status,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            network=network,
            drip_bytes_per_second=drip_bytes_per_second,
            state=state,
            dialect=dialect,
            method=method,
            path=path,
            user=user,
            namespace=namespace,
            times=times,
            skip=skip,
            probability=probability,
            seed=seed,
            name=name,
        )
        spec: Dict[str, Any] = {key: value for key, value in given.items() if value is not None}
        return FaultRule.of(self._api.request("POST", "/v1/admin/faults", spec))

    def list(self) -> List[FaultRule]:
        """The rules, in the order they are tried."""
        return [FaultRule.of(view) for view in self._api.request("GET", "/v1/admin/faults")["items"]]

    def get(self, name: str) -> FaultRule:
        for rule in self.list():
            if rule.name == name:
                return rule
        raise KeyError(f"no fault rule {name!r}; the rules are {[rule.name for rule in self.list()]}")

    def remove(self, name: str) -> FaultRule:
        """Removes the rule ``name``; returns it with its final counts."""
        return FaultRule.of(self._api.request("DELETE", f"/v1/admin/faults/{urllib.parse.quote(name, safe='')}"))

    def clear(self) -> None:
        """Removes every rule."""
        self._api.request("DELETE", "/v1/admin/faults")


@dataclass(frozen=True)
class JournalEntry:
    """One request the server answered (or cut short): secrets in its headers redacted."""

    sequence: int
    at_millis: int
    method: str
    path: str
    status: Optional[int]
    """None when no answer reached the client (a network fault)."""
    latency_ms: float
    correlation_id: str
    headers: Sequence[Tuple[str, str]]
    dialect: Optional[str] = None
    session_id: Optional[str] = None
    user: Optional[str] = None
    org: Optional[str] = None
    fault: Optional[str] = None
    """The fault rule that fired on it."""
    closest_route: Optional[str] = None
    """For a request no route took: the route it most likely meant."""

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> "JournalEntry":
        fields = dict(entry)
        fields["headers"] = tuple((name, value) for name, value in entry["headers"])
        return cls(**fields)


class Journal:
    """The requests the server answered after ``after`` (a sequence number; all it keeps when
    None). Filters: ``dialect``, ``method``, ``path`` (a glob), ``status``, ``user`` (``name`` or
    ``name@org``), ``namespace`` (the org of the request's session), ``fault`` (a rule's name,
    ``*`` for any)."""

    def __init__(self, api: AdminApi, after: Optional[int] = None):
        self._api = api
        self.after = after

    def __repr__(self) -> str:
        return f"Journal({self._api.url!r}, after={self.after!r})"

    @classmethod
    def from_now(cls, api: AdminApi) -> "Journal":
        """A journal of the requests from now on."""
        newest = api.request("GET", "/v1/admin/journal", query={"limit": 1})["items"]
        return cls(api, newest[-1]["sequence"] if newest else None)

    def entries(self, limit: Optional[int] = None, **filters: Any) -> List[JournalEntry]:
        """The newest ``limit`` (default 100, at most 1000) matching requests, oldest first."""
        query = self._query(filters, limit=limit)
        return [JournalEntry.of(entry) for entry in self._api.request("GET", "/v1/admin/journal", query=query)["items"]]

    def count(self, **filters: Any) -> int:
        return int(self._api.request("GET", "/v1/admin/journal/count", query=self._query(filters))["count"])

    def verify(self, expected: int, **filters: Any) -> None:
        """Asserts that exactly ``expected`` requests match; the AssertionError says how many
        did, and lists them."""
        try:
            self._api.request("GET", "/v1/admin/journal/count", query=self._query(filters, expect=expected))
        except TollgateApiError as e:
            if e.status != 409:
                raise
            seen = "\n".join(
                f"  {entry.method} {entry.path} -> {entry.status} user={entry.user} fault={entry.fault}"
                for entry in self.entries(limit=50, **filters)
            )
            raise AssertionError(f"{e.message}\n{seen or '  (none)'}") from None

    def _query(self, filters: Mapping[str, Any], **more: Any) -> Dict[str, Any]:
        query = {**filters, **more}
        if self.after is not None:
            query["since"] = self.after
        return query
