"""Issue 8: the engine's own parts: its flow and drivers, the TTL map, the invalidation bus, MemoryStore."""

from __future__ import annotations

import asyncio
import gc
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest

from jwtguard import AsyncMemoryStore, Change, MemoryStore, Settings, issue_token
from jwtguard.cache import ENTRY_OVERHEAD, StateCache, TTLMap
from jwtguard.engine import Engine, LoadState, VerifyToken, footprint
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import Request, Verified, user_state
from jwtguard.userid import user_key

from conftest import SECRET

T = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(token: str) -> Request:
    return Request("GET", "/api", (f"Bearer {token}",))


def test_the_flow_yields_only_what_is_not_cached() -> None:
    """issue 8: lookups are steps the drivers perform; a fully cached request yields nothing."""
    settings = Settings(secret=SECRET)
    store = MemoryStore(settings)
    store.put("alice", {})
    engine = Engine(settings, store=store, clock=lambda: T, bus=InvalidationBus())
    token = issue_token(settings, "alice", now=T - 10)

    def steps() -> list[str]:
        flow = engine._flow(request(token))
        seen = []
        try:
            step = next(flow)
            while True:
                seen.append(type(step).__name__)
                if isinstance(step, VerifyToken):
                    answer: Any = engine.verify(step.token)
                else:
                    assert isinstance(step, LoadState)
                    answer = engine.states.load(step.key, lambda: engine._load("alice"))
                step = flow.send(answer)
        except StopIteration as done:
            assert done.value.kind == "accept"
        return seen

    assert steps() == ["VerifyToken", "LoadState"]
    assert steps() == []  # the repeat request: one synchronous call
    assert engine.metrics.snapshot()["store"]["loads"] == 1


def test_both_drivers_decide_alike() -> None:
    """issue 8: one flow, a sync and an async driver; the same answers for the same requests."""
    settings = Settings(secret=SECRET)
    sync_store, async_store = MemoryStore(settings), AsyncMemoryStore(settings)
    for store in (sync_store, async_store):
        store.put("alice", {})
        store.put("bob", {"user_enabled": False})
    sync = Engine(settings, store=sync_store, clock=lambda: T, bus=InvalidationBus())
    asynchronous = Engine(settings, async_store=async_store, clock=lambda: T, bus=InvalidationBus())
    tokens = [issue_token(settings, user, now=T - 10) for user in ("alice", "bob", "carol")]
    tokens += ["not-a-token", jwt.encode({"sub": "alice", "iat": T, "exp": T - 1}, SECRET, "HS256")]

    async def run() -> list[str]:
        return [(await asynchronous.ahandle(request(token))).reason for token in tokens]

    expected = ["accepted", "disabled", "unknown_user", "invalid", "expired"]
    assert [sync.handle(request(token)).reason for token in tokens] == expected
    assert asyncio.run(run()) == expected


def test_an_engine_hears_admin_changes_on_its_own_bus_only() -> None:
    """issue 8: invalidation is an explicit bus the engine subscribes to."""
    settings = Settings(secret=SECRET)
    bus, other = InvalidationBus(), InvalidationBus()
    store = MemoryStore(settings)
    store.put("alice", {})
    engine = Engine(settings, store=store, clock=lambda: T, bus=bus)
    token = issue_token(settings, "alice", now=T - 10)
    assert engine.handle(request(token)).kind == "accept"
    store.apply("alice", Change(enabled=False))
    key = user_key("alice")
    other.publish(key)
    assert engine.handle(request(token)).kind == "accept"  # still the cached state
    bus.publish(key)
    assert engine.handle(request(token)).reason == "disabled"


def test_the_bus_holds_its_subscribers_weakly() -> None:
    """issue 8: a dropped middleware's cache leaves the bus by itself."""
    bus = InvalidationBus()
    cache: StateCache[int] = StateCache(maxsize=4, ttl=60, bus=bus)
    assert len(bus._subscribers) == 1
    del cache
    gc.collect()
    assert len(bus._subscribers) == 0


def test_ttl_map_expires_and_evicts_the_oldest() -> None:
    """issue 8: the lock-free map behind both caches, on a fake timer."""
    clock = Clock()
    entries: TTLMap[str, int] = TTLMap(maxsize=2, ttl=5, timer=clock)
    entries.set("a", 1)
    clock.now = 1
    entries.set("b", 2)
    assert entries.get("a") == 1 and len(entries) == 2
    clock.now = 2
    entries.set("c", 3)  # full: the oldest written goes
    assert entries.get("a") is None and entries.get("b") == 2 and entries.get("c") == 3
    clock.now = 6  # "b" was set at 1: expired at 6; "c" lives until 7
    assert entries.get("b") is None and entries.get("c") == 3 and len(entries) == 1
    entries.set("c", 4)
    clock.now = 10.9
    assert entries.get("c") == 4  # rewritten at 6: lives until 11
    clock.now = 11
    assert entries.get("c") is None
    entries.clear()
    assert len(entries) == 0


def test_memory_store_follows_the_store_rules() -> None:
    """issue 8: the in-memory store for users' tests: create leaves users alone, cut-offs only move later."""
    settings = Settings(secret=SECRET)
    store = MemoryStore(settings)
    assert store.load("alice") is None
    assert store.apply("alice", Change(enabled=False)) is False
    assert store.apply("alice", Change(create=True)) is True
    assert store.apply("alice", Change(enabled=False))
    assert store.apply("alice", Change(create=True))
    assert user_state(store.load("alice"), settings).enabled is False  # type: ignore[union-attr]
    later, earlier = (datetime.fromtimestamp(t, timezone.utc) for t in (T, T - 3600))
    store.apply("alice", Change(not_before=later))
    store.apply("alice", Change(not_before=earlier))
    assert user_state(store.load("alice"), settings).not_before == T  # type: ignore[union-attr]
    hex_id = "65a1b2c3d4e5f6a7b8c9d0e1"
    store.put(hex_id.upper(), {})
    assert store.load(hex_id) is not None  # one user for every spelling, as the other stores


