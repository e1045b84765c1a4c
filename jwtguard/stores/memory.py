"""The in-memory store: for your own tests, and for jwtguard's policy tests.

One process, no file, no server; the same rules as the other stores (one user
per canonical id, cut-offs only move later, ``create`` never changes an
existing user)::

    from jwtguard import JWTGuardWSGI, Settings
    from jwtguard.stores.memory import MemoryStore

    settings = Settings(secret=...)
    store = MemoryStore(settings)
    store.apply("alice", Change(create=True))
    app.wsgi_app = JWTGuardWSGI(app.wsgi_app, settings=settings, store=store)

:class:`AsyncMemoryStore` is the same for ``JWTGuardASGI``. Documents are
kept in the shape a MongoDB document has, so :meth:`MemoryStore.put` can seed
any stored value (a date, a millisecond count, ``user_enabled: false``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timezone
from typing import Any

from ..config import Settings
from ..sansio.state import epoch_seconds
from .base import Change, Document, UserId, UserKey, store_key


class MemoryStore:
    """A blocking store held in a dict, thread-safe.

    :param settings: field names and the user-id type come from here.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._documents: dict[UserKey, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put(self, user_id: UserId, document: Mapping[str, Any]) -> None:
        """Store *document* (its fields as a MongoDB document holds them) for *user_id*, replacing any."""
        with self._lock:
            self._documents[store_key(user_id, self._settings)] = {"_id": user_id, **document}

    def load(self, user_id: UserId) -> Document | None:
        try:
            key = store_key(user_id, self._settings)
        except ValueError:
            return None
        with self._lock:
            document = self._documents.get(key)
            return None if document is None else dict(document)

    def apply(self, user_id: UserId, change: Change) -> bool:
        key = store_key(user_id, self._settings)
        field = self._settings.not_before_fields[0]
        with self._lock:
            document = self._documents.get(key)
            if document is None:
                if not change.create:
                    return False
                document = self._documents[key] = {"_id": user_id}
            if change.enabled is not None:
                document[self._settings.enabled_field] = change.enabled
            if change.not_before is not None:
                new = change.not_before
                if new.tzinfo is None:
                    new = new.replace(tzinfo=timezone.utc)
                stored = document.get(field)
                old = None if stored is None else epoch_seconds(stored)
                # Only later, compared in epoch seconds; an unreadable stored value is left alone.
                if stored is None or (old is not None and new.timestamp() > old):
                    document[field] = new
            return True

    def close(self) -> None:
        pass


class AsyncMemoryStore:
    """:class:`MemoryStore` for an event loop (nothing it does blocks)."""

    def __init__(self, settings: Settings) -> None:
        self.sync = MemoryStore(settings)

    def put(self, user_id: UserId, document: Mapping[str, Any]) -> None:
        self.sync.put(user_id, document)

    async def load(self, user_id: UserId) -> Document | None:
        return self.sync.load(user_id)

    async def apply(self, user_id: UserId, change: Change) -> bool:
        return self.sync.apply(user_id, change)

    async def close(self) -> None:
        pass
