# examples/recipes/flask_app.py
"""Flask: log in, a protected route, log out everywhere.

pip install "jwtguard-revocation[flask]"  # from a checkout: pip install ".[flask]"
export JWTGUARD_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')
export JWTGUARD_EXEMPT_PATHS=/login,/jwtguard.js
flask --app examples.recipes.flask_app run
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.security import check_password_hash, generate_password_hash

from jwtguard import Admin, Settings
from jwtguard.flask import JWTGuard, current_claims, current_user_id, jwt_required

#: Your user table (demo: two users and their password hashes).
USERS = {"alice": generate_password_hash("alice-password"), "bob": generate_password_hash("bob-password")}


def create_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    guard = JWTGuard(app, settings=settings).guard  # settings from the JWTGUARD_* variables by default
    assert guard is not None
    admin = Admin(guard.settings, store=guard.store)
    for name in USERS:
        admin.create_user(name)  # the embedded store's users; an existing one is left as it is

    @app.post("/login")
    def login() -> Any:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # JSON nested too deep to parse: no credentials
            body = None
        body = body if isinstance(body, dict) else {}
        name, password = str(body.get("user", "")), str(body.get("password", ""))
        if name not in USERS or not check_password_hash(USERS[name], password):
            return jsonify(error="invalid_credentials"), 401
        state = admin.status(name)
        if state is None or not state.enabled:
            return jsonify(error="account_disabled"), 403
        return jsonify(token=admin.issue_token(name))

    @app.get("/api/me")
    @jwt_required()
    def me() -> Any:
        claims = current_claims() or {}  # jwt_required() let only requests with good claims in
        return jsonify(user=current_user_id(), expires=claims["exp"])

    @app.post("/api/logout-everywhere")
    @jwt_required()
    def logout_everywhere() -> Any:
        user = current_user_id()
        assert user is not None
        admin.logout_everywhere(user)  # every token issued to the user until now is refused
        return jsonify(done=True)

    @app.get("/jwtguard.js")
    def helper() -> Response:  # the browser helper: JWTGuard.createSession(), see "The browser helper"
        script = resources.files("jwtguard").joinpath("static/jwtguard.js").read_bytes()
        return Response(script, mimetype="text/javascript")

    return app
