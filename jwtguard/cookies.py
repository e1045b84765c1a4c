"""Cookie mode's cookies, for an app's login, refresh and logout answers (``JWTGUARD_TOKEN_LOCATION=cookie|both``).

The guard reads the access token from ``__Host-jwtguard-at`` and checks CSRF
itself; the app sets the cookies when it logs someone in and reads the
refresh token on its refresh endpoint. Every value here is a ``Set-Cookie``
header value, for any framework::

    for value in cookies.login_cookies(settings, access_token, refresh_token):
        response.headers.add("Set-Cookie", value)          # Flask / Werkzeug
        # response.headers.append("set-cookie", value)     # Starlette

The cookies (RFC 6265bis §4.1.3 prefixes; all ``Secure``, ``SameSite=Lax``, no ``Domain``):

- ``__Host-jwtguard-at``: the access token; ``Path=/``, ``HttpOnly``,
  ``Max-Age`` the token's lifetime;
- ``__Secure-jwtguard-rt``: the refresh token; ``Path=`` ``JWTGUARD_REFRESH_PATH``
  (a ``__Host-`` cookie must have ``Path=/``), ``HttpOnly``, ``Max-Age``
  ``JWTGUARD_REFRESH_TTL``;
- ``__Host-jwtguard-csrf``: a random value; ``Path=/``, readable by the page,
  ``Max-Age`` the longer of the two.

The page sends the CSRF cookie's value back in ``X-CSRF-Token`` on unsafe methods.
``Secure`` cookies need HTTPS, except on ``http://localhost`` and ``http://127.0.0.1``,
which Chromium treats as potentially trustworthy and keeps them on (a browser test checks it).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .config import Settings
from .sansio.credentials import (
    ACCESS_COOKIE,
    COOKIE_VALUE,
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    TOKEN68,
    NoToken,
    expiring_cookies,
    own_cookies,
    set_cookie,
)
from .sansio.decision import Decision
from .sansio.policy import Policy
from .sansio.request import Request

__all__ = [
    "ACCESS_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "REFRESH_COOKIE",
    "csrf_value",
    "login_cookies",
    "logout_cookies",
    "refresh_cookies",
    "refresh_token",
]

#: A WSGI environ (Flask's ``request.environ``, Django's ``request.META``), an ASGI scope
#: (Starlette's ``request.scope``), or a :class:`~jwtguard.sansio.Request`.
RequestLike = Mapping[str, Any] | Request


def csrf_value() -> str:
    """A fresh CSRF cookie value: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def login_cookies(
    settings: Settings,
    access_token: str,
    refresh_token: str | None = None,
    *,
    access_max_age: float | None = None,
) -> list[str]:
    """The ``Set-Cookie`` values of a login answer: access token, refresh token (if any), a fresh CSRF value.

    :param settings: ``refresh_path`` and ``refresh_ttl`` (and ``token_ttl``) are read.
    :param access_token: a JWT (token68 characters only; ``ValueError`` otherwise).
    :param refresh_token: cookie-octets only (RFC 6265 §4.1.1; ``ValueError`` otherwise).
    :param access_max_age: the access cookie's ``Max-Age``; default
        ``JWTGUARD_TOKEN_TTL``, the lifetime of tokens made by ``issue_token``.
        Pass your tokens' lifetime if they are made otherwise.

    Security: a login always gets a new CSRF value, never one the request
    brought (a value planted before the login would otherwise stay valid).
    """
    return _cookies(settings, access_token, refresh_token, csrf_value(), access_max_age)


