"""JWTGuardWSGI: the guard in front of any WSGI application (Flask, Django, ...).

A translator only: environ -> :class:`~jwtguard.sansio.Request`, the engine's
:class:`~jwtguard.sansio.Decision` -> a response. Every rule is in the policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .config import Settings
from .engine import Engine
from .metrics import Metrics
from .sansio.decision import expose_signal
from .sansio.policy import CLAIMS_KEY, POLICY_KEY, USER_ID_KEY
from .sansio.request import Request, request_target
from .stores import Store, open_store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class JWTGuardWSGI:
    """WSGI middleware: only requests with a valid, unrevoked Bearer token reach *app*.

    :param app: the WSGI application to protect.
    :param settings: defaults to ``Settings.from_env()`` (the ``JWTGUARD_*`` variables).
    :param store: defaults to the store ``JWTGUARD_STORE_URL`` names.
    :param clock: wall-clock seconds (the time claims), for tests.
    :param timer: monotonic seconds (caches, the JWKS lifespan), for tests.

    Accepted requests see the verified claims at ``environ["jwtguard.claims"]``
    (a plain ``dict`` of the request's own; nested lists are tuples and nested
    objects read-only) and the user id at ``environ["jwtguard.user_id"]``; their
    responses carry ``X-User-Enabled: true``. Only CORS preflights (``OPTIONS``
    with ``Origin`` and ``Access-Control-Request-Method``) and
    ``JWTGUARD_EXEMPT_PATHS``/``_METHODS`` pass without a token. Exempt paths
    match ``PATH_INFO``: the path the app routes, below its mount (``SCRIPT_NAME``).
    Under ``JWTGUARD_MODE=optional`` a request without a token reaches *app*
    with both keys set to None (the per-route helpers of :mod:`jwtguard.flask`
    and :mod:`jwtguard.django` read them).
    """

    def __init__(
        self,
        app: WSGIApplication,
        /,
        *,
        settings: Settings | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings or Settings.from_env()
        self.store = store or open_store(self.settings)
        self.engine = Engine(self.settings, store=self.store, clock=clock, timer=timer)
        self._cookies = self.engine.policy.reads_cookies
        self._dpop = self.engine.policy.reads_dpop

    @property
    def metrics(self) -> Metrics:
        """This guard's counters (see :mod:`jwtguard.metrics`)."""
        return self.engine.metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        decision = self.engine.handle(request_of(environ, self._cookies, self._dpop))
        kind = decision.kind
        if kind == "exempt":
            return self.app(environ, start_response)
        if kind == "refuse":
            start_response(decision.status_line, list(decision.headers))
            return [decision.body]
        environ[POLICY_KEY] = self.engine.policy  # the per-route checks answer with its refusals
        if kind == "anonymous":
            environ[CLAIMS_KEY] = environ[USER_ID_KEY] = None
            return self.app(environ, start_response)
        assert decision.claims is not None
        environ[CLAIMS_KEY] = dict(decision.claims)  # the request's own; nested values frozen
        environ[USER_ID_KEY] = decision.user_id
        added = decision.headers

        def start_with_signal(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.extend(added)
            expose_signal(headers, str)
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_signal)

    def close(self) -> None:
        """Stop following the invalidation feed and close the store's connections."""
        self.engine.stop_feed()
        self.store.close()


def _server_host(environ: Mapping[str, Any]) -> str:
    """PEP 3333's URL reconstruction for a request without ``Host`` (HTTP/1.0): ``SERVER_NAME``,
    and ``SERVER_PORT`` unless it is the scheme's default."""
    name, port = environ.get("SERVER_NAME", ""), environ.get("SERVER_PORT", "")
    default = "443" if environ.get("wsgi.url_scheme") == "https" else "80"
    return f"{name}:{port}" if name and port and port != default else name


def _path_bytes(path: str) -> bytes:
    """PEP 3333: a path's bytes, decoded as latin-1 by the server (one that did otherwise gets UTF-8)."""
    try:
        return path.encode("latin-1")
    except UnicodeEncodeError:
        return path.encode("utf-8", "replace")


def request_of(environ: Mapping[str, Any], cookies: bool = False, dpop: bool = False) -> Request:
    """The :class:`Request` of a WSGI environ; with *cookies*, cookie mode's fields too, with *dpop* the
    ``DPoP`` field (PEP 3333 ``HTTP_*``)."""
    header = environ.get("HTTP_AUTHORIZATION")
    method = environ.get("REQUEST_METHOD", "")
    options = method == "OPTIONS"
    request = Request(
        method,
        environ.get("PATH_INFO", ""),  # below the mount (SCRIPT_NAME): what the app routes
        () if header is None else (header,),
        environ.get("HTTP_ORIGIN") if options else None,
        environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD") if options else None,
        environ.get("wsgi.url_scheme", "http"),
        environ.get("HTTP_HOST", ""),
        environ.get("SCRIPT_NAME", ""),
    )
    if dpop:
        proof = environ.get("HTTP_DPOP")
        request = request._replace(
            host=request.host or _server_host(environ),
            target=request_target(_path_bytes(request.root_path + request.path)),
            dpop=() if proof is None else (proof,),
        )
    if not cookies:
        return request
    cookie = environ.get("HTTP_COOKIE")
    return request._replace(
        cookie=() if cookie is None else (cookie,),
        sec_fetch_site=environ.get("HTTP_SEC_FETCH_SITE"),
        sec_fetch_mode=environ.get("HTTP_SEC_FETCH_MODE"),
        sec_fetch_dest=environ.get("HTTP_SEC_FETCH_DEST"),
        csrf_token=environ.get("HTTP_X_CSRF_TOKEN"),
    )
