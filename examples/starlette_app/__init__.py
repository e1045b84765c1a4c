"""The Starlette example: JWTGuardASGI in front of the same app as the Flask one, async all the way.

Run ``python -m examples.starlette_app``: http://127.0.0.1:8001. Store calls go
through ``AsyncAdmin``; the example's own SQLite calls run in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwtguard import AsyncAdmin, JWTGuardASGI, Settings, StoreError, cookies
from jwtguard.asgi import request_of
from jwtguard.endpoints import EndpointsASGI
from jwtguard.errors import InvalidGrant, LoginRefused
from jwtguard.metrics import render
from jwtguard.sansio.decision import Decision
from jwtguard.sessions import TokenPair
from jwtguard.sessions.dpop import DPoPProofRefused, TokenRequest, token_request

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

Handler = Callable[[Request], Awaitable[Response]]


def create_app(settings: Settings | None = None) -> EndpointsASGI:
    settings = settings or settings_from_env()
    accounts = Accounts(settings)
    outbox = Outbox(accounts)
    admin = AsyncAdmin(settings, on_login=outbox.login_alert)

    def protected(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        """A route behind the guard: it accepted the token, and names the user."""

        async def wrapper(request: Request) -> Response:
            return await handler(request, request.scope["jwtguard.user_id"])

        return wrapper

    async def token_answer(pair: TokenPair, refreshed_from: Any = None) -> Response:
        is_admin = await asyncio.to_thread(accounts.is_admin, str(pair.user_id))
        body, set_cookies = answer_tokens(settings, pair, is_admin, refreshed_from)
        response = JSONResponse(body, headers=TOKEN_HEADERS)
        for value in set_cookies:
            response.headers.append("set-cookie", value)
        return response

    def refused(decision: Decision) -> Response:
        response = Response(decision.body, decision.status or 400, media_type="application/json")
        for name, value in decision.headers:  # Set-Cookie expiries repeat
            response.headers.append(name, value)
        return response

    binds = binds_dpop(settings)

    def proof(request: Request) -> TokenRequest | None:
        """The token request's DPoP proof, method and URL: the session is bound to the proof's key."""
        return token_request(settings, request_of(request.scope, dpop=True)) if binds else None

    def proof_refused(refused: DPoPProofRefused) -> Response:
        body, headers = dpop_error(refused)
        return JSONResponse(body, 400, headers)

    def device_of(request: Request) -> str:
        return device(request.headers.get("user-agent"), request.client.host if request.client else None)

    async def page(request: Request) -> Response:
        return Response(page_html(), media_type="text/html; charset=utf-8")

    async def script(request: Request) -> Response:
        return Response(helper_script(), media_type="text/javascript; charset=utf-8")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def json_body(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    async def login(request: Request) -> Response:
        if provider_mode(settings):
            detail = "log in at the identity provider (JWTGUARD_JWKS_URL is set)"
            return JSONResponse({"error": "not_found", "detail": detail}, 404)
        credentials = login_payload(await json_body(request))
        if credentials is None or not await asyncio.to_thread(accounts.check, *credentials):
            return JSONResponse({"error": "invalid_credentials"}, 401)
        try:
            pair = await admin.login(credentials[0], description=device_of(request), dpop=proof(request))
        except DPoPProofRefused as refusal:
            return proof_refused(refusal)
        except LoginRefused:
            return JSONResponse({"error": "account_disabled"}, 403)
        except StoreError:
            return JSONResponse({"error": "store_unavailable"}, 503)
        return await token_answer(pair)

    async def bounded_body(request: Request) -> bytes:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_TOKEN_REQUEST:
                break
        return body

    async def token(request: Request) -> Response:
        body = await bounded_body(request)
        grant = presented_refresh_token(settings, request.headers.get("content-type"), body, request.scope)
        if isinstance(grant, Decision):
            return refused(grant)
        if isinstance(grant, tuple):
            return JSONResponse(grant_error(*grant), 400, TOKEN_HEADERS)
        try:
            pair = await admin.refresh(grant, dpop=proof(request))
        except DPoPProofRefused as refusal:
            return proof_refused(refusal)
        except InvalidGrant as invalid:
            return JSONResponse(invalid.body(), 400, TOKEN_HEADERS)
        except StoreError:
            return JSONResponse({"error": "temporarily_unavailable"}, 503, TOKEN_HEADERS)
        return await token_answer(pair, refreshed_from=request.scope)

    async def not_me_page(request: Request) -> Response:
        token = request.query_params.get("t", "")
        if await admin.read_not_me(token) is None:
            return Response(not_me_invalid(), 400, NOT_ME_HEADERS)
        return Response(not_me_confirm(token), 200, NOT_ME_HEADERS)

    async def not_me(request: Request) -> Response:
        body = await bounded_body(request)
        if await admin.not_me(not_me_token(request.headers.get("content-type"), body)) is None:
            return Response(not_me_invalid(), 400, NOT_ME_HEADERS)
        return Response(not_me_done(), 200, NOT_ME_HEADERS)

    @protected
    async def me(request: Request, user: str) -> Response:
        claims = request.scope["jwtguard.claims"]
        is_admin = await asyncio.to_thread(accounts.is_admin, user)
        return JSONResponse({"user": user, "admin": is_admin, "issued_at": claims["iat"], "expires": claims["exp"]})

    @protected
    async def notes(request: Request, user: str) -> Response:
        return JSONResponse({"notes": NOTES.get(user, [])})

    @protected
    async def sessions(request: Request, user: str) -> Response:
        current = request.scope["jwtguard.claims"].get("sid")
        return JSONResponse([info.as_json(current) for info in await admin.sessions(user)])

    @protected
    async def end_session(request: Request, user: str) -> Response:
        if not await admin.end_session(request.path_params["sid"], user_id=user):
            return JSONResponse({"error": "not_found"}, 404)
        return Response(status_code=204)

    @protected
    async def logout(request: Request, user: str) -> Response:
        await admin.end_session(request.scope["jwtguard.claims"].get("sid"), user_id=user)
        response = Response(status_code=204)
        for value in cookies.logout_cookies(settings) if cookie_mode(settings) else ():
            response.headers.append("set-cookie", value)
        return response

    @protected
    async def logout_all(request: Request, user: str) -> Response:
        await admin.logout_everywhere(user)
        return JSONResponse({"done": "every session of yours is ended"})

    @protected
    async def change_password(request: Request, user: str) -> Response:
        body = await json_body(request) or {}
        old, new = body.get("old_password"), body.get("new_password")
        if not isinstance(old, str) or not isinstance(new, str) or len(new) < 8:
            detail = "old_password and a new_password of 8+ characters"
            return JSONResponse({"error": "invalid_request", "detail": detail}, 400)
        if not await asyncio.to_thread(accounts.check, user, old):
            return JSONResponse({"error": "invalid_credentials"}, 403)
        await asyncio.to_thread(accounts.set_password, user, new)
        await admin.credentials_changed(user)  # every older token and session dies
        return await token_answer(await admin.login(user, description=device_of(request)))

    @protected
    async def admin_switch(request: Request, user: str) -> Response:
        if not await asyncio.to_thread(accounts.is_admin, user):
            return JSONResponse({"error": "forbidden"}, 403)
        username, action = request.path_params["username"], request.path_params["action"]
        if action not in ("disable", "enable") or not await asyncio.to_thread(accounts.exists, username):
            return JSONResponse({"error": "not_found"}, 404)
        await (admin.disable_user if action == "disable" else admin.enable_user)(username)
        return JSONResponse({"user": username, "enabled": action == "enable"})

    async def metrics(request: Request) -> Response:
        # Prometheus text with the `prometheus` extra installed, JSON otherwise.
        body, content_type = render(guard.metrics)
        return Response(body, media_type=content_type)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(accounts.seed)
        for username in () if provider_mode(settings) else DEMO_USERS:
            # Only new users: create_user also switches a user on, and a restart must not re-enable anyone.
            if await admin.status(username) is None:
                await admin.create_user(username)
        yield
        await admin.close()
        await endpoints.close()
        await guard.close()

    routes = [
        Route("/", page),
        Route("/static/jwtguard.js", script),
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/login", login, methods=["POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/account/not-me", not_me_page, methods=["GET"]),
        Route("/account/not-me", not_me, methods=["POST"]),
        Route("/api/me", me),
        Route("/api/notes", notes),
        Route("/api/sessions", sessions),
        Route("/api/sessions/{sid}", end_session, methods=["DELETE"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/logout-all", logout_all, methods=["POST"]),
        Route("/password", change_password, methods=["POST"]),
        Route("/admin/users/{username}/{action}", admin_switch, methods=["POST"]),
    ]
    guard = JWTGuardASGI(Starlette(routes=routes, lifespan=lifespan), settings=settings)
    # The standard endpoints (issue 12) in front of the guard: they need no access token.
    endpoints = EndpointsASGI(guard, settings=settings)
    return endpoints
