"""What the store says about a user, read by one set of rules for every store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple

from bson import DatetimeMS

from ..config import Settings

#: The key under which a store hands over jwtguard's own cut-off records with a document.
CUTOFF_RECORDS: Final = "$jwtguard.cutoffs"
#: The key a store sets in place of a document it could not decode.
UNREADABLE: Final = "$jwtguard.unreadable"
#: The key under which a store hands over the user's records (:mod:`jwtguard.stores.records`).
RECORDS: Final = "$jwtguard.records"

#: Record kinds: the user's token version, a session, an ended session, a denied token id.
VERSION: Final = "version"
SESSION: Final = "session"
ENDED: Final = "ended"
DENIED: Final = "denied"
#: Issue 12, in the state table: a cut-off (tokens issued before ``at`` die), an account switch.
CUTOFF: Final = "cutoff"
ACCOUNT: Final = "account"
#: The source of an account switch made here, not by a provider (``jwtguard.sessions.signals.LOCAL``).
LOCAL_SOURCE: Final = "local"
KINDS: Final = frozenset({VERSION, SESSION, ENDED, DENIED, CUTOFF, ACCOUNT})

#: Longest ``jti`` and ``sid`` read from a token or a record: ids, not payloads.
MAX_ID_LENGTH: Final = 256
#: Token versions are 63-bit counters.
MAX_VERSION: Final = 2**63 - 1

#: ``datetime``'s range in epoch milliseconds (year 1 to 9999, UTC): a stored
#: date outside it has no ``datetime`` and reads as unreadable.
_MIN_DATETIME_MS: Final = -62_135_596_800_000
_MAX_DATETIME_MS: Final = 253_402_300_799_999

#: A stored number above this is taken as milliseconds (JavaScript ``Date.now()``):
#: as seconds it would be a date after the year 5000.
_MILLISECONDS_ABOVE: Final = 1e11


class Session(NamedTuple):
    """One of jwtguard's sessions as stored: when it began, its token version, when it lapses."""

    created: float
    version: int
    expires: float


@dataclass(frozen=True, slots=True)
class UserState:
    """What the store says about one user.

    ``not_before`` (epoch seconds): tokens issued before it are dead.
    ``enabled``: the admin switch. ``version``: the token version (``tv``);
    tokens and sessions of a lower version are dead. ``sessions``: jwtguard's
    sessions of the user by ``sid``, as stored (ended or outdated ones too:
    :func:`session_alive` judges them). ``ended``: jwtguard's ended session ids.
    ``provider_ended``: identity providers' ended sessions, ``(iss, sid)``.
    ``denied``: denied token ids (``jti``).
    ``malformed`` marks a stored value jwtguard cannot read; such a user's
    tokens are refused (fail closed). ``unreadable`` names what could not be
    read, for the log (never a value).
    """

    not_before: float | None = None
    enabled: bool = True
    malformed: bool = False
    unreadable: str | None = field(default=None, compare=False)
    version: int = 0
    sessions: Mapping[str, Session] = field(default_factory=dict)
    ended: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()
    provider_ended: frozenset[tuple[str, str]] = frozenset()


def session_alive(state: UserState, sid: str, now: float) -> bool:
    """Whether jwtguard's session *sid* of this user still lives at *now*.

    Dead when missing, ended, created before the user's latest cut-off, of a
    version below the user's, or lapsed (no refresh within ``JWTGUARD_REFRESH_TTL``):
    "log out everywhere" and single-session logins end every session without
    a write per session.
    """
    session = state.sessions.get(sid)
    if session is None or sid in state.ended or session.version < state.version or session.expires <= now:
        return False
    return state.not_before is None or session.created >= state.not_before


