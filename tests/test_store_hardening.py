"""Issue 7 (store hardening): one user-id rule, monotonic race-free revocation, unreadable dates, file identity.

Every store test runs on the real FerretDB/mongod server and on an SQLite file (``store_url``),
every request test through both adapters (``make_client``); races run in separate processes.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import DatetimeMS, ObjectId

from jwtguard import Admin, Settings
from jwtguard.sansio.state import UserState, epoch_seconds, user_state
from jwtguard.stores import Change, open_store
from jwtguard.stores.mongo import records_collection
from jwtguard.stores.sqlite import database_path
from jwtguard.tokens import issue_token
from jwtguard.userid import UserKey, user_key

from conftest import SECRET, bearer

HEX = "5f0c3a9e8b7d6c5a4b3c2d1e"

#: JavaScript's largest date (new Date(8.64e15)) and one millisecond before year 1.
BEYOND_9999 = DatetimeMS(8_640_000_000_000_000)
BEFORE_YEAR_1 = DatetimeMS(-62_135_596_800_001)


def is_mongo(url: str) -> bool:
    return url.startswith("mongodb")


@contextlib.contextmanager
def mongo_db(url: str) -> Iterator[Any]:
    """The test database of *url*, for seeding what an application (or another program) writes."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        yield client.get_default_database()
    finally:
        client.close()


def settings_for(url: str, **options: Any) -> Settings:
    return Settings(secret=SECRET, store_url=url, **{"store_timeout": 5.0, **options})


def status(settings: Settings, user: str | int) -> UserState:
    admin = Admin(settings)
    try:
        state = admin.status(user)
    finally:
        admin.close()
    assert state is not None, f"{user!r} should exist"
    return state


def seed_hex_user(url: str, hex_id: str) -> None:
    """The application's user with an ObjectId _id (MongoDB) / the embedded store's own user."""
    if is_mongo(url):
        with mongo_db(url) as db:
            db["users"].insert_one({"_id": ObjectId(hex_id), "user_enabled": True})
    else:
        admin = Admin(settings_for(url))
        admin.create_user(hex_id)
        admin.close()


# -- item 4: one user-id rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "id_type", "expected"),
    [
        ("alice", "auto", UserKey("str", "alice")),
        (42, "auto", UserKey("int", 42)),
        ("42", "auto", UserKey("str", "42")),  # "42" and 42 are two users, as in MongoDB
        (HEX.upper(), "auto", UserKey("hex", HEX)),  # any case: one user
        (HEX, "auto", UserKey("hex", HEX)),
        (HEX.upper(), "str", UserKey("str", HEX.upper())),  # declared str: exact, case kept
        (42, "str", UserKey("str", "42")),
        ("42", "int", UserKey("int", 42)),
        ("-7", "int", UserKey("int", -7)),
        (7, "int", UserKey("int", 7)),
        ("abc", "int", None),
        ("4 2", "int", None),
        ("٤٢", "int", None),  # Arabic-Indic digits are not a decimal claim
        (str(2**63), "int", None),
        (HEX.upper(), "objectid", UserKey("objectid", HEX)),
        ("alice", "objectid", None),
        (42, "objectid", None),
        (True, "auto", None),
        (1.0, "auto", None),
        ({"$ne": None}, "auto", None),
        (2**63, "auto", None),
        ("", "str", None),
        ("ali\nce", "auto", None),
    ],
    ids=repr,
)
def test_user_key_table(claim: object, id_type: Any, expected: UserKey | None) -> None:
    """Issue 7 item 4: the one pure mapping claim -> canonical id, under each JWTGUARD_USER_ID_TYPE."""
    assert user_key(claim, id_type) == expected


def test_user_id_type_setting() -> None:
    """Issue 7 item 4: JWTGUARD_USER_ID_TYPE is read, case-insensitively, and refused when unknown."""
    declared = Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_USER_ID_TYPE": "ObjectId"})
    assert declared.user_id_type == "objectid"
    assert Settings(secret=SECRET).user_id_type == "auto"
    with pytest.raises(ValueError, match="JWTGUARD_USER_ID_TYPE"):
        Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_USER_ID_TYPE": "uuid"})


