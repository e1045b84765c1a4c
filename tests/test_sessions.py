"""Issue 10: sessions, refresh rotation, per-device and per-token logout, the version claim.

Every test runs on each store (the real MongoDB-wire server, an SQLite file,
the in-memory store) through the blocking and the async admin API, and judges
the tokens with the engine (the guard's own flow) on the same store.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwtguard import Admin, AsyncAdmin, MemoryStore, Settings
from jwtguard.engine import Engine
from jwtguard.errors import ConfigError, InvalidGrant, LoginRefused
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio.claims import is_stale_token
from jwtguard.sansio.request import Request
from jwtguard.sessions import TokenPair
from jwtguard.sessions.flows import MAX_REFRESH_TOKEN_LENGTH, well_formed
from jwtguard.stores import open_store
from jwtguard.stores.memory import AsyncMemoryStore

from conftest import SECRET

ISSUER = "https://app.example"


def session_settings(store_url: str | None, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "sessions": True,
        "issuer": ISSUER,
        "store_url": store_url,
        "cache_ttl": 0,  # every request reads the store: the tests judge what it holds
        "store_timeout": 2.0,
        "refresh_grace": 10.0,
    }
    return Settings(**{**values, **changes})


class Sessions:
    """One admin API (blocking or async, made blocking here) and a guard reading the same store."""

    def __init__(self, settings: Settings, kind: str, mode: str) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop() if mode == "async" else None
        memory = MemoryStore(settings) if kind == "memory" else None
        if mode == "async":
            async_memory = AsyncMemoryStore(settings) if memory else None
            if async_memory is not None:
                memory = async_memory.sync
            self.admin: Any = AsyncAdmin(settings, store=async_memory) if async_memory else AsyncAdmin(settings)
        else:
            self.admin = Admin(settings, store=memory) if memory else Admin(settings)
        self._guard_store = memory or open_store(settings)
        self.memory = memory
        self.engine = Engine(settings, store=self._guard_store, bus=InvalidationBus())

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.admin, name)
        if self._loop is None or not inspect.iscoroutinefunction(method):
            return method  # type: ignore[no-any-return]
        loop = self._loop

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return loop.run_until_complete(method(*args, **kwargs))

        return blocking

    def add_user(self, user: str | int) -> None:
        if self.memory is not None:
            self.memory.put(user, {})
        else:
            self.create_user(user)

    def judge(self, token: str) -> str:
        """The guard's verdict on a request with *token*: ``accepted`` or the refusal's reason."""
        return self.engine.handle(Request("GET", "/api/me", ("Bearer " + token,))).reason

    def close(self) -> None:
        self.close_admin()
        self._guard_store.close()
        if self._loop is not None:
            self._loop.close()

    def close_admin(self) -> None:
        self.__getattr__("close")()


@pytest.fixture(params=["mongo", "sqlite", "memory"])
def store_kind(request: pytest.FixtureRequest, tmp_path: Any) -> tuple[str, str | None]:
    if request.param == "mongo":
        return "mongo", str(request.getfixturevalue("mongo_uri"))
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'jwtguard.db'}"
    return "memory", None


@pytest.fixture(params=["sync", "async"])
def open_sessions(
    request: pytest.FixtureRequest, store_kind: tuple[str, str | None]
) -> Iterator[Callable[..., Sessions]]:
    opened: list[Sessions] = []

    def build(**changes: Any) -> Sessions:
        kind, url = store_kind
        sessions = Sessions(session_settings(url, **changes), kind, str(request.param))
        sessions.add_user("alice")
        opened.append(sessions)
        return sessions

    yield build
    for sessions in opened:
        sessions.close()


@pytest.fixture
def api(open_sessions: Callable[..., Sessions]) -> Sessions:
    return open_sessions()


# -- logins and their tokens ------------------------------------------------------------------


def test_a_login_opens_a_session_whose_token_names_it(api: Sessions) -> None:
    pair = api.login("alice", description="Firefox on Linux")
    assert isinstance(pair, TokenPair)
    assert api.judge(pair.access_token) == "accepted"
    body = pair.body(user="alice")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["user"] == "alice"
    assert body["refresh_token"] == pair.refresh_token != pair.access_token
    (listed,) = api.sessions("alice")
    assert (listed.sid, listed.description) == (pair.session_id, "Firefox on Linux")
    shown = listed.as_json(current=pair.session_id)
    assert shown["current"] is True and shown["created"].endswith("Z")


def test_ending_one_session_refuses_only_its_tokens(api: Sessions) -> None:
    laptop, phone = api.login("alice", description="laptop"), api.login("alice", description="phone")
    assert api.end_session(laptop.session_id)
    assert api.judge(laptop.access_token) == "session_revoked"
    assert api.judge(phone.access_token) == "accepted"
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(laptop.refresh_token)
    assert refused.value.body() == {"error": "invalid_grant", "error_description": "the session has ended"}
    assert [s.sid for s in api.sessions("alice")] == [phone.session_id]
    assert api.end_session(laptop.session_id) is True  # ending it again changes nothing
    assert api.end_session("no-such-session") is False


def test_a_user_ends_only_their_own_sessions(api: Sessions) -> None:
    api.add_user("bob")
    alice, bob = api.login("alice"), api.login("bob")
    assert api.end_session(bob.session_id, user_id="alice") is False  # the route answers 404
    assert api.judge(bob.access_token) == "accepted"
    assert api.end_session(alice.session_id, user_id="alice") is True


def test_all_other_devices(api: Sessions) -> None:
    first, second, here = (api.login("alice", description=name) for name in ("a", "b", "here"))
    assert api.end_other_sessions("alice", here.session_id) == 2
    assert [api.judge(p.access_token) for p in (first, second, here)] == [
        "session_revoked",
        "session_revoked",
        "accepted",
    ]
    assert [s.description for s in api.sessions("alice")] == ["here"]


def test_logout_everywhere_and_credential_events_end_every_session(api: Sessions) -> None:
    for event in ("logout_everywhere", "credentials_changed"):
        pairs = [api.login("alice") for _ in range(3)]
        assert getattr(api, event)("alice") is True
        assert {api.judge(p.access_token) for p in pairs} == {"revoked"}
        for pair in pairs:
            with pytest.raises(InvalidGrant):
                api.refresh(pair.refresh_token)
        assert api.sessions("alice") == []
        fresh = api.login("alice")
        assert api.judge(fresh.access_token) == "accepted"
        assert api.judge(api.refresh(fresh.refresh_token).access_token) == "accepted"
    assert api.logout_everywhere("nobody") is False


def test_single_session_ends_the_earlier_ones(open_sessions: Callable[..., Sessions]) -> None:
    api = open_sessions(single_session=True)
    first = api.login("alice")
    second = api.login("alice")
    assert api.judge(first.access_token) == "revoked"  # its version is below the user's now
    assert api.judge(second.access_token) == "accepted"
    with pytest.raises(InvalidGrant):
        api.refresh(first.refresh_token)
    assert [s.sid for s in api.sessions("alice")] == [second.session_id]


def test_disabled_and_unknown_users_cannot_log_in_or_refresh(api: Sessions) -> None:
    pair = api.login("alice")
    api.disable_user("alice")
    with pytest.raises(LoginRefused) as refused:
        api.login("alice")
    assert refused.value.reason == "disabled"
    with pytest.raises(InvalidGrant):
        api.refresh(pair.refresh_token)
    api.enable_user("alice")
    assert api.judge(api.refresh(pair.refresh_token).access_token) == "accepted"
    if api.memory is not None or (api.settings.store_url and api.settings.store_url.startswith("mongodb")):
        with pytest.raises(LoginRefused) as unknown:
            api.login("nobody")  # MongoDB's users are the app's documents: none, no login
        assert unknown.value.reason == "unknown_user"


def test_sessions_need_the_setting(store_kind: tuple[str, str | None]) -> None:
    settings = (
        Settings(secret=SECRET, store_url=store_kind[1]) if store_kind[0] != "memory" else Settings(secret=SECRET)
    )
    admin = Admin(settings, store=MemoryStore(settings) if store_kind[0] == "memory" else None)
    try:
        with pytest.raises(ConfigError) as raised:
            admin.login("alice")
        assert raised.value.variable == "JWTGUARD_SESSIONS"
    finally:
        admin.close()


# -- refresh rotation ---------------------------------------------------------------------------


def test_refresh_rotates_and_the_new_pair_works(api: Sessions) -> None:
    pair = api.login("alice", description="tab")
    rotated = api.refresh(pair.refresh_token)
    assert rotated.session_id == pair.session_id
    assert rotated.refresh_token != pair.refresh_token
    assert api.judge(rotated.access_token) == "accepted"
    assert api.judge(pair.access_token) == "accepted"  # the old access token lives until its exp
    again = api.refresh(rotated.refresh_token)
    assert api.judge(again.access_token) == "accepted"


def test_the_immediate_predecessor_within_the_grace_is_no_theft(api: Sessions) -> None:
    """RFC 9700 §4.14.2 with a grace for racing tabs: "token already rotated", the session lives."""
    pair = api.login("alice")
    rotated = api.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(pair.refresh_token)
    assert refused.value.description == "token already rotated"
    assert refused.value.session_ended is False
    assert api.judge(rotated.access_token) == "accepted"
    assert api.judge(api.refresh(rotated.refresh_token).access_token) == "accepted"


def test_reuse_after_the_grace_ends_the_session(open_sessions: Callable[..., Sessions]) -> None:
    """RFC 9700 §4.14.2: a spent refresh token presented again ends the session, its access tokens too."""
    api = open_sessions(refresh_grace=0)
    pair = api.login("alice")
    other = api.login("alice")
    rotated = api.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(pair.refresh_token)  # the thief's copy, or the victim's: one of them is a thief
    assert refused.value.session_ended is True
    assert api.judge(rotated.access_token) == "session_revoked"
    assert api.judge(pair.access_token) == "session_revoked"
    with pytest.raises(InvalidGrant):
        api.refresh(rotated.refresh_token)
    assert api.judge(other.access_token) == "accepted"  # end_session: only that session


def test_reuse_of_an_older_token_ends_the_session_even_within_the_grace(api: Sessions) -> None:
    pair = api.login("alice")
    second = api.refresh(pair.refresh_token)
    third = api.refresh(second.refresh_token)
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(pair.refresh_token)  # two rotations old: not a racing tab
    assert refused.value.session_ended is True
    assert api.judge(third.access_token) == "session_revoked"


def test_reuse_can_log_the_user_out_everywhere(open_sessions: Callable[..., Sessions]) -> None:
    api = open_sessions(refresh_grace=0, refresh_reuse="logout_everywhere")
    pair, other = api.login("alice"), api.login("alice")
    api.refresh(pair.refresh_token)
    with pytest.raises(InvalidGrant):
        api.refresh(pair.refresh_token)
    assert api.judge(other.access_token) == "revoked"
    assert api.sessions("alice") == []


HOSTILE_REFRESH_TOKENS: list[Any] = [
    "",
    "short",
    "x" * (MAX_REFRESH_TOKEN_LENGTH + 1),
    "x" * 1_000_000,
    "a" * 43 + "\n",
    "../../etc/passwd-0123456789",
    "é" * 43,
    "\ud800" * 20,
    {"$ne": None},
    ["a" * 43],
    None,
    43,
    b"a" * 43,
    "A" * 43,  # well formed, unknown
]


@pytest.mark.parametrize("token", HOSTILE_REFRESH_TOKENS, ids=range(len(HOSTILE_REFRESH_TOKENS)))
def test_bad_refresh_tokens_are_invalid_grant(api: Sessions, token: Any) -> None:
    """Issue 10 "Bad input": garbage, huge, unknown → invalid_grant, never another exception."""
    api.login("alice")
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(token)
    assert refused.value.error == "invalid_grant"
    assert refused.value.session_ended is False


def test_an_expired_refresh_token_is_invalid_grant(
    open_sessions: Callable[..., Sessions], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = open_sessions(refresh_ttl=60)
    pair = api.login("alice")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 61)
    with pytest.raises(InvalidGrant) as refused:
        api.refresh(pair.refresh_token)
    assert refused.value.description == "the refresh token is unknown or expired"


def test_refresh_tokens_are_stored_only_as_hashes(open_sessions: Callable[..., Sessions]) -> None:
    api = open_sessions()
    pair = api.login("alice")
    if api.memory is not None:
        stored = repr(api.memory._tables)
    elif api.settings.store_url and api.settings.store_url.startswith("sqlite"):
        import sqlite3

        path = api.settings.store_url[len("sqlite:///") :]
        stored = repr(sqlite3.connect(path).execute("SELECT * FROM users_tokens").fetchall())
    else:
        import pymongo

        client: Any = pymongo.MongoClient(api.settings.store_url)
        stored = repr(list(client.get_default_database()["users_tokens"].find()))
        client.close()
    assert pair.refresh_token not in stored
    assert pair.access_token not in stored


# -- the per-token denylist ---------------------------------------------------------------------


def test_revoke_token_refuses_that_token_only(api: Sessions) -> None:
    pair = api.login("alice")
    sibling = api.refresh(pair.refresh_token)
    assert api.revoke_token(pair.access_token) is True
    assert api.judge(pair.access_token) == "revoked"
    assert api.judge(sibling.access_token) == "accepted"


def test_revoke_by_bare_jti_with_an_expiry(api: Sessions) -> None:
    pair = api.login("alice")
    jti = api.engine.verify(pair.access_token).jti  # type: ignore[union-attr]
    assert api.revoke_jti("alice", jti, expires=time.time() + 60) is True
    assert api.judge(pair.access_token) == "revoked"
    assert api.revoke_jti("nobody", "some-id") is False
    for bad in ("", "x" * 257, 7, None):
        with pytest.raises(ValueError, match="jti"):
            api.revoke_jti("alice", bad)


def test_revoke_token_refuses_what_is_no_token_of_ours(api: Sessions) -> None:
    for bad in ("garbage", "a.b.c", api.login("alice").access_token[:-3] + "abc"):
        with pytest.raises(ValueError, match="not a token this guard accepts") as raised:
            api.revoke_token(bad)
        assert bad not in str(raised.value)


# -- the version rule, one function -------------------------------------------------------------

VERSION_RULE = [
    # (token tv, iat, stored version, not_before, stale?, why)
    (None, 100.0, 0, None, False, "nothing stored"),
    (None, 100.0, 5, None, False, "no tv: the version check is skipped"),
    (None, 100.0, 5, 101.0, True, "no tv: the date still applies"),
    (4, 200.0, 5, None, True, "tv below the stored version"),
    (5, 200.0, 5, None, False, "tv equal: alive"),
    (6, 200.0, 5, None, False, "tv above a stale cache: never refused"),
    (5, 100.0, 5, 101.0, True, "both checks apply: the date refuses"),
    (4, 300.0, 5, 101.0, True, "both checks apply: the version refuses"),
    (5, 101, 5, 101.9, False, "whole-second iat in the cut-off's second"),
]


@pytest.mark.parametrize(
    ("tv", "iat", "version", "not_before", "stale"),
    [row[:5] for row in VERSION_RULE],
    ids=[row[5] for row in VERSION_RULE],
)
def test_the_staleness_rule(tv: int | None, iat: float, version: int, not_before: float | None, stale: bool) -> None:
    assert is_stale_token(tv, iat, version, not_before) is stale


@pytest.mark.parametrize("value", [True, -1, 2**63, 1.5, "3", [1], {"$gt": 0}])
def test_a_version_claim_of_the_wrong_type_is_invalid(api: Sessions, value: Any) -> None:
    from jwtguard import issue_token

    token = issue_token(api.settings, "alice", tv=value, sid="s" * 10)
    assert api.judge(token) == "invalid"


@pytest.mark.parametrize("claim", ["sid", "jti"])
@pytest.mark.parametrize("value", ["", "x" * 257, 5, {"$ne": None}, ["a"]])
def test_ids_of_the_wrong_type_are_invalid(api: Sessions, claim: str, value: Any) -> None:
    from jwtguard import issue_token

    assert api.judge(issue_token(api.settings, "alice", **{claim: value})) == "invalid"


def test_own_tokens_need_a_live_session_foreign_ones_only_an_unended_one(
    open_sessions: Callable[..., Sessions],
) -> None:
    """A jwtguard-issued token naming no session of ours is refused; another issuer's `sid` is not ours to know."""
    from jwtguard import issue_token
    from jwtguard.sessions import signals

    api = open_sessions(oidc_client_id="app")  # the state table of issue 12 is read
    assert api.judge(issue_token(api.settings, "alice", sid="never-opened")) == "session_revoked"
    # A guard whose tokens come from elsewhere (no sessions of its own): a `sid` is refused only once ended.
    foreign = issue_token(api.settings, "alice", sid="provider-session")
    guard = Engine(api.settings.replace(sessions=False), store=api.engine.store, bus=InvalidationBus())
    assert guard.handle(Request("GET", "/", ("Bearer " + foreign,))).reason == "accepted"
    issuer = api.settings.issuer
    assert issuer is not None
    ended = signals.end_provider_session(
        issuer, "provider-session", "alice", now=time.time(), settings=api.settings, source="test"
    )
    assert api.run(ended)
    assert guard.handle(Request("GET", "/", ("Bearer " + foreign,))).reason == "session_revoked"
    assert well_formed("A" * 43) and not well_formed("A" * 15)


