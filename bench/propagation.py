"""Propagation: from ``jwtguard disable USER`` in a third process to the first refusal in each server.

Two server processes on one store, gunicorn (one gthread worker, Flask behind JWTGuardWSGI) and
uvicorn (Starlette behind JWTGuardASGI), both configured by ``JWTGUARD_*`` variables only, so
they propagate a revocation by whatever mechanism those settings enable: the invalidation feed
(:mod:`jwtguard.feed`, on by default) and, behind it, the state TTL (an entry is read again once
it expired). The full run uses issue 11's 300 s TTL, so that only the feed can be in time. The
benchmark process revokes through the real CLI (a subprocess, as an operator would) and times
from the CLI's return to the first 401 each server gives that user's token. The write happens
somewhere within the CLI's run, so that time is a lower bound of the write-to-refusal time, and
the time from the CLI's start (also shown) an upper bound.

Trials overlap, up to ``Sizes.in_flight`` at once, each for its own user, so that 50 trials take
about 50 × the CLI's run time rather than 50 × the TTL. Once every user has been asked for on
both servers (spread over one TTL, five seconds at most), users not yet revoked are asked for at
random, each a few times per TTL on average, on each server independently (as live traffic keeps
the caches: entries of every age, unrelated between the two processes, when a revocation lands);
a revoked user is asked for every 10 ms on a few keep-alive connections until that server refuses
it. A refusal of a user not yet revoked is a false reject, and counted. The trials run on the real
MongoDB-wire server and on the embedded SQLite store.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import random
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import servers, svg
from bench.client import Connection, request_bytes
from bench.common import FULL, Section, Sizes, Table, Target, median, percentile
from bench.overhead import SECRET
from bench.store import Mongo
from jwtguard import Admin, Settings, issue_token

GOAL_SECONDS = 1.0
#: Keep-alive connections per server.
CONNECTIONS = 2
#: A revoked user is asked for again this many seconds after its last request at the soonest: the
#: resolution of the measure, without flooding the servers (and slowing the CLI) on two cores.
PENDING_GAP = 0.01


@dataclass
class Watched:
    """One server under watch: its connections, and the users it still has to refuse."""

    name: str
    server: servers.Server
    connections: list[Connection] = field(default_factory=list)
    #: Revoked users this server has not refused yet (polled continuously).
    pending: collections.deque[str] = field(default_factory=collections.deque)
    #: Users not revoked yet, asked for now and then at random (as live traffic keeps the caches:
    #: each server's entries reach every age independently of the other's), after ``warming``:
    #: every user once, in an order of this server's own.
    background: list[str] = field(default_factory=list)
    warming: collections.deque[str] = field(default_factory=collections.deque)
    rng: random.Random = field(default_factory=random.Random)
    next_background: float = 0.0
    refused_at: dict[str, float] = field(default_factory=dict)
    missed: set[str] = field(default_factory=set)
    last_poll: dict[str, float] = field(default_factory=dict)
    poll_gaps: list[float] = field(default_factory=list)
    false_rejects: int = 0
    accepted_after_refusal: int = 0
    other_statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class StoreRun:
    """The outcome of one store's trials."""

    store: str
    ttl: float
    #: How the servers' settings propagate a change besides the TTL.
    feed: str
    watched: list[Watched]
    cli_started: dict[str, float]
    cli_returned: dict[str, float]
    timeout: float

    def latencies(self, watched: Watched) -> list[float]:
        """Seconds from each CLI return to this server's first refusal (0 when the refusal came first)."""
        return [
            max(0.0, watched.refused_at[user] - self.cli_returned[user])
            for user in self.cli_returned
            if user in watched.refused_at
        ]

    def everywhere(self, *, from_start: bool = False) -> list[float]:
        """Per trial refused by every server: the later of the servers' latencies (from the CLI's return,
        or from its start)."""
        out = []
        for user, returned in self.cli_returned.items():
            times = [w.refused_at.get(user) for w in self.watched]
            if all(t is not None for t in times):
                origin = self.cli_started[user] if from_start else returned
                out.append(max(0.0, max(t for t in times if t is not None) - origin))
        return out

    def early(self) -> int:
        return sum(1 for w in self.watched for user, t in w.refused_at.items() if t < self.cli_returned.get(user, 0.0))

    def missing(self) -> int:
        return sum(len(w.missed) for w in self.watched)


def cli_command() -> list[str]:
    """The README's command: ``jwtguard`` beside this interpreter, else ``python -m jwtguard``."""
    found = shutil.which("jwtguard", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "jwtguard"]


def trial_store(store: str, mongo: Mongo | None, directory: Path) -> str:
    if store == "sqlite":
        return f"sqlite:///{directory / 'jwtguard.db'}"
    assert mongo is not None
    return mongo.fresh("bench_propagation")