def test_create_user_matches_an_existing_objectid_user(mongo_uri: str) -> None:
    """Issue 7 item 4: create_user on an ObjectId user neither fails (FerretDB) nor makes a second document."""
    with mongo_db(mongo_uri) as db:
        db["users"].insert_one({"_id": ObjectId(HEX), "user_enabled": False})
    for id_type in ("auto", "objectid"):
        settings = settings_for(mongo_uri, **({} if id_type == "auto" else {"user_id_type": id_type}))
        admin = Admin(settings)
        try:
            admin.create_user(HEX)  # was: StoreError (DuplicateKeyError) on FerretDB
            admin.create_user(HEX.upper())
            assert admin.status(HEX.upper()) == UserState(enabled=False)  # the app's own document, untouched
            assert admin.enable_user(HEX.upper()) is True
        finally:
            admin.close()
        with mongo_db(mongo_uri) as db:
            assert list(db["users"].find({}, {"_id": 1})) == [{"_id": ObjectId(HEX)}]
            db["users"].update_one({"_id": ObjectId(HEX)}, {"$set": {"user_enabled": False}})


def test_declared_objectid_type_inserts_objectids(store_url: str) -> None:
    """Issue 7 item 4: under objectid, new users get ObjectId _ids (SQLite: the lower-case hex string)."""
    settings = settings_for(store_url, user_id_type="objectid")
    admin = Admin(settings)
    try:
        admin.create_user(HEX.upper())
        assert admin.disable_user(HEX) is True
        assert admin.status(HEX.upper()) == UserState(enabled=False)
        for refused in (admin.create_user, admin.disable_user, admin.status, admin.issue_token):
            with pytest.raises(ValueError, match="JWTGUARD_USER_ID_TYPE=objectid"):
                refused("alice")
    finally:
        admin.close()
    if is_mongo(store_url):
        with mongo_db(store_url) as db:
            assert list(db["users"].find({}, {"_id": 1})) == [{"_id": ObjectId(HEX)}]
    else:
        with contextlib.closing(sqlite3.connect(database_path(store_url))) as raw:
            assert raw.execute("SELECT id, enabled FROM users").fetchall() == [(HEX, 0)]


def test_declared_int_type_maps_decimal_claims_and_refuses_others(make_client: Any, store_url: str) -> None:
    """Issue 7 item 4: under int, "42" is user 42 and "abc" is 401 invalid before any query, on both adapters."""
    settings = settings_for(store_url, user_id_type="int")
    admin = Admin(settings)
    try:
        admin.create_user("42")  # the CLI's spelling: a decimal string
        client = make_client(settings)
        reply = client("GET", "/api/me", bearer(issue_token(settings, "42")))
        assert reply.status == 200, reply.body
        assert client("GET", "/api/me", bearer(issue_token(settings, 42))).status == 200
        loads = client.guard.metrics.snapshot()["store"]["loads"]
        assert loads == 1  # "42" and 42 share one cache entry
        reply = client("GET", "/api/me", bearer(issue_token(settings, "abc")))
        assert (reply.status, reply.json()["reason"]) == (401, "invalid")
        assert client.guard.metrics.snapshot()["store"]["loads"] == loads
        admin.disable_user(42)
        reply = client("GET", "/api/me", bearer(issue_token(settings, "42")))
        assert (reply.status, reply.json()["reason"]) == (401, "disabled")
    finally:
        admin.close()
    if is_mongo(store_url):
        with mongo_db(store_url) as db:
            assert list(db["users"].find({}, {"_id": 1})) == [{"_id": 42}]


# -- item 7: cache keys are canonical ----------------------------------------------------------


