"""jwtguard's own records, and the store operations on them as values.

Sessions, refresh rotation, token versions and the per-token denylist are
written once, as pure *flows* (generators, see :mod:`jwtguard.sessions`) that
yield the operations below and are sent their answers; each store has one
executor for them (:meth:`MongoStore.run`, :meth:`SQLiteStore.run`,
:meth:`MemoryStore.run`, and their async twins).

Four tables (MongoDB collections), named by ``JWTGUARD_RECORDS_COLLECTION``,
``JWTGUARD_REFRESH_COLLECTION``, ``JWTGUARD_EVENTS_COLLECTION`` and ``JWTGUARD_STATE_COLLECTION``:

* ``records``: per-user records, loaded with the user's state in the same read
  (so a request still costs one store read per user per ``JWTGUARD_CACHE_TTL``):
  ``version`` (``tv``), ``session``, ``ended`` (a session), ``denied`` (a token id).
  On MongoDB the cut-off records of earlier releases (``{user, at}``, no
  ``kind``) live here too.
* ``refresh``: refresh-token hashes (``rt|``), their spent marks (``spent|``)
  and used one-time links (``link|``), looked up by id, never by user.
* ``events``: the invalidation feed (:mod:`jwtguard.feed`).
* ``state``: what identity providers and the standard endpoints said (issue 12),
  per user and issuer: ``ended`` provider sessions (``iss``, ``sid``), ``cutoff``
  records, ``account`` switches (with their source), ``denied`` token ids; read
  with the user's records, always (a process configured without a provider
  still refuses what one said); the ids of processed signals (``seen|``),
  looked up by id; and one ``stream`` record per Shared Signals transmitter
  (``stream|``: when it last verified the stream, its status), read by no decision.

The one atomic primitive on every store is an insert with a unique ``_id``
(FerretDB applies updates as read-modify-replace): every record that revokes
something is inserted under an id that says what it revokes, so a racing
write can neither undo it nor make two of it. Updates touch only fields no
decision rests on (a session's ``last_used``). Times are epoch seconds;
``expires`` is when a record stops mattering (pruned after it; never needed
for correctness).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Mapping
from typing import Any, Literal, NamedTuple, TypeVar

from ..config import Settings
from ..sansio.state import DENIED as DENIED
from ..sansio.state import ENDED as ENDED
from ..sansio.state import KINDS as KINDS
from ..sansio.state import RECORDS as RECORDS
from ..sansio.state import SESSION as SESSION
from ..sansio.state import VERSION as VERSION
from ..userid import UserId, UserKey, user_key
from .base import Change, Document

T = TypeVar("T")
Table = Literal["records", "refresh", "events", "state"]
Record = dict[str, Any]


class Get(NamedTuple):
    """The record with this id, or None."""

    table: Table
    id: str


class Insert(NamedTuple):
    """Insert *record* (its ``_id`` included): True, or False when that id exists (the atomic test-and-set)."""

    table: Table
    record: Record


class FindUser(NamedTuple):
    """Every record of kind in :data:`KINDS` that belongs to *user* (see :func:`user_ref`): in the
    records table and in the state table."""

    user: str | int


class Update(NamedTuple):
    """Set *fields* on the record with this id (never a field a decision rests on): True if it exists."""

    table: Table
    id: str
    fields: Mapping[str, Any]


class Delete(NamedTuple):
    """Delete the records with these ids (housekeeping)."""

    table: Table
    ids: tuple[str, ...]


class Prune(NamedTuple):
    """Delete the records whose ``expires`` is before *before* (housekeeping; a TTL index may do it too)."""

    table: Table
    before: float


class Since(NamedTuple):
    """The feed's events with ``at`` at or after *after*, oldest first, at most *limit* of them."""

    after: float
    limit: int = 1000


class LoadUser(NamedTuple):
    """The user's document as the guard reads it (:meth:`Store.load`), records included."""

    user_id: UserId