def run_store(store: str, url: str, sizes: Sizes, directory: Path) -> StoreRun:
    """Start both servers on *url*, run the trials, stop the servers."""
    variables = {"secret": SECRET, "store_url": url}
    if sizes.propagation_ttl is not None:
        variables["cache_ttl"] = f"{sizes.propagation_ttl:g}"
    settings = Settings.from_env({f"JWTGUARD_{k.upper()}": v for k, v in variables.items()})
    users = [f"p{i:03d}" for i in range(sizes.trials)]
    admin = Admin(settings)
    try:
        for user in users:
            admin.create_user(user)
    finally:
        admin.close()
    tokens = {user: issue_token(settings, user, ttl=3600) for user in users}
    env = servers.server_env(**variables)
    kinds: tuple[tuple[str, Callable[[int], list[str]]], ...] = (
        ("gunicorn gthread (Flask)", partial(servers.gunicorn_command, "bench.apps:flask_guarded()")),
        ("uvicorn (Starlette)", partial(servers.uvicorn_command, "bench.apps:starlette_guarded")),
    )
    watched: list[Watched] = []
    try:
        for name, command in kinds:
            port = servers.free_port()
            server = servers.launch(f"{store} {name}", command(port), port, env=env, log_dir=directory)
            watched.append(Watched(name, server))
        servers.ready([w.server for w in watched])
        timeout = min(sizes.propagation_timeout, settings.cache_ttl + 3.0)
        feed = f"the feed every {settings.feed_interval:g} s" if settings.feed else "no feed"
        return trials(store, settings.cache_ttl, feed, watched, users, tokens, settings, sizes, timeout)
    finally:
        for w in watched:
            w.server.stop()


def trials(
    store: str,
    ttl: float,
    feed: str,
    watched: list[Watched],
    users: list[str],
    tokens: dict[str, str],
    settings: Settings,
    sizes: Sizes,
    timeout: float,
) -> StoreRun:
    requests = {w.name: {u: request_bytes(w.server.port, token=tokens[u]) for u in users} for w in watched}
    selector = selectors.DefaultSelector()
    owner: dict[Connection, Watched] = {}
    for w in watched:
        w.rng = random.Random(w.name)
        w.background.extend(users)
        w.warming.extend(w.rng.sample(users, len(users)))
        for _ in range(CONNECTIONS):
            connection = Connection(w.server.port)
            w.connections.append(connection)
            owner[connection] = w
            selector.register(connection.sock, selectors.EVENT_READ, connection)
    # Each user on each server a few times per TTL between revocations (on average).
    background_gap = min(ttl / 4, 1.0) / max(1, len(users)) if ttl > 0 else 0.01
    # The first requests spread over one TTL (five seconds at most): the entries' ages are spread
    # evenly from the start, not all of one age, so the first trials are not in step with them.
    warming_gap = min(ttl, 5.0) / max(1, len(users))
    warm = threading.Event()
    cli_started: dict[str, float] = {}
    cli_returned: dict[str, float] = {}
    revoked: queue.Queue[str] = queue.Queue()
    open_trials: set[str] = set()
    lock = threading.Lock()
    failures: list[str] = []
    stop = threading.Event()
    env = servers.server_env(store_url=settings.store_url or "")
    command = cli_command()

    def revoker() -> None:
        try:
            revoke_all()
        except BaseException as exc:  # the watcher stops and the run fails with it
            failures.append(f"the revoker failed: {exc!r}")
            stop.set()

    def revoke_all() -> None:
        rng = random.Random(11)
        # Both servers cache every user first.
        warm.wait()
        for user in users:
            while not stop.is_set():
                with lock:
                    if len(open_trials) < sizes.in_flight:
                        open_trials.add(user)
                        break
                time.sleep(0.005)
            if stop.is_set():
                return
            # Not in step with the caches' reloads: a revocation lands on entries of any age.
            time.sleep(rng.uniform(0.0, min(ttl, 1.0) / 4))
            cli_started[user] = time.monotonic()
            revoked.put(user)
            done = subprocess.run(
                [*command, "disable", user], env=env, capture_output=True, text=True, timeout=60, check=False
            )
            cli_returned[user] = time.monotonic()
            if done.returncode != 0:
                failures.append(f"jwtguard disable {user}: exit {done.returncode}: {done.stderr.strip()}")
                stop.set()
                return

    thread = threading.Thread(target=revoker, name="revoker")
    thread.start()
    try:
        while (thread.is_alive() or any(w.pending for w in watched)) and not failures:
            now = time.monotonic()
            while True:
                try:
                    user = revoked.get_nowait()
                except queue.Empty:
                    break
                for w in watched:
                    with contextlib.suppress(ValueError):
                        w.background.remove(user)
                    if user not in w.refused_at:  # a background request may have been refused already
                        w.pending.append(user)
            for w in watched:
                for user in list(w.pending):
                    returned = cli_returned.get(user)
                    if returned is not None and now - returned > timeout:
                        w.pending.remove(user)
                        w.missed.add(user)
                        _close_trial(user, watched, open_trials, lock)
                for connection in w.connections:
                    if connection.tag is None:
                        _dispatch(w, connection, requests[w.name], now, background_gap, warming_gap)
            if not warm.is_set() and not any(w.warming or any(c.tag for c in w.connections) for w in watched):
                warm.set()
            for key, _ in selector.select(0.002):
                connection = key.data
                w = owner[connection]
                try:
                    statuses = connection.receive()
                except ConnectionError:
                    _reconnect(selector, owner, w, connection)  # the request in flight is asked again
                    continue
                if not statuses:
                    continue
                at = time.monotonic()
                user = str(connection.tag)
                connection.tag = None
                _answered(w, user, statuses[-1], at, connection.sent_at, cli_started)
                if user in w.refused_at:
                    _close_trial(user, watched, open_trials, lock)
                if connection.closing:
                    _reconnect(selector, owner, w, connection)
    finally:
        stop.set()
        warm.set()
        thread.join()
        for connection in owner:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(connection.sock)
            connection.close()
        selector.close()
    if failures:
        raise RuntimeError("; ".join(failures))
    return StoreRun(store, ttl, feed, watched, cli_started, cli_returned, timeout)


