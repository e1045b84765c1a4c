"""A Starlette app behind JWTGuardASGI, configured only by JWTGUARD_* variables."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwtguard import JWTGuardASGI, Settings
from jwtguard.metrics import render


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.scope["jwtguard.user_id"]})


def create_app() -> JWTGuardASGI:
    settings = Settings.from_env()
    settings = settings.replace(exempt_paths=(*settings.exempt_paths, "/metrics"))

    async def metrics(request: Request) -> Response:
        # Prometheus text with the `prometheus` extra installed, JSON otherwise.
        body, content_type = render(guard.guard.metrics)
        return Response(body, media_type=content_type)

    routes = [Route("/health", health), Route("/api/me", me), Route("/metrics", metrics)]
    guard = JWTGuardASGI(Starlette(routes=routes), settings=settings)
    return guard
