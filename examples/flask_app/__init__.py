"""A Flask app behind JWTGuardWSGI, configured only by JWTGUARD_* variables."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from jwtguard import JWTGuardWSGI


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.get("/api/me")
    def me() -> Any:
        return jsonify(user=request.environ["jwtguard.user_id"])

    app.wsgi_app = JWTGuardWSGI(app.wsgi_app)  # type: ignore[method-assign]
    return app
