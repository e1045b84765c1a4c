"""One harness for "an app behind the guard": a real Flask or Starlette app behind either adapter.

Every test that drives a guarded app goes through these: ``conftest``'s
``make_client``, the outage, soak and property tests. :data:`TARGETS` maps an
adapter name to its target: ``target.request(method, path, headers)`` from any
thread, ``target.get(token)``, ``target.load(...)`` for concurrent traffic,
``target.middleware`` and ``target.engine``, ``target.close()``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from jwtguard import JWTGuardASGI, JWTGuardWSGI, Settings

T = TypeVar("T")
Headers = Sequence[tuple[str, str | bytes]]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    fields: tuple[tuple[str, str], ...] = ()  # every field in order, lower-case names (Set-Cookie repeats)

    def json(self) -> Any:
        return json.loads(self.body)


def bearer_of(token: str | None) -> list[tuple[str, str | bytes]]:
    return [] if token is None else [("Authorization", f"Bearer {token}")]


def flask_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.get("/public")
    def public() -> Any:
        return jsonify(ok=True)

    @app.get("/api/me")
    def me() -> Any:
        return jsonify(user=request.environ["jwtguard.user_id"], claims=dict(request.environ["jwtguard.claims"]))

    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def public(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse(
            {"user": request.scope["jwtguard.user_id"], "claims": dict(request.scope["jwtguard.claims"])}
        )

    return Starlette(routes=[Route("/public", public), Route("/api/me", me)])


@dataclass
class Result:
    worker: int
    started: float
    ended: float
    status: int


@dataclass
class Load:
    """A running load: its results so far, and how to wait for its end (raises if a worker hung)."""

    results: list[Result]
    join: Callable[[float], list[Result]]


class WSGITarget:
    """A Flask app behind JWTGuardWSGI; each calling thread gets its own test client."""

    kind = "wsgi"

    def __init__(
        self, settings: Settings, store: Any = None, *, app: Any = None, outer: Any = None, **options: Any
    ) -> None:
        app = app or flask_app()
        self.middleware = JWTGuardWSGI(app.wsgi_app, settings=settings, store=store, **options)
        #: *outer*: what wraps the guard (the standard endpoints, issue 12), given the guard.
        self.outer = None if outer is None else outer(self.middleware)
        app.wsgi_app = self.outer or self.middleware
        self.app = app
        self.engine = self.middleware.engine
        self._local = threading.local()

    def request(self, method: str, path: str, headers: Headers | None = None, body: bytes = b"") -> Reply:
        """One request from this thread's own test client; header values as str, or latin-1 bytes."""
        client = getattr(self._local, "client", None)
        if client is None:
            # No cookie jar: a request carries exactly the headers given (Werkzeug's jar would
            # replace a Cookie header, or drop it when the jar is empty).
            client = self._local.client = self.app.test_client(use_cookies=False)
        # WSGI carries header values as latin-1 str (PEP 3333).
        fields = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in headers or []]
        response = client.open(path, method=method, headers=fields, data=body or None)
        every = tuple((k.lower(), v) for k, v in response.headers.items())
        return Reply(response.status_code, dict(every), response.get_data(), every)

    def get(self, token: str | None = None, path: str = "/api/me") -> Reply:
        return self.request("GET", path, bearer_of(token))

    def load(self, tokens: list[str], workers: int, stop: threading.Event) -> Load:
        """Start *workers* threads requesting *tokens* in turn until *stop*."""
        results: list[Result] = []

        def work(worker: int) -> None:
            i = worker
            while not stop.is_set():
                started = time.monotonic()
                status = self.get(tokens[i % len(tokens)]).status
                results.append(Result(worker, started, time.monotonic(), status))
                i += 1

        threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(workers)]
        for thread in threads:
            thread.start()

        def join(timeout: float) -> list[Result]:
            deadline = time.monotonic() + timeout
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
            return results

        return Load(results, join)

    def close(self) -> None:
        if self.outer is not None:
            self.outer.close()
        self.middleware.close()


class ASGITarget:
    """A Starlette app behind JWTGuardASGI, served by httpx's ASGI transport on an event loop of its own."""

    kind = "asgi"

    def __init__(
        self, settings: Settings, store: Any = None, *, app: Any = None, outer: Any = None, **options: Any
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.middleware = JWTGuardASGI(app or starlette_app(), settings=settings, store=store, **options)
        self.engine = self.middleware.engine
        self.outer = None if outer is None else outer(self.middleware)
        served = self.outer or self.middleware
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://test")

    def submit(self, coroutine: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]

    def run(self, coroutine: Awaitable[T], timeout: float = 60) -> T:
        return self.submit(coroutine).result(timeout)

    async def arequest(self, method: str, path: str, headers: Headers | None = None, body: bytes = b"") -> Reply:
        fields = [(k.encode("latin-1"), v if isinstance(v, bytes) else v.encode("latin-1")) for k, v in headers or []]
        response = await self.client.request(method, path, headers=fields, content=body or None)
        self.client.cookies.clear()  # no cookie jar either: each request carries exactly its headers
        every = tuple((k.lower(), v) for k, v in response.headers.multi_items())
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content, every)

    def request(self, method: str, path: str, headers: Headers | None = None, body: bytes = b"") -> Reply:
        """One request on the target's loop; header values as str, or latin-1 bytes."""
        return self.run(self.arequest(method, path, headers, body))

    async def aget(self, token: str | None = None, path: str = "/api/me") -> Reply:
        return await self.arequest("GET", path, bearer_of(token))

    def get(self, token: str | None = None, path: str = "/api/me") -> Reply:
        return self.run(self.aget(token, path))

    def load(self, tokens: list[str], workers: int, stop: threading.Event) -> Load:
        """Start *workers* tasks on the loop requesting *tokens* in turn until *stop*."""
        results: list[Result] = []

        async def work(worker: int) -> None:
            i = worker
            while not stop.is_set():
                started = time.monotonic()
                status = (await self.aget(tokens[i % len(tokens)])).status
                results.append(Result(worker, started, time.monotonic(), status))
                i += 1

        async def main() -> None:
            await asyncio.gather(*(work(n) for n in range(workers)))

        future = self.submit(main())

        def join(timeout: float) -> list[Result]:
            future.result(timeout)  # raises TimeoutError when a task hung
            return results

        return Load(results, join)

    def close(self) -> None:
        try:
            self.run(self.client.aclose())
            if self.outer is not None:
                self.run(self.outer.close())
            self.run(self.middleware.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


Target = WSGITarget | ASGITarget
TARGETS: dict[str, Callable[..., Target]] = {"wsgi": WSGITarget, "asgi": ASGITarget}
