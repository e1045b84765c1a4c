"""Credentials: Bearer in the ``Authorization`` field (RFC 6750 §2.1, RFC 9110 §11.4); cookies and CSRF.

Cookie mode reads jwtguard's cookies from the ``Cookie`` field (RFC 6265
§4.2.1), and checks the Fetch Metadata resource-isolation policy and the
double-submitted CSRF token; :func:`set_cookie` writes the ``Set-Cookie``
values (RFC 6265bis cookie prefixes).
"""

from __future__ import annotations

import hmac
import re
from typing import Final, NamedTuple

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: A second Bearer (or DPoP) credential after a comma: two Authorization fields joined by a WSGI server.
_LATER_BEARER: Final = re.compile(r",[ \t]*(?:bearer|dpop)(?:[ \t]|$)", re.IGNORECASE)


class NoToken(NamedTuple):
    """Why the request carries no usable Bearer token: a reason of :data:`~jwtguard.sansio.decision.REASONS`."""

    reason: str


class DPoPToken(NamedTuple):
    """An access token sent with the ``DPoP`` scheme (RFC 9449 §7.1: ``Authorization: DPoP <token>``):
    a type of its own, so the flow asks for its proof."""

    token: str


def bearer_token(values: tuple[str, ...] | list[str], max_bytes: int, dpop: bool = False) -> str | DPoPToken | NoToken:
    """The Bearer token of a request's ``Authorization`` field values, or why there is none.

    Reasons: ``missing_token`` (no field, or another scheme: no error code,
    RFC 6750 §3.1), ``multiple_credentials`` (two fields or two credentials),
    ``header_too_large`` (longer than *max_bytes*, checked before any parsing),
    ``malformed`` (``Bearer`` alone, a tab, characters outside token68). The
    token68 check runs on the engine's cache miss only (a cached token passed it).
    With *dpop* (``JWTGUARD_DPOP`` is not ``off``), the ``DPoP`` scheme's token comes as a
    :class:`DPoPToken`, by the same rules; without, ``DPoP`` is another scheme.
    """
    if len(values) != 1:
        # None at all, or more than one method (RFC 6750 §3.1).
        return _MISSING if not values else _MULTIPLE
    value = values[0]
    # Bounded before any decoding; the bound holds for str and bytes alike.
    if len(value) > max_bytes:
        return _TOO_LARGE
    if value.startswith("Bearer "):
        # The usual spelling, decided without the general parse below (same answer).
        token = value[7:]
        if token and " " not in token and "," not in token:
            return token
    elif dpop and value.startswith("DPoP "):
        token = value[5:]
        if token and " " not in token and "," not in token:
            return DPoPToken(token)
    # RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]
    value = value.strip(" ")
    scheme, _, rest = value.partition(" ")
    lowered = scheme.lower()
    schemes = _SCHEMES if dpop else _BEARER
    if lowered not in schemes:
        for name in schemes:
            if lowered[: len(name)] == name and not scheme[len(name) : len(name) + 1].isalnum():
                return _MALFORMED  # "Bearer\t<token>", "Bearer,<token>", "DPoP\t<token>"
        if _LATER_BEARER.search(value):
            return _MULTIPLE  # "Basic ..., Bearer ...": two fields joined (RFC 6750 §3.1)
        # Another scheme (Basic, Digest...): no Bearer credentials at all.
        return _MISSING
    token = rest.lstrip(" ")
    if not token:
        return _MALFORMED
    if " " in token or "," in token:
        return _MULTIPLE
    return token if lowered == "bearer" else DPoPToken(token)


#: The schemes read: Bearer (RFC 6750), and DPoP (RFC 9449 §7.1) when ``JWTGUARD_DPOP`` is not ``off``.
_BEARER: Final = ("bearer",)
_SCHEMES: Final = ("bearer", "dpop")
_MISSING: Final = NoToken("missing_token")
_MULTIPLE: Final = NoToken("multiple_credentials")
_TOO_LARGE: Final = NoToken("header_too_large")
_MALFORMED: Final = NoToken("malformed")


# -- cookie mode (JWTGUARD_TOKEN_LOCATION=cookie|both) ---------------------------------------

#: jwtguard's cookies. RFC 6265bis §4.1.3: a ``__Host-`` cookie MUST be ``Secure``, have
#: ``Path=/`` and no ``Domain`` (so no other host, not even a sibling subdomain, can set one a
#: browser would send here); a ``__Secure-`` cookie MUST be ``Secure``. The refresh cookie is
#: ``__Secure-`` because its ``Path`` is the refresh endpoint's, never ``/``.
ACCESS_COOKIE: Final = "__Host-jwtguard-at"
REFRESH_COOKIE: Final = "__Secure-jwtguard-rt"
CSRF_COOKIE: Final = "__Host-jwtguard-csrf"
#: The field a page echoes the CSRF cookie's value in, on unsafe methods.
CSRF_HEADER: Final = "X-CSRF-Token"

_OWN_NAMES: Final = frozenset({ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE})

#: RFC 9110 §9.2.1: the methods defined as safe. Every other method, unknown ones included,
#: needs the CSRF token.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Fetch Metadata §2.4: the Sec-Fetch-Site values of a request the site (or the user) made itself.
_OWN_SITES: Final = frozenset({"same-origin", "same-site", "none"})

#: RFC 6265 §4.1.1: cookie-octet, what a cookie value may hold unquoted.
COOKIE_VALUE: Final = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*")


class Cookies(NamedTuple):
    """jwtguard's cookies as a request sent them (None: not sent, or sent empty)."""

    access: str | None = None
    refresh: str | None = None
    csrf: str | None = None


