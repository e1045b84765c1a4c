"""First sight of a token and issuing, against PyJWT's own ``jwt.decode`` and ``jwt.encode`` (issue 11).

First sight: a request whose token is not in the verified-token cache, whose user state is: the
signature check, the claim checks and the adapter (a trivial WSGI app behind JWTGuardWSGI, and the
same under JWTGuardASGI), against ``jwt.decode(token, key, algorithms=[alg])`` with a prepared key
object (the HMAC secret as text: PyJWT prepares it on every call whatever it is given). Issuing:
``issue_token`` against ``jwt.encode`` of the same claims with a prepared key object.

Each pair is timed in rounds that alternate between the two sides (and which goes first), so
machine noise hits both alike; a ratio is computed within a round, then the median over rounds is
reported with the range. Runs in about a minute:

    .venv/bin/python -m bench.first_sight                        # both tables
    .venv/bin/python -m bench.first_sight --only decode --rounds 15 --check
    .venv/bin/python -m bench.first_sight --rounds 41 --batch 0.02   # many short rounds: a busy machine

"fastest rounds" is jwtguard's fastest round over PyJWT's: noise only ever adds time, so on a
machine shared with other work it is the steadier estimate of the two costs' ratio.

Another bench suite calls :func:`first_sight` and :func:`issuing` (rows of :class:`Row`) and
:func:`table` (Markdown), or :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from bench import overhead
from bench.common import Section, Sizes, Target
from bench.overhead import (
    SECRET,
    AsyncDictStore,
    DictStore,
    Side,
    asgi_scope,
    pair,
    trivial_app,
    wsgi_environ,
    wsgi_side,
)
from jwtguard import JWTGuardASGI, JWTGuardWSGI, Settings, issue_token
from jwtguard.keyring import new_private_key, private_pem, public_pem, signing_key

#: Issue 11's goals: first sight <= 1.15x jwt.decode; issue_token <= 1.2x jwt.encode with a prepared key.
FIRST_SIGHT_TARGET = 1.15
ISSUING_TARGET = 1.2

DECODE_ALGORITHMS = ("HS256", "RS256", "ES256")
ISSUING_ALGORITHMS = (
    *("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "ES256K", "EdDSA"),
)

#: Distinct tokens a first-sight side cycles through; the guard forgets them when the pool wraps.
POOL = 2000

#: What a side's time is read from: wall-clock seconds, or (``--cpu``) this thread's CPU seconds,
#: steadier on a machine shared with other work (time the process waits for a core is left out).
clock: Callable[[], float] = time.perf_counter


@dataclass(frozen=True)
class Row:
    """One measured pair: per-call microseconds of each round, PyJWT's and jwtguard's."""

    measure: str
    algorithm: str
    pyjwt: list[float]
    jwtguard: list[float]
    target: float

    @property
    def ratios(self) -> list[float]:
        """jwtguard / PyJWT in each round (the two sides of a round ran back to back)."""
        return [ours / theirs for theirs, ours in zip(self.pyjwt, self.jwtguard, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def fastest(self) -> float:
        """jwtguard's fastest round over PyJWT's: noise only adds time, so this estimates the undisturbed ratio."""
        return min(self.jwtguard) / min(self.pyjwt)

    @property
    def ok(self) -> bool:
        return self.ratio <= self.target


def keys_for(alg: str) -> tuple[Settings, Any, Any]:
    """Settings for *alg* with a fresh key, and PyJWT's prepared signing and verification keys."""
    base = Settings(secret=SECRET + "-" + "s" * 20, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600)
    if alg.startswith("HS"):  # the secret: 64 bytes, enough for HS512
        return base.replace(algorithms=(alg,)), base.secret, base.secret
    key = new_private_key(alg)
    settings = base.replace(algorithms=(alg,), secret=None, public_key=public_pem(key), private_key=private_pem(key))
    return settings, key, key.public_key()


# -- first sight ------------------------------------------------------------------------------


def token_pool(settings: Settings, private: Any, alg: str) -> list[str]:
    """:data:`POOL` distinct tokens for alice as ``issue_token`` writes them (signed here with the prepared key)."""
    claims = jwt.decode(issue_token(settings, "alice", ttl=3600), options={"verify_signature": False})
    headers = {"kid": signing_key(settings, alg).kid}
    return [jwt.encode({**claims, "jti": f"{claims['jti'][:16]}{i:06d}"}, private, alg, headers) for i in range(POOL)]