def _reconnect(selector: selectors.BaseSelector, owner: dict[Connection, Watched], w: Watched, old: Connection) -> None:
    """A new connection in place of *old* (closed by the server, or closing)."""
    selector.unregister(old.sock)
    old.close()
    fresh = Connection(w.server.port)
    w.connections[w.connections.index(old)] = fresh
    owner[fresh] = w
    selector.register(fresh.sock, selectors.EVENT_READ, fresh)


def _dispatch(
    w: Watched, connection: Connection, requests: dict[str, bytes], now: float, gap: float, warming_gap: float
) -> None:
    """Give an idle connection its next request: a revoked user first, else a background one when due."""
    due = next((u for u in w.pending if now - w.last_poll.get(u, 0.0) >= PENDING_GAP), None)
    if due is not None:
        user = due
        w.pending.remove(user)
        w.pending.append(user)  # the others go first next time
        last = w.last_poll.get(user)
        if last is not None:
            w.poll_gaps.append(now - last)
        w.last_poll[user] = now
    elif w.warming:
        if now < w.next_background:
            return
        user = w.warming.popleft()
        w.next_background = now + warming_gap
    elif w.background and now >= w.next_background:
        user = w.rng.choice(w.background)
        w.next_background = now + gap
    else:
        return
    connection.tag = user
    connection.send(requests[user])


def _answered(w: Watched, user: str, status: int, at: float, sent: float, cli_started: dict[str, float]) -> None:
    if status == 200:
        # Only a request sent after the refusal arrived: one sent before may be answered after it.
        if user in w.refused_at and sent > w.refused_at[user]:
            w.accepted_after_refusal += 1
    elif status == 401:
        if user not in cli_started:
            w.false_rejects += 1
        elif user not in w.refused_at:
            w.refused_at[user] = at
            with contextlib.suppress(ValueError):
                w.pending.remove(user)
    else:
        w.other_statuses[status] += 1


def _close_trial(user: str, watched: list[Watched], open_trials: set[str], lock: threading.Lock) -> None:
    if all(user in w.refused_at or user in w.missed for w in watched):
        with lock:
            open_trials.discard(user)


def run(mongo: Mongo | None, sizes: Sizes = FULL) -> Section:
    """Trials on the real server (when *mongo* is given) and on the embedded SQLite store."""
    runs: list[StoreRun] = []
    with tempfile.TemporaryDirectory(prefix="jwtguard-bench-propagation-") as directory:
        for store in ("mongo", "sqlite") if mongo is not None else ("sqlite",):
            where = Path(directory) / store
            where.mkdir()
            runs.append(run_store(store, trial_store(store, mongo, where), sizes, where))
    return report(runs, sizes, mongo)


def _seconds(value: float) -> str:
    return f"{value:.2f}"


