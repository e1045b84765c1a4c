"""Stores of user revocation state, chosen by ``JWTGUARD_STORE_URL``."""

from __future__ import annotations

from ..config import Settings
from ..errors import ConfigError
from .base import AsyncStore, Change, Document, Store, UserId

__all__ = ["AsyncStore", "Change", "Document", "Store", "UserId", "open_async_store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The blocking store that *settings* name."""
    url = settings.store_url or ""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStore

        return MongoStore(settings)
    raise ConfigError("JWTGUARD_STORE_URL", "accepts a mongodb:// or mongodb+srv:// URL")


def open_async_store(settings: Settings) -> AsyncStore:
    """The non-blocking store that *settings* name."""
    url = settings.store_url or ""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import AsyncMongoStore

        return AsyncMongoStore(settings)
    raise ConfigError("JWTGUARD_STORE_URL", "accepts a mongodb:// or mongodb+srv:// URL")
