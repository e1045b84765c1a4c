"""Counters for operators: what the guard answered, how its caches and its store behave.

Every :class:`~jwtguard.engine.Engine` carries a :class:`Metrics` (``guard.metrics``,
so ``JWTGuardWSGI(...).metrics``). Plain integers are always there::

    guard.metrics.snapshot()
    # {"accepted": 41, "rejected": {"expired": 2, ...}, "state_cache": {...}, ...}

With ``prometheus_client`` installed (``pip install "jwtguard-revocation[prometheus]"``),
:func:`register` adds a collector to a registry of your choice and
:func:`prometheus_text` renders one guard's metrics in the text exposition
format, without touching prometheus_client's global registry. Nothing here
imports prometheus_client until one of these two is called.

The counters are bumped on the request path with a bare ``+= 1`` and no lock:
under the GIL two threads can race on one increment and lose a count. That is
an accepted trade for metrics (they are rates, not ledgers); the request path
stays as lean as it was.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left
from collections.abc import Iterator, Sized
from typing import TYPE_CHECKING, Any, Protocol

from .sansio.decision import REASONS as _REASON_TABLE

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

#: Upper bounds (seconds) of the store latency histogram; the last bucket is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Every reason a request can be refused with, in the order of the one table
#: (:data:`jwtguard.sansio.decision.REASONS`).
REASONS: tuple[str, ...] = tuple(_REASON_TABLE)


class _CountedCache(Protocol):
    hits: int
    misses: int

    def __len__(self) -> int: ...


class Metrics:
    """The counters of one guard.

    ``accepted`` and ``rejected[reason]`` count answers (a request that
    reaches the app, a request refused, by reason). ``token_cache_hits`` and
    ``token_cache_misses`` count lookups of verified signatures; the state
    cache counts its own hits and misses. ``store_loads`` and ``store_errors``
    count real store queries and the ones that failed; their latency goes to a
    histogram (:data:`LATENCY_BUCKETS`). Cached answers are never timed.
    """

    def __init__(self, state_cache: _CountedCache | None = None, token_cache: Sized | None = None) -> None:
        self.accepted = 0
        self.rejected: dict[str, int] = dict.fromkeys(REASONS, 0)
        self.token_cache_hits = 0
        self.token_cache_misses = 0
        self.store_loads = 0
        self.store_errors = 0
        self.store_seconds = 0.0
        # Per bucket, not cumulative; the last slot is +Inf.
        self._latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self._state_cache = state_cache
        self._token_cache = token_cache
        #: The invalidation feed's follower (:mod:`jwtguard.feed`), once the engine started it.
        self.feed: Any = None

    def reject(self, reason: str) -> None:
        """Count one refused request (an unknown reason is counted too, under its own name)."""
        try:
            self.rejected[reason] += 1
        except KeyError:
            self.rejected[reason] = 1

    def store_load(self, seconds: float, *, failed: bool) -> None:
        """Record one real store query that took *seconds* (and whether it failed)."""
        self.store_loads += 1
        if failed:
            self.store_errors += 1
        self.store_seconds += seconds
        self._latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def latency_buckets(self) -> list[tuple[float, int]]:
        """Cumulative ``(upper bound, count)`` pairs, ending with ``(inf, total)``."""
        total = 0
        pairs = []
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._latency, strict=True):
            total += count
            pairs.append((bound, total))
        return pairs

    def snapshot(self) -> dict[str, Any]:
        """Every counter as plain JSON-ready values."""
        state: dict[str, int] = {}
        if self._state_cache is not None:
            state = {
                "hits": self._state_cache.hits,
                "misses": self._state_cache.misses,
                "size": len(self._state_cache),
            }
        token = {"hits": self.token_cache_hits, "misses": self.token_cache_misses}
        if self._token_cache is not None:
            token["size"] = len(self._token_cache)
        feed: dict[str, Any] = {"running": False}
        if self.feed is not None:
            last = self.feed.last_read
            feed = {
                "running": True,
                "healthy": self.feed.healthy,
                "events": self.feed.events_read,
                "failures": self.feed.failures,
                "seconds_since_read": None if last is None else max(0.0, time.monotonic() - last),
            }
        return {
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "state_cache": state,
            "token_cache": token,
            "feed": feed,
            "store": {
                "loads": self.store_loads,
                "errors": self.store_errors,
                "latency_seconds": {
                    "buckets": {_bound_label(bound): count for bound, count in self.latency_buckets()},
                    "count": self.store_loads,
                    "sum": self.store_seconds,
                },
            },
        }

    def json(self) -> bytes:
        """:meth:`snapshot` as a JSON document (for a ``/metrics`` route without prometheus_client)."""
        return json.dumps(self.snapshot(), separators=(",", ":")).encode()


def _bound_label(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


# -- prometheus_client -----------------------------------------------------------


def prometheus_available() -> bool:
    """True when ``prometheus_client`` can be imported (the ``prometheus`` extra)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class _Collector:
    """A prometheus_client custom collector reading one :class:`Metrics` at scrape time."""

    def __init__(self, metrics: Metrics, namespace: str) -> None:
        self._metrics = metrics
        self._ns = namespace

    def describe(self) -> list[Any]:
        # Names only, so registering does not read (or need) any counter yet.
        return list(self._families(empty=True))

    def collect(self) -> Iterator[Any]:
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        ns = self._ns
        snap = self._metrics.snapshot()
        accepted = CounterMetricFamily(f"{ns}_requests_accepted", "Requests that passed the guard")
        rejected = CounterMetricFamily(
            f"{ns}_requests_rejected", "Requests refused by the guard, by reason", labels=["reason"]
        )
        hits = CounterMetricFamily(f"{ns}_cache_hits", "Cache lookups answered from memory", labels=["cache"])
        misses = CounterMetricFamily(f"{ns}_cache_misses", "Cache lookups that missed", labels=["cache"])
        size = GaugeMetricFamily(f"{ns}_cache_entries", "Entries held by each cache", labels=["cache"])
        errors = CounterMetricFamily(f"{ns}_store_errors", "Store queries that failed or timed out")
        feed_healthy = GaugeMetricFamily(
            f"{ns}_feed_healthy", "1 while the invalidation feed is read, 0 while it cannot be (TTL fallback)"
        )
        feed_events = CounterMetricFamily(f"{ns}_feed_events", "Invalidation events read from the feed")
        feed_failures = CounterMetricFamily(f"{ns}_feed_failures", "Reads of the invalidation feed that failed")
        latency = HistogramMetricFamily(f"{ns}_store_latency_seconds", "Duration of store queries")
        if not empty:
            accepted.add_metric([], snap["accepted"])
            for reason, count in snap["rejected"].items():
                rejected.add_metric([reason], count)
            for cache in ("state_cache", "token_cache"):
                label = cache.removesuffix("_cache")
                hits.add_metric([label], snap[cache].get("hits", 0))
                misses.add_metric([label], snap[cache].get("misses", 0))
                if "size" in snap[cache]:
                    size.add_metric([label], snap[cache]["size"])
            errors.add_metric([], snap["store"]["errors"])
            if snap["feed"]["running"]:
                feed_healthy.add_metric([], 1 if snap["feed"]["healthy"] else 0)
                feed_events.add_metric([], snap["feed"]["events"])
                feed_failures.add_metric([], snap["feed"]["failures"])
            store_latency = snap["store"]["latency_seconds"]
            latency.add_metric([], list(store_latency["buckets"].items()), sum_value=store_latency["sum"])
        yield from (accepted, rejected, hits, misses, size, errors, latency, feed_healthy, feed_events, feed_failures)


def register(metrics: Metrics, registry: CollectorRegistry | None = None, *, namespace: str = "jwtguard") -> Any:
    """Expose *metrics* through prometheus_client; returns the collector.

    *registry* defaults to prometheus_client's global ``REGISTRY`` (what
    ``prometheus_client.start_http_server`` serves). Register one guard per
    registry and namespace: a second one with the same names is refused by
    prometheus_client. Raises ImportError without the ``prometheus`` extra.
    """
    from prometheus_client import REGISTRY

    collector = _Collector(metrics, namespace)
    (REGISTRY if registry is None else registry).register(collector)
    return collector


def prometheus_text(metrics: Metrics, *, namespace: str = "jwtguard") -> tuple[bytes, str]:
    """``(body, content type)`` of *metrics* in the Prometheus text format.

    Uses a private registry on each call: the global one is left alone.
    Raises ImportError without the ``prometheus`` extra.
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    register(metrics, registry, namespace=namespace)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def render(metrics: Metrics) -> tuple[bytes, str]:
    """``(body, content type)`` for a ``/metrics`` route: Prometheus text when available, else JSON."""
    try:
        return prometheus_text(metrics)
    except ImportError:
        return metrics.json(), "application/json"
