"""The peers jwtguard is measured against, each written the way its documentation shows.

- flask-jwt-extended with a blocklist: ``@jwt_required()`` on the route and a
  ``token_in_blocklist_loader`` that looks the token's ``jti`` up in a set (the fastest blocklist
  there is: the documentation's are Redis or a database table);
- a minimal hand-written guard: WSGI middleware that decodes the Bearer token with PyJWT on every
  request and checks the user in a dict (enabled, not-before), what a team writes in an afternoon;
- FastAPI with a bearer dependency doing the same (``HTTPBearer`` then PyJWT and the dict).

Installed by the ``bench`` extra (and the ``test`` extra, for the smoke test).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

#: The users a hand-written guard knows: id -> {"enabled": bool, "not_before": epoch seconds}.
Users = Mapping[str, Mapping[str, Any]]

_REFUSED = json.dumps({"error": "invalid_token"}).encode()


def flask_jwt_extended_app(secret: str, blocklist: set[str]) -> tuple[Any, str]:
    """A Flask app whose route needs flask-jwt-extended's ``@jwt_required()``, and a token it accepts."""
    from flask import Flask
    from flask_jwt_extended import JWTManager, create_access_token, jwt_required

    app = Flask("bench-fjwt")
    app.config["JWT_SECRET_KEY"] = secret
    manager = JWTManager(app)

    @manager.token_in_blocklist_loader
    def revoked(jwt_header: dict[str, Any], jwt_payload: dict[str, Any]) -> bool:
        return jwt_payload["jti"] in blocklist

    @app.get("/api/me")
    @jwt_required()  # type: ignore[untyped-decorator]
    def me() -> Any:
        return {"ok": True}

    with app.app_context():
        token = create_access_token(identity="alice")
    return app, token


class HandwrittenGuard:
    """Decode the Bearer token on every request (PyJWT, HS256) and check the user in a dict."""

    def __init__(self, app: Callable[..., Iterable[bytes]], secret: str, users: Users) -> None:
        self.app = app
        self.secret = secret
        self.users = users

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        user = None
        if header.startswith("Bearer "):
            try:
                claims = jwt.decode(header[7:], self.secret, algorithms=["HS256"])
            except jwt.PyJWTError:
                claims = None
            if claims is not None:
                state = self.users.get(claims.get("sub", ""))
                if state is not None and state["enabled"] and claims.get("iat", 0) >= state["not_before"]:
                    user = claims["sub"]
        if user is None:
            start_response(
                "401 Unauthorized",
                [("Content-Type", "application/json"), ("WWW-Authenticate", 'Bearer error="invalid_token"')],
            )
            return [_REFUSED]
        environ["user"] = user
        return self.app(environ, start_response)


def fastapi_bare() -> FastAPI:
    """FastAPI, no check."""
    app = FastAPI()

    @app.get("/api/me")
    async def me() -> dict[str, bool]:
        return {"ok": True}

    return app


_bearer = HTTPBearer()
Credentials = Annotated[HTTPAuthorizationCredentials, Depends(_bearer)]


def fastapi_bearer(secret: str, users: Users) -> FastAPI:
    """FastAPI with a bearer dependency: ``HTTPBearer``, PyJWT's decode and the dict, on every request."""

    # async: a plain `def` dependency would run in FastAPI's thread pool, which costs more than the check.
    async def current_user(credentials: Credentials) -> str:
        try:
            claims = jwt.decode(credentials.credentials, secret, algorithms=["HS256"])
        except jwt.PyJWTError as exc:
            raise HTTPException(401, "invalid_token") from exc
        state = users.get(claims.get("sub", ""))
        if state is None or not state["enabled"] or claims.get("iat", 0) < state["not_before"]:
            raise HTTPException(401, "invalid_token")
        return str(claims["sub"])

    app = FastAPI()

    # A default, not Annotated[str, Depends(current_user)]: under `from __future__ import annotations`
    # FastAPI resolves annotations in the module's globals, where this local function is not.
    @app.get("/api/me")
    async def me(user: str = Depends(current_user)) -> dict[str, bool]:
        return {"ok": True}

    return app
