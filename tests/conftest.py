"""Shared fixtures: a real MongoDB-wire server, settings, and both adapters behind real frameworks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest

from jwtguard import JWTGuardASGI, JWTGuardWSGI, Settings

from mongo_server import MongoServer

#: 48 bytes: long enough for HS256 and HS384 (RFC 7518 §3.2).
SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


@dataclass
class Mongo:
    """Where the tests' MongoDB-wire server is; ``server`` is None for an external one."""

    base_uri: str | None
    server: MongoServer | None

    def uri(self, database: str) -> str:
        if self.server is not None:
            return self.server.uri(database)
        assert self.base_uri is not None
        head, _, tail = self.base_uri.partition("://")
        hosts, _, rest = tail.partition("/")
        query = rest.partition("?")[2]
        return f"{head}://{hosts}/{database}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mongo]:
    """JWTGUARD_TEST_MONGO_URI when set, else mongod on PATH, else FerretDB: started here.

    In CI (CI=true) a missing server fails the tests that need one; elsewhere they skip.
    """
    external = os.environ.get("JWTGUARD_TEST_MONGO_URI")
    if external:
        yield Mongo(external, None)
        return
    try:
        server = MongoServer(tmp_path_factory.mktemp("mongo"))
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"no MongoDB-compatible server in CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield Mongo(None, server)
    finally:
        server.stop()


@pytest.fixture
def mongo_uri(mongo: Mongo) -> str:
    """A fresh database for each test."""
    return mongo.uri(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=["mongo", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh, empty store of each kind: a database on the real MongoDB-wire server, or an SQLite file."""
    if request.param == "mongo":
        return str(request.getfixturevalue("mongo_uri"))
    return f"sqlite:///{tmp_path / 'jwtguard.db'}"


@pytest.fixture
def users(mongo_uri: str) -> Iterator[Any]:
    """The users collection of the test's database, for seeding and for "another process" writes."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()["users"]
    finally:
        client.close()


@pytest.fixture
def settings(mongo_uri: str) -> Settings:
    return Settings(secret=SECRET, store_url=mongo_uri, exempt_paths=("/public",), store_timeout=1.0)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


Client = Callable[..., Reply]


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


@pytest.fixture(params=["wsgi", "asgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(adapter: str) -> Iterator[Callable[[Settings], Client]]:
    """Builds a client for a real Flask (WSGI) or Starlette (ASGI) app behind the guard.

    ``client(method, path, headers=[(name, value), ...])`` returns a :class:`Reply`.
    The ASGI client keeps one event loop for all its requests, as a server does.
    """
    closers: list[Callable[[], None]] = []

    def build(settings: Settings, **guard_options: Any) -> Client:
        if adapter == "wsgi":
            app = flask_app()
            guard = JWTGuardWSGI(app.wsgi_app, settings=settings, **guard_options)
            app.wsgi_app = guard
            test_client = app.test_client()
            closers.append(guard.close)

            def wsgi_call(method: str, path: str, headers: list[tuple[str, str | bytes]] | None = None) -> Reply:
                # WSGI carries header values as latin-1 str (PEP 3333).
                wsgi_headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in headers or []]
                response = test_client.open(path, method=method, headers=wsgi_headers)
                return Reply(
                    response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()
                )

            wsgi_call.guard = guard  # type: ignore[attr-defined]
            return wsgi_call

        from starlette.testclient import TestClient

        asgi_guard = JWTGuardASGI(starlette_app(), settings=settings, **guard_options)
        client = TestClient(asgi_guard)
        client.__enter__()

        def close() -> None:
            client.portal.call(asgi_guard.close)  # type: ignore[union-attr]
            client.__exit__(None, None, None)

        closers.append(close)

        def asgi_call(method: str, path: str, headers: list[tuple[str, str | bytes]] | None = None) -> Reply:
            # httpx takes str and bytes values in one list; its annotation wants one or the other.
            response = client.request(method, path, headers=headers or [])  # type: ignore[arg-type]
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

        asgi_call.guard = asgi_guard  # type: ignore[attr-defined]
        return asgi_call

    yield build
    for closer in reversed(closers):
        closer()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def verified(settings: Settings, user: str | int, iat: float, exp: float | None = None) -> Any:
    """A token of *user* issued at *iat* as the policy reads it after its signature checked out."""
    from jwtguard.sansio import Policy, Verified

    result = Policy(settings).verified({}, {settings.user_claim: user, "iat": iat, "exp": exp or iat + 600})
    assert isinstance(result, Verified)
    return result
