"""FastAPI: dependencies over the verdict :class:`~jwtguard.JWTGuardASGI` left in the scope.

The middleware verifies the token and checks the user; these dependencies only
read ``scope["jwtguard.claims"]``, and declare an HTTP Bearer security scheme
so that the OpenAPI schema (and the docs' "Authorize" button) knows it::

    from jwtguard.fastapi import optional_claims, require_claims, require_scopes

    app = FastAPI()

    @app.get("/api/me")
    def me(claims: dict = Depends(require_claims)):
        return {"user": claims["sub"]}

    @app.post("/api/notes", dependencies=[Depends(require_scopes("notes:write"))])
    def add_note(): ...

    guarded = JWTGuardASGI(app)

Refusals are ``HTTPException`` s: FastAPI renders them as it renders its own,
``{"detail": "The access token lacks the required scope or role"}``, with the
guard's status and ``WWW-Authenticate``. ``FastAPI(exception_handlers=
jwtguard.fastapi.exception_handlers)`` answers with the middleware's own body
instead (``{"error": ..., "reason": ...}``).

With the default ``JWTGUARD_MODE=require``, ``/docs`` and ``/openapi.json``
need ``JWTGUARD_EXEMPT_PATHS=/docs,/openapi.json`` (or optional mode, where
every route without one of these dependencies is public).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import HTTPException, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .engine import route_refusal
from .sansio.decision import REASONS, Decision
from .sansio.policy import CLAIMS_KEY, requirement
from .starlette import response_of

__all__ = [
    "Refused",
    "RequireClaims",
    "bearer",
    "exception_handlers",
    "optional_claims",
    "require_claims",
    "require_roles",
    "require_scopes",
]

#: The security scheme every dependency here declares (OpenAPI ``components.securitySchemes.bearer``).
#: ``auto_error=False``: it never answers by itself; the guard's verdict decides.
bearer = HTTPBearer(auto_error=False, scheme_name="bearer", description="A token from the login route")


#: The dependency's sub-dependency on :data:`bearer`, once (a default argument must not call).
_BEARER = Security(bearer)


class Refused(HTTPException):
    """A per-route refusal: an ``HTTPException`` carrying the guard's :class:`Decision`."""

    def __init__(self, decision: Decision) -> None:
        headers = {k: v for k, v in decision.headers if k not in ("Content-Type", "Content-Length")}
        super().__init__(decision.status or 500, REASONS[decision.reason].description, headers)
        self.decision = decision


async def _jwtguard_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return response_of(exc.decision)


#: ``FastAPI(exception_handlers=exception_handlers)``: refusals with the middleware's own JSON body.
exception_handlers: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
    Refused: _jwtguard_body
}


class _NotADependency(type):
    """Makes ``Depends(RequireClaims)`` (the class, not an instance) fail loudly.

    FastAPI would build an instance from query parameters and hand it over as the
    "claims": every request would pass. The class's signature (what FastAPI reads)
    is one ``request`` parameter, which ``__init__`` refuses; instances keep
    ``__call__``'s signature (the metaclass attribute is not seen on instances).
    """

    @property
    def __signature__(cls) -> inspect.Signature:
        return inspect.Signature([inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)])


class RequireClaims(metaclass=_NotADependency):
    """A dependency giving the verified claims, or refusing the request.

    :param optional: also pass without a token (``JWTGUARD_MODE=optional``);
        the dependency then gives None.
    :param scopes: scopes the token's ``scope`` claim must all hold.
    :param roles: roles the token's ``roles`` claim must all hold.

    Fails closed: a request the guard never decided on (not installed, an
    exempt path) is refused 401.
    """

    def __init__(
        self,
        *,
        optional: bool = False,
        scopes: str | Iterable[str] | None = None,
        roles: str | Iterable[str] | None = None,
        request: object = None,
    ) -> None:
        if request is not None:
            raise TypeError(
                "Depends(RequireClaims) checks nothing: use Depends(require_claims), Depends(optional_claims) "
                "or Depends(RequireClaims(scopes=...))"
            )
        self.optional = optional
        self.scopes = requirement(scopes)
        self.roles = requirement(roles)

    async def __call__(
        self,
        request: Request,
        # Only for the OpenAPI schema; the token was checked by the middleware, never here.
        credentials: HTTPAuthorizationCredentials | None = _BEARER,
    ) -> dict[str, Any] | None:
        # The route is the endpoint, not this dependency: one warning per misconfigured route.
        route = request.scope.get("endpoint", type(self))
        refused = route_refusal(request.scope, route, optional=self.optional, scopes=self.scopes, roles=self.roles)
        if refused is not None:
            raise Refused(refused)
        claims: dict[str, Any] | None = request.scope[CLAIMS_KEY]
        return claims


#: ``Depends(require_claims)``: the claims of a request with a good token, else 401.
require_claims = RequireClaims()
#: ``Depends(optional_claims)``: the claims, or None for a request without a token (optional mode).
optional_claims = RequireClaims(optional=True)


def require_scopes(*scopes: str) -> RequireClaims:
    """``Depends(require_scopes("notes:write"))``: the claims, when their ``scope`` holds every one; else 403."""
    return RequireClaims(scopes=scopes)


def require_roles(*roles: str) -> RequireClaims:
    """``Depends(require_roles("admin"))``: the claims, when their ``roles`` hold every one; else 403."""
    return RequireClaims(roles=roles)
