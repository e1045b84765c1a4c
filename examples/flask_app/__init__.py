"""A Flask app behind JWTGuardWSGI, configured only by JWTGUARD_* variables."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from jwtguard import JWTGuardWSGI, Settings
from jwtguard.metrics import render


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.get("/api/me")
    def me() -> Any:
        return jsonify(user=request.environ["jwtguard.user_id"])

    settings = Settings.from_env()
    settings = settings.replace(exempt_paths=(*settings.exempt_paths, "/metrics"))
    guard = JWTGuardWSGI(app.wsgi_app, settings=settings)

    @app.get("/metrics")
    def metrics() -> Any:
        # Prometheus text with the `prometheus` extra installed, JSON otherwise.
        body, content_type = render(guard.guard.metrics)
        return Response(body, content_type=content_type)

    app.wsgi_app = guard  # type: ignore[method-assign]
    return app
