"""The standard endpoints as WSGI and ASGI apps: one table of flows, two drivers (issue 12).

:class:`EndpointsWSGI` and :class:`EndpointsASGI` answer the endpoints' paths and hand every
other request to the app they wrap, so that they sit in front of the guard (the endpoints are
never behind it: a provider's logout call carries no access token)::

    app.wsgi_app = EndpointsWSGI(JWTGuardWSGI(app.wsgi_app, settings=settings), settings=settings)
    app = EndpointsASGI(JWTGuardASGI(app, settings=settings), settings=settings)

======================================  =====================================================
path                                    endpoint
======================================  =====================================================
``/oauth/revoke``                       RFC 7009 (:mod:`~jwtguard.endpoints.revocation`)
``/oauth/introspect``                   RFC 7662 (:mod:`~jwtguard.endpoints.introspection`)
``/oidc/backchannel-logout``            OpenID Connect Back-Channel Logout 1.0
``/global-token-revocation``            Global Token Revocation (:mod:`~jwtguard.endpoints.global_revocation`)
``/ssf/events``                         Shared Signals push receiver, RFC 8935 (:mod:`~jwtguard.endpoints.ssf`)
======================================  =====================================================

Each answers POST only (``405`` with ``Allow: POST`` otherwise), reads at most
:data:`~jwtguard.endpoints.base.MAX_BODY` bytes (``413`` beyond; ``400`` for a SET, as RFC 8935
§2.3 says), and answers every input with its protocol's error shape (:data:`REFUSALS`), never a
500: an exception from a flow is logged (its type only) and answered as ``400 invalid_request``.

The lookups (:mod:`jwtguard.endpoints.base`): a signature check with the guard's keys, one with
the Shared Signals transmitter's keys (``JWTGUARD_SSF_*``), the guard's decision on a token (its
own engine: the same policy and state, its own caches), a records flow on the store, and
forgetting a user's cached state in this process (the feed's event, written by every flow that
changes state, tells the other processes).

``metrics`` counts the answers by path and status, and the SETs by outcome (:class:`EndpointMetrics`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from ..config import Settings
from ..engine import Engine
from ..errors import StoreError
from ..invalidation import invalidate_everywhere
from ..keys import KeySourceUnavailable
from ..sansio.request import app_path
from ..stores import open_async_store, open_store
from ..stores.base import AsyncRecordStore, RecordStore
from ..stores.records import RecordFlow
from .backchannel import PATH as BACKCHANNEL_PATH
from .backchannel import backchannel_logout
from .base import (
    MAX_BODY,
    OAUTH_REFUSALS,
    Answer,
    Authenticate,
    Authenticator,
    BasicClients,
    Call,
    Context,
    EndpointFlow,
    Forget,
    Judge,
    KeysUnavailable,
    Lookup,
    Records,
    Refusals,
    StoreDown,
    Verify,
    VerifySET,
    oauth_error,
    serve_lifespan,
)
from .global_revocation import PATH as GTR_PATH
from .global_revocation import global_revocation
from .introspection import PATH as INTROSPECTION_PATH
from .introspection import introspect
from .revocation import PATH as REVOCATION_PATH
from .revocation import revoke
from .ssf import PATH as SSF_PATH
from .ssf import REFUSALS as SSF_REFUSALS
from .ssf import Received, SETError, receive, ssf_events, transmitter_verifier, verify_set
from .subjects import SubjectResolver, default_resolver

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("jwtguard")

Endpoint = Callable[[Call, Context], EndpointFlow]
T = TypeVar("T")

#: Every endpoint by its path (a public contract: the examples and black-box tests use them).
ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    REVOCATION_PATH: revoke,
    INTROSPECTION_PATH: introspect,
    BACKCHANNEL_PATH: backchannel_logout,
    GTR_PATH: global_revocation,
    SSF_PATH: ssf_events,
}

#: How the translators word their own refusals on each path (405, an oversized body, a flow that
#: raised): RFC 8935 §2.3's ``{"err", "description"}`` for the SET receiver, RFC 6749 §5.2's elsewhere.
REFUSALS: Final[Mapping[str, Refusals]] = {SSF_PATH: SSF_REFUSALS}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class EndpointMetrics:
    """What the endpoints answered: a count per path and status (``snapshot()`` for operators);
    and what the Shared Signals receiver made of each SET, by outcome (``signals``: ``ssf.applied``,
    ``ssf.applied.<event>``, ``ssf.duplicate``, ``ssf.stream``, ``ssf.ignored``,
    ``ssf.refused.<err>``, ``ssf.unavailable``).

    Bumped without a lock, as the guard's own counters (:mod:`jwtguard.metrics`): rates, not ledgers.
    """

    def __init__(self) -> None:
        self.answers: collections.Counter[tuple[str, int]] = collections.Counter()
        self.signals: collections.Counter[str] = collections.Counter()

    def count(self, path: str, answer: Answer) -> Answer:
        self.answers[(path, answer.status)] += 1
        return answer

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{path: {status: count}}``."""
        shown: dict[str, dict[str, int]] = {}
        for (path, status), count in sorted(self.answers.items()):
            shown.setdefault(path, {})[str(status)] = count
        return shown


class _Endpoints:
    """What both translators share: the settings, the engine, the hooks and the endpoint table."""

    def __init__(
        self,
        settings: Settings | None,
        clients: Authenticator | None,
        resolver: SubjectResolver | None,
        clock: Callable[[], float],
        endpoints: Mapping[str, Endpoint] | None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.clients = clients or BasicClients(self.settings)
        self.resolver = resolver or default_resolver(self.settings)
        self.clock = clock
        self.endpoints = dict(ENDPOINTS if endpoints is None else endpoints)
        #: Answers by path and status, and the signals received (``metrics.signals``).
        self.metrics = EndpointMetrics()
        #: Verifies security event tokens with the transmitter's keys; None without JWTGUARD_SSF_ISSUER.
        self.transmitter = transmitter_verifier(self.settings)

    def context(self, engine: Engine) -> Context:
        """What a flow is given now: the settings, the engine's policy, the resolver, the time, the counts."""
        return Context(self.settings, engine.policy, self.resolver, self.clock(), self.metrics.signals)

    def flow(self, endpoint: Endpoint, call: Call, engine: Engine) -> EndpointFlow:
        return endpoint(call, self.context(engine))


def refusals(path: str) -> Refusals:
    """The refusals of the endpoint at *path* in its protocol's shape (:data:`REFUSALS`)."""
    return REFUSALS.get(path, OAUTH_REFUSALS)


def _failed(path: str, exc: BaseException) -> Answer:
    # Never the exception's text: it may quote the input.
    logger.warning("jwtguard: endpoint %s failed on its input (%s)", path, type(exc).__name__)
    return refusals(path).failed()


class EndpointsWSGI(_Endpoints):
    """The endpoints as a WSGI app, in front of *app* (every other path goes there; ``404`` without one).

    :param app: the app behind (usually the guarded app).
    :param settings: defaults to ``Settings.from_env()``; give the guard's own.
    :param store: defaults to the store ``JWTGUARD_STORE_URL`` names; one that keeps jwtguard's
        records (MongoDB, SQLite, memory).
    :param clients: the client-authentication hook (default: :class:`BasicClients` of
        ``JWTGUARD_ENDPOINT_CLIENTS``).
    :param resolver: subject identifiers to user ids (default: :func:`default_resolver`).
    :param endpoints: the table of paths to endpoint flows (default :data:`ENDPOINTS`).
    """

    def __init__(
        self,
        app: WSGIApplication | None = None,
        /,
        *,
        settings: Settings | None = None,
        store: RecordStore | None = None,
        clients: Authenticator | None = None,
        resolver: SubjectResolver | None = None,
        clock: Callable[[], float] = time.time,
        endpoints: Mapping[str, Endpoint] | None = None,
    ) -> None:
        super().__init__(settings, clients, resolver, clock, endpoints)
        self.app = app
        self.store = store or cast(RecordStore, open_store(self.settings))
        self.engine = Engine(self.settings, store=self.store, clock=clock)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            if self.app is not None:
                return self.app(environ, start_response)
            answer = oauth_error(404, "invalid_request", "no such endpoint")
        else:
            answer = self.metrics.count(path, self._answer(endpoint, path, environ))
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", list(answer.headers))
        return [answer.body]

    def _answer(self, endpoint: Endpoint, path: str, environ: WSGIEnvironment) -> Answer:
        if environ.get("REQUEST_METHOD") != "POST":
            return refusals(path).not_allowed()
        body = _wsgi_body(environ)
        if body is None:
            return refusals(path).too_large()
        headers = {
            "authorization": environ.get("HTTP_AUTHORIZATION", ""),
            "content-type": environ.get("CONTENT_TYPE", ""),
        }
        try:
            return self.drive(self.flow(endpoint, Call("POST", path, headers, body), self.engine))
        except Exception as exc:
            return _failed(path, exc)

    def receive_set(self, token: str) -> Received:
        """One security event token, as a push to ``/ssf/events`` would be taken, minus the
        push's own checks (the RFC 8936 poll client's way in, :mod:`jwtguard.endpoints.poll`)."""
        try:
            return self.drive(receive(token, self.context(self.engine)))
        except Exception as exc:
            logger.warning("jwtguard: a polled SET failed (%s)", type(exc).__name__)
            return SETError("invalid_request", "the SET could not be processed")

    def drive(self, flow: Generator[Lookup, Any, T]) -> T:
        """Perform *flow*'s lookups in this thread; its result (an endpoint's answer)."""
        reply: Any = None
        try:
            while True:
                step = flow.send(reply)
                if isinstance(step, Authenticate):
                    reply = self.clients(step.call, step.form)
                elif isinstance(step, Verify):
                    reply = _verified(self.engine, step.token)
                elif isinstance(step, VerifySET):
                    reply = verify_set(self.transmitter, step.token)
                elif isinstance(step, Judge):
                    reply = self.engine.handle_token(step.token)
                elif isinstance(step, Records):
                    reply = _run(self.store, step.flow)
                else:
                    assert isinstance(step, Forget)
                    _forget(step)
                    reply = None
        except StopIteration as done:
            result: T = done.value
            return result

    def close(self) -> None:
        self.engine.stop_feed()
        self.store.close()


class EndpointsASGI(_Endpoints):
    """The endpoints as an ASGI app, in front of *app*: the parameters of :class:`EndpointsWSGI`
    (*store* an async store). Other scope types go to *app*; alone, it answers lifespan
    events and refuses the rest."""

    def __init__(
        self,
        app: ASGIApp | None = None,
        /,
        *,
        settings: Settings | None = None,
        store: AsyncRecordStore | None = None,
        clients: Authenticator | None = None,
        resolver: SubjectResolver | None = None,
        clock: Callable[[], float] = time.time,
        endpoints: Mapping[str, Endpoint] | None = None,
    ) -> None:
        super().__init__(settings, clients, resolver, clock, endpoints)
        self.app = app
        self.store = store or cast(AsyncRecordStore, open_async_store(self.settings))
        self.engine = Engine(self.settings, async_store=self.store, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = app_path(scope["path"], scope.get("root_path", ""))
            endpoint = self.endpoints.get(path)
            if endpoint is not None or self.app is None:
                if endpoint is None:
                    answer = oauth_error(404, "invalid_request", "no such endpoint")
                else:
                    answer = self.metrics.count(path, await self._answer(endpoint, path, scope, receive))
                await send({"type": "http.response.start", "status": answer.status, "headers": answer.raw_headers})
                await send({"type": "http.response.body", "body": answer.body})
                return
        if self.app is not None:
            return await self.app(scope, receive, send)
        if scope["type"] != "lifespan":
            raise RuntimeError(f"jwtguard: the endpoints serve HTTP only, not {scope['type']!r}")
        await serve_lifespan(receive, send)

    async def _answer(self, endpoint: Endpoint, path: str, scope: Scope, receive: Receive) -> Answer:
        if scope.get("method") != "POST":
            return refusals(path).not_allowed()
        body = await _asgi_body(scope, receive)
        if body is None:
            return refusals(path).too_large()
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            lowered = name.decode("latin-1").lower()
            if lowered in ("authorization", "content-type"):
                text = value.decode("latin-1")
                headers[lowered] = f"{headers[lowered]}, {text}" if lowered in headers else text
        try:
            return await self.drive(self.flow(endpoint, Call("POST", path, headers, body), self.engine))
        except Exception as exc:
            return _failed(path, exc)

    async def receive_set(self, token: str) -> Received:
        """:meth:`EndpointsWSGI.receive_set` without blocking the loop."""
        try:
            return await self.drive(receive(token, self.context(self.engine)))
        except Exception as exc:
            logger.warning("jwtguard: a polled SET failed (%s)", type(exc).__name__)
            return SETError("invalid_request", "the SET could not be processed")

    async def drive(self, flow: Generator[Lookup, Any, T]) -> T:
        """Perform *flow*'s lookups without blocking the loop; its result (an endpoint's answer)."""
        reply: Any = None
        try:
            while True:
                step = flow.send(reply)
                if isinstance(step, Authenticate):
                    if getattr(self.clients, "needs_io", True):  # a hook that may read a key set
                        reply = await asyncio.to_thread(self.clients, step.call, step.form)
                    else:
                        reply = self.clients(step.call, step.form)
                elif isinstance(step, Verify):
                    if self.engine.verifier.needs_io:
                        reply = await asyncio.to_thread(_verified, self.engine, step.token)
                    else:
                        reply = _verified(self.engine, step.token)
                elif isinstance(step, VerifySET):
                    if self.transmitter is not None and self.transmitter.needs_io:
                        reply = await asyncio.to_thread(verify_set, self.transmitter, step.token)
                    else:
                        reply = verify_set(self.transmitter, step.token)
                elif isinstance(step, Judge):
                    reply = await self.engine.ahandle_token(step.token)
                elif isinstance(step, Records):
                    try:
                        reply = await self.store.run(step.flow)
                    except StoreError as exc:
                        reply = StoreDown(str(exc))
                else:
                    assert isinstance(step, Forget)
                    _forget(step)
                    reply = None
        except StopIteration as done:
            result: T = done.value
            return result

    async def close(self) -> None:
        self.engine.stop_feed()
        await self.store.close()


def _verified(engine: Engine, token: str) -> tuple[dict[str, Any], dict[str, Any]] | KeysUnavailable | None:
    """The Verify lookup: ``(header, claims)`` of a token whose signature checks out with the guard's keys."""
    try:
        return engine.verifier.signed(token)
    except KeySourceUnavailable:
        return KeysUnavailable()
    except Exception as exc:  # every failure of hostile input: "does not verify"
        logger.debug("jwtguard: endpoint token rejected: %s", type(exc).__name__)
        return None


def _run(store: RecordStore, flow: RecordFlow[Any]) -> Any:
    try:
        return store.run(flow)
    except StoreError as exc:
        return StoreDown(str(exc))


def _forget(step: Forget) -> None:
    if step.user is not None:
        invalidate_everywhere(step.user)
    if step.session is not None:
        invalidate_everywhere(step.session)


def _wsgi_body(environ: WSGIEnvironment) -> bytes | None:
    """The body, or None when it is larger than :data:`MAX_BODY`."""
    length_text = environ.get("CONTENT_LENGTH") or ""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return bytes(stream.read(length))
    if not environ.get("wsgi.input_terminated"):
        return b""  # PEP 3333: without a length, reading may block
    data = bytes(stream.read(MAX_BODY + 1))
    return None if len(data) > MAX_BODY else data


async def _asgi_body(scope: Scope, receive: Receive) -> bytes | None:
    """The body, or None when it is larger than :data:`MAX_BODY` (reading stops there)."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                if int(value) > MAX_BODY:
                    return None
            except ValueError:
                return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
