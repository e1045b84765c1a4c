"""``/.well-known/jwks.json``: jwtguard's public keys, so that other services can verify its tokens.

The document is :func:`jwtguard.keyring.jwk_set` of the settings: the public keys of
``JWTGUARD_PUBLIC_KEY(_FILE)``, each with its ``kid`` (the one jwtguard's tokens carry),
``alg`` and ``use: sig``; never an HMAC secret or a private part (an HMAC-only setup publishes
an empty set). It is built once, when the app is made: settings never change while a process
runs, and a rotation restarts it.

Two translators of one answer (:class:`JWKSDocument`), for either kind of server:

- :class:`JWKSWSGI` and :class:`JWKSASGI` answer ``GET`` and ``HEAD`` on their path (app-relative:
  WSGI's ``PATH_INFO``, ASGI's ``path`` below ``root_path``) with ``200``, the media type of RFC
  7517 §8.5.1 (``application/jwk-set+json``) and ``Cache-Control: public, max-age=...``; any
  other method on that path gets ``405`` with ``Allow: GET, HEAD`` (RFC 9110 §15.5.6).
- Given an *app*, every other request goes to it, so the JWKS can sit in front of the guard
  (``app.wsgi_app = JWKSWSGI(app.wsgi_app, settings=settings)``) and is never authenticated;
  without one, other paths are ``404`` (a server of its own, or a Starlette ``Route``).

Security: the document is public by design (RFC 7517 §9.1 applies to private keys only) and
the same for every client; it holds nothing that verifies an HMAC token or signs anything.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..keyring import jwk_set
from ..sansio.request import app_path
from .base import Answer, serve_lifespan

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The usual place of a service's keys (no RFC fixes it: RFC 8414 §2 and OpenID Connect Discovery
#: name the JWKS by a ``jwks_uri`` of the issuer's metadata, which may point here).
JWKS_PATH = "/.well-known/jwks.json"

#: RFC 7517 §8.5.1: the media type of a JWK Set.
MEDIA_TYPE = "application/jwk-set+json"

#: Seconds a client or proxy may keep the document: as jwtguard's own JWKS reader
#: (``JWTGUARD_JWKS_LIFESPAN``'s default). A rotation waits this long after adding a key.
DEFAULT_MAX_AGE = 300

_ALLOWED = "GET, HEAD"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _plain(status: HTTPStatus, *extra: tuple[str, str]) -> Answer:
    body = f"{status.phrase}\n".encode()
    headers = (("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body))), *extra)
    return Answer(status.value, headers, body)


#: For a path that is not the document's, when no app is wrapped.
NOT_FOUND = _plain(HTTPStatus.NOT_FOUND)


class JWKSDocument:
    """The one answer both translators send: the JWK Set, built once, and the method rule.

    :param settings: whose verification keys are published.
    :param max_age: seconds for ``Cache-Control: public, max-age=...`` (0 to 86400).
    :param path: the app-relative path that serves the document.
    :raises ValueError: for a *max_age* or *path* outside those rules.
    :raises ConfigError: for keys the guard itself would refuse.
    """

    def __init__(self, settings: Settings, *, max_age: int = DEFAULT_MAX_AGE, path: str = JWKS_PATH) -> None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= 86400:
            raise ValueError(f"max_age accepts whole seconds from 0 to 86400, got {max_age!r}")
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        self.path = path
        #: The JWK Set as published (a plain dict: ``{"keys": [...]}``).
        self.document = jwk_set(settings)
        body = json.dumps(self.document, separators=(",", ":")).encode()
        headers = (
            ("content-type", MEDIA_TYPE),
            ("content-length", str(len(body))),
            ("cache-control", f"public, max-age={max_age}"),
            ("x-content-type-options", "nosniff"),
        )
        self._get = Answer(200, headers, body)
        self._head = Answer(200, headers, b"")
        self._not_allowed = _plain(HTTPStatus.METHOD_NOT_ALLOWED, ("allow", _ALLOWED))

    def answer(self, method: str, path: str) -> Answer | None:
        """The answer to *method* on the app-relative *path*; ``None`` when *path* is not the document's."""
        if path != self.path:
            return None
        if method == "GET":
            return self._get
        if method == "HEAD":
            # RFC 9110 §9.3.2: the GET answer's header fields (Content-Length included), no content.
            return self._head
        return self._not_allowed


class JWKSWSGI:
    """The JWK Set as a WSGI app, alone or in front of *app*.

    :param app: where every request for another path goes; ``None`` answers them ``404``.
    :param settings: defaults to ``Settings.from_env()``; give the guard's own.
    :param max_age: ``Cache-Control`` max-age in seconds (default 300).
    :param path: the path served, as ``PATH_INFO`` has it (default ``/.well-known/jwks.json``).

    Flask: ``app.wsgi_app = JWKSWSGI(app.wsgi_app, settings=settings)``, outside
    ``JWTGuardWSGI``, so that the keys need no token.
    """

    def __init__(
        self,
        app: WSGIApplication | None = None,
        /,
        *,
        settings: Settings | None = None,
        max_age: int = DEFAULT_MAX_AGE,
        path: str = JWKS_PATH,
    ) -> None:
        self.app = app
        self.jwks = JWKSDocument(settings or Settings.from_env(), max_age=max_age, path=path)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        answer = self.jwks.answer(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        if answer is None:
            if self.app is not None:
                return self.app(environ, start_response)
            answer = NOT_FOUND
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", list(answer.headers))
        return [answer.body]


class JWKSASGI:
    """The JWK Set as an ASGI app, alone or in front of *app*: the parameters of :class:`JWKSWSGI`.

    Starlette: ``Route("/.well-known/jwks.json", JWKSASGI(settings=settings))`` (list the path
    in ``JWTGUARD_EXEMPT_PATHS`` when the guard wraps the whole app), or
    ``JWKSASGI(guarded_app, settings=settings)`` around the guard. Other scope types
    (``websocket``, ``lifespan``) go to *app*; alone, it answers lifespan events and refuses
    the rest.
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        /,
        *,
        settings: Settings | None = None,
        max_age: int = DEFAULT_MAX_AGE,
        path: str = JWKS_PATH,
    ) -> None:
        self.app = app
        self.jwks = JWKSDocument(settings or Settings.from_env(), max_age=max_age, path=path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            answer = self.jwks.answer(scope["method"], app_path(scope["path"], scope.get("root_path", "")))
            if answer is not None or self.app is None:
                answer = answer or NOT_FOUND
                await send({"type": "http.response.start", "status": answer.status, "headers": answer.raw_headers})
                await send({"type": "http.response.body", "body": answer.body})
                return
        if self.app is not None:
            return await self.app(scope, receive, send)
        if scope["type"] != "lifespan":
            raise RuntimeError(f"jwtguard: the JWKS app serves HTTP only, not {scope['type']!r}")
        await serve_lifespan(receive, send)
