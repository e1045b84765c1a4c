"""Issue 11, the proof: a revocation made by a third process reaches every worker of two servers within a second.

Two real servers with two workers each (gunicorn + the Flask example, uvicorn + the Starlette example), each
on SQLite and on the tests' MongoDB-wire server (FerretDB: no change streams, so polling is what this proves),
with a **300 s** user-state TTL: only the invalidation feed can make a worker see the change in time. The
revoking process is the `jwtguard` CLI. Asserted with a generous bound (the benchmark measures the
distribution): no worker accepts the token three poll intervals plus one second after the CLI returned, and a
token issued after the revocation is never refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from test_workers import REPO, Server, accepted, command, login, refused, stop

from conftest import SECRET, Mongo
from mongo_server import free_port

CACHE_TTL = 300
FEED_INTERVAL = 0.25
BOUND = 3 * FEED_INTERVAL + 1.0


@pytest.fixture(
    scope="module",
    params=["gunicorn-flask-sqlite", "gunicorn-flask-mongo", "uvicorn-starlette-sqlite", "uvicorn-starlette-mongo"],
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, dict[str, str]]]:
    kind, _, store = str(request.param).rpartition("-")
    directory = tmp_path_factory.mktemp(f"propagation-{kind}")
    if store == "mongo":
        mongo: Mongo = request.getfixturevalue("mongo")
        store_url = mongo.uri(f"t_{uuid.uuid4().hex[:16]}")
    else:
        store_url = f"sqlite:///{directory / 'jwtguard.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=store_url,
        JWTGUARD_CACHE_TTL=str(CACHE_TTL),
        JWTGUARD_FEED_INTERVAL=str(FEED_INTERVAL),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    port = free_port()
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(kind, port, directory),
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    running = Server(str(request.param), process, f"http://127.0.0.1:{port}", log)
    try:
        running.wait_ready()
        yield running, env
    finally:
        running._client.close()
        stop(process, running.workers)
    assert "Traceback" not in running.log_text(), running.log_text()


def cli(env: dict[str, str], *args: str) -> float:
    """Run the `jwtguard` command in its own process; the monotonic time it returned."""
    subprocess.run([sys.executable, "-m", "jwtguard", *args], env=env, check=True, timeout=60, capture_output=True)
    return time.monotonic()


def after(moment: float) -> None:
    time.sleep(max(0.0, moment + BOUND - time.monotonic()))


def test_a_cli_revocation_reaches_every_worker_within_the_bound(served: tuple[Server, dict[str, str]]) -> None:
    server, env = served
    for command_name, reason in (("disable", "disabled"), ("logout-all", "revoked")):
        token = login(server, "alice")["access_token"]
        accepted(server, token)  # cached in both workers for 300 s
        done = cli(env, command_name, "alice")
        after(done)
        refused(server, token, reason)  # every worker, several times each
        if command_name == "disable":
            after(cli(env, "enable", "alice"))
        fresh = login(server, "alice")["access_token"]
        accepted(server, fresh)  # no false reject of a token issued after the revocation
