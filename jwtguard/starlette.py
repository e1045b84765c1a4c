"""Starlette: per-route checks on the verdict :class:`~jwtguard.JWTGuardASGI` left in the scope.

No token is verified here (and nothing imports FastAPI): the helpers read
``scope["jwtguard.claims"]`` and ``scope["jwtguard.user_id"]``::

    from jwtguard.starlette import claims_of, jwt_required

    @jwt_required(roles="admin")        # 403 insufficient_scope without the role
    async def admin_page(request):
        return JSONResponse({"user": claims_of(request)["sub"]})

    app = JWTGuardASGI(Starlette(routes=[Route("/admin", admin_page)]))

Security: a decorated endpoint reached without the guard's verdict (not
installed, or an exempt path) is refused 401, never run; under
``JWTGUARD_MODE=optional`` every endpoint *without* a check is public.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from .engine import route_refusal
from .sansio.decision import Decision
from .sansio.policy import CLAIMS_KEY, USER_ID_KEY, requirement
from .userid import UserId

__all__ = ["check", "claims_of", "jwt_required", "response_of", "user_id_of"]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def claims_of(connection: HTTPConnection) -> dict[str, Any] | None:
    """The verified claims of *connection* (a request or WebSocket), or None (no token, or not guarded)."""
    claims: dict[str, Any] | None = connection.scope.get(CLAIMS_KEY)
    return claims


def user_id_of(connection: HTTPConnection) -> UserId | None:
    """The user id of *connection*'s token, or None."""
    user_id: UserId | None = connection.scope.get(USER_ID_KEY)
    return user_id


def check(
    connection: HTTPConnection,
    *,
    optional: bool = False,
    scopes: str | Iterable[str] | None = None,
    roles: str | Iterable[str] | None = None,
) -> Decision | None:
    """The guard's refusal for *connection* under these requirements, or None (see :func:`jwt_required`)."""
    route = connection.scope.get("endpoint")
    return route_refusal(
        connection.scope, route, optional=optional, scopes=requirement(scopes), roles=requirement(roles)
    )


def response_of(decision: Decision) -> Response:
    """The Starlette response of a refusal: the guard's status, headers and JSON body."""
    return Response(decision.body, status_code=decision.status or 500, headers=dict(decision.headers))


def jwt_required(
    optional: bool = False,
    *,
    scopes: str | Iterable[str] | None = None,
    roles: str | Iterable[str] | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Run an ``async def endpoint(request)`` only on the guard's verdict for its request.

    :param optional: also run it without a token (``JWTGUARD_MODE=optional``;
        :func:`claims_of` is then None).
    :param scopes: scopes the token's ``scope`` claim must all hold (one
        space-separated string, like the claim, or strings).
    :param roles: roles the token's ``roles`` claim must all hold.

    Refusals are the guard's own: 401 ``missing_token`` (no token, or no
    verdict: fail closed), 403 ``insufficient_scope`` (RFC 6750 §3.1).
    """
    required_scopes, required_roles = requirement(scopes), requirement(roles)

    def decorate(endpoint: Endpoint) -> Endpoint:
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError("jwtguard.starlette.jwt_required decorates async endpoints")

        @functools.wraps(endpoint)
        async def checked(request: Request, *args: Any, **kwargs: Any) -> Response:
            refused = route_refusal(
                request.scope, endpoint, optional=optional, scopes=required_scopes, roles=required_roles
            )
            if refused is not None:
                return response_of(refused)
            return await endpoint(request, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorate
