"""Sessions, refresh rotation, versions and the denylist, each written once as a flow.

A flow is a generator over the operations of :mod:`jwtguard.stores.records`:
it yields what it needs and is sent the answer, so the same rules run on
MongoDB, SQLite and the in-memory store, blocking or async
(:meth:`jwtguard.Admin.run` and its async twin perform them). Nothing here
reads a clock (``now`` is a parameter) or signs a token.

Every revocation is an insert under an id that names what it revokes (see
:mod:`jwtguard.stores.records`): racing writes can neither undo one nor make
two, and no request is ever decided by a read-modify-write made here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone
from typing import Any, Final, NamedTuple

from ..config import Settings
from ..errors import StoreError
from ..sansio.dpop import Proof, replay_name
from ..sansio.state import (
    DENIED,
    ENDED,
    SESSION,
    VERSION,
    UserState,
    is_id,
    is_version,
    session_alive,
    user_state,
)
from ..stores import records as r
from ..stores.base import Change
from ..userid import UserId, valid_user_id

#: Refresh tokens are 43 URL-safe characters (32 random bytes); anything longer than this is
#: refused before it is hashed, anything outside the alphabet before it is looked up.
MAX_REFRESH_TOKEN_LENGTH: Final = 128
_REFRESH_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
#: Longest session description kept (the app's summary of a device: user agent, IP range).
MAX_DESCRIPTION_LENGTH: Final = 200
#: A version is a fresh insert; concurrent bumps take the next free number. Past this many
#: collisions in one call something else is wrong.
_MAX_BUMP_ATTEMPTS: Final = 32


class Login(NamedTuple):
    """A new session: its id, its first refresh token, the token version to sign, and the
    thumbprint of the DPoP key it is bound to (None: unbound)."""

    user_id: UserId
    sid: str
    refresh_token: str
    version: int
    jkt: str | None = None


class Refused(NamedTuple):
    """A login the store refuses: ``unknown_user``, ``disabled`` or ``revoked`` (an unreadable state)."""

    reason: str


class Rotated(NamedTuple):
    """A refresh that won: the new refresh token, and what the new access token carries (``jkt``:
    its ``cnf.jkt``, the DPoP key the session is bound to, None when unbound)."""

    user_id: UserId
    sid: str
    refresh_token: str
    version: int
    jkt: str | None = None


class DPoPRefused(NamedTuple):
    """A token request whose DPoP proof the store refuses (RFC 9449 ``invalid_dpop_proof``): the
    proof was used before (§11.1), or a refresh token bound to a key came without a proof (§5).
    Nothing was spent: the refresh token is as good as before."""

    description: str


class GrantRefused(NamedTuple):
    """RFC 6749 §5.2 ``invalid_grant``, with its ``error_description``.

    ``ended``: the session this refresh token belonged to was ended by this call
    (a spent token presented again, RFC 9700 §4.14.2); ``user_id`` its user.
    """

    description: str
    ended: bool = False
    user_id: UserId | None = None


class SessionInfo(NamedTuple):
    """One live session as the user sees it: times are epoch seconds."""

    sid: str
    created: float
    last_used: float
    description: str

    def as_json(self, current: str | None = None) -> dict[str, Any]:
        """``{"sid", "created", "last_used", "description", "current"}``, times ISO-8601 UTC."""
        return {
            "sid": self.sid,
            "created": _iso(self.created),
            "last_used": _iso(self.last_used),
            "description": self.description,
            "current": self.sid == current,
        }


ALREADY_ROTATED: Final = GrantRefused("token already rotated")
_UNKNOWN: Final = GrantRefused("the refresh token is unknown or expired")
_ENDED: Final = GrantRefused("the session has ended")
#: RFC 9449 §5: a refresh token bound to a key, with a proof of another (a thief's own key).
_OTHER_KEY: Final = GrantRefused("the refresh token is bound to another DPoP key")
_REPLAYED: Final = DPoPRefused("DPoP proof was already used")
_PROOF_NEEDED: Final = DPoPRefused("the refresh token is bound to a DPoP key: send a DPoP proof of it")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_secret() -> str:
    """A refresh token or session id: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(refresh_token: str) -> str:
    """How a refresh token is stored: its SHA-256 (a 256-bit random value needs no slow hash)."""
    return hashlib.sha256(refresh_token.encode("ascii")).hexdigest()