class ApplyUser(NamedTuple):
    """:meth:`Store.apply`: an admin change to the user's own state."""

    user_id: UserId
    change: Change


Operation = Get | Insert | FindUser | Update | Delete | Prune | Since | LoadUser | ApplyUser
#: A flow over records: yields operations, is sent their answers, returns its result.
RecordFlow = Generator[Operation, Any, T]


def user_ref(key: UserKey) -> str | int:
    """How records name their user: the canonical id (a 24-hex ObjectId as its lower-case hex string).

    The string ``"1"`` and the integer ``1`` stay two users, as in MongoDB.
    """
    return str(key.value).lower() if key.kind in ("objectid", "hex") else key.value


def ref_of(user_id: UserId, settings: Settings) -> str | int:
    """:func:`user_ref` of *user_id* under ``JWTGUARD_USER_ID_TYPE``; ValueError for an id that names nobody."""
    key = user_key(user_id, settings.user_id_type)
    if key is None:
        raise ValueError(f"user_id {user_id!r} is not a user id under JWTGUARD_USER_ID_TYPE={settings.user_id_type}")
    return user_ref(key)


def _ref_text(ref: str | int) -> str:
    # In record ids: "i:1" and "s:1" are two users.
    return f"i:{ref}" if isinstance(ref, int) else f"s:{ref}"


def version_id(ref: str | int, version: int) -> str:
    """The id of version *version* of a user: one insert per number, so two bumps never make one."""
    return f"tv|{_ref_text(ref)}|{version}"


def session_id(sid: str) -> str:
    return f"session|{sid}"


def ended_id(sid: str) -> str:
    return f"ended|{sid}"


def denied_id(ref: str | int, jti: str) -> str:
    return f"denied|{_ref_text(ref)}|{jti}"


def provider_ended_id(iss: str, sid: str) -> str:
    """An identity provider's session ``(iss, sid)`` ended (back-channel logout, CAEP)."""
    return f"pended|{iss}|{sid}"


def signal_id(kind: str, iss: str, ref: str | int, unique: str) -> str:
    """A record made by one signal (*unique*: the signal's own id): the same signal twice is one record."""
    return f"{kind}|{iss}|{_ref_text(ref)}|{unique}"


def seen_id(iss: str, jti: str) -> str:
    """A processed signal (a logout token's or a SET's ``jti``): providers retry, nothing happens twice."""
    return f"seen|{iss}|{jti}"


def stream_id(iss: str) -> str:
    """A Shared Signals stream of the transmitter *iss*: its liveness and status, one record per issuer."""
    return f"stream|{iss}"


def refresh_id(digest: str) -> str:
    return f"rt|{digest}"


def spent_id(digest: str) -> str:
    return f"spent|{digest}"


def link_id(link: str) -> str:
    return f"link|{link}"


#: How long an event is kept: far longer than any follower's overlap window.
EVENT_RETENTION = 600.0


def event(ref: str | int | None, kind: str, now: float, **detail: str) -> Record:
    """An event of the invalidation feed (:mod:`jwtguard.feed`): *ref*'s state changes now.

    *ref* None: a change that names no user (an identity provider's session known only by
    its ``iss`` and ``sid``, which *detail* then names).

    Written *before* the change it announces: a follower that reads it forgets
    the user and caches no load of it for a while, so a slow or failed second
    write cannot leave an older state cached. *detail* (a ``sid``, a ``jti``) is
    for the log and the metrics, never a secret.
    """
    return {
        "_id": uuid.uuid4().hex,
        "user": ref,
        "kind": kind,
        "at": now,
        "expires": now + EVENT_RETENTION,
        **detail,
    }


def with_records(document: Document, records: list[Record]) -> Document:
    """*document* with the user's *records* (see :data:`RECORDS`), as every store hands them over."""
    return {**document, RECORDS: records} if records else document
