"""The store interface: what jwtguard asks of a place that keeps user state.

A store returns a user's document (only the fields jwtguard reads) and applies
admin changes. Reading a document into a decision is pure and shared
(:func:`jwtguard.sansio.state.user_state`); sync and async stores differ only by
``await``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ..config import Settings

# Where a store puts jwtguard's own cut-off records (MongoDB: the ``at`` of each record in
# ``<JWTGUARD_USERS_COLLECTION>_revocations``) and the mark of a document it could not decode:
# names starting with ``$`` are refused by the settings, so they never collide with a field.
from ..sansio.state import CUTOFF_RECORDS as CUTOFF_RECORDS
from ..sansio.state import UNREADABLE as UNREADABLE
from ..userid import UserId as UserId
from ..userid import UserKey as UserKey
from ..userid import user_key

Document = Mapping[str, Any]
T = TypeVar("T")
#: :data:`jwtguard.stores.records.RecordFlow` (defined there; repeated to keep this module first).
RecordFlow = Generator[Any, Any, T]


def store_key(user_id: UserId, settings: Settings) -> UserKey:
    """The canonical id a store operation matches (:func:`jwtguard.userid.user_key`).

    No length bound here: ``status`` may look up a stored id longer than the
    user claim allows. :raises ValueError: for an id that does not map under
    ``JWTGUARD_USER_ID_TYPE`` (the guard refuses such claims before any query).
    """
    key = user_key(user_id, settings.user_id_type)
    if key is None:
        raise ValueError(
            f"user_id {user_id!r} is not a user id under JWTGUARD_USER_ID_TYPE={settings.user_id_type} "
            "(a printable string or a 64-bit integer; int: decimal digits; objectid: 24 hex digits)"
        )
    return key


@dataclass(frozen=True, slots=True)
class Change:
    """An admin change to one user: a new not-before cut-off and/or the enabled flag.

    ``create`` makes the user when it does not exist yet (the embedded store
    holds users of its own; on MongoDB the users are the application's).
    ``not_before`` is a cut-off to apply only if it is later than the stored
    one (revocation never moves back).
    """

    not_before: datetime | None = None
    enabled: bool | None = None
    create: bool = False


class Store(Protocol):
    """A blocking store, used by the WSGI adapter and the admin API.

    Both operations match the user through :func:`store_key`, so a claim, an
    admin call and the CLI reach the same document for the same user.
    """

    def load(self, user_id: UserId) -> Document | None:
        """The user's document, or None when the user does not exist. Raises StoreError.

        With the document come jwtguard's cut-off records (:data:`CUTOFF_RECORDS`);
        a document that cannot be decoded is returned as ``{UNREADABLE: kind}``.
        """

    def apply(self, user_id: UserId, change: Change) -> bool:
        """Apply *change*; False when the user does not exist (and ``create`` is false).

        A cut-off only ever moves later: one earlier than the stored one is
        not written. A racing write cannot undo the change.
        """

    def close(self) -> None: ...


class RecordStore(Store, Protocol):
    """A store that also keeps jwtguard's records: sessions, versions, refresh tokens, denied ids.

    jwtguard's three stores are; a store of your own that only loads and
    applies still serves the guard and the admin switches.
    """

    def run(self, flow: RecordFlow[T]) -> T:
        """Perform a records flow (:mod:`jwtguard.stores.records`)."""


class AsyncStore(Protocol):
    """The same as :class:`Store` for an event loop: no call blocks it."""

    async def load(self, user_id: UserId) -> Document | None: ...

    async def apply(self, user_id: UserId, change: Change) -> bool: ...

    async def close(self) -> None: ...


class AsyncRecordStore(AsyncStore, Protocol):
    """:class:`RecordStore` for an event loop."""

    async def run(self, flow: RecordFlow[T]) -> T: ...
