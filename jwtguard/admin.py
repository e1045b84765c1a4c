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
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

from .config import Settings
from .errors import ConfigError, InvalidGrant, LoginRefused
from .invalidation import invalidate_everywhere
from .sansio.claims import Verified
from .sansio.dpop import INVALID_PROOF
from .sansio.policy import Policy
from .sansio.state import UserState, is_id, user_state
from .sessions import TokenPair, alerts, flows, signals
from .sessions.alerts import LoginAlert
from .sessions.dpop import DPoPProofRefused, TokenRequest, token_proof
from .sessions.flows import DPoPRefused, GrantRefused, Login, Refused, Rotated, SessionInfo
from .stores import AsyncStore, Change, Store, UserId, open_async_store, open_store
from .stores.base import AsyncRecordStore, RecordStore, store_key
from .stores.records import RecordFlow, user_ref
from .stores.sqlite import AsyncSQLiteStore, SQLiteStore
from .tokens import TokenVerifier, issue_token
from .userid import UserKey, valid_user_id

logger = logging.getLogger("jwtguard")
T = TypeVar("T")


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


_NO_RECORDS = (
    "{} keeps no sessions, versions or denied tokens (it has no run(flow)): use jwtguard's MongoDB, "
    "SQLite or memory store"
)


def _local(user_id: UserId, change: Change, settings: Settings) -> RecordFlow[bool]:
    """An admin change for a user with no document: under ``JWTGUARD_UNKNOWN_USERS=allow``, a record
    of the state table (:func:`jwtguard.sessions.signals.local_change`); else nothing (False)."""
    cut = change.not_before.timestamp() if change.not_before is not None else None
    return signals.local_change(user_id, enabled=change.enabled, cut_off_at=cut, now=time.time(), settings=settings)


def _keeps_records(store: object) -> bool:
    """Whether *store* runs records flows (jwtguard's stores do; an app's own store may not)."""
    return callable(getattr(store, "run", None))


def _kind(change: Change) -> str:
    """The feed event's kind for an admin change."""
    if change.enabled is not None:
        return "enable" if change.enabled else "disable"
    return "logout_everywhere"


def _sessions_on(settings: Settings, what: str) -> None:
    if not settings.sessions:
        # Without it the guard would not check the sessions these tokens name.
        raise ConfigError("JWTGUARD_SESSIONS", f"{what} needs JWTGUARD_SESSIONS=true (and JWTGUARD_ISSUER)")


def _signed(settings: Settings, outcome: Login | Rotated, ttl: float | None, claims: dict[str, Any]) -> TokenPair:
    """The access token of a new session or a rotation: it names its session and carries the version,
    and for a session bound to a DPoP key, the key (RFC 9449 §6.1: ``cnf.jkt``)."""
    claims = {**claims, "sid": outcome.sid, settings.version_claim: outcome.version}
    if outcome.jkt is not None:
        claims["cnf"] = {"jkt": outcome.jkt}
    lifetime = settings.token_ttl if ttl is None else ttl
    access = issue_token(settings, outcome.user_id, ttl=ttl, **claims)
    return TokenPair(access, outcome.refresh_token, int(lifetime), outcome.sid, outcome.user_id, outcome.jkt)


def _login_flow(
    settings: Settings, store: object, user_id: UserId, key: UserKey, description: str, dpop: TokenRequest | None
) -> RecordFlow[Login | Refused | DPoPRefused]:
    """The flow of a login for both admins: the proof checked (raises :class:`DPoPProofRefused`, before
    any write), then the embedded store first makes the user known."""
    now = time.time()
    proof = token_proof(dpop, settings=settings, now=now)
    return flows.login(
        user_id,
        user_ref(key),
        now=now,
        settings=settings,
        description=description,
        create=_keeps_own_users(store),
        proof=proof,
    )


def _refresh_flow(
    settings: Settings, refresh_token: object, dpop: TokenRequest | None
) -> RecordFlow[Rotated | GrantRefused | DPoPRefused]:
    """The flow of a refresh for both admins: the proof checked first (raises :class:`DPoPProofRefused`:
    nothing is spent)."""
    now = time.time()
    proof = token_proof(dpop, settings=settings, now=now)
    return flows.refresh(refresh_token, now=now, settings=settings, proof=proof)


