"""What every table of the benchmark shares: interleaved timing, medians with their range, Markdown.

A measurement is a set of *sides* (callables timing n requests) run in rounds; each round runs
every side once, in an order rotated from the previous round's, so a burst of machine noise
lands on all sides alike. A row is the median of its rounds with the least and the most beside
it, and a ratio (or difference) is computed within each round first, then summarised the same
way: two sides timed seconds apart share their noise, two medians taken minutes apart do not.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: A side of a comparison: run n requests, return the seconds they took.
Side = Callable[[int], float]


# -- timing ----------------------------------------------------------------------------------------


def calls(fn: Callable[[], object]) -> Side:
    """A side that calls *fn* n times (a bare function, no app around it)."""

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start

    return run


def timed(side: Side, n: int) -> float:
    """*side*'s seconds for *n* requests, with the garbage collector off (as timeit does)."""
    gc.collect()
    gc.disable()
    try:
        return side(n)
    finally:
        gc.enable()


def calibrate(side: Side, batch_seconds: float) -> int:
    """How many requests of *side* take about *batch_seconds* (after a warm-up that fills its caches)."""
    side(20)
    n = 10
    while (elapsed := side(n)) < batch_seconds / 4:
        n *= 4
    return max(10, int(n * batch_seconds / elapsed))


def rotated(names: Sequence[str], round_number: int) -> list[str]:
    """*names* starting at the round's own offset: each side goes first in turn."""
    start = round_number % len(names)
    return [*names[start:], *names[:start]]


def interleaved(sides: Mapping[str, Side], rounds: int, batch_seconds: float) -> dict[str, list[float]]:
    """Microseconds per request of every side, one value per round, the sides taking turns within a round."""
    sizes = {name: calibrate(side, batch_seconds) for name, side in sides.items()}
    per_round: dict[str, list[float]] = {name: [] for name in sides}
    for number in range(rounds):
        for name in rotated(list(sides), number):
            per_round[name].append(timed(sides[name], sizes[name]) / sizes[name] * 1e6)
    return per_round


def within_rounds(a: Sequence[float], b: Sequence[float], combine: Callable[[float, float], float]) -> list[float]:
    """``combine(a[i], b[i])`` for each round *i* (a ratio or a difference of two sides of one round)."""
    return [combine(x, y) for x, y in zip(a, b, strict=True)]


def ratio(x: float, y: float) -> float:
    return x / y if y else math.inf


def minus(x: float, y: float) -> float:
    return x - y


# -- summaries -------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float], digits: int = 1, unit: str = "") -> str:
    """``median (min–max)`` of *values*: the row format of every table."""
    if not values:
        return "–"
    fmt = f"{{:.{digits}f}}"
    mid = fmt.format(statistics.median(values)) + unit
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99: the value that 99 % of *values* do not exceed)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


# -- tables and targets ----------------------------------------------------------------------------


@dataclass
class Table:
    """One table of RESULTS.md: a heading, a paragraph saying what was measured and how, the rows."""

    title: str
    note: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", self.note, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        return "\n".join(lines) + "\n"


@dataclass
class Target:
    """One row of issue 11's targets table, with what this run measured and the verdict."""

    measure: str
    today: str
    goal: str
    measured: str
    #: True met, False missed, None not judged by this run (not measured here).
    met: bool | None
    #: How much it misses by (or why it is not judged).
    detail: str = ""

    def verdict(self) -> str:
        if self.met is None:
            return f"not judged: {self.detail}" if self.detail else "not judged"
        if self.met:
            return "**met**" + (f" ({self.detail})" if self.detail else "")
        return "**missed**" + (f": {self.detail}" if self.detail else "")


@dataclass
class Section:
    """What one part of the benchmark hands the report: tables, targets, files (name -> text), a text block."""

    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    #: Markdown placed after the tables (a picture, pasted output).
    extra: str = ""


def target_table(targets: Sequence[Target]) -> str:
    lines = [
        "| measure | today (issue 11) | goal | this run | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines.extend(f"| {t.measure} | {t.today} | {t.goal} | {t.measured} | {t.verdict()} |" for t in targets)
    return "\n".join(lines) + "\n"


class Stopwatch:
    """Seconds since it was made (for the report's per-part durations)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.started


# -- sizes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How much each part measures: :data:`FULL` for ``make bench``, :data:`QUICK` for the smoke test."""

    #: Interleaved rounds of the in-process tables, and the seconds each side runs per round.
    rounds: int = 9
    batch_seconds: float = 0.1
    #: HTTP: rounds (each visits every server), seconds a server is driven per round, connections.
    http_rounds: int = 7
    http_seconds: float = 1.5
    http_connections: int = 4
    #: Store load: distinct users, the state TTL of the run, how long it runs, request threads.
    users: int = 10_000
    load_ttl: float = 2.0
    load_seconds: float = 6.0
    load_threads: int = 8
    #: Propagation: revocations, how many may be waiting for their refusals at once, the state TTL
    #: (None: the settings' default, what a deployment gets) and how long a trial may wait.
    trials: int = 50
    in_flight: int = 6
    #: Issue 11's proof: a long TTL, so that only the feed can carry a revocation in time.
    propagation_ttl: float | None = 300.0
    propagation_timeout: float = 15.0
    #: First sight and issuing: many short rounds (see :func:`bench.first_sight.section`).
    sight_rounds: int = 41
    sight_batch: float = 0.02
    #: Memory: distinct tokens sent through one guard.
    memory_tokens: int = 1_000_000


FULL = Sizes()
QUICK = Sizes(
    rounds=2,
    batch_seconds=0.005,
    http_rounds=1,
    http_seconds=0.2,
    http_connections=2,
    users=40,
    load_ttl=0.2,
    load_seconds=0.5,
    load_threads=2,
    trials=2,
    in_flight=2,
    propagation_ttl=0.3,
    propagation_timeout=10.0,
    sight_rounds=2,
    sight_batch=0.002,
    memory_tokens=2_000,
)
