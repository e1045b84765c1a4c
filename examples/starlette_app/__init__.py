"""A Starlette app behind JWTGuardASGI, configured only by JWTGUARD_* variables."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtguard import JWTGuardASGI


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.scope["jwtguard.user_id"]})


def create_app() -> JWTGuardASGI:
    return JWTGuardASGI(Starlette(routes=[Route("/health", health), Route("/api/me", me)]))
