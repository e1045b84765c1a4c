"""This checkout's jwtguard against another checkout's, in one process: before/after numbers.

On a machine shared with other work, two runs of a benchmark a minute apart differ by more
than most changes do. Here both versions run in the same process, in many short batches that
alternate between them, and each side reports its fastest batch and its tenth percentile (noise
only ever adds time, so these estimate the undisturbed cost):

    git -C /work/main archive main | tar -x -C /tmp/main     # the version to compare with
    .venv/bin/python -m bench.against /tmp/main
    .venv/bin/python -m bench.against /tmp/main --batches 600 --only repeat

Rows: the repeat request (token and user cached) through the engine alone (``Engine.handle``)
and through JWTGuardWSGI in front of a trivial app; a token's first sight through
JWTGuardWSGI, HS256 and ES256. The other checkout is imported as ``jwtguard_other`` (its
modules import each other relatively), from its ``jwtguard`` directory.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt

import jwtguard
from bench.overhead import SECRET, DictStore, trivial_app, wsgi_environ

Batch = Callable[[int], float]


def load(checkout: Path) -> ModuleType:
    """The jwtguard package of *checkout* (a directory holding ``jwtguard/``), as ``jwtguard_other``."""
    init = checkout / "jwtguard" / "__init__.py"
    spec = importlib.util.spec_from_file_location("jwtguard_other", init, submodule_search_locations=[str(init.parent)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no jwtguard package in {checkout}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["jwtguard_other"] = module
    spec.loader.exec_module(module)
    return module


def _start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
    return None


def repeat(package: Any) -> dict[str, Batch]:
    settings = package.Settings(
        secret=SECRET, store_url="mongodb://127.0.0.1:1/x", cache_ttl=3600, token_cache_ttl=3600
    )
    token = package.issue_token(settings, "alice", ttl=3600)
    guard = package.JWTGuardWSGI(trivial_app, settings=settings, store=DictStore())
    environ = wsgi_environ(token)
    request = sys.modules[package.__name__ + ".sansio"].Request("GET", "/api/me", (f"Bearer {token}",))
    engine = guard.engine

    def wsgi(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            for _chunk in guard(dict(environ), _start_response):
                pass
        return time.perf_counter() - start

    def handle(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            engine.handle(request)
        return time.perf_counter() - start

    wsgi(100)
    return {"repeat token, Engine.handle": handle, "repeat token, WSGI + trivial app": wsgi}


def first_sight(package: Any, alg: str, tokens: list[str], settings_of: Callable[[Any], Any]) -> Batch:
    guard = package.JWTGuardWSGI(trivial_app, settings=settings_of(package), store=DictStore())
    environs = [wsgi_environ(token) for token in tokens]
    for _chunk in guard(dict(environs[0]), _start_response):  # the user's state, cached from here on
        pass

    def run(n: int) -> float:
        guard.engine._tokens.clear()
        start = time.perf_counter()
        for i in range(n):
            for _chunk in guard(dict(environs[i]), _start_response):
                pass
        return time.perf_counter() - start

    return run


def first_sights(packages: tuple[Any, Any]) -> dict[str, tuple[Batch, Batch]]:
    from bench.first_sight import keys_for, token_pool

    rows = {}
    for alg in ("HS256", "ES256"):
        settings, private, _ = keys_for(alg)
        tokens = token_pool(settings, private, alg)[:200]

        def settings_of(package: Any, settings: Any = settings) -> Any:
            return package.Settings(
                algorithms=settings.algorithms,
                secret=settings.secret,
                public_key=settings.public_key,
                private_key=settings.private_key,
                store_url="mongodb://127.0.0.1:1/x",
                cache_ttl=3600,
            )

        ours, theirs = (first_sight(package, alg, tokens, settings_of) for package in packages)
        rows[f"first sight {alg}, WSGI + trivial app"] = (ours, theirs)
    return rows


def compare(name: str, ours: Batch, theirs: Batch, batches: int, size: int) -> str:
    mine: list[float] = []
    other: list[float] = []
    for i in range(batches):
        for side, out in ((ours, mine), (theirs, other)) if i % 2 else ((theirs, other), (ours, mine)):
            out.append(side(size) / size * 1e9)
    tenth = batches // 10
    low, p10 = min(mine) / min(other), sorted(mine)[tenth] / sorted(other)[tenth]
    return (
        f"| {name} | {min(other):,.0f} ns ({sorted(other)[tenth]:,.0f}) | {min(mine):,.0f} ns "
        f"({sorted(mine)[tenth]:,.0f}) | {low:.3f}× ({p10:.3f}×) |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("other", type=Path, help="the other checkout (a directory holding jwtguard/)")
    parser.add_argument("--batches", type=int, default=300, help="batches per side and row (default 300)")
    parser.add_argument("--only", choices=("repeat", "first-sight"), help="one kind of row")
    args = parser.parse_args(argv)
    other = load(args.other)
    print(f"this checkout ({Path(jwtguard.__file__).parent.parent}) against {args.other}, PyJWT {jwt.__version__}")
    print("fastest batch per request (tenth percentile); the ratio is this checkout's over the other's\n")
    print("| measure | other | this | ratio |")
    print("| --- | ---: | ---: | ---: |")
    gc.disable()  # as timeit does: the collector's pauses fall on either side at random
    try:
        if args.only != "first-sight":
            mine, theirs = repeat(jwtguard), repeat(other)
            for name in mine:
                print(compare(name, mine[name], theirs[name], args.batches, 1000), flush=True)
        if args.only != "repeat":
            for name, (ours, theirs_) in first_sights((jwtguard, other)).items():
                print(compare(name, ours, theirs_, max(20, args.batches // 3), 50), flush=True)
    finally:
        gc.enable()
    return 0


if __name__ == "__main__":
    sys.exit(main())
