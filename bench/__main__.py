"""Run the whole benchmark and write bench/RESULTS.md: ``make bench``, or ``.venv/bin/python -m bench``.

Every part of issue 11's benchmark in one run, in the order of the issue, then the targets table
with each target met or missed (and by how much). The parts, each a module of this package:

    repeat        repeat token in process: Flask, Starlette, FastAPI; jwtguard and its peers
    miss          cache miss against the real store
    http          uvicorn and gunicorn, bare against guarded, through sockets
    load          store queries per user per TTL under load (10 000 users)
    propagation   CLI revocation to the first refusal in two other server processes

    first_sight   first sight of a token and issuing, against PyJWT's jwt.decode and jwt.encode
    memory        RSS after 1 000 000 distinct 8 KiB tokens (in a process of its own)
    dpop          a DPoP proof per request, against one ES256 signature check (issue 13)

Each part also runs alone: ``python -m bench.NAME`` (see its module).

    .venv/bin/python -m bench                        # everything, a few minutes; writes bench/RESULTS.md
    .venv/bin/python -m bench --quick --out /tmp/r.md   # tiny sizes: a check that it all runs
    .venv/bin/python -m bench --parts http,propagation --propagation-ttl 5

The store parts need a MongoDB-wire server: ``JWTGUARD_TEST_MONGO_URI``, else mongod on PATH, else
FerretDB (``JWTGUARD_FERRETDB``, or the binary ``scripts/get-ferretdb.sh`` caches): see
:mod:`bench.store`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench import cache_miss, dpop, first_sight, memory, over_http, propagation, repeat, store_load
from bench.common import FULL, QUICK, Section, Sizes, Stopwatch, target_table
from bench.store import Mongo, mongo_server

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

PARTS = ("repeat", "first_sight", "miss", "http", "load", "propagation", "memory", "dpop")
NEEDS_STORE = {"miss", "http", "load", "propagation"}

#: Distributions whose versions the report lists.
DISTRIBUTIONS = (
    "jwtguard-revocation",
    "PyJWT",
    "cryptography",
    "pymongo",
    "cachetools",
    "Flask",
    "Werkzeug",
    "flask-jwt-extended",
    "starlette",
    "fastapi",
    "uvicorn",
    "h11",
    "httptools",
    "uvloop",
    "gunicorn",
)


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine(mongo: Mongo | None, load_before: str, load_after: str) -> str:
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--", "jwtguard", "bench", "setup.cfg")
    rows = [
        ("date (UTC)", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("commit", (commit or "unknown") + (" (with uncommitted changes)" if dirty else "")),
        ("CPU", f"{_cpu_model()}; {os.cpu_count()} cores, {len(os.sched_getaffinity(0))} usable by this process"),
        ("memory", _memory()),
        ("system", platform.platform()),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("load average (1, 5, 15 min) before / after", f"{load_before} / {load_after}"),
        ("store server", mongo.version() if mongo is not None else "none (store parts not run)"),
    ]
    rows.extend((name, _version(name)) for name in DISTRIBUTIONS)
    lines = ["| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in rows)]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Report:
    """The Markdown of RESULTS.md and the files that go beside it."""

    markdown: str
    files: dict[str, str]
    sections: dict[str, Section]


def run_all(
    sizes: Sizes,
    mongo: Mongo | None,
    *,
    parts: Sequence[str] = PARTS,
    load_before: str | None = None,
) -> Report:
    """Run *parts* (the store parts only with *mongo*, propagation then on SQLite alone) and build the report."""
    load_before = load_before or _load()
    store_parts: dict[str, Callable[[Mongo, Sizes], Section]] = {
        "miss": cache_miss.run,
        "http": over_http.run,
        "load": store_load.run,
    }
    sections: dict[str, Section] = {}
    durations: dict[str, float] = {}
    for name in PARTS:
        watch = Stopwatch()
        if name not in parts:
            continue
        elif name == "repeat":
            progress("repeat token, in process")
            sections[name] = repeat.run(sizes)
        elif name == "first_sight":
            progress("first sight and issuing, against PyJWT")
            sections[name] = first_sight.section(sizes)
        elif name == "dpop":
            progress("DPoP, a proof per request")
            sections[name] = dpop.run(sizes)
        elif name == "memory":
            progress(f"memory ({sizes.memory_tokens:,} distinct tokens, a process of its own)")
            sections[name] = memory.section(sizes)
        elif name == "propagation":
            progress("propagation (two servers, the CLI)")
            sections[name] = propagation.run(mongo, sizes)
        elif mongo is None:
            progress(f"{name}: skipped, no store server")
            continue
        else:
            progress({"miss": "cache miss", "http": "HTTP", "load": "store load"}[name])
            sections[name] = store_parts[name](mongo, sizes)
        durations[name] = watch.seconds()
    load_after = _load()
    out = [
        "# jwtguard benchmark results",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`; see `bench/__main__.py`) in one run: every "
        "table of issue 11's benchmark, jwtguard against the bare frameworks and its peers. Medians with "
        "min–max over interleaved rounds; ratios are computed within a round, then summarised. The machine "
        "is shared: the load average before and after the run is in the first table.",
        "",
        "## Machine and versions",
        "",
        machine(mongo, load_before, load_after),
        "## Against the targets (issue 11)",
        "",
        target_table([t for section in sections.values() for t in section.targets]),
        "## Tables",
        "",
    ]
    files: dict[str, str] = {}
    for section in sections.values():
        out.extend(table.markdown() for table in section.tables)
        if section.extra:
            out.append(section.extra)
        files.update(section.files)
    out.append("## Run time of each part\n")
    out.append(", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()) + "\n")
    return Report("\n".join(out), files, sections)


@contextlib.contextmanager
def _store(needed: bool) -> Iterator[Mongo | None]:
    if not needed:
        yield None
        return
    with mongo_server() as mongo:
        yield mongo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every part runs")
    parser.add_argument(
        "--out", type=Path, default=HERE / "RESULTS.md", help="where to write (default bench/RESULTS.md)"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default: all)"
    )
    parser.add_argument(
        "--propagation-ttl",
        type=float,
        default=None,
        metavar="SECONDS",
        help="JWTGUARD_CACHE_TTL of the servers (default 300)",
    )
    parser.add_argument("--trials", type=int, default=None, help="propagation trials per store (default 50)")
    args = parser.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts: {', '.join(unknown)} (known: {', '.join(PARTS)})")
    sizes = QUICK if args.quick else FULL
    if args.propagation_ttl is not None:
        sizes = dataclasses.replace(sizes, propagation_ttl=args.propagation_ttl)
    if args.trials is not None:
        sizes = dataclasses.replace(sizes, trials=args.trials)
    load_before = _load()
    watch = Stopwatch()
    with _store(bool(NEEDS_STORE & set(parts))) as mongo:
        report = run_all(sizes, mongo, parts=parts, load_before=load_before)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown)
    for name, text in report.files.items():
        (args.out.parent / name).write_text(text)
    progress(f"wrote {args.out} ({', '.join(report.files) or 'no pictures'}) in {watch.seconds():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
