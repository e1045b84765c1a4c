"""The apps the benchmark serves: one route, ``GET /api/me``, answering ``{"ok": true}``.

The bare apps are :mod:`bench.overhead`'s; the guarded ones wrap them in the middleware with the
settings of the ``JWTGUARD_*`` variables, as a deployment would (the HTTP and propagation parts
start them under real servers)::

    gunicorn -k gthread --threads 4 -w 1 'bench.apps:flask_guarded()'
    uvicorn --factory bench.apps:starlette_guarded
"""

from __future__ import annotations

from typing import Any

from bench.overhead import flask_app, starlette_app
from jwtguard import JWTGuardASGI, JWTGuardWSGI, Settings

__all__ = ["flask_bare", "flask_guarded", "starlette_bare", "starlette_guarded"]


def flask_bare() -> Any:
    """Flask, no guard."""
    return flask_app()


def flask_guarded() -> Any:
    """Flask behind JWTGuardWSGI, on the store JWTGUARD_STORE_URL names."""
    app = flask_app()
    app.wsgi_app = JWTGuardWSGI(app.wsgi_app, settings=Settings.from_env())
    return app


def starlette_bare() -> Any:
    """Starlette, no guard."""
    return starlette_app()


def starlette_guarded() -> JWTGuardASGI:
    """Starlette behind JWTGuardASGI, on the store JWTGUARD_STORE_URL names."""
    return JWTGuardASGI(starlette_app(), settings=Settings.from_env())