def test_admin_change_under_one_spelling_drops_every_cached_spelling(make_client: Any, store_url: str) -> None:
    """Issue 7 item 7: a disable written with upper-case hex refuses the cached lower-case token at once."""
    settings = settings_for(store_url, cache_ttl=600)  # only an invalidation can refresh the cache
    seed_hex_user(store_url, HEX)
    client = make_client(settings)
    token = issue_token(settings, HEX)
    assert client("GET", "/api/me", bearer(token)).status == 200  # cached now
    admin = Admin(settings)
    try:
        assert admin.disable_user(HEX.upper()) is True
    finally:
        admin.close()
    reply = client("GET", "/api/me", bearer(token))
    assert (reply.status, reply.json()["reason"]) == (401, "disabled")
    reply = client("GET", "/api/me", bearer(issue_token(settings, HEX.upper())))
    assert (reply.status, reply.json()["reason"]) == (401, "disabled")


# -- item 6: monotonic, race-free revocation -------------------------------------------------


def test_a_second_logout_from_a_lagging_clock_does_not_revive_a_token(make_client: Any, store_url: str) -> None:
    """Issue 7 item 6: a cut-off only moves later; an earlier one (clock skew) leaves the refusal in place."""
    settings = settings_for(store_url)
    admin = Admin(settings)
    store = open_store(settings)
    try:
        admin.create_user("alice")
        now = time.time()
        token = issue_token(settings, "alice")
        client = make_client(settings)
        assert client("GET", "/api/me", bearer(token)).status == 200
        assert admin.logout_everywhere("alice") is True
        cut = status(settings, "alice").not_before
        assert cut is not None and cut >= now
        # Another server, its clock a minute behind, logs the user out again.
        assert store.apply("alice", Change(not_before=datetime.fromtimestamp(now - 60, timezone.utc))) is True
        admin.enable_user("alice")  # drops the cache; the cut-off stays
        reply = client("GET", "/api/me", bearer(token))
        assert (reply.status, reply.json()["reason"]) == (401, "revoked")
        assert status(settings, "alice").not_before == pytest.approx(cut, abs=1e-3)
    finally:
        store.close()
        admin.close()


def test_cut_offs_compare_by_time_not_by_stored_type(store_url: str) -> None:
    """Issue 7 item 6: a stored epoch-ms number is compared by time with a new date cut-off (no $max type order)."""
    settings = settings_for(store_url)
    admin = Admin(settings)
    admin.create_user("alice")
    admin.close()
    later_ms = int((time.time() + 3600) * 1000)  # another program wrote JavaScript's Date.now() + 1 h
    if is_mongo(store_url):
        with mongo_db(store_url) as db:
            db["users"].update_one({"_id": "alice"}, {"$set": {"destroyAnyJWTbefore": later_ms}})
    else:
        with contextlib.closing(sqlite3.connect(database_path(store_url), isolation_level=None)) as raw:
            raw.execute("UPDATE users SET not_before = ? WHERE id = 'alice'", (later_ms,))
    store = open_store(settings)
    try:
        assert store.apply("alice", Change(not_before=datetime.now(timezone.utc))) is True
    finally:
        store.close()
    assert status(settings, "alice").not_before == pytest.approx(later_ms / 1000)


def test_first_cut_off_is_set_and_records_are_pruned(store_url: str) -> None:
    """Issue 7 item 6: the first cut-off is written (not max(NULL, x)); superseded MongoDB records go."""
    settings = settings_for(store_url)
    store = open_store(settings)
    base = datetime(2026, 6, 1, tzinfo=timezone.utc)
    try:
        store.apply("alice", Change(create=True))
        for minutes in (5, 1, 10, 3):
            store.apply("alice", Change(not_before=base + timedelta(minutes=minutes)))
        assert status(settings, "alice").not_before == (base + timedelta(minutes=10)).timestamp()
    finally:
        store.close()
    if is_mongo(store_url):
        with mongo_db(store_url) as db:
            records = list(db[records_collection(settings)].find({}, {"_id": 0}))
            # 10 pruned 5 and 1; 3 came later and pruned nothing (it supersedes nothing).
            assert sorted(record["at"] for record in records) == [base + timedelta(minutes=m) for m in (3, 10)]
            assert {record["user"] for record in records} == {"alice"}
            assert db["users"].find_one({"_id": "alice"}) == {"_id": "alice"}  # the app's document untouched


TRIALS = 30


