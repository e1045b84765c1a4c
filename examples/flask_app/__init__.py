"""The Flask example: JWTGuardWSGI in front of a small app with login, logout and admin routes.

Run ``python -m examples.flask_app`` (or ``make demo``): http://127.0.0.1:8000.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify, request

from jwtguard import Admin, JWTGuardWSGI, Settings, StoreError, cookies
from jwtguard.endpoints import EndpointsWSGI
from jwtguard.errors import InvalidGrant, LoginRefused
from jwtguard.metrics import render
from jwtguard.sansio.decision import Decision
from jwtguard.sessions import TokenPair
from jwtguard.sessions.dpop import DPoPProofRefused, TokenRequest, token_request
from jwtguard.wsgi import request_of

from ..common import (
    DEMO_USERS,
    MAX_TOKEN_REQUEST,
    NOT_ME_HEADERS,
    NOTES,
    TOKEN_HEADERS,
    Accounts,
    Outbox,
    binds_dpop,
    cookie_mode,
    device,
    dpop_error,
    grant_error,
    helper_script,
    login_payload,
    not_me_confirm,
    not_me_done,
    not_me_invalid,
    not_me_token,
    page_html,
    presented_refresh_token,
    provider_mode,
    settings_from_env,
)
from ..common import token_answer as answer_tokens


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or settings_from_env()
    app = Flask(__name__)
    accounts = Accounts(settings)
    outbox = Outbox(accounts)
    admin = Admin(settings, on_login=outbox.login_alert)
    accounts.seed()
    provider = provider_mode(settings)
    for username in () if provider else DEMO_USERS:
        # The embedded store keeps users of its own (on MongoDB this makes a document). Only new
        # ones: create_user also switches a user on, and a restart must not re-enable anyone.
        if admin.status(username) is None:
            admin.create_user(username)

    @app.before_request
    def who() -> None:
        # The guard accepted the request's token (exempt routes have no claims).
        g.user = request.environ.get("jwtguard.user_id")
        g.claims = request.environ.get("jwtguard.claims")

    def token_answer(pair: TokenPair, refreshed_from: Any = None) -> Any:
        body, set_cookies = answer_tokens(settings, pair, accounts.is_admin(str(pair.user_id)), refreshed_from)
        response = jsonify(body)
        response.headers.update(TOKEN_HEADERS)
        for value in set_cookies:
            response.headers.add("Set-Cookie", value)
        return response

    def refused(decision: Decision) -> Any:
        return Response(decision.body, decision.status, list(decision.headers), content_type="application/json")

    binds = binds_dpop(settings)

    def proof() -> TokenRequest | None:
        """The token request's DPoP proof, method and URL: the session is bound to the proof's key."""
        return token_request(settings, request_of(request.environ, dpop=True)) if binds else None

    def proof_refused(refused: DPoPProofRefused) -> Any:
        body, headers = dpop_error(refused)
        return jsonify(body), 400, headers

    @app.get("/")
    def page() -> Any:
        return Response(page_html(), content_type="text/html; charset=utf-8")

    @app.get("/static/jwtguard.js")
    def script() -> Any:
        return Response(helper_script(), content_type="text/javascript; charset=utf-8")

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok")

    @app.post("/login")
    def login() -> Any:
        if provider:
            return jsonify(error="not_found", detail="log in at the identity provider (JWTGUARD_JWKS_URL is set)"), 404
        credentials = login_payload(request.get_json(silent=True))
        if credentials is None or not accounts.check(*credentials):
            return jsonify(error="invalid_credentials"), 401
        try:
            pair = admin.login(
                credentials[0], description=device(request.user_agent.string, request.remote_addr), dpop=proof()
            )
        except DPoPProofRefused as refusal:
            return proof_refused(refusal)
        except LoginRefused:
            return jsonify(error="account_disabled"), 403
        except StoreError:
            return jsonify(error="store_unavailable"), 503
        return token_answer(pair)

    @app.post("/token")
    def token() -> Any:
        body = request.stream.read(MAX_TOKEN_REQUEST + 1)
        grant = presented_refresh_token(settings, request.content_type, body, request.environ)
        if isinstance(grant, Decision):
            return refused(grant)
        if isinstance(grant, tuple):
            return jsonify(grant_error(*grant)), 400, TOKEN_HEADERS
        try:
            pair = admin.refresh(grant, dpop=proof())
        except DPoPProofRefused as refusal:
            return proof_refused(refusal)
        except InvalidGrant as invalid:
            return jsonify(invalid.body()), 400, TOKEN_HEADERS
        except StoreError:
            return jsonify(error="temporarily_unavailable"), 503, TOKEN_HEADERS
        return token_answer(pair, refreshed_from=request.environ)

    @app.get("/account/not-me")
    def not_me_page() -> Any:
        token = request.args.get("t", "")
        if admin.read_not_me(token) is None:
            return Response(not_me_invalid(), 400, NOT_ME_HEADERS)
        return Response(not_me_confirm(token), 200, NOT_ME_HEADERS)

    @app.post("/account/not-me")
    def not_me() -> Any:
        user = admin.not_me(not_me_token(request.content_type, request.stream.read(MAX_TOKEN_REQUEST + 1)))
        if user is None:
            return Response(not_me_invalid(), 400, NOT_ME_HEADERS)
        return Response(not_me_done(), 200, NOT_ME_HEADERS)

    @app.get("/api/me")
    def me() -> Any:
        claims = g.claims
        return jsonify(user=g.user, admin=accounts.is_admin(g.user), issued_at=claims["iat"], expires=claims["exp"])

    @app.get("/api/notes")
    def notes() -> Any:
        return jsonify(notes=NOTES.get(g.user, []))

    @app.get("/api/sessions")
    def sessions() -> Any:
        current = g.claims.get("sid")
        return jsonify([info.as_json(current) for info in admin.sessions(g.user)])

    @app.delete("/api/sessions/<sid>")
    def end_session(sid: str) -> Any:
        if not admin.end_session(sid, user_id=g.user):
            return jsonify(error="not_found"), 404
        return "", 204

    @app.post("/logout")
    def logout() -> Any:
        admin.end_session(g.claims.get("sid"), user_id=g.user)
        response = Response(status=204)
        for value in cookies.logout_cookies(settings) if cookie_mode(settings) else ():
            response.headers.add("Set-Cookie", value)
        return response

    @app.post("/logout-all")
    def logout_all() -> Any:
        admin.logout_everywhere(g.user)
        return jsonify(done="every session of yours is ended")

    @app.post("/password")
    def change_password() -> Any:
        body = request.get_json(silent=True) or {}
        old, new = body.get("old_password"), body.get("new_password")
        if not isinstance(old, str) or not isinstance(new, str) or len(new) < 8:
            return jsonify(error="invalid_request", detail="old_password and a new_password of 8+ characters"), 400
        if not accounts.check(g.user, old):
            return jsonify(error="invalid_credentials"), 403
        accounts.set_password(g.user, new)
        admin.credentials_changed(g.user)  # every older token and session dies
        return token_answer(admin.login(g.user, description=device(request.user_agent.string, request.remote_addr)))

    @app.post("/admin/users/<username>/<action>")
    def admin_switch(username: str, action: str) -> Any:
        if not accounts.is_admin(g.user):
            return jsonify(error="forbidden"), 403
        if action not in ("disable", "enable") or not accounts.exists(username):
            return jsonify(error="not_found"), 404
        (admin.disable_user if action == "disable" else admin.enable_user)(username)
        return jsonify(user=username, enabled=action == "enable")

    guard = JWTGuardWSGI(app.wsgi_app, settings=settings)

    @app.get("/metrics")
    def metrics() -> Any:
        # Prometheus text with the `prometheus` extra installed, JSON otherwise.
        body, content_type = render(guard.metrics)
        return Response(body, content_type=content_type)

    # The standard endpoints (issue 12) in front of the guard: /oauth/revoke, /oauth/introspect,
    # /oidc/backchannel-logout, /global-token-revocation, /ssf/events need no access token.
    endpoints = EndpointsWSGI(guard, settings=settings)
    app.wsgi_app = endpoints  # type: ignore[method-assign]

    def close() -> None:
        """Close the store connections (the tests call it; a server process just exits)."""
        admin.close()
        endpoints.close()
        guard.close()

    app.extensions["jwtguard.close"] = close
    return app