def _cycled(run_one: Callable[[int], object], forget: Callable[[], None]) -> Side:
    """A side that handles pool tokens in turn; the guard forgets them before and whenever the pool wraps."""

    def run(n: int) -> float:
        forget()
        start = clock()
        for i in range(n):
            index = i % POOL
            if index == 0 and i:
                forget()
            run_one(index)
        return clock() - start

    return run


def _decode_side(tokens: Sequence[str], key: Any, alg: str) -> Side:
    algorithms = [alg]
    return _cycled(lambda i: jwt.decode(tokens[i], key, algorithms=algorithms), lambda: None)


def _wsgi_first_sight(settings: Settings, tokens: Sequence[str]) -> Side:
    guard = JWTGuardWSGI(trivial_app, settings=settings, store=DictStore())
    environs = [wsgi_environ(token) for token in tokens]
    side = wsgi_side(guard, environs[0])
    side(1)  # alice's state is cached from here on (JWTGUARD_CACHE_TTL=3600)

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def one(i: int) -> None:
        body = guard(dict(environs[i]), start_response)
        for _chunk in body:
            pass

    return _cycled(one, guard.engine._tokens.clear)


def _trivial_asgi(scope: Any, receive: Any, send: Any) -> Any:
    async def app() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app()


def _asgi_first_sight(settings: Settings, tokens: Sequence[str], loop: asyncio.AbstractEventLoop) -> Side:
    guard = JWTGuardASGI(_trivial_asgi, settings=settings, store=AsyncDictStore())
    scopes = [asgi_scope(token) for token in tokens]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    async def requests(n: int) -> float:
        guard.engine._tokens.clear()
        start = clock()
        for i in range(n):
            index = i % POOL
            if index == 0 and i:
                guard.engine._tokens.clear()
            await guard(dict(scopes[index]), receive, send)
        return clock() - start

    loop.run_until_complete(requests(1))  # alice's state is cached from here on
    return lambda n: loop.run_until_complete(requests(n))


def first_sight(algorithms: Iterable[str] = DECODE_ALGORITHMS, rounds: int = 9) -> list[Row]:
    """First sight of a token through each adapter against ``jwt.decode``, per algorithm."""
    rows: list[Row] = []
    loop = asyncio.new_event_loop()
    try:
        for alg in algorithms:
            settings, private, public = keys_for(alg)
            tokens = token_pool(settings, private, alg)
            decode = _decode_side(tokens, public, alg)
            pyjwt, ours = pair(decode, _wsgi_first_sight(settings, tokens), rounds)
            rows.append(Row("first sight, WSGI", alg, pyjwt, ours, FIRST_SIGHT_TARGET))
            pyjwt, ours = pair(decode, _asgi_first_sight(settings, tokens, loop), rounds)
            rows.append(Row("first sight, ASGI", alg, pyjwt, ours, FIRST_SIGHT_TARGET))
    finally:
        loop.close()
    return rows


# -- issuing ----------------------------------------------------------------------------------


def issuing(algorithms: Iterable[str] = ISSUING_ALGORITHMS, rounds: int = 9) -> list[Row]:
    """``issue_token`` (claims, kid header, signature) against ``jwt.encode`` with a prepared key, per algorithm."""
    rows: list[Row] = []
    for alg in algorithms:
        settings, private, _ = keys_for(alg)
        kid = signing_key(settings, alg).kid
        claims = jwt.decode(issue_token(settings, "alice"), options={"verify_signature": False})

        def theirs(n: int, private: Any = private, alg: str = alg, kid: str = kid, claims: Any = claims) -> float:
            headers = {"kid": kid}
            start = clock()
            for _ in range(n):
                jwt.encode(claims, private, algorithm=alg, headers=headers)
            return clock() - start

        def ours(n: int, settings: Settings = settings) -> float:
            start = clock()
            for _ in range(n):
                issue_token(settings, "alice")
            return clock() - start

        pyjwt, mine = pair(theirs, ours, rounds)
        rows.append(Row("issue_token", alg, pyjwt, mine, ISSUING_TARGET))
    return rows


# -- report -----------------------------------------------------------------------------------


def _us(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} µs ({min(values):.1f}–{max(values):.1f})"