def race_worker(url: str, role: str, trials: int, barrier: Any, base: float) -> None:
    """One racer: for each trial, wait for the other, then write its change to user t<i>."""
    settings = settings_for(url, store_timeout=30.0)
    admin = Admin(settings)
    try:
        for trial in range(trials):
            barrier.wait(timeout=60)
            if role == "disable":
                admin.disable_user(f"d{trial}")
            elif role == "logout":
                admin.logout_everywhere(f"d{trial}")
            else:
                seconds = base + (1 if role == "cut-1" else 2)
                admin.store.apply(f"c{trial}", Change(not_before=datetime.fromtimestamp(seconds, timezone.utc)))
    finally:
        admin.close()


def test_racing_writes_keep_both_effects_in_every_trial(store_url: str) -> None:
    """Issue 7 item 6: in separate processes, disable vs logout_everywhere and two logouts, TRIALS times each.

    Afterwards every user is disabled *and* logged out, and every racing pair of cut-offs left the later one.
    """
    settings = settings_for(store_url, store_timeout=30.0)
    admin = Admin(settings)
    try:
        for trial in range(TRIALS):
            admin.create_user(f"d{trial}")
            admin.create_user(f"c{trial}")
    finally:
        admin.close()
    base = time.time() - 3600
    context = multiprocessing.get_context("spawn")
    for pair in (("disable", "logout"), ("cut-2", "cut-1")):
        barrier = context.Barrier(2)
        workers = [context.Process(target=race_worker, args=(store_url, role, TRIALS, barrier, base)) for role in pair]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=300)
            assert worker.exitcode == 0
    kept_both = kept_later = 0
    for trial in range(TRIALS):
        disabled = status(settings, f"d{trial}")
        kept_both += disabled.enabled is False and disabled.not_before is not None
        kept_later += status(settings, f"c{trial}").not_before == pytest.approx(base + 2, abs=1e-3)
    print(f"\n[{store_url.split(':')[0]}] of {TRIALS} trials: disable+logout kept both {kept_both}, "
          f"two logouts kept the later {kept_later}")  # fmt: skip
    assert (kept_both, kept_later) == (TRIALS, TRIALS)


# -- item 8: dates Python cannot represent -----------------------------------------------------


@pytest.fixture
def unrepresentable(mongo_uri: str) -> str:
    """Users whose stored cut-offs are BSON dates beyond datetime's years, in the document or in a record."""
    with mongo_db(mongo_uri) as db:
        db["users"].insert_many(
            [
                {"_id": "js-max", "destroyAnyJWTbefore": BEYOND_9999},
                {"_id": "year-0", "destroyAnyJWTbefore": BEFORE_YEAR_1},
                {"_id": "enabled-date", "user_enabled": BEYOND_9999},
                {"_id": "record"},
                {"_id": "fine"},
            ]
        )
        db[records_collection(settings_for(mongo_uri))].insert_one({"user": "record", "at": BEYOND_9999})
    return mongo_uri