class CookieToken(NamedTuple):
    """An access token read from the ``__Host-jwtguard-at`` cookie, past the CSRF checks.

    A type of its own, so the flow knows which refusals expire jwtguard's cookies
    (a header token's refusals never touch them).
    """

    token: str


_NO_COOKIES: Final = Cookies()


def own_cookies(values: tuple[str, ...] | list[str], max_bytes: int) -> Cookies | NoToken:
    """jwtguard's three cookies in a request's ``Cookie`` field values, or why they cannot be read.

    Reasons: ``header_too_large`` (the fields, joined, longer than *max_bytes*:
    checked before any parsing), ``multiple_credentials`` (one of jwtguard's
    names twice: a cookie of the same name from another ``Domain`` or
    ``Path``, such as one a sibling subdomain set, is never guessed between).

    The parse is the server's side of RFC 6265 §4.2.1 (``cookie-pair *( ";" SP
    cookie-pair )``), read leniently as user agents write it (§5.4):
    pairs split at ``;``, spaces and tabs around names and values trimmed, the
    name up to the first ``=``; a pair without ``=`` and every other cookie are
    ignored, whatever they hold. Names compare exactly (case-sensitive). An
    empty value counts as not sent. Several fields (HTTP/2 may split the
    field, RFC 9113 §8.2.3) are joined with ``"; "`` first. Never raises.
    """
    if not values:
        return _NO_COOKIES
    value = values[0] if len(values) == 1 else "; ".join(values)
    if len(value) > max_bytes:
        return _TOO_LARGE
    if "jwtguard-" not in value:
        return _NO_COOKIES  # none of jwtguard's: no parse at all
    found: dict[str, str] = {}
    for pair in value.split(";"):
        name, equals, content = pair.partition("=")
        if not equals:
            continue
        name = name.strip(" \t")
        if name not in _OWN_NAMES:
            continue
        if name in found:
            return _MULTIPLE
        found[name] = content.strip(" \t")
    return Cookies(found.get(ACCESS_COOKIE) or None, found.get(REFRESH_COOKIE) or None, found.get(CSRF_COOKIE) or None)


def cross_site(site: str | None, mode: str | None, dest: str | None, method: str, *, navigation: bool = True) -> bool:
    """Whether the Fetch Metadata resource-isolation policy refuses the request.

    W3C Fetch Metadata Request Headers, and the policy web.dev's "Protect your
    resources from web attacks with Fetch Metadata" sets out:

    - no ``Sec-Fetch-Site``: passes (a client without Fetch Metadata; the CSRF
      token still guards unsafe methods);
    - ``same-origin``, ``same-site``, ``none`` (typed, a bookmark): passes;
    - with *navigation*, a top-level navigation: ``GET`` with ``Sec-Fetch-Mode:
      navigate`` and a ``Sec-Fetch-Dest`` other than ``object`` or ``embed``
      passes (a link from another site keeps working; ``SameSite=Lax`` sends
      the cookie there too, and a GET changes nothing);
    - anything else (``cross-site``, or a value no browser sends) is refused.

    Values compare exactly: they are Structured Field tokens (RFC 8941), lower case.
    """
    if site is None or site in _OWN_SITES:
        return False
    navigates = method == "GET" and mode == "navigate" and dest != "object" and dest != "embed"
    return not (navigation and navigates)


def csrf_reason(header: str | None, cookie: str | None) -> str | None:
    """Why the double-submitted CSRF token fails, or None when it matches.

    ``csrf_missing_token``: no (or an empty) ``X-CSRF-Token`` field;
    ``csrf_mismatch``: a field that differs from the ``__Host-jwtguard-csrf``
    cookie, or no such cookie. Compared in constant time (``hmac.compare_digest``
    over the UTF-8 bytes: any text, none of it ASCII included, compares without raising).
    """
    if not header:
        return "csrf_missing_token"
    if cookie is None:
        return "csrf_mismatch"
    if not hmac.compare_digest(header.encode("utf-8", "surrogatepass"), cookie.encode("utf-8", "surrogatepass")):
        return "csrf_mismatch"
    return None


def set_cookie(name: str, value: str, *, path: str, max_age: int, http_only: bool) -> str:
    """A ``Set-Cookie`` value for one of jwtguard's cookies: ``Secure``, ``SameSite=Lax``, never ``Domain``.

    RFC 6265bis §4.1.3.1/§4.1.3.2: a prefixed cookie without ``Secure`` (or a
    ``__Host-`` one with a ``Domain`` or another ``Path``) is dropped by the
    browser, and so is an expiry that does not repeat them; every value here
    carries them. *value* is checked by the callers (:data:`COOKIE_VALUE`),
    *path* by the settings (``JWTGUARD_REFRESH_PATH``).
    """
    http_only_av = "; HttpOnly" if http_only else ""
    return f"{name}={value}; Path={path}; Max-Age={max_age}; Secure{http_only_av}; SameSite=Lax"


def cookie_path(name: str, refresh_path: str) -> str:
    """The ``Path`` jwtguard's cookie *name* is set (and expired) with."""
    return refresh_path if name == REFRESH_COOKIE else "/"


def expiring_cookies(refresh_path: str) -> tuple[str, ...]:
    """``Set-Cookie`` values that expire jwtguard's three cookies (``Max-Age=0``, the ``Path`` each was set with).

    Only jwtguard's own: never ``Clear-Site-Data: "cookies"``, which clears
    every cookie of the whole registrable domain.
    """
    return tuple(
        set_cookie(name, "", path=cookie_path(name, refresh_path), max_age=0, http_only=name != CSRF_COOKIE)
        for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE)
    )
