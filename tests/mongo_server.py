"""A real MongoDB-wire server for the tests: mongod on PATH, else FerretDB (SQLite backend).

Started on a free loopback port in a temporary directory, stopped at the end.
Outage tests use :meth:`MongoServer.kill`, :meth:`start` (same port and data),
:meth:`pause` and :meth:`resume`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

FERRETDB_VERSION = "v1.24.2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_ferretdb() -> str | None:
    """The FerretDB binary: $JWTGUARD_FERRETDB, the cache that scripts/get-ferretdb.sh fills, or PATH."""
    explicit = os.environ.get("JWTGUARD_FERRETDB")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    cache = os.environ.get("JWTGUARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jwtguard"
    )
    cached = os.path.join(cache, f"ferretdb-{FERRETDB_VERSION}", "ferretdb")
    if os.access(cached, os.X_OK):
        return cached
    return shutil.which("ferretdb")


class MongoServer:
    """One server process; ``uri(db)`` gives a connection string for a database on it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        mongod = shutil.which("mongod")
        ferretdb = None if mongod else find_ferretdb()
        if mongod:
            self.kind = "mongod"
            (directory / "db").mkdir(exist_ok=True)
            self.command = [
                mongod,
                "--bind_ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dbpath",
                str(directory / "db"),
                "--quiet",
                "--nounixsocket",
            ]
        elif ferretdb:
            self.kind = "ferretdb"
            (directory / "data").mkdir(exist_ok=True)
            self.command = [
                ferretdb,
                "--handler=sqlite",
                f"--sqlite-url=file:{directory / 'data'}/",
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={directory}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=error",
            ]
        else:
            raise FileNotFoundError(
                "no MongoDB-compatible server: set JWTGUARD_TEST_MONGO_URI, put mongod on PATH, "
                "or run scripts/get-ferretdb.sh (make test does)"
            )

    def uri(self, database: str = "jwtguard_test") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(self.command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"{self.kind} exited with {code}; see {self.directory}/server.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on port {self.port} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-conversation."""
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server still holds its port but answers nothing."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
