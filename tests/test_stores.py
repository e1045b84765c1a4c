"""One suite for both stores: MongoDB (the real FerretDB/mongod server) and the embedded SQLite file.

The shared tests take the ``store_url`` fixture (conftest), parametrised over
``mongo`` and ``sqlite``; the SQLite-only ones come last: other processes,
locks, files that cannot be opened, the default file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import jwt
import pytest

from jwtguard import Admin, AsyncAdmin, Settings, issue_token
from jwtguard.errors import ConfigError, StoreError
from jwtguard.sansio import Policy, UserState, user_state
from jwtguard.stores import AsyncStore, Change, Store, open_async_store, open_store
from jwtguard.stores.base import CUTOFF_RECORDS
from jwtguard.stores.sqlite import MAX_IDLE_CONNECTIONS, database_path

from conftest import SECRET, bearer, verified

T = TypeVar("T")


@pytest.fixture
def store_settings(store_url: str) -> Settings:
    return Settings(secret=SECRET, store_url=store_url, store_timeout=2.0)


@pytest.fixture
def store(store_settings: Settings) -> Iterator[Store]:
    opened = open_store(store_settings)
    yield opened
    opened.close()


def run_async(settings: Settings, body: Callable[[AsyncStore], Awaitable[T]]) -> T:
    """Run *body* with a fresh async store on a fresh event loop, and close the store."""

    async def main() -> T:
        async_store = open_async_store(settings)
        try:
            return await body(async_store)
        finally:
            await async_store.close()

    return asyncio.run(main())


def written_cut_offs(document: Any, settings: Settings) -> list[Any]:
    """The cut-offs jwtguard wrote, as stored: its records on MongoDB, the row's column on SQLite."""
    values = [document.get(name) for name in settings.not_before_fields]
    return [value for value in (*values, *document.get(CUTOFF_RECORDS, ())) if value is not None]


def state_of(store: Store, settings: Settings, user: str | int) -> UserState:
    state = user_state(store.load(user), settings)
    assert state is not None, f"{user!r} should exist"
    return state


