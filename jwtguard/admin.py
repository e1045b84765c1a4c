"""The admin API: log a user out everywhere, disable or enable them, issue tokens.

Changes are written to the store and dropped from every cache in this
process at once; other processes see them within ``JWTGUARD_CACHE_TTL``.

Two kinds of issuing (issue 9): :func:`jwtguard.tokens.issue_token` only
signs, while :meth:`Admin.issue_token` and ``await`` :meth:`AsyncAdmin.issue_token`
also do the store's part of a login: the embedded store's row is created
when it is missing (never re-enabling an existing one), and this process's
cached state of the user is dropped, so the new token is judged on what the
store says now (a ``jwtguard enable`` run elsewhere a moment ago included).
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
from .stores.sqlite import AsyncSQLiteStore, SQLiteStore
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


def _keeps_own_users(store: object) -> bool:
    """Whether *store* is the embedded store, whose rows jwtguard itself keeps.

    On MongoDB (and in a :class:`~jwtguard.stores.memory.MemoryStore`, which
    mirrors it) the users are the application's documents: a user without
    one is no user, and issuing a token never makes one.
    """
    return isinstance(store, (SQLiteStore, AsyncSQLiteStore))


class Admin:
    """Blocking admin operations on the configured store (the WSGI side, scripts, the CLI).

    :param settings: defaults to ``Settings.from_env()``. Pass the guard's own
        :class:`~jwtguard.config.Settings` object: the store, the field names
        and ``JWTGUARD_USER_ID_TYPE`` must be the ones the guard reads, and
        tokens are signed with its keys.
    :param store: defaults to the store ``JWTGUARD_STORE_URL`` names.

    Every method raises :class:`~jwtguard.errors.StoreError` when the store
    cannot be reached within ``JWTGUARD_STORE_TIMEOUT``, and :class:`ValueError`
    for an id that names nobody under ``JWTGUARD_USER_ID_TYPE``. Every write
    drops the user's cached state in this process, also when it failed.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_store(self.settings)

    def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        try:
            return self.store.apply(user_id, change)
        finally:
            # The guard's caches are keyed by canonical id: every spelling of this user goes,
            # also after a write that failed (a timeout may come after the write was applied).
            invalidate_everywhere(key)

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
        """A signed token for *user_id*, after the store's part of a login.

        issue 9: the first token was refused (``unknown_user``) on the
        embedded store until :meth:`create_user`, and a login right after a
        ``jwtguard enable`` elsewhere was refused by this process's cached
        "disabled". So, after signing (:func:`jwtguard.tokens.issue_token`:
        ``iat``, ``exp``, ``jti``, *claims*; *ttl* defaults to
        ``JWTGUARD_TOKEN_TTL``):

        - on the embedded store, the user's row is created when it is
          missing, enabled; an existing row is left as it is (a disabled user
          stays disabled, and the token is refused). On MongoDB nothing is
          written: a user without a document stays unknown.
        - this process's cached state of the user is dropped (published on
          the invalidation bus), so the token is judged on the store's state.

        :raises ValueError: for an id the guard would refuse under
            ``JWTGUARD_USER_ID_TYPE``, or an integer ``sub`` under ``auto``.
        :raises StoreError: when the store cannot be reached (nothing is issued).
        """
        key = _key(user_id, self.settings)
        token = issue_token(self.settings, user_id, ttl=ttl, **claims)
        try:
            if _keeps_own_users(self.store) and self.store.load(user_id) is None:
                self.store.apply(user_id, Change(create=True))
        finally:
            invalidate_everywhere(key)
        return token

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()


class AsyncAdmin:
    """:class:`Admin` for an event loop: the same operations as coroutines."""

    def __init__(self, settings: Settings | None = None, *, store: AsyncStore | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_async_store(self.settings)

    async def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        try:
            return await self.store.apply(user_id, change)
        finally:
            invalidate_everywhere(key)

    async def logout_everywhere(self, user_id: UserId) -> bool:
        """:meth:`Admin.logout_everywhere`."""
        cut = _cut_off()
        while (remaining := cut - time.time()) > 0:
            await asyncio.sleep(remaining)
        return await self._apply(user_id, Change(not_before=_as_date(cut)))

    async def disable_user(self, user_id: UserId) -> bool:
        """:meth:`Admin.disable_user`."""
        return await self._apply(user_id, Change(enabled=False))

    async def enable_user(self, user_id: UserId) -> bool:
        """:meth:`Admin.enable_user`."""
        return await self._apply(user_id, Change(enabled=True))

    async def create_user(self, user_id: UserId) -> None:
        """:meth:`Admin.create_user`."""
        await self._apply(user_id, Change(create=True))

    async def status(self, user_id: UserId) -> UserState | None:
        """:meth:`Admin.status`."""
        _key(user_id, self.settings)
        return user_state(await self.store.load(user_id), self.settings)

    async def issue_token(self, user_id: UserId, *, ttl: float | None = None, **claims: Any) -> str:
        """:meth:`Admin.issue_token`, awaited like every other method (issue 9: it was the one that was not)."""
        key = _key(user_id, self.settings)
        token = issue_token(self.settings, user_id, ttl=ttl, **claims)
        try:
            if _keeps_own_users(self.store) and await self.store.load(user_id) is None:
                await self.store.apply(user_id, Change(create=True))
        finally:
            invalidate_everywhere(key)
        return token

    async def close(self) -> None:
        """:meth:`Admin.close`."""
        await self.store.close()
