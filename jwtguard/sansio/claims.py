"""Verified tokens and the rules on their claims: token types, dates, lifetime, staleness."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from ..config import TOKEN_TYPE_SYNTAX
from ..userid import UserId, UserKey
from .decision import Decision

#: NumericDates that a datetime can represent (RFC 7519 §2): 0001-01-01 to 9999-12-31 UTC.
EARLIEST_DATE: Final = -62_135_596_800
LATEST_DATE: Final = 253_402_300_799


class ProviderSession(NamedTuple):
    """An identity provider's session, as its tokens name it: the issuer and its ``sid``.

    The key of the guard's own lookup of a session ended by a back-channel logout
    token that names no ``sub`` (OpenID Back-Channel Logout 1.0 §2.4), cached like a
    user's state and evicted by the feed's event for it.
    """

    iss: str
    sid: str


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
    #: Another issuer's token with a ``sid``: its provider session, looked up on its own.
    provider_session: ProviderSession | None = None
    #: ``cnf.jkt`` (RFC 9449 §6.1): the thumbprint of the key a DPoP-bound token is bound to.
    jkt: str | None = None


# -- the token-type rule ---------------------------------------------------------------

#: Header types of JWTs that are never access tokens, however they are signed: an OpenID Connect
#: back-channel logout token (Back-Channel Logout 1.0 §2.4), a Security Event Token (RFC 8417
#: §2.3, what Shared Signals pushes) and a DPoP proof (RFC 9449 §4.2). An identity provider signs
#: them with the keys that sign its access tokens, for the same audience: without this rule a
#: logout token would log its user *in* (RFC 8725 §3.11: explicit typing).
NOT_ACCESS_TOKEN_TYPES: Final = frozenset({"logout+jwt", "secevent+jwt", "dpop+jwt"})

#: RFC 9068 §2.1: the header type of a JWT access token.
ACCESS_TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - a media type, not a credential


def media_type(typ: str) -> str:
    """A header ``typ`` as compared: lower case, without an ``application/`` prefix.

    RFC 7515 §4.1.9: ``typ`` is a media type, compared case-insensitively (RFC 2045), and
    ``JWT`` means ``application/JWT``; RFC 9068 §2.1 and RFC 8417 §2.3 allow both spellings.
    """
    lowered = typ.lower()
    return lowered[len("application/") :] if lowered.startswith("application/") else lowered


@dataclass(frozen=True, slots=True)
class TokenType:
    """``JWTGUARD_TOKEN_TYPE`` as a rule: what a verified token must carry to count as an access token.

    ``header`` is the ``typ`` (as :func:`media_type` reads it) the header must have, or None
    when any will do; ``claim`` and ``value`` a payload claim that must be that string (or one of
    the strings ``value`` lists between ``|``: ``Bearer|DPoP``), or None.
    """

    header: str | None = None
    claim: str | None = None
    value: str | None = None
    #: The strings *value* allows (``Bearer|DPoP``: either; Keycloak types a DPoP-bound token ``DPoP``).
    values: frozenset[str] = field(init=False, default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", frozenset(self.value.split("|")) if self.value is not None else frozenset())

    @classmethod
    def parse(cls, text: str) -> TokenType:
        """The rule of a ``JWTGUARD_TOKEN_TYPE`` value (``any``, ``at+jwt``, ``claim:NAME=VALUE``).

        :raises ValueError: for any other text (:class:`~jwtguard.config.Settings` refuses it first).
        """
        match = TOKEN_TYPE_SYNTAX.fullmatch(text)
        if match is None:
            raise ValueError("JWTGUARD_TOKEN_TYPE accepts any, at+jwt or claim:NAME=VALUE")
        if text == ACCESS_TOKEN_TYPE:
            return cls(header=ACCESS_TOKEN_TYPE)
        return cls(claim=match.group(1), value=match.group(2))  # both None for "any"

    def stamp(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Copies of *header* and *claims* with what this rule asks for set: a token it accepts.

        For the guard's own what-if answers (``jwtguard status``), never for a real token.
        """
        header, claims = dict(header), dict(claims)
        if self.header is not None:
            header["typ"] = self.header
        if self.claim is not None and self.value is not None:
            claims[self.claim] = self.value.split("|")[0]
        return header, claims


#: ``JWTGUARD_TOKEN_TYPE=any``: the header and payload are only screened for tokens that are never
#: access tokens.
ANY_TOKEN_TYPE: Final = TokenType()


def is_access_token(header: Mapping[str, Any], claims: Mapping[str, Any], rule: TokenType = ANY_TOKEN_TYPE) -> bool:
    """The token-type rule: whether a verified token may be taken for an access token.

    Never one, whatever *rule* says: a header ``typ`` of :data:`NOT_ACCESS_TOKEN_TYPES`
    (case-insensitive, ``application/`` optional), a ``typ`` that is no string (RFC 7515
    §4.1.9: it is one), or an ``events`` claim of any value (logout tokens and Security Event
    Tokens carry one, access tokens never do). Then *rule*: RFC 9068's header ``typ``
    (``at+jwt`` or ``application/at+jwt``), or the payload claim *rule.claim* equal to the
    string *rule.value*, or to one of its ``|``-separated strings (a claim of another type never
    matches).
    """
    typ = header.get("typ")
    if typ is not None:
        if type(typ) is not str:
            return False
        typ = media_type(typ)
        if typ in NOT_ACCESS_TOKEN_TYPES:
            return False
    if "events" in claims:
        return False
    if rule.header is not None and typ != rule.header:
        return False
    if rule.claim is not None:
        value = claims.get(rule.claim)
        return type(value) is str and value in rule.values
    return True


# -- time claims --------------------------------------------------------------------------


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