#: Policy.predates: when a cached state must be read again before it may refuse a token (issue 10).
#: A token issued at T - age, with a 5 s JWTGUARD_CACHE_TTL and a 1 s leeway.
PREDATES = [
    # (own issuer, sid, age, the cached state's sessions / ended, read again?, why)
    (True, "new", 1.0, (), (), True, "a session opened after the state was cached"),
    (True, "new", 5.9, (), (), True, "within the cache's lifetime plus the leeway"),
    (True, "new", 6.1, (), (), False, "older than any cached state: that state knew of it"),
    (True, "new", 1.0, ("new",), (), False, "the state knows the session"),
    (True, "new", 1.0, ("new",), ("new",), False, "ended: a newer state only refuses more"),
    (True, "new", 1.0, (), ("new",), False, "ended without its record"),
    (True, None, 1.0, (), (), False, "no sid"),
    (False, "new", 1.0, (), (), False, "another issuer's sid: never ours to know"),
]


@pytest.mark.parametrize(
    ("own", "sid", "age", "sessions", "ended", "again"),
    [row[:6] for row in PREDATES],
    ids=[row[6] for row in PREDATES],
)
def test_a_cached_state_may_predate_the_tokens_session(
    own: bool, sid: str | None, age: float, sessions: tuple[str, ...], ended: tuple[str, ...], again: bool
) -> None:
    from jwtguard.sansio import Policy, Verified
    from jwtguard.sansio.state import Session, UserState

    now = 1_800_000_000.0
    policy = Policy(session_settings(None, cache_ttl=5, leeway=1))
    claims = {"sub": "alice", "iat": now - age, "exp": now + 600, "iss": ISSUER if own else "https://other.example"}
    verified = policy.verified({}, {**claims, **({"sid": sid} if sid else {})})
    assert isinstance(verified, Verified)
    state = UserState(sessions={s: Session(now - 10, 0, now + 600) for s in sessions}, ended=frozenset(ended))
    assert policy.predates(verified, state, now) is again
    # An unknown user: a young own token's login may have made it (the embedded store) in another process.
    assert policy.predates(verified, None, now) is (own and age < 6.0)


