"""One suite for both stores: MongoDB (the real FerretDB/mongod server) and the embedded SQLite file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from jwtguard import Admin, AsyncAdmin, Settings
from jwtguard.core import Guard, Verified, user_state
from jwtguard.errors import StoreError
from jwtguard.stores import Change, open_async_store, open_store
from jwtguard.stores.sqlite import database_path

from conftest import SECRET, bearer


@pytest.fixture(params=["mongo", "sqlite"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "mongo":
        url = request.getfixturevalue("mongo_uri")
    else:
        url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    return Settings(secret=SECRET, store_url=url, store_timeout=1.0)


@pytest.fixture
def store(store_settings: Settings) -> Iterator[Any]:
    opened = open_store(store_settings)
    yield opened
    opened.close()


def test_unknown_user_is_none(store: Any) -> None:
    assert store.load("nobody") is None
    assert store.apply("nobody", Change(enabled=False)) is False


def test_create_then_enable_flag(store: Any, store_settings: Settings) -> None:
    store.apply("alice", Change(create=True))
    assert user_state(store.load("alice"), store_settings).enabled is True  # type: ignore[union-attr]
    assert store.apply("alice", Change(enabled=False)) is True
    assert user_state(store.load("alice"), store_settings).enabled is False  # type: ignore[union-attr]
    store.apply("alice", Change(enabled=True, create=True))  # upsert of an existing user
    assert user_state(store.load("alice"), store_settings).enabled is True  # type: ignore[union-attr]


def test_not_before_round_trips_with_milliseconds(store: Any, store_settings: Settings) -> None:
    cut = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=timezone.utc)
    store.apply("alice", Change(not_before=cut, create=True))
    state = user_state(store.load("alice"), store_settings)
    assert state is not None
    assert state.not_before == pytest.approx(cut.timestamp(), abs=1e-6)


def test_string_and_integer_ids_are_different_users(store: Any, store_settings: Settings) -> None:
    store.apply(1, Change(enabled=False, create=True))
    store.apply("1", Change(enabled=True, create=True))
    assert user_state(store.load(1), store_settings).enabled is False  # type: ignore[union-attr]
    assert user_state(store.load("1"), store_settings).enabled is True  # type: ignore[union-attr]
    assert store.load(2) is None


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_decisions_do_not_depend_on_the_local_time_zone(store: Any, store_settings: Settings, zone: str) -> None:
    """Naive datetimes read as local time would shift the cut-off by hours: a revocation bypass."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        guard = Guard(store_settings)
        now = time.time()
        store.apply("alice", Change(not_before=datetime.fromtimestamp(now - 60, timezone.utc), create=True))
        state = user_state(store.load("alice"), store_settings)
        before = Verified({}, "alice", now - 61, now + 600, None)
        after = Verified({}, "alice", now - 59, now + 600, None)
        assert guard.decide(before, state) is guard.revoked
        assert guard.decide(after, state) is None
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_async_store_same_answers(store: Any, store_settings: Settings) -> None:
    store.apply("alice", Change(enabled=False, create=True))

    async def main() -> tuple[Any, Any, bool]:
        async_store = open_async_store(store_settings)
        try:
            return (
                await async_store.load("alice"),
                await async_store.load("ghost"),
                await async_store.apply("ghost", Change(enabled=True)),
            )
        finally:
            await async_store.close()

    alice, ghost, applied = asyncio.run(main())
    assert user_state(alice, store_settings).enabled is False  # type: ignore[union-attr]
    assert ghost is None
    assert applied is False


def test_async_admin(store: Any, store_settings: Settings) -> None:
    async def main() -> None:
        admin = AsyncAdmin(store_settings)
        try:
            await admin.create_user("alice")
            assert await admin.disable_user("alice") is True
            assert (await admin.status("alice")).enabled is False  # type: ignore[union-attr]
            assert await admin.logout_everywhere("alice") is True
            assert (await admin.status("alice")).not_before is not None  # type: ignore[union-attr]
            assert await admin.enable_user("nobody") is False
        finally:
            await admin.close()

    asyncio.run(main())


def test_async_loads_do_not_block_the_loop(store_settings: Settings) -> None:
    """A ticker keeps ticking while many loads are in flight."""

    async def main() -> tuple[int, int]:
        async_store = open_async_store(store_settings)
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(ticker())
        results = await asyncio.gather(*(async_store.load(f"user{i}") for i in range(50)))
        done = True
        await task
        await async_store.close()
        return ticks, len(results)

    ticks, count = asyncio.run(main())
    assert count == 50
    assert ticks > 10


def test_middleware_on_each_store(make_client: Any, store_settings: Settings) -> None:
    admin = Admin(store_settings)
    admin.create_user("alice")
    client = make_client(store_settings)
    token = admin.issue_token("alice")
    assert client("GET", "/api/me", bearer(token)).status == 200
    admin.logout_everywhere("alice")
    reply = client("GET", "/api/me", bearer(token))
    assert reply.status == 401
    assert reply.json()["reason"] == "revoked"
    assert client("GET", "/api/me", bearer(admin.issue_token("ghost"))).json()["reason"] == "unknown_user"
    admin.close()


def test_sqlite_write_from_another_process_is_seen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    settings = Settings(secret=SECRET, store_url=url, cache_ttl=0.2)
    store = open_store(settings)
    store.apply("alice", Change(create=True))
    guard = Guard(settings)
    token = Verified({}, "alice", time.time(), time.time() + 600, None)
    assert guard.decide(token, user_state(store.load("alice"), settings)) is None
    code = (
        "import sys; from jwtguard import Admin, Settings; "
        f"Admin(Settings(secret={SECRET!r}, store_url={url!r})).disable_user('alice')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert guard.decide(token, user_state(store.load("alice"), settings)) is guard.disabled
    store.close()


def test_sqlite_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    store = open_store(settings)
    with pytest.raises(StoreError) as raised:
        store.load("alice")
    assert SECRET not in str(raised.value)


def test_sqlite_store_down_is_503(make_client: Any, tmp_path: Path) -> None:
    from jwtguard.tokens import issue_token

    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    reply = make_client(settings)("GET", "/api/me", bearer(issue_token(settings, "alice")))
    assert reply.status == 503


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_path(None) == str(tmp_path / "jwtguard.db")
    assert database_path("sqlite:///rel/x.db") == str(tmp_path / "rel" / "x.db")
    assert database_path("sqlite:////abs/x.db") == "/abs/x.db"


def test_embedded_store_is_the_default_and_named_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(Settings(secret=SECRET))
    store.apply("alice", Change(create=True))
    assert (tmp_path / "jwtguard.db").exists()
    assert str(tmp_path / "jwtguard.db") in caplog.text
    store.close()
