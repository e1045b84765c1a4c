"""explain(): each check on a token and its verdict, against the real store, never showing a secret."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from jwtguard import Admin, Settings, issue_token
from jwtguard.explain import ERROR, FAIL, INFO, OK, SKIP, Check, accepted, explain, format_report
from jwtguard.sessions import signals
from jwtguard.stores.mongo import MongoStore

from conftest import SECRET, bearer
from mongo_server import free_port


def token_for(user: Any, *, secret: str = SECRET, algorithm: str = "HS256", headers: Any = None, **claims: Any) -> str:
    # The clock is read when the token is made: a suite-long constant would age under a slow run.
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user, "iat": now - 10, "exp": now + 600, **claims}
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


class CountingStore:
    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.loads: list[Any] = []

    def load(self, user_id: Any) -> Any:
        self.loads.append(user_id)
        return self.store.load(user_id)

    def apply(self, user_id: Any, change: Any) -> bool:
        return self.store.apply(user_id, change)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[CountingStore]:
    counting = CountingStore(MongoStore(settings))
    yield counting
    counting.close()


@pytest.fixture
def seeded(users: Any, settings: Settings) -> dict[str, str]:
    """Users in every state, and one token per case (cut-offs written through the admin API)."""
    users.insert_many(
        [
            {"_id": "alice", "user_enabled": True},
            {"_id": "bob", "user_enabled": False},
            {"_id": "dave"},
            {"_id": "eve", "destroyAnyJWTbefore": "yesterday"},
        ]
    )
    now = int(time.time())
    admin = Admin(settings)
    try:
        old = admin.issue_token("dave")
        admin.logout_everywhere("dave")
        new = admin.issue_token("dave")
    finally:
        admin.close()
    return {
        "valid": token_for("alice"),
        "revoked": old,
        "relogin": new,
        "disabled": token_for("bob"),
        "unknown": token_for("nobody"),
        "unreadable_cutoff": token_for("eve"),
        "expired": token_for("alice", iat=now - 100, exp=now - 30),
        "future_iat": token_for("alice", iat=now + 3600),
        "future_nbf": token_for("alice", nbf=now + 3600),
        "wrong_key": token_for("alice", secret="another-secret-" * 4),
        "wrong_alg": token_for("alice", algorithm="HS512", secret=SECRET * 2),
        "alg_none": jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, None, algorithm="none"),  # type: ignore[arg-type]  # PyJWT takes key None for "none"
        "crit": token_for("alice", headers={"crit": ["exp"]}),
        "jku": token_for("alice", headers={"jku": "https://attacker.example/jwks.json"}),
        "operator_sub": token_for({"$ne": None}),
        "no_exp": jwt.encode({"sub": "alice", "iat": now}, SECRET, algorithm="HS256"),
        "garbage": "not.a.jwt",
        "one_segment": "abcdef",
    }


def rows_by_check(rows: list[Check]) -> dict[str, Check]:
    return {row.check: row for row in rows}


def test_a_valid_token_passes_every_check(settings: Settings, store: CountingStore, seeded: dict[str, str]) -> None:
    rows = explain(seeded["valid"], settings, store)
    checks = rows_by_check(rows)
    assert [row.check for row in rows] == [
        "header", "algorithm", "signature", "token type", "exp", "iat", "user claim",
        "user exists", "user enabled", "not before", "verdict",
    ]  # fmt: skip
    assert all(row.verdict == OK for row in rows), format_report(rows)
    assert checks["algorithm"].detail.startswith("HS256 is allowed")
    assert checks["signature"].detail == "verified with JWTGUARD_SECRET (HS256)"
    assert checks["user claim"].detail == "sub = alice"
    assert checks["exp"].detail.startswith("expires ") and "(in 10 min)" in checks["exp"].detail
    assert checks["verdict"].detail.startswith("accepted")
    assert accepted(rows)
    assert store.loads == ["alice"]


@pytest.mark.parametrize(
    ("case", "failing", "verdict"),
    [
        ("revoked", {"not before"}, "401 revoked"),
        ("disabled", {"user enabled"}, "401 disabled (X-User-Enabled: false)"),
        ("unknown", {"user exists"}, "401 unknown_user (X-User-Enabled: false)"),
        ("unreadable_cutoff", {"not before"}, "401 revoked"),
        ("expired", {"exp"}, "401 expired"),
        ("future_iat", {"iat"}, "401 invalid"),
        ("future_nbf", {"nbf"}, "401 invalid"),
        ("wrong_key", {"signature"}, "401 invalid"),
        ("wrong_alg", {"algorithm", "signature"}, "401 invalid"),
        ("alg_none", {"algorithm", "signature"}, "401 invalid"),
        ("crit", {"header"}, "401 invalid"),
        ("operator_sub", {"user claim"}, "401 invalid"),
        ("no_exp", {"claims", "exp"}, "401 invalid"),
        ("garbage", {"header"}, "401 invalid"),
        ("one_segment", {"header"}, "401 invalid"),
    ],
)
def test_each_failure_names_its_check_and_the_guards_answer(
    settings: Settings, store: CountingStore, seeded: dict[str, str], case: str, failing: set[str], verdict: str
) -> None:
    rows = explain(seeded[case], settings, store)
    report = format_report(rows)
    failed = {row.check for row in rows if row.verdict == FAIL} - {"verdict"}
    assert failed == failing, report
    assert rows[-1] == Check("verdict", FAIL, verdict), report
    assert not accepted(rows)


def test_the_user_of_an_unverified_token_is_never_looked_up(
    settings: Settings, store: CountingStore, seeded: dict[str, str]
) -> None:
    for case in ("wrong_key", "alg_none", "operator_sub"):
        checks = rows_by_check(explain(seeded[case], settings, store))
        assert checks["user state"].verdict == SKIP
    explain(seeded["garbage"], settings, store)
    assert store.loads == []
    # Claims of a forged token are still shown, marked as such.
    checks = rows_by_check(explain(seeded["wrong_key"], settings, store))
    assert checks["user claim"].detail == "sub = alice (unverified)"
    assert checks["exp"].detail.endswith("(unverified)")


def test_relogin_after_logout_everywhere_passes(
    settings: Settings, store: CountingStore, seeded: dict[str, str]
) -> None:
    rows = explain(seeded["relogin"], settings, store)
    assert accepted(rows), format_report(rows)
    assert rows_by_check(rows)["not before"].detail.startswith("issued after the cut-off")


def test_key_headers_are_reported_as_ignored(settings: Settings, store: CountingStore, seeded: dict[str, str]) -> None:
    checks = rows_by_check(explain(seeded["jku"], settings, store))
    assert checks["header"].verdict == OK
    assert "jku present and ignored" in checks["header"].detail
    assert checks["verdict"].verdict == OK


def test_audience_and_issuer(mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    settings = Settings(secret=SECRET, store_url=mongo_uri, audience=("api",), issuer="https://auth.example")
    store = MongoStore(settings)
    try:
        good = token_for("alice", aud="api", iss="https://auth.example")
        checks = rows_by_check(explain(good, settings, store))
        assert checks["audience"].verdict == OK and checks["issuer"].verdict == OK
        assert checks["verdict"].verdict == OK
        wrong_aud = rows_by_check(explain(token_for("alice", aud="web", iss="https://auth.example"), settings, store))
        assert wrong_aud["signature"].verdict == OK
        assert wrong_aud["audience"].verdict == FAIL
        wrong_iss = rows_by_check(explain(token_for("alice", aud="api", iss="https://evil.example"), settings, store))
        assert wrong_iss["issuer"].verdict == FAIL
        assert wrong_iss["verdict"].detail == "401 invalid"
    finally:
        store.close()


def test_leeway_is_applied_and_shown(mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    settings = Settings(secret=SECRET, store_url=mongo_uri, leeway=60)
    store = MongoStore(settings)
    now = int(time.time())
    try:
        checks = rows_by_check(explain(token_for("alice", exp=now - 30), settings, store, now=now))
        assert checks["exp"].verdict == OK
        assert checks["exp"].detail.endswith("(30 s ago), leeway 60 s")
        assert checks["verdict"].verdict == OK
    finally:
        store.close()


def test_store_down_reports_the_policy_answer(seeded: dict[str, str]) -> None:
    settings = Settings(secret=SECRET, store_url=f"mongodb://127.0.0.1:{free_port()}/x", store_timeout=0.2)
    store = MongoStore(settings)
    try:
        checks = rows_by_check(explain(seeded["valid"], settings, store))
        assert checks["user state"].verdict == ERROR
        assert "JWTGUARD_ON_STORE_ERROR=reject" in checks["user state"].detail
        assert checks["verdict"] == Check("verdict", FAIL, "503 store_unavailable")
        allow = settings.replace(on_store_error="allow")
        assert rows_by_check(explain(seeded["valid"], allow, store))["verdict"].verdict == OK
    finally:
        store.close()


def test_without_a_store_the_user_checks_are_skipped(settings: Settings, seeded: dict[str, str]) -> None:
    rows = explain("Bearer " + seeded["valid"], settings, None)
    checks = rows_by_check(rows)
    assert checks["signature"].verdict == OK
    assert checks["user state"] == Check("user state", SKIP, "no store given")
    assert checks["verdict"].verdict == INFO


def test_nothing_printed_holds_the_token_its_signature_or_the_secret(
    settings: Settings, store: CountingStore, seeded: dict[str, str]
) -> None:
    for case, token in seeded.items():
        report = format_report(explain(token, settings, store))
        assert SECRET not in report, case
        for part in [token, *token.split(".")]:
            if len(part) >= 8:
                assert part not in report, (case, part)


def test_the_verdict_is_what_the_middleware_answers(
    make_client: Any, settings: Settings, store: CountingStore, seeded: dict[str, str]
) -> None:
    client = make_client(settings)
    for case, token in seeded.items():
        verdict = explain(token, settings, store)[-1]
        reply = client("GET", "/api/me", bearer(token))
        if verdict.verdict == OK:
            assert reply.status == 200, case
        else:
            assert verdict.detail.split(" ")[:2] == [str(reply.status), reply.json()["reason"]], case


# -- the command: `jwtguard explain TOKEN` -------------------------------------------


def run_explain(mongo_uri: str, token_arg: str, stdin: str | None = None) -> Any:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=mongo_uri, JWTGUARD_STORE_TIMEOUT="1")
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", "explain", token_arg],
        env=env, input=stdin, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_command_explains_from_an_argument_or_stdin(mongo_uri: str, seeded: dict[str, str]) -> None:
    revoked = run_explain(mongo_uri, "-", stdin=seeded["revoked"] + "\n")
    assert revoked.returncode == 1, revoked.stdout + revoked.stderr
    lines = revoked.stdout.splitlines()
    assert re.match(r"not before\s+fail\s+issued .* before the cut-off", lines[-3])
    assert re.match(r"verdict\s+fail\s+401 revoked$", lines[-2])
    assert lines[-1] == f"store: {mongo_uri}"  # the command names the store it read

    valid = run_explain(mongo_uri, seeded["valid"])
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert re.search(r"^verdict\s+pass\s+accepted", valid.stdout, re.M)

    forged = run_explain(mongo_uri, seeded["wrong_key"])
    assert forged.returncode == 1
    assert re.search(r"^signature\s+fail\s+InvalidSignatureError", forged.stdout, re.M)

    for result, token in ((revoked, seeded["revoked"]), (valid, seeded["valid"]), (forged, seeded["wrong_key"])):
        output = result.stdout + result.stderr
        assert SECRET not in output
        assert token not in output
        assert token.split(".")[2] not in output  # never the signature


def test_the_command_with_the_store_down(seeded: dict[str, str]) -> None:
    result = run_explain(f"mongodb://127.0.0.1:{free_port()}/x", seeded["valid"])
    assert result.returncode == 1
    assert re.search(r"^user state\s+error\s+MongoDB store unavailable", result.stdout, re.M)
    assert re.search(r"^verdict\s+fail\s+503 store_unavailable$", result.stdout, re.M)


def test_explain_names_the_version_denylist_and_session_checks(tmp_path: Any) -> None:
    """Issue 10: explain shows the rows the guard's new checks decide by, and agrees with its verdict."""
    settings = Settings(
        secret=SECRET, sessions=True, issuer="https://app.example", store_url=f"sqlite:///{tmp_path / 'x.db'}"
    )
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        pair = admin.login("alice")
        rows = {row.check: row for row in explain(pair.access_token, settings, admin.store)}
        assert rows["version"].verdict == OK and rows["session"].verdict == OK
        assert rows["verdict"].verdict == OK
        admin.end_session(pair.session_id)
        rows = {row.check: row for row in explain(pair.access_token, settings, admin.store)}
        assert rows["session"].verdict == FAIL and "session_revoked" in rows["verdict"].detail
        fresh = admin.login("alice")
        admin.revoke_token(fresh.access_token)
        rows = {row.check: row for row in explain(fresh.access_token, settings, admin.store)}
        assert rows["denylist"].verdict == FAIL and "401 revoked" in rows["verdict"].detail
        other = admin.login("alice")
        admin.logout_everywhere("alice")
        rows = {row.check: row for row in explain(other.access_token, settings, admin.store)}
        assert rows["version"].verdict == FAIL and rows["verdict"].verdict == FAIL
    finally:
        admin.close()