def test_a_session_opened_in_another_process_is_not_refused_by_a_cached_state(
    open_sessions: Callable[..., Sessions],
) -> None:
    """Issue 10: under several workers a login in one, then a request in another that cached the user.

    The guard's engine is on a bus of its own: the admin's logins are another process's.
    """
    from jwtguard import issue_token

    api = open_sessions(cache_ttl=60)
    first = api.login("alice")
    assert api.judge(first.access_token) == "accepted"  # the state is cached, with one session
    second = api.login("alice")
    misses = api.engine.states.misses
    assert api.judge(second.access_token) == "accepted"  # read again, not refused by the cached state
    assert api.engine.states.misses == misses + 1
    assert api.judge(second.access_token) == "accepted"
    assert api.engine.states.misses == misses + 1  # the fresh state is cached: one read, not one per request
    assert api.end_session(second.session_id)
    assert api.judge(second.access_token) == "accepted"  # an ended session waits for the cache (JWTGUARD_CACHE_TTL)
    never_opened = issue_token(api.settings, "alice", sid="never-opened")
    assert api.judge(never_opened) == "session_revoked"  # read again: the store's answer refuses it


# -- the embedded store's schema ------------------------------------------------------------------


def test_a_file_made_by_the_previous_release_is_migrated(tmp_path: Any) -> None:
    """`PRAGMA user_version` numbered migrations, run under the write lock at first open."""
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    # Exactly what releases before sessions wrote (jwtguard 0.1.0, user_version 0).
    old.execute('CREATE TABLE IF NOT EXISTS "users" (id PRIMARY KEY, not_before REAL, enabled INTEGER) WITHOUT ROWID')
    old.execute("INSERT INTO users VALUES ('alice', ?, 1), ('bob', NULL, 0)", (time.time() - 60,))
    old.commit()
    old.close()
    settings = session_settings(f"sqlite:///{path}")
    api = Sessions(settings, "sqlite", "sync")
    try:
        alice, bob = api.status("alice"), api.status("bob")
        assert alice is not None and alice.not_before is not None and alice.enabled
        assert bob is not None and not bob.enabled
        assert api.judge(api.login("alice").access_token) == "accepted"
    finally:
        api.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 3  # issue 12 added the state table
    tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "users_revocations", "users_tokens", "users_events", "jwtguard_state"} <= tables
    check.execute("PRAGMA user_version = 7")  # a later release's file keeps its number
    check.commit()
    check.close()
    api = Sessions(settings, "sqlite", "sync")
    try:
        assert api.status("alice") is not None
    finally:
        api.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 7
    check.close()


