"""Store queries per user per TTL under load: 10 000 users, counted by pymongo's command monitoring.

One guard (JWTGuardWSGI, default settings but the state TTL of the run) on the real store, and
threads sending requests as fast as they can for a few TTLs, each for a user drawn with a skew (the
first 1 % of users get about a fifth of the requests), so that popular users are asked for by
several threads at the moment their state expires: where single-flight holds, they share one load.
Every command any MongoClient of this process sends is counted by a listener registered with
``pymongo.monitoring`` (so a feed that opens a client of its own is counted too): the loads'
queries by user, and every other command by collection. Then the requests stop and the same
listener counts what the process still sends to the store while idle for a few seconds: that is
the cost of following a feed (one read per poll interval), zero where there is none.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import pymongo
from pymongo import monitoring

from bench.common import FULL, Section, Sizes, Table, Target
from bench.overhead import SECRET, trivial_app, wsgi_environ
from bench.store import Mongo
from jwtguard import JWTGuardWSGI, Settings, issue_token
from jwtguard.stores.mongo import MongoStore, records_collection

#: Not store traffic of the guard: the driver's own session and handshake commands.
_DRIVER_COMMANDS = {"endSessions", "hello", "isMaster", "ismaster", "ping", "buildInfo"}


class CommandCounter(monitoring.CommandListener):
    """Counts the commands of every client created after it was registered, while it is recording."""

    def __init__(self) -> None:
        self.recording = False
        self._lock = threading.Lock()
        self.commands: Counter[tuple[str, str]] = Counter()
        #: Start times of the users-collection finds, by the _id they asked for.
        self.user_finds: defaultdict[Any, list[float]] = defaultdict(list)
        self.users_collection = "users"

    def reset(self, users_collection: str) -> None:
        with self._lock:
            self.commands.clear()
            self.user_finds.clear()
            self.users_collection = users_collection

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.recording or event.command_name in _DRIVER_COMMANDS:
            return
        collection = event.command.get(event.command_name)
        name = collection if isinstance(collection, str) else "-"
        with self._lock:
            self.commands[(event.command_name, name)] += 1
            if name == self.users_collection and event.command_name == "find":
                user = event.command.get("filter", {}).get("_id")
                key = user if isinstance(user, (str, int)) else repr(user)
                self.user_finds[key].append(time.monotonic())

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_COUNTER: CommandCounter | None = None


def counter() -> CommandCounter:
    """The process's one listener (pymongo keeps registered listeners for good)."""
    global _COUNTER
    if _COUNTER is None:
        _COUNTER = CommandCounter()
        monitoring.register(_COUNTER)
    return _COUNTER


def skewed(rng: random.Random, users: int) -> int:
    """A user index; low indices are popular (P(index < 1 %) ≈ 21 %)."""
    return min(users - 1, int(users * rng.random() ** 3))