def well_formed(refresh_token: object) -> bool:
    """A refresh token jwtguard could have made: bounded and URL-safe, checked before any hashing."""
    return (
        isinstance(refresh_token, str)
        and len(refresh_token) <= MAX_REFRESH_TOKEN_LENGTH
        and _REFRESH_TOKEN.fullmatch(refresh_token) is not None
    )


def record_lifetime(settings: Settings) -> float:
    """How long a record that ends something must outlive it: any token it may refuse has expired by then."""
    return max(settings.refresh_ttl, settings.token_ttl, settings.max_token_lifetime or 0.0)


def _refusal(state: UserState | None) -> Refused | None:
    if state is None:
        return Refused("unknown_user")
    if state.malformed:
        return Refused("revoked")
    if not state.enabled:
        return Refused("disabled")
    return None


# -- the invalidation feed ---------------------------------------------------------------------


def announce(ref: str | int | None, kind: str, *, now: float, settings: Settings, **detail: str) -> r.RecordFlow[None]:
    """Record the feed's event for *ref* (:mod:`jwtguard.feed`) *before* the change it announces.

    Every process forgets the user when it reads it, and caches none of its
    loads for a while, so the change (the next write) is read fresh wherever
    it lands. Nothing without ``JWTGUARD_FEED``.
    """
    if settings.feed:
        yield r.Insert("events", r.event(ref, kind, now, **detail))


# -- versions -------------------------------------------------------------------------------


def bump_version(ref: str | int) -> r.RecordFlow[int]:
    """Raise the user's token version: every token and session of a lower version dies.

    Reads the highest version record, then inserts the next number; a
    concurrent bump that took it makes this one take the one after (the insert
    is the atomic step), so two bumps never collapse into one. Returns the new version.
    """
    found = yield r.FindUser(ref)
    current = max((rec["tv"] for rec in found if rec.get("kind") == VERSION and is_version(rec.get("tv"))), default=0)
    for attempt in range(1, _MAX_BUMP_ATTEMPTS + 1):
        version = current + attempt
        if (
            yield r.Insert("records", {"_id": r.version_id(ref, version), "user": ref, "kind": VERSION, "tv": version})
        ):
            return version
    raise StoreError("the token version could not be raised (too many concurrent changes)")


def revoke_all(user_id: UserId, ref: str | int, cut_off: datetime, settings: Settings) -> r.RecordFlow[bool]:
    """Log *user_id* out everywhere: a new cut-off and a new version. False for an unknown user.

    The cut-off covers tokens without a version (other issuers', older ones);
    the version covers jwtguard's own with no same-second window. Each
    session created before, or of a lower version, is dead with them.
    """
    yield from announce(ref, "logout_everywhere", now=cut_off.timestamp(), settings=settings)
    found = yield r.ApplyUser(user_id, Change(not_before=cut_off))
    if not found:
        return False
    yield from bump_version(ref)
    return True


# -- sessions -------------------------------------------------------------------------------


def login(
    user_id: UserId,
    ref: str | int,
    *,
    now: float,
    settings: Settings,
    description: str = "",
    create: bool = False,
    proof: Proof | None = None,
) -> r.RecordFlow[Login | Refused | DPoPRefused]:
    """Open a session for *user_id*: its record, its first refresh token (stored as a hash).

    *create*: first make the user known (the embedded store keeps users of its
    own; never re-enables one). Under ``JWTGUARD_SINGLE_SESSION`` the user's
    version is raised first, which ends every earlier session and token
    without a write per session.

    *proof*: the login's checked DPoP proof (:func:`jwtguard.sessions.dpop.token_proof`): spent
    first (:func:`spend_proof`; a replay opens nothing), then the session and its refresh token
    record its key's thumbprint (``jkt``), and every access token of the session names it
    (RFC 9449 §5, §6.1).
    """
    if proof is not None and not (yield from spend_proof(proof, now=now, settings=settings)):
        return _REPLAYED
    jkt = None if proof is None else proof.jkt
    if create:
        yield r.ApplyUser(user_id, Change(create=True))
    state = user_state((yield r.LoadUser(user_id)), settings)
    refused = _refusal(state)
    if refused is not None:
        return refused
    assert state is not None
    if settings.single_session:
        yield from announce(ref, "single_session", now=now, settings=settings)
        version = yield from bump_version(ref)
    else:
        version = state.version
    sid, refresh_token = secrets.token_urlsafe(16), new_secret()
    expires = now + settings.refresh_ttl
    session = {
        "_id": r.session_id(sid),
        "user": ref,
        "user_id": user_id,
        "kind": SESSION,
        "sid": sid,
        "created": now,
        "last_used": now,
        "tv": version,
        "expires": expires,
        "description": description[:MAX_DESCRIPTION_LENGTH],
    }
    grant = {"_id": r.refresh_id(digest(refresh_token)), "user": user_id, "sid": sid, "issued": now, "expires": expires}
    if jkt is not None:
        session["jkt"] = grant["jkt"] = jkt
    yield r.Insert("records", session)
    yield r.Insert("refresh", grant)
    yield from _housekeeping(ref, state, now)
    return Login(user_id, sid, refresh_token, version, jkt)


