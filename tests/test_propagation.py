"""Issue 11, the proof: a revocation made by a third process reaches every worker of two servers within a second.

Two real servers with two workers each (gunicorn + the Flask example, uvicorn + the Starlette example), each
on SQLite and on the tests' MongoDB-wire server (FerretDB: no change streams, so polling is what this proves),
with a **300 s** user-state TTL: only the invalidation feed can make a worker see the change in time. The
revoking process is the `jwtguard` CLI. Asserted with a generous bound (the benchmark measures the
distribution): no worker accepts the token three poll intervals plus one second after the CLI returned, and a
token issued after the revocation is never refused.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from test_workers import SERVERS, Server, accepted, login, refused, serving

CACHE_TTL = 300
FEED_INTERVAL = 0.25
BOUND = 3 * FEED_INTERVAL + 1.0


@pytest.fixture(scope="module", params=SERVERS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, dict[str, str]]]:
    directory = tmp_path_factory.mktemp(f"propagation-{str(request.param).rpartition('-')[0]}")
    settings = {"JWTGUARD_CACHE_TTL": str(CACHE_TTL), "JWTGUARD_FEED_INTERVAL": str(FEED_INTERVAL)}
    with serving(request, directory, **settings) as running:
        yield running


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
