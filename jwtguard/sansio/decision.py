"""Every outcome as a value: the one table of reasons, and the :class:`Decision` a request gets.

:data:`REASONS` is the vocabulary: the policy builds its answers from it, the
metrics count by it, ``explain`` names it and a test checks the README's
table against it. A :class:`Decision` is what an adapter turns into a
response: refusals are built once per policy (as starlette's ``cors.py``
precomputes its headers); an accept carries the headers to add, the claims
and the user id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, AnyStr, Final, Literal

UserId = str | int

Challenge = Literal["bare", "error", "none"]


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a request is refused, and everything its answer says.

    :param status: the HTTP status.
    :param error: the body's ``error`` and, with ``challenge="error"``, the
        RFC 6750 §3.1 error code of the ``WWW-Authenticate`` challenge.
    :param description: the fixed ``error_description`` (never exception text).
    :param challenge: ``bare`` (realm only: no credentials, RFC 6750 §3.1),
        ``error`` (with error code and description), ``none`` (no challenge).
    :param user_enabled: ``False`` when the answer says ``X-User-Enabled: false``
        (only after a good signature; never on a 503).
    :param clears: the reason ends the login: ``JWTGUARD_CLEAR_SITE_DATA`` adds
        ``Clear-Site-Data: "storage"``, and a refused cookie token's answer
        expires jwtguard's cookies (cookie mode).
    :param retry: whether the answer carries ``Retry-After``.
    :param body_reason: the body's ``reason`` when it is not the row's name: the
        three CSRF refusals share ``error: csrf_failed`` and say which check
        failed (``missing_token``, ``mismatch``, ``cross_site``), while the
        metrics count each under its row's name.
    """

    status: int
    error: str
    description: str
    challenge: Challenge = "error"
    user_enabled: bool | None = None
    clears: bool = False
    retry: bool = False
    body_reason: str | None = None


#: Every reason a request can be refused with (the ``reason`` of a refusal's body).
REASONS: Final[Mapping[str, Reason]] = {
    "missing_token": Reason(401, "unauthorized", "No Bearer credentials", challenge="bare"),
    "malformed": Reason(400, "invalid_request", "The credentials are malformed"),
    "multiple_credentials": Reason(400, "invalid_request", "Only one Bearer credential is allowed"),
    "header_too_large": Reason(431, "invalid_request", "The credentials header is too large"),
    "invalid": Reason(401, "invalid_token", "The access token is invalid"),
    "expired": Reason(401, "invalid_token", "The access token expired"),
    "revoked": Reason(401, "invalid_token", "The access token was revoked", clears=True),
    "disabled": Reason(401, "invalid_token", "The account is disabled", user_enabled=False, clears=True),
    "unknown_user": Reason(401, "invalid_token", "The account does not exist", user_enabled=False, clears=True),
    # A jwtguard-issued token whose session is missing or was ended (logout on that device, a
    # refresh token's reuse), or any token whose `sid` names an ended identity-provider session.
    "session_revoked": Reason(401, "invalid_token", "The session was ended", clears=True),
    # No X-User-Enabled on these: a database or identity-provider blip must not log anyone out.
    # A per-route check (jwtguard.flask, .starlette, .fastapi, .django) on a good token that lacks
    # the scope or role the route asks for (RFC 6750 §3.1). The middleware itself never sends it.
    "insufficient_scope": Reason(403, "insufficient_scope", "The access token lacks the required scope or role"),
    # Cookie mode, a token from the cookie only (a header is never sent by a browser on its own):
    # a CSRF check failed. The body names the check, never a token; no challenge (RFC 9110 §15.5.4).
    "csrf_missing_token": Reason(
        403, "csrf_failed", "An unsafe method needs the X-CSRF-Token header", "none", body_reason="missing_token"
    ),
    "csrf_mismatch": Reason(
        403, "csrf_failed", "X-CSRF-Token does not match the CSRF cookie", "none", body_reason="mismatch"
    ),
    "csrf_cross_site": Reason(
        403, "csrf_failed", "A cross-site request may not use the token cookie", "none", body_reason="cross_site"
    ),
    # DPoP (RFC 9449, JWTGUARD_DPOP): none of them logs anyone out; the browser helper answers the
    # first two itself (a fresh proof, once; the server's nonce, once). §7.1: a proof's failure is
    # invalid_dpop_proof, a failed key binding is the token's (invalid_token).
    "invalid_dpop_proof": Reason(401, "invalid_dpop_proof", "The DPoP proof is invalid"),
    "use_dpop_nonce": Reason(401, "use_dpop_nonce", "The DPoP proof needs the nonce of the DPoP-Nonce field"),
    "dpop_binding": Reason(401, "invalid_token", "The access token is not bound to the DPoP proof's key"),
    # A DPoP-bound token (cnf.jkt) sent without its proof (a downgrade to Bearer: the copy of a
    # stolen token), or any Bearer token under JWTGUARD_DPOP=require.
    "dpop_required": Reason(401, "invalid_token", "The access token needs a DPoP proof (Authorization: DPoP)"),
    "store_unavailable": Reason(503, "temporarily_unavailable", "The user store is unreachable", "none", retry=True),
    "key_source_unavailable": Reason(
        503, "temporarily_unavailable", "The signing keys cannot be read", "none", retry=True
    ),
}

_STATUS_LINES: Final = {
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    431: "431 Request Header Fields Too Large",
    503: "503 Service Unavailable",
}

