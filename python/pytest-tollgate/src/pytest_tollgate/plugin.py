"""The pytest plugin (entry point ``pytest11``): fixtures that run throw-away Tollgate servers."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List

import pytest

from .faults import Faults, Journal
from .server import EphemeralServer, TollgateServer, bundled_binary


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tollgate", "Tollgate test server")
    group.addoption(
        "--tollgate-binary",
        metavar="PATH",
        help="the tollgate binary to run [default: the one pytest-tollgate's wheel installed]",
    )
    parser.addini(
        "tollgate_fixtures",
        "a fixtures file (orgs, users, roles) every Tollgate server the plugin starts applies, "
        "relative to the rootdir",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "tollgate_server(fixtures=None, args=()): how tollgate_own_server starts its server: a fixtures "
        "file (relative to the test's file) and more `tollgate serve` arguments",
    )


@pytest.fixture(scope="session")
def tollgate_binary(pytestconfig: pytest.Config) -> Path:
    """The tollgate binary the servers run."""
    given = pytestconfig.getoption("tollgate_binary")
    return Path(given).resolve() if given else bundled_binary()


def _session_args(config: pytest.Config) -> List[str]:
    fixtures = config.getini("tollgate_fixtures")
    return ["--fixtures", str(Path(config.rootpath, fixtures))] if fixtures else []


def _running(server: EphemeralServer) -> Iterator[TollgateServer]:
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tollgate_server(
    tollgate_binary: Path, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TollgateServer]:
    """One ephemeral server for the whole test session (tests isolate themselves with
    ``tollgate_namespace``)."""
    log = tmp_path_factory.mktemp("tollgate") / "server.log"
    yield from _running(EphemeralServer(tollgate_binary, log, _session_args(pytestconfig)))


@pytest.fixture
def tollgate_own_server(
    tollgate_binary: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[TollgateServer]:
    """A server of the test's own, stopped after it; ``@pytest.mark.tollgate_server(fixtures=...,
    args=[...])`` says how it starts."""
    args = _session_args(request.config)
    marker = request.node.get_closest_marker("tollgate_server")
    if marker is not None:
        fixtures = marker.kwargs.get("fixtures")
        if fixtures is not None:
            args = ["--fixtures", str(Path(request.path).parent / fixtures)]
        args += [str(arg) for arg in marker.kwargs.get("args", ())]
    yield from _running(EphemeralServer(tollgate_binary, tmp_path / "tollgate.log", args))



@pytest.fixture
def faults(tollgate_server: TollgateServer) -> Iterator[Faults]:
    """The session server's fault rules; every rule is removed after the test."""
    rules = Faults(tollgate_server.admin_api())
    try:
        yield rules
    finally:
        rules.clear()


@pytest.fixture
def journal(tollgate_server: TollgateServer) -> Journal:
    """The session server's request journal, from the test's start on."""
    return Journal.from_now(tollgate_server.admin_api())