def user_state(document: Mapping[str, Any] | None, settings: Settings) -> UserState | None:
    """Read a user document (as stored, fields projected) into a :class:`UserState`.

    None for a user that does not exist. A missing enabled field means enabled
    (existing collections keep working); any present value other than ``true``
    disables. The cut-off is the latest of the configured not-before fields
    and of jwtguard's own cut-off records (the store hands them over under
    :data:`CUTOFF_RECORDS`), compared in epoch seconds after
    :func:`epoch_seconds`'s rules, never by stored type. A document the store
    could not decode (:data:`UNREADABLE`), or any value that
    :func:`epoch_seconds` cannot read, refuses the user's tokens.
    """
    if document is None:
        return None
    enabled = document.get(settings.enabled_field, True) is True
    if UNREADABLE in document:
        return UserState(enabled=enabled, malformed=True, unreadable=f"document ({document[UNREADABLE]})")
    values: list[tuple[str, object]] = [(name, document.get(name)) for name in settings.not_before_fields]
    values += [("a cut-off record", value) for value in document.get(CUTOFF_RECORDS, ())]
    latest: float | None = None
    for name, value in values:
        if value is None:
            continue
        seconds = epoch_seconds(value)
        if seconds is None:
            return UserState(enabled=enabled, malformed=True, unreadable=name)
        latest = seconds if latest is None else max(latest, seconds)
    records = document.get(RECORDS)
    if not records:
        return UserState(not_before=latest, enabled=enabled)
    read = _read_records(records)
    if isinstance(read, str):
        return UserState(enabled=enabled, malformed=True, unreadable=read)
    if read.cutoffs:
        latest = max(read.cutoffs) if latest is None else max(latest, *read.cutoffs)
    return UserState(
        not_before=latest,
        # An identity provider's enable never lifts a disable made here (the document's field),
        # nor the reverse: each source keeps its own switch, and both must say enabled.
        enabled=enabled and read.enabled(),
        version=read.version,
        sessions=read.sessions,
        ended=frozenset(read.ended),
        denied=frozenset(read.denied),
        provider_ended=frozenset(read.provider_ended),
    )


@dataclass
class _Records:
    """What a user's records say, as :func:`_read_records` gathers it."""

    version: int = 0
    sessions: dict[str, Session] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    provider_ended: set[tuple[str, str]] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    cutoffs: list[float] = field(default_factory=list)
    #: Account switches from identity providers: (at, enabled, purged).
    accounts: list[tuple[float, bool, bool]] = field(default_factory=list)
    #: Account switches made here for users with no document (source ``local``): (at, enabled, purged).
    local: list[tuple[float, bool, bool]] = field(default_factory=list)

    def enabled(self) -> bool:
        """What the switches say: in each source (the providers', the local admin's) the latest wins,
        a disable on a tie; both must say enabled; a provider's purge is for good."""
        if any(purged for _, _, purged in self.accounts):
            return False
        return _latest_enabled(self.accounts) and _latest_enabled(self.local)


def _latest_enabled(switches: list[tuple[float, bool, bool]]) -> bool:
    if not switches:
        return True
    latest = max(at for at, _, _ in switches)
    return all(enabled for at, enabled, _ in switches if at == latest)


def _read_records(records: Any) -> _Records | str:
    """The user's records read into a :class:`_Records`, or what could not be read.

    Any record of a known kind whose fields are not of their types makes the
    user's tokens refused (a record that revokes something must never be
    skipped because it was damaged).
    """
    read = _Records()
    for record in records:
        kind = record.get("kind")
        if kind == VERSION:
            tv = record.get("tv")
            if not is_version(tv):
                return "a version record"
            read.version = max(read.version, tv)
        elif kind == SESSION:
            sid, created, tv, expires = (record.get(name) for name in ("sid", "created", "tv", "expires"))
            if not (is_id(sid) and _is_time(created) and is_version(tv) and _is_time(expires)):
                return "a session record"
            read.sessions[sid] = Session(created, tv, expires)
        elif kind == ENDED:
            sid, iss = record.get("sid"), record.get("iss")
            if not is_id(sid) or (iss is not None and not isinstance(iss, str)):
                return "an ended record"
            if iss is None:
                read.ended.add(sid)
            else:  # an identity provider's session: its ids are the provider's, keyed by issuer
                read.provider_ended.add((iss, sid))
        elif kind == DENIED:
            jti = record.get("jti")
            if not is_id(jti):
                return "a denied-token record"
            read.denied.add(jti)
        elif kind == CUTOFF:
            at = record.get("at")
            if not _is_time(at):
                return "a cut-off record"
            read.cutoffs.append(at)
        elif kind == ACCOUNT:
            at, enabled, purged = record.get("at"), record.get("enabled"), record.get("purged", False)
            if not (_is_time(at) and isinstance(enabled, bool) and isinstance(purged, bool)):
                return "an account record"
            (read.local if record.get("source") == LOCAL_SOURCE else read.accounts).append((at, enabled, purged))
    return read


def is_id(value: object) -> bool:
    """A ``jti`` or ``sid``: a non-empty string of at most :data:`MAX_ID_LENGTH` characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def is_version(value: object) -> bool:
    """A token version: an integer (never a bool) from 0 to :data:`MAX_VERSION`."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_VERSION


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
