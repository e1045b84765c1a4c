"""Issue 11: the invalidation feed, one process's change reaching every other within a second.

The writer is another process (the `jwtguard` CLI) or this test writing events through the store; the
reader is an engine with a 300 s state TTL, so nothing but the feed can make it see the change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from jwtguard import Admin, MemoryStore, Settings, issue_token
from jwtguard.engine import Engine
from jwtguard.errors import StoreError
from jwtguard.feed import Follower
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio.request import Request
from jwtguard.sessions import flows, signals
from jwtguard.stores import open_store

from conftest import SECRET

INTERVAL = 0.1


def feed_settings(url: str | None, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "store_url": url,
        "cache_ttl": 300,
        "feed_interval": INTERVAL,
        "store_timeout": 2.0,
    }
    return Settings(**{**values, **changes})


@pytest.fixture(params=["mongo", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "mongo":
        return str(request.getfixturevalue("mongo_uri"))
    return f"sqlite:///{tmp_path / 'feed.db'}"


def cli(url: str, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=url)
    subprocess.run([sys.executable, "-m", "jwtguard", *args], env=env, check=True, timeout=60, capture_output=True)


def verdict(engine: Engine, token: str) -> str:
    return engine.handle(Request("GET", "/api", ("Bearer " + token,))).reason


def wait_for(engine: Engine, token: str, reason: str, limit: float) -> float:
    """Seconds until the engine answers *reason* for *token*; fails after *limit*."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < limit:
        if verdict(engine, token) == reason:
            return elapsed
        time.sleep(0.01)
    raise AssertionError(f"still not {reason} after {limit} s: {verdict(engine, token)}")


@pytest.fixture
def reader(url: str) -> Iterator[Engine]:
    settings = feed_settings(url)
    admin = Admin(settings)
    admin.create_user("alice")
    admin.close()
    store = open_store(settings)
    engine = Engine(settings, store=store, bus=InvalidationBus())
    yield engine
    if engine.feed is not None:
        engine.feed.stop()
    store.close()


def test_another_process_s_revocation_is_seen_within_the_interval(url: str, reader: Engine) -> None:
    """Three poll intervals and one second, against a 300 s TTL: only the feed can do it."""
    token = issue_token(reader.settings, "alice")
    assert verdict(reader, token) == "accepted"  # cached for 300 s from now
    assert reader.feed is not None
    wait_for_health(reader.feed)
    for command, reason in (("disable", "disabled"), ("enable", "accepted"), ("logout-all", "revoked")):
        cli(url, command, "alice")
        seen = wait_for(reader, token, reason, 3 * INTERVAL + 1.0)
        assert seen <= 3 * INTERVAL + 1.0
    fresh = issue_token(reader.settings, "alice")
    assert verdict(reader, fresh) == "accepted"  # no false reject of a token issued after


def test_a_provider_session_ended_by_sid_alone_is_seen_within_the_interval(url: str, reader: Engine) -> None:
    """Issue 12: a back-channel logout token with a sid and no sub (OpenID Back-Channel Logout §2.4)
    ends that session in every process: the feed's event names the session, not a user, and the
    reader drops its cached answer for that session alone (a 300 s TTL: only the feed can do it)."""
    now = int(time.time())
    claims = {"sub": "alice", "iss": "https://idp.test", "iat": now, "exp": now + 300}
    ended, other = (jwt.encode({**claims, "sid": sid}, SECRET, algorithm="HS256") for sid in ("s-1", "s-2"))
    assert verdict(reader, ended) == verdict(reader, other) == "accepted"  # both sessions cached
    assert reader.feed is not None
    wait_for_health(reader.feed)
    writer = open_store(reader.settings)
    try:
        flow = signals.end_provider_session(
            "https://idp.test", "s-1", None, now=time.time(), settings=reader.settings, source="test"
        )
        assert writer.run(flow) is True  # type: ignore[attr-defined]
    finally:
        writer.close()
    assert wait_for(reader, ended, "session_revoked", 3 * INTERVAL + 1.0) <= 3 * INTERVAL + 1.0
    assert verdict(reader, other) == "accepted"
    assert reader.states.misses == 1  # the user's state was loaded once: the event named a session, not her


