"""MongoDB stores: pymongo's ``MongoClient`` (WSGI) and native ``AsyncMongoClient`` (ASGI).

Each operation is one pure *flow* (:func:`load_flow`, :func:`apply_flow`): a
generator that yields the queries it needs as :class:`Op` values and is sent
their answers. :class:`MongoStore` and :class:`AsyncMongoStore` each run flows
with one small driver that wraps driver errors into :class:`StoreError` once.

Where jwtguard writes, and why there (FerretDB applies an update as
read-modify-replace, so two concurrent updates of one document can lose one;
only an insert with a unique ``_id`` is atomic):

* the enabled switch: a single-field ``$set`` on the user's own document;
* cut-offs (``logout_everywhere``): insert-only records in jwtguard's own
  collection ``<JWTGUARD_USERS_COLLECTION>_revocations``, one document
  ``{_id: ObjectId, user: <the user's _id>, at: <date>}`` each, indexed on
  ``(user, at)``. A user's cut-off is the latest of the document's not-before
  fields and these records. After inserting a record, the records it
  supersedes (strictly earlier) are deleted: the latest one is never deleted,
  so a racing logout can neither undo nor move back a cut-off, and a logout
  never rewrites the user's document (so it cannot undo a racing disable);
* ``create``: an insert that ignores ``DuplicateKeyError`` (never an upsert,
  which on FerretDB is not atomic and on MongoDB could make a second
  document for an existing ObjectId user).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import pymongo
from bson import ObjectId
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.uri_parser import parse_uri

from ..config import Settings
from ..errors import ConfigError, StoreError
from ..userid import UserKey, user_key
from . import records as r
from .base import CUTOFF_RECORDS, UNREADABLE, Change, Document, UserId, store_key

DEFAULT_DATABASE = "jwtguard"

#: Dates come back time-zone-aware (UTC), and a date beyond ``datetime``'s
#: years as a ``DatetimeMS`` rather than an ``InvalidBSON`` out of the read:
#: the policy reads it as unreadable and refuses the user's tokens.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, tzinfo=timezone.utc, datetime_conversion=DatetimeConversion.DATETIME_AUTO
)

T = TypeVar("T")
Collection = Literal["users", "records", "refresh", "events", "state"]


@dataclass(frozen=True, slots=True)
class Op:
    """One query a flow needs: a collection method and its arguments.

    ``find`` answers with the list of documents; every other method with
    the driver's own result.
    """

    collection: Collection
    method: Literal["find_one", "find", "insert_one", "update_one", "delete_many", "create_index"]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


Flow = Generator[Op, Any, T]


def records_collection(settings: Settings) -> str:
    """jwtguard's own collection of per-user records (``JWTGUARD_RECORDS_COLLECTION``)."""
    return settings.records_table


def user_filter(key: UserKey) -> dict[str, Any]:
    """The query for one user by ``_id`` (see :mod:`jwtguard.userid`).

    ``hex`` (type ``auto``) matches the ObjectId or its lower-case string;
    ``objectid`` the ObjectId only; ``str`` and ``int`` the value itself.
    The value has been checked: a plain string or a 64-bit integer, never an
    operator object.
    """
    if key.kind == "objectid":
        return {"_id": ObjectId(str(key.value))}
    if key.kind == "hex":
        return {"_id": {"$in": [key.value, ObjectId(str(key.value))]}}
    return {"_id": key.value}


def insert_id(key: UserKey) -> Any:
    """The ``_id`` a new user document gets: the declared type, or the claim's own type under ``auto``."""
    return ObjectId(str(key.value)) if key.kind == "objectid" else key.value


#: When ``hex`` matches both a string and an ObjectId document, every
#: operation picks the same one (BSON orders strings before ObjectIds).
_SAME_DOCUMENT = {"sort": [("_id", 1)]}


def projection(settings: Settings) -> dict[str, int]:
    return {name: 1 for name in (*settings.not_before_fields, settings.enabled_field)}


