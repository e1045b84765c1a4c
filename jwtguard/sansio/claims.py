"""Verified tokens and the rules on their claims: types, dates, lifetime, staleness."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..userid import UserId, UserKey
from .decision import Decision

#: NumericDates that a datetime can represent (RFC 7519 §2): 0001-01-01 to 9999-12-31 UTC.
EARLIEST_DATE: Final = -62_135_596_800
LATEST_DATE: Final = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Verified:
    """A token whose signature, audience and issuer checked out, and what jwtguard read from it.

    ``claims`` are frozen (:func:`freeze`): the same object serves every
    request with this token while it is cached. ``key`` is the user's
    canonical id (:func:`jwtguard.userid.user_key`), computed once. ``accept``
    is the decision every accepted request with this token gets, built once.
    """

    claims: Mapping[str, Any]
    user_id: UserId
    iat: float
    exp: float
    nbf: float | None
    key: UserKey
    accept: Decision
    #: The token's id (``jti``), session (``sid``) and version (``JWTGUARD_VERSION_CLAIM``), when it has them.
    jti: str | None = None
    sid: str | None = None
    version: int | None = None
    #: Issued by jwtguard's own sessions (``JWTGUARD_SESSIONS`` and ``iss`` is ``JWTGUARD_ISSUER``):
    #: its ``sid`` must name a live session of jwtguard's.
    own: bool = False


def time_claim(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim's value as given, or None when absent; ValueError for anything that is no date.

    An ``int`` stays an ``int``: its resolution decides :func:`is_stale`.
    NumericDates no ``datetime`` can represent (before the year 1, after 9999:
    ``1e400``, ``-10**18``, hundreds of digits) are no dates at all.
    """
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


def time_claim_fails(name: str, value: float, now: float, leeway: float) -> bool:
    """Whether the time claim *name* (``exp``, ``nbf``, ``iat``) refuses its token at *now*.

    RFC 7519 §4.1.4: expired at or after ``exp`` (less the leeway); §4.1.5: not
    valid before ``nbf``; an ``iat`` in the future is refused too. The one rule,
    for the engine's flow and for ``explain``'s rows alike.
    """
    if name == "exp":
        return value <= now - leeway
    return value > now + leeway


def time_reason(verified: Verified, now: float, leeway: float) -> str | None:
    """Why the token's time claims refuse it at *now* (``expired``, ``invalid``), or None.

    Checked on every request, cached verification or not: :func:`time_claim_fails`'s rules,
    written out here because every request runs them (a test holds the two to one answer).
    """
    if verified.exp <= now - leeway:
        return "expired"
    if verified.iat > now + leeway:
        return "invalid"  # issued in the future
    nbf = verified.nbf
    if nbf is not None and nbf > now + leeway:
        return "invalid"
    return None


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


def is_stale_token(version: int | None, iat: float, stored_version: int, not_before: float | None) -> bool:
    """The one staleness rule: a token is dead if **either** check says so.

    * its version (``tv``) is below the user's stored version (a token without
      one skips this check): a counter has no same-second window, no clock
      skew, and never refuses a token newer than a stale cache;
    * its ``iat`` is before the user's latest not-before date (:func:`is_stale`):
      for tokens jwtguard did not issue, apps that write ``destroyAnyJWTbefore``
      themselves and signals that carry only a time.

    Both stored values only ever move forward.
    """
    if version is not None and version < stored_version:
        return True
    return not_before is not None and is_stale(iat, not_before)


class FrozenDict(dict[str, Any]):
    """A read-only ``dict``: nested claim objects, shared by every request with the same token.

    It is a real ``dict`` subclass, so ``json.dumps`` and ``jsonify`` serialise it;
    every method that would change it raises ``TypeError``; ``.copy()`` is a plain ``dict``.
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
        for item in value.values():
            if isinstance(item, (dict, list)):
                return FrozenDict({key: freeze(item) for key, item in value.items()})
        return FrozenDict(value)  # flat (most payloads): one copy, no call per claim
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value