@pytest.fixture
def local_zone() -> Iterator[Callable[[str], None]]:
    """Switch the process's local time zone (TZ + tzset); restored afterwards."""
    old = os.environ.get("TZ")

    def switch(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield switch
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


# -- both stores -------------------------------------------------------------


def test_unknown_user_is_none_and_changes_find_nobody(store: Store) -> None:
    assert store.load("nobody") is None
    assert store.apply("nobody", Change(enabled=False)) is False
    assert store.apply("nobody", Change(not_before=datetime.now(timezone.utc))) is False
    assert store.apply("nobody", Change()) is False
    assert store.load("nobody") is None  # none of those created it


def test_create_then_enabled_flag(store: Store, store_settings: Settings) -> None:
    assert store.apply("alice", Change(create=True)) is True
    fresh = state_of(store, store_settings, "alice")
    assert (fresh.enabled, fresh.not_before, fresh.malformed) == (True, None, False)
    assert store.apply("alice", Change(enabled=False)) is True
    assert state_of(store, store_settings, "alice").enabled is False
    # Creating again without fields is an upsert that leaves the user alone.
    assert store.apply("alice", Change(create=True)) is True
    assert state_of(store, store_settings, "alice").enabled is False
    # An upsert with fields sets them on the existing user.
    assert store.apply("alice", Change(enabled=True, create=True)) is True
    assert state_of(store, store_settings, "alice").enabled is True


def test_a_change_keeps_the_other_field(store: Store, store_settings: Settings) -> None:
    cut = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    store.apply("alice", Change(enabled=False, create=True))
    store.apply("alice", Change(not_before=cut))
    state = state_of(store, store_settings, "alice")
    assert state.enabled is False
    assert state.not_before == pytest.approx(cut.timestamp(), abs=1e-6)
    store.apply("alice", Change(enabled=True))
    assert state_of(store, store_settings, "alice").not_before == pytest.approx(cut.timestamp(), abs=1e-6)


@pytest.mark.parametrize("millisecond", [0, 1, 123, 999])
def test_not_before_round_trips_time_zone_aware_with_milliseconds(
    store: Store, store_settings: Settings, millisecond: int
) -> None:
    cut = datetime(2026, 3, 1, 12, 30, 15, millisecond * 1000, tzinfo=timezone.utc)
    store.apply("alice", Change(not_before=cut, create=True))
    document = store.load("alice")
    assert document is not None
    (stored,) = written_cut_offs(document, store_settings)
    assert isinstance(stored, datetime)
    assert stored.utcoffset() == timedelta(0)
    assert stored == cut
    assert state_of(store, store_settings, "alice").not_before == pytest.approx(cut.timestamp(), abs=1e-6)


def test_a_zoned_cut_off_is_stored_as_the_same_instant(store: Store, store_settings: Settings) -> None:
    tokyo = timezone(timedelta(hours=9))
    cut = datetime(2026, 3, 1, 21, 30, 15, 250000, tzinfo=tokyo)
    store.apply("alice", Change(not_before=cut, create=True))
    assert state_of(store, store_settings, "alice").not_before == pytest.approx(cut.timestamp(), abs=1e-6)


def test_string_and_integer_ids_are_different_users(store: Store, store_settings: Settings) -> None:
    store.apply(1, Change(enabled=False, create=True))
    store.apply("1", Change(enabled=True, create=True))
    assert state_of(store, store_settings, 1).enabled is False
    assert state_of(store, store_settings, "1").enabled is True
    assert store.load(2) is None
    assert store.load("2") is None
    big = 2**63 - 1
    store.apply(big, Change(create=True))
    assert store.load(big) is not None
    assert store.load(str(big)) is None


def test_configured_field_and_collection_names(store_url: str) -> None:
    settings = Settings(
        secret=SECRET,
        store_url=store_url,
        users_collection="accounts",
        not_before_fields=("logoutAt", "passwordChangedAt"),
        enabled_field="active",
    )
    cut = datetime(2026, 5, 6, 7, 8, 9, 500000, tzinfo=timezone.utc)
    store = open_store(settings)
    try:
        store.apply("alice", Change(not_before=cut, enabled=False, create=True))
        document = store.load("alice")
        assert document is not None
        # SQLite: the first not-before field is the one written; MongoDB: a record of jwtguard's own.
        assert written_cut_offs(document, settings) == [cut]
        assert ("logoutAt" in document) is store_url.startswith("sqlite")
        assert document["active"] is False
        assert "destroyAnyJWTbefore" not in document
        assert "user_enabled" not in document
        state = user_state(document, settings)
        assert state == UserState(not_before=cut.timestamp(), enabled=False)
        # The default names see another collection/table: nobody there.
        default = open_store(Settings(secret=SECRET, store_url=store_url))
        try:
            assert default.load("alice") is None
        finally:
            default.close()
    finally:
        store.close()


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "America/New_York"])
def test_decisions_do_not_depend_on_the_local_time_zone(
    store: Store, store_settings: Settings, local_zone: Callable[[str], None], zone: str
) -> None:
    """Naive datetimes read as local time would shift the cut-off by hours: a revocation bypass."""
    local_zone(zone)
    assert time.localtime().tm_zone != "" and (zone == "UTC") == (time.timezone == 0)
    policy = Policy(store_settings)
    now = time.time()
    store.apply("alice", Change(not_before=datetime.fromtimestamp(now - 60, timezone.utc), create=True))
    before = verified(store_settings, "alice", now - 61.5)
    after = verified(store_settings, "alice", now - 58.5)

    state = state_of(store, store_settings, "alice")
    assert policy.decide(before, state, now) is policy.refusals["revoked"]
    assert policy.decide(after, state, now).kind == "accept"

    async def load(async_store: AsyncStore) -> Any:
        return await async_store.load("alice")

    async_state = user_state(run_async(store_settings, load), store_settings)
    assert async_state == state
    assert policy.decide(before, async_state, now) is policy.refusals["revoked"]
    assert policy.decide(after, async_state, now).kind == "accept"