def load_flow(key: UserKey, settings: Settings) -> Flow[Document | None]:
    """The user's document with jwtguard's cut-off records; None for an unknown user.

    A document the driver cannot decode reads as ``{UNREADABLE: kind}``: the
    user's tokens are refused rather than the request failing with a 500.
    """
    try:
        document = yield Op("users", "find_one", (user_filter(key), projection(settings)), _SAME_DOCUMENT)
    except BSONError as exc:
        return {UNREADABLE: type(exc).__name__}
    ref = r.user_ref(key)
    if document is None:
        if settings.unknown_users != "allow":
            return None
        # JWTGUARD_UNKNOWN_USERS=allow: the users live in an identity provider; what jwtguard's
        # own collections say about this one is its state.
        document = {"_id": ref}
    # Cut-off records of earlier releases name the user by its document's _id; every other
    # record by its canonical id (records.user_ref): one query finds both.
    owners = [document["_id"]]
    if ref != document["_id"]:
        owners.append(ref)
    try:
        found = yield Op("records", "find", ({"user": {"$in": owners}},))
        # Issue 12: what identity providers and the standard endpoints said about the user.
        found = [*found, *(yield Op("state", "find", ({"user": ref},)))]
    except BSONError as exc:
        return {"_id": document["_id"], UNREADABLE: type(exc).__name__}
    cutoffs = [record.get("at") for record in found if "kind" not in record]
    if cutoffs:
        document = {**document, CUTOFF_RECORDS: cutoffs}
    loaded: Document = r.with_records(document, [_from_mongo(record) for record in found if "kind" in record])
    return loaded


def _to_mongo(record: r.Record) -> dict[str, Any]:
    # ``expires`` is a BSON date, so a TTL index can remove what no longer matters.
    if "expires" not in record:
        return record
    return {**record, "expires": datetime.fromtimestamp(record["expires"], tz=timezone.utc)}


def _from_mongo(record: dict[str, Any]) -> r.Record:
    expires = record.get("expires")
    if isinstance(expires, datetime):
        return {**record, "expires": _utc(expires).timestamp()}
    return record


def records_flow(flow: r.RecordFlow[T], settings: Settings, *, indexed: bool = True) -> Flow[T]:
    """Run a records flow (:mod:`jwtguard.stores.records`) as MongoDB queries.

    *indexed* False first creates the indexes: ``user`` on the records, and
    TTL indexes on ``expires`` where the server has them (FerretDB has none:
    the flows prune, and no read depends on the deletion).
    """
    if not indexed:
        yield Op("records", "create_index", ([("user", 1), ("at", 1)],))
        yield Op("events", "create_index", ([("at", 1)],))
        yield Op("state", "create_index", ([("user", 1)],))
        for table in ("records", "refresh", "events", "state"):
            try:
                yield Op(table, "create_index", ([("expires", 1)],), {"expireAfterSeconds": 0})
            except PyMongoError:
                yield Op(table, "create_index", ([("expires", 1)],))
    answer: Any = None
    try:
        while True:
            op = flow.send(answer)
            if isinstance(op, r.Get):
                found = yield Op(op.table, "find_one", ({"_id": op.id},))
                answer = None if found is None else _from_mongo(found)
            elif isinstance(op, r.Insert):
                try:
                    yield Op(op.table, "insert_one", (_to_mongo(op.record),))
                    answer = True
                except DuplicateKeyError:
                    answer = False
            elif isinstance(op, r.FindUser):
                query = ({"user": op.user, "kind": {"$in": sorted(r.KINDS)}},)
                found = yield Op("records", "find", query)
                found = [*found, *(yield Op("state", "find", query))]
                answer = [_from_mongo(record) for record in found]
            elif isinstance(op, r.Update):
                result = yield Op(op.table, "update_one", ({"_id": op.id}, {"$set": _to_mongo(dict(op.fields))}))
                answer = result.matched_count > 0
            elif isinstance(op, r.Delete):
                answer = yield Op(op.table, "delete_many", ({"_id": {"$in": list(op.ids)}},))
            elif isinstance(op, r.Prune):
                before = datetime.fromtimestamp(op.before, tz=timezone.utc)
                answer = yield Op(op.table, "delete_many", ({"expires": {"$lt": before}},))
            elif isinstance(op, r.Since):
                since = ({"at": {"$gte": op.after}},)
                found = yield Op("events", "find", since, {"sort": [("at", 1)], "limit": op.limit})
                answer = [_from_mongo(record) for record in found]
            elif isinstance(op, r.LoadUser):
                key = user_key(op.user_id, settings.user_id_type)
                answer = None if key is None else (yield from load_flow(key, settings))
            else:
                assert isinstance(op, r.ApplyUser)
                answer = yield from apply_flow(store_key(op.user_id, settings), op.change, settings)
    except StopIteration as stop:
        result_value: T = stop.value
        return result_value


