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
  to the policy as stored, so MongoDB's rules apply to them: a millisecond
  count is converted, unreadable dates refuse the user's tokens, and any
  ``enabled`` other than 1 disables.

* ``id`` holds the canonical id (:mod:`jwtguard.userid`): under
  ``JWTGUARD_USER_ID_TYPE=objectid`` (and for a 24-hex id under ``auto``),
  SQLite having no ObjectId type, the lower-case hex string of the ObjectId.

Writes are read-compare-write inside one ``BEGIN IMMEDIATE`` transaction, so
writers in every process are serialised: a cut-off is written only when it
is later than the stored one, compared in epoch seconds by the policy's
reading rules (:func:`jwtguard.sansio.state.epoch_seconds`; an unreadable stored
cut-off is kept, so the user's tokens stay refused), and the enabled flag is
set in the same transaction without touching it.

The file's identity (device and inode) is taken when a connection is
opened and checked whenever a pooled connection is reused: a file replaced,
restored or deleted under a running server is noticed at the next query (the
connection is closed and one is opened on the current file) instead of being
read from the unlinked file forever. Reads never create the file: while it
does not exist (in a directory that does), every user is unknown; the first
write creates it.

Column names are fixed; the configured field names are applied when a row is
read: :meth:`SQLiteStore.load` returns ``{"_id": id, <first
JWTGUARD_NOT_BEFORE_FIELDS>: aware UTC datetime, <JWTGUARD_ENABLED_FIELD>:
bool}`` (absent keys for NULL columns), the shape a MongoDB document has, so
:func:`jwtguard.sansio.state.user_state` reads both stores alike. The embedded store
holds jwtguard's own cut-off only, so the further not-before fields that an
application may keep in MongoDB have no column here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..config import Settings
from ..errors import ConfigError, StoreError
from ..sansio.state import epoch_seconds
from ..userid import user_key
from . import records as r
from .base import Change, Document, UserId, store_key

T = TypeVar("T")

logger = logging.getLogger("jwtguard")

DEFAULT_PATH = "jwtguard.db"

#: Idle connections a store keeps for reuse; more concurrent calls open
#: (and then close) extra ones.
MAX_IDLE_CONNECTIONS = 8


#: :func:`jwtguard.sansio.state.user_state` reads a stored number above this as milliseconds.
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


def _stored_date(value: Any) -> Any:
    """A ``not_before`` column value as the document field :func:`jwtguard.sansio.state.user_state` reads.

    What jwtguard writes (finite epoch seconds) comes back as an aware UTC
    datetime. A value that another program wrote into the file (text, a
    millisecond count, a number beyond ``datetime``'s range) is handed over
    as stored, so the policy applies the same rules as to a MongoDB field
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

    The policy accepts only ``True``, so 2, ``'false'`` or ``'true'`` written by
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


def _later(stored: object, cut_off: float) -> bool:
    """Whether *cut_off* moves the stored one forward (revocation never moves back).

    NULL (never set) is always superseded; an unreadable stored value never
    is, so a user whose tokens it refuses stays refused.
    """
    if stored is None:
        return True
    current = epoch_seconds(_stored_date(stored))
    return current is not None and cut_off > current


#: The schema this release reads and writes (``PRAGMA user_version``).
SCHEMA_VERSION = 3

#: Columns of the records and refresh tables; a record's other fields are its JSON ``body``.
_COLUMNS = frozenset({"_id", "user", "kind", "at", "expires"})
_SELECT = "SELECT id, user, kind, at, expires, body FROM"


def migrations(settings: Settings) -> list[list[str]]:
    """The schema's numbered steps: step *n* takes a file from version *n - 1* to *n*.

    Each statement is idempotent (``IF NOT EXISTS``): tables are named by the
    settings, and a file at the current version still gets the tables of a
    store configured with other names.

    1. the users table (every release so far: a file they made has version 0
       and this table, which ``IF NOT EXISTS`` keeps as it is);
    2. the records, refresh and events tables (sessions, versions, denied ids, refresh tokens,
       the invalidation feed), one shape: the columns queries filter on, and a JSON body;
    3. the state table (issue 12: what identity providers said), the same shape.
    """
    users = _quoted(settings.users_collection)
    steps = [[f"CREATE TABLE IF NOT EXISTS {users} (id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID"]]
    second = []
    for name in (settings.records_table, settings.refresh_table, settings.events_table):
        table = _quoted(name)
        second += [
            f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, user, kind TEXT, at REAL, expires REAL, "
            "body TEXT NOT NULL) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {_quoted(name + '_expires')} ON {table} (expires)",
        ]
    records, events = settings.records_table, settings.events_table
    second.append(f"CREATE INDEX IF NOT EXISTS {_quoted(records + '_user')} ON {_quoted(records)} (user)")
    second.append(f"CREATE INDEX IF NOT EXISTS {_quoted(events + '_at')} ON {_quoted(events)} (at)")
    steps.append(second)
    state = _quoted(settings.state_collection)
    steps.append(
        [
            f"CREATE TABLE IF NOT EXISTS {state} (id TEXT PRIMARY KEY, user, kind TEXT, at REAL, expires REAL, "
            "body TEXT NOT NULL) WITHOUT ROWID",
            f"CREATE INDEX IF NOT EXISTS {_quoted(settings.state_collection + '_expires')} ON {state} (expires)",
            f"CREATE INDEX IF NOT EXISTS {_quoted(settings.state_collection + '_user')} ON {state} (user)",
        ]
    )
    return steps


def _record(row: tuple[Any, ...]) -> r.Record:
    """A records-table row as the record a flow reads (the shape a MongoDB document has)."""
    record: r.Record = {"_id": row[0]}
    for name, value in (("user", row[1]), ("kind", row[2]), ("at", row[3]), ("expires", row[4])):
        if value is not None:
            record[name] = value
    try:
        body = json.loads(row[5])
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        record.update(body)
    else:
        record["$unreadable"] = True  # its fields stay missing: the policy refuses the user's tokens
    return record


def _write_ahead_log(connection: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode (readers never wait for the writer), waiting up to *timeout* seconds.

    Changing the journal mode needs the file to itself, and SQLite answers "database is locked"
    at once, without its busy handler, while another connection holds it (two processes opening
    a new file): retried here. A file in WAL mode already is left as it is, with no lock taken.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def _identity(path: str) -> tuple[int, int] | None:
    """The file's (device, inode), or None when there is no file at *path*."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino)


class SQLiteStore:
    """The blocking embedded store.

    Connections are kept in a small pool rather than one per thread, so a
    server that starts a thread per request does not leave one open file per
    finished thread; a connection is used by one call at a time. After a
    fork() (a pre-fork server's workers) the child never touches the parent's
    connections: it opens its own. A pooled connection whose file was
    replaced or deleted is closed instead of reused.

    :raises StoreError: from :meth:`load` and :meth:`apply` when the file
        cannot be opened or read, or stays locked beyond ``store_timeout``.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.path = database_path(settings.store_url)
        table = _quoted(settings.users_collection)
        self._migrations = migrations(settings)
        self._records = _quoted(settings.records_table)
        self._refresh = _quoted(settings.refresh_table)
        self._events = _quoted(settings.events_table)
        self._state = _quoted(settings.state_collection)
        self._tables = {
            "records": self._records,
            "refresh": self._refresh,
            "events": self._events,
            "state": self._state,
        }
        # Identifiers in these statements are the quoted table name and fixed
        # column names; every value is a bound parameter.
        self._select = f"SELECT id, not_before, enabled FROM {table} WHERE id = ?"  # noqa: S608
        # Issue 12: what identity providers and the standard endpoints said, in the same statement.
        self._select_records = (
            f"{_SELECT} {self._records} WHERE user = ? UNION ALL {_SELECT} {self._state} WHERE user = ?"
        )
        self._allow_unknown = settings.unknown_users == "allow"
        self._table = table
        self._not_before_field = settings.not_before_fields[0]
        self._enabled_field = settings.enabled_field
        self._idle: list[sqlite3.Connection] = []
        #: The file each open connection was opened on: (device, inode).
        self._opened_on: dict[sqlite3.Connection, tuple[int, int] | None] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        # changed(): the feed follower's own connection, the file it is on, the last data_version seen.
        self._watcher: sqlite3.Connection | None = None
        self._watched_on: tuple[int, int] | None = None
        self._data_version: int | None = None
        _announce(self.path, default=settings.store_url is None)

    def _error(self, exc: sqlite3.Error) -> StoreError:
        # SQLite's messages ("database is locked", "unable to open database
        # file", "file is not a database") carry no values, only the kind.
        return StoreError(f"SQLite store at {self.path} unavailable: {exc}")

    def exists(self) -> bool:
        """Whether the store's file exists (reads never create it)."""
        return os.path.exists(self.path)

    def _open(self) -> sqlite3.Connection:
        timeout = self._settings.store_timeout
        connection = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            connection.execute(f"PRAGMA busy_timeout = {max(1, int(timeout * 1000))}")
            _write_ahead_log(connection, timeout)
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        with self._lock:
            self._opened_on[connection] = _identity(self.path)
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        """Bring the file's schema to :data:`SCHEMA_VERSION`, under the write lock, once per file.

        ``PRAGMA user_version`` numbers the schema; each step of :func:`migrations`
        runs in one ``BEGIN IMMEDIATE`` transaction with the version it reaches,
        so two processes opening an old file at once migrate it once.
        """
        if connection.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            # The tables under this store's configured names (a file may serve several
            # settings): each a no-op, without the write lock, when it exists.
            for statements in self._migrations:
                for statement in statements:
                    connection.execute(statement)
            return
        connection.execute("BEGIN IMMEDIATE")
        try:
            current = connection.execute("PRAGMA user_version").fetchone()[0]
            for version, statements in enumerate(self._migrations, start=1):
                if version > current:
                    for statement in statements:
                        connection.execute(statement)
            # A file made by a later release keeps its number (never moved back).
            connection.execute(f"PRAGMA user_version = {max(current, SCHEMA_VERSION)}")
        except BaseException:
            connection.rollback()
            raise
        connection.execute("COMMIT")

    def _discard(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            self._opened_on.pop(connection, None)
        connection.close()

    def _leave_inherited(self) -> None:
        # Called under the lock. A pre-fork server (gunicorn --preload) may
        # build the store, and use it to seed users, before forking workers:
        # each worker then opens connections of its own.
        if self._pid != os.getpid():
            _inherited.extend(self._idle)
            self._idle, self._pid = [], os.getpid()
            self._opened_on = {}

    def _reusable(self) -> sqlite3.Connection | None:
        """An idle connection still on the file at ``path``; stale ones are closed."""
        while True:
            with self._lock:
                self._leave_inherited()
                if not self._idle:
                    return None
                connection = self._idle.pop()
                opened_on = self._opened_on.get(connection)
            # One stat() per query: the price of noticing a replaced file at once.
            if opened_on is not None and _identity(self.path) == opened_on:
                return connection
            logger.warning("jwtguard: the SQLite file %s was replaced or removed: reopening it", self.path)
            self._discard(connection)

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A connection on the current file; for a read, None when the file does not exist.

        A read must not leave an empty file behind (a command run in the
        wrong directory); a missing *directory* still fails when opened.
        """
        connection = self._reusable()
        if connection is None and not write and not self.exists() and os.path.isdir(os.path.dirname(self.path)):
            yield None
            return
        try:
            if connection is None:
                connection = self._open()
            yield connection
        except sqlite3.Error as exc:
            # A connection that failed is not reused: the file may have changed under it.
            if connection is not None:
                self._discard(connection)
            raise self._error(exc) from exc
        except BaseException:
            if connection is not None:
                self._discard(connection)
            raise
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        self._discard(connection)

    def load(self, user_id: UserId) -> Document | None:
        key = user_key(user_id, self._settings.user_id_type)
        if key is None:  # user_key admits only 64-bit ints and printable strings (no lone surrogate)
            return None
        with self._connection(write=False) as connection:
            row = None if connection is None else connection.execute(self._select, (key.value,)).fetchone()
            if row is None and (connection is None or not self._allow_unknown):
                return None
            assert connection is not None
            # The same read: the user's sessions, versions, ended sessions and denied ids.
            ref = r.user_ref(key)
            found = connection.execute(self._select_records, (ref, ref)).fetchall()
        if row is None:  # JWTGUARD_UNKNOWN_USERS=allow: what jwtguard's own tables say is the state
            return r.with_records({"_id": key.value}, [_record(record) for record in found])
        document: dict[str, Any] = {"_id": row[0]}
        if row[1] is not None:
            document[self._not_before_field] = _stored_date(row[1])
        if row[2] is not None:
            document[self._enabled_field] = _stored_enabled(row[2])
        return r.with_records(document, [_record(record) for record in found])

    def apply(self, user_id: UserId, change: Change) -> bool:
        value = store_key(user_id, self._settings).value
        with self._connection(write=True) as connection:
            assert connection is not None
            # BEGIN IMMEDIATE takes the write lock first: writers in every
            # process are serialised, so nothing changes between the read
            # and the write below.
            connection.execute("BEGIN IMMEDIATE")
            try:
                found = self._apply_locked(connection, value, change)
            except BaseException:
                if connection.in_transaction:
                    connection.rollback()
                raise
            connection.execute("COMMIT")
        return found

    def _apply_locked(self, connection: sqlite3.Connection, value: str | int, change: Change) -> bool:
        """Read, compare and write one user inside the caller's write transaction."""
        table = self._table
        if change.create:
            # A new row gets the change's enabled flag; an existing one keeps
            # what it has but for the fields set below.
            insert = f"INSERT INTO {table} (id) VALUES (?) ON CONFLICT(id) DO NOTHING"  # noqa: S608
            connection.execute(insert, (value,))
        row = connection.execute(f"SELECT not_before FROM {table} WHERE id = ?", (value,)).fetchone()  # noqa: S608
        if row is None:
            return False
        columns: dict[str, Any] = {}
        if change.enabled is not None:
            columns["enabled"] = int(change.enabled)
        if change.not_before is not None and _later(row[0], cut := _epoch(change.not_before)):
            columns["not_before"] = cut
        if columns:
            assignments = ", ".join(f"{name} = ?" for name in columns)
            update = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608
            connection.execute(update, (*columns.values(), value))
        return True

    def run(self, flow: r.RecordFlow[T]) -> T:
        """Perform a records flow (:mod:`jwtguard.stores.records`) on this file.

        Each operation is one statement; the unique-id insert is the atomic
        step the flows rely on, as on MongoDB. Raises :class:`StoreError`.
        """
        answer: Any = None
        try:
            while True:
                op = flow.send(answer)
                if isinstance(op, r.LoadUser):
                    answer = self.load(op.user_id)
                elif isinstance(op, r.ApplyUser):
                    answer = self.apply(op.user_id, op.change)
                else:
                    with self._connection(write=True) as connection:
                        assert connection is not None
                        answer = self._record_op(connection, op)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            flow.close()

    def _record_op(self, connection: sqlite3.Connection, op: r.Operation) -> Any:
        # Identifiers are the quoted table names; every value is a bound parameter.
        if isinstance(op, r.FindUser):
            found = connection.execute(self._select_records, (op.user, op.user)).fetchall()
            return [_record(row) for row in found]
        if isinstance(op, r.Since):
            query = f"{_SELECT} {self._events} WHERE at >= ? ORDER BY at LIMIT ?"
            return [_record(row) for row in connection.execute(query, (op.after, op.limit)).fetchall()]
        table = self._tables[op.table]  # type: ignore[union-attr]
        if isinstance(op, r.Get):
            row = connection.execute(f"{_SELECT} {table} WHERE id = ?", (op.id,)).fetchone()
            return None if row is None else _record(row)
        if isinstance(op, r.Insert):
            record = op.record
            body = {name: value for name, value in record.items() if name not in _COLUMNS}
            columns = (record["_id"], record.get("user"), record.get("kind"), record.get("at"), record.get("expires"))
            try:
                connection.execute(
                    f"INSERT INTO {table} (id, user, kind, at, expires, body) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                    (*columns, json.dumps(body)),
                )
            except sqlite3.IntegrityError:
                return False
            return True
        if isinstance(op, r.Update):
            # Read and rewrite the body in one write transaction: writers are serialised.
            connection.execute("BEGIN IMMEDIATE")
            try:
                row = connection.execute(f"SELECT body FROM {table} WHERE id = ?", (op.id,)).fetchone()  # noqa: S608
                if row is not None:
                    fields = dict(op.fields)
                    expires = fields.pop("expires", None)
                    body = {**json.loads(row[0]), **fields}
                    update = f"UPDATE {table} SET body = ?, expires = coalesce(?, expires) WHERE id = ?"  # noqa: S608
                    connection.execute(update, (json.dumps(body), expires, op.id))
            except BaseException:
                connection.rollback()
                raise
            connection.execute("COMMIT")
            return row is not None
        if isinstance(op, r.Delete):
            connection.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in op.ids])  # noqa: S608
            return None
        assert isinstance(op, r.Prune)
        connection.execute(f"DELETE FROM {table} WHERE expires < ?", (op.before,))  # noqa: S608
        return None

    def changed(self) -> bool:
        """Whether any connection committed to the file since the last call (``PRAGMA data_version``).

        For the invalidation feed's follower (one thread): about a microsecond, so
        the events table is queried only when something was written. A connection of
        its own, reopened when the file is replaced; True when unsure.
        """
        watcher = self._watcher
        identity = _identity(self.path)
        try:
            if watcher is None or identity != self._watched_on:
                if watcher is not None:
                    watcher.close()
                if identity is None:
                    self._watcher = None
                    return True
                watcher = self._watcher = sqlite3.connect(self.path, timeout=self._settings.store_timeout)
                self._watched_on, self._data_version = identity, None
            version: int = watcher.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self._watcher = None
            return True
        changed = version != self._data_version
        self._data_version = version
        return changed

    def close(self) -> None:
        """Close the idle connections; calls still running close theirs when they end."""
        with self._lock:
            self._leave_inherited()
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            self._discard(connection)


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

    async def run(self, flow: r.RecordFlow[T]) -> T:
        """:meth:`SQLiteStore.run` in a worker thread."""
        return await asyncio.to_thread(self._store.run, flow)

    async def close(self) -> None:
        # Closing the last connection checkpoints the WAL: file I/O, off the loop too.
        await asyncio.to_thread(self._store.close)