def test_unrepresentable_dates_refuse_the_user_without_a_500(
    make_client: Any, unrepresentable: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 7 item 8: an out-of-range BSON date is unreadable: 401 on both adapters, logged, never InvalidBSON."""
    settings = settings_for(unrepresentable)
    client = make_client(settings)
    caplog.set_level(logging.WARNING, logger="jwtguard")
    expected = {"js-max": "revoked", "year-0": "revoked", "record": "revoked", "enabled-date": "disabled"}
    for user, reason in expected.items():
        reply = client("GET", "/api/me", bearer(issue_token(settings, user)))
        assert (reply.status, reply.json()["reason"]) == (401, reason), user
    assert client("GET", "/api/me", bearer(issue_token(settings, "fine"))).status == 200
    assert sum("unreadable" in record.getMessage() for record in caplog.records) >= 3


def test_unrepresentable_dates_in_status_and_explain(unrepresentable: str) -> None:
    """Issue 7 item 8: `jwtguard status` and `jwtguard explain` show an unreadable cut-off, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=unrepresentable)
    settings = settings_for(unrepresentable)
    for user in ("js-max", "year-0", "record"):
        shown = subprocess.run(
            [sys.executable, "-m", "jwtguard", "status", user], env=env, capture_output=True, text=True, timeout=60
        )
        assert shown.returncode == 0, shown.stderr
        assert "not before:  unreadable stored value" in shown.stdout
        assert "new token:   refused (revoked)" in shown.stdout
        explained = subprocess.run(
            [sys.executable, "-m", "jwtguard", "explain", issue_token(settings, user)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert explained.returncode == 1, explained.stderr
        assert "Traceback" not in explained.stderr
        assert "unreadable value" in explained.stdout and "401 revoked" in explained.stdout


def test_reading_rules_for_datetime_ms() -> None:
    """Issue 7 item 8: DatetimeMS inside datetime's range reads as its time, outside it as unreadable."""
    assert epoch_seconds(DatetimeMS(1_772_368_215_123)) == pytest.approx(1_772_368_215.123)
    assert epoch_seconds(BEYOND_9999) is None
    assert epoch_seconds(BEFORE_YEAR_1) is None
    settings = Settings(secret=SECRET)
    assert user_state({"_id": "a", "destroyAnyJWTbefore": BEYOND_9999}, settings) == UserState(malformed=True)


# -- the embedded store's file identity and the CLI ---------------------------------------------


def test_replaced_or_removed_store_file_is_noticed_by_a_running_app(make_client: Any, tmp_path: Path) -> None:
    """Issue 7: a jwtguard.db replaced, deleted or restored under a live guarded app is read anew at once."""
    path = tmp_path / "jwtguard.db"
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{path}", cache_ttl=0)
    admin = Admin(settings)
    admin.create_user("alice")
    admin.close()
    backup = tmp_path / "backup.db"
    shutil.copy(path, backup)  # alice enabled
    client = make_client(settings)
    token = issue_token(settings, "alice")
    assert client("GET", "/api/me", bearer(token)).status == 200  # a pooled connection on the file

    replacement = tmp_path / "replacement.db"
    other = Admin(Settings(secret=SECRET, store_url=f"sqlite:///{replacement}"))
    other.create_user("alice")
    other.disable_user("alice")
    other.close()
    os.replace(replacement, path)
    reply = client("GET", "/api/me", bearer(token))
    assert (reply.status, reply.json()["reason"]) == (401, "disabled")

    os.remove(path)
    reply = client("GET", "/api/me", bearer(token))
    assert (reply.status, reply.json()["reason"]) == (401, "unknown_user")
    assert not path.exists()  # a read never creates the file

    shutil.copy(backup, path)  # restored
    assert client("GET", "/api/me", bearer(token)).status == 200


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_read_only_commands_leave_no_file_and_say_it_is_missing(tmp_path: Path) -> None:
    """Issue 7: status, explain and check-config on a missing embedded file create nothing and say so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env["JWTGUARD_SECRET"] = SECRET
    path = tmp_path / "jwtguard.db"
    shown = cli(env, "status", "alice", cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    assert "exists:      no" in shown.stdout
    assert f"store:       SQLite file {path} (does not exist)" in shown.stdout
    checked = cli(env, "check-config", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert f"store: SQLite file {path} does not exist" in checked.stdout
    explained = cli(env, "explain", issue_token(Settings(secret=SECRET), "alice"), cwd=tmp_path)
    assert explained.returncode == 1
    assert "no such user" in explained.stdout and f"{path} (does not exist)" in explained.stdout
    assert sorted(os.listdir(tmp_path)) == []


def test_every_cli_success_message_names_the_store(store_url: str) -> None:
    """Issue 7: create, disable, enable and logout-all name the SQLite file or the masked MongoDB URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=store_url)
    where = store_url if is_mongo(store_url) else f"SQLite file {database_path(store_url)}"
    for command in ("create", "create", "disable", "enable", "logout-all"):
        result = cli(env, command, "alice")
        assert result.returncode == 0, result.stderr
        assert result.stdout.rstrip().endswith(f"({where})"), result.stdout


def test_mongo_flows_without_a_server() -> None:
    """Issue 7 items 4 and 6: the pure builders: filters per id kind, and a logout that inserts before it prunes."""
    from jwtguard.stores.mongo import Op, apply_flow, insert_id, user_filter

    assert user_filter(UserKey("hex", HEX)) == {"_id": {"$in": [HEX, ObjectId(HEX)]}}
    assert user_filter(UserKey("objectid", HEX)) == {"_id": ObjectId(HEX)}
    assert user_filter(UserKey("int", 42)) == {"_id": 42}
    assert (insert_id(UserKey("objectid", HEX)), insert_id(UserKey("hex", HEX))) == (ObjectId(HEX), HEX)

    settings = Settings(secret=SECRET)
    cut = datetime(2026, 1, 1, tzinfo=timezone.utc)
    flow = apply_flow(UserKey("str", "alice"), Change(not_before=cut), settings, indexed=True)
    steps: list[Op] = [next(flow)]
    answers: list[Any] = [{"_id": "alice"}, None, None]
    with pytest.raises(StopIteration) as done:
        for answer in answers:
            steps.append(flow.send(answer))
    assert done.value.value is True
    assert [(op.collection, op.method) for op in steps] == [
        ("users", "find_one"),
        ("records", "insert_one"),
        ("records", "delete_many"),
    ]
    assert steps[1].args == ({"user": "alice", "at": cut},)
    assert steps[2].args == ({"user": "alice", "at": {"$lt": cut}},)


def _run_flow(flow: Any, answers: dict[str, Any]) -> tuple[list[Any], Any]:
    """Drive a store flow, answering each op by its method name; the ops it yielded and its result."""
    steps = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            step = flow.send(answers.get(step.method))
    except StopIteration as done:
        return steps, done.value


@pytest.mark.parametrize("change", [Change(create=True), Change(enabled=False), Change(create=True, enabled=False)])
def test_a_hex_id_writes_to_the_document_reads_pick(change: Change) -> None:
    """Review of issue 7 item 4: on MongoDB a string _id next to an ObjectId one is no duplicate, so
    create must not insert a second, empty document that reads (strings sort first) would then pick,
    and enable/disable must write the document reads pick."""
    from jwtguard.stores.mongo import apply_flow

    existing = ObjectId(HEX)
    steps, found = _run_flow(
        apply_flow(UserKey("hex", HEX), change, Settings(secret=SECRET)),
        {"find_one": {"_id": existing}, "update_one": type("R", (), {"matched_count": 1})()},
    )
    assert found is True
    assert "insert_one" not in [op.method for op in steps]
    for op in steps:
        if op.method == "update_one":
            assert op.args[0] == {"_id": existing}
    steps, _ = _run_flow(apply_flow(UserKey("hex", HEX), Change(create=True), Settings(secret=SECRET)), {})
    assert [op.method for op in steps] == ["find_one", "insert_one"]  # neither exists: one new document


def test_many_stores_opening_one_new_file_at_once_all_open_it(tmp_path: Any) -> None:
    """Switching a new file to WAL needs it alone, and SQLite may refuse that at once, without its
    busy handler, while another connection opens it (two processes starting on a new file; found by
    issue 12's endpoint tests): each store waits up to JWTGUARD_STORE_TIMEOUT instead of failing."""
    import threading

    from jwtguard import Settings
    from jwtguard.stores import Change
    from jwtguard.stores.sqlite import SQLiteStore

    failures: list[BaseException] = []
    for attempt in range(30):
        settings = Settings(secret="s" * 48, store_url=f"sqlite:///{tmp_path / f'new-{attempt}.db'}")
        start = threading.Barrier(6)

        def open_and_read(settings: Settings = settings, start: threading.Barrier = start) -> None:
            store = SQLiteStore(settings)
            start.wait()
            try:
                store.apply(f"user-{threading.get_ident()}", Change(create=True))  # opens, migrates, writes
            except BaseException as exc:
                failures.append(exc)
            finally:
                store.close()

        threads = [threading.Thread(target=open_and_read) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert failures == []
