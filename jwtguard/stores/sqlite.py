"""The embedded store: one SQLite file, shared by every process on the machine.

Used when ``JWTGUARD_STORE_URL`` is unset (a ``jwtguard.db`` file in the
working directory) or is ``sqlite:///relative/path.db`` /
``sqlite:////absolute/path.db``. WAL mode lets the server's workers read while
a CLI command in another terminal writes; a change is seen by the other
processes within ``JWTGUARD_CACHE_TTL``.

Schema (the table is named by ``JWTGUARD_USERS_COLLECTION``)::

    CREATE TABLE users (id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID

``id`` has no declared type, so SQLite keeps each value's own type: the
string ``"1"`` and the integer ``1`` are two users, as in MongoDB.
``not_before`` is epoch seconds (a double: microseconds at today's dates);
``enabled`` is 1, 0, or NULL for "never set" (enabled). :meth:`SQLiteStore.load`
returns them under the configured field names, the date time-zone-aware, so
:func:`jwtguard.core.user_state` reads both stores alike.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Any

from ..config import Settings
from ..errors import ConfigError, StoreError
from .base import Change, Document, UserId

logger = logging.getLogger("jwtguard")

DEFAULT_PATH = "jwtguard.db"

_announced: set[str] = set()  # paths already named in the log by this process


def database_path(store_url: str | None) -> str:
    """The absolute file path that *store_url* names (None: ``jwtguard.db`` here)."""
    if store_url is None:
        return os.path.abspath(DEFAULT_PATH)
    if not store_url.startswith("sqlite:///"):
        raise ConfigError("JWTGUARD_STORE_URL", "an SQLite URL is sqlite:///relative.db or sqlite:////absolute.db")
    path = store_url[len("sqlite:///") :].partition("?")[0]
    if not path:
        raise ConfigError("JWTGUARD_STORE_URL", "sqlite:/// needs a file path")
    return os.path.abspath(path)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteStore:
    """The blocking embedded store; one connection per thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.path = database_path(settings.store_url)
        self._table = _quoted(settings.users_collection)
        self._not_before_field = settings.not_before_fields[0]
        self._enabled_field = settings.enabled_field
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        if self.path in _announced:
            pass
        elif settings.store_url is None:
            _announced.add(self.path)
            logger.warning(
                "jwtguard: using the embedded SQLite store at %s (set JWTGUARD_STORE_URL=mongodb://... "
                "to use MongoDB)",
                self.path,
            )
        else:
            _announced.add(self.path)
            logger.info("jwtguard: using the SQLite store at %s", self.path)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        timeout = self._settings.store_timeout
        connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} "
                "(id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID"
            )
        except BaseException:
            connection.close()
            raise
        self._local.connection = connection
        with self._connections_lock:
            self._connections.append(connection)
        return connection

    def _run(self, sql: str, parameters: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._connection().execute(sql, parameters)
        except sqlite3.Error as exc:
            # The path is named; the message is the kind of failure only.
            raise StoreError(f"SQLite store at {self.path} unavailable ({type(exc).__name__})") from exc

    def load(self, user_id: UserId) -> Document | None:
        # Identifiers in these statements are the quoted table name and fixed
        # column names; every value is a bound parameter.
        select = f"SELECT id, not_before, enabled FROM {self._table} WHERE id = ?"  # noqa: S608
        row = self._run(select, (user_id,)).fetchone()
        if row is None:
            return None
        document: dict[str, Any] = {"_id": row[0]}
        if row[1] is not None:
            document[self._not_before_field] = datetime.fromtimestamp(row[1], tz=timezone.utc)
        if row[2] is not None:
            document[self._enabled_field] = bool(row[2])
        return document

    def apply(self, user_id: UserId, change: Change) -> bool:
        columns: dict[str, Any] = {}
        if change.not_before is not None:
            columns["not_before"] = change.not_before.timestamp()
        if change.enabled is not None:
            columns["enabled"] = int(change.enabled)
        if change.create:
            names = ["id", *columns]
            updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
            placeholders = ", ".join("?" * len(names))
            insert = f"INSERT INTO {self._table} ({', '.join(names)}) VALUES ({placeholders}) "  # noqa: S608
            upsert = f"ON CONFLICT(id) DO UPDATE SET {updates}" if updates else "ON CONFLICT(id) DO NOTHING"
            self._run(insert + upsert, (user_id, *columns.values()))
            return True
        if not columns:
            return self.load(user_id) is not None
        assignments = ", ".join(f"{name} = ?" for name in columns)
        update = f"UPDATE {self._table} SET {assignments} WHERE id = ?"  # noqa: S608
        cursor = self._run(update, (*columns.values(), user_id))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


class AsyncSQLiteStore:
    """The embedded store for an event loop: each call runs in a worker thread, never on the loop."""

    def __init__(self, settings: Settings) -> None:
        self._store = SQLiteStore(settings)
        self.path = self._store.path

    async def load(self, user_id: UserId) -> Document | None:
        return await asyncio.to_thread(self._store.load, user_id)

    async def apply(self, user_id: UserId, change: Change) -> bool:
        return await asyncio.to_thread(self._store.apply, user_id, change)

    async def close(self) -> None:
        self._store.close()