def test_async_store_gives_the_same_answers(store: Store, store_settings: Settings) -> None:
    cut = datetime(2026, 3, 1, 12, 30, 15, 123000, tzinfo=timezone.utc)
    store.apply("alice", Change(enabled=False, not_before=cut, create=True))

    async def body(async_store: AsyncStore) -> tuple[Any, ...]:
        return (
            await async_store.load("alice"),
            await async_store.load("ghost"),
            await async_store.apply("ghost", Change(enabled=True)),
            await async_store.apply(7, Change(create=True)),
            await async_store.apply(7, Change(enabled=False)),
            await async_store.load(7),
            await async_store.load("7"),
        )

    alice, ghost, applied, created, disabled, seven, seven_text = run_async(store_settings, body)
    assert alice == store.load("alice")
    assert user_state(alice, store_settings) == UserState(not_before=cut.timestamp(), enabled=False)
    assert (ghost, applied, created, disabled, seven_text) == (None, False, True, True, None)
    assert user_state(seven, store_settings) == UserState(enabled=False)
    assert state_of(store, store_settings, 7).enabled is False  # written by the async store, read by the other


def test_admin_and_async_admin(store_settings: Settings) -> None:
    admin = Admin(store_settings)
    try:
        admin.create_user("bob")
        assert admin.disable_user("bob") is True
        assert admin.logout_everywhere("bob") is True
        state = admin.status("bob")
        assert state is not None and state.enabled is False and state.not_before is not None
        assert admin.enable_user("ghost") is False
    finally:
        admin.close()

    async def main() -> None:
        async_admin = AsyncAdmin(store_settings)
        try:
            await async_admin.create_user("alice")
            assert await async_admin.disable_user("alice") is True
            assert (await async_admin.status("alice")).enabled is False  # type: ignore[union-attr]
            before = time.time()
            assert await async_admin.logout_everywhere("alice") is True
            cut = (await async_admin.status("alice")).not_before  # type: ignore[union-attr]
            assert cut is not None and before <= cut <= time.time() + 1
            assert await async_admin.enable_user("nobody") is False
        finally:
            await async_admin.close()

    asyncio.run(main())


def test_async_loads_do_not_block_the_loop(store_settings: Settings) -> None:
    """A ticker keeps ticking while many loads are in flight (a blocking load would starve it)."""

    async def body(async_store: AsyncStore) -> tuple[int, list[Any]]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        # The file exists (reads of a missing embedded file answer at once, without a query).
        await async_store.apply("seed", Change(create=True))
        blocking = getattr(async_store, "_store", None)
        if blocking is not None:
            # The embedded store's reads take microseconds: on a busy machine 40 of them can finish before
            # the ticker runs at all. Each takes 20 ms here, in its worker thread; on the loop it would
            # starve the ticker for 0.8 s.
            load = blocking.load

            def slow(user_id: Any) -> Any:
                time.sleep(0.02)
                return load(user_id)

            blocking.load = slow
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        results = await asyncio.gather(*(async_store.load(f"user{i}") for i in range(40)))
        done.set()
        await task
        return ticks, results

    ticks, results = run_async(store_settings, body)
    assert results == [None] * 40
    assert ticks > 10


