"""Shared fixtures: a real MongoDB-wire server, settings, and both adapters behind real frameworks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymongo
import pytest
from harness import TARGETS, Headers, Reply, Target, flask_app, starlette_app

from jwtguard import Settings

from keycloak import KeycloakServer, KeycloakUnavailable
from mongo_server import MongoServer

__all__ = ["Reply", "flask_app", "starlette_app"]

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


@pytest.fixture(scope="session")
def keycloak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeycloakServer]:
    """One real Keycloak for the whole test session, started by the first test that asks for it.

    From the cache that scripts/get-keycloak.sh fills (see :mod:`keycloak`). In CI (CI=true) a
    Keycloak that is missing or does not start fails the tests that need it; elsewhere they skip.
    """
    try:
        server = KeycloakServer(tmp_path_factory.mktemp("keycloak"))
        server.start()
    except (KeycloakUnavailable, OSError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Keycloak cannot be started in CI: {exc}")
        pytest.skip(f"Keycloak cannot be started: {exc}")
    try:
        yield server
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


Client = Callable[..., Reply]


@pytest.fixture(params=["wsgi", "asgi"])
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_target(adapter: str) -> Iterator[Callable[..., Target]]:
    """Builds a real Flask (WSGI) or Starlette (ASGI) app behind the guard: ``make_target(settings,
    **options)`` is ``TARGETS[adapter](settings, **options)`` (see :mod:`harness`), closed after the test."""
    targets: list[Target] = []

    def make(settings: Settings, **options: Any) -> Target:
        target = TARGETS[adapter](settings, **options)
        targets.append(target)
        return target

    yield make
    for target in reversed(targets):
        target.close()


@pytest.fixture
def make_client(make_target: Callable[..., Target]) -> Callable[..., Client]:
    """Builds a client for a real Flask (WSGI) or Starlette (ASGI) app behind the guard (see :mod:`harness`).

    ``client(method, path, headers=[(name, value), ...])`` returns a :class:`Reply`;
    ``client.guard`` is the middleware. The ASGI app keeps one event loop for all
    its requests, as a server does.
    """

    def build(settings: Settings, **guard_options: Any) -> Client:
        target = make_target(settings, **guard_options)

        def call(method: str, path: str, headers: Headers | None = None) -> Reply:
            return target.request(method, path, headers)

        call.guard = target.middleware  # type: ignore[attr-defined]
        return call

    return build


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def verified(settings: Settings, user: str | int, iat: float, exp: float | None = None) -> Any:
    """A token of *user* issued at *iat* as the policy reads it after its signature checked out."""
    from jwtguard.sansio import Policy, Verified

    result = Policy(settings).verified({}, {settings.user_claim: user, "iat": iat, "exp": exp or iat + 600})
    assert isinstance(result, Verified)
    return result
