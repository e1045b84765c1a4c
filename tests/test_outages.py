"""Store outages for real: the FerretDB (or mongod) process killed, restarted, paused, through both adapters.

Each test uses this module's own server (not the session's shared one), so it
may kill it. Numbers worth quoting (recovery time after a restart) are printed:
run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jwt
import pymongo
import pytest
from harness import TARGETS, ASGITarget, Target, WSGITarget

from jwtguard import Admin, Settings
from jwtguard.stores.mongo import AsyncMongoStore, MongoStore

from conftest import SECRET, Reply
from mongo_server import MongoServer

pytestmark = pytest.mark.slow

T = TypeVar("T")

#: The store timeout of these tests, and the margin allowed on top of it. One
#: query can meet the timeout up to four times (server selection, connect, the
#: reply, and the driver's single retry of a read), and the machine is shared:
#: the margin is generous, the bound still catches a hang or a pile-up.
TIMEOUT = 0.5
MARGIN = 3.5


# -- the server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    try:
        own = MongoServer(tmp_path_factory.mktemp("outage-mongo"))
        own.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no MongoDB-compatible server to kill in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def db_uri(server: MongoServer) -> Iterator[str]:
    """A fresh database on the module's server, which is up (and not paused) at the start of each test."""
    if server.process is None:
        server.start()
    server.resume()
    yield server.uri(f"o_{uuid.uuid4().hex[:12]}")
    if server.process is None:
        server.start()
    server.resume()


def seed(uri: str, documents: list[dict[str, Any]]) -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        client.get_default_database()["users"].insert_many(documents)
    finally:
        client.close()


def token_for(user: str, **claims: Any) -> str:
    now = time.time()
    return jwt.encode({"sub": user, "iat": int(now) - 10, "exp": int(now) + 600, **claims}, SECRET, algorithm="HS256")


def outage_settings(uri: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "store_url": uri,
        "exempt_paths": ("/public",),
        "store_timeout": TIMEOUT,
        "cache_ttl": 0.3,
    }
    values.update(changes)
    return Settings(**values)


def client_sockets(port: int) -> int:
    """Open client-side TCP connections to *port* on this host (TIME_WAIT belongs to the kernel alone)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] != "06":
                count += 1
    return count


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def until_status(target: Target, token: str, status: int, timeout: float = 15) -> list[int]:
    """Request until the answer is *status* (bounded); every status seen, in order."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(target.get(token).status)
        if seen[-1] == status:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no {status} within {timeout} s: {seen}")


def timed(call: Callable[[], Reply]) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def assert_unavailable(reply: Reply) -> None:
    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "5"
    assert reply.json() == {"error": "temporarily_unavailable", "reason": "store_unavailable"}
    assert "x-user-enabled" not in reply.headers  # a blip must not log anyone out


# -- down at start-up ----------------------------------------------------------------


def test_store_down_at_start_then_up_without_a_restart(
    server: MongoServer, db_uri: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db_uri, [{"_id": "alice"}])
    token = token_for("alice")
    server.kill()
    caplog.set_level(logging.WARNING, logger="jwtguard")
    target = TARGETS[kind](outage_settings(db_uri))  # constructing needs no store
    try:
        assert target.get(path="/public").status == 200  # exempt paths never touch the store
        for _ in range(2):
            reply, elapsed = timed(lambda: target.get(token))
            assert_unavailable(reply)
            assert elapsed < TIMEOUT + MARGIN
        server.start()
        returned = time.monotonic()
        replies = until_status(target, token, 200)
        print(f"\n[{kind}] store up at start-up + {time.monotonic() - returned:.2f} s: first 200")
        assert set(replies) <= {200, 503}
        assert target.get(token).headers["x-user-enabled"] == "true"
    finally:
        target.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "jwtguard" and r.levelno == logging.WARNING]
    # The invalidation feed (issue 11) reads the same store from its own thread: it says so once, too.
    feed = [message for message in warnings if message.startswith("jwtguard: the invalidation feed")]
    assert len(feed) <= 1 and all("cannot be read" in message for message in feed)
    # Once when it went away, once when it came back: not once per request.
    assert [message for message in warnings if message not in feed] == [
        "jwtguard: the store is unreachable (MongoDB store unavailable (ServerSelectionTimeoutError))",
        "jwtguard: the store answers again",
    ]