def test_middleware_on_each_store(make_client: Any, store_settings: Settings) -> None:
    admin = Admin(store_settings)
    try:
        admin.create_user("alice")
        admin.create_user(42)
        client = make_client(store_settings)
        token = admin.issue_token("alice")
        reply = client("GET", "/api/me", bearer(token))
        assert reply.status == 200
        assert reply.headers["x-user-enabled"] == "true"
        # A token already issued with an integer sub (before issue 9) still names the integer user.
        legacy = jwt.encode({"sub": 42, "iat": int(time.time()), "exp": int(time.time()) + 60}, SECRET)
        assert client("GET", "/api/me", bearer(legacy)).json()["user"] == 42
        admin.logout_everywhere("alice")
        reply = client("GET", "/api/me", bearer(token))
        assert (reply.status, reply.json()["reason"]) == (401, "revoked")
        fresh = admin.issue_token("alice")
        assert client("GET", "/api/me", bearer(fresh)).status == 200  # issued after the logout
        admin.disable_user("alice")
        reply = client("GET", "/api/me", bearer(fresh))
        assert (reply.status, reply.json()["reason"], reply.headers["x-user-enabled"]) == (401, "disabled", "false")
        # Signed only (Admin.issue_token would create the embedded store's row: issue 9).
        reply = client("GET", "/api/me", bearer(issue_token(store_settings, "ghost")))
        assert (reply.status, reply.json()["reason"]) == (401, "unknown_user")
        assert client("GET", "/api/me", bearer(issue_token(store_settings, "42"))).json()["reason"] == "unknown_user"
    finally:
        admin.close()


# -- the embedded store ------------------------------------------------------


def sqlite_settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}", **options)