def apply_flow(key: UserKey, change: Change, settings: Settings, *, indexed: bool = True) -> Flow[bool]:
    """Apply *change* (see the module's notes on where each write goes); False for an unknown user.

    *indexed* False also creates the records' ``(user, at)`` index (once per store).
    """
    match = user_filter(key)
    exists = False
    owner: Document | None = None
    if key.kind == "hex":
        # A 24-hex id matches an ObjectId document or its lower-case string. On MongoDB the two
        # are different _ids, so an insert would not collide: every write goes to the document
        # reads pick, and a new one is made only when neither exists.
        owner = yield Op("users", "find_one", (match, {"_id": 1}), _SAME_DOCUMENT)
        if owner is not None:
            match, exists = {"_id": owner["_id"]}, True
    created = False
    if change.create and not exists:
        document: dict[str, Any] = {"_id": insert_id(key)}
        if change.enabled is not None:
            document[settings.enabled_field] = change.enabled
        try:
            yield Op("users", "insert_one", (document,))
            created = True
        except DuplicateKeyError:
            pass  # the user exists: it keeps what it has, the fields below excepted
    found = change.create
    if change.enabled is not None and not created:
        result = yield Op("users", "update_one", (match, {"$set": {settings.enabled_field: change.enabled}}))
        found = found or result.matched_count > 0
    if change.not_before is not None:
        if owner is None:  # a hex id's owner was found above
            owner = yield Op("users", "find_one", (match, {"_id": 1}), _SAME_DOCUMENT)
        if owner is None:
            return False
        if not indexed:
            yield Op("records", "create_index", ([("user", 1), ("at", 1)],))
        at = _utc(change.not_before)
        yield Op("records", "insert_one", ({"user": owner["_id"], "at": at},))
        # Only after the newer record is in: the latest record is never deleted.
        yield Op("records", "delete_many", ({"user": owner["_id"], "at": {"$lt": at}},))
        return True
    if not change.create and change.enabled is None:
        if owner is None:
            owner = yield Op("users", "find_one", (match, {"_id": 1}), _SAME_DOCUMENT)
        return owner is not None
    return found


def _utc(moment: datetime) -> datetime:
    # A naive datetime is UTC, as jwtguard reads stored dates; never local time.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def client_options(settings: Settings) -> dict[str, Any]:
    """Short timeouts, time-zone-aware dates, out-of-range dates as ``DatetimeMS``.

    ``timeoutMS`` bounds a whole operation, retries included (pymongo's
    client-side operation timeout); the others bound each step of it.
    """
    timeout_ms = max(1, int(settings.store_timeout * 1000))
    return {
        "tz_aware": True,
        "datetime_conversion": "DATETIME_AUTO",
        "timeoutMS": timeout_ms,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": timeout_ms,
        "appname": "jwtguard",
    }


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


def _unavailable(exc: Exception) -> StoreError:
    # The message names the kind of failure only; driver text can carry hosts.
    return StoreError(f"MongoDB store unavailable ({type(exc).__name__})")


