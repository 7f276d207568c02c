"""Starting and stopping `tollgate serve --ephemeral`, and what its ready line says."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .admin import AdminApi

DISTRIBUTION = "pytest-tollgate"
# The server prints its ready line in tens of milliseconds; a debug build on a loaded CI
# machine can take seconds.
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_TAIL_BYTES = 4000


class TollgateStartError(RuntimeError):
    """The server did not start: what it printed and the end of its log say why."""


def bundled_binary() -> Path:
    """The `tollgate` binary this package's wheel installed (bin/tollgate in a venv)."""
    try:
        files = metadata.files(DISTRIBUTION) or []
    except metadata.PackageNotFoundError as e:
        raise TollgateStartError(f"{DISTRIBUTION} is not installed, so there is no bundled tollgate binary") from e
    for file in files:
        if file.name == "tollgate" and file.parent.name in ("bin", "scripts"):
            return Path(str(file.locate())).resolve()
    raise TollgateStartError(
        f"the installed {DISTRIBUTION} has no tollgate binary in its files; reinstall the wheel, "
        "or name a binary with --tollgate-binary"
    )


@dataclass(frozen=True)
class AdminCredentials:
    org: str
    username: str
    password: str
    api_token: str


@dataclass(frozen=True)
class TollgateServer:
    """A running ephemeral server, as its ready line describes it."""

    url: str
    """The shared listener's base URL, e.g. ``https://127.0.0.1:41234``."""
    dialects: Mapping[str, str]
    """Each dialect's base URL (HCX has a listener of its own)."""
    admin: AdminCredentials
    data_dir: Path
    """The throw-away data directory, removed when the server stops."""
    pid: int
    binary: Path
    log_file: Path
    """The server's log (its stderr)."""

    @property
    def ca_file(self) -> Optional[Path]:
        """The server's self-signed certificate, to verify HTTPS against (None over plain HTTP)."""
        if self.url.startswith("http://"):
            return None
        return self.data_dir / "tls" / "cert.pem"

    @property
    def verify(self) -> "str | bool":
        """What `requests`' ``verify=`` takes: the certificate's path (True over plain HTTP)."""
        return str(self.ca_file) if self.ca_file else True

    def base_url(self, dialect: str) -> str:
        """The base URL of ``dialect`` (vcd, vcda, loginsight, hcx, bluecat, native)."""
        try:
            return self.dialects[dialect]
        except KeyError:
            raise KeyError(f"tollgate serves no dialect {dialect!r}; it serves {sorted(self.dialects)}") from None

    def host(self, dialect: str) -> str:
        """``host:port`` of ``dialect``'s listener, for clients that take a host, not a URL."""
        return self.base_url(dialect).split("://", 1)[1]

    def admin_api(self) -> AdminApi:
        """The admin REST API, as the System Administrator's API token."""
        return AdminApi(self.url, self.admin.api_token, self.ca_file)

    def cli(self, *args: str, stdin: Optional[str] = None) -> str:
        """Runs ``tollgate --data DATA_DIR ARGS`` on this server's store; returns its stdout."""
        done = subprocess.run(
            [str(self.binary), "--data", str(self.data_dir), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tollgate {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout


class EphemeralServer:
    """``tollgate serve --ephemeral`` in a child process: started by :meth:`start`, stopped
    (SIGTERM, and its data directory removed) by :meth:`stop`. The server also stops by itself
    when this Python process exits."""

    def __init__(self, binary: Path, log_file: Path, args: Sequence[str] = ()):
        self.binary = binary
        self.log_file = log_file
        self.args = list(args)
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.server: Optional[TollgateServer] = None

    def start(self) -> TollgateServer:
        """Starts the server and waits for its ready line; stops it again if that fails."""
        command = [str(self.binary), "serve", "--ephemeral", *self.args]
        with open(self.log_file, "wb") as log:
            try:
                self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
            except OSError as e:
                raise TollgateStartError(f"cannot run {self.binary}: {e}") from e
        try:
            self.server = self._parse(self._ready_line(), command)
        except BaseException:
            self.stop()
            raise
        return self.server

    def _parse(self, line: str, command: Sequence[str]) -> TollgateServer:
        try:
            ready = json.loads(line)
            admin = ready["admin"]
            return TollgateServer(
                url=ready["url"],
                dialects=dict(ready["dialects"]),
                admin=AdminCredentials(admin["org"], admin["username"], admin["password"], admin["api_token"]),
                data_dir=Path(ready["data_dir"]),
                pid=int(ready["pid"]),
                binary=self.binary,
                log_file=self.log_file,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise TollgateStartError(f"{' '.join(command)} printed no ready line ({e}): {line!r}") from e

    def _ready_line(self) -> str:
        """The first line on stdout, within READY_TIMEOUT_SECONDS."""
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        command = " ".join(str(arg) for arg in self.process.args)  # type: ignore[union-attr]
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        buffered = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in buffered:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TollgateStartError(
                        f"{command} was not ready within {READY_TIMEOUT_SECONDS:.0f} s; its log:\n{self.log_tail()}"
                    )
                if not selector.select(left):
                    continue
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    status = self.process.wait()
                    raise TollgateStartError(f"{command} exited ({status}) before it was ready; its log:\n{self.log_tail()}")
                buffered += chunk
        return buffered.split(b"\n", 1)[0].decode()

    def log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
                return log.read().decode(errors="replace")
        except OSError as e:
            return f"(no log: {e})"

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