def test_sqlite_write_from_another_process_is_seen(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    store = open_store(settings)
    try:
        store.apply("alice", Change(create=True))
        policy = Policy(settings)
        token = verified(settings, "alice", time.time())
        assert policy.decide(token, user_state(store.load("alice"), settings), time.time()).kind == "accept"
        code = (
            "import sys; from jwtguard import Admin, Settings; "
            "Admin(Settings(secret=sys.argv[1], store_url=sys.argv[2])).disable_user('alice')"
        )
        subprocess.run([sys.executable, "-c", code, SECRET, settings.store_url or ""], check=True, timeout=60)
        assert (
            policy.decide(token, user_state(store.load("alice"), settings), time.time()) is policy.refusals["disabled"]
        )
    finally:
        store.close()


def test_sqlite_concurrent_writers_in_several_processes(tmp_path: Path) -> None:
    """WAL and the busy timeout let processes write at once: no 'database is locked'."""
    settings = sqlite_settings(tmp_path, store_timeout=30.0)
    code = (
        "import sys; from jwtguard import Settings; from jwtguard.stores import Change, open_store\n"
        "store = open_store(Settings(secret=sys.argv[1], store_url=sys.argv[2], store_timeout=30))\n"
        "for i in range(25):\n"
        "    user = f'{sys.argv[3]}-{i}'\n"
        "    store.apply(user, Change(create=True))\n"
        "    assert store.apply(user, Change(enabled=False))\n"
        "store.close()\n"
    )
    store = open_store(settings)
    try:
        store.apply("reader", Change(create=True))  # the file exists, in WAL mode, before the writers start
        writers = [
            subprocess.Popen([sys.executable, "-c", code, SECRET, settings.store_url or "", f"p{n}"]) for n in range(4)
        ]
        for writer in writers:
            assert writer.wait(timeout=120) == 0
        for n in range(4):
            for i in range(25):
                assert state_of(store, settings, f"p{n}-{i}").enabled is False
    finally:
        store.close()


def test_sqlite_reads_are_not_blocked_by_a_writer_and_writes_wait_for_the_lock(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, store_timeout=0.5)
    store = open_store(settings)
    other = sqlite3.connect(database_path(settings.store_url), isolation_level=None)
    try:
        store.apply("alice", Change(create=True))
        other.execute("BEGIN IMMEDIATE")  # another process's write lock, held
        other.execute("UPDATE users SET enabled = 0 WHERE id = 'alice'")
        # WAL: a reader sees the last committed state at once, not the pending write.
        assert state_of(store, settings, "alice").enabled is True
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked") as raised:
            store.apply("alice", Change(enabled=False))
        assert time.monotonic() - started >= 0.4  # it waited for the busy timeout first
        assert SECRET not in str(raised.value)
        other.execute("COMMIT")
        assert state_of(store, settings, "alice").enabled is False
        assert store.apply("alice", Change(enabled=True)) is True  # the store recovers
    finally:
        other.close()
        store.close()


def test_sqlite_async_store_waits_for_a_lock_off_the_loop(tmp_path: Path) -> None:
    """While a write waits for another process's lock, the loop keeps running; within the timeout it succeeds."""
    settings = sqlite_settings(tmp_path, store_timeout=30.0)
    setup = open_store(settings)
    setup.apply("alice", Change(create=True))
    setup.close()
    other = sqlite3.connect(database_path(settings.store_url), isolation_level=None)

    async def body(async_store: AsyncStore) -> tuple[int, bool]:
        other.execute("BEGIN IMMEDIATE")
        ticks = 0
        write = asyncio.create_task(async_store.apply("alice", Change(enabled=False)))
        # The write is now waiting for the lock; the loop still runs this coroutine.
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        return ticks, await asyncio.wait_for(write, timeout=60)

    try:
        ticks, applied = run_async(settings, body)
    finally:
        other.close()
    assert (ticks, applied) == (20, True)
    check = open_store(settings)
    try:
        assert state_of(check, settings, "alice").enabled is False
    finally:
        check.close()


def test_sqlite_async_store_locked_beyond_the_timeout_is_a_store_error(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, store_timeout=0.3)
    setup = open_store(settings)
    setup.apply("alice", Change(create=True))
    setup.close()
    other = sqlite3.connect(database_path(settings.store_url), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def body(async_store: AsyncStore) -> Any:
        with pytest.raises(StoreError, match="locked"):
            await async_store.apply("alice", Change(enabled=False))
        return await async_store.load("alice")  # reads still work

    try:
        assert user_state(run_async(settings, body), settings) == UserState(enabled=True)
    finally:
        other.close()


@pytest.mark.parametrize("kind", ["missing directory", "a directory", "not a database"])
def test_sqlite_file_that_cannot_be_opened_is_a_store_error(tmp_path: Path, kind: str) -> None:
    if kind == "missing directory":
        path = tmp_path / "missing-dir" / "x.db"
    elif kind == "a directory":
        path = tmp_path / "dir.db"
        path.mkdir()
    else:
        path = tmp_path / "garbage.db"
        path.write_bytes(b"this is not an SQLite database, just some bytes\n" * 100)
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{path}", store_timeout=0.5)
    store = open_store(settings)  # opening is lazy: the guard starts even when the file is bad
    try:
        with pytest.raises(StoreError) as raised:
            store.load("alice")
        assert str(path) in str(raised.value)
        assert SECRET not in str(raised.value)
        with pytest.raises(StoreError):
            store.apply("alice", Change(create=True))
    finally:
        store.close()

    async def body(async_store: AsyncStore) -> None:
        with pytest.raises(StoreError):
            await async_store.load("alice")

    run_async(settings, body)


def test_sqlite_store_down_is_503(make_client: Any, tmp_path: Path) -> None:
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    reply = make_client(settings)("GET", "/api/me", bearer(issue_token(settings, "alice")))
    assert reply.status == 503
    assert reply.json()["reason"] == "store_unavailable"
    assert "x-user-enabled" not in reply.headers


def test_sqlite_connections_do_not_pile_up_with_threads(tmp_path: Path) -> None:
    """A server with a thread per request must not leave an open file per finished thread."""
    settings = sqlite_settings(tmp_path)
    store = open_store(settings)
    path = database_path(settings.store_url)

    def open_files() -> int:
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # closed meanwhile (listdir's own fd)
                count += os.readlink(f"/proc/self/fd/{fd}") == path
        return count

    try:
        store.apply("alice", Change(create=True))
        for _ in range(60):
            thread = threading.Thread(target=store.load, args=("alice",))
            thread.start()
            thread.join(timeout=30)
        assert 1 <= open_files() <= MAX_IDLE_CONNECTIONS
    finally:
        store.close()
    assert open_files() == 0


def test_sqlite_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_path(None) == str(tmp_path / "jwtguard.db")
    assert database_path("sqlite:///rel/x.db") == str(tmp_path / "rel" / "x.db")
    assert database_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert database_path("sqlite:////abs/x.db?mode=rwc") == "/abs/x.db"
    for bad in ("sqlite://host/x.db", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(ConfigError) as raised:
            open_store(Settings(secret=SECRET, store_url=bad))
        assert raised.value.variable == "JWTGUARD_STORE_URL"


def test_embedded_store_is_the_default_and_named_once_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger="jwtguard")
    settings = Settings(secret=SECRET)
    assert settings.store_url is None
    store = open_store(settings)
    second = open_store(settings)
    try:
        store.apply("alice", Change(create=True))
        assert second.load("alice") is not None
    finally:
        store.close()
        second.close()
    assert (tmp_path / "jwtguard.db").exists()
    named = [record for record in caplog.records if str(tmp_path / "jwtguard.db") in record.getMessage()]
    assert len(named) == 1
    assert named[0].name == "jwtguard" and named[0].levelno >= logging.INFO


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("enabled", "false", UserState(enabled=False)),
        ("enabled", "true", UserState(enabled=False)),  # only true enables, as on MongoDB
        ("enabled", 2, UserState(enabled=False)),
        ("enabled", 1, UserState(enabled=True)),
        ("not_before", 1772368215123, UserState(not_before=1772368215.123)),  # JavaScript Date.now()
        ("not_before", "yesterday", UserState(malformed=True)),
        ("not_before", 1e300, UserState(malformed=False, not_before=1e300 / 1000)),
        ("not_before", b"\x00", UserState(malformed=True)),
    ],
    ids=lambda value: repr(value) if not isinstance(value, UserState) else "",
)
def test_sqlite_values_written_by_another_program_read_as_on_mongodb(
    tmp_path: Path, column: str, value: object, expected: UserState
) -> None:
    """Never bool('false') == True, never a TypeError out of load: the core's rules decide."""
    path = tmp_path / "other.db"
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{path}")
    store = open_store(settings)
    try:
        store.apply("alice", Change(create=True))
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute(f"UPDATE users SET {column} = ? WHERE id = 'alice'", (value,))
        state = user_state(store.load("alice"), settings)
    finally:
        store.close()
    assert state is not None
    assert (state.enabled, state.malformed) == (expected.enabled, expected.malformed)
    if expected.not_before is None:
        assert state.not_before is None
    else:
        assert state.not_before == pytest.approx(expected.not_before)