def test_explain_names_a_provider_session_ended_by_its_sid_alone(tmp_path: Any) -> None:
    """Issue 12: another issuer's session ended by a logout token naming only its sid has a row of its
    own, and the verdict is the guard's (the engine's lookup is answered with what explain read)."""
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'x.db'}")
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        now = int(time.time())
        token = jwt.encode(
            {"sub": "alice", "iss": "https://idp.test", "sid": "s-1", "iat": now, "exp": now + 60}, SECRET, "HS256"
        )
        rows = {row.check: row for row in explain(token, settings, admin.store)}
        assert rows["provider session"].verdict == OK and rows["verdict"].verdict == OK
        flow = signals.end_provider_session("https://idp.test", "s-1", None, now=now, settings=settings, source="t")
        admin.store.run(flow)  # type: ignore[attr-defined]
        rows = {row.check: row for row in explain(token, settings, admin.store)}
        assert rows["provider session"].verdict == FAIL and "session_revoked" in rows["verdict"].detail
    finally:
        admin.close()


def test_explain_names_a_dpop_binding(tmp_path: Any) -> None:
    """Issue 13: a token bound to a key (RFC 9449 §6.1 cnf.jkt) has a row saying so, and the verdict is
    the guard's for the token as explain sends it (Bearer): refused, dpop_required."""
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'x.db'}", dpop="allow")
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        rows = {
            row.check: row for row in explain(issue_token(settings, "alice", cnf={"jkt": jkt}), settings, admin.store)
        }
        assert rows["dpop"].verdict == INFO and jkt in rows["dpop"].detail
        assert rows["verdict"].verdict == FAIL and "dpop_required" in rows["verdict"].detail
        rows = {row.check: row for row in explain(issue_token(settings, "alice"), settings, admin.store)}
        assert "dpop" not in rows and rows["verdict"].verdict == OK
        broken = issue_token(settings, "alice", cnf={"jkt": 42})
        rows = {row.check: row for row in explain(broken, settings, admin.store)}
        assert rows["dpop"].verdict == FAIL and rows["verdict"].verdict == FAIL
    finally:
        admin.close()