def refresh(
    presented: object, *, now: float, settings: Settings, proof: Proof | None = None
) -> r.RecordFlow[Rotated | GrantRefused | DPoPRefused]:
    """Spend *presented* and rotate it (RFC 6749 §6, RFC 9700 §4.14.2).

    *proof*: the request's checked DPoP proof (:func:`jwtguard.sessions.dpop.token_proof`), or
    None. A refresh token bound to a key (RFC 9449 §5) buys nothing without a proof of that key:
    no proof is ``invalid_dpop_proof`` (:class:`DPoPRefused`), a proof of another key
    ``invalid_grant``; both before anything is spent, so a thief without the key can neither use
    the token nor end the session by presenting it (a spent one included). The proof is then
    spent (:func:`spend_proof`; a replay is ``invalid_dpop_proof``, nothing else spent). An
    unbound session refreshed with a proof is bound from then on: the new refresh token is
    issued to a client that proved a key (§5), the way a session opened before DPoP was on
    becomes bound at its next refresh. The binding checked is the presented token's own, so
    this weakens no reuse check: a thief who binds a stolen unbound token binds only its
    successors, and the device presenting its spent (unbound) copy still ends the session.

    The spend is the insert of its spent mark: of two concurrent refreshes
    with one token exactly one inserts it and rotates. The loser, or a later
    presentation of a spent token:

    * within ``JWTGUARD_REFRESH_GRACE`` of the rotation, and when it is the
      *immediate* predecessor (its successor not yet spent): ``invalid_grant``
      "token already rotated", the session lives (tabs racing to refresh);
    * otherwise: reuse, so theft: the session is ended (its live access tokens
      with it), and under ``JWTGUARD_REFRESH_REUSE=logout_everywhere`` every
      session and token of the user.

    Garbage, unknown, expired tokens and those of an ended session: ``invalid_grant``.
    """
    if not well_formed(presented):
        return _UNKNOWN
    assert isinstance(presented, str)
    spent = digest(presented)
    grant = yield r.Get("refresh", r.refresh_id(spent))
    if grant is None or not _usable_grant(grant, now):
        return _UNKNOWN
    bound: str | None = grant.get("jkt")
    if bound is not None and (proof is None or proof.jkt != bound):
        return _PROOF_NEEDED if proof is None else _OTHER_KEY
    if proof is not None and not (yield from spend_proof(proof, now=now, settings=settings)):
        return _REPLAYED
    jkt = bound if proof is None else proof.jkt
    user_id, sid = grant["user"], grant["sid"]
    state = user_state((yield r.LoadUser(user_id)), settings)
    if state is None or _refusal(state) is not None or not session_alive(state, sid, now):
        return _ENDED
    successor = new_secret()
    mark = {"_id": r.spent_id(spent), "at": now, "child": digest(successor), "expires": grant["expires"]}
    if not (yield r.Insert("refresh", mark)):
        earlier = yield r.Get("refresh", r.spent_id(spent))
        # The immediate predecessor of a token not yet spent itself: another tab won the race.
        recent = earlier is not None and _recent(earlier, now, settings.refresh_grace)
        if recent and (yield r.Get("refresh", r.spent_id(earlier["child"]))) is None:
            return ALREADY_ROTATED
        ref = r.ref_of(user_id, settings)
        yield from _end(sid, ref, user_id, now, settings)
        if settings.refresh_reuse == "logout_everywhere":
            yield from revoke_all(user_id, ref, datetime.fromtimestamp(now, tz=timezone.utc), settings)
        return GrantRefused("the refresh token was already used: the session is ended", ended=True, user_id=user_id)
    expires = now + settings.refresh_ttl
    child = {"_id": r.refresh_id(mark["child"]), "user": user_id, "sid": sid, "issued": now, "expires": expires}
    used: dict[str, Any] = {"last_used": now, "expires": expires}
    if jkt is not None:
        # The binding each refresh checks is its grant's; the session's copy is for the admin.
        child["jkt"] = jkt
        if bound is None:
            used["jkt"] = jkt
    yield r.Insert("refresh", child)
    # Informational (the sessions list) and the idle lapse; no refusal rests on a lost update of it.
    yield r.Update("records", r.session_id(sid), used)
    return Rotated(user_id, sid, successor, state.version, jkt)


