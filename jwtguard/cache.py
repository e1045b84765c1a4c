"""The short-TTL caches: user states (thread-safe, one load per key at a time) and verified tokens.

Concurrent misses for the same user wait for a single store query, whether
they are threads (:meth:`StateCache.load`) or coroutines
(:meth:`StateCache.aload`). Every live cache registers itself so that the
admin API can drop a user's entry in the whole process at once: a cache
subscribes to an :class:`~jwtguard.invalidation.InvalidationBus` (the
process's :data:`~jwtguard.invalidation.default_bus` unless given another).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from hashlib import sha256
from sys import getsizeof
from typing import Any, Final, Generic, TypeVar

from cachetools import LRUCache

from .invalidation import InvalidationBus, default_bus

V = TypeVar("V")
#: A flight's outcome when its leader was interrupted before the store answered: followers load again.
_RETRY: Any = object()
_INTERRUPTED = BaseException("state load interrupted")

K = TypeVar("K", bound=Hashable)


class TTLMap(Generic[K, V]):
    """A bounded map whose entries expire *ttl* seconds after they were set.

    Reads take no lock: one ``dict.get`` of an immutable ``(value, deadline)``
    pair, atomic under the GIL, then a comparison with *timer*. Writes take
    the lock; beyond *maxsize* entries the oldest written goes first (a
    ``dict`` keeps insertion order), and expired entries go when read. This
    is the repeat request's whole cost, so it is kept to one lookup.
    """

    __slots__ = ("_data", "_lock", "_maxsize", "_timer", "_ttl")

    def __init__(self, *, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[K, tuple[V, float]] = {}
        self._maxsize = maxsize
        self._ttl = ttl
        self._timer = timer
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The live value for *key*, or None."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] > self._timer():
            return entry[0]
        with self._lock:
            if self._data.get(key) is entry:
                del self._data[key]
        return None

    def set(self, key: K, value: V) -> None:
        deadline = self._timer() + self._ttl
        with self._lock:
            data = self._data
            data.pop(key, None)  # a rewrite moves the key to the young end
            while len(data) >= self._maxsize:
                del data[next(iter(data))]
            data[key] = (value, deadline)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


def token_digest(token: str) -> bytes:
    """The verified-token cache's key for *token*: its SHA-256 digest (FIPS 180-4).

    32 bytes whatever the token's length, so the cache holds no token; a second token with the
    same digest (the only way to read another token's entry) is a SHA-256 second preimage.
    Computed on every request, hits included: for a typical token about half a microsecond more
    than hashing its text as a ``dict`` key did (OpenSSL's per-call setup, more than the hashing),
    which the repeat request gained back elsewhere (no generator: :meth:`jwtguard.engine.Engine._start`).
    """
    return sha256(token.encode()).digest()


#: A ``dict`` entry (hash, key and value pointers) at the lowest fill before the table grows (1/3
#: of its slots in use, so three slots an entry), and its index bytes.
_DICT_SLOT: Final = 3 * 3 * 8 + 3 * 4

#: What an entry of :class:`TokenCache` costs besides the value's own size: its digest key, the
#: ``(value, deadline, weight)`` tuple with its float and int, and its ``dict`` slot.
ENTRY_OVERHEAD: Final = (
    getsizeof(bytes(32)) + getsizeof((None, 0.0, 0)) + getsizeof(0.5) + getsizeof(2**40) + _DICT_SLOT
)


class TokenCache(Generic[V]):
    """Verified tokens, held by :func:`token_digest`, bounded by *maxsize* entries and *maxbytes* bytes.

    Its methods take the token and keep only its digest.

    Each entry is weighed when it is set (the caller passes its size: see
    :func:`jwtguard.engine.footprint`); beyond either bound the oldest written go first
    (entries share one TTL, so these are the first to expire anyway), and an entry heavier than
    *maxbytes* is never kept. Reads take no lock: one ``dict.get`` of an immutable
    ``(value, deadline, weight)`` tuple, atomic under the GIL, then a comparison with *timer*;
    expired entries go when read. ``nbytes`` is the weight held.
    """

    __slots__ = ("_data", "_lock", "_maxbytes", "_maxsize", "_timer", "_ttl", "nbytes")

    def __init__(self, *, maxsize: int, maxbytes: int, ttl: float, timer: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[bytes, tuple[V, float, int]] = {}
        self._maxsize = maxsize
        self._maxbytes = maxbytes
        self._ttl = ttl
        self._timer = timer
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, token: str) -> V | None:
        """The live value for *token*, or None."""
        key = sha256(token.encode()).digest()  # token_digest, without its call: every request's cost
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] > self._timer():
            return entry[0]
        with self._lock:
            if self._data.get(key) is entry:
                del self._data[key]
                self.nbytes -= entry[2]
        return None

    def set(self, token: str, value: V, weight: int) -> None:
        """Keep *value* for *token*, weighing *weight* bytes, evicting the oldest entries to make room.

        The digest is computed again (the miss computed it too): a first sight's cost, and the
        cache keeps nothing of any token, not even the last one it missed.
        """
        key = token_digest(token)
        weight += ENTRY_OVERHEAD
        deadline = self._timer() + self._ttl
        with self._lock:
            data = self._data
            old = data.pop(key, None)  # a rewrite moves the key to the young end
            if old is not None:
                self.nbytes -= old[2]
            if weight > self._maxbytes:
                return  # larger than the whole budget: never kept
            while data and (len(data) >= self._maxsize or self.nbytes + weight > self._maxbytes):
                self.nbytes -= data.pop(next(iter(data)))[2]
            data[key] = (value, deadline, weight)
            self.nbytes += weight

    def pop(self, token: str) -> None:
        with self._lock:
            old = self._data.pop(token_digest(token), None)
            if old is not None:
                self.nbytes -= old[2]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def __len__(self) -> int:
        return len(self._data)


class _Flight(Generic[V]):
    """One load in progress, shared by the threads that wait for it."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: V | None = None
        self.error: BaseException | None = None


class StateCache(Generic[V]):
    """A TTL cache of loaded values with single-flight loading.

    *ttl* bounds how long a value can be served after the store changed it in
    another process. With *keep_last_known*, the last value loaded for each
    key is remembered for :meth:`last_known` (the ``stale`` store-error policy)
    and for as many keys as *maxsize*. *timer* is monotonic seconds.
    """

    def __init__(
        self,
        *,
        maxsize: int,
        ttl: float,
        keep_last_known: bool = False,
        timer: Callable[[], float] = time.monotonic,
        bus: InvalidationBus | None = default_bus,
    ) -> None:
        self._timer = timer
        self._values: TTLMap[Hashable, V] = TTLMap(maxsize=maxsize, ttl=ttl, timer=timer)
        self._last_known: LRUCache[Hashable, tuple[V, float]] | None = (
            LRUCache(maxsize=maxsize) if keep_last_known else None
        )
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight[V]] = {}
        self._async_flights: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Future[V]] = {}
        # Bumped by every invalidation: a load that started before one must not
        # put its (possibly outdated) answer into the cache.
        self._generation = 0
        self._ttl = ttl
        #: Keys whose loads are not cached until a monotonic time (an event of the feed named them).
        self._held: dict[Hashable, float] = {}
        #: Set by the invalidation feed while it cannot be read (:mod:`jwtguard.feed`): values older
        #: than this many seconds are not served. None: the feed is healthy, or there is none.
        self.fallback_ttl: float | None = None
        self.hits = 0
        self.misses = 0
        if bus is not None:
            bus.subscribe(self)

    def __len__(self) -> int:
        return len(self._values)

    def peek(self, key: Hashable) -> tuple[V, float] | None:
        """The cached value for *key* first in a tuple (a hit is counted), or None on a miss (not
        counted: the :meth:`load` that follows counts it). Lock-free: the repeat request's path."""
        entry = self._values._data.get(key)  # TTLMap.get without its call: this module owns both
        if entry is not None:
            now = self._timer()
            if entry[1] > now and (self.fallback_ttl is None or entry[1] - self._ttl + self.fallback_ttl > now):
                self.hits += 1
                return entry  # (value, deadline): immutable, so handed out as it is
        return None

    def _store(self, key: Hashable, value: V, generation: int) -> None:
        with self._lock:
            # A load that overlapped an invalidation may hold the state from
            # before an admin change: it is neither cached nor remembered.
            if generation == self._generation and not self._holding(key):
                self._values.set(key, value)
                if self._last_known is not None:
                    self._last_known[key] = (value, self._timer())

    def load(self, key: Hashable, loader: Callable[[], V]) -> V:
        """The cached value for *key*, or *loader*'s answer (one call per key at a time)."""
        hit = self.peek(key)
        if hit is not None:
            return hit[0]
        self.misses += 1
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            generation = self._generation
        if not leader:
            flight.done.wait()
            if flight.error is _INTERRUPTED:
                return self.load(key, loader)  # the leader never got an answer: ask the store ourselves
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[return-value]
        try:
            value = loader()
        except Exception as exc:
            flight.error = exc
            raise
        except BaseException:
            # Not the store's answer (the leader was interrupted): followers load again.
            flight.error = _INTERRUPTED
            raise
        else:
            flight.value = value
            self._store(key, value, generation)
            return value
        finally:
            with self._lock:
                # An invalidation may have detached this flight already.
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.done.set()

    async def aload(self, key: Hashable, loader: Callable[[], Awaitable[V]]) -> V:
        """Like :meth:`load`, for coroutines: concurrent misses await one *loader* call."""
        hit = self.peek(key)
        if hit is not None:
            return hit[0]
        self.misses += 1
        loop = asyncio.get_running_loop()
        flight_key = (loop, key)
        with self._lock:
            future = self._async_flights.get(flight_key)
            leader = future is None
            if future is None:
                future = self._async_flights[flight_key] = loop.create_future()
            generation = self._generation
        if not leader:
            # shield: a follower that is cancelled must not cancel the shared load.
            shared = await asyncio.shield(future)
            if shared is _RETRY:
                return await self.aload(key, loader)  # the leader was cancelled: ask the store ourselves
            return shared
        try:
            value = await loader()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" noise without followers
            raise
        except BaseException:
            # A cancelled leader (a client gone) says nothing about the store: followers must not
            # read it as an outage (JWTGUARD_ON_STORE_ERROR=allow would accept a disabled user).
            future.set_result(_RETRY)
            raise
        else:
            future.set_result(value)
            self._store(key, value, generation)
            return value
        finally:
            with self._lock:
                if self._async_flights.get(flight_key) is future:
                    del self._async_flights[flight_key]

    def last_known(self, key: Hashable, max_age: float) -> tuple[V, float] | None:
        """The last value loaded for *key* and its age, if younger than *max_age* seconds."""
        if self._last_known is None:
            return None
        with self._lock:
            entry = self._last_known.get(key)
        if entry is None:
            return None
        age = self._timer() - entry[1]
        return (entry[0], age) if age <= max_age else None

    def _holding(self, key: Hashable) -> bool:
        # Called under the lock.
        until = self._held.get(key)
        if until is None:
            return False
        if until > self._timer():
            return True
        del self._held[key]
        return False

    def invalidate(self, key: Hashable, hold: float = 0.0) -> None:
        """Forget *key*; the next request loads it from the store.

        A load already in flight is detached: callers that arrive after the
        invalidation start a new one instead of waiting for an answer read
        before the change. The last known value goes too, so the ``stale``
        policy never serves a state that an admin has just changed. *hold*:
        for that many seconds no load of *key* is cached (the feed's event
        came before the change it announces, which may still be on its way).
        """
        with self._lock:
            if hold > 0:
                self._held[key] = self._timer() + hold
                if len(self._held) > 4 * len(self._values) + 1024:
                    now = self._timer()
                    self._held = {k: t for k, t in self._held.items() if t > now}
            self._generation += 1
            self._values.pop(key)
            self._flights.pop(key, None)
            for flight_key in [k for k in self._async_flights if k[1] == key]:
                del self._async_flights[flight_key]
            if self._last_known is not None:
                self._last_known.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()


class SeenOnce:
    """Ids seen in the last *window* seconds, each accepted once: a DPoP proof's ``jti`` (RFC 9449 §11.1).

    Two generations of names, each *window* long: a name is remembered for at least *window*
    (and at most twice that), which is all the proof's ``iat`` bound needs; older ones are
    dropped a generation at a time, with no scan. Names are short digests
    (:func:`~jwtguard.sansio.dpop.replay_name`): memory grows with the proofs of two windows
    (100 to 200 bytes each), never with time. *timer* is monotonic seconds. Thread-safe.
    """

    def __init__(self, window: float, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._timer = timer
        self._current: set[str] = set()
        self._previous: set[str] = set()
        self._turned = timer()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def first(self, name: str) -> bool:
        """True the first time *name* is seen within the window, False for every later time."""
        with self._lock:
            now = self._timer()
            if now - self._turned >= self._window:
                # Two windows without a turn: everything held is older than the window.
                self._previous = self._current if now - self._turned < 2 * self._window else set()
                self._current = set()
                self._turned = now
            if name in self._current or name in self._previous:
                return False
            self._current.add(name)
            return True
