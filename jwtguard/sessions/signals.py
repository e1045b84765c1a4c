"""What identity providers and the standard endpoints say about users, written once as flows (issue 12).

Back-channel logout, shared signals (CAEP, RISC), global token revocation and
RFC 7009 revocation of other issuers' tokens all end in one of the records
below, in jwtguard's own state table (``JWTGUARD_STATE_COLLECTION``), keyed by
the issuer and the user (its ``sub``, read as ``JWTGUARD_USER_ID_TYPE`` says):
jwtguard never writes into the users collection for a provider's users. Each
is read with the user's state (:func:`jwtguard.sansio.state.user_state`).

As every flow of :mod:`jwtguard.sessions.flows`: an insert under an id that
names what it revokes, so a signal delivered twice (providers retry) makes one
record, and the feed's event is written first (:func:`announce`), so every
process forgets the user before the change can be read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..config import Settings
from ..sansio.state import ACCOUNT, CUTOFF, DENIED, ENDED, LOCAL_SOURCE
from ..stores import records as r
from ..userid import UserId
from .flows import announce, record_lifetime

#: The source of the account switches and cut-offs an admin makes here (``jwtguard disable``,
#: :class:`~jwtguard.Admin`) for a user with no document: kept apart from the providers' switches.
LOCAL: Final = LOCAL_SOURCE

#: How long a processed signal's id is remembered: far beyond any retry schedule we know of
#: (RFC 8935 and OpenID back-channel logout leave retries to the transmitter).
SEEN_RETENTION: Final = 7 * 86400.0


def seen(iss: str, jti: str) -> r.RecordFlow[bool]:
    """Whether the signal *jti* of *iss* was processed already (a read: changes nothing)."""
    return (yield r.Get("state", r.seen_id(iss, jti))) is not None


def mark_seen(iss: str, jti: str, *, now: float) -> r.RecordFlow[bool]:
    """Note that the signal *jti* of *iss* was processed: True the first time only.

    Written after the signal's change, so a crash between the two makes the
    provider's retry do the (idempotent) change again, never skip it.
    """
    noted: bool = yield r.Insert(
        "state", {"_id": r.seen_id(iss, jti), "kind": "seen", "at": now, "expires": now + SEEN_RETENTION}
    )
    return noted


def _record(
    event: str,
    kind: str,
    iss: str,
    user_id: UserId | None,
    record_id: str | Callable[[str | int], str],
    *,
    now: float,
    settings: Settings,
    source: str,
    detail: Mapping[str, str] | None = None,
    **fields: Any,
) -> r.RecordFlow[bool]:
    """The one write every signal makes: the feed's *event* for the user first, then the record of
    *kind* under *record_id* (or ``record_id(ref)``) in the state table. True when this call inserted it (a signal
    delivered twice finds its record there). *user_id* None: a record no user's state reads (an
    identity provider's session known by ``(iss, sid)`` alone)."""
    ref = None if user_id is None else r.ref_of(user_id, settings)
    yield from announce(ref, event, now=now, settings=settings, **(detail or {}))
    record: dict[str, Any] = {"kind": kind, "iss": iss, "source": source}
    if ref is None:
        assert isinstance(record_id, str)  # a record of nobody's is named by what it ends
        record["_id"] = record_id
    else:
        record.update(_id=record_id if isinstance(record_id, str) else record_id(ref), user=ref, user_id=user_id)
    inserted: bool = yield r.Insert("state", {**record, **fields})
    return inserted


def end_provider_session(
    iss: str, sid: str, user_id: UserId | None, *, now: float, settings: Settings, source: str
) -> r.RecordFlow[bool]:
    """End the identity provider's session ``(iss, sid)``: the tokens carrying that ``sid`` die.

    With *user_id*, the record is read with that user's state; without (a back-channel logout
    token with ``sid`` and no ``sub``), by the guard's own lookup of ``(iss, sid)``
    (:func:`provider_session_ended`), and the feed's event names the session instead of a user.
    True when this call ended it, False when it was ended already.
    """
    ended: bool = yield from _record(
        "provider_logout",
        ENDED,
        iss,
        user_id,
        r.provider_ended_id(iss, sid),
        now=now,
        settings=settings,
        source=source,
        detail={"iss": iss, "sid": sid},
        sid=sid,
        at=now,
        expires=now + record_lifetime(settings),
    )
    return ended


