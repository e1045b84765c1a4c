"""Real servers for the HTTP and propagation parts: uvicorn and gunicorn on free loopback ports.

Each server runs in a session of its own, optionally pinned to one core (set before its
interpreter starts, so every thread and forked worker inherits it), with its output in a log
file. :meth:`Server.cpu_seconds` reads the serving process's ``utime + stime`` from
``/proc/PID/stat`` (gunicorn's worker, not its idle master). :meth:`Server.stop` ends the
server by its own PID and process group only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.client import Connection, request_bytes

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: Set the affinity, then become the server: the interpreter of the server starts pinned.
_PINNED = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.execv(sys.argv[2], sys.argv[2:])"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvicorn_command(factory: str, port: int) -> list[str]:
    """uvicorn, one process, ``--factory module:function`` (the function returns the ASGI app)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def gunicorn_command(app: str, port: int, threads: int = 4) -> list[str]:
    """gunicorn, one gthread worker with *threads* threads, ``module:call()``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gthread",
        "--workers",
        "1",
        "--threads",
        str(threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        app,
    ]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    #: gunicorn: the request-serving process is the master's only child.
    forks_worker: bool

    def worker_pid(self, timeout: float = 10.0) -> int:
        if not self.forks_worker:
            return self.process.pid
        deadline = time.monotonic() + timeout
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        while True:
            with contextlib.suppress(OSError):
                children = path.read_text().split()
                if children:
                    return int(children[0])
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no worker process after {timeout}s:\n{self.log_text()}")
            time.sleep(0.05)

    def cpu_seconds(self, pid: int | None = None) -> float:
        """User plus system CPU seconds of the serving process (all its threads), from /proc/PID/stat."""
        stat = Path(f"/proc/{pid or self.worker_pid()}/stat").read_text()
        fields = stat.rpartition(")")[2].split()
        # After the command: state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, request: bytes, timeout: float = 30.0) -> None:
        """Until one request is answered (any status: a refusal is an answer too)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                connection = Connection(self.port, timeout=1.0)
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not listen within {timeout}s:\n{self.log_text()}") from None
                time.sleep(0.05)
                continue
            try:
                connection.sock.setblocking(True)
                connection.sock.settimeout(timeout)
                connection.send(request)
                while not connection.receive():
                    pass
                return
            finally:
                connection.close()

    def stop(self) -> None:
        """SIGTERM to the server (gunicorn's master stops its worker), then SIGKILL to its group if needed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def launch(
    name: str, command: Sequence[str], port: int, *, env: Mapping[str, str], log_dir: Path, cpu: int | None = None
) -> Server:
    """Start *command* (from :func:`uvicorn_command` or :func:`gunicorn_command`); see :func:`start`."""
    argv = list(command)
    if cpu is not None:
        argv = [sys.executable, "-c", _PINNED, str(cpu), *argv]
    log = log_dir / f"{name.replace(' ', '-').replace('/', '-')}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=REPO, env=dict(env), stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(name, process, port, log, forks_worker="gunicorn" in command)


def ready(launched: Sequence[Server]) -> None:
    """Wait until every launched server answers (they start side by side); stop them all if one fails."""
    try:
        for server in launched:
            server.wait_ready(request_bytes(server.port))
            server.worker_pid()
    except BaseException:
        for server in launched:
            server.stop()
        raise


def start(
    name: str, command: Sequence[str], port: int, *, env: Mapping[str, str], log_dir: Path, cpu: int | None = None
) -> Server:
    """Start *command* and wait until it answers."""
    server = launch(name, command, port, env=env, log_dir=log_dir, cpu=cpu)
    ready([server])
    return server


def server_env(**jwtguard: str) -> dict[str, str]:
    """This process's environment without any JWTGUARD_* variable, plus the given ones (``secret=...``)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("JWTGUARD_")}
    env.update({f"JWTGUARD_{name.upper()}": value for name, value in jwtguard.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env