def run(mongo: Mongo, sizes: Sizes = FULL) -> Section:
    listener = counter()
    uri = mongo.fresh("bench_load")
    settings = Settings(secret=SECRET, store_url=uri, cache_ttl=sizes.load_ttl)
    seed: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    database = seed.get_default_database()
    ids = [f"u{i:05d}" for i in range(sizes.users)]
    database[settings.users_collection].insert_many([{"_id": user, "user_enabled": True} for user in ids])
    environs = [wsgi_environ(issue_token(settings, user, ttl=3600)) for user in ids]
    store = MongoStore(settings)  # opened after the listener: its client reports to it
    guard = JWTGuardWSGI(trivial_app, settings=settings, store=store)
    served = Counter[str]()
    lock = threading.Lock()
    stop_at = 0.0

    def requests(number: int) -> None:
        rng = random.Random(number)
        local = Counter[str]()
        statuses: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)

        while time.monotonic() < stop_at:
            for _ in range(50):
                environ = dict(environs[skewed(rng, sizes.users)])
                for _chunk in guard(environ, start_response):
                    pass
            local.update(statuses)
            statuses.clear()
        with lock:
            served.update(local)

    try:
        listener.reset(settings.users_collection)
        listener.recording = True
        started = time.monotonic()
        stop_at = started + sizes.load_seconds
        threads = [threading.Thread(target=requests, args=(n,)) for n in range(sizes.load_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        busy = Counter(listener.commands)
        finds = {user: list(times) for user, times in listener.user_finds.items()}
        # Idle: what the process still asks the store without requests (a feed's polls).
        listener.reset(settings.users_collection)
        idle_seconds = max(2.0, min(sizes.load_ttl, 5.0))
        time.sleep(idle_seconds)
        idle = Counter(listener.commands)
    finally:
        listener.recording = False
        guard.close()
        store.close()
        seed.drop_database(database.name)
        seed.close()
    metrics = guard.metrics
    load_ms = metrics.store_seconds / metrics.store_loads * 1000 if metrics.store_loads else 0.0
    return report(
        sizes, settings, mongo, served, elapsed, busy, finds, idle, idle_seconds, metrics.store_loads, load_ms
    )


def _by_collection(commands: Counter[tuple[str, str]], collection: str) -> int:
    return sum(count for (_, name), count in commands.items() if name == collection)


def report(
    sizes: Sizes,
    settings: Settings,
    mongo: Mongo,
    served: Counter[str],
    elapsed: float,
    busy: Counter[tuple[str, str]],
    finds: dict[Any, list[float]],
    idle: Counter[tuple[str, str]],
    idle_seconds: float,
    guard_loads: int,
    load_ms: float,
) -> Section:
    ttl = settings.cache_ttl
    requests = sum(served.values())
    refused = requests - served["200 OK"]
    loads = sum(len(times) for times in finds.values())
    windows = elapsed / ttl
    per_user_ttl = loads / (sizes.users * windows)
    gaps = [later - earlier for times in finds.values() for earlier, later in itertools.pairwise(times)]
    shortest = min(gaps) if gaps else None
    within_ttl = sum(1 for gap in gaps if gap < ttl)
    users, records, events = settings.users_collection, records_collection(settings), settings.events_table
    state = settings.state_collection
    known = (users, records, events, state)
    other_busy = sum(count for (_, name), count in busy.items() if name not in known)
    idle_total = sum(idle.values())
    idle_events = _by_collection(idle, events)
    intervals = idle_seconds / settings.feed_interval
    feed = f"feed on, every {settings.feed_interval:g} s" if settings.feed else "feed off"
    table = Table(
        "Store queries per user per TTL, under load",
        f"{sizes.users} users, {sizes.load_threads} request threads for {elapsed:.1f} s = {windows:.1f} TTLs "
        f"(`JWTGUARD_CACHE_TTL={ttl:g}`, {feed}), users drawn with a skew (the first 1 % get about a fifth "
        f"of the requests); one JWTGuardWSGI on {mongo.version()}; every command counted by pymongo command "
        f"monitoring. A state load is one `find` on `{users}`, one on `{records}` (jwtguard's per-user "
        f"records, issue 10) and one on `{state}` (what identity providers said, issue 12); the feed reads "
        f"`{events}`. Idle: the same process with no requests afterwards. "
        "The threads wait on the store: the load's time bounds the request rate (FerretDB's SQLite backend "
        "answers a `find` by `_id` in a time that grows with the collection), a cache hit costs microseconds.",
        ["measure", "value"],
    )
    rows = [
        ("requests answered (refused)", f"{requests} ({refused}), {requests / elapsed:.0f} per second"),
        ("state loads (the guard's own count)", f"{loads} ({guard_loads})"),
        (
            f"store commands under load: `{users}` / `{records}` / `{state}` / `{events}` / other",
            f"{_by_collection(busy, users)} / {_by_collection(busy, records)} / {_by_collection(busy, state)} / "
            f"{_by_collection(busy, events)} / {other_busy}",
        ),
        ("a state load's time, mean (the guard's metrics)", f"{load_ms:.1f} ms"),
        ("requests per state load", f"{requests / loads:.1f}" if loads else "–"),
        ("state loads per user per TTL (mean over all users)", f"{per_user_ttl:.3f}"),
        ("users loaded more than once", f"{sum(1 for times in finds.values() if len(times) > 1)}"),
        (
            "two loads of one user less than a TTL apart",
            f"{within_ttl}" + (f" (shortest gap {shortest:.2f} s)" if shortest is not None else ""),
        ),
        (
            f"feed reads per second under load / idle ({idle_seconds:g} s)",
            f"{_by_collection(busy, events) / elapsed:.2f} / {idle_events / idle_seconds:.2f}",
        ),
        (
            "feed reads per interval, idle",
            f"{idle_events / intervals:.2f} ({idle_events} in {intervals:.0f} intervals)" if settings.feed else "–",
        ),
        (
            "every store command while idle, per second",
            f"{idle_total / idle_seconds:.2f}"
            + (" (" + ", ".join(f"{c} {n} `{name}`" for (n, name), c in idle.items()) + ")" if idle else ""),
        ),
    ]
    table.rows = [[measure, value] for measure, value in rows]
    # One read per interval: a read may land on either edge of the idle window, hence the one extra.
    feed_ok = not settings.feed or idle_events <= intervals + 1
    met = within_ttl == 0 and refused == 0 and feed_ok
    misses = []
    if within_ttl:
        misses.append(f"{within_ttl} loads within a TTL of the last")
    if refused:
        misses.append(f"{refused} refusals")
    if not feed_ok:
        misses.append(f"{idle_events / intervals:.2f} feed reads per interval")
    target = Target(
        "store load",
        "≤ 1 query per user per TTL (single-flight holds)",
        "the same with the sessions issue's per-user records, plus one feed read per interval per process",
        f"{within_ttl} loads of a user within a TTL of its last ({per_user_ttl:.3f} per user per TTL; a load = "
        f"3 queries: the user, its records, its provider state); idle: {idle_events / intervals:.2f} feed reads "
        "per interval"
        if settings.feed
        else f"{within_ttl} loads of a user within a TTL of its last; feed off",
        met,
        ", ".join(misses),
    )
    return Section(tables=[table], targets=[target])
