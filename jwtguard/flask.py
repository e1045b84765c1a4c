"""Flask: install the guard as an extension, and check routes on its verdict.

The middleware stays the one place where tokens are verified and users
checked; these helpers only read what it left in the WSGI environ
(``jwtguard.claims``, ``jwtguard.user_id``) and never verify a token again::

    from jwtguard.flask import JWTGuard, current_claims, jwt_required

    app = Flask(__name__)
    JWTGuard(app)                       # settings from the JWTGUARD_* variables

    @app.get("/api/notes")
    @jwt_required(scopes="notes:read")  # 403 insufficient_scope without it
    def notes():
        return {"user": current_claims()["sub"]}

Security: a route decorated :func:`jwt_required` that is reached without the
guard's verdict (the extension not installed, or an exempt path) is refused
401, never run; under ``JWTGUARD_MODE=optional`` every route *without* the
decorator is public.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import Flask, Response, request

from .config import Settings
from .engine import route_refusal
from .sansio.decision import Decision
from .sansio.policy import CLAIMS_KEY, USER_ID_KEY, requirement
from .stores import Store
from .userid import UserId
from .wsgi import JWTGuardWSGI

__all__ = ["JWTGuard", "current_claims", "current_user_id", "jwt_required"]

F = TypeVar("F", bound=Callable[..., Any])


class JWTGuard:
    """The Flask extension: wraps ``app.wsgi_app`` in :class:`~jwtguard.JWTGuardWSGI`.

    :param app: the application, or None to call :meth:`init_app` later (app factories).
    :param settings: defaults to ``Settings.from_env()`` (the ``JWTGUARD_*`` variables).
    :param store: defaults to the store ``JWTGUARD_STORE_URL`` names.

    The guard is ``app.extensions["jwtguard"]`` (its ``metrics``, ``close()``).
    """

    def __init__(self, app: Flask | None = None, *, settings: Settings | None = None, store: Store | None = None):
        self.settings = settings
        self.store = store
        self.guard: JWTGuardWSGI | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> JWTGuardWSGI:
        """Put the guard in front of *app* (once) and return it."""
        if "jwtguard" in app.extensions:
            raise RuntimeError("jwtguard: this Flask app already has a JWTGuard")
        guard = JWTGuardWSGI(app.wsgi_app, settings=self.settings, store=self.store)
        app.wsgi_app = guard  # type: ignore[method-assign]
        app.extensions["jwtguard"] = guard
        self.guard = guard
        return guard


def current_claims() -> dict[str, Any] | None:
    """The verified claims of the current request, or None (no token under optional mode, or not guarded).

    Nested values are frozen: lists are tuples, objects read-only.
    """
    return cast("dict[str, Any] | None", request.environ.get(CLAIMS_KEY))


def current_user_id() -> UserId | None:
    """The user id of the current request's token (its ``sub`` by default), or None."""
    return cast("UserId | None", request.environ.get(USER_ID_KEY))


def jwt_required(
    optional: bool = False,
    *,
    scopes: str | Iterable[str] | None = None,
    roles: str | Iterable[str] | None = None,
) -> Callable[[F], F]:
    """Run the view only on the guard's verdict for this request.

    :param optional: also run it without a token (``JWTGUARD_MODE=optional``;
        :func:`current_claims` is then None). In ``require`` mode the guard
        already refused such requests.
    :param scopes: scopes the token's ``scope`` claim must all hold
        (a space-separated string, like the claim, or strings).
    :param roles: roles the token's ``roles`` claim must all hold.

    Refusals are the guard's own answers: 401 ``missing_token`` (no token, or
    no verdict: fail closed), 403 ``insufficient_scope`` with
    ``WWW-Authenticate: Bearer error="insufficient_scope"`` (RFC 6750 §3.1).
    """
    required_scopes, required_roles = requirement(scopes), requirement(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            refused = route_refusal(
                request.environ, view, optional=optional, scopes=required_scopes, roles=required_roles
            )
            if refused is not None:
                return response_of(refused)
            return view(*args, **kwargs)

        return cast(F, checked)

    return decorate


def response_of(decision: Decision) -> Response:
    """The Flask response of a refusal (its status, headers and JSON body)."""
    return Response(decision.body, status=decision.status, headers=list(decision.headers))