def _logged_in(
    settings: Settings,
    outcome: Login | Refused | DPoPRefused,
    ttl: float | None,
    claims: dict[str, Any],
    on_login: Callable[[LoginAlert], None] | None,
    description: str,
) -> TokenPair:
    if isinstance(outcome, DPoPRefused):
        raise DPoPProofRefused(INVALID_PROOF, outcome.description)
    if isinstance(outcome, Refused):
        raise LoginRefused(outcome.reason)
    pair = _signed(settings, outcome, ttl, claims)
    if on_login is not None:
        now = time.time()
        link = alerts.not_me_token(settings, outcome.user_id, outcome.sid, now)
        alert = alerts.LoginAlert(outcome.user_id, outcome.sid, description[: flows.MAX_DESCRIPTION_LENGTH], now, link)
        try:
            on_login(alert)
        except Exception as exc:  # a failing notifier must not fail the login; its text may hold the link
            logger.warning("jwtguard: the on_login hook failed for user %r (%s)", outcome.user_id, type(exc).__name__)
    return pair


def _not_me(settings: Settings, token: object) -> tuple[alerts.NotMeLink, RecordFlow[bool]] | None:
    link = alerts.read_not_me(settings, token, time.time())
    if link is None:
        return None
    return link, flows.use_once(link.link_id, now=time.time(), expires=link.expires)


def _refreshed(
    settings: Settings, outcome: Rotated | GrantRefused | DPoPRefused, ttl: float | None, claims: dict[str, Any]
) -> TokenPair:
    if isinstance(outcome, DPoPRefused):
        raise DPoPProofRefused(INVALID_PROOF, outcome.description)
    if isinstance(outcome, GrantRefused):
        if outcome.ended and outcome.user_id is not None:
            invalidate_everywhere(store_key(outcome.user_id, settings))
            # Never the token: the user and what was done.
            logger.warning(
                "jwtguard: a spent refresh token of user %r was presented again; its session is ended", outcome.user_id
            )
        raise InvalidGrant(outcome.description, session_ended=outcome.ended)
    return _signed(settings, outcome, ttl, claims)


def verified_token(settings: Settings, token: str) -> Verified:
    """*token* verified with the guard's keys and read by its policy; ValueError when it is no such token."""
    try:
        header, claims = TokenVerifier(settings).verify(token)
        verified = Policy(settings).verified(header, claims)
    except Exception:  # any failure of the input: one message, never the token
        raise ValueError("not a token this guard accepts (signature, algorithm, audience or issuer)") from None
    if not isinstance(verified, Verified):
        raise ValueError("not a token this guard accepts (its claims)")
    return verified


def _jti(verified: Verified) -> str:
    if verified.jti is None:
        raise ValueError("the token has no jti: revoke the user's sessions or log them out everywhere")
    return verified.jti


