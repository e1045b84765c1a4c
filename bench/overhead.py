"""Per-request overhead of jwtguard on a repeat token, against the bare app, in one run.

Calls the WSGI/ASGI callables directly with a prebuilt environ/scope, so client and server costs
are left out and only the app + middleware remain. Each pair (bare, guarded) is timed in rounds
that alternate between the two (and which goes first), so machine noise hits both alike; a row is
the median of its rounds' per-request times, with the best round beside it. Runs in ~10-20 s:

    make bench                                   # or: .venv/bin/python bench/overhead.py
    .venv/bin/python bench/overhead.py --rounds 15 --check   # exit 1 when a target is missed
    .venv/bin/python bench/overhead.py --profile             # where a repeat Flask request's time goes

Targets (issue 8): Flask + JWTGuardWSGI <= 1.10x bare Flask, Starlette + JWTGuardASGI <= 1.25x
bare Starlette, the guard's own cost (a trivial WSGI app, guarded minus bare) <= 2 us.

Only the public API is used (JWTGuardWSGI, JWTGuardASGI, Settings, issue_token). The store is an
in-memory dict: with a warm cache (the case measured) the store is never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

import jwt

from jwtguard import Admin, JWTGuardASGI, JWTGuardWSGI, MemoryStore, Settings, issue_token

SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
BATCH_SECONDS = 0.1  # each round times about this long per side

WSGI_TARGET = 1.10
ASGI_TARGET = 1.25
GUARD_COST_TARGET_US = 2.0


class DictStore:
    """A store stand-in: the user documents in a dict."""

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {"alice": {"_id": "alice", "user_enabled": True}}

    def load(self, user_id: Any) -> Any:
        return self.docs.get(user_id)

    def apply(self, user_id: Any, change: Any) -> bool:
        return user_id in self.docs

    def close(self) -> None:
        pass


class AsyncDictStore:
    """The same, for JWTGuardASGI."""

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {"alice": {"_id": "alice", "user_enabled": True}}

    async def load(self, user_id: Any) -> Any:
        return self.docs.get(user_id)

    async def apply(self, user_id: Any, change: Any) -> bool:
        return user_id in self.docs

    async def close(self) -> None:
        pass


# -- apps and requests -----------------------------------------------------------------------------


def flask_app() -> Any:
    from flask import Flask

    app = Flask("bench")

    @app.get("/api/me")
    def me() -> Any:
        return {"ok": True}

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/me", me)])


def trivial_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def wsgi_environ(token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/me",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }


def asgi_scope(token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/me",
        "raw_path": b"/api/me",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


# -- timing ----------------------------------------------------------------------------------------

# A side of a pair: run n requests, return the seconds they took (garbage collection off, as timeit).
Side = Callable[[int], float]


def wsgi_side(app: Any, environ: dict[str, Any]) -> Side:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            body = app(dict(environ), start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return time.perf_counter() - start

    return run


def asgi_side(app: Any, scope: dict[str, Any], loop: asyncio.AbstractEventLoop) -> Side:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def requests(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return time.perf_counter() - start

    def run(n: int) -> float:
        return loop.run_until_complete(requests(n))

    return run


def calibrate(side: Side) -> int:
    """How many requests take about BATCH_SECONDS (after a warm-up that fills the caches)."""
    side(50)
    n = 100
    while (elapsed := side(n)) < BATCH_SECONDS / 4:
        n *= 4
    return max(100, int(n * BATCH_SECONDS / elapsed))


def timed(side: Side, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        return side(n)
    finally:
        gc.enable()


def pair(bare: Side, guarded: Side, rounds: int) -> tuple[list[float], list[float]]:
    """Per-request microseconds of each round, bare and guarded, timed in alternating turns."""
    n = calibrate(guarded)  # the slower side: the batch is at most ~BATCH_SECONDS
    calibrate(bare)
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2:
            b.append(timed(guarded, n) / n * 1e6)
            a.append(timed(bare, n) / n * 1e6)
        else:
            a.append(timed(bare, n) / n * 1e6)
            b.append(timed(guarded, n) / n * 1e6)
    return a, b


# -- report ----------------------------------------------------------------------------------------


def row(name: str, rounds: list[float]) -> str:
    return f"  {name:40s} {statistics.median(rounds):8.2f} us   (best {min(rounds):8.2f})"


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def bench(rounds: int) -> bool:
    settings = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600, token_cache_ttl=3600)
    token = issue_token(settings, "alice", ttl=3600)
    environ = wsgi_environ(token)

    decode = [
        timed(lambda n: _repeat(n, lambda: jwt.decode(token, SECRET, algorithms=["HS256"])), 2000) / 2000 * 1e6
        for _ in range(rounds)
    ]

    guarded_flask = flask_app()
    guarded_flask.wsgi_app = JWTGuardWSGI(guarded_flask.wsgi_app, settings=settings, store=DictStore())
    flask_bare, flask_guarded = pair(wsgi_side(flask_app(), environ), wsgi_side(guarded_flask, environ), rounds)

    trivial_guard = JWTGuardWSGI(trivial_app, settings=settings, store=DictStore())
    trivial_bare, trivial_guarded = pair(wsgi_side(trivial_app, environ), wsgi_side(trivial_guard, environ), rounds)

    # Issue 10: the same guard with sessions on, a session token (sid, tv, jti checked against the
    # user's records: a live session, a version, a few denied ids) versus the plain token above.
    session_settings = settings.replace(sessions=True, issuer="https://bench.example")
    memory = MemoryStore(session_settings)
    memory.put("alice", {"user_enabled": True})
    admin = Admin(session_settings, store=memory)
    for _ in range(3):
        admin.revoke_jti("alice", secrets.token_urlsafe(16))
    admin.login("alice")  # another device
    session_token = admin.login("alice", description="bench").access_token
    session_guard = JWTGuardWSGI(trivial_app, settings=session_settings, store=memory)
    # The writes above are events of the feed: the guard's follower reads them and holds the user
    # (no state cached, every request a store read) for its hold (issue 11), 2.5 s at these settings.
    # The repeat request is what is measured here: start after the hold.
    wsgi_side(session_guard, wsgi_environ(session_token))(1)
    time.sleep(max(1.0, 2 * session_settings.feed_interval + session_settings.store_timeout) + 0.5)
    plain_guarded, session_guarded = pair(
        wsgi_side(trivial_guard, environ), wsgi_side(session_guard, wsgi_environ(session_token)), rounds
    )

    loop = asyncio.new_event_loop()
    try:
        scope = asgi_scope(token)
        asgi_guard = JWTGuardASGI(starlette_app(), settings=settings, store=AsyncDictStore())
        star_bare, star_guarded = pair(
            asgi_side(starlette_app(), scope, loop), asgi_side(asgi_guard, scope, loop), rounds
        )
    finally:
        loop.close()

    # Ratios and differences per round (the two sides of a round ran back to back), then the median.
    wsgi_ratio = statistics.median(g / b for b, g in zip(flask_bare, flask_guarded, strict=True))
    asgi_ratio = statistics.median(g / b for b, g in zip(star_bare, star_guarded, strict=True))
    guard_cost = statistics.median(g - b for b, g in zip(trivial_bare, trivial_guarded, strict=True))

    print(f"jwtguard per-request overhead, repeat token, {rounds} interleaved rounds (median per request)")
    print(row("PyJWT decode, HS256 (for scale)", decode))
    print(row("trivial WSGI app, bare", trivial_bare))
    print(row("trivial WSGI app + JWTGuardWSGI", trivial_guarded))
    print(row("trivial WSGI app + guard, plain token", plain_guarded))
    print(row("trivial WSGI app + guard, session token", session_guarded))
    print(row("Flask, bare", flask_bare))
    print(row("Flask + JWTGuardWSGI", flask_guarded))
    print(row("Starlette, bare", star_bare))
    print(row("Starlette + JWTGuardASGI", star_guarded))
    print("against the targets (issue 8):")
    checks = [
        (f"WSGI: {wsgi_ratio:.3f}x bare Flask", f"<= {WSGI_TARGET:.2f}x", wsgi_ratio <= WSGI_TARGET),
        (f"ASGI: {asgi_ratio:.3f}x bare Starlette", f"<= {ASGI_TARGET:.2f}x", asgi_ratio <= ASGI_TARGET),
        (
            f"guard's own cost: {guard_cost:.2f} us",
            f"<= {GUARD_COST_TARGET_US:.1f} us",
            guard_cost <= GUARD_COST_TARGET_US,
        ),
    ]
    for measured, target, ok in checks:
        print(f"  {measured:40s} target {target:10s} {verdict(ok)}")
    print(f"  (the guard's own cost is {guard_cost / statistics.median(decode):.2f}x one PyJWT decode)")
    sessions_ratio = statistics.median(g / b for b, g in zip(plain_guarded, session_guarded, strict=True))
    print("the session checks (issue 10: the hot path unchanged):")
    print(f"  {f'session token: {sessions_ratio:.3f}x a plain token':40s} (sid, tv and jti against the cached state)")
    return all(ok for _, _, ok in checks)


def _repeat(n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def profile(requests: int, top: int) -> None:
    """cProfile of repeat-token requests to Flask + JWTGuardWSGI: the functions with the most own time."""
    settings = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600, token_cache_ttl=3600)
    token = issue_token(settings, "alice", ttl=3600)
    app = flask_app()
    app.wsgi_app = JWTGuardWSGI(app.wsgi_app, settings=settings, store=DictStore())
    side = wsgi_side(app, wsgi_environ(token))
    side(100)  # warm the caches
    profiler = cProfile.Profile()
    profiler.runcall(side, requests)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"{requests} repeat-token requests to Flask + JWTGuardWSGI; cProfile inflates every call alike")
    # Flask's own functions outnumber the guard's: show the guard and its caches, by cumulative time.
    stats.sort_stats("cumulative").print_stats(r"jwtguard/|cachetools|<string>", top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per pair (default 9)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true", help="profile repeat Flask requests instead")
    args = parser.parse_args(argv)
    if args.profile:
        profile(20_000, 25)
        return 0
    ok = bench(args.rounds)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
