"""Soak: both adapters hammered at once while an admin flips users on and off.

WSGI threads (Flask test clients) and ASGI tasks (httpx's ASGI transport on an
event loop of their own) send valid, revoked (logged out everywhere), forged
and unknown-user tokens for a fixed time. An admin thread disables and
re-enables users through :class:`jwtguard.Admin` (same process: the change
applies at once) and by writing with pymongo directly (another process: seen
within ``JWTGUARD_CACHE_TTL``). Every answer is checked against the state the
user was in while the request ran, allowing the old answer only within that
propagation bound. Run with ``-s`` to see the request counts.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from harness import ASGITarget, WSGITarget

from jwtguard import Admin, Settings
from jwtguard.cache import StateCache
from jwtguard.invalidation import invalidate_everywhere

from conftest import SECRET

DURATION = 8.0
MAXSIZE = 32  # fewer than the users, tokens and ghosts below: eviction is exercised
TTL = 1.0
#: A read that started before another process's write may finish after it and
#: then live for a TTL in the cache: the documented bound is the TTL, plus the
#: duration of that read (generous on a shared two-core machine).
SLACK = 1.0
USERS = [f"u{n:02d}" for n in range(40)]
GHOSTS = [f"ghost{n}" for n in range(60)]
WSGI_THREADS = 4
ASGI_TASKS = 48


# -- what the answer should be -------------------------------------------------------


@dataclass
class Change:
    started: float
    enabled: bool
    lag: float  # 0 through Admin; TTL + SLACK for a direct write
    ended: float | None = None


@dataclass
class World:
    """Every change made to each user's enabled flag, and when."""

    history: dict[str, list[Change]] = field(default_factory=lambda: {user: [] for user in USERS})

    def allowed(self, user: str, t0: float, t1: float) -> set[bool]:
        """The enabled values an answer to a request sent at *t0* and answered at *t1* may reflect."""
        allowed: set[bool] = set()
        value, since = True, -math.inf
        for change in list(self.history[user]):
            # The value before this change may be served until the change is done
            # (and, for another process's write, until its propagation bound).
            until = math.inf if change.ended is None else change.ended + change.lag
            if since <= t1 and until >= t0:
                allowed.add(value)
            value, since = change.enabled, change.started
        if since <= t1:
            allowed.add(value)
        return allowed


@dataclass
class Tokens:
    valid: dict[str, list[str]]
    revoked: dict[str, str]
    forged: list[str]
    ghosts: list[str]


def check(world: World, kind: str, user: str, t0: float, t1: float, status: int, headers: Any, body: bytes) -> str:
    """'' when the answer is right, else what is wrong with it."""
    signal = headers.get("x-user-enabled")
    if kind == "forged":
        ok = status == 401 and b'"invalid"' in body and signal is None
        return "" if ok else f"forged token: {status} {body!r} {signal}"
    if kind == "ghost":
        ok = status == 401 and b'"unknown_user"' in body and signal == "false"
        return "" if ok else f"unknown user: {status} {body!r} {signal}"
    if status == 401 and b'"disabled"' in body and signal == "false":
        seen = False
    elif (kind == "valid" and status == 200 and signal == "true") or (
        kind == "revoked" and status == 401 and b'"revoked"' in body and signal is None
    ):
        seen = True
    else:
        return f"{kind} token of {user}: {status} {body!r} {signal}"
    allowed = world.allowed(user, t0, t1)
    if seen not in allowed:
        return f"{kind} token of {user} answered as enabled={seen}, allowed {allowed} in [{t0:.3f}, {t1:.3f}]"
    return ""


def pick(rng: random.Random, tokens: Tokens) -> tuple[str, str, str]:
    """(kind, user, token): half valid, the rest revoked, forged and unknown users."""
    roll = rng.random()
    user = rng.choice(USERS)
    if roll < 0.5:
        return "valid", user, rng.choice(tokens.valid[user])
    if roll < 0.7:
        return "revoked", user, tokens.revoked[user]
    if roll < 0.85:
        return "forged", user, rng.choice(tokens.forged)
    return "ghost", "", rng.choice(tokens.ghosts)


