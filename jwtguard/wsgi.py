"""JWTGuardWSGI: the guard in front of any WSGI application (Flask, Django, ...)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .config import Settings
from .core import Guard, Rejection, Verified, is_preflight
from .errors import StoreError
from .stores import Store, open_store

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


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
    ``JWTGUARD_EXEMPT_PATHS``/``_METHODS`` pass without a token.
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
        self.guard = Guard(self.settings, timer=timer)
        self.store = store or open_store(self.settings)
        self._clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        method = environ.get("REQUEST_METHOD", "")
        preflight = is_preflight(method, environ.get("HTTP_ORIGIN"), environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"))
        if guard.is_exempt(environ.get("PATH_INFO", ""), method, preflight=preflight):
            return self.app(environ, start_response)
        header = environ.get("HTTP_AUTHORIZATION")
        result = guard.authenticate([] if header is None else [header], self._clock())
        if isinstance(result, Rejection):
            return _reject(result, start_response)
        assert result is not None
        user_id = result.user_id
        key = guard.user_key(user_id)  # the canonical id: one cache entry per user, however spelled
        try:
            state = guard.states.load(key, lambda: self._load(user_id))
        except StoreError as exc:
            rejection = guard.store_failed(result, exc)
        else:
            rejection = guard.decide(result, state)
        if rejection is not None:
            return _reject(rejection, start_response)
        return self._accept(result, environ, start_response)

    def _load(self, user_id: str | int) -> Any:
        # Only real store queries are timed; the cache answers most requests.
        started = time.perf_counter()
        try:
            document = self.store.load(user_id)
        except StoreError:
            self.guard.metrics.store_load(time.perf_counter() - started, failed=True)
            raise
        self.guard.metrics.store_load(time.perf_counter() - started, failed=False)
        return self.guard.read_state(document)

    def _accept(self, verified: Verified, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["jwtguard.claims"] = self.guard.claims_for(verified)
        environ["jwtguard.user_id"] = verified.user_id

        def start_with_signal(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(("X-User-Enabled", "true"))
            _expose_signal(headers)
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_signal)

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()


def _reject(rejection: Rejection, start_response: StartResponse) -> Iterable[bytes]:
    start_response(rejection.status_line, list(rejection.headers))
    return [rejection.body]


def _expose_signal(headers: list[tuple[str, str]]) -> None:
    """Let cross-origin scripts read X-User-Enabled when the app answers with CORS."""
    cors = False
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == "access-control-expose-headers":
            if "x-user-enabled" not in value.lower() and value.strip() != "*":
                headers[index] = (name, f"{value}, X-User-Enabled")
            return
        if lowered == "access-control-allow-origin":
            cors = True
    if cors:
        headers.append(("Access-Control-Expose-Headers", "X-User-Enabled"))