def test_a_damaged_record_refuses_the_users_tokens(open_sessions: Callable[..., Sessions]) -> None:
    """A record that revokes something is never skipped because it is damaged: fail closed."""
    api = open_sessions()
    pair = api.login("alice")
    from jwtguard.stores import records as r

    assert api.judge(pair.access_token) == "accepted"
    damaged = {"_id": "tv|s:alice|bad", "user": "alice", "kind": "version", "tv": "9"}
    assert api.run(_insert(r.Insert("records", damaged))) is True
    assert api.judge(pair.access_token) == "revoked"


def _insert(op: Any) -> Any:
    inserted = yield op
    return inserted


# -- login alerts ---------------------------------------------------------------------------------


def test_the_login_hook_gets_a_link_that_is_no_access_token(open_sessions: Callable[..., Sessions]) -> None:
    from jwtguard.sessions.alerts import LoginAlert

    api = open_sessions(alert_secret="alert-secret-" + "x" * 40)
    alerts: list[LoginAlert] = []
    api.admin.on_login = alerts.append
    pair = api.login("alice", description="Chrome from 203.0.113.0/24")
    (alert,) = alerts
    assert (alert.user_id, alert.session_id, alert.description) == (
        "alice",
        pair.session_id,
        "Chrome from 203.0.113.0/24",
    )
    assert alert.not_me is not None
    assert api.judge(alert.not_me) == "invalid"  # signed with another key, for another audience
    assert api.read_not_me(pair.access_token) is None
    link = api.read_not_me(alert.not_me)
    assert link is not None and link.session_id == pair.session_id
    assert api.judge(pair.access_token) == "accepted"  # reading it changed nothing
    assert api.not_me(alert.not_me) == "alice"
    assert api.judge(pair.access_token) == "revoked"
    assert api.not_me(alert.not_me) is None  # single use


