"""Per-request overhead of jwtguard against its peers, measured in the same run.

Calls the WSGI/ASGI callables directly with a prebuilt environ/scope, so client
and server costs are left out and only the app + middleware remain. Prints
microseconds per request (best of several repeats) and ratios:

    .venv/bin/python bench/overhead.py

The store is an in-memory dict: with a warm cache (the case measured) the store
is never touched, whichever store is configured.
"""

from __future__ import annotations

import asyncio
import io
import sys
import time
import timeit
from typing import Any

import jwt

from jwtguard import JWTGuardASGI, JWTGuardWSGI, Settings, issue_token

SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
NUMBER = 20_000
REPEAT = 7


class DictStore:
    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {"alice": {"_id": "alice", "user_enabled": True}}

    def load(self, user_id: Any) -> Any:
        return self.docs.get(user_id)

    def apply(self, user_id: Any, change: Any) -> bool:
        return user_id in self.docs

    def close(self) -> None:
        pass


class AsyncDictStore(DictStore):
    async def load(self, user_id: Any) -> Any:  # type: ignore[override]
        return self.docs.get(user_id)

    async def apply(self, user_id: Any, change: Any) -> bool:  # type: ignore[override]
        return user_id in self.docs

    async def close(self) -> None:  # type: ignore[override]
        pass


def best(fn: Any, number: int = NUMBER) -> float:
    """Best per-call time in microseconds."""
    return min(timeit.repeat(fn, number=number, repeat=REPEAT)) / number * 1e6


def interleaved(first: Any, second: Any, number: int = NUMBER) -> tuple[float, float]:
    """Best per-call times of two callables timed in turns, so machine noise hits both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(REPEAT * 2):
        a.append(timeit.timeit(first, number=number))
        b.append(timeit.timeit(second, number=number))
    return min(a) / number * 1e6, min(b) / number * 1e6


def flask_app() -> Any:
    from flask import Flask

    app = Flask("bench")

    @app.get("/api/me")
    def me() -> Any:
        return {"ok": True}

    return app


def wsgi_call(app: Any, environ: dict[str, Any]) -> Any:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def call() -> None:
        body = app(dict(environ), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close:
            close()

    return call


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/api/me", me)])


def asgi_bench(app: Any, scope: dict[str, Any], number: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def run() -> float:
        times = []
        for _ in range(REPEAT):
            start = time.perf_counter()
            for _ in range(number):
                await app(dict(scope), receive, send)
            times.append(time.perf_counter() - start)
        return min(times) / number * 1e6

    return asyncio.run(run())


def main() -> None:
    settings = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600, token_cache_ttl=3600)
    token = issue_token(settings, "alice", ttl=3600)
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/api/me", "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
        "HTTP_AUTHORIZATION": f"Bearer {token}",
    }
    bare = flask_app()
    guarded = flask_app()
    guarded.wsgi_app = JWTGuardWSGI(guarded.wsgi_app, settings=settings, store=DictStore())  # type: ignore

    decode = best(lambda: jwt.decode(token, SECRET, algorithms=["HS256"]))
    flask_bare, flask_guarded = interleaved(wsgi_call(bare, environ), wsgi_call(guarded, environ))

    def trivial(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    # The guard's own cost, without a framework's noise around it.
    trivial_bare, trivial_guarded = interleaved(
        wsgi_call(trivial, environ), wsgi_call(JWTGuardWSGI(trivial, settings=settings, store=DictStore()), environ)
    )

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/api/me", "raw_path": b"/api/me", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }
    star_bare = asgi_bench(starlette_app(), scope, NUMBER // 2)
    star_guarded = asgi_bench(
        JWTGuardASGI(starlette_app(), settings=settings, store=AsyncDictStore()), scope, NUMBER // 2  # type: ignore
    )

    rows = [
        ("PyJWT decode, HS256", decode),
        ("trivial WSGI app, bare", trivial_bare),
        ("trivial WSGI app + JWTGuardWSGI", trivial_guarded),
        ("Flask, bare", flask_bare),
        ("Flask + JWTGuardWSGI, repeat token", flask_guarded),
        ("Starlette, bare", star_bare),
        ("Starlette + JWTGuardASGI, repeat token", star_guarded),
    ]
    for name, micros in rows:
        print(f"{name:42s} {micros:8.2f} us")
    print(f"WSGI overhead: {flask_guarded / flask_bare:.3f}x bare Flask ({flask_guarded - flask_bare:+.2f} us)")
    print(f"ASGI overhead: {star_guarded / star_bare:.3f}x bare Starlette ({star_guarded - star_bare:+.2f} us)")
    guard_cost = trivial_guarded - trivial_bare
    print(f"guard's own cost per repeat request: {guard_cost:.2f} us = {guard_cost / decode:.2f}x one PyJWT decode, "
          f"{guard_cost / flask_bare:.3f}x a bare Flask request")


if __name__ == "__main__":
    main()