def _denial(settings: Settings, user_id: UserId, jti: object, expires: float | None) -> tuple[UserKey, float]:
    key = _key(user_id, settings)
    if not is_id(jti):
        raise ValueError("jti must be a non-empty string of at most 256 characters")
    if expires is None:
        expires = time.time() + (settings.max_token_lifetime or settings.token_ttl)
    if not (isinstance(expires, (int, float)) and math.isfinite(expires)):
        raise ValueError("expires must be a time in epoch seconds")
    return key, float(expires)


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

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        on_login: Callable[[LoginAlert], None] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_store(self.settings)
        self.on_login = on_login

    def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        try:
            if _keeps_records(self.store) and not change.create:
                # The feed's event first (jwtguard.feed): every process forgets the user, then the change.
                self._records().run(
                    flows.announce(user_ref(key), _kind(change), now=time.time(), settings=self.settings)
                )
            if self.store.apply(user_id, change):
                return True
            if not _keeps_records(self.store) or change.create:
                return False
            return self._records().run(_local(user_id, change, self.settings))
        finally:
            # The guard's caches are keyed by canonical id: every spelling of this user goes,
            # also after a write that failed (a timeout may come after the write was applied).
            invalidate_everywhere(key)

    def run(self, flow: RecordFlow[T]) -> T:
        """Perform a records flow (:mod:`jwtguard.sessions.flows`) on the store."""
        return self._records().run(flow)

    def _records(self) -> RecordStore:
        if not _keeps_records(self.store):
            raise TypeError(_NO_RECORDS.format(type(self.store).__name__))
        return cast(RecordStore, self.store)

    def logout_everywhere(self, user_id: UserId) -> bool:
        """Kill every token and session of *user_id* until now. False if there is no such user.

        Writes a new cut-off (tokens without a version) and raises the token
        version (jwtguard's own tokens and sessions).
        """
        key = _key(user_id, self.settings)
        cut = _cut_off()
        while (remaining := cut - time.time()) > 0:
            time.sleep(remaining)
        if not _keeps_records(self.store):  # a store of the app's own: the cut-off only
            return self._apply(user_id, Change(not_before=_as_date(cut)))
        try:
            if self._records().run(flows.revoke_all(user_id, user_ref(key), _as_date(cut), self.settings)):
                return True
            return self._records().run(_local(user_id, Change(not_before=_as_date(cut)), self.settings))
        finally:
            invalidate_everywhere(key)

    def credentials_changed(self, user_id: UserId) -> bool:
        """A password reset or change, a new e-mail, a role change: every older token and session dies.

        The same writes as :meth:`logout_everywhere` (jwtguard's own version
        and cut-off); an app that keeps a ``passwordChangedAt`` of its own can
        list it in ``JWTGUARD_NOT_BEFORE_FIELDS`` instead, which jwtguard only reads.
        """
        return self.logout_everywhere(user_id)

    # -- sessions ---------------------------------------------------------------------------

    def login(
        self,
        user_id: UserId,
        *,
        description: str = "",
        ttl: float | None = None,
        dpop: TokenRequest | None = None,
        **claims: Any,
    ) -> TokenPair:
        """Open a session for *user_id* (after the app checked the password): an access and a refresh token.

        *description*: what the user will recognise the device by (user agent,
        IP summary; at most 200 characters kept). The access token carries
        ``sid`` and the user's version; *claims* are added to it. On the
        embedded store the user's row is created when missing (never re-enabled).

        *dpop*: the login request's DPoP fields, method and URL
        (:func:`jwtguard.sessions.dpop.token_request`). With a proof that passes
        (:func:`~jwtguard.sessions.dpop.token_proof`; spent once, RFC 9449 §11.1) the session is
        bound to its key: every access token of it carries ``"cnf": {"jkt": ...}`` (§6.1), the
        pair's ``token_type`` is ``DPoP``, and its refresh token needs a proof of the key (§5).
        Without a proof (or *dpop* None, or ``JWTGUARD_DPOP=off``) the pair is a Bearer pair.

        :raises DPoPProofRefused: the proof is refused, or missing under ``JWTGUARD_DPOP=require``
            (nothing is written; answer 400 with its body and headers).
        :raises LoginRefused: the user is unknown or disabled.
        :raises ConfigError: without ``JWTGUARD_SESSIONS=true``.
        """
        _sessions_on(self.settings, "login()")
        key = _key(user_id, self.settings)
        flow = _login_flow(self.settings, self.store, user_id, key, description, dpop)
        try:
            outcome = self._records().run(flow)
        finally:
            invalidate_everywhere(key)
        return _logged_in(self.settings, outcome, ttl, claims, self.on_login, description)

    def refresh(
        self, refresh_token: object, *, ttl: float | None = None, dpop: TokenRequest | None = None, **claims: Any
    ) -> TokenPair:
        """Spend *refresh_token* and answer a new pair (RFC 6749 §6; rotation as RFC 9700 §4.14.2).

        *dpop*: the refresh request's DPoP fields, method and URL, as for :meth:`login`. A session
        bound to a key is refreshed only with a proof of that key (RFC 9449 §5), and stays bound;
        an unbound one refreshed with a proof is bound from then on (see
        :func:`jwtguard.sessions.flows.refresh`).

        :raises DPoPProofRefused: no proof for a bound session, a proof refused or replayed, none
            under ``JWTGUARD_DPOP=require``: nothing is spent, the session lives on.
        :raises InvalidGrant: garbage, unknown, expired, of an ended session,
            "token already rotated" (another tab won, within
            ``JWTGUARD_REFRESH_GRACE``), a reuse, which ends the session, or a proof of another
            key than the session's (nothing spent).
        """
        _sessions_on(self.settings, "refresh()")
        outcome = self._records().run(_refresh_flow(self.settings, refresh_token, dpop))
        return _refreshed(self.settings, outcome, ttl, claims)

    def sessions(self, user_id: UserId) -> list[SessionInfo]:
        """The user's live sessions, oldest first."""
        _key(user_id, self.settings)
        return self._records().run(flows.sessions_of(user_id, now=time.time(), settings=self.settings))

    def end_session(self, sid: object, *, user_id: UserId | None = None) -> bool:
        """End session *sid* (this device's logout): its refresh and access tokens die with it.

        *user_id*: only if the session is this user's (False otherwise: answer
        404, not 403, so session ids cannot be probed). False for no such session.
        """
        owner = None if user_id is None else user_ref(_key(user_id, self.settings))
        ended = self._records().run(flows.end_session(sid, now=time.time(), settings=self.settings, user=owner))
        if ended is None:
            return False
        invalidate_everywhere(store_key(ended, self.settings))
        return True

    def end_other_sessions(self, user_id: UserId, current: str | None) -> int:
        """End every session of *user_id* but *current* ("sign out all other devices"); how many."""
        key = _key(user_id, self.settings)
        try:
            return self._records().run(
                flows.end_other_sessions(user_id, current, now=time.time(), settings=self.settings)
            )
        finally:
            invalidate_everywhere(key)

    def revoke_token(self, token: str) -> bool:
        """Refuse this one access token until its own ``exp`` (reason ``revoked``). False for an unknown user.

        :raises ValueError: the token does not verify with the guard's keys, or has no ``jti``.
        """
        verified = verified_token(self.settings, token)
        return self.revoke_jti(verified.user_id, _jti(verified), expires=verified.exp)

    def read_not_me(self, token: object) -> alerts.NotMeLink | None:
        """The "not me" link *token* (``GET /account/not-me?t=…``), verified and not yet used, or None.

        Changes nothing (mail scanners and link previewers fetch every link).
        """
        link = alerts.read_not_me(self.settings, token, time.time())
        if link is None or self._records().run(flows.used(link.link_id)):
            return None
        return link

    def not_me(self, token: object) -> UserId | None:
        """``POST /account/not-me``: spend the link once, end every session of its user, raise the version.

        Returns the user (whose credentials should now be reset), or None for a
        link that is invalid, expired or already used.
        """
        spent = _not_me(self.settings, token)
        if spent is None or not self._records().run(spent[1]):
            return None
        self.logout_everywhere(spent[0].user_id)
        return spent[0].user_id

    def revoke_jti(self, user_id: UserId, jti: str, *, expires: float | None = None) -> bool:
        """Refuse the token with id *jti* of *user_id* until *expires* (epoch seconds).

        *expires* defaults to now plus the longest token lifetime
        (``JWTGUARD_MAX_TOKEN_LIFETIME``, else ``JWTGUARD_TOKEN_TTL``).
        """
        key, until = _denial(self.settings, user_id, jti, expires)
        try:
            return self._records().run(
                flows.deny(user_id, user_ref(key), jti, expires=until, now=time.time(), settings=self.settings)
            )
        finally:
            invalidate_everywhere(key)

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

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: AsyncStore | None = None,
        on_login: Callable[[LoginAlert], None] | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.store = store or open_async_store(self.settings)
        self.on_login = on_login

    async def _apply(self, user_id: UserId, change: Change) -> bool:
        key = _key(user_id, self.settings)
        try:
            if _keeps_records(self.store) and not change.create:
                flow = flows.announce(user_ref(key), _kind(change), now=time.time(), settings=self.settings)
                await self._records().run(flow)
            if await self.store.apply(user_id, change):
                return True
            if not _keeps_records(self.store) or change.create:
                return False
            return await self._records().run(_local(user_id, change, self.settings))
        finally:
            invalidate_everywhere(key)

    async def run(self, flow: RecordFlow[T]) -> T:
        """:meth:`Admin.run`."""
        return await self._records().run(flow)

    def _records(self) -> AsyncRecordStore:
        if not _keeps_records(self.store):
            raise TypeError(_NO_RECORDS.format(type(self.store).__name__))
        return cast(AsyncRecordStore, self.store)

    async def logout_everywhere(self, user_id: UserId) -> bool:
        """:meth:`Admin.logout_everywhere`."""
        key = _key(user_id, self.settings)
        cut = _cut_off()
        while (remaining := cut - time.time()) > 0:
            await asyncio.sleep(remaining)
        if not _keeps_records(self.store):
            return await self._apply(user_id, Change(not_before=_as_date(cut)))
        try:
            if await self._records().run(flows.revoke_all(user_id, user_ref(key), _as_date(cut), self.settings)):
                return True
            return await self._records().run(_local(user_id, Change(not_before=_as_date(cut)), self.settings))
        finally:
            invalidate_everywhere(key)

    async def credentials_changed(self, user_id: UserId) -> bool:
        """:meth:`Admin.credentials_changed`."""
        return await self.logout_everywhere(user_id)

    async def login(
        self,
        user_id: UserId,
        *,
        description: str = "",
        ttl: float | None = None,
        dpop: TokenRequest | None = None,
        **claims: Any,
    ) -> TokenPair:
        """:meth:`Admin.login`."""
        _sessions_on(self.settings, "login()")
        key = _key(user_id, self.settings)
        flow = _login_flow(self.settings, self.store, user_id, key, description, dpop)
        try:
            outcome = await self._records().run(flow)
        finally:
            invalidate_everywhere(key)
        return _logged_in(self.settings, outcome, ttl, claims, self.on_login, description)

    async def refresh(
        self, refresh_token: object, *, ttl: float | None = None, dpop: TokenRequest | None = None, **claims: Any
    ) -> TokenPair:
        """:meth:`Admin.refresh`."""
        _sessions_on(self.settings, "refresh()")
        outcome = await self._records().run(_refresh_flow(self.settings, refresh_token, dpop))
        return _refreshed(self.settings, outcome, ttl, claims)

    async def sessions(self, user_id: UserId) -> list[SessionInfo]:
        """:meth:`Admin.sessions`."""
        _key(user_id, self.settings)
        return await self._records().run(flows.sessions_of(user_id, now=time.time(), settings=self.settings))

    async def end_session(self, sid: object, *, user_id: UserId | None = None) -> bool:
        """:meth:`Admin.end_session`."""
        owner = None if user_id is None else user_ref(_key(user_id, self.settings))
        ended = await self._records().run(flows.end_session(sid, now=time.time(), settings=self.settings, user=owner))
        if ended is None:
            return False
        invalidate_everywhere(store_key(ended, self.settings))
        return True

    async def end_other_sessions(self, user_id: UserId, current: str | None) -> int:
        """:meth:`Admin.end_other_sessions`."""
        key = _key(user_id, self.settings)
        try:
            flow = flows.end_other_sessions(user_id, current, now=time.time(), settings=self.settings)
            return await self._records().run(flow)
        finally:
            invalidate_everywhere(key)

    async def revoke_token(self, token: str) -> bool:
        """:meth:`Admin.revoke_token`."""
        verified = verified_token(self.settings, token)
        return await self.revoke_jti(verified.user_id, _jti(verified), expires=verified.exp)

    async def read_not_me(self, token: object) -> alerts.NotMeLink | None:
        """:meth:`Admin.read_not_me`."""
        link = alerts.read_not_me(self.settings, token, time.time())
        if link is None or await self._records().run(flows.used(link.link_id)):
            return None
        return link

    async def not_me(self, token: object) -> UserId | None:
        """:meth:`Admin.not_me`."""
        spent = _not_me(self.settings, token)
        if spent is None or not await self._records().run(spent[1]):
            return None
        await self.logout_everywhere(spent[0].user_id)
        return spent[0].user_id

    async def revoke_jti(self, user_id: UserId, jti: str, *, expires: float | None = None) -> bool:
        """:meth:`Admin.revoke_jti`."""
        key, until = _denial(self.settings, user_id, jti, expires)
        try:
            return await self._records().run(
                flows.deny(user_id, user_ref(key), jti, expires=until, now=time.time(), settings=self.settings)
            )
        finally:
            invalidate_everywhere(key)

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
