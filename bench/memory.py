"""Memory of the verified-token cache: RSS growth after many distinct ~8 KiB tokens, at default settings (issue 11).

Each token is new (a fresh ``jti``), signed for one user whose state stays cached, and sent once
through JWTGuardWSGI in front of a trivial app, so every request is a first sight and its
verification is remembered. The cache weighs each entry (``JWTGUARD_TOKEN_CACHE_BYTES``, default
32 MiB) and keeps at most ``JWTGUARD_CACHE_MAXSIZE`` of them; the process's resident memory must
not grow by more than 1.2x that budget. The default million tokens take a few minutes:

    .venv/bin/python -m bench.memory                      # 1 000 000 tokens
    .venv/bin/python -m bench.memory --tokens 20000       # a quick look
    .venv/bin/python -m bench.memory --check              # exit 1 when the growth is above the goal

Linux reads RSS from /proc/self/statm; elsewhere the peak RSS (getrusage) is reported instead.
Another bench suite calls :func:`measure` (a :class:`Growth`) or :func:`main`.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gc
import hashlib
import hmac
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Section, Sizes, Target
from bench.overhead import SECRET, DictStore, trivial_app, wsgi_environ
from jwtguard import JWTGuardWSGI, Settings

#: RSS growth allowed over the budget (issue 11).
GOAL = 1.2

#: The Authorization value's length: close to JWTGUARD_MAX_HEADER_BYTES (8192), which bounds it.
HEADER_BYTES = 8 * 1024 - 64


def rss() -> int:
    """This process's resident set in bytes (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class Tokens:
    """Distinct HS256 tokens of about *size* characters for alice, signed here (issue_token would spend
    most of the run writing the same padding as JSON)."""

    def __init__(self, size: int) -> None:
        now = int(time.time())
        self._head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"."
        # The payload's JSON around a 22-character jti, with a padding claim that brings the
        # token to *size* (base64url makes 4 characters of 3 bytes).
        shape = {"sub": "alice", "iat": now, "exp": now + 86400, "jti": "x" * 22, "pad": ""}
        empty = len(self._head) + len(_b64(json.dumps(shape).encode())) + 1 + 43
        shape["pad"] = "p" * ((size - empty) * 3 // 4)
        before, _, after = json.dumps(shape).partition('"' + "x" * 22 + '"')
        self._before, self._after = (before + '"').encode(), ('"' + after).encode()
        self._mac = hmac.new(SECRET.encode(), digestmod=hashlib.sha256)

    def make(self, number: int) -> str:
        payload = self._before + f"{number:022d}".encode() + self._after
        signing_input = self._head + _b64(payload)
        mac = self._mac.copy()
        mac.update(signing_input)
        return (signing_input + b"." + _b64(mac.digest())).decode()


@dataclass
class Growth:
    """What :func:`measure` saw: RSS in bytes before, after, and its highest sample."""

    tokens: int
    token_length: int
    budget: int
    maxsize: int
    before: int
    after: int
    peak: int
    entries: int
    weighed: int | None
    seconds: float
    samples: list[tuple[int, int]] = field(default_factory=list)

    @property
    def growth(self) -> int:
        return self.after - self.before

    @property
    def ratio(self) -> float:
        """The growth against the budget (the goal: at most :data:`GOAL`)."""
        return self.growth / self.budget if self.budget else float("inf")

    @property
    def peak_ratio(self) -> float:
        return (self.peak - self.before) / self.budget if self.budget else float("inf")


def measure(tokens: int = 1_000_000, *, sample_every: int = 50_000, settings: Settings | None = None) -> Growth:
    """Send *tokens* distinct tokens through one guard; RSS before the first and after the last."""
    settings = settings or Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x")
    guard = JWTGuardWSGI(trivial_app, settings=settings, store=DictStore())
    maker = Tokens(HEADER_BYTES - len("Bearer "))
    environ = wsgi_environ("x")

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def send(number: int) -> None:
        request = dict(environ)
        request["HTTP_AUTHORIZATION"] = "Bearer " + maker.make(number)
        for _chunk in guard(request, start_response):
            pass

    send(-1)  # the user's state, and every first-call allocation, before the baseline
    assert guard.metrics.accepted == 1, "the bench token was refused"
    gc.collect()
    before = peak = rss()
    samples: list[tuple[int, int]] = []
    started = time.perf_counter()
    for number in range(tokens):
        send(number)
        if (number + 1) % sample_every == 0:
            now = rss()
            peak = max(peak, now)
            samples.append((number + 1, now - before))
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss()
    cache = guard.engine._tokens
    return Growth(
        tokens=tokens,
        token_length=len(maker.make(0)),
        budget=getattr(settings, "token_cache_bytes", 0),
        maxsize=settings.cache_maxsize,
        before=before,
        after=after,
        peak=max(peak, after),
        entries=len(cache),
        weighed=getattr(cache, "nbytes", None),
        seconds=seconds,
        samples=samples,
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def report(result: Growth) -> str:
    """A Markdown table of *result*."""
    weighed = "n/a" if result.weighed is None else _mib(result.weighed)

    def against(growth: int, ratio: float) -> str:
        return f"{_mib(growth)} = {ratio:.2f}× the budget" if result.budget else f"{_mib(growth)} (no byte budget)"

    rows = [
        ("distinct tokens", f"{result.tokens:,} of {result.token_length:,} characters"),
        ("JWTGUARD_TOKEN_CACHE_BYTES / JWTGUARD_CACHE_MAXSIZE", f"{_mib(result.budget)} / {result.maxsize:,}"),
        ("entries held at the end, and their weight", f"{result.entries:,}, {weighed}"),
        ("RSS before → after", f"{_mib(result.before)} → {_mib(result.after)}"),
        ("RSS growth (goal ≤ 1.2× the budget)", against(result.growth, result.ratio)),
        ("highest sampled growth", against(result.peak - result.before, result.peak_ratio)),
        ("time", f"{result.seconds:.0f} s ({result.seconds / result.tokens * 1e6:.0f} µs a request)"),
    ]
    lines = ["| measure | value |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]
    return "\n".join(lines) + "\n"


def _samples(result: Growth) -> str:
    return "RSS growth by tokens sent: " + ", ".join(f"{n:,}: {_mib(grown)}" for n, grown in result.samples)


def section(sizes: Sizes) -> Section:
    """The memory table and its target, for the runner: measured in a process of its own, so that
    nothing the other parts allocated is in its RSS."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--tokens", str(sizes.memory_tokens), "--json"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    fields = json.loads(done.stdout)
    fields["samples"] = [tuple(sample) for sample in fields["samples"]]
    result = Growth(**fields)
    target = Target(
        "memory",
        "RSS +145 MB after 10 000 distinct ~8 KiB tokens",
        f"RSS growth ≤ {GOAL}× `JWTGUARD_TOKEN_CACHE_BYTES` (32 MiB) after 1 000 000 distinct 8 KiB tokens",
        f"+{_mib(result.growth)} after {result.tokens:,} tokens of {result.token_length:,} characters "
        f"= {result.ratio:.2f}× the budget",
        result.ratio <= GOAL if result.tokens >= 1_000_000 else None,
        "" if result.tokens >= 1_000_000 else f"{result.tokens:,} tokens only",
    )
    text = (
        "### Memory\n\nDistinct tokens of about 8 KiB (one JWTGUARD_MAX_HEADER_BYTES) sent through one "
        "JWTGuardWSGI at default settings, in a process of its own; RSS before the first and after the "
        "last. Alone: `.venv/bin/python -m bench.memory`.\n\n" + report(result) + "\n" + _samples(result) + "\n"
    )
    return Section(targets=[target], extra=text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=1_000_000, help="distinct tokens to send (default 1000000)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when RSS grew by more than {GOAL}x the budget")
    parser.add_argument("--json", action="store_true", help="print the measurement as JSON (for the runner)")
    args = parser.parse_args(argv)
    result = measure(args.tokens, sample_every=max(1, min(50_000, args.tokens // 20)))
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
        return 0
    print(report(result))
    print(_samples(result))
    return 1 if args.check and result.ratio > GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