def _usable_grant(grant: dict[str, Any], now: float) -> bool:
    expires, jkt = grant.get("expires"), grant.get("jkt")
    return (
        valid_user_id(grant.get("user"))
        and is_id(grant.get("sid"))
        and isinstance(expires, (int, float))
        and expires > now
        # A damaged binding is no binding to drop: the token buys nothing (fail closed).
        and (jkt is None or isinstance(jkt, str))
    )


def _recent(mark: dict[str, Any], now: float, grace: float) -> bool:
    at, child = mark.get("at"), mark.get("child")
    # A racing winner may have read its clock after this call read *now*: a mark "from the
    # future" is as recent as can be.
    return isinstance(at, (int, float)) and isinstance(child, str) and now - at < grace


def _end(sid: str, ref: str | int, user_id: UserId, now: float, settings: Settings) -> r.RecordFlow[bool]:
    """Insert the record that ends session *sid* (a second end finds it there: nothing to do)."""
    yield from announce(ref, "end_session", now=now, settings=settings, sid=sid)
    ended = {
        "_id": r.ended_id(sid),
        "user": ref,
        "user_id": user_id,
        "kind": ENDED,
        "sid": sid,
        "at": now,
        "expires": now + record_lifetime(settings),
    }
    inserted: bool = yield r.Insert("records", ended)
    return inserted


def end_session(
    sid: object, *, now: float, settings: Settings, user: str | int | None = None
) -> r.RecordFlow[UserId | None]:
    """End jwtguard's session *sid*: its refresh tokens and access tokens die with it.

    *user*: end it only if it is this user's (a user ending one of their own
    devices); None for an admin. Returns the session's user, or None when
    there is no such session (of that user).
    """
    if not is_id(sid):
        return None
    assert isinstance(sid, str)
    session = yield r.Get("records", r.session_id(sid))
    if session is None or session.get("kind") != SESSION or (user is not None and session.get("user") != user):
        return None
    user_id = session.get("user_id")
    if not valid_user_id(user_id):
        return None
    yield from _end(sid, session["user"], user_id, now, settings)
    return user_id


def end_refresh_session(presented: object, *, now: float, settings: Settings) -> r.RecordFlow[UserId | None]:
    """RFC 7009 for a refresh token of jwtguard's: end its session (the access tokens die with it).

    Returns the session's user, or None for a token that is no usable refresh token of jwtguard's
    (garbage, unknown, expired): nothing to revoke.
    """
    if not well_formed(presented):
        return None
    assert isinstance(presented, str)
    grant = yield r.Get("refresh", r.refresh_id(digest(presented)))
    if grant is None or not _usable_grant(grant, now):
        return None
    user_id, sid = grant["user"], grant["sid"]
    yield from _end(sid, r.ref_of(user_id, settings), user_id, now, settings)
    user: UserId = user_id
    return user


def refresh_status(presented: object, *, now: float, settings: Settings) -> r.RecordFlow[tuple[UserId, float] | None]:
    """RFC 7662 for a refresh token of jwtguard's: ``(user, expires)`` while it can be spent, else None.

    A read: nothing is spent. Spent, unknown, expired tokens and those of a dead session are None.
    """
    if not well_formed(presented):
        return None
    assert isinstance(presented, str)
    spent = digest(presented)
    grant = yield r.Get("refresh", r.refresh_id(spent))
    if grant is None or not _usable_grant(grant, now) or (yield r.Get("refresh", r.spent_id(spent))) is not None:
        return None
    user_id: UserId = grant["user"]
    state = user_state((yield r.LoadUser(user_id)), settings)
    if state is None or _refusal(state) is not None or not session_alive(state, grant["sid"], now):
        return None
    return user_id, float(grant["expires"])


