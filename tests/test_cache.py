"""The state cache: TTL with a fake clock, one load per key at a time, invalidation."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time

import pytest

from jwtguard.cache import ENTRY_OVERHEAD, SeenOnce, StateCache, TokenCache, token_digest
from jwtguard.errors import StoreError
from jwtguard.invalidation import invalidate_everywhere
from jwtguard.sansio.dpop import Proof, replay_name


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_values_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5, timer=clock)
    calls: list[str] = []

    def loader() -> str:
        calls.append("load")
        return f"v{len(calls)}"

    assert cache.load("k", loader) == "v1"
    clock.now += 4.9
    assert cache.load("k", loader) == "v1"
    clock.now += 0.2
    assert cache.load("k", loader) == "v2"
    assert (cache.hits, cache.misses) == (1, 2)


def test_none_is_cached_like_any_value() -> None:
    cache: StateCache[None] = StateCache(maxsize=10, ttl=5)
    calls: list[int] = []
    for _ in range(3):
        cache.load("ghost", lambda: calls.append(1))
    assert len(calls) == 1


def test_concurrent_thread_misses_share_one_load() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def slow_loader() -> str:
        calls.append(1)
        started.set()
        assert release.wait(10)
        return "state"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.load("alice", slow_loader))) for _ in range(16)]
    for thread in threads:
        thread.start()
    assert started.wait(10)
    time.sleep(0.1)  # let the other threads reach the flight
    release.set()
    for thread in threads:
        thread.join(10)
    assert results == ["state"] * 16
    assert len(calls) == 1


def test_concurrent_coroutine_misses_share_one_load() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)
    calls: list[int] = []

    async def loader() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)
        return "state"

    async def main() -> list[str]:
        return await asyncio.gather(*(cache.aload("alice", loader) for _ in range(50)))

    assert asyncio.run(main()) == ["state"] * 50
    assert len(calls) == 1


def test_a_failed_load_fails_every_waiter_and_is_not_cached() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise StoreError("down")

    async def main() -> list[object]:
        return await asyncio.gather(*(cache.aload("alice", failing) for _ in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, StoreError) for r in results)
    assert cache.load("alice", lambda: "back") == "back"


def test_a_cancelled_leader_does_not_hang_its_followers() -> None:
    """A cancelled leader (a client gone) is no store answer: its follower loads again itself
    (review: it used to get a made-up StoreError, which JWTGUARD_ON_STORE_ERROR=allow accepted)."""
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)

    async def slow() -> str:
        await asyncio.sleep(10)
        return "never"

    async def fresh() -> str:
        return "fresh"

    async def main() -> tuple[str | BaseException]:
        leader = asyncio.ensure_future(cache.aload("alice", slow))
        await asyncio.sleep(0.01)
        follower = asyncio.ensure_future(cache.aload("alice", fresh))
        await asyncio.sleep(0.01)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.wait_for(asyncio.gather(follower, return_exceptions=True), 5)

    (result,) = asyncio.run(main())
    assert result == "fresh"


def test_an_interrupted_thread_leader_lets_its_followers_load() -> None:
    """The same for threads: a leader interrupted by a BaseException hands its followers no answer."""
    import threading

    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)
    started, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def interrupted() -> str:
        started.set()
        release.wait(5)
        raise KeyboardInterrupt

    def leader() -> None:
        try:
            cache.load("alice", interrupted)
        except KeyboardInterrupt:
            outcome.append("leader interrupted")

    thread = threading.Thread(target=leader)
    thread.start()
    started.wait(5)
    follower = threading.Thread(target=lambda: outcome.append(cache.load("alice", lambda: "fresh")))
    follower.start()
    release.set()
    thread.join(5)
    follower.join(5)
    assert sorted(map(str, outcome)) == ["fresh", "leader interrupted"]


def test_invalidation_during_a_load_keeps_the_old_answer_out() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=60)

    def loader_racing_an_admin_change() -> str:
        invalidate_everywhere("alice")  # the admin wrote while this query was in flight
        return "before-change"

    assert cache.load("alice", loader_racing_an_admin_change) == "before-change"
    assert cache.load("alice", lambda: "after-change") == "after-change"


def test_invalidate_everywhere_reaches_every_cache() -> None:
    first: StateCache[str] = StateCache(maxsize=10, ttl=60)
    second: StateCache[str] = StateCache(maxsize=10, ttl=60)
    first.load("alice", lambda: "old")
    second.load("alice", lambda: "old")
    invalidate_everywhere("alice")
    assert first.load("alice", lambda: "new") == "new"
    assert second.load("alice", lambda: "new") == "new"


def test_last_known_is_bounded_by_age() -> None:
    clock = FakeClock()
    cache: StateCache[str] = StateCache(maxsize=10, ttl=1, keep_last_known=True, timer=clock)
    cache.load("alice", lambda: "state")
    clock.now += 30
    assert cache.last_known("alice", max_age=60) == ("state", 30)
    assert cache.last_known("alice", max_age=10) is None
    assert cache.last_known("bob", max_age=60) is None


def test_size_is_bounded() -> None:
    cache: StateCache[int] = StateCache(maxsize=100, ttl=60)
    for i in range(1000):
        cache.load(i, lambda i=i: i)  # type: ignore[misc]
    assert len(cache) == 100


# -- the verified-token cache (issue 11: keyed by a digest, bounded by bytes) -------------------


def _tokens(
    maxsize: int = 100, maxbytes: int = 10_000, ttl: float = 5, clock: FakeClock | None = None
) -> TokenCache[str]:
    return TokenCache(maxsize=maxsize, maxbytes=maxbytes, ttl=ttl, timer=clock or FakeClock())


def test_token_entries_are_weighed_and_the_oldest_go_first() -> None:
    """Each entry weighs what the caller says plus its own overhead; beyond the budget the oldest written go."""
    weight = 1000 - ENTRY_OVERHEAD  # each entry then weighs 1000
    cache = _tokens(maxbytes=3500)
    for name in "abc":
        cache.set(name, name, weight)
    assert len(cache) == 3 and cache.nbytes == 3000
    cache.set("d", "d", weight)  # 4000 > 3500: "a" goes
    assert [cache.get(name) for name in "abcd"] == [None, "b", "c", "d"]
    assert cache.nbytes == 3000
    cache.set("big", "big", 2500 - ENTRY_OVERHEAD)  # needs room for 2500: "b" and "c" go
    assert [cache.get(name) for name in ("b", "c", "d", "big")] == [None, None, "d", "big"]
    assert cache.nbytes == 3500
    cache.set("d", "d2", 10 - ENTRY_OVERHEAD)  # a rewrite replaces its weight, moves to the young end
    assert cache.nbytes == 2510 and cache.get("d") == "d2"
    cache.pop("big")
    assert cache.nbytes == 10 and len(cache) == 1
    cache.clear()
    assert cache.nbytes == 0 and len(cache) == 0


def test_an_entry_heavier_than_the_budget_is_never_kept() -> None:
    cache = _tokens(maxbytes=1000)
    cache.set("small", "small", 100)
    cache.set("huge", "huge", 1000)  # 1000 + the overhead > 1000
    assert cache.get("huge") is None and cache.get("small") == "small"
    assert cache.nbytes == 100 + ENTRY_OVERHEAD
    assert len(_tokens(maxbytes=0)) == 0  # a zero budget keeps nothing at all


def test_the_entry_count_stays_bounded_too() -> None:
    cache = _tokens(maxsize=3, maxbytes=10**9)
    for i in range(10):
        cache.set(str(i), str(i), 1)
    assert len(cache) == 3 and [cache.get(str(i)) for i in (6, 7, 8, 9)] == [None, "7", "8", "9"]
    assert cache.nbytes == 3 * (1 + ENTRY_OVERHEAD)


def test_expired_token_entries_give_their_bytes_back() -> None:
    clock = FakeClock()
    cache = _tokens(ttl=5, clock=clock)
    cache.set("a", "a", 100)
    clock.now += 4.9
    assert cache.get("a") == "a"
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0 and cache.nbytes == 0


def test_the_key_is_a_digest_of_the_whole_token() -> None:
    """No token is held: the key is 32 bytes whatever the token, and a one-character change is another key."""
    token = "eyJhbGciOiJIUzI1NiJ9." + "x" * 8000 + ".sig"
    digest = token_digest(token)
    assert digest == hashlib.sha256(token.encode()).digest() and len(digest) == 32
    assert token_digest(token[:-1] + "h") != digest
    cache = _tokens()
    cache.set(token, "verified", 10)
    assert list(cache._data) == [digest] and cache.get(token) == "verified"
    assert cache.get(token[:-1] + "h") is None
    assert not any(isinstance(getattr(cache, name), str) for name in TokenCache.__slots__)  # not even the last miss


def test_seen_once_remembers_a_name_for_at_least_its_window() -> None:
    """RFC 9449 §11.1 (the engine's replay check): a proof's name is refused again for at least the
    window (JWTGUARD_DPOP_MAX_AGE plus the leeway), whichever generation holds it, and forgotten
    after two windows, a generation at a time."""
    now = [1000.0]
    seen = SeenOnce(60.0, timer=lambda: now[0])
    assert seen.first("a") is True and seen.first("a") is False
    now[0] += 59.9
    assert seen.first("a") is False  # the same generation
    now[0] += 0.2
    assert seen.first("b") is True  # the turn: "a" moves to the previous generation
    now[0] += 59.0
    assert seen.first("a") is False and seen.first("b") is False  # 119 s and 59 s old: both held
    now[0] += 1.0
    assert seen.first("c") is True  # the next turn drops "a" (more than one window old)
    assert seen.first("a") is True and seen.first("b") is False
    now[0] += 1000.0  # two windows without a turn: all held is older than the window
    assert seen.first("x") is True and len(seen) == 1
    assert seen.first("b") is True and seen.first("c") is True


def test_seen_once_holds_100_to_200_bytes_a_proof() -> None:
    """README (DPoP, replay): what one remembered proof costs in a process, its name included (the
    set's growth steps make it vary with the count: about 130 bytes at 100 000, 190 at 20 000)."""
    import tracemalloc

    seen = SeenOnce(60.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            seen.first(replay_name(Proof("k" * 43, f"jti-{i}", 0, None)))
        held = (tracemalloc.get_traced_memory()[0] - before) / 20_000
    finally:
        tracemalloc.stop()
    assert len(seen) == 20_000 and 80 < held < 220
