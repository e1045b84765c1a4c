"""JWTGuardASGI: the guard in front of any ASGI application (Starlette, FastAPI, ...)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import Settings
from .core import Guard, Rejection, Verified, is_preflight
from .errors import StoreError
from .stores import AsyncStore, open_async_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SIGNAL = (b"x-user-enabled", b"true")

#: RFC 6455 §7.4.1: policy violation, for a refused WebSocket handshake.
_WS_POLICY_VIOLATION = 1008


class JWTGuardASGI:
    """ASGI middleware: only requests with a valid, unrevoked Bearer token reach *app*.

    Same parameters and behaviour as :class:`jwtguard.JWTGuardWSGI`; the store
    is asynchronous (pymongo's ``AsyncMongoClient``), so no request blocks the
    event loop; keys from a JWKS URL are fetched in a thread, never on the
    loop. Claims are at ``scope["jwtguard.claims"]``, the user id at
    ``scope["jwtguard.user_id"]``. WebSocket handshakes are checked the same
    way; a refused one is closed with code 1008, and :meth:`still_valid` tells
    the app when an open socket's user has since been revoked. Lifespan events
    pass through; any other scope type raises (fail closed).
    """

    def __init__(
        self,
        app: ASGIApp,
        /,
        *,
        settings: Settings | None = None,
        store: AsyncStore | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings or Settings.from_env()
        self.guard = Guard(self.settings, timer=timer)
        self.store = store or open_async_store(self.settings)
        self._clock = clock
        # Keys from a JWKS URL may need an HTTP fetch: verify those off the loop.
        self._verify_in_thread = self.guard.verifier.needs_io

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self.app(scope, receive, send)
        if kind != "http" and kind != "websocket":
            # Fail closed: a scope type this guard does not understand never reaches the
            # app unauthenticated (ASGI servers expect an exception for unsupported types).
            raise RuntimeError(f"jwtguard: unsupported ASGI scope type {kind!r}")
        method = scope.get("method", "GET")
        if self.guard.is_exempt(scope["path"], method, preflight=_preflight(scope, method)):
            return await self.app(scope, receive, send)
        result = await self._judge(scope)
        if isinstance(result, Rejection):
            return await _reject(result, scope, receive, send)
        await self._accept(result, scope, receive, send)

    async def _judge(self, scope: Scope) -> Verified | Rejection:
        """The guard's verdict on the request's credentials and its user's current state."""
        guard = self.guard
        values = [value.decode("latin-1") for name, value in scope["headers"] if name == b"authorization"]
        now = self._clock()
        result = guard.authenticate(values, now, cached_only=self._verify_in_thread)
        if result is None:
            result = await asyncio.to_thread(guard.authenticate, values, now)
        if isinstance(result, Rejection):
            return result
        assert result is not None
        user_id = result.user_id
        key = guard.user_key(user_id)  # the canonical id: one cache entry per user, however spelled
        try:
            state = await guard.states.aload(key, lambda: self._load(user_id))
        except StoreError as exc:
            rejection = guard.store_failed(result, exc)
        else:
            rejection = guard.decide(result, state)
        return result if rejection is None else rejection

    async def still_valid(self, scope: Scope) -> bool:
        """Whether the credentials a connection was accepted with would still be accepted now.

        WebSockets are checked at the handshake only; a long-lived socket of a
        user who is then logged out or disabled stays open until the app closes
        it. Call this now and then (every few seconds, or before acting on a
        message) with the socket's scope, and close with code 1008 when it says
        False. It answers from the same caches as requests (no store query
        while the user's state is cached) and is False while the store is
        unreachable under ``JWTGUARD_ON_STORE_ERROR=reject``.
        """
        return not isinstance(await self._judge(scope), Rejection)

    async def _load(self, user_id: str | int) -> Any:
        # Only real store queries are timed; the cache answers most requests.
        started = time.perf_counter()
        try:
            document = await self.store.load(user_id)
        except StoreError:
            self.guard.metrics.store_load(time.perf_counter() - started, failed=True)
            raise
        self.guard.metrics.store_load(time.perf_counter() - started, failed=False)
        return self.guard.read_state(document)

    async def _accept(self, verified: Verified, scope: Scope, receive: Receive, send: Send) -> None:
        scope["jwtguard.claims"] = self.guard.claims_for(verified)
        scope["jwtguard.user_id"] = verified.user_id
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_signal(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append(_SIGNAL)
                _expose_signal(headers)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_signal)

    async def close(self) -> None:
        """Close the store's connections on the running loop."""
        await self.store.close()


async def _reject(rejection: Rejection, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": rejection.reason})
        return
    await send({"type": "http.response.start", "status": rejection.status, "headers": list(rejection.raw_headers)})
    await send({"type": "http.response.body", "body": rejection.body})


def _preflight(scope: Scope, method: str) -> bool:
    if method != "OPTIONS":
        return False
    origin = request_method = None
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value.decode("latin-1")
        elif name == b"access-control-request-method":
            request_method = value.decode("latin-1")
    return is_preflight(method, origin, request_method)


def _expose_signal(headers: list[tuple[bytes, bytes]]) -> None:
    """Let cross-origin scripts read X-User-Enabled when the app answers with CORS."""
    cors = False
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == b"access-control-expose-headers":
            if b"x-user-enabled" not in value.lower() and value.strip() != b"*":
                headers[index] = (name, value + b", X-User-Enabled")
            return
        if lowered == b"access-control-allow-origin":
            cors = True
    if cors:
        headers.append((b"access-control-expose-headers", b"X-User-Enabled"))