def table(rows: Sequence[Row], title: str) -> str:
    """A Markdown table of *rows*: medians with min–max over rounds, ratios within a round."""
    lines = [
        f"**{title}**",
        "",
        "| algorithm | measure | PyJWT | jwtguard | ratio (min–max) | fastest rounds | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        ratios = row.ratios
        lines.append(
            f"| {row.algorithm} | {row.measure} | {_us(row.pyjwt)} | {_us(row.jwtguard)} "
            f"| {row.ratio:.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) | {row.fastest:.2f}× "
            f"| ≤ {row.target:.2f}× {'ok' if row.ok else 'MISSED'} |"
        )
    return "\n".join(lines) + "\n"


def _ratios(rows: Sequence[Row]) -> str:
    return ", ".join(f"{row.algorithm} {row.ratio:.2f}×" for row in rows)


def section(sizes: Sizes) -> Section:
    """Both tables and their two targets, for the runner (``python -m bench``).

    Many short rounds (:attr:`Sizes.sight_rounds` of :attr:`Sizes.sight_batch` seconds a side):
    on a shared machine a long round is more likely to be hit by another process on one side only.
    """
    overhead.BATCH_SECONDS = sizes.sight_batch
    decoded = first_sight(DECODE_ALGORITHMS, sizes.sight_rounds)
    issued = issuing(ISSUING_ALGORITHMS, sizes.sight_rounds)
    wsgi = [row for row in decoded if row.measure.endswith("WSGI")]
    asgi = [row for row in decoded if row.measure.endswith("ASGI")]
    worst = max(decoded, key=lambda row: row.ratio)
    slowest = max(issued, key=lambda row: row.ratio)
    rs256 = next(row for row in issued if row.algorithm == "RS256")
    sight = Target(
        "first sight vs PyJWT `jwt.decode`",
        "HS256 1.58–1.67×, RS256 1.24×, ES256 1.17×",
        "≤ 1.15× each",
        f"WSGI {_ratios(wsgi)}; ASGI {_ratios(asgi)}",
        all(row.ok for row in decoded),
        f"worst {worst.algorithm} {worst.measure.rpartition(' ')[2]} {worst.ratio:.2f}×"
        + ("" if worst.ok else f", {worst.ratio - FIRST_SIGHT_TARGET:.2f}× over"),
    )
    issue = Target(
        "`issue_token` RS256",
        "52 ms a token vs 0.4 ms for `jwt.encode` with a key object",
        "≤ 1.2× `jwt.encode` with a prepared key, all algorithms",
        f"RS256 {rs256.ratio:.2f}×; {len(issued)} algorithms "
        f"{min(row.ratio for row in issued):.2f}–{slowest.ratio:.2f}×",
        all(row.ok for row in issued),
        f"slowest {slowest.algorithm} {slowest.ratio:.2f}×"
        + ("" if slowest.ok else f", {slowest.ratio - ISSUING_TARGET:.2f}× over"),
    )
    text = (
        "### First sight of a token, and issuing tokens\n\n"
        "First sight: a token not in the verified-token cache (its user's state is) through "
        "JWTGuardWSGI and JWTGuardASGI in front of a trivial app, against `jwt.decode(token, key, "
        "algorithms=[alg])` with a prepared key; issuing: `issue_token` against `jwt.encode` of the same "
        f"claims with a prepared key. {sizes.sight_rounds} interleaved rounds of about "
        f'{sizes.sight_batch * 1000:.0f} ms a side; ratio within a round, median (min–max); "fastest '
        "rounds\" is jwtguard's fastest round over PyJWT's (noise only adds time). Alone: "
        "`.venv/bin/python -m bench.first_sight`.\n\n"
        + table(decoded, "First sight of a token vs jwt.decode")
        + "\n"
        + table(issued, "issue_token vs jwt.encode with a prepared key")
    )
    return Section(targets=[sight, issue], extra=text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per pair (default 9)")
    parser.add_argument("--only", choices=("decode", "issue"), help="one of the two tables")
    parser.add_argument("--algorithms", help="comma-separated algorithms (default: each table's own list)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--cpu", action="store_true", help="time this thread's CPU seconds, not wall-clock")
    parser.add_argument(
        "--batch", type=float, default=overhead.BATCH_SECONDS, help="seconds a round times per side (default 0.1)"
    )
    args = parser.parse_args(argv)
    global clock
    clock = time.thread_time if args.cpu else time.perf_counter
    overhead.BATCH_SECONDS = args.batch  # what overhead.calibrate sizes a round by
    chosen = tuple(args.algorithms.split(",")) if args.algorithms else None
    rows: list[Row] = []
    if args.only != "issue":
        measured = first_sight(chosen or DECODE_ALGORITHMS, args.rounds)
        print(table(measured, f"First sight of a token vs jwt.decode, {args.rounds} interleaved rounds"))
        rows += measured
    if args.only != "decode":
        measured = issuing(chosen or ISSUING_ALGORITHMS, args.rounds)
        print(table(measured, f"issue_token vs jwt.encode with a prepared key, {args.rounds} interleaved rounds"))
        rows += measured
    return 1 if args.check and not all(row.ok for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