Kind = Literal["exempt", "anonymous", "accept", "refuse"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one request.

    ``kind`` is ``exempt`` (reaches the app untouched), ``anonymous``
    (``JWTGUARD_MODE=optional``, no Bearer credentials: reaches the app with
    ``claims`` and ``user_id`` set to None, so per-route checks can tell "no
    token" from "not behind the guard"), ``accept`` (reaches the app with
    ``claims`` and ``user_id``, and ``headers`` added to its response) or
    ``refuse`` (jwtguard answers: ``status``, ``headers``, ``body``).
    ``headers`` are ``str`` pairs for WSGI; ``raw_headers`` the same pairs as
    lower-case bytes for ASGI. ``user_enabled`` is what
    ``X-User-Enabled`` says, or None when it is not sent.
    """

    kind: Kind
    reason: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    user_enabled: bool | None = None
    claims: Mapping[str, Any] | None = None
    user_id: UserId | None = None

    @property
    def status_line(self) -> str:
        """The WSGI status line of a refusal."""
        return _STATUS_LINES[self.status] if self.status is not None else ""

    @property
    def error(self) -> str | None:
        """The body's ``error`` code of a refusal."""
        return REASONS[self.reason].error if self.kind == "refuse" else None

    @property
    def passes(self) -> bool:
        """Whether the request reaches the app (exempt, anonymous or accepted)."""
        return self.kind != "refuse"


EXEMPT: Final = Decision("exempt", "exempt")
#: ``JWTGUARD_MODE=optional``: a request without Bearer credentials, passed with no claims.
ANONYMOUS: Final = Decision("anonymous", "anonymous")


def _raw(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers)


def refusal(
    name: str,
    *,
    realm: str,
    retry_after: int,
    clear_site_data: bool,
    set_cookies: tuple[str, ...] = (),
    schemes: tuple[str, ...] = ("Bearer",),
    algs: str = "",
) -> Decision:
    """The complete answer for the reason *name*, built from :data:`REASONS`.

    *set_cookies* are ``Set-Cookie`` values to add (cookie mode's expiries). *schemes*: the
    challenges offered, in one ``WWW-Authenticate`` field (RFC 9110 §11.6.1); the first carries
    the error (the scheme the request used), the others are offered bare: ``("Bearer", "DPoP")``
    under ``JWTGUARD_DPOP=allow`` (RFC 9449 §7.2), ``("DPoP",)`` under ``require``. A ``DPoP``
    challenge names the proof algorithms, *algs* (space-separated, §7.1).
    """
    reason = REASONS[name]
    body = json.dumps({"error": reason.error, "reason": reason.body_reason or name}, separators=(",", ":")).encode()
    headers: tuple[tuple[str, str], ...] = (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    )
    if reason.challenge != "none":
        offered = [f'{scheme} realm="{realm}"' + (f', algs="{algs}"' if scheme == "DPoP" else "") for scheme in schemes]
        if reason.challenge == "error":
            offered[0] += f', error="{reason.error}", error_description="{reason.description}"'
        headers += (("WWW-Authenticate", ", ".join(offered)),)
    if reason.user_enabled is not None:
        headers += (("X-User-Enabled", "true" if reason.user_enabled else "false"),)
    if reason.clears and clear_site_data:
        headers += (("Clear-Site-Data", '"storage"'),)
    if reason.retry:
        headers += (("Retry-After", str(retry_after)),)
    headers += tuple(("Set-Cookie", value) for value in set_cookies)
    return Decision("refuse", name, reason.status, headers, _raw(headers), body, reason.user_enabled)


def with_headers(decision: Decision, headers: tuple[tuple[str, str], ...]) -> Decision:
    """*decision* with *headers* added (both forms): a per-request answer, such as a DPoP nonce."""
    return replace(decision, headers=decision.headers + headers, raw_headers=decision.raw_headers + _raw(headers))


#: What an accepted request's response gains.
SIGNAL: Final = (("X-User-Enabled", "true"),)
RAW_SIGNAL: Final = _raw(SIGNAL)

#: What expose_signal compares and writes: (expose name, allow-origin name, signal name, "*",
#: the suffix for an existing expose field, a new expose field); the bytes form is the str one encoded.
_CORS_TEXT: Final = (
    "access-control-expose-headers",
    "access-control-allow-origin",
    "x-user-enabled",
    "*",
    ", X-User-Enabled",
    ("Access-Control-Expose-Headers", "X-User-Enabled"),
)
_CORS: Final[dict[type, tuple[Any, ...]]] = {
    str: _CORS_TEXT,
    bytes: (*(text.encode() for text in _CORS_TEXT[:5]), (b"access-control-expose-headers", b"X-User-Enabled")),
}


def expose_signal(headers: list[tuple[AnyStr, AnyStr]], kind: type[AnyStr]) -> None:
    """Let cross-origin scripts read ``X-User-Enabled`` when the app answers with CORS.

    *headers* is the app's response header list (``str`` pairs under WSGI,
    ``bytes`` under ASGI: *kind* says which); it is changed in place. An
    existing ``Access-Control-Expose-Headers`` gains ``X-User-Enabled`` unless
    it lists it or ``*``; a CORS answer without one gets one.
    """
    expose, allow_origin, signal, star, suffix, field = _CORS[kind]
    cors = False
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == expose:
            if signal not in value.lower() and value.strip() != star:
                headers[index] = (name, value + suffix)
            return
        if lowered == allow_origin:
            cors = True
    if cors:
        headers.append(field)