def wait_for_health(follower: Follower, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not follower.healthy:
        assert time.monotonic() < deadline, "the feed never became healthy"
        time.sleep(0.01)


class Loads:
    """A store wrapper counting loads, and able to fail the feed's reads."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.loads = 0
        self.feed_down = False

    def load(self, user_id: Any) -> Any:
        self.loads += 1
        return self.store.load(user_id)

    def apply(self, user_id: Any, change: Any) -> bool:
        return bool(self.store.apply(user_id, change))

    def run(self, flow: Any) -> Any:
        if self.feed_down:
            flow.close()
            raise StoreError("the feed's store is down (test)")
        return self.store.run(flow)

    def close(self) -> None:
        self.store.close()


def memory_engine(**changes: Any) -> tuple[Engine, Loads, MemoryStore]:
    settings = feed_settings(None, **changes)
    memory = MemoryStore(settings)
    memory.put("alice", {})
    store = Loads(memory)
    return Engine(settings, store=store, bus=InvalidationBus()), store, memory


def announce(memory: MemoryStore, settings: Settings, user: str = "alice", at: float | None = None) -> None:
    memory.run(flows.announce(user, "disable", now=time.time() if at is None else at, settings=settings))


def test_an_event_without_its_change_holds_caching_then_lets_go() -> None:
    """A writer killed between the event and the change (or a slow second write): followers forget the user and
    cache none of its loads for `hold` seconds, then cache again; the state (unchanged) is never refused."""
    engine, store, memory = memory_engine()
    token = issue_token(engine.settings, "alice")
    assert verdict(engine, token) == "accepted"
    assert engine.feed is not None
    follower = engine.feed
    follower.stop()  # read by hand below, not by the thread
    follower.poll()
    loads = store.loads
    follower.hold = 0.5
    announce(memory, engine.settings)  # the event only: the writer died before its change
    assert follower.poll() == 1
    for _ in range(3):
        assert verdict(engine, token) == "accepted"
    assert store.loads == loads + 3  # every request read the store: nothing was cached during the hold
    time.sleep(0.55)
    verdict(engine, token)
    verdict(engine, token)
    assert store.loads == loads + 4  # cached again


def test_events_out_of_order_within_the_overlap_are_read_once_each() -> None:
    engine, _, memory = memory_engine()
    token = issue_token(engine.settings, "alice")
    verdict(engine, token)
    assert engine.feed is not None
    follower = engine.feed
    follower.stop()
    follower.poll()
    published: list[Hashable] = []

    class Spy:
        def invalidate(self, key: Hashable, hold: float = 0.0) -> None:
            published.append(key)

    spy = Spy()
    follower.bus.subscribe(spy)
    now = time.time()
    announce(memory, engine.settings, at=now)
    assert follower.poll() == 1
    announce(memory, engine.settings, at=now - 1.0)  # committed after a later one: inside the overlap
    assert follower.poll() == 1
    assert follower.poll() == 0  # each event once
    assert len(published) == 2


def test_an_unreadable_feed_falls_back_to_the_short_ttl_and_flushes_on_recovery() -> None:
    engine, store, _ = memory_engine(feed_fallback_ttl=0)
    token = issue_token(engine.settings, "alice")
    verdict(engine, token)
    assert engine.feed is not None
    follower = engine.feed
    follower.stop()
    follower.poll()
    assert follower.healthy and engine.states.fallback_ttl is None
    store.feed_down = True
    follower.poll()
    assert not follower.healthy and engine.states.fallback_ttl == 0
    loads = store.loads
    verdict(engine, token)
    verdict(engine, token)
    assert store.loads == loads + 2  # nothing served from memory while events may be missed
    assert len(engine.states) == 1  # (stored, not served)
    store.feed_down = False
    follower.poll()
    assert follower.healthy and engine.states.fallback_ttl is None
    assert len(engine.states) == 0  # flushed: events may have come and gone during the outage
    snapshot = engine.metrics.snapshot()["feed"]
    assert snapshot["healthy"] is True and snapshot["failures"] == 1


def test_no_feed_without_the_setting_or_a_cache() -> None:
    for changes in ({"feed": False}, {"cache_ttl": 0}):
        engine, _, _ = memory_engine(**changes)
        verdict(engine, issue_token(engine.settings, "alice"))
        assert engine.feed is None


def test_a_writer_killed_between_the_event_and_the_change(url: str, reader: Engine) -> None:
    """Issue 11: the writer dies (SIGKILL) after its event, before its change: the readers forget the user and
    hold, the state (unchanged) is read again and never refused, and the next real change is seen as usual."""
    token = issue_token(reader.settings, "alice")
    assert verdict(reader, token) == "accepted"
    assert reader.feed is not None
    wait_for_health(reader.feed)
    events = reader.feed.events_read
    code = (
        "import os, signal, sys, time\n"
        "from jwtguard import Admin, Settings\n"
        "from jwtguard.sessions import flows\n"
        "admin = Admin(Settings(secret=sys.argv[1], store_url=sys.argv[2]))\n"
        "admin.run(flows.announce('alice', 'disable', now=time.time(), settings=admin.settings))\n"
        "os.kill(os.getpid(), signal.SIGKILL)  # before admin.disable_user's own write\n"
    )
    killed = subprocess.run([sys.executable, "-c", code, SECRET, url], timeout=60, capture_output=True)
    assert killed.returncode == -9, killed.stderr
    deadline = time.monotonic() + 3 * INTERVAL + 1.0
    while reader.feed.events_read == events:
        assert time.monotonic() < deadline, "the event was not read"
        time.sleep(0.01)
    for _ in range(5):
        assert verdict(reader, token) == "accepted"  # nothing changed, and nothing is refused for it
    cli(url, "disable", "alice")
    wait_for(reader, token, "disabled", 3 * INTERVAL + 1.0)


# -- the change-stream path, against a scripted stream (FerretDB has none) ----------------------------


class Scripted:
    """A change stream that plays a script: changes (dicts), None (nothing yet), or an exception to raise."""

    def __init__(self, script: list[Any], tokens: list[Any]) -> None:
        self.script = script
        self.tokens = tokens
        self.resume_token: Any = None
        self.closed = False

    def try_next(self) -> Any:
        if not self.script:
            raise AssertionError("the follower read past the script")
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, dict) and "_id" in step:
            self.resume_token = step["_id"]
        return step

    def close(self) -> None:
        self.closed = True


class StreamingStore(Loads):
    """A memory store with change streams: each watch() plays the next script."""

    def __init__(self, store: Any, scripts: list[list[Any]]) -> None:
        super().__init__(store)
        self.scripts = scripts
        self.opened: list[Any] = []
        self.streams: list[Scripted] = []

    def change_streams(self) -> bool:
        return True

    def watch(self, resume_after: Any, max_await: float) -> Scripted:
        self.opened.append(resume_after)
        if not self.scripts:
            raise AssertionError("opened once too often")
        stream = Scripted(self.scripts.pop(0), [])
        self.streams.append(stream)
        return stream


def test_the_change_stream_path_resumes_restarts_and_falls_back_to_polling() -> None:
    """Issue 11: a resumable error reopens after the last resume token; `invalidate` flushes and starts anew;
    a non-resumable error (history lost) flushes and polls from then on. The users collection's own changes
    (the app's writes) are followed too."""
    from pymongo.errors import AutoReconnect, OperationFailure

    from jwtguard.feed import Follower

    settings = feed_settings(None)
    memory = MemoryStore(settings)
    memory.put("alice", {})
    memory.put("bob", {})
    insert = {"_id": "t1", "operationType": "insert", "ns": {"coll": "users_events"},
              "fullDocument": {"_id": "e1", "user": "alice", "at": time.time(), "kind": "disable"}}  # fmt: skip
    app_write = {"_id": "t2", "operationType": "update", "ns": {"coll": "users"}, "documentKey": {"_id": "bob"}}
    invalidate = {"_id": "t3", "operationType": "invalidate"}
    lost = OperationFailure("change stream history lost", code=280)
    scripts: list[list[Any]] = [[insert, None, app_write, AutoReconnect("primary stepped down")], [invalidate], [lost]]
    store = StreamingStore(memory, scripts)
    bus = InvalidationBus()
    published: list[tuple[Hashable, float]] = []
    cleared: list[int] = []

    class Spy:
        fallback_ttl: float | None = None

        def invalidate(self, key: Hashable, hold: float = 0.0) -> None:
            published.append((key, hold))

        def clear(self) -> None:
            cleared.append(1)

    spy = Spy()
    bus.subscribe(spy)
    follower = Follower(settings, store, bus)
    follower.watch(spy)
    assert follower.streams()
    import threading

    assert follower.follow_stream(threading.Event()) is False  # gave up: poll from now on
    assert store.opened == [None, "t2", None]  # reopened after its token; anew after invalidate
    assert all(stream.closed for stream in store.streams)
    keys = [key for key, _ in published]
    from jwtguard.userid import user_key

    assert keys == [user_key("alice", "auto"), user_key("bob", "auto")]
    assert published[0][1] == follower.hold and published[1][1] == 0.0  # an event holds; the app's write is the change
    assert len(cleared) == 2  # the invalidate, the lost history
    assert not follower.healthy and spy.fallback_ttl == settings.feed_fallback_ttl
    announce(memory, settings, "alice")
    assert follower.poll() == 1 and follower.healthy  # polling works from here


@pytest.mark.skipif(
    not os.environ.get("JWTGUARD_TEST_MONGO_RS_URI"), reason="JWTGUARD_TEST_MONGO_RS_URI names no replica set"
)
def test_change_streams_on_a_real_replica_set() -> None:
    """Where a real replica set is at hand: the app's own write to a user document reaches the guard too."""
    import pymongo

    url = os.environ["JWTGUARD_TEST_MONGO_RS_URI"]
    settings = feed_settings(url)
    client: Any = pymongo.MongoClient(url)
    users = client.get_default_database("jwtguard")["users"]
    users.delete_many({"_id": "alice"})
    users.insert_one({"_id": "alice", "user_enabled": True})
    store = open_store(settings)
    engine = Engine(settings, store=store, bus=InvalidationBus())
    try:
        token = issue_token(settings, "alice")
        assert verdict(engine, token) == "accepted"
        assert engine.feed is not None
        wait_for_health(engine.feed)
        users.update_one({"_id": "alice"}, {"$set": {"user_enabled": False}})  # the app's write: no event
        wait_for(engine, token, "disabled", 3 * INTERVAL + 1.0)
    finally:
        if engine.feed is not None:
            engine.feed.stop()
        store.close()
        client.close()


def test_the_embedded_store_says_when_something_was_written(tmp_path: Any) -> None:
    """`PRAGMA data_version`: the follower queries the events table only after a commit (of any connection)."""
    from jwtguard.stores.sqlite import SQLiteStore

    settings = feed_settings(f"sqlite:///{tmp_path / 'v.db'}")
    store, writer = SQLiteStore(settings), Admin(settings)
    try:
        writer.create_user("alice")
        assert store.changed() is True  # first look
        assert store.changed() is False
        writer.disable_user("alice")  # another connection commits (an event, then the change)
        assert store.changed() is True
        assert store.changed() is False
        os.replace(tmp_path / "v.db", tmp_path / "old.db")  # the file replaced under the server
        assert store.changed() is True
    finally:
        store.close()
        writer.close()


def test_the_followers_stop_before_the_interpreter_finalizes(tmp_path: Path) -> None:
    """A guard never closed: its follower (a daemon thread) is stopped and joined at exit, before
    finalization, where a daemon thread still reading or logging can abort the process."""
    import textwrap

    script = textwrap.dedent(
        f"""
        import atexit, threading
        def ours():
            return [t.name for t in threading.enumerate() if t.name.startswith("jwtguard")]
        # Registered before jwtguard's own handler, so it runs after it (atexit is last in, first out).
        atexit.register(lambda: print("alive:", ours()))
        from jwtguard import JWTGuardWSGI, Settings, issue_token
        from jwtguard.admin import Admin
        settings = Settings(secret="s" * 48, store_url="sqlite:///{tmp_path / "exit.db"}", feed_interval=0.05)
        Admin(settings).create_user("alice")
        guard = JWTGuardWSGI(lambda e, s: [s("200 OK", []) or b"ok"][0:1], settings=settings)
        token = issue_token(settings, "alice")
        environ = {{"REQUEST_METHOD": "GET", "PATH_INFO": "/", "HTTP_AUTHORIZATION": "Bearer " + token}}
        list(guard(environ, lambda status, headers, exc_info=None: None))
        print("running:", ours())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "running: ['jwtguard-feed']" in done.stdout, done.stdout
    assert "alive: []" in done.stdout, done.stdout