@pytest.mark.parametrize("ttl", [0, 5])
def test_token_cache_ttl_zero_checks_every_signature(ttl: float) -> None:
    """issue 8: JWTGUARD_TOKEN_CACHE_TTL=0 remembers no verification."""
    settings = Settings(secret=SECRET, token_cache_ttl=ttl)
    store = MemoryStore(settings)
    store.put("alice", {})
    engine = Engine(settings, store=store, clock=lambda: T, bus=InvalidationBus())
    token = issue_token(settings, "alice", now=T - 10)
    for _ in range(3):
        assert engine.handle(request(token)).kind == "accept"
    assert engine.metrics.snapshot()["token_cache"]["misses"] == (3 if ttl == 0 else 1)


def test_a_cancelled_request_never_lets_another_through_as_an_outage() -> None:
    """Review: a client that disconnects while its state load is in flight must not turn the requests waiting
    on that load into store failures (under JWTGUARD_ON_STORE_ERROR=allow that accepted a disabled user)."""
    settings = Settings(secret=SECRET, on_store_error="allow")

    class Slow(AsyncMemoryStore):
        async def load(self, user_id: Any) -> Any:
            await asyncio.sleep(0.05)
            return await super().load(user_id)

    store = Slow(settings)
    store.put("bob", {"user_enabled": False})
    engine = Engine(settings, async_store=store, clock=lambda: T, bus=InvalidationBus())
    token = issue_token(settings, "bob", now=T - 10)

    async def run() -> str:
        first = asyncio.ensure_future(engine.ahandle(request(token)))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(engine.ahandle(request(token)))
        await asyncio.sleep(0.01)
        first.cancel()
        return (await asyncio.wait_for(second, 5)).reason

    assert asyncio.run(run()) == "disabled"
    assert engine.metrics.snapshot()["store"]["errors"] == 0


def test_the_login_hint_never_writes_a_raw_newline(caplog: pytest.LogCaptureFixture) -> None:
    """Review of issue 9 item 2: the path comes from the client; a decoded %0A must not forge a log line."""
    import logging

    engine = Engine(Settings(secret=SECRET), store=MemoryStore(Settings(secret=SECRET)), bus=InvalidationBus())
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        engine.handle(Request("POST", "/x\n2026-01-01 INFO jwtguard: admin granted\n/login"))
    (message,) = [r.getMessage() for r in caplog.records if "JWTGUARD_EXEMPT_PATHS" in r.getMessage()]
    assert "\n" not in message


def test_token_cache_bytes_bounds_what_is_remembered() -> None:
    """Issue 11: JWTGUARD_TOKEN_CACHE_BYTES weighs each verification; the oldest go beyond it, 0 keeps none."""
    settings = Settings(secret=SECRET)
    store = MemoryStore(settings)
    store.put("alice", {})
    token = issue_token(settings, "alice", now=T - 10)
    one = footprint(Engine(settings, store=store, clock=lambda: T, bus=InvalidationBus()).verify(token))  # type: ignore[arg-type]
    budget = 3 * (one + ENTRY_OVERHEAD) + 10
    engine = Engine(settings.replace(token_cache_bytes=budget), store=store, clock=lambda: T, bus=InvalidationBus())
    tokens = [issue_token(settings, "alice", now=T - 10) for _ in range(5)]
    for token in tokens:
        assert engine.handle(request(token)).kind == "accept"
    cache = engine._tokens
    assert len(cache) == 3 and cache.nbytes <= budget
    assert all(len(key) == 32 for key in cache._data)  # digests: no token is held
    for token in tokens[2:]:
        assert engine.handle(request(token)).kind == "accept"  # the three youngest are hits
    assert engine.metrics.snapshot()["token_cache"] == {"hits": 3, "misses": 5, "size": 3}
    none = Engine(settings.replace(token_cache_bytes=0), store=store, clock=lambda: T, bus=InvalidationBus())
    for _ in range(2):
        assert none.handle(request(tokens[0])).kind == "accept"
    assert none.metrics.snapshot()["token_cache"] == {"hits": 0, "misses": 2, "size": 0}


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"scope": "read write", "roles": ["admin", "user"], "email": "alice@example.com", "tv": 3},
        {"pad": "x" * 6000},
        {"groups": list(range(1000, 1600))},  # many small values: far more memory than the token's length
        {"orgs": [{"id": i, "name": f"org-{i}", "tags": ["a", "b"]} for i in range(60)]},
        {"name": "Zoë 🐍" * 200},  # a non-ASCII text takes up to four bytes a character
    ],
    ids=["minimal", "typical", "big-string", "many-ints", "nested", "non-ascii"],
)
def test_the_weight_of_a_verification_follows_the_memory_it_holds(claims: dict[str, Any]) -> None:
    """Issue 11: footprint() is what tracemalloc sees a cached verification keep, within a margin, never far below."""
    import tracemalloc

    settings = Settings(secret=SECRET)
    engine = Engine(settings, store=MemoryStore(settings), clock=lambda: T, bus=InvalidationBus())
    token = issue_token(settings, "alice", now=T - 10, **claims)
    engine.verify(token)  # warm: first-call allocations are not the entry's
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        verified = engine.verify(token)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert isinstance(verified, Verified)
    weight = footprint(verified)
    assert held <= weight <= 2 * held + 512, (weight, held)