FORKED_WORKER = """
import os, sys
from jwtguard import Settings
from jwtguard.sansio import user_state
from jwtguard.stores import Change
from jwtguard.stores.sqlite import SQLiteStore

settings = Settings(secret=sys.argv[1], store_url=sys.argv[2])
store = SQLiteStore(settings)
store.apply("alice", Change(create=True))  # seeding before the fork leaves a pooled connection
(parent_connection,) = store._idle
pid = os.fork()
if pid == 0:
    ok = store.apply("alice", Change(enabled=False)) and parent_connection not in store._idle
    store.close()
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, "the worker used or closed the parent's connection"
assert store._idle == [parent_connection]  # the parent's own connection still serves it
assert user_state(store.load("alice"), settings).enabled is False
store.close()
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() only")
def test_sqlite_store_across_fork_opens_connections_of_its_own(tmp_path: Path) -> None:
    """gunicorn --preload: the store seeds users in the master, then serves in forked workers."""
    url = f"sqlite:///{tmp_path / 'forked.db'}"
    # A fresh single-threaded interpreter: fork() there is what a pre-fork server does.
    result = subprocess.run(
        [sys.executable, "-c", FORKED_WORKER, SECRET, url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_create_user_leaves_an_existing_user_alone(store_url: str) -> None:
    admin = Admin(Settings(secret=SECRET, store_url=store_url))
    try:
        admin.create_user("carol")
        assert admin.status("carol") is not None
        admin.disable_user("carol")
        admin.create_user("carol")  # a restart that seeds users must not switch anyone back on
        assert admin.status("carol").enabled is False  # type: ignore[union-attr]
    finally:
        admin.close()
