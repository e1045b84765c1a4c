"""HTTP: uvicorn (1 worker) and gunicorn (1 gthread worker), bare against guarded, through real sockets.

Four servers run at once, each pinned to the same core: uvicorn serving Starlette, bare and behind
JWTGuardASGI, and gunicorn serving Flask, bare and behind JWTGuardWSGI (on the real store, default
settings). The client (:mod:`bench.client`) runs in its own process pinned to another core, with a
few keep-alive connections: the server's core is the bottleneck, not the client. Each round drives
every server for the same seconds, in an order rotated from round to round; requests per second
and the server's CPU time per request (``utime + stime`` of the serving process, from
``/proc/PID/stat``, read just before and after the timed window) are compared within each round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pymongo

from bench import servers
from bench.client import request_bytes
from bench.common import FULL, Section, Sizes, Table, Target, median, ratio, rotated, spread
from bench.common import within_rounds as per_round
from bench.overhead import SECRET
from bench.store import Mongo
from jwtguard import Settings, issue_token

RPS_TARGET = 0.95
CPU_TARGET = 1.05

#: (server, framework): the bare app and the guarded one, as bench.apps names them.
KINDS = {
    "uvicorn": ("Starlette", "bench.apps:starlette_bare", "bench.apps:starlette_guarded"),
    "gunicorn gthread": ("Flask", "bench.apps:flask_bare()", "bench.apps:flask_guarded()"),
}


@dataclass
class Rounds:
    """Per round: requests per second and CPU microseconds per request of one server."""

    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    errors: int = 0


class ClientWorker:
    """The client process (``python -m bench.client``), pinned to its own core."""

    def __init__(self, cpu: int | None) -> None:
        argv = [sys.executable, "-m", "bench.client"] + ([] if cpu is None else ["--cpu", str(cpu)])
        self.process = subprocess.Popen(
            argv, cwd=servers.REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def _line(self) -> dict[str, Any]:
        out: IO[str] | None = self.process.stdout
        assert out is not None
        line = out.readline()
        if not line:
            raise RuntimeError(f"the client process ended ({self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def measure(self, server: servers.Server, request: bytes, sizes: Sizes) -> tuple[float, float, int]:
        """Requests per second, server CPU µs per request, and the answers that were not 200."""
        pid = server.worker_pid()
        command = {
            "port": server.port,
            "request": request.decode(),
            "connections": sizes.http_connections,
            "seconds": sizes.http_seconds,
            "warmup": 50 * sizes.http_connections,
        }
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        go = self._line()
        assert go["event"] == "go", go
        cpu_before = server.cpu_seconds(pid)
        done = self._line()
        cpu_after = server.cpu_seconds(pid)
        assert done["event"] == "done", done
        requests = int(done["requests"])
        if requests == 0:
            raise RuntimeError(f"{server.name}: no answer in {sizes.http_seconds}s:\n{server.log_text()}")
        return requests / float(done["elapsed"]), (cpu_after - cpu_before) / requests * 1e6, int(done["errors"])

    def close(self) -> None:
        """End of input: the client exits; its pipes are closed here."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        self.process.wait(10)


