"""The benchmark of issue 11: jwtguard against the bare frameworks and its peers, every table in one run.

``make bench`` (or ``.venv/bin/python -m bench``) runs it and writes ``bench/RESULTS.md``; see
:mod:`bench.__main__`. Each part is a module with a ``run(sizes, ...)`` returning a
:class:`bench.common.Section`; ``tests/test_bench_smoke.py`` runs every part with tiny sizes.
``bench/overhead.py`` is issue 8's quicker per-request check, run on its own.
"""
