"""Bearer credentials in the ``Authorization`` field (RFC 6750 §2.1, RFC 9110 §11.4)."""

from __future__ import annotations

import re
from typing import Final, NamedTuple

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
TOKEN68: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: A second Bearer credential after a comma: two Authorization fields joined by a WSGI server.
_LATER_BEARER: Final = re.compile(r",[ \t]*bearer(?:[ \t]|$)", re.IGNORECASE)


class NoToken(NamedTuple):
    """Why the request carries no usable Bearer token: a reason of :data:`~jwtguard.sansio.decision.REASONS`."""

    reason: str


def bearer_token(values: tuple[str, ...] | list[str], max_bytes: int) -> str | NoToken:
    """The Bearer token of a request's ``Authorization`` field values, or why there is none.

    Reasons: ``missing_token`` (no field, or another scheme: no error code,
    RFC 6750 §3.1), ``multiple_credentials`` (two fields or two credentials),
    ``header_too_large`` (longer than *max_bytes*, checked before any parsing),
    ``malformed`` (``Bearer`` alone, a tab, characters outside token68). The
    token68 check runs on the engine's cache miss only (a cached token passed it).
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
    # RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]
    value = value.strip(" ")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "bearer":
        if scheme[:6].lower() == "bearer" and (len(scheme) == 6 or not scheme[6].isalnum()):
            return _MALFORMED  # "Bearer\t<token>", "Bearer,<token>"
        if _LATER_BEARER.search(value):
            return _MULTIPLE  # "Basic ..., Bearer ...": two fields joined (RFC 6750 §3.1)
        # Another scheme (Basic, Digest...): no Bearer credentials at all.
        return _MISSING
    token = rest.lstrip(" ")
    if not token:
        return _MALFORMED
    if " " in token or "," in token:
        return _MULTIPLE
    return token


_MISSING: Final = NoToken("missing_token")
_MULTIPLE: Final = NoToken("multiple_credentials")
_TOO_LARGE: Final = NoToken("header_too_large")
_MALFORMED: Final = NoToken("malformed")