def cores() -> tuple[int | None, int | None]:
    """(the servers' core, the client's core), or (None, None) when this process may use only one."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def run(mongo: Mongo, sizes: Sizes = FULL) -> Section:
    uri = mongo.fresh("bench_http")
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    settings = Settings(secret=SECRET, store_url=uri)
    client.get_default_database()[settings.users_collection].insert_one({"_id": "alice", "user_enabled": True})
    token = issue_token(settings, "alice", ttl=3600)
    server_cpu, client_cpu = cores()
    env = servers.server_env(secret=SECRET, store_url=uri)
    started: dict[str, servers.Server] = {}
    results: dict[str, Rounds] = {}
    worker: ClientWorker | None = None
    with tempfile.TemporaryDirectory(prefix="jwtguard-bench-http-") as directory:
        try:
            for kind, (_, bare, guarded) in KINDS.items():
                for side, app in (("bare", bare), ("guarded", guarded)):
                    port = servers.free_port()
                    command = (
                        servers.uvicorn_command(app, port)
                        if kind == "uvicorn"
                        else servers.gunicorn_command(app, port, threads=max(1, sizes.http_connections))
                    )
                    name = f"{kind} {side}"
                    started[name] = servers.launch(
                        name, command, port, env=env, log_dir=Path(directory), cpu=server_cpu
                    )
                    results[name] = Rounds()
            servers.ready(list(started.values()))
            worker = ClientWorker(client_cpu)
            names = list(started)
            for number in range(sizes.http_rounds):
                for name in rotated(names, number):
                    server = started[name]
                    rps, cpu_us, errors = worker.measure(server, request_bytes(server.port, token=token), sizes)
                    results[name].rps.append(rps)
                    results[name].cpu_us.append(cpu_us)
                    results[name].errors += errors
        finally:
            if worker is not None:
                worker.close()
            for server in started.values():
                server.stop()
            client.drop_database(client.get_default_database().name)
            client.close()
    for name, rounds in results.items():
        if rounds.errors:
            raise RuntimeError(f"{name}: {rounds.errors} answers were not 200")
    return report(results, sizes, server_cpu, client_cpu, mongo)


def report(
    results: dict[str, Rounds], sizes: Sizes, server_cpu: int | None, client_cpu: int | None, mongo: Mongo
) -> Section:
    pinning = (
        f"servers pinned to core {server_cpu}, the client to core {client_cpu}"
        if server_cpu is not None
        else "no pinning: this process may use one core only"
    )
    table = Table(
        "HTTP: requests per second and server CPU per request, bare against guarded",
        f"Median (min–max) of {sizes.http_rounds} interleaved rounds of {sizes.http_seconds:g} s per server, "
        f"{sizes.http_connections} keep-alive connections from a raw-socket client ({pinning}); "
        "ratios within each round. uvicorn: one process, Starlette; gunicorn: one gthread worker "
        f"({sizes.http_connections} threads), Flask; guarded = the same app behind the middleware at "
        f"default settings on {mongo.version()}. CPU = `utime + stime` of the serving process.",
        [
            "server",
            "bare req/s",
            "guarded req/s",
            "guarded ÷ bare req/s",
            "bare CPU µs/req",
            "guarded CPU µs/req",
            "guarded ÷ bare CPU",
        ],
    )
    targets_rps: list[str] = []
    targets_cpu: list[str] = []
    rps_met = cpu_met = True
    rps_miss: list[str] = []
    cpu_miss: list[str] = []
    for kind, (framework, _, _) in KINDS.items():
        bare, guarded = results[f"{kind} bare"], results[f"{kind} guarded"]
        rps_ratio = per_round(guarded.rps, bare.rps, ratio)
        cpu_ratio = per_round(guarded.cpu_us, bare.cpu_us, ratio)
        table.rows.append(
            [
                f"{kind} ({framework})",
                spread(bare.rps, 0),
                spread(guarded.rps, 0),
                spread(rps_ratio, 3),
                spread(bare.cpu_us),
                spread(guarded.cpu_us),
                spread(cpu_ratio, 3),
            ]
        )
        r, c = median(rps_ratio), median(cpu_ratio)
        targets_rps.append(f"{kind} {r:.3f}×")
        targets_cpu.append(f"{kind} {c:.3f}×")
        if r < RPS_TARGET:
            rps_met = False
            rps_miss.append(f"{kind} by {RPS_TARGET - r:.3f}×")
        if c > CPU_TARGET:
            cpu_met = False
            cpu_miss.append(f"{kind} by {c - CPU_TARGET:.3f}×")
    targets = [
        Target(
            "HTTP, requests per second vs bare",
            "uvicorn 0.90×, gunicorn 0.95× (noisy: ±15 % between rounds)",
            f"≥ {RPS_TARGET:g}× both",
            ", ".join(targets_rps),
            rps_met,
            ", ".join(rps_miss),
        ),
        Target(
            "HTTP, server CPU per request vs bare",
            "uvicorn 1.11×, gunicorn 1.06×",
            f"≤ {CPU_TARGET:g}× both",
            ", ".join(targets_cpu),
            cpu_met,
            ", ".join(cpu_miss),
        ),
    ]
    return Section(tables=[table], targets=targets)
