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
from typing import Any, TypeVar

from ..config import Settings
from ..sansio.state import epoch_seconds
from . import records as r
from .base import Change, Document, UserId, UserKey, store_key

T = TypeVar("T")


class MemoryStore:
    """A blocking store held in a dict, thread-safe.

    :param settings: field names and the user-id type come from here.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._documents: dict[UserKey, dict[str, Any]] = {}
        self._tables: dict[r.Table, dict[str, r.Record]] = {"records": {}, "refresh": {}, "events": {}, "state": {}}
        self._lock = threading.RLock()

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
            if document is None:
                if self._settings.unknown_users != "allow":
                    return None
                document = {"_id": user_id}  # the users live elsewhere: jwtguard's tables are the state
            return r.with_records(dict(document), self._user_records(r.user_ref(key)))

    def _user_records(self, ref: str | int) -> list[r.Record]:
        return [dict(x) for table in ("records", "state") for x in self._tables[table].values() if x.get("user") == ref]

    def run(self, flow: r.RecordFlow[T]) -> T:
        """Perform a records flow (:mod:`jwtguard.stores.records`); each operation is atomic."""
        answer: Any = None
        try:
            while True:
                op = flow.send(answer)
                with self._lock:
                    answer = self._perform(op)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _perform(self, op: r.Operation) -> Any:
        if isinstance(op, r.LoadUser):
            return self.load(op.user_id)
        if isinstance(op, r.ApplyUser):
            return self.apply(op.user_id, op.change)
        if isinstance(op, r.FindUser):
            return self._user_records(op.user)
        if isinstance(op, r.Since):
            events = sorted((x for x in self._tables["events"].values() if x["at"] >= op.after), key=lambda x: x["at"])
            return [dict(x) for x in events[: op.limit]]
        table = self._tables[op.table]
        if isinstance(op, r.Get):
            found = table.get(op.id)
            return None if found is None else dict(found)
        if isinstance(op, r.Insert):
            if op.record["_id"] in table:
                return False
            table[op.record["_id"]] = dict(op.record)
            return True
        if isinstance(op, r.Update):
            if op.id not in table:
                return False
            table[op.id].update(op.fields)
            return True
        if isinstance(op, r.Delete):
            for record_id in op.ids:
                table.pop(record_id, None)
            return None
        assert isinstance(op, r.Prune)
        for record_id in [i for i, x in table.items() if x.get("expires", op.before) < op.before]:
            del table[record_id]
        return None

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

    async def run(self, flow: r.RecordFlow[T]) -> T:
        return self.sync.run(flow)

    async def close(self) -> None:
        pass
