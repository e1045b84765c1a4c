"""Stores of user revocation state, chosen by ``JWTGUARD_STORE_URL``."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from .base import AsyncStore, Change, Document, Store, UserId, UserKey

__all__ = ["AsyncStore", "Change", "Document", "Store", "UserId", "UserKey", "open_async_store", "open_store"]


_ACCEPTS = "accepts a mongodb://, mongodb+srv:// or sqlite:/// URL, or nothing for the embedded store"


def _is_mongo(url: str | None) -> bool:
    return url is not None and url.startswith(("mongodb://", "mongodb+srv://"))


def _is_sqlite(url: str | None) -> bool:
    return url is None or url.startswith("sqlite://")


def open_store(settings: Settings) -> Store:
    """The blocking store that *settings* name: MongoDB, or the embedded SQLite file when unset."""
    if _is_mongo(settings.store_url):
        from .mongo import MongoStore

        return MongoStore(settings)
    if _is_sqlite(settings.store_url):
        from .sqlite import SQLiteStore

        return SQLiteStore(settings)
    raise ConfigError("JWTGUARD_STORE_URL", _ACCEPTS)


def open_async_store(settings: Settings) -> AsyncStore:
    """The non-blocking store that *settings* name."""
    if _is_mongo(settings.store_url):
        from .mongo import AsyncMongoStore

        return AsyncMongoStore(settings)
    if _is_sqlite(settings.store_url):
        from .sqlite import AsyncSQLiteStore

        return AsyncSQLiteStore(settings)
    raise ConfigError("JWTGUARD_STORE_URL", _ACCEPTS)
