"""The request as jwtguard sees it: built by an adapter from environ or scope."""

from __future__ import annotations

from functools import lru_cache
from typing import Final, NamedTuple
from urllib.parse import quote


class Request(NamedTuple):
    """The parts of one HTTP request that jwtguard reads.

    :param method: the request method, as sent (``GET``, ``OPTIONS``).
    :param path: the path *as the wrapped app routes it*: WSGI ``PATH_INFO``
        (``SCRIPT_NAME`` is the mount), ASGI ``path`` without a leading
        ``root_path``. Exemptions match this path on both adapters.
    :param authorization: every ``Authorization`` field value, in order (a WSGI
        server joins repeated fields with commas; ASGI lists each one).
    :param origin: the ``Origin`` field, if any (CORS, Fetch §3.2.2).
    :param access_control_request_method: ``Access-Control-Request-Method``.
    :param scheme: ``http`` or ``https``, as the app sees it.
    :param host: the ``Host`` the client used, without a default port rule.
    :param root_path: the mount prefix (``SCRIPT_NAME`` / ``root_path``); with
        *scheme* and *host* it rebuilds the external URL (DPoP's ``htu``).
    :param cookie: every ``Cookie`` field value, in order (RFC 6265 §5.4 sends
        one; an HTTP/2 server may hand over its pieces, RFC 9113 §8.2.3).
    :param sec_fetch_site: ``Sec-Fetch-Site`` (Fetch Metadata §2.4), if sent.
    :param sec_fetch_mode: ``Sec-Fetch-Mode`` (§2.3), if sent.
    :param sec_fetch_dest: ``Sec-Fetch-Dest`` (§2.1), if sent.
    :param csrf_token: the ``X-CSRF-Token`` field, if sent (repeated fields
        joined with commas, as a WSGI server joins them).

    :param target: the path as the client sent it, mount prefix included, percent-encoded
        (no query): what a DPoP proof's ``htu`` names after the origin.
    :param dpop: every ``DPoP`` field value (RFC 9449 §4.1: the proof), in order
        (a WSGI server joins repeated fields with commas, which no proof holds).

    The five before *target* are read only when ``JWTGUARD_TOKEN_LOCATION`` is ``cookie``
    or ``both``: a header-only guard never looks at them; *dpop* only when
    ``JWTGUARD_DPOP`` is not ``off``.

    A tuple: built per request at the cost of one tuple, immutable.
    """

    method: str
    path: str
    authorization: tuple[str, ...] = ()
    origin: str | None = None
    access_control_request_method: str | None = None
    scheme: str = "http"
    host: str = ""
    root_path: str = ""
    cookie: tuple[str, ...] = ()
    sec_fetch_site: str | None = None
    sec_fetch_mode: str | None = None
    sec_fetch_dest: str | None = None
    csrf_token: str | None = None
    target: str = ""
    dpop: tuple[str, ...] = ()

    def url(self, external_origin: str | None = None) -> str:
        """The URL the client used, without the query (what a DPoP proof's ``htu`` names, RFC 9449
        §4.3 #9): *external_origin* (``JWTGUARD_EXTERNAL_ORIGIN``, behind a proxy) or the request's
        scheme and ``Host``, then :attr:`target`. A WebSocket's handshake is an HTTP request
        (RFC 6455 §4.1): ``ws`` and ``wss`` name it as ``http`` and ``https``."""
        if external_origin:
            return external_origin + self.target
        return f"{_HTTP_SCHEME.get(self.scheme, self.scheme)}://{self.host}{self.target}"

    @property
    def preflight(self) -> bool:
        """Whether this is a CORS preflight (see :func:`is_preflight`)."""
        return is_preflight(self.method, self.origin, self.access_control_request_method)


def is_preflight(method: str, origin: str | None, request_method: str | None) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` (Fetch §3.2.2).

    Only these pass the guard untouched by default: any other ``OPTIONS``
    request is authenticated like every other method.
    """
    return method == "OPTIONS" and bool(origin) and bool(request_method)


def app_path(path: str, root_path: str) -> str:
    """The path the app behind an ASGI mount routes: *path* without a leading *root_path*.

    uvicorn >= 0.26 and Starlette >= 0.35 keep ``root_path`` inside ``path``
    (ASGI spec, HTTP scope); older servers did not, so the prefix is removed
    only when *path* starts with it at a segment boundary.
    """
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest.startswith("/"):
            return rest or "/"
    return path


#: The HTTP scheme of a WebSocket's handshake (RFC 6455 §3: ws is http's port 80, wss https's 443).
_HTTP_SCHEME: Final = {"ws": "http", "wss": "https"}

#: RFC 3986 §3.3: what a path holds unencoded besides unreserved characters, and "%" (kept as sent).
_PATH_SAFE: Final = "/:@!$&'()*+,;=%"


@lru_cache(maxsize=1024)
def request_target(path: bytes) -> str:
    """The request target's path as the client sent it (RFC 9112 §3.2.1), as text a URL holds:
    *path* (raw bytes: ASGI ``raw_path``, or WSGI's decoded path encoded back) percent-encoded
    where it must be; existing percent-encodings are kept (DPoP's ``htu`` comparison normalises them).
    Remembered for the paths a process serves most (a pure function of its bytes)."""
    return quote(path, safe=_PATH_SAFE)
