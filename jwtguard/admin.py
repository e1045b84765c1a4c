"""The admin API: log a user out everywhere, disable or enable them, issue tokens.

Changes are written to the store and dropped from every cache in this
process at once; other processes see them within ``JWTGUARD_CACHE_TTL``.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timezone
from typing import Any

from .config import Settings
from .invalidation import invalidate_everywhere
from .sansio.state import UserState, user_state
from .stores import AsyncStore, Change, Store, UserId, open_async_store, open_store
from .stores.base import store_key
from .tokens import issue_token
from .userid import UserKey, valid_user_id


def _check_user_id(user_id: object) -> UserId:
    if not valid_user_id(user_id):
        raise ValueError("user_id must be a non-empty printable string or a 64-bit integer")
    return user_id


def _key(user_id: object, settings: Settings) -> UserKey:
    """The canonical id of *user_id*: what the store matches and the cache key dropped after a change."""
    return store_key(_check_user_id(user_id), settings)


def _cut_off() -> float:
    """Now, rounded *up* to the millisecond (BSON's resolution).

    Tokens from :func:`jwtguard.tokens.issue_token` carry an ``iat`` rounded
    down to the millisecond. Once the cut-off has passed (callers wait for it,
    under a millisecond), every token issued before the call is older than
    the cut-off, and every token issued after it is not.
    """
    return math.ceil(time.time() * 1000) / 1000


def _as_date(cut: float) -> datetime:
    return datetime.fromtimestamp(cut, tz=timezone.utc)


class Admin:
    """Blocking admin operations on the configured store.

    :param settings: defaults to ``Settings.from_env()``.
    :param store: defaults to the store ``JWTGUARD_STORE_URL`` names.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_store(self.settings)

    def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        found = self.store.apply(user_id, change)
        # The guard's caches are keyed by canonical id: every spelling of this user goes.
        invalidate_everywhere(key)
        return found

    def logout_everywhere(self, user_id: UserId) -> bool:
        """Kill every token issued to *user_id* until now. False if there is no such user."""
        cut = _cut_off()
        while (remaining := cut - time.time()) > 0:
            time.sleep(remaining)
        return self._apply(user_id, Change(not_before=_as_date(cut)))

    def disable_user(self, user_id: UserId) -> bool:
        """Refuse every token of *user_id* until :meth:`enable_user`. False if there is no such user."""
        return self._apply(user_id, Change(enabled=False))

    def enable_user(self, user_id: UserId) -> bool:
        """Accept *user_id*'s unexpired, unrevoked tokens again. False if there is no such user."""
        return self._apply(user_id, Change(enabled=True))

    def create_user(self, user_id: UserId) -> None:
        """Make *user_id* known to the store, enabled; an existing user is left as it is.

        Needed by the embedded store, which keeps users of its own; on MongoDB
        the users are the application's documents (an insert that leaves an
        existing document, of whatever ``_id`` type the id maps to, alone).
        """
        self._apply(user_id, Change(create=True))

    def status(self, user_id: UserId) -> UserState | None:
        """The user's state as the guard would read it now, bypassing the cache; None if unknown."""
        _key(user_id, self.settings)  # refuses an id that names nobody under JWTGUARD_USER_ID_TYPE
        return user_state(self.store.load(user_id), self.settings)

    def issue_token(self, user_id: UserId, *, ttl: float | None = None, **claims: Any) -> str:
        """A signed token for *user_id* (see :func:`jwtguard.tokens.issue_token`).

        :raises ValueError: for an id the guard would refuse under ``JWTGUARD_USER_ID_TYPE``.
        """
        _key(user_id, self.settings)
        return issue_token(self.settings, _check_user_id(user_id), ttl=ttl, **claims)

    def close(self) -> None:
        self.store.close()


class AsyncAdmin:
    """:class:`Admin` for an event loop: the same operations as coroutines."""

    def __init__(self, settings: Settings | None = None, *, store: AsyncStore | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_async_store(self.settings)

    async def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        found = await self.store.apply(user_id, change)
        invalidate_everywhere(key)
        return found

    async def logout_everywhere(self, user_id: UserId) -> bool:
        cut = _cut_off()
        while (remaining := cut - time.time()) > 0:
            await asyncio.sleep(remaining)
        return await self._apply(user_id, Change(not_before=_as_date(cut)))

    async def disable_user(self, user_id: UserId) -> bool:
        return await self._apply(user_id, Change(enabled=False))

    async def enable_user(self, user_id: UserId) -> bool:
        return await self._apply(user_id, Change(enabled=True))

    async def create_user(self, user_id: UserId) -> None:
        await self._apply(user_id, Change(create=True))

    async def status(self, user_id: UserId) -> UserState | None:
        _key(user_id, self.settings)
        return user_state(await self.store.load(user_id), self.settings)

    def issue_token(self, user_id: UserId, *, ttl: float | None = None, **claims: Any) -> str:
        _key(user_id, self.settings)
        return issue_token(self.settings, _check_user_id(user_id), ttl=ttl, **claims)

    async def close(self) -> None:
        await self.store.close()
