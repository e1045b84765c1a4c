"""The admin API's issuing (issue 9): a login's store work, one async API, standard tokens.

Every test runs on both real stores (``store_url``: MongoDB on FerretDB, and an SQLite file) and,
where a guarded app answers, behind both adapters (``make_client``: Flask and Starlette).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import jwt
import pytest

from jwtguard import Admin, AsyncAdmin, Settings, issue_token
from jwtguard.sansio import UserState
from jwtguard.stores import Change, Store, open_store

from conftest import SECRET, Client, bearer

T = TypeVar("T")


def is_mongo(url: str) -> bool:
    return url.startswith("mongodb")


def settings_for(url: str, **options: Any) -> Settings:
    # A long cache: what a test sees after a change comes from the bus, never from an expiry.
    return Settings(secret=SECRET, store_url=url, **{"store_timeout": 5.0, "cache_ttl": 600.0, **options})


@pytest.fixture
def admin(store_url: str) -> Iterator[Admin]:
    opened = Admin(settings_for(store_url))
    yield opened
    opened.close()


@pytest.fixture
def elsewhere(admin: Admin) -> Iterator[Store]:
    """The same store written by another process (the CLI): its changes are not on this process's bus."""
    opened = open_store(admin.settings)
    yield opened
    opened.close()


def me(client: Client, token: str) -> tuple[int, str | None, str | None]:
    reply = client("GET", "/api/me", bearer(token))
    return reply.status, reply.json().get("reason"), reply.headers.get("x-user-enabled")


def run_async(settings: Settings, body: Callable[[AsyncAdmin], Awaitable[T]]) -> T:
    """*body* with an AsyncAdmin on its own event loop (its store's client belongs to that loop)."""

    async def main() -> T:
        admin = AsyncAdmin(settings)
        try:
            return await body(admin)
        finally:
            await admin.close()

    return asyncio.run(main())


# -- item 3: the first token of a user the embedded store does not know yet ---------------


def test_the_first_token_is_accepted_on_the_embedded_store(
    admin: Admin, make_client: Callable[[Settings], Client], store_url: str
) -> None:
    """issue 9: the first token from issue_token was refused (unknown_user) until create_user.

    Admin.issue_token creates the embedded store's row when it is missing. On MongoDB the users are
    the application's documents: a user without one stays unknown, and nothing is written.
    """
    client = make_client(admin.settings)
    token = admin.issue_token("alice")
    if is_mongo(store_url):
        assert me(client, token) == (401, "unknown_user", "false")
        assert admin.status("alice") is None  # no document was made
    else:
        assert me(client, token) == (200, None, "true")
        assert admin.status("alice") == UserState(enabled=True)


def test_issuing_never_re_enables_a_user(admin: Admin, make_client: Callable[[Settings], Client]) -> None:
    """issue 9: issuing creates a missing row only; a disabled user stays disabled on both stores."""
    admin.create_user("alice")
    assert admin.disable_user("alice") is True
    client = make_client(admin.settings)
    token = admin.issue_token("alice")
    assert me(client, token) == (401, "disabled", "false")
    assert admin.status("alice") == UserState(enabled=False)


def test_plain_issue_token_only_signs(admin: Admin, make_client: Callable[[Settings], Client]) -> None:
    """issue 9: jwtguard.issue_token stays pure: no row is created, the user stays unknown."""
    client = make_client(admin.settings)
    assert me(client, issue_token(admin.settings, "bob")) == (401, "unknown_user", "false")
    assert admin.status("bob") is None


# -- item 4: a login right after a change made in another process ---------------------------


def test_a_login_after_an_enable_elsewhere_is_judged_on_fresh_state(
    admin: Admin, elsewhere: Store, make_client: Callable[[Settings], Client]
) -> None:
    """issue 9: after `jwtguard enable alice`, /login said OK and the cached "disabled" refused its token.

    Issuing drops this process's cached state of the user (the invalidation bus), so the new
    token is judged on the store's state now, not on what was cached up to JWTGUARD_CACHE_TTL ago.
    """
    admin.create_user("alice")
    old = admin.issue_token("alice")
    assert elsewhere.apply("alice", Change(enabled=False))  # `jwtguard disable alice`, in a shell
    client = make_client(admin.settings)
    assert me(client, old) == (401, "disabled", "false")  # "disabled" is cached now
    assert elsewhere.apply("alice", Change(enabled=True))  # `jwtguard enable alice`
    assert me(client, old) == (401, "disabled", "false")  # still cached: the TTL is 600 s
    fresh = admin.issue_token("alice")  # the login
    assert me(client, fresh) == (200, None, "true")
    assert me(client, old) == (200, None, "true")  # the same fresh state for every token of hers