def _collections(database: Any, settings: Settings) -> dict[Collection, Any]:
    # The codec options are the collection's own: a shared client keeps its defaults.
    return {
        "users": database.get_collection(settings.users_collection, codec_options=CODEC_OPTIONS),
        "records": database.get_collection(records_collection(settings), codec_options=CODEC_OPTIONS),
        "refresh": database.get_collection(settings.refresh_table, codec_options=CODEC_OPTIONS),
        "events": database.get_collection(settings.events_table, codec_options=CODEC_OPTIONS),
        "state": database.get_collection(settings.state_collection, codec_options=CODEC_OPTIONS),
    }


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
        self._collections = _collections(self._client.get_default_database(DEFAULT_DATABASE), settings)
        self._indexed = False
        self._records_indexed = False

    def _run(self, flow: Flow[T]) -> T:
        """Perform *flow*'s queries; errors the flow does not handle become one StoreError.

        One deadline covers every query of the flow (pymongo's ``timeout``
        block): a load of a user and its records still fails within
        ``JWTGUARD_STORE_TIMEOUT``, not once per query.
        """
        try:
            with pymongo.timeout(self._settings.store_timeout):
                return self._steps(flow)
        except (PyMongoError, BSONError) as exc:
            raise _unavailable(exc) from exc
        finally:
            flow.close()

    def _steps(self, flow: Flow[T]) -> T:
        try:
            op = next(flow)
            while True:
                try:
                    method = getattr(self._collections[op.collection], op.method)
                    result = method(*op.args, **op.kwargs)
                    if op.method == "find":
                        result = list(result)
                except (PyMongoError, BSONError) as exc:
                    op = flow.throw(exc)  # the flow decides (a duplicate key, an undecodable document)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            answer: T = stop.value
            return answer

    def load(self, user_id: UserId) -> Document | None:
        key = user_key(user_id, self._settings.user_id_type)
        return None if key is None else self._run(load_flow(key, self._settings))

    def apply(self, user_id: UserId, change: Change) -> bool:
        flow = apply_flow(store_key(user_id, self._settings), change, self._settings, indexed=self._indexed)
        found = self._run(flow)
        self._indexed = self._indexed or (change.not_before is not None and found)
        return found

    def run(self, flow: r.RecordFlow[T]) -> T:
        """Perform a records flow (:mod:`jwtguard.stores.records`); driver errors become one StoreError."""
        answer = self._run(records_flow(flow, self._settings, indexed=self._records_indexed))
        self._records_indexed = True
        return answer

    def change_streams(self) -> bool:
        """Whether the server offers change streams: a replica set or a sharded cluster (FerretDB: no)."""
        with pymongo.timeout(self._settings.store_timeout):
            hello = self._client.admin.command("hello")
        return "setName" in hello or hello.get("msg") == "isdbgrid"

    def watch(self, resume_after: Any, max_await: float) -> Any:
        """A change stream of the feed's events and of the users collection (:mod:`jwtguard.feed`)."""
        names = [self._settings.events_table, self._settings.users_collection]
        database = self._collections["users"].database
        return database.watch(
            [{"$match": {"ns.coll": {"$in": names}}}],
            resume_after=resume_after,
            max_await_time_ms=max(1, int(max_await * 1000)),
        )

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
        self._indexed = False
        self._records_indexed = False
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMongoClient[Any]] = (
            weakref.WeakKeyDictionary()
        )

    def _collections(self) -> dict[Collection, Any]:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = AsyncMongoClient(self._settings.store_url, **client_options(self._settings))
            self._clients[loop] = client
        return _collections(client.get_default_database(DEFAULT_DATABASE), self._settings)

    async def _run(self, flow: Flow[T]) -> T:
        """The same driver as :meth:`MongoStore._run`, awaiting each query (one deadline for all)."""
        try:
            with pymongo.timeout(self._settings.store_timeout):
                return await self._steps(flow)
        except (PyMongoError, BSONError) as exc:
            raise _unavailable(exc) from exc
        finally:
            flow.close()

    async def _steps(self, flow: Flow[T]) -> T:
        collections = self._collections()
        try:
            op = next(flow)
            while True:
                try:
                    method = getattr(collections[op.collection], op.method)
                    if op.method == "find":
                        result = await method(*op.args, **op.kwargs).to_list(None)
                    else:
                        result = await method(*op.args, **op.kwargs)
                except (PyMongoError, BSONError) as exc:
                    op = flow.throw(exc)
                else:
                    op = flow.send(result)
        except StopIteration as stop:
            answer: T = stop.value
            return answer

    async def load(self, user_id: UserId) -> Document | None:
        key = user_key(user_id, self._settings.user_id_type)
        return None if key is None else await self._run(load_flow(key, self._settings))

    async def apply(self, user_id: UserId, change: Change) -> bool:
        flow = apply_flow(store_key(user_id, self._settings), change, self._settings, indexed=self._indexed)
        found = await self._run(flow)
        self._indexed = self._indexed or (change.not_before is not None and found)
        return found

    async def run(self, flow: r.RecordFlow[T]) -> T:
        """:meth:`MongoStore.run`, awaiting each query."""
        answer = await self._run(records_flow(flow, self._settings, indexed=self._records_indexed))
        self._records_indexed = True
        return answer

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.close()
