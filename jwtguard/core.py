"""The decisions, without I/O: header -> token -> claims, and claims + user state -> verdict.

Both adapters (:mod:`jwtguard.wsgi`, :mod:`jwtguard.asgi`) call the same
:class:`Guard`; they only read the request, load the user's state, and write
the response. Bad tokens are values (:class:`Rejection`), not exceptions.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final, TypeGuard

from bson import DatetimeMS
from cachetools import TTLCache

from .cache import StateCache
from .config import Settings
from .keys import KeySourceUnavailable
from .metrics import Metrics
from .stores.base import CUTOFF_RECORDS, UNREADABLE
from .tokens import TokenVerifier
from .userid import UserId, UserKey, user_key

logger = logging.getLogger("jwtguard")

#: ``datetime``'s range in epoch milliseconds (year 1 to 9999, UTC): a stored
#: date outside it has no ``datetime`` and reads as unreadable.
_MIN_DATETIME_MS = -62_135_596_800_000
_MAX_DATETIME_MS = 253_402_300_799_999

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: A second Bearer credential after a comma: two Authorization fields joined by a WSGI server.
_LATER_BEARER = re.compile(r",[ \t]*bearer(?:[ \t]|$)", re.IGNORECASE)

#: A stored number above this is taken as milliseconds (JavaScript ``Date.now()``):
#: as seconds it would be a date after the year 5000.
_MILLISECONDS_ABOVE = 1e11


@dataclass(frozen=True, slots=True)
class Rejection:
    """A finished answer to a request that may not pass.

    ``headers`` are ``str`` pairs for WSGI; ``raw_headers`` the same pairs as
    bytes for ASGI. ``user_enabled`` is what ``X-User-Enabled`` says, or None
    when the header is not sent.
    """

    status: int
    error: str
    reason: str
    headers: tuple[tuple[str, str], ...]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    user_enabled: bool | None = None

    @property
    def status_line(self) -> str:
        return _STATUS_LINES[self.status]


_STATUS_LINES: Final = {
    400: "400 Bad Request",
    401: "401 Unauthorized",
    431: "431 Request Header Fields Too Large",
    503: "503 Service Unavailable",
}

#: error_description texts (RFC 6750 §3): fixed phrases, never exception text.
_DESCRIPTIONS: Final = {
    "expired": "The access token expired",
    "invalid": "The access token is invalid",
    "revoked": "The access token was revoked",
    "disabled": "The account is disabled",
    "unknown_user": "The account does not exist",
    "malformed": "The Authorization header is malformed",
    "multiple_credentials": "Only one Bearer credential is allowed",
    "header_too_large": "The Authorization header is too large",
}


@dataclass(frozen=True, slots=True)
class Verified:
    """A token whose signature, audience and issuer checked out, and the claims jwtguard reads."""

    claims: Mapping[str, Any]
    user_id: UserId
    iat: float
    exp: float
    nbf: float | None


@dataclass(frozen=True, slots=True)
class UserState:
    """What the store says about one user: the latest not-before time and the admin switch.

    ``not_before`` is in epoch seconds. ``malformed`` marks a stored value
    jwtguard cannot read; such a user's tokens are refused (fail closed).
    """

    not_before: float | None = None
    enabled: bool = True
    malformed: bool = False


def user_state(document: Mapping[str, Any] | None, settings: Settings) -> UserState | None:
    """Read a user document (as stored, fields projected) into a :class:`UserState`.

    None for a user that does not exist. A missing enabled field means enabled
    (existing collections keep working); any present value other than ``true``
    disables. The cut-off is the latest of the configured not-before fields
    and of jwtguard's own cut-off records (the store hands them over under
    :data:`~jwtguard.stores.base.CUTOFF_RECORDS`), compared in epoch seconds
    after :func:`epoch_seconds`'s rules, never by stored type. A document the
    store could not decode (:data:`~jwtguard.stores.base.UNREADABLE`), or any
    value that :func:`epoch_seconds` cannot read, refuses the user's tokens.
    """
    if document is None:
        return None
    enabled = document.get(settings.enabled_field, True) is True
    if UNREADABLE in document:
        logger.warning("jwtguard: a user document could not be decoded (%s); refusing its tokens", document[UNREADABLE])
        return UserState(enabled=enabled, malformed=True)
    values: list[tuple[str, object]] = [(name, document.get(name)) for name in settings.not_before_fields]
    values += [("a cut-off record", value) for value in document.get(CUTOFF_RECORDS, ())]
    latest: float | None = None
    for name, value in values:
        if value is None:
            continue
        seconds = epoch_seconds(value)
        if seconds is None:
            logger.warning("jwtguard: user %r has an unreadable %s; refusing its tokens", document.get("_id"), name)
            return UserState(enabled=enabled, malformed=True)
        latest = seconds if latest is None else max(latest, seconds)
    return UserState(not_before=latest, enabled=enabled)


def epoch_seconds(value: object) -> float | None:
    """A stored cut-off in epoch seconds, or None when it is unreadable.

    The reading rules, shared by every store and every write that compares
    cut-offs: a ``datetime`` (naive means UTC, never local time); a BSON date
    beyond ``datetime``'s years (``DatetimeMS``, as the driver hands it over
    with ``datetime_conversion=DATETIME_AUTO``) is unreadable; a finite number
    is seconds, or milliseconds when above 1e11 (JavaScript ``Date.now()``).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # BSON dates are UTC; a driver without tz_aware hands them over naive.
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, DatetimeMS):
        milliseconds = int(value)
        # A date Python cannot represent: reading it as a time would be a guess.
        return milliseconds / 1000 if _MIN_DATETIME_MS <= milliseconds <= _MAX_DATETIME_MS else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float: no date at all
            return None
        if math.isfinite(seconds):
            return seconds / 1000 if seconds > _MILLISECONDS_ABOVE else seconds
    return None