def test_a_login_through_the_async_admin_drops_the_cached_state(
    store_url: str, elsewhere: Store, make_client: Callable[[Settings], Client]
) -> None:
    """issue 9: the same through `await AsyncAdmin.issue_token`."""
    settings = settings_for(store_url)
    elsewhere.apply("carol", Change(create=True, enabled=False))
    client = make_client(settings)
    old = issue_token(settings, "carol")
    assert me(client, old) == (401, "disabled", "false")  # cached
    elsewhere.apply("carol", Change(enabled=True))
    fresh = run_async(settings, lambda admin: admin.issue_token("carol"))
    assert me(client, fresh) == (200, None, "true")


def test_every_admin_write_drops_the_cached_state(admin: Admin, make_client: Callable[[Settings], Client]) -> None:
    """issue 9: any Admin write reaches this process's guard at once, whatever was cached."""
    admin.create_user("dave")
    client = make_client(admin.settings)
    token = admin.issue_token("dave")
    assert me(client, token)[0] == 200
    admin.disable_user("dave")
    assert me(client, token) == (401, "disabled", "false")
    admin.enable_user("dave")
    assert me(client, token)[0] == 200
    admin.logout_everywhere("dave")
    assert me(client, token) == (401, "revoked", None)


# -- item 6: one async API ------------------------------------------------------------------


def test_every_async_admin_method_is_awaited(store_url: str) -> None:
    """issue 9: AsyncAdmin.issue_token was the one method that must not be awaited."""
    public = [name for name in vars(Admin) if not name.startswith("_")]
    assert {"issue_token", "status", "create_user", "close"} <= set(public)
    for name in public:
        assert inspect.iscoroutinefunction(getattr(AsyncAdmin, name)), name
        assert inspect.signature(getattr(AsyncAdmin, name)) == inspect.signature(getattr(Admin, name)), name

    async def body(admin: AsyncAdmin) -> tuple[str, UserState | None]:
        token = await admin.issue_token("erin", ttl=60, role="reader")
        return token, await admin.status("erin")

    token, state = run_async(settings_for(store_url), body)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["exp"] - int(claims["iat"])) == ("erin", "reader", 60)
    assert state == (None if is_mongo(store_url) else UserState(enabled=True))


# -- standard tokens: sub is a string -------------------------------------------------------


def test_integer_ids_are_issued_as_string_subs(store_url: str, make_client: Callable[[Settings], Client]) -> None:
    """issue 9: RFC 7519 §4.1.2 makes sub a string; plain PyJWT refused our integer subs.

    Under JWTGUARD_USER_ID_TYPE=int, "42" is user 42 again, so the token works here and elsewhere.
    """
    settings = settings_for(store_url, user_id_type="int")
    admin = Admin(settings)
    try:
        admin.create_user(42)
        for token in (admin.issue_token(42), issue_token(settings, 42)):
            claims = jwt.decode(token, SECRET, algorithms=["HS256"])  # PyJWT's own checks, sub included
            assert claims["sub"] == "42"
            # The guard maps "42" to the stored integer 42 (the app is handed the claim as signed).
            reply = make_client(settings)("GET", "/api/me", bearer(token))
            assert reply.status == 200, reply.body
        admin.disable_user(42)
        assert me(make_client(settings), admin.issue_token(42)) == (401, "disabled", "false")
    finally:
        admin.close()


def test_an_integer_sub_under_auto_is_refused_naming_the_setting(store_url: str) -> None:
    """issue 9: under auto, "42" is the string user, another one: issuing 42 says to set the type."""
    admin = Admin(settings_for(store_url))
    try:
        admin.create_user(42)
        for issue in (admin.issue_token, lambda user: issue_token(admin.settings, user)):
            with pytest.raises(ValueError, match="JWTGUARD_USER_ID_TYPE=int"):
                issue(42)
        assert admin.status("42") is None  # nothing was created for the string id either
    finally:
        admin.close()


def test_tokens_already_issued_with_an_integer_sub_keep_working(
    store_url: str, make_client: Callable[[Settings], Client]
) -> None:
    """issue 9: a token signed with an integer sub before the change still names the integer user."""
    now = int(time.time())
    legacy = jwt.encode({"sub": 42, "iat": now, "exp": now + 60}, SECRET)
    for id_type in ("auto", "int"):
        settings = settings_for(store_url, user_id_type=id_type)
        admin = Admin(settings)
        try:
            admin.create_user(42)
            reply = make_client(settings)("GET", "/api/me", bearer(legacy))
            assert (reply.status, reply.json()["user"]) == (200, 42), id_type
        finally:
            admin.close()


def test_a_custom_user_claim_keeps_integers(store_url: str, make_client: Callable[[Settings], Client]) -> None:
    """issue 9: only sub is a string by the RFC; a custom JWTGUARD_USER_CLAIM carries the id as given."""
    settings = settings_for(store_url, user_claim="uid")
    admin = Admin(settings)
    try:
        admin.create_user(7)
        token = admin.issue_token(7)
        assert jwt.decode(token, SECRET, algorithms=["HS256"])["uid"] == 7
        reply = make_client(settings)("GET", "/api/me", bearer(token))
        assert (reply.status, reply.json()["user"]) == (200, 7)
    finally:
        admin.close()
