"""Django: the guard in ``wsgi.py``, and the claims in views.

Two lines in the project's ``wsgi.py`` put the guard in front of Django::

    from jwtguard import JWTGuardWSGI
    application = JWTGuardWSGI(get_wsgi_application())

Django hands views the WSGI environ as ``request.META``, so the guard's
verdict is there; :func:`claims` and :func:`user_id` read it, and
:func:`jwt_required` checks a view on it (no token is verified twice).

Security: a decorated view reached without the guard's verdict (not in
``wsgi.py``, ``runserver`` without it, an exempt path) is refused 401, never
run; under ``JWTGUARD_MODE=optional`` every view *without* the decorator is
public.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]

from .engine import route_refusal
from .sansio.decision import Decision
from .sansio.policy import CLAIMS_KEY, USER_ID_KEY, requirement
from .userid import UserId

__all__ = ["claims", "jwt_required", "response_of", "user_id"]

View = TypeVar("View", bound=Callable[..., Any])


def claims(request: HttpRequest) -> dict[str, Any] | None:
    """The verified claims of *request*, or None (no token under optional mode, or not guarded)."""
    return cast("dict[str, Any] | None", request.META.get(CLAIMS_KEY))


def user_id(request: HttpRequest) -> UserId | None:
    """The user id of *request*'s token, or None."""
    return cast("UserId | None", request.META.get(USER_ID_KEY))


def response_of(decision: Decision) -> HttpResponse:
    """The Django response of a refusal: the guard's status, headers and JSON body."""
    return HttpResponse(decision.body, status=decision.status, headers=dict(decision.headers))


def jwt_required(
    optional: bool = False,
    *,
    scopes: str | Iterable[str] | None = None,
    roles: str | Iterable[str] | None = None,
) -> Callable[[View], View]:
    """Run the view only on the guard's verdict for its request.

    :param optional: also run it without a token (``JWTGUARD_MODE=optional``;
        :func:`claims` is then None).
    :param scopes: scopes the token's ``scope`` claim must all hold.
    :param roles: roles the token's ``roles`` claim must all hold.

    Refusals are the guard's own: 401 ``missing_token`` (no token, or no
    verdict: fail closed), 403 ``insufficient_scope`` (RFC 6750 §3.1).
    """
    required_scopes, required_roles = requirement(scopes), requirement(roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = route_refusal(request.META, view, optional=optional, scopes=required_scopes, roles=required_roles)
            if refused is not None:
                return response_of(refused)
            return view(request, *args, **kwargs)

        return cast(View, checked)

    return decorate
