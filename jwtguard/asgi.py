"""JWTGuardASGI: the guard in front of any ASGI application (Starlette, FastAPI, ...).

A translator only: scope -> :class:`~jwtguard.sansio.Request`, the engine's
:class:`~jwtguard.sansio.Decision` -> response messages. Every rule is in the policy.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from .config import Settings
from .engine import Engine
from .metrics import Metrics
from .sansio.decision import Decision, expose_signal
from .sansio.policy import CLAIMS_KEY, POLICY_KEY, USER_ID_KEY
from .sansio.request import Request, app_path, request_target
from .stores import AsyncStore, open_async_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: RFC 6455 §7.4.1: policy violation, for a refused WebSocket handshake.
_WS_POLICY_VIOLATION = 1008


class JWTGuardASGI:
    """ASGI middleware: only requests with a valid, unrevoked Bearer token reach *app*.

    Same parameters and behaviour as :class:`jwtguard.JWTGuardWSGI`; the store
    is asynchronous (pymongo's ``AsyncMongoClient``), so no request blocks the
    event loop; keys from a JWKS URL are fetched in a thread, never on the
    loop. Claims are at ``scope["jwtguard.claims"]``, the user id at
    ``scope["jwtguard.user_id"]``. Exempt paths match the path the app routes:
    ``path`` without a leading ``root_path`` (a mount), as WSGI's ``PATH_INFO``.
    Under ``JWTGUARD_MODE=optional`` a request without a token reaches *app*
    with both keys set to None (:mod:`jwtguard.starlette`, :mod:`jwtguard.fastapi`).
    WebSocket handshakes are checked the same way; a refused one is closed with
    code 1008, and :meth:`still_valid` tells the app when an open socket's user
    has since been revoked. Lifespan events pass through; any other scope type
    raises (fail closed).
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
        self.store = store or open_async_store(self.settings)
        self.engine = Engine(self.settings, async_store=self.store, clock=clock, timer=timer)
        self._cookies = self.engine.policy.reads_cookies
        self._dpop = self.engine.policy.reads_dpop

    @property
    def metrics(self) -> Metrics:
        """This guard's counters (see :mod:`jwtguard.metrics`)."""
        return self.engine.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self.app(scope, receive, send)
        if kind != "http" and kind != "websocket":
            # Fail closed: a scope type this guard does not understand never reaches the
            # app unauthenticated (ASGI servers expect an exception for unsupported types).
            raise RuntimeError(f"jwtguard: unsupported ASGI scope type {kind!r}")
        decision = await self.engine.ahandle(request_of(scope, self._cookies, self._dpop))
        if decision.kind == "exempt":
            return await self.app(scope, receive, send)
        if decision.kind == "refuse":
            return await _refuse(decision, scope, receive, send)
        scope[POLICY_KEY] = self.engine.policy  # the per-route checks answer with its refusals
        if decision.kind == "anonymous":
            scope[CLAIMS_KEY] = scope[USER_ID_KEY] = None
            return await self.app(scope, receive, send)
        assert decision.claims is not None
        scope[CLAIMS_KEY] = dict(decision.claims)  # the request's own; nested values frozen
        scope[USER_ID_KEY] = decision.user_id
        if kind != "http":
            return await self.app(scope, receive, send)
        added = decision.raw_headers

        async def send_with_signal(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.extend(added)
                expose_signal(headers, bytes)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_signal)

    async def still_valid(self, scope: Scope) -> bool:
        """Whether the credentials a connection was accepted with would still be accepted now.

        WebSockets are checked at the handshake only; a long-lived socket of a
        user who is then logged out or disabled stays open until the app closes
        it. Call this now and then (every few seconds, or before acting on a
        message) with the socket's scope, and close with code 1008 when it says
        False. It answers from the same caches as requests (no store query
        while the user's state is cached) and is False while the store is
        unreachable under ``JWTGUARD_ON_STORE_ERROR=reject``. A connection opened with a DPoP
        proof (RFC 9449) proved its key at the handshake: its single-use proof is not asked again.
        """
        return (await self.engine.ahandle(request_of(scope, self._cookies, self._dpop), proved=True)).passes

    async def close(self) -> None:
        """Stop following the invalidation feed and close the store's connections on the running loop."""
        self.engine.stop_feed()
        await self.store.close()


def request_of(scope: Mapping[str, Any], cookies: bool = False, dpop: bool = False) -> Request:
    """The :class:`Request` of an HTTP or WebSocket scope (header names are lower-case bytes).

    With *dpop*, every ``dpop`` field (RFC 9449's proof) too.

    With *cookies*, cookie mode's fields too: every ``cookie`` field, the
    ``sec-fetch-*`` fields and ``x-csrf-token`` (repeated, joined with commas
    as a WSGI server joins them: never equal to a single token).
    """
    method = scope.get("method", "GET")
    authorization: tuple[str, ...] = ()
    host = ""
    origin = request_method = None
    fields: dict[bytes, str] | None = {} if cookies else None
    cookie: tuple[str, ...] = ()
    proofs: tuple[str, ...] = ()
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization += (value.decode("latin-1"),)
        elif dpop and name == b"dpop":
            proofs += (value.decode("latin-1"),)
        elif name == b"host":
            host = value.decode("latin-1")
        elif method == "OPTIONS" and (name == b"origin" or name == b"access-control-request-method"):
            if name == b"origin":
                origin = value.decode("latin-1")
            else:
                request_method = value.decode("latin-1")
        elif fields is not None:
            if name == b"cookie":
                cookie += (value.decode("latin-1"),)
            elif name in _COOKIE_MODE_FIELDS:
                text = value.decode("latin-1")
                fields[name] = f"{fields[name]},{text}" if name in fields else text
    root = scope.get("root_path", "")
    path = app_path(scope["path"], root)
    scheme = scope.get("scheme", "http")
    target = _target(scope, root, path) if dpop else ""
    if fields is None:
        if dpop:
            return Request(
                method, path, authorization, origin, request_method, scheme, host, root, target=target, dpop=proofs
            )
        return Request(method, path, authorization, origin, request_method, scheme, host, root)
    get = fields.get
    return Request(
        method,
        path,
        authorization,
        origin,
        request_method,
        scheme,
        host,
        root,
        cookie,
        get(b"sec-fetch-site"),
        get(b"sec-fetch-mode"),
        get(b"sec-fetch-dest"),
        get(b"x-csrf-token"),
        target,
        proofs,
    )


def _target(scope: Mapping[str, Any], root: str, path: str) -> str:
    """The path the client sent: ``raw_path`` (the whole of it, percent-encodings kept), else the
    decoded ``root_path`` and path encoded again."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(b"/"):
        return request_target(raw.partition(b"?")[0])
    return request_target((root + path).encode("utf-8", "replace"))


#: The single-valued fields cookie mode reads.
_COOKIE_MODE_FIELDS = frozenset({b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-dest", b"x-csrf-token"})


async def _refuse(decision: Decision, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION, "reason": decision.reason})
        return
    await send({"type": "http.response.start", "status": decision.status, "headers": list(decision.raw_headers)})
    await send({"type": "http.response.body", "body": decision.body})
