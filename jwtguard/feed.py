"""The invalidation feed: a change made in one process reaches every process within a second.

Every write jwtguard makes that changes what the guard decides (the admin API,
the CLI, sessions, the denylist) first inserts an *event* naming the user into
``<users>_events`` (:func:`jwtguard.stores.records.event`), then makes the
change. Each process runs one :class:`Follower` per store: a thread that reads
the events newer than the last it saw, every ``JWTGUARD_FEED_INTERVAL``, with
one indexed query, and publishes each user it names on the invalidation bus,
so every state cache of the process forgets that user at once.

Why the event comes first, and the hold: there are no transactions on
FerretDB. A follower that reads the event forgets the user *and* caches no
load of it for :attr:`Follower.hold` seconds; a request in that window reads
the store (which may not hold the change yet) but leaves nothing cached, so a
slow or failed second write can never leave an older state cached for the
whole ``JWTGUARD_CACHE_TTL``.

Reading: commits arrive out of order (an event stamped earlier can be
committed later, and writers' clocks differ), so each read goes back
:attr:`Follower.overlap` seconds before the newest event seen and skips the
ids it already handled. Health: while the events cannot be read (the store is
down, before the first read), the caches remember states for at most
``JWTGUARD_FEED_FALLBACK_TTL``; when reading resumes after an outage, every
cache of the process is flushed (events may have been missed). Events are
pruned by the feed itself (a TTL index is never needed).

Bounds (README "Propagation"): a write made through jwtguard is seen
everywhere within ``JWTGUARD_FEED_INTERVAL`` plus one store round trip while
the feed is healthy; within ``JWTGUARD_FEED_FALLBACK_TTL`` when it is not; a
write the app makes to its own documents (``destroyAnyJWTbefore``,
``user_enabled``) makes no event, and is seen within ``JWTGUARD_CACHE_TTL``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Protocol

from bson import ObjectId
from pymongo.errors import ConnectionFailure, PyMongoError

from .config import Settings
from .errors import StoreError
from .invalidation import InvalidationBus
from .sansio.claims import ProviderSession
from .sansio.state import is_id
from .stores import records as r
from .stores.base import RecordStore
from .userid import user_key

logger = logging.getLogger("jwtguard")

#: Prune the events table once every this many reads.
_PRUNE_EVERY: Final = 240


def since(after: float, limit: int) -> r.RecordFlow[list[r.Record]]:
    found: list[r.Record] = yield r.Since(after, limit)
    return found


def prune(before: float) -> r.RecordFlow[None]:
    yield r.Prune("events", before)


class Follower:
    """Reads one store's events and publishes the users they name on *bus* (one per store and bus).

    :param settings: the interval, the fallback TTL, the id type (events name canonical ids).
    :param store: a blocking store that runs records flows; the follower's own
        reads never share a caller's connection (SQLite pools them; MongoDB
        clients are thread-safe).
    :param bus: where evictions go (the engines' caches are subscribed to it).
    """

    def __init__(
        self,
        settings: Settings,
        store: RecordStore,
        bus: InvalidationBus,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.interval = settings.feed_interval
        #: How far each read goes back before the newest event seen: commits out of order, clocks apart.
        self.overlap = max(2.0, 4 * self.interval)
        #: How long a user's loads are not cached after an event names it (the second write's time).
        self.hold = max(1.0, 2 * self.interval + settings.store_timeout)
        self.limit = 1000
        self._clock = clock
        self._timer = timer
        self._newest = clock()
        self._seen: dict[str, float] = {}
        self._reads = 0
        #: Whether the last read succeeded; False before the first one.
        self.healthy = False
        self._ever_healthy = False
        self.events_read = 0
        self.failures = 0
        #: When the last read succeeded (monotonic seconds), for the metrics' lag.
        self.last_read: float | None = None
        self._watchers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: The follower opened *store* itself (an ASGI guard's blocking twin): it closes it when it ends.
        self.owns_store = False

    # -- the caches it serves -------------------------------------------------------------

    def watch(self, watcher: Any) -> None:
        """Tell *watcher* (a state cache) the feed's health from now on; the follower runs while one lives."""
        with self._lock:
            self._watchers.add(watcher)
        watcher.fallback_ttl = None if self.healthy else self.settings.feed_fallback_ttl

    def unwatch(self, watcher: Any) -> None:
        """*watcher* no longer follows (its guard was closed); the thread ends with the last one."""
        with self._lock:
            self._watchers.discard(watcher)

    def _tell(self, healthy: bool) -> None:
        ttl = None if healthy else self.settings.feed_fallback_ttl
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.fallback_ttl = ttl

    # -- one read ---------------------------------------------------------------------------

    def poll(self) -> int:
        """Read the events since the last read and publish what they name; how many were new.

        Never raises for the store: a failure marks the feed unhealthy (logged
        once) until a read succeeds, which then flushes every watcher's cache.
        """
        published = 0
        changed = getattr(self.store, "changed", None)
        try:
            # The embedded store says for a microsecond whether anything was written since (data_version);
            # a read is needed anyway while unhealthy, and every so often to age the overlap.
            quiet = self.healthy and callable(changed) and not changed() and self._reads % 40 != 39
            while not quiet:
                found = self.store.run(since(self._newest - self.overlap, self.limit))
                published += self._publish(found)
                if len(found) < self.limit:
                    break  # else: a backlog; read on from the newest seen
        except Exception as exc:  # a store error, or anything else: never a dead thread that looks healthy
            self.failures += 1
            if self.healthy or (not self._ever_healthy and self.failures == 1):  # once per outage
                logger.warning(
                    "jwtguard: the invalidation feed cannot be read (%s); states are remembered for at most "
                    "JWTGUARD_FEED_FALLBACK_TTL=%gs until it can",
                    # A string, never the exception: a log record that keeps it would keep this follower
                    # (and its store's connections) alive through its traceback. Never a record's value.
                    str(exc) if isinstance(exc, StoreError) else type(exc).__name__,
                    self.settings.feed_fallback_ttl,
                )
            if self.healthy:
                self.healthy = False
                self._tell(False)
            return published
        self.last_read = self._timer()
        if not self.healthy:
            recovered = self._ever_healthy
            self.healthy = self._ever_healthy = True
            self._tell(True)
            if recovered:
                # Events older than the overlap may have come and gone during the outage.
                logger.warning("jwtguard: the invalidation feed is read again; every cached state is dropped")
                self._flush()
        self._reads += 1
        if self._reads % _PRUNE_EVERY == 0:
            with contextlib.suppress(StoreError):  # the next read says whether the store is there
                self.store.run(prune(self._clock()))
        return published

    def _publish(self, found: list[r.Record]) -> int:
        fresh = 0
        id_type = self.settings.user_id_type
        for event in found:
            event_id, at = event.get("_id"), event.get("at")
            if not isinstance(event_id, str) or event_id in self._seen or not isinstance(at, (int, float)):
                continue
            self._seen[event_id] = float(at)
            self._newest = max(self._newest, float(at))
            key = user_key(event.get("user"), id_type)
            if key is not None:
                self.bus.publish(key, hold=self.hold)
            elif event.get("user") is None and is_id(event.get("iss")) and is_id(event.get("sid")):
                # An identity provider's session that a logout token named by its sid alone.
                self.bus.publish(ProviderSession(event["iss"], event["sid"]), hold=self.hold)
            else:
                self._flush()  # an event naming nobody readable: forget everything rather than guess
            fresh += 1
        if fresh:
            self.events_read += fresh
            horizon = self._newest - self.overlap
            self._seen = {i: at for i, at in self._seen.items() if at >= horizon}
        return fresh

    def _flush(self) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.clear()

    # -- change streams (replica sets, sharded clusters) ----------------------------------------

    def streams(self) -> bool:
        """Whether the store offers change streams (MongoDB replica sets and sharded clusters; not FerretDB)."""
        check = getattr(self.store, "change_streams", None)
        try:
            return bool(check()) if callable(check) else False
        except Exception:
            return False

    def follow_stream(self, stop: threading.Event) -> bool:
        """Follow the store's change stream until *stop*; False when streams cannot be used any more.

        The stream names jwtguard's events (inserted first, as for polling)
        *and* the app's own writes to the users collection, which polling
        cannot see. A resumable error reopens the stream after its last
        resume token; an ``invalidate`` event or a lost token flushes every
        cache (changes may have been missed) and starts a new stream; any
        other error makes the follower poll from then on (logged once).
        """
        opener = getattr(self.store, "watch", None)
        if not callable(opener):
            return False
        token: Any = None
        while not stop.is_set() and self.watched:
            try:
                stream: ChangeStream = opener(token, self.interval)
            except PyMongoError as exc:
                if resumable(exc):
                    self._mark_unhealthy(exc)
                    stop.wait(self.interval)
                    continue
                return self._give_up(exc)
            try:
                # Resumed after its token, the stream misses nothing; a new one may have (an outage).
                self._mark_healthy(missed=token is None)
                while not stop.is_set() and self.watched:
                    change = stream.try_next()
                    token = stream.resume_token or token
                    if change is None:
                        continue
                    if change.get("operationType") == "invalidate":
                        token = None  # a new stream: its history starts now
                        self._flush()
                        break
                    self._publish_change(change)
            except PyMongoError as exc:
                if not resumable(exc):
                    return self._give_up(exc)
                self._mark_unhealthy(exc)
            finally:
                stream.close()
        return True

    def _publish_change(self, change: Mapping[str, Any]) -> None:
        namespace = change.get("ns") or {}
        if namespace.get("coll") == self.settings.users_collection:
            # The app's own write to a user's document: the change itself, nothing to hold for.
            user = (change.get("documentKey") or {}).get("_id")
            key = user_key(str(user) if isinstance(user, ObjectId) else user, self.settings.user_id_type)
            if key is None:
                self._flush()
            else:
                self.bus.publish(key)
            self.events_read += 1
            return
        document = change.get("fullDocument")
        if change.get("operationType") == "insert" and isinstance(document, Mapping):
            self._publish([dict(document)])

    def _mark_healthy(self, *, missed: bool) -> None:
        self.last_read = self._timer()
        if not self.healthy:
            recovered = self._ever_healthy
            self.healthy = self._ever_healthy = True
            self._tell(True)
            if recovered and missed:
                logger.warning("jwtguard: the invalidation feed's change stream is open again; caches dropped")
                self._flush()

    def _mark_unhealthy(self, error: BaseException, *, log: bool = True) -> None:
        self.failures += 1
        if self.healthy:
            self.healthy = False
            self._tell(False)
            if log:
                name = type(error).__name__
                logger.warning("jwtguard: the invalidation feed's change stream failed (%s); reopening it", name)

    def _give_up(self, error: BaseException) -> bool:
        logger.warning(
            "jwtguard: the invalidation feed's change stream cannot be used (%s); polling instead",
            type(error).__name__,
        )
        self._mark_unhealthy(error, log=False)
        self._flush()
        return False

    # -- the thread -------------------------------------------------------------------------

    def start(self) -> None:
        """Start reading in a daemon thread (idempotent); it ends when no watcher is left, or at :meth:`stop`."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=_run, args=(weakref.ref(self), self._stop, self.interval), name="jwtguard-feed", daemon=True
            )
            stop_at_exit(self._stop, self._thread)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (a read in progress finishes first)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, self.settings.store_timeout * 2))

    @property
    def watched(self) -> bool:
        return len(self._watchers) > 0


#: Every background thread of jwtguard (followers, pollers) with its stop event, while it runs.
_running: dict[threading.Thread, threading.Event] = {}
_running_lock = threading.Lock()
#: How long the interpreter's exit waits for them, in all.
EXIT_WAIT: Final = 3.0


def stop_at_exit(stop: threading.Event, thread: threading.Thread) -> None:
    """Stop *thread* (set *stop*, then join it briefly) when the interpreter exits.

    They are daemon threads, so that a forgotten guard never keeps a process alive; but a daemon
    thread still reading a store or writing a log line while the interpreter finalizes can abort
    it ("Fatal Python error ... at interpreter shutdown"): a process whose every test passed would
    then exit with SIGABRT. :mod:`atexit` runs before finalization.
    """
    with _running_lock:
        for done in [known for known in _running if not known.is_alive() and known is not thread]:
            del _running[done]
        _running[thread] = stop


def _stop_all() -> None:
    with _running_lock:
        running = list(_running.items())
        _running.clear()
    for _, stop in running:
        stop.set()
    deadline = time.monotonic() + EXIT_WAIT
    for thread, _ in running:
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


atexit.register(_stop_all)


def _run(ref: weakref.ref[Follower], stop: threading.Event, interval: float) -> None:
    # Holds the follower only while reading: once no engine refers to it, the thread ends.
    follower = ref()
    streams = follower is not None and follower.streams()
    del follower
    while not stop.is_set():
        follower = ref()
        if follower is None or not follower.watched:
            # A store the follower opened is closed now (its guards are closed or gone), not when the
            # garbage collector gets to the follower (a log record's traceback may keep it a while).
            if follower is not None and follower.owns_store:
                _close_quietly(follower.store)
            return
        if streams:
            try:
                streams = follower.follow_stream(stop)  # False once streams cannot be used: poll from then on
            except Exception as exc:
                streams = follower._give_up(exc)
        else:
            follower.poll()
        del follower
        stop.wait(interval)


# -- MongoDB change streams ------------------------------------------------------------------------


class ChangeStream(Protocol):
    """What :meth:`Follower.follow_stream` reads: pymongo's ``ChangeStream`` (or a scripted one in tests)."""

    @property
    def resume_token(self) -> Any: ...

    def try_next(self) -> Mapping[str, Any] | None: ...

    def close(self) -> None: ...


def resumable(error: BaseException) -> bool:
    """Whether a change stream may be opened again after *error* from its resume token.

    Network errors and errors labelled ``ResumableChangeStreamError`` (the
    change streams specification): yes. Anything else (history lost, the
    stream killed, not authorised): no, the follower polls from then on.
    """
    if isinstance(error, ConnectionFailure):
        return True
    return isinstance(error, PyMongoError) and error.has_error_label("ResumableChangeStreamError")


# -- one follower per store and bus in a process -----------------------------------------------

#: Held weakly: a follower lives while an engine refers to it (``Engine.feed``), then its thread ends
#: and a store it opened is closed.
_followers: weakref.WeakValueDictionary[Hashable, Follower] = weakref.WeakValueDictionary()
_followers_lock = threading.Lock()


def follower_for(
    settings: Settings, store: RecordStore, bus: InvalidationBus, source: Hashable, *, owns_store: bool = False
) -> Follower:
    """The process's follower of *source* (a store's identity) for *bus*, made on first use.

    *owns_store*: *store* was opened for the follower; closed here when an existing follower serves.
    """
    key = (id(bus), source, settings.events_table)
    with _followers_lock:
        follower = _followers.get(key)
        if follower is None or not follower.watched:  # none yet, or its engines are gone
            follower = _followers[key] = Follower(settings, store, bus)
            follower.owns_store = owns_store
            if owns_store:
                # Closed with the follower, however it ends (its thread, or the garbage collector).
                weakref.finalize(follower, _close_quietly, store)
        elif owns_store:
            with contextlib.suppress(Exception):
                store.close()
        return follower


def _close_quietly(store: RecordStore) -> None:
    with contextlib.suppress(Exception):
        store.close()


def _forget_after_fork() -> None:
    # A child (a pre-fork server's worker) has none of the parent's threads: each engine starts
    # its own follower at its first request.
    global _followers_lock
    _followers.clear()
    _followers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def feed_source(settings: Settings, store: object, async_store: object) -> tuple[RecordStore, Hashable, bool] | None:
    """The blocking store a follower reads for an engine, its identity, and whether it was opened here.

    A blocking store of jwtguard's (WSGI) is read as it is. Under ASGI the
    follower's thread needs a blocking store of its own on the same place
    (the in-memory store's own blocking half; another client for MongoDB and
    SQLite). A store of the app's own, without ``run``, has no feed.
    """
    if callable(getattr(store, "run", None)):
        return store, _identity(settings, store), False  # type: ignore[return-value]
    blocking = getattr(async_store, "sync", None)
    if callable(getattr(blocking, "run", None)):
        return blocking, ("object", id(blocking)), False  # type: ignore[return-value]
    from .stores.mongo import AsyncMongoStore
    from .stores.sqlite import AsyncSQLiteStore

    if isinstance(async_store, (AsyncMongoStore, AsyncSQLiteStore)):
        from .stores import open_store

        opened = open_store(settings)
        return opened, _identity(settings, opened), True  # type: ignore[return-value]
    return None


def _identity(settings: Settings, store: object) -> Hashable:
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return ("sqlite", path)
    if settings.store_url is not None and settings.store_url.startswith("mongodb"):
        return ("mongodb", settings.store_url)
    return ("object", id(store))