def valid_user_id(user_id: object, max_length: int | None = None) -> TypeGuard[UserId]:
    """Whether *user_id* is an id at all (see :func:`jwtguard.userid.user_key`, type ``auto``).

    Only plain strings (printable, non-empty, at most *max_length* characters)
    and 64-bit integers: never an object such as ``{"$ne": null}``, a list, a
    bool, or a float.
    """
    return user_key(user_id, "auto", max_length) is not None


def is_stale(iat: float, not_before: float) -> bool:
    """True when a token issued at *iat* is older than the cut-off *not_before*.

    The comparison is at the resolution the token declares. An integer ``iat``
    (a whole-second issuer, RFC 7519 §2 NumericDate) is compared with the
    cut-off truncated to the second, so a token minted in the same second as
    the cut-off passes (a documented window under one second). A JSON number
    with a fraction or a decimal point (``1800000000.0``, as
    :func:`jwtguard.tokens.issue_token` writes even when its millisecond
    ``iat`` lands on a whole second) compares exactly.
    """
    if isinstance(iat, int):
        return iat < math.floor(not_before)
    return iat < not_before


#: NumericDates that a datetime can represent (RFC 7519 §2): 0001-01-01 to 9999-12-31 UTC.
EARLIEST_DATE: Final = -62_135_596_800
LATEST_DATE: Final = 253_402_300_799


def _time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim's value, or None when absent; ValueError for anything that is no date."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(name)
    # Compared as given: an int of hundreds of digits compares with these bounds without
    # overflowing; NaN compares false with both.
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(name)
    return value


class FrozenDict(dict[str, Any]):
    """A read-only ``dict``: nested claim objects, shared by every request with the same token.

    It is a real ``dict`` subclass, so ``json.dumps`` and ``jsonify`` serialise it;
    every method that would change it raises ``TypeError``.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("jwtguard claims are read-only; copy them (dict(...)) to change them")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle build a new one from a plain dict instead of item by item.
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def freeze(value: Any) -> Any:
    """*value* with every nested list made a tuple and every object a :class:`FrozenDict`.

    JSON values only (what a JWT payload decodes to); other values are returned as they are.
    """
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def is_preflight(method: str, origin: str | None, request_method: str | None) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` (Fetch §3.2.2).

    Only these pass the guard untouched by default: any other ``OPTIONS``
    request is authenticated like every other method.
    """
    return method == "OPTIONS" and bool(origin) and bool(request_method)