def sessions_of(user_id: UserId, *, now: float, settings: Settings) -> r.RecordFlow[list[SessionInfo]]:
    """The user's live sessions, oldest first (ended, lapsed and outdated ones are left out)."""
    state = user_state((yield r.LoadUser(user_id)), settings)
    if state is None or state.malformed:
        return []
    found = yield r.FindUser(r.ref_of(user_id, settings))
    live = [
        SessionInfo(rec["sid"], float(rec["created"]), float(rec.get("last_used", rec["created"])), _text(rec))
        for rec in found
        if rec.get("kind") == SESSION and is_id(rec.get("sid")) and session_alive(state, rec["sid"], now)
    ]
    return sorted(live, key=lambda info: (info.created, info.sid))


def _text(record: dict[str, Any]) -> str:
    description = record.get("description")
    return description if isinstance(description, str) else ""


def end_other_sessions(user_id: UserId, keep: str | None, *, now: float, settings: Settings) -> r.RecordFlow[int]:
    """End every live session of *user_id* but *keep* (this device); the number ended."""
    ref = r.ref_of(user_id, settings)
    ended = 0
    for info in (yield from sessions_of(user_id, now=now, settings=settings)):
        if info.sid != keep and (yield from _end(info.sid, ref, user_id, now, settings)):
            ended += 1
    return ended


# -- the denylist ---------------------------------------------------------------------------


def deny(
    user_id: UserId, ref: str | int, jti: str, *, expires: float, now: float, settings: Settings
) -> r.RecordFlow[bool]:
    """Refuse the token *jti* of *user_id* until *expires* (its own ``exp``). False if the user is unknown."""
    if (yield r.LoadUser(user_id)) is None:
        return False
    yield from announce(ref, "revoke_token", now=now, settings=settings, jti=jti)
    yield r.Insert(
        "records", {"_id": r.denied_id(ref, jti), "user": ref, "kind": DENIED, "jti": jti, "expires": expires}
    )
    return True


def used(link: str) -> r.RecordFlow[bool]:
    """Whether the one-time id *link* was spent (a read: it changes nothing)."""
    return (yield r.Get("refresh", r.link_id(link))) is not None


def use_once(link: str, *, now: float, expires: float) -> r.RecordFlow[bool]:
    """Spend the one-time id *link* (a login-alert link): True the first time only."""
    used: bool = yield r.Insert("refresh", {"_id": r.link_id(link), "at": now, "expires": expires})
    return used


def spend_proof(proof: Proof, *, now: float, settings: Settings) -> r.RecordFlow[bool]:
    """Spend a DPoP proof (RFC 9449 §11.1), a token request's or a resource request's: True the first time only.

    Under the guard's own replay id (:func:`jwtguard.sansio.dpop.replay_name`), kept as long
    as the guard keeps one: a proof is accepted for ``JWTGUARD_DPOP_MAX_AGE`` after its ``iat``,
    which may be ``JWTGUARD_LEEWAY`` ahead.
    """
    expires = now + settings.dpop_max_age + settings.leeway
    first: bool = yield from use_once(replay_name(proof), now=now, expires=expires)
    return first


# -- housekeeping ---------------------------------------------------------------------------


def _housekeeping(ref: str | int, state: UserState, now: float) -> r.RecordFlow[None]:
    """Delete what no decision needs any more (run at each login; correctness never waits for it).

    The user's dead sessions (a missing one is as dead as an ended one for
    jwtguard's tokens) and versions below the highest; expired records of
    both tables. An ended record outlives its session's last refresh, so it is
    never pruned while the session could still be read as alive.
    """
    found = yield r.FindUser(ref)
    top = state.version
    stale = tuple(
        rec["_id"]
        for rec in found
        # Only sessions this state knows: one opened since it was read is not judged by it.
        if (
            rec.get("kind") == SESSION
            and rec.get("sid") in state.sessions
            and not session_alive(state, rec["sid"], now)
        )
        or (rec.get("kind") == VERSION and is_version(rec.get("tv")) and rec["tv"] < top)
    )
    if stale:
        yield r.Delete("records", stale)
    yield r.Prune("records", now)
    yield r.Prune("refresh", now)