def refresh_cookies(
    settings: Settings,
    access_token: str,
    refresh_token: str,
    request: RequestLike,
    *,
    access_max_age: float | None = None,
) -> list[str]:
    """The ``Set-Cookie`` values of a refresh answer: the new tokens, and the CSRF cookie kept.

    :param request: the refresh request (environ, scope or
        :class:`~jwtguard.sansio.Request`): its CSRF cookie keeps its value,
        with a new ``Max-Age``, so pages in other tabs that read it keep
        working; without one (or with a repeated one) a fresh value is made.

    Other parameters as :func:`login_cookies`.
    """
    jar = own_cookies(_request(request).cookie, settings.max_header_bytes)
    csrf = jar.csrf if not isinstance(jar, NoToken) and jar.csrf and COOKIE_VALUE.fullmatch(jar.csrf) else None
    return _cookies(settings, access_token, refresh_token, csrf or csrf_value(), access_max_age)


def logout_cookies(settings: Settings) -> list[str]:
    """The ``Set-Cookie`` values that expire jwtguard's three cookies: a logout answer.

    ``Max-Age=0``, with the ``Path`` and attributes each was set with (a
    browser ignores an expiry of a prefixed cookie that lacks them). The same
    values the guard adds when it refuses a cookie token for a reason that ends
    the login. Never ``Clear-Site-Data: "cookies"``, which clears every cookie
    of the whole registrable domain.
    """
    return list(expiring_cookies(settings.refresh_path))


def refresh_token(settings: Settings, request: RequestLike) -> str | Decision:
    """The refresh token a refresh endpoint reads from ``__Secure-jwtguard-rt``, or the refusal to answer with.

    :param request: the WSGI environ (``request.environ``, Django's
        ``request.META``), the ASGI scope (``request.scope``) or a
        :class:`~jwtguard.sansio.Request`.

    The refresh endpoint is usually exempt from the guard (its access token
    may have expired), so the CSRF checks run here, stricter than the guard's:
    ``X-CSRF-Token`` is needed whatever the method and no cross-site request
    passes, navigations included. A refusal is a prebuilt
    :class:`~jwtguard.sansio.Decision` (``status``, ``headers``, ``body``):
    ``missing_token`` (401, no refresh cookie), ``multiple_credentials`` (400,
    the cookie twice), ``header_too_large`` (431), ``csrf_cross_site``,
    ``csrf_missing_token``, ``csrf_mismatch`` (403 ``csrf_failed``). The token
    itself is not checked here: the sessions' refresh does that.
    """
    return _policy(settings).refresh_token(_request(request))


# -- internals ----------------------------------------------------------------------------


def _cookies(
    settings: Settings, access_token: str, refresh_token: str | None, csrf: str, access_max_age: float | None
) -> list[str]:
    if not TOKEN68.fullmatch(access_token):
        raise ValueError("access_token must be a JWT (token68 characters only)")
    if refresh_token is not None and not (refresh_token and COOKIE_VALUE.fullmatch(refresh_token)):
        raise ValueError("refresh_token must be cookie-octets only (RFC 6265 §4.1.1)")
    access_age = _max_age(settings.token_ttl if access_max_age is None else access_max_age)
    values = [set_cookie(ACCESS_COOKIE, access_token, path="/", max_age=access_age, http_only=True)]
    csrf_age = access_age
    if refresh_token is not None:
        refresh_age = _max_age(settings.refresh_ttl)
        path = settings.refresh_path
        values.append(set_cookie(REFRESH_COOKIE, refresh_token, path=path, max_age=refresh_age, http_only=True))
        csrf_age = max(access_age, refresh_age)
    # Readable by the page (no HttpOnly): it echoes the value in X-CSRF-Token.
    values.append(set_cookie(CSRF_COOKIE, csrf, path="/", max_age=csrf_age, http_only=False))
    return values


def _max_age(seconds: float) -> int:
    if not 0 < seconds < float("inf"):
        raise ValueError("a cookie's Max-Age must be a positive number of seconds")
    return max(1, int(seconds))


@lru_cache(maxsize=8)
def _policy(settings: Settings) -> Policy:
    return Policy(settings)


def _request(request: RequestLike) -> Request:
    if isinstance(request, Request):
        return request
    if "REQUEST_METHOD" in request:
        from .wsgi import request_of as wsgi_request

        return wsgi_request(request, True)
    from .asgi import request_of as asgi_request

    return asgi_request(request, True)