class Guard:
    """The policy: which requests pass, and the exact answer to those that don't.

    Build once per middleware; every answer that does not depend on the
    request is built here, in ``__init__``. Verified tokens are remembered
    (up to ``cache_maxsize``, for ``token_cache_ttl`` seconds), so a repeat
    request skips the signature check but never the time checks.

    :param settings: the validated settings.
    :param verifier: defaults to a :class:`~jwtguard.tokens.TokenVerifier` of *settings*.
    :param timer: monotonic seconds for every cache and the JWKS key source
        (tests pass a fake clock; wall-clock time is the adapters' ``clock``).

    Security: ``token_cache_ttl`` bounds how long a signature checked with a
    key the JWKS has since dropped still passes: a removed key stops
    verifying within ``jwks_lifespan + token_cache_ttl`` seconds.
    """

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier | None = None,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.verifier = verifier or TokenVerifier(settings, timer=timer)
        self._leeway = settings.leeway
        self._max_header = settings.max_header_bytes
        self._max_user_id = settings.max_user_id_length
        self._user_id_type = settings.user_id_type
        self._user_claim = settings.user_claim
        self._exempt_methods = frozenset(settings.exempt_methods)
        # "/login" exempts "/login" and "/login/..."; "/static/" exempts what is under it.
        self._exempt_exact = frozenset(p for p in settings.exempt_paths if p == "/" or not p.endswith("/"))
        self._exempt_prefixes = tuple(
            p if p.endswith("/") else p + "/" for p in settings.exempt_paths if p != "/"
        )
        # A zero token_cache_ttl means: check every signature, remember none.
        self._remember_tokens = settings.token_cache_ttl > 0
        self._verified: TTLCache[str, Verified] = TTLCache(
            maxsize=settings.cache_maxsize, ttl=settings.token_cache_ttl or 1, timer=timer
        )
        self._lock = threading.Lock()
        #: User states by canonical id (:meth:`user_key`): adapters load through it (``load``/``aload``).
        self.states: StateCache[UserState | None] = StateCache(
            maxsize=settings.cache_maxsize,
            ttl=settings.cache_ttl,
            keep_last_known=settings.on_store_error == "stale",
            timer=timer,
        )
        #: Counters for operators (see :mod:`jwtguard.metrics`).
        self.metrics = Metrics(self.states, self._verified)
        self._store_down = False
        self._max_lifetime = settings.max_token_lifetime
        if self._exempt_methods:
            logger.warning(
                "jwtguard: JWTGUARD_EXEMPT_METHODS=%s: every request with these methods reaches the app "
                "WITHOUT a token, on every route that accepts them (CORS preflights pass without it)",
                ",".join(sorted(self._exempt_methods)),
            )
        if settings.on_store_error == "allow":
            logger.warning(
                "jwtguard: JWTGUARD_ON_STORE_ERROR=allow: while the store is unreachable, revoked and "
                "disabled users' tokens are ACCEPTED. Do not use this where revocation matters."
            )

        realm = f'Bearer realm="{settings.realm}"'
        self.missing = self._rejection(401, "unauthorized", "missing_token", challenge=realm)
        self.malformed = self._request_error(400, "malformed", realm)
        self.multiple = self._request_error(400, "multiple_credentials", realm)
        self.too_large = self._request_error(431, "header_too_large", realm)
        self.invalid = self._token_error("invalid", realm)
        self.expired = self._token_error("expired", realm)
        self.revoked = self._token_error("revoked", realm, clear=True)
        self.disabled = self._token_error("disabled", realm, user_enabled=False, clear=True)
        self.unknown_user = self._token_error("unknown_user", realm, user_enabled=False, clear=True)
        # No X-User-Enabled here: a database blip must not log everyone out.
        self.store_unavailable = self._rejection(
            503, "temporarily_unavailable", "store_unavailable", extra=(("Retry-After", str(settings.retry_after)),)
        )
        # Nor here: an identity-provider blip says nothing about the token or the user.
        self.key_source_unavailable = self._rejection(
            503,
            "temporarily_unavailable",
            "key_source_unavailable",
            extra=(("Retry-After", str(settings.retry_after)),),
        )

    # -- building answers -------------------------------------------------------

    def _token_error(
        self, reason: str, realm: str, *, user_enabled: bool | None = None, clear: bool = False
    ) -> Rejection:
        challenge = f'{realm}, error="invalid_token", error_description="{_DESCRIPTIONS[reason]}"'
        extra: tuple[tuple[str, str], ...] = ()
        if user_enabled is not None:
            extra += (("X-User-Enabled", "true" if user_enabled else "false"),)
        if clear and self.settings.clear_site_data:
            extra += (("Clear-Site-Data", '"storage"'),)
        return self._rejection(
            401, "invalid_token", reason, challenge=challenge, extra=extra, user_enabled=user_enabled
        )

    def _request_error(self, status: int, reason: str, realm: str) -> Rejection:
        challenge = f'{realm}, error="invalid_request", error_description="{_DESCRIPTIONS[reason]}"'
        return self._rejection(status, "invalid_request", reason, challenge=challenge)

    @staticmethod
    def _rejection(
        status: int,
        error: str,
        reason: str,
        *,
        challenge: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
        user_enabled: bool | None = None,
    ) -> Rejection:
        body = json.dumps({"error": error, "reason": reason}, separators=(",", ":")).encode()
        headers: tuple[tuple[str, str], ...] = (
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        )
        if challenge is not None:
            headers += (("WWW-Authenticate", challenge),)
        headers += extra
        raw = tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers)
        return Rejection(status, error, reason, headers, raw, body, user_enabled)

    # -- the request ------------------------------------------------------------

    def is_exempt(self, path: str, method: str, *, preflight: bool = False) -> bool:
        """True for requests that pass untouched: CORS preflights, exempt methods and paths.

        *preflight* is :func:`is_preflight` of the request (a preflight carries no
        credentials, Fetch §3.2.2).
        """
        if preflight or method in self._exempt_methods:
            return True
        if path in self._exempt_exact:
            return True
        if self._exempt_prefixes and path.startswith(self._exempt_prefixes):
            # "/static/../api" must not ride on the "/static/" exemption.
            return "/." not in path or not any(seg in (".", "..") for seg in path.split("/"))
        return False

    def authenticate(self, values: list[str], now: float, *, cached_only: bool = False) -> Verified | Rejection | None:
        """Read the ``Authorization`` header values and verify the Bearer token.

        *values* holds every ``Authorization`` field of the request (WSGI
        servers join repeated fields with commas; ASGI lists each one). With
        *cached_only*, a token that would need a signature check returns None
        (the ASGI adapter then verifies in a thread when keys come over HTTP).
        """
        if len(values) != 1:
            # None at all, or more than one method (RFC 6750 §3.1).
            return self._early(self.missing if not values else self.multiple)
        value = values[0]
        # Bounded before any decoding; the bound holds for str and bytes alike.
        if len(value) > self._max_header:
            return self._early(self.too_large)
        token = self._bearer_token(value)
        if isinstance(token, Rejection):
            return self._early(token)
        try:
            with self._lock:  # a TTLCache lookup reorders it: not thread-safe bare
                verified = self._verified[token]
            self.metrics.token_cache_hits += 1
        except KeyError:
            if cached_only:
                return None
            self.metrics.token_cache_misses += 1
            # Only tokens that passed this check are ever cached: a hit needs no regex.
            if _TOKEN68.fullmatch(token) is None:
                return self._early(self.malformed)
            result = self._verify(token)
            if isinstance(result, Rejection):
                return self._early(result)
            verified = result
            if self._remember_tokens:
                with self._lock:
                    self._verified[token] = verified
        result = self._check_times(verified, now)
        if isinstance(result, Rejection):
            self.metrics.reject(result.reason)
            logger.debug("jwtguard: rejected (%s) for user %r", result.reason, verified.user_id)
        return result

    def _early(self, rejection: Rejection) -> Rejection:
        self.metrics.reject(rejection.reason)
        logger.debug("jwtguard: rejected (%s) before any user lookup", rejection.reason)
        return rejection

    def _bearer_token(self, value: str) -> str | Rejection:
        # RFC 9110 §11.4: credentials = auth-scheme [ 1*SP token68 ]
        value = value.strip(" ")
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "bearer":
            if scheme[:6].lower() == "bearer" and (len(scheme) == 6 or not scheme[6].isalnum()):
                return self.malformed  # "Bearer\t<token>", "Bearer,<token>"
            if _LATER_BEARER.search(value):
                return self.multiple  # "Basic ..., Bearer ...": two fields joined (RFC 6750 §3.1)
            # Another scheme (Basic, Digest...): no Bearer credentials at all,
            # so no error code (RFC 6750 §3.1).
            return self.missing
        token = rest.lstrip(" ")
        if not token:
            return self.malformed
        if " " in token or "," in token:
            return self.multiple
        return token

    def _verify(self, token: str) -> Verified | Rejection:
        try:
            header, claims = self.verifier.verify(token)
            if "crit" in header:
                # RFC 7515 §4.1.11: extensions jwtguard does not implement.
                return self.invalid
            user_id = claims[self._user_claim]
            if not self.valid_user_id(user_id):
                return self.invalid
            iat = _time_claim(claims, "iat")
            exp = _time_claim(claims, "exp")
            nbf = _time_claim(claims, "nbf")
        except KeySourceUnavailable as exc:
            # Not a verdict on the token: 503, nothing cached, no logout signal.
            logger.debug("jwtguard: token not checked: %s", exc)
            return self.key_source_unavailable
        except Exception as exc:  # every failure of hostile input is a 401, never a 500
            logger.debug("jwtguard: token rejected: %s", type(exc).__name__)
            return self.invalid
        assert iat is not None and exp is not None  # required by the verifier
        if self._max_lifetime is not None and exp - iat > self._max_lifetime:
            logger.debug("jwtguard: token rejected: lifetime above JWTGUARD_MAX_TOKEN_LIFETIME")
            return self.invalid
        # Frozen once: the nested values are shared by every request with this token,
        # and each request gets a shallow plain dict of them (see :meth:`claims_for`).
        return Verified(freeze(claims), user_id, iat, exp, nbf)

    @staticmethod
    def claims_for(verified: Verified) -> dict[str, Any]:
        """The claims one request sees: a plain ``dict`` of its own over frozen nested values.

        Nothing a request does to it reaches another request; nested lists are
        tuples and nested objects :class:`FrozenDict` (read-only), so no deep copy
        per request is needed. JSON-serialisable as it is.
        """
        return dict(verified.claims)

    def valid_user_id(self, user_id: object) -> bool:
        """Whether *user_id* may reach a store query under these settings (see :meth:`user_key`)."""
        return self.user_key(user_id) is not None

    def user_key(self, user_id: object) -> UserKey | None:
        """The canonical id of *user_id* under ``JWTGUARD_USER_ID_TYPE``: the state cache's key.

        None when the claim names nobody under these settings (the token is
        refused as ``invalid`` before any query).
        """
        return user_key(user_id, self._user_id_type, self._max_user_id)

    def _check_times(self, verified: Verified, now: float) -> Verified | Rejection:
        leeway = self._leeway
        if verified.exp <= now - leeway:
            return self.expired
        if verified.iat > now + leeway:
            return self.invalid  # issued in the future
        if verified.nbf is not None and verified.nbf > now + leeway:
            return self.invalid
        return verified

    def decide(self, verified: Verified, state: UserState | None) -> Rejection | None:
        """The verdict on a verified token given its user's state; None means accept."""
        if state is None:
            rejection = self.unknown_user
        elif state.malformed:
            rejection = self.revoked
        elif not state.enabled:
            rejection = self.disabled
        elif state.not_before is not None and is_stale(verified.iat, state.not_before):
            rejection = self.revoked
        else:
            self.metrics.accepted += 1
            return None
        self.metrics.reject(rejection.reason)
        logger.debug("jwtguard: rejected (%s) for user %r", rejection.reason, verified.user_id)
        return rejection

    def read_state(self, document: Mapping[str, Any] | None) -> UserState | None:
        """Turn what the store answered into a state; notes that the store is back."""
        if self._store_down:
            self._store_down = False
            logger.warning("jwtguard: the store answers again")
        return user_state(document, self.settings)

    def store_failed(self, verified: Verified, error: Exception) -> Rejection | None:
        """The verdict when the store could not answer, by ``JWTGUARD_ON_STORE_ERROR``.

        ``reject``: 503. ``stale``: the last state loaded in this process, while
        younger than ``JWTGUARD_STALE_MAX_AGE``, then 503. ``allow``: accept.
        """
        if not self._store_down:
            self._store_down = True
            logger.warning("jwtguard: the store is unreachable (%s)", error)
        policy = self.settings.on_store_error
        if policy == "allow":
            self.metrics.accepted += 1
            return None
        if policy == "stale":
            key = self.user_key(verified.user_id)
            known = None if key is None else self.states.last_known(key, self.settings.stale_max_age)
            if known is not None:
                return self.decide(verified, known[0])
        self.metrics.reject(self.store_unavailable.reason)
        logger.debug("jwtguard: rejected (store_unavailable) for user %r", verified.user_id)
        return self.store_unavailable

    def forget_tokens(self) -> None:
        """Drop remembered verifications (after a key rotation, say)."""
        with self._lock:
            self._verified.clear()