def report(runs: list[StoreRun], sizes: Sizes, mongo: Mongo | None) -> Section:
    names = {"mongo": mongo.version() if mongo is not None else "MongoDB", "sqlite": "embedded SQLite"}
    ttl_note = (
        f"`JWTGUARD_CACHE_TTL={sizes.propagation_ttl:g}`"
        if sizes.propagation_ttl is not None
        else f"default settings (`JWTGUARD_CACHE_TTL` unset: {runs[0].ttl:g} s)"
    ) + f", {runs[0].feed}"
    table = Table(
        "Propagation across processes",
        f"{sizes.trials} trials per store, up to {sizes.in_flight} at once; two server processes (gunicorn, "
        f"one gthread worker, Flask + JWTGuardWSGI; uvicorn, Starlette + JWTGuardASGI) at {ttl_note}; a "
        "third process revokes each trial's user with `jwtguard disable USER`. Seconds from the CLI's return "
        "to the first 401 each server gave (the answer's arrival); “everywhere” is the later of the two per "
        "trial. The CLI writes somewhere within its run: from its return is a lower bound of the "
        "write-to-refusal time (a refusal that came before the return counts as 0), from its start an upper "
        "one. Poll gap: how often "
        "a revoked user was asked for, per server (the resolution).",
        [
            "store",
            "server",
            "trials refused",
            "median (s)",
            "p90 (s)",
            "p99 (s)",
            "max (s)",
            "before the CLI returned",
            "never refused",
            "false rejects",
            "poll gap, median (ms)",
        ],
    )
    panels: list[svg.Panel] = []
    notes: list[str] = []
    targets: list[str] = []
    met = True
    misses: list[str] = []
    for result in runs:
        store = names[result.store]
        series: dict[str, list[float]] = {}
        for w in result.watched:
            values = result.latencies(w)
            series[w.name] = values
            table.rows.append(
                [
                    store,
                    w.name,
                    f"{len(values)}/{len(result.cli_returned)}",
                    _seconds(median(values)) if values else "–",
                    _seconds(percentile(values, 0.90)) if values else "–",
                    _seconds(percentile(values, 0.99)) if values else "–",
                    _seconds(max(values)) if values else "–",
                    str(sum(1 for u, t in w.refused_at.items() if t < result.cli_returned.get(u, 0.0))),
                    str(len(w.missed)),
                    str(w.false_rejects),
                    f"{median(w.poll_gaps) * 1000:.0f}" if w.poll_gaps else "–",
                ]
            )
        everywhere = result.everywhere()
        p99 = percentile(everywhere, 0.99) if everywhere and not result.missing() else float("inf")
        table.rows.append(
            [
                store,
                "**everywhere**",
                f"{len(everywhere)}/{len(result.cli_returned)}",
                _seconds(median(everywhere)) if everywhere else "–",
                _seconds(percentile(everywhere, 0.90)) if everywhere else "–",
                f"**{_seconds(p99)}**",
                _seconds(max(everywhere)) if everywhere else "–",
                str(result.early()),
                str(result.missing()),
                str(sum(w.false_rejects for w in result.watched)),
                "",
            ]
        )
        upper = result.everywhere(from_start=True)
        table.rows.append(
            [
                store,
                "everywhere, from the CLI's start (an upper bound)",
                f"{len(upper)}/{len(result.cli_returned)}",
                _seconds(median(upper)) if upper else "–",
                _seconds(percentile(upper, 0.90)) if upper else "–",
                _seconds(percentile(upper, 0.99)) if upper else "–",
                _seconds(max(upper)) if upper else "–",
                "",
                "",
                "",
                "",
            ]
        )
        cli = [result.cli_returned[u] - result.cli_started[u] for u in result.cli_returned]
        table.rows.append(
            [
                store,
                "the CLI's own run time",
                str(len(cli)),
                _seconds(median(cli)),
                "",
                "",
                _seconds(max(cli)),
                "",
                "",
                "",
                "",
            ]
        )
        short = store.partition(" (")[0]
        panels.append(svg.Panel(f"{short}, TTL {result.ttl:g} s, {result.feed}", series, p99, result.missing()))
        upper_p99 = percentile(upper, 0.99) if upper else float("inf")
        targets.append(
            f"{store.partition(' (')[0]} p99 {_seconds(p99)} s ({_seconds(upper_p99)} s from the CLI's start)"
        )
        if not p99 <= GOAL_SECONDS:
            met = False
            misses.append(f"{store} by {p99 - GOAL_SECONDS:.2f} s")
        flapped = sum(w.accepted_after_refusal for w in result.watched)
        others = sum(sum(w.other_statuses.values()) for w in result.watched)
        notes.append(
            f"{store}: {flapped} accepted answers to requests sent after that server had refused the user, "
            f"{others} answers neither 200 nor 401."
        )
    picture = svg.histogram(
        panels, goal=GOAL_SECONDS, title="Propagation: CLI return to first refusal, per server (seconds)"
    )
    target = Target(
        "propagation across processes",
        "≤ TTL (5 s)",
        f"≤ {GOAL_SECONDS:g} s p99, TTL only as fallback",
        ", ".join(targets),
        met,
        ", ".join(misses),
    )
    extra = " ".join(notes) + "\n\n![propagation latency histogram](propagation.svg)\n"
    return Section(tables=[table], targets=[target], files={"propagation.svg": picture}, extra=extra)
