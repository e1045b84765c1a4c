"""What the store says about a user, read by one set of rules for every store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from bson import DatetimeMS

from ..config import Settings

#: The key under which a store hands over jwtguard's own cut-off records with a document.
CUTOFF_RECORDS: Final = "$jwtguard.cutoffs"
#: The key a store sets in place of a document it could not decode.
UNREADABLE: Final = "$jwtguard.unreadable"

#: ``datetime``'s range in epoch milliseconds (year 1 to 9999, UTC): a stored
#: date outside it has no ``datetime`` and reads as unreadable.
_MIN_DATETIME_MS: Final = -62_135_596_800_000
_MAX_DATETIME_MS: Final = 253_402_300_799_999

#: A stored number above this is taken as milliseconds (JavaScript ``Date.now()``):
#: as seconds it would be a date after the year 5000.
_MILLISECONDS_ABOVE: Final = 1e11


@dataclass(frozen=True, slots=True)
class UserState:
    """What the store says about one user: the latest not-before time and the admin switch.

    ``not_before`` is in epoch seconds. ``malformed`` marks a stored value
    jwtguard cannot read; such a user's tokens are refused (fail closed).
    ``unreadable`` names what could not be read, for the log (never a value).
    """

    not_before: float | None = None
    enabled: bool = True
    malformed: bool = False
    unreadable: str | None = field(default=None, compare=False)


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
