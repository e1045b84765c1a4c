"""The store interface: what jwtguard asks of a place that keeps user state.

A store returns a user's document (only the fields jwtguard reads) and applies
admin changes. Reading a document into a decision is pure and shared
(:func:`jwtguard.core.user_state`); sync and async stores differ only by
``await``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..config import Settings

UserId = str | int
Document = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """An admin change to one user: a new not-before cut-off and/or the enabled flag.

    ``create`` makes the user when it does not exist yet (the embedded store
    holds users of its own; on MongoDB the users are the application's).
    """

    not_before: datetime | None = None
    enabled: bool | None = None
    create: bool = False

    def fields(self, settings: Settings) -> dict[str, Any]:
        """The stored fields this change sets, by their configured names."""
        values: dict[str, Any] = {}
        if self.not_before is not None:
            # The first configured field is jwtguard's own; apps may keep others.
            values[settings.not_before_fields[0]] = self.not_before
        if self.enabled is not None:
            values[settings.enabled_field] = self.enabled
        return values


class Store(Protocol):
    """A blocking store, used by the WSGI adapter and the admin API."""

    def load(self, user_id: UserId) -> Document | None:
        """The user's document, or None when the user does not exist. Raises StoreError."""

    def apply(self, user_id: UserId, change: Change) -> bool:
        """Apply *change*; False when the user does not exist (and ``create`` is false)."""

    def close(self) -> None: ...


class AsyncStore(Protocol):
    """The same as :class:`Store` for an event loop: no call blocks it."""

    async def load(self, user_id: UserId) -> Document | None: ...

    async def apply(self, user_id: UserId, change: Change) -> bool: ...

    async def close(self) -> None: ...
