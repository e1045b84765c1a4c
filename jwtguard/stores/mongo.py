"""MongoDB stores: pymongo's ``MongoClient`` (WSGI) and native ``AsyncMongoClient`` (ASGI)."""

from __future__ import annotations

import asyncio
import re
import weakref
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from ..config import Settings
from ..errors import ConfigError, StoreError
from .base import Change, Document, UserId

_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
DEFAULT_DATABASE = "jwtguard"


def user_filter(user_id: UserId) -> dict[str, Any]:
    """The query for one user by ``_id``; a 24-hex id also matches an ObjectId ``_id``.

    *user_id* has been checked by the core: a plain string or a 64-bit integer,
    never an operator object.
    """
    if isinstance(user_id, str) and _HEX24.fullmatch(user_id):
        return {"_id": {"$in": [user_id, ObjectId(user_id)]}}
    return {"_id": user_id}


def client_options(settings: Settings) -> dict[str, Any]:
    """Short timeouts, time-zone-aware dates.

    ``timeoutMS`` bounds a whole operation, retries included (pymongo's
    client-side operation timeout); the others bound each step of it.
    """
    timeout_ms = max(1, int(settings.store_timeout * 1000))
    return {
        "tz_aware": True,
        "timeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": timeout_ms,
        "appname": "jwtguard",
    }


def projection(settings: Settings) -> dict[str, int]:
    return {name: 1 for name in (*settings.not_before_fields, settings.enabled_field)}


def check_url(url: str | None) -> None:
    """Refuse an unusable MongoDB URL at start-up, naming the variable, never echoing the URL.

    ``mongodb+srv://`` URLs are checked by the driver when it first connects
    (their check needs DNS).
    """
    if url is None or url.startswith("mongodb+srv://"):
        return
    try:
        parse_uri(url)
    except (PyMongoError, ValueError):
        raise ConfigError("JWTGUARD_STORE_URL", "not a usable mongodb:// URL (host, port, options)") from None


def _update(change: Change, settings: Settings) -> dict[str, Any]:
    values = change.fields(settings)
    return {"$set": values} if values else {"$setOnInsert": {}}


def _unavailable(exc: PyMongoError) -> StoreError:
    # The message names the kind of failure only; driver text can carry hosts.
    return StoreError(f"MongoDB store unavailable ({type(exc).__name__})")


class MongoStore:
    """The blocking MongoDB store. Pass *client* to share an existing ``MongoClient``."""

    def __init__(self, settings: Settings, *, client: MongoClient[Any] | None = None) -> None:
        if client is None and not settings.store_url:
            raise StoreError("MongoStore needs JWTGUARD_STORE_URL")
        self._settings = settings
        self._owns_client = client is None
        if client is None:
            check_url(settings.store_url)
        self._client: MongoClient[Any] = client or MongoClient(settings.store_url, **client_options(settings))
        database = self._client.get_default_database(DEFAULT_DATABASE)
        self._users = database[settings.users_collection]
        self._projection = projection(settings)

    def load(self, user_id: UserId) -> Document | None:
        try:
            document: Document | None = self._users.find_one(user_filter(user_id), self._projection)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return document

    def apply(self, user_id: UserId, change: Change) -> bool:
        try:
            if change.create:
                # Upserts need a concrete _id, not the $in of user_filter.
                result = self._users.update_one({"_id": user_id}, _update(change, self._settings), upsert=True)
                return True
            result = self._users.update_one(user_filter(user_id), _update(change, self._settings))
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return result.matched_count > 0

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


class AsyncMongoStore:
    """The MongoDB store on pymongo's native ``AsyncMongoClient``: no call blocks the loop.

    An ``AsyncMongoClient`` belongs to the event loop it first ran on; this
    store opens one per running loop (one in a normal deployment).
    """

    def __init__(self, settings: Settings) -> None:
        if not settings.store_url:
            raise StoreError("AsyncMongoStore needs JWTGUARD_STORE_URL")
        check_url(settings.store_url)
        self._settings = settings
        self._projection = projection(settings)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoClient[Any]] = (
            weakref.WeakKeyDictionary()
        )

    def _collection(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = AsyncMongoClient(self._settings.store_url, **client_options(self._settings))
            self._clients[loop] = client
        return client.get_default_database(DEFAULT_DATABASE)[self._settings.users_collection]

    async def load(self, user_id: UserId) -> Document | None:
        try:
            document: Document | None = await self._collection().find_one(user_filter(user_id), self._projection)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return document

    async def apply(self, user_id: UserId, change: Change) -> bool:
        try:
            if change.create:
                await self._collection().update_one({"_id": user_id}, _update(change, self._settings), upsert=True)
                return True
            result = await self._collection().update_one(user_filter(user_id), _update(change, self._settings))
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return bool(result.matched_count > 0)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.close()