# -- the run ---------------------------------------------------------------------------


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, adapter: str, kind: str, status: int, error: str) -> None:
        with self.lock:
            self.counts[f"{adapter} {kind} {status}"] += 1
            if error and len(self.wrong) < 20:
                self.wrong.append(f"[{adapter}] {error}")
            if error:
                self.counts["wrong"] += 1


def make_tokens(admin: Admin) -> Tokens:
    revoked = {user: admin.issue_token(user) for user in USERS}
    for user in USERS:
        admin.logout_everywhere(user)  # every token above is dead from here on
    valid = {user: [admin.issue_token(user) for _ in range(3)] for user in USERS}
    now = int(time.time())
    forged = [
        jwt.encode({"sub": user, "iat": now, "exp": now + 600}, "another-secret-" * 4, algorithm="HS256")
        for user in USERS
    ]
    forged += [valid[user][0][:-4] + "AAAA" for user in USERS]  # a valid token with its signature altered
    forged += ["e30.e30.e30", "x.y.z", "a" * 300]
    ghosts = [admin.issue_token(ghost) for ghost in GHOSTS]
    return Tokens(valid, revoked, forged, ghosts)


@pytest.mark.slow
def test_soak_both_adapters_while_an_admin_flips_users(mongo_uri: str, users: Any) -> None:
    users.insert_many([{"_id": user, "user_enabled": True} for user in USERS])
    settings = Settings(secret=SECRET, store_url=mongo_uri, cache_ttl=TTL, cache_maxsize=MAXSIZE, store_timeout=5.0)
    admin = Admin(settings)
    tokens = make_tokens(admin)
    world = World()
    tally = Tally()
    stop = threading.Event()

    wsgi, asgi = WSGITarget(settings), ASGITarget(settings)  # the shared harness: real Flask and Starlette
    guards = [wsgi.engine, asgi.engine]

    def wsgi_worker(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            kind, user, token = pick(rng, tokens)
            t0 = time.monotonic()
            reply = wsgi.get(token)
            t1 = time.monotonic()
            error = check(world, kind, user, t0, t1, reply.status, reply.headers, reply.body)
            tally.record("wsgi", kind, reply.status, error)

    async def asgi_run() -> None:
        async def task(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                kind, user, token = pick(rng, tokens)
                t0 = time.monotonic()
                reply = await asgi.aget(token)
                t1 = time.monotonic()
                error = check(world, kind, user, t0, t1, reply.status, reply.headers, reply.body)
                tally.record("asgi", kind, reply.status, error)

        await asyncio.gather(*(task(1000 + n) for n in range(ASGI_TASKS)))

    def admin_worker() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            user = rng.choice(USERS)
            history = world.history[user]
            enabled = not (history[-1].enabled if history else True)
            direct = rng.random() < 0.5
            change = Change(time.monotonic(), enabled, TTL + SLACK if direct else 0.0)
            history.append(change)
            if direct:  # another process: no cache in this one hears of it
                users.update_one({"_id": user}, {"$set": {"user_enabled": enabled}})
            elif enabled:
                admin.enable_user(user)
            else:
                admin.disable_user(user)
            change.ended = time.monotonic()
            time.sleep(0.02)

    sizes: Counter[str] = Counter()

    def sampler() -> None:
        while not stop.is_set():
            for guard in guards:
                snap = guard.metrics.snapshot()
                sizes["state"] = max(sizes["state"], snap["state_cache"]["size"])
                sizes["token"] = max(sizes["token"], snap["token_cache"]["size"])
            time.sleep(0.02)

    threads = [threading.Thread(target=wsgi_worker, args=(n,)) for n in range(WSGI_THREADS)]
    threads += [
        threading.Thread(target=lambda: asgi.run(asgi_run(), timeout=DURATION + 60)),  # on the target's loop
        threading.Thread(target=admin_worker),
        threading.Thread(target=sampler),
    ]
    try:
        for thread in threads:
            thread.start()
        # Memory is traced over the second half only (tracing slows every allocation):
        # what is allocated there and still alive at the end is the growth.
        time.sleep(DURATION / 2)
        tracemalloc.start()
        time.sleep(0.5)
        baseline = tracemalloc.get_traced_memory()[0]
        time.sleep(DURATION / 2 - 0.5)
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        tracemalloc.stop()
        wsgi.close()
        asgi.close()
        admin.close()
    assert not any(thread.is_alive() for thread in threads), "a worker hung"

    counts = tally.counts
    total = {adapter: sum(n for key, n in counts.items() if key.startswith(adapter)) for adapter in ("wsgi", "asgi")}
    changes = sum(len(history) for history in world.history.values())
    print(f"\nsoak {DURATION:.0f} s: {total['wsgi']} WSGI + {total['asgi']} ASGI requests, {changes} admin changes")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    print(
        f"  largest caches: state {sizes['state']}, tokens {sizes['token']} (max {MAXSIZE}); "
        f"memory grown over the last {DURATION / 2 - 0.5:.1f} s: {grown / 1024:.0f} KiB"
    )

    assert tally.wrong == [], "\n".join(tally.wrong)
    assert not any(int(key.rsplit(" ", 1)[1]) >= 500 for key in counts if key != "wrong")
    # Every kind of answer was seen through both adapters, the admin's flips included.
    for adapter in ("wsgi", "asgi"):
        for seen in ("valid 200", "valid 401", "revoked 401", "forged 401", "ghost 401"):
            assert counts[f"{adapter} {seen}"] > 0, f"{adapter} {seen}"
    assert changes > 50
    assert 0 < sizes["state"] <= MAXSIZE
    assert 0 < sizes["token"] <= MAXSIZE
    assert grown < 4 * 1024 * 1024, f"{grown} bytes"


# -- the cache detail that makes "at once" true --------------------------------------


def test_a_request_after_an_admin_change_never_joins_an_older_load() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)
    started, release = threading.Event(), threading.Event()
    answers: dict[str, str] = {}

    def old_read() -> str:
        started.set()
        assert release.wait(10)
        return "before the change"

    older = threading.Thread(target=lambda: answers.update(older=cache.load("alice", old_read)))
    older.start()
    assert started.wait(10)
    invalidate_everywhere("alice")  # the admin's write has landed meanwhile
    # A request that arrives now reads again, instead of waiting for the older read.
    newer = threading.Thread(target=lambda: answers.update(newer=cache.load("alice", lambda: "after the change")))
    newer.start()
    newer.join(5)
    joined_the_older_load = newer.is_alive()
    release.set()
    older.join(10)
    newer.join(10)
    assert not joined_the_older_load
    assert answers == {"older": "before the change", "newer": "after the change"}
    assert cache.load("alice", lambda: "reloaded") == "after the change"  # the cache holds the new one


def test_a_coroutine_after_an_admin_change_never_joins_an_older_load() -> None:
    cache: StateCache[str] = StateCache(maxsize=10, ttl=5)

    async def main() -> tuple[str, str, str]:
        started, release = asyncio.Event(), asyncio.Event()

        async def old_read() -> str:
            started.set()
            await release.wait()
            return "before the change"

        async def new_read() -> str:
            return "after the change"

        older = asyncio.create_task(cache.aload("alice", old_read))
        await started.wait()
        invalidate_everywhere("alice")
        newer = await asyncio.wait_for(cache.aload("alice", new_read), 5)
        release.set()
        return await older, newer, await cache.aload("alice", new_read)

    assert asyncio.run(main()) == ("before the change", "after the change", "after the change")