# -- killed during a load run ---------------------------------------------------------


def test_store_killed_under_load_and_restarted(server: MongoServer, db_uri: str, kind: str) -> None:
    users = [f"user{n}" for n in range(8)]
    seed(db_uri, [{"_id": user} for user in users])
    tokens = [token_for(user) for user in users]
    workers = 6 if kind == "wsgi" else 24
    threads_before = threading.active_count()
    target = TARGETS[kind](outage_settings(db_uri))
    stop = threading.Event()
    peak_threads = threads_before
    try:
        load = target.load(tokens, workers, stop)
        time.sleep(1.5)
        killed = time.monotonic()
        server.kill()
        time.sleep(2.0)
        server.start()
        returned = time.monotonic()

        # Until every worker has had a success since the restart (at most 6 s), and a little more.
        def recovered() -> bool:
            ok = {r.worker for r in list(load.results) if r.started >= returned and r.status == 200}
            return len(ok) == workers

        wait_for(recovered, 6.0)
        peak_threads = max(peak_threads, threading.active_count())
        time.sleep(0.5)
        sockets_during = client_sockets(server.port)
        stop.set()
        results = load.join(TIMEOUT * 2 + MARGIN + 5)
    finally:
        stop.set()
        target.close()

    statuses = {r.status for r in results}
    assert statuses <= {200, 503}, statuses  # no 500, no 502, no 401 for a valid token
    assert all(r.status == 200 for r in results if r.ended < killed), "failures before the outage"
    assert any(r.status == 503 for r in results), "the outage went unnoticed"
    slowest = max(r.ended - r.started for r in results)
    assert slowest < TIMEOUT + MARGIN, f"a request took {slowest:.2f} s"

    # Recovery: for each worker, its first success among requests sent after the store returned.
    recovery = []
    for worker in range(workers):
        after = [r for r in results if r.worker == worker and r.started >= returned]
        first_ok = next((r for r in after if r.status == 200), None)
        assert first_ok is not None, f"worker {worker} never recovered"
        recovery.append(first_ok.ended - returned)
        # Once recovered, it stays recovered.
        assert all(r.status == 200 for r in after if r.started > first_ok.ended)
    print(
        f"\n[{kind}] {len(results)} requests ({sum(r.status == 503 for r in results)} x 503); "
        f"recovery after the restart: first {min(recovery):.2f} s, every worker {max(recovery):.2f} s"
    )
    assert max(recovery) < 5.0

    # No leaked connections or threads: bounded while running, all gone after close().
    assert sockets_during <= len(users) + 4, sockets_during
    assert peak_threads <= threads_before + workers + 8
    assert wait_for(lambda: client_sockets(server.port) == 0, 10), client_sockets(server.port)
    assert wait_for(lambda: threading.active_count() <= threads_before + 1, 10), threading.enumerate()


# -- slow: the server stops answering ------------------------------------------------------


class CountingStore:
    """The real MongoDB store, counting the queries that reach it."""

    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.loads = 0

    def load(self, user_id: Any) -> Any:
        self.loads += 1
        return self.store.load(user_id)

    def apply(self, user_id: Any, change: Any) -> bool:
        return self.store.apply(user_id, change)

    def close(self) -> None:
        self.store.close()


class CountingAsyncStore:
    def __init__(self, store: AsyncMongoStore) -> None:
        self.store = store
        self.loads = 0

    async def load(self, user_id: Any) -> Any:
        self.loads += 1
        return await self.store.load(user_id)

    async def apply(self, user_id: Any, change: Any) -> bool:
        return await self.store.apply(user_id, change)

    async def close(self) -> None:
        await self.store.close()