def provider_session_ended(iss: str, sid: str) -> r.RecordFlow[bool]:
    """Whether the identity provider's session ``(iss, sid)`` was ended here (a read: changes nothing)."""
    return (yield r.Get("state", r.provider_ended_id(iss, sid))) is not None


def cut_off(
    iss: str, user_id: UserId, at: float, *, unique: str, now: float, settings: Settings, source: str
) -> r.RecordFlow[bool]:
    """Every token of *user_id* issued before *at* dies (a logout everywhere, a credential change).

    *unique*: the signal's own id (its ``jti``), so the same signal twice is
    one record. True when this call recorded it.
    """
    recorded: bool = yield from _record(
        "provider_cutoff",
        CUTOFF,
        iss,
        user_id,
        lambda ref: r.signal_id(CUTOFF, iss, ref, unique),
        now=now,
        settings=settings,
        source=source,
        at=at,
        # Once every token issued before it has expired, the record decides nothing.
        expires=max(at, now) + record_lifetime(settings),
    )
    return recorded


def set_account(
    iss: str,
    user_id: UserId,
    *,
    enabled: bool,
    at: float,
    unique: str,
    now: float,
    settings: Settings,
    source: str,
    purged: bool = False,
) -> r.RecordFlow[bool]:
    """A provider's account switch for *user_id* at *at* (RISC ``account-disabled`` / ``-enabled`` / ``-purged``).

    The latest switch of the providers wins; a purge is for good. None of them
    lifts a disable made here (``jwtguard disable``: the document's field),
    which keeps its own source. Kept until removed by hand: a disabled account
    stays disabled. True when this call recorded it.
    """
    recorded: bool = yield from _record(
        "provider_account",
        ACCOUNT,
        iss,
        user_id,
        lambda ref: r.signal_id(ACCOUNT, iss, ref, unique),
        now=now,
        settings=settings,
        source=source,
        enabled=enabled,
        purged=purged,
        at=at,
    )
    return recorded


def deny_token(
    iss: str, user_id: UserId, jti: str, *, expires: float, now: float, settings: Settings, source: str
) -> r.RecordFlow[bool]:
    """Refuse *user_id*'s token *jti* until *expires* (its own ``exp``): RFC 7009, the SSF ``jwt_id`` subject."""
    denied: bool = yield from _record(
        "revoke_token",
        DENIED,
        iss,
        user_id,
        lambda ref: r.denied_id(ref, jti),
        now=now,
        settings=settings,
        source=source,
        detail={"jti": jti},
        jti=jti,
        at=now,
        expires=max(expires, now),
    )
    return denied


def local_change(
    user_id: UserId, *, enabled: bool | None, cut_off_at: float | None, now: float, settings: Settings
) -> r.RecordFlow[bool]:
    """An admin's change for a user who has no document (``JWTGUARD_UNKNOWN_USERS=allow``: the users
    live in an identity provider), kept in the state table with the source :data:`LOCAL`.

    The app's users collection is never written for such a user. A local switch is judged apart
    from the providers' (:func:`jwtguard.sansio.state.user_state`): the latest local one and the
    latest provider one must both say enabled. False when unknown users are refused (then there is
    no such user).
    """
    if settings.unknown_users != "allow":
        return False
    iss = settings.issuer or ""
    unique = uuid.uuid4().hex
    if enabled is not None:
        yield from set_account(
            iss, user_id, enabled=enabled, at=now, unique=unique, now=now, settings=settings, source=LOCAL
        )
    if cut_off_at is not None:
        yield from cut_off(iss, user_id, cut_off_at, unique=unique, now=now, settings=settings, source=LOCAL)
    return True


#: The kind of a Shared Signals stream's record (:func:`note_stream`): no user's, read by no decision.
STREAM: Final = "stream"


def note_stream(iss: str, fields: Mapping[str, Any], *, now: float) -> r.RecordFlow[None]:
    """Note what the transmitter *iss* said about its stream: a verification event (its liveness,
    SSF 1.0 §8.1.4) or a new status (``stream-updated``, §8.1.5).

    One record per transmitter (``stream|<iss>``), its *fields* set on it: updates touch
    only this record, which no decision reads (a verification says nothing about a user).
    """
    record_id = r.stream_id(iss)
    if (yield r.Update("state", record_id, fields)):
        return
    if not (yield r.Insert("state", {"_id": record_id, "kind": STREAM, "iss": iss, "at": now, **fields})):
        yield r.Update("state", record_id, fields)  # another process inserted it first
