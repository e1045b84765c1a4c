"""Cache miss against the real server: a repeat token whose user's state is read from the store every time.

``JWTGUARD_CACHE_TTL=0`` keeps no state, so every request makes the store's load (the user's
document, then jwtguard's records of that user, then what identity providers said of it: three
queries); the signature stays cached, as for a repeat token. Beside it: the same three queries made
with pymongo alone (the floor no guard can go
under), one ``find_one``, the state cached (what nearly every request costs), and the embedded
SQLite store for scale. A trivial app behind each guard, interleaved rounds as everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pymongo

from bench.common import FULL, Section, Sizes, Table, calls, interleaved, minus, ratio, spread
from bench.common import within_rounds as per_round
from bench.overhead import SECRET, asgi_scope, asgi_side, trivial_app, wsgi_environ, wsgi_side
from bench.store import Mongo
from jwtguard import Admin, JWTGuardASGI, JWTGuardWSGI, Settings, issue_token
from jwtguard.stores.mongo import AsyncMongoStore, MongoStore, records_collection
from jwtguard.stores.sqlite import SQLiteStore

CACHED = "jwtguard, state cached (default TTL)"
MISS_WSGI = "jwtguard, state miss, WSGI on MongoStore"
MISS_ASGI = "jwtguard, state miss, ASGI on AsyncMongoStore"
QUERIES = "pymongo alone: the load's three queries"
FIND_ONE = "pymongo alone: one `find_one`"
MISS_SQLITE = "jwtguard, state miss, WSGI on the embedded SQLite store"


async def trivial_asgi(scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _checked(app: Any, environ: dict[str, Any]) -> None:
    """One request must be accepted: a refused one would time the refusal, not the load."""
    statuses: list[str] = []
    body: Iterable[bytes] = app(dict(environ), lambda status, headers, exc_info=None: statuses.append(status))
    list(body)
    assert statuses == ["200 OK"], statuses


def run(mongo: Mongo, sizes: Sizes = FULL) -> Section:
    uri = mongo.fresh("bench_miss")
    settings = Settings(secret=SECRET, store_url=uri, cache_ttl=0)
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    database = client.get_default_database()
    users = database[settings.users_collection]
    records = database[records_collection(settings)]
    state = database[settings.state_collection]
    users.insert_one({"_id": "alice", "user_enabled": True})
    token = issue_token(settings, "alice", ttl=3600)
    environ = wsgi_environ(token)
    loop = asyncio.new_event_loop()
    async_store = AsyncMongoStore(settings)
    with tempfile.TemporaryDirectory(prefix="jwtguard-bench-") as directory, contextlib.ExitStack() as stack:
        lite = settings.replace(store_url=f"sqlite:///{Path(directory) / 'jwtguard.db'}")
        lite_store = stack.enter_context(contextlib.closing(SQLiteStore(lite)))
        Admin(lite, store=lite_store).create_user("alice")  # the embedded store keeps its own users
        miss_store = stack.enter_context(contextlib.closing(MongoStore(settings)))
        cached_store = stack.enter_context(contextlib.closing(MongoStore(settings)))
        miss = JWTGuardWSGI(trivial_app, settings=settings, store=miss_store)
        cached = JWTGuardWSGI(trivial_app, settings=settings.replace(cache_ttl=5.0), store=cached_store)
        lite_guard = JWTGuardWSGI(trivial_app, settings=lite, store=lite_store)
        try:
            for app in (miss, cached, lite_guard):
                _checked(app, environ)
            times = interleaved(
                {
                    CACHED: wsgi_side(cached, environ),
                    MISS_WSGI: wsgi_side(miss, environ),
                    MISS_ASGI: asgi_side(
                        JWTGuardASGI(trivial_asgi, settings=settings, store=async_store), asgi_scope(token), loop
                    ),
                    QUERIES: calls(
                        lambda: (
                            users.find_one({"_id": "alice"}, {"user_enabled": 1}, sort=[("_id", 1)]),
                            list(records.find({"user": {"$in": ["alice"]}})),
                            list(state.find({"user": "alice"})),
                        )
                    ),
                    FIND_ONE: calls(lambda: users.find_one({"_id": "alice"})),
                    MISS_SQLITE: wsgi_side(lite_guard, environ),
                },
                sizes.rounds,
                sizes.batch_seconds * 2,
            )
        finally:
            loop.run_until_complete(async_store.close())
            loop.close()
            client.drop_database(database.name)
            client.close()
    table = Table(
        "Cache miss against the real store",
        f"Microseconds per request, median (min–max) of {sizes.rounds} interleaved rounds; a trivial app "
        f"behind the guard, a repeat token (signature cached) whose state is read from {mongo.version()} on "
        "every request (`JWTGUARD_CACHE_TTL=0`): the user's document and jwtguard's records of that user. "
        "“over the queries” is the guard's time minus the same three queries made with pymongo alone, "
        "within each round.",
        ["request", "µs per request", "over the queries (µs)", "× the queries"],
    )
    for name, values in times.items():
        if name in (MISS_WSGI, MISS_ASGI):
            table.rows.append(
                [
                    name,
                    spread(values),
                    spread(per_round(values, times[QUERIES], minus)),
                    spread(per_round(values, times[QUERIES], ratio), 3),
                ]
            )
        else:
            table.rows.append([name, spread(values), "–", "–"])
    return Section(tables=[table])
