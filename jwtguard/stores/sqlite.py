"""The embedded store: one SQLite file, shared by every process on the machine.

Used when ``JWTGUARD_STORE_URL`` is unset (``jwtguard.db`` in the working
directory) or names a file:

* ``sqlite:///relative/path.db``: relative to the working directory;
* ``sqlite:////absolute/path.db``: four slashes for an absolute path.

The file's absolute path is logged once per process when a store first opens
it. WAL mode lets the server's workers read while a CLI command in another
terminal writes; each statement waits at most ``JWTGUARD_STORE_TIMEOUT`` for a
lock held by another process, then fails with :class:`StoreError`. Other
processes see a change within ``JWTGUARD_CACHE_TTL``.

Schema (the table is named by ``JWTGUARD_USERS_COLLECTION``)::

    CREATE TABLE users (id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID

* ``id`` has no declared type, so SQLite keeps each value's own type: the
  string ``"1"`` and the integer ``1`` are two users, as in MongoDB.
* ``not_before`` is epoch seconds as a double (sub-microsecond resolution at
  today's dates), NULL when never set.
* ``enabled`` is 1, 0, or NULL for "never set" (enabled, as a MongoDB
  document without the field).
* Values of other types that another program writes into the file are handed
  to the core as stored, so MongoDB's rules apply to them: a millisecond
  count is converted, unreadable dates refuse the user's tokens, and any
  ``enabled`` other than 1 disables.

Column names are fixed; the configured field names are applied when a row is
read: :meth:`SQLiteStore.load` returns ``{"_id": id, <first
JWTGUARD_NOT_BEFORE_FIELDS>: aware UTC datetime, <JWTGUARD_ENABLED_FIELD>:
bool}`` (absent keys for NULL columns), the shape a MongoDB document has, so
:func:`jwtguard.core.user_state` reads both stores alike. The embedded store
holds jwtguard's own cut-off only, so the further not-before fields that an
application may keep in MongoDB have no column here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from ..config import Settings
from ..errors import ConfigError, StoreError
from .base import Change, Document, UserId

logger = logging.getLogger("jwtguard")

DEFAULT_PATH = "jwtguard.db"

#: Idle connections a store keeps for reuse; more concurrent calls open
#: (and then close) extra ones.
MAX_IDLE_CONNECTIONS = 8

_INT64 = 2**63

#: :func:`jwtguard.core.user_state` reads a stored number above this as milliseconds.
_MILLISECONDS_ABOVE = 1e11

_announced: set[str] = set()  # paths already named in the log by this process
_announced_lock = threading.Lock()

#: Idle connections a parent process left in a store before fork(): SQLite
#: forbids using them in the child, and closing them there is not safe either,
#: so they are only kept from the garbage collector.
_inherited: list[sqlite3.Connection] = []


def database_path(store_url: str | None) -> str:
    """The absolute file path that *store_url* names (None: ``jwtguard.db`` here).

    Raises :class:`ConfigError` naming ``JWTGUARD_STORE_URL`` for a URL that is
    not ``sqlite:///relative.db`` or ``sqlite:////absolute.db``.
    """
    if store_url is None:
        return os.path.abspath(DEFAULT_PATH)
    if not store_url.startswith("sqlite:///"):
        raise ConfigError("JWTGUARD_STORE_URL", "an SQLite URL is sqlite:///relative.db or sqlite:////absolute.db")
    path = store_url[len("sqlite:///") :].partition("?")[0]
    if not path:
        raise ConfigError("JWTGUARD_STORE_URL", "sqlite:/// needs a file path")
    if path == ":memory:":
        # Each connection would get its own empty database: nothing shared.
        raise ConfigError("JWTGUARD_STORE_URL", "the embedded store must be a file that processes share, not :memory:")
    return os.path.abspath(path)


def _announce(path: str, default: bool) -> None:
    with _announced_lock:
        if path in _announced:
            return
        _announced.add(path)
    if default:
        logger.warning(
            "jwtguard: JWTGUARD_STORE_URL is unset: using the embedded SQLite store at %s "
            "(set JWTGUARD_STORE_URL=mongodb://... to use MongoDB)",
            path,
        )
    else:
        logger.info("jwtguard: using the SQLite store at %s", path)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _storable(user_id: UserId) -> bool:
    """Whether SQLite can hold *user_id* at all (the core admits nothing else anyway)."""
    if isinstance(user_id, int):
        return -_INT64 <= user_id < _INT64
    try:
        user_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _stored_date(value: Any) -> Any:
    """A ``not_before`` column value as the document field :func:`jwtguard.core.user_state` reads.

    What jwtguard writes (finite epoch seconds) comes back as an aware UTC
    datetime. A value that another program wrote into the file (text, a
    millisecond count, a number beyond ``datetime``'s range) is handed over
    as stored, so the core applies the same rules as to a MongoDB field
    (milliseconds converted; an unreadable value refuses the user's tokens)
    instead of this load failing with a 500.
    """
    if isinstance(value, (int, float)) and math.isfinite(value) and value <= _MILLISECONDS_ABOVE:
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            pass
    return value


def _stored_enabled(value: Any) -> Any:
    """An ``enabled`` column value: 1 and 0 are jwtguard's own; any other value is handed over.

    The core accepts only ``True``, so 2, ``'false'`` or ``'true'`` written by
    another program disable the user, as any MongoDB value other than ``true``
    does (``bool('false')`` would have enabled them).
    """
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    return value


def _epoch(moment: datetime) -> float:
    # A naive datetime is UTC, as jwtguard reads stored dates; never local time.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class SQLiteStore:
    """The blocking embedded store.

    Connections are kept in a small pool rather than one per thread, so a
    server that starts a thread per request does not leave one open file per
    finished thread; a connection is used by one call at a time. After a
    fork() (a pre-fork server's workers) the child never touches the parent's
    connections: it opens its own.

    :raises StoreError: from :meth:`load` and :meth:`apply` when the file
        cannot be opened or read, or stays locked beyond ``store_timeout``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.path = database_path(settings.store_url)
        table = _quoted(settings.users_collection)
        self._create_table = (
            f"CREATE TABLE IF NOT EXISTS {table} (id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID"
        )
        # Identifiers in these statements are the quoted table name and fixed
        # column names; every value is a bound parameter.
        self._select = f"SELECT id, not_before, enabled FROM {table} WHERE id = ?"  # noqa: S608
        self._table = table
        self._not_before_field = settings.not_before_fields[0]
        self._enabled_field = settings.enabled_field
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        _announce(self.path, default=settings.store_url is None)

    def _error(self, exc: sqlite3.Error) -> StoreError:
        # SQLite's messages ("database is locked", "unable to open database
        # file", "file is not a database") carry no values, only the kind.
        return StoreError(f"SQLite store at {self.path} unavailable: {exc}")

    def _open(self) -> sqlite3.Connection:
        timeout = self._settings.store_timeout
        connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {max(1, int(timeout * 1000))}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(self._create_table)
        except BaseException:
            connection.close()
            raise
        return connection

    def _leave_inherited(self) -> None:
        # Called under the lock. A pre-fork server (gunicorn --preload) may
        # build the store, and use it to seed users, before forking workers:
        # each worker then opens connections of its own.
        if self._pid != os.getpid():
            _inherited.extend(self._idle)
            self._idle, self._pid = [], os.getpid()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._leave_inherited()
            connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = self._open()
            yield connection
        except sqlite3.Error as exc:
            # A connection that failed is not reused: the file may have changed under it.
            if connection is not None:
                connection.close()
            raise self._error(exc) from exc
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def load(self, user_id: UserId) -> Document | None:
        if not _storable(user_id):
            return None
        with self._connection() as connection:
            row = connection.execute(self._select, (user_id,)).fetchone()
        if row is None:
            return None
        document: dict[str, Any] = {"_id": row[0]}
        if row[1] is not None:
            document[self._not_before_field] = _stored_date(row[1])
        if row[2] is not None:
            document[self._enabled_field] = _stored_enabled(row[2])
        return document

    def apply(self, user_id: UserId, change: Change) -> bool:
        if not _storable(user_id):
            if change.create:
                raise ValueError("user_id must be a 64-bit integer or a string without lone surrogates")
            return False
        columns: dict[str, Any] = {}
        if change.not_before is not None:
            columns["not_before"] = _epoch(change.not_before)
        if change.enabled is not None:
            columns["enabled"] = int(change.enabled)
        if change.create:
            # An upsert: a new row gets the change, an existing one only the
            # columns that the change sets (as MongoDB's upsert with $set).
            names = ["id", *columns]
            placeholders = ", ".join("?" * len(names))
            updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
            conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            statement = f"INSERT INTO {self._table} ({', '.join(names)}) VALUES ({placeholders}) "  # noqa: S608
            with self._connection() as connection:
                connection.execute(statement + f"ON CONFLICT(id) {conflict}", (user_id, *columns.values()))
            return True
        if not columns:
            return self.load(user_id) is not None
        assignments = ", ".join(f"{name} = ?" for name in columns)
        update = f"UPDATE {self._table} SET {assignments} WHERE id = ?"  # noqa: S608
        with self._connection() as connection:
            changed = connection.execute(update, (*columns.values(), user_id)).rowcount
        return changed > 0

    def close(self) -> None:
        """Close the idle connections; calls still running close theirs when they end."""
        with self._lock:
            self._leave_inherited()
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class AsyncSQLiteStore:
    """The embedded store for an event loop: each call runs in a worker thread, never on the loop.

    The calls use the loop's default executor (``asyncio.to_thread``); a call
    waiting for a lock holds its thread for at most ``JWTGUARD_STORE_TIMEOUT``.
    """

    def __init__(self, settings: Settings) -> None:
        self._store = SQLiteStore(settings)
        self.path = self._store.path

    async def load(self, user_id: UserId) -> Document | None:
        return await asyncio.to_thread(self._store.load, user_id)

    async def apply(self, user_id: UserId, change: Change) -> bool:
        return await asyncio.to_thread(self._store.apply, user_id, change)

    async def close(self) -> None:
        # Closing the last connection checkpoints the WAL: file I/O, off the loop too.
        await asyncio.to_thread(self._store.close)