def test_a_failing_login_hook_does_not_fail_the_login(api: Sessions) -> None:
    def broken(alert: Any) -> None:
        raise RuntimeError(f"smtp down, link {alert.not_me}")

    api.admin.on_login = broken
    assert api.judge(api.login("alice").access_token) == "accepted"


# -- store load and names -------------------------------------------------------------------------


def test_a_users_records_come_in_the_same_read_on_mongodb(mongo_uri: str) -> None:
    """Issue 10 and 12: a user's denied ids, ended sessions, sessions and provider state load with it: three finds."""
    from pymongo import monitoring

    class Finds(monitoring.CommandListener):
        def __init__(self) -> None:
            self.names: list[str] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            self.names.append(event.command_name)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    from jwtguard.stores.mongo import MongoStore

    settings = session_settings(mongo_uri)
    api = Sessions(settings, "mongo", "sync")
    try:
        api.add_user("alice")
        pairs = [api.login("alice") for _ in range(3)]
        api.end_session(pairs[0].session_id)
        api.revoke_token(pairs[1].access_token)
        listener = Finds()
        import pymongo

        client: Any = pymongo.MongoClient(mongo_uri, event_listeners=[listener], tz_aware=True)
        store = MongoStore(settings, client=client)
        listener.names.clear()
        document = store.load("alice")
        assert listener.names == ["find", "find", "find"]  # the user, its records, what providers said (issue 12)
        engine = Engine(settings, store=store, bus=InvalidationBus())
        verdicts = [engine.handle(Request("GET", "/", ("Bearer " + p.access_token,))).reason for p in pairs]
        assert verdicts == ["session_revoked", "revoked", "accepted"]
        assert document is not None
        client.close()
    finally:
        api.close()


def test_configured_collection_names_hold_the_records(store_kind: tuple[str, str | None]) -> None:
    kind, url = store_kind
    if kind == "memory":
        pytest.skip("the memory store has no names")
    settings = session_settings(url, records_collection="app_records", refresh_collection="app_refresh")
    api = Sessions(settings, kind, "sync")
    try:
        api.add_user("alice")
        pair = api.login("alice")
        if kind == "sqlite":
            import sqlite3

            db = sqlite3.connect(str(url)[len("sqlite:///") :])
            counts = [
                db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in ("app_records", "app_refresh")
            ]
            db.close()
        else:
            import pymongo

            client: Any = pymongo.MongoClient(url)
            database = client.get_default_database()
            counts = [database[name].count_documents({}) for name in ("app_records", "app_refresh")]
            assert "users_revocations" not in database.list_collection_names()
            indexes = database["app_refresh"].index_information()
            assert any(spec["key"] == [("expires", 1)] for spec in indexes.values())
            client.close()
        assert counts[0] >= 1 and counts[1] == 1
        assert api.judge(pair.access_token) == "accepted"
    finally:
        api.close()
