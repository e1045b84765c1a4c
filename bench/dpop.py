"""DPoP's cost per request (issue 13): what a proof adds to a repeat request, against one signature check.

A DPoP request is a repeat request (its token verified and its user's state cached) plus a fresh,
single-use proof: parsed, its key prepared (once per client key: remembered by the proof header),
its signature checked, its claims matched with the request, its ``jti`` remembered. Three sides,
interleaved in rounds through JWTGuardWSGI in front of a trivial app (the proofs are signed before
the timing starts: a client's cost, not the server's):

- ``bearer``: the same user's unbound token as ``Authorization: Bearer`` (the baseline);
- ``dpop``: a token bound to a P-256 key with ``Authorization: DPoP`` and a new ES256 proof each time;
- ``verify``: one ES256 signature check of those proofs alone (PyJWT's algorithm object and a
  prepared key): the floor no DPoP check can go under;
- ``decode``: ``jwt.decode(proof, key, algorithms=["ES256"])`` with the key prepared: what a
  hand-written check built on PyJWT spends before its own claim checks and replay cache.

The target: the DPoP overhead (``dpop`` − ``bearer``, within a round) at most 1.25× one ``verify``,
and at most one ``decode``. Alone::

    .venv/bin/python -m bench.dpop                 # about 10 s
    .venv/bin/python -m bench.dpop --rounds 81 --batch 0.01
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import get_default_algorithms

from bench.common import Section, Sizes, Table, Target, interleaved, median, minus, ratio, spread, within_rounds
from bench.overhead import SECRET, DictStore, trivial_app, wsgi_environ
from jwtguard import JWTGuardWSGI, Settings, issue_token
from jwtguard.cache import SeenOnce
from jwtguard.sansio.dpop import thumbprint, token_hash
from jwtguard.tokens import read_compact

#: Issue 13's goal: a proof costs about one more signature check.
VERIFY_TARGET = 1.25
DECODE_TARGET = 1.0
#: Proofs signed before the timing; a batch uses each at most once, and the replay check forgets
#: them between batches (a proof is single-use: a batch longer than the pool would measure refusals).
POOL = 3000
ORIGIN = "https://api.bench"
URL = ORIGIN + "/api/me"

Side = Callable[[int], float]


def _proofs(private: Any, jwk: dict[str, Any], token: str, now: int) -> list[str]:
    claims = {"htm": "GET", "htu": URL, "iat": now, "ath": token_hash(token)}
    header = {"typ": "dpop+jwt", "jwk": jwk}
    return [jwt.encode({**claims, "jti": uuid.uuid4().hex}, private, "ES256", header) for _ in range(POOL)]


def sides(now: int) -> dict[str, Side]:
    """The four sides, over one guard (a frozen clock: the proofs' ``iat`` stays fresh however long it runs)."""
    settings = Settings(
        secret=SECRET, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600, dpop="allow", external_origin=ORIGIN
    )
    guard = JWTGuardWSGI(trivial_app, settings=settings, store=DictStore(), clock=lambda: float(now))
    engine = guard.engine
    private = ec.generate_private_key(ec.SECP256R1())
    algorithm = get_default_algorithms()["ES256"]
    jwk = json.loads(algorithm.to_jwk(private.public_key()))
    bound = issue_token(settings, "alice", ttl=3600, now=now, cnf={"jkt": thumbprint(jwk)})
    plain = issue_token(settings, "alice", ttl=3600, now=now)
    proofs = _proofs(private, jwk, bound, now)
    public = private.public_key()
    parts = [read_compact(proof) for proof in proofs]
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    bearer_environ = wsgi_environ(plain)
    dpop_environ = {**wsgi_environ(bound), "HTTP_AUTHORIZATION": f"DPoP {bound}", "HTTP_HOST": "api.bench"}

    def bearer(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            for _chunk in guard(dict(bearer_environ), start_response):
                pass
        return time.perf_counter() - start

    def dpop(n: int) -> float:
        if n > POOL:
            raise RuntimeError(f"a DPoP batch of {n} requests needs more than the {POOL} proofs signed")
        engine._proofs = SeenOnce(settings.dpop_max_age, timer=time.monotonic)  # each batch reuses the pool
        environs = [{**dpop_environ, "HTTP_DPOP": proofs[i]} for i in range(n)]
        statuses.clear()
        start = time.perf_counter()
        for environ in environs:
            for _chunk in guard(dict(environ), start_response):
                pass
        elapsed = time.perf_counter() - start
        if set(statuses) != {"200 OK"}:
            raise RuntimeError(f"DPoP requests were refused: {sorted(set(statuses))}")
        return elapsed

    def verify(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            _header, _payload, signing_input, signature = parts[i % POOL]
            algorithm.verify(signing_input, public, signature)
        return time.perf_counter() - start

    def decode(n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            jwt.decode(proofs[i % POOL], public, algorithms=["ES256"])
        return time.perf_counter() - start

    statuses.clear()
    bearer(1)
    if statuses != ["200 OK"]:
        raise RuntimeError(f"the Bearer request was refused: {statuses}")
    dpop(1)
    return {"bearer": bearer, "dpop": dpop, "verify": verify, "decode": decode}


def measure(rounds: int, batch_seconds: float) -> dict[str, list[float]]:
    """Microseconds per request of each side in each round; every DPoP request checked as accepted."""
    now = int(time.time())
    # A batch must fit the pool: a side of about 150 µs a request runs ~650 in 0.1 s.
    return interleaved(sides(now), rounds, min(batch_seconds, 0.1))


def run(sizes: Sizes) -> Section:
    # Many short rounds, as first sight's: on a shared machine a long round is more often hit on one side only.
    measured = measure(sizes.sight_rounds, sizes.sight_batch)
    overhead = within_rounds(measured["dpop"], measured["bearer"], minus)
    per_verify = within_rounds(overhead, measured["verify"], ratio)
    per_decode = within_rounds(overhead, measured["decode"], ratio)
    table = Table(
        "DPoP: a proof per request (issue 13)",
        "JWTGuardWSGI in front of a trivial app, a user whose state and tokens are cached: an unbound "
        "Bearer token against a DPoP-bound one with a new ES256 proof each request (signed beforehand); "
        "beside them one ES256 signature check of those proofs alone, and PyJWT's `jwt.decode` of them "
        f"with a prepared key. {sizes.sight_rounds} interleaved rounds of about {sizes.sight_batch * 1000:.0f} ms "
        "a side; differences and ratios within a round, "
        "median (min–max). Alone: `.venv/bin/python -m bench.dpop`.",
        ["measure", "µs a request"],
        [
            ["Bearer, repeat token", spread(measured["bearer"], 1)],
            ["DPoP, repeat token and a fresh proof", spread(measured["dpop"], 1)],
            ["DPoP overhead (DPoP − Bearer)", spread(overhead, 1)],
            ["one ES256 signature check", spread(measured["verify"], 1)],
            ['`jwt.decode(proof, key, algorithms=["ES256"])`', spread(measured["decode"], 1)],
            ["overhead / one signature check", spread(per_verify, 2, "×")],
            ["overhead / `jwt.decode` of the proof", spread(per_decode, 2, "×")],
        ],
    )
    verify_ratio, decode_ratio = median(per_verify), median(per_decode)
    met = verify_ratio <= VERIFY_TARGET and decode_ratio <= DECODE_TARGET
    misses = []
    if verify_ratio > VERIFY_TARGET:
        misses.append(f"{verify_ratio - VERIFY_TARGET:.2f}× over the signature check's")
    if decode_ratio > DECODE_TARGET:
        misses.append(f"{decode_ratio - DECODE_TARGET:.2f}× over `jwt.decode`'s")
    target = Target(
        "DPoP overhead per request",
        "(new in issue 13)",
        f"≤ {VERIFY_TARGET:g}× one ES256 signature check and ≤ {DECODE_TARGET:g}× `jwt.decode` of the proof",
        f"+{median(overhead):.1f} µs: {verify_ratio:.2f}× a check ({median(measured['verify']):.1f} µs), "
        f"{decode_ratio:.2f}× `jwt.decode` ({median(measured['decode']):.1f} µs)",
        met,
        "; ".join(misses),
    )
    return Section(tables=[table], targets=[target])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dpop", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--batch", type=float, default=0.02, help="seconds a side runs per round (at most 0.1)")
    args = parser.parse_args(argv)
    measured = measure(args.rounds, args.batch)
    for name, values in measured.items():
        print(f"{name:8s} {statistics.median(values):8.1f} µs  (min {min(values):.1f})")
    overhead = within_rounds(measured["dpop"], measured["bearer"], minus)
    print(
        f"overhead {median(overhead):8.1f} µs = {median(within_rounds(overhead, measured['verify'], ratio)):.2f}× "
        f"a check, {median(within_rounds(overhead, measured['decode'], ratio)):.2f}× jwt.decode"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