def concurrent_gets(target: Target, tokens: list[str]) -> list[tuple[Reply, float]]:
    """Send one request per token at once; each with its duration."""
    if isinstance(target, ASGITarget):

        async def one(token: str) -> tuple[Reply, float]:
            started = time.monotonic()
            reply = await target.aget(token)
            return reply, time.monotonic() - started

        async def all_at_once() -> list[tuple[Reply, float]]:
            return list(await asyncio.gather(*(one(token) for token in tokens)))

        return target.run(all_at_once())
    barrier = threading.Barrier(len(tokens))
    answers: list[tuple[Reply, float]] = []

    def one_thread(token: str) -> None:
        barrier.wait(10)
        answers.append(timed(lambda: target.get(token)))

    threads = [threading.Thread(target=one_thread, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return answers


def test_slow_store_fails_within_the_timeout_without_piling_up(server: MongoServer, db_uri: str, kind: str) -> None:
    users = ["alice", "bob", "carol"]
    seed(db_uri, [{"_id": user} for user in users])
    settings = outage_settings(db_uri, cache_ttl=0.2)
    store: CountingStore | CountingAsyncStore = (
        CountingStore(MongoStore(settings)) if kind == "wsgi" else CountingAsyncStore(AsyncMongoStore(settings))
    )
    target = TARGETS[kind](settings, store)
    try:
        for user in users:  # connections are open and warm
            assert target.get(token_for(user)).status == 200
        time.sleep(0.3)  # every cached state expired
        server.pause()
        try:
            before = store.loads
            # 16 requests for one user at once: one query, shared.
            answers = concurrent_gets(target, [token_for("alice", jti=str(n)) for n in range(16)])
            one_user_loads = store.loads - before
            before = store.loads
            # 3 users x 5 requests: one query per user.
            answers += concurrent_gets(target, [token_for(user, jti=str(n)) for user in users for n in range(5)])
            three_user_loads = store.loads - before
        finally:
            server.resume()
        for reply, elapsed in answers:
            assert_unavailable(reply)
            assert elapsed < TIMEOUT + MARGIN, f"{elapsed:.2f} s"
        print(
            f"\n[{kind}] paused store: slowest answer {max(e for _, e in answers):.2f} s "
            f"(timeout {TIMEOUT} s); queries: {one_user_loads} for 16 requests, {three_user_loads} for 15"
        )
        assert one_user_loads <= 2
        assert three_user_loads <= 2 * len(users)
        assert target.engine.metrics.snapshot()["store"]["errors"] == one_user_loads + three_user_loads
        until_status(target, token_for("alice"), 200)
    finally:
        target.close()


# -- JWTGUARD_ON_STORE_ERROR -----------------------------------------------------------


@dataclass
class Scene:
    """Users in every state that matters, and a token for each case."""

    uri: str
    tokens: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seed(
            self.uri,
            [
                {"_id": "alice"},
                {"_id": "bob", "user_enabled": False},
                {"_id": "carol"},
                {"_id": "dave"},
                {"_id": "erin"},
            ],
        )
        self.tokens = {name: token_for(name) for name in ("alice", "bob", "carol", "erin")}
        self.tokens["dave_old"] = token_for("dave")
        admin = Admin(outage_settings(self.uri))
        try:
            admin.logout_everywhere("dave")
        finally:
            admin.close()
        self.tokens["dave_new"] = token_for("dave", iat=time.time())  # after the cut-off: it lives
        self.tokens["forged"] = jwt.encode(
            {"sub": "alice", "iat": int(time.time()), "exp": int(time.time()) + 600}, "x" * 48, algorithm="HS256"
        )

    def disable(self, user: str) -> None:
        admin = Admin(outage_settings(self.uri))
        try:
            admin.disable_user(user)
        finally:
            admin.close()


def test_policy_stale_serves_the_last_known_state_then_rejects(server: MongoServer, db_uri: str) -> None:
    scene = Scene(db_uri)
    max_age = 4.0
    # No feed: the scene's own writes, a moment before, would come back as events at the feed's first read
    # (it reads a few seconds back) and drop the last known states this test is about.
    settings = outage_settings(
        db_uri, on_store_error="stale", stale_max_age=max_age, store_timeout=0.3, cache_ttl=0.2, feed=False
    )
    targets: list[WSGITarget | ASGITarget] = [WSGITarget(settings), ASGITarget(settings)]
    try:
        for target in targets:
            for name, status in [("alice", 200), ("bob", 401), ("carol", 200), ("dave_old", 401), ("dave_new", 200)]:
                assert target.get(scene.tokens[name]).status == status, name
        loaded = time.monotonic()  # the last known states are this old, or younger
        scene.disable("carol")  # after carol's state was loaded, before the outage
        server.kill()
        time.sleep(0.3)  # the cache has expired: only the last known states are left
        cases = [
            ("alice", 200, None),
            ("bob", 401, "disabled"),  # disabled before the outage: stays refused
            ("carol", 503, "store_unavailable"),  # the admin's change wiped what was known
            ("dave_old", 401, "revoked"),
            ("dave_new", 200, None),
            ("erin", 503, "store_unavailable"),  # never loaded: nothing to go on
            ("forged", 401, "invalid"),
        ]
        # All at once: each waits for the store's timeout, and the stale window is short.
        with ThreadPoolExecutor(len(cases) * len(targets)) as pool:
            futures = {
                (target.kind, name, status, reason): pool.submit(target.get, scene.tokens[name])
                for target in targets
                for name, status, reason in cases
            }
            replies = {case: future.result(30) for case, future in futures.items()}
        assert time.monotonic() - loaded < max_age, "the machine is too slow for this test's stale window"
        for (kind, name, status, reason), reply in replies.items():
            assert reply.status == status, (kind, name, reply.body)
            if reason is not None:
                assert reply.json()["reason"] == reason
            if status == 503:
                assert_unavailable(reply)
        # Past the stale age, even the last known good state is not trusted.
        time.sleep(max(0.0, loaded + max_age + 0.2 - time.monotonic()))
        for target in targets:
            assert_unavailable(target.get(scene.tokens["alice"]))
            assert_unavailable(target.get(scene.tokens["dave_new"]))
        server.start()
        for target in targets:
            until_status(target, scene.tokens["alice"], 200)
            assert target.get(scene.tokens["carol"]).json()["reason"] == "disabled"
    finally:
        for target in targets:
            target.close()


def test_policy_allow_accepts_signed_tokens_and_warns_at_start(
    server: MongoServer, db_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    scene = Scene(db_uri)
    settings = outage_settings(db_uri, on_store_error="allow", store_timeout=0.3)
    caplog.set_level(logging.WARNING, logger="jwtguard")
    targets: list[WSGITarget | ASGITarget] = [WSGITarget(settings), ASGITarget(settings)]
    try:
        start_up = [r for r in caplog.records if "JWTGUARD_ON_STORE_ERROR=allow" in r.getMessage()]
        assert len(start_up) == 2 and all(r.levelno == logging.WARNING for r in start_up)
        assert "ACCEPTED" in start_up[0].getMessage()
        server.kill()
        for target in targets:
            # Unsafe by design, and documented so: revocation is off while the store is away.
            for name in ("alice", "bob", "dave_old", "erin"):
                reply = target.get(scene.tokens[name])
                assert reply.status == 200, (target.kind, name)
                assert reply.headers["x-user-enabled"] == "true"
            # The signature is still checked first.
            assert target.get(scene.tokens["forged"]).status == 401
        server.start()
        for target in targets:
            until_status(target, scene.tokens["bob"], 401)
            assert target.get(scene.tokens["bob"]).json()["reason"] == "disabled"
            assert target.get(scene.tokens["dave_old"]).json()["reason"] == "revoked"
    finally:
        for target in targets:
            target.close()


def test_policy_reject_is_the_default(server: MongoServer, db_uri: str) -> None:
    scene = Scene(db_uri)
    settings = outage_settings(db_uri, store_timeout=0.3, stale_max_age=600)
    assert settings.on_store_error == "reject"
    targets: list[WSGITarget | ASGITarget] = [WSGITarget(settings), ASGITarget(settings)]
    try:
        for target in targets:
            assert target.get(scene.tokens["alice"]).status == 200
        server.kill()
        time.sleep(0.3)  # past the cache TTL
        for target in targets:
            for name in ("alice", "bob", "dave_new", "erin"):
                assert_unavailable(target.get(scene.tokens[name]))
            assert target.get(scene.tokens["forged"]).status == 401
            snap = target.engine.metrics.snapshot()
            assert snap["rejected"]["store_unavailable"] == 4
            assert snap["store"]["errors"] >= 1
        # Back up before closing: pymongo's AsyncMongoClient, closed while its monitor
        # is connecting to a dead server, drops that socket unclosed (a driver issue
        # at shutdown, outside the request path).
        server.start()
        for target in targets:
            until_status(target, scene.tokens["alice"], 200)
    finally:
        for target in targets:
            target.close()
